#!/usr/bin/env python3
"""A small client of the local gateway (stdlib only), used by scripts/demo.sh.

  dev-client.py ingest FILE...   upload each file (PUT /files/local/...), submit it
                                 (POST /v2/process-document), wait for a final status;
                                 prints upload-to-completed time per file
  dev-client.py query TEXT       POST /v2/query and print the results

The gateway is $RAG_DEV_URL (default http://127.0.0.1:8787); the token comes from its
/dev/token route (loopback only), as the console gets it.
"""
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ.get("RAG_DEV_URL", "http://127.0.0.1:8787").rstrip("/")
FINAL = {"completed", "failed", "cancelled"}


def call(method, path, token=None, body=None, headers=None):
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def token():
    status, body = call("GET", "/dev/token")
    if status != 200:
        sys.exit(f"cannot get a token from {BASE}/dev/token: {status} {body}")
    return body["token"], body["user"]


def ingest(paths):
    tok, user = token()
    rows, failures = [], 0
    for path in paths:
        name = os.path.basename(path)
        key = f"{user}/samples/{name}"  # uploads go under the user's own prefix
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            data = f.read()
        started = time.monotonic()
        quoted = urllib.parse.quote(key)
        status, body = call("PUT", f"/files/local/{quoted}", tok, data, {"Content-Type": ctype})
        if status != 200:
            print(f"{name}: upload failed: {status} {body}")
            failures += 1
            continue
        request = {"bucket": "local", "key": key, "force_reprocess": True,
                   "metadata": {"fileName": name, "contentType": ctype, "size": len(data)}}
        status, body = call("POST", "/v2/process-document", tok, json.dumps(request).encode(),
                            {"Content-Type": "application/json"})
        if status not in (200, 202):
            print(f"{name}: refused: {status} {body.get('error') if body else ''}")
            failures += 1
            continue
        status_id = urllib.parse.quote(body["statusId"], safe="")
        record = body
        while record.get("status") not in FINAL and time.monotonic() - started < 600:
            time.sleep(0.05)
            _, record = call("GET", f"/v2/status/{status_id}", tok)
        elapsed = (time.monotonic() - started) * 1000
        meta = record.get("metadata", {})
        detail = record.get("error") or f"{meta.get('chunks', '?')} chunks, {meta.get('pages', '?')} pages"
        rows.append((name, record.get("status"), elapsed, record.get("pipeline"), detail))
    width = max([len(r[0]) for r in rows] + [8])
    print(f"{'document':<{width}}  {'status':<9}  {'ms':>7}  {'pipeline':<8}  detail")
    for name, status, ms, pipeline, detail in rows:
        print(f"{name:<{width}}  {status:<9}  {ms:>7.0f}  {pipeline or '':<8}  {detail}")
    done = [r[2] for r in rows if r[1] == "completed"]
    if done:
        done.sort()
        print(f"upload to completed: median {done[len(done) // 2]:.0f} ms, max {done[-1]:.0f} ms over {len(done)} documents")
    return failures


def query(text):
    status, body = call("POST", "/v2/query", token()[0],
                        json.dumps({"query": text, "top_k": 5}).encode(), {"Content-Type": "application/json"})
    if status != 200:
        sys.exit(f"query failed: {status} {body}")
    print(f'"{text}": {body["total_results"]} results in {body["processing_time_ms"]:.1f} ms')
    for r in body["results"]:
        name = r["metadata"].get("file_name") or r["document_id"]
        page = f" p.{r['page_num']}" if r.get("page_num") else ""
        snippet = " ".join(r["content"].split())[:110]
        print(f"  {r['score']:.3f}  {name}{page}  {snippet}")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("ingest", "query"):
        sys.exit(__doc__)
    if sys.argv[1] == "ingest":
        # Documents that end `failed` are results, not errors; uploads or
        # submissions that could not be made are.
        sys.exit(1 if ingest(sys.argv[2:]) else 0)
    else:
        query(" ".join(sys.argv[2:]))
