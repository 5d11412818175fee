/*
 * decoder.c: the incremental stream decoder.  Bytes go in however they were
 * split; whole frames come out.  It holds at most one frame's worth of
 * unconsumed input beyond what the caller last fed.
 */
#include <string.h>

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

/* Room for at least min bytes to be read straight in; commit what was. */
uint8_t *
ps_decoder_space(struct ps_decoder *d, size_t min, size_t *avail)
{
	compact(d);
	if (ps_buf_reserve(&d->in, min) != 0)
		return NULL;
	*avail = d->in.cap - d->in.len;
	return d->in.data + d->in.len;
}

void
ps_decoder_commit(struct ps_decoder *d, size_t n)
{
	d->in.len += n;
}

/* 1 and a frame, 0 when more bytes are needed, or -PS_E_*. */
int
ps_decoder_next(struct ps_decoder *d, struct ps_frame *f)
{
	long	 n;

	if (d->in.data == NULL)
		return 0;
	n = ps_frame_parse(d->in.data + d->off, d->in.len - d->off,
	    d->max_frame, f);
	if (n <= 0)
		return (int)n;
	d->off += (size_t)n;
	return 1;
}

size_t
ps_decoder_pending(const struct ps_decoder *d)
{
	return d->in.len - d->off;
}
