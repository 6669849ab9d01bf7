/*
 * fuzz_tokenizer.c - libFuzzer target for the SentencePiece-style tokenizer (src/tokenizer/).
 *
 * Two vocabularies are built once, in LLVMFuzzerInitialize: the 512-token vocabulary of
 * $AUTOGLM_SHARED/models/stories260K.gguf (default folder "../shared"; skipped with a note when
 * the file is missing) and a small built-in one that has byte tokens, overlapping pieces with
 * tied scores, control and user-defined tokens, and a Phi-3 name (so RSTRIP runs). Each input is
 * tokenized by each vocabulary with parse_special off and on; the target aborts when:
 *   - tokenizing valid arguments fails, or a second call with the exact room gives another count,
 *   - an id is out of range, or its piece cannot be fetched with the size that was asked for,
 *   - the output is only normal and byte tokens, the input holds no U+2581 and splits into whole
 *     characters, and the pieces do not give back the input (after the one leading space of
 *     add_space_prefix).
 * The vocabularies are the harness's only state: libFuzzer calls into one process repeatedly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

typedef struct {
    ag_vocab *stories; /* NULL when the file is missing */
    ag_vocab *builtin;
} fuzz_vocabs;

static fuzz_vocabs g_vocabs;

static ag_vocab *load_stories(void) {
    const char *dir = getenv("AUTOGLM_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", dir && *dir ? dir : "../shared");
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open(path, &err);
    if (!f) {
        fprintf(stderr, "fuzz_tokenizer: %s: %s (using the built-in vocabulary only)\n", path, err.msg);
        return NULL;
    }
    ag_vocab *v = ag_vocab_load(f, &err);
    if (!v) fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, err.msg);
    ag_gguf_close(f);
    return v;
}

#define SP "\xE2\x96\x81"

static ag_vocab *builtin_vocab(void) {
    static const char *const pieces[] = {
        SP, "a", "b", "c", "ab", "bc", "abc", SP "a", SP "ab", "aa", "aaa", "\xC3\xA9", "e", SP "e", "the", SP "the",
        "<|end|>", "<|user|>", "<tag>", "<tag>x", "</s>x",
    };
    static const float scores[] = {-3, -1, -1, -1, -2, -2, -2, -2, -1, -2, -1, -1, -1, -2, -1, -1, 0, 0, 0, 0, 0};
    enum { N_PIECES = sizeof pieces / sizeof pieces[0], N = 3 + 256 + N_PIECES };
    static char bytes[256][8];
    const char *texts[N];
    float sc[N];
    int32_t types[N];
    texts[0] = "<unk>", texts[1] = "<s>", texts[2] = "</s>";
    types[0] = AG_TOKEN_TYPE_UNKNOWN, types[1] = types[2] = AG_TOKEN_TYPE_CONTROL;
    sc[0] = sc[1] = sc[2] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        texts[3 + b] = bytes[b];
        types[3 + b] = AG_TOKEN_TYPE_BYTE;
        sc[3 + b] = 0;
    }
    for (int i = 0; i < N_PIECES; i++) {
        texts[259 + i] = pieces[i];
        sc[259 + i] = scores[i];
        types[259 + i] = pieces[i][0] == '<' ? (i % 2 ? AG_TOKEN_TYPE_CONTROL : AG_TOKEN_TYPE_USER_DEFINED)
                                             : AG_TOKEN_TYPE_NORMAL;
    }
    ag_vocab_spm_desc d = ag_vocab_spm_default_desc(N);
    d.texts = texts;
    d.scores = sc;
    d.types = types;
    d.add_eos = true;
    d.name = "phi3-fuzz";
    ag_error err = {0};
    ag_vocab *v = ag_vocab_new_spm(&d, &err);
    if (!v) {
        fprintf(stderr, "fuzz_tokenizer: built-in vocabulary: %s\n", err.msg);
        abort();
    }
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    g_vocabs.stories = load_stories();
    g_vocabs.builtin = builtin_vocab();
    return 0;
}

static void fail(const char *what) {
    fprintf(stderr, "fuzz_tokenizer: %s\n", what);
    abort();
}

/* Each id in range, its piece fetchable; returns the decoded text length (or SIZE_MAX when the
 * ids are not all normal/byte tokens, so that no round trip is expected). */
static size_t check_pieces(const ag_vocab *v, const ag_token *ids, int n, char *text, size_t cap) {
    size_t o = 0;
    bool plain = true;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= ag_vocab_n_tokens(v)) fail("id out of range");
        ag_token_type t = ag_vocab_token_type(v, ids[i]);
        plain = plain && (t == AG_TOKEN_TYPE_NORMAL || t == AG_TOKEN_TYPE_BYTE);
        char small[2];
        int need = ag_vocab_token_to_piece(v, ids[i], small, 0, true);
        if (need > 0) fail("piece written into a zero-size buffer");
        int k = ag_vocab_token_to_piece(v, ids[i], text ? text + o : NULL, text ? (int)(cap - o) : 0, false);
        if (k < 0) fail("piece does not fit the room it asked for");
        o += (size_t)k;
    }
    return plain ? o : SIZE_MAX;
}

/* True when every multi-byte lead byte (by the tokenizer's rule: high nibble C/D 2 bytes, E 3,
 * F 4) is followed by that many continuation bytes. Otherwise a truncated character can swallow
 * the first byte of an escaped space (U+2581) and the text does not come back: the reference
 * behaves the same. */
static bool splits_cleanly(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t len = s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC0 ? 2 : 1;
        if (len > n - i) return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

static void run(const ag_vocab *v, const uint8_t *data, size_t size, bool parse_special) {
    const char *text = (const char *)data;
    int n = ag_vocab_tokenize(v, text, size, NULL, 0, true, parse_special);
    if (n == INT32_MIN) fail("tokenize failed");
    int count = n < 0 ? -n : n;
    ag_token *ids = malloc((size_t)(count ? count : 1) * sizeof *ids);
    if (ag_vocab_tokenize(v, text, size, ids, count, true, parse_special) != count) fail("count changed");
    if (count > 1 && ag_vocab_tokenize(v, text, size, ids, count - 1, true, parse_special) != -count)
        fail("cap too small did not give -(needed)");
    /* the ids without BOS/EOS, for the round trip */
    int m = ag_vocab_tokenize(v, text, size, ids, count, false, parse_special);
    if (m < 0) fail("fewer tokens with add_special");
    size_t cap = 4 * size + 16;
    char *out = malloc(cap);
    size_t got = check_pieces(v, ids, m, out, cap);
    bool has_sp = size >= 3 && memmem(data, size, SP, 3) != NULL;
    if (got != SIZE_MAX && !has_sp && splits_cleanly(data, size)) {
        const char *g = out;
        if (ag_vocab_adds_space_prefix(v) && size > 0 && got > 0 && g[0] == ' ') g++, got--;
        if (got != size || memcmp(g, data, size) != 0) fail("decode(encode(x)) != x");
    }
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const ag_vocab *vocabs[] = {g_vocabs.stories, g_vocabs.builtin};
    for (int i = 0; i < 2; i++) {
        if (!vocabs[i]) continue;
        run(vocabs[i], data, size, false);
        run(vocabs[i], data, size, true);
    }
    return 0;
}
