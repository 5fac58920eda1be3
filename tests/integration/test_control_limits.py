"""The control socket under attack (issue 18, findings 2 and 6): what a
viewer can hold (connections, followers, wardd's memory) and what a
tenant's output can do to an operator's terminal. See daemon_fixture.py."""

import json
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import tty

import pytest

from conftest import wait_for
from daemon_fixture import (GID_GAMES, GID_STAFF, STRANGER, WARDCTL, LineReader,  # noqa: F401
                            daemon_built, dw, fd_count, raise_nofile, restore_nofile,
                            settled)

SLEEP = ("sleep", "60")
VIEWER = dict(user=STRANGER, groups=[GID_STAFF, GID_GAMES])

# What a tenant writes to take over the operator's terminal: a new window
# title (OSC ... BEL), a screen clear, and a carriage return that makes a
# forged daemon line overwrite the real one.
HOSTILE = (b"before\n\x1b]0;pwned\x07\x1b[2J\x1b[H"
           b"real line\r\x1b[2Kwardd: all services healthy\n")


def one_tenant(dw, base="alpha", **services):
    t = dw.name(base)
    dw.write_profile(t, services or {"app": dw.service(*SLEEP)})
    dw.start_daemon()
    return t


def append_log(dw, tenant, data, service="app"):
    """Appends to the service's log file as if the service had written it
    (wardd keeps the file open with O_APPEND; the lines reach `logs`)."""
    log = dw.logs / tenant / f"{service}.log"
    assert wait_for(log.exists, timeout=10), f"{log} never appeared"
    with open(log, "ab") as f:
        f.write(data)


def run_on_pty(argv, timeout=15):
    """Runs argv with stdout on a fresh pty in raw mode (no \\n -> \\r\\n), and
    returns (exit status, every byte it wrote there)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=subprocess.PIPE)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the last writer closed the pty
                    chunk = b""
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        rc = p.wait(timeout=max(0.1, deadline - time.monotonic()))
        err = p.stderr.read()
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 0, err
    return rc, out


# ---------------------------------------------------------------- finding 6


def test_logs_escape_terminal_controls_on_a_tty(dw):
    t = one_tenant(dw)
    dw.wait_state(t, "app", "running")
    append_log(dw, t, HOSTILE)

    _, shown = run_on_pty(dw.ctl_argv("logs", f"{t}/app", "-n", "5"))
    # Nothing that drives a terminal gets through: ESC, BEL, CR.
    for byte in (b"\x1b", b"\x07", b"\r"):
        assert byte not in shown, (byte, shown)
    # ... but everything is shown, visibly, with newlines kept.
    assert b"\\x1b]0;pwned\\x07" in shown, shown
    assert b"\\x1b[2J" in shown, shown
    assert b"real line\\x0d\\x1b[2Kwardd: all services healthy\n" in shown, shown
    assert b"before\n" in shown, shown

    # --raw opts out: the bytes as written.
    _, raw = run_on_pty(dw.ctl_argv("logs", f"{t}/app", "-n", "5", "--raw"))
    assert HOSTILE in raw, raw

    # A pipe (a log shipper, grep) gets the bytes as they are.
    res = subprocess.run(dw.ctl_argv("logs", f"{t}/app", "-n", "5"),
                         stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
    assert res.returncode == 0, res.stderr
    assert HOSTILE in res.stdout, res.stdout


# ---------------------------------------------------------------- finding 2

# Run as the attacking user: opens N connections to the control socket,
# sends REQUEST on each, never reads, says "ready COUNT" and holds them.
ATTACKER = r"""
import socket, sys, time
path, n, req = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode() + b"\n"
held = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        s.sendall(req)
    except OSError:
        s.close()
        continue
    held.append(s)
print("ready", len(held), flush=True)
time.sleep(600)
"""


def start_attacker(dw, n, request, who=VIEWER):
    """The attacker, as a viewer; returns its Popen once it holds its
    connections (or fails the test)."""
    p = subprocess.Popen([sys.executable, "-c", ATTACKER, str(dw.socket), str(n),
                          json.dumps(request)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, user=who["user"], group=who["user"],
                         extra_groups=who["groups"])
    dw.children.append(p)
    reader = LineReader(p.stdout)
    assert wait_for(lambda: any(ln.startswith("ready") for ln in reader.snapshot()),
                    timeout=120), (p.poll(), p.stderr.read() if p.poll() is not None else "")
    return p


def vm_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def crashing_service(dw):
    """A service that dies every 300 ms and is restarted at once: the
    proof that supervision goes on."""
    return dw.service("msleep", "300", "exit", "3", on="always", delay_ms=20,
                      max_delay_ms=20, burst=1000, interval_s=1)


def restarts(dw, t, svc="crash"):
    return dw.service_status(t, svc).get("restarts", 0)


def test_viewer_cannot_lock_root_out_of_the_control_socket(dw):
    t = dw.name("alpha")
    dw.write_profile(t, {"app": dw.service(*SLEEP), "crash": crashing_service(dw)})
    dw.start_daemon()
    dw.wait_state(t, "app", "running")
    wardd = dw.daemons[-1].pid
    before = fd_count(wardd)
    old = raise_nofile(8192)
    try:
        # More silent followers than the daemon's whole connection limit.
        start_attacker(dw, 2100, {"cmd": "logs", "tenant": t, "service": "app",
                                  "follow": True})
    finally:
        restore_nofile(old)
    # The viewer holds its share, not the socket (once wardd has taken
    # every connection from its backlog).
    held = settled(lambda: fd_count(wardd), timeout=20, stable=1.0) - before
    assert held <= 64 + 8, f"wardd holds {held} connections of one viewer"
    # While it holds them: root is served, an operator action goes through,
    # and supervision goes on (the crashing service keeps being restarted).
    r0 = restarts(dw, t)
    res = dw.ctl("status", "--json")
    assert res.returncode == 0, res.stderr
    assert any(s["tenant"] == t for s in json.loads(res.stdout))
    res = dw.ctl("stop", f"{t}/app")
    assert res.returncode == 0, res.stderr
    dw.wait_state(t, "app", "stopped")
    assert wait_for(lambda: restarts(dw, t) >= r0 + 3, timeout=20), \
        "the crashing service was not restarted while the viewer held its connections"
    # The viewer itself is told why when it asks for more.
    res = dw.ctl("status", **VIEWER)
    assert res.returncode != 0 and "too many connections from uid" in res.stderr, res.stderr
    assert dw.daemons[-1].running()


def control_bytes_log(size):
    """size bytes of control characters (each six bytes escaped), in lines."""
    line = bytes(b for b in range(1, 32) if b != 10) * 3 + b"\n"
    return (line * (size // len(line) + 1))[:size - 1] + b"\n"


def test_followers_of_a_control_byte_log_keep_wardd_small(dw):
    dw.write_config(logs={"max_bytes": "64M", "keep": 1})
    t = dw.name("alpha")
    dw.write_profile(t, {"app": dw.service(*SLEEP), "crash": crashing_service(dw)})
    dw.start_daemon()
    dw.wait_state(t, "app", "running")
    append_log(dw, t, control_bytes_log(4 << 20))
    wardd = dw.daemons[-1].pid
    base = vm_kib(wardd, "VmRSS")
    followers = 50
    start_attacker(dw, followers, {"cmd": "logs", "tenant": t, "service": "app",
                                   "lines": 100000, "follow": True})
    # Every request was served (audited) ...
    assert wait_for(lambda: len([r for r in dw.audit("control") if r.get("cmd") == "logs"
                                 and (r.get("peer") or {}).get("uid") == STRANGER])
                    >= followers, timeout=30)
    r0 = restarts(dw, t)
    assert dw.request({"cmd": "status"})["ok"] is True
    assert wait_for(lambda: restarts(dw, t) >= r0 + 2, timeout=20), \
        "the crashing service was not restarted meanwhile"
    # ... and wardd never held their replies whole: 4 MiB of control bytes
    # is 24 MiB escaped, per follower (1.2 GiB for 50).
    peak = vm_kib(wardd, "VmHWM")
    grown_mib = (peak - base) / 1024
    assert grown_mib < 300, f"wardd's RSS peaked {grown_mib:.0f} MiB above its start"
    assert dw.daemons[-1].running()


def test_follower_that_never_reads_is_dropped(dw):
    t = one_tenant(dw)
    dw.wait_state(t, "app", "running")
    # More history than the socket's buffer takes: the rest waits in wardd.
    append_log(dw, t, b"".join(b"line %07d %s\n" % (i, b"x" * 80) for i in range(12000)))
    silent = dw.client(timeout=5)
    silent.send({"cmd": "logs", "tenant": t, "service": "app", "lines": 100000,
                 "follow": True})
    reading = dw.ctl_popen("logs", f"{t}/app", "-n", "100000", "-f")
    reader = LineReader(reading.stdout)
    assert wait_for(lambda: any(ln.startswith("line 0011999") for ln in reader.snapshot()),
                    timeout=20), (reader.snapshot()[-3:], reading.poll(),
                                  reading.poll() is not None and reading.stderr.read(),
                                  dw.daemons[-1].stderr())
    # Not read at all: dropped (POLLHUP, seen without reading a byte).
    poller = select.poll()
    poller.register(silent.sock, select.POLLHUP)
    deadline = time.monotonic() + 40
    hup = False
    while time.monotonic() < deadline and not hup:
        hup = any(ev & select.POLLHUP for _, ev in poller.poll(500))
        assert dw.request({"cmd": "status"})["ok"] is True
    assert hup, "a follower that never read was never dropped"
    # The one that reads stays.
    assert reading.poll() is None, "a follower that reads was dropped"


def test_refusal_reaches_the_user_when_wardd_closed_before_the_request(daemon_built, tmp_path):
    """A refused connection is told why and closed unread. When wardctl's
    request loses that race (its send fails with EPIPE), it still reads and
    prints the refusal instead of "Broken pipe". The race is forced: strace
    delays wardctl's send until the stand-in daemon has answered and closed."""
    if shutil.which("strace") is None:
        pytest.fail("strace is not installed (scripts/bootstrap installs it)")
    path = str(tmp_path / "control.sock")
    refusal = b'{"ok":false,"error":"too many connections from uid 4242 (at most 64)"}\n'
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    closed = threading.Event()

    def answer():
        conn, _ = srv.accept()
        conn.sendall(refusal)
        conn.close()
        closed.set()

    th = threading.Thread(target=answer, daemon=True)
    th.start()
    try:
        res = subprocess.run(
            ["strace", "-f", "-qq", "-o", os.devnull,
             "-e", "trace=sendto", "-e", "inject=sendto:delay_enter=500000",
             str(WARDCTL), "--socket", path, "status"],
            capture_output=True, text=True, timeout=30)
    finally:
        srv.close()
        th.join(timeout=5)
    assert closed.is_set(), "wardctl never connected"
    assert res.returncode != 0
    assert "too many connections from uid 4242" in res.stderr, res.stderr
    assert "Broken pipe" not in res.stderr, res.stderr
