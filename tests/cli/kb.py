"""kb.py - `autoglm kb` and `autoglm summarize` end to end: every format (md, html, GBK and UTF-16
text, DOCX with headings, a two-page PDF) is ingested with its structure (PDF page, DOCX heading);
corrupt PDF/DOCX files give a per-file error while the rest of the folder goes in; re-adding an
unchanged (or only touched) folder embeds nothing; one changed file re-embeds only its new chunks;
a removed file leaves the index; `kb add` killed with SIGKILL mid-way and run again gives the same
index (digest) as an uninterrupted run; query/ask/rm/ls/stats and their errors; extractive and
model summaries (deterministic), with --redact. usage: kb.py AUTOGLM SHARED"""
import json, os, signal, sqlite3, subprocess, sys, time, zipfile

import harness

exe, shared = sys.argv[1], sys.argv[2]
model = os.path.join(shared, "models", "stories260K.gguf")
tmp = harness.tmpdir("autoglm-kb-")
env = dict(os.environ, AUTOGLM_KB=os.path.join(tmp, "kbs"))
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + str(detail)[-600:] if detail and not ok else ''}")
    passed += bool(ok)
    failed += not ok


def run(*args, inp=None):
    p = subprocess.run([exe, *args], capture_output=True, timeout=300, env=env, input=inp)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def add_json(name, *paths):
    rc, out, err = run("kb", "add", name, *paths, "--json")
    try:
        return rc, json.loads(out.strip().splitlines()[-1]), err
    except (ValueError, IndexError):
        return rc, {}, err + out


def query(name, q, mode="bm25", k=5):
    rc, out, err = run("kb", "query", name, q, "--mode", mode, "-k", str(k), "--json")
    return json.loads(out)["results"] if rc == 0 else err


def make_pdf(path, pages):
    """A minimal PDF: one text line per page in Helvetica."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objs)} 0 R"
                    " /Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n{o}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    open(path, "wb").write(out)


def make_docx(path, paragraphs):
    body = ""
    for style, text in paragraphs:
        ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
        body += f'<w:p>{ppr}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           f"<w:body>{body}</w:body></w:document>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="xml" ContentType="application/xml"/></Types>')
        z.writestr("word/document.xml", doc)


# ---- a folder of every format, two corrupt files among them
docs = os.path.join(tmp, "docs")
os.makedirs(os.path.join(docs, "sub"))
open(f"{docs}/guide.md", "w").write("# Setup guide\n\nInstall the **turbine** controller first.\n\n## Wiring\n\n"
                                    "Connect the red wire to terminal seven. Never touch the blue wire while the power is on.\n")
open(f"{docs}/page.html", "w").write("<html><head><script>var hidden='zebra';</script></head><body><nav>Home About</nav>"
                                     "<h1>Gardening</h1><p>Tomatoes need six hours of sun &amp; regular watering.</p>"
                                     "<footer>copyright footer text</footer></body></html>")
open(f"{docs}/sub/gbk.txt", "wb").write("熊猫喜欢吃竹子。它们生活在四川的山区。".encode("gbk"))
open(f"{docs}/sub/utf16.txt", "wb").write("Penguins huddle together in the Antarctic winter.".encode("utf-16"))
make_docx(f"{docs}/report.docx", [("Heading1", "Quarterly report"), (None, "Revenue grew by eleven percent in the spring quarter."),
                                  ("Heading2", "Risks"), (None, "Shipping delays remain the main risk for the harbour project.")])
make_pdf(f"{docs}/manual.pdf", ["The pump manual starts here.", "Replace the pump filter every ninety days."])
open(f"{docs}/broken.pdf", "wb").write(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer garbage")
open(f"{docs}/broken.docx", "wb").write(b"PK\x03\x04 this is not really a zip archive")
with zipfile.ZipFile(f"{docs}/nodoc.docx", "w") as z:
    z.writestr("hello.txt", "a zip without word/document.xml")

rc, out, err = run("kb", "create", "t", "--embed", model, "--chunk-tokens", "64")
check("kb create", rc == 0, err)
rc, out, err = run("kb", "create", "t")
check("kb create twice fails", rc == 1 and "exists" in err, err)
rc, s, err = add_json("t", docs)
check("corrupt files: exit status 1", rc == 1, (rc, err))
for bad in ("broken.pdf", "broken.docx", "nodoc.docx"):
    check(f"per-file error names {bad}", bad in err, err)
check("corrupt PDF error says so", "PDF" in [l for l in err.splitlines() if "broken.pdf" in l][0], err)
check("the rest of the folder is ingested", s.get("added") == 6 and s.get("failed") == 3, s)
check("every chunk embedded on the first add", s.get("chunks_embedded") == s.get("chunks_added") > 0, s)
base = s

r = query("t", "pump filter")
check("PDF text found with its page", isinstance(r, list) and r and r[0]["path"].endswith("manual.pdf") and r[0]["page"] == 2, r)
r = query("t", "shipping delays")
check("DOCX heading kept", isinstance(r, list) and r and r[0]["path"].endswith("report.docx") and "Risks" in r[0]["heading"], r)
r = query("t", "竹子")
check("GBK text decoded and found (CJK bigrams)", isinstance(r, list) and r and r[0]["path"].endswith("gbk.txt"), r)
r = query("t", "penguins antarctic")
check("UTF-16 text decoded", isinstance(r, list) and r and r[0]["path"].endswith("utf16.txt"), r)
r = query("t", "zebra")
check("HTML scripts dropped", r == [], r)
r = query("t", "copyright footer")
check("HTML boilerplate dropped", r == [], r)
r = query("t", "red wire terminal")
check("Markdown section heading path", isinstance(r, list) and r and r[0]["heading"] == "Setup guide > Wiring", r)
for mode in ("dense", "hybrid"):
    r = query("t", "pump filter", mode)
    check(f"{mode} query answers", isinstance(r, list) and len(r) == 5, r)
rc, out, err = run("kb", "query", "t", "pump", "--mode", "fuzzy")
check("bad --mode is a usage error", rc == 2, err)
rc, out, err = run("kb", "query", "nosuch", "pump")
check("missing base: clear error", rc == 1 and "no knowledge base 'nosuch'" in err, err)

# ---- incremental
rc, s, err = add_json("t", docs)
check("re-adding an unchanged folder embeds nothing", s.get("chunks_embedded") == 0 and s.get("chunks_added") == 0
      and s.get("unchanged") == 6, s)
os.utime(f"{docs}/guide.md", (time.time() + 5, time.time() + 5))
rc, s, err = add_json("t", docs)
check("a touched file (same content) embeds nothing", s.get("chunks_embedded") == 0 and s.get("unchanged") == 6, s)
n_before = json.loads(run("kb", "stats", "t", "--json")[1])
with open(f"{docs}/guide.md", "a") as f:
    f.write("\n## Maintenance\n\nOil the turbine bearings every spring.\n")
rc, s, err = add_json("t", docs)
check("one changed file: only it is updated", s.get("updated") == 1 and s.get("added") == 0 and s.get("unchanged") == 5, s)
check("one changed file: only its new chunks are embedded", 0 < s.get("chunks_embedded", 0) < s.get("chunks_added", 0)
      or s.get("chunks_embedded") == 1, s)
r = query("t", "bearings")
check("the change is searchable", isinstance(r, list) and r and r[0]["path"].endswith("guide.md"), r)
os.remove(f"{docs}/page.html")
rc, s, err = add_json("t", docs)
check("a removed file leaves the index", s.get("removed") == 1, s)
check("... and is not found any more", query("t", "tomatoes") == [])
rc, out, err = run("kb", "rm", "t", f"{docs}/sub")
check("kb rm a folder", rc == 0 and "removed 2 documents" in out, (out, err))
rc, out, err = run("kb", "ls", "t")
check("kb ls NAME lists documents", rc == 0 and "guide.md" in out and "gbk.txt" not in out, out)
rc, out, err = run("kb", "ls")
check("kb ls lists bases", rc == 0 and "\nt " in out, out)
rc, out, err = run("kb", "stats", "t")
check("kb stats", rc == 0 and "documents      3" in out, out)

# ---- ask: the answer is followed by the numbered sources
rc, out, err = run("kb", "ask", "t", "How often is the pump filter replaced?", "--model", model, "--num-predict", "16")
check("kb ask prints the sources", rc == 0 and "Sources:\n[1] " in out and "manual.pdf" in out, (out, err))

# ---- kill -9 during ingest, then add again == an uninterrupted run
big = os.path.join(tmp, "big")
os.makedirs(big)
for i in range(120):
    paras = [f"Document {i} paragraph {j}: the {['river', 'mountain', 'forest', 'desert'][j % 4]} number {i * 7 + j} "
             f"is described here with several words about topic {i % 13} and detail {j}." for j in range(12)]
    open(f"{big}/doc{i:03d}.txt", "w").write("\n\n".join(paras))
rc, out, err = run("kb", "create", "ref", "--embed", model, "--chunk-tokens", "64")
rc, s_ref, err = add_json("ref", big)
ref_digest = json.loads(run("kb", "stats", "ref", "--json")[1])["digest"]
rc, out, err = run("kb", "create", "killed", "--embed", model, "--chunk-tokens", "64")
proc = subprocess.Popen([exe, "kb", "add", "killed", big], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
seen = 0
while seen < 15:
    line = proc.stderr.readline()
    if not line:
        break
    seen += line.startswith(b"added")
proc.send_signal(signal.SIGKILL)
proc.wait()
db = os.path.join(env["AUTOGLM_KB"], "killed", "kb.sqlite")
con = sqlite3.connect(db)
integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
n_docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
orphans = con.execute("SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)").fetchone()[0]
fts_gap = con.execute("SELECT (SELECT count(*) FROM chunks) - (SELECT count(*) FROM chunks_fts)").fetchone()[0]
con.close()
check("killed mid-way: some documents in, not all", 0 < n_docs < 120, n_docs)
check("killed mid-way: database consistent", integrity == "ok" and orphans == 0 and fts_gap == 0, (integrity, orphans, fts_gap))
rc, s, err = add_json("killed", big)
check("resume adds only the rest", rc == 0 and s.get("unchanged") == n_docs and s.get("added") == 120 - n_docs, s)
digest = json.loads(run("kb", "stats", "killed", "--json")[1])["digest"]
check("resumed index == uninterrupted index", digest == ref_digest, (digest, ref_digest))

# ---- BM25-only base
rc, out, err = run("kb", "create", "plain")
rc, s, err = add_json("plain", f"{docs}/guide.md")
check("base without a model: BM25 ingest", rc == 0 and s.get("added") == 1 and s.get("chunks_embedded") == 0, s)
rc, out, err = run("kb", "query", "plain", "turbine", "--mode", "dense")
check("dense without a model: clear error", rc == 1 and "no embedding model" in err, err)
r = query("plain", "turbine", "hybrid")
check("hybrid without a model falls back to BM25", isinstance(r, list) and len(r) >= 1, r)

# ---- summarize
text = ("The city council approved the new harbour bridge on Monday. The bridge will cost 40 million euros. "
        "Construction starts in spring and should take three years. Residents asked for a cycle lane, and the council agreed. "
        "The old ferry will keep running until the bridge opens. Contact press@example.com for details.\n\n"
        "Critics say the bridge is too expensive. The council replied that the bridge will pay for itself through tolls. ") * 2
open(f"{tmp}/news.txt", "w").write(text)
rc, out, err = run("summarize", f"{tmp}/news.txt", "--max-length", "30")
words = len(out.split())
check("extractive summary within --max-length", rc == 0 and 5 <= words <= 30, (words, out, err))
check("extractive summary has no repeated sentence", len(set(out.split(". "))) == len(out.split(". ")), out)
rc2, out2, _ = run("summarize", f"{tmp}/news.txt", "--max-length", "30")
check("extractive summary is deterministic", out == out2)
rc, out, err = run("summarize", f"{tmp}/news.txt", "--max-length", "200", "--redact")
check("--redact masks the e-mail", rc == 0 and "press@example.com" not in out and "[EMAIL]" in out, out)
zh = "长江是中国第一长河。长江全长约6300公里。三峡工程位于湖北宜昌。三峡工程是世界上最大的水电站。长江在上海注入东海。" * 3
open(f"{tmp}/zh.txt", "w").write(zh)
rc, out, err = run("summarize", f"{tmp}/zh.txt", "--max-length", "30")
check("Chinese extractive summary", rc == 0 and 0 < len(out.strip()) <= 40 and out.strip().endswith("。"), (out, err))
rc, out, err = run("summarize", f"{docs}/report.docx", "--model", model, "--max-length", "20")
rc2, out2, _ = run("summarize", f"{docs}/report.docx", "--model", model, "--max-length", "20")
check("model summary runs and is deterministic (greedy)", rc == 0 and out.strip() and out == out2, (out, err))
rc, out, err = run("summarize", f"{docs}/broken.pdf")
check("summarize a corrupt PDF: clear error", rc == 1 and "broken.pdf" in err, err)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
