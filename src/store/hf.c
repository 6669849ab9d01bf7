/*
 * hf.c - Hugging Face names resolved to a GGUF download URL (see hf.h): the name split, the
 * repository's file listing fetched over net/httpc.c, the file picked by its quantization.
 */
#include "store/hf.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/httpc.h"

static const char *strip_prefix(const char *s) {
    if (strncasecmp(s, "hf.co/", 6) == 0) return s + 6;
    if (strncasecmp(s, "huggingface.co/", 15) == 0) return s + 15;
    return NULL;
}

bool hf_is_name(const char *s) { return strip_prefix(s) != NULL; }

static bool ends_with_ci(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcasecmp(s + n - k, suf) == 0;
}

/* quant appears in name as a whole word: not preceded or followed by a letter or digit */
static bool has_quant(const char *name, const char *quant) {
    const size_t k = strlen(quant);
    for (const char *p = name; *p; p++)
        if (strncasecmp(p, quant, k) == 0 && (p == name || !isalnum((unsigned char)p[-1])) &&
            !isalnum((unsigned char)p[k]))
            return true;
    return false;
}

bool hf_pick_file(const char *listing, const char *quant, char *out, size_t cap, char *err, size_t ecap) {
    cJSON *j = cJSON_Parse(listing);
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(j, "siblings");
    if (!cJSON_IsArray(sib)) {
        snprintf(err, ecap, "the repository listing has no \"siblings\"");
        cJSON_Delete(j);
        return false;
    }
    const char *want[2] = {quant, quant ? NULL : "Q4_K_M"}, *first = NULL, *hit = NULL;
    const cJSON *s;
    cJSON_ArrayForEach(s, sib) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(s, "rfilename");
        if (!cJSON_IsString(f) || !ends_with_ci(f->valuestring, ".gguf") || strcasestr(f->valuestring, "mmproj")) continue;
        if (!first) first = f->valuestring;
        const char *q = want[0] ? want[0] : want[1];
        if (!hit && has_quant(f->valuestring, q)) hit = f->valuestring;
    }
    const char *pick = hit ? hit : quant ? NULL : first;
    bool ok = pick && strlen(pick) < cap;
    if (ok) snprintf(out, cap, "%s", pick);
    else if (!first) snprintf(err, ecap, "the repository has no GGUF file");
    else snprintf(err, ecap, "no GGUF file of the repository matches '%s'", quant);
    cJSON_Delete(j);
    return ok;
}

st_status hub_parse_repo(const char *name, const char *repo, const char *form, char path[512], char quant[64],
                         st_error *err) {
    const char *colon = strchr(repo, ':');
    const size_t rl = colon ? (size_t)(colon - repo) : strlen(repo);
    const char *slash = memchr(repo, '/', rl);
    if (!slash || slash == repo || rl - (size_t)(slash - repo) < 2 || memchr(slash + 1, '/', rl - (size_t)(slash - repo) - 1) ||
        rl >= 512 || (colon && (!colon[1] || strlen(colon + 1) >= 64)))
        return st_fail(err, ST_INVALID, "'%s': %s", name, form);
    for (size_t i = 0; i < rl; i++)
        if (!isalnum((unsigned char)repo[i]) && !strchr("._-/", repo[i]))
            return st_fail(err, ST_INVALID, "'%s': unexpected character in the repository name", name);
    memcpy(path, repo, rl);
    path[rl] = '\0';
    snprintf(quant, 64, "%s", colon ? colon + 1 : "");
    return ST_OK;
}

st_status hf_resolve(const char *endpoint, const char *name, char *url, size_t ucap, char *store_name, size_t ncap,
                     st_error *err) {
    const char *repo = strip_prefix(name);
    if (!repo) return st_fail(err, ST_INVALID, "'%s' is not a Hugging Face name (hf.co/ORG/REPO[:QUANT])", name);
    char path[512], quant[64];
    st_status st = hub_parse_repo(name, repo, "a Hugging Face name is hf.co/ORG/REPO or hf.co/ORG/REPO:QUANT", path, quant, err);
    if (st) return st;
    if (!endpoint || !*endpoint) endpoint = HF_DEFAULT_ENDPOINT;
    char list_url[1024], herr[512];
    snprintf(list_url, sizeof list_url, "%s/api/models/%s", endpoint, path);
    httpc_response r;
    char *body = NULL;
    size_t len = 0;
    if (httpc_fetch("GET", list_url, NULL, 0, 60, &r, &body, &len, herr, sizeof herr))
        return st_fail(err, ST_IO, "cannot list %s: %s", list_url, herr);
    if (r.status != 200) {
        free(body);
        return st_fail(err, r.status == 404 || r.status == 401 ? ST_NOT_FOUND : ST_IO, "%s: HTTP %d%s", list_url, r.status,
                       r.status == 401 ? " (no such repository, or a gated/private one)" : "");
    }
    char file[512];
    const bool ok = hf_pick_file(body, quant[0] ? quant : NULL, file, sizeof file, herr, sizeof herr);
    free(body);
    if (!ok) return st_fail(err, ST_NOT_FOUND, "%s: %s", path, herr);
    if ((size_t)snprintf(url, ucap, "%s/%s/resolve/main/%s", endpoint, path, file) >= ucap)
        return st_fail(err, ST_INVALID, "the download URL is too long");
    size_t k = (size_t)snprintf(store_name, ncap, "hf.co/%s:%s", path, quant[0] ? quant : "latest");
    for (size_t i = 0; i < k && i < ncap; i++) store_name[i] = (char)tolower((unsigned char)store_name[i]);
    return ST_OK;
}
