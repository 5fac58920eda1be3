/* Positions of JSON values: re-scans the text jansson parsed, in lockstep with
 * its tree, and keeps a side table (container, key or index) -> line:column. */
#include "basic/jsonpos.h"
#include "basic/text.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jsonpos_entry {
	const void *in;  /* the container the value sits in; NULL for a root */
	const char *key; /* member key; NULL for array items and roots */
	size_t idx;
	const struct jsonpos_entry *origin; /* merged values: the entry where written */
	const char *file;
	unsigned line, col, seq;
};

#define CHUNK_ENTRIES 1024
struct chunk {
	struct chunk *next;
	size_t used;
	struct jsonpos_entry e[CHUNK_ENTRIES];
};

/* (container, key or index) -> entry */
struct member_map {
	struct jsonpos_entry **slot;
	size_t cap, n;
};

/* container -> the entry of the slot it sits in, to walk up for paths */
struct self_slot {
	const void *container;
	const struct jsonpos_entry *e;
};
struct self_map {
	struct self_slot *slot;
	size_t cap, n;
};

struct jsonpos {
	struct chunk *chunks;
	struct member_map members;
	struct self_map selves;
};

struct jsonpos *jsonpos_new(void)
{
	return calloc(1, sizeof(struct jsonpos));
}

void jsonpos_free(struct jsonpos *t)
{
	if (!t)
		return;
	while (t->chunks) {
		struct chunk *next = t->chunks->next;
		free(t->chunks);
		t->chunks = next;
	}
	free(t->members.slot);
	free(t->selves.slot);
	free(t);
}

static struct jsonpos_entry *entry_new(struct jsonpos *t)
{
	if (!t->chunks || t->chunks->used == CHUNK_ENTRIES) {
		struct chunk *c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->next = t->chunks;
		c->used = 0;
		t->chunks = c;
	}
	struct jsonpos_entry *e = &t->chunks->e[t->chunks->used++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* ---- hashing ---- */

static size_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static size_t hash_ptr(const void *p)
{
	return hash_u64((uint64_t)(uintptr_t)p);
}

static size_t hash_slot(const void *in, const char *key, size_t idx)
{
	size_t h = hash_ptr(in);
	if (!key)
		return h ^ hash_u64((uint64_t)(idx + 1));
	for (const unsigned char *k = (const unsigned char *)key; *k; k++)
		h = (h ^ *k) * 0x100000001b3ULL;
	return h;
}

static bool slot_matches(const struct jsonpos_entry *e, const void *in, const char *key, size_t idx)
{
	if (e->in != in)
		return false;
	if (!key)
		return !e->key && e->idx == idx;
	return e->key && strcmp(e->key, key) == 0;
}

static struct jsonpos_entry **member_find(const struct member_map *m, const void *in,
					  const char *key, size_t idx)
{
	if (!m->cap)
		return NULL;
	size_t i = hash_slot(in, key, idx) & (m->cap - 1);
	while (m->slot[i] && !slot_matches(m->slot[i], in, key, idx))
		i = (i + 1) & (m->cap - 1);
	return &m->slot[i];
}

static int member_grow(struct member_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	struct member_map bigger = {calloc(cap, sizeof(*bigger.slot)), cap, m->n};
	if (!bigger.slot)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		const struct jsonpos_entry *e = m->slot[i];
		if (e)
			*member_find(&bigger, e->in, e->key, e->idx) = m->slot[i];
	}
	free(m->slot);
	*m = bigger;
	return 0;
}

/* Inserts e, or returns the entry already recorded for its slot. */
static struct jsonpos_entry *member_put(struct member_map *m, struct jsonpos_entry *e)
{
	if ((m->n + 1) * 2 > m->cap && member_grow(m) < 0)
		return NULL;
	struct jsonpos_entry **s = member_find(m, e->in, e->key, e->idx);
	if (!*s) {
		*s = e;
		m->n++;
	}
	return *s;
}

static struct self_slot *self_find(const struct self_map *m, const void *container)
{
	if (!m->cap)
		return NULL;
	size_t i = hash_ptr(container) & (m->cap - 1);
	while (m->slot[i].container && m->slot[i].container != container)
		i = (i + 1) & (m->cap - 1);
	return &m->slot[i];
}

static int self_put(struct self_map *m, const void *container, const struct jsonpos_entry *e)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct self_map bigger = {calloc(cap, sizeof(*bigger.slot)), cap, m->n};
		if (!bigger.slot)
			return -1;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i].container)
				*self_find(&bigger, m->slot[i].container) = m->slot[i];
		free(m->slot);
		*m = bigger;
	}
	struct self_slot *s = self_find(m, container);
	if (!s->container)
		m->n++;
	s->container = container;
	s->e = e;
	return 0;
}

/* ---- lookups ---- */

const struct jsonpos_entry *jsonpos_key(const struct jsonpos *t, const json_t *obj, const char *key)
{
	struct jsonpos_entry **s = member_find(&t->members, obj, key, 0);
	return s ? *s : NULL;
}

const struct jsonpos_entry *jsonpos_index(const struct jsonpos *t, const json_t *arr, size_t idx)
{
	struct jsonpos_entry **s = member_find(&t->members, arr, NULL, idx);
	return s ? *s : NULL;
}

const char *jsonpos_entry_key(const struct jsonpos_entry *e)
{
	return e ? e->key : NULL;
}

int jsonpos_alias(struct jsonpos *t, const json_t *obj, const char *key,
		  const struct jsonpos_entry *origin, unsigned seq)
{
	if (!origin)
		return 0;
	/* Always point at the written value, so paths are walked in its document. */
	if (origin->origin)
		origin = origin->origin;
	/* A later merge step overrides the same key: the newest writer wins. */
	struct jsonpos_entry **s = member_find(&t->members, obj, key, 0);
	struct jsonpos_entry *got = s ? *s : NULL;
	if (!got) {
		got = entry_new(t);
		if (!got) {
			errno = ENOMEM;
			return -1;
		}
		got->in = obj;
		got->key = key;
		if (member_put(&t->members, got) != got) {
			errno = ENOMEM;
			return -1;
		}
	}
	got->origin = origin;
	got->file = origin->file;
	got->line = origin->line;
	got->col = origin->col;
	got->seq = seq;
	return 0;
}

void jsonpos_locate(const struct jsonpos_entry *e, struct jsonpos_where *out)
{
	out->file = e->file;
	out->line = e->line;
	out->col = e->col;
	out->seq = e->seq;
}

/* ---- the scanner ---- */

struct scan {
	struct jsonpos *t;
	const char *file;
	const unsigned char *p, *end;
	unsigned line, col;
	char *key; /* the current member key, unescaped */
	size_t key_cap;
	int err;
};

/* Columns count characters, as jansson's do: UTF-8 continuation bytes don't. */
static void advance(struct scan *s)
{
	unsigned char c = *s->p++;
	if (c == '\n') {
		s->line++;
		s->col = 1;
	} else if ((c & 0xC0) != 0x80) {
		s->col++;
	}
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		advance(s);
}

static bool expect(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p >= s->end || *s->p != (unsigned char)c)
		return false;
	advance(s);
	return true;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
	*out = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		unsigned v = c >= '0' && c <= '9'   ? c - '0'
			     : c >= 'a' && c <= 'f' ? c - 'a' + 10
			     : c >= 'A' && c <= 'F' ? c - 'A' + 10
						    : 16;
		if (v == 16)
			return -1;
		*out = *out * 16 + v;
	}
	return 0;
}

static size_t utf8_encode(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes \uXXXX (a surrogate pair counts as one) at s->p, which points past
 * the 'u'; the text was validated by jansson. */
static int scan_unicode(struct scan *s, char *out, size_t *n)
{
	unsigned cp, lo;
	if (hex4(s->p, s->end, &cp) < 0)
		return -1;
	for (int i = 0; i < 4; i++)
		advance(s);
	if (cp >= 0xD800 && cp <= 0xDBFF && s->end - s->p >= 6 && s->p[0] == '\\' &&
	    s->p[1] == 'u' && hex4(s->p + 2, s->end, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
		for (int i = 0; i < 6; i++)
			advance(s);
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	*n = utf8_encode(cp, out);
	return 0;
}

static char unescape_simple(unsigned char c)
{
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return (char)c; /* " \ / */
	}
}

/* Reads a string at s->p into s->key (unescaped, NUL-terminated). */
static int scan_key(struct scan *s)
{
	if (!expect(s, '"'))
		return -1;
	size_t n = 0;
	for (;;) {
		if (s->p >= s->end)
			return -1;
		/* Unescaped text is never longer than escaped: 4 bytes cover either. */
		if (n + 5 > s->key_cap) {
			size_t cap = s->key_cap ? s->key_cap * 2 : 64;
			char *k = realloc(s->key, cap);
			if (!k) {
				s->err = ENOMEM;
				return -1;
			}
			s->key = k;
			s->key_cap = cap;
		}
		unsigned char c = *s->p;
		advance(s);
		if (c == '"')
			break;
		if (c != '\\') {
			s->key[n++] = (char)c;
			continue;
		}
		if (s->p >= s->end)
			return -1;
		c = *s->p;
		advance(s);
		if (c == 'u') {
			size_t len;
			if (scan_unicode(s, s->key + n, &len) < 0)
				return -1;
			n += len;
		} else {
			s->key[n++] = unescape_simple(c);
		}
	}
	s->key[n] = '\0';
	return 0;
}

static void skip_string(struct scan *s)
{
	advance(s); /* the opening quote */
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\')
			advance(s);
		if (s->p < s->end)
			advance(s);
	}
	if (s->p < s->end)
		advance(s);
}

static void skip_scalar(struct scan *s)
{
	while (s->p < s->end && !strchr(",]} \t\r\n", *s->p))
		advance(s);
}

/* scan_value, scan_object, scan_array and scan_child recurse as deep as the
 * tree jansson parsed, and jansson stops parsing at depth 2048: a few hundred
 * KiB of stack at most. */
static int scan_value(struct scan *s, json_t *v, struct jsonpos_entry *at);

static struct jsonpos_entry *slot_new(struct scan *s, const void *in, const char *key, size_t idx)
{
	struct jsonpos_entry *e = entry_new(s->t);
	if (!e) {
		s->err = ENOMEM;
		return NULL;
	}
	e->in = in;
	e->key = key;
	e->idx = idx;
	e->file = s->file;
	struct jsonpos_entry *got = member_put(&s->t->members, e);
	if (got != e) {
		/* A slot seen twice means the text and the tree disagree (EINVAL). */
		if (!got)
			s->err = ENOMEM;
		return NULL;
	}
	return e;
}

/* NOLINTNEXTLINE(misc-no-recursion): as deep as jansson's tree, which it caps at 2048 */
static int scan_child(struct scan *s, json_t *child, struct jsonpos_entry *e)
{
	if (!e)
		return -1;
	if ((json_is_object(child) || json_is_array(child)) &&
	    self_put(&s->t->selves, child, e) < 0) {
		s->err = ENOMEM;
		return -1;
	}
	return scan_value(s, child, e);
}

/* NOLINTNEXTLINE(misc-no-recursion): as deep as jansson's tree, which it caps at 2048 */
static int scan_object(struct scan *s, json_t *obj)
{
	advance(s); /* { */
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		advance(s);
		return json_object_size(obj) == 0 ? 0 : -1;
	}
	size_t members = 0;
	do {
		if (scan_key(s) < 0 || !expect(s, ':'))
			return -1;
		/* The key as the object stores it outlives this scan; s->key does not. */
		void *it = json_object_iter_at(obj, s->key);
		if (!it)
			return -1;
		const char *key = json_object_iter_key(it);
		if (scan_child(s, json_object_iter_value(it), slot_new(s, obj, key, 0)) < 0)
			return -1;
		members++;
	} while (expect(s, ','));
	return expect(s, '}') && members == json_object_size(obj) ? 0 : -1;
}

/* NOLINTNEXTLINE(misc-no-recursion): as deep as jansson's tree, which it caps at 2048 */
static int scan_array(struct scan *s, json_t *arr)
{
	advance(s); /* [ */
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		advance(s);
		return json_array_size(arr) == 0 ? 0 : -1;
	}
	size_t i = 0;
	do {
		json_t *child = json_array_get(arr, i);
		if (!child || scan_child(s, child, slot_new(s, arr, NULL, i)) < 0)
			return -1;
		i++;
	} while (expect(s, ','));
	return expect(s, ']') && i == json_array_size(arr) ? 0 : -1;
}

/* NOLINTNEXTLINE(misc-no-recursion): as deep as jansson's tree, which it caps at 2048 */
static int scan_value(struct scan *s, json_t *v, struct jsonpos_entry *at)
{
	skip_ws(s);
	if (s->p >= s->end)
		return -1;
	at->line = s->line;
	at->col = s->col;
	switch (*s->p) {
	case '{':
		return json_is_object(v) ? scan_object(s, v) : -1;
	case '[':
		return json_is_array(v) ? scan_array(s, v) : -1;
	case '"':
		if (!json_is_string(v))
			return -1;
		skip_string(s);
		return 0;
	default:
		skip_scalar(s);
		return 0;
	}
}

const struct jsonpos_entry *jsonpos_scan(struct jsonpos *t, const char *file, const char *text,
					 size_t len, json_t *root)
{
	struct scan s = {
	    .t = t,
	    .file = file,
	    .p = (const unsigned char *)text,
	    .end = (const unsigned char *)text + len,
	    .line = 1,
	    .col = 1,
	};
	struct jsonpos_entry *e = entry_new(t);
	int r = -1;

	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	e->file = file;
	if (self_put(&t->selves, root, e) < 0)
		s.err = ENOMEM;
	else
		r = scan_value(&s, root, e);
	free(s.key);
	if (r < 0) {
		errno = s.err ? s.err : EINVAL;
		return NULL;
	}
	return e;
}

/* ---- paths ---- */

struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static bool key_is_plain(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_' || *k == '-'))
			return false;
	return true;
}

/* Keys in a path are cut like values in a message: a 60000-byte key in
 * every one of thousands of messages was gigabytes. */
#define KEY_SHOWN_MAX 64

/* ["key"] with the key escaped as a JSON string, so a path is never ambiguous
 * and never carries control characters to a terminal. Keys come here no
 * longer than KEY_SHOWN_MAX bytes, which the buffer takes escaped whole. */
static void buf_quoted_key(struct buf *b, const char *k)
{
	char q[KEY_SHOWN_MAX * 6 + 24];

	buf_str(b, "[");
	buf_str(b, text_quote_value(k, TEXT_QUOTE_JSON, q, sizeof(q)));
	buf_str(b, "]");
}

static void buf_segment(struct buf *b, const struct jsonpos_entry *e, bool first)
{
	if (e->key && strnlen(e->key, KEY_SHOWN_MAX + 1) > KEY_SHOWN_MAX) {
		char cut[KEY_SHOWN_MAX + 4];
		/* Never inside a UTF-8 character: messages end up in JSON. */
		size_t n = text_utf8_cut(e->key, KEY_SHOWN_MAX + 1, KEY_SHOWN_MAX - 3);

		memcpy(cut, e->key, n);
		memcpy(cut + n, "...", 4);
		buf_quoted_key(b, cut);
		return;
	}
	if (!e->key) {
		char idx[32];
		int n = snprintf(idx, sizeof(idx), "[%zu]", e->idx);
		if (n > 0 && (size_t)n < sizeof(idx))
			buf_add(b, idx, (size_t)n);
		return;
	}
	if (!key_is_plain(e->key)) {
		buf_quoted_key(b, e->key);
		return;
	}
	if (!first)
		buf_str(b, ".");
	buf_str(b, e->key);
}

char *jsonpos_path(const struct jsonpos *t, const struct jsonpos_entry *e)
{
	const struct jsonpos_entry **chain = NULL;
	size_t n = 0, cap = 0;
	struct buf b = {0};

	if (e && e->origin)
		e = e->origin;
	/* Walk up to the root, then print top down. */
	for (; e && e->in; n++) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			const struct jsonpos_entry **c = realloc(chain, cap * sizeof(*c));
			if (!c) {
				free(chain);
				errno = ENOMEM;
				return NULL;
			}
			chain = c;
		}
		chain[n] = e;
		const struct self_slot *up = self_find(&t->selves, e->in);
		e = up && up->container ? up->e : NULL;
	}
	buf_str(&b, "");
	for (size_t i = n; i-- > 0;)
		buf_segment(&b, chain[i], i == n - 1);
	free(chain);
	if (b.oom) {
		free(b.s);
		errno = ENOMEM;
		return NULL;
	}
	return b.s;
}

const char *jsonpos_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}
