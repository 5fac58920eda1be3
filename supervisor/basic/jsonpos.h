/* Where each value of a parsed JSON document was written (file, line:column,
 * JSON path), which jansson does not keep: a side table filled by scanning the
 * text again in lockstep with the tree. Used only by profile.c. */
#pragma once

#include <jansson.h>
#include <stddef.h>

struct jsonpos;       /* the table */
struct jsonpos_entry; /* one value's position: a slot (container, key or index) */

struct jsonpos_where {
	const char *file;
	unsigned line, col; /* 1-based, characters as jansson counts them */
	unsigned seq;       /* for merged values: the merge step that wrote them; 0 otherwise */
};

struct jsonpos *jsonpos_new(void);
void jsonpos_free(struct jsonpos *t);

/* Records the position of every value of `root`, which jansson parsed from
 * `text` without error. `file` must outlive the table. Returns the entry of
 * the root value, or NULL with errno set (ENOMEM, or EINVAL when the text
 * and the tree disagree). Keyed by (container, key or index), never by
 * value: jansson shares one true, false and null between documents. */
const struct jsonpos_entry *jsonpos_scan(struct jsonpos *t, const char *file, const char *text,
					 size_t len, json_t *root);

/* The entry of obj[key] or arr[idx]; NULL when nothing was recorded (a
 * built-in value). */
const struct jsonpos_entry *jsonpos_key(const struct jsonpos *t, const json_t *obj,
					const char *key);
const struct jsonpos_entry *jsonpos_index(const struct jsonpos *t, const json_t *arr, size_t idx);

/* Records that obj[key], a value placed there by a merge, was written where
 * `origin` says (origin may itself be a merged entry; NULL records nothing).
 * `key` must stay valid as long as the table (a key of a scanned document,
 * or an entry's own key). Returns 0, or -1 with errno ENOMEM. */
int jsonpos_alias(struct jsonpos *t, const json_t *obj, const char *key,
		  const struct jsonpos_entry *origin, unsigned seq);

/* The key an entry was recorded under (NULL for array items and roots). */
const char *jsonpos_entry_key(const struct jsonpos_entry *e);
void jsonpos_locate(const struct jsonpos_entry *e, struct jsonpos_where *out);
/* The path of the value from the root of the document it was written in:
 * `services.db.seccomp.allow[3]`, `env["MY.VAR"]`, "" for the root.
 * Returns a malloc'd string, or NULL with errno ENOMEM. */
char *jsonpos_path(const struct jsonpos *t, const struct jsonpos_entry *e);

/* "object", "array", "string", "integer", "number", "boolean", "null": for
 * messages saying what was expected and what was found. */
const char *jsonpos_type_name(const json_t *v);
