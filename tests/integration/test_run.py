"""End-to-end tests of `wardd run`: the probe (tests/helpers/probe.c) runs
inside the sandbox, reports what it sees, and the tests check it, from inside
and from the host. See conftest.py for how to run them."""

import ctypes
import fcntl
import json
import os
import pty
import re
import signal
import socket
import subprocess
import termios
import uuid
from pathlib import Path

import pytest

from conftest import (ID_COUNT, PROBE, PROBE_DIR, PROBE_HOST, PROOF_NOTES, UID_ALPHA, UID_BETA,
                      cpu_set, descendants, i386_gate, proc_comm, proc_status,
                      run_cgroup_parents, seccomp_verdict, wait_for)

SIGSYS = int(signal.SIGSYS)

# One or more syscalls per group the shipped `hardened` policy denies. Each
# succeeds, or fails with an errno other than EPERM, for an unprivileged
# process without a filter (test_probe_baseline checks that on this kernel),
# so EPERM proves the filter. @module, @reboot and @swap need privilege on
# kernels that have them, so only `kill` tells there.
SYSCALL_CLASSES = {
    "@debug": ["ptrace", "perf_event_open"],
    "@cpu-emulation": ["modify_ldt"],
    "@clock": ["adjtimex", "clock_adjtime", "settimeofday"],
    "@obsolete": ["afs_syscall", "uselib"],
    "@raw-io": ["ioperm", "iopl"],
    "@mount": ["mount", "umount2", "chroot", "open_tree"],
    "@privileged": ["fanotify_init", "acct"],
    "@module": ["init_module", "finit_module", "delete_module"],
    "@reboot": ["reboot", "kexec_load"],
    "@swap": ["swapon", "swapoff"],
}
# Never EPERM without a filter, whatever the kernel's configuration.
BASELINE_NOT_EPERM = ["getpid", "ptrace", "modify_ldt", "adjtimex", "clock_adjtime",
                      "afs_syscall", "ioperm", "iopl", "mount", "umount2", "chroot",
                      "open_tree", "setuid-self", "fchown-self"]

DEV_REQUIRED = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                "urandom": (1, 9), "tty": (5, 0), "pts": None, "ptmx": None, "shm": None}
DEV_ALLOWED_EXTRA = {"fd", "stdin", "stdout", "stderr"}

PROC_MASKED = ["/proc/kcore", "/proc/sysrq-trigger", "/proc/kallsyms", "/proc/timer_list",
               "/proc/keys"]


def syscall_args(names):
    args = []
    for n in names:
        args += ["syscall", n]
    return args


def failed_with(result, err):
    return result.get("ok") is False and result.get("errno") == err


def mountpoints(report):
    return {m["mountpoint"]: m for m in report["mounts"]}


def running_probe(ward, profile):
    """Starts the probe as the service, sleeping; returns its host pid."""
    ready = ward.data / "alpha" / "ready"
    proc = ward.start(profile, command=[PROBE, "ready", f"{ward.data_inside}/ready",
                                        "sleep", "30"])
    assert wait_for(ready.exists), f"the probe never got ready: {proc.poll()}"
    pids = wait_for(lambda: ward.sandbox_pids(proc))
    assert len(pids) == 1, pids
    return pids[0]


def caps_hex(status, key):
    return int(status[key], 16)


# ---------------------------------------------------------------- the probe


def test_probe_baseline(ward_built):
    """Without ward, as the tenant's uid: the probe's syscalls do not fail
    with EPERM, and `int 0x80` either works or (a kernel without the i386
    gate) dies of SIGSEGV, never SIGSYS, so the seccomp tests below can
    fail."""
    def drop():
        os.setgroups([])
        os.setresgid(UID_ALPHA, UID_ALPHA, UID_ALPHA)
        os.setresuid(UID_ALPHA, UID_ALPHA, UID_ALPHA)

    res = subprocess.run([str(PROBE_HOST), "int80"] + syscall_args(BASELINE_NOT_EPERM),
                         preexec_fn=drop, capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for name in BASELINE_NOT_EPERM:
        r = report[f"syscall:{name}"]
        assert "signal" not in r and r.get("errno") != "EPERM", (name, r)
    if i386_gate():
        assert report["int80"].get("ret", -1) > 0, report["int80"]
    else:
        assert report["int80"].get("signal") == int(signal.SIGSEGV), report["int80"]


# ---------------------------------------------------------------- namespaces


def test_run_refuses_ids_of_a_host_users_subordinate_range(ward):
    """`wardd run` holds a profile to the daemon's rule: no uid a host user
    can map with newuidmap (a line of the subuid or subgid file the settings
    name) runs as the tenant's."""
    profile = ward.tenant()
    subuid, subgid = ward.tmp / "subuid", ward.tmp / "subgid"
    subuid.write_text("")
    subgid.write_text(f"alice:100000:65536\nmallory:{UID_ALPHA + ID_COUNT - 1}:1\n")
    config = ward.tmp / "wardd.json"
    config.write_text(json.dumps({"ids": {"subuid": str(subuid), "subgid": str(subgid)}}))
    for f in (subuid, subgid, config):
        os.chmod(f, 0o644)
    argv = [ward.argv(profile)[0], "--config", str(config)] + ward.argv(profile)[1:]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert (f"ids: uid range {UID_ALPHA}+{ID_COUNT} overlaps {subgid}:2 "
            f"(mallory: {UID_ALPHA + ID_COUNT - 1}+1)") in res.stderr, res.stderr
    subgid.write_text("alice:100000:65536\n")
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 3, (res.returncode, res.stderr)  # the probe's `exit 3`


def test_only_own_pids_visible(ward):
    profile = ward.tenant()
    r = ward.probe(profile, "pid", "pids")
    assert r["pid"]["pid"] == 2
    assert r["pid"]["ppid"] == 1
    # The init (pid 1) may be hidden too (hidepid): nothing else may show.
    assert 2 in r["pids"] and set(r["pids"]) <= {1, 2}, r["pids"]


def test_init_reaps_orphans(ward):
    profile = ward.tenant()
    r = ward.probe(profile, "orphans", "3", "sleep", "1", "procs", "pids")
    assert r["orphans:3"]["ok"]
    zombies = [p for p in r["procs"] if p["state"] == "Z"]
    assert not zombies, r["procs"]
    assert set(r["pids"]) <= {1, 2}, r["pids"]


def test_init_keeps_nothing_the_service_changed(ward):
    """The init starts the service in its own memory (CLONE_VM|CLONE_VFORK):
    what the service sets up before its execve (seccomp, rlimits, cwd, fds)
    must be the service's alone, and the init keeps its own state."""
    profile = ward.tenant()
    proc = ward.start(profile, command=[PROBE, "ready", f"{ward.data_inside}/ready",
                                        "sleep", "30"])
    try:
        assert wait_for((ward.data / "alpha" / "ready").exists), "never got ready"
        init = descendants(proc.pid)[0]
        service = ward.sandbox_pids(proc)[0]
        assert proc_comm(init) == "ward-init"
        si, ss = proc_status(init), proc_status(service)
        assert ss["Seccomp"] == "2" and si["Seccomp"] == "0", (si["Seccomp"], ss["Seccomp"])
        assert si["NoNewPrivs"] == "1" and si["CapEff"] == "0000000000000000"
        assert si["Uid"].split()[0] == str(UID_ALPHA)

        def limit(pid, name):
            for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
                if line.startswith(name):
                    return line[len(name):].split()[0]
            raise KeyError(name)
        assert limit(service, "Max processes") == "128"  # hardened's pids
        assert limit(init, "Max processes") != "128"
        assert os.readlink(f"/proc/{service}/cwd") == ward.data_inside
        assert os.readlink(f"/proc/{init}/cwd") == "/"
        assert sorted(os.listdir(f"/proc/{service}/fd")) == ["0", "1", "2"]
        assert "3" in os.listdir(f"/proc/{init}/fd")  # its line to wardd
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_hostname_is_service_dot_tenant(ward):
    host_name = socket.gethostname()
    profile = ward.tenant(name="sunrise", service="web")
    r = ward.probe(profile, "hostname", service="web")
    assert r["hostname"] == "web.sunrise"
    assert socket.gethostname() == host_name


def test_cgroup_namespace(ward):
    """Inside, every hierarchy's path is the namespace's root "/"."""
    profile = ward.tenant()
    r = ward.probe(profile, "cat", "/proc/self/cgroup")
    lines = r["cat:/proc/self/cgroup"]["text"].splitlines()
    assert lines and all(ln.split(":", 2)[2] == "/" for ln in lines), lines


def test_in_its_cgroup_and_launcher_not(ward):
    """The sandbox sits in the run's cgroup in every hierarchy (on v1 its
    init moves itself in before the service starts), and wardd does not (or
    an OOM or a cgroup kill there would take the launcher too)."""
    profile = ward.tenant()
    proc = ward.start(profile, command=["/bin/sleep", "30"])
    try:
        kids = wait_for(lambda: [p for p in descendants(proc.pid)
                                 if proc_comm(p) == "sleep"], timeout=10)
        assert kids, "the service never started"

        def groups(pid):
            return [ln.split(":", 2) for ln in
                    Path(f"/proc/{pid}/cgroup").read_text().splitlines()]

        def ward_hierarchies(pid):
            """The paths in the hierarchies ward uses: the v1 controllers of
            cgroup.c, or the unified one on a v2 host."""
            g = groups(pid)
            v1 = [path for _, ctrls, path in g
                  if set(ctrls.split(",")) & {"memory", "pids", "cpu", "cpuacct", "freezer"}]
            return v1 or [path for hid, _, path in g if hid == "0"]
        init = descendants(proc.pid)[0]
        for pid in (init, kids[0]):
            paths = ward_hierarchies(pid)
            assert paths and all("/ward.run/" in p for p in paths), (pid, paths)
        assert not any("/ward.run/" in p for p in ward_hierarchies(proc.pid)), \
            ward_hierarchies(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_ipc_namespace(ward):
    """A SysV shared memory segment of the host is not reachable inside."""
    libc = ctypes.CDLL(None, use_errno=True)
    key = 0x57A4D000 + os.getpid() % 4096
    shmid = libc.shmget(key, 4096, 0o1666 | 0o2000)  # IPC_CREAT|IPC_EXCL, mode 0666
    assert shmid >= 0, os.strerror(ctypes.get_errno())
    try:
        profile = ward.tenant()
        r = ward.probe(profile, "shm-find", str(key))
    finally:
        libc.shmctl(shmid, 0, None)  # IPC_RMID
    assert failed_with(r[f"shm-find:{key}"], "ENOENT"), r[f"shm-find:{key}"]


def test_loopback_up_and_no_other_interface(ward):
    profile = ward.tenant()
    r = ward.probe(profile, "interfaces", "loopback")
    assert [(i["name"], i["up"]) for i in r["interfaces"]] == [("lo", True)]
    assert r["loopback"]["ok"], r["loopback"]


def test_new_session_without_controlling_tty(ward):
    """wardd has a terminal as its controlling tty; the service must not:
    setsid keeps it from injecting input into the operator's terminal."""
    profile = ward.tenant()
    master, slave = pty.openpty()

    def take_ctty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        # Control: without ward, the same set-up gives the probe a tty.
        base = subprocess.run([str(PROBE_HOST), "try-read", "/dev/tty"], stdin=slave,
                              capture_output=True, start_new_session=True,
                              preexec_fn=take_ctty, timeout=30)
        assert json.loads(base.stdout)["try-read:/dev/tty"].get("stage") != "open"

        proc = ward.start(profile, command=[PROBE, "pid", "try-read", "/dev/tty"],
                          stdin=slave, start_new_session=True, preexec_fn=take_ctty)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        r = json.loads(out)
        assert r["pid"]["sid"] == r["pid"]["pid"]
        assert failed_with(r["try-read:/dev/tty"], "ENXIO"), r["try-read:/dev/tty"]
    finally:
        os.close(master)
        os.close(slave)


TIOCGEXCL = 0x80045440  # _IOR('T', 0x40, int)
TIOCGETD = 0x5424
TIOCSETD = 0x5423
N_NULL = 27


def tty_modes(fd):
    """(echo on, canonical on, exclusive use on, O_NONBLOCK on its open file,
    line discipline) of the terminal at fd."""
    lflag = termios.tcgetattr(fd)[3]
    excl = ctypes.c_int(0)
    fcntl.ioctl(fd, TIOCGEXCL, excl)
    ldisc = ctypes.c_int(-1)
    fcntl.ioctl(fd, TIOCGETD, ldisc)
    nonblock = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)
    return (bool(lflag & termios.ECHO), bool(lflag & termios.ICANON), bool(excl.value),
            nonblock, ldisc.value)


def test_operators_terminal_modes_put_back(ward):
    """A service may change the modes of the terminal it got as its stdio
    (echo off, raw, exclusive, O_NONBLOCK on the open file the shell shares):
    wardd puts them back once it is gone, or the operator's shell would
    inherit them. Its line discipline (N_NULL: a dead terminal that termios
    cannot revive) the seccomp guard does not let it change at all."""
    profile = ward.tenant()
    for under_ward in (False, True):
        master, slave = pty.openpty()
        try:
            assert tty_modes(slave) == (True, True, False, False, 0)
            if under_ward:
                proc = ward.start(profile, command=[PROBE, "tty-mess"], stdin=slave)
                out, err = proc.communicate(timeout=30)
                assert proc.returncode == 0, err
            else:  # the control: the probe does change them
                out = subprocess.run([str(PROBE_HOST), "tty-mess"], stdin=slave,
                                     capture_output=True, timeout=30).stdout
            r = json.loads(out)["tty-mess"]
            assert r["ok"] is True, out
            if under_ward:
                assert r["setd"] == "EPERM", r
                assert tty_modes(slave) == (True, True, False, False, 0)
            else:
                ldisc = ctypes.c_int(-1)
                fcntl.ioctl(slave, TIOCGETD, ldisc)
                assert ldisc.value == (N_NULL if r["setd"] == "ok" else 0), r
                # Under N_NULL even tcgetattr fails: back to N_TTY to look.
                fcntl.ioctl(slave, TIOCSETD, ctypes.c_int(0))
                assert tty_modes(slave) == (False, False, True, True, 0)
        finally:
            os.close(master)
            os.close(slave)


def test_ptys_capped_per_sandbox(ward):
    """The kernel's pty pool is shared by every devpts instance: a sandbox's
    own instance holds at most 64 (one tenant cannot take them all from the
    others' sessions), plus one per session when sessions join the service."""
    profile = ward.tenant()
    r = ward.probe(profile, "ptys")
    assert r["ptys"] == {"count": 64, "errno": "ENOSPC"}, r["ptys"]

    doc = json.loads(Path(profile).read_text())
    doc["sessions"] = {"groups": ["nogroup"], "service": "app", "max": 5,
                       "exec": ["/bin/sh"], "policy": ["session-locked"]}
    Path(profile).write_text(json.dumps(doc))
    r = ward.probe(profile, "ptys")
    assert r["ptys"] == {"count": 69, "errno": "ENOSPC"}, r["ptys"]


# ---------------------------------------------------------------- privileges


def test_hardened_drops_every_capability(ward):
    profile = ward.tenant()
    st = ward.probe(profile, "status")["status"]
    for key in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert caps_hex(st, key) == 0, (key, st[key])


def test_keep_list_is_exactly_what_remains(ward):
    profile = ward.tenant(policy=["hardened", ward.inline(
        capabilities={"keep": ["CAP_NET_BIND_SERVICE"]})])
    r = ward.probe(profile, "status", "bind-tcp", "80")
    expected = 1 << 10  # CAP_NET_BIND_SERVICE
    for key in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert caps_hex(r["status"], key) == expected, (key, r["status"][key])
    assert r["bind-tcp:80"] == {"ok": True}


def test_low_port_refused_without_the_capability(ward):
    profile = ward.tenant()
    r = ward.probe(profile, "bind-tcp", "80", "bind-tcp", "8080")
    assert failed_with(r["bind-tcp:80"], "EACCES"), r["bind-tcp:80"]
    assert r["bind-tcp:8080"] == {"ok": True}


def test_no_new_privs_and_seccomp_filter(ward):
    profile = ward.tenant()
    st = ward.probe(profile, "status")["status"]
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"


def test_securebits_locked(ward):
    profile = ward.tenant()
    bits = ward.probe(profile, "securebits")["securebits"]
    assert isinstance(bits, int), bits
    noroot, noroot_locked = 1 << 0, 1 << 1
    no_setuid_fixup_locked, keep_caps, keep_caps_locked = 1 << 3, 1 << 4, 1 << 5
    assert bits & noroot and bits & noroot_locked, hex(bits)
    assert bits & no_setuid_fixup_locked, hex(bits)
    assert bits & keep_caps_locked and not bits & keep_caps, hex(bits)


def test_uid_gid_inside_and_no_groups(ward):
    profile = ward.tenant()
    r = ward.probe(profile, "ids", "try-read", "/proc/self/uid_map",
                   "try-read", "/proc/self/gid_map")
    ids = r["ids"]
    u = UID_ALPHA
    assert (ids["ruid"], ids["euid"], ids["suid"]) == (u, u, u)
    assert (ids["rgid"], ids["egid"], ids["sgid"]) == (u, u, u)
    assert ids["groups"] == []
    # The user namespace maps the tenant's range onto itself, nothing more.
    for m in ("uid_map", "gid_map"):
        lines = r[f"try-read:/proc/self/{m}"]["head"].splitlines()
        assert [ln.split() for ln in lines] == [[str(u), str(u), str(ID_COUNT)]], (m, lines)


def test_uid_gid_seen_from_host(ward):
    st = proc_status(running_probe(ward, ward.tenant()))
    u = str(UID_ALPHA)
    assert st["Uid"].split() == [u] * 4
    assert st["Gid"].split() == [u] * 4
    assert st["Groups"] == ""


def test_rlimits_from_policy(ward):
    profile = ward.tenant(policy=["hardened", ward.inline(
        limits={"nofile": 256, "core": 0, "pids": 77})])
    lim = ward.probe(profile, "rlimits")["rlimits"]
    assert lim["nofile"] == [256, 256]
    assert lim["core"] == [0, 0]
    assert lim["nproc"] == [77, 77]


def test_service_gets_every_cpu_of_the_launcher(ward):
    # wardd keeps the sandbox's init off its own CPU while both build the
    # sandbox (cpus_apart in launch.c); the init must put its CPUs back
    # before the service starts, or the service would run pinned. On a
    # one-CPU machine wardd narrows nothing, so there this only checks that
    # the service keeps that CPU; a skip would count as a failure.
    mine = os.sched_getaffinity(0)
    profile = ward.tenant()
    for _ in range(3):
        st = ward.probe(profile, "status")["status"]
        assert cpu_set(st["Cpus_allowed_list"]) == mine, st


def test_service_keeps_a_launcher_pinned_by_the_operator(ward):
    # A wardd started under `taskset` passes that on, narrowed or not.
    mine = sorted(os.sched_getaffinity(0))
    profile = ward.tenant()
    for pinned in [{mine[-1]}] + ([set(mine[:2])] if len(mine) > 2 else []):
        st = ward.probe(profile, "status",
                        preexec_fn=lambda p=pinned: os.sched_setaffinity(0, p))["status"]
        assert cpu_set(st["Cpus_allowed_list"]) == pinned, (pinned, st)


# ---------------------------------------------------------------- seccomp


# @swap's calls check CAP_SYS_ADMIN before anything else, so EPERM there
# would not prove the filter: test_seccomp_default_kill_kills covers it.
@pytest.mark.parametrize("group", sorted(set(SYSCALL_CLASSES) - {"@swap"}))
def test_seccomp_hardened_returns_eperm(ward, group):
    profile = ward.tenant()
    r = ward.probe(profile, *syscall_args(["getpid"] + SYSCALL_CLASSES[group]))
    assert r["syscall:getpid"]["ret"] > 0, r["syscall:getpid"]
    for name in SYSCALL_CLASSES[group]:
        assert r[f"syscall:{name}"] == {"ret": -1, "errno": "EPERM"}, (name, r[f"syscall:{name}"])


@pytest.mark.parametrize("group", sorted(SYSCALL_CLASSES))
def test_seccomp_default_kill_kills(ward, group):
    profile = ward.tenant(policy=["hardened", ward.inline(seccomp={"default": "kill"})])
    r = ward.probe(profile, *syscall_args(["getpid"] + SYSCALL_CLASSES[group]))
    assert r["syscall:getpid"]["ret"] > 0, r["syscall:getpid"]
    for name in SYSCALL_CLASSES[group]:
        assert r[f"syscall:{name}"].get("signal") == SIGSYS, (name, r[f"syscall:{name}"])


def test_seccomp_deny_overrides_allow(ward):
    """setuid/fchown are in @system-service (allowed) and in @privileged
    (denied): deny wins, as with systemd's SystemCallFilter=~@privileged."""
    profile = ward.tenant(policy=["hardened", ward.inline(seccomp={
        "default": "errno", "allow": ["@system-service"], "deny": ["@privileged"]})])
    r = ward.probe(profile, *syscall_args(["setuid-self", "fchown-self", "getpid"]))
    assert r["syscall:setuid-self"] == {"ret": -1, "errno": "EPERM"}
    assert r["syscall:fchown-self"] == {"ret": -1, "errno": "EPERM"}
    assert r["syscall:getpid"]["ret"] > 0


TIOCSTI, TIOCGWINSZ, I386_IOCTL, I386_GETPID = 0x5412, 0x5413, 54, 20


def test_int80_32bit_syscall_killed(ward):
    """An i386 call from the service dies of SIGSYS. Checked at run time
    where the kernel has the int 0x80 gate, and always against the filter
    the running service holds, taken from the kernel and evaluated for an
    i386 call (test_seccomp's evaluator, held to the kernel's verdicts)."""
    profile = ward.tenant()
    if i386_gate():
        r = ward.probe(profile, "int80")
        assert r["int80"].get("signal") == SIGSYS, r["int80"]
        PROOF_NOTES.append("i386: killed at run time through int 0x80, "
                           "and by evaluating the service's filter")
    else:
        PROOF_NOTES.append("i386 checked by evaluating the service's filter: "
                           "this kernel has no int 0x80 gate")
    pid = running_probe(ward, profile)
    v = seccomp_verdict(pid, f"i386,{I386_GETPID}", f"i386,{I386_IOCTL},0,{TIOCGWINSZ}",
                        "x86_64,39")
    assert v["filters"] >= 1, v
    assert v[f"i386,{I386_GETPID}"]["action"] == "kill_process", v
    assert v[f"i386,{I386_IOCTL},0,{TIOCGWINSZ}"]["action"] == "kill_process", v
    # The native getpid is allowed: the verdict tells calls apart.
    assert v["x86_64,39"]["action"] == "allow", v


def test_i386_allowed_keeps_the_tty_guard(ward):
    """With "x86" in abis, i386 calls follow the policy's rules, and the
    TIOCSTI guard holds for i386's ioctl, high bits or not: in the filter
    the running service holds (and, with the gate, at run time)."""
    profile = ward.tenant(policy=["hardened", ward.inline(seccomp={"abis": ["x86"]})])
    pid = running_probe(ward, profile)
    sti, sti_high = f"i386,{I386_IOCTL},0,{TIOCSTI}", f"i386,{I386_IOCTL},0,{TIOCSTI | 1 << 32}"
    v = seccomp_verdict(pid, sti, sti_high, f"i386,{I386_GETPID}",
                        f"i386,{I386_IOCTL},0,{TIOCGWINSZ}", f"x86_64,16,0,{TIOCSTI}")
    assert v[sti] == {"action": "errno", "ret": v[sti]["ret"], "errno": 1}, v
    assert v[sti_high]["action"] == "errno" and v[sti_high]["errno"] == 1, v
    assert v["x86_64,16,0,21522"]["errno"] == 1, v
    assert v[f"i386,{I386_GETPID}"]["action"] == "allow", v
    assert v[f"i386,{I386_IOCTL},0,{TIOCGWINSZ}"]["action"] == "allow", v
    if i386_gate():
        r = ward.probe(profile, "int80")
        assert r["int80"].get("ret", -1) > 0, r["int80"]


# ---------------------------------------------------------------- filesystem


def test_root_holds_only_what_the_policy_names(ward):
    fs = ward.filesystem()
    named = {"proc", "dev"}
    for entry in fs.get("ro", []) + fs.get("rw", []):
        dst = entry if isinstance(entry, str) else entry["dst"]
        named.add(dst.strip("/").split("/")[0])
    for path in list(fs.get("tmpfs", {})) + [fs["data"]]:
        named.add(path.strip("/").split("/")[0])
    profile = ward.tenant()
    r = ward.probe(profile, "ls", "/")
    names = {e["name"] for e in r["ls:/"]["entries"]}
    assert names <= named, f"not named by the policy: {sorted(names - named)}"


def test_ro_binds_are_read_only(ward):
    robind = ward.tmp / "robind"
    rwbind = ward.tmp / "rwbind"
    for d in (robind, rwbind):
        d.mkdir()
        os.chown(d, UID_ALPHA, UID_ALPHA)
    fs = ward.filesystem()
    profile = ward.tenant(policy=["hardened", ward.inline(filesystem={
        "ro": fs["ro"] + [{"src": str(robind), "dst": "/srv/ro"}],
        "rw": [{"src": str(rwbind), "dst": "/srv/rw"}]})])
    r = ward.probe(profile, "try-write", "/usr/ward-probe", "try-write", f"{PROBE_DIR}/x",
                   "try-write", "/srv/ro/x", "try-write", "/srv/rw/x")
    for path in ("/usr/ward-probe", f"{PROBE_DIR}/x", "/srv/ro/x"):
        assert failed_with(r[f"try-write:{path}"], "EROFS"), (path, r[f"try-write:{path}"])
    assert r["try-write:/srv/rw/x"] == {"ok": True}
    assert (rwbind / "x").read_text() == "probe\n"
    assert not (robind / "x").exists()


def test_data_dir_and_tmp_writable(ward):
    profile = ward.tenant()
    name = f"ward-probe-{uuid.uuid4().hex}"
    r = ward.probe(profile, "try-write", f"{ward.data_inside}/{name}",
                   "try-write", f"/tmp/{name}", "mounts")
    assert r[f"try-write:{ward.data_inside}/{name}"] == {"ok": True}
    assert r[f"try-write:/tmp/{name}"] == {"ok": True}
    host_file = ward.data / "alpha" / name
    assert host_file.read_text() == "probe\n"
    assert host_file.stat().st_uid == UID_ALPHA
    assert not Path("/tmp", name).exists(), "/tmp inside is the host's /tmp"
    tmp = mountpoints(r)["/tmp"]
    assert tmp["fstype"] == "tmpfs"
    assert "size=65536k" in tmp["superopts"].split(","), tmp  # hardened's 64M
    data = mountpoints(r)[ward.data_inside]
    assert "rw" in data["options"].split(","), data


def test_symlinked_bind_source_not_followed(ward):
    """A bind source that is a symlink (one a tenant could have planted) is
    not followed: the start fails, or the link itself is what appears."""
    target = ward.tmp / "target"
    target.mkdir()
    (target / "target-file").write_text("not for the tenant\n")
    link = ward.tmp / "link"
    link.symlink_to(target)
    profile = ward.tenant(policy=["hardened", ward.inline(filesystem={
        "rw": [{"src": str(link), "dst": "/srv/link"}]})])
    res = ward.run(profile, command=[PROBE, "ls", "/srv/link", "try-write", "/srv/link/new"])
    if res.returncode == 125:
        assert str(link) in res.stderr, res.stderr
        return
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    listing = r["ls:/srv/link"]
    assert not listing["ok"] or "target-file" not in {e["name"] for e in listing["entries"]}
    assert not (target / "new").exists()


def test_host_paths_invisible(ward):
    other = ward.make_data_dir("beta", UID_BETA)
    (other / "secret").write_text("beta's data\n")
    paths = ["/etc/shadow", "/etc/passwd", "/root", "/home", "/work", "/var", "/run",
             "/sys", str(ward.tmp), str(other), str(other / "secret")]
    profile = ward.tenant()
    args = []
    for p in paths:
        args += ["exists", p]
    r = ward.probe(profile, *args)
    for p in paths:
        assert failed_with(r[f"exists:{p}"], "ENOENT"), (p, r[f"exists:{p}"])


def proc_all(ward):
    """A profile whose /proc is all of it (hardened has "pid")."""
    return ward.tenant(policy=["hardened", ward.inline(filesystem={"proc_subset": "all"})])


@pytest.mark.parametrize("path", PROC_MASKED)
def test_proc_sensitive_paths_masked(ward, path):
    r = ward.probe(proc_all(ward), "mounts", "exists", path, "try-read", path)
    absent = failed_with(r[f"exists:{path}"], "ENOENT")
    assert absent or path in mountpoints(r), f"{path} is neither absent nor masked"
    read = r[f"try-read:{path}"]
    assert not read["ok"] or read["bytes"] == 0, read


PROC_HOST_FILES = ["/proc/meminfo", "/proc/cmdline", "/proc/sys", "/proc/net", "/proc/kcore",
                   "/proc/sysrq-trigger", "/proc/kallsyms", "/proc/keys", "/proc/modules"]


def test_proc_subset_pid_holds_the_processes_only(ward):
    """hardened's "proc_subset": "pid": nothing of the host's kernel in /proc,
    not even masked; the processes' own directories work as before."""
    args = ["mounts", "ls", "/proc", "try-read", "/proc/self/status", "try-read",
            "/proc/self/cmdline", "interfaces"]
    for p in PROC_HOST_FILES:
        args += ["exists", p]
    r = ward.probe(ward.tenant(), *args)
    proc = mountpoints(r)["/proc"]
    assert proc["fstype"] == "proc" and "subset=pid" in proc["superopts"].split(","), proc
    names = {e["name"] for e in r["ls:/proc"]["entries"]}
    assert names - {"self", "thread-self"} and all(
        n.isdigit() for n in names - {"self", "thread-self"}), sorted(names)
    for p in PROC_HOST_FILES:
        assert failed_with(r[f"exists:{p}"], "ENOENT"), (p, r[f"exists:{p}"])
    # No masks needed, so none mounted under /proc.
    assert not [m for m in mountpoints(r) if m.startswith("/proc/")], sorted(mountpoints(r))
    assert r["try-read:/proc/self/status"]["ok"] and r["try-read:/proc/self/cmdline"]["ok"]
    assert [i["name"] for i in r["interfaces"]] == ["lo"]  # /proc/self/net still there

    # The control: "all" has the host's files (the kernel's sensitive ones masked).
    r = ward.probe(proc_all(ward), "mounts", "exists", "/proc/meminfo", "exists", "/proc/sys")
    assert r["exists:/proc/meminfo"]["ok"] and r["exists:/proc/sys"]["ok"], r
    assert "subset=pid" not in mountpoints(r)["/proc"]["superopts"].split(",")


def test_proc_sys_read_only(ward):
    r = ward.probe(proc_all(ward), "mounts", "try-write", "/proc/sys/kernel/hostname",
                   "try-read", "/proc/sys/kernel/ostype")
    mounts = mountpoints(r)
    assert "/proc/sys" in mounts, "no read-only mount on /proc/sys"
    assert "ro" in mounts["/proc/sys"]["options"].split(","), mounts["/proc/sys"]
    assert not r["try-write:/proc/sys/kernel/hostname"]["ok"]
    assert r["try-read:/proc/sys/kernel/ostype"]["ok"]  # readable, just not writable
    assert mounts["/proc"]["fstype"] == "proc"


def test_dev_minimal(ward):
    profile = ward.tenant()
    r = ward.probe(profile, "ls", "/dev", "ls", "/dev/pts", "try-read", "/dev/zero",
                   "try-write", "/dev/null", "try-read", "/dev/urandom")
    entries = {e["name"]: e for e in r["ls:/dev"]["entries"]}
    missing = set(DEV_REQUIRED) - set(entries)
    extra = set(entries) - set(DEV_REQUIRED) - DEV_ALLOWED_EXTRA
    assert not missing, f"missing from /dev: {sorted(missing)}"
    assert not extra, f"unexpected in /dev: {sorted(extra)}"
    for name, numbers in DEV_REQUIRED.items():
        if numbers:
            e = entries[name]
            assert (e["type"], e["major"], e["minor"]) == ("chr", *numbers), e
    assert entries["pts"]["type"] == "dir" and entries["shm"]["type"] == "dir"
    assert {e["name"] for e in r["ls:/dev/pts"]["entries"]} <= {"ptmx"}, \
        "the host's ptys are visible"
    assert r["try-read:/dev/zero"]["bytes"] > 0
    assert r["try-write:/dev/null"] == {"ok": True}
    assert r["try-read:/dev/urandom"]["bytes"] > 0


def test_hide_masks_paths(ward):
    src = ward.tmp / "hideme"
    (src / "subdir").mkdir(parents=True)
    (src / "secret.txt").write_text("top secret\n")
    (src / "subdir" / "inner").write_text("inner\n")
    fs = ward.filesystem()
    ro = fs["ro"] + [{"src": str(src), "dst": "/opt/hideme"}]
    args = ["try-read", "/opt/hideme/secret.txt", "ls", "/opt/hideme/subdir"]

    shown = ward.tenant(policy=["hardened", ward.inline(filesystem={"ro": ro})])
    r = ward.probe(shown, *args)
    assert r["try-read:/opt/hideme/secret.txt"]["head"] == "top secret\n"
    assert [e["name"] for e in r["ls:/opt/hideme/subdir"]["entries"]] == ["inner"]

    hide = list(fs.get("hide", [])) + ["/opt/hideme/secret.txt", "/opt/hideme/subdir"]
    hidden = ward.tenant(policy=["hardened", ward.inline(filesystem={"ro": ro, "hide": hide})])
    r = ward.probe(hidden, *args)
    read = r["try-read:/opt/hideme/secret.txt"]
    assert not read["ok"] or read["bytes"] == 0, read
    listing = r["ls:/opt/hideme/subdir"]
    assert not listing["ok"] or listing["entries"] == [], listing


# ---------------------------------------------------------------- process state


def test_no_inherited_fds(ward):
    profile = ward.tenant()
    leak = os.open("/etc/hostname", os.O_RDONLY)  # no O_CLOEXEC: wardd inherits it
    rd, wr = os.pipe()
    try:
        os.set_inheritable(leak, True)
        r = ward.probe(profile, "fds", pass_fds=(leak, rd, wr))
    finally:
        for fd in (leak, rd, wr):
            os.close(fd)
    assert sorted(f["fd"] for f in r["fds"]) == [0, 1, 2], r["fds"]


def test_environment_exactly_as_declared(ward):
    declared = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "WARD_TEST": "declared value"}
    profile = ward.tenant(policy=["hardened", ward.inline(env=declared)])
    expected = dict(ward.hardened.get("env", {}))
    expected.update(declared)
    env = dict(os.environ, WARD_LEAK_CANARY="must-not-leak", HOME="/root",
               LD_PRELOAD="/nonexistent-ward.so", WARD_TEST="from the host")
    r = ward.probe(profile, "env", env=env)
    assert sorted(r["env"]) == sorted(f"{k}={v}" for k, v in expected.items())


def test_stdio_attached(ward):
    profile = ward.tenant()
    r = ward.probe(profile, "read-stdin", input=b"hello from the host\n")
    assert r["read-stdin"] == {"ok": True, "bytes": 20, "head": "hello from the host\n"}


@pytest.mark.parametrize("args,code", [
    (["exit", "0"], 0),
    (["exit", "7"], 7),
    (["kill-self", "KILL"], 128 + 9),
    (["kill-self", "TERM"], 128 + 15),
    (["kill-self", "USR1"], 128 + 10),
])
def test_exit_status_passed_through(ward, args, code):
    profile = ward.tenant()
    res = ward.run(profile, command=[PROBE] + args)
    assert res.returncode == code, res.stderr


@pytest.mark.parametrize("sig", ["TERM", "INT", "HUP"])
def test_signal_forwarded_to_service(ward, sig):
    profile = ward.tenant()
    d = ward.data_inside
    proc = ward.start(profile, command=[PROBE, "trap", sig, "ready", f"{d}/ready",
                                        "sleep", "30", "record", f"{d}/caught"])
    assert wait_for((ward.data / "alpha" / "ready").exists), "the probe never got ready"
    proc.send_signal(getattr(signal, "SIG" + sig))
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"SIG{sig} to wardd did not reach the service")
    assert proc.returncode == 0, err
    assert (ward.data / "alpha" / "caught").read_text() == sig + "\n"
    assert json.loads(out)["sleep:30"] == {"interrupted": True}


def test_sandbox_dies_with_wardd(ward):
    """SIGKILL to wardd (nothing can be forwarded) still ends the sandbox."""
    profile = ward.tenant()
    proc = ward.start(profile, command=[PROBE, "ready", f"{ward.data_inside}/ready",
                                        "sleep", "30"])
    assert wait_for((ward.data / "alpha" / "ready").exists), "the probe never got ready"
    inside = ward.sandbox_pids(proc)
    assert len(inside) == 1, inside
    started = Path(f"/proc/{inside[0]}/stat").read_text().split()[21]
    proc.kill()
    proc.wait(timeout=10)

    def gone():
        try:
            stat = Path(f"/proc/{inside[0]}/stat").read_text()
        except OSError:
            return True
        # the pid was reused, or the probe is a zombie about to be reaped
        return stat.split()[21] != started or stat[stat.rindex(")") + 2] == "Z"

    ok = wait_for(gone, timeout=10)
    if not ok:  # do not leave it behind: it is ours
        os.kill(inside[0], signal.SIGKILL)
    assert ok, "the service outlived wardd"


def run_cgroup_of(pid):
    """The ward.run/... path of pid in the pids hierarchy (v1) or the
    unified one (v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hid, ctrls, path = line.split(":", 2)
        if "pids" in ctrls.split(",") or (hid == "0" and not ctrls):
            if "/ward.run/" in path:
                return path[path.index("/ward.run/") + 1:]
    return None


def test_run_cgroups_claimed_and_kept(ward):
    """A run's cgroup is ward.run/TENANT/SERVICE.run, kept for the next run
    (on v1 a cgroup mkdir and rmdir cost ~0.1 ms per hierarchy); a second
    run at the same time gets SERVICE.run-2; a run killed with its
    sandbox leaves its cgroup to the next run, which takes it over."""
    profile = ward.tenant()
    parents = run_cgroup_parents()
    assert ward.run(profile, command=[PROBE, "exit", "0"]).returncode == 0
    for parent in parents:
        assert (parent / "alpha" / "app.run").is_dir(), parent

    procs, sandboxes = [], []
    for i in range(2):
        procs.append(ward.start(profile, command=[
            PROBE, "ready", f"{ward.data_inside}/ready{i}", "sleep", "30"]))
        assert wait_for((ward.data / "alpha" / f"ready{i}").exists), "never got ready"
        sandboxes.append(ward.sandbox_pids(procs[i])[0])
    assert sorted(run_cgroup_of(p) for p in sandboxes) == [
        "ward.run/alpha/app.run", "ward.run/alpha/app.run-2"]

    procs[0].kill()  # the run holding app.run, killed with its sandbox
    procs[0].wait(timeout=10)
    res = ward.run(profile, command=[PROBE, "exit", "0"])
    assert res.returncode == 0, res.stderr

    def gone(pid):
        try:
            return proc_status(pid).get("State", "").startswith("Z")
        except OSError:
            return True
    assert wait_for(lambda: gone(sandboxes[0])), "the killed run's sandbox survived"
    for parent in parents:
        names = sorted(p.name for p in (parent / "alpha").iterdir() if p.is_dir())
        assert names == ["app.run", "app.run-2"], (parent, names)
    procs[1].terminate()
    procs[1].wait(timeout=10)


def test_no_cgroup_no_run(ward):
    """Fail closed: a run that cannot have its cgroup (here every one of the
    64 names it may take is held by another launcher) ends with an error,
    and its sandbox, cloned before the claim on v1 and building its view
    meanwhile, is killed before anything of the tenant's ran."""
    profile = ward.tenant()
    held, made = [], []
    try:
        for n in range(1, 65):
            name = "app.run" if n == 1 else f"app.run-{n}"
            for parent in run_cgroup_parents():
                d = parent / "alpha" / name
                if not d.is_dir():
                    d.mkdir(parents=True)
                    made.append(d)
                held.append(os.open(d, os.O_RDONLY | os.O_DIRECTORY))
                fcntl.flock(held[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = ward.run(profile, command=[PROBE, "ready", f"{ward.data_inside}/ran"])
        assert res.returncode != 0, res
        assert "wardd: cgroup:" in res.stderr and "64 launches" in res.stderr, res.stderr
        assert not (ward.data / "alpha" / "ran").exists(), "the service ran without its cgroup"
    finally:
        for fd in held:
            os.close(fd)
        for d in reversed(made):
            if d.name != "app.run":
                d.rmdir()


def test_command_replaces_exec(ward):
    profile = ward.tenant(exec_=[PROBE, "exit", "3"])
    assert ward.run(profile).returncode == 3
    r = ward.probe(profile, "argv", "exit", "5", rc=5)
    assert r["argv"] == [PROBE, "argv", "exit", "5"]


# ---------------------------------------------------------------- two tenants


def test_two_tenants_isolated_from_each_other(ward):
    d = ward.data_inside
    alpha = ward.tenant(name="alpha", uid=UID_ALPHA)
    beta = ward.tenant(name="beta", uid=UID_BETA)
    a = ward.start(alpha, command=[PROBE, "shm-create", "4242", "unix-listen", "ward-it-alpha",
                                   "try-write", f"{d}/alpha-secret", "ready", f"{d}/ready",
                                   "sleep", "30"])
    assert wait_for((ward.data / "alpha" / "ready").exists), "alpha never got ready"
    assert (ward.data / "alpha" / "alpha-secret").exists()
    a_pids = ward.sandbox_pids(a)
    assert len(a_pids) == 1, a_pids

    b = ward.start(beta, command=[
        PROBE, "pids", "ls", d, "exists", str(ward.data / "alpha"),
        "exists", f"/proc/{a_pids[0]}/status", "shm-find", "4242",
        "unix-connect", "ward-it-alpha", "ready", f"{d}/ready", "sleep", "2"])
    assert wait_for((ward.data / "beta" / "ready").exists), "beta never got ready"
    b_pids = wait_for(lambda: ward.sandbox_pids(b))
    assert len(b_pids) == 1, b_pids

    # Different host uids, each the tenant's own.
    assert proc_status(a_pids[0])["Uid"].split() == [str(UID_ALPHA)] * 4
    assert proc_status(b_pids[0])["Uid"].split() == [str(UID_BETA)] * 4
    assert UID_ALPHA + ID_COUNT <= UID_BETA

    out, err = b.communicate(timeout=30)
    assert b.returncode == 0, err
    r = json.loads(out)
    assert set(r["pids"]) <= {1, 2}, r["pids"]
    assert "alpha-secret" not in {e["name"] for e in r[f"ls:{d}"]["entries"]}
    assert failed_with(r[f"exists:{ward.data / 'alpha'}"], "ENOENT")
    assert not r[f"exists:/proc/{a_pids[0]}/status"]["ok"] or a_pids[0] in (1, 2)
    assert failed_with(r["shm-find:4242"], "ENOENT"), r["shm-find:4242"]
    conn = r["unix-connect:ward-it-alpha"]
    assert not conn["ok"] and conn["errno"] in ("ECONNREFUSED", "ENOENT"), conn
    assert a.poll() is None, "alpha ended early"


# ---------------------------------------------------------------- bad input


def test_missing_command_binary(ward):
    profile = ward.tenant()
    missing = f"{PROBE_DIR}/no-such-binary"
    res = ward.run(profile, command=[missing])
    assert res.returncode == 127, res.stderr
    assert missing in res.stderr


def test_missing_exec_in_profile(ward):
    missing = "/usr/bin/no-such-ward-binary"
    profile = ward.tenant(exec_=[missing])
    res = ward.run(profile)
    assert res.returncode == 127, res.stderr
    assert missing in res.stderr


def test_exec_not_executable(ward):
    profile = ward.tenant()
    res = ward.run(profile, command=[PROBE_DIR])  # a directory
    assert res.returncode == 126, res.stderr
    assert PROBE_DIR in res.stderr


def test_profile_with_errors(ward):
    path = ward.profiles / "broken.json"
    path.write_text(
        '{\n'                                                          # 1
        '  "tenant": "Bad_Name",\n'                                    # 2
        f'  "ids": {{"uid": {UID_ALPHA}, "count": {ID_COUNT}}},\n'     # 3
        '  "services": {\n'                                            # 4
        '    "app": {\n'                                               # 5
        f'      "exec": ["{PROBE}", "ready", "/data/ran"],\n'          # 6
        '      "policy": ["hardened", "no-such-fragment-xyz"],\n'      # 7
        '      "bogus_key": 1\n'                                       # 8
        '    }\n'                                                      # 9
        '  }\n'                                                        # 10
        '}\n')                                                         # 11
    ward.make_data_dir("alpha", UID_ALPHA)
    res = ward.run(path)
    assert res.returncode == 125, res.stderr
    lines = res.stderr.splitlines()
    for line_no, json_path in [(2, "tenant"), (7, "services.app.policy[1]"),
                               (8, "services.app.bogus_key")]:
        pat = re.compile(rf"^(?:.*/)?broken\.json:{line_no}:\d+: {re.escape(json_path)}: \S")
        assert any(pat.match(ln) for ln in lines), \
            f"no `broken.json:{line_no}:COL: {json_path}: ...` line in:\n{res.stderr}"
    assert not list((ward.data / "alpha").iterdir()), "the service ran"


def test_profile_file_missing(ward):
    path = ward.profiles / "nobody.json"
    res = ward.run(path)
    assert res.returncode == 125, res.stderr
    assert str(path) in res.stderr


def test_data_dir_missing(ward):
    profile = ward.tenant(make_data=False)
    res = ward.run(profile, command=[PROBE, "exit", "0"])
    assert res.returncode == 125, res.stderr
    assert str(ward.data / "alpha") in res.stderr


def test_data_dir_wrong_owner(ward):
    profile = ward.tenant()
    os.chown(ward.data / "alpha", UID_BETA, UID_BETA)
    res = ward.run(profile, command=[PROBE, "exit", "0"])
    assert res.returncode == 125, res.stderr
    assert str(ward.data / "alpha") in res.stderr


def test_data_dir_symlink_refused(ward):
    profile = ward.tenant(make_data=False)
    elsewhere = ward.tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    os.chown(elsewhere, UID_ALPHA, UID_ALPHA)
    (ward.data / "alpha").symlink_to(elsewhere)
    res = ward.run(profile, command=[PROBE, "ready", f"{ward.data_inside}/ran"])
    assert res.returncode == 125, res.stderr
    assert str(ward.data / "alpha") in res.stderr
    assert not (elsewhere / "ran").exists()


def test_unknown_service(ward):
    profile = ward.tenant()
    res = ward.run(profile, "no-such-service", command=[PROBE, "exit", "0"])
    assert res.returncode != 0
    assert "no-such-service" in res.stderr


def test_early_failure_leaves_the_callers_file_flags(ward, tmp_path):
    """A run that fails before it starts anything (here: no such service)
    must not touch the status flags of the files it was given: they belong
    to open files the operator's shell shares. It once reset them to 0,
    clearing O_APPEND (and O_NONBLOCK) on the shell's own stdout."""
    profile = ward.tenant()
    out_path = tmp_path / "out"
    with open(out_path, "ab") as out:
        before = fcntl.fcntl(out.fileno(), fcntl.F_GETFL)
        assert before & os.O_APPEND
        res = subprocess.run(ward.argv(profile, "no-such-service", [PROBE, "exit", "0"]),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                             timeout=30)
        assert res.returncode != 0
        assert fcntl.fcntl(out.fileno(), fcntl.F_GETFL) == before


def test_usage_errors(ward):
    profile = ward.tenant()
    argv = ward.argv(profile)[:-1]  # PROFILE without SERVICE
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, res.stderr
    assert "usage" in res.stderr.lower()
    res = subprocess.run(ward.argv(profile) + ["extra"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2, res.stderr


@pytest.mark.parametrize("first", [False, True], ids=["last", "first"])
def test_failed_sandbox_step_never_runs_service(ward, first):
    """A bind source that does not exist: the start fails with the step and
    the path, and the service never runs half-sandboxed. First in the list,
    the sandbox fails at once, before `wardd run` (on cgroup v1) hands it
    its cgroup's files: wardd must still say why, not that the handover
    found no one."""
    fs = ward.filesystem()
    missing = str(ward.tmp / "no-such-source")
    bad = [{"src": missing, "dst": "/srv/missing"}]
    profile = ward.tenant(policy=["hardened", ward.inline(filesystem={
        "ro": bad + fs["ro"] if first else fs["ro"] + bad})])
    res = ward.run(profile, command=[PROBE, "ready", f"{ward.data_inside}/ran"])
    assert res.returncode == 125, res.stderr
    assert missing in res.stderr
    assert not (ward.data / "alpha" / "ran").exists(), "the service ran"


@pytest.mark.parametrize("restrict, rc", [(None, 1), (True, 1), (False, 0)])
def test_nested_namespaces_refused(ward, restrict, rc):
    """restrict_namespaces (default true, as in hardened): the service can
    make no user (or other) namespace of its own, a kernel attack surface
    @system-service alone leaves open; false lets it."""
    seccomp = {} if restrict is None else {"restrict_namespaces": restrict}
    profile = ward.tenant(policy=["hardened", ward.inline(seccomp=seccomp)])
    res = ward.run(profile, command=["/usr/bin/unshare", "-U", "-n", "/bin/true"])
    assert res.returncode == rc, res.stderr
    if rc:
        assert "Operation not permitted" in res.stderr


def test_deep_mount_target(ward):
    """Regression (clang-tidy misc-no-recursion): mount points were made by
    recursion with a 4 KiB frame per path component, so a 2047-component
    target (which the loader accepts) overflowed the init's stack and the
    sandbox died without a word."""
    deep = "/a" * 2047
    profile = ward.tenant(policy=["hardened", ward.inline(
        filesystem={"tmpfs": {"/tmp": "64M", deep: "1M"}})])
    r = ward.probe(profile, "exists", deep)
    assert r[f"exists:{deep}"]["ok"] is True, r[f"exists:{deep}"]


HARDENED_EXTRA_DENIED = ["io_uring_setup", "userfaultfd", "keyctl", "name_to_handle_at"]


def test_hardened_denies_io_uring_userfaultfd_keyring_handles(ward):
    """hardened refuses io_uring, userfaultfd, the keyring syscalls and
    name_to_handle_at (a file handle names an inode for open_by_handle_at,
    the "shocker" escape, should a capability ever leak), which
    @system-service alone allows; the control run with the shipped deny
    list minus those proves the filter is what refuses them."""
    profile = ward.tenant()
    r = ward.probe(profile, *syscall_args(HARDENED_EXTRA_DENIED))
    for name in HARDENED_EXTRA_DENIED:
        assert r[f"syscall:{name}"].get("errno") == "EPERM", (name, r[f"syscall:{name}"])
    deny = [d for d in ward.hardened["seccomp"]["deny"] if d not in HARDENED_EXTRA_DENIED + ["@keyring"]]
    control = ward.tenant(name="beta", uid=UID_BETA, policy=["hardened", ward.inline(seccomp={"deny": deny})])
    r = ward.probe(control, *syscall_args(HARDENED_EXTRA_DENIED))
    for name in HARDENED_EXTRA_DENIED:
        assert r[f"syscall:{name}"].get("errno") != "EPERM", (name, r[f"syscall:{name}"])


def test_address_families_restricted(ward):
    """By default a service gets unix, inet, inet6 and netlink sockets and
    nothing else (systemd's RestrictAddressFamilies=): AF_VSOCK, for one,
    ignores network namespaces and reaches the hypervisor and every other
    process of the machine. The control run with "any" proves it is the
    filter that refuses (the kernel itself would say something else, or
    let the socket be made)."""
    names = ["socket-unix", "socket-inet6", "socket-vsock", "socket-packet", "socket-alg",
             "socketpair-vsock"]
    profile = ward.tenant()
    r = ward.probe(profile, *syscall_args(names))
    assert r["syscall:socket-unix"] == {"ret": 0, "errno": None}, r
    assert r["syscall:socket-inet6"] == {"ret": 0, "errno": None}, r
    for name in ("socket-vsock", "socket-packet", "socket-alg", "socketpair-vsock"):
        assert r[f"syscall:{name}"] == {"ret": -1, "errno": "EAFNOSUPPORT"}, (name, r)
    control = ward.tenant(name="beta", uid=UID_BETA, policy=[
        "hardened", ward.inline(seccomp={"address_families": ["any"]})])
    r = ward.probe(control, *syscall_args(["socket-packet"]))
    # The kernel's own answer: it needs CAP_NET_RAW.
    assert r["syscall:socket-packet"] == {"ret": -1, "errno": "EPERM"}, r
    only_unix = ward.tenant(name="gamma", uid=UID_BETA + 65536, policy=[
        "hardened", ward.inline(seccomp={"address_families": ["unix"]})])
    r = ward.probe(only_unix, *syscall_args(["socket-unix", "socket-inet6"]))
    assert r["syscall:socket-unix"] == {"ret": 0, "errno": None}, r
    assert r["syscall:socket-inet6"] == {"ret": -1, "errno": "EAFNOSUPPORT"}, r


def test_personality_locked_and_line_discipline_refused(ward):
    """systemd's LockPersonality=yes, always: READ_IMPLIES_EXEC (every
    readable mapping executable) and ADDR_NO_RANDOMIZE (no ASLR) are
    refused, the query is not; and TIOCSETD never reaches a terminal."""
    names = ["personality-query", "personality-rie", "personality-norandom", "tiocsetd"]
    r = ward.probe(ward.tenant(), *syscall_args(names))
    assert r["syscall:personality-query"]["ret"] >= 0, r
    assert r["syscall:personality-rie"] == {"ret": -1, "errno": "EPERM"}, r
    assert r["syscall:personality-norandom"] == {"ret": -1, "errno": "EPERM"}, r
    assert r["syscall:tiocsetd"] == {"ret": -1, "errno": "EPERM"}, r
