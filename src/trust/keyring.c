/*
 * keyring.c - API keys: generating them (OpenSSL's RAND_bytes), the keyring file (JSON via cJSON,
 * only SHA-256 of each key stored, rewritten atomically with mode 0600), and checking a
 * presented key in constant time. Roles' names live here too.
 */
#include "autoglm/access.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/error.h"
#include "base/file.h"
#include "trust/digest.h"

typedef struct {
    ag_key_info info;
    unsigned char hash[32];
} key_entry;

struct ag_keyring {
    key_entry *keys;
    int n;
};

const char *ag_role_name(ag_role role) {
    switch (role) {
    case AG_ROLE_READER: return "reader";
    case AG_ROLE_USER: return "user";
    case AG_ROLE_ADMIN: return "admin";
    }
    return "?";
}

int ag_role_from_name(const char *name) {
    for (int r = AG_ROLE_READER; r <= AG_ROLE_ADMIN; r++)
        if (name && strcmp(name, ag_role_name((ag_role)r)) == 0) return r;
    return -1;
}

char *ag_keyring_default_path(void) {
    const char *env = getenv("AUTOGLM_KEYS");
    if (env && *env) return strdup(env);
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    size_t n = strlen(home) + 32;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/.autoglm/keys.json", home);
    return p;
}

static bool valid_tenant(const char *t) {
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 63) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static void copy_str(char *dst, size_t cap, const cJSON *j) {
    snprintf(dst, cap, "%s", cJSON_IsString(j) ? j->valuestring : "");
}

ag_keyring *ag_keyring_load(const char *path, ag_error *err) {
    ag_keyring *r = calloc(1, sizeof *r);
    if (!r) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (access(path, F_OK) != 0 && errno == ENOENT) return r; /* no keyring yet: no keys */
    size_t len = 0;
    char *text = ag_read_file(path, 16u << 20, &len, err);
    if (!text) {
        free(r);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
    if (!cJSON_IsArray(keys)) {
        ag_error_set(err, AG_ERR_FORMAT, "%s: not a keyring (expected {\"keys\": [...]})", path);
        cJSON_Delete(root);
        free(r);
        return NULL;
    }
    int n = cJSON_GetArraySize(keys);
    r->keys = calloc((size_t)(n > 0 ? n : 1), sizeof *r->keys);
    const cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        key_entry *e = &r->keys[r->n];
        const cJSON *hash = cJSON_GetObjectItemCaseSensitive(k, "sha256");
        int role = ag_role_from_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "role")));
        if (!cJSON_IsString(hash) || !ag_hex_decode(hash->valuestring, e->hash, 32) || role < 0) {
            ag_error_set(err, AG_ERR_FORMAT, "%s: key %d has no valid sha256 or role", path, r->n + 1);
            ag_keyring_free(r);
            cJSON_Delete(root);
            return NULL;
        }
        e->info.role = (ag_role)role;
        ag_hex_encode(e->hash, 6, e->info.id);
        copy_str(e->info.tenant, sizeof e->info.tenant, cJSON_GetObjectItemCaseSensitive(k, "tenant"));
        copy_str(e->info.name, sizeof e->info.name, cJSON_GetObjectItemCaseSensitive(k, "name"));
        copy_str(e->info.created, sizeof e->info.created, cJSON_GetObjectItemCaseSensitive(k, "created"));
        r->n++;
    }
    cJSON_Delete(root);
    return r;
}

void ag_keyring_free(ag_keyring *r) {
    if (!r) return;
    free(r->keys);
    free(r);
}

int ag_keyring_count(const ag_keyring *r) { return r ? r->n : 0; }
const ag_key_info *ag_keyring_at(const ag_keyring *r, int i) { return r && i >= 0 && i < r->n ? &r->keys[i].info : NULL; }

bool ag_keyring_check(const ag_keyring *r, const char *key, ag_key_info *info) {
    unsigned char h[32];
    if (!r || !key || !ag_sha256(key, strlen(key), h)) return false;
    int found = -1;
    for (int i = 0; i < r->n; i++) /* every entry is compared: the time does not tell which matched */
        if (ag_equal_ct(h, r->keys[i].hash, 32) && found < 0) found = i;
    if (found >= 0 && info) *info = r->keys[found].info;
    return found >= 0;
}

/* Writes the keyring (entries of r, minus skip, plus extra) to path through a temporary file. */
static ag_status save(const char *path, const ag_keyring *r, int skip, const key_entry *extra, ag_error *err) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "keys");
    for (int i = 0; i <= r->n; i++) {
        const key_entry *e = i < r->n ? &r->keys[i] : extra;
        if (i == skip || !e) continue;
        char hex[65];
        ag_hex_encode(e->hash, 32, hex);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", e->info.id);
        cJSON_AddStringToObject(o, "sha256", hex);
        cJSON_AddStringToObject(o, "role", ag_role_name(e->info.role));
        cJSON_AddStringToObject(o, "tenant", e->info.tenant);
        cJSON_AddStringToObject(o, "name", e->info.name);
        cJSON_AddStringToObject(o, "created", e->info.created);
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char tmp[4200];
    ag_status st = AG_OK;
    if (!text || (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    int fd = st ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (!st && fd < 0) st = ag_error_set(err, AG_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (fd >= 0) {
        size_t n = strlen(text);
        bool ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            st = ag_error_set(err, AG_ERR_IO, "%s: cannot write", path);
            unlink(tmp);
        }
    }
    free(text);
    return st;
}

ag_status ag_keyring_add(const char *path, ag_role role, const char *tenant, const char *name, char key_out[48],
                         ag_key_info *info, ag_error *err) {
    if (!valid_tenant(tenant))
        return ag_error_set(err, AG_ERR_INVALID_ARG, "tenant must be 1-63 letters, digits, '-', '_' or '.'");
    if ((unsigned)role > AG_ROLE_ADMIN) return ag_error_set(err, AG_ERR_INVALID_ARG, "bad role");
    ag_keyring *r = ag_keyring_load(path, err);
    if (!r) return err ? err->code : AG_ERR_IO;
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        ag_keyring_free(r);
        return ag_error_set(err, AG_ERR_IO, "no random bytes");
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char key[48] = "agk_";
    for (int i = 0; i < 43; i++) { /* 256 bits, 6 per character */
        int bit = i * 6, byte = bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)raw[byte] << 8 | (byte + 1 < 32 ? raw[byte + 1] : 0)) >> (10 - shift);
        key[4 + i] = b64[v & 63];
    }
    key[47] = '\0';
    key_entry e = {0};
    e.info.role = role;
    snprintf(e.info.tenant, sizeof e.info.tenant, "%s", tenant);
    snprintf(e.info.name, sizeof e.info.name, "%s", name ? name : "");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(e.info.created, sizeof e.info.created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    ag_sha256(key, strlen(key), e.hash);
    ag_hex_encode(e.hash, 6, e.info.id);
    ag_status st = save(path, r, -1, &e, err);
    ag_keyring_free(r);
    if (st) return st;
    memcpy(key_out, key, 48);
    if (info) *info = e.info;
    return AG_OK;
}

ag_status ag_keyring_remove(const char *path, const char *id, ag_error *err) {
    size_t n = id ? strlen(id) : 0;
    if (n < 6 || n > 12) return ag_error_set(err, AG_ERR_INVALID_ARG, "give 6 to 12 digits of the key's id");
    ag_keyring *r = ag_keyring_load(path, err);
    if (!r) return err ? err->code : AG_ERR_IO;
    int found = -1, matches = 0;
    for (int i = 0; i < r->n; i++)
        if (strncmp(r->keys[i].info.id, id, n) == 0) {
            found = i;
            matches++;
        }
    ag_status st = matches == 1   ? save(path, r, found, NULL, err)
                   : matches == 0 ? ag_error_set(err, AG_ERR_INVALID_ARG, "no key with id %s", id)
                                  : ag_error_set(err, AG_ERR_INVALID_ARG, "id %s is ambiguous", id);
    ag_keyring_free(r);
    return st;
}
