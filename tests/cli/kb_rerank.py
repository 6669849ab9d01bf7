"""kb_rerank.py - the knowledge base with a reranker: the tiny random-weight cross-encoder of
tests/data/rerank rescores the BM25 candidates; `kb query --rerank` returns exactly the
reranker's order of those candidates (checked against `autoglm rerank` on the same texts) with
its scores, which differs from the BM25 order; a reranker stored at `kb create --rerank` is used
by default and `--no-rerank` turns it off; `kb ask` with and without reranking answers from the
sources in the respective orders. usage: kb_rerank.py AUTOGLM SHARED"""
import json, os, re, subprocess, sys

import harness

exe, shared = sys.argv[1], sys.argv[2]
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "rerank")
gen_model = os.path.join(shared, "models", "stories260K.gguf")
tmp = harness.tmpdir("autoglm-kbrr-")
env = dict(os.environ, AUTOGLM_KB=os.path.join(tmp, "kbs"), AUTOGLM_MODELS=os.path.join(tmp, "models"))
passed = failed = 0
Q = "what is the capital of france?"
DOCS = {"paris.txt": "Paris is the capital of France and its largest city.",
        "berlin.txt": "Berlin is the capital of Germany.",
        "france.txt": "France is a country in western Europe; its capital is Paris.",
        "cat.txt": "The cat sat on the mat in the capital.",
        "rome.txt": "Rome, the capital of Italy, is older than Paris.",
        "wine.txt": "France makes wine in many regions.",
        "madrid.txt": "Madrid is the capital of Spain, south of France."}


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + str(detail)[-800:] if detail and not ok else ''}")
    passed += bool(ok)
    failed += not ok


def run(*args):
    p = subprocess.run([exe, *args], capture_output=True, timeout=300, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def query(name, *extra, k=3):
    rc, out, err = run("kb", "query", name, Q, "--mode", "bm25", "-k", str(k), "--json", *extra)
    return json.loads(out)["results"] if rc == 0 else err


def sources(out):  # "[1] /path/x.txt (bytes ...)" lines after "Sources:"
    return [os.path.basename(m) for m in re.findall(r"^\[\d+\] (\S+?)[ ,]", out.split("Sources:")[-1], re.M)]


rk = os.path.join(tmp, "rk.gguf")
check("convert the reranker", run("convert", src, rk, "--type", "f32")[0] == 0)
docs = os.path.join(tmp, "docs")
os.makedirs(docs)
for name, text in DOCS.items():
    open(os.path.join(docs, name), "w").write(text + "\n")
check("create a BM25 base", run("kb", "create", "plain")[0] == 0)
check("add", run("kb", "add", "plain", docs)[0] == 0)

base = query("plain", k=20)  # every BM25 candidate the reranker would see (depth max(4k, 20))
check("bm25 candidates", isinstance(base, list) and len(base) >= 4, base)
rc, out, err = run("rerank", rk, Q, *[h["text"] for h in base], "--json")
ref = json.loads(out)["results"] if rc == 0 else []
want = [os.path.basename(base[r["index"]]["path"]) for r in ref][:3]
got = query("plain", "--rerank", rk)
got_paths = [os.path.basename(h["path"]) for h in got] if isinstance(got, list) else got
check("query --rerank is the reranker's order", got_paths == want, f"{got_paths} vs {want}")
check("with the reranker's scores", isinstance(got, list) and
      all(abs(h["score"] - r["relevance_score"]) < 1e-4 for h, r in zip(got, ref)), got)
bm25_top = [os.path.basename(h["path"]) for h in base[:3]]
check("reranking changes the order", got_paths != bm25_top, f"{got_paths} vs bm25 {bm25_top}")
print(f"bm25 top 3: {bm25_top}; reranked top 3: {got_paths}")

# a reranker stored in the base
check("create --rerank", run("kb", "create", "ranked", "--rerank", rk)[0] == 0)
check("add (ranked)", run("kb", "add", "ranked", docs)[0] == 0)
rc, out, err = run("kb", "stats", "ranked", "--json")
check("stats names the reranker", rc == 0 and json.loads(out).get("rerank_model", "").endswith("rk.gguf"), out + err)
stored = query("ranked")
check("the stored reranker is used", isinstance(stored, list) and [os.path.basename(h["path"]) for h in stored] == want, stored)
off = query("ranked", "--no-rerank")
check("--no-rerank", isinstance(off, list) and [os.path.basename(h["path"]) for h in off] == bm25_top, off)
check("a generation model is refused as reranker", run("kb", "query", "plain", Q, "--rerank", gen_model)[0] != 0)
check("create --rerank refuses a non-reranker", run("kb", "create", "bad", "--rerank", gen_model)[0] != 0)

# answers with and without reranking
rc1, out1, err1 = run("kb", "ask", "plain", Q, "--model", gen_model, "-k", "3", "--num-predict", "16", "--mode", "bm25")
rc2, out2, err2 = run("kb", "ask", "plain", Q, "--model", gen_model, "-k", "3", "--num-predict", "16", "--mode", "bm25",
                      "--rerank", rk)
check("ask without reranking", rc1 == 0 and sources(out1) == bm25_top[:len(sources(out1))] and sources(out1), out1 + err1)
check("ask with reranking", rc2 == 0 and sources(out2) == want[:len(sources(out2))] and sources(out2), out2 + err2)
print("answer without reranking:", out1.split("Sources:")[0].strip()[:200])
print("answer with reranking:   ", out2.split("Sources:")[0].strip()[:200])

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
