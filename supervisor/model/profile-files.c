/* Reading the profile's files and parsing them with positions; named
 * fragments, found by name in the policy directories, loaded and checked
 * once per profile. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include "build-config.h"
#include "basic/cleanup.h"
#include "basic/jsonpos.h"
#include "basic/text.h"
#include "basic/trusted.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ======================================================================
 * Reading files and documents
 * ====================================================================== */

/* A regular file of at most WARD_PROFILE_MAX_BYTES. Returns its bytes, or
 * NULL with *err saying why. trusted (the daemon's loads): the file must
 * also pass trusted.c's test (root's, not writable by group or others) and
 * not be a symlink, as the daemon requires of profiles: a fragment decides
 * a service's privileges as much as the profile naming it. */
char *pl_file_read(const char *path, bool trusted, size_t *len, struct read_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	char *buf;
	size_t got = 0;

	/* O_NONBLOCK: opening a FIFO must not hang the loader. The owner and
	 * mode are checked on the opened file (fstat), the one that is read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (trusted ? O_NOFOLLOW : 0));
	if (fd < 0 && errno == ELOOP && trusted) {
		*err = (struct read_error){"a symlink, not a regular file", 0};
		return NULL;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = (struct read_error){"cannot open", errno};
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = (struct read_error){"not a regular file", 0};
		return NULL;
	}
	if (trusted) {
		struct ward_err why = {0};

		if (trusted_stat_check(&st, &why) < 0) {
			*err = (struct read_error){.errnum = 0};
			(void)snprintf(err->what, sizeof(err->what), "%.200s", why.msg);
			return NULL;
		}
	}
	if (st.st_size > (off_t)WARD_PROFILE_MAX_BYTES) {
		*err = (struct read_error){"larger than 4194304 bytes", 0};
		return NULL;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		*err = (struct read_error){"cannot read", ENOMEM};
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = (struct read_error){"cannot read", errno};
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
	return buf;
}

/* Parses text as JSON and records the position of every value. */
struct doc *pl_doc_parse(struct loader *L, const char *file, const char *text, size_t len)
{
	json_error_t e;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	struct doc *d;

	if (!root) {
		text_clean(e.text); /* jansson quotes the input in its messages */
		if (diag_add(L->diag, file, e.line > 0 ? (unsigned)e.line : 0,
			     e.column > 0 ? (unsigned)e.column : 0, "", "%s", e.text) < 0)
			L->oom = true;
		return NULL;
	}
	if (!(d = pl_xcalloc(L, 1, sizeof(*d))) || !(d->file = pl_xstrdup(L, file))) {
		free(d);
		json_decref(root);
		return NULL;
	}
	d->root = root;
	d->next = L->docs;
	L->docs = d;
	if (!(d->at = jsonpos_scan(L->pos, d->file, text, len, root))) {
		/* EINVAL: the text and the tree disagree, which is a bug here. */
		if (errno == ENOMEM ||
		    diag_add(L->diag, file, 0, 0, "", "internal error: cannot locate values") < 0)
			L->oom = true;
		return NULL;
	}
	return d;
}

/* ======================================================================
 * Named fragments: found by name in the policy directories
 * ====================================================================== */

/* Tries dir/NAME.json: 1 found (f filled), 0 not there, -1 unreadable. */
static int frag_try(struct loader *L, struct frag *f, const char *dir)
{
	char path[PATH_MAX];
	struct read_error err;
	size_t len;
	int n = snprintf(path, sizeof(path), "%s/%s.json", dir, f->name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	_cleanup_free_ char *text = pl_file_read(path, L->opts && L->opts->trusted, &len, &err);
	if (!text) {
		if (err.errnum == ENOENT || err.errnum == ENOTDIR)
			return 0;
		f->path = pl_xstrdup(L, path);
		f->err = err;
		f->state = FRAG_UNREADABLE;
		return -1;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): text is _cleanup_free_ */
	f->doc = pl_doc_parse(L, path, text, len);
	f->state = f->doc && pl_fragment_check(L, f->doc->root, f->doc->at) ? FRAG_OK : FRAG_BROKEN;
	return 1;
}

/* Search order: the caller's directories, the `policies` directory beside
 * the profile's own, then the shipped ones; the first hit wins. */
static void frag_load(struct loader *L, struct frag *f)
{
	const struct profile_options *o = L->opts;
	char sibling[PATH_MAX];
	int n = snprintf(sibling, sizeof(sibling), "%s/../policies", L->profile_dir);

	f->state = FRAG_MISSING;
	for (size_t i = 0; o && i < o->n_policy_dirs; i++)
		if (o->policy_dirs[i] && frag_try(L, f, o->policy_dirs[i]) != 0)
			return;
	if (n > 0 && (size_t)n < sizeof(sibling) && frag_try(L, f, sibling) != 0)
		return;
	frag_try(L, f, WARD_POLICY_DIR);
}

/* The fragment `name`, loaded once; reports a failed lookup at `at`, the
 * place that names it. Returns its root when valid. */
json_t *pl_frag_get(struct loader *L, const char *name, const struct jsonpos_entry *at)
{
	struct frag *f;

	for (f = L->frags; f && strcmp(f->name, name) != 0; f = f->next)
		;
	if (!f) {
		if (!(f = pl_xcalloc(L, 1, sizeof(*f))) || !(f->name = pl_xstrdup(L, name))) {
			free(f);
			return NULL;
		}
		f->next = L->frags;
		L->frags = f;
		frag_load(L, f);
	}
	if (f->state == FRAG_MISSING)
		pl_report(L, at, "unknown policy fragment %s", Q(name));
	else if (f->state == FRAG_UNREADABLE)
		pl_report(L, at, "cannot read policy fragment %s: %s: %s%s%s", Q(name),
			  f->path ? f->path : "", READ_ERROR_ARGS(f->err));
	return f->state == FRAG_OK ? f->doc->root : NULL;
}
