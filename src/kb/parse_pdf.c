/*
 * parse_pdf.c - PDF text per page with poppler-glib: each page's text (in reading order as
 * poppler lays it out) becomes paragraphs of that page. A file poppler cannot open, or an
 * encrypted one, is AG_ERR_FORMAT with poppler's message.
 */
#include <poppler.h>
#include <string.h>

#include "base/error.h"
#include "kb/parse.h"

ag_status kb_parse_pdf(kb_doc_builder *d, const void *data, size_t len, ag_error *err) {
    if (len < 5 || memcmp(data, "%PDF-", 5) != 0)
        return ag_error_set(err, AG_ERR_FORMAT, "not a PDF file (no %%PDF- header)");
    GError *gerr = NULL;
    GBytes *bytes = g_bytes_new_static(data, len);
    PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &gerr);
    g_bytes_unref(bytes);
    if (!doc) {
        ag_status st = ag_error_set(err, AG_ERR_FORMAT, "corrupt PDF: %s", gerr ? gerr->message : "cannot be opened");
        if (gerr) g_error_free(gerr);
        return st;
    }
    int n = poppler_document_get_n_pages(doc);
    if (n <= 0) {
        g_object_unref(doc);
        return ag_error_set(err, AG_ERR_FORMAT, "corrupt PDF: no pages");
    }
    d->n_pages = n;
    for (int p = 0; p < n; p++) {
        PopplerPage *page = poppler_document_get_page(doc, p);
        if (!page) continue;
        char *text = poppler_page_get_text(page);
        d->page = p + 1;
        if (text) kb_doc_paragraphs(d, text, strlen(text));
        kb_doc_end_block(d, 0);
        g_free(text);
        g_object_unref(page);
    }
    g_object_unref(doc);
    return AG_OK;
}
