/*
 * model_pack.h - copying the CPU's matrices into the kernels' packed layout at load
 * (model_pack.c; the layout is tensor/repack.h's).
 */
#ifndef AG_MODEL_PACK_H
#define AG_MODEL_PACK_H

#include "model/model.h"

/* After the device placement (ag_gpu_attach): packs the matrices of the layers the CPU runs.
 * Idempotent. Without the memory for the copy the model keeps the file's layout (AG_OK: the
 * packing is a speed-up, never a reason to refuse a model). */
ag_status ag_model_pack_weights(ag_model *m, ag_error *err);
/* Frees the packed copy (ag_model_free; the weights must not be used after). */
void ag_model_unpack_weights(ag_model *m);

#endif
