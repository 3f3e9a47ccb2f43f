#!/usr/bin/env python3
"""Schemathesis against the real confab binary: no 5xx, and every answer matches the spec.

Starts `confab serve` on a free port with a temporary data directory, registers a user over
REST for a bearer token and creates a few rooms, then runs
`schemathesis run http://127.0.0.1:PORT/api/openapi.json` three times:

1. every operation but `POST /auth/logout`, with the token. Room ids in paths are mostly the
   real rooms' (a schemathesis dictionary), so messages are posted to and read from a live
   room rather than answered 404 for a random id; `DELETE /rooms/{id}` gets rooms of its own;
   `/bots/{username}/...` mostly names a real bot, `DELETE /tokens/{id}` real access tokens.
2. every operation without credentials: each must answer a documented 401 (or another
   documented 4xx for malformed input), never 5xx.
3. `POST /auth/logout` alone, with a second token (its first success revokes that token, so
   it must not share one with the other operations).

Checks: not_a_server_error, status_code_conformance, content_type_conformance,
response_headers_conformance, response_schema_conformance; in the first run also ignored_auth
(an operation that needs credentials refuses a request without them) and unsupported_method
(an undocumented method gets 405 with `Allow`), and a stateful phase that chains calls. The seed and the number
of examples are fixed, so a run is repeatable. Exits non-zero when a check fails, the server
dies, or the server logs an error.

Usage: run.py [path/to/confab]   (default: $CONFAB_BIN, else target/debug/confab)
Environment: ST_MAX_EXAMPLES (default 50), ST_SEED (default 20261125).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]
PASSWORD = "correct horse battery staple"
# schemathesis's command line, run by this same Python: found wherever pip put the package,
# whether or not its `schemathesis` script is on PATH (pip --user, pyenv without a rehash).
# Hypothesis names a lambda filter by parsing the source file it is in with `ast.parse`; on some
# CPython 3.11 patch releases, parsing schemathesis's largest module raises SystemError ("AST
# constructor recursion depth mismatch") instead of returning a tree, which aborts the run. The
# name is only cosmetic, so that SystemError is turned into the SyntaxError Hypothesis expects
# from a source it cannot parse, and it falls back to "lambda: <unknown>".
AST_SHIM = (
    "import ast; _parse = ast.parse\n"
    "def _tolerant_parse(*args, **kwargs):\n"
    "    try:\n"
    "        return _parse(*args, **kwargs)\n"
    "    except SystemError as err:\n"
    "        raise SyntaxError(str(err)) from err\n"
    "ast.parse = _tolerant_parse\n"
)
SCHEMATHESIS = [
    sys.executable,
    "-c",
    AST_SHIM + "import sys; from schemathesis.cli import schemathesis; "
    "sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())",
]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_healthy(base, server, deadline_secs=30):
    deadline = time.monotonic() + deadline_secs
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"confab exited before answering /healthz: {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    sys.exit(f"confab did not answer /healthz within {deadline_secs}s")


def write_config(path, rooms, doomed_rooms, bots, tokens):
    """Room ids for path parameters: the live rooms most of the time, generated text otherwise;
    likewise a real bot for `/bots/{username}/...` and real token ids for `/tokens/{id}`."""

    def quoted(ids):
        return ", ".join(json.dumps(i) for i in ids)

    with open(path, "w") as config:
        config.write(
            f"""[auth]
# Runs use the token they are given, or none: no signing up of accounts of its own.
auto-signup = false

[dictionaries.rooms]
values = [{quoted(rooms)}]

[dictionaries.doomed]
values = [{quoted(doomed_rooms)}]

[dictionaries.bots]
values = [{quoted(bots)}]

[dictionaries.tokens]
values = [{quoted(tokens)}]

[parameters]
"path.id" = {{ dictionary = "rooms", probability = 0.8 }}

[[operations]]
include-path = "/rooms/{{id}}"
include-method = "DELETE"
parameters = {{ "path.id" = {{ dictionary = "doomed", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/bots/"
parameters = {{ "path.username" = {{ dictionary = "bots", probability = 0.8 }} }}

[[operations]]
include-path = "/tokens/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "tokens", probability = 0.5 }} }}
"""
        )


def schemathesis(base, name, token, checks, filters, work, config, phases, examples=None):
    """One schemathesis run; true when it found a failure."""
    examples = examples or os.environ.get("ST_MAX_EXAMPLES", "50")
    seed = os.environ.get("ST_SEED", "20261125")
    report_dir = os.path.join(work, "reports", name)
    os.makedirs(report_dir, exist_ok=True)
    command = [
        *SCHEMATHESIS,
        "--config-file",
        config,
        "run",
        f"{base}/api/openapi.json",
        "--url",
        f"{base}/api",
        "--checks",
        ",".join(checks),
        "--phases",
        phases,
        "--max-examples",
        examples,
        "--seed",
        seed,
        "--generation-database",
        "none",
        # The server answers fast; a slow answer on a loaded CI machine is not a bug.
        "--suppress-health-check",
        "too_slow",
        "--workers",
        "2",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        report_dir,
        *filters,
    ]
    shown = " ".join(["schemathesis", *command[len(SCHEMATHESIS) :]])
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
        shown += " --header 'Authorization: Bearer ***'"
    print(f"\n=== schemathesis: {name} ===\n+ {shown}", flush=True)
    return subprocess.run(command, cwd=report_dir).returncode != 0


def run_all(base, data):
    """Seeds the server with a user and rooms, then runs schemathesis; true on any failure."""
    api = f"{base}/api"
    credentials = {"username": "fuzzer", "password": PASSWORD}
    token = post_json(f"{api}/auth/register", credentials)["token"]
    rooms = [post_json(f"{api}/rooms", {"name": f"fuzz {i}"}, token)["id"] for i in range(2)]
    doomed = [post_json(f"{api}/rooms", {"name": f"doomed {i}"}, token)["id"] for i in range(3)]
    post_json(f"{api}/rooms/{rooms[0]}/messages", {"body": "hello"}, token)
    # The fuzzer is the first account, so an admin: a bot for the bot routes, and access tokens
    # of its own for `DELETE /tokens/{id}` (never the one it runs with: that is a session).
    bots = [post_json(f"{api}/bots", {"username": "fuzz-bot"}, token)["username"]]
    tokens = [
        post_json(f"{api}/tokens", {"name": f"fuzz {i}", "scopes": ["read"]}, token)["token"]["id"]
        for i in range(3)
    ]
    logout_token = post_json(f"{api}/auth/login", credentials)["token"]
    config = os.path.join(data, "schemathesis.toml")
    write_config(config, rooms, doomed, bots, tokens)

    failed = schemathesis(
        base,
        "authenticated",
        token,
        CHECKS + ["ignored_auth", "unsupported_method"],
        ["--exclude-path", "/auth/logout"],
        data,
        config,
        # Stateful: chains of calls along links schemathesis infers from the responses
        # (create a room, then read, post to and delete it).
        "examples,coverage,fuzzing,stateful",
    )
    failed |= schemathesis(
        base, "anonymous", None, CHECKS, [], data, config, "coverage,fuzzing", examples="10"
    )
    failed |= schemathesis(
        base,
        "logout",
        logout_token,
        CHECKS,
        ["--include-path", "/auth/logout"],
        data,
        config,
        "coverage,fuzzing",
    )
    return failed


def server_errors(log_path):
    """Log lines that show a server-side failure: errors, 5xx answers, panics."""
    found = []
    with open(log_path) as log:
        for line in log:
            try:
                entry = json.loads(line)
            except ValueError:
                # Not a log event: a panic message or anything else written to stderr.
                found.append(line)
                continue
            status = entry.get("fields", {}).get("status")
            if entry.get("level") == "ERROR" or (isinstance(status, int) and status >= 500):
                found.append(line)
    return found


def main():
    if len(sys.argv) > 1:
        binary = sys.argv[1]
    else:
        binary = os.environ.get("CONFAB_BIN", os.path.join(ROOT, "target/debug/confab"))
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        sys.exit("schemathesis is not installed (python3 -m pip install schemathesis)")
    data = tempfile.mkdtemp(prefix="confab-schemathesis-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(data, "server.log")
    # JSON log lines, so the check below reads levels and statuses, not text a fuzzer chose.
    env = dict(os.environ, RUST_LOG="warn", CONFAB_LOG__FORMAT="json")
    started = time.monotonic()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", os.path.join(data, "db")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_healthy(base, server)
        failed = run_all(base, data)
        if server.poll() is not None:
            print(f"confab died during the run: {server.returncode}", file=sys.stderr)
            failed = True
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    errors = server_errors(log_path)
    if errors:
        print("the server logged errors:\n" + "".join(errors[:20]), file=sys.stderr)
        failed = True
    print(f"\nschemathesis runs took {time.monotonic() - started:.0f}s", flush=True)
    if failed:
        print(f"FAILED; the server log and reports are kept in {data}", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
