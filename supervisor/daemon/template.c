/* Templates: TEMPLATES_DIR/NAME.json, a profile without what onboarding
 * sets (see onboard.h), with "{tenant}" in its string values replaced by
 * the tenant's name, made into the tenant's profile and loaded as the
 * supervisor will load it, so that its errors are the template's and are
 * reported before anything is allocated. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/cleanup.h"
#include "basic/trusted.h"
#include "daemon/onboard-internal.h"

#define PLACEHOLDER "{tenant}"

/* Every "{tenant}" in s replaced by name; NULL if out of memory. */
static char *placeholder_fill(const char *s, size_t len, const char *name, size_t *out_len)
{
	size_t pl = strlen(PLACEHOLDER), nl = strlen(name), n = 0, o = 0;
	char *out;

	for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), PLACEHOLDER, pl)); p += pl)
		n++;
	if (len > SIZE_MAX / 4) /* names are at most 24 bytes, the placeholder 8 */
		return NULL;
	out = malloc(len + n * nl + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		if (len - i >= pl && memcmp(s + i, PLACEHOLDER, pl) == 0) {
			memcpy(out + o, name, nl);
			o += nl;
			i += pl;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* Fills the placeholder in every string value (not in keys: those are
 * service names and settings). */
/* NOLINTNEXTLINE(misc-no-recursion): as deep as jansson parses (2048) */
static int placeholders_fill(json_t *v, const char *name)
{
	const char *k;
	json_t *m;
	size_t i;

	if (json_is_string(v)) {
		size_t n = 0;
		char *s = placeholder_fill(json_string_value(v), json_string_length(v), name, &n);
		int r = s ? json_string_setn(v, s, n) : -1;

		free(s);
		if (r < 0)
			return -1;
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, m)
		{
			if (placeholders_fill(m, name) < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			if (placeholders_fill(m, name) < 0)
				return -1;
		}
	}
	return 0;
}

/* What a template must leave to onboarding. */
static int template_check(const char *path, json_t *root, struct ward_err *err)
{
	static const char *const owned[] = {"tenant", "ids", NULL};
	json_t *net = json_object_get(root, "network");

	if (!json_is_object(root))
		return ward_err_set(err, 0, "%s: a template must be a JSON object", path);
	for (size_t i = 0; owned[i]; i++)
		if (json_object_get(root, owned[i]))
			return ward_err_set(err, 0,
					    "%s: %s: a template must not set it: onboarding does",
					    path, owned[i]);
	if (json_object_get(net, "subnet"))
		return ward_err_set(err, 0,
				    "%s: network.subnet: a template must not set it: onboarding "
				    "allocates one from the pool",
				    path);
	if (json_object_get(net, "ingress"))
		return ward_err_set(err, 0,
				    "%s: network.ingress: a template must not forward host ports: "
				    "every tenant made from it would claim the same ones; add them "
				    "to the tenant's profile after onboarding",
				    path);
	return 0;
}

json_t *template_load(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	const char *dir = ob->cfg->templates_dir;
	char file[WARD_NAME_MAX + sizeof(PROFILE_SUFFIX)];
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	json_error_t je;
	size_t len;

	if (dfd < 0)
		return ward_err_set(err, errno, "templates directory %s", dir), NULL;
	if (ob_path_join(j->tmpl_path, sizeof(j->tmpl_path), dir, j->tmpl, PROFILE_SUFFIX) < 0 ||
	    snprintf(file, sizeof(file), "%s%s", j->tmpl, PROFILE_SUFFIX) >= (int)sizeof(file))
		return ward_err_set(err, ENAMETOOLONG, "template %s", j->tmpl), NULL;
	char *text =
	    trusted_file_read(dfd, file, j->tmpl_path, true, WARD_PROFILE_MAX_BYTES, &len, err);
	if (!text) {
		if (err->errnum == ENOENT)
			ward_err_set(err, 0, "no template \"%s\" in %s", j->tmpl, dir);
		return NULL;
	}
	_cleanup_(json_decrefp) json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!root) {
		ob_sanitize(je.text);
		return ward_err_set(err, 0, "%s:%d:%d: %s", j->tmpl_path, je.line, je.column,
				    je.text),
		       NULL;
	}
	if (template_check(j->tmpl_path, root, err) < 0)
		return NULL;
	if (placeholders_fill(root, j->name) < 0)
		return ward_err_set(err, ENOMEM, "%s", j->tmpl_path), NULL;
	return TAKE_PTR(root);
}

/* The profile: tenant, display name, ids and subnet first (the keys an
 * operator looks for), then the template's keys in its order. */
static json_t *profile_doc(struct onboard_job *j, json_t *tmpl, bool with_ids)
{
	json_t *doc = json_object(), *v;
	const char *k;
	int r = 0;

	if (!doc)
		return NULL;
	r |= json_object_set_new(doc, "tenant", json_string(j->name));
	if (j->display_name)
		r |= json_object_set_new(doc, "display_name", json_string(j->display_name));
	else if ((v = json_object_get(tmpl, "display_name")))
		r |= json_object_set(doc, "display_name", v);
	if (with_ids)
		r |= json_object_set_new(doc, "ids",
					 json_pack("{s:I, s:I}", "uid", (json_int_t)j->ids.uid,
						   "count", (json_int_t)j->ids.count));
	json_object_foreach(tmpl, k, v)
	{
		if (strcmp(k, "display_name") == 0)
			continue;
		if (strcmp(k, "network") == 0 && j->has_net && json_is_object(v)) {
			char s[20];
			json_t *net = json_object();

			ob_cidr_string(&j->subnet, s);
			r |= json_object_set_new(net, "subnet", json_string(s));
			r |= json_object_update(net, v);
			r |= json_object_set_new(doc, k, net);
			continue;
		}
		r |= json_object_set(doc, k, v);
	}
	if (r) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* "text of the profile\n", as it will be written. */
static char *doc_text(json_t *doc, size_t *len)
{
	char *s = json_dumps(doc, JSON_INDENT(2));
	size_t n;
	char *p;

	if (!s)
		return NULL;
	n = strlen(s);
	p = realloc(s, n + 2);
	if (!p) {
		free(s);
		return NULL;
	}
	p[n] = '\n';
	p[n + 1] = '\0';
	*len = n + 1;
	return p;
}

/* Loads the profile as the supervisor will (same name, so the same policy
 * directories); errors in it are the template's. */
static int profile_validate(struct onboarding *ob, struct onboard_job *j, const char *text,
			    size_t len, struct ward_tenant **out, struct ward_err *err)
{
	struct profile_options popts = {.policy_dirs = (const char *const *)ob->cfg->policy_dirs,
					.n_policy_dirs = ob->cfg->n_policy_dirs,
					.trusted = true};
	struct ward_diag diag = {0};
	char msg[sizeof(err->msg)];
	size_t o;

	if (profile_load_buffer(j->profile_path, text, len, &popts, out, &diag) == 0) {
		diag_free(&diag);
		return 0;
	}
	o = (size_t)snprintf(msg, sizeof(msg), "template \"%s\" (%s) has errors:", j->tmpl,
			     j->tmpl_path);
	for (size_t i = 0; i < diag.n && o < sizeof(msg); i++) {
		const struct ward_diag_entry *e = &diag.v[i];
		int n;

		if (strcmp(e->file, j->profile_path) == 0) /* positions of a generated text */
			n = snprintf(msg + o, sizeof(msg) - o, " %s%s%s%s", e->path,
				     e->path[0] ? ": " : "", e->message, i + 1 < diag.n ? ";" : "");
		else
			n = snprintf(msg + o, sizeof(msg) - o, " %s:%u:%u: %s%s%s%s", e->file,
				     e->line, e->col, e->path, e->path[0] ? ": " : "", e->message,
				     i + 1 < diag.n ? ";" : "");
		if (n < 0)
			break;
		o += (size_t)n;
	}
	diag_free(&diag);
	return ward_err_set(err, 0, "%s", msg);
}

/* The profile's text (the template and what the job holds), loaded as the
 * supervisor will load it; *t gets the result. NULL with err otherwise. */
char *template_profile_make(struct onboarding *ob, struct onboard_job *j, json_t *tmpl,
			    bool with_ids, size_t *len, struct ward_tenant **t,
			    struct ward_err *err)
{
	json_t *doc = profile_doc(j, tmpl, with_ids);
	char *text = doc ? doc_text(doc, len) : NULL;

	json_decref(doc);
	if (!text)
		return ward_err_set(err, ENOMEM, "profile"), NULL;
	if (profile_validate(ob, j, text, *len, t, err) < 0) {
		free(text);
		return NULL;
	}
	return text;
}
