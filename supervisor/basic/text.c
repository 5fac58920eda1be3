/* Text from outside on its way to a person or a log: see text.h. */
#include "basic/text.h"

#include <string.h>

static const char hex[] = "0123456789abcdef";

/* ---- UTF-8 ---- */

size_t text_utf8_next(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len;
	uint32_t c;

	if (u[0] < 0x80)
		return *cp = u[0], 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		len = 2, c = u[0] & 0x1f;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		len = 3, c = u[0] & 0x0f;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		len = 4, c = u[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[i] & 0x3f);
	}
	/* Overlong (C0, C1 and E0 80..9F, F0 80..8F), surrogates, too high. */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool text_utf8_incomplete(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t want;

	if (n == 0 || u[0] < 0xc2 || u[0] > 0xf4)
		return false;
	want = u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : 2;
	if (n >= want)
		return false;
	for (size_t i = 1; i < n; i++)
		if ((u[i] & 0xc0) != 0x80)
			return false;
	return true;
}

size_t text_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n = max;

	if (len <= max)
		return len;
	/* s[n] exists (n < len): never end in the middle of a character. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

size_t text_utf8_lossy(const char *s, size_t len, char *out)
{
	static const char replacement[3] = {'\xef', '\xbf', '\xbd'}; /* U+FFFD */
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = text_utf8_next(s + i, len - i, &cp);

		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, replacement, sizeof(replacement));
			o += sizeof(replacement);
			i++;
		}
	}
	return o;
}

/* ---- control characters ---- */

bool text_control_char(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

static bool control_byte(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

bool text_has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (control_byte((unsigned char)s[i]))
			return true;
	return false;
}

void text_clean(char *s)
{
	for (; *s; s++)
		if (control_byte((unsigned char)*s))
			*s = '?';
}

char *text_clean_copy(char *dst, size_t size, const char *s)
{
	size_t i = 0;

	if (!s)
		s = "";
	for (; i + 1 < size && s[i]; i++) {
		dst[i] = s[i];
		if (control_byte((unsigned char)s[i]))
			dst[i] = '?';
	}
	dst[i] = '\0';
	return dst;
}

void text_print_clean(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(control_byte(*p) ? '?' : *p, out);
}

int text_write_escaped(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		size_t n = text_utf8_next(s + i, len - i, &cp);
		bool control = n && cp != '\n' && cp != '\t' && text_control_char(cp);
		int r;

		if (n == 0)
			r = fprintf(out, "\\x%02x", (unsigned char)s[i]);
		else if (cp == '\\')
			r = fputs("\\\\", out);
		else if (control && cp < 0x80)
			r = fprintf(out, "\\x%02x", (unsigned)cp);
		else if (control)
			r = fprintf(out, "\\u%04x", (unsigned)cp);
		else
			r = fwrite(s + i, 1, n, out) == n ? 0 : EOF;
		if (r < 0)
			return -1;
		i += n ? n : 1;
	}
	return 0;
}

/* ---- for messages ---- */

const char *ward_quote(const char *s, size_t len, size_t max, char *buf, size_t size)
{
	size_t o = 0;

	if (size < 8)
		return "";
	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 9 >= size || i == max) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			buf[o++] = (char)ch;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *text_quote_value(const char *s, enum text_quote_style style, char *buf, size_t size)
{
	size_t o = 0;

	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool starts = style == TEXT_QUOTE_ASCII || (*p & 0xc0) != 0x80;

		if (starts && o > size - 16) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p >= 0x20 && *p != 0x7f && (*p < 0x80 || style == TEXT_QUOTE_JSON)) {
			buf[o++] = (char)*p;
		} else {
			const char *esc = style == TEXT_QUOTE_JSON ? "\\u00" : "\\x";

			memcpy(buf + o, esc, strlen(esc));
			o += strlen(esc);
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void ward_ascii_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* ---- JSON ---- */

/* The escape of one ASCII byte that JSON does not take as it is. */
static size_t json_escape_byte(unsigned char ch, char *out)
{
	static const char shorts[] = {['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
				      ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't'};

	out[0] = '\\';
	if (ch < sizeof(shorts) && shorts[ch]) {
		out[1] = shorts[ch];
		return 2;
	}
	out[1] = 'u';
	out[2] = '0';
	out[3] = '0';
	out[4] = hex[ch >> 4];
	out[5] = hex[ch & 15];
	return 6;
}

size_t text_json_escape_lossy(const char *in, size_t len, bool final, char *out, size_t *used)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned char ch = u[i];
		uint32_t cp;
		size_t n;

		if (ch < 0x80) {
			if (ch >= 0x20 && ch != '"' && ch != '\\')
				out[o++] = (char)ch;
			else
				o += json_escape_byte(ch, out + o);
			i++;
			continue;
		}
		n = text_utf8_next(in + i, len - i, &cp);
		if (!n && !final && len - i < 4 && text_utf8_incomplete(in + i, len - i))
			break;
		if (n) {
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
		} else {
			o += text_utf8_lossy(in + i, 1, out + o);
			i++;
		}
	}
	*used = i;
	return o;
}
