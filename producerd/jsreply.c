/*
 * jsreply.c: reading what JetStream's API answers (the cluster's files).
 * Its replies are small JSON objects of known shape; a stored message comes
 * back with its payload and header block in base64.  Only the few fields
 * pushstage uses are read, by key; no I/O here, so the unit tests drive it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsreply.h"

/* Four hex digits at p (it ends at a NUL, which is none) into *u. */
static int
hex4(const char *p, unsigned int *u)
{
	int	 i, c;

	*u = 0;
	for (i = 0; i < 4; i++) {
		c = (unsigned char)p[i];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			c = (c | 0x20) - 'a' + 10;
		else
			return 0;
		*u = *u << 4 | (unsigned int)c;
	}
	return 1;
}

/*
 * A reply's error description, or NULL if it has none.  The JSON string's
 * escapes are undone (\u003e is '>'); a character past ASCII, or a
 * control, is '?'.
 */
const char *
js_error(const char *data, size_t len, char *buf, size_t size)
{
	const char	*e, *d;
	size_t		 n = 0;
	unsigned int	 u;

	if (size == 0 || (e = strstr(data, "\"error\"")) == NULL ||
	    (size_t)(e - data) >= len)
		return NULL;
	if ((d = strstr(e, "\"description\":\"")) == NULL) {
		snprintf(buf, size, "%.*s", (int)len, data);
		return buf;
	}
	for (d += 15; *d != '\0' && *d != '"' && n + 1 < size; d++) {
		if (*d != '\\' || d[1] == '\0')
			buf[n++] = *d;
		else if (d[1] == 'u' && hex4(d + 2, &u)) {
			buf[n++] = u >= 0x20 && u < 0x7f ? (char)u : '?';
			d += 5;
		} else
			buf[n++] = *++d;
	}
	buf[n] = '\0';
	return buf;
}

/* The value after key (quoted, with its colon), blanks skipped; or NULL. */
static const char *
value(const char *data, const char *key)
{
	const char	*p;

	if ((p = strstr(data, key)) == NULL)
		return NULL;
	p += strlen(key);
	return p + strspn(p, " \t");	/* JetStream writes ": true" */
}

/* Whether key is true. */
int
js_true(const char *data, const char *key)
{
	const char	*p;

	return (p = value(data, key)) != NULL && strncmp(p, "true", 4) == 0;
}

/* key's number in *v; -1 if it has none. */
int
js_u64(const char *data, const char *key, uint64_t *v)
{
	const char	*p;
	char		*end;

	if ((p = value(data, key)) == NULL || *p < '0' || *p > '9')
		return -1;
	*v = strtoull(p, &end, 10);
	return 0;
}

/*
 * key's string, as it is written (a subject or base64 has no escapes):
 * *s at its first character, *len its length; -1 if it has none.
 */
int
js_string(const char *data, const char *key, const char **s, size_t *len)
{
	const char	*p, *q;

	if ((p = value(data, key)) == NULL || *p != '"' ||
	    (q = strchr(p + 1, '"')) == NULL)
		return -1;
	*s = p + 1;
	*len = (size_t)(q - p - 1);
	return 0;
}

static int
b64(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * n bytes as standard base64, padded, into out: 4 * ((n + 2) / 3) + 1
 * bytes with the NUL.
 */
void
b64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char	 abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = abc[v >> 18];
		*out++ = abc[(v >> 12) & 63];
		*out++ = abc[(v >> 6) & 63];
		*out++ = abc[v & 63];
	}
	if (i < n) {
		v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] <<
		    8 : 0);
		*out++ = abc[v >> 18];
		*out++ = abc[(v >> 12) & 63];
		*out++ = i + 1 < n ? abc[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* How many bytes the base64 text of len characters stands for. */
size_t
b64_len(const char *in, size_t len)
{
	while (len != 0 && in[len - 1] == '=')
		len--;
	return len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
}

/*
 * Standard base64 (with or without its '=' padding) into out, at most size
 * bytes of it (the rest is checked, not kept); -1 if it is not base64.
 */
int
b64_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	uint32_t	 acc = 0;
	size_t		 i, n = 0;
	int		 bits = 0, v;

	while (len != 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b64((unsigned char)in[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (n < size)
				out[n] = (uint8_t)(acc >> bits);
			n++;
		}
	}
	return 0;
}

/*
 * A header's value in a NATS header block ("NATS/1.0\r\nName: value\r\n
 * ...\r\n"), name matched without regard to case; -1 if it has none.
 */
int
nats_header(const char *h, size_t len, const char *name, char *buf,
    size_t size)
{
	const char	*p = h, *end = h + len, *eol, *v;
	size_t		 nlen = strlen(name), n;

	if (size == 0)
		return -1;
	for (; p < end; p = eol + 2) {
		if ((eol = memchr(p, '\r', (size_t)(end - p))) == NULL ||
		    eol + 1 >= end || eol[1] != '\n')
			return -1;
		if ((size_t)(eol - p) <= nlen || p[nlen] != ':' ||
		    strncasecmp(p, name, nlen) != 0)
			continue;
		for (v = p + nlen + 1; v < eol && *v == ' '; v++)
			continue;
		n = (size_t)(eol - v) < size - 1 ? (size_t)(eol - v) :
		    size - 1;
		memcpy(buf, v, n);
		buf[n] = '\0';
		return 0;
	}
	return -1;
}
