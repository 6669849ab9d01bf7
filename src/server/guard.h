/*
 * guard.h - the trust layer at the server's door: API keys and roles (which routes a role may
 * use), policy rules on requests and output, the redaction filter per role for what goes out,
 * and the audit log of every request. With no keyring configured, authentication is off (the
 * server then listens on loopback only unless --insecure; cmd_serve.c checks).
 */
#ifndef AG_SERVER_GUARD_H
#define AG_SERVER_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "autoglm/access.h"
#include "autoglm/redact.h"

typedef struct {
    const char *keys_path;   /* keyring; NULL = no authentication */
    const char *policy_path; /* NULL = no policy */
    const char *audit_path;  /* NULL = no audit log */
    bool audit_prompts;      /* log prompts in clear (default: only their SHA-256) */
    int redact[3];           /* per role (reader, user, admin): -1 off, else an ag_redact_mode */
    const char *redact_words_path; /* more words to redact, one per line (redact.h's custom words) */
} guard_config;

typedef struct guard guard;

guard *guard_new(const guard_config *cfg, char *err, size_t cap);
void guard_free(guard *g);
bool guard_auth_on(const guard *g);

/* What guard_check learned about a request (kept in the request for the audit record). */
typedef struct {
    bool authed;          /* a valid key was presented */
    ag_key_info key;      /* when authed */
    ag_role role;         /* the key's role; admin when authentication is off */
    int max_tokens;       /* from the policy; 0 = no limit */
    bool upstream;        /* the policy routes it to the upstream API (the router sets it when used) */
    char model[128];      /* "model"/"name" of the body, "" when none */
    char prompt_sha256[65];
    char *prompt;         /* the prompt text (owned), for the audit log when prompts are logged */
} guard_info;

/* Checks a request for a route that needs min_role (negative: a public route): the key (401), the role (403), the policy on
 * the endpoint, model and prompt (403, naming the rule). Returns 0 to go on, or the status with
 * a message in err. Fills *info either way (free with guard_info_free). */
int guard_check(guard *g, const char *auth_header, const char *path, ag_role min_role, const char *body, size_t len,
                guard_info *info, char *err, size_t cap);
void guard_info_free(guard_info *info);

/* One audit record for a finished request (no-op without an audit log). */
void guard_audit(guard *g, const guard_info *info, const char *method, const char *path, unsigned status, double ms);

/* The redactor for what a role receives, NULL when its output is not redacted. */
const ag_redactor *guard_redactor(const guard *g, ag_role role);
/* True when a policy is loaded (output is then judged as it is generated). */
bool guard_has_policy(const guard *g);
/* Output policy: false (with the rule in err) when text may not be shown to this role/tenant. */
bool guard_output_ok(const guard *g, const guard_info *info, const char *text, char *err, size_t cap);
/* The output policy on streamed text, for this role/tenant (ag_policy_stream): NULL when no
 * policy is loaded (or out of memory: then guard_output_stream_push on NULL refuses). */
ag_policy_stream *guard_output_stream_new(const guard *g, const guard_info *info);
/* Pushes the next piece: false (with the rule in err) once the text so far may not be shown. */
bool guard_output_stream_push(ag_policy_stream *s, const char *piece, size_t len, char *err, size_t cap);

#endif
