"""kb_retrieval.py - retrieval quality of `autoglm kb query` on the committed test set
(tests/data/kb: 32 documents, English and Chinese, 67 questions each marked with its document and
a phrase the relevant chunk contains). Prints recall@5 and MRR (over the top 10) for bm25, dense
and hybrid with each embedding model at hand: the trained tiny llama stories260K (mean of its
final hidden states) and the random-weight bert fixture (converted here). Checks what must hold
whatever the embedding model: BM25 finds most answers (recall@5 >= 0.85), and the result is
deterministic, and hybrid (automatic dense weight) has recall@5 >= BM25 and >= dense, and MRR >= dense
and >= BM25 less MRR_SLACK (less than one question moving from rank 1 to 2: 0.5 / 67 = 0.0075).
--heldout: the held-out check of the fusion's default - the questions split in two halves
(even / odd positions), the dense weight (fixed 0, 0.1, 0.25, 0.5, 1, or automatic) chosen by
MRR on the first half only, then reported on the other half.
usage: kb_retrieval.py AUTOGLM SHARED [--markdown] [--heldout]"""
import json, os, subprocess, sys

import harness

exe, shared = sys.argv[1], sys.argv[2]
markdown = "--markdown" in sys.argv
heldout = "--heldout" in sys.argv
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "data", "kb")
tmp = harness.tmpdir("autoglm-kbr-")
env = dict(os.environ, AUTOGLM_KB=os.path.join(tmp, "kb"))
MRR_SLACK = 0.005
questions = json.load(open(os.path.join(data, "questions.json"), encoding="utf-8"))
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + str(detail) if detail and not ok else ''}")
    passed += bool(ok)
    failed += not ok


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, timeout=300, env=env)


def ranks(name, mode, weight=None):
    """The rank (1..10, None when not in the top 10) of each question's relevant chunk."""
    out = []
    extra = ["--dense-weight", weight] if weight is not None else []
    for q in questions:
        p = run("kb", "query", name, q["question"], "-k", "10", "--mode", mode, "--json", *extra)
        if p.returncode != 0:
            return None, p.stderr.decode()
        hits = json.loads(p.stdout)["results"]
        out.append(next((i + 1 for i, h in enumerate(hits)
                         if os.path.basename(h["path"]) == q["doc"] and q["contains"] in h["text"]), None))
    return out, ""


def score(rk, idx):
    """recall@5 and MRR@10 over the questions idx, in all and per language."""
    def part(sel):
        sel = list(sel)
        if not sel:
            return 0.0, 0.0
        return (sum(1 for i in sel if rk[i] and rk[i] <= 5) / len(sel), sum(1.0 / rk[i] for i in sel if rk[i]) / len(sel))
    r, m = part(idx)
    re_, me = part(i for i in idx if questions[i]["doc"].startswith("en"))
    rz, mz = part(i for i in idx if questions[i]["doc"].startswith("zh"))
    return {"recall@5": r, "mrr": m, "recall@5_en": re_, "mrr_en": me, "recall@5_zh": rz, "mrr_zh": mz}


ALL = range(len(questions))


def evaluate(name, mode, weight=None):
    rk, e = ranks(name, mode, weight)
    return (score(rk, ALL), "") if rk else (None, e)


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
        r, e = evaluate(name, mode)
        check(f"{label} {mode} evaluated", r is not None, e)
        if r:
            results[(label, mode)] = r
stats = json.loads(run("kb", "stats", "eval0", "--json").stdout)
print(f"{stats['documents']} documents, {stats['chunks']} chunks, {len(questions)} questions")
print(f"{'embedding':24} {'mode':7} {'R@5':>6} {'MRR':>6} {'R@5 en':>7} {'MRR en':>7} {'R@5 zh':>7} {'MRR zh':>7}")
for (label, mode), r in results.items():
    print(f"{label:24} {mode:7} {r['recall@5']:6.3f} {r['mrr']:6.3f} {r['recall@5_en']:7.3f} {r['mrr_en']:7.3f} "
          f"{r['recall@5_zh']:7.3f} {r['mrr_zh']:7.3f}")
if markdown:
    print("\n| embedding model | mode | recall@5 | MRR@10 | recall@5 en | MRR en | recall@5 zh | MRR zh |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (label, mode), r in results.items():
        print(f"| {label} | {mode} | {r['recall@5']:.3f} | {r['mrr']:.3f} | {r['recall@5_en']:.3f} | {r['mrr_en']:.3f} "
              f"| {r['recall@5_zh']:.3f} | {r['mrr_zh']:.3f} |")
if heldout:  # choose the dense weight on one half of the questions, report the other half
    half_a, half_b = range(0, len(questions), 2), range(1, len(questions), 2)
    print(f"\nheld-out check: weight chosen by MRR on {len(half_a)} questions (even positions), "
          f"reported on the other {len(half_b)}")
    for idx, (label, path) in enumerate(models):
        name = f"eval{idx}"
        cand = {}
        for w in ("0", "0.1", "0.25", "0.5", "1", "auto"):
            rk, e = ranks(name, "hybrid", w)
            check(f"{label} hybrid --dense-weight {w} evaluated", rk is not None, e)
            if rk:
                cand[w] = rk
        print(f"{label}: all questions " + ", ".join(f"w={w}: {score(r, ALL)['recall@5']:.3f} / {score(r, ALL)['mrr']:.3f}"
                                                    for w, r in cand.items()))
        best = max(cand, key=lambda w: (score(cand[w], half_a)["mrr"], score(cand[w], half_a)["recall@5"], w == "auto"))
        base = {m: ranks(name, m)[0] for m in ("bm25", "dense")}
        print(f"{label}: on half A " + ", ".join(f"w={w}: R@5 {score(r, half_a)['recall@5']:.3f} MRR {score(r, half_a)['mrr']:.3f}"
                                                for w, r in cand.items()) + f"; chosen: {best}")
        for what, rk in (("bm25", base["bm25"]), ("dense", base["dense"]), (f"hybrid w={best}", cand[best])):
            r = score(rk, half_b)
            print(f"| {label} | half B | {what} | {r['recall@5']:.3f} | {r['mrr']:.3f} | {r['recall@5_en']:.3f} | "
                  f"{r['mrr_en']:.3f} | {r['recall@5_zh']:.3f} | {r['mrr_zh']:.3f} |")
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
for label, _ in models:  # the fusion must not lose what either list finds alone
    h, b, d = (results.get((label, m)) for m in ("hybrid", "bm25", "dense"))
    check(f"{label}: hybrid recall@5 >= bm25 and >= dense", h and b and d and h["recall@5"] >= max(b["recall@5"], d["recall@5"]),
          (h, b, d))
    check(f"{label}: hybrid MRR >= dense and >= bm25 - {MRR_SLACK}",
          h and b and d and h["mrr"] >= d["mrr"] and h["mrr"] >= b["mrr"] - MRR_SLACK, (h, b, d))
r1, _ = evaluate("eval0", "hybrid")
check("hybrid results are deterministic", r1 == results.get(("stories260K", "hybrid")))
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
