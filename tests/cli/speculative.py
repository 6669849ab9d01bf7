"""speculative.py - `autoglm run --draft` prints exactly what `run` prints without a draft (greedy
and sampled with a seed, several --draft-max), reports the acceptance with --verbose; a draft with
another vocabulary (one token's text changed) is refused with a clear error; `bench --draft`
reports both rates and identical tokens.
usage: speculative.py AUTOGLM SHARED"""
import os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_edit
import harness

exe, shared = sys.argv[1], sys.argv[2]
model = f"{shared}/models/stories260K.gguf"
tmp = harness.tmpdir("autoglm-spec-")
failures = 0


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += not ok


for prompt in ["Once upon a time", "The dog ran to"]:
    for flags in [["--temperature", "0"], ["--temperature", "0.8", "--seed", "3"]]:
        base = run("run", model, prompt, "--raw", "--num-predict", "70", *flags)
        check(base.returncode == 0 and base.stdout.strip(), f"plain run {prompt!r} {flags}")
        for dmax in ["1", "4", "8"]:
            r = run("run", model, prompt, "--raw", "--num-predict", "70", *flags, "--draft", model, "--draft-max", dmax)
            check(r.returncode == 0 and r.stdout == base.stdout, f"--draft-max {dmax} {prompt!r} {flags}: same output")

r = run("run", model, "Once", "--raw", "--temperature", "0", "--num-predict", "20", "--draft", model, "--verbose")
check(r.returncode == 0 and "draft acceptance:" in r.stderr and "(100.0%)" in r.stderr, "acceptance reported with --verbose")

g = gguf_edit.parse(open(model, "rb").read())
for kv in g["kvs"]:
    if kv[0] == b"tokenizer.ggml.tokens":
        kv[2][1][300] = b"zzzz"
other = f"{tmp}/other_vocab.gguf"
open(other, "wb").write(gguf_edit.write(g))
r = run("run", model, "Once", "--raw", "--draft", other)
check(r.returncode != 0 and "vocabulary differs" in r.stderr and "token 300" in r.stderr, "other vocabulary refused: " + r.stderr.strip()[-120:])

r = run("bench", model, "--draft", model, "-n", "32", "-r", "1")
check(r.returncode == 0 and "identical" in r.stdout and "100.0%" in r.stdout, "bench --draft")
sys.exit(1 if failures else 0)
