/*
 * jinja_arena.c - memory, limits and error unwinding of one template render.
 *
 * The arena hands out zeroed memory from malloc'd blocks and frees them all in
 * jx_state_release(). Its total is capped (lim.max_memory), like the work counter (lim.max_steps),
 * so that a hostile template fails cleanly instead of exhausting the process. Errors format their
 * message into the caller's ag_error and longjmp back to jx_protected(); nothing else holds memory
 * outside the arena, so nothing leaks.
 */
#include "tokenizer/jinja_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jx_block {
    jx_block *next;
    size_t used, cap;
    max_align_t data[];
};

enum { JX_BLOCK_BYTES = 64 * 1024 };

bool jx_protected(jx_state *st, void (*fn)(jx_state *, void *), void *arg) {
    jmp_buf jb;
    jmp_buf *saved = st->jmp;
    st->jmp = &jb;
    if (setjmp(jb)) {
        st->jmp = saved;
        return false;
    }
    fn(st, arg);
    st->jmp = saved;
    return true;
}

void jx_state_release(jx_state *st) {
    jx_block *b = st->blocks;
    while (b) {
        jx_block *next = b->next;
        free(b);
        b = next;
    }
    st->blocks = NULL;
    st->mem_used = 0;
}

_Noreturn static void jx_unwind(jx_state *st) {
    longjmp(*st->jmp, 1);
}

_Noreturn void jx_fail_nomem(jx_state *st) {
    ag_error_set(st->err, AG_ERR_NOMEM, "chat template: out of memory");
    jx_unwind(st);
}

void *jx_alloc(jx_state *st, size_t n) {
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (n == 0) n = sizeof(max_align_t);
    jx_block *b = st->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > JX_BLOCK_BYTES / 4 ? n : JX_BLOCK_BYTES;
        if (n > st->lim.max_memory || st->mem_used > st->lim.max_memory - n)
            jx_fail(st, "rendering needs more than %zu bytes of memory", st->lim.max_memory);
        jx_block *nb = malloc(sizeof *nb + cap);
        if (!nb) jx_fail_nomem(st);
        nb->used = 0;
        nb->cap = cap;
        st->mem_used += cap;
        if (b && cap != JX_BLOCK_BYTES) {
            /* a big one-off block goes behind the current one, which keeps serving small ones */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            st->blocks = nb;
        }
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void *jx_grow(jx_state *st, void *old, size_t old_bytes, size_t new_bytes) {
    void *p = jx_alloc(st, new_bytes);
    if (old_bytes) memcpy(p, old, old_bytes < new_bytes ? old_bytes : new_bytes);
    return p;
}

char *jx_strdup(jx_state *st, const char *p, size_t n) {
    char *d = jx_alloc(st, n + 1);
    if (n) memcpy(d, p, n);
    return d;
}

void jx_charge(jx_state *st, uint64_t units) {
    st->steps += units;
    if (st->steps > st->lim.max_steps)
        jx_fail(st, "rendering takes more than %llu steps", (unsigned long long)st->lim.max_steps);
}

void jx_buf_put(jx_state *st, jx_buf *b, const char *p, size_t n) {
    if (n == 0) return;
    if (n > st->lim.max_output || b->n > st->lim.max_output - n)
        jx_fail(st, "rendered text is longer than %zu bytes", st->lim.max_output);
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) cap *= 2;
        b->p = jx_grow(st, b->p, b->n, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    if (n >= 64) jx_charge(st, n / 64);
}

void jx_buf_putc(jx_state *st, jx_buf *b, char c) {
    jx_buf_put(st, b, &c, 1);
}

void jx_buf_printf(jx_state *st, jx_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        jx_buf_put(st, b, tmp, (size_t)k);
        return;
    }
    char *big = jx_alloc(st, (size_t)k + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    jx_buf_put(st, b, big, (size_t)k);
}

_Noreturn void jx_fail_syntax(jx_state *st, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ag_error_set(st->err, AG_ERR_FORMAT, "template syntax error at line %d: %s", line, msg);
    jx_unwind(st);
}

_Noreturn void jx_fail_unsupported(jx_state *st, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ag_error_set(st->err, AG_ERR_UNSUPPORTED, "%s at line %d", msg, line);
    jx_unwind(st);
}

_Noreturn void jx_fail(jx_state *st, const char *fmt, ...) {
    char msg[420];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ag_error_set(st->err, AG_ERR_INVALID_ARG, "template error: %s (line %d)", msg, st->line);
    jx_unwind(st);
}

_Noreturn void jx_fail_raise(jx_state *st, const char *msg, size_t n) {
    if (n > 490) n = 490;
    ag_error_set(st->err, AG_ERR_INVALID_ARG, "template error: %.*s", (int)n, msg);
    jx_unwind(st);
}
