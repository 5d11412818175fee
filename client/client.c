/* client.c: connect, handshake, and the request/reply steps of a client. */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "net.h"
#include "sockpath.h"

/* Each read asks the kernel for at least this much. */
#define READ_CHUNK	(64u * 1024)

static int	send_all(struct psc *);
static void	*ring_grow(const void *, size_t, size_t, size_t, size_t, size_t);
static int	send_upto(struct psc *, size_t);
static int	send_bytes(struct psc *, const uint8_t *, size_t);
static void	out_compact(struct psc *);
static int	fail(struct psc *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static int
fail(struct psc *c, int status, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return status;
}

int
psc_connect(struct psc *c, const char *path, const struct ps_hello *h)
{
	struct ps_frame		 f;
	struct ps_welcome	 w;
	int			 error;

	memset(c, 0, sizeof *c);
	c->path = path;
	snprintf(c->queue, sizeof c->queue, "%s", PS_QUEUE_DEFAULT);
	ps_decoder_init(&c->in, PS_MAX_FRAME_LIMIT);
	if (sockpath_private(path) && sockpath_dir_check(path, 0, c->err,
	    sizeof c->err) != 0)
		return PSC_ECONNECT;
	if ((c->fd = net_connect_unix(path)) == -1)
		return fail(c, PSC_ECONNECT, "no producerd at %s: %s", path,
		    strerror(errno));
	if (sockpath_private(path) && sockpath_peer_check(c->fd, path, c->err,
	    sizeof c->err) != 0)
		return PSC_ECONNECT;
	if (ps_put_hello(&c->out, h) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	if ((error = psc_flush(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if (f.type != PS_WELCOME || ps_get_welcome(&f, &w) != 0)
		return fail(c, PSC_EPROTO, "producerd at %s answered HELLO "
		    "with %s, not WELCOME", path, ps_type_name(f.type));
	if (w.version != h->version)
		return fail(c, PSC_EPROTO, "producerd at %s speaks protocol "
		    "version %u, not %u", path, w.version, h->version);
	c->welcome = w;
	c->version = w.version;
	c->max_frame = w.max_frame;
	c->in.max_frame = w.max_frame + PS_FRAME_OVER;
	return PSC_OK;
}

void
psc_close(struct psc *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	ps_decoder_free(&c->in);
	ps_buf_free(&c->out);
	ps_buf_free(&c->req);
	free(c->posts);
	c->posts = NULL;
	c->nposts = c->capposts = 0;
	free(c->dups);
	c->dups = NULL;
	c->ndups = c->dupcap = 0;
}

/*
 * The daemon closed while we wrote.  It says why in an ERROR frame before
 * it closes (a refusal, say), so read what it left and report that.
 */
static int
closed_early(struct psc *c, int error)
{
	struct ps_frame	 f;
	int		 r;

	while ((r = psc_next(c, &f)) == 0) {
		if (psc_read(c) != 0)
			break;
	}
	if (r == PSC_EPROTO)
		return r;		/* c->err has the daemon's words */
	return fail(c, PSC_EIO, "writing to producerd at %s: %s", c->path,
	    strerror(error));
}

/*
 * Nothing posted waits for an answer and no batch is being filled: the
 * buffer starts over.  (What it held stays readable until written over.)
 */
static void
out_reset(struct psc *c)
{
	if (c->nposts == 0 && c->batch_count == 0 && c->flushed == c->out.len)
		c->out.len = c->flushed = 0;
}

/* Write everything queued in out and not yet written. */
int
psc_flush(struct psc *c)
{
	int	 r;

	if ((r = send_all(c)) == PSC_OK)
		out_reset(c);
	return r;
}

/* What is queued and whole: all of out but a batch being filled. */
static int
send_all(struct psc *c)
{
	return send_upto(c, c->batch_count != 0 ? c->batch_start :
	    c->out.len);
}

/* Write out from where the last write ended up to end. */
static int
send_upto(struct psc *c, size_t end)
{
	int	 r;

	if (c->flushed >= end)
		return PSC_OK;
	if ((r = send_bytes(c, c->out.data + c->flushed, end - c->flushed)) ==
	    PSC_OK)
		c->flushed = end;
	return r;
}

/* All n bytes at p, however many writes it takes. */
static int
send_bytes(struct psc *c, const uint8_t *p, size_t n)
{
	ssize_t	 w;

	while (n != 0) {
		/* MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE. */
		if ((w = send(c->fd, p, n, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return closed_early(c, errno);
			return fail(c, PSC_EIO, "writing to producerd at %s: "
			    "%s", c->path, strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
	return PSC_OK;
}

/* One read of whatever has arrived; interrupted, it reads nothing. */
int
psc_read(struct psc *c)
{
	uint8_t	*p;
	size_t	 room;
	ssize_t	 n;

	if ((p = ps_decoder_space(&c->in, READ_CHUNK, &room)) == NULL)
		return fail(c, PSC_ENOMEM, "out of memory");
	if ((n = read(c->fd, p, room)) == -1) {
		if (errno == EINTR)
			return PSC_OK;
		return fail(c, PSC_EIO, "reading from producerd at %s: %s",
		    c->path, strerror(errno));
	}
	if (n == 0)
		return fail(c, PSC_EIO, "producerd at %s closed the "
		    "connection", c->path);
	ps_decoder_commit(&c->in, (size_t)n);
	return PSC_OK;
}

/* 1 and a frame, 0 if none is whole yet; an ERROR frame is an error. */
int
psc_next(struct psc *c, struct ps_frame *f)
{
	struct ps_error	 e;
	int		 r;

	if ((r = ps_decoder_next(&c->in, f)) < 0)
		return fail(c, PSC_EPROTO, "bad frame from producerd at %s: "
		    "%s", c->path, ps_strerror(r));
	if (r == 1 && f->type == PS_ERROR) {
		if (ps_get_error(f, &e) != 0)
			return fail(c, PSC_EPROTO, "bad ERROR frame from "
			    "producerd at %s", c->path);
		c->err_code = e.code;
		/* Refusals that pass: try again later. */
		return fail(c, e.code == PS_E_DRAINING || e.code ==
		    PS_E_STORAGE ? PSC_EAGAIN : PSC_EPROTO,
		    "producerd at %s: %.*s (error %u)", c->path,
		    (int)e.msg_len, e.msg, e.code);
	}
	return r;
}

/* Is another whole frame (or a bad one) already read? */
int
psc_more(const struct psc *c)
{
	struct ps_frame	 f;

	return ps_decoder_peek(&c->in, &f) != 0;
}

/* Block until a whole frame is there. */
int
psc_wait(struct psc *c, struct ps_frame *f)
{
	int	 r;

	for (;;) {
		if ((r = psc_next(c, f)) != 0)
			return r == 1 ? PSC_OK : r;
		if ((r = psc_read(c)) != 0)
			return r;
	}
}

/*
 * The queue the next batches, dead-letter requests and (with a name)
 * stats go to.  Only between batches: the one being filled is sent first.
 */
int
psc_set_queue(struct psc *c, const char *name)
{
	if (!ps_group_path_ok(name, strlen(name)))
		return fail(c, PSC_EINVAL, "queue name \"%s\" is not "
		    "QUEUE or QUEUE/GROUP, each 1 to %d bytes of A-Z a-z 0-9 "
		    ". _ : -", name, PS_QUEUE_MAX);
	if (c->batch_count != 0)
		return fail(c, PSC_EINVAL, "a batch for queue %s is being "
		    "filled; send it before naming another queue", c->queue);
	if (c->version != 0 && c->version < 3 &&
	    strcmp(name, PS_QUEUE_DEFAULT) != 0)
		return fail(c, PSC_EINVAL, "producerd at %s speaks "
		    "protocol %d, which has only the queue %s", c->path,
		    c->version, PS_QUEUE_DEFAULT);
	snprintf(c->queue, sizeof c->queue, "%s", name);
	return PSC_OK;
}

/* The queue part of c->queue: where batches go, whatever the group. */
static size_t
queue_len(const struct psc *c)
{
	return strcspn(c->queue, "/");
}

/* Body bytes of an ENQUEUE before its events: count and queue. */
static size_t
batch_head(const struct psc *c)
{
	return 4 + (c->version >= 3 ? 1 + queue_len(c) : 0);
}

/* Can it go in the batch being filled without passing the frame limit? */
int
psc_batch_fits(const struct psc *c, size_t len)
{
	return psc_batch_fits_key(c, -1, len);
}

/*
 * The same for an event with an attribute block of alen bytes (-1: none):
 * events with attributes take 2 bytes more than their block; a batch
 * without them takes 2 bytes an event when attributes come into it.
 */
int
psc_batch_fits_attrs(const struct psc *c, long alen, size_t len)
{
	size_t	 body, more;

	more = PS_ENQUEUE_PER_EVENT + (alen >= 0 ? 2 + (size_t)alen :
	    c->batch_attrs ? 2 : 0);
	if (c->batch_count == 0)
		body = batch_head(c);
	else {
		body = c->out.len - c->batch_start - PS_HDR_LEN;
		if (alen >= 0 && !c->batch_attrs)
			body += 2 * (size_t)c->batch_count;
	}
	return body + more + len <= c->max_frame;
}

/* An event with a key (klen 0 to 255; -1: none): the key's attribute. */
int
psc_batch_fits_key(const struct psc *c, int klen, size_t len)
{
	return psc_batch_fits_attrs(c, klen >= 0 ? 2 + (long)klen : -1, len);
}

/*
 * The batch being filled becomes one whose events have attributes: an
 * empty block (u16 0) goes after each event's length.
 */
static int
batch_to_attrs(struct psc *c)
{
	struct ps_buf	 b = { NULL, 0, 0 };
	size_t		 at, end = c->out.len, head = batch_head(c);
	uint32_t	 len, i;
	uint8_t		 zero[2] = { 0, 0 };

	at = c->batch_start + PS_HDR_LEN + head;
	for (i = 0; i < c->batch_count; i++) {
		len = (uint32_t)c->out.data[at] << 24 |
		    (uint32_t)c->out.data[at + 1] << 16 |
		    (uint32_t)c->out.data[at + 2] << 8 | c->out.data[at + 3];
		if (ps_buf_add(&b, c->out.data + at, 4) != 0 ||
		    ps_buf_add(&b, zero, 2) != 0 ||
		    ps_buf_add(&b, c->out.data + at + 4, len) != 0) {
			ps_buf_free(&b);
			return -1;
		}
		at += 4 + (size_t)len;
	}
	c->out.len = c->batch_start + PS_HDR_LEN + head;
	if (ps_buf_add(&c->out, b.data, b.len) != 0) {
		ps_buf_free(&b);
		c->out.len = end;	/* as it was: the events are still there */
		return -1;
	}
	ps_buf_free(&b);
	ps_put_enqueue_attrs(&c->out, c->batch_start);
	c->batch_attrs = 1;
	return 0;
}

int
psc_batch_add(struct psc *c, const void *data, uint32_t len)
{
	return psc_batch_add_key(c, NULL, -1, data, len);
}

/* An event into the batch being filled, with a key unless klen is -1. */
int
psc_batch_add_key(struct psc *c, const void *key, int klen, const void *data,
    uint32_t len)
{
	struct ps_attrs	 a;

	if (klen < 0)
		return psc_batch_add_attrs(c, NULL, data, len);
	if (klen > PS_KEY_MAX)
		return fail(c, PSC_EINVAL, "a key of %d bytes: at most "
		    "%d", klen, PS_KEY_MAX);
	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	a.key = key != NULL ? key : (const void *)"";
	a.klen = (uint8_t)klen;
	return psc_batch_add_attrs(c, &a, data, len);
}

/*
 * An event with attributes a (NULL: none; version 3), into the batch: a
 * batch whose events had none gets empty blocks first.
 */
int
psc_batch_add_attrs(struct psc *c, const struct ps_attrs *a,
    const void *data, uint32_t len)
{
	long	 alen = a != NULL ? (long)ps_attrs_size(a) : -1;

	if (a != NULL && c->version < 3)
		return fail(c, PSC_EINVAL, "producerd at %s speaks "
		    "protocol %d, which has no event attributes (keys, delays, "
		    "priorities, unique ids)", c->path, c->version);
	if (a != NULL && a->hlen != 0 && c->version < 5)
		return fail(c, PSC_EINVAL, "producerd at %s speaks "
		    "protocol %d: headers need 5", c->path, c->version);
	if (!psc_batch_fits_attrs(c, alen, len))
		return fail(c, PSC_ETOOBIG, "an event of %u bytes does not "
		    "fit in a frame of %u bytes (producerd --max-frame)", len,
		    c->max_frame);
	if (c->batch_count == 0) {
		out_compact(c);
		if (ps_put_enqueue_begin(&c->out, c->version, c->queue,
		    queue_len(c), &c->batch_start) != 0)
			return fail(c, PSC_ENOMEM, "out of memory");
		c->batch_attrs = 0;
	}
	if (a != NULL && !c->batch_attrs) {
		if (c->batch_count == 0) {
			ps_put_enqueue_attrs(&c->out, c->batch_start);
			c->batch_attrs = 1;
		} else if (batch_to_attrs(c) != 0)
			return fail(c, PSC_ENOMEM, "out of memory");
	}
	if (c->batch_attrs) {
		struct ps_attrs	 none;

		if (a == NULL) {
			memset(&none, 0, sizeof none);
			none.priority = PS_PRIORITY_DEFAULT;
			a = &none;
		}
		if (ps_put_enqueue_add_attrs(&c->out, a, data, len) != 0)
			return fail(c, PSC_ENOMEM, "out of memory");
	} else if (ps_put_enqueue_add(&c->out, data, len) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	c->batch_count++;
	return PSC_OK;
}

/* Give up the batch being filled; what is posted stays. */
void
psc_batch_clear(struct psc *c)
{
	if (c->batch_count == 0)
		return;
	c->out.len = c->batch_start;
	c->batch_count = 0;
	if (c->flushed > c->out.len)
		c->flushed = c->out.len;
	out_reset(c);
}

uint32_t
psc_batch_count(const struct psc *c)
{
	return c->batch_count;
}

/* f must be the ENQUEUED for an ENQUEUE of n events: into *r, or an error. */
static int
enqueued(struct psc *c, const struct ps_frame *f, uint32_t n,
    struct ps_enqueued *r)
{
	uint32_t	*d, i;

	if (ps_get_enqueued(f, r) != 0)
		return fail(c, PSC_EPROTO, "producerd at %s answered ENQUEUE "
		    "with %s", c->path, ps_type_name(f->type));
	if ((uint64_t)r->accepted + r->refused + r->shed_new +
	    r->duplicates != n ||
	    (c->welcome.version < 2 && r->accepted != n))
		return fail(c, PSC_EPROTO, "producerd at %s took %u of %u "
		    "events", c->path, r->accepted, n);
	/* The duplicates' indexes, kept past the next read. */
	if (r->duplicates > c->dupcap) {
		if ((d = reallocarray(c->dups, r->duplicates,
		    sizeof *d)) == NULL)
			return fail(c, PSC_ENOMEM, "out of memory");
		c->dups = d;
		c->dupcap = r->duplicates;
	}
	for (i = 0; i < r->duplicates; i++) {
		if ((c->dups[i] = ps_enqueued_dup(r, i)) >= n)
			return fail(c, PSC_EPROTO, "producerd at %s named "
			    "event %u of %u a duplicate", c->path, c->dups[i],
			    n);
	}
	c->ndups = r->duplicates;
	r->dup_p = NULL;
	return PSC_OK;
}

/*
 * Send the batch as one ENQUEUE and wait for the daemon's ENQUEUED.  When
 * its queue was full the reply says how many it refused: the batch is
 * kept, and psc_batch_refused makes an ENQUEUE of just those.  Nothing
 * posted may wait for an answer (psc_answer first).
 */
int
psc_batch_send(struct psc *c, struct ps_enqueued *r)
{
	struct ps_frame	 f;
	uint32_t	 n = c->batch_count;
	int		 error;

	if (n == 0)
		return fail(c, PSC_EPROTO, "empty batch");
	ps_put_enqueue_end(&c->out, c->batch_start, n);
	c->flushed = c->batch_start;
	if ((error = send_upto(c, c->out.len)) != 0 ||
	    (error = psc_wait(c, &f)) != 0 ||
	    (error = enqueued(c, &f, n, r)) != 0)
		return error;
	if (r->refused == 0) {
		c->batch_count = 0;
		out_reset(c);
	}
	return PSC_OK;
}

/*
 * Pipelining.  psc_post closes the batch as an ENQUEUE frame, to go out
 * with the next psc_flush, and keeps it (in out, unmoved) until its
 * answer; psc_answer takes the answer to the oldest posted.  A client
 * keeps several in flight so the daemon always has the next batch to read.
 */
int
psc_post(struct psc *c, uint64_t *seq)
{
	struct psc_post	*grown;
	size_t		 cap, at;

	if (c->batch_count == 0)
		return fail(c, PSC_EINVAL, "nothing to post: the batch "
		    "is empty");
	if (c->nposts == c->capposts) {
		cap = c->capposts ? c->capposts * 2 : 8;
		if ((grown = ring_grow(c->posts, c->headpost, c->nposts,
		    c->capposts, cap, sizeof *grown)) == NULL)
			return fail(c, PSC_ENOMEM, "out of memory");
		free(c->posts);
		c->posts = grown;
		c->capposts = cap;
		c->headpost = 0;
	}
	ps_put_enqueue_end(&c->out, c->batch_start, c->batch_count);
	at = (c->headpost + c->nposts++) % c->capposts;
	c->posts[at].off = c->batch_start;
	c->posts[at].count = c->batch_count;
	c->posts[at].seq = ++c->seq;
	c->batch_count = 0;
	if (seq != NULL)
		*seq = c->seq;
	return PSC_OK;
}

/*
 * Drop what answered frames took at the front of out, once that is half
 * of it: before a new batch starts, so an answer's frame stays readable
 * until then.
 */
static void
out_compact(struct psc *c)
{
	size_t	 i, n;

	if (c->batch_count != 0)
		return;
	/* Before the oldest posted frame, or what is written, nothing is kept. */
	n = c->nposts != 0 ? c->posts[c->headpost].off : c->flushed;
	if (n == 0 || n < c->out.len / 2)
		return;
	memmove(c->out.data, c->out.data + n, c->out.len - n);
	c->out.len -= n;
	c->flushed -= n;
	for (i = 0; i < c->nposts; i++)
		c->posts[(c->headpost + i) % c->capposts].off -= n;
}

/*
 * The answer to the oldest ENQUEUE posted: 1 with it in *a (its frame
 * stays readable until the next call that adds or posts), 0 when none has
 * arrived and block is 0, or an error.  With block, what is posted is
 * written first.
 */
int
psc_answer(struct psc *c, int block, struct psc_answer *a)
{
	struct ps_frame	 f;
	struct psc_post	*p;
	int		 r;

	if (c->nposts == 0)
		return 0;
	if (block) {
		if ((r = send_all(c)) != 0 || (r = psc_wait(c, &f)) != 0)
			return r;
	} else if ((r = psc_next(c, &f)) != 1)
		return r;
	p = &c->posts[c->headpost];
	if ((r = enqueued(c, &f, p->count, &a->r)) != 0)
		return r;
	a->seq = p->seq;
	a->count = p->count;
	a->frame = c->out.data + p->off;
	c->headpost = (c->headpost + 1) % c->capposts;
	c->nposts--;
	out_reset(c);
	return 1;
}

/*
 * After a reply with refused events: turn the batch just sent into one of
 * its last `refused` events (those the daemon did not take), in place.
 */
void
psc_batch_refused(struct psc *c, uint32_t refused)
{
	struct ps_enqueue_iter	 it;
	struct ps_frame		 f;
	struct ps_queue		 q;
	const uint8_t		*data, *tail;
	uint32_t		 n, len, skip;
	size_t			 body, head = batch_head(c);

	ps_frame_parse(c->out.data + c->batch_start, c->out.len -
	    c->batch_start, PS_MAX_FRAME_LIMIT, &f);
	ps_get_enqueue(&f, c->version, &q, &it, &n);
	for (skip = n - refused; skip != 0; skip--)
		ps_enqueue_next(&it, &data, &len);
	tail = it.p;
	body = (size_t)(f.body + f.len - tail);
	memmove(c->out.data + c->batch_start + PS_HDR_LEN + head, tail, body);
	c->out.len = c->batch_start + PS_HDR_LEN + head + body;
	c->flushed = c->batch_start;
	c->batch_count = refused;
	ps_put_enqueue_end(&c->out, c->batch_start, refused);
}

/*
 * Send the request built in req, after every whole frame queued in out:
 * a batch being filled stays where it is, to go on being filled.
 */
static int
request(struct psc *c)
{
	int	 r;

	c->err_code = 0;	/* this request's ERROR, if it has one */
	if ((r = send_all(c)) == PSC_OK)
		r = send_bytes(c, c->req.data, c->req.len);
	c->req.len = 0;
	if (r == PSC_OK)
		out_reset(c);
	return r;
}

/* Queue a DEMAND; psc_flush sends it, with whatever else is queued. */
int
psc_demand(struct psc *c, uint32_t n)
{
	if (ps_put_demand(&c->out, n) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	return PSC_OK;
}

/* Queue an ACK, NACK or TOUCH of n ids; psc_flush sends it. */
int
psc_ids(struct psc *c, uint8_t type, const uint64_t *ids, uint32_t n,
    uint32_t delay_ms)
{
	if ((type == PS_NACK_LATER ? ps_put_nack_later(&c->out, delay_ms, ids,
	    n) : ps_put_ids(&c->out, type, ids, n)) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	return PSC_OK;
}

int
psc_nack_error(struct psc *c, const struct ps_nack_error *n)
{
	if (ps_put_nack_error(&c->out, n) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	return PSC_OK;
}

/* ACK_RESULT: written after what else waits to go out. */
int
psc_ack_result(struct psc *c, uint64_t id, const void *result, uint32_t len)
{
	if (ps_put_ack_result(&c->out, id, result, len) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	return PSC_OK;
}

/*
 * WAIT for event id (0: by uid) of c's queue: answered when it ends or at
 * the timeout; r points into c's buffer until the next read.
 */
int
psc_wait_job(struct psc *c, uint64_t id, const void *uid, uint8_t ulen,
    uint32_t timeout_ms, struct ps_wait_reply *r)
{
	struct ps_frame	 f;
	int		 error;

	if (c->version < 5)
		return fail(c, PSC_EINVAL, "producerd at %s speaks protocol "
		    "version %d: waiting for an event needs 5", c->path,
		    c->version);
	if (ps_put_wait(&c->req, c->queue, strlen(c->queue), id, timeout_ms,
	    uid, ulen) != 0)
		return fail(c, PSC_EINVAL, "a WAIT names an id, or a unique id "
		    "of 1 to %d bytes", PS_UNIQUE_ID_MAX);
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if ((error = ps_get_wait_reply(&f, r)) != 0)
		return fail(c, PSC_EPROTO, "bad answer to WAIT from producerd "
		    "at %s: %s %s", c->path, ps_type_name(f.type),
		    ps_strerror(error));
	return PSC_OK;
}

/* JOBS of c's queue: a page; r points into c's buffer until the next read. */
int
psc_jobs(struct psc *c, struct ps_jobs_ask *a, struct ps_jobs_reply *r)
{
	struct ps_frame	 f;
	int		 error;

	if (c->version < 5)
		return fail(c, PSC_EINVAL, "producerd at %s speaks protocol "
		    "version %d: listing events needs 5", c->path, c->version);
	a->queue.name = c->queue;
	a->queue.len = strlen(c->queue);
	if (ps_put_jobs(&c->req, a) != 0)
		return fail(c, PSC_EINVAL, "a JOBS lists 1 to %d events with a "
		    "preview of at most %d", PS_JOBS_LIMIT_MAX, PS_PREVIEW_MAX);
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if ((error = ps_get_jobs_reply(&f, r)) != 0)
		return fail(c, PSC_EPROTO, "bad answer to JOBS from producerd "
		    "at %s: %s %s", c->path, ps_type_name(f.type),
		    ps_strerror(error));
	return PSC_OK;
}

/* The dead-letter list; r points into c's buffer until the next read. */
int
psc_dead_list(struct psc *c, uint32_t preview, struct ps_dead_reply *r)
{
	struct ps_frame	 f;
	int		 error;

	if (ps_put_dead_list(&c->req, c->version, c->queue, preview) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if ((error = ps_get_dead_reply(&f, c->version, r)) != 0)
		return fail(c, PSC_EPROTO, "bad answer to DEAD_LIST from "
		    "producerd at %s: %s %s", c->path, ps_type_name(f.type),
		    ps_strerror(error));
	return PSC_OK;
}

/* DEAD_RETRY or DEAD_DROP of n ids (0: all); *done: how many it found. */
int
psc_dead_act(struct psc *c, uint8_t type, const uint64_t *ids, uint32_t n,
    uint32_t *done)
{
	struct ps_frame	 f;
	int		 error;

	if (ps_put_dead_ids(&c->req, type, c->version, c->queue, ids, n) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if (ps_get_dead_done(&f, done) != 0)
		return fail(c, PSC_EPROTO, "producerd at %s answered %s with "
		    "%s", c->path, ps_type_name(type), ps_type_name(f.type));
	return PSC_OK;
}

/*
 * JOB of the queue (or group) c names: event id, or the event of unique
 * id uid (id 0); j points into c's buffer until the next read.
 */
int
psc_job(struct psc *c, uint64_t id, const void *uid, uint8_t ulen,
    uint16_t preview, struct ps_job *j)
{
	struct ps_frame	 f;
	int		 error;

	if (c->version < 5)
		return fail(c, PSC_EINVAL, "producerd at %s speaks protocol "
		    "version %d: finding an event needs 5", c->path,
		    c->version);
	if (ps_put_job(&c->req, c->queue, strlen(c->queue), id, preview, uid,
	    ulen) != 0)
		return fail(c, PSC_EINVAL, "a JOB names an id, or a unique id "
		    "of 1 to %d bytes; a preview of at most %d", PS_UNIQUE_ID_MAX,
		    PS_PREVIEW_MAX);
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if ((error = ps_get_job_reply(&f, j)) != 0)
		return fail(c, PSC_EPROTO, "bad answer to JOB from producerd "
		    "at %s: %s %s", c->path, ps_type_name(f.type),
		    ps_strerror(error));
	return PSC_OK;
}

/*
 * JOB_CANCEL of c's queue: n ids, or (n 0) one unique id; what was done,
 * in *r, points into c's read buffer until the next read.
 */
int
psc_job_cancel(struct psc *c, const uint64_t *ids, uint32_t n,
    const void *uid, uint8_t ulen, struct ps_cancel_reply *r)
{
	struct ps_frame	 f;
	int		 error;

	if (c->version < 5)
		return fail(c, PSC_EINVAL, "producerd at %s speaks protocol "
		    "version %d: cancelling an event needs 5", c->path,
		    c->version);
	if (ps_put_job_cancel(&c->req, c->queue, strlen(c->queue), ids, n,
	    uid, ulen) != 0)
		return fail(c, PSC_EINVAL, "a JOB_CANCEL names ids, or a unique "
		    "id of 1 to %d bytes", PS_UNIQUE_ID_MAX);
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if ((error = ps_get_cancel_reply(&f, r)) != 0 ||
	    r->count != (n != 0 ? n : 1))
		return fail(c, PSC_EPROTO, "bad answer to JOB_CANCEL from "
		    "producerd at %s: %s %s", c->path, ps_type_name(f.type),
		    ps_strerror(error != 0 ? error : PS_E_BAD_LENGTH));
	return PSC_OK;
}

/* The whole daemon's (queue NULL), or one queue's and its consumers. */
int
psc_stats(struct psc *c, const char *queue, struct ps_stats *st)
{
	struct ps_frame	 f;
	int		 error;

	if (queue != NULL && c->version < 3)
		return fail(c, PSC_EINVAL, "producerd at %s speaks "
		    "protocol %d, which has no queues", c->path, c->version);
	if (queue != NULL && !ps_group_path_ok(queue, strlen(queue)))
		return fail(c, PSC_EINVAL, "queue name \"%s\" is not "
		    "QUEUE or QUEUE/GROUP, each 1 to %d bytes of A-Z a-z 0-9 "
		    ". _ : -", queue, PS_QUEUE_MAX);
	if (ps_put_stats(&c->req, c->version, queue) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if (f.type != PS_STATS_REPLY)
		return fail(c, PSC_EPROTO, "producerd at %s answered STATS "
		    "with %s", c->path, ps_type_name(f.type));
	if ((error = ps_get_stats_reply(&f, st)) != 0)
		return fail(c, PSC_EPROTO, "bad STATS_REPLY from producerd at "
		    "%s: %s", c->path, ps_strerror(error));
	return PSC_OK;
}

/*
 * The queues from the start-th (in the order they were made) on, as many
 * as one frame holds, with their counters; qs is the caller's to free.
 */
int
psc_queues(struct psc *c, uint32_t start, struct ps_queues *qs)
{
	struct ps_frame	 f;
	int		 error;

	if (c->version < 3)
		return fail(c, PSC_EINVAL, "producerd at %s speaks "
		    "protocol %d, which has no queues", c->path, c->version);
	if (ps_put_queues(&c->req, start) != 0)
		return fail(c, PSC_ENOMEM, "out of memory");
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if (f.type != PS_QUEUES_REPLY)
		return fail(c, PSC_EPROTO, "producerd at %s answered QUEUES "
		    "with %s", c->path, ps_type_name(f.type));
	if ((error = ps_get_queues_reply(&f, qs)) != 0)
		return fail(c, PSC_EPROTO, "bad QUEUES_REPLY from producerd "
		    "at %s: %s", c->path, ps_strerror(error));
	return PSC_OK;
}

/* A queue's (a group's) counts per task name, from the start-th row. */
int
psc_task_stats(struct psc *c, const char *queue, uint32_t start,
    struct ps_task_stats *ts)
{
	struct ps_frame	 f;
	int		 error;

	if (c->version < 5)
		return fail(c, PSC_EINVAL, "producerd at %s speaks protocol "
		    "version %d: counts per task need 5", c->path, c->version);
	if (ps_put_task_stats(&c->req, queue, strlen(queue), start) != 0)
		return fail(c, PSC_EINVAL, "\"%s\" is not a queue or group "
		    "name of 1 to %d bytes", queue, PS_PATH_MAX);
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if (f.type != PS_TASK_STATS_REPLY)
		return fail(c, PSC_EPROTO, "producerd at %s answered "
		    "TASK_STATS with %s", c->path, ps_type_name(f.type));
	if ((error = ps_get_task_stats_reply(&f, ts)) != 0)
		return fail(c, PSC_EPROTO, "bad TASK_STATS_REPLY from "
		    "producerd at %s: %s", c->path, ps_strerror(error));
	return PSC_OK;
}

/* A QUEUE_ADMIN; *n: what QUEUE_DONE counts (events purged). */
int
psc_queue_admin(struct psc *c, uint8_t op, uint8_t flags, const char *queue,
    const char * const *settings, uint16_t nsettings, uint64_t *n)
{
	struct ps_frame	 f;
	int		 error;

	if (c->version < 3)
		return fail(c, PSC_EINVAL, "producerd at %s speaks "
		    "protocol %d, which has no queues", c->path, c->version);
	if (!ps_group_path_ok(queue, strlen(queue)) || (op != PS_QUEUE_DROP_GROUP &&
	    strchr(queue, '/') != NULL))
		return fail(c, PSC_EINVAL, "queue name \"%s\" is not "
		    "%s, each 1 to %d bytes of A-Z a-z 0-9 . _ : -", queue,
		    op == PS_QUEUE_DROP_GROUP ? "QUEUE/GROUP" : "a queue's name",
		    PS_QUEUE_MAX);
	if ((error = ps_put_queue_admin(&c->req, op, flags, queue, settings,
	    nsettings)) != 0)
		return fail(c, error == -PS_E_NOMEM ? PSC_ENOMEM :
		    PSC_EINVAL, "QUEUE_ADMIN: %s", ps_strerror(error));
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if (ps_get_queue_done(&f, n) != 0)
		return fail(c, PSC_EPROTO, "producerd at %s answered "
		    "QUEUE_ADMIN with %s", c->path, ps_type_name(f.type));
	return PSC_OK;
}

/* Send the SCHEDULE built in req and take its SCHEDULE_REPLY into *r. */
static int
schedule_reply(struct psc *c, struct ps_schedule_reply *r)
{
	struct ps_frame	 f;
	size_t		 body = c->req.len - PS_HDR_LEN;
	int		 error;

	if (body > c->max_frame) {
		c->req.len = 0;
		return fail(c, PSC_ETOOBIG, "a SCHEDULE of %zu bytes is over "
		    "the %u that producerd at %s takes (its --max-frame)",
		    body, c->max_frame, c->path);
	}
	if ((error = request(c)) != 0 || (error = psc_wait(c, &f)) != 0)
		return error;
	if (f.type != PS_SCHEDULE_REPLY)
		return fail(c, PSC_EPROTO, "producerd at %s answered SCHEDULE "
		    "with %s", c->path, ps_type_name(f.type));
	if ((error = ps_get_schedule_reply(&f, r)) != 0)
		return fail(c, PSC_EPROTO, "bad SCHEDULE_REPLY from producerd "
		    "at %s: %s", c->path, ps_strerror(error));
	return PSC_OK;
}

static int
schedule_version(struct psc *c)
{
	if (c->version < 5)
		return fail(c, PSC_EINVAL, "producerd at %s speaks protocol "
		    "version %d: schedules need 5", c->path, c->version);
	return PSC_OK;
}

/*
 * A SCHEDULE but ADD: REMOVE, PAUSE, RESUME, RUN_NOW of the schedule
 * name, or LIST of it (name NULL: of every one, from the start-th).  The
 * entries in *r point into c's read buffer until the next read.
 */
int
psc_schedule(struct psc *c, uint8_t op, const char *name, uint32_t start,
    struct ps_schedule_reply *r)
{
	int	 error;

	if ((error = schedule_version(c)) != 0)
		return error;
	if ((error = ps_put_schedule(&c->req, op, 0, name, start)) != 0)
		return fail(c, error == -PS_E_NOMEM ? PSC_ENOMEM : PSC_EINVAL,
		    "SCHEDULE: %s", ps_strerror(error));
	return schedule_reply(c, r);
}

/*
 * An ADD: the event's attributes a (NULL: none) go as an ENQUEUE's block
 * would carry them, which the encoder of a batch's event writes; its
 * length and payload fields (6 bytes, payload 0) are left out.
 */
int
psc_schedule_add(struct psc *c, uint8_t flags, const char *name,
    const char *queue, const char * const *settings, uint16_t n,
    const struct ps_attrs *a, const void *data, uint32_t len,
    struct ps_schedule_reply *r)
{
	struct ps_buf	 attrs = { NULL, 0, 0 };
	const uint8_t	*block = NULL;
	uint16_t	 alen = 0;
	int		 error;

	if ((error = schedule_version(c)) != 0)
		return error;
	if (a != NULL) {
		if ((error = ps_put_enqueue_add_attrs(&attrs, a, NULL,
		    0)) != 0) {
			ps_buf_free(&attrs);
			return fail(c, error == -PS_E_NOMEM ? PSC_ENOMEM :
			    PSC_EINVAL, "the schedule's event: %s",
			    ps_strerror(error));
		}
		alen = (uint16_t)(attrs.data[4] << 8 | attrs.data[5]);
		block = attrs.data + 6;
	}
	error = ps_put_schedule_add(&c->req, flags, name, queue, settings, n,
	    block, alen, data, len);
	ps_buf_free(&attrs);
	if (error != 0)
		return fail(c, error == -PS_E_NOMEM ? PSC_ENOMEM : PSC_EINVAL,
		    "SCHEDULE: %s (a setting is at most %d bytes)",
		    ps_strerror(error), PS_SCHED_FIELD_MAX);
	return schedule_reply(c, r);
}

/* The window starts full: ask max at first. */
void
psc_window_init(struct psc_window *w, uint32_t max, uint32_t min)
{
	memset(w, 0, sizeof *w);
	w->max = max;
	w->min = min;
	w->pending = max;
}

void
psc_window_free(struct psc_window *w)
{
	free(w->chunks);
	w->chunks = NULL;
	w->cap = w->nchunks = 0;
}

/*
 * A ring of n elements of size bytes, the first at head of cap, in order
 * at the start of a new array of newcap; NULL out of memory.
 */
static void *
ring_grow(const void *ring, size_t head, size_t n, size_t cap, size_t newcap,
    size_t size)
{
	unsigned char	*grown;
	size_t		 i;

	if ((grown = calloc(newcap, size)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		memcpy(grown + i * size, (const unsigned char *)ring +
		    (head + i) % cap * size, size);
	return grown;
}

/* The open chunk is closed: to the ring.  -1 out of memory. */
static int
window_close(struct psc_window *w)
{
	uint32_t	*grown;
	size_t		 cap;

	if (w->open == 0)
		return 0;
	if (w->nchunks == w->cap) {
		cap = w->cap ? w->cap * 2 : 16;
		if ((grown = ring_grow(w->chunks, w->head, w->nchunks, w->cap,
		    cap, sizeof *grown)) == NULL)
			return -1;
		free(w->chunks);
		w->chunks = grown;
		w->cap = cap;
		w->head = 0;
	}
	w->chunks[(w->head + w->nchunks++) % w->cap] = w->open;
	w->open = 0;
	return 0;
}

/*
 * One event received; last says no other whole frame is buffered behind
 * it, which ends the delivery.  -1 out of memory.
 */
int
psc_window_received(struct psc_window *w, int last)
{
	w->held++;
	if (++w->open == w->max - w->min || last)
		return window_close(w);
	return 0;
}

/* One event finished: the demand to ask for now, or 0. */
uint32_t
psc_window_done(struct psc_window *w)
{
	uint32_t	 ask = 0, size;

	if (w->held == 0)
		return 0;
	w->held--;
	w->done++;
	while (w->nchunks != 0 && w->done >= (size = w->chunks[w->head])) {
		w->done -= size;
		w->head = (w->head + 1) % w->cap;
		w->nchunks--;
		w->pending = w->pending > size ? w->pending - size : 0;
		if (w->pending <= w->min) {
			ask += w->max - w->pending;
			w->pending = w->max;
		}
	}
	return ask;
}
