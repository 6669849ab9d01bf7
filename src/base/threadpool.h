/*
 * threadpool.h - persistent worker threads that run one parallel loop at a time.
 *
 * ag_threadpool_run(pool, fn, ctx, n) calls fn(ctx, i, thread) for every i in [0, n), spread
 * over the workers and the calling thread, and returns when all calls are done. Tasks are taken
 * from a shared atomic counter, so uneven tasks balance themselves. `thread` (0..n_threads-1)
 * lets a task use per-thread scratch memory. Workers spin briefly, then sleep on a condition
 * variable between loops. The pool is not reentrant: one run at a time.
 */
#ifndef AG_BASE_THREADPOOL_H
#define AG_BASE_THREADPOOL_H

#include <stdint.h>

typedef struct ag_threadpool ag_threadpool;
typedef void (*ag_task_fn)(void *ctx, int64_t task, int thread);

/* n_threads includes the caller; 1 means no worker threads. Returns NULL on failure. */
ag_threadpool *ag_threadpool_new(int n_threads);
void ag_threadpool_free(ag_threadpool *pool);
/* Threads that take part in runs (the caller included): all of them unless set lower. */
int ag_threadpool_n_threads(const ag_threadpool *pool);
int ag_threadpool_max_threads(const ag_threadpool *pool);
/* Lets only n (1..max) threads take part in the following runs; the others sleep. Call it
 * between runs, never during one. */
void ag_threadpool_set_active(ag_threadpool *pool, int n);
void ag_threadpool_run(ag_threadpool *pool, ag_task_fn fn, void *ctx, int64_t n_tasks);

/* Whether a parallel loop over `work_bytes` of data is worth waking the workers for: below
 * AG_PARALLEL_MIN_BYTES the dispatch costs more than it saves. Pass NULL as the pool to
 * ag_threadpool_run to run on the calling thread. */
#define AG_PARALLEL_MIN_BYTES (256 * 1024)
static inline int ag_parallel_worth_it(uint64_t work_bytes) { return work_bytes >= AG_PARALLEL_MIN_BYTES; }

/* Number of CPU cores the process may use (at least 1). */
int ag_cpu_count(void);

#endif
