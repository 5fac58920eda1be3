"""Fixtures for the end-to-end tests of the daemon (`wardd` without `run`),
the control socket, `wardctl` and the audit log.

Every test gets a `dw` object (a DaemonWorld) that owns a temporary directory
(settings file, tenants dir, state, log and data dirs) and every process it
starts: the wardd daemons (and through them every tenant process), `wardctl`
children and client sockets. All of it is stopped, killed (by pid, only what
the test started) and removed when the test ends, also when it fails.

Run as root, inside a throwaway network and mount namespace, exactly like the
rest of the suite (see conftest.py):
    WARD_BUILD=build-dt unshare --net --mount --propagation private \\
        sh -c 'ip link set lo up; /usr/bin/python3 -m pytest -q tests/integration/test_daemon.py'

Authorization tests run `wardctl` as an unused uid with groups that exist on
every Debian system (nothing is added to the host's user or group files):
    staff (50)  the socket's group: anyone who may connect at all
    games (60)  viewers
    users (100) operators
    src (40)    admins (nobody in the tests)
"""

import copy
import itertools
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import (BUILD, ID_COUNT, POLICIES, PROBE, PROBE_DIR, PROBE_HOST, PROBE_HOST_DIR,
                      WARDD, descendants, load_hardened, overlay, proc_comm, wait_for)

WARDCTL = BUILD / "wardctl"

# Host uid ranges of the daemon tests' tenants: far from test_run.py's
# (3.1M, 3.2M) and from anything a person would use. One range per tenant
# of a test, in the order the test creates them; consecutive tests use
# different blocks (of MAX_TENANTS ranges), so whatever one test leaves
# dying is never counted as the next one's, and each pytest run starts at a
# random block, so two runs at once (two developers) do not share ranges.
UID_BASE = 5_000_000
MAX_TENANTS = 16
UID_BLOCKS = 512
_block_counter = itertools.count(random.randrange(UID_BLOCKS))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def boot_ticks():
    """Now, in the clock ticks since boot that /proc/PID/stat's starttime uses."""
    return int(float(Path("/proc/uptime").read_text().split()[0]) * CLK_TCK)


# Groups that exist on every Debian system; see the module's docstring.
GID_STAFF, GID_GAMES, GID_USERS, GID_SRC = 50, 60, 100, 40
SOCKET_GROUP, VIEWER_GROUP, OPERATOR_GROUP, ADMIN_GROUP = "staff", "games", "users", "src"
# A uid and gid no account uses: the "someone" who runs wardctl.
STRANGER = 4_242_001

DAEMON_READY_TIMEOUT = 15
CTL_TIMEOUT = 15

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse_time(text):
    """An audit record's time (RFC 3339, UTC, milliseconds) as a datetime."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


def ms_between(a, b):
    return (parse_time(b) - parse_time(a)).total_seconds() * 1000.0


# ---- host-side process helpers ----

def proc_stat(pid):
    """(state, starttime, ppid) of pid, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split()
    return rest[0], int(rest[19]), int(rest[1])


def proc_uid(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_alive(pid, starttime=None):
    """pid exists, is not a zombie, and (if given) started at starttime."""
    st = proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[1] == starttime


class Snapshot:
    """A set of processes, each identified by pid and start time, so a later
    check is not fooled by pid reuse."""

    def __init__(self, pids):
        self.procs = {}
        for pid in pids:
            st = proc_stat(pid)
            if st is not None:
                self.procs[pid] = st[1]

    def alive(self):
        return [pid for pid, start in self.procs.items() if proc_alive(pid, start)]

    def describe(self):
        return [(pid, proc_comm(pid), proc_uid(pid)) for pid in self.alive()]

    def kill(self):
        for pid in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def pids_with_uid_in(ranges, since=0):
    """Live (non-zombie) processes whose real uid is in one of the ranges,
    started at or after `since` (boot ticks)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        uid = proc_uid(pid)
        if uid is None or not any(lo <= uid < hi for lo, hi in ranges):
            continue
        st = proc_stat(pid)
        if st and st[0] not in ("Z", "X") and st[1] >= since:
            out.append(pid)
    return out


def net_links():
    """Interface names of this network namespace."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def cgroup_dirs_named(names, root="/sys/fs/cgroup", depth=5):
    """Directories under the cgroup mounts whose name contains one of names."""
    found = []

    def walk(path, level):
        if level > depth:
            return
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for e in entries:
            try:
                if not e.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if any(n in e.name for n in names):
                found.append(e.path)
            walk(e.path, level + 1)

    walk(root, 0)
    return found


def mountpoints():
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        out.append(line.split()[4])
    return out


# ---- talking to the control socket directly ----

class Client:
    """A raw control-socket client: one JSON request per line."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def read_line(self):
        """The next reply line, or None when the daemon closed the connection."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def read_reply(self):
        line = self.read_line()
        assert line is not None, "the daemon closed the connection without a reply"
        return json.loads(line)

    def request(self, obj):
        self.send(obj)
        return self.read_reply()

    def closed_by_peer(self, timeout):
        """True once the daemon has closed the connection (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class LineReader:
    """Collects a child's stdout lines on a thread (for `wardctl logs -f`)."""

    def __init__(self, stream):
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        try:
            for raw in iter(stream.readline, b""):
                with self.lock:
                    self.lines.append(raw.decode(errors="replace").rstrip("\n"))
        except (ValueError, OSError):
            pass  # the test closed the stream under us (its teardown): done

    def snapshot(self):
        with self.lock:
            return list(self.lines)


# ---- the world of one test ----

class Daemon:
    """One wardd daemon run."""

    def __init__(self, proc, stderr_path):
        self.proc = proc
        self.pid = proc.pid
        self.stderr_path = stderr_path

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def running(self):
        return self.proc.poll() is None

    def tree(self):
        """A snapshot of every process under this wardd right now."""
        return Snapshot(descendants(self.pid))


class DaemonWorld:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.tenants_dir = tmp / "tenants"
        self.state = tmp / "state"
        self.logs = tmp / "log"
        self.data = tmp / "data"
        self.scratch = tmp / "scratch"
        for d in (self.tenants_dir, self.logs, self.data, self.scratch):
            d.mkdir(mode=0o755)
        self.state.mkdir()
        os.chmod(self.state, 0o711)  # wardctl run as a stranger must reach the socket
        self.config_path = tmp / "wardd.json"
        self.socket = self.state / "control.sock"
        self.audit_path = self.logs / "audit.jsonl"
        self.hardened = load_hardened()
        self.data_inside = self.hardened.get("filesystem", {}).get("data") or "/data"
        self.daemons = []
        self.children = []   # wardctl processes started with Popen
        self.clients = []    # raw sockets
        self.uids = {}       # tenant name -> first host uid
        self.since = boot_ticks() - 1  # processes of this test started after this
        self.uid_block = UID_BASE + (next(_block_counter) % UID_BLOCKS) * MAX_TENANTS * ID_COUNT
        self.suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(4))
        self.settings = {
            "tenants_dir": str(self.tenants_dir),
            "policy_dirs": [str(POLICIES)],
            "state_dir": str(self.state),
            "log_dir": str(self.logs),
            "data_dir": str(self.data),
            "control": {"socket_group": SOCKET_GROUP, "operator_group": OPERATOR_GROUP,
                        "viewer_group": VIEWER_GROUP, "admin_group": ADMIN_GROUP},
            "logs": {"max_bytes": "1M", "keep": 3},
            "audit": {"fsync": "turn"},
            # A cgroup parent of this test's own: a starting wardd removes
            # everything under its parent, which must never be another
            # run's (a concurrent test run, CI, an operator's wardd).
            "cgroup": {"parent": f"ward-t-{self.suffix}"},
            # Never the host's /var/lib/ward.
            "network": {"allocations": str(tmp / "state" / "network.json")},
            # The host's subordinate ids are the host's business: a test
            # daemon reads its own files (empty unless a test writes them),
            # so the host's users never decide which test tenants start.
            "ids": {"subuid": str(tmp / "subuid"), "subgid": str(tmp / "subgid")},
        }
        self.subuid, self.subgid = tmp / "subuid", tmp / "subgid"
        for f in (self.subuid, self.subgid):
            f.write_text("")
            os.chmod(f, 0o644)
        self.write_config()

    # -- names and settings --

    def name(self, base):
        """A tenant name unique to this test (so leftovers of another test,
        a cgroup say, are never mistaken for this one's)."""
        return f"{base}-{self.suffix}"

    def write_config(self, **changes):
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(self.settings.get(key), dict):
                self.settings[key].update(value)
            else:
                self.settings[key] = value
        self.config_path.write_text(json.dumps(self.settings, indent=2) + "\n")
        os.chmod(self.config_path, 0o644)

    # -- profiles --

    def uid_of(self, tenant):
        if tenant not in self.uids:
            assert len(self.uids) < MAX_TENANTS
            self.uids[tenant] = self.uid_block + len(self.uids) * ID_COUNT
        return self.uids[tenant]

    def uid_ranges(self):
        return [(u, u + ID_COUNT) for u in self.uids.values()]

    def filesystem(self):
        fs = copy.deepcopy(self.hardened.get("filesystem", {}))
        fs["ro"] = list(fs.get("ro", [])) + [{"src": str(PROBE_HOST_DIR), "dst": PROBE_DIR}]
        fs["data"] = self.data_inside
        tmpfs = dict(fs.get("tmpfs", {}))
        tmpfs.setdefault("/tmp", "64M")
        fs["tmpfs"] = tmpfs
        return fs

    def service(self, *probe_args, on="failure", delay_ms=50, max_delay_ms=200, burst=5,
                interval_s=60, stop_timeout_s=1, after=None, exec_=None, **policy):
        """A service definition running the probe with probe_args (or exec_),
        on hardened plus an inline fragment with the test filesystem, the
        given restart settings and stop timeout, and any other policy key."""
        inline = {"filesystem": self.filesystem(),
                  "restart": overlay(self.hardened, "restart",
                                     {"on": on, "delay_ms": delay_ms,
                                      "max_delay_ms": max_delay_ms, "burst": burst,
                                      "interval_s": interval_s}),
                  "stop_timeout_s": stop_timeout_s}
        for key, value in policy.items():
            inline[key] = overlay(self.hardened, key, value) if isinstance(value, dict) else value
        svc = {"exec": exec_ or [PROBE] + [str(a) for a in probe_args],
               "policy": ["hardened", inline]}
        if after:
            svc["after"] = list(after)
        return svc

    def profile_doc(self, tenant, services):
        return {"tenant": tenant,
                "ids": {"uid": self.uid_of(tenant), "count": ID_COUNT},
                "services": services}

    def write_profile(self, tenant, services=None, *, doc=None, text=None, mode=0o644,
                      owner=0, make_data=True, filename=None):
        """Writes TENANTS/TENANT.json (atomically: written beside, renamed
        in). services: {name: service(...)}; or a whole doc; or raw text."""
        if text is None:
            doc = doc if doc is not None else self.profile_doc(tenant, services)
            text = json.dumps(doc, indent=2) + "\n"
        path = self.tenants_dir / (filename or f"{tenant}.json")
        tmp = self.scratch / (path.name + ".new")
        tmp.write_text(text)
        os.chown(tmp, owner, owner)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        if make_data:
            self.make_data_dir(tenant)
        return path

    def make_data_dir(self, tenant):
        uid = self.uid_of(tenant)
        d = self.data / tenant
        if not d.exists():
            d.mkdir(mode=0o700)
        os.chown(d, uid, uid)
        os.chmod(d, 0o700)
        return d

    def remove_profile(self, tenant):
        (self.tenants_dir / f"{tenant}.json").unlink()

    # -- the daemon --

    def argv(self, extra=()):
        return [str(WARDD), "--config", str(self.config_path)] + list(extra)

    def start_daemon(self, extra=(), wait=True, pass_fds=()):
        n = len(self.daemons)
        err_path = self.tmp / f"wardd-{n}.stderr"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(self.argv(extra), stdin=subprocess.DEVNULL,
                                    stdout=err, stderr=err, pass_fds=pass_fds)
        d = Daemon(proc, err_path)
        self.daemons.append(d)
        if wait:
            self.wait_ready(d)
        return d

    def wait_ready(self, d, timeout=DAEMON_READY_TIMEOUT):
        def ready():
            if not d.running():
                return "exited"
            if not self.socket.exists():
                return None
            try:
                c = Client(self.socket, timeout=2)
            except OSError:
                return None
            try:
                r = c.request({"cmd": "status"})
                return "ok" if r.get("ok") else None
            except (OSError, ValueError, AssertionError):
                return None
            finally:
                c.close()

        res = wait_for(ready, timeout=timeout, interval=0.02)
        if res != "ok":
            pytest.fail(f"wardd did not become ready ({res}, rc={d.proc.poll()}):\n"
                        f"argv: {' '.join(d.proc.args)}\nstderr:\n{d.stderr()}")

    def stop_daemon(self, d, sig=signal.SIGTERM, timeout=10):
        """Signals the daemon and waits for it; returns its exit code."""
        if d.running():
            d.proc.send_signal(sig)
        try:
            return d.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"wardd did not exit within {timeout}s of {sig!r}\n"
                        f"stderr:\n{d.stderr()}")

    # -- control --

    def client(self, timeout=5.0, path=None):
        c = Client(path or self.socket, timeout=timeout)
        self.clients.append(c)
        return c

    def request(self, obj, timeout=5.0):
        c = Client(self.socket, timeout=timeout)
        try:
            return c.request(obj)
        finally:
            c.close()

    def status(self, tenant=None):
        req = {"cmd": "status"}
        if tenant:
            req["tenant"] = tenant
        r = self.request(req)
        assert r.get("ok") is True, r
        return r["services"]

    def service_status(self, tenant, service):
        """The service's status entry; None if absent or the daemon does
        not answer (for polling)."""
        try:
            services = self.status()
        except (OSError, ValueError, AssertionError):
            return None
        for s in services:
            if s.get("tenant") == tenant and s.get("service") == service:
                return s
        return None

    def pid_of(self, tenant, service):
        s = self.service_status(tenant, service)
        return s.get("pid") if s else None

    def wait_state(self, tenant, service, states, timeout=10.0):
        """Polls until the service is in one of states; returns its status."""
        if isinstance(states, str):
            states = (states,)
        daemon = self.daemons[-1] if self.daemons else None
        last = {}

        def check():
            if daemon is not None and not daemon.running():
                return "dead"
            s = self.service_status(tenant, service)
            last["s"] = s
            return s if s and s.get("state") in states else None

        s = wait_for(check, timeout=timeout, interval=0.02)
        if not s or s == "dead":
            self.fail(f"{tenant}/{service} never reached {states}: last status {last.get('s')}")
        return s

    def fail(self, message):
        """pytest.fail with the audit log and the last daemon's stderr."""
        msg = f"{message}\naudit log (without root's status polling):\n{self.audit_summary()}"
        if self.daemons:
            d = self.daemons[-1]
            msg += f"\nwardd (pid {d.pid}, rc {d.proc.poll()}) stderr:\n{d.stderr()}"
        pytest.fail(msg)

    def ctl_argv(self, *args, socket_path=None):
        return [str(WARDCTL), "--socket", str(socket_path or self.socket)] + [str(a) for a in args]

    def ctl(self, *args, user=None, groups=(), timeout=CTL_TIMEOUT, socket_path=None,
            raw_argv=None):
        """Runs wardctl to completion (as root, or as uid `user` with
        supplementary groups); CompletedProcess with text output."""
        argv = raw_argv if raw_argv is not None else self.ctl_argv(*args, socket_path=socket_path)
        kw = {}
        if user is not None:
            kw = {"user": user, "group": user, "extra_groups": list(groups)}
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout, **kw)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"wardctl did not finish in {timeout}s: {argv}\n"
                        f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")

    def ctl_popen(self, *args, user=None, groups=()):
        kw = {}
        if user is not None:
            kw = {"user": user, "group": user, "extra_groups": list(groups)}
        p = subprocess.Popen(self.ctl_argv(*args), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.children.append(p)
        return p

    # -- the audit log --

    def audit_text(self):
        try:
            return self.audit_path.read_text(errors="replace")
        except OSError:
            return "(no audit log)"

    def audit_summary(self):
        out = []
        for line in self.audit_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                out.append(line)
                continue
            if (rec.get("event") == "control" and rec.get("cmd") == "status"
                    and (rec.get("peer") or {}).get("uid") == 0
                    and rec.get("verdict") == "allowed"):
                continue
            out.append(line)
        return "\n".join(out[-200:])

    def audit(self, event=None, **match):
        """Complete records of the audit log, optionally only those of one
        event whose fields equal match."""
        try:
            text = self.audit_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.split("\n")[:-1]:  # the last piece is "" or a partial line
            if not line.strip():
                continue
            rec = json.loads(line)
            if event is not None and rec.get("event") != event:
                continue
            if all(rec.get(k) == v for k, v in match.items()):
                out.append(rec)
        return out

    def wait_audit(self, event, count=1, timeout=10.0, **match):
        recs = wait_for(lambda: (lambda r: r if len(r) >= count else None)(
            self.audit(event, **match)), timeout=timeout, interval=0.02)
        if not recs:
            self.fail(f"no {count} audit record(s) {event} {match} within {timeout}s")
        return recs

    # -- processes --

    def tenant_pids(self):
        """Live processes whose uid is in one of this test's tenants' ranges
        (and that started during this test)."""
        return pids_with_uid_in(self.uid_ranges(), self.since)

    def cleanup(self):
        for c in self.clients:
            c.close()
        for p in self.children:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        # A gentle stop first, so wardd removes what it made in the kernel;
        # then SIGKILL to whatever is left of each tree.
        for d in self.daemons:
            if d.running():
                tree = d.tree()
                try:
                    d.proc.send_signal(signal.SIGTERM)
                    d.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    tree = Snapshot(list(tree.procs) + descendants(d.pid))
                    tree.kill()
                    d.proc.kill()
                    try:
                        d.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
                tree.kill()
                wait_for(lambda: not tree.alive(), timeout=5)
        # Whatever our tenants left behind (processes in this test's uid ranges,
        # which only this test's daemons started).
        if self.uids:
            left = Snapshot(self.tenant_pids())
            left.kill()
            wait_for(lambda: not left.alive(), timeout=5)
        self.remove_cgroup_parent()

    def cgroup_parent_dirs(self):
        """This test's cgroup parent in every hierarchy that has it."""
        parent = self.settings["cgroup"]["parent"]
        root = Path("/sys/fs/cgroup")
        dirs = [root / parent] if (root / parent).is_dir() else []
        for h in root.iterdir() if root.is_dir() else []:
            if h.is_dir() and (h / parent).is_dir():
                dirs.append(h / parent)
        return dirs

    def remove_cgroup_parent(self):
        """rmdir this test's cgroup tree, deepest first (wardd removes the
        services' cgroups; the parent itself is left for us)."""
        for top in self.cgroup_parent_dirs():
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass


@pytest.fixture(scope="session")
def daemon_built():
    if os.geteuid() != 0:
        pytest.fail("the daemon's integration tests must run as root")
    for path in (WARDD, WARDCTL, PROBE_HOST):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not built (WARD_BUILD={BUILD})")


@pytest.fixture
def dw(daemon_built):
    tmp = Path(tempfile.mkdtemp(prefix="ward-dt-"))
    os.chmod(tmp, 0o755)
    w = None
    try:
        w = DaemonWorld(tmp)
        yield w
    finally:
        if w is not None:
            w.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


# ---- kernel objects a daemon holds, for leak checks (test_badinput.py,
# ---- test_chaos.py) ----

import resource  # noqa: E402
import time  # noqa: E402


def fd_count(pid):
    """Open fds of pid (entries of /proc/PID/fd); None if it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def mount_count(pid):
    """Mounts in pid's mount namespace (lines of /proc/PID/mountinfo)."""
    try:
        return len(Path(f"/proc/{pid}/mountinfo").read_text().splitlines())
    except OSError:
        return None


def zombie_children(pid):
    """Children of pid in state Z (not yet reaped)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st and st[2] == pid and st[0] == "Z":
                out.append(int(entry))
    return out


def ip_links():
    """`ip -o link` of this network namespace: one line per link, names only
    and sorted (counters and flags left out)."""
    res = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0, res.stderr
    return sorted(line.split(":")[1].strip() for line in res.stdout.splitlines() if ":" in line)


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE soft limit to at least want (up to
    the hard limit, raised too if we may); returns the old (soft, hard)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = old
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return old
        except (ValueError, OSError):
            want = hard
    if soft == resource.RLIM_INFINITY or soft >= want:
        return old
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return old


def restore_nofile(old):
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    except (ValueError, OSError):
        pass


def settled(fn, timeout=5.0, interval=0.05, stable=0.3):
    """fn()'s value once it has not changed for `stable` seconds (or the last
    value at timeout): for counts that drain after the event, like a
    daemon's fds while it closes clients."""
    end = time.monotonic() + timeout
    last, since = fn(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(interval)
        cur = fn()
        if cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= stable:
            break
    return last


def assign_uids(dw, names, base):
    """Gives each tenant of names its own ID_COUNT range from base on, for
    a test with more tenants than MAX_TENANTS (uid_of() then returns it, and
    tenant_pids() and cleanup() know it)."""
    for i, name in enumerate(names):
        dw.uids[name] = base + i * ID_COUNT
