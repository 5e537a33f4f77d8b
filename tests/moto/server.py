"""A moto server for updraft's tests, on 127.0.0.1 and a free port.

moto's conditional writes are not atomic when requests race, so every
request runs under one lock (the adapters never long-poll SQS, so nothing
holds the lock waiting). Prints the port, then serves until its parent
process (the test binary) exits.
"""
import os
import sys
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

LOCK = threading.Lock()
MOTO = DomainDispatcherApplication(create_backend_app)


def app(environ, start_response):
    with LOCK:
        return list(MOTO(environ, start_response))


def exit_with_parent(parent):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
