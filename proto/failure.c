/*
 * failure.c: an event's failures as bytes, the layout a JOB_REPLY and
 * the journal's FAIL records share (frame.h): u64 at, u32 attempt, u8
 * length and the consumer's id, u16 length and the error.
 */
#include <string.h>

#include "bytes.h"
#include "frame.h"

/* f at p (room for PS_FAILURE_HEAD and its texts): past it. */
uint8_t *
ps_failure_put(uint8_t *p, const struct ps_failure *f)
{
	put64(p, f->at);
	put32(p + 8, f->attempt);
	p[12] = f->wlen;
	if (f->wlen != 0)
		memcpy(p + 13, f->who, f->wlen);
	p += 13 + f->wlen;
	put16(p, f->elen);
	if (f->elen != 0)
		memcpy(p + 2, f->err, f->elen);
	return p + 2 + f->elen;
}

/* The failure at p (checked by ps_failures_check): past it. */
const uint8_t *
ps_failure_get(const uint8_t *p, struct ps_failure *f)
{
	f->at = get64(p);
	f->attempt = get32(p + 8);
	f->wlen = p[12];
	f->who = (const char *)p + 13;
	f->elen = get16(p + 13 + f->wlen);
	f->err = p + 15 + f->wlen;
	return p + 15 + f->wlen + f->elen;
}

/*
 * Are the n bytes at p at least the n failures given, whole?  0 and
 * *len, the bytes they take; -1 if they run past.
 */
int
ps_failures_check(const uint8_t *p, size_t rem, uint8_t n, size_t *len)
{
	size_t	 at = 0, w, e;
	uint8_t	 i;

	for (i = 0; i < n; i++) {
		if (rem - at < PS_FAILURE_HEAD)
			return -1;
		w = p[at + 12];
		if (w > rem - at - PS_FAILURE_HEAD)
			return -1;
		e = get16(p + at + 13 + w);
		if (e > rem - at - PS_FAILURE_HEAD - w)
			return -1;
		at += PS_FAILURE_HEAD + w + e;
	}
	*len = at;
	return 0;
}
