"""harness.py - what the command-line tests share: check() collecting failures, the test's
temporary folder (removed when the test passes, kept when it fails), starting `autoglm serve` on a
free port and stopping it, and one HTTP request with the standard library (imported by the tests;
not a test itself)."""
import atexit, ctypes, http.client, json, os, re, shutil, signal, subprocess, sys, tempfile, threading

failures = []  # what check() found wrong; the test exits 1 when it is not empty
servers = []  # the processes start_server started; the ones still running are killed at exit
exit_status = None  # what the test passed to sys.exit (recorded once tmpdir() is called)


def tmpdir(prefix):
    """A new folder PREFIXxxxxxxxx under $AUTOGLM_TEST_TMP (CTest: build/tests; else the system's
    temporary folder), removed at exit when the test passed. It is kept, and its path printed, when
    the test failed (a check() failure, a non-zero sys.exit, an exception: so the scripts that count
    their own failures keep it too, as they exit 1) or when AUTOGLM_KEEP_TMP=1."""
    global _real_exit
    path = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("AUTOGLM_TEST_TMP"))
    if sys.exit is not _recording_exit:
        _real_exit, sys.exit = sys.exit, _recording_exit
    atexit.register(_remove_unless_failed, path)
    return path


def _recording_exit(status=None):
    global exit_status
    exit_status = status
    _real_exit(status)


def _remove_unless_failed(path):
    for p in servers:  # a server left running must not write into the folder while it goes
        if p.poll() is None:
            p.kill()
            p.wait()
    failed = failures or exit_status not in (None, 0) or hasattr(sys, "last_value")
    if failed or os.environ.get("AUTOGLM_KEEP_TMP") == "1":
        print(f"test folder kept: {path}", file=sys.stderr)
    else:
        shutil.rmtree(path, ignore_errors=True)


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


try:
    _libc = ctypes.CDLL(None, use_errno=True)  # loaded here: a preexec_fn should not import
except OSError:
    _libc = None


def die_with_parent():
    """preexec_fn for the processes a test starts (servers): the kernel kills the child when the
    test's process dies, so a test killed by CTest's timeout leaves no server running."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_server(exe, env, *args, expect_fail=False, echo=True):
    """`autoglm serve --host 127.0.0.1:0 ARGS`: (process, port) once it listens. A server that does
    not start ends the test, or with expect_fail gives (None, its first line). Its stderr goes on to
    ours (echo) or is drained."""
    p = subprocess.Popen([exe, "serve", "--host", "127.0.0.1:0", *args], env=env, stderr=subprocess.PIPE, text=True,
                         preexec_fn=die_with_parent)
    line = p.stderr.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        if expect_fail:
            return None, line
        sys.exit(f"server did not start: {line}{p.stderr.read()}")
    threading.Thread(target=lambda: (sys.stderr.write if echo else len)(p.stderr.read()), daemon=True).start()
    servers.append(p)
    return p, int(m.group(1))


def stop_server(p, check, want_status=True):
    """SIGTERM, then the exit status (0 when want_status) and no hang, through check(cond, what)."""
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=60)
        if want_status:
            check(rc == 0, "server exit status")
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, "server hangs on SIGTERM")


def http_request(port, method, path, body=None, raw=None, headers=None, key=None, ctx=None, timeout=60):
    """(status, response headers, text): body as JSON, or raw bytes; key as a bearer token; ctx: TLS."""
    c = (http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx) if ctx
         else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    h = {"Content-Type": "application/json", **(headers or {})}
    if key:
        h["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode(errors="replace")
    c.close()
    return r.status, dict(r.getheaders()), text
