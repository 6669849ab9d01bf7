"""bench_prefix.py - what the server's prefix cache saves: the time to read a prompt whose long
system prompt an earlier request computed, against a server that never saw it.

Starts `autoglm serve --parallel 1` twice on a temporary store holding MODEL:
  fresh   B = system + question B                      (nothing cached)
  cached  A = system + question A, then an unrelated prompt (the only slot moves on: A's prefix
          stays in the prefix cache), then B
and prints prompt_eval_count, prompt_eval_cached_count and prompt_eval_duration of B in both,
and whether the answers are the same (greedy).
usage: python3 bench/bench_prefix.py AUTOGLM MODEL.gguf [--system-words N] [--threads N]"""
import argparse, http.client, json, os, re, signal, subprocess, sys, tempfile, threading

ap = argparse.ArgumentParser()
ap.add_argument("exe")
ap.add_argument("model")
ap.add_argument("--system-words", type=int, default=300)
ap.add_argument("--threads", type=int, default=0)
args = ap.parse_args()
tmp = tempfile.mkdtemp(prefix="autoglm-bench-prefix-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")
subprocess.run([args.exe, "create", "m", "-f", "/dev/stdin"], input=f"FROM {os.path.abspath(args.model)}\n", env=env,
               text=True, check=True, capture_output=True)
words = "once upon a time the little girl and her dog walked to the park by the sea to play with a ball".split()
system = " ".join(words[i % len(words)] for i in range(args.system_words)) + ". "


def start():
    cmd = [args.exe, "serve", "--host", "127.0.0.1:0", "--parallel", "1", "--num-ctx", "2048"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    p = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", p.stderr.readline())
    if not m:
        sys.exit("server did not start")
    threading.Thread(target=lambda: p.stderr.read(), daemon=True).start()
    return p, int(m.group(1))


def generate(port, prompt):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/api/generate", body=json.dumps({"model": "m", "prompt": prompt, "raw": True, "stream": False,
                                                        "options": {"temperature": 0, "num_predict": 16}}))
    r = json.loads(c.getresponse().read())
    c.close()
    return r


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


p, port = start()
generate(port, "warm up")
fresh = generate(port, system + "question B: where did the dog go")
stop(p)
p, port = start()
generate(port, system + "question A: what did the girl find")
generate(port, "an unrelated prompt that shares nothing with the system prompt")
cached = generate(port, system + "question B: where did the dog go")
stop(p)
for name, r in (("fresh", fresh), ("cached", cached)):
    print(f"{name:7s} prompt_eval_count {r['prompt_eval_count']:5d}  cached {r.get('prompt_eval_cached_count', 0):5d}  "
          f"prompt_eval_duration {r['prompt_eval_duration'] / 1e6:9.1f} ms")
print(f"same answer: {fresh['response'] == cached['response']}; prompt read {fresh['prompt_eval_duration'] / max(cached['prompt_eval_duration'], 1):.1f}x faster")
