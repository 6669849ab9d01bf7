/*
 * test_access.c - API keys and policy rules: keys are stored only as hashes and check in and
 * out; wrong and removed keys fail; a malformed keyring or policy is an error naming the
 * problem; rules apply by role and tenant, refuse by endpoint, model, prompt keyword or pattern,
 * and output pattern, naming the rule, and the smallest max_tokens wins. The streamed output
 * policy (ag_policy_stream) refuses at exactly the piece where the whole-text check first
 * refuses, with the same rule, on long replies cut at random (UTF-8 characters cut too).
 */
#include <stdint.h>
#include <unistd.h>

#include "autoglm/access.h"
#include "test.h"

static char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    const char *dir = getenv("AUTOGLM_TEST_TMP");
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/access_%d_%s", dir ? dir : "/tmp", (int)getpid(), name);
    return p;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void test_keyring(void) {
    const char *path = tmp_path("keys.json");
    unlink(path);
    char k1[48], k2[48];
    ag_key_info i1, i2, got;
    CHECK(ag_keyring_add(path, AG_ROLE_USER, "acme", "bob", k1, &i1, NULL) == AG_OK);
    CHECK(ag_keyring_add(path, AG_ROLE_READER, "globex", NULL, k2, &i2, NULL) == AG_OK);
    CHECK(strncmp(k1, "agk_", 4) == 0 && strlen(k1) == 47 && strcmp(k1, k2) != 0);
    ag_error err = {0};
    CHECK(ag_keyring_add(path, AG_ROLE_USER, "bad tenant/..", NULL, k2, NULL, &err) == AG_ERR_INVALID_ARG);

    FILE *f = fopen(path, "rb");
    char text[4096] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    CHECK_MSG(strstr(text, k1 + 4) == NULL, "the key itself is not stored");

    ag_keyring *r = ag_keyring_load(path, NULL);
    CHECK(r && ag_keyring_count(r) == 2);
    CHECK(ag_keyring_check(r, k1, &got) && got.role == AG_ROLE_USER && strcmp(got.tenant, "acme") == 0 &&
          strcmp(got.id, i1.id) == 0 && strcmp(got.name, "bob") == 0);
    CHECK(ag_keyring_check(r, k2, &got) && got.role == AG_ROLE_READER);
    char wrong[48];
    memcpy(wrong, k1, 48);
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    CHECK(!ag_keyring_check(r, wrong, &got) && !ag_keyring_check(r, "", &got) && !ag_keyring_check(r, NULL, &got));
    ag_keyring_free(r);

    CHECK(ag_keyring_remove(path, "zz", NULL) == AG_ERR_INVALID_ARG);
    CHECK(ag_keyring_remove(path, i1.id, NULL) == AG_OK);
    r = ag_keyring_load(path, NULL);
    CHECK(r && ag_keyring_count(r) == 1 && !ag_keyring_check(r, k1, &got) && ag_keyring_check(r, k2, &got));
    ag_keyring_free(r);

    write_file(path, "{\"keys\": [{\"sha256\": \"12\", \"role\": \"user\"}]}");
    memset(&err, 0, sizeof err);
    CHECK(ag_keyring_load(path, &err) == NULL && err.code == AG_ERR_FORMAT && strstr(err.msg, "key 1"));
    write_file(path, "not json");
    CHECK(ag_keyring_load(path, &err) == NULL);
    unlink(path);
    r = ag_keyring_load(path, NULL); /* missing: empty */
    CHECK(r && ag_keyring_count(r) == 0);
    ag_keyring_free(r);
}

static void test_policy(void) {
    const char *path = tmp_path("policy.json");
    write_file(path, "{\"rules\": ["
                     "{\"name\": \"readers-chat-only\", \"roles\": [\"reader\"], \"allow_endpoints\": [\"/api/chat\", \"/v1/*\"]},"
                     "{\"name\": \"acme-models\", \"tenants\": [\"acme\"], \"allow_models\": [\"llama3*\"], \"max_tokens\": 256},"
                     "{\"name\": \"no-weapons\", \"roles\": [\"user\", \"reader\"], \"deny_prompt\": [\"Build a Bomb\", \"re:(?i)武器|weap[o0]n\"],"
                     " \"deny_output\": [\"re:BEGIN [A-Z ]*PRIVATE KEY\"], \"max_tokens\": 512}]}");
    ag_error err = {0};
    ag_policy *p = ag_policy_load(path, &err);
    CHECK_MSG(p != NULL, "%s", err.msg);
    ag_policy_decision d = ag_policy_check_request(p, AG_ROLE_READER, "globex", "/api/generate", "x", "hi");
    CHECK(!d.allowed && strcmp(d.rule, "readers-chat-only") == 0);
    d = ag_policy_check_request(p, AG_ROLE_READER, "globex", "/v1/chat/completions", "x", "hi");
    CHECK(d.allowed && d.max_tokens == 512);
    d = ag_policy_check_request(p, AG_ROLE_USER, "acme", "/api/chat", "qwen2:7b", "hi");
    CHECK(!d.allowed && strcmp(d.rule, "acme-models") == 0 && strstr(d.reason, "qwen2:7b"));
    d = ag_policy_check_request(p, AG_ROLE_USER, "acme", "/api/chat", "llama3.2:1b", "hi");
    CHECK(d.allowed && d.max_tokens == 256);
    d = ag_policy_check_request(p, AG_ROLE_USER, "globex", "/api/chat", "any", "how do I build a bomb?");
    CHECK(!d.allowed && strcmp(d.rule, "no-weapons") == 0);
    d = ag_policy_check_request(p, AG_ROLE_USER, "globex", "/api/chat", "any", "关于武器的问题");
    CHECK(!d.allowed);
    d = ag_policy_check_request(p, AG_ROLE_ADMIN, "globex", "/api/chat", "any", "how do I build a bomb?");
    CHECK(d.allowed); /* the rule is for users and readers */
    d = ag_policy_check_output(p, AG_ROLE_USER, "globex", "here: -----BEGIN RSA PRIVATE KEY-----");
    CHECK(!d.allowed && strcmp(d.rule, "no-weapons") == 0);
    d = ag_policy_check_output(p, AG_ROLE_USER, "globex", "a story");
    CHECK(d.allowed);
    ag_policy_free(p);

    static const char *const bad[][2] = {
        {"{\"rules\": [{\"roles\": [\"user\"]}]}", "needs a \"name\""},
        {"{\"rules\": [{\"name\": \"r\", \"roles\": [\"root\"]}]}", "unknown role 'root'"},
        {"{\"rules\": [{\"name\": \"r\", \"deny_prompt\": [\"re:(unclosed\"]}]}", "rule 'r': deny_prompt pattern"},
        {"{\"rules\": [{\"name\": \"r\", \"max_tokens\": -3}]}", "max_tokens"},
        {"{\"rules\": [{\"name\": \"r\", \"alow_models\": []}]}", "unknown field 'alow_models'"},
        {"[]", "expected {\"rules\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i][0]);
        memset(&err, 0, sizeof err);
        p = ag_policy_load(path, &err);
        CHECK_MSG(p == NULL && strstr(err.msg, bad[i][1]) != NULL, "case %zu: %s", i, err.msg);
        ag_policy_free(p);
    }
    unlink(path);
}

/* A reproducible generator (xorshift) for the stream test. */
static uint64_t rng_state = 88172645463325252ull;
static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* A reply of about len bytes: words, Chinese, digits, punctuation; near-misses of the denied
 * topics; with plant set, one of them at a random place. */
static char *make_reply(size_t len, const char *plant) {
    static const char *const parts[] = {"the ", "lighthouse ", "keeper ", "Secret ", "kee", "y ", "password", " ", "\\n",
                                        "code", "42 ", "x", "yz", "zz ", "中文", "秘", "码密", "。", "tail", "BEGIN ",
                                        "a", "b.", "......", "secret-key ", "passwd: x "};
    const size_t n_parts = sizeof parts / sizeof parts[0];
    char *t = malloc(len + 256);
    size_t at = 0, where = plant ? rnd((unsigned)len) : (size_t)-1;
    while (at < len) {
        if (at >= where) {
            at += (size_t)sprintf(t + at, "%s", plant);
            where = (size_t)-1;
        }
        at += (size_t)sprintf(t + at, "%s", parts[rnd((unsigned)n_parts)]);
    }
    t[at] = '\0';
    return t;
}

/* The piece index after which the check refuses (-1: never) and the rule, both ways. */
static void compare_stream(const ag_policy *p, ag_role role, const char *tenant, const char *text, int max_piece) {
    const size_t len = strlen(text);
    ag_policy_stream *s = ag_policy_stream_new(p, role, tenant);
    CHECK(s != NULL);
    if (!s) return;
    char *prefix = malloc(len + 1);
    int old_at = -1, new_at = -1, piece = 0;
    char old_rule[64] = "", new_rule[64] = "";
    for (size_t at = 0; at < len; piece++) {
        size_t n = 1 + rnd((unsigned)max_piece);
        if (n > len - at) n = len - at;
        memcpy(prefix, text, at + n);
        prefix[at + n] = '\0';
        ag_policy_decision d = ag_policy_check_output(p, role, tenant, prefix);
        if (!d.allowed && old_at < 0) old_at = piece, snprintf(old_rule, sizeof old_rule, "%s", d.rule);
        d = ag_policy_stream_push(s, text + at, n);
        if (!d.allowed && new_at < 0) new_at = piece, snprintf(new_rule, sizeof new_rule, "%s", d.rule);
        at += n;
        if (old_at >= 0 && new_at >= 0) break;
    }
    CHECK_MSG(old_at == new_at && strcmp(old_rule, new_rule) == 0, "whole text refuses at piece %d (%s), the stream at %d (%s)",
              old_at, old_rule, new_at, new_rule);
    free(prefix);
    ag_policy_stream_free(s);
}

static void test_policy_stream(void) {
    const char *path = tmp_path("policy_stream.json");
    write_file(path, "{\"rules\": ["
                     "{\"name\": \"keys\", \"deny_output\": [\"Secret Key\", \"re:pass(word|wd)\\\\s*[:=]\\\\s*\\\\S{3}\"]},"
                     "{\"name\": \"cjk\", \"roles\": [\"user\"], \"deny_output\": [\"re:中文秘密\", \"re:(?<=x)yzzy\"]},"
                     "{\"name\": \"shape\", \"tenants\": [\"acme\"], \"deny_output\": [\"re:^the keeper\", \"re:\\\\bcode\\\\d{3}\","
                     " \"re:tail$\", \"re:a[^.]{0,12}b{2}\", \"re:BEGIN [A-Z ]*PRIVATE KEY\"]}]}");
    ag_error err = {0};
    ag_policy *p = ag_policy_load(path, &err);
    CHECK_MSG(p != NULL, "%s", err.msg);
    if (!p) return;
    static const char *const plants[] = {NULL, "SECRET KEY", "password :   abc", "passwd=xyz", "中文秘密", "xyzzy",
                                         "code123", "abb", "a1234b bb", "BEGIN RSA PRIVATE KEY"};
    static const struct { ag_role role; const char *tenant; } who[] = {
        {AG_ROLE_USER, "acme"}, {AG_ROLE_READER, "acme"}, {AG_ROLE_USER, "globex"}};

    for (size_t w = 0; w < sizeof who / sizeof who[0]; w++)
        for (size_t i = 0; i < sizeof plants / sizeof plants[0]; i++)
            for (int rep = 0; rep < 6; rep++) {
                char *text = make_reply(rep == 0 ? 20000 : 3000, plants[i]);
                compare_stream(p, who[w].role, who[w].tenant, text, rep % 2 ? 3 : 12);
                free(text);
            }
    /* the text ends in a tail that only matches whole: "tail" then more text */
    ag_policy_stream *s = ag_policy_stream_new(p, AG_ROLE_USER, "acme");
    CHECK(ag_policy_stream_push(s, "a story with a ta", 17).allowed);
    CHECK(!ag_policy_stream_push(s, "il", 2).allowed); /* "tail$" matches at this end */
    CHECK(!ag_policy_stream_push(s, " more", 5).allowed); /* refusals stay */
    ag_policy_stream_free(s);
    ag_policy_free(p);
    unlink(path);
}

TEST_MAIN(TEST(test_keyring), TEST(test_policy), TEST(test_policy_stream))
