/*
 * test_audit.c - the hash-chained audit log: records append and verify; a changed byte, a
 * removed record (middle or end), a reordered pair, an inserted line and a cut-off record are
 * each detected with the right line; reopening continues the chain; threads appending at once
 * leave a valid chain; a damaged log is not extended.
 */
#include <pthread.h>
#include <unistd.h>

#include "autoglm/audit.h"
#include "test.h"

static char log_path[512];

static void fresh_log(void) {
    const char *dir = getenv("AUTOGLM_TEST_TMP");
    snprintf(log_path, sizeof log_path, "%s/audit_test_%d.log", dir ? dir : "/tmp", (int)getpid());
    char head[600];
    snprintf(head, sizeof head, "%s.head", log_path);
    unlink(log_path);
    unlink(head);
}

static char **read_lines(int *n) {
    FILE *f = fopen(log_path, "rb");
    char **lines = NULL, *line = NULL;
    size_t cap = 0;
    *n = 0;
    while (f && getline(&line, &cap, f) > 0) {
        lines = realloc(lines, sizeof *lines * (size_t)(*n + 1));
        lines[(*n)++] = strdup(line);
    }
    free(line);
    if (f) fclose(f);
    return lines;
}

static void write_lines(char **lines, int n) {
    FILE *f = fopen(log_path, "wb");
    for (int i = 0; i < n; i++) fputs(lines[i], f);
    fclose(f);
}

static void free_lines(char **lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

static long verify_bad_line(void) {
    ag_audit_report rep;
    ag_error err = {0};
    ag_status st = ag_audit_verify(log_path, &rep, &err);
    return st == AG_OK ? 0 : rep.bad_line;
}

static void make_log(int n) {
    fresh_log();
    ag_audit *a = ag_audit_open(log_path, NULL);
    CHECK(a != NULL);
    for (int i = 0; i < n && a; i++) {
        char fields[128];
        snprintf(fields, sizeof fields, "\"route\":\"/api/chat\",\"status\":200,\"n\":%d,\"note\":\"a \\\"quoted\\\" \\u00e9\"", i);
        CHECK(ag_audit_append(a, "request", fields, NULL) == AG_OK);
    }
    ag_audit_close(a);
}

static void test_append_verify_reopen(void) {
    make_log(5);
    ag_audit_report rep;
    CHECK(ag_audit_verify(log_path, &rep, NULL) == AG_OK && rep.records == 5);
    ag_audit *a = ag_audit_open(log_path, NULL); /* continues the chain */
    CHECK(a && ag_audit_append(a, "shutdown", NULL, NULL) == AG_OK);
    CHECK(a && ag_audit_append(a, "bad\"event", NULL, NULL) == AG_ERR_INVALID_ARG);
    ag_audit_close(a);
    CHECK(ag_audit_verify(log_path, &rep, NULL) == AG_OK && rep.records == 6);
    int n;
    char **lines = read_lines(&n);
    CHECK(n == 6 && strncmp(lines[5], "{\"seq\":6,", 9) == 0 && strstr(lines[0], "\"route\":\"/api/chat\""));
    free_lines(lines, n);
}

static void test_tampering_detected(void) {
    int n;
    char **lines;

    make_log(6); /* one changed byte in record 3 */
    lines = read_lines(&n);
    char *p = strstr(lines[2], "200");
    if (p) p[2] = '1';
    write_lines(lines, n);
    free_lines(lines, n);
    CHECK_MSG(verify_bad_line() == 3, "changed byte: line %ld", verify_bad_line());

    make_log(6); /* record 4 removed */
    lines = read_lines(&n);
    free(lines[3]);
    memmove(lines + 3, lines + 4, sizeof *lines * 2);
    write_lines(lines, n - 1);
    free_lines(lines, n - 1);
    CHECK_MSG(verify_bad_line() == 4, "removed record: line %ld", verify_bad_line());

    make_log(6); /* the last record removed: the .head sidecar tells */
    lines = read_lines(&n);
    write_lines(lines, n - 1);
    free_lines(lines, n);
    CHECK_MSG(verify_bad_line() == 6, "removed last record: line %ld", verify_bad_line());

    make_log(6); /* two records swapped */
    lines = read_lines(&n);
    char *t = lines[1];
    lines[1] = lines[2];
    lines[2] = t;
    write_lines(lines, n);
    free_lines(lines, n);
    CHECK_MSG(verify_bad_line() == 2, "swapped: line %ld", verify_bad_line());

    make_log(3); /* a forged line appended without a valid hash */
    lines = read_lines(&n);
    lines = realloc(lines, sizeof *lines * (size_t)(n + 1));
    lines[n] = strdup("{\"seq\":4,\"event\":\"forged\"}\n");
    write_lines(lines, n + 1);
    free_lines(lines, n + 1);
    CHECK_MSG(verify_bad_line() == 4, "forged: line %ld", verify_bad_line());
    ag_error err = {0};
    CHECK(ag_audit_open(log_path, &err) == NULL && err.code == AG_ERR_UNTRUSTED); /* not extended */

    make_log(3); /* cut off in the middle of the last record */
    FILE *f = fopen(log_path, "r+b");
    fseek(f, -10, SEEK_END);
    CHECK(ftruncate(fileno(f), ftell(f)) == 0);
    fclose(f);
    CHECK_MSG(verify_bad_line() == 3, "cut: line %ld", verify_bad_line());
    fresh_log();
}

static void *append_many(void *arg) {
    ag_audit *a = arg;
    for (int i = 0; i < 200; i++) ag_audit_append(a, "request", "\"status\":200", NULL);
    return NULL;
}

static void test_threads(void) {
    fresh_log();
    ag_audit *a = ag_audit_open(log_path, NULL);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, append_many, a);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    ag_audit_close(a);
    ag_audit_report rep;
    CHECK(ag_audit_verify(log_path, &rep, NULL) == AG_OK && rep.records == 800);
    fresh_log();
}

TEST_MAIN(TEST(test_append_verify_reopen), TEST(test_tampering_detected), TEST(test_threads))
