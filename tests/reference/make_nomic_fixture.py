"""make_nomic_fixture.py - a tiny random-weight nomic-bert (NomicBertModel) checkpoint and its
sentence embeddings, computed here by an independent reference written with the Python standard
library only (transformers cannot build NomicBert without the checkpoint's remote code).

The reference follows the published NomicBert modeling code (post-norm blocks, fused Wqkv,
non-interleaved rotary embeddings, SwiGLU with fc12 the SiLU-gated half, no biases, LayerNorm on
the word + token-type embeddings), in double precision, mean-pooled and L2-normalized.

usage: python3 make_nomic_fixture.py ARCH_DIR      (ARCH_DIR = tests/data/arch; reads ARCH_DIR/bert for
       the WordPiece tokenizer and the texts' token ids, writes ARCH_DIR/nomic-bert)
"""
import json
import math
import os
import random
import shutil
import struct
import sys

ARCH = sys.argv[1] if len(sys.argv) > 1 else "tests/data/arch"
E, L, H, FF, CTX, BASE, EPS = 64, 2, 4, 96, 128, 1000.0, 1e-12
HD = E // H


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def tensor(rng, shape, mean=0.0, sd=0.1):
    n = 1
    for d in shape:
        n *= d
    flat = [f32(rng.gauss(mean, sd)) for _ in range(n)]
    if len(shape) == 1:
        return flat
    return [flat[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])]


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (shape, data) in tensors.items():
        flat = data if len(shape) == 1 else [x for row in data for x in row]
        b = struct.pack("<%df" % len(flat), *flat)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def matvec(w, x):  # w: (out, in) rows, x: (in,) -> (out,)
    return [sum(a * b for a, b in zip(row, x)) for row in w]


def layernorm(x, w, b):
    mu = sum(x) / len(x)
    var = sum((v - mu) ** 2 for v in x) / len(x)
    return [(v - mu) / math.sqrt(var + EPS) * wi + bi for v, wi, bi in zip(x, w, b)]


def rotate(v, pos):  # one head, halves (x[i], x[i + HD/2]) rotated by pos * BASE^(-2i/HD)
    half, out = HD // 2, list(v)
    for i in range(half):
        th = pos * BASE ** (-2.0 * i / HD)
        c, s = math.cos(th), math.sin(th)
        out[i] = v[i] * c - v[i + half] * s
        out[i + half] = v[i + half] * c + v[i] * s
    return out


def silu(x):
    return x / (1.0 + math.exp(-x))


def embed(W, ids):
    n = len(ids)
    xs = [layernorm([a + b for a, b in zip(W["embeddings.word_embeddings.weight"][1][t], W["embeddings.token_type_embeddings.weight"][1][0])],
                    W["emb_ln.weight"][1], W["emb_ln.bias"][1]) for t in ids]
    for il in range(L):
        p = "encoder.layers.%d." % il
        qkv = [matvec(W[p + "attn.Wqkv.weight"][1], x) for x in xs]
        q = [[rotate(r[h * HD:(h + 1) * HD], t) for h in range(H)] for t, r in enumerate(qkv)]
        k = [[rotate(r[E + h * HD:E + (h + 1) * HD], t) for h in range(H)] for t, r in enumerate(qkv)]
        v = [[r[2 * E + h * HD:2 * E + (h + 1) * HD] for h in range(H)] for r in qkv]
        att = []
        for t in range(n):
            row = []
            for h in range(H):
                s = [sum(a * b for a, b in zip(q[t][h], k[u][h])) / math.sqrt(HD) for u in range(n)]
                m = max(s)
                ex = [math.exp(z - m) for z in s]
                z = sum(ex)
                row += [sum(ex[u] / z * v[u][h][d] for u in range(n)) for d in range(HD)]
            att.append(row)
        xs = [layernorm([a + b for a, b in zip(x, matvec(W[p + "attn.out_proj.weight"][1], a_))], W[p + "norm1.weight"][1], W[p + "norm1.bias"][1])
              for x, a_ in zip(xs, att)]
        out = []
        for x in xs:
            up, gate = matvec(W[p + "mlp.fc11.weight"][1], x), matvec(W[p + "mlp.fc12.weight"][1], x)
            y = matvec(W[p + "mlp.fc2.weight"][1], [u * silu(g) for u, g in zip(up, gate)])
            out.append(layernorm([a + b for a, b in zip(x, y)], W[p + "norm2.weight"][1], W[p + "norm2.bias"][1]))
        xs = out
    mean = [sum(x[i] for x in xs) / n for i in range(E)]
    norm = math.sqrt(sum(m * m for m in mean))
    return [m / norm for m in mean]


def make_weights(n_vocab):
    """The fixture's weights: deterministic (random.Random(1234)), as {name: (shape, values)}."""
    rng = random.Random(1234)
    W = {"embeddings.word_embeddings.weight": [n_vocab, E], "embeddings.token_type_embeddings.weight": [2, E],
         "emb_ln.weight": [E], "emb_ln.bias": [E]}
    for il in range(L):
        p = "encoder.layers.%d." % il
        W.update({p + "attn.Wqkv.weight": [3 * E, E], p + "attn.out_proj.weight": [E, E], p + "mlp.fc11.weight": [FF, E],
                  p + "mlp.fc12.weight": [FF, E], p + "mlp.fc2.weight": [E, FF], p + "norm1.weight": [E],
                  p + "norm1.bias": [E], p + "norm2.weight": [E], p + "norm2.bias": [E]})
    return {k: (s, tensor(rng, s, 1.0 if k.endswith("norm1.weight") or k.endswith("norm2.weight") or k == "emb_ln.weight" else 0.0))
            for k, s in W.items()}


def main():
    bert = os.path.join(ARCH, "bert")
    with open(os.path.join(bert, "expected.json")) as f:
        bexp = json.load(f)
    with open(os.path.join(bert, "config.json")) as f:
        n_vocab = json.load(f)["vocab_size"]
    out = os.path.join(ARCH, "nomic-bert")
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(bert, name), os.path.join(out, name))
    with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": E, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}, f)
    cfg = {"architectures": ["NomicBertModel"], "model_type": "nomic_bert", "vocab_size": n_vocab, "n_embd": E,
           "n_layer": L, "n_head": H, "n_inner": FF, "n_positions": CTX, "layer_norm_epsilon": EPS,
           "rotary_emb_base": BASE, "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False, "type_vocab_size": 2,
           "qkv_proj_bias": False, "mlp_fc1_bias": False, "mlp_fc2_bias": False, "activation_function": "swiglu",
           "prenorm": False, "causal": False, "pad_token_id": 0}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    W = make_weights(n_vocab)
    write_safetensors(os.path.join(out, "model.safetensors"), W)
    embs = [embed(W, ids) for ids in bexp["ids"]]
    with open(os.path.join(out, "embeddings.f32"), "wb") as f:
        for e in embs:
            f.write(struct.pack("<%df" % E, *e))
    exp = {"family": "nomic-bert", "architecture": "NomicBertModel", "reference": "tests/reference/make_nomic_fixture.py",
           "texts": bexp["texts"], "ids": bexp["ids"], "dim": E, "pooling": "mean", "normalize": True,
           "embeddings": "embeddings.f32"}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)


if __name__ == "__main__":
    main()
