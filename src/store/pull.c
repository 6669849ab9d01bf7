/*
 * pull.c - downloads into the store (see pull.h): the partial file, the Range request that
 * resumes it, progress, SHA-256 check, the model check, the atomic rename and the manifest.
 */
#include "store/pull.h"
#include "store/hf.h"
#include "store/modelscope.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/httpc.h"

void pull_default_name(const char *url, char *out, size_t cap) {
    const char *base = strrchr(url, '/');
    base = base ? base + 1 : url;
    size_t n = strcspn(base, "?#");
    if (n > 5 && strncasecmp(base + n - 5, ".gguf", 5) == 0) n -= 5;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 8 < cap; i++) {
        unsigned char c = (unsigned char)tolower((unsigned char)base[i]);
        out[k++] = isalnum(c) || c == '.' || c == '_' || c == '-' ? (char)c : '-';
    }
    while (k && out[0] == '.') memmove(out, out + 1, k--);
    if (!k) k = (size_t)snprintf(out, cap, "model");
    snprintf(out + k, cap - k, ":latest");
}

typedef struct {
    const char *path;
    FILE *f;             /* opened at the first piece of the body, once the status is known */
    uint64_t have;       /* bytes the partial file held before */
    uint64_t done, total;
    const pull_params *p;
    const httpc_response *r;
    uint64_t last_report;
    bool failed_open;
} sink_state;

/* The body: appended to the partial file on 206 from where it ends, from the start on 200,
 * dropped otherwise (an error page). */
static int to_file(void *ctx, const char *data, size_t n) {
    sink_state *s = ctx;
    if (s->p && s->p->cancel && *s->p->cancel) return -1;
    if (s->r->status != 200 && s->r->status != 206) return 0;
    if (!s->f) {
        const bool resume = s->r->status == 206 && s->r->range_start == (int64_t)s->have;
        if (s->r->status == 206 && !resume) return -1; /* a range we did not ask for */
        s->done = resume ? s->have : 0;
        s->total = resume && s->r->range_total > 0 ? (uint64_t)s->r->range_total
                   : s->r->content_length >= 0 ? (uint64_t)s->r->content_length + s->done : 0;
        if (!(s->f = fopen(s->path, resume ? "ab" : "wb"))) {
            s->failed_open = true;
            return -1;
        }
    }
    if (fwrite(data, 1, n, s->f) != n) return -1;
    s->done += n;
    if (s->p && s->p->progress && (s->done - s->last_report >= (1u << 20) || s->done == s->total)) {
        s->last_report = s->done;
        s->p->progress(s->p->ctx, "downloading", s->done, s->total);
    }
    return 0;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void report(const pull_params *p, const char *status, uint64_t done, uint64_t total) {
    if (p && p->progress) p->progress(p->ctx, status, done, total);
}

/* Gets url into path, resuming from what path already holds (Range: 206 appends, 200 starts
 * over, 416 with the same total: already complete). */
static st_status download(const char *url, const char *path, const pull_params *p, st_error *err) {
    struct stat sb;
    uint64_t have = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    char range[64];
    snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)have);
    const char *hdrs[] = {range, NULL};
    httpc_response r = {0};
    sink_state s = {.path = path, .have = have, .p = p, .r = &r, .last_report = have};
    char msg[512];
    if (have) report(p, "resuming", have, 0);
    int rc = httpc_request("GET", url, have ? hdrs : NULL, NULL, 0, 60, &r, to_file, &s, msg, sizeof msg);
    if (s.f && fclose(s.f) != 0 && !rc) return st_fail(err, ST_IO, "cannot write '%s': %s", path, strerror(errno));
    if (s.failed_open) return st_fail(err, ST_IO, "cannot write '%s': %s", path, strerror(errno));
    if (rc && !s.f) return st_fail(err, ST_IO, "%s", msg);
    if (rc) return st_fail(err, ST_IO, "download interrupted at %llu bytes (run pull again to resume): %s",
                           (unsigned long long)s.done, msg);
    if (r.status == 416 && have && (r.range_total < 0 || (uint64_t)r.range_total == have)) return ST_OK;
    if (r.status == 404) return st_fail(err, ST_NOT_FOUND, "%s: not found (HTTP 404)", url);
    if (r.status != 200 && r.status != 206) return st_fail(err, ST_IO, "%s: HTTP %d", url, r.status);
    if (!s.f) { /* an empty body */
        FILE *e = fopen(path, "wb");
        if (!e || fclose(e) != 0) return st_fail(err, ST_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    if (s.total && s.done != s.total)
        return st_fail(err, ST_IO, "download incomplete: %llu of %llu bytes (run pull again to resume)",
                       (unsigned long long)s.done, (unsigned long long)s.total);
    return ST_OK;
}

st_status store_pull(const char *root, const char *url, const char *name, const pull_params *p, store_manifest *m,
                     st_error *err) {
    memset(m, 0, sizeof *m);
    char def[STORE_NAME_MAX], hf_url[2048], ms_sha[65] = "";
    const char *expect = p ? p->sha256 : NULL; /* the digest to check: the caller's, else the listing's */
    if (hf_is_name(url)) { /* hf.co/ORG/REPO:QUANT -> the URL of its GGUF file */
        st_status st = hf_resolve(p ? p->hf_endpoint : NULL, url, hf_url, sizeof hf_url, def, sizeof def, err);
        if (st) return st;
        url = hf_url;
    } else if (ms_is_name(url)) { /* modelscope.cn/ORG/REPO:QUANT -> the URL of its GGUF file and its digest */
        st_status st = ms_resolve(p ? p->ms_endpoint : NULL, url, hf_url, sizeof hf_url, def, sizeof def, ms_sha, err);
        if (st) return st;
        url = hf_url;
        if (ms_sha[0] && (!p || !p->sha256)) expect = ms_sha;
    } else if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        return st_fail(err, ST_INVALID, "'%s': pulling from a model registry is not supported; give an http(s):// URL "
                                        "of a GGUF file or a Hugging Face name hf.co/ORG/REPO:QUANT or a ModelScope name modelscope.cn/ORG/REPO:QUANT", url);
    } else if (!name) {
        pull_default_name(url, def, sizeof def);
    }
    st_status st = store_parse_name(name ? name : def, m->name, err);
    if (st) return st;
    if (expect && strlen(expect) != 64) return st_fail(err, ST_INVALID, "a SHA-256 digest has 64 hex digits");
    size_t n = strlen(root) + 128;
    char *dir = malloc(n), *part = malloc(n), *final = malloc(n);
    if (!dir || !part || !final) {
        st = st_fail(err, ST_NOMEM, "out of memory");
        goto out;
    }
    snprintf(dir, n, "%s/blobs", root);
    if ((st = store_mkdirs(dir, err))) goto out;
    snprintf(part, n, "%s/partial-%016llx", dir, (unsigned long long)fnv1a(url));
    if ((st = download(url, part, p, err))) goto out;
    report(p, "verifying sha256 digest", 0, 0);
    char hex[65];
    uint64_t size = 0;
    if ((st = store_sha256_file(part, hex, &size, err))) goto out;
    if (expect && strcasecmp(expect, hex) != 0) {
        unlink(part); /* a wrong file: do not resume it */
        st = st_fail(err, ST_INVALID, "SHA-256 mismatch: expected %s, got %s (the download was removed)", expect, hex);
        goto out;
    }
    ag_error ae = {0};
    ag_model_params mp = {.n_threads = 1, .device = "cpu", .keep_layout = true}; /* does it load: nothing to run */
    ag_model *model = ag_model_load(part, &mp, &ae);
    if (!model) {
        unlink(part);
        st = st_fail(err, ST_INVALID, "the download is not a usable model: %s", ae.msg);
        goto out;
    }
    store_fill_details(m, model);
    ag_model_free(model);
    snprintf(final, n, "%s/sha256-%s", dir, hex);
    if (rename(part, final) != 0) { /* atomic: a reader sees the whole blob or none */
        st = st_fail(err, ST_IO, "cannot rename the download into '%s': %s", final, strerror(errno));
        goto out;
    }
    report(p, "writing manifest", 0, 0);
    m->path = final;
    final = NULL;
    memcpy(m->sha256, hex, sizeof hex);
    m->size = size;
    st = store_write(root, m, err);
    if (!st) report(p, "success", size, size);
out:
    free(dir);
    free(part);
    free(final);
    return st;
}
