/*
 * test_chat_template.c - the Jinja chat-template interpreter against the reference renderer.
 *
 * For every template in $AUTOGLM_SHARED/chat-templates and every conversation in
 * tests/data/chat/conversations.json, the context is built as tests/reference/render_templates.py
 * builds it (the case, then the template's variables from template_vars.json, then `_ag_now`),
 * rendered, and compared with tests/data/chat/expected/<template>.<case>.txt byte for byte; where
 * the reference failed (<template>.<case>.error) the render must fail too, with jinja2's message
 * inside ours. Also: errors on unsupported constructs and syntax errors name the construct, and
 * hostile templates stop at the limits.
 */
#include <cJSON.h>
#include <dirent.h>

#include "test.h"
#include "tokenizer/chat_template.h"

#define DATA_DIR AG_TEST_SOURCE_DIR "/data/chat"
#define FIXED_NOW "2024-07-26T09:30:00"

static char *read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Template base names (without ".jinja") in dir, sorted; returns the count. */
static int list_templates(const char *dir, char ***names_out) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 6 || strcmp(e->d_name + len - 6, ".jinja") != 0) continue;
        char **grown = realloc(names, sizeof(*names) * (size_t)(n + 1));
        if (!grown) break;
        names = grown;
        names[n] = malloc(len - 5);
        memcpy(names[n], e->d_name, len - 6);
        names[n][len - 6] = '\0';
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(*names), compare_names);
    *names_out = names;
    return n;
}

/* case + template variables + _ag_now, as the reference's dict(case).update(vars). */
static char *build_context(const cJSON *conversation, const cJSON *vars) {
    cJSON *ctx = cJSON_Duplicate(conversation, 1);
    const cJSON *v;
    cJSON_ArrayForEach(v, vars) {
        cJSON *copy = cJSON_Duplicate(v, 1);
        if (cJSON_GetObjectItemCaseSensitive(ctx, v->string))
            cJSON_ReplaceItemInObjectCaseSensitive(ctx, v->string, copy);
        else
            cJSON_AddItemToObject(ctx, v->string, copy);
    }
    cJSON_AddStringToObject(ctx, "_ag_now", FIXED_NOW);
    char *text = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);
    return text;
}

static void test_reference_templates(void) {
    char tmpl_dir[1024];
    snprintf(tmpl_dir, sizeof tmpl_dir, "%s/chat-templates", ag_test_shared_dir());
    char **names = NULL;
    int n_templates = list_templates(tmpl_dir, &names);
    CHECK_MSG(n_templates >= 20, "templates found in %s: %d", tmpl_dir, n_templates);

    char *conv_text = read_file(DATA_DIR "/conversations.json", NULL);
    char *vars_text = read_file(DATA_DIR "/template_vars.json", NULL);
    CHECK(conv_text && vars_text);
    cJSON *conversations = cJSON_Parse(conv_text ? conv_text : "");
    cJSON *all_vars = cJSON_Parse(vars_text ? vars_text : "");
    CHECK(conversations && all_vars);

    int n_match = 0, n_error_match = 0, n_cases = 0;
    for (int t = 0; t < n_templates && conversations && all_vars; t++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s.jinja", tmpl_dir, names[t]);
        size_t tmpl_len = 0;
        char *tmpl = read_file(path, &tmpl_len);
        CHECK_MSG(tmpl != NULL, "read %s", path);
        const cJSON *vars = cJSON_GetObjectItemCaseSensitive(all_vars, names[t]);
        CHECK_MSG(vars != NULL, "%s has no entry in template_vars.json", names[t]);
        const cJSON *conv;
        cJSON_ArrayForEach(conv, conversations) {
            if (!tmpl || !vars) break;
            n_cases++;
            char *ctx = build_context(conv, vars);
            ag_error err = {0};
            char *out = ag_chat_template_render(tmpl, tmpl_len, ctx, &err);

            char expected_path[1600];
            snprintf(expected_path, sizeof expected_path, DATA_DIR "/expected/%s.%s.txt", names[t], conv->string);
            size_t expected_len = 0;
            char *expected = read_file(expected_path, &expected_len);
            if (expected) {
                int same = out && strlen(out) == expected_len && memcmp(out, expected, expected_len) == 0;
                CHECK_MSG(same, "%s / %s: %s", names[t], conv->string,
                          out ? "output differs from the reference" : err.msg);
                if (same) n_match++;
                if (out && !same) {
                    size_t i = 0;
                    while (out[i] && i < expected_len && out[i] == expected[i]) i++;
                    fprintf(stderr, "  first difference at byte %zu: ours \"%.60s\" reference \"%.60s\"\n", i,
                            out + i, expected + i);
                }
            } else {
                snprintf(expected_path, sizeof expected_path, DATA_DIR "/expected/%s.%s.error", names[t], conv->string);
                char *message = read_file(expected_path, NULL);
                CHECK_MSG(message != NULL, "no expected output for %s / %s", names[t], conv->string);
                CHECK_MSG(out == NULL, "%s / %s: rendered, but the reference failed with \"%s\"", names[t],
                          conv->string, message ? message : "?");
                if (!out && message) {
                    int named = strstr(err.msg, message) != NULL;
                    CHECK_MSG(named, "%s / %s: error \"%s\" does not contain the reference's \"%s\"", names[t],
                              conv->string, err.msg, message);
                    if (named) n_error_match++;
                }
                free(message);
            }
            free(expected);
            free(out);
            free(ctx);
        }
        free(tmpl);
    }
    printf("chat templates: %d templates, %d cases: %d outputs byte-identical, %d expected errors matched\n",
           n_templates, n_cases, n_match, n_error_match);
    cJSON_Delete(conversations);
    cJSON_Delete(all_vars);
    free(conv_text);
    free(vars_text);
    for (int t = 0; t < n_templates; t++) free(names[t]);
    free(names);
}

static char *render(const char *tmpl, const char *ctx, ag_error *err) {
    return ag_chat_template_render(tmpl, strlen(tmpl), ctx, err);
}

static void test_errors_name_the_construct(void) {
    ag_error err = {0};
    char *out = render("{{ x | no_such_filter }}", "{\"x\": 1}", &err);
    CHECK(out == NULL);
    CHECK_MSG(strstr(err.msg, "no_such_filter") != NULL, "%s", err.msg);

    memset(&err, 0, sizeof err);
    out = render("line one\n{% if %}", "{}", &err);
    CHECK(out == NULL);
    CHECK_MSG(strstr(err.msg, "line 2") != NULL, "%s", err.msg);

    memset(&err, 0, sizeof err);
    out = render("{% for m in messages %}{{ m.content }}", "{\"messages\": []}", &err);
    CHECK(out == NULL && err.msg[0] != '\0');

    memset(&err, 0, sizeof err);
    out = render("{{ raise_exception('Roles must alternate') }}", "{}", &err);
    CHECK(out == NULL);
    CHECK_MSG(strstr(err.msg, "Roles must alternate") != NULL, "%s", err.msg);

    memset(&err, 0, sizeof err);
    out = render("{{ x }}", "{\"x\": ", &err);
    CHECK_MSG(out == NULL && err.msg[0] != '\0', "invalid JSON context accepted");
}

static void test_basic_semantics(void) {
    ag_error err = {0};
    char *out = render("{% for m in messages %}{{ loop.index }}:{{ m.role | upper }}={{ m.content | trim }};{% endfor %}"
                       "{% if add_generation_prompt %}>{% endif %}",
                       "{\"messages\": [{\"role\": \"user\", \"content\": \" hi \"}, {\"role\": \"assistant\", "
                       "\"content\": \"yo\"}], \"add_generation_prompt\": true}",
                       &err);
    CHECK_MSG(out && strcmp(out, "1:USER=hi;2:ASSISTANT=yo;>") == 0, "%s", out ? out : err.msg);
    free(out);

    out = render("{{ {'b': 1, 'a': [1, 2.5, none, true]} | tojson }}|{{ [1, 'x'] }}|{{ 7 // 2 }}|{{ 'a,b' .split(',') }}",
                 "{}", &err);
    CHECK_MSG(out && strcmp(out, "{\"b\": 1, \"a\": [1, 2.5, null, true]}|[1, 'x']|3|['a', 'b']") == 0, "%s",
              out ? out : err.msg);
    free(out);

    out = render("{% set ns = namespace(n=0) %}{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}"
                 "{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
                 "{}", &err);
    CHECK_MSG(out && strcmp(out, "3") == 0, "%s", out ? out : err.msg);
    free(out);

    out = render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }}",
                 "{}", &err);
    CHECK_MSG(out && strcmp(out, "Hi A! Hi B?") == 0, "%s", out ? out : err.msg);
    free(out);
}

static void test_limits(void) {
    ag_chat_template_limits limits = {.max_output = 1 << 16, .max_steps = 200000, .max_depth = 64};
    ag_error err = {0};
    const char *loop = "{% for i in range(1000000) %}{% for j in range(1000000) %}x{% endfor %}{% endfor %}";
    char *out = ag_chat_template_render_ex(loop, strlen(loop), "{}", 2, &limits, &err);
    CHECK(out == NULL && err.msg[0] != '\0');
    free(out);

    memset(&err, 0, sizeof err);
    const char *recursion = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    out = ag_chat_template_render_ex(recursion, strlen(recursion), "{}", 2, &limits, &err);
    CHECK(out == NULL && err.msg[0] != '\0');
    free(out);
}

TEST_MAIN(TEST(test_reference_templates), TEST(test_errors_name_the_construct), TEST(test_basic_semantics),
          TEST(test_limits))
