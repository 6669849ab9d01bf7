/*
 * digest.h - SHA-256 (OpenSSL) and hex helpers shared by the trust layer.
 */
#ifndef AG_TRUST_DIGEST_H
#define AG_TRUST_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

bool ag_sha256(const void *data, size_t len, unsigned char out[32]);
/* out receives 2n hex digits (lower case) and a NUL. */
void ag_hex_encode(const unsigned char *bytes, size_t n, char *out);
/* Parses exactly 2n hex digits followed by the end of the string. */
bool ag_hex_decode(const char *hex, unsigned char *out, size_t n);
/* Compares n bytes in time independent of where they differ. */
bool ag_equal_ct(const unsigned char *a, const unsigned char *b, size_t n);

#endif
