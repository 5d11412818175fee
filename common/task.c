/*
 * task.c: the task envelope (docs/tasks.md) for pushctl enqueue --task
 * and consumer --exec: a task name checked, a payload put together, an
 * error object written.  Strings are written as Python's json.dumps
 * writes them with ensure_ascii off (the Python task layer's encoder),
 * so that the same error gives the same bytes from either: \" \\ \b \f
 * \n \r \t, \u00XX for the other controls, everything else as it is.
 * A byte that does not start a whole UTF-8 character (stderr is any
 * bytes) is written as U+FFFD, as UTF-8 (EF BF BD), one per byte.
 */
#include <string.h>

#include "task.h"
#include "utf8.h"

/*
 * Does a content-type header's value say the envelope's encoding,
 * application/json?  In any letter case, with parameters after a ";"
 * ("application/json; charset=utf-8") or without, spaces around it
 * allowed.  1 or 0.
 */
int
task_json_type(const void *value, size_t len)
{
	static const char	 json[] = "application/json";
	const char		*v = value;
	size_t			 i, j, end;
	unsigned char		 c;

	for (end = 0; end < len && v[end] != ';'; end++)
		;
	while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t'))
		end--;
	for (i = 0; i < end && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	if (end - i != sizeof json - 1)
		return (0);
	for (j = 0; i < end; i++, j++) {
		c = (unsigned char)v[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (unsigned char)json[j])
			return (0);
	}
	return (1);
}

/*
 * NULL if the len bytes at name are a task's name: 1 to 255 bytes of
 * UTF-8 without control characters (C0, DEL, C1); else why not, and in
 * *off the offset of the byte at fault.
 */
const char *
task_name_check(const char *name, size_t len, size_t *off)
{
	const unsigned char	*s = (const unsigned char *)name;
	size_t			 i, n;

	*off = 0;
	if (len == 0)
		return "a task name is 1 to 255 bytes; this one is empty";
	if (len > TASK_NAME_MAX) {
		*off = TASK_NAME_MAX;
		return "a task name is at most 255 bytes";
	}
	for (i = 0; i < len; i += n) {
		*off = i;
		if (s[i] < 0x20 || s[i] == 0x7f)
			return "a control character";
		if ((n = utf8_len(s + i, len - i)) == 0)
			return "not UTF-8";
		/* U+0080 to U+009F, the C1 controls. */
		if (n == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0)
			return "a control character";
	}
	return NULL;
}

/*
 * The payload {"args":ARGS,"kwargs":KWARGS}, the JSON texts given as
 * they are, into buf if it has room (cap bytes): its length either way.
 */
size_t
task_payload(char *buf, size_t cap, const char *args, size_t alen,
    const char *kwargs, size_t klen)
{
	static const char	 a[] = "{\"args\":", k[] = ",\"kwargs\":";
	size_t			 n = sizeof a - 1 + alen + sizeof k - 1 + klen + 1;

	if (n > cap)
		return n;
	memcpy(buf, a, sizeof a - 1);
	buf += sizeof a - 1;
	memcpy(buf, args, alen);
	buf += alen;
	memcpy(buf, k, sizeof k - 1);
	buf += sizeof k - 1;
	memcpy(buf, kwargs, klen);
	buf[klen] = '}';
	return n;
}

/*
 * One character of s (left bytes) as it goes in a JSON string: its bytes
 * in out (at most 6), their count returned; *used, the bytes of s taken.
 */
static size_t
escape_one(const unsigned char *s, size_t left, char out[6], size_t *used)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*short_form;
	size_t			 n;

	*used = 1;
	switch (s[0]) {
	case '"':  short_form = "\\\""; break;
	case '\\': short_form = "\\\\"; break;
	case '\b': short_form = "\\b"; break;
	case '\f': short_form = "\\f"; break;
	case '\n': short_form = "\\n"; break;
	case '\r': short_form = "\\r"; break;
	case '\t': short_form = "\\t"; break;
	default:   short_form = NULL; break;
	}
	if (short_form != NULL) {
		memcpy(out, short_form, 2);
		return 2;
	}
	if (s[0] < 0x20) {
		memcpy(out, "\\u00", 4);
		out[4] = hex[s[0] >> 4];
		out[5] = hex[s[0] & 0xf];
		return 6;
	}
	if ((n = utf8_len(s, left)) == 0) {
		memcpy(out, "\xef\xbf\xbd", 3);		/* U+FFFD */
		return 3;
	}
	memcpy(out, s, n);
	*used = n;
	return n;
}

/* The bytes len bytes at s take in a JSON string, quotes left out. */
static size_t
escaped_len(const unsigned char *s, size_t len)
{
	char	 out[6];
	size_t	 i, k, n = 0;

	for (i = 0; i < len; i += k)
		n += escape_one(s + i, len - i, out, &k);
	return n;
}

/* The longest start of s whose escaped form is at most room bytes. */
static size_t
prefix_within(const unsigned char *s, size_t len, size_t room)
{
	char	 out[6];
	size_t	 i, k, e, n = 0;

	for (i = 0; i < len; i += k) {
		e = escape_one(s + i, len - i, out, &k);
		if (n + e > room)
			break;
		n += e;
	}
	return i;
}

/* len bytes of s, escaped, at *p (room checked by the caller). */
static char *
put_escaped(char *p, const unsigned char *s, size_t len)
{
	size_t	 i, k;

	for (i = 0; i < len; i += k)
		p += escape_one(s + i, len - i, p, &k);
	return p;
}

/*
 * len bytes as a JSON string, quotes and all, into buf if it has room
 * (cap bytes): its length either way.
 */
size_t
task_json_string(char *buf, size_t cap, const void *s, size_t len)
{
	size_t	 n = escaped_len(s, len) + 2;

	if (n > cap)
		return n;
	*buf = '"';
	buf = put_escaped(buf + 1, s, len);
	*buf = '"';
	return n;
}

/*
 * The error object {"type":TYPE,"message":MESSAGE,"traceback":TRACEBACK}
 * in at most cap bytes of buf: its length, or 0 when cap is under
 * TASK_ERROR_MIN.  What does not fit is cut as docs/tasks.md says: the
 * traceback from its start (its end says the most), then the message at
 * its end, and, should that not be enough, the type at its end; always
 * between characters, never inside one or its escape.
 */
size_t
task_error(char *buf, size_t cap, const char *type, const void *message,
    size_t mlen, const void *traceback, size_t tlen)
{
	const unsigned char	*t = (const unsigned char *)type;
	const unsigned char	*m = message, *b = traceback;
	size_t			 tyl = strlen(type), ty, me, tb, room, k;
	char			 out[6], *p = buf;

	if (cap < TASK_ERROR_MIN)
		return 0;
	room = cap - TASK_ERROR_MIN;
	ty = escaped_len(t, tyl);
	me = escaped_len(m, mlen);
	tb = escaped_len(b, tlen);
	while (ty + me + tb > room && tlen != 0) {
		tb -= escape_one(b, tlen, out, &k);
		b += k;
		tlen -= k;
	}
	if (ty + me > room) {
		mlen = prefix_within(m, mlen, room > ty ? room - ty : 0);
		me = escaped_len(m, mlen);
	}
	if (ty > room) {
		tyl = prefix_within(t, tyl, room);
		ty = escaped_len(t, tyl);
	}
	memcpy(p, "{\"type\":\"", 9);
	p = put_escaped(p + 9, t, tyl);
	memcpy(p, "\",\"message\":\"", 13);
	p = put_escaped(p + 13, m, mlen);
	memcpy(p, "\",\"traceback\":\"", 15);
	p = put_escaped(p + 15, b, tlen);
	memcpy(p, "\"}", 2);
	p += 2;
	return (size_t)(p - buf);
}
