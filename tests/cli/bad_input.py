"""bad_input.py - damaged models, bad flags and oversized prompts give a clear error on stderr
and a non-zero exit status from the CLI, never a crash (a signal) or a hang.
Each case: (what, the command's arguments, expected exit status, a substring of stderr).
usage: bad_input.py AUTOGLM SHARED"""
import copy, os, struct, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_edit
import harness

exe, shared = sys.argv[1], sys.argv[2]
good_path = f"{shared}/models/stories260K.gguf"
good = open(good_path, "rb").read()
g0 = gguf_edit.parse(good)
tmp = harness.tmpdir("autoglm-bad-")


def variant(name, edit):
    g = copy.deepcopy(g0)
    edit(g)
    path = f"{tmp}/{name}.gguf"
    open(path, "wb").write(gguf_edit.write(g))
    return path


def raw(name, data):
    path = f"{tmp}/{name}.gguf"
    open(path, "wb").write(data)
    return path


def tensor(g, name):
    return next(t for t in g["tensors"] if t["name"] == name.encode())


def drop_key(key):
    return lambda g: g.__setitem__("kvs", [kv for kv in g["kvs"] if kv[0] != key.encode()])


cases = [
    ("missing file", ["run", f"{tmp}/nope.gguf", "hi"], 1, "nope.gguf"),
    ("truncated header", ["run", raw("trunc_header", good[:20]), "hi"], 1, "truncated"),
    ("truncated in metadata", ["run", raw("trunc_kv", good[:3000]), "hi"], 1, "truncated"),
    ("truncated in tensor data", ["run", raw("trunc_data", good[:len(good) // 2]), "hi"], 1, "past end"),
    ("wrong magic", ["run", raw("magic", b"GGUX" + good[4:]), "hi"], 1, "magic"),
    ("wrong version", ["run", raw("version", good[:4] + struct.pack("<I", 99) + good[8:]), "hi"], 1, "version"),
    ("absurd dimensions", ["run", variant("dims", lambda g: tensor(g, "output_norm.weight")["ne"].__setitem__(0, 1 << 62)), "hi"], 1, "output_norm.weight"),
    ("tensor data past the end", ["run", variant("offset", lambda g: tensor(g, "output.weight").__setitem__("offset", 1 << 40)), "hi"], 1, "output.weight"),
    ("unknown tensor type", ["run", variant("type", lambda g: tensor(g, "output.weight").__setitem__("type", 77)), "hi"], 1, "type"),
    ("missing required key", ["run", variant("nokey", drop_key("llama.block_count")), "hi"], 1, "llama.block_count"),
    ("missing tensor", ["run", variant("notensor", lambda g: g["tensors"].remove(tensor(g, "blk.0.ffn_up.weight"))), "hi"], 1, "blk.0.ffn_up.weight"),
    ("missing vocabulary", ["run", variant("novocab", drop_key("tokenizer.ggml.tokens")), "hi"], 1, "tokenizer.ggml.tokens"),
    ("unsupported architecture", ["run", variant("arch", lambda g: [kv.__setitem__(2, b"mamba9") for kv in g["kvs"] if kv[0] == b"general.architecture"]), "hi"], 1, "mamba9"),
    ("prompt longer than the context", ["run", good_path, "Once upon a time " * 40, "--num-ctx", "32"], 1, "longer than the context"),
    ("perplexity: file too short", ["perplexity", good_path, "-f", raw("short_text", b"Once upon a time"), "--num-ctx", "64"], 1, "at least"),
    ("bad flag value", ["run", good_path, "hi", "--num-predict", "abc"], 2, "not an integer"),
    ("flag out of range", ["run", good_path, "hi", "--top-p", "7"], 2, "out of range"),
    ("unknown flag", ["run", good_path, "hi", "--frobnicate"], 2, "unknown"),
    ("unknown command", ["frobnicate"], 2, "unknown command"),
    ("show of a corrupt file", ["show", raw("show_magic", b"XXXX" + good[4:])], 1, "magic"),
    ("tokenize without text", ["tokenize", good_path], 2, "usage"),
]

failed = passed = 0
for what, args, want_rc, want_msg in cases:
    try:
        p = subprocess.run([exe] + args, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        err = p.stderr.decode(errors="replace")
        ok = p.returncode == want_rc and want_msg.lower() in err.lower()
        detail = f"exit {p.returncode}: {err.strip().splitlines()[-1] if err.strip() else '(no message)'}"
    except subprocess.TimeoutExpired:
        ok, detail = False, "timed out"
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
    passed += ok
    failed += not ok

# every prefix length of the header region must fail cleanly (no signal)
crashes = 0
for cut in list(range(0, 4096, 61)) + [len(good) - 1]:
    p = subprocess.run([exe, "show", raw("prefix", good[:cut])], capture_output=True, timeout=60)
    crashes += p.returncode not in (1,)
ok = crashes == 0
print(f"{'ok  ' if ok else 'FAIL'} truncated at 68 offsets: {crashes} did not exit with status 1")
passed += ok
failed += not ok
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
