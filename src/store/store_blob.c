/*
 * store_blob.c - model files inside the store: SHA-256 of a file (OpenSSL's EVP digest) and
 * import into blobs/sha256-<hex> by hard link when on the same file system, else by a copy
 * through a temporary file renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

st_status store_sha256_file(const char *file, char hex[65], uint64_t *size, st_error *err) {
    int fd = open(file, O_RDONLY);
    if (fd < 0) return st_fail(err, errno == ENOENT ? ST_NOT_FOUND : ST_IO, "cannot open '%s': %s", file, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    st_status st = ST_OK;
    uint64_t total = 0;
    if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        st = st_fail(err, ST_NOMEM, "cannot start SHA-256");
    } else {
        for (;;) {
            ssize_t got = read(fd, buf, 1 << 20);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) {
                st = st_fail(err, ST_IO, "cannot read '%s': %s", file, strerror(errno));
                break;
            }
            if (got == 0) break;
            EVP_DigestUpdate(ctx, buf, (size_t)got);
            total += (uint64_t)got;
        }
        unsigned char md[32];
        unsigned int mdlen = 0;
        if (st == ST_OK && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32) {
            for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
            hex[64] = '\0';
            if (size) *size = total;
        } else if (st == ST_OK) {
            st = st_fail(err, ST_IO, "SHA-256 failed");
        }
    }
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    return st;
}

static st_status copy_file(const char *src, const char *dst, st_error *err) {
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    char *buf = malloc(1 << 20);
    st_status st = ST_OK;
    if (!in || !out || !buf) {
        st = st_fail(err, ST_IO, "cannot copy '%s' to '%s': %s", src, dst, strerror(errno));
    } else {
        size_t got;
        while ((got = fread(buf, 1, 1 << 20, in)) > 0)
            if (fwrite(buf, 1, got, out) != got) break;
        if (ferror(in) || ferror(out)) st = st_fail(err, ST_IO, "cannot copy '%s' to '%s'", src, dst);
    }
    if (out && fclose(out) != 0 && st == ST_OK) st = st_fail(err, ST_IO, "cannot write '%s'", dst);
    if (in) fclose(in);
    free(buf);
    return st;
}

st_status store_import_blob(const char *root, const char *file, store_manifest *m, st_error *err) {
    st_status st = store_sha256_file(file, m->sha256, &m->size, err);
    if (st) return st;
    size_t n = strlen(root) + 128;
    char *dir = malloc(n), *path = malloc(n), *tmp = malloc(n + 32);
    if (!dir || !path || !tmp) {
        free(dir), free(path), free(tmp);
        return st_fail(err, ST_NOMEM, "out of memory");
    }
    snprintf(dir, n, "%s/blobs", root);
    snprintf(path, n, "%s/sha256-%s", dir, m->sha256);
    snprintf(tmp, n + 32, "%s.partial%ld", path, (long)getpid());
    struct stat sb;
    if ((st = store_mkdirs(dir, err)) != ST_OK) {
        /* reported */
    } else if (stat(path, &sb) == 0 && (uint64_t)sb.st_size == m->size) {
        /* already there (same digest) */
    } else if (link(file, path) != 0) {
        st = copy_file(file, tmp, err);
        if (st == ST_OK && rename(tmp, path) != 0) st = st_fail(err, ST_IO, "cannot rename '%s': %s", tmp, strerror(errno));
        if (st != ST_OK) unlink(tmp);
    }
    free(dir), free(tmp);
    if (st == ST_OK) {
        free(m->path);
        m->path = path;
    } else {
        free(path);
    }
    return st;
}
