"""kb_fusion_rules.py - compares rules for the hybrid fusion's automatic dense weight on the
committed retrieval set (tests/data/kb), offline: the BM25 and dense top 50 of every question
are read once through `autoglm kb query --json`, then each rule fuses them here, in Python, as
search.c does (weighted reciprocal rank, k = 60). Reports recall@5 / MRR@10 on all questions
and on the two halves (A: even positions, B: odd); picks the rule by MRR on half A only (ties:
the order of RULES, written before measuring) and reports it on half B. Then the same rules with
a synthetic "topical" dense model (score = 1 for the relevant chunk + 0.5 for its document's
chunks + Gaussian noise sigma, over every chunk; 10 seeds) - what a trained embedding model
might look like - to see which rules let a good dense list help. Checks that its rule "set x
order" reproduces the engine's hybrid ranking (search.c) question by question.
usage: python3 bench/kb_fusion_rules.py build/autoglm ../shared     (about 20 s; docs/KB.md)"""
import json, math, os, random, shutil, sqlite3, subprocess, sys, tempfile

exe, shared = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "tests", "data", "kb")
tmp = tempfile.mkdtemp(prefix="autoglm-fusion-")
env = dict(os.environ, AUTOGLM_KB=os.path.join(tmp, "kb"))
questions = json.load(open(os.path.join(data, "questions.json"), encoding="utf-8"))
DEPTH, RRF_K, ALPHA = 50, 60.0, 0.01


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, env=env, check=True, timeout=300).stdout


def hits(name, q, mode):
    return json.loads(run("kb", "query", name, q, "-k", "10", "--mode", mode, "--json"))["results"]


# ---------------------------------------------------------------- the lists
models = [("stories260K", os.path.join(shared, "models", "stories260K.gguf"))]
bert = os.path.join(tmp, "bert.gguf")
run("convert", os.path.join(here, "..", "tests", "data", "arch", "bert"), bert, "--type", "f32")
models.append(("bert fixture", bert))
sets = {}
for idx, (label, path) in enumerate(models):
    name = f"m{idx}"
    run("kb", "create", name, "--embed", path, "--chunk-tokens", "128")
    run("kb", "add", name, os.path.join(data, "docs"), "--quiet")
    db = sqlite3.connect(os.path.join(tmp, "kb", name, "kb.sqlite"))
    doc_of = {i: os.path.basename(p) for i, p in db.execute("SELECT c.id, d.path FROM chunks c JOIN documents d ON d.id = c.doc_id")}
    text_of = dict(db.execute("SELECT id, text FROM chunks"))
    rows = []
    for q in questions:  # -k 10 fuses the top max(4k, 50) = 50 of each list
        lists = {m: [(h["chunk_id"], h["score"]) for h in json.loads(run(
            "kb", "query", name, q["question"], "-k", str(DEPTH), "--mode", m, "--json"))["results"]] for m in ("bm25", "dense")}
        rel = {i for i in doc_of if doc_of[i] == q["doc"] and q["contains"] in text_of[i]}
        engine = [h["chunk_id"] for h in hits(name, q["question"], "hybrid")]
        rows.append(dict(lists, rel=rel, doc=q["doc"], engine=engine))
    sets[label] = dict(n=len(doc_of), doc_of=doc_of, rows=rows)


# ---------------------------------------------------------------- the rules
def log_choose(n, k):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def set_agreement(a, b, n, alpha=ALPHA, depth=10):
    """search.c set_agreement: shared chunks of the top 10s beyond chance, 0 unless p < alpha; and p."""
    da, db = min(len(a), depth), min(len(b), depth)
    shared = len({i for i, _ in a[:da]} & {i for i, _ in b[:db]})
    d = min(da, db)
    if d == 0 or n < da or n < db:
        return 0.0, 1.0
    chance = da * db / n
    if chance >= d:
        return 1.0, 0.0
    p = sum(math.exp(log_choose(da, x) + log_choose(n - da, db - x) - log_choose(n, db))
            for x in range(shared, d + 1) if db - x <= n - da)
    return (0.0 if p >= alpha else max(0.0, min(1.0, (shared - chance) / (d - chance)))), p


def kendall(a, b):
    """(shared, concordant - discordant, pairs) of the BM25 scores and cosines of shared chunks."""
    cos = dict(b)
    xy = [(s, cos[i]) for i, s in a if i in cos]
    net = sum(((x1 - x2) * (y1 - y2) > 0) - ((x1 - x2) * (y1 - y2) < 0)
              for k, (x1, y1) in enumerate(xy) for x2, y2 in xy[k + 1:])
    return len(xy), net, len(xy) * (len(xy) - 1) // 2


def kendall_p(m, net):
    """P(concordant - discordant >= net) for a random order of m items (exact, by inversions)."""
    dist = [1]
    for k in range(1, m):
        new = [0] * (len(dist) + k)
        for i, v in enumerate(dist):
            for j in range(k + 1):
                new[i + j] += v
        dist = new
    pairs, tot = m * (m - 1) // 2, sum(dist)
    return sum(v for inv, v in enumerate(dist) if pairs - 2 * inv >= net) / tot


def rrf(a, b, w):
    s = {}
    for lst, wl in ((a, 1.0), (b, w)):
        for r, (i, _) in enumerate(lst):
            s[i] = s.get(i, 0.0) + wl / (RRF_K + r + 1)
    return sorted(s, key=lambda i: (-s[i], i))


def old_auto(a, b, n, alpha=ALPHA):
    return 1.0 if not a else set_agreement(a, b, n, alpha)[0]


def set_x_order(a, b, n):
    if not a:
        return 1.0
    w = set_agreement(a, b, n)[0]
    m, net, pairs = kendall(a, b)
    return w * max(0.0, net / pairs) if w and pairs else 0.0


def set_and_kendall_gate(a, b, n):
    if not a:
        return 1.0
    w = set_agreement(a, b, n)[0]
    m, net, pairs = kendall(a, b)
    return w if w and pairs and kendall_p(m, net) < ALPHA else 0.0


def p_strength(a, b, n):  # full weight only at p <= alpha / 100
    if not a:
        return 1.0
    w, p = set_agreement(a, b, n)
    return w * min(1.0, math.log10(ALPHA / max(p, 1e-300)) / 2) if w else 0.0


def bm25_margin(a, b, n):  # BM25 scores as log-odds: the chance its top two are in the wrong order
    w = old_auto(a, b, n)
    return w * 2 / (1 + math.exp(a[0][1] - a[1][1])) if len(a) >= 2 else w


def top_kept(a, b, n):
    f = rrf(a, b, old_auto(a, b, n))
    if a:
        f.remove(a[0][0])
        f.insert(0, a[0][0])
    return f


def score_fusion(a, b, n, weight=None):  # BM25 / its top + w * z-score of the cosine (within the dense top 50)
    if not a:
        return [i for i, _ in b]
    w, cs = (weight or old_auto)(a, b, n), [s for _, s in b]
    mu = sum(cs) / len(cs)
    sd = (sum((x - mu) ** 2 for x in cs) / len(cs)) ** 0.5 or 1.0
    z = {i: (x - mu) / sd for i, x in b}
    zmin = min(z.values())
    s = {i: x / a[0][1] for i, x in a}
    for i in set(s) | set(z):
        s[i] = s.get(i, 0.0) + w * z.get(i, zmin)
    return sorted(s, key=lambda i: (-s[i], i))


def weighted(f):
    return lambda a, b, n: rrf(a, b, f(a, b, n))


RULES = {  # the order breaks ties on half A: more say for the dense list first
    "set x order (new default)": weighted(set_x_order),
    "set, gated by Kendall 1%": weighted(set_and_kendall_gate),
    "set 1% (old default)": weighted(old_auto),
    "set 0.1%": weighted(lambda a, b, n: old_auto(a, b, n, 0.001)),
    "set x p-strength": weighted(p_strength),
    "set x BM25 top-2 margin": weighted(bm25_margin),
    "set, BM25 top kept": top_kept,
    "scores: bm25/top + w z(cos), w = set 1%": score_fusion,
    "scores, w = set x order": lambda a, b, n: score_fusion(a, b, n, set_x_order),
    "W = 1 (plain RRF)": weighted(lambda a, b, n: 1.0),
    "W = 0 (BM25, dense after)": weighted(lambda a, b, n: 0.0 if a else 1.0),
}


def score(ranking, rows, idx):
    r5 = mrr = 0.0
    for i in idx:
        rk = next((j + 1 for j, c in enumerate(ranking[i][:10]) if c in rows[i]["rel"]), None)
        r5 += bool(rk and rk <= 5)
        mrr += 1.0 / rk if rk else 0.0
    return r5 / len(idx), mrr / len(idx)


def fmt(x):
    return f"{x[0]:.3f} / {x[1]:.3f}"


ALL, A, B = range(len(questions)), range(0, len(questions), 2), range(1, len(questions), 2)
ok = True
for label, s in sets.items():
    rows, n = s["rows"], s["n"]
    mismatch = [k for k, r in enumerate(rows) if RULES["set x order (new default)"](r["bm25"], r["dense"], n)[:10] != r["engine"]]
    print(f"{label}: {n} chunks; the engine's hybrid = rule 'set x order' on {len(rows) - len(mismatch)} of {len(rows)} questions")
    ok &= not mismatch
    print(f"| rule | all | half A | half B |\n| --- | ---: | ---: | ---: |")
    base = {"bm25": [[i for i, _ in r["bm25"]] for r in rows], "dense": [[i for i, _ in r["dense"]] for r in rows]}
    for m, rk in base.items():
        print(f"| {m} alone | {fmt(score(rk, rows, ALL))} | {fmt(score(rk, rows, A))} | {fmt(score(rk, rows, B))} |")
    got = {name: [f(r["bm25"], r["dense"], n) for r in rows] for name, f in RULES.items()}
    for name, rk in got.items():
        print(f"| {name} | {fmt(score(rk, rows, ALL))} | {fmt(score(rk, rows, A))} | {fmt(score(rk, rows, B))} |")
    best = max(RULES, key=lambda k: (score(got[k], rows, A)[1], -list(RULES).index(k)))
    print(f"chosen on half A: {best}; half B: {fmt(score(got[best], rows, B))} "
          f"(bm25 {fmt(score(base['bm25'], rows, B))}, dense {fmt(score(base['dense'], rows, B))})\n")

print("synthetic topical dense model (10 seeds; all questions, recall@5 / MRR; stories260K's chunks | the bert fixture's)")
print("| rule | " + " | ".join(f"sigma {sg}" for sg in (0.2, 0.4, 0.7, 1.5)) + " |\n| --- |" + " ---: |" * 4)
table = {}
for sigma in (0.2, 0.4, 0.7, 1.5):
    for seed in range(10):
        rnd = random.Random(seed)
        for label, s in sets.items():
            rows = []
            for r in s["rows"]:
                sc = sorted(((i, (i in r["rel"]) + 0.5 * (d == r["doc"]) + rnd.gauss(0, sigma)) for i, d in s["doc_of"].items()),
                            key=lambda x: -x[1])[:DEPTH]
                rows.append(dict(r, dense=sc))
            for name, f in [("dense alone", lambda a, b, n: [i for i, _ in b]), ("bm25 alone", lambda a, b, n: [i for i, _ in a])] + list(RULES.items()):
                t = table.setdefault((name, sigma, label), [0.0, 0.0])
                r5, mrr = score([f(r["bm25"], r["dense"], s["n"]) for r in rows], rows, ALL)
                t[0] += r5 / 10
                t[1] += mrr / 10
for name in ["dense alone", "bm25 alone"] + list(RULES):
    print(f"| {name} | " + " | ".join(" / ".join(f"{table[(name, sg, lb)][1]:.3f}" for lb in sets) for sg in (0.2, 0.4, 0.7, 1.5)) + " |")
print("(MRR: stories260K's chunks / the bert fixture's.) recall@5 below 1: " + (", ".join(
    f"{k[0]} sigma {k[1]} {k[2]}: {v[0]:.3f}" for k, v in table.items() if v[0] < 0.9995) or "none"))
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(0 if ok else 1)
