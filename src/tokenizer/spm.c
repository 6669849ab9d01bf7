/*
 * spm.c - the SentencePiece-style tokenizer ("llama" vocabularies).
 *
 * Matches the GGUF reference implementation (llama.cpp's llm_tokenizer_spm and the SPM branch of
 * llama_tokenize_impl) id for id:
 *   1. The text is split at special tokens (partition.c, called by tokenize.c). BOS comes first
 *      when add_special and the vocabulary adds BOS (tokenize.c).
 *   2. Each text fragment gets a leading ' ' when add_space_prefix is set and it is the first
 *      thing of the output or follows a special token (BOS included); then every ' ' becomes
 *      U+2581 ("\xE2\x96\x81").
 *   3. The fragment is cut into UTF-8 characters by the lead byte alone (0xC0.. 2 bytes,
 *      0xE0.. 3, 0xF0.. 4, everything else 1; cut short at the end), kept in a linked list.
 *   4. Every adjacent pair whose concatenation is a piece of the vocabulary is a candidate; the
 *      candidate with the highest score merges first (equal scores: leftmost first), and the
 *      merged symbol forms new candidates with its neighbours. A priority queue keeps this
 *      O(n log n); a candidate whose symbols changed since it was queued is skipped.
 *      When no piece of the vocabulary holds a U+2581 after its leading run of them (true of
 *      SentencePiece vocabularies, checked once in vocab.c), no piece spans the boundary before a
 *      U+2581 symbol that follows another symbol: the pair across it is never a candidate, and the
 *      merges on either side do not affect each other. The symbols are then merged word by word,
 *      each word with its own small queue, in the same order relative to each other as in one
 *      queue, so the result is the same and the queue stays in cache (5x faster on 1 MB of text).
 *   5. Each final symbol becomes its piece's id, or else one byte token ("<0xXX>") per byte.
 *      (The reference would first re-split such a symbol along the merges that built it; that
 *      path cannot occur: a merge only ever produces a piece of the vocabulary, and a symbol
 *      that never merged is a single character, which no merge of two characters can equal.
 *      So unknown symbols are always single characters and go straight to bytes.)
 *   6. EOS last when add_special and the vocabulary adds EOS (tokenize.c).
 *
 * Memory: one scratch area per call (escaped text, symbols, queue), reused for every fragment.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenize_impl.h"

/* ---------------------------------------------------------------- scratch */

typedef struct {
    uint32_t off; /* text: scratch.text[off .. off+len); len 0 once merged into its left */
    uint32_t len;
    int32_t prev; /* -1: none */
    int32_t next;
} spm_symbol;

typedef struct {
    float score;
    int32_t left; /* symbol indices */
    int32_t right;
    uint32_t size; /* bytes of the pair when queued: stale if the symbols changed since */
} spm_bigram;

typedef struct {
    char *text; /* the escaped fragment */
    size_t text_cap;
    spm_symbol *syms;
    size_t syms_cap;
    spm_bigram *heap;
    size_t heap_n;
    size_t heap_cap;
} spm_scratch;

static bool reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q) return false;
    *p = q;
    *cap = cap2;
    return true;
}

static void scratch_free(spm_scratch *s) {
    free(s->text);
    free(s->syms);
    free(s->heap);
}

/* ---------------------------------------------------------------- priority queue */

/* a comes out before b: higher score, then smaller left index */
static bool bigram_before(const spm_bigram *a, const spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static bool heap_push(spm_scratch *s, spm_bigram b) {
    if (!reserve((void **)&s->heap, &s->heap_cap, s->heap_n + 1, sizeof *s->heap)) return false;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&b, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = b;
    return true;
}

static spm_bigram heap_pop(spm_scratch *s) {
    spm_bigram top = s->heap[0];
    spm_bigram last = s->heap[--s->heap_n];
    size_t n = s->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!bigram_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0) s->heap[i] = last;
    return top;
}

/* ---------------------------------------------------------------- the merge loop */

/* The reference's rule, by the high nibble only (so C0/C1 and F5..FF also start sequences and
 * continuation bytes stand alone); deliberately not base/utf8.h's strict ag_utf8_seq_len. */
static size_t utf8_char_len(uint8_t lead) {
    static const uint8_t len_by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len_by_high_nibble[lead >> 4];
}

/* Queues the pair (left, right) when its concatenation is a piece. */
static bool try_add_bigram(const ag_vocab *v, spm_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const spm_symbol *l = &s->syms[left], *r = &s->syms[right];
    uint32_t size = l->len + r->len;
    if (size > v->max_piece_len) return true;
    ag_token id = ag_piece_map_get(&v->map, s->text + l->off, size);
    if (id < 0) return true;
    return heap_push(s, (spm_bigram){.score = v->tokens[id].score, .left = left, .right = right, .size = size});
}

/* Cuts s->text[0..n) into characters; returns the number of symbols. */
static int32_t split_chars(spm_scratch *s, size_t n) {
    int32_t count = 0;
    for (size_t off = 0; off < n; count++) {
        size_t len = utf8_char_len((uint8_t)s->text[off]);
        if (len > n - off) len = n - off;
        s->syms[count] = (spm_symbol){.off = (uint32_t)off, .len = (uint32_t)len, .prev = count - 1,
                                      .next = off + len == n ? -1 : count + 1};
        off += len;
    }
    return count;
}

/* Merges the symbols [first, end) (linked to their neighbours outside; no pair across the range's
 * ends may be a piece). */
static bool merge_range(const ag_vocab *v, spm_scratch *s, int32_t first, int32_t end) {
    s->heap_n = 0;
    for (int32_t i = first + 1; i < end; i++)
        if (!try_add_bigram(v, s, i - 1, i)) return false;
    while (s->heap_n > 0) {
        spm_bigram b = heap_pop(s);
        spm_symbol *l = &s->syms[b.left], *r = &s->syms[b.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != b.size) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s->syms[r->next].prev = b.left;
        if (!try_add_bigram(v, s, l->prev, b.left) || !try_add_bigram(v, s, b.left, l->next)) return false;
    }
    return true;
}

static bool is_space_symbol(const spm_scratch *s, int32_t i) {
    return s->syms[i].len == 3 && memcmp(s->text + s->syms[i].off, "\xE2\x96\x81", 3) == 0;
}

/* All symbols at once, or word by word where the vocabulary allows it (see the top of the file):
 * a word ends before each U+2581 symbol that follows a symbol other than U+2581. */
static bool merge_all(const ag_vocab *v, spm_scratch *s, int32_t n_syms) {
    if (!v->spm_words_split) return merge_range(v, s, 0, n_syms);
    int32_t start = 0;
    for (int32_t i = 1; i < n_syms; i++) {
        if (!is_space_symbol(s, i) || is_space_symbol(s, i - 1)) continue;
        if (!merge_range(v, s, start, i)) return false;
        start = i;
    }
    return merge_range(v, s, start, n_syms);
}

static void emit_symbols(const ag_vocab *v, const spm_scratch *s, ag_tok_sink *out) {
    for (int32_t i = 0; i != -1; i = s->syms[i].next) {
        const spm_symbol *sym = &s->syms[i];
        ag_token id = ag_piece_map_get(&v->map, s->text + sym->off, sym->len);
        if (id >= 0) {
            ag_tok_sink_push(out, id);
            continue;
        }
        for (uint32_t k = 0; k < sym->len; k++) {
            ag_token b = v->byte_token[(uint8_t)s->text[sym->off + k]];
            if (b >= 0) ag_tok_sink_push(out, b);
        }
    }
}

/* ---------------------------------------------------------------- one text fragment */

/* The fragment with ' ' -> U+2581 and the optional prefix, into s->text; returns its length. */
static bool escape_fragment(spm_scratch *s, const char *text, size_t len, bool prefix, size_t *n_out) {
    size_t spaces = prefix;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t n = len - (spaces - prefix) + 3 * spaces;
    if (n > (size_t)INT32_MAX) return false;
    if (!reserve((void **)&s->text, &s->text_cap, n, 1)) return false;
    size_t o = 0;
    if (prefix) {
        memcpy(s->text, "\xE2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s->text + o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            s->text[o++] = text[i];
        }
    }
    *n_out = o;
    return true;
}

static bool spm_fragment(const ag_vocab *v, spm_scratch *s, const char *text, size_t len, bool prefix,
                         ag_tok_sink *out) {
    size_t n;
    if (!escape_fragment(s, text, len, prefix, &n)) return false;
    if (n == 0) return true;
    if (!reserve((void **)&s->syms, &s->syms_cap, n, sizeof *s->syms)) return false;
    int32_t n_syms = split_chars(s, n);
    if (!merge_all(v, s, n_syms)) return false;
    emit_symbols(v, s, out);
    return true;
}

/* ---------------------------------------------------------------- the fragments */

bool ag_spm_tokenize_fragments(const ag_vocab *v, const char *text, const ag_fragment_list *frags,
                               bool prev_special, ag_tok_sink *out) {
    spm_scratch s = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < frags->n; i++) {
        const ag_fragment *f = &frags->items[i];
        if (f->token >= 0) {
            ag_tok_sink_push(out, f->token);
            prev_special = true;
            continue;
        }
        ok = spm_fragment(v, &s, text + f->off, f->len, v->add_space_prefix && prev_special, out);
        prev_special = false;
    }
    scratch_free(&s);
    return ok;
}
