#!/usr/bin/env python3
"""Checks sparc::cdn output against the AWS service models shipped with botocore.

  check_botocore.py render SPARC_CDN        every document `sparc-cdn render` writes
  check_botocore.py unit UNIT_TESTS         every JSON document the unit tests produce
  check_botocore.py self-test               the checker rejects known-bad documents

Exit status 0 when every document is valid, 1 otherwise.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_schema  # noqa: E402
from sample_vars import public_key_pem  # noqa: E402

VARS = {
    "environment": "production",
    "api_gateway_domain": "api.sparc.io",
    "video_streaming_domain": "video.sparc.io",
    "cdn_domain_name": "cdn.sparc.io",
    "jwt_public_key": public_key_pem("jwt"),
    "field_encryption_public_key": public_key_pem("fle"),
    "sns_alert_topic_arn": "arn:aws:sns:us-east-1:123456789012:sparc-alerts",
}

VARIANTS = {
    "defaults": {},
    "origin-access-identity": {
        "bucket_access": "origin-access-identity",
        "aws_account_id": "123456789012",
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        "price_class": "PriceClass_100",
    },
}

FILE_NAME = re.compile(r"^(\d\d)-([a-z0-9]+)-([a-z0-9-]+)\.json$")


def check_rendered(tool):
    failures = 0
    checked = 0
    for variant, extra in VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            vars_path = pathlib.Path(tmp, "vars.json")
            vars_path.write_text(json.dumps({**VARS, **extra}))
            out = pathlib.Path(tmp, "out")
            subprocess.run([tool, "render", "--vars", str(vars_path), "--out", str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            for path in sorted(out.glob("*.json")):
                m = FILE_NAME.match(path.name)
                if not m:
                    print(f"[{variant}] {path.name}: not named NN-SERVICE-OPERATION.json")
                    failures += 1
                    continue
                service, operation = m.group(2), m.group(3)
                shape = aws_schema.operation_input_shape(service, operation)
                document = aws_schema.substitute_samples(json.loads(path.read_text()))
                errors = aws_schema.check_document(service, shape, document)
                checked += 1
                for e in errors:
                    print(f"[{variant}] {path.name} ({service} {shape}) {e}")
                failures += len(errors)
                if operation == "create-distribution":
                    # The deployed document, references filled in, must pass sparc-cdn validate.
                    resolved = pathlib.Path(tmp, "resolved-distribution.json")
                    resolved.write_text(json.dumps(document))
                    result = subprocess.run([tool, "validate", str(resolved)],
                                            capture_output=True, text=True)
                    if result.returncode != 0:
                        print(f"[{variant}] {path.name}: sparc-cdn validate failed:\n{result.stdout}{result.stderr}")
                        failures += 1
    if checked == 0:
        print("no documents rendered")
        return 1
    print(f"{checked} rendered document(s) checked, {failures} problem(s)")
    return 1 if failures else 0


def check_unit(unit_tests):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SPARC_CDN_JSON_DUMP_DIR=tmp)
        subprocess.run([unit_tests], check=True, env=env, stdout=subprocess.DEVNULL)
        failures = 0
        checked = 0
        for path in sorted(pathlib.Path(tmp).glob("*.json")):
            # Dumped as SERVICE.SHAPE.LABEL.json
            service, shape, _ = path.name.split(".", 2)
            document = aws_schema.substitute_samples(json.loads(path.read_text()))
            errors = aws_schema.check_document(service, shape, document)
            checked += 1
            for e in errors:
                print(f"{path.name}: {e}")
            failures += len(errors)
        if checked == 0:
            print("the unit tests dumped no documents")
            return 1
        print(f"{checked} unit-test document(s) checked, {failures} problem(s)")
        return 1 if failures else 0


def self_test():
    cases = [
        ("unknown member", {"Enabled": True, "Bogus": 1}, "OriginShield"),
        ("missing required", {"OriginShieldRegion": "us-east-1"}, "OriginShield"),
        ("bad enum", {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https"},
         "CustomOriginConfig"),
        ("quantity mismatch", {"Quantity": 2, "Items": ["a.example.com"]}, "Aliases"),
        ("wrong type", {"Enabled": "true"}, "OriginShield"),
        ("list too short", {"Quantity": 0, "Items": []}, "Origins"),
        ("string pattern", {"Enabled": True, "OriginShieldRegion": "virginia"}, "OriginShield"),
    ]
    failed = 0
    for label, document, shape in cases:
        if not aws_schema.check_document("cloudfront", shape, document):
            print(f"self-test: {label} was not detected")
            failed += 1
    good = {"Enabled": True, "OriginShieldRegion": "us-east-1"}
    if aws_schema.check_document("cloudfront", "OriginShield", good):
        print("self-test: a valid document was rejected")
        failed += 1
    # Below the minimum of every model (100 until botocore 1.34's 2024 models, 10 since).
    wafv2 = aws_schema.check_document("wafv2", "RateBasedStatement", {"Limit": 5, "AggregateKeyType": "IP"})
    if not wafv2:
        print("self-test: a WAF rate limit below the minimum was not detected")
        failed += 1
    print(f"self-test: {len(cases) + 2} case(s), {failed} failure(s)")
    return 1 if failed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "render":
        return check_rendered(argv[2])
    if len(argv) == 3 and argv[1] == "unit":
        return check_unit(argv[2])
    if len(argv) == 2 and argv[1] == "self-test":
        return self_test()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
