/*
 * jrec.c: the journal's records to bytes and back, with no I/O, so that
 * the format lives in one file that unit tests and fuzz_replay drive
 * alone.  Writing goes straight into the journal's buffer (one copy of a
 * payload, as before); reading checks a record whole (header, checksums,
 * every entry's lengths) before anyone applies it, and then walks it in
 * place, never past its end.
 */
#include <string.h>

#include "bytes.h"
#include "crc32c.h"
#include "jrec.h"

/* Records whose body starts with their queue's name. */
static int
names_queue(int type)
{
	return type != JREC_ENQUEUE && type != JREC_DELIVER &&
	    type != JREC_DONE && type != JREC_DEAD && type != JREC_RETRY;
}

/* Records of one named group: the group's name after the queue's. */
static int
names_group(int type)
{
	return ((type >= JREC_GROUP && type <= JREC_GDEAD) &&
	    type != JREC_GROUPS) || type == JREC_FAIL || type == JREC_KEPT;
}

/* Records of events enqueued with consecutive ids from a first one. */
static int
enqueues(int type)
{
	return type == JREC_ENQUEUE || type == JREC_QENQUEUE ||
	    type == JREC_KENQUEUE || type == JREC_XENQUEUE;
}

/* Room for a record's header; *at is where it starts, for jrec_end. */
int
jrec_begin(struct ps_buf *b, size_t *at)
{
	if (ps_buf_reserve(b, JOURNAL_REC_HEAD) != 0)
		return -1;
	*at = b->len;
	b->len += JOURNAL_REC_HEAD;
	return 0;
}

/* The record begun at at ends here: its length and checksums. */
void
jrec_end(struct ps_buf *b, size_t at, int type)
{
	uint8_t		*h = b->data + at;
	uint32_t	 len;

	len = (uint32_t)(b->len - at - JOURNAL_REC_HEAD);
	put32(h, len);
	h[4] = (uint8_t)type;
	h[5] = 0;
	put16(h + 6, 0);
	put32(h + 8, crc32c(0, h + JOURNAL_REC_HEAD, len));
	put32(h + 12, crc32c(0, h, 12));
}

static uint8_t *
put_name(uint8_t *p, const char *name, uint8_t n)
{
	*p++ = n;
	if (n != 0)
		memcpy(p, name, n);
	return p + n;
}

/* What a record's body says before its entries, by its type. */
int
jrec_start(struct ps_buf *b, const struct jrec *r)
{
	uint8_t	*p;

	/* Both names' lengths and bytes, then a u64 (or the count). */
	if (ps_buf_reserve(b, 2 + (size_t)r->qlen + r->glen + 8) != 0)
		return -1;
	p = b->data + b->len;
	if (names_queue(r->type))
		p = put_name(p, r->queue, r->qlen);
	if (names_group(r->type))
		p = put_name(p, r->group, r->glen);
	if (enqueues(r->type)) {
		put64(p, r->first_id);
		p += 8;
	} else if (r->type == JREC_GROUP) {
		put64(p, r->from);
		p += 8;
	} else if (r->type == JREC_GROUPS)
		*p++ = r->n;
	b->len = (size_t)(p - b->data);
	return 0;
}

/* A key as records have it: 0 for none, else its length + 1. */
static uint8_t *
put_key(uint8_t *p, const struct jrec_entry *e)
{
	*p++ = e->key != NULL ? (uint8_t)(e->klen + 1) : 0;
	if (e->key != NULL && e->klen != 0)
		memcpy(p, e->key, e->klen);
	return p + (e->key != NULL ? e->klen : 0);
}

/*
 * An event's attributes as XENQUEUE, KEEP, GKEEP and XDEAD keep them, in
 * a version 5 ENQUEUE's encoding: its key, its due time as NOT_BEFORE,
 * its priority, its unique id and its headers.
 */
static void
attrs_of(struct ps_attrs *a, const struct jrec_entry *e)
{
	memset(a, 0, sizeof *a);
	a->key = e->key;
	a->klen = e->klen;
	a->priority = e->prio;
	if (e->due != 0) {
		a->when = PS_WHEN_AT;
		a->not_before = e->due;
	}
	a->uid = e->uid;
	a->ulen = e->ulen;
	a->hdr = e->hdr;
	a->hlen = e->hlen;
}

/* The bytes of e's attributes, for a writer sizing its record. */
size_t
jrec_attrs_size(const struct jrec_entry *e)
{
	struct ps_attrs	 a;

	attrs_of(&a, e);
	return ps_attrs_size(&a);
}

/* An event's attributes and payload: XENQUEUE, KEEP, GKEEP. */
static int
put_attrs(struct ps_buf *b, const struct jrec_entry *e)
{
	struct ps_attrs	 a;

	attrs_of(&a, e);
	return ps_put_enqueue_add_attrs(b, &a, e->data, e->len) == 0 ? 0 : -1;
}

/*
 * One entry of a record of type: an event, an id, a group or a unique
 * id.  -1 out of memory, or an entry the format cannot hold (a unique id
 * of 0 or too many bytes); the buffer is then as it was.
 */
int
jrec_put(struct ps_buf *b, int type, const struct jrec_entry *e)
{
	size_t	 start = b->len, need;
	uint8_t	*p;
	uint8_t	 i, n;

	switch (type) {
	case JREC_ENQUEUE:
	case JREC_QENQUEUE:
		need = 4 + (size_t)e->len;
		break;
	case JREC_KENQUEUE:
		need = 5 + (size_t)e->klen + e->len;
		break;
	case JREC_DEAD:
	case JREC_QDEAD:
		need = 17 + (size_t)e->len;
		break;
	case JREC_KDEAD:
		need = 18 + (size_t)e->klen + e->len;
		break;
	case JREC_XDEAD:
		need = 13;
		break;
	case JREC_FAIL:
		if (e->nfails > JREC_FAILS_MAX ||
		    (e->nfails != 0 && e->fails == NULL))
			return -1;	/* read back: fail, not fails */
		for (i = 0, need = 9; i < e->nfails; i++)
			need += 15 + (size_t)e->fails[i].wlen +
			    e->fails[i].elen;
		break;
	case JREC_GDEAD:
		need = 13;
		break;
	case JREC_DELIVER:
	case JREC_DONE:
	case JREC_RETRY:
	case JREC_GDELIVER:
	case JREC_GDONE:
	case JREC_GRETRY:
	case JREC_XENQUEUE:
	case JREC_GKEEP:
		need = 8;
		break;
	case JREC_KEEP:
		need = 12;
		break;
	case JREC_UIDS:
		need = 17 + (size_t)e->ulen;
		break;
	case JREC_KEPT:
		need = 24 + (size_t)e->len;
		break;
	case JREC_GROUPS:
		need = 9 + (size_t)e->glen;
		break;
	default:
		return -1;		/* GROUP and GROUP_DROP: no entries */
	}
	if (ps_buf_reserve(b, need) != 0)
		return -1;
	p = b->data + b->len;
	switch (type) {
	case JREC_ENQUEUE:
	case JREC_QENQUEUE:
	case JREC_KENQUEUE:
		put32(p, e->len);
		p += 4;
		if (type == JREC_KENQUEUE)
			p = put_key(p, e);
		break;
	case JREC_DEAD:
	case JREC_QDEAD:
	case JREC_KDEAD:
		put64(p, e->id);
		put32(p + 8, e->attempts);
		put32(p + 12, e->len);
		p[16] = e->reason;
		p += 17;
		if (type == JREC_KDEAD)
			p = put_key(p, e);
		break;
	case JREC_GDEAD:
		put64(p, e->id);
		put32(p + 8, e->attempts);
		p[12] = e->reason;
		b->len += 13;
		return 0;
	case JREC_KEEP:
		put32(p + 8, e->attempts);
		/* FALLTHROUGH */
	case JREC_GKEEP:
		put64(p, e->id);
		b->len += need;
		if (put_attrs(b, e) != 0)
			goto fail;
		if (type == JREC_KEEP)
			return 0;
		for (i = 0, need = 1; i < e->nholds; i++)
			need += 7 + strlen(e->holds[i].group);
		if (ps_buf_reserve(b, need) != 0)
			goto fail;
		p = b->data + b->len;
		*p++ = e->nholds;
		for (i = 0; i < e->nholds; i++) {
			n = (uint8_t)strlen(e->holds[i].group);
			p = put_name(p, e->holds[i].group, n);
			put32(p, e->holds[i].attempts);
			p[4] = e->holds[i].dead;
			p[5] = e->holds[i].reason;
			p += 6;
		}
		b->len = (size_t)(p - b->data);
		return 0;
	case JREC_XENQUEUE:
		return put_attrs(b, e);
	case JREC_XDEAD:
		put64(p, e->id);
		put32(p + 8, e->attempts);
		p[12] = e->reason;
		b->len += 13;
		if (put_attrs(b, e) != 0)
			goto fail;
		return 0;
	case JREC_FAIL:
		put64(p, e->id);
		p[8] = e->nfails;
		p += 9;
		for (i = 0; i < e->nfails; i++)
			p = ps_failure_put(p, &e->fails[i]);
		b->len = (size_t)(p - b->data);
		return 0;
	case JREC_KEPT:
		put64(p, e->id);
		put64(p + 8, e->due);
		put32(p + 16, e->attempts);
		put32(p + 20, e->len);
		if (e->len != 0)
			memcpy(p + 24, e->data, e->len);
		b->len += 24 + (size_t)e->len;
		return 0;
	case JREC_UIDS:
		put64(p, e->id);
		put64(p + 8, e->expires);
		p = put_name(p + 16, (const char *)e->uid, e->ulen);
		b->len = (size_t)(p - b->data);
		return 0;
	case JREC_GROUPS:
		p = put_name(p, e->group, e->glen);
		put64(p, e->from);
		b->len = (size_t)(p + 8 - b->data);
		return 0;
	default:
		put64(p, e->id);
		b->len += 8;
		return 0;
	}
	/* An event's payload, after what the cases above wrote. */
	if (e->len != 0)
		memcpy(p, e->data, e->len);
	b->len = (size_t)(p + e->len - b->data);
	return 0;
fail:
	b->len = start;
	return -1;
}

/* A segment's header: the first JOURNAL_SEG_HEAD bytes of its file. */
void
jrec_seg_put(uint8_t *h, uint64_t seq, uint64_t first_id)
{
	memset(h, 0, JOURNAL_SEG_HEAD);
	memcpy(h, JOURNAL_MAGIC, 8);
	put32(h + 8, JOURNAL_VERSION);
	put64(h + 16, seq);
	put64(h + 24, first_id);
	put32(h + 32, crc32c(0, h, 32));
}

/* The n bytes at h as a segment's header: its number and first id. */
const char *
jrec_seg_get(const uint8_t *h, size_t n, uint64_t *seq, uint64_t *first_id)
{
	if (n < JOURNAL_SEG_HEAD)
		return "segment header cut short";
	if (memcmp(h, JOURNAL_MAGIC, 8) != 0)
		return "not a pushstage journal segment";
	if (crc32c(0, h, 32) != get32(h + 32))
		return "bad segment header checksum";
	if (get32(h + 8) != JOURNAL_VERSION)
		return "a journal format this producerd does not know";
	*seq = get64(h + 16);
	*first_id = get64(h + 24);
	return NULL;
}

/*
 * The length a record's header gives, if the header's own checksum
 * holds (0), so that a damaged length is told from a record cut short;
 * h has JOURNAL_REC_HEAD bytes.
 */
int
jrec_head_len(const uint8_t *h, uint32_t *len)
{
	if (crc32c(0, h, 12) != get32(h + 12))
		return -1;
	*len = get32(h);
	return 0;
}

/*
 * One record from the n bytes at p: its header, its length against n, its
 * checksums, then its body as jrec_body.  NULL, or what is wrong; the
 * record then takes JOURNAL_REC_HEAD + r->len bytes.
 */
const char *
jrec_decode(struct jrec *r, const uint8_t *p, size_t n)
{
	uint32_t	 len;

	if (n < JOURNAL_REC_HEAD)
		return "a record header cut short";
	if (jrec_head_len(p, &len) != 0)
		return "bad header checksum";
	if (p[4] < JREC_ENQUEUE || p[4] > JREC_MAX || p[5] != 0 ||
	    get16(p + 6) != 0)
		return "unknown record type";
	if (len > n - JOURNAL_REC_HEAD)
		return "a record cut short";
	if (crc32c(0, p + JOURNAL_REC_HEAD, len) != get32(p + 8))
		return "bad checksum";
	return jrec_body(r, p[4], p + JOURNAL_REC_HEAD, len);
}

/* A name at p of rem bytes, its length byte first: its size, 0 if bad. */
static uint32_t
name_at(const uint8_t *p, uint32_t rem, int group)
{
	uint32_t	 n;

	if (rem == 0 || (n = p[0]) > rem - 1)
		return 0;
	if (n == 0)
		return group ? 1 : 0;
	if (!ps_queue_name_ok((const char *)p + 1, n))
		return 0;
	return 1 + n;
}

static int
bad(struct jrec *r, const char *why)
{
	r->why = why;
	return -1;
}

/* The attributes of an XENQUEUE, KEEP, GKEEP or XDEAD entry, checked. */
static int
get_attrs(struct jrec_entry *e, const uint8_t *p, uint32_t k)
{
	struct ps_attrs	 a;
	const char	*why;
	char		 buf[PS_WHY_MAX];

	if (ps_get_attrs(p, (uint16_t)k, PS_PROTO_MAX_VERSION, &a, &why,
	    buf) != 0)
		return -1;
	e->hdr = a.hdr;
	e->hlen = a.hlen;
	e->key = a.key;
	e->klen = a.klen;
	e->prio = a.priority;
	e->due = a.when == PS_WHEN_AT ? a.not_before : 0;
	e->uid = a.uid;
	e->ulen = a.ulen;
	return 0;
}

/*
 * The body of a record of type, len bytes at p (the record's header
 * checked): what comes before its entries into r, then every entry
 * checked, so that applying it cannot fail half-way.  NULL, or what is
 * wrong; r is then ready for jrec_next.
 */
const char *
jrec_body(struct jrec *r, int type, const uint8_t *p, uint32_t len)
{
	struct jrec		 walk;
	struct jrec_entry	 e;
	uint32_t		 off = 0, n;
	int			 grouped, rc;

	memset(r, 0, sizeof *r);
	r->type = type;
	r->body = p;
	r->len = len;
	r->queue = PS_QUEUE_DEFAULT;
	r->qlen = sizeof PS_QUEUE_DEFAULT - 1;
	grouped = (type >= JREC_GROUP && type <= JREC_GDEAD) ||
	    type == JREC_GKEEP;
	if (names_queue(type)) {
		if ((n = name_at(p, len, 0)) == 0)
			return grouped ? "group record's queue name is bad" :
			    "record's queue name is bad";
		r->queue = (const char *)p + 1;
		r->qlen = p[0];
		off = n;
	}
	if (type == JREC_GROUPS) {
		if (off >= len)
			return "GROUPS record without its count";
		r->n = r->left = p[off++];
	}
	if (names_group(type)) {
		if ((n = name_at(p + off, len - off, 1)) == 0)
			return "group record's group name is bad";
		r->group = (const char *)p + off + 1;
		r->glen = p[off];
		off += n;
	}
	switch (type) {
	case JREC_GROUP:
		if (len - off != 8)
			return "GROUP record of a bad length";
		r->from = get64(p + off);
		off += 8;
		break;
	case JREC_GROUP_DROP:
		if (len != off)
			return "GROUP_DROP record of a bad length";
		break;
	case JREC_ENQUEUE:
	case JREC_QENQUEUE:
		if (len - off < 8)
			return "ENQUEUE record without its first id";
		r->first_id = get64(p + off);
		off += 8;
		break;
	case JREC_KENQUEUE:
	case JREC_XENQUEUE:
		if (len - off < 8 || get64(p + off) == 0)
			return type == JREC_KENQUEUE ? "KENQUEUE record "
			    "without its first id" : "XENQUEUE record without "
			    "its first id";
		r->first_id = get64(p + off);
		off += 8;
		break;
	}
	r->off = off;
	r->next_id = r->first_id;
	walk = *r;
	while ((rc = jrec_next(&walk, &e)) == 1)
		continue;
	if (rc < 0)
		return walk.why;
	/* An ENQUEUE's first id is told apart once its lengths add up. */
	if ((type == JREC_ENQUEUE || type == JREC_QENQUEUE) &&
	    r->first_id == 0)
		return "event id 0";
	return NULL;
}

/*
 * The next entry of r into e: 1, or 0 at the end, or -1 if it is bad
 * (r->why says how; never past the body's end).  A record jrec_body
 * passed has no bad entry.
 */
int
jrec_next(struct jrec *r, struct jrec_entry *e)
{
	const uint8_t	*p = r->body + r->off;
	uint32_t	 rem = r->len - r->off, l, k, at, gn;
	size_t		 flen;
	uint8_t		 i;

	memset(e, 0, sizeof *e);
	e->prio = PS_PRIORITY_DEFAULT;
	if (r->type == JREC_GROUPS) {
		if (r->left == 0)
			return rem == 0 ? 0 : bad(r, "GROUPS record's lengths "
			    "do not add up");
	} else if (rem == 0)
		return 0;
	switch (r->type) {
	case JREC_ENQUEUE:
	case JREC_QENQUEUE:
		if (rem < 4 || (l = get32(p)) > rem - 4)
			return bad(r, "ENQUEUE record's lengths do not add up");
		e->id = r->next_id++;
		e->data = p + 4;
		e->len = l;
		at = 4 + l;
		break;
	case JREC_KENQUEUE:
		if (rem < 5 || (k = p[4] ? p[4] - 1u : 0) > rem - 5 ||
		    (l = get32(p)) > rem - 5 - k)
			return bad(r, "KENQUEUE record's lengths do not add "
			    "up");
		e->id = r->next_id++;
		if (p[4] != 0) {
			e->key = p + 5;
			e->klen = (uint8_t)k;
		}
		e->data = p + 5 + k;
		e->len = l;
		at = 5 + k + l;
		break;
	case JREC_XENQUEUE:
		if (rem < 6 || (k = get16(p + 4)) > rem - 6 ||
		    (l = get32(p)) > rem - 6 - k)
			return bad(r, "XENQUEUE record's lengths do not add "
			    "up");
		if (get_attrs(e, p + 6, k) != 0)
			return bad(r, "XENQUEUE record's attributes are bad");
		e->id = r->next_id++;
		e->data = p + 6 + k;
		e->len = l;
		at = 6 + k + l;
		break;
	case JREC_KEEP:
		if (rem < 18 || (k = get16(p + 16)) > rem - 18 ||
		    (l = get32(p + 12)) > rem - 18 - k)
			return bad(r, "KEEP record's lengths do not add up");
		if (get64(p) == 0)
			return bad(r, "event id 0");
		if (get_attrs(e, p + 18, k) != 0)
			return bad(r, "KEEP record's attributes are bad");
		e->id = get64(p);
		e->attempts = get32(p + 8);
		e->data = p + 18 + k;
		e->len = l;
		at = 18 + k + l;
		break;
	case JREC_GKEEP:
		if (rem < 14 || get64(p) == 0)
			return bad(r, "GKEEP record's entry is bad");
		l = get32(p + 8);
		k = get16(p + 12);
		if (k > rem - 14 || get_attrs(e, p + 14, k) != 0)
			return bad(r, "GKEEP record's attributes are bad");
		if (l >= rem - 14 - k)
			return bad(r, "GKEEP record's lengths do not add up");
		e->id = get64(p);
		e->data = p + 14 + k;
		e->len = l;
		at = 14 + k + l;
		e->nholds = p[at++];
		e->hold = p + at;
		for (i = 0; i < e->nholds; i++) {
			if ((gn = name_at(p + at, rem - at, 1)) == 0 ||
			    rem - at - gn < 6)
				return bad(r, "GKEEP record's groups do not "
				    "add up");
			at += gn + 6;
		}
		break;
	case JREC_UIDS:
		if (rem < 17 || (l = p[16]) == 0 || l > PS_UNIQUE_ID_MAX ||
		    l > rem - 17)
			return bad(r, "UIDS record's lengths do not add up");
		if (get64(p) == 0)
			return bad(r, "event id 0");
		e->id = get64(p);
		e->expires = get64(p + 8);
		e->uid = p + 17;
		e->ulen = (uint8_t)l;
		at = 17 + l;
		break;
	case JREC_DEAD:
	case JREC_QDEAD:
		if (rem < 17 || (l = get32(p + 12)) > rem - 17)
			return bad(r, "DEAD record's lengths do not add up");
		if (get64(p) == 0)
			return bad(r, "event id 0");
		e->id = get64(p);
		e->attempts = get32(p + 8);
		e->reason = p[16];
		e->data = p + 17;
		e->len = l;
		at = 17 + l;
		break;
	case JREC_KDEAD:
		if (rem < 18 || (k = p[17] ? p[17] - 1u : 0) > rem - 18 ||
		    (l = get32(p + 12)) > rem - 18 - k)
			return bad(r, "KDEAD record's lengths do not add up");
		if (get64(p) == 0)
			return bad(r, "event id 0");
		e->id = get64(p);
		e->attempts = get32(p + 8);
		e->reason = p[16];
		if (p[17] != 0) {
			e->key = p + 18;
			e->klen = (uint8_t)k;
		}
		e->data = p + 18 + k;
		e->len = l;
		at = 18 + k + l;
		break;
	case JREC_XDEAD:
		if (rem < 19 || (k = get16(p + 17)) > rem - 19 ||
		    (l = get32(p + 13)) > rem - 19 - k)
			return bad(r, "XDEAD record's lengths do not add up");
		if (get64(p) == 0)
			return bad(r, "event id 0");
		if (get_attrs(e, p + 19, k) != 0)
			return bad(r, "XDEAD record's attributes are bad");
		e->id = get64(p);
		e->attempts = get32(p + 8);
		e->reason = p[12];
		e->data = p + 19 + k;
		e->len = l;
		at = 19 + k + l;
		break;
	case JREC_KEPT:
		if (rem < 24 || (l = get32(p + 20)) > rem - 24)
			return bad(r, "KEPT record's lengths do not add up");
		if (get64(p) == 0)
			return bad(r, "event id 0");
		e->id = get64(p);
		e->due = get64(p + 8);
		e->attempts = get32(p + 16);
		e->data = p + 24;
		e->len = l;
		at = 24 + l;
		break;
	case JREC_FAIL:
		if (rem < 9 || get64(p) == 0 || p[8] > JREC_FAILS_MAX)
			return bad(r, "FAIL record's entry is bad");
		e->id = get64(p);
		e->nfails = p[8];
		e->fail = p + 9;
		if (ps_failures_check(p + 9, rem - 9, e->nfails, &flen) != 0)
			return bad(r, "FAIL record's lengths do not add up");
		at = 9 + (uint32_t)flen;
		break;
	case JREC_GDEAD:
		if (rem < 13)
			return bad(r, "GDEAD record's entries do not add up");
		e->id = get64(p);
		e->attempts = get32(p + 8);
		e->reason = p[12];
		at = 13;
		break;
	case JREC_GROUPS:
		if ((gn = name_at(p, rem, 1)) == 0 || rem - gn < 8)
			return bad(r, "GROUPS record's lengths do not add up");
		e->group = (const char *)p + 1;
		e->glen = p[0];
		e->from = get64(p + gn);
		at = gn + 8;
		r->left--;
		break;
	case JREC_GROUP:
	case JREC_GROUP_DROP:
		return bad(r, r->type == JREC_GROUP ? "GROUP record of a bad "
		    "length" : "GROUP_DROP record of a bad length");
	default:
		if (rem < 8)
			return bad(r, "id list not a multiple of 8");
		e->id = get64(p);
		at = 8;
		break;
	}
	r->off += at;
	return 1;
}

/*
 * One group's hold on a GKEEP entry's event, at p (e->hold for the
 * first; checked by jrec_next): where the next one is.
 */
const uint8_t *
jrec_hold(const uint8_t *p, struct jrec_hold *h)
{
	h->glen = p[0];
	h->group = (const char *)p + 1;
	h->attempts = get32(p + 1 + h->glen);
	h->dead = p[1 + h->glen + 4];
	h->reason = p[1 + h->glen + 5];
	return p + 1 + h->glen + 6;
}
