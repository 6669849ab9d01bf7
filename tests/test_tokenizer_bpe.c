/*
 * test_tokenizer_bpe.c - the byte-level BPE ("gpt2") and WordPiece ("bert") tokenizers, and the
 * reference vectors of every tokenizer family.
 *
 * Two ways to run it:
 *   test_tokenizer_bpe                 the rule tests below (tiny vocabularies built in memory,
 *                                      the pre-tokenizer table, malformed files, the vocabularies
 *                                      without vectors, threads, long inputs);
 *   test_tokenizer_bpe vectors NAME    the cases of ../shared/tokenizer-vectors/NAME.gguf.inp/.out
 *                                      (any family): every id must match, and for SentencePiece
 *                                      and BPE decoding must give the text back. CTest runs this
 *                                      once per vocabulary (tests/CMakeLists.txt), so a failure
 *                                      names the vocabulary, and the message names the case.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pre_types.h"
#include "tokenizer/pretok.h"
#include "tokenizer/vocab.h"

#define SP "\xE2\x96\x81" /* U+2581 */

/* ---------------------------------------------------------------- helpers */

static bool ids_equal(const ag_token *got, int n_got, const ag_token *want, int n_want) {
    if (n_got != n_want) return false;
    for (int i = 0; i < n_got; i++)
        if (got[i] != want[i]) return false;
    return true;
}

static void print_ids(const char *what, const ag_token *ids, int n) {
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static int tok(const ag_vocab *v, const char *s, ag_token *out, int cap, bool add_special, bool parse_special) {
    return ag_vocab_tokenize(v, s, strlen(s), out, cap, add_special, parse_special);
}

#define CHECK_IDS(v, text, add_special, parse_special, ...)                                        \
    do {                                                                                           \
        ag_token want_[] = {__VA_ARGS__};                                                          \
        ag_token got_[256];                                                                        \
        int n_ = tok((v), (text), got_, 256, (add_special), (parse_special));                      \
        int nw_ = (int)(sizeof want_ / sizeof want_[0]);                                           \
        bool ok_ = ids_equal(got_, n_, want_, nw_);                                                \
        CHECK_MSG(ok_, "tokenize(\"%s\")", (text));                                                \
        if (!ok_) print_ids("got", got_, n_ > 0 ? n_ : 0), print_ids("want", want_, nw_);          \
    } while (0)

static ag_token id_of(const ag_vocab *v, const char *text) {
    ag_token t = ag_vocab_find(v, text, strlen(text));
    CHECK_MSG(t >= 0, "no piece '%s'", text);
    return t;
}

/* Concatenated pieces of ids; SIZE_MAX when a piece does not fit. */
static size_t decode(const ag_vocab *v, const ag_token *ids, int n, char *buf, size_t cap, bool special) {
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        int k = ag_vocab_token_to_piece(v, ids[i], buf + o, (int)(cap - o), special);
        if (k < 0) return SIZE_MAX;
        o += (size_t)k;
    }
    return o;
}

/* Tokenizes text (no specials) into a fresh array; *n gets the count (-1 on failure). */
static ag_token *tokenize_all(const ag_vocab *v, const char *text, size_t len, bool parse_special, int *n) {
    int need = ag_vocab_tokenize(v, text, len, NULL, 0, false, parse_special);
    if (need == INT32_MIN) {
        *n = -1;
        return NULL;
    }
    int count = need < 0 ? -need : need;
    ag_token *ids = malloc((size_t)(count ? count : 1) * sizeof *ids);
    *n = ag_vocab_tokenize(v, text, len, ids, count, false, parse_special);
    return ids;
}

/* decode(encode(text)) == text, byte for byte (BPE is lossless). */
static bool roundtrips(const ag_vocab *v, const char *text, size_t len) {
    int n;
    ag_token *ids = tokenize_all(v, text, len, false, &n);
    size_t cap = 4 * len + 64;
    char *buf = malloc(cap);
    size_t got = n >= 0 ? decode(v, ids, n, buf, cap, false) : SIZE_MAX;
    bool ok = got == len && memcmp(buf, text, len) == 0;
    free(ids);
    free(buf);
    return ok;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *b = realloc(buf, cap);
            if (!b) break;
            buf = b;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

/* NULL (and a note) when the file is missing; a check failure when it exists but does not load. */
static ag_vocab *load_vocab_file(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer-vectors/%s.gguf", ag_test_shared_dir(), name);
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open(path, &err);
    CHECK_MSG(f != NULL, "%s: %s", path, err.msg);
    if (!f) return NULL;
    ag_vocab *v = ag_vocab_load(f, &err);
    CHECK_MSG(v != NULL, "%s: %s", path, err.msg);
    ag_gguf_close(f); /* the vocabulary must not need the file any more */
    return v;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- reference vectors */

static const char VEC_SEP[] = "\n__ggml_vocab_test__\n";

/* Parses one .out line (trimmed) into ids split on spaces; returns the count, -1 when malformed. */
static int parse_ids(const char *line, size_t len, ag_token *ids, int cap) {
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r' || line[len - 1] == '\t')) len--;
    size_t i = 0;
    while (i < len && line[i] == ' ') i++;
    int n = 0;
    while (i < len) {
        long x = 0;
        size_t start = i;
        while (i < len && line[i] >= '0' && line[i] <= '9') x = x * 10 + (line[i++] - '0');
        if (i == start) return -1;
        if (n < cap) ids[n] = (ag_token)x;
        n++;
        if (i < len && line[i++] != ' ') return -1;
    }
    return n;
}

/* decode(encode(text)) == text where the family is lossless; returns whether it was checked. */
static bool vector_roundtrip(const ag_vocab *v, const char *name, int c, const char *text, size_t len,
                             const ag_token *ids, int n) {
    ag_vocab_kind kind = ag_vocab_get_kind(v);
    if (kind == AG_VOCAB_WPM) return false; /* lowercased, accents and spaces gone: not lossless */
    if (kind == AG_VOCAB_SPM) {
        if (memmem(text, len, SP, 3)) return false; /* a literal U+2581 decodes to ' ' */
        for (int i = 0; i < n; i++)
            if (ag_vocab_token_type(v, ids[i]) == AG_TOKEN_TYPE_UNKNOWN) return false;
    }
    size_t cap = 4 * len + 64;
    char *buf = malloc(cap);
    size_t got = decode(v, ids, n, buf, cap, false);
    const char *g = buf;
    if (kind == AG_VOCAB_SPM && ag_vocab_adds_space_prefix(v) && len > 0 && got != SIZE_MAX && got > 0 &&
        g[0] == ' ')
        g++, got--;
    bool ok = got == len && memcmp(g, text, len) == 0;
    CHECK_MSG(ok, "%s case %d: decode(encode(\"%.*s\")) gave \"%.*s\"", name, c, (int)len, text,
              (int)(got == SIZE_MAX ? 0 : got), g);
    free(buf);
    return true;
}

static void run_vector_cases(const ag_vocab *v, const char *name, const char *inp, size_t n_inp, const char *out,
                             size_t n_out) {
    int cases = 0, match = 0, roundtrips_checked = 0;
    const char *p = inp, *q = out, *q_end = out + n_out;
    const size_t sep_len = sizeof VEC_SEP - 1;
    for (;;) {
        const char *e = memmem(p, (size_t)(inp + n_inp - p), VEC_SEP, sep_len);
        if (!e) break;
        const char *nl = memchr(q, '\n', (size_t)(q_end - q));
        size_t line_len = nl ? (size_t)(nl - q) : (size_t)(q_end - q);
        ag_token want[1024], got[1024];
        int nw = parse_ids(q, line_len, want, 1024);
        int ng = ag_vocab_tokenize(v, p, (size_t)(e - p), got, 1024, false, false);
        if (nw >= 0 && ids_equal(got, ng, want, nw)) {
            match++;
        } else {
            CHECK_MSG(false, "%s case %d \"%.*s\"", name, cases, (int)(e - p), p);
            print_ids("got", got, ng > 0 ? ng : 0);
            print_ids("want", want, nw > 0 ? nw : 0);
        }
        if (ng >= 0) roundtrips_checked += vector_roundtrip(v, name, cases, p, (size_t)(e - p), got, ng);
        cases++;
        p = e + sep_len;
        q = nl ? nl + 1 : q_end;
    }
    fprintf(stderr, "  %s (%s): %d/%d vector cases match, %d round trips checked\n", name, ag_vocab_kind_name(v),
            match, cases, roundtrips_checked);
    CHECK_MSG(cases == 46, "%s: %d cases", name, cases);
    /* byte-level BPE is lossless on every case; SentencePiece skips only cases with a literal U+2581
     * or an unknown token, which the shared vectors do not have */
    if (ag_vocab_get_kind(v) != AG_VOCAB_WPM)
        CHECK_MSG(roundtrips_checked == cases, "%s: %d of %d round trips checked", name, roundtrips_checked, cases);
    CHECK(match == cases);
    CHECK(p == inp + n_inp); /* the last case is followed by the separator too */
}

static int run_vectors(const char *name) {
    ag_vocab *v = load_vocab_file(name);
    if (v) {
        const char *warning = ag_vocab_pre_warning(v);
        if (warning) fprintf(stderr, "  %s: %s\n", name, warning);
        char path[1024];
        size_t n_inp = 0, n_out = 0;
        snprintf(path, sizeof path, "%s/tokenizer-vectors/%s.gguf.inp", ag_test_shared_dir(), name);
        char *inp = read_file(path, &n_inp);
        snprintf(path, sizeof path, "%s/tokenizer-vectors/%s.gguf.out", ag_test_shared_dir(), name);
        char *out = read_file(path, &n_out);
        CHECK_MSG(inp && out, "%s: missing .inp/.out", name);
        if (inp && out) run_vector_cases(v, name, inp, n_inp, out, n_out);
        free(inp);
        free(out);
        ag_vocab_free(v);
    }
    fprintf(stderr, "%s %s: %d checks, %d failed\n", ag_test_failures ? "FAIL" : "ok  ", name, ag_test_checks,
            ag_test_failures);
    return ag_test_failures ? 1 : 0;
}

/* ---------------------------------------------------------------- the byte map */

static void test_byte_map(void) {
    bool seen[0x200] = {0};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = ag_bpe_byte_to_cp((uint8_t)b);
        CHECK(cp < 0x200 && !seen[cp]);
        if (cp < 0x200) seen[cp] = true;
        CHECK(ag_bpe_cp_to_byte(cp) == b);
        char u[2];
        size_t n = ag_bpe_byte_utf8((uint8_t)b, u);
        CHECK(n == (cp < 0x80 ? 1u : 2u));
    }
    CHECK(ag_bpe_byte_to_cp(' ') == 0x120 && ag_bpe_byte_to_cp('\n') == 0x10A && ag_bpe_byte_to_cp('a') == 'a');
    CHECK(ag_bpe_byte_to_cp(0xAD) == 0x143 && ag_bpe_byte_to_cp(0x7F) == 0x121 && ag_bpe_byte_to_cp(0xA0) == 0x142);
    CHECK(ag_bpe_cp_to_byte(0x144) == -1 && ag_bpe_cp_to_byte(0x4E00) == -1 && ag_bpe_cp_to_byte(0xAD) == -1);
    char buf[16];
    CHECK(ag_bpe_decode_piece("\xC4\xA0hello", 7, buf, sizeof buf) == 6 && memcmp(buf, " hello", 6) == 0);
    CHECK(ag_bpe_decode_piece("\xC4\x8A\xC4\x8A", 4, buf, sizeof buf) == 2 && memcmp(buf, "\n\n", 2) == 0);
    /* a character that stands for no byte is copied as it is, and so is invalid UTF-8 */
    CHECK(ag_bpe_decode_piece("\xE4\xBD\xA0\xFF", 4, buf, sizeof buf) == 4 && memcmp(buf, "\xE4\xBD\xA0\xFF", 4) == 0);
    CHECK(ag_bpe_decode_piece("\xC4\xA0hello", 7, buf, 5) == -6);
    CHECK(ag_bpe_decode_piece("\xC4\xA0hello", 7, NULL, 0) == -6);
}

/* ---------------------------------------------------------------- tiny BPE vocabularies */

#define GA "\xC4\xA0" /* the character of ' ' */

typedef struct {
    const char *text;
    ag_token_type type;
} bpe_piece;

/* Ids 0..255: the byte characters (token b spells byte b); then the pieces from 256. */
static ag_vocab *tiny_bpe(const bpe_piece *pieces, int n_pieces, const char *const *merges, int n_merges,
                          const char *pre, bool ignore_merges) {
    int n = 256 + n_pieces;
    const char **texts = calloc((size_t)n, sizeof *texts);
    int32_t *types = calloc((size_t)n, sizeof *types);
    static char chars[256][3];
    for (int b = 0; b < 256; b++) {
        size_t k = ag_bpe_byte_utf8((uint8_t)b, chars[b]);
        chars[b][k] = '\0';
        texts[b] = chars[b];
        types[b] = AG_TOKEN_TYPE_NORMAL;
    }
    for (int i = 0; i < n_pieces; i++) {
        texts[256 + i] = pieces[i].text;
        types[256 + i] = pieces[i].type ? (int32_t)pieces[i].type : AG_TOKEN_TYPE_NORMAL;
    }
    ag_vocab_bpe_desc d = ag_vocab_bpe_default_desc(n, pre);
    d.base.texts = texts;
    d.base.types = types;
    d.merges = merges;
    d.n_merges = n_merges;
    d.ignore_merges = ignore_merges;
    ag_error err = {0};
    ag_vocab *v = ag_vocab_new_bpe(&d, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    free(texts);
    free(types);
    return v;
}

static const bpe_piece TINY_PIECES[] = {
    {"ab", 0}, {"bc", 0}, {"abc", 0}, {GA "a", 0}, {GA "ab", 0}, {"aa", 0}, {"aaa", 0}, {"xyz", 0},
    {"abcd", 0}, {"<|end|>", AG_TOKEN_TYPE_CONTROL}, {"<u>", AG_TOKEN_TYPE_USER_DEFINED},
};
/* ranks: the index; "x y" -> "xy" is not a piece, but "xy z" -> "xyz" is */
static const char *const TINY_MERGES[] = {
    "a b", "b c", "ab c", GA " a", GA "a b", "a a", "aa a", "x y", "xy z",
};
enum { N_TINY_PIECES = sizeof TINY_PIECES / sizeof TINY_PIECES[0], N_TINY_MERGES = 9 };

static void test_bpe_merge_order(void) {
    ag_vocab *v = tiny_bpe(TINY_PIECES, N_TINY_PIECES, TINY_MERGES, N_TINY_MERGES, "gpt-2", false);
    if (!v) return;
    CHECK(ag_vocab_get_kind(v) == AG_VOCAB_BPE && strcmp(ag_vocab_kind_name(v), "gpt2") == 0);
    CHECK(ag_vocab_n_merges(v) == N_TINY_MERGES);
    CHECK(ag_vocab_pre_warning(v) == NULL && strcmp(ag_vocab_pre(v), "gpt-2") == 0);
    /* a+b (rank 0) before b+c (rank 1), then ab+c */
    CHECK_IDS(v, "abc", false, false, id_of(v, "abc"));
    CHECK_IDS(v, "ab", false, false, id_of(v, "ab"));
    CHECK_IDS(v, "cab", false, false, 'c', id_of(v, "ab"));
    /* equal ranks: leftmost first, and the new pair's rank counts */
    CHECK_IDS(v, "aaaa", false, false, id_of(v, "aa"), id_of(v, "aa"));
    CHECK_IDS(v, "aaa", false, false, id_of(v, "aaa"));
    /* the space belongs to the word (" ?\p{L}+") and merges as its character; rank order decides:
     * a+b (0) comes before Ġ+a (3), and Ġ+ab is not a merge */
    CHECK_IDS(v, "c a", false, false, 'c', id_of(v, GA "a"));
    CHECK_IDS(v, "c ab", false, false, 'c', ' ', id_of(v, "ab"));
    /* a merge through "xy", which is not a piece: the reference still applies it */
    CHECK_IDS(v, "xyz", false, false, id_of(v, "xyz"));
    /* a final symbol that is not a piece falls back to its single bytes */
    CHECK_IDS(v, "xy", false, false, 'x', 'y');
    /* no merge leads to "abcd": without ignore_merges it is not taken whole */
    CHECK_IDS(v, "abcd", false, false, id_of(v, "abc"), 'd');
    /* bytes outside ASCII are their characters' tokens */
    CHECK_IDS(v, "\xC3\xA9", false, false, 0xC3, 0xA9);
    ag_token out[8];
    CHECK(tok(v, "", out, 8, false, false) == 0);
    ag_vocab_free(v);

    v = tiny_bpe(TINY_PIECES, N_TINY_PIECES, TINY_MERGES, N_TINY_MERGES, "gpt-2", true);
    if (!v) return;
    CHECK_IDS(v, "abcd", false, false, id_of(v, "abcd"));
    CHECK_IDS(v, "abcdd", false, false, id_of(v, "abc"), 'd', 'd');
    ag_vocab_free(v);
}

static void test_bpe_special_and_pieces(void) {
    ag_vocab *v = tiny_bpe(TINY_PIECES, N_TINY_PIECES, TINY_MERGES, N_TINY_MERGES, "gpt-2", false);
    if (!v) return;
    ag_token end = id_of(v, "<|end|>"), u = id_of(v, "<u>");
    CHECK_IDS(v, "ab<|end|>ab", false, true, id_of(v, "ab"), end, id_of(v, "ab"));
    CHECK_IDS(v, "ab<u>ab", false, false, id_of(v, "ab"), u, id_of(v, "ab"));
    /* control text is plain text without parse_special */
    int n;
    ag_token *ids = tokenize_all(v, "<|end|>", 7, false, &n);
    CHECK(n > 1);
    for (int i = 0; i < n; i++) CHECK(ids[i] != end);
    free(ids);
    char buf[16];
    CHECK(ag_vocab_token_to_piece(v, id_of(v, GA "ab"), buf, sizeof buf, false) == 3 && memcmp(buf, " ab", 3) == 0);
    CHECK(ag_vocab_token_to_piece(v, ' ', buf, sizeof buf, false) == 1 && buf[0] == ' ');
    CHECK(ag_vocab_token_to_piece(v, 0xFF, buf, sizeof buf, false) == 1 && (uint8_t)buf[0] == 0xFF);
    CHECK(ag_vocab_token_to_piece(v, end, buf, sizeof buf, false) == 0);
    CHECK(ag_vocab_token_to_piece(v, end, buf, sizeof buf, true) == 7);
    CHECK(ag_vocab_token_to_piece(v, u, buf, sizeof buf, false) == 3);
    CHECK(ag_vocab_token_to_piece(v, id_of(v, GA "ab"), buf, 2, false) == -3);
    /* defaults of a "gpt2" vocabulary: bos = eos = 11, no BOS added for gpt-2 */
    CHECK(ag_vocab_bos(v) == 11 && ag_vocab_eos(v) == 11 && ag_vocab_unk(v) == -1);
    CHECK(!ag_vocab_adds_bos(v) && !ag_vocab_adds_eos(v) && !ag_vocab_adds_space_prefix(v));
    CHECK_IDS(v, "ab", true, false, id_of(v, "ab"));
    ag_vocab_free(v);
}

static void test_bpe_defaults_per_pre(void) {
    ag_vocab_bpe_desc d = ag_vocab_bpe_default_desc(1000, "llama-bpe");
    CHECK(d.base.add_bos && d.ignore_merges && d.base.bos == 11 && !d.base.add_eos);
    d = ag_vocab_bpe_default_desc(1000, "tekken");
    CHECK(d.base.add_bos && d.ignore_merges);
    d = ag_vocab_bpe_default_desc(1000, "chameleon");
    CHECK(d.base.add_bos && !d.ignore_merges);
    d = ag_vocab_bpe_default_desc(1000, "glm4");
    CHECK(d.base.bos == -1 && !d.base.add_bos);
    d = ag_vocab_bpe_default_desc(1000, "dbrx");
    CHECK(!d.base.add_bos && !d.ignore_merges);
    d = ag_vocab_bpe_default_desc(1000, "qwen2");
    CHECK(!d.base.add_bos && d.base.eos == 11);
    d = ag_vocab_bpe_default_desc(5, NULL);
    CHECK(d.base.bos == -1 && d.base.eos == -1);

    /* with add_bos and add_eos the ids frame the text */
    const char *texts[300];
    static char chars[256][3];
    for (int b = 0; b < 256; b++) {
        chars[b][ag_bpe_byte_utf8((uint8_t)b, chars[b])] = '\0';
        texts[b] = chars[b];
    }
    texts[256] = "<s>";
    texts[257] = "</s>";
    int32_t types[258];
    for (int i = 0; i < 258; i++) types[i] = i >= 256 ? AG_TOKEN_TYPE_CONTROL : AG_TOKEN_TYPE_NORMAL;
    const char *merges[] = {"a b"};
    d = ag_vocab_bpe_default_desc(258, "llama-bpe");
    d.base.texts = texts;
    d.base.types = types;
    d.base.bos = 256;
    d.base.eos = 257;
    d.base.add_eos = true;
    d.merges = merges;
    d.n_merges = 1;
    ag_error err = {0};
    ag_vocab *v = ag_vocab_new_bpe(&d, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    if (!v) return;
    CHECK_IDS(v, "ba", true, false, 256, 'b', 'a', 257);
    CHECK_IDS(v, "", true, false, 256, 257);
    CHECK_IDS(v, "ba", false, false, 'b', 'a');
    CHECK(ag_vocab_is_eog(v, 257));
    ag_vocab_free(v);
}

/* Repeatedly merges the adjacent pair of lowest rank (leftmost on ties) by scanning every pair:
 * O(n^2) per word, obviously right. Ranks come from a sorted list of the merge strings. */
typedef struct {
    char *s; /* "left right" */
    int rank;
} merge_entry;

static int cmp_merge(const void *a, const void *b) {
    return strcmp(((const merge_entry *)a)->s, ((const merge_entry *)b)->s);
}

static int naive_rank(const merge_entry *sorted, int n, const char *l, size_t ll, const char *r, size_t rl) {
    char key[1024];
    if (ll + rl + 2 > sizeof key) return -1;
    memcpy(key, l, ll);
    key[ll] = ' ';
    memcpy(key + ll + 1, r, rl);
    key[ll + rl + 1] = '\0';
    merge_entry probe = {key, 0};
    const merge_entry *e = bsearch(&probe, sorted, (size_t)n, sizeof *sorted, cmp_merge);
    return e ? e->rank : -1;
}

/* One word (already split), spelled in byte characters; appends ids. */
static int naive_bpe_word(const ag_vocab *v, const merge_entry *sorted, int n_merges, const uint8_t *word,
                          size_t n, ag_token *out, int cap) {
    char (*sym)[1024] = malloc(n * sizeof *sym);
    size_t *len = malloc(n * sizeof *len);
    size_t m = n;
    for (size_t i = 0; i < n; i++) len[i] = ag_bpe_byte_utf8(word[i], sym[i]);
    for (;;) {
        size_t best = SIZE_MAX;
        int best_rank = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            int r = naive_rank(sorted, n_merges, sym[i], len[i], sym[i + 1], len[i + 1]);
            if (r >= 0 && (best == SIZE_MAX || r < best_rank)) best = i, best_rank = r;
        }
        if (best == SIZE_MAX) break;
        memcpy(sym[best] + len[best], sym[best + 1], len[best + 1]);
        len[best] += len[best + 1];
        memmove(sym + best + 1, sym + best + 2, (m - best - 2) * sizeof *sym);
        memmove(len + best + 1, len + best + 2, (m - best - 2) * sizeof *len);
        m--;
    }
    int k = 0;
    for (size_t i = 0; i < m; i++) {
        ag_token t = ag_vocab_find(v, sym[i], len[i]);
        if (t >= 0) {
            if (k < cap) out[k] = t;
            k++;
            continue;
        }
        for (size_t j = 0; j < len[i]; j++) {
            t = ag_vocab_find(v, &sym[i][j], 1);
            if (t >= 0) {
                if (k < cap) out[k] = t;
                k++;
            }
        }
    }
    free(sym);
    free(len);
    return k;
}

static merge_entry *sorted_merges(const char *const *merges, const size_t *lens, int n) {
    merge_entry *e = malloc((size_t)n * sizeof *e);
    for (int i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(merges[i]);
        e[i].s = malloc(l + 1);
        memcpy(e[i].s, merges[i], l);
        e[i].s[l] = '\0';
        e[i].rank = i;
    }
    /* a pair listed twice keeps its first rank: sort stably by string, then rank */
    qsort(e, (size_t)n, sizeof *e, cmp_merge);
    for (int i = 1; i < n; i++)
        if (strcmp(e[i].s, e[i - 1].s) == 0 && e[i].rank > e[i - 1].rank) e[i].rank = e[i - 1].rank;
    return e;
}

static void free_merges(merge_entry *e, int n) {
    for (int i = 0; i < n; i++) free(e[i].s);
    free(e);
}

/* Words of the given alphabet (each one pre-token for a " ?\p{L}+" split: a space, then letters). */
static void compare_words_with_naive(const ag_vocab *v, const merge_entry *sorted, int n_merges,
                                     const char *const *alphabet, int n_alpha, int rounds, const char *what) {
    uint32_t seed = 4242;
    int bad = 0;
    for (int r = 0; r < rounds && bad < 3; r++) {
        char word[600] = " ";
        size_t len = 1;
        seed = seed * 1664525u + 1013904223u;
        int items = 1 + (int)((seed >> 16) % 40);
        for (int i = 0; i < items; i++) {
            seed = seed * 1664525u + 1013904223u;
            const char *piece = alphabet[(seed >> 8) % (uint32_t)n_alpha];
            size_t pl = strlen(piece);
            if (len + pl >= sizeof word) break;
            memcpy(word + len, piece, pl);
            len += pl;
        }
        ag_token a[1024], b[1024];
        int na = ag_vocab_tokenize(v, word, len, a, 1024, false, false);
        int nb = naive_bpe_word(v, sorted, n_merges, (const uint8_t *)word, len, b, 1024);
        if (!ids_equal(a, na, b, nb)) {
            bad++;
            CHECK_MSG(false, "%s: fast and naive BPE differ on \"%.*s\"", what, (int)len, word);
            print_ids("fast", a, na > 0 ? na : 0);
            print_ids("naive", b, nb);
        }
    }
    CHECK(bad == 0);
}

static void test_bpe_against_naive(void) {
    ag_vocab *v = tiny_bpe(TINY_PIECES, N_TINY_PIECES, TINY_MERGES, N_TINY_MERGES, "gpt-2", false);
    if (!v) return;
    merge_entry *sorted = sorted_merges(TINY_MERGES, NULL, N_TINY_MERGES);
    const char *alpha[] = {"a", "b", "c", "x", "y", "z", "aa", "d"};
    compare_words_with_naive(v, sorted, N_TINY_MERGES, alpha, 8, 2000, "tiny");
    free_merges(sorted, N_TINY_MERGES);
    ag_vocab_free(v);
}

/* The same over gpt-2's real merges (read from the file). */
static void test_bpe_against_naive_gpt2(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer-vectors/ggml-vocab-gpt-2.gguf", ag_test_shared_dir());
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open(path, &err);
    CHECK_MSG(f != NULL, "%s", err.msg);
    if (!f) return;
    const ag_gguf_value *arr = NULL;
    CHECK(ag_gguf_get_arr(f, "tokenizer.ggml.merges", AG_GGUF_STRING, &arr, &err) == AG_OK);
    ag_vocab *v = ag_vocab_load(f, &err);
    if (arr && v) {
        int n = (int)arr->arr.count;
        const char **m = malloc((size_t)n * sizeof *m);
        size_t *l = malloc((size_t)n * sizeof *l);
        for (int i = 0; i < n; i++) m[i] = arr->arr.items[i].s.data, l[i] = arr->arr.items[i].s.len;
        merge_entry *sorted = sorted_merges(m, l, n);
        const char *alpha[] = {"the", "a", "e", "ing", "tion", "q", "z", "x", "re", "un", "able", "ness", "o",
                               "s", "th", "er", "in", "an", "ll"};
        compare_words_with_naive(v, sorted, n, alpha, (int)(sizeof alpha / sizeof alpha[0]), 300, "gpt-2");
        free_merges(sorted, n);
        free(m);
        free(l);
    }
    ag_vocab_free(v);
    ag_gguf_close(f);
}

/* ---------------------------------------------------------------- the pre-tokenizers */

/* The pieces of text under a pre-tokenizer, joined with '|'. */
static char *split_joined(const char *pre, const char *text, size_t len) {
    const ag_pre_type *pt = ag_pre_type_find(pre);
    CHECK_MSG(pt != NULL, "pre '%s'", pre);
    if (!pt) return NULL;
    ag_error err = {0};
    ag_pretok *p = ag_pretok_new(pt->patterns, &err);
    CHECK_MSG(p != NULL, "%s: %s", pre, err.msg);
    if (!p) return NULL;
    ag_pretok_scratch s = {0};
    char *out = malloc(2 * len + 2);
    size_t o = 0, start = 0;
    CHECK(ag_pretok_split(p, &s, text, len));
    for (size_t i = 0; i < s.n; i++) {
        if (i) out[o++] = '|';
        memcpy(out + o, text + start, s.ends[i] - start);
        o += s.ends[i] - start;
        start = s.ends[i];
    }
    out[o] = '\0';
    CHECK(s.n == 0 || s.ends[s.n - 1] == len);
    ag_pretok_scratch_free(&s);
    ag_pretok_free(p);
    return out;
}

#define CHECK_SPLIT(pre, text, want)                                                            \
    do {                                                                                        \
        char *got_ = split_joined((pre), (text), strlen(text));                                \
        CHECK_MSG(got_ && strcmp(got_, (want)) == 0, "%s: split(\"%s\") = \"%s\", want \"%s\"", \
                  (pre), (text), got_ ? got_ : "(null)", (want));                              \
        free(got_);                                                                             \
    } while (0)

static void test_pre_names(void) {
    /* every name the brief and the reference list compiles */
    static const char *const names[] = {
        "default", "gpt-2", "llama-bpe", "llama3", "llama-v3", "falcon3", "qwen2", "deepseek-llm",
        "deepseek-coder", "falcon", "mpt", "starcoder", "refact", "glm4", "chatglm-bpe", "gpt-4o", "smaug-bpe",
        "command-r", "olmo", "dbrx", "jais", "tekken", "poro-chat", "viking", "bloom", "gpt3-finnish", "exaone",
        "chameleon", "minerva-7b", "codeshell", "stablelm2", "phi-2", "jina-es", "jina-de", "jina-v1-en",
        "jina-v2-es", "jina-v2-de", "jina-v2-code", "jina-v5-nano", "smollm", "llama4", "deepseek-r1-qwen",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const ag_pre_type *pt = ag_pre_type_find(names[i]);
        CHECK_MSG(pt != NULL, "no pre-tokenizer '%s'", names[i]);
        if (!pt) continue;
        ag_error err = {0};
        ag_pretok *p = ag_pretok_new(pt->patterns, &err);
        CHECK_MSG(p != NULL, "%s: %s", names[i], err.msg);
        ag_pretok_free(p);
    }
    CHECK(ag_pre_type_find("no-such-pre") == NULL && ag_pre_type_find(NULL) == NULL);
    CHECK(ag_pre_type_find("llama-bpe")->ignore_merges && !ag_pre_type_find("gpt-2")->ignore_merges);
    /* a pattern PCRE2 rejects is an error, not a crash */
    const char *bad[] = {"(unclosed", NULL};
    ag_error err = {0};
    CHECK(ag_pretok_new(bad, &err) == NULL && err.code == AG_ERR_INVALID_ARG && strstr(err.msg, "pattern 0"));
}

static void test_pre_splits(void) {
    /* GPT-2: a space joins the next word; runs of spaces leave their last space to the word */
    CHECK_SPLIT("gpt-2", "Hello world", "Hello| world");
    CHECK_SPLIT("gpt-2", "Hello   world", "Hello|  | world");
    CHECK_SPLIT("gpt-2", "a\tb", "a|\t|b");
    CHECK_SPLIT("gpt-2", "I'm ok, y'all", "I|'m| ok|,| y|'|all");
    CHECK_SPLIT("gpt-2", "x   ", "x|   ");
    CHECK_SPLIT("gpt-2", "3.14 apples", "3|.|14| apples");
    CHECK_SPLIT("gpt-2", "\xE4\xBD\xA0\xE5\xA5\xBD!!", "\xE4\xBD\xA0\xE5\xA5\xBD|!!");
    /* U+3000 is whitespace to the reference (and not to every regex engine) */
    CHECK_SPLIT("gpt-2", "a\xE3\x80\x80\xE3\x80\x80" "b", "a|\xE3\x80\x80|\xE3\x80\x80|b");
    /* Llama 3: numbers of up to three digits, newlines with the whitespace before them */
    CHECK_SPLIT("llama-bpe", "12345", "123|45");
    CHECK_SPLIT("llama-bpe", "Hello\n\n  world", "Hello|\n\n| | world");
    CHECK_SPLIT("llama-bpe", "I'M here", "I|'M| here");
    CHECK_SPLIT("llama-bpe", "(hi)", "(hi|)");
    CHECK_SPLIT("qwen2", "12345", "1|2|3|4|5");
    /* the default split: punctuation runs first, then GPT-2, numbers, three digits */
    CHECK_SPLIT("default", "a+b=12345", "a|+|b|=|123|45");
    CHECK_SPLIT("falcon", "x==1234567", "x|==|123|456|7");
    CHECK_SPLIT("starcoder", "ab123", "ab|1|2|3");
    /* deepseek-llm: its own letter and punctuation classes, trailing spaces, CJK */
    CHECK_SPLIT("deepseek-llm", "Hi,  there\n", "Hi|,| | there|\n");
    CHECK_SPLIT("deepseek-llm", "\xE4\xBD\xA0\xE5\xA5\xBD 123", "\xE4\xBD\xA0\xE5\xA5\xBD| |123");
    CHECK_SPLIT("deepseek-coder", "foo(1)", "foo|(|1|)");
    /* bloom: everything up to whitespace or . , ! ? and friends */
    CHECK_SPLIT("bloom", "Hello, world!", "Hello|,| world|!");
    /* GPT-4o / Tekken: case changes split words */
    CHECK_SPLIT("gpt-4o", "HelloWORLDfoo's", "Hello|WORLDfoo's");
    CHECK_SPLIT("tekken", "CamelCase", "Camel|Case");
    /* later patterns still cut the sentinel (special tokens are matched before, by partition.c) */
    CHECK_SPLIT("chameleon", "<sentinel:12>x", "<|sentinel|:|1|2|>|x");
    /* invalid UTF-8 splits as U+FFFD would, and the pieces keep the original bytes */
    CHECK_SPLIT("gpt-2", "ab\xFF\xFE" "cd", "ab|\xFF\xFE|cd");
    CHECK_SPLIT("gpt-2", "ab \xC3", "ab| \xC3");
    CHECK_SPLIT("llama-bpe", "\xE4\xBD" "12", "\xE4\xBD|12");
    /* empty text: no pieces */
    char *e = split_joined("gpt-2", "", 0);
    CHECK(e && e[0] == '\0');
    free(e);
}
static void test_unknown_pre(void) {
    /* an unknown name: the default split, and a warning to show (nothing is printed) */
    ag_vocab *v = tiny_bpe(TINY_PIECES, N_TINY_PIECES, TINY_MERGES, N_TINY_MERGES, "made-up-pre", false);
    if (v) {
        const char *w = ag_vocab_pre_warning(v);
        CHECK(w && strstr(w, "made-up-pre") && strstr(w, "default"));
        CHECK(strcmp(ag_vocab_pre(v), "made-up-pre") == 0);
        /* the default split cuts punctuation runs and three digits */
        CHECK_IDS(v, "ab+1234", false, false, id_of(v, "ab"), '+', '1', '2', '3', '4');
        CHECK(roundtrips(v, "ab+1234 c", 9));
    }
    ag_vocab_free(v);
    /* no name at all: the same */
    v = tiny_bpe(TINY_PIECES, N_TINY_PIECES, TINY_MERGES, N_TINY_MERGES, NULL, false);
    if (v) CHECK(ag_vocab_pre(v) == NULL && ag_vocab_pre_warning(v) && strstr(ag_vocab_pre_warning(v), "missing"));
    ag_vocab_free(v);
}

/* ---------------------------------------------------------------- malformed vocabularies */

static ag_vocab *load_from_writer(ag_gguf_writer *w, ag_error *err) {
    void *mem = NULL;
    size_t len = 0;
    CHECK(ag_gguf_writer_write_memory(w, &mem, &len, err) == AG_OK);
    ag_gguf_writer_free(w);
    ag_gguf_file *f = mem ? ag_gguf_open_memory(mem, len, err) : NULL;
    CHECK_MSG(f != NULL, "%s", err->msg);
    ag_vocab *v = f ? ag_vocab_load(f, err) : NULL;
    ag_gguf_close(f);
    free(mem);
    return v;
}

static const char *const FILE_TOKENS[] = {"a", "b", "c", "ab", "abc", GA, GA "a", "<|endoftext|>"};

static ag_gguf_writer *bpe_writer(const char *pre) {
    ag_gguf_writer *w = ag_gguf_writer_new();
    ag_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) ag_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", FILE_TOKENS, 8);
    return w;
}

static void test_bad_bpe_files(void) {
    static const char *const good[] = {"a b", "ab c", GA " a"};
    ag_error err = {0};

    /* a good one, for contrast: merges, the pre-tokenizer, ids from the file */
    ag_gguf_writer *w = bpe_writer("gpt-2");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", good, 3);
    ag_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 7);
    ag_vocab *v = load_from_writer(w, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    if (v) {
        CHECK(ag_vocab_n_merges(v) == 3 && ag_vocab_eos(v) == 7 && ag_vocab_bos(v) == -1);
        CHECK_IDS(v, "abc a", false, false, 4, 6);
        CHECK(ag_vocab_pre_warning(v) == NULL);
    }
    ag_vocab_free(v);

    /* no merges */
    err = (ag_error){0};
    CHECK(load_from_writer(bpe_writer("gpt-2"), &err) == NULL && err.code == AG_ERR_FORMAT &&
          strstr(err.msg, "tokenizer.ggml.merges"));

    /* a merge without a space */
    static const char *const no_space[] = {"a b", "abc"};
    w = bpe_writer("gpt-2");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", no_space, 2);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "entry 1") &&
          strstr(err.msg, "'abc'"));

    /* nothing after the space, or only a space */
    static const char *const no_right[] = {"a "};
    w = bpe_writer("gpt-2");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", no_right, 1);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "entry 0"));
    static const char *const lone_space[] = {" "};
    w = bpe_writer("gpt-2");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", lone_space, 1);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_FORMAT);

    /* merges that are not strings, an empty list */
    const int32_t nums[] = {1, 2};
    w = bpe_writer("gpt-2");
    ag_gguf_set_arr_data(w, "tokenizer.ggml.merges", AG_GGUF_INT32, nums, 2);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.merges"));
    w = bpe_writer("gpt-2");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", good, 0);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "empty"));

    /* a pre that is not a string */
    w = bpe_writer(NULL);
    ag_gguf_set_u32(w, "tokenizer.ggml.pre", 3);
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", good, 3);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.pre"));

    /* an unknown pre loads, with the default split and a warning */
    w = bpe_writer("brand-new-model");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.merges", good, 3);
    err = (ag_error){0};
    v = load_from_writer(w, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    if (v) CHECK(ag_vocab_pre_warning(v) && strstr(ag_vocab_pre_warning(v), "brand-new-model"));
    ag_vocab_free(v);

    /* another family we do not have: refused, naming it */
    w = ag_gguf_writer_new();
    ag_gguf_set_str(w, "tokenizer.ggml.model", "rwkv");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", FILE_TOKENS, 8);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_UNSUPPORTED && strstr(err.msg, "'rwkv'"));

    /* bert: a separator id outside the vocabulary */
    w = ag_gguf_writer_new();
    ag_gguf_set_str(w, "tokenizer.ggml.model", "bert");
    ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", FILE_TOKENS, 8);
    ag_gguf_set_u32(w, "tokenizer.ggml.seperator_token_id", 99);
    err = (ag_error){0};
    CHECK(load_from_writer(w, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "seperator_token_id"));

    /* direct construction: no merges at all */
    ag_vocab_bpe_desc d = ag_vocab_bpe_default_desc(8, "gpt-2");
    d.base.texts = FILE_TOKENS;
    err = (ag_error){0};
    CHECK(ag_vocab_new_bpe(&d, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "no merges"));
    CHECK(ag_vocab_new_bpe(NULL, &err) == NULL && ag_vocab_new_wpm(NULL, &err) == NULL);
}

/* ---------------------------------------------------------------- WordPiece */

static ag_vocab *tiny_wpm(bool lowercase) {
    static const char *const texts[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", SP "hello", SP "world", SP "un", "aff", "able", SP ",", SP "!",
        SP "\xE4\xBD\xA0", SP "\xE5\xA5\xBD", SP "cafe", SP "Hello", SP "a", "a", SP "x", SP "1", "2",
    };
    enum { N = sizeof texts / sizeof texts[0] };
    int32_t types[N];
    for (int i = 0; i < N; i++) types[i] = i < 4 ? AG_TOKEN_TYPE_CONTROL : AG_TOKEN_TYPE_NORMAL;
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
    CHECK_MSG(v != NULL, "%s", err.msg);
    return v;
}

static void test_wpm_rules(void) {
    ag_vocab *v = tiny_wpm(true);
    if (!v) return;
    CHECK(ag_vocab_get_kind(v) == AG_VOCAB_WPM && strcmp(ag_vocab_kind_name(v), "bert") == 0);
    CHECK(ag_vocab_sep(v) == 3 && ag_vocab_adds_sep(v) && ag_vocab_adds_bos(v) && ag_vocab_pre(v) == NULL);
    ag_token hello = id_of(v, SP "hello"), world = id_of(v, SP "world");
    /* lowercase, punctuation on its own */
    CHECK_IDS(v, "Hello, World!", false, false, hello, id_of(v, SP ","), world, id_of(v, SP "!"));
    /* [CLS] ... [SEP] with add_special */
    CHECK_IDS(v, "hello", true, false, 2, hello, 3);
    CHECK_IDS(v, "", true, false, 2, 3);
    /* longest match first, continuation pieces without the prefix */
    CHECK_IDS(v, "unaffable", false, false, id_of(v, SP "un"), id_of(v, "aff"), id_of(v, "able"));
    /* accents stripped through NFD (precomposed and combining), controls dropped */
    CHECK_IDS(v, "Caf\xC3\xA9 cafe\xCC\x81 he\x01llo", false, false, id_of(v, SP "cafe"), id_of(v, SP "cafe"), hello);
    /* CJK ideographs are words of their own */
    CHECK_IDS(v, "\xE4\xBD\xA0\xE5\xA5\xBD", false, false, id_of(v, SP "\xE4\xBD\xA0"), id_of(v, SP "\xE5\xA5\xBD"));
    /* a word that cannot be covered is one [UNK], even when a prefix matched */
    CHECK_IDS(v, "xyz hello unaffablez", false, false, 1, hello, 1);
    /* all sorts of whitespace split words; numbers join */
    CHECK_IDS(v, "hello\t\n\xE3\x80\x80world 12", false, false, hello, world, id_of(v, SP "1"), id_of(v, "2"));
    /* invalid UTF-8 reads as U+FFFD, which is dropped */
    CHECK_IDS(v, "hel\xFFlo", false, false, hello);
    /* special tokens: control ones with parse_special only */
    CHECK_IDS(v, "hello[SEP]world", false, true, hello, 3, world);
    /* without parse_special "[SEP]" is text: "[", "sep", "]" are words that no piece covers */
    CHECK_IDS(v, "a[SEP]", false, false, id_of(v, SP "a"), 1, 1, 1);
    char buf[16];
    CHECK(ag_vocab_token_to_piece(v, hello, buf, sizeof buf, false) == 6 && memcmp(buf, " hello", 6) == 0);
    CHECK(ag_vocab_token_to_piece(v, id_of(v, "aff"), buf, sizeof buf, false) == 3);
    CHECK(ag_vocab_token_to_piece(v, 2, buf, sizeof buf, false) == 0);
    ag_vocab_free(v);

    /* without lowercasing, case counts */
    v = tiny_wpm(false);
    if (!v) return;
    CHECK_IDS(v, "Hello hello", false, false, id_of(v, SP "Hello"), id_of(v, SP "hello"));
    CHECK_IDS(v, "Caf\xC3\xA9", false, false, 1);
    ag_vocab_free(v);
}
/* ---------------------------------------------------------------- real vocabularies */

static const char *const ROUNDTRIP_TEXTS[] = {
    "Hello world",
    " leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\n\n",
    "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x81 mixed \xE4\xB8\xAD\xE6\x96\x87 text",
    "emoji \xF0\x9F\xA6\x99\xF0\x9F\x98\x81 and \xE2\x9C\x85",
    "code: for (int i = 0; i < n; i++) { x += a[i]; }",
    "numbers 3.14159 1234567890 1,000,000",
    "I've been 'told he's there, 'RE you sure? We'Ve a'lL",
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xCE\xB1\xCE\xB2\xCE\xB3 \xC3\xA9\xC3\xA0\xC3\xBC",
};

static void check_roundtrips(const ag_vocab *v, const char *name) {
    for (size_t i = 0; i < sizeof ROUNDTRIP_TEXTS / sizeof ROUNDTRIP_TEXTS[0]; i++)
        CHECK_MSG(roundtrips(v, ROUNDTRIP_TEXTS[i], strlen(ROUNDTRIP_TEXTS[i])), "%s: \"%s\"", name,
                  ROUNDTRIP_TEXTS[i]);
}

/* gpt-neox: no test vectors, no pre key; it must load (with the warning) and be lossless. */
static void test_gpt_neox(void) {
    ag_vocab *v = load_vocab_file("ggml-vocab-gpt-neox");
    if (!v) return;
    CHECK(ag_vocab_get_kind(v) == AG_VOCAB_BPE && ag_vocab_n_tokens(v) == 50432 && ag_vocab_n_merges(v) == 50009);
    CHECK(ag_vocab_pre(v) == NULL && ag_vocab_pre_warning(v) != NULL);
    CHECK(ag_vocab_bos(v) == 0 && ag_vocab_eos(v) == 0 && !ag_vocab_adds_bos(v));
    check_roundtrips(v, "gpt-neox");
    /* its user-defined whitespace pieces are matched before the split, without parse_special */
    CHECK_IDS(v, "a    b", false, false, id_of(v, "a"), id_of(v, "    "), id_of(v, "b"));
    ag_vocab_free(v);
}

/* baichuan: a SentencePiece vocabulary without test vectors. */
static void test_baichuan(void) {
    ag_vocab *v = load_vocab_file("ggml-vocab-baichuan");
    if (!v) return;
    CHECK(ag_vocab_get_kind(v) == AG_VOCAB_SPM && ag_vocab_n_tokens(v) == 64000);
    CHECK(ag_vocab_pre_warning(v) == NULL);
    for (size_t i = 0; i < sizeof ROUNDTRIP_TEXTS / sizeof ROUNDTRIP_TEXTS[0]; i++) {
        const char *t = ROUNDTRIP_TEXTS[i];
        size_t len = strlen(t);
        int n;
        ag_token *ids = tokenize_all(v, t, len, false, &n);
        char *buf = malloc(4 * len + 64);
        size_t got = n >= 0 ? decode(v, ids, n, buf, 4 * len + 64, false) : SIZE_MAX;
        /* the space prefix comes back as a leading space */
        CHECK_MSG(got == len + 1 && buf[0] == ' ' && memcmp(buf + 1, t, len) == 0, "baichuan: \"%s\"", t);
        free(ids);
        free(buf);
    }
    ag_vocab_free(v);
}

static void test_file_defaults(void) {
    ag_vocab *v = load_vocab_file("ggml-vocab-gpt-2");
    if (v) {
        CHECK(strcmp(ag_vocab_pre(v), "gpt-2") == 0 && ag_vocab_pre_warning(v) == NULL);
        CHECK(!ag_vocab_adds_bos(v) && ag_vocab_bos(v) == 50256 && ag_vocab_is_eog(v, 50256));
        CHECK_IDS(v, "Hello", true, false, 15496);
        /* <|endoftext|> is a control token: only with parse_special */
        CHECK_IDS(v, "Hello<|endoftext|>", false, true, 15496, 50256);
        int n;
        ag_token *ids = tokenize_all(v, "<|endoftext|>", 13, false, &n);
        CHECK(n > 1);
        for (int i = 0; i < n; i++) CHECK(ids[i] != 50256);
        free(ids);
        char buf[32];
        CHECK(ag_vocab_token_to_piece(v, 50256, buf, sizeof buf, false) == 0);
        CHECK(ag_vocab_token_to_piece(v, 50256, buf, sizeof buf, true) == 13);
        ag_vocab_free(v);
    }
    v = load_vocab_file("ggml-vocab-deepseek-llm");
    if (v) {
        CHECK(ag_vocab_adds_bos(v) && ag_vocab_bos(v) == 100000 && !ag_vocab_adds_eos(v));
        int n;
        ag_token *ids = tokenize_all(v, "Hello", 5, false, &n);
        ag_token with[8];
        CHECK(n >= 1 && tok(v, "Hello", with, 8, true, false) == n + 1 && with[0] == 100000 && with[1] == ids[0]);
        free(ids);
        ag_vocab_free(v);
    }
    v = load_vocab_file("ggml-vocab-bert-bge");
    if (v) {
        CHECK(ag_vocab_get_kind(v) == AG_VOCAB_WPM && ag_vocab_bos(v) == 101 && ag_vocab_sep(v) == 102);
        CHECK(ag_vocab_unk(v) == 100 && ag_vocab_eos(v) == -1);
        ag_token out[16];
        int n = tok(v, "Hello world", out, 16, true, false);
        CHECK(n == 4 && out[0] == 101 && out[3] == 102);
        ag_vocab_free(v);
    }
}

/* Whether every byte's character is a normal piece. Only then can a byte-level vocabulary spell
 * any input: falcon lacks some control characters, most lack 0xC0/0xC1/0xF5..0xFF, and
 * deepseek's characters for some bytes are user-defined tokens whose text is the character
 * itself. The reference implementation drops, or decodes differently, what such a vocabulary
 * cannot spell, and so do we. */
static bool covers_all_bytes(const ag_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char ch[2];
        ag_token t = ag_vocab_find(v, ch, ag_bpe_byte_utf8((uint8_t)b, ch));
        if (t < 0 || ag_vocab_token_type(v, t) != AG_TOKEN_TYPE_NORMAL) return false;
    }
    return true;
}

/* Random bytes (mostly invalid UTF-8): no failure, ids in range, and, where the vocabulary can
 * spell every byte, BPE gives the bytes back. */
static void test_random_bytes(void) {
    static const char *const names[] = {"ggml-vocab-gpt-2", "ggml-vocab-deepseek-llm", "ggml-vocab-falcon",
                                        "ggml-vocab-bert-bge"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        ag_vocab *v = load_vocab_file(names[k]);
        if (!v) continue;
        bool lossless = ag_vocab_get_kind(v) == AG_VOCAB_BPE && covers_all_bytes(v);
        CHECK(lossless == (k == 0)); /* gpt-2 only */
        uint32_t seed = 99 + (uint32_t)k;
        char buf[300];
        int bad = 0;
        for (int round = 0; round < 300 && bad < 3; round++) {
            size_t len = (size_t)(round % 257);
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1664525u + 1013904223u;
                /* half the rounds: bytes from a small alphabet of ASCII, UTF-8 pieces and junk */
                buf[i] = round & 1 ? (char)(seed >> 24) : "a \n\xC3\xA9\xE4\xBD\xA0\x80\xFF 1!"[(seed >> 24) % 13];
            }
            int n;
            ag_token *ids = tokenize_all(v, buf, len, round & 2, &n);
            CHECK(n >= 0);
            for (int i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < ag_vocab_n_tokens(v));
            free(ids);
            if (lossless && !roundtrips(v, buf, len)) {
                bad++;
                CHECK_MSG(false, "%s: random bytes (round %d) do not come back", names[k], round);
            }
        }
        ag_vocab_free(v);
    }
}

/* ---------------------------------------------------------------- threads */

typedef struct {
    const ag_vocab *v;
    const char *text;
    size_t len;
    ag_token *ids;
    int n;
} thread_job;

static void *tokenize_thread(void *arg) {
    thread_job *j = arg;
    for (int r = 0; r < 3; r++) {
        free(j->ids);
        j->ids = tokenize_all(j->v, j->text, j->len, true, &j->n);
    }
    return NULL;
}

/* One vocabulary, four threads at once: the same ids as one thread alone. */
static void test_threads(void) {
    static const char *const names[] = {"ggml-vocab-gpt-2", "ggml-vocab-bert-bge"};
    size_t len = 1 << 16;
    char *text = malloc(len);
    uint32_t seed = 7;
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        text[i] = "the quick brown fox, 12 \xE4\xBD\xA0\n"[(seed >> 24) % 27];
    }
    for (size_t k = 0; k < 2; k++) {
        ag_vocab *v = load_vocab_file(names[k]);
        if (!v) continue;
        int n_ref;
        ag_token *ref = tokenize_all(v, text, len, true, &n_ref);
        pthread_t th[4];
        thread_job jobs[4];
        for (int t = 0; t < 4; t++) {
            jobs[t] = (thread_job){.v = v, .text = text, .len = len};
            CHECK(pthread_create(&th[t], NULL, tokenize_thread, &jobs[t]) == 0);
        }
        for (int t = 0; t < 4; t++) {
            pthread_join(th[t], NULL);
            CHECK_MSG(ids_equal(jobs[t].ids, jobs[t].n, ref, n_ref), "%s: thread %d differs", names[k], t);
            free(jobs[t].ids);
        }
        free(ref);
        ag_vocab_free(v);
    }
    free(text);
}

/* ---------------------------------------------------------------- long inputs */


static double tokenize_seconds(const ag_vocab *v, const char *text, size_t len) {
    double t0 = now_s();
    int n;
    free(tokenize_all(v, text, len, false, &n));
    return now_s() - t0;
}

/* Tokenizes text and checks the ids; checks that the time grows linearly: 1 MB may take at most
 * 128 times as long as its first 64 KB (16x is linear, a quadratic path gives about 256x). A
 * ratio measured in one run, so a loaded machine does not fail it. */
static void time_one(const ag_vocab *v, const char *what, const char *text, size_t len) {
    double small = tokenize_seconds(v, text, len / 16);
    for (int rep = 0; rep < 2; rep++) {
        double again = tokenize_seconds(v, text, len / 16);
        if (again < small) small = again;
    }
    double t0 = now_s();
    int n;
    ag_token *ids = tokenize_all(v, text, len, false, &n);
    double dt = now_s() - t0;
    for (int rep = 0; rep < 2 && dt / (small > 1e-4 ? small : 1e-4) >= 128; rep++) { /* a busy machine: again */
        double again = tokenize_seconds(v, text, len);
        if (again < dt) dt = again;
    }
    CHECK_MSG(n >= 0, "%s failed", what);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= ag_vocab_n_tokens(v)) {
            CHECK_MSG(false, "%s: bad id %d", what, ids[i]);
            break;
        }
    free(ids);
    double ratio = dt / (small > 1e-4 ? small : 1e-4);
    fprintf(stderr, "  %s: %zu bytes -> %d tokens in %.3f s (%.0fx the time of 1/16 of it)\n", what, len, n, dt, ratio);
    CHECK_MSG(ratio < 128, "%s: %.3f s for 1 MB, %.4f s for 64 KB: not linear", what, dt, small);
}

/* 1 MB without a single space, of spaces, of one digit, of random bytes: no quadratic paths. */
static void test_long_inputs(void) {
    static const char *const names[] = {"ggml-vocab-gpt-2", "ggml-vocab-deepseek-llm", "ggml-vocab-deepseek-coder",
                                        "ggml-vocab-falcon", "ggml-vocab-bert-bge"};
    const size_t len = 1 << 20;
    char *text = malloc(len + 1);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        ag_vocab *v = load_vocab_file(names[k]);
        if (!v) continue;
        char what[128];
        memset(text, 'a', len);
        snprintf(what, sizeof what, "%s, 1 MB of 'a'", names[k]);
        time_one(v, what, text, len);
        if (ag_vocab_get_kind(v) == AG_VOCAB_BPE) CHECK_MSG(roundtrips(v, text, len), "%s", what);
        memset(text, ' ', len);
        text[len - 1] = '1'; /* whitespace that does not end the piece */
        snprintf(what, sizeof what, "%s, 1 MB of spaces", names[k]);
        time_one(v, what, text, len);
        memset(text, '7', len);
        snprintf(what, sizeof what, "%s, 1 MB of '7'", names[k]);
        time_one(v, what, text, len);
        uint32_t seed = 5;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1664525u + 1013904223u;
            text[i] = (char)(seed >> 24);
        }
        snprintf(what, sizeof what, "%s, 1 MB of random bytes", names[k]);
        time_one(v, what, text, len);
        if (ag_vocab_get_kind(v) == AG_VOCAB_BPE && covers_all_bytes(v)) CHECK_MSG(roundtrips(v, text, len), "%s", what);
        ag_vocab_free(v);
    }
    free(text);
}

/* ---------------------------------------------------------------- main */

static const ag_test_case RULE_TESTS[] = {
    TEST(test_byte_map), TEST(test_bpe_merge_order), TEST(test_bpe_special_and_pieces),
    TEST(test_bpe_defaults_per_pre), TEST(test_bpe_against_naive), TEST(test_bpe_against_naive_gpt2),
    TEST(test_pre_names), TEST(test_pre_splits), TEST(test_unknown_pre), TEST(test_bad_bpe_files),
    TEST(test_wpm_rules), TEST(test_gpt_neox), TEST(test_baichuan), TEST(test_file_defaults),
    TEST(test_random_bytes), TEST(test_threads), TEST(test_long_inputs),
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "vectors") == 0) return run_vectors(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [vectors NAME]\n", argv[0]);
        return 2;
    }
    return ag_test_run(RULE_TESTS, (int)(sizeof RULE_TESTS / sizeof RULE_TESTS[0]));
}
