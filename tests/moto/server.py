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
answers is moto's own. Likewise moto computes all of a queue's attributes,
counting its messages three times, for each message sent (to read one
FIFO setting), so a send costs in proportion to the queue's length; here a
send reads just that setting. And a Query of a table's partition looks at
every item of the table in moto; here at the items of that partition.

For the deploy rehearsal, four fixes where moto answers otherwise than
AWS: RunTask of a Fargate task definition whose container sets no memory
of its own (the task's is enough, as the template's runner does) failed
with a 500 in moto's placement arithmetic. `!Ref AWS::NoValue` as an element of a list (an `!If` choosing
whether a rule has a target) removes the element in CloudFormation; moto
kept it as a null, and failed creating the rule. A scheduled rule (no
event pattern) matches no event in EventBridge; moto sent it every event
put on its bus. And Lambda runs nothing here (no Docker): moto invoked a
queue's event-source function inside each SendMessage and failed the send,
where the tests play the event source themselves.
"""
import copy
import os
import sys
import threading
import time

from moto.cloudformation import parsing as cloudformation_parsing
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.ecs import models as ecs_models
from moto.events import models as events_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs import models as sqs_models
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


_moto_query = Table.query


def query(self, hash_key, *args, **kwargs):
    # moto's own call: (hash_key, range_comparison, range_objs, limit,
    # exclusive_start_key, scan_index_forward, projection_expressions,
    # index_name, ...).
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name is not None or hash_key is None:
        return _moto_query(self, hash_key, *args, **kwargs)
    partition = self.items.get(hash_key)
    if partition is None:
        items = []
    elif self.range_key_attr:
        items = list(partition.values())
    else:
        items = [partition]
    self.all_items = lambda: items
    try:
        return _moto_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = query


def _attributes_a_send_reads(queue):
    """The one attribute moto's send reads of its queue."""
    if not queue.fifo_queue:
        return {}
    return {"ContentBasedDeduplication": str(queue.content_based_deduplication).lower()}


_moto_send_message = sqs_models.SQSBackend.send_message
_queue_attributes = sqs_models.Queue.attributes


def send_message(self, *args, **kwargs):
    sqs_models.Queue.attributes = property(_attributes_a_send_reads)
    try:
        return _moto_send_message(self, *args, **kwargs)
    finally:
        sqs_models.Queue.attributes = _queue_attributes


sqs_models.SQSBackend.send_message = send_message


_moto_clean_json = cloudformation_parsing.clean_json


def clean_json(resource_json, resources_map):
    # moto's recursion calls this module-level name, so nested lists are
    # cleaned too; only AWS::NoValue resolves to None.
    if isinstance(resource_json, list):
        cleaned = (clean_json(value, resources_map) for value in resource_json)
        return [value for value in cleaned if value is not None]
    return _moto_clean_json(resource_json, resources_map)


cloudformation_parsing.clean_json = clean_json


_MEMORY_KEYS = ("memory", "Memory", "memoryReservation", "MemoryReservation")
_moto_requirements = ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements


def _calculate_task_resource_requirements(task_definition):
    # Containers without memory of their own count the task's, for the
    # arithmetic only: what the task definition says is left as it was.
    missing = [
        c for c in task_definition.container_definitions
        if not any(key in c for key in _MEMORY_KEYS)
    ]
    for container in missing:
        container["memory"] = int(task_definition.memory or 0)
    try:
        return _moto_requirements(task_definition)
    finally:
        for container in missing:
            del container["memory"]


ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(
    _calculate_task_resource_requirements
)


_moto_send_to_targets = events_models.Rule.send_to_targets


def send_to_targets(self, original_event, transform_input=True):
    if self.scheduled_expression and not self.event_pattern._pattern:
        return None
    return _moto_send_to_targets(self, original_event, transform_input)


events_models.Rule.send_to_targets = send_to_targets


_moto_add_message = sqs_models.Queue.add_message


def add_message(self, message):
    mappings = self.lambda_event_source_mappings
    self.lambda_event_source_mappings = {}
    try:
        return _moto_add_message(self, message)
    finally:
        self.lambda_event_source_mappings = mappings


sqs_models.Queue.add_message = add_message


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
