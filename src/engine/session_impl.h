/*
 * session_impl.h - the inside of an ag_session, shared by the engine files that work on
 * sessions: session.c (one sequence), batch.c (one decode step of several sessions) and
 * session_share.c (copying a cached prefix between sessions). Not for other files.
 */
#ifndef AG_ENGINE_SESSION_IMPL_H
#define AG_ENGINE_SESSION_IMPL_H

#include "base/threadpool.h"
#include "model/forward.h"

struct ag_session {
    const ag_model *model;
    ag_threadpool *pool;
    ag_kv_cache kv;
    ag_fwd_scratch scratch;
    struct ag_cuda_session *gpu; /* non-NULL: the model is on a GPU; kv and scratch stay empty, or hold
                                    the CPU's layers with partial offload (ag_gpu_partial) */
    uint64_t gpu_bytes;          /* device bytes of gpu (KV cache + scratch), counted in the model */
    int n_ctx;
    int n_batch;        /* tokens per forward pass now (<= n_batch_max, the scratch's size) */
    int n_batch_max;
    ag_power_params power; /* resolved: n_threads and n_batch filled in */
    double next_ok;     /* rate cap: monotonic time the next forward pass may start */
    int n_past;
    float *logits;      /* (n_logits_cap, n_vocab) */
    int n_logits_cap;   /* rows the logits buffer holds */
    int n_logits;       /* rows valid after the last eval */
    float *batch_logits; /* (batch_cap, n_vocab) a batched step's logits when this session leads it */
    int batch_cap;
    bool logits_pinned, batch_logits_pinned; /* page-locked for the device's copies (ag_gpu_pin) */
    /* multimodal rotary (session_image.c): after images, cache position p rotates at p + pos_delta;
     * mm_marks[i] = {cache position where image run i ends, pos_delta from there on} */
    int pos_delta;
    int (*mm_marks)[2];
    int n_mm_marks, cap_mm_marks;
};

/* Keeps the image marks below n_keep and the rotary delta they give (truncate, reset). */
void ag_session_mm_truncate(ag_session *s, int n_keep);
/* dst takes src's image marks of its first n positions (copy_prefix). */
ag_status ag_session_mm_copy(ag_session *dst, const ag_session *src, int n, ag_error *err);

/* Grows the logits buffer to hold `rows` rows of n_vocab. */
ag_status ag_session_reserve_logits(ag_session *s, int rows, ag_error *err);
/* The KV cache type of a kv_type name (ag_session_params.kv_type) for a model of head_dim. */
ag_status ag_session_kv_type_parse(const char *name, int head_dim, ag_type *type, ag_error *err);

#endif
