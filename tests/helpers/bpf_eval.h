/* A classic-BPF evaluator for seccomp filters, for the tests: it runs a
 * filter program over a struct seccomp_data the way the kernel does, so an
 * ABI this kernel cannot enter (i386 without the int 0x80 gate) can still be
 * checked against the very program ward loads. test_seccomp's
 * test_evaluator_matches_kernel keeps it honest against the kernel. */
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runs prog over d. Returns the filter's 32-bit return value, or sets *bad
 * (and returns SECCOMP_RET_KILL_PROCESS) when the program does something
 * the kernel's checker would refuse: an unknown instruction, a load outside
 * seccomp_data or unaligned, a jump past the end, falling off the end, a
 * scratch slot out of range. */
uint32_t bpf_eval(const struct sock_filter *prog, size_t n, const struct seccomp_data *d,
		  bool *bad);

/* Several filters as the kernel stacks them: every one runs, and the
 * action of highest precedence wins (KILL_PROCESS over KILL_THREAD over
 * TRAP over ERRNO over USER_NOTIF over TRACE over LOG over ALLOW); among
 * equal actions the first filter's value is kept, as the kernel keeps the
 * newest filter's, which comes first in prog[]. */
uint32_t bpf_eval_stack(const struct sock_filter *const *prog, const size_t *n, size_t n_prog,
			const struct seccomp_data *d, bool *bad);

/* The action part of a return value (SECCOMP_RET_ACTION_FULL), and its
 * name: "kill_process", "kill_thread", "trap", "errno", "user_notif",
 * "trace", "log", "allow" or "unknown". */
uint32_t bpf_action(uint32_t ret);
const char *bpf_action_name(uint32_t ret);
