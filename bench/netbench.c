/* netbench: times ward's per-tenant network work (supervisor/netlink.c and
 * firewall.c, linked in from libward) against the ip and nft command lines
 * doing the same, side by side in one run, and TCP throughput through the
 * ruleset.
 *
 *   netbench segment -T DIR [-n TENANTS] [-r ROUNDS] [-w WARMUP]
 *   netbench apply   -T DIR [-n TENANTS] [-r ROUNDS] [-w WARMUP]
 *   netbench churn   -T DIR [-n TENANTS] [-r SAMPLES] [-w WARMUP]
 *   netbench tcp     -T DIR [-a FEW] [-b MANY] [-r ROUNDS] [-w WARMUP] [-d SECONDS]
 *
 * segment: N single-service tenants brought up: veth, addresses, routes and
 *   the tenant's rules. "ward": netlink_veth_setup + firewall_tenant_set per
 *   tenant. "cli": per tenant `ip -batch` (host end, service end made in the
 *   tenant's netns), `nsenter -t PID -n ip -batch` (the service end) and
 *   `nft -f` (the text firewall_tenant_text gives). "cli-bulk": one
 *   `ip -batch` and one `nft -f` for all tenants, one nsenter per tenant.
 *   The namespace holders are made before, the teardown is after the clock.
 * apply: N tenants of 3 services, one firewall_tenant_set each ("ward") vs
 *   all their rules in one `nft -f` ("nft"), onto the base table that
 *   firewall_open made (untimed, both sides).
 * churn: on N installed tenants one more is set and removed again:
 *   firewall_tenant_set/remove ("ward") vs `nft -f` of its text and one
 *   `nft delete element` per set ("nft"), and one `nft -f` of the deletes
 *   ("nft-1", delete only).
 * tcp: TCP from app to db:5432 of one tenant (two netns, ward veths, the
 *   tenant's rules) with FEW and MANY tenants installed, alternating.
 *
 * Output on stdout, for scripts/bench net:
 *     sample KIND N ROUND SIDE VALUE [EXTRA...]
 * VALUE is microseconds (KIND tcp: Gbit/s over the sample, then the median
 * of its 100 ms slices); "# " lines are notes. -s SIDE (segment, apply)
 * times only that side, for a profiler.
 *
 * Refuses to run in a namespace with links of its own (the host's): it
 * creates links and the `inet ward` table of the namespace it runs in, and
 * turns forwarding on there. The processes it keeps (namespace holders,
 * the firewall helper, the TCP ends) die with it (PR_SET_PDEATHSIG), its
 * links with the namespaces it made.
 * Build: see scripts/bench (links libward.a of a ward build). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/error.h"
#include "net/firewall.h"
#include "net/netlink.h"

/* Tenant i owns 10.(240 + i / 256).(i % 256).0/24; the gateway is .1, the
 * services .2, .3, .4. */
#define SUBNET_BASE 0x0af00000u
#define MAX_TENANTS 4000
#define MAX_SVC     3
#define INGRESS_0   10000 /* host port of tenant i: INGRESS_0 + i */
#define DB_PORT     5432
#define LINK_WAIT_S 120

extern char **environ;

static const char *tmpdir;
static const char *only_side; /* -s: time only this side (for perf) */
static int devnull = -1;
static int cmd_err = -1; /* stderr of the commands run: DIR/cmd.stderr */
static char cmd_err_path[PATH_MAX];

/* ------------------------------------------------------------------ util */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("netbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double us_since(int64_t t0)
{
	return (double)(now_ns() - t0) / 1e3;
}

static unsigned long parse_ulong(const char *opt, const char *s, unsigned long min,
				 unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		die("%s: a number from %lu to %lu, not '%s'", opt, min, max, s);
	return v;
}

static double parse_secs(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.1 && v <= 60))
		die("%s: seconds from 0.1 to 60, not '%s'", opt, s);
	return v;
}

/* DIR/NAME into buf (PATH_MAX). */
static char *path_in(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *path_in(char *buf, const char *fmt, ...)
{
	char name[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof name)
		die("file name too long");
	n = snprintf(buf, PATH_MAX, "%s/%s", tmpdir, name);
	if (n < 0 || n >= PATH_MAX)
		die("%s: path too long", tmpdir);
	return buf;
}

static void ip4(uint32_t addr, char buf[16])
{
	struct in_addr a = {.s_addr = htonl(addr)};
	if (!inet_ntop(AF_INET, &a, buf, 16))
		die("inet_ntop: %s", strerror(errno));
}

static FILE *create(const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		die("create %s: %s", path, strerror(errno));
	return f;
}

static void finish(FILE *f, const char *path)
{
	if (ferror(f) | fclose(f))
		die("write %s: failed", path);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile; sorts xs. */
static double pct(double *xs, size_t n, unsigned p)
{
	if (!n)
		return 0;
	qsort(xs, n, sizeof *xs, cmp_double);
	size_t k = (n * p + 99) / 100;
	return xs[k ? k - 1 : 0];
}

/* ------------------------------------------------------------- commands */

/* Runs argv (PATH searched) with stdout on /dev/null; dies with the
 * command's stderr when it fails. Costs one posix_spawn (vfork) and a wait,
 * as a script's line would. */
static void run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	if (ftruncate(cmd_err, 0) < 0)
		die("truncate %s: %s", cmd_err_path, strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, cmd_err, 2);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		die("spawn %s: %s", argv[0], strerror(rc));
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	char msg[2048] = "";
	int fd = open(cmd_err_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, msg, sizeof msg - 1);
		msg[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	fprintf(stderr, "netbench: command failed (status 0x%x):", st);
	for (int i = 0; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	die("\n%s", msg);
}

static void nft_file(const char *path)
{
	char *argv[] = {"nft", "-f", (char *)path, NULL};
	run(argv);
}

/* `nft list table inet ward` into PATH (untimed checks). */
static void nft_list(const char *path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;
	char *argv[] = {"nft", "list", "table", "inet", "ward", NULL};

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, cmd_err, 2);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		die("spawn nft: %s", strerror(rc));
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("nft list table inet ward failed (status 0x%x)", st);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A hash of the ruleset's lines, sorted (the listing order of elements need
 * not follow the order they were added in), for "did both sides install the
 * same rules". Set txn is left out: firewall.c moves its marker with every
 * change, the nft command lines do not. Counter values are part of it: the
 * checks run without traffic. */
static uint64_t ruleset_hash(const char *tag, size_t *lines)
{
	char path[PATH_MAX];
	path_in(path, "ruleset-%s.txt", tag);
	nft_list(path);

	FILE *f = fopen(path, "re");
	if (!f)
		die("open %s: %s", path, strerror(errno));
	char **v = NULL, *line = NULL;
	size_t n = 0, cap = 0, len = 0;
	bool in_txn = false;
	while (getline(&line, &len, f) > 0) {
		const char *p = line + strspn(line, " \t");
		if (!strncmp(p, "set txn {", 9))
			in_txn = true;
		if (in_txn) {
			in_txn = p[0] != '}';
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			char **grown = reallocarray(v, cap, sizeof *v);
			if (!grown)
				die("out of memory");
			v = grown;
		}
		v[n++] = strdup(line);
		if (!v[n - 1])
			die("out of memory");
	}
	free(line);
	(void)fclose(f);
	if (n)
		qsort(v, n, sizeof *v, cmp_str);
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		for (const char *p = v[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3u;
		free(v[i]);
	}
	free(v);
	*lines = n;
	return h;
}

static void ruleset_note(const char *kind, unsigned n, const char *side)
{
	char tag[64];
	size_t lines;
	int k = snprintf(tag, sizeof tag, "%s-%u-%s", kind, n, side);
	if (k < 0 || (size_t)k >= sizeof tag)
		die("tag too long");
	uint64_t h = ruleset_hash(tag, &lines);
	printf("# ruleset %s %u %s lines=%zu hash=%016" PRIx64 "\n", kind, n, side, lines, h);
	fflush(stdout);
}

/* -------------------------------------------------------------- tenants */

struct bench_tenant {
	char name[16];
	struct fw_service svc[MAX_SVC];
	struct fw_connect connect[MAX_SVC - 1];
	struct fw_egress egress;
	struct fw_ingress ingress;
	struct fw_tenant fw;
};

/* Tenant i with n_svc services: 1 {app}, 2 {app, db}, 3 {web, app, db};
 * each service may reach the next (web -> app:8080, app -> db:5432), the
 * first one 192.0.2.10:443 outside, and host port INGRESS_0 + i reaches the
 * first one's 8443: what a practice's profile declares. */
static void tenant_init(struct bench_tenant *t, unsigned i, size_t n_svc)
{
	static const char *const names[][MAX_SVC] = {{"app"}, {"app", "db"}, {"web", "app", "db"}};
	uint32_t subnet = SUBNET_BASE + (i << 8);

	memset(t, 0, sizeof *t);
	int k = snprintf(t->name, sizeof t->name, "t%04u", i);
	if (k < 0 || (size_t)k >= sizeof t->name)
		die("tenant name");
	for (size_t s = 0; s < n_svc; s++) {
		t->svc[s].name = names[n_svc - 1][s];
		t->svc[s].addr = subnet + 2 + (uint32_t)s;
		netlink_ifname(t->svc[s].addr, t->svc[s].ifname);
	}
	for (size_t s = 0; s + 1 < n_svc; s++) {
		bool to_db = !strcmp(t->svc[s + 1].name, "db");
		t->connect[s] = (struct fw_connect){
		    .from = s, .to = s + 1, .port = to_db ? DB_PORT : 8080, .proto = IPPROTO_TCP};
	}
	t->egress = (struct fw_egress){
	    .from = 0, .net = 0xc000020au, .prefix = 32, .port = 443, .proto = IPPROTO_TCP};
	t->ingress = (struct fw_ingress){
	    .host_port = (uint16_t)(INGRESS_0 + i), .to = 0, .port = 8443, .proto = IPPROTO_TCP};
	t->fw = (struct fw_tenant){
	    .name = t->name,
	    .subnet = subnet,
	    .prefix = 24,
	    .gateway = subnet + 1,
	    .services = t->svc,
	    .n_services = n_svc,
	    .connect = t->connect,
	    .n_connect = n_svc - 1,
	    .egress = &t->egress,
	    .n_egress = 1,
	    .ingress = &t->ingress,
	    .n_ingress = 1,
	};
}

static struct bench_tenant *tenants_make(unsigned n, size_t n_svc)
{
	struct bench_tenant *t = calloc(n, sizeof *t);
	if (!t)
		die("out of memory");
	for (unsigned i = 0; i < n; i++)
		tenant_init(&t[i], i, n_svc);
	return t;
}

static struct firewall *fw_open(void)
{
	struct firewall_options opts = {.uplink = NULL, .drop_foreign_forwarding = false};
	struct ward_err err = {0};
	struct firewall *fw = firewall_open(&opts, &err);
	if (!fw)
		die("firewall_open: %s", err.msg);
	return fw;
}

static void fw_set(struct firewall *fw, const struct bench_tenant *t)
{
	struct ward_err err = {0};
	if (firewall_tenant_set(fw, &t->fw, &err) < 0)
		die("firewall_tenant_set %s: %s", t->name, err.msg);
}

static void fw_remove(struct firewall *fw, const struct bench_tenant *t)
{
	struct ward_err err = {0};
	if (firewall_tenant_remove(fw, t->name, &err) < 0)
		die("firewall_tenant_remove %s: %s", t->name, err.msg);
}

/* Appends the tenant's nft text (what firewall_tenant_set applies) to f. */
static void put_tenant_text(FILE *f, struct firewall *fw, const struct bench_tenant *t)
{
	struct ward_err err = {0};
	char *text = firewall_tenant_text(fw, &t->fw, &err);
	if (!text)
		die("firewall_tenant_text %s: %s", t->name, err.msg);
	fputs(text, f);
	if (text[0] && text[strlen(text) - 1] != '\n')
		fputc('\n', f);
	free(text);
}

/* -------------------------------------------------------------- holders */

/* A process sitting in a network namespace of its own: the stand-in for a
 * service whose veth is to be made. */
struct holder {
	pid_t pid;
	int pidfd;
};

/* In a forked child: only keep fd `keep` (and stdio). */
static void child_close_fds(int keep)
{
	if (keep > 3)
		syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u);
	syscall(SYS_close_range, (unsigned)(keep >= 3 ? keep + 1 : 3), ~0u, 0u);
}

static void holders_start(struct holder *h, size_t n)
{
	pid_t parent = getpid();
	for (size_t i = 0; i < n; i++) {
		int p[2];
		char c = 0;
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		pid_t pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[0]);
			child_close_fds(p[1]);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			c = unshare(CLONE_NEWNET) == 0 ? 'R' : 'E';
			if (write(p[1], &c, 1) != 1 || c != 'R')
				_exit(1);
			close(p[1]);
			for (;;)
				pause();
		}
		close(p[1]);
		ssize_t got;
		do
			got = read(p[0], &c, 1);
		while (got < 0 && errno == EINTR);
		close(p[0]);
		if (got != 1 || c != 'R')
			die("holder %zu: no network namespace (unshare failed)", i);
		h[i].pid = pid;
		h[i].pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (h[i].pidfd < 0)
			die("pidfd_open: %s", strerror(errno));
	}
}

static void holders_stop(struct holder *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kill(h[i].pid, SIGKILL);
	for (size_t i = 0; i < n; i++) {
		while (waitpid(h[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(h[i].pidfd);
	}
}

/* Waits until no host end of the tenants' services is left (the kernel
 * removes a veth with its namespace, asynchronously); returns the wait in
 * microseconds. */
static double links_wait_gone(const struct bench_tenant *t, unsigned n)
{
	int64_t t0 = now_ns();
	unsigned i = 0;
	while (i < n) {
		size_t s;
		for (s = 0; s < t[i].fw.n_services; s++)
			if (if_nametoindex(t[i].svc[s].ifname))
				break;
		if (s == t[i].fw.n_services) {
			i++;
			continue;
		}
		if (now_ns() - t0 > (int64_t)LINK_WAIT_S * 1000000000)
			die("%s still exists %d s after its namespace was killed",
			    t[i].svc[s].ifname, LINK_WAIT_S);
		usleep(10000);
	}
	return us_since(t0);
}

static void veth_setup(struct netlink *nl, const struct bench_tenant *t, size_t s,
		       const struct holder *h)
{
	struct veth_spec spec = {
	    .host_if = t->svc[s].ifname,
	    .pid = h->pid,
	    .pidfd = h->pidfd,
	    .addr = t->svc[s].addr,
	    .gateway = t->fw.gateway,
	};
	struct ward_err err = {0};
	if (netlink_veth_setup(nl, &spec, &err) < 0)
		die("netlink_veth_setup %s: %s", t->svc[s].ifname, err.msg);
}

/* -------------------------------------------------------------- segment */

/* The host-side ip lines of one single-service tenant: the pair, the
 * service end made in the holder's namespace as eth0, no IPv6 link-local
 * (what netlink_veth_setup does). */
static void put_host_lines(FILE *f, const struct bench_tenant *t, pid_t pid)
{
	char gw[16], addr[16];
	const char *ifn = t->svc[0].ifname;
	ip4(t->fw.gateway, gw);
	ip4(t->svc[0].addr, addr);
	fprintf(f,
		"link add %s type veth peer name eth0 netns %d\n"
		"link set %s addrgenmode none\n"
		"addr add %s/32 dev %s\n"
		"link set %s up\n"
		"route add %s/32 dev %s\n",
		ifn, (int)pid, ifn, gw, ifn, ifn, addr, ifn);
}

static void write_inside(const char *path, const struct bench_tenant *t)
{
	char gw[16], addr[16];
	ip4(t->fw.gateway, gw);
	ip4(t->svc[0].addr, addr);
	FILE *f = create(path);
	fprintf(f,
		"link set eth0 addrgenmode none\n"
		"addr add %s/32 dev eth0\n"
		"link set eth0 up\n"
		"route add %s/32 dev eth0 scope link\n"
		"route add default via %s dev eth0 onlink\n",
		addr, gw, gw);
	finish(f, path);
}

enum seg_side { SEG_WARD, SEG_CLI, SEG_BULK };
static const char *const seg_names[] = {"ward", "cli", "cli-bulk"};

/* One side's bring-up of n tenants into fresh holders; prints the sample. */
static void segment_once(struct netlink *nl, struct bench_tenant *t, unsigned n, enum seg_side side,
			 long round)
{
	struct holder *h = calloc(n, sizeof *h);
	char path[PATH_MAX], pidbuf[16];
	double part[2] = {0, 0}; /* ward: veth, rules; cli: ip + nsenter, nft */
	int64_t t0, t1;

	if (!h)
		die("out of memory");
	holders_start(h, n);
	struct firewall *fw = fw_open();

	/* the command files are written before the clock starts */
	if (side == SEG_CLI) {
		for (unsigned i = 0; i < n; i++) {
			FILE *f = create(path_in(path, "seg-host-%u.ip", i));
			put_host_lines(f, &t[i], h[i].pid);
			finish(f, path);
			write_inside(path_in(path, "seg-in-%u.ip", i), &t[i]);
			f = create(path_in(path, "seg-%u.nft", i));
			put_tenant_text(f, fw, &t[i]);
			finish(f, path);
		}
	} else if (side == SEG_BULK) {
		FILE *f = create(path_in(path, "seg-host-all.ip"));
		for (unsigned i = 0; i < n; i++)
			put_host_lines(f, &t[i], h[i].pid);
		finish(f, path);
		f = create(path_in(path, "seg-all.nft"));
		for (unsigned i = 0; i < n; i++) {
			put_tenant_text(f, fw, &t[i]);
			write_inside(path_in(path, "seg-in-%u.ip", i), &t[i]);
		}
		finish(f, path);
	}

	usleep(200000); /* the kernel's deferred work of the holders' netns goes first */
	int64_t start = now_ns();
	switch (side) {
	case SEG_WARD:
		for (unsigned i = 0; i < n; i++) {
			t0 = now_ns();
			veth_setup(nl, &t[i], 0, &h[i]);
			t1 = now_ns();
			fw_set(fw, &t[i]);
			part[0] += (double)(t1 - t0) / 1e3;
			part[1] += us_since(t1);
		}
		break;
	case SEG_CLI:
		for (unsigned i = 0; i < n; i++) {
			char host[PATH_MAX], in[PATH_MAX], rules[PATH_MAX];
			path_in(host, "seg-host-%u.ip", i);
			path_in(in, "seg-in-%u.ip", i);
			path_in(rules, "seg-%u.nft", i);
			(void)snprintf(pidbuf, sizeof pidbuf, "%d", (int)h[i].pid);
			char *ip_host[] = {"ip", "-batch", host, NULL};
			char *ip_in[] = {"nsenter", "-t", pidbuf, "-n", "ip", "-batch", in, NULL};
			t0 = now_ns();
			run(ip_host);
			run(ip_in);
			t1 = now_ns();
			nft_file(rules);
			part[0] += (double)(t1 - t0) / 1e3;
			part[1] += us_since(t1);
		}
		break;
	case SEG_BULK: {
		char host[PATH_MAX];
		char *ip_host[] = {"ip", "-batch", path_in(host, "seg-host-all.ip"), NULL};
		t0 = now_ns();
		run(ip_host);
		for (unsigned i = 0; i < n; i++) {
			char in[PATH_MAX];
			(void)snprintf(pidbuf, sizeof pidbuf, "%d", (int)h[i].pid);
			char *ip_in[] = {"nsenter",
					 "-t",
					 pidbuf,
					 "-n",
					 "ip",
					 "-batch",
					 path_in(in, "seg-in-%u.ip", i),
					 NULL};
			run(ip_in);
		}
		t1 = now_ns();
		nft_file(path_in(path, "seg-all.nft"));
		part[0] = (double)(t1 - t0) / 1e3;
		part[1] = us_since(t1);
		break;
	}
	}
	double total = us_since(start);

	for (unsigned i = 0; i < n; i++)
		if (!if_nametoindex(t[i].svc[0].ifname))
			die("%s: %s missing after the bring-up", seg_names[side],
			    t[i].svc[0].ifname);
	if (round == 0)
		ruleset_note("segment", n, seg_names[side]);
	if (round >= 0)
		printf("sample segment %u %ld %s %.1f %.1f %.1f\n", n, round, seg_names[side],
		       total, part[0], part[1]);

	/* teardown: the kernel removes the veths with the namespaces */
	int64_t td = now_ns();
	holders_stop(h, n);
	double gone = links_wait_gone(t, n);
	firewall_close(fw, true);
	printf("# teardown segment %u %ld %s links_gone_us=%.0f total_us=%.0f\n", n, round,
	       seg_names[side], gone, us_since(td));
	fflush(stdout);
	free(h);
}

static void mode_segment(struct netlink *nl, unsigned n, long rounds, long warmup)
{
	struct bench_tenant *t = tenants_make(n, 1);
	printf("# netbench segment tenants=%u rounds=%ld warmup=%ld order=alternating "
	       "sides=ward,cli,cli-bulk\n",
	       n, rounds, warmup);
	fflush(stdout);
	for (long r = -warmup; r < rounds; r++)
		for (int side = SEG_WARD; side <= SEG_BULK; side++)
			if (!only_side || !strcmp(only_side, seg_names[side]))
				segment_once(nl, t, n, (enum seg_side)side, r);
	free(t);
}

/* ---------------------------------------------------------------- apply */

/* n tenants, one firewall_tenant_set each, onto a fresh base table. */
static void apply_ward(struct bench_tenant *t, unsigned n, long r, double *calls)
{
	struct firewall *fw = fw_open();
	int64_t start = now_ns();
	for (unsigned i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		fw_set(fw, &t[i]);
		calls[i] = us_since(t0);
	}
	double total = us_since(start);
	/* the last tenth: one transaction on an almost full table */
	double last = pct(calls + n - (n + 9) / 10, (n + 9) / 10, 50);
	double p50 = pct(calls, n, 50), p90 = pct(calls, n, 90);
	if (r == 0)
		ruleset_note("apply", n, "ward");
	if (r >= 0)
		printf("sample apply %u %ld ward %.1f %.1f %.1f %.1f\n", n, r, total, p50, p90,
		       last);
	firewall_close(fw, true);
}

/* The same rules in one `nft -f`, onto a fresh base table. */
static void apply_nft(struct bench_tenant *t, unsigned n, long r)
{
	char path[PATH_MAX];
	struct firewall *fw = fw_open();
	FILE *f = create(path_in(path, "apply-all.nft"));
	for (unsigned i = 0; i < n; i++)
		put_tenant_text(f, fw, &t[i]);
	finish(f, path);
	int64_t t0 = now_ns();
	nft_file(path);
	double total = us_since(t0);
	if (r == 0)
		ruleset_note("apply", n, "nft");
	if (r >= 0)
		printf("sample apply %u %ld nft %.1f\n", n, r, total);
	firewall_close(fw, true);
}

static void mode_apply(unsigned n, long rounds, long warmup)
{
	struct bench_tenant *t = tenants_make(n, 3);
	double *calls = calloc(n, sizeof *calls);

	if (!calls)
		die("out of memory");
	printf("# netbench apply tenants=%u services=3 rounds=%ld warmup=%ld order=alternating "
	       "sides=ward,nft\n",
	       n, rounds, warmup);
	for (long r = -warmup; r < rounds; r++) {
		if (!only_side || !strcmp(only_side, "ward"))
			apply_ward(t, n, r, calls);
		if (!only_side || !strcmp(only_side, "nft"))
			apply_nft(t, n, r);
	}
	free(calls);
	free(t);
}

/* ---------------------------------------------------------------- churn */

/* The `nft delete` commands that undo a tenant's text, one per set or map,
 * derived from the text: firewall.c holds a tenant in elements only,
 *   add element inet ward SET { K1, K2 }            -> delete element inet ward SET { K1, K2 }
 *   add element inet ward MAP { K1 : V1, K2 : V2 }  -> delete element inet ward MAP { K1, K2 }
 * and anything else in the text is not known here (dies). One command a
 * line, without the leading "nft". */
static size_t delete_commands(const char *text, char ***out)
{
	char **v = NULL;
	size_t n = 0;
	char *copy = strdup(text), *save = NULL;

	if (!copy)
		die("out of memory");
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char fam[16], tab[64], set[64];
		int used = 0;
		line += strspn(line, " \t");
		if (!line[0])
			continue;
		if (sscanf(line, "add element %15s %63s %63s {%n", fam, tab, set, &used) < 3 ||
		    !used)
			die("churn: cannot derive a delete from: %s", line);
		/* the keys of "k1 : v1, k2 : v2 }": keys and values hold no ':' or ',' */
		char keys[8192];
		size_t kl = 0;
		const char *q = line + used;
		const char *end = strchr(q, '}');
		if (!end)
			die("churn: no '}' in: %s", line);
		while (q < end) {
			size_t span = strcspn(q, ":,}");
			const char *a = q, *b = q + span;
			while (a < b && *a == ' ')
				a++;
			while (b > a && b[-1] == ' ')
				b--;
			int w = snprintf(keys + kl, sizeof keys - kl, "%s%.*s", kl ? ", " : "",
					 (int)(b - a), a);
			if (w < 0 || (size_t)w >= sizeof keys - kl)
				die("churn: element list too long");
			kl += (size_t)w;
			q += span;
			if (*q == ':')
				q += strcspn(q, ",}"); /* skip the value */
			if (*q == ',')
				q++;
		}
		char **grown = reallocarray(v, n + 2, sizeof *v);
		if (!grown)
			die("out of memory");
		v = grown;
		if (asprintf(&v[n], "delete element %s %s %s { %s }", fam, tab, set, keys) < 0)
			die("out of memory");
		v[++n] = NULL;
	}
	free(copy);
	*out = v;
	return n;
}

/* Splits one command line into argv for `nft`: nft joins its arguments with
 * spaces again, so splitting at spaces is enough. */
static char **nft_argv(const char *cmd)
{
	size_t n = 2;
	for (const char *p = cmd; *p; p++)
		n += *p == ' ';
	char **argv = calloc(n + 1, sizeof *argv);
	char *copy = strdup(cmd), *save = NULL;
	if (!argv || !copy)
		die("out of memory");
	size_t i = 0;
	argv[i++] = strdup("nft");
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		argv[i++] = strdup(w);
	argv[i] = NULL;
	free(copy);
	for (size_t k = 0; k < i; k++)
		if (!argv[k])
			die("out of memory");
	return argv;
}

static void argv_free(char **argv)
{
	for (size_t k = 0; argv[k]; k++)
		free(argv[k]);
	free(argv);
}

static void mode_churn(unsigned n, long samples, long warmup)
{
	struct bench_tenant *t = tenants_make(n + 1, 3);
	struct bench_tenant *extra = &t[n];
	char add_path[PATH_MAX], del_path[PATH_MAX];

	printf("# netbench churn tenants=%u services=3 samples=%ld warmup=%ld order=alternating "
	       "sides=ward,nft,nft-1\n",
	       n, samples, warmup);
	fflush(stdout);
	struct firewall *fw = fw_open();
	int64_t t0 = now_ns();
	for (unsigned i = 0; i < n; i++)
		fw_set(fw, &t[i]);
	printf("# churn load %u tenants through firewall_tenant_set: %.0f us\n", n, us_since(t0));

	struct ward_err err = {0};
	char *text = firewall_tenant_text(fw, &extra->fw, &err);
	if (!text)
		die("firewall_tenant_text %s: %s", extra->name, err.msg);
	FILE *f = create(path_in(add_path, "churn-add.nft"));
	fputs(text, f);
	finish(f, add_path);
	char **dels;
	size_t n_dels = delete_commands(text, &dels);
	free(text);
	if (!n_dels)
		die("no delete commands derived from %s", add_path);
	f = create(path_in(del_path, "churn-del.nft"));
	char ***argvs = calloc(n_dels, sizeof *argvs);
	if (!argvs)
		die("out of memory");
	for (size_t i = 0; i < n_dels; i++) {
		fprintf(f, "%s\n", dels[i]);
		argvs[i] = nft_argv(dels[i]);
	}
	finish(f, del_path);
	printf("# churn nft delete commands: %zu (in %s)\n", n_dels, del_path);

	size_t lines;
	uint64_t base = ruleset_hash("churn-base", &lines);
	for (long s = -warmup; s < samples; s++) {
		bool check = s == -warmup;
		int64_t a = now_ns();
		fw_set(fw, extra);
		double add = us_since(a);
		a = now_ns();
		fw_remove(fw, extra);
		double del = us_since(a);
		if (check) {
			uint64_t h = ruleset_hash("churn-ward", &lines);
			printf("# churn check ward: ruleset after set+remove %s the one before\n",
			       h == base ? "is" : "DIFFERS FROM");
		}
		if (s >= 0)
			printf("sample add %u %ld ward %.1f\nsample del %u %ld ward %.1f\n", n, s,
			       add, n, s, del);

		a = now_ns();
		nft_file(add_path);
		add = us_since(a);
		a = now_ns();
		for (size_t i = 0; i < n_dels; i++)
			run(argvs[i]);
		del = us_since(a);
		if (check) {
			uint64_t h = ruleset_hash("churn-nft", &lines);
			printf("# churn check nft: ruleset after nft -f + nft delete %s the one "
			       "before\n",
			       h == base ? "is" : "DIFFERS FROM");
		}
		if (s >= 0)
			printf("sample add %u %ld nft %.1f\nsample del %u %ld nft %.1f\n", n, s,
			       add, n, s, del);

		nft_file(add_path); /* untimed: nft-1 times the delete only */
		a = now_ns();
		nft_file(del_path);
		del = us_since(a);
		if (check) {
			uint64_t h = ruleset_hash("churn-nft-1", &lines);
			printf(
			    "# churn check nft-1: ruleset after nft -f of the deletes %s the one "
			    "before\n",
			    h == base ? "is" : "DIFFERS FROM");
		}
		if (s >= 0)
			printf("sample del %u %ld nft-1 %.1f\n", n, s, del);
		fflush(stdout);
	}
	for (size_t i = 0; i < n_dels; i++) {
		argv_free(argvs[i]);
		free(dels[i]);
	}
	free(argvs);
	free(dels);
	firewall_close(fw, true);
	free(t);
}

/* ------------------------------------------------------------------ tcp */

/* In a forked child: into h's network namespace, then only fd `keep` (and
 * stdio) stays open. */
static void enter_netns(const struct holder *h, int keep)
{
	if (setns(h->pidfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "netbench: setns: %s\n", strerror(errno));
		_exit(1);
	}
	child_close_fds(keep);
}

#define SLICE_NS   100000000 /* the receiver's rate is also taken per 100 ms */
#define MAX_SLICES 1024

struct blast_result {
	uint64_t bytes;
	int64_t ns;
	double slice_gbit; /* median rate of the whole 100 ms slices */
};

/* The receiver, in db's namespace: accepts one connection on addr:port,
 * tells the parent it listens ('R' on fd), counts what arrives from the
 * first byte to EOF, per 100 ms slice too (a slice's median rate shrugs off
 * a burst of other work on a shared machine), and writes a blast_result to
 * fd. */
static void receiver(const struct holder *db, uint32_t addr, uint16_t port, int fd)
{
	enter_netns(db, fd);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr)};
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0) {
		fprintf(stderr, "netbench: receiver: %s\n", strerror(errno));
		_exit(1);
	}
	char c = 'R';
	if (write(fd, &c, 1) != 1)
		_exit(1);
	int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		_exit(1);
	static char buf[1 << 18];
	static double slices[MAX_SLICES];
	struct blast_result res = {0};
	int64_t t0 = 0, slice_t0 = 0;
	uint64_t slice_bytes = 0;
	size_t n_slices = 0;
	for (;;) {
		ssize_t n = read(s, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		if (n == 0)
			break;
		int64_t now = now_ns();
		if (!t0) {
			t0 = slice_t0 = now; /* the first read's bytes arrived before the clock */
			continue;
		}
		res.bytes += (uint64_t)n;
		slice_bytes += (uint64_t)n;
		if (now - slice_t0 >= SLICE_NS && n_slices < MAX_SLICES) {
			slices[n_slices++] = (double)slice_bytes * 8 / (double)(now - slice_t0);
			slice_t0 = now;
			slice_bytes = 0;
		}
	}
	res.ns = t0 ? now_ns() - t0 : 0;
	res.slice_gbit = pct(slices, n_slices, 50);
	if (write(fd, &res, sizeof res) != (ssize_t)sizeof res)
		_exit(1);
	_exit(0);
}

/* The sender, in app's namespace: writes to addr:port for secs (0: only
 * connects, within 500 ms, and exits 0 if it could). */
static void sender(const struct holder *app, uint32_t addr, uint16_t port, double secs)
{
	enter_netns(app, -1);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr)};
	if (s < 0)
		_exit(2);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
		_exit(1);
	struct pollfd p = {.fd = s, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof err;
	if (poll(&p, 1, 500) != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		_exit(1);
	if (secs == 0)
		_exit(0);
	int fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(s, F_SETFL, fl & ~O_NONBLOCK) < 0)
		_exit(2);
	static char buf[1 << 18];
	memset(buf, 'x', sizeof buf);
	int64_t end = now_ns() + (int64_t)(secs * 1e9);
	while (now_ns() < end) {
		ssize_t n = write(s, buf, sizeof buf);
		if (n < 0 && errno != EINTR)
			_exit(2);
	}
	close(s);
	_exit(0);
}

static pid_t fork_child(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(1);
	return pid;
}

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One transfer app -> db:port; Gbit/s over the whole transfer, and the
 * median of its 100 ms slices in *slice_gbit; or -1 when the connection
 * could not be made (secs 0: only the connection is tried; 0 or -1). */
static double blast(const struct holder *app, const struct holder *db, uint32_t addr, uint16_t port,
		    double secs, double *slice_gbit)
{
	int p[2];
	char c;
	*slice_gbit = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid_t rx = fork_child();
	if (rx == 0)
		receiver(db, addr, port, p[1]);
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		die("the receiver did not start (status %d)", wait_child(rx));
	pid_t tx = fork_child();
	if (tx == 0)
		sender(app, addr, port, secs);
	int tx_st = wait_child(tx);
	if (tx_st != 0 || secs == 0) {
		kill(rx, SIGKILL);
		wait_child(rx);
		close(p[0]);
		if (tx_st == 2)
			die("the sender failed");
		return tx_st == 0 ? 0 : -1;
	}
	struct blast_result res;
	ssize_t got = read(p[0], &res, sizeof res);
	close(p[0]);
	if (wait_child(rx) != 0 || got != (ssize_t)sizeof res || res.ns <= 0)
		die("the receiver failed");
	*slice_gbit = res.slice_gbit;
	return (double)res.bytes * 8 / (double)res.ns;
}

static void tcp_load(struct firewall *fw, struct bench_tenant *t, unsigned from, unsigned to,
		     bool set, const char *what)
{
	int64_t t0 = now_ns();
	for (unsigned i = from; i < to; i++) {
		if (set)
			fw_set(fw, &t[i]);
		else
			fw_remove(fw, &t[i]);
	}
	printf("# tcp %s tenants %u..%u: %.0f us\n", what, from, to - 1, us_since(t0));
	usleep(200000); /* let deferred freeing of the old ruleset settle */
}

static void mode_tcp(struct netlink *nl, unsigned few, unsigned many, long rounds, long warmup,
		     double secs)
{
	/* tenant 0: app and db, the pair under test; the others: 3 services */
	struct bench_tenant *t = tenants_make(many, 3);
	tenant_init(&t[0], 0, 2);
	struct holder h[2];
	uint32_t db = t[0].svc[1].addr;

	printf("# netbench tcp few=%u many=%u rounds=%ld warmup=%ld secs=%.2f "
	       "order=alternating\n",
	       few, many, rounds, warmup, secs);
	holders_start(h, 2);
	struct firewall *fw = fw_open();
	veth_setup(nl, &t[0], 0, &h[0]);
	veth_setup(nl, &t[0], 1, &h[1]);
	tcp_load(fw, t, 0, few, true, "set");

	/* the rules are in the path: a port no flow allows is dropped */
	double slice;
	double probe = blast(&h[0], &h[1], db, DB_PORT + 1, 0, &slice);
	printf("# tcp check: app -> db:%d (no flow) %s\n", DB_PORT + 1,
	       probe < 0 ? "dropped" : "CONNECTED: the ruleset is not in the path");
	if (blast(&h[0], &h[1], db, DB_PORT, 0, &slice) < 0)
		die("app -> db:%d (the tenant's flow) does not connect", DB_PORT);
	struct ward_err err = {0};
	json_t *counters = firewall_counters(fw, &err);
	if (counters) {
		json_t *c = json_object_get(counters, t[0].svc[0].ifname);
		printf("# tcp check: drop counter of %s: %" JSON_INTEGER_FORMAT " packets\n",
		       t[0].svc[0].ifname, json_integer_value(json_object_get(c, "packets")));
		json_decref(counters);
	} else {
		printf("# tcp check: firewall_counters failed: %s\n", err.msg);
	}
	fflush(stdout);

	for (long r = -warmup; r < rounds; r++) {
		/* every other round the loaded side goes first */
		for (int k = 0; k < 2; k++) {
			bool loaded = (k == 1) != (r % 2 != 0);
			if (loaded)
				tcp_load(fw, t, few, many, true, "set");
			double g = blast(&h[0], &h[1], db, DB_PORT, secs, &slice);
			if (g < 0)
				die("app -> db:%d did not connect", DB_PORT);
			if (r >= 0)
				printf("sample tcp %u %ld %s %.3f %.3f\n", loaded ? many : few, r,
				       loaded ? "many" : "few", g, slice);
			if (loaded)
				tcp_load(fw, t, few, many, false, "remove");
			fflush(stdout);
		}
	}
	holders_stop(h, 2);
	links_wait_gone(t, 1);
	firewall_close(fw, true);
	free(t);
}

/* ----------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr, "usage: netbench segment -T DIR [-n TENANTS] [-r ROUNDS] [-w WARMUP]\n"
			"       netbench apply   -T DIR [-n TENANTS] [-r ROUNDS] [-w WARMUP]\n"
			"       (segment, apply: -s SIDE times only that side, for profiling)\n"
			"       netbench churn   -T DIR [-n TENANTS] [-r SAMPLES] [-w WARMUP]\n"
			"       netbench tcp     -T DIR [-a FEW] [-b MANY] [-r ROUNDS] [-w WARMUP] "
			"[-d SECONDS]\n");
	exit(2);
}

/* The namespace this runs in must be one made for the run: not init's (when
 * that can be seen: /proc/1 may be out of reach), and holding no link but lo
 * and ward's. */
static void refuse_foreign_netns(void)
{
	struct stat self, init;
	if (stat("/proc/self/ns/net", &self) < 0)
		die("/proc/self/ns/net: %s", strerror(errno));
	if (stat("/proc/1/ns/net", &init) == 0 && self.st_ino == init.st_ino &&
	    self.st_dev == init.st_dev)
		die("runs only in a network namespace made for it (scripts/bench net does that)");
	struct if_nameindex *ifs = if_nameindex();
	if (!ifs)
		die("if_nameindex: %s", strerror(errno));
	for (struct if_nameindex *i = ifs; i->if_index; i++)
		if (strcmp(i->if_name, "lo") != 0 &&
		    strncmp(i->if_name, WARD_IFNAME_PREFIX, strlen(WARD_IFNAME_PREFIX)) != 0)
			die("link %s: this is not a network namespace made for the run "
			    "(scripts/bench net makes one)",
			    i->if_name);
	if_freenameindex(ifs);
}

static void forwarding_on(void)
{
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1\n", 2) != 2)
		die("ip_forward: %s", strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	unsigned long n = 0, few = 10, many = 1000, rounds = 0, warmup = 1;
	double secs = 1.5;
	int opt;

	if (argc < 2)
		usage();
	const char *mode = argv[1];
	bool seg = !strcmp(mode, "segment"), apply = !strcmp(mode, "apply"),
	     churn = !strcmp(mode, "churn"), tcp = !strcmp(mode, "tcp");
	if (!seg && !apply && !churn && !tcp)
		usage();
	n = seg ? 10 : 1000;
	rounds = seg || apply ? 3 : churn ? 50 : 5;
	optind = 2;
	while ((opt = getopt(argc, argv, "T:n:r:w:a:b:d:s:h")) != -1) {
		switch (opt) {
		case 'T':
			tmpdir = optarg;
			break;
		case 'n':
			n = parse_ulong("-n", optarg, 1, MAX_TENANTS - 1);
			break;
		case 'r':
			rounds = parse_ulong("-r", optarg, 1, 100000);
			break;
		case 'w':
			warmup = parse_ulong("-w", optarg, 0, 1000);
			break;
		case 'a':
			few = parse_ulong("-a", optarg, 1, MAX_TENANTS);
			break;
		case 'b':
			many = parse_ulong("-b", optarg, 1, MAX_TENANTS);
			break;
		case 'd':
			secs = parse_secs("-d", optarg);
			break;
		case 's':
			only_side = optarg;
			break;
		default:
			usage();
		}
	}
	if (!tmpdir || optind != argc)
		usage();
	if (tcp && few >= many)
		die("-a FEW must be below -b MANY");

	refuse_foreign_netns();
	forwarding_on();
	setvbuf(stdout, NULL, _IOLBF, 0);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		die("/dev/null: %s", strerror(errno));
	path_in(cmd_err_path, "cmd.stderr");
	cmd_err = open(cmd_err_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (cmd_err < 0)
		die("open %s: %s", cmd_err_path, strerror(errno));

	struct netlink *nl = NULL;
	if (seg || tcp) {
		struct ward_err err = {0};
		nl = netlink_open(&err);
		if (!nl)
			die("netlink_open: %s", err.msg);
	}
	if (seg)
		mode_segment(nl, (unsigned)n, (long)rounds, (long)warmup);
	else if (apply)
		mode_apply((unsigned)n, (long)rounds, (long)warmup);
	else if (churn)
		mode_churn((unsigned)n, (long)rounds, (long)warmup);
	else
		mode_tcp(nl, (unsigned)few, (unsigned)many, (long)rounds, (long)warmup, secs);
	if (nl)
		netlink_close(nl);
	return 0;
}
