/*
 * guard.c - authentication, authorization, policy, redaction choice and audit records for the
 * server (see guard.h). The keyring, policy and redactors are loaded once and read-only after;
 * the audit log serializes its own appends, so one guard serves every connection thread.
 */
#include "server/guard.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <strings.h>

#include "autoglm/audit.h"
#include "base/file.h"

#define BODY_TEXT_MAX (1u << 20) /* prompt text gathered for the policy and the audit hash */

struct guard {
    char *words_text;          /* the redaction word list (lines point into it) */
    const char **words;
    int n_words;
    ag_keyring *keys;
    ag_policy *policy;
    ag_audit *audit;
    bool audit_prompts;
    ag_redactor *redactor[3][2]; /* [role][mode] built once, shared by roles with the same mode */
    int redact[3];
};

static ag_redactor *redactor_for(guard *g, int mode, char *err, size_t cap) {
    for (int r = 0; r < 3; r++)
        if (g->redactor[r][mode]) return g->redactor[r][mode];
    ag_error e = {0};
    ag_redactor *red = ag_redactor_new(
        &(ag_redact_config){.mode = (ag_redact_mode)mode, .words = g->words, .n_words = g->n_words}, &e);
    if (!red) snprintf(err, cap, "redaction: %s", e.msg);
    return red;
}

/* One word per line (blank lines skipped). */
static bool load_words(guard *g, const char *path, ag_error *e) {
    if (!(g->words_text = ag_read_file(path, 4u << 20, NULL, e))) return false;
    size_t n = 1;
    for (const char *p = g->words_text; *p; p++) n += *p == '\n';
    if (!(g->words = calloc(n, sizeof *g->words))) return false;
    char *save = NULL;
    for (char *w = strtok_r(g->words_text, "\r\n", &save); w; w = strtok_r(NULL, "\r\n", &save))
        if (*w) g->words[g->n_words++] = w;
    return true;
}

guard *guard_new(const guard_config *cfg, char *err, size_t cap) {
    guard *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    ag_error e = {0};
    g->audit_prompts = cfg->audit_prompts;
    if (cfg->redact_words_path && !load_words(g, cfg->redact_words_path, &e)) snprintf(err, cap, "redaction words: %s", e.msg);
    else if (cfg->keys_path && !(g->keys = ag_keyring_load(cfg->keys_path, &e))) snprintf(err, cap, "keys: %s", e.msg);
    else if (cfg->policy_path && !(g->policy = ag_policy_load(cfg->policy_path, &e))) snprintf(err, cap, "%s", e.msg);
    else if (cfg->audit_path && !(g->audit = ag_audit_open(cfg->audit_path, &e))) snprintf(err, cap, "audit log: %s", e.msg);
    else {
        err[0] = '\0';
        for (int r = 0; r < 3 && !err[0]; r++) {
            g->redact[r] = cfg->redact[r];
            if (cfg->redact[r] >= 0) {
                ag_redactor *red = redactor_for(g, cfg->redact[r], err, cap);
                if (red) g->redactor[r][cfg->redact[r]] = red;
            }
        }
        if (!err[0]) return g;
    }
    guard_free(g);
    return NULL;
}

void guard_free(guard *g) {
    if (!g) return;
    for (int mode = 0; mode < 2; mode++) { /* each redactor once, though roles may share it */
        ag_redactor *seen = NULL;
        for (int r = 0; r < 3; r++)
            if (g->redactor[r][mode] && g->redactor[r][mode] != seen) {
                seen = g->redactor[r][mode];
                ag_redactor_free(seen);
            }
    }
    ag_keyring_free(g->keys);
    ag_policy_free(g->policy);
    free(g->words);
    free(g->words_text);
    ag_audit_close(g->audit);
    free(g);
}

bool guard_auth_on(const guard *g) { return g && g->keys; }

const ag_redactor *guard_redactor(const guard *g, ag_role role) {
    if (!g || (unsigned)role > AG_ROLE_ADMIN || g->redact[role] < 0) return NULL;
    return g->redactor[role][g->redact[role]];
}

/* The text a policy judges: prompt, system, messages' contents, embedding inputs. */
static char *body_text(const cJSON *root) {
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return NULL;
    static const char *const keys[] = {"system", "prompt", "input", "messages"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        if (cJSON_IsString(v)) fprintf(f, "%s\n", v->valuestring);
        const cJSON *list = cJSON_IsArray(v) ? v : NULL, *it;
        cJSON_ArrayForEach(it, list) {
            const cJSON *c = cJSON_IsString(it) ? it : cJSON_GetObjectItemCaseSensitive(it, "content");
            if (cJSON_IsString(c)) fprintf(f, "%s\n", c->valuestring);
        }
    }
    fclose(f);
    if (len > BODY_TEXT_MAX) out[BODY_TEXT_MAX] = '\0';
    return out;
}

static const char *bearer(const char *h) {
    if (!h) return NULL;
    if (strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    h += 7;
    while (*h == ' ') h++;
    return *h ? h : NULL;
}

int guard_check(guard *g, const char *auth_header, const char *path, ag_role min_role, const char *body, size_t len,
                guard_info *info, char *err, size_t cap) {
    memset(info, 0, sizeof *info);
    info->role = AG_ROLE_ADMIN;
    if (g && g->keys && (int)min_role >= 0) { /* a negative role: a public route */
        const char *key = bearer(auth_header);
        if (!key) {
            snprintf(err, cap, "unauthorized: an API key is required (Authorization: Bearer <key>)");
            return 401;
        }
        if (!ag_keyring_check(g->keys, key, &info->key)) {
            snprintf(err, cap, "unauthorized: invalid API key");
            return 401;
        }
        info->authed = true;
        info->role = info->key.role;
        if (info->role < min_role) {
            snprintf(err, cap, "forbidden: role '%s' may not use %s (needs '%s')", ag_role_name(info->role), path,
                     ag_role_name(min_role));
            return 403;
        }
    }
    cJSON *root = len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(model)) model = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (cJSON_IsString(model)) snprintf(info->model, sizeof info->model, "%s", model->valuestring);
    info->prompt = root ? body_text(root) : NULL;
    cJSON_Delete(root);
    if (info->prompt && *info->prompt) {
        unsigned char h[32];
        unsigned int n = 0;
        if (EVP_Digest(info->prompt, strlen(info->prompt), h, &n, EVP_sha256(), NULL) == 1)
            for (int i = 0; i < 32; i++) snprintf(info->prompt_sha256 + 2 * i, 3, "%02x", h[i]);
    }
    if (g && g->policy) {
        ag_policy_decision d = ag_policy_check_request(g->policy, info->role, info->authed ? info->key.tenant : "", path,
                                                       info->model[0] ? info->model : NULL, info->prompt);
        if (!d.allowed) {
            snprintf(err, cap, "refused by policy rule '%s': %s", d.rule, d.reason);
            return 403;
        }
        info->max_tokens = d.max_tokens;
        info->upstream = d.upstream;
    }
    return 0;
}

void guard_info_free(guard_info *info) {
    free(info->prompt);
    info->prompt = NULL;
}

bool guard_has_policy(const guard *g) { return g && g->policy; }

bool guard_output_ok(const guard *g, const guard_info *info, const char *text, char *err, size_t cap) {
    if (!g || !g->policy) return true;
    ag_policy_decision d = ag_policy_check_output(g->policy, info->role, info->authed ? info->key.tenant : "", text);
    if (!d.allowed) snprintf(err, cap, "output refused by policy rule '%s'", d.rule);
    return d.allowed;
}

ag_policy_stream *guard_output_stream_new(const guard *g, const guard_info *info) {
    if (!g || !g->policy) return NULL;
    return ag_policy_stream_new(g->policy, info->role, info->authed ? info->key.tenant : "");
}

bool guard_output_stream_push(ag_policy_stream *s, const char *piece, size_t len, char *err, size_t cap) {
    if (!s) {
        snprintf(err, cap, "output refused: out of memory while judging it");
        return false;
    }
    ag_policy_decision d = ag_policy_stream_push(s, piece, len);
    if (!d.allowed) snprintf(err, cap, "output refused by policy rule '%s'", d.rule);
    return d.allowed;
}

void guard_audit(guard *g, const guard_info *info, const char *method, const char *path, unsigned status, double ms) {
    if (!g || !g->audit) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", method);
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddNumberToObject(o, "ms", (double)(long long)(ms * 10) / 10);
    if (info->authed) {
        cJSON_AddStringToObject(o, "key", info->key.id);
        cJSON_AddStringToObject(o, "role", ag_role_name(info->role));
        cJSON_AddStringToObject(o, "tenant", info->key.tenant);
    }
    if (info->model[0]) cJSON_AddStringToObject(o, "model", info->model);
    if (info->upstream) cJSON_AddBoolToObject(o, "upstream", true);
    if (info->prompt_sha256[0]) cJSON_AddStringToObject(o, "prompt_sha256", info->prompt_sha256);
    if (g->audit_prompts && info->prompt) cJSON_AddStringToObject(o, "prompt", info->prompt);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text && strlen(text) >= 2) {
        text[strlen(text) - 1] = '\0'; /* the members without the braces */
        ag_audit_append(g->audit, "request", text + 1, NULL);
    }
    free(text);
}
