/*
 * textbuf.h - a growable byte buffer (always NUL-terminated) and the document builder the
 * parsers write through: paragraphs and headings become blocks of ag_doc separated by "\n\n",
 * with whitespace collapsed and control characters dropped on the way (the cleaning step).
 */
#ifndef AG_KB_TEXTBUF_H
#define AG_KB_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "autoglm/kb.h"

typedef struct {
    char *data;
    size_t len, cap;
    bool oom; /* an append failed: the contents are incomplete */
} kb_buf;

void kb_buf_append(kb_buf *b, const char *s, size_t n);
void kb_buf_puts(kb_buf *b, const char *s);
void kb_buf_putc(kb_buf *b, char c);
void kb_buf_printf(kb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kb_buf_free(kb_buf *b);
/* Hands the data over (malloc'd, "" when empty) and resets the buffer; NULL if out of memory. */
char *kb_buf_take(kb_buf *b, size_t *len);

/* Appends the UTF-8 encoding of a code point (invalid ones become U+FFFD). */
void kb_buf_put_cp(kb_buf *b, unsigned cp);

/* ---- document builder: text flows into the current block; kb_doc_end_block closes it */
typedef struct {
    kb_buf text;
    ag_doc_block *blocks;
    int n_blocks, cap_blocks;
    size_t block_start; /* where the open block's text starts */
    bool pending_space; /* whitespace seen since the last character of the block */
    int page;
    int n_pages;
    bool oom;
} kb_doc_builder;

void kb_doc_init(kb_doc_builder *d);
/* Text of the current block: whitespace runs collapse to one space, control characters and
 * invalid UTF-8 are dropped (invalid bytes become U+FFFD), leading/trailing spaces trimmed. */
void kb_doc_text(kb_doc_builder *d, const char *s, size_t n);
/* Ends the current block (nothing when it is empty); heading_level 0 = paragraph. */
void kb_doc_end_block(kb_doc_builder *d, int heading_level);
/* Text with its own line breaks: each blank-line-separated paragraph becomes a block. */
void kb_doc_paragraphs(kb_doc_builder *d, const char *s, size_t n);
/* Moves everything into *out (kb_doc_builder is empty afterwards). */
ag_status kb_doc_finish(kb_doc_builder *d, ag_doc *out, ag_error *err);
void kb_doc_discard(kb_doc_builder *d);

#endif
