"""A moto server for updraft's tests, on 127.0.0.1 and a free port.

moto's conditional writes are not atomic when requests race, so every
request runs under one lock (the adapters never long-poll SQS, so nothing
holds the lock waiting). Prints the port, then serves until its parent
process (the test binary) exits.

moto backs up a whole table once per item of every TransactWriteItems, so
a transaction's time and memory grow with table size times items (a
100-item transaction on a 10,000-item table copies a million items, and
holds a hundred copies at once). Here a transaction keeps only the items
it names, which is all its rollback needs to restore: what it does and
answers is moto's own.
"""
import copy
import os
import sys
import threading
import time

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

LOCK = threading.Lock()
MOTO = DomainDispatcherApplication(create_backend_app)


def app(environ, start_response):
    with LOCK:
        return list(MOTO(environ, start_response))


class _NoTableCopies:
    """moto's `copy` in its DynamoDB backend: everything but a table is
    copied as before; a table is its own backup (see below)."""

    def deepcopy(self, value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _named_items(backend, transact_items):
    """Each item a transaction names, as (table, hash key, range key)."""
    named = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        if "Key" in op:
            keys = op["Key"]
        else:
            names = [table.hash_key_attr, table.range_key_attr]
            keys = {name: op["Item"][name] for name in names if name and name in op["Item"]}
        try:
            hash_key, range_key = backend.get_keys_value(table, keys)
        except Exception:  # moto's own validation answers it below
            continue
        named.append((table, hash_key, range_key))
    return named


def _restore(table, hash_key, range_key, saved):
    if table.get_item(hash_key, range_key) is not None:
        table.delete_item(hash_key, range_key)
    if saved is None:
        return
    if range_key is None:
        table.items[hash_key] = saved
    else:
        table.items[hash_key][range_key] = saved


_moto_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    named = _named_items(self, transact_items)
    saved = [copy.deepcopy(table.get_item(h, r)) for table, h, r in named]
    moto_copy = dynamodb_models.copy
    dynamodb_models.copy = _NoTableCopies()
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        for (table, hash_key, range_key), item in zip(named, saved):
            _restore(table, hash_key, range_key, item)
        raise
    finally:
        dynamodb_models.copy = moto_copy


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


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
