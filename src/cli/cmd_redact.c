/*
 * cmd_redact.c - `autoglm redact [FILE|-] [--mode mask|hash] [--json] [--words FILE]
 * [--pattern REGEX]... [--off KIND,...] [--salt S]`: the trust layer's redaction filter as a
 * command. Plain output is the input with its sensitive spans replaced, filtered as a stream (the
 * input is read in pieces, as a model's output would arrive); --json prints one object per input
 * line, {"spans":[{"kind":..., "start":N, "end":N}]}, offsets in Unicode code points of that line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/redact.h"
#include "cli.h"

#define MAX_PATTERNS 64

static const char *USAGE =
    "usage: autoglm redact [FILE|-] [--mode mask|hash] [--json] [--words FILE] [--pattern REGEX]...\n"
    "                      [--off KIND[,KIND...]] [--salt TEXT]\n"
    "kinds: email phone cn_id bank_card ipv4 ipv6 secret custom\n";

static bool parse_kinds(const char *list, unsigned *mask) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < AG_SPAN_KIND_COUNT; i++)
            if (strcmp(k, ag_span_kind_name((ag_span_kind)i)) == 0) found = i;
        if (found < 0) {
            fprintf(stderr, "autoglm redact: --off: unknown kind '%s'\n%s", k, USAGE);
            return false;
        }
        *mask |= 1u << found;
    }
    return true;
}

/* Splits a word-list file into lines (in place); returns the count. */
static int split_lines(char *text, const char **out, int cap) {
    int n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\r\n", &save); line && n < cap; line = strtok_r(NULL, "\r\n", &save))
        if (*line) out[n++] = line;
    return n;
}

static size_t code_points(const char *s, size_t from, size_t to) {
    size_t n = 0;
    for (size_t i = from; i < to; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int print_json_lines(const ag_redactor *r, const char *text, size_t len) {
    ag_span *spans = NULL;
    int cap = 0;
    for (size_t at = 0; at < len || (at == 0 && len == 0);) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *line = text + at;
        size_t line_len = end - at;
        int n = ag_redact_find(r, line, line_len, spans, cap);
        if (n > cap) {
            free(spans);
            cap = n;
            spans = malloc((size_t)cap * sizeof *spans);
            n = spans ? ag_redact_find(r, line, line_len, spans, cap) : -1;
        }
        if (n < 0) {
            fprintf(stderr, "autoglm redact: out of memory\n");
            free(spans);
            return CLI_EXIT_FAIL;
        }
        printf("{\"spans\":[");
        size_t pos = 0, cp = 0; /* code points counted incrementally */
        for (int i = 0; i < n; i++) {
            cp += code_points(line, pos, spans[i].start);
            size_t start_cp = cp;
            cp += code_points(line, spans[i].start, spans[i].end);
            pos = spans[i].end;
            printf("%s{\"kind\":\"%s\",\"start\":%zu,\"end\":%zu}", i ? "," : "", ag_span_kind_name(spans[i].kind),
                   start_cp, cp);
        }
        printf("]}\n");
        if (!nl) break;
        at = end + 1;
        if (at == len) break; /* a final newline ends the last line */
    }
    free(spans);
    return CLI_EXIT_OK;
}

static int filter_stream(const ag_redactor *r, FILE *in) {
    ag_redact_stream *s = ag_redact_stream_new(r);
    char chunk[4096];
    size_t got, out_len;
    const char *out = "";
    while (s && out && (got = fread(chunk, 1, sizeof chunk, in)) > 0)
        if ((out = ag_redact_stream_push(s, chunk, got, &out_len)) != NULL) fwrite(out, 1, out_len, stdout);
    if (s && out && (out = ag_redact_stream_finish(s, &out_len)) != NULL) fwrite(out, 1, out_len, stdout);
    ag_redact_stream_free(s);
    if (!s || !out || ferror(in)) {
        fprintf(stderr, "autoglm redact: %s\n", ferror(in) ? "read error" : "out of memory");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cmd_redact(int argc, char **argv) {
    const char *path = NULL, *words_path = NULL;
    const char *patterns[MAX_PATTERNS];
    int n_patterns = 0;
    bool json = false;
    ag_redact_config cfg = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--json") == 0) json = true;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return CLI_EXIT_OK;
        } else if ((strcmp(a, "--mode") == 0 || strcmp(a, "--words") == 0 || strcmp(a, "--pattern") == 0 ||
                    strcmp(a, "--off") == 0 || strcmp(a, "--salt") == 0) && !has_value) {
            fprintf(stderr, "autoglm redact: %s needs a value\n%s", a, USAGE);
            return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--mode") == 0) {
            const char *m = argv[++i];
            if (strcmp(m, "mask") == 0) cfg.mode = AG_REDACT_MASK;
            else if (strcmp(m, "hash") == 0) cfg.mode = AG_REDACT_HASH;
            else {
                fprintf(stderr, "autoglm redact: --mode must be mask or hash, not '%s'\n", m);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--words") == 0) words_path = argv[++i];
        else if (strcmp(a, "--pattern") == 0) {
            if (n_patterns == MAX_PATTERNS) {
                fprintf(stderr, "autoglm redact: at most %d patterns\n", MAX_PATTERNS);
                return CLI_EXIT_USAGE;
            }
            patterns[n_patterns++] = argv[++i];
        } else if (strcmp(a, "--off") == 0) {
            if (!parse_kinds(argv[++i], &cfg.kinds_off)) return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--salt") == 0) cfg.salt = argv[++i];
        else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "autoglm redact: unknown option '%s'\n%s", a, USAGE);
            return CLI_EXIT_USAGE;
        } else if (!path) path = a;
        else {
            fprintf(stderr, "autoglm redact: unexpected argument '%s'\n%s", a, USAGE);
            return CLI_EXIT_USAGE;
        }
    }
    if (!path) path = "-";
    char *words_text = NULL;
    const char *words[4096];
    if (words_path) {
        if (!(words_text = cli_read_file(words_path, NULL))) return CLI_EXIT_FAIL;
        cfg.n_words = split_lines(words_text, words, (int)(sizeof words / sizeof words[0]));
        cfg.words = words;
    }
    cfg.patterns = patterns;
    cfg.n_patterns = n_patterns;
    ag_error err = {0};
    ag_redactor *r = ag_redactor_new(&cfg, &err);
    if (!r) {
        fprintf(stderr, "autoglm redact: %s\n", err.msg);
        free(words_text);
        return err.code == AG_ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    int rc;
    if (json) {
        size_t len = 0;
        char *text = cli_read_file(path, &len);
        rc = text ? print_json_lines(r, text, len) : CLI_EXIT_FAIL;
        free(text);
    } else {
        FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
        if (!in) {
            fprintf(stderr, "autoglm redact: cannot open '%s'\n", path);
            rc = CLI_EXIT_FAIL;
        } else {
            rc = filter_stream(r, in);
            if (in != stdin) fclose(in);
        }
    }
    ag_redactor_free(r);
    free(words_text);
    return rc;
}
