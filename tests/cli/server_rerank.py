"""server_rerank.py - /api/rerank and /v1/rerank with a plain JSON client (http.client): the tiny
reranker of tests/data/rerank (converted, added to the store) scores the fixture's documents as
the reference does (1e-4), results are sorted best first, top_n keeps the best, /v1 gives
{"text"} documents, return_documents=false drops them; a reader key is refused (role user);
a generation model, a missing query and bad documents get 400, an unknown model 404.
A knowledge base created with "rerank_model" answers /api/kb/query in the reranker's order, and
with "rerank": "" in the BM25 order.
Also `autoglm rerank` on the same model (text and --json).
usage: server_rerank.py AUTOGLM SHARED"""
import base64, http.client, json, os, re, shutil, subprocess, sys, threading

import harness

exe, shared = sys.argv[1], sys.argv[2]
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "rerank")
tmp = harness.tmpdir("autoglm-rerank-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models", AUTOGLM_KEYS=f"{tmp}/keys.json", AUTOGLM_KB=f"{tmp}/kb")
exp = json.load(open(f"{src}/expected.json"))
failures, passed = [], 0


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def cli(*args):
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)


def get(port, path, key):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, text


def model_loads(port, key):
    """Models the server has read from disk (autoglm_model_loads_total of /metrics)."""
    s, text = get(port, "/metrics", key)
    m = re.search(r"^autoglm_model_loads_total (\d+)$", text, re.M)
    return int(m.group(1)) if s == 200 and m else None


def post(port, path, body, key):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", path, body=json.dumps(body).encode(),
              headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


p = None
try:
    check(cli("convert", src, f"{tmp}/rk.gguf", "--type", "f32").returncode == 0, "convert the reranker")
    open(f"{tmp}/Modelfile", "w").write(f"FROM {tmp}/rk.gguf\n")
    check(cli("create", "rk", "-f", f"{tmp}/Modelfile").returncode == 0, "create rk")
    shutil.copy(f"{shared}/models/stories260K.gguf", f"{tmp}/story.gguf")
    open(f"{tmp}/Modelfile2", "w").write(f"FROM {tmp}/story.gguf\n")
    check(cli("create", "story", "-f", f"{tmp}/Modelfile2").returncode == 0, "create story")
    user = cli("keys", "add", "--role", "user", "--tenant", "t").stdout.strip()
    reader = cli("keys", "add", "--role", "reader", "--tenant", "t").stdout.strip()
    admin = cli("keys", "add", "--role", "admin", "--tenant", "t").stdout.strip()

    # the CLI
    r = cli("rerank", "rk", exp["query"], *exp["documents"], "--json")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    got = [x["index"] for x in j.get("results", [])]
    check(got == exp["order"], f"cli order {got} vs {exp['order']}: {r.stderr}")
    check(all(abs(x["relevance_score"] - exp["scores"][x["index"]]) < 1e-4 for x in j.get("results", [])), "cli scores")
    r = cli("rerank", "rk", exp["query"], *exp["documents"], "--top-n", "2")
    lines = r.stdout.strip().splitlines()
    check(r.returncode == 0 and len(lines) == 2 and lines[0].split("\t")[1] == str(exp["order"][0]), f"cli text: {r.stdout}")
    check(cli("rerank", "story", "q", "d").returncode != 0, "cli refuses a generation model")

    p = subprocess.Popen([exe, "serve", "--host", "127.0.0.1:0", "--auth"], env=env, stderr=subprocess.PIPE, text=True, preexec_fn=harness.die_with_parent)
    port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", p.stderr.readline()).group(1))
    threading.Thread(target=lambda: p.stderr.read(), daemon=True).start()

    req = {"model": "rk", "query": exp["query"], "documents": exp["documents"]}
    s, b = post(port, "/api/rerank", req, user)
    res = b.get("results", []) if isinstance(b, dict) else []
    check(s == 200 and [x["index"] for x in res] == exp["order"], f"/api/rerank order: {s} {b}")
    err = max((abs(x["relevance_score"] - exp["scores"][x["index"]]) for x in res), default=1)
    check(err < 1e-4, f"/api/rerank scores: max error {err}")
    check(all(x["document"] == exp["documents"][x["index"]] for x in res), "/api/rerank documents")
    scores = [x["relevance_score"] for x in res]
    check(scores == sorted(scores, reverse=True), "sorted by score")
    loads = model_loads(port, admin)
    check(loads == 1, f"the reranker loaded once: {loads}")
    s, b = get(port, "/api/ps", user)
    check(s == 200 and [m["name"] for m in json.loads(b)["models"]] == ["rk:latest"], f"the reranker in /api/ps: {b}")

    s, b = post(port, "/v1/rerank", dict(req, top_n=3), user)
    res = b.get("results", []) if isinstance(b, dict) else []
    check(s == 200 and [x["index"] for x in res] == exp["order"][:3], f"/v1/rerank top_n: {s} {b}")
    check(all(x["document"]["text"] == exp["documents"][x["index"]] for x in res), "/v1 documents as {text}")
    s, b = post(port, "/v1/rerank", dict(req, return_documents=False), user)
    check(s == 200 and all("document" not in x for x in b["results"]), f"return_documents false: {b}")

    check(model_loads(port, admin) == 1, "repeated rerank requests do not load the reranker again")
    # the power mode's threads apply to rerank jobs: powersave (1 thread) scores the same
    s, b = post(port, "/api/power", {"mode": "powersave"}, admin)
    check(s == 200 and b.get("n_threads") == 1, f"powersave: {s} {b}")
    s, b = post(port, "/api/rerank", req, user)
    err = max((abs(x["relevance_score"] - exp["scores"][x["index"]]) for x in b.get("results", [])), default=1) if s == 200 else 1
    check(err < 1e-4, f"rerank in powersave: {s} max error {err}")
    s, b = post(port, "/api/power", {"mode": "performance"}, admin)
    s, b = post(port, "/api/rerank", req, reader)
    check(s == 403, f"reader refused: {s}")
    s, b = post(port, "/api/rerank", dict(req, model="story"), user)
    check(s == 400, f"generation model: {s} {b}")
    s, b = post(port, "/api/rerank", dict(req, model="nope"), user)
    check(s == 404, f"unknown model: {s}")
    s, b = post(port, "/api/rerank", {"model": "rk", "documents": ["a"]}, user)
    check(s == 400, f"no query: {s}")
    s, b = post(port, "/api/rerank", {"model": "rk", "query": "q", "documents": [1]}, user)
    check(s == 400, f"bad document: {s}")
    s, b = post(port, "/api/rerank", {"model": "rk", "query": "q", "documents": []}, user)
    check(s == 400, f"no documents: {s}")

    # a knowledge base with a stored reranker
    loads_before_kb = model_loads(port, admin)
    s, b = post(port, "/api/kb/create", {"name": "docs", "rerank_model": "rk"}, user)
    check(s == 200, f"kb create with rerank_model: {s} {b}")
    files = [{"filename": f"d{i}.txt", "content": base64.b64encode(d.encode()).decode()} for i, d in enumerate(exp["documents"])]
    s, b = post(port, "/api/kb/add", {"name": "docs", "files": files}, user)
    check(s == 200, f"kb add: {s} {b}")
    s, b = post(port, "/api/kb/query", {"name": "docs", "query": exp["query"], "k": 5, "mode": "bm25", "rerank": ""}, user)
    bm25 = [x["source"] for x in b.get("results", [])] if s == 200 else []
    s, b = post(port, "/api/kb/query", {"name": "docs", "query": exp["query"], "k": 3, "mode": "bm25"}, user)
    got = [x["source"] for x in b.get("results", [])] if s == 200 else b
    # the reranker's order of the BM25 candidates (chunks are the whole documents here)
    want = [f"d{i}.txt" for i in exp["order"] if f"d{i}.txt" in bm25][:3]
    check(got == want and got != bm25[:3], f"kb query reranked: {got} vs {want} (bm25 {bm25})")
    check(model_loads(port, admin) == loads_before_kb, "the knowledge base reranks on the loaded reranker (no new load)")
finally:
    if p:
        p.terminate()
        p.wait(timeout=30)

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
