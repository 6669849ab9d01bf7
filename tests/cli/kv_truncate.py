"""kv_truncate.py - the quantized KV cache and prompts longer than the context.
KV: `perplexity --kv-type q8_0` within 0.5% of the f16 cache on the shared tiny256 references
(q4_0 within 2%), q8_0/q4_0 refused for a head size not a multiple of 32 (stories260K: 8),
`run --verbose` and /api/ps report the bytes per token. Truncation: `run` exits 1 with the token
counts unless --truncate; the server answers 400 with the counts unless "truncate": true, which
keeps the newest tokens and reports "truncated" in the final stats.
usage: kv_truncate.py AUTOGLM SHARED"""
import json, os, re, signal, subprocess, sys, threading

import harness
from harness import check, failures

exe, shared = sys.argv[1], sys.argv[2]
story = f"{shared}/reference/story.txt"
tmp = harness.tmpdir("autoglm-kv-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")
env.pop("AUTOGLM_KV_CACHE_TYPE", None)


def cli(*args, rc=0):
    p = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)
    check(p.returncode == rc, f"autoglm {' '.join(args)}: exit {p.returncode} (want {rc}): {p.stderr.strip()[-300:]}")
    return p


def ppl(model, kv):
    p = cli("perplexity", model, "-f", story, "--num-ctx", "128", "--threads", "2", "--kv-type", kv)
    m = re.search(r"^PPL = ([0-9.]+)$", p.stdout, re.M)
    return float(m.group(1)) if m else float("nan")


# ---------------------------------------------------------------- KV cache types
for name in ("tiny256-f16", "tiny256-q8_0"):
    model = f"{shared}/reference/models/{name}.gguf"
    base = ppl(model, "f16")
    for kv, tol in (("q8_0", 0.005), ("q4_0", 0.02)):
        got = ppl(model, kv)
        rel = abs(got / base - 1)
        print(f"{name}: PPL f16 cache {base:.4f}, {kv} cache {got:.4f} ({rel * 100:.3f}% off, limit {tol * 100:.1f}%)")
        check(rel <= tol, f"{name} {kv}: {got} vs {base}")
stories = f"{shared}/models/stories260K.gguf"
p = cli("perplexity", stories, "-f", story, "--num-ctx", "128", "--kv-type", "q8_0", rc=1)
check("multiple of 32" in p.stderr and "is 8" in p.stderr, f"head size refusal: {p.stderr}")
p = cli("run", stories, "Once", "--kv-type", "q7", "--num-predict", "2", rc=1)
check("unknown KV cache type" in p.stderr, f"unknown type: {p.stderr}")
tiny = f"{shared}/reference/models/tiny256-q8_0.gguf"
sizes = {}
for kv in ("f32", "f16", "q8_0", "q4_0"):
    p = cli("run", tiny, "hello", "--raw", "--num-predict", "3", "--temperature", "0", "--verbose", "--kv-type", kv)
    m = re.search(r"kv cache: +(\S+), (\d+) bytes/token", p.stderr)
    sizes[kv] = int(m.group(2)) if m else 0
check(sizes["f32"] == 2 * sizes["f16"] and sizes["f16"] * 34 == sizes["q8_0"] * 64 and sizes["f16"] * 18 == sizes["q4_0"] * 64,
      f"bytes per token: {sizes}")

# a store model's own KV cache type (PARAMETER kv_type), under the --kv-type flag; a bad value is refused
open(f"{tmp}/Modelfile.kv", "w").write(f"FROM {tiny}\nPARAMETER kv_type q4_0\n")
cli("create", "tinykv", "-f", f"{tmp}/Modelfile.kv")
p = cli("run", "tinykv", "hello", "--raw", "--num-predict", "2", "--temperature", "0", "--verbose")
check(re.search(r"kv cache: +q4_0,", p.stderr), f"PARAMETER kv_type: {p.stderr[-300:]}")
p = cli("run", "tinykv", "hello", "--raw", "--num-predict", "2", "--temperature", "0", "--verbose", "--kv-type", "q8_0")
check(re.search(r"kv cache: +q8_0,", p.stderr), f"--kv-type over PARAMETER kv_type: {p.stderr[-300:]}")

# ---------------------------------------------------------------- run: no silent truncation
long = "Once upon a time " * 60
p = cli("run", stories, long, "--raw", "--num-ctx", "64", "--num-predict", "2", rc=1)
check(re.search(r"the prompt is \d+ tokens", p.stderr) and "--truncate" in p.stderr, f"run: too long: {p.stderr}")
p = cli("run", stories, long, "--raw", "--num-ctx", "64", "--num-predict", "2", "--truncate")
check("dropped its first" in p.stderr, f"run --truncate: {p.stderr}")

# ---------------------------------------------------------------- the server
open(f"{tmp}/Modelfile", "w").write(f"FROM {tiny}\nPARAMETER temperature 0\n")
cli("create", "tiny", "-f", f"{tmp}/Modelfile")
srv = subprocess.Popen([exe, "serve", "--host", "127.0.0.1:0", "--kv-type", "q8_0", "--num-ctx", "64"], env=env,
                       stderr=subprocess.PIPE, text=True, preexec_fn=harness.die_with_parent)
m = re.search(r"listening on 127\.0\.0\.1:(\d+)", srv.stderr.readline())
if not m:
    srv.kill()
    sys.exit("server did not start")
port = int(m.group(1))
threading.Thread(target=lambda: sys.stderr.write(srv.stderr.read()), daemon=True).start()


def request(method, path, body=None):
    status, _, text = harness.http_request(port, method, path, body, timeout=120)
    return status, text


try:
    st, body = request("POST", "/api/generate", {"model": "tiny", "prompt": long, "raw": True, "stream": False})
    check(st == 400 and re.search(r"the prompt is \d+ tokens, the context 64", body), f"generate too long: {st} {body}")
    st, body = request("POST", "/v1/completions", {"model": "tiny", "prompt": long, "max_tokens": 3})
    check(st == 400 and "the context 64" in body, f"openai too long: {st} {body}")
    st, body = request("POST", "/api/generate", {"model": "tiny", "prompt": long, "raw": True, "stream": False,
                                                 "truncate": True, "options": {"num_predict": 4}})
    j = json.loads(body) if st == 200 else {}
    check(st == 200 and j.get("truncated", 0) > 0 and j.get("prompt_eval_count", 99) <= 60,
          f"generate truncate: {st} {body[:300]}")
    st, body = request("POST", "/api/generate", {"model": "tiny", "prompt": "hello", "raw": True, "stream": False,
                                                 "options": {"num_predict": 2}})
    check(st == 200 and "truncated" not in json.loads(body), f"short prompt: {st} {body[:200]}")
    st, body = request("GET", "/api/ps")
    ms = json.loads(body)["models"] if st == 200 else []
    check(ms and ms[0].get("kv_type") == "q8_0" and ms[0].get("kv_bytes_per_token") == sizes["q8_0"], f"/api/ps: {body}")
    p = subprocess.run([exe, "ps"], env=dict(env, AUTOGLM_HOST=f"127.0.0.1:{port}"), capture_output=True, text=True, timeout=60)
    check(f"{sizes['q8_0']} B q8_0" in p.stdout, f"autoglm ps: {p.stdout} {p.stderr}")
    # a model with PARAMETER kv_type q4_0 on a q8_0 server: its sessions use its own type; a request cannot change it
    for opts in ({"num_predict": 2}, {"num_predict": 2, "kv_type": "f32"}):
        st, body = request("POST", "/api/generate", {"model": "tinykv", "prompt": "hello", "raw": True, "stream": False,
                                                     "options": opts})
        check(st == 200 and json.loads(body).get("eval_count", 0) >= 1, f"PARAMETER kv_type model: {st} {body[:200]}")
    st, body = request("POST", "/api/generate", {"model": "tinykv", "prompt": "hello", "options": {"kv_type": "q9"}})
    check(st == 400 and "kv_type" in body, f"bad kv_type option: {st} {body[:200]}")
finally:
    srv.send_signal(signal.SIGTERM)
    srv.wait(timeout=60)

print(f"{len(failures)} failure(s)" if failures else "ok")
sys.exit(1 if failures else 0)
