/*
 * json.c: JSON out for the HTTP API, and the one body it reads.  A name
 * or a payload can hold anything a peer sent, so every string is escaped
 * here, once: quotes, backslashes, control bytes, and < > & as \u003c and
 * kin, so that no value can close a tag or a script if a page ever puts
 * one in its markup.  Bytes that are not UTF-8 become U+FFFD in a name;
 * a payload that is not text is previewed in hex instead.  In, the one
 * body of ids, and an object read a member at a time (json_in_*).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"
#include "utf8.h"


void
json_str(struct evbuffer *b, const void *v, size_t len)
{
	const unsigned char	*p = v, *run = v;
	size_t			 i = 0, n;
	char			 esc[8];

	evbuffer_add(b, "\"", 1);
	while (i < len) {
		n = utf8_len(p + i, len - i);
		if (n == 1 && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' &&
		    p[i] != '<' && p[i] != '>' && p[i] != '&' && p[i] != 0x7f) {
			i++;
			continue;
		}
		if (n > 1) {
			i += n;
			continue;
		}
		evbuffer_add(b, run, (size_t)(p + i - run));
		if (n == 0)
			evbuffer_add(b, "\\ufffd", 6);
		else if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			evbuffer_add(b, esc, 2);
		} else if (p[i] == '\n')
			evbuffer_add(b, "\\n", 2);
		else {
			snprintf(esc, sizeof esc, "\\u%04x", p[i]);
			evbuffer_add(b, esc, 6);
		}
		i++;
		run = p + i;
	}
	evbuffer_add(b, run, (size_t)(p + i - run));
	evbuffer_add(b, "\"", 1);
}

void
json_key(struct evbuffer *b, int first, const char *key)
{
	evbuffer_add_printf(b, "%s\"%s\":", first ? "" : ",", key);
}

/*
 * "name":bytes,"name_encoding":... as text if every byte is UTF-8 and
 * none a control byte but tab, CR and LF, else in hex; a sequence cut
 * short at its end does not count against it (cut is 1 when the bytes
 * are the start of longer ones).  first: no comma before.
 */
void
json_bytes_as(struct evbuffer *b, int first, const char *name, const void *v,
    size_t len, int cut)
{
	const unsigned char	*p = v;
	size_t			 i = 0, n;
	int			 text = 1;

	while (text && i < len) {
		n = utf8_len(p + i, len - i);
		if (n == 0 && cut && len - i < 4 && p[i] >= 0xc2)
			len = i;	/* cut mid-character */
		else if (n == 0 || (p[i] < 0x20 && p[i] != '\t' &&
		    p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f)
			text = 0;
		else
			i += n;
	}
	json_key(b, first, name);
	if (text) {
		json_str(b, p, len);
		evbuffer_add_printf(b, ",\"%s_encoding\":\"text\"", name);
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (i = 0; i < len; i++)
		evbuffer_add_printf(b, "%02x", p[i]);
	evbuffer_add_printf(b, "\",\"%s_encoding\":\"hex\"", name);
}

/* A payload's preview: "preview" and "preview_encoding", the first keys. */
void
json_preview(struct evbuffer *b, const void *v, size_t len, int cut)
{
	json_bytes_as(b, 1, "preview", v, len, cut);
}

static const char *
skip(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

int
json_ids(const char *p, size_t len, uint8_t *out, size_t max, uint32_t *n,
    char *why, size_t whylen)
{
	const char	*end = p + len;
	uint64_t	 id;
	int		 i;

	*n = 0;
	p = skip(p, end);
	if (p == end)
		return 0;
	if (*p != '{')
		goto bad;
	p = skip(p + 1, end);
	if (p < end && *p == '}')
		goto done;
	if ((size_t)(end - p) < 5 || memcmp(p, "\"ids\"", 5) != 0) {
		snprintf(why, whylen, "the body's only field is \"ids\"");
		return -1;
	}
	p = skip(p + 5, end);
	if (p == end || *p != ':')
		goto bad;
	p = skip(p + 1, end);
	if (p == end || *p != '[')
		goto bad;
	p = skip(p + 1, end);
	if (p < end && *p == ']') {
		p++;
		goto close;
	}
	for (;;) {
		if (p == end || !isdigit((unsigned char)*p))
			goto bad;
		for (id = 0; p < end && isdigit((unsigned char)*p); p++) {
			if (id > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
				snprintf(why, whylen, "an id is over "
				    "18446744073709551615");
				return -1;
			}
			id = id * 10 + (uint64_t)(*p - '0');
		}
		if (*n == max) {
			snprintf(why, whylen, "more than %zu ids", max);
			return -1;
		}
		for (i = 0; i < 8; i++)
			out[(size_t)*n * 8 + (size_t)i] =
			    (uint8_t)(id >> (56 - 8 * i));
		(*n)++;
		p = skip(p, end);
		if (p < end && *p == ']') {
			p++;
			break;
		}
		if (p == end || *p != ',')
			goto bad;
		p = skip(p + 1, end);
	}
close:
	p = skip(p, end);
	if (p == end || *p != '}')
		goto bad;
done:
	p = skip(p + 1, end);
	if (p == end)
		return 0;
bad:
	snprintf(why, whylen, "the body is not {\"ids\": [ID, ...]} (nor "
	    "empty, for every dead event)");
	return -1;
}

/*
 * The reader of a POST's object: only what a body of ours holds, an
 * object of strings, whole numbers from 0, true, false, null and objects
 * of strings; an array or a fraction is refused by name, not skipped.
 */
static int
in_fail(struct json_in *j, const char *what)
{
	snprintf(j->why, sizeof j->why, "%s at byte %zu", what,
	    (size_t)(j->p - j->start));
	return -1;
}

void
json_in_init(struct json_in *j, char *s, size_t len)
{
	j->start = j->p = s;
	j->end = s + len;
	j->why[0] = '\0';
}

static void
in_skip(struct json_in *j)
{
	j->p = (char *)skip(j->p, j->end);
}

static int
in_word(struct json_in *j, const char *w)
{
	size_t	 n = strlen(w);

	in_skip(j);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return 0;
	j->p += n;
	return 1;
}

/* The next value is an object: past its '{'. */
int
json_in_object(struct json_in *j)
{
	in_skip(j);
	if (j->p == j->end || *j->p != '{')
		return in_fail(j, "not an object");
	j->p++;
	return 0;
}

/*
 * The object's next member: 1, its name, and its value next; 0 past the
 * object's '}'.  *n counts the members read, 0 before the first.
 */
int
json_in_member(struct json_in *j, int *n, char **key, size_t *klen)
{
	in_skip(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return 0;
	}
	if (*n > 0) {
		if (j->p == j->end || *j->p != ',')
			return in_fail(j, "not , or } after a member");
		j->p++;
		in_skip(j);
	}
	if (j->p == j->end || *j->p != '"')
		return in_fail(j, "not a member's name in quotes");
	if (json_in_string(j, key, klen) != 0)
		return -1;
	in_skip(j);
	if (j->p == j->end || *j->p != ':')
		return in_fail(j, "no : after a member's name");
	j->p++;
	(*n)++;
	return 1;
}

/* null, taken: 1; something else, left: 0. */
int
json_in_null(struct json_in *j)
{
	return in_word(j, "null");
}

static int
hex4(const char *p, unsigned int *v)
{
	int	 i, d;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | (unsigned int)d;
	}
	return 0;
}

static char *
put_utf8(char *out, unsigned int c)
{
	if (c < 0x80)
		*out++ = (char)c;
	else if (c < 0x800) {
		*out++ = (char)(0xc0 | c >> 6);
		*out++ = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		*out++ = (char)(0xe0 | c >> 12);
		*out++ = (char)(0x80 | (c >> 6 & 0x3f));
		*out++ = (char)(0x80 | (c & 0x3f));
	} else {
		*out++ = (char)(0xf0 | c >> 18);
		*out++ = (char)(0x80 | (c >> 12 & 0x3f));
		*out++ = (char)(0x80 | (c >> 6 & 0x3f));
		*out++ = (char)(0x80 | (c & 0x3f));
	}
	return out;
}

/*
 * A string, decoded where it stood: what it decodes to is never longer
 * than its escapes, so the NUL after it lands at its closing quote at the
 * latest.  Bytes that are not UTF-8, and an unpaired surrogate, are
 * refused: nothing a person typed holds them.
 */
int
json_in_string(struct json_in *j, char **s, size_t *len)
{
	char		*out;
	unsigned int	 c, lo;
	size_t		 n;

	in_skip(j);
	if (j->p == j->end || *j->p != '"')
		return in_fail(j, "not a string");
	out = *s = ++j->p;
	for (;;) {
		if (j->p == j->end)
			return in_fail(j, "a string not closed");
		c = (unsigned char)*j->p;
		if (c == '"')
			break;
		if (c < 0x20)
			return in_fail(j, "a control byte in a string");
		if (c != '\\') {
			if ((n = utf8_len((const unsigned char *)j->p,
			    (size_t)(j->end - j->p))) == 0)
				return in_fail(j, "a string not UTF-8");
			if (out != j->p)
				memmove(out, j->p, n);
			out += n;
			j->p += n;
			continue;
		}
		if (j->end - j->p < 2)
			return in_fail(j, "a string not closed");
		c = (unsigned char)j->p[1];
		j->p += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			*out++ = (char)c;
			continue;
		case 'b':
			*out++ = '\b';
			continue;
		case 'f':
			*out++ = '\f';
			continue;
		case 'n':
			*out++ = '\n';
			continue;
		case 'r':
			*out++ = '\r';
			continue;
		case 't':
			*out++ = '\t';
			continue;
		case 'u':
			break;
		default:
			j->p -= 2;
			return in_fail(j, "a bad escape in a string");
		}
		if (j->end - j->p < 4 || hex4(j->p, &c) != 0)
			return in_fail(j, "a bad \\u escape in a string");
		j->p += 4;
		if (c >= 0xd800 && c < 0xdc00) {
			if (j->end - j->p < 6 || j->p[0] != '\\' ||
			    j->p[1] != 'u' || hex4(j->p + 2, &lo) != 0 ||
			    lo < 0xdc00 || lo > 0xdfff)
				return in_fail(j, "a lone surrogate in a string");
			j->p += 6;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
		} else if (c >= 0xdc00 && c < 0xe000)
			return in_fail(j, "a lone surrogate in a string");
		out = put_utf8(out, c);
	}
	*len = (size_t)(out - *s);
	*out = '\0';
	j->p++;
	return 0;
}

int
json_in_bool(struct json_in *j, int *v)
{
	if (in_word(j, "true"))
		*v = 1;
	else if (in_word(j, "false"))
		*v = 0;
	else
		return in_fail(j, "not true or false");
	return 0;
}

/* A whole number from 0 to max; a sign, a fraction or an exponent: -1. */
int
json_in_uint(struct json_in *j, uint64_t max, uint64_t *v)
{
	in_skip(j);
	if (j->p == j->end || !isdigit((unsigned char)*j->p))
		goto bad;
	for (*v = 0; j->p < j->end && isdigit((unsigned char)*j->p); j->p++) {
		if ((uint64_t)(*j->p - '0') > max ||
		    *v > (max - (uint64_t)(*j->p - '0')) / 10)
			goto bad;
		*v = *v * 10 + (uint64_t)(*j->p - '0');
	}
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		goto bad;
	return 0;
bad:
	snprintf(j->why, sizeof j->why, "not a whole number from 0 to %llu",
	    (unsigned long long)max);
	return -1;
}

/* Past the object: nothing but spaces. */
int
json_in_end(struct json_in *j)
{
	in_skip(j);
	if (j->p != j->end)
		return in_fail(j, "more after the object");
	return 0;
}
