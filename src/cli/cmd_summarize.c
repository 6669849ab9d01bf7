/*
 * cmd_summarize.c - `autoglm summarize FILE [--model M] [--extractive] [--max-length N]
 * [--min-length N] [--redact] [--threads N]`: a summary of a document (txt, md, html, pdf, docx;
 * "-" reads text from stdin). Extractive (TF-IDF and position, no model) unless --model is given;
 * with a model, map-reduce over the parts with greedy decoding. Lengths are words (CJK
 * characters count one each). --redact passes the summary through the redaction filter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/kb.h"
#include "autoglm/redact.h"
#include "cli.h"

static const char *USAGE =
    "usage: autoglm summarize FILE [--model MODEL] [--extractive] [--max-length N] [--min-length N] [--redact]\n"
    "                              [--threads N]\n"
    "  FILE          txt, md, html, pdf or docx; '-' for text on stdin\n"
    "  --model M     summarize with a model (map-reduce, greedy); without it the summary is extractive\n"
    "  --extractive  extractive even when --model is given\n"
    "  --max-length  words (CJK characters) at most; default: a fifth of the text, 60..200\n"
    "  --min-length  words at least (extractive)\n"
    "  --redact      replace e-mails, phone and ID numbers, cards, secrets in the summary\n";

int cmd_summarize(int argc, char **argv) {
    const char *file = NULL, *model = NULL;
    bool extractive = false, redact = false;
    long long max_len = 0, min_len = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--model") == 0 && v) model = argv[++i];
        else if (strcmp(a, "--extractive") == 0) extractive = true;
        else if (strcmp(a, "--redact") == 0) redact = true;
        else if (strcmp(a, "--max-length") == 0) {
            if (!cli_parse_int("--max-length", v, 1, 1 << 20, &max_len)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--min-length") == 0) {
            if (!cli_parse_int("--min-length", v, 0, 1 << 20, &min_len)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (!cli_parse_int("--threads", v, 1, 1024, &threads)) return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            return CLI_EXIT_OK;
        } else if (a[0] == '-' && a[1] && !file) {
            fprintf(stderr, "autoglm summarize: unknown or incomplete option '%s'\n%s", a, USAGE);
            return CLI_EXIT_USAGE;
        } else if (!file) file = a;
        else {
            fputs(USAGE, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (!file) {
        fputs(USAGE, stderr);
        return CLI_EXIT_USAGE;
    }
    if (min_len && max_len && min_len > max_len) {
        fprintf(stderr, "autoglm summarize: --min-length is above --max-length\n");
        return CLI_EXIT_USAGE;
    }
    ag_error err = {0};
    ag_doc doc = {0};
    if (strcmp(file, "-") == 0) {
        size_t len = 0;
        char *raw = cli_read_file("-", &len);
        if (!raw) return CLI_EXIT_FAIL;
        ag_status st = ag_doc_parse_buffer(AG_DOC_TXT, raw, len, &doc, &err);
        free(raw);
        if (st != AG_OK) {
            fprintf(stderr, "autoglm summarize: stdin: %s\n", err.msg);
            return CLI_EXIT_FAIL;
        }
    } else if (ag_doc_parse_file(file, &doc, &err) != AG_OK) {
        fprintf(stderr, "autoglm summarize: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    if (doc.len == 0) {
        fprintf(stderr, "autoglm summarize: %s has no text\n", file);
        ag_doc_free(&doc);
        return CLI_EXIT_FAIL;
    }
    /* the paragraphs only: headings are labels, not sentences of the summary */
    size_t body_len = 0;
    char *body = malloc(doc.len + 1);
    for (int i = 0; body && i < doc.n_blocks; i++) {
        if (doc.blocks[i].heading_level) continue;
        if (body_len) memcpy(body + body_len, "\n\n", 2), body_len += 2;
        memcpy(body + body_len, doc.text + doc.blocks[i].start, doc.blocks[i].end - doc.blocks[i].start);
        body_len += doc.blocks[i].end - doc.blocks[i].start;
    }
    if (!body) {
        ag_doc_free(&doc);
        return CLI_EXIT_FAIL;
    }
    body[body_len] = '\0';
    ag_doc_free(&doc);
    doc = (ag_doc){.text = body, .len = body_len};
    ag_summary_params sp = {.max_length = (int)max_len, .min_length = (int)min_len};
    char *summary = NULL;
    if (model && !extractive) {
        store_manifest man = {0};
        ag_model *m = cli_resolve_model(model, &man) ? cli_load_model(man.path, (int)threads) : NULL;
        if (m) {
            summary = ag_summarize_model(m, doc.text, doc.len, &sp, (int)threads, &err);
            if (!summary) fprintf(stderr, "autoglm summarize: %s\n", err.msg);
        }
        ag_model_free(m);
        store_manifest_free(&man);
    } else {
        summary = ag_summarize_extractive(doc.text, doc.len, &sp, &err);
        if (!summary) fprintf(stderr, "autoglm summarize: %s\n", err.msg);
    }
    ag_doc_free(&doc);
    if (!summary) return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_OK;
    if (redact) {
        ag_redactor *r = ag_redactor_new(NULL, &err);
        size_t n = 0;
        char *clean = r ? ag_redact_text(r, summary, strlen(summary), &n) : NULL;
        ag_redactor_free(r);
        if (!clean) {
            fprintf(stderr, "autoglm summarize: redaction: %s\n", r ? "out of memory" : err.msg);
            rc = CLI_EXIT_FAIL;
        } else {
            free(summary);
            summary = clean;
        }
    }
    if (rc == CLI_EXIT_OK) printf("%s\n", summary);
    free(summary);
    return rc;
}
