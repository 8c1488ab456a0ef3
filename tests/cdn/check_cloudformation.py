#!/usr/bin/env python3
"""Checks of `sparc-cdn render --format cloudformation`.

  check_cloudformation.py lint SPARC_CDN CFN_LINT   cfn-lint finds no error in the template
                                                   of each preset variant (exit 77, a
                                                   skip, when CFN_LINT is empty or missing)
  check_cloudformation.py one-change SPARC_CDN      rendering twice with one variable changed
                                                   changes exactly the resources using it
  check_cloudformation.py provider SPARC_CDN        the field-level encryption provider
                                                   turns CloudFormation's string properties
                                                   into valid API calls (needs botocore)
"""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sample_vars import public_key_pem, sample_vars  # noqa: E402

SKIP = 77

VARIANTS = {
    "defaults": {},
    "origin-access-identity": {
        "bucket_access": "origin-access-identity",
        "aws_account_id": "123456789012",
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        "kinesis_stream_arn": "arn:aws:kinesis:us-east-1:123456789012:stream/shared-logs",
        "realtime_logs_role_arn": "arn:aws:iam::123456789012:role/shared-logs",
        "edge_function_role_arn": "arn:aws:iam::123456789012:role/edge",
    },
    "websocket-and-keys": {
        "websocket_api_domain": "ws.dev.sparc.io",
        "jwt_public_keys": {"2025-01": public_key_pem("a"), "2025-06": public_key_pem("b")},
        "jwt_audience": "sparc-api",
        "tags": {"Team": "video", "CostCentre": "cdn"},
    },
    # Tags at the edge of what every taggable resource's schema accepts.
    "widest-tags": {
        "tags": {"Team_1 .:/=+-@": "Vidéo équipe 2 _.:/=+-@", "k" * 128: "é" * 255},
        "cors_allowed_origins": ["https://app.example.com"],
    },
}


def render(tool, directory, variables, fmt="cloudformation"):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vars_path = directory / "vars.json"
    vars_path.write_text(json.dumps(variables))
    out = directory / "out"
    result = subprocess.run([tool, "render", "--format", fmt, "--vars", str(vars_path),
                             "--out", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"render failed ({result.returncode}): {result.stderr}")
    return out


def lint(tool, cfn_lint):
    if not cfn_lint or not shutil.which(cfn_lint):
        print("SKIPPED: cfn-lint not found (it is a pip package: pip install cfn-lint); "
              "the template was not checked")
        return SKIP
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in VARIANTS.items():
            out = render(tool, pathlib.Path(tmp, name), sample_vars(**extra))
            # W3002: Code is a local path, for `aws cloudformation package`, by design.
            result = subprocess.run([cfn_lint, "--format", "parseable", "--regions", "us-east-1",
                                     "--ignore-checks", "W3002", "--", str(out / "template.json")],
                                    capture_output=True, text=True)
            lines = [line for line in result.stdout.splitlines() if line.strip()]
            errors = [line for line in lines if ":E" in line or result.returncode & 1]
            for line in lines:
                print(f"[{name}] {line}")
            if result.returncode & 1 or result.returncode & 2 or errors:
                print(f"[{name}] cfn-lint exit {result.returncode}: {len(errors)} error(s) "
                      f"{result.stderr}")
                failures += 1
            else:
                print(f"[{name}] cfn-lint: no errors ({len(lines)} warning(s)/info)")
    return 1 if failures else 0


def resources(out):
    return json.loads((out / "template.json").read_text())["Resources"]


def changed(a, b):
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def one_change(tool):
    cases = [
        ({"video_default_ttl": 3600}, ["VideoCachePolicy"]),
        ({"video_max_ttl": 604800}, ["VideoCachePolicy"]),
        ({"api_max_ttl": 120}, ["ApiCachePolicy"]),
        ({"static_default_ttl": 600}, ["StaticCachePolicy"]),
        ({"waf_rate_limit": 500}, ["WebAcl"]),
        ({"realtime_log_sampling_rate": 25}, ["RealtimeLogConfig"]),
        ({"origin_latency_threshold_ms": 800}, ["AlarmOriginLatency"]),
        ({"jwt_issuer": "https://auth.sparc.io"}, ["EdgeAuthFunctionVersion"]),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        base_vars = sample_vars()
        base = resources(render(tool, pathlib.Path(tmp, "base"), base_vars))
        again = resources(render(tool, pathlib.Path(tmp, "again"), base_vars))
        if base != again:
            print(f"rendering the same variables twice differs in {changed(base, again)}")
            failures += 1
        for i, (extra, expected) in enumerate(cases):
            other = resources(render(tool, pathlib.Path(tmp, str(i)), {**base_vars, **extra}))
            got = changed(base, other)
            status = "ok" if got == expected else "FAILED"
            print(f"{status}: {extra} changes {got}, expected {expected}")
            failures += got != expected
    print(f"{len(cases) + 1} case(s), {failures} failure(s)")
    return 1 if failures else 0


class FakeCloudFront:
    """Records calls; validates their parameters against the botocore model."""

    def __init__(self):
        import botocore.session
        from botocore.validate import ParamValidator
        self.model = botocore.session.get_session().get_service_model("cloudfront")
        self.validator = ParamValidator()
        self.calls = []
        self.meta = type("Meta", (), {"service_model": self.model})
        from botocore.exceptions import ClientError
        self.exceptions = type("Exceptions", (), {"ClientError": ClientError})

    def __getattr__(self, name):
        operation = "".join(part.capitalize() for part in name.split("_"))

        def call(**params):
            report = self.validator.validate(params, self.model.operation_model(operation).input_shape)
            if report.has_errors():
                raise ValueError(report.generate_report())
            self.calls.append((name, params))
            if name.startswith("create_"):
                member = "FieldLevelEncryptionProfile" if "profile" in name else "FieldLevelEncryption"
                return {member: {"Id": "E123EXAMPLE"}, "ETag": "E1"}
            return {"ETag": "E2"}
        return call


def stringify(node):
    """What CloudFormation does to custom resource properties: every scalar becomes a string."""
    if isinstance(node, dict):
        return {k: stringify(v) for k, v in node.items()}
    if isinstance(node, list):
        return [stringify(v) for v in node]
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def provider(tool):
    try:
        import botocore  # noqa: F401
    except ImportError:
        print("SKIPPED: this python3 cannot import botocore")
        return SKIP
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        out = render(tool, pathlib.Path(tmp, "r"), sample_vars())
        spec = importlib.util.spec_from_file_location(
            "provider", out / "field-encryption-provider" / "index.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["boto3"] = type(sys)("boto3")  # the handler imports it; the fake replaces it
        spec.loader.exec_module(module)
        responses = []
        module.respond = lambda event, status, physical, reason="": responses.append(
            (status, physical, reason))
        template = json.loads((out / "template.json").read_text())["Resources"]
        for logical in ("FieldEncryptionProfile", "FieldEncryptionConfig"):
            resource = template[logical]
            properties = stringify(resource["Properties"])
            # Refs resolve to ids at deploy time.
            key_id = next(k for k, v in template.items()
                          if v["Type"] == "AWS::CloudFront::PublicKey")
            properties = json.loads(json.dumps(properties).replace(
                '{"Ref": "%s"}' % key_id, '"K123"').replace(
                '{"Ref": "FieldEncryptionProfile"}', '"P123"'))
            for request, physical in (("Create", None), ("Update", "E123EXAMPLE"),
                                      ("Delete", "E123EXAMPLE"), ("Delete", "failed-1")):
                fake = FakeCloudFront()
                event = {"RequestType": request, "ResourceType": resource["Type"],
                         "ResourceProperties": properties, "StackId": "s", "RequestId": "1",
                         "LogicalResourceId": logical, "ResponseURL": "https://example"}
                if physical:
                    event["PhysicalResourceId"] = physical
                responses.clear()
                module.handler(event, None, client=fake)
                status, got_physical, reason = responses[-1]
                ops = [name for name, _ in fake.calls]
                print(f"{logical} {request} {physical}: {status} {got_physical} {ops} {reason}")
                if status != "SUCCESS" or got_physical != "E123EXAMPLE" and physical != "failed-1":
                    failures.append(f"{logical} {request}")
                expected = {"Create": 1, "Update": 2, "Delete": 2 if physical == "E123EXAMPLE" else 0}
                if len(ops) != expected[request]:
                    failures.append(f"{logical} {request}: calls {ops}")
        # A property the model does not define must fail the resource, not be dropped.
        fake = FakeCloudFront()
        bad = stringify(template["FieldEncryptionProfile"]["Properties"])
        bad["FieldLevelEncryptionProfileConfig"]["Colour"] = "blue"
        module.handler({"RequestType": "Create", "ResourceType": "Custom::FieldLevelEncryptionProfile",
                        "ResourceProperties": bad, "StackId": "s", "RequestId": "2",
                        "LogicalResourceId": "x", "ResponseURL": "https://example"}, None, client=fake)
        if responses[-1][0] != "FAILED" or "Colour" not in responses[-1][2]:
            failures.append(f"unknown member not refused: {responses[-1]}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def main(argv):
    if len(argv) in (3, 4) and argv[1] == "lint":
        return lint(argv[2], argv[3] if len(argv) == 4 else "")
    if len(argv) == 3 and argv[1] == "one-change":
        return one_change(argv[2])
    if len(argv) == 3 and argv[1] == "provider":
        return provider(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
