#!/usr/bin/env python3
"""Writes crates/aws/src/call/models.json: what `kind: aws` needs to call any
action of any AWS service without a client per service — each service's
protocol, signing name and endpoint prefix, and, for REST protocols, where
each operation puts its parameters. Read from botocore's service models
(the version moto's venv pins); run it again after upgrading botocore.

    .venv-moto/bin/python scripts/aws-models.py
"""
import glob
import gzip
import json
import os
import sys

import botocore

PREFERRED = ["json", "rest-json", "rest-xml", "query", "ec2"]
# Services whose models moved to a newer protocol while AWS still takes the
# JSON protocol every SDK sent before (and the emulator answers only it).
STILL_JSON = {"athena": ("AmazonAthena", "1.1")}


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path) as f:
        return json.load(f)


def locations(model, shape_name):
    """member -> [location, wire name] for members not in the body; and the
    payload member, if any."""
    if not shape_name:
        return {}, None
    shape = model["shapes"][shape_name]
    out = {}
    for member, ref in shape.get("members", {}).items():
        loc = ref.get("location")
        if loc:
            out[member] = [loc, ref.get("locationName", member)]
    return out, shape.get("payload")


def main():
    data = os.path.join(os.path.dirname(botocore.__file__), "data")
    services = {}
    for name in sorted(os.listdir(data)):
        versions = sorted(glob.glob(os.path.join(data, name, "*", "service-2.json*")))
        if not versions:
            continue
        model = load(versions[-1])
        meta = model["metadata"]
        offered = meta.get("protocols", [meta.get("protocol")])
        protocol = next((p for p in PREFERRED if p in offered), offered[0])
        entry = {
            "protocol": protocol,
            "signing": meta.get("signingName", meta["endpointPrefix"]),
            "endpoint": meta["endpointPrefix"],
        }
        if name in STILL_JSON:
            protocol = entry["protocol"] = "json"
            meta = dict(meta, targetPrefix=STILL_JSON[name][0], jsonVersion=STILL_JSON[name][1])
        if protocol == "json":
            entry["target"] = meta["targetPrefix"]
            entry["json"] = meta.get("jsonVersion", "1.0")
        if protocol in ("rest-json", "rest-xml"):
            ops = {}
            for op_name, op in model["operations"].items():
                http = op.get("http", {})
                ins, payload = locations(model, op.get("input", {}).get("shape"))
                outs, out_payload = locations(model, op.get("output", {}).get("shape"))
                ops[op_name] = {
                    k: v
                    for k, v in {
                        "method": http.get("method", "POST"),
                        "uri": http.get("requestUri", "/"),
                        "in": ins,
                        "payload": payload,
                        "out": outs,
                        "out_payload": out_payload,
                    }.items()
                    if v
                }
            entry["ops"] = ops
        services[name] = entry
    out = os.path.join(os.path.dirname(__file__), "..", "crates", "aws", "src", "call", "models.json")
    with open(out, "w") as f:
        json.dump({"botocore": botocore.__version__, "services": services}, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"{len(services)} services from botocore {botocore.__version__} -> {os.path.getsize(out)} bytes", file=sys.stderr)


main()
