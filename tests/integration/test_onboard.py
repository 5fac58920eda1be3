"""End-to-end tests of onboarding and offboarding (issue 6, operator half):
`wardctl onboard NAME --template T` takes a uid range and a subnet from
wardd's pools, makes the data directory and the profile and starts the
practice; `wardctl offboard NAME --archive FILE | --purge` stops it and
removes everything of it. A refusal, or a failure on the way, leaves
nothing behind (or puts everything back).

Every world is a DaemonWorld (daemon_fixture.py) with, in its wardd.json,
a uid pool of its own (the test's uid block), a network pool (uplink null:
this test makes no link of its own) and a templates directory holding a
copy of the shipped profiles/templates/ehr.json.

To act as a service, a test runs a TCP connect (the host's python) in the
service's network namespace only (`nsenter -t PID -n`), as test_network.py
does with netecho: the template's services speak HTTP, not netecho's echo.

Run like the rest of the suite (see conftest.py), e.g.
    WARD_BUILD=build unshare --net --mount --propagation private \\
        sh -c 'ip link set lo up; /usr/bin/python3 -m pytest -q tests/integration/test_onboard.py'
"""

import ipaddress
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

import images
from conftest import ID_COUNT, ROOT, wait_for
from daemon_fixture import (GID_SRC, GID_STAFF, GID_USERS, MAX_TENANTS, STRANGER,  # noqa: F401
                            Client, cgroup_dirs_named, daemon_built, dw, ip_links,
                            pids_with_uid_in)

TEMPLATE = ROOT / "profiles" / "templates" / "ehr.json"
POOL = "10.240.0.0/16"
SERVICES = ("web", "app", "db")
PORTS = {"web": 8443, "app": 8080, "db": 5432}
OK_MS = 3000
BLOCKED_MS = 500
READY_TIMEOUT = 20.0

ADMIN = dict(user=STRANGER, groups=[GID_STAFF, GID_SRC])
OPERATOR = dict(user=STRANGER, groups=[GID_STAFF, GID_USERS])
NEEDS_ARCHIVE = ("refusing to offboard without --archive FILE or --purge: "
                 "the data would be lost")


# ---------------------------------------------------------------- the world

def setup_world(dw, ranges=MAX_TENANTS, network=True):
    """wardd.json with this test's uid pool, a network pool and a templates
    directory (a copy of the shipped ehr template); starts wardd."""
    templates = dw.tmp / "templates"
    templates.mkdir(mode=0o755, exist_ok=True)
    shutil.copy(TEMPLATE, templates / "ehr.json")
    os.chmod(templates / "ehr.json", 0o644)
    dw.write_config(templates_dir=str(templates),
                    ids={"pool_start": dw.uid_block, "pool_size": ranges * ID_COUNT,
                         "count": ID_COUNT})
    if network:
        dw.write_config(network={"pool": POOL, "prefix": 24, "uplink": None,
                                 "allocations": str(allocations_path(dw))})
    dw.start_daemon()
    return templates


def allocations_path(dw):
    return dw.tmp / "network.json"


def allocations(dw):
    try:
        return allocations_path(dw).read_text()
    except FileNotFoundError:
        return ""


def write_template(templates, name, doc):
    path = templates / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n" if not isinstance(doc, str) else doc)
    os.chmod(path, 0o644)
    return path


def ehr_doc():
    return json.loads(TEMPLATE.read_text())


def onboard(dw, name, template="ehr", display=None, who=None, check=True):
    """`wardctl onboard --json`; returns (CompletedProcess, allocation or None).
    The allocated uid range is handed to the fixture, so that whatever is
    left of the tenant is killed at the end of the test."""
    args = ["onboard", name, "--template", template, "--json"]
    if display is not None:
        args += ["--display-name", display]
    res = dw.ctl(*args, **(who or {}))
    alloc = None
    if res.returncode == 0:
        alloc = json.loads(res.stdout)
        dw.uids[name] = alloc["uid"]
    elif check:
        dw.fail(f"onboard {name} failed: rc {res.returncode}\n{res.stderr}")
    return res, alloc


def offboard(dw, name, *args, who=None, cwd=None, timeout=60):
    argv = dw.ctl_argv("offboard", name, *args)
    kw = {}
    if who:
        kw = {"user": who["user"], "group": who["user"], "extra_groups": who["groups"]}
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, **kw)


def wait_running(dw, tenant, services=SERVICES):
    for s in services:
        dw.wait_state(tenant, s, "running", timeout=READY_TIMEOUT)


def address(dw, tenant, service):
    e = dw.service_status(tenant, service)
    assert e and e.get("address"), f"{tenant}/{service} has no address: {e}"
    return e["address"]


def host_ifname(addr):
    return "wrd%08x" % int(ipaddress.IPv4Address(addr))


# A TCP connect and nothing more (the template's services speak HTTP, not
# netecho's echo): "ok", "refused" (reset or ICMP no), or "timeout" (dropped).
PROBE = """
import errno, socket, sys
s = socket.socket()
s.settimeout(int(sys.argv[3]) / 1000)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("ok")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("refused" if e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                                   errno.EACCES, errno.EPERM) else f"error: {e}")
"""


def connect_from(dw, tenant, service, addr, port, timeout_ms):
    """A connect from tenant/service's network namespace: its verdict."""
    pid = dw.pid_of(tenant, service)
    assert pid, f"{tenant}/{service} has no pid"
    argv = ["nsenter", "-t", str(pid), "-n", "/usr/bin/python3", "-I", "-c", PROBE, addr,
            str(port), str(timeout_ms)]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=timeout_ms / 1000 + 10)
    lines = res.stdout.strip().splitlines()
    return lines[-1] if lines else f"rc {res.returncode}: {res.stderr.strip()}"


def wait_serving(dw, tenant):
    """The tenant's flows work end to end: web -> app:8080 and app -> db:5432
    (python has bound its ports, the rules are in)."""
    for src, dst in (("web", "app"), ("app", "db")):
        addr = address(dw, tenant, dst)
        ok = wait_for(lambda: connect_from(dw, tenant, src, addr, PORTS[dst], 1000) == "ok",
                      timeout=READY_TIMEOUT, interval=0.2)
        if not ok:
            dw.fail(f"{tenant}: {src} -> {dst}:{PORTS[dst]} never worked: "
                    f"{connect_from(dw, tenant, src, addr, PORTS[dst], 1000)}")


def nft_ruleset():
    res = subprocess.run(["nft", "list", "table", "inet", "ward"], capture_output=True,
                         text=True, timeout=10)
    return res.stdout if res.returncode == 0 else ""


def snapshot(dw):
    """Everything onboarding could leave behind, as comparable values."""
    def tree(d):
        return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []
    return {"tenants": tree(dw.tenants_dir), "data": tree(dw.data),
            "logs": sorted(p.name for p in dw.logs.iterdir() if p.name != "audit.jsonl"),
            "allocations": allocations(dw), "links": [ln for ln in ip_links() if "wrd" in ln]}


def onboard_records(dw, tenant, verdict=None):
    recs = dw.audit("onboard", tenant=tenant)
    return [r for r in recs if verdict is None or r.get("verdict") == verdict]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module", autouse=True)
def _own_netns():
    """Links and nftables rules are made here: never in the machine's own
    network namespace."""
    if os.geteuid() != 0:
        pytest.fail("the onboarding tests must run as root")
    try:
        initial = os.readlink("/proc/self/ns/net") == os.readlink("/proc/1/ns/net")
    except OSError:
        initial = False
    foreign = [n.split("@")[0] for n in ip_links() if n != "lo" and not n.startswith("wrd")]
    if initial or foreign:
        pytest.fail("refusing to run outside a network namespace made for the tests "
                    f"(links here: {foreign}): run under `unshare --net --mount "
                    "--propagation private` (see scripts/test)")


# ---------------------------------------------------------------- onboarding

def test_two_practices_from_one_template(dw):
    setup_world(dw)
    a, b = dw.name("sunrise"), dw.name("lakeside")

    res = dw.ctl("onboard", a, "--template", "ehr", "--display-name", "Sunrise Pediatrics")
    assert res.returncode == 0, res.stderr
    rows = dict(line.split(None, 1) if " " in line else (line, "")
                for line in res.stdout.replace("DISPLAY NAME", "DISPLAY_NAME").splitlines())
    assert rows["TENANT"].strip() == a and rows["TEMPLATE"].strip() == "ehr", res.stdout
    assert rows["DISPLAY_NAME"].strip() == "Sunrise Pediatrics"
    profile_a = json.loads((dw.tenants_dir / f"{a}.json").read_text())
    dw.uids[a] = profile_a["ids"]["uid"]
    _, alloc_b = onboard(dw, b)

    alloc_a = {"uid": profile_a["ids"]["uid"], "count": profile_a["ids"]["count"],
               "subnet": profile_a["network"]["subnet"]}
    # Distinct, non-overlapping uid ranges from the pool, of the pool's size.
    for alloc in (alloc_a, alloc_b):
        assert alloc["count"] == ID_COUNT
        assert dw.uid_block <= alloc["uid"] <= dw.uid_block + (MAX_TENANTS - 1) * ID_COUNT
        assert (alloc["uid"] - dw.uid_block) % ID_COUNT == 0
    assert alloc_a["uid"] != alloc_b["uid"]
    # Distinct subnets, both from the pool.
    na, nb = (ipaddress.ip_network(x["subnet"]) for x in (alloc_a, alloc_b))
    assert not na.overlaps(nb)
    assert na.subnet_of(ipaddress.ip_network(POOL)) and nb.subnet_of(ipaddress.ip_network(POOL))
    assert alloc_b["data_dir"] == str(dw.data / b)
    assert alloc_b["profile"] == str(dw.tenants_dir / f"{b}.json")
    assert alloc_b["template"] == "ehr" and alloc_b["tenant"] == b

    # The data root: root's alone (the fixture made it 0755), since a
    # tenant can open its own directory to everyone.
    st = os.lstat(dw.data)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    # Data directories: the tenant's own, 0700.
    for t, alloc in ((a, alloc_a), (b, alloc_b)):
        st = os.lstat(dw.data / t)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
        assert (st.st_uid, st.st_gid) == (alloc["uid"], alloc["uid"])
        # The profile: root's, 0644, complete, with the template's placeholder filled.
        path = dw.tenants_dir / f"{t}.json"
        pst = os.lstat(path)
        assert stat.S_ISREG(pst.st_mode) and pst.st_uid == 0
        assert stat.S_IMODE(pst.st_mode) == 0o644
        doc = json.loads(path.read_text())
        assert doc["tenant"] == t
        assert doc["ids"] == {"uid": alloc["uid"], "count": ID_COUNT}
        assert doc["network"]["subnet"] == alloc["subnet"]
        assert doc["sessions"]["groups"] == [f"{t}-staff"]
        assert set(doc["services"]) == set(SERVICES)
        assert not (dw.tenants_dir / f"{t}.json.tmp").exists()
    assert json.loads((dw.tenants_dir / f"{a}.json").read_text())["display_name"] == \
        "Sunrise Pediatrics"

    # Both run, and are isolated from each other.
    for t in (a, b):
        wait_running(dw, t)
        wait_serving(dw, t)
    for src in SERVICES:
        for dst in SERVICES:
            verdict = connect_from(dw, a, src, address(dw, b, dst), PORTS[dst], BLOCKED_MS)
            assert verdict in ("timeout", "refused"), f"{a}/{src} -> {b}/{dst}: {verdict}"
            verdict = connect_from(dw, b, src, address(dw, a, dst), PORTS[dst], BLOCKED_MS)
            assert verdict in ("timeout", "refused"), f"{b}/{src} -> {a}/{dst}: {verdict}"
    # Purpose-based inside a practice: web reaches app, not the database.
    verdict = connect_from(dw, a, "web", address(dw, a, "db"), PORTS["db"], BLOCKED_MS)
    assert verdict in ("timeout", "refused"), f"{a}/web -> {a}/db: {verdict}"
    # The services run as the tenants' own uids.
    for t, alloc in ((a, alloc_a), (b, alloc_b)):
        pids = pids_with_uid_in([(alloc["uid"], alloc["uid"] + ID_COUNT)])
        assert len(pids) >= 3, f"{t}: processes of its uid range: {pids}"

    recs = onboard_records(dw, b, "done")
    assert len(recs) == 1 and recs[0]["allocation"]["uid"] == alloc_b["uid"], recs
    assert recs[0]["template"] == "ehr" and recs[0]["by"] == "root"
    ctl = [r for r in dw.audit("control", cmd="onboard") if r.get("tenant") == b]
    assert len(ctl) == 1 and ctl[0]["verdict"] == "allowed" and ctl[0]["result"] == "ok"


def test_refusals_leave_no_trace(dw):
    templates = setup_world(dw)
    a = dw.name("taken")
    onboard(dw, a)
    wait_running(dw, a)
    before = snapshot(dw)

    def refused(name, template, want):
        res, _ = onboard(dw, name, template, check=False)
        assert res.returncode == 1, (name, template, res.returncode, res.stdout, res.stderr)
        assert want in res.stderr, f"{name}/{template}: {res.stderr!r} lacks {want!r}"
        assert res.stdout == ""
        assert snapshot(dw) == before, f"{name}/{template} left something behind"
        recs = onboard_records(dw, name, "refused")
        assert recs and want in recs[-1]["reason"], recs

    # A name in use.
    refused(a, "ehr", f'tenant "{a}" already exists')
    # Templates: missing, broken JSON, errors found by the profile loader,
    # and what a template must leave to onboarding.
    fresh = dw.name("fresh")
    refused(fresh, "nosuch", 'no template "nosuch"')
    write_template(templates, "broken", '{"services": {')
    refused(fresh, "broken", "broken.json:1:")
    bad = ehr_doc()
    bad["services"]["app"]["exec"] = ["python3", "-m", "http.server"]
    bad["services"]["web"]["connect"] = ["nosuch:80"]
    write_template(templates, "bad", bad)
    refused(fresh, "bad", 'template "bad"')
    res, _ = onboard(dw, fresh, "bad", check=False)
    assert "services.app.exec" in res.stderr and "services.web.connect" in res.stderr, res.stderr
    ingress = ehr_doc()
    ingress["network"]["ingress"] = [{"host_port": 8443, "service": "web", "port": 8443}]
    write_template(templates, "ingress", ingress)
    refused(fresh, "ingress", "network.ingress: a template must not forward host ports")
    named = ehr_doc()
    named["tenant"] = "someone"
    write_template(templates, "named", named)
    refused(fresh, "named", "tenant: a template must not set it")
    subnet = ehr_doc()
    subnet["network"]["subnet"] = "10.240.9.0/24"
    write_template(templates, "subnet", subnet)
    refused(fresh, "subnet", "network.subnet: a template must not set it")
    loose = write_template(templates, "loose", ehr_doc())
    os.chmod(loose, 0o666)
    refused(fresh, "loose", "writable by group or others")
    # Leftovers of an earlier tenant of that name block it.
    left = dw.data / fresh
    left.mkdir()
    before = snapshot(dw)
    refused(fresh, "ehr", f"data directory {left} already exists")
    left.rmdir()
    (dw.logs / fresh).mkdir()
    before = snapshot(dw)
    refused(fresh, "ehr", f"log directory {dw.logs / fresh} already exists")
    (dw.logs / fresh).rmdir()
    before = snapshot(dw)

    # Bad input never reaches wardd: usage errors.
    for args in (["onboard", fresh], ["onboard", "Bad_Name", "--template", "ehr"],
                 ["onboard", fresh, "--template", "../ehr"],
                 ["onboard", fresh, "--template", "ehr", "--display-name", "a\x1b[2Jb"]):
        res = dw.ctl(*args)
        assert res.returncode == 2, (args, res.returncode, res.stderr)
    assert snapshot(dw) == before
    # The first tenant was never disturbed; and the name is still free.
    assert dw.service_status(a, "web")["state"] == "running"
    _, alloc = onboard(dw, fresh)
    assert alloc["uid"] != dw.uids[a]


def test_uid_pool_exhausted(dw):
    setup_world(dw, ranges=1)
    a, b = dw.name("first"), dw.name("second")
    _, alloc = onboard(dw, a)
    assert alloc["uid"] == dw.uid_block
    wait_running(dw, a)
    before = snapshot(dw)
    res, _ = onboard(dw, b, check=False)
    assert res.returncode == 1
    assert "uid pool exhausted" in res.stderr, res.stderr
    assert snapshot(dw) == before  # no subnet taken, no directory, no profile
    assert b not in allocations(dw)
    recs = onboard_records(dw, b, "refused")
    assert len(recs) == 1 and "uid pool exhausted" in recs[0]["reason"]


@pytest.mark.parametrize("which", ["subuid", "subgid"])
def test_pool_overlapping_subordinate_ids_refused(dw, which):
    """A host user with a subordinate id range inside the pool (Debian's
    useradd hands them out from 100000 up to 600100000) could become an
    onboarded tenant's uids with newuidmap: onboarding refuses the pool,
    naming the file and line, and hands out nothing."""
    setup_world(dw, ranges=4)
    path = dw.subuid if which == "subuid" else dw.subgid
    mallory = dw.uid_block + 2 * ID_COUNT + 100
    path.write_text(f"alice:100000:65536\nmallory:{mallory}:65536\n")
    t = dw.name("subid")
    before = snapshot(dw)
    res, _ = onboard(dw, t, check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    where = f"{path}:2 (mallory: {mallory}+65536)"
    assert "uid pool" in res.stderr and where in res.stderr, res.stderr
    assert snapshot(dw) == before  # no subnet taken, no directory, no profile
    recs = onboard_records(dw, t, "refused")
    assert len(recs) == 1 and where in recs[0]["reason"], recs
    # The line gone, the same pool serves again.
    path.write_text("alice:100000:65536\n")
    _, alloc = onboard(dw, t)
    assert alloc["uid"] == dw.uid_block, alloc
    wait_running(dw, t)


def test_pool_skips_ranges_in_use(dw):
    """A hand-written profile (even one that is not loaded) and a live
    process hold their ranges: onboarding takes the next free one."""
    manual = dw.name("manual")
    dw.write_profile(manual, {"app": dw.service("sleep", "60")})  # the pool's first range
    assert dw.uid_of(manual) == dw.uid_block
    # A process of the host running in the second range.
    squatter = subprocess.Popen(["sleep", "60"], user=dw.uid_block + ID_COUNT + 7,
                                group=dw.uid_block + ID_COUNT + 7, stdin=subprocess.DEVNULL)
    dw.children.append(squatter)
    try:
        setup_world(dw, network=False)
        plain = ehr_doc()
        del plain["network"]
        write_template(dw.tmp / "templates", "plain", plain)
        t = dw.name("third")
        _, alloc = onboard(dw, t, "plain")
        assert alloc["uid"] == dw.uid_block + 2 * ID_COUNT, alloc
        assert alloc["subnet"] is None
        wait_running(dw, t)
        # No network section: every service has loopback only, no wardd link.
        assert not [ln for ln in ip_links() if "wrd" in ln]
        res = offboard(dw, t, "--purge")
        assert res.returncode == 0, res.stderr
        assert "SUBNET        -" in res.stdout, res.stdout
        assert not (dw.data / t).exists() and not (dw.tenants_dir / f"{t}.json").exists()
        # The hand-written tenant was not touched.
        assert dw.service_status(manual, "app")["state"] == "running"
    finally:
        squatter.kill()
        squatter.wait()


def test_only_admins_onboard_and_offboard(dw):
    setup_world(dw)
    a = dw.name("guarded")
    onboard(dw, a)
    wait_running(dw, a)
    pids = {s: dw.pid_of(a, s) for s in SERVICES}
    before = snapshot(dw)
    other = dw.name("sneaky")
    for who in (OPERATOR, dict(user=STRANGER, groups=[GID_STAFF])):
        res = dw.ctl("onboard", other, "--template", "ehr", **who)
        assert res.returncode == 1 and "permission denied" in res.stderr, res
        res = offboard(dw, a, "--purge", who=who)
        assert res.returncode == 1 and "permission denied" in res.stderr, res
    assert snapshot(dw) == before
    assert {s: dw.pid_of(a, s) for s in SERVICES} == pids
    refused = [r for r in dw.audit("control") if r.get("cmd") in ("onboard", "offboard")
               and r.get("verdict") == "refused"]
    assert len(refused) == 4, refused
    assert all(r["result"] == "permission denied" and r["peer"]["uid"] == STRANGER
               for r in refused)
    assert {r["tenant"] for r in refused} == {a, other}
    # The admin group may.
    res = dw.ctl("onboard", other, "--template", "ehr", "--json", **ADMIN)
    assert res.returncode == 0, res.stderr
    dw.uids[other] = json.loads(res.stdout)["uid"]
    recs = onboard_records(dw, other, "done")
    assert len(recs) == 1 and recs[0]["by"] == str(STRANGER), recs
    res = offboard(dw, other, "--purge", who=ADMIN)
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------- offboarding

def test_offboard_needs_archive_or_purge(dw):
    setup_world(dw)
    a = dw.name("keep")
    onboard(dw, a)
    wait_running(dw, a)
    pids = {s: dw.pid_of(a, s) for s in SERVICES}
    before = snapshot(dw)
    res = offboard(dw, a)
    assert res.returncode == 2 and NEEDS_ARCHIVE in res.stderr, res
    res = offboard(dw, a, "--archive", str(dw.scratch / "x.tar"), "--purge")
    assert res.returncode == 2 and "exclude each other" in res.stderr, res
    # The daemon refuses it too, whoever asks.
    c = Client(dw.socket)
    try:
        r = c.request({"cmd": "offboard", "tenant": a})
        assert r["ok"] is False and NEEDS_ARCHIVE in r["error"], r
        r = c.request({"cmd": "offboard", "tenant": a, "purge": False})
        assert r["ok"] is False and NEEDS_ARCHIVE in r["error"], r
        r = c.request({"cmd": "offboard", "tenant": a, "archive": "relative.tar"})
        assert r["ok"] is False and "absolute" in r["error"], r
        r = c.request({"cmd": "offboard", "tenant": a,
                       "archive": str(dw.scratch / ".." / "x.tar")})
        assert r["ok"] is False and '".."' in r["error"], r
    finally:
        c.close()
    # Archives that would lose or leak data: refused before anything stops.
    existing = dw.scratch / "exists.tar"
    existing.write_text("precious")
    for path, want in ((existing, "not overwriting it"),
                       (dw.data / a / "self.tar", "inside the tenants' data directory"),
                       (dw.data / "other.tar", "inside the tenants' data directory"),
                       (dw.scratch / "nodir" / "x.tar", "No such file or directory")):
        res = offboard(dw, a, "--archive", str(path))
        assert res.returncode in (1, 2) and want in res.stderr, (path, res)
    assert existing.read_text() == "precious"
    assert snapshot(dw) == before
    assert {s: dw.pid_of(a, s) for s in SERVICES} == pids
    res = offboard(dw, dw.name("nosuch"), "--purge")
    assert res.returncode == 1 and "no tenant" in res.stderr, res


def fill_data(dw, tenant, uid):
    """Files of the practice with their owners and modes, as its services
    (root inside, the first uid outside; a second uid of the range) make them."""
    d = dw.data / tenant
    (d / "db").mkdir(mode=0o750)
    os.chown(d / "db", uid, uid)
    os.chmod(d / "db", 0o750)
    rec = d / "db" / "patients.dat"
    rec.write_bytes(b"patient 1: sensitive\n" * 1000)
    os.chown(rec, uid, uid)
    os.chmod(rec, 0o640)
    other = d / "upload.bin"
    other.write_bytes(os.urandom(4096))
    os.chown(other, uid + 33, uid + 33)
    os.chmod(other, 0o600)
    os.symlink("/etc/shadow", d / "db" / "link")  # stored as a link, never followed
    os.lchown(d / "db" / "link", uid, uid)


def gone_checks(dw, tenant, uid, addrs, subnet):
    """Nothing of the tenant is left: links, rules, cgroups, profile,
    processes, data, allocation."""
    ifnames = {host_ifname(x) for x in addrs}
    assert wait_for(lambda: not ifnames & {ln.split("@")[0] for ln in ip_links()}, timeout=10), \
        f"links left: {ifnames & set(ip_links())}"
    rules = nft_ruleset()
    for needle in list(addrs) + list(ifnames) + [subnet.split("/")[0]]:
        assert needle not in rules, f"{needle} still in the ruleset:\n{rules}"
    assert not cgroup_dirs_named([tenant]), cgroup_dirs_named([tenant])
    assert not (dw.tenants_dir / f"{tenant}.json").exists()
    assert not (dw.tenants_dir / f"{tenant}.json.offboarding").exists()
    assert not list(dw.tenants_dir.glob(f"{tenant}*"))
    assert wait_for(lambda: not pids_with_uid_in([(uid, uid + ID_COUNT)]), timeout=5), \
        pids_with_uid_in([(uid, uid + ID_COUNT)])
    assert not (dw.data / tenant).exists()
    assert tenant not in allocations(dw)
    st = dw.status()
    assert not [s for s in st if s["tenant"] == tenant], st


def test_offboard_archive(dw):
    setup_world(dw)
    a, b = dw.name("leaving"), dw.name("staying")
    _, alloc = onboard(dw, a)
    onboard(dw, b)
    for t in (a, b):
        wait_running(dw, t)
    wait_serving(dw, a)
    uid = alloc["uid"]
    fill_data(dw, a, uid)
    addrs = [address(dw, a, s) for s in SERVICES]
    b_pids = {s: dw.pid_of(b, s) for s in SERVICES}
    assert any(x in nft_ruleset() for x in addrs)
    assert cgroup_dirs_named([a])

    # A relative path is the operator's, not wardd's.
    res = offboard(dw, a, "--archive", "leaving.tar", cwd=dw.scratch)
    assert res.returncode == 0, (res.stdout, res.stderr, dw.daemons[-1].stderr())
    archive = dw.scratch / "leaving.tar"
    rows = dict(line.split(None, 1) for line in res.stdout.splitlines() if " " in line)
    assert rows["OFFBOARDED"] == a and rows["ARCHIVE"] == str(archive), res.stdout
    st = os.lstat(archive)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600

    # The archive holds the data, owners and modes as they were.
    listing = subprocess.run(["tar", "-tvf", str(archive), "--numeric-owner"],
                             capture_output=True, text=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert f"{uid}/{uid}" in listing.stdout and f"{a}/db/patients.dat" in listing.stdout
    with tarfile.open(archive) as tf:
        members = {m.name: m for m in tf.getmembers()}
        top = members[a]
        assert top.isdir() and top.mode == 0o700 and (top.uid, top.gid) == (uid, uid)
        m = members[f"{a}/db"]
        assert m.isdir() and m.mode == 0o750 and (m.uid, m.gid) == (uid, uid)
        m = members[f"{a}/db/patients.dat"]
        assert m.isfile() and m.mode == 0o640 and (m.uid, m.gid) == (uid, uid)
        assert tf.extractfile(m).read() == b"patient 1: sensitive\n" * 1000
        m = members[f"{a}/upload.bin"]
        assert m.mode == 0o600 and (m.uid, m.gid) == (uid + 33, uid + 33)
        m = members[f"{a}/db/link"]
        assert m.issym() and m.linkname == "/etc/shadow"

    gone_checks(dw, a, uid, addrs, alloc["subnet"])
    # The logs are kept, out of the way of a new tenant of that name.
    kept = list(dw.logs.glob(f"{a}.offboarded-*"))
    assert len(kept) == 1 and (kept[0] / "web.log").exists(), list(dw.logs.iterdir())
    assert not (dw.logs / a).exists()
    # The other practice did not notice.
    assert {s: dw.pid_of(b, s) for s in SERVICES} == b_pids
    wait_serving(dw, b)

    recs = dw.audit("offboard", tenant=a)
    assert [r["verdict"] for r in recs] == ["started", "done"], recs
    report = recs[-1]["report"]
    assert report["archive"] == str(archive) and report["uid"] == uid
    assert report["subnet"] == alloc["subnet"] and report["warnings"] == []
    ctl = dw.audit("control", cmd="offboard", tenant=a)
    assert len(ctl) == 1 and ctl[0]["result"] == "ok" and ctl[0]["archive"] == str(archive)


def test_offboard_purge_and_onboard_again(dw):
    setup_world(dw)
    a, b = dw.name("purged"), dw.name("neighbour")
    _, alloc = onboard(dw, a)
    onboard(dw, b)
    for t in (a, b):
        wait_running(dw, t)
    uid = alloc["uid"]
    fill_data(dw, a, uid)
    addrs = [address(dw, a, s) for s in SERVICES]
    b_pids = {s: dw.pid_of(b, s) for s in SERVICES}

    res = offboard(dw, a, "--purge", "--json")
    assert res.returncode == 0, (res.stdout, res.stderr)
    report = json.loads(res.stdout)
    assert report["purged"] is True and report["logs"] is None and "archive" not in report
    gone_checks(dw, a, uid, addrs, alloc["subnet"])
    assert not (dw.logs / a).exists() and not list(dw.logs.glob(f"{a}*"))
    assert {s: dw.pid_of(b, s) for s in SERVICES} == b_pids

    # The name, its uid range and a subnet are free again.
    _, again = onboard(dw, a)
    assert again["uid"] == uid
    assert ipaddress.ip_network(again["subnet"]).subnet_of(ipaddress.ip_network(POOL))
    wait_running(dw, a)
    wait_serving(dw, a)
    assert os.listdir(dw.data / a) == []


def test_offboard_failure_puts_everything_back(dw):
    """tar runs out of room: the archive is removed, the profile put back
    and the practice runs again, its data untouched."""
    setup_world(dw)
    a = dw.name("resilient")
    _, alloc = onboard(dw, a)
    wait_running(dw, a)
    uid = alloc["uid"]
    fill_data(dw, a, uid)
    big = dw.data / a / "big.bin"
    big.write_bytes(os.urandom(2 << 20))
    os.chown(big, uid, uid)
    small = dw.tmp / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        res = offboard(dw, a, "--archive", str(small / "a.tar"))
        assert res.returncode == 1, (res.stdout, res.stderr)
        assert "archiving" in res.stderr and "nothing was removed" in res.stderr, res.stderr
        assert "runs again" in res.stderr, res.stderr
        assert not (small / "a.tar").exists()
    finally:
        subprocess.run(["umount", str(small)], check=False)
    assert (dw.tenants_dir / f"{a}.json").exists()
    assert not (dw.tenants_dir / f"{a}.json.offboarding").exists()
    assert big.stat().st_size == 2 << 20
    assert (dw.data / a / "db" / "patients.dat").exists()
    wait_running(dw, a)
    wait_serving(dw, a)
    recs = dw.audit("offboard", tenant=a)
    assert [r["verdict"] for r in recs] == ["started", "rolled-back"], recs
    # And it can be offboarded for good afterwards.
    res = offboard(dw, a, "--archive", str(dw.scratch / "a.tar"))
    assert res.returncode == 0, res.stderr
    assert not (dw.data / a).exists()


def small_volume(dw, name, size):
    """A tmpfs of `size` at dw.tmp/name, mounted in the test's own mount
    namespace; unmount it with umount_volume."""
    d = dw.tmp / name
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(d)],
                   check=True)
    return d


def umount_volume(d):
    subprocess.run(["umount", str(d)], check=False)


def test_offboard_archive_of_sparse_files_is_small(dw):
    """Issue 18, finding 5: a practice's four 8 GiB sparse files (nothing
    allocated) are archived as holes: offboarding onto a 4 MiB volume works
    and the archive is small; the files come back with their size."""
    setup_world(dw)
    a = dw.name("sparse")
    _, alloc = onboard(dw, a)
    wait_running(dw, a)
    uid = alloc["uid"]
    fill_data(dw, a, uid)
    for i in range(4):
        f = dw.data / a / f"hole{i}.bin"
        with open(f, "wb") as fh:
            fh.truncate(8 << 30)
            fh.seek((8 << 30) - 6)
            fh.write(b"tail!\n")
        os.chown(f, uid, uid)
    vol = small_volume(dw, "sparsevol", "4m")
    try:
        res = offboard(dw, a, "--archive", str(vol / "a.tar"))
        assert res.returncode == 0, (res.stdout, res.stderr, dw.daemons[-1].stderr())
        size = (vol / "a.tar").stat().st_size
        assert size < (1 << 20), size
        listing = subprocess.run(["tar", "-tvf", str(vol / "a.tar"), "--numeric-owner"],
                                 capture_output=True, text=True, timeout=60)
        assert listing.returncode == 0, listing.stderr
        for i in range(4):
            line = [x for x in listing.stdout.splitlines() if x.endswith(f"{a}/hole{i}.bin")]
            assert line and str(8 << 30) in line[0], listing.stdout
        out = dw.tmp / "extract"
        out.mkdir()
        ext = subprocess.run(["tar", "-xf", str(vol / "a.tar"), "-C", str(out),
                              f"{a}/hole0.bin"], capture_output=True, text=True, timeout=60)
        assert ext.returncode == 0, ext.stderr
        got = out / a / "hole0.bin"
        assert got.stat().st_size == 8 << 30
        with open(got, "rb") as fh:
            fh.seek((8 << 30) - 6)
            assert fh.read() == b"tail!\n"
        got.unlink()
    finally:
        umount_volume(vol)
    assert not (dw.data / a).exists()


def test_offboard_refuses_an_archive_that_cannot_fit(dw):
    """Issue 18, finding 5: the archive's size (what the data has allocated)
    is checked against the archive volume's free space before tar starts:
    refused with the sizes named, nothing written or removed, the practice
    runs again."""
    setup_world(dw)
    a = dw.name("toobig")
    _, alloc = onboard(dw, a)
    wait_running(dw, a)
    uid = alloc["uid"]
    fill_data(dw, a, uid)
    big = dw.data / a / "scan.bin"
    big.write_bytes(os.urandom(3 << 20))
    os.chown(big, uid, uid)
    vol = small_volume(dw, "fullvol", "1m")
    try:
        res = offboard(dw, a, "--archive", str(vol / "a.tar"))
        assert res.returncode == 1, (res.stdout, res.stderr)
        assert "refused" in res.stderr and "needs about" in res.stderr, res.stderr
        assert "not starting tar" in res.stderr and "nothing was removed" in res.stderr
        assert "runs again" in res.stderr, res.stderr
        assert os.listdir(vol) == []
    finally:
        umount_volume(vol)
    assert (dw.tenants_dir / f"{a}.json").exists()
    assert big.stat().st_size == 3 << 20
    assert (dw.data / a / "db" / "patients.dat").exists()
    wait_running(dw, a)
    recs = dw.audit("offboard", tenant=a)
    assert [r["verdict"] for r in recs] == ["started", "rolled-back"], recs
    assert "needs about" in recs[-1]["reason"], recs[-1]


def test_daemon_stop_during_offboard_puts_it_back(dw):
    """wardd told to stop while a practice is being offboarded: the offboard
    is undone (archive removed, profile back, data untouched), its client
    told so, and the next wardd runs the practice again."""
    templates = setup_world(dw)
    slow = {"services": {"app": {
        "exec": ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
        "policy": ["hardened", {"stop_timeout_s": 3}]}}}
    write_template(templates, "slow", slow)
    a = dw.name("stubborn")
    onboard(dw, a, "slow")
    wait_running(dw, a, ["app"])
    marker = dw.data / a / "keep.txt"
    marker.write_text("records\n")
    archive = dw.scratch / "stubborn.tar"

    p = dw.ctl_popen("offboard", a, "--archive", str(archive))
    dw.wait_audit("offboard", tenant=a, verdict="started")
    assert dw.stop_daemon(dw.daemons[-1]) == 0
    out, err = p.communicate(timeout=15)
    assert p.returncode == 1, (out, err)
    assert "wardd stopped while" in err.decode() and "nothing was removed" in err.decode(), err
    assert not archive.exists()
    assert (dw.tenants_dir / f"{a}.json").exists()
    assert not (dw.tenants_dir / f"{a}.json.offboarding").exists()
    assert marker.read_text() == "records\n"
    recs = dw.audit("offboard", tenant=a)
    assert [r["verdict"] for r in recs] == ["started", "rolled-back"], recs
    ctl = dw.audit("control", cmd="offboard", tenant=a)
    assert len(ctl) == 1 and "nothing was removed" in ctl[0]["result"], ctl

    dw.start_daemon()
    wait_running(dw, a, ["app"])


def test_sessions_and_kick_commands(dw):
    """`wardctl sessions` and `kick` reach the session server with the
    rights of their commands (starting a session is test_session's)."""
    setup_world(dw, network=False)
    viewer = dict(user=STRANGER, groups=[GID_STAFF, 60])  # games: viewers
    res = dw.ctl("sessions")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ID", "TENANT", "SERVICE", "USER", "PID", "TTY", "REMOTE",
                                  "STARTED", "IDLE"], res.stdout
    res = dw.ctl("sessions", dw.name("x"), "--json", **viewer)
    assert res.returncode == 0 and json.loads(res.stdout) == [], res
    res = dw.ctl("kick", "0badc0de", **viewer)
    assert res.returncode == 1 and "permission denied" in res.stderr, res
    res = dw.ctl("kick", "0badc0de", **OPERATOR)
    assert res.returncode == 1 and 'no session "0badc0de"' in res.stderr, res
    res = dw.ctl("kick", "../x")
    assert res.returncode == 2, res
    recs = dw.audit("control", cmd="kick")
    assert [(r["verdict"], r["session"]) for r in recs] == [("refused", "0badc0de"),
                                                            ("allowed", "0badc0de")], recs


def test_onboarding_on_btrfs_makes_a_limited_subvolume(dw):
    """Issue 18, finding 5: on a btrfs data root, onboarding makes the
    practice's data directory a subvolume (BTRFS_IOC_SUBVOL_CREATE), so its
    disk quota is a qgroup limit (applied, said in the audit log); offboard
    --purge removes the subvolume. The data root is a btrfs loop image
    mounted only in this test's mount namespace; the loop device is detached
    also if the test fails."""
    img = dw.tmp / "data.img"
    images.make_image(img, "btrfs")
    loop = None
    try:
        loop, why = images.mount_image(img, dw.data)
        assert loop, f"cannot mount a btrfs image here: {why}"
        dw.write_config(quota={"data": "8M"})
        setup_world(dw)
        a = dw.name("subvol")
        _, alloc = onboard(dw, a)
        st = os.stat(dw.data / a)
        # 256: the root inode of every btrfs subvolume (a plain directory
        # never has it).
        assert st.st_ino == 256, st
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (alloc["uid"], 0o700), st
        rec = dw.wait_audit("tenant-quota", count=1, tenant=a)[0]
        assert rec["applied"] is True and rec["backend"] == "btrfs-qgroup", rec
        assert rec["limit"] == 8 << 20, rec
        wait_running(dw, a)
        res = offboard(dw, a, "--purge")
        assert res.returncode == 0, (res.stdout, res.stderr, dw.daemons[-1].stderr())
        assert not (dw.data / a).exists()
        assert dw.stop_daemon(dw.daemons[-1]) == 0
    finally:
        for d in list(dw.daemons):
            if d.running():
                dw.stop_daemon(d)
        if loop:
            images.unmount_image(dw.data, loop)
