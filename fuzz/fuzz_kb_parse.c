/*
 * fuzz_kb_parse.c - libFuzzer target for the knowledge base's text parsers: the first byte picks
 * the parser (0 HTML, 1 Markdown, 2 DOCX word/document.xml, 3 plain text through encoding
 * detection), the rest is its input. Every parse must end in blocks that lie inside the text and
 * hold valid UTF-8, and sentence splitting and chunking of the result must stay in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/kb.h"
#include "base/utf8.h"
#include "kb/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    ag_doc doc = {0};
    switch (data[0] % 4) {
    case 0:
    case 1:
    case 2: {
        kb_doc_builder b;
        kb_doc_init(&b);
        if (data[0] % 4 == 0) kb_parse_html(&b, s, n);
        else if (data[0] % 4 == 1) kb_parse_markdown(&b, s, n);
        else kb_parse_docx_xml(&b, s, n);
        if (kb_doc_finish(&b, &doc, NULL) != AG_OK) return 0;
        break;
    }
    default:
        if (ag_doc_parse_buffer(AG_DOC_TXT, s, n, &doc, NULL) != AG_OK) return 0;
    }
    if (!ag_utf8_valid(doc.text, doc.len)) abort();
    for (int i = 0; i < doc.n_blocks; i++)
        if (doc.blocks[i].start >= doc.blocks[i].end || doc.blocks[i].end > doc.len) abort();
    ag_span_t sp[64];
    int ns = ag_split_sentences(doc.text, doc.len, sp, 64);
    for (int i = 0; i < ns && i < 64; i++)
        if (sp[i].start >= sp[i].end || sp[i].end > doc.len) abort();
    ag_chunk *ch = NULL;
    int nc = ag_chunk_doc(&doc, &(ag_chunk_params){.max_tokens = 16, .overlap = 4}, &ch);
    for (int i = 0; i < nc; i++)
        if (ch[i].start >= ch[i].end || ch[i].end > doc.len || !ag_utf8_valid(doc.text + ch[i].start, ch[i].end - ch[i].start)) abort();
    ag_chunks_free(ch, nc);
    ag_doc_free(&doc);
    return 0;
}
