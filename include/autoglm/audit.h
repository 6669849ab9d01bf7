/*
 * audit.h - the audit log: JSON lines, append-only, each record chained to the one before by
 * SHA-256 so that a changed, inserted or removed line is detected (`autoglm audit verify`).
 *
 * A record is one line:
 *   {"seq":N,"time":"2026-11-30T23:10:00.123Z","event":"...",<fields>,"prev":"<hex>","hash":"<hex>"}
 * where hash = SHA-256 of the line's text up to (not including) `,"hash":"`, and prev is the
 * hash of the record before (64 zeros for the first). A sidecar file PATH.head holds the last
 * seq and hash, so that removing records from the end is detected too (unless the sidecar is
 * rewritten as well: keep a copy of it elsewhere for that). Callers log no secrets: prompts go in
 * as hashes unless configured otherwise (the server decides), keys by their id.
 *
 * An ag_audit may be shared by threads (appends are serialized inside it).
 */
#ifndef AUTOGLM_AUDIT_H
#define AUTOGLM_AUDIT_H

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_audit ag_audit;

/* Opens (creating, mode 0600) the log and continues its chain. Refuses (AG_ERR_UNTRUSTED) a log
 * whose last record or sidecar does not check out, rather than extend a damaged chain. */
ag_audit *ag_audit_open(const char *path, ag_error *err);
void ag_audit_close(ag_audit *a);

/* Appends a record. fields: the members of a JSON object without the braces (e.g.
 * "\"route\":\"/api/chat\",\"status\":200"), or NULL/"" for none; it must be valid JSON text. */
ag_status ag_audit_append(ag_audit *a, const char *event, const char *fields, ag_error *err);

typedef struct {
    long records;        /* records that checked out */
    long bad_line;       /* 1-based line of the first problem, 0 when none */
    char reason[200];    /* what is wrong there */
} ag_audit_report;

/* Checks every record's hash, the chain of prev hashes, the sequence numbers and the sidecar.
 * AG_OK when intact; AG_ERR_UNTRUSTED with report->bad_line and reason when not; AG_ERR_IO when
 * the log cannot be read. */
ag_status ag_audit_verify(const char *path, ag_audit_report *report, ag_error *err);

#ifdef __cplusplus
}
#endif

#endif
