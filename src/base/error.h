/*
 * error.h - filling an ag_error (status code + formatted message).
 *
 * Library functions return an ag_status and, when the caller passed an ag_error, describe the
 * problem there. `err` may always be NULL. Nothing here exits the process.
 */
#ifndef AG_BASE_ERROR_H
#define AG_BASE_ERROR_H

#include "autoglm/autoglm.h"

#if defined(__GNUC__)
#define AG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AG_PRINTF(a, b)
#endif

/* Sets err (if not NULL) and returns code, so that `return ag_error_set(err, ...)` reads well. */
ag_status ag_error_set(ag_error *err, ag_status code, const char *fmt, ...) AG_PRINTF(3, 4);

/* Prepends "prefix: " to the message already in err. */
void ag_error_prefix(ag_error *err, const char *fmt, ...) AG_PRINTF(2, 3);

#endif
