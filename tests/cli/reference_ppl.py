"""reference_ppl.py - `autoglm perplexity` against the reference values in
$SHARED/reference/perplexity.jsonl: within 0.05% for stories260K and F16/BF16, 0.2% for the
quantized types. Models of types the engine does not compute yet must fail with a clear
'not supported' error (exit 1), never crash.
usage: reference_ppl.py AUTOGLM SHARED"""
import json, re, subprocess, sys

exe, shared = sys.argv[1], sys.argv[2]
SUPPORTED = ("stories260K", "-f16", "-bf16", "-q8_0", "-q4_0", "-q4_1", "-q5_0", "-q5_1",
             "-q2_k", "-q3_k_m", "-q4_k_m", "-q5_k_m", "-q6_k")
failed = passed = 0
for line in open(f"{shared}/reference/perplexity.jsonl"):
    r = json.loads(line)
    model = f"{shared}/{r['model'].removeprefix('shared/')}"
    text = f"{shared}/{r['file'].removeprefix('shared/')}"
    p = subprocess.run([exe, "perplexity", model, "-f", text, "--num-ctx", str(r["num_ctx"]), "--threads", "2"],
                       capture_output=True, timeout=600)
    name = model.rsplit("/", 1)[1]
    if not any(s in name for s in SUPPORTED):
        ok = p.returncode == 1 and b"not supported" in p.stderr
        print(f"{'ok  ' if ok else 'FAIL'} {name}: unsupported type -> exit {p.returncode}: {p.stderr.decode().strip()[-120:]}")
    else:
        m = re.search(rb"^PPL = ([0-9.]+)$", p.stdout, re.M)
        got = float(m.group(1)) if m else float("nan")
        tol = 0.0005 if any(s in name for s in ("stories260K", "-f16", "-bf16")) else 0.002
        rel = abs(got / r["ppl"] - 1) if m else float("inf")
        ok = p.returncode == 0 and rel <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {name}: PPL {got:.4f} vs reference {r['ppl']:.4f} "
              f"({rel * 100:.4f}% off, limit {tol * 100:.2f}%)")
        if not ok and p.returncode:
            print(p.stderr.decode()[-500:])
    passed += ok
    failed += not ok
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
