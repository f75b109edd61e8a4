#!/usr/bin/env python3
"""Measure the cold start of a Lambda bootstrap binary locally, without AWS.

Serves a minimal Lambda Runtime API (the 2018-06-01 interface custom runtimes such as
lambda_runtime speak) on 127.0.0.1, starts BINARY with AWS_LAMBDA_RUNTIME_API pointing at it and
the environment Lambda gives a function, and times, for each of --runs fresh processes:

  init     process spawn -> the runtime's first GET /runtime/invocation/next
           (everything the function does before it can take an event: loading, config,
           clients, model, connection pools)
  invoke   the event handed over -> POST /runtime/invocation/<id>/response (or /error)
  total    spawn -> response: what the first caller of a cold function waits for, minus
           Lambda's own sandbox start
  max RSS  the process's peak resident memory (VmHWM), read just before it is killed

then prints median / min / max of each and the first run's response. Usage:

  scripts/cold-start.py BINARY --event FILE [--runs 5] [--env K=V ...]
  scripts/cold-start.py target/lambda/api-processor/bootstrap \\
      --event functions/api-processor/events/process-document.json --env RUST_LOG=info

BINARY may also be a bootstrap.zip (as built by scripts/lambda-build.sh); it is unpacked into a
temporary directory. The process gets a clean Lambda-like environment (function name, memory,
version, log group/stream, region, dummy credentials so that no SDK looks for instance metadata),
plus PATH, plus every --env; --inherit-env passes this shell's environment through as well.
The function's stdout/stderr go to a log per run (--logs DIR keeps them; --show-logs prints them).
Exit status: 0 when every run answered (a response or a function error), 1 otherwise.
Standard library only.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile

API = "/2018-06-01"


class Run:
    """What the Runtime API saw during one process lifetime."""

    def __init__(self, event: bytes, function_arn: str, timeout_s: float):
        self.event = event
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.request_id = str(uuid.uuid4())
        self.t_spawn: float | None = None
        self.t_next: float | None = None
        self.t_done: float | None = None
        self.outcome: str | None = None  # response | error | init_error
        self.body: bytes = b""
        self.error_type: str | None = None
        self.served = False
        self.done = threading.Event()  # an outcome arrived
        self.closing = threading.Event()  # the run is over: release parked /next calls
        self.lock = threading.Lock()

    def finish(self, outcome: str, body: bytes, error_type: str | None = None) -> None:
        with self.lock:
            if self.outcome is None:
                self.t_done = time.perf_counter()
                self.outcome = outcome
                self.body = body
                self.error_type = error_type
        self.done.set()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # lambda_runtime keeps its connection alive
    run: Run  # set on a per-run subclass

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        run = self.run
        if self.path != f"{API}/runtime/invocation/next":
            return self._reply(404, b'{"errorMessage":"unknown path"}')
        with run.lock:
            first = not run.served
            if first:
                run.served = True
                run.t_next = time.perf_counter()
        if not first:
            # The function finished and asks for more work: Lambda would freeze it here.
            run.closing.wait()
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000 + run.timeout_s * 1000)
        trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        self._reply(
            200,
            run.event,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": run.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": run.function_arn,
                "Lambda-Runtime-Trace-Id": trace,
            },
        )

    def do_POST(self):
        run = self.run
        body = self._body()
        path = self.path
        if path == f"{API}/runtime/init/error":
            run.finish("init_error", body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            return self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        prefix = f"{API}/runtime/invocation/"
        if path.startswith(prefix) and path.endswith(("/response", "/error")):
            request_id, _, kind = path[len(prefix):].rpartition("/")
            if request_id != run.request_id:
                return self._reply(400, b'{"errorMessage":"unknown request id"}')
            run.finish(kind, body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            return self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        self._reply(404, b'{"errorMessage":"unknown path"}')


def peak_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def lambda_env(args, port: int) -> dict:
    name = args.function_name
    env = dict(os.environ) if args.inherit_env else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(args.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "AWS_REGION": args.region,
            "AWS_DEFAULT_REGION": args.region,
            "_HANDLER": "bootstrap",
            "LAMBDA_TASK_ROOT": os.path.dirname(os.path.abspath(args.binary_path)),
            "LAMBDA_RUNTIME_DIR": os.path.dirname(os.path.abspath(args.binary_path)),
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            # Lambda always provides credentials; without them an SDK would probe the EC2
            # instance-metadata endpoint, which is nothing this tool may reach.
            "AWS_ACCESS_KEY_ID": "AKIDCOLDSTARTLOCAL00",
            "AWS_SECRET_ACCESS_KEY": "cold-start-local-secret",
            "AWS_SESSION_TOKEN": "cold-start-local-token",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for kv in args.env:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            sys.exit(f"--env expects K=V, got {kv!r}")
        env[k] = v
    return env


def one_run(args, event: bytes, index: int, log_dir: str) -> dict:
    arn = f"arn:aws:lambda:{args.region}:123456789012:function:{args.function_name}"
    run = Run(event, arn, args.timeout)
    handler = type("Handler", (RuntimeApi,), {"run": run})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    log_path = os.path.join(log_dir, f"run-{index}.log")
    with open(log_path, "wb") as log:
        run.t_spawn = time.perf_counter()
        proc = subprocess.Popen(
            [args.binary_path],
            env=lambda_env(args, port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = run.t_spawn + args.timeout
        while not run.done.is_set():
            if proc.poll() is not None:
                # Exited: give a last POST that raced with the exit a moment to land.
                run.done.wait(0.2)
                break
            if time.perf_counter() > deadline:
                break
            run.done.wait(0.01)
        rss = peak_rss_mib(proc.pid)
        exit_code = proc.poll()
        if exit_code is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    run.closing.set()
    server.shutdown()
    server.server_close()

    outcome = run.outcome
    if outcome is None:
        outcome = f"exited({exit_code})" if exit_code is not None else "timeout"
    ms = lambda a, b: (b - a) * 1000 if a is not None and b is not None else None  # noqa: E731
    return {
        "run": index,
        "outcome": outcome,
        "error_type": run.error_type,
        "init_ms": ms(run.t_spawn, run.t_next),
        "invoke_ms": ms(run.t_next, run.t_done) if outcome in ("response", "error") else None,
        "total_ms": ms(run.t_spawn, run.t_done) if outcome in ("response", "error") else None,
        "max_rss_mib": rss,
        "body": run.body.decode("utf-8", "replace"),
        "log": log_path,
    }


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def main() -> int:
    p = argparse.ArgumentParser(
        description="Cold-start time of a Lambda bootstrap, measured against a local Runtime API.",
        epilog="Example: scripts/cold-start.py target/lambda/api-processor/bootstrap.zip "
        "--event functions/api-processor/events/process-document.json --runs 5",
    )
    p.add_argument("binary", help="the bootstrap executable, or a bootstrap.zip")
    p.add_argument("--event", required=True, help="JSON file served as the first (and only) event")
    p.add_argument("--runs", type=int, default=5, help="fresh processes to measure (default 5)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment (repeatable)")
    p.add_argument("--inherit-env", action="store_true", help="pass this shell's environment through too")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per run before giving up (default 60)")
    p.add_argument("--function-name", default=None, help="AWS_LAMBDA_FUNCTION_NAME (default: from the path)")
    p.add_argument("--memory", type=int, default=512, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 512)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--logs", metavar="DIR", help="keep each run's stdout/stderr in DIR")
    p.add_argument("--show-logs", action="store_true", help="print the first run's log")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = p.parse_args()

    if args.runs < 1:
        p.error("--runs must be at least 1")
    with open(args.event, "rb") as f:
        event = f.read()
    try:
        json.loads(event)
    except ValueError as e:
        p.error(f"{args.event} is not JSON: {e}")

    work = tempfile.mkdtemp(prefix="cold-start-")
    try:
        binary = args.binary
        if binary.endswith(".zip"):
            with zipfile.ZipFile(binary) as zf:
                zf.extract("bootstrap", work)
            binary = os.path.join(work, "bootstrap")
            os.chmod(binary, 0o755)
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            p.error(f"{binary} is not an executable file")
        args.binary_path = os.path.abspath(binary)
        if args.function_name is None:
            parent = os.path.basename(os.path.dirname(os.path.abspath(args.binary)))
            args.function_name = parent if parent not in ("", ".", "/") else "cold-start"
        log_dir = args.logs or work
        os.makedirs(log_dir, exist_ok=True)

        results = [one_run(args, event, i + 1, log_dir) for i in range(args.runs)]
        if args.show_logs:
            with open(results[0]["log"], "rb") as f:
                sys.stderr.write(f.read().decode("utf-8", "replace"))

        keys = ("init_ms", "invoke_ms", "total_ms", "max_rss_mib")
        summary = {}
        for k in keys:
            vals = [r[k] for r in results if r[k] is not None]
            summary[k] = (
                {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}
                if vals
                else None
            )
        ok = all(r["outcome"] in ("response", "error") for r in results)

        if args.json:
            print(json.dumps({"binary": args.binary, "event": args.event, "runs": results, "summary": summary, "ok": ok}, indent=2))
        else:
            print(f"binary: {args.binary}\nevent:  {args.event}\nruns:   {args.runs}\n")
            print(f"{'run':>3}  {'init ms':>9}  {'invoke ms':>9}  {'total ms':>9}  {'max RSS MiB':>11}  outcome")
            for r in results:
                outcome = r["outcome"] + (f" ({r['error_type']})" if r["error_type"] else "")
                print(
                    f"{r['run']:>3}  {fmt(r['init_ms']):>9}  {fmt(r['invoke_ms']):>9}  "
                    f"{fmt(r['total_ms']):>9}  {fmt(r['max_rss_mib']):>11}  {outcome}"
                )
            print(f"\n{'':<12} {'median':>9} {'min':>9} {'max':>9}")
            for k, label in zip(keys, ("init ms", "invoke ms", "total ms", "max RSS MiB")):
                s = summary[k]
                if s:
                    print(f"{label:<12} {s['median']:>9.1f} {s['min']:>9.1f} {s['max']:>9.1f}")
                else:
                    print(f"{label:<12} {'-':>9} {'-':>9} {'-':>9}")
            first = results[0]
            print(f"\nfirst run: {first['outcome']}")
            print(first["body"] if first["body"] else "(no body)")
            if not ok:
                bad = next(r for r in results if r["outcome"] not in ("response", "error"))
                with open(bad["log"], "rb") as f:
                    tail = f.read()[-2000:].decode("utf-8", "replace")
                print(f"\nrun {bad['run']} ended with {bad['outcome']}; end of its log:\n{tail}", file=sys.stderr)
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
