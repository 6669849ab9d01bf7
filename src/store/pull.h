/*
 * pull.h - `autoglm pull` / POST /api/pull: a GGUF file downloaded by http(s):// URL or Hugging
 * Face name (hf.co/ORG/REPO:QUANT, store/hf.h) into the store.
 * The download goes to blobs/partial-<hash of the URL> and resumes from its size with a Range
 * request; the file's SHA-256 is checked (against the expected digest when given), the file
 * must load as a model, then it is renamed into blobs/sha256-<hex> and a manifest written.
 */
#ifndef AG_STORE_PULL_H
#define AG_STORE_PULL_H

#include "store/store.h"

typedef struct {
    const char *sha256; /* expected digest (64 hex) or NULL */
    /* progress: status text, bytes done and total (0 unknown); may be NULL */
    void (*progress)(void *ctx, const char *status, uint64_t done, uint64_t total);
    void *ctx;
    volatile int *cancel; /* non-NULL and set: stop (the partial file stays for a resume) */
    const char *hf_endpoint; /* Hugging Face host for hf.co/ names; NULL: https://huggingface.co */
    const char *ms_endpoint; /* ModelScope host for modelscope.cn/ and ms:// names; NULL: https://modelscope.cn */
} pull_params;

/* The store name a URL gets when none is given: its file name without .gguf, lowercased, other
 * characters than [a-z0-9._-] replaced by '-', tag "latest". */
void pull_default_name(const char *url, char *out, size_t cap);

/* Downloads url into the store as name (NULL: pull_default_name). m receives the manifest. */
st_status store_pull(const char *root, const char *url, const char *name, const pull_params *p, store_manifest *m,
                     st_error *err);

#endif
