"""Translates a SAM template to CloudFormation offline, as `sam deploy`
has CloudFormation do: reads the template, packaged code locations and
parameter values as JSON on stdin, prints the translated template.

stdin: {"template": "<path>", "code": {"<logical id>": {"bucket": ..., "key": ...}},
        "parameters": {"<name>": <value>}}

`sam package` replaces each function's local CodeUri with the S3 object it
uploaded; here the caller has uploaded them and names them in "code". The
translator asks IAM for the AWS managed policies it may attach (to roles
it makes for functions without one of their own); offline it is given
their ARNs instead.
"""
import json
import os
import sys

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The managed policies SAM attaches to roles it makes (none of updraft's
# functions needs one: each names its own role). ARN format of the aws
# partition.
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/service-role/{name}"
    for name in [
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSLambdaVPCAccessExecutionRole",
    ]
}


class OfflinePolicies(ManagedPolicyLoader):
    """The managed-policy map without IAM."""

    def __init__(self):
        pass

    def load(self):
        return MANAGED_POLICIES


def main():
    request = json.load(sys.stdin)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(request["template"]) as f:
        template = yaml_parse(f.read())
    for name, location in request.get("code", {}).items():
        template["Resources"][name]["Properties"]["CodeUri"] = (
            f"s3://{location['bucket']}/{location['key']}"
        )
    translated = transform(template, request.get("parameters", {}), OfflinePolicies())
    json.dump(translated, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
