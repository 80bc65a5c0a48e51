"""The official OpenAI Python client against our OpenAI-compatible API.

Usage: openai_client.py BASE_URL TOKEN MODEL [API_KEY]. Exits non-zero on the
first mismatch; prints one line per check. With API_KEY (a personal `sk-cb-` key),
the client is checked with it too.
"""
import sys
import uuid

import openai

base_url, token, model = sys.argv[1:4]
api_key = sys.argv[4] if len(sys.argv) > 4 else None
client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0)


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + (f": {detail}" if not condition else ""))
    if not condition:
        sys.exit(1)


listed = [m.id for m in client.models.list()]
check("models.list names the model", model in listed, listed)

messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hello?"}]
completion = client.chat.completions.create(model=model, messages=messages, max_tokens=8)
check("a completion", completion.object == "chat.completion" and completion.choices[0].message.role == "assistant", completion)
check("usage adds up", completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens)

stream = client.chat.completions.create(
    model=model, messages=messages, max_tokens=8, stream=True, stream_options={"include_usage": True}
)
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check("a streamed completion", all(c.object == "chat.completion.chunk" for c in chunks) and len(chunks) >= 2, chunks)
check("the stream says the same", text == completion.choices[0].message.content, (text, completion.choices[0].message.content))
check("the stream ends with usage", chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0)

# A retry under one Idempotency-Key gets the first answer, not a second reply.
key = {"Idempotency-Key": str(uuid.uuid4())}
first = client.chat.completions.create(model=model, messages=messages, max_tokens=8, extra_headers=key)
again = client.chat.completions.with_raw_response.create(model=model, messages=messages, max_tokens=8, extra_headers=key)
check("a retried completion is the first one", again.parse().id == first.id, (again.parse().id, first.id))
check("the retry says it is a replay", again.headers.get("idempotent-replayed") == "true", dict(again.headers))
streamed_key = {"Idempotency-Key": str(uuid.uuid4())}
first_chunks = list(client.chat.completions.create(model=model, messages=messages, max_tokens=8, stream=True, extra_headers=streamed_key))
again_chunks = list(client.chat.completions.create(model=model, messages=messages, max_tokens=8, stream=True, extra_headers=streamed_key))
check("a retried stream is the first one", [c.model_dump() for c in again_chunks] == [c.model_dump() for c in first_chunks])
try:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Other"}], extra_headers=key)
    check("a key reused for another request is refused", False)
except openai.UnprocessableEntityError as err:
    check("a key reused for another request is refused", err.status_code == 422 and err.code == "idempotency_key_reused", err.body)

try:
    client.chat.completions.create(model="nobody/nothing", messages=messages)
    check("an unknown model is refused", False)
except openai.BadRequestError as err:
    check("an unknown model is refused", err.status_code == 400 and err.body["param"] == "provider", err.body)

try:
    openai.OpenAI(base_url=base_url, api_key="wrong-token", max_retries=0).models.list()
    check("a wrong key is refused", False)
except openai.AuthenticationError as err:
    check("a wrong key is refused", err.status_code == 401)

if api_key:
    keyed = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    check("a personal API key lists models", model in [m.id for m in keyed.models.list()])
    answer = keyed.chat.completions.create(model=model, messages=messages, max_tokens=8)
    check("a personal API key gets a completion", answer.choices[0].message.role == "assistant", answer)
