/*
 * test_sched.c - the server's scheduler (src/server/sched.c) on stories260K, greedy: an interactive
 * request that arrives during a batch-class forward pass runs inside that pass's yield point
 * (between layers) and gives exactly the tokens it gives alone, and the batch requests around it
 * give exactly their tokens alone too; an interactive request cancelled while it runs inside a
 * yield ends as "cancel" and frees everything (run under ASan), the batch work going on
 * unchanged. The yield hook of sched_config submits and cancels from inside the worker, so what
 * runs where does not depend on timing.
 * With images (the GLM-4.1V fixture of tests/data/glm4v and its projector): batch requests with
 * images, and an interactive one with another image that runs inside their passes' yield, give
 * exactly their tokens alone (positions after an image survive the yield and the batched decode).
 * Aging: under a long interactive generation, batch work still advances (batch_every turns).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/api.h"
#include "server/sched.h"
#include "server/vision.h"
#include "test.h"

enum { N_BATCH = 3, BATCH_TOKENS = 24, INTER_TOKENS = 12, MAX_TOK = 256, AGING_BATCH = 8, AGING_INTER = 160 };

static const char *const batch_texts[N_BATCH] = {"Once upon a time, there was a little girl", "The cat sat on",
                                                 "Tom and Sue went to the park to play with a big red ball."};
static const char *const inter_text = "Lily liked to draw. She drew a sun";

typedef struct {
    ag_token t[MAX_TOK];
    int n;
    char reason[16];
} result;

/* What the yield hook does: after `submit_at` yield points outside a yield, submits `inter`;
 * at the `cancel_at`-th yield point inside a yield (0: never), cancels it. */
typedef struct {
    sched_model *m;
    job *_Atomic inter; /* set by the test thread, read by the worker */
    int submit_at, cancel_at;
    atomic_int outer, nested;
    atomic_bool submitted;
} hook_state;

static void hook(void *ctx, bool nested) {
    hook_state *h = ctx;
    job *inter = atomic_load(&h->inter);
    if (!inter) return;
    if (nested) {
        if (atomic_fetch_add(&h->nested, 1) + 1 == h->cancel_at) job_cancel(inter);
        return;
    }
    if (atomic_fetch_add(&h->outer, 1) + 1 == h->submit_at) {
        CHECK(sched_submit(h->m, inter) == 0);
        atomic_store(&h->submitted, true);
    }
}

/* Yield points of one pass: the CPU yields between layers, the GPU before each pass (it runs a pass
 * whole), so the points at which the hooks act are counted in passes times this. */
static int points_per_pass(const ag_model *model) {
    return ag_model_gpu_layers(model) > 0 ? 1 : ag_model_n_layer(model);
}

static job *new_job(const ag_model *model, const char *text, int n_predict, int prio) {
    ag_token tok[MAX_TOK];
    int n = ag_tokenize(model, text, strlen(text), tok, MAX_TOK, true, false);
    CHECK(n > 0);
    gen_options o;
    gen_options_default(&o);
    o.num_predict = n_predict;
    o.sp.temperature = 0; /* greedy */
    return job_new_generate(tok, n, &o, prio);
}

/* Waits for the job's end, keeps its tokens and reason, frees it; returns its total_ns. */
static int64_t collect(job *j, result *r) {
    bool done = false;
    while (!done) {
        char *text;
        size_t len;
        CHECK(job_wait(j, -1, 1000, &text, &len, &done) == 0);
        free(text);
    }
    const ag_token *t = job_tokens(j, &r->n);
    CHECK(r->n <= MAX_TOK);
    memcpy(r->t, t, (size_t)r->n * sizeof *t);
    snprintf(r->reason, sizeof r->reason, "%s", job_get_stats(j)->done_reason ? job_get_stats(j)->done_reason : "");
    CHECK_MSG(!job_get_stats(j)->error[0], "%s", job_get_stats(j)->error);
    const int64_t total = job_get_stats(j)->total_ns;
    job_finish(j);
    return total;
}

static bool same(const result *a, const result *b) {
    return a->n == b->n && memcmp(a->t, b->t, (size_t)a->n * sizeof a->t[0]) == 0;
}

/* A model store under $AUTOGLM_TEST_TMP holding stories260K as "m"; its root into root (1024). */
static void stories_store(char *root) {
    char model_path[1024];
    const char *tmp = getenv("AUTOGLM_TEST_TMP");
    snprintf(root, 1024, "%s/test_sched_store", tmp ? tmp : "/tmp");
    snprintf(model_path, sizeof model_path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    struct stat stt;
    CHECK(stat(model_path, &stt) == 0);
    store_manifest man = {0};
    snprintf(man.name, sizeof man.name, "m:latest");
    man.path = model_path;
    man.size = (uint64_t)stt.st_size;
    st_error se = {0};
    CHECK_MSG(store_write(root, &man, &se) == ST_OK, "%s", se.msg);
}

/* A scheduler on that store (the hook state h, or none) with model "m" acquired; NULL on failure. */
static sched *stories_sched(const char *root, hook_state *h, int batch_every, sched_model **m) {
    sched_config cfg = {.store_root = root, .n_parallel = 4, .max_queue = 16, .num_ctx = 256, .n_threads = 2,
                        .keep_alive_ns = -1, .yield_hook = h ? hook : NULL, .yield_hook_ctx = h,
                        .batch_every = batch_every};
    sched *s = sched_new(&cfg);
    double load_s;
    char err[256];
    *m = NULL;
    CHECK_MSG(s && sched_acquire(s, "m", m, &load_s, err, sizeof err) == 0, "%s", err);
    if (!*m) {
        sched_free(s);
        return NULL;
    }
    if (h) h->m = *m;
    return s;
}

static void test_yield(void) {
    char root[1024];
    stories_store(root);
    hook_state h = {0};
    sched_model *m = NULL;
    sched *s = stories_sched(root, &h, 0, &m);
    if (!s) return;
    const ag_model *model = sched_model_model(m);

    /* alone: each request by itself */
    result ref_batch[N_BATCH], ref_inter;
    for (int i = 0; i < N_BATCH; i++) {
        job *j = new_job(model, batch_texts[i], BATCH_TOKENS, PRIO_BATCH);
        CHECK(sched_submit(m, j) == 0);
        collect(j, &ref_batch[i]);
    }
    job *ji = new_job(model, inter_text, INTER_TOKENS, PRIO_INTERACTIVE);
    CHECK(sched_submit(m, ji) == 0);
    collect(ji, &ref_inter);
    CHECK(ref_inter.n > 0 && ref_batch[0].n > 0);

    /* run 0: the interactive request comes during a batch pass and runs in its yield;
     * run 1: the same, cancelled inside the yield (during its own passes) */
    for (int run = 0; run < 2; run++) {
        job *jb[N_BATCH];
        for (int i = 0; i < N_BATCH; i++) jb[i] = new_job(model, batch_texts[i], BATCH_TOKENS, PRIO_BATCH);
        job *inter = new_job(model, inter_text, INTER_TOKENS, PRIO_INTERACTIVE);
        atomic_store(&h.outer, 0);
        atomic_store(&h.nested, 0);
        atomic_store(&h.submitted, false);
        h.submit_at = 8 * points_per_pass(model); /* a few batch steps in */
        h.cancel_at = run == 1 ? (12 * points_per_pass(model) + 4) / 5 : 0; /* 12 on the CPU (5 layers) */
        atomic_store(&h.inter, inter); /* the hook acts from here on */
        for (int i = 0; i < N_BATCH; i++) CHECK(sched_submit(m, jb[i]) == 0);
        result got[N_BATCH], got_inter;
        for (int i = 0; i < N_BATCH; i++) collect(jb[i], &got[i]);
        CHECK(atomic_load(&h.submitted)); /* the batch work lasted past the submission */
        if (!atomic_load(&h.submitted)) { /* never queued: free it here */
            atomic_store(&h.inter, NULL);
            job_finish(inter);
            continue;
        }
        atomic_store(&h.inter, NULL);
        collect(inter, &got_inter);
        CHECK_MSG(atomic_load(&h.nested) > 0, "run %d: the interactive request did not run inside a yield", run);
        for (int i = 0; i < N_BATCH; i++) CHECK_MSG(same(&got[i], &ref_batch[i]), "run %d: batch request %d differs", run, i);
        if (run == 0) {
            CHECK_MSG(same(&got_inter, &ref_inter), "the interactive request's tokens differ (%d vs %d)", got_inter.n,
                      ref_inter.n);
            CHECK(strcmp(got_inter.reason, ref_inter.reason) == 0);
        } else {
            CHECK_MSG(strcmp(got_inter.reason, "cancel") == 0, "cancelled request ended as '%s'", got_inter.reason);
            CHECK(got_inter.n < ref_inter.n); /* stopped before its end */
        }
    }
    sched_release(m, -1);
    sched_free(s);
}

/* Aging: a long interactive generation submitted during a batch request's pass. With strict
 * priority (batch_every huge) the batch request ends after it; with batch_every 2 the batch request
 * advances between interactive turns and ends first. Both give their tokens of running alone.
 * Returns (end of the batch request) - (end of the interactive one), in ns. */
static int64_t aging_run(const char *root, int batch_every, const result *ref_b, const result *ref_i) {
    hook_state h = {0};
    sched_model *m = NULL;
    sched *s = stories_sched(root, &h, batch_every, &m);
    if (!s) return 0;
    h.submit_at = (12 * points_per_pass(sched_model_model(m)) + 4) / 5; /* a few batch passes in */
    const int64_t t_b = sched_now_ns();
    job *jb = new_job(sched_model_model(m), batch_texts[0], AGING_BATCH, PRIO_BATCH);
    const int64_t t_i = sched_now_ns();
    job *ji = new_job(sched_model_model(m), inter_text, AGING_INTER, PRIO_INTERACTIVE);
    atomic_store(&h.inter, ji);
    CHECK(sched_submit(m, jb) == 0);
    result gb, gi;
    const int64_t end_b = t_b + collect(jb, &gb);
    CHECK_MSG(atomic_load(&h.submitted), "batch_every %d: the interactive request was not submitted", batch_every);
    atomic_store(&h.inter, NULL);
    const int64_t end_i = atomic_load(&h.submitted) ? t_i + collect(ji, &gi) : end_b;
    if (!atomic_load(&h.submitted)) job_finish(ji);
    else CHECK_MSG(same(&gb, ref_b) && same(&gi, ref_i), "batch_every %d: tokens differ from alone", batch_every);
    sched_release(m, -1);
    sched_free(s);
    return end_b - end_i;
}

static void test_batch_aging(void) {
    char root[1024];
    stories_store(root);
    sched_model *m = NULL;
    sched *s = stories_sched(root, NULL, 0, &m);
    if (!s) return;
    result ref_b, ref_i; /* alone */
    job *j = new_job(sched_model_model(m), batch_texts[0], AGING_BATCH, PRIO_BATCH);
    CHECK(sched_submit(m, j) == 0);
    collect(j, &ref_b);
    j = new_job(sched_model_model(m), inter_text, AGING_INTER, PRIO_INTERACTIVE);
    CHECK(sched_submit(m, j) == 0);
    collect(j, &ref_i);
    sched_release(m, -1);
    sched_free(s);
    CHECK(ref_i.n > ref_b.n && ref_b.n > 0);
    const int64_t strict = aging_run(root, 1 << 30, &ref_b, &ref_i), aged = aging_run(root, 2, &ref_b, &ref_i);
    CHECK_MSG(strict > 0, "strict priority: the batch request ended %.1f ms before the interactive one", -strict * 1e-6);
    CHECK_MSG(aged < 0, "aging: the batch request ended %.1f ms after the interactive one", aged * 1e-6);
}

/* A greedy generation of the fixture's chat prompt with one image (tests/data/image/NAME). */
static job *image_job(sched_model *m, const char *name, int n_predict, int prio) {
    ag_vision *v = sched_model_vision(m);
    char path[1024];
    snprintf(path, sizeof path, "%s/data/image/%s", AG_TEST_SOURCE_DIR, name);
    ag_image img = {0};
    ag_error e = {0};
    CHECK_MSG(ag_image_load_file(path, &img, &e) == AG_OK, "%s", e.msg);
    const char *text = "[gMASK]<sop><|user|>\n" VISION_IMAGE_TEXT "Describe it.<|assistant|>\n";
    ag_token tok[MAX_TOK], *expanded = NULL;
    int n = ag_tokenize(sched_model_model(m), text, strlen(text), tok, MAX_TOK, false, true), n_exp = 0, n_img = 0, order = 0;
    ag_image_patches *p = NULL;
    char err[256];
    CHECK(n > 0 && v);
    CHECK_MSG(vision_preprocess(v, &img, &order, 1, &p, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(vision_expand(v, p, 1, tok, n, &expanded, &n_exp, &n_img, err, sizeof err) == 0, "%s", err);
    ag_image_free(&img);
    gen_options o;
    gen_options_default(&o);
    o.num_predict = n_predict;
    o.sp.temperature = 0;
    job *j = job_new_generate(expanded, n_exp, &o, prio);
    free(expanded);
    CHECK(j && job_set_images(j, p, 1, ag_vision_image_token(v)));
    return j;
}

static void test_yield_images(void) {
    char root[1024], lm[1100], mm[1100], dir[1024];
    const char *tmp = getenv("AUTOGLM_TEST_TMP");
    snprintf(root, sizeof root, "%s/test_sched_vision_store", tmp ? tmp : "/tmp");
    snprintf(lm, sizeof lm, "%s/test_sched_glm4v.gguf", tmp ? tmp : "/tmp");
    snprintf(mm, sizeof mm, "%s/test_sched_glm4v-mmproj.gguf", tmp ? tmp : "/tmp");
    snprintf(dir, sizeof dir, "%s/data/glm4v", AG_TEST_SOURCE_DIR);
    ag_convert_params cp = {.type = "f32", .mmproj = mm};
    ag_error ae = {0};
    CHECK_MSG(ag_convert(dir, lm, &cp, &ae) == AG_OK, "convert: %s", ae.msg);
    struct stat stt;
    CHECK(stat(lm, &stt) == 0);
    store_manifest man = {0};
    snprintf(man.name, sizeof man.name, "v:latest");
    man.path = lm;
    man.projector = mm;
    man.size = (uint64_t)stt.st_size;
    st_error se = {0};
    CHECK_MSG(store_write(root, &man, &se) == ST_OK, "%s", se.msg);

    hook_state h = {0};
    sched_config cfg = {.store_root = root, .n_parallel = 4, .max_queue = 16, .num_ctx = 256, .n_threads = 2,
                        .keep_alive_ns = -1, .yield_hook = hook, .yield_hook_ctx = &h};
    sched *s = sched_new(&cfg);
    sched_model *m = NULL;
    double load_s;
    char err[256];
    CHECK_MSG(sched_acquire(s, "v", &m, &load_s, err, sizeof err) == 0, "%s", err);
    if (!m) return;
    h.m = m;
    static const char *const batch_images[N_BATCH] = {"rgba_308x70.png", "small_rgb_40x30.png", "cmyk_32x24.jpg"};
    static const char *const inter_image = "palette_trns_24x16.png";
    result ref_batch[N_BATCH], ref_inter, got[N_BATCH], got_inter;
    for (int i = 0; i < N_BATCH; i++) { /* alone */
        job *j = image_job(m, batch_images[i], BATCH_TOKENS, PRIO_BATCH);
        CHECK(sched_submit(m, j) == 0);
        collect(j, &ref_batch[i]);
    }
    job *ji = image_job(m, inter_image, INTER_TOKENS, PRIO_INTERACTIVE);
    CHECK(sched_submit(m, ji) == 0);
    collect(ji, &ref_inter);
    job *jb[N_BATCH];
    for (int i = 0; i < N_BATCH; i++) jb[i] = image_job(m, batch_images[i], BATCH_TOKENS, PRIO_BATCH);
    job *inter = image_job(m, inter_image, INTER_TOKENS, PRIO_INTERACTIVE);
    atomic_store(&h.outer, 0);
    atomic_store(&h.nested, 0);
    atomic_store(&h.submitted, false);
    h.submit_at = 12; /* 2 layers: a few batch passes in (prefills with images, then decode steps) */
    h.cancel_at = 0;
    atomic_store(&h.inter, inter);
    for (int i = 0; i < N_BATCH; i++) CHECK(sched_submit(m, jb[i]) == 0);
    for (int i = 0; i < N_BATCH; i++) collect(jb[i], &got[i]);
    CHECK(atomic_load(&h.submitted));
    atomic_store(&h.inter, NULL);
    if (atomic_load(&h.submitted)) {
        collect(inter, &got_inter);
        CHECK_MSG(atomic_load(&h.nested) > 0, "the interactive image request did not run inside a yield");
        CHECK_MSG(same(&got_inter, &ref_inter), "the interactive image request's tokens differ");
    } else {
        job_finish(inter);
    }
    for (int i = 0; i < N_BATCH; i++) CHECK_MSG(same(&got[i], &ref_batch[i]), "batch image request %d differs", i);
    sched_release(m, -1);
    sched_free(s);
}

TEST_MAIN(TEST(test_yield), TEST(test_batch_aging), TEST(test_yield_images))
