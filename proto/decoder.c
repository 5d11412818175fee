/*
 * decoder.c: the incremental stream decoder.  Bytes go in however they were
 * split; whole frames come out.  It holds at most one frame's worth of
 * unconsumed input beyond what the caller last fed.
 */
#include <string.h>

#include "bytes.h"
#include "frame.h"

void
ps_decoder_init(struct ps_decoder *d, uint32_t max_frame)
{
	memset(d, 0, sizeof *d);
	d->max_frame = max_frame;
}

void
ps_decoder_free(struct ps_decoder *d)
{
	ps_buf_free(&d->in);
	d->off = 0;
}

/* Drop consumed bytes so the buffer does not creep forward for ever. */
static void
compact(struct ps_decoder *d)
{
	if (d->off == 0)
		return;
	if (d->off < d->in.len)
		memmove(d->in.data, d->in.data + d->off, d->in.len - d->off);
	d->in.len -= d->off;
	d->off = 0;
}

int
ps_decoder_feed(struct ps_decoder *d, const void *p, size_t n)
{
	compact(d);
	return ps_buf_add(&d->in, p, n);
}

/*
 * Hold at most limit unconsumed bytes (at least one whole frame and its
 * header): ps_decoder_space then offers no more room than that, whatever
 * the reader does not take.
 */
void
ps_decoder_limit(struct ps_decoder *d, size_t limit)
{
	if (limit < PS_HDR_LEN + (size_t)d->max_frame)
		limit = PS_HDR_LEN + (size_t)d->max_frame;
	d->limit = limit;
}

/*
 * Room for at least min bytes to be read straight in (less under the
 * limit, and none once it is reached); commit what was.
 */
uint8_t *
ps_decoder_space(struct ps_decoder *d, size_t min, size_t *avail)
{
	size_t	 room;

	compact(d);
	if (d->limit != 0 && min > d->limit - d->in.len)
		min = d->in.len < d->limit ? d->limit - d->in.len : 0;
	if (ps_buf_reserve(&d->in, min) != 0)
		return NULL;
	room = d->in.cap - d->in.len;
	if (d->limit != 0 && room > d->limit - d->in.len)
		room = d->in.len < d->limit ? d->limit - d->in.len : 0;
	*avail = room;
	return d->in.data + d->in.len;
}

/* Has it as much unconsumed as its limit allows? */
int
ps_decoder_full(const struct ps_decoder *d)
{
	return d->limit != 0 && d->in.len - d->off >= d->limit;
}

void
ps_decoder_commit(struct ps_decoder *d, size_t n)
{
	d->in.len += n;
}

/*
 * 1 and the next frame, left in place until ps_decoder_skip; 0 when more
 * bytes are needed; or -PS_E_* for a bad header, with f's type and len
 * as the header gave them, for the error message.
 */
int
ps_decoder_peek(const struct ps_decoder *d, struct ps_frame *f)
{
	const uint8_t	*p;
	size_t		 n = d->in.len - d->off;
	long		 r;

	if (d->in.data == NULL || n < PS_HDR_LEN)
		return 0;
	p = d->in.data + d->off;
	if ((r = ps_frame_parse(p, n, d->max_frame, f)) >= 0)
		return r > 0;
	f->type = p[4];
	f->flags = p[5];
	f->len = get32(p);
	f->body = NULL;
	return (int)r;
}

/* Consume the frame ps_decoder_peek returned. */
void
ps_decoder_skip(struct ps_decoder *d, const struct ps_frame *f)
{
	d->off += PS_HDR_LEN + (size_t)f->len;
}

/* 1 and a frame, 0 when more bytes are needed, or -PS_E_*. */
int
ps_decoder_next(struct ps_decoder *d, struct ps_frame *f)
{
	int	 r;

	if ((r = ps_decoder_peek(d, f)) == 1)
		ps_decoder_skip(d, f);
	return r;
}

size_t
ps_decoder_pending(const struct ps_decoder *d)
{
	return d->in.len - d->off;
}
