/*
 * test_base.c - the base layer: the thread pool runs every task exactly once across threads
 * (many runs in a row, uneven tasks), and the UTF-8 helpers find incomplete tails and reject
 * invalid sequences.
 */
#include <stdatomic.h>

#include "base/threadpool.h"
#include "base/utf8.h"
#include "test.h"

typedef struct {
    atomic_int hits[1000];
    atomic_int bad_thread;
    int n_threads;
} pool_ctx;

static void count_task(void *ctx, int64_t task, int thread) {
    pool_ctx *c = ctx;
    atomic_fetch_add(&c->hits[task], 1);
    if (thread < 0 || thread >= c->n_threads) atomic_fetch_add(&c->bad_thread, 1);
}

static void test_threadpool(void) {
    for (int nt = 1; nt <= 4; nt++) {
        ag_threadpool *pool = ag_threadpool_new(nt);
        CHECK(pool != NULL);
        CHECK(ag_threadpool_n_threads(pool) == nt);
        static pool_ctx c;
        c.n_threads = nt;
        for (int run = 0; run < 200; run++) {
            int n = 1 + (run * 37) % 1000;
            for (int i = 0; i < 1000; i++) atomic_store(&c.hits[i], 0);
            ag_threadpool_run(pool, count_task, &c, n);
            int wrong = 0;
            for (int i = 0; i < 1000; i++) wrong += atomic_load(&c.hits[i]) != (i < n);
            CHECK_MSG(wrong == 0, "threads %d run %d: %d tasks not run exactly once", nt, run, wrong);
        }
        CHECK(atomic_load(&c.bad_thread) == 0);
        ag_threadpool_free(pool);
    }
    CHECK(ag_cpu_count() >= 1);
}

/* Fewer active threads (power modes): every task still runs once, only on threads below the
 * active count; switching back and forth between runs works. */
static void test_threadpool_active(void) {
    ag_threadpool *pool = ag_threadpool_new(4);
    CHECK(pool != NULL);
    static pool_ctx c;
    const int actives[] = {1, 3, 2, 4, 1, 9};
    for (size_t k = 0; k < sizeof actives / sizeof actives[0]; k++) {
        ag_threadpool_set_active(pool, actives[k]);
        const int want = actives[k] > 4 ? 4 : actives[k];
        CHECK(ag_threadpool_n_threads(pool) == want && ag_threadpool_max_threads(pool) == 4);
        c.n_threads = want;
        atomic_store(&c.bad_thread, 0);
        for (int run = 0; run < 50; run++) {
            for (int i = 0; i < 1000; i++) atomic_store(&c.hits[i], 0);
            ag_threadpool_run(pool, count_task, &c, 500);
            int wrong = 0;
            for (int i = 0; i < 1000; i++) wrong += atomic_load(&c.hits[i]) != (i < 500);
            CHECK_MSG(wrong == 0, "active %d run %d: %d tasks not run exactly once", want, run, wrong);
        }
        CHECK_MSG(atomic_load(&c.bad_thread) == 0, "active %d: a task ran on an inactive thread", want);
    }
    ag_threadpool_free(pool);
}

static void test_utf8(void) {
    CHECK(ag_utf8_incomplete_tail("abc", 3) == 0);
    CHECK(ag_utf8_incomplete_tail("ab\xE4", 3) == 1);
    CHECK(ag_utf8_incomplete_tail("ab\xE4\xB8", 4) == 2);
    CHECK(ag_utf8_incomplete_tail("ab\xE4\xB8\xAD", 5) == 0);
    CHECK(ag_utf8_incomplete_tail("\xF0\x9F\x98", 3) == 3);
    CHECK(ag_utf8_incomplete_tail("\x80", 1) == 0); /* stray continuation: not held back */
    CHECK(ag_utf8_valid("h\xC3\xA9llo \xE4\xB8\xAD \xF0\x9F\x98\x80", 15));
    CHECK(!ag_utf8_valid("\xC0\xAF", 2));         /* overlong */
    CHECK(!ag_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    CHECK(!ag_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!ag_utf8_valid("\xE4\xB8", 2));         /* incomplete */
}

TEST_MAIN(TEST(test_threadpool), TEST(test_threadpool_active), TEST(test_utf8))
