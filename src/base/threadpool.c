/*
 * threadpool.c - the worker pool (see threadpool.h).
 *
 * A run publishes (fn, ctx, n_tasks) and bumps a generation counter; workers notice the new
 * generation (spinning for a short while, then sleeping on `wake`), claim task indices from
 * `next_task` until exhausted, and count themselves out in `n_busy`. The caller works too and
 * then waits for `n_busy` to reach zero.
 */
#include "base/threadpool.h"

#include "autoglm/autoglm.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SPIN_ROUNDS 20000

struct ag_threadpool {
    int n_threads;
    atomic_int n_active;      /* threads that take part in runs (1..n_threads); set between runs */
    pthread_t *workers; /* n_threads - 1 */
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* signalled when a new generation starts or on shutdown */
    pthread_cond_t done;      /* signalled when n_busy drops to 0 */
    atomic_uint generation;
    atomic_bool shutdown;
    atomic_int n_busy;        /* workers still inside the current generation */
    atomic_llong next_task;
    ag_task_fn fn;
    void *ctx;
    int64_t n_tasks;
};

typedef struct {
    ag_threadpool *pool;
    int index;
} worker_arg;

static void run_tasks(ag_threadpool *pool, int thread) {
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&pool->next_task, 1, memory_order_relaxed);
        if (t >= pool->n_tasks) break;
        pool->fn(pool->ctx, t, thread);
    }
}

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    ag_threadpool *pool = arg.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        const bool active = arg.index < atomic_load(&pool->n_active);
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->shutdown)) {
            if (active && ++spins < SPIN_ROUNDS) continue; /* inactive workers go straight to sleep */
            pthread_mutex_lock(&pool->lock);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->shutdown))
                pthread_cond_wait(&pool->wake, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
        }
        if (atomic_load(&pool->shutdown)) return NULL;
        seen = gen;
        if (arg.index >= atomic_load(&pool->n_active)) continue; /* not counted in n_busy */
        run_tasks(pool, arg.index);
        if (atomic_fetch_sub_explicit(&pool->n_busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

ag_threadpool *ag_threadpool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    ag_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    atomic_store(&pool->n_active, n_threads);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
    if (!pool->workers) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (arg) *arg = (worker_arg){pool, i};
        if (!arg || pthread_create(&pool->workers[i - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            pool->n_threads = i; /* keep the ones that started */
            atomic_store(&pool->n_active, i);
            break;
        }
    }
    return pool;
}

void ag_threadpool_free(ag_threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->shutdown, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->workers[i - 1], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->workers);
    free(pool);
}

int ag_threadpool_n_threads(const ag_threadpool *pool) { return pool ? atomic_load(&pool->n_active) : 1; }
int ag_threadpool_max_threads(const ag_threadpool *pool) { return pool ? pool->n_threads : 1; }

void ag_threadpool_set_active(ag_threadpool *pool, int n) {
    if (!pool) return;
    atomic_store(&pool->n_active, n < 1 ? 1 : n > pool->n_threads ? pool->n_threads : n);
}

void ag_threadpool_run(ag_threadpool *pool, ag_task_fn fn, void *ctx, int64_t n_tasks) {
    if (n_tasks <= 0) return;
    const int active = pool ? atomic_load(&pool->n_active) : 1;
    if (active == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_tasks = n_tasks;
    atomic_store(&pool->next_task, 0);
    atomic_store(&pool->n_busy, active - 1);
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    run_tasks(pool, 0);
    int spins = 0;
    while (atomic_load_explicit(&pool->n_busy, memory_order_acquire) > 0) {
        if (++spins < SPIN_ROUNDS) continue;
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->n_busy) > 0) pthread_cond_wait(&pool->done, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Physical cores among the CPUs we may use: distinct (package, core) pairs from sysfs;
 * falls back to the logical count. */
int ag_default_threads(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return ag_cpu_count();
    int seen[1024][2], n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < 1024; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        int ids[2] = {-1, -1};
        const char *names[2] = {"physical_package_id", "core_id"};
        for (int k = 0; k < 2; k++) {
            char path[128];
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/%s", cpu, names[k]);
            FILE *f = fopen(path, "r");
            if (!f || fscanf(f, "%d", &ids[k]) != 1) ids[k] = -1;
            if (f) fclose(f);
        }
        if (ids[1] < 0) return ag_cpu_count();
        int dup = 0;
        for (int i = 0; i < n && !dup; i++) dup = seen[i][0] == ids[0] && seen[i][1] == ids[1];
        if (!dup) seen[n][0] = ids[0], seen[n][1] = ids[1], n++;
    }
    return n > 0 ? n : ag_cpu_count();
}

int ag_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
