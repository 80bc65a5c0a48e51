"""Drives the web chat page the API serves at / in headless Chromium (the system's
browser, through playwright) as a person would: register, log out and in, send
a message with the keyboard and watch the reply stream in, switch model and
regenerate and switch versions, edit as a branch and switch branches, rename, share a link
(opened without signing in, then revoked), search, API keys and usage, export, import,
delete, delete all, phone
width, an empty balance (402), log out, and a session ended elsewhere (401).
Two models answer: the fake Ollama server below (streams in timed pieces,
echoing the question) and the tiny Flan-T5 fixture through the inference
function. Saves a screenshot of the chat view to the artifacts folder. Run by
tests/browser/run.sh."""

import json
import os
import re
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

from drive import PIECES, FakeOllama, launch_chromium, serve_ollama

PASSWORD = "correct horse 42"
# Sent as a question and echoed in the reply: it must stay text in both.
INJECTION = '<img src=x onerror="window.pwned=1">'
OLLAMA = "ollama/llama3"
FLAN_T5 = "flan-t5/flan-t5-base"


class EchoingOllama(FakeOllama):
    """Streams the story, then the question back (markdown and all)."""

    def pieces(self, request):
        question = request["messages"][-1]["content"]
        return PIECES + ["\n\n**You said:** ", question]


def call_api(api, method, path, token, scheme="Token", timeout=30):
    """One API call; a function's first call under `cargo lambda watch` builds it,
    so calls to a function the page has not used yet get a longer `timeout`."""
    request = urllib.request.Request(api + path, method=method, headers={"Authorization": f"{scheme} {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def warm_up(api, seconds=60):
    """Fetches the page and its assets until each answers 200. Under `cargo lambda
    watch` the page's function starts on its first request; the browser's first
    load then raced that start (a blank page once in CI, with no way to tell which
    request was lost). API Gateway has no such start, so wait it out here."""
    deadline = time.monotonic() + seconds
    pending = ["/"]
    while pending:
        path = pending[0]
        try:
            with urllib.request.urlopen(api + path, timeout=30) as response:
                body = response.read().decode("utf-8", "replace")
            pending.pop(0)
            if path == "/":
                pending += sorted(set(re.findall(r'/assets/[^"\']+', body)))
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Checks:
    def __init__(self):
        self.failures = []
        self.passed = 0
        # Console errors, and requests that got no answer: reported with a failure.
        self.problems = []
        self.unanswered = []

    def expect(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{name}: {detail}")


def wait_until(page, expression, timeout=20_000):
    """Polls a JavaScript expression until it is true. (Playwright's
    wait_for_function compiles its predicate with eval, which the page's
    Content-Security-Policy rightly refuses; evaluate goes through DevTools.)"""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout} ms: {expression}")
        time.sleep(0.1)


# What axe-core checks: WCAG 2.0 and 2.1, levels A and AA, and its best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def accessible(page, checks, view):
    """Runs axe-core (AXE_JS, from run.sh) on the page as it is now: it must find
    nothing. Put in through DevTools, as the page's policy allows no other script."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        with open(os.environ["AXE_JS"], encoding="utf-8") as source:
            page.evaluate(source.read() + "\n;0")
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    found = [f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes'][:3]]}" for v in result["violations"]]
    checks.expect(f"axe finds nothing on the {view}", not found, "; ".join(found))


def entries(page):
    return page.eval_on_selector_all(".chat-entry", "es => es.map(e => e.textContent)")


def run(page, context, api, artifacts, checks):
    expect = checks.expect
    user = f"page{int(time.time())}"
    seen = {}
    page.on("response", lambda r: seen.setdefault(r.url.replace(api, ""), r.all_headers()))
    problems = checks.problems
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: checks.unanswered.append(f"{r.url} {r.failure}"))

    page.goto(f"{api}/")
    page.wait_for_selector("#auth-form")
    html = seen.get("/", {})
    expect("the page is HTML", html.get("content-type", "").startswith("text/html"), html)
    expect("the page is revalidated", html.get("cache-control") == "no-cache", html)
    expect("the page has its policy", "default-src 'self'" in html.get("content-security-policy", ""), html)
    assets = {url: h for url, h in seen.items() if url.startswith("/assets/")}
    expect("script and style come from hashed asset URLs", len(assets) >= 2, list(seen))
    expect("assets are immutable", all("immutable" in h.get("cache-control", "") for h in assets.values()), assets)
    accessible(page, checks, "sign-in view")

    # Register: the answer's token signs the page in.
    page.click("#tab-register")
    page.fill("#auth-username", user)
    accessible(page, checks, "registration view")
    page.fill("#auth-email", f"{user}@example.com")
    page.fill("#auth-password", PASSWORD)
    page.click("#auth-submit")
    page.wait_for_selector("#app:not([hidden])")
    wait_until(page, "document.querySelector('#balance').textContent.includes('tokens')")
    expect("registered: the user's name", page.inner_text("#me-name") == user, page.inner_text("#me-name"))
    token = page.evaluate("sessionStorage.getItem('chatbot-token')")
    start = call_api(api, "GET", "/api/tokens/", token)[1]["tokens"]
    expect("the starting balance", page.inner_text("#balance") == f"{start} tokens", (page.inner_text("#balance"), start))
    expect("the token is in sessionStorage", bool(token))
    expect("no cookie at all", context.cookies() == [], context.cookies())

    # Log out, then log in.
    page.click("#logout")
    page.wait_for_selector("#auth:not([hidden])")
    expect("logged out: token forgotten", page.evaluate("sessionStorage.getItem('chatbot-token')") is None)
    expect("logged out: token revoked", call_api(api, "GET", "/api/me/", token)[0] == 401)
    page.fill("#auth-username", user)
    page.fill("#auth-password", PASSWORD)
    page.click("#auth-submit")
    page.wait_for_selector("#app:not([hidden])")
    wait_until(page, "document.querySelectorAll('#model option').length > 0")
    token = page.evaluate("sessionStorage.getItem('chatbot-token')")

    options = page.eval_on_selector_all(
        "#model option", "os => os.map(o => ({value: o.value, disabled: o.disabled, text: o.textContent}))")
    by_id = {o["value"]: o for o in options}
    expect("both local models can be picked", OLLAMA in by_id and FLAN_T5 in by_id
           and not by_id[OLLAMA]["disabled"] and not by_id[FLAN_T5]["disabled"], options)
    expect("the default model is chosen", page.input_value("#model") == OLLAMA, page.input_value("#model"))
    openai = by_id.get("openai/gpt-4o-mini", {})
    expect("a model without its key is greyed with the reason", openai.get("disabled")
           and "unavailable: OpenAI is not configured on this server." in openai.get("text", ""), openai)

    # Send with the keyboard (Shift+Enter is a new line) and watch the reply grow.
    page.evaluate("""() => {
        window.snapshots = [];
        new MutationObserver(() => {
            const body = document.querySelector('.message.streaming .body');
            if (body && body.textContent !== window.snapshots[window.snapshots.length - 1]) {
                window.snapshots.push(body.textContent);
            }
        }).observe(document.querySelector('#messages'), {childList: true, subtree: true, characterData: true});
    }""")
    page.click("#input")
    page.keyboard.type("Tell me a story")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type(INJECTION)
    expect("Shift+Enter is a new line", page.input_value("#input") == "Tell me a story\n" + INJECTION,
           page.input_value("#input"))
    page.keyboard.press("Enter")
    page.wait_for_selector(".message.streaming", state="detached", timeout=60_000)
    page.wait_for_selector(".message.assistant .regenerate")
    snapshots = page.evaluate("window.snapshots")
    story = "".join(PIECES)
    growing = [s for s in snapshots if s]
    expect("the reply arrived piece by piece", len(growing) >= 3
           and all(b.startswith(a) for a, b in zip(growing, growing[1:])), snapshots)
    reply_text = page.inner_text(".message.assistant .body")
    expect("the whole reply", reply_text.startswith(story) and INJECTION in reply_text, reply_text)
    expect("markdown: bold", page.inner_text(".message.assistant .body strong") == "You said:")
    expect("no HTML from the reply or the question", page.eval_on_selector_all(".messages img", "es => es.length") == 0)
    expect("nothing ran", page.evaluate("window.pwned") is None)
    page.wait_for_selector(".group h3:text('Today')")
    wait_until(page, "document.querySelectorAll('.chat-entry').length === 1")

    # Switch model and regenerate: the earlier reply is kept as a version (‹ 2/2 ›).
    # (The page stays busy until the send's follow-up reads are answered; a function's
    # first call under watch may build it.)
    wait_until(page, "!document.querySelector('#send').disabled", timeout=600_000)
    page.select_option("#model", FLAN_T5)
    page.click(".message.assistant .regenerate")
    page.wait_for_selector(".message.assistant .branch-at", timeout=60_000)
    expect("the reply's second version", page.inner_text(".message.assistant .branch-at") == "2/2",
           page.inner_text(".message.assistant .branch-at"))
    meta = page.inner_text(".message.assistant > .meta")
    expect("the new reply is Flan-T5's", FLAN_T5 in meta, meta)
    wait_until(page, "!document.querySelector('#send').disabled")
    # ‹ shows the first version again (Ollama's), › the second.
    page.click(".message.assistant .branch-back")
    wait_until(page, "document.querySelector('.message.assistant .branch-at').textContent === '1/2'"
               " && document.querySelector('.message.assistant > .meta').textContent.includes('ollama')")
    expect("the first version is the story", page.inner_text(".message.assistant .body").startswith(story),
           page.inner_text(".message.assistant .body"))
    page.click(".message.assistant .branch-next")
    wait_until(page, "document.querySelector('.message.assistant .branch-at').textContent === '2/2'")

    # Edit the question, with Ollama again: a new branch beside the old question.
    page.select_option("#model", OLLAMA)
    page.click(".message.user .edit")
    page.fill(".editor textarea", "Tell me another story")
    page.click(".save-edit")
    page.wait_for_selector(".editor", state="detached")
    wait_until(
        page,
        "document.querySelector('.message.user .body').textContent === 'Tell me another story'"
        " && document.querySelector('.message.assistant > .meta').textContent.includes('ollama')",
        timeout=60_000)
    expect("the question's second branch", page.inner_text(".message.user .branch-at") == "2/2",
           page.inner_text(".message.user .branch-at"))
    expect("the new branch's reply has one version",
           page.eval_on_selector_all(".message.assistant .branch", "es => es.length") == 0)
    tokens = call_api(api, "GET", "/api/tokens/", token)[1]["tokens"]
    expect("the balance shown is the account's", page.inner_text("#balance") == f"{tokens} tokens"
           and tokens < start, (page.inner_text("#balance"), tokens))
    # Back to the first question's branch, with its two reply versions, and forth.
    page.click(".message.user .branch-back")
    wait_until(page, "document.querySelector('.message.user .body').textContent.startsWith('Tell me a story')"
               " && document.querySelector('.message.assistant .branch-at').textContent === '2/2'")
    accessible(page, checks, "chat view (a question and a reply with two versions each)")
    page.click(".message.user .branch-next")
    wait_until(page, "document.querySelector('.message.user .body').textContent === 'Tell me another story'")

    page.set_viewport_size({"width": 1100, "height": 720})
    os.makedirs(artifacts, exist_ok=True)
    page.screenshot(path=os.path.join(artifacts, "chat-page.png"))

    # Rename.
    page.once("dialog", lambda d: d.accept("Bedtime"))
    page.click("#rename")
    page.wait_for_selector(".chat-entry:text('Bedtime')")
    expect("renamed", page.inner_text("#chat-title") == "Bedtime", page.inner_text("#chat-title"))

    # Share the chat: a link, shown and copied, that opens without signing in
    # (a new tab has no session), listed, then revoked.
    page.click("#share")
    page.wait_for_selector("#share-panel:not([hidden])")
    page.wait_for_selector(".share-list .empty")
    page.click("#share-create")
    page.wait_for_selector("#share-new:not([hidden])")
    wait_until(page, "document.querySelectorAll('.share-entry').length === 1")
    url = page.input_value("#share-url")
    expect("the link is this origin's /s/{share_id}", re.fullmatch(re.escape(api) + r"/s/[A-Za-z0-9_-]{43}", url), url)
    page.click("#share-copy")
    wait_until(page, "document.querySelector('#share-status').textContent.includes('op')")
    copied = page.inner_text("#share-status")
    clipboard = page.evaluate("navigator.clipboard.readText().catch(() => '')")
    expect("the link is copied (or selected to copy)", clipboard == url or "Ctrl+C" in copied, (copied, clipboard))
    accessible(page, checks, "share panel (a new link, the chat's links)")
    reader = context.new_page()
    reader.on("pageerror", lambda e: problems.append(f"shared view: {e}"))
    reader.goto(url)
    reader.wait_for_selector("#shared:not([hidden]) .message.assistant")
    expect("the shared view needs no sign-in", reader.is_hidden("#auth") and reader.is_hidden("#app"))
    expect("the shared view has the chat's title", reader.inner_text("#shared-title") == "Bedtime",
           reader.inner_text("#shared-title"))
    shared_messages = reader.eval_on_selector_all(".message .body", "es => es.map(e => e.textContent)")
    expect("the shared view shows the chat's messages", len(shared_messages) == 2
           and shared_messages[0] == "Tell me another story", shared_messages)
    expect("no HTML from the shared reply", reader.eval_on_selector_all("#shared img", "es => es.length") == 0)
    expect("nothing ran on the shared view", reader.evaluate("window.pwned") is None)
    expect("no token on the shared view", reader.evaluate("sessionStorage.getItem('chatbot-token')") is None)
    accessible(reader, checks, "shared view")
    page.once("dialog", lambda d: d.accept())
    page.click(".share-entry .revoke")
    page.wait_for_selector(".share-list .empty")
    expect("revoked: the new link is no longer offered", page.is_hidden("#share-new"))
    reader.reload()
    reader.wait_for_selector("#shared-messages .empty")
    expect("a revoked link says so", reader.inner_text("#shared-title") == "Link not found"
           and "revoked" in reader.inner_text("#shared-messages"), reader.inner_text("#shared-messages"))
    accessible(reader, checks, "shared view of a revoked link")
    reader.close()
    page.click("#share")
    page.wait_for_selector("#share-panel", state="hidden")

    # A second chat, then search.
    page.click("#new-chat")
    page.fill("#input", "Second question")
    page.keyboard.press("Enter")
    wait_until(page, "document.querySelectorAll('.chat-entry').length === 2", timeout=60_000)
    page.wait_for_selector(".message.streaming", state="detached", timeout=60_000)
    page.fill("#search", "another story")
    page.wait_for_selector(".group h3:text('Results')")
    wait_until(page, "document.querySelectorAll('.chat-entry').length === 1")
    expect("search finds the chat by its messages", entries(page) == ["Bedtime"], entries(page))
    page.fill("#search", "nothing like this")
    page.wait_for_selector(".empty:text('No chat matches.')")
    page.fill("#search", "")
    wait_until(page, "document.querySelectorAll('.chat-entry').length === 2")

    # API keys and usage: a key is created and shown once, listed, and revoked.
    page.click("#account-panel summary")
    # (A function's first call under watch may build it: minutes on a busy machine.)
    wait_until(page, "document.querySelector('#usage-total').textContent.includes('replies')", timeout=600_000)
    usage = call_api(api, "GET", "/api/usage/", token, timeout=600)[1]
    expect("the usage shown is the account's",
           f"{usage['total']['requests']} replies" in page.inner_text("#usage-total")
           and usage["total"]["requests"] > 0, (page.inner_text("#usage-total"), usage["total"]))
    expect("usage by model", page.eval_on_selector_all("#usage-models li", "es => es.length")
           == len(usage["by_model"]) > 0)
    page.fill("#key-name", "laptop")
    page.click("#key-form button")
    page.wait_for_selector("#new-key:not([hidden]) code", timeout=600_000)
    key = page.inner_text("#new-key code")
    expect("the new key is shown once", key.startswith("sk-cb-"), key)
    wait_until(page, "document.querySelectorAll('#key-list li').length === 1")
    expect("the key works on /v1/", call_api(api, "GET", "/v1/models", key, "Bearer", timeout=600)[0] == 200)
    accessible(page, checks, "chat view with the keys and usage panel open")
    page.once("dialog", lambda d: d.accept())
    page.click("#key-list li button")
    wait_until(page, "document.querySelectorAll('#key-list li').length === 0")
    expect("a revoked key is refused at once", call_api(api, "GET", "/v1/models", key, "Bearer")[0] == 401)
    page.click("#account-panel summary")

    # Export every chat to a file: the page joins the export's pages into one document.
    with page.expect_download(timeout=600_000) as downloaded:
        page.click("#export")
    exported_path = downloaded.value.path()
    with open(exported_path, encoding="utf-8") as f:
        exported = json.load(f)
    expect("the export holds both chats with their trees",
           exported.get("format") == "chatbot-export"
           and sorted(c["title"] for c in exported["chats"]) == sorted(entries(page))
           and all(c["messages"] for c in exported["chats"]), exported)
    # A file that is not JSON is refused in words, and nothing changes.
    not_json = os.path.join(artifacts, "not-json.json")
    os.makedirs(artifacts, exist_ok=True)
    with open(not_json, "w", encoding="utf-8") as f:
        f.write("{ not json")
    page.set_input_files("#import-file", not_json)
    page.wait_for_selector("#notice:not([hidden])")
    expect("a broken file explained", "not a JSON file" in page.inner_text("#notice"), page.inner_text("#notice"))

    # Delete the open (second) chat, then all.
    page.once("dialog", lambda d: d.accept())
    page.click("#delete-chat")
    wait_until(page, "document.querySelectorAll('.chat-entry').length === 1")
    expect("the other chat is left", entries(page) == ["Bedtime"], entries(page))
    page.once("dialog", lambda d: d.accept())
    page.click("#delete-all")
    page.wait_for_selector(".empty:text('No chats yet.')")
    expect("no chats left", call_api(api, "GET", "/api/chats/", token)[1] == [])

    # Import the export: both chats come back, the first one opened.
    page.set_input_files("#import-file", exported_path)
    wait_until(page, "document.querySelectorAll('.chat-entry').length === 2", timeout=600_000)
    expect("the imported chats are listed", sorted(entries(page)) == sorted(c["title"] for c in exported["chats"]),
           entries(page))
    page.wait_for_selector(".message.user")
    imported = call_api(api, "GET", "/api/chats/", token)[1]

    # The balance is spent (run.sh starts accounts with four replies' worth): 402,
    # said in words, and the question stays in the box to send later.
    expect("spent", page.inner_text("#balance") == "0 tokens", page.inner_text("#balance"))
    page.fill("#input", "One more")
    page.keyboard.press("Enter")
    page.wait_for_selector("#notice:not([hidden])")
    expect("402 explained", "balance is too low" in page.inner_text("#notice"), page.inner_text("#notice"))
    expect("the question is kept in the box", page.input_value("#input") == "One more", page.input_value("#input"))
    expect("no empty chat left behind", len(call_api(api, "GET", "/api/chats/", token)[1]) == len(imported))
    accessible(page, checks, "chat view with a notice")

    # Phone width: the chat list slides over the chat.
    page.set_viewport_size({"width": 390, "height": 844})
    sidebar_x = lambda: page.eval_on_selector("#sidebar", "s => s.getBoundingClientRect().right")  # noqa: E731
    wait_until(page, "document.querySelector('#sidebar').getBoundingClientRect().right <= 0")
    page.click("#open-sidebar")
    wait_until(page, "document.querySelector('#sidebar').getBoundingClientRect().left >= 0")
    expect("the list opens over the chat", sidebar_x() > 0)
    accessible(page, checks, "phone-width chat list")
    page.click("#close-sidebar")
    expect("nothing wider than the phone", page.evaluate("document.documentElement.scrollWidth") <= 390,
           page.evaluate("document.documentElement.scrollWidth"))
    page.set_viewport_size({"width": 1100, "height": 720})

    # A session ended elsewhere: the next request's 401 signs the page out, saying why.
    call_api(api, "POST", "/api/logout/", token)
    page.fill("#input", "Still there?")
    page.keyboard.press("Enter")
    page.wait_for_selector("#auth:not([hidden])")
    expect("401 explained", "session has ended" in page.inner_text("#auth-error"), page.inner_text("#auth-error"))
    accessible(page, checks, "sign-in view with an error")

    csp = [p for p in problems if "Content Security Policy" in p]
    expect("nothing broke the policy", not csp, csp)
    # The browser logs each refused request (the 402 and the 401 above) as an error.
    errors = [p for p in problems if "401" not in p and "402" not in p]
    expect("no script errors", not errors, errors)


def main():
    api, ollama_port, artifacts = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    server = serve_ollama(ollama_port, EchoingOllama)
    checks = Checks()
    failure_shot = os.path.join(artifacts, "chat-page-failure.png")
    if os.path.exists(failure_shot):
        os.remove(failure_shot)
    warm_up(api)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=api)
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            run(page, context, api, artifacts, checks)
        except Exception as err:  # a step timed out: say which, with what the page showed
            os.makedirs(artifacts, exist_ok=True)
            page.screenshot(path=failure_shot)
            checks.failures.append(f"the flow stopped: {err}; console errors: {checks.problems or 'none'}; "
                                   f"requests without an answer: {checks.unanswered or 'none'}")
        browser.close()
    server.shutdown()
    for failure in checks.failures:
        print("FAIL", failure, file=sys.stderr)
    outcome = "failed" if checks.failures else "passed"
    print(f"chat page test: {outcome} ({checks.passed} checks passed, {len(checks.failures)} failed)")
    sys.exit(1 if checks.failures else 0)


if __name__ == "__main__":
    main()
