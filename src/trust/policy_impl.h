/*
 * policy_impl.h - the compiled policy rules, shared by policy.c (loading, whole-text decisions)
 * and policy_stream.c (output judged incrementally as it streams). Not for other files.
 */
#ifndef AG_TRUST_POLICY_IMPL_H
#define AG_TRUST_POLICY_IMPL_H

#include <stdbool.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "autoglm/access.h"

typedef struct {
    char *keyword;      /* lower-cased ASCII keyword, or NULL for a pattern */
    pcre2_code *re;
} matcher;

typedef struct {
    char **items; /* NULL-terminated; NULL = any */
} glob_list;

typedef struct {
    char name[64];
    unsigned roles;     /* bit per ag_role */
    glob_list tenants, models, endpoints;
    matcher *deny_prompt, *deny_output, *route_upstream;
    int n_deny_prompt, n_deny_output, n_route_upstream;
    int max_tokens;
} rule;

struct ag_policy {
    rule *rules;
    int n;
};

/* Does the rule apply to this role and tenant? */
bool policy_rule_applies(const rule *r, ag_role role, const char *tenant);
/* Does text contain the lower-cased keyword, ASCII letters compared without case? */
bool policy_contains_ci(const char *text, const char *lower_kw);

#endif
