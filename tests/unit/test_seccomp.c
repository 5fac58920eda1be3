/* Unit tests of the seccomp module: systemd's groups, compiling, the cache,
 * and what a loaded filter really does, observed in forked children. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/sched.h>
#include <sched.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "bpf_eval.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* i386 and x32 numbers, for calls made through those ABIs. */
#define I386_NR_IOCTL      54
#define I386_NR_GETPID     20
#define I386_NR_UNAME      122
#define X32_BIT            0x40000000L
#define X32_NR_GETPID      (X32_BIT | 39)
#define X32_NR_UNAME       (X32_BIT | 63)
#define X32_NR_IOCTL       (X32_BIT | 514)
#define X32_NR_SOCKET      (X32_BIT | 41)
#define I386_NR_SOCKETCALL 102
#define I386_NR_SOCKET     359
#define I386_NR_SOCKETPAIR 360

static char *hardened_deny[] = {"@privileged", "@mount", "@debug", "@module",   "@raw-io",
				"@reboot",     "@swap",  "@clock", "@obsolete", "@cpu-emulation"};
static char *system_service[] = {"@system-service"};

/* allow @system-service, deny the hardened list: the shipped default. */
static struct ward_seccomp hardened(void)
{
	return (struct ward_seccomp){.default_action = SECCOMP_DEFAULT_ERRNO,
				     .allow = system_service,
				     .n_allow = 1,
				     .deny = hardened_deny,
				     .n_deny = N_OF(hardened_deny),
				     .log_denied = true};
}

static void compile_ok(const struct ward_seccomp *p, const char *cache_dir,
		       struct seccomp_program *prog)
{
	struct ward_err err = {0};
	int r = seccomp_compile(p, cache_dir, prog, &err);

	if (r != 0)
		fail_msg("seccomp_compile: %s", err.msg);
	assert_non_null(prog->insns);
	assert_true(prog->n_insns > 0 && prog->n_insns <= BPF_MAXINSNS);
}

/* ---- children ---- */

/* Forks; the child sets no_new_privs, loads prog (unless NULL: the control
 * run), runs fn and exits with its result (0: every check passed, else the
 * number of the failed check). Returns the wait status. */
static int run_child(const struct seccomp_program *prog, int (*fn)(void *), void *ud)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's handlers would turn a crash into a report from the
		 * child, which would then run the remaining tests itself. */
		static const int sigs[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGSYS};

		for (size_t i = 0; i < N_OF(sigs); i++)
			signal(sigs[i], SIG_DFL);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			_exit(120);
		if (prog && seccomp_program_load(prog) != 0)
			_exit(121);
		_exit(fn(ud));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static int load_allow_all(void *ud)
{
	(void)ud;
	return 0;
}

/* Seccomp filters can be loaded here: not so under valgrind (which does
 * not know the syscall), nor in a sandbox that forbids it. */
static void skip_unless_filters_work(void)
{
	static struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	const struct seccomp_program prog = {.insns = &allow, .n_insns = 1};
	int status = run_child(&prog, load_allow_all, NULL);

	/* Only valgrind, which cannot run filtered children, may skip these;
	 * anywhere else a filter that does not load is a failure. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (getenv("WARD_TEST_UNDER_VALGRIND"))
			skip();
		fail_msg("cannot load a seccomp filter in a child");
	}
}

static void assert_child_ok(int status)
{
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child failed check %d", WEXITSTATUS(status));
}

static void assert_child_sigsys(int status)
{
	if (!WIFSIGNALED(status))
		fail_msg("child exited with %d instead of dying of SIGSYS", WEXITSTATUS(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static bool failed_with(long r, int e)
{
	return r == -1 && errno == e;
}

static long int80(long nr, long a, long b, long c)
{
	long r;

	/* The compat entry clears r8-r11 on the way back. */
	__asm__ volatile("int $0x80"
			 : "=a"(r)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	return r;
}

/* ---- groups and names ---- */

static void test_group_names(void **state)
{
	const char *const *names = seccomp_group_names();
	size_t n = 0;

	(void)state;
	for (; names[n]; n++)
		assert_true(seccomp_group_known(names[n]));
	/* systemd's 29 plus @known. */
	assert_int_equal(n, 30);
	assert_false(seccomp_group_known("@nosuch"));
	assert_false(seccomp_group_known("system-service"));
	assert_false(seccomp_group_known(""));
	assert_false(seccomp_group_known(NULL));
}

struct collected {
	const char *v[1024];
	size_t n;
	bool ordered;
};

static void collect(const char *name, void *ud)
{
	struct collected *c = ud;

	if (c->n > 0 && strcmp(c->v[c->n - 1], name) >= 0)
		c->ordered = false;
	if (c->n < N_OF(c->v))
		c->v[c->n++] = name;
}

static bool collected_has(const struct collected *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i], name) == 0)
			return true;
	return false;
}

static void group_collect(const char *group, struct collected *c)
{
	*c = (struct collected){.ordered = true};
	assert_int_equal(seccomp_group_foreach(group, collect, c), 0);
	assert_true(c->n > 0 && c->n < N_OF(c->v));
	/* Once each, in order: strictly increasing. */
	assert_true(c->ordered);
}

static void test_group_every_group_expands(void **state)
{
	const char *const *names = seccomp_group_names();
	struct collected c;

	(void)state;
	/* Also proves every nested reference in the tables names a group. */
	for (size_t i = 0; names[i]; i++) {
		group_collect(names[i], &c);
		for (size_t j = 0; j < c.n; j++)
			assert_true(c.v[j][0] != '@');
	}
}

static void test_group_nested(void **state)
{
	struct collected c;

	(void)state;
	group_collect("@system-service", &c);
	assert_true(collected_has(&c, "read"));    /* via @basic-io */
	assert_true(collected_has(&c, "write"));   /* via @basic-io */
	assert_true(collected_has(&c, "openat"));  /* via @file-system */
	assert_true(collected_has(&c, "close"));   /* in both, listed once */
	assert_true(collected_has(&c, "getpid"));  /* via @default */
	assert_true(collected_has(&c, "seccomp")); /* via @default > @sandbox */
	assert_true(collected_has(&c, "ioctl"));
	assert_false(collected_has(&c, "mount"));
	assert_false(collected_has(&c, "reboot"));
	assert_false(collected_has(&c, "ptrace"));

	group_collect("@mount", &c);
	assert_true(collected_has(&c, "mount"));
	assert_true(collected_has(&c, "umount2"));
	assert_true(collected_has(&c, "pivot_root"));

	group_collect("@privileged", &c);
	assert_true(collected_has(&c, "chown"));  /* via @chown */
	assert_true(collected_has(&c, "reboot")); /* via @reboot */
	assert_true(collected_has(&c, "setuid"));

	group_collect("@known", &c);
	assert_true(collected_has(&c, "_sysctl")); /* via @obsolete */
	assert_true(collected_has(&c, "openat"));
	assert_true(c.n > 400);
}

static void never(const char *name, void *ud)
{
	(void)name;
	(void)ud;
	fail_msg("callback for an unknown group");
}

static void test_group_unknown(void **state)
{
	(void)state;
	assert_int_equal(seccomp_group_foreach("@nosuch", never, NULL), -1);
	assert_int_equal(seccomp_group_foreach("read", never, NULL), -1);
}

static void test_syscall_known(void **state)
{
	(void)state;
	assert_true(seccomp_syscall_known("read"));
	assert_true(seccomp_syscall_known("openat"));
	assert_true(seccomp_syscall_known("socketcall")); /* i386 only */
	assert_true(seccomp_syscall_known("_llseek"));    /* i386 only */
	assert_false(seccomp_syscall_known("nosuch"));
	assert_false(seccomp_syscall_known("arm_fadvise64_64")); /* not on x86 */
	assert_false(seccomp_syscall_known("@mount"));
	assert_false(seccomp_syscall_known(""));
	assert_false(seccomp_syscall_known(NULL));
}

/* ---- compiling ---- */

static void compile_fails(const struct ward_seccomp *p, const char *needle)
{
	struct seccomp_program prog;
	struct ward_err err = {0};

	assert_int_equal(seccomp_compile(p, NULL, &prog, &err), -1);
	assert_null(prog.insns);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
}

static void test_compile_errors(void **state)
{
	char *bad_group[] = {"@system-service", "@nosuch"};
	char *bad_name[] = {"nosuch"};
	char *bad_abi[] = {"arm"};
	struct ward_seccomp p = hardened();

	(void)state;
	p.allow = bad_group;
	p.n_allow = 2;
	compile_fails(&p, "@nosuch");

	p = hardened();
	p.deny = bad_name;
	p.n_deny = 1;
	compile_fails(&p, "\"nosuch\"");

	p = hardened();
	p.abis = bad_abi;
	p.n_abis = 1;
	compile_fails(&p, "\"arm\"");
}

static void test_compile_shapes(void **state)
{
	char *known[] = {"@known"};
	char *both[] = {"x86", "x32"};
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;

	(void)state;
	compile_ok(&p, NULL, &prog);
	assert_int_equal(prog.flags, SECCOMP_FILTER_FLAG_LOG);
	assert_false(prog.cached);
	seccomp_program_free(&prog);
	assert_null(prog.insns);

	p.log_denied = false;
	compile_ok(&p, NULL, &prog);
	assert_int_equal(prog.flags, 0);
	seccomp_program_free(&prog);

	p.abis = both;
	p.n_abis = 2;
	compile_ok(&p, NULL, &prog);
	seccomp_program_free(&prog);

	/* Every name systemd knows, most of them from other architectures. */
	p = hardened();
	p.allow = known;
	compile_ok(&p, NULL, &prog);
	seccomp_program_free(&prog);
}

static void test_load_rejects_empty(void **state)
{
	struct seccomp_program prog = {0};

	(void)state;
	assert_int_equal(seccomp_program_load(&prog), -EINVAL);
	assert_int_equal(seccomp_program_load(NULL), -EINVAL);
}

/* ---- behaviour under a loaded filter ---- */

/* Each of these succeeds unfiltered, even unprivileged, so an EPERM under
 * the filter can only come from the filter. */
/* cppcheck-suppress constParameter ; the type run_child() calls */
static int check_service_calls(void *ud)
{
	struct utsname u;
	unsigned cpu;
	bool expect_denied = ud != NULL;

	if (syscall(SYS_getcpu, &cpu, NULL, NULL) != 0) /* @system-service */
		return 1;
	if (getpid() <= 0) /* @default */
		return 2;
	if (expect_denied) {
		if (!failed_with(syscall(SYS_uname, &u), EPERM)) /* denied by name */
			return 3;
		if (!failed_with(syscall(SYS_alarm, 0), EPERM)) /* denied via @timer */
			return 4;
		if (!failed_with(ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM)) /* @debug */
			return 5;
	} else {
		if (syscall(SYS_uname, &u) != 0)
			return 3;
		if (syscall(SYS_alarm, 0) < 0)
			return 4;
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			return 5;
	}
	return 0;
}

static bool denied = true;

/* Deny wins over an allowed group, by name (uname) and by group (@timer);
 * @debug is not allowed at all. The control run proves that without the
 * filter every call succeeds. */
static void test_filter_deny_wins(void **state)
{
	char *deny[] = {"@debug", "uname", "@timer"};
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;

	(void)state;
	skip_unless_filters_work();
	p.deny = deny;
	p.n_deny = N_OF(deny);
	compile_ok(&p, NULL, &prog);
	/* log_denied: loads with SECCOMP_FILTER_FLAG_LOG too. */
	assert_int_equal(prog.flags, SECCOMP_FILTER_FLAG_LOG);
	assert_child_ok(run_child(NULL, check_service_calls, NULL));
	assert_child_ok(run_child(&prog, check_service_calls, &denied));
	seccomp_program_free(&prog);
}

static int check_getcpu(void *ud)
{
	unsigned cpu;

	(void)ud;
	return syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 ? 0 : 1;
}

static int call_uname(void *ud)
{
	struct utsname u;

	(void)ud;
	syscall(SYS_uname, &u);
	return 0;
}

static int call_ptrace(void *ud)
{
	(void)ud;
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 0;
}

static void test_filter_default_kill(void **state)
{
	char *deny[] = {"uname"};
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;

	(void)state;
	skip_unless_filters_work();
	p.default_action = SECCOMP_DEFAULT_KILL;
	p.deny = deny;
	p.n_deny = 1;
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_getcpu, NULL));
	/* Denied although @system-service holds it, and not allowed at all. */
	assert_child_sigsys(run_child(&prog, call_uname, NULL));
	assert_child_sigsys(run_child(&prog, call_ptrace, NULL));
	seccomp_program_free(&prog);
}

static int check_log_default(void *ud)
{
	struct utsname u;
	struct winsize ws;
	int fd = *(int *)ud;
	char c = 'x';

	if (check_getcpu(NULL) != 0) /* neither allowed nor denied: logged, runs */
		return 1;
	if (!failed_with(syscall(SYS_uname, &u), EPERM)) /* denied */
		return 2;
	if (ioctl(fd, TIOCGWINSZ, &ws) != 0) /* ioctl runs under log ... */
		return 3;
	if (!failed_with(ioctl(fd, TIOCSTI, &c), EPERM)) /* ... but not TIOCSTI */
		return 4;
	return 0;
}

/* ---- evaluating the filter ----
 *
 * Some kernels cannot enter the i386 ABI at all: without the int 0x80 gate
 * (IA-32 emulation off at boot) `int $0x80` is a general protection fault
 * in any process, filtered or not. The i386 rules are then checked by
 * running the very program ward loads over the seccomp_data the kernel
 * would build for an i386 call (tests/helpers/bpf_eval.c), and
 * test_evaluator_matches_kernel holds that evaluator to the kernel's
 * verdicts on every ABI this kernel can enter. Where the gate exists, the
 * runtime checks run as well. */

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e)&SECCOMP_RET_DATA))

static struct seccomp_data call_data(uint32_t arch, long nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	return (struct seccomp_data){.nr = (int)nr, .arch = arch, .args = {a0, a1, a2}};
}

/* What the program returns for the call; a program the kernel's checker
 * would refuse fails the test. */
static uint32_t evaluate(const struct seccomp_program *prog, const struct seccomp_data *d)
{
	bool bad;
	uint32_t r = bpf_eval(prog->insns, prog->n_insns, d, &bad);

	if (bad)
		fail_msg("the evaluator cannot run the compiled program");
	return r;
}

#define assert_verdict(prog, want, arch, nr, a0, a1, a2)                                           \
	assert_verdict_at(prog, want, call_data(arch, nr, a0, a1, a2), #arch " " #nr " " #a1,      \
			  __FILE__, __LINE__)

static void assert_verdict_at(const struct seccomp_program *prog, uint32_t want,
			      struct seccomp_data d, const char *what, const char *file, int line)
{
	uint32_t got = evaluate(prog, &d);

	if (got != want)
		fail_msg("%s:%d: %s: the filter returns %s (%#x), expected %s (%#x)", file, line,
			 what, bpf_action_name(got), got, bpf_action_name(want), want);
}

/* 1: this kernel executes `int $0x80` (IA-32 emulation on), 0: it cannot
 * (SIGSEGV with no filter loaded). Found out once, and said in the test's
 * output, so a reader knows what was proven on this host. */
static int i386_gate_known = -1;

static int call_i386_getpid(void *ud)
{
	(void)ud;
	return int80(I386_NR_GETPID, 0, 0, 0) == getpid() ? 0 : 1;
}

static bool i386_gate(void)
{
	int status;

	if (i386_gate_known >= 0)
		return i386_gate_known;
	status = run_child(NULL, call_i386_getpid, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		i386_gate_known = 1;
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		i386_gate_known = 0;
	else
		fail_msg("int 0x80 getpid with no filter: status %#x, neither a pid nor SIGSEGV",
			 status);
	print_message(i386_gate_known
			  ? "i386 checked at run time through int 0x80 and by evaluating the "
			    "filter: this kernel has the int 0x80 gate\n"
			  : "i386 checked by evaluating the filter: this kernel has no int 0x80 "
			    "gate\n");
	return i386_gate_known;
}

/* ---- the evaluator against the kernel ---- */

/* Stand-ins in a case's arguments for values known only at run time. */
#define ARG_BUF (UINT64_C(1) << 63 | 1) /* a scratch page below 4 GiB */
#define ARG_TTY (UINT64_C(1) << 63 | 2) /* a pty's slave */

struct kcase {
	bool i386; /* through int 0x80: only where the gate exists */
	long nr;
	uint64_t a[3];
};

struct kcall {
	const struct kcase *c;
	char *buf;
	int tty;
};

static uint64_t kcase_arg(const struct kcall *k, uint64_t a)
{
	if (a == ARG_BUF)
		return (uint64_t)(uintptr_t)k->buf;
	if (a == ARG_TTY)
		return (uint64_t)k->tty;
	return a;
}

/* Makes the call; exit code 0 for success, 1 + errno for a failure. */
static int kcase_run(void *ud)
{
	const struct kcall *k = ud;
	uint64_t a0 = kcase_arg(k, k->c->a[0]), a1 = kcase_arg(k, k->c->a[1]),
		 a2 = kcase_arg(k, k->c->a[2]);
	long r;

	if (k->c->i386) {
		r = int80(k->c->nr, (long)a0, (long)a1, (long)a2);
		if (r < 0 && r > -4096) {
			errno = (int)-r;
			r = -1;
		}
	} else {
		r = syscall(k->c->nr, a0, a1, a2);
	}
	if (r >= 0)
		return 0;
	return errno < 254 ? 1 + errno : 255;
}

/* The kernel's verdict, from the filtered and the unfiltered run, in the
 * evaluator's terms. Allow and log look the same from inside: the call
 * does what it does unfiltered. */
static bool kernel_agrees(uint32_t eval, int filtered, int unfiltered)
{
	switch (bpf_action(eval)) {
	case SECCOMP_RET_KILL_PROCESS:
	case SECCOMP_RET_KILL_THREAD:
		return WIFSIGNALED(filtered) && WTERMSIG(filtered) == SIGSYS;
	case SECCOMP_RET_ERRNO:
		return WIFEXITED(filtered) &&
		       WEXITSTATUS(filtered) == 1 + (int)(eval & SECCOMP_RET_DATA);
	case SECCOMP_RET_ALLOW:
	case SECCOMP_RET_LOG:
		return filtered == unfiltered;
	default:
		return false;
	}
}

static const struct kcase kcases[] = {
    {false, SYS_getpid, {0, 0, 0}},
    {false, SYS_uname, {ARG_BUF, 0, 0}},
    {false, SYS_getcpu, {ARG_BUF, 0, 0}},
    {false, SYS_mount, {0, 0, 0}},
    {false, SYS_ioctl, {ARG_TTY, TIOCGWINSZ, ARG_BUF}},
    {false, SYS_ioctl, {ARG_TTY, TIOCSTI, ARG_BUF}},
    {false, SYS_ioctl, {ARG_TTY, (uint64_t)TIOCSTI | UINT64_C(1) << 32, ARG_BUF}},
    {false, SYS_ioctl, {ARG_TTY, TIOCLINUX, ARG_BUF}},
    {false, SYS_personality, {0xffffffffu, 0, 0}},
    {false, SYS_personality, {PER_LINUX, 0, 0}},
    {false, SYS_personality, {PER_LINUX | READ_IMPLIES_EXEC, 0, 0}},
    {false, SYS_personality, {(uint64_t)ADDR_NO_RANDOMIZE | UINT64_C(1) << 32, 0, 0}},
    {false, SYS_socket, {AF_UNIX, SOCK_STREAM, 0}},
    {false, SYS_socket, {AF_INET6, SOCK_DGRAM, 0}},
    {false, SYS_socket, {AF_INET6 | UINT64_C(1) << 32, SOCK_DGRAM, 0}},
    {false, SYS_socket, {AF_VSOCK, SOCK_STREAM, 0}},
    {false, SYS_unshare, {CLONE_NEWUTS, 0, 0}},
    {false, SYS_setns, {(uint64_t)-1, 0, 0}},
    {false, X32_NR_GETPID, {0, 0, 0}},
    {false, X32_NR_IOCTL, {ARG_TTY, TIOCSTI, ARG_BUF}},
    {false, X32_NR_SOCKET, {AF_INET6, SOCK_DGRAM, 0}},
    {true, I386_NR_GETPID, {0, 0, 0}},
    {true, I386_NR_UNAME, {ARG_BUF, 0, 0}},
    {true, I386_NR_IOCTL, {ARG_TTY, TIOCSTI, ARG_BUF}},
    {true, I386_NR_IOCTL, {ARG_TTY, TIOCGWINSZ, ARG_BUF}},
    {true, I386_NR_SOCKET, {AF_INET6, SOCK_DGRAM, 0}},
    {true, I386_NR_SOCKET, {AF_UNIX, SOCK_STREAM, 0}},
    {true, I386_NR_SOCKETCALL, {1 /* SYS_SOCKET */, ARG_BUF, 0}},
};

/* Every case under prog: the evaluator's verdict must be the kernel's.
 * Returns how many cases ran (the i386 ones need the gate). */
static size_t compare_with_kernel(const struct seccomp_program *prog, const char *name,
				  struct kcall *k)
{
	size_t ran = 0;

	for (size_t i = 0; i < N_OF(kcases); i++) {
		const struct kcase *c = &kcases[i];
		struct seccomp_data d;
		uint32_t eval;
		int filtered, unfiltered;

		if (c->i386 && !i386_gate())
			continue;
		k->c = c;
		d = call_data(c->i386 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64, c->nr,
			      kcase_arg(k, c->a[0]), kcase_arg(k, c->a[1]), kcase_arg(k, c->a[2]));
		if (c->i386) /* i386 registers are 32 bits */
			for (int j = 0; j < 3; j++)
				d.args[j] &= 0xffffffffu;
		eval = evaluate(prog, &d);
		unfiltered = run_child(NULL, kcase_run, k);
		filtered = run_child(prog, kcase_run, k);
		if (!kernel_agrees(eval, filtered, unfiltered))
			fail_msg("%s: case %zu (%s nr %ld, arg1 %#llx): the evaluator says %s "
				 "(%#x), the kernel's run gave status %#x (unfiltered %#x)",
				 name, i, c->i386 ? "i386" : "x86_64", c->nr,
				 (unsigned long long)d.args[1], bpf_action_name(eval), eval,
				 filtered, unfiltered);
		ran++;
	}
	return ran;
}

static void *low_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
		       -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

struct tty {
	int master, slave;
	char *low; /* a byte below 4 GiB, for i386 ioctls */
};

static void tty_open(struct tty *t)
{
	const char *name;

	t->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(t->master >= 0);
	assert_int_equal(grantpt(t->master), 0);
	assert_int_equal(unlockpt(t->master), 0);
	name = ptsname(t->master);
	assert_non_null(name);
	t->slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(t->slave >= 0);
	t->low = low_page();
	t->low[0] = 'x';
}

static void tty_close(struct tty *t)
{
	close(t->slave);
	close(t->master);
	munmap(t->low, 4096);
}

/* The evaluator agrees with the kernel on what ward's programs do: the
 * shipped kind (errno default, families and namespaces restricted, both
 * other ABIs allowed), a native-only one, a kill default and a log
 * default. A drift in the evaluator (a jump, a load, the high half of an
 * argument, an action's precedence) shows here first. */
/* The policy shapes test_evaluator_matches_kernel compares under. */
static const char *const shape_names[] = {"hardened, x86 and x32", "hardened, native only",
					  "kill default", "log default"};

static struct ward_seccomp shape(size_t i)
{
	static char *abis[] = {"x86", "x32"};
	static char *deny_uname[] = {"uname"};
	static char *log_allow[] = {"@default", "@basic-io"};
	struct ward_seccomp p = hardened();

	switch (i) {
	case 0:
		p.abis = abis;
		p.n_abis = N_OF(abis);
		p.restrict_families = true;
		p.address_families = UINT64_C(1) << AF_UNIX | UINT64_C(1) << AF_INET;
		p.restrict_namespaces = true;
		break;
	case 2:
		p.default_action = SECCOMP_DEFAULT_KILL;
		p.deny = deny_uname;
		p.n_deny = 1;
		break;
	case 3:
		p = (struct ward_seccomp){.default_action = SECCOMP_DEFAULT_LOG,
					  .allow = log_allow,
					  .n_allow = N_OF(log_allow),
					  .deny = deny_uname,
					  .n_deny = 1,
					  .abis = abis,
					  .n_abis = N_OF(abis)};
		break;
	default:
		break;
	}
	return p;
}

static void test_evaluator_matches_kernel(void **state)
{
	struct tty t;
	struct kcall k = {0};
	size_t ran = 0;

	(void)state;
	skip_unless_filters_work();
	tty_open(&t);
	k.buf = t.low;
	k.tty = t.slave;
	for (size_t i = 0; i < N_OF(shape_names); i++) {
		struct ward_seccomp p = shape(i);
		struct seccomp_program prog;

		compile_ok(&p, NULL, &prog);
		ran += compare_with_kernel(&prog, shape_names[i], &k);
		seccomp_program_free(&prog);
	}
	tty_close(&t);
	print_message("evaluator matched the kernel on %zu calls%s\n", ran,
		      i386_gate() ? ", i386 ones included"
				  : " (native and x32 numbers: no i386 gate)");
	assert_true(ran >= N_OF(shape_names) * 21);
}

/* The evaluator is no rubber stamp: programs that allow what ward's
 * refuse, or that the kernel would not load, give other answers. */
static void test_evaluator_can_fail(void **state)
{
	static const struct sock_filter allow_all[] = {
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	static const struct sock_filter kill_i386[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
	    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80000000u, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM)),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	static const struct sock_filter unaligned[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2),
						       BPF_STMT(BPF_RET | BPF_K, 0)};
	static const struct sock_filter past_end[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, sizeof(struct seccomp_data)),
	    BPF_STMT(BPF_RET | BPF_K, 0)};
	static const struct sock_filter falls_off[] = {BPF_STMT(BPF_LD | BPF_IMM, 0)};
	static const struct sock_filter jumps_out[] = {BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
						       BPF_STMT(BPF_RET | BPF_K, 0)};
	const struct sock_filter *stack[] = {allow_all, kill_i386};
	const size_t lens[] = {1, N_OF(kill_i386)};
	struct seccomp_data i386_call = call_data(AUDIT_ARCH_I386, I386_NR_GETPID, 0, 0, 0);
	struct seccomp_data native = call_data(AUDIT_ARCH_X86_64, SYS_getpid, 0, 0, 0);
	struct seccomp_data high = call_data(AUDIT_ARCH_X86_64, SYS_ioctl, 0, 0x80000000u, 0);
	bool bad;

	(void)state;
	assert_int_equal(bpf_eval(allow_all, 1, &i386_call, &bad), SECCOMP_RET_ALLOW);
	assert_false(bad);
	assert_int_equal(bpf_eval(kill_i386, N_OF(kill_i386), &i386_call, &bad),
			 SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(bpf_eval(kill_i386, N_OF(kill_i386), &native, &bad), SECCOMP_RET_ALLOW);
	assert_int_equal(bpf_eval(kill_i386, N_OF(kill_i386), &high, &bad), RET_ERRNO(EPERM));
	/* Stacked, the stronger action wins whichever filter returns it. */
	assert_int_equal(bpf_eval_stack(stack, lens, 2, &i386_call, &bad),
			 SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(bpf_eval_stack(stack, lens, 2, &high, &bad), RET_ERRNO(EPERM));
	assert_false(bad);
	bpf_eval(unaligned, N_OF(unaligned), &native, &bad);
	assert_true(bad);
	bpf_eval(past_end, N_OF(past_end), &native, &bad);
	assert_true(bad);
	bpf_eval(falls_off, N_OF(falls_off), &native, &bad);
	assert_true(bad);
	bpf_eval(jumps_out, N_OF(jumps_out), &native, &bad);
	assert_true(bad);
}

/* ---- ABIs ---- */

static int check_i386(void *ud)
{
	char *buf = ud; /* below 4 GiB: i386 pointers are 32 bits */

	if (int80(I386_NR_GETPID, 0, 0, 0) != getpid())
		return 1;
	if (int80(I386_NR_UNAME, (long)buf, 0, 0) != -EPERM) /* denied */
		return 2;
	return 0;
}

static void test_abi_i386(void **state)
{
	char *deny[] = {"uname"};
	char *x86[] = {"x86"};
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;
	void *page;

	(void)state;
	skip_unless_filters_work();
	page = low_page();
	/* The native-only filter kills any i386 call, although getpid is
	 * allowed. */
	compile_ok(&p, NULL, &prog);
	assert_verdict(&prog, SECCOMP_RET_KILL_PROCESS, AUDIT_ARCH_I386, I386_NR_GETPID, 0, 0, 0);
	assert_verdict(&prog, SECCOMP_RET_KILL_PROCESS, AUDIT_ARCH_I386, I386_NR_UNAME, 0, 0, 0);
	assert_verdict(&prog, SECCOMP_RET_ALLOW, AUDIT_ARCH_X86_64, SYS_getpid, 0, 0, 0);
	if (i386_gate())
		assert_child_sigsys(run_child(&prog, call_i386_getpid, NULL));
	seccomp_program_free(&prog);

	/* With "x86" in abis the same rules apply through int 0x80. */
	p.abis = x86;
	p.n_abis = 1;
	p.deny = deny;
	p.n_deny = 1;
	compile_ok(&p, NULL, &prog);
	assert_verdict(&prog, SECCOMP_RET_ALLOW, AUDIT_ARCH_I386, I386_NR_GETPID, 0, 0, 0);
	assert_verdict(&prog, RET_ERRNO(EPERM), AUDIT_ARCH_I386, I386_NR_UNAME, 0, 0, 0);
	if (i386_gate())
		assert_child_ok(run_child(&prog, check_i386, page));
	seccomp_program_free(&prog);
	munmap(page, 4096);
}

static int call_x32_getpid(void *ud)
{
	long r = syscall(X32_NR_GETPID);

	(void)ud;
	/* ENOSYS where the kernel has no x32 support, as here. */
	return (r == getpid() || failed_with(r, ENOSYS)) ? 0 : 1;
}

static int check_x32(void *ud)
{
	struct winsize ws;
	char c = 'x';

	(void)ud;
	if (call_x32_getpid(NULL) != 0)
		return 1;
	if (!failed_with(syscall(X32_NR_UNAME, 0), EPERM)) /* denied */
		return 2;
	/* The tty guard covers x32's ioctl too; other requests pass it. */
	if (!failed_with(syscall(X32_NR_IOCTL, 0, TIOCSTI, &c), EPERM))
		return 3;
	if (failed_with(syscall(X32_NR_IOCTL, 0, TIOCGWINSZ, &ws), EPERM))
		return 4;
	return 0;
}

static void test_abi_x32(void **state)
{
	char *deny[] = {"uname"};
	char *x32[] = {"x32"};
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;

	(void)state;
	skip_unless_filters_work();
	assert_child_ok(run_child(NULL, call_x32_getpid, NULL));
	/* nr | 0x40000000 reaches the filter as AUDIT_ARCH_X86_64: the
	 * native-only filter must still catch it. */
	compile_ok(&p, NULL, &prog);
	assert_child_sigsys(run_child(&prog, call_x32_getpid, NULL));
	seccomp_program_free(&prog);

	p.abis = x32;
	p.n_abis = 1;
	p.deny = deny;
	p.n_deny = 1;
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_x32, NULL));
	seccomp_program_free(&prog);
}

/* ---- terminal injection ---- */

static int check_tty(void *ud)
{
	const struct tty *t = ud;
	struct winsize ws;
	char c = 'x';

	if (ioctl(t->slave, TIOCGWINSZ, &ws) != 0) /* other ioctls work */
		return 1;
	if (!failed_with(ioctl(t->slave, TIOCSTI, &c), EPERM))
		return 2;
	/* The kernel ignores the upper half of the request. */
	if (!failed_with(syscall(SYS_ioctl, t->slave, (unsigned long)TIOCSTI | 1ul << 32, &c),
			 EPERM))
		return 3;
	if (!failed_with(ioctl(t->slave, TIOCLINUX, &c), EPERM))
		return 4;
	{
		int ldisc = 0; /* N_TTY, what it has: the kernel would say 0 */

		if (!failed_with(ioctl(t->slave, TIOCSETD, &ldisc), EPERM))
			return 5;
	}
	return 0;
}

static int check_tty_i386(void *ud)
{
	const struct tty *t = ud;

	if (int80(I386_NR_IOCTL, t->slave, TIOCSTI, (long)t->low) != -EPERM)
		return 1;
	if (int80(I386_NR_IOCTL, t->slave, TIOCGWINSZ, (long)t->low) != 0)
		return 2;
	return 0;
}

/* The guard on i386's ioctl, as the kernel would run it for an i386 call:
 * the terminal requests refused whatever the high half holds (a 64-bit
 * process entering through int 0x80 can leave bits there), others pass. */
static void assert_tty_guard_i386(const struct seccomp_program *prog, uint32_t pass)
{
	const uint64_t high = UINT64_C(1) << 32;

	assert_verdict(prog, RET_ERRNO(EPERM), AUDIT_ARCH_I386, I386_NR_IOCTL, 0, TIOCSTI, 0);
	assert_verdict(prog, RET_ERRNO(EPERM), AUDIT_ARCH_I386, I386_NR_IOCTL, 0, TIOCSTI | high,
		       0);
	assert_verdict(prog, RET_ERRNO(EPERM), AUDIT_ARCH_I386, I386_NR_IOCTL, 0, TIOCLINUX, 0);
	assert_verdict(prog, RET_ERRNO(EPERM), AUDIT_ARCH_I386, I386_NR_IOCTL, 0, TIOCSETD | high,
		       0);
	assert_verdict(prog, pass, AUDIT_ARCH_I386, I386_NR_IOCTL, 0, TIOCGWINSZ, 0);
}

static void test_tiocsti(void **state)
{
	char *x86[] = {"x86"};
	char *log_allow[] = {"@default", "@basic-io"};
	char *log_deny[] = {"uname"};
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;
	struct tty t;
	char c = 'x';

	(void)state;
	skip_unless_filters_work();
	tty_open(&t);
	/* Unfiltered (root: CAP_SYS_ADMIN), TIOCSTI works, high bits and all. */
	if (ioctl(t.slave, TIOCSTI, &c) != 0) {
		tty_close(&t);
		skip();
	}
	assert_int_equal(syscall(SYS_ioctl, t.slave, (unsigned long)TIOCSTI | 1ul << 32, &c), 0);
	if (i386_gate())
		assert_int_equal(int80(I386_NR_IOCTL, t.slave, TIOCSTI, (long)t.low), 0);

	/* @system-service allows ioctl unconditionally, and still: */
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_tty, &t));
	/* The native-only program does not even get to the guard for i386. */
	assert_verdict(&prog, SECCOMP_RET_KILL_PROCESS, AUDIT_ARCH_I386, I386_NR_IOCTL, 0,
		       TIOCGWINSZ, 0);
	seccomp_program_free(&prog);

	p.abis = x86;
	p.n_abis = 1;
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_tty, &t));
	assert_tty_guard_i386(&prog, SECCOMP_RET_ALLOW);
	if (i386_gate())
		assert_child_ok(run_child(&prog, check_tty_i386, &t));
	seccomp_program_free(&prog);

	/* Under a log default ioctl is not allowed but runs: guarded too. */
	p = (struct ward_seccomp){.default_action = SECCOMP_DEFAULT_LOG,
				  .allow = log_allow,
				  .n_allow = N_OF(log_allow),
				  .deny = log_deny,
				  .n_deny = N_OF(log_deny),
				  .abis = x86,
				  .n_abis = 1};
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_log_default, &t.slave));
	/* ioctl is neither allowed nor denied there: logged, and runs. */
	assert_tty_guard_i386(&prog, SECCOMP_RET_LOG);
	seccomp_program_free(&prog);
	tty_close(&t);
}

/* ---- personality and address families ---- */

static int check_personality(void *ud)
{
	(void)ud;
	if (syscall(SYS_personality, 0xffffffffUL) < 0) /* the query */
		return 1;
	if (syscall(SYS_personality, (unsigned long)PER_LINUX) < 0)
		return 2;
	if (!failed_with(syscall(SYS_personality, (unsigned long)(PER_LINUX | READ_IMPLIES_EXEC)),
			 EPERM))
		return 3;
	if (!failed_with(syscall(SYS_personality, (unsigned long)(PER_LINUX | ADDR_NO_RANDOMIZE)),
			 EPERM))
		return 4;
	/* The kernel takes the low 32 bits only. */
	if (!failed_with(syscall(SYS_personality, (unsigned long)READ_IMPLIES_EXEC | 1ul << 32),
			 EPERM))
		return 5;
	return 0;
}

static void test_personality_locked(void **state)
{
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;

	(void)state;
	skip_unless_filters_work();
	/* Without a filter READ_IMPLIES_EXEC is taken. */
	assert_int_not_equal(run_child(NULL, check_personality, NULL), 0);
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_personality, NULL));
	seccomp_program_free(&prog);
}

static bool made(int af, int type)
{
	int fd = socket(af, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Restricted to unix and inet. */
static int check_families(void *ud)
{
	int sv[2];

	(void)ud;
	if (!made(AF_UNIX, SOCK_STREAM) || !made(AF_INET, SOCK_DGRAM))
		return 1;
	if (!failed_with(socket(AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT))
		return 2;
	if (!failed_with(socket(AF_VSOCK, SOCK_STREAM, 0), EAFNOSUPPORT))
		return 3;
	if (!failed_with(socket(AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT))
		return 4;
	/* The low 32 bits decide, as for the kernel. */
	if (!failed_with(syscall(SYS_socket, (long)AF_INET6 | 1L << 32, SOCK_DGRAM, 0),
			 EAFNOSUPPORT))
		return 5;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 6;
	close(sv[0]);
	close(sv[1]);
	if (!failed_with(socketpair(AF_INET6, SOCK_STREAM, 0, sv), EAFNOSUPPORT))
		return 7;
	return 0;
}

static int check_families_x32(void *ud)
{
	(void)ud;
	if (!failed_with(syscall(X32_NR_SOCKET, AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT))
		return 1;
	return 0;
}

static int check_families_i386(void *ud)
{
	(void)ud;
	if (int80(I386_NR_SOCKET, AF_INET6, SOCK_DGRAM, 0) != -EAFNOSUPPORT)
		return 1;
	if (int80(I386_NR_SOCKETCALL, 1 /* SYS_SOCKET */, 0, 0) != -EAFNOSUPPORT)
		return 2;
	return 0;
}

/* i386's socket and socketpair by family, the low half deciding; its
 * socketcall(SYS_SOCKET or SYS_SOCKETPAIR), whose family sits in memory,
 * refused whatever it is; its other socketcalls pass. */
static void assert_families_i386(const struct seccomp_program *prog)
{
	const uint32_t noaf = RET_ERRNO(EAFNOSUPPORT);
	const uint64_t high = UINT64_C(1) << 32;

	assert_verdict(prog, noaf, AUDIT_ARCH_I386, I386_NR_SOCKET, AF_INET6, SOCK_DGRAM, 0);
	assert_verdict(prog, noaf, AUDIT_ARCH_I386, I386_NR_SOCKET, AF_INET6 | high, 0, 0);
	assert_verdict(prog, noaf, AUDIT_ARCH_I386, I386_NR_SOCKET, AF_VSOCK, SOCK_STREAM, 0);
	assert_verdict(prog, noaf, AUDIT_ARCH_I386, I386_NR_SOCKETPAIR, AF_INET6, SOCK_STREAM, 0);
	assert_verdict(prog, SECCOMP_RET_ALLOW, AUDIT_ARCH_I386, I386_NR_SOCKET, AF_UNIX,
		       SOCK_STREAM, 0);
	assert_verdict(prog, SECCOMP_RET_ALLOW, AUDIT_ARCH_I386, I386_NR_SOCKET, AF_INET | high,
		       SOCK_DGRAM, 0);
	assert_verdict(prog, noaf, AUDIT_ARCH_I386, I386_NR_SOCKETCALL, 1 /* SYS_SOCKET */, 0, 0);
	assert_verdict(prog, noaf, AUDIT_ARCH_I386, I386_NR_SOCKETCALL, 8 /* SYS_SOCKETPAIR */, 0,
		       0);
	assert_verdict(prog, SECCOMP_RET_ALLOW, AUDIT_ARCH_I386, I386_NR_SOCKETCALL,
		       3 /* SYS_CONNECT */, 0, 0);
	/* x32's socket reaches the filter as x86_64 with bit 30 set. */
	assert_verdict(prog, noaf, AUDIT_ARCH_X86_64, X32_NR_SOCKET, AF_INET6, SOCK_DGRAM, 0);
}

static void test_address_families(void **state)
{
	char *abis[] = {"x32", "x86"};
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;

	(void)state;
	skip_unless_filters_work();
	/* Unrestricted (the struct's zero value): inet6 sockets are made. */
	compile_ok(&p, NULL, &prog);
	assert_int_not_equal(run_child(&prog, check_families, NULL), 0);
	seccomp_program_free(&prog);

	p.restrict_families = true;
	p.address_families = UINT64_C(1) << AF_UNIX | UINT64_C(1) << AF_INET;
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_families, NULL));
	seccomp_program_free(&prog);

	p.abis = abis;
	p.n_abis = 2;
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, check_families, NULL));
	assert_child_ok(run_child(&prog, check_families_x32, NULL));
	assert_families_i386(&prog);
	if (i386_gate())
		assert_child_ok(run_child(&prog, check_families_i386, NULL));
	seccomp_program_free(&prog);

	/* Every family allowed: still fits (jumps of at most 255). */
	p.address_families = ~UINT64_C(0);
	compile_ok(&p, NULL, &prog);
	assert_verdict(&prog, SECCOMP_RET_ALLOW, AUDIT_ARCH_I386, I386_NR_SOCKET, AF_INET6, 0, 0);
	seccomp_program_free(&prog);
}

static void test_family_names(void **state)
{
	(void)state;
	assert_int_equal(seccomp_family_from_name("unix"), AF_UNIX);
	assert_int_equal(seccomp_family_from_name("inet6"), AF_INET6);
	assert_int_equal(seccomp_family_from_name("vsock"), AF_VSOCK);
	assert_int_equal(seccomp_family_from_name("AF_UNIX"), -1);
	assert_int_equal(seccomp_family_from_name("any"), -1);
	assert_int_equal(seccomp_family_from_name(NULL), -1);
	/* The guard's mask has 64 bits: every family fits. */
	assert_int_equal(seccomp_family_from_name("mctp"), AF_MCTP);
	assert_true(AF_MAX <= 64);
}

/* ---- the cache ---- */

struct cache_fixture {
	char root[64];
	char dir[96];  /* root/cache: created by seccomp_compile */
	char link[96]; /* root/link -> cache */
};

static int cache_setup(void **state)
{
	struct cache_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/ward-test-seccomp.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/cache", f->root);
	snprintf(f->link, sizeof(f->link), "%s/link", f->root);
	*state = f;
	return 0;
}

static void remove_dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' ||
		    (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static int cache_teardown(void **state)
{
	struct cache_fixture *f = *state;

	chmod(f->dir, 0700);
	remove_dir_entries(f->dir);
	rmdir(f->dir);
	remove_dir_entries(f->root);
	rmdir(f->root);
	free(f);
	return 0;
}

/* The names of the .bpf entries in dir (at most 4), and their count. */
static size_t cache_entries(const char *dir, char names[4][300])
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		assert_non_null(strstr(e->d_name, ".bpf"));
		if (n < 4)
			snprintf(names[n], 300, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void compile_expect(const struct ward_seccomp *p, const char *dir, bool cached,
			   const struct seccomp_program *same_as)
{
	struct seccomp_program prog;

	compile_ok(p, dir, &prog);
	if (prog.cached != cached)
		fail_msg("expected a cache %s", cached ? "hit" : "miss");
	if (same_as) {
		assert_int_equal(prog.n_insns, same_as->n_insns);
		assert_int_equal(prog.flags, same_as->flags);
		assert_memory_equal(prog.insns, same_as->insns,
				    prog.n_insns * sizeof(struct sock_filter));
	}
	seccomp_program_free(&prog);
}

static void test_cache_hit_and_miss(void **state)
{
	struct cache_fixture *f = *state;
	char *deny[] = {"@privileged", "@mount"};
	struct ward_seccomp p = hardened(), q = hardened();
	struct seccomp_program ref;
	char names[4][300];
	struct stat st;

	compile_ok(&p, NULL, &ref);
	compile_expect(&p, f->dir, false, &ref);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(cache_entries(f->dir, names), 1);
	assert_int_equal(stat(names[0], &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Second time: read back, byte-identical to a fresh compile. */
	compile_expect(&p, f->dir, true, &ref);

	/* Another policy is another entry. */
	q.deny = deny;
	q.n_deny = N_OF(deny);
	compile_expect(&q, f->dir, false, NULL);
	compile_expect(&q, f->dir, true, NULL);
	assert_int_equal(cache_entries(f->dir, names), 2);
	/* The log flag is part of the key. */
	q.log_denied = false;
	compile_expect(&q, f->dir, false, NULL);
	assert_int_equal(cache_entries(f->dir, names), 3);
	compile_expect(&p, f->dir, true, &ref);
	seccomp_program_free(&ref);
}

static void flip_byte(const char *path, off_t from_end)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	unsigned char b;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(pread(fd, &b, 1, st.st_size - from_end), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, st.st_size - from_end), 1);
	close(fd);
}

static void test_cache_corrupt(void **state)
{
	struct cache_fixture *f = *state;
	struct ward_seccomp p = hardened();
	struct seccomp_program ref;
	char names[4][300];
	struct stat st;

	compile_ok(&p, NULL, &ref);
	compile_expect(&p, f->dir, false, &ref);
	assert_int_equal(cache_entries(f->dir, names), 1);

	/* One flipped bit in the last instruction: a miss, then rewritten. */
	flip_byte(names[0], 1);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);

	/* Truncated. */
	assert_int_equal(stat(names[0], &st), 0);
	assert_int_equal(truncate(names[0], st.st_size - 3), 0);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);
	assert_int_equal(truncate(names[0], 0), 0);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);

	/* A flipped byte in the key. */
	flip_byte(names[0], (off_t)(ref.n_insns * sizeof(struct sock_filter)) + 5);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);
	assert_int_equal(cache_entries(f->dir, names), 1);
	seccomp_program_free(&ref);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	assert_true(in >= 0);
	n = read(in, buf, sizeof(buf));
	assert_true(n > 0 && n < (ssize_t)sizeof(buf));
	close(in);
	out = open(to, O_WRONLY | O_TRUNC);
	assert_true(out >= 0);
	assert_int_equal(write(out, buf, (size_t)n), n);
	close(out);
}

/* A valid entry of another policy under this policy's name: the key differs. */
static void test_cache_wrong_key(void **state)
{
	struct cache_fixture *f = *state;
	char *deny[] = {"@mount"};
	struct ward_seccomp p = hardened(), q = hardened();
	struct seccomp_program ref;
	char names[4][300], p_name[300];

	compile_ok(&p, NULL, &ref);
	compile_expect(&p, f->dir, false, &ref);
	assert_int_equal(cache_entries(f->dir, names), 1);
	memcpy(p_name, names[0], sizeof(p_name));
	q.deny = deny;
	q.n_deny = 1;
	compile_expect(&q, f->dir, false, NULL);
	assert_int_equal(cache_entries(f->dir, names), 2);
	copy_file(strcmp(names[0], p_name) ? names[0] : names[1], p_name);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);
	seccomp_program_free(&ref);
}

static void test_cache_untrusted(void **state)
{
	struct cache_fixture *f = *state;
	struct ward_seccomp p = hardened();
	struct seccomp_program ref;
	struct passwd *nobody = getpwnam("nobody");
	char names[4][300], real[300];

	compile_ok(&p, NULL, &ref);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);
	assert_int_equal(cache_entries(f->dir, names), 1);

	/* A world-writable directory is not used at all: not read... */
	assert_int_equal(chmod(f->dir, 0777), 0);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, false, &ref);
	/* ... and not written. */
	assert_int_equal(unlink(names[0]), 0);
	compile_expect(&p, f->dir, false, &ref);
	assert_int_equal(cache_entries(f->dir, names), 0);
	assert_int_equal(chmod(f->dir, 0770), 0); /* group-writable: same */
	compile_expect(&p, f->dir, false, &ref);
	assert_int_equal(cache_entries(f->dir, names), 0);
	assert_int_equal(chmod(f->dir, 0700), 0);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);
	assert_int_equal(cache_entries(f->dir, names), 1);

	/* Through a symlink: not used, although the entry is there. */
	assert_int_equal(symlink("cache", f->link), 0);
	compile_expect(&p, f->link, false, &ref);

	/* A group-writable entry: a miss, then replaced by a private one. */
	assert_int_equal(chmod(names[0], 0620), 0);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);

	/* An entry owned by someone else. */
	if (geteuid() == 0 && nobody) {
		assert_int_equal(chown(names[0], nobody->pw_uid, nobody->pw_gid), 0);
		compile_expect(&p, f->dir, false, &ref);
		compile_expect(&p, f->dir, true, &ref);
	}

	/* An entry that is a symlink to a good one: not followed. */
	assert_int_equal(snprintf(real, sizeof(real), "%s/real.bpf", f->root) < (int)sizeof(real),
			 1);
	assert_int_equal(rename(names[0], real), 0);
	assert_int_equal(symlink(real, names[0]), 0);
	compile_expect(&p, f->dir, false, &ref);
	compile_expect(&p, f->dir, true, &ref);
	seccomp_program_free(&ref);
}

/* ---- namespaces (restrict_namespaces) ---- */

static int try_namespaces(void *ud)
{
	bool restricted = *(bool *)ud;
	struct clone_args ca = {.flags = CLONE_NEWUTS, .exit_signal = SIGCHLD};
	pid_t pid;
	int st;

	/* Forking without namespace flags always works. */
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
		return 1;
	if (restricted) {
		if (!failed_with(unshare(CLONE_NEWUSER), EPERM))
			return 2;
		if (!failed_with(unshare(CLONE_NEWNET | CLONE_NEWNS), EPERM))
			return 3;
		if (!failed_with(syscall(SYS_unshare, 0x80 /* CLONE_NEWTIME */), EPERM))
			return 4;
		/* clone(CLONE_NEWUSER|SIGCHLD): flags in the first argument. */
		if (!failed_with(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), EPERM))
			return 5;
		/* High bits do not hide a flag from the 32-bit comparison. */
		if (!failed_with(syscall(SYS_unshare, (1ul << 32) | CLONE_NEWUSER), EPERM))
			return 6;
		if (!failed_with(syscall(SYS_clone3, &ca, sizeof(ca)), ENOSYS))
			return 7;
		if (!failed_with(setns(0, 0), EPERM))
			return 8;
		return 0;
	}
	/* Unrestricted, a user namespace can be made (as any user could). */
	return unshare(CLONE_NEWUSER) == 0 ? 0 : 9;
}

static void test_namespaces_restricted(void **state)
{
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;
	bool restricted = true;

	(void)state;
	skip_unless_filters_work();
	p.restrict_namespaces = true;
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, try_namespaces, &restricted));
	seccomp_program_free(&prog);
}

static void test_namespaces_allowed(void **state)
{
	struct ward_seccomp p = hardened();
	struct seccomp_program prog;
	bool restricted = false;

	(void)state;
	skip_unless_filters_work();
	p.restrict_namespaces = false;
	compile_ok(&p, NULL, &prog);
	assert_child_ok(run_child(&prog, try_namespaces, &restricted));
	seccomp_program_free(&prog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_namespaces_restricted),
	    cmocka_unit_test(test_namespaces_allowed),
	    cmocka_unit_test(test_group_names),
	    cmocka_unit_test(test_group_every_group_expands),
	    cmocka_unit_test(test_group_nested),
	    cmocka_unit_test(test_group_unknown),
	    cmocka_unit_test(test_syscall_known),
	    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test(test_compile_shapes),
	    cmocka_unit_test(test_load_rejects_empty),
	    cmocka_unit_test(test_filter_deny_wins),
	    cmocka_unit_test(test_filter_default_kill),
	    cmocka_unit_test(test_evaluator_can_fail),
	    cmocka_unit_test(test_evaluator_matches_kernel),
	    cmocka_unit_test(test_abi_i386),
	    cmocka_unit_test(test_abi_x32),
	    cmocka_unit_test(test_tiocsti),
	    cmocka_unit_test(test_personality_locked),
	    cmocka_unit_test(test_address_families),
	    cmocka_unit_test(test_family_names),
	    cmocka_unit_test_setup_teardown(test_cache_hit_and_miss, cache_setup, cache_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_corrupt, cache_setup, cache_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_wrong_key, cache_setup, cache_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_untrusted, cache_setup, cache_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
