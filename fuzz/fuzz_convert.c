/*
 * fuzz_convert.c - libFuzzer target for the parsers `autoglm convert` runs on downloaded files:
 * the first byte picks the SentencePiece tokenizer.model reader (protobuf) or the safetensors
 * reader (the rest of the input written as DIR/model.safetensors); neither may crash, and every
 * tensor it accepts must lie inside the file with its size equal to elements x dtype size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/safetensors.h"
#include "convert/spm_model.h"

static size_t dtype_size(ag_st_dtype t) {
    switch (t) {
    case AG_ST_F16: case AG_ST_BF16: return 2;
    case AG_ST_F32: case AG_ST_I32: return 4;
    case AG_ST_F64: case AG_ST_I64: return 8;
    default: return 0;
    }
}

static void fuzz_safetensors(const uint8_t *data, size_t size) {
    static char dir[64], file[96];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_convert_%d", (int)getpid());
        snprintf(file, sizeof file, "%s/model.safetensors", dir);
        mkdir(dir, 0700);
    }
    FILE *f = fopen(file, "wb");
    if (!f) return;
    fwrite(data, 1, size, f);
    fclose(f);
    ag_error err = {0};
    ag_st_set *s = ag_st_open_dir(dir, &err);
    if (!s) {
        if (!err.msg[0]) abort(); /* a refusal says why */
        return;
    }
    for (int64_t i = 0; i < ag_st_count(s); i++) {
        const ag_st_tensor *t = ag_st_at(s, i);
        size_t es = dtype_size(t->dtype);
        if (es && (size_t)ag_st_numel(t) * es != t->nbytes) abort();
        if (ag_st_find(s, t->name) == NULL) abort();
        if (ag_st_numel(t) > 0) (void)ag_st_get_f32(t, ag_st_numel(t) - 1); /* the last element is readable */
    }
    ag_st_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    if (data[0] & 1) {
        fuzz_safetensors(data + 1, size - 1);
        return 0;
    }
    ag_spm_model m = {0};
    ag_error err = {0};
    if (ag_spm_model_read(data + 1, size - 1, &m, &err) == AG_OK) {
        for (int64_t i = 0; i < m.n_pieces; i++)
            if (!m.pieces[i].piece) abort();
        ag_spm_model_free(&m);
    }
    return 0;
}
