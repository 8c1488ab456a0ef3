#!/usr/bin/env python3
"""Checks the generated dashboard and alert rules against what the library exports.

- The names `sparc-db monitoring --list-metrics` prints are exactly the sample names of a real
  metrics_text() exposition (so the exported list is not stale).
- Every sparc_db_* name the dashboard, the rules and the rules' unit tests use is exported.
- Every dashboard query is valid PromQL (promtool checks it as a recording rule).
- Every alert has a `for`, a severity label and summary/description annotations.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

NAME = re.compile(r"sparc_db_[A-Za-z0-9_]*")
SEVERITIES = {"critical", "warning", "info"}


def fail(problems):
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    sys.exit(1)


def exposition_names(path):
    names = set()
    for line in Path(path).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        if m:
            names.add(m.group(1))
    return names


def dashboard_queries(dashboard):
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    return queries


def rules_from_yaml(text):
    try:
        import yaml  # noqa: PLC0415
    except ImportError:
        yaml = None
    if yaml is not None:
        doc = yaml.safe_load(text)
        return [r for g in doc["groups"] for r in g["rules"]]
    # Fallback: the generator writes one key per line with JSON-quoted values.
    rules, current, section = [], None, None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("- alert:"):
            current = {"alert": s.split(":", 1)[1].strip(), "labels": {}, "annotations": {}}
            rules.append(current)
            section = None
        elif current is None or not s or s.startswith("#"):
            continue
        elif s in ("labels:", "annotations:"):
            section = s[:-1]
        else:
            key, value = s.split(":", 1)
            value = value.strip()
            value = json.loads(value) if value.startswith('"') else value
            if key in ("expr", "for"):
                current[key] = value
                section = None
            elif section:
                current[section][key] = value
    return rules


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sparc-db", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--rules-test", required=True)
    ap.add_argument("--promtool", default="promtool")
    args = ap.parse_args()
    problems = []

    listed = subprocess.run([args.sparc_db, "monitoring", "--list-metrics"], check=True,
                            capture_output=True, text=True).stdout.split()
    exported = set(listed)
    if not exported:
        fail(["sparc-db monitoring --list-metrics printed nothing"])
    served = exposition_names(args.metrics)
    for name in sorted(exported - served):
        problems.append(f"{name} is listed as exported but absent from metrics_text()")
    for name in sorted(served - exported):
        problems.append(f"metrics_text() serves {name}, which the exported list lacks")

    dashboard = json.loads(Path(args.dashboard).read_text())
    queries = dashboard_queries(dashboard)
    if not queries:
        problems.append("the dashboard has no queries")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    if "service" not in variables:
        problems.append("the dashboard has no service variable")
    template_queries = [json.dumps(v.get("query", "")) for v in variables.values()]
    texts = {"dashboard": "\n".join([q for _, q in queries] + template_queries)}

    rules_text = Path(args.rules).read_text()
    rules = rules_from_yaml(rules_text)
    texts["alert rules"] = "\n".join(r["expr"] for r in rules)
    texts["alert rules tests"] = Path(args.rules_test).read_text()
    for where, text in texts.items():
        for name in sorted(set(NAME.findall(text))):
            if name not in exported:
                problems.append(f"the {where} use {name}, which the library does not export")

    if len(rules) == 0:
        problems.append("no alert rules")
    for r in rules:
        name = r.get("alert", "?")
        if not r.get("for"):
            problems.append(f"{name} has no for")
        if r.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name} has no severity label in {sorted(SEVERITIES)}")
        for key in ("summary", "description"):
            if not r.get("annotations", {}).get(key):
                problems.append(f"{name} has no {key} annotation")
    tested = set(re.findall(r"alertname:\s*(\w+)", texts["alert rules tests"]))
    for r in rules:
        if r.get("alert") not in tested:
            problems.append(f"{r.get('alert')} has no promtool unit test")

    # The dashboard's queries, with Grafana's variables filled in, must parse as PromQL.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboard-queries.yml"
        lines = ["groups:", "  - name: dashboard", "    rules:"]
        for i, (_, expr) in enumerate(queries):
            expr = expr.replace("$__rate_interval", "5m").replace("$service", ".+")
            lines.append(f"      - record: sparc_dashboard_query_{i}")
            lines.append(f"        expr: {json.dumps(expr)}")
        path.write_text("\n".join(lines) + "\n")
        check = subprocess.run([args.promtool, "check", "rules", str(path)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            problems.append("dashboard queries are not valid PromQL:\n" + check.stdout +
                            check.stderr)

    if problems:
        fail(problems)
    print(f"ok: {len(exported)} exported names, {len(queries)} dashboard queries, "
          f"{len(rules)} alert rules")


if __name__ == "__main__":
    main()
