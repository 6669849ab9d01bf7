/*
 * bench_policy.c - the output policy on a streamed reply: the time to judge a reply of N
 * characters (default 20,000) streamed in pieces of about 4 bytes (a token's worth), judged
 * after every piece two ways: the whole text so far each time (ag_policy_check_output, what the
 * server did before) and incrementally (ag_policy_stream, what it does now). The policy has two
 * keyword and three pattern deny_output entries, none of which the reply matches (the worst
 * case: the reply is judged to its end). Prints milliseconds of each (best of R runs, default 3).
 * Also the redaction filter on the same stream (ag_redact_stream, the default detectors, mask).
 *
 *   bench_policy [--chars N] [--reps R] [--cjk]
 *
 * --cjk: the reply is Chinese (3 bytes a character). Not a test: CTest does not run it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autoglm/access.h"
#include "autoglm/redact.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long chars = 20000, reps = 3;
    int cjk = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--chars") == 0 && i + 1 < argc) chars = atol(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atol(argv[++i]);
        else if (strcmp(argv[i], "--cjk") == 0) cjk = 1;
        else {
            fprintf(stderr, "usage: bench_policy [--chars N] [--reps R] [--cjk]\n");
            return 2;
        }
    }
    char path[] = "/tmp/bench_policy_XXXXXX";
    int fd = mkstemp(path);
    const char *policy = "{\"rules\": [{\"name\": \"secrets\", \"deny_output\": [\"secret key\", \"api token\","
                         " \"re:BEGIN [A-Z ]*PRIVATE KEY\", \"re:pass(word|wd)\\\\s*[:=]\\\\s*\\\\S+\", \"re:身份证号\\\\s*\\\\d{6}\"]}]}";
    if (fd < 0 || write(fd, policy, strlen(policy)) != (ssize_t)strlen(policy)) return 1;
    close(fd);
    ag_error err = {0};
    ag_policy *p = ag_policy_load(path, &err);
    unlink(path);
    if (!p) {
        fprintf(stderr, "bench_policy: %s\n", err.msg);
        return 1;
    }
    static const char *const en = "The keeper lit the lamp at nine and the ships passed the cape safely. ";
    static const char *const zh = "灯塔看守人每晚九点点亮灯，船只安全地经过海角。";
    const char *src = cjk ? zh : en;
    const size_t unit = cjk ? 3 : 1, src_len = strlen(src);
    const size_t len = (size_t)chars * unit;
    char *text = malloc(len + 1), *prefix = malloc(len + 1);
    for (size_t i = 0; i < len; i++) text[i] = src[i % src_len];
    text[len] = '\0';
    const size_t piece = cjk ? 3 : 4;
    double best_whole = 1e30, best_stream = 1e30;
    for (long r = 0; r < reps; r++) {
        double t0 = now_s();
        int refused = 0;
        for (size_t at = 0; at < len; at += piece) { /* the whole text so far, after every piece */
            const size_t n = at + piece < len ? at + piece : len;
            memcpy(prefix + at, text + at, n - at);
            prefix[n] = '\0';
            refused += !ag_policy_check_output(p, AG_ROLE_USER, "", prefix).allowed;
        }
        double t1 = now_s();
        ag_policy_stream *s = ag_policy_stream_new(p, AG_ROLE_USER, "");
        for (size_t at = 0; at < len; at += piece)
            refused += !ag_policy_stream_push(s, text + at, at + piece < len ? piece : len - at).allowed;
        ag_policy_stream_free(s);
        double t2 = now_s();
        if (refused) fprintf(stderr, "bench_policy: the reply was refused (%d)\n", refused);
        if (t1 - t0 < best_whole) best_whole = t1 - t0;
        if (t2 - t1 < best_stream) best_stream = t2 - t1;
    }
    printf("%ld characters (%zu bytes) in pieces of %zu bytes: whole text each piece %.1f ms, incremental %.2f ms (%.0fx)\n",
           chars, len, piece, best_whole * 1e3, best_stream * 1e3, best_whole / best_stream);
    ag_redactor *red = ag_redactor_new(&(ag_redact_config){0}, &err);
    double best_redact = 1e30;
    for (long r = 0; red && r < reps; r++) {
        double t0 = now_s();
        ag_redact_stream *s = ag_redact_stream_new(red);
        size_t out = 0, n;
        for (size_t at = 0; at < len; at += piece) {
            ag_redact_stream_push(s, text + at, at + piece < len ? piece : len - at, &n);
            out += n;
        }
        ag_redact_stream_finish(s, &n);
        ag_redact_stream_free(s);
        double t = now_s() - t0;
        if (t < best_redact) best_redact = t;
        if (out + n != len) fprintf(stderr, "bench_policy: redaction changed the reply (%zu of %zu bytes)\n", out + n, len);
    }
    if (red) printf("redaction stream of the same reply: %.1f ms\n", best_redact * 1e3);
    ag_redactor_free(red);
    free(text);
    free(prefix);
    ag_policy_free(p);
    return 0;
}
