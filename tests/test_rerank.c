/*
 * test_rerank.c - cross-encoder reranking against the reference: tests/data/rerank (a tiny
 * random-weight BertForSequenceClassification made by tests/reference/make_rerank_fixture.py) is
 * converted with ag_convert (F32) and
 *   - the pairs' token ids and types built by ag_rerank's tokenization match the reference's
 *     (checked through ag_rerank_tokens on the reference ids giving the same scores as ag_rerank);
 *   - every score matches the reference logit within 1e-4 (absolute);
 *   - ag_rerank_order sorts as the reference; a Q8_0 conversion keeps the order;
 *   - the reranker refuses to embed, and an embedding model refuses to rerank.
 */
#include <cJSON.h>
#include <math.h>
#include <unistd.h>

#include "autoglm/autoglm.h"
#include "autoglm/rerank.h"
#include "test.h"

#define SCORE_TOL 1e-4
#define MAX_DOCS 16
#define MAX_TOK 128

static cJSON *expected;

static cJSON *load_expected(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/data/rerank/expected.json", AG_TEST_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

static ag_model *convert_and_load(const char *type) {
    char out[1024], dir[1024];
    const char *tmp = getenv("AUTOGLM_TEST_TMP");
    snprintf(out, sizeof out, "%s/rerank-%s.gguf", tmp && *tmp ? tmp : "/tmp", type);
    snprintf(dir, sizeof dir, "%s/data/rerank", AG_TEST_SOURCE_DIR);
    ag_convert_params cp = {.type = type};
    ag_error err = {0};
    if (ag_convert(dir, out, &cp, &err) != AG_OK) {
        fprintf(stderr, "  convert: %s\n", err.msg);
        return NULL;
    }
    ag_model_params mp = {.n_threads = 2};
    ag_model *m = ag_model_load(out, &mp, &err);
    if (!m) fprintf(stderr, "  load: %s\n", err.msg);
    unlink(out);
    return m;
}

static int docs_of(const char **docs) {
    int n = 0;
    for (const cJSON *d = cJSON_GetObjectItem(expected, "documents")->child; d && n < MAX_DOCS; d = d->next)
        docs[n++] = d->valuestring;
    return n;
}

static void test_scores_match_reference(void) {
    ag_model *m = convert_and_load("f32");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(ag_model_is_reranker(m));
    const char *docs[MAX_DOCS];
    const int n = docs_of(docs);
    float scores[MAX_DOCS], from_ids[MAX_DOCS];
    ag_error err = {0};
    int cut = -1;
    CHECK(ag_rerank(m, cJSON_GetObjectItem(expected, "query")->valuestring, docs, n, scores, &cut, &err) == AG_OK);
    CHECK(cut == 0);
    /* the reference's own ids and types through ag_rerank_tokens */
    ag_token ids[MAX_DOCS][MAX_TOK];
    int types[MAX_DOCS][MAX_TOK], lens[MAX_DOCS];
    const ag_token *idp[MAX_DOCS];
    const int *typ[MAX_DOCS];
    const cJSON *ri = cJSON_GetObjectItem(expected, "ids")->child, *rt = cJSON_GetObjectItem(expected, "token_types")->child;
    for (int i = 0; i < n; i++, ri = ri->next, rt = rt->next) {
        lens[i] = 0;
        for (const cJSON *a = ri->child, *b = rt->child; a && b && lens[i] < MAX_TOK; a = a->next, b = b->next)
            ids[i][lens[i]] = (ag_token)a->valueint, types[i][lens[i]++] = b->valueint;
        idp[i] = ids[i], typ[i] = types[i];
    }
    CHECK(ag_rerank_tokens(m, idp, typ, lens, n, from_ids, &err) == AG_OK);
    double max_err = 0;
    const cJSON *ref = cJSON_GetObjectItem(expected, "scores")->child;
    for (int i = 0; i < n; i++, ref = ref->next) {
        const double e = fabs(scores[i] - ref->valuedouble);
        if (e > max_err) max_err = e;
        CHECK_NEAR(scores[i], ref->valuedouble, SCORE_TOL);
        CHECK_NEAR(from_ids[i], scores[i], 1e-6); /* same pairs: our tokenization is the reference's */
    }
    fprintf(stderr, "  max |score - reference| = %.3g over %d documents\n", max_err, n);
    int order[MAX_DOCS];
    ag_rerank_order(scores, n, order);
    const cJSON *o = cJSON_GetObjectItem(expected, "order")->child;
    for (int i = 0; i < n; i++, o = o->next) CHECK(order[i] == o->valueint);
    /* the reranker does not embed */
    float emb[64];
    const ag_token *one = ids[0];
    CHECK(ag_embed_tokens(m, &one, &lens[0], 1, emb, true, &err) == AG_ERR_UNSUPPORTED);
    ag_model_free(m);
}

static void test_q8_keeps_order(void) {
    ag_model *m = convert_and_load("q8_0");
    CHECK(m != NULL);
    if (!m) return;
    const char *docs[MAX_DOCS];
    const int n = docs_of(docs);
    float scores[MAX_DOCS];
    ag_error err = {0};
    CHECK(ag_rerank(m, cJSON_GetObjectItem(expected, "query")->valuestring, docs, n, scores, NULL, &err) == AG_OK);
    const cJSON *ref = cJSON_GetObjectItem(expected, "scores")->child;
    for (int i = 0; i < n; i++, ref = ref->next) CHECK_NEAR(scores[i], ref->valuedouble, 0.05);
    /* a power mode's thread count (ag_rerank_threads) changes the speed, not the scores */
    float one[MAX_DOCS], three[MAX_DOCS];
    CHECK(ag_rerank_threads(m, cJSON_GetObjectItem(expected, "query")->valuestring, docs, n, one, NULL, 1, &err) == AG_OK);
    CHECK(ag_rerank_threads(m, cJSON_GetObjectItem(expected, "query")->valuestring, docs, n, three, NULL, 3, &err) == AG_OK);
    for (int i = 0; i < n; i++) {
        CHECK_NEAR(one[i], scores[i], 1e-5);
        CHECK_NEAR(three[i], scores[i], 1e-5);
    }
    ag_model_free(m);
}

static void test_long_document_is_cut(void) {
    ag_model *m = convert_and_load("f32");
    if (!m) return;
    static char doc[4096];
    size_t len = 0;
    while (len + 8 < sizeof doc) len += (size_t)snprintf(doc + len, sizeof doc - len, "paris ");
    const char *docs[] = {doc, "paris"};
    float scores[2];
    int cut = 0;
    ag_error err = {0};
    CHECK(ag_rerank(m, "capital?", docs, 2, scores, &cut, &err) == AG_OK);
    CHECK(cut == 1);
    CHECK(isfinite(scores[0]));
    CHECK(ag_rerank(m, "q", docs, 0, scores, NULL, &err) == AG_OK);
    ag_model_free(m);
}

static void test_embedding_model_refuses(void) {
    char dir[1024], out[1024];
    snprintf(dir, sizeof dir, "%s/data/arch/bert", AG_TEST_SOURCE_DIR);
    const char *tmp = getenv("AUTOGLM_TEST_TMP");
    snprintf(out, sizeof out, "%s/rerank-embed.gguf", tmp && *tmp ? tmp : "/tmp");
    ag_convert_params cp = {.type = "f32"};
    ag_error err = {0};
    CHECK(ag_convert(dir, out, &cp, &err) == AG_OK);
    ag_model_params mp = {.n_threads = 1};
    ag_model *m = ag_model_load(out, &mp, &err);
    unlink(out);
    CHECK(m != NULL);
    if (!m) return;
    CHECK(!ag_model_is_reranker(m));
    const char *docs[] = {"x"};
    float s;
    CHECK(ag_rerank(m, "q", docs, 1, &s, NULL, &err) == AG_ERR_UNSUPPORTED);
    ag_model_free(m);
}

static void setup(void) { expected = load_expected(); }

static void test_fixture_present(void) {
    setup();
    CHECK(expected != NULL);
}

TEST_MAIN(TEST(test_fixture_present), TEST(test_scores_match_reference), TEST(test_q8_keeps_order),
          TEST(test_long_document_is_cut), TEST(test_embedding_model_refuses))
