/* Seccomp: compiling a policy (syscall names and systemd groups) to a BPF
 * program with libseccomp, caching the program on disk, and loading it.
 *
 * Why the cache: measured on the development host (x86_64, kernel 6.18,
 * libseccomp 2.5.4, -O2 -g), median of 200 runs of seccomp_compile() for the
 * default hardened policy (allow @system-service; deny @privileged @mount
 * @debug @module @raw-io @reboot @swap @clock @obsolete @cpu-emulation;
 * log_denied; 385 instructions):
 *   compiled with libseccomp:  1.40 ms
 *   read from the cache:       0.072 ms (group expansion and the key included)
 * Rerun with: WARD_SECCOMP_BENCH=1 build/tests/test_seccomp
 */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "model/seccomp-groups.h"

/* The ABI handling below (x86 and x32 beside the native x86_64, the x32
 * syscall bit, the 32-bit ioctl request) is x86_64's. */
#if !defined(__x86_64__) || defined(__ILP32__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ward's seccomp module is written for x86_64"
#endif

/* Bump whenever the generated program would change for the same policy
 * (rules, attributes, the tty guard): it is part of every cache key. */
#define SECCOMP_GENERATOR_VERSION 3
/* Bump when the layout of a cache file changes. */
#define CACHE_FORMAT_VERSION 1
#define CACHE_MAGIC          "WARDBPF\n"
/* A key is a few KiB (about 400 names); anything near this is not ours. */
#define CACHE_KEY_MAX (256u * 1024)

enum seccomp_abi {
	ABI_X32 = 1 << 0,
	ABI_X86 = 1 << 1,
};

/* The syscall names a policy expands to. */
struct policy_sets {
	struct syscall_set allow;  /* every allow entry, groups expanded */
	struct syscall_set deny;   /* every deny entry, groups expanded */
	struct syscall_set permit; /* allow minus deny: what gets an ALLOW rule */
};

static void policy_sets_free(struct policy_sets *s)
{
	syscall_set_free(&s->allow);
	syscall_set_free(&s->deny);
	syscall_set_free(&s->permit);
}

/* ---- from a policy to sets of names ---- */

static int expand_entries(char *const *entries, size_t n, struct syscall_set *set, const char *what,
			  struct ward_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *e = entries[i];
		int r;

		if (e[0] == '@') {
			const struct seccomp_group *g = seccomp_group_find(e);

			if (!g)
				return ward_err_set(err, 0, "%s[%zu]: unknown syscall group \"%s\"",
						    what, i, e);
			r = syscall_set_add_group(set, g);
		} else {
			if (!seccomp_syscall_known(e))
				return ward_err_set(err, 0, "%s[%zu]: unknown system call \"%s\"",
						    what, i, e);
			r = syscall_set_add(set, e);
		}
		if (r < 0)
			return ward_err_set(err, errno, "expanding %s[%zu] \"%s\"", what, i, e);
	}
	syscall_set_finish(set);
	return 0;
}

static int policy_sets_build(const struct ward_seccomp *p, struct policy_sets *s,
			     struct ward_err *err)
{
	if (expand_entries(p->allow, p->n_allow, &s->allow, "allow", err) < 0)
		return -1;
	if (expand_entries(p->deny, p->n_deny, &s->deny, "deny", err) < 0)
		return -1;
	/* Deny wins: a syscall denied by name or group never gets an ALLOW
	 * rule, whichever allowed group brought it in. */
	for (size_t i = 0; i < s->allow.n; i++)
		if (!syscall_set_contains(&s->deny, s->allow.v[i]) &&
		    syscall_set_add(&s->permit, s->allow.v[i]) < 0)
			return ward_err_set(err, errno, "building the allowed set");
	syscall_set_finish(&s->permit);
	return 0;
}

static int parse_abis(const struct ward_seccomp *p, unsigned *abis, struct ward_err *err)
{
	*abis = 0;
	for (size_t i = 0; i < p->n_abis; i++) {
		if (strcmp(p->abis[i], "x86") == 0)
			*abis |= ABI_X86;
		else if (strcmp(p->abis[i], "x32") == 0)
			*abis |= ABI_X32;
		else
			return ward_err_set(err, 0, "abis[%zu]: unknown ABI \"%s\"", i, p->abis[i]);
	}
	return 0;
}

static unsigned program_flags(const struct ward_seccomp *p)
{
	return p->log_denied ? SECCOMP_FILTER_FLAG_LOG : 0;
}

/* ---- the cache key: everything that determines the program ---- */

static const char *default_name(enum seccomp_default d)
{
	switch (d) {
	case SECCOMP_DEFAULT_ERRNO:
		return "errno";
	case SECCOMP_DEFAULT_KILL:
		return "kill";
	case SECCOMP_DEFAULT_LOG:
		return "log";
	}
	return "invalid";
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n);

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names as written, sorted: the key does not depend on their order. */
static int key_put_names(FILE *f, const char *label, char *const *names, size_t n)
{
	const char **v = n ? malloc(n * sizeof(*v)) : NULL;

	if (n && !v)
		return -1;
	fprintf(f, "%s %zu", label, n);
	for (size_t i = 0; i < n; i++)
		v[i] = names[i];
	if (n > 1) /* v is NULL when n is 0: not for qsort */
		qsort(v, n, sizeof(*v), strcmp_ptr);
	for (size_t i = 0; i < n; i++) {
		fputc(' ', f);
		fputs(v[i], f);
	}
	fputc('\n', f);
	free(v);
	return 0;
}

/* A digest of every group's contents, computed once: a ward whose group
 * tables differ never reads another's cache entries. */
static uint64_t groups_digest(void)
{
	static uint64_t digest;

	if (!digest) {
		uint64_t h = 0xcbf29ce484222325ULL;
		for (const char *const *g = seccomp_group_names(); *g; g++) {
			const struct seccomp_group *grp = seccomp_group_find(*g);
			h = fnv1a(h, *g, strlen(*g) + 1);
			for (const char *const *m = grp ? grp->members : NULL; m && *m; m++)
				h = fnv1a(h, *m, strlen(*m) + 1);
		}
		digest = h ? h : 1;
	}
	return digest;
}

/* Canonical text: equal keys mean byte-identical programs. It holds the
 * policy as written (sorted) plus everything that decides what those names
 * expand to (the group tables, libseccomp's version), so a cache hit costs
 * no group expansion at all: this is on every launch's path. */
static int cache_key_build(const struct ward_seccomp *p, unsigned abis, char **key, size_t *len,
			   struct ward_err *err)
{
	const struct scmp_version *v = seccomp_version();
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return ward_err_set(err, errno, "building the cache key");
	fprintf(f, "ward-seccomp generator %d\n", SECCOMP_GENERATOR_VERSION);
	fprintf(f, "groups %016llx\n", (unsigned long long)groups_digest());
	fprintf(f, "libseccomp %u.%u.%u\n", v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);
	fprintf(f, "default %s\n", default_name(p->default_action));
	fprintf(f, "flags %u\n", program_flags(p));
	fprintf(f, "restrict_namespaces %d\n", p->restrict_namespaces ? 1 : 0);
	if (p->restrict_families)
		fprintf(f, "address_families %016llx\n", (unsigned long long)p->address_families);
	else
		fprintf(f, "address_families any\n");
	fprintf(f, "abis x86_64%s%s\n", (abis & ABI_X32) ? " x32" : "",
		(abis & ABI_X86) ? " x86" : "");
	if (key_put_names(f, "allow", p->allow, p->n_allow) < 0 ||
	    key_put_names(f, "deny", p->deny, p->n_deny) < 0 || ferror(f)) {
		(void)fclose(f); /* failing already */
		free(buf);
		return ward_err_set(err, ENOMEM, "building the cache key");
	}
	if (fclose(f) != 0) {
		free(buf);
		return ward_err_set(err, errno, "building the cache key");
	}
	*key = buf;
	*len = size;
	return 0;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* ---- compiling with libseccomp ---- */

static uint32_t default_action(enum seccomp_default d)
{
	switch (d) {
	case SECCOMP_DEFAULT_KILL:
		return SCMP_ACT_KILL_PROCESS;
	case SECCOMP_DEFAULT_LOG:
		return SCMP_ACT_LOG;
	case SECCOMP_DEFAULT_ERRNO:
	default:
		return SCMP_ACT_ERRNO(EPERM);
	}
}

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static int filter_setup(scmp_filter_ctx ctx, const struct ward_seccomp *p, unsigned abis,
			struct ward_err *err)
{
	int r;

	/* A syscall made through another ABI than the filter covers (int
	 * 0x80 for i386, the x32 bit on x86_64's entry) is looked up in
	 * another numbering, so the rules would not mean what they say. No
	 * x86_64 program does that by accident: it is an evasion attempt, and
	 * EPERM would let it keep probing. Kill. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* Only libseccomp's own seccomp_load() reads this; the program
	 * carries it as SECCOMP_FILTER_FLAG_LOG in its flags instead. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, p->log_denied ? 1 : 0);
	/* A binary tree of syscall numbers instead of a linear list: ~9
	 * comparisons instead of up to ~350 with @system-service. The kernel
	 * skips the filter for syscalls it finds always allowed, but ioctl
	 * (argument-dependent, see the tty guard) and every refused syscall
	 * still run it. Costs ~0.3 ms more per compile, on a cache miss. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return ward_err_set(err, -r, "libseccomp: setting filter attributes");
	if ((abis & ABI_X86) && (r = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0)
		return ward_err_set(err, -r, "libseccomp: adding ABI x86");
	if ((abis & ABI_X32) && (r = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0)
		return ward_err_set(err, -r, "libseccomp: adding ABI x32");
	return 0;
}

static int filter_add_rules(scmp_filter_ctx ctx, const struct syscall_set *set, uint32_t action,
			    struct ward_err *err)
{
	for (size_t i = 0; i < set->n; i++) {
		int nr = seccomp_syscall_resolve_name(set->v[i]);
		int r;

		/* Only group members can be unknown here (direct names were
		 * checked): names from other architectures, or newer than
		 * libseccomp. systemd skips them the same way. */
		if (nr == __NR_SCMP_ERROR)
			continue;
		/* A pseudo number (negative) is translated per ABI by
		 * libseccomp and dropped where the syscall does not exist. */
		r = seccomp_rule_add(ctx, action, nr, 0);
		if (r == -EDOM)
			continue;
		if (r < 0)
			return ward_err_set(err, -r, "libseccomp: adding a rule for %s", set->v[i]);
	}
	return 0;
}

static int filter_export(scmp_filter_ctx ctx, struct sock_filter **insns, size_t *n,
			 struct ward_err *err)
{
	_cleanup_close_ int fd = memfd_create("ward-seccomp", MFD_CLOEXEC);
	_cleanup_free_ struct sock_filter *buf = NULL;
	off_t size;
	ssize_t got;
	int r;

	if (fd < 0)
		return ward_err_set(err, errno, "memfd_create");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return ward_err_set(err, -r, "libseccomp: exporting the filter");
	size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return ward_err_set(err, errno, "reading back the filter");
	if (size == 0 || (size_t)size % sizeof(*buf) != 0 ||
	    (size_t)size / sizeof(*buf) > BPF_MAXINSNS)
		return ward_err_set(err, EINVAL, "libseccomp exported %lld bytes of BPF",
				    (long long)size);
	buf = malloc((size_t)size);
	if (!buf)
		return ward_err_set(err, errno, "reading back the filter");
	got = pread(fd, buf, (size_t)size, 0);
	if (got != size)
		return ward_err_set(err, got < 0 ? errno : EIO, "reading back the filter");
	*insns = TAKE_PTR(buf);
	*n = (size_t)size / sizeof(**insns);
	return 0;
}

/* ---- the guard: argument checks libseccomp cannot express ----
 *
 * libseccomp cannot say "allow ioctl except these requests": a conditional
 * ERRNO rule beside the unconditional ALLOW for ioctl is silently dropped
 * (the broader rule absorbs it), and so is an "always true" masked ALLOW.
 * The same holds for clone/unshare with namespace flags. So a few
 * instructions of our own go in front of libseccomp's program: for the
 * syscalls below they return an error when the arguments say so, and fall
 * through to the program unchanged otherwise (BPF jumps are relative and
 * forward only, so prepending does not disturb it). Arguments are compared
 * on their low 32 bits: the kernel takes these as 32-bit values, so
 * TIOCSTI | 1 << 32 would slip past a 64-bit comparison.
 *
 * - ioctl TIOCSTI / TIOCLINUX: push bytes into a terminal's input queue,
 *   i.e. type commands into someone else's shell. TIOCSETD: changes the
 *   terminal's line discipline, which outlives the sandbox on a terminal it
 *   was handed (N_NULL leaves the operator's dead, and termios cannot put
 *   it back) and loads ldisc modules, a history of kernel bugs. Always
 *   refused.
 * - personality: only PER_LINUX, PER_LINUX32 and the query (systemd's
 *   LockPersonality=yes): READ_IMPLIES_EXEC would make every readable
 *   mapping executable, ADDR_NO_RANDOMIZE turn off ASLR for what the
 *   service runs. Always.
 * - address families (systemd's RestrictAddressFamilies=): socket and
 *   socketpair get EAFNOSUPPORT for a family the policy does not name.
 *   AF_VSOCK, for one, ignores network namespaces: it reaches the
 *   hypervisor and every other process of the machine. i386's socketcall
 *   passes the family in memory a filter cannot read: its socket and
 *   socketpair calls are refused outright under a restriction.
 * - restrict_namespaces (systemd's RestrictNamespaces=yes): unshare and
 *   clone with any CLONE_NEW* flag and setns get EPERM; clone3 gets ENOSYS
 *   (its flags sit in memory a filter cannot read), so libc falls back to
 *   clone, which we can inspect. A nested user namespace would hand the
 *   service every capability over a fresh set of kernel attack surface. */

#define GUARD_MAX 255
#define NS_FLAGS_CLONE                                                                             \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)
/* CLONE_NEWTIME (0x80) is only a namespace flag for unshare: in clone's
 * flags that bit belongs to the exit signal. */
#define NS_FLAGS_UNSHARE (NS_FLAGS_CLONE | 0x80u)

enum guard_check {
	CHECK_TTY,
	CHECK_PERSONALITY,
	CHECK_NS_UNSHARE,
	CHECK_NS_CLONE,
	CHECK_NOSYS,
	CHECK_EPERM,
	CHECK_FAMILY,
	CHECK_SOCKETCALL,
};
enum {
	G_NEXT = 0,
	G_END,
	G_DENY,
	G_NOSYS,
	G_NOAF,
	G_TTY,
	G_PERS,
	G_UNSHARE,
	G_CLONE,
	G_FAMILY,
	G_SOCKETCALL,
	G_ABI0
};
#define G_LABELS (G_ABI0 + 4)

struct guard_asm {
	struct sock_filter insn[GUARD_MAX];
	unsigned char jt[GUARD_MAX], jf[GUARD_MAX]; /* labels */
	size_t at[G_LABELS];
	size_t n;
	bool overflow;
};

static void guard_emit(struct guard_asm *a, struct sock_filter f, int jt, int jf)
{
	if (a->n == GUARD_MAX) {
		a->overflow = true;
		return;
	}
	a->insn[a->n] = f;
	a->jt[a->n] = (unsigned char)jt;
	a->jf[a->n] = (unsigned char)jf;
	a->n++;
}

static void guard_stmt(struct guard_asm *a, uint16_t code, uint32_t k)
{
	guard_emit(a, (struct sock_filter)BPF_STMT(code, k), G_NEXT, G_NEXT);
}

static void guard_jump(struct guard_asm *a, uint16_t op, uint32_t k, int jt, int jf)
{
	guard_emit(a, (struct sock_filter)BPF_JUMP(BPF_JMP | op | BPF_K, k, 0, 0), jt, jf);
}

static void guard_label(struct guard_asm *a, int label)
{
	a->at[label] = a->n;
}

/* Jump offsets are 8 bits: a longer jump makes the guard not fit (never a
 * wrapped offset, which would jump somewhere else). */
static void guard_resolve(struct guard_asm *a)
{
	for (size_t i = 0; i < a->n; i++) {
		size_t t, f;

		if (BPF_CLASS(a->insn[i].code) != BPF_JMP)
			continue;
		t = a->jt[i] == G_NEXT ? 0 : a->at[a->jt[i]];
		f = a->jf[i] == G_NEXT ? 0 : a->at[a->jf[i]];
		if ((a->jt[i] != G_NEXT && (t <= i || t - i - 1 > 255)) ||
		    (a->jf[i] != G_NEXT && (f <= i || f - i - 1 > 255))) {
			a->overflow = true;
			return;
		}
		if (a->jt[i] != G_NEXT)
			a->insn[i].jt = (uint8_t)(t - i - 1);
		if (a->jf[i] != G_NEXT)
			a->insn[i].jf = (uint8_t)(f - i - 1);
	}
}

struct guarded {
	const char *name;
	enum guard_check check;
};

static const struct guarded guarded_always[] = {{"ioctl", CHECK_TTY},
						{"personality", CHECK_PERSONALITY}};
static const struct guarded guarded_families[] = {
    {"socket", CHECK_FAMILY},
    {"socketpair", CHECK_FAMILY},
    {"socketcall", CHECK_SOCKETCALL},
};
static const struct guarded guarded_ns[] = {
    {"unshare", CHECK_NS_UNSHARE},
    {"clone", CHECK_NS_CLONE},
    {"clone3", CHECK_NOSYS},
    {"setns", CHECK_EPERM},
};

static int check_label(enum guard_check c)
{
	switch (c) {
	case CHECK_TTY:
		return G_TTY;
	case CHECK_PERSONALITY:
		return G_PERS;
	case CHECK_FAMILY:
		return G_FAMILY;
	case CHECK_SOCKETCALL:
		return G_SOCKETCALL;
	case CHECK_NS_UNSHARE:
		return G_UNSHARE;
	case CHECK_NS_CLONE:
		return G_CLONE;
	case CHECK_NOSYS:
		return G_NOSYS;
	case CHECK_EPERM:
		return G_DENY;
	}
	return G_END;
}

/* The number of a guarded syscall in one ABI, or -1. libseccomp gives
 * i386's socket calls as pseudo-numbers (it rewrites them to socketcall),
 * but the kernel has had them as syscalls of their own since 4.3. */
static int guard_nr(uint32_t scmp_arch, const char *name)
{
	if (scmp_arch == SCMP_ARCH_X86 && strcmp(name, "socket") == 0)
		return 359;
	if (scmp_arch == SCMP_ARCH_X86 && strcmp(name, "socketpair") == 0)
		return 360;
	return seccomp_syscall_resolve_name_arch(scmp_arch, name);
}

/* Dispatch on the syscall number for one ABI: the guarded ones jump to
 * their check, everything else to the end. */
static void guard_abi(struct guard_asm *a, uint32_t arch, uint32_t scmp_arch, int next_abi,
		      const struct ward_seccomp *p)
{
	const uint32_t off_arch = offsetof(struct seccomp_data, arch);
	const uint32_t off_nr = offsetof(struct seccomp_data, nr);
	const struct guarded *lists[3] = {guarded_always,
					  p->restrict_namespaces ? guarded_ns : NULL,
					  p->restrict_families ? guarded_families : NULL};
	const size_t lens[3] = {sizeof(guarded_always) / sizeof(*guarded_always),
				sizeof(guarded_ns) / sizeof(*guarded_ns),
				sizeof(guarded_families) / sizeof(*guarded_families)};

	guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_arch);
	guard_jump(a, BPF_JEQ, arch, G_NEXT, next_abi);
	guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_nr);
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; lists[l] && i < lens[l]; i++) {
			int nr = guard_nr(scmp_arch, lists[l][i].name);
			if (nr >= 0)
				guard_jump(a, BPF_JEQ, (uint32_t)nr, check_label(lists[l][i].check),
					   G_NEXT);
		}
	/* Always taken: not guarded here, try the next ABI's block (x32
	 * shares the arch value with x86_64 and differs in the number). */
	guard_jump(a, BPF_JEQ, 0, next_abi, next_abi);
}

/* Returns the guard's length. */
static size_t guard_build(struct guard_asm *a, unsigned abis, const struct ward_seccomp *p)
{
	/* Little-endian: the low half of a 64-bit argument comes first. */
	const uint32_t off_arg0 = offsetof(struct seccomp_data, args[0]);
	const uint32_t off_arg1 = offsetof(struct seccomp_data, args[1]);
	struct {
		uint32_t arch, scmp;
		bool on;
	} abi[] = {
	    /* x32 shares AUDIT_ARCH_X86_64; its numbers carry bit 30. */
	    {AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64, true},
	    {AUDIT_ARCH_X86_64, SCMP_ARCH_X32, (abis & ABI_X32) != 0},
	    {AUDIT_ARCH_I386, SCMP_ARCH_X86, (abis & ABI_X86) != 0},
	};
	int label = G_ABI0;

	*a = (struct guard_asm){0};
	for (size_t i = 0; i < sizeof(abi) / sizeof(*abi); i++) {
		if (!abi[i].on)
			continue;
		if (label > G_ABI0)
			guard_label(a, label);
		guard_abi(a, abi[i].arch, abi[i].scmp, label + 1, p);
		label++;
	}
	guard_label(a, label); /* no ABI matched: the program decides */
	guard_jump(a, BPF_JEQ, 0, G_END, G_END);

	guard_label(a, G_TTY);
	guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_arg1);
	guard_jump(a, BPF_JEQ, TIOCSTI, G_DENY, G_NEXT);
	guard_jump(a, BPF_JEQ, TIOCLINUX, G_DENY, G_NEXT);
	guard_jump(a, BPF_JEQ, TIOCSETD, G_DENY, G_END);
	guard_label(a, G_PERS);
	guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_arg0);
	guard_jump(a, BPF_JEQ, PER_LINUX, G_END, G_NEXT);
	guard_jump(a, BPF_JEQ, PER_LINUX32, G_END, G_NEXT);
	guard_jump(a, BPF_JEQ, 0xffffffffu, G_END, G_DENY); /* the query */
	guard_label(a, G_UNSHARE);
	guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_arg0);
	guard_jump(a, BPF_JSET, NS_FLAGS_UNSHARE, G_DENY, G_END);
	guard_label(a, G_CLONE);
	guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_arg0);
	guard_jump(a, BPF_JSET, NS_FLAGS_CLONE, G_DENY, G_END);
	if (p->restrict_families) {
		guard_label(a, G_SOCKETCALL);
		guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_arg0);
		guard_jump(a, BPF_JEQ, 1 /* SYS_SOCKET */, G_NOAF, G_NEXT);
		guard_jump(a, BPF_JEQ, 8 /* SYS_SOCKETPAIR */, G_NOAF, G_END);
		guard_label(a, G_FAMILY);
		guard_stmt(a, BPF_LD | BPF_W | BPF_ABS, off_arg0);
		for (uint32_t af = 0; af < 64; af++)
			if (p->address_families & (UINT64_C(1) << af))
				guard_jump(a, BPF_JEQ, af, G_END, G_NEXT);
		guard_label(a, G_NOAF);
		guard_stmt(a, BPF_RET | BPF_K,
			   SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA));
	}
	guard_label(a, G_NOSYS);
	guard_stmt(a, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
	guard_label(a, G_DENY);
	guard_stmt(a, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	guard_label(a, G_END);
	if (a->overflow)
		return 0;
	guard_resolve(a);
	return a->n;
}

static int prepend_guard(struct sock_filter **insns, size_t *n, unsigned abis,
			 const struct ward_seccomp *p, struct ward_err *err)
{
	struct guard_asm a;
	size_t g = guard_build(&a, abis, p);
	struct sock_filter *all;

	if (g == 0)
		return ward_err_set(err, E2BIG, "seccomp guard does not fit");
	if (*n == 0 || *n > BPF_MAXINSNS - g)
		return ward_err_set(err, E2BIG, "seccomp filter of %zu instructions", *n + g);
	all = malloc((*n + g) * sizeof(*all));
	if (!all)
		return ward_err_set(err, errno, "adding the seccomp guard");
	memcpy(all, a.insn, g * sizeof(*all));
	memcpy(all + g, *insns, *n * sizeof(*all));
	free(*insns);
	*insns = all;
	*n += g;
	return 0;
}

static int compile_program(const struct ward_seccomp *p, unsigned abis, const struct policy_sets *s,
			   struct seccomp_program *out, struct ward_err *err)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	struct sock_filter *insns = NULL;
	size_t n = 0;

	/* libseccomp refuses KILL_PROCESS and LOG unless it found the kernel
	 * able to do them (API level 3), by probing from this process. That
	 * is the wrong question for a compiler: the program is loaded later,
	 * elsewhere, and the kernel judges it then (fail closed). The probe
	 * fails where seccomp() is unavailable to the daemon itself (under
	 * valgrind, or a filter of its own), and nothing generated depends on
	 * the level beyond that check. */
	if (seccomp_api_get() < 3 && seccomp_api_set(3) < 0)
		return ward_err_set(err, EINVAL, "libseccomp: setting API level 3");
	ctx = seccomp_init(default_action(p->default_action));
	if (!ctx)
		return ward_err_set(err, ENOMEM, "libseccomp: seccomp_init");
	if (filter_setup(ctx, p, abis, err) < 0)
		return -1;
	if (filter_add_rules(ctx, &s->permit, SCMP_ACT_ALLOW, err) < 0)
		return -1;
	/* With an errno or kill default a denied syscall already gets the
	 * default (and libseccomp refuses rules equal to it); under log it
	 * would run, so it gets EPERM explicitly. */
	if (p->default_action == SECCOMP_DEFAULT_LOG &&
	    filter_add_rules(ctx, &s->deny, SCMP_ACT_ERRNO(EPERM), err) < 0)
		return -1;
	if (filter_export(ctx, &insns, &n, err) < 0)
		return -1;
	/* Always: refusing an argument of a syscall the program refuses
	 * anyway changes nothing, and the guard is a few instructions. */
	(void)s;
	if (prepend_guard(&insns, &n, abis, p, err) < 0) {
		free(insns);
		return -1;
	}
	*out = (struct seccomp_program){.insns = insns, .n_insns = n, .flags = program_flags(p)};
	return 0;
}

/* ---- the cache ----
 *
 * A file per program: cache_dir/seccomp-<16 hex of the key's hash>.bpf.
 * Whatever is in it gets loaded into a tenant's process as its filter, so
 * nothing is taken on trust: the directory and the file must belong to us
 * and not be writable by anyone else, the full key must match byte for
 * byte, every size must agree with the file's size, and a checksum covers
 * the rest (a torn or bit-flipped file is a miss, not a filter). Any doubt
 * means compiling again, never an error: the cache only saves time. */

struct cache_header {
	char magic[8];
	uint32_t format;
	uint32_t key_len;
	uint32_t flags;
	uint32_t n_insns;
	uint64_t checksum; /* FNV-1a of this header (checksum 0), the key, the program */
};
/* No padding: the checksum covers the header's bytes. */
_Static_assert(sizeof(struct cache_header) == 32, "cache_header has padding");

static uint64_t cache_checksum(const struct cache_header *h, const char *key, const void *insns)
{
	struct cache_header c = *h;
	uint64_t sum;

	c.checksum = 0;
	sum = fnv1a(FNV_OFFSET, &c, sizeof(c));
	sum = fnv1a(sum, key, h->key_len);
	return fnv1a(sum, insns, (size_t)h->n_insns * sizeof(struct sock_filter));
}

static bool stat_is_private(const struct stat *st)
{
	return st->st_uid == geteuid() && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* The directory as an fd, or -1 if it should not be used. */
static int cache_dir_open(const char *path)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	_cleanup_close_ int fd = open(path, flags);
	struct stat st;

	if (fd < 0 && errno == ENOENT) {
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -1;
		fd = open(path, flags);
	}
	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || !stat_is_private(&st))
		return -1;
	return TAKE_FD(fd);
}

static int cache_file_name(char *buf, size_t size, const char *key, size_t key_len)
{
	int n = snprintf(buf, size, "seccomp-%016llx.bpf",
			 (unsigned long long)fnv1a(FNV_OFFSET, key, key_len));

	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static bool read_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = pread(fd, p, len, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		off += r;
		len -= (size_t)r;
	}
	return true;
}

static bool cache_header_valid(const struct cache_header *h, size_t key_len, unsigned flags,
			       off_t file_size)
{
	uint64_t want;

	if (memcmp(h->magic, CACHE_MAGIC, sizeof(h->magic)) != 0 ||
	    h->format != CACHE_FORMAT_VERSION || h->key_len != key_len || h->flags != flags)
		return false;
	if (h->n_insns == 0 || h->n_insns > BPF_MAXINSNS)
		return false;
	want =
	    sizeof(*h) + (uint64_t)h->key_len + (uint64_t)h->n_insns * sizeof(struct sock_filter);
	return file_size >= 0 && (uint64_t)file_size == want;
}

/* 0 and *out filled on a hit; -1 on any miss. */
static int cache_read(int dirfd, const char *name, const char *key, size_t key_len, unsigned flags,
		      struct seccomp_program *out)
{
	/* O_NONBLOCK: a FIFO in its place must not hang the launch. */
	_cleanup_close_ int fd =
	    openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	_cleanup_free_ char *body = NULL; /* the key, then the program */
	struct cache_header h;
	struct stat st;
	size_t prog_len;
	void *insns;

	if (fd < 0 || key_len == 0 || fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || !stat_is_private(&st))
		return -1;
	if (!read_full(fd, &h, sizeof(h), 0) || !cache_header_valid(&h, key_len, flags, st.st_size))
		return -1;
	/* Both bounded by cache_header_valid: key_len is ours, n_insns at
	 * most BPF_MAXINSNS. */
	prog_len = (size_t)h.n_insns * sizeof(struct sock_filter);
	body = malloc(key_len + prog_len);
	if (!body || !read_full(fd, body, key_len + prog_len, sizeof(h)))
		return -1;
	if (memcmp(body, key, key_len) != 0 ||
	    cache_checksum(&h, body, body + key_len) != h.checksum)
		return -1;
	insns = malloc(prog_len);
	if (!insns)
		return -1;
	memcpy(insns, body + key_len, prog_len);
	*out = (struct seccomp_program){
	    .insns = insns, .n_insns = h.n_insns, .flags = h.flags, .cached = true};
	return 0;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

static int cache_tmp_open(int dirfd, const char *name, char *tmp, size_t size)
{
	static unsigned serial;
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int n = snprintf(tmp, size, ".%s.%ld.%u.tmp", name, (long)getpid(),
			 __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED));
	int fd;

	if (n < 0 || (size_t)n >= size)
		return -1;
	fd = openat(dirfd, tmp, flags, 0600);
	/* Left behind by a crashed earlier run with our pid: ours to remove
	 * (the directory is ours alone). */
	if (fd < 0 && errno == EEXIST && unlinkat(dirfd, tmp, 0) == 0)
		fd = openat(dirfd, tmp, flags, 0600);
	return fd;
}

/* Best effort: a program that cannot be stored is still a good program. */
static void cache_write(int dirfd, const char *name, const char *key, size_t key_len,
			const struct seccomp_program *prog)
{
	struct cache_header h = {.format = CACHE_FORMAT_VERSION,
				 .key_len = (uint32_t)key_len,
				 .flags = prog->flags,
				 .n_insns = (uint32_t)prog->n_insns};
	char tmp[128];
	_cleanup_close_ int fd = -1;
	bool ok;

	if (key_len > CACHE_KEY_MAX || prog->n_insns == 0 || prog->n_insns > BPF_MAXINSNS)
		return;
	memcpy(h.magic, CACHE_MAGIC, sizeof(h.magic));
	h.checksum = cache_checksum(&h, key, prog->insns);
	fd = cache_tmp_open(dirfd, name, tmp, sizeof(tmp));
	if (fd < 0)
		return;
	/* fchmod: the mode given to openat was narrowed by the umask, and
	 * the check on reading wants exactly "ours, not writable by others". */
	ok = fchmod(fd, 0600) == 0 && write_full(fd, &h, sizeof(h)) &&
	     write_full(fd, key, key_len) &&
	     write_full(fd, prog->insns, prog->n_insns * sizeof(struct sock_filter)) &&
	     fsync(fd) == 0;
	/* Readers see the old file or the complete new one, never a part. */
	if (!ok || renameat(dirfd, tmp, dirfd, name) < 0)
		unlinkat(dirfd, tmp, 0);
}

/* ---- the public face ---- */

int seccomp_compile(const struct ward_seccomp *policy, const char *cache_dir,
		    struct seccomp_program *out, struct ward_err *err)
{
	_cleanup_(policy_sets_free) struct policy_sets sets = {0};
	_cleanup_free_ char *key = NULL;
	_cleanup_close_ int dirfd = -1;
	size_t key_len = 0;
	char name[64] = "";
	unsigned abis;

	*out = (struct seccomp_program){0};
	if (parse_abis(policy, &abis, err) < 0)
		return ward_err_wrap(err, "seccomp");
	if (cache_dir) {
		if (cache_key_build(policy, abis, &key, &key_len, err) < 0)
			return ward_err_wrap(err, "seccomp");
		if (key_len <= CACHE_KEY_MAX &&
		    cache_file_name(name, sizeof(name), key, key_len) == 0)
			dirfd = cache_dir_open(cache_dir);
		if (dirfd >= 0 &&
		    cache_read(dirfd, name, key, key_len, program_flags(policy), out) == 0)
			return 0;
	}
	if (policy_sets_build(policy, &sets, err) < 0 ||
	    compile_program(policy, abis, &sets, out, err) < 0)
		return ward_err_wrap(err, "seccomp");
	if (dirfd >= 0)
		cache_write(dirfd, name, key, key_len, out);
	return 0;
}

void seccomp_program_free(struct seccomp_program *p)
{
	if (!p)
		return;
	free(p->insns);
	*p = (struct seccomp_program){0};
}

int seccomp_program_load(const struct seccomp_program *p)
{
	struct sock_fprog fprog;

	if (!p || !p->insns || p->n_insns == 0 || p->n_insns > BPF_MAXINSNS)
		return -EINVAL;
	fprog = (struct sock_fprog){.len = (unsigned short)p->n_insns, .filter = p->insns};
	/* The raw syscall, not libseccomp: nothing here may allocate or lock
	 * (this runs in the forked child), and libseccomp is not needed. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->flags, &fprog) != 0)
		return -errno;
	return 0;
}
