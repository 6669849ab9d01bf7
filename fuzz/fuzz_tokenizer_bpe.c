/*
 * fuzz_tokenizer_bpe.c - libFuzzer target for the byte-level BPE ("gpt2") and WordPiece ("bert")
 * tokenizers (src/tokenizer/bpe*.c, pretok.c, pre_types.c, wpm*.c).
 *
 * The vocabularies are built once, in LLVMFuzzerInitialize:
 *   - one small in-memory BPE vocabulary (the 256 byte characters, pieces and merges for English,
 *     Chinese, digits and runs of spaces, control and user-defined tokens) per pre-tokenizer
 *     kind of pre_types.c, plus one with no pre key and one with an unknown pre key, each also
 *     with ignore_merges turned on;
 *   - two small in-memory WordPiece vocabularies (lowercasing and cased);
 *   - where $AUTOGLM_SHARED/tokenizer-vectors (default folder "../shared") has them, the real
 *     gpt-2, deepseek-llm, starcoder and bert-bge vocabularies (skipped with a note
 *     when missing, so the target runs anywhere).
 * The first input byte picks the vocabulary (low 6 bits) and the flags (bit 6 parse_special,
 * bit 7 add_special); the rest is the text. The target aborts when:
 *   - tokenizing fails, a second call with the exact room gives another count, or a call with
 *     one slot too few does not answer -(needed),
 *   - an id is out of range, or its piece cannot be fetched with the size that was asked for,
 *   - BPE, every byte a token (the vocabulary is lossless), no lstrip token: the pieces (special
 *     ones spelled out) do not give back the text byte for byte (valid UTF-8 or not, where every
 *     byte's token is a normal one; see describe()),
 *   - WordPiece, no [UNK] and no special token in the ids: tokenizing the decoded text again does
 *     not give the same ids (decoding gives normalized words, which must tokenize the same).
 * The vocabularies are the harness's only state: libFuzzer calls into one process repeatedly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "gguf/gguf.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pre_types.h"
#include "tokenizer/vocab.h"

#define SP "\xE2\x96\x81" /* U+2581 */
#define MAX_VOCABS 64

typedef struct {
    ag_vocab *v;
    bool lossless;  /* BPE, every byte has a token, no token strips the text around it */
    bool any_bytes; /* lossless for invalid UTF-8 too: every byte's token is a normal one */
} fuzz_vocab;

typedef struct {
    fuzz_vocab items[MAX_VOCABS];
    int n;
} fuzz_vocabs;

static fuzz_vocabs g_vocabs;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_tokenizer_bpe: %s\n", what);
    abort();
}

/* ---------------------------------------------------------------- vocabularies */

/* BPE merges as plain bytes: left, right. The merged text is a piece unless marked "!" (the
 * reference applies merges whose result is no piece; the word then falls back to bytes). */
static const char *const MERGES[][2] = {
    {"t", "h"}, {"h", "e"}, {"th", "e"}, {" ", "t"}, {" t", "he"}, {" ", "a"}, {"a", "n"}, {"an", "d"},
    {" ", "an"}, {" an", "d"}, {"i", "n"}, {"in", "g"}, {"e", "r"}, {"o", "n"}, {"o", "u"}, {"r", "e"},
    {" ", "s"}, {"s", "t"}, {" ", "i"}, {" i", "s"}, {"'", "s"}, {"'", "t"}, {"'", "re"}, {" ", " "},
    {"  ", "  "}, {"\n", "\n"}, {"\r", "\n"}, {"\t", "\t"}, {"1", "2"}, {"12", "3"}, {"0", "0"}, {"00", "0"},
    {" ", "1"}, {"(", ")"}, {"()", ":"}, {"=", "="}, {" ", "="}, {"-", "-"}, {".", "."}, {"..", "."},
    {"\xE4", "\xBD"}, {"\xE4\xBD", "\xA0"}, {"\xE5", "\xA5"}, {"\xE5\xA5", "\xBD"}, {"\xE4\xBD\xA0", "\xE5\xA5\xBD"},
    {"\xE7", "\x9A"}, {"\xE7\x9A", "\x84"}, {"\xE4", "\xB8"}, {"\xE4\xB8", "\xAD"}, {"\xE6", "\x96"},
    {"\xE6\x96", "\x87"}, {"\xE4\xB8\xAD", "\xE6\x96\x87"}, {"\xC3", "\xA9"}, {"\xF0", "\x9F"},
    {"\xF0\x9F", "\x98"}, {"\xF0\x9F\x98", "\x80"}, {"x", "y"}, {"xy", "z"}, {"d", "e"}, {"de", "f"},
    {" ", "def"}, {"\xE3\x80", "\x80"}, {"\xE3", "\x80"},
};
enum { N_MERGES = sizeof MERGES / sizeof MERGES[0] };

/* pieces with a type: control ones matched only with parse_special, user-defined ones always */
static const struct {
    const char *text;
    ag_token_type type;
} SPECIALS[] = {
    {"<|endoftext|>", AG_TOKEN_TYPE_CONTROL}, {"<|im_start|>", AG_TOKEN_TYPE_CONTROL},
    {"<|im_end|>", AG_TOKEN_TYPE_CONTROL},    {"<u>", AG_TOKEN_TYPE_USER_DEFINED},
    {"<|user|>x", AG_TOKEN_TYPE_USER_DEFINED}, {" <sp> ", AG_TOKEN_TYPE_USER_DEFINED},
    {"<s>", AG_TOKEN_TYPE_CONTROL},           {"\xE4\xBD\xA0<", AG_TOKEN_TYPE_USER_DEFINED},
};
enum { N_SPECIALS = sizeof SPECIALS / sizeof SPECIALS[0] };

/* plain bytes -> byte characters (at most 2 bytes each) */
static size_t spell(const char *s, char *out) {
    size_t o = 0;
    for (; *s; s++) o += ag_bpe_byte_utf8((uint8_t)*s, out + o);
    out[o] = '\0';
    return o;
}

static ag_vocab *builtin_bpe(const char *pre, bool ignore_merges) {
    enum { N = 256 + N_MERGES + N_SPECIALS };
    static char chars[256][3];
    static char merged[N_MERGES][64];
    static char merge_text[N_MERGES][128];
    const char *texts[N];
    int32_t types[N];
    const char *merges[N_MERGES];
    for (int b = 0; b < 256; b++) {
        chars[b][ag_bpe_byte_utf8((uint8_t)b, chars[b])] = '\0';
        texts[b] = chars[b];
        types[b] = AG_TOKEN_TYPE_NORMAL;
    }
    for (int i = 0; i < N_MERGES; i++) {
        char plain[32];
        snprintf(plain, sizeof plain, "%s%s", MERGES[i][0], MERGES[i][1]);
        spell(plain, merged[i]);
        size_t k = spell(MERGES[i][0], merge_text[i]);
        merge_text[i][k++] = ' ';
        spell(MERGES[i][1], merge_text[i] + k);
        /* "xy" is no piece (its merge still applies, and "xy z" gives "xyz"): a repeated "xyz" */
        texts[256 + i] = strcmp(plain, "xy") == 0 ? "xyz" : merged[i];
        types[256 + i] = AG_TOKEN_TYPE_NORMAL;
        merges[i] = merge_text[i];
    }
    for (int i = 0; i < N_SPECIALS; i++) {
        texts[256 + N_MERGES + i] = SPECIALS[i].text;
        types[256 + N_MERGES + i] = (int32_t)SPECIALS[i].type;
    }
    ag_vocab_bpe_desc d = ag_vocab_bpe_default_desc(N, pre);
    d.base.texts = texts;
    d.base.types = types;
    d.base.eos = 256 + N_MERGES; /* <|endoftext|> */
    d.base.bos = d.base.bos >= 0 ? 256 + N_MERGES + 6 : -1;
    d.base.add_eos = ignore_merges;
    d.merges = merges;
    d.n_merges = N_MERGES;
    d.ignore_merges = d.ignore_merges || ignore_merges;
    ag_error err = {0};
    ag_vocab *v = ag_vocab_new_bpe(&d, &err);
    if (!v) {
        fprintf(stderr, "fuzz_tokenizer_bpe: built-in BPE vocabulary (%s): %s\n", pre ? pre : "no pre", err.msg);
        abort();
    }
    return v;
}

static ag_vocab *builtin_wpm(bool lowercase) {
    static const char *const texts[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", SP "hello", SP "world", SP "un", "aff", "able", SP ",",
        SP "!", SP ".", SP "\xE4\xBD\xA0", SP "\xE5\xA5\xBD", SP "cafe", SP "Hello", SP "a", "a", "b", SP "b",
        SP "x", SP "1", "1", "2", "3", SP "the", SP "The", "s", SP "\xC3\xA9", SP "'", "##", SP "#", "#",
        SP "\xE2\x80\x94", SP "\xCE\xB1", "\xCE\xB2", SP "\xD0\xB4\xD0\xB0",
    };
    enum { N = sizeof texts / sizeof texts[0] };
    int32_t types[N];
    for (int i = 0; i < N; i++) types[i] = i < 5 ? AG_TOKEN_TYPE_CONTROL : AG_TOKEN_TYPE_NORMAL;
    types[1] = AG_TOKEN_TYPE_UNKNOWN;
    ag_vocab_wpm_desc d = ag_vocab_wpm_default_desc(N);
    d.base.texts = texts;
    d.base.types = types;
    d.base.bos = 2;
    d.base.unk = 1;
    d.sep = 3;
    d.lowercase = d.strip_accents = lowercase;
    ag_error err = {0};
    ag_vocab *v = ag_vocab_new_wpm(&d, &err);
    if (!v) {
        fprintf(stderr, "fuzz_tokenizer_bpe: built-in WordPiece vocabulary: %s\n", err.msg);
        abort();
    }
    return v;
}

static ag_vocab *load_file(const char *name) {
    const char *dir = getenv("AUTOGLM_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer-vectors/%s.gguf", dir && *dir ? dir : "../shared", name);
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open(path, &err);
    if (!f) {
        fprintf(stderr, "fuzz_tokenizer_bpe: %s: %s (skipped)\n", path, err.msg);
        return NULL;
    }
    ag_vocab *v = ag_vocab_load(f, &err);
    if (!v) fprintf(stderr, "fuzz_tokenizer_bpe: %s: %s (skipped)\n", path, err.msg);
    ag_gguf_close(f);
    return v;
}

/* Lossless: BPE, every byte is a token, and no pre-tokenizer that drops text around "<mask>".
 * Some vocabularies (deepseek-llm) spell the bytes that valid UTF-8 never holds (0xC0, 0xC1,
 * 0xF5..0xFF) as user-defined tokens, which decode to their text as the reference does: those
 * are lossless for valid UTF-8 only. */
static fuzz_vocab describe(ag_vocab *v) {
    fuzz_vocab fv = {v, false, false};
    if (ag_vocab_get_kind(v) != AG_VOCAB_BPE) return fv;
    const ag_pre_type *t = ag_pre_type_find(ag_vocab_pre(v));
    if (t && t->mask_lstrip) return fv;
    fv.lossless = fv.any_bytes = true;
    for (int b = 0; b < 256; b++) {
        char c[3];
        size_t n = ag_bpe_byte_utf8((uint8_t)b, c);
        ag_token id = ag_vocab_find(v, c, n);
        if (id < 0) fv.lossless = fv.any_bytes = false;
        else if (ag_vocab_token_type(v, id) != AG_TOKEN_TYPE_NORMAL) fv.any_bytes = false;
    }
    return fv;
}

static void add(ag_vocab *v) {
    if (!v) return;
    if (g_vocabs.n == MAX_VOCABS) fail("too many vocabularies");
    g_vocabs.items[g_vocabs.n++] = describe(v);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* one name per kind of pre_types.c, then no pre and an unknown one */
    static const char *const pres[] = {
        "gpt-2", "jina-v2-es", "jina-v1-en", "jina-v2-code", "falcon", "starcoder", "llama-bpe", "dbrx", "glm4",
        "qwen2", "deepseek-llm", "deepseek-coder", "bloom", "viking", "tekken", "gpt-4o", "chameleon", "default",
        NULL, "no-such-pre",
    };
    enum { N_PRES = sizeof pres / sizeof pres[0] };
    for (int i = 0; i < N_PRES; i++) add(builtin_bpe(pres[i], false));
    for (int i = 0; i < N_PRES; i++) add(builtin_bpe(pres[i], true));
    add(builtin_wpm(true));
    add(builtin_wpm(false));
    add(load_file("ggml-vocab-gpt-2"));
    add(load_file("ggml-vocab-deepseek-llm"));
    add(load_file("ggml-vocab-starcoder"));
    add(load_file("ggml-vocab-bert-bge"));
    return 0;
}

/* ---------------------------------------------------------------- checks */

/* Tokenizes with the checks on counts; returns the ids (malloc'd) and their count in *n. */
static ag_token *tokenize(const ag_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                          int *n) {
    int need = ag_vocab_tokenize(v, text, len, NULL, 0, add_special, parse_special);
    if (need == INT32_MIN) fail("tokenize failed");
    int count = need < 0 ? -need : need;
    ag_token *ids = malloc((size_t)(count ? count : 1) * sizeof *ids);
    if (!ids) fail("out of memory");
    if (ag_vocab_tokenize(v, text, len, ids, count, add_special, parse_special) != count) fail("count changed");
    if (count > 1 && ag_vocab_tokenize(v, text, len, ids, count - 1, add_special, parse_special) != -count)
        fail("cap too small did not give -(needed)");
    if (ag_vocab_tokenize(v, text, len, ids, count, add_special, parse_special) != count) fail("count changed");
    *n = count;
    return ids;
}

/* Each id in range and its piece fetchable; the pieces concatenated into a malloc'd buffer. */
static char *decode(const ag_vocab *v, const ag_token *ids, int n, bool special, size_t *len) {
    size_t cap = 64, o = 0;
    char *out = malloc(cap);
    if (!out) fail("out of memory");
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= ag_vocab_n_tokens(v)) fail("id out of range");
        int need = ag_vocab_token_to_piece(v, ids[i], NULL, 0, special);
        if (need > 0) fail("piece written into a zero-size buffer");
        need = -need;
        if (o + (size_t)need > cap) {
            while (o + (size_t)need > cap) cap *= 2;
            out = realloc(out, cap);
            if (!out) fail("out of memory");
        }
        if (ag_vocab_token_to_piece(v, ids[i], out + o, need, special) != need)
            fail("piece does not fit the room it asked for");
        o += (size_t)need;
    }
    *len = o;
    return out;
}

static bool all_normal(const ag_vocab *v, const ag_token *ids, int n) {
    for (int i = 0; i < n; i++)
        if (ag_vocab_token_type(v, ids[i]) != AG_TOKEN_TYPE_NORMAL) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || g_vocabs.n == 0) return 0;
    const fuzz_vocab *fv = &g_vocabs.items[(data[0] & 0x3F) % g_vocabs.n];
    const ag_vocab *v = fv->v;
    const bool parse_special = data[0] & 0x40, add_special = data[0] & 0x80;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;

    int n;
    ag_token *ids = tokenize(v, text, len, add_special, parse_special, &n);
    size_t got;
    free(decode(v, ids, n, true, &got));
    free(ids);

    /* the same text without BOS/EOS, for the round trip */
    ids = tokenize(v, text, len, false, parse_special, &n);
    if (fv->lossless && (fv->any_bytes || ag_utf8_valid(text, len))) {
        char *out = decode(v, ids, n, true, &got);
        if (got != len || memcmp(out, text, len) != 0) fail("decode(encode(x)) != x");
        free(out);
    } else if (ag_vocab_get_kind(v) == AG_VOCAB_WPM && all_normal(v, ids, n)) {
        char *out = decode(v, ids, n, false, &got);
        int n2;
        ag_token *again = tokenize(v, out, got, false, false, &n2);
        if (n2 != n || memcmp(again, ids, (size_t)n * sizeof *ids) != 0)
            fail("encode(decode(encode(x))) != encode(x)");
        free(again);
        free(out);
    }
    free(ids);
    return 0;
}
