/* encode.c: structs to bytes, appended to a ps_buf.  No I/O. */
#include <string.h>

#include "bytes.h"
#include "frame.h"

/* Append a header for a body of len bytes and return where the body goes. */
static uint8_t *
header(struct ps_buf *b, uint8_t type, uint32_t len)
{
	uint8_t	*p;

	if (ps_buf_reserve(b, PS_HDR_LEN + (size_t)len) != 0)
		return NULL;
	p = b->data + b->len;
	put32(p, len);
	p[4] = type;
	p[5] = 0;
	put16(p + 6, 0);
	b->len += PS_HDR_LEN + (size_t)len;
	return p + PS_HDR_LEN;
}

int
ps_put_hello(struct ps_buf *b, const struct ps_hello *h)
{
	uint8_t	*p;

	size_t	 q = h->version >= 3 ? 1 + (size_t)h->queue_len : 0;
	int	 part = h->version >= 3 && h->has_partition;

	if ((h->name_len != 0 && h->name == NULL) || (h->queue_len != 0 &&
	    h->queue == NULL) || (part && h->partition >= PS_PARTITIONS_MAX))
		return -PS_E_BAD_VALUE;
	if (part)
		q += 2;
	if ((p = header(b, PS_HELLO, 13 + h->name_len + (uint32_t)q)) == NULL)
		return -PS_E_NOMEM;
	put16(p, h->version);
	p[2] = h->role;
	p[3] = 0;
	put32(p + 4, h->max_demand);
	put32(p + 8, h->min_demand);
	p[12] = h->name_len;
	if (h->name_len != 0)
		memcpy(p + 13, h->name, h->name_len);
	if (h->version >= 3) {
		p[13 + h->name_len] = h->queue_len;
		if (h->queue_len != 0)
			memcpy(p + 14 + h->name_len, h->queue, h->queue_len);
		if (part)
			put16(p + 14 + h->name_len + h->queue_len,
			    h->partition);
	}
	return 0;
}

/* From version 3 a frame may name a queue: u8 length, then its bytes. */
static int
put_queue(struct ps_buf *b, int version, const char *queue, size_t len)
{
	uint8_t	 n;

	if (version < 3)
		return 0;
	if (len == 0 || len > PS_PATH_MAX)
		return -PS_E_BAD_VALUE;
	n = (uint8_t)len;
	if (ps_buf_add(b, &n, 1) != 0 || ps_buf_add(b, queue, len) != 0)
		return -PS_E_NOMEM;
	return 0;
}

/* Patch the length of the frame at start to what follows it now. */
static void
patch_len(struct ps_buf *b, size_t start)
{
	put32(b->data + start, (uint32_t)(b->len - start - PS_HDR_LEN));
}

int
ps_put_welcome(struct ps_buf *b, const struct ps_welcome *w)
{
	uint8_t	*p;

	if ((p = header(b, PS_WELCOME, w->version < 2 ? 8 : 16)) == NULL)
		return -PS_E_NOMEM;
	put16(p, w->version);
	put16(p + 2, 0);
	put32(p + 4, w->max_frame);
	if (w->version >= 2) {
		put32(p + 8, w->ack_timeout_ms);
		put16(p + 12, w->max_attempts);
		p[14] = w->delivery;
		p[15] = 0;
	}
	return 0;
}

/*
 * Body size of an ENQUEUE holding n events of bytes payload in all,
 * without the queue name (version 3: 1 + its length more).
 */
size_t
ps_enqueue_size(size_t n, size_t bytes)
{
	return 4 + n * PS_ENQUEUE_PER_EVENT + bytes;
}

/*
 * An ENQUEUE is built in three steps so that a caller can fill it from a
 * stream: begin records where the frame starts, add appends one event, end
 * patches the count and length in.
 */
int
ps_put_enqueue_begin(struct ps_buf *b, int version, const char *queue,
    size_t len, size_t *start)
{
	int	 error;

	*start = b->len;
	if (header(b, PS_ENQUEUE, 4) == NULL)
		return -PS_E_NOMEM;
	if ((error = put_queue(b, version, queue, len)) != 0) {
		b->len = *start;
		return error;
	}
	return 0;
}

int
ps_put_enqueue_add(struct ps_buf *b, const void *data, uint32_t len)
{
	uint8_t	*p;

	if (ps_buf_reserve(b, 4 + (size_t)len) != 0)
		return -PS_E_NOMEM;
	p = b->data + b->len;
	put32(p, len);
	if (len != 0)
		memcpy(p + 4, data, len);
	b->len += 4 + (size_t)len;
	return 0;
}

/* The attribute block a would make: its length. */
size_t
ps_attrs_size(const struct ps_attrs *a)
{
	size_t	 n = 0;

	if (a->key != NULL)
		n += 2 + (size_t)a->klen;
	if (a->when != PS_WHEN_NOW)
		n += 2 + 8;
	if (a->priority != PS_PRIORITY_DEFAULT)
		n += 2 + 2;
	if (a->uid != NULL)
		n += 2 + (size_t)a->ulen;
	return n + a->hlen;
}

static uint8_t *
put_attr(uint8_t *p, int tag, const void *v, size_t n)
{
	p[0] = (uint8_t)tag;
	p[1] = (uint8_t)n;
	if (n != 0)
		memcpy(p + 2, v, n);
	return p + 2 + n;
}

/*
 * An event in a batch marked ps_put_enqueue_attrs, with its attribute
 * block: those of a that are set (a key, even of 0 bytes; a delay or a
 * time; a priority other than the default; a unique id).
 */
int
ps_put_enqueue_add_attrs(struct ps_buf *b, const struct ps_attrs *a,
    const void *data, uint32_t len)
{
	size_t	 n = ps_attrs_size(a);
	uint8_t	*p, v[8];

	if ((a->uid != NULL && (a->ulen == 0 || a->ulen > PS_UNIQUE_ID_MAX)) ||
	    (a->when == PS_WHEN_DELAY && a->delay > PS_DELAY_MAX) ||
	    n > UINT16_MAX)
		return -PS_E_BAD_VALUE;
	if (ps_buf_reserve(b, 6 + n + len) != 0)
		return -PS_E_NOMEM;
	p = b->data + b->len;
	put32(p, len);
	put16(p + 4, (uint16_t)n);
	p += 6;
	if (a->key != NULL)
		p = put_attr(p, PS_ATTR_KEY, a->key, a->klen);
	if (a->when != PS_WHEN_NOW) {
		put64(v, a->when == PS_WHEN_DELAY ? a->delay : a->not_before);
		p = put_attr(p, a->when == PS_WHEN_DELAY ? PS_ATTR_DELAY :
		    PS_ATTR_NOT_BEFORE, v, 8);
	}
	if (a->priority != PS_PRIORITY_DEFAULT) {
		put16(v, a->priority);
		p = put_attr(p, PS_ATTR_PRIORITY, v, 2);
	}
	if (a->uid != NULL)
		p = put_attr(p, PS_ATTR_UNIQUE_ID, a->uid, a->ulen);
	if (a->hlen != 0) {
		memcpy(p, a->hdr, a->hlen);	/* the HEADERs, last */
		p += a->hlen;
	}
	if (len != 0)
		memcpy(p, data, len);
	b->len += 6 + n + len;
	return 0;
}

/* The same with a key alone: klen 0 to 255 (0 bytes is a key too), -1 none. */
int
ps_put_enqueue_add_key(struct ps_buf *b, const void *key, int klen,
    const void *data, uint32_t len)
{
	struct ps_attrs	 a;

	if (klen > PS_KEY_MAX)
		return -PS_E_BAD_VALUE;
	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	if (klen >= 0) {
		a.key = key != NULL ? key : (const void *)"";
		a.klen = (uint8_t)klen;
	}
	return ps_put_enqueue_add_attrs(b, &a, data, len);
}

/* The ENQUEUE at start: its events carry attributes (version 3). */
void
ps_put_enqueue_attrs(struct ps_buf *b, size_t start)
{
	b->data[start + 5] = PS_F_ATTRS;
}

void
ps_put_enqueue_end(struct ps_buf *b, size_t start, uint32_t count)
{
	uint8_t	*p = b->data + start;

	put32(p, (uint32_t)(b->len - start - PS_HDR_LEN));
	put32(p + PS_HDR_LEN, count);
}

int
ps_put_enqueued(struct ps_buf *b, int version, const struct ps_enqueued *e)
{
	size_t	 dn = 0;
	uint8_t	*p;

	if (version >= 3 && e->duplicates != 0)
		dn = 4 + 4 * (size_t)e->duplicates;
	if ((p = header(b, PS_ENQUEUED, (uint32_t)((version < 2 ? 12 : 24) +
	    dn))) == NULL)
		return -PS_E_NOMEM;
	put64(p, e->first_id);
	put32(p + 8, e->accepted);
	if (version >= 2) {
		put32(p + 12, e->refused);
		put32(p + 16, e->shed_new);
		put32(p + 20, e->shed_old);
	}
	if (dn != 0) {
		put32(p + 24, e->duplicates);
		memcpy(p + 28, e->dups->data, dn - 4);
	}
	return 0;
}

int
ps_put_demand(struct ps_buf *b, uint32_t n)
{
	uint8_t	*p;

	if ((p = header(b, PS_DEMAND, 4)) == NULL)
		return -PS_E_NOMEM;
	put32(p, n);
	return 0;
}

/*
 * The header, id and (from version 2) attempt of an EVENT, from version 4
 * its key (key not NULL: flags PS_F_ATTRS and an attribute block of KEY),
 * and from version 5 its headers (hlen bytes of HEADERs at hdr, after
 * the KEY), so that the payload can follow from elsewhere.  Returns the
 * prefix's size.
 */
size_t
ps_event_prefix(uint8_t out[PS_EVENT_PREFIX_MAX], int version, uint64_t id,
    uint32_t attempt, uint32_t len, const uint8_t *key, uint8_t klen,
    const uint8_t *hdr, uint16_t hlen)
{
	size_t	 n = version < 2 ? PS_EVENT_PREFIX_V1 : PS_EVENT_PREFIX, a;

	out[5] = 0;
	/* Never more than out holds: headers are checked where they come. */
	if (version < 5 || hlen > PS_HEADERS_WIRE_MAX)
		hlen = 0;
	if (version >= 4 && (key != NULL || hlen != 0)) {
		out[5] = PS_F_ATTRS;
		a = n + 2;
		if (key != NULL) {
			out[a] = PS_ATTR_KEY;
			out[a + 1] = klen;
			if (klen != 0)
				memcpy(out + a + 2, key, klen);
			a += 2 + (size_t)klen;
		}
		if (hlen != 0) {
			memcpy(out + a, hdr, hlen);
			a += hlen;
		}
		put16(out + n, (uint16_t)(a - n - 2));
		n = a;
	}
	put32(out, (uint32_t)(n - PS_HDR_LEN) + len);
	out[4] = PS_EVENT;
	put16(out + 6, 0);
	put64(out + 8, id);
	if (version >= 2)
		put32(out + 16, attempt);
	return n;
}

int
ps_put_event(struct ps_buf *b, int version, const struct ps_event *e)
{
	size_t	 n;

	if (ps_buf_reserve(b, PS_EVENT_PREFIX_MAX + (size_t)e->len) != 0)
		return -PS_E_NOMEM;
	n = ps_event_prefix(b->data + b->len, version, e->id, e->attempt,
	    e->len, e->key, e->klen, e->hdr, e->hlen);
	if (e->len != 0)
		memcpy(b->data + b->len + n, e->data, e->len);
	b->len += n + (size_t)e->len;
	return 0;
}

/* A count and that many ids, after head bytes of the caller's. */
static uint8_t *
put_id_list(struct ps_buf *b, uint8_t type, uint32_t head, const uint64_t *ids,
    uint32_t n)
{
	uint8_t		*p;
	uint32_t	 i;

	if (n > (UINT32_MAX - 4 - head) / 8 ||
	    (p = header(b, type, head + 4 + 8 * n)) == NULL)
		return NULL;
	put32(p + head, n);
	for (i = 0; i < n; i++)
		put64(p + head + 4 + 8 * (size_t)i, ids[i]);
	return p;
}

/* ACK, NACK, TOUCH, DEAD_RETRY, DEAD_DROP: a count and that many ids. */
int
ps_put_ids(struct ps_buf *b, uint8_t type, const uint64_t *ids, uint32_t n)
{
	if (n > (UINT32_MAX - 4) / 8)
		return -PS_E_BAD_VALUE;
	return put_id_list(b, type, 0, ids, n) == NULL ? -PS_E_NOMEM : 0;
}

/* NACK_LATER: the delay in ms, then as NACK. */
int
ps_put_nack_later(struct ps_buf *b, uint32_t delay_ms, const uint64_t *ids,
    uint32_t n)
{
	uint8_t		*p;

	if (n > (UINT32_MAX - 8) / 8)
		return -PS_E_BAD_VALUE;
	if ((p = put_id_list(b, PS_NACK_LATER, 4, ids, n)) == NULL)
		return -PS_E_NOMEM;
	put32(p, delay_ms);
	return 0;
}

/* DEAD_RETRY, DEAD_DROP: from version 3 the queue, then the ids. */
int
ps_put_dead_ids(struct ps_buf *b, uint8_t type, int version,
    const char *queue, const uint64_t *ids, uint32_t n)
{
	size_t	 start = b->len;
	uint8_t	 v[4];
	uint32_t i;
	int	 error;

	if (n > (UINT32_MAX - 70) / 8)
		return -PS_E_BAD_VALUE;
	if (header(b, type, 0) == NULL)
		return -PS_E_NOMEM;
	if ((error = put_queue(b, version, queue, strlen(queue))) != 0) {
		b->len = start;
		return error;
	}
	if (ps_buf_reserve(b, 4 + 8 * (size_t)n) != 0) {
		b->len = start;
		return -PS_E_NOMEM;
	}
	put32(v, n);
	(void)ps_buf_add(b, v, 4);
	for (i = 0; i < n; i++) {
		put64(b->data + b->len, ids[i]);
		b->len += 8;
	}
	patch_len(b, start);
	return 0;
}

int
ps_put_dead_list(struct ps_buf *b, int version, const char *queue,
    uint32_t preview)
{
	size_t	 start = b->len;
	uint8_t	 v[4];
	int	 error;

	if (header(b, PS_DEAD_LIST, 0) == NULL)
		return -PS_E_NOMEM;
	put32(v, preview);
	if ((error = put_queue(b, version, queue, strlen(queue))) != 0 ||
	    (error = ps_buf_add(b, v, 4)) != 0) {
		b->len = start;
		return error;
	}
	patch_len(b, start);
	return 0;
}

/* A DEAD_LIST_REPLY is built like an ENQUEUE: begin, entries, end. */
int
ps_put_dead_begin(struct ps_buf *b, size_t *start)
{
	*start = b->len;
	if (header(b, PS_DEAD_LIST_REPLY, 8) == NULL)
		return -PS_E_NOMEM;
	return 0;
}

int
ps_put_dead(struct ps_buf *b, int version, const struct ps_dead *d)
{
	uint8_t	*p;
	size_t	 elen = version >= 5 ? d->error_len : 0;

	if (elen > PS_DEAD_ERROR_MAX)
		return -PS_E_BAD_VALUE;
	if (ps_buf_reserve(b, PS_DEAD_ENTRY + (size_t)d->preview_len +
	    (version >= 5 ? 2 + elen : 0)) != 0)
		return -PS_E_NOMEM;
	p = b->data + b->len;
	put64(p, d->id);
	put32(p + 8, d->attempts);
	p[12] = d->reason;
	p[13] = 0;
	put32(p + 14, d->len);
	put16(p + 18, d->preview_len);
	if (d->preview_len != 0)
		memcpy(p + PS_DEAD_ENTRY, d->preview, d->preview_len);
	p += PS_DEAD_ENTRY + (size_t)d->preview_len;
	if (version >= 5) {
		put16(p, (uint16_t)elen);
		if (elen != 0)
			memcpy(p + 2, d->error, elen);
		p += 2 + elen;
	}
	b->len = (size_t)(p - b->data);
	return 0;
}

/* NACK_ERROR: one id, when, and the error (at most 4096 bytes). */
int
ps_put_nack_error(struct ps_buf *b, const struct ps_nack_error *n)
{
	uint8_t	*p;

	if (n->error_len > PS_ERROR_TEXT_MAX)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_NACK_ERROR, 14 + (uint32_t)n->error_len)) ==
	    NULL)
		return -PS_E_NOMEM;
	put64(p, n->id);
	put32(p + 8, n->delay_ms);
	put16(p + 12, n->error_len);
	if (n->error_len != 0)
		memcpy(p + 14, n->error, n->error_len);
	return 0;
}

void
ps_put_dead_end(struct ps_buf *b, size_t start, uint32_t total,
    uint32_t count)
{
	uint8_t	*p = b->data + start;

	put32(p, (uint32_t)(b->len - start - PS_HDR_LEN));
	put32(p + PS_HDR_LEN, total);
	put32(p + PS_HDR_LEN + 4, count);
}

int
ps_put_dead_done(struct ps_buf *b, uint32_t n)
{
	uint8_t	*p;

	if ((p = header(b, PS_DEAD_DONE, 4)) == NULL)
		return -PS_E_NOMEM;
	put32(p, n);
	return 0;
}

/* queue NULL: the whole daemon; else (version 3) that queue. */
int
ps_put_stats(struct ps_buf *b, int version, const char *queue)
{
	size_t	 start = b->len;
	int	 error;

	if (queue != NULL && version < 3)
		return -PS_E_BAD_VALUE;
	if (header(b, PS_STATS, 0) == NULL)
		return -PS_E_NOMEM;
	if (queue != NULL &&
	    (error = put_queue(b, version, queue, strlen(queue))) != 0) {
		b->len = start;
		return error;
	}
	patch_len(b, start);
	return 0;
}

int
ps_put_queues(struct ps_buf *b, uint32_t start)
{
	uint8_t	*p;

	if ((p = header(b, PS_QUEUES, 4)) == NULL)
		return -PS_E_NOMEM;
	put32(p, start);
	return 0;
}

/* QUEUES_REPLY: begin, per queue an entry and its ps_put_stat, end. */
int
ps_put_queues_begin(struct ps_buf *b, size_t *start)
{
	*start = b->len;
	if (header(b, PS_QUEUES_REPLY, 8) == NULL)
		return -PS_E_NOMEM;
	return 0;
}

int
ps_put_queue_entry(struct ps_buf *b, const char *name, size_t len,
    uint8_t nfields)
{
	int	 error;

	if ((error = put_queue(b, 3, name, len)) != 0)
		return error;
	return ps_buf_add(b, &nfields, 1);
}

void
ps_put_queues_end(struct ps_buf *b, size_t start, uint32_t total,
    uint32_t count)
{
	patch_len(b, start);
	put32(b->data + start + PS_HDR_LEN, total);
	put32(b->data + start + PS_HDR_LEN + 4, count);
}

/* TASK_STATS: a queue or group, and the first row to list. */
int
ps_put_task_stats(struct ps_buf *b, const char *queue, size_t len,
    uint32_t start)
{
	size_t	 at = b->len;
	uint8_t	 v[4];
	int	 error;

	if (header(b, PS_TASK_STATS, 0) == NULL)
		return -PS_E_NOMEM;
	if ((error = put_queue(b, 3, queue, len)) != 0) {
		b->len = at;
		return error;
	}
	put32(v, start);
	if (ps_buf_add(b, v, 4) != 0) {
		b->len = at;
		return -PS_E_NOMEM;
	}
	patch_len(b, at);
	return 0;
}

/* TASK_STATS_REPLY: begin, per task an entry and its ps_put_stat, end. */
int
ps_put_task_stats_begin(struct ps_buf *b, size_t *start)
{
	*start = b->len;
	if (header(b, PS_TASK_STATS_REPLY, 8) == NULL)
		return -PS_E_NOMEM;
	return 0;
}

int
ps_put_task_entry(struct ps_buf *b, const void *name, size_t len,
    uint8_t nfields)
{
	uint8_t	 n = (uint8_t)len;

	if (len == 0 || len > PS_TASK_NAME_MAX)
		return -PS_E_BAD_VALUE;
	if (ps_buf_add(b, &n, 1) != 0 || ps_buf_add(b, name, len) != 0 ||
	    ps_buf_add(b, &nfields, 1) != 0)
		return -PS_E_NOMEM;
	return 0;
}

void
ps_put_task_stats_end(struct ps_buf *b, size_t start, uint32_t total,
    uint32_t count)
{
	ps_put_queues_end(b, start, total, count);
}

/* settings: n "KEY=VALUE" strings, for PS_QUEUE_SET and _CREATE. */
int
ps_put_queue_admin(struct ps_buf *b, uint8_t op, uint8_t flags,
    const char *queue, const char * const *settings, uint16_t n)
{
	size_t	 start = b->len, len;
	uint8_t	*p, v[2];
	uint16_t i;
	int	 error;

	if ((p = header(b, PS_QUEUE_ADMIN, 2)) == NULL)
		return -PS_E_NOMEM;
	p[0] = op;
	p[1] = flags;
	if ((error = put_queue(b, 3, queue, strlen(queue))) != 0)
		goto fail;
	put16(v, n);
	if ((error = ps_buf_add(b, v, 2)) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if ((len = strlen(settings[i])) > UINT16_MAX) {
			error = -PS_E_BAD_VALUE;
			goto fail;
		}
		put16(v, (uint16_t)len);
		if ((error = ps_buf_add(b, v, 2)) != 0 ||
		    (error = ps_buf_add(b, settings[i], len)) != 0)
			goto fail;
	}
	patch_len(b, start);
	return 0;
fail:
	b->len = start;
	return error;
}

int
ps_put_queue_done(struct ps_buf *b, uint64_t n)
{
	uint8_t	*p;

	if ((p = header(b, PS_QUEUE_DONE, 8)) == NULL)
		return -PS_E_NOMEM;
	put64(p, n);
	return 0;
}

int
ps_put_error(struct ps_buf *b, uint16_t code, const char *msg)
{
	uint8_t	*p;
	size_t	 n = strlen(msg);

	if (n > 1024)
		n = 1024;
	if ((p = header(b, PS_ERROR, 2 + (uint32_t)n)) == NULL)
		return -PS_E_NOMEM;
	put16(p, code);
	memcpy(p + 2, msg, n);
	return 0;
}

/*
 * STATS_REPLY: begin, then ps_put_stat per counter, ps_put_stats_consumers,
 * per consumer ps_put_stats_consumer and its ps_put_stat fields, then end.
 */
int
ps_put_stats_begin(struct ps_buf *b, size_t *start)
{
	*start = b->len;
	if (header(b, PS_STATS_REPLY, 2) == NULL)
		return -PS_E_NOMEM;
	return 0;
}

static int
put_name(struct ps_buf *b, const char *name, size_t len)
{
	uint8_t	 n;

	if (len == 0 || len > PS_NAME_MAX)
		return -PS_E_BAD_VALUE;
	n = (uint8_t)len;
	if (ps_buf_add(b, &n, 1) != 0 || ps_buf_add(b, name, len) != 0)
		return -PS_E_NOMEM;
	return 0;
}

int
ps_put_stat(struct ps_buf *b, const char *name, uint64_t value)
{
	uint8_t	 v[8];
	int	 error;

	if ((error = put_name(b, name, strlen(name))) != 0)
		return error;
	put64(v, value);
	return ps_buf_add(b, v, 8);
}

/*
 * Version 2: after the consumers, named texts.  ps_put_stats_texts marks
 * where their count goes; ps_put_stats_texts_end patches it and the
 * frame's length (after ps_put_stats_end).
 */
int
ps_put_stats_texts(struct ps_buf *b, size_t *at)
{
	*at = b->len;
	if (ps_buf_reserve(b, 2) != 0)
		return -PS_E_NOMEM;
	put16(b->data + b->len, 0);
	b->len += 2;
	return 0;
}

int
ps_put_stat_text(struct ps_buf *b, const char *name, const char *value)
{
	size_t	 n = strlen(name), v = strlen(value);
	uint8_t	*p;

	if (n == 0 || n > PS_NAME_MAX || v > PS_STAT_TEXT_MAX)
		return -PS_E_BAD_VALUE;
	if (ps_buf_reserve(b, 3 + n + v) != 0)
		return -PS_E_NOMEM;
	p = b->data + b->len;
	p[0] = (uint8_t)n;
	memcpy(p + 1, name, n);
	put16(p + 1 + n, (uint16_t)v);
	memcpy(p + 3 + n, value, v);
	b->len += 3 + n + v;
	return 0;
}

void
ps_put_stats_texts_end(struct ps_buf *b, size_t start, size_t at,
    uint16_t ntexts)
{
	put32(b->data + start, (uint32_t)(b->len - start - PS_HDR_LEN));
	put16(b->data + at, ntexts);
}

/* The consumer count goes in at ps_put_stats_end; *at marks its place. */
int
ps_put_stats_consumers(struct ps_buf *b, size_t *at)
{
	uint8_t	 v[4] = { 0, 0, 0, 0 };

	*at = b->len;
	return ps_buf_add(b, v, 4);
}

int
ps_put_stats_consumer(struct ps_buf *b, const char *id, size_t len,
    uint8_t nfields)
{
	int	 error;

	if ((error = put_name(b, id, len)) != 0)
		return error;
	return ps_buf_add(b, &nfields, 1);
}

void
ps_put_stats_end(struct ps_buf *b, size_t start, uint16_t ncounters,
    size_t at, uint32_t nconsumers)
{
	uint8_t	*p = b->data + start;

	put32(p, (uint32_t)(b->len - start - PS_HDR_LEN));
	put16(p + PS_HDR_LEN, ncounters);
	put32(b->data + at, nconsumers);
}

/* JOB: the queue or group, the id (0: by uid), preview bytes, the uid. */
int
ps_put_job(struct ps_buf *b, const char *queue, size_t qlen, uint64_t id,
    uint16_t preview, const void *uid, uint8_t ulen)
{
	uint8_t	*p;

	if (qlen == 0 || qlen > PS_PATH_MAX || preview > PS_PREVIEW_MAX ||
	    (id == 0) != (ulen != 0) || ulen > PS_UNIQUE_ID_MAX)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_JOB, (uint32_t)(1 + qlen + 11 + ulen))) == NULL)
		return -PS_E_NOMEM;
	p[0] = (uint8_t)qlen;
	memcpy(p + 1, queue, qlen);
	p += 1 + qlen;
	put64(p, id);
	put16(p + 8, preview);
	p[10] = ulen;
	if (ulen != 0)
		memcpy(p + 11, uid, ulen);
	return 0;
}

/* JOB_REPLY, j's fields as the writer's half of struct ps_job says. */
int
ps_put_job_reply(struct ps_buf *b, const struct ps_job *j)
{
	size_t	 alen = (j->klen >= 0 ? 2 + (size_t)j->klen : 0) + j->hlen;
	size_t	 n = 30 + (size_t)j->preview_len + 1 + j->clen + 2 + alen + 1;
	uint8_t	*p;
	uint8_t	 i;

	if (j->klen > PS_KEY_MAX || alen > UINT16_MAX ||
	    j->preview_len > PS_PREVIEW_MAX)
		return -PS_E_BAD_VALUE;
	for (i = 0; i < j->nfail; i++)
		n += PS_FAILURE_HEAD + (size_t)j->fails[i].wlen +
		    j->fails[i].elen;
	if (j->state == PS_JOB_DONE)
		n += 4 + (size_t)j->rlen;
	if (n > UINT32_MAX)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_JOB_REPLY, (uint32_t)n)) == NULL)
		return -PS_E_NOMEM;
	put64(p, j->id);
	p[8] = j->state;
	p[9] = j->reason;
	put32(p + 10, j->attempts);
	put64(p + 14, j->at);
	put16(p + 22, j->priority);
	put32(p + 24, j->len);
	put16(p + 28, j->preview_len);
	if (j->preview_len != 0)
		memcpy(p + 30, j->preview, j->preview_len);
	p += 30 + j->preview_len;
	*p++ = j->clen;
	if (j->clen != 0)
		memcpy(p, j->consumer, j->clen);
	p += j->clen;
	put16(p, (uint16_t)alen);
	p += 2;
	if (j->klen >= 0) {
		*p++ = PS_ATTR_KEY;
		*p++ = (uint8_t)j->klen;
		if (j->klen != 0)
			memcpy(p, j->key, (size_t)j->klen);
		p += j->klen;
	}
	if (j->hlen != 0) {
		memcpy(p, j->hdr, j->hlen);
		p += j->hlen;
	}
	*p++ = j->nfail;
	for (i = 0; i < j->nfail; i++)
		p = ps_failure_put(p, &j->fails[i]);
	if (j->state == PS_JOB_DONE) {
		put32(p, j->rlen);
		if (j->rlen != 0)
			memcpy(p + 4, j->result, j->rlen);
	}
	return 0;
}

/*
 * JOB_CANCEL: the queue, then a unique id (ulen 1 to 128, n 0) or the
 * ids (n at least 1, ulen 0).
 */
int
ps_put_job_cancel(struct ps_buf *b, const char *queue, size_t qlen,
    const uint64_t *ids, uint32_t n, const void *uid, uint8_t ulen)
{
	uint8_t		*p;
	uint32_t	 i;

	if (qlen == 0 || qlen > PS_PATH_MAX || (n == 0) == (ulen == 0) ||
	    ulen > PS_UNIQUE_ID_MAX || n > (UINT32_MAX - 300) / 8)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_JOB_CANCEL, (uint32_t)(1 + qlen + 1 + ulen +
	    4 + (size_t)n * 8))) == NULL)
		return -PS_E_NOMEM;
	p[0] = (uint8_t)qlen;
	memcpy(p + 1, queue, qlen);
	p += 1 + qlen;
	p[0] = ulen;
	if (ulen != 0)
		memcpy(p + 1, uid, ulen);
	p += 1 + ulen;
	put32(p, n);
	for (i = 0; i < n; i++)
		put64(p + 4 + (size_t)i * 8, ids[i]);
	return 0;
}

/* JOB_CANCEL_REPLY: each id with what was done. */
int
ps_put_cancel_reply(struct ps_buf *b, const uint64_t *ids,
    const uint8_t *outcomes, uint32_t n)
{
	uint8_t		*p;
	uint32_t	 i;

	if (n > (UINT32_MAX - 4) / 9)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_JOB_CANCEL_REPLY, 4 + n * 9)) == NULL)
		return -PS_E_NOMEM;
	put32(p, n);
	for (i = 0; i < n; i++) {
		put64(p + 4 + (size_t)i * 9, ids[i]);
		p[4 + (size_t)i * 9 + 8] = outcomes[i];
	}
	return 0;
}

/* ACK_RESULT: the id, then its result. */
int
ps_put_ack_result(struct ps_buf *b, uint64_t id, const void *result,
    uint32_t len)
{
	uint8_t	*p;

	if (len > UINT32_MAX - 12)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_ACK_RESULT, 12 + len)) == NULL)
		return -PS_E_NOMEM;
	put64(p, id);
	put32(p + 8, len);
	if (len != 0)
		memcpy(p + 12, result, len);
	return 0;
}

/* WAIT: the queue or group, the id (0: by uid), the timeout, the uid. */
int
ps_put_wait(struct ps_buf *b, const char *queue, size_t qlen, uint64_t id,
    uint32_t timeout_ms, const void *uid, uint8_t ulen)
{
	uint8_t	*p;

	if (qlen == 0 || qlen > PS_PATH_MAX || (id == 0) != (ulen != 0) ||
	    ulen > PS_UNIQUE_ID_MAX)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_WAIT, (uint32_t)(1 + qlen + 13 + ulen))) ==
	    NULL)
		return -PS_E_NOMEM;
	p[0] = (uint8_t)qlen;
	memcpy(p + 1, queue, qlen);
	p += 1 + qlen;
	put64(p, id);
	put32(p + 8, timeout_ms);
	p[12] = ulen;
	if (ulen != 0)
		memcpy(p + 13, uid, ulen);
	return 0;
}

int
ps_put_wait_reply(struct ps_buf *b, const struct ps_wait_reply *r)
{
	uint8_t	*p;

	if (r->len > UINT32_MAX - 28)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_WAIT_REPLY, 28 + r->len)) == NULL)
		return -PS_E_NOMEM;
	put64(p, r->id);
	p[8] = r->state;
	p[9] = r->timed_out;
	p[10] = r->reason;
	p[11] = 0;
	put64(p + 12, r->at);
	put32(p + 20, r->attempts);
	put32(p + 24, r->len);
	if (r->len != 0)
		memcpy(p + 28, r->data, r->len);
	return 0;
}

/* JOBS: the queue, the state, a page's limit and preview, the cursor. */
int
ps_put_jobs(struct ps_buf *b, const struct ps_jobs_ask *a)
{
	size_t	 flen = a->filter == PS_FILTER_KEY ? a->klen :
		    a->filter == PS_FILTER_HEADER ? 1 + (size_t)a->hnlen +
		    a->hvlen : 0;
	uint8_t	*p;

	if (a->queue.len == 0 || a->queue.len > PS_PATH_MAX ||
	    a->limit == 0 || a->limit > PS_JOBS_LIMIT_MAX ||
	    a->preview > PS_PREVIEW_MAX || flen > UINT16_MAX)
		return -PS_E_BAD_VALUE;
	if ((p = header(b, PS_JOBS, (uint32_t)(1 + a->queue.len + 24 +
	    flen))) == NULL)
		return -PS_E_NOMEM;
	p[0] = (uint8_t)a->queue.len;
	memcpy(p + 1, a->queue.name, a->queue.len);
	p += 1 + a->queue.len;
	p[0] = a->state;
	put16(p + 1, a->limit);
	put16(p + 3, a->preview);
	put64(p + 5, a->after);
	put64(p + 13, a->tag);
	p[21] = a->filter;
	put16(p + 22, (uint16_t)flen);
	p += 24;
	if (a->filter == PS_FILTER_KEY && a->klen != 0)
		memcpy(p, a->key, a->klen);
	else if (a->filter == PS_FILTER_HEADER) {
		p[0] = a->hnlen;
		memcpy(p + 1, a->hname, a->hnlen);
		if (a->hvlen != 0)
			memcpy(p + 1 + a->hnlen, a->hval, a->hvlen);
	}
	return 0;
}

/* A JOBS_REPLY entry's bytes. */
size_t
ps_jobs_entry_size(const struct ps_jobs_entry *e)
{
	return PS_JOBS_ENTRY_HEAD + (size_t)e->preview_len +
	    (e->klen >= 0 ? 2 + (size_t)e->klen : 0) + e->hlen;
}

/* A JOBS_REPLY, entry by entry: its head's room first. */
int
ps_put_jobs_begin(struct ps_buf *b, size_t *start)
{
	uint8_t	*p;

	*start = b->len;
	if ((p = header(b, PS_JOBS_REPLY, 20)) == NULL)
		return -PS_E_NOMEM;
	memset(p, 0, 20);
	return 0;
}

int
ps_put_jobs_entry(struct ps_buf *b, const struct ps_jobs_entry *e)
{
	size_t	 alen = (e->klen >= 0 ? 2 + (size_t)e->klen : 0) + e->hlen;
	uint8_t	*p;

	if (e->klen > PS_KEY_MAX || alen > UINT16_MAX ||
	    ps_buf_reserve(b, ps_jobs_entry_size(e)) != 0)
		return -PS_E_NOMEM;
	p = b->data + b->len;
	put64(p, e->id);
	p[8] = e->state;
	p[9] = e->reason;
	put32(p + 10, e->attempts);
	put64(p + 14, e->at);
	put32(p + 22, e->len);
	put16(p + 26, e->preview_len);
	if (e->preview_len != 0)
		memcpy(p + 28, e->preview, e->preview_len);
	p += 28 + e->preview_len;
	put16(p, (uint16_t)alen);
	p += 2;
	if (e->klen >= 0) {
		*p++ = PS_ATTR_KEY;
		*p++ = (uint8_t)e->klen;
		if (e->klen != 0)
			memcpy(p, e->key, (size_t)e->klen);
		p += e->klen;
	}
	if (e->hlen != 0)
		memcpy(p, e->hdr, e->hlen);
	b->len += ps_jobs_entry_size(e);
	return 0;
}

/* The head and the frame's length, once its count entries are in. */
void
ps_put_jobs_end(struct ps_buf *b, size_t start, uint64_t after,
    uint64_t tag, uint32_t count)
{
	uint8_t	*p = b->data + start;

	put32(p, (uint32_t)(b->len - start - PS_HDR_LEN));
	put64(p + PS_HDR_LEN, after);
	put64(p + PS_HDR_LEN + 8, tag);
	put32(p + PS_HDR_LEN + 16, count);
}
