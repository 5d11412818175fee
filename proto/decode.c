/*
 * decode.c: bytes to structs.  Every length is checked against what is
 * really there before it is used, and against the frame limit before any
 * allocation.  No I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "frame.h"

static const char *errors[] = {
	[0] = "no error",
	[PS_E_TOO_LARGE] = "frame larger than the limit",
	[PS_E_BAD_HEADER] = "reserved header bits set",
	[PS_E_UNKNOWN_TYPE] = "unknown frame type",
	[PS_E_BAD_LENGTH] = "frame length wrong for its type",
	[PS_E_BAD_VALUE] = "field value out of range",
	[PS_E_BAD_STATE] = "frame not allowed in this role or state",
	[PS_E_VERSION] = "protocol version not supported",
	[PS_E_DEMAND] = "demand over the consumer's max_demand",
	[PS_E_NOMEM] = "out of memory",
	[PS_E_DRAINING] = "the daemon is draining",
	[PS_E_NOT_IN_FLIGHT] = "id not in flight on this connection",
	[PS_E_FORBIDDEN] = "not allowed to connect",
	[PS_E_TOO_MANY] = "too many connections",
	[PS_E_TIMEOUT] = "no HELLO in time",
	[PS_E_STORAGE] = "no room to store events now",
	[PS_E_NO_QUEUE] = "no such queue",
	[PS_E_QUEUE_LIMIT] = "too many queues",
	[PS_E_QUEUE_BUSY] = "the queue has consumers",
	[PS_E_NO_EVENT] = "no such event waiting or in flight",
	[PS_E_NO_SCHEDULE] = "no such schedule",
	[PS_E_EXISTS] = "a schedule of that name is defined otherwise",
};

const char *
ps_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code > PS_E_MAX)
		return "unknown error";
	return errors[code];
}

static const char *types[] = {
	[PS_HELLO] = "HELLO",
	[PS_WELCOME] = "WELCOME",
	[PS_ENQUEUE] = "ENQUEUE",
	[PS_ENQUEUED] = "ENQUEUED",
	[PS_DEMAND] = "DEMAND",
	[PS_EVENT] = "EVENT",
	[PS_STATS] = "STATS",
	[PS_STATS_REPLY] = "STATS_REPLY",
	[PS_ERROR] = "ERROR",
	[PS_ACK] = "ACK",
	[PS_NACK] = "NACK",
	[PS_TOUCH] = "TOUCH",
	[PS_DEAD_LIST] = "DEAD_LIST",
	[PS_DEAD_LIST_REPLY] = "DEAD_LIST_REPLY",
	[PS_DEAD_RETRY] = "DEAD_RETRY",
	[PS_DEAD_DROP] = "DEAD_DROP",
	[PS_DEAD_DONE] = "DEAD_DONE",
	[PS_QUEUES] = "QUEUES",
	[PS_QUEUES_REPLY] = "QUEUES_REPLY",
	[PS_QUEUE_ADMIN] = "QUEUE_ADMIN",
	[PS_QUEUE_DONE] = "QUEUE_DONE",
	[PS_NACK_LATER] = "NACK_LATER",
	[PS_NACK_ERROR] = "NACK_ERROR",
	[PS_JOB] = "JOB",
	[PS_JOB_REPLY] = "JOB_REPLY",
	[PS_CANCEL] = "CANCEL",
	[PS_JOB_CANCEL] = "JOB_CANCEL",
	[PS_JOB_CANCEL_REPLY] = "JOB_CANCEL_REPLY",
	[PS_ACK_RESULT] = "ACK_RESULT",
	[PS_WAIT] = "WAIT",
	[PS_WAIT_REPLY] = "WAIT_REPLY",
	[PS_JOBS] = "JOBS",
	[PS_JOBS_REPLY] = "JOBS_REPLY",
	[PS_TASK_STATS] = "TASK_STATS",
	[PS_TASK_STATS_REPLY] = "TASK_STATS_REPLY",
	[PS_SCHEDULE] = "SCHEDULE",
	[PS_SCHEDULE_REPLY] = "SCHEDULE_REPLY",
};

const char *
ps_type_name(int type)
{
	if (type < 1 || type > PS_TYPE_MAX)
		return "UNKNOWN";
	return types[type];
}

/* A whole frame's size from its header; 0 if n < PS_HDR_LEN; or -PS_E_*. */
long
ps_frame_size(const uint8_t *p, size_t n, uint32_t max)
{
	uint32_t	 len;

	if (n < PS_HDR_LEN)
		return 0;
	len = get32(p);
	if (len > max)
		return -PS_E_TOO_LARGE;
	if (p[4] < 1 || p[4] > PS_TYPE_MAX)
		return -PS_E_UNKNOWN_TYPE;
	if ((p[5] != 0 && ((p[4] != PS_ENQUEUE && p[4] != PS_EVENT) ||
	    p[5] != PS_F_ATTRS)) ||
	    get16(p + 6) != 0)
		return -PS_E_BAD_HEADER;
	return (long)(PS_HDR_LEN + (size_t)len);
}

long
ps_frame_parse(const uint8_t *p, size_t n, uint32_t max, struct ps_frame *f)
{
	long	 size;

	if ((size = ps_frame_size(p, n, max)) <= 0 || (size_t)size > n)
		return size > 0 ? 0 : size;
	f->type = p[4];
	f->flags = p[5];
	f->len = (uint32_t)size - PS_HDR_LEN;
	f->body = p + PS_HDR_LEN;
	return size;
}

/* 1 to 64 bytes of A-Z a-z 0-9 . _ : - */
int
ps_queue_name_ok(const char *s, size_t n)
{
	size_t	 i;
	char	 c;

	if (n == 0 || n > PS_QUEUE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * "QUEUE", "QUEUE/" (its shared group) or "QUEUE/GROUP": a group of a
 * queue, as consumers, STATS and the dead-letter frames name it.
 */
int
ps_group_path_ok(const char *s, size_t n)
{
	const char	*slash;
	size_t		 q;

	if ((slash = memchr(s, '/', n)) == NULL)
		return ps_queue_name_ok(s, n);
	q = (size_t)(slash - s);
	return ps_queue_name_ok(s, q) && (n == q + 1 ||
	    ps_queue_name_ok(slash + 1, n - q - 1));
}

/* Version 3 on: the HELLO's layout depends on its own version field. */
int
ps_get_hello(const struct ps_frame *f, struct ps_hello *h)
{
	const uint8_t	*p = f->body;
	uint32_t	 n;

	if (f->type != PS_HELLO || f->len < 13)
		return -PS_E_BAD_LENGTH;
	h->version = get16(p);
	n = 13u + p[12];
	/*
	 * From version 3 a queue follows the name.  A version this code
	 * does not know may have any layout: the shape of version 2 is taken
	 * too, so that the daemon can say which versions it speaks.
	 */
	h->has_partition = 0;
	h->partition = 0;
	if (h->version >= 3 && f->len > n && (f->len == n + 1 + p[n] ||
	    f->len == n + 3 + p[n])) {
		h->queue_len = p[n];
		h->queue = (const char *)p + n + 1;
		/* Then, from a consumer of a partition, its number. */
		if (f->len == n + 3 + p[n]) {
			h->has_partition = 1;
			h->partition = get16(p + n + 1 + p[n]);
			if (h->partition >= PS_PARTITIONS_MAX)
				return -PS_E_BAD_VALUE;
		}
	} else if (f->len == n) {
		h->queue_len = 0;
		h->queue = NULL;
	} else
		return -PS_E_BAD_LENGTH;
	if (p[3] != 0)
		return -PS_E_BAD_VALUE;
	h->role = p[2];
	h->max_demand = get32(p + 4);
	h->min_demand = get32(p + 8);
	h->name_len = p[12];
	h->name = (const char *)p + 13;
	return 0;
}

/*
 * A version 3 body's leading queue name (u8 length, 1 to 64 bytes; its
 * characters are the daemon's to check); before 3, PS_QUEUE_DEFAULT.
 * The bytes after it, or NULL when the body is too short.
 */
static const uint8_t *
get_queue(const struct ps_frame *f, int version, struct ps_queue *q)
{
	if (version < 3) {
		q->len = sizeof PS_QUEUE_DEFAULT - 1;
		q->name = PS_QUEUE_DEFAULT;
		return f->body;
	}
	if (f->len < 1 || f->body[0] == 0 || f->body[0] > PS_PATH_MAX ||
	    f->len < 1u + f->body[0])
		return NULL;
	q->len = f->body[0];
	q->name = (const char *)f->body + 1;
	return f->body + 1 + q->len;
}

int
ps_get_welcome(const struct ps_frame *f, struct ps_welcome *w)
{
	const uint8_t	*p = f->body;

	memset(w, 0, sizeof *w);
	if (f->type != PS_WELCOME || f->len < 8)
		return -PS_E_BAD_LENGTH;
	w->version = get16(p);
	if (f->len != (w->version < 2 ? 8u : 16u))
		return -PS_E_BAD_LENGTH;
	if (get16(p + 2) != 0)
		return -PS_E_BAD_VALUE;
	w->max_frame = get32(p + 4);
	if (w->version < 2) {
		w->delivery = PS_AT_MOST_ONCE;
		return 0;
	}
	if (p[15] != 0 || (p[14] != PS_AT_LEAST_ONCE &&
	    p[14] != PS_AT_MOST_ONCE))
		return -PS_E_BAD_VALUE;
	w->ack_timeout_ms = get32(p + 8);
	w->max_attempts = get16(p + 12);
	w->delivery = p[14];
	return 0;
}

/* Each attribute's name, and the length its value must have (-1: any). */
static const struct {
	const char	*name;
	int		 len;
	const char	*twice;		/* why, when given twice */
} attr_info[] = {
	[PS_ATTR_KEY] = { "KEY", -1, "KEY given twice" },
	[PS_ATTR_DELAY] = { "DELAY", 8, "DELAY given twice" },
	[PS_ATTR_NOT_BEFORE] = { "NOT_BEFORE", 8, "NOT_BEFORE given twice" },
	[PS_ATTR_PRIORITY] = { "PRIORITY", 2, "PRIORITY given twice" },
	[PS_ATTR_UNIQUE_ID] = { "UNIQUE_ID", -1, "UNIQUE_ID given twice" },
};
#define ATTR_LAST	PS_ATTR_UNIQUE_ID

/*
 * An event's attributes: tag, length, value, each known and once, into
 * a; from version 5, then its HEADERs (a->hdr).  An attribute this code
 * does not know is refused: a daemon must not drop what a client asked
 * for (a delay, say) without saying so.  *why says what was wrong (in
 * buf, PS_WHY_MAX bytes, when it names a header).
 */
int
ps_get_attrs(const uint8_t *p, uint16_t n, int version, struct ps_attrs *a,
    const char **why, char *buf)
{
	uint16_t	 off;
	unsigned	 seen = 0, tag, len;
	int		 error;

	memset(a, 0, sizeof *a);
	a->priority = PS_PRIORITY_DEFAULT;
	for (off = 0; off < n; off += 2 + len) {
		if (version >= 5 && p[off] >= PS_ATTR_LONG) {
			/* The headers, the rest of the block. */
			if ((error = ps_headers_check(p + off,
			    (uint16_t)(n - off), why, buf)) != 0)
				return error;
			a->hdr = p + off;
			a->hlen = (uint16_t)(n - off);
			break;
		}
		if (n - off < 2 || p[off + 1] > n - off - 2) {
			*why = "an attribute runs past its block";
			return -PS_E_BAD_LENGTH;
		}
		tag = p[off];
		len = p[off + 1];
		if (tag == 0 || tag > ATTR_LAST) {
			*why = "an attribute of unknown tag";
			return -PS_E_BAD_VALUE;
		}
		if (seen & 1u << tag) {
			*why = attr_info[tag].twice;
			return -PS_E_BAD_VALUE;
		}
		seen |= 1u << tag;
		if (attr_info[tag].len >= 0 &&
		    len != (unsigned)attr_info[tag].len) {
			*why = tag == PS_ATTR_PRIORITY ? "PRIORITY must be 2 "
			    "bytes (0 to 65535)" : tag == PS_ATTR_DELAY ?
			    "DELAY must be 8 bytes (ms)" : "NOT_BEFORE must be "
			    "8 bytes (ms since 1970)";
			return -PS_E_BAD_LENGTH;
		}
		switch (tag) {
		case PS_ATTR_KEY:
			a->key = p + off + 2;
			a->klen = (uint8_t)len;
			break;
		case PS_ATTR_DELAY:
			a->when = PS_WHEN_DELAY;
			a->delay = get64(p + off + 2);
			break;
		case PS_ATTR_NOT_BEFORE:
			a->when = PS_WHEN_AT;
			a->not_before = get64(p + off + 2);
			break;
		case PS_ATTR_PRIORITY:
			a->priority = get16(p + off + 2);
			break;
		case PS_ATTR_UNIQUE_ID:
			if (len == 0 || len > PS_UNIQUE_ID_MAX) {
				*why = "UNIQUE_ID must be 1 to 128 bytes";
				return -PS_E_BAD_VALUE;
			}
			a->uid = p + off + 2;
			a->ulen = (uint8_t)len;
			break;
		}
	}
	if ((seen & 1u << PS_ATTR_DELAY) && (seen & 1u << PS_ATTR_NOT_BEFORE)) {
		*why = "DELAY and NOT_BEFORE together";
		return -PS_E_BAD_VALUE;
	}
	if (a->when == PS_WHEN_DELAY && a->delay > PS_DELAY_MAX) {
		*why = "DELAY past 10 years";
		return -PS_E_BAD_VALUE;
	}
	a->seen = seen;
	return 0;
}

/*
 * Check the whole batch before anything is taken from it, so a bad ENQUEUE
 * is refused whole and never half accepted.
 */
int
ps_get_enqueue(const struct ps_frame *f, int version, struct ps_queue *q,
    struct ps_enqueue_iter *it, uint32_t *count)
{
	char	 buf[PS_WHY_MAX];
	int	 error;

	/* A header named in why would be in buf, gone: say it plainly. */
	if ((error = ps_get_enqueue_why(f, version, q, it, count, buf)) != 0 &&
	    it->why == buf)
		it->why = "a HEADER that is not one";
	return error;
}

/*
 * The same, with why in buf (PS_WHY_MAX bytes) when it names a header:
 * the iterator stays small, and is copied per event.
 */
int
ps_get_enqueue_why(const struct ps_frame *f, int version, struct ps_queue *q,
    struct ps_enqueue_iter *it, uint32_t *count, char *buf)
{
	struct ps_frame	 rest;
	const uint8_t	*p, *end;
	uint32_t	 n, i, len, head;
	uint64_t	 bytes = 0;
	uint16_t	 alen;
	struct ps_attrs	 a;
	int		 error;

	/* The count, then (version 3) the queue, then the events. */
	it->why = NULL;
	it->max_delay = it->max_at = 0;
	it->used = 0;
	it->headers = 0;
	if (f->type != PS_ENQUEUE || f->len < 4)
		return -PS_E_BAD_LENGTH;
	rest.type = f->type;
	rest.body = f->body + 4;
	rest.len = f->len - 4;
	if ((p = get_queue(&rest, version, q)) == NULL)
		return -PS_E_BAD_LENGTH;
	end = f->body + f->len;
	n = get32(f->body);
	if (n == 0)
		return -PS_E_BAD_VALUE;
	/* Each event takes at least its length (and its attributes'). */
	head = f->flags & PS_F_ATTRS ? 6 : 4;
	if (n > (size_t)(end - p) / head)
		return -PS_E_BAD_LENGTH;
	it->p = p;
	for (i = 0; i < n; i++) {
		if ((size_t)(end - p) < head)
			return -PS_E_BAD_LENGTH;
		len = get32(p);
		p += 4;
		if (head == 6) {
			alen = get16(p);
			p += 2;
			if ((size_t)(end - p) < alen)
				return -PS_E_BAD_LENGTH;
			if ((error = ps_get_attrs(p, alen, version, &a,
			    &it->why, buf)) != 0)
				return error;
			if (a.hdr != NULL)
				it->headers = 1;
			if (a.when == PS_WHEN_DELAY && a.delay > it->max_delay)
				it->max_delay = a.delay;
			if (a.when == PS_WHEN_AT && a.not_before > it->max_at)
				it->max_at = a.not_before;
			it->used |= a.seen;
			p += alen;
		}
		if ((size_t)(end - p) < len)
			return -PS_E_BAD_LENGTH;
		p += len;
		bytes += len;
	}
	if (p != end)
		return -PS_E_BAD_LENGTH;
	it->left = n;
	it->count = n;
	it->bytes = bytes;
	it->attrs = head == 6;
	it->key = NULL;
	it->klen = 0;
	memset(&it->a, 0, sizeof it->a);
	it->a.priority = PS_PRIORITY_DEFAULT;
	*count = n;
	return 0;
}

/* Only on an iterator from ps_get_enqueue: 1 and an event, or 0 at the end. */
int
ps_enqueue_next(struct ps_enqueue_iter *it, const uint8_t **data,
    uint32_t *len)
{
	const char	*why;
	uint16_t	 alen;

	if (it->left == 0)
		return 0;
	*len = get32(it->p);
	it->p += 4;
	if (it->attrs) {
		alen = get16(it->p);
		(void)ps_get_attrs(it->p + 2, alen, PS_PROTO_MAX_VERSION,
		    &it->a, &why, NULL);
		it->key = it->a.key;
		it->klen = it->a.klen;
		it->p += 2 + (size_t)alen;
	}
	*data = it->p;
	it->p += *len;
	it->left--;
	it->bytes -= *len;
	return 1;
}

void
ps_enqueue_mark(struct ps_enqueue_mark *m, const struct ps_enqueue_iter *it,
    const struct ps_frame *f)
{
	struct ps_enqueue_iter	 at = *it;
	const uint8_t		*data;

	m->it = *it;
	m->off = (uint32_t)(it->p - f->body);
	if (!ps_enqueue_next(&at, &data, &m->need))
		m->need = 0;
}

/* What points into the frame is set again; the next event's own. */
void
ps_enqueue_resume(struct ps_enqueue_iter *it, const struct ps_enqueue_mark *m,
    const struct ps_frame *f)
{
	*it = m->it;
	it->p = f->body + m->off;
	it->key = NULL;
	it->klen = 0;
	memset(&it->a, 0, sizeof it->a);
	it->a.priority = PS_PRIORITY_DEFAULT;
	it->why = NULL;
}

int
ps_get_enqueued(const struct ps_frame *f, struct ps_enqueued *e)
{
	if (f->type != PS_ENQUEUED || (f->len != 12 && f->len < 24) ||
	    (f->len > 24 && (f->len < 28 || (f->len - 28) % 4 != 0)))
		return -PS_E_BAD_LENGTH;
	memset(e, 0, sizeof *e);
	e->first_id = get64(f->body);
	e->accepted = get32(f->body + 8);
	if (f->len >= 24) {
		e->refused = get32(f->body + 12);
		e->shed_new = get32(f->body + 16);
		e->shed_old = get32(f->body + 20);
	}
	if (f->len > 24) {
		e->duplicates = get32(f->body + 24);
		if (e->duplicates == 0 || e->duplicates != (f->len - 28) / 4)
			return -PS_E_BAD_LENGTH;
		e->dup_p = f->body + 28;
	}
	return 0;
}

/* The i-th duplicate's index in its ENQUEUE; i < e->duplicates. */
uint32_t
ps_enqueued_dup(const struct ps_enqueued *e, uint32_t i)
{
	return get32(e->dup_p + 4 * (size_t)i);
}

int
ps_get_demand(const struct ps_frame *f, uint32_t *n)
{
	if (f->type != PS_DEMAND || f->len != 4)
		return -PS_E_BAD_LENGTH;
	*n = get32(f->body);
	if (*n == 0)
		return -PS_E_BAD_VALUE;
	return 0;
}

/*
 * An EVENT; from version 4 with PS_F_ATTRS, an attribute block before the
 * payload, whose KEY is the event's key, and from version 5 whose HEADERs
 * (the last attributes) are its headers (other tags are skipped: a
 * reader takes what it knows).
 */
int
ps_get_event(const struct ps_frame *f, int version, struct ps_event *e)
{
	const uint8_t	*a;
	uint32_t	 n = version < 2 ? 8 : 12, alen, i, len, head;

	if (f->type != PS_EVENT || f->len < n)
		return -PS_E_BAD_LENGTH;
	e->id = get64(f->body);
	e->attempt = version < 2 ? 1 : get32(f->body + 8);
	e->key = NULL;
	e->klen = 0;
	e->hdr = NULL;
	e->hlen = 0;
	if (f->flags & PS_F_ATTRS) {
		if (version < 4)
			return -PS_E_BAD_HEADER;
		if (f->len < n + 2 || f->len - n - 2 < (alen =
		    get16(f->body + n)))
			return -PS_E_BAD_LENGTH;
		a = f->body + n + 2;
		for (i = 0; i < alen; i += head + len) {
			head = version >= 5 && a[i] >= PS_ATTR_LONG ? 3 : 2;
			if (alen - i < head)
				return -PS_E_BAD_LENGTH;
			len = head == 3 ? get16(a + i + 1) : a[i + 1];
			if (alen - i - head < len)
				return -PS_E_BAD_LENGTH;
			if (a[i] == PS_ATTR_KEY) {
				e->key = a + i + head;
				e->klen = (uint8_t)len;
			} else if (a[i] == PS_ATTR_HEADER && head == 3 &&
			    (e->hdr == NULL || e->hdr + e->hlen == a + i)) {
				/* The HEADERs in a row: the headers. */
				if (e->hdr == NULL)
					e->hdr = a + i;
				e->hlen = (uint16_t)(a + i + head + len - e->hdr);
			}
		}
		n += 2 + alen;
	}
	e->len = f->len - n;
	e->data = f->body + n;
	return 0;
}

/* ACK, NACK, TOUCH need one id at least; DEAD_RETRY and DEAD_DROP not. */
int
ps_get_ids(const struct ps_frame *f, struct ps_ids *ids)
{
	struct ps_frame	 rest;
	int		 error;

	if (f->type == PS_NACK_LATER) {
		/* The delay, then a NACK's body. */
		if (f->len < 4)
			return -PS_E_BAD_LENGTH;
		rest.type = PS_NACK;
		rest.body = f->body + 4;
		rest.len = f->len - 4;
		if ((error = ps_get_ids(&rest, ids)) != 0)
			return error;
		ids->delay_ms = get32(f->body);
		return 0;
	}
	if (f->type != PS_ACK && f->type != PS_NACK && f->type != PS_TOUCH &&
	    f->type != PS_DEAD_RETRY && f->type != PS_DEAD_DROP &&
	    f->type != PS_CANCEL)
		return -PS_E_BAD_LENGTH;
	if (f->len < 4 || (f->len - 4) % 8 != 0 ||
	    get32(f->body) != (f->len - 4) / 8)
		return -PS_E_BAD_LENGTH;
	ids->count = get32(f->body);
	ids->p = f->body + 4;
	ids->delay_ms = 0;
	if (ids->count == 0 && f->type != PS_DEAD_RETRY &&
	    f->type != PS_DEAD_DROP)
		return -PS_E_BAD_VALUE;
	return 0;
}

/* DEAD_RETRY and DEAD_DROP: from version 3, the queue, then the ids. */
int
ps_get_dead_ids(const struct ps_frame *f, int version, struct ps_queue *q,
    struct ps_ids *ids)
{
	struct ps_frame	 rest;
	const uint8_t	*p;

	if ((f->type != PS_DEAD_RETRY && f->type != PS_DEAD_DROP) ||
	    (p = get_queue(f, version, q)) == NULL)
		return -PS_E_BAD_LENGTH;
	rest.type = f->type;
	rest.body = p;
	rest.len = f->len - (uint32_t)(p - f->body);
	return ps_get_ids(&rest, ids);
}

uint64_t
ps_ids_at(const struct ps_ids *ids, uint32_t i)
{
	return get64(ids->p + 8 * (size_t)i);
}

int
ps_get_dead_list(const struct ps_frame *f, int version, struct ps_queue *q,
    uint32_t *preview)
{
	const uint8_t	*p;

	if (f->type != PS_DEAD_LIST || (p = get_queue(f, version, q)) == NULL ||
	    f->len - (size_t)(p - f->body) != 4)
		return -PS_E_BAD_LENGTH;
	*preview = get32(p);
	if (*preview > PS_PREVIEW_MAX)
		return -PS_E_BAD_VALUE;
	return 0;
}

/* Checks every entry, so that ps_dead_next cannot run off the end. */
int
ps_get_dead_reply(const struct ps_frame *f, int version,
    struct ps_dead_reply *r)
{
	const uint8_t	*p, *end;
	uint32_t	 i;
	size_t		 tail = version >= 5 ? 2 : 0;

	if (f->type != PS_DEAD_LIST_REPLY || f->len < 8)
		return -PS_E_BAD_LENGTH;
	r->version = version;
	r->total = get32(f->body);
	r->count = get32(f->body + 4);
	if (r->count > r->total || r->count > (f->len - 8) /
	    (PS_DEAD_ENTRY + tail))
		return -PS_E_BAD_LENGTH;
	p = r->p = f->body + 8;
	end = f->body + f->len;
	for (i = 0; i < r->count; i++) {
		if ((size_t)(end - p) < PS_DEAD_ENTRY + tail ||
		    (size_t)(end - p - PS_DEAD_ENTRY - tail) < get16(p + 18))
			return -PS_E_BAD_LENGTH;
		if (get16(p + 18) > PS_PREVIEW_MAX)
			return -PS_E_BAD_VALUE;
		p += PS_DEAD_ENTRY + get16(p + 18);
		if (tail != 0) {
			if ((size_t)(end - p - 2) < get16(p))
				return -PS_E_BAD_LENGTH;
			if (get16(p) > PS_DEAD_ERROR_MAX)
				return -PS_E_BAD_VALUE;
			p += 2 + get16(p);
		}
	}
	if (p != end)
		return -PS_E_BAD_LENGTH;
	return 0;
}

/* Only on a reply from ps_get_dead_reply: 1 and an entry, or 0 at the end. */
int
ps_dead_next(struct ps_dead_reply *r, struct ps_dead *d)
{
	const uint8_t	*p = r->p;

	if (r->count == 0)
		return 0;
	d->id = get64(p);
	d->attempts = get32(p + 8);
	d->reason = p[12];
	d->len = get32(p + 14);
	d->preview_len = get16(p + 18);
	d->preview = p + PS_DEAD_ENTRY;
	p += PS_DEAD_ENTRY + d->preview_len;
	d->error_len = 0;
	d->error = NULL;
	if (r->version >= 5) {
		d->error_len = get16(p);
		d->error = p + 2;
		p += 2 + d->error_len;
	}
	r->p = p;
	r->count--;
	return 1;
}

/* NACK_ERROR: an id, when, and an error of at most 4096 bytes. */
int
ps_get_nack_error(const struct ps_frame *f, struct ps_nack_error *n)
{
	if (f->type != PS_NACK_ERROR || f->len < 14 ||
	    f->len != 14 + (uint32_t)get16(f->body + 12))
		return -PS_E_BAD_LENGTH;
	n->id = get64(f->body);
	n->delay_ms = get32(f->body + 8);
	n->error_len = get16(f->body + 12);
	n->error = f->body + 14;
	if (n->error_len > PS_ERROR_TEXT_MAX)
		return -PS_E_BAD_VALUE;
	return 0;
}

int
ps_get_dead_done(const struct ps_frame *f, uint32_t *n)
{
	if (f->type != PS_DEAD_DONE || f->len != 4)
		return -PS_E_BAD_LENGTH;
	*n = get32(f->body);
	return 0;
}

/* Version 3: an empty body is the whole daemon; else one queue (q->len). */
int
ps_get_stats(const struct ps_frame *f, int version, struct ps_queue *q)
{
	const uint8_t	*p;

	q->len = 0;
	q->name = NULL;
	if (f->type != PS_STATS)
		return -PS_E_BAD_LENGTH;
	if (f->len == 0)
		return 0;
	if (version < 3 || (p = get_queue(f, version, q)) == NULL ||
	    p != f->body + f->len)
		return -PS_E_BAD_LENGTH;
	return 0;
}

int
ps_get_queues(const struct ps_frame *f, uint32_t *start)
{
	if (f->type != PS_QUEUES || f->len != 4)
		return -PS_E_BAD_LENGTH;
	*start = get32(f->body);
	return 0;
}

/* TASK_STATS: a queue or group (1 to 129 bytes), the first row. */
int
ps_get_task_stats(const struct ps_frame *f, struct ps_queue *q,
    uint32_t *start)
{
	const uint8_t	*p;

	if (f->type != PS_TASK_STATS || (p = get_queue(f, 3, q)) == NULL ||
	    f->len != 1u + q->len + 4)
		return -PS_E_BAD_LENGTH;
	*start = get32(p);
	return 0;
}

/* Checks every setting's length, so ps_queue_admin_next cannot overrun. */
int
ps_get_queue_admin(const struct ps_frame *f, struct ps_queue_admin *a)
{
	struct ps_frame	 rest;
	const uint8_t	*p, *end;
	uint16_t	 i;

	if (f->type != PS_QUEUE_ADMIN || f->len < 2)
		return -PS_E_BAD_LENGTH;
	a->op = f->body[0];
	a->flags = f->body[1];
	rest.type = f->type;
	rest.body = f->body + 2;
	rest.len = f->len - 2;
	if ((p = get_queue(&rest, 3, &a->queue)) == NULL)
		return -PS_E_BAD_LENGTH;
	end = f->body + f->len;
	if (end - p < 2)
		return -PS_E_BAD_LENGTH;
	a->nsettings = get16(p);
	p += 2;
	a->p = p;
	for (i = 0; i < a->nsettings; i++) {
		if (end - p < 2 || (size_t)(end - p - 2) < get16(p))
			return -PS_E_BAD_LENGTH;
		p += 2 + get16(p);
	}
	if (p != end)
		return -PS_E_BAD_LENGTH;
	if (a->op < PS_QUEUE_SET || a->op > PS_QUEUE_DROP_GROUP ||
	    (a->flags & ~PS_QUEUE_FORCE) != 0 ||
	    (a->nsettings != 0 && a->op != PS_QUEUE_SET &&
	    a->op != PS_QUEUE_CREATE))
		return -PS_E_BAD_VALUE;
	return 0;
}

/* Only after ps_get_queue_admin: 1 and a "KEY=VALUE", or 0 at the end. */
int
ps_queue_admin_next(struct ps_queue_admin *a, const char **s, size_t *len)
{
	if (a->nsettings == 0)
		return 0;
	*len = get16(a->p);
	*s = (const char *)a->p + 2;
	a->p += 2 + *len;
	a->nsettings--;
	return 1;
}

int
ps_get_queue_done(const struct ps_frame *f, uint64_t *n)
{
	if (f->type != PS_QUEUE_DONE || f->len != 8)
		return -PS_E_BAD_LENGTH;
	*n = get64(f->body);
	return 0;
}

int
ps_get_error(const struct ps_frame *f, struct ps_error *e)
{
	if (f->type != PS_ERROR || f->len < 2)
		return -PS_E_BAD_LENGTH;
	e->code = get16(f->body);
	e->msg_len = f->len - 2;
	e->msg = (const char *)f->body + 2;
	return 0;
}

/* A cursor over a body; any read past the end sets bad and yields zeros. */
struct cursor {
	const uint8_t	*p;
	size_t		 left;
	int		 bad;
};

static const uint8_t *
take(struct cursor *c, size_t n)
{
	const uint8_t	*p;

	if (c->bad || c->left < n) {
		c->bad = 1;
		return NULL;
	}
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

static int
take_name(struct cursor *c, char out[PS_NAME_MAX + 1])
{
	const uint8_t	*p;
	uint8_t		 n;

	if ((p = take(c, 1)) == NULL)
		return -1;
	n = *p;
	if (n == 0 || (p = take(c, n)) == NULL) {
		c->bad = 1;
		return -1;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int
take_stat(struct cursor *c, struct ps_stat *s)
{
	const uint8_t	*p;

	if (take_name(c, s->name) != 0 || (p = take(c, 8)) == NULL)
		return -1;
	s->value = get64(p);
	return 0;
}

/* Smallest encoding of one stat: a 1-byte name plus its length and value. */
#define STAT_MIN	10

int
ps_get_stats_reply(const struct ps_frame *f, struct ps_stats *st)
{
	struct cursor		 c = { f->body, f->len, 0 };
	const uint8_t		*p;
	struct ps_stats_consumer *sc;
	uint32_t		 i, j;
	uint16_t		 vlen;

	memset(st, 0, sizeof *st);
	if (f->type != PS_STATS_REPLY || (p = take(&c, 2)) == NULL)
		return -PS_E_BAD_LENGTH;
	st->ncounters = get16(p);
	if (st->ncounters > c.left / STAT_MIN)
		return -PS_E_BAD_LENGTH;
	if (st->ncounters != 0 && (st->counters = calloc(st->ncounters,
	    sizeof *st->counters)) == NULL)
		return -PS_E_NOMEM;
	for (i = 0; i < st->ncounters; i++) {
		if (take_stat(&c, &st->counters[i]) != 0)
			goto bad;
	}
	if ((p = take(&c, 4)) == NULL)
		goto bad;
	st->nconsumers = get32(p);
	/* Each consumer takes at least a 1-byte id, its length and nfields. */
	if (st->nconsumers > c.left / 3)
		goto bad;
	if (st->nconsumers != 0 && (st->consumers = calloc(st->nconsumers,
	    sizeof *st->consumers)) == NULL) {
		ps_stats_free(st);
		return -PS_E_NOMEM;
	}
	for (i = 0; i < st->nconsumers; i++) {
		sc = &st->consumers[i];
		if (take_name(&c, sc->id) != 0 || (p = take(&c, 1)) == NULL)
			goto bad;
		sc->nfields = *p;
		if (sc->nfields > c.left / STAT_MIN)
			goto bad;
		if (sc->nfields != 0 && (sc->fields = calloc(sc->nfields,
		    sizeof *sc->fields)) == NULL) {
			ps_stats_free(st);
			return -PS_E_NOMEM;
		}
		for (j = 0; j < sc->nfields; j++) {
			if (take_stat(&c, &sc->fields[j]) != 0)
				goto bad;
		}
	}
	/* Version 2: named texts follow; version 1 ends here. */
	if (c.left != 0) {
		if ((p = take(&c, 2)) == NULL)
			goto bad;
		st->ntexts = get16(p);
		if (st->ntexts > c.left / 4)
			goto bad;
		if (st->ntexts != 0 && (st->texts = calloc(st->ntexts,
		    sizeof *st->texts)) == NULL) {
			ps_stats_free(st);
			return -PS_E_NOMEM;
		}
		for (i = 0; i < st->ntexts; i++) {
			if (take_name(&c, st->texts[i].name) != 0 ||
			    (p = take(&c, 2)) == NULL)
				goto bad;
			vlen = get16(p);
			if (vlen > PS_STAT_TEXT_MAX ||
			    (p = take(&c, vlen)) == NULL)
				goto bad;
			memcpy(st->texts[i].value, p, vlen);
			st->texts[i].value[vlen] = '\0';
		}
	}
	if (c.left != 0)
		goto bad;
	return 0;
bad:
	ps_stats_free(st);
	return -PS_E_BAD_LENGTH;
}

/*
 * One entry of a QUEUES_REPLY or TASK_STATS_REPLY: a u8 length and a
 * name of 1 to namemax bytes (into name, NUL after it, its length in
 * *nlen), a u8 count of fields and the fields (into *fields, allocated).
 * 0, -PS_E_BAD_LENGTH or -PS_E_NOMEM.
 */
static int
take_named_fields(struct cursor *c, char *name, size_t namemax,
    uint8_t *nlen, uint8_t *nfields, struct ps_stat **fields)
{
	const uint8_t	*p;
	uint32_t	 j;

	if ((p = take(c, 1)) == NULL || *p == 0 || *p > namemax ||
	    (p = take(c, *p)) == NULL)
		return -PS_E_BAD_LENGTH;
	*nlen = p[-1];
	memcpy(name, p, *nlen);
	name[*nlen] = '\0';
	if ((p = take(c, 1)) == NULL)
		return -PS_E_BAD_LENGTH;
	*nfields = *p;
	if (*nfields > c->left / STAT_MIN)
		return -PS_E_BAD_LENGTH;
	if (*nfields != 0 && (*fields = calloc(*nfields,
	    sizeof **fields)) == NULL)
		return -PS_E_NOMEM;
	for (j = 0; j < *nfields; j++) {
		if (take_stat(c, &(*fields)[j]) != 0)
			return -PS_E_BAD_LENGTH;
	}
	return 0;
}

int
ps_get_queues_reply(const struct ps_frame *f, struct ps_queues *qs)
{
	struct cursor		 c = { f->body, f->len, 0 };
	struct ps_queue_entry	*e;
	const uint8_t		*p;
	uint32_t		 i;
	uint8_t			 nlen;
	int			 r;

	memset(qs, 0, sizeof *qs);
	if (f->type != PS_QUEUES_REPLY || (p = take(&c, 8)) == NULL)
		return -PS_E_BAD_LENGTH;
	qs->total = get32(p);
	qs->count = get32(p + 4);
	/* Each entry takes at least a 1-byte name, its length and nfields. */
	if (qs->count > qs->total || qs->count > c.left / 3)
		return -PS_E_BAD_LENGTH;
	if (qs->count != 0 && (qs->queues = calloc(qs->count,
	    sizeof *qs->queues)) == NULL)
		return -PS_E_NOMEM;
	for (i = 0; i < qs->count; i++) {
		e = &qs->queues[i];
		if ((r = take_named_fields(&c, e->name, PS_PATH_MAX, &nlen,
		    &e->nfields, &e->fields)) != 0) {
			ps_queues_free(qs);
			return r;
		}
	}
	if (c.left != 0)
		goto bad;
	return 0;
bad:
	ps_queues_free(qs);
	return -PS_E_BAD_LENGTH;
}

int
ps_get_task_stats_reply(const struct ps_frame *f, struct ps_task_stats *ts)
{
	struct cursor		 c = { f->body, f->len, 0 };
	struct ps_task_entry	*e;
	const uint8_t		*p;
	uint32_t		 i;
	int			 r;

	memset(ts, 0, sizeof *ts);
	if (f->type != PS_TASK_STATS_REPLY || (p = take(&c, 8)) == NULL)
		return -PS_E_BAD_LENGTH;
	ts->total = get32(p);
	ts->count = get32(p + 4);
	/* Each entry takes at least a 1-byte name, its length and nfields. */
	if (ts->count > ts->total || ts->count > c.left / 3)
		return -PS_E_BAD_LENGTH;
	if (ts->count != 0 && (ts->tasks = calloc(ts->count,
	    sizeof *ts->tasks)) == NULL)
		return -PS_E_NOMEM;
	for (i = 0; i < ts->count; i++) {
		e = &ts->tasks[i];
		if ((r = take_named_fields(&c, e->name, PS_TASK_NAME_MAX,
		    &e->nlen, &e->nfields, &e->fields)) != 0) {
			ps_task_stats_free(ts);
			return r;
		}
	}
	if (c.left != 0)
		goto bad;
	return 0;
bad:
	ps_task_stats_free(ts);
	return -PS_E_BAD_LENGTH;
}

void
ps_task_stats_free(struct ps_task_stats *ts)
{
	uint32_t	 i;

	if (ts->tasks != NULL) {
		for (i = 0; i < ts->count; i++)
			free(ts->tasks[i].fields);
	}
	free(ts->tasks);
	memset(ts, 0, sizeof *ts);
}

void
ps_queues_free(struct ps_queues *qs)
{
	uint32_t	 i;

	if (qs->queues != NULL) {
		for (i = 0; i < qs->count; i++)
			free(qs->queues[i].fields);
	}
	free(qs->queues);
	memset(qs, 0, sizeof *qs);
}

void
ps_stats_free(struct ps_stats *st)
{
	uint32_t	 i;

	if (st->consumers != NULL) {
		for (i = 0; i < st->nconsumers; i++)
			free(st->consumers[i].fields);
	}
	free(st->consumers);
	free(st->counters);
	free(st->texts);
	memset(st, 0, sizeof *st);
}

/* JOB: a queue or group, and an id or else a unique id. */
int
ps_get_job(const struct ps_frame *f, struct ps_job_ask *a)
{
	const uint8_t	*p;

	if (f->type != PS_JOB || (p = get_queue(f, 3, &a->queue)) == NULL ||
	    (size_t)(f->body + f->len - p) < 11)
		return -PS_E_BAD_LENGTH;
	a->id = get64(p);
	a->preview = get16(p + 8);
	a->ulen = p[10];
	a->uid = p + 11;
	if ((size_t)(f->body + f->len - p) != 11 + (size_t)a->ulen)
		return -PS_E_BAD_LENGTH;
	if (a->preview > PS_PREVIEW_MAX || (a->id == 0) != (a->ulen != 0) ||
	    a->ulen > PS_UNIQUE_ID_MAX)
		return -PS_E_BAD_VALUE;
	return 0;
}

/* JOB_REPLY: every length checked, the key and headers found. */
int
ps_get_job_reply(const struct ps_frame *f, struct ps_job *j)
{
	const uint8_t	*p = f->body, *end = f->body + f->len, *a;
	size_t		 flen;
	uint16_t	 alen, i, len;

	memset(j, 0, sizeof *j);
	j->klen = -1;
	if (f->type != PS_JOB_REPLY || f->len < 30 ||
	    (size_t)(end - p - 30) < get16(p + 28))
		return -PS_E_BAD_LENGTH;
	j->id = get64(p);
	j->state = p[8];
	j->reason = p[9];
	j->attempts = get32(p + 10);
	j->at = get64(p + 14);
	j->priority = get16(p + 22);
	j->len = get32(p + 24);
	j->preview_len = get16(p + 28);
	j->preview = p + 30;
	p += 30 + j->preview_len;
	if (end - p < 1 || (size_t)(end - p - 1) < p[0])
		return -PS_E_BAD_LENGTH;
	j->clen = p[0];
	j->consumer = (const char *)p + 1;
	p += 1 + j->clen;
	if (end - p < 2 || (size_t)(end - p - 2) < (alen = get16(p)))
		return -PS_E_BAD_LENGTH;
	a = p + 2;
	for (i = 0; i < alen; i += (uint16_t)(a[i] >= PS_ATTR_LONG ? 3 : 2) +
	    len) {
		if (alen - i < (a[i] >= PS_ATTR_LONG ? 3 : 2))
			return -PS_E_BAD_LENGTH;
		len = a[i] >= PS_ATTR_LONG ? get16(a + i + 1) : a[i + 1];
		if (len > alen - i - (a[i] >= PS_ATTR_LONG ? 3 : 2))
			return -PS_E_BAD_LENGTH;
		if (a[i] == PS_ATTR_KEY) {
			j->key = a + i + 2;
			j->klen = len;
		} else if (a[i] == PS_ATTR_HEADER && j->hdr == NULL) {
			j->hdr = a + i;
			j->hlen = (uint16_t)(alen - i);
		}
	}
	p += 2 + alen;
	if (end - p < 1)
		return -PS_E_BAD_LENGTH;
	j->nfail = p[0];
	j->fail = p + 1;
	if (ps_failures_check(p + 1, (size_t)(end - p - 1), j->nfail, &flen) !=
	    0)
		return -PS_E_BAD_LENGTH;
	p += 1 + flen;
	if (j->state == PS_JOB_DONE) {
		/* Done: its result, to the end. */
		if (end - p < 4 || get32(p) != (size_t)(end - p - 4))
			return -PS_E_BAD_LENGTH;
		j->rlen = get32(p);
		j->result = p + 4;
		p = end;
	}
	return p == end ? 0 : -PS_E_BAD_LENGTH;
}

/* A JOB_REPLY's state in words (docs/protocol.md). */
const char *
ps_job_state_name(int state)
{
	static const char *const names[] = { "unknown", "queued", "delayed",
	    "waiting behind its key", "waiting for its partition",
	    "in flight", "waiting to retry", "dead",
	    "cancelled (in flight, its consumer told)", "done", "cancelled" };

	return state >= 0 && (size_t)state < sizeof names / sizeof names[0] ?
	    names[state] : "unknown";
}

/*
 * JOB_CANCEL: the queue, a unique id or none, the ids (none with a unique
 * id).  Lengths checked exactly; values: one of the two, and a queue
 * name, not a group's (the daemon names that one).
 */
int
ps_get_job_cancel(const struct ps_frame *f, struct ps_cancel_ask *a)
{
	const uint8_t	*p, *end = f->body + f->len;

	memset(a, 0, sizeof *a);
	if (f->type != PS_JOB_CANCEL ||
	    (p = get_queue(f, 3, &a->queue)) == NULL || end - p < 1 ||
	    (size_t)(end - p - 1) < p[0])
		return -PS_E_BAD_LENGTH;
	a->ulen = p[0];
	a->uid = p + 1;
	p += 1 + a->ulen;
	if (end - p < 4 || (size_t)(end - p - 4) % 8 != 0 ||
	    get32(p) != (size_t)(end - p - 4) / 8)
		return -PS_E_BAD_LENGTH;
	a->ids.count = get32(p);
	a->ids.p = p + 4;
	if ((a->ids.count == 0) == (a->ulen == 0) ||
	    a->ulen > PS_UNIQUE_ID_MAX)
		return -PS_E_BAD_VALUE;
	return 0;
}

/* JOB_CANCEL_REPLY: u32 count, then count x { u64 id, u8 outcome }. */
int
ps_get_cancel_reply(const struct ps_frame *f, struct ps_cancel_reply *r)
{
	uint32_t	 i;

	if (f->type != PS_JOB_CANCEL_REPLY || f->len < 4 ||
	    (f->len - 4) % 9 != 0 || get32(f->body) != (f->len - 4) / 9)
		return -PS_E_BAD_LENGTH;
	r->count = get32(f->body);
	r->p = f->body + 4;
	for (i = 0; i < r->count; i++) {
		if (r->p[i * 9 + 8] < PS_CANCEL_REMOVED ||
		    r->p[i * 9 + 8] > PS_CANCEL_ALREADY)
			return -PS_E_BAD_VALUE;
	}
	return 0;
}

void
ps_cancel_reply_at(const struct ps_cancel_reply *r, uint32_t i, uint64_t *id,
    uint8_t *outcome)
{
	*id = get64(r->p + (size_t)i * 9);
	*outcome = r->p[(size_t)i * 9 + 8];
}

/* A JOB_CANCEL_REPLY's outcome in words. */
const char *
ps_cancel_outcome_name(int outcome)
{
	switch (outcome) {
	case PS_CANCEL_REMOVED:
		return "cancelled";
	case PS_CANCEL_TOLD:
		return "cancelled in flight, its consumer told";
	case PS_CANCEL_ALREADY:
		return "cancelled before, still in flight";
	}
	return "unknown";
}

/* ACK_RESULT: u64 id, u32 len, the result. */
int
ps_get_ack_result(const struct ps_frame *f, struct ps_ack_result *a)
{
	if (f->type != PS_ACK_RESULT || f->len < 12 ||
	    get32(f->body + 8) != f->len - 12)
		return -PS_E_BAD_LENGTH;
	a->id = get64(f->body);
	a->len = get32(f->body + 8);
	a->result = f->body + 12;
	return 0;
}

/* WAIT: the queue or group, u64 id, u32 timeout, u8 uid_len, uid. */
int
ps_get_wait(const struct ps_frame *f, struct ps_wait_ask *a)
{
	const uint8_t	*p;

	memset(a, 0, sizeof *a);
	if (f->type != PS_WAIT || (p = get_queue(f, 3, &a->queue)) == NULL ||
	    (size_t)(f->body + f->len - p) < 13)
		return -PS_E_BAD_LENGTH;
	a->id = get64(p);
	a->timeout_ms = get32(p + 8);
	a->ulen = p[12];
	a->uid = p + 13;
	if ((size_t)(f->body + f->len - p) != 13 + (size_t)a->ulen)
		return -PS_E_BAD_LENGTH;
	if ((a->id == 0) != (a->ulen != 0) || a->ulen > PS_UNIQUE_ID_MAX)
		return -PS_E_BAD_VALUE;
	return 0;
}

/* WAIT_REPLY: 28 bytes, then the result or error. */
int
ps_get_wait_reply(const struct ps_frame *f, struct ps_wait_reply *r)
{
	const uint8_t	*p = f->body;

	if (f->type != PS_WAIT_REPLY || f->len < 28 ||
	    get32(p + 24) != f->len - 28)
		return -PS_E_BAD_LENGTH;
	r->id = get64(p);
	r->state = p[8];
	r->timed_out = p[9];
	r->reason = p[10];
	r->at = get64(p + 12);
	r->attempts = get32(p + 20);
	r->len = get32(p + 24);
	r->data = p + 28;
	if (r->timed_out > 1 || p[11] != 0)
		return -PS_E_BAD_VALUE;
	return 0;
}

/* The states a JOBS lists. */
static int
listable(uint8_t st)
{
	return st == 1 || st == 2 || st == 5 || st == 6 || st == 7 ||
	    st == PS_JOB_DONE;
}

/* JOBS: lengths exactly as protocol.md lays them out, values in range. */
int
ps_get_jobs(const struct ps_frame *f, struct ps_jobs_ask *a)
{
	const uint8_t	*p, *end = f->body + f->len;
	uint16_t	 flen;

	memset(a, 0, sizeof *a);
	if (f->type != PS_JOBS || (p = get_queue(f, 3, &a->queue)) == NULL ||
	    end - p < 24 || (size_t)(end - p - 24) != (flen = get16(p + 22)))
		return -PS_E_BAD_LENGTH;
	a->state = p[0];
	a->limit = get16(p + 1);
	a->preview = get16(p + 3);
	a->after = get64(p + 5);
	a->tag = get64(p + 13);
	a->filter = p[21];
	p += 24;
	if (!listable(a->state) || a->limit == 0 ||
	    a->limit > PS_JOBS_LIMIT_MAX || a->preview > PS_PREVIEW_MAX)
		return -PS_E_BAD_VALUE;
	switch (a->filter) {
	case PS_FILTER_NONE:
		return flen == 0 ? 0 : -PS_E_BAD_VALUE;
	case PS_FILTER_KEY:
		if (flen > PS_KEY_MAX)
			return -PS_E_BAD_VALUE;
		a->key = p;
		a->klen = (uint8_t)flen;
		return 0;
	case PS_FILTER_HEADER:
		if (flen < 1 || p[0] == 0 || p[0] > PS_HEADER_NAME_MAX ||
		    (size_t)flen - 1 < p[0] ||
		    flen - 1 - p[0] > PS_HEADER_VALUE_MAX)
			return -PS_E_BAD_VALUE;
		a->hname = p + 1;
		a->hnlen = p[0];
		a->hval = p + 1 + p[0];
		a->hvlen = (uint16_t)(flen - 1 - p[0]);
		return 0;
	}
	return -PS_E_BAD_VALUE;
}

/* JOBS_REPLY: its head; the entries are checked as they are read. */
int
ps_get_jobs_reply(const struct ps_frame *f, struct ps_jobs_reply *r)
{
	struct ps_jobs_reply	 walk;
	struct ps_jobs_entry	 e;
	uint32_t		 i;

	if (f->type != PS_JOBS_REPLY || f->len < 20)
		return -PS_E_BAD_LENGTH;
	r->after = get64(f->body);
	r->tag = get64(f->body + 8);
	r->count = get32(f->body + 16);
	r->p = f->body + 20;
	r->end = f->body + f->len;
	walk = *r;
	for (i = 0; i < r->count; i++)
		if (ps_jobs_next(&walk, &e) != 1)
			return -PS_E_BAD_LENGTH;
	return walk.p == walk.end ? 0 : -PS_E_BAD_LENGTH;
}

/* The next entry of r: 1 and it, 0 at the end, -1 if it does not fit. */
int
ps_jobs_next(struct ps_jobs_reply *r, struct ps_jobs_entry *e)
{
	const uint8_t	*p = r->p, *a;
	uint16_t	 alen, i, len;

	if (p == r->end)
		return 0;
	memset(e, 0, sizeof *e);
	e->klen = -1;
	if (r->end - p < PS_JOBS_ENTRY_HEAD ||
	    (size_t)(r->end - p - PS_JOBS_ENTRY_HEAD) < get16(p + 26))
		return -1;
	e->id = get64(p);
	e->state = p[8];
	e->reason = p[9];
	e->attempts = get32(p + 10);
	e->at = get64(p + 14);
	e->len = get32(p + 22);
	e->preview_len = get16(p + 26);
	e->preview = p + 28;
	p += 28 + e->preview_len;
	if (r->end - p < 2 || (size_t)(r->end - p - 2) < (alen = get16(p)))
		return -1;
	a = p + 2;
	for (i = 0; i < alen; i += (uint16_t)(a[i] >= PS_ATTR_LONG ? 3 : 2) +
	    len) {
		if (alen - i < (a[i] >= PS_ATTR_LONG ? 3 : 2))
			return -1;
		len = a[i] >= PS_ATTR_LONG ? get16(a + i + 1) : a[i + 1];
		if (len > alen - i - (a[i] >= PS_ATTR_LONG ? 3 : 2))
			return -1;
		if (a[i] == PS_ATTR_KEY) {
			e->key = a + i + 2;
			e->klen = len;
		} else if (a[i] == PS_ATTR_HEADER && e->hdr == NULL) {
			e->hdr = a + i;
			e->hlen = (uint16_t)(alen - i);
		}
	}
	r->p = p + 2 + alen;
	return 1;
}
