/* Capabilities and identity: capability names, and the one-way drop of a
 * sandboxed process to the tenant's uid/gid with only the kept capabilities;
 * group names to gids for the checks that authorize by group. */
#include "sandbox/caps.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/cleanup.h"

int caps_last_cap(void)
{
	static int last = -1;

	if (last < 0) {
		/* cap_max_bits() reads /proc/sys/kernel/cap_last_cap; probe
		 * PR_CAPBSET_READ as the fallback when /proc is not there. */
		int v = (int)cap_max_bits() - 1;
		if (v < 0 || v > 63) {
			v = 0;
			while (v < 63 && prctl(PR_CAPBSET_READ, v + 1, 0, 0, 0) >= 0)
				v++;
		}
		last = v;
	}
	return last;
}

static int capget_sets(uint64_t *effective, uint64_t *permitted)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	*effective = data[0].effective | (uint64_t)data[1].effective << 32;
	*permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
	return 0;
}

static int capset_sets(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {
	    {.effective = (uint32_t)effective,
	     .permitted = (uint32_t)permitted,
	     .inheritable = (uint32_t)inheritable},
	    {.effective = (uint32_t)(effective >> 32),
	     .permitted = (uint32_t)(permitted >> 32),
	     .inheritable = (uint32_t)(inheritable >> 32)},
	};

	return syscall(SYS_capset, &hdr, data) == 0 ? 0 : -errno;
}

#define FAIL(s)                                                                                    \
	do {                                                                                       \
		*step = (s);                                                                       \
		return -errno;                                                                     \
	} while (0)

/* The launcher's effective and permitted sets, after checking it holds
 * every capability to keep. */
static int read_held(uint64_t keep, uint64_t *eff, uint64_t *perm, const char **step)
{
	int r = capget_sets(eff, perm);

	if (r < 0) {
		errno = -r;
		FAIL("read capabilities");
	}
	/* A capability to keep that we do not hold cannot be granted. */
	if ((keep & *perm) != keep) {
		errno = EPERM;
		FAIL("keep a capability the launcher does not hold");
	}
	return 0;
}

/* Ambient caps are the only way a kept capability survives execve for
 * a non-root uid. They must be in P and I before they can be raised,
 * and raising must happen before NO_CAP_AMBIENT_RAISE is locked. */
static int raise_ambient(uint64_t eff, uint64_t perm, uint64_t keep, int last, const char **step)
{
	int r;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		FAIL("clear ambient capabilities");
	r = capset_sets(eff, perm, keep);
	if (r < 0) {
		errno = -r;
		FAIL("set inheritable capabilities");
	}
	for (int c = 0; c <= last; c++)
		if ((keep >> c) & 1)
			if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
				FAIL("raise ambient capability");
	return 0;
}

/* Lock every securebit: uid 0 gets no implicit capabilities (NOROOT),
 * setuid does not touch capability sets (we drop them explicitly
 * below), and nothing of this can be undone by the service. */
static int lock_securebits(const char **step)
{
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
		      SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
		      SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		  0, 0, 0) < 0)
		FAIL("lock securebits");
	return 0;
}

/* Bounding set last among the privileged steps: dropping needs
 * CAP_SETPCAP, which goes with it unless kept. */
static int drop_bounding(uint64_t keep, int last, const char **step)
{
	for (int c = 0; c <= last; c++)
		if (!((keep >> c) & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			FAIL("drop bounding capability");
	return 0;
}

/* Groups before gid before uid: each step needs the privilege the
 * next one removes. */
static int set_ids(uid_t uid, gid_t gid, const char **step)
{
	if (setgroups(0, NULL) < 0)
		FAIL("clear supplementary groups");
	if (setresgid(gid, gid, gid) < 0)
		FAIL("setresgid");
	if (setresuid(uid, uid, uid) < 0)
		FAIL("setresuid");
	return 0;
}

/* The steps in this order; each one's comment says why it comes where it
 * does. */
int caps_drop_to(uid_t uid, gid_t gid, uint64_t keep, const char **step)
{
	int last = caps_last_cap();
	uint64_t all = last >= 63 ? UINT64_MAX : ((UINT64_C(1) << (last + 1)) - 1);
	uint64_t eff = 0, perm = 0;
	int r;

	keep &= all;
	r = read_held(keep, &eff, &perm, step);
	if (r < 0)
		return r;
	r = raise_ambient(eff, perm, keep, last, step);
	if (r < 0)
		return r;
	r = lock_securebits(step);
	if (r < 0)
		return r;
	r = drop_bounding(keep, last, step);
	if (r < 0)
		return r;
	r = set_ids(uid, gid, step);
	if (r < 0)
		return r;

	r = capset_sets(keep, keep, keep);
	if (r < 0) {
		errno = -r;
		FAIL("drop capabilities");
	}
	return 0;
}

bool caps_group_gid(const char *name, gid_t *gid)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 1024;

	if (!name || !*name)
		return false;
	for (;;) {
		struct group gr, *res = NULL;
		char *p = realloc(buf, size);
		int r;

		if (!p)
			return false;
		buf = p;
		r = getgrnam_r(name, &gr, buf, size, &res);
		if (r == ERANGE && size < (1u << 22)) {
			size *= 2;
			continue;
		}
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): buf is _cleanup_free_ */
		if (r != 0 || !res)
			return false; /* a group that does not exist grants nothing */
		*gid = res->gr_gid;
		return true;
	}
}
