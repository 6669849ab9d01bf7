/*
 * summarize.c - ag_summarize_extractive and the sentence de-duplication both summarizers use.
 *
 * Terms of a sentence: English words (lower-cased, stop words out) and CJK bigrams - the same
 * terms the BM25 index sees (fts_text.c). A term weighs (1 + ln tf_doc) * ln(1 + N / df) over
 * the N sentences; a sentence scores the sum of its distinct terms' weights over sqrt(their
 * count), times a position factor (first sentence of the text 1.5, first of a paragraph 1.2,
 * the first tenth of the text 1.1) and 0.5 when it has fewer than 4 terms. The best sentences
 * are taken while the summary stays within max_length units (words; CJK characters) - until
 * min_length is reached in any case - skipping one whose terms overlap an earlier pick by
 * Jaccard >= 0.6; the picks are printed in document order.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kb/fts_text.h"
#include "kb/summary_impl.h"
#include "kb/textbuf.h"

typedef struct {
    size_t start, end;
    int *terms; /* distinct term ids, sorted */
    int n_terms;
    int units;
    double score;
    bool para_start;
} sentence;

/* ---- term dictionary: ids in order of first appearance, an open-addressing table of ids */
typedef struct {
    char **key;    /* (n) by id */
    int *df, *tf;  /* (n) by id */
    int *slot;     /* (cap) id or -1 */
    int cap, n, cap_ids;
} dict;

static uint64_t hash_str(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool dict_grow(dict *d) {
    int cap = d->cap ? d->cap * 2 : 256;
    int *slot = malloc((size_t)cap * sizeof *slot);
    if (!slot) return false;
    for (int i = 0; i < cap; i++) slot[i] = -1;
    for (int id = 0; id < d->n; id++) {
        int j = (int)(hash_str(d->key[id], strlen(d->key[id])) & (uint64_t)(cap - 1));
        while (slot[j] >= 0) j = (j + 1) & (cap - 1);
        slot[j] = id;
    }
    free(d->slot);
    d->slot = slot;
    d->cap = cap;
    return true;
}

static int dict_id(dict *d, const char *s, size_t n) {
    if (d->n * 2 >= d->cap && !dict_grow(d)) return -1;
    int j = (int)(hash_str(s, n) & (uint64_t)(d->cap - 1));
    for (; d->slot[j] >= 0; j = (j + 1) & (d->cap - 1)) {
        const char *k = d->key[d->slot[j]];
        if (strlen(k) == n && memcmp(k, s, n) == 0) return d->slot[j];
    }
    if (d->n == d->cap_ids) {
        int c = d->cap_ids ? 2 * d->cap_ids : 256;
        char **k = realloc(d->key, (size_t)c * sizeof *k);
        if (k) d->key = k;
        int *df = realloc(d->df, (size_t)c * sizeof *df);
        if (df) d->df = df;
        int *tf = realloc(d->tf, (size_t)c * sizeof *tf);
        if (tf) d->tf = tf;
        if (!k || !df || !tf) return -1;
        d->cap_ids = c;
    }
    char *key = malloc(n + 1);
    if (!key) return -1;
    memcpy(key, s, n);
    key[n] = '\0';
    int id = d->n++;
    d->key[id] = key, d->df[id] = 0, d->tf[id] = 0;
    d->slot[j] = id;
    return id;
}

static void dict_free(dict *d) {
    for (int i = 0; i < d->n; i++) free(d->key[i]);
    free(d->key), free(d->df), free(d->tf), free(d->slot);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* The sentence's terms, as strings in a malloc'd space-separated list (lower-cased, stop words out). */
static char *sentence_terms(const char *s, size_t n) {
    char *t = kb_fts_document(s, n);
    if (!t) return NULL;
    for (char *p = t; *p; p++) *p = (char)tolower((unsigned char)*p);
    return t;
}

int kb_text_units(const char *s, size_t n) {
    int units = 0;
    bool in_word = false;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        int l = kb_utf8_next(s + i, n - i, &cp);
        if (kb_is_cjk(cp)) units++, in_word = false;
        else if (cp < 0x80 ? isalnum((int)cp) != 0 : cp != 0xFFFD && !(cp >= 0x2000 && cp <= 0x206F) && !(cp >= 0x3000 && cp <= 0x303F) && !(cp >= 0xFF00 && cp <= 0xFF65)) {
            if (!in_word) units++;
            in_word = true;
        } else in_word = false;
        i += (size_t)l;
    }
    return units;
}

/* Distinct sorted term ids of each sentence; fills df and tf. */
static bool index_sentences(const char *text, sentence *ss, int n, dict *d, bool count) {
    int *buf = NULL;
    int cap = 0;
    for (int i = 0; i < n; i++) {
        char *t = sentence_terms(text + ss[i].start, ss[i].end - ss[i].start);
        if (!t) return free(buf), false;
        int m = 0;
        for (char *p = t; *p;) {
            while (*p == ' ') p++;
            char *q = p;
            while (*q && *q != ' ') q++;
            size_t l = (size_t)(q - p);
            bool ascii = l && (unsigned char)*p < 0x80;
            if (l && !(ascii && (l < 2 || kb_is_stop_word(p, l)))) {
                int id = dict_id(d, p, l);
                if (id < 0) return free(t), free(buf), false;
                if (m == cap) {
                    cap = cap ? 2 * cap : 64;
                    int *nb = realloc(buf, (size_t)cap * sizeof *nb);
                    if (!nb) return free(t), free(buf), false;
                    buf = nb;
                }
                buf[m++] = id;
                if (count) d->tf[id]++;
            }
            p = q;
        }
        free(t);
        qsort(buf, (size_t)m, sizeof *buf, cmp_int);
        int u = 0;
        for (int k = 0; k < m; k++)
            if (k == 0 || buf[k] != buf[k - 1]) buf[u++] = buf[k];
        ss[i].terms = malloc(((size_t)u + 1) * sizeof(int));
        if (!ss[i].terms) return free(buf), false;
        memcpy(ss[i].terms, buf, (size_t)u * sizeof(int));
        ss[i].n_terms = u;
        if (count)
            for (int k = 0; k < u; k++) d->df[buf[k]]++;
    }
    free(buf);
    return true;
}

static double jaccard(const sentence *a, const sentence *b) {
    int i = 0, j = 0, both = 0;
    while (i < a->n_terms && j < b->n_terms) {
        if (a->terms[i] == b->terms[j]) both++, i++, j++;
        else if (a->terms[i] < b->terms[j]) i++;
        else j++;
    }
    int uni = a->n_terms + b->n_terms - both;
    return uni ? (double)both / uni : 1.0;
}

/* Sentences of the text; paragraph starts marked (a blank line before). */
static sentence *split(const char *text, size_t len, int *n_out) {
    int cap = ag_split_sentences(text, len, NULL, 0);
    ag_span_t *sp = malloc(((size_t)cap + 1) * sizeof *sp);
    sentence *ss = calloc((size_t)cap + 1, sizeof *ss);
    if (!sp || !ss) return free(sp), free(ss), NULL;
    int n = ag_split_sentences(text, len, sp, cap);
    for (int i = 0; i < n; i++) {
        ss[i].start = sp[i].start, ss[i].end = sp[i].end;
        size_t prev = i ? sp[i - 1].end : 0;
        ss[i].para_start = i == 0 || memmem(text + prev, sp[i].start - prev, "\n\n", 2) != NULL;
        ss[i].units = kb_text_units(text + sp[i].start, sp[i].end - sp[i].start);
    }
    free(sp);
    *n_out = n;
    return ss;
}

static void free_sentences(sentence *ss, int n) {
    for (int i = 0; ss && i < n; i++) free(ss[i].terms);
    free(ss);
}

static int cmp_score(const void *a, const void *b) {
    const sentence *x = *(sentence *const *)a, *y = *(sentence *const *)b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->start < y->start ? -1 : 1;
}

/* Appends a sentence, with a space between sentences unless CJK meets CJK. */
static void join(kb_buf *b, const char *s, size_t n) {
    if (b->len) {
        unsigned last = 0, first = 0;
        size_t k = b->len;
        while (k > 0 && ((unsigned char)b->data[k - 1] & 0xC0) == 0x80) k--;
        if (k > 0) kb_utf8_next(b->data + k - 1, b->len - (k - 1), &last);
        kb_utf8_next(s, n, &first);
        bool cjk_punct = last >= 0x3000 && last <= 0x303F;
        bool full = last >= 0xFF00 && last <= 0xFFEF;
        if (!((kb_is_cjk(last) || cjk_punct || full) && (kb_is_cjk(first) || first >= 0x3000))) kb_buf_putc(b, ' ');
    }
    kb_buf_append(b, s, n);
}

char *ag_summarize_extractive(const char *text, size_t len, const ag_summary_params *params, ag_error *err) {
    ag_summary_params p = params ? *params : (ag_summary_params){0};
    int n = 0;
    sentence *ss = split(text, len, &n);
    dict d = {0};
    if (!ss || !index_sentences(text, ss, n, &d, true)) {
        free_sentences(ss, n);
        dict_free(&d);
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    int total = 0;
    for (int i = 0; i < n; i++) total += ss[i].units;
    if (p.max_length <= 0) p.max_length = total / 5 < 60 ? 60 : total / 5 > 200 ? 200 : total / 5;
    if (p.min_length > p.max_length) p.min_length = p.max_length;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < ss[i].n_terms; k++) {
            int id = ss[i].terms[k];
            s += (1.0 + log((double)d.tf[id])) * log(1.0 + (double)n / d.df[id]);
        }
        if (ss[i].n_terms) s /= sqrt((double)ss[i].n_terms);
        double pos = i == 0 ? 1.5 : ss[i].para_start ? 1.2 : 1.0;
        if (ss[i].start < len / 10) pos *= 1.1;
        if (ss[i].n_terms < 4) s *= 0.5;
        ss[i].score = s * pos;
    }
    sentence **order = malloc(((size_t)n + 1) * sizeof *order);
    bool *pick = calloc((size_t)n + 1, sizeof *pick);
    char *out = NULL;
    if (order && pick) {
        for (int i = 0; i < n; i++) order[i] = &ss[i];
        qsort(order, (size_t)n, sizeof *order, cmp_score);
        int used = 0;
        sentence **chosen = malloc(((size_t)n + 1) * sizeof *chosen);
        int n_chosen = 0;
        for (int r = 0; chosen && r < n; r++) {
            sentence *s = order[r];
            if (s->n_terms == 0) continue;
            if (used >= p.min_length && used + s->units > p.max_length) continue;
            bool dup = false;
            for (int c = 0; c < n_chosen && !dup; c++) dup = jaccard(s, chosen[c]) >= 0.6;
            if (dup) continue;
            chosen[n_chosen++] = s;
            pick[s - ss] = true;
            used += s->units;
            if (used >= p.max_length) break;
        }
        free(chosen);
        kb_buf b = {0};
        kb_buf_puts(&b, "");
        for (int i = 0; i < n; i++)
            if (pick[i]) join(&b, text + ss[i].start, ss[i].end - ss[i].start);
        out = kb_buf_take(&b, NULL);
    }
    if (!out) ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    free(order);
    free(pick);
    free_sentences(ss, n);
    dict_free(&d);
    return out;
}

char *kb_dedup_sentences(const char *text, size_t len) {
    int n = 0;
    sentence *ss = split(text, len, &n);
    dict d = {0};
    if (!ss || !index_sentences(text, ss, n, &d, false)) {
        free_sentences(ss, n);
        dict_free(&d);
        return NULL;
    }
    kb_buf b = {0};
    kb_buf_puts(&b, "");
    for (int i = 0; i < n; i++) {
        bool dup = false;
        for (int j = 0; j < i && !dup; j++) {
            if (ss[j].n_terms < 0) continue;
            size_t li = ss[i].end - ss[i].start, lj = ss[j].end - ss[j].start;
            dup = (li == lj && memcmp(text + ss[i].start, text + ss[j].start, li) == 0) ||
                  (ss[i].n_terms > 0 && jaccard(&ss[i], &ss[j]) >= 0.8);
        }
        if (dup) {
            ss[i].n_terms = -1 - ss[i].n_terms; /* skipped: not compared again */
            continue;
        }
        join(&b, text + ss[i].start, ss[i].end - ss[i].start);
    }
    for (int i = 0; i < n; i++)
        if (ss[i].n_terms < 0) ss[i].n_terms = -1 - ss[i].n_terms;
    free_sentences(ss, n);
    dict_free(&d);
    return kb_buf_take(&b, NULL);
}
