/*
 * sign.c - Ed25519 model signatures with OpenSSL: key pairs as PEM files, a detached signature
 * file over the model's SHA-256 (format in include/autoglm/sign.h), and verification against a
 * folder of trusted public keys.
 */
#include "autoglm/sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/error.h"
#include "base/file.h"
#include "trust/digest.h"

#define SIG_MAGIC "autoglm-signature v1"
#define READ_CHUNK (4u << 20)

static ag_status file_sha256(const char *path, unsigned char digest[32], ag_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char *buf = malloc(READ_CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = buf && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t got;
    while (ok && (got = fread(buf, 1, READ_CHUNK, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, got);
    unsigned int len = 0;
    bool read_error = ferror(f);
    ok = ok && !read_error && EVP_DigestFinal_ex(ctx, digest, &len) && len == 32;
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(f);
    if (!ok) return ag_error_set(err, read_error ? AG_ERR_IO : AG_ERR_NOMEM, "%s: cannot hash the file", path);
    return AG_OK;
}

/* fopen for writing that refuses to replace an existing file. */
static FILE *create_exclusive(const char *path, mode_t mode, ag_error *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) close(fd);
    return f;
}

ag_status ag_keys_generate(const char *private_key_path, const char *public_key_path, ag_error *err) {
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key) return ag_error_set(err, AG_ERR_NOMEM, "cannot generate an Ed25519 key");
    ag_status st = AG_OK;
    FILE *priv = create_exclusive(private_key_path, 0600, err);
    if (!priv) st = AG_ERR_IO;
    else {
        bool ok = PEM_write_PrivateKey(priv, key, NULL, NULL, 0, NULL, NULL) == 1;
        if (fclose(priv) != 0 || !ok) st = ag_error_set(err, AG_ERR_IO, "%s: write failed", private_key_path);
    }
    FILE *pub = st ? NULL : create_exclusive(public_key_path, 0644, err);
    if (!st && !pub) st = AG_ERR_IO;
    if (pub) {
        bool ok = PEM_write_PUBKEY(pub, key) == 1;
        if (fclose(pub) != 0 || !ok) st = ag_error_set(err, AG_ERR_IO, "%s: write failed", public_key_path);
    }
    if (st && priv) unlink(private_key_path); /* no half pair left behind */
    EVP_PKEY_free(key);
    return st;
}

static char *default_sig_path(const char *model_path, const char *sig_path) {
    return sig_path ? strdup(sig_path) : ag_path_with_suffix(model_path, ".sig");
}

static bool raw_public_key(EVP_PKEY *key, unsigned char out[32]) {
    size_t len = 32;
    return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 && EVP_PKEY_get_raw_public_key(key, out, &len) == 1 && len == 32;
}

ag_status ag_sign_model(const char *model_path, const char *private_key_path, const char *sig_path, ag_error *err) {
    FILE *kf = fopen(private_key_path, "rb");
    if (!kf) return ag_error_set(err, AG_ERR_IO, "%s: %s", private_key_path, strerror(errno));
    EVP_PKEY *key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    unsigned char pub[32], digest[32], sig[64];
    if (!key || !raw_public_key(key, pub)) {
        EVP_PKEY_free(key);
        return ag_error_set(err, AG_ERR_FORMAT, "%s: not an Ed25519 private key in PEM", private_key_path);
    }
    ag_status st = file_sha256(model_path, digest, err);
    size_t sig_len = sizeof sig;
    EVP_MD_CTX *ctx = st ? NULL : EVP_MD_CTX_new();
    if (!st && (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
                EVP_DigestSign(ctx, sig, &sig_len, digest, sizeof digest) != 1 || sig_len != 64))
        st = ag_error_set(err, AG_ERR_NOMEM, "signing failed");
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (st) return st;

    char *path = default_sig_path(model_path, sig_path);
    char *tmp = path ? malloc(strlen(path) + 8) : NULL;
    if (!tmp) {
        free(path);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    sprintf(tmp, "%s.tmp", path);
    char hd[65], hk[65], hs[129];
    ag_hex_encode(digest, 32, hd);
    ag_hex_encode(pub, 32, hk);
    ag_hex_encode(sig, 64, hs);
    FILE *f = fopen(tmp, "w");
    if (!f) st = ag_error_set(err, AG_ERR_IO, "%s: %s", tmp, strerror(errno));
    else {
        int wrote = fprintf(f, SIG_MAGIC "\nsha256 %s\nkey %s\nsignature %s\n", hd, hk, hs);
        if (fclose(f) != 0 || wrote < 0 || rename(tmp, path) != 0) {
            st = ag_error_set(err, AG_ERR_IO, "%s: cannot write the signature", path);
            unlink(tmp);
        }
    }
    free(tmp);
    free(path);
    return st;
}

typedef struct {
    unsigned char digest[32], key[32], sig[64];
} signature_file;

static ag_status read_signature(const char *path, signature_file *s, ag_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ag_error_set(err, AG_ERR_UNTRUSTED, "no signature: %s: %s", path, strerror(errno));
    char line[512];
    int have = 0;
    bool magic = fgets(line, sizeof line, f) && strcmp(line, SIG_MAGIC "\n") == 0;
    while (magic && fgets(line, sizeof line, f)) {
        char field[16], value[300];
        if (sscanf(line, "%15s %299s", field, value) != 2) break;
        if (strcmp(field, "sha256") == 0 && ag_hex_decode(value, s->digest, 32)) have |= 1;
        else if (strcmp(field, "key") == 0 && ag_hex_decode(value, s->key, 32)) have |= 2;
        else if (strcmp(field, "signature") == 0 && ag_hex_decode(value, s->sig, 64)) have |= 4;
        else break;
    }
    fclose(f);
    if (!magic || have != 7)
        return ag_error_set(err, AG_ERR_FORMAT, "%s: not a valid signature file (%s)", path,
                            magic ? "missing or malformed sha256/key/signature line" : "no '" SIG_MAGIC "' header");
    return AG_OK;
}

/* True when dir holds a public key (*.pub, *.pem) equal to key. */
static ag_status key_trusted(const char *dir, const unsigned char key[32], bool *trusted, ag_error *err) {
    *trusted = false;
    DIR *d = opendir(dir);
    if (!d) return ag_error_set(err, AG_ERR_IO, "trusted keys folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    while (!*trusted && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || (strcmp(e->d_name + n - 4, ".pub") != 0 && strcmp(e->d_name + n - 4, ".pem") != 0)) continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        fclose(f);
        unsigned char raw[32];
        if (k && raw_public_key(k, raw) && memcmp(raw, key, 32) == 0) *trusted = true;
        EVP_PKEY_free(k);
    }
    closedir(d);
    return AG_OK;
}

ag_status ag_verify_model(const char *model_path, const char *sig_path, const char *trusted_dir, char key_hex[65],
                          ag_error *err) {
    char *path = default_sig_path(model_path, sig_path);
    if (!path) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    signature_file s;
    ag_status st = read_signature(path, &s, err);
    free(path);
    if (st) return st;
    if (key_hex) ag_hex_encode(s.key, 32, key_hex);
    unsigned char digest[32];
    if ((st = file_sha256(model_path, digest, err))) return st;
    if (memcmp(digest, s.digest, 32) != 0)
        return ag_error_set(err, AG_ERR_UNTRUSTED, "%s: the file's SHA-256 differs from the signed one (modified)", model_path);
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, s.key, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool valid = key && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
                 EVP_DigestVerify(ctx, s.sig, 64, s.digest, 32) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!valid) return ag_error_set(err, AG_ERR_UNTRUSTED, "%s: the signature does not verify", model_path);
    if (!trusted_dir) return AG_OK;
    bool trusted;
    if ((st = key_trusted(trusted_dir, s.key, &trusted, err))) return st;
    if (!trusted) {
        char hex[65];
        ag_hex_encode(s.key, 32, hex);
        return ag_error_set(err, AG_ERR_UNTRUSTED, "%s: signed by key %.16s..., which is not in %s", model_path, hex,
                            trusted_dir);
    }
    return AG_OK;
}
