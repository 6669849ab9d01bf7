/*
 * spm_model.c - a minimal protobuf reader for SentencePiece's tokenizer.model (ModelProto), enough
 * for the GGUF "llama" vocabulary (see spm_model.h).
 *
 * Wire format: each field is a varint key (field number << 3 | wire type) then its value: 0 varint,
 * 1 fixed 64 bits, 2 length-delimited (varint length + bytes), 5 fixed 32 bits. Fields read:
 *   ModelProto     1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece  1 piece (string), 2 score (float), 3 type (enum, default NORMAL = 1)
 *   TrainerSpec    3 model_type (1 unigram, 2 bpe), 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
 *   NormalizerSpec 3 add_dummy_prefix (default true)
 * Everything else is skipped by its wire type. Every length is checked against the buffer.
 */
#include "convert/spm_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

typedef struct {
    const uint8_t *p, *end;
} pb;

static bool varint(pb *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        const uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The next field: its number, wire type, and (wire type 0/5) value or (2) sub-buffer. */
static bool field(pb *b, uint32_t *num, uint32_t *wt, uint64_t *val, pb *sub) {
    uint64_t key, len;
    if (!varint(b, &key)) return false;
    *num = (uint32_t)(key >> 3);
    *wt = (uint32_t)(key & 7);
    switch (*wt) {
    case 0: return varint(b, val);
    case 1:
        if (b->end - b->p < 8) return false;
        b->p += 8;
        return true;
    case 5:
        if (b->end - b->p < 4) return false;
        *val = (uint64_t)b->p[0] | (uint64_t)b->p[1] << 8 | (uint64_t)b->p[2] << 16 | (uint64_t)b->p[3] << 24;
        b->p += 4;
        return true;
    case 2:
        if (!varint(b, &len) || len > (uint64_t)(b->end - b->p)) return false;
        sub->p = b->p;
        sub->end = b->p + len;
        b->p += len;
        return true;
    default: return false;
    }
}

static bool read_piece(pb b, ag_spm_piece *out) {
    uint32_t num, wt;
    uint64_t val = 0;
    pb sub;
    out->type = 1;
    while (b.p < b.end) {
        if (!field(&b, &num, &wt, &val, &sub)) return false;
        if (num == 1 && wt == 2) {
            free(out->piece);
            if (!(out->piece = strndup((const char *)sub.p, (size_t)(sub.end - sub.p)))) return false;
        } else if (num == 2 && wt == 5) {
            uint32_t u = (uint32_t)val;
            memcpy(&out->score, &u, sizeof u);
        } else if (num == 3 && wt == 0) out->type = (int32_t)val;
    }
    return out->piece != NULL;
}

static bool read_trainer(pb b, ag_spm_model *m) {
    uint32_t num, wt;
    uint64_t val = 0;
    pb sub;
    while (b.p < b.end) {
        if (!field(&b, &num, &wt, &val, &sub)) return false;
        if (wt != 0) continue;
        const int32_t v = (int32_t)(uint32_t)val; /* int32: negatives are 10-byte varints, low bits kept */
        if (num == 3) m->model_type = v;
        else if (num == 40) m->unk_id = v;
        else if (num == 41) m->bos_id = v;
        else if (num == 42) m->eos_id = v;
        else if (num == 43) m->pad_id = v;
    }
    return true;
}

static bool read_normalizer(pb b, ag_spm_model *m) {
    uint32_t num, wt;
    uint64_t val = 0;
    pb sub;
    while (b.p < b.end) {
        if (!field(&b, &num, &wt, &val, &sub)) return false;
        if (num == 3 && wt == 0) m->add_dummy_prefix = val != 0;
    }
    return true;
}

ag_status ag_spm_model_read(const void *buf, size_t len, ag_spm_model *m, ag_error *err) {
    memset(m, 0, sizeof *m);
    m->model_type = 1;
    m->unk_id = 0, m->bos_id = 1, m->eos_id = 2, m->pad_id = -1;
    m->add_dummy_prefix = true;
    pb b = {buf, (const uint8_t *)buf + len}, sub;
    uint32_t num, wt;
    uint64_t val = 0;
    int64_t cap = 0;
    while (b.p < b.end) {
        if (!field(&b, &num, &wt, &val, &sub)) goto bad;
        if (num == 1 && wt == 2) {
            if (m->n_pieces == cap) {
                cap = cap ? 2 * cap : 1024;
                ag_spm_piece *p = realloc(m->pieces, (size_t)cap * sizeof *p);
                if (!p) {
                    ag_spm_model_free(m);
                    return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
                }
                m->pieces = p;
            }
            memset(&m->pieces[m->n_pieces], 0, sizeof m->pieces[0]);
            if (!read_piece(sub, &m->pieces[m->n_pieces++])) goto bad;
        } else if (num == 2 && wt == 2) {
            if (!read_trainer(sub, m)) goto bad;
        } else if (num == 3 && wt == 2) {
            if (!read_normalizer(sub, m)) goto bad;
        }
    }
    if (m->n_pieces == 0) goto bad;
    return AG_OK;
bad:
    ag_spm_model_free(m);
    return ag_error_set(err, AG_ERR_FORMAT, "tokenizer.model: not a SentencePiece model (bad protobuf at byte %lld)",
                        (long long)(b.p - (const uint8_t *)buf));
}

void ag_spm_model_free(ag_spm_model *m) {
    for (int64_t i = 0; m->pieces && i < m->n_pieces; i++) free(m->pieces[i].piece);
    free(m->pieces);
    memset(m, 0, sizeof *m);
}
