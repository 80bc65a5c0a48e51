"""moto's server with one request at a time.

DynamoDB applies each write to an item atomically, conditions included, so
concurrent conditional updates (charges, counters, claims) never lose one. moto
handles requests on threads without a lock: two charges can both pass the
balance check before either writes, and a failed transaction restores a copy of
the table taken when it started, undoing writes made meanwhile. The tests that
prove the store's atomicity (twenty concurrent sends on a balance for five, chat
numbers, racing profile edits) then fail by chance under load. Serialising
requests gives moto the atomicity the real service has.

Usage: python3 infra/moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def serialised(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # The body is produced inside the lock: moto may build it lazily.
            return list(app(environ, start_response))

    return handle


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialised(app), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
