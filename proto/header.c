/*
 * header.c: an event's headers (docs/protocol.md, version 5): HEADER
 * attributes, each u8 tag 128, u16 length, u8 name length, the name and
 * the value, one after another.  An event's headers travel and are kept
 * as these bytes, so nothing here allocates but ps_put_header's buffer.
 */
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "frame.h"


/*
 * A name as an error message may show it: its first 32 bytes, any that
 * could not be printed or would end the quotes as '?'.
 */
static const char *
shown(const char *name, size_t n, char out[33])
{
	size_t	 i;

	if (n > 32)
		n = 32;
	for (i = 0; i < n; i++)
		out[i] = name[i] >= 0x20 && name[i] < 0x7f && name[i] != '"' &&
		    name[i] != '\\' ? name[i] : '?';
	out[n] = '\0';
	return out;
}

/* A name: 1 to 64 bytes of a-z 0-9 - _ . */
int
ps_header_name_ok(const char *name, size_t n)
{
	size_t	 i;
	char	 c;

	if (n == 0 || n > PS_HEADER_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* One HEADER attribute onto b; -PS_E_BAD_VALUE for a bad name or value. */
int
ps_put_header(struct ps_buf *b, const char *name, size_t nlen,
    const void *value, size_t vlen)
{
	uint8_t	*p;
	size_t	 n = 1 + nlen + vlen;

	if (!ps_header_name_ok(name, nlen) || vlen > PS_HEADER_VALUE_MAX)
		return -PS_E_BAD_VALUE;
	if (ps_buf_reserve(b, 3 + n) != 0)
		return -PS_E_NOMEM;
	p = b->data + b->len;
	p[0] = PS_ATTR_HEADER;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)n;
	p[3] = (uint8_t)nlen;
	memcpy(p + 4, name, nlen);
	if (vlen != 0)
		memcpy(p + 4 + nlen, value, vlen);
	b->len += 3 + n;
	return 0;
}

/*
 * The header at *off of the n bytes at p, and *off past it: 1, or 0 at
 * the end (or at bytes that are not a whole HEADER: check first).
 */
int
ps_header_next(const uint8_t *p, uint16_t n, uint16_t *off,
    struct ps_header *h)
{
	uint16_t	 at = *off, len;

	if (n - at < 4 || p[at] != PS_ATTR_HEADER)
		return 0;
	len = get16(p + at + 1);
	if (len < 1 || len > n - at - 3 || p[at + 3] > len - 1)
		return 0;
	h->name = (const char *)p + at + 4;
	h->nlen = p[at + 3];
	h->value = p + at + 4 + h->nlen;
	h->vlen = (uint16_t)(len - 1 - h->nlen);
	*off = (uint16_t)(at + 3 + len);
	return 1;
}

/* The header named so, if the event has it. */
int
ps_header_find(const uint8_t *p, uint16_t n, const char *name, size_t nlen,
    struct ps_header *h)
{
	uint16_t	 off = 0;

	while (ps_header_next(p, n, &off, h)) {
		if (h->nlen == nlen && memcmp(h->name, name, nlen) == 0)
			return 1;
	}
	return 0;
}

/*
 * Are the n bytes at p an event's headers, every one whole, well named,
 * once, within the limits?  0, or -PS_E_* with *why saying which header
 * and what is wrong (in buf, PS_WHY_MAX bytes).
 */
int
ps_headers_check(const uint8_t *p, uint16_t n, const char **why, char *buf)
{
	struct ps_header	 h, seen;
	uint16_t		 off = 0, at, prev;
	size_t			 count = 0, bytes = 0;
	char			 name[33];

	while (off < n) {
		at = off;
		if (p[off] != PS_ATTR_HEADER) {
			*why = p[off] >= PS_ATTR_LONG ? "an attribute of "
			    "unknown tag" : "a HEADER comes after the event's "
			    "other attributes";
			return -PS_E_BAD_VALUE;
		}
		if (!ps_header_next(p, n, &off, &h)) {
			*why = "a HEADER runs past its block, or its name "
			    "past its length";
			return -PS_E_BAD_LENGTH;
		}
		if (!ps_header_name_ok(h.name, h.nlen)) {
			(void)snprintf(buf, PS_WHY_MAX, "header \"%s\": a "
			    "name is 1 to 64 bytes of a-z 0-9 - _ .",
			    shown(h.name, h.nlen, name));
			*why = buf;
			return -PS_E_BAD_VALUE;
		}
		if (h.vlen > PS_HEADER_VALUE_MAX) {
			(void)snprintf(buf, PS_WHY_MAX, "header \"%s\": its "
			    "value is %u bytes, over 1024", shown(h.name,
			    h.nlen, name), (unsigned)h.vlen);
			*why = buf;
			return -PS_E_BAD_VALUE;
		}
		if (++count > PS_HEADERS_MAX) {
			*why = "more than 16 headers";
			return -PS_E_BAD_VALUE;
		}
		if ((bytes += h.nlen + (size_t)h.vlen) > PS_HEADERS_BYTES_MAX) {
			*why = "headers over 4096 bytes (names and values)";
			return -PS_E_BAD_VALUE;
		}
		/* At most 16: a look at each before it. */
		prev = 0;
		while (prev < at && ps_header_next(p, at, &prev, &seen)) {
			if (seen.nlen == h.nlen &&
			    memcmp(seen.name, h.name, h.nlen) == 0) {
				(void)snprintf(buf, PS_WHY_MAX, "header "
				    "\"%s\" given twice", shown(h.name, h.nlen,
				    name));
				*why = buf;
				return -PS_E_BAD_VALUE;
			}
		}
	}
	return 0;
}
