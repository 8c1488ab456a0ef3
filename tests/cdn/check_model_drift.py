#!/usr/bin/env python3
"""Compares what sparc::cdn knows of the AWS models with the botocore models on the machine.

  check_model_drift.py MODEL_FACTS [PYTHON ...]

MODEL_FACTS prints the library's enumerations and limits keyed by botocore shape. The newest
botocore any of the PYTHON interpreters (default: this one) can import is the reference.
Fails when the model has an enumeration value the library lacks (the library is behind:
reading what AWS writes would fail), when a limit differs, or, with a model at least as new
as BASELINE, when the library has a value the model does not. With an older model (Debian
12's botocore 1.29), library values it does not know are reported but do not fail.
"""

import gzip
import json
import os
import subprocess
import sys

# The botocore release whose models the library was last brought up to date with.
BASELINE = (1, 43)

MODEL_VERSIONS = {
    "cloudfront": "2020-05-31",
    "wafv2": "2019-07-29",
    "cloudwatch": "2010-08-01",
    "lambda": "2015-03-31",
}

# Values the library leaves out on purpose, with the reason. Anything else the model has and
# the library lacks is drift.
NOT_MODELLED = {
    ("wafv2:RateBasedStatementAggregateKeyType", "CUSTOM_KEYS"):
        "needs CustomKeys, which the library does not model",
    ("wafv2:RateBasedStatementAggregateKeyType", "CONSTANT"):
        "needs a ScopeDownStatement, which the library does not model",
}


def version_tuple(text):
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def find_botocore(pythons):
    best = None
    for python in pythons:
        try:
            out = subprocess.run(
                [python, "-c", "import botocore, os; print(botocore.__version__); "
                 "print(os.path.dirname(botocore.__file__))"],
                capture_output=True, text=True, timeout=60)
        except OSError:
            continue
        if out.returncode != 0:
            continue
        version, path = out.stdout.split()
        if best is None or version_tuple(version) > version_tuple(best[0]):
            best = (version, path, python)
    return best


def load_model(root, service):
    base = os.path.join(root, "data", service, MODEL_VERSIONS[service], "service-2.json")
    if os.path.exists(base):
        with open(base, encoding="utf-8") as f:
            return json.load(f)
    with gzip.open(base + ".gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    facts = json.loads(subprocess.run([argv[1]], check=True, capture_output=True, text=True).stdout)
    found = find_botocore(argv[2:] or [sys.executable])
    if found is None:
        print("SKIPPED: no python3 here can import botocore")
        return 77
    version, root, python = found
    strict = version_tuple(version) >= BASELINE
    print(f"reference: botocore {version} ({python}); library values unknown to the model "
          f"{'fail' if strict else 'are reported only (model older than the library)'}")
    models = {}
    failures = []
    notes = []

    def shape(key):
        service, name = key.split(":")
        if service not in models:
            models[service] = load_model(root, service)
        return models[service]["shapes"].get(name)

    for key, library in sorted(facts["enums"].items()):
        model = shape(key)
        if model is None or "enum" not in model:
            failures.append(f"{key}: no such enumeration in the model")
            continue
        for value in model["enum"]:
            if value not in library and (key, value) not in NOT_MODELLED:
                failures.append(f"{key}: the model has \"{value}\", the library does not")
        for value in library:
            if value not in model["enum"]:
                (failures if strict else notes).append(
                    f"{key}: the library has \"{value}\", botocore {version} does not")
    for key, (low, high) in sorted(facts["limits"].items()):
        model = shape(key)
        if model is None:
            failures.append(f"{key}: no such shape in the model")
            continue
        if model.get("min") != low or model.get("max") != high:
            (failures if strict else notes).append(
                f"{key}: the library allows {low}-{high}, the model {model.get('min')}-{model.get('max')}")
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"DRIFT: {failure}")
    checked = len(facts["enums"]) + len(facts["limits"])
    print(f"{checked} enumeration(s)/limit(s) checked, {len(failures)} drift(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
