/*
 * sampler.c - choosing the next token from logits, with the meanings of Ollama's options:
 *   repeat_penalty over the last repeat_last_n tokens (positive logits divided, negative
 *   multiplied), then greedy when temperature <= 0; otherwise top_k, temperature, softmax,
 *   top_p (smallest set with cumulative probability >= top_p), min_p (drop tokens below
 *   min_p * max probability), and a draw from what is left with a seeded generator.
 * Owns: the candidate buffer (n_vocab), the ring of recent tokens, the RNG state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoglm/autoglm.h"

typedef struct {
    ag_token id;
    float logit; /* then probability */
} candidate;

struct ag_sampler {
    ag_sampler_params p;
    int n_vocab;
    candidate *cand;   /* (n_vocab) */
    ag_token *recent;  /* ring of the last `recent_cap` accepted tokens */
    int recent_cap, recent_len, recent_head;
    uint64_t rng;      /* xorshift64* state */
};

ag_sampler_params ag_sampler_default_params(void) {
    return (ag_sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.9f, .min_p = 0.0f,
                               .repeat_penalty = 1.1f, .repeat_last_n = 64, .seed = AG_SEED_RANDOM};
}

static uint64_t seed_state(uint64_t seed) {
    if (seed == AG_SEED_RANDOM) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
    }
    /* splitmix64 so that small seeds give well-mixed states (never 0) */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 1;
}

static double next_uniform(ag_sampler *s) { /* in [0, 1) */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

ag_sampler *ag_sampler_new(const ag_sampler_params *params, int n_vocab, int n_ctx) {
    if (n_vocab <= 0) return NULL;
    ag_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = params ? *params : ag_sampler_default_params();
    s->n_vocab = n_vocab;
    s->recent_cap = s->p.repeat_last_n < 0 ? n_ctx : s->p.repeat_last_n;
    if (s->recent_cap < 0) s->recent_cap = 0;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->recent = malloc(((size_t)s->recent_cap + 1) * sizeof *s->recent);
    if (!s->cand || !s->recent) {
        ag_sampler_free(s);
        return NULL;
    }
    s->rng = seed_state(s->p.seed);
    return s;
}

void ag_sampler_free(ag_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->recent);
    free(s);
}

void ag_sampler_reset(ag_sampler *s) {
    s->recent_len = s->recent_head = 0;
    s->rng = seed_state(s->p.seed);
}

void ag_sampler_accept(ag_sampler *s, ag_token t) {
    if (s->recent_cap == 0) return;
    s->recent[s->recent_head] = t;
    s->recent_head = (s->recent_head + 1) % s->recent_cap;
    if (s->recent_len < s->recent_cap) s->recent_len++;
}

static void apply_repeat_penalty(ag_sampler *s) {
    const float pen = s->p.repeat_penalty;
    if (pen == 1.0f || pen <= 0.0f || s->recent_len == 0) return;
    /* each distinct recent token is penalized once (cand[i].id == i at this point) */
    for (int k = 0; k < s->recent_len; k++) {
        ag_token t = s->recent[k];
        if (t < 0 || t >= s->n_vocab) continue;
        bool seen = false;
        for (int j = 0; j < k && !seen; j++) seen = s->recent[j] == t;
        if (seen) continue;
        float *l = &s->cand[t].logit;
        *l = *l > 0 ? *l / pen : *l * pen;
    }
}

static int cmp_desc(const void *a, const void *b) {
    float x = ((const candidate *)a)->logit, y = ((const candidate *)b)->logit;
    return (x < y) - (x > y);
}

static void heap_sift_down(candidate *h, int n, int i) { /* min-heap on logit */
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].logit < h[m].logit) m = l;
        if (r < n && h[r].logit < h[m].logit) m = r;
        if (m == i) return;
        candidate t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Moves the k best candidates to the front, sorted best first: O(n log k). */
static void keep_top_k(candidate *c, int n, int k) {
    if (k < n) {
        for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(c, k, i);
        for (int i = k; i < n; i++)
            if (c[i].logit > c[0].logit) {
                c[0] = c[i];
                heap_sift_down(c, k, 0);
            }
    }
    qsort(c, (size_t)(k < n ? k : n), sizeof *c, cmp_desc);
}

ag_token ag_sampler_sample(ag_sampler *s, const float *logits) {
    const int n = s->n_vocab;
    for (int i = 0; i < n; i++) s->cand[i] = (candidate){i, logits[i]};
    apply_repeat_penalty(s);
    candidate *c = s->cand;
    if (s->p.temperature <= 0.0f) { /* greedy: highest logit, lowest id on ties */
        int best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }
    int m = n;
    if (s->p.top_k > 0 && s->p.top_k < n) m = s->p.top_k;
    keep_top_k(c, n, m);
    /* softmax over the kept candidates at the temperature */
    const float max = c[0].logit;
    double sum = 0;
    for (int i = 0; i < m; i++) {
        c[i].logit = expf((c[i].logit - max) / s->p.temperature);
        sum += c[i].logit;
    }
    for (int i = 0; i < m; i++) c[i].logit = (float)(c[i].logit / sum);
    if (s->p.top_p > 0.0f && s->p.top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < m; i++) {
            cum += c[i].logit;
            if (cum >= s->p.top_p) {
                m = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0.0f) {
        const float floor_p = s->p.min_p * c[0].logit;
        int keep = 1;
        while (keep < m && c[keep].logit >= floor_p) keep++;
        m = keep;
    }
    double total = 0;
    for (int i = 0; i < m; i++) total += c[i].logit;
    double r = next_uniform(s) * total;
    for (int i = 0; i < m; i++) {
        r -= c[i].logit;
        if (r < 0) return c[i].id;
    }
    return c[m - 1].id;
}
