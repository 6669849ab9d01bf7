/*
 * parse.h - the per-format parsers behind ag_doc_parse_file / ag_doc_parse_buffer (parse.c).
 * Each writes blocks into a document builder; the text parsers take UTF-8 (already decoded).
 */
#ifndef AG_KB_PARSE_H
#define AG_KB_PARSE_H

#include "kb/textbuf.h"

void kb_parse_markdown(kb_doc_builder *d, const char *s, size_t n); /* parse_md.c */
void kb_parse_html(kb_doc_builder *d, const char *s, size_t n);     /* parse_html.c */
/* word/document.xml of a DOCX (parse_docx.c) */
void kb_parse_docx_xml(kb_doc_builder *d, const char *s, size_t n);
/* A whole DOCX (zip) in memory; AG_ERR_FORMAT when it is not one. */
ag_status kb_parse_docx(kb_doc_builder *d, const void *data, size_t len, ag_error *err);
/* A PDF in memory, one block run per page (parse_pdf.c). */
ag_status kb_parse_pdf(kb_doc_builder *d, const void *data, size_t len, ag_error *err);

/* Decodes the entity at s ("&amp;", "&#38;", "&#x26;" ..., n bytes available, s[0] == '&') into
 * buf: returns the bytes of the entity consumed (0 when it is not one). (entities.c) */
size_t kb_decode_entity(const char *s, size_t n, kb_buf *out);

#endif
