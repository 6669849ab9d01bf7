/*
 * wpm.c - the WordPiece tokenizer ("bert" vocabularies).
 *
 * Matches the GGUF reference implementation (llama.cpp's llm_tokenizer_wpm_session):
 *   1. Each text fragment (special tokens were split off by partition.c) is read one code point
 *      at a time (an invalid byte reads as U+FFFD) and cut into words by the rules of wpm_norm.h.
 *   2. Each word is prefixed with U+2581 (the GGUF spelling of a word-initial piece; continuation
 *      pieces, "##x" in the original vocabulary, are stored as plain "x") and matched greedily
 *      from the left: at each position the longest piece that matches is taken.
 *   3. When some position matches no piece, the whole word becomes the unknown token ([UNK]).
 * The result is not a lossless encoding (case, accents and spacing are gone), so no round trip.
 *
 * Cost: per position at most max_piece_len lookups of at most that many bytes: linear in the
 * text for a fixed vocabulary, even for a 1 MB word.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenize_impl.h"
#include "tokenizer/utf8_scan.h"
#include "tokenizer/wpm_norm.h"

#define PREFIX_LEN 3

typedef struct {
    char *word; /* WORD_PREFIX + the word being collected */
    size_t len; /* bytes, prefix included */
    size_t cap;
} wpm_scratch;

static bool word_append(wpm_scratch *s, uint32_t cp) {
    if (s->len + 4 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        while (cap < s->len + 4) cap *= 2;
        char *w = realloc(s->word, cap);
        if (!w) return false;
        s->word = w;
        s->cap = cap;
    }
    s->len += ag_utf8_encode(cp, s->word + s->len);
    return true;
}

/* Longest-match-first over the collected word; [UNK] when it cannot be covered. */
static void flush_word(const ag_vocab *v, wpm_scratch *s, ag_tok_sink *out) {
    size_t n = s->len;
    if (n <= PREFIX_LEN) return;
    const int64_t start_n = out->n;
    const char *w = s->word;
    for (size_t i = 0; i < n;) {
        size_t jmax = n - i > v->max_piece_len ? i + v->max_piece_len : n;
        ag_token id = -1;
        size_t j = jmax;
        for (; j > i; j--)
            if ((id = ag_piece_map_get(&v->map, w + i, j - i)) >= 0) break;
        if (id < 0) {
            out->n = start_n; /* drop what this word produced */
            break;
        }
        ag_tok_sink_push(out, id);
        i = j;
    }
    if (out->n == start_n && v->unk >= 0) ag_tok_sink_push(out, v->unk);
    s->len = PREFIX_LEN;
}

static bool wpm_fragment(const ag_vocab *v, wpm_scratch *s, const char *text, size_t len, ag_tok_sink *out) {
    const uint8_t *t = (const uint8_t *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp, w;
        size_t n = ag_utf8_decode(t + i, len - i, &cp);
        i += n ? n : 1;
        switch (ag_wpm_classify(cp, v->lowercase, v->strip_accents, &w)) {
        case AG_WPM_SKIP: break;
        case AG_WPM_SPACE: flush_word(v, s, out); break;
        case AG_WPM_ALONE:
            flush_word(v, s, out);
            if (!word_append(s, w)) return false;
            flush_word(v, s, out);
            break;
        case AG_WPM_JOIN:
            if (!word_append(s, w)) return false;
            break;
        }
    }
    flush_word(v, s, out);
    return true;
}

bool ag_wpm_tokenize_fragments(const ag_vocab *v, const char *text, const ag_fragment_list *frags,
                               ag_tok_sink *out) {
    wpm_scratch s = {0};
    bool ok = word_append(&s, 0x2581); /* the prefix, kept in front of every word */
    for (size_t i = 0; ok && i < frags->n; i++) {
        const ag_fragment *f = &frags->items[i];
        if (f->token >= 0) ag_tok_sink_push(out, f->token);
        else ok = wpm_fragment(v, &s, text + f->off, f->len, out);
    }
    free(s.word);
    return ok;
}
