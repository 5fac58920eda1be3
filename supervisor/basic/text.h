/* Text from outside (clients, tenants, files, the system) on its way to a
 * person or a log: UTF-8 one character at a time, the characters a
 * terminal acts on rather than shows, and the ways of making such text
 * harmless: quoted and escaped for a message, control bytes replaced, or
 * every terminal control shown as an escape. The one home of these
 * helpers, so every program and daemon part draws the same lines.
 *
 * Nothing here allocates or fails: output goes into the caller's buffer
 * (its size stated by each function) or a stdio stream. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- UTF-8 ---- */

/* The length (1 to 4) of the valid UTF-8 sequence at s, n (>= 1) bytes
 * left, with its code point in *cp; 0 when the byte at s starts none
 * (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF, no
 * sequence cut by the end). */
size_t text_utf8_next(const char *s, size_t n, uint32_t *cp);

/* Whether the n (1 to 3) bytes at s can begin a UTF-8 character that
 * bytes still to come complete: for a stream read in pieces. */
bool text_utf8_incomplete(const char *s, size_t n);

/* The length of the first max bytes of s (len bytes) without a character
 * cut in two: len when len <= max, else max backed off past continuation
 * bytes. For text shortened for a message or a record that ends up in
 * JSON. */
size_t text_utf8_cut(const char *s, size_t len, size_t max);

/* The len bytes of s with every byte that starts no valid UTF-8 sequence
 * replaced by U+FFFD, into out (room for 3 * len bytes). Returns the bytes
 * written. */
size_t text_utf8_lossy(const char *s, size_t len, char *out);

/* ---- control characters ---- */

/* Whether a terminal acts on the code point rather than shows it: C0
 * (also newline and tab: callers that keep those say so), DEL, C1 (CSI
 * and OSC as single code points), line and paragraph separators, and the
 * bidi controls and the BOM (which reorder or hide what a line appears to
 * say). */
bool text_control_char(uint32_t cp);

/* Whether any of the len bytes at s is a C0 control byte or DEL. */
bool text_has_control(const char *s, size_t len);

/* In place: every C0 control byte and DEL becomes '?'. UTF-8 is kept (for
 * jansson's messages, which quote input, and text kept for logs). */
void text_clean(char *s);

/* s (NULL reads as "") copied into dst (size >= 1 bytes), cut to size - 1
 * bytes, with every C0 control byte and DEL as '?'. Returns dst. */
char *text_clean_copy(char *dst, size_t size, const char *s);

/* Writes s to out with every C0 control byte and DEL as '?': a message
 * from wardd may hold anything, no control byte reaches the terminal. */
void text_print_clean(FILE *out, const char *s);

/* Writes the len bytes of s to out with every terminal control but
 * newline and tab shown as text: a byte as \xNN (also any byte that
 * starts no valid UTF-8 sequence), a control code point as \uNNNN, and a
 * backslash as \\, so nothing written looks like an escape made here.
 * For a tenant's output on an operator's terminal. Returns 0, or -1 when
 * out failed. */
int text_write_escaped(FILE *out, const char *s, size_t len);

/* ---- for messages ---- */

/* Text from a client or a file, for a message: "value" in double quotes,
 * every byte but printable ASCII (and '"', '\\') as \xNN, cut with "..."
 * after max input bytes or when buf (size >= 8) is full. A message built
 * from it stays ASCII whatever was sent: no control sequences reach an
 * operator's terminal. Returns buf. */
const char *ward_quote(const char *s, size_t len, size_t max, char *buf, size_t size);

/* How text_quote_value() shows what it escapes. */
enum text_quote_style {
	TEXT_QUOTE_JSON,  /* C0 and DEL as \u00XX, UTF-8 kept: as in a JSON string */
	TEXT_QUOTE_ASCII, /* C0, DEL and every byte >= 0x80 as \xNN: ASCII only */
};

/* A name or value from a file (a profile, a settings file, a key in a JSON
 * path), for a message about it: in double quotes, '"' and '\\' escaped by
 * a backslash so where the name ends is never in doubt, the bytes a
 * terminal acts on escaped as style says, so a file cannot write control
 * sequences to an operator's terminal. Cut with "..." once fewer than 16
 * bytes of buf (size >= 24) are left, never inside a kept UTF-8
 * character. Returns buf. */
const char *text_quote_value(const char *s, enum text_quote_style style, char *buf, size_t size);

/* The same done in place to a NUL-terminated string: anything but
 * printable ASCII becomes '?' (for jansson's messages, which quote input). */
void ward_ascii_clean(char *s);

/* ---- JSON ---- */

/* The body of a JSON string (no quotes) for len bytes of any kind, as
 * json_dumps would write text_utf8_lossy's output (but for the case of
 * the hex digits): invalid UTF-8 becomes U+FFFD, '"', '\\' and C0
 * control bytes are escaped. out has room for 6 * len bytes. Unless final, a character cut
 * at the end is left: *used says how many bytes were taken. Returns the
 * bytes written. */
size_t text_json_escape_lossy(const char *in, size_t len, bool final, char *out, size_t *used);
