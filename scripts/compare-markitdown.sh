#!/usr/bin/env bash
# Side-by-side run of our extractor (rag-extract, as `ragctl extract` uses it)
# and Microsoft's markitdown (PyPI, in a throwaway virtualenv) on the same
# files, in the same run, for issue 5's closing note: seconds per file, pages
# per second for each engine, and the words markitdown finds that ours misses.
#
#   scripts/compare-markitdown.sh            # 5 timed rounds after 1 warm-up
#   ROUNDS=9 scripts/compare-markitdown.sh
#
# Files: the sample PDFs in ../shared/data/docs/pdf, the committed fixtures
# under crates/rag-extract/tests/fixtures (office/, email/, images/, and
# markitdown/: markitdown's own test files), and a
# few small files generated here for formats that have no committed fixture
# (HTML, CSV, XLSX, Jupyter notebook, EPUB, RSS).
#
# Timing is in-process for both engines, so neither pays its start-up: ours
# through the `extract_bench` example in --serve mode (one long-lived process
# that extracts the path it is given and answers the seconds spent in
# `extract`), markitdown through `MarkItDown().convert(path)` in the driver's
# own Python process. The driver interleaves them file by file, alternating
# which goes first, one round after another; the first round is a warm-up and
# not counted (lazy imports, page cache); the table shows each engine's median
# over the rest. The two never run at the same time.
#
# Pages: PDF pages from files.json; slides for PPTX/ODP/PPT and sheets for
# XLSX (as counted by our extraction's page boundaries); 1 for every other
# file. Totals (pages/s) count only the files both engines read: markitdown's
# "empty output" (images: it has no OCR without an LLM client) and "raw MIME
# source" (.eml: it has no e-mail parser and prints the file as text) do not
# count as read.
#
# Missed text: both outputs are normalized (HTML comments, link and image
# targets and table rules dropped, lower-cased, split into words of letters
# and digits); for each file the words in markitdown's output that never occur
# in ours are listed, with the number of word 3-grams likewise missing. Our
# text is the example's, rendered as `ragctl extract FILE` prints it (when
# ragctl builds, each file's `ragctl extract` output is compared with it and
# any difference reported). Every output is kept under
# $OUT (default: a new temporary directory, printed at the end).
#
# Environment:
#   MARKITDOWN_VENV    the virtualenv (default /tmp/markitdown-venv; created,
#                      with `pip install 'markitdown[all]'`, when missing)
#   ROUNDS             timed rounds per file and engine (default 5)
#   OUT                where outputs go (default: mktemp -d)
#   CARGO_TARGET_DIR   as for cargo (default ~/.cache/amplify-rag-async/target)
#   PDFIUM_LIBRARY_PATH  libpdfium.so (default: scripts/fetch-pdfium.sh's copy)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

venv="${MARKITDOWN_VENV:-/tmp/markitdown-venv}"
rounds="${ROUNDS:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amplify-rag-async/target}"
if [[ -z "${PDFIUM_LIBRARY_PATH:-}" ]]; then
    PDFIUM_LIBRARY_PATH="$(scripts/fetch-pdfium.sh)"
fi
export PDFIUM_LIBRARY_PATH

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import markitdown' 2>/dev/null; then
    echo "creating $venv with markitdown[all]" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'markitdown[all]'
fi
py="$venv/bin/python"

echo "building the extract_bench example and ragctl (release)" >&2
cargo build -q --release -p rag-extract --example extract_bench
bench="$CARGO_TARGET_DIR/release/examples/extract_bench"
# ragctl only cross-checks that the example prints what `ragctl extract`
# prints; a workspace that does not build it yet does not stop the run.
ragctl="$CARGO_TARGET_DIR/release/ragctl"
if ! cargo build -q --release -p ragctl; then
    echo "warning: ragctl did not build; skipping the ragctl cross-check" >&2
    ragctl=""
fi

out="${OUT:-$(mktemp -d -t compare-markitdown.XXXXXX)}"
mkdir -p "$out/generated" "$out/ours" "$out/markitdown"

# Small files for the formats without a committed fixture, made with the
# venv's own libraries (openpyxl comes with markitdown[all]).
"$py" - "$out/generated" <<'PY'
import json, sys, zipfile
from pathlib import Path
import openpyxl

d = Path(sys.argv[1])
(d / "release.html").write_text("""<!doctype html><html><head><title>Ignored Title</title>
<style>p { color: red }</style><script>var SCRIPT_TEXT = 1;</script></head><body>
<header><nav><a href="/home">Home</a> | <a href="/about">About</a></nav></header>
<main><h1>Release notes</h1>
<p>Version <strong>2.0</strong> adds <a href="https://example.com/search">hybrid search</a>.</p>
<h2>Fixes</h2><ul><li>First fix</li><li>Second fix</li></ul>
<table><tr><th>Component</th><th>Latency ms</th></tr><tr><td>retriever</td><td>42</td></tr></table>
<p><img src="chart.png" alt="Latency chart by quarter"></p></main>
<footer>FOOTER_TEXT &copy; 2024</footer></body></html>""", encoding="utf-8")
(d / "products.csv").write_bytes(
    "name,price,origin\nCafé crème,2.50,Zürich\n\"Tea, green\",1.80,Kyōto\nPâté,4.10,Lyon\n"
    .replace("ō", "o").encode("cp1252"))
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Budget 2024"
for row in [("Item", "Q1", "Q2"), ("Servers", 1200, 1350), ("Licences", 300, 300)]:
    ws.append(row)
ws2 = wb.create_sheet("Staff")
for row in [("Name", "Role"), ("Ada", "Engineer"), ("Grace", "Admiral")]:
    ws2.append(row)
wb.save(d / "budget.xlsx")
nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
      "cells": [
          {"cell_type": "markdown", "metadata": {}, "source": ["# Churn analysis\n", "We load the **customer** table."]},
          {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": ["import pandas as pd\n", "df = pd.read_csv('churn.csv')\n", "df.shape"],
           "outputs": [{"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": ["(7043, 21)"]}}]},
          {"cell_type": "markdown", "metadata": {}, "source": ["Monthly churn is 26.5 percent."]}]}
(d / "analysis.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
def chapter(title, body):
    return (f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title></head>'
            f'<body><h1>{title}</h1><p>{body}</p></body></html>')
with zipfile.ZipFile(d / "book.epub", "w") as z:
    z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
    z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
               '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
    z.writestr("OEBPS/content.opf", '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
               '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:uuid:1</dc:identifier><dc:title>Sea Stories</dc:title>'
               '<dc:creator>Jane Doe</dc:creator><dc:language>en</dc:language></metadata>'
               '<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/><item id="c2" href="c2.xhtml" media-type="application/xhtml+xml"/></manifest>'
               '<spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>')
    z.writestr("OEBPS/c1.xhtml", chapter("The Harbour", "Boats rocked gently while gulls circled the lighthouse."))
    z.writestr("OEBPS/c2.xhtml", chapter("The Storm", "Waves broke over the breakwater at midnight."))
(d / "news.rss").write_text("""<?xml version="1.0"?><rss version="2.0"><channel><title>Project news</title>
<link>https://example.com/</link><description>Updates from the team</description>
<item><title>Hybrid search ships</title><link>https://example.com/1</link><description>BM25 and vectors, fused.</description></item>
<item><title>Faster ingestion</title><link>https://example.com/2</link><description>PDF pages per second tripled.</description></item>
</channel></rss>""", encoding="utf-8")
PY

cat > "$out/driver.py" <<'PY'
import json, os, re, statistics, subprocess, sys, time, unicodedata, warnings
from pathlib import Path

repo, out, bench, ragctl, rounds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
warnings.filterwarnings("ignore")
import logging
logging.disable(logging.CRITICAL)
from markitdown import MarkItDown

pdf_dir = (repo / "../shared/data/docs/pdf").resolve()
fixtures = repo / "crates/rag-extract/tests/fixtures"
pdf_pages = {f["path"]: f["pages"] for f in json.loads((pdf_dir / "files.json").read_text())}
files = [pdf_dir / p for p in sorted(pdf_pages)]
for sub in ("office", "email", "images", "markitdown"):
    files += sorted(p for p in (fixtures / sub).iterdir() if p.suffix not in (".py", ".fodt", ".md"))
files += sorted((out / "generated").iterdir())

md = MarkItDown()
srv = subprocess.Popen([bench, "--serve", "--out", str(out / "ours")], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, text=True, bufsize=1)

def ours(path, keep):
    srv.stdin.write(f"{path}\n"); srv.stdin.flush()
    secs, pages, status = srv.stdout.readline().rstrip("\n").split("\t", 2)
    return float(secs), int(pages), status

def theirs(path, keep):
    start = time.perf_counter()
    try:
        text = md.convert(str(path)).text_content
        # Not counted as read: no text at all (images: markitdown has no OCR
        # without an LLM), or an e-mail's MIME source printed as plain text.
        if not text.strip() and path.suffix.lower() != ".pdf":
            status = "empty output"
        elif path.suffix.lower() == ".eml" and re.search(r"^(MIME-Version|Content-Type):", text, re.M | re.I):
            status = "raw MIME source"
        else:
            status = "ok"
    except Exception as e:  # markitdown raises on formats it cannot read
        text, status = None, "error: " + type(e).__name__
    secs = time.perf_counter() - start
    if keep and text is not None:
        (out / "markitdown" / f"{path.name}.md").write_text(text, encoding="utf-8")
    return secs, status

times = {p: ([], []) for p in files}
info = {}
for r in range(rounds + 1):
    print(f"round {r}/{rounds}{' (warm-up)' if r == 0 else ''}", file=sys.stderr)
    for i, p in enumerate(files):
        first_ours = (r + i) % 2 == 0
        for which in ((0, 1) if first_ours else (1, 0)):
            if which == 0:
                s, pages, st = ours(p, r == 0)
                info.setdefault(p, {})["ours"] = (pages, st)
            else:
                s, st = theirs(p, r == 0)
                info.setdefault(p, {})["md"] = st
            if r > 0:
                times[p][which].append(s)
srv.stdin.close(); srv.wait()

def page_count(p):
    ext = p.suffix.lower()
    if ext == ".pdf" and p.name in pdf_pages:
        return pdf_pages[p.name]
    # Other PDFs (markitdown's own) and decks and workbooks: as our
    # extraction counts their pages.
    if ext in (".pdf", ".pptx", ".odp", ".ppt", ".xlsx", ".xls", ".ods"):
        return max(info[p]["ours"][0], 1)
    return 1

def group(p):
    ext = p.suffix.lower()
    if ext == ".pdf":
        return "PDF"
    if ext in (".docx", ".pptx", ".xlsx", ".odt", ".odp", ".doc", ".ppt", ".xls", ".ods"):
        return "Office"
    if ext in (".eml", ".msg"):
        return "e-mail"
    if ext in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"):
        return "images"
    return "HTML, CSV, notebook, EPUB, RSS"

def short(st):
    return "ok" if st == "ok" else st[:60]

print(f"\n{rounds} timed rounds after 1 warm-up, median seconds per file, in-process; "
      "ratio = markitdown s / ours s (above 1: ours is faster)\n")
print("| file | pages | ours s | markitdown s | ratio | ours | markitdown |")
print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
groups = ["PDF", "Office", "e-mail", "images", "HTML, CSV, notebook, EPUB, RSS"]
tot = {k: [0, 0, 0.0, 0.0] for k in groups + ["all", "all but images"]}
for p in files:
    o, m = statistics.median(times[p][0]), statistics.median(times[p][1])
    st_o, st_m = info[p]["ours"][1], info[p]["md"]
    n = page_count(p)
    both = st_o == "ok" and st_m == "ok"
    ratio = f"{m / o:.3g}x" if both and o > 0 else "–"
    print(f"| {p.name} | {n} | {o:.4f} | {m:.4f} | {ratio} | {short(st_o)} | {short(st_m)} |")
    if both:
        for k in (group(p), "all") + (("all but images",) if group(p) != "images" else ()):
            t = tot[k]
            t[0] += 1; t[1] += n; t[2] += o; t[3] += m
print()
print("| files both read | files | pages | ours s | markitdown s | ours pages/s | markitdown pages/s | ratio |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for k, (f, n, o, m) in tot.items():
    if f and not (k == "all but images" and tot[k] == tot["all"]):
        print(f"| {k} | {f} | {n} | {o:.3f} | {m:.3f} | {n / o:.1f} | {n / m:.1f} | {m / o:.3g}x |")

each = []
for which, label in ((0, "ours"), (1, "markitdown")):
    read = [p for p in files if (info[p]["ours"][1] if which == 0 else info[p]["md"]) == "ok"]
    n = sum(page_count(p) for p in read)
    secs = sum(statistics.median(times[p][which]) for p in read)
    each.append(f"{label} {len(read)} files, {n} pages in {secs:.3f} s = {n / secs:.1f} pages/s")
print("\nEvery file each engine read (ours including OCR and LibreOffice conversions): " + "; ".join(each))

# Words markitdown finds that ours misses.
def norm(text):
    text = unicodedata.normalize("NFKC", text)                     # ligatures (ﬁ, ﬀ)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)          # page/slide markers
    text = re.sub(r"\]\([^)]*\)", "] ", text)                    # link and image targets
    text = re.sub(r"^\s*\|?[\s:|-]+\|[\s:|-]*$", " ", text, flags=re.M)  # table rules
    text = re.sub(r"(\w)-[ \t]*\n[ \t]*(\w)", r"\1\2", text)         # words hyphenated at line ends
    return re.findall(r"[^\W_]+", text.lower())

def grams(words):
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}

def encoded(w):
    # base64 or quoted-printable runs (markitdown prints some e-mails' raw MIME source)
    return len(w) >= 30 or (len(w) >= 6 and re.search(r"\d", w) and re.search(r"[a-z]", w)
                            and not re.fullmatch(r"\d+[a-z]{1,3}|[a-z]+\d{1,2}", w))

print("\n## Words in markitdown's output that ours lacks\n")
print("Absent: not in ours even with spaces and hyphens ignored. Split/joined: in ours, "
      "but split or glued differently (markitdown's PDF layout). Encoded: base64/quoted-printable runs.\n")
for p in files:
    mpath = out / "markitdown" / f"{p.name}.md"
    if not mpath.exists():
        continue
    opath = out / "ours" / f"{p.name}.md"
    otext = opath.read_text(encoding="utf-8") if opath.exists() else ""
    ow, mw = norm(otext), norm(mpath.read_text(encoding="utf-8"))
    squeezed = "".join(ow)
    missing = sorted(set(mw) - set(ow))
    enc = [w for w in missing if encoded(w)]
    split = [w for w in missing if not encoded(w) and w in squeezed]
    absent = [w for w in missing if not encoded(w) and w not in squeezed]
    g_missing = grams(mw) - grams(ow)
    g_total = len(grams(mw)) or 1
    if missing or len(g_missing) / g_total > 0.05:
        note = "" if info[p]["md"] == "ok" else f"markitdown: {info[p]['md']}; "
        line = (f"- **{p.name}** ({note}{len(mw)} words in markitdown, {len(ow)} in ours; "
                f"{len(g_missing)}/{g_total} 3-grams missing): absent: "
                + (", ".join(absent[:60]) + (" …" if len(absent) > 60 else "") if absent else "none"))
        if split:
            line += f"; split/joined: {len(split)} (" + ", ".join(split[:8]) + (" …" if len(split) > 8 else "") + ")"
        if enc:
            line += f"; encoded: {len(enc)}"
        print(line)
if ragctl:
    differ = []
    for p in files:
        if info[p]["ours"][1] != "ok":
            continue
        r = subprocess.run([ragctl, "extract", str(p)], capture_output=True, text=True)
        (out / "ours" / f"{p.name}.ragctl.md").write_text(r.stdout, encoding="utf-8")
        if r.stdout.strip() != (out / "ours" / f"{p.name}.md").read_text(encoding="utf-8").strip():
            differ.append(p.name)
    print(f"\nragctl extract cross-check: {len(differ)} file(s) differ from the example's text"
          + (": " + ", ".join(differ) if differ else ""))
print(f"\noutputs: {out}/ours, {out}/markitdown")
PY

"$py" "$out/driver.py" "$repo" "$out" "$bench" "$ragctl" "$rounds"
