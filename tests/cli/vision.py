"""vision.py - a vision-language model end to end, with the tiny GLM-4.1V fixture of tests/data/glm4v
(converted here with `autoglm convert --mmproj` into a temporary store):
  store: `create` with two FROM lines (the projector told by its GGUF architecture "clip"), the
    manifest's projector, `show` of the model and of the projector file, `cp`/`rm` and the blobs;
  `run --image` (and `run FILE --mmproj FILE`): the same greedy answer as every server route;
  server: /api/show projector_info and the "vision" capability; /api/generate (template and raw
    with [img-N] tags: the prompt tokens equal the reference's of tests/data/glm4v/expected.json),
    /api/chat, /v1/chat/completions (image_url among text parts), streamed and not, all giving the
    CLI's answer; a second image with the same token count is not answered from the first one's
    cached prefix; image tokens count against num_ctx (400 with the counts; truncate never cuts
    an image); no projector is a 400.
usage: vision.py AUTOGLM SHARED"""
import base64, http.client, json, os, re, subprocess, sys, threading

import harness
from harness import check, failures

exe = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
fixture = os.path.join(here, "..", "data", "glm4v")
images = os.path.join(here, "..", "data", "image")
tmp = harness.tmpdir("autoglm-vision-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")
expected = json.load(open(f"{fixture}/expected.json"))


def cli(*args):
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120, errors="replace")


# ---------------------------------------------------------------- store
lm, mm = f"{tmp}/glm4v.gguf", f"{tmp}/glm4v-mmproj.gguf"
p = cli("convert", fixture, lm, "--type", "f32", "--mmproj", mm)
if p.returncode != 0:
    sys.exit(f"convert: {p.stderr}")
open(f"{tmp}/Modelfile", "w").write("FROM glm4v.gguf\nFROM glm4v-mmproj.gguf\nPARAMETER temperature 0\n")
open(f"{tmp}/Modelfile.swapped", "w").write("FROM glm4v-mmproj.gguf\nFROM glm4v.gguf\n")
open(f"{tmp}/Modelfile.plain", "w").write("FROM glm4v.gguf\nPARAMETER temperature 0\n")
open(f"{tmp}/Modelfile.only", "w").write("FROM glm4v-mmproj.gguf\n")
open(f"{tmp}/Modelfile.two", "w").write("FROM glm4v.gguf\nFROM glm4v.gguf\n")
open(f"{tmp}/Modelfile.three", "w").write("FROM glm4v.gguf\nFROM glm4v-mmproj.gguf\nFROM glm4v.gguf\n")
check(cli("create", "seeing", "-f", f"{tmp}/Modelfile").returncode == 0, "create seeing")
check(cli("create", "swapped", "-f", f"{tmp}/Modelfile.swapped").returncode == 0, "create with the projector first")
check(cli("create", "plain", "-f", f"{tmp}/Modelfile.plain").returncode == 0, "create plain")
p = cli("create", "bad", "-f", f"{tmp}/Modelfile.only")
check(p.returncode != 0 and "vision projector" in p.stderr, f"create from a projector alone: {p.stderr.strip()}")
p = cli("create", "bad", "-f", f"{tmp}/Modelfile.two")
check(p.returncode != 0 and "neither is a projector" in p.stderr, f"create from two models: {p.stderr.strip()}")
p = cli("create", "bad", "-f", f"{tmp}/Modelfile.three")
check(p.returncode != 0 and "at most two FROM" in p.stderr, f"create with three FROM: {p.stderr.strip()}")
man = json.load(open(f"{tmp}/models/manifests/seeing/latest.json"))
proj_blob = man.get("projector", {}).get("path", "")
check(proj_blob.startswith(f"{tmp}/models/blobs/sha256-") and os.path.exists(proj_blob), f"manifest projector: {man}")
check(json.load(open(f"{tmp}/models/manifests/swapped/latest.json"))["model"]["path"] == man["model"]["path"], "swapped FROMs: same model")
check("projector" not in json.load(open(f"{tmp}/models/manifests/plain/latest.json")), "plain has no projector")
p = cli("show", "seeing")
check(p.returncode == 0 and re.search(r"projector\s+" + re.escape(proj_blob), p.stdout), f"show seeing: {p.stdout[-400:]}")
p = cli("show", "seeing", "--json")
check(p.returncode == 0 and json.loads(p.stdout).get("projector") == proj_blob, f"show seeing --json: {p.stdout[-200:]}")
p = cli("show", mm)
check(p.returncode == 0 and "clip.projector_type" in p.stdout and '"glm4v"' in p.stdout, f"show mmproj: {p.stdout[:300]} {p.stderr}")
p = cli("show", mm, "--json")
j = json.loads(p.stdout) if p.returncode == 0 else {}
check(j.get("architecture") == "clip" and j.get("metadata", {}).get("clip.vision.block_count") == 2 and
      any(t["name"] == "mm.model.fc.weight" for t in j.get("tensors", [])), f"show --json mmproj: {p.stdout[:300]}")
# cp keeps the projector; rm drops its blob only when no model uses it
check(cli("cp", "seeing", "copy").returncode == 0, "cp seeing copy")
check(json.load(open(f"{tmp}/models/manifests/copy/latest.json")).get("projector", {}).get("path") == proj_blob, "cp keeps the projector")
check(cli("rm", "copy").returncode == 0 and cli("rm", "swapped").returncode == 0, "rm copy swapped")
check(os.path.exists(proj_blob), "the projector blob stays while seeing uses it")
check(cli("cp", "seeing", "gone").returncode == 0 and cli("rm", "seeing").returncode == 0, "cp + rm seeing")
check(os.path.exists(proj_blob), "the projector blob stays while gone uses it")
check(cli("rm", "gone").returncode == 0 and not os.path.exists(proj_blob), "rm of the last user removes the projector blob")
check(os.path.exists(man["model"]["path"]), "the model blob stays (plain uses it)")
check(cli("create", "seeing", "-f", f"{tmp}/Modelfile").returncode == 0, "create seeing again")

# ---------------------------------------------------------------- run --image
img_a, img_b = f"{images}/small_rgb_40x30.png", f"{images}/cmyk_32x24.jpg"  # both 1x6x8 patches: 12 tokens
img_t = f"{images}/rgba_308x70.png"  # 1x4x22 patches: 22 tokens; the fixture's answer is visible text
greedy = ["--temperature", "0", "--num-predict", "8"]
run_a = cli("run", "seeing", "--image", img_a, "Describe it.", *greedy)
check(run_a.returncode == 0, f"run --image: {run_a.stderr}")
run_b = cli("run", "seeing", "--image", img_b, "Describe it.", *greedy)
check(run_b.returncode == 0 and run_b.stdout != run_a.stdout, f"run --image b: {run_b.stderr} {run_b.stdout!r} {run_a.stdout!r}")
run_t = cli("run", "seeing", "--image", img_t, "Describe it.", *greedy)
check(run_t.returncode == 0 and run_t.stdout.startswith("GGGG"), f"run --image t: {run_t.stderr} {run_t.stdout!r}")
p = cli("run", lm, "--mmproj", mm, "--image", img_t, "Describe it.", *greedy)
check(p.returncode == 0 and p.stdout == run_t.stdout, f"run FILE --mmproj: {p.stderr} {p.stdout!r}")
p = cli("run", "plain", "--image", img_a, "Describe it.")
check(p.returncode == 1 and "does not support images" in p.stderr, f"run, no projector: {p.stderr.strip()}")
p = cli("run", lm, "--mmproj", lm, "--image", img_a, "x")
check(p.returncode == 1 and "not a vision projector" in p.stderr, f"run --mmproj LM: {p.stderr.strip()}")
p = cli("run", "seeing", "--image", img_a, "Describe it.", "--num-ctx", "20")
check(p.returncode == 1 and "12 of them for 1 image(s)" in p.stderr, f"run, image over num_ctx: {p.stderr.strip()}")
p = cli("run", "seeing", "--image", img_a, "Describe it.", "--num-ctx", "20", "--truncate")
check(p.returncode == 1 and "would cut an image" in p.stderr, f"run --truncate over an image: {p.stderr.strip()}")
answer_a, answer_b, answer_t = run_a.stdout[:-1], run_b.stdout[:-1], run_t.stdout[:-1]  # run ends with a newline
# a system message longer than a prefill chunk (128 tokens): text chunks stop before the image
system = "Look at the picture. " * 9
run_ts = cli("run", "seeing", "--system", system, "--image", img_t, "Describe it.", *greedy)
run_bs = cli("run", "seeing", "--system", system, "--image", img_b, "Describe it.", *greedy)
check(run_ts.returncode == 0 and run_bs.returncode == 0 and run_ts.stdout != run_bs.stdout,
      f"run --system --image: {run_ts.stderr} {run_bs.stderr} {run_ts.stdout!r} {run_bs.stdout!r}")
answer_ts, answer_bs = run_ts.stdout[:-1], run_bs.stdout[:-1]


# ---------------------------------------------------------------- server
def start():
    return harness.start_server(exe, env, "--parallel", "2")


def post(path, body, stream=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    c.close()
    if stream:
        return r.status, text
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def b64(path):
    return base64.b64encode(open(path, "rb").read()).decode()


def ndjson_text(text, key):
    out = ""
    for line in text.splitlines():
        o = json.loads(line)
        out += o["message"]["content"] if key == "chat" else o.get("response", "")
    return out


def sse_text(text):
    out = ""
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for c in json.loads(line[6:]).get("choices", []):
                out += c.get("delta", {}).get("content") or ""
    return out


opts = {"temperature": 0, "num_predict": 8}
server, port = start()
try:
    st, r = post("/api/show", {"model": "seeing"})
    check(st == 200 and "vision" in r.get("capabilities", []) and
          r.get("projector_info", {}).get("clip.projector_type") == "glm4v" and
          r.get("projector_info", {}).get("general.architecture") == "clip", f"/api/show seeing: {st} {str(r)[:300]}")
    st, r = post("/api/show", {"model": "plain"})
    check(st == 200 and "vision" not in r.get("capabilities", []) and "projector_info" not in r, f"/api/show plain: {st}")
    st, r = post("/api/tags", {})
    a, ga, ta = b64(img_a), b64(img_b), b64(img_t)
    # /api/generate, templated: the CLI's answer
    st, r = post("/api/generate", {"model": "seeing", "prompt": "Describe it.", "images": [ta], "stream": False, "options": opts})
    check(st == 200 and r.get("response") == answer_t and r.get("prompt_eval_count", 0) > 22, f"generate: {st} {str(r)[:300]} vs {answer_t!r}")
    st, t = post("/api/generate", {"model": "seeing", "prompt": "Describe it.", "images": [ta], "options": opts}, stream=True)
    check(st == 200 and ndjson_text(t, "generate") == answer_t, f"generate streamed: {st} {t[:300]}")
    # raw with a tag: the prompt tokens are the reference's (tests/data/glm4v: text, image, text)
    raw = "[gMASK]<sop><|user|>\n[img-0]Describe it.<|assistant|>\n"
    st, r = post("/api/generate", {"model": "seeing", "prompt": raw, "raw": True, "images": [a], "stream": False, "options": opts})
    check(st == 200 and r.get("context", [])[:len(expected["tokens"])] == expected["tokens"] and
          r.get("prompt_eval_count") == len(expected["tokens"]), f"generate raw: {st} {str(r)[:400]}")
    st, r2 = post("/api/generate", {"model": "seeing", "prompt": "more", "context": r.get("context", []), "stream": False})
    check(st == 400 and "context" in str(r2) and "image tokens" in str(r2), f"generate with an image answer's context: {st} {r2}")
    # /api/chat, and the same answer as the CLI
    st, r = post("/api/chat", {"model": "seeing", "stream": False, "options": opts,
                               "messages": [{"role": "user", "content": "Describe it.", "images": [ta]}]})
    check(st == 200 and r.get("message", {}).get("content") == answer_t, f"chat: {st} {str(r)[:300]}")
    st, t = post("/api/chat", {"model": "seeing", "options": opts,
                               "messages": [{"role": "user", "content": "Describe it.", "images": [ta]}]}, stream=True)
    check(st == 200 and ndjson_text(t, "chat") == answer_t, f"chat streamed: {st} {t[:300]}")
    # OpenAI: the image part before the text part (where the CLI puts it)
    parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + ta}}, {"type": "text", "text": "Describe it."}]
    body = {"model": "seeing", "temperature": 0, "max_tokens": 8, "messages": [{"role": "user", "content": parts}]}
    st, r = post("/v1/chat/completions", body)
    check(st == 200 and r["choices"][0]["message"]["content"] == answer_t, f"openai: {st} {str(r)[:300]}")
    st, t = post("/v1/chat/completions", dict(body, stream=True), stream=True)
    check(st == 200 and sse_text(t) == answer_t, f"openai streamed: {st} {t[:300]}")
    # the position of an image among text parts is kept: text, image, text is generate's "Describe[img-0] it."
    moved = [{"type": "text", "text": "Describe"}, parts[0], {"type": "text", "text": " it."}]
    st, r = post("/v1/chat/completions", dict(body, messages=[{"role": "user", "content": moved}]))
    st2, r2 = post("/api/generate", {"model": "seeing", "prompt": "Describe[img-0] it.", "images": [ta], "stream": False, "options": opts})
    st3, r3 = post("/api/generate", {"model": "seeing", "prompt": "Describe it.", "images": [ta], "stream": False,
                                     "options": opts, "raw": False})
    check(st == 200 and st2 == 200 and r["choices"][0]["message"]["content"] == r2.get("response") and
          r2.get("context") != r3.get("context"), f"openai image between texts = generate with [img-0] there: {str(r)[:200]} {str(r2)[:200]}")
    # image b has as many tokens as a: the same token ids, never answered from a's cached prefix
    st, r = post("/api/chat", {"model": "seeing", "stream": False, "options": opts,
                               "messages": [{"role": "user", "content": "Describe it.", "images": [a]}]})
    check(st == 200 and r.get("message", {}).get("content") == answer_a, f"chat a again: {st} {str(r)[:300]}")
    for _ in range(2):
        st, r = post("/api/chat", {"model": "seeing", "stream": False, "options": opts,
                                   "messages": [{"role": "user", "content": "Describe it.", "images": [ga]}]})
        check(st == 200 and r.get("message", {}).get("content") == answer_b, f"chat b after a: {st} {str(r)[:300]} vs {answer_b!r}")
    # a follow-up about the same image keeps the image's rows in the slot (keyed by its pixels), and
    # answers what a fresh server answers; image a in the same place (same token ids) would not
    follow = {"model": "seeing", "stream": False, "options": opts, "messages": [
        {"role": "user", "content": "Describe it.", "images": [ga]}, {"role": "assistant", "content": answer_b},
        {"role": "user", "content": "And then?"}]}
    st, r1 = post("/api/chat", follow)
    n_img = expected["n_image_tokens"]
    check(st == 200 and r1.get("prompt_eval_cached_count", 0) > n_img,
          f"follow-up about the same image: its rows not kept ({str(r1)[:300]})")
    st, r_other = post("/api/chat", dict(follow, messages=[dict(follow["messages"][0], images=[a])] + follow["messages"][1:]))
    check(st == 200 and r_other.get("prompt_eval_cached_count", 0) < n_img,
          f"the same follow-up with another image took the first one's rows: {str(r_other)[:300]}")
    fresh, fresh_port = start()
    try:
        global_port, port = port, fresh_port
        st, r2 = post("/api/chat", follow)
        port = global_port
    finally:
        harness.stop_server(fresh, check)
    check(st == 200 and r2.get("prompt_eval_cached_count", 0) < n_img and
          r2.get("message", {}).get("content") == r1.get("message", {}).get("content"),
          f"follow-up from the kept image rows = a fresh server's answer: {r1.get('prompt_eval_cached_count')} {r1.get('message')} vs {r2.get('prompt_eval_cached_count')} {r2.get('message')}")
    # at once, 2 slots: a shared system prompt lent between slots (copy_prefix), each image its own
    # piece of the prefill, batched decode steps of sessions whose positions run ahead of their cache
    results = {}

    def one(k, img):
        results[k] = post("/api/chat", {"model": "seeing", "stream": False, "options": opts, "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": "Describe it.", "images": [img]}]})

    threads = [threading.Thread(target=one, args=(k, ta if k % 2 == 0 else ga)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(6):
        st, r = results.get(k, (0, {}))
        want = answer_ts if k % 2 == 0 else answer_bs
        check(st == 200 and r.get("message", {}).get("content") == want, f"concurrent chat {k}: {st} {str(r)[:200]} vs {want!r}")
    # two images in one request, and one per message
    st, r = post("/api/chat", {"model": "seeing", "stream": False, "options": opts, "messages": [
        {"role": "user", "content": "first", "images": [a]}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "and [img] this", "images": [ga]}]})
    check(st == 200 and r.get("prompt_eval_count", 0) > 24, f"chat, two images: {st} {str(r)[:300]}")
    # context: image tokens count (400 with the counts), truncate never cuts an image
    small = dict(opts, num_ctx=20)
    st, r = post("/api/generate", {"model": "seeing", "prompt": "Describe it.", "images": [a], "stream": False, "options": small})
    check(st == 400 and "12 of them for 1 image(s)" in str(r), f"generate over num_ctx: {st} {r}")
    # 38 tokens, the image's at 3..14: num_ctx 36 keeps the newest 28 (8 for the answer), a cut at 10
    st, r = post("/api/generate", {"model": "seeing", "prompt": "Describe it.", "images": [a], "stream": False,
                                   "options": dict(opts, num_ctx=36), "truncate": True})
    check(st == 400 and "would cut an image" in str(r), f"generate truncate inside an image: {st} {r}")
    # num_ctx 20 keeps 12: the cut at 26 drops the whole image with the text before it
    st, r = post("/api/generate", {"model": "seeing", "prompt": "Describe it.", "images": [a], "stream": False,
                                   "options": small, "truncate": True})
    check(st == 200 and r.get("truncated") == 26 and r.get("prompt_eval_count") == 12, f"generate truncate past an image: {st} {r}")
    st, r = post("/api/chat", {"model": "seeing", "stream": False, "options": dict(opts, num_ctx=40), "truncate": True, "messages": [
        {"role": "user", "content": "x" * 30, "images": [a]}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "Describe it."}]})
    check(st == 200 and r.get("prompt_eval_count", 99) < 40, f"chat truncate past a whole image (dropped with it): {st} {r}")
    # errors: no projector, a template that lost the image
    st, r = post("/api/generate", {"model": "plain", "prompt": "hi", "images": [a], "stream": False})
    check(st == 400 and "does not support images" in str(r), f"generate, no projector: {st} {r}")
    st, r = post("/api/generate", {"model": "seeing", "prompt": "hi", "raw": True, "images": [a, ga], "stream": False, "options": opts})
    check(st == 200 and r.get("prompt_eval_count", 0) > 24, f"raw without tags: images first: {st} {str(r)[:200]}")
    st, r = post("/api/generate", {"model": "seeing", "prompt": "<|image|><|image|>", "raw": True, "images": [a], "stream": False})
    check(st == 400 and "placeholders" in str(r), f"raw with a stray <|image|>: {st} {r}")
finally:
    server.terminate()
    server.wait(timeout=60)

if failures:
    sys.exit(f"vision: {len(failures)} checks failed")
print("vision: all checks passed")
