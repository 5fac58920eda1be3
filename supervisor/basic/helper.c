/* Forking a helper process of the daemon (see helper.h). */
#include "basic/helper.h"
#include "basic/log.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static __attribute__((noreturn)) void child(int sock, pid_t parent, const char *name,
					    helper_main_fn run, void *arg)
{
	sigset_t none;

	/* Dies with the daemon, from here on; the getppid() check catches a
	 * daemon that died before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	(void)prctl(PR_SET_NAME, name); /* for ps; cosmetic */
	log_set_program(name);          /* its messages say who speaks */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL); /* the daemon blocks its signals */
	/* Nothing of the daemon lives on in here: a log pipe, control socket
	 * or client socket held open by the helper would hide its closing
	 * from the other end. */
	if (sock != 3) {
		if (dup2(sock, 3) < 0)
			_exit(1);
		close(sock);
	}
	if (close_range(4, ~0u, 0) < 0)
		_exit(1);
	run(arg);
	_exit(1);
}

pid_t helper_fork(int type, const char *name, helper_main_fn run, void *arg, int *sock)
{
	int sv[2];
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child(sv[1], parent, name, run, arg);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}
