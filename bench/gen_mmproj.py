#!/usr/bin/python3
"""gen_mmproj.py - a random-weight GLM-4.1V projector GGUF of chosen sizes, for
bench/bench_vision.c and bench/bench_vision_ttft.c (docs/PERFORMANCE.md, "Vision encoder").
F32 with the standard library only; --type f16 (matrices F16, vectors and the position table F32,
as `autoglm convert --mmproj --type f16` writes them) uses numpy and streams the file, for
GLM-4.1V-9B's tower (--width 1536 --heads 12 --blocks 24 --ff 13696 --out 4096 --ctx 13696).
usage: gen_mmproj.py OUT [--width 512] [--heads 8] [--blocks 2] [--ff 1024] [--out 512] [--ctx 1024] [--type f32|f16]"""
import argparse, array, os, random, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import gguf_edit  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("out")
for k, v in (("width", 512), ("heads", 8), ("blocks", 2), ("ff", 1024), ("out_dim", 512), ("ctx", 1024)):
    ap.add_argument("--" + k.replace("_dim", ""), dest=k, type=int, default=v)
ap.add_argument("--type", choices=("f32", "f16"), default="f32")
a = ap.parse_args()
D, P, M, S = a.width, 14, 2, 24
kvs = [(b"general.architecture", 8, b"clip"), (b"clip.projector_type", 8, b"glm4v"),
       (b"clip.vision.embedding_length", 4, D), (b"clip.vision.block_count", 4, a.blocks),
       (b"clip.vision.attention.head_count", 4, a.heads), (b"clip.vision.patch_size", 4, P),
       (b"clip.vision.image_size", 4, S * P), (b"clip.vision.spatial_merge_size", 4, M)]
shapes = {"v.patch_embd.weight": [P, P, 3, D], "v.patch_embd.weight.1": [P, P, 3, D], "v.patch_embd.bias": [D],
          "v.position_embd.weight": [D, S * S], "v.pre_ln.weight": [D], "v.post_ln.weight": [D],
          "mm.patch_merger.weight": [M, M, D, a.out_dim], "mm.patch_merger.bias": [a.out_dim],
          "mm.model.fc.weight": [a.out_dim, a.out_dim], "mm.post_norm.weight": [a.out_dim], "mm.post_norm.bias": [a.out_dim],
          "mm.gate.weight": [a.out_dim, a.ctx], "mm.up.weight": [a.out_dim, a.ctx], "mm.down.weight": [a.ctx, a.out_dim]}
for b in range(a.blocks):
    p = "v.blk.%d." % b
    shapes.update({p + "ln1.weight": [D], p + "ln2.weight": [D], p + "attn_qkv.weight": [D, 3 * D], p + "attn_out.weight": [D, D],
                   p + "ffn_gate.weight": [D, a.ff], p + "ffn_up.weight": [D, a.ff], p + "ffn_down.weight": [a.ff, D]})
NORMS = ("ln1.weight", "ln2.weight", "pre_ln.weight", "post_ln.weight", "post_norm.weight")
if a.type == "f16":  # numpy, streamed: matrices F16 (uniform +-0.05, tiled from a random pool), the rest F32
    import numpy as np
    pool = (np.random.default_rng(1).random(1 << 22, dtype=np.float32) - 0.5) * 0.1
    infos, off = [], 0
    for name, ne in shapes.items():
        n = 1
        for x in ne:
            n *= x
        f16 = len(ne) > 1 and name != "v.position_embd.weight"
        infos.append((name, ne, n, f16, off))
        off += n * (2 if f16 else 4)
        off += (-off) % 32
    tensors = [{"name": nm.encode(), "ne": ne, "type": 1 if f16 else 0, "offset": o} for nm, ne, n, f16, o in infos]
    with open(a.out, "wb") as f:
        f.write(gguf_edit.write({"version": 3, "kvs": kvs, "tensors": tensors, "data": b"", "align": 32}))
        pos = 0
        for k, (name, ne, n, f16, o) in enumerate(infos):
            f.write(b"\0" * (o - pos))
            if name.endswith(NORMS):
                arr = np.ones(n, dtype=np.float32)
            else:
                arr = np.roll(np.resize(pool, n), k * 7919)
            b = arr.astype(np.float16 if f16 else np.float32).tobytes()
            f.write(b)
            pos = o + len(b)
    sys.exit(0)
rng = random.Random(1)
tensors, data = [], bytearray()
for name, ne in shapes.items():
    n = 1
    for x in ne:
        n *= x
    tensors.append({"name": name.encode(), "ne": ne, "type": 0, "offset": len(data)})
    norm = name.endswith(("ln1.weight", "ln2.weight", "pre_ln.weight", "post_ln.weight", "post_norm.weight"))
    data += array.array("f", [1.0 if norm else (rng.random() - 0.5) * 0.1 for _ in range(n)]).tobytes()
    data += b"\0" * ((-len(data)) % 32)
with open(a.out, "wb") as f:
    f.write(gguf_edit.write({"version": 3, "kvs": kvs, "tensors": tensors, "data": bytes(data), "align": 32}))
