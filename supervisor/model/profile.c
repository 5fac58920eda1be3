/* The profile loader: parses a tenant profile and its policy fragments, merges
 * them over the built-in defaults, checks every field, and returns a complete
 * struct ward_tenant, or every error with file, line:column and JSON path.
 * This file is the load itself (set-up, the order of the errors,
 * tear-down); its parts live beside it, sharing profile-internal.h:
 * profile-diag.c (diagnostics), profile-values.c (public helpers, freeing),
 * profile-json.c (error reporting, typed access to values), profile-files.c
 * (files, named fragments), policy.c (merging), profile-sections.c (each
 * policy section), profile-tenant.c (services, network, sessions). Only
 * these files touch jansson objects of a profile. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include "basic/cleanup.h"
#include "basic/jsonpos.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Fail closed: what a process gets before any fragment says otherwise. The
 * schema's descriptions document the same values. */
static const char policy_defaults[] =
    "{\"filesystem\": {\"ro\": [], \"rw\": [], \"tmpfs\": {}, \"hide\": [],"
    "  \"proc_subset\": \"all\", \"noexec\": false},"
    " \"seccomp\": {\"default\": \"errno\", \"allow\": [\"@system-service\"],"
    "  \"deny\": [\"@clock\", \"@cpu-emulation\", \"@debug\", \"@module\", \"@mount\","
    "   \"@obsolete\", \"@privileged\", \"@raw-io\", \"@reboot\", \"@swap\"],"
    "  \"log_denied\": false, \"abis\": [], \"restrict_namespaces\": true,"
    "  \"address_families\": [\"unix\", \"inet\", \"inet6\", \"netlink\"]},"
    " \"capabilities\": {\"keep\": []},"
    " \"limits\": {\"nofile\": 1024, \"core\": 0},"
    " \"restart\": {\"on\": \"failure\", \"delay_ms\": 100, \"max_delay_ms\": 30000,"
    "  \"burst\": 5, \"interval_s\": 60},"
    " \"stop_timeout_s\": 10,"
    " \"env\": {\"PATH\": \"/usr/local/bin:/usr/bin:/bin\"},"
    " \"user_namespace\": true}";

/* ======================================================================
 * The load: set-up, order of the errors, tear-down
 * ====================================================================== */

static int loader_init(struct loader *L, const char *name)
{
	const char *slash = strrchr(name, '/');
	json_error_t e;

	if (!slash)
		L->profile_dir = strdup(".");
	else if (slash == name)
		L->profile_dir = strdup("/");
	else
		L->profile_dir = strndup(name, (size_t)(slash - name));
	L->pos = jsonpos_new();
	L->defaults = json_loads(policy_defaults, 0, &e);
	L->keep = json_array();
	if (!L->profile_dir || !L->pos || !L->defaults || !L->keep) {
		L->oom = true;
		return -1;
	}
	return 0;
}

static void loader_free(struct loader *L)
{
	while (L->docs) {
		struct doc *d = L->docs;
		L->docs = d->next;
		json_decref(d->root);
		free(d->file);
		free(d);
	}
	while (L->frags) {
		struct frag *f = L->frags;
		L->frags = f->next;
		free(f->name);
		free(f->path);
		free(f);
	}
	json_decref(L->keep);
	json_decref(L->defaults);
	jsonpos_free(L->pos);
	free(L->profile_dir);
}

struct diag_key {
	size_t rank, idx;
	const struct ward_diag_entry *e;
};

static int diag_key_cmp(const void *a, const void *b)
{
	const struct diag_key *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->e->line != y->e->line)
		return x->e->line < y->e->line ? -1 : 1;
	if (x->e->col != y->e->col)
		return x->e->col < y->e->col ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static bool diag_same(const struct ward_diag_entry *a, const struct ward_diag_entry *b)
{
	return a->line == b->line && a->col == b->col && strcmp(a->file, b->file) == 0 &&
	       strcmp(a->path, b->path) == 0 && strcmp(a->message, b->message) == 0;
}

static void diag_entry_free(struct ward_diag_entry *e)
{
	free(e->file);
	free(e->path);
	free(e->message);
}

/* This load's errors in reading order: the profile first, then each other
 * file in the order it first came up, by line and column; a message that a
 * shared fragment caused for several services is kept once. */
static void diag_order(struct loader *L)
{
	struct ward_diag *d = L->diag;
	size_t n = d->n - L->first, out = 0;

	if (n == 0)
		return;
	struct diag_key *k = calloc(n, sizeof(*k));
	struct ward_diag_entry *v = calloc(n, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return;
	}
	/* Few files take part in a load; remember each one's rank. */
	const char *files[64];
	size_t n_files = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ward_diag_entry *e = &d->v[L->first + i];
		size_t rank = 0;
		if (strcmp(e->file, L->profile) != 0) {
			while (rank < n_files && strcmp(files[rank], e->file) != 0)
				rank++;
			if (rank == n_files && n_files < 64)
				files[n_files++] = e->file;
			rank++;
		}
		k[i] = (struct diag_key){rank, i, e};
	}
	qsort(k, n, sizeof(*k), diag_key_cmp);
	for (size_t i = 0; i < n; i++) {
		struct ward_diag_entry e = *k[i].e;
		if (out > 0 && diag_same(&v[out - 1], &e))
			diag_entry_free(&e);
		else
			v[out++] = e;
	}
	memcpy(d->v + L->first, v, out * sizeof(*v));
	d->n = L->first + out;
	free(k);
	free(v);
}

int profile_load_buffer(const char *name, const char *data, size_t len,
			const struct profile_options *opts, struct ward_tenant **out,
			struct ward_diag *diag)
{
	struct ward_diag local = {0};
	struct loader L = {.diag = diag ? diag : &local, .profile = name, .opts = opts};
	struct ward_tenant *t = NULL;
	struct doc *d;

	L.first = L.diag->n;
	if (loader_init(&L, name) == 0 && (d = pl_doc_parse(&L, name, data, len)))
		t = tenant_read(&L, d);
	int r = (!t || pl_errors(&L) > 0) ? -1 : 0;
	if (L.oom)
		diag_add(L.diag, name, 0, 0, "", "out of memory");
	diag_order(&L);
	if (L.suppressed)
		diag_add(L.diag, name, 0, 0, "", "and %zu more errors not shown", L.suppressed);
	loader_free(&L);
	diag_free(&local);
	if (r < 0) {
		tenant_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int profile_load(const char *path, const struct profile_options *opts, struct ward_tenant **out,
		 struct ward_diag *diag)
{
	struct read_error err;
	size_t len;
	_cleanup_free_ char *data = pl_file_read(path, opts && opts->trusted, &len, &err);

	if (!data) {
		if (diag)
			diag_add(diag, path, 0, 0, "", "%s%s%s", READ_ERROR_ARGS(err));
		return -1;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): data is _cleanup_free_ */
	return profile_load_buffer(path, data, len, opts, out, diag);
}
