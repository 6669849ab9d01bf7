/*
 * test_tokenizer.c - the vocabulary and the SentencePiece-style tokenizer (src/tokenizer/).
 *
 * (a) rules, on tiny vocabularies built in memory (ag_vocab_new_spm): merge order, ties, space
 *     prefix, byte fallback, BOS/EOS, special tokens (parse_special, USER_DEFINED, RSTRIP),
 *     token_to_piece, cap handling, invalid UTF-8, and a comparison with a naive quadratic
 *     re-implementation of the merge rule on random text;
 * (b) the reference test vectors of ../shared/tokenizer-vectors (llama-spm and phi-3): every id
 *     must match, and decoding must give the text back;
 * (c) the vocabulary of ../shared/models/stories260K.gguf;
 * (d) malformed GGUF vocabularies (built byte by byte here) and speed on 1 MB of text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "tokenizer/vocab.h"

#define SP "\xE2\x96\x81" /* U+2581, SentencePiece's space */

/* ---------------------------------------------------------------- helpers */

typedef struct {
    const char *text;
    float score;
    ag_token_type type;
} piece_def;

#define P(text, score) {(text), (score), AG_TOKEN_TYPE_NORMAL}
#define CTL(text) {(text), 0, AG_TOKEN_TYPE_CONTROL}
#define USR(text) {(text), 0, AG_TOKEN_TYPE_USER_DEFINED}
#define UNU(text) {(text), 0, AG_TOKEN_TYPE_UNUSED}

/* Ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 the byte tokens <0x00>..<0xFF>, then defs from 259. */
enum { TINY_FIRST = 259 };

static ag_token byte_id(uint8_t b) { return 3 + b; }

static ag_vocab *tiny_vocab_named(const piece_def *defs, int n_defs, bool space_prefix, bool add_eos,
                                  const char *name) {
    int n = TINY_FIRST + n_defs;
    const char **texts = calloc((size_t)n, sizeof *texts);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    static char bytes[256][8];
    texts[0] = "<unk>", types[0] = AG_TOKEN_TYPE_UNKNOWN;
    texts[1] = "<s>", types[1] = AG_TOKEN_TYPE_CONTROL;
    texts[2] = "</s>", types[2] = AG_TOKEN_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        texts[3 + b] = bytes[b];
        types[3 + b] = AG_TOKEN_TYPE_BYTE;
    }
    for (int i = 0; i < n_defs; i++) {
        texts[TINY_FIRST + i] = defs[i].text;
        scores[TINY_FIRST + i] = defs[i].score;
        types[TINY_FIRST + i] = defs[i].type;
    }
    ag_vocab_spm_desc d = ag_vocab_spm_default_desc(n);
    d.texts = texts;
    d.scores = scores;
    d.types = types;
    d.add_space_prefix = space_prefix;
    d.add_eos = add_eos;
    d.name = name;
    ag_error err = {0};
    ag_vocab *v = ag_vocab_new_spm(&d, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    free(texts);
    free(scores);
    free(types);
    return v;
}

static ag_vocab *tiny_vocab(const piece_def *defs, int n_defs, bool space_prefix) {
    return tiny_vocab_named(defs, n_defs, space_prefix, false, NULL);
}

static ag_token id_of(const ag_vocab *v, const char *text) {
    ag_token t = ag_vocab_find(v, text, strlen(text));
    CHECK_MSG(t >= 0, "no piece '%s'", text);
    return t;
}

/* Tokenizes into a fixed buffer; returns the count (or what ag_vocab_tokenize returned). */
static int tok(const ag_vocab *v, const char *s, ag_token *out, int cap, bool add_special, bool parse_special) {
    return ag_vocab_tokenize(v, s, strlen(s), out, cap, add_special, parse_special);
}

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

#define CHECK_IDS(v, text, add_special, parse_special, ...)                                        \
    do {                                                                                           \
        ag_token want_[] = {__VA_ARGS__};                                                          \
        ag_token got_[64];                                                                         \
        int n_ = tok((v), (text), got_, 64, (add_special), (parse_special));                       \
        int nw_ = (int)(sizeof want_ / sizeof want_[0]);                                           \
        bool ok_ = ids_equal(got_, n_, want_, nw_);                                                \
        CHECK_MSG(ok_, "tokenize(\"%s\")", (text));                                                \
        if (!ok_) print_ids("got", got_, n_ > 0 ? n_ : 0), print_ids("want", want_, nw_);          \
    } while (0)

/* Concatenated pieces of ids; returns the length written (buf has room for cap bytes). */
static size_t decode(const ag_vocab *v, const ag_token *ids, int n, char *buf, size_t cap, bool special) {
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        int k = ag_vocab_token_to_piece(v, ids[i], buf + o, (int)(cap - o), special);
        if (k < 0) return SIZE_MAX;
        o += (size_t)k;
    }
    return o;
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

static ag_vocab *load_vocab_file(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", ag_test_shared_dir(), rel);
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

/* ---------------------------------------------------------------- (a) rules on tiny vocabularies */

static void test_merge_by_score(void) {
    /* "bc" outranks "ab", then "a"+"bc" forms "abc" */
    const piece_def defs[] = {P("a", -1), P("b", -1), P("c", -1), P("ab", -5), P("bc", -2), P("abc", -3)};
    ag_vocab *v = tiny_vocab(defs, 6, false);
    if (!v) return;
    CHECK_IDS(v, "abc", false, false, id_of(v, "abc"));
    CHECK_IDS(v, "ab", false, false, id_of(v, "ab"));
    CHECK_IDS(v, "cab", false, false, id_of(v, "c"), id_of(v, "ab"));
    ag_vocab_free(v);

    /* without "abc" the result stays a + bc */
    v = tiny_vocab(defs, 5, false);
    if (!v) return;
    CHECK_IDS(v, "abc", false, false, id_of(v, "a"), id_of(v, "bc"));
    ag_vocab_free(v);
}

static void test_ties_go_left(void) {
    const piece_def defs[] = {P("a", -1), P("b", -1), P("c", -1), P("ab", -2), P("bc", -2)};
    ag_vocab *v = tiny_vocab(defs, 5, false);
    if (!v) return;
    CHECK_IDS(v, "abc", false, false, id_of(v, "ab"), id_of(v, "c"));
    CHECK_IDS(v, "abcabc", false, false, id_of(v, "ab"), id_of(v, "c"), id_of(v, "ab"), id_of(v, "c"));
    ag_vocab_free(v);
}

static void test_space_prefix(void) {
    const piece_def defs[] = {P(SP, -1), P("a", -1), P(SP "a", -0.5f), P("b", -1)};
    ag_vocab *v = tiny_vocab(defs, 4, true);
    if (!v) return;
    CHECK_IDS(v, "a", false, false, id_of(v, SP "a"));
    CHECK_IDS(v, " a", false, false, id_of(v, SP), id_of(v, SP "a"));
    CHECK_IDS(v, "b a", false, false, id_of(v, SP), id_of(v, "b"), id_of(v, SP "a"));
    CHECK_IDS(v, " ", false, false, id_of(v, SP), id_of(v, SP));
    ag_token out[4];
    CHECK(tok(v, "", out, 4, false, false) == 0);
    CHECK(ag_vocab_adds_space_prefix(v));
    ag_vocab_free(v);

    v = tiny_vocab(defs, 4, false);
    if (!v) return;
    CHECK_IDS(v, "a", false, false, id_of(v, "a"));
    CHECK_IDS(v, " a", false, false, id_of(v, SP "a"));
    CHECK(!ag_vocab_adds_space_prefix(v));
    ag_vocab_free(v);
}

static void test_byte_fallback(void) {
    const piece_def defs[] = {P(SP, -1), P("a", -1)};
    ag_vocab *v = tiny_vocab(defs, 2, true);
    if (!v) return;
    /* "é" = C3 A9 is not a piece: one byte token per byte */
    CHECK_IDS(v, "a\xC3\xA9", false, false, id_of(v, SP), id_of(v, "a"), byte_id(0xC3), byte_id(0xA9));
    /* a 4-byte character */
    CHECK_IDS(v, "\xF0\x9F\xA6\x99", false, false, id_of(v, SP), byte_id(0xF0), byte_id(0x9F), byte_id(0xA6),
              byte_id(0x99));
    ag_vocab_free(v);
}

static void test_bos_eos(void) {
    const piece_def defs[] = {P(SP "a", -1)};
    ag_vocab *v = tiny_vocab_named(defs, 1, true, true, NULL);
    if (!v) return;
    CHECK(ag_vocab_adds_bos(v) && ag_vocab_adds_eos(v));
    CHECK(ag_vocab_bos(v) == 1 && ag_vocab_eos(v) == 2 && ag_vocab_unk(v) == 0 && ag_vocab_pad(v) == -1);
    CHECK_IDS(v, "a", true, false, 1, id_of(v, SP "a"), 2);
    CHECK_IDS(v, "a", false, false, id_of(v, SP "a"));
    CHECK_IDS(v, "", true, false, 1, 2);
    ag_token out[4];
    CHECK(tok(v, "", out, 4, false, false) == 0);
    ag_vocab_free(v);
}

static void test_special_tokens(void) {
    const piece_def defs[] = {
        P(SP, -1), P("a", -1), P(SP "a", -0.5f), CTL("<|end|>"),
        USR("<tag>"), USR("<tag>x"),
    };
    ag_vocab *v = tiny_vocab(defs, 6, true);
    if (!v) return;
    ag_token end = id_of(v, "<|end|>"), tag = id_of(v, "<tag>"), tagx = id_of(v, "<tag>x");
    ag_token spa = id_of(v, SP "a");
    /* parse_special: the control text is the control token, and the text after it gets a prefix */
    CHECK_IDS(v, "a<|end|>a", false, true, spa, end, spa);
    CHECK_IDS(v, "<|end|>", false, true, end);
    CHECK_IDS(v, "<|end|><|end|>a", true, true, 1, end, end, spa);
    /* without parse_special it is plain text (bytes here) */
    ag_token out[64];
    int n = tok(v, "a<|end|>", out, 64, false, false);
    CHECK(n == 1 + 7);
    for (int i = 0; i < n; i++) CHECK(out[i] != end);
    /* USER_DEFINED pieces are matched either way, longest first */
    CHECK_IDS(v, "a<tag>a", false, false, spa, tag, spa);
    CHECK_IDS(v, "a<tag>a", false, true, spa, tag, spa);
    CHECK_IDS(v, "<tag>x<tag>", false, false, tagx, tag);
    /* the unknown token's text is not special without parse_special either */
    n = tok(v, "<unk>", out, 64, false, false);
    CHECK(n > 1);
    CHECK_IDS(v, "<unk>", false, true, 0);
    ag_vocab_free(v);
}

/* The reference applies special tokens one at a time, longest first, over the whole text: the
 * longer "xyz" wins even where the shorter "wx" starts earlier. */
static void test_special_order(void) {
    const piece_def defs[] = {
        P("w", -1), USR("xyz"), USR("wx"),
    };
    ag_vocab *v = tiny_vocab(defs, 3, false);
    if (!v) return;
    CHECK_IDS(v, "wxyz", false, false, id_of(v, "w"), id_of(v, "xyz"));
    CHECK_IDS(v, "wxwxyz", false, false, id_of(v, "wx"), id_of(v, "w"), id_of(v, "xyz"));
    ag_vocab_free(v);
}

/* Phi-3 (keyed on general.name, as the reference does): whitespace after most special tokens is
 * dropped; other models keep it. */
static void test_rstrip_phi3(void) {
    const piece_def defs[] = {
        P(SP, -1), P("a", -1), P(SP "a", -0.5f), P("b", -1), P(SP "b", -0.5f),
        CTL("<|end|>"), CTL("<|endoftext|>"),
    };
    ag_vocab *phi = tiny_vocab_named(defs, 7, true, false, "Phi3 mini");
    ag_vocab *other = tiny_vocab_named(defs, 7, true, false, "llama");
    if (!phi || !other) return;
    ag_token end = id_of(phi, "<|end|>"), eot = id_of(phi, "<|endoftext|>");
    ag_token spa = id_of(phi, SP "a"), spb = id_of(phi, SP "b"), sp = id_of(phi, SP);
    CHECK_IDS(phi, "a<|end|>  \n b", false, true, spa, end, spb);
    CHECK_IDS(other, "a<|end|>  b", false, true, spa, end, sp, sp, spb);
    /* <|endoftext|> keeps what follows */
    CHECK_IDS(phi, "<|endoftext|> b", false, true, eot, sp, spb);
    ag_vocab_free(phi);
    ag_vocab_free(other);
}

static void test_eog(void) {
    const piece_def defs[] = {
        CTL("<|end|>"), USR("<|im_end|>"),
        CTL("<|endoftext|>"), P("a", -1),
    };
    ag_vocab *v = tiny_vocab(defs, 4, true);
    if (!v) return;
    CHECK(ag_vocab_is_eog(v, 2));
    CHECK(ag_vocab_is_eog(v, id_of(v, "<|end|>")));
    CHECK(ag_vocab_is_eog(v, id_of(v, "<|endoftext|>")));
    CHECK(!ag_vocab_is_eog(v, id_of(v, "<|im_end|>"))); /* not a control token */
    CHECK(!ag_vocab_is_eog(v, id_of(v, "a")));
    CHECK(!ag_vocab_is_eog(v, 1));
    CHECK(!ag_vocab_is_eog(v, -1) && !ag_vocab_is_eog(v, 1 << 20));
    CHECK(ag_vocab_eot(v) == id_of(v, "<|end|>"));
    ag_vocab_free(v);
}

static void test_token_to_piece(void) {
    const piece_def defs[] = {
        P(SP "a" SP "b", -1), CTL("<|end|>"), USR("<tag>"),
        UNU("unused"), P(SP, -1),
    };
    ag_vocab *v = tiny_vocab(defs, 5, true);
    if (!v) return;
    char buf[32];
    ag_token ab = id_of(v, SP "a" SP "b");
    CHECK(ag_vocab_token_to_piece(v, ab, buf, sizeof buf, false) == 4 && memcmp(buf, " a b", 4) == 0);
    CHECK(ag_vocab_token_to_piece(v, id_of(v, SP), buf, sizeof buf, false) == 1 && buf[0] == ' ');
    CHECK(ag_vocab_token_to_piece(v, byte_id(0x0A), buf, sizeof buf, false) == 1 && buf[0] == '\n');
    CHECK(ag_vocab_token_to_piece(v, byte_id(0xFF), buf, sizeof buf, false) == 1 && (uint8_t)buf[0] == 0xFF);
    ag_token end = id_of(v, "<|end|>");
    CHECK(ag_vocab_token_to_piece(v, end, buf, sizeof buf, false) == 0);
    CHECK(ag_vocab_token_to_piece(v, end, buf, sizeof buf, true) == 7 && memcmp(buf, "<|end|>", 7) == 0);
    CHECK(ag_vocab_token_to_piece(v, 1, buf, sizeof buf, false) == 0);
    CHECK(ag_vocab_token_to_piece(v, 1, buf, sizeof buf, true) == 3 && memcmp(buf, "<s>", 3) == 0);
    CHECK(ag_vocab_token_to_piece(v, 0, buf, sizeof buf, false) == 0);
    CHECK(ag_vocab_token_to_piece(v, 0, buf, sizeof buf, true) == 5 && memcmp(buf, "<unk>", 5) == 0);
    CHECK(ag_vocab_token_to_piece(v, id_of(v, "<tag>"), buf, sizeof buf, false) == 5);
    CHECK(ag_vocab_token_to_piece(v, id_of(v, "unused"), buf, sizeof buf, true) == 0);
    /* too small: -(needed), nothing written */
    memset(buf, 'X', sizeof buf);
    CHECK(ag_vocab_token_to_piece(v, ab, buf, 3, false) == -4);
    CHECK(buf[0] == 'X');
    CHECK(ag_vocab_token_to_piece(v, ab, NULL, 0, false) == -4);
    CHECK(ag_vocab_token_to_piece(v, end, buf, 2, true) == -7);
    CHECK(ag_vocab_token_to_piece(v, byte_id(1), buf, 0, false) == -1);
    /* invalid ids give nothing */
    CHECK(ag_vocab_token_to_piece(v, -1, buf, sizeof buf, true) == 0);
    CHECK(ag_vocab_token_to_piece(v, ag_vocab_n_tokens(v), buf, sizeof buf, true) == 0);
    size_t len = 0;
    CHECK(ag_vocab_token_text(v, ab, &len) && len == 8);
    CHECK(ag_vocab_token_text(v, -5, &len) == NULL && len == 0);
    CHECK(ag_vocab_token_type(v, end) == AG_TOKEN_TYPE_CONTROL);
    CHECK(ag_vocab_token_type(v, 1 << 20) == AG_TOKEN_TYPE_UNDEFINED);
    CHECK(strcmp(ag_vocab_kind_name(v), "llama") == 0 && ag_vocab_get_kind(v) == AG_VOCAB_SPM);
    ag_vocab_free(v);
}

static void test_cap_too_small(void) {
    const piece_def defs[] = {P(SP, -1), P("a", -1)};
    ag_vocab *v = tiny_vocab(defs, 2, true);
    if (!v) return;
    ag_token out[8];
    for (int i = 0; i < 8; i++) out[i] = -77;
    /* "a a a" -> ▁ a ▁ a ▁ a, plus BOS: 7 */
    CHECK(tok(v, "a a a", out, 8, true, false) == 7);
    for (int i = 0; i < 8; i++) out[i] = -77;
    CHECK(tok(v, "a a a", out, 3, true, false) == -7);
    CHECK(out[3] == -77 && out[7] == -77); /* nothing past cap */
    CHECK(tok(v, "a a a", NULL, 0, true, false) == -7);
    CHECK(tok(v, "", NULL, 0, false, false) == 0);
    CHECK(tok(v, "", NULL, 0, true, false) == -1);
    /* bad arguments */
    CHECK(ag_vocab_tokenize(v, NULL, 3, out, 8, false, false) == INT32_MIN);
    CHECK(ag_vocab_tokenize(v, "a", 1, NULL, 8, false, false) == INT32_MIN);
    CHECK(ag_vocab_tokenize(v, "a", 1, out, -1, false, false) == INT32_MIN);
    CHECK(ag_vocab_tokenize(NULL, "a", 1, out, 8, false, false) == INT32_MIN);
    CHECK(ag_vocab_tokenize(v, NULL, 0, out, 8, false, false) == 0);
    ag_vocab_free(v);
}

static void test_desc_validation(void) {
    const char *texts[] = {"<unk>", "<s>", "</s>", "a"};
    ag_vocab_spm_desc d = ag_vocab_spm_default_desc(4);
    d.texts = texts;
    ag_error err = {0};
    d.bos = 4;
    CHECK(ag_vocab_new_spm(&d, &err) == NULL && err.code == AG_ERR_FORMAT);
    d.bos = 1;
    char *longp = malloc(AG_VOCAB_MAX_PIECE + 2);
    memset(longp, 'x', AG_VOCAB_MAX_PIECE + 1);
    longp[AG_VOCAB_MAX_PIECE + 1] = '\0';
    texts[3] = longp;
    CHECK(ag_vocab_new_spm(&d, &err) == NULL && err.code == AG_ERR_FORMAT);
    free(longp);
    texts[3] = "";
    ag_vocab *v = ag_vocab_new_spm(&d, &err); /* an empty piece is renamed, as the reference does */
    CHECK(v != NULL);
    size_t len;
    if (v) CHECK(strcmp(ag_vocab_token_text(v, 3, &len), "[EMPTY_3]") == 0);
    ag_vocab_free(v);
    d.n_tokens = 0;
    CHECK(ag_vocab_new_spm(&d, &err) == NULL);
    CHECK(ag_vocab_new_spm(NULL, &err) == NULL);
    /* a tiny vocabulary without enough tokens for the default ids */
    ag_vocab_spm_desc d1 = ag_vocab_spm_default_desc(1);
    d1.texts = texts + 3;
    d1.unk = -1;
    d1.add_space_prefix = false;
    texts[3] = "a";
    v = ag_vocab_new_spm(&d1, &err);
    CHECK(v != NULL);
    if (v) {
        CHECK(ag_vocab_bos(v) == -1 && ag_vocab_eos(v) == -1);
        ag_token out[8];
        CHECK(tok(v, "ab", out, 8, true, false) == 1 && out[0] == 0); /* "b": no byte token, no unk */
    }
    ag_vocab_free(v);
}

/* Byte soup: never crashes, every id valid; without a byte token or unk, unknown bytes vanish. */
static void test_invalid_utf8(void) {
    const piece_def defs[] = {P(SP, -1), P("a", -1), P("\xC3", -1), USR("<tag>")};
    ag_vocab *v = tiny_vocab(defs, 4, true);
    if (!v) return;
    const char *cases[] = {"\xC3", "a\xC3", "\xE2\x96", "\xF0\x9F\xA6", "\x80\x80\xBF", "\xFF\xFE\xF8\xC0\xAF",
                           "<tag\xC3>", "\xE2\x96\x81\xE2", "a\0b"};
    ag_token out[64];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len = c == 8 ? 3 : strlen(cases[c]);
        int n = ag_vocab_tokenize(v, cases[c], len, out, 64, true, true);
        CHECK_MSG(n > 0, "case %zu", c);
        for (int i = 0; i < n; i++) CHECK(out[i] >= 0 && out[i] < ag_vocab_n_tokens(v));
    }
    /* a lone lead byte at the end: the symbol is cut short and found as a piece */
    CHECK_IDS(v, "a\xC3", false, false, id_of(v, SP), id_of(v, "a"), id_of(v, "\xC3"));
    /* random bytes */
    uint32_t seed = 12345;
    char buf[256];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 97);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1664525u + 1013904223u;
            buf[i] = (char)(seed >> 24);
        }
        int n = ag_vocab_tokenize(v, buf, len, out, 64, round & 1, round & 2);
        if (n < 0) {
            ag_token *big = malloc((size_t)-n * sizeof *big);
            CHECK(ag_vocab_tokenize(v, buf, len, big, -n, round & 1, round & 2) == -n);
            for (int i = 0; i < -n; i++) CHECK(big[i] >= 0 && big[i] < ag_vocab_n_tokens(v));
            free(big);
        } else {
            for (int i = 0; i < n; i++) CHECK(out[i] >= 0 && out[i] < ag_vocab_n_tokens(v));
        }
    }
    ag_vocab_free(v);
}

/* ---------------------------------------------------------------- naive model of the merge rule */

static size_t naive_char_len(uint8_t c) {
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Repeatedly merges the best adjacent pair (highest score, leftmost on ties) by scanning all
 * pairs: O(n^2), obviously right. Plain text only (no special tokens), prefix as the vocab says. */
static int naive_spm(const ag_vocab *v, const char *text, size_t len, ag_token *out, int cap) {
    size_t n = 0;
    char *s = malloc(3 * len + 4);
    if (ag_vocab_adds_space_prefix(v) && len) memcpy(s, SP, 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(s + n, SP, 3), n += 3;
        else s[n++] = text[i];
    }
    size_t *off = malloc((n + 1) * sizeof *off), *ln = malloc((n + 1) * sizeof *ln);
    size_t m = 0;
    for (size_t o = 0; o < n; m++) {
        size_t l = naive_char_len((uint8_t)s[o]);
        if (l > n - o) l = n - o;
        off[m] = o, ln[m] = l, o += l;
    }
    for (;;) {
        size_t best = SIZE_MAX;
        float best_score = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            ag_token t = ag_vocab_find(v, s + off[i], ln[i] + ln[i + 1]);
            if (t < 0) continue;
            float sc = ag_vocab_token_score(v, t);
            if (best == SIZE_MAX || sc > best_score) best = i, best_score = sc;
        }
        if (best == SIZE_MAX) break;
        ln[best] += ln[best + 1];
        memmove(off + best + 1, off + best + 2, (m - best - 2) * sizeof *off);
        memmove(ln + best + 1, ln + best + 2, (m - best - 2) * sizeof *ln);
        m--;
    }
    int k = 0;
    for (size_t i = 0; i < m; i++) {
        ag_token t = ag_vocab_find(v, s + off[i], ln[i]);
        if (t >= 0) {
            if (k < cap) out[k] = t;
            k++;
            continue;
        }
        for (size_t j = 0; j < ln[i]; j++) {
            char hex[8];
            snprintf(hex, sizeof hex, "<0x%02X>", (uint8_t)s[off[i] + j]);
            if (k < cap) out[k] = ag_vocab_find(v, hex, 6);
            k++;
        }
    }
    free(s);
    free(off);
    free(ln);
    return k;
}

static void compare_with_naive(const ag_vocab *v, const char *const *alphabet, int n_alpha, int rounds,
                               int max_items, const char *what) {
    uint32_t seed = 777;
    char text[1024];
    ag_token a[2048], b[2048];
    int bad = 0;
    for (int r = 0; r < rounds && bad < 3; r++) {
        size_t len = 0;
        seed = seed * 1664525u + 1013904223u;
        int items = (int)(seed >> 16) % max_items;
        for (int i = 0; i < items; i++) {
            seed = seed * 1664525u + 1013904223u;
            const char *piece = alphabet[(seed >> 8) % (uint32_t)n_alpha];
            size_t pl = strlen(piece);
            if (len + pl >= sizeof text) break;
            memcpy(text + len, piece, pl);
            len += pl;
        }
        int na = ag_vocab_tokenize(v, text, len, a, 2048, false, false);
        int nb = naive_spm(v, text, len, b, 2048);
        if (!ids_equal(a, na, b, nb)) {
            bad++;
            CHECK_MSG(false, "%s: fast and naive tokenizers differ on \"%.*s\"", what, (int)len, text);
            print_ids("fast", a, na > 0 ? na : 0);
            print_ids("naive", b, nb);
        }
    }
    CHECK(bad == 0);
}

static void test_against_naive(void) {
    /* many equal scores and overlapping pieces, so that order and ties matter */
    const piece_def defs[] = {
        P(SP, -3), P("a", -1), P("b", -1), P("c", -1), P("ab", -2), P("bc", -2), P("ca", -2), P("abc", -2),
        P("bca", -4), P("aa", -2), P("aaa", -1), P("aaaa", -2), P(SP "a", -2), P(SP "b", -3), P(SP "ab", -1),
        P("cc", -5), P("ccc", -5), P("\xC3\xA9", -1), P("a\xC3\xA9", -1), P(SP SP, -2), P(SP SP "a", -1),
    };
    ag_vocab *v = tiny_vocab(defs, (int)(sizeof defs / sizeof defs[0]), true);
    if (!v) return;
    const char *alpha[] = {"a", "b", "c", " ", "\xC3\xA9", "d", "\xC3", "\xF0"};
    compare_with_naive(v, alpha, 8, 3000, 40, "tiny vocab"); /* merged word by word */
    ag_vocab_free(v);

    /* pieces with U+2581 after other characters: merged across words, all at once */
    const piece_def across[] = {
        P(SP, -3), P("a", -1), P("b", -1), P("ab", -2), P("a" SP, -1), P(SP "b", -2), P("a" SP "b", -1),
        P("b" SP SP, -3), P(SP SP, -2), P("\xF0" SP, -1),
    };
    v = tiny_vocab(across, (int)(sizeof across / sizeof across[0]), true);
    if (!v) return;
    ag_token ids[8];
    CHECK(tok(v, "a b", ids, 8, false, false) == 2 && ids[0] == id_of(v, SP) && ids[1] == id_of(v, "a" SP "b"));
    compare_with_naive(v, alpha, 8, 3000, 40, "pieces across words");
    ag_vocab_free(v);
}

/* ---------------------------------------------------------------- (b) reference vectors */

static const char VEC_SEP[] = "\n__ggml_vocab_test__\n";

/* Parses one .out line into ids; returns the count. */
static int parse_ids(const char *line, size_t len, ag_token *ids, int cap) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
        if (i >= len) break;
        long x = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9') x = x * 10 + (line[i++] - '0');
        if (n < cap) ids[n] = (ag_token)x;
        n++;
        if (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') return -1;
    }
    return n;
}

/* Checks decode(encode(text)) == text; returns whether the case could be checked. */
static bool check_roundtrip(const ag_vocab *v, const char *text, size_t len, const ag_token *ids, int n) {
    if (memmem(text, len, SP, 3)) return false; /* a literal U+2581 decodes to ' ' */
    for (int i = 0; i < n; i++)
        if (ag_vocab_token_type(v, ids[i]) == AG_TOKEN_TYPE_UNKNOWN) return false;
    size_t cap = 4 * len + 64;
    char *buf = malloc(cap);
    size_t got = decode(v, ids, n, buf, cap, false);
    const char *g = buf;
    if (ag_vocab_adds_space_prefix(v) && len > 0 && got != SIZE_MAX && got > 0 && g[0] == ' ') g++, got--;
    bool ok = got == len && memcmp(g, text, len) == 0;
    CHECK_MSG(ok, "decode(encode(\"%.*s\")) gave \"%.*s\"", (int)len, text, (int)(got == SIZE_MAX ? 0 : got), g);
    free(buf);
    return true;
}

/* Every case of one .inp/.out pair: ids must match, decoding must give the text back. */
static void run_vector_cases(const ag_vocab *v, const char *name, const char *inp, size_t n_inp, const char *out,
                             size_t n_out) {
    int cases = 0, match = 0, roundtrips = 0;
    const char *p = inp, *q = out, *q_end = out + n_out;
    const size_t sep_len = sizeof VEC_SEP - 1;
    for (;;) {
        const char *e = memmem(p, (size_t)(inp + n_inp - p), VEC_SEP, sep_len);
        if (!e) break;
        const char *nl = memchr(q, '\n', (size_t)(q_end - q));
        size_t line_len = nl ? (size_t)(nl - q) : (size_t)(q_end - q);
        ag_token want[512], got[512];
        int nw = parse_ids(q, line_len, want, 512);
        int ng = ag_vocab_tokenize(v, p, (size_t)(e - p), got, 512, false, false);
        cases++;
        if (nw >= 0 && ids_equal(got, ng, want, nw)) {
            match++;
        } else {
            CHECK_MSG(false, "%s case %d \"%.*s\"", name, cases - 1, (int)(e - p), p);
            print_ids("got", got, ng > 0 ? ng : 0);
            print_ids("want", want, nw > 0 ? nw : 0);
        }
        if (ng >= 0) roundtrips += check_roundtrip(v, p, (size_t)(e - p), got, ng);
        p = e + sep_len;
        q = nl ? nl + 1 : q_end;
    }
    fprintf(stderr, "  %s: %d/%d vector cases match, %d round trips checked\n", name, match, cases, roundtrips);
    CHECK(cases == 46);
    CHECK(match == cases);
    CHECK(p == inp + n_inp); /* the last case is followed by the separator too */
}

static void run_vectors(const char *name) {
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "tokenizer-vectors/%s.gguf", name);
    ag_vocab *v = load_vocab_file(rel);
    if (!v) return;
    size_t n_inp = 0, n_out = 0;
    snprintf(path, sizeof path, "%s/tokenizer-vectors/%s.gguf.inp", ag_test_shared_dir(), name);
    char *inp = read_file(path, &n_inp);
    snprintf(path, sizeof path, "%s/tokenizer-vectors/%s.gguf.out", ag_test_shared_dir(), name);
    char *out = read_file(path, &n_out);
    CHECK_MSG(inp && out, "%s: missing .inp/.out", name);
    if (inp && out) run_vector_cases(v, name, inp, n_inp, out, n_out);
    free(inp);
    free(out);

    /* and the fast tokenizer agrees with the naive one on random text over a real vocabulary */
    const char *alpha[] = {"the", " ", "a", "b", "e", "ing", "3", "\n", "\xC3\xA9", "\xE4\xBD\xA0",
                           "\xF0\x9F\xA6\x99", "'", "  ", "\t", "Hello", "x", "ok"};
    compare_with_naive(v, alpha, (int)(sizeof alpha / sizeof alpha[0]), 400, 60, name);
    ag_vocab_free(v);
}

static void test_vectors_llama_spm(void) { run_vectors("ggml-vocab-llama-spm"); }
static void test_vectors_phi3(void) { run_vectors("ggml-vocab-phi-3"); }

static void test_phi3_vocab(void) {
    ag_vocab *v = load_vocab_file("tokenizer-vectors/ggml-vocab-phi-3.gguf");
    if (!v) return;
    CHECK(ag_vocab_n_tokens(v) == 32064);
    CHECK(ag_vocab_eos(v) == 32000 && ag_vocab_pad(v) == 32000 && ag_vocab_bos(v) == 1);
    CHECK(ag_vocab_is_eog(v, 32000));            /* <|endoftext|> */
    CHECK(ag_vocab_is_eog(v, 32007));            /* <|end|> */
    CHECK(!ag_vocab_is_eog(v, 2));               /* </s> is USER_DEFINED here */
    CHECK(ag_vocab_eot(v) == 32007);
    /* the chat format: specials parsed, whitespace after them dropped (Phi-3 rule) */
    CHECK_IDS(v, "<|user|>\nSYS\nHI<|end|>\n<|assistant|>\n", true, true, 1, 32010, 317, 21554, 13, 17628, 32007,
              32001);
    /* </s> is USER_DEFINED: matched even without parse_special */
    ag_token out[16];
    int n = tok(v, "a</s>", out, 16, false, false);
    CHECK(n >= 2 && out[n - 1] == 2);
    ag_vocab_free(v);
}

/* ---------------------------------------------------------------- (c) stories260K */

static void test_stories_vocab(void) {
    ag_vocab *v = load_vocab_file("models/stories260K.gguf");
    if (!v) return;
    CHECK(ag_vocab_n_tokens(v) == 512);
    CHECK(ag_vocab_bos(v) == 1 && ag_vocab_eos(v) == 2 && ag_vocab_pad(v) == -1);
    CHECK(ag_vocab_adds_bos(v) && !ag_vocab_adds_eos(v) && ag_vocab_adds_space_prefix(v));
    CHECK(ag_vocab_is_eog(v, 2) && !ag_vocab_is_eog(v, 1));
    CHECK_IDS(v, "Once upon a time", true, false, 1, 403, 407, 261, 378);
    CHECK_IDS(v, "Lily wanted to", true, false, 1, 317, 391, 266, 267);
    char buf[16];
    CHECK(ag_vocab_token_to_piece(v, 403, buf, sizeof buf, false) == 5 && memcmp(buf, " Once", 5) == 0);
    ag_vocab_free(v);
}

/* ---------------------------------------------------------------- (d) malformed files */

/* A GGUF v3 file with no tensors, written byte by byte. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    uint64_t n_kv;
} gguf_buf;

static void gb_raw(gguf_buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void gb_u32(gguf_buf *b, uint32_t x) {
    uint8_t p[4] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)};
    gb_raw(b, p, 4);
}
static void gb_u64(gguf_buf *b, uint64_t x) {
    gb_u32(b, (uint32_t)x);
    gb_u32(b, (uint32_t)(x >> 32));
}
static void gb_str(gguf_buf *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_raw(b, s, strlen(s));
}
static void gb_key(gguf_buf *b, const char *key, ag_gguf_type t) {
    gb_str(b, key);
    gb_u32(b, (uint32_t)t);
    b->n_kv++;
}
static void gb_kv_str(gguf_buf *b, const char *key, const char *val) {
    gb_key(b, key, AG_GGUF_STRING);
    gb_str(b, val);
}
static void gb_kv_u32(gguf_buf *b, const char *key, uint32_t val) {
    gb_key(b, key, AG_GGUF_UINT32);
    gb_u32(b, val);
}
static void gb_kv_strs(gguf_buf *b, const char *key, const char *const *v, int n) {
    gb_key(b, key, AG_GGUF_ARRAY);
    gb_u32(b, AG_GGUF_STRING);
    gb_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) gb_str(b, v[i]);
}
static void gb_kv_f32s(gguf_buf *b, const char *key, int n) {
    gb_key(b, key, AG_GGUF_ARRAY);
    gb_u32(b, AG_GGUF_FLOAT32);
    gb_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        float f = -(float)i;
        uint32_t u;
        memcpy(&u, &f, 4);
        gb_u32(b, u);
    }
}
static void gb_kv_i32s(gguf_buf *b, const char *key, const int32_t *v, int n) {
    gb_key(b, key, AG_GGUF_ARRAY);
    gb_u32(b, AG_GGUF_INT32);
    gb_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) gb_u32(b, (uint32_t)v[i]);
}

/* header + kv section as built so far */
static uint8_t *gb_finish(const gguf_buf *b, size_t *len) {
    *len = 24 + b->len;
    uint8_t *out = malloc(*len);
    memcpy(out, "GGUF", 4);
    uint8_t hdr[20] = {3, 0, 0, 0};
    for (int i = 0; i < 8; i++) hdr[12 + i] = (uint8_t)(b->n_kv >> (8 * i));
    memcpy(out + 4, hdr, 20);
    memcpy(out + 24, b->data, b->len);
    return out;
}

/* Loads a vocabulary from the built file; returns it (or NULL with err filled). */
static ag_vocab *load_built(const gguf_buf *b, ag_error *err) {
    size_t len;
    uint8_t *file = gb_finish(b, &len);
    ag_gguf_file *f = ag_gguf_open_memory(file, len, err);
    CHECK_MSG(f != NULL, "the test GGUF did not open: %s", err->msg);
    ag_vocab *v = f ? ag_vocab_load(f, err) : NULL;
    ag_gguf_close(f);
    free(file);
    return v;
}

static const char *const SMALL_TOKENS[] = {"<unk>", "<s>", "</s>", SP "a", "a"};

static void test_bad_files(void) {
    ag_error err;
    gguf_buf b = {0};

    /* no tokens */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.tokens"));
    free(b.data), b = (gguf_buf){0};

    /* a well-formed small vocabulary loads */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", 5);
    gb_kv_u32(&b, "tokenizer.ggml.padding_token_id", 5); /* one past the end: ignored */
    err = (ag_error){0};
    ag_vocab *v = load_built(&b, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    if (v) {
        CHECK(ag_vocab_n_tokens(v) == 5 && ag_vocab_pad(v) == -1);
        CHECK_IDS(v, "a", true, false, 1, 3);
    }
    ag_vocab_free(v);
    free(b.data), b = (gguf_buf){0};

    /* scores of the wrong length */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", 4);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.scores"));
    free(b.data), b = (gguf_buf){0};

    /* token types of the wrong length */
    const int32_t types[] = {2, 3, 3, 1};
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", types, 4);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.token_type"));
    free(b.data), b = (gguf_buf){0};

    /* eos out of range */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    gb_kv_u32(&b, "tokenizer.ggml.eos_token_id", 99);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "eos_token_id"));
    free(b.data), b = (gguf_buf){0};

    /* tokens that are not strings */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_i32s(&b, "tokenizer.ggml.tokens", types, 4);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.tokens"));
    free(b.data), b = (gguf_buf){0};

    /* a tokenizer family we do not have */
    gb_kv_str(&b, "tokenizer.ggml.model", "t5");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_UNSUPPORTED &&
          strcmp(err.msg, "tokenizer model 't5' not supported yet") == 0);
    free(b.data), b = (gguf_buf){0};

    /* scores that are not floats */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    gb_kv_i32s(&b, "tokenizer.ggml.scores", types, 4);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.scores"));
    free(b.data), b = (gguf_buf){0};

    /* a flag of the wrong type */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    gb_kv_str(&b, "tokenizer.ggml.add_bos_token", "yes");
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "add_bos_token"));
    free(b.data), b = (gguf_buf){0};

    /* a piece longer than AG_VOCAB_MAX_PIECE */
    char *huge = malloc(AG_VOCAB_MAX_PIECE + 2);
    memset(huge, 'x', AG_VOCAB_MAX_PIECE + 1);
    huge[AG_VOCAB_MAX_PIECE + 1] = '\0';
    const char *const huge_tokens[] = {"<unk>", "<s>", "</s>", huge};
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", huge_tokens, 4);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.tokens"));
    free(huge);
    free(b.data), b = (gguf_buf){0};

    /* 0xFFFFFFFF means "no such token"; add_space_prefix and add_bos read from the file */
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    gb_kv_u32(&b, "tokenizer.ggml.eos_token_id", 0xFFFFFFFFu);
    gb_key(&b, "tokenizer.ggml.add_space_prefix", AG_GGUF_BOOL);
    gb_raw(&b, "\0", 1);
    gb_key(&b, "tokenizer.ggml.add_eos_token", AG_GGUF_BOOL);
    gb_raw(&b, "\1", 1);
    err = (ag_error){0};
    v = load_built(&b, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    if (v) {
        CHECK(ag_vocab_eos(v) == -1 && !ag_vocab_adds_space_prefix(v) && ag_vocab_adds_eos(v));
        CHECK_IDS(v, "a", true, false, 1, 4); /* no prefix: "a"; no EOS to add */
    }
    ag_vocab_free(v);
    free(b.data), b = (gguf_buf){0};

    /* a model name that is not a string */
    gb_kv_u32(&b, "tokenizer.ggml.model", 1);
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.model"));
    free(b.data), b = (gguf_buf){0};

    /* no model key */
    gb_kv_strs(&b, "tokenizer.ggml.tokens", SMALL_TOKENS, 5);
    err = (ag_error){0};
    CHECK(load_built(&b, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.model"));
    free(b.data), b = (gguf_buf){0};

    /* the real gpt2 vector vocabulary now loads as byte-level BPE (test_tokenizer_bpe.c) */
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer-vectors/ggml-vocab-gpt-2.gguf", ag_test_shared_dir());
    ag_gguf_file *f = ag_gguf_open(path, &err);
    if (f) {
        v = ag_vocab_load(f, &err);
        CHECK_MSG(v && ag_vocab_get_kind(v) == AG_VOCAB_BPE && strcmp(ag_vocab_kind_name(v), "gpt2") == 0, "%s",
                  err.msg);
        ag_vocab_free(v);
        ag_gguf_close(f);
    }
}

/* ---------------------------------------------------------------- speed */


static double tokenize_seconds(const ag_vocab *v, const char *text, size_t len, int *n_out) {
    double t0 = now_s();
    *n_out = ag_vocab_tokenize(v, text, len, NULL, 0, true, true);
    return now_s() - t0;
}

/* Tokenizes text and checks the ids; checks that the time grows linearly: 1 MB may take at most
 * 128 times as long as its first 64 KB (16x is linear, a quadratic path gives about 256x). A
 * ratio measured in one run, so a loaded machine does not fail it. */
static void time_one(const ag_vocab *v, const char *what, const char *text, size_t len) {
    int n, n_small;
    double small = tokenize_seconds(v, text, len / 16, &n_small);
    for (int rep = 0; rep < 2; rep++) {
        double again = tokenize_seconds(v, text, len / 16, &n_small);
        if (again < small) small = again;
    }
    double dt = tokenize_seconds(v, text, len, &n);
    for (int rep = 0; rep < 2 && dt / (small > 1e-4 ? small : 1e-4) >= 128; rep++) { /* a busy machine: again */
        double again = tokenize_seconds(v, text, len, &n);
        if (again < dt) dt = again;
    }
    ag_token *ids = malloc((size_t)(n < 0 ? -n : 1) * sizeof *ids);
    int n2 = ag_vocab_tokenize(v, text, len, ids, n < 0 ? -n : 0, true, true);
    CHECK(n < 0 && n2 == -n);
    for (int i = 0; i < n2; i++)
        if (ids[i] < 0 || ids[i] >= ag_vocab_n_tokens(v)) {
            CHECK_MSG(false, "%s: bad id %d", what, ids[i]);
            break;
        }
    free(ids);
    double ratio = dt / (small > 1e-4 ? small : 1e-4);
    fprintf(stderr, "  %s: %zu bytes -> %d tokens in %.3f s (%.0fx the time of 1/16 of it)\n", what, len, -n, dt, ratio);
    CHECK_MSG(ratio < 128, "%s: %.3f s for 1 MB, %.4f s for 64 KB: not linear", what, dt, small);
}

static void test_long_inputs(void) {
    ag_vocab *v = load_vocab_file("tokenizer-vectors/ggml-vocab-llama-spm.gguf");
    if (!v) return;
    const size_t len = 1 << 20;
    char *text = malloc(len);
    static const char *const words[] = {"the", "little", "dog", "ran", "to", "a", "big", "tree", "and",
                                        "\xC3\xA9t\xC3\xA9", "\xE4\xBD\xA0\xE5\xA5\xBD", "\xF0\x9F\x98\x81",
                                        "3.14", "Hello,", "world!", "<s>", "\n", "\t"};
    uint32_t seed = 99;
    size_t o = 0;
    while (o < len) {
        seed = seed * 1664525u + 1013904223u;
        const char *w = words[(seed >> 8) % (sizeof words / sizeof words[0])];
        for (size_t i = 0; w[i] && o < len; i++) text[o++] = w[i];
        if (o < len) text[o++] = ' ';
    }
    time_one(v, "1 MB of words", text, len);
    memset(text, 'a', len);
    time_one(v, "1 MB of 'a'", text, len);
    memset(text, ' ', len);
    time_one(v, "1 MB of spaces", text, len);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        text[i] = (char)(seed >> 24);
    }
    time_one(v, "1 MB of random bytes", text, len);
    free(text);
    ag_vocab_free(v);
}

TEST_MAIN(TEST(test_merge_by_score), TEST(test_ties_go_left), TEST(test_space_prefix), TEST(test_byte_fallback),
          TEST(test_bos_eos), TEST(test_special_tokens), TEST(test_special_order), TEST(test_rstrip_phi3),
          TEST(test_eog), TEST(test_token_to_piece), TEST(test_cap_too_small), TEST(test_desc_validation),
          TEST(test_invalid_utf8), TEST(test_against_naive), TEST(test_vectors_llama_spm), TEST(test_vectors_phi3),
          TEST(test_phi3_vocab), TEST(test_stories_vocab), TEST(test_bad_files), TEST(test_long_inputs))
