/*
 * gguf_get.c - typed access to GGUF key/values (see gguf.h): integer and float getters that
 * accept any compatible numeric type whose value fits, and errors that name the key.
 */
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"

const char *ag_gguf_type_name(ag_gguf_type t) {
    static const char *const NAMES[AG_GGUF_TYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                          "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < AG_GGUF_TYPE_COUNT ? NAMES[t] : "?";
}

static bool is_unsigned(ag_gguf_type t) {
    return t == AG_GGUF_UINT8 || t == AG_GGUF_UINT16 || t == AG_GGUF_UINT32 || t == AG_GGUF_UINT64 || t == AG_GGUF_BOOL;
}

static bool is_signed(ag_gguf_type t) {
    return t == AG_GGUF_INT8 || t == AG_GGUF_INT16 || t == AG_GGUF_INT32 || t == AG_GGUF_INT64;
}

static ag_status lookup(const ag_gguf_file *f, const char *key, const ag_gguf_value **v, ag_error *err) {
    const ag_gguf_kv *kv = ag_gguf_find_kv(f, key);
    if (!kv) return ag_error_set(err, AG_ERR_FORMAT, "missing key '%s'", key);
    *v = &kv->value;
    return AG_OK;
}

static ag_status wrong_type(const char *key, const ag_gguf_value *v, const char *want, ag_error *err) {
    return ag_error_set(err, AG_ERR_FORMAT, "key '%s' has type %s, expected %s", key, ag_gguf_type_name(v->type), want);
}

ag_status ag_gguf_get_i64(const ag_gguf_file *f, const char *key, int64_t *out, ag_error *err) {
    const ag_gguf_value *v = NULL;
    ag_status st = lookup(f, key, &v, err);
    if (st) return st;
    if (is_signed(v->type)) *out = v->i;
    else if (is_unsigned(v->type) && v->u <= (uint64_t)INT64_MAX) *out = (int64_t)v->u;
    else return wrong_type(key, v, "an integer", err);
    return AG_OK;
}

ag_status ag_gguf_get_u32(const ag_gguf_file *f, const char *key, uint32_t *out, ag_error *err) {
    int64_t x = 0;
    ag_status st = ag_gguf_get_i64(f, key, &x, err);
    if (st) return st;
    if (x < 0 || x > (int64_t)UINT32_MAX)
        return ag_error_set(err, AG_ERR_FORMAT, "key '%s' = %lld is out of range for u32", key, (long long)x);
    *out = (uint32_t)x;
    return AG_OK;
}

ag_status ag_gguf_get_f32(const ag_gguf_file *f, const char *key, float *out, ag_error *err) {
    const ag_gguf_value *v = NULL;
    ag_status st = lookup(f, key, &v, err);
    if (st) return st;
    if (v->type == AG_GGUF_FLOAT32 || v->type == AG_GGUF_FLOAT64) *out = (float)v->f;
    else if (is_signed(v->type)) *out = (float)v->i;
    else if (is_unsigned(v->type) && v->type != AG_GGUF_BOOL) *out = (float)v->u;
    else return wrong_type(key, v, "f32", err);
    if (!isfinite(*out)) return ag_error_set(err, AG_ERR_FORMAT, "key '%s' is not a finite number", key);
    return AG_OK;
}

ag_status ag_gguf_get_bool(const ag_gguf_file *f, const char *key, bool *out, ag_error *err) {
    const ag_gguf_value *v = NULL;
    ag_status st = lookup(f, key, &v, err);
    if (st) return st;
    if (v->type == AG_GGUF_BOOL || is_unsigned(v->type)) *out = v->u != 0;
    else if (is_signed(v->type)) *out = v->i != 0;
    else return wrong_type(key, v, "bool", err);
    return AG_OK;
}

ag_status ag_gguf_get_str(const ag_gguf_file *f, const char *key, ag_gguf_str *out, ag_error *err) {
    const ag_gguf_value *v = NULL;
    ag_status st = lookup(f, key, &v, err);
    if (st) return st;
    if (v->type != AG_GGUF_STRING) return wrong_type(key, v, "string", err);
    *out = v->s;
    return AG_OK;
}

ag_status ag_gguf_get_arr(const ag_gguf_file *f, const char *key, ag_gguf_type elem_type,
                          const ag_gguf_value **out, ag_error *err) {
    const ag_gguf_value *v = NULL;
    ag_status st = lookup(f, key, &v, err);
    if (st) return st;
    if (v->type != AG_GGUF_ARRAY || v->arr.elem_type != elem_type)
        return ag_error_set(err, AG_ERR_FORMAT, "key '%s' has type %s%s%s%s, expected array[%s]", key,
                            ag_gguf_type_name(v->type), v->type == AG_GGUF_ARRAY ? "[" : "",
                            v->type == AG_GGUF_ARRAY ? ag_gguf_type_name(v->arr.elem_type) : "",
                            v->type == AG_GGUF_ARRAY ? "]" : "", ag_gguf_type_name(elem_type));
    *out = v;
    return AG_OK;
}

static bool arr_elem(const ag_gguf_value *arr, uint64_t i, ag_gguf_value *out) {
    if (arr->type != AG_GGUF_ARRAY || i >= arr->arr.count || !arr->arr.raw) return false;
    static const size_t SIZES[AG_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    const size_t es = SIZES[arr->arr.elem_type];
    const uint8_t *b = arr->arr.raw + i * es;
    uint64_t u = 0;
    memcpy(&u, b, es); /* little-endian host */
    out->type = arr->arr.elem_type;
    switch (out->type) {
    case AG_GGUF_INT8: out->i = (int8_t)u; break;
    case AG_GGUF_INT16: out->i = (int16_t)u; break;
    case AG_GGUF_INT32: out->i = (int32_t)u; break;
    case AG_GGUF_INT64: out->i = (int64_t)u; break;
    case AG_GGUF_FLOAT32: { float x; memcpy(&x, b, 4); out->f = x; break; }
    case AG_GGUF_FLOAT64: { double x; memcpy(&x, b, 8); out->f = x; break; }
    case AG_GGUF_BOOL: out->u = u != 0; break;
    default: out->u = u; break;
    }
    return true;
}

double ag_gguf_arr_f64(const ag_gguf_value *arr, uint64_t i) {
    ag_gguf_value v;
    if (!arr_elem(arr, i, &v)) return 0;
    if (v.type == AG_GGUF_FLOAT32 || v.type == AG_GGUF_FLOAT64) return v.f;
    if (is_signed(v.type)) return (double)v.i;
    return (double)v.u;
}

int64_t ag_gguf_arr_i64(const ag_gguf_value *arr, uint64_t i) {
    ag_gguf_value v;
    if (!arr_elem(arr, i, &v)) return 0;
    if (v.type == AG_GGUF_FLOAT32 || v.type == AG_GGUF_FLOAT64) { /* saturate: NaN -> 0 */
        if (!(v.f == v.f)) return 0;
        if (v.f >= 9.2e18) return INT64_MAX;
        if (v.f <= -9.2e18) return INT64_MIN;
        return (int64_t)v.f;
    }
    if (is_signed(v.type)) return v.i;
    return v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v.u;
}
