/*
 * byte_unicode.h - the byte <-> character map of byte-level BPE ("gpt2") vocabularies.
 *
 * GPT-2 spells every byte of the text as one printable Unicode character so that pieces are
 * ordinary strings: the bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for the code point of the
 * same value; the 68 others (0x00..0x20, 0x7F..0xA0, 0xAD), in increasing order, for U+0100..U+0143
 * (so ' ' is U+0120 "Ġ" and '\n' is U+010A "Ċ"). Pure functions over constant rules: no tables to
 * build, nothing shared.
 */
#ifndef AG_TOKENIZER_BYTE_UNICODE_H
#define AG_TOKENIZER_BYTE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* The code point that stands for byte b. */
uint32_t ag_bpe_byte_to_cp(uint8_t b);

/* The byte that code point cp stands for, or -1 when it stands for none. */
int ag_bpe_cp_to_byte(uint32_t cp);

/* The UTF-8 spelling of byte b's character into out (1 or 2 bytes); returns its length. */
size_t ag_bpe_byte_utf8(uint8_t b, char out[2]);

/* A piece spelled in byte characters back to bytes: each character that stands for a byte
 * becomes that byte, any other character (or invalid UTF-8) is copied unchanged. Same contract
 * as ag_vocab_token_to_piece: the length written, or -(length needed) when cap is too small
 * (nothing written then). */
int ag_bpe_decode_piece(const char *piece, size_t len, char *buf, int cap);

#endif
