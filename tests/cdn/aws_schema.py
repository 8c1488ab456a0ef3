"""Strict validation of AWS API input documents against botocore's service models.

botocore's own ParamValidator checks required members, types and ranges but not enums, and
knows nothing of CloudFront's Quantity/Items convention; this module checks all of them:
required members, unknown members, types, enumerations, string lengths and patterns, numeric
ranges, list lengths, and Quantity == len(Items).
"""

import gzip
import json
import os
import re

import botocore

MODEL_VERSIONS = {
    "cloudfront": "2020-05-31",
    "wafv2": "2019-07-29",
    "cloudwatch": "2010-08-01",
    "lambda": "2015-03-31",
}


def data_dir():
    return os.path.join(os.path.dirname(botocore.__file__), "data")


def load_model(service):
    base = os.path.join(data_dir(), service, MODEL_VERSIONS[service], "service-2.json")
    if os.path.exists(base):
        with open(base, encoding="utf-8") as f:
            return json.load(f)
    with gzip.open(base + ".gz", "rt", encoding="utf-8") as f:
        return json.load(f)


# Enumeration values AWS added after the models of older botocore releases (Debian 12 ships
# botocore 1.29, from 2022). A value listed here is accepted only when the model on the machine
# predates it, i.e. does not list it; a newer model that lists the enumeration judges as usual.
NEWER_ENUM_VALUES = {
    ("lambda", "Runtime"): {"nodejs20.x", "nodejs22.x", "python3.12"},
}

_models = {}


def model(service):
    if service not in _models:
        _models[service] = load_model(service)
    return _models[service]


def operation_input_shape(service, cli_operation):
    """The input shape of an AWS CLI operation name such as create-web-acl."""
    wanted = cli_operation.replace("-", "").lower()
    for name, op in model(service)["operations"].items():
        if name.lower() == wanted:
            return op["input"]["shape"]
    raise KeyError(f"{service} has no operation {cli_operation}")


_pattern_cache = {}


def _compiled(pattern):
    if pattern not in _pattern_cache:
        try:
            _pattern_cache[pattern] = re.compile(pattern)
        except re.error:
            # Java-only syntax such as \p{L}: not checkable with Python's re.
            _pattern_cache[pattern] = None
    return _pattern_cache[pattern]


class Checker:
    def __init__(self, service):
        self.service = service
        self.shapes = model(service)["shapes"]
        self.errors = []

    def error(self, path, message):
        self.errors.append(f"{path or '/'}: {message}")

    def check(self, value, shape_name, path=""):
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "string" and value in NEWER_ENUM_VALUES.get((self.service, shape_name), ()):
            if value not in shape.get("enum", [value]):
                shape = {k: v for k, v in shape.items() if k != "enum"}  # model too old
        getattr(self, "_" + kind)(value, shape, path)

    def _range(self, number, shape, path, what):
        if "min" in shape and number < shape["min"]:
            self.error(path, f"{what} {number} is below the minimum {shape['min']}")
        if "max" in shape and number > shape["max"]:
            self.error(path, f"{what} {number} is above the maximum {shape['max']}")

    def _structure(self, value, shape, path):
        if not isinstance(value, dict):
            self.error(path, f"expected an object, found {type(value).__name__}")
            return
        members = shape["members"]
        for name in shape.get("required", []):
            if name not in value:
                self.error(f"{path}/{name}", "required member is missing")
        for name, item in value.items():
            if name not in members:
                self.error(f"{path}/{name}", "unknown member")
                continue
            self.check(item, members[name]["shape"], f"{path}/{name}")
        if "Quantity" in members and "Items" in members and isinstance(value.get("Quantity"), int):
            items = value.get("Items", [])
            if isinstance(items, list) and value["Quantity"] != len(items):
                self.error(f"{path}/Quantity",
                           f"Quantity {value['Quantity']} but Items has {len(items)} element(s)")

    def _list(self, value, shape, path):
        if not isinstance(value, list):
            self.error(path, f"expected an array, found {type(value).__name__}")
            return
        self._range(len(value), shape, path, "length")
        for i, item in enumerate(value):
            self.check(item, shape["member"]["shape"], f"{path}/{i}")

    def _map(self, value, shape, path):
        if not isinstance(value, dict):
            self.error(path, "expected an object")
            return
        for key, item in value.items():
            self.check(key, shape["key"]["shape"], f"{path}/{key}")
            self.check(item, shape["value"]["shape"], f"{path}/{key}")

    def _string(self, value, shape, path):
        if not isinstance(value, str):
            self.error(path, f"expected a string, found {type(value).__name__}")
            return
        if "enum" in shape and value not in shape["enum"]:
            self.error(path, f"\"{value}\" is not one of {shape['enum']}")
        self._range(len(value), shape, path, "length")
        pattern = shape.get("pattern")
        if pattern is not None:
            compiled = _compiled(pattern)
            if compiled is not None and not compiled.fullmatch(value):
                self.error(path, f"\"{value}\" does not match {pattern}")

    def _integer(self, value, shape, path):
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(path, f"expected an integer, found {type(value).__name__}")
            return
        self._range(value, shape, path, "value")

    _long = _integer

    def _double(self, value, shape, path):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            self.error(path, f"expected a number, found {type(value).__name__}")
            return
        self._range(value, shape, path, "value")

    _float = _double

    def _boolean(self, value, shape, path):
        if not isinstance(value, bool):
            self.error(path, f"expected true or false, found {type(value).__name__}")

    def _blob(self, value, shape, path):
        if not isinstance(value, str):
            self.error(path, "expected a base64 string")

    def _timestamp(self, value, shape, path):
        if not isinstance(value, (str, int, float)):
            self.error(path, "expected a timestamp")


def check_document(service, shape_name, document):
    """Every schema error in `document` read as `shape_name` of `service`."""
    checker = Checker(service)
    checker.check(document, shape_name)
    return checker.errors


# Plausible values for the {{Name}} references deploy.sh fills in, so patterns can be checked.
SAMPLE_VALUES = {
    "AccountId": "123456789012",
    "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0f2c7b5e-1111-2222-3333-444455556666",
    "EdgeAuthFunctionVersion": "1",
    "WebAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/sparc-cdn/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
    "RealtimeLogConfigArn": "arn:aws:cloudfront::123456789012:realtime-log-config/sparc-cdn-realtime",
}


def substitute_samples(node):
    if isinstance(node, str):
        return re.sub(r"\{\{(\w+)\}\}", lambda m: SAMPLE_VALUES.get(m.group(1), "E2QWRUHEXAMPLE"), node)
    if isinstance(node, list):
        return [substitute_samples(item) for item in node]
    if isinstance(node, dict):
        return {key: substitute_samples(item) for key, item in node.items()}
    return node
