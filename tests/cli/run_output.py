"""run_output.py - what the commands print, as a user sees it: `run` streams exactly the
reference's greedy text on stdout (nothing else) and Ollama-style timings on stderr with
--verbose; stdin works as the prompt; sampling with a seed is repeatable; `tokenize` prints ids
on one line or JSON; `show --json` is valid JSON with the model's facts.
usage: run_output.py AUTOGLM SHARED"""
import json, subprocess, sys

exe, shared = sys.argv[1], sys.argv[2]
model = f"{shared}/models/stories260K.gguf"
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail and not ok else ''}")
    passed += ok
    failed += not ok


def run(*args, stdin=None):
    return subprocess.run([exe, *args], capture_output=True, timeout=120, input=stdin)


for line in open(f"{shared}/reference/greedy.jsonl"):
    r = json.loads(line)
    if "text" not in r:
        continue
    p = run("run", f"{shared}/{r['model'].removeprefix('shared/')}", r["prompt"], "--raw", "--temperature", "0",
            "--num-predict", str(r["num_predict"]))
    check(f"greedy text for {r['prompt']!r}", p.returncode == 0 and p.stdout.decode() == r["text"] + "\n",
          f"got {p.stdout[:80]!r}")

p = run("run", model, "Once upon a time", "--temperature", "0", "--num-predict", "8", "--verbose")
err = p.stderr.decode()
check("--verbose timings on stderr", all(k in err for k in ("load duration", "prompt eval count:    5 token(s)",
                                                           "eval count:", "eval rate:", "tokens/s")), err)
check("--verbose keeps stdout clean", p.stdout.decode() == ", there was a little girl\n", repr(p.stdout))

p = run("run", model, "--temperature", "0", "--num-predict", "8", stdin=b"Once upon a time")
check("prompt from stdin", p.returncode == 0 and p.stdout.decode() == ", there was a little girl\n", repr(p.stdout))

a = run("run", model, "Lily", "--seed", "7", "--num-predict", "30")
b = run("run", model, "Lily", "--seed", "7", "--num-predict", "30")
c = run("run", model, "Lily", "--seed", "8", "--num-predict", "30", "--temperature", "1.5")
check("same seed, same text", a.returncode == 0 and a.stdout == b.stdout and len(a.stdout) > 20, repr(a.stdout))
check("other seed and temperature, other text", c.returncode == 0 and c.stdout != a.stdout)

p = run("run", model, "Once", "--temperature", "0", "--num-predict", "3")
check("--num-predict bounds the output", p.returncode == 0 and len(p.stdout.decode().split()) <= 3, repr(p.stdout))

p = run("tokenize", model, "Once upon a time")
check("tokenize prints ids", p.stdout.decode() == "403 407 261 378\n", repr(p.stdout))
p = run("tokenize", model, "Once upon a time", "--add-special")
check("tokenize --add-special adds BOS", p.stdout.decode() == "1 403 407 261 378\n", repr(p.stdout))
p = run("tokenize", model, "<s>hi", "--parse-special", "--json")
try:
    j = json.loads(p.stdout)
    check("tokenize --parse-special --json", j[0] == {"id": 1, "piece": "<s>"} and all("id" in x for x in j), p.stdout)
except ValueError as e:
    check("tokenize --json is JSON", False, str(e))

p = run("show", model, "--json")
try:
    j = json.loads(p.stdout)
    check("show --json", j["architecture"] == "llama" and j["embedding_length"] == 64 and len(j["tensors"]) == 48
          and j["metadata"]["llama.block_count"] == 5 and len(j["metadata"]["tokenizer.ggml.tokens"]) == 512, "")
except ValueError as e:
    check("show --json is JSON", False, str(e))
p = run("show", model)
check("show text", p.returncode == 0 and b"architecture" in p.stdout and b"llama.block_count" in p.stdout)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
