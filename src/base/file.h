/*
 * file.h - small file helpers of the library: reading a whole file, paths with a suffix.
 */
#ifndef AG_BASE_FILE_H
#define AG_BASE_FILE_H

#include <stddef.h>

#include "autoglm/autoglm.h"

/* The whole file, malloc'd and NUL-terminated (*len its length, may be NULL); NULL with err set
 * (AG_ERR_IO naming the path, or AG_ERR_NOMEM) on failure. Refuses files over max_bytes. */
char *ag_read_file(const char *path, size_t max_bytes, size_t *len, ag_error *err);

/* path + suffix, malloc'd (NULL when out of memory). */
char *ag_path_with_suffix(const char *path, const char *suffix);

#endif
