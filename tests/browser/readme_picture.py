"""Makes the README's picture (docs/chat-page.png): the web chat page with a
sensible conversation. A scripted Ollama answers each question with a fixed,
sensible reply (and a second one when asked again), so the picture shows what
the page does with a real model: chats grouped by day, a streamed markdown reply
with code, a regenerated reply with its earlier version, the model picker and
the balance. Not a test: run by `tests/browser/run.sh --readme-picture`."""

import os
import sys

from playwright.sync_api import sync_playwright

from chat_page import warm_up, wait_until
from drive import FakeOllama, launch_chromium, serve_ollama

PASSWORD = "correct horse 42"

# question (a part of it) -> replies in turn (the second one when regenerated), and a title
SCRIPT = [
    ("pack", "Packing for the Alps", [
        "For three days of hut-to-hut hiking, keep it under 8 kg:\n\n"
        "- **Layers**: a base layer, a fleece and a waterproof shell\n"
        "- **Feet**: broken-in boots and two pairs of wool socks\n"
        "- **Safety**: map, headlamp, a small first-aid kit and sun cream\n\n"
        "Book the huts ahead in summer; most want cash.",
    ]),
    ("closure", "Closures in Rust", [
        "A closure is an anonymous function that can use variables from the scope "
        "where it is defined:\n\n"
        "```rust\nlet factor = 3;\nlet triple = |x: i32| x * factor;\nassert_eq!(triple(4), 12);\n```\n\n"
        "Rust infers its parameter types and how it captures `factor`: by reference "
        "here, since the closure only reads it.",
    ]),
    ("move", "Closures in Rust", [
        "Use `move` when the closure must own what it captures, typically because it "
        "outlives the current scope, such as a thread or a returned iterator.",
        "You need `move` when the closure outlives the variables it uses. The usual case "
        "is a thread:\n\n"
        "```rust\nlet name = String::from(\"Ada\");\nstd::thread::spawn(move || println!(\"hello {name}\"));\n```\n\n"
        "Without `move` the closure would borrow `name`, and the thread might run "
        "after `name` is dropped, so the compiler refuses it.",
    ]),
    ("french", "Good morning in French", [
        "*Bonjour* is the everyday greeting, morning or afternoon. *Bon matin* is "
        "heard in Quebec, but rarely in France.",
    ]),
]


class ScriptedOllama(FakeOllama):
    asked = {}

    @staticmethod
    def entry(request):
        question = request["messages"][-1]["content"].lower()
        for key, title, replies in SCRIPT:
            if key in question:
                return key, title, replies
        return None, "A chat", ["I am a scripted model for the README's picture."]

    def reply(self, request):
        key, _, replies = self.entry(request)
        turn = self.asked.get(key, 0)
        self.asked[key] = turn + 1
        return replies[min(turn, len(replies) - 1)]

    def pieces(self, request):
        words = self.reply(request).split(" ")
        # A few pieces, so the page streams it as it would a real model's reply.
        step = max(1, len(words) // 4)
        return [" ".join(words[i:i + step]) + (" " if i + step < len(words) else "")
                for i in range(0, len(words), step)]

    def answer(self, request):
        # A chat's title is asked for in one piece; so is a regenerated reply.
        if request["messages"][-1]["content"].startswith("Write a title"):
            return self.entry(request)[1]
        return self.reply(request)


def send(page, text):
    """Sends a question and waits until its reply is whole."""
    before = page.eval_on_selector_all(".message.assistant", "ms => ms.length")
    page.fill("#input", text)
    page.keyboard.press("Enter")
    # The page is done when its send button is enabled again: it refreshes the list
    # and the chat after the stream, and a click meanwhile would race that.
    wait_until(page, f"document.querySelectorAll('.message.assistant').length > {before}"
                     " && !document.querySelector('.message.streaming')"
                     " && !document.querySelector('#send').disabled", timeout=300_000)


def new_chat(page):
    page.click("#new-chat")
    wait_until(page, "document.querySelectorAll('.message').length === 0")


def main():
    api, ollama_port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    serve_ollama(ollama_port, ScriptedOllama)
    warm_up(api)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1100, "height": 720}).new_page()
        page.set_default_timeout(20_000)
        try:
            make(page, api, out)
        except Exception:
            page.screenshot(path="/tmp/readme-picture-failure.png")
            raise
        browser.close()
    print(f"wrote {out}")


def make(page, api, out):
    # Anything that goes wrong is said, with what the API answered.
    page.on("console", lambda m: m.type == "error" and print("console:", m.text, file=sys.stderr))
    page.on("response", lambda r: r.status >= 400 and print("answer:", r.status, r.request.method, r.url,
                                                             r.request.post_data, file=sys.stderr))
    page.goto(f"{api}/")
    page.click("#tab-register")
    page.fill("#auth-username", "ada")
    page.fill("#auth-email", "ada@example.com")
    page.fill("#auth-password", PASSWORD)
    page.click("#auth-submit")
    page.wait_for_selector("#app:not([hidden])")
    wait_until(page, "document.querySelectorAll('#model option').length > 0")

    send(page, "What should I pack for three days of hiking in the Alps?")
    new_chat(page)
    send(page, "How do I say good morning in French?")
    new_chat(page)
    send(page, "What is a closure in Rust?")
    send(page, "When do I need `move`?")
    wait_until(page, "document.querySelectorAll('.chat-entry').length === 3")
    page.locator(".regenerate").last.click()
    # The reply's switcher (‹ 2/2 ›) shows the regenerated version is there.
    page.wait_for_selector(".message.assistant .branch-at", timeout=300_000)
    wait_until(page, "!document.querySelector('#send').disabled")
    wait_until(page, "document.querySelector('#balance').textContent.includes('tokens')")
    # Tall enough for the whole conversation, its newest part in view.
    page.set_viewport_size({"width": 1100, "height": 1000})
    page.evaluate("const box = document.querySelector('#messages'); box.scrollTop = box.scrollHeight")
    page.screenshot(path=out)


if __name__ == "__main__":
    main()
