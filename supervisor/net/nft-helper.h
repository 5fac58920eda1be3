/* The nft helper process: libnftables, dlopen()ed in a child of wardd that
 * keeps CAP_NET_ADMIN alone and one nft context for its whole life, runs
 * nft text one request at a time. libnftables exit()s when it cannot open
 * its netlink socket, and its parser is a large attack surface: the helper
 * dying costs one failed request, not the daemon. Started by the first
 * request that needs it, and again after it died. Used by the firewall
 * (net/firewall*.c) only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "basic/error.h"

struct nft_helper {
	pid_t pid;      /* -1: none running */
	int sock;       /* -1 with pid */
	int timeout_ms; /* how long one request may take */
};

#define NFT_HELPER_INIT(timeout)                                                                   \
	((struct nft_helper){.pid = -1, .sock = -1, .timeout_ms = (timeout)})

enum nft_result {
	NFT_OK,
	NFT_FAILED, /* not applied: nft refused it, or it never reached nft */
	NFT_LOST,   /* sent whole, no answer: applied or not, nobody knows */
};

/* Runs text in the helper, starting it first if there is none (or if the
 * one there died while idle: nothing was lost with it). *out, if asked
 * for, gets nft's output (JSON if json), which the caller frees. On
 * NFT_FAILED and NFT_LOST, err says why; a lost request also stops the
 * helper. */
enum nft_result nft_request(struct nft_helper *h, const char *text, bool json, char **out,
			    struct ward_err *err);

/* Ends the helper (SIGKILL unless it is already gone) and, if how is not
 * NULL, says there how it ended, for an error message. */
void nft_helper_stop(struct nft_helper *h, char *how, size_t how_len);
