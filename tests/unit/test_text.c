/* Unit tests of text.c: UTF-8 decoding (valid, overlong, surrogates, too
 * high, cut short), cutting and repairing UTF-8, the terminal controls,
 * cleaning control bytes, escaping for a terminal, quoting for messages,
 * and JSON escaping of any bytes (also in pieces of a stream). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "basic/text.h"

/* ---- UTF-8 ---- */

static void test_utf8_next_valid(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		uint32_t cp;
	} cases[] = {
	    {"A", 1, 'A'},
	    {"\x7f", 1, 0x7f},
	    {"\xc2\x80", 2, 0x80},
	    {"\xc3\xa9", 2, 0xe9},
	    {"\xdf\xbf", 2, 0x7ff},
	    {"\xe0\xa0\x80", 3, 0x800},
	    {"\xe2\x80\xae", 3, 0x202e},
	    {"\xed\x9f\xbf", 3, 0xd7ff},
	    {"\xee\x80\x80", 3, 0xe000},
	    {"\xef\xbf\xbd", 3, 0xfffd},
	    {"\xf0\x90\x80\x80", 4, 0x10000},
	    {"\xf0\x9f\x98\x80", 4, 0x1f600},
	    {"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0;

		assert_int_equal(text_utf8_next(cases[i].s, strlen(cases[i].s), &cp), cases[i].len);
		assert_int_equal(cp, cases[i].cp);
	}
	/* NUL is a character too, and only the first one is read. */
	{
		uint32_t cp = 1;

		assert_int_equal(text_utf8_next("\0x", 2, &cp), 1);
		assert_int_equal(cp, 0);
		assert_int_equal(text_utf8_next("ab", 2, &cp), 1);
		assert_int_equal(cp, 'a');
	}
}

static void test_utf8_next_invalid(void **state)
{
	static const char *const bad[] = {
	    "\x80",             /* a continuation byte alone */
	    "\xbf",             /* the same */
	    "\xc0\x80",         /* overlong NUL */
	    "\xc1\xbf",         /* overlong */
	    "\xe0\x80\x80",     /* overlong */
	    "\xe0\x9f\xbf",     /* overlong */
	    "\xf0\x80\x80\x80", /* overlong */
	    "\xf0\x8f\xbf\xbf", /* overlong */
	    "\xed\xa0\x80",     /* surrogate U+D800 */
	    "\xed\xbf\xbf",     /* surrogate U+DFFF */
	    "\xf4\x90\x80\x80", /* U+110000 */
	    "\xf5\x80\x80\x80", /* no such lead byte */
	    "\xf8\x88\x80\x80", /* five bytes, once */
	    "\xfe",
	    "\xff",
	    "\xc3!",         /* a lead byte, then no continuation */
	    "\xe2\x80!",     /* the same, later */
	    "\xf0\x9f\x98!", /* the same, last */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t cp;

		assert_int_equal(text_utf8_next(bad[i], strlen(bad[i]), &cp), 0);
	}
}

static void test_utf8_next_cut_short(void **state)
{
	uint32_t cp;

	/* The bytes are there, but n says they are not ours to read. */
	assert_int_equal(text_utf8_next("\xc3\xa9", 1, &cp), 0);
	assert_int_equal(text_utf8_next("\xe2\x80\xae", 2, &cp), 0);
	assert_int_equal(text_utf8_next("\xf0\x9f\x98\x80", 3, &cp), 0);
	assert_int_equal(text_utf8_next("\xf0\x9f\x98\x80", 4, &cp), 4);
}

static void test_utf8_incomplete(void **state)
{
	assert_true(text_utf8_incomplete("\xc3", 1));
	assert_true(text_utf8_incomplete("\xe2", 1));
	assert_true(text_utf8_incomplete("\xe2\x80", 2));
	assert_true(text_utf8_incomplete("\xf0\x9f\x98", 3));
	assert_true(text_utf8_incomplete("\xf4", 1));
	/* Complete already, or never: ASCII, continuation, bad lead bytes. */
	assert_false(text_utf8_incomplete("\xc3\xa9", 2));
	assert_false(text_utf8_incomplete("A", 1));
	assert_false(text_utf8_incomplete("\x80", 1));
	assert_false(text_utf8_incomplete("\xc1", 1));
	assert_false(text_utf8_incomplete("\xf5", 1));
	assert_false(text_utf8_incomplete("\xe2!", 2));
	assert_false(text_utf8_incomplete("\xf0\x9f!", 3));
	assert_false(text_utf8_incomplete("", 0));
}

static void test_utf8_cut(void **state)
{
	const char *s = "ab\xc3\xa9-d\xf0\x9f\x98\x80";
	size_t len = strlen(s); /* 10 */

	assert_int_equal(text_utf8_cut(s, len, 100), len);
	assert_int_equal(text_utf8_cut(s, len, len), len);
	assert_int_equal(text_utf8_cut(s, len, 2), 2);
	assert_int_equal(text_utf8_cut(s, len, 3), 2); /* not inside the é */
	assert_int_equal(text_utf8_cut(s, len, 4), 4);
	assert_int_equal(text_utf8_cut(s, len, 7), 6); /* not inside the emoji */
	assert_int_equal(text_utf8_cut(s, len, 9), 6);
	assert_int_equal(text_utf8_cut(s, len, 0), 0);
	/* Only continuation bytes: nothing is left, never a read before s. */
	assert_int_equal(text_utf8_cut("\x80\x80\x80", 3, 2), 0);
}

static void test_utf8_lossy(void **state)
{
	char out[64];
	size_t n;

	n = text_utf8_lossy("ok \xc3\xa9", 5, out);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "ok \xc3\xa9", 5);
	/* Every bad byte its own U+FFFD; the good ones around it kept. */
	n = text_utf8_lossy("a\xff!\xc3", 4, out);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "a\xef\xbf\xbd!\xef\xbf\xbd", 8);
	n = text_utf8_lossy("\xed\xa0\x80", 3, out);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9);
	/* A NUL byte is valid UTF-8. */
	n = text_utf8_lossy("a\0b", 3, out);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "a\0b", 3);
	assert_int_equal(text_utf8_lossy("", 0, out), 0);
}

/* ---- control characters ---- */

static void test_control_char(void **state)
{
	static const uint32_t controls[] = {0,      '\t',   '\n',   '\r',   0x1b,   0x1f,   0x7f,
					    0x80,   0x9b,   0x9d,   0x9f,   0x200e, 0x200f, 0x2028,
					    0x2029, 0x202a, 0x202e, 0x2066, 0x2069, 0xfeff};
	static const uint32_t shown[] = {' ',    'A',    '~',    0xa0,   0xe9,   0x200d, 0x2010,
					 0x2027, 0x202f, 0x2065, 0x206a, 0xfefe, 0xfffd, 0x1f600};

	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++)
		assert_true(text_control_char(controls[i]));
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		assert_false(text_control_char(shown[i]));
}

static void test_has_control(void **state)
{
	assert_false(text_has_control("", 0));
	assert_false(text_has_control("Dr. Müller's practice", strlen("Dr. Müller's practice")));
	assert_true(text_has_control("a\tb", 3));
	assert_true(text_has_control("a\x7f", 2));
	assert_true(text_has_control("a\x1b[2J", 5));
	/* len bytes, NUL included, and no further. */
	assert_true(text_has_control("a\0b", 3));
	assert_false(text_has_control("ab\n", 2));
}

static void test_clean(void **state)
{
	char s[] = "a\x1b[31mb\r\n\x7f\tc\xc3\xa9\xc2\x9b";

	text_clean(s);
	/* C0 and DEL only: UTF-8 (also C1 as two bytes) stays as it is. */
	assert_string_equal(s, "a?[31mb????c\xc3\xa9\xc2\x9b");
}

static void test_clean_copy(void **state)
{
	char buf[8];

	assert_ptr_equal(text_clean_copy(buf, sizeof(buf), "ab\ncd"), buf);
	assert_string_equal(buf, "ab?cd");
	assert_string_equal(text_clean_copy(buf, sizeof(buf), "0123456789"), "0123456");
	assert_string_equal(text_clean_copy(buf, sizeof(buf), NULL), "");
	assert_string_equal(text_clean_copy(buf, 1, "abc"), "");
	assert_string_equal(text_clean_copy(buf, sizeof(buf), "\x7f\xc3\xa9"), "?\xc3\xa9");
}

/* What a writer to a stream wrote, as a string. */
struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static void capture_open(struct capture *c)
{
	*c = (struct capture){0};
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

static const char *capture_close(struct capture *c)
{
	assert_int_equal(fclose(c->f), 0);
	return c->buf;
}

static void test_print_clean(void **state)
{
	struct capture c;

	capture_open(&c);
	text_print_clean(c.f, "refused: \x1b]0;owned\x07 \xc3\xa9\r");
	assert_string_equal(capture_close(&c), "refused: ?]0;owned? \xc3\xa9?");
	free(c.buf);
}

/* text_write_escaped of len bytes, as a string. */
static char *escaped(const char *s, size_t len)
{
	struct capture c;

	capture_open(&c);
	assert_int_equal(text_write_escaped(c.f, s, len), 0);
	capture_close(&c);
	return c.buf;
}

static void test_write_escaped(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    /* Text, newlines and tabs as they are. */
	    {"hello\tworld\n", "hello\tworld\n"},
	    {"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"},
	    /* C0 and DEL as \xNN: escapes, carriage returns, bells. */
	    {"\x1b[2J", "\\x1b[2J"},
	    {"ok\rforged", "ok\\x0dforged"},
	    {"\x07\x08\x7f", "\\x07\\x08\\x7f"},
	    /* A backslash doubled: the tenant cannot forge an escape. */
	    {"\\x1b", "\\\\x1b"},
	    /* C1, separators, bidi controls and the BOM as \uNNNN. */
	    {"\xc2\x9b[31m", "\\u009b[31m"},
	    {"\xc2\x85", "\\u0085"},
	    {"a\xe2\x80\xae!cba", "a\\u202e!cba"},
	    {"\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069"},
	    {"\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029"},
	    {"\xe2\x80\x8e\xe2\x80\x8f", "\\u200e\\u200f"},
	    {"\xef\xbb\xbf", "\\ufeff"},
	    /* Bytes that start no valid sequence, one \xNN each. */
	    {"\xff\xfe", "\\xff\\xfe"},
	    {"\xc0\xaf", "\\xc0\\xaf"},
	    {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
	    {"a\xc3", "a\\xc3"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = escaped(cases[i].in, strlen(cases[i].in));

		assert_string_equal(out, cases[i].out);
		free(out);
	}
	/* A NUL in the middle is a byte like the others. */
	{
		char *out = escaped("a\0b", 3);

		assert_string_equal(out, "a\\x00b");
		free(out);
	}
}

/* A stream whose every write fails: a pipe nobody reads any more (EPIPE,
 * with SIGPIPE ignored for the test). Works on any host, /dev/full or not. */
static void test_write_escaped_failure(void **state)
{
	int p[2];
	FILE *f;
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	f = fdopen(p[1], "w");
	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	assert_int_equal(text_write_escaped(f, "abc", 3), -1);
	assert_int_equal(text_write_escaped(f, "\x1b", 1), -1);
	fclose(f);
	(void)signal(SIGPIPE, old);
}

/* ---- for messages ---- */

static void test_quote(void **state)
{
	char buf[64];

	assert_string_equal(ward_quote("web", 3, 40, buf, sizeof(buf)), "\"web\"");
	/* Everything but printable ASCII, and the quote and the backslash,
	 * as \xNN: the message stays ASCII. */
	assert_string_equal(ward_quote("a\"b\\c", 5, 40, buf, sizeof(buf)), "\"a\\x22b\\x5cc\"");
	assert_string_equal(ward_quote("\x1b[2J\x7f\xc3\xa9", 7, 40, buf, sizeof(buf)),
			    "\"\\x1b[2J\\x7f\\xc3\\xa9\"");
	assert_string_equal(ward_quote("a\0b", 3, 40, buf, sizeof(buf)), "\"a\\x00b\"");
	assert_string_equal(ward_quote("", 0, 40, buf, sizeof(buf)), "\"\"");
	/* Cut after max input bytes. */
	assert_string_equal(ward_quote("abcdefgh", 8, 3, buf, sizeof(buf)), "\"abc...\"");
	assert_string_equal(ward_quote("abc", 3, 3, buf, sizeof(buf)), "\"abc\"");
	/* Or when the buffer is full, with room left for the "..." and the
	 * closing quote. */
	assert_string_equal(ward_quote("abcdefghijklmnop", 16, 40, buf, 12), "\"ab...\"");
	assert_string_equal(ward_quote("\x01\x02\x03", 3, 40, buf, 16), "\"\\x01\\x02...\"");
	/* Too small a buffer: nothing. */
	assert_string_equal(ward_quote("abc", 3, 40, buf, 7), "");
}

static void test_quote_value(void **state)
{
	char buf[96], small[24];

	(void)state;
	/* '"' and '\\' with a backslash in both styles. */
	assert_string_equal(text_quote_value("a\"b\\c", TEXT_QUOTE_JSON, buf, sizeof(buf)),
			    "\"a\\\"b\\\\c\"");
	assert_string_equal(text_quote_value("a\"b\\c", TEXT_QUOTE_ASCII, buf, sizeof(buf)),
			    "\"a\\\"b\\\\c\"");
	/* JSON: C0 and DEL as \u00XX, UTF-8 kept. */
	assert_string_equal(
	    text_quote_value("\x1b[2J\x7f\xc3\xa9", TEXT_QUOTE_JSON, buf, sizeof(buf)),
	    "\"\\u001b[2J\\u007f\xc3\xa9\"");
	/* ASCII: those and every byte >= 0x80 as \xNN. */
	assert_string_equal(
	    text_quote_value("\x1b[2J\x7f\xc3\xa9", TEXT_QUOTE_ASCII, buf, sizeof(buf)),
	    "\"\\x1b[2J\\x7f\\xc3\\xa9\"");
	assert_string_equal(text_quote_value("", TEXT_QUOTE_JSON, buf, sizeof(buf)), "\"\"");
	/* Cut once fewer than 16 bytes are left: after 8 + 1 of 24 here. */
	assert_string_equal(
	    text_quote_value("abcdefghijklmnop", TEXT_QUOTE_ASCII, small, sizeof(small)),
	    "\"abcdefgh...\"");
	/* JSON keeps a character whole: "é" (2 bytes) at the cut goes. */
	assert_string_equal(
	    text_quote_value("abcdefg\xc3\xa9xyz", TEXT_QUOTE_JSON, small, sizeof(small)),
	    "\"abcdefg\xc3\xa9...\"");
	assert_string_equal(
	    text_quote_value("abcdefgh\xc3\xa9xyz", TEXT_QUOTE_JSON, small, sizeof(small)),
	    "\"abcdefgh...\"");
}

static void test_ascii_clean(void **state)
{
	char s[] = "a\x1b!\x7f\xc3\xa9~ \n";

	ward_ascii_clean(s);
	assert_string_equal(s, "a?!???~ ?");
}

/* ---- JSON ---- */

/* The escaped body, as a string; all of in taken. */
static char *json_body(const char *in, size_t len)
{
	char *out = malloc(6 * len + 1);
	size_t used = 99, n;

	assert_non_null(out);
	n = text_json_escape_lossy(in, len, true, out, &used);
	assert_int_equal(used, len);
	out[n] = '\0';
	return out;
}

static void test_json_escape(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    {"plain", "plain"},
	    {"q\"b\\", "q\\\"b\\\\"},
	    {"\b\f\n\r\t", "\\b\\f\\n\\r\\t"},
	    {"\x01\x1b\x1f", "\\u0001\\u001b\\u001f"},
	    {"\x7f", "\x7f"},
	    {"caf\xc3\xa9", "caf\xc3\xa9"},
	    {"\xe2\x80\xae", "\xe2\x80\xae"},
	    {"a\xff!", "a\xef\xbf\xbd!"},
	    {"\xc3", "\xef\xbf\xbd"},
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = json_body(cases[i].in, strlen(cases[i].in));

		assert_string_equal(out, cases[i].out);
		free(out);
	}
	{
		char *out = json_body("a\0b", 3);

		assert_string_equal(out, "a\\u0000b");
		free(out);
	}
}

/* The escaped body read back by jansson is the repaired text: what
 * json_dumps makes of it, but for the case of the hex digits. */
static void test_json_escape_as_jansson(void **state)
{
	static const char in[] = "x\"\\\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xe2\x80\xae\xf0\x9f\x98\x80"
				 "\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80";
	size_t len = sizeof(in) - 1, used;
	char fixed[3 * sizeof(in)], out[6 * sizeof(in) + 2];
	size_t nfixed = text_utf8_lossy(in, len, fixed);
	size_t n = text_json_escape_lossy(in, len, true, out + 1, &used);
	json_t *j;

	out[0] = '"';
	out[n + 1] = '"';
	j = json_loadb(out, n + 2, JSON_DECODE_ANY, NULL);
	assert_non_null(j);
	assert_int_equal(json_string_length(j), nfixed);
	assert_memory_equal(json_string_value(j), fixed, nfixed);
	json_decref(j);
}

static void test_json_escape_stream(void **state)
{
	char out[64];
	size_t used, n;

	/* A character cut at the end of a piece waits for the next one. */
	n = text_json_escape_lossy("ab\xe2\x80", 4, false, out, &used);
	assert_int_equal(used, 2);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "ab", 2);
	n = text_json_escape_lossy("\xe2\x80\xae!", 4, false, out, &used);
	assert_int_equal(used, 4);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\xe2\x80\xae!", 4);
	/* At the end of the stream it is what it is: U+FFFD per byte. */
	n = text_json_escape_lossy("\xe2\x80", 2, true, out, &used);
	assert_int_equal(used, 2);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "\xef\xbf\xbd\xef\xbf\xbd", 6);
	/* A byte that can begin nothing is not waited for. */
	n = text_json_escape_lossy("a\xff", 2, false, out, &used);
	assert_int_equal(used, 2);
	assert_int_equal(n, 4);
	/* Nor a sequence that is broken already. */
	n = text_json_escape_lossy("\xe2!", 2, false, out, &used);
	assert_int_equal(used, 2);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\xef\xbf\xbd!", 4);
	n = text_json_escape_lossy("", 0, false, out, &used);
	assert_int_equal(n, 0);
	assert_int_equal(used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8_next_valid),
	    cmocka_unit_test(test_utf8_next_invalid),
	    cmocka_unit_test(test_utf8_next_cut_short),
	    cmocka_unit_test(test_utf8_incomplete),
	    cmocka_unit_test(test_utf8_cut),
	    cmocka_unit_test(test_utf8_lossy),
	    cmocka_unit_test(test_control_char),
	    cmocka_unit_test(test_has_control),
	    cmocka_unit_test(test_clean),
	    cmocka_unit_test(test_clean_copy),
	    cmocka_unit_test(test_print_clean),
	    cmocka_unit_test(test_write_escaped),
	    cmocka_unit_test(test_write_escaped_failure),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_quote_value),
	    cmocka_unit_test(test_ascii_clean),
	    cmocka_unit_test(test_json_escape),
	    cmocka_unit_test(test_json_escape_as_jansson),
	    cmocka_unit_test(test_json_escape_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
