/*
 * store.c - names, manifests and listing of the model store (see store.h). Relies on cJSON for
 * the manifest format and on POSIX files (mkdir, rename, readdir) for the folder layout.
 */
#include <errno.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

st_status st_fail(st_error *err, st_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void store_manifest_free(store_manifest *m) {
    if (!m) return;
    free(m->path);
    free(m->system);
    free(m->tmpl);
    free(m->projector);
    cJSON_Delete(m->params);
    memset(m, 0, sizeof *m);
}

char *store_default_root(void) {
    const char *env = getenv("AUTOGLM_MODELS");
    if (env && *env) return strdup(env);
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    size_t n = strlen(home) + 32;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/.autoglm/models", home);
    return p;
}

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

st_status store_parse_name(const char *in, char out[STORE_NAME_MAX], st_error *err) {
    if (!in || !*in) return st_fail(err, ST_INVALID, "empty model name");
    const char *colon = strrchr(in, ':');
    size_t nlen = colon ? (size_t)(colon - in) : strlen(in);
    const char *tag = colon ? colon + 1 : "latest";
    size_t tlen = strlen(tag);
    if (nlen == 0 || tlen == 0 || nlen + tlen + 2 > STORE_NAME_MAX || tlen > 64)
        return st_fail(err, ST_INVALID, "invalid model name '%s' (expected name or name:tag)", in);
    for (size_t i = 0; i < tlen; i++)
        if (!name_char(tag[i])) return st_fail(err, ST_INVALID, "invalid tag in model name '%s'", in);
    /* segments separated by '/', each non-empty, not starting with '.' */
    for (size_t i = 0, seg = 0; i <= nlen; i++) {
        char c = i < nlen ? in[i] : '/';
        if (c == '/') {
            if (i == seg || in[seg] == '.')
                return st_fail(err, ST_INVALID, "invalid model name '%s'", in);
            seg = i + 1;
        } else if (!name_char(c)) {
            return st_fail(err, ST_INVALID, "invalid character '%c' in model name '%s'", c, in);
        }
    }
    snprintf(out, STORE_NAME_MAX, "%.*s:%s", (int)nlen, in, tag);
    return ST_OK;
}

/* root/manifests/<name>/<tag>.json for a normalized name */
static char *manifest_path(const char *root, const char *name) {
    const char *colon = strrchr(name, ':');
    size_t n = strlen(root) + strlen(name) + 32;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/manifests/%.*s/%s.json", root, (int)(colon - name), name, colon + 1);
    return p;
}

st_status store_mkdirs(const char *path, st_error *err) {
    char *p = strdup(path);
    if (!p) return st_fail(err, ST_NOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            st_fail(err, ST_IO, "cannot create '%s': %s", p, strerror(errno));
            free(p);
            return ST_IO;
        }
        *s = '/';
    }
    st_status st = ST_OK;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) st = st_fail(err, ST_IO, "cannot create '%s': %s", p, strerror(errno));
    free(p);
    return st;
}

static char *json_strdup(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static st_status manifest_from_json(const char *text, const char *name, store_manifest *m, st_error *err) {
    cJSON *j = cJSON_Parse(text);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(model, "path");
    if (!cJSON_IsObject(j) || !cJSON_IsString(path)) {
        cJSON_Delete(j);
        return st_fail(err, ST_INVALID, "the manifest of '%s' is damaged (no model.path)", name);
    }
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->path = strdup(path->valuestring);
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(model, "sha256");
    if (cJSON_IsString(sha)) snprintf(m->sha256, sizeof m->sha256, "%s", sha->valuestring);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(model, "size");
    if (cJSON_IsNumber(size) && size->valuedouble >= 0) m->size = (uint64_t)size->valuedouble;
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(j, "details");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(det, "family");
    if (cJSON_IsString(v)) snprintf(m->family, sizeof m->family, "%s", v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(det, "quantization_level");
    if (cJSON_IsString(v)) snprintf(m->quant, sizeof m->quant, "%s", v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(det, "parameter_count");
    if (cJSON_IsNumber(v)) m->n_params = (int64_t)v->valuedouble;
    m->system = json_strdup(j, "system");
    m->tmpl = json_strdup(j, "template");
    m->projector = json_strdup(cJSON_GetObjectItemCaseSensitive(j, "projector"), "path");
    cJSON *params = cJSON_DetachItemFromObjectCaseSensitive(j, "parameters");
    if (cJSON_IsObject(params)) m->params = params;
    else cJSON_Delete(params);
    cJSON_Delete(j);
    if (!m->path) return st_fail(err, ST_NOMEM, "out of memory");
    return ST_OK;
}

st_status store_read(const char *root, const char *name, store_manifest *m, st_error *err) {
    char norm[STORE_NAME_MAX];
    st_status st = store_parse_name(name, norm, err);
    if (st) return st;
    char *path = manifest_path(root, norm);
    if (!path) return st_fail(err, ST_NOMEM, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = errno == ENOENT ? st_fail(err, ST_NOT_FOUND, "model '%s' not found", norm)
                             : st_fail(err, ST_IO, "cannot open '%s': %s", path, strerror(errno));
        free(path);
        return st;
    }
    struct stat sb;
    char *text = NULL;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size < (1 << 24) && (text = malloc((size_t)sb.st_size + 1))) {
        size_t got = fread(text, 1, (size_t)sb.st_size, f);
        text[got] = '\0';
    }
    fclose(f);
    free(path);
    if (!text) return st_fail(err, ST_IO, "cannot read the manifest of '%s'", norm);
    st = manifest_from_json(text, norm, m, err);
    free(text);
    if (st == ST_OK) m->modified = (int64_t)sb.st_mtime;
    return st;
}

st_status store_write(const char *root, const store_manifest *m, st_error *err) {
    char norm[STORE_NAME_MAX];
    st_status st = store_parse_name(m->name, norm, err);
    if (st) return st;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "schema_version", 1);
    cJSON_AddStringToObject(j, "name", norm);
    cJSON *model = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(model, "format", "gguf");
    cJSON_AddStringToObject(model, "path", m->path ? m->path : "");
    cJSON_AddStringToObject(model, "sha256", m->sha256);
    cJSON_AddNumberToObject(model, "size", (double)m->size);
    cJSON *det = cJSON_AddObjectToObject(j, "details");
    cJSON_AddStringToObject(det, "family", m->family);
    cJSON_AddNumberToObject(det, "parameter_count", (double)m->n_params);
    cJSON_AddStringToObject(det, "quantization_level", m->quant);
    if (m->params) cJSON_AddItemToObject(j, "parameters", cJSON_Duplicate(m->params, true));
    if (m->system) cJSON_AddStringToObject(j, "system", m->system);
    if (m->tmpl) cJSON_AddStringToObject(j, "template", m->tmpl);
    if (m->projector) cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "projector"), "path", m->projector);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    char *path = manifest_path(root, norm);
    char *tmp = path ? malloc(strlen(path) + 16) : NULL;
    if (!text || !path || !tmp) {
        free(text), free(path), free(tmp);
        return st_fail(err, ST_NOMEM, "out of memory");
    }
    *strrchr(path, '/') = '\0';
    st = store_mkdirs(path, err);
    path[strlen(path)] = '/';
    sprintf(tmp, "%s.tmp%ld", path, (long)getpid());
    if (st == ST_OK) {
        FILE *f = fopen(tmp, "wb");
        bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        if (f && fclose(f) != 0) ok = false;
        if (!ok || rename(tmp, path) != 0) {
            st = st_fail(err, ST_IO, "cannot write '%s': %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(text), free(path), free(tmp);
    return st;
}

/* ---------------------------------------------------------------- listing */

typedef struct {
    const char *root;
    store_manifest *items;
    int n, cap;
    st_status st;
} list_ctx;

static int cmp_manifest(const void *a, const void *b) {
    return strcmp(((const store_manifest *)a)->name, ((const store_manifest *)b)->name);
}

static bool list_push(list_ctx *c, const char *name) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        store_manifest *p = realloc(c->items, (size_t)cap * sizeof *p);
        if (!p) return false;
        c->items = p;
        c->cap = cap;
    }
    if (store_read(c->root, name, &c->items[c->n], NULL) == ST_OK) c->n++; /* damaged ones are skipped */
    return true;
}

/* Walks dir (root/manifests/<rel>): folders are name segments, <tag>.json files are models. */
static void walk(list_ctx *c, const char *dir, const char *rel, int depth) {
    DIR *d = depth < 16 ? opendir(dir) : NULL;
    if (!d) return;
    struct dirent *e;
    while (c->st == ST_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t dl = strlen(dir) + strlen(e->d_name) + 2, rl = strlen(rel) + strlen(e->d_name) + 2;
        char *sub = malloc(dl), *srel = malloc(rl);
        if (!sub || !srel) {
            c->st = ST_NOMEM;
        } else {
            snprintf(sub, dl, "%s/%s", dir, e->d_name);
            snprintf(srel, rl, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
            struct stat sb;
            size_t nl = strlen(e->d_name);
            if (stat(sub, &sb) != 0) {
                /* vanished meanwhile */
            } else if (S_ISDIR(sb.st_mode)) {
                walk(c, sub, srel, depth + 1);
            } else if (S_ISREG(sb.st_mode) && *rel && nl > 5 && strcmp(e->d_name + nl - 5, ".json") == 0) {
                char name[STORE_NAME_MAX];
                int n = snprintf(name, sizeof name, "%s:%.*s", rel, (int)(nl - 5), e->d_name);
                if (n > 0 && n < (int)sizeof name && !list_push(c, name)) c->st = ST_NOMEM;
            }
        }
        free(sub);
        free(srel);
    }
    closedir(d);
}

st_status store_list(const char *root, store_manifest **out, int *n, st_error *err) {
    *out = NULL;
    *n = 0;
    size_t blen = strlen(root) + 16;
    char *base = malloc(blen);
    if (!base) return st_fail(err, ST_NOMEM, "out of memory");
    snprintf(base, blen, "%s/manifests", root);
    list_ctx c = {.root = root};
    walk(&c, base, "", 0);
    free(base);
    if (c.st != ST_OK) {
        for (int i = 0; i < c.n; i++) store_manifest_free(&c.items[i]);
        free(c.items);
        return st_fail(err, c.st, "cannot list the models in '%s'", root);
    }
    if (c.n > 1) qsort(c.items, (size_t)c.n, sizeof *c.items, cmp_manifest);
    *out = c.items;
    *n = c.n;
    return ST_OK;
}

st_status store_remove(const char *root, const char *name, st_error *err) {
    store_manifest m;
    st_status st = store_read(root, name, &m, err);
    if (st) return st;
    char *path = manifest_path(root, m.name);
    if (!path) {
        store_manifest_free(&m);
        return st_fail(err, ST_NOMEM, "out of memory");
    }
    if (unlink(path) != 0) st = st_fail(err, ST_IO, "cannot remove '%s': %s", path, strerror(errno));
    /* empty name folders go too (up to manifests/) */
    for (char *slash; st == ST_OK && (slash = strrchr(path, '/')) && (size_t)(slash - path) > strlen(root) + 10;) {
        *slash = '\0';
        if (rmdir(path) != 0) break;
    }
    free(path);
    /* the blobs go when they are ours (under blobs/) and no other manifest points to them */
    size_t rl = strlen(root);
    const char *blobs[2] = {m.path, m.projector};
    for (int b = 0; b < 2; b++) {
        const char *blob = blobs[b];
        if (st != ST_OK || !blob || strncmp(blob, root, rl) != 0 || strncmp(blob + rl, "/blobs/", 7) != 0) continue;
        store_manifest *all;
        int n;
        bool used = false;
        if (store_list(root, &all, &n, NULL) == ST_OK) {
            for (int i = 0; i < n; i++) {
                used |= strcmp(all[i].path, blob) == 0 || (all[i].projector && strcmp(all[i].projector, blob) == 0);
                store_manifest_free(&all[i]);
            }
            free(all);
            if (!used) unlink(blob);
        }
    }
    store_manifest_free(&m);
    return st;
}

st_status store_copy(const char *root, const char *src, const char *dst, st_error *err) {
    store_manifest m;
    char norm[STORE_NAME_MAX];
    st_status st = store_parse_name(dst, norm, err);
    if (st) return st;
    if ((st = store_read(root, src, &m, err))) return st;
    snprintf(m.name, sizeof m.name, "%s", norm);
    st = store_write(root, &m, err);
    store_manifest_free(&m);
    return st;
}

static bool looks_like_path(const char *arg) {
    size_t n = strlen(arg);
    return strchr(arg, '/') || (n > 5 && strcmp(arg + n - 5, ".gguf") == 0);
}

st_status store_resolve(const char *root, const char *arg, store_manifest *m, st_error *err) {
    struct stat sb;
    bool is_file = stat(arg, &sb) == 0 && S_ISREG(sb.st_mode);
    if (!(is_file && looks_like_path(arg))) {
        st_error e2 = {0};
        st_status st = root ? store_read(root, arg, m, &e2) : ST_NOT_FOUND;
        if (st == ST_OK || (st != ST_NOT_FOUND && st != ST_INVALID) || !is_file) {
            if (st != ST_OK && err) *err = e2;
            if (st == ST_INVALID && !is_file) /* neither a name nor a file */
                return st_fail(err, ST_NOT_FOUND, "model '%s' not found (not in the store, not a file)", arg);
            return st;
        }
    }
    memset(m, 0, sizeof *m);
    m->path = strdup(arg);
    m->size = (uint64_t)sb.st_size;
    m->modified = (int64_t)sb.st_mtime;
    return m->path ? ST_OK : st_fail(err, ST_NOMEM, "out of memory");
}

void store_human_count(char *buf, size_t cap, double v) {
    const char *unit[] = {"", "K", "M", "B", "T"};
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, cap, u ? (v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s") : "%.0f%s", v, unit[u]);
    /* "260K" rather than "260.00K" */
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = dot + strspn(dot + 1, "0") + 1;
        if (!(*end >= '0' && *end <= '9')) memmove(dot, end, strlen(end) + 1);
    }
}

void store_fill_details(store_manifest *m, const ag_model *model) {
    snprintf(m->family, sizeof m->family, "%s", ag_model_arch(model));
    m->n_params = ag_model_n_params(model);
    /* the weight type holding the most bytes */
    const char *best = "";
    uint64_t best_bytes = 0;
    int n = ag_model_tensor_count(model);
    for (int i = 0; i < n; i++) {
        const char *t = ag_model_tensor_type(model, i);
        uint64_t sum = 0;
        for (int k = 0; k < n; k++)
            if (strcmp(ag_model_tensor_type(model, k), t) == 0) sum += ag_model_tensor_size(model, k);
        if (sum > best_bytes) {
            best_bytes = sum;
            best = t;
        }
    }
    snprintf(m->quant, sizeof m->quant, "%s", best);
}
