"""server_admin.py - the server's operations side, with stdlib clients only: GET /health,
/metrics (Prometheus text: requests by route and code, tokens, TTFT and latency histograms,
queue and KV gauges), keep_alive (0 unloads at once, a duration unloads after it, -1 never),
the memory check before loading (507 with a clear message), POST /api/create, `autoglm ps`,
and downloads: `autoglm pull` and POST /api/pull from a local HTTP server that supports Range
(an interrupted download resumes, SHA-256 is checked, https and hf.co names are refused).
usage: server_admin.py AUTOGLM SHARED"""
import http.server, json, os, re, subprocess, sys, threading, time

import harness
from harness import check, failures

exe, shared = sys.argv[1], sys.argv[2]
gguf = f"{shared}/models/stories260K.gguf"
data = open(gguf, "rb").read()
tmp = harness.tmpdir("autoglm-adm-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")


def cli(*args, rc=0, extra_env=None):
    p = subprocess.run([exe, *args], env=dict(env, **(extra_env or {})), capture_output=True, text=True, timeout=120)
    check(p.returncode == rc, f"autoglm {' '.join(args)}: exit {p.returncode} (want {rc}): {p.stderr.strip()}")
    return p


def start(*extra):
    return harness.start_server(exe, env, *extra)


def stop(p):
    harness.stop_server(p, check)


def request(port, method, path, body=None):
    status, _, text = harness.http_request(port, method, path, body)
    return status, text


def post(port, path, body):
    status, text = request(port, "POST", path, body)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def ps_names(port):
    return [m["name"] for m in json.loads(request(port, "GET", "/api/ps")[1])["models"]]


# ---------------------------------------------------------------- a file server with Range
class Files(http.server.BaseHTTPRequestHandler):
    cut_next = [0]  # > 0: the next full answer stops after that many bytes (a broken download)
    ranges = []
    hf = []  # Hugging Face file paths asked for

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.startswith("/api/models/"):  # a fake Hugging Face listing
            repo = self.path[len("/api/models/"):]
            if repo != "org/tiny-GGUF":
                self.send_error(401)
                return
            body = json.dumps({"id": repo, "siblings": [
                {"rfilename": "README.md"}, {"rfilename": "tiny-Q4_K_M.gguf"}, {"rfilename": "mmproj-tiny-Q8_0.gguf"},
                {"rfilename": "tiny-Q8_0.gguf"}, {"rfilename": "tiny-IQ4_XS.gguf"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path in ("/org/tiny-GGUF/resolve/main/tiny-Q8_0.gguf", "/org/tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf"):
            Files.hf.append(self.path)
            self.path = "/moved.gguf"  # then redirected to the file, as the Hub redirects to its CDN
        if self.path == "/moved.gguf":
            self.send_response(302)
            self.send_header("Location", "/stories.gguf")
            self.end_headers()
            return
        if self.path not in ("/stories.gguf", "/bad.gguf"):
            self.send_error(404)
            return
        body = data if self.path == "/stories.gguf" else b"not a gguf file at all" * 100
        rng = self.headers.get("Range")
        Files.ranges.append(rng)
        start = int(re.match(r"bytes=(\d+)-", rng).group(1)) if rng else 0
        if start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        part = body[start:]
        if Files.cut_next[0]:
            part, Files.cut_next[0] = part[:Files.cut_next[0]], 0
        self.wfile.write(part)


files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
threading.Thread(target=files.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{files.server_address[1]}"
sha = __import__("hashlib").sha256(data).hexdigest()

# ---------------------------------------------------------------- pull (CLI)
Files.cut_next[0] = 400000  # the first download breaks off
p = cli("pull", f"{base}/stories.gguf", "tiny", rc=1)
check("interrupted" in p.stderr or "incomplete" in p.stderr, f"broken pull: {p.stderr}")
p = cli("pull", f"{base}/stories.gguf", "tiny", "--sha256", sha)
check("pulled 'tiny:latest'" in p.stdout and Files.ranges[-1] == "bytes=400000-", f"resume: {p.stdout} {Files.ranges}")
check(os.path.exists(f"{tmp}/models/blobs/sha256-{sha}"), "pull: blob named by its digest")
check(not [f for f in os.listdir(f"{tmp}/models/blobs") if f.startswith("partial-")], "pull: no partial file left")
check("tiny:latest" in cli("list").stdout, "pull: listed")
p = cli("pull", f"{base}/moved.gguf", rc=0)  # redirect; default name from the URL
check("pulled 'moved:latest'" in p.stdout, f"pull: redirect and default name: {p.stdout}")
p = cli("pull", f"{base}/stories.gguf", "wrong", "--sha256", "0" * 64, rc=2)
check("SHA-256 mismatch" in p.stderr, f"pull: digest mismatch: {p.stderr}")
p = cli("pull", f"{base}/bad.gguf", "bad", rc=2)
check("not a usable model" in p.stderr, f"pull: not a model: {p.stderr}")
p = cli("pull", f"{base}/missing.gguf", rc=1)
check("404" in p.stderr, f"pull: 404: {p.stderr}")
# Hugging Face names against the fake listing (AUTOGLM_HF_ENDPOINT): the file matching the quant
hf_env = dict(env, AUTOGLM_HF_ENDPOINT=base)
p = subprocess.run([exe, "pull", "hf.co/org/tiny-GGUF:q8_0"], env=hf_env, capture_output=True, text=True, timeout=120)
check(p.returncode == 0 and "pulled 'hf.co/org/tiny-gguf:q8_0'" in p.stdout and
      Files.hf[-1].endswith("/tiny-Q8_0.gguf"), f"pull hf.co: {p.returncode} {p.stdout} {p.stderr} {Files.hf}")
p = subprocess.run([exe, "pull", "huggingface.co/org/tiny-GGUF", "hfdefault"], env=hf_env, capture_output=True, text=True,
                   timeout=120)
check(p.returncode == 0 and Files.hf[-1].endswith("/tiny-Q4_K_M.gguf"), f"pull hf.co default quant: {p.stderr} {Files.hf}")
for name, want in (("hf.co/org/tiny-GGUF:Q2_K", "matches 'Q2_K'"), ("hf.co/org/other", "HTTP 401"),
                   ("hf.co/org", "hf.co/ORG/REPO")):
    p = subprocess.run([exe, "pull", name], env=hf_env, capture_output=True, text=True, timeout=120)
    check(p.returncode != 0 and want in p.stderr, f"pull {name}: {p.returncode} {p.stderr}")
# https: a TLS handshake with a plain HTTP server fails cleanly (no network needed)
p = cli("pull", base.replace("http://", "https://") + "/stories.gguf", rc=1)
check("TLS" in p.stderr, f"pull https from a plain server: {p.stderr}")
p = cli("pull", "ftp://example.com/x.gguf", rc=2)
check("not supported" in p.stderr, f"pull ftp: {p.stderr}")

# ---------------------------------------------------------------- the server
server, port = start("--parallel", "2", "--keep-alive", "-1")
try:
    status, text = request(port, "GET", "/health")
    check(status == 200 and json.loads(text)["status"] == "ok", f"/health: {status} {text}")

    # /api/pull and /api/create
    status, text = request(port, "POST", "/api/pull", {"model": f"{base}/stories.gguf", "as": "pulled", "sha256": sha})
    lines = [json.loads(l) for l in text.splitlines() if l.strip()]
    check(status == 200 and lines[-1] == {"status": "success"} and any("completed" in l for l in lines),
          f"/api/pull: {status} {text[:300]}")
    status, r = post(port, "/api/pull", {"model": "ftp://example.com/x.gguf", "stream": False})
    check(status == 400 and "not supported" in r["error"], f"/api/pull ftp: {status} {r}")
    status, r = post(port, "/api/create", {"model": "made", "from": "pulled", "system": "Be brief.",
                                           "parameters": {"temperature": 0, "num_predict": 5, "stop": ["x", "y"]},
                                           "stream": False})
    check(status == 200 and r == {"status": "success"}, f"/api/create: {status} {r}")
    status, show = post(port, "/api/show", {"model": "made"})
    check(status == 200 and "num_predict 5" in show.get("parameters", "") and show.get("system") == "Be brief.",
          f"show created: {show}")
    status, r = post(port, "/api/create", {"model": "made2", "modelfile": f"FROM {gguf}\nPARAMETER top_k 3\n"})
    check(status == 200 and "success" in str(r), f"/api/create modelfile: {status} {r}")
    status, r = post(port, "/api/create", {"model": "made3", "from": "no-such-model"})
    check(status == 404 and "error" in r, f"/api/create unknown base: {status} {r}")
    status, r = post(port, "/api/create", {"model": "made3", "from": "made", "parameters": {"temprature": 1}})
    check(status == 400 and "error" in r, f"/api/create bad parameter: {status} {r}")

    # generations feed the metrics; keep_alive -1 by the server's flag: stays loaded
    for i in range(3):
        status, g = post(port, "/api/generate", {"model": "made", "prompt": "Once", "raw": True, "stream": False})
        check(status == 200 and g["eval_count"] >= 1, f"generate: {status} {g}")
    # energy: a number where the machine reads it, null (never 0) where it does not
    stats = json.loads(request(port, "GET", "/api/stats")[1])
    if stats["energy"]["sources"] == "unavailable":
        check(g["energy_joules"] is None and g["joules_per_token"] is None, f"energy without a reading: {g}")
        check(stats["last"]["joules_per_token"] is None, f"/api/stats last energy without a reading: {stats}")
    else:
        check(g["energy_joules"] >= 0 and stats["last"]["joules_per_token"] is not None, f"energy: {g} {stats}")
    check(ps_names(port) == ["made:latest"], f"ps after generate: {ps_names(port)}")
    ps = json.loads(request(port, "GET", "/api/ps")[1])["models"][0]
    check(ps["expires_at"].startswith("2318"), f"keep-alive -1: {ps['expires_at']}")
    out = cli("ps", "--host", f"127.0.0.1:{port}").stdout
    check("NAME" in out and "made:latest" in out and "Forever" in out, f"autoglm ps: {out}")
    request(port, "GET", "/nope")
    status, text = request(port, "GET", "/metrics")
    check(status == 200, "/metrics status")
    for want in ('autoglm_requests_total{route="/api/generate",code="200"} 3', 'route="other",code="404"} 1',
                 "autoglm_generated_tokens_total 15", "autoglm_time_to_first_token_seconds_count 3",
                 "autoglm_token_latency_seconds_count 12", 'autoglm_time_to_first_token_seconds_bucket{le="+Inf"} 3',
                 "autoglm_queue_depth 0", "autoglm_kv_slots_total 2", "autoglm_kv_slots_in_use 0", "autoglm_models_loaded 1"):
        check(want in text, f"/metrics lacks {want!r}")
    check(re.search(r"^autoglm_prompt_tokens_total [1-9]", text, re.M), "/metrics prompt tokens")

    # keep_alive 0: unloaded as soon as the request ends; a duration: after it
    status, g = post(port, "/api/generate", {"model": "made", "prompt": "Once", "raw": True, "stream": False, "keep_alive": 0})
    time.sleep(0.3)
    check(status == 200 and ps_names(port) == [], f"keep_alive 0: {ps_names(port)}")
    status, g = post(port, "/api/generate", {"model": "made", "keep_alive": "1s"})
    check(status == 200 and g["done_reason"] == "load", f"load only: {g}")
    ps = json.loads(request(port, "GET", "/api/ps")[1])["models"]
    check(len(ps) == 1 and not ps[0]["expires_at"].startswith("2318"), f"keep_alive 1s: {ps}")
    time.sleep(2.5)
    check(ps_names(port) == [], f"keep_alive 1s passed: {ps_names(port)}")
    status, g = post(port, "/api/generate", {"model": "made", "keep_alive": "5m"})
    status, g = post(port, "/api/generate", {"model": "made", "keep_alive": 0})
    time.sleep(0.3)
    check(g["done_reason"] == "unload" and ps_names(port) == [], f"unload request: {g} {ps_names(port)}")
    status, r = post(port, "/api/generate", {"model": "made", "keep_alive": "soon"})
    check(status == 400, f"bad keep_alive: {status} {r}")
finally:
    stop(server)

# the memory check: the model and its KV caches do not fit in the limit
server, port = start("--mem-limit", "1000000", "--num-ctx", "256")
try:
    status, r = post(port, "/api/generate", {"model": "made", "prompt": "Once", "stream": False})
    check(status == 507 and "requires more system memory" in r.get("error", ""), f"memory check: {status} {r}")
    check(ps_names(port) == [], "nothing loaded after the memory check")
finally:
    stop(server)
files.shutdown()

if failures:
    sys.exit(f"{len(failures)} failures")
print("ok")
