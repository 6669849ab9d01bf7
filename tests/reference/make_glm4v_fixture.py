#!/usr/bin/python3
"""make_glm4v_fixture.py - a tiny random-weight GLM-4.1V (transformers Glm4vForConditionalGeneration,
the architecture of AutoGLM-Phone-9B) and the reference library's outputs, for tests/test_glm4v.c.

Two steps:
  make_glm4v_fixture.py spec DIR        (standard library only; DIR = tests/data/glm4v)
      writes the Hugging Face folder minus its weights: config.json, preprocessor_config.json,
      tokenizer.json (a byte-level BPE made here: 256 byte tokens, two merges, GLM's special
      tokens), tokenizer_config.json, and weights.json, the manifest tests/reference/fixture_weights.py
      turns into model.safetensors (uniform values of the listed mean/std, seeded by tensor name);
  make_glm4v_fixture.py reference DIR OUT   (the GPU machine: PyTorch + transformers, CPU float32)
      generates the weights from weights.json, checks that transformers loads every tensor of them
      (no missing or unexpected names), runs the model on the fixed input below and writes to OUT:
      expected.json (prompt ids, image grid, M-RoPE position ids, greedy ids, versions),
      vision.f32 (f32, the merger output: one row of text hidden size per image token) and
      logits.f32 (f32, every position of prompt + greedy, from one uncached forward pass).

Fixed input: pixel_values(48 rows x 1176) with grid_thw (1, 6, 8): row i, column j holds
((i*1176 + j)*7919 mod 1009) / 504.5 - 1 (computed in double, stored as float32; the C test
computes the same), and the prompt
  [gMASK]<sop><|user|>\\n<|begin_of_image|> 12 x <|image|> <|end_of_image|>Describe it.<|assistant|>\\n
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

GRID = (1, 6, 8)
PATCH, TPATCH, MERGE = 14, 2, 2
PATCH_DIM = 3 * TPATCH * PATCH * PATCH
SPECIALS = ["<|endoftext|>", "[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>",
            "<|begin_of_image|>", "<|end_of_image|>", "<|image|>", "<|begin_of_video|>", "<|end_of_video|>",
            "<|video|>"]
MERGES = [("\u0120", "t"), ("h", "e")]
N_GEN = 8

VISION = dict(depth=2, hidden_size=32, hidden_act="silu", attention_bias=True, num_heads=2, in_channels=3,
              image_size=56, patch_size=PATCH, rms_norm_eps=1e-5, spatial_merge_size=MERGE,
              temporal_patch_size=TPATCH, out_hidden_size=64, intermediate_size=96, initializer_range=0.02,
              model_type="glm4v")


def byte_chars():
    """GPT-2's byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def vocab():
    toks = byte_chars() + [a + b for a, b in MERGES]
    return toks, {t: i for i, t in enumerate(toks + SPECIALS)}


def special_id(name):
    return vocab()[1][name]


def encode_plain(text):
    """Byte-level ids of text that contains neither merge (checked)."""
    chars = byte_chars()
    s = "".join(chars[b] for b in text.encode())
    for a, b in MERGES:
        assert a + b not in s, text
    ids = vocab()[1]
    return [ids[c] for c in s]


def n_image_tokens():
    return GRID[0] * GRID[1] * GRID[2] // (MERGE * MERGE)


def prompt_ids():
    sp = special_id
    return ([sp("[gMASK]"), sp("<sop>"), sp("<|user|>")] + encode_plain("\n") + [sp("<|begin_of_image|>")] +
            [sp("<|image|>")] * n_image_tokens() + [sp("<|end_of_image|>")] + encode_plain("Describe it.") +
            [sp("<|assistant|>")] + encode_plain("\n"))


def pixel_values():
    n = GRID[0] * GRID[1] * GRID[2]
    return [[((i * PATCH_DIM + j) * 7919 % 1009) / 504.5 - 1.0 for j in range(PATCH_DIM)] for i in range(n)]


def config():
    n_vocab = len(vocab()[1])
    text = dict(vocab_size=n_vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, hidden_act="silu", max_position_embeddings=512, initializer_range=0.02,
                rms_norm_eps=1e-5, use_cache=True, tie_word_embeddings=False, attention_dropout=0.0,
                partial_rotary_factor=0.5,
                rope_parameters=dict(rope_type="default", rope_theta=10000.0, mrope_section=[2, 3, 3],
                                     partial_rotary_factor=0.5),
                image_token_id=special_id("<|image|>"), video_token_id=special_id("<|video|>"),
                model_type="glm4v_text", eos_token_id=[special_id("<|endoftext|>")], pad_token_id=special_id("<|endoftext|>"))
    return dict(architectures=["Glm4vForConditionalGeneration"], model_type="glm4v", text_config=text,
                vision_config=VISION, image_token_id=special_id("<|image|>"), video_token_id=special_id("<|video|>"),
                image_start_token_id=special_id("<|begin_of_image|>"), image_end_token_id=special_id("<|end_of_image|>"),
                video_start_token_id=special_id("<|begin_of_video|>"), video_end_token_id=special_id("<|end_of_video|>"),
                tie_word_embeddings=False, transformers_version="5.17.0")


def tokenizer_json():
    toks, ids = vocab()
    added = [dict(id=ids[s], content=s, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
             for s in SPECIALS]
    return dict(version="1.0", truncation=None, padding=None, added_tokens=added, normalizer=None,
                pre_tokenizer=dict(type="ByteLevel", add_prefix_space=False, trim_offsets=True, use_regex=True),
                post_processor=None, decoder=dict(type="ByteLevel", add_prefix_space=True, trim_offsets=True, use_regex=True),
                model=dict(type="BPE", dropout=None, unk_token=None, continuing_subword_prefix=None, end_of_word_suffix=None,
                           fuse_unk=False, byte_fallback=False, ignore_merges=False,
                           vocab={t: i for i, t in enumerate(toks)}, merges=[[a, b] for a, b in MERGES]))


def tensor_specs():
    """(name, shape) of every Glm4vForConditionalGeneration parameter for config() (checked against the
    model transformers builds in the reference step)."""
    v, t = VISION, config()["text_config"]
    d, ff, out, ctx = v["hidden_size"], v["out_hidden_size"], v["out_hidden_size"], v["intermediate_size"]
    n_pos = (v["image_size"] // v["patch_size"]) ** 2
    s = [("model.visual.patch_embed.proj.weight", [d, 3, TPATCH, PATCH, PATCH]), ("model.visual.patch_embed.proj.bias", [d]),
         ("model.visual.embeddings.position_embedding.weight", [n_pos, d]),
         ("model.visual.post_conv_layernorm.weight", [d]), ("model.visual.post_layernorm.weight", [d]),
         ("model.visual.downsample.weight", [out, d, MERGE, MERGE]), ("model.visual.downsample.bias", [out]),
         ("model.visual.merger.proj.weight", [out, out]), ("model.visual.merger.post_projection_norm.weight", [out]),
         ("model.visual.merger.post_projection_norm.bias", [out]), ("model.visual.merger.gate_proj.weight", [ctx, out]),
         ("model.visual.merger.up_proj.weight", [ctx, out]), ("model.visual.merger.down_proj.weight", [out, ctx])]
    for i in range(v["depth"]):
        p = "model.visual.blocks.%d." % i
        s += [(p + "norm1.weight", [d]), (p + "norm2.weight", [d]), (p + "attn.qkv.weight", [3 * d, d]),
              (p + "attn.qkv.bias", [3 * d]), (p + "attn.proj.weight", [d, d]), (p + "mlp.gate_proj.weight", [ff, d]),
              (p + "mlp.up_proj.weight", [ff, d]), (p + "mlp.down_proj.weight", [d, ff])]
    e, f, nv = t["hidden_size"], t["intermediate_size"], t["vocab_size"]
    hd = e // t["num_attention_heads"]
    q, kv = t["num_attention_heads"] * hd, t["num_key_value_heads"] * hd
    s += [("model.language_model.embed_tokens.weight", [nv, e]), ("model.language_model.norm.weight", [e]),
          ("lm_head.weight", [nv, e])]
    for i in range(t["num_hidden_layers"]):
        p = "model.language_model.layers.%d." % i
        s += [(p + n + ".weight", [e]) for n in ("input_layernorm", "post_attention_layernorm", "post_self_attn_layernorm",
                                                 "post_mlp_layernorm")]
        s += [(p + "self_attn.q_proj.weight", [q, e]), (p + "self_attn.q_proj.bias", [q]),
              (p + "self_attn.k_proj.weight", [kv, e]), (p + "self_attn.k_proj.bias", [kv]),
              (p + "self_attn.v_proj.weight", [kv, e]), (p + "self_attn.v_proj.bias", [kv]),
              (p + "self_attn.o_proj.weight", [e, q]), (p + "mlp.gate_up_proj.weight", [2 * f, e]),
              (p + "mlp.down_proj.weight", [e, f])]
    return s


def stats(name):
    """mean, std of a tensor's uniform values: norms around 1, biases small, matrices 0.1."""
    if name.endswith(".bias"):
        return 0.0, 0.05
    if "norm" in name and name.endswith(".weight"):
        return 1.0, 0.05
    return 0.0, 0.1


def manifest(specs):
    return {"generator": "tests/reference/fixture_weights.py (from tests/reference/make_glm4v_fixture.py)",
            "tensors": [{"name": n, "dtype": "F32", "shape": list(sh), "mean": stats(n)[0], "std": stats(n)[1]}
                        for n, sh in sorted(specs)]}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def spec(folder):
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), config())
    write_json(os.path.join(folder, "preprocessor_config.json"), {
        "image_processor_type": "Glm4vImageProcessor", "processor_class": "Glm4vProcessor", "do_resize": True,
        "do_rescale": True, "do_normalize": True, "do_convert_rgb": True, "rescale_factor": 1 / 255,
        "size": {"shortest_edge": 12544, "longest_edge": 47040000}, "patch_size": PATCH,
        "temporal_patch_size": TPATCH, "merge_size": MERGE,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]})
    write_json(os.path.join(folder, "tokenizer.json"), tokenizer_json())
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "model_max_length": 512, "do_lower_case": False})
    write_json(os.path.join(folder, "weights.json"), manifest(tensor_specs()))


def write_f32(path, rows):
    import struct
    with open(path, "wb") as f:
        for r in rows:
            f.write(struct.pack("<%df" % len(r), *[float(x) for x in r]))


def reference(folder, out):
    import traceback
    import torch
    import transformers
    import fixture_weights
    from transformers import Glm4vForConditionalGeneration
    torch.set_num_threads(8)
    os.makedirs(out, exist_ok=True)
    report = {"transformers": transformers.__version__, "torch": torch.__version__}
    cfg = transformers.AutoConfig.from_pretrained(folder)
    built = Glm4vForConditionalGeneration(cfg)
    names = {k: list(v.shape) for k, v in built.state_dict().items()}
    mine = dict(tensor_specs())
    if names != mine:  # the spec guessed a name or shape wrong: use the model's own list
        report["spec_mismatch"] = {"missing_in_spec": sorted(set(names) - set(mine)),
                                   "extra_in_spec": sorted(set(mine) - set(names)),
                                   "shape": sorted(k for k in names if k in mine and names[k] != mine[k])}
        write_json(os.path.join(folder, "weights.json"), manifest(names.items()))
        write_json(os.path.join(out, "weights.json"), manifest(names.items()))
    fixture_weights.from_manifest(folder)
    model, info = Glm4vForConditionalGeneration.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager",
                                                                output_loading_info=True)
    model.eval()
    report["loading_info"] = {k: sorted(map(str, v)) for k, v in info.items()}
    ids = prompt_ids()
    try:
        from tokenizers import Tokenizer
        tk = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        report["tokenizer_check"] = tk.encode("Describe it.").ids == encode_plain("Describe it.")
    except Exception:
        report["tokenizer_check"] = traceback.format_exc()[-800:]
    pv = torch.tensor(pixel_values(), dtype=torch.float32)
    grid = torch.tensor([list(GRID)], dtype=torch.long)
    inp = torch.tensor([ids])
    captured = {}

    def hook(mod, args, kwargs):
        if "position_ids" in kwargs and kwargs["position_ids"] is not None and "pos" not in captured:
            captured["pos"] = kwargs["position_ids"].detach().clone()

    h = model.model.language_model.register_forward_pre_hook(hook, with_kwargs=True)
    with torch.no_grad():
        vis = model.model.visual(pv, grid_thw=grid)
        cand = [vis] if torch.is_tensor(vis) else [getattr(vis, k, None) for k in ("pooler_output", "last_hidden_state")]
        cand = [c for c in cand if torch.is_tensor(c) and c.dim() == 2 and c.shape[0] == n_image_tokens()]
        write_f32(os.path.join(out, "vision.f32"), cand[0].tolist())
        tt = (inp == special_id("<|image|>")).long()  # mm_token_type_ids (transformers 5): 1 image, 0 text
        logits0 = model(input_ids=inp, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=tt).logits[0]
        pos = captured["pos"]
        h.remove()
        gen = model.generate(input_ids=inp, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=tt, max_new_tokens=N_GEN,
                             min_new_tokens=N_GEN, do_sample=False)
        greedy = gen[0, len(ids):].tolist()
        full = torch.tensor([ids + greedy])
        logits = model(input_ids=full, pixel_values=pv, image_grid_thw=grid,
                       mm_token_type_ids=(full == special_id("<|image|>")).long()).logits[0]
    report["prompt_logits_vs_full_max_diff"] = float((logits[: len(ids)] - logits0).abs().max())
    write_f32(os.path.join(out, "logits.f32"), logits.tolist())
    p = pos[:, 0, :] if pos.dim() == 3 else pos.reshape(pos.shape[0], -1)  # (3 or 4 rows, L)
    report["position_ids_shape"] = list(pos.shape)
    exp = {"architecture": "Glm4vForConditionalGeneration", "grid_thw": list(GRID), "patch_dim": PATCH_DIM,
           "tokens": ids, "n_image_tokens": n_image_tokens(), "image_token": special_id("<|image|>"),
           "text_before": "[gMASK]<sop><|user|>\n<|begin_of_image|>", "text_after": "<|end_of_image|>Describe it.<|assistant|>\n",
           "position_ids": [p[i].tolist()[-len(ids):] for i in range(p.shape[0])], "greedy": greedy,
           "n_vocab": len(vocab()[1]), "n_pos": len(ids) + len(greedy), "vision": "vision.f32", "logits": "logits.f32",
           "reference": report}
    write_json(os.path.join(out, "expected.json"), exp)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "spec":
        spec(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "reference":
        reference(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
