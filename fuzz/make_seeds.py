#!/usr/bin/python3
"""make_seeds.py - the fuzz seeds that are model or tokenizer files, written at test time instead of
kept in git (scripts/test.sh passes OUT/NAME to fuzz_NAME beside fuzz/corpus/NAME):
  gguf/empty, gguf/scalars (a key of every value type), gguf/tensors (F32 and F16 tensors)
  mmproj/tiny      a tiny valid GLM-4.1V projector (patch 2, width 8, 2 heads, 1 block, merge 2,
                   2x2 position table, output 8)
  convert/safetensors_small, convert/spm_head (the first 4 KB of tests/data/spm's tokenizer.model)
GGUF files through tests/cli/gguf_edit.py, tokenizer.model through tests/reference/spm_model.py.
usage: make_seeds.py OUT"""
import json, os, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cli"))
import gguf_edit  # noqa: E402


def tensor_table(shapes, value):
    """F32 tensors of these shapes, each element value(i), 32-byte aligned one after the other."""
    tensors, data = [], b""
    for name, ne in shapes.items():
        n = 1
        for x in ne:
            n *= x
        tensors.append({"name": name.encode(), "ne": ne, "type": 0, "offset": len(data)})
        data += struct.pack("<%df" % n, *[value(i) for i in range(n)])
        data += b"\0" * ((-len(data)) % 32)
    return tensors, data


def mmproj():
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
              "v.blk.0.ffn_up.weight": [D, FF], "v.blk.0.ffn_down.weight": [FF, D],
              "mm.patch_merger.weight": [M, M, D, OUT], "mm.patch_merger.bias": [OUT], "mm.model.fc.weight": [OUT, OUT],
              "mm.post_norm.weight": [OUT], "mm.post_norm.bias": [OUT], "mm.gate.weight": [OUT, CTX],
              "mm.up.weight": [OUT, CTX], "mm.down.weight": [CTX, OUT]}
    tensors, data = tensor_table(shapes, lambda i: ((i * 37) % 11) / 10.0 - 0.5)
    return gguf_edit.write({"version": 3, "kvs": kvs, "tensors": tensors, "data": data, "align": 32})


def gguf_seeds():
    empty = gguf_edit.write({"version": 3, "kvs": [], "tensors": [], "data": b"", "align": 32})
    scalars = [(b"k0", 0, 1), (b"k1", 1, -2), (b"k2", 2, 3), (b"k3", 3, -4), (b"k4", 4, 5), (b"k5", 5, -6),
               (b"k6", 6, 1.0), (b"k7", 7, 1), (b"k8", 8, b"text"), (b"k9", 9, (4, [1, 2, 3])),
               (b"k10", 10, 7), (b"k11", 11, -8), (b"k12", 12, 1.0), (b"k13", 9, (8, [b"a", b"bc"]))]
    scal = gguf_edit.write({"version": 3, "kvs": scalars, "tensors": [], "data": b"", "align": 32})
    tensors, data = tensor_table({"t.f32": [4, 2]}, lambda i: i / 8.0)
    tensors.append({"name": b"t.f16", "ne": [8], "type": 1, "offset": len(data)})
    data += struct.pack("<8e", *[i / 4.0 for i in range(8)])
    tens = gguf_edit.write({"version": 3, "kvs": [(b"general.architecture", 8, b"llama")], "tensors": tensors,
                            "data": data, "align": 32})
    return {"empty": empty, "scalars": scal, "tensors": tens}


def safetensors_small():
    header = json.dumps({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                         "__metadata__": {"format": "pt"}}).encode()
    return struct.pack("<Q", len(header)) + header + struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)


def spm_head():
    vocab = os.path.join(HERE, "..", "tests", "data", "spm", "tokenizer.vocab")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "tokenizer.model")
        subprocess.run([sys.executable, os.path.join(HERE, "..", "tests", "reference", "spm_model.py"), vocab, out],
                       check=True)
        return open(out, "rb").read()[:4001]


def main():
    out = sys.argv[1]
    seeds = {"gguf": gguf_seeds(), "mmproj": {"tiny": mmproj()},
             "convert": {"safetensors_small": safetensors_small(), "spm_head": spm_head()}}
    for target, files in seeds.items():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(out, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
