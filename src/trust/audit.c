/*
 * audit.c - the hash-chained audit log (format in include/autoglm/audit.h): opening a log and
 * continuing its chain, appending records (one write per record, O_APPEND, serialized by the
 * log's mutex), the PATH.head sidecar, and verification of a whole log.
 */
#include "autoglm/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "trust/digest.h"

#define HASH_KEY ",\"hash\":\""
#define PREV_KEY ",\"prev\":\""
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define MAX_RECORD (1u << 20)

struct ag_audit {
    pthread_mutex_t mu;
    int fd;
    char *path, *head_path;
    long seq;       /* of the last record */
    char last[65];  /* its hash */
};

typedef struct {
    long seq;
    char prev[65], hash[65];
} record_info;

/* Checks one line (without its newline): its hash over the prefix, and reads seq and prev. */
static bool check_record(const char *line, size_t len, record_info *r, const char **why) {
    *why = "not a record";
    if (len < 2 || line[0] != '{' || line[len - 1] != '}') return false;
    const char *h = NULL;
    for (const char *p = line; (p = strstr(p, HASH_KEY)) != NULL && p < line + len; p++) h = p;
    if (!h || (size_t)(line + len - h) != strlen(HASH_KEY) + 64 + 2 || line[len - 2] != '"') {
        *why = "no hash at the end of the record";
        return false;
    }
    memcpy(r->hash, h + strlen(HASH_KEY), 64);
    r->hash[64] = '\0';
    unsigned char want[32], got[32];
    if (!ag_hex_decode(r->hash, want, 32) || !ag_sha256(line, (size_t)(h - line), got) || !ag_equal_ct(want, got, 32)) {
        *why = "the record's hash does not match its content (changed)";
        return false;
    }
    const char *p = NULL;
    for (const char *q = line; (q = strstr(q, PREV_KEY)) != NULL && q < h; q++) p = q;
    if (!p || h - p != (long)(strlen(PREV_KEY) + 64 + 1)) {
        *why = "no prev hash";
        return false;
    }
    memcpy(r->prev, p + strlen(PREV_KEY), 64);
    r->prev[64] = '\0';
    if (sscanf(line, "{\"seq\":%ld,", &r->seq) != 1) {
        *why = "no seq";
        return false;
    }
    return true;
}

static void report_bad(ag_audit_report *rep, long line, const char *why) {
    rep->bad_line = line;
    snprintf(rep->reason, sizeof rep->reason, "%s", why);
}

/* Reads the head sidecar: "seq hash". Missing: *present = false. */
static bool read_head(const char *head_path, bool *present, long *seq, char hash[65]) {
    FILE *f = fopen(head_path, "r");
    *present = f != NULL;
    if (!f) return errno == ENOENT;
    bool ok = fscanf(f, "%ld %64s", seq, hash) == 2 && strlen(hash) == 64;
    fclose(f);
    return ok;
}

ag_status ag_audit_verify(const char *path, ag_audit_report *rep, ag_error *err) {
    memset(rep, 0, sizeof *rep);
    FILE *f = fopen(path, "rb");
    if (!f) return ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    char prev[65] = ZERO_HASH;
    long line_no = 0, last_seq = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        line_no++;
        if (line[got - 1] != '\n') {
            report_bad(rep, line_no, "the last record is cut off (no newline)");
            break;
        }
        record_info r;
        const char *why;
        if (!check_record(line, (size_t)got - 1, &r, &why)) {
            report_bad(rep, line_no, why);
            break;
        }
        if (strcmp(r.prev, prev) != 0) {
            report_bad(rep, line_no, "prev does not match the record before (a record was removed, inserted or reordered)");
            break;
        }
        if (r.seq != last_seq + 1) {
            report_bad(rep, line_no, "sequence number out of order");
            break;
        }
        memcpy(prev, r.hash, 65);
        last_seq = r.seq;
        rep->records++;
    }
    free(line);
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) return ag_error_set(err, AG_ERR_IO, "%s: read error", path);
    if (!rep->bad_line) {
        char *hp = ag_path_with_suffix(path, ".head"), hash[65] = "";
        bool present = false;
        long seq = 0;
        bool ok = hp && read_head(hp, &present, &seq, hash);
        free(hp);
        if (!ok) report_bad(rep, line_no + 1, "the .head sidecar is unreadable");
        else if (present && (seq != last_seq || strcmp(hash, prev) != 0))
            report_bad(rep, line_no + 1, "the log ends before the record the .head sidecar names (records removed from the end)");
    }
    if (rep->bad_line)
        return ag_error_set(err, AG_ERR_UNTRUSTED, "%s: line %ld: %s", path, rep->bad_line, rep->reason);
    return AG_OK;
}

ag_audit *ag_audit_open(const char *path, ag_error *err) {
    ag_audit *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path)) || !(a->head_path = ag_path_with_suffix(path, ".head"))) {
        if (a) free(a->path);
        free(a);
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    ag_audit_report rep;
    ag_status st = a->fd < 0 ? ag_error_set(err, AG_ERR_IO, "%s: %s", path, strerror(errno)) : ag_audit_verify(path, &rep, err);
    if (st) {
        if (a->fd >= 0) close(a->fd);
        free(a->path);
        free(a->head_path);
        free(a);
        return NULL;
    }
    /* the chain continues from the last record (verify read them all) */
    a->seq = rep.records;
    memcpy(a->last, ZERO_HASH, 65);
    if (rep.records > 0) {
        FILE *f = fopen(path, "rb");
        char *line = NULL;
        size_t cap = 0;
        ssize_t got;
        record_info r;
        const char *why;
        while (f && (got = getline(&line, &cap, f)) > 0)
            if (check_record(line, (size_t)got - 1, &r, &why)) memcpy(a->last, r.hash, 65);
        free(line);
        if (f) fclose(f);
    }
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void ag_audit_close(ag_audit *a) {
    if (!a) return;
    close(a->fd);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a->head_path);
    free(a);
}

static void utc_now(char *buf, size_t cap) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

static bool write_head(const ag_audit *a) {
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", a->head_path) >= sizeof tmp) return false;
    FILE *f = fopen(tmp, "w");
    if (!f) return false;
    bool ok = fprintf(f, "%ld %s\n", a->seq, a->last) > 0;
    ok = (fclose(f) == 0) && ok;
    return ok && rename(tmp, a->head_path) == 0;
}

ag_status ag_audit_append(ag_audit *a, const char *event, const char *fields, ag_error *err) {
    if (!event || strpbrk(event, "\"\\\n") || (fields && (strchr(fields, '\n') || strlen(fields) > MAX_RECORD)))
        return ag_error_set(err, AG_ERR_INVALID_ARG, "audit: bad event or fields");
    char now[40];
    utc_now(now, sizeof now);
    pthread_mutex_lock(&a->mu);
    size_t cap = strlen(event) + (fields ? strlen(fields) : 0) + 256;
    char *rec = malloc(cap);
    ag_status st = AG_OK;
    if (!rec) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    else {
        int n = snprintf(rec, cap, "{\"seq\":%ld,\"time\":\"%s\",\"event\":\"%s\"%s%s" PREV_KEY "%s\"", a->seq + 1, now,
                         event, fields && *fields ? "," : "", fields ? fields : "", a->last);
        unsigned char h[32];
        char hex[65];
        if (n < 0 || (size_t)n + 80 > cap || !ag_sha256(rec, (size_t)n, h)) st = ag_error_set(err, AG_ERR_NOMEM, "audit: record too long");
        else {
            ag_hex_encode(h, 32, hex);
            n += snprintf(rec + n, cap - (size_t)n, HASH_KEY "%s\"}\n", hex);
            if (write(a->fd, rec, (size_t)n) != n) st = ag_error_set(err, AG_ERR_IO, "%s: %s", a->path, strerror(errno));
            else {
                a->seq++;
                memcpy(a->last, hex, 65);
                if (!write_head(a)) st = ag_error_set(err, AG_ERR_IO, "%s: cannot write", a->head_path);
            }
        }
    }
    free(rec);
    pthread_mutex_unlock(&a->mu);
    return st;
}
