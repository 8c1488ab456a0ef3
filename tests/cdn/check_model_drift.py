#!/usr/bin/env python3
"""Compares what sparc::cdn knows of the AWS models with the botocore models on the machine.

  check_model_drift.py MODEL_FACTS [--members SPARC_CDN UNIT_TESTS] [PYTHON ...]

MODEL_FACTS prints the library's enumerations and limits keyed by botocore shape. The newest
botocore any of the PYTHON interpreters (default: this one) can import is the reference.
Fails when the model has an enumeration value the library lacks (the library is behind:
reading what AWS writes would fail), when a limit differs, or, with a model at least as new
as BASELINE, when the library has a value the model does not. With an older model (Debian
12's botocore 1.29), library values it does not know are reported but do not fail.

With --members, the members of every structure the library reads are compared too: each JSON
object of the documents the unit tests dump gets an unknown member, `sparc-cdn validate` names
the members the library takes there, and the model's members that are missing are drift,
except those in MEMBERS_NOT_YET (the known backlog, which may only shrink).
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


# Members of the current models (botocore 1.43) the library does not read yet: the backlog,
# as the check first found it. A member missing from the library and not listed here fails the
# check; a listed one that the library now reads fails too, so the list stays exact. Most are
# features the preset does not use (WAF match statements, Lambda options, CloudFront tenants,
# VPC origins, mTLS); documents that use them are read with warnings by `sparc-cdn validate`.
MEMBERS_NOT_YET = {
    "cloudfront:CustomOriginConfig.IpAddressType",
    "cloudfront:CustomOriginConfig.OriginMtlsConfig",
    "cloudfront:DistributionConfig.CacheTagConfig",
    "cloudfront:DistributionConfig.ConnectionFunctionAssociation",
    "cloudfront:DistributionConfig.ConnectionMode",
    "cloudfront:DistributionConfig.TenantConfig",
    "cloudfront:DistributionConfig.ViewerMtlsConfig",
    "cloudfront:OriginGroup.SelectionCriteria",
    "cloudwatch:PutMetricAlarmInput.EvaluateLowSampleCountPercentile",
    "cloudwatch:PutMetricAlarmInput.EvaluationCriteria",
    "cloudwatch:PutMetricAlarmInput.EvaluationInterval",
    "cloudwatch:PutMetricAlarmInput.Metrics",
    "cloudwatch:PutMetricAlarmInput.ThresholdMetricId",
    "lambda:CreateFunctionRequest.Architectures",
    "lambda:CreateFunctionRequest.CapacityProviderConfig",
    "lambda:CreateFunctionRequest.CodeSigningConfigArn",
    "lambda:CreateFunctionRequest.DeadLetterConfig",
    "lambda:CreateFunctionRequest.DurableConfig",
    "lambda:CreateFunctionRequest.Environment",
    "lambda:CreateFunctionRequest.EphemeralStorage",
    "lambda:CreateFunctionRequest.FileSystemConfigs",
    "lambda:CreateFunctionRequest.ImageConfig",
    "lambda:CreateFunctionRequest.KMSKeyArn",
    "lambda:CreateFunctionRequest.Layers",
    "lambda:CreateFunctionRequest.LoggingConfig",
    "lambda:CreateFunctionRequest.PackageType",
    "lambda:CreateFunctionRequest.PublishTo",
    "lambda:CreateFunctionRequest.SnapStart",
    "lambda:CreateFunctionRequest.Tags",
    "lambda:CreateFunctionRequest.TenancyConfig",
    "lambda:CreateFunctionRequest.TracingConfig",
    "lambda:CreateFunctionRequest.VpcConfig",
    "lambda:FunctionCode.ImageUri",
    "lambda:FunctionCode.S3ObjectVersion",
    "lambda:FunctionCode.SourceKMSKeyArn",
    "lambda:FunctionCode.ZipFile",
    "wafv2:CreateWebACLRequest.ApplicationConfig",
    "wafv2:CreateWebACLRequest.AssociationConfig",
    "wafv2:CreateWebACLRequest.CaptchaConfig",
    "wafv2:CreateWebACLRequest.ChallengeConfig",
    "wafv2:CreateWebACLRequest.CustomResponseBodies",
    "wafv2:CreateWebACLRequest.DataProtectionConfig",
    "wafv2:CreateWebACLRequest.OnSourceDDoSProtectionConfig",
    "wafv2:CreateWebACLRequest.TokenDomains",
    "wafv2:ManagedRuleGroupStatement.ManagedRuleGroupConfigs",
    "wafv2:ManagedRuleGroupStatement.ScopeDownStatement",
    "wafv2:RateBasedStatement.CustomKeys",
    "wafv2:RateBasedStatement.EvaluationWindowSec",
    "wafv2:RateBasedStatement.ForwardedIPConfig",
    "wafv2:RateBasedStatement.ScopeDownStatement",
    "wafv2:Rule.CaptchaConfig",
    "wafv2:Rule.ChallengeConfig",
    "wafv2:Rule.RuleLabels",
    "wafv2:Statement.AndStatement",
    "wafv2:Statement.AsnMatchStatement",
    "wafv2:Statement.ByteMatchStatement",
    "wafv2:Statement.GeoMatchStatement",
    "wafv2:Statement.IPSetReferenceStatement",
    "wafv2:Statement.LabelMatchStatement",
    "wafv2:Statement.NotStatement",
    "wafv2:Statement.OrStatement",
    "wafv2:Statement.RegexMatchStatement",
    "wafv2:Statement.RegexPatternSetReferenceStatement",
    "wafv2:Statement.RuleGroupReferenceStatement",
    "wafv2:Statement.SizeConstraintStatement",
    "wafv2:Statement.SqliMatchStatement",
    "wafv2:Statement.XssMatchStatement",
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


# Besides the Create*Request inputs, the dumped shapes check_document() recognises.
REQUEST_DOCUMENTS = ("DistributionConfig", "PutMetricAlarmInput")
ACTION_SHAPES = {"DefaultAction", "RuleAction", "OverrideAction", "BlockAction", "AllowAction",
                 "CountAction", "NoneAction", "CaptchaAction", "ChallengeAction"}


def check_members(args, root, models, load, failures, notes, strict):
    """Compares the members the library reads with the model's, shape by shape."""
    import pathlib
    import re
    import tempfile
    tool, unit_tests = args
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SPARC_CDN_JSON_DUMP_DIR=tmp)
        subprocess.run([unit_tests], check=True, env=env, stdout=subprocess.DEVNULL)
        seen = {}  # (service, shape) -> members the library takes
        for path in sorted(pathlib.Path(tmp).glob("*.json")):
            service, shape, _ = path.name.split(".", 2)
            if not (shape.startswith("Create") or shape in REQUEST_DOCUMENTS):
                continue
            if service not in models:
                models[service] = load(root, service)
            shapes = models[service]["shapes"]
            document = json.loads(path.read_text())
            where = {}

            def walk(node, shape_name, pointer):
                model = shapes[shape_name]
                if isinstance(node, dict) and model["type"] == "structure":
                    if shape_name in ACTION_SHAPES or not node:
                        return
                    where[pointer] = shape_name
                    for key, value in list(node.items()):
                        if key in model["members"]:
                            walk(value, model["members"][key]["shape"], f"{pointer}/{key}")
                    node["ZzProbe"] = 0
                elif isinstance(node, list) and model["type"] == "list":
                    for i, item in enumerate(node):
                        walk(item, model["member"]["shape"], f"{pointer}/{i}")

            walk(document, shape, "")
            probe = pathlib.Path(tmp, "probe.json")
            probe.write_text(json.dumps(document))
            result = subprocess.run([tool, "validate", str(probe)], capture_output=True, text=True)
            for line in result.stderr.splitlines():
                m = re.match(r'(\S*)/ZzProbe: warning: unknown member "ZzProbe"; '
                             r'this object takes: (.*) \(newer than', line)
                if m and m.group(1) in where:
                    takes = set() if m.group(2) == "no members" else set(m.group(2).split(", "))
                    seen[(service, where[m.group(1)])] = takes
    for (service, shape), takes in sorted(seen.items()):
        model = set(models[service]["shapes"][shape]["members"])
        for member in sorted(model - takes):
            key = f"{service}:{shape}.{member}"
            if key in MEMBERS_NOT_YET:
                continue
            failures.append(f"{key}: in the model, not read by the library")
        for member in sorted(takes - model - {"Quantity", "Items"}):
            (failures if strict else notes).append(
                f"{service}:{shape}.{member}: read by the library, not in the model")
        for key in MEMBERS_NOT_YET:
            if key.startswith(f"{service}:{shape}.") and key.split(".", 1)[1] in takes:
                failures.append(f"{key}: the library reads it now; remove it from MEMBERS_NOT_YET")
    print(f"members of {len(seen)} structure(s) compared")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    facts = json.loads(subprocess.run([argv[1]], check=True, capture_output=True, text=True).stdout)
    rest = argv[2:]
    members_args = None
    if rest[:1] == ["--members"]:
        members_args, rest = rest[1:3], rest[3:]
    found = find_botocore(rest or [sys.executable])
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
    if members_args:
        check_members(members_args, root, models, load_model, failures, notes, strict)
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"DRIFT: {failure}")
    checked = len(facts["enums"]) + len(facts["limits"])
    print(f"{checked} enumeration(s)/limit(s) checked, {len(failures)} drift(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
