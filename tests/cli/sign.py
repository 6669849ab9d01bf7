"""sign.py - signed models: `keys gen`, `sign`, `verify` as a user runs them, and each refusal:
no signature, a malformed signature file, a key not in the trusted folder, one flipped byte in the
model, a signature copied from another model; usage errors exit 2.
usage: sign.py AUTOGLM SHARED"""
import os, shutil, subprocess, sys

import harness

exe, shared = sys.argv[1], sys.argv[2]
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail and not ok else ''}")
    passed += ok
    failed += not ok


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, timeout=60)


tmp = harness.tmpdir("autoglm-sign-")
model = os.path.join(tmp, "m.gguf")
shutil.copy(f"{shared}/models/stories260K.gguf", model)
alice, bob = os.path.join(tmp, "alice"), os.path.join(tmp, "bob")
p = run("keys", "gen", alice)
check("keys gen", p.returncode == 0 and os.path.exists(alice + ".key") and os.path.exists(alice + ".pub"), repr(p.stderr))
check("private key is private (0600)", os.stat(alice + ".key").st_mode & 0o077 == 0)
p = run("keys", "gen", alice)
check("keys gen refuses to overwrite", p.returncode == 1 and b"exists" in p.stderr, repr(p.stderr))
run("keys", "gen", bob)
trusted = os.path.join(tmp, "trusted")
os.mkdir(trusted)
shutil.copy(alice + ".pub", trusted)

p = run("verify", model, "--trusted-keys", trusted)
check("unsigned model refused", p.returncode == 1 and b"no signature" in p.stderr, repr(p.stderr))
p = run("sign", model, "--key", alice + ".key")
check("sign", p.returncode == 0 and os.path.exists(model + ".sig"), repr(p.stderr))
p = run("verify", model, "--trusted-keys", trusted)
check("verify by a trusted key", p.returncode == 0 and p.stdout.startswith(b"OK ") and b"(trusted)" in p.stdout,
      repr(p.stdout + p.stderr))

bob_sig = os.path.join(tmp, "bob.sig")
run("sign", model, "--key", bob + ".key", "--out", bob_sig)
p = run("verify", model, "--sig", bob_sig)
check("bob's signature is valid without a trusted folder", p.returncode == 0, repr(p.stderr))
p = run("verify", model, "--sig", bob_sig, "--trusted-keys", trusted)
check("bob's key is not trusted", p.returncode == 1 and b"not in" in p.stderr, repr(p.stderr))

sig = open(model + ".sig").read()
head, value = sig.rsplit("signature ", 1)
forged = head + "signature " + ("00" if value[:2] != "00" else "11") + value[2:]
open(bob_sig, "w").write(forged)
p = run("verify", model, "--sig", bob_sig)
check("altered signature refused", p.returncode == 1 and b"does not verify" in p.stderr, repr(p.stderr))
open(bob_sig, "w").write("autoglm-signature v1\nsha256 zz\n")
p = run("verify", model, "--sig", bob_sig)
check("malformed signature file", p.returncode == 1 and b"not a valid signature file" in p.stderr, repr(p.stderr))

p = run("run", model, "Once upon a time", "--num-predict", "4", "--temperature", "0", "--require-signed",
        "--trusted-keys", trusted)
check("run --require-signed: a signed model runs", p.returncode == 0 and len(p.stdout) > 0, repr(p.stderr))
p = run("run", model, "Hi", "--require-signed")
check("run --require-signed without --trusted-keys is a usage error", p.returncode == 2, repr(p.stderr))

data = bytearray(open(model, "rb").read())
data[len(data) // 2] ^= 1
open(model, "wb").write(data)
p = run("verify", model, "--trusted-keys", trusted)
check("one flipped byte refused", p.returncode == 1 and b"modified" in p.stderr, repr(p.stderr))
p = run("run", model, "Once upon a time", "--num-predict", "4", "--require-signed", "--trusted-keys", trusted)
check("run refuses the modified model", p.returncode == 1 and b"modified" in p.stderr and not p.stdout, repr(p.stderr))

for args, what in [(["sign", model], "sign without --key"), (["verify"], "verify without a model"),
                   (["keys"], "keys without a subcommand"), (["verify", model, "--bogus"], "unknown flag")]:
    p = run(*args)
    check(f"usage error: {what}", p.returncode == 2, repr(p.stderr))
p = run("sign", model, "--key", model)
check("a model is not a key", p.returncode == 1 and b"not an Ed25519 private key" in p.stderr, repr(p.stderr))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
