/*
 * gen_synthetic.c - writes a random-weight `llama` GGUF of a real model's shape, for benchmarks
 * and memory measurements (a test tool, not a user command). The weights are normal(0, 0.02)
 * noise; the vocabulary is SentencePiece-style: <unk> <s> </s>, the 256 byte tokens, then
 * made-up pieces. Rows are generated on every core, each from its own stream (see gen_state).
 *
 * usage: gen_synthetic OUT.gguf [--shape tiny|1b|8b|glm4-9b] [--type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1]
 *                      [--vocab N] [--layers N] [--ff N] [--seed N] [--arch llama|glm4]
 * --ff N replaces the shape's feed-forward width (a multiple of 32).
 * --arch glm4 writes GLM-4's layout (GLM-4.1V's text model): partial rotary in M-RoPE sections,
 * [gate; up] in ffn_up, post-attention / post-FFN norms, and the image markers
 * <|begin_of_image|> <|image|> <|end_of_image|> as the vocabulary's last three (control) tokens.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tensor/quant.h"

typedef struct {
    const char *name;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab;
} shape;

static const shape SHAPES[] = {
    {"tiny", 256, 2, 4, 2, 768, 512},
    {"1b", 2048, 16, 32, 8, 8192, 32000},
    {"8b", 4096, 32, 32, 8, 14336, 32000},
    {"glm4-9b", 4096, 40, 32, 2, 13696, 151552}, /* GLM-4-9B's (GLM-4.1V-9B's language model's) shape, as a llama */
};

/* Every row of every tensor has its own random stream, seeded from (seed, tensor number, row), so
 * the rows are made on all cores and a model with fewer layers is the prefix of one with more
 * (the same embedding, output and first blocks: drafts for speculative decoding). */
typedef struct {
    uint64_t seed;
    int tensor; /* tensors written so far */
} gen_state;

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static double uniform(uint64_t *st) { /* xorshift64, in (0, 1) */
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return ((*st >> 11) + 0.5) / 9007199254740992.0;
}

/* row[i] = offset + scale * normal(0, 1), Box-Muller (both values of each pair used) */
static void normal_row(uint64_t st, float *row, int64_t n, float scale, float offset) {
    for (int64_t i = 0; i < n; i += 2) {
        const double r = sqrt(-2.0 * log(uniform(&st))), a = 6.283185307179586 * uniform(&st);
        row[i] = offset + scale * (float)(r * cos(a));
        if (i + 1 < n) row[i + 1] = offset + scale * (float)(r * sin(a));
    }
}

typedef struct {
    uint64_t seed;
    ag_type type;
    const ag_type_traits *tr;
    int64_t cols, nrows, r0, r1;
    size_t rb;
    float scale, offset;
    uint8_t *data;
    int failed;
} rows_job;

static void *make_rows(void *arg) {
    rows_job *j = arg;
    float *row = malloc((size_t)j->cols * sizeof *row);
    if (!row) {
        j->failed = 1;
        return NULL;
    }
    for (int64_t r = j->r0; r < j->r1; r++) {
        normal_row(splitmix64(j->seed ^ splitmix64((uint64_t)r)), row, j->cols, j->scale, j->offset);
        if (j->type == AG_TYPE_F32) memcpy(j->data + r * j->rb, row, j->rb);
        else j->tr->from_float(row, j->data + r * j->rb, j->cols);
    }
    free(row);
    return NULL;
}

/* Adds a (rows, cols) weight of random values in `type` (1-D when rows == 0, always F32). */
static int add_weight(ag_gguf_writer *w, gen_state *g, const char *name, ag_type type, int64_t cols, int64_t rows,
                      float scale, float offset) {
    const ag_type t = rows ? type : AG_TYPE_F32;
    const int64_t nrows = rows ? rows : 1;
    const size_t rb = ag_type_row_size(t, cols);
    uint8_t *data = malloc(rb * (size_t)nrows);
    if (!data) return -1;
    enum { MAX_THREADS = 64 };
    long nt = sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1) nt = 1;
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt > nrows) nt = (long)nrows;
    rows_job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    const uint64_t seed = splitmix64(g->seed ^ splitmix64(0x5EED0000ull + (uint64_t)g->tensor++));
    int failed = 0;
    for (long i = 0; i < nt; i++) {
        jobs[i] = (rows_job){seed, t, ag_type_traits_get(t), cols, nrows, nrows * i / nt, nrows * (i + 1) / nt, rb, scale,
                             offset, data, 0};
        if (pthread_create(&th[i], NULL, make_rows, &jobs[i]) != 0) {
            make_rows(&jobs[i]); /* no thread: this one here */
            th[i] = 0;
        }
    }
    for (long i = 0; i < nt; i++) {
        if (th[i]) pthread_join(th[i], NULL);
        failed |= jobs[i].failed;
    }
    int64_t ne[2] = {cols, nrows};
    ag_status st = failed ? AG_ERR_NOMEM : ag_gguf_add_tensor(w, name, t, rows ? 2 : 1, ne, data, true);
    free(data);
    return st == AG_OK ? 0 : -1;
}

static int add_vocab(ag_gguf_writer *w, int n_vocab, bool image_tokens) {
    char **tokens = calloc((size_t)n_vocab, sizeof *tokens);
    float *scores = calloc((size_t)n_vocab, sizeof *scores);
    int32_t *types = calloc((size_t)n_vocab, sizeof *types);
    if (!tokens || !scores || !types) return -1;
    static const char *letters = "etaoinshrdlucmfwypvbgkjqxz";
    for (int i = 0; i < n_vocab; i++) {
        char buf[64];
        if (i == 0) strcpy(buf, "<unk>"), types[i] = 2;
        else if (i == 1) strcpy(buf, "<s>"), types[i] = 3;
        else if (i == 2) strcpy(buf, "</s>"), types[i] = 3;
        else if (i < 259) snprintf(buf, sizeof buf, "<0x%02X>", i - 3), types[i] = 6;
        else { /* "\u2581" + a letter sequence unique to i */
            int k = i - 259, n = 0;
            strcpy(buf, "\xE2\x96\x81");
            n = 3;
            do {
                buf[n++] = letters[k % 26];
                k /= 26;
            } while (k && n < 60);
            buf[n] = '\0';
            types[i] = 1;
            scores[i] = -(float)i;
        }
        if (image_tokens && i >= n_vocab - 3) { /* GLM-4.1V's image markers, as control tokens */
            static const char *const marks[3] = {"<|begin_of_image|>", "<|image|>", "<|end_of_image|>"};
            strcpy(buf, marks[i - (n_vocab - 3)]);
            types[i] = 3;
            scores[i] = 0;
        }
        tokens[i] = strdup(buf);
    }
    int rc = ag_gguf_set_str(w, "tokenizer.ggml.model", "llama") ||
             ag_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n_vocab) ||
             ag_gguf_set_arr_data(w, "tokenizer.ggml.scores", AG_GGUF_FLOAT32, scores, (uint64_t)n_vocab) ||
             ag_gguf_set_arr_data(w, "tokenizer.ggml.token_type", AG_GGUF_INT32, types, (uint64_t)n_vocab) ||
             ag_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1) ||
             ag_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
             ag_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    for (int i = 0; i < n_vocab; i++) free(tokens[i]);
    free(tokens);
    free(scores);
    free(types);
    return rc ? -1 : 0;
}

int main(int argc, char **argv) {
    const char *out = NULL;
    shape sh = SHAPES[0];
    gen_state g = {0, 0};
    ag_type type = AG_TYPE_F16;
    bool glm4 = false; /* --arch glm4: GLM-4 (GLM-4.1V's text model) layout instead of llama's */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--shape") == 0 && v) {
            size_t k = 0;
            while (k < sizeof SHAPES / sizeof SHAPES[0] && strcmp(SHAPES[k].name, v) != 0) k++;
            if (k == sizeof SHAPES / sizeof SHAPES[0]) { fprintf(stderr, "unknown shape '%s'\n", v); return 2; }
            sh = SHAPES[k];
            i++;
        } else if (strcmp(a, "--type") == 0 && v) {
            int t = ag_type_from_name(v);
            const ag_type_traits *tr = t >= 0 ? ag_type_traits_get((ag_type)t) : NULL;
            if (!tr || !tr->from_float) { fprintf(stderr, "cannot write type '%s'\n", v); return 2; }
            type = (ag_type)t;
            i++;
        } else if (strcmp(a, "--vocab") == 0 && v) sh.n_vocab = atoi(argv[++i]);
        else if (strcmp(a, "--layers") == 0 && v) sh.n_layer = atoi(argv[++i]);
        else if (strcmp(a, "--ff") == 0 && v) sh.n_ff = atoi(argv[++i]);
        else if (strcmp(a, "--seed") == 0 && v) g.seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(a, "--arch") == 0 && v && (strcmp(v, "glm4") == 0 || strcmp(v, "llama") == 0)) glm4 = strcmp(argv[++i], "glm4") == 0;
        else if (a[0] != '-' && !out) out = a;
        else { fprintf(stderr, "usage: gen_synthetic OUT.gguf [--shape tiny|1b|8b|glm4-9b] [--type T] [--vocab N] [--layers N] [--ff N] [--seed N] [--arch llama|glm4]\n"); return 2; }
    }
    if (!out || sh.n_vocab < 300 || sh.n_layer < 1 || sh.n_ff < 32 || sh.n_ff % 32 != 0) {
        fprintf(stderr, "usage: gen_synthetic OUT.gguf [--shape tiny|1b|8b|glm4-9b] [--type T] [--vocab N>=300] [--layers N] [--ff N (a multiple of 32)]\n");
        return 2;
    }
    ag_gguf_writer *w = ag_gguf_writer_new();
    const int hd = sh.n_embd / sh.n_head;
    const char *arch = glm4 ? "glm4" : "llama";
    char key[96];
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    /* glm4: half the head rotated (partial rotary), in M-RoPE sections t/h/w of the rotated pairs
     * (GLM-4.1V: 8, 12, 12 of 32), so that prompts with images get their (t, h, w) positions */
    const int n_rot = glm4 ? hd / 2 : hd, pairs = n_rot / 2, sec_t = pairs / 4, sec_h = (pairs - sec_t) / 2;
    const int32_t sections[4] = {sec_t, sec_h, pairs - sec_t - sec_h, 0};
    int rc = !w || ag_gguf_set_str(w, "general.architecture", arch) ||
             ag_gguf_set_str(w, "general.name", "synthetic") ||
             ag_gguf_set_u32(w, KEY("context_length"), 32768) ||
             ag_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)sh.n_embd) ||
             ag_gguf_set_u32(w, KEY("block_count"), (uint32_t)sh.n_layer) ||
             ag_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)sh.n_ff) ||
             ag_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)sh.n_head) ||
             ag_gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)sh.n_head_kv) ||
             ag_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)n_rot) ||
             ag_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f) ||
             ag_gguf_set_f32(w, KEY("rope.freq_base"), glm4 ? 10000.0f : 500000.0f) ||
             (glm4 && ag_gguf_set_arr_data(w, KEY("rope.dimension_sections"), AG_GGUF_INT32, sections, 4)) ||
             add_vocab(w, sh.n_vocab, glm4);
#undef KEY
    rc = rc || add_weight(w, &g, "token_embd.weight", type, sh.n_embd, sh.n_vocab, 0.02f, 0) ||
         add_weight(w, &g, "output_norm.weight", type, sh.n_embd, 0, 0.02f, 1.0f) ||
         add_weight(w, &g, "output.weight", type, sh.n_embd, sh.n_vocab, 0.02f, 0);
    for (int l = 0; l < sh.n_layer && !rc; l++) {
        char name[64];
#define W(suffix, cols, rows, off) (snprintf(name, sizeof name, "blk.%d." suffix ".weight", l), add_weight(w, &g, name, type, cols, rows, 0.02f, off))
        rc = W("attn_norm", sh.n_embd, 0, 1.0f) || W("attn_q", sh.n_embd, sh.n_head * hd, 0) ||
             W("attn_k", sh.n_embd, sh.n_head_kv * hd, 0) || W("attn_v", sh.n_embd, sh.n_head_kv * hd, 0) ||
             W("attn_output", sh.n_head * hd, sh.n_embd, 0) || W("ffn_norm", sh.n_embd, 0, 1.0f) ||
             (glm4 ? W("ffn_up", sh.n_embd, 2 * sh.n_ff, 0) /* [gate; up] */
                   : W("ffn_gate", sh.n_embd, sh.n_ff, 0) || W("ffn_up", sh.n_embd, sh.n_ff, 0)) ||
             W("ffn_down", sh.n_ff, sh.n_embd, 0) ||
             (glm4 && (W("post_attention_norm", sh.n_embd, 0, 1.0f) || W("post_ffw_norm", sh.n_embd, 0, 1.0f)));
#undef W
    }
    ag_error err = {0};
    if (!rc && ag_gguf_writer_write(w, out, &err) != AG_OK) {
        fprintf(stderr, "gen_synthetic: %s\n", err.msg);
        rc = 1;
    } else if (rc) fprintf(stderr, "gen_synthetic: failed to build the model\n");
    ag_gguf_writer_free(w);
    return rc ? 1 : 0;
}
