/*
 * cli_draft.c - the draft model for `run --draft` / `bench --draft` (see cli_draft.h): loading it
 * next to the target, and the with/without-draft generation benchmark.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_draft.h"
#include "store/store.h"

bool cli_draft_open(cli_draft *d, const ag_model *m, ag_session *s, const char *draft, int draft_max, int threads) {
    *d = (cli_draft){0};
    store_manifest man = {0};
    if (!cli_resolve_model(draft, &man)) return false;
    ag_model_params mp = {.n_threads = threads};
    d->model = cli_load_model_ex(man.path, &mp);
    store_manifest_free(&man);
    if (!d->model) return false;
    ag_error err = {0};
    ag_session_params sp = {.n_ctx = ag_session_n_ctx(s), .n_threads = threads};
    d->session = ag_session_new(d->model, &sp, &err);
    if (d->session) d->spec = ag_speculative_new(m, s, d->model, d->session, draft_max, &err);
    if (!d->spec) {
        fprintf(stderr, "autoglm: draft model '%s': %s\n", draft, err.msg);
        cli_draft_close(d);
        return false;
    }
    return true;
}

void cli_draft_close(cli_draft *d) {
    ag_speculative_free(d->spec);
    ag_session_free(d->session);
    ag_model_free(d->model);
    *d = (cli_draft){0};
}

void cli_draft_print_stats(const cli_draft *d) {
    long long drafted = 0, accepted = 0;
    ag_speculative_stats(d->spec, &drafted, &accepted);
    fprintf(stderr, "draft acceptance:     %lld/%lld proposals (%.1f%%)\n", accepted, drafted,
            drafted ? 100.0 * (double)accepted / (double)drafted : 0.0);
}

/* ---------------------------------------------------------------- bench --draft */

/* Greedy generation of n tokens after prompt, with the draft when d is not NULL; tokens/s of the
 * generation (prompt excluded) or -1. */
static double gen_once(const ag_model *m, ag_session *s, cli_draft *d, const ag_token *prompt, int np, ag_token *out,
                       int n) {
    ag_error err = {0};
    ag_sampler_params p = ag_sampler_default_params();
    p.temperature = 0, p.repeat_penalty = 1, p.seed = 1;
    ag_sampler *smp = ag_sampler_new(&p, ag_model_n_vocab(m), ag_session_n_ctx(s));
    double rate = -1;
    if (!smp) return -1;
    ag_session_reset(s);
    if (d) ag_session_reset(d->session);
    if (d ? ag_speculative_feed(d->spec, prompt, np, &err) : ag_session_eval(s, prompt, np, false, &err)) goto out;
    double t0 = cli_now();
    for (int k = 0; k < n;) {
        if (d) {
            int got = ag_speculative_step(d->spec, smp, out + k, n - k, &err);
            if (got < 1) goto out;
            k += got;
        } else {
            out[k] = ag_sampler_sample(smp, ag_session_logits(s, -1));
            if (ag_session_eval(s, &out[k++], 1, false, &err)) goto out;
        }
    }
    rate = n / (cli_now() - t0);
out:
    if (rate < 0) fprintf(stderr, "autoglm bench: %s\n", err.msg);
    ag_sampler_free(smp);
    return rate;
}

int cli_draft_bench(const ag_model *m, const char *draft, int draft_max, int n_gen, int reps, int threads) {
    static const char *text = "Once upon a time, there was a little girl who";
    ag_error err = {0};
    ag_token prompt[64];
    const int np = ag_tokenize(m, text, strlen(text), prompt, 64, ag_vocab_add_bos(m), false);
    ag_session_params sp = {.n_ctx = np + n_gen + draft_max + 8, .n_threads = threads};
    ag_session *s = np > 0 ? ag_session_new(m, &sp, &err) : NULL;
    cli_draft d = {0};
    ag_token *plain = malloc((size_t)n_gen * sizeof *plain), *spec = malloc((size_t)n_gen * sizeof *spec);
    int rc = CLI_EXIT_FAIL;
    if (!s || !plain || !spec) fprintf(stderr, "autoglm bench: %s\n", s ? "out of memory" : err.msg);
    else if (cli_draft_open(&d, m, s, draft, draft_max, threads)) {
        double sum[2] = {0, 0}, sq[2] = {0, 0};
        bool same = true;
        for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
            double a = gen_once(m, s, NULL, prompt, np, plain, n_gen), b = gen_once(m, s, &d, prompt, np, spec, n_gen);
            if (a < 0 || b < 0) goto done;
            same = same && memcmp(plain, spec, (size_t)n_gen * sizeof *plain) == 0;
            if (r < 0) continue;
            sum[0] += a, sum[1] += b, sq[0] += a * a, sq[1] += b * b;
        }
        long long drafted = 0, accepted = 0;
        ag_speculative_stats(d.spec, &drafted, &accepted);
        double mean[2], sd[2];
        for (int k = 0; k < 2; k++) {
            mean[k] = sum[k] / reps;
            sd[k] = reps > 1 ? sqrt(fmax(0, (sq[k] - reps * mean[k] * mean[k]) / (reps - 1))) : 0;
        }
        printf("| target | draft | draft_max | test | t/s without draft | t/s with draft | speed-up | acceptance |\n"
               "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |\n"
               "| %s %.1f M | %s %.1f M | %d | tg%d greedy | %.2f ± %.2f | %.2f ± %.2f | %.2fx | %.1f%% |\n",
               ag_model_name(m), ag_model_n_params(m) / 1e6, ag_model_name(d.model), ag_model_n_params(d.model) / 1e6,
               draft_max, n_gen, mean[0], sd[0], mean[1], sd[1], mean[1] / mean[0],
               drafted ? 100.0 * (double)accepted / (double)drafted : 0.0);
        printf("\ntokens with and without the draft: %s\n", same ? "identical" : "DIFFERENT");
        rc = same ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
done:
    cli_draft_close(&d);
    free(plain);
    free(spec);
    ag_session_free(s);
    return rc;
}
