/*
 * test_chat_template_fuzz.c - inputs found by fuzz/fuzz_chat_template.c, kept as regression
 * tests: each template renders (or fails with an error code and message) under the sanitizer
 * build without undefined behaviour, and gives the output jinja2 gives.
 *
 * Table-driven: a template, the context, and the expected output or error code.
 */
#include <string.h>

#include "test.h"
#include "tokenizer/chat_template.h"

typedef struct {
    const char *tmpl;
    const char *context;
    const char *want;     /* expected output, or NULL when an error is expected */
    ag_status want_error; /* the error code when want is NULL */
} render_case;

static const render_case CASES[] = {
    /* iterating an empty generator: map() over an undefined value gave a NULL array + 0 (UBSan) */
    {"{{ nothing | map(attribute='role') | join(', ') }}|", "{}", "|", AG_OK},
    {"{% for x in nothing | map('upper') %}{{ x }}{% else %}empty{% endfor %}", "{}", "empty", AG_OK},
    {"{{ [] | map('upper') | list }}{{ nothing | select('odd') | list }}", "{}", "[][]", AG_OK},
};

static void test_cases(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const render_case *c = &CASES[i];
        ag_error err = {0};
        char *out = ag_chat_template_render(c->tmpl, strlen(c->tmpl), c->context, &err);
        if (c->want) {
            CHECK_MSG(out && strcmp(out, c->want) == 0, "case %zu: got \"%s\" (%s), want \"%s\"", i,
                      out ? out : "(null)", err.msg, c->want);
        } else {
            CHECK_MSG(!out && err.code == c->want_error && err.msg[0], "case %zu: got \"%s\", error %d \"%s\"", i,
                      out ? out : "(null)", (int)err.code, err.msg);
        }
        free(out);
    }
}

TEST_MAIN(TEST(test_cases))
