/*
 * fts_text.h - text for the FTS5 index and queries to it. FTS5's unicode61 tokenizer keeps a run
 * of Chinese characters as one token, so runs of CJK characters are rewritten as overlapping
 * bigrams ("知识库" -> "知识 识库"); the query side does the same, drops English stop words and
 * ORs the terms, so that BM25 ranks by the terms matched.
 */
#ifndef AG_KB_FTS_TEXT_H
#define AG_KB_FTS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether a code point is a CJK ideograph / kana / hangul (what is bigrammed). */
bool kb_is_cjk(unsigned cp);
/* Decodes the UTF-8 character at s (n > 0 bytes) -> its code point and length (invalid: 0xFFFD, 1). */
int kb_utf8_next(const char *s, size_t n, unsigned *cp);

/* Whether an ASCII word is an English stop word (case-insensitive). */
bool kb_is_stop_word(const char *t, size_t n);

/* The text as indexed (malloc'd). */
char *kb_fts_document(const char *text, size_t len);
/* An FTS5 MATCH expression for a question (malloc'd); NULL when it has no searchable term. */
char *kb_fts_query(const char *question);

#endif
