/*
 * sched_power.c - the server's power mode (performance / balanced / powersave, see
 * ag_session_set_power): one setting for all models, switchable while running. The HTTP side
 * writes it (atomics, no lock); each model's worker compares its slots' sessions with it before
 * their next eval and applies it there, since a session belongs to the worker thread alone.
 * Embedding and rerank passes (no session) take the mode's thread count (sched_power_threads).
 * GPU power limits (NVML) are not handled: this build has no NVML.
 */
#include <time.h>

#include "server/sched_impl.h"

static const char *const MODE_NAMES[3] = {"performance", "balanced", "powersave"};

const char *sched_power_name(ag_power_mode mode) {
    return (unsigned)mode <= AG_POWER_POWERSAVE ? MODE_NAMES[mode] : "performance";
}

void sched_set_power(sched *s, ag_power_mode mode, double max_tokens_per_s) {
    if ((unsigned)mode > AG_POWER_POWERSAVE) mode = AG_POWER_PERFORMANCE;
    long long cap = max_tokens_per_s > 0 && max_tokens_per_s < 1e12 ? (long long)(max_tokens_per_s * 1000.0) : 0;
    atomic_store(&s->power_cap_milli, cap);
    atomic_store(&s->power_mode, (int)mode);
}

ag_power_params sched_get_power(const sched *s) {
    ag_power_params p = {.mode = (ag_power_mode)atomic_load(&s->power_mode),
                         .max_tokens_per_s = (double)atomic_load(&s->power_cap_milli) / 1000.0};
    int max_thr = s->cfg.n_threads > 0 ? s->cfg.n_threads : ag_default_threads();
    p.n_threads = p.mode == AG_POWER_PERFORMANCE ? max_thr : p.mode == AG_POWER_BALANCED ? (max_thr + 1) / 2 : 1;
    p.n_batch = p.mode == AG_POWER_PERFORMANCE ? 0 : p.mode == AG_POWER_BALANCED ? 64 : 16; /* 0: the session's */
    return p;
}

int sched_power_threads(const sched *s) { return sched_get_power(s).n_threads; }

void sched_power_slot(sched_model *m, slot *sl) {
    const sched *s = m->owner;
    ag_power_params want = {.mode = (ag_power_mode)atomic_load(&s->power_mode),
                            .max_tokens_per_s = (double)atomic_load(&s->power_cap_milli) / 1000.0};
    ag_power_params have = ag_session_get_power(sl->s);
    if (have.mode == want.mode && have.max_tokens_per_s == want.max_tokens_per_s) return;
    ag_error err = {0};
    ag_session_set_power(sl->s, &want, &err); /* valid by construction: nothing to report */
}

void sched_power_pace(sched_model *m, int64_t turn0, int n_dec) {
    const long long cap_milli = atomic_load(&m->owner->power_cap_milli);
    if (cap_milli <= 0 || n_dec == 0) return;
    int64_t wait = turn0 + (int64_t)(1e12 / (double)cap_milli) - sched_now_ns(); /* ns per token: 1e9 / cap */
    if (wait > 1000000000) wait = 1000000000; /* at most a second, so that stopping stays prompt */
    if (wait <= 0) return;
    struct timespec ts = {(time_t)(wait / 1000000000), (long)(wait % 1000000000)};
    nanosleep(&ts, NULL);
}
