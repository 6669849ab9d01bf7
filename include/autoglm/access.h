/*
 * access.h - who may do what: API keys with roles and tenants, and policy rules.
 *
 * Keys: `autoglm keys add --role admin|user|reader --tenant T [--name N]` makes a random key
 * ("agk_" + 43 base64url characters), prints it once, and stores only its SHA-256 (with id, role,
 * tenant, name, creation time) in a keyring file (JSON, mode 0600; default ~/.autoglm/keys.json,
 * AUTOGLM_KEYS overrides). A request sends it as `Authorization: Bearer <key>`.
 * Roles: admin (models, keys, everything), user (generate, chat, embed, its tenant's knowledge
 * bases), reader (queries only).
 *
 * Policy: a JSON file of rules, each applying to some roles and tenants ("*" = all):
 *   {"rules": [{"name": "no-secrets-talk", "roles": ["user", "reader"], "tenants": ["*"],
 *               "allow_models": ["llama3*", "qwen*"],        glob patterns; absent = any
 *               "allow_endpoints": ["/api/chat", "/v1/chat/completions"],  absent = any
 *               "deny_prompt": ["password dump", "re:(?i)credit\\s*card"],   keyword or re:PCRE2
 *               "deny_output": ["re:BEGIN [A-Z ]*PRIVATE KEY"],
 *               "max_tokens": 512,
 *               "route_upstream": ["re:(?i)translate"]}]}   prompts matching go to the upstream API
 *                                                         (serve --upstream), redacted
 * A request is refused by the first rule that applies and denies it; the decision names the rule.
 * Keywords match case-insensitively as substrings; "re:" patterns are PCRE2 (UTF); models and
 * endpoints are glob patterns (fnmatch: "llama3*", "/v1/" followed by "*").
 */
#ifndef AUTOGLM_ACCESS_H
#define AUTOGLM_ACCESS_H

#include <stdbool.h>

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AG_ROLE_READER = 0, AG_ROLE_USER = 1, AG_ROLE_ADMIN = 2 } ag_role;
const char *ag_role_name(ag_role role);
int ag_role_from_name(const char *name); /* -1 when unknown */

typedef struct {
    char id[13];      /* first 12 hex digits of the key's SHA-256: safe to log */
    ag_role role;
    char tenant[64];
    char name[64];
    char created[32]; /* UTC, ISO 8601 */
} ag_key_info;

/* The default keyring path ($AUTOGLM_KEYS or ~/.autoglm/keys.json); malloc'd, NULL when no home. */
char *ag_keyring_default_path(void);

/* Adds a key to the keyring file (created when missing); key_out receives the key (keep it: it is
 * not stored). tenant: letters, digits, '-', '_', '.' (1-63). */
ag_status ag_keyring_add(const char *path, ag_role role, const char *tenant, const char *name, char key_out[48],
                         ag_key_info *info, ag_error *err);
/* Removes the key with this id (or unique id prefix of at least 6 digits). */
ag_status ag_keyring_remove(const char *path, const char *id, ag_error *err);

typedef struct ag_keyring ag_keyring;
/* Loads a keyring (a missing file is an empty keyring). */
ag_keyring *ag_keyring_load(const char *path, ag_error *err);
void ag_keyring_free(ag_keyring *r);
int ag_keyring_count(const ag_keyring *r);
const ag_key_info *ag_keyring_at(const ag_keyring *r, int i);
/* The key's entry, or false when it is not in the keyring (compared in constant time). */
bool ag_keyring_check(const ag_keyring *r, const char *key, ag_key_info *info);

/* ---- policy */
typedef struct ag_policy ag_policy;
ag_policy *ag_policy_load(const char *path, ag_error *err); /* names the rule and field at fault */
void ag_policy_free(ag_policy *p);

typedef struct {
    bool allowed;
    char rule[64];    /* the rule that refused, or "" */
    char reason[192]; /* e.g. "model 'x' is not allowed", "the prompt matches a denied topic" */
    int max_tokens;   /* the smallest max_tokens of the rules that apply; 0 = no limit */
    bool upstream;    /* a rule's route_upstream matched the prompt */
} ag_policy_decision;

/* A request: endpoint path, model name (may be NULL) and prompt text (may be NULL). */
ag_policy_decision ag_policy_check_request(const ag_policy *p, ag_role role, const char *tenant, const char *endpoint,
                                           const char *model, const char *prompt);
/* Output text (the whole text so far): refused when a rule's deny_output matches. */
ag_policy_decision ag_policy_check_output(const ag_policy *p, ag_role role, const char *tenant, const char *text);

/* Output judged as it streams: after each piece, the decision ag_policy_check_output would give
 * on all the text pushed so far (refusals are sticky), without judging the whole text again
 * (keywords: linear time; patterns: rescanned from the earliest start more text could still
 * complete). The policy must outlive the stream. NULL when out of memory. */
typedef struct ag_policy_stream ag_policy_stream;
ag_policy_stream *ag_policy_stream_new(const ag_policy *p, ag_role role, const char *tenant);
ag_policy_decision ag_policy_stream_push(ag_policy_stream *s, const char *piece, size_t len);
void ag_policy_stream_free(ag_policy_stream *s);

#ifdef __cplusplus
}
#endif

#endif
