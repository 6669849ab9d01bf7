/*
 * test_redact.c - the redaction filter: recall and precision on the labelled set
 * (tests/data/redact/labelled.jsonl: positives in English and Chinese, tricky negatives), the same
 * spans when the text arrives in pieces of 1-7 bytes, validators against known values, the
 * caller's words and patterns, hash mode, and errors.
 */
#include <cJSON.h>

#include "autoglm/redact.h"
#include "test.h"
#include "trust/redact_check.h"

#define LABELLED AG_TEST_SOURCE_DIR "/data/redact/labelled.jsonl"

static size_t cp_offset(const char *s, size_t byte_off) {
    size_t n = 0;
    for (size_t i = 0; i < byte_off; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The text redacted through the stream API, fed in pieces of pseudo-random sizes. */
static char *stream_redact(const ag_redactor *r, const char *text, size_t len, unsigned seed) {
    ag_redact_stream *s = ag_redact_stream_new(r);
    size_t cap = len * 4 + 64, n = 0, out_len = 0;
    char *out = malloc(cap);
    const char *piece;
    for (size_t at = 0; at < len;) {
        seed = seed * 1103515245u + 12345u;
        size_t step = 1 + (seed >> 16) % 7;
        if (step > len - at) step = len - at;
        piece = ag_redact_stream_push(s, text + at, step, &out_len);
        if (!piece || n + out_len >= cap) break;
        memcpy(out + n, piece, out_len);
        n += out_len;
        at += step;
    }
    piece = ag_redact_stream_finish(s, &out_len);
    if (piece && n + out_len < cap) {
        memcpy(out + n, piece, out_len);
        n += out_len;
    }
    out[n] = '\0';
    ag_redact_stream_free(s);
    return out;
}

static void test_labelled_set(void) {
    FILE *f = fopen(LABELLED, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", LABELLED);
    if (!f) return;
    ag_redactor *r = ag_redactor_new(NULL, NULL);
    CHECK(r != NULL);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    int tp = 0, fp = 0, fn = 0, lines = 0, negative_lines = 0, stream_mismatch = 0;
    while (r && (got = getline(&line, &line_cap, f)) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "text");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "spans");
        CHECK(cJSON_IsString(jt) && cJSON_IsArray(js));
        if (!cJSON_IsString(jt) || !cJSON_IsArray(js)) {
            cJSON_Delete(j);
            continue;
        }
        lines++;
        negative_lines += cJSON_GetArraySize(js) == 0;
        const char *text = jt->valuestring;
        size_t len = strlen(text);
        ag_span spans[32];
        int n = ag_redact_find(r, text, len, spans, 32);
        CHECK(n >= 0 && n <= 32);
        int matched = 0;
        for (int i = 0; i < n && i < 32; i++) {
            size_t s = cp_offset(text, spans[i].start), e = cp_offset(text, spans[i].end);
            bool found = false;
            const cJSON *x;
            cJSON_ArrayForEach(x, js) {
                const char *kind = cJSON_GetObjectItemCaseSensitive(x, "kind")->valuestring;
                if (strcmp(kind, ag_span_kind_name(spans[i].kind)) == 0 &&
                    cJSON_GetObjectItemCaseSensitive(x, "start")->valueint == (int)s &&
                    cJSON_GetObjectItemCaseSensitive(x, "end")->valueint == (int)e)
                    found = true;
            }
            if (found) {
                tp++;
                matched++;
            } else {
                fp++;
                fprintf(stderr, "  false positive %s [%zu,%zu): %s", ag_span_kind_name(spans[i].kind), s, e, line);
            }
        }
        if (matched < cJSON_GetArraySize(js)) {
            fn += cJSON_GetArraySize(js) - matched;
            fprintf(stderr, "  missed: %s", line);
        }
        size_t whole_len = 0;
        char *whole = ag_redact_text(r, text, len, &whole_len);
        char *streamed = stream_redact(r, text, len, (unsigned)lines);
        if (!whole || strcmp(whole, streamed) != 0) {
            stream_mismatch++;
            fprintf(stderr, "  stream differs: %s\n  whole:  %s\n  stream: %s\n", text, whole ? whole : "?", streamed);
        }
        free(whole);
        free(streamed);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    ag_redactor_free(r);
    double recall = tp + fn ? (double)tp / (tp + fn) : 0, precision = tp + fp ? (double)tp / (tp + fp) : 0;
    printf("redaction: %d lines (%d negative): %d spans found, %d missed, %d false: recall %.4f, precision %.4f; "
           "streamed in 1-7 byte pieces: %d lines differ\n",
           lines, negative_lines, tp, fn, fp, recall, precision, stream_mismatch);
    CHECK(lines >= 600 && negative_lines >= 300 && tp + fn >= 300);
    CHECK_MSG(recall >= 0.99, "recall %.4f", recall);
    CHECK_MSG(precision >= 0.98, "precision %.4f", precision);
    CHECK_MSG(stream_mismatch == 0, "%d lines", stream_mismatch);
}

static void test_validators(void) {
    CHECK(ag_check_cn_id("11010519491231002X", 18));
    CHECK(ag_check_cn_id("11010519491231002x", 18));
    CHECK(!ag_check_cn_id("110105194912310021", 18)); /* wrong checksum */
    CHECK(!ag_check_cn_id("11010519490230002X", 18)); /* 30 February */
    CHECK(ag_luhn_valid("4111111111111111", 16));
    CHECK(!ag_luhn_valid("4111111111111112", 16));
    CHECK(ag_check_bank_card("4111 1111 1111 1111", 19));
    CHECK(ag_check_bank_card("378282246310005", 15));   /* American Express test number */
    CHECK(!ag_check_bank_card("1111111111111117", 16)); /* Luhn-valid but no network starts with 1 */
    CHECK(ag_check_ipv6("2001:db8::1", 11));
    CHECK(ag_check_ipv6("::1", 3));
    CHECK(!ag_check_ipv6("12:30:45", 8));
    CHECK(!ag_check_ipv6("a::b", 4));
}

static char *redact(const ag_redact_config *cfg, const char *text) {
    ag_error err = {0};
    ag_redactor *r = ag_redactor_new(cfg, &err);
    if (!r) return strdup(err.msg);
    char *out = ag_redact_text(r, text, strlen(text), NULL);
    ag_redactor_free(r);
    return out;
}

static void test_config(void) {
    const char *words[] = {"Project Falcon", "机密"};
    const char *patterns[] = {"EMP-[0-9]{5}"};
    ag_redact_config cfg = {.words = words, .n_words = 2, .patterns = patterns, .n_patterns = 1};
    char *out = redact(&cfg, "project falcon is 机密 for EMP-12345, not falconry or EMP-1234.");
    CHECK_MSG(strcmp(out, "[CUSTOM] is [CUSTOM] for [CUSTOM], not falconry or EMP-1234.") == 0, "%s", out);
    free(out);

    cfg = (ag_redact_config){.kinds_off = 1u << AG_SPAN_EMAIL};
    out = redact(&cfg, "a.b@example.com 13812345678");
    CHECK_MSG(strcmp(out, "a.b@example.com [PHONE]") == 0, "%s", out);
    free(out);

    cfg = (ag_redact_config){.mode = AG_REDACT_HASH};
    char *a = redact(&cfg, "x 13812345678"), *b = redact(&cfg, "y 13812345678");
    cfg.salt = "pepper";
    char *c = redact(&cfg, "x 13812345678");
    CHECK_MSG(strncmp(a, "x [PHONE:", 9) == 0 && strlen(a) == 18 && strcmp(a + 2, b + 2) == 0, "%s %s", a, b);
    CHECK_MSG(strcmp(a, c) != 0, "the salt changes the hash");
    free(a);
    free(b);
    free(c);

    ag_error err = {0};
    const char *bad[] = {"([unclosed"};
    cfg = (ag_redact_config){.patterns = bad, .n_patterns = 1};
    ag_redactor *r = ag_redactor_new(&cfg, &err);
    CHECK(r == NULL && err.code == AG_ERR_INVALID_ARG && strstr(err.msg, "[unclosed") != NULL);
}

/* A candidate that loses to another detector's span does not hide one that starts inside it: after
 * an IPv6 address ending in ":86", "86 138..." would be a phone with its country code, overlapping
 * the address; the phone without it is still found, the same whole and streamed in any pieces
 * (a fuzz_redact finding). */
static void test_overlapping_candidates(void) {
    ag_redactor *r = ag_redactor_new(NULL, NULL);
    const char text[] = "fe84::86 138-1234-5678.m05 and 10.0.0.1";
    ag_span sp[8];
    const int n = ag_redact_find(r, text, sizeof text - 1, sp, 8);
    CHECK_MSG(n == 3 && sp[0].kind == AG_SPAN_IPV6 && sp[1].kind == AG_SPAN_PHONE && sp[1].start == 9 &&
                  sp[1].end == 22 && sp[2].kind == AG_SPAN_IPV4,
              "%d spans", n);
    size_t wl = 0;
    char *whole = ag_redact_text(r, text, sizeof text - 1, &wl);
    for (size_t step = 1; step <= 9; step++) {
        char *streamed = stream_redact(r, text, sizeof text - 1, step);
        CHECK_MSG(whole && streamed && strcmp(streamed, whole) == 0, "pieces of %zu: %s vs %s", step, streamed, whole);
        free(streamed);
    }
    free(whole);
    ag_redactor_free(r);
}

static void test_edges(void) {
    ag_redactor *r = ag_redactor_new(NULL, NULL);
    /* invalid UTF-8 and NUL bytes around a value; empty input */
    const char text[] = "\xff\xfe 13812345678 \x00 \xc3";
    size_t n = 0;
    char *out = ag_redact_text(r, text, sizeof text - 1, &n);
    CHECK(out && n == sizeof text - 1 - 11 + 7 && memcmp(out + 3, "[PHONE]", 7) == 0);
    free(out);
    out = ag_redact_text(r, "", 0, &n);
    CHECK(out && n == 0);
    free(out);
    /* a long run that could be a secret is released in bounded pieces */
    size_t big = 100000;
    char *run = malloc(big + 1);
    memset(run, 'a', big);
    run[big] = '\0';
    char *streamed = stream_redact(r, run, big, 7);
    CHECK(strlen(streamed) == big);
    free(streamed);
    free(run);
    ag_redactor_free(r);
}

TEST_MAIN(TEST(test_labelled_set), TEST(test_validators), TEST(test_config), TEST(test_edges),
          TEST(test_overlapping_candidates))
