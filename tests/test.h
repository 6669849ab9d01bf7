/*
 * test.h - a minimal assertion harness for the unit tests (one executable per test file).
 *
 * CHECK(cond) records a failure with file:line and goes on; TEST_MAIN runs the listed test
 * functions and exits non-zero when any check failed. ag_test_shared_dir() gives the folder of
 * the shared test data: $AUTOGLM_SHARED, else the path CMake was configured with.
 */
#ifndef AG_TEST_H
#define AG_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ag_test_failures;
static int ag_test_checks;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        ag_test_checks++;                                                             \
        if (!(cond)) {                                                                \
            ag_test_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                \
    do {                                                                    \
        ag_test_checks++;                                                   \
        if (!(cond)) {                                                      \
            ag_test_failures++;                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g (tol %g)", (double)(a), (double)(b), (double)(tol))

static inline const char *ag_test_shared_dir(void) {
    const char *env = getenv("AUTOGLM_SHARED");
    if (env && *env) return env;
#ifdef AG_TEST_SHARED_DIR
    return AG_TEST_SHARED_DIR;
#else
    return "../shared";
#endif
}

typedef void (*ag_test_fn)(void);
typedef struct { const char *name; ag_test_fn fn; } ag_test_case;

static inline int ag_test_run(const ag_test_case *cases, int n) {
    for (int i = 0; i < n; i++) {
        int before = ag_test_failures;
        cases[i].fn();
        fprintf(stderr, "%s %s\n", ag_test_failures == before ? "ok  " : "FAIL", cases[i].name);
    }
    fprintf(stderr, "%d checks, %d failed\n", ag_test_checks, ag_test_failures);
    return ag_test_failures ? 1 : 0;
}

#define TEST(fn) {#fn, fn}
#define TEST_MAIN(...)                                                     \
    int main(void) {                                                       \
        static const ag_test_case cases[] = {__VA_ARGS__};                 \
        return ag_test_run(cases, (int)(sizeof cases / sizeof cases[0])); \
    }

#endif
