#!/usr/bin/env python3
"""make_rerank_fixture.py - the tiny random-weight cross-encoder (reranker) fixture, standard library only.

Writes tests/data/rerank/: model.safetensors (F32, the Hugging Face BertForSequenceClassification
names: bert.* encoder, bert.pooler.dense, classifier with num_labels=1), config.json, the
WordPiece tokenizer of tests/data/arch/bert, and expected.json: a query, documents, the token ids
and token types of "[CLS] query [SEP] document [SEP]", and the raw logit of each pair.

The reference scores come from an independent implementation of the BERT cross-encoder forward
written here in double precision (the transformers run on the GPU machine was not available to
this session: see docs/rerank.md). The math, as transformers' BertForSequenceClassification:
    x = LN(word[id] + pos[p] + type[t])
    per layer: x = LN(x + Wo.attn(x) + bo); x = LN(x + W2.gelu_erf(W1 x + b1) + b2)
    score = Wc . tanh(Wp x[0] + bp) + bc
Run: python3 tests/reference/make_rerank_fixture.py  (deterministic: random.Random(12)).
"""
import json, math, os, random, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "data", "arch", "bert")
OUT = os.path.join(HERE, "..", "data", "rerank")
E, H, FF, L, POS, TYPES = 32, 4, 64, 2, 64, 2
QUERY = "what is the capital of france?"
DOCS = ["Paris is the capital of France.", "The cat sat on the mat.", "Berlin is the capital of Germany.",
        "France is a country in Europe; its capital is Paris.", "Errors should never pass silently."]


# ---------------------------------------------------------------- weights
def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def make_weights(n_vocab):
    rng = random.Random(12)
    w = {}
    def mat(name, rows, cols, sd=0.2):
        w[name] = ([[f32(rng.gauss(0, sd)) for _ in range(cols)] for _ in range(rows)], [rows, cols])
    def vec(name, n, mean=0.0, sd=0.1):
        w[name] = ([f32(mean + rng.gauss(0, sd)) for _ in range(n)], [n])
    mat("bert.embeddings.word_embeddings.weight", n_vocab, E)
    mat("bert.embeddings.position_embeddings.weight", POS, E)
    mat("bert.embeddings.token_type_embeddings.weight", TYPES, E)
    vec("bert.embeddings.LayerNorm.weight", E, 1.0), vec("bert.embeddings.LayerNorm.bias", E)
    for il in range(L):
        p = f"bert.encoder.layer.{il}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            mat(p + n + ".weight", E, E), vec(p + n + ".bias", E)
        vec(p + "attention.output.LayerNorm.weight", E, 1.0), vec(p + "attention.output.LayerNorm.bias", E)
        mat(p + "intermediate.dense.weight", FF, E), vec(p + "intermediate.dense.bias", FF)
        mat(p + "output.dense.weight", E, FF), vec(p + "output.dense.bias", E)
        vec(p + "output.LayerNorm.weight", E, 1.0), vec(p + "output.LayerNorm.bias", E)
    mat("bert.pooler.dense.weight", E, E), vec("bert.pooler.dense.bias", E)
    mat("classifier.weight", 1, E, 0.5), vec("classifier.bias", 1)
    return w


def write_safetensors(path, w):
    header, blobs, off = {}, [], 0
    for name in sorted(w):
        data, shape = w[name]
        flat = [x for row in data for x in row] if len(shape) == 2 else data
        b = struct.pack(f"<{len(flat)}f", *flat)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---------------------------------------------------------------- WordPiece (BertNormalizer lowercase + BertPreTokenizer)
def wordpiece(text, vocab):
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace():
            words, cur = words + ([cur] if cur else []), ""
        elif not ch.isalnum():
            words, cur = words + ([cur] if cur else []) + [ch], ""
        else:
            cur += ch
    words += [cur] if cur else []
    ids = []
    for word in words:
        start, pieces = 0, []
        while start < len(word):
            end = len(word)
            while end > start and (("##" if start else "") + word[start:end]) not in vocab:
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[("##" if start else "") + word[start:end]])
            start = end
        ids += pieces
    return ids


# ---------------------------------------------------------------- forward
def matvec(W, b, x):  # W (out, in) @ x (in,) + b -> (out,)
    return [sum(wi * xi for wi, xi in zip(row, x)) + bi for row, bi in zip(W, b)]


def layernorm(x, g, b, eps=1e-12):
    mu = sum(x) / len(x)
    var = sum((v - mu) ** 2 for v in x) / len(x)
    return [(v - mu) / math.sqrt(var + eps) * gi + bi for v, gi, bi in zip(x, g, b)]


def score(w, ids, types):
    g = lambda n: w[n][0]
    x = [layernorm([a + p + t for a, p, t in zip(g("bert.embeddings.word_embeddings.weight")[i],
                                                 g("bert.embeddings.position_embeddings.weight")[pos],
                                                 g("bert.embeddings.token_type_embeddings.weight")[ty])],
                   g("bert.embeddings.LayerNorm.weight"), g("bert.embeddings.LayerNorm.bias"))
         for pos, (i, ty) in enumerate(zip(ids, types))]
    hd, n = E // H, len(ids)
    for il in range(L):
        p = f"bert.encoder.layer.{il}."
        lin = lambda name, v: matvec(g(p + name + ".weight"), g(p + name + ".bias"), v)
        q = [lin("attention.self.query", r) for r in x]
        k = [lin("attention.self.key", r) for r in x]
        v = [lin("attention.self.value", r) for r in x]
        a = [[0.0] * E for _ in range(n)]
        for t in range(n):
            for h in range(H):
                s = [sum(q[t][h * hd + d] * k[u][h * hd + d] for d in range(hd)) / math.sqrt(hd) for u in range(n)]
                m = max(s)
                e = [math.exp(z - m) for z in s]
                z = sum(e)
                for d in range(hd):
                    a[t][h * hd + d] = sum(e[u] / z * v[u][h * hd + d] for u in range(n))
        o = [lin("attention.output.dense", r) for r in a]
        x = [layernorm([xi + oi for xi, oi in zip(xr, orow)], g(p + "attention.output.LayerNorm.weight"),
                       g(p + "attention.output.LayerNorm.bias")) for xr, orow in zip(x, o)]
        f = [[0.5 * u * (1 + math.erf(u / math.sqrt(2))) for u in lin("intermediate.dense", r)] for r in x]
        f = [lin("output.dense", r) for r in f]
        x = [layernorm([xi + fi for xi, fi in zip(xr, fr)], g(p + "output.LayerNorm.weight"),
                       g(p + "output.LayerNorm.bias")) for xr, fr in zip(x, f)]
    pooled = [math.tanh(v) for v in matvec(g("bert.pooler.dense.weight"), g("bert.pooler.dense.bias"), x[0])]
    return matvec(g("classifier.weight"), g("classifier.bias"), pooled)[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = json.load(open(os.path.join(SRC, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    w = make_weights(len(vocab))
    write_safetensors(os.path.join(OUT, "model.safetensors"), w)
    cfg = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": E,
           "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": FF, "hidden_act": "gelu",
           "max_position_embeddings": POS, "type_vocab_size": TYPES, "vocab_size": len(vocab),
           "layer_norm_eps": 1e-12, "pad_token_id": 0, "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0},
           "torch_dtype": "float32"}
    json.dump(cfg, open(os.path.join(OUT, "config.json"), "w"), indent=1)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(SRC, f), OUT)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    qi = wordpiece(QUERY, vocab)
    ids, types, scores = [], [], []
    for d in DOCS:
        di = wordpiece(d, vocab)
        ids.append([cls] + qi + [sep] + di + [sep])
        types.append([0] * (len(qi) + 2) + [1] * (len(di) + 1))
        scores.append(score(w, ids[-1], types[-1]))
    exp = {"architecture": "BertForSequenceClassification", "reference": "make_rerank_fixture.py (float64, stdlib)",
           "query": QUERY, "documents": DOCS, "ids": ids, "token_types": types, "scores": scores,
           "order": sorted(range(len(DOCS)), key=lambda i: -scores[i])}
    json.dump(exp, open(os.path.join(OUT, "expected.json"), "w"), indent=1)
    print(scores)


if __name__ == "__main__":
    main()
