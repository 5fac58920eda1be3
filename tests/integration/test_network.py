"""End-to-end tests of the per-tenant network segments (issue 4): addresses
and links, the `inet ward` table (declared flows pass, everything else is
counted on the service's drop counter and dropped), egress masquerading,
ingress forwarding, reload without breaking connections or restarting
services, cleanup on exit, stable pool allocation and overlap refusal.

The topology, all made by the tests and removed by them:

    pytest's own network namespace ("the host": scripts/test runs pytest
    under `unshare --net`, which is required here, see _own_netns)
      up0 198.51.100.1/24  ----veth----  inet0 198.51.100.2/24
      (the uplink in wardd.json)         a namespace held by a child
                                         `unshare --net sleep infinity`:
                                         "the internet", default route via
                                         198.51.100.1, netecho on tcp 443, 80
      wrdXXXXXXXX (one per service, made by wardd) -> eth0 of each service
      netecho serve on tcp 7000 (0.0.0.0): a listener of the host itself

Tenants A and B, each with web (tcp 8443), app (tcp 8080) and db (tcp 5432,
udp 5353) running tests/netecho as services, flows web -> app:8080,
app -> db:5432 and db:5353/udp, egress tcp 443 to 198.51.100.0/24 for app
only, ingress 198.51.100.1:8443 (A) and :9443 (B) -> web:8443. A names its
subnet, B's comes from the pool.

To act as a service, a test runs the host's netecho in the service's
network namespace only (`nsenter -t PID -n`): the packets leave through the
service's eth0, which is what the firewall judges.

Run like the rest of the suite (see conftest.py), e.g.
    WARD_BUILD=build unshare --net --mount --propagation private \\
        sh -c 'ip link set lo up; /usr/bin/python3 -m pytest -q tests/integration/test_network.py'

The names of the new status / `wardctl net` fields, the settings keys and
the host interface names are read and written only by the small helpers
under "the interface under test", so a rename is a change in one place.
"""

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import namedtuple
from pathlib import Path

import pytest

from conftest import BUILD, PROBE_DIR, wait_for
from daemon_fixture import (DaemonWorld, LineReader, Snapshot, daemon_built, dw,  # noqa: F401
                            ip_links)

NETECHO_HOST = BUILD / "tests" / "netecho"   # run by the tests (host filesystem)
NETECHO = PROBE_DIR + "/netecho"             # the same binary seen from inside a service

POOL = "10.240.0.0/16"
PREFIX = 24
UPLINK = "up0"
INET_IF = "inet0"
UPLINK_ADDR = "198.51.100.1"
INET_ADDR = "198.51.100.2"
INET_NET = "198.51.100.0/24"
HOST_PORT = 7000          # the host's own listener
A_SUBNET = "10.240.3.0/24"
A_INGRESS, B_INGRESS = 8443, 9443

SERVICES = ("web", "app", "db")
# What each service serves: (proto, port).
PORTS = {"web": [("tcp", 8443)], "app": [("tcp", 8080)], "db": [("tcp", 5432), ("udp", 5353)]}

OK_MS = 3000        # a connect that must work
BLOCKED_MS = 500    # a connect that must fail (dropped: it can only time out)
COUNTER_WAIT = 3.0  # how long a drop counter may take to show a drop
READY_TIMEOUT = 15.0


# ---------------------------------------------------------------- the interface under test
# Everything that names a key of the new interface is here.

def net_settings(dw, uplink=UPLINK):
    """wardd.json's "network" section; allocations always inside the test's
    temp dir (never /var/lib/ward)."""
    return {"pool": POOL, "prefix": PREFIX, "uplink": uplink,
            "allocations": str(allocations_path(dw))}


def allocations_path(dw):
    return dw.tmp / "network.json"


def entry_address(entry):
    """A `wardctl status --json` entry's address (string or None)."""
    return entry["address"]


def entry_drops(entry):
    """A status entry's drop counter (packets, int, or None)."""
    return entry["drops"]


def net_tenant(net):
    return net["tenant"]


def net_flows(net):
    return net["flows"]


def net_subnet(net):
    return net["subnet"]


def net_gateway(net):
    return net["gateway"]


def net_services(net):
    """{service: {"address": str, "ifname": str, "drops": int}} from a
    `wardctl net --json`."""
    return {s["service"]: {"address": s["address"], "ifname": s["ifname"], "drops": s["drops"]}
            for s in net["services"]}


NET_KEYS = ("tenant", "subnet", "gateway", "services", "flows")


def host_ifname(address):
    """The host end of a service's veth: "wrd" + the address as 8 hex digits."""
    return "wrd%08x" % int(ipaddress.IPv4Address(address))


def wardctl_net(dw, tenant):
    res = dw.ctl("net", tenant, "--json")
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    net = json.loads(res.stdout)
    for key in NET_KEYS:
        assert key in net, f"wardctl net --json has no {key!r}: {net}"
    return net


def service_doc(dw, name, connect=()):
    """A service running `netecho serve` on its ports (printing its peers)."""
    argv = [NETECHO, "serve", "--peers"]
    for proto, port in PORTS[name]:
        argv += [f"--{proto}", str(port)]
    svc = dw.service(exec_=argv)
    if connect:
        svc["connect"] = list(connect)
    return svc


def tenant_doc(dw, tenant, *, subnet=None, host_port=None, egress=True, web_connect=("app:8080",)):
    services = {
        "web": service_doc(dw, "web", web_connect),
        "app": service_doc(dw, "app", ["db:5432", "db:5353/udp"]),
        "db": service_doc(dw, "db"),
    }
    net = {}
    if subnet:
        net["subnet"] = subnet
    if egress:
        net["egress"] = [{"to": INET_NET, "tcp": [443], "from": ["app"]}]
    if host_port:
        net["ingress"] = [{"host_port": host_port, "service": "web", "port": 8443}]
    doc = dw.profile_doc(tenant, services)
    doc["network"] = net
    return doc


# ---------------------------------------------------------------- host-side helpers

Result = namedtuple("Result", "rc out err argv")


def run(argv, timeout=20, check=True):
    res = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=timeout)
    if check:
        assert res.returncode == 0, f"{argv}: rc {res.returncode}\n{res.stdout}{res.stderr}"
    return res


def netecho_result(argv, timeout_ms):
    """Runs a netecho client; its verdict is the last line of its stdout."""
    try:
        res = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=timeout_ms / 1000 + 10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"netecho did not finish: {argv}")
    lines = res.stdout.strip().splitlines()
    return Result(res.returncode, lines[-1] if lines else "", res.stderr.strip(), argv)


def connect_args(addr, port, udp=False, spoof=None, timeout_ms=OK_MS):
    """netecho connect's arguments; spoof: a source address to send from."""
    args = ["connect", addr, str(port), "--timeout-ms", str(timeout_ms)]
    if udp:
        args.append("--udp")
    if spoof:
        args += ["--from", spoof]
    return args


def netns_ino(pid):
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def nft_table_exists():
    return run(["nft", "list", "table", "inet", "ward"], check=False).returncode == 0


def links():
    """Link names of this namespace (without ip's "@peer" suffix)."""
    return [name.split("@")[0] for name in ip_links()]


def ward_links():
    return [name for name in links() if name.startswith("wrd")]


PEER_RE = re.compile(r"peer (tcp|udp) (\d+) ([0-9.]+):(\d+)")


def peers_in(lines, proto, port):
    """Source addresses netecho serve --peers reported for proto/port."""
    out = []
    for line in lines:
        m = PEER_RE.search(line)
        if m and m.group(1) == proto and int(m.group(2)) == port:
            out.append(m.group(3))
    return out


class Internet:
    """A second network namespace, joined to ours by the up0/inet0 veth,
    with netecho serving tcp 443 and 80 there."""

    def __init__(self):
        self.holder = None
        self.servers = []
        self.reader = None

    @property
    def pid(self):
        return self.holder.pid

    def ns(self, *argv):
        return ["nsenter", "-t", str(self.pid), "-n"] + [str(a) for a in argv]

    def setup(self):
        assert UPLINK not in links(), \
            f"a link named {UPLINK} already exists here: a leftover of an earlier run?"
        mine = os.readlink("/proc/self/ns/net")
        self.holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"],
                                       stdin=subprocess.DEVNULL)
        entered = wait_for(lambda: self._ns_of_holder() not in (None, mine), timeout=5)
        assert entered, "unshare --net did not enter a new network namespace"
        run(["ip", "link", "add", UPLINK, "type", "veth", "peer", "name", INET_IF,
             "netns", self.pid])
        run(["ip", "addr", "add", f"{UPLINK_ADDR}/24", "dev", UPLINK])
        run(["ip", "link", "set", UPLINK, "up"])
        run(self.ns("ip", "link", "set", "lo", "up"))
        run(self.ns("ip", "addr", "add", f"{INET_ADDR}/24", "dev", INET_IF))
        run(self.ns("ip", "link", "set", INET_IF, "up"))
        # Return traffic, and the internet's way to the tenants' pool (the
        # "route for 10.240.0.0/16 via 198.51.100.1"), in one default route.
        run(self.ns("ip", "route", "add", "default", "via", UPLINK_ADDR))
        p = subprocess.Popen(self.ns(NETECHO_HOST, "serve", "--peers", "--tcp", "443",
                                     "--tcp", "80"),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.servers.append(p)
        self.reader = LineReader(p.stdout)
        assert wait_for(lambda: "ready" in self.reader.snapshot(), timeout=5), \
            f"netecho serve in the internet namespace: {self.reader.snapshot()} rc {p.poll()}"
        # The topology itself works (the veth is up on both ends).
        res = wait_for(lambda: (lambda r: r if r.rc == 0 else None)(
            netecho_result([NETECHO_HOST] + connect_args(INET_ADDR, 443, timeout_ms=1000), 1000)),
            timeout=10)
        assert res, "the host cannot reach the internet namespace's netecho on 443"

    def _ns_of_holder(self):
        try:
            return os.readlink(f"/proc/{self.pid}/ns/net")
        except OSError:
            return None

    def peers(self, port):
        return peers_in(self.reader.snapshot(), "tcp", port)

    def connect(self, addr, port, **kw):
        return netecho_result(self.ns(NETECHO_HOST, *connect_args(addr, port, **kw)),
                              kw.get("timeout_ms", OK_MS))

    def close(self):
        for p in self.servers:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
            for f in (p.stdout, p.stderr):
                f.close()
        if self.holder is not None:
            if self.holder.poll() is None:
                self.holder.kill()
            self.holder.wait(timeout=5)
        # The namespace goes with its last process, and the veth with it.
        if not wait_for(lambda: UPLINK not in links(), timeout=5):
            run(["ip", "link", "del", UPLINK], check=False)


class HostListener:
    """netecho serving tcp HOST_PORT on 0.0.0.0 of the host's namespace."""

    def __init__(self):
        self.proc = subprocess.Popen([str(NETECHO_HOST), "serve", "--peers", "--tcp",
                                      str(HOST_PORT)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.reader = LineReader(self.proc.stdout)
        assert wait_for(lambda: "ready" in self.reader.snapshot(), timeout=5), \
            f"netecho serve on the host: {self.reader.snapshot()} rc {self.proc.poll()}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


# ---------------------------------------------------------------- a world with tenants

class Net:
    """Network views of a DaemonWorld's tenants: addresses, counters, and
    acting as a service."""

    def __init__(self, dw, inet):
        self.dw = dw
        self.inet = inet
        self.A = dw.name("neta")
        self.B = dw.name("netb")

    def tenant(self, t):
        """"A" and "B" name the world's tenants; anything else is a name."""
        return {"A": self.A, "B": self.B}.get(t, t)

    def entry(self, t, s):
        t = self.tenant(t)
        e = self.dw.service_status(t, s)
        if e is None:
            self.dw.fail(f"no status entry for {t}/{s}: {self.dw.status()}")
        return e

    def pid(self, t, s):
        pid = self.entry(t, s).get("pid")
        assert pid, f"{self.tenant(t)}/{s} has no pid: {self.entry(t, s)}"
        return pid

    def address(self, t, s):
        return entry_address(self.entry(t, s))

    def drops(self, t, s):
        d = entry_drops(self.entry(t, s))
        assert isinstance(d, int) and not isinstance(d, bool) and d >= 0, \
            f"{self.tenant(t)}/{s}: drops is {d!r}, not a packet count"
        return d

    def net(self, t):
        return wardctl_net(self.dw, self.tenant(t))

    def gateway(self, t):
        return net_gateway(self.net(t))

    def log_lines(self, t, s):
        path = self.dw.logs / self.tenant(t) / f"{s}.log"
        try:
            return path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def in_ns(self, t, s, *argv):
        return ["nsenter", "-t", str(self.pid(t, s)), "-n"] + [str(a) for a in argv]

    def connect(self, t, s, addr, port, **kw):
        """netecho connect run in service t/s's network namespace."""
        return netecho_result(self.in_ns(t, s, NETECHO_HOST, *connect_args(addr, port, **kw)),
                              kw.get("timeout_ms", OK_MS))

    def resolve(self, dst):
        """A destination of the case tables: (addr, port, udp)."""
        kind = dst[0]
        if kind == "svc":
            _, t, s, port, proto = dst
            return self.address(t, s), port, proto == "udp"
        if kind == "gw":
            return self.gateway(dst[1]), dst[2], False
        if kind == "uplink":
            return UPLINK_ADDR, dst[1], False
        if kind == "inet":
            return INET_ADDR, dst[1], False
        raise AssertionError(dst)

    def attempt(self, src, dst, **kw):
        addr, port, udp = self.resolve(dst)
        if src == "inet":
            return self.inet.connect(addr, port, udp=udp, **kw)
        if src == "host":  # a process of the host itself (wardd's namespace)
            return netecho_result([NETECHO_HOST] + connect_args(addr, port, udp=udp, **kw),
                                  kw.get("timeout_ms", OK_MS))
        return self.connect(*src, addr, port, udp=udp, **kw)

    def wait_ready(self, tenants, services=SERVICES):
        """Every service runs, has an address, has bound its ports, and the
        tenant's web -> app flow works (its rules are in)."""
        dw = self.dw
        for t in tenants:
            t = self.tenant(t)
            for s in services:
                dw.wait_state(t, s, "running", timeout=READY_TIMEOUT)
                if not wait_for(lambda: entry_address(self.entry(t, s)), timeout=READY_TIMEOUT):
                    dw.fail(f"{t}/{s} runs but has no address: {self.entry(t, s)}")
                if not wait_for(lambda: "ready" in self.log_lines(t, s), timeout=READY_TIMEOUT):
                    dw.fail(f"{t}/{s} never printed ready: {self.log_lines(t, s)}")
            if "web" in services and "app" in services:
                app = self.address(t, "app")
                res = wait_for(lambda: (lambda r: r if r.rc == 0 else None)(
                    self.connect(t, "web", app, 8080, timeout_ms=1000)), timeout=READY_TIMEOUT)
                if not res:
                    r = self.connect(t, "web", app, 8080, timeout_ms=1000)
                    dw.fail(f"{t}: web -> app:8080 never worked: {r}")

    def assert_allowed(self, src, dst, quiet=()):
        """The connect works, and no drop is counted on the services in
        quiet ((tenant, service) pairs) meanwhile."""
        before = {q: self.drops(*q) for q in quiet}
        r = self.attempt(src, dst, timeout_ms=OK_MS)
        assert (r.rc, r.out) == (0, "ok"), \
            f"{src} -> {dst} should work: {r}\n{self.dw.audit_summary()[-2000:]}"
        after = {q: self.drops(*q) for q in quiet}
        assert after == before, f"{src} -> {dst} worked, yet drops were counted: {before} -> {after}"
        return r

    def assert_blocked(self, src, dst, counted, **kw):
        """The connect fails (dropped: timeout; rejected: refused) and the
        drop counter of `counted` rises."""
        before = self.drops(*counted)
        r = self.attempt(src, dst, timeout_ms=BLOCKED_MS, **kw)
        # The host's own packets dropped at its output hook fail the send
        # itself with EPERM.
        host_refused = src == "host" and r.rc == 3 and r.out.endswith(
            "Operation not permitted")
        assert (r.rc in (1, 2) and r.out in ("refused", "timeout")) or host_refused, \
            f"{src} -> {dst} must not get through: {r}"
        rose = wait_for(lambda: self.drops(*counted) > before, timeout=COUNTER_WAIT)
        assert rose, (f"{src} -> {dst} failed ({r.out}) but the drop counter of "
                      f"{self.tenant(counted[0])}/{counted[1]} stayed at {before}: "
                      f"{self.entry(*counted)}")
        return r


def start_world(dw, inet):
    """Tenants A (own subnet, ingress 8443) and B (pool subnet, ingress
    9443) under one wardd with the uplink up0; returns the Net view."""
    net = Net(dw, inet)
    dw.write_config(network=net_settings(dw))
    dw.write_profile(net.A, doc=tenant_doc(dw, net.A, subnet=A_SUBNET, host_port=A_INGRESS))
    dw.write_profile(net.B, doc=tenant_doc(dw, net.B, host_port=B_INGRESS))
    dw.start_daemon()
    net.wait_ready(["A", "B"])
    return net


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module", autouse=True)
def _own_netns():
    """These tests make links, routes and nftables rules: never in the
    machine's own network namespace."""
    if os.geteuid() != 0:
        pytest.fail("the network tests must run as root")
    try:
        initial = os.readlink("/proc/self/ns/net") == os.readlink("/proc/1/ns/net")
    except OSError:  # pid 1 may be out of reach (a container's init)
        initial = False
    # A namespace made for the run has nothing but lo (and, at worst, what
    # a killed wardd of this run left); a machine's own has real links.
    foreign = [name for name in links() if name != "lo" and not name.startswith("wrd")]
    if initial or foreign:
        pytest.fail("refusing to run outside a network namespace made for the tests "
                    f"(links here: {foreign}): run under `unshare --net --mount "
                    "--propagation private` (see scripts/test)")
    for tool in ("ip", "nsenter", "unshare", "nft"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed (scripts/bootstrap)")
    if not os.access(NETECHO_HOST, os.X_OK):
        pytest.fail(f"{NETECHO_HOST} is not built (WARD_BUILD={BUILD})")


@pytest.fixture(scope="module")
def internet(_own_netns):
    inet = Internet()
    try:
        inet.setup()
        yield inet
    finally:
        inet.close()


@pytest.fixture(scope="class")
def world(daemon_built, internet):
    """One wardd with tenants A and B for the traffic tests, which only
    look (no test changes a profile or stops a service); torn down when
    the class ends, before the tests that run their own wardd (two wardd in
    one namespace would fight over the table and the wrd links)."""
    tmp = Path(tempfile.mkdtemp(prefix="ward-net-"))
    os.chmod(tmp, 0o755)
    w = listener = None
    try:
        w = DaemonWorld(tmp)
        listener = HostListener()
        net = start_world(w, internet)
        net.listener = listener
        yield net
    finally:
        if listener is not None:
            listener.close()
        if w is not None:
            w.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- cases

ALLOWED = [
    ("A.web->A.app:8080", ("A", "web"), ("svc", "A", "app", 8080, "tcp")),
    ("A.app->A.db:5432", ("A", "app"), ("svc", "A", "db", 5432, "tcp")),
    ("A.app->A.db:5353/udp", ("A", "app"), ("svc", "A", "db", 5353, "udp")),
    ("B.web->B.app:8080", ("B", "web"), ("svc", "B", "app", 8080, "tcp")),
    ("B.app->B.db:5432", ("B", "app"), ("svc", "B", "db", 5432, "tcp")),
    ("B.app->B.db:5353/udp", ("B", "app"), ("svc", "B", "db", 5353, "udp")),
]


def _blocked_cases():
    cases = [
        # inside a tenant: only the declared flows
        ("A.web->A.db:5432", ("A", "web"), ("svc", "A", "db", 5432, "tcp"), ("A", "web")),
        ("A.web->A.db:5353/udp", ("A", "web"), ("svc", "A", "db", 5353, "udp"), ("A", "web")),
        ("A.db->A.app:8080", ("A", "db"), ("svc", "A", "app", 8080, "tcp"), ("A", "db")),
        # a declared flow is one way
        ("A.app->A.web:8443", ("A", "app"), ("svc", "A", "web", 8443, "tcp"), ("A", "app")),
        # egress: only the declared port, only for the services in "from"
        ("A.web->inet:443", ("A", "web"), ("inet", 443), ("A", "web")),
        ("A.db->inet:443", ("A", "db"), ("inet", 443), ("A", "db")),
        ("A.app->inet:80", ("A", "app"), ("inet", 80), ("A", "app")),
        # the other direction between tenants, once
        ("B.web->A.app:8080", ("B", "web"), ("svc", "A", "app", 8080, "tcp"), ("B", "web")),
        # the host's own listener, by the tenant's gateway and by the uplink
        ("A.web->gw(B):7000", ("A", "web"), ("gw", "B", HOST_PORT), ("A", "web")),
        # A's ingress port is A's way in from the uplink, not a way from B
        ("B.web->uplink:8443", ("B", "web"), ("uplink", A_INGRESS), ("B", "web")),
        # from the internet, straight to a service's address (not ingress)
        ("inet->A.app:8080", "inet", ("svc", "A", "app", 8080, "tcp"), ("A", "app")),
        ("inet->A.web:8443", "inet", ("svc", "A", "web", 8443, "tcp"), ("A", "web")),
        # from the host itself (any local user, or an end user's `ssh -L`),
        # straight to a service's address: only the host ports lead in
        ("host->A.db:5432", "host", ("svc", "A", "db", 5432, "tcp"), ("A", "db")),
        ("host->A.db:5353/udp", "host", ("svc", "A", "db", 5353, "udp"), ("A", "db")),
        ("host->A.web:8443", "host", ("svc", "A", "web", 8443, "tcp"), ("A", "web")),
        ("host->B.app:8080", "host", ("svc", "B", "app", 8080, "tcp"), ("B", "app")),
    ]
    # every service of A to every port of every service of B
    for s in SERVICES:
        for t in SERVICES:
            for proto, port in PORTS[t]:
                suffix = "/udp" if proto == "udp" else ""
                cases.append((f"A.{s}->B.{t}:{port}{suffix}", ("A", s),
                              ("svc", "B", t, port, proto), ("A", s)))
    # every service of A to the host itself
    for s in SERVICES:
        cases.append((f"A.{s}->gw(A):7000", ("A", s), ("gw", "A", HOST_PORT), ("A", s)))
        cases.append((f"A.{s}->uplink:7000", ("A", s), ("uplink", HOST_PORT), ("A", s)))
    return cases


BLOCKED = _blocked_cases()


# ---------------------------------------------------------------- traffic (one wardd)

class TestTraffic:

    def test_addresses_links_and_routes(self, world):
        w = world
        seen = set()
        for t in ("A", "B"):
            net = w.net(t)
            subnet = ipaddress.IPv4Network(net_subnet(net))
            gw = ipaddress.IPv4Address(net_gateway(net))
            assert subnet.subnet_of(ipaddress.IPv4Network(POOL)), net
            assert subnet.prefixlen == PREFIX, net
            assert gw == subnet.network_address + 1, net
            if t == "A":
                assert str(subnet) == A_SUBNET, net
            by_svc = net_services(net)
            assert sorted(by_svc) == sorted(SERVICES), net
            for s in SERVICES:
                addr = w.address(t, s)
                ip = ipaddress.IPv4Address(addr)
                assert ip in subnet and ip > gw and ip != subnet.broadcast_address, (t, s, addr)
                assert addr not in seen, f"{addr} given twice"
                seen.add(addr)
                ifname = host_ifname(addr)
                assert by_svc[s]["address"] == addr, (by_svc[s], addr)
                assert by_svc[s]["ifname"] == ifname, (by_svc[s], ifname)
                # the host end: the gateway address, a /32 route to the service
                shown = run(["ip", "-o", "-4", "addr", "show", "dev", ifname]).stdout
                assert f"inet {gw}/" in shown, shown
                route = run(["ip", "-o", "-4", "route", "get", addr]).stdout
                assert f"dev {ifname}" in route, route
                # the service end: eth0 with addr/32 and a default route via
                # the gateway, and nothing else but lo
                inside = run(w.in_ns(t, s, "ip", "-o", "-4", "addr", "show", "dev", "eth0")).stdout
                assert f"inet {addr}/32" in inside, inside
                default = run(w.in_ns(t, s, "ip", "-4", "route", "show", "default")).stdout
                assert f"via {gw}" in default and "eth0" in default, default
                shown = run(w.in_ns(t, s, "ip", "-o", "link")).stdout
                names = sorted(line.split(":")[1].strip().split("@")[0]
                               for line in shown.splitlines())
                assert names == ["eth0", "lo"], names
        assert ipaddress.IPv4Network(net_subnet(w.net("A"))) != \
            ipaddress.IPv4Network(net_subnet(w.net("B")))
        assert nft_table_exists(), "no table inet ward while wardd runs"

    def test_status_and_wardctl_json(self, world):
        w = world
        res = w.dw.ctl("status", "--json")
        assert res.returncode == 0, res.stderr
        entries = {(e["tenant"], e["service"]): e for e in json.loads(res.stdout)}
        for t in ("A", "B"):
            for s in SERVICES:
                e = entries[(w.tenant(t), s)]
                assert isinstance(entry_address(e), str), e
                d = entry_drops(e)
                assert isinstance(d, int) and not isinstance(d, bool), e
            net = w.net(t)
            assert net_tenant(net) == w.tenant(t)
            assert isinstance(net_flows(net), list) and net_flows(net), net
            for s, svc in net_services(net).items():
                assert svc["address"] == entry_address(entries[(w.tenant(t), s)]), svc
                assert isinstance(svc["drops"], int) and not isinstance(svc["drops"], bool), svc

    @pytest.mark.parametrize("case", ALLOWED, ids=[c[0] for c in ALLOWED])
    def test_declared_flow_works(self, world, case):
        _, src, dst = case
        world.assert_allowed(src, dst, quiet=[src, (dst[1], dst[2])])

    def test_egress_is_masqueraded(self, world):
        w = world
        before = len(w.inet.peers(443))
        w.assert_allowed(("A", "app"), ("inet", 443), quiet=[("A", "app")])
        w.assert_allowed(("B", "app"), ("inet", 443), quiet=[("B", "app")])
        seen = wait_for(lambda: (lambda p: p if len(p) >= before + 2 else None)(
            w.inet.peers(443)), timeout=3)
        assert seen, f"the internet's netecho saw no new connection: {w.inet.reader.snapshot()}"
        assert seen[before:] == [UPLINK_ADDR, UPLINK_ADDR], \
            f"egress not masqueraded to the uplink's address: {seen[before:]}"

    @pytest.mark.parametrize("tenant,host_port", [("A", A_INGRESS), ("B", B_INGRESS)])
    def test_ingress_reaches_the_tenants_web(self, world, tenant, host_port):
        w = world
        other = "B" if tenant == "A" else "A"
        mine = len(peers_in(w.log_lines(tenant, "web"), "tcp", 8443))
        theirs = len(peers_in(w.log_lines(other, "web"), "tcp", 8443))
        w.assert_allowed("inet", ("uplink", host_port), quiet=[(tenant, "web")])
        got = wait_for(lambda: len(peers_in(w.log_lines(tenant, "web"), "tcp", 8443)) > mine,
                       timeout=3)
        assert got, f"{w.tenant(tenant)}/web saw no connection: {w.log_lines(tenant, 'web')}"
        assert len(peers_in(w.log_lines(other, "web"), "tcp", 8443)) == theirs

    @pytest.mark.parametrize("tenant,host_port", [("A", A_INGRESS), ("B", B_INGRESS)])
    def test_host_ports_work_from_the_host_itself(self, world, tenant, host_port):
        """A host port on a local address works from the host's own
        processes too (the nat output hook), and leads to that tenant's web
        only: the one way in from the host."""
        w = world
        other = "B" if tenant == "A" else "A"
        mine = len(peers_in(w.log_lines(tenant, "web"), "tcp", 8443))
        theirs = len(peers_in(w.log_lines(other, "web"), "tcp", 8443))
        w.assert_allowed("host", ("uplink", host_port), quiet=[(tenant, "web")])
        got = wait_for(lambda: len(peers_in(w.log_lines(tenant, "web"), "tcp", 8443)) > mine,
                       timeout=3)
        assert got, f"{w.tenant(tenant)}/web saw no connection: {w.log_lines(tenant, 'web')}"
        assert len(peers_in(w.log_lines(other, "web"), "tcp", 8443)) == theirs

    @pytest.mark.parametrize("case", BLOCKED, ids=[c[0] for c in BLOCKED])
    def test_undeclared_traffic_is_dropped_and_counted(self, world, case):
        _, src, dst, counted = case
        world.assert_blocked(src, dst, counted)

    def test_spoofed_source_is_dropped(self, world):
        """web sends as app (app -> db is allowed): dropped, counted on web."""
        w = world
        app = w.address("A", "app")
        w.assert_blocked(("A", "web"), ("svc", "A", "db", 5432, "tcp"), ("A", "web"), spoof=app)

    def test_spoofed_udp_never_reaches_the_target(self, world):
        """A datagram as app to db:5353/udp would be echoed to app, so a
        timeout alone proves nothing: db must not have seen it either."""
        w = world
        app = w.address("A", "app")
        before = peers_in(w.log_lines("A", "db"), "udp", 5353).count(app)
        w.assert_blocked(("A", "web"), ("svc", "A", "db", 5353, "udp"), ("A", "web"), spoof=app)
        time.sleep(0.5)
        after = peers_in(w.log_lines("A", "db"), "udp", 5353).count(app)
        assert after == before, "a datagram with a forged source reached db"

    def test_spoofed_source_gets_no_egress(self, world):
        """web posing as app (which has egress 443) is not let out."""
        w = world
        app = w.address("A", "app")
        before = len(w.inet.peers(443))
        w.assert_blocked(("A", "web"), ("inet", 443), ("A", "web"), spoof=app)
        time.sleep(0.3)
        assert len(w.inet.peers(443)) == before, w.inet.reader.snapshot()

    def test_host_listener_answers_on_the_host(self, world):
        """The control for the host-listener cases: the listener answers on
        every address the tenants try, so only the firewall stops them."""
        for addr in (world.gateway("A"), world.gateway("B"), UPLINK_ADDR):
            r = netecho_result([NETECHO_HOST] + connect_args(addr, HOST_PORT), OK_MS)
            assert (r.rc, r.out) == (0, "ok"), r


# ---------------------------------------------------------------- reload

HOLD_S = 6  # a held connection's life: longer than a reload takes


def test_reload_adds_and_removes_a_flow_without_breaking_connections(dw, internet):
    w = start_world(dw, internet)
    pids = {(t, s): w.pid(t, s) for t in ("A", "B") for s in SERVICES}
    db = w.address("A", "db")
    w.assert_blocked(("A", "web"), ("svc", "A", "db", 5432, "tcp"), ("A", "web"))
    drops_before = w.drops("A", "web")

    # Connections held across the reload: in B (untouched) and in A (whose
    # rules are replaced; web -> app stays declared).
    holds = {}
    for t in ("B", "A"):
        p = subprocess.Popen(w.in_ns(t, "web", NETECHO_HOST, "hold", w.address(t, "app"), 8080,
                                     HOLD_S),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        dw.children.append(p)
        holds[t] = (p, LineReader(p.stdout))
    for t, (p, reader) in holds.items():
        assert wait_for(lambda: "connected" in reader.snapshot(), timeout=5), \
            f"{t}: netecho hold did not connect: {reader.snapshot()} rc {p.poll()}"

    dw.write_profile(w.A, doc=tenant_doc(dw, w.A, subnet=A_SUBNET, host_port=A_INGRESS,
                                         web_connect=["app:8080", "db:5432"]))
    res = dw.ctl("reload")
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    ok = wait_for(lambda: (lambda r: r if r.rc == 0 else None)(
        w.connect("A", "web", db, 5432, timeout_ms=1000)), timeout=10)
    if not ok:
        dw.fail(f"the flow web -> db:5432 added by reload does not work: "
                f"{w.connect('A', 'web', db, 5432, timeout_ms=1000)}")

    for t, (p, reader) in holds.items():
        assert p.poll() is None, (f"{t}: netecho hold ended before the reload took effect "
                                  f"(rc {p.poll()}, {reader.snapshot()}): raise HOLD_S")
    for t, (p, reader) in holds.items():
        try:
            rc = p.wait(timeout=HOLD_S + 10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{t}: netecho hold did not end: {reader.snapshot()}")
        reader.thread.join(timeout=5)
        assert rc == 0, (f"{t}: the connection held across the reload broke: rc {rc} "
                         f"{reader.snapshot()} {p.stderr.read().decode(errors='replace')}")
        assert reader.snapshot()[-1].startswith("ok "), reader.snapshot()

    # Only rules changed: no service of A or B was restarted, and A's web
    # kept its drop counter.
    for key, pid in pids.items():
        st = w.entry(*key)
        assert st["state"] == "running" and st["pid"] == pid, \
            f"{key} was restarted by a reload that changed only flows: {pid} -> {st}"
    assert w.drops("A", "web") >= drops_before

    # And taken away again: new connections are dropped once more.
    dw.write_profile(w.A, doc=tenant_doc(dw, w.A, subnet=A_SUBNET, host_port=A_INGRESS))
    res = dw.ctl("reload")
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    gone = wait_for(lambda: w.connect("A", "web", db, 5432, timeout_ms=BLOCKED_MS).rc != 0,
                    timeout=10)
    assert gone, "the flow removed by reload still works"
    w.assert_blocked(("A", "web"), ("svc", "A", "db", 5432, "tcp"), ("A", "web"))
    for key, pid in pids.items():
        assert w.pid(*key) == pid, f"{key} was restarted"


# ---------------------------------------------------------------- wardd's exit

def ns_holders(inodes):
    """Processes in, and nsfs mounts of, any of these network namespaces."""
    held = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and netns_ino(entry) in inodes:
            held.append(f"pid {entry}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        m = re.fullmatch(r"net:\[(\d+)\]", fields[3])
        if m and int(m.group(1)) in inodes:
            held.append(f"mount {fields[4]}")
    return held


def test_a_stopped_services_drop_counter_is_audited(dw, internet):
    """Issue 18, finding 7: the drop counter of a service goes with its
    elements when it stops; its count is written to the audit log
    ("service-drops") first, so the evidence of refused connections stays.
    Also when its whole tenant goes, and at wardd's exit."""
    w = start_world(dw, internet)
    w.assert_blocked(("A", "web"), ("svc", "A", "db", 5432, "tcp"), ("A", "web"))
    counted = w.drops("A", "web")
    addr = w.address("A", "web")
    assert counted >= 1
    res = dw.ctl("stop", f"{w.A}/web")
    assert res.returncode == 0, (res.stdout, res.stderr)
    rec = dw.wait_audit("service-drops", count=1, tenant=w.A, service="web")[-1]
    assert rec["drops"] >= counted and rec["address"] == addr, rec
    assert rec["link"].startswith("wrd"), rec
    # And at exit, every service still running leaves its count too.
    assert dw.stop_daemon(dw.daemons[-1]) == 0
    recs = dw.audit("service-drops", tenant=w.B)
    assert {r["service"] for r in recs} == set(SERVICES), recs
    assert all(isinstance(r["drops"], int) for r in recs), recs


def test_exit_removes_table_links_and_namespaces(dw, internet):
    w = start_world(dw, internet)
    d = dw.daemons[-1]
    inodes = {netns_ino(w.pid(t, s)) for t in ("A", "B") for s in SERVICES}
    ours = netns_ino("self")
    assert None not in inodes and ours not in inodes and len(inodes) == 6, inodes
    made = ward_links()
    assert len(made) == 6, made
    assert nft_table_exists()

    rc = dw.stop_daemon(d)
    assert rc == 0, d.stderr()
    assert ward_links() == [], f"wardd left links behind: {ward_links()}"
    assert not nft_table_exists(), run(["nft", "list", "table", "inet", "ward"],
                                       check=False).stdout
    assert wait_for(lambda: not ns_holders(inodes), timeout=5), \
        f"the services' network namespaces are still held: {ns_holders(inodes)}"
    assert UPLINK in links(), "wardd removed the uplink, which is not its own"


def test_restart_after_sigkill_starts_clean(dw, internet):
    """wardd killed outright leaves whatever it had in the kernel; the next
    wardd starts anyway, with working flows, and cleans up on its exit."""
    w = start_world(dw, internet)
    d = dw.daemons[-1]
    tree = d.tree()
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=10)
    tree = Snapshot(list(tree.procs))
    tree.kill()
    assert wait_for(lambda: not tree.alive(), timeout=10), tree.describe()

    dw.start_daemon()
    w.wait_ready(["A", "B"])
    w.assert_allowed(("A", "app"), ("svc", "A", "db", 5432, "tcp"))
    w.assert_blocked(("A", "web"), ("svc", "A", "db", 5432, "tcp"), ("A", "web"))
    assert wait_for(lambda: len(ward_links()) == 6, timeout=5), ward_links()
    rc = dw.stop_daemon(dw.daemons[-1])
    assert rc == 0, dw.daemons[-1].stderr()
    assert ward_links() == [] and not nft_table_exists()


# ---------------------------------------------------------------- allocation and overlaps

def test_pool_allocation_is_stable_across_restarts(dw):
    """No uplink; tenants without a subnet get one from the pool and keep
    it (and their addresses) across restarts, also when a tenant whose name
    sorts first arrives later."""
    dw.write_config(network=net_settings(dw, uplink=None))
    net = Net(dw, None)
    first, later = dw.name("zpool"), dw.name("apool")
    dw.write_profile(first, doc=tenant_doc(dw, first, egress=False))
    dw.start_daemon()
    net.wait_ready([first])

    def snapshot(t):
        n = wardctl_net(dw, t)
        return net_subnet(n), {s: net.address(t, s) for s in SERVICES}

    subnet, addrs = snapshot(first)
    s1 = ipaddress.IPv4Network(subnet)
    assert s1.subnet_of(ipaddress.IPv4Network(POOL)) and s1.prefixlen == PREFIX, subnet
    assert allocations_path(dw).is_file(), "no allocations file at the configured path"
    assert first in allocations_path(dw).read_text()

    rc = dw.stop_daemon(dw.daemons[-1])
    assert rc == 0, dw.daemons[-1].stderr()
    dw.write_profile(later, doc=tenant_doc(dw, later, egress=False))
    dw.start_daemon()
    net.wait_ready([first, later])
    assert snapshot(first) == (subnet, addrs), "a restart moved the tenant's network"
    subnet2, addrs2 = snapshot(later)
    s2 = ipaddress.IPv4Network(subnet2)
    assert s2.subnet_of(ipaddress.IPv4Network(POOL)) and not s2.overlaps(s1), (subnet, subnet2)

    rc = dw.stop_daemon(dw.daemons[-1])
    assert rc == 0, dw.daemons[-1].stderr()
    dw.start_daemon()
    net.wait_ready([first, later])
    assert snapshot(first) == (subnet, addrs)
    assert snapshot(later) == (subnet2, addrs2)


def overlap_errors_name(errors, other):
    return any(other in e for e in errors)


def test_overlapping_subnets_refused_at_start(dw):
    dw.write_config(network=net_settings(dw, uplink=None))
    net = Net(dw, None)
    a, b = dw.name("ova"), dw.name("ovb")
    dw.write_profile(a, doc=tenant_doc(dw, a, subnet="10.240.7.0/24", egress=False))
    dw.write_profile(b, doc=tenant_doc(dw, b, subnet="10.240.7.128/25", egress=False))
    dw.start_daemon()
    recs = dw.wait_audit("profile-rejected")
    assert len(recs) == 1, recs
    rejected = recs[0]["tenant"]
    assert rejected in (a, b), recs
    kept = a if rejected == b else b
    assert overlap_errors_name(recs[0]["errors"], kept), recs[0]
    net.wait_ready([kept])
    assert {e["tenant"] for e in dw.status()} == {kept}


def test_overlapping_subnet_refused_on_reload(dw):
    dw.write_config(network=net_settings(dw, uplink=None))
    net = Net(dw, None)
    a, b = dw.name("ova"), dw.name("ovb")
    dw.write_profile(a, doc=tenant_doc(dw, a, subnet="10.240.7.0/24", egress=False))
    dw.start_daemon()
    net.wait_ready([a])
    pids = {s: net.pid(a, s) for s in SERVICES}

    dw.write_profile(b, doc=tenant_doc(dw, b, subnet="10.240.7.128/25", egress=False))
    reply = dw.request({"cmd": "reload"}, timeout=10)
    assert reply.get("ok") is True, reply
    rejected = reply["report"]["rejected"]
    assert [r["tenant"] for r in rejected] == [b], reply
    assert overlap_errors_name(rejected[0]["errors"], a), rejected
    rec = dw.wait_audit("profile-rejected", tenant=b)[0]
    assert overlap_errors_name(rec["errors"], a), rec
    assert {e["tenant"] for e in dw.status()} == {a}
    assert {s: net.pid(a, s) for s in SERVICES} == pids
    assert len(ward_links()) == 3, ward_links()
