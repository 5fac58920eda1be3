/* systemd's syscall groups (names, meanings and contents as in systemd, so an
 * operator's knowledge carries over) and expanding them into sets of names. */
#include "model/seccomp-groups.h"
#include "model/names.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The lists are those of systemd 252 as Debian 12 ships it (252.38, which
 * already carries fchmodat2, futex_waitv, riscv_hwprobe, uretprobe), taken
 * from `systemd-analyze syscall-filter`; names for other architectures stay
 * in, as in systemd, and are skipped where libseccomp does not know them.
 * Two later systemd changes are included: the @sandbox group (landlock_*,
 * seccomp; systemd 257) and its inclusion in @default (systemd 257: a
 * process may always restrict itself further), and @known also lists
 * cachestat, which libseccomp 2.5.4 knows. */

/* clang-format off */
static const char *const group_default[] = {
	"@sandbox", "arch_prctl", "brk", "cacheflush", "clock_getres", "clock_getres_time64",
	"clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "execve",
	"exit", "exit_group", "futex", "futex_time64", "futex_waitv", "get_robust_list",
	"get_thread_area", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
	"getgroups", "getgroups32", "getpgid", "getpgrp", "getpid", "getppid", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getsid", "gettid",
	"gettimeofday", "getuid", "getuid32", "membarrier", "mmap", "mmap2", "mprotect", "munmap",
	"nanosleep", "pause", "prlimit64", "restart_syscall", "riscv_flush_icache",
	"riscv_hwprobe", "rseq", "rt_sigreturn", "sched_getaffinity", "sched_yield",
	"set_robust_list", "set_thread_area", "set_tid_address", "set_tls", "sigreturn", "time",
	"ugetrlimit", "uretprobe", NULL,
};

static const char *const group_aio[] = {
	"io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
	"io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", NULL,
};

static const char *const group_basic_io[] = {
	"_llseek", "close", "close_range", "dup", "dup2", "dup3", "lseek", "pread64", "preadv",
	"preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readv", "write", "writev", NULL,
};

static const char *const group_chown[] = {
	"chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", NULL,
};

static const char *const group_clock[] = {
	"adjtimex", "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64",
	"settimeofday", NULL,
};

static const char *const group_cpu_emulation[] = {
	"modify_ldt", "subpage_prot", "switch_endian", "vm86", "vm86old", NULL,
};

static const char *const group_debug[] = {
	"lookup_dcookie", "perf_event_open", "pidfd_getfd", "ptrace", "rtas",
	"s390_runtime_instr", "sys_debug_setcontext", NULL,
};

static const char *const group_file_system[] = {
	"access", "chdir", "chmod", "close", "creat", "faccessat", "faccessat2", "fallocate",
	"fchdir", "fchmod", "fchmodat", "fchmodat2", "fcntl", "fcntl64", "fgetxattr",
	"flistxattr", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
	"fstatfs64", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64",
	"getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
	"lgetxattr", "link", "linkat", "listxattr", "llistxattr", "lremovexattr", "lsetxattr",
	"lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat", "oldfstat",
	"oldlstat", "oldstat", "open", "openat", "openat2", "readlink", "readlinkat",
	"removexattr", "rename", "renameat", "renameat2", "rmdir", "setxattr", "stat", "stat64",
	"statfs", "statfs64", "statx", "symlink", "symlinkat", "truncate", "truncate64", "unlink",
	"unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", NULL,
};

static const char *const group_io_event[] = {
	"_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	"poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select", NULL,
};

static const char *const group_ipc[] = {
	"ipc", "memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
	"mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl",
	"msgget", "msgrcv", "msgsnd", "pipe", "pipe2", "process_madvise", "process_vm_readv",
	"process_vm_writev", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64",
	"shmat", "shmctl", "shmdt", "shmget", NULL,
};

static const char *const group_keyring[] = {
	"add_key", "keyctl", "request_key", NULL,
};

static const char *const group_memlock[] = {
	"mlock", "mlock2", "mlockall", "munlock", "munlockall", NULL,
};

static const char *const group_module[] = {
	"delete_module", "finit_module", "init_module", NULL,
};

static const char *const group_mount[] = {
	"chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr",
	"move_mount", "open_tree", "pivot_root", "umount", "umount2", NULL,
};

static const char *const group_network_io[] = {
	"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
	"listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send",
	"sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socket", "socketcall",
	"socketpair", NULL,
};

static const char *const group_obsolete[] = {
	"_sysctl", "afs_syscall", "bdflush", "break", "create_module", "ftime", "get_kernel_syms",
	"getpmsg", "gtty", "idle", "lock", "mpx", "prof", "profil", "putpmsg", "query_module",
	"security", "sgetmask", "ssetmask", "stime", "stty", "sysfs", "tuxcall", "ulimit",
	"uselib", "ustat", "vserver", NULL,
};

static const char *const group_pkey[] = {
	"pkey_alloc", "pkey_free", "pkey_mprotect", NULL,
};

static const char *const group_privileged[] = {
	"@chown", "@clock", "@module", "@raw-io", "@reboot", "@swap", "_sysctl", "acct", "bpf",
	"capset", "chroot", "fanotify_init", "fanotify_mark", "nfsservctl", "open_by_handle_at",
	"pivot_root", "quotactl", "quotactl_fd", "setdomainname", "setfsuid", "setfsuid32",
	"setgroups", "setgroups32", "sethostname", "setresuid", "setresuid32", "setreuid",
	"setreuid32", "setuid", "setuid32", "vhangup", NULL,
};

static const char *const group_process[] = {
	"capget", "clone", "clone3", "execveat", "fork", "getrusage", "kill", "pidfd_open",
	"pidfd_send_signal", "prctl", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setns",
	"swapcontext", "tgkill", "times", "tkill", "unshare", "vfork", "wait4", "waitid",
	"waitpid", NULL,
};

static const char *const group_raw_io[] = {
	"ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
	"s390_pci_mmio_read", "s390_pci_mmio_write", NULL,
};

static const char *const group_reboot[] = {
	"kexec_file_load", "kexec_load", "reboot", NULL,
};

static const char *const group_resources[] = {
	"ioprio_set", "mbind", "migrate_pages", "move_pages", "nice", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "set_mempolicy",
	"set_mempolicy_home_node", "setpriority", "setrlimit", NULL,
};

static const char *const group_sandbox[] = {
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp", NULL,
};

static const char *const group_setuid[] = {
	"setgid", "setgid32", "setgroups", "setgroups32", "setregid", "setregid32", "setresgid",
	"setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32",
	NULL,
};

static const char *const group_signal[] = {
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "sigaction", "sigaltstack", "signal", "signalfd", "signalfd4",
	"sigpending", "sigprocmask", "sigsuspend", NULL,
};

static const char *const group_swap[] = {
	"swapoff", "swapon", NULL,
};

static const char *const group_sync[] = {
	"fdatasync", "fsync", "msync", "sync", "sync_file_range", "sync_file_range2", "syncfs",
	NULL,
};

static const char *const group_system_service[] = {
	"@aio", "@basic-io", "@chown", "@default", "@file-system", "@io-event", "@ipc",
	"@keyring", "@memlock", "@network-io", "@process", "@resources", "@setuid", "@signal",
	"@sync", "@timer", "arm_fadvise64_64", "capget", "capset", "copy_file_range", "fadvise64",
	"fadvise64_64", "flock", "get_mempolicy", "getcpu", "getpriority", "ioctl", "ioprio_get",
	"kcmp", "madvise", "mremap", "name_to_handle_at", "oldolduname", "olduname",
	"personality", "readahead", "readdir", "remap_file_pages", "sched_get_priority_max",
	"sched_get_priority_min", "sched_getattr", "sched_getparam", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_yield", "sendfile",
	"sendfile64", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setpgid", "setsid",
	"splice", "sysinfo", "tee", "umask", "uname", "userfaultfd", "vmsplice", NULL,
};

static const char *const group_timer[] = {
	"alarm", "getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
	"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
	NULL,
};

static const char *const group_known[] = {
	"@obsolete", "_llseek", "_newselect", "accept", "accept4", "access", "acct", "add_key",
	"adjtimex", "alarm", "arc_gettls", "arc_settls", "arc_usr_cmpxchg", "arch_prctl",
	"arm_fadvise64_64", "atomic_barrier", "atomic_cmpxchg_32", "bind", "bpf", "brk",
	"cachectl", "cacheflush", "cachestat", "capget", "capset", "chdir", "chmod", "chown",
	"chown32", "chroot", "clock_adjtime", "clock_adjtime64", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "clock_settime", "clock_settime64", "clone", "clone3", "close",
	"close_range", "connect", "copy_file_range", "creat", "delete_module", "dipc", "dup",
	"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	"exec_with_loader", "execv", "execve", "execveat", "exit", "exit_group", "faccessat",
	"faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_init", "fanotify_mark",
	"fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl",
	"fcntl64", "fdatasync", "fgetxattr", "finit_module", "flistxattr", "flock", "fork",
	"fremovexattr", "fsconfig", "fsetxattr", "fsmount", "fsopen", "fspick", "fstat",
	"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
	"futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake",
	"futimesat", "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu", "getcwd",
	"getdents", "getdents64", "getdomainname", "getdtablesize", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "gethostname",
	"getitimer", "getpagesize", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
	"getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
	"getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday",
	"getuid", "getuid32", "getxattr", "getxgid", "getxpid", "getxuid", "init_module",
	"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
	"io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
	"io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioctl", "ioperm",
	"iopl", "ioprio_get", "ioprio_set", "ipc", "kcmp", "kern_features", "kexec_file_load",
	"kexec_load", "keyctl", "kill", "landlock_add_rule", "landlock_create_ruleset",
	"landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
	"listxattr", "llistxattr", "lookup_dcookie", "lremovexattr", "lseek", "lsetxattr",
	"lstat", "lstat64", "madvise", "map_shadow_stack", "mbind", "membarrier", "memfd_create",
	"memfd_secret", "memory_ordering", "migrate_pages", "mincore", "mkdir", "mkdirat",
	"mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "modify_ldt", "mount",
	"mount_setattr", "move_mount", "move_pages", "mprotect", "mq_getsetattr", "mq_notify",
	"mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd",
	"msync", "multiplexer", "munlock", "munlockall", "munmap", "name_to_handle_at",
	"nanosleep", "newfstatat", "nice", "old_adjtimex", "oldfstat", "oldlstat", "oldolduname",
	"oldstat", "oldumount", "olduname", "open", "open_by_handle_at", "open_tree", "openat",
	"openat2", "or1k_atomic", "osf_fstat", "osf_fstatfs", "osf_fstatfs64",
	"osf_getdirentries", "osf_getdomainname", "osf_getitimer", "osf_getrusage",
	"osf_getsysinfo", "osf_gettimeofday", "osf_lstat", "osf_mount", "osf_proplist_syscall",
	"osf_select", "osf_set_program_attributes", "osf_setitimer", "osf_setsysinfo",
	"osf_settimeofday", "osf_shmat", "osf_sigprocmask", "osf_sigstack", "osf_stat",
	"osf_statfs", "osf_statfs64", "osf_swapon", "osf_syscall", "osf_sysinfo",
	"osf_usleep_thread", "osf_utimes", "osf_utsname", "osf_wait4", "pause",
	"pciconfig_iobase", "pciconfig_read", "pciconfig_write", "perf_event_open", "perfctr",
	"personality", "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
	"pivot_root", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64",
	"prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_madvise",
	"process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6",
	"pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "quotactl", "quotactl_fd",
	"read", "readahead", "readdir", "readlink", "readlinkat", "readv", "reboot", "recv",
	"recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
	"rename", "renameat", "renameat2", "request_key", "restart_syscall", "riscv_flush_icache",
	"riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
	"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "rtas", "s390_guarded_storage",
	"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr", "s390_sthyi",
	"sched_get_affinity", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_set_affinity",
	"sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
	"sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
	"set_mempolicy", "set_mempolicy_home_node", "set_robust_list", "set_thread_area",
	"set_tid_address", "setdomainname", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
	"setgid", "setgid32", "setgroups", "setgroups32", "sethae", "sethostname", "setitimer",
	"setns", "setpgid", "setpgrp", "setpriority", "setregid", "setregid32", "setresgid",
	"setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
	"setsid", "setsockopt", "settimeofday", "setuid", "setuid32", "setxattr", "sgetmask",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaction", "sigaltstack", "signal",
	"signalfd", "signalfd4", "sigpending", "sigprocmask", "sigreturn", "sigsuspend", "socket",
	"socketcall", "socketpair", "splice", "spu_create", "spu_run", "ssetmask", "stat",
	"stat64", "statfs", "statfs64", "statx", "stime", "subpage_prot", "swapcontext",
	"swapoff", "swapon", "switch_endian", "symlink", "symlinkat", "sync", "sync_file_range",
	"sync_file_range2", "syncfs", "sys_debug_setcontext", "syscall", "sysfs", "sysinfo",
	"syslog", "sysmips", "tee", "tgkill", "time", "timer_create", "timer_delete",
	"timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
	"timer_settime64", "timerfd", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
	"timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
	"ugetrlimit", "umask", "umount", "umount2", "uname", "unlink", "unlinkat", "unshare",
	"userfaultfd", "ustat", "utime", "utimensat", "utimensat_time64", "utimes",
	"utrap_install", "vfork", "vhangup", "vm86", "vm86old", "vmsplice", "wait4", "waitid",
	"waitpid", "write", "writev", NULL,
};

static const struct seccomp_group seccomp_groups[] = {
	{ "@default", "System calls that are always permitted", group_default },
	{ "@aio", "Asynchronous IO", group_aio },
	{ "@basic-io", "Basic IO", group_basic_io },
	{ "@chown", "Change ownership of files and directories", group_chown },
	{ "@clock", "Change the system time", group_clock },
	{ "@cpu-emulation", "System calls for CPU emulation functionality", group_cpu_emulation },
	{ "@debug", "Debugging, performance monitoring and tracing functionality", group_debug },
	{ "@file-system", "File system operations", group_file_system },
	{ "@io-event", "Event loop system calls", group_io_event },
	{ "@ipc", "SysV IPC, POSIX Message Queues or other IPC", group_ipc },
	{ "@keyring", "Kernel keyring access", group_keyring },
	{ "@memlock", "Memory locking control", group_memlock },
	{ "@module", "Loading and unloading of kernel modules", group_module },
	{ "@mount", "Mounting and unmounting of file systems", group_mount },
	{ "@network-io", "Network or Unix socket IO, should not be needed if not network facing",
	  group_network_io },
	{ "@obsolete", "Unusual, obsolete or unimplemented system calls", group_obsolete },
	{ "@pkey", "System calls used for memory protection keys", group_pkey },
	{ "@privileged", "All system calls which need super-user capabilities", group_privileged },
	{ "@process", "Process control, execution, namespacing operations", group_process },
	{ "@raw-io", "Raw I/O port access", group_raw_io },
	{ "@reboot", "Reboot and reboot preparation/kexec", group_reboot },
	{ "@resources", "Alter resource settings", group_resources },
	{ "@sandbox", "Sandbox functionality", group_sandbox },
	{ "@setuid", "Operations for changing user/group credentials", group_setuid },
	{ "@signal", "Process signal handling", group_signal },
	{ "@swap", "Enable/disable swap devices", group_swap },
	{ "@sync", "Synchronize files and memory to storage", group_sync },
	{ "@system-service", "General system service operations", group_system_service },
	{ "@timer", "Schedule operations by time", group_timer },
	{ "@known", "All known syscalls declared in the kernel", group_known },
	{ NULL, NULL, NULL },
};

static const char *const group_names[] = {
	"@default", "@aio", "@basic-io", "@chown", "@clock", "@cpu-emulation", "@debug",
	"@file-system", "@io-event", "@ipc", "@keyring", "@memlock", "@module", "@mount",
	"@network-io", "@obsolete", "@pkey", "@privileged", "@process", "@raw-io", "@reboot",
	"@resources", "@sandbox", "@setuid", "@signal", "@swap", "@sync", "@system-service",
	"@timer", "@known", NULL,
};
/* clang-format on */

/* The tables nest three levels at most (@known > @obsolete, @system-service >
 * @default > @sandbox); the limit only guards against an editing mistake. */
#define GROUP_NESTING_MAX 8

const struct seccomp_group *seccomp_group_find(const char *name)
{
	if (!name || name[0] != '@')
		return NULL;
	for (const struct seccomp_group *g = seccomp_groups; g->name; g++)
		if (strcmp(g->name, name) == 0)
			return g;
	return NULL;
}

bool seccomp_group_known(const char *name)
{
	return seccomp_group_find(name) != NULL;
}

const char *const *seccomp_group_names(void)
{
	return group_names;
}

void syscall_set_free(struct syscall_set *s)
{
	free(s->v);
	*s = (struct syscall_set){0};
}

int syscall_set_add(struct syscall_set *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		const char **v;

		if (cap > SIZE_MAX / sizeof(*v)) {
			errno = ENOMEM;
			return -1;
		}
		v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = name;
	s->sorted = false;
	return 0;
}

/* NOLINTNEXTLINE(misc-no-recursion): at most GROUP_NESTING_MAX (8) deep */
static int set_add_group_depth(struct syscall_set *s, const struct seccomp_group *g, int depth)
{
	if (depth > GROUP_NESTING_MAX) {
		errno = ELOOP;
		return -1;
	}
	for (const char *const *m = g->members; *m; m++) {
		int r;

		if ((*m)[0] == '@') {
			const struct seccomp_group *nested = seccomp_group_find(*m);

			/* A table entry naming a missing group is a bug in this
			 * file; the unit test walks every group to catch it. */
			if (!nested) {
				errno = EINVAL;
				return -1;
			}
			r = set_add_group_depth(s, nested, depth + 1);
		} else {
			r = syscall_set_add(s, *m);
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

int syscall_set_add_group(struct syscall_set *s, const struct seccomp_group *g)
{
	return set_add_group_depth(s, g, 0);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void syscall_set_finish(struct syscall_set *s)
{
	size_t out = 0;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_name);
	for (size_t i = 0; i < s->n; i++)
		if (out == 0 || strcmp(s->v[out - 1], s->v[i]) != 0)
			s->v[out++] = s->v[i];
	s->n = out;
	s->sorted = true;
}

bool syscall_set_contains(const struct syscall_set *s, const char *name)
{
	if (s->n == 0)
		return false;
	if (s->sorted)
		return bsearch(&name, s->v, s->n, sizeof(*s->v), cmp_name) != NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

int seccomp_group_foreach(const char *group, void (*fn)(const char *syscall, void *ud), void *ud)
{
	const struct seccomp_group *g = seccomp_group_find(group);
	struct syscall_set set = {0};

	if (!g) {
		errno = ENOENT;
		return -1;
	}
	/* Expanded into a set first so each name comes once, in order, even
	 * where nested groups overlap (close is in @basic-io and @file-system). */
	if (syscall_set_add_group(&set, g) < 0) {
		syscall_set_free(&set);
		return -1;
	}
	syscall_set_finish(&set);
	for (size_t i = 0; i < set.n; i++)
		fn(set.v[i], ud);
	syscall_set_free(&set);
	return 0;
}
