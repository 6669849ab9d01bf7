/*
 * test_json_constraint.c - the JSON validator of constrained sampling (sample/json_constraint.c)
 * and ag_json_constraint on stories260K:
 *   - table: documents fed byte by byte are accepted whole, rejected at the first bad byte,
 *     with and without a schema;
 *   - schemas with unsupported keywords are refused;
 *   - random sampling (temperature 1.5, several seeds) with the mask always ends in a document
 *     that cJSON parses and that validates against the schema (checked here independently).
 */
#include <cJSON.h>

#include "autoglm/autoglm.h"
#include "sample/json_constraint.h"
#include "test.h"

/* ---------------------------------------------------------------- the validator */

typedef struct {
    const char *schema; /* NULL: any JSON */
    const char *doc;
    int ok;             /* 1: a complete valid document; 0: rejected; 2: a valid prefix, not complete */
} vcase;

#define PERSON "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},"                                       \
               "\"age\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"bc\",1]},"                 \
               "\"maxItems\":2},\"ok\":{\"type\":[\"boolean\",\"null\"]}},\"required\":[\"name\",\"age\"]}"

static const vcase CASES[] = {
    {NULL, "{}", 1}, {NULL, "[]", 1}, {NULL, "\"x\"", 1}, {NULL, "12", 1}, {NULL, "-0.5e+3", 1}, {NULL, "true", 1},
    {NULL, "null", 1}, {NULL, "{\"a\": [1, 2, {\"b\": null}], \"c\": \"\\u00e9\\n\"}", 1}, {NULL, " {\"a\":1}", 1},
    {NULL, "{\"a\":1,}", 0}, {NULL, "[1,]", 0}, {NULL, "01", 0}, {NULL, "{a:1}", 0}, {NULL, "\"\\x\"", 0},
    {NULL, "[1 2]", 0}, {NULL, "tru", 2}, {NULL, "trux", 0}, {NULL, "{\"a\"", 2}, {NULL, "\"\xc3\xa9\"", 1},
    {NULL, "\"\xc3\"", 0}, {NULL, "\"a\nb\"", 0}, {NULL, "{}}", 0}, {NULL, "1.", 2}, {NULL, "1.e5", 0},
    {NULL, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 0},
    {"{\"type\":\"integer\"}", "12", 1}, {"{\"type\":\"integer\"}", "1.5", 0}, {"{\"type\":\"number\"}", "1.5", 1},
    {"{\"type\":\"string\"}", "1", 0}, {"{\"enum\":[\"red\",\"green\",10,100]}", "\"green\"", 1},
    {"{\"enum\":[\"red\",\"green\",10,100]}", "\"gray\"", 0}, {"{\"enum\":[\"red\",\"green\",10,100]}", "10", 1},
    {"{\"enum\":[\"red\",\"green\",10,100]}", "100", 1}, {"{\"enum\":[\"red\",\"green\",10,100]}", "1000", 0},
    {"{\"const\":\"x\"}", "\"x\"", 1},
    {PERSON, "{\"name\":\"Al\",\"age\":3}", 1}, {PERSON, "{\"age\":3,\"name\":\"Al\",\"ok\":null}", 1},
    {PERSON, "{\"name\":\"Al\"}", 0}, {PERSON, "{\"name\":\"Alfred\",\"age\":3}", 0},
    {PERSON, "{\"name\":\"Al\",\"age\":3,\"x\":1}", 0}, {PERSON, "{\"name\":\"Al\",\"name\":\"B\",\"age\":3}", 0},
    {PERSON, "{\"name\":\"A\",\"age\":1,\"tags\":[\"bc\",1]}", 1}, {PERSON, "{\"name\":\"A\",\"age\":1,\"tags\":[\"b\"]}", 0},
    {PERSON, "{\"name\":\"A\",\"age\":1,\"tags\":[1,1,1]}", 0}, {PERSON, "{\"name\":\"A\",\"age\":1.5}", 0},
    {PERSON, "{\"na", 2}, {PERSON, "{\"nx", 0}, {PERSON, "{\"name\":\"A\",\"age\":1,\"ok\":true}", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":2}", "[\"a\"]", 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":2}", "[\"a\",\"b\"]", 1},
};

static void test_validator(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const vcase *c = &CASES[i];
        char err[256] = "";
        jc_schema *s = c->schema ? jc_schema_compile(c->schema, strlen(c->schema), err, sizeof err) : NULL;
        CHECK_MSG(!c->schema || s, "schema %s: %s", c->schema, err);
        jc_state st;
        jc_init(&st, s ? jc_schema_root(s) : NULL);
        bool fed = jc_feed(&st, c->doc, strlen(c->doc));
        int got = !fed ? 0 : jc_complete(&st) ? 1 : 2;
        CHECK_MSG(got == c->ok, "case %zu %s: got %d want %d", i, c->doc, got, c->ok);
        jc_schema_free(s);
    }
    const char *bad[] = {"{\"anyOf\":[]}", "{\"type\":\"strin\"}", "{\"properties\":{\"a\":{}},\"required\":[\"b\"]}",
                         "{\"$ref\":\"#/x\"}", "[1]", "{\"type\":\"string\",\"pattern\":\"a+\"}", "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ag_error e = {0};
        CHECK_MSG(ag_json_schema_check(bad[i], &e) == AG_ERR_INVALID_ARG && e.msg[0], "schema %s accepted", bad[i]);
    }
}

/* ---------------------------------------------------------------- sampling */

static bool validates(const cJSON *v, const cJSON *sc); /* the schema subset, checked independently */

static bool type_ok(const cJSON *v, const char *t) {
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    return false;
}

static bool validates(const cJSON *v, const cJSON *sc) {
    const cJSON *type = cJSON_GetObjectItem(sc, "type"), *x;
    if (cJSON_IsString(type) && !type_ok(v, type->valuestring)) return false;
    if (cJSON_IsArray(type)) {
        bool any = false;
        cJSON_ArrayForEach(x, type) any |= type_ok(v, x->valuestring);
        if (!any) return false;
    }
    const cJSON *en = cJSON_GetObjectItem(sc, "enum");
    if (en) {
        bool any = false;
        cJSON_ArrayForEach(x, en) any |= cJSON_Compare(v, x, true);
        if (!any) return false;
    }
    const cJSON *props = cJSON_GetObjectItem(sc, "properties");
    if (props && cJSON_IsObject(v)) {
        cJSON_ArrayForEach(x, v) {
            const cJSON *ps = cJSON_GetObjectItem(props, x->string);
            if (!ps || !validates(x, ps)) return false;
        }
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(sc, "required")) if (!cJSON_GetObjectItem(v, x->valuestring)) return false;
    }
    const cJSON *items = cJSON_GetObjectItem(sc, "items");
    if (cJSON_IsArray(v)) {
        const cJSON *mx = cJSON_GetObjectItem(sc, "maxItems"), *mn = cJSON_GetObjectItem(sc, "minItems");
        if (mx && cJSON_GetArraySize(v) > mx->valueint) return false;
        if (mn && cJSON_GetArraySize(v) < mn->valueint) return false;
        if (items) cJSON_ArrayForEach(x, v) if (!validates(x, items)) return false;
    }
    const cJSON *ml = cJSON_GetObjectItem(sc, "maxLength");
    if (ml && cJSON_IsString(v) && (int)strlen(v->valuestring) > ml->valueint * 4) return false;
    return true;
}

static const char *STORY =
    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"maxLength\":24},"
    "\"hero\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"age\":{\"type\":\"integer\"},\"kind\":{\"enum\":[\"cat\",\"dog\",\"girl\"]}},\"required\":[\"name\",\"kind\"]},"
    "\"happy\":{\"type\":\"boolean\"},\"score\":{\"type\":\"number\"},"
    "\"friends\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":8},\"maxItems\":3}},"
    "\"required\":[\"title\",\"hero\",\"happy\"]}";

static void test_sampling(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    ag_error err = {0};
    ag_model_params mp = {.n_threads = 2};
    ag_model *m = ag_model_load(path, &mp, &err);
    CHECK_MSG(m, "%s", err.msg);
    if (!m) return;
    const int nv = ag_model_n_vocab(m);
    float *lg = malloc((size_t)nv * sizeof *lg);
    cJSON *schema = cJSON_Parse(STORY);
    const char *prompt = "Once upon a time";
    ag_token ptoks[64];
    int np = ag_tokenize(m, prompt, strlen(prompt), ptoks, 64, true, false);
    int completed = 0, runs = 0;
    for (int mode = 0; mode < 2; mode++) {
        for (uint64_t seed = 1; seed <= 6; seed++) {
            ag_json_constraint *jc = ag_json_constraint_new(m, mode ? STORY : NULL, &err);
            CHECK_MSG(jc, "%s", err.msg);
            ag_session_params sp = {.n_ctx = 512};
            ag_session *s = ag_session_new(m, &sp, &err);
            ag_sampler_params smp_p = ag_sampler_default_params();
            smp_p.temperature = 1.5f;
            smp_p.top_k = 0;
            smp_p.top_p = 1;
            smp_p.seed = seed;
            ag_sampler *smp = ag_sampler_new(&smp_p, nv, 512);
            CHECK(ag_session_eval(s, ptoks, np, false, &err) == AG_OK);
            char out[4096];
            size_t len = 0;
            bool ended = false;
            runs++;
            for (int step = 0; step < 400 && !ended; step++) {
                memcpy(lg, ag_session_logits(s, -1), (size_t)nv * sizeof *lg);
                ag_json_constraint_apply(jc, lg);
                ag_token t = ag_sampler_sample(smp, lg);
                CHECK(ag_json_constraint_accept(jc, t));
                if (ag_token_is_eog(m, t)) break;
                char piece[256];
                int n = ag_token_to_piece(m, t, piece, sizeof piece, false);
                if (n > 0 && len + (size_t)n < sizeof out) memcpy(out + len, piece, (size_t)n), len += (size_t)n;
                ended = ag_json_constraint_finished(jc);
                if (!ended && ag_session_eval(s, &t, 1, false, &err) != AG_OK) break;
            }
            out[len] = '\0';
            ended |= ag_json_constraint_complete(jc);
            completed += ended;
            if (ended) {
                cJSON *doc = cJSON_Parse(out);
                CHECK_MSG(doc, "mode %d seed %llu: not JSON: %s", mode, (unsigned long long)seed, out);
                if (doc && mode) CHECK_MSG(validates(doc, schema), "seed %llu: does not validate: %s", (unsigned long long)seed, out);
                cJSON_Delete(doc);
            }
            if (seed == 1) fprintf(stderr, "  %s: %s\n", mode ? "schema" : "json", out);
            ag_sampler_free(smp);
            ag_session_free(s);
            ag_json_constraint_free(jc);
        }
    }
    /* the schema bounds every string and array: those runs always end; free JSON may run long */
    CHECK_MSG(completed >= runs / 2 + 3, "%d of %d runs produced a complete document", completed, runs);
    cJSON_Delete(schema);
    free(lg);
    ag_model_free(m);
}

TEST_MAIN(TEST(test_validator), TEST(test_sampling))
