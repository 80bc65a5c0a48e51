#!/usr/bin/env python3
"""Cold start of the Lambda functions, measured locally (issue 8).

Spawns each function's release binary against a minimal Lambda Runtime API
emulator served by this script on 127.0.0.1, and records per process:

* init: spawn -> its first GET .../invocation/next (the process is ready);
* cold: spawn -> the first invocation's response fully received (the event is
  queued before the spawn, so this is init plus one invocation);
* warm: a second identical invocation, from queuing the event to its response;
* peak RSS: VmHWM from /proc/PID/status after the warm invocation.

Each function runs in --runs fresh processes (interleaved with the other
functions, after one discarded spawn each so its binary is in the page cache);
the table shows medians. Python 3 standard library only: nothing to build.

    python3 infra/bench/coldstart.py --bin-dir target/release --runs 5 \\
        [--zip-dir target/lambda] [--only health,login] [--json out.json]

The API functions run with STORE=sqlite on a scratch file and no model weights,
so build them with SQLite (`cargo build --release --bins --features sqlite`: as
deployed a function has DynamoDB only, and stops at start saying so).
Their events are infra/bench/events/<function>.json (API Gateway HTTP API v2
payloads). Placeholders are filled per invocation:

* {{unique}}    a string never used before in this run;
* {{token}}     the token of a user registered for this invocation only (so the
                cold and the warm invocation find the same state), with
* {{username}}  that user's name, and
* {{chat_id}} / {{message_id}}  a chat of that user with one exchange in it;
* {{admin_token}} the token of the one administrator, an account granted the
                role with the chatbot-admin binary (built with the functions).

Users and chats are made beforehand through the register and send-chat
binaries (kept running, outside the measurement). Routes that call a model use
provider "ollama", which this script also fakes (POST /api/chat on the same
port), so send, stream, edit, regenerate and chat completions run their whole
pipeline. The rate limits are raised so repeated runs are not refused.

flan-t5-inference (models/inference) is measured with the tiny test checkpoint
(FLAN_T5_DIR=models/flan-t5/tests/fixtures/tiny-t5) unless --flan-t5-dir names
another (e.g. base-shaped random weights from `bench write base DIR`, with
--flan-t5-model google/flan-t5-base and --flan-t5-quantize q8_0).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import platform
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

RUNTIME = "/2018-06-01/runtime"
REPO = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).resolve().parent / "events"
INFERENCE = "flan-t5-inference"
PASSWORD = "correct horse battery staple"
# Functions whose binary answers with Lambda response streaming.
STREAMING = {"stream-chat", "openai-api"}


# --------------------------------------------------------------------------- emulator


class Result:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.queued_at = 0.0
        self.answered_at = 0.0
        self.kind = ""  # "response", "error"
        self.status = None  # the HTTP status the function answered, when it says one
        self.body = b""
        self.streamed = False
        self.error_type = None


class Emulator:
    """A Lambda Runtime API for one process (a new one per spawn, so a killed
    process's pending long-poll can never take the next process's event), plus
    a fake Ollama chat endpoint for the providers."""

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.results: dict[str, Result] = {}
        self.init_error: bytes | None = None
        self.first_next_at: float | None = None  # the process is initialised
        self.closed = False
        emulator = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's
            # algorithm holds the second until the peer's delayed ACK (~40 ms).
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path == f"{RUNTIME}/invocation/next":
                    emulator._next(self)
                else:
                    self._send(404, b'{"message":"not found"}')

            def do_POST(self):
                body = self._read_body()
                now = time.perf_counter()
                m = re.fullmatch(rf"{RUNTIME}/invocation/([^/]+)/(response|error)", self.path)
                if m:
                    self._send(202, b'{"status":"OK"}')
                    # Timed at the end of the body (now), announced after the
                    # 202 so the process is not killed while it reads it.
                    emulator._answer(m.group(1), m.group(2), body, now, self.headers, self._trailers)
                elif self.path == f"{RUNTIME}/init/error":
                    emulator.init_error = body or b"(empty)"
                    self._send(202, b'{"status":"OK"}')
                elif self.path == "/api/chat":
                    fake_ollama(self, body)
                else:
                    self._send(404, b'{"message":"not found"}')

            def _read_body(self) -> bytes:
                self._trailers = {}
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        self._quick_ack()
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            break
                        out += self.rfile.read(size)
                        self.rfile.readline()  # CRLF after the chunk
                    while True:  # trailers, then the blank line
                        line = self.rfile.readline()
                        if line in (b"\r\n", b"\n", b""):
                            break
                        name, _, value = line.decode("latin-1").partition(":")
                        self._trailers[name.strip().lower()] = value.strip()
                    return bytes(out)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _quick_ack(self):
                # A streamed body comes in small writes; a client with Nagle's
                # algorithm holds each until the previous one is acknowledged,
                # and Linux delays ACKs up to 40 ms. Acknowledge at once, so the
                # emulator adds no such wait (the flag resets after each ACK).
                if hasattr(socket, "TCP_QUICKACK"):
                    try:
                        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                    except OSError:
                        pass

            def _send(self, status, body, headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A killed process drops its connections: not worth a traceback.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def queue(self, event: bytes) -> tuple[str, Result]:
        request_id = str(uuid.uuid4())
        result = Result()
        self.results[request_id] = result
        result.queued_at = time.perf_counter()
        self.events.put((request_id, event))
        return request_id, result

    def _next(self, handler) -> None:
        if self.first_next_at is None:
            self.first_next_at = time.perf_counter()
        while True:
            if self.closed:
                handler.close_connection = True
                return
            try:
                request_id, event = self.events.get(timeout=0.05)
                break
            except queue.Empty:
                continue
        deadline = int(time.time() * 1000) + 29_000
        handler._send(
            200,
            event,
            [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
            ],
        )

    def _answer(self, request_id, kind, body, now, headers, trailers) -> None:
        result = self.results.get(request_id)
        if result is None:
            return
        result.answered_at = now
        result.kind = kind
        result.body = body
        result.error_type = trailers.get("lambda-runtime-function-error-type") or (
            headers.get("Lambda-Runtime-Function-Error-Type") if kind == "error" else None
        )
        result.streamed = headers.get("Lambda-Runtime-Function-Response-Mode", "").lower() == "streaming"
        result.status = response_status(body, result.streamed) if kind == "response" else None
        result.done.set()

    def close(self) -> None:
        self.closed = True
        self.server.shutdown()
        self.server.server_close()


def response_status(body: bytes, streamed: bool):
    """The statusCode of an API Gateway response, buffered or streamed (a JSON
    prelude, eight NUL bytes, then the body)."""
    head = body.split(b"\0" * 8, 1)[0] if streamed else body
    try:
        value = json.loads(head)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if "statusCode" in value:
        return value["statusCode"]
    # Not an API Gateway answer (the inference function's): its variant's name.
    return "+".join(sorted(value)) or None


def fake_ollama(handler, body: bytes) -> None:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        request = {}
    model = request.get("model", "llama3")
    if request.get("stream"):
        lines = [
            {"model": model, "message": {"role": "assistant", "content": word}, "done": False}
            for word in ("Hello", " from", " the", " bench.")
        ]
        lines.append(
            {"model": model, "message": {"role": "assistant", "content": ""}, "done": True,
             "done_reason": "stop", "prompt_eval_count": 7, "eval_count": 4}
        )
        payload = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        handler._send(200, payload, [("Content-Type", "application/x-ndjson")])
    else:
        payload = json.dumps(
            {"model": model, "created_at": "2026-01-01T00:00:00Z",
             "message": {"role": "assistant", "content": "Hello from the bench."},
             "done": True, "done_reason": "stop", "prompt_eval_count": 7, "eval_count": 4}
        ).encode()
        handler._send(200, payload, [("Content-Type", "application/json")])


# --------------------------------------------------------------------------- processes


class Failed(Exception):
    pass


class Process:
    """One function process with its own emulator."""

    def __init__(self, binary: Path, function: str, env: dict, log_dir: Path, first_event: bytes | None = None,
                 launcher: tuple[str, ...] = ()):
        # launcher: a command the binary runs under (qemu for another architecture).
        self.emulator = Emulator()
        self.function = function
        env = dict(env)
        env.update(
            AWS_LAMBDA_RUNTIME_API=self.emulator.address,
            AWS_LAMBDA_FUNCTION_NAME=function,
            AWS_LAMBDA_LOG_STREAM_NAME=f"2026/01/01/[$LATEST]{uuid.uuid4().hex}",
            OLLAMA_HOST=f"http://{self.emulator.address}",
        )
        self.first = self.emulator.queue(first_event) if first_event is not None else None
        self.log_path = log_dir / f"{function}-{uuid.uuid4().hex[:8]}.log"
        self.log = open(self.log_path, "wb")
        self.spawned_at = time.perf_counter()
        self.proc = subprocess.Popen([*launcher, str(binary)], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(log_dir))

    def wait(self, result: Result, timeout: float) -> Result:
        end = time.perf_counter() + timeout
        while not result.done.wait(0.01):
            if self.emulator.init_error is not None:
                raise Failed(f"{self.function}: init error {self.emulator.init_error[:300]!r}\n{self.log_tail()}")
            if self.proc.poll() is not None:
                raise Failed(f"{self.function}: exited with {self.proc.returncode}\n{self.log_tail()}")
            if time.perf_counter() > end:
                raise Failed(f"{self.function}: no answer within {timeout} s\n{self.log_tail()}")
        if result.kind == "error":
            raise Failed(f"{self.function}: invocation error {result.error_type}: {result.body[:300]!r}")
        return result

    def invoke(self, event: bytes, timeout: float = 60) -> Result:
        _, result = self.emulator.queue(event)
        return self.wait(result, timeout)

    def peak_rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise Failed("no VmHWM")

    def log_tail(self) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-15:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        self.emulator.close()


def body_of(result: Result) -> dict:
    """The JSON body of an API Gateway (buffered) response."""
    outer = json.loads(result.body)
    body = outer.get("body") or ""
    if outer.get("isBase64Encoded"):
        import base64

        body = base64.b64decode(body).decode()
    return json.loads(body)


# --------------------------------------------------------------------------- fixtures and users


class Fixtures:
    """Fills the placeholders of the events, registering users (and their chats)
    through long-running register and send-chat processes when asked to."""

    def __init__(self, bin_dir: Path, env: dict, log_dir: Path, admin: str):
        self.bin_dir = bin_dir
        self.env = env
        self.log_dir = log_dir
        self.counter = 0
        self.prefix = uuid.uuid4().hex[:6]
        self.helpers: dict[str, Process] = {}
        self.admin = admin
        self.admin_token = None

    def unique(self) -> str:
        self.counter += 1
        return f"{self.prefix}{self.counter}"

    def helper(self, function: str) -> Process:
        if function not in self.helpers:
            self.helpers[function] = Process(self.bin_dir / function, f"helper-{function}", self.env, self.log_dir)
        return self.helpers[function]

    def api_event(self, method: str, path: str, token: str | None, body: dict | None) -> bytes:
        headers = {"content-type": "application/json", "user-agent": "coldstart-bench"}
        if token:
            headers["authorization"] = f"Token {token}"
        event = {
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "bench", "domainName": "localhost",
                "domainPrefix": "localhost",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "coldstart-bench"},
                "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
            },
            "body": json.dumps(body) if body is not None else None,
            "isBase64Encoded": False,
        }
        return json.dumps(event).encode()

    def register(self, username: str) -> str:
        event = self.api_event("POST", "/api/register/", None, {"username": username, "password": PASSWORD})
        result = self.helper("register").invoke(event)
        if result.status != 201 and result.status != 200:
            raise Failed(f"registering {username}: {result.status} {result.body[:300]!r}")
        return body_of(result)["token"]

    def grant_admin(self, username: str) -> None:
        granted = subprocess.run([str(self.bin_dir / "chatbot-admin"), "grant", username], env=self.env,
                                 capture_output=True, text=True, timeout=60)
        if granted.returncode != 0:
            raise Failed(f"granting {username} the admin role: {granted.stderr.strip()}")

    def fill(self, template: str) -> bytes:
        values = {}
        if "{{unique}}" in template:
            values["unique"] = self.unique()
        if "{{admin_token}}" in template:
            if self.admin_token is None:
                self.admin_token = self.register(self.admin)
                self.grant_admin(self.admin)
            values["admin_token"] = self.admin_token
        if any(k in template for k in ("{{token}}", "{{username}}", "{{chat_id}}", "{{message_id}}")):
            values["username"] = f"cs{self.unique()}"
            values["token"] = self.register(values["username"])
            if "{{chat_id}}" in template or "{{message_id}}" in template:
                event = self.api_event("POST", "/api/chats/", values["token"],
                                       {"content": "Hello there", "provider": "ollama", "model": "llama3"})
                result = self.helper("send-chat").invoke(event)
                if result.status != 200 and result.status != 201:
                    raise Failed(f"making a chat: {result.status} {result.body[:300]!r}")
                sent = body_of(result)
                values["chat_id"] = sent["chat_id"]
                values["message_id"] = sent["reply"]["message_id"]
        text = template
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", value)
        left = re.findall(r"\{\{[a-z_]+\}\}", text)
        if left:
            raise Failed(f"unknown placeholders {left}")
        return json.dumps(json.loads(text)).encode()

    def stop(self) -> None:
        for process in self.helpers.values():
            process.stop()


# --------------------------------------------------------------------------- the run


def function_names(repo: Path) -> list[str]:
    names = []
    for manifest in sorted((repo / "functions").glob("*/Cargo.toml")):
        text = manifest.read_text()
        bins = re.findall(r'\[\[bin\]\]\s*name\s*=\s*"([^"]+)"', text)
        names.extend(bins or re.findall(r'^name\s*=\s*"([^"]+)"', text, re.M)[:1])
    return names


def base_env(scratch: Path) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        # What Lambda sets (the per-process ones are in Process).
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "bootstrap",
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        # The app's settings: template.yaml's, but the SQLite store and no weights.
        "STORE": "sqlite",
        "SQLITE_PATH": str(scratch / "bench.sqlite3"),
        "CORS_ALLOWED_ORIGINS": "http://localhost:5173",
        "DISPLAY_TIME_ZONE": "Asia/Karachi",
        "DEFAULT_PROVIDER": "flan-t5",
        "DEFAULT_MODEL": "flan-t5-base",
        "PROVIDER_TIMEOUT_SECS": "25",
        "FLAN_T5_MODEL": "google/flan-t5-base",
        "RUST_LOG": "info",
        "AUTH_RATE_LIMIT_PER_MINUTE": "1000000",
        "RATE_LIMIT_PER_MINUTE": "1000000",
    }
    return env


def measure(binary: Path, function: str, env: dict, log_dir: Path, events: list[bytes], timeout: float) -> dict:
    process = Process(binary, function, env, log_dir, first_event=events[0])
    try:
        _, first = process.first
        process.wait(first, timeout)
        warm = process.invoke(events[1], timeout)
        rss = process.peak_rss_kib()
    finally:
        process.stop()
    return {
        "init_ms": (process.emulator.first_next_at - process.spawned_at) * 1000,
        "cold_ms": (first.answered_at - process.spawned_at) * 1000,
        "warm_ms": (warm.answered_at - warm.queued_at) * 1000,
        "rss_kib": rss,
        "status": f"{first.status}/{warm.status}",
        "streamed": first.streamed,
    }


def request_of(template: str) -> str:
    """What an event asks, for the table: `GET /api/me/`, or the task of a
    direct invocation."""
    event = json.loads(template)
    http_ = event.get("requestContext", {}).get("http")
    if http_:
        path = re.sub(r"\{\{(\w+)\}\}", r"{\1}", event.get("rawPath", ""))
        return f"`{http_['method']} {path}`"
    return f"`{json.dumps(event, separators=(',', ':'))}`"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mib(size: float) -> str:
    return f"{size / 1048576:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", type=Path, required=True,
                        help="folder with the function binaries (e.g. target/release)")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per function (default 5)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="discarded spawns per function first, to have the binary in the page cache (default 1)")
    parser.add_argument("--only", help="comma-separated functions (default: every one under functions/ and "
                                       f"{INFERENCE})")
    parser.add_argument("--no-inference", action="store_true", help=f"leave out {INFERENCE}")
    parser.add_argument("--zip-dir", type=Path,
                        help="cargo lambda's output folder (target/lambda): adds <name>/bootstrap.zip sizes")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="repository whose functions/ lists the functions and whose tiny Flan-T5 "
                             "fixture the inference function loads (default: this one)")
    parser.add_argument("--flan-t5-dir", type=Path,
                        help=f"weights {INFERENCE} loads (default: the tiny fixture of --repo)")
    parser.add_argument("--flan-t5-model", default="google/flan-t5-small",
                        help="FLAN_T5_MODEL for those weights (default google/flan-t5-small)")
    parser.add_argument("--flan-t5-quantize", default="f32", help="FLAN_T5_QUANTIZE: f32 (default), q8_0, q4k")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for one answer")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args()

    functions = function_names(args.repo)
    if not args.no_inference:
        functions.append(INFERENCE)
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(functions))
        if unknown:
            parser.error(f"unknown functions {unknown}; known: {functions}")
        functions = [name for name in functions if name in wanted]
    for name in functions + ["register", "send-chat", "chatbot-admin"]:
        if not (args.bin_dir / name).is_file():
            parser.error(f"no binary {args.bin_dir / name}")
    templates = {}
    for name in functions:
        path = EVENTS / f"{name}.json"
        if not path.is_file():
            parser.error(f"no event {path}")
        templates[name] = path.read_text()
    if INFERENCE in templates:
        # The size the function loads, so the event is answered by the model.
        model_id = args.flan_t5_model.rsplit("/", 1)[-1]
        templates[INFERENCE] = templates[INFERENCE].replace('"flan-t5-small"', json.dumps(model_id))

    scratch = Path(tempfile.mkdtemp(prefix="coldstart-"))
    admin = f"csadmin{uuid.uuid4().hex[:6]}"
    env = base_env(scratch)
    inference_env = dict(env)
    inference_env.update(
        FLAN_T5_DIR=str(args.flan_t5_dir or args.repo / "models/flan-t5/tests/fixtures/tiny-t5"),
        FLAN_T5_MODEL=args.flan_t5_model,
        FLAN_T5_QUANTIZE=args.flan_t5_quantize,
        # As the image sets it (models/inference/Dockerfile).
        CANDLE_NUM_THREADS="1",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="3008",
    )
    fixtures = Fixtures(args.bin_dir, env, scratch, admin)
    samples: dict[str, list[dict]] = {name: [] for name in functions}
    load_before = load_average()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for round_ in range(-args.warmup, args.runs):
            for name in functions:
                events = [fixtures.fill(templates[name]) for _ in range(2)]
                sample = measure(args.bin_dir / name, name, inference_env if name == INFERENCE else env,
                                 scratch, events, args.timeout)
                if round_ >= 0:
                    samples[name].append(sample)
            label = "warm-up" if round_ < 0 else f"run {round_ + 1}/{args.runs}"
            print(f"{label} done (load {load_average()})", file=sys.stderr)
    except Failed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        fixtures.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    load_after = load_average()

    print(f"{started}; {os.cpu_count()} CPUs ({cpu_model()}); load average {load_before} -> {load_after}; "
          f"median of {args.runs} fresh processes per function (min-max in brackets)")
    print()
    zip_col = " zip MiB |" if args.zip_dir else ""
    print(f"| function | request | status | init ms | cold ms | warm ms | peak RSS MiB | binary MiB |{zip_col}")
    print("|---|---|---|---:|---:|---:|---:|---:|" + ("---:|" if args.zip_dir else ""))
    rows = []
    for name in functions:
        s = samples[name]
        init = [x["init_ms"] for x in s]
        cold = [x["cold_ms"] for x in s]
        warm = [x["warm_ms"] for x in s]
        rss = [x["rss_kib"] for x in s]
        statuses = sorted({x["status"] for x in s})
        if name in STREAMING and s and s[0]["streamed"]:
            statuses = [f"{st} streamed" for st in statuses]
        binary_size = (args.bin_dir / name).stat().st_size
        zip_size = None
        if args.zip_dir:
            path = args.zip_dir / name / "bootstrap.zip"
            zip_size = path.stat().st_size if path.is_file() else None
        row = {
            "function": name, "status": statuses, "init_ms": statistics.median(init),
            "cold_ms": statistics.median(cold), "cold_min": min(cold), "cold_max": max(cold),
            "warm_ms": statistics.median(warm), "warm_min": min(warm), "warm_max": max(warm),
            "rss_mib": statistics.median(rss) / 1024, "binary_bytes": binary_size, "zip_bytes": zip_size,
            "samples": s,
        }
        rows.append(row)
        zip_cell = ""
        if args.zip_dir:
            zip_cell = f" {mib(zip_size)} |" if zip_size is not None else " – |"
        print(f"| {name} | {request_of(templates[name])} | {', '.join(statuses)} "
              f"| {row['init_ms']:.1f} | {row['cold_ms']:.1f} ({row['cold_min']:.1f}–{row['cold_max']:.1f}) "
              f"| {row['warm_ms']:.2f} ({row['warm_min']:.2f}–{row['warm_max']:.2f}) "
              f"| {row['rss_mib']:.1f} | {mib(binary_size)} |{zip_cell}")
    if args.json:
        args.json.write_text(json.dumps({
            "started": started, "cpus": os.cpu_count(), "cpu": cpu_model(),
            "load_before": load_before, "load_after": load_after, "runs": args.runs,
            "bin_dir": str(args.bin_dir), "rows": rows,
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
