"""End-to-end tests of the daemon: wardd keeps every tenant running (restart
policy, stop, `after`, shutdown, SIGKILL, reload, profile checks), with the
audit log as the witness. The control socket, wardctl and authorization are
in test_daemon_control.py. See daemon_fixture.py for the world a test gets
and conftest.py for how to run the suite."""

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ID_COUNT, POLICIES, PROBE_DIR, descendants, proc_comm, wait_for
from daemon_fixture import (GID_STAFF, STRANGER, WARDD, Snapshot, cgroup_dirs_named,  # noqa: F401
                            daemon_built, dw, ms_between, mountpoints, net_links, proc_alive,
                            proc_stat, proc_uid)

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SLEEP = ("sleep", "60")


def running_services(dw, pairs):
    """Waits until every (tenant, service) runs; returns {(t, s): pid}."""
    return {(t, s): dw.wait_state(t, s, "running")["pid"] for t, s in pairs}


def sleepers_under(pid):
    return [p for p in descendants(pid) if proc_comm(p) == "probe-sleeper"]


def index_of(records, pred):
    for i, r in enumerate(records):
        if pred(r):
            return i
    return None


def no_more(dw, event, count, timeout=0.5, **match):
    """True if within timeout no more than count records of event appear
    (a short, bounded wait: used only to show that something does NOT happen,
    with restart delays far shorter than the wait)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(dw.audit(event, **match)) > count:
            return False
        time.sleep(0.02)
    return len(dw.audit(event, **match)) <= count


# ---------------------------------------------------------------- basics


def test_help_documents_every_flag(daemon_built):
    res = subprocess.run([str(WARDD), "--help"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0, res.stderr
    text = res.stdout + res.stderr
    for flag in ("--config", "--tenants", "--policies", "--state-dir", "--log-dir",
                 "--data-dir"):
        assert flag in text, f"wardd --help does not mention {flag}:\n{text}"


def test_config_unknown_key_refused(dw):
    dw.config_path.write_text('{\n  "state_dir": "%s",\n  "bogus": 1\n}\n' % dw.state)
    d = dw.start_daemon(wait=False)
    try:
        rc = d.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        dw.fail("wardd kept running with an unknown key in its settings")
    assert rc != 0
    err = d.stderr()
    assert re.search(re.escape(str(dw.config_path)) + r":3:\d+", err), err
    assert "bogus" in err, err
    assert not dw.socket.exists()


def test_flags_override_the_settings_file(dw):
    other = dw.tmp / "other-state"
    other.mkdir()
    dw.write_config(state_dir=str(other))
    t = dw.name("alpha")
    dw.write_profile(t, {"app": dw.service(*SLEEP)})
    dw.start_daemon(extra=["--state-dir", str(dw.state)])  # waits for dw.state/control.sock
    assert not (other / "control.sock").exists()
    dw.wait_state(t, "app", "running")


def test_daemon_starts_every_service(dw):
    dw.write_config(audit={"fsync": "each"})
    a, b = dw.name("alpha"), dw.name("beta")
    dw.write_profile(a, {"app": dw.service(*SLEEP)})
    dw.write_profile(b, {"db": dw.service(*SLEEP), "web": dw.service(*SLEEP)})
    d = dw.start_daemon()
    pids = running_services(dw, [(a, "app"), (b, "db"), (b, "web")])
    assert len(set(pids.values())) == 3, pids
    under = descendants(d.pid)
    for (t, s), pid in pids.items():
        assert proc_alive(pid), (t, s, pid)
        assert pid in under, f"{t}/{s} pid {pid} is not a process under wardd"
        assert proc_comm(pid) == "probe"
        assert proc_uid(pid) == dw.uid_of(t), f"{t}/{s} does not run as its tenant's uid"
        starts = dw.wait_audit("service-start", tenant=t, service=s)
        assert starts[-1]["pid"] == pid

    st = os.stat(dw.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert st.st_gid == GID_STAFF, "the socket's group is not the configured socket_group"
    st = os.stat(dw.audit_path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == 0

    ds = dw.audit("daemon-start")
    assert len(ds) == 1, ds
    assert ds[0]["pid"] == d.pid
    assert ds[0].get("version")
    assert ds[0]["tenants"] in (2, sorted([a, b])) or sorted(ds[0]["tenants"]) == sorted([a, b])

    # every record: one JSON object per line, "time" (RFC 3339 UTC, ms) and
    # "event" first, times never going backwards
    lines = dw.audit_text().splitlines()
    assert lines
    prev = None
    for line in lines:
        pairs = json.loads(line, object_pairs_hook=list)
        assert [k for k, _ in pairs[:2]] == ["time", "event"], line
        assert TIME_RE.match(pairs[0][1]), line
        if prev is not None:
            assert ms_between(prev, pairs[0][1]) >= 0, (prev, line)
        prev = pairs[0][1]


@pytest.mark.parametrize("on", ["failure", "never"])
def test_data_dir_missing_fails_only_that_tenant(dw, on):
    good, bad = dw.name("good"), dw.name("nodata")
    dw.write_profile(good, {"app": dw.service(*SLEEP)})
    dw.write_profile(bad, {"app": dw.service(*SLEEP, on=on, delay_ms=10, max_delay_ms=10,
                                             burst=3)}, make_data=False)
    dw.start_daemon()
    dw.wait_state(good, "app", "running")
    st = dw.wait_state(bad, "app", "failed")
    assert st["pid"] == 0
    rec = dw.wait_audit("service-start-failed", tenant=bad, service="app")[0]
    assert rec.get("error"), rec
    assert not dw.audit("service-start", tenant=bad)
    assert dw.wait_audit("service-failed", timeout=3, tenant=bad, service="app"), \
        "the service entered failed without a service-failed record"


# ---------------------------------------------------------------- restart policy


def test_crash_is_restarted_and_audited(dw):
    t = dw.name("crash")
    # it lives 200 ms, so its pid is known for sure before it crashes
    dw.write_profile(t, {"app": dw.service("msleep", "200", "kill-self", "SEGV", delay_ms=50,
                                           max_delay_ms=50, burst=1000)})
    dw.start_daemon()
    starts = dw.wait_audit("service-start", count=2, tenant=t, service="app")
    assert 0 < starts[0]["pid"] != starts[1]["pid"] > 0, starts
    recs = dw.audit()
    i_start = index_of(recs, lambda r: r["event"] == "service-start" and r.get("tenant") == t)
    i_exit = index_of(recs, lambda r: r["event"] == "service-exit" and r.get("tenant") == t)
    i_restart = index_of(recs, lambda r: r["event"] == "service-restart" and r.get("tenant") == t)
    assert None not in (i_start, i_exit, i_restart), dw.audit_summary()
    i_start2 = index_of(recs, lambda r: r == starts[1])
    assert i_start < i_exit < i_restart < i_start2, (i_start, i_exit, i_restart, i_start2)
    e = recs[i_exit]
    assert e["service"] == "app" and e["pid"] == starts[0]["pid"]
    assert e["signal"] in ("SIGSEGV", "SEGV", int(signal.SIGSEGV)), e
    assert e["code"] is None, e
    assert e["clean"] is False, e
    assert e["status"].startswith("killed by SIGSEGV"), e
    assert "core_dumped" in e
    r = recs[i_restart]
    assert r["service"] == "app" and r["delay_ms"] == 50 and r["restarts"] >= 1, r
    st = dw.service_status(t, "app")
    assert st["restarts"] >= 1, st
    assert st["last_exit"].startswith("killed by SIGSEGV"), st
    res = dw.ctl("stop", f"{t}/app")
    assert res.returncode == 0, res.stderr
    dw.wait_state(t, "app", "stopped")


def test_every_start_and_exit_names_the_pid_that_ran(dw):
    """Even a service that dies right after its execve: the audit says which
    process it was (the daemon must not look the pid up after the fact)."""
    t = dw.name("pids")
    dw.write_profile(t, {"app": dw.service("kill-self", "SEGV", delay_ms=0, max_delay_ms=0,
                                           burst=1000)})
    dw.start_daemon()
    dw.wait_audit("service-start", count=60, timeout=10, tenant=t, service="app")
    res = dw.ctl("stop", f"{t}/app")
    assert res.returncode == 0, res.stderr
    dw.wait_state(t, "app", "stopped")
    recs = [r for r in dw.audit() if r.get("tenant") == t
            and r["event"] in ("service-start", "service-exit")]
    zero = [r for r in recs if r["pid"] == 0]
    assert not zero, f"{len(zero)} of {len(recs)} start/exit records have pid 0: {zero[:2]}"
    for a, b in zip(recs, recs[1:]):
        if a["event"] == "service-start" and b["event"] == "service-exit":
            assert a["pid"] == b["pid"], (a, b)


# (restart.on, what the probe does, restarted?, state when not restarted)
POLICY_CASES = [
    ("failure", ["exit", "0"], False, ("stopped",)),
    ("failure", ["kill-self", "TERM"], False, ("stopped",)),
    ("failure", ["exit", "3"], True, None),
    ("always", ["exit", "0"], True, None),
    ("never", ["kill-self", "SEGV"], False, ("stopped", "failed")),
]


@pytest.mark.parametrize("on,action,restarted,end_states", POLICY_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}" for c in POLICY_CASES])
def test_restart_policy(dw, on, action, restarted, end_states):
    t = dw.name("pol")
    dw.write_profile(t, {"app": dw.service(*action, on=on, delay_ms=20, max_delay_ms=20,
                                           burst=1000)})
    dw.start_daemon()
    exit_rec = dw.wait_audit("service-exit", tenant=t, service="app")[0]
    clean = action in (["exit", "0"], ["kill-self", "TERM"])
    assert exit_rec["clean"] is clean, exit_rec
    if action[0] == "exit":
        assert exit_rec["code"] == int(action[1]) and exit_rec["signal"] is None, exit_rec
        assert exit_rec["status"] == f"exited {action[1]}", exit_rec
    if restarted:
        dw.wait_audit("service-restart", tenant=t, service="app")
        dw.wait_audit("service-start", count=2, tenant=t, service="app")
        res = dw.ctl("stop", f"{t}/app")
        assert res.returncode == 0, res.stderr
    else:
        # a restart would come 20 ms after the exit: half a second is plenty
        assert no_more(dw, "service-start", 1, timeout=0.5, tenant=t, service="app"), \
            dw.audit_summary()
        assert not dw.audit("service-restart", tenant=t)
        st = dw.wait_state(t, "app", end_states)
        assert st["pid"] == 0


def test_crash_loop_ends_in_failed_with_growing_delays(dw):
    t = dw.name("loop")
    burst, delay, cap = 4, 100, 300
    want = [min(delay * 2 ** i, cap) for i in range(burst - 1)]  # 100, 200, 300
    dw.write_profile(t, {"app": dw.service("kill-self", "SEGV", delay_ms=delay,
                                           max_delay_ms=cap, burst=burst, interval_s=60)})
    dw.start_daemon()
    st = dw.wait_state(t, "app", "failed", timeout=10)
    assert st["pid"] == 0
    starts = dw.audit("service-start", tenant=t, service="app")
    assert len(starts) == burst, f"{len(starts)} starts, expected burst={burst}"
    restarts = dw.audit("service-restart", tenant=t, service="app")
    delays = [r["delay_ms"] for r in restarts]
    # Like systemd, ward may schedule one more restart and hit the start
    # limit only when its timer fires: then the last service-restart has no
    # service-start after it, and its delay is the next one of the sequence.
    assert delays in (want, want + [min(delay * 2 ** (burst - 1), cap)]), delays
    # Each gap is the run (a few ms), the delay, and the next sandbox's
    # setup: never shorter than the delay; the generous upper bound only
    # catches gross errors (seconds for milliseconds) on a loaded machine.
    gaps = [ms_between(a["time"], b["time"]) for a, b in zip(starts, starts[1:])]
    for gap, d in zip(gaps, want):
        assert d - 2 <= gap <= d + 1000, f"gaps between starts {gaps}, delays {want}"
    # and from the decision to restart (timer armed) to the next start
    waits = [ms_between(r["time"], b["time"]) for r, b in zip(restarts, starts[1:])]
    for w, d in zip(waits, want):
        assert w >= d - 2, f"restart -> start {waits}, delays {want}"
    failed = dw.wait_audit("service-failed", tenant=t, service="app")
    assert len(failed) == 1 and failed[0].get("reason"), failed
    assert ms_between(starts[-1]["time"], failed[0]["time"]) >= 0
    # failed stays failed: no timer brings it back
    assert no_more(dw, "service-start", burst, timeout=0.6, tenant=t, service="app")
    assert dw.service_status(t, "app")["state"] == "failed"


def test_long_run_resets_the_delay_and_the_start_count(dw):
    """A service that stayed up longer than interval_s starts over: its next
    delay is delay_ms again, and old starts do not count towards burst."""
    t = dw.name("long")
    dw.write_profile(t, {"app": dw.service("sleep", "2", "kill-self", "SEGV", delay_ms=100,
                                           max_delay_ms=1000, burst=2, interval_s=1)})
    dw.start_daemon()
    starts = dw.wait_audit("service-start", count=3, timeout=12, tenant=t, service="app")
    restarts = dw.audit("service-restart", tenant=t, service="app")
    assert [r["delay_ms"] for r in restarts[:2]] == [100, 100], restarts
    gaps = [ms_between(a["time"], b["time"]) for a, b in zip(starts, starts[1:3])]
    assert all(2000 + 100 - 2 <= g <= 2000 + 100 + 1000 for g in gaps), gaps
    assert not dw.audit("service-failed", tenant=t)
    dw.ctl("stop", f"{t}/app")


@pytest.mark.parametrize("how", ["start", "reset"])
def test_operator_brings_a_failed_service_back(dw, how):
    t = dw.name("back")
    dw.write_profile(t, {"app": dw.service("kill-self", "SEGV", delay_ms=10, max_delay_ms=10,
                                           burst=2)})
    dw.start_daemon()
    dw.wait_state(t, "app", "failed")
    n = len(dw.audit("service-start", tenant=t, service="app"))
    res = dw.ctl(how, f"{t}/app")
    assert res.returncode == 0, res.stderr
    if how == "reset":
        dw.wait_audit("service-reset", tenant=t, service="app")
        st = dw.service_status(t, "app")
        # right after the reset it is no longer failed (it may be restarting,
        # and failing again later, but not yet: it needs two more starts)
        assert st["state"] != "failed", st
    else:
        dw.wait_audit("service-start", count=n + 1, tenant=t, service="app")
    dw.ctl("stop", f"{t}/app")


# ---------------------------------------------------------------- stop


def test_stop_kills_after_timeout_with_grandchildren(dw):
    t = dw.name("stop")
    dw.write_profile(t, {
        "stubborn": dw.service("ignore", "TERM", "sleeper", "60", "sleep", "60",
                               stop_timeout_s=1),
        "meek": dw.service(*SLEEP, stop_timeout_s=1),
    })
    d = dw.start_daemon()
    pids = running_services(dw, [(t, "stubborn"), (t, "meek")])
    stub = pids[(t, "stubborn")]
    sleepers = wait_for(lambda: (lambda s: s if len(s) == 2 else None)(sleepers_under(stub)))
    assert sleepers, f"the sleepers never appeared under {stub}: {descendants(d.pid)}"
    init = proc_stat(stub)[2]  # the service's init (pid 1 of its namespace)
    assert init != d.pid
    tree = Snapshot([init, stub] + sleepers)
    n_starts = len(dw.audit("service-start", tenant=t))

    t0 = time.monotonic()
    ctl = dw.ctl_popen("stop", f"{t}/stubborn")
    # SIGTERM is ignored: everything still lives half a second later
    time.sleep(0.5)
    assert sorted(tree.alive()) == sorted([init, stub] + sleepers), \
        "the stubborn service was killed before its stop timeout"
    gone = wait_for(lambda: not tree.alive(), timeout=5, interval=0.01)
    elapsed = time.monotonic() - t0
    if not gone:
        dw.fail(f"still alive after {elapsed:.1f}s: {tree.describe()}")
    if not 0.9 <= elapsed <= 3.5:
        dw.fail(f"the stubborn service died {elapsed:.2f}s after `wardctl stop` "
                f"(stop_timeout_s is 1)")
    assert ctl.wait(timeout=10) == 0, ctl.stderr.read()
    rec = dw.wait_audit("service-stop", tenant=t, service="stubborn")[0]
    if not (rec["killed"] is True and rec["by"] == "operator"):
        dw.fail(f"service-stop record: {rec}")
    assert dw.wait_state(t, "stubborn", "stopped")["pid"] == 0

    # one that obeys SIGTERM is not SIGKILLed
    meek = Snapshot([pids[(t, "meek")]])
    t0 = time.monotonic()
    res = dw.ctl("stop", f"{t}/meek")
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: not meek.alive(), timeout=5, interval=0.01)
    assert time.monotonic() - t0 < 0.9
    rec = dw.wait_audit("service-stop", tenant=t, service="meek")[0]
    assert rec["killed"] is False and rec["by"] == "operator", rec
    dw.wait_state(t, "meek", "stopped")

    # an operator's stop is not undone by the restart policy
    assert no_more(dw, "service-start", n_starts, timeout=0.5, tenant=t)
    assert dw.tenant_pids() == [], "a process of the tenant outlived its services' stop"


def test_stop_during_backoff_is_final(dw):
    t = dw.name("backoff")
    dw.write_profile(t, {"app": dw.service("kill-self", "SEGV", delay_ms=300, max_delay_ms=300,
                                           burst=100)})
    dw.start_daemon()
    dw.wait_audit("service-restart", tenant=t, service="app")
    assert dw.service_status(t, "app")["state"] == "backoff"
    res = dw.ctl("stop", f"{t}/app")
    assert res.returncode == 0, res.stderr
    assert dw.service_status(t, "app")["state"] == "stopped"
    assert no_more(dw, "service-start", 1, timeout=0.7, tenant=t, service="app"), \
        "the restart timer undid the operator's stop"
    assert dw.service_status(t, "app")["state"] == "stopped"


def test_start_stop_restart_commands(dw):
    t = dw.name("cmds")
    dw.write_profile(t, {"app": dw.service(*SLEEP), "aux": dw.service(*SLEEP)})
    dw.start_daemon()
    pids = running_services(dw, [(t, "app"), (t, "aux")])
    old = Snapshot([pids[(t, "app")]])
    res = dw.ctl("restart", f"{t}/app")
    assert res.returncode == 0, res.stderr
    new = wait_for(lambda: (lambda p: p if p and p != pids[(t, "app")] else None)(
        dw.pid_of(t, "app")))
    assert new, "restart did not start a new process"
    dw.wait_state(t, "app", "running")
    assert wait_for(lambda: not old.alive(), timeout=3)
    assert dw.pid_of(t, "aux") == pids[(t, "aux")], "restarting app touched aux"

    res = dw.ctl("stop", t)  # the whole tenant
    assert res.returncode == 0, res.stderr
    dw.wait_state(t, "app", "stopped")
    dw.wait_state(t, "aux", "stopped")
    assert wait_for(lambda: dw.tenant_pids() == [], timeout=3)

    res = dw.ctl("start", f"{t}/aux")
    assert res.returncode == 0, res.stderr
    dw.wait_state(t, "aux", "running")
    assert dw.service_status(t, "app")["state"] == "stopped"


# ---------------------------------------------------------------- after


def test_after_orders_starts(dw):
    t = dw.name("order")
    # listed in the reverse of the order they must start in
    dw.write_profile(t, {"web": dw.service(*SLEEP, after=["app"]),
                         "app": dw.service(*SLEEP, after=["db"]),
                         "db": dw.service(*SLEEP)})
    dw.start_daemon()
    running_services(dw, [(t, "web"), (t, "app"), (t, "db")])
    starts = [r["service"] for r in dw.audit("service-start", tenant=t)]
    assert starts == ["db", "app", "web"], starts


def test_after_waits_until_the_named_service_runs(dw):
    t = dw.name("dep")
    dw.write_profile(t, {
        "db": dw.service(exec_=[PROBE_DIR + "/no-such-program"], on="never"),
        "web": dw.service(*SLEEP, after=["db"]),
    })
    dw.start_daemon()
    dw.wait_state(t, "db", ("failed", "stopped"))
    dw.wait_audit("service-start-failed", tenant=t, service="db")
    assert no_more(dw, "service-start", 0, timeout=0.5, tenant=t, service="web"), \
        "web started although db, which it is after, never ran"
    assert dw.service_status(t, "web")["state"] != "running"


# ---------------------------------------------------------------- the daemon's end


def test_sigterm_stops_everything_and_exits_0(dw):
    a, b = dw.name("alpha"), dw.name("beta")
    dw.write_profile(a, {"web": dw.service(*SLEEP, after=["db"]), "db": dw.service(*SLEEP)})
    dw.write_profile(b, {"stubborn": dw.service("ignore", "TERM", "sleeper", "60",
                                                "sleep", "60", stop_timeout_s=1)})
    links_before = net_links()
    mounts_before = set(mountpoints())
    d = dw.start_daemon()
    pids = running_services(dw, [(a, "web"), (a, "db"), (b, "stubborn")])
    assert wait_for(lambda: len(sleepers_under(pids[(b, "stubborn")])) == 2)
    tree = d.tree()
    assert len(tree.procs) >= 5, tree.describe()

    rc = dw.stop_daemon(d, signal.SIGTERM, timeout=10)
    assert rc == 0, d.stderr()
    assert tree.alive() == [], f"left running after wardd exited: {tree.describe()}"
    assert dw.tenant_pids() == []
    assert not dw.socket.exists(), "the control socket was not removed"
    recs = dw.audit()
    assert recs[-1]["event"] == "daemon-stop", recs[-1]
    stops = [(r["tenant"], r["service"]) for r in recs if r["event"] == "service-stop"]
    assert sorted(stops) == sorted([(a, "web"), (a, "db"), (b, "stubborn")]), stops
    assert stops.index((a, "web")) < stops.index((a, "db")), "db was stopped before web"
    by = {(r["tenant"], r["service"]): r for r in recs if r["event"] == "service-stop"}
    assert all(r["by"] == "shutdown" for r in by.values()), by
    assert by[(b, "stubborn")]["killed"] is True
    assert by[(a, "db")]["killed"] is False
    # nothing of the kernel's left behind
    assert net_links() == links_before
    assert cgroup_dirs_named([a, b]) == []
    assert set(mountpoints()) - mounts_before == set()


def test_sigint_stops_too(dw):
    t = dw.name("int")
    dw.write_profile(t, {"app": dw.service(*SLEEP)})
    d = dw.start_daemon()
    dw.wait_state(t, "app", "running")
    tree = d.tree()
    assert dw.stop_daemon(d, signal.SIGINT) == 0, d.stderr()
    assert tree.alive() == [] and dw.tenant_pids() == []
    assert not dw.socket.exists()
    assert dw.audit()[-1]["event"] == "daemon-stop"


def test_sigkill_leaves_no_tenant_and_next_daemon_starts_all(dw):
    a, b = dw.name("alpha"), dw.name("beta")
    dw.write_profile(a, {"app": dw.service(*SLEEP)})
    dw.write_profile(b, {"web": dw.service(*SLEEP, after=["db"]), "db": dw.service(*SLEEP)})
    links_before = net_links()
    d = dw.start_daemon()
    pairs = [(a, "app"), (b, "web"), (b, "db")]
    old = running_services(dw, pairs)
    tree = d.tree()
    d.proc.kill()
    d.proc.wait(timeout=5)
    gone = wait_for(lambda: not tree.alive() and not dw.tenant_pids(), timeout=1.0,
                    interval=0.01)
    left = tree.describe()
    tree.kill()
    assert gone, f"left running a second after SIGKILL to wardd: {left}"

    d2 = dw.start_daemon()
    new = running_services(dw, pairs)
    assert not set(new.values()) & set(old.values())
    under = descendants(d2.pid)
    assert all(p in under for p in new.values())
    assert len(dw.audit("daemon-start")) == 2
    rc = dw.stop_daemon(d2, signal.SIGTERM)
    assert rc == 0, d2.stderr()
    assert dw.tenant_pids() == []
    assert net_links() == links_before
    assert cgroup_dirs_named([a, b]) == []


def test_one_daemon_per_state_dir(dw):
    t = dw.name("lock")
    dw.write_profile(t, {"app": dw.service(*SLEEP)})
    d1 = dw.start_daemon()
    pid = dw.wait_state(t, "app", "running")["pid"]
    d2 = dw.start_daemon(wait=False)
    try:
        rc = d2.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        dw.fail("a second wardd on the same state dir kept running")
    assert rc != 0
    assert d1.running()
    assert dw.service_status(t, "app")["pid"] == pid
    assert len(dw.audit("service-start", tenant=t)) == 1


def test_inherited_descriptors_are_closed(dw):
    """A descriptor wardd's parent left open (no O_CLOEXEC) must not stay
    open in the root daemon, nor reach what it starts."""
    t = dw.name("fds")
    dw.write_profile(t, {"app": dw.service(*SLEEP)})
    secret = dw.scratch / "inherited-secret"
    secret.write_text("not wardd's\n")
    r, w = os.pipe()
    f = os.open(secret, os.O_RDONLY)
    ours = {str(secret), f"pipe:[{os.fstat(r).st_ino}]"}
    try:
        for fd in (r, w, f):
            os.set_inheritable(fd, True)
        d = dw.start_daemon(pass_fds=(r, w, f))
        dw.wait_state(t, "app", "running")
    finally:
        for fd in (r, w, f):
            os.close(fd)
    held = {}
    for entry in Path(f"/proc/{d.pid}/fd").iterdir():
        try:
            held[int(entry.name)] = os.readlink(entry)
        except OSError:
            continue
    leaked = {fd: target for fd, target in held.items() if target in ours}
    assert not leaked, f"wardd still holds inherited descriptors: {leaked} (all: {held})"


def test_status_shows_a_service_stopped_by_signal(dw):
    """A service someone SIGSTOPped (a host user with the tenant's uid in a
    user namespace of its own did, in the review) holds its pid and does
    nothing: status must not show it as plainly running."""
    t = dw.name("frozen")
    dw.write_profile(t, {"app": dw.service(*SLEEP), "other": dw.service(*SLEEP)})
    dw.start_daemon()
    pid = dw.wait_state(t, "app", "running")["pid"]
    dw.wait_state(t, "other", "running")
    assert dw.service_status(t, "app")["stopped_by_signal"] is False
    os.kill(pid, signal.SIGSTOP)
    try:
        st = wait_for(lambda: (lambda s: s if s and s["stopped_by_signal"] else None)(
            dw.service_status(t, "app")), timeout=10)
        assert st and st["state"] == "running" and st["pid"] == pid, dw.status()
        assert dw.service_status(t, "other")["stopped_by_signal"] is False
        res = dw.ctl("status", t)
        assert res.returncode == 0, res.stderr
        rows = {line.split()[1]: line for line in res.stdout.splitlines()[1:]}
        assert "running (stopped by signal)" in rows["app"], res.stdout
        assert "stopped by signal" not in rows["other"], res.stdout
    finally:
        os.kill(pid, signal.SIGCONT)
    st = wait_for(lambda: (lambda s: s if s and not s["stopped_by_signal"] else None)(
        dw.service_status(t, "app")), timeout=10)
    assert st and st["pid"] == pid, dw.status()


# ---------------------------------------------------------------- reload


@pytest.mark.parametrize("how", ["sighup", "wardctl", "socket"])
def test_reload(dw, how):
    keep, chg, gone = dw.name("keep"), dw.name("chg"), dw.name("gone")
    new, broken = dw.name("new"), dw.name("brk")
    dw.write_profile(keep, {"app": dw.service(*SLEEP)})
    dw.write_profile(chg, {"a": dw.service(*SLEEP), "b": dw.service(*SLEEP)})
    dw.write_profile(gone, {"app": dw.service(*SLEEP)})
    dw.write_profile(broken, {"app": dw.service(*SLEEP)})
    d = dw.start_daemon()
    before = running_services(dw, [(keep, "app"), (chg, "a"), (chg, "b"), (gone, "app"),
                                   (broken, "app")])
    gone_tree = Snapshot([proc_stat(before[(gone, "app")])[2], before[(gone, "app")]])
    chg_a = Snapshot([before[(chg, "a")]])
    n_starts = len(dw.audit("service-start"))

    dw.write_profile(keep, {"app": dw.service(*SLEEP)})  # rewritten, same content
    dw.write_profile(chg, {"a": dw.service("sleep", "61"), "b": dw.service(*SLEEP)})
    dw.remove_profile(gone)
    dw.write_profile(new, {"app": dw.service(*SLEEP)})
    bad_doc = dw.profile_doc(broken, {"app": dw.service(*SLEEP)})
    bad_doc["bogus"] = True
    dw.write_profile(broken, doc=bad_doc)

    if how == "sighup":
        d.proc.send_signal(signal.SIGHUP)
    elif how == "wardctl":
        res = dw.ctl("reload")
        out = res.stdout + res.stderr
        assert res.returncode in (0, 1), (res.returncode, out)
        for word in (new, gone, f"{chg}/a", broken):
            assert word in out, f"wardctl reload does not say {word!r}:\n{out}"
    else:
        reply = dw.request({"cmd": "reload"}, timeout=10)
        assert reply["ok"] is True, reply
        rep = reply["report"]
        assert rep["added"] == [new] and rep["removed"] == [gone], rep
        assert rep["changed"] == [f"{chg}/a"], rep
        assert [r["tenant"] for r in rep["rejected"]] == [broken], rep
        assert any("bogus" in e for e in rep["rejected"][0]["errors"]), rep

    rec = dw.wait_audit("reload")[0]
    assert rec["added"] == [new], rec
    assert rec["removed"] == [gone], rec
    assert rec["changed"] == [f"{chg}/a"], rec
    assert [r["tenant"] for r in rec["rejected"]] == [broken], rec
    errors = rec["rejected"][0]["errors"]
    assert errors and any("bogus" in e for e in errors), errors
    assert any(re.search(r":\d+:\d+: ", e) for e in errors), errors
    rej = dw.wait_audit("profile-rejected", tenant=broken)[0]
    assert rej["errors"], rej

    dw.wait_state(new, "app", "running")
    new_a = wait_for(lambda: (lambda p: p if p and p != before[(chg, "a")] else None)(
        dw.pid_of(chg, "a")))
    assert new_a, "the changed service was not restarted"
    dw.wait_state(chg, "a", "running")
    assert wait_for(lambda: not gone_tree.alive() and not chg_a.alive(), timeout=5), \
        gone_tree.describe() + chg_a.describe()
    assert wait_for(lambda: all(s["tenant"] != gone for s in dw.status()), timeout=5), \
        dw.status()
    stop = dw.wait_audit("service-stop", tenant=gone, service="app")[0]
    assert stop["by"] == "reload", stop

    for key in [(keep, "app"), (chg, "b"), (broken, "app")]:
        st = dw.service_status(*key)
        assert st["state"] == "running" and st["pid"] == before[key], (key, st)
        assert proc_alive(before[key])
    started = [(r["tenant"], r["service"]) for r in dw.audit("service-start")[n_starts:]]
    assert sorted(started) == sorted([(new, "app"), (chg, "a")]), started
    assert d.running()


def test_reload_keeps_a_tenant_whose_profile_became_unsafe(dw):
    t = dw.name("unsafe")
    path = dw.write_profile(t, {"app": dw.service(*SLEEP)})
    d = dw.start_daemon()
    pid = dw.wait_state(t, "app", "running")["pid"]
    dw.write_profile(t, {"app": dw.service("sleep", "61")}, mode=0o664)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    d.proc.send_signal(signal.SIGHUP)
    rec = dw.wait_audit("reload")[0]
    assert [r["tenant"] for r in rec["rejected"]] == [t], rec
    assert rec["changed"] == [] and rec["removed"] == [], rec
    assert dw.wait_audit("profile-rejected", tenant=t)[0]["errors"]
    st = dw.service_status(t, "app")
    assert st["state"] == "running" and st["pid"] == pid, st


def test_reload_adds_and_removes_services_of_a_tenant(dw):
    t = dw.name("svcs")
    dw.write_profile(t, {"a": dw.service(*SLEEP), "b": dw.service(*SLEEP)})
    d = dw.start_daemon()
    pids = running_services(dw, [(t, "a"), (t, "b")])
    b = Snapshot([proc_stat(pids[(t, "b")])[2], pids[(t, "b")]])
    dw.write_profile(t, {"a": dw.service(*SLEEP), "c": dw.service(*SLEEP)})
    d.proc.send_signal(signal.SIGHUP)
    dw.wait_audit("reload")
    dw.wait_state(t, "c", "running")
    assert wait_for(lambda: not b.alive(), timeout=5), b.describe()
    assert wait_for(lambda: dw.service_status(t, "b") is None, timeout=5), dw.status()
    assert dw.wait_audit("service-stop", tenant=t, service="b")[0]["by"] == "reload"
    assert dw.service_status(t, "a")["pid"] == pids[(t, "a")]
    # The reload says what it did: c started, b stopped.
    rec = dw.wait_audit("reload")[0]
    assert rec["added"] == [f"{t}/c"] and rec["removed"] == [f"{t}/b"], rec
    assert rec["changed"] == [] and rec["updated"] == [], rec


def test_reload_reports_every_change(dw):
    """A reload that adds a service to a running tenant, removes one, adds a
    sessions block, or changes flows, display name, limits or `after`, does
    all of it: wardctl reload and the audit record must say so, never "no
    changes"."""
    t = dw.name("rep")
    dw.write_profile(t, {"a": dw.service(*SLEEP), "b": dw.service(*SLEEP)})
    d = dw.start_daemon()
    pids = running_services(dw, [(t, "a"), (t, "b")])

    # Nothing changed: nothing reported.
    res = dw.ctl("reload")
    assert res.returncode == 0 and res.stdout.strip() == "no changes", res.stdout + res.stderr

    a = dw.service(*SLEEP)
    a["connect"] = ["c:8080"]
    c = dw.service(*SLEEP, after=["a"])
    doc = dw.profile_doc(t, {"a": a, "c": c})
    doc["display_name"] = "Renamed Practice"
    doc["limits"] = {"pids": 512}
    doc["sessions"] = {"groups": ["staff"], "service": "a", "exec": ["/bin/sh"],
                       "policy": ["session-locked"], "max": 2}
    dw.write_profile(t, doc=doc)
    res = dw.ctl("reload")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "no changes" not in out, out
    want = {f"added: {t}/c", f"removed: {t}/b", f"updated: {t}: sessions",
            f"updated: {t}: display_name", f"updated: {t}: limits",
            f"updated: {t}/a: connect"}
    assert want <= set(out.splitlines()), out
    rec = dw.wait_audit("reload")[-1]
    assert rec["added"] == [f"{t}/c"] and rec["removed"] == [f"{t}/b"], rec
    assert rec["changed"] == [], rec
    assert sorted(rec["updated"]) == sorted([f"{t}: display_name", f"{t}: limits",
                                             f"{t}: sessions", f"{t}/a: connect"]), rec
    dw.wait_state(t, "c", "running")
    assert wait_for(lambda: dw.service_status(t, "b") is None, timeout=5), dw.status()
    assert dw.service_status(t, "a")["pid"] == pids[(t, "a")]

    # The sessions block goes, `after` changes: both reported too.
    doc.pop("sessions")
    doc["services"]["c"]["after"] = []
    dw.write_profile(t, doc=doc)
    d.proc.send_signal(signal.SIGHUP)
    rec = wait_for(lambda: (lambda r: r[2] if len(r) > 2 else None)(dw.audit("reload")))
    assert rec, dw.audit("reload")
    assert sorted(rec["updated"]) == sorted([f"{t}: sessions", f"{t}/c: after"]), rec
    assert rec["added"] == [] and rec["removed"] == [] and rec["changed"] == [], rec
    assert d.running()


# ---------------------------------------------------------------- profile checks


BAD_PROFILES = ["group-writable", "world-writable", "not-root-owned", "symlink", "wrong-name"]


@pytest.mark.parametrize("kind", BAD_PROFILES)
def test_unsafe_profile_refused_others_start(dw, kind):
    good, bad = dw.name("good"), dw.name("bad")
    dw.write_profile(good, {"app": dw.service(*SLEEP)})
    services = {"app": dw.service(*SLEEP)}
    if kind == "group-writable":
        dw.write_profile(bad, services, mode=0o664)
    elif kind == "world-writable":
        dw.write_profile(bad, services, mode=0o646)
    elif kind == "not-root-owned":
        dw.write_profile(bad, services, owner=STRANGER)
    elif kind == "symlink":
        real = dw.scratch / "real.json"
        real.write_text(json.dumps(dw.profile_doc(bad, services)))
        os.chmod(real, 0o644)
        (dw.tenants_dir / f"{bad}.json").symlink_to(real)
        dw.make_data_dir(bad)
    elif kind == "wrong-name":
        other = dw.name("other")
        dw.write_profile(bad, doc=dw.profile_doc(other, services))
        dw.make_data_dir(other)
    d = dw.start_daemon()
    dw.wait_state(good, "app", "running")
    recs = dw.wait_audit("profile-rejected")
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec["file"].endswith(f"{bad}.json"), rec
    assert rec["errors"], rec
    names = {s["tenant"] for s in dw.status()}
    assert names == {good}, names
    assert not dw.audit("service-start", tenant=bad)
    assert d.running()


@pytest.mark.parametrize("kind", ["world-writable", "not-root-owned"])
def test_untrusted_policy_fragment_refused(dw, kind):
    """A fragment decides a service's privileges as much as its profile: the
    daemon holds it to the profile's rules (root's, not group/world
    writable); the profile naming one that is not is refused."""
    good, bad = dw.name("good"), dw.name("bad")
    extra = dw.tmp / "policies-extra"
    extra.mkdir(mode=0o755)
    frag = extra / "loose.json"
    frag.write_text(json.dumps({"capabilities": {"keep": ["CAP_SYS_ADMIN"]}}) + "\n")
    os.chmod(frag, 0o646 if kind == "world-writable" else 0o644)
    if kind == "not-root-owned":
        os.chown(frag, STRANGER, STRANGER)
    dw.write_config(policy_dirs=[str(extra)] + dw.settings["policy_dirs"])
    dw.write_profile(good, {"app": dw.service(*SLEEP)})
    svc = dw.service(*SLEEP)
    svc["policy"].insert(1, "loose")
    dw.write_profile(bad, {"app": svc})
    d = dw.start_daemon()
    dw.wait_state(good, "app", "running")
    rec = dw.wait_audit("profile-rejected", tenant=bad)[0]
    why = ("writable by group or others (mode 646)" if kind == "world-writable"
           else f"owned by uid {STRANGER}, must be owned by root")
    assert any(f"{frag}: {why}" in e for e in rec["errors"]), rec
    assert {s["tenant"] for s in dw.status()} == {good}
    assert not dw.audit("service-start", tenant=bad)
    assert d.running()


@pytest.mark.parametrize("which", ["subuid", "subgid"])
def test_profile_overlapping_subordinate_ids_refused(dw, which):
    """A host user whose subordinate ids (/etc/subuid, /etc/subgid) share an
    id with a tenant's range can map it into a user namespace of its own
    (newuidmap) and be the tenant there: such a profile is refused at load,
    the file and line named; a reload that finds a new such line refuses
    the profile too (the running tenant keeps its old one, as with any
    refused profile), and `wardctl check --config` says the same."""
    good, bad = dw.name("good"), dw.name("bad")
    dw.write_profile(good, {"app": dw.service(*SLEEP)})
    bad_path = dw.write_profile(bad, {"app": dw.service(*SLEEP)})
    path = dw.subuid if which == "subuid" else dw.subgid
    start = dw.uid_of(bad) + ID_COUNT - 1  # shares the tenant's last id
    path.write_text(f"alice:100000:65536\n# a comment line\nmallory:{start}:65536\n")
    where = f"{path}:3 (mallory: {start}+65536)"
    d = dw.start_daemon()
    dw.wait_state(good, "app", "running")
    rec = dw.wait_audit("profile-rejected", tenant=bad)[0]
    assert any(f"ids: uid range {dw.uid_of(bad)}+{ID_COUNT} overlaps {where}" in e
               for e in rec["errors"]), rec
    assert {s["tenant"] for s in dw.status()} == {good}
    assert not dw.audit("service-start", tenant=bad)
    assert f"overlaps {where}" in d.stderr()

    res = dw.ctl("check", "--config", dw.config_path, "--policies", POLICIES, bad_path)
    assert res.returncode == 2 and where in res.stderr, res.stdout + res.stderr
    res = dw.ctl("check", "--policies", POLICIES, bad_path)  # no settings: no host check
    assert res.returncode == 0, res.stdout + res.stderr

    # The line gone, a reload starts the tenant; a new line refuses the
    # profile again.
    path.write_text("alice:100000:65536\n")
    d.proc.send_signal(signal.SIGHUP)
    dw.wait_state(bad, "app", "running")
    path.write_text("alice:100000:65536\nbroken line\n")
    res = dw.ctl("reload")
    assert f"{path}:2: not a subordinate id range" in res.stdout, res.stdout + res.stderr
    assert d.running()


def test_check_refuses_a_pool_overlapping_subordinate_ids(dw):
    dw.subgid.write_text(f"mallory:{dw.uid_block}:65536\n")
    dw.write_config(ids={"pool_start": dw.uid_block, "pool_size": 16 * ID_COUNT})
    t = dw.name("chk")
    profile = dw.write_profile(t, {"app": dw.service(*SLEEP)})
    res = dw.ctl("check", "--config", dw.config_path, "--policies", POLICIES, profile)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert (f"{dw.config_path}: ids: the uid pool (pool_start+pool_size) "
            f"{dw.uid_block}+{16 * ID_COUNT} overlaps {dw.subgid}:1 (mallory: "
            f"{dw.uid_block}+65536)") in res.stderr, out
    # The profile (the pool's first range) is named too.
    assert f"{profile}: ids: uid range {dw.uid_of(t)}+{ID_COUNT} overlaps" in res.stderr, out
    # A malformed line: named, and nothing is taken as checked.
    dw.subgid.write_text("mallory:1:2:3\n")
    res = dw.ctl("check", "--config", dw.config_path, "--policies", POLICIES, profile)
    assert res.returncode == 2 and f"{dw.subgid}:1: not a subordinate id range" in res.stderr, \
        res.stdout + res.stderr


def test_shutdown_with_removed_tenant_in_backoff(dw):
    """Regression (clang-analyzer): shutdown walked the tenant list while
    tenant_progress freed a tenant being removed; a reload that removes a
    tenant whose service waits to restart, then SIGTERM, read freed memory
    (ASan: heap-use-after-free in supervisor_shutdown, exit 1)."""
    t, keep = dw.name("boff"), dw.name("keep")
    dw.write_profile(keep, {"app": dw.service("sleep", "60")})
    dw.write_profile(t, {"app": dw.service("exit", "3", delay_ms=20000, max_delay_ms=20000)})
    d = dw.start_daemon()
    dw.wait_state(t, "app", ("backoff",), timeout=15)
    dw.remove_profile(t)
    assert dw.request({"cmd": "reload"}, timeout=10)["ok"] is True
    rc = dw.stop_daemon(d)
    assert rc == 0, d.stderr()
