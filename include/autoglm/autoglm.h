/*
 * autoglm.h - the public C API of libautoglm.
 *
 * This is the only header the CLI and the server include. Every object is an opaque handle
 * owned by the caller: what `*_new`/`*_load` returns is released with the matching `*_free`.
 * Functions that can fail return an ag_status and fill an ag_error (code + message) when the
 * caller passes one; the library never exits the process and keeps no global mutable state.
 *
 * A typical generation:
 *   ag_model   *m = ag_model_load(path, NULL, &err);          // weights mmapped, used in place
 *   ag_session *s = ag_session_new(m, &sp, &err);              // KV cache + scratch for one sequence
 *   n = ag_tokenize(m, text, len, ids, cap, true, false);
 *   ag_session_eval(s, ids, n, false, &err);                   // logits of the last token
 *   tok = ag_sampler_sample(smp, ag_session_logits(s, -1));
 */
#ifndef AUTOGLM_H
#define AUTOGLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AUTOGLM_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef enum {
    AG_OK = 0,
    AG_ERR_IO,           /* file cannot be opened, read or mapped */
    AG_ERR_FORMAT,       /* the file is not a valid GGUF / model (message names key/tensor/offset) */
    AG_ERR_UNSUPPORTED,  /* valid, but an architecture, type or feature we do not implement */
    AG_ERR_NOMEM,        /* allocation failed */
    AG_ERR_INVALID_ARG,  /* caller passed a bad value */
    AG_ERR_CONTEXT_FULL, /* the tokens do not fit in the session's context */
    AG_ERR_UNTRUSTED,    /* a signature is missing, invalid, by an untrusted key, or the file changed */
    AG_ERR_ABORTED,      /* the session's abort callback stopped a forward pass (ag_session_set_abort) */
} ag_status;

typedef struct {
    ag_status code;
    char msg[512];
} ag_error;

const char *ag_status_name(ag_status code);

/* ---------------------------------------------------------------- models */

typedef int32_t ag_token;
typedef struct ag_model ag_model;

typedef struct {
    int n_threads;   /* threads used by sessions of this model; 0 = physical cores */
    bool vocab_only; /* metadata and tokenizer only: any architecture, no weights bound (no sessions) */
    const char *trusted_keys; /* non-NULL: refuse the file (AG_ERR_UNTRUSTED) unless MODEL.sig is a valid
                                 signature of it by a public key in this folder (see autoglm/sign.h) */
    const char *device; /* where sessions run the forward pass: "cpu", "cuda" (= "cuda:0") or "cuda:N";
                           NULL or "auto": the first GPU when there is one, the model's family runs there
                           and the model fits, else the CPU. An explicit "cuda" that cannot be used is an
                           error (no device, driver too old, out of memory, unsupported family). */
    int n_gpu_layers;   /* layers placed on the GPU: 0 (default) = all of them, or with device "auto" as
                           many as fit (ag_model_device_note says so); N < the model's layers = the
                           first N on the GPU, the rest, the output norm and the head on the CPU (partial
                           offload: the hidden states cross once per forward pass); AG_GPU_LAYERS_NONE =
                           none (the CPU, like device "cpu"). An explicit "cuda" whose layers do not fit
                           is an error that gives the estimate (weights + KV cache + scratch). */
    bool keep_layout;   /* use the weights as the file stores them: by default the matrices the CPU
                           runs whose type has faster kernels for another layout (Q4_0, Q8_0 with
                           AVX-512 VNNI) are copied into it at load (same values, same results) */
} ag_model_params;

#define AG_GPU_LAYERS_NONE (-1)

ag_model *ag_model_load(const char *path, const ag_model_params *params, ag_error *err);
void ag_model_free(ag_model *model);

const char *ag_model_arch(const ag_model *model);        /* "llama", ... */
const char *ag_model_name(const ag_model *model);        /* general.name or "" */
int64_t ag_model_n_params(const ag_model *model);        /* elements of all tensors */
uint64_t ag_model_size_bytes(const ag_model *model);     /* bytes of tensor data */
int ag_model_n_ctx_train(const ag_model *model);
int ag_model_n_embd(const ag_model *model);
int ag_model_n_layer(const ag_model *model);
int ag_model_n_head(const ag_model *model);
int ag_model_n_head_kv(const ag_model *model);
int ag_model_n_vocab(const ag_model *model);
uint32_t ag_model_gguf_version(const ag_model *model);
const char *ag_model_chat_template(const ag_model *model); /* NULL when the file has none */
/* Where the forward pass runs: "cpu", "cuda:N (device name)", or with partial offload
 * "cuda:N (device name), K of L layers (the rest on the CPU)". */
const char *ag_model_device(const ag_model *model);
/* Layers on the GPU (0: the CPU runs everything), the CUDA device index (-1: none), and the device
 * memory the model holds now: its weights plus the KV caches and scratch of its live sessions. */
int ag_model_gpu_layers(const ag_model *model);
int ag_model_gpu_device(const ag_model *model);
uint64_t ag_model_gpu_bytes(const ag_model *model);
/* A one-line note about the placement worth showing the user (with device "auto": the model did
 * not fit, so fewer layers or the CPU were chosen, with the numbers), or NULL. */
const char *ag_model_device_note(const ag_model *model);

/* Metadata as the file holds it, rendered as text (arrays summarized when long). */
int ag_model_meta_count(const ag_model *model);
const char *ag_model_meta_key(const ag_model *model, int i);
const char *ag_model_meta_type(const ag_model *model, int i); /* "u32", "string", "array[string]" ... */
/* Writes the value as JSON text (strings quoted and escaped) into buf; returns the full length
 * that the text needs (like snprintf). Arrays longer than max_items are cut with "..." when
 * max_items >= 0. */
int ag_model_meta_json(const ag_model *model, int i, char *buf, size_t cap, int max_items);

int ag_model_tensor_count(const ag_model *model);
const char *ag_model_tensor_name(const ag_model *model, int i);
const char *ag_model_tensor_type(const ag_model *model, int i); /* "F32", "Q4_0", ... */
int ag_model_tensor_shape(const ag_model *model, int i, int64_t shape[4]); /* returns n_dims */
uint64_t ag_model_tensor_size(const ag_model *model, int i); /* bytes of data */
/* Bytes of weights one decode step reads: every matrix once, one row of the token embedding
 * (all of it when the output head is tied to it). */
uint64_t ag_model_decode_bytes(const ag_model *model);

/* ---------------------------------------------------------------- quantization */

typedef struct {
    const char *type; /* "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M",
                         "Q6_K", "F16", "BF16", "F32" (case-insensitive) */
    bool pure;        /* one type for every matrix (no higher-precision output head or mixes) */
    int n_threads;    /* 0 = physical cores */
    /* called before each tensor (done of total) and once at the end (done == total); may be NULL */
    void (*progress)(void *ctx, int done, int total, const char *tensor);
    void *progress_ctx;
} ag_quantize_params;

/* Reads in_path (F32/F16/BF16 or already quantized weights) and writes out_path (through a
 * temporary file renamed into place) with its matrices converted. 1-D tensors stay F32. */
ag_status ag_quantize(const char *in_path, const char *out_path, const ag_quantize_params *params,
                      ag_error *err);

/* ---------------------------------------------------------------- embeddings */

/* True for embedding (encoder) models such as bert; they have no sessions. */
bool ag_model_is_embedding(const ag_model *model);

/* Sentence embeddings of n_seq token sequences (tokens[i] has n_tokens[i] ids, e.g. from
 * ag_tokenize with add_special): out receives n_seq rows of ag_model_n_embd floats, pooled as
 * the model file says (mean, CLS or last token) and L2-normalized when normalize. */
ag_status ag_embed_tokens(const ag_model *model, const ag_token *const *tokens, const int *n_tokens, int n_seq,
                          float *out, bool normalize, ag_error *err);

/* ---------------------------------------------------------------- conversion */

typedef struct {
    const char *type; /* matrices: "f32", "f16" (default, NULL), "bf16" or "q8_0"; 1-D tensors stay F32 */
    const char *name; /* general.name; NULL = the directory's name */
    const char *mmproj; /* vision-language models (GLM-4.1V): also write the vision projector GGUF
                           here (include/autoglm/vision.h); NULL = the text model only */
} ag_convert_params;

/* Converts a Hugging Face model directory (config.json, model.safetensors or the shards of
 * model.safetensors.index.json, tokenizer.json, tokenizer_config.json) into a GGUF file with the
 * standard tensor names and keys of its family, then checks that the file loads. Errors name
 * what is missing or unsupported (the architecture, a tensor, the tokenizer kind). */
ag_status ag_convert(const char *hf_dir, const char *out_path, const ag_convert_params *params, ag_error *err);

/* ---------------------------------------------------------------- measurement */

/* The default thread count: physical cores this process may run on (at least 1). */
int ag_default_threads(void);

/* Energy used by the CPU packages (Linux powercap/RAPL) and NVIDIA GPUs (NVML), where the
 * machine reports it. ag_energy_open returns NULL when nothing is readable ("unavailable");
 * ag_energy_joules gives the joules used since open (read it at least every few minutes:
 * counters wrap), -1 on error (safe to call from several threads); ag_energy_sources says what
 * is counted. */
typedef struct ag_energy ag_energy;
ag_energy *ag_energy_open(void);
const char *ag_energy_sources(const ag_energy *e);
double ag_energy_joules(ag_energy *e);
/* The GPUs' share of ag_energy_joules (NVML's total energy counters, summed over the GPUs) since
 * open; -1 when NVML reports no energy (no NVIDIA driver, an old GPU, AUTOGLM_NO_NVML=1). */
double ag_energy_gpu_joules(ag_energy *e);
void ag_energy_close(ag_energy *e);


/* Best-of-`reps` streaming read bandwidth of this machine in bytes/s, over a buffer of `bytes`
 * read by n_threads threads with the widest vector loads the CPU has. 0 on failure. */
double ag_measure_read_bandwidth(size_t bytes, int n_threads, int reps);

/* The same for the memory of CUDA device `device` (a kernel summing `bytes` of device memory);
 * 0 with err set when there is no such device or the build has no CUDA. */
double ag_measure_gpu_bandwidth(int device, size_t bytes, int reps, ag_error *err);

/* ---------------------------------------------------------------- tokenizer */

/* Tokenizes text (UTF-8, len bytes). add_special: BOS/EOS as the vocabulary asks;
 * parse_special: text of control tokens becomes those tokens (otherwise plain text).
 * Returns the number of tokens, or -(needed) when cap is too small, or INT32_MIN on error. */
int ag_tokenize(const ag_model *model, const char *text, size_t len, ag_token *out, int cap,
                bool add_special, bool parse_special);

/* The bytes of one token. Control tokens give "" unless special. Returns bytes written or
 * -(needed) when cap is too small. Not NUL-terminated. */
int ag_token_to_piece(const ag_model *model, ag_token token, char *buf, int cap, bool special);

ag_token ag_token_bos(const ag_model *model); /* -1 when none */
ag_token ag_token_eos(const ag_model *model);
bool ag_token_is_eog(const ag_model *model, ag_token token); /* end of generation */
bool ag_vocab_add_bos(const ag_model *model);
const char *ag_vocab_type(const ag_model *model); /* "llama" (SentencePiece-style), ... */
/* A warning about the tokenizer worth showing the user (e.g. an unknown tokenizer.ggml.pre,
 * replaced by the default split), or NULL. */
const char *ag_vocab_warning(const ag_model *model);

/* Streaming detokenizer: holds back bytes of an incomplete UTF-8 sequence so that what it
 * returns is always whole characters. */
typedef struct ag_detok ag_detok;
ag_detok *ag_detok_new(const ag_model *model);
void ag_detok_free(ag_detok *d);
/* Appends the token and returns the text that became complete (NUL-terminated, valid until the
 * next call); *len receives its length. */
const char *ag_detok_push(ag_detok *d, ag_token token, size_t *len);
/* Returns what is still held back (an invalid tail is replaced by U+FFFD). */
const char *ag_detok_flush(ag_detok *d, size_t *len);

/* ---------------------------------------------------------------- chat templates */

typedef struct {
    const char *role;    /* "system", "user", "assistant", "tool" */
    const char *content;
} ag_chat_message;

/* Renders a conversation into the prompt text with the model's chat template
 * (tokenizer.chat_template), or, when the file has none, with the usual format of its family
 * (recognized from its special tokens and architecture). *source (may be NULL) tells which:
 * "model", "fallback: <name>", or "none" - then NULL is returned with err->code AG_OK and the
 * caller uses the text as it is. The result is malloc'd (free() it); NULL with err on failure
 * (a template error names the construct or carries the template's own message). */
char *ag_chat_format(const ag_model *model, const ag_chat_message *messages, int n_messages,
                     bool add_generation_prompt, const char **source, ag_error *err);

/* The same with the whole template context as a JSON object ({"messages": [...], "tools": [...],
 * ...}); bos_token and eos_token are filled in from the vocabulary when absent. */
char *ag_chat_format_json(const ag_model *model, const char *context_json, const char **source, ag_error *err);

/* The same with a Jinja template the caller supplies (a Modelfile's TEMPLATE) in place of the
 * model's; tmpl NULL behaves as ag_chat_format_json. */
char *ag_chat_format_custom(const ag_model *model, const char *tmpl, const char *context_json, ag_error *err);

/* ---------------------------------------------------------------- sessions */

typedef struct ag_session ag_session;

/* A pool of KV cache blocks shared by sessions of one model on the CPU: blocks of
 * ag_kv_pool_block_positions() positions (every layer's keys and values), refcounted, so that
 * sessions can hold a common prefix once (ag_session_copy_prefix, ag_session_save_prefix) and a
 * session takes memory as it fills rather than for its whole context. A session whose block
 * cannot be allocated gets AG_ERR_NOMEM from its eval. Not thread-safe: the pool and every session
 * and prefix drawing from it are used by one thread at a time (ag_kv_pool_n_used excepted). Free
 * the sessions and prefixes before the pool. */
typedef struct ag_kv_pool ag_kv_pool;
/* n_blocks blocks of kv_type (NULL: f16); the memory is reserved, pages are touched when used. */
ag_kv_pool *ag_kv_pool_new(const ag_model *model, const char *kv_type, int n_blocks, ag_error *err);
void ag_kv_pool_free(ag_kv_pool *pool);
int ag_kv_pool_block_positions(void);
int ag_kv_pool_n_blocks(const ag_kv_pool *pool);
int ag_kv_pool_n_used(const ag_kv_pool *pool); /* blocks held now; may be read from any thread */
size_t ag_kv_pool_block_bytes(const ag_kv_pool *pool);
/* fn(ctx) is called when a session needs a block and none is free; it may release some (free
 * prefixes it keeps) and returns true when it did. Runs on the thread of the eval that asked. */
void ag_kv_pool_set_reclaim(ag_kv_pool *pool, bool (*fn)(void *ctx), void *ctx);

typedef struct {
    int n_ctx;     /* context length in tokens; 0 = min(model's training context, 4096) */
    int n_batch;   /* tokens per forward pass in eval; 0 = 512 */
    int n_threads; /* 0 = the model's setting */
    const char *kv_type; /* KV cache element type: "f16" (default, NULL), "f32", "q8_0" or "q4_0"
                          * (the last two: head size a multiple of 32; on the GPU f16, q8_0 or q4_0) */
    ag_kv_pool *kv_pool; /* NULL: a contiguous cache of n_ctx positions allocated at once; else blocks
                          * from this pool (CPU only; kv_type NULL or the pool's) */
} ag_session_params;

ag_session *ag_session_new(const ag_model *model, const ag_session_params *params, ag_error *err);
void ag_session_free(ag_session *session);

/* Runs the tokens through the model at positions n_past.., appending them to the KV cache.
 * With all_logits, logits of every token are kept (ag_session_logits(s, i), i < n); otherwise
 * only the last one's (i = -1 or n-1). AG_ERR_CONTEXT_FULL if n_past + n > n_ctx. */
ag_status ag_session_eval(ag_session *session, const ag_token *tokens, int n, bool all_logits,
                          ag_error *err);
const float *ag_session_logits(const ag_session *session, int i);
int ag_session_n_past(const ag_session *session);
int ag_session_n_ctx(const ag_session *session);
/* Bytes of KV cache one token takes (keys and values of every layer). */
size_t ag_session_kv_bytes_per_token(const ag_session *session);
/* The same for a session of model with kv_type (NULL: f16); 0 when the type does not apply. */
size_t ag_model_kv_bytes_per_token(const ag_model *model, const char *kv_type);
void ag_session_reset(ag_session *session); /* empties the KV cache */
/* Keeps the first n_keep positions of the cache and forgets the rest (n_keep <= n_past), so a
 * conversation can continue from a common prefix. */
void ag_session_truncate(ag_session *session, int n_keep);

/* One decode step of n sessions of the same model at once (continuous batching): tokens[i] is
 * appended to sessions[i] at its own position, and ag_session_logits(sessions[i], -1) gives its
 * next-token logits. The matrix products run over all n rows together (weights read once per
 * step); attention is per session. Each session may appear once; AG_ERR_CONTEXT_FULL when one
 * is full (then nothing is evaluated). */
ag_status ag_session_eval_batch(ag_session *const *sessions, const ag_token *tokens, int n, ag_error *err);

/* Makes dst hold the first n positions of src's KV cache (same model and KV type; n <= src's
 * n_past), so a prefix that src computed (a system prompt, a chat history) is taken rather than
 * recomputed; dst's n_past becomes n. With both caches in the same ag_kv_pool the blocks are
 * shared by reference (a block is copied only when one of them writes into it), else copied (on
 * a GPU: a device-to-device copy). */
ag_status ag_session_copy_prefix(ag_session *dst, const ag_session *src, int n, ag_error *err);

/* A prefix kept apart from sessions (a prompt cache): references to the blocks of the first n
 * positions of a session in a pool (no images among them), valid after the session moves on or
 * is freed; ag_session_load_prefix makes a session of the same pool hold its first n positions
 * (n_past = n). Freeing it releases the blocks no session holds any more. */
typedef struct ag_kv_prefix ag_kv_prefix;
ag_kv_prefix *ag_session_save_prefix(const ag_session *session, int n, ag_error *err);
ag_status ag_session_load_prefix(ag_session *session, const ag_kv_prefix *prefix, int n, ag_error *err);
int ag_kv_prefix_n_past(const ag_kv_prefix *prefix);
void ag_kv_prefix_free(ag_kv_prefix *prefix);
/* Blocks of its pool the session's cache holds (0 for a contiguous cache). */
int ag_session_kv_blocks(const ag_session *session);

/* An abort check for the session's forward passes: fn(ctx) is called between layers (and before
 * the first); when it returns true the pass stops there and ag_session_eval / ag_session_eval_batch
 * return AG_ERR_ABORTED. The positions of the stopped pass are not committed (n_past stays as
 * it was before that pass; with an eval of several n_batch chunks, the chunks already done stay)
 * and the logits are invalid: evaluating the same tokens again gives the same result as if
 * nothing had happened. In eval_batch the check of the session whose scratch runs the step (the
 * largest context) applies. On a GPU, which runs a pass whole, the check is made before each
 * device pass and after it (a pass stopped after it is dropped all the same); with partial
 * offload also between the CPU's layers. fn NULL removes the check; fn must be cheap and
 * thread-safe. */
typedef bool (*ag_abort_fn)(void *ctx);
void ag_session_set_abort(ag_session *session, ag_abort_fn fn, void *ctx);

/* A yield point in the session's forward passes: fn(ctx) is called between layers (and before
 * the first, before the abort check) by the thread that runs the pass, which then continues
 * from the next layer with its state intact. fn may evaluate other sessions of the same model
 * (each has its own cache, scratch and threads), e.g. urgent requests, but never a session that
 * takes part in the pass in flight; it runs one pass at a time on the same thread, so a yield
 * inside fn's own passes must return at once (fn guards against re-entry). In eval_batch the
 * yield of the session whose scratch runs the step (the largest context) applies. On a GPU it is
 * called before each device pass (the pass runs whole; a decode step is one pass). fn NULL
 * removes it. */
typedef void (*ag_yield_fn)(void *ctx);
void ag_session_set_yield(ag_session *session, ag_yield_fn fn, void *ctx);

/* ---------------------------------------------------------------- embeddings */

/* The embedding of a text's tokens into out (ag_model_n_embd floats), L2-normalized: for an
 * embedding model as ag_embed_tokens pools it; for a decoder the mean of its final hidden states
 * (after the output norm) over the tokens. Runs its own
 * forward passes (no session); n_threads 0 = the model's setting. */
ag_status ag_embed(const ag_model *model, const ag_token *tokens, int n, float *out, int n_threads, ag_error *err);

/* Power modes: how much of the machine a session's eval uses, switchable between evals.
 *   performance  all the session's threads, its whole n_batch per forward pass, no cap
 *   balanced     half the threads (at least 1), batches of at most 64 tokens
 *   powersave    1 thread, batches of at most 16 tokens
 * n_threads / n_batch, when not 0, replace the mode's choice (clamped to the session's
 * n_threads and n_batch, which set the memory); max_tokens_per_s > 0 caps the rate of eval by
 * sleeping after each forward pass (prompt and generated tokens alike). */
typedef enum { AG_POWER_PERFORMANCE = 0, AG_POWER_BALANCED = 1, AG_POWER_POWERSAVE = 2 } ag_power_mode;

typedef struct {
    ag_power_mode mode;
    int n_threads;          /* 0 = the mode's choice */
    int n_batch;            /* 0 = the mode's choice */
    double max_tokens_per_s; /* 0 = no cap */
} ag_power_params;

ag_status ag_session_set_power(ag_session *session, const ag_power_params *params, ag_error *err);
/* The settings in effect (mode, and the threads, batch and cap it resolved to). */
ag_power_params ag_session_get_power(const ag_session *session);
/* "performance" / "balanced" / "powersave" -> mode; -1 if unknown. */
int ag_power_mode_from_name(const char *name);

/* NVIDIA GPUs through NVML (libnvidia-ml.so.1 from the driver, loaded at run time): power draw,
 * memory and the power limit. ag_gpu_monitor_open returns NULL when there is no driver or no GPU
 * (or AUTOGLM_NO_NVML=1). Device indices are NVML's (PCI order), which match CUDA's on a machine
 * with one GPU or with CUDA_DEVICE_ORDER=PCI_BUS_ID. */
typedef struct ag_gpu_monitor ag_gpu_monitor;

typedef struct {
    char name[96];
    double power_w;          /* draw now; < 0: not reported */
    double limit_w;          /* power limit in effect; < 0: not reported (also the ones below) */
    double default_limit_w;
    double min_limit_w, max_limit_w; /* the range a limit may be set in */
    uint64_t mem_used, mem_total;    /* bytes of device memory (all processes); 0: not reported */
} ag_gpu_reading;

ag_gpu_monitor *ag_gpu_monitor_open(void);
int ag_gpu_monitor_count(const ag_gpu_monitor *g);
bool ag_gpu_monitor_read(ag_gpu_monitor *g, int device, ag_gpu_reading *r);
/* The power limit a power mode asks for, within [min, max]: performance the default limit,
 * balanced 75% of it, powersave 50%. */
double ag_gpu_power_limit_for_mode(ag_power_mode mode, double default_w, double min_w, double max_w);
/* Sets every GPU's power limit for mode (nvmlDeviceSetPowerManagementLimit; needs root, and some
 * drivers or virtual machines refuse it): AG_OK and *limit_w (may be NULL) the limit of GPU 0 in
 * effect afterwards, or an error whose message says why (e.g. "GPU power limit: not permitted
 * (needs root: Insufficient Permissions)"); nothing changes then. Performance puts back the
 * default limit of the GPUs this monitor changed and leaves the others as they are. */
ag_status ag_gpu_monitor_set_power_mode(ag_gpu_monitor *g, ag_power_mode mode, double *limit_w, ag_error *err);
/* Whether this process may set power limits: re-applies GPU 0's limit in effect (nothing changes)
 * and returns AG_OK, or the refusal as ag_gpu_monitor_set_power_mode gives it. */
ag_status ag_gpu_monitor_can_set(ag_gpu_monitor *g, ag_error *err);
/* Puts back the default limit of every GPU whose limit this monitor changed, then closes. */
void ag_gpu_monitor_close(ag_gpu_monitor *g);

/* ---------------------------------------------------------------- sampling */

typedef struct {
    float temperature;    /* 0 = greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1 = off */
    int repeat_last_n;    /* tokens looked back for the penalty; -1 = n_ctx, 0 = off */
    uint64_t seed;        /* AG_SEED_RANDOM: from the clock */
} ag_sampler_params;

#define AG_SEED_RANDOM UINT64_MAX

/* Ollama's defaults: temperature 0.8, top_k 40, top_p 0.9, min_p 0, repeat_penalty 1.1,
 * repeat_last_n 64, random seed. */
ag_sampler_params ag_sampler_default_params(void);

typedef struct ag_sampler ag_sampler;
ag_sampler *ag_sampler_new(const ag_sampler_params *params, int n_vocab, int n_ctx);
void ag_sampler_free(ag_sampler *s);
/* Picks the next token from logits (n_vocab floats; not modified). */
ag_token ag_sampler_sample(ag_sampler *s, const float *logits);
/* Records a token (prompt or generated) for the repeat penalty. */
void ag_sampler_accept(ag_sampler *s, ag_token token);
void ag_sampler_reset(ag_sampler *s);

/* ---------------------------------------------------------------- constrained output */

/* JSON mode and JSON-schema constrained sampling: a grammar over the model's tokens. Before
 * sampling, ag_json_constraint_apply sets to -INFINITY the logits of tokens whose bytes cannot
 * continue the output as a valid JSON document (valid against the schema when one is given),
 * and of end-of-generation tokens until the document is complete; ag_json_constraint_accept
 * then records the token sampled. Schemas: a subset (type, properties, required,
 * additionalProperties, items, minItems, maxItems, minLength, maxLength, enum, const); objects
 * with "properties" take only those keys. Other keywords are refused with a message. */
typedef struct ag_json_constraint ag_json_constraint;
/* schema NULL or "": any JSON value (JSON mode). */
ag_json_constraint *ag_json_constraint_new(const ag_model *model, const char *schema, ag_error *err);
void ag_json_constraint_free(ag_json_constraint *c);
ag_status ag_json_schema_check(const char *schema, ag_error *err); /* compiles it, nothing more */
void ag_json_constraint_apply(ag_json_constraint *c, float *logits); /* logits: n_vocab, changed in place */
bool ag_json_constraint_accept(ag_json_constraint *c, ag_token token); /* false: not allowed */
bool ag_json_constraint_complete(const ag_json_constraint *c); /* a whole document so far */
bool ag_json_constraint_finished(const ag_json_constraint *c); /* complete, and nothing may follow */
void ag_json_constraint_reset(ag_json_constraint *c);

#ifdef __cplusplus
}
#endif
#endif /* AUTOGLM_H */
