"""The JSON Schema and `wardctl check` agree: every shipped example and policy
fragment passes both, and broken profiles are rejected by both. Needs
python3-jsonschema and a build (WARD_BUILD, default /work/main/build)."""

import copy
import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
POLICIES = PROFILES / "policies"
EXAMPLES = sorted((PROFILES / "examples").glob("*.json"))
FRAGMENTS = sorted(POLICIES.glob("*.json"))
BUILD = Path(os.environ.get("WARD_BUILD", "/work/main/build"))
WARDCTL = BUILD / "wardctl"
DIAG = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?:(?P<path>[^ ]+): )?(?P<msg>.+)$")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


SCHEMA = load(PROFILES / "ward-profile.schema.json")
PROFILE = Draft202012Validator(SCHEMA)
# A fragment file is the schema's policy definition on its own.
FRAGMENT = Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": "#/$defs/policy"})


def wardctl_check(*paths):
    if not WARDCTL.exists():
        pytest.skip(f"{WARDCTL} not built (set WARD_BUILD)")
    return subprocess.run(
        [str(WARDCTL), "check", "--policies", str(POLICIES), *map(str, paths)],
        capture_output=True, text=True, timeout=60)


def schema_errors(validator, doc):
    return [e.message for e in validator.iter_errors(doc)]


def test_schema_is_valid_2020_12():
    Draft202012Validator.check_schema(SCHEMA)


def test_there_is_something_to_check():
    assert len(EXAMPLES) >= 2
    assert {p.stem for p in FRAGMENTS} >= {"hardened", "web", "database", "session-locked"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_valid(path):
    doc = load(path)
    assert schema_errors(PROFILE, doc) == []
    r = wardctl_check(path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert doc["tenant"] == path.stem, "an example's file name is its tenant name"


@pytest.mark.parametrize("path", FRAGMENTS, ids=lambda p: p.name)
def test_fragment_valid(path, tmp_path):
    assert schema_errors(FRAGMENT, load(path)) == []
    # wardctl checks profiles: one that uses the fragment by name, alone.
    profile = tmp_path / "probe.json"
    profile.write_text(json.dumps({
        "tenant": "probe",
        "services": {"svc": {"exec": ["/bin/true"], "policy": [path.stem]}},
    }))
    r = wardctl_check(profile)
    assert r.returncode == 0, r.stderr


def test_examples_do_not_overlap():
    ranges, subnets = [], []
    for path in EXAMPLES:
        doc = load(path)
        ids = doc["ids"]
        assert ids["uid"] >= 200000 and ids["count"] == 65536
        ranges.append((ids["uid"], ids["uid"] + ids["count"] - 1, path.name))
        subnets.append((ipaddress.ip_network(doc["network"]["subnet"]), path.name))
    ranges.sort()
    for (_, end, a), (start, _, b) in zip(ranges, ranges[1:]):
        assert end < start, f"uid ranges of {a} and {b} overlap"
    for i, (net, a) in enumerate(subnets):
        for other, b in subnets[i + 1:]:
            assert not net.overlaps(other), f"subnets of {a} and {b} overlap"


def test_schema_families_match_seccomp_module():
    """The schema's address family names are model/names.c's table."""
    source = (ROOT / "supervisor" / "model" / "names.c").read_text()
    in_c = set(re.findall(r'\{"([a-z0-9]+)", AF_[A-Z0-9]+\}', source))
    prop = SCHEMA["$defs"]["policy"]["properties"]["seccomp"]["properties"]["address_families"]
    in_schema = set(prop["anyOf"][0]["items"]["enum"])
    assert len(in_c) >= 30 and in_schema == in_c


def test_schema_groups_match_seccomp_module():
    """The schema lists systemd's group names; seccomp-groups.c is the source."""
    source = (ROOT / "supervisor" / "model" / "seccomp-groups.c").read_text()
    in_c = set(re.findall(r'"(@[a-z-]+)"', source))
    in_schema = set(SCHEMA["$defs"]["syscall"]["anyOf"][0]["enum"])
    assert in_schema == in_c


BASE = {
    "tenant": "broken",
    "ids": {"uid": 300000, "count": 65536},
    "network": {"subnet": "10.250.0.0/24",
                "ingress": [{"host_port": 9443, "service": "web", "port": 8443}]},
    "services": {"web": {"exec": ["/bin/true"], "policy": ["hardened"]}},
    "sessions": {"groups": ["staff"], "exec": ["/bin/sh"]},
}


def with_change(change):
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


def svc(doc):
    return doc["services"]["web"]


# (name, change, the path wardctl reports, a word of its message)
BROKEN = [
    ("missing tenant", lambda d: d.pop("tenant"), None, 'missing required key "tenant"'),
    ("unknown root key", lambda d: d.update(tenants=1), "tenants", "unknown key"),
    ("display name with a bidi override",
     lambda d: d.update(display_name="Praxis \u202eexe.txt"), "display_name",
     "control characters"),
    ("bad tenant name", lambda d: d.update(tenant="Broken"), "tenant", "invalid name"),
    ("no services", lambda d: d.update(services={}), "services", "must not be empty"),
    ("relative exec", lambda d: svc(d).update(exec=["bin/true"]),
     "services.web.exec[0]", "absolute path"),
    ("dotdot in ro", lambda d: svc(d).update(policy=[{"filesystem": {"ro": ["/usr/../etc"]}}]),
     "services.web.policy[0].filesystem.ro[0]", '".."'),
    ("bind under /proc", lambda d: svc(d).update(policy=[{"filesystem": {"rw": ["/proc/sys"]}}]),
     "services.web.policy[0].filesystem.rw[0]", "/proc or /dev"),
    ("bad size", lambda d: svc(d).update(policy=[{"limits": {"memory": "12Q"}}]),
     "services.web.policy[0].limits.memory", "invalid size"),
    ("tmpfs size 0", lambda d: svc(d).update(policy=[{"filesystem": {"tmpfs": {"/tmp": "0"}}}]),
     'services.web.policy[0].filesystem.tmpfs["/tmp"]', "must not be 0"),
    ("low uid", lambda d: d["ids"].update(uid=1000), "ids.uid", "must be between"),
    ("subnet /31", lambda d: d["network"].update(subnet="10.250.0.0/31"),
     "network.subnet", "prefix"),
    ("ingress port 0", lambda d: d["network"]["ingress"][0].update(port=0),
     "network.ingress[0].port", "must be between"),
    ("env name", lambda d: svc(d).update(policy=[{"env": {"MY.VAR": "1"}}]),
     'services.web.policy[0].env["MY.VAR"]', "environment variable name"),
    ("unknown fragment key", lambda d: svc(d).update(policy=[{"sandbox": True}]),
     "services.web.policy[0].sandbox", "unknown key"),
    ("seccomp default", lambda d: svc(d).update(policy=[{"seccomp": {"default": "allow"}}]),
     "services.web.policy[0].seccomp.default", 'got "allow"'),
    ("cpu 0", lambda d: svc(d).update(policy=[{"limits": {"cpu": 0}}]),
     "services.web.policy[0].limits.cpu", "greater than 0"),
    ("sessions without groups", lambda d: d["sessions"].pop("groups"),
     "sessions", 'missing required key "groups"'),
    ("bad capability spelling", lambda d: svc(d).update(
        policy=[{"capabilities": {"keep": ["cap_net_raw"]}}]),
     "services.web.policy[0].capabilities.keep[0]", "unknown capability"),
    ("connect without port", lambda d: svc(d).update(connect=["web"]),
     "services.web.connect[0]", "invalid connect"),
    ("address family spelling", lambda d: svc(d).update(
        policy=[{"seccomp": {"address_families": ["AF_INET"]}}]),
     "services.web.policy[0].seccomp.address_families[0]", "unknown address family"),
    ("any with others", lambda d: svc(d).update(
        policy=[{"seccomp": {"address_families": ["any", "unix"]}}]),
     "services.web.policy[0].seccomp.address_families", '"any" stands alone'),
    ("proc subset", lambda d: svc(d).update(policy=[{"filesystem": {"proc_subset": "none"}}]),
     "services.web.policy[0].filesystem.proc_subset", 'must be "all" or "pid"'),
]


@pytest.mark.parametrize("name,change,path,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_rejected_by_both(name, change, path, words, tmp_path):
    doc = with_change(change)
    assert schema_errors(PROFILE, doc), "the schema accepted it"
    f = tmp_path / "broken.json"
    f.write_text(json.dumps(doc, indent=2))
    r = wardctl_check(f)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines, "no error printed"
    for line in lines:
        assert DIAG.match(line), f"not file:line:col: path: message: {line!r}"
    hits = [m for m in map(DIAG.match, lines) if m.group("path") == path and words in m.group("msg")]
    assert hits, r.stderr


# What only the loader can know; the schema accepts these on purpose.
LOADER_ONLY = [
    ("unknown syscall", lambda d: svc(d).update(policy=[{"seccomp": {"allow": ["fooo"]}}]),
     'unknown syscall "fooo"'),
    ("unknown fragment", lambda d: svc(d).update(policy=["nope"]),
     'unknown policy fragment "nope"'),
    ("unknown service", lambda d: svc(d).update(after=["db"]), 'unknown service "db"'),
    ("host bits", lambda d: d["network"].update(subnet="10.250.0.1/24"), "host bits"),
    ("delays", lambda d: svc(d).update(policy=[{"restart": {"delay_ms": 5000, "max_delay_ms": 10}}]),
     "is less than delay_ms"),
    ("session proc subset", lambda d: (
        svc(d).update(policy=[{"filesystem": {"proc_subset": "all"}}]),
        d["sessions"].update(service="web", policy=[{"filesystem": {"proc_subset": "pid"}}])),
     'filesystem.proc_subset "pid" cannot apply'),
]


@pytest.mark.parametrize("name,change,words", LOADER_ONLY, ids=[b[0] for b in LOADER_ONLY])
def test_loader_only_checks(name, change, words, tmp_path):
    doc = with_change(change)
    assert schema_errors(PROFILE, doc) == []
    f = tmp_path / "broken.json"
    f.write_text(json.dumps(doc, indent=2))
    r = wardctl_check(f)
    assert r.returncode == 2
    assert words in r.stderr


def test_wardctl_reports_every_error_and_every_file(tmp_path):
    bad = with_change(lambda d: (d.update(tenant="X"), svc(d).update(exec=["x"])))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(bad))
    b.write_text("{\n  \"tenant\": \"b\",\n  \"services\": {}\n}\n")
    r = wardctl_check(a, b)
    assert r.returncode == 2
    assert f"{a}:" in r.stderr and f"{b}:3:15: services: must not be empty" in r.stderr
    assert "tenant: invalid name" in r.stderr and "exec[0]: must be an absolute path" in r.stderr


def test_wardctl_usage():
    if not WARDCTL.exists():
        pytest.skip(f"{WARDCTL} not built (set WARD_BUILD)")
    r = subprocess.run([str(WARDCTL), "check"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage: wardctl check" in r.stderr
    r = subprocess.run([str(WARDCTL), "check", "--bogus", "x.json"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage:" in r.stderr
    r = subprocess.run([str(WARDCTL), "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = subprocess.run([str(WARDCTL), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "check" in r.stdout
    r = subprocess.run([str(WARDCTL), "check", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--policies" in r.stdout
