#!/usr/bin/python3
"""regen_arch_expected.py - the expected outputs of the transformers-made fixtures, recomputed with
transformers from the weights tests/reference/fixture_weights.py generates (run on the GPU machine,
which has PyTorch and transformers; CPU float32 is used, as for the original fixtures).

For every tests/data/arch/FAMILY with a weights.json: the decoder families keep their prompt
(expected.json "tokens"), take 32 greedy steps without a cache and write logits.f32 (f32, every
position of prompt + greedy) and the new greedy ids; bert writes embeddings.f32 (mean-pooled,
L2-normalized) for its texts' ids. usage: regen_arch_expected.py DATA_DIR OUT_TAR
"""
import json, os, struct, sys, tarfile

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_weights  # noqa: E402

N_GEN = 32


def write_f32(path, rows):
    with open(path, "wb") as f:
        for r in rows:
            f.write(struct.pack("<%df" % len(r), *[float(x) for x in r]))


def decoder(folder, exp):
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
    seq = list(exp["tokens"])
    with torch.no_grad():
        for _ in range(N_GEN):
            seq.append(int(torch.argmax(m(torch.tensor([seq])).logits[0, -1])))
        logits = m(torch.tensor([seq])).logits[0]
    write_f32(os.path.join(folder, "logits.f32"), logits.tolist())
    exp.update(greedy=seq[len(exp["tokens"]):], n_pos=len(seq), transformers=transformers.__version__)
    return ["logits.f32"]


def bert(folder, exp):
    from transformers import BertModel
    m = BertModel.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
    embs = []
    with torch.no_grad():
        for ids in exp["ids"]:
            h = m(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).last_hidden_state[0]
            e = h.mean(0)
            embs.append((e / e.norm()).tolist())
    write_f32(os.path.join(folder, "embeddings.f32"), embs)
    exp.update(transformers=transformers.__version__)
    return ["embeddings.f32"]


def main():
    data, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(8)
    fixture_weights.generate(data)
    arch = os.path.join(data, "arch")
    with tarfile.open(out, "w") as tar:
        for fam in sorted(os.listdir(arch)):
            folder = os.path.join(arch, fam)
            if not os.path.exists(os.path.join(folder, "weights.json")):
                continue
            with open(os.path.join(folder, "expected.json")) as f:
                exp = json.load(f)
            try:
                files = bert(folder, exp) if fam == "bert" else decoder(folder, exp)
            except Exception as e:  # one family's failure must not lose the others
                print(fam, "FAILED", e, flush=True)
                continue
            with open(os.path.join(folder, "expected.json"), "w") as f:
                json.dump(exp, f, indent=1)
            for name in files + ["expected.json"]:
                tar.add(os.path.join(folder, name), arcname=f"{fam}/{name}")
            print(fam, "ok", exp.get("greedy", "")[:8] if fam != "bert" else "", flush=True)


if __name__ == "__main__":
    main()
