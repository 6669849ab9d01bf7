/*
 * parse_docx.c - DOCX: the zip (libzip, from memory) and its word/document.xml, read with the
 * small XML scanner. Each w:p is a block; its text is the w:t runs (w:tab, w:br as spaces;
 * deleted text and field codes left out). A paragraph is a heading when its style is
 * HeadingN / Title (or the numeric ids 1..6 that localized Word writes), or it has an outline
 * level.
 */
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "base/error.h"
#include "kb/parse.h"
#include "kb/xml_scan.h"

#define DOCX_MAX_XML (256u << 20) /* a larger document.xml is refused (zip bomb guard) */

static int style_level(const char *v, size_t n) {
    if (n >= 8 && (strncmp(v, "Heading", 7) == 0 || strncmp(v, "heading", 7) == 0)) {
        size_t i = 7;
        while (i < n && v[i] == ' ') i++;
        if (i < n && v[i] >= '1' && v[i] <= '9') return v[i] - '0' > 6 ? 6 : v[i] - '0';
    }
    if (n == 5 && strncmp(v, "Title", 5) == 0) return 1;
    if (n == 1 && v[0] >= '1' && v[0] <= '6') return v[0] - '0';
    return 0;
}

void kb_parse_docx_xml(kb_doc_builder *d, const char *s, size_t n) {
    xml_scanner x;
    xml_init(&x, s, n);
    int level = 0, in_t = 0;
    bool in_p = false;
    for (xml_event ev; (ev = xml_next(&x)) != XML_END;) {
        if (ev == XML_TEXT) {
            if (in_t > 0 && in_p) kb_doc_text(d, x.text.data, x.text.len);
            continue;
        }
        if (xml_is(&x, "w:p")) {
            if (ev == XML_OPEN) {
                kb_doc_end_block(d, 0);
                in_p = true;
                level = 0;
            } else {
                kb_doc_end_block(d, level);
                in_p = false;
                level = 0;
            }
        } else if (xml_is(&x, "w:t")) {
            if (ev == XML_OPEN) in_t++;
            else if (ev == XML_CLOSE && in_t > 0) in_t--;
        } else if (ev != XML_CLOSE && (xml_is(&x, "w:tab") || xml_is(&x, "w:br") || xml_is(&x, "w:cr"))) {
            d->pending_space = true;
        } else if (ev == XML_CLOSE && xml_is(&x, "w:tc")) {
            d->pending_space = true;
        } else if (ev != XML_CLOSE && xml_is(&x, "w:pStyle")) {
            size_t l;
            const char *v = xml_attr(&x, "w:val", &l);
            if (v && style_level(v, l)) level = style_level(v, l);
        } else if (ev != XML_CLOSE && xml_is(&x, "w:outlineLvl")) {
            size_t l;
            const char *v = xml_attr(&x, "w:val", &l);
            if (v && l == 1 && v[0] >= '0' && v[0] <= '5' && !level) level = v[0] - '0' + 1;
        }
    }
    kb_doc_end_block(d, level);
    xml_free(&x);
}

ag_status kb_parse_docx(kb_doc_builder *d, const void *data, size_t len, ag_error *err) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (!z) {
        ag_status st = ag_error_set(err, AG_ERR_FORMAT, "not a DOCX file (zip: %s)", zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return st;
    }
    zip_error_fini(&ze);
    ag_status st = AG_OK;
    zip_stat_t zs;
    zip_file_t *f = NULL;
    char *xml = NULL;
    if (zip_stat(z, "word/document.xml", 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        st = ag_error_set(err, AG_ERR_FORMAT, "not a DOCX file (no word/document.xml in the zip)");
    else if (zs.size > DOCX_MAX_XML)
        st = ag_error_set(err, AG_ERR_FORMAT, "word/document.xml is too large (%llu bytes)", (unsigned long long)zs.size);
    else if (!(xml = malloc(zs.size + 1)))
        st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    else if (!(f = zip_fopen(z, "word/document.xml", 0)))
        st = ag_error_set(err, AG_ERR_FORMAT, "cannot open word/document.xml: %s", zip_strerror(z));
    else {
        zip_int64_t got = zip_fread(f, xml, zs.size);
        if (got < 0 || (zip_uint64_t)got != zs.size)
            st = ag_error_set(err, AG_ERR_FORMAT, "corrupt DOCX: word/document.xml cannot be read (%s)", zip_file_strerror(f));
        else kb_parse_docx_xml(d, xml, (size_t)got);
    }
    if (f) zip_fclose(f);
    free(xml);
    zip_discard(z);
    return st;
}
