/*
 * fts_text.c - CJK bigrams for the FTS5 index and the MATCH expression of a question
 * (see fts_text.h).
 */
#include "kb/fts_text.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kb/textbuf.h"

bool kb_is_cjk(unsigned cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x20000 && cp <= 0x2FFFF);
}

int kb_utf8_next(const char *s, size_t n, unsigned *cp) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned c = u[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > n) return *cp = 0xFFFD, 1;
    if (len == 1) return *cp = c, 1;
    unsigned v = c & (0x7Fu >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return *cp = 0xFFFD, 1;
        v = v << 6 | (u[i] & 63);
    }
    *cp = v;
    return len;
}

/* Calls emit(ctx, term, len, is_cjk_single) for each term of the text: ASCII/Latin words as
 * they are, CJK runs as bigrams (a run of one character as itself). */
typedef void (*term_fn)(void *ctx, const char *t, size_t n, bool cjk, bool single);

static void terms(const char *s, size_t n, term_fn emit, void *ctx) {
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        int l = kb_utf8_next(s + i, n - i, &cp);
        if (kb_is_cjk(cp)) {
            int count; /* characters of the run */
            size_t prev = i;
            size_t j = i + (size_t)l;
            count = 1;
            while (j < n) {
                unsigned c2;
                int l2 = kb_utf8_next(s + j, n - j, &c2);
                if (!kb_is_cjk(c2)) break;
                emit(ctx, s + prev, j + (size_t)l2 - prev, true, false);
                prev = j;
                j += (size_t)l2;
                count++;
            }
            if (count == 1) emit(ctx, s + i, (size_t)l, true, true);
            i = j;
        } else if (cp >= 0x80 ? cp != 0xFFFD && !(cp >= 0x2000 && cp <= 0x206F) && !(cp >= 0x3000 && cp <= 0x303F) &&
                                    !(cp >= 0xFF00 && cp <= 0xFF65)
                              : isalnum((int)cp)) {
            size_t j = i;
            while (j < n) { /* a word: letters/digits (and non-CJK letters beyond ASCII) */
                unsigned c2;
                int l2 = kb_utf8_next(s + j, n - j, &c2);
                bool word = c2 < 0x80 ? isalnum((int)c2) != 0
                                      : !kb_is_cjk(c2) && c2 != 0xFFFD && !(c2 >= 0x2000 && c2 <= 0x206F) &&
                                            !(c2 >= 0x3000 && c2 <= 0x303F) && !(c2 >= 0xFF00 && c2 <= 0xFF65);
                if (!word) break;
                j += (size_t)l2;
            }
            emit(ctx, s + i, j - i, false, false);
            i = j;
        } else i += (size_t)l;
    }
}

static void doc_term(void *ctx, const char *t, size_t n, bool cjk, bool single) {
    (void)cjk, (void)single;
    kb_buf *b = ctx;
    if (b->len) kb_buf_putc(b, ' ');
    kb_buf_append(b, t, n);
}

char *kb_fts_document(const char *text, size_t len) {
    kb_buf b = {0};
    kb_buf_puts(&b, "");
    terms(text, len, doc_term, &b);
    return kb_buf_take(&b, NULL);
}

bool kb_is_stop_word(const char *t, size_t n) {
    static const char *const STOP[] = {
        "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "by", "with", "from", "is", "are", "was",
        "were", "be", "been", "do", "does", "did", "what", "which", "who", "whom", "how", "why", "when", "where",
        "that", "this", "these", "those", "it", "its", "as", "can", "could", "should", "would", "will", "i", "you",
        "we", "they", "he", "she", "me", "my", "our", "your", "their", "about", "there", "has", "have", "had", "if",
        "into", "than", "then", "so", "not", "no", "any", "some", "much", "many", "tell", "per", "s", NULL};
    for (const char *const *w = STOP; *w; w++)
        if (strlen(*w) == n && strncasecmp(*w, t, n) == 0) return true;
    return false;
}

typedef struct {
    kb_buf b;
    int n_terms;
    bool keep_stop;
} query_ctx;

static void query_term(void *ctx, const char *t, size_t n, bool cjk, bool single) {
    query_ctx *q = ctx;
    if (!cjk && !q->keep_stop && kb_is_stop_word(t, n)) return;
    if (q->n_terms) kb_buf_puts(&q->b, " OR ");
    kb_buf_putc(&q->b, '"');
    kb_buf_append(&q->b, t, n); /* terms hold no '"' (only letters, digits, CJK) */
    kb_buf_putc(&q->b, '"');
    if (single) kb_buf_putc(&q->b, '*'); /* one CJK character: the bigrams that start with it */
    q->n_terms++;
}

char *kb_fts_query(const char *question) {
    query_ctx q = {0};
    terms(question, strlen(question), query_term, &q);
    if (q.n_terms == 0) { /* only stop words: search them after all */
        kb_buf_free(&q.b);
        q = (query_ctx){.keep_stop = true};
        terms(question, strlen(question), query_term, &q);
    }
    if (q.n_terms == 0) {
        kb_buf_free(&q.b);
        return NULL;
    }
    return kb_buf_take(&q.b, NULL);
}
