"""device.py - where models run, seen from the command line and the server, on any machine:
--device / --gpu-layers are checked; without a usable GPU an explicit `--device cuda` fails
with a clear reason (no device, no driver, no CUDA in this build) while `--device auto` (and
--gpu-layers with it) runs on the CPU with a one-line note; `bench --json` carries the GPU
fields (layers, device memory, NVML energy and power: 0 / null on the CPU); the server's
/api/ps has Ollama's size_vram and our device, gpu_layers and GPU power fields, /api/power and
/metrics the GPU power limit (none without NVML: AUTOGLM_NO_NVML=1 here), `autoglm ps` the
PROCESSOR column. On a machine with a GPU the no-GPU checks are skipped (test_cuda covers it).
usage: device.py AUTOGLM SHARED"""
import json, os, re, signal, subprocess, sys, threading

import harness
from harness import check, failures

exe, shared = sys.argv[1], sys.argv[2]
gguf = os.path.abspath(f"{shared}/models/stories260K.gguf")
tmp = harness.tmpdir("autoglm-dev-")
env = dict(os.environ, AUTOGLM_MODELS=f"{tmp}/models", AUTOGLM_NO_NVML="1")
env.pop("AUTOGLM_DEVICE", None)


def cli(*args, rc=0):
    p = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)
    check(p.returncode == rc, f"autoglm {' '.join(args)}: exit {p.returncode} (want {rc}): {p.stderr.strip()}")
    return p


def request(port, method, path, body=None):
    status, _, text = harness.http_request(port, method, path, body)
    return status, text


# ---------------------------------------------------------------- flags
cli("run", gguf, "hi", "--device", "tpu", rc=2)
cli("run", gguf, "hi", "--gpu-layers", "-3", rc=2)
probe = subprocess.run([exe, "run", gguf, "Once", "--num-predict", "2", "--device", "cuda"], env=env,
                       capture_output=True, text=True, timeout=120)
have_gpu = probe.returncode == 0
if not have_gpu:
    check(probe.returncode == 1, f"--device cuda without a GPU: exit {probe.returncode}")
    check("no CUDA device" in probe.stderr, f"--device cuda without a GPU names the reason: {probe.stderr.strip()}")
    check("Segmentation" not in probe.stderr and "Abort" not in probe.stderr, "no crash")
    p = cli("run", gguf, "Once", "--num-predict", "4", "--temperature", "0", "--device", "auto")
    check(p.stdout.strip() != "", "auto without a GPU generates on the CPU")
    notes = [l for l in p.stderr.splitlines() if "note:" in l]
    check(len(notes) == 1 and "no CUDA device" in notes[0] and "CPU" in notes[0],
          f"auto without a GPU: one line saying the CPU runs it: {p.stderr.strip()}")
    p = cli("run", gguf, "Once", "--num-predict", "4", "--temperature", "0", "--gpu-layers", "2")
    check("running on the CPU" in p.stderr, f"--gpu-layers without a GPU: a note: {p.stderr.strip()}")
    cli("run", gguf, "Once", "--num-predict", "2", "--device", "cuda", "--gpu-layers", "2", rc=1)
    p = cli("run", gguf, "Once", "--num-predict", "2", "--device", "cpu")
    check("note:" not in p.stderr, "--device cpu: no note")
    p = cli("bench", gguf, "-p", "8", "-n", "4", "-r", "1", "--json", "--device", "cpu")
    rows = json.loads(p.stdout)
    check(len(rows) == 2 and all(r["gpu_layers"] == 0 and r["vram_bytes"] == 0 and r["gpu_joules_per_token"] is None
                                 and r["gpu_power_w"] is None and r["device"] == "cpu" for r in rows),
          f"bench --json GPU fields on the CPU: {p.stdout.strip()}")
    cli("bench", gguf, "-p", "8", "-n", "4", "-r", "1", "--device", "cuda", rc=1)
    p = cli("bench", gguf, "-p", "4", "-n", "4", "-d", "40", "-r", "1", "--json", "--device", "cpu")
    rows = json.loads(p.stdout)
    check([r["test"] for r in rows] == ["pp4 @ d40", "tg4 @ d40"], f"bench -d names the depth: {p.stdout.strip()}")
    cli("bench", gguf, "-n", "4", "-d", "-3", rc=2)
    p = cli("bench", gguf, "-n", "4", "-d", "8", "--draft", gguf, rc=2)
    check("--draft" in p.stderr, f"bench -d with --draft: a clear error: {p.stderr.strip()}")

# ---------------------------------------------------------------- the server
os.makedirs(f"{tmp}/mf", exist_ok=True)
with open(f"{tmp}/mf/Modelfile", "w") as f:
    f.write(f"FROM {gguf}\n")
cli("create", "tiny", "-f", f"{tmp}/mf/Modelfile")
srv = subprocess.Popen([exe, "serve", "--host", "127.0.0.1:0", "--power", "balanced", "--device", "cpu"], env=env,
                       stderr=subprocess.PIPE, text=True, preexec_fn=harness.die_with_parent)
m = re.search(r"listening on 127\.0\.0\.1:(\d+)", srv.stderr.readline())
if not m:
    srv.kill()
    sys.exit("server did not start")
port = int(m.group(1))
threading.Thread(target=lambda: sys.stderr.write(srv.stderr.read()), daemon=True).start()
st, text = request(port, "POST", "/api/generate", {"model": "tiny", "prompt": "Once", "stream": False,
                                                    "options": {"num_predict": 4, "temperature": 0}})
check(st == 200, f"generate: {st} {text}")
if st == 200:
    fin = json.loads(text)
    check("gpu_energy_joules" in fin and fin["gpu_energy_joules"] is None and fin["gpu_joules_per_token"] is None,
          f"final stats: GPU energy unavailable without NVML: {text}")
st, text = request(port, "GET", "/api/ps")
ps = json.loads(text)
check(st == 200 and len(ps["models"]) == 1, f"/api/ps: {text}")
if ps["models"]:
    e = ps["models"][0]
    check(e["size_vram"] == 0 and e["gpu_layers"] == 0 and e["device"] == "cpu" and e["n_layer"] == 5,
          f"/api/ps on the CPU: size_vram 0, device cpu: {text}")
check(ps["power_mode"] == "balanced" and ps["gpu_power_limit_w"] is None and "NVML" in ps["gpu_power_note"],
      f"/api/ps power mode and GPU limit: {text}")
st, text = request(port, "POST", "/api/power", {"mode": "powersave"})
pw = json.loads(text)
check(st == 200 and pw["mode"] == "powersave" and pw["gpu_power_limit_w"] is None and "NVML" in pw["gpu"],
      f"/api/power without NVML: {text}")
st, text = request(port, "GET", "/metrics")
check("autoglm_gpu_model_memory_bytes 0" in text and "autoglm_gpu_power_limit_watts" not in text,
      "/metrics: model device memory 0, no GPU gauges without NVML")
p = cli("ps", "--host", f"127.0.0.1:{port}")
check("100% CPU" in p.stdout and "VRAM" in p.stdout and "power mode: powersave" in p.stdout, f"autoglm ps: {p.stdout}")
srv.send_signal(signal.SIGTERM)
try:
    check(srv.wait(timeout=60) == 0, "server exit status")
except subprocess.TimeoutExpired:
    srv.kill()
    check(False, "server hangs on SIGTERM")

if not have_gpu:  # a server told to use a GPU it does not have: a clear error per request, no crash
    srv = subprocess.Popen([exe, "serve", "--host", "127.0.0.1:0", "--device", "cuda"], env=env,
                           stderr=subprocess.PIPE, text=True, preexec_fn=harness.die_with_parent)
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", srv.stderr.readline())
    if m:
        port = int(m.group(1))
        threading.Thread(target=lambda: srv.stderr.read(), daemon=True).start()
        st, text = request(port, "POST", "/api/generate", {"model": "tiny", "prompt": "Once", "stream": False})
        check(st == 500 and "no CUDA device" in json.loads(text).get("error", ""), f"serve --device cuda: {st} {text}")
        srv.send_signal(signal.SIGTERM)
        check(srv.wait(timeout=60) == 0, "server exit status (--device cuda)")
    else:
        srv.kill()
        check(False, "serve --device cuda did not start")

if failures:
    sys.exit(f"{len(failures)} failures")
print("ok")
