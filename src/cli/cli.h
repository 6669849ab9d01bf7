/*
 * cli.h - what the `autoglm` commands share: strict number parsing for flags, reading a whole
 * file, and the command entry points (one per cmd_*.c). Commands return the process exit
 * status: 0 success, 1 failure at run time (bad model, I/O), 2 bad usage.
 */
#ifndef AG_CLI_H
#define AG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"
#include "store/store.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Parse the whole string as a number within [lo, hi]; on failure print
 * "autoglm: FLAG: 'TEXT' is not ..." to stderr and return false. */
bool cli_parse_int(const char *flag, const char *text, long long lo, long long hi, long long *out);
bool cli_parse_float(const char *flag, const char *text, double lo, double hi, double *out);

/* Reads a whole file (or stdin for "-") into a malloc'd NUL-terminated buffer. Prints an error
 * and returns NULL on failure. len may be NULL. */
char *cli_read_file(const char *path, size_t *len);

/* --device cpu|cuda[:N] and --gpu-layers N of run, bench and perplexity. */
typedef struct {
    const char *device;    /* NULL: $AUTOGLM_DEVICE, else auto (the GPU when one is usable) */
    long long gpu_layers;  /* -1: not given; 0: the CPU; N: layers on the GPU */
} cli_device_opts;
#define CLI_DEVICE_OPTS_INIT {NULL, -1}
/* Handles argv[*i] when it is one of the two flags (consuming its value): 1 handled, 0 not ours,
 * -1 bad value (message printed). */
int cli_device_flag(int argc, char **argv, int *i, cli_device_opts *d);
void cli_device_apply(const cli_device_opts *d, ag_model_params *mp);
/* With the device chosen automatically, a KV cache type the GPU does not keep (f32) puts the
 * model on the CPU, with a note on stderr. */
void cli_device_for_kv(ag_model_params *mp, const char *kv_type);
#define CLI_DEVICE_USAGE "  --device cpu|cuda[:N]  where the model runs (default: $AUTOGLM_DEVICE, else the GPU when usable)\n" \
                         "  --gpu-layers N       the first N layers on the GPU, the rest on the CPU; 0 = CPU only;\n" \
                         "                       default all (auto: as many as fit)\n"

/* Loads a model, printing "autoglm: <message>" on failure. params->device NULL: $AUTOGLM_DEVICE. */
ag_model *cli_load_model(const char *path, int n_threads);
ag_model *cli_load_model_ex(const char *path, const ag_model_params *params);

/* Tokenizes into a malloc'd array (grown as needed); NULL on failure. */
ag_token *cli_tokenize(const ag_model *m, const char *text, size_t len, bool add_special,
                       bool parse_special, int *n_out);

double cli_now(void); /* monotonic seconds */

/* Options "--name VALUE" (names[i] -> values[i]) and exactly one positional argument among
 * argv[1..]; prints the usage and returns false on anything else. */
bool cli_parse_named(int argc, char **argv, const char *const *names, const char **values, int n_names,
                     const char **positional, const char *usage);

/* The model store's folder (store_default_root), printing an error when there is none. */
char *cli_store_root(void);
/* A model by store name or path (store_resolve), printing an error on failure. */
bool cli_resolve_model(const char *arg, store_manifest *m);

/* --batch-size N, --power MODE, --max-tps T (run, bench, perplexity). */
typedef struct {
    long long batch;   /* 0: the command's default */
    const char *power; /* NULL: performance */
    double max_tps;    /* 0: no cap */
} cli_power_opts;

/* Parses one of the three flags at argv[*i] (value at argv[*i + 1]); returns 1 when it was one
 * (and advances *i), 0 when not, -1 on a bad value (message printed). */
int cli_parse_power_flag(int argc, char **argv, int *i, cli_power_opts *o);
/* Applies --power / --max-tps / --batch-size to a new session; false (message printed) on error. */
bool cli_apply_power(ag_session *s, const cli_power_opts *o);

int cmd_run(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_redact(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_rerank(int argc, char **argv);
int cmd_kb(int argc, char **argv);
int cmd_summarize(int argc, char **argv);

#endif
