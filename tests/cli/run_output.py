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

# tokenize reads the vocabulary of any architecture (vocabulary-only files included)
vocab = f"{shared}/tokenizer-vectors/ggml-vocab-gpt-2.gguf"
p = run("tokenize", vocab, "Hello <|endoftext|> world", "--parse-special")
check("tokenize a gpt2 vocabulary with --parse-special", p.returncode == 0 and p.stdout == b"15496 220 50256 995\n",
      repr(p.stdout + p.stderr))
p = run("tokenize", vocab, "Hello <|endoftext|> world")
check("tokenize: control-token text is plain text", p.returncode == 0 and b"50256" not in p.stdout, repr(p.stdout))
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import gguf_edit
g = gguf_edit.parse(open(vocab, "rb").read())
for kv in g["kvs"]:
    if kv[0] == b"tokenizer.ggml.pre":
        kv[2] = b"no-such-pre"
weird = f"{__import__('os').environ.get('AUTOGLM_TEST_TMP', '/tmp')}/weird_pre.gguf"
open(weird, "wb").write(gguf_edit.write(g))
p = run("tokenize", weird, "Hello world")
check("unknown tokenizer.ggml.pre: warning and the default split", p.returncode == 0 and p.stdout == b"15496 995\n"
      and b"unknown pre-tokenizer 'no-such-pre'" in p.stderr, repr(p.stdout + p.stderr))
p = run("show", vocab)
check("show of an architecture we cannot run yet: metadata and a note", p.returncode == 0
      and b"gpt2, 50257 tokens" in p.stdout and b"not supported yet" in p.stderr, repr(p.stdout[:200] + p.stderr))
p = run("run", vocab, "Hello", "--num-predict", "1")
check("run of a vocabulary-only file fails cleanly", p.returncode == 1 and b"not supported" in p.stderr, repr(p.stderr))

p = run("show", model, "--json")
try:
    j = json.loads(p.stdout)
    check("show --json", j["architecture"] == "llama" and j["embedding_length"] == 64 and len(j["tensors"]) == 48
          and j["metadata"]["llama.block_count"] == 5 and len(j["metadata"]["tokenizer.ggml.tokens"]) == 512, "")
except ValueError as e:
    check("show --json is JSON", False, str(e))
p = run("show", model)
check("show text", p.returncode == 0 and b"architecture" in p.stdout and b"llama.block_count" in p.stdout)

# chat templates: a copy of stories260K with a template of its own
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_edit
import harness
g = gguf_edit.parse(open(model, "rb").read())
g["kvs"].append([b"tokenizer.chat_template", 8,
                 b"{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n"
                 b"{% elif m.role == 'user' %}Question: {{ m.content }}\n{% else %}Answer: {{ m.content }}\n{% endif %}"
                 b"{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}"])
chat = os.path.join(harness.tmpdir("autoglm-run-"), "chat.gguf")
open(chat, "wb").write(gguf_edit.write(g))
p = run("run", chat, "Who is Lily?", "--temperature", "0", "--num-predict", "8", "--verbose", "--system", "Lily is a girl.")
# the rendered prompt: <s> "Lily is a girl.\nQuestion: Who is Lily?\nAnswer:" (BOS from the template, not doubled)
ids = run("tokenize", model, "Lily is a girl.\nQuestion: Who is Lily?\nAnswer:").stdout.split()
check("run uses the model's chat template", p.returncode == 0 and "chat template: model" in p.stderr.decode()
      and f"prompt eval count:    {len(ids) + 1} token(s)" in p.stderr.decode(), p.stderr.decode()[-400:])
p = run("run", chat, "Who is Lily?", "--temperature", "0", "--num-predict", "8", "--verbose", "--raw")
raw_n = len(run("tokenize", model, "Who is Lily?", "--add-special").stdout.split())
check("--raw bypasses the template", f"prompt eval count:    {raw_n} token(s)" in p.stderr.decode(), p.stderr.decode()[-300:])
bad = dict(g)
bad["kvs"] = [kv for kv in g["kvs"] if kv[0] != b"tokenizer.chat_template"] + [[b"tokenizer.chat_template", 8, b"{% for m in messages %}{{ m.content | frobnicate }}{% endfor %}"]]
badpath = chat.replace("chat.gguf", "badchat.gguf")
open(badpath, "wb").write(gguf_edit.write(bad))
p = run("run", badpath, "hi", "--num-predict", "4")
check("a template we cannot render fails clearly", p.returncode == 1 and b"frobnicate" in p.stderr, p.stderr.decode()[-300:])

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
