/*
 * convert.c - ag_convert: a Hugging Face model directory (config.json, *.safetensors,
 * tokenizer.json, tokenizer_config.json) -> one GGUF file that our engine and other GGUF readers
 * load, plus, for a vision-language model, its vision projector file (convert_mmproj.c). The pieces are in convert_impl.h; this file sequences them and checks the result by
 * loading it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "autoglm/vision.h"
#include "base/error.h"
#include "convert/convert_impl.h"

static const struct {
    const char *name;
    ag_type type;
    uint32_t file_type; /* general.file_type (llama_ftype) */
} TYPES[] = {
    {"f32", AG_TYPE_F32, 0}, {"f16", AG_TYPE_F16, 1}, {"bf16", AG_TYPE_BF16, 32}, {"q8_0", AG_TYPE_Q8_0, 7},
};

/* sentence-transformers' 1_Pooling/config.json -> {arch}.pooling_type (1 mean, 2 CLS, 3 last);
 * a cross-encoder (a sequence-classification head) is 4, rank: its output is the head's score. */
static ag_status write_pooling(ag_gguf_writer *w, const ag_conv_family *fam, const char *dir) {
    char path[4096], key[64];
    snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
    snprintf(key, sizeof key, "%s.pooling_type", fam->gguf_arch);
    uint32_t pooling = 1;
    if (ag_conv_is_ranker(fam)) return ag_gguf_set_u32(w, key, 4);
    FILE *f = fopen(path, "rb");
    if (f) {
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        cJSON *j = cJSON_Parse(buf);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "pooling_mode_cls_token"))) pooling = 2;
        else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "pooling_mode_lasttoken"))) pooling = 3;
        cJSON_Delete(j);
    }
    return ag_gguf_set_u32(w, key, pooling);
}

static const char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    const char *s = dir + n;
    while (s > dir && s[-1] != '/') s--;
    return s;
}

static ag_status convert(const char *dir, const char *out, int ti, const char *name, const char *mmproj, ag_error *err) {
    ag_hf_config cfg;
    ag_status st = ag_hf_config_load(&cfg, dir, err);
    if (st) return st;
    const cJSON *archs = ag_hf_get(&cfg, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    const ag_conv_family *fam = cJSON_IsString(a0) ? ag_conv_family_find(a0->valuestring) : NULL;
    if (!fam) {
        st = ag_error_set(err, AG_ERR_UNSUPPORTED, "config.json: architecture '%s' is not supported (supported: %s)",
                          cJSON_IsString(a0) ? a0->valuestring : "(none: no \"architectures\" list)", ag_conv_family_list());
        ag_hf_config_free(&cfg);
        return st;
    }
    ag_st_set *sts = ag_st_open_dir(dir, err);
    ag_conv_plan *plan = sts ? ag_conv_plan_new(fam, &cfg, sts, TYPES[ti].type, err) : NULL;
    ag_gguf_writer *w = plan ? ag_gguf_writer_new() : NULL;
    if (!sts || !plan) st = err && err->code ? err->code : AG_ERR_FORMAT;
    else if (!w) st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    char buf[256];
    snprintf(buf, sizeof buf, "%s", name ? name : base_name(dir));
    if (!st) st = ag_conv_write_hparams(w, fam, &cfg, buf, err);
    if (!st && (st = ag_gguf_set_u32(w, "general.file_type", TYPES[ti].file_type))) ag_error_set(err, st, "out of memory");
    if (!st && fam->encoder && (st = write_pooling(w, fam, dir))) ag_error_set(err, st, "out of memory");
    if (!st) st = ag_conv_write_vocab(w, fam, &cfg, dir, ag_conv_plan_n_vocab(plan), err);
    if (!st) st = ag_conv_plan_add(plan, w, err);
    if (!st) st = ag_gguf_writer_write(w, out, err);
    if (!st && mmproj) {
        char pname[300];
        snprintf(pname, sizeof pname, "%s (vision projector)", buf);
        st = ag_conv_write_mmproj(dir, &cfg, sts, TYPES[ti].type, TYPES[ti].file_type, pname, mmproj, err);
    }
    ag_gguf_writer_free(w);
    ag_conv_plan_free(plan);
    ag_st_close(sts);
    ag_hf_config_free(&cfg);
    return st;
}

ag_status ag_convert(const char *hf_dir, const char *out_path, const ag_convert_params *params, ag_error *err) {
    const char *type = params && params->type ? params->type : "f16";
    int ti = -1;
    for (int i = 0; i < (int)(sizeof TYPES / sizeof TYPES[0]); i++)
        if (strcasecmp(TYPES[i].name, type) == 0) ti = i;
    if (ti < 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "unknown type '%s' (f32, f16, bf16 or q8_0)", type);
    if (!hf_dir || !out_path) return ag_error_set(err, AG_ERR_INVALID_ARG, "missing directory or output path");
    const char *mmproj = params ? params->mmproj : NULL;
    ag_status st = convert(hf_dir, out_path, ti, params ? params->name : NULL, mmproj, err);
    if (st) return st;
    /* the result must load: binds every tensor our engine needs, with the shapes it expects */
    ag_model_params mp = {.n_threads = 1, .device = "cpu", .keep_layout = true}; /* does it load: nothing to run */
    ag_model *m = ag_model_load(out_path, &mp, err);
    if (!m) {
        unlink(out_path);
        if (err) ag_error_prefix(err, "the converted file does not load");
        return err ? err->code : AG_ERR_FORMAT;
    }
    ag_vision *v = mmproj ? ag_vision_load(mmproj, m, err) : NULL;
    if (mmproj && !v) {
        ag_model_free(m);
        unlink(mmproj);
        if (err) ag_error_prefix(err, "the converted vision projector does not load");
        return err ? err->code : AG_ERR_FORMAT;
    }
    ag_vision_free(v);
    ag_model_free(m);
    return AG_OK;
}
