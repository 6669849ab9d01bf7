#!/usr/bin/env python3
"""bench_serve.py - load test of `autoglm serve` with stdlib clients (threads, http.client).

Creates a temporary store with the model, starts the server, then measures:
  1. single stream: one streaming client, generation tokens/s (eval_count / wall time);
  2. concurrency: C concurrent streaming clients (default 32) against --parallel P (default 8):
     errors (must be 0) and aggregate generated tokens/s, compared with 1.;
  3. priorities: interactive time-to-first-token (first streamed chunk) over R requests with the
     server idle, then again while B batch clients ("priority": "batch") keep it saturated;
     p50/p99 of each and their ratio.
usage: bench_serve.py AUTOGLM MODEL.gguf [--clients 32] [--parallel 8] [--tokens 64] [--threads N]
                      [--ttft-requests 30] [--batch-clients 16]"""
import argparse, http.client, json, os, re, signal, statistics, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("exe")
ap.add_argument("model")
ap.add_argument("--clients", type=int, default=32)
ap.add_argument("--parallel", type=int, default=8)
ap.add_argument("--tokens", type=int, default=64)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--ttft-requests", type=int, default=30)
ap.add_argument("--batch-clients", type=int, default=16)
ap.add_argument("--num-ctx", type=int, default=512)
a = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="autoglm-bench-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")
open(f"{tmp}/Modelfile", "w").write(f"FROM {os.path.abspath(a.model)}\n")
subprocess.run([a.exe, "create", "m", "-f", f"{tmp}/Modelfile"], env=env, check=True, capture_output=True)
extra = ["--threads", str(a.threads)] if a.threads else []
srv = subprocess.Popen([a.exe, "serve", "--host", "127.0.0.1:0", "--parallel", str(a.parallel), "--max-queue", "256",
                        "--num-ctx", str(a.num_ctx), *extra], env=env, stderr=subprocess.PIPE, text=True)
port = int(re.search(r":(\d+) ", srv.stderr.readline()).group(1))
threading.Thread(target=lambda: srv.stderr.read(), daemon=True).start()
PROMPTS = ["Once upon a time", "The little dog", "Lily and Ben went", "One day a bird", "The sun was hot and"]


def stream(prompt, tokens, priority=None, seed=0):
    """One streaming /api/generate: (ttft seconds, eval_count, wall seconds, error or None)."""
    body = {"model": "m", "prompt": prompt, "raw": True, "stream": True,
            "options": {"num_predict": tokens, "temperature": 0.8, "seed": seed}}
    if priority:
        body["priority"] = priority
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("POST", "/api/generate", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            return None, 0, 0, f"HTTP {r.status}: {r.read()[:200]}"
        ttft, last = None, None
        for line in r:
            if not line.strip():
                continue
            o = json.loads(line)
            if "error" in o:
                return None, 0, 0, o["error"]
            if ttft is None and o.get("response"):
                ttft = time.perf_counter() - t0
            last = o
        c.close()
        if not last or not last.get("done"):
            return None, 0, 0, "no final object"
        return ttft, last["eval_count"], time.perf_counter() - t0, None
    except Exception as e:  # noqa: BLE001 - any failure counts as an error
        return None, 0, 0, repr(e)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


try:
    stream("warm up", 8)
    # 1. one stream
    runs = [stream(PROMPTS[i % 5], a.tokens, seed=i) for i in range(3)]
    single = max(r[1] / r[2] for r in runs)
    print(f"single stream: {single:.1f} tok/s (best of 3, {a.tokens} tokens)")

    # 2. concurrency
    results = []
    lock = threading.Lock()

    def client(i):
        r = stream(PROMPTS[i % 5], a.tokens, seed=i)
        with lock:
            results.append(r)

    t0 = time.perf_counter()
    ths = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    wall = time.perf_counter() - t0
    errors = [r[3] for r in results if r[3]]
    total = sum(r[1] for r in results)
    agg = total / wall
    print(f"{a.clients} clients, --parallel {a.parallel}: {len(errors)} errors, {total} tokens in {wall:.2f} s = "
          f"{agg:.1f} tok/s aggregate = {agg / single:.2f}x a single stream")
    for e in errors[:5]:
        print("  error:", e)

    # 3. interactive TTFT, idle then under batch load
    def ttfts(n):
        out = []
        for i in range(n):
            r = stream(PROMPTS[i % 5], 4, seed=1000 + i)
            if r[0] is not None:
                out.append(r[0])
            time.sleep(0.02)
        return out

    idle = ttfts(a.ttft_requests)
    stop = threading.Event()
    batch_done = [0]

    def batch_client(i):
        while not stop.is_set():
            r = stream(PROMPTS[i % 5], a.tokens, priority="batch", seed=i)
            if not r[3]:
                batch_done[0] += 1

    bths = [threading.Thread(target=batch_client, args=(i,)) for i in range(a.batch_clients)]
    [t.start() for t in bths]
    time.sleep(2.0)  # let the batch work fill the slots
    st, text = None, None
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    busy = re.search(r"^autoglm_kv_slots_in_use (\d+)", text, re.M).group(1)
    queued = re.search(r"^autoglm_queue_depth (\d+)", text, re.M).group(1)
    loaded = ttfts(a.ttft_requests)
    stop.set()
    [t.join() for t in bths]
    i50, i99, l50, l99 = pct(idle, 50), pct(idle, 99), pct(loaded, 50), pct(loaded, 99)
    print(f"interactive TTFT idle: p50 {i50 * 1e3:.1f} ms, p99 {i99 * 1e3:.1f} ms ({len(idle)} requests)")
    print(f"interactive TTFT with {a.batch_clients} batch clients saturating ({busy} slots busy, {queued} queued): "
          f"p50 {l50 * 1e3:.1f} ms, p99 {l99 * 1e3:.1f} ms = {l99 / i99:.2f}x idle p99 ({batch_done[0]} batch requests done)")
finally:
    srv.send_signal(signal.SIGTERM)
    srv.wait(timeout=60)
