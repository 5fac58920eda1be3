/* The filesystem view of a sandbox: a fresh tmpfs root that holds only what
 * the policy names (binds, data, tmpfs, a new /proc, a minimal /dev), then
 * pivot_root. Runs in the child, inside its new mount namespace.
 *
 * Everything goes through file descriptors and the new mount API: sources are
 * opened O_PATH|O_NOFOLLOW and cloned with open_tree() before anything is
 * shadowed, targets are resolved with openat2(RESOLVE_IN_ROOT) inside the new
 * root, so a symlink planted by a tenant can never redirect a mount onto the
 * host's tree.
 *
 * A session that joins a running service gets a view built the same way in
 * a root of its own: the service's view cloned read-only, the session
 * policy's entries and the user's home on top. */
#include "sandbox/mounts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/cleanup.h"

/* The place where the new root is attached until pivot_root. It is only
 * shadowed in the sandbox's private mount namespace, and every source is
 * opened before, so nothing under it is lost. */
#define STAGING_DIR "/tmp"

enum entry_kind { ENTRY_BIND_RO, ENTRY_BIND_RW, ENTRY_DATA, ENTRY_TMPFS, ENTRY_SYMLINK };

struct entry {
	enum entry_kind kind;
	const char *dst; /* absolute, inside the sandbox */
	const char *src; /* for messages */
	int tree_fd;     /* detached clone of the source (binds) */
	bool is_dir;     /* the source is a directory (binds) */
	uint64_t size;   /* tmpfs */
	bool noexec;     /* filesystem.noexec: a writable entry, mounted noexec */
	char *link;      /* symlink target to reproduce */
	char *dst_buf;   /* dst, when it is the entry's own copy */
};

/* Paths ward itself fills in; a policy cannot mount over or under them. */
static const char *const reserved_dirs[] = {"/proc", "/dev"};

/* Masked like runc and Docker do: kernel memory, keys, timers, triggers. */
static const char *const proc_masked_files[] = {
    "kcore",         "keys",          "timer_list", "sched_debug", "kallsyms",
    "sysrq-trigger", "latency_stats", "kpagecount", "kpageflags",  "kpagecgroup",
    "config.gz",     "vmallocinfo",   "modules",    "kmsg",        "mtrr",
};
static const char *const proc_masked_dirs[] = {"acpi", "scsi", "asound", "firmware", "driver"};
static const char *const proc_readonly[] = {"sys", "bus", "fs", "irq"};
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int openat2_path(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = {.flags = flags | O_CLOEXEC, .resolve = resolve};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Path relative to the new root: "/usr/lib" -> "usr/lib". */
static const char *rel(const char *abs)
{
	while (*abs == '/')
		abs++;
	return *abs ? abs : ".";
}

static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int clone_tree(int fd, const char *what, unsigned attrs, struct ward_err *err)
{
	struct mount_attr attr = {.attr_set = attrs, .propagation = MS_PRIVATE};
	int tree =
	    open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);

	if (tree < 0)
		return ward_err_set(err, errno, "clone mount %s", what);
	/* AT_RECURSIVE: a read-only bind must be read-only all the way down,
	 * submounts included. */
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
		close(tree);
		return ward_err_set(err, errno, "set attributes of %s", what);
	}
	return tree;
}

/* Opens a bind source without following a final symlink; a symlink is
 * recorded to be reproduced inside (merged-/usr /bin -> usr/bin), never
 * followed. The data dir must not involve symlinks at all: its parent is
 * root's, but the tenant owns what is inside. */
static int open_source(struct entry *e, bool strict, struct ward_err *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

	fd = openat2_path(AT_FDCWD, e->src, O_PATH | O_NOFOLLOW,
			  strict ? RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
				 : RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return ward_err_set(err, errno, "bind %s", e->src);
	if (fstat(fd, &st) < 0)
		return ward_err_set(err, errno, "bind %s: stat", e->src);
	if (S_ISLNK(st.st_mode)) {
		char buf[PATH_MAX];
		ssize_t n;

		if (strict)
			return ward_err_set(err, ELOOP, "bind %s", e->src);
		n = readlinkat(fd, "", buf, sizeof(buf) - 1);
		if (n < 0)
			return ward_err_set(err, errno, "bind %s: readlink", e->src);
		buf[n] = '\0';
		e->link = strdup(buf);
		if (!e->link)
			return ward_err_set(err, ENOMEM, "bind %s", e->src);
		e->kind = ENTRY_SYMLINK;
		return 0;
	}
	e->is_dir = S_ISDIR(st.st_mode);
	if (e->kind == ENTRY_BIND_RO)
		attrs |= MOUNT_ATTR_RDONLY;
	if (e->noexec)
		attrs |= MOUNT_ATTR_NOEXEC;
	e->tree_fd = clone_tree(fd, e->src, attrs, err);
	return e->tree_fd < 0 ? -1 : 0;
}

/* Up from buf (which does not exist in root) to its deepest ancestor that
 * does, resolved in the root. Returns an O_PATH fd of it, *next set to the
 * offset in buf of the first missing component; or -1 with err set. */
static int deepest_existing(int root, char *buf, size_t len, size_t *next, struct ward_err *err)
{
	const uint64_t in_root = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

	/* Up: buf[0..missing) does not exist. */
	for (size_t missing = len;;) {
		char *slash = memrchr(buf, '/', missing);
		int fd;

		if (!slash) {
			fd = fcntl(root, F_DUPFD_CLOEXEC, 3);
			if (fd < 0)
				return ward_err_set(err, errno, "dup");
			*next = 0;
			return fd;
		}
		*slash = '\0';
		fd = openat2_path(root, buf, O_PATH | O_DIRECTORY, in_root);
		if (fd < 0 && errno != ENOENT)
			return ward_err_set(err, errno, "mount point /%s", buf);
		*slash = '/';
		if (fd >= 0) {
			*next = (size_t)(slash - buf) + 1;
			return fd;
		}
		missing = (size_t)(slash - buf);
	}
}

/* Down from parent (an fd of buf's first next bytes, taken over): creates
 * each missing component and opens it without following anything. Returns
 * an O_PATH fd of buf, or -1 with err set. */
static int mkdir_down(int parent, char *buf, size_t next, struct ward_err *err)
{
	_cleanup_close_ int pfd = parent;

	/* Down: buf + next is the first missing component. */
	for (;;) {
		char *name = buf + next, *slash = strchr(name, '/');
		int fd;

		if (slash)
			*slash = '\0';
		if (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST)
			return ward_err_set(err, errno, "mkdir /%s", buf);
		fd =
		    openat2_path(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
		if (fd < 0)
			return ward_err_set(err, errno, "mount point /%s", buf);
		if (!slash)
			return fd;
		*slash = '/';
		close(pfd);
		pfd = fd;
		next = (size_t)(slash - buf) + 1;
	}
}

/* mkdir -p of a path inside the new root, resolving every component inside
 * it. Returns an O_PATH fd of the directory.
 *
 * A loop, not a recursion: a policy path may have ~2000 components, and a
 * frame per component overflowed the child's stack. Up from the path to the
 * deepest ancestor that exists (resolved in the root), then down, creating
 * each missing component and opening it without following anything. */
static int mkdir_in_root(int root, const char *path, struct ward_err *err)
{
	const uint64_t in_root = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	int fd = openat2_path(root, path, O_PATH | O_DIRECTORY, in_root);
	char buf[PATH_MAX];
	size_t len = strlen(path), next = 0;
	int pfd;

	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : ward_err_set(err, errno, "mount point /%s", path);
	if (len >= sizeof(buf))
		return ward_err_set(err, ENAMETOOLONG, "mount point /%s", path);
	memcpy(buf, path, len + 1);
	pfd = deepest_existing(root, buf, len, &next, err);
	if (pfd < 0)
		return -1;
	return mkdir_down(pfd, buf, next, err);
}

/* The target of a mount: a directory, or an (empty) file for file binds. */
static int mount_point(int root, const char *abs, bool dir, struct ward_err *err)
{
	const char *path = rel(abs);
	const char *slash = strrchr(path, '/');
	_cleanup_close_ int pfd = -1;
	const char *base = slash ? slash + 1 : path;
	int fd;

	if (dir)
		return mkdir_in_root(root, path, err);
	if (slash) {
		char parent[PATH_MAX];

		if ((size_t)(slash - path) >= sizeof(parent))
			return ward_err_set(err, ENAMETOOLONG, "mount point %s", abs);
		memcpy(parent, path, (size_t)(slash - path));
		parent[slash - path] = '\0';
		pfd = mkdir_in_root(root, parent, err);
	} else {
		pfd = fcntl(root, F_DUPFD_CLOEXEC, 3);
	}
	if (pfd < 0)
		return -1;
	fd = openat(pfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	/* An existing file we may not write (a session's target inside the
	 * service's read-only view) is a mount point all the same. */
	if (fd < 0 && errno != EEXIST && errno != EISDIR && errno != EROFS && errno != EACCES)
		return ward_err_set(err, errno, "mount point %s", abs);
	if (fd >= 0)
		close(fd);
	fd = openat2_path(pfd, base, O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
	return fd >= 0 ? fd : ward_err_set(err, errno, "mount point %s", abs);
}

static int attach(int tree, int target, const char *what, struct ward_err *err)
{
	if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ward_err_set(err, errno, "mount %s", what);
	return 0;
}

/* A new filesystem instance (tmpfs, proc, devpts) as a detached mount. */
static int new_fs(const char *type, const char *const *opts, unsigned attrs, struct ward_err *err)
{
	_cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
	int mnt;

	if (fs < 0)
		return ward_err_set(err, errno, "fsopen %s", type);
	for (size_t i = 0; opts && opts[i]; i += 2) {
		int r = opts[i + 1] ? fsconfig(fs, FSCONFIG_SET_STRING, opts[i], opts[i + 1], 0)
				    : fsconfig(fs, FSCONFIG_SET_FLAG, opts[i], NULL, 0);
		if (r < 0)
			return ward_err_set(err, errno, "%s option %s", type, opts[i]);
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ward_err_set(err, errno, "create %s", type);
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (mnt < 0)
		return ward_err_set(err, errno, "fsmount %s", type);
	return mnt;
}

static int mount_tmpfs_at(int root, const char *abs, uint64_t size, const char *mode,
			  unsigned attrs, struct ward_err *err)
{
	char sz[32];
	const char *opts[] = {"mode", mode, "size", sz, NULL};
	_cleanup_close_ int mnt = -1;
	_cleanup_close_ int target = -1;

	if (snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size) >= (int)sizeof(sz))
		return ward_err_set(err, EOVERFLOW, "tmpfs %s", abs);
	mnt = new_fs("tmpfs", opts, attrs, err);
	if (mnt < 0)
		return ward_err_wrap(err, "tmpfs %s", abs);
	target = mount_point(root, abs, true, err);
	if (target < 0)
		return -1;
	return attach(mnt, target, abs, err);
}

static int entry_cmp(const void *a, const void *b)
{
	/* Parents sort before their children, so a tmpfs at /data/tmp lands
	 * on top of the data bind at /data, not under it. */
	return strcmp(((const struct entry *)a)->dst, ((const struct entry *)b)->dst);
}

static void entries_free(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].tree_fd >= 0)
			close(v[i].tree_fd);
		free(v[i].link);
		free(v[i].dst_buf);
	}
	free(v);
}

static int check_dst(const char *dst, struct ward_err *err)
{
	for (size_t i = 0; i < sizeof(reserved_dirs) / sizeof(*reserved_dirs); i++)
		if (path_under(dst, reserved_dirs[i]))
			return ward_err_set(err, EINVAL, "mount %s: %s is provided by ward", dst,
					    reserved_dirs[i]);
	if (strcmp(dst, "/") == 0)
		return ward_err_set(err, EINVAL, "mount /: the root is provided by ward");
	return 0;
}

/* Collects and opens every source: after this, nothing depends on host paths. */
static int collect(const struct mount_plan *plan, struct entry **out, size_t *n_out,
		   struct ward_err *err)
{
	const struct ward_filesystem *fs = plan->fs;
	size_t cap = fs->n_ro + fs->n_rw + fs->n_tmpfs + 1, n = 0;
	struct entry *v = calloc(cap, sizeof(*v));

	if (!v)
		return ward_err_set(err, ENOMEM, "mount plan");
	for (size_t i = 0; i < cap; i++)
		v[i].tree_fd = -1;
	for (size_t i = 0; i < fs->n_ro + fs->n_rw; i++) {
		const struct ward_bind *b = i < fs->n_ro ? &fs->ro[i] : &fs->rw[i - fs->n_ro];
		v[n] = (struct entry){.kind = i < fs->n_ro ? ENTRY_BIND_RO : ENTRY_BIND_RW,
				      .dst = b->dst,
				      .src = b->src,
				      .tree_fd = -1,
				      .noexec = fs->noexec && i >= fs->n_ro};
		if (check_dst(b->dst, err) < 0 || open_source(&v[n++], false, err) < 0)
			goto fail;
	}
	if (fs->data) {
		if (!plan->data_src) {
			ward_err_set(err, EINVAL, "data: no data directory given");
			goto fail;
		}
		v[n] = (struct entry){.kind = ENTRY_DATA,
				      .dst = fs->data,
				      .src = plan->data_src,
				      .tree_fd = -1,
				      .noexec = fs->noexec};
		if (check_dst(fs->data, err) < 0 || open_source(&v[n++], true, err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < fs->n_tmpfs; i++) {
		v[n] = (struct entry){.kind = ENTRY_TMPFS,
				      .dst = fs->tmpfs[i].path,
				      .size = fs->tmpfs[i].size,
				      .tree_fd = -1,
				      .noexec = fs->noexec};
		if (check_dst(v[n++].dst, err) < 0)
			goto fail;
	}
	qsort(v, n, sizeof(*v), entry_cmp);
	*out = v;
	*n_out = n;
	return 0;
fail:
	entries_free(v, n);
	return -1;
}

static int place_entry(int root, struct entry *e, struct ward_err *err)
{
	_cleanup_close_ int target = -1;

	switch (e->kind) {
	case ENTRY_SYMLINK: {
		_cleanup_close_ int parent = -1;
		const char *path = rel(e->dst), *slash = strrchr(path, '/');

		if (slash) {
			char dir[PATH_MAX];

			if ((size_t)(slash - path) >= sizeof(dir))
				return ward_err_set(err, ENAMETOOLONG, "symlink %s", e->dst);
			memcpy(dir, path, (size_t)(slash - path));
			dir[slash - path] = '\0';
			parent = mkdir_in_root(root, dir, err);
			if (parent < 0)
				return -1;
		}
		if (symlinkat(e->link, slash ? parent : root, slash ? slash + 1 : path) < 0 &&
		    errno != EEXIST)
			return ward_err_set(err, errno, "symlink %s -> %s", e->dst, e->link);
		return 0;
	}
	case ENTRY_TMPFS:
		/* noexec also stops the dynamic loader: mmap(PROT_EXEC) of a file
		 * on a noexec mount fails, so `ld.so /tmp/x` runs nothing. */
		return mount_tmpfs_at(root, e->dst, e->size, "1777",
				      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					  (e->noexec ? MOUNT_ATTR_NOEXEC : 0),
				      err);
	case ENTRY_BIND_RO:
	case ENTRY_BIND_RW:
	case ENTRY_DATA:
		target = mount_point(root, e->dst, e->is_dir, err);
		if (target < 0)
			return -1;
		if (attach(e->tree_fd, target, e->dst, err) < 0)
			return -1;
		close(e->tree_fd);
		e->tree_fd = -1;
		return 0;
	}
	return 0;
}

/* Masks a path inside the root: an empty read-only tmpfs over a directory,
 * the read-only /dev/null over anything else. A path that does not exist
 * has nothing to hide. */
static int mask_path(int root, const char *abs, int devnull, struct ward_err *err)
{
	_cleanup_close_ int target = -1;
	_cleanup_close_ int tree = -1;
	struct stat st;

	target = openat2_path(root, rel(abs), O_PATH | O_NOFOLLOW,
			      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (target < 0)
		return errno == ENOENT ? 0 : ward_err_set(err, errno, "hide %s", abs);
	if (fstat(target, &st) < 0)
		return ward_err_set(err, errno, "hide %s", abs);
	if (S_ISLNK(st.st_mode))
		return ward_err_set(err, ELOOP, "hide %s: is a symlink, hide its target instead",
				    abs);
	if (S_ISDIR(st.st_mode)) {
		const char *opts[] = {"mode", "0555", "size", "4096", NULL};
		tree = new_fs("tmpfs", opts,
			      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
				  MOUNT_ATTR_NOEXEC,
			      err);
	} else {
		tree = clone_tree(devnull, "/dev/null",
				  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	}
	if (tree < 0)
		return ward_err_wrap(err, "hide %s", abs);
	return attach(tree, target, abs, err);
}

static int readonly_in_place(int root, const char *abs, struct ward_err *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_close_ int tree = -1;

	fd = openat2_path(root, rel(abs), O_PATH | O_NOFOLLOW, RESOLVE_IN_ROOT);
	if (fd < 0)
		return errno == ENOENT ? 0 : ward_err_set(err, errno, "read-only %s", abs);
	tree = clone_tree(
	    fd, abs, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	    err);
	if (tree < 0)
		return -1;
	return attach(tree, fd, abs, err);
}

static int mount_proc(int root, int devnull, bool pid_only, struct ward_err *err)
{
	/* hidepid=invisible: a process sees no other uid's /proc entries.
	 * subset=pid: only the processes' directories (and self, thread-self);
	 * none of the kernel's files exist, so there is nothing to mask (a NULL
	 * name ends the list there when it is not asked for). */
	const char *opts[] = {"hidepid", "invisible", pid_only ? "subset" : NULL, "pid", NULL};
	_cleanup_close_ int mnt = -1;
	_cleanup_close_ int target = -1;
	char path[64];

	/* Must happen before the old root goes: the kernel only lets a user
	 * namespace mount proc while a full proc is visible. */
	mnt = new_fs("proc", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
	if (mnt < 0)
		return -1;
	target = mount_point(root, "/proc", true, err);
	if (target < 0 || attach(mnt, target, "/proc", err) < 0)
		return -1;
	if (pid_only)
		return 0;
	/* The names of the tables above fit path[] with room to spare. */
	for (size_t i = 0; i < sizeof(proc_readonly) / sizeof(*proc_readonly); i++) {
		(void)snprintf(path, sizeof(path), "/proc/%s", proc_readonly[i]);
		if (readonly_in_place(root, path, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(proc_masked_files) / sizeof(*proc_masked_files); i++) {
		(void)snprintf(path, sizeof(path), "/proc/%s", proc_masked_files[i]);
		if (mask_path(root, path, devnull, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(proc_masked_dirs) / sizeof(*proc_masked_dirs); i++) {
		(void)snprintf(path, sizeof(path), "/proc/%s", proc_masked_dirs[i]);
		if (mask_path(root, path, devnull, err) < 0)
			return -1;
	}
	return 0;
}

static int mount_dev(int root, unsigned pty_max, struct ward_err *err)
{
	static const char *const links[][2] = {
	    {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},
	    {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
	    {"stderr", "/proc/self/fd/2"},
	};
	_cleanup_close_ int dev = -1;
	char path[64];

	/* nodev on the /dev tmpfs itself: only the bound nodes below work. */
	if (mount_tmpfs_at(root, "/dev", 65536, "0755",
			   MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(*dev_nodes); i++) {
		_cleanup_close_ int src = -1;
		_cleanup_close_ int tree = -1;
		_cleanup_close_ int target = -1;

		(void)snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
		src = openat2_path(AT_FDCWD, path, O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
		if (src < 0)
			return ward_err_set(err, errno, "device %s", path);
		tree = clone_tree(src, path, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
		if (tree < 0)
			return -1;
		target = mount_point(root, path, false, err);
		if (target < 0 || attach(tree, target, path, err) < 0)
			return -1;
	}
	{
		/* mode 0600: a new pty is its owner's alone. A sandbox has no
		 * tty group, and the tenant's gid is shared by its services and
		 * its users' sessions: 0620 would let one write onto another's
		 * screen. max: see mount_plan.pty_max. */
		char max[16];
		const char *pts_opts[] = {"newinstance", NULL,  "ptmxmode", "0666", "mode",
					  "0600",        "max", max,        NULL};

		(void)snprintf(max, sizeof(max), "%u", pty_max);
		if (!pty_max)
			pts_opts[6] = NULL; /* the kernel's limit */
		_cleanup_close_ int pts =
		    new_fs("devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
		_cleanup_close_ int target = -1;

		if (pts < 0)
			return -1;
		target = mount_point(root, "/dev/pts", true, err);
		if (target < 0 || attach(pts, target, "/dev/pts", err) < 0)
			return -1;
	}
	if (mount_tmpfs_at(root, "/dev/shm", 64u << 20, "1777",
			   MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err) < 0)
		return -1;
	dev = openat2_path(root, "dev", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
	if (dev < 0)
		return ward_err_set(err, errno, "/dev");
	for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++)
		if (symlinkat(links[i][1], dev, links[i][0]) < 0)
			return ward_err_set(err, errno, "symlink /dev/%s", links[i][0]);
	/* The tenant's uid owns the /dev tmpfs: read-only, or it could add
	 * files to it. */
	{
		struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
		if (mount_setattr(dev, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
			return ward_err_set(err, errno, "make /dev read-only");
	}
	return 0;
}

static int pivot(int root, struct ward_err *err)
{
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};

	if (fchdir(root) < 0)
		return ward_err_set(err, errno, "chdir new root");
	/* pivot_root(".", ".") stacks the old root on top of the new one;
	 * detaching "." then drops every host mount from our view. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return ward_err_set(err, errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return ward_err_set(err, errno, "detach old root");
	if (chdir("/") < 0)
		return ward_err_set(err, errno, "chdir /");
	/* The root tmpfs itself read-only: only rw binds, data and tmpfs
	 * mounts are writable. */
	if (mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof(ro)) < 0)
		return ward_err_set(err, errno, "make root read-only");
	return 0;
}

int mounts_apply(const struct mount_plan *plan, struct ward_err *err)
{
	static const char *const root_opts[] = {"mode", "0755", "size", "1048576", NULL};
	struct entry *entries = NULL;
	size_t n = 0;
	_cleanup_close_ int devnull = -1;
	_cleanup_close_ int root = -1;
	int r = -1;

	/* First: nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return ward_err_set(err, errno, "make mounts private");
	devnull = openat2_path(AT_FDCWD, "/dev/null", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
	if (devnull < 0)
		return ward_err_set(err, errno, "open /dev/null");
	if (collect(plan, &entries, &n, err) < 0)
		return -1;
	/* Sources are open: from here on, create inodes as the owner, since
	 * an unmapped fsuid cannot create anything in the namespace's own
	 * filesystems. What the owner would then own is made read-only. */
	setfsgid(plan->owner);
	setfsuid(plan->owner);
	if ((uid_t)setfsuid((uid_t)-1) != plan->owner) {
		ward_err_set(err, EPERM, "switch to uid %u for the mounts", plan->owner);
		goto out;
	}

	root = new_fs("tmpfs", root_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (root < 0)
		goto out;
	if (move_mount(root, "", AT_FDCWD, STAGING_DIR, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		ward_err_set(err, errno, "attach new root at %s", STAGING_DIR);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (place_entry(root, &entries[i], err) < 0)
			goto out;
	if (mount_proc(root, devnull, plan->fs->proc_pid_only, err) < 0 ||
	    mount_dev(root, plan->pty_max, err) < 0)
		goto out;
	for (size_t i = 0; i < plan->fs->n_hide; i++)
		if (mask_path(root, plan->fs->hide[i], devnull, err) < 0)
			goto out;
	r = pivot(root, err);
out:
	entries_free(entries, n);
	return r;
}

/* ---- the view of a session that joined a service ---- */

/* Where the new root hangs until pivot_root: every ward sandbox has a /dev,
 * and everything under it is cloned before it is shadowed. */
#define SESSION_STAGING_DIR "/dev"

struct session_mounts {
	struct session_mount_plan plan;
	struct entry *entries; /* the session policy's and the home, sorted */
	size_t n;
};

void mounts_session_free(struct session_mounts *sm)
{
	if (!sm)
		return;
	entries_free(sm->entries, sm->n);
	free(sm);
}

int mounts_session_open(const struct session_mount_plan *plan, struct session_mounts **out,
			struct ward_err *err)
{
	const struct mount_plan mp = {
	    .fs = plan->fs, .data_src = plan->data_src, .owner = plan->owner};
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	struct session_mounts *sm;
	struct entry *v;

	*out = NULL;
	if (!plan->home || plan->home[0] != '/')
		return ward_err_set(err, EINVAL, "home: not an absolute path");
	if (check_dst(plan->home, err) < 0)
		return -1;
	sm = calloc(1, sizeof(*sm));
	if (!sm)
		return ward_err_set(err, ENOMEM, "mount plan");
	sm->plan = *plan;
	if (collect(&mp, &sm->entries, &sm->n, err) < 0) {
		free(sm);
		return -1;
	}
	/* A session writes to its home and its tmpfs mounts, nowhere else:
	 * the tenant's data too is read-only for it. */
	for (size_t i = 0; i < sm->n; i++)
		if (sm->entries[i].kind == ENTRY_DATA &&
		    mount_setattr(sm->entries[i].tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro,
				  sizeof(ro)) < 0) {
			ward_err_set(err, errno, "data %s: read-only", sm->entries[i].dst);
			goto fail;
		}
	v = reallocarray(sm->entries, sm->n + 1, sizeof(*v));
	if (!v) {
		ward_err_set(err, ENOMEM, "mount plan");
		goto fail;
	}
	sm->entries = v;
	v[sm->n] = (struct entry){
	    .kind = ENTRY_BIND_RW, .dst = plan->home, .src = "home", .is_dir = true, .tree_fd = -1};
	v[sm->n].tree_fd =
	    clone_tree(plan->home_fd, plan->home,
		       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
	sm->n++;
	if (v[sm->n - 1].tree_fd < 0)
		goto fail;
	qsort(sm->entries, sm->n, sizeof(*sm->entries), entry_cmp);
	*out = sm;
	return 0;
fail:
	mounts_session_free(sm);
	return -1;
}

/* Whether the session brings its own entry for exactly "/name": then the
 * service's entry of that name is left out (a session tmpfs /tmp instead
 * of the service's /tmp). */
static bool session_replaces(const struct session_mounts *sm, const char *name)
{
	if (strcmp(name, "home") == 0)
		return true; /* the session's /home is ward's: only the user's home */
	for (size_t i = 0; i < sm->n; i++)
		if (sm->entries[i].dst[0] == '/' && strcmp(sm->entries[i].dst + 1, name) == 0)
			return true;
	return false;
}

static int service_entry(int dir, const char *name, struct entry *e, struct ward_err *err)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
				  .propagation = MS_PRIVATE};
	struct stat st;
	size_t len = strlen(name);

	*e = (struct entry){.kind = ENTRY_BIND_RO, .tree_fd = -1};
	e->dst_buf = malloc(len + 2);
	if (!e->dst_buf)
		return ward_err_set(err, ENOMEM, "service view");
	e->dst_buf[0] = '/';
	memcpy(e->dst_buf + 1, name, len + 1);
	e->dst = e->src = e->dst_buf;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ward_err_set(err, errno, "service view %s", e->dst);
	if (S_ISLNK(st.st_mode)) {
		char buf[PATH_MAX];
		ssize_t n = readlinkat(dir, name, buf, sizeof(buf) - 1);

		if (n < 0)
			return ward_err_set(err, errno, "service view %s: readlink", e->dst);
		buf[n] = '\0';
		e->kind = ENTRY_SYMLINK;
		e->link = strdup(buf);
		return e->link ? 0 : ward_err_set(err, ENOMEM, "service view");
	}
	e->is_dir = S_ISDIR(st.st_mode);
	e->tree_fd = open_tree(
	    dir, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
	if (e->tree_fd < 0)
		return ward_err_set(err, errno, "clone service view %s", e->dst);
	/* All the way down: what the service may write, its data included,
	 * the session may only read. */
	if (mount_setattr(e->tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return ward_err_set(err, errno, "service view %s: read-only", e->dst);
	return 0;
}

/* Clones every top-level entry of the service's root but those the session
 * replaces. */
static int collect_service_view(const struct session_mounts *sm, struct entry **out, size_t *n_out,
				struct ward_err *err)
{
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d) {
		ward_err_set(err, errno, "service view /");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    session_replaces(sm, de->d_name))
			continue;
		if (n == cap) {
			struct entry *p = reallocarray(v, cap ? cap * 2 : 16, sizeof(*v));

			if (!p) {
				ward_err_set(err, ENOMEM, "service view");
				goto fail;
			}
			v = p;
			cap = cap ? cap * 2 : 16;
		}
		if (service_entry(dirfd(d), de->d_name, &v[n++], err) < 0)
			goto fail;
	}
	if (errno) {
		ward_err_set(err, errno, "service view /: readdir");
		goto fail;
	}
	closedir(d);
	*out = v;
	*n_out = n;
	return 0;
fail:
	closedir(d);
	entries_free(v, n);
	return -1;
}

int mounts_session_apply(struct session_mounts *sm, struct ward_err *err)
{
	static const char *const root_opts[] = {"mode", "0755", "size", "1048576", NULL};
	const struct ward_filesystem *fs = sm->plan.fs;
	struct entry *svc = NULL;
	size_t n_svc = 0;
	_cleanup_close_ int devnull = -1;
	_cleanup_close_ int root = -1;
	int r = -1;

	/* First: nothing we mount may reach the service's mount table. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		ward_err_set(err, errno, "make mounts private");
		goto out;
	}
	devnull = openat2_path(AT_FDCWD, "/dev/null", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
	if (devnull < 0) {
		ward_err_set(err, errno, "open /dev/null");
		goto out;
	}
	if (collect_service_view(sm, &svc, &n_svc, err) < 0)
		goto out;
	/* As in mounts_apply: inodes in the new root are created by a uid
	 * mapped in the sandbox's user namespace. */
	setfsgid(sm->plan.owner);
	setfsuid(sm->plan.owner);
	if ((uid_t)setfsuid((uid_t)-1) != sm->plan.owner) {
		ward_err_set(err, EPERM, "switch to uid %u for the mounts", sm->plan.owner);
		goto out;
	}
	root = new_fs("tmpfs", root_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (root < 0)
		goto out;
	if (move_mount(root, "", AT_FDCWD, SESSION_STAGING_DIR, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		ward_err_set(err, errno, "attach new root at %s", SESSION_STAGING_DIR);
		goto out;
	}
	/* The service's view first, then the session's entries on top of it
	 * (a tmpfs at /var/tmp lands on the service's /var), then the masks. */
	for (size_t i = 0; i < n_svc; i++)
		if (place_entry(root, &svc[i], err) < 0)
			goto out;
	for (size_t i = 0; i < sm->n; i++)
		if (place_entry(root, &sm->entries[i], err) < 0)
			goto out;
	for (size_t i = 0; i < fs->n_hide; i++)
		if (mask_path(root, fs->hide[i], devnull, err) < 0)
			goto out;
	r = pivot(root, err);
out:
	entries_free(svc, n_svc);
	mounts_session_free(sm);
	return r;
}
