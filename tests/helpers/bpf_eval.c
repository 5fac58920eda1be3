/* See bpf_eval.h. Follows the kernel's classic BPF as seccomp admits it
 * (kernel/seccomp.c, seccomp_check_filter, and net/core/filter.c): 32-bit
 * registers A and X, 16 scratch words, loads only from seccomp_data. */
#include "bpf_eval.h"

#include <string.h>

#define SCRATCH 16

static uint32_t load_data(const struct seccomp_data *d, uint32_t off, bool *bad)
{
	uint32_t w;

	/* Only aligned 32-bit words inside the struct, as the kernel checks. */
	if (off % 4 != 0 || off > sizeof(*d) - 4) {
		*bad = true;
		return 0;
	}
	memcpy(&w, (const char *)d + off, sizeof(w));
	return w;
}

/* One ALU operation; false for one the kernel refuses (or a division by
 * zero, which ends the program with 0, that is kill). */
static bool alu(uint16_t op, uint32_t *a, uint32_t v)
{
	switch (op) {
	case BPF_ADD:
		*a += v;
		return true;
	case BPF_SUB:
		*a -= v;
		return true;
	case BPF_MUL:
		*a *= v;
		return true;
	case BPF_DIV:
		if (v == 0)
			return false;
		*a /= v;
		return true;
	case BPF_MOD:
		if (v == 0)
			return false;
		*a %= v;
		return true;
	case BPF_AND:
		*a &= v;
		return true;
	case BPF_OR:
		*a |= v;
		return true;
	case BPF_XOR:
		*a ^= v;
		return true;
	case BPF_LSH:
		*a = v >= 32 ? 0 : *a << v;
		return true;
	case BPF_RSH:
		*a = v >= 32 ? 0 : *a >> v;
		return true;
	case BPF_NEG:
		*a = -*a;
		return true;
	default:
		return false;
	}
}

static bool jump_taken(uint16_t op, uint32_t a, uint32_t v, bool *bad)
{
	switch (op) {
	case BPF_JEQ:
		return a == v;
	case BPF_JGT:
		return a > v;
	case BPF_JGE:
		return a >= v;
	case BPF_JSET:
		return (a & v) != 0;
	default:
		*bad = true;
		return false;
	}
}

uint32_t bpf_eval(const struct sock_filter *prog, size_t n, const struct seccomp_data *d, bool *bad)
{
	uint32_t a = 0, x = 0, mem[SCRATCH] = {0};

	*bad = false;
	if (n == 0 || n > BPF_MAXINSNS)
		goto refused;
	for (size_t pc = 0; pc < n && !*bad; pc++) {
		const struct sock_filter *f = &prog[pc];
		uint32_t src = BPF_SRC(f->code) == BPF_X ? x : f->k;

		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			if (f->code == (BPF_LD | BPF_W | BPF_ABS))
				a = load_data(d, f->k, bad);
			else if (f->code == (BPF_LD | BPF_W | BPF_LEN))
				a = sizeof(*d);
			else if (f->code == (BPF_LD | BPF_IMM))
				a = f->k;
			else if (f->code == (BPF_LD | BPF_MEM) && f->k < SCRATCH)
				a = mem[f->k];
			else
				goto refused;
			break;
		case BPF_LDX:
			if (f->code == (BPF_LDX | BPF_W | BPF_LEN))
				x = sizeof(*d);
			else if (f->code == (BPF_LDX | BPF_IMM))
				x = f->k;
			else if (f->code == (BPF_LDX | BPF_MEM) && f->k < SCRATCH)
				x = mem[f->k];
			else
				goto refused;
			break;
		case BPF_ST:
			if (f->code != BPF_ST || f->k >= SCRATCH)
				goto refused;
			mem[f->k] = a;
			break;
		case BPF_STX:
			if (f->code != BPF_STX || f->k >= SCRATCH)
				goto refused;
			mem[f->k] = x;
			break;
		case BPF_ALU:
			if (!alu(BPF_OP(f->code), &a, src))
				goto refused;
			break;
		case BPF_JMP:
			if (BPF_OP(f->code) == BPF_JA) {
				if (f->k >= n - pc - 1)
					goto refused;
				pc += f->k;
				break;
			}
			if (f->jt >= n - pc - 1 || f->jf >= n - pc - 1)
				goto refused;
			pc += jump_taken(BPF_OP(f->code), a, src, bad) ? f->jt : f->jf;
			break;
		case BPF_RET:
			if (f->code == (BPF_RET | BPF_K))
				return f->k;
			if (f->code == (BPF_RET | BPF_A))
				return a;
			goto refused;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				x = a;
			else if (BPF_MISCOP(f->code) == BPF_TXA)
				a = x;
			else
				goto refused;
			break;
		default:
			goto refused;
		}
	}
	/* Fell off the end, or a bad load on the way. */
refused:
	*bad = true;
	return SECCOMP_RET_KILL_PROCESS;
}

uint32_t bpf_action(uint32_t ret)
{
	return ret & SECCOMP_RET_ACTION_FULL;
}

/* Lower is stronger, as in the kernel's seccomp_run_filters. */
static int precedence(uint32_t ret)
{
	static const uint32_t order[] = {
	    SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
	    SECCOMP_RET_USER_NOTIF,   SECCOMP_RET_TRACE,       SECCOMP_RET_LOG,  SECCOMP_RET_ALLOW};

	for (int i = 0; i < (int)(sizeof(order) / sizeof(*order)); i++)
		if (bpf_action(ret) == order[i])
			return i;
	return 0; /* an unknown action is a kill, for the kernel too */
}

uint32_t bpf_eval_stack(const struct sock_filter *const *prog, const size_t *n, size_t n_prog,
			const struct seccomp_data *d, bool *bad)
{
	uint32_t best = SECCOMP_RET_ALLOW;

	*bad = n_prog == 0;
	for (size_t i = 0; i < n_prog; i++) {
		bool b;
		uint32_t r = bpf_eval(prog[i], n[i], d, &b);

		*bad = *bad || b;
		if (precedence(r) < precedence(best))
			best = r;
	}
	return best;
}

const char *bpf_action_name(uint32_t ret)
{
	switch (bpf_action(ret)) {
	case SECCOMP_RET_KILL_PROCESS:
		return "kill_process";
	case SECCOMP_RET_KILL_THREAD:
		return "kill_thread";
	case SECCOMP_RET_TRAP:
		return "trap";
	case SECCOMP_RET_ERRNO:
		return "errno";
	case SECCOMP_RET_USER_NOTIF:
		return "user_notif";
	case SECCOMP_RET_TRACE:
		return "trace";
	case SECCOMP_RET_LOG:
		return "log";
	case SECCOMP_RET_ALLOW:
		return "allow";
	default:
		return "unknown";
	}
}
