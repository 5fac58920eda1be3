"""The audit log under attack (issue 18, finding 3): a local user who is
refused thousands of times a second does not fill the log, a log that cannot
be written makes wardd refuse what it could not record (while supervision
goes on), and rotation loses no record.

Run as root inside a throwaway network and mount namespace, like the rest of
the suite: test_full_audit_volume_fails_closed mounts a small tmpfs over the
test's own log directory (never anything of the host's) and bind-mounts the
session tests' copies of /etc/passwd and /etc/group (see test_sessions.py).
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading

from conftest import wait_for
from daemon_fixture import (GID_GAMES, GID_STAFF, GID_USERS, STRANGER, Client,  # noqa: F401
                            daemon_built, dw)
from test_sessions import in_own_mount_namespace, run_session, staff, write_practice  # noqa: F401

VIEWER = dict(user=STRANGER, groups=[GID_STAFF, GID_GAMES])
OPERATOR = dict(user=STRANGER, groups=[GID_STAFF, GID_USERS])


def audit_state(dw):
    """The "audit" field of status, or None if wardd does not answer."""
    try:
        r = dw.request({"cmd": "status"})
    except (OSError, ValueError, AssertionError):
        return None
    return r.get("audit")


def restarts_of(dw, tenant, service):
    s = dw.service_status(tenant, service)
    return s["restarts"] if s else -1


# ---------------------------------------------------------------- (a) rate limits

# Run as the attacker: a member of the control socket's group with no
# rights, and any local user on the session socket. Prints how many
# refusals it caused.
FLOOD = r"""
import json, socket, sys
ctl, ses, n_conn, per_conn, n_ses = sys.argv[1:6]
refused = 0
for _ in range(int(n_conn)):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(20)
    c.connect(ctl)
    f = c.makefile("rwb")
    for i in range(int(per_conn)):
        f.write(json.dumps({"cmd": "stop", "tenant": "x%d" % i}).encode() + b"\n")
    f.flush()
    for i in range(int(per_conn)):
        r = json.loads(f.readline())
        assert r["ok"] is False and r["error"] == "permission denied", r
        refused += 1
    c.close()
for _ in range(int(n_ses)):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(ses)
    c.close()  # abandoned before its request
    refused += 1
print(refused)
"""


def test_refused_flood_is_rate_limited_with_a_summary(dw):
    """Thousands of refused control requests and abandoned logons from one
    uid leave a handful of records and summaries that count every one,
    while root is served at once."""
    dw.write_config(audit={"refused_burst": 5, "refused_window_s": 3})
    t = dw.name("flood")
    dw.write_profile(t, {"app": dw.service("sleep", "300")})
    d = dw.start_daemon()
    dw.wait_state(t, "app", "running")

    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, str(dw.socket), str(dw.state / "session.sock"), "20",
         "100", "400"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, user=STRANGER,
        group=STRANGER, extra_groups=[GID_STAFF])
    dw.children.append(flood)
    # wardd answers root while the flood runs.
    while flood.poll() is None:
        res = dw.ctl("status")
        assert res.returncode == 0, res.stderr
    out, err = flood.communicate(timeout=60)
    assert flood.returncode == 0, err
    sent = int(out)
    assert sent == 20 * 100 + 400

    def mine():
        recs = []
        for r in dw.audit():
            uid = (r.get("peer") or {}).get("uid") if r["event"] == "control" else r.get("uid")
            if uid == STRANGER:
                recs.append(r)
        return recs

    def accounted():
        recs = mine()
        summaries = [r for r in recs if r["event"] == "refused-summary"]
        single = [r for r in recs if r["event"] != "refused-summary"]
        n = len(single) + sum(s["not_recorded"] for s in summaries)
        return (single, summaries) if n == sent else None

    # Every refusal is accounted for once the last window's timer has
    # written its summary.
    got = wait_for(accounted, timeout=30, interval=0.2)
    if not got:
        recs = mine()
        dw.fail(f"{sent} refusals sent, the log has {len(recs)} records of uid {STRANGER} "
                f"({sum(1 for r in recs if r['event'] == 'refused-summary')} summaries)")
    single, summaries = got
    assert summaries, "no summary record"
    # A handful a window, not one a refusal.
    assert len(single) <= 5 * (len(summaries) + 1), (len(single), len(summaries))
    assert len(single) + len(summaries) < 100
    for s in summaries:
        assert s["attempts"] == s["recorded"] + s["not_recorded"] and s["recorded"] == 5, s
        assert s["window_s"] == 3 and s["first"] <= s["last"], s
        assert s["message"] == f"{s['attempts']} refused attempts from uid {STRANGER} in 3 s", s
    for r in single:
        assert r.get("verdict") == "refused", r
    # Root's requests are all there (status polls of this process).
    assert any(r["event"] == "control" and r["peer"]["uid"] == 0 for r in dw.audit())
    assert d.running()


# ---------------------------------------------------------------- (b) fail closed

def fill(path):
    """Writes to path until the volume is full."""
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 16, 1 << 12, 1 << 9):
            chunk = b"\0" * size
            while True:
                try:
                    f.write(chunk)
                except OSError as e:
                    if e.errno != 28:  # ENOSPC
                        raise
                    break


def test_full_audit_volume_fails_closed(dw, staff):
    """With the audit volume full: a viewer's refused stop, an operator's
    stop, root's stop and a logon are all refused (and recorded once it can
    be written again), status says so, a crash-looping service keeps
    restarting; when space comes back, everything held is written and the
    outage is recorded."""
    assert in_own_mount_namespace()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0750", "ward-test-audit",
                    str(dw.logs)], check=True)
    try:
        t = dw.name("full")
        write_practice(dw, t, "wses-a-staff")
        doc = json.loads((dw.tenants_dir / f"{t}.json").read_text())
        doc["services"]["crash"] = dw.service("msleep", "200", "exit", "1", delay_ms=50,
                                              max_delay_ms=100, burst=1000, interval_s=1)
        dw.write_profile(t, doc=doc)
        d = dw.start_daemon()
        web = dw.wait_state(t, "web", "running")["pid"]
        assert wait_for(lambda: restarts_of(dw, t, "crash") >= 1, timeout=15)
        ok = run_session(dw, "wses-alice", "echo logon-works\n")
        assert ok.returncode == 0 and "logon-works" in ok.stdout, (ok.stdout, ok.stderr)
        assert audit_state(dw) == {"state": "ok"}

        filler = dw.logs / "filler"
        fill(filler)
        # The next record (this status) finds no room for the ones after it.
        state = wait_for(lambda: (lambda s: s if s and s["state"] == "failing" else None)(
            audit_state(dw)), timeout=10)
        assert state, audit_state(dw)
        assert "No space left on device" in state["error"], state
        assert "refused until it can be written" in d.stderr(), d.stderr()
        restarts0 = restarts_of(dw, t, "crash")

        res = dw.ctl("stop", f"{t}/crash", **VIEWER)
        assert res.returncode == 1 and "permission denied" in res.stderr, res
        res = dw.ctl("stop", f"{t}/crash", **OPERATOR)
        assert res.returncode == 1 and "audit log cannot be written" in res.stderr, res
        res = dw.ctl("stop", f"{t}/web")
        assert res.returncode == 1 and "audit log cannot be written" in res.stderr, res
        res = run_session(dw, "wses-alice", "echo should-not-run\n")
        assert res.returncode == 1 and "should-not-run" not in res.stdout, res
        assert "audit log cannot be written" in res.stderr, res.stderr
        # A reload by signal is refused the same way.
        os.kill(d.pid, signal.SIGHUP)
        assert wait_for(lambda: "SIGHUP: reload refused: the audit log cannot be written"
                        in d.stderr(), timeout=10), d.stderr()
        # Read-only control answers, and says what is wrong.
        res = dw.ctl("status")
        assert res.returncode == 0 and t in res.stdout, res
        assert "WARNING: the audit log cannot be written" in res.stderr, res.stderr
        # Supervision goes on: the crash-looping service keeps restarting,
        # nothing was stopped.
        assert wait_for(lambda: restarts_of(dw, t, "crash") >= restarts0 + 3, timeout=20), \
            dw.service_status(t, "crash")
        assert dw.service_status(t, "web")["pid"] == web
        assert dw.service_status(t, "crash")["state"] != "stopped"
        restarts1 = restarts_of(dw, t, "crash")
        assert audit_state(dw)["state"] == "failing"

        filler.unlink()
        assert wait_for(lambda: audit_state(dw) == {"state": "ok"}, timeout=10), audit_state(dw)
        assert "writing again" in d.stderr()
        recs = dw.audit()  # every line whole JSON
        events = [r["event"] for r in recs]
        resumed = [i for i, e in enumerate(events) if e == "audit-resumed"]
        assert len(resumed) == 1, events[-20:]
        r = recs[resumed[0]]
        assert r["held"] > 0 and r["dropped"] == 0 and "No space" in r["error"], r

        def index(pred):
            found = [i for i, rec in enumerate(recs) if pred(rec)]
            assert found, "missing record"
            return found[-1]

        viewer = index(lambda r: r["event"] == "control" and r["cmd"] == "stop"
                       and r["peer"]["uid"] == STRANGER and r["result"] == "permission denied")
        operator = index(lambda r: r["event"] == "control" and r["cmd"] == "stop"
                         and r["peer"]["uid"] == STRANGER and r["verdict"] == "refused"
                         and "audit log cannot be written" in r["result"])
        root = index(lambda r: r["event"] == "control" and r["cmd"] == "stop"
                     and r["peer"]["uid"] == 0 and r["verdict"] == "refused")
        logon = index(lambda r: r["event"] == "session-logon" and r["user"] == "wses-alice"
                      and r["verdict"] == "refused" and "audit log" in r["reason"])
        assert max(viewer, operator, root, logon) < resumed[0]
        # No stop went through, and every restart of the outage is there.
        assert not [r for r in recs if r["event"] == "control" and r["cmd"] == "stop"
                    and r["verdict"] == "allowed"]
        crash = [r for r in recs if r["event"] == "service-restart" and r["service"] == "crash"]
        assert len(crash) >= restarts1, (len(crash), restarts1)

        # Writing again: the operator's stop goes through, recorded.
        res = dw.ctl("stop", f"{t}/crash", **OPERATOR)
        assert res.returncode == 0, res
        dw.wait_state(t, "crash", "stopped")
        assert [r for r in dw.audit("control", cmd="stop", verdict="allowed")
                if r["peer"]["uid"] == STRANGER]
        assert dw.stop_daemon(d) == 0
    finally:
        for d in dw.daemons:
            if d.running():
                dw.stop_daemon(d)
        subprocess.run(["umount", "-l", str(dw.logs)], check=False)


# ---------------------------------------------------------------- (c) rotation

def test_audit_rotation_under_load_loses_nothing(dw):
    """Requests from four clients at once and a crash-looping service,
    with rotation every 8 KiB: every record is in exactly one file, whole."""
    dw.write_config(audit={"max_bytes": "8K"})
    t = dw.name("rot")
    dw.write_profile(t, {"crash": dw.service("msleep", "100", "exit", "1", delay_ms=20,
                                             max_delay_ms=50, burst=1000, interval_s=1)})
    d = dw.start_daemon()
    dw.wait_state(t, "crash", ("running", "backoff"))
    me = os.getpid()

    def in_order():
        """The rotated files oldest first (their names sort by time), then
        the current one."""
        return sorted(dw.logs.glob("audit.jsonl.*")) + [dw.audit_path]

    def all_records():
        out = []
        for p in in_order():
            text = p.read_text()
            for line in text.split("\n")[:-1]:
                out.append(json.loads(line))
        return out

    def my_status(recs):
        return sum(1 for r in recs if r["event"] == "control" and r["cmd"] == "status"
                   and r["peer"]["pid"] == me)

    before = my_status(all_records())
    errors = []

    def load(n):
        try:
            c = Client(dw.socket, timeout=20)
            for _ in range(n):
                assert c.request({"cmd": "status"})["ok"] is True
            c.close()
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=load, args=(500,)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert dw.stop_daemon(d) == 0

    files = sorted(dw.logs.glob("audit.jsonl*"))
    names = [p.name for p in files]
    assert "audit.jsonl" in names and not [n for n in names if n.endswith(".new")], names
    rotated = [p for p in files if p.name != "audit.jsonl"]
    assert len(rotated) >= 10, names
    for p in files:
        st = p.stat()
        assert st.st_mode & 0o777 == 0o600 and st.st_size <= 8192, (p, st)
        assert re.fullmatch(r"audit\.jsonl(\.\d{8}T\d{6}\.\d{3}Z(-\d+)?)?", p.name), p.name
    recs = all_records()  # every line of every file is whole JSON
    assert my_status(recs) - before == 2000
    # The lifecycle records too: as many restarts as exits that asked for one,
    # and the daemon's start and stop, each once.
    assert [r["event"] for r in recs].count("daemon-start") == 1
    assert [r["event"] for r in recs].count("daemon-stop") == 1
    times = [r["time"] for r in recs]
    assert times == sorted(times), "files out of order"
