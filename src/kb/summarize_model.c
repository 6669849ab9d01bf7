/*
 * summarize_model.c - ag_summarize_model: map-reduce summaries with a generative model.
 *
 * The text is cut (ag_chunk_doc, in the model's tokens) into parts that leave room in the
 * context for the instruction and the answer; each part is summarized (map); the summaries,
 * joined, are summarized again - in parts again while they do not fit (reduce) - until one
 * remains. Decoding is greedy (ag_generate_greedy, or the caller's generator with
 * ag_summarize_model_with), so the result is reproducible; repeated sentences are dropped at the
 * end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kb/summary_impl.h"
#include "kb/textbuf.h"

typedef struct {
    const ag_model *m;
} counter_ctx;

static int count_tokens(void *ctx, const char *text, size_t len) {
    const ag_model *m = ((counter_ctx *)ctx)->m;
    int n = ag_tokenize(m, text, len, NULL, 0, false, false);
    return n == INT32_MIN ? (int)len : n < 0 ? -n : n;
}

static char *summarize_one(ag_generate_fn gen, void *gen_ctx, const char *text, int max_len, int gen_tokens, ag_error *err) {
    kb_buf prompt = {0};
    kb_buf_printf(&prompt, "Summarize the following text in at most %d words. Keep the key facts, names and numbers.\n\n%s",
                  max_len, text);
    if (prompt.oom) return kb_buf_free(&prompt), ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    char *r = gen(gen_ctx, prompt.data, gen_tokens, err);
    kb_buf_free(&prompt);
    return r;
}

typedef struct {
    ag_model *m;
    int n_ctx, n_threads;
} local_gen;

static char *generate_here(void *ctx, const char *user_text, int max_tokens, ag_error *err) {
    const local_gen *g = ctx;
    ag_generate_params gp = {.max_tokens = max_tokens, .n_ctx = g->n_ctx, .n_threads = g->n_threads};
    return ag_generate_greedy(g->m, user_text, &gp, err);
}

static int default_ctx(const ag_model *m) {
    int n_ctx = ag_model_n_ctx_train(m);
    return n_ctx <= 0 || n_ctx > 4096 ? 4096 : n_ctx;
}

char *ag_summarize_model(ag_model *m, const char *text, size_t len, const ag_summary_params *params, int n_threads,
                         ag_error *err) {
    local_gen g = {m, default_ctx(m), n_threads};
    return ag_summarize_model_with(m, g.n_ctx, generate_here, &g, text, len, params, err);
}

char *ag_summarize_model_with(const ag_model *m, int n_ctx, ag_generate_fn gen, void *gen_ctx, const char *text,
                              size_t len, const ag_summary_params *params, ag_error *err) {
    ag_summary_params p = params ? *params : (ag_summary_params){0};
    if (p.max_length <= 0) p.max_length = 150;
    if (n_ctx <= 0) n_ctx = default_ctx(m);
    int gen_tokens = p.max_length * 2 + 16; /* words -> tokens, with room */
    if (gen_tokens > n_ctx / 3) gen_tokens = n_ctx / 3;
    int part_tokens = n_ctx - gen_tokens - 64; /* the instruction and the template's tokens */
    if (part_tokens < 32) return ag_error_set(err, AG_ERR_UNSUPPORTED, "the model's context (%d) is too small", n_ctx), NULL;
    counter_ctx cc = {m};
    char *cur = malloc(len + 1);
    if (!cur) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
    memcpy(cur, text, len);
    cur[len] = '\0';
    for (int round = 0; round < 8; round++) {
        kb_doc_builder d;
        kb_doc_init(&d);
        kb_doc_paragraphs(&d, cur, strlen(cur));
        ag_doc doc;
        if (kb_doc_finish(&d, &doc, err) != AG_OK) return free(cur), NULL;
        ag_chunk *ch = NULL;
        ag_chunk_params cp = {.max_tokens = part_tokens, .overlap = 0, .count = count_tokens, .count_ctx = &cc};
        int n = ag_chunk_doc(&doc, &cp, &ch);
        if (n < 0) {
            ag_doc_free(&doc);
            free(cur);
            return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
        }
        kb_buf joined = {0};
        kb_buf_puts(&joined, "");
        bool ok = true;
        for (int i = 0; i < n && ok; i++) { /* map (or, from the second round, reduce) */
            char *part = strndup(doc.text + ch[i].start, ch[i].end - ch[i].start);
            char *s = part ? summarize_one(gen, gen_ctx, part, p.max_length, gen_tokens, err) : NULL;
            free(part);
            if (!s) ok = false;
            else {
                if (joined.len) kb_buf_puts(&joined, "\n\n");
                kb_buf_puts(&joined, s);
            }
            free(s);
        }
        ag_chunks_free(ch, n);
        ag_doc_free(&doc);
        free(cur);
        if (!ok) return kb_buf_free(&joined), NULL;
        cur = kb_buf_take(&joined, NULL);
        if (!cur) return ag_error_set(err, AG_ERR_NOMEM, "out of memory"), NULL;
        if (n <= 1) break; /* one part: that summary is the answer */
    }
    char *out = kb_dedup_sentences(cur, strlen(cur));
    free(cur);
    if (!out) ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    return out;
}
