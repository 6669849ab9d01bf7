/*
 * sched_keep.c - how long models stay loaded and whether a new one fits: the reaper thread
 * unloads a model once no request holds it and its keep_alive has passed (keep_alive 0: at
 * once; < 0: never), and sched_mem_available says how many bytes a new model may take
 * (--mem-limit minus what the loaded models take, or the system's MemAvailable).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/sched_impl.h"

void *sched_reaper_main(void *arg) {
    sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopped) {
        const int64_t now = sched_now_ns();
        int64_t next = now + 1000000000; /* look again in a second at most */
        sched_model **pp = &s->models, *expired = NULL;
        for (; *pp; pp = &(*pp)->next) {
            sched_model *m = *pp;
            if (m->refs > 0) continue;
            if (m->expires_ns <= now) {
                expired = m;
                *pp = m->next; /* unlinked: no request can find it any more */
                break;
            }
            if (m->expires_ns < next) next = m->expires_ns;
        }
        if (expired) {
            pthread_mutex_unlock(&s->mu); /* its worker is idle (no request holds it): join it outside */
            fprintf(stderr, "autoglm: unloading %s (keep_alive passed)\n", expired->man.name);
            sched_model_unload(expired);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = next - now;
        ts.tv_sec += wait / 1000000000;
        ts.tv_nsec += wait % 1000000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->reap, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* MemAvailable of /proc/meminfo in bytes; UINT64_MAX when it cannot be read (no check). */
static uint64_t meminfo_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return UINT64_MAX;
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    fclose(f);
    return found ? (uint64_t)kb * 1024 : UINT64_MAX;
}

/* Under s->mu. */
uint64_t sched_mem_available(const sched *s) {
    if (!s->cfg.mem_limit) return meminfo_available();
    uint64_t used = 0;
    for (const sched_model *m = s->models; m; m = m->next) used += m->mem_need;
    return used >= s->cfg.mem_limit ? 0 : s->cfg.mem_limit - used;
}
