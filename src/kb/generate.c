/*
 * generate.c - ag_generate_greedy: one user message through the model's chat template (or as
 * it is when the model has none), greedy decoding (temperature 0, no penalties) so that the
 * same input gives the same text. Used by `kb ask` and the model summaries.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kb/textbuf.h"

char *ag_generate_greedy(ag_model *m, const char *user_text, const ag_generate_params *params, ag_error *err) {
    ag_generate_params p = params ? *params : (ag_generate_params){0};
    if (p.max_tokens <= 0) p.max_tokens = 256;
    const char *source = "none";
    ag_error terr = {0};
    ag_chat_message msg = {"user", user_text};
    char *prompt = ag_chat_format(m, &msg, 1, true, &source, &terr);
    if (!prompt && strcmp(source, "none") != 0) {
        ag_error_set(err, AG_ERR_FORMAT, "chat template: %s", terr.msg);
        return NULL;
    }
    const char *text = prompt ? prompt : user_text;
    char bos[64]; /* the template may write BOS itself */
    int bl = ag_token_bos(m) >= 0 ? ag_token_to_piece(m, ag_token_bos(m), bos, (int)sizeof bos, true) : 0;
    bool add_bos = bl <= 0 || strncmp(text, bos, (size_t)bl) != 0;
    size_t len = strlen(text);
    int cap = (int)len + 16;
    ag_token *ids = malloc((size_t)cap * sizeof *ids);
    int n = ids ? ag_tokenize(m, text, len, ids, cap, add_bos, prompt != NULL) : INT32_MIN;
    if (n < 0 && n != INT32_MIN && ids) {
        cap = -n;
        ag_token *q = realloc(ids, (size_t)cap * sizeof *q);
        if (q) ids = q, n = ag_tokenize(m, text, len, ids, cap, add_bos, prompt != NULL);
    }
    free(prompt);
    if (!ids || n <= 0) {
        free(ids);
        ag_error_set(err, n == INT32_MIN ? AG_ERR_FORMAT : AG_ERR_NOMEM, "cannot tokenize the prompt");
        return NULL;
    }
    ag_session_params sp = {.n_ctx = p.n_ctx, .n_threads = p.n_threads};
    ag_session *s = ag_session_new(m, &sp, err);
    if (!s) {
        free(ids);
        return NULL;
    }
    if (n + 1 >= ag_session_n_ctx(s)) {
        ag_error_set(err, AG_ERR_CONTEXT_FULL, "the prompt is %d tokens, the context %d", n, ag_session_n_ctx(s));
        free(ids);
        ag_session_free(s);
        return NULL;
    }
    ag_sampler_params smp_p = ag_sampler_default_params();
    smp_p.temperature = 0;
    smp_p.repeat_penalty = 1.0f;
    smp_p.seed = 0;
    ag_sampler *smp = ag_sampler_new(&smp_p, ag_model_n_vocab(m), ag_session_n_ctx(s));
    ag_detok *dt = ag_detok_new(m);
    kb_buf out = {0};
    kb_buf_puts(&out, "");
    ag_status st = smp && dt ? ag_session_eval(s, ids, n, false, err) : ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    free(ids);
    for (int produced = 0; st == AG_OK && produced < p.max_tokens; produced++) {
        ag_token tok = ag_sampler_sample(smp, ag_session_logits(s, -1));
        if (ag_token_is_eog(m, tok)) break;
        size_t l;
        const char *piece = ag_detok_push(dt, tok, &l);
        kb_buf_append(&out, piece, l);
        if (p.on_text && l) p.on_text(p.ctx, piece, l);
        if (ag_session_n_past(s) >= ag_session_n_ctx(s)) break;
        st = ag_session_eval(s, &tok, 1, false, err);
    }
    if (dt) {
        size_t l;
        const char *rest = ag_detok_flush(dt, &l);
        kb_buf_append(&out, rest, l);
        if (p.on_text && l) p.on_text(p.ctx, rest, l);
    }
    ag_detok_free(dt);
    ag_sampler_free(smp);
    ag_session_free(s);
    if (st != AG_OK) {
        kb_buf_free(&out);
        return NULL;
    }
    char *r = kb_buf_take(&out, NULL);
    if (!r) ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    return r;
}
