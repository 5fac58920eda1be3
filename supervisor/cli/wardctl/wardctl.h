/* wardctl, the operator's command line, in parts: main.c dispatches,
 * conn.c talks to wardd, common.c holds what the commands share (usage
 * text, targets, table cells, the shape of the views), and each command
 * group has a file of its own (check.c, status.c, actions.c, logs.c,
 * practice.c, sessions.c). What is declared here is shared only inside
 * wardctl, which links the model layer and nothing above it.
 *
 * Errors: every function that fails has said why on stderr already; the
 * commands return an exit code. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes: 0 all good, 1 refused or failed, 2 bad input or usage. */
enum { EXIT_FAILED = 1, EXIT_INVALID = 2 };

#define DEFAULT_SOCKET "/run/ward/control.sock"
#define NAME_RULE      "[a-z][a-z0-9-]{0,23}"

/* ---- talking to wardd (conn.c) ---- */

/* Where wardd listens: --socket, or --state-dir's control.sock. */
extern const char *socket_path;

struct conn {
	int fd;
	char *buf; /* what was read and not yet returned as a line */
	size_t off, len, cap, scanned;
};

/* "wardctl: MSG" on stderr, MSG with its control bytes as '?'. */
void print_error(const char *msg);
int conn_open(struct conn *c);
void conn_close(struct conn *c);
/* The next message as a JSON object; NULL (said why) on failure or at the
 * end of the stream (*eof set then). */
json_t *conn_read_json(struct conn *c, bool *eof);
/* 0 if the reply says ok; else prints its error and returns -1. */
int reply_ok(json_t *reply);
/* Sends req (taken) on c and returns its ok reply, or NULL (said why). */
json_t *conn_request(struct conn *c, json_t *req);
/* One request, one reply, on a connection of its own. */
json_t *request(json_t *req);
/* {"cmd": cmd} plus tenant and service when given (non-empty). */
json_t *new_request(const char *cmd, const char *tenant, const char *service);

/* ---- what the commands share (common.c) ---- */

/* "TENANT" or "TENANT/SERVICE", both names checked before anything is
 * sent. */
int parse_target(const char *arg, bool need_service, char tenant[32], char service[32]);
/* The options every remote command has (only --help) plus its own. */
void command_usage(FILE *out, const char *name, const char *args, const char *text);
/* A table cell of 128 bytes: s, "-" when NULL or empty, cut, control bytes
 * as '?'. */
void set_cell(char *cell, const char *s);
/* "KEY           VALUE", the value cleaned, "-" when NULL or empty. */
void print_row(const char *key, const char *value);
/* v as indented JSON on stdout: 0 or EXIT_FAILED. */
int print_json(json_t *v);

/* The shape of `status`, `net` and `sessions`: [TENANT] [--json], one
 * request, and the reply's `field` printed as JSON or by print(). */
struct view_cmd {
	const char *name;
	void (*usage)(FILE *out);
	bool tenant_required;
	const char *field;
	json_type type; /* of field: JSON_ARRAY or JSON_OBJECT */
	void (*print)(json_t *v);
};

int run_view(const struct view_cmd *v, int argc, char **argv);

/* ---- the commands: (argc, argv) from the command's name on ---- */

int cmd_check(int argc, char **argv);    /* check.c */
int cmd_status(int argc, char **argv);   /* status.c */
int cmd_net(int argc, char **argv);      /* status.c */
int cmd_start(int argc, char **argv);    /* actions.c */
int cmd_stop(int argc, char **argv);     /* actions.c */
int cmd_restart(int argc, char **argv);  /* actions.c */
int cmd_reset(int argc, char **argv);    /* actions.c */
int cmd_reload(int argc, char **argv);   /* actions.c */
int cmd_logs(int argc, char **argv);     /* logs.c */
int cmd_onboard(int argc, char **argv);  /* practice.c */
int cmd_offboard(int argc, char **argv); /* practice.c */
int cmd_sessions(int argc, char **argv); /* sessions.c */
int cmd_kick(int argc, char **argv);     /* sessions.c */
