/*
 * schedule.c: the SCHEDULE frame (a client defines, changes or lists the
 * daemon's schedules) and SCHEDULE_REPLY (their entries), both ways.  An
 * entry's bytes are also a record of producerd's DIR/schedules.  No I/O;
 * the layouts are in docs/protocol.md.
 */
#include <string.h>

#include "bytes.h"
#include "frame.h"

static int
put_name(struct ps_buf *b, const char *s, size_t len)
{
	uint8_t	 n = (uint8_t)len;

	if (len > UINT8_MAX)
		return -PS_E_BAD_VALUE;
	if (ps_buf_add(b, &n, 1) != 0 || ps_buf_add(b, s, len) != 0)
		return -PS_E_NOMEM;
	return 0;
}

/* u16 n, then n times a u16 length and its bytes. */
static int
put_kvs(struct ps_buf *b, const char * const *kv, uint16_t n)
{
	size_t		 len;
	uint16_t	 i;
	uint8_t		 v[2];

	put16(v, n);
	if (ps_buf_add(b, v, 2) != 0)
		return -PS_E_NOMEM;
	for (i = 0; i < n; i++) {
		if ((len = strlen(kv[i])) > PS_SCHED_FIELD_MAX)
			return -PS_E_BAD_VALUE;
		put16(v, (uint16_t)len);
		if (ps_buf_add(b, v, 2) != 0 || ps_buf_add(b, kv[i], len) != 0)
			return -PS_E_NOMEM;
	}
	return 0;
}

/* An event: u32 len, u16 attrs_len, the attributes, the payload. */
static int
put_event(struct ps_buf *b, const void *attrs, uint16_t alen,
    const void *data, uint32_t len)
{
	uint8_t	 v[6];

	put32(v, len);
	put16(v + 4, alen);
	if (ps_buf_add(b, v, 6) != 0 || (alen != 0 && ps_buf_add(b, attrs,
	    alen) != 0) || (len != 0 && ps_buf_add(b, data, len) != 0))
		return -PS_E_NOMEM;
	return 0;
}

static size_t
frame_start(struct ps_buf *b, uint8_t type, int *error)
{
	uint8_t	 h[PS_HDR_LEN] = { 0, 0, 0, 0, type, 0, 0, 0 };
	size_t	 start = b->len;

	*error = ps_buf_add(b, h, sizeof h) != 0 ? -PS_E_NOMEM : 0;
	return start;
}

static void
frame_end(struct ps_buf *b, size_t start)
{
	put32(b->data + start, (uint32_t)(b->len - start - PS_HDR_LEN));
}

/* The head every SCHEDULE has: op, flags, name, start. */
static int
put_head(struct ps_buf *b, uint8_t op, uint8_t flags, const char *name,
    uint32_t start)
{
	uint8_t	 v[4];
	int	 error;

	v[0] = op;
	v[1] = flags;
	if (ps_buf_add(b, v, 2) != 0)
		return -PS_E_NOMEM;
	if ((error = put_name(b, name, name != NULL ? strlen(name) : 0)) != 0)
		return error;
	put32(v, start);
	return ps_buf_add(b, v, 4) != 0 ? -PS_E_NOMEM : 0;
}

/* A SCHEDULE other than ADD: name NULL or "" for a LIST of all. */
int
ps_put_schedule(struct ps_buf *b, uint8_t op, uint8_t flags,
    const char *name, uint32_t start)
{
	size_t	 at;
	int	 error;

	if (op < PS_SCHED_REMOVE || op > PS_SCHED_LIST)
		return -PS_E_BAD_VALUE;
	at = frame_start(b, PS_SCHEDULE, &error);
	if (error == 0 && (error = put_head(b, op, flags, name, start)) == 0) {
		frame_end(b, at);
		return 0;
	}
	b->len = at;
	return error;
}

/*
 * An ADD: the schedule's name, its queue, its settings ("KEY=VALUE"), its
 * event's attribute block (as an ENQUEUE's) and payload.
 */
int
ps_put_schedule_add(struct ps_buf *b, uint8_t flags, const char *name,
    const char *queue, const char * const *settings, uint16_t n,
    const void *attrs, uint16_t alen, const void *data, uint32_t len)
{
	size_t	 at;
	int	 error;

	if (name == NULL || *name == '\0' || queue == NULL || *queue == '\0')
		return -PS_E_BAD_VALUE;
	at = frame_start(b, PS_SCHEDULE, &error);
	if (error == 0 &&
	    (error = put_head(b, PS_SCHED_ADD, flags, name, 0)) == 0 &&
	    (error = put_name(b, queue, strlen(queue))) == 0 &&
	    (error = put_kvs(b, settings, n)) == 0 &&
	    (error = put_event(b, attrs, alen, data, len)) == 0) {
		frame_end(b, at);
		return 0;
	}
	b->len = at;
	return error;
}

/* A cursor: any read past the end leaves NULL. */
static const uint8_t *
take(const uint8_t **p, const uint8_t *end, size_t n)
{
	const uint8_t	*at = *p;

	if (at == NULL || (size_t)(end - at) < n) {
		*p = NULL;
		return NULL;
	}
	*p = at + n;
	return at;
}

/* u8 length and bytes: the bytes, *n their length; NULL past the end. */
static const char *
take_name(const uint8_t **p, const uint8_t *end, uint8_t *n)
{
	const uint8_t	*q;

	if ((q = take(p, end, 1)) == NULL)
		return NULL;
	*n = *q;
	return (const char *)take(p, end, *n);
}

/* u16 n and n length-prefixed texts, each at most PS_SCHED_FIELD_MAX. */
static const uint8_t *
take_kvs(const uint8_t **p, const uint8_t *end, uint16_t *n)
{
	const uint8_t	*q, *first;
	uint16_t	 i;

	if ((q = take(p, end, 2)) == NULL)
		return NULL;
	*n = get16(q);
	first = *p;
	for (i = 0; i < *n; i++) {
		if ((q = take(p, end, 2)) == NULL)
			return NULL;
		if (get16(q) > PS_SCHED_FIELD_MAX) {
			*p = NULL;
			return NULL;
		}
		if (take(p, end, get16(q)) == NULL)
			return NULL;
	}
	return first;
}

/* u32 len, u16 attrs_len, attrs, data. */
static int
take_event(const uint8_t **p, const uint8_t *end, const uint8_t **attrs,
    uint16_t *alen, const uint8_t **data, uint32_t *len)
{
	const uint8_t	*q;

	if ((q = take(p, end, 6)) == NULL)
		return -1;
	*len = get32(q);
	*alen = get16(q + 4);
	if ((*attrs = take(p, end, *alen)) == NULL ||
	    (*data = take(p, end, *len)) == NULL)
		return -1;
	return 0;
}

/*
 * A SCHEDULE's fields: -PS_E_BAD_LENGTH when they do not add up to the
 * body, -PS_E_BAD_VALUE for an op, a flag, a start or a name's length
 * out of range, with *why (if why is not NULL) naming the field.  The
 * name's and queue's bytes, the settings and the event's attributes are
 * the daemon's to check.
 */
int
ps_get_schedule_why(const struct ps_frame *f, struct ps_schedule *s,
    const char **why)
{
	const uint8_t	*p = f->body, *end = f->body + f->len, *q;
	const char	*w = NULL;

	memset(s, 0, sizeof *s);
	if (f->type != PS_SCHEDULE || (q = take(&p, end, 2)) == NULL)
		w = "shorter than op and flags";
	else {
		s->op = q[0];
		s->flags = q[1];
		if ((s->name = take_name(&p, end, &s->name_len)) == NULL ||
		    (q = take(&p, end, 4)) == NULL)
			w = "its name or start runs past its end";
		else {
			s->start = get32(q);
			if (s->op == PS_SCHED_ADD && ((s->queue.name = take_name(
			    &p, end, &s->queue.len)) == NULL ||
			    (s->settings = take_kvs(&p, end,
			    &s->nsettings)) == NULL || take_event(&p, end,
			    &s->attrs, &s->alen, &s->data, &s->len) != 0))
				w = "an ADD's queue, settings or event run "
				    "past its end (or a setting over 1024 "
				    "bytes)";
			else if (p != end)
				w = "bytes left over after its fields";
		}
	}
	if (w != NULL) {
		if (why != NULL)
			*why = w;
		return -PS_E_BAD_LENGTH;
	}
	if (s->op < PS_SCHED_ADD || s->op > PS_SCHED_LIST)
		w = "op is 1 (ADD) to 6 (LIST)";
	else if ((s->flags & ~PS_SCHED_REPLACE) != 0 ||
	    (s->flags != 0 && s->op != PS_SCHED_ADD))
		w = "flags: REPLACE (1), on an ADD, is the only one";
	else if (s->start != 0 && (s->op != PS_SCHED_LIST ||
	    s->name_len != 0))
		w = "start is for a LIST of every schedule; else 0";
	else if (s->name_len > PS_SCHED_NAME_MAX ||
	    (s->name_len == 0 && s->op != PS_SCHED_LIST))
		w = "a schedule's name is 1 to 64 bytes (none: a LIST of "
		    "every one)";
	else if (s->op == PS_SCHED_ADD && (s->queue.len == 0 ||
	    s->queue.len > PS_PATH_MAX))
		w = "an ADD's queue is 1 to 64 bytes";
	if (w != NULL) {
		if (why != NULL)
			*why = w;
		return -PS_E_BAD_VALUE;
	}
	return 0;
}

int
ps_get_schedule(const struct ps_frame *f, struct ps_schedule *s)
{
	return ps_get_schedule_why(f, s, NULL);
}

/*
 * The next of a checked list of "KEY=VALUE" texts at *p, n left: 1 and
 * the text, or 0 at the end.
 */
int
ps_kv_next(const uint8_t **p, uint16_t *n, const char **s, size_t *len)
{
	if (*n == 0)
		return 0;
	*len = get16(*p);
	*s = (const char *)*p + 2;
	*p += 2 + *len;
	(*n)--;
	return 1;
}

/*
 * A field's value that is a number (`fired=3`): 1 to 20 digits, within a
 * u64, into *v; 0, or -1 (then *v is 0).
 */
int
ps_kv_u64(const char *s, size_t n, uint64_t *v)
{
	size_t	 i;

	*v = 0;
	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    *v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) {
			*v = 0;
			return -1;
		}
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

/* An entry's field KEY: its value and length, or NULL if it has none. */
const char *
ps_kv_find(const struct ps_schedule_entry *e, const char *key, size_t *len)
{
	const uint8_t	*p = e->fields;
	const char	*s;
	uint16_t	 n = e->nfields;
	size_t		 l, k = strlen(key);

	while (ps_kv_next(&p, &n, &s, &l)) {
		if (l > k && s[k] == '=' && memcmp(s, key, k) == 0) {
			*len = l - k - 1;
			return s + k + 1;
		}
	}
	return NULL;
}

/* SCHEDULE_REPLY: u32 total, u32 count, then the entries. */
int
ps_put_schedule_reply_begin(struct ps_buf *b, size_t *start)
{
	uint8_t	 v[8] = { 0 };
	int	 error;

	*start = frame_start(b, PS_SCHEDULE_REPLY, &error);
	if (error == 0 && ps_buf_add(b, v, 8) != 0)
		error = -PS_E_NOMEM;
	if (error != 0)
		b->len = *start;
	return error;
}

/*
 * One entry, in a reply begun or alone (DIR/schedules): name, queue,
 * fields ("KEY=VALUE"), the event.  On failure nothing of it stays.
 */
int
ps_put_schedule_entry(struct ps_buf *b, const char *name, size_t nlen,
    const char *queue, size_t qlen, const char * const *fields, uint16_t n,
    const void *attrs, uint16_t alen, const void *data, uint32_t len)
{
	size_t	 at = b->len;
	int	 error;

	if (nlen == 0 || nlen > PS_SCHED_NAME_MAX || qlen == 0 ||
	    qlen > PS_PATH_MAX)
		return -PS_E_BAD_VALUE;
	if ((error = put_name(b, name, nlen)) != 0 ||
	    (error = put_name(b, queue, qlen)) != 0 ||
	    (error = put_kvs(b, fields, n)) != 0 ||
	    (error = put_event(b, attrs, alen, data, len)) != 0)
		b->len = at;
	return error;
}

void
ps_put_schedule_reply_end(struct ps_buf *b, size_t start, uint32_t total,
    uint32_t count)
{
	put32(b->data + start + PS_HDR_LEN, total);
	put32(b->data + start + PS_HDR_LEN + 4, count);
	frame_end(b, start);
}

/*
 * One entry at p (n bytes): 0, *used its length; -PS_E_BAD_LENGTH if it
 * runs past n, -PS_E_BAD_VALUE for a name or queue of length 0 or over
 * its bound.
 */
int
ps_get_schedule_entry(const uint8_t *p, size_t n,
    struct ps_schedule_entry *e, size_t *used)
{
	const uint8_t	*at = p, *end = p + n;

	memset(e, 0, sizeof *e);
	if ((e->name = take_name(&at, end, &e->name_len)) == NULL ||
	    (e->queue.name = take_name(&at, end, &e->queue.len)) == NULL ||
	    (e->fields = take_kvs(&at, end, &e->nfields)) == NULL ||
	    take_event(&at, end, &e->attrs, &e->alen, &e->data, &e->len) != 0)
		return -PS_E_BAD_LENGTH;
	if (e->name_len == 0 || e->name_len > PS_SCHED_NAME_MAX ||
	    e->queue.len == 0 || e->queue.len > PS_PATH_MAX)
		return -PS_E_BAD_VALUE;
	*used = (size_t)(at - p);
	return 0;
}

int
ps_get_schedule_reply(const struct ps_frame *f, struct ps_schedule_reply *r)
{
	memset(r, 0, sizeof *r);
	if (f->type != PS_SCHEDULE_REPLY || f->len < 8)
		return -PS_E_BAD_LENGTH;
	r->total = get32(f->body);
	r->count = get32(f->body + 4);
	r->p = f->body + 8;
	r->left = f->len - 8;
	/* An entry is at least 12 bytes. */
	if (r->count > r->left / 12 || r->count > r->total)
		return -PS_E_BAD_LENGTH;
	return 0;
}

/* The next entry: 1, 0 after the last (and the body used up), or -error. */
int
ps_schedule_reply_next(struct ps_schedule_reply *r,
    struct ps_schedule_entry *e)
{
	size_t	 used;
	int	 error;

	if (r->next == r->count)
		return r->left == 0 ? 0 : -PS_E_BAD_LENGTH;
	if ((error = ps_get_schedule_entry(r->p, r->left, e, &used)) != 0)
		return error;
	r->p += used;
	r->left -= (uint32_t)used;
	r->next++;
	return 1;
}
