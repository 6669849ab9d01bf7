/*
 * modelscope.h - ModelScope names for `autoglm pull`: modelscope.cn/ORG/REPO[:QUANT] or
 * ms://ORG/REPO[:QUANT], resolved to the URL of one GGUF file of the repository:
 *   GET {endpoint}/api/v1/models/ORG/REPO/repo/files?Revision=master&Recursive=true
 *       -> {"Code": 200, "Data": {"Files": [{"Path": "...", "Type": "blob", "Sha256": "..."}]}}
 *   the file picked as for Hugging Face names (hf_pick_file: QUANT, else Q4_K_M, else the
 *   first GGUF; no mmproj), then {endpoint}/models/ORG/REPO/resolve/master/<path>
 * endpoint: https://modelscope.cn unless the caller gives another (AUTOGLM_MODELSCOPE_ENDPOINT,
 * for a mirror, or a local server in tests). The listing's Sha256, when present, is the digest
 * the download is checked against.
 */
#ifndef AG_STORE_MODELSCOPE_H
#define AG_STORE_MODELSCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

#define MS_DEFAULT_ENDPOINT "https://modelscope.cn"

bool ms_is_name(const char *s);

/* name -> the download URL, the default store name ("modelscope.cn/org/repo:quant" lowercased,
 * tag "latest" without QUANT) and the file's SHA-256 from the listing (sha256: 65 bytes; ""
 * when the listing has none). Needs the network (the listing). */
st_status ms_resolve(const char *endpoint, const char *name, char *url, size_t ucap, char *store_name, size_t ncap,
                     char *sha256, st_error *err);

#endif
