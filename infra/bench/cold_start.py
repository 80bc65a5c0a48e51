#!/usr/bin/env python3
"""Cold start of API functions: the time from spawning a function's binary to its
first answer, measured here against a stand-in for the Lambda Runtime API.

    infra/bench/cold_start.py BIN_DIR [--runs N] [FUNCTION ...]

For each function (default: every one below) it starts a loopback server speaking
the Runtime API (`/2018-06-01/runtime/invocation/next`, `…/response`), spawns
BIN_DIR/FUNCTION with AWS_LAMBDA_RUNTIME_API pointing at it, hands it one API
Gateway v2 event for one of its routes, and reports the time from spawn to the
start and to the end of the response POST (medians of N fresh processes), and
the answer's status. The environment is passed through: set STORE, SQLITE_PATH
and the rest as for infra/run-local.sh, with AUTH_RATE_LIMIT_PER_MINUTE high
enough for the registrations and logins it sends (1000).

First it registers a user through BIN_DIR/register and sends its token with every
other request, so each route runs its real start-up, authentication and store
reads. Login is asked for an unknown user (the dummy-hash path). The model routes
are sent requests that fail validation after authentication (an empty message, an
unknown chat), so their first answer measures their start-up, not a model.
"""

import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

# function -> (method, path, body)
ROUTES = {
    "health": ("GET", "/api/health/", None),
    "route-fallback": ("PUT", "/api/health/", None),
    "get-openapi": ("GET", "/api/openapi.json", None),
    "register": ("POST", "/api/register/", {"username": "x", "password": "short"}),
    "login": ("POST", "/api/login/", {"username": "nobody-here", "password": "password123"}),
    "logout": ("POST", "/api/logout/", None),
    "get-me": ("GET", "/api/me/", None),
    "update-me": ("PATCH", "/api/me/", {"time_zone": "Europe/Paris"}),
    "delete-me": ("DELETE", "/api/me/", None),
    "deactivate-user": ("POST", "/api/users/alice/deactivate/", None),
    "activate-user": ("POST", "/api/users/alice/activate/", None),
    "list-chats": ("GET", "/api/chats/", None),
    "send-chat": ("POST", "/api/chats/", {"content": ""}),
    "delete-all-chats": ("DELETE", "/api/chats/", None),
    "get-chat": ("GET", "/api/chats/00000000-0000-0000-0000-000000000000/", None),
    "update-chat": ("PATCH", "/api/chats/00000000-0000-0000-0000-000000000000/", {"title": "t"}),
    "delete-chat": ("DELETE", "/api/chats/00000000-0000-0000-0000-000000000000/", None),
    "list-messages": ("GET", "/api/chats/00000000-0000-0000-0000-000000000000/messages/", None),
    "edit-message": (
        "PATCH",
        "/api/chats/00000000-0000-0000-0000-000000000000/messages/00000000-0000-0000-0000-000000000000/",
        {"content": ""},
    ),
    "regenerate-reply": ("POST", "/api/chats/00000000-0000-0000-0000-000000000000/regenerate/", None),
    "get-tokens": ("GET", "/api/tokens/", None),
    "list-models": ("GET", "/api/models/", None),
    "stream-chat": ("POST", "/api/chats/stream/", {"content": ""}),
    "openai-api": ("GET", "/v1/models", None),
}


def event(method, path, body, token=None):
    headers = {"content-type": "application/json"} if body is not None else {}
    if token:
        headers["authorization"] = f"Token {token}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the killed function's pending /next: nothing to report


class Runtime(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Answer without Nagle's wait, and acknowledge at once: otherwise a small
        # write meets a delayed ACK and every exchange gains ~40 ms that no
        # function spends.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.quickack()

    def quickack(self):
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def do_GET(self):
        server = self.server
        if server.handed_out == 2:
            server.done.wait(30)  # no third invocation
            return
        server.handed_out += 1
        body = json.dumps(server.event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                self.quickack()
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_POST(self):
        server = self.server
        started = time.perf_counter()
        body = self.read_body()
        ended = time.perf_counter()
        if server.answer is None:
            server.started_at, server.answered_at, server.answer = started, ended, (self.path, body)
        else:
            server.warm = ended - server.answered_at
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if server.warm is not None or self.path.endswith("/error"):
            server.done.set()


def answer_of(path, body):
    """(status, body) of a response POST."""
    if path.endswith("/error"):
        return "error " + body.decode(errors="replace")[:200], ""
    text = body.decode(errors="replace")
    try:
        answer = json.loads(text)
        return str(answer.get("statusCode")), answer.get("body") or ""
    except ValueError:
        # A streamed answer: a JSON prelude, eight NUL bytes, then the body.
        prelude, _, rest = text.partition("\0" * 8)
        try:
            return str(json.loads(prelude).get("statusCode")), rest
        except ValueError:
            return "?", text


def once(binary, ev):
    server = Server(("127.0.0.1", 0), Runtime)
    server.event, server.handed_out, server.done = ev, 0, threading.Event()
    server.started_at, server.answered_at, server.answer, server.warm = None, None, None, None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME=os.path.basename(binary), AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_LOG_STREAM_NAME="bench",
               AWS_LAMBDA_LOG_GROUP_NAME="bench")
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.done.wait(60)
    process.kill()
    process.wait()
    server.shutdown()
    if server.answered_at is None:
        return None, None, None, ("no answer", "")
    ms = lambda t: (t - started) * 1000  # noqa: E731
    warm = server.warm * 1000 if server.warm is not None else None
    return ms(server.started_at), ms(server.answered_at), warm, answer_of(*server.answer)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    bin_dir, runs, names = args[0], 5, []
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--runs":
            runs = int(next(rest))
        else:
            names.append(arg)
    users = iter(range(1_000_000))

    def register():
        username = f"cold{os.getpid()}x{next(users)}"
        _, _, _, (status, body) = once(
            os.path.join(bin_dir, "register"),
            event("POST", "/api/register/", {"username": username, "password": "password123"}),
        )
        if status != "201":
            sys.exit(f"registering a user failed: {status} {body}")
        return json.loads(body)["token"]

    token = register()
    print(f"{'function':18} {'start of answer':>15} {'end of answer':>13} {'max end':>9} {'warm':>9}  status")
    for name in names or list(ROUTES):
        method, path, body = ROUTES[name]
        results = []
        for _ in range(runs):
            # Logging out and deleting the account end the token: a fresh user each time.
            user_token = register() if name in ("logout", "delete-me") else token
            results.append(once(os.path.join(bin_dir, name), event(method, path, body, user_token)))
        starts = [r[0] for r in results if r[0] is not None]
        ends = [r[1] for r in results if r[1] is not None]
        warms = [r[2] for r in results if r[2] is not None]
        statuses = sorted({r[3][0] for r in results})
        fmt = lambda values: f"{statistics.median(values):6.1f} ms" if values else "     -   "  # noqa: E731
        worst = f"{max(ends):6.1f} ms" if ends else "     -"
        print(f"{name:18} {fmt(starts):>15} {fmt(ends):>13} {worst:>9} {fmt(warms):>9}  {','.join(statuses)}", flush=True)


if __name__ == "__main__":
    main()
