/*
 * test_kb.c - the knowledge base's library pieces without a model: parsers (HTML entities and
 * boilerplate, Markdown structure, DOCX XML headings), encoding detection (UTF-16, GBK), cleaning,
 * sentence splitting (English abbreviations and decimals, Chinese 。！？), chunking (token limit,
 * overlap, heading paths, offsets), the HNSW index against exact search (recall, save/load), the
 * FTS query text, and the extractive summarizer (length, order, de-duplication).
 */
#include <iconv.h>
#include <math.h>
#include <stdint.h>

#include "autoglm/kb.h"
#include "kb/fts_text.h"
#include "kb/kb_impl.h"
#include "kb/parse.h"
#include "test.h"

static ag_doc parse(ag_doc_kind kind, const char *s) {
    ag_doc d = {0};
    ag_error err = {0};
    ag_status st = ag_doc_parse_buffer(kind, s, strlen(s), &d, &err);
    CHECK_MSG(st == AG_OK, "%s", err.msg);
    return d;
}

static bool block_is(const ag_doc *d, int i, const char *text, int level) {
    if (i >= d->n_blocks) return false;
    size_t n = d->blocks[i].end - d->blocks[i].start;
    return n == strlen(text) && memcmp(d->text + d->blocks[i].start, text, n) == 0 && d->blocks[i].heading_level == level;
}

static void test_html(void) {
    ag_doc d = parse(AG_DOC_HTML,
                     "<!DOCTYPE html><html><head><title>x</title><style>p{}</style></head><body>"
                     "<nav><ul><li>Home</li></ul></nav><div class=\"sidebar menu\"><p>links</p><div>nested</div></div>"
                     "<h2>Caf&eacute; &amp; tea</h2><p>One&nbsp;&lt;two&gt;   three&#x21; &#26159;</p>"
                     "<script>document.write('<p>no</p>')</script><p>a<b>b</b>c <br>d</p><!-- <p>hidden</p> -->"
                     "<footer>foot</footer><p>x < y</p></body></html>");
    CHECK_MSG(d.n_blocks == 4, "%d blocks: %s", d.n_blocks, d.text);
    CHECK(block_is(&d, 0, "Caf\xc3\xa9 & tea", 2));
    CHECK(block_is(&d, 1, "One <two> three! \xe6\x98\xaf", 0));
    CHECK(block_is(&d, 2, "abc d", 0));
    CHECK(block_is(&d, 3, "x < y", 0));
    CHECK(!strstr(d.text, "Home") && !strstr(d.text, "links") && !strstr(d.text, "foot") && !strstr(d.text, "no"));
    ag_doc_free(&d);
}

static void test_markdown(void) {
    ag_doc d = parse(AG_DOC_MD, "---\ntitle: t\n---\nTitle\n=====\n\nSome *emphasis* and `code` and [a link](http://x).\n"
                                "second line\n\n## Part two ##\n- item one\n- item two\n\n```\nint x;\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n");
    CHECK(block_is(&d, 0, "Title", 1));
    CHECK(block_is(&d, 1, "Some emphasis and code and a link. second line", 0));
    CHECK(block_is(&d, 2, "Part two", 2));
    CHECK(block_is(&d, 3, "item one", 0));
    CHECK(block_is(&d, 4, "item two", 0));
    CHECK(block_is(&d, 5, "int x;", 0));
    CHECK(block_is(&d, 6, "a b", 0));
    CHECK(block_is(&d, 7, "1 2", 0));
    CHECK_MSG(d.n_blocks == 8, "%d: %s", d.n_blocks, d.text);
    ag_doc_free(&d);
}

static void test_docx_xml(void) {
    kb_doc_builder b;
    kb_doc_init(&b);
    const char *xml = "<?xml version=\"1.0\"?><w:document><w:body>"
                      "<w:p><w:pPr><w:pStyle w:val=\"Heading1\"/></w:pPr><w:r><w:t>Intro</w:t></w:r></w:p>"
                      "<w:p><w:r><w:t xml:space=\"preserve\">Hello </w:t></w:r><w:r><w:tab/><w:t>world &amp; co</w:t></w:r>"
                      "<w:r><w:instrText>PAGE</w:instrText><w:delText>gone</w:delText></w:r></w:p>"
                      "<w:p><w:pPr><w:pStyle w:val=\"2\"/></w:pPr><w:r><w:t>\xe7\xac\xac\xe4\xba\x8c\xe7\xab\xa0</w:t></w:r></w:p>"
                      "</w:body></w:document>";
    kb_parse_docx_xml(&b, xml, strlen(xml));
    ag_doc d;
    CHECK(kb_doc_finish(&b, &d, NULL) == AG_OK);
    CHECK(block_is(&d, 0, "Intro", 1));
    CHECK_MSG(block_is(&d, 1, "Hello world & co", 0), "%s", d.text);
    CHECK(block_is(&d, 2, "\xe7\xac\xac\xe4\xba\x8c\xe7\xab\xa0", 2));
    ag_doc_free(&d);
    ag_error err = {0};
    CHECK(ag_doc_parse_buffer(AG_DOC_DOCX, "PK\3\4junk", 9, &d, &err) == AG_ERR_FORMAT && strstr(err.msg, "DOCX"));
    CHECK(ag_doc_parse_buffer(AG_DOC_PDF, "%PDF-1.4 junk", 13, &d, &err) == AG_ERR_FORMAT && strstr(err.msg, "PDF"));
}

static char *iconv_to(const char *to, const char *s, size_t *out_len) {
    iconv_t cd = iconv_open(to, "UTF-8");
    size_t in_left = strlen(s), cap = in_left * 4 + 8, out_left = cap;
    char *out = malloc(cap), *op = out, *ip = (char *)s;
    iconv(cd, &ip, &in_left, &op, &out_left);
    iconv_close(cd);
    *out_len = cap - out_left;
    return out;
}

static void test_encodings(void) {
    const char *zh = "\xe7\x9f\xa5\xe8\xaf\x86\xe5\xba\x93\xe3\x80\x82"; /* 知识库。 */
    size_t n, m;
    const char *enc;
    char *gbk = iconv_to("GBK", zh, &n);
    char *u = ag_text_to_utf8(gbk, n, &m, &enc, NULL);
    CHECK(u && strcmp(u, zh) == 0 && strcmp(enc, "gb18030") == 0);
    free(u);
    free(gbk);
    char *u16 = iconv_to("UTF-16", "volcano lava", &n); /* with BOM */
    u = ag_text_to_utf8(u16, n, &m, &enc, NULL);
    CHECK(u && strcmp(u, "volcano lava") == 0 && strncmp(enc, "utf-16", 6) == 0);
    free(u);
    free(u16);
    char *le = iconv_to("UTF-16LE", "no bom here", &n);
    u = ag_text_to_utf8(le, n, &m, &enc, NULL);
    CHECK(u && strcmp(u, "no bom here") == 0 && strcmp(enc, "utf-16le") == 0);
    free(u);
    free(le);
    u = ag_text_to_utf8("\xef\xbb\xbfplain", 8, &m, &enc, NULL);
    CHECK(u && strcmp(u, "plain") == 0 && strcmp(enc, "utf-8") == 0);
    free(u);
    /* cleaning: control characters out, whitespace collapsed, zero-width spaces gone */
    ag_doc d = parse(AG_DOC_TXT, "  a\x01\x7f  b\t\tc\xe2\x80\x8b" "d\r\n\r\n\r\n  e  ");
    CHECK_MSG(d.n_blocks == 2 && block_is(&d, 0, "a b cd", 0) && block_is(&d, 1, "e", 0), "%s", d.text);
    ag_doc_free(&d);
}

static int split(const char *s, ag_span_t *sp) { return ag_split_sentences(s, strlen(s), sp, 16); }

static void test_sentences(void) {
    ag_span_t sp[16];
    const char *en = "Dr. Smith paid $3.50 today. Really?! Yes. \"Quoted.\" Next one";
    int n = split(en, sp);
    CHECK_MSG(n == 5, "%d", n);
    CHECK(n >= 1 && sp[0].end - sp[0].start == strlen("Dr. Smith paid $3.50 today."));
    CHECK(n >= 4 && strncmp(en + sp[3].start, "\"Quoted.\"", sp[3].end - sp[3].start) == 0);
    const char *zh = "\xe4\xbb\x8a\xe5\xa4\xa9\xe4\xb8\x8b\xe9\x9b\xa8\xe3\x80\x82\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x81\xef\xbc\x9f"
                     "\xe5\xa5\xbd\xe5\x90\x97\xef\xbc\x9f\xe2\x80\x9d\xe6\x98\xaf";
    n = split(zh, sp); /* 今天下雨。你好！？好吗？”是 */
    CHECK_MSG(n == 4, "%d", n);
    CHECK(n == 4 && sp[1].end - sp[1].start == 12 && sp[2].end - sp[2].start == 12);
}

static void test_chunking(void) {
    char text[8192] = "# Top\n\n";
    for (int i = 0; i < 40; i++) {
        char s[64];
        snprintf(s, sizeof s, "Sentence number %d has six words. ", i);
        strcat(text, s);
        if (i == 19) strcat(text, "\n\n## Sub\n\n");
    }
    ag_doc d = parse(AG_DOC_MD, text);
    ag_chunk *ch = NULL;
    ag_chunk_params p = {.max_tokens = 30, .overlap = 6};
    int n = ag_chunk_doc(&d, &p, &ch);
    CHECK(n > 4);
    bool sub_seen = false;
    for (int i = 0; i < n; i++) {
        CHECK_MSG(ch[i].n_tokens <= 30, "chunk %d: %d tokens", i, ch[i].n_tokens);
        CHECK(ch[i].end <= d.len && ch[i].start < ch[i].end);
        if (strcmp(ch[i].heading, "Top > Sub") == 0) sub_seen = true;
        else CHECK_MSG(strcmp(ch[i].heading, "Top") == 0 || sub_seen == false, "%s", ch[i].heading);
        if (i > 0 && strcmp(ch[i].heading, ch[i - 1].heading) == 0)
            CHECK_MSG(ch[i].start < ch[i - 1].end, "chunk %d does not overlap the previous one", i); /* overlap */
        if (i > 0 && strcmp(ch[i].heading, ch[i - 1].heading) != 0)
            CHECK(strncmp(d.text + ch[i].start, "Sub", 3) == 0); /* a heading starts its chunk */
    }
    CHECK(sub_seen);
    ag_chunks_free(ch, n);
    /* one long sentence without spaces (CJK) is cut into pieces that fit */
    char cjk[3 * 300 + 1] = "";
    for (int i = 0; i < 300; i++) strcat(cjk, "\xe5\xad\x97");
    ag_doc_free(&d);
    d = parse(AG_DOC_TXT, cjk);
    n = ag_chunk_doc(&d, &(ag_chunk_params){.max_tokens = 64}, &ch);
    CHECK_MSG(n >= 5 && n <= 6, "%d", n);
    for (int i = 0; i < n; i++) CHECK(ch[i].n_tokens <= 64 && (ch[i].end - ch[i].start) % 3 == 0);
    ag_chunks_free(ch, n);
    ag_doc_free(&d);
}

static void test_fts_text(void) {
    const char *src = "\xe7\x9f\xa5\xe8\xaf\x86\xe5\xba\x93 ok-go \xe6\x98\xaf";
    char *doc = kb_fts_document(src, strlen(src));
    CHECK_MSG(doc && strcmp(doc, "\xe7\x9f\xa5\xe8\xaf\x86 \xe8\xaf\x86\xe5\xba\x93 ok go \xe6\x98\xaf") == 0, "%s", doc);
    free(doc);
    char *q = kb_fts_query("What is the \"SQLite\" WAL?");
    CHECK_MSG(q && strcmp(q, "\"SQLite\" OR \"WAL\"") == 0, "%s", q);
    free(q);
    q = kb_fts_query("\xe6\x98\xaf?");
    CHECK_MSG(q && strcmp(q, "\"\xe6\x98\xaf\"*") == 0, "%s", q);
    free(q);
    CHECK(kb_fts_query("?!") == NULL);
}

static void test_hnsw(void) {
    const int n = 3000, dim = 32, nq = 100, k = 10;
    float *v = malloc((size_t)n * dim * sizeof *v), *q = malloc((size_t)nq * dim * sizeof *q);
    uint64_t s = 42;
    for (int i = 0; i < (n + nq) * dim; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float x = (float)((s >> 40) / 16777216.0 - 0.5);
        if (i < n * dim) v[i] = x;
        else q[i - n * dim] = x;
    }
    for (int i = 0; i < n + nq; i++) { /* unit rows */
        float *r = i < n ? v + (size_t)i * dim : q + (size_t)(i - n) * dim, nn = 0;
        for (int j = 0; j < dim; j++) nn += r[j] * r[j];
        for (int j = 0; j < dim; j++) r[j] /= sqrtf(nn);
    }
    kb_hnsw *h = kb_hnsw_build(v, n, dim, 16, 100);
    CHECK(h != NULL);
    size_t len = 0;
    void *saved = h ? kb_hnsw_save(h, &len) : NULL;
    kb_hnsw *h2 = saved ? kb_hnsw_load(v, n, dim, saved, len) : NULL;
    CHECK(h2 != NULL);
    CHECK(saved && kb_hnsw_load(v, n - 1, dim, saved, len) == NULL); /* other vectors: refused */
    if (saved && len > 100) {
        ((int32_t *)saved)[6 + n + 1] = n + 5; /* node 0's first neighbor out of range: refused */
        CHECK(kb_hnsw_load(v, n, dim, saved, len) == NULL);
    }
    int found = 0, idx[10], idx2[10];
    float sim[10], sim2[10];
    for (int t = 0; h && h2 && t < nq; t++) {
        const float *qq = q + (size_t)t * dim;
        int best[10];
        float bs[10];
        int nb = 0; /* exact top k */
        for (int i = 0; i < n; i++) {
            float d = 0;
            for (int j = 0; j < dim; j++) d += qq[j] * v[(size_t)i * dim + j];
            if (nb == k && d <= bs[k - 1]) continue;
            int p = nb < k ? nb++ : k - 1;
            while (p > 0 && bs[p - 1] < d) bs[p] = bs[p - 1], best[p] = best[p - 1], p--;
            bs[p] = d, best[p] = i;
        }
        int m = kb_hnsw_search(h, qq, k, 64, idx, sim);
        int m2 = kb_hnsw_search(h2, qq, k, 64, idx2, sim2);
        CHECK(m == k && m2 == k && memcmp(idx, idx2, sizeof idx) == 0);
        for (int a = 0; a < m; a++)
            for (int b = 0; b < k; b++) found += idx[a] == best[b];
    }
    double recall = (double)found / (nq * k);
    fprintf(stderr, "hnsw recall@10 over %d random unit vectors (dim %d): %.3f\n", n, dim, recall);
    CHECK_MSG(recall >= 0.9, "recall %.3f", recall);
    kb_hnsw_free(h);
    kb_hnsw_free(h2);
    free(saved);
    free(v);
    free(q);
}

static void test_extractive(void) {
    const char *text = "Solar power is growing fast in Europe. Solar panels turn sunlight into electricity. "
                       "The weather was nice. Solar power is growing fast in Europe! Panels cost less every year.\n\n"
                       "Many homes now have solar panels on the roof.";
    char *s = ag_summarize_extractive(text, strlen(text), &(ag_summary_params){.max_length = 20}, NULL);
    CHECK(s != NULL);
    if (s) {
        CHECK_MSG(strstr(s, "Solar power is growing fast in Europe.") != NULL, "%s", s);
        CHECK_MSG(!strstr(s, "Europe!"), "duplicate kept: %s", s);
        int words = 0;
        for (char *p = s; *p; p++) words += (p == s || p[-1] == ' ') && *p != ' ';
        CHECK_MSG(words <= 20, "%d words: %s", words, s);
    }
    free(s);
}

/* The automatic dense weight of hybrid fusion: 0 for agreement at chance level, up to 1 for
 * full agreement, 1 when BM25 found nothing. */
/* The automatic dense weight: set agreement beyond chance (hypergeometric, 1%) times order
 * agreement on the shared chunks (Kendall's tau, clamped at 0). Scores are best first, as the
 * rankings give them: BM25 a[i] has score 10 - i, dense b[i] cosine 1 - i / 100. */
static void test_dense_weight(void) {
    int64_t a[10], b[10], c[10];
    double sa[10], sb[10];
    for (int i = 0; i < 10; i++) a[i] = i, b[i] = 100 + i, c[i] = 9 - i, sa[i] = 10 - i, sb[i] = 1 - i / 100.0;
    CHECK(kb_auto_dense_weight(a, sa, 10, a, sb, 10, 1000) == 1.0);  /* the same ten chunks in the same order */
    CHECK(kb_auto_dense_weight(a, sa, 10, c, sb, 10, 1000) == 0.0);  /* the same ten, reversed: no order evidence */
    CHECK(kb_auto_dense_weight(a, sa, 10, b, sb, 10, 1000) == 0.0);  /* nothing shared */
    CHECK(kb_auto_dense_weight(a, sa, 0, b, sb, 10, 1000) == 1.0);   /* BM25 found nothing: dense decides */
    CHECK(kb_auto_dense_weight(a, sa, 0, b, sb, 0, 1000) == 1.0);    /* neither found anything */
    CHECK(kb_auto_dense_weight(a, sa, 10, b, sb, 0, 1000) == 0.0);   /* no dense list */
    b[0] = 0, b[1] = 1;                                               /* 2 of 10 shared among 128: chance (p ~ 0.18) */
    CHECK(kb_auto_dense_weight(a, sa, 10, b, sb, 10, 128) == 0.0);
    b[2] = 2, b[3] = 3, b[4] = 4;                                     /* 5 of 10: significant, in BM25's order */
    double w = kb_auto_dense_weight(a, sa, 10, b, sb, 10, 128);
    CHECK_MSG(w > 0.4 && w < 0.5, "w = %g", w);                       /* (5 - 100/128) / (10 - 100/128) */
    CHECK(kb_auto_dense_weight(a, sa, 10, b, sb, 10, 12) == 0.0);    /* 5 of 10 among 12 chunks is chance */
    b[0] = 1, b[1] = 0, b[2] = 3, b[3] = 2;                           /* 2 of the 10 shared pairs swapped: tau 0.6 */
    double w2 = kb_auto_dense_weight(a, sa, 10, b, sb, 10, 128);
    CHECK_MSG(fabs(w2 - 0.6 * w) < 1e-12, "w = %g, expected %g", w2, 0.6 * w);
    b[0] = 4, b[1] = 3, b[2] = 2, b[3] = 1, b[4] = 0;                 /* the shared five in reverse: tau -1 */
    CHECK(kb_auto_dense_weight(a, sa, 10, b, sb, 10, 128) == 0.0);
    b[0] = 0, b[1] = 1, b[2] = 2, b[3] = 3, b[4] = 4, sb[1] = sb[0];  /* a tie in the cosines: that pair counts neither way */
    double w3 = kb_auto_dense_weight(a, sa, 10, b, sb, 10, 128);
    CHECK_MSG(fabs(w3 - 0.9 * w) < 1e-12, "w = %g, expected %g", w3, 0.9 * w);
}

int main(void) {
    static const ag_test_case cases[] = {
        {"html", test_html},           {"markdown", test_markdown}, {"docx_xml", test_docx_xml},
        {"encodings", test_encodings}, {"sentences", test_sentences}, {"chunking", test_chunking},
        {"fts_text", test_fts_text},   {"hnsw", test_hnsw},         {"extractive", test_extractive},
        {"dense_weight", test_dense_weight},
    };
    return ag_test_run(cases, (int)(sizeof cases / sizeof cases[0]));
}
