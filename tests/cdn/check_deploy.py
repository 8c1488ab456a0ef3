#!/usr/bin/env python3
"""Checks the deploy.sh that `sparc-cdn render` writes.

  check_deploy.py order SPARC_CDN       every call's references are created before it
  check_deploy.py shellcheck SPARC_CDN  deploy.sh is shellcheck-clean
  check_deploy.py dry-run SPARC_CDN     deploy.sh runs against a stand-in `aws` command and
                                        sends every document with its references filled in

Exit status 0 on success, 1 on failure.
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sample_vars import public_key_pem  # noqa: E402

VARS = {
    "environment": "staging",
    "api_gateway_domain": "api.staging.sparc.io",
    "video_streaming_domain": "video.staging.sparc.io",
    "cdn_domain_name": "cdn.staging.sparc.io",
    "jwt_public_key": public_key_pem("jwt"),
    "field_encryption_public_key": public_key_pem("fle"),
    "sns_alert_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
}

VARIANTS = [{}, {"bucket_access": "origin-access-identity", "aws_account_id": "123456789012"}]

TOKEN = re.compile(r"\{\{(\w+)\}\}")


def render(tool, tmp, extra):
    vars_path = pathlib.Path(tmp, "vars.json")
    vars_path.write_text(json.dumps({**VARS, **extra}))
    out = pathlib.Path(tmp, "out")
    subprocess.run([tool, "render", "--vars", str(vars_path), "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def check_order(out):
    """Replays deploy.sh's top-level steps and checks each document's references."""
    problems = []
    defined = set()
    called = []
    for number, line in enumerate((out / "deploy.sh").read_text().splitlines(), 1):
        if not line or line[0].isspace() or line.startswith("#"):
            continue
        if line.startswith("substitute "):
            defined.add(line.split()[1])
        elif line.startswith("call "):
            words = shlex.split(line)
            file_name = words[1]
            path = out / file_name
            if not path.exists():
                problems.append(f"line {number}: {file_name} does not exist")
                continue
            for name in sorted(set(TOKEN.findall(path.read_text()))):
                if name not in defined:
                    problems.append(f"line {number}: {file_name} refers to {{{{{name}}}}} "
                                    "before any step creates it")
            if len(words) == 6:
                if words[5] in defined:
                    problems.append(f"line {number}: {words[5]} is created twice")
                defined.add(words[5])
            elif len(words) != 4:
                problems.append(f"line {number}: call takes FILE SERVICE OPERATION [QUERY NAME]")
            service, operation = file_name[3:-5].split("-", 1)
            if words[2:4] != [service, operation]:
                problems.append(f"line {number}: {file_name} is sent as {words[2]} {words[3]}")
            called.append(file_name)
    documents = sorted(p.name for p in out.glob("[0-9][0-9]-*.json"))
    if called != documents:
        problems.append(f"deploy.sh calls {called}, the directory holds {documents}")
    if not called:
        problems.append("deploy.sh makes no calls")
    return problems


# A stand-in for the AWS CLI: records each call and its input document, answers queries.
FAKE_AWS = r'''#!PYTHON
import json, os, pathlib, sys
log = pathlib.Path(os.environ["FAKE_AWS_LOG"])
args = sys.argv[1:]
entry = {"args": args}
for i, arg in enumerate(args):
    if arg == "--cli-input-json":
        entry["input"] = json.loads(pathlib.Path(args[i + 1][len("file://"):]).read_text())
count = len(list(log.glob("*.json")))
(log / f"{count:03}.json").write_text(json.dumps(entry))
if "--query" in args:
    query = args[args.index("--query") + 1]
    if args[:2] == ["sts", "get-caller-identity"]:
        print("123456789012")
    elif args[:2] == ["acm", "list-certificates"]:
        print("arn:aws:acm:us-east-1:123456789012:certificate/fake")
    elif query == "Version":
        print("7")
    else:
        print("fake-" + query.replace(".", "-") + f"-{count}")
'''


def dry_run(out, tmp):
    bin_dir = pathlib.Path(tmp, "bin")
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS.replace("PYTHON", sys.executable, 1))
    # deploy.sh's python3 is this interpreter too (no wrapper start-up per substitution).
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "aws").chmod(0o755)
    log = pathlib.Path(tmp, "log")
    log.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_AWS_LOG=str(log))
    result = subprocess.run(["sh", str(out / "deploy.sh")], env=env, capture_output=True, text=True)
    problems = []
    if result.returncode != 0:
        problems.append(f"deploy.sh failed ({result.returncode}): {result.stderr}")
    entries = [json.loads(p.read_text()) for p in sorted(log.glob("*.json"))]
    sent = [e for e in entries if "input" in e]
    documents = sorted(out.glob("[0-9][0-9]-*.json"))
    if len(sent) != len(documents):
        problems.append(f"{len(sent)} documents sent, {len(documents)} rendered")
    for entry in sent:
        text = json.dumps(entry["input"])
        if "{{" in text:
            problems.append(f"{' '.join(entry['args'][:2])} was sent unresolved references")
    distribution = [e for e in sent if e["args"][:2] == ["cloudfront", "create-distribution"]]
    if distribution and "fake-Summary-ARN" not in json.dumps(distribution[0]["input"]):
        problems.append("the distribution does not carry the created web ACL ARN")
    if not any(e["args"][:2] == ["s3", "cp"] for e in entries):
        problems.append("the edge function package is not uploaded")
    for path in documents:
        if "{{" not in path.read_text() and path.name.endswith("create-distribution.json"):
            problems.append("the rendered documents were modified in place")
    return problems


def main(argv):
    if len(argv) != 3 or argv[1] not in ("order", "shellcheck", "dry-run"):
        print(__doc__, file=sys.stderr)
        return 2
    failures = 0
    for extra in VARIANTS:
        with tempfile.TemporaryDirectory() as tmp:
            out = render(argv[2], tmp, extra)
            if argv[1] == "order":
                problems = check_order(out)
                for p in problems:
                    print(f"{extra or 'defaults'}: {p}")
                failures += len(problems)
            elif argv[1] == "dry-run":
                problems = dry_run(out, tmp)
                for p in problems:
                    print(f"{extra or 'defaults'}: {p}")
                failures += len(problems)
            else:
                result = subprocess.run(["shellcheck", "--shell=sh", "--severity=style",
                                         str(out / "deploy.sh")])
                failures += result.returncode != 0
    print(f"{len(VARIANTS)} rendering(s) checked, {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
