"""quantize.py - `autoglm quantize`: quantizing the F16 synthetic model with --pure gives tensor
bytes identical to the reference implementation's files of the same type, the output loads and
its perplexity is the reference's within 0.2%; the K-quant presets (Q2_K, Q3_K_M, Q4_K_M, Q5_K_M,
Q6_K, default rules) give every tensor the type and the bytes of the reference's file of the
same preset; the default (non-pure) rules keep the output head at higher precision and 1-D
tensors in F32; bad arguments fail clearly.
usage: quantize.py AUTOGLM SHARED"""
import json, os, re, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_edit
import harness

exe, shared = sys.argv[1], sys.argv[2]
models = f"{shared}/reference/models"
tmp = harness.tmpdir("autoglm-quant-")
ref_ppl = {json.loads(l)["model"].rsplit("/", 1)[1]: json.loads(l)["ppl"] for l in open(f"{shared}/reference/perplexity.jsonl")}
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail and not ok else ''}")
    passed += ok
    failed += not ok


for typ in ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1"):
    out = f"{tmp}/{typ}.gguf"
    p = subprocess.run([exe, "quantize", f"{models}/tiny256-f16.gguf", out, typ.upper(), "--pure"], capture_output=True, timeout=300)
    check(f"quantize {typ} exits 0", p.returncode == 0, p.stderr.decode()[-300:])
    if p.returncode:
        continue
    ours, ref = gguf_edit.parse(open(out, "rb").read()), gguf_edit.parse(open(f"{models}/tiny256-{typ}.gguf", "rb").read())
    ref_by_name = {t["name"]: t for t in ref["tensors"]}
    same = sum(1 for a in ours["tensors"] if a["name"] in ref_by_name and a["type"] == ref_by_name[a["name"]]["type"]
               and gguf_edit.tensor_data(ours, a) == gguf_edit.tensor_data(ref, ref_by_name[a["name"]]))
    check(f"{typ}: every tensor's bytes identical to the reference's file", same == len(ref["tensors"]),
          f"{same} of {len(ref['tensors'])} identical")
    p = subprocess.run([exe, "perplexity", out, "-f", f"{shared}/reference/story.txt", "--num-ctx", "128"], capture_output=True, timeout=300)
    m = re.search(rb"PPL = ([0-9.]+)", p.stdout)
    want = ref_ppl[f"tiny256-{typ}.gguf"]
    check(f"{typ}: perplexity within 0.2% of the reference", m and abs(float(m.group(1)) / want - 1) < 0.002,
          f"{m.group(1) if m else p.stderr[-200:]} vs {want}")


def perplexity(path):
    p = subprocess.run([exe, "perplexity", path, "-f", f"{shared}/reference/story.txt", "--num-ctx", "128"], capture_output=True, timeout=300)
    m = re.search(rb"PPL = ([0-9.]+)", p.stdout)
    return float(m.group(1)) if m else None, p.stderr[-200:]


# K-quant presets with their mixes: same types per tensor and same bytes as the reference's file
for preset in ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"):
    out, ref_name = f"{tmp}/{preset}.gguf", f"tiny256-{preset.lower()}.gguf"
    p = subprocess.run([exe, "quantize", f"{models}/tiny256-f16.gguf", out, preset], capture_output=True, timeout=300)
    check(f"quantize {preset} exits 0", p.returncode == 0, p.stderr.decode()[-300:])
    if p.returncode:
        continue
    ours, ref = gguf_edit.parse(open(out, "rb").read()), gguf_edit.parse(open(f"{models}/{ref_name}", "rb").read())
    ref_by_name = {t["name"]: t for t in ref["tensors"]}
    wrong_type = [a["name"].decode() for a in ours["tensors"] if a["type"] != ref_by_name[a["name"]]["type"]]
    check(f"{preset}: every tensor has the reference file's type", not wrong_type and len(ours["tensors"]) == len(ref["tensors"]),
          ", ".join(wrong_type))
    differ = [a["name"].decode() for a in ours["tensors"]
              if gguf_edit.tensor_data(ours, a) != gguf_edit.tensor_data(ref, ref_by_name[a["name"]])]
    check(f"{preset}: every tensor's bytes identical to the reference's file", not differ, ", ".join(differ))
    ftype = {kv[0]: kv[2] for kv in ours["kvs"]}.get(b"general.file_type")
    check(f"{preset}: file_type is the reference's", ftype == {kv[0]: kv[2] for kv in ref["kvs"]}.get(b"general.file_type"), str(ftype))
    got, why = perplexity(out)
    want = ref_ppl[ref_name]
    check(f"{preset}: perplexity within 0.2% of the reference ({got} vs {want})", got is not None and abs(got / want - 1) < 0.002, why)

# --pure K types: every matrix in the one type, loads, and the shared tensors match the mixes' bytes
for typ in ("Q2_K", "Q4_K", "Q6_K"):
    out = f"{tmp}/pure-{typ}.gguf"
    p = subprocess.run([exe, "quantize", f"{models}/tiny256-f16.gguf", out, typ, "--pure"], capture_output=True, timeout=300)
    check(f"quantize {typ} --pure exits 0", p.returncode == 0, p.stderr.decode()[-300:])
    if p.returncode:
        continue
    j = json.loads(subprocess.run([exe, "show", out, "--json"], capture_output=True).stdout)
    types = {t["type"] for t in j["tensors"] if t["name"] != "output_norm.weight" and "norm" not in t["name"]}
    check(f"{typ} --pure: every matrix is {typ}", types == {typ}, str(types))
    got, why = perplexity(out)
    check(f"{typ} --pure: perplexity is finite", got is not None and got < 2000, f"{got} {why}")

# default rules: output head above the base type, norms F32
out = f"{tmp}/mix.gguf"
p = subprocess.run([exe, "quantize", f"{models}/tiny256-f16.gguf", out, "Q4_0"], capture_output=True, timeout=300)
if p.returncode == 0:
    j = json.loads(subprocess.run([exe, "show", out, "--json"], capture_output=True).stdout)
    types = {t["name"]: t["type"] for t in j["tensors"]}
    check("non-pure Q4_0 keeps the output head at higher precision", types["output.weight"] in ("Q6_K", "Q8_0"), types["output.weight"])
    check("non-pure Q4_0 quantizes the blocks", types["blk.0.attn_q.weight"] == "Q4_0")
    check("1-D tensors stay F32", types["output_norm.weight"] == "F32")
    check("file_type is recorded", j["metadata"]["general.file_type"] == 2)
else:
    check("quantize Q4_0 (default rules)", False, p.stderr.decode())

# rows whose length is not a multiple of the block fall back (stories260K: FFN 172 wide)
out = f"{tmp}/stories-q4_0.gguf"
p = subprocess.run([exe, "quantize", f"{shared}/models/stories260K.gguf", out, "q4_0"], capture_output=True, timeout=300)
j = json.loads(subprocess.run([exe, "show", out, "--json"], capture_output=True).stdout) if p.returncode == 0 else {"tensors": []}
types = {t["name"]: t["type"] for t in j["tensors"]}
check("incompatible rows fall back to F16", types.get("blk.0.ffn_down.weight") == "F16" and types.get("blk.0.ffn_up.weight") == "Q4_0", str(types)[:200])
r = subprocess.run([exe, "run", out, "Once upon a time", "--temperature", "0", "--num-predict", "16"], capture_output=True, timeout=60)
check("the quantized stories260K still writes a story", r.returncode == 0 and (b"Lily" in r.stdout or b"girl" in r.stdout), repr(r.stdout))

# K-quants need rows of 256: stories260K (64 wide, FFN 172) falls back to legacy types, then F16
out = f"{tmp}/stories-q4_k_m.gguf"
p = subprocess.run([exe, "quantize", f"{shared}/models/stories260K.gguf", out, "Q4_K_M"], capture_output=True, timeout=300)
j = json.loads(subprocess.run([exe, "show", out, "--json"], capture_output=True).stdout) if p.returncode == 0 else {"tensors": []}
types = {t["name"]: t["type"] for t in j["tensors"]}
check("Q4_K_M on 64-wide rows: Q4_K -> Q5_0, Q6_K -> Q8_0, 172-wide -> F16",
      types.get("blk.0.attn_q.weight") == "Q5_0" and types.get("output.weight") == "Q8_0" and types.get("blk.0.ffn_down.weight") == "F16",
      str(types)[:300])
r = subprocess.run([exe, "run", out, "Once upon a time", "--temperature", "0", "--num-predict", "16"], capture_output=True, timeout=60)
check("the Q4_K_M stories260K still writes a story", r.returncode == 0 and (b"Lily" in r.stdout or b"girl" in r.stdout), repr(r.stdout))

for what, args, rc, msg in [
    ("unknown type", [f"{models}/tiny256-f16.gguf", f"{tmp}/x.gguf", "Q7_X"], 2, "unknown quantization type"),
    ("missing input", [f"{tmp}/none.gguf", f"{tmp}/x.gguf", "Q8_0"], 1, "cannot open"),
    ("output = input", [f"{tmp}/a.gguf", f"{tmp}/a.gguf", "Q8_0"], 2, "overwrite"),
    ("missing type", [f"{models}/tiny256-f16.gguf", f"{tmp}/x.gguf"], 2, "usage"),
]:
    p = subprocess.run([exe, "quantize", *args], capture_output=True, timeout=60)
    check(f"quantize {what}", p.returncode == rc and msg in p.stderr.decode(), f"exit {p.returncode}: {p.stderr.decode()[-200:]}")
check("no partial output left behind", not os.path.exists(f"{tmp}/x.gguf"))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
