#!/usr/bin/env python3
"""End-to-end checks of the sparc-cdn command's interface: exit codes and messages.

  check_cli.py SPARC_CDN
"""

import json
import os
import pathlib
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sample_vars import sample_vars  # noqa: E402

VARS = sample_vars()


def small_files():
    """Makes writes beyond 4 KiB fail (EFBIG), as a full disk would."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def snapshot(directory):
    """Every file under `directory` with its contents."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file()}


# Variables AWS would refuse, each with the variable the error must name (exit 2).
BAD_VARIABLES = [
    ("tag value with braces", {"tags": {"Team": "k{x}"}}, "tags"),
    ("tag key with a comma", {"tags": {"a,b": "x"}}, "tags"),
    ("tag value with a control character", {"tags": {"Team": "a\tb"}}, "tags"),
    ("tag key of 129 characters", {"tags": {"k" * 129: "x"}}, "tags"),
    ("tag value of 256 characters", {"tags": {"k": "é" * 256}}, "tags"),
    ("tag key aws:", {"tags": {"aws:x": "y"}}, "tags"),
    ("account id of 5 digits", {"aws_account_id": "12345"}, "aws_account_id"),
    ("account id with letters", {"aws_account_id": "12345678901a"}, "aws_account_id"),
    ("role ARN with a short account", {"edge_function_role_arn": "arn:aws:iam::123:role/x"},
     "edge_function_role_arn"),
    ("role ARN of a user", {"realtime_logs_role_arn": "arn:aws:iam::123456789012:user/x"},
     "realtime_logs_role_arn"),
    ("kinesis ARN of another service", {"kinesis_stream_arn": "arn:aws:sqs:us-east-1:123456789012:x"},
     "kinesis_stream_arn"),
    ("bucket like an IP address", {"video_bucket": "192.168.1.1"}, "video_bucket"),
    ("bucket ending in -", {"logs_bucket": "logs-"}, "logs_bucket"),
    ("bucket with adjacent dots", {"static_assets_bucket": "a..b"}, "static_assets_bucket"),
    ("bucket with a reserved suffix", {"artifacts_bucket": "x-s3alias"}, "artifacts_bucket"),
    ("bucket region mars-1", {"bucket_region": "mars-1"}, "bucket_region"),
    ("origin shield region without Origin Shield", {"origin_shield_region": "af-south-1"},
     "origin_shield_region"),
    ("certificate outside us-east-1",
     {"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}, "certificate_arn"),
    ("domain label of 64 characters", {"api_gateway_domain": "a" * 64 + ".io"}, "api_gateway_domain"),
    ("api_max_ttl 0", {"api_max_ttl": 0}, "api_max_ttl"),
    ("video_default_ttl above video_max_ttl", {"video_default_ttl": 100, "video_max_ttl": 50},
     "video_default_ttl"),
    ("CORS origin with a path", {"cors_allowed_origins": ["https://app.example.com/"]},
     "cors_allowed_origins"),
    ("CORS header with a space", {"cors_allowed_headers": ["X Token"]}, "cors_allowed_headers"),
    ("encrypted field twice", {"encrypted_fields": ["uploader_email", "uploader_email"]},
     "encrypted_fields"),
    ("overlapping encrypted fields", {"encrypted_fields": ["uploader*", "uploader_email"]},
     "encrypted_fields"),
    ("IP address as origin", {"api_gateway_domain": "10.1.2.3"}, "api_gateway_domain"),
    ("IP address as alias", {"cdn_domain_name": "192.0.2.10"}, "cdn_domain_name"),
    ("upper-case alias", {"cdn_domain_name": "CDN.example.com"}, "lower case"),
    ("empty tag value", {"tags": {"Team": ""}}, "tags"),
]

# Variables at the edge of what AWS accepts, which must render.
GOOD_VARIABLES = [
    ("tags with every allowed character", {"tags": {"Team_1 .:/=+-@": "Vidéo équipe 2 _.:/=+-@"}}),
    ("tag of the longest lengths", {"tags": {"k" * 128: "é" * 255}}),
    ("account id", {"aws_account_id": "123456789012"}),
    ("role ARN with a path", {"edge_function_role_arn": "arn:aws:iam::123456789012:role/service/edge-auth"}),
    ("bucket region", {"bucket_region": "ap-southeast-2"}),
    ("api_max_ttl 1", {"api_max_ttl": 1}),
    ("video TTLs 0", {"video_default_ttl": 0, "video_max_ttl": 0}),
    ("CORS origins", {"cors_allowed_origins": ["https://app.example.com", "http://localhost:3000", "*"]}),
]


class Cli:
    def __init__(self, tool, tmp):
        self.tool = os.path.abspath(tool)
        self.tmp = pathlib.Path(tmp)
        self.failures = []
        self.count = 0

    def write(self, name, content):
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    def expect(self, label, args, code, stdout=None, stderr=None, preexec_fn=None):
        self.count += 1
        # Bytes that are not UTF-8 in the output become U+FFFD (and fail the checks that look).
        result = subprocess.run([self.tool, *args], capture_output=True, text=True, errors="replace",
                                timeout=60, preexec_fn=preexec_fn)
        problems = []
        if result.returncode != code:
            problems.append(f"exit {result.returncode}, expected {code}")
        if stdout is not None and stdout not in result.stdout:
            problems.append(f"stdout lacks {stdout!r}")
        if stderr is not None and stderr not in result.stderr:
            problems.append(f"stderr lacks {stderr!r}")
        if problems:
            self.failures.append(f"{label}: {'; '.join(problems)}\n  stdout: {result.stdout}\n"
                                 f"  stderr: {result.stderr}")
        return result


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        cli = Cli(argv[1], tmp)
        out = pathlib.Path(tmp, "out")
        cli.expect("no arguments", [], 2, stderr="usage")
        cli.expect("unknown command", ["deploy"], 2, stderr="unknown command")
        cli.expect("render without --out", ["render", "--vars", "x.json"], 2, stderr="--out")

        missing = dict(VARS)
        del missing["sns_alert_topic_arn"]
        cli.expect("missing variable", ["render", "--vars", cli.write("m.json", missing), "--out", str(out)],
                   2, stderr="sns_alert_topic_arn")
        cli.expect("unknown variable",
                   ["render", "--vars", cli.write("u.json", {**VARS, "enviroment": "x"}), "--out", str(out)],
                   2, stderr="unknown variable \"enviroment\"")
        cli.expect("mistyped variable",
                   ["render", "--vars", cli.write("t.json", {**VARS, "rate_limit": "many"}), "--out", str(out)],
                   2, stderr="/rate_limit")
        cli.expect("bad enum variable",
                   ["render", "--vars", cli.write("e.json", {**VARS, "price_class": "cheap"}), "--out", str(out)],
                   2, stderr="PriceClass_100")
        cli.expect("vars not JSON", ["render", "--vars", cli.write("n.json", "{"), "--out", str(out)],
                   2, stderr="not valid JSON")
        # An option given twice is a usage error, not the last one silently winning.
        for option, first, second in (("--out", str(out), str(pathlib.Path(tmp, "other"))),
                                      ("--vars", "a.json", "b.json"),
                                      ("--format", "cli", "cloudformation")):
            args = {"--out": str(out), "--vars": cli.write("v.json", VARS), "--format": "cli"}
            del args[option]
            line = ["render", option, first, option, second]
            for name, value in args.items():
                line += [name, value]
            cli.expect(f"{option} twice", line, 2,
                       stderr=f'render: {option} is given twice ("{first}" and "{second}"); give it once')
        if pathlib.Path(tmp, "other").exists():
            cli.failures.append("render --out A --out B wrote B")
        cli.expect("render", ["render", "--vars", cli.write("v.json", VARS), "--out", str(out)], 0,
                   stdout="13-cloudfront-create-distribution.json")

        # --help everywhere, --version.
        cli.expect("--help", ["--help"], 0, stdout="sparc-cdn render")
        for command in ("render", "validate", "match"):
            cli.expect(f"{command} --help", [command, "--help"], 0, stdout=f"usage: sparc-cdn {command}")
        version = cli.expect("--version", ["--version"], 0, stdout="sparc-cdn ")
        if not re.fullmatch(r"sparc-cdn \d+\.\d+\.\d+\n", version.stdout):
            cli.failures.append(f"--version prints {version.stdout!r}")
        cli.expect("--version with an argument", ["--version", "extra"], 2, stderr="usage")
        cli.expect("bad format", ["render", "--format", "yaml", "--vars", "x.json", "--out", str(out)],
                   2, stderr="cloudformation")

        # render lists what it wrote, and nothing else is left from an earlier render.
        listed = cli.expect("render lists files", ["render", "--vars", cli.write("v.json", VARS), "--out", str(out)],
                            0).stdout.split()
        on_disk = sorted(str(p) for p in out.rglob("*") if p.is_file())
        if sorted(listed) != on_disk:
            cli.failures.append(f"render listed {listed}, wrote {on_disk}")
        (out / "notes.txt").write_text("mine")
        cf = cli.expect("render cloudformation over cli", ["render", "--format", "cloudformation", "--vars",
                        cli.write("v.json", VARS), "--out", str(out)], 0, stdout="template.json").stdout.split()
        left = sorted(str(p) for p in out.rglob("*") if p.is_file())
        if left != sorted(cf + [str(out / "notes.txt")]):
            cli.failures.append(f"after a cloudformation render over a cli one, {out} holds {left}, listed {cf}")
        cli.expect("render cli again", ["render", "--vars", cli.write("v.json", VARS), "--out", str(out)], 0)
        if (out / "template.json").exists() or (out / "field-encryption-provider").exists():
            cli.failures.append("a cli render left the template of an earlier render behind")
        bad_key = {**VARS, "jwt_public_key": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"}
        cli.expect("bad PEM", ["render", "--vars", cli.write("k.json", bad_key), "--out", str(out)], 2,
                   stderr="jwt_public_key")
        cli.expect("rate limit below AWS's minimum", ["render", "--vars", cli.write("r.json", {**VARS, "waf_rate_limit": 5}),
                   "--out", str(out)], 2, stderr="waf_rate_limit")
        cli.expect("rate limit at AWS's minimum", ["render", "--vars", cli.write("r10.json", {**VARS, "waf_rate_limit": 10}),
                   "--out", str(pathlib.Path(tmp, "out10"))], 0)
        cli.expect("topic outside us-east-1", ["render", "--vars", cli.write("s.json", {
            **VARS, "sns_alert_topic_arn": "arn:aws:sns:eu-west-1:123456789012:alerts"}), "--out", str(out)], 2,
            stderr="us-east-1")
        big = cli.expect("edge package over the viewer-request limit", ["render", "--vars", cli.write(
            "big.json", {**VARS, "jwt_audience": "a" * 1100000}), "--out", str(out)], 2,
            stderr="over Lambda@Edge's limit of 1048576 bytes (1 MiB) for a viewer-request function")
        if not re.search(r"big\.json: the package of the edge function sparc-\S+-edge-auth \(index\.js \d+ bytes, "
                         r"config\.json \d+ bytes\) zips to up to \d+ bytes", big.stderr):
            cli.failures.append(f"the package size error does not name the file, function and sizes: {big.stderr}")
        for label, extra, name in BAD_VARIABLES:
            cli.expect(label, ["render", "--vars", cli.write("bad.json", {**VARS, **extra}), "--out",
                       str(pathlib.Path(tmp, "bad"))], 2, stderr=name)
        for label, extra in GOOD_VARIABLES:
            cli.expect(label, ["render", "--format", "cloudformation", "--vars",
                       cli.write("good.json", {**VARS, **extra}), "--out", str(pathlib.Path(tmp, "good"))], 0)
        cli.expect("render", ["render", "--vars", cli.write("v.json", VARS), "--out", str(out)], 0,
                   stdout="13-cloudfront-create-distribution.json")

        # A render that fails while writing (here: files limited to 4 KiB, as on a full disk)
        # leaves the earlier render as it was, and nothing beside it.
        (out / "notes.txt").write_text("mine")
        for form in ("cli", "cloudformation"):
            before = snapshot(out)
            cli.expect(f"{form} render that cannot write", ["render", "--format", form, "--vars",
                       cli.write("ttl.json", {**VARS, "video_default_ttl": 3600}), "--out", str(out)], 2,
                       stderr="cannot write", preexec_fn=small_files)
            if snapshot(out) != before:
                cli.failures.append(f"a failed {form} render changed {out}")
            strays = [p.name for p in pathlib.Path(tmp).iterdir() if p.name.startswith(".out.")]
            if strays:
                cli.failures.append(f"a failed {form} render left {strays} behind")
        cli.expect("render after a failed one", ["render", "--vars", cli.write("v.json", VARS), "--out", str(out)], 0)
        if (out / "notes.txt").read_text() != "mine":
            cli.failures.append("render lost a file it did not write")
        # DIR given as a symbolic link: the link stays, the directory it names gets the render.
        real, link = pathlib.Path(tmp, "real"), pathlib.Path(tmp, "link")
        cli.expect("render cli", ["render", "--vars", cli.write("v.json", VARS), "--out", str(real)], 0)
        link.symlink_to(real, target_is_directory=True)
        cli.expect("render through a symbolic link", ["render", "--format", "cloudformation", "--vars",
                   cli.write("v.json", VARS), "--out", str(link)], 0)
        if not link.is_symlink() or not (real / "template.json").is_file() or (real / "deploy.sh").exists():
            cli.failures.append("a render through a symbolic link did not replace the directory it names")
        # DIR is the working directory: it stays the same directory (the shell is in it).
        inode = real.stat().st_ino
        cwd = os.getcwd()
        os.chdir(real)
        try:
            cli.expect("render into the working directory", ["render", "--vars", cli.write("v.json", VARS),
                       "--out", "."], 0)
        finally:
            os.chdir(cwd)
        if real.stat().st_ino != inode or (real / "template.json").exists() or not (real / "deploy.sh").is_file():
            cli.failures.append("a render into the working directory did not render there")

        rendered = json.loads((out / "13-cloudfront-create-distribution.json").read_text())
        wrapped = cli.write("wrapped.json", rendered)
        bare = cli.write("bare.json", rendered["DistributionConfig"])
        cli.expect("validate wrapped", ["validate", wrapped], 0, stdout=": ok")
        cli.expect("validate bare", ["validate", bare], 0)
        with_etag = cli.write("etag.json", {**rendered, "ETag": "E2QWRUHEXAMPLE"})
        cli.expect("validate get-distribution-config output", ["validate", with_etag], 0)

        broken = json.loads(json.dumps(rendered["DistributionConfig"]))
        broken["Comment"] = "x" * 200
        broken["CacheBehaviors"]["Items"][0]["TargetOriginId"] = "nowhere"
        cli.expect("validate problems", ["validate", cli.write("broken.json", broken)], 1,
                   stdout="/CacheBehaviors/Items/0/TargetOriginId")
        cli.expect("validate reports every problem", ["validate", cli.write("broken2.json", broken)], 1,
                   stdout="/Comment")

        unknown = json.loads(json.dumps(rendered["DistributionConfig"]))
        unknown["Origins"]["Items"][1]["Colour"] = "blue"
        cli.expect("unknown member is a warning", ["validate", cli.write("unknown.json", unknown)], 0,
                   stderr="/Origins/Items/1/Colour: warning")
        cli.expect("unknown member with --strict", ["validate", "--strict", cli.write("unknown.json", unknown)], 1,
                   stdout="/Origins/Items/1/Colour")
        newer = json.loads(json.dumps(rendered))
        newer["DistributionConfig"]["CacheBehaviors"]["Items"][0]["GrpcConfig"] = {"Enabled": False}
        newer["DistributionConfig"]["ViewerCertificate"]["MinimumProtocolVersion"] = "TLSv1.2_2025"
        newer["DistributionConfig"]["HttpVersion"] = "http4"
        cli.expect("current API output", ["validate", cli.write("newer.json", {"ETag": "E1", **newer})], 0,
                   stderr="/DistributionConfig/HttpVersion: warning")
        # An unknown value is reported as itself, not as the required member it leaves out.
        tls13 = json.loads(json.dumps(rendered))
        tls13["DistributionConfig"]["Origins"]["Items"][2]["CustomOriginConfig"]["OriginSslProtocols"] = {
            "Quantity": 1, "Items": ["TLSv1.3"]}
        tls13["DistributionConfig"]["ViewerCertificate"]["SSLSupportMethod"] = "static-ip-v2"
        tls13_file = cli.write("tls13.json", tls13)
        result = cli.expect("unknown enum values are warnings", ["validate", tls13_file], 0,
                            stderr="TLSv1.3")
        if "static-ip-v2" not in result.stderr or "required" in result.stdout + result.stderr:
            cli.failures.append(f"unknown enum values: {result.stdout} {result.stderr}")
        result = cli.expect("unknown enum values with --strict", ["validate", "--strict", tls13_file], 1,
                            stdout="TLSv1.3")
        if "static-ip-v2" not in result.stdout or "2 problem(s)" not in result.stderr:
            cli.failures.append(f"unknown enum values with --strict: {result.stdout} {result.stderr}")
        cli.expect("not a known document", ["validate", cli.write("other.json", {"Foo": 1})], 2,
                   stderr="not a document sparc-cdn knows")
        for path in sorted(out.glob("*.json")):
            cli.expect(f"validate {path.name}", ["validate", str(path)], 0, stdout=": ok")
        cf_out = pathlib.Path(tmp, "cf")
        cli.expect("render cloudformation", ["render", "--format", "cloudformation", "--vars",
                   cli.write("v.json", VARS), "--out", str(cf_out)], 0)
        cli.expect("validate template", ["validate", str(cf_out / "template.json")], 0,
                   stdout="CloudFormation template")
        template = json.loads((cf_out / "template.json").read_text())
        template["Resources"]["Distribution"]["Properties"]["WebACLId"] = {"Ref": "Nowhere"}
        cli.expect("template with a dangling Ref", ["validate", cli.write("t.json", template)], 1,
                   stdout="Nowhere")
        template = json.loads((cf_out / "template.json").read_text())
        template["Resources"]["Distribution"]["DependsOn"] = ["WebAcl", "Elsewhere"]
        cli.expect("template with a dangling DependsOn", ["validate", cli.write("t.json", template)], 1,
                   stdout="Elsewhere")
        template = json.loads((cf_out / "template.json").read_text())
        template["Outputs"]["Dangling"] = {"Value": {"Fn::Sub": "arn:aws:s3:::${Missing}/${AWS::Region}"}}
        cli.expect("template with a dangling Fn::Sub", ["validate", cli.write("t.json", template)], 1,
                   stdout="Missing")
        template["Outputs"]["Dangling"] = {"Value": {"Fn::Sub": ["${Bucket}-${Nope.Arn}", {"Bucket": "x"}]}}
        cli.expect("template with a dangling Fn::Sub attribute", ["validate", cli.write("t.json", template)], 1,
                   stdout="Nope")
        template["Outputs"]["Dangling"] = {"Value": {"Fn::Sub": ["${Bucket}-${!Literal}-${WebAcl.Arn}", {"Bucket": "x"}]}}
        cli.expect("template with Fn::Sub variables", ["validate", cli.write("t.json", template)], 0)
        quantity = json.loads(json.dumps(rendered["DistributionConfig"]))
        quantity["Aliases"]["Quantity"] = 3
        cli.expect("quantity mismatch", ["validate", cli.write("q.json", quantity)], 2,
                   stderr="/Aliases/Quantity")

        deep = "[" * 100000 + "]" * 100000
        cli.expect("deep nesting", ["validate", cli.write("deep.json", deep)], 2, stderr="nested")
        big = cli.write("big.json", '{"Comment": "' + "x" * (17 * 1024 * 1024) + '"}')
        cli.expect("huge document", ["validate", big], 2, stderr="limit")
        cli.expect("missing file", ["validate", str(pathlib.Path(tmp, "absent.json"))], 2,
                   stderr="cannot open")
        cli.expect("validate usage", ["validate"], 2, stderr="usage")
        cli.expect("endless device", ["validate", "/dev/zero"], 2, stderr="limit")
        cli.expect("directory", ["validate", tmp], 2, stderr="is a directory")
        dup = cli.write("dup.json", '{"CachePolicyConfig": {"Name": "a", "Name": "b"}}')
        cli.expect("key given twice", ["validate", dup], 2,
                   stderr=f"sparc-cdn: {dup}: /CachePolicyConfig/Name: this key is given twice")
        # Every input error names the file (and a byte that is not UTF-8, its offset).
        deep = cli.write("deep.json", "[" * 100 + "]" * 100)
        cli.expect("deep nesting names the file", ["validate", deep], 2,
                   stderr=f"sparc-cdn: {deep}: document is nested more than 64 levels deep")
        lone = cli.write("lone.json", b'{"Comment": "vid\xc3o"}')
        for args in (["validate", lone], ["match", lone, "/a"], ["render", "--vars", lone, "--out", str(out)]):
            result = cli.expect(f"{args[0]}: a lone byte that is not UTF-8", args, 2,
                                stderr=f"sparc-cdn: {lone}: not UTF-8: byte offset 16 (line 1, column 17) is 0xC3")
            if "json.exception" in result.stderr or "\ufffd" in result.stderr:
                cli.failures.append(f"{args[0]}: the UTF-8 error is nlohmann's: {result.stderr}")
        syntax = cli.write("syntax.json", '{"Comment": }')
        cli.expect("syntax error names the file and the offset", ["validate", syntax], 2,
                   stderr=f"sparc-cdn: {syntax}: not valid JSON: byte offset 12 (line 1, column 13): ")
        directory = cli.expect("a directory is named once", ["validate", tmp], 2,
                               stderr=f"sparc-cdn: {tmp}: is a directory")
        if directory.stderr.count(tmp) != 1:
            cli.failures.append(f"the directory is named more than once: {directory.stderr}")
        newer = json.loads(json.dumps(rendered))
        newer["DistributionConfig"]["Origins"]["Items"][0]["IpAddressType"] = "dualstack"
        cli.expect("match ignores newer members", ["match", cli.write("newer.json", newer), "/api/v1"],
                   0, stdout="/api/*\n", stderr="IpAddressType")

        # Renders into one directory at once take turns and leave nothing beside it.
        together = pathlib.Path(tmp, "together")
        vars_path = cli.write("together.json", VARS)
        stale = pathlib.Path(tmp, ".together.render-abc123")
        stale.mkdir()
        os.utime(stale, (time.time() - 3600, time.time() - 3600))
        renders = [subprocess.Popen([cli.tool, "render", "--vars", vars_path, "--out", str(together)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                   for _ in range(4)]
        for i, r in enumerate(renders):
            cli.count += 1
            _, err = r.communicate(timeout=120)
            if r.returncode != 0:
                cli.failures.append(f"concurrent render {i}: exit {r.returncode}: {err}")
        leftovers = [p.name for p in pathlib.Path(tmp).iterdir() if p.name.startswith(".together.")]
        cli.count += 1
        if leftovers:
            cli.failures.append(f"concurrent renders left {leftovers} beside the directory")

        cli.expect("match video", ["match", wrapped, "/video/abc/seg-1.ts"], 0, stdout="/video/*\n")
        cli.expect("match api", ["match", bare, "/api/v1/videos?page=2"], 0, stdout="/api/*\n")
        cli.expect("match ws", ["match", bare, "/ws/live"], 0, stdout="/ws/*\n")
        cli.expect("match default", ["match", bare, "/index.html"], 0, stdout="*\n")
        cli.expect("match is case-sensitive", ["match", bare, "/VIDEO/a.ts"], 0, stdout="*\n")
        cli.expect("match usage", ["match", bare], 2, stderr="usage")

        for failure in cli.failures:
            print(failure)
        print(f"{cli.count} check(s), {len(cli.failures)} failure(s)")
        return 1 if cli.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
