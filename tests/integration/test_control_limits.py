"""The control socket under attack (issue 18, findings 2 and 6): what a
viewer can hold (connections, followers, wardd's memory) and what a
tenant's output can do to an operator's terminal. See daemon_fixture.py."""

import os
import pty
import select
import subprocess
import time
import tty

from conftest import wait_for
from daemon_fixture import (GID_GAMES, GID_STAFF, STRANGER, daemon_built, dw)  # noqa: F401

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
