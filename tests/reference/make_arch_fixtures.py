"""make_arch_fixtures.py - tiny random-weight Hugging Face models, one per architecture family,
with the reference library's outputs, for tests/test_arch.c and tests/cli/convert.py.

Runs where PyTorch and transformers are installed (the GPU machine; it computes on the CPU in
float32 so that no TF32 or reduced-precision kernel blurs the reference). Nothing is downloaded:
every model is made from a config with torch.manual_seed, every tokenizer is trained here with the
`tokenizers` library on text from the Python standard library.

usage: python3 make_arch_fixtures.py OUT_DIR      (OUT_DIR = tests/data/arch; the SentencePiece tokenizer
       fixture goes to OUT_DIR/../spm; nomic-bert comes from make_nomic_fixture.py)
For each family FAMILY it writes OUT_DIR/FAMILY/:
  config.json, model.safetensors (F16 weights), tokenizer.json, tokenizer_config.json  (the HF dir)
  expected.json   {"family", "architecture", "transformers", "tokens": prompt ids (16),
                   "greedy": 32 greedy ids after the prompt, "n_vocab", "n_pos": 48,
                   "logits": "logits.f32"}  (decoders)
                  {"texts": [...], "ids": [[...]], "dim", "embeddings": "embeddings.f32"}  (bert)
  logits.f32      f32 little-endian (n_pos, n_vocab): logits of every position of prompt+greedy
  embeddings.f32  f32 little-endian (n_texts, dim): mean-pooled, L2-normalized sentence embeddings
and OUT_DIR/summary.json with the versions, the tensor names of each checkpoint and any failure.
The weights are rounded to F16 before the reference runs, so the F16 checkpoint holds exactly the
weights that produced the expected outputs (converted to F32 they reproduce them bit for bit).

(Superseded for the weights: model.safetensors is no longer kept in git. The build generates it
with tests/reference/fixture_weights.py from each folder's weights.json (the tensors' names, shapes
and value statistics of this script's models), and tests/reference/regen_arch_expected.py
recomputed the expected outputs with transformers from those generated weights. This script stays
as the record of how the configs, tokenizers and prompts were made.)
"""
import json
import os
import struct
import sys
import traceback

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

OUT = sys.argv[1] if len(sys.argv) > 1 else "arch"
N_PROMPT, N_GEN = 16, 32
COMMON = dict(vocab_size=0, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
              initializer_range=0.1, tie_word_embeddings=False)
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def corpus():
    import this  # noqa: F401  (prints the Zen of Python; its text is in this.s, rot13)
    import codecs
    texts = [codecs.decode(this.s, "rot13")]
    for mod in (json, os, struct, traceback):
        texts.append(mod.__doc__ or "")
    return [t for t in texts if t]


def bpe_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    return tok


def wordpiece_tokenizer():
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=320, special_tokens=specials)
    tok.train_from_iterator(corpus(), trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return tok


def save_tokenizer(tok, path, bert):
    from transformers import PreTrainedTokenizerFast
    if bert:
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                       cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    else:
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                       eos_token="<|im_end|>", pad_token="<|endoftext|>")
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)


def write_f32(path, rows):
    with open(path, "wb") as f:
        for r in rows:
            f.write(struct.pack("<%df" % len(r), *[float(x) for x in r]))


def round_to_f16(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def save_model(model, path):
    model.half().save_pretrained(path, safe_serialization=True)
    model.float()


def tensor_names(path):
    from safetensors import safe_open
    with safe_open(os.path.join(path, "model.safetensors"), "pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


def decoder_family(name, cfg_cls, extra, n_vocab, tok):
    from transformers import AutoModelForCausalLM
    torch.manual_seed(1234)
    kw = dict(COMMON)
    kw.update(vocab_size=n_vocab, bos_token_id=0, eos_token_id=2, pad_token_id=0)
    kw.update(extra)
    cfg = cfg_cls(**kw)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float()
    model.eval()
    round_to_f16(model)
    path = os.path.join(OUT, name)
    os.makedirs(path, exist_ok=True)
    g = torch.Generator().manual_seed(42)
    ids = torch.randint(3, n_vocab, (N_PROMPT,), generator=g).tolist()
    seq = list(ids)
    with torch.no_grad():
        for _ in range(N_GEN):  # greedy without a cache: every step recomputes the whole sequence
            logits = model(torch.tensor([seq])).logits[0, -1]
            seq.append(int(torch.argmax(logits)))
        logits = model(torch.tensor([seq])).logits[0]
    write_f32(os.path.join(path, "logits.f32"), logits.tolist())
    save_model(model, path)
    save_tokenizer(tok, path, bert=False)
    exp = {"family": name, "architecture": cfg.architectures[0] if cfg.architectures else type(model).__name__,
           "transformers": transformers.__version__, "tokens": ids, "greedy": seq[N_PROMPT:],
           "n_vocab": n_vocab, "n_pos": len(seq), "logits": "logits.f32"}
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
    return tensor_names(path)


def bert_family(tok):
    from transformers import BertConfig, BertModel
    torch.manual_seed(1234)
    n_vocab = tok.get_vocab_size()
    cfg = BertConfig(vocab_size=n_vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=256, type_vocab_size=2,
                     initializer_range=0.1, pad_token_id=0)
    model = BertModel(cfg, add_pooling_layer=False)
    model.config.architectures = ["BertModel"]
    model.eval()
    round_to_f16(model)
    path = os.path.join(OUT, "bert")
    os.makedirs(path, exist_ok=True)
    texts = ["hello world", "Beautiful is better than ugly.",
             "Errors should never pass silently, unless explicitly silenced."]
    all_ids, embs = [], []
    with torch.no_grad():
        for t in texts:
            ids = tok.encode(t).ids
            h = model(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).last_hidden_state[0]
            e = h.mean(0)
            e = e / e.norm()
            all_ids.append(ids)
            embs.append(e.tolist())
    write_f32(os.path.join(path, "embeddings.f32"), embs)
    save_model(model, path)
    save_tokenizer(tok, path, bert=True)
    with open(os.path.join(path, "modules.json"), "w") as f:  # sentence-transformers layout: mean pooling
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
    os.makedirs(os.path.join(path, "1_Pooling"), exist_ok=True)
    with open(os.path.join(path, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}, f)
    exp = {"family": "bert", "architecture": "BertModel", "transformers": transformers.__version__,
           "texts": texts, "ids": all_ids, "dim": 64, "pooling": "mean", "normalize": True,
           "embeddings": "embeddings.f32"}
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
    return tensor_names(path)


def spm_fixture():
    """tests/data/spm: a SentencePiece BPE model with byte fallback (tokenizer.model, tokenizer.vocab) trained
    here, and sentencepiece's ids (without BOS) for a few texts. Only tokenizer.vocab and expected.json are
    kept in git: the build writes tokenizer.model from tokenizer.vocab (spm_model.py, via fixture_weights.py)."""
    import codecs
    import this  # noqa: F401
    import sentencepiece as spm
    path = os.path.join(OUT, "..", "spm")
    os.makedirs(path, exist_ok=True)
    texts = [codecs.decode(this.s, "rot13"), json.__doc__, os.__doc__, traceback.__doc__]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_prefix=os.path.join(path, "tokenizer"),
                                   vocab_size=600, hard_vocab_limit=False, model_type="bpe", byte_fallback=True,
                                   character_coverage=1.0)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(path, "tokenizer.model"))
    words = ["Hello world", "Beautiful is better than ugly.", " leading space", "\u00fcn\u00efc\u00f6d\u00e9 \U0001F600 bytes",
             "two  spaces\nnew line", "Errors should never pass silently."]
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump({"texts": words, "ids": [sp.encode(w) for w in words], "pieces": sp.get_piece_size(),
                   "reference": "sentencepiece SentencePieceProcessor.encode, without BOS"}, f, indent=1)


def main():
    torch.set_num_threads(4)
    os.makedirs(OUT, exist_ok=True)
    bpe = bpe_tokenizer()
    nv = bpe.get_vocab_size()
    T = transformers
    fams = [
        ("llama", "LlamaConfig", dict(rms_norm_eps=1e-5, rope_theta=10000.0)),
        ("mistral", "MistralConfig", dict(rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=8)),
        ("qwen2", "Qwen2Config", dict(rms_norm_eps=1e-6, rope_theta=1000000.0, use_sliding_window=False)),
        ("qwen3", "Qwen3Config", dict(rms_norm_eps=1e-6, rope_theta=1000000.0, head_dim=16, use_sliding_window=False)),
        ("qwen3moe", "Qwen3MoeConfig", dict(rms_norm_eps=1e-6, rope_theta=1000000.0, head_dim=16, num_experts=4,
                                            num_experts_per_tok=2, moe_intermediate_size=64, norm_topk_prob=True,
                                            decoder_sparse_step=1, mlp_only_layers=[])),
        ("mixtral", "MixtralConfig", dict(rms_norm_eps=1e-5, rope_theta=1000000.0, num_local_experts=4,
                                          num_experts_per_tok=2, sliding_window=None)),
        ("gemma2", "Gemma2Config", dict(rms_norm_eps=1e-6, head_dim=16, query_pre_attn_scalar=16, sliding_window=8,
                                        attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
                                        tie_word_embeddings=True, hidden_activation="gelu_pytorch_tanh")),
        ("gemma3", "Gemma3TextConfig", dict(rms_norm_eps=1e-6, head_dim=16, query_pre_attn_scalar=16, sliding_window=8,
                                            rope_theta=1000000.0, rope_local_base_freq=10000.0,
                                            tie_word_embeddings=True, hidden_activation="gelu_pytorch_tanh")),
        ("phi3", "Phi3Config", dict(rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=None,
                                    original_max_position_embeddings=256)),
        # long-context rotary scaling: the original context (8) is below the prompt, so the reference
        # uses the long factors for every step, as our sessions of more than 8 positions do
        ("phi3_longrope", "Phi3Config", dict(rms_norm_eps=1e-5, sliding_window=None, original_max_position_embeddings=8,
                                             rope_parameters=dict(rope_type="longrope", rope_theta=10000.0,
                                                                  short_factor=[1 + i / 10 for i in range(8)],
                                                                  long_factor=[2.0 ** (i / 2) for i in range(8)],
                                                                  original_max_position_embeddings=8))),
        ("qwen2_yarn", "Qwen2Config", dict(rms_norm_eps=1e-6, use_sliding_window=False,
                                           rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=4.0,
                                                                original_max_position_embeddings=64))),
        ("qwen2_swa", "Qwen2Config", dict(rms_norm_eps=1e-6, rope_theta=10000.0, use_sliding_window=True, sliding_window=8,
                                          max_window_layers=1)),
        ("glm4", "Glm4Config", dict(rms_norm_eps=1e-5, rope_theta=10000.0, head_dim=16, partial_rotary_factor=0.5,
                                    attention_bias=True)),
    ]
    summary = {"torch": torch.__version__, "transformers": transformers.__version__, "families": {}}
    for name, cls_name, extra in fams:
        try:
            cls = getattr(T, cls_name)
            summary["families"][name] = {"ok": True, "tensors": decoder_family(name, cls, extra, nv, bpe)}
        except Exception:
            summary["families"][name] = {"ok": False, "error": traceback.format_exc()[-2000:]}
        print(name, summary["families"][name]["ok"], flush=True)
    try:
        summary["families"]["bert"] = {"ok": True, "tensors": bert_family(wordpiece_tokenizer())}
    except Exception:
        summary["families"]["bert"] = {"ok": False, "error": traceback.format_exc()[-2000:]}
    print("bert", summary["families"]["bert"]["ok"], flush=True)
    try:
        spm_fixture()
    except Exception:
        summary["spm_error"] = traceback.format_exc()[-2000:]
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
