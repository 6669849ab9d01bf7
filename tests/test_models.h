/*
 * test_models.h - loading the models tests run on: a GGUF by path (2 threads, the device left
 * to auto, so that on a machine with a GPU the tests run there), stories260K from the shared
 * folder, and synthetic models made in the test folder ($AUTOGLM_TEST_TMP) by the build's
 * gen_synthetic. Include after test.h. A test of a CPU-only feature (the KV block pool, packed
 * weights) defines AG_TEST_DEVICE "cpu" before including it.
 */
#ifndef AG_TEST_MODELS_H
#define AG_TEST_MODELS_H

#include <stdio.h>
#include <stdlib.h>

#include "autoglm/autoglm.h"

#ifndef AG_TEST_DEVICE
#define AG_TEST_DEVICE NULL /* auto */
#endif

static inline ag_model *ag_test_load(const char *path) {
    ag_error err = {0};
    ag_model_params mp = {.n_threads = 2, .device = AG_TEST_DEVICE};
    ag_model *m = ag_model_load(path, &mp, &err);
    if (!m) fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
    return m;
}

static inline ag_model *ag_test_load_stories(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", ag_test_shared_dir());
    return ag_test_load(path);
}

/* gen_synthetic ARGS into $AUTOGLM_TEST_TMP/NAME, then loaded. */
static inline ag_model *ag_test_load_synthetic(const char *name, const char *args) {
    const char *tmp = getenv("AUTOGLM_TEST_TMP");
    if (!tmp) tmp = ".";
    char path[1024], cmd[3000];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s", AG_TEST_GEN_SYNTHETIC, path, args);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    return ag_test_load(path);
}

#endif
