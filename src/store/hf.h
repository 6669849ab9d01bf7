/*
 * hf.h - Hugging Face names for `autoglm pull`: hf.co/ORG/REPO[:QUANT] (or huggingface.co/...)
 * resolved to the URL of one GGUF file of the repository, as Ollama does:
 *   GET {endpoint}/api/models/ORG/REPO  -> {"siblings": [{"rfilename": "..."}, ...]}
 *   the .gguf file whose name holds QUANT (case-insensitive, not a part of a larger word; no
 *   mmproj files; without QUANT: Q4_K_M, else the first GGUF), then
 *   {endpoint}/ORG/REPO/resolve/main/<file>
 * endpoint: https://huggingface.co unless the caller gives another (AUTOGLM_HF_ENDPOINT in the
 * CLI and server, so that tests serve a fake listing locally).
 */
#ifndef AG_STORE_HF_H
#define AG_STORE_HF_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

#define HF_DEFAULT_ENDPOINT "https://huggingface.co"

bool hf_is_name(const char *s);

/* The file of a listing (the JSON of /api/models/ORG/REPO) for quant (NULL: the default) into
 * out. Returns false (with a message in err) when none matches or the listing is malformed. */
/* "ORG/REPO[:QUANT]" (repo, the part of name after its prefix) -> path "ORG/REPO" and quant ("" when
 * none); ST_INVALID with "'NAME': " + form (the expected form, in words) otherwise. Shared by the Hugging Face and ModelScope names. */
st_status hub_parse_repo(const char *name, const char *repo, const char *form, char path[512], char quant[64],
                         st_error *err);

bool hf_pick_file(const char *listing, const char *quant, char *out, size_t cap, char *err, size_t ecap);

/* name -> the download URL (url) and the store name it gets by default (store_name, "hf.co/
 * org/repo:quant" lowercased, tag "latest" without QUANT). Needs the network (the listing). */
st_status hf_resolve(const char *endpoint, const char *name, char *url, size_t ucap, char *store_name, size_t ncap,
                     st_error *err);

#endif
