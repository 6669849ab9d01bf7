/*
 * xml_scan.h - a small pull scanner for XML (what DOCX parts need): start/end/empty tags with
 * their attributes, and character data with entities decoded. No DTDs, no namespaces beyond
 * keeping the prefix in the name; malformed input ends the scan, never reads out of bounds.
 */
#ifndef AG_KB_XML_SCAN_H
#define AG_KB_XML_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "kb/textbuf.h"

typedef enum { XML_END = 0, XML_OPEN, XML_CLOSE, XML_EMPTY, XML_TEXT } xml_event;

typedef struct {
    const char *s;
    size_t n, pos;
    /* the current tag: name and the raw attribute text */
    const char *name;
    size_t name_len;
    const char *attrs;
    size_t attrs_len;
    kb_buf text; /* XML_TEXT: the decoded text */
} xml_scanner;

void xml_init(xml_scanner *x, const char *s, size_t n);
xml_event xml_next(xml_scanner *x);
void xml_free(xml_scanner *x);
/* Whether the current tag's name is `name` (with its prefix, e.g. "w:p"). */
bool xml_is(const xml_scanner *x, const char *name);
/* The value of attribute `name` of the current tag (raw, not entity-decoded) -> *len; NULL when absent. */
const char *xml_attr(const xml_scanner *x, const char *name, size_t *len);

#endif
