/*
 * modelscope.c - ModelScope names resolved to a GGUF download URL (see modelscope.h): the name
 * split, the repository's file listing fetched over net/httpc.c and turned into the
 * Hugging Face listing form so that hf_pick_file chooses the file the same way.
 */
#include "store/modelscope.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/httpc.h"
#include "store/hf.h"

static const char *strip_prefix(const char *s) {
    if (strncasecmp(s, "modelscope.cn/", 14) == 0) return s + 14;
    if (strncasecmp(s, "www.modelscope.cn/", 18) == 0) return s + 18;
    if (strncasecmp(s, "ms://", 5) == 0) return s + 5;
    return NULL;
}

bool ms_is_name(const char *s) { return strip_prefix(s) != NULL; }

/* ModelScope's listing -> {"siblings": [{"rfilename": Path}]} of its files (directories left
 * out); NULL when malformed. */
static char *as_hf_listing(const cJSON *listing) {
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(listing, "Data"), "Files");
    if (!cJSON_IsArray(files)) return NULL;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "siblings");
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "Path"), *type = cJSON_GetObjectItemCaseSensitive(f, "Type");
        if (!cJSON_IsString(path) || (cJSON_IsString(type) && strcmp(type->valuestring, "tree") == 0)) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "rfilename", path->valuestring);
        cJSON_AddItemToArray(arr, e);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The Sha256 the listing gives for path into out (65 bytes), "" when none. */
static void listing_sha(const cJSON *listing, const char *path, char *out) {
    out[0] = '\0';
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(listing, "Data"), "Files"), *f;
    cJSON_ArrayForEach(f, files) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "Path"), *h = cJSON_GetObjectItemCaseSensitive(f, "Sha256");
        if (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0 && cJSON_IsString(h) && strlen(h->valuestring) == 64)
            snprintf(out, 65, "%s", h->valuestring);
    }
}

st_status ms_resolve(const char *endpoint, const char *name, char *url, size_t ucap, char *store_name, size_t ncap,
                     char *sha256, st_error *err) {
    const char *repo = strip_prefix(name);
    sha256[0] = '\0';
    if (!repo) return st_fail(err, ST_INVALID, "'%s' is not a ModelScope name (modelscope.cn/ORG/REPO[:QUANT])", name);
    char path[512], quant[64];
    st_status st = hub_parse_repo(name, repo, "a ModelScope name is modelscope.cn/ORG/REPO[:QUANT] or ms://ORG/REPO[:QUANT]", path, quant, err);
    if (st) return st;
    if (!endpoint || !*endpoint) endpoint = MS_DEFAULT_ENDPOINT;
    char list_url[1024], herr[512];
    snprintf(list_url, sizeof list_url, "%s/api/v1/models/%s/repo/files?Revision=master&Recursive=true", endpoint, path);
    httpc_response r;
    char *body = NULL;
    size_t len = 0;
    if (httpc_fetch("GET", list_url, NULL, 0, 60, &r, &body, &len, herr, sizeof herr))
        return st_fail(err, ST_IO, "cannot list %s: %s", list_url, herr);
    cJSON *listing = r.status == 200 ? cJSON_ParseWithLength(body, len) : NULL;
    free(body);
    if (r.status != 200) return st_fail(err, r.status == 404 ? ST_NOT_FOUND : ST_IO, "%s: HTTP %d", list_url, r.status);
    char *hf = listing ? as_hf_listing(listing) : NULL;
    char file[512];
    const bool ok = hf && hf_pick_file(hf, quant[0] ? quant : NULL, file, sizeof file, herr, sizeof herr);
    free(hf);
    if (!ok) {
        cJSON_Delete(listing);
        return st_fail(err, ST_NOT_FOUND, "%s: %s", path, listing ? herr : "the file listing is not ModelScope's JSON");
    }
    listing_sha(listing, file, sha256);
    cJSON_Delete(listing);
    if ((size_t)snprintf(url, ucap, "%s/models/%s/resolve/master/%s", endpoint, path, file) >= ucap)
        return st_fail(err, ST_INVALID, "the download URL is too long");
    size_t k = (size_t)snprintf(store_name, ncap, "modelscope.cn/%s:%s", path, quant[0] ? quant : "latest");
    for (size_t i = 0; i < k && i < ncap; i++) store_name[i] = (char)tolower((unsigned char)store_name[i]);
    return ST_OK;
}
