#!/usr/bin/python3
"""fixture_weights.py - the weights of the test fixtures, generated instead of kept in git.

Every fixture folder under tests/data (arch/FAMILY, rerank) holds its config, tokenizer and
expected outputs; its model.safetensors is made by the build (CMake target fixture_weights) with
this script, deterministically, with the Python standard library only:
  - arch/FAMILY with a weights.json manifest (the transformers-made decoder and bert fixtures):
    every tensor listed there (name, dtype, shape, mean, std) is filled with uniform values of that
    mean and standard deviation from random.Random seeded by the tensor's name, rounded to the dtype;
    tests/reference/regen_arch_expected.py computed the expected logits/embeddings from exactly these
    weights with transformers;
  - glm4v (tests/reference/make_glm4v_fixture.py's GLM-4.1V): the same, from its weights.json;
  - arch/nomic-bert: make_nomic_fixture.make_weights (its own reference computed the expected output);
  - rerank: make_rerank_fixture.make_weights (checked against transformers);
  - spm/tokenizer.model (a SentencePiece model, not weights): spm_model.write_model from tokenizer.vocab.
usage: fixture_weights.py DATA_DIR            (writes the missing or stale model.safetensors files)
       fixture_weights.py --manifest FAMILY_DIR...   (writes weights.json from a model.safetensors)
"""
import hashlib
import json
import math
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SIZE = {"F16": 2, "F32": 4, "BF16": 2}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data


def values(info, data):
    b, e = info["data_offsets"]
    fmt = {"F16": "e", "F32": "f"}[info["dtype"]]
    return struct.unpack("<%d%s" % ((e - b) // SIZE[info["dtype"]], fmt), data[b:e])


def manifest(folder):
    header, data = read_safetensors(os.path.join(folder, "model.safetensors"))
    tensors = []
    for name in sorted(k for k in header if k != "__metadata__"):
        v = values(header[name], data)
        mean = sum(v) / len(v)
        std = math.sqrt(sum((x - mean) ** 2 for x in v) / len(v))
        tensors.append({"name": name, "dtype": header[name]["dtype"], "shape": header[name]["shape"],
                        "mean": round(mean, 4), "std": round(std, 4)})
    with open(os.path.join(folder, "weights.json"), "w") as f:
        json.dump({"generator": "tests/reference/fixture_weights.py", "tensors": tensors}, f, indent=0)
        f.write("\n")


def write_safetensors(path, tensors):
    """tensors: [(name, dtype, shape, packed bytes)] -> a safetensors file (names sorted)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dtype, shape, blob in sorted(tensors):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def from_manifest(folder):
    with open(os.path.join(folder, "weights.json")) as f:
        m = json.load(f)
    out = []
    for t in m["tensors"]:
        n = math.prod(t["shape"])
        rng = random.Random(int.from_bytes(hashlib.sha256(t["name"].encode()).digest()[:8], "little"))
        half = t["std"] * math.sqrt(3.0)
        v = [t["mean"] + half * (2.0 * rng.random() - 1.0) for _ in range(n)]
        out.append((t["name"], t["dtype"], t["shape"], struct.pack("<%d%s" % (n, "e" if t["dtype"] == "F16" else "f"), *v)))
    write_safetensors(os.path.join(folder, "model.safetensors"), out)


def nomic(folder, data_dir):
    import make_nomic_fixture as N
    with open(os.path.join(data_dir, "arch", "bert", "config.json")) as f:
        n_vocab = json.load(f)["vocab_size"]
    N.write_safetensors(os.path.join(folder, "model.safetensors"), N.make_weights(n_vocab))


def rerank(folder):
    import make_rerank_fixture as R
    with open(os.path.join(folder, "tokenizer.json")) as f:
        n_vocab = len(json.load(f)["model"]["vocab"])
    R.write_safetensors(os.path.join(folder, "model.safetensors"), R.make_weights(n_vocab))


def stale(folder, sources, name="model.safetensors"):
    target = os.path.join(folder, name)
    if not os.path.exists(target):
        return True
    return any(os.path.getmtime(s) > os.path.getmtime(target) for s in sources)


def generate(data_dir):
    arch = os.path.join(data_dir, "arch")
    for fam in sorted(os.listdir(arch)):
        folder = os.path.join(arch, fam)
        if os.path.exists(os.path.join(folder, "weights.json")):
            if stale(folder, [os.path.join(folder, "weights.json"), __file__]):
                from_manifest(folder)
        elif fam == "nomic-bert" and stale(folder, [__file__, os.path.join(HERE, "make_nomic_fixture.py")]):
            nomic(folder, data_dir)
    folder = os.path.join(data_dir, "glm4v")  # make_glm4v_fixture.py's vision-language model
    if os.path.exists(os.path.join(folder, "weights.json")) and stale(folder, [os.path.join(folder, "weights.json"), __file__]):
        from_manifest(folder)
    folder = os.path.join(data_dir, "rerank")
    if stale(folder, [__file__, os.path.join(HERE, "make_rerank_fixture.py")]):
        rerank(folder)
    folder = os.path.join(data_dir, "spm")  # the SentencePiece model, from its piece list (spm_model.py)
    vocab = os.path.join(folder, "tokenizer.vocab")
    if os.path.exists(vocab) and stale(folder, [vocab, os.path.join(HERE, "spm_model.py")], "tokenizer.model"):
        import spm_model
        spm_model.write_model(vocab, os.path.join(folder, "tokenizer.model"))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--manifest":
        for d in sys.argv[2:]:
            manifest(d)
    elif len(sys.argv) == 2:
        generate(sys.argv[1])
    else:
        sys.exit(__doc__)
