"""Fixtures for the end-to-end tests of `wardd run`.

Every test gets a `ward` object that owns a temporary directory (profiles,
tenant data dirs, state and log dirs) and every process it starts; all of it
is removed or killed when the test ends, also when it fails.

Run as root, inside a throwaway network and mount namespace:
    unshare --net --mount --propagation private \
        sh -c 'ip link set lo up; python3 -m pytest -q tests/integration'
WARD_BUILD names the meson build directory (default: <source>/build);
WARD_POLICIES the policy fragments passed as --policies (default:
<source>/profiles/policies, whose hardened.json the tests build on).
"""

import copy
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("WARD_BUILD", ROOT / "build")).resolve()
WARDD = BUILD / "wardd"
PROBE_HOST_DIR = BUILD / "tests"
PROBE_HOST = PROBE_HOST_DIR / "probe"
POLICIES = Path(os.environ.get("WARD_POLICIES", ROOT / "profiles" / "policies")).resolve()

# Where the build's tests/ directory (holding the probe) appears inside.
PROBE_DIR = "/ward-test"
PROBE = PROBE_DIR + "/probe"

# Host uid ranges of the test tenants: far from anything a person or the
# other developers' manual runs would use.
UID_ALPHA = 3_100_000
UID_BETA = 3_200_000
ID_COUNT = 65536

RUN_TIMEOUT = 30

SECCOMP_VERDICT = PROBE_HOST_DIR / "seccomp-verdict"

# What this run proved by which path, printed at the end of the run (where a
# kernel cannot enter an ABI, its rules are checked by evaluating the filter).
PROOF_NOTES = []


def pytest_terminal_summary(terminalreporter):
    for note in dict.fromkeys(PROOF_NOTES):
        terminalreporter.write_line(note)


_i386_gate = []


def i386_gate():
    """True where this kernel executes `int $0x80` (IA-32 emulation on),
    False where it cannot (the probe, with no filter, dies of SIGSEGV).
    Anything else fails the test that asks."""
    if not _i386_gate:
        res = subprocess.run([str(PROBE_HOST), "int80"], capture_output=True, timeout=30)
        assert res.returncode == 0, res.stderr
        r = json.loads(res.stdout)["int80"]
        if r.get("ret", -1) > 0:
            _i386_gate.append(True)
        elif r.get("signal") == int(signal.SIGSEGV):
            _i386_gate.append(False)
        else:
            pytest.fail(f"int 0x80 getpid with no filter: {r}, neither a pid nor SIGSEGV")
    return _i386_gate[0]


def seccomp_verdict(pid, *calls):
    """What the filters process `pid` holds decide for each call
    ("i386,20", "x86_64,16,0,0x5412"), from the kernel's copy of them:
    {"filters": N, call: {"action": ..., "errno": ...}, ...}."""
    res = subprocess.run([str(SECCOMP_VERDICT), str(pid), *calls], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


# ---- host-side helpers ----

def proc_children_map():
    """ppid -> [pid] for every process on the host right now."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid):
    """All descendants of pid, parents before their children."""
    children = proc_children_map()
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def proc_comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def proc_status(pid):
    """/proc/PID/status as a dict of stripped strings."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = " ".join(value.split())
    return out


def kill_tree(proc):
    """Kills a wardd we started and its sandbox: the sandbox's init first
    (pid 1 of its namespace: the kernel then kills everything in it), then
    wardd, so nothing is left reparented elsewhere."""
    if proc.poll() is None:
        for pid in descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def cpu_set(text):
    """The CPUs of a kernel list ("0-3,6") as a set of numbers."""
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def wait_for(predicate, timeout=10.0, interval=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def load_hardened():
    path = POLICIES / "hardened.json"
    assert path.is_file(), f"the shipped policy fragment {path} is missing"
    return json.loads(path.read_text())


def overlay(base, key, changes):
    """An inline-fragment value for `key` that is base[key] with `changes`
    applied. It names every key base[key] has, so the merged result is the
    same whether the loader merges objects shallowly or deeply."""
    value = copy.deepcopy(base.get(key, {}))
    value.update(copy.deepcopy(changes))
    return value


class Ward:
    """One test's world: temp dirs, tenant profiles, wardd runs."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.data = tmp / "data"
        self.profiles = tmp / "profiles"
        self.state = tmp / "state"
        self.logs = tmp / "log"
        for d in (self.data, self.profiles, self.state, self.logs):
            d.mkdir(mode=0o755)
        self.procs = []
        self.hardened = load_hardened()
        fs = self.hardened.get("filesystem", {})
        self.data_inside = fs.get("data") or "/data"

    # -- profiles --

    def filesystem(self, **changes):
        """hardened's filesystem with the probe's directory bound read-only
        and the tenant data dir mounted (at hardened's place, or /data)."""
        fs = copy.deepcopy(self.hardened.get("filesystem", {}))
        fs["ro"] = list(fs.get("ro", [])) + [{"src": str(PROBE_HOST_DIR), "dst": PROBE_DIR}]
        fs["data"] = self.data_inside
        tmpfs = dict(fs.get("tmpfs", {}))
        tmpfs.setdefault("/tmp", "64M")
        fs["tmpfs"] = tmpfs
        for key, value in changes.items():
            fs[key] = value
        return fs

    def inline(self, **keys):
        """The inline fragment that follows "hardened": the test filesystem,
        plus any other key given (dicts are overlaid on hardened's)."""
        frag = {"filesystem": self.filesystem()}
        for key, value in keys.items():
            if key == "filesystem":
                frag[key] = self.filesystem(**value)
            elif isinstance(value, dict):
                frag[key] = overlay(self.hardened, key, value)
            else:
                frag[key] = value
        return frag

    def tenant(self, name="alpha", uid=UID_ALPHA, service="app", exec_=None,
               policy=None, make_data=True, extra_services=None):
        """Writes a profile for tenant `name` with one service and returns
        its path. `policy` replaces the default ["hardened", inline()]."""
        services = {
            service: {
                "exec": exec_ or [PROBE, "exit", "3"],
                "policy": policy if policy is not None else ["hardened", self.inline()],
            }
        }
        services.update(extra_services or {})
        profile = {
            "tenant": name,
            "ids": {"uid": uid, "count": ID_COUNT},
            "services": services,
        }
        path = self.profiles / f"{name}.json"
        path.write_text(json.dumps(profile, indent=2) + "\n")
        if make_data:
            self.make_data_dir(name, uid)
        return path

    def make_data_dir(self, name, uid):
        d = self.data / name
        if not d.exists():
            d.mkdir(mode=0o700)
        os.chown(d, uid, uid)
        os.chmod(d, 0o700)
        return d

    # -- running wardd --

    def argv(self, profile, service="app", command=None, policies=True):
        argv = [str(WARDD)]
        if policies:
            argv += ["--policies", str(POLICIES)]
        argv += ["--state-dir", str(self.state), "--log-dir", str(self.logs),
                 "--data-dir", str(self.data), "run", str(profile), service]
        if command is not None:
            argv += ["--"] + list(command)
        return argv

    def start(self, profile, service="app", command=None, *, env=None, pass_fds=(),
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              **popen_kw):
        proc = subprocess.Popen(self.argv(profile, service, command), env=env,
                                pass_fds=pass_fds, stdin=stdin, stdout=stdout,
                                stderr=stderr, **popen_kw)
        self.procs.append(proc)
        return proc

    def run(self, profile, service="app", command=None, *, timeout=RUN_TIMEOUT,
            input=None, **kw):
        """Runs wardd to completion: CompletedProcess with text output."""
        if input is not None:
            kw["stdin"] = subprocess.PIPE
        proc = self.start(profile, service, command, **kw)
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            out, err = proc.communicate()
            pytest.fail(f"wardd did not finish in {timeout}s: {self.argv(profile, service, command)}\n"
                        f"stdout: {out!r}\nstderr: {err!r}")
        return subprocess.CompletedProcess(proc.args, proc.returncode,
                                           out.decode(errors="replace"),
                                           err.decode(errors="replace"))

    def probe(self, profile, *args, service="app", rc=0, **kw):
        """Runs the probe as the service's command; checks wardd's exit code
        and returns the probe's report."""
        res = self.run(profile, service, [PROBE] + [str(a) for a in args], **kw)
        assert res.returncode == rc, (
            f"wardd exited {res.returncode}, expected {rc}\n"
            f"command: {' '.join(res.args)}\nstdout: {res.stdout}\nstderr: {res.stderr}")
        try:
            return json.loads(res.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"the probe's output is not one JSON object: {res.stdout!r}\n"
                        f"stderr: {res.stderr}")

    def sandbox_pids(self, proc, comm="probe"):
        """Host pids of the processes named `comm` under a running wardd."""
        return [p for p in descendants(proc.pid) if proc_comm(p) == comm]

    def cleanup(self):
        for proc in self.procs:
            kill_tree(proc)
            for f in (proc.stdout, proc.stderr, proc.stdin):
                if f:
                    f.close()


CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_V1 = ("memory", "pids", "cpu", "cpuacct", "freezer")


def run_cgroup_parents():
    """ward.run, the cgroup parent `wardd run` shares between runs, in every
    hierarchy ward uses (the v1 controllers, or the v2 root)."""
    v1 = [CGROUP_ROOT / h / "ward.run" for h in CGROUP_V1 if (CGROUP_ROOT / h).is_dir()]
    return v1 or [CGROUP_ROOT / "ward.run"]


def remove_new_cgroups(parent, before):
    """rmdir, deepest first, of the directories under parent (and parent)
    that were not in `before`: what the runs of this session made and
    wardd keeps for later runs (ward.run/TENANT), or a killed run left.
    Only empty cgroups can go; a busy one stays and is reported."""
    if not parent.is_dir():
        return []
    left = []
    for d in sorted((p for p in parent.rglob("*") if p.is_dir()),
                    key=lambda p: len(p.parts), reverse=True):
        if d not in before:
            try:
                d.rmdir()
            except OSError as e:
                left.append(f"{d}: {e.strerror}")
    if parent not in before:
        try:
            parent.rmdir()
        except OSError as e:
            left.append(f"{parent}: {e.strerror}")
    return left


def in_mount_ns_of_our_own():
    """Whether an ancestor of ours (the `unshare --mount` of the run's
    command line, say) is in another mount namespace: then ours was made
    for the run, and what is mounted in it never reaches the host's."""
    mine = os.readlink("/proc/self/ns/mnt")
    pid = os.getppid()
    while pid > 1:
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") != mine:
                return True
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


@pytest.fixture(scope="session")
def ward_built():
    """wardd and the probe are built and we are root: an error, not a skip,
    when not (only the tests that run wardd ask for this). Removes the
    cgroups under ward.run that the session's runs made."""
    if os.geteuid() != 0:
        pytest.fail("the integration tests of `wardd run` must run as root")
    for path in (WARDD, PROBE_HOST):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not built (WARD_BUILD={BUILD})")
    # `wardd run` refuses a tenant range a host user holds subordinate ids
    # in (/etc/subuid, /etc/subgid): the host's users must not decide
    # which test ranges run. Inside the run's own mount namespace only
    # (never the host's), the files, where they exist, are hidden behind
    # empty ones; tests that need lines name their own files (--config).
    hidden, empty = [], None
    if in_mount_ns_of_our_own():
        fd, name = tempfile.mkstemp(prefix="ward-it-subid-")
        os.close(fd)
        empty = Path(name)
        os.chmod(empty, 0o644)
        for path in ("/etc/subuid", "/etc/subgid"):
            if os.path.isfile(path):
                subprocess.run(["mount", "--bind", str(empty), path], check=True)
                hidden.append(path)
    before = {}
    for parent in run_cgroup_parents():
        before[parent] = ({parent, *(p for p in parent.rglob("*") if p.is_dir())}
                          if parent.is_dir() else set())
    yield
    for path in hidden:
        subprocess.run(["umount", path], check=False)
    if empty is not None:
        empty.unlink()
    left = []
    for parent, had in before.items():
        left += remove_new_cgroups(parent, had)
    assert not left, f"cgroups the tests made could not be removed: {left}"


@pytest.fixture
def ward(ward_built):
    tmp = Path(tempfile.mkdtemp(prefix="ward-it-"))
    os.chmod(tmp, 0o755)
    w = None
    try:
        w = Ward(tmp)
        yield w
    finally:
        if w is not None:
            w.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
