/*
 * kb_paths.c - where knowledge bases live: $AUTOGLM_KB (default ~/.autoglm/kb)/NAME/kb.sqlite,
 * and for a tenant of the server $AUTOGLM_KB/@TENANT/NAME/kb.sqlite (a tenant sees only its
 * own); names are checked so that no path can leave the folder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autoglm/kb.h"

char *ag_kb_root(void) {
    const char *env = getenv("AUTOGLM_KB");
    char buf[4096];
    if (env && *env) snprintf(buf, sizeof buf, "%s", env);
    else {
        const char *home = getenv("HOME");
        if (!home || !*home) return NULL;
        snprintf(buf, sizeof buf, "%s/.autoglm/kb", home);
    }
    return strdup(buf);
}

bool ag_kb_valid_name(const char *name) {
    if (!name || !*name || name[0] == '.' || strlen(name) > 128) return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

static bool mkdirs(const char *path) {
    char buf[4096];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf) return false;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return false;
            *p = '/';
        }
    return mkdir(buf, 0700) == 0 || errno == EEXIST;
}

char *ag_kb_dir(const char *root, const char *tenant, const char *name, bool create) {
    if (!root || !ag_kb_valid_name(name) || (tenant && *tenant && !ag_kb_valid_name(tenant))) return NULL;
    size_t l = strlen(root) + (tenant ? strlen(tenant) : 0) + strlen(name) + 8;
    char *p = malloc(l);
    if (!p) return NULL;
    if (tenant && *tenant) snprintf(p, l, "%s/@%s/%s", root, tenant, name);
    else snprintf(p, l, "%s/%s", root, name);
    if (create && !mkdirs(p)) {
        free(p);
        return NULL;
    }
    return p;
}
