"""kb_retrieval.py - retrieval quality of `autoglm kb query` on the committed test set
(tests/data/kb: 32 documents, English and Chinese, 67 questions each marked with its document and
a phrase the relevant chunk contains). Prints recall@5 and MRR (over the top 10) for bm25, dense
and hybrid with each embedding model at hand: the trained tiny llama stories260K (mean of its
final hidden states) and the random-weight bert fixture (converted here). Checks what must hold
whatever the embedding model: BM25 finds most answers (recall@5 >= 0.85), and the result is
deterministic. usage: kb_retrieval.py AUTOGLM SHARED [--markdown]"""
import json, os, subprocess, sys, tempfile

exe, shared = sys.argv[1], sys.argv[2]
markdown = "--markdown" in sys.argv
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "data", "kb")
tmp = tempfile.mkdtemp(prefix="autoglm-kbr-", dir=os.environ.get("AUTOGLM_TEST_TMP"))
env = dict(os.environ, AUTOGLM_KB=os.path.join(tmp, "kb"))
questions = json.load(open(os.path.join(data, "questions.json"), encoding="utf-8"))
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + str(detail) if detail and not ok else ''}")
    passed += bool(ok)
    failed += not ok


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, timeout=300, env=env)


def evaluate(name, mode):
    recall = mrr = 0.0
    per_lang = {"en": [0, 0], "zh": [0, 0]}
    for q in questions:
        p = run("kb", "query", name, q["question"], "-k", "10", "--mode", mode, "--json")
        if p.returncode != 0:
            return None, p.stderr.decode()
        hits = json.loads(p.stdout)["results"]
        rank = next((i + 1 for i, h in enumerate(hits)
                     if os.path.basename(h["path"]) == q["doc"] and q["contains"] in h["text"]), None)
        lang = q["doc"][:2]
        per_lang[lang][1] += 1
        if rank and rank <= 5:
            recall += 1
            per_lang[lang][0] += 1
        if rank:
            mrr += 1.0 / rank
    n = len(questions)
    return {"recall@5": recall / n, "mrr": mrr / n,
            "recall@5_en": per_lang["en"][0] / per_lang["en"][1], "recall@5_zh": per_lang["zh"][0] / per_lang["zh"][1]}, ""


models = [("stories260K", os.path.join(shared, "models", "stories260K.gguf"))]
bert = os.path.join(tmp, "bert.gguf")
if run("convert", os.path.join(here, "..", "data", "arch", "bert"), bert, "--type", "f32").returncode == 0:
    models.append(("bert (random weights)", bert))
results = {}
for idx, (label, path) in enumerate(models):
    name = f"eval{idx}"
    p = run("kb", "create", name, "--embed", path, "--chunk-tokens", "128")
    check(f"create with {label}", p.returncode == 0, p.stderr.decode())
    p = run("kb", "add", name, os.path.join(data, "docs"), "--quiet")
    check(f"add the test set ({label})", p.returncode == 0, p.stderr.decode())
    for mode in ("bm25", "dense", "hybrid"):
        if mode == "bm25" and results:
            results[(label, mode)] = next(v for (l, m), v in results.items() if m == "bm25")
            continue
        r, e = evaluate(name, mode)
        check(f"{label} {mode} evaluated", r is not None, e)
        if r:
            results[(label, mode)] = r
stats = json.loads(run("kb", "stats", "eval0", "--json").stdout)
print(f"{stats['documents']} documents, {stats['chunks']} chunks, {len(questions)} questions")
print(f"{'embedding':24} {'mode':7} {'recall@5':>8} {'MRR':>6} {'R@5 en':>7} {'R@5 zh':>7}")
for (label, mode), r in results.items():
    print(f"{label:24} {mode:7} {r['recall@5']:8.3f} {r['mrr']:6.3f} {r['recall@5_en']:7.3f} {r['recall@5_zh']:7.3f}")
if markdown:
    print("\n| embedding model | mode | recall@5 | MRR@10 | recall@5 (en) | recall@5 (zh) |\n| --- | --- | ---: | ---: | ---: | ---: |")
    for (label, mode), r in results.items():
        print(f"| {label} | {mode} | {r['recall@5']:.3f} | {r['mrr']:.3f} | {r['recall@5_en']:.3f} | {r['recall@5_zh']:.3f} |")
# the dense path is the engine's embedding: a chunk's own text finds it with cosine 1, and the
# next score is the cosine of `autoglm embed` vectors (embed is checked against the reference
# library's embeddings in convert.py)
for idx, (label, path) in enumerate(models):
    q = json.loads(run("kb", "query", f"eval{idx}", questions[0]["question"], "--mode", "bm25", "-k", "1", "--json").stdout)["results"][0]["text"]
    d = json.loads(run("kb", "query", f"eval{idx}", q, "--mode", "dense", "-k", "2", "--json").stdout)["results"]
    check(f"{label}: a chunk's text finds that chunk with cosine 1", d and d[0]["text"] == q and abs(d[0]["score"] - 1) < 1e-4, d[:1])
    if label.startswith("bert"):
        e = json.loads(run("embed", path, q, d[1]["text"], "--json").stdout)["embeddings"]
        cos = sum(a * b for a, b in zip(e[0], e[1]))
        check(f"{label}: dense score == cosine of `autoglm embed` vectors", abs(cos - d[1]["score"]) < 1e-4, (cos, d[1]["score"]))
bm = results.get(("stories260K", "bm25"))
check("bm25 recall@5 >= 0.85", bm and bm["recall@5"] >= 0.85, bm)
check("bm25 MRR >= 0.75", bm and bm["mrr"] >= 0.75, bm)
r1, _ = evaluate("eval0", "hybrid")
check("hybrid results are deterministic", r1 == results.get(("stories260K", "hybrid")))
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
