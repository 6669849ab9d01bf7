#!/usr/bin/env python3
"""bench_power.py - tokens/s and joules per token of `autoglm serve` in each power mode
(docs/PERFORMANCE.md, "Power modes through the server"). Starts the server on a temporary store
holding MODEL, switches the mode with POST /api/power while it runs, and times generations
(one request at a time, greedy, raw prompt) from the final stats: eval_count / eval_duration
and joules_per_token (null where the machine reports no energy).

usage: bench/bench_power.py AUTOGLM MODEL.gguf [--tokens 128] [--reps 3]
"""
import argparse, json, os, re, subprocess, sys, tempfile, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("exe")
ap.add_argument("model")
ap.add_argument("--tokens", type=int, default=128)
ap.add_argument("--reps", type=int, default=3)
a = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="bench-power-")
env = dict(os.environ, AUTOGLM_MODELS=os.path.join(tmp, "models"), AUTOGLM_KB=os.path.join(tmp, "kb"))
with open(os.path.join(tmp, "Modelfile"), "w") as f:
    f.write(f"FROM {os.path.abspath(a.model)}\n")
subprocess.run([a.exe, "create", "m", "-f", os.path.join(tmp, "Modelfile")], env=env, check=True, stdout=subprocess.DEVNULL)
srv = subprocess.Popen([a.exe, "serve", "--host", "127.0.0.1:0", "--parallel", "1"], env=env, stderr=subprocess.PIPE, text=True)
port = None
for line in srv.stderr:
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if m:
        port = int(m.group(1))
        break
host = f"http://127.0.0.1:{port}"

def post(path, body):
    req = urllib.request.Request(host + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())

try:
    gen = {"model": "m", "prompt": "Once upon a time there was a little girl. " * 12, "raw": True, "stream": False,
           "options": {"num_predict": a.tokens, "temperature": 0}}
    post("/api/generate", dict(gen, options={"num_predict": 8}))  # load and warm up
    print("| mode | threads | batch | prompt t/s | decode t/s | J/token |")
    print("|---|---|---|---|---|---|")
    for mode in ("performance", "balanced", "powersave"):
        p = post("/api/power", {"mode": mode})
        best_pp, best_tg, jpt = 0.0, 0.0, []
        for r in range(a.reps):  # a new first word each time: no prompt prefix cached in the slot
            o = post("/api/generate", dict(gen, prompt=f"{mode} {r}. " + gen["prompt"]))
            if o.get("prompt_eval_duration"):
                best_pp = max(best_pp, o["prompt_eval_count"] / (o["prompt_eval_duration"] / 1e9))
            best_tg = max(best_tg, o["eval_count"] / (o["eval_duration"] / 1e9))
            if o.get("joules_per_token") is not None:
                jpt.append(o["joules_per_token"])
        energy = f"{min(jpt):.4f}" if jpt else "unavailable on this VM"
        print(f"| {mode} | {p['n_threads']} | {p['n_batch']} | {best_pp:.1f} | {best_tg:.1f} | {energy} |", flush=True)
finally:
    srv.terminate()
    srv.wait()
