/*
 * parse.c - ag_doc_parse_file / ag_doc_parse_buffer: the format from the extension, the bytes
 * decoded to UTF-8 for the text formats (encoding.c), then the format's parser (parse_*.c)
 * writing blocks through the document builder, which also cleans the text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/error.h"
#include "kb/parse.h"

#define KB_MAX_FILE (512u << 20)

ag_doc_kind ag_doc_kind_from_path(const char *path) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return AG_DOC_UNKNOWN;
    static const struct {
        const char *ext;
        ag_doc_kind kind;
    } EXT[] = {{".txt", AG_DOC_TXT}, {".text", AG_DOC_TXT}, {".md", AG_DOC_MD}, {".markdown", AG_DOC_MD},
               {".htm", AG_DOC_HTML}, {".html", AG_DOC_HTML}, {".xhtml", AG_DOC_HTML}, {".pdf", AG_DOC_PDF},
               {".docx", AG_DOC_DOCX}};
    for (size_t i = 0; i < sizeof EXT / sizeof EXT[0]; i++)
        if (strcasecmp(dot, EXT[i].ext) == 0) return EXT[i].kind;
    return AG_DOC_UNKNOWN;
}

ag_status ag_doc_parse_buffer(ag_doc_kind kind, const void *data, size_t len, ag_doc *out, ag_error *err) {
    *out = (ag_doc){0};
    kb_doc_builder d;
    kb_doc_init(&d);
    ag_status st = AG_OK;
    if (kind == AG_DOC_PDF) st = kb_parse_pdf(&d, data, len, err);
    else if (kind == AG_DOC_DOCX) st = kb_parse_docx(&d, data, len, err);
    else if (kind == AG_DOC_TXT || kind == AG_DOC_MD || kind == AG_DOC_HTML) {
        size_t n = 0;
        char *text = ag_text_to_utf8(data, len, &n, NULL, err);
        if (!text) st = err ? err->code : AG_ERR_FORMAT;
        else if (kind == AG_DOC_TXT) kb_doc_paragraphs(&d, text, n);
        else if (kind == AG_DOC_MD) kb_parse_markdown(&d, text, n);
        else kb_parse_html(&d, text, n);
        free(text);
    } else st = ag_error_set(err, AG_ERR_UNSUPPORTED, "unsupported document type");
    if (st != AG_OK) {
        kb_doc_discard(&d);
        return st;
    }
    return kb_doc_finish(&d, out, err);
}

ag_status ag_doc_parse_file(const char *path, ag_doc *out, ag_error *err) {
    *out = (ag_doc){0};
    ag_doc_kind kind = ag_doc_kind_from_path(path);
    if (kind == AG_DOC_UNKNOWN) return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s: unsupported file type", path);
    FILE *f = fopen(path, "rb");
    if (!f) return ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > KB_MAX_FILE) {
        fclose(f);
        return ag_error_set(err, AG_ERR_IO, "%s: not a regular file of at most %u MiB", path, KB_MAX_FILE >> 20);
    }
    size_t len = (size_t)sb.st_size;
    char *data = malloc(len + 1);
    if (!data) {
        fclose(f);
        return ag_error_set(err, AG_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(data, 1, len, f);
    fclose(f);
    if (got != len) {
        free(data);
        return ag_error_set(err, AG_ERR_IO, "%s: short read", path);
    }
    ag_status st = ag_doc_parse_buffer(kind, data, len, out, err);
    free(data);
    if (st != AG_OK) ag_error_prefix(err, "%s", path);
    return st;
}
