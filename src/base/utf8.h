/*
 * utf8.h - UTF-8 helpers: sequence lengths, validation, and how many bytes at the end of a
 * buffer form an incomplete (but so far valid) sequence, which a streaming printer holds back.
 */
#ifndef AG_BASE_UTF8_H
#define AG_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the sequence a lead byte starts (1..4), or 0 for a continuation/invalid byte. */
int ag_utf8_seq_len(unsigned char lead);

/* Number of trailing bytes of buf[0..len) that begin a sequence not yet complete (0..3). */
size_t ag_utf8_incomplete_tail(const char *buf, size_t len);

/* True when buf[0..len) is entirely valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool ag_utf8_valid(const char *buf, size_t len);

#endif
