/* probe: run inside a ward sandbox by the integration tests; reports what it
 * sees as one JSON object on stdout, so the tests can check it from outside.
 *
 * Usage: probe CMD [ARG] [CMD [ARG]]...   (commands run in order)
 *
 *   pid                 pid, ppid, sid, pgid
 *   pids                numeric entries of /proc
 *   procs               pid, ppid, state, comm of every process in /proc
 *   hostname            uname nodename
 *   ids                 real/effective/saved uid and gid, supplementary groups
 *   status              Cap*, NoNewPrivs, Seccomp*, Uid, Gid, Groups, Cpus_allowed_list
 *                       of /proc/self/status
 *   securebits          prctl(PR_GET_SECUREBITS)
 *   fds                 open fds (readdir /proc/self/fd) with their targets
 *   env                 the whole environment, in order
 *   argv                this program's argv
 *   rlimits             nofile, core, nproc (soft, hard; -1 is infinity)
 *   mounts              /proc/self/mountinfo: mount point, options, type
 *   interfaces          network interfaces (/proc/self/net/dev) and whether up
 *   loopback            listen on 127.0.0.1:0, connect, exchange a byte
 *   ls PATH             directory entries with type and device numbers
 *   exists PATH         lstat of PATH
 *   try-read PATH       open O_RDONLY and read up to 4096 bytes
 *   try-write PATH      open O_WRONLY|O_CREAT|O_TRUNC 0600 and write "probe\n"
 *   cat PATH            the whole text of PATH (up to 64 KiB)
 *   read-stdin          read fd 0 to its end: byte count and the first bytes
 *   ptys                open /dev/ptmx until refused (at most 2000): how many
 *                       and the errno of the refusal
 *   tty-mess            on the terminal at fd 0: echo and canonical mode off,
 *                       exclusive use on (what a service could leave behind
 *                       in the operator's terminal)
 *   bind-tcp PORT       bind a TCP socket to 127.0.0.1:PORT
 *   syscall NAME        one syscall in a forked child: return value and errno,
 *                       or the signal that killed the child
 *   int80               a 32-bit `int $0x80` getpid in a forked child
 *   shm-create KEY      SysV shared memory segment, mode 0666, kept
 *   shm-find KEY        shmget(KEY, 0, 0)
 *   unix-listen NAME    listen on the abstract unix socket @NAME (kept open)
 *   unix-connect NAME   connect to @NAME
 *   orphans N           leave N grandchildren that exit after 200 ms, orphaned
 *   trap SIG            catch SIG (TERM, INT, HUP, or a number)
 *   ready PATH          atomically create PATH containing "ready\n"
 *   sleep N             sleep N seconds, cut short by a caught signal
 *   record PATH         write the name of the caught signal ("none") to PATH
 *   exit N              print the report and exit N
 *   kill-self SIG       print the report and kill itself with SIG
 *
 * For the daemon's tests (these write to fd 1 directly, bypassing the
 * buffered report, so a service's log holds clean lines):
 *   say TEXT            write the line TEXT to stdout at once
 *   ticks N             write "tick 1" .. "tick N" to stdout, one every 100 ms
 *   flood N             write N bytes to stdout as fast as it can, in lines
 *                       of 100 bytes ("x"... and a newline)
 *   ignore SIG          set SIG to SIG_IGN (inherited by `sleeper`'s children)
 *   msleep N            sleep N milliseconds (no report, nothing flushed)
 *   sleeper N           fork a child that forks a grandchild; both ignore
 *                       SIGTERM, are named "probe-sleeper" and sleep N
 *                       seconds (EINTR ignored); the probe goes on at once
 *
 * Results are keyed by command ("try-write:/tmp/x" for commands with an
 * argument). A failure is reported as {"ok": false, "errno": "ENOENT", ...}.
 * Built without libraries beyond libc; it needs only /usr, /lib and /lib64.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fanotify.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- JSON output ---- */

static int n_fields; /* fields written to the top-level object so far */

static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void json_strn(const char *s, size_t n)
{
	char buf[256];
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* NUL bytes inside the data end the string: good enough for a preview */
	json_str(buf);
}

static void field(const char *key)
{
	if (n_fields++)
		putchar(',');
	json_str(key);
	putchar(':');
}

static void field2(const char *cmd, const char *arg)
{
	char key[PATH_MAX + 64];
	snprintf(key, sizeof(key), "%s:%s", cmd, arg);
	field(key);
}

static const char *errname(int e)
{
	static char buf[32];
	const char *n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* {"ok":false,"errno":"ENOENT","stage":"open"} */
static void json_fail(int e, const char *stage)
{
	fputs("{\"ok\":false,\"errno\":", stdout);
	json_str(errname(e));
	fputs(",\"stage\":", stdout);
	json_str(stage);
	putchar('}');
}

static void finish(void)
{
	fputs("}\n", stdout);
	fflush(stdout);
}

/* ---- small helpers ---- */

static int parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "probe: not a number: %s\n", s);
		return -1;
	}
	*out = v;
	return 0;
}

static int signal_from_name(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},   {"KILL", SIGKILL},
		    {"SEGV", SIGSEGV}, {"USR1", SIGUSR1}, {"ABRT", SIGABRT}, {"SYS", SIGSYS}};
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcmp(s, sigs[i].name))
			return sigs[i].sig;
	long v;
	if (parse_long(s, &v) < 0 || v <= 0 || v >= NSIG)
		return -1;
	return (int)v;
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static const char *file_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "reg";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "lnk";
	case S_IFCHR:
		return "chr";
	case S_IFBLK:
		return "blk";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "sock";
	default:
		return "unknown";
	}
}

/* ---- reports ---- */

static void cmd_pid(void)
{
	field("pid");
	printf("{\"pid\":%d,\"ppid\":%d,\"sid\":%d,\"pgid\":%d}", (int)getpid(), (int)getppid(),
	       (int)getsid(0), (int)getpgid(0));
}

static void cmd_pids(void)
{
	field("pids");
	DIR *d = opendir("/proc");
	if (!d) {
		json_fail(errno, "opendir");
		return;
	}
	long pids[4096];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < sizeof(pids) / sizeof(pids[0]))
		if (is_number(e->d_name))
			pids[n++] = strtol(e->d_name, NULL, 10);
	closedir(d);
	/* cppcheck-suppress uninitvar ; qsort reads pids[0..n), all set above */
	qsort(pids, n, sizeof(pids[0]), cmp_long);
	putchar('[');
	for (size_t i = 0; i < n; i++)
		printf("%s%ld", i ? "," : "", pids[i]);
	putchar(']');
}

static void cmd_procs(void)
{
	field("procs");
	DIR *d = opendir("/proc");
	if (!d) {
		json_fail(errno, "opendir");
		return;
	}
	putchar('[');
	int first = 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_number(e->d_name))
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* pid (comm) state ppid ...; comm may contain spaces and ')' */
		char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
		if (!open_paren || !close_paren || close_paren < open_paren)
			continue;
		*close_paren = '\0';
		char state = '?';
		int ppid = -1;
		if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
			continue;
		printf("%s{\"pid\":%s,\"ppid\":%d,\"state\":\"%c\",\"comm\":", first ? "" : ",",
		       e->d_name, ppid, state);
		json_str(open_paren + 1);
		putchar('}');
		first = 0;
	}
	closedir(d);
	putchar(']');
}

static void cmd_hostname(void)
{
	struct utsname u;
	field("hostname");
	if (uname(&u) < 0) {
		json_fail(errno, "uname");
		return;
	}
	json_str(u.nodename);
}

static void cmd_ids(void)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	gid_t groups[256];
	field("ids");
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0) {
		json_fail(errno, "getres*id");
		return;
	}
	int n = getgroups(256, groups);
	printf(
	    "{\"ruid\":%u,\"euid\":%u,\"suid\":%u,\"rgid\":%u,\"egid\":%u,\"sgid\":%u,\"groups\":",
	    ru, eu, su, rg, eg, sg);
	if (n < 0) {
		json_fail(errno, "getgroups");
	} else {
		putchar('[');
		for (int i = 0; i < n; i++)
			printf("%s%u", i ? "," : "", groups[i]);
		putchar(']');
	}
	putchar('}');
}

static void cmd_status(void)
{
	static const char *const keys[] = {"CapInh", "CapPrm",     "CapEff",  "CapBnd",
					   "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters",
					   "Uid",    "Gid",        "Groups",  "Cpus_allowed_list"};
	field("status");
	FILE *f = fopen("/proc/self/status", "re");
	if (!f) {
		json_fail(errno, "open");
		return;
	}
	putchar('{');
	int first = 1;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(line, keys[i]) != 0)
				continue;
			char *v = colon + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			for (char *t = v; *t; t++)
				if (*t == '\t')
					*t = ' ';
			printf("%s", first ? "" : ",");
			json_str(line);
			putchar(':');
			json_str(v);
			first = 0;
		}
	}
	fclose(f);
	putchar('}');
}

static void cmd_securebits(void)
{
	field("securebits");
	int r = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (r < 0)
		json_fail(errno, "prctl");
	else
		printf("%d", r);
}

static void cmd_fds(void)
{
	field("fds");
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		json_fail(errno, "opendir");
		return;
	}
	int self = dirfd(d);
	putchar('[');
	int first = 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_number(e->d_name) || atoi(e->d_name) == self)
			continue;
		char path[300], target[PATH_MAX];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		printf("%s{\"fd\":%s,\"target\":", first ? "" : ",", e->d_name);
		json_str(target);
		putchar('}');
		first = 0;
	}
	closedir(d);
	putchar(']');
}

static void json_strv(char **v)
{
	putchar('[');
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			putchar(',');
		json_str(v[i]);
	}
	putchar(']');
}

static void cmd_rlimits(void)
{
	static const struct {
		const char *name;
		int res;
	} lims[] = {{"nofile", RLIMIT_NOFILE}, {"core", RLIMIT_CORE}, {"nproc", RLIMIT_NPROC}};
	field("rlimits");
	putchar('{');
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		struct rlimit rl;
		printf("%s\"%s\":", i ? "," : "", lims[i].name);
		if (getrlimit(lims[i].res, &rl) < 0) {
			json_fail(errno, "getrlimit");
			continue;
		}
		printf("[%lld,%lld]", rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur,
		       rl.rlim_max == RLIM_INFINITY ? -1LL : (long long)rl.rlim_max);
	}
	putchar('}');
}

static void cmd_mounts(void)
{
	field("mounts");
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		json_fail(errno, "open");
		return;
	}
	putchar('[');
	int first = 1;
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		/* id parent maj:min root mountpoint options [optional...] - fstype source superopts
		 */
		char *tok[6], *save = NULL, *p = line;
		int n = 0;
		for (; n < 6 && (tok[n] = strtok_r(p, " ", &save)); n++)
			p = NULL;
		if (n < 6)
			continue;
		char *t;
		while ((t = strtok_r(NULL, " ", &save)) && strcmp(t, "-") != 0)
			;
		char *fstype = strtok_r(NULL, " ", &save);
		char *source = fstype ? strtok_r(NULL, " ", &save) : NULL;
		char *super = source ? strtok_r(NULL, " ", &save) : NULL;
		printf("%s{\"root\":", first ? "" : ",");
		json_str(tok[3]);
		fputs(",\"mountpoint\":", stdout);
		json_str(tok[4]);
		fputs(",\"options\":", stdout);
		json_str(tok[5]);
		fputs(",\"fstype\":", stdout);
		json_str(fstype ? fstype : "");
		fputs(",\"source\":", stdout);
		json_str(source ? source : "");
		fputs(",\"superopts\":", stdout);
		json_str(super ? super : "");
		putchar('}');
		first = 0;
	}
	fclose(f);
	putchar(']');
}

static void cmd_interfaces(void)
{
	field("interfaces");
	FILE *f = fopen("/proc/self/net/dev", "re");
	if (!f) {
		json_fail(errno, "open");
		return;
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	putchar('[');
	int first = 1;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue; /* the two header lines */
		*colon = '\0';
		char *name = line + strspn(line, " ");
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		int up = -1;
		if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
			up = (ifr.ifr_flags & IFF_UP) ? 1 : 0;
		printf("%s{\"name\":", first ? "" : ",");
		json_str(name);
		printf(",\"up\":%s,\"index\":%u}",
		       up < 0 ? "null"
		       : up   ? "true"
			      : "false",
		       if_nametoindex(name));
		first = 0;
	}
	fclose(f);
	if (s >= 0)
		close(s);
	putchar(']');
}

static void cmd_loopback(void)
{
	field("loopback");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, x = -1;
	const char *stage = "socket";
	char b = 0;
	if (l < 0)
		goto fail;
	stage = "bind";
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	stage = "listen";
	if (listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &len) < 0)
		goto fail;
	stage = "connect";
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	stage = "accept";
	x = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (x < 0)
		goto fail;
	stage = "exchange";
	if (write(c, "w", 1) != 1 || read(x, &b, 1) != 1 || b != 'w')
		goto fail;
	printf("{\"ok\":true,\"port\":%u}", ntohs(a.sin_port));
	close(l);
	close(c);
	close(x);
	return;
fail:
	json_fail(errno, stage);
	if (l >= 0)
		close(l);
	if (c >= 0)
		close(c);
	if (x >= 0)
		close(x);
}

static void cmd_ls(const char *path)
{
	field2("ls", path);
	DIR *d = opendir(path);
	if (!d) {
		json_fail(errno, "opendir");
		return;
	}
	fputs("{\"ok\":true,\"entries\":[", stdout);
	int first = 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		printf("%s{\"name\":", first ? "" : ",");
		json_str(e->d_name);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			printf(",\"type\":\"%s\",\"major\":%u,\"minor\":%u", file_type(st.st_mode),
			       major(st.st_rdev), minor(st.st_rdev));
		putchar('}');
		first = 0;
	}
	closedir(d);
	fputs("]}", stdout);
}

static void cmd_exists(const char *path)
{
	struct stat st;
	field2("exists", path);
	if (lstat(path, &st) < 0) {
		json_fail(errno, "lstat");
		return;
	}
	printf("{\"ok\":true,\"type\":\"%s\",\"mode\":%u,\"uid\":%u,\"gid\":%u,\"size\":%lld,"
	       "\"major\":%u,\"minor\":%u}",
	       file_type(st.st_mode), (unsigned)(st.st_mode & 07777), st.st_uid, st.st_gid,
	       (long long)st.st_size, major(st.st_rdev), minor(st.st_rdev));
}

static void cmd_try_read(const char *path)
{
	field2("try-read", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		json_fail(errno, "open");
		return;
	}
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	if (n < 0) {
		json_fail(e, "read");
		return;
	}
	printf("{\"ok\":true,\"bytes\":%zd,\"head\":", n);
	json_strn(buf, (size_t)n > 64 ? 64 : (size_t)n);
	putchar('}');
}

static void cmd_cat(const char *path)
{
	static char buf[65536];
	size_t len = 0;
	field2("cat", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		json_fail(errno, "open");
		return;
	}
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			json_fail(e, "read");
			return;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	fputs("{\"ok\":true,\"text\":", stdout);
	json_str(buf);
	putchar('}');
}

static void cmd_ptys(void)
{
	int fds[2000], n = 0, e = 0;

	while (n < 2000) {
		fds[n] = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fds[n] < 0) {
			e = errno;
			break;
		}
		n++;
	}
	field("ptys");
	printf("{\"count\":%d,\"errno\":\"%s\"}", n, e ? errname(e) : "");
	while (n > 0)
		close(fds[--n]);
}

static void cmd_tty_mess(void)
{
	struct termios t;

	field("tty-mess");
	if (tcgetattr(0, &t) < 0) {
		json_fail(errno, "tcgetattr");
		return;
	}
	t.c_lflag &= ~(tcflag_t)(ECHO | ICANON);
	if (tcsetattr(0, TCSANOW, &t) < 0) {
		json_fail(errno, "tcsetattr");
		return;
	}
	if (ioctl(0, TIOCEXCL) < 0) {
		json_fail(errno, "TIOCEXCL");
		return;
	}
	/* On the open file, which the operator's shell shares. */
	if (fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) < 0) {
		json_fail(errno, "O_NONBLOCK");
		return;
	}
	{
		int null_ldisc = 27; /* N_NULL: the terminal takes nothing, shows nothing */
		int r = ioctl(0, TIOCSETD, &null_ldisc);

		printf("{\"ok\":true,\"setd\":");
		json_str(r == 0 ? "ok" : errname(errno));
		putchar('}');
	}
}

static void cmd_read_stdin(void)
{
	char buf[4096];
	size_t total = 0, kept = 0;
	field("read-stdin");
	for (;;) {
		ssize_t n = read(0, buf + kept, sizeof(buf) - kept);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			json_fail(errno, "read");
			return;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		kept += (size_t)n;
		if (kept == sizeof(buf))
			kept = sizeof(buf) - 1; /* keep the head, count the rest */
	}
	printf("{\"ok\":true,\"bytes\":%zu,\"head\":", total);
	json_strn(buf, kept > 64 ? 64 : kept);
	putchar('}');
}

static void cmd_try_write(const char *path)
{
	field2("try-write", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		json_fail(errno, "open");
		return;
	}
	ssize_t n = write(fd, "probe\n", 6);
	int e = errno;
	if (close(fd) < 0 && n == 6) {
		json_fail(errno, "close");
		return;
	}
	if (n != 6) {
		json_fail(n < 0 ? e : EIO, "write");
		return;
	}
	fputs("{\"ok\":true}", stdout);
}

static void cmd_bind_tcp(const char *port_s)
{
	long port;
	field2("bind-tcp", port_s);
	if (parse_long(port_s, &port) < 0 || port < 0 || port > 65535) {
		json_fail(EINVAL, "parse");
		return;
	}
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		json_fail(errno, "socket");
		return;
	}
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		json_fail(errno, "bind");
		close(s);
		return;
	}
	if (listen(s, 1) < 0) {
		json_fail(errno, "listen");
		close(s);
		return;
	}
	close(s);
	fputs("{\"ok\":true}", stdout);
}

/* ---- syscalls, each run in a forked child ---- */

#define NOWHERE "/nonexistent-ward-probe"

/* One line a syscall, like the table below. */
/* clang-format off */
static long sc_getpid(void) { return syscall(SYS_getpid); }
/* @debug: ESRCH when allowed (the parent is not our tracee) */
static long sc_ptrace(void) { return syscall(SYS_ptrace, (long)PTRACE_CONT, (long)getppid(), 0L, 0L); }
/* @debug: an fd (perf_event_paranoid <= 2) or EACCES when allowed */
static long sc_perf_event_open(void)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0UL);
}
/* @cpu-emulation: reading the (empty) LDT succeeds unprivileged */
static long sc_modify_ldt(void)
{
	static char ldt[64];
	return syscall(SYS_modify_ldt, 0, ldt, sizeof(ldt));
}
/* @clock: a read-only query (modes 0) succeeds unprivileged */
static long sc_adjtimex(void)
{
	struct timex tx;
	memset(&tx, 0, sizeof(tx));
	return syscall(SYS_adjtimex, &tx);
}
static long sc_clock_adjtime(void)
{
	struct timex tx;
	memset(&tx, 0, sizeof(tx));
	return syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx);
}
/* @clock: needs CAP_SYS_TIME; the value set is the current time anyway */
static long sc_settimeofday(void) { return syscall(SYS_settimeofday, NULL, NULL); }
/* @obsolete: not implemented on x86-64 (ENOSYS) when allowed */
static long sc_afs_syscall(void) { return syscall(SYS_afs_syscall, 0, 0, 0, 0, 0); }
static long sc_uselib(void) { return syscall(SYS_uselib, NOWHERE); }
/* @raw-io: invalid ranges give EINVAL before any privilege check */
static long sc_ioperm(void) { return syscall(SYS_ioperm, 0UL, 0UL, 0); }
static long sc_iopl(void) { return syscall(SYS_iopl, 4); }
/* @mount: the path lookup comes before the privilege check (ENOENT) */
static long sc_mount(void) { return syscall(SYS_mount, "none", NOWHERE, "tmpfs", 0UL, NULL); }
static long sc_umount2(void) { return syscall(SYS_umount2, NOWHERE, 0); }
static long sc_chroot(void) { return syscall(SYS_chroot, NOWHERE); }
/* @mount: open_tree without OPEN_TREE_CLONE is an O_PATH open: succeeds */
static long sc_open_tree(void) { return syscall(SYS_open_tree, AT_FDCWD, "/", 0U); }
/* @privileged, unprivileged-friendly: a fanotify group with FID reporting */
static long sc_fanotify_init(void)
{
	return syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_REPORT_FID, O_RDONLY);
}
/* @privileged (and @setuid / @chown, which @system-service allows) */
static long sc_setuid_self(void) { return syscall(SYS_setuid, (long)getuid()); }
static long sc_fchown_self(void) { return syscall(SYS_fchown, 1, -1, -1); }
static long sc_acct(void) { return syscall(SYS_acct, NULL); }
/* These need privilege whatever the filter says: only `kill` tells. */
static long sc_init_module(void) { return syscall(SYS_init_module, NULL, 0UL, ""); }
static long sc_finit_module(void) { return syscall(SYS_finit_module, -1, "", 0); }
static long sc_delete_module(void) { return syscall(SYS_delete_module, "ward_no_such_module", 0); }
static long sc_reboot(void) { return syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic */ }
static long sc_kexec_load(void) { return syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL); }
static long sc_swapon(void) { return syscall(SYS_swapon, NOWHERE, 0); }
static long sc_swapoff(void) { return syscall(SYS_swapoff, NOWHERE); }
static long sc_unshare_user(void) { return syscall(SYS_unshare, (long)CLONE_NEWUSER); }
/* hardened's explicit denials: EFAULT / an fd / a keyring id without a filter */
static long sc_io_uring_setup(void) { return syscall(SYS_io_uring_setup, 1, NULL); }
static long sc_userfaultfd(void) { return syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */); }
static long sc_keyctl(void) { return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0); }
static long sc_name_to_handle_at(void)
{
	struct file_handle *fh = calloc(1, sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id;
	if (!fh) { errno = ENOMEM; return -1; }
	fh->handle_bytes = MAX_HANDLE_SZ;
	long r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", fh, &mount_id, 0);
	int e = errno;
	free(fh);
	errno = e;
	return r;
}
/* the seccomp guard: address families, personality, line discipline */
static long sc_socket(int af, int type) { long fd = socket(af, type | SOCK_CLOEXEC, 0); if (fd >= 0) close((int)fd); return fd < 0 ? -1 : 0; }
static long sc_socket_unix(void) { return sc_socket(AF_UNIX, SOCK_STREAM); }
static long sc_socket_inet6(void) { return sc_socket(AF_INET6, SOCK_DGRAM); }
static long sc_socket_vsock(void) { return sc_socket(AF_VSOCK, SOCK_STREAM); }
static long sc_socket_packet(void) { return sc_socket(AF_PACKET, SOCK_DGRAM); }
static long sc_socket_alg(void) { return sc_socket(AF_ALG, SOCK_SEQPACKET); }
static long sc_socketpair_vsock(void) { int sv[2]; return syscall(SYS_socketpair, AF_VSOCK, SOCK_STREAM, 0, sv); }
static long sc_personality_query(void) { return syscall(SYS_personality, 0xffffffffUL); }
static long sc_personality_rie(void) { return syscall(SYS_personality, (unsigned long)(PER_LINUX | READ_IMPLIES_EXEC)); }
static long sc_personality_norandom(void) { return syscall(SYS_personality, (unsigned long)(PER_LINUX | ADDR_NO_RANDOMIZE)); }
static long sc_tiocsetd(void) { int d = 0 /* N_TTY */; return ioctl(0, TIOCSETD, &d); }
static long sc_ptrace_attach_1(void) { return syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0); }
static long sc_ptrace_attach_2(void) { return syscall(SYS_ptrace, PTRACE_ATTACH, 2, 0, 0); }
/* clang-format on */

static const struct {
	const char *name;
	long (*fn)(void);
} syscalls[] = {
    {"getpid", sc_getpid},
    {"ptrace", sc_ptrace},
    {"perf_event_open", sc_perf_event_open},
    {"modify_ldt", sc_modify_ldt},
    {"adjtimex", sc_adjtimex},
    {"clock_adjtime", sc_clock_adjtime},
    {"settimeofday", sc_settimeofday},
    {"afs_syscall", sc_afs_syscall},
    {"uselib", sc_uselib},
    {"ioperm", sc_ioperm},
    {"iopl", sc_iopl},
    {"mount", sc_mount},
    {"umount2", sc_umount2},
    {"chroot", sc_chroot},
    {"open_tree", sc_open_tree},
    {"fanotify_init", sc_fanotify_init},
    {"setuid-self", sc_setuid_self},
    {"fchown-self", sc_fchown_self},
    {"acct", sc_acct},
    {"init_module", sc_init_module},
    {"finit_module", sc_finit_module},
    {"delete_module", sc_delete_module},
    {"reboot", sc_reboot},
    {"kexec_load", sc_kexec_load},
    {"swapon", sc_swapon},
    {"swapoff", sc_swapoff},
    {"unshare-user", sc_unshare_user},
    {"io_uring_setup", sc_io_uring_setup},
    {"userfaultfd", sc_userfaultfd},
    {"keyctl", sc_keyctl},
    {"name_to_handle_at", sc_name_to_handle_at},
    {"socket-unix", sc_socket_unix},
    {"socket-inet6", sc_socket_inet6},
    {"socket-vsock", sc_socket_vsock},
    {"socket-packet", sc_socket_packet},
    {"socket-alg", sc_socket_alg},
    {"socketpair-vsock", sc_socketpair_vsock},
    {"personality-query", sc_personality_query},
    {"personality-rie", sc_personality_rie},
    {"personality-norandom", sc_personality_norandom},
    {"tiocsetd", sc_tiocsetd},
    {"ptrace-attach-1", sc_ptrace_attach_1},
    {"ptrace-attach-2", sc_ptrace_attach_2},
};

struct child_result {
	long ret;
	int err;
};

/* Runs fn in a forked child and prints {"ret":..,"errno":..} or
 * {"signal":N,"signame":"SYS"} (or {"exit":N} if it died otherwise). */
static void run_in_child(long (*fn)(void))
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		json_fail(errno, "pipe");
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		json_fail(errno, "fork");
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		struct child_result r;
		errno = 0;
		r.ret = fn();
		r.err = r.ret < 0 ? errno : 0;
		if (write(p[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(99);
		_exit(0);
	}
	close(p[1]);
	struct child_result r;
	ssize_t n = read(p[0], &r, sizeof(r));
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		printf("{\"signal\":%d,\"signame\":", WTERMSIG(status));
		json_str(abbrev ? abbrev : "?");
		putchar('}');
	} else if (n != (ssize_t)sizeof(r)) {
		printf("{\"exit\":%d}", WEXITSTATUS(status));
	} else {
		printf("{\"ret\":%ld,\"errno\":", r.ret);
		if (r.ret < 0)
			json_str(errname(r.err));
		else
			fputs("null", stdout);
		putchar('}');
	}
}

static void cmd_syscall(const char *name)
{
	field2("syscall", name);
	for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
		if (!strcmp(syscalls[i].name, name)) {
			run_in_child(syscalls[i].fn);
			return;
		}
	json_fail(EINVAL, "unknown syscall name");
}

/* The i386 ABI's getpid (20) through int $0x80 from this 64-bit process: the
 * kernel runs it as a compat syscall, which the filter must refuse. */
static long do_int80(void)
{
	long r = 20;
	__asm__ volatile("int $0x80" : "+a"(r) : : "r8", "r9", "r10", "r11", "memory");
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static void cmd_int80(void)
{
	field("int80");
	run_in_child(do_int80);
}

static void cmd_shm_create(const char *key_s)
{
	long key;
	field2("shm-create", key_s);
	if (parse_long(key_s, &key) < 0) {
		json_fail(EINVAL, "parse");
		return;
	}
	int id = shmget((key_t)key, 4096, IPC_CREAT | IPC_EXCL | 0666);
	if (id < 0)
		json_fail(errno, "shmget");
	else
		printf("{\"ok\":true,\"id\":%d}", id);
}

static void cmd_shm_find(const char *key_s)
{
	long key;
	field2("shm-find", key_s);
	if (parse_long(key_s, &key) < 0) {
		json_fail(EINVAL, "parse");
		return;
	}
	int id = shmget((key_t)key, 0, 0);
	if (id < 0)
		json_fail(errno, "shmget");
	else
		printf("{\"ok\":true,\"id\":%d}", id);
}

static socklen_t abstract_addr(const char *name, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	size_t n = strlen(name);
	if (n > sizeof(a->sun_path) - 1)
		n = sizeof(a->sun_path) - 1;
	memcpy(a->sun_path + 1, name, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void cmd_unix_listen(const char *name)
{
	struct sockaddr_un a;
	socklen_t len = abstract_addr(name, &a);
	field2("unix-listen", name);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		json_fail(errno, "socket");
		return;
	}
	if (bind(s, (struct sockaddr *)&a, len) < 0 || listen(s, 4) < 0) {
		json_fail(errno, "bind");
		close(s);
		return;
	}
	fputs("{\"ok\":true}", stdout); /* s stays open until exit */
}

static void cmd_unix_connect(const char *name)
{
	struct sockaddr_un a;
	socklen_t len = abstract_addr(name, &a);
	field2("unix-connect", name);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		json_fail(errno, "socket");
		return;
	}
	if (connect(s, (struct sockaddr *)&a, len) < 0)
		json_fail(errno, "connect");
	else
		fputs("{\"ok\":true}", stdout);
	close(s);
}

static void cmd_orphans(const char *n_s)
{
	long n;
	field2("orphans", n_s);
	if (parse_long(n_s, &n) < 0 || n < 0 || n > 64) {
		json_fail(EINVAL, "parse");
		return;
	}
	fflush(stdout);
	pid_t mid = fork();
	if (mid < 0) {
		json_fail(errno, "fork");
		return;
	}
	if (mid == 0) {
		for (long i = 0; i < n; i++)
			if (fork() == 0) {
				struct timespec ts = {0, 200 * 1000 * 1000};
				nanosleep(&ts, NULL);
				_exit(0);
			}
		_exit(0); /* the grandchildren are reparented to pid 1 */
	}
	int status;
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	fputs("{\"ok\":true}", stdout);
}

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
	caught_signal = sig;
}

static void cmd_trap(const char *sig_s)
{
	field2("trap", sig_s);
	int sig = signal_from_name(sig_s);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: sleep is cut short */
	if (sig < 0 || sigaction(sig, &sa, NULL) < 0) {
		json_fail(sig < 0 ? EINVAL : errno, "sigaction");
		return;
	}
	fputs("{\"ok\":true}", stdout);
}

static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

static void cmd_ready(const char *path)
{
	field2("ready", path);
	fflush(stdout);
	int r = write_file(path, "ready\n");
	if (r < 0)
		json_fail(-r, "write");
	else
		fputs("{\"ok\":true}", stdout);
}

static void cmd_sleep(const char *n_s)
{
	long n;
	field2("sleep", n_s);
	if (parse_long(n_s, &n) < 0 || n < 0) {
		json_fail(EINVAL, "parse");
		return;
	}
	fflush(stdout);
	struct timespec end, now;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += n;
	while (!caught_signal) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		struct timespec step = {0, 50 * 1000 * 1000};
		nanosleep(&step, NULL);
	}
	printf("{\"interrupted\":%s}", caught_signal ? "true" : "false");
}

static void cmd_record(const char *path)
{
	field2("record", path);
	char text[32];
	const char *abbrev = caught_signal ? sigabbrev_np(caught_signal) : NULL;
	snprintf(text, sizeof(text), "%s\n", caught_signal ? (abbrev ? abbrev : "?") : "none");
	int r = write_file(path, text);
	if (r < 0)
		json_fail(-r, "write");
	else
		fputs("{\"ok\":true}", stdout);
}

/* ---- main ---- */

/* ---- actions for the daemon's tests ---- */

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void cmd_say(const char *text)
{
	size_t len = strlen(text);
	char *line = malloc(len + 1);
	if (!line)
		return;
	memcpy(line, text, len); /* NOLINT(bugprone-not-null-terminated-result): ends in \n */
	line[len] = '\n';
	write_all(1, line, len + 1);
	free(line);
}

static void cmd_ticks(const char *n_s)
{
	long n;
	if (parse_long(n_s, &n) < 0 || n < 0)
		return;
	for (long i = 1; i <= n; i++) {
		char line[32];
		int len = snprintf(line, sizeof(line), "tick %ld\n", i);
		write_all(1, line, (size_t)len);
		struct timespec step = {0, 100 * 1000 * 1000};
		nanosleep(&step, NULL);
	}
}

static void cmd_flood(const char *n_s)
{
	long n;
	if (parse_long(n_s, &n) < 0 || n < 0)
		return;
	static char buf[100 * 640];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (i % 100 == 99) ? '\n' : 'x';
	while (n > 0) {
		size_t chunk = n < (long)sizeof(buf) ? (size_t)n : sizeof(buf);
		write_all(1, buf, chunk);
		n -= (long)chunk;
	}
}

static void cmd_msleep(const char *n_s)
{
	long n;
	if (parse_long(n_s, &n) < 0 || n < 0)
		return;
	struct timespec ts = {n / 1000, (n % 1000) * 1000 * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void cmd_ignore(const char *sig_s)
{
	field2("ignore", sig_s);
	int sig = signal_from_name(sig_s);
	if (sig < 0 || signal(sig, SIG_IGN) == SIG_ERR) {
		json_fail(sig < 0 ? EINVAL : errno, "signal");
		return;
	}
	fputs("{\"ok\":true}", stdout);
}

static void sleeper_body(long n)
{
	signal(SIGTERM, SIG_IGN);
	prctl(PR_SET_NAME, "probe-sleeper", 0, 0, 0);
	struct timespec end, now;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += n;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		struct timespec step = {0, 50 * 1000 * 1000};
		nanosleep(&step, NULL);
	}
	_exit(0);
}

static void cmd_sleeper(const char *n_s)
{
	long n;
	field2("sleeper", n_s);
	if (parse_long(n_s, &n) < 0 || n < 0) {
		json_fail(EINVAL, "parse");
		return;
	}
	fflush(stdout);
	pid_t child = fork();
	if (child < 0) {
		json_fail(errno, "fork");
		return;
	}
	if (child == 0) {
		if (fork() == 0)
			sleeper_body(n); /* the grandchild */
		sleeper_body(n);
	}
	printf("{\"ok\":true,\"pid\":%d}", (int)child);
}

static int needs_arg(const char *cmd)
{
	static const char *const with_arg[] = {
	    "ls",      "exists",     "try-read", "try-write",   "cat",          "bind-tcp",
	    "syscall", "shm-create", "shm-find", "unix-listen", "unix-connect", "orphans",
	    "trap",    "ready",      "sleep",    "record",      "exit",         "kill-self",
	    "say",     "ticks",      "flood",    "ignore",      "sleeper",      "msleep"};
	for (size_t i = 0; i < sizeof(with_arg) / sizeof(with_arg[0]); i++)
		if (!strcmp(cmd, with_arg[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	putchar('{');
	for (int i = 1; i < argc; i++) {
		const char *cmd = argv[i], *arg = NULL;
		if (needs_arg(cmd)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "probe: %s needs an argument\n", cmd);
				return 64;
			}
			arg = argv[++i];
		}
		/* A table, one command a line; split on arg first: the commands
		 * that take one are exactly those of needs_arg(), so arg is never
		 * NULL in them (which the analyzer cannot see through strcmp). */
		/* clang-format off */
		if (arg) {
			if (!strcmp(cmd, "ls")) cmd_ls(arg);
			else if (!strcmp(cmd, "exists")) cmd_exists(arg);
			else if (!strcmp(cmd, "try-read")) cmd_try_read(arg);
			else if (!strcmp(cmd, "cat")) cmd_cat(arg);
			else if (!strcmp(cmd, "try-write")) cmd_try_write(arg);
			else if (!strcmp(cmd, "bind-tcp")) cmd_bind_tcp(arg);
			else if (!strcmp(cmd, "syscall")) cmd_syscall(arg);
			else if (!strcmp(cmd, "shm-create")) cmd_shm_create(arg);
			else if (!strcmp(cmd, "shm-find")) cmd_shm_find(arg);
			else if (!strcmp(cmd, "unix-listen")) cmd_unix_listen(arg);
			else if (!strcmp(cmd, "unix-connect")) cmd_unix_connect(arg);
			else if (!strcmp(cmd, "orphans")) cmd_orphans(arg);
			else if (!strcmp(cmd, "trap")) cmd_trap(arg);
			else if (!strcmp(cmd, "ready")) cmd_ready(arg);
			else if (!strcmp(cmd, "sleep")) cmd_sleep(arg);
			else if (!strcmp(cmd, "record")) cmd_record(arg);
			else if (!strcmp(cmd, "say")) cmd_say(arg);
			else if (!strcmp(cmd, "ticks")) cmd_ticks(arg);
			else if (!strcmp(cmd, "flood")) cmd_flood(arg);
			else if (!strcmp(cmd, "ignore")) cmd_ignore(arg);
			else if (!strcmp(cmd, "sleeper")) cmd_sleeper(arg);
			else if (!strcmp(cmd, "msleep")) cmd_msleep(arg);
			else if (!strcmp(cmd, "exit")) {
				long code;
				if (parse_long(arg, &code) < 0)
					return 64;
				finish();
				return (int)code;
			} else if (!strcmp(cmd, "kill-self")) {
				int sig = signal_from_name(arg);
				if (sig < 0)
					return 64;
				finish();
				signal(sig, SIG_DFL);
				kill(getpid(), sig);
				return 70; /* not reached unless sig is ignored/blocked */
			} else {
				fprintf(stderr, "probe: unknown command: %s\n", cmd);
				return 64;
			}
		} else {
			if (!strcmp(cmd, "pid")) cmd_pid();
			else if (!strcmp(cmd, "pids")) cmd_pids();
			else if (!strcmp(cmd, "procs")) cmd_procs();
			else if (!strcmp(cmd, "hostname")) cmd_hostname();
			else if (!strcmp(cmd, "ids")) cmd_ids();
			else if (!strcmp(cmd, "status")) cmd_status();
			else if (!strcmp(cmd, "securebits")) cmd_securebits();
			else if (!strcmp(cmd, "fds")) cmd_fds();
			else if (!strcmp(cmd, "env")) { field("env"); json_strv(environ); }
			else if (!strcmp(cmd, "argv")) { field("argv"); json_strv(argv); }
			else if (!strcmp(cmd, "rlimits")) cmd_rlimits();
			else if (!strcmp(cmd, "mounts")) cmd_mounts();
			else if (!strcmp(cmd, "interfaces")) cmd_interfaces();
			else if (!strcmp(cmd, "loopback")) cmd_loopback();
			else if (!strcmp(cmd, "int80")) cmd_int80();
			else if (!strcmp(cmd, "read-stdin")) cmd_read_stdin();
			else if (!strcmp(cmd, "tty-mess")) cmd_tty_mess();
			else if (!strcmp(cmd, "ptys")) cmd_ptys();
			else {
				fprintf(stderr, "probe: unknown command: %s\n", cmd);
				return 64;
			}
		}
		/* clang-format on */
	}
	finish();
	return 0;
}
