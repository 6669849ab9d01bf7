/*
 * bench_tokenize.c - tokenizer speed: one thread tokenizes about 1 MB of mixed text with one
 * vocabulary of each family (SentencePiece, byte-level BPE with several pre-tokenizers,
 * WordPiece) and prints the seconds each took.
 *
 *   bench_tokenize [--shared DIR] [--bytes N] [--reps R] [--vocab NAME]...
 *
 * The vocabularies are DIR/tokenizer-vectors/ggml-vocab-NAME.gguf (DIR: --shared, else
 * $AUTOGLM_SHARED, else ../shared); a missing one is reported and skipped. The text is made here,
 * deterministically (a fixed generator over fixed paragraphs): English prose, Chinese prose,
 * C and Python code, numbers and dates, a little punctuation and whitespace of every kind,
 * cut at N bytes (default 1,048,576) on a character boundary. Each vocabulary tokenizes the
 * whole text in one call, R times (default 3); the best time is printed, with tokens and MB/s.
 * Not a test: CTest does not run it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

/* ---------------------------------------------------------------- the text */

static const char *const PARAGRAPHS[] = {
    "The quick brown fox jumps over the lazy dog. It wasn't the first time; the dog, they'd say, "
    "had seen it all before. Meanwhile, in the village, people went about their business as usual.\n",
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine "
    "with her friends, and every evening her mother called: \"Lily! Dinner's ready!\"\n\n",
    "Large language models predict the next token from the previous ones. Tokenizers turn text into "
    "those tokens: SentencePiece, byte-level BPE and WordPiece are the three common families.\n",
    "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD\xEF\xBC\x8C\xE6\x88\x91\xE4\xBB"
    "\xAC\xE5\x8E\xBB\xE5\x85\xAC\xE5\x9B\xAD\xE6\x95\xA3\xE6\xAD\xA5\xE3\x80\x82\xE4\xBA\xBA\xE5\xB7\xA5\xE6"
    "\x99\xBA\xE8\x83\xBD\xE6\xAD\xA3\xE5\x9C\xA8\xE6\x94\xB9\xE5\x8F\x98\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x8C"
    "\xE5\xA4\xA7\xE5\x9E\x8B\xE8\xAF\xAD\xE8\xA8\x80\xE6\xA8\xA1\xE5\x9E\x8B\xE5\x8F\xAF\xE4\xBB\xA5\xE5\x9B"
    "\x9E\xE7\xAD\x94\xE9\x97\xAE\xE9\xA2\x98\xE3\x80\x81\xE5\x86\x99\xE4\xBB\xA3\xE7\xA0\x81\xE5\x92\x8C\xE7"
    "\xBF\xBB\xE8\xAF\x91\xE6\x96\x87\xE7\xAB\xA0\xE3\x80\x82\n",
    "\xE5\x8C\x97\xE4\xBA\xAC\xE6\x98\xAF\xE4\xB8\xAD\xE5\x9B\xBD\xE7\x9A\x84\xE9\xA6\x96\xE9\x83\xBD\xEF\xBC"
    "\x8C\xE6\x9C\x89\xE4\xB8\x89\xE5\x8D\x83\xE5\xA4\x9A\xE5\xB9\xB4\xE7\x9A\x84\xE5\x8E\x86\xE5\x8F\xB2\xE3"
    "\x80\x82\xE2\x80\x9C\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x81\xE2\x80\x9D"
    "\xE4\xBB\x96\xE8\xAF\xB4\xE3\x80\x82 Open-AutoGLM \xE6\x94\xAF\xE6\x8C\x81\xE4\xB8\xAD\xE6\x96\x87\xE5"
    "\x92\x8C English \xE6\xB7\xB7\xE5\x90\x88\xE8\xBE\x93\xE5\x85\xA5\xE3\x80\x82\n\n",
    "static int sum(const int *xs, size_t n) {\n    int s = 0;\n    for (size_t i = 0; i < n; i++) s += xs[i];\n"
    "    return s; // 0x7fffffff max\n}\n",
    "def tokenize(text: str) -> list[int]:\n\t\"\"\"Split and encode.\"\"\"\n\treturn [vocab.get(w, 0) for w in "
    "text.split()]  # TODO: merges\n\n",
    "Invoice #2024-0017: 3 items at $19.99, 12.5% VAT, total 1,234,567.89 EUR; due 2026-11-25 at 14:30. "
    "Pi is 3.14159265358979, e = 2.718281828.\n",
    "Caf\xC3\xA9 na\xC3\xAFve r\xC3\xA9sum\xC3\xA9 \xE2\x80\x94 \xC3\x9C""ber \xCE\xB1\xCE\xB2\xCE\xB3 "
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xF0\x9F\x98\x80\xF0\x9F\x9A\x80   spaces\t\ttabs\r\n",
};
enum { N_PARAGRAPHS = sizeof PARAGRAPHS / sizeof PARAGRAPHS[0] };

/* A fixed sequence of paragraphs, some with a number appended; cut at `bytes` on a character
 * boundary. Returns a malloc'd buffer, its length in *len. */
static char *make_text(size_t bytes, size_t *len) {
    char *t = malloc(bytes + 256);
    if (!t) return NULL;
    size_t o = 0;
    uint64_t state = 0x2545F4914F6CDD1Dull;
    while (o < bytes) {
        state = state * 6364136223846793005ull + 1442695040888963407ull; /* LCG */
        uint32_t r = (uint32_t)(state >> 33);
        const char *p = PARAGRAPHS[r % N_PARAGRAPHS];
        size_t n = strlen(p);
        if (o + n > bytes + 255) n = bytes + 255 - o;
        memcpy(t + o, p, n);
        o += n;
        if (r % 3 == 0 && o + 32 < bytes + 255) o += (size_t)snprintf(t + o, 32, "%u ", r % 1000003);
    }
    o = bytes;
    while (o > 0 && ((unsigned char)t[o] & 0xC0) == 0x80) o--; /* t[o] starts a character */
    t[o] = '\0';
    *len = o;
    return t;
}

/* ---------------------------------------------------------------- timing */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ag_vocab *load(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer-vectors/ggml-vocab-%s.gguf", dir, name);
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open(path, &err);
    if (!f) {
        fprintf(stderr, "bench_tokenize: %s: %s (skipped)\n", path, err.msg);
        return NULL;
    }
    ag_vocab *v = ag_vocab_load(f, &err);
    if (!v) fprintf(stderr, "bench_tokenize: %s: %s (skipped)\n", path, err.msg);
    ag_gguf_close(f);
    return v;
}

/* Best of reps, seconds; -1 when tokenizing failed. */
static double bench_one(const ag_vocab *v, const char *text, size_t len, int reps, int *n_tokens) {
    int cap = (int)len + 16; /* no family gives more tokens than bytes, plus specials */
    ag_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return -1;
    double best = -1;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        int n = ag_vocab_tokenize(v, text, len, ids, cap, true, false);
        double t = now_s() - t0;
        if (n < 0) {
            best = -1;
            break;
        }
        *n_tokens = n;
        if (best < 0 || t < best) best = t;
    }
    free(ids);
    return best;
}

int main(int argc, char **argv) {
    const char *dir = getenv("AUTOGLM_SHARED");
    if (!dir || !*dir) dir = "../shared";
    size_t bytes = 1u << 20;
    int reps = 3;
    const char *names[32];
    int n_names = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shared") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc) bytes = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc && n_names < 32) names[n_names++] = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--shared DIR] [--bytes N] [--reps R] [--vocab NAME]...\n", argv[0]);
            return 2;
        }
    }
    if (n_names == 0) {
        static const char *const defaults[] = {"llama-spm", "phi-3",     "gpt-2",    "deepseek-llm",
                                               "falcon",    "starcoder", "bert-bge"};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) names[n_names++] = defaults[i];
    }
    if (bytes == 0 || bytes > (1u << 30) || reps < 1) {
        fprintf(stderr, "bench_tokenize: --bytes 1..2^30, --reps >= 1\n");
        return 2;
    }
    size_t len;
    char *text = make_text(bytes, &len);
    if (!text) {
        fprintf(stderr, "bench_tokenize: out of memory\n");
        return 1;
    }
    printf("text: %zu bytes (English, Chinese, code, numbers), best of %d, one thread\n", len, reps);
    printf("%-14s %-6s %-16s %10s %10s %9s\n", "vocab", "family", "pre", "tokens", "seconds", "MB/s");
    int status = 0;
    for (int i = 0; i < n_names; i++) {
        ag_vocab *v = load(dir, names[i]);
        if (!v) {
            status = 1;
            continue;
        }
        int n_tokens = 0;
        double s = bench_one(v, text, len, reps, &n_tokens);
        const char *pre = ag_vocab_pre(v);
        if (s < 0) {
            fprintf(stderr, "bench_tokenize: %s: tokenizing failed\n", names[i]);
            status = 1;
        } else {
            printf("%-14s %-6s %-16s %10d %10.3f %9.1f\n", names[i], ag_vocab_kind_name(v), pre ? pre : "-",
                   n_tokens, s, (double)len / s / 1e6);
        }
        ag_vocab_free(v);
    }
    free(text);
    return status;
}
