/*
 * sign.h - signed models (public API of the trust layer's model signatures).
 *
 * A signature is a detached file (by default MODEL.sig beside the model) holding the SHA-256 of
 * the model file, the signer's Ed25519 public key and the Ed25519 signature over that digest:
 *
 *     autoglm-signature v1
 *     sha256 <64 hex digits>
 *     key <64 hex digits: the raw 32-byte public key>
 *     signature <128 hex digits>
 *
 * Keys are PEM files (PKCS#8 private key, written with mode 0600; SubjectPublicKeyInfo public
 * key), as OpenSSL writes them. A trusted-keys folder holds public keys (*.pub or *.pem); a model
 * is trusted when its signature verifies, its digest equals the file's, and the key is one of them.
 */
#ifndef AUTOGLM_SIGN_H
#define AUTOGLM_SIGN_H

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a new key pair; fails rather than overwrite an existing file. */
ag_status ag_keys_generate(const char *private_key_path, const char *public_key_path, ag_error *err);

/* Signs model_path with the private key into sig_path (NULL: model_path + ".sig"). */
ag_status ag_sign_model(const char *model_path, const char *private_key_path, const char *sig_path, ag_error *err);

/* Verifies model_path against sig_path (NULL: model_path + ".sig"). trusted_dir NULL: any valid
 * signature; otherwise the key must be in that folder. key_hex (may be NULL) receives the signer's
 * key, 64 hex digits + NUL. Errors: AG_ERR_IO (unreadable model or key folder), AG_ERR_FORMAT
 * (malformed signature file), AG_ERR_UNTRUSTED (no signature file, the digest differs because
 * the file was modified, a bad signature, a key not in the trusted folder) - each with a message
 * saying which. */
ag_status ag_verify_model(const char *model_path, const char *sig_path, const char *trusted_dir, char key_hex[65],
                          ag_error *err);

#ifdef __cplusplus
}
#endif

#endif
