/*
 * redact_check.h - validators for the redaction detectors' candidates (see redact_check.c).
 * Each takes the matched bytes (separators included where the format allows them).
 */
#ifndef AG_TRUST_REDACT_CHECK_H
#define AG_TRUST_REDACT_CHECK_H

#include <stdbool.h>
#include <stddef.h>

bool ag_luhn_valid(const char *digits, int n);       /* digits: '0'..'9' only */
bool ag_check_bank_card(const char *s, size_t len);  /* 13-19 digits, known issuer, Luhn */
bool ag_check_cn_id(const char *s, size_t len);      /* 18 chars, region, birth date, checksum */
bool ag_check_cn_mobile(const char *s, size_t len);  /* 11 digits, or with the 86 / 0086 prefix */
bool ag_check_intl_phone(const char *s, size_t len); /* 8-15 digits in all */
bool ag_check_ipv6(const char *s, size_t len);       /* an address, not a time or a scope */

#endif
