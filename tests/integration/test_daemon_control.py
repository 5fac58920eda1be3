"""End-to-end tests of the control socket and wardctl: the commands and
their exit codes, authorization by the peer's groups (refusals audited),
misbehaving clients, and service logs. See daemon_fixture.py."""

import json
import os
import re
import threading
import time

from conftest import wait_for
from daemon_fixture import (GID_GAMES, GID_STAFF, GID_USERS, STRANGER, WARDCTL,  # noqa: F401
                            Client, LineReader, daemon_built, dw)

SLEEP = ("sleep", "60")
VIEWER = dict(user=STRANGER, groups=[GID_STAFF, GID_GAMES])
OPERATOR = dict(user=STRANGER, groups=[GID_STAFF, GID_USERS])
OUTSIDER = dict(user=STRANGER, groups=[GID_STAFF])  # may connect, nothing more


def one_tenant(dw, base="alpha", **services):
    t = dw.name(base)
    dw.write_profile(t, services or {"app": dw.service(*SLEEP)})
    dw.start_daemon()
    return t


def control_records(dw, **match):
    return [r for r in dw.audit("control") if all(
        (r.get("peer") or {}).get(k[5:]) == v if k.startswith("peer_") else r.get(k) == v
        for k, v in match.items())]


# ---------------------------------------------------------------- wardctl


def test_status_table_and_json(dw):
    a, b = dw.name("alpha"), dw.name("beta")
    dw.write_profile(a, {"app": dw.service(*SLEEP),
                         "job": dw.service("exit", "3", on="never")})
    dw.write_profile(b, {"app": dw.service(*SLEEP)})
    dw.start_daemon()
    pid = dw.wait_state(a, "app", "running")["pid"]
    dw.wait_state(b, "app", "running")
    dw.wait_state(a, "job", ("stopped", "failed"))

    res = dw.ctl("status")
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert lines[0].split() == ["TENANT", "SERVICE", "STATE", "PID", "ADDRESS", "DROPS", "UPTIME",
                                "RESTARTS", "MEM/PEAK", "PIDS", "CPU", "OOM", "LAST-EXIT"], lines[0]
    rows = {tuple(ln.split()[:2]): ln.split() for ln in lines[1:]}
    assert rows[(a, "app")][2:4] == ["running", str(pid)], rows
    assert rows[(a, "job")][2] in ("stopped", "failed"), rows
    assert "exited 3" in next(ln for ln in lines if ln.split()[:2] == [a, "job"])
    assert (b, "app") in rows

    res = dw.ctl("status", "--json")
    assert res.returncode == 0, res.stderr
    services = json.loads(res.stdout)
    assert isinstance(services, list)
    by = {(s["tenant"], s["service"]): s for s in services}
    assert set(by) == {(a, "app"), (a, "job"), (b, "app")}
    for s in services:
        assert {"tenant", "service", "state", "pid", "uptime_s", "restarts",
                "last_exit"} <= set(s), s
    assert by[(a, "app")]["pid"] == pid and by[(a, "app")]["state"] == "running"
    assert by[(a, "job")]["pid"] == 0 and by[(a, "job")]["last_exit"] == "exited 3"
    assert by[(a, "job")]["uptime_s"] == 0
    assert by[(a, "app")]["last_exit"] == ""

    res = dw.ctl("status", a, "--json")
    assert res.returncode == 0, res.stderr
    assert {s["tenant"] for s in json.loads(res.stdout)} == {a}

    res = dw.ctl("status", "nosuch")
    assert res.returncode == 1
    assert 'no tenant "nosuch"' in res.stderr, res.stderr
    assert res.stdout == ""


def test_wardctl_exit_codes(dw):
    t = one_tenant(dw)
    dw.wait_state(t, "app", "running")
    usage = [[], ["frobnicate"], ["stop"], ["start"], ["logs"],
             ["status", "--bogus"], ["logs", f"{t}/app", "-n", "many"],
             ["stop", f"{t}/app", "extra"]]
    for args in usage:
        res = dw.ctl(*args)
        assert res.returncode == 2, (args, res.returncode, res.stderr)
        assert res.stderr.strip(), f"no message for usage error {args}"
    failed = [["stop", "nosuch/app"], ["stop", f"{t}/nosuch"], ["restart", "nosuch"],
              ["reset", f"{t}/nosuch"], ["logs", f"{t}/nosuch"]]
    for args in failed:
        res = dw.ctl(*args)
        assert res.returncode == 1, (args, res.returncode, res.stderr)
        assert res.stderr.strip(), f"no message for failed {args}"
    res = dw.ctl("status", socket_path=dw.tmp / "no-such.sock")
    assert res.returncode == 1, res
    assert res.stderr.strip()
    for args in (["status"], ["status", t], ["start", f"{t}/app"], ["logs", f"{t}/app"]):
        res = dw.ctl(*args)
        assert res.returncode == 0, (args, res.returncode, res.stderr)
    # --state-dir names the socket by its directory
    res = dw.ctl(raw_argv=[str(WARDCTL), "--state-dir", str(dw.state), "status"])
    assert res.returncode == 0, res.stderr
    assert dw.service_status(t, "app")["state"] == "running"


def test_protocol_errors_do_not_break_the_connection(dw):
    t = one_tenant(dw)
    pid = dw.wait_state(t, "app", "running")["pid"]
    c = dw.client()
    c.send_raw(b"{this is not json\n")
    r = c.read_reply()
    assert r["ok"] is False and r["error"].startswith("malformed request"), r
    assert c.request({"cmd": "status"})["ok"] is True  # the same connection goes on
    r = c.request({"cmd": "frobnicate"})
    assert r["ok"] is False and "frobnicate" in r["error"], r
    r = c.request({"cmd": "status", "tenant": "nosuch"})
    assert r == {"ok": False, "error": 'no tenant "nosuch"'}, r
    rec = dw.wait_audit("control", cmd="status", tenant="nosuch")[-1]
    assert rec["verdict"] == "allowed" and rec["result"] == 'no tenant "nosuch"', rec
    assert rec["peer"]["pid"] == os.getpid(), rec
    for bad in ({"cmd": "stop", "tenant": "../etc"}, {"cmd": "stop", "tenant": "a/b"},
                {"cmd": "stop", "tenant": t, "service": ".."},
                {"cmd": "stop", "tenant": t, "service": "app/../app"},
                {"cmd": "logs", "tenant": t, "service": "../../audit"},
                {"cmd": "stop", "tenant": "Alpha"}, {"cmd": "stop", "tenant": ""}):
        r = c.request(bad)
        assert r["ok"] is False and r.get("error"), (bad, r)
    r = c.request({"cmd": "status"})
    assert r["ok"] is True
    st = dw.service_status(t, "app")
    assert st["state"] == "running" and st["pid"] == pid


# ---------------------------------------------------------------- authorization


def test_outsider_refused_and_audited(dw):
    t = one_tenant(dw)
    pid = dw.wait_state(t, "app", "running")["pid"]
    for args in (["status"], ["stop", f"{t}/app"], ["logs", f"{t}/app"], ["reload"]):
        res = dw.ctl(*args, **OUTSIDER)
        assert res.returncode == 1, (args, res.returncode, res.stdout, res.stderr)
        assert "permission denied" in res.stderr, (args, res.stderr)
        assert t not in res.stdout
    refused = control_records(dw, peer_uid=STRANGER)
    assert sorted(r["cmd"] for r in refused) == ["logs", "reload", "status", "stop"], refused
    for r in refused:
        assert r["verdict"] == "refused", r
        assert r["result"] != "ok", r
        peer = r["peer"]
        assert peer["gid"] == STRANGER and isinstance(peer["pid"], int) and peer["pid"] > 0, r
        assert "user" in peer, r
    stop = next(r for r in refused if r["cmd"] == "stop")
    assert stop["tenant"] == t and stop["service"] == "app", stop
    st = dw.service_status(t, "app")
    assert st["state"] == "running" and st["pid"] == pid
    # root's own requests are audited the same way, allowed
    mine = control_records(dw, peer_uid=0, cmd="status", verdict="allowed")
    assert mine and mine[0]["peer"]["user"] == "root" and mine[0]["result"] == "ok", mine[:1]


def test_not_in_socket_group_cannot_connect(dw):
    t = one_tenant(dw)
    dw.wait_state(t, "app", "running")
    res = dw.ctl("status", user=STRANGER, groups=[GID_GAMES, GID_USERS])
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.strip()
    assert t not in res.stdout


def test_viewer_reads_but_cannot_operate(dw):
    t = one_tenant(dw, app=dw.service("say", "viewer-can-see-this", "sleep", "60"))
    pid = dw.wait_state(t, "app", "running")["pid"]
    res = dw.ctl("status", "--json", **VIEWER)
    assert res.returncode == 0, res.stderr
    assert any(s["tenant"] == t and s["pid"] == pid for s in json.loads(res.stdout))
    assert wait_for(lambda: "viewer-can-see-this" in dw.ctl("logs", f"{t}/app",
                                                            **VIEWER).stdout, timeout=5)
    for args in (["stop", f"{t}/app"], ["restart", f"{t}/app"], ["reload"]):
        res = dw.ctl(*args, **VIEWER)
        assert res.returncode == 1, (args, res.returncode, res.stderr)
        assert "permission denied" in res.stderr, res.stderr
    st = dw.service_status(t, "app")
    assert st["state"] == "running" and st["pid"] == pid
    recs = control_records(dw, peer_uid=STRANGER)
    verdicts = {(r["cmd"], r["verdict"]) for r in recs}
    assert ("status", "allowed") in verdicts and ("logs", "allowed") in verdicts, verdicts
    assert ("stop", "refused") in verdicts and ("reload", "refused") in verdicts, verdicts
    assert ("stop", "allowed") not in verdicts


def test_operator_operates(dw):
    t = one_tenant(dw)
    dw.wait_state(t, "app", "running")
    res = dw.ctl("stop", f"{t}/app", **OPERATOR)
    assert res.returncode == 0, res.stderr
    dw.wait_state(t, "app", "stopped")
    res = dw.ctl("start", f"{t}/app", **OPERATOR)
    assert res.returncode == 0, res.stderr
    dw.wait_state(t, "app", "running")
    res = dw.ctl("reload", **OPERATOR)
    assert res.returncode == 0, res.stderr
    recs = control_records(dw, peer_uid=STRANGER)
    assert [(r["cmd"], r["verdict"], r["result"]) for r in recs] == [
        ("stop", "allowed", "ok"), ("start", "allowed", "ok"), ("reload", "allowed", "ok")], recs
    stop = dw.wait_audit("service-stop", tenant=t, service="app")[0]
    assert stop["by"] == "operator"


# ---------------------------------------------------------------- misbehaving clients


def test_crowd_and_garbage_do_not_stop_a_good_client(dw):
    t = one_tenant(dw)
    pid = dw.wait_state(t, "app", "running")["pid"]
    # 200 clients connected at once, saying nothing yet
    crowd = [dw.client(timeout=10) for _ in range(200)]
    # 10 clients sending garbage, none of them reading
    junk = []
    for i in range(3):  # binary junk with newlines in it
        c = dw.client(timeout=5)
        blob = bytearray(os.urandom(16384))
        for j in range(0, len(blob), 997):
            blob[j] = 0x0A
        c.send_raw(bytes(blob))
        junk.append(c)
    big = []
    for i in range(2):  # a line over 64 KiB
        c = dw.client(timeout=5)
        big.append(c)
        threading.Thread(target=_send_quietly,
                         args=(c, b'{"cmd":"status","x":"' + b"a" * 70000 + b'"}\n'),
                         daemon=True).start()
    for i in range(2):  # binary junk without a newline, then silence
        c = dw.client(timeout=5)
        c.send_raw(os.urandom(8192).replace(b"\n", b" "))
        junk.append(c)
    partial = []
    for i in range(3):  # half a request, then silence
        c = dw.client(timeout=5)
        c.send_raw(b'{"cmd":"sta')
        partial.append(c)

    t0 = time.monotonic()
    res = dw.ctl("status", "--json", timeout=10)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert any(s["tenant"] == t and s["pid"] == pid for s in json.loads(res.stdout))
    assert elapsed < 1.0, f"status took {elapsed:.2f}s with 210 other clients"

    # the crowd is served too: every one of the 200 gets its reply
    for c in crowd:
        c.send({"cmd": "status"})
    for i, c in enumerate(crowd):
        r = c.read_reply()
        assert r["ok"] is True, (i, r)

    # an over-long line gets an error, then the connection is closed
    for c in big:
        assert c.closed_by_peer(timeout=5), "a client that sent a >64 KiB line was not dropped"
        replies = [json.loads(ln) for ln in c.buf.split(b"\n") if ln.strip()]
        assert replies and replies[0]["ok"] is False, c.buf[:200]
    assert dw.daemons[-1].running()
    assert dw.service_status(t, "app")["pid"] == pid


def _send_quietly(c, data):
    try:
        c.send_raw(data)
    except OSError:
        pass


def test_silent_client_dropped(dw):
    """A client that never completes a request is closed after 10 s."""
    t = one_tenant(dw)
    dw.wait_state(t, "app", "running")
    silent = dw.client(timeout=15)
    partial = dw.client(timeout=15)
    partial.send_raw(b'{"cmd":')
    t0 = time.monotonic()
    assert silent.closed_by_peer(timeout=14), "a silent client was never dropped"
    assert partial.closed_by_peer(timeout=max(0.5, 14 - (time.monotonic() - t0)))
    assert time.monotonic() - t0 >= 8, "the silent client was dropped far before 10 s"
    assert dw.request({"cmd": "status"})["ok"] is True


# ---------------------------------------------------------------- logs


def test_logs_show_output_and_follow_streams(dw):
    t = one_tenant(dw, app=dw.service("say", "hello-from-app", "ticks", "600"))
    dw.wait_state(t, "app", "running")
    log = dw.logs / t / "app.log"
    assert wait_for(lambda: log.exists() and "tick 3\n" in log.read_text(), timeout=5), \
        f"{log}: {log.read_text() if log.exists() else 'missing'}"
    res = dw.ctl("logs", f"{t}/app")
    assert res.returncode == 0, res.stderr
    assert "hello-from-app" in res.stdout
    res = dw.ctl("logs", f"{t}/app", "-n", "2")
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln]
    assert len(lines) == 2 and all(re.fullmatch(r"tick \d+", ln) for ln in lines), lines
    a, b = (int(ln.split()[1]) for ln in lines)
    assert b == a + 1

    p = dw.ctl_popen("logs", f"{t}/app", "-f")
    reader = LineReader(p.stdout)

    def ticks():
        return [int(ln.split()[1]) for ln in reader.snapshot() if re.fullmatch(r"tick \d+", ln)]

    first = wait_for(ticks, timeout=5)
    assert first, f"wardctl logs -f printed nothing: {reader.snapshot()} {p.poll()}"
    start = max(first)
    assert wait_for(lambda: max(ticks()) >= start + 5, timeout=5), \
        f"logs -f did not stream new output: {reader.snapshot()[-5:]}"
    assert p.poll() is None, "wardctl logs -f ended while the service still writes"
    p.kill()


def test_big_writer_rotates_and_blocks_no_one(dw):
    dw.write_config(logs={"max_bytes": "64K", "keep": 2})
    big, small = dw.name("big"), dw.name("small")
    dw.write_profile(big, {"app": dw.service("flood", 30_000_000, "sleep", "60")})
    dw.write_profile(small, {"app": dw.service("ticks", "600")})
    dw.start_daemon()
    dw.wait_state(small, "app", "running")
    dw.wait_state(big, "app", "running")
    d = dw.logs / big
    slog = dw.logs / small / "app.log"
    worst = 0.0
    ticks_at_start = None
    deadline = time.monotonic() + 30
    while True:
        t0 = time.monotonic()
        assert dw.request({"cmd": "status"})["ok"] is True
        worst = max(worst, time.monotonic() - t0)
        if ticks_at_start is None and slog.exists():
            ticks_at_start = slog.read_text().count("tick")
        cur = d / "app.log"
        if cur.exists() and "sleep:60" in cur.read_text(errors="replace"):
            break  # the flood is over: the probe went on to `sleep`
        assert time.monotonic() < deadline, "the flood never ended"
        time.sleep(0.05)
    assert worst < 0.5, f"status took {worst:.2f}s while a service flooded its log"
    names = sorted(p.name for p in d.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2"], names
    for p in d.iterdir():
        assert p.stat().st_size <= 64 * 1024 + 65536, (p, p.stat().st_size)
    assert (d / "app.log.1").stat().st_size >= 32 * 1024
    # the other tenant's log went on meanwhile
    assert wait_for(lambda: slog.read_text().count("tick") > (ticks_at_start or 0) + 3,
                    timeout=3)
