"""Schemathesis hooks for infra/fuzz-api.sh (loaded through SCHEMATHESIS_HOOKS).

Three kinds of 5xx are set aside; every other failure fails the run:

- `cargo lambda watch` cannot hand a body that is not UTF-8 to a function: it
  answers 500 itself, with a problem+json body of its own, before any of our code
  runs. API Gateway base64-encodes such a body and the function answers 400
  (tested in process: tests/tests/api_hostile_input.rs).
- Now and then (twice in some twenty runs, not reproduced by rerunning the same
  seed) watch answers a request 500 with that same body of its own: the request
  is sent once more, and the failure is set aside, said out loud, only when the
  second answer is not a 5xx. A function that panics or fails on a request does
  so again on the same request, and still fails the run.
- A model this run cannot reach answers its documented 503
  `provider_unavailable`: OpenAI and Gemini have no key here, Ollama no server,
  and the inference function loads one Flan-T5 size. Which provider/model pairs
  those are is what the API itself lists as unavailable (`GET /api/models/`,
  saved by fuzz-api.sh in the file FUZZ_MODELS names), and the pair a request
  asks for is worked out from the request as the API does: the body's
  `provider` and `model` (a model may be written `provider/model`, the only form
  `/v1/chat/completions` reads), the route's fixed provider for dialect D's
  `prompt_gpt`/`prompt_gemini`, and the default for what is left unsaid. A 5xx
  from the model the run serves (the fixture Flan-T5) is never set aside: an
  inference crash on some input must fail the run. The status must still be one
  the document lists for the operation: that check (status_code_conformance) is
  not set aside.
"""

import atexit
import json
import os
import sys
from collections import Counter
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import strategies as st

# The body watch answers with; no function of ours ever sends it.
WATCH_OWN_500 = b"https://httpstatuses.com/500"
SERVER_ERROR = "ST101"


def _not_utf8(body):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if not isinstance(body, (bytes, bytearray)):
        return False
    try:
        bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _load_models():
    """The API's model list (`GET /api/models/`), saved by fuzz-api.sh."""
    path = os.environ.get("FUZZ_MODELS")
    if not path:
        # Without the list nothing counts as unreachable: every 5xx fails.
        return []
    with open(path) as file:
        return json.load(file)


MODELS = _load_models()


def _time_zone_examples():
    """The TimeZone schema's examples, from the document fuzz-api.sh saved
    (FUZZ_SPEC): names the server takes (a unit test checks them)."""
    path = os.environ.get("FUZZ_SPEC")
    if not path:
        return []
    with open(path) as file:
        schemas = json.load(file).get("components", {}).get("schemas", {})
    return schemas.get("TimeZone", {}).get("examples", [])


# A zone is a string of the format `iana-time-zone`: the document gives its shape
# and examples, not the ~600 names (see the TimeZone schema). A value schemathesis
# made up in that shape is seldom a zone, so the valid requests it generates (the
# positive_data_acceptance check) take one of the examples; the invalid ones still
# break the shape.
ZONES = _time_zone_examples()
if ZONES:
    schemathesis.openapi.format("iana-time-zone", st.sampled_from(ZONES))
# What was set aside, by kind (an unreachable model's 503 by provider/model): said
# at the end of the run, so a reader sees what was tolerated and that the served
# Flan-T5 is not in it.
SET_ASIDE = Counter()


@atexit.register
def _say_what_was_set_aside():
    if SET_ASIDE:
        counts = ", ".join(f"{model} {n}" for model, n in sorted(SET_ASIDE.items()))
        print(f"fuzz: set aside: {counts}", file=sys.stderr)
# Routes whose provider is fixed by the path (dialect D), by the path's last part.
FIXED_PROVIDER = {"prompt_gpt": "openai", "prompt_gemini": "gemini"}


def _requested_model(request):
    """The (provider, model) a request asks for, resolved as the API's
    `Dispatch::choose` does; None when the API would refuse it (a 4xx) or the
    body cannot be read."""
    try:
        body = json.loads(request.body) if request.body else {}
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    provider, model = body.get("provider"), body.get("model")
    if not isinstance(provider, (str, type(None))) or not isinstance(model, (str, type(None))):
        return None
    parts = [p for p in urlsplit(request.url).path.split("/") if p]
    if parts[-2:] == ["chat", "completions"]:
        provider = None
    if parts and parts[-1] in FIXED_PROVIDER:
        provider = FIXED_PROVIDER[parts[-1]]
    if model is not None and "/" in model:
        named, model = model.split("/", 1)
        if provider is not None and provider != named:
            return None
        provider = named
    if provider is None:
        provider = next((m["provider"] for m in MODELS if m["default"]), None)
    offered = [m["model"] for m in MODELS if m["provider"] == provider]
    if model is None:
        default = [m["model"] for m in MODELS if m["provider"] == provider and m["default"]]
        model = (default or offered or [None])[0]
    if model not in offered:
        return None
    return provider, model


def _unreachable_model_refused(response):
    """The documented answer of a model this run cannot reach: 503
    `provider_unavailable`, for a request asking for a provider/model the API
    lists as unavailable."""
    if response.status_code != 503:
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    code = body.get("code")
    # The OpenAI-compatible routes nest it: {"error": {"code": …}}.
    if code is None and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
    if code != "provider_unavailable":
        return False
    asked = _requested_model(response.request)
    unreachable = any((m["provider"], m["model"]) == asked and not m["available"] for m in MODELS)
    if unreachable:
        SET_ASIDE["/".join(asked)] += 1
    return unreachable


def _answered_on_retry(request):
    """Sends `request` again: True when the answer is not a 5xx."""
    try:
        with requests.Session() as session:
            again = session.send(request, timeout=30)
    except requests.RequestException:
        return False
    if again.status_code < 500:
        print(
            f"fuzz: watch answered 500 to {request.method} {request.url}, "
            f"then {again.status_code} to the same request: set aside",
            file=sys.stderr,
        )
        return True
    return False


SCHEMA_VALID_REJECTED = "ST202"


def _error_of(response):
    """The error object of an answer, in this API's shape or OpenAI's, or None."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    return body.get("error") if isinstance(body.get("error"), dict) else body


def _whole_float(response, field):
    """Whether the request's body gave `field` as a whole number with a fraction."""
    try:
        body = json.loads(response.request.body or b"null")
    except (ValueError, TypeError):
        return False
    value = body.get(field) if isinstance(body, dict) else None
    return isinstance(value, float) and value.is_integer()


def _documented_refusal(response):
    """Why a schema-valid request's 400 is one the document cannot rule out, or
    None. Each is said in the document (the field's description) and counted:
    - an opaque cursor: a signed token from the previous page, which a generated
      string never is;
    - a provider or model: the catalog is the deployment's (GET /api/models/),
      so the document names no enum, and a provider/model pair must match;
    - dialect E's register answers a taken username or email 400, and its login
      wrong credentials 400 (its original's statuses): uniqueness and passwords
      are no schema's to state; nor is the current password a profile change
      must give (`password.old`);
    - a whole number written with a fraction (`4.0`) where the server reads an
      integer: JSON Schema's `integer` includes it, serde's integers do not;
    - OpenAI's rule that the last message is the user's, which JSON Schema
      cannot say of an array's last item;
    - a usage report's span: `from` after `to`, or over 366 days, is one no
      schema of two separate dates can rule out;
    - an import's references: a `parent_id` must name a message listed before it
      in the same chat and ids must not repeat (own export), a node's `parent`
      must name a node of the same mapping without loops and a message must have
      an author's role (ChatGPT's): no JSON Schema relates one value to others."""
    if response.status_code != 400:
        return None
    error = _error_of(response)
    if error is None:
        return None
    field = error.get("field", error.get("param")) or ""
    code = error.get("code")
    path = urlsplit(response.request.url).path
    if field == "cursor":
        return "an opaque cursor"
    if field in ("provider", "model"):
        return "a provider/model not in the deployment's catalog"
    if path.startswith("/auth/register") and code in ("username_taken", "email_taken"):
        return "dialect E's 400 for a taken name"
    if field == "password.old":
        return "a wrong current password"
    if path.startswith("/auth/login") and code == "invalid_credentials":
        return "dialect E's 400 for wrong credentials"
    if "floating point" in str(error.get("error", error.get("message", ""))) or _whole_float(response, field):
        return "an integer written as 4.0"
    if path.startswith("/v1/chat/completions") and field == "messages":
        return "OpenAI's last message not the user's"
    if path.startswith("/api/usage") or path.startswith("/api/admin/usage"):
        if field == "from":
            return "a usage span from after to, or over 366 days"
    if path.startswith("/api/import") and (
        field.endswith((".parent_id", ".id", ".parent", ".author.role")) or field.endswith(".mapping")
    ):
        return "an import's reference to another message or node"
    return None


def _key_reused(response):
    """A 422 `idempotency_key_reused`: the fuzzer draws keys from a small space and
    sends one with another body, which API.md §6 answers 422 by design."""
    if response.status_code != 422:
        return False
    error = _error_of(response)
    return error is not None and error.get("code") == "idempotency_key_reused"


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if failure.code == SCHEMA_VALID_REJECTED:
        refusal = _documented_refusal(response)
        if refusal:
            SET_ASIDE[f"400 to a schema-valid request: {refusal}"] += 1
            return False
    if failure.code == SCHEMA_VALID_REJECTED and _key_reused(response):
        SET_ASIDE["422: one Idempotency-Key the fuzzer sent with two requests"] += 1
        return False
    watch_refused = response.status_code == 500 and WATCH_OWN_500 in response.content
    if watch_refused and _not_utf8(response.request.body):
        SET_ASIDE["watch's own 500 to a body not UTF-8"] += 1
        return False
    if watch_refused and _answered_on_retry(response.request):
        return False
    if failure.code == SERVER_ERROR and _unreachable_model_refused(response):
        return False
    return True
