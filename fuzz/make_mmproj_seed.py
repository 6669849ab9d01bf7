#!/usr/bin/python3
"""make_mmproj_seed.py - the seed of fuzz_mmproj: a tiny valid GLM-4.1V projector GGUF (patch 2,
width 8, 2 heads, 1 block, merge 2, 2x2 position table, output 8), written with
tests/cli/gguf_edit.py. usage: make_mmproj_seed.py OUT"""
import os, struct, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import gguf_edit  # noqa: E402

D, P, M, OUT, FF, CTX = 8, 2, 2, 8, 8, 8
kvs = [(b"general.architecture", 8, b"clip"), (b"clip.projector_type", 8, b"glm4v"),
       (b"clip.vision.embedding_length", 4, D), (b"clip.vision.block_count", 4, 1),
       (b"clip.vision.attention.head_count", 4, 2), (b"clip.vision.patch_size", 4, P),
       (b"clip.vision.image_size", 4, 2 * P), (b"clip.vision.spatial_merge_size", 4, M),
       (b"clip.vision.attention.layer_norm_epsilon", 6, 1e-5),
       (b"clip.vision.image_mean", 9, (6, [0.5, 0.5, 0.5])), (b"clip.vision.image_std", 9, (6, [0.5, 0.5, 0.5]))]
shapes = {"v.patch_embd.weight": [P, P, 3, D], "v.patch_embd.weight.1": [P, P, 3, D], "v.patch_embd.bias": [D],
          "v.position_embd.weight": [D, 4], "v.pre_ln.weight": [D], "v.post_ln.weight": [D],
          "v.blk.0.ln1.weight": [D], "v.blk.0.ln2.weight": [D], "v.blk.0.attn_qkv.weight": [D, 3 * D],
          "v.blk.0.attn_qkv.bias": [3 * D], "v.blk.0.attn_out.weight": [D, D], "v.blk.0.ffn_gate.weight": [D, FF],
          "v.blk.0.ffn_up.weight": [D, FF], "v.blk.0.ffn_down.weight": [FF, D], "mm.patch_merger.weight": [M, M, D, OUT],
          "mm.patch_merger.bias": [OUT], "mm.model.fc.weight": [OUT, OUT], "mm.post_norm.weight": [OUT],
          "mm.post_norm.bias": [OUT], "mm.gate.weight": [OUT, CTX], "mm.up.weight": [OUT, CTX], "mm.down.weight": [CTX, OUT]}
tensors, data = [], b""
for name, ne in shapes.items():
    n = 1
    for x in ne:
        n *= x
    tensors.append({"name": name.encode(), "ne": ne, "type": 0, "offset": len(data)})
    data += struct.pack("<%df" % n, *[((i * 37) % 11) / 10.0 - 0.5 for i in range(n)])
    data += b"\0" * ((-len(data)) % 32)
open(sys.argv[1], "wb").write(gguf_edit.write({"version": 3, "kvs": kvs, "tensors": tensors, "data": data, "align": 32}))
