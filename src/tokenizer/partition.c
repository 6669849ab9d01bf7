/*
 * partition.c - special-token splitting (see partition.h for the rules).
 *
 * Cost: one scan of the text finds which special tokens occur at all (bucketed by their first two
 * bytes, vocab_impl.h), then only those run the reference's one-pass-per-token split with memmem.
 * The work is linear in the text for a fixed vocabulary: at most (special tokens that occur) x
 * (text length), and plain text with no special tokens costs one scan.
 */
#include "tokenizer/partition.h"

#include <stdlib.h>
#include <string.h>

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool matchable(const ag_vocab *v, ag_token t, bool parse_special) {
    return parse_special || v->tokens[t].type == AG_TOKEN_TYPE_USER_DEFINED;
}

static bool list_push(ag_fragment_list *l, ag_token token, size_t off, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        ag_fragment *items = realloc(l->items, cap * sizeof *items);
        if (!items) return false;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = (ag_fragment){.token = token, .off = off, .len = len};
    return true;
}

void ag_fragment_list_free(ag_fragment_list *l) {
    free(l->items);
    *l = (ag_fragment_list){0};
}

/* present[j] = 1 when special token j (index into v->special) occurs somewhere in the text and
 * may be matched. NULL when out of memory. */
static uint8_t *find_present(const ag_vocab *v, const char *text, size_t len, bool parse_special, bool *any) {
    uint8_t *present = calloc((size_t)v->n_special, 1);
    if (!present) return NULL;
    *any = false;
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < len; i++) {
        for (uint32_t k = v->bucket1[s[i]]; k < v->bucket1[s[i] + 1]; k++) {
            int32_t j = v->bucket1_items[k];
            if (matchable(v, v->special[j], parse_special)) {
                present[j] = 1;
                *any = true;
            }
        }
        if (i + 1 == len) break;
        unsigned key = (unsigned)s[i] << 8 | s[i + 1];
        for (uint32_t k = v->bucket2[key]; k < v->bucket2[key + 1]; k++) {
            int32_t j = v->bucket2_items[k];
            const ag_vocab_token *t = &v->tokens[v->special[j]];
            if (present[j] || t->len > len - i || !matchable(v, v->special[j], parse_special)) continue;
            if (memcmp(text + i, v->blob + t->off, t->len) == 0) {
                present[j] = 1;
                *any = true;
            }
        }
    }
    return present;
}

/* Splits the text fragment f at every occurrence of special token t, appending to out. */
static bool split_fragment(const ag_vocab *v, const char *text, ag_fragment f, ag_token t, ag_fragment_list *out) {
    const ag_vocab_token *tk = &v->tokens[t];
    const char *piece = v->blob + tk->off;
    size_t base = f.off, blen = f.len;
    for (;;) {
        const char *m = blen >= tk->len ? memmem(text + base, blen, piece, tk->len) : NULL;
        if (!m) return blen == 0 || list_push(out, -1, base, blen);
        size_t pos = (size_t)(m - text);
        size_t left_len = pos - base;
        if (tk->flags & AG_TOKF_LSTRIP)
            while (left_len > 0 && is_ws(text[base + left_len - 1])) left_len--;
        if (left_len > 0 && !list_push(out, -1, base, left_len)) return false;
        if (!list_push(out, t, pos, tk->len)) return false;
        size_t end = base + blen;
        base = pos + tk->len;
        if (tk->flags & AG_TOKF_RSTRIP)
            while (base < end && is_ws(text[base])) base++;
        blen = end - base;
    }
}

/* One pass of the reference: special token t splits every text fragment of *list. */
static bool split_all(const ag_vocab *v, const char *text, ag_token t, ag_fragment_list *list, ag_fragment_list *tmp) {
    tmp->n = 0;
    for (size_t i = 0; i < list->n; i++) {
        ag_fragment f = list->items[i];
        bool ok = f.token >= 0 ? list_push(tmp, f.token, f.off, f.len) : split_fragment(v, text, f, t, tmp);
        if (!ok) return false;
    }
    ag_fragment_list swap = *list;
    *list = *tmp;
    *tmp = swap;
    return true;
}

ag_status ag_partition_special(const ag_vocab *v, const char *text, size_t len, bool parse_special,
                               ag_fragment_list *out) {
    out->n = 0;
    if (len == 0) return AG_OK;
    if (!list_push(out, -1, 0, len)) return AG_ERR_NOMEM;
    if (v->n_special == 0) return AG_OK;
    bool any = false;
    uint8_t *present = find_present(v, text, len, parse_special, &any);
    if (!present) return AG_ERR_NOMEM;
    ag_fragment_list tmp = {0};
    ag_status st = AG_OK;
    for (int32_t j = 0; any && j < v->n_special; j++) {
        if (!present[j]) continue;
        if (!split_all(v, text, v->special[j], out, &tmp)) {
            st = AG_ERR_NOMEM;
            break;
        }
    }
    ag_fragment_list_free(&tmp);
    free(present);
    return st;
}
