"""server_api.py - `autoglm serve` against the Ollama and OpenAI APIs, with stdlib clients only.

Builds a temporary model store with `autoglm create` (stories260K), checks the store commands,
starts the server on a free port and drives: generate and chat (NDJSON streaming and not),
tags/show/ps/version/HEAD /, copy/delete, embeddings, OpenAI chat completions (SSE and not),
completions and models, the error codes (400, 404, 405, 413, 503 with Retry-After), a client
that disconnects mid-stream, concurrent requests, and a clean stop on SIGTERM.
usage: server_api.py AUTOGLM SHARED"""
import json, os, signal, socket, subprocess, sys, threading

import harness
from harness import check, failures

exe, shared = sys.argv[1], sys.argv[2]
gguf = f"{shared}/models/stories260K.gguf"
tmp = harness.tmpdir("autoglm-srv-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")


def cli(*args, rc=0):
    p = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)
    check(p.returncode == rc, f"autoglm {' '.join(args)}: exit {p.returncode} (want {rc}): {p.stderr.strip()}")
    return p


# ---------------------------------------------------------------- the store
open(f"{tmp}/Modelfile", "w").write(
    f'FROM {gguf}\nPARAMETER temperature 0\nPARAMETER stop "<nope>"\nSYSTEM """Tell a story."""\n')
cli("create", "stories", "-f", f"{tmp}/Modelfile")
open(f"{tmp}/Modelfile2", "w").write("FROM stories\nPARAMETER num_predict 7\n")
cli("create", "org/short:v1", "-f", f"{tmp}/Modelfile2")
out = cli("list").stdout
check("stories:latest" in out and "org/short:v1" in out and "270cba1bd510" in out, f"list: {out}")
out = cli("show", "org/short:v1").stdout
check("num_predict 7" in out and "temperature 0" in out and "Tell a story." in out, f"show: {out}")
cli("cp", "org/short:v1", "short2")
check("short2:latest" in cli("list").stdout, "cp")
cli("rm", "short2")
check("short2" not in cli("list").stdout, "rm")
cli("rm", "short2", rc=1)
cli("run", "nope-model", "hi", rc=1)
open(f"{tmp}/Bad", "w").write("FROM stories\nPARAMETER temprature 1\n")
check("unknown parameter" in cli("create", "bad", "-f", f"{tmp}/Bad", rc=1).stderr, "create: unknown parameter")
# run by name: the model's parameters apply (num_predict 7, temperature 0)
by_name = cli("run", "org/short:v1", "Once upon a time").stdout
by_path = cli("run", gguf, "Once upon a time", "--temperature", "0", "--num-predict", "7").stdout
check(by_name == by_path and by_name.strip(), f"run by name {by_name!r} != by path {by_path!r}")
greedy = cli("run", gguf, "Once upon a time", "--temperature", "0", "--num-predict", "24").stdout.rstrip("\n")


# ---------------------------------------------------------------- the server
def start(*extra):
    return harness.start_server(exe, env, *extra)


def request(method, path, body=None, raw=None, headers=None):
    return harness.http_request(port, method, path, body, raw=raw, headers=headers or {"Content-Type": "application/json"})


def post(path, body):
    status, _, text = request("POST", path, body)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def ndjson(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sse(text):
    events = [e[len("data: "):] for e in text.split("\n\n") if e.startswith("data: ")]
    return events


server, port = start("--parallel", "4", "--max-body", "65536")
try:
    status, _, text = request("GET", "/")
    check(status == 200 and "running" in text, f"GET /: {status} {text}")
    status, _, text = request("HEAD", "/")
    check(status == 200 and text == "", f"HEAD /: {status}")
    status, v = post("/api/version", None) if False else (None, None)
    status, _, text = request("GET", "/api/version")
    check(status == 200 and "version" in json.loads(text), f"version: {text}")

    status, _, text = request("GET", "/api/tags")
    names = [m["name"] for m in json.loads(text)["models"]]
    check(status == 200 and "stories:latest" in names and "org/short:v1" in names, f"tags: {text}")
    tag = next(m for m in json.loads(text)["models"] if m["name"] == "stories:latest")
    check(tag["details"]["family"] == "llama" and tag["size"] == os.path.getsize(gguf) and len(tag["digest"]) == 64, f"tag entry {tag}")

    status, show = post("/api/show", {"model": "stories"})
    check(status == 200 and show["model_info"]["general.architecture"] == "llama" and "temperature 0" in show["parameters"]
          and show["system"] == "Tell a story.", f"show: {str(show)[:300]}")

    # generate, not streamed: greedy text equals the CLI's
    status, g = post("/api/generate", {"model": "stories", "prompt": "Once upon a time", "raw": True, "stream": False,
                                       "options": {"num_predict": 24}})
    check(status == 200 and g["done"] and g["response"] == greedy, f"generate: {g!r} vs CLI {greedy!r}")
    for k in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"):
        check(isinstance(g.get(k), int) and g[k] >= 0, f"generate: {k} = {g.get(k)!r}")
    check(g["done_reason"] == "length" and g["eval_count"] == 24 and g["prompt_eval_count"] > 0, f"generate stats {g}")
    check(isinstance(g["context"], list) and len(g["context"]) == g["prompt_eval_count"] + 24, "generate: context")

    # generate, streamed: the pieces add up to the same text; the last object carries the stats
    status, _, text = request("POST", "/api/generate", {"model": "stories", "prompt": "Once upon a time", "raw": True,
                                                        "options": {"num_predict": 24}})
    objs = ndjson(text)
    check(status == 200 and len(objs) >= 2 and all(not o["done"] for o in objs[:-1]) and objs[-1]["done"], "generate stream: done flags")
    check("".join(o["response"] for o in objs) == greedy, "generate stream: text")
    check(objs[-1]["eval_count"] == 24 and "context" in objs[-1], "generate stream: final stats")

    # the context continues a generation
    status, g2 = post("/api/generate", {"model": "stories", "prompt": " The", "context": g["context"], "stream": False,
                                        "raw": True, "options": {"num_predict": 4}})
    check(status == 200 and g2["prompt_eval_count"] > len(g["context"]), f"generate with context: {g2}")

    # stop sequence: the text ends before it
    status, gs = post("/api/generate", {"model": "stories", "prompt": "Once upon a time", "raw": True, "stream": False,
                                        "options": {"num_predict": 24, "stop": ["little"]}})
    check(status == 200 and gs["done_reason"] == "stop" and greedy.startswith(gs["response"]) and "little" not in gs["response"]
          and greedy[len(gs["response"]):].startswith("little"), f"stop: {gs['response']!r}")

    # chat
    msgs = [{"role": "user", "content": "Once upon a time"}]
    status, ch = post("/api/chat", {"model": "stories", "messages": msgs, "stream": False, "options": {"num_predict": 10}})
    check(status == 200 and ch["message"]["role"] == "assistant" and ch["message"]["content"] and ch["done"], f"chat: {ch}")
    status, _, text = request("POST", "/api/chat", {"model": "stories", "messages": msgs, "options": {"num_predict": 10}})
    objs = ndjson(text)
    check(status == 200 and "".join(o["message"]["content"] for o in objs) == ch["message"]["content"] and objs[-1]["done"]
          and objs[-1]["eval_count"] == ch["eval_count"], "chat stream")
    status, ld = post("/api/chat", {"model": "stories", "messages": []})
    check(status == 200 and ld["done"] and ld["done_reason"] == "load", f"chat without messages: {ld}")

    status, _, text = request("GET", "/api/ps")
    check(status == 200 and [m["name"] for m in json.loads(text)["models"]] == ["stories:latest"], f"ps: {text}")

    # embeddings
    status, e = post("/api/embed", {"model": "stories", "input": ["a cat", "a dog", "a cat"]})
    check(status == 200 and len(e["embeddings"]) == 3 and len(e["embeddings"][0]) == 64, f"embed: {str(e)[:200]}")
    if status == 200:
        norm = sum(x * x for x in e["embeddings"][0])
        check(abs(norm - 1) < 1e-3 and e["embeddings"][0] == e["embeddings"][2] and e["embeddings"][0] != e["embeddings"][1], "embed values")
    status, e1 = post("/api/embeddings", {"model": "stories", "prompt": "a cat"})
    check(status == 200 and len(e1["embedding"]) == 64, "embeddings (legacy)")
    status, oe = post("/v1/embeddings", {"model": "stories", "input": "a cat"})
    check(status == 200 and oe["object"] == "list" and len(oe["data"][0]["embedding"]) == 64 and oe["usage"]["prompt_tokens"] > 0, "v1 embeddings")

    # OpenAI
    status, oc = post("/v1/chat/completions", {"model": "stories", "messages": msgs, "max_tokens": 10})
    check(status == 200 and oc["object"] == "chat.completion" and oc["choices"][0]["message"]["content"] == ch["message"]["content"]
          and oc["choices"][0]["finish_reason"] == "length" and oc["usage"]["completion_tokens"] == 10, f"v1 chat: {oc}")
    status, hdr, text = request("POST", "/v1/chat/completions", {"model": "stories", "messages": msgs, "max_tokens": 10,
                                                                 "stream": True, "stream_options": {"include_usage": True}})
    ev = sse(text)
    check(status == 200 and hdr.get("Content-Type", "").startswith("text/event-stream") and ev and ev[-1] == "[DONE]", "v1 chat stream: [DONE]")
    chunks = [json.loads(x) for x in ev[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    check(content == oc["choices"][0]["message"]["content"], f"v1 chat stream text {content!r}")
    check(chunks[0]["choices"][0]["delta"].get("role") == "assistant" and chunks[-1]["usage"]["completion_tokens"] == 10
          and any(c["choices"] and c["choices"][0]["finish_reason"] == "length" for c in chunks), "v1 chat stream: role, finish, usage")
    status, cp = post("/v1/completions", {"model": "stories", "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0})
    check(status == 200 and cp["choices"][0]["text"] == greedy, f"v1 completions: {cp}")
    status, _, text = request("GET", "/v1/models")
    check(status == 200 and "stories:latest" in [m["id"] for m in json.loads(text)["data"]], "v1 models")

    # errors
    status, hdr, text = request("POST", "/api/generate", raw=b"{not json")
    check(status == 400 and "error" in json.loads(text), f"malformed JSON: {status} {text}")
    status, err = post("/api/generate", {"model": "nope", "prompt": "x"})
    check(status == 404 and "not found" in err["error"], f"unknown model: {status} {err}")
    status, err = post("/api/chat", {"model": "stories", "messages": "hi"})
    check(status == 400 and "error" in err, f"wrong type: {status} {err}")
    status, err = post("/api/generate", {"model": "stories", "prompt": "x", "options": {"num_predict": "many"}})
    check(status == 400 and "num_predict" in err["error"], f"wrong option type: {status} {err}")
    status, err = post("/api/generate", {"prompt": "x"})
    check(status == 400, f"no model: {status} {err}")
    status, err = post("/v1/chat/completions", {"model": "nope", "messages": msgs})
    check(status == 404 and "message" in err["error"], f"v1 unknown model: {status} {err}")
    status, err = post("/api/generate", {"model": "stories", "prompt": "x" * 70000})
    check(status == 413 and "error" in err, f"body over the limit: {status}")
    status, _, text = request("GET", "/api/nothing")
    check(status == 404 and "error" in json.loads(text), f"unknown route: {status}")
    status, _, text = request("GET", "/api/generate")
    check(status == 405, f"wrong method: {status}")
    status, err = post("/api/show", {"model": "nope"})
    check(status == 404, f"show unknown: {status}")

    # copy and delete
    status, _ = post("/api/copy", {"source": "stories", "destination": "copy:v2"})
    check(status == 200, f"copy: {status}")
    status, _, _ = request("DELETE", "/api/delete", {"model": "copy:v2"})
    check(status == 200, f"delete: {status}")
    status, _, _ = request("DELETE", "/api/delete", {"model": "copy:v2"})
    check(status == 404, f"delete again: {status}")

    # a client that goes away mid-stream: the server frees the sequence and keeps serving
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port))
        body = json.dumps({"model": "stories", "prompt": "Once upon a time", "raw": True,
                           "options": {"num_predict": 400, "num_ctx": 512}}).encode()
        s.sendall(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        s.recv(256)
        s.close()
    status, g3 = post("/api/generate", {"model": "stories", "prompt": "Once upon a time", "raw": True, "stream": False,
                                        "options": {"num_predict": 24}})
    check(status == 200 and g3["response"] == greedy, "after disconnects")

    # constrained output: format "json", a JSON schema, OpenAI's response_format; sampled, several seeds
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10},
                                               "age": {"type": "integer"},
                                               "pet": {"enum": ["cat", "dog"]},
                                               "tags": {"type": "array", "items": {"type": "string", "maxLength": 6},
                                                        "maxItems": 2}},
              "required": ["name", "age", "pet"]}
    for seed in range(1, 5):
        opts = {"temperature": 1.2, "seed": seed, "num_predict": 400}
        st, r = post("/api/generate", {"model": "stories", "prompt": "Once", "raw": True, "stream": False,
                                       "format": schema, "options": opts})
        doc = json.loads(r["response"]) if st == 200 else None
        check(isinstance(doc, dict) and set(doc) <= set(schema["properties"]) and isinstance(doc.get("age"), int)
              and isinstance(doc.get("name"), str) and doc.get("pet") in ("cat", "dog") and len(doc["name"]) <= 10,
              f"format schema seed {seed}: {st} {r}")
        st, r = post("/api/chat", {"model": "stories", "messages": [{"role": "user", "content": "hi"}], "stream": False,
                                   "format": "json", "options": opts})
        try:
            ok = st == 200 and json.loads(r["message"]["content"]) is not None or r["message"]["content"] == "null"
        except ValueError:
            ok = r.get("done_reason") == "length"  # free JSON may run past num_predict
        check(ok, f"format json seed {seed}: {st} {r}")
        st, r = post("/v1/chat/completions", {"model": "stories", "messages": [{"role": "user", "content": "hi"}],
                                               "temperature": 1.2, "seed": seed, "max_tokens": 400,
                                               "response_format": {"type": "json_schema",
                                                                   "json_schema": {"name": "p", "schema": schema}}})
        doc = json.loads(r["choices"][0]["message"]["content"]) if st == 200 else None
        check(isinstance(doc, dict) and doc.get("pet") in ("cat", "dog"), f"response_format json_schema: {st} {r}")
    st, r = post("/v1/chat/completions", {"model": "stories", "messages": [{"role": "user", "content": "hi"}],
                                           "max_tokens": 300, "response_format": {"type": "json_object"}})
    check(st == 200 and r["choices"][0]["message"]["content"][:1] in "{[\"-0123456789tfn ", f"json_object: {st} {r}")
    st, r = post("/api/generate", {"model": "stories", "prompt": "x", "format": {"anyOf": []}})
    check(st == 400 and "not supported" in r["error"], f"unsupported schema: {st} {r}")
    st, r = post("/api/generate", {"model": "stories", "prompt": "x", "format": "xml"})
    check(st == 400, f"format xml: {st} {r}")

    # concurrent requests share the model's slots; greedy answers stay the same
    results = []

    def one(i):
        results.append(post("/api/generate", {"model": "stories", "prompt": "Once upon a time", "raw": True,
                                              "stream": i % 2 == 0 and False, "options": {"num_predict": 24}}))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    check(len(results) == 12 and all(st == 200 and r["response"] == greedy for st, r in results), "concurrent requests")

    # different prompts decoded in one batched step each turn give what each gives alone
    prompts = ["Once", "The cat sat on the mat.", "Tom and Sue went to the park", "One day, a little bird",
               "Lily liked to draw. She drew a sun", "A big dog", "Once upon a time, there was a girl named Sue",
               "The sun was hot"]
    alone = {}
    for p in prompts:
        st, r = post("/api/generate", {"model": "stories", "prompt": p, "raw": True, "stream": False,
                                       "options": {"num_predict": 20 + len(p) % 7}})
        alone[p] = r.get("response")
    together = {}

    def two(p):
        together[p] = post("/api/generate", {"model": "stories", "prompt": p, "raw": True, "stream": False,
                                             "options": {"num_predict": 20 + len(p) % 7}})[1].get("response")

    threads = [threading.Thread(target=two, args=(p,)) for p in prompts]
    [t.start() for t in threads]
    [t.join() for t in threads]
    check(together == alone, "batched decode of different prompts equals each alone")

    # tools: a model with Qwen 2.5's template (which renders `tools` and tool messages); the
    # definitions must reach the prompt (more prompt tokens, growing with them), tool_choice
    # "none" hides them, tool results and assistant tool_calls (arguments as an object or an
    # OpenAI JSON string) are accepted, malformed tools are a 400. (The parser of the model's
    # answer is unit-tested in tests/test_tool_calls.c: a 260K-parameter model writes no calls.)
    qwen = open(f"{shared}/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja").read()
    status, _ = post("/api/create", {"model": "qwen-tools", "from": "stories", "template": qwen})
    check(status == 200, f"create with template: {status}")
    weather = {"type": "function", "function": {"name": "get_current_weather", "description": "Weather of a city",
                                                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                               "required": ["city"]}}}
    clock = {"type": "function", "function": {"name": "get_time", "description": "The time now", "parameters": {}}}
    msgs = [{"role": "user", "content": "Weather in Paris?"}]

    def count(path, body):
        body = dict(body, model="qwen-tools", messages=body.get("messages", msgs), stream=False)
        if path == "/api/chat":
            body["options"] = {"num_predict": 1}
        else:
            body["max_tokens"] = 1
        st, o = post(path, body)
        if st != 200:
            check(False, f"{path} {body.get('tools')}: {st} {o}")
            return -1, o
        return (o["prompt_eval_count"] if path == "/api/chat" else o["usage"]["prompt_tokens"]), o

    n0, _ = count("/api/chat", {})
    n1, o1 = count("/api/chat", {"tools": [weather]})
    n2, _ = count("/api/chat", {"tools": [weather, clock]})
    check(0 < n0 < n1 < n2, f"tools reach the prompt: {n0} {n1} {n2}")
    check(o1["message"]["role"] == "assistant" and "content" in o1["message"], f"chat with tools: {o1}")
    m0, _ = count("/v1/chat/completions", {})
    m1, c1 = count("/v1/chat/completions", {"tools": [weather]})
    mn, _ = count("/v1/chat/completions", {"tools": [weather], "tool_choice": "none"})
    check(m0 == n0 and m1 == n1 and mn == m0, f"OpenAI tools: {m0} {m1} {mn}")
    check(c1["choices"][0]["finish_reason"] in ("stop", "length", "tool_calls"), f"OpenAI chat with tools: {c1}")
    history = msgs + [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_current_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees and sunny"}]
    h1, _ = count("/v1/chat/completions", {"tools": [weather], "messages": history})
    ollama_history = msgs + [
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_current_weather",
                                                                           "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "22 degrees and sunny"}]
    h2, _ = count("/api/chat", {"tools": [weather], "messages": ollama_history})
    check(h1 > m1 and h1 == h2, f"tool calls and results in the history: {h1} {h2} (without {m1})")
    text = request("POST", "/v1/chat/completions", {"model": "qwen-tools", "messages": msgs, "tools": [weather],
                                                     "stream": True, "max_tokens": 3})[2]
    ev = sse(text)
    check(ev and ev[-1] == "[DONE]" and json.loads(ev[-2])["choices"][0]["finish_reason"], f"streamed with tools: {text[-300:]}")
    for bad in ({"tools": {"x": 1}}, {"tools": [{"type": "function"}]}, {"tools": [weather], "tool_choice": "always"},
                {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}]}):
        st, o = post("/v1/chat/completions", dict({"model": "qwen-tools", "messages": msgs}, **bad))
        check(st == 400 and "error" in o, f"bad tools {bad}: {st} {o}")
finally:
    server.send_signal(signal.SIGTERM)
    try:
        rc = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = "hang"
    check(rc == 0, f"server exit status on SIGTERM: {rc}")

# a full queue answers 503 with Retry-After (one sequence, no waiting room, long generations)
server, port = start("--parallel", "1", "--max-queue", "0", "--num-ctx", "2048")
try:
    codes = []

    def long_one():
        status, hdr, _ = request("POST", "/api/generate", {"model": "stories", "prompt": "Once upon a time", "raw": True,
                                                           "stream": False, "options": {"num_predict": 2000}})
        codes.append((status, hdr.get("Retry-After")))

    threads = [threading.Thread(target=long_one) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    check(all(c in ((200, None), (503, "1")) for c in codes) and (200, None) in codes and (503, "1") in codes,
          f"queue full: {codes}")
finally:
    server.send_signal(signal.SIGTERM)
    check(server.wait(timeout=60) == 0, "second server exit status")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("server_api: all checks passed")
