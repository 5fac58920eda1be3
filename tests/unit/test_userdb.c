/* Unit tests of userdb.c: lookups answered from the loop in order, a hung
 * name service failing at the deadline while the loop keeps turning, a
 * helper that dies, cancels (also of the lookup the helper is on), and the
 * real NSS helper as nobody without capabilities. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/loop.h"
#include "daemon/userdb.h"

enum {
	UID_ALICE = 1000,
	UID_NONE = 2000,
	UID_HANG = 3000,
	UID_CRASH = 4000,
	UID_MANY = 5000,
	UID_SLOW = 6000,
	UID_BADNAMES = 7000, /* a resolver whose group names do not add up */
	UID_TOOMANYNAMES = 8000
};

/* Packs names (n of them) into out, as a resolver must. */
static void pack(char *out, size_t *len, const char *const *names, size_t n)
{
	size_t at = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + 1;

		memcpy(out + at, names[i], l);
		at += l;
	}
	*len = at;
}

/* Runs in the helper. */
static int fake_resolve(uid_t uid, char *name, size_t size, gid_t *groups, size_t *n, char *names,
			size_t *names_len)
{
	static const gid_t alice_groups[] = {1000, 27, 100};
	static const char *const alice_names[] = {"alice", "", "users"}; /* 27: no name */

	switch (uid) {
	case UID_ALICE:
	case UID_SLOW:
		if (uid == UID_SLOW)
			usleep(150 * 1000);
		(void)snprintf(name, size, "%s", uid == UID_ALICE ? "alice" : "slow");
		if (groups) {
			memcpy(groups, alice_groups, sizeof(alice_groups));
			*n = 3;
			pack(names, names_len, alice_names, 3);
		}
		return 0;
	case UID_BADNAMES: /* two names for three gids */
		(void)snprintf(name, size, "bad");
		if (groups) {
			memcpy(groups, alice_groups, sizeof(alice_groups));
			*n = 3;
			pack(names, names_len, alice_names, 2);
		}
		return 0;
	case UID_TOOMANYNAMES: /* says it used more than it was given */
		(void)snprintf(name, size, "toomany");
		if (groups) {
			groups[0] = 1;
			*n = 1;
			names[0] = '\0';
			*names_len = USERDB_GROUP_NAMES_MAX + 1;
		}
		return 0;
	case UID_HANG:
		sleep(60); /* the name service that never answers */
		return EIO;
	case UID_CRASH:
		_exit(3);
	case UID_MANY: /* as many groups and name bytes as an answer holds */
		(void)snprintf(name, size, "many");
		*names_len = 0;
		for (size_t i = 0; groups && i < USERDB_MAX_GROUPS; i++) {
			/* 8 bytes each ("g100007" and its NUL): 128 KiB in all */
			groups[i] = (gid_t)(100000 + i);
			*names_len +=
			    (size_t)snprintf(names + *names_len, 9, "g%06zu", 100000 + i) + 1;
		}
		*n = USERDB_MAX_GROUPS;
		return 0;
	default:
		return ENOENT;
	}
}

struct got {
	int calls;
	int err;
	uid_t uid;
	char name[64];
	gid_t groups[8];
	char group_names[8][32]; /* names of groups[] */
	size_t n_groups;         /* kept in groups[] */
	size_t all_groups;       /* in the answer */
	char last_name_at[32];   /* the name of the answer's last group */
	uint64_t at_ms;
};

struct fixture {
	struct loop *loop;
	struct userdb *db;
	struct got got[8];
	int order[8]; /* indexes of got[] in answer order */
	int n_answered;
	int want;  /* quit the loop after this many answers */
	int ticks; /* turns of a 20 ms timer while waiting */
	struct loop_timer *tick;
};

static void on_answer(const struct userdb_answer *a, void *ud);

static struct fixture *fx_new(unsigned timeout_ms, userdb_resolve_fn resolve)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->db = userdb_new(f->loop, timeout_ms, resolve);
	assert_non_null(f->db);
	return f;
}

static void fx_free(struct fixture *f)
{
	pid_t helper = userdb_helper_pid(f->db);

	userdb_free(f->db);
	if (helper > 0) /* killed and reaped by userdb_free */
		assert_int_equal(kill(helper, 0), -1);
	loop_timer_cancel(f->loop, f->tick);
	loop_free(f->loop);
	free(f);
}

struct slot {
	struct fixture *f;
	int i;
};

static struct slot slots[8];

static struct userdb_query *ask(struct fixture *f, int i, uid_t uid, bool groups)
{
	struct userdb_query *q;

	slots[i] = (struct slot){.f = f, .i = i};
	q = userdb_lookup(f->db, uid, groups, on_answer, &slots[i]);
	assert_non_null(q);
	return q;
}

static const char *lastname(const char *names, size_t n)
{
	const char *p = names;

	for (size_t i = 1; i < n; i++)
		p += strlen(p) + 1;
	return p;
}

static void on_answer(const struct userdb_answer *a, void *ud)
{
	struct slot *s = ud;
	struct fixture *f = s->f;
	struct got *g = &f->got[s->i];

	g->calls++;
	g->err = a->err;
	g->uid = a->uid;
	g->at_ms = loop_now_ms();
	if (a->err == 0) {
		(void)snprintf(g->name, sizeof(g->name), "%s", a->name);
		g->all_groups = a->n_groups;
		g->n_groups = a->n_groups < 8 ? a->n_groups : 8;
		memcpy(g->groups, a->groups, g->n_groups * sizeof(gid_t));
		for (size_t i = 0, at = 0; i < g->n_groups; i++) {
			(void)snprintf(g->group_names[i], sizeof(g->group_names[i]), "%s",
				       a->group_names + at);
			at += strlen(a->group_names + at) + 1;
		}
		if (a->n_groups)
			(void)snprintf(g->last_name_at, sizeof(g->last_name_at), "%s",
				       lastname(a->group_names, a->n_groups));
	} else {
		assert_null(a->name);
	}
	f->order[f->n_answered++] = s->i;
	if (f->n_answered >= f->want)
		loop_quit(f->loop);
}

static void on_tick(struct loop *l, void *ud)
{
	struct fixture *f = ud;

	f->ticks++;
	f->tick = loop_timer_add(l, 20, on_tick, f);
}

static void on_guard(struct loop *l, void *ud)
{
	*(struct loop_timer **)ud = NULL; /* fired: freed by the loop */
	loop_quit(l);
}

/* Turns the loop until want answers have come, or limit_ms. */
static void run(struct fixture *f, int want, unsigned limit_ms)
{
	struct loop_timer *guard = NULL;

	guard = loop_timer_add(f->loop, limit_ms, on_guard, &guard);
	assert_non_null(guard);
	f->want = want;
	if (!f->tick)
		f->tick = loop_timer_add(f->loop, 20, on_tick, f);
	if (f->n_answered < want)
		assert_int_equal(loop_run(f->loop), 0);
	if (f->n_answered < want)
		fail_msg("%d of %d answers within %u ms", f->n_answered, want, limit_ms);
	loop_timer_cancel(f->loop, guard);
}

/* Turns the loop for ms, whatever comes. */
static void spin(struct fixture *f, unsigned ms)
{
	struct loop_timer *guard = NULL;

	guard = loop_timer_add(f->loop, ms, on_guard, &guard);
	assert_non_null(guard);
	f->want = 1000;
	assert_int_equal(loop_run(f->loop), 0);
	loop_timer_cancel(f->loop, guard);
}

static void test_answer_with_groups_never_from_within_lookup(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);

	(void)state;
	ask(f, 0, UID_ALICE, true);
	assert_int_equal(f->got[0].calls, 0); /* the caller is in the middle of something */
	run(f, 1, 5000);
	assert_int_equal(f->got[0].calls, 1);
	assert_int_equal(f->got[0].err, 0);
	assert_int_equal(f->got[0].uid, UID_ALICE);
	assert_string_equal(f->got[0].name, "alice");
	assert_int_equal(f->got[0].n_groups, 3);
	assert_int_equal(f->got[0].groups[0], 1000);
	assert_int_equal(f->got[0].groups[1], 27);
	assert_int_equal(f->got[0].groups[2], 100);
	/* Each gid with its name, "" for the one without. */
	assert_string_equal(f->got[0].group_names[0], "alice");
	assert_string_equal(f->got[0].group_names[1], "");
	assert_string_equal(f->got[0].group_names[2], "users");
	assert_true(userdb_helper_pid(f->db) > 0);
	fx_free(f);
}

static void test_without_groups_and_unknown_user(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);

	(void)state;
	ask(f, 0, UID_ALICE, false);
	ask(f, 1, UID_NONE, true);
	run(f, 2, 5000);
	assert_int_equal(f->got[0].err, 0);
	assert_string_equal(f->got[0].name, "alice");
	assert_int_equal(f->got[0].n_groups, 0);
	assert_int_equal(f->got[1].err, ENOENT);
	assert_int_equal(f->got[1].uid, UID_NONE);
	fx_free(f);
}

static void test_as_many_groups_as_an_answer_holds(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);

	(void)state;
	ask(f, 0, UID_MANY, true);
	run(f, 1, 5000);
	assert_int_equal(f->got[0].err, 0);
	assert_int_equal(f->got[0].all_groups, USERDB_MAX_GROUPS);
	assert_int_equal(f->got[0].groups[7], 100007);
	assert_string_equal(f->got[0].group_names[7], "g100007");
	assert_string_equal(f->got[0].last_name_at, "g116383");
	fx_free(f);
}

static void test_group_names_that_do_not_add_up_fail(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);
	pid_t helper;

	(void)state;
	ask(f, 0, UID_BADNAMES, true);
	ask(f, 1, UID_TOOMANYNAMES, true);
	ask(f, 2, UID_ALICE, true);
	run(f, 3, 5000);
	/* Failed (a logon is refused), not answered with names of other
	 * gids, and the helper serves on. */
	assert_int_equal(f->got[0].err, EIO);
	assert_int_equal(f->got[1].err, EIO);
	assert_int_equal(f->got[2].err, 0);
	assert_string_equal(f->got[2].group_names[2], "users");
	helper = userdb_helper_pid(f->db);
	assert_true(helper > 0);
	fx_free(f);
}

static void test_answers_in_order_from_one_helper(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);
	pid_t helper;

	(void)state;
	for (int i = 0; i < 6; i++)
		ask(f, i, i % 2 ? UID_NONE : UID_ALICE, true);
	run(f, 6, 5000);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(f->order[i], i);
		assert_int_equal(f->got[i].err, i % 2 ? ENOENT : 0);
	}
	helper = userdb_helper_pid(f->db);
	assert_true(helper > 0);
	ask(f, 6, UID_ALICE, false);
	run(f, 7, 5000);
	assert_int_equal(userdb_helper_pid(f->db), helper); /* kept, not one per lookup */
	fx_free(f);
}

static void test_hung_name_service_fails_at_deadline_loop_turns(void **state)
{
	struct fixture *f = fx_new(300, fake_resolve);
	uint64_t t0 = loop_now_ms();
	pid_t hung;

	(void)state;
	ask(f, 0, UID_HANG, true);
	ask(f, 1, UID_ALICE, true); /* waited as long behind it: fails too */
	run(f, 1, 5000);
	hung = userdb_helper_pid(f->db);
	assert_int_equal(hung, -1); /* killed */
	run(f, 2, 5000);
	assert_int_equal(f->got[0].err, ETIMEDOUT);
	assert_int_equal(f->got[1].err, ETIMEDOUT);
	assert_true(f->got[0].at_ms - t0 >= 300);
	assert_true(f->got[0].at_ms - t0 < 3000);
	/* The loop went on meanwhile: the 20 ms timer kept firing. */
	assert_true(f->ticks >= 5);
	/* A new helper answers the next one. */
	ask(f, 2, UID_ALICE, true);
	run(f, 3, 5000);
	assert_int_equal(f->got[2].err, 0);
	assert_string_equal(f->got[2].name, "alice");
	fx_free(f);
}

static void test_late_query_behind_a_hung_one_gets_a_new_helper(void **state)
{
	struct fixture *f = fx_new(400, fake_resolve);

	(void)state;
	ask(f, 0, UID_HANG, true);
	spin(f, 30); /* the hung one is with the helper now */
	usleep(250 * 1000);
	ask(f, 1, UID_ALICE, true); /* has not waited its own deadline */
	run(f, 2, 5000);
	assert_int_equal(f->got[0].err, ETIMEDOUT);
	assert_int_equal(f->got[1].err, 0);
	assert_string_equal(f->got[1].name, "alice");
	fx_free(f);
}

static void test_helper_death_fails_its_query_only(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);

	(void)state;
	ask(f, 0, UID_CRASH, true);
	ask(f, 1, UID_ALICE, true);
	run(f, 2, 5000);
	assert_int_equal(f->got[0].err, EIO);
	assert_int_equal(f->got[1].err, 0);
	assert_string_equal(f->got[1].name, "alice");
	fx_free(f);
}

static void test_cancel_waiting_and_in_flight(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);
	struct userdb_query *q0, *q1;
	pid_t helper;

	(void)state;
	q0 = ask(f, 0, UID_SLOW, true);
	q1 = ask(f, 1, UID_ALICE, true);
	userdb_cancel(f->db, q1); /* not sent yet */
	ask(f, 2, UID_NONE, true);
	spin(f, 30); /* q0 goes to the helper */
	helper = userdb_helper_pid(f->db);
	assert_true(helper > 0);
	userdb_cancel(f->db, q0); /* the helper is on it */
	ask(f, 3, UID_ALICE, false);
	run(f, 2, 5000);
	assert_int_equal(f->got[0].calls, 0);
	assert_int_equal(f->got[1].calls, 0);
	/* Each got its own answer, not the cancelled one's. */
	assert_int_equal(f->got[2].err, ENOENT);
	assert_int_equal(f->got[3].err, 0);
	assert_string_equal(f->got[3].name, "alice");
	assert_int_equal(f->order[0], 2);
	assert_int_equal(f->order[1], 3);
	assert_int_equal(userdb_helper_pid(f->db), helper); /* no fork per cancel */
	fx_free(f);
}

static void test_free_with_lookups_waiting(void **state)
{
	struct fixture *f = fx_new(2000, fake_resolve);

	(void)state;
	ask(f, 0, UID_HANG, true);
	ask(f, 1, UID_ALICE, true);
	spin(f, 30);
	assert_true(userdb_helper_pid(f->db) > 0);
	fx_free(f); /* no callback, helper killed and reaped (checked there) */
}

static long status_field(pid_t pid, const char *key, char *out, size_t size)
{
	char path[64], line[256];
	FILE *fp;
	long found = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, key, strlen(key)) == 0) {
			(void)snprintf(out, size, "%s", line + strlen(key));
			found = 1;
		}
	fclose(fp);
	return found;
}

static void test_real_nss_as_nobody_without_capabilities(void **state)
{
	struct fixture *f = fx_new(5000, NULL);
	pid_t helper;
	bool has_root = false;

	(void)state;
	ask(f, 0, 0, true);
	run(f, 1, 10000);
	assert_int_equal(f->got[0].err, 0);
	assert_string_equal(f->got[0].name, "root");
	/* gid 0 is in root's groups, and its name came along. */
	for (size_t i = 0; i < f->got[0].n_groups; i++)
		if (f->got[0].groups[i] == 0) {
			has_root = true;
			assert_string_equal(f->got[0].group_names[i], "root");
		}
	assert_true(has_root);
	helper = userdb_helper_pid(f->db);
	assert_true(helper > 0);
	if (geteuid() == 0) {
		char v[128];

		assert_true(status_field(helper, "Uid:", v, sizeof(v)));
		assert_string_equal(v, "\t65534\t65534\t65534\t65534\n");
		assert_true(status_field(helper, "Gid:", v, sizeof(v)));
		assert_string_equal(v, "\t65534\t65534\t65534\t65534\n");
		assert_true(status_field(helper, "Groups:", v, sizeof(v)));
		assert_int_equal(strspn(v, " \t\n"), strlen(v)); /* none */
		assert_true(status_field(helper, "CapEff:", v, sizeof(v)));
		assert_string_equal(v, "\t0000000000000000\n");
		assert_true(status_field(helper, "CapBnd:", v, sizeof(v)));
		assert_string_equal(v, "\t0000000000000000\n");
		assert_true(status_field(helper, "NoNewPrivs:", v, sizeof(v)));
		assert_string_equal(v, "\t1\n");
	}
	/* Nobody has this uid. */
	ask(f, 1, 3999999999u, false);
	run(f, 2, 10000);
	assert_int_equal(f->got[1].err, ENOENT);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answer_with_groups_never_from_within_lookup),
	    cmocka_unit_test(test_without_groups_and_unknown_user),
	    cmocka_unit_test(test_as_many_groups_as_an_answer_holds),
	    cmocka_unit_test(test_group_names_that_do_not_add_up_fail),
	    cmocka_unit_test(test_answers_in_order_from_one_helper),
	    cmocka_unit_test(test_hung_name_service_fails_at_deadline_loop_turns),
	    cmocka_unit_test(test_late_query_behind_a_hung_one_gets_a_new_helper),
	    cmocka_unit_test(test_helper_death_fails_its_query_only),
	    cmocka_unit_test(test_cancel_waiting_and_in_flight),
	    cmocka_unit_test(test_free_with_lookups_waiting),
	    cmocka_unit_test(test_real_nss_as_nobody_without_capabilities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
