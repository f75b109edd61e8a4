#!/usr/bin/env python3
"""Makes a long text PDF the way a user's report is made: a word processor
(LibreOffice, installed by scripts/sysdeps.sh) prints an HTML document of
PAGES sections, each a heading and about 430 words of MS MARCO passages
(../shared/data/beir/msmarco-5k) on a page of its own. Used to measure how
long a long document takes to become searchable (README, "Long documents").

Usage: make-long-pdf.py PAGES OUT.pdf
"""

import html
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared/data/beir/msmarco-5k/corpus.jsonl"
WORDS_PER_PAGE = 430


def main():
    pages, out = int(sys.argv[1]), Path(sys.argv[2])
    passages = [json.loads(line)["text"] for line in CORPUS.open()]
    sections, k = [], 0
    for n in range(pages):
        words, body = 0, []
        while words < WORDS_PER_PAGE:
            text = passages[k % len(passages)]
            k += 1
            body.append(html.escape(text))
            words += len(text.split())
        sections.append(f'<h2>Section {n + 1}</h2><p class="page">{" ".join(body)}</p>')
    document = (
        '<html><head><meta charset="utf-8"><style>p.page{page-break-after:always}</style></head>'
        f"<body>{''.join(sections)}</body></html>"
    )
    soffice = shutil.which("soffice") or sys.exit("soffice not found: run scripts/sysdeps.sh")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / (out.stem + ".html")
        source.write_text(document)
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless",
             "--convert-to", "pdf:writer_pdf_Export", "--outdir", tmp, str(source)],
            check=True, capture_output=True,
        )
        shutil.move(Path(tmp) / (out.stem + ".pdf"), out)
    print(out)


if __name__ == "__main__":
    main()
