/*
 * cmd_perplexity.c - `autoglm perplexity MODEL -f FILE [--num-ctx N] [--kv-type T] [--threads N] [--batch-size N] [--power MODE]`.
 *
 * The standard method: tokenize the whole file once (BOS first if the vocabulary adds it), cut
 * it into floor(n / num_ctx) chunks, and for each chunk, from an empty cache, with its first
 * token replaced by BOS, score the second half: -log p(token[i+1] | ..i) for i from num_ctx/2
 * to num_ctx-2. PPL = exp(mean). Progress per chunk on stderr; the last stdout line is
 * "PPL = <value>".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* -log softmax(logits)[target], in double */
static double neg_log_prob(const float *logits, int n_vocab, ag_token target) {
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    return log(sum) - ((double)logits[target] - max);
}

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    long long n_ctx = 512, threads = 0;
    cli_power_opts po = {0, NULL, 0};
    cli_device_opts dev = CLI_DEVICE_OPTS_INIT;
    const char *kv_type = getenv("AUTOGLM_KV_CACHE_TYPE"); /* --kv-type */
    for (int i = 1; i < argc; i++) {
        const int pr = cli_parse_power_flag(argc, argv, &i, &po);
        if (pr < 0) return CLI_EXIT_USAGE;
        if (pr > 0) continue;
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        const int df = cli_device_flag(argc, argv, &i, &dev);
        if (df < 0) return CLI_EXIT_USAGE;
        if (df > 0) continue;
        if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
            if (!next) { fprintf(stderr, "autoglm perplexity: -f needs a file name\n"); return CLI_EXIT_USAGE; }
            file = argv[++i];
        } else if (strcmp(a, "--num-ctx") == 0 || strcmp(a, "-c") == 0) {
            if (!cli_parse_int("--num-ctx", next, 8, 1 << 20, &n_ctx)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--kv-type") == 0 && next) {
            kv_type = argv[++i];
        } else if (strcmp(a, "--threads") == 0) {
            if (!cli_parse_int("--threads", next, 1, 1024, &threads)) return CLI_EXIT_USAGE;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "autoglm perplexity: unknown option '%s'\n"
                            "usage: autoglm perplexity MODEL -f FILE [--num-ctx N] [--kv-type T] [--threads N] [--batch-size N] [--power MODE] [--device D] [--gpu-layers N]\n", a);
            return CLI_EXIT_USAGE;
        } else if (!model) model = a;
        else { fprintf(stderr, "autoglm perplexity: unexpected argument '%s'\n", a); return CLI_EXIT_USAGE; }
    }
    if (!model || !file) {
        fprintf(stderr, "usage: autoglm perplexity MODEL -f FILE [--num-ctx N] [--kv-type T] [--threads N] [--batch-size N] [--power MODE]\n");
        return CLI_EXIT_USAGE;
    }
    size_t len = 0;
    char *text = cli_read_file(file, &len);
    if (!text) return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_FAIL;
    ag_model_params mp = {.n_threads = (int)threads};
    cli_device_apply(&dev, &mp);
    cli_device_for_kv(&mp, kv_type);
    ag_model *m = cli_load_model_ex(model, &mp);
    ag_session *s = NULL;
    ag_token *ids = NULL;
    int n_tok = 0;
    if (!m || !(ids = cli_tokenize(m, text, len, true, false, &n_tok))) goto done;
    const int ctx = (int)n_ctx, n_chunks = n_tok / ctx, n_vocab = ag_model_n_vocab(m);
    if (n_chunks < 2) {
        fprintf(stderr, "autoglm perplexity: the file has %d tokens; at least 2 * num_ctx = %d are needed\n",
                n_tok, 2 * ctx);
        goto done;
    }
    ag_error err = {0};
    ag_session_params sp = {.n_ctx = ctx, .n_batch = po.batch ? (int)po.batch : ctx, .n_threads = (int)threads, .kv_type = kv_type};
    if (!(s = ag_session_new(m, &sp, &err))) {
        fprintf(stderr, "autoglm: %s\n", err.msg);
        goto done;
    }
    if (!cli_apply_power(s, &po)) {
        goto done;
    }
    fprintf(stderr, "perplexity: %d tokens, %d chunks of %d\n", n_tok, n_chunks, ctx);
    const bool add_bos = ag_vocab_add_bos(m) && ag_token_bos(m) >= 0;
    double nll = 0;
    long count = 0;
    double t0 = cli_now();
    for (int c = 0; c < n_chunks; c++) {
        ag_token *chunk = ids + (size_t)c * ctx;
        ag_token first = chunk[0];
        if (add_bos) chunk[0] = ag_token_bos(m);
        ag_session_reset(s);
        ag_status st = ag_session_eval(s, chunk, ctx, true, &err);
        chunk[0] = first;
        if (st) {
            fprintf(stderr, "autoglm: %s\n", err.msg);
            goto done;
        }
        for (int i = ctx / 2; i < ctx - 1; i++, count++)
            nll += neg_log_prob(ag_session_logits(s, i), n_vocab, chunk[i + 1]);
        fprintf(stderr, "[%d]%.4f,", c + 1, exp(nll / count));
    }
    fprintf(stderr, "\nperplexity: %.2f s, %.1f tokens/s\n", cli_now() - t0, n_chunks * ctx / (cli_now() - t0));
    printf("PPL = %.4f\n", exp(nll / count));
    rc = CLI_EXIT_OK;
done:
    ag_session_free(s);
    ag_model_free(m);
    free(ids);
    free(text);
    return rc;
}
