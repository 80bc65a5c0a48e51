#!/usr/bin/env python3
"""Calls every route of the local API once (so every function has started), and
prints each status.

    infra/bench/every_route.py http://127.0.0.1:9000 [MODEL]

MODEL (default flan-t5/flan-t5-base) answers the model routes: send, stream,
edit, regenerate and the OpenAI-compatible completion. Exits non-zero when a
route gives a status other than the one expected.
"""

import json
import sys
import urllib.error
import urllib.request
import uuid

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:9000"
MODEL = sys.argv[2] if len(sys.argv) > 2 else "flan-t5/flan-t5-base"
failures = 0


def call(name, method, path, expected, body=None, token=None):
    global failures
    headers = {"content-type": "application/json"} if body is not None else {}
    if token:
        headers["authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            status, text = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode(errors="replace")
    ok = status == expected
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {status} {name:20} {method} {path}" + ("" if ok else f": {text[:300]}"), flush=True)
    try:
        return json.loads(text)
    except ValueError:
        return text


user = f"bench{uuid.uuid4().hex[:8]}"
call("health", "GET", "/api/health/", 200)
call("get-openapi", "GET", "/api/openapi.json", 200)
call("route-fallback", "PUT", "/api/health/", 405)
token = call("register", "POST", "/api/register/", 201, {"username": user, "password": "password123"})["token"]
call("login", "POST", "/api/login/", 200, {"username": user, "password": "password123"})
call("get-me", "GET", "/api/me/", 200, token=token)
call("update-me", "PATCH", "/api/me/", 200, {"time_zone": "Europe/Paris"}, token)
call("list-models", "GET", "/api/models/", 200, token=token)
call("get-tokens", "GET", "/api/tokens/", 200, token=token)
sent = call("send-chat", "POST", "/api/chats/", 201, {"content": "What is the capital of France?", "model": MODEL}, token)
chat = sent["chat_id"]
call("stream-chat", "POST", "/api/chats/stream/", 200, {"content": "And of Spain?", "model": MODEL, "chat_id": chat}, token)
messages = call("list-messages", "GET", f"/api/chats/{chat}/messages/", 200, token=token)
user_message = next(m["message_id"] for m in messages if m["role"] == "user")
call("edit-message", "PATCH", f"/api/chats/{chat}/messages/{user_message}/", 200, {"content": "And of Italy?", "regenerate": True}, token)
call("regenerate-reply", "POST", f"/api/chats/{chat}/regenerate/", 200, {"model": MODEL}, token)
call("openai-api", "POST", "/v1/chat/completions", 200, {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}, token)
call("list-chats", "GET", "/api/chats/", 200, token=token)
call("get-chat", "GET", f"/api/chats/{chat}/", 200, token=token)
call("update-chat", "PATCH", f"/api/chats/{chat}/", 200, {"title": "Capitals"}, token)
call("delete-chat", "DELETE", f"/api/chats/{chat}/", 200, token=token)
call("delete-all-chats", "DELETE", "/api/chats/", 200, token=token)
call("deactivate-user", "POST", f"/api/users/{user}/deactivate/", 403, token=token)
call("activate-user", "POST", f"/api/users/{user}/activate/", 403, token=token)
call("logout", "POST", "/api/logout/", 200, token=token)
token = call("login again", "POST", "/api/login/", 200, {"username": user, "password": "password123"})["token"]
call("delete-me", "DELETE", "/api/me/", 200, token=token)
print(f"{failures} failed")
sys.exit(1 if failures else 0)
