"""server_prefix.py - the server's KV cache in refcounted blocks and its prefix cache, with stdlib
clients only (stories260K): a request whose long system prompt an earlier request already
computed evaluates only its new tokens (Ollama's prompt_eval_cached_count, OpenAI's
usage.prompt_tokens_details.cached_tokens), even after the slot that computed it served another
prompt (the prefix cache entry), and answers exactly what a server that never saw the system
prompt answers; two slots at once share the system prompt's blocks (fewer blocks in use than
their positions need); requests with a larger context (a cache of their own) or a smaller one work; /metrics shows the KV blocks in use and total and the prefix cache.
usage: server_prefix.py AUTOGLM SHARED"""
import json, os, re, subprocess, sys, threading, time

import harness
from harness import check, failures

exe, shared = sys.argv[1], sys.argv[2]
gguf = f"{shared}/models/stories260K.gguf"
tmp = harness.tmpdir("autoglm-prefix-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models")


def start(*extra):
    # the KV block pool and the prefix cache are the CPU's (a GPU session keeps its own cache)
    return harness.start_server(exe, env, "--num-ctx", "512", "--device", "cpu", *extra)


def stop(p):
    harness.stop_server(p, check)


def request(port, method, path, body=None):
    status, _, text = harness.http_request(port, method, path, body)
    return status, text


def generate(port, prompt):
    status, text = request(port, "POST", "/api/generate", {"model": "s", "prompt": prompt, "raw": True, "stream": False,
                                                          "options": {"temperature": 0, "num_predict": 12}})
    check(status == 200, f"generate: {status} {text}")
    return json.loads(text)


def metric(text, name):
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else -1


subprocess.run([exe, "create", "s", "-f", "/dev/stdin"], input=f"FROM {gguf}\n", env=env, text=True, check=True,
               capture_output=True)
system = ("Once upon a time, in a small village by the sea, there lived a kind old man named Tom. Every morning he "
          "walked to the shore to look at the boats, and every evening he told stories to the children of the "
          "village about the big fish, the brave sailors and the little bird that sang on his window. ")
question_a, question_b = "One day, a girl named Lily", "The dog was happy because"
other = "A cat sat on the mat and looked at the sun. It was warm and the cat was sleepy."

# the answer to B from a server that never saw the system prompt
server, port = start("--parallel", "1")
try:
    ref = generate(port, system + question_b)
    check(ref.get("prompt_eval_cached_count", 0) == 0, f"fresh server: nothing cached: {ref}")
finally:
    stop(server)

server, port = start("--parallel", "1")
try:
    a = generate(port, system + question_a)
    n_sys = a["prompt_eval_count"] - 12  # the system prompt's tokens, at least (the question and its join: < 12)
    check(a["prompt_eval_count"] > 60 and a.get("prompt_eval_cached_count", 0) == 0, f"first request: {a}")
    o = generate(port, other)  # the only slot now holds another prompt: A's is in the prefix cache
    check(o.get("prompt_eval_cached_count", 0) <= 1, f"unrelated prompt: only BOS in common: {o}")
    b = generate(port, system + question_b)
    cached = b.get("prompt_eval_cached_count", 0)
    check(b["prompt_eval_count"] == ref["prompt_eval_count"], f"prompt_eval_count counts every prompt token: {b}")
    check(cached >= n_sys and cached < b["prompt_eval_count"],
          f"the system prompt comes from the prefix cache: {cached} of {b['prompt_eval_count']} (system ~{n_sys})")
    check(b["response"] == ref["response"], f"same answer with the cached prefix: {b['response']!r} vs {ref['response']!r}")
    # OpenAI's field, the same prompt again (now from the slot itself)
    status, text = request(port, "POST", "/v1/completions", {"model": "s", "prompt": system + question_b,
                                                             "max_tokens": 12, "temperature": 0})
    u = json.loads(text).get("usage", {}) if status == 200 else {}
    check(u.get("prompt_tokens_details", {}).get("cached_tokens", 0) >= n_sys, f"OpenAI cached_tokens: {status} {text}")
    # a larger context than the pool's gets a cache of its own; a smaller one draws from the pool
    for num_ctx in (1024, 256):
        status, text = request(port, "POST", "/api/generate", {"model": "s", "prompt": system + question_b, "raw": True,
                                                              "stream": False, "options": {"temperature": 0, "num_predict": 12,
                                                                                           "num_ctx": num_ctx}})
        check(status == 200 and json.loads(text)["response"] == ref["response"], f"num_ctx {num_ctx}: {status} {text[:300]}")
    status, text = request(port, "GET", "/metrics")
    used, total = metric(text, "autoglm_kv_blocks_in_use"), metric(text, "autoglm_kv_blocks_total")
    check(total == 16, f"KV blocks total: one slot of 512 positions in blocks of 32: {total}")
    check(0 < used <= total, f"KV blocks in use: {used} of {total}")
    check(metric(text, "autoglm_kv_block_positions") == 32, "KV block positions")
    check(metric(text, "autoglm_prefix_cache_entries") >= 1, "prefix cache entries")
    check(metric(text, "autoglm_prefix_reused_tokens_total") >= n_sys, "prefix reused tokens (from the prefix cache)")
finally:
    stop(server)

# two slots at once: the second request takes the first one's system prompt by reference (the
# same blocks), so the slots hold fewer blocks than their positions need. A token-rate cap (100
# tokens/s, prompt and generation) keeps the first request decoding meanwhile.
server, port = start("--parallel", "2")
try:
    status, text = request(port, "POST", "/api/power", {"mode": "performance", "max_tokens_per_s": 100})
    check(status == 200, f"/api/power cap: {status} {text}")
    first, second = {}, {}

    def run(prompt, n, out):
        status, text = request(port, "POST", "/api/generate", {"model": "s", "prompt": prompt, "raw": True, "stream": False,
                                                              "options": {"temperature": 0, "num_predict": n}})
        out.update(json.loads(text) if status == 200 else {"status": status})

    def wait_metrics(cond):
        for _ in range(500):
            text = request(port, "GET", "/metrics")[1]
            if cond(text):
                return text
            time.sleep(0.02)
        return None

    ta = threading.Thread(target=run, args=(system + question_a, 150, first))
    ta.start()
    check(wait_metrics(lambda t: metric(t, "autoglm_kv_tokens") >= n_sys) is not None, "the first prompt is read")
    tb = threading.Thread(target=run, args=(system + question_b, 40, second))
    tb.start()
    both = wait_metrics(lambda t: metric(t, "autoglm_kv_slots_in_use") == 2 and metric(t, "autoglm_kv_tokens") > 2 * n_sys)
    check(both is not None, "two slots busy at once")
    if both:
        used, held = metric(both, "autoglm_kv_blocks_in_use"), metric(both, "autoglm_kv_tokens")
        check(used * 32 < held, f"the slots share blocks: {used} blocks for {held} positions")
    tb.join()
    ta.join()
    check(first.get("eval_count") == 150, f"first request: {first}")
    check(second.get("prompt_eval_cached_count", 0) >= n_sys and second.get("response", "").startswith(ref["response"]),
          f"the second slot took the prefix from the first: {second}")
finally:
    stop(server)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("server_prefix: ok")
