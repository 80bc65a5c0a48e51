"""moto's server with one request at a time.

DynamoDB applies each write to an item atomically, conditions included, so
concurrent conditional updates (charges, counters, claims) never lose one. moto
handles requests on threads without a lock: two charges can both pass the
balance check before either writes, and a failed transaction restores a copy of
the table taken when it started, undoing writes made meanwhile. The tests that
prove the store's atomicity (twenty concurrent sends on a balance for five, chat
numbers, racing profile edits) then fail by chance under load. Serialising
requests gives moto the atomicity the real service has.

DynamoDB also makes a transaction's retry idempotent: the SDK gives each
TransactWriteItems a ClientRequestToken and resends it unchanged when an attempt
times out, and for ten minutes the service answers a token it has applied with
success and no second write. moto ignores the token, so a retry of a write that
landed fails its own conditions ("the message exists") exactly when the store is
slow. `idempotent_transactions` keeps the service's rule.

Usage: python3 infra/moto_server.py HOST PORT
"""

import hashlib
import io
import json
import sys
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def serialised(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # The body is produced inside the lock: moto may build it lazily.
            return list(app(environ, start_response))

    return handle


# How long DynamoDB remembers a transaction's ClientRequestToken.
TOKEN_WINDOW_SECONDS = 600


def idempotent_transactions(app):
    """Answers a TransactWriteItems whose ClientRequestToken already succeeded
    with success (the same parameters) or IdempotentParameterMismatchException
    (others), as DynamoDB does, without applying it again. Runs inside the lock."""
    applied = {}  # token -> (digest of the request, when it succeeded)

    def handle(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.endswith(".TransactWriteItems"):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            request = json.loads(body)
        except ValueError:
            return app(environ, start_response)
        token = request.pop("ClientRequestToken", None) if isinstance(request, dict) else None
        if not token:
            return app(environ, start_response)
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        now = time.monotonic()
        for old in [t for t, (_, at) in applied.items() if now - at > TOKEN_WINDOW_SECONDS]:
            del applied[old]
        if token in applied:
            if applied[token][0] == digest:
                return answer(start_response, "200 OK", {})
            return answer(
                start_response,
                "400 Bad Request",
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "The request uses the same client token as a previous, but non-identical request.",
                },
            )
        status = []

        def recording(code, headers, exc_info=None):
            status.append(code)
            return start_response(code, headers, exc_info)

        result = list(app(environ, recording))
        if status and status[0].startswith("200"):
            applied[token] = (digest, now)
        return result

    return handle


def answer(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))],
    )
    return [data]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialised(idempotent_transactions(app)), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
