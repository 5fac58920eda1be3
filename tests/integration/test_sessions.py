"""End-user sessions (issue 6): `ward-session` run by staff of a practice gets
a locked-down session inside that practice's running service; everyone else
is refused, and every attempt and every end is in the audit log.

The users and groups exist only in this test's copies of /etc/passwd and
/etc/group, bind-mounted over the real ones inside the private mount
namespace the suite runs in (see conftest.py; the `staff` fixture refuses to
run anywhere else) and unmounted when the test ends:
    wses-alice  staff of practice A        wses-bob    staff of practice B
    wses-carol  staff of no practice       wses-dave   staff of A and B
wardd looks group membership up in that database: the tests run ward-session
with no supplementary groups at all, so nothing the client's process holds
could have let it in.
"""

import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest

from conftest import BUILD, PROBE_DIR, cpu_set, wait_for
from daemon_fixture import (Client, cgroup_dirs_named, daemon_built, dw,  # noqa: F401
                            pids_with_uid_in)

WARD_SESSION = BUILD / "ward-session"
SESSION_UID_OFFSET = 1000
TEST_GID = 4_243_100
USERS = {"wses-alice": 4_243_101, "wses-bob": 4_243_102, "wses-carol": 4_243_103,
         "wses-dave": 4_243_104}
GROUPS = {"wses-users": (TEST_GID, []),
          "wses-a-staff": (4_243_110, ["wses-alice", "wses-dave"]),
          "wses-b-staff": (4_243_111, ["wses-bob", "wses-dave"])}
SHELL = ["/bin/bash", "--noprofile", "--norc"]
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
TIMEOUT = 30


# ---------------------------------------------------------------- fixtures


def root_mount_is_private():
    """The mount holding /etc has no shared peer group, so a bind mount on
    /etc/passwd stays in this namespace."""
    best = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4]
        if "/etc".startswith(point.rstrip("/") + "/") or point == "/" or point == "/etc":
            if best is None or len(point) >= len(best[0]):
                best = (point, fields[6:fields.index("-")])
    return best is not None and not any(f.startswith("shared:") for f in best[1])


def in_own_mount_namespace():
    """Some ancestor of this process is in another mount namespace: the
    suite runs in one made for it (pid 1's may not be readable here)."""
    mine = os.stat("/proc/self/ns/mnt").st_ino
    pid = os.getppid()
    while pid > 1:
        try:
            if os.stat(f"/proc/{pid}/ns/mnt").st_ino != mine:
                return True
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return False


@pytest.fixture
def staff():
    """The test users and groups, in bind-mounted copies of /etc/passwd and
    /etc/group; the real files are never written."""
    if not in_own_mount_namespace():
        pytest.fail("test_sessions.py bind-mounts its own /etc/passwd and /etc/group: run it "
                    "in a private mount namespace (`unshare --mount --propagation private`, "
                    "as scripts/test does), never in the host's")
    if not root_mount_is_private():
        pytest.fail("the mount holding /etc is shared with another namespace: run under "
                    "`unshare --mount --propagation private`")
    passwd, group = Path("/etc/passwd").read_text(), Path("/etc/group").read_text()
    for name, uid in USERS.items():
        assert f"\n{name}:" not in "\n" + passwd and f":{uid}:" not in passwd, \
            f"{name} or uid {uid} exists on this host: pick others"
    tmp = Path(tempfile.mkdtemp(prefix="ward-ses-etc-"))
    mounted = []
    try:
        os.chmod(tmp, 0o755)
        (tmp / "passwd").write_text(passwd.rstrip("\n") + "\n" + "".join(
            f"{n}:x:{u}:{TEST_GID}::/nonexistent:/usr/sbin/nologin\n" for n, u in USERS.items()))
        (tmp / "group").write_text(group.rstrip("\n") + "\n" + "".join(
            f"{n}:x:{g}:{','.join(m)}\n" for n, (g, m) in GROUPS.items()))
        for f in ("passwd", "group"):
            os.chmod(tmp / f, 0o644)
            subprocess.run(["mount", "--bind", str(tmp / f), f"/etc/{f}"], check=True)
            mounted.append(f"/etc/{f}")
        yield USERS
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", m], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- the world


def session_uid(dw, tenant, user):
    return dw.uid_of(tenant) + SESSION_UID_OFFSET + USERS[user] % (65536 - SESSION_UID_OFFSET)


def write_practice(dw, tenant, group, *, max_=5, idle=0, exec_=None, data_text=None,
                   user_namespace=True):
    """A practice whose `web` service sleeps, with /etc/shadow in its view
    (so that the session's view has it too), data readable by its group, and
    sessions for `group` running bash under session-locked."""
    fs = dw.filesystem()
    fs["ro"] = list(fs["ro"]) + ["/etc/shadow"]
    doc = dw.profile_doc(tenant, {"web": dw.service("sleep", "300", filesystem=fs,
                                                    user_namespace=user_namespace)})
    doc["sessions"] = {"groups": [group], "service": "web", "exec": exec_ or SHELL,
                       "policy": ["session-locked"], "max": max_, "idle_timeout_s": idle}
    dw.write_profile(tenant, doc=doc)
    data = dw.data / tenant
    uid = dw.uid_of(tenant)
    os.chmod(data, 0o750)
    f = data / "patients.txt"
    f.write_text((data_text or f"records of {tenant}") + "\n")
    os.chown(f, uid, uid)
    os.chmod(f, 0o640)
    return data


def session_argv(dw):
    return [str(WARD_SESSION), "--socket", str(dw.state / "session.sock")]


def as_user(user):
    return {"user": USERS[user], "group": TEST_GID, "extra_groups": []}


def run_session(dw, user, script="", timeout=TIMEOUT, env=None):
    """ward-session as user with script on its stdin (pipes, no terminal)."""
    try:
        return subprocess.run(session_argv(dw), input=script, capture_output=True, text=True,
                              timeout=timeout, env=env or ENV, **as_user(user))
    except subprocess.TimeoutExpired as e:
        dw.fail(f"ward-session as {user} did not finish in {timeout}s\n"
                f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def start_session(dw, user, env=None):
    """ward-session as user, its stdin a pipe the test holds open."""
    p = subprocess.Popen(session_argv(dw), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env or ENV, **as_user(user))
    dw.children.append(p)
    return p


def finish(dw, p, timeout=TIMEOUT, input=None, keep_stdin=False):
    """Waits for ward-session: (returncode, stdout, stderr). keep_stdin: its
    stdin stays open until it has exited (an EOF would end bash by itself)."""
    try:
        if keep_stdin:
            p.wait(timeout=timeout)
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        dw.fail(f"ward-session did not end in {timeout}s\nstdout: {out!r}\nstderr: {err!r}")
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def fields(out):
    """KEY=value lines of a script's output."""
    res = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z0-9_]+", key):
            res[key] = value
    return res


def logons(dw, **match):
    return dw.audit("session-logon", **match)


def wait_logon(dw, count=1, **match):
    return dw.wait_audit("session-logon", count=count, **match)


def wait_end(dw, **match):
    return dw.wait_audit("session-end", **match)[-1]


def two_practices(dw, **kw_a):
    a, b = dw.name("sa"), dw.name("sb")
    write_practice(dw, a, "wses-a-staff", data_text="A-DATA-7f3e", **kw_a)
    write_practice(dw, b, "wses-b-staff", data_text="B-DATA-c91d")
    (dw.data / b / "b-only-marker").write_text("b\n")
    dw.start_daemon()
    dw.wait_state(a, "web", "running")
    dw.wait_state(b, "web", "running")
    return a, b


def stop_cleanly(dw):
    """Stops the daemon: exit 0, every session's cgroup gone, and (in the
    sanitizer build) no report of a leak or undefined behaviour."""
    d = dw.daemons[-1]
    if d.running():
        assert dw.stop_daemon(d) == 0
    err = d.stderr()
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert not cgroup_dirs_named(["session."]), cgroup_dirs_named(["session."])


# What a session checks about itself, one KEY=value line each.
PROBE_SCRIPT = r"""
echo "HOST=$(uname -n)"
echo "IDS=$(id -u) $(id -g) $(id -G)"
echo "HOME=$HOME PWD=$(pwd) USER=$USER"
echo "DATA=$(cat /data/patients.txt 2>&1)"
[ -e /data/b-only-marker ] && echo "BMARK=visible" || echo "BMARK=absent"
msg=$( (echo x > /data/evil) 2>&1); echo "WDATA=$? $msg"
msg=$( (echo x > __PROBE__/evil) 2>&1); echo "WAPP=$? $msg"
msg=$( (echo x > /usr/bin/evil) 2>&1); echo "WUSR=$? $msg"
msg=$( (echo note-of-alice > "$HOME/note") 2>&1); echo "WHOME=$? $msg"
msg=$(cat /etc/shadow 2>&1 >/dev/null); echo "SHADOW=$? $msg"
msg=$(kill -0 1 2>&1); echo "KILL1=$? $msg"
msg=$(kill -TERM 2 2>&1); echo "KILL2=$? $msg"
msg=$(kill -0 99999 2>&1); echo "KILLNONE=$? $msg"
msg=$(kill -0 $$ 2>&1); echo "KILLSELF=$? $msg"
echo "CAPS=$(grep CapEff /proc/self/status)"
echo "NNP=$(grep NoNewPrivs /proc/self/status)"
echo "SECCOMP=$(grep '^Seccomp:' /proc/self/status)"
echo "CPUS=$(grep Cpus_allowed_list /proc/self/status)"
echo "PROCS=$(ls /proc | grep -c '^[0-9]')"
[ -e /proc/2 ] && echo "PROC2=visible" || echo "PROC2=hidden"
echo "PTRACE1=$(__PROBE__/probe syscall ptrace-attach-1)"
echo "PTRACE2=$(__PROBE__/probe syscall ptrace-attach-2)"
exit 7
""".replace("__PROBE__", PROBE_DIR)


# ---------------------------------------------------------------- tests


def test_staff_get_a_locked_session_in_their_own_practice(dw, staff):
    a, b = two_practices(dw)
    web_pid = dw.pid_of(a, "web")
    suid = session_uid(dw, a, "wses-alice")

    res = run_session(dw, "wses-alice", PROBE_SCRIPT)
    f = fields(res.stdout)
    assert res.returncode == 7, (res.stdout, res.stderr)
    # Inside A: A's hostname, A's data (readable through the tenant's group),
    # nothing of B's.
    assert f["HOST"] == f"web.{a}"
    assert f["DATA"] == "A-DATA-7f3e"
    assert f["BMARK"] == "absent"
    # Its own uid of A's range, never the service's; the tenant's group only.
    assert f["IDS"] == f"{suid} {dw.uid_of(a)} {dw.uid_of(a)}"
    assert f["HOME"] == "/home/wses-alice PWD=/home/wses-alice USER=wses-alice"
    # Read-only everywhere but its home.
    for key in ("WDATA", "WAPP", "WUSR"):
        assert f[key].startswith("1 ") and "Read-only file system" in f[key], (key, f[key])
    assert f["WHOME"] == "0 "
    # /etc/shadow is in the view (the service has it) and still unreadable.
    assert f["SHADOW"].startswith("1 ") and "Permission denied" in f["SHADOW"], f["SHADOW"]
    # The service's init (1) and the service (2) exist and cannot be
    # signalled; a pid that does not exist says so: kill reached the kernel.
    assert "Operation not permitted" in f["KILL1"], f["KILL1"]
    assert "Operation not permitted" in f["KILL2"], f["KILL2"]
    assert "No such process" in f["KILLNONE"], f["KILLNONE"]
    assert f["KILLSELF"] == "0 "
    assert f["CAPS"].split()[-1] == "0000000000000000"
    assert f["NNP"].split()[-1] == "1"
    assert f["SECCOMP"].split()[-1] == "2"
    # Every CPU wardd has (and so the test): the join process, kept off
    # wardd's CPU until "go", put its CPUs back before the session forked.
    assert cpu_set(f["CPUS"].split()[-1]) == os.sched_getaffinity(0), f["CPUS"]
    # hidepid: only the session's own processes (bash, the subshell, ls...).
    assert 1 <= int(f["PROCS"]) <= 6 and f["PROC2"] == "hidden"
    # Nor can it be traced (PTRACE_ATTACH).
    for key in ("PTRACE1", "PTRACE2"):
        assert '{"ret":-1,"errno":"EPERM"}' in f[key], (key, f[key])
    st = dw.wait_state(a, "web", "running")
    assert st["pid"] == web_pid, "the service was disturbed"

    # The home is the user's, kept between sessions; its parent is root's.
    home = dw.data / a / "home" / "wses-alice"
    hst = home.stat()
    assert (hst.st_uid, hst.st_gid, hst.st_mode & 0o777) == (suid, dw.uid_of(a), 0o700)
    pst = home.parent.stat()
    assert (pst.st_uid, pst.st_mode & 0o777) == (0, 0o755)
    again = run_session(dw, "wses-alice", 'cat "$HOME/note"\n')
    assert again.returncode == 0 and again.stdout == "note-of-alice\n", again

    # B's staff get B.
    rb = run_session(dw, "wses-bob", PROBE_SCRIPT)
    fb = fields(rb.stdout)
    assert rb.returncode == 7 and fb["HOST"] == f"web.{b}" and fb["DATA"] == "B-DATA-c91d"
    assert fb["BMARK"] == "visible"

    # The audit log has each logon and each end.
    ok = wait_logon(dw, user="wses-alice", verdict="allowed")
    first = ok[0]
    assert first["tenant"] == a and first["service"] == "web" and first["reason"] is None
    assert first["uid"] == USERS["wses-alice"] and first["session_uid"] == suid
    assert first["tty"] is None and isinstance(first["pid"], int)
    end = wait_end(dw, session=first["session"])
    assert end["reason"] == "exited" and end["status"] == 7 and end["user"] == "wses-alice"
    assert isinstance(end["duration_s"], int) and end["tenant"] == a
    assert wait_logon(dw, user="wses-bob", verdict="allowed")[0]["tenant"] == b

    # Nothing of the sessions is left: processes, cgroups.
    assert wait_for(lambda: not pids_with_uid_in([(suid, suid + 1)]), timeout=5)
    assert wait_for(lambda: not cgroup_dirs_named(["session."]), timeout=5), \
        cgroup_dirs_named(["session."])
    stop_cleanly(dw)


LOCKED_SCRIPT = r"""
for x in TMP:/tmp HOME:$HOME; do
  k=${x%%:*}; d=${x#*:}
  cp /usr/bin/true "$d/up" && chmod 755 "$d/up" && echo "COPIED_$k=yes"
  "$d/up"; echo "RUN_$k=$?"
  /lib64/ld-linux-x86-64.so.2 "$d/up" 2>/dev/null; echo "LDSO_$k=$?"
  printf 'echo script-ran\n' > "$d/s.sh"; chmod 755 "$d/s.sh"; "$d/s.sh"; echo "SCRIPT_$k=$?"
done
python3 -c 'print("py-ran")'; echo "PYTHON3=$?"
perl -e 'print "perl-ran\n"'; echo "PERL=$?"
sh -c 'echo sh-ran'; echo "SH=$?"
grep -E ' /tmp | /home/[^ ]+ ' /proc/self/mountinfo | grep -c noexec | sed 's/^/NOEXEC_MOUNTS=/'
echo "SHM=$(__PROBE__/probe shm-create 4711)"
exit 0
""".replace("__PROBE__", PROBE_DIR)


def test_session_locked_runs_nothing_it_writes_and_no_interpreter(dw, staff):
    """Issue 18, finding 7: under the shipped session-locked a session
    cannot run a binary or script it wrote (to /tmp or its home:
    noexec, so not through the dynamic loader either), cannot start python3,
    perl or sh, and cannot use SysV IPC (the README and the policy agree:
    the IPC namespace is the service's, the calls are refused)."""
    a, _ = two_practices(dw)
    res = run_session(dw, "wses-alice", LOCKED_SCRIPT)
    f = fields(res.stdout)
    assert res.returncode == 0, (res.stdout, res.stderr)
    for d in ("TMP", "HOME"):
        assert f[f"COPIED_{d}"] == "yes", (d, res.stdout, res.stderr)
        assert f[f"RUN_{d}"] == "126", (d, f, res.stderr)
        assert f[f"LDSO_{d}"] != "0", (d, f)
        assert f[f"SCRIPT_{d}"] == "126", (d, f)
    assert "script-ran" not in res.stdout
    for key, out in (("PYTHON3", "py-ran"), ("PERL", "perl-ran"), ("SH", "sh-ran")):
        assert f[key] in ("126", "127") and out not in res.stdout, (key, f[key], res.stdout)
    assert f["NOEXEC_MOUNTS"] == "2", res.stdout
    assert '"errno":"EPERM"' in f["SHM"], f["SHM"]
    end = wait_end(dw, user="wses-alice")
    assert end["reason"] == "exited" and end["status"] == 0, end
    stop_cleanly(dw)


def test_everyone_else_is_refused_and_audited(dw, staff):
    a, b = two_practices(dw)

    res = run_session(dw, "wses-carol", "echo should-not-run\n")
    assert res.returncode == 1
    assert res.stderr.strip() == "ward-session: refused: no practice"
    assert "should-not-run" not in res.stdout
    rec = wait_logon(dw, user="wses-carol")[-1]
    assert rec["verdict"] == "refused" and rec["reason"] == "no practice"
    assert rec["uid"] == USERS["wses-carol"] and rec["tenant"] is None and rec["session"] is None

    res = run_session(dw, "wses-dave", "echo should-not-run\n")
    assert res.returncode == 1 and "should-not-run" not in res.stdout
    m = re.fullmatch(r"ward-session: refused: more than one practice: (\S+), (\S+)",
                     res.stderr.strip())
    assert m and sorted(m.groups()) == sorted([a, b]), res.stderr
    rec = wait_logon(dw, user="wses-dave")[-1]
    assert rec["verdict"] == "refused" and rec["reason"].startswith("more than one practice")

    # An account without a staff group in the database is refused even if
    # its process holds the group's gid: membership is wardd's lookup.
    res = subprocess.run(session_argv(dw), input="echo should-not-run\n", capture_output=True,
                         text=True, timeout=TIMEOUT, env=ENV, user=USERS["wses-carol"],
                         group=TEST_GID, extra_groups=[GROUPS["wses-a-staff"][0]])
    assert res.returncode == 1 and "refused: no practice" in res.stderr

    # A stopped practice.
    dw.ctl("stop", f"{a}/web")
    dw.wait_state(a, "web", "stopped")
    res = run_session(dw, "wses-alice", "echo should-not-run\n")
    assert res.returncode == 1 and res.stderr.strip() == "ward-session: refused: practice stopped"
    assert wait_logon(dw, user="wses-alice")[-1]["reason"] == "practice stopped"
    assert not logons(dw, verdict="allowed")
    stop_cleanly(dw)


def test_malformed_requests_are_refused_and_audited(dw, staff):
    two_practices(dw)
    path = dw.state / "session.sock"
    st = path.stat()
    assert st.st_mode & 0o777 == 0o666 and st.st_uid == 0

    def ask(raw, expect):
        c = Client(path, timeout=10)
        try:
            c.send_raw(raw)
            r = c.read_reply()
        finally:
            c.close()
        assert r["ok"] is False and r["error"].startswith(expect), r
        return r["error"]

    ask(b"garbage\n", "malformed request: invalid JSON")
    ask(b'{"user":"root","tty":false}\n', 'malformed request: unknown key "user"')
    ask(b'{"tty":"yes"}\n', "malformed request: tty: must be true or false")
    ask(b'{"tty":false,"rows":24}\n', "malformed request: rows and cols need")
    ask(b'{"remote":"not an address"}\n', "malformed request: remote: invalid value")
    ask(b"{" + b" " * 5000 + b"\n", "malformed request: longer than 4096 bytes")
    # Silence is refused too, after a few seconds.
    c = Client(path, timeout=15)
    t0 = time.monotonic()
    r = c.read_reply()
    c.close()
    assert r["error"].startswith("malformed request: none within")
    assert 3 <= time.monotonic() - t0 <= 12
    refused = [r for r in logons(dw) if r["verdict"] == "refused"]
    assert len(refused) >= 7
    assert all(r["reason"].startswith("malformed request") for r in refused)
    assert all(r["uid"] == 0 and r["user"] == "root" for r in refused)
    assert not logons(dw, verdict="allowed")
    stop_cleanly(dw)


def test_session_limit(dw, staff):
    a, _ = two_practices(dw, max_=1)
    first = start_session(dw, "wses-alice")
    wait_logon(dw, user="wses-alice", verdict="allowed")

    res = run_session(dw, "wses-alice", "echo should-not-run\n")
    assert res.returncode == 1 and res.stderr.strip() == "ward-session: refused: session limit"
    assert wait_logon(dw, user="wses-alice", verdict="refused")[-1]["reason"] == "session limit"

    rc, out, err = finish(dw, first, input=b"echo first-ran\nexit 0\n")
    assert (rc, out) == (0, "first-ran\n"), err
    # The slot is free again.
    res = run_session(dw, "wses-alice", "echo third-ran\n")
    assert res.returncode == 0 and res.stdout == "third-ran\n", res
    stop_cleanly(dw)


def test_idle_sessions_are_ended(dw, staff):
    a, _ = two_practices(dw, idle=2)
    # Input keeps it alive past the timeout...
    p = start_session(dw, "wses-alice")
    wait_logon(dw, user="wses-alice", verdict="allowed")
    t0 = time.monotonic()
    for _ in range(8):
        p.stdin.write(b"true\n")
        p.stdin.flush()
        time.sleep(0.5)
    assert p.poll() is None, "ended although the user was typing"
    # ...silence ends it, with SIGHUP first.
    rc, out, err = finish(dw, p, timeout=15, keep_stdin=True)
    waited = time.monotonic() - t0
    assert rc == 128 + signal.SIGHUP, (rc, out, err)
    assert "ward-session: session ended: idle" in err
    assert 5 <= waited <= 12, waited
    end = wait_end(dw, user="wses-alice")
    assert end["reason"] == "idle" and end["status"] == 128 + signal.SIGHUP
    stop_cleanly(dw)


def read_until(fd, pattern, timeout=15.0):
    """Reads the pty master until pattern (a regex on the text) matches."""
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            m = re.search(pattern, buf.decode(errors="replace"))
            if m:
                return m
    pytest.fail(f"no {pattern!r} from the session within {timeout}s; got {buf!r}")


def test_interactive_program_through_a_pty(dw, staff):
    a, _ = two_practices(dw)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    cooked = termios.tcgetattr(slave)
    tty_name = os.ttyname(slave)

    def take_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(session_argv(dw), stdin=slave, stdout=slave, stderr=slave,
                         env=dict(ENV, TERM="xterm", SSH_CONNECTION="192.0.2.7 50022 192.0.2.1 22"),
                         start_new_session=True, preexec_fn=take_terminal,
                         **as_user("wses-alice"))
    dw.children.append(p)
    try:
        read_until(master, r"\$ $")
        os.write(master, b"echo $((6*7))\r")
        read_until(master, r"[\r\n]42\r\n")
        os.write(master, b"tty\r")
        m = read_until(master, r"[\r\n](/dev/pts/\d+|not a tty)\r\n")
        assert m.group(1).startswith("/dev/pts/"), m.group(0)
        # The session's terminal is the user's alone (the service shares
        # the tenant's gid).
        os.write(master, f"stat -c %a:%u {m.group(1)}\r".encode())
        read_until(master, rf"[\r\n]600:{session_uid(dw, a, 'wses-alice')}\r\n")
        os.write(master, b"stty size\r")
        read_until(master, r"[\r\n]30 100\r\n")
        # A new window size travels to the session.
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        for _ in range(20):
            os.write(master, b"stty size\r")
            if read_until(master, r"[\r\n](\d+ \d+)\r\n").group(1) == "40 120":
                break
            time.sleep(0.2)
        else:
            pytest.fail("the window size never reached the session")
        os.write(master, b"exit 3\r")
        assert p.wait(timeout=TIMEOUT) == 3
        # ward-session gave the terminal back as it found it.
        now = termios.tcgetattr(slave)
        assert now[3] & termios.ICANON and now[3] & termios.ECHO
        assert now[:4] == cooked[:4]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)
    rec = wait_logon(dw, user="wses-alice", verdict="allowed")[-1]
    assert rec["tty"] == tty_name and rec["remote"] == "192.0.2.7 50022"
    end = wait_end(dw, session=rec["session"])
    assert end["reason"] == "exited" and end["status"] == 3
    stop_cleanly(dw)


def test_idle_terminal_sessions_are_ended(dw, staff):
    """With a terminal too, the idle clock counts what the user types:
    ward-session reports it, since wardd no longer sees the relay."""
    a, _ = two_practices(dw, idle=2)
    master, slave = os.openpty()

    def take_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(session_argv(dw), stdin=slave, stdout=slave, stderr=slave,
                         env=dict(ENV, TERM="xterm"), start_new_session=True,
                         preexec_fn=take_terminal, **as_user("wses-alice"))
    dw.children.append(p)
    try:
        read_until(master, r"\$ $")
        t0 = time.monotonic()
        for _ in range(8):
            os.write(master, b":\r")
            read_until(master, r"\$ $")
            time.sleep(0.5)
        assert p.poll() is None, "ended although the user was typing"
        assert p.wait(timeout=15) == 128 + signal.SIGHUP
        waited = time.monotonic() - t0
        assert 5 <= waited <= 12, waited
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)
    end = wait_end(dw, user="wses-alice")
    assert end["reason"] == "idle" and end["status"] == 128 + signal.SIGHUP
    stop_cleanly(dw)


def test_sessions_end_with_their_service_and_the_daemon(dw, staff):
    a, b = two_practices(dw)
    # The service stops: its namespaces go, and the session with them.
    p = start_session(dw, "wses-alice")
    wait_logon(dw, user="wses-alice", verdict="allowed")
    assert dw.ctl("stop", f"{a}/web").returncode == 0
    rc, out, err = finish(dw, p, keep_stdin=True)
    assert rc == 128 + signal.SIGKILL and "session ended: service-stopped" in err, (rc, err)
    assert wait_end(dw, user="wses-alice")["reason"] == "service-stopped"

    # The client goes away: the session is ended (disconnected).
    p = start_session(dw, "wses-bob")
    rec = wait_logon(dw, user="wses-bob", verdict="allowed")[-1]
    p.kill()
    p.wait()
    end = wait_end(dw, session=rec["session"])
    assert end["reason"] == "disconnected"
    suid_b = session_uid(dw, b, "wses-bob")
    assert wait_for(lambda: not pids_with_uid_in([(suid_b, suid_b + 1)]), timeout=10)

    # The daemon stops: every session is ended first, audited.
    p = start_session(dw, "wses-bob")
    rec = wait_logon(dw, 2, user="wses-bob", verdict="allowed")[-1]
    d = dw.daemons[-1]
    assert dw.stop_daemon(d) == 0
    rc, out, err = finish(dw, p, keep_stdin=True)
    assert rc == 128 + signal.SIGKILL and "session ended: daemon-stop" in err, (rc, err)
    end = wait_end(dw, session=rec["session"])
    assert end["reason"] == "daemon-stop"
    assert not pids_with_uid_in([(suid_b, suid_b + 1)])
    assert not (dw.state / "session.sock").exists()
    stop_cleanly(dw)


def test_a_session_killed_by_its_service_stopping_says_so_whichever_exit_comes_first(dw, staff):
    """The service's init is seen to exit only after every process of its
    pid namespace is reaped, a session's program among them (reaped by its
    join, outside): the join's exit can reach wardd first. Holding a second
    session's join stopped keeps the init in its exit, so the first
    session's end is seen first every time, and must still say why."""
    a, _ = two_practices(dw)
    p = start_session(dw, "wses-alice")
    wait_logon(dw, user="wses-alice", verdict="allowed")
    held = start_session(dw, "wses-alice")
    rec = wait_logon(dw, 2, user="wses-alice", verdict="allowed")[-1]
    (s,) = [s for s in json.loads(dw.ctl("sessions", "--json").stdout)
            if s["id"] == rec["session"]]
    stat = Path(f"/proc/{s['pid']}/stat").read_text()
    join = int(stat[stat.rindex(")") + 2:].split()[1])  # the program's parent
    assert Path(f"/proc/{join}/comm").read_text().strip() == "ward-join"
    os.kill(join, signal.SIGSTOP)
    try:
        stop = dw.ctl_popen("stop", f"{a}/web")
        rc, out, err = finish(dw, p, keep_stdin=True)
        assert rc == 128 + signal.SIGKILL and "session ended: service-stopped" in err, (rc, err)
        (end,) = dw.wait_audit("session-end", user="wses-alice")
        assert end["reason"] == "service-stopped" and end["session"] != rec["session"], end
        # The init is still in its exit, held by the stopped join.
        assert not dw.audit("session-end", session=rec["session"])
    finally:
        os.kill(join, signal.SIGCONT)
    rc, out, err = finish(dw, held, keep_stdin=True)
    assert rc == 128 + signal.SIGKILL and "session ended: service-stopped" in err, (rc, err)
    assert wait_end(dw, session=rec["session"])["reason"] == "service-stopped"
    assert stop.wait(timeout=TIMEOUT) == 0, stop.communicate()
    stop_cleanly(dw)


def test_operators_list_and_kick_sessions(dw, staff):
    a, b = two_practices(dw)
    p = start_session(dw, "wses-alice", env=dict(ENV, SSH_CONNECTION="2001:db8::5 40000 ::1 22"))
    rec = wait_logon(dw, user="wses-alice", verdict="allowed")[-1]
    suid = session_uid(dw, a, "wses-alice")

    res = dw.ctl("sessions", "--json")
    assert res.returncode == 0, res.stderr
    (s,) = json.loads(res.stdout)
    assert s["id"] == rec["session"] and s["tenant"] == a and s["service"] == "web"
    assert s["user"] == "wses-alice" and s["uid"] == USERS["wses-alice"]
    assert s["session_uid"] == suid and s["remote"] == "2001:db8::5 40000" and s["tty"] is None
    assert isinstance(s["idle_s"], int) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                                                         s["started"])
    # The pid is the session's program, as its own uid, in its own cgroup.
    status = Path(f"/proc/{s['pid']}/status").read_text()
    assert re.search(rf"^Uid:\s+{suid}\s", status, re.M), status
    assert f"session.{s['id']}" in Path(f"/proc/{s['pid']}/cgroup").read_text()
    assert json.loads(dw.ctl("sessions", b, "--json").stdout) == []
    assert s["id"] in dw.ctl("sessions").stdout

    bad = dw.ctl("kick", "0000dead")
    assert bad.returncode != 0 and 'no session "0000dead"' in bad.stderr, bad
    res = dw.ctl("kick", s["id"])
    assert res.returncode == 0, res.stderr
    rc, out, err = finish(dw, p, keep_stdin=True)
    assert rc == 128 + signal.SIGKILL and "session ended: kicked" in err, (rc, err)
    kick = dw.wait_audit("session-kick", session=s["id"])[-1]
    assert kick["by"] == "root" and kick["user"] == "wses-alice" and kick["tenant"] == a
    end = wait_end(dw, session=s["id"])
    assert end["reason"] == "kicked" and end["status"] == 128 + signal.SIGKILL
    assert json.loads(dw.ctl("sessions", "--json").stdout) == []
    assert wait_for(lambda: not pids_with_uid_in([(suid, suid + 1)]), timeout=5)
    stop_cleanly(dw)


def test_session_joins_a_service_without_user_namespace(dw, staff):
    """A service in the host's user namespace (user_namespace false): the
    session joins the rest of its namespaces and is just as locked."""
    a = dw.name("sn")
    write_practice(dw, a, "wses-a-staff", data_text="N-DATA", user_namespace=False)
    dw.start_daemon()
    web_pid = dw.wait_state(a, "web", "running")["pid"]
    assert Path(f"/proc/{web_pid}/ns/user").stat().st_ino == Path("/proc/self/ns/user").stat().st_ino
    res = run_session(dw, "wses-alice", PROBE_SCRIPT)
    f = fields(res.stdout)
    assert res.returncode == 7, (res.stdout, res.stderr)
    suid = session_uid(dw, a, "wses-alice")
    assert f["HOST"] == f"web.{a}" and f["DATA"] == "N-DATA"
    assert f["IDS"] == f"{suid} {dw.uid_of(a)} {dw.uid_of(a)}"
    for key in ("WDATA", "WAPP", "WUSR"):
        assert "Read-only file system" in f[key], (key, f[key])
    assert f["WHOME"] == "0 " and "Permission denied" in f["SHADOW"]
    assert "Operation not permitted" in f["KILL2"] and "No such process" in f["KILLNONE"]
    assert f["CAPS"].split()[-1] == "0000000000000000" and f["NNP"].split()[-1] == "1"
    assert dw.wait_state(a, "web", "running")["pid"] == web_pid
    stop_cleanly(dw)


# ------------------------------------------ issue 18, finding 1: the relay


def run_as(user, code, *args, timeout=TIMEOUT):
    """Python code as user (no supplementary groups); its stdout as JSON."""
    res = subprocess.run([sys.executable, "-I", "-c", code, *map(str, args)],
                         capture_output=True, text=True, timeout=timeout, env=ENV,
                         **as_user(user))
    assert res.returncode == 0, (res.stdout, res.stderr)
    return json.loads(res.stdout)


def restarts_of(dw, tenant, service):
    s = dw.service_status(tenant, service)
    return s["restarts"] if s else -1


def crash_looper(dw):
    """A tenant whose one service exits at once and is restarted every
    100 ms for as long as the test runs: the daemon's loop must keep
    turning for its restarts to go on."""
    c = dw.name("sc")
    dw.write_profile(c, {"crash": dw.service("exit", "1", on="always", delay_ms=100,
                                             max_delay_ms=100, burst=1000, interval_s=1)})
    return c


# What a user's own client does to hold wardd, whatever the protocol: with
# today's, it passes its own pipes for wardd to relay, clears O_NONBLOCK on
# them (the flag is its open file's, which wardd shares) and types one
# byte, so that wardd's next read blocks; with the new one it takes the
# session's pipes, clears O_NONBLOCK on them, sets the session flooding its
# stdout and never reads it. Then it holds the session and says ATTACKING.
ATTACKER = r"""
import fcntl, os, socket, sys, time
path = sys.argv[1]
def blocking(fd):
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
pipes = [os.pipe() for _ in range(3)]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
try:
    socket.send_fds(s, [b'{"tty":false}\n'], [pipes[0][0], pipes[1][1], pipes[2][1]])
    msg, fds, _, _ = socket.recv_fds(s, 4096, 3)
    old = msg.startswith(b'{"ok":true')
except PermissionError:
    old = False
if old:
    blocking(pipes[0][0])
    os.write(pipes[0][1], b"x")
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b'{"tty":false}\n')
    msg, fds, _, _ = socket.recv_fds(s, 4096, 3)
    assert msg.startswith(b'{"ok":true') and len(fds) == 3, (msg, fds)
    for fd in fds:
        blocking(fd)
    os.write(fds[0], b"while :; do echo flood-flood-flood-flood; done\n")
print("ATTACKING", "old" if old else "new", flush=True)
time.sleep(600)
"""


def test_a_client_holding_its_relay_cannot_stall_wardd(dw, staff):
    """Issue 18, finding 1: an end user's client that makes its descriptors
    blocking and stops reading stalls nothing but its own session: while
    it holds the session, `wardctl status` answers, a crash-looping
    service keeps being restarted, and another user logs on."""
    c = crash_looper(dw)
    a, b = two_practices(dw)
    assert wait_for(lambda: restarts_of(dw, c, "crash") >= 2, timeout=TIMEOUT)
    attacker = subprocess.Popen([sys.executable, "-I", "-c", ATTACKER,
                                 str(dw.state / "session.sock")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                                **as_user("wses-alice"))
    dw.children.append(attacker)
    ready, _, _ = select.select([attacker.stdout], [], [], TIMEOUT)
    line = attacker.stdout.readline().decode() if ready else ""
    if not line.startswith("ATTACKING"):
        attacker.kill()
        dw.fail(f"the attacker did not get going: {line!r} {attacker.stderr.read()!r}")
    wait_logon(dw, user="wses-alice", verdict="allowed")
    before = restarts_of(dw, c, "crash")
    for _ in range(3):
        res = dw.ctl("status", timeout=15)
        assert res.returncode == 0 and c in res.stdout, res
    assert wait_for(lambda: restarts_of(dw, c, "crash") >= before + 5, timeout=TIMEOUT), \
        (before, restarts_of(dw, c, "crash"))
    rb = run_session(dw, "wses-bob", "echo bob-got-in\n")
    assert rb.returncode == 0 and rb.stdout == "bob-got-in\n", rb
    assert attacker.poll() is None
    attacker.kill()
    attacker.wait()
    end = wait_end(dw, user="wses-alice")
    assert end["reason"] == "disconnected", end
    stop_cleanly(dw)


# Staff of practice A asking for a session with descriptors attached, as
# today's protocol had it: pipes whose other ends it holds, and a socket.
PASS_FDS = r"""
import fcntl, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
r, w = os.pipe()
r2, w2 = os.pipe()
a, b = socket.socketpair()
try:
    socket.send_fds(s, [b'{"tty":false}\n'], [r, a.fileno(), w2])
    reply = json.loads(s.makefile().readline())
except PermissionError:
    reply = "EPERM"
print(json.dumps({"reply": reply,
                  "r_nonblock": bool(fcntl.fcntl(r, fcntl.F_GETFL) & os.O_NONBLOCK),
                  "a_nonblock": bool(fcntl.fcntl(a.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK),
                  "w2_nonblock": bool(fcntl.fcntl(w2, fcntl.F_GETFL) & os.O_NONBLOCK)}))
"""


def test_descriptors_a_client_passes_are_refused_untouched(dw, staff):
    """Issue 18, finding 1: wardd takes no descriptor from a client. Where
    the kernel has SO_PASSRIGHTS, the client cannot even send them (EPERM);
    elsewhere the kernel drops them unread and the logon is refused. Either
    way wardd never sets a flag on them, and goes on answering."""
    c = crash_looper(dw)
    two_practices(dw)
    out = run_as("wses-alice", PASS_FDS, dw.state / "session.sock")
    assert out["reply"] == "EPERM" or out["reply"] == {
        "ok": False, "error": "malformed request: file descriptors attached: wardd takes none "
                              "(ward-session relays the terminal itself)"}, out
    assert not (out["r_nonblock"] or out["a_nonblock"] or out["w2_nonblock"]), out
    if out["reply"] != "EPERM":
        assert wait_logon(dw, user="wses-alice")[-1]["verdict"] == "refused"
    assert not logons(dw, verdict="allowed")
    res = dw.ctl("status", timeout=15)
    assert res.returncode == 0 and c in res.stdout, res
    # The same user, with the real client, gets in.
    ok = run_session(dw, "wses-alice", "echo alice-got-in\n")
    assert ok.returncode == 0 and ok.stdout == "alice-got-in\n", ok
    stop_cleanly(dw)
