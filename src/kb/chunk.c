/*
 * chunk.c - ag_chunk_doc: structure-aware chunks sized in tokens.
 *
 * The document becomes a list of units: each heading is a unit, each paragraph is cut into
 * sentences (ag_split_sentences), and a sentence longer than a chunk is cut at spaces (or
 * characters). Units are packed greedily into chunks of at most max_tokens; a heading always
 * starts a new chunk (and updates the heading path the chunk carries), so does a new page; a
 * new chunk within a section repeats the previous chunk's last sentences up to `overlap` tokens. A chunk is a byte
 * range of the document's text, so it keeps its offsets.
 */
#include <stdlib.h>
#include <string.h>

#include "kb/textbuf.h"

typedef struct {
    size_t start, end;
    int tokens;
    int block;   /* index of its block */
    int heading; /* heading level when the unit is a heading */
} unit;

typedef struct {
    unit *u;
    int n, cap;
    bool oom;
} unit_list;

static void push(unit_list *l, unit u) {
    if (l->oom) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        unit *p = realloc(l->u, (size_t)cap * sizeof *p);
        if (!p) {
            l->oom = true;
            return;
        }
        l->u = p;
        l->cap = cap;
    }
    l->u[l->n++] = u;
}

/* Words (runs of non-space ASCII) + other code points (CJK characters count one each). */
static int estimate_tokens(void *ctx, const char *s, size_t n) {
    (void)ctx;
    int count = 0;
    bool in_word = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            bool w = c > ' ';
            if (w && !in_word) count++;
            in_word = w;
        } else {
            in_word = false;
            if ((c & 0xC0) != 0x80) count++;
        }
    }
    return count;
}

/* Cuts [s, e) (one sentence, too long) into pieces of at most max tokens, at spaces when there
 * are some, else at character boundaries. */
static void cut_long(unit_list *l, const char *text, size_t s, size_t e, int block, const ag_chunk_params *p) {
    while (s < e) {
        int t = p->count(p->count_ctx, text + s, e - s);
        if (t <= p->max_tokens) {
            push(l, (unit){s, e, t, block, 0});
            return;
        }
        size_t take = (size_t)((double)(e - s) * p->max_tokens / t * 0.9);
        if (take < 1) take = 1;
        for (;;) {
            size_t z = s + take;
            while (z < e && ((unsigned char)text[z] & 0xC0) == 0x80) z++; /* whole characters */
            size_t sp = z; /* back to a space in the last fifth, if any */
            while (sp > s + take * 4 / 5 && text[sp - 1] != ' ') sp--;
            if (sp > s + take * 4 / 5) z = sp;
            int tz = p->count(p->count_ctx, text + s, z - s);
            if (tz <= p->max_tokens || take <= 1) {
                push(l, (unit){s, z, tz, block, 0});
                s = z;
                while (s < e && text[s] == ' ') s++;
                break;
            }
            take = take * 3 / 4;
        }
    }
}

static char *heading_path(const ag_doc *doc, const int *stack) {
    kb_buf b = {0};
    kb_buf_puts(&b, "");
    for (int lv = 0; lv < 6; lv++) {
        if (stack[lv] < 0) continue;
        const ag_doc_block *h = &doc->blocks[stack[lv]];
        if (b.len) kb_buf_puts(&b, " > ");
        size_t n = h->end - h->start;
        if (n > 200) n = 200;
        while (n > 0 && n < h->end - h->start && ((unsigned char)doc->text[h->start + n] & 0xC0) == 0x80) n--;
        kb_buf_append(&b, doc->text + h->start, n);
    }
    return kb_buf_take(&b, NULL);
}

void ag_chunks_free(ag_chunk *chunks, int n) {
    for (int i = 0; chunks && i < n; i++) free(chunks[i].heading);
    free(chunks);
}

int ag_chunk_doc(const ag_doc *doc, const ag_chunk_params *params, ag_chunk **out) {
    ag_chunk_params p = params ? *params : (ag_chunk_params){0};
    if (p.max_tokens <= 0) p.max_tokens = 256;
    if (p.overlap < 0) p.overlap = 0;
    if (p.overlap >= p.max_tokens / 2) p.overlap = p.max_tokens / 2;
    if (!p.count) p.count = estimate_tokens;
    *out = NULL;
    unit_list l = {0};
    int cap_sent = 256;
    ag_span_t *sent = malloc((size_t)cap_sent * sizeof *sent);
    if (!sent) return -1;
    for (int b = 0; b < doc->n_blocks && !l.oom; b++) {
        const ag_doc_block *bl = &doc->blocks[b];
        const char *t = doc->text + bl->start;
        size_t n = bl->end - bl->start;
        if (bl->heading_level) {
            push(&l, (unit){bl->start, bl->end, p.count(p.count_ctx, t, n), b, bl->heading_level});
            continue;
        }
        int ns = ag_split_sentences(t, n, sent, cap_sent);
        if (ns > cap_sent) {
            ag_span_t *q = realloc(sent, (size_t)ns * sizeof *q);
            if (!q) {
                l.oom = true;
                break;
            }
            sent = q;
            cap_sent = ns;
            ns = ag_split_sentences(t, n, sent, cap_sent);
        }
        for (int i = 0; i < ns; i++) {
            size_t s = bl->start + sent[i].start, e = bl->start + sent[i].end;
            int tk = p.count(p.count_ctx, doc->text + s, e - s);
            if (tk > p.max_tokens) cut_long(&l, doc->text, s, e, b, &p);
            else push(&l, (unit){s, e, tk, b, 0});
        }
    }
    free(sent);
    if (l.oom) {
        free(l.u);
        return -1;
    }
    /* pack the units */
    int n_out = 0, cap_out = 0;
    ag_chunk *chunks = NULL;
    int stack[6] = {-1, -1, -1, -1, -1, -1};
    char *heading = heading_path(doc, stack);
    bool oom = !heading;
    int first = 0; /* first unit of the open chunk */
    int tokens = 0;
    for (int i = 0; i <= l.n && !oom; i++) {
        bool is_heading = i < l.n && l.u[i].heading;
        bool full = i < l.n && tokens + l.u[i].tokens > p.max_tokens && i > first;
        bool new_page = i < l.n && i > first && doc->blocks[l.u[i].block].page != doc->blocks[l.u[first].block].page;
        if ((i == l.n || is_heading || full || new_page) && i > first) { /* emit units [first, i) */
            if (n_out == cap_out) {
                cap_out = cap_out ? 2 * cap_out : 16;
                ag_chunk *q = realloc(chunks, (size_t)cap_out * sizeof *q);
                if (!q) {
                    oom = true;
                    break;
                }
                chunks = q;
            }
            char *h = strdup(heading);
            if (!h) {
                oom = true;
                break;
            }
            chunks[n_out++] = (ag_chunk){.start = l.u[first].start, .end = l.u[i - 1].end,
                                         .page = doc->blocks[l.u[first].block].page, .heading = h, .n_tokens = tokens};
            int back = i, ov = 0; /* the overlap: trailing sentences of this chunk */
            if (full && !is_heading && !new_page)
                while (back - 1 > first && !l.u[back - 1].heading && ov + l.u[back - 1].tokens <= p.overlap &&
                       ov + l.u[back - 1].tokens + l.u[i].tokens <= p.max_tokens)
                    ov += l.u[--back].tokens;
            first = back;
            tokens = ov;
        }
        if (i == l.n) break;
        if (is_heading) { /* a new section: the heading path changes */
            int lv = l.u[i].heading - 1;
            stack[lv] = l.u[i].block;
            for (int k = lv + 1; k < 6; k++) stack[k] = -1;
            free(heading);
            heading = heading_path(doc, stack);
            if (!heading) oom = true;
            first = i;
            tokens = 0;
        }
        tokens += l.u[i].tokens;
    }
    free(heading);
    free(l.u);
    if (oom) {
        ag_chunks_free(chunks, n_out);
        return -1;
    }
    *out = chunks;
    return n_out;
}
