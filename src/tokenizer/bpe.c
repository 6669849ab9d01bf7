/*
 * bpe.c - the byte-level BPE tokenizer ("gpt2" vocabularies).
 *
 * Matches the GGUF reference implementation (llama.cpp's llm_tokenizer_bpe_session) id for id:
 *   1. Each text fragment (special tokens were split off by partition.c) is cut into words by the
 *      vocabulary's pre-tokenizer (pretok.c).
 *   2. With ignore_merges (Llama 3 and a few others), a word whose byte-character spelling is a
 *      piece of the vocabulary becomes that token directly.
 *   3. Otherwise every byte of the word starts as one symbol (its character, byte_unicode.h).
 *      The adjacent pair with the lowest merge rank is merged (equal ranks: leftmost first), and
 *      the new symbol forms pairs with its neighbours. A priority queue keeps this O(n log n) per
 *      word, so long words without spaces cost no more than many short ones; a queued pair whose
 *      symbols have changed since is skipped.
 *   4. Each final symbol that is a piece becomes its token. One that is not (possible only when
 *      the merges pass through strings the vocabulary lacks, or a byte's character is missing)
 *      falls back, byte by byte of its spelling, to the tokens of those single bytes, where they
 *      exist, as the reference does.
 * Symbols are ids (bpe_merges.h), so the loop compares integers, never strings.
 *
 * Differences from the reference, on invalid UTF-8 only: it turns each invalid byte into U+FFFD
 * before tokenizing (so its ids spell EF BF BD), we keep the byte itself; both split the text the
 * same way (pretok.h). Our result therefore always decodes back to the input.
 *
 * Memory: one scratch area per call (pieces, symbols, queue, spelling), reused for every word.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/bpe_merges.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenize_impl.h"

typedef struct {
    int32_t id;   /* symbol id (token id when < n_tokens) */
    uint32_t off; /* bytes of the word [off, off+len); len 0 once merged into its left */
    uint32_t len;
    int32_t prev; /* -1: none */
    int32_t next;
} bpe_symbol;

typedef struct {
    int32_t rank;
    int32_t left; /* symbol indices */
    int32_t right;
    int32_t left_id; /* the ids when queued: the pair is stale when they changed */
    int32_t right_id;
    int32_t result;
} bpe_pair;

typedef struct {
    ag_pretok_scratch split;
    bpe_symbol *syms;
    size_t syms_cap;
    bpe_pair *heap;
    size_t heap_n, heap_cap;
    char *spelled; /* a word in byte characters, for ignore_merges */
    size_t spelled_cap;
} bpe_scratch;

static bool reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static void scratch_free(bpe_scratch *s) {
    ag_pretok_scratch_free(&s->split);
    free(s->syms);
    free(s->heap);
    free(s->spelled);
}

/* ---------------------------------------------------------------- priority queue */

/* a comes out before b: lower rank, then smaller left index */
static bool pair_before(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static bool heap_push(bpe_scratch *s, bpe_pair p) {
    if (!reserve((void **)&s->heap, &s->heap_cap, s->heap_n + 1, sizeof *s->heap)) return false;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = p;
    return true;
}

static bpe_pair heap_pop(bpe_scratch *s) {
    bpe_pair top = s->heap[0];
    bpe_pair last = s->heap[--s->heap_n];
    size_t n = s->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!pair_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0) s->heap[i] = last;
    return top;
}

/* ---------------------------------------------------------------- one word */

/* Queues (left, right) when their symbols merge. */
static bool try_pair(const ag_bpe_merges *m, bpe_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    int32_t a = s->syms[left].id, b = s->syms[right].id;
    const ag_bpe_pair_slot *slot = ag_bpe_merge_find(m, a, b);
    if (slot->rank < 0) return true;
    return heap_push(s, (bpe_pair){.rank = slot->rank, .left = left, .right = right, .left_id = a, .right_id = b,
                                   .result = slot->result});
}

static bool merge_all(const ag_bpe_merges *m, bpe_scratch *s, int32_t n) {
    s->heap_n = 0;
    for (int32_t i = 1; i < n; i++)
        if (!try_pair(m, s, i - 1, i)) return false;
    while (s->heap_n > 0) {
        bpe_pair p = heap_pop(s);
        bpe_symbol *l = &s->syms[p.left], *r = &s->syms[p.right];
        if (l->len == 0 || r->len == 0 || l->id != p.left_id || r->id != p.right_id) continue; /* stale */
        l->id = p.result;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s->syms[r->next].prev = p.left;
        if (!try_pair(m, s, l->prev, p.left) || !try_pair(m, s, p.left, l->next)) return false;
    }
    return true;
}

static void emit_symbols(const ag_vocab *v, const bpe_scratch *s, const uint8_t *word, ag_tok_sink *out) {
    const ag_bpe_merges *m = v->merges;
    for (int32_t i = 0; i != -1; i = s->syms[i].next) {
        const bpe_symbol *sym = &s->syms[i];
        if (sym->id < v->n_tokens) {
            ag_tok_sink_push(out, sym->id);
            continue;
        }
        for (uint32_t k = 0; k < sym->len; k++) {
            const ag_token *fb = m->byte_fallback[word[sym->off + k]];
            if (fb[0] >= 0) ag_tok_sink_push(out, fb[0]);
            if (fb[1] >= 0) ag_tok_sink_push(out, fb[1]);
        }
    }
}

/* ignore_merges: the token whose piece is the whole word's spelling, or -1. */
static bool whole_word(const ag_vocab *v, bpe_scratch *s, const uint8_t *word, size_t n, ag_token *id) {
    *id = -1;
    if (n > v->max_piece_len) return true; /* each byte is spelled with at least one byte */
    if (!reserve((void **)&s->spelled, &s->spelled_cap, 2 * n, 1)) return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += ag_bpe_byte_utf8(word[i], s->spelled + o);
    if (o <= v->max_piece_len) *id = ag_piece_map_get(&v->map, s->spelled, o);
    return true;
}

static bool bpe_word(const ag_vocab *v, bpe_scratch *s, const uint8_t *word, size_t n, ag_tok_sink *out) {
    if (n == 0) return true;
    if (v->ignore_merges) {
        ag_token id;
        if (!whole_word(v, s, word, n, &id)) return false;
        if (id >= 0) {
            ag_tok_sink_push(out, id);
            return true;
        }
    }
    if (n > INT32_MAX || !reserve((void **)&s->syms, &s->syms_cap, n, sizeof *s->syms)) return false;
    for (size_t i = 0; i < n; i++)
        s->syms[i] = (bpe_symbol){.id = v->merges->byte_symbol[word[i]], .off = (uint32_t)i, .len = 1,
                                  .prev = (int32_t)i - 1, .next = i + 1 == n ? -1 : (int32_t)i + 1};
    if (!merge_all(v->merges, s, (int32_t)n)) return false;
    emit_symbols(v, s, word, out);
    return true;
}

/* ---------------------------------------------------------------- fragments */

static bool bpe_fragment(const ag_vocab *v, bpe_scratch *s, const char *text, size_t len, ag_tok_sink *out) {
    if (!ag_pretok_split(v->pretok, &s->split, text, len)) return false;
    size_t start = 0;
    for (size_t i = 0; i < s->split.n; i++) {
        size_t end = s->split.ends[i];
        if (end - start > UINT32_MAX || !bpe_word(v, s, (const uint8_t *)text + start, end - start, out))
            return false;
        start = end;
    }
    return true;
}

bool ag_bpe_tokenize_fragments(const ag_vocab *v, const char *text, const ag_fragment_list *frags,
                               ag_tok_sink *out) {
    bpe_scratch s = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < frags->n; i++) {
        const ag_fragment *f = &frags->items[i];
        if (f->token >= 0) ag_tok_sink_push(out, f->token);
        else ok = bpe_fragment(v, &s, text + f->off, f->len, out);
    }
    scratch_free(&s);
    return ok;
}
