"""pull_mirror.py - `autoglm pull` of ModelScope names (modelscope.cn/ORG/REPO:QUANT and
ms://ORG/REPO:QUANT) from a local HTTP server standing in for the mirror
(AUTOGLM_MODELSCOPE_ENDPOINT): the file listing (/api/v1/models/ORG/REPO/repo/files), the file
picked by its quantization, the download (/models/ORG/REPO/resolve/master/FILE) interrupted
and resumed with Range, and the listing's SHA-256 checked (a wrong one is refused).
usage: pull_mirror.py AUTOGLM SHARED"""
import hashlib, http.server, json, os, re, subprocess, sys, threading

import harness

exe, shared = sys.argv[1], sys.argv[2]
data = open(f"{shared}/models/stories260K.gguf", "rb").read()
sha = hashlib.sha256(data).hexdigest()
tmp = harness.tmpdir("autoglm-ms-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


class Mirror(http.server.BaseHTTPRequestHandler):
    cut_next = [0]  # > 0: the next file answer stops after that many bytes
    ranges, paths = [], []
    digest = [sha]

    def log_message(self, *a):
        pass

    def send_body(self, code, body, extra=()):
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        Mirror.paths.append(self.path)
        if self.path == "/api/v1/models/org/tiny-GGUF/repo/files?Revision=master&Recursive=true":
            files = [{"Name": "README.md", "Path": "README.md", "Type": "blob"},
                     {"Name": "tiny-Q4_K_M.gguf", "Path": "tiny-Q4_K_M.gguf", "Type": "blob", "Sha256": "0" * 64},
                     {"Name": "mmproj-tiny-Q8_0.gguf", "Path": "mmproj-tiny-Q8_0.gguf", "Type": "blob"},
                     {"Name": "tiny-Q8_0.gguf", "Path": "tiny-Q8_0.gguf", "Type": "blob", "Sha256": Mirror.digest[0],
                      "Size": len(data)}]
            self.send_body(200, json.dumps({"Code": 200, "Data": {"Files": files}, "Success": True}).encode())
            return
        if self.path == "/long-redirect":  # a same-host redirect whose URL cannot be followed
            self.send_body(302, b"", [("Location", "/" + "x" * 3000)])
            return
        if self.path.startswith("/api/v1/models/"):
            self.send_body(404, json.dumps({"Code": 10010205001, "Message": "model not found"}).encode())
            return
        if self.path != "/models/org/tiny-GGUF/resolve/master/tiny-Q8_0.gguf":
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        Mirror.ranges.append(rng)
        start = int(re.match(r"bytes=(\d+)-", rng).group(1)) if rng else 0
        part = data[start:]
        if Mirror.cut_next[0]:
            part, Mirror.cut_next[0] = part[:Mirror.cut_next[0]], 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(part)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
threading.Thread(target=srv.serve_forever, daemon=True).start()


def pull(store, *args, rc=0):
    env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/{store}",
               AUTOGLM_MODELSCOPE_ENDPOINT=f"http://127.0.0.1:{srv.server_address[1]}")
    p = subprocess.run([exe, "pull", *args], env=env, capture_output=True, text=True, timeout=120)
    check(p.returncode == rc, f"pull {args}: exit {p.returncode} (want {rc}): {p.stderr.strip()[-300:]}")
    return p, env


Mirror.cut_next[0] = 300000  # the first download breaks off
p, _ = pull("a", "modelscope.cn/org/tiny-GGUF:Q8_0", rc=1)
check("incomplete" in p.stderr or "interrupted" in p.stderr, f"broken pull: {p.stderr}")
p, env = pull("a", "modelscope.cn/org/tiny-GGUF:Q8_0")
check(Mirror.ranges[-1] == "bytes=300000-", f"resumed with Range: {Mirror.ranges}")
check("pulled 'modelscope.cn/org/tiny-gguf:Q8_0'" in p.stdout or "pulled 'modelscope.cn/org/tiny-gguf:q8_0'" in p.stdout,
      f"store name: {p.stdout}")
check(os.path.exists(f"{tmp}/a/blobs/sha256-{sha}"), "blob named by its digest")
check("tiny-gguf" in subprocess.run([exe, "list"], env=env, capture_output=True, text=True).stdout, "listed")

p, _ = pull("b", "ms://org/tiny-GGUF:q8_0")  # the short form, quant case-insensitive
check(os.path.exists(f"{tmp}/b/blobs/sha256-{sha}"), f"ms:// form: {p.stdout} {p.stderr}")

Mirror.digest[0] = "f" * 64  # the listing's digest does not match the file
p, _ = pull("c", "ms://org/tiny-GGUF:Q8_0", rc=2)
check("SHA-256 mismatch" in p.stderr, f"digest checked: {p.stderr}")
Mirror.digest[0] = sha
p, _ = pull("d", "ms://org/nothing:Q8_0", rc=1)
check("404" in p.stderr or "not found" in p.stderr.lower(), f"unknown repository: {p.stderr}")
p, _ = pull("d", "ms://org/tiny-GGUF:Q3_K_S", rc=1)
check("matches" in p.stderr, f"no such quant: {p.stderr}")
p, _ = pull("d", "ms://justone", rc=2)
check("ModelScope name" in p.stderr, f"malformed name: {p.stderr}")

p = subprocess.run([exe, "pull", f"http://127.0.0.1:{srv.server_address[1]}/long-redirect", "r"],
                   env=dict(os.environ, AUTOGLM_MODELS=f"{tmp}/e"), capture_output=True, text=True, timeout=60)
check(p.returncode != 0 and "redirect to a URL longer than" in p.stderr, f"over-long redirect: {p.returncode} {p.stderr}")

print(f"{len(failures)} failure(s)" if failures else "ok")
sys.exit(1 if failures else 0)
