"""server_kb.py - knowledge bases and summaries over HTTP: create, upload documents (base64),
query with sources, ask with a model (answer + sources), remove, list; per tenant with API keys
(another tenant's base is not found, a reader may query but not add); /api/summarize on text
and on an uploaded HTML document; bad input gets 4xx.
usage: server_kb.py AUTOGLM SHARED"""
import base64, http.client, json, os, re, shutil, signal, subprocess, sys, threading

import harness

exe, shared = sys.argv[1], sys.argv[2]
tmp = harness.tmpdir("autoglm-kbsrv-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models", AUTOGLM_KEYS=f"{tmp}/keys.json", AUTOGLM_KB=f"{tmp}/kb")
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


def post(port, path, body, key=None, method="POST"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = f"Bearer {key}"
    c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def b64(text):
    return base64.b64encode(text.encode()).decode()


shutil.copy(f"{shared}/models/stories260K.gguf", f"{tmp}/story.gguf")
open(f"{tmp}/Modelfile", "w").write(f"FROM {tmp}/story.gguf\n")
check(cli("create", "story", "-f", f"{tmp}/Modelfile").returncode == 0, "create model")
check(cli("create", "emb", "-f", f"{tmp}/Modelfile").returncode == 0, "create the embedding model (same file, first by name)")
keys = {}
for who, role, tenant in [("a_user", "user", "acme"), ("a_reader", "reader", "acme"), ("b_user", "user", "globex"),
                          ("admin", "admin", "acme")]:
    keys[who] = cli("keys", "add", "--role", role, "--tenant", tenant).stdout.strip()
p = subprocess.Popen([exe, "serve", "--host", "127.0.0.1:0", "--auth"], env=env, stderr=subprocess.PIPE, text=True, preexec_fn=harness.die_with_parent)
port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", p.stderr.readline()).group(1))
threading.Thread(target=lambda: p.stderr.read(), daemon=True).start()

s, b = post(port, "/api/kb/create", {"name": "docs"}, keys["a_user"])
check(s == 200, f"create: {s} {b}")
s, b = post(port, "/api/kb/create", {"name": "docs"}, keys["a_user"])
check(s == 409, f"create twice: {s} {b}")
s, b = post(port, "/api/kb/create", {"name": "../evil"}, keys["a_user"])
check(s == 400, f"a name with ../: {s}")
files = [{"filename": "lighthouse.txt", "content": b64("The lighthouse keeper Mara lit the lamp every night at nine.\n\nShips "
                                                       "passed the rocky cape safely because of the light.")},
         {"filename": "garden.md", "content": b64("# Garden\n\nTomatoes need full sun and water every morning.\n\n"
                                                  "番茄需要充足的阳光。")},
         {"filename": "../../escape.txt", "content": b64("stays inside")}]
s, b = post(port, "/api/kb/add", {"name": "docs", "files": files}, keys["a_user"])
check(s == 200 and b.get("chunks_added", 0) >= 3 and len(b.get("files", [])) == 3, f"add: {s} {b}")
check(not os.path.exists(f"{tmp}/escape.txt") and not os.path.exists(f"{tmp}/kb/escape.txt"), "uploads stay in the base")
s, b = post(port, "/api/kb/add", {"name": "docs", "files": [{"filename": "x.txt", "content": "not base64!"}]}, keys["a_user"])
check(s == 400, f"bad base64: {s} {b}")
s, b = post(port, "/api/kb/query", {"name": "docs", "query": "who lit the lamp in the lighthouse", "k": 2, "mode": "bm25"},
            keys["a_reader"])
res = b.get("results", []) if isinstance(b, dict) else []
check(s == 200 and res and res[0]["source"] == "lighthouse.txt" and "Mara" in res[0]["text"], f"query: {s} {b}")
s, b = post(port, "/api/kb/query", {"name": "docs", "query": "番茄", "mode": "bm25"}, keys["a_reader"])
check(s == 200 and b["results"] and b["results"][0]["source"] == "garden.md", f"Chinese query: {b}")
s, b = post(port, "/api/kb/query", {"name": "docs", "query": "x", "k": 0}, keys["a_reader"])
check(s == 400, f"bad k: {s}")
s, b = post(port, "/api/kb/query", {"name": "docs", "query": "lamp", "dense_weight": -1}, keys["a_reader"])
check(s == 400 and "dense_weight" in b.get("error", ""), f"bad dense_weight: {s} {b}")
s, b = post(port, "/api/kb/query", {"name": "docs", "query": "lamp", "dense_weight": "auto"}, keys["a_reader"])
check(s == 200 and b["results"], f"dense_weight auto: {s} {b}")
s, b = post(port, "/api/kb/add", {"name": "docs", "files": files[:1]}, keys["a_reader"])
check(s == 403, f"a reader adding: {s}")
s, b = post(port, "/api/kb/query", {"name": "docs", "query": "lamp"}, keys["b_user"])
check(s == 404, f"another tenant's base: {s} {b}")
s, b = post(port, "/api/kb", None, keys["b_user"], method="GET")
check(s == 200 and b["knowledge_bases"] == [], f"another tenant lists nothing: {b}")
s, b = post(port, "/api/kb", None, keys["a_reader"], method="GET")
check(s == 200 and b["knowledge_bases"] == ["docs"], f"the tenant's list: {b}")
s, b = post(port, "/api/kb/ask", {"name": "docs", "question": "Who lit the lamp?", "model": "story", "k": 2,
                                  "mode": "bm25"}, keys["a_user"])
check(s == 200 and isinstance(b.get("answer"), str) and b["sources"][0]["source"] == "lighthouse.txt", f"ask: {s} {b}")
answer = b.get("answer")
s, b = post(port, "/api/kb/ask", {"name": "docs", "question": "Who lit the lamp?", "model": "story", "k": 2,
                                  "mode": "bm25"}, keys["a_user"])
check(s == 200 and b.get("answer") == answer, f"the same question, the same (greedy) answer: {s} {b}")
s, text = post(port, "/metrics", None, keys["admin"], method="GET")
m = re.search(r"^autoglm_model_loads_total (\d+)$", text if isinstance(text, str) else "", re.M)
check(m and int(m.group(1)) == 1, f"two asks loaded the model once: {m and m.group(0)}")
s, b = post(port, "/api/kb/ask", {"name": "docs", "question": "zzqx", "model": "story", "mode": "bm25"}, keys["a_user"])
check(s == 200 and b.get("sources") == [] and isinstance(b.get("answer"), str), f"ask with nothing found: {s} {b}")
s, b = post(port, "/api/ps", None, keys["a_reader"], method="GET")
check(s == 200 and [x["name"] for x in b["models"]] == ["story:latest"], f"the answering model in /api/ps: {b}")
s, b = post(port, "/api/kb/ask", {"name": "docs", "question": "x", "model": "nope"}, keys["a_user"])
check(s == 404, f"ask with an unknown model: {s}")
s, b = post(port, "/api/kb/remove", {"name": "docs", "path": "garden.md"}, keys["a_user"])
check(s == 200 and b["removed"] == 1, f"remove: {s} {b}")
s, b = post(port, "/api/kb/query", {"name": "docs", "query": "番茄", "mode": "bm25"}, keys["a_user"])
check(s == 200 and all(r["source"] != "garden.md" for r in b["results"]), "removed documents leave the index")

text = ("The city council met on Monday. It approved the new park. The park will open in spring. "
        "Residents welcomed the decision. The mayor thanked the volunteers who planned the park.")
s, b = post(port, "/api/summarize", {"text": text, "max_length": 12}, keys["a_user"])
check(s == 200 and b["method"] == "extractive" and 0 < len(b["summary"]) < len(text), f"summarize text: {s} {b}")
html = "<html><body><nav>menu</nav><h1>News</h1><p>" + text + "</p><footer>copyright</footer></body></html>"
s, b = post(port, "/api/summarize", {"filename": "news.html", "content": b64(html)}, keys["a_user"])
check(s == 200 and "menu" not in b["summary"] and "copyright" not in b["summary"], f"summarize html: {s} {b}")
s, b = post(port, "/api/summarize", {"text": text, "model": "story", "max_length": 20}, keys["a_user"])
check(s == 200 and b["method"] == "model", f"summarize with a model: {s} {b}")
first = b.get("summary")
s, b = post(port, "/api/summarize", {"text": text, "model": "story", "max_length": 20}, keys["a_user"])
check(s == 200 and b.get("summary") == first, f"the same text, the same (greedy) summary: {s} {b}")
s, text_m = post(port, "/metrics", None, keys["admin"], method="GET")
m = re.search(r"^autoglm_model_loads_total (\d+)$", text_m if isinstance(text_m, str) else "", re.M)
check(m and int(m.group(1)) == 1, f"asks and summaries share the loaded model: {m and m.group(0)}")
s, b = post(port, "/api/summarize", {"text": text, "model": ""}, keys["a_user"])
check(s == 400, f"summarize with an empty model name: {s} {b}")

# a base with an embedding model of the store: the server embeds on its loaded model
s, b = post(port, "/api/kb/create", {"name": "vec", "embed_model": "emb"}, keys["a_user"])
check(s == 200, f"create with an embedding model: {s} {b}")
s, b = post(port, "/api/kb/add", {"name": "vec", "files": files[:2]}, keys["a_user"])
check(s == 200 and b.get("chunks_embedded", 0) >= 2, f"add with embeddings: {s} {b}")
for q in ("where is the lamp", "what do tomatoes need"):
    s, b = post(port, "/api/kb/query", {"name": "vec", "query": q, "mode": "dense", "k": 2}, keys["a_reader"])
    check(s == 200 and len(b.get("results", [])) == 2, f"dense query: {s} {b}")
s, text_m = post(port, "/metrics", None, keys["admin"], method="GET")
m = re.search(r"^autoglm_model_loads_total (\d+)$", text_m if isinstance(text_m, str) else "", re.M)
check(m and int(m.group(1)) == 2, f"the embedding model loaded once, by the scheduler: {m and m.group(0)}")
s, b2 = post(port, "/api/ps", None, keys["a_reader"], method="GET")
check(s == 200 and "emb:latest" in [x["name"] for x in b2["models"]], f"the embedding model in /api/ps: {b2}")
# the vectors the server stored are the ones the CLI computes: a chunk's own text finds it at cosine 1
chunk = b["results"][0]["text"] if s == 200 and b.get("results") else ""
r = subprocess.run([exe, "kb", "query", "vec", chunk, "--mode", "dense", "-k", "1", "--json"], capture_output=True, text=True,
                   env=dict(env, AUTOGLM_KB=f"{tmp}/kb/@acme"), timeout=120)
hits = json.loads(r.stdout)["results"] if r.returncode == 0 else []
check(hits and hits[0]["text"] == chunk and abs(hits[0]["score"] - 1) < 1e-4, f"server vectors == CLI vectors: {r.stderr} {hits[:1]}")
s, b = post(port, "/api/summarize", {}, keys["a_user"])
check(s == 400, f"summarize nothing: {s}")
s, b = post(port, "/api/summarize", {"text": text}, keys["a_reader"])
check(s == 403, f"a reader summarizing: {s}")
p.send_signal(signal.SIGTERM)
p.wait(timeout=60)

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
