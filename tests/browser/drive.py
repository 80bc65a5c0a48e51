"""Drives tests/browser/page.html in headless Chromium (the system's browser,
through playwright) against the API, and checks what the page saw. A fake
Ollama server answers the model calls with a reply in several timed pieces, so
the stream is seen arriving piece by piece. Run by tests/browser/run.sh."""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import sync_playwright

PIECES = ["Once ", "upon ", "a ", "time."]


class FakeOllama(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def pieces(self, request):
        """The streamed reply to `request`, piece by piece."""
        return PIECES

    def answer(self, request):
        """The whole reply to a request that does not stream (the chat's title)."""
        return "A Story"

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        base = {"model": request.get("model", "llama3"), "created_at": "2026-01-01T00:00:00Z"}
        if not request.get("stream"):
            body = json.dumps(dict(base, message={"role": "assistant", "content": self.answer(request)}, done=True,
                                   done_reason="stop", prompt_eval_count=3, eval_count=2)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

        def chunk(obj):
            data = (json.dumps(obj) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        for piece in self.pieces(request):
            chunk(dict(base, message={"role": "assistant", "content": piece}, done=False))
            # Apart in time, so each piece is its own read in the page.
            time.sleep(0.3)
        chunk(dict(base, message={"role": "assistant", "content": ""}, done=True, done_reason="stop",
                   prompt_eval_count=3, eval_count=4))
        self.wfile.write(b"0\r\n\r\n")


def serve_ollama(port, handler=FakeOllama):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def check(outcome, cookies_during, cookies_after, cookie_name):
    failures = []

    def expect(name, ok, detail=""):
        if not ok:
            failures.append(f"{name}: {detail}")

    if "error" in outcome:
        return [f"the page failed: {outcome['error']}"]
    expect("register 201", outcome["register"]["status"] == 201, outcome["register"]["text"])
    expect("no password echoed", "correct horse" not in outcome["register"]["text"], outcome["register"]["text"])
    expect("bad login 400", outcome["badLogin"]["status"] == 400
           and outcome["badLogin"]["json"]["error"] == "Invalid username or password", outcome["badLogin"]["text"])
    expect("login 200", outcome["login"]["status"] == 200
           and outcome["login"]["json"]["message"] == "Login successful", outcome["login"]["text"])
    expect("HttpOnly: the page cannot read the cookie", not outcome["pageSeesCookie"])
    session = [c for c in cookies_during if c["name"] == cookie_name]
    expect("the browser keeps the session cookie", len(session) == 1, cookies_during)
    if session:
        expect("cookie attributes", session[0]["httpOnly"] and session[0]["secure"]
               and session[0]["sameSite"] == "Lax", session[0])
    expect("status by cookie", outcome["status"]["status"] == 200
           and outcome["status"]["json"]["message"] == "User is logged in", outcome["status"]["text"])
    expect("new thread 201", outcome["created"]["status"] == 201
           and isinstance(outcome["created"]["json"]["thread_id"], int), outcome["created"]["text"])
    stream = outcome["stream"]
    expect("stream 200 text/plain", stream["status"] == 200 and stream["type"].startswith("text/plain"), stream)
    expect("the streamed reply", stream["content"] == "".join(PIECES), stream["content"])
    expect("read piece by piece", len(stream["chunks"]) >= 3, stream["chunks"])
    threads = outcome["threads"]["json"]["threads"]
    expect("threads list", outcome["threads"]["status"] == 200 and len(threads) == 1
           and threads[0]["id"] == outcome["created"]["json"]["thread_id"], outcome["threads"]["text"])
    messages = outcome["messages"]["json"]["messages"]
    expect("messages", [(m["sender"], m["content"]) for m in messages]
           == [("user", "Tell me a story"), ("bot", "".join(PIECES))], outcome["messages"]["text"])
    expect("rename", outcome["renamed"]["status"] == 200
           and outcome["threadsAfterRename"]["json"]["threads"][0]["title"] == "Bedtime",
           outcome["threadsAfterRename"]["text"])
    expect("logout", outcome["logout"]["status"] == 200
           and outcome["logout"]["json"]["message"] == "Logout successful", outcome["logout"]["text"])
    expect("logged out: 401", outcome["statusAfterLogout"]["status"] == 401, outcome["statusAfterLogout"]["text"])
    expect("the cookie is gone", not [c for c in cookies_after if c["name"] == cookie_name], cookies_after)
    return failures


def launch_chromium(p):
    """The system's Chromium, headless, without the background traffic a test
    does not want (every browser script here starts it the same way)."""
    return p.chromium.launch(
        executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"],
    )


def main():
    page_url, api_url, ollama_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cookie_name = os.environ.get("SESSION_COOKIE_NAME", "sessionid")
    server = serve_ollama(ollama_port) if ollama_port else None
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{page_url}?api={api_url}")
        # Step by step, so the driver can look at the browser's cookie jar mid-way.
        page.evaluate("() => { window.outcome = undefined; }")
        outcome = page.evaluate(f"() => runFlow('browser{int(time.time())}')")
        cookies_after = context.cookies(api_url)
        # The flow logs out at its end: sign in once more to see the cookie as stored.
        page.evaluate("""async (user) => {
            await fetch(new URLSearchParams(location.search).get('api') + '/auth/login/', {method: 'POST',
              credentials: 'include', headers: {'Content-Type': 'application/json'},
              body: JSON.stringify({username: user, password: 'correct horse 42'})});
        }""", outcome.get("register", {}).get("json", {}).get("username", ""))
        cookies_during = context.cookies(api_url)
        print(page.inner_text("#log"))
        browser.close()
    if server:
        server.shutdown()
    failures = check(outcome, cookies_during, cookies_after, cookie_name)
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print(f"browser test: {'failed' if failures else 'passed'} ({len(failures)} failures)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
