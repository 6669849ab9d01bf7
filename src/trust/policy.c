/*
 * policy.c - policy rules (format in include/autoglm/access.h): loading and validating the JSON
 * file (every pattern compiled up front, errors name the rule and field), and deciding on a
 * request (role, tenant, endpoint, model, prompt) or on output text (as a whole; streamed output:
 * policy_stream.c).
 */
#include "autoglm/access.h"

#include <cJSON.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "trust/policy_impl.h"

static void free_globs(glob_list *g) {
    for (char **p = g->items; p && *p; p++) free(*p);
    free(g->items);
}

static void free_matchers(matcher *m, int n) {
    for (int i = 0; i < n; i++) {
        free(m[i].keyword);
        pcre2_code_free(m[i].re);
    }
    free(m);
}

void ag_policy_free(ag_policy *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        rule *r = &p->rules[i];
        free_globs(&r->tenants);
        free_globs(&r->models);
        free_globs(&r->endpoints);
        free_matchers(r->deny_prompt, r->n_deny_prompt);
        free_matchers(r->deny_output, r->n_deny_output);
        free_matchers(r->route_upstream, r->n_route_upstream);
    }
    free(p->rules);
    free(p);
}

/* Array of strings -> glob list; absent -> any. */
static ag_status read_globs(const cJSON *o, const char *field, const char *rule_name, glob_list *g, ag_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!a) return AG_OK;
    if (!cJSON_IsArray(a)) return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': %s must be a list of strings", rule_name, field);
    int n = cJSON_GetArraySize(a), k = 0;
    g->items = calloc((size_t)n + 1, sizeof *g->items);
    if (!g->items) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it)) return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': %s must be a list of strings", rule_name, field);
        if (!(g->items[k++] = strdup(it->valuestring))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    return AG_OK;
}

static ag_status read_matchers(const cJSON *o, const char *field, const char *rule_name, matcher **out, int *n_out,
                               ag_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!a) return AG_OK;
    if (!cJSON_IsArray(a)) return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': %s must be a list of strings", rule_name, field);
    int n = cJSON_GetArraySize(a);
    *out = calloc((size_t)(n > 0 ? n : 1), sizeof **out);
    if (!*out) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it) || !*it->valuestring)
            return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': %s must be a list of non-empty strings", rule_name, field);
        matcher *m = &(*out)[(*n_out)++];
        const char *s = it->valuestring;
        if (strncmp(s, "re:", 3) == 0) {
            int code;
            PCRE2_SIZE at;
            m->re = pcre2_compile((PCRE2_SPTR)(s + 3), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                  &code, &at, NULL);
            if (!m->re) {
                PCRE2_UCHAR msg[128];
                pcre2_get_error_message(code, msg, sizeof msg);
                return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': %s pattern '%.60s': %s at %zu", rule_name, field,
                                    s + 3, (const char *)msg, (size_t)at);
            }
        } else {
            if (!(m->keyword = strdup(s))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
            for (char *c = m->keyword; *c; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
        }
    }
    return AG_OK;
}

static ag_status read_rule(const cJSON *o, int index, rule *r, ag_error *err) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!cJSON_IsObject(o) || !cJSON_IsString(name) || !*name->valuestring)
        return ag_error_set(err, AG_ERR_FORMAT, "policy rule %d: needs a \"name\"", index + 1);
    snprintf(r->name, sizeof r->name, "%s", name->valuestring);
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(o, "roles");
    if (!roles) r->roles = ~0u;
    else if (!cJSON_IsArray(roles)) return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': roles must be a list", r->name);
    const cJSON *it;
    cJSON_ArrayForEach(it, roles) {
        int role = ag_role_from_name(cJSON_GetStringValue(it));
        if (role < 0 && !(cJSON_IsString(it) && strcmp(it->valuestring, "*") == 0))
            return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': unknown role '%s'", r->name,
                                cJSON_IsString(it) ? it->valuestring : "?");
        r->roles |= role < 0 ? ~0u : 1u << role;
    }
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(o, "max_tokens");
    if (max && (!cJSON_IsNumber(max) || max->valuedouble < 1 || max->valuedouble > 1e9))
        return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': max_tokens must be a positive number", r->name);
    r->max_tokens = max ? (int)max->valuedouble : 0;
    ag_status st;
    if ((st = read_globs(o, "tenants", r->name, &r->tenants, err)) || (st = read_globs(o, "allow_models", r->name, &r->models, err)) ||
        (st = read_globs(o, "allow_endpoints", r->name, &r->endpoints, err)) ||
        (st = read_matchers(o, "deny_prompt", r->name, &r->deny_prompt, &r->n_deny_prompt, err)) ||
        (st = read_matchers(o, "deny_output", r->name, &r->deny_output, &r->n_deny_output, err)) ||
        (st = read_matchers(o, "route_upstream", r->name, &r->route_upstream, &r->n_route_upstream, err)))
        return st;
    static const char *const known[] = {"name", "roles", "tenants", "allow_models", "allow_endpoints", "deny_prompt",
                                        "deny_output", "max_tokens", "route_upstream"};
    cJSON_ArrayForEach(it, o) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= strcmp(it->string, known[k]) == 0;
        if (!ok) return ag_error_set(err, AG_ERR_FORMAT, "policy rule '%s': unknown field '%s'", r->name, it->string);
    }
    return AG_OK;
}

ag_policy *ag_policy_load(const char *path, ag_error *err) {
    size_t len = 0;
    char *text = ag_read_file(path, 16u << 20, &len, err);
    if (!text) {
        if (err) ag_error_prefix(err, "policy");
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
    ag_policy *p = calloc(1, sizeof *p);
    ag_status st = AG_OK;
    if (!p) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    else if (!cJSON_IsArray(rules)) st = ag_error_set(err, AG_ERR_FORMAT, "policy %s: expected {\"rules\": [...]} (JSON)", path);
    else if (!(p->rules = calloc((size_t)cJSON_GetArraySize(rules) + 1, sizeof *p->rules)))
        st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    const cJSON *o;
    if (!st) cJSON_ArrayForEach(o, rules) {
            st = read_rule(o, p->n, &p->rules[p->n], err);
            p->n++;
            if (st) break;
        }
    cJSON_Delete(root);
    if (st) {
        ag_policy_free(p);
        return NULL;
    }
    return p;
}

static bool glob_any(const glob_list *g, const char *s) {
    if (!g->items) return true;
    for (char **p = g->items; *p; p++)
        if (strcmp(*p, "*") == 0 || (s && fnmatch(*p, s, 0) == 0)) return true;
    return false;
}

bool policy_contains_ci(const char *text, const char *lower_kw) {
    size_t k = strlen(lower_kw);
    for (const char *t = text; *t; t++) {
        size_t i = 0;
        while (i < k && t[i] && (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] + 32 : t[i]) == lower_kw[i]) i++;
        if (i == k) return true;
    }
    return false;
}

static bool any_match(const matcher *m, int n, const char *text) {
    for (int i = 0; i < n && text; i++) {
        if (m[i].keyword && policy_contains_ci(text, m[i].keyword)) return true;
        if (m[i].re) {
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(m[i].re, NULL);
            int rc = md ? pcre2_match(m[i].re, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL) : -1;
            pcre2_match_data_free(md);
            if (rc >= 0) return true;
        }
    }
    return false;
}

bool policy_rule_applies(const rule *r, ag_role role, const char *tenant) {
    return (r->roles & (1u << role)) && glob_any(&r->tenants, tenant ? tenant : "");
}

static ag_policy_decision refuse(ag_policy_decision d, const rule *r, const char *reason) {
    d.allowed = false;
    snprintf(d.rule, sizeof d.rule, "%s", r->name);
    snprintf(d.reason, sizeof d.reason, "%s", reason);
    return d;
}

ag_policy_decision ag_policy_check_request(const ag_policy *p, ag_role role, const char *tenant, const char *endpoint,
                                           const char *model, const char *prompt) {
    ag_policy_decision d = {.allowed = true};
    for (int i = 0; p && i < p->n; i++) {
        const rule *r = &p->rules[i];
        if (!policy_rule_applies(r, role, tenant)) continue;
        char reason[192];
        if (endpoint && !glob_any(&r->endpoints, endpoint)) {
            snprintf(reason, sizeof reason, "endpoint %.100s is not allowed", endpoint);
            return refuse(d, r, reason);
        }
        if (model && r->models.items && !glob_any(&r->models, model)) {
            snprintf(reason, sizeof reason, "model '%.100s' is not allowed", model);
            return refuse(d, r, reason);
        }
        if (any_match(r->deny_prompt, r->n_deny_prompt, prompt)) return refuse(d, r, "the prompt matches a denied topic");
        if (r->max_tokens > 0 && (d.max_tokens == 0 || r->max_tokens < d.max_tokens)) d.max_tokens = r->max_tokens;
        if (any_match(r->route_upstream, r->n_route_upstream, prompt)) d.upstream = true;
    }
    return d;
}

ag_policy_decision ag_policy_check_output(const ag_policy *p, ag_role role, const char *tenant, const char *text) {
    ag_policy_decision d = {.allowed = true};
    for (int i = 0; p && i < p->n; i++) {
        const rule *r = &p->rules[i];
        if (policy_rule_applies(r, role, tenant) && any_match(r->deny_output, r->n_deny_output, text))
            return refuse(d, r, "the output matches a denied topic");
    }
    return d;
}
