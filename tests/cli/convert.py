"""convert.py - `autoglm convert` and `autoglm embed` from the command line, on the Hugging Face
fixtures of tests/data/arch (made by tests/reference/make_arch_fixtures.py): every family converts
in every --type and `show` sees its architecture; a sharded checkpoint (index + 2 shards) gives the
same file as the single one; `embed --json` reproduces the reference sentence embeddings; and the
failures are clear: unsupported architecture, missing tensor, missing tokenizer, bad type.
usage: convert.py AUTOGLM SHARED"""
import json, math, os, shutil, struct, subprocess, sys, tempfile

exe = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "data", "arch")
tmp = tempfile.mkdtemp(prefix="autoglm-convert-", dir=os.environ.get("AUTOGLM_TEST_TMP"))
passed = failed = 0
ARCH = {"llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
        "qwen3moe": "qwen3moe", "gemma2": "gemma2", "gemma3": "gemma3", "phi3": "phi3", "glm4": "glm4", "bert": "bert"}


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + str(detail) if detail and not ok else ''}")
    passed += bool(ok)
    failed += not ok


def run(*args, inp=None):
    return subprocess.run([exe, *args], capture_output=True, timeout=300, input=inp)


def show(path):
    p = run("show", path, "--json")
    return json.loads(p.stdout) if p.returncode == 0 else None


# ---- every family, every type
for fam, arch in ARCH.items():
    for typ in ("f32", "f16", "bf16", "q8_0"):
        out = f"{tmp}/{fam}-{typ}.gguf"
        p = run("convert", f"{fixtures}/{fam}", out, "--type", typ)
        check(f"convert {fam} --type {typ}", p.returncode == 0, p.stderr.decode()[-300:])
    j = show(f"{tmp}/{fam}-q8_0.gguf")
    check(f"{fam}: show reports architecture {arch}", j and j["metadata"]["general.architecture"] == arch)
    if j and fam != "bert":
        types = {t["name"]: t["type"] for t in j["tensors"]}
        check(f"{fam}: q8_0 matrices, F32 norms", types.get("output_norm.weight") == "F32"
              and any(t == "Q8_0" for t in types.values()), types)
        check(f"{fam}: chat template carried over", "tokenizer.chat_template" in j["metadata"])

j = show(f"{tmp}/qwen3-f32.gguf")
names = {t["name"] for t in j["tensors"]} if j else set()
check("qwen3: per-head Q/K norms", {"blk.0.attn_q_norm.weight", "blk.1.attn_k_norm.weight"} <= names, sorted(names)[:8])
j = show(f"{tmp}/qwen3moe-f32.gguf")
shapes = {t["name"]: t["shape"] for t in j["tensors"]} if j else {}
check("qwen3moe: experts stacked in 3-D tensors", shapes.get("blk.0.ffn_gate_exps.weight") == [64, 64, 4], shapes.get("blk.0.ffn_gate_exps.weight"))
check("qwen3moe: expert keys", j and j["metadata"].get("qwen3moe.expert_count") == 4 and j["metadata"].get("qwen3moe.expert_used_count") == 2)
j = show(f"{tmp}/gemma2-f32.gguf")
check("gemma2: soft-capping and sliding window keys", j and j["metadata"].get("gemma2.attn_logit_softcapping") == 5.0
      and j["metadata"].get("gemma2.final_logit_softcapping") == 3.0 and j["metadata"].get("gemma2.attention.sliding_window") == 8)
j = show(f"{tmp}/mistral-f32.gguf")
check("mistral: sliding window key", j and j["metadata"].get("llama.attention.sliding_window") == 8)
j = show(f"{tmp}/phi3-f32.gguf")
shapes = {t["name"]: t["shape"] for t in j["tensors"]} if j else {}
check("phi3: fused QKV and gate-up", shapes.get("blk.0.attn_qkv.weight") == [64, 128] and shapes.get("blk.0.ffn_up.weight") == [64, 256], shapes)


# ---- sharded checkpoint: an index and two shards give the same file
def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    return hdr, b[8 + n:]


def write_st(path, tensors):  # tensors: name -> (dtype, shape, bytes)
    hdr, off, blobs = {}, 0, []
    for name, (dt, shape, data) in tensors.items():
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def tensors_of(path):
    hdr, data = read_st(path)
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in hdr.items() if k != "__metadata__"}


src = f"{fixtures}/llama"
ts = tensors_of(f"{src}/model.safetensors")
sharded = f"{tmp}/llama-sharded"
os.makedirs(sharded, exist_ok=True)
for f in os.listdir(src):
    if f != "model.safetensors" and os.path.isfile(f"{src}/{f}"):
        shutil.copy(f"{src}/{f}", sharded)
names = sorted(ts)
parts = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
for fn, ns in parts.items():
    write_st(f"{sharded}/{fn}", {n: ts[n] for n in ns})
json.dump({"metadata": {}, "weight_map": {n: fn for fn, ns in parts.items() for n in ns}}, open(f"{sharded}/model.safetensors.index.json", "w"))
p1 = run("convert", src, f"{tmp}/single.gguf", "--name", "x")
p2 = run("convert", sharded, f"{tmp}/sharded.gguf", "--name", "x")
check("sharded checkpoint converts", p2.returncode == 0, p2.stderr.decode()[-300:])
check("sharded == single-file output", p1.returncode == 0 and p2.returncode == 0 and
      open(f"{tmp}/single.gguf", "rb").read() == open(f"{tmp}/sharded.gguf", "rb").read())

# ---- embeddings from the command line
exp = json.load(open(f"{fixtures}/bert/expected.json"))
ref = open(f"{fixtures}/bert/embeddings.bin", "rb").read()
dim = exp["dim"]
refs = [struct.unpack(f"<{dim}f", ref[i * dim * 4:(i + 1) * dim * 4]) for i in range(len(exp["texts"]))]
p = run("embed", f"{tmp}/bert-f32.gguf", *exp["texts"], "--json")
check("embed --json exits 0", p.returncode == 0, p.stderr.decode()[-300:])
if p.returncode == 0:
    got = json.loads(p.stdout)["embeddings"]
    cos = [sum(a * b for a, b in zip(g, r)) / math.sqrt(sum(a * a for a in g) * sum(b * b for b in r)) for g, r in zip(got, refs)]
    check("embed: one vector per text, model's width", len(got) == len(refs) and all(len(g) == dim for g in got))
    check("embed: reference sentence embeddings within 1e-4 cosine", min(cos) > 1 - 1e-4, cos)
    check("embed: L2-normalized", all(abs(math.sqrt(sum(a * a for a in g)) - 1) < 1e-5 for g in got))
p = run("embed", f"{tmp}/bert-f32.gguf", inp="\n".join(exp["texts"]).encode())
check("embed: texts from stdin lines", p.returncode == 0 and len(p.stdout.decode().strip().split("\n")) == len(refs))
p = run("embed", f"{tmp}/llama-f32.gguf", "hi")
check("embed with a decoder model fails clearly", p.returncode == 1 and b"not an embedding model" in p.stderr, p.stderr)

# ---- clear errors
bad = f"{tmp}/falcon"
os.makedirs(bad, exist_ok=True)
json.dump({"architectures": ["FalconForCausalLM"], "hidden_size": 64}, open(f"{bad}/config.json", "w"))
p = run("convert", bad, f"{tmp}/bad.gguf")
check("unsupported architecture: exit 1, named", p.returncode == 1 and b"FalconForCausalLM" in p.stderr and b"not supported" in p.stderr, p.stderr)
p = run("convert", f"{tmp}/no-such-dir", f"{tmp}/bad.gguf")
check("missing directory: exit 1, config.json named", p.returncode == 1 and b"config.json" in p.stderr, p.stderr)
p = run("convert", f"{fixtures}/llama", f"{tmp}/bad.gguf", "--type", "q4_k")
check("unknown --type: exit 2", p.returncode == 2 and b"q4_k" in p.stderr, p.stderr)
missing = f"{tmp}/llama-missing"
shutil.copytree(src, missing, dirs_exist_ok=True)
write_st(f"{missing}/model.safetensors", {n: t for n, t in ts.items() if n != "model.layers.1.self_attn.k_proj.weight"})
p = run("convert", missing, f"{tmp}/bad.gguf")
check("missing tensor: exit 1, the GGUF tensor named", p.returncode == 1 and b"blk.1.attn_k.weight" in p.stderr, p.stderr)
check("no output file left behind", not os.path.exists(f"{tmp}/bad.gguf"))
extra = f"{tmp}/llama-extra"
shutil.copytree(src, extra, dirs_exist_ok=True)
write_st(f"{extra}/model.safetensors", dict(ts, **{"model.layers.0.self_attn.rel_bias.weight": ("F16", [2], b"\0" * 4)}))
p = run("convert", extra, f"{tmp}/bad.gguf")
check("unknown tensor layout: exit 1, the HF tensor named", p.returncode == 1 and b"model.layers.0.self_attn.rel_bias.weight" in p.stderr, p.stderr)
notok = f"{tmp}/llama-notok"
shutil.copytree(src, notok, dirs_exist_ok=True)
os.remove(f"{notok}/tokenizer.json")
p = run("convert", notok, f"{tmp}/bad.gguf")
check("missing tokenizer.json: exit 1, named", p.returncode == 1 and b"tokenizer.json" in p.stderr, p.stderr)

shutil.rmtree(tmp, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
