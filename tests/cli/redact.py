"""redact.py - `autoglm redact` as a user runs it: plain text out with spans replaced (from a file
and from stdin), --json with code-point offsets per line, hash mode, custom words and patterns,
and usage errors with exit status 2.
usage: redact.py AUTOGLM SHARED"""
import json, os, subprocess, sys

exe = sys.argv[1]
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail and not ok else ''}")
    passed += ok
    failed += not ok


def run(*args, stdin=None):
    return subprocess.run([exe, "redact", *args], capture_output=True, timeout=60, input=stdin)


text = "客户张三，电话 138-1234-5678，邮箱 zhang.san@example.cn\nID 11010519491231002X; card 4111 1111 1111 1111; ok 2024-07-26\n"
p = run(stdin=text.encode())
check("stdin to stdout", p.returncode == 0 and p.stdout.decode() ==
      "客户张三，电话 [PHONE]，邮箱 [EMAIL]\nID [CN_ID]; card [BANK_CARD]; ok 2024-07-26\n", repr(p.stdout.decode()))

tmp = os.environ.get("AUTOGLM_TEST_TMP", "/tmp")
path = os.path.join(tmp, "redact_in.txt")
open(path, "w", encoding="utf-8").write(text)
p = run(path, "--json")
lines = [json.loads(x) for x in p.stdout.decode().splitlines()]
check("--json: one object per line", p.returncode == 0 and len(lines) == 2, p.stdout.decode())
if len(lines) == 2:
    first = text.splitlines()[0]
    want = [{"kind": "phone", "start": first.index("138"), "end": first.index("138") + 13},
            {"kind": "email", "start": first.index("zhang"), "end": len(first)}]
    check("--json offsets are code points", lines[0]["spans"] == want, str(lines[0]))
    check("--json kinds", [s["kind"] for s in lines[1]["spans"]] == ["cn_id", "bank_card"], str(lines[1]))

p = run("--mode", "hash", stdin=b"13812345678 and 13812345678")
out = p.stdout.decode()
check("hash mode: same value, same tag", p.returncode == 0 and out.startswith("[PHONE:") and out.split(" and ")[0] == out.split(" and ")[1], out)

words = os.path.join(tmp, "redact_words.txt")
open(words, "w", encoding="utf-8").write("Project Falcon\n机密\n")
p = run("--words", words, "--pattern", "EMP-[0-9]{5}", stdin="project falcon 机密 EMP-12345".encode())
check("custom words and patterns", p.stdout.decode() == "[CUSTOM] [CUSTOM] [CUSTOM]", p.stdout.decode())
p = run("--off", "email", stdin=b"a@example.com")
check("--off a kind", p.stdout == b"a@example.com", repr(p.stdout))

for args, what in [(["--mode", "blur"], "bad mode"), (["--pattern", "([x"], "bad pattern"), (["--off", "nope"], "bad kind"),
                   (["--bogus"], "unknown flag"), (["--pattern"], "missing value")]:
    p = run(*args, stdin=b"x")
    check(f"usage error: {what}", p.returncode == 2 and p.stderr and not p.stdout, repr(p.stderr))
p = run("/nonexistent/file")
check("missing file: exit 1", p.returncode == 1 and b"cannot open" in p.stderr, repr(p.stderr))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
