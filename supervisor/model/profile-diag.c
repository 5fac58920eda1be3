/* Diagnostics of a profile load: the list of errors with file, line:column
 * and JSON path, and how it is printed. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Diagnostics
 * ====================================================================== */

void diag_free(struct ward_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].path);
		free(d->v[i].message);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

int pl_diag_addv(struct ward_diag *d, const char *file, unsigned line, unsigned col,
		 const char *path, const char *fmt, va_list ap)
{
	struct ward_diag_entry e = {.line = line, .col = col};

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct ward_diag_entry *v = reallocarray(d->v, cap, sizeof(*v));
		if (!v)
			return -1;
		d->v = v;
		d->cap = cap;
	}
	if (vasprintf(&e.message, fmt, ap) < 0)
		return -1;
	e.file = strdup(file ? file : "");
	e.path = strdup(path ? path : "");
	if (!e.file || !e.path) {
		free(e.file);
		free(e.path);
		free(e.message);
		return -1;
	}
	d->v[d->n++] = e;
	return 0;
}

int diag_add(struct ward_diag *d, const char *file, unsigned line, unsigned col, const char *path,
	     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pl_diag_addv(d, file, line, col, path, fmt, ap);
	va_end(ap);
	return r;
}

void diag_print(const struct ward_diag *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag_entry *e = &d->v[i];
		fputs(e->file, out);
		if (e->line)
			fprintf(out, ":%u:%u", e->line, e->col);
		fputs(": ", out);
		/* The document itself has no path: "file:1:1: message". */
		if (e->path[0])
			fprintf(out, "%s: ", e->path);
		fprintf(out, "%s\n", e->message);
	}
}
