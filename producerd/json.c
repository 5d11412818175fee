/*
 * json.c: JSON out for the HTTP API, and the one body it reads.  A name
 * or a payload can hold anything a peer sent, so every string is escaped
 * here, once: quotes, backslashes, control bytes, and < > & as \u003c and
 * kin, so that no value can close a tag or a script if a page ever puts
 * one in its markup.  Bytes that are not UTF-8 become U+FFFD in a name;
 * a payload that is not text is previewed in hex instead.
 */
#include <ctype.h>
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
