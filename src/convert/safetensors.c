/*
 * safetensors.c - the safetensors reader (see safetensors.h): maps each shard, parses its JSON
 * header with cJSON, validates and indexes the tensors.
 *
 * Relies on: cJSON, POSIX mmap, tensor/quant.h (half-precision conversions).
 */
#include "convert/safetensors.h"

#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "tensor/quant.h"

#define MAX_SHARDS 4096
#define MAX_HEADER (256u << 20)

typedef struct {
    void *map;
    size_t size;
} shard;

struct ag_st_set {
    shard *shards;
    int n_shards;
    ag_st_tensor *tensors;
    int64_t n_tensors, cap_tensors;
};

static const struct {
    const char *name;
    ag_st_dtype dtype;
    size_t size;
} DTYPES[] = {
    {"F32", AG_ST_F32, 4}, {"F16", AG_ST_F16, 2}, {"BF16", AG_ST_BF16, 2}, {"F64", AG_ST_F64, 8},
    {"I64", AG_ST_I64, 8}, {"I32", AG_ST_I32, 4}, {"I16", AG_ST_OTHER, 2}, {"I8", AG_ST_OTHER, 1},
    {"U8", AG_ST_OTHER, 1}, {"BOOL", AG_ST_OTHER, 1}, {"F8_E4M3", AG_ST_OTHER, 1}, {"F8_E5M2", AG_ST_OTHER, 1},
};

const char *ag_st_dtype_name(ag_st_dtype t) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].dtype == t) return DTYPES[i].name;
    return "?";
}

int64_t ag_st_numel(const ag_st_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) n *= t->shape[d];
    return n;
}

float ag_st_get_f32(const ag_st_tensor *t, int64_t i) {
    switch (t->dtype) {
    case AG_ST_F32: { float v; memcpy(&v, t->data + 4 * i, 4); return v; }
    case AG_ST_F64: { double v; memcpy(&v, t->data + 8 * i, 8); return (float)v; }
    case AG_ST_F16: { uint16_t h; memcpy(&h, t->data + 2 * i, 2); return ag_fp16_to_fp32(h); }
    case AG_ST_BF16: { uint16_t h; memcpy(&h, t->data + 2 * i, 2); return ag_bf16_to_fp32(h); }
    default: return 0.0f;
    }
}

/* ---------------------------------------------------------------- one shard */

static ag_status add_tensor(ag_st_set *s, const cJSON *item, const shard *sh, size_t data_start, int file,
                            const char *path, ag_error *err) {
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shp = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shp) || !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return ag_error_set(err, AG_ERR_FORMAT, "%s: tensor '%s' has a malformed entry", path, item->string);
    ag_st_tensor t = {.file = file};
    size_t esize = 0;
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, dt->valuestring) == 0) t.dtype = DTYPES[i].dtype, esize = DTYPES[i].size;
    if (!esize) return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown dtype '%s'", path, item->string, dt->valuestring);
    t.n_dims = cJSON_GetArraySize(shp);
    if (t.n_dims > 5) return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions", path, item->string, t.n_dims);
    uint64_t numel = 1;
    for (int d = 0; d < t.n_dims; d++) {
        const cJSON *v = cJSON_GetArrayItem(shp, d);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12)
            return ag_error_set(err, AG_ERR_FORMAT, "%s: tensor '%s' has a bad shape", path, item->string);
        t.shape[d] = (int64_t)v->valuedouble;
        numel *= (uint64_t)t.shape[d];
        if (numel > (1ull << 40)) return ag_error_set(err, AG_ERR_FORMAT, "%s: tensor '%s' is too large", path, item->string);
    }
    const double b = cJSON_GetArrayItem(off, 0)->valuedouble, e = cJSON_GetArrayItem(off, 1)->valuedouble;
    if (!(b >= 0 && e >= b && data_start + e <= (double)sh->size) || (uint64_t)(e - b) != numel * esize)
        return ag_error_set(err, AG_ERR_FORMAT, "%s: tensor '%s' has data offsets [%.0f, %.0f] outside the file or not matching its shape",
                            path, item->string, b, e);
    t.data = (const uint8_t *)sh->map + data_start + (size_t)b;
    t.nbytes = (size_t)(e - b);
    if (s->n_tensors == s->cap_tensors) {
        int64_t cap = s->cap_tensors ? 2 * s->cap_tensors : 256;
        ag_st_tensor *nt = realloc(s->tensors, (size_t)cap * sizeof *nt);
        if (!nt) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        s->tensors = nt;
        s->cap_tensors = cap;
    }
    if (!(t.name = strdup(item->string))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    s->tensors[s->n_tensors++] = t;
    return AG_OK;
}

static ag_status open_shard(ag_st_set *s, const char *path, ag_error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ag_error_set(err, AG_ERR_IO, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8) {
        close(fd);
        return ag_error_set(err, AG_ERR_FORMAT, "%s is not a safetensors file (too short)", path);
    }
    shard sh = {mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0), (size_t)st.st_size};
    close(fd);
    if (sh.map == MAP_FAILED) return ag_error_set(err, AG_ERR_IO, "cannot map %s", path);
    s->shards[s->n_shards++] = sh;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)((const uint8_t *)sh.map)[i] << (8 * i);
    if (n > MAX_HEADER || 8 + n > sh.size)
        return ag_error_set(err, AG_ERR_FORMAT, "%s: header length %llu does not fit the file", path, (unsigned long long)n);
    cJSON *root = cJSON_ParseWithLength((const char *)sh.map + 8, (size_t)n);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ag_error_set(err, AG_ERR_FORMAT, "%s: the header is not a JSON object", path);
    }
    ag_status rc = AG_OK;
    for (const cJSON *it = root->child; it && !rc; it = it->next)
        if (strcmp(it->string, "__metadata__") != 0) rc = add_tensor(s, it, &sh, 8 + (size_t)n, s->n_shards - 1, path, err);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- the set */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The shard file names: from the index's weight_map, else every *.safetensors in dir (sorted). */
static ag_status shard_names(const char *dir, char ***names, int *n, ag_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    char *text = ag_read_file(path, (size_t)1 << 30, NULL, NULL);
    *names = calloc(MAX_SHARDS, sizeof **names);
    *n = 0;
    if (!*names) { free(text); return ag_error_set(err, AG_ERR_NOMEM, "out of memory"); }
    if (text) {
        cJSON *root = cJSON_Parse(text);
        free(text);
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
        if (!cJSON_IsObject(map)) {
            cJSON_Delete(root);
            return ag_error_set(err, AG_ERR_FORMAT, "%s has no weight_map object", path);
        }
        for (const cJSON *it = map->child; it; it = it->next) {
            if (!cJSON_IsString(it) || strchr(it->valuestring, '/')) continue;
            bool seen = false;
            for (int i = 0; i < *n && !seen; i++) seen = strcmp((*names)[i], it->valuestring) == 0;
            if (!seen && *n < MAX_SHARDS && !((*names)[(*n)++] = strdup(it->valuestring))) {
                cJSON_Delete(root);
                return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
            }
        }
        cJSON_Delete(root);
    } else {
        DIR *d = opendir(dir);
        if (!d) return ag_error_set(err, AG_ERR_IO, "cannot open the directory %s", dir);
        for (struct dirent *e; (e = readdir(d)) && *n < MAX_SHARDS;) {
            size_t len = strlen(e->d_name);
            if (len > 12 && strcmp(e->d_name + len - 12, ".safetensors") == 0 && !((*names)[(*n)++] = strdup(e->d_name))) {
                closedir(d);
                return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
            }
        }
        closedir(d);
    }
    if (*n == 0) return ag_error_set(err, AG_ERR_IO, "no *.safetensors file in %s", dir);
    qsort(*names, (size_t)*n, sizeof **names, cmp_str);
    return AG_OK;
}

/* Natural order: runs of digits compare as numbers ("layers.2" < "layers.10"). */
static int natural_cmp(const char *a, const char *b) {
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            char *ea, *eb;
            unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
            if (x != y) return x < y ? -1 : 1;
            a = ea, b = eb;
        } else if (*a != *b) return (unsigned char)*a - (unsigned char)*b;
        else a++, b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_tensor(const void *a, const void *b) {
    return natural_cmp(((const ag_st_tensor *)a)->name, ((const ag_st_tensor *)b)->name);
}

ag_st_set *ag_st_open_dir(const char *dir, ag_error *err) {
    ag_st_set *s = calloc(1, sizeof *s);
    char **names = NULL;
    int n = 0;
    ag_status rc = s ? shard_names(dir, &names, &n, err) : ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    if (!rc && !(s->shards = calloc((size_t)n, sizeof *s->shards))) rc = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = open_shard(s, path, err);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc) {
        ag_st_close(s);
        return NULL;
    }
    /* one order however the checkpoint is sharded */
    if (s->n_tensors > 1) qsort(s->tensors, (size_t)s->n_tensors, sizeof *s->tensors, cmp_tensor);
    return s;
}

void ag_st_close(ag_st_set *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n_tensors; i++) free(s->tensors[i].name);
    free(s->tensors);
    for (int i = 0; i < s->n_shards; i++) munmap(s->shards[i].map, s->shards[i].size);
    free(s->shards);
    free(s);
}

int64_t ag_st_count(const ag_st_set *s) { return s->n_tensors; }
const ag_st_tensor *ag_st_at(const ag_st_set *s, int64_t i) { return i >= 0 && i < s->n_tensors ? &s->tensors[i] : NULL; }

const ag_st_tensor *ag_st_find(const ag_st_set *s, const char *name) {
    for (int64_t i = 0; i < s->n_tensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0) return &s->tensors[i];
    return NULL;
}
