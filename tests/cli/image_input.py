"""image_input.py - images in requests and on the command line (src/server/api_images.c,
`autoglm run --image`): each bad image is a 400 (CLI: exit 1) whose message names the image and
says why (bad base64, not an image, truncated, huge dimensions, an http URL, not base64 data URL),
a good image on a model without a vision projector is a 400 "does not support images", and a model
whose manifest names a projector file that is not there fails to load (CLI exit 1, HTTP 500) with
a message naming the projector. (Working images: vision.py.)
usage: image_input.py AUTOGLM SHARED"""
import base64, glob, http.client, json, os, struct, subprocess, sys, zlib

import harness
from harness import check, failures

exe, shared = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
images = os.path.join(here, "..", "data", "image")
gguf = f"{shared}/models/stories260K.gguf"
tmp = harness.tmpdir("autoglm-img-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")


def cli(*args):
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)


png = open(f"{images}/rgb_301x157.png", "rb").read()
jpg = open(f"{images}/photo_160x120.jpg", "rb").read()
# a valid PNG header claiming 20000 x 20000 (refused before decoding), and a truncated PNG/JPEG
huge = bytearray(png)
huge[16:24] = struct.pack(">II", 20000, 20000)
huge[29:33] = struct.pack(">I", zlib.crc32(bytes(huge[12:29])) & 0xffffffff)
bad_files = {
    "truncated.png": (png[: len(png) // 2], "corrupt PNG image"),
    "truncated.jpg": (jpg[: len(jpg) // 2], "corrupt JPEG image"),
    "huge.png": (bytes(huge), "image is 20000 x 20000, larger than"),
    "text.png": (b"hello, not an image at all\n", "not a PNG or JPEG image"),
    "empty.png": (b"", "image is empty"),
}
for name, (data, _) in bad_files.items():
    open(f"{tmp}/{name}", "wb").write(data)

# ---------------------------------------------------------------- the CLI
open(f"{tmp}/Modelfile", "w").write(f"FROM {gguf}\nPARAMETER temperature 0\n")
check(cli("create", "stories", "-f", f"{tmp}/Modelfile").returncode == 0, "create stories")
check(cli("create", "seeing", "-f", f"{tmp}/Modelfile").returncode == 0, "create seeing")
# a manifest that names a projector (as the GLM-4.1V conversion will write it)
manifest = glob.glob(f"{tmp}/models/manifests/seeing/latest.json")
check(len(manifest) == 1, f"manifest of seeing: {manifest}")
if manifest:
    j = json.load(open(manifest[0]))
    j["projector"] = {"path": f"{tmp}/mmproj-seeing.gguf"}
    json.dump(j, open(manifest[0], "w"))

for name, (_, want) in bad_files.items():
    p = cli("run", "stories", "--image", f"{tmp}/{name}", "hi")
    check(p.returncode == 1 and "image 1" in p.stderr and want in p.stderr,
          f"run --image {name}: exit {p.returncode}: {p.stderr.strip()}")
p = cli("run", "stories", "--image", f"{images}/rgb_301x157.png", "--image", f"{tmp}/nope.png", "hi")
check(p.returncode == 1 and "image 2" in p.stderr and "nope.png" in p.stderr, f"run, missing image: {p.stderr.strip()}")
p = cli("run", "stories", "--image", f"{images}/rgb_301x157.png", "hi")
check(p.returncode == 1 and "model stories does not support images" in p.stderr, f"run, no projector: {p.stderr.strip()}")
p = cli("run", "seeing", "--image", f"{images}/photo_160x120.jpg", "hi")
check(p.returncode == 1 and "vision projector" in p.stderr, f"run, missing projector: {p.stderr.strip()}")


# ---------------------------------------------------------------- the server
def start():
    return harness.start_server(exe, env)


def post(path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def b64(data):
    return base64.b64encode(data).decode()


def data_url(data, mime="image/png"):
    return f"data:{mime};base64,{b64(data)}"


def generate(imgs, model="stories"):
    return post("/api/generate", {"model": model, "prompt": "hi", "images": imgs, "stream": False})


def chat(imgs, model="stories"):
    return post("/api/chat", {"model": model, "stream": False, "messages": [
        {"role": "user", "content": "first"}, {"role": "user", "content": "look", "images": imgs}]})


def oai(parts, model="stories"):
    return post("/v1/chat/completions", {"model": model, "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": parts}]})


def expect_400(what, reply, *needles):
    st, r = reply
    err = r.get("error", "") if isinstance(r, dict) else ""
    err = err.get("message", "") if isinstance(err, dict) else err
    check(st == 400 and all(n in err for n in needles), f"{what}: {st} {r}")
    if os.environ.get("IMAGE_INPUT_VERBOSE"):
        print(f"{what}: {st} {err}")


server, port = start()
try:
    good = b64(png)
    for name, (data, want) in bad_files.items():
        expect_400(f"generate {name}", generate([good, b64(data)]), "image 2", want)
        expect_400(f"chat {name}", chat([b64(data)]), "message 2, image 1", want)
        expect_400(f"openai {name}", oai([{"type": "text", "text": "what is it?"},
                                          {"type": "image_url", "image_url": {"url": data_url(data)}}]),
                   "message 2, content part 2 (image_url)", want)
    expect_400("generate bad base64", generate(["@@@not base64@@@"]), "image 1", "not valid base64")
    expect_400("generate number", generate([7]), "image 1", "base64 string")
    expect_400("generate images not array", generate("abc"), "\"images\" must be an array")
    expect_400("chat bad base64", chat(["aGVsbG8=!"]), "message 2, image 1", "not valid base64")
    expect_400("openai bad base64", oai([{"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}]),
               "content part 1", "not valid base64")
    expect_400("openai http url", oai([{"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]),
               "only data: URLs are accepted; nothing is fetched")
    expect_400("openai https url", oai([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]),
               "only data: URLs are accepted")
    expect_400("openai data url not base64", oai([{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]),
               "must be base64")
    expect_400("openai no url", oai([{"type": "image_url", "image_url": {}}]), "\"url\"")
    # good images, a model without a projector
    expect_400("generate, no projector", generate([good, b64(jpg)]), "model stories does not support images")
    expect_400("chat, no projector", chat([good]), "model stories does not support images")
    expect_400("openai, no projector", oai([{"type": "text", "text": "what is it?"},
                                            {"type": "image_url", "image_url": {"url": data_url(jpg, "image/jpeg")}}]),
               "model stories does not support images")
    expect_400("openai string image_url, no projector", oai([{"type": "image_url", "image_url": data_url(png)}]),
               "does not support images")
    st, r = generate([good], model="seeing")
    check(st == 500 and "vision projector" in str(r), f"generate, missing projector: {st} {r}")
    # requests without images are unchanged; text parts are joined
    st, r = oai([{"type": "text", "text": "Once upon"}, {"type": "text", "text": " a time"}])
    check(st == 200 and r["choices"][0]["message"]["content"] is not None, f"openai text parts: {st} {r}")
    st, r = generate([])
    check(st == 200, f"generate with an empty images array: {st} {r}")
finally:
    server.terminate()
    server.wait(timeout=60)

if failures:
    sys.exit(f"image_input: {len(failures)} checks failed")
print("image_input: all checks passed")
