"""Bad input that wardd must survive with a clear error and no effect on the
tenants it runs (issue 7, "bad-input corpus").

1. A corpus of malformed tenant profiles (CASES below, generated here so that
   every case names its own tenant and uid range). Each one goes through the
   three front doors of the loader, each its own test id:
     - test_daemon_rejects: dropped into the tenants dir of a running wardd
       that runs a good tenant, then `wardctl reload`: audited as
       `profile-rejected` with errors naming the file (and line:col and the
       JSON path where the case has them); wardd runs on, the good tenant
       keeps its pid, `wardctl status` answers, no fd is leaked.
     - test_check_rejects: `wardctl check` exits 2, every error on stderr as
       FILE:LINE:COL: PATH: MESSAGE.
     - test_run_rejects: `wardd run` exits 125 and starts no sandbox.
   Cases about the file rather than its text (symlink, mode, owner, a file
   name that is no tenant name, a tenant that is not the file's, uid ranges
   that overlap a running tenant) are properties the daemon checks when it
   reads its tenants dir; `wardctl check` and `wardd run` validate the
   text they are given, so those cases go through the daemon only (scope
   DAEMON; see the README: "A profile is refused ... when it is not a
   regular root-owned file ...").
2. Control-socket abuse against a running wardd: over-long lines, partial
   lines then silence, binary garbage, 1000 connections held at once, and
   requests naming tenants and services that do not exist or are not names.

See daemon_fixture.py for the world a test gets and conftest.py for how to
run the suite (as root, in a throwaway network and mount namespace).
"""

import copy
import json
import os
import random
import re
import subprocess
import threading
import time

import pytest

from conftest import ID_COUNT, POLICIES, WARDD, wait_for
from daemon_fixture import (WARDCTL, Client, daemon_built, dw, fd_count,  # noqa: F401
                            proc_alive, raise_nofile, restore_nofile, settled)

SLEEP = ("sleep", "60")
# What a bad tenant's service would print if a sandbox ever ran it.
MARK = "BAD-PROFILE-SANDBOX-RAN"
MIB = 1 << 20
PROFILE_MAX = 4 * MIB  # WARD_PROFILE_MAX_BYTES

ALL, DAEMON, DAEMON_RUN = "all", "daemon", "daemon+run"

DIAG = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<rest>.*)$")

# ---------------------------------------------------------------- the corpus


class Ctx:
    """What a case builds its file from: the bad tenant's name (also the
    file's stem), its uid, the good tenant's uid, and the world."""

    def __init__(self, dw, name, good_uid=None):
        self.dw = dw
        self.name = name
        self.uid = dw.uid_of(name)
        self.good_uid = good_uid
        self.svc = dw.service("say", MARK, *SLEEP)

    def doc(self, extra=()):
        d = {"tenant": self.name, "ids": {"uid": self.uid, "count": ID_COUNT},
             "services": {"app": copy.deepcopy(self.svc)}}
        if "net" in extra:
            d["network"] = {"subnet": "10.250.0.0/24",
                            "egress": [{"to": "10.0.0.0/8", "tcp": [443]}],
                            "ingress": [{"host_port": 9443, "service": "app", "port": 8443}]}
        if "sess" in extra:
            d["sessions"] = {"groups": ["staff"], "exec": ["/bin/sh"], "max": 2}
        if "env" in extra:
            put(d, FRAG + ("env",), {"LANG": "C.UTF-8"})
        if "two" in extra:
            d["services"]["db"] = copy.deepcopy(self.svc)
        return d

    def text(self, extra=()):
        return dumps(self.doc(extra))


def dumps(doc):
    return (json.dumps(doc, indent=2) + "\n").encode()


def put(doc, path, value):
    cur = doc
    for k in path[:-1]:
        if isinstance(cur, dict) and k not in cur:
            cur[k] = {}
        cur = cur[k]
    cur[path[-1]] = value


def delete(doc, path):
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    del cur[path[-1]]


def ward_path(path):
    """A path as ward prints it: services.app.policy[1].filesystem.tmpfs["/x"]."""
    out = ""
    for k in path:
        if isinstance(k, int):
            out += f"[{k}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", k):
            out += ("." if out else "") + k
        else:
            out += "[" + json.dumps(k) + "]"
    return out


FRAG = ("services", "app", "policy", 1)  # the inline fragment of dw.service()
SVC = ("services", "app")


class Case:
    def __init__(self, id, build, *, path=None, at=None, msg=None, line=None, pos=True,
                 scope=ALL, name="bad", place=None, filename=None, data_dir=True):
        self.id = id
        self.build = build      # ctx -> bytes
        self.path = path        # JSON path one error must name (ward's spelling)
        self.at = at            # text the file has at that error's line:col
        self.msg = msg          # regex one error's message must match
        self.line = line        # ctx, text -> the line one error must name
        self.pos = pos          # errors carry line:col
        self.scope = scope
        self.name = name        # base of the bad tenant's name (sorting matters)
        self.place = place      # how the file is put in place (default: root, 0644)
        self.filename = filename  # ctx -> the file's stem, if not the tenant's name
        self.data_dir = data_dir

    def __repr__(self):
        return self.id


def at_text(value):
    if isinstance(value, dict):
        return "{"
    if isinstance(value, list):
        return "["
    return json.dumps(value)


def mut(path, value, extra=()):
    def build(ctx):
        doc = ctx.doc(extra)
        put(doc, path, value)
        return dumps(doc)
    return build


def wrong(id, path, value, msg=None, extra=(), **kw):
    """The value at path replaced by a wrong one: an error at that path,
    positioned on the value."""
    return Case(id, mut(path, value, extra), path=ward_path(path), at=at_text(value),
                msg=msg, **kw)


def unknown(id, parent, extra=()):
    path = parent + ("bogus-key",)
    return Case(id, mut(path, 17, extra), path=ward_path(path), at="17", msg="unknown key")


def raw(id, build, msg=None, line=None, **kw):
    """A text the JSON parser itself refuses: an error with line:col but no
    JSON path."""
    return Case(id, build, msg=msg, line=line, **kw)


def last_line(text):
    return text.count(b"\n") + 1


def cut(frac=None, marker=None, after=0):
    """The good profile cut short at a fraction of its length or just after
    a marker."""
    def build(ctx):
        text = ctx.text()
        if marker is not None:
            n = text.index(marker) + len(marker) + after
        else:
            n = int(len(text) * frac)
        return text[:n]
    return build


def replace_value(old, new, extra=()):
    """Replaces the first occurrence of old (bytes) in the pretty text."""
    def build(ctx):
        text = ctx.text(extra)
        assert old in text, (old, text[:200])
        return text.replace(old, new, 1)
    return build


def deep(kind, levels=10000):
    def build(ctx):
        if kind == "array":
            value = "[" * levels + "]" * levels
        else:
            value = '{"a":' * levels + "1" + "}" * levels
        text = ctx.text().decode()
        return text.replace('"tenant":', f'"display_name": {value},\n  "tenant":', 1).encode()
    return build


def dup(marker, repeat):
    """Inserts `repeat` (a key and value, with its comma) just after
    `marker` in the pretty text: the key then appears twice in one object."""
    def build(ctx):
        text = ctx.text(("env",)).decode()
        i = text.index(marker) + len(marker)
        return (text[:i] + repeat.replace("{name}", ctx.name) + text[i:]).encode()
    return build


def oversized(ctx):
    text = ctx.text()
    pad = b" " * (PROFILE_MAX + 1 - len(text) + 1)
    return text[:-2] + pad + b"}\n"   # still one valid JSON object, just too big


def with_tenant(value, extra=()):
    return mut(("tenant",), value, extra)


# -- file placements (daemon only) --

def place_mode(mode):
    def place(ctx, path, data):
        write_file(path, data, mode=mode)
    return place


def place_owner(uid):
    def place(ctx, path, data):
        write_file(path, data, owner=uid)
    return place


def place_symlink(ctx, path, data):
    real = ctx.dw.tmp / "elsewhere.json"
    write_file(real, data)
    os.symlink(real, path)


def place_dir(ctx, path, data):
    path.mkdir()
    write_file(path / "x.json", data)


def place_fifo(ctx, path, data):
    os.mkfifo(path, 0o644)


def write_file(path, data, mode=0o644, owner=0):
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.chown(tmp, owner, owner)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def other_doc(name_of):
    """A valid profile whose tenant is not the file's stem."""
    def build(ctx):
        doc = ctx.doc()
        doc["tenant"] = name_of(ctx)
        return dumps(doc)
    return build


def overlapping(offset):
    def build(ctx):
        doc = ctx.doc()
        doc["ids"]["uid"] = ctx.good_uid + offset
        # its data dir then belongs to that uid: nothing but the overlap
        # is wrong with the profile
        ctx.dw.uids[ctx.name] = doc["ids"]["uid"]
        return dumps(doc)
    return build


def without_ids(ctx):
    doc = ctx.doc()
    del doc["ids"]
    return dumps(doc)


POLICY_KEYS_WRONG = [
    # (fragment path, wrong value)
    (("filesystem",), ["/usr"]),
    (("filesystem", "ro"), "/usr"),
    (("filesystem", "rw"), {"/tmp": True}),
    (("filesystem", "data"), 5),
    (("filesystem", "tmpfs"), ["/tmp"]),
    (("filesystem", "tmpfs", "/tmp"), True),
    (("filesystem", "hide"), "/etc"),
    (("seccomp",), "strict"),
    (("seccomp", "default"), 1),
    (("seccomp", "allow"), "@system-service"),
    (("seccomp", "deny"), {"ptrace": True}),
    (("seccomp", "log_denied"), "yes"),
    (("seccomp", "abis"), "x86"),
    (("seccomp", "restrict_namespaces"), 1),
    (("capabilities",), ["CAP_CHOWN"]),
    (("capabilities", "keep"), "CAP_CHOWN"),
    (("limits",), "small"),
    (("limits", "memory"), True),
    (("limits", "pids"), "128"),
    (("limits", "cpu"), "1"),
    (("limits", "nofile"), 1.5),
    (("limits", "core"), [0]),
    (("restart",), "always"),
    (("restart", "on"), True),
    (("restart", "delay_ms"), "100"),
    (("restart", "max_delay_ms"), None),
    (("restart", "burst"), "5"),
    (("restart", "interval_s"), 0.5),
    (("stop_timeout_s",), "10"),
    (("env",), ["PATH=/bin"]),
    (("env", "LANG"), 5),
    (("user_namespace",), "true"),
]


def _policy_case(path, value):
    return wrong("type-policy-" + "-".join(path).replace("/", "_"), FRAG + path, value)


CASES = [
    # -- truncated JSON, several cut points; the error is at the end of input
    raw("trunc-1-byte", cut(marker=b"{"), line=lambda c, t: 1, msg=r"end of (input|file)"),
    raw("trunc-mid-key", cut(marker=b'"serv'), line=lambda c, t: last_line(t)),
    raw("trunc-after-colon", cut(marker=b'"tenant":'), line=lambda c, t: last_line(t)),
    raw("trunc-mid-string", cut(marker=b'"tenant": "b'), line=lambda c, t: last_line(t)),
    raw("trunc-mid-number", cut(marker=b'"uid": ', after=3), line=lambda c, t: last_line(t)),
    raw("trunc-half", cut(frac=0.5), line=lambda c, t: last_line(t)),
    raw("trunc-last-brace", lambda c: c.text().rstrip()[:-1], line=lambda c, t: last_line(t)),
    raw("empty-file", lambda c: b"", msg=r"expected|end of file"),
    raw("whitespace-only", lambda c: b" \n\t\n", msg=r"expected|end of file"),
    raw("trailing-garbage", lambda c: c.text() + b"{}\n", msg=r"end of file expected"),
    raw("two-objects", lambda c: c.text() + c.text(), msg=r"end of file expected"),
    Case("top-level-array", lambda c: b"[" + c.text() + b"]\n", msg=r"object"),
    raw("single-quotes", replace_value(b'"tenant"', b"'tenant'")),
    raw("trailing-comma", replace_value(b'"count": 65536', b'"count": 65536,')),
    raw("comment", lambda c: b"// ward\n" + c.text(), line=lambda c, t: 1),

    # -- huge and out-of-range numbers
    raw("uid-1e400", replace_value(b'"uid": ', b'"uid": 1e400, "x": '), msg=r"overflow|real"),
    raw("uid-2p64", replace_value(b'"uid": ', b'"uid": 18446744073709551616, "x": '),
        msg=r"too big|overflow"),
    Case("uid-minus-1", mut(("ids", "uid"), -1), path="ids.uid", at="-1"),
    Case("uid-2p32", mut(("ids", "uid"), 2 ** 32), path="ids.uid", at=str(2 ** 32)),
    Case("uid-host-range", mut(("ids", "uid"), 1000), path="ids.uid", at="1000"),
    Case("uid-float", mut(("ids", "uid"), 300000.5), path="ids.uid", at="300000.5"),
    Case("count-zero", mut(("ids", "count"), 0), path="ids.count", at="0"),
    Case("count-2p63-1", mut(("ids", "count"), 2 ** 63 - 1), path="ids.count",
         at=str(2 ** 63 - 1)),
    Case("uid-count-wrap", lambda c: dumps({**c.doc(), "ids": {"uid": 4294967290,
                                                               "count": 65536}}),
         path="ids.count", at="65536"),
    Case("delay-ms-int64-max", mut(FRAG + ("restart", "delay_ms"), 2 ** 63 - 1),
         path=ward_path(FRAG + ("restart", "delay_ms")), at=str(2 ** 63 - 1)),
    Case("memory-over-64-bits", mut(FRAG + ("limits", "memory"), "99999999999999999999T"),
         path=ward_path(FRAG + ("limits", "memory")), at='"99999999999999999999T"'),
    Case("cpu-1e300", mut(FRAG + ("limits", "cpu"), 1e300),
         path=ward_path(FRAG + ("limits", "cpu")), at="1e+300"),
    Case("stop-timeout-negative", mut(FRAG + ("stop_timeout_s",), -5),
         path=ward_path(FRAG + ("stop_timeout_s",)), at="-5"),

    # -- deep nesting, 10000 levels
    raw("deep-arrays-10000", deep("array"), msg=r"depth"),
    raw("deep-objects-10000", deep("object"), msg=r"depth"),

    # -- big values and files
    Case("display-name-1mib", mut(("display_name",), "x" * MIB), path="display_name",
         at='"xxxx'),
    Case("tenant-1mib", with_tenant("a" * MIB), path="tenant", at='"aaaa'),
    Case("ro-path-1mib", mut(FRAG + ("filesystem", "ro"), ["/" + "d" * MIB]),
         path=ward_path(FRAG + ("filesystem", "ro", 0)), at='"/ddd'),
    Case("file-over-4mib", oversized, pos=False, msg=r"larger than 4194304 bytes"),

    # -- NUL bytes, raw and escaped
    raw("nul-raw-in-string", replace_value(b'"tenant": "', b'"tenant": "\x00'),
        msg=r"control character"),
    raw("nul-raw-between-tokens", replace_value(b'"tenant":', b'\x00"tenant":')),
    raw("nul-raw-after-object", lambda c: c.text() + b"\x00"),
    Case("nul-escaped-tenant", replace_value(b'"tenant": "', b'"tenant": "\\u0000'),
         path="tenant", msg=r"NUL"),
    Case("nul-escaped-exec", replace_value(b'"/ward-test/probe"', b'"/ward-test/probe\\u0000x"'),
         path=ward_path(SVC + ("exec", 0)), msg=r"NUL"),
    Case("nul-escaped-arg", replace_value(b'"say"', b'"say\\u0000"'),
         path=ward_path(SVC + ("exec", 1)), msg=r"NUL"),
    Case("nul-escaped-env-value", replace_value(b'"C.UTF-8"', b'"C\\u0000"', extra=("env",)),
         path=ward_path(FRAG + ("env", "LANG")), msg=r"NUL"),
    raw("nul-escaped-key", replace_value(b'"tenant":', b'"ten\\u0000ant":'), msg=r"NUL|key"),
    Case("nul-escaped-fragment-name", replace_value(b'"hardened"', b'"hard\\u0000ened"'),
         path=ward_path(SVC + ("policy", 0))),

    # -- not UTF-8
    raw("non-utf8-ff", replace_value(b'"tenant": "', b'"tenant": "\xff'), msg=r"0xff|decode"),
    raw("non-utf8-overlong", replace_value(b'"say"', b'"s\xc0\xafy"')),
    raw("non-utf8-surrogate-bytes", replace_value(b'"say"', b'"s\xed\xa0\x80y"')),
    raw("non-utf8-truncated-seq", replace_value(b'"say"', b'"say\xe2\x82"')),
    raw("non-utf8-latin1", replace_value(b'"tenant":', b'"display_name": "Caf\xe9",\n  "tenant":')),
    raw("lone-surrogate-escape", replace_value(b'"say"', b'"\\ud800"'), msg=r"[Uu]nicode|surrogate"),
    raw("utf16-file", lambda c: b"\xff\xfe" + c.text().decode().encode("utf-16-le")),

    # -- paths with ".." (and other non-normal paths)
    Case("dotdot-ro", mut(FRAG + ("filesystem", "ro"), ["/usr/../etc"]),
         path=ward_path(FRAG + ("filesystem", "ro", 0)), at='"/usr/../etc"', msg=r"\.\."),
    Case("dotdot-ro-src", mut(FRAG + ("filesystem", "ro"), [{"src": "/usr/../etc", "dst": "/x"}]),
         path=ward_path(FRAG + ("filesystem", "ro", 0, "src")), at='"/usr/../etc"', msg=r"\.\."),
    Case("dotdot-ro-dst", mut(FRAG + ("filesystem", "ro"), [{"src": "/usr", "dst": "/x/../etc"}]),
         path=ward_path(FRAG + ("filesystem", "ro", 0, "dst")), at='"/x/../etc"', msg=r"\.\."),
    Case("dotdot-rw", mut(FRAG + ("filesystem", "rw"), ["/tmp/.."]),
         path=ward_path(FRAG + ("filesystem", "rw", 0)), at='"/tmp/.."', msg=r"\.\."),
    Case("dotdot-data", mut(FRAG + ("filesystem", "data"), "/data/../etc"),
         path=ward_path(FRAG + ("filesystem", "data")), at='"/data/../etc"', msg=r"\.\."),
    Case("dotdot-hide", mut(FRAG + ("filesystem", "hide"), ["/usr/bin/../../etc/shadow"]),
         path=ward_path(FRAG + ("filesystem", "hide", 0)), at='"/usr/bin/../../etc/shadow"',
         msg=r"\.\."),
    Case("dotdot-tmpfs", mut(FRAG + ("filesystem", "tmpfs"), {"/tmp/../run": "1M"}),
         path=ward_path(FRAG + ("filesystem", "tmpfs", "/tmp/../run")), at='"1M"', msg=r"\.\."),
    Case("dotdot-exec", mut(SVC + ("exec",), ["/ward-test/../bin/sh"]),
         path=ward_path(SVC + ("exec", 0)), at='"/ward-test/../bin/sh"', msg=r"\.\."),
    Case("dot-component-ro", mut(FRAG + ("filesystem", "ro"), ["/usr/./lib"]),
         path=ward_path(FRAG + ("filesystem", "ro", 0)), at='"/usr/./lib"'),
    Case("relative-ro", mut(FRAG + ("filesystem", "ro"), ["usr/lib"]),
         path=ward_path(FRAG + ("filesystem", "ro", 0)), at='"usr/lib"'),
    Case("relative-exec", mut(SVC + ("exec",), ["probe"]),
         path=ward_path(SVC + ("exec", 0)), at='"probe"'),
    Case("data-under-proc", mut(FRAG + ("filesystem", "data"), "/proc/1"),
         path=ward_path(FRAG + ("filesystem", "data")), at='"/proc/1"'),

    # -- duplicate keys
    raw("dup-top-tenant", dup("{\n", '  "tenant": "{name}",\n'), msg=r"duplicate"),
    raw("dup-ids-uid", dup('"ids": {\n', '    "uid": 70000,\n'), msg=r"duplicate"),
    raw("dup-service", dup('"services": {\n', '    "app": {"exec": ["/bin/sh"]},\n'),
        msg=r"duplicate"),
    raw("dup-fragment-key", dup('"stop_timeout_s": 1', ',\n          "stop_timeout_s": 2'),
        msg=r"duplicate"),
    raw("dup-env-var", dup('"LANG": "C.UTF-8"', ',\n            "LANG": "C"'), msg=r"duplicate"),

    # -- wrong types, every field of a profile
    wrong("type-tenant", ("tenant",), 42),
    wrong("type-display-name", ("display_name",), ["x"]),
    wrong("type-ids", ("ids",), [300000, 65536]),
    wrong("type-ids-uid", ("ids", "uid"), "300000"),
    wrong("type-ids-count", ("ids", "count"), True),
    wrong("type-services", ("services",), ["app"]),
    wrong("type-services-empty", ("services",), {}),
    wrong("type-service", SVC, "/bin/sh"),
    wrong("type-exec", SVC + ("exec",), "/bin/sh"),
    wrong("type-exec-empty", SVC + ("exec",), []),
    wrong("type-exec-item", SVC + ("exec", 1), 5),
    wrong("type-policy", SVC + ("policy",), {"hardened": True}),
    wrong("type-policy-item", SVC + ("policy", 0), 7),
    wrong("type-after", SVC + ("after",), "db", extra=("two",)),
    Case("type-after-item", mut(SVC + ("after",), [3], extra=("two",)),
         path=ward_path(SVC + ("after", 0)), at="3"),
    wrong("type-connect", SVC + ("connect",), 5432),
    Case("type-connect-item", mut(SVC + ("connect",), ["app"]),
         path=ward_path(SVC + ("connect", 0)), at='"app"'),
    wrong("type-network", ("network",), "10.250.0.0/24"),
    wrong("type-network-subnet", ("network", "subnet"), 167378944, extra=("net",)),
    wrong("type-egress", ("network", "egress"), {"to": "10.0.0.0/8"}, extra=("net",)),
    wrong("type-egress-to", ("network", "egress", 0, "to"), 10, extra=("net",)),
    wrong("type-egress-tcp", ("network", "egress", 0, "tcp"), "443", extra=("net",)),
    wrong("type-ingress", ("network", "ingress"), "9443:app:8443", extra=("net",)),
    wrong("type-ingress-host-port", ("network", "ingress", 0, "host_port"), "9443",
          extra=("net",)),
    wrong("type-ingress-port-range", ("network", "ingress", 0, "port"), 70000, extra=("net",)),
    wrong("type-sessions", ("sessions",), ["staff"]),
    wrong("type-sessions-groups", ("sessions", "groups"), "staff", extra=("sess",)),
    wrong("type-sessions-exec", ("sessions", "exec"), {"argv": ["/bin/sh"]}, extra=("sess",)),
    wrong("type-sessions-max", ("sessions", "max"), "10", extra=("sess",)),
    wrong("bad-subnet-host-bits", ("network", "subnet"), "10.250.0.1/24", extra=("net",)),
    wrong("bad-egress-cidr", ("network", "egress", 0, "to"), "10.0.0.0/33", extra=("net",)),
] + [_policy_case(p, v) for p, v in POLICY_KEYS_WRONG] + [
    # -- unknown keys at every level
    unknown("unknown-top", ()),
    unknown("unknown-ids", ("ids",)),
    unknown("unknown-service", SVC),
    unknown("unknown-fragment", FRAG),
    unknown("unknown-filesystem", FRAG + ("filesystem",)),
    unknown("unknown-seccomp", FRAG + ("seccomp",)),
    unknown("unknown-capabilities", FRAG + ("capabilities",)),
    unknown("unknown-limits", FRAG + ("limits",)),
    unknown("unknown-restart", FRAG + ("restart",)),
    unknown("unknown-network", ("network",), extra=("net",)),
    unknown("unknown-egress-item", ("network", "egress", 0), extra=("net",)),
    unknown("unknown-ingress-item", ("network", "ingress", 0), extra=("net",)),
    unknown("unknown-sessions", ("sessions",), extra=("sess",)),
    Case("unknown-bind-key",
         mut(FRAG + ("filesystem", "ro"), [{"src": "/usr", "dst": "/usr", "mode": "rw"}]),
         path=ward_path(FRAG + ("filesystem", "ro", 0, "mode")), at='"rw"', msg="unknown key"),

    # -- names
    wrong("name-upper", ("tenant",), "Bad"),
    wrong("name-too-long", ("tenant",), "a" * 25),
    wrong("name-digit-first", ("tenant",), "9lives"),
    wrong("name-slash", ("tenant",), "a/b"),
    wrong("name-dotdot", ("tenant",), ".."),
    wrong("name-dotdot-slash", ("tenant",), "../etc"),
    wrong("name-empty", ("tenant",), ""),
    wrong("name-space", ("tenant",), "a b"),
    wrong("name-unicode", ("tenant",), "b\u00e4d"),
    Case("service-name-upper", lambda c: dumps({**c.doc(), "services": {"App": c.svc}}),
         path="services.App"),
    Case("service-name-slash", lambda c: dumps({**c.doc(), "services": {"a/b": c.svc}}),
         path='services["a/b"]'),

    # -- references the loader cannot resolve
    wrong("unknown-policy-fragment", SVC + ("policy", 0), "nosuchfragment", msg=r"nosuchfragment"),
    wrong("fragment-name-path", SVC + ("policy", 0), "../policies/hardened"),
    Case("unknown-syscall", mut(FRAG + ("seccomp", "allow"), ["read", "nosuchcall"]),
         path=ward_path(FRAG + ("seccomp", "allow", 1)), at='"nosuchcall"', msg="nosuchcall"),
    Case("unknown-syscall-group", mut(FRAG + ("seccomp", "deny"), ["@nosuch"]),
         path=ward_path(FRAG + ("seccomp", "deny", 0)), at='"@nosuch"', msg="@nosuch"),
    Case("unknown-capability", mut(FRAG + ("capabilities", "keep"), ["CAP_FOO"]),
         path=ward_path(FRAG + ("capabilities", "keep", 0)), at='"CAP_FOO"', msg="CAP_FOO"),
    Case("capability-lower-case", mut(FRAG + ("capabilities", "keep"), ["cap_net_admin"]),
         path=ward_path(FRAG + ("capabilities", "keep", 0)), at='"cap_net_admin"'),
    wrong("seccomp-default-allow", FRAG + ("seccomp", "default"), "allow"),
    Case("seccomp-abi-arm", mut(FRAG + ("seccomp", "abis"), ["arm"]),
         path=ward_path(FRAG + ("seccomp", "abis", 0)), at='"arm"'),
    wrong("restart-on-sometimes", FRAG + ("restart", "on"), "sometimes"),
    Case("after-self", mut(SVC + ("after",), ["app"]),
         path=ward_path(SVC + ("after", 0)), at='"app"'),
    Case("after-unknown", mut(SVC + ("after",), ["nosuch"]),
         path=ward_path(SVC + ("after", 0)), at='"nosuch"'),
    Case("after-cycle", lambda c: dumps({**c.doc(), "services": {
        "app": {**c.svc, "after": ["db"]}, "db": {**c.svc, "after": ["app"]}}}), msg=r"cycle"),
    Case("connect-unknown-service", mut(SVC + ("connect",), ["nosuch:80"]),
         path=ward_path(SVC + ("connect", 0)), at='"nosuch:80"'),
    Case("max-delay-below-delay", lambda c: dumps(_restart(c, delay_ms=500, max_delay_ms=100)),
         msg=r"max_delay_ms"),

    # -- the file, not its text: the daemon's checks of its tenants dir
    Case("symlinked-file", lambda c: c.text(), place=place_symlink, scope=DAEMON, pos=False,
         msg=r"symlink|regular file"),
    Case("world-writable", lambda c: c.text(), place=place_mode(0o646), scope=DAEMON, pos=False,
         msg=r"writable"),
    Case("group-writable", lambda c: c.text(), place=place_mode(0o664), scope=DAEMON, pos=False,
         msg=r"writable"),
    Case("not-root-owned", lambda c: c.text(), place=place_owner(4_242_001), scope=DAEMON,
         pos=False, msg=r"root"),
    Case("directory", lambda c: c.text(), place=place_dir, scope=DAEMON, pos=False,
         msg=r"regular file"),
    Case("fifo", lambda c: c.text(), place=place_fifo, scope=DAEMON, pos=False,
         msg=r"regular file"),
    Case("tenant-not-file-name", other_doc(lambda c: c.dw.name("other")), scope=DAEMON,
         pos=False, msg=r"must be in a file named"),
    Case("file-name-upper", lambda c: c.text(), filename=lambda c: "Bad" + c.name[3:],
         scope=DAEMON, pos=False, msg=r"not a valid tenant name", data_dir=False),
    Case("file-name-digit", lambda c: c.text(), filename=lambda c: "9" + c.name,
         scope=DAEMON, pos=False, msg=r"not a valid tenant name", data_dir=False),
    Case("file-name-too-long", lambda c: c.text(), filename=lambda c: c.name + "x" * 20,
         scope=DAEMON, pos=False, msg=r"not a valid tenant name", data_dir=False),
    # ward rejects the later of two overlapping tenants by name: the bad one
    # sorting before the running one must not take the running one's place
    Case("uid-overlap-sorts-before", overlapping(1000), name="aaa", scope=DAEMON, pos=False,
         msg=r"overlaps"),
    Case("uid-overlap-sorts-after", overlapping(-1000), name="zzz", scope=DAEMON, pos=False,
         msg=r"overlaps"),
    Case("uid-same-as-running", overlapping(0), name="aaa", scope=DAEMON, pos=False,
         msg=r"overlaps"),
    Case("ids-missing", without_ids, scope=DAEMON_RUN, pos=False, msg=r"ids"),
]


def _restart(c, **changes):
    doc = c.doc()
    doc["services"]["app"]["policy"][1]["restart"].update(changes)
    return doc


CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case ids"
TEXT_CASES = [c for c in CASES if c.scope == ALL]
RUN_CASES = [c for c in CASES if c.scope in (ALL, DAEMON_RUN)]


# ---------------------------------------------------------------- checking errors


def parse_errors(lines, file):
    """[(line, col, rest)] of the error lines; (None, None, rest) for one
    without a position. Every line must name the file."""
    out = []
    for e in lines:
        assert e.startswith(f"{file}:"), f"an error does not start with the file's name: {e!r}"
        m = DIAG.match(e)
        if m and m["file"] == str(file):
            out.append((int(m["line"]), int(m["col"]), m["rest"]))
        else:
            out.append((None, None, e[len(str(file)) + 1:].lstrip()))
    return out


def text_at(data, line, col):
    """The file's bytes from line:col on (both 1-based)."""
    lines = data.split(b"\n")
    if not 1 <= line <= len(lines):
        return None
    return lines[line - 1][max(col - 1, 0):].decode(errors="replace")


def check_errors(case, ctx, file, data, errors, where):
    """The errors (strings, one per error) satisfy the case."""
    assert errors, f"{where}: no error for {case.id}"
    for e in errors:
        # clear: short (a 1 MiB value is not repeated), one line, printable
        assert len(e) < 2048, f"{where}: an error of {len(e)} bytes: {e[:200]!r}..."
        assert "\n" not in e and "\x00" not in e, f"{where}: {e!r}"
    parsed = parse_errors(errors, file)
    if case.pos:
        assert all(p[0] is not None for p in parsed), \
            f"{where}: an error without line:col: {errors}"
        for line, col, _ in parsed:
            assert text_at(data, line, col) is not None, \
                f"{where}: error at {line}:{col}, beyond the file's {last_line(data)} lines"
    if case.path is not None:
        hits = [p for p in parsed if p[2].startswith(case.path + ": ")]
        assert hits, f"{where}: no error at JSON path {case.path}: {errors}"
        if case.at is not None:
            found = [text_at(data, ln, col) for ln, col, _ in hits]
            assert any(f and f.startswith(case.at) for f in found), \
                (f"{where}: the error at {case.path} points at {found}, "
                 f"not at the value {case.at!r}: {errors}")
    if case.line is not None:
        want = case.line(ctx, data)
        assert any(p[0] == want for p in parsed), f"{where}: no error on line {want}: {errors}"
    if case.msg is not None:
        assert any(re.search(case.msg, p[2]) for p in parsed), \
            f"{where}: no error matching /{case.msg}/: {errors}"


def build_case(dw, case, good_uid=None):
    ctx = Ctx(dw, dw.name(case.name), good_uid)
    data = case.build(ctx)
    stem = case.filename(ctx) if case.filename else ctx.name
    if case.data_dir:
        dw.make_data_dir(ctx.name)
    return ctx, data, stem


def place(case, ctx, path, data):
    if case.place:
        case.place(ctx, path, data)
    else:
        write_file(path, data)


# ---------------------------------------------------------------- through the daemon


def good_daemon(dw):
    """A running wardd with one good tenant: (daemon, tenant, pid)."""
    good = dw.name("good")
    dw.write_profile(good, {"app": dw.service(*SLEEP)})
    d = dw.start_daemon()
    pid = dw.wait_state(good, "app", "running")["pid"]
    return d, good, pid


def stable_fds(d):
    return settled(lambda: fd_count(d.pid), timeout=5, stable=0.3)


def assert_unharmed(dw, d, good, pid, fds=None):
    """wardd runs, answers `wardctl status` quickly, the good tenant runs
    with the same pid, and (if fds is given) wardd holds no more fds."""
    if not d.running():
        dw.fail(f"wardd died (rc {d.proc.poll()})")
    t0 = time.monotonic()
    res = dw.ctl("status", "--json")
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert elapsed < 2.0, f"wardctl status took {elapsed:.2f}s"
    by = {(s["tenant"], s["service"]): s for s in json.loads(res.stdout)}
    st = by.get((good, "app"))
    assert st and st["state"] == "running" and st["pid"] == pid, st
    assert proc_alive(pid)
    if fds is not None:
        now = wait_for(lambda: (lambda n: n if n is not None and n <= fds else None)(
            fd_count(d.pid)), timeout=5)
        if not now:
            dw.fail(f"wardd holds {fd_count(d.pid)} fds, {fds} before: "
                    f"{sorted(os.listdir(f'/proc/{d.pid}/fd'), key=int)}")
    return by


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_daemon_rejects(dw, case):
    d, good, pid = good_daemon(dw)
    ctx, data, stem = build_case(dw, case, good_uid=dw.uid_of(good))
    path = dw.tenants_dir / f"{stem}.json"
    fds = stable_fds(d)
    n_reloads = len(dw.audit("reload"))
    place(case, ctx, path, data)

    res = dw.ctl("reload", timeout=30)
    out = res.stdout + res.stderr
    assert res.returncode in (0, 1), (res.returncode, out[:2000])
    added = [ln for ln in res.stdout.splitlines() if ln.startswith(("added:", "changed:", "removed:"))]
    if added:
        time.sleep(0.5)
        dw.fail(f"reload with only a bad profile added, changed or removed something:\n{out}\n"
                f"status now: {[(x['tenant'], x['state'], x['pid']) for x in dw.status()]}")
    assert f"rejected: {stem[:24]}" in res.stdout, f"wardctl reload does not say it:\n{out[:2000]}"

    recs = dw.wait_audit("reload", count=n_reloads + 1)
    rec = recs[n_reloads]
    assert rec["added"] == [] and rec["removed"] == [] and rec["changed"] == [], rec
    assert [r["tenant"] for r in rec["rejected"]] == [stem[:24]], rec["rejected"]
    rej = dw.audit("profile-rejected")
    assert len(rej) == 1, rej
    assert rej[0]["file"] == str(path), rej[0]
    assert rej[0]["tenant"] == stem[:24], rej[0]
    check_errors(case, ctx, path, data, rej[0]["errors"], "audit")
    assert rec["rejected"][0]["errors"] == rej[0]["errors"]

    by = assert_unharmed(dw, d, good, pid, fds)
    assert set(t for t, _ in by) == {good}, f"a rejected profile became a tenant: {sorted(by)}"
    assert not dw.audit("service-start", tenant=ctx.name), "a rejected tenant's service started"
    assert not [r for r in dw.audit("service-start") if r.get("tenant") != good]
    assert len(dw.audit("service-start", tenant=good)) == 1
    log = dw.logs / ctx.name / "app.log"
    assert not log.exists() or MARK not in log.read_text(errors="replace")


# ---------------------------------------------------------------- wardctl check, wardd run


def offline_file(dw, case):
    ctx, data, stem = build_case(dw, case)
    d = dw.tmp / "profiles"
    d.mkdir(exist_ok=True)
    path = d / f"{stem}.json"
    place(case, ctx, path, data)
    return ctx, data, path


def stderr_errors(text):
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("case", TEXT_CASES, ids=[c.id for c in TEXT_CASES])
def test_check_rejects(dw, case):
    ctx, data, path = offline_file(dw, case)
    res = subprocess.run([str(WARDCTL), "check", "--policies", str(POLICIES), str(path)],
                         capture_output=True, timeout=30)
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 2, (res.returncode, res.stdout[:500], err[:2000])
    assert b"ok" not in res.stdout, res.stdout[:500]
    check_errors(case, ctx, path, data, stderr_errors(err), "wardctl check")


@pytest.mark.parametrize("case", RUN_CASES, ids=[c.id for c in RUN_CASES])
def test_run_rejects(dw, case):
    ctx, data, path = offline_file(dw, case)
    argv = [str(WARDD), "--policies", str(POLICIES), "--state-dir", str(dw.state),
            "--log-dir", str(dw.logs), "--data-dir", str(dw.data), "run", str(path), "app"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    dw.children.append(proc)  # killed by the fixture if it hangs
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        dw.fail(f"wardd run did not finish on {case.id}")
    err = err.decode(errors="replace")
    assert proc.returncode == 125, (proc.returncode, out[:500], err[:2000])
    assert MARK.encode() not in out, "the bad profile's service ran"
    assert dw.tenant_pids() == [], "a process of the bad tenant exists"
    errors = [e for e in stderr_errors(err) if not e.startswith("wardd: ")]
    if case.scope == DAEMON_RUN:
        assert re.search(case.msg, err), err
    else:
        check_errors(case, ctx, path, data, errors, "wardd run")


def test_the_corpus_is_big_enough_and_its_bases_are_valid(dw):
    """50+ cases; and without the breakage each base profile is valid, so
    every rejection above is the case's doing."""
    assert len(CASES) >= 50, len(CASES)
    ctx = Ctx(dw, dw.name("base"))
    d = dw.tmp / "profiles"
    d.mkdir()
    for extra in ((), ("net",), ("sess",), ("env",), ("two",), ("net", "sess", "env", "two")):
        path = d / f"{ctx.name}.json"
        write_file(path, ctx.text(extra))
        res = subprocess.run([str(WARDCTL), "check", "--policies", str(POLICIES), str(path)],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, (extra, res.stderr)


# ---------------------------------------------------------------- control-socket abuse


@pytest.fixture
def served(dw):
    """A running wardd with a good tenant, its fd count once settled."""
    d, good, pid = good_daemon(dw)
    assert dw.request({"cmd": "status"})["ok"] is True
    return d, good, pid, stable_fds(d)


def control_since(dw, n):
    return dw.audit("control")[n:]


def _send_quietly(c, data):
    try:
        c.send_raw(data)
    except OSError:
        pass


@pytest.mark.parametrize("size", [65536, 65537, 200_000, 1 << 20])
@pytest.mark.parametrize("newline", [True, False], ids=["newline", "no-newline"])
def test_oversized_line_error_then_closed(dw, served, size, newline):
    """A request line over 64 KiB (a tenant name of `size` bytes), with or
    without its newline, gets an error reply, is audited, and the
    connection is closed."""
    d, good, pid, fds = served
    n = len(dw.audit("control"))
    c = dw.client(timeout=10)
    body = b'{"cmd":"status","tenant":"' + b"a" * size + b'"}'
    # sent from a thread: the daemon stops reading once it has 64 KiB
    th = threading.Thread(target=_send_quietly, args=(c, body + (b"\n" if newline else b"")),
                          daemon=True)
    th.start()
    assert c.closed_by_peer(timeout=10), "the daemon kept a client with an over-long line"
    replies = [json.loads(ln) for ln in c.buf.split(b"\n") if ln.strip()]
    assert len(replies) == 1, c.buf[:300]
    assert replies[0]["ok"] is False and "longer than" in replies[0]["error"], replies
    c.close()
    recs = control_since(dw, n)
    assert len(recs) == 1, recs
    assert recs[0]["verdict"] == "refused" and "longer than" in recs[0]["result"], recs[0]
    assert recs[0]["peer"]["pid"] == os.getpid()
    assert_unharmed(dw, d, good, pid, fds)


def padded_status(total):
    """A status request line of exactly `total` bytes, the newline included."""
    head, tail = b'{"cmd":"status"', b"}\n"
    return head + b" " * (total - len(head) - len(tail)) + tail


def test_line_of_exactly_64_kib_is_a_request(dw, served):
    """The limit is 65536 bytes with the newline: that many is served, and
    the connection goes on; one byte more is refused and closed."""
    d, good, pid, fds = served
    c = dw.client(timeout=10)
    c.send_raw(padded_status(65536))
    r = c.read_reply()
    assert r["ok"] is True, r
    assert c.request({"cmd": "status"})["ok"] is True
    c.close()
    c = dw.client(timeout=10)
    threading.Thread(target=_send_quietly, args=(c, padded_status(65537)), daemon=True).start()
    assert c.closed_by_peer(timeout=10)
    replies = [json.loads(ln) for ln in c.buf.split(b"\n") if ln.strip()]
    assert len(replies) == 1 and replies[0]["ok"] is False, c.buf[:300]
    c.close()
    assert_unharmed(dw, d, good, pid, fds)


def test_binary_garbage_gets_errors(dw, served):
    d, good, pid, fds = served
    rng = random.Random(7)
    lines = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000))).replace(b"\n", b"")
             for _ in range(40)]
    lines += [b"\x00", b"\x00" * 100, b"\xff\xfe{", b'{"cmd":"status"\x00}', b"[]", b"null",
              b'"status"', b'{"cmd":"status","tenant":"\xff"}', b'{"cmd":["status"]}',
              b'{"cmd":"status","cmd":"stop"}', b'{"cmd":"status","extra":1}', b"{" * 5000,
              b"[" * 60000, b"\r", b" "]
    lines = [ln for ln in lines if ln]
    n = len(dw.audit("control"))
    c = dw.client(timeout=10)
    for i, line in enumerate(lines):
        c.send_raw(line + b"\n")
        r = c.read_reply()
        assert r["ok"] is False and r.get("error"), (i, line[:60], r)
    # the same connection still works
    assert c.request({"cmd": "status"})["ok"] is True
    c.close()
    recs = control_since(dw, n)
    refused = [r for r in recs if r["verdict"] == "refused"]
    assert len(refused) == len(lines), (len(refused), len(lines), recs[-3:])
    assert all(r["result"].startswith("malformed request") for r in refused), refused[:3]
    assert_unharmed(dw, d, good, pid, fds)


def test_partial_lines_then_silence_are_dropped(dw, served):
    """Clients that send half a request and go quiet are dropped after the
    10 s idle timeout; meanwhile everyone else is served at once."""
    d, good, pid, fds = served
    quiet = []
    for i in range(20):
        c = dw.client(timeout=20)
        c.send_raw([b'{"cmd":"sta', b"{", b'{"cmd":"status"', b"\xff" * 100][i % 4])
        quiet.append(c)
    silent = [dw.client(timeout=20) for _ in range(5)]  # not even a byte
    t0 = time.monotonic()
    worst = 0.0
    while time.monotonic() - t0 < 5:
        t1 = time.monotonic()
        assert dw.request({"cmd": "status"})["ok"] is True
        worst = max(worst, time.monotonic() - t1)
        time.sleep(0.1)
    assert worst < 0.5, f"status took {worst:.2f}s with 25 idle clients"
    assert fd_count(d.pid) >= fds + 25
    for c in quiet + silent:
        left = max(0.5, 16 - (time.monotonic() - t0))
        assert c.closed_by_peer(timeout=left), "an idle client was never dropped"
    assert time.monotonic() - t0 >= 8, "idle clients were dropped far before 10 s"
    for c in quiet + silent:
        c.close()
    assert_unharmed(dw, d, good, pid, fds)


def connect_patiently(path, timeout=10.0):
    """A Client, retrying while the listen backlog is full (a socket with a
    timeout connects non-blocking: EAGAIN until wardd accepts more)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return Client(path, timeout=timeout)
        except BlockingIOError:
            if time.monotonic() > end:
                raise
            time.sleep(0.005)


def test_thousand_connections_held(dw, served):
    d, good, pid, fds = served
    old = raise_nofile(4096)
    held = []
    try:
        for _ in range(1000):
            held.append(connect_patiently(dw.socket))
        # wait until wardd has accepted them all
        assert wait_for(lambda: (fd_count(d.pid) or 0) >= fds + 1000, timeout=10), \
            f"wardd holds {fd_count(d.pid)} fds, {fds} + 1000 expected"
        for _ in range(5):
            t0 = time.monotonic()
            res = dw.ctl("status", "--json")
            elapsed = time.monotonic() - t0
            assert res.returncode == 0, res.stderr
            assert elapsed < 1.0, f"wardctl status took {elapsed:.2f}s with 1000 clients held"
            assert any(s["pid"] == pid for s in json.loads(res.stdout))
        # every held client is still served, too
        for c in held[::50]:
            assert c.request({"cmd": "status"})["ok"] is True
    finally:
        for c in held:
            c.close()
        restore_nofile(old)
    assert_unharmed(dw, d, good, pid, fds)


BAD_NAMES = ["nosuch", "a/b", "/", "../etc", "..", ".", "", "a" * 1000, "b\u00e4d",
             "\u202eevil", "\U0001f600", "tenant\nnewline", "x\u0000y", "Alpha", "-x", "a b"]


def test_bad_names_get_errors_and_are_audited(dw, served):
    d, good, pid, fds = served
    reqs = []
    for name in BAD_NAMES:
        reqs.append({"cmd": "status", "tenant": name})
        reqs.append({"cmd": "stop", "tenant": name})
        reqs.append({"cmd": "start", "tenant": name, "service": "app"})
        reqs.append({"cmd": "restart", "tenant": good, "service": name})
        reqs.append({"cmd": "reset", "tenant": good, "service": name})
        reqs.append({"cmd": "logs", "tenant": good, "service": name})
        reqs.append({"cmd": "logs", "tenant": name, "service": "app"})
    n = len(dw.audit("control"))
    c = dw.client(timeout=10)
    for i, req in enumerate(reqs):
        r = c.request(req)
        assert r["ok"] is False and isinstance(r.get("error"), str) and r["error"], (req, r)
        assert len(r["error"]) < 512, (req, r["error"][:200])
        # a record is written before the reply: the i-th one is there now
        recs = control_since(dw, n)
        assert len(recs) == i + 1, (req, recs[-2:])
        rec = recs[i]
        assert rec["verdict"] in ("allowed", "refused") and rec["result"] == r["error"], \
            (req, rec, r)
        assert rec["peer"]["pid"] == os.getpid()
        assert rec["cmd"] in (req["cmd"], None), (req, rec)
        for key in ("tenant", "service"):
            v = rec.get(key)
            assert v is None or len(v) <= 64 * 4, (key, len(v))
    c.close()
    # the same through wardctl: refused with a message, exit 1 or 2
    for name in ["nosuch", "a/b", "..", "a" * 1000, "b\u00e4d"]:
        for args in (["status", name], ["stop", name], ["logs", f"{good}/{name}"]):
            res = dw.ctl(*args)
            assert res.returncode in (1, 2), (args, res.returncode, res.stdout)
            assert res.stderr.strip(), args
    assert_unharmed(dw, d, good, pid, fds)
