/*
 * test_jrec.c: the journal's record codec alone, with no files but the
 * fixture: every record type round-trips, the journal eef6bed wrote
 * re-encodes byte for byte, and cut, flipped or inconsistent bytes are
 * refused with a reason.  Inputs are copied to buffers of their exact
 * size, so that a read past the end is caught by the sanitizers.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "crc32c.h"
#include "frame.h"
#include "jrec.h"

#define NENTRIES	3

static const char	 long_key[] =
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

/* task=resize, content-type=application/json, as on the wire. */
static const uint8_t	 two_headers[] =
    "\x80\x00\x0b\x04taskresize"
    "\x80\x00\x1d\x0c" "content-typeapplication/json";

/* 16 headers of 256 bytes each (names and values): the most there is. */
static struct ps_buf	 many_headers;

static void
make_many_headers(void)
{
	char	 name[16], value[256];
	int	 i;

	memset(value, 'v', sizeof value);
	for (i = 0; i < PS_HEADERS_MAX; i++) {
		snprintf(name, sizeof name, "h%02d", i);
		if (ps_put_header(&many_headers, name, 3, value, 256 - 3) != 0)
			abort();	/* before any test runs: no ck_assert */
	}
}

static int
has_payload(int t)
{
	return t == JREC_ENQUEUE || t == JREC_QENQUEUE || t == JREC_KENQUEUE ||
	    t == JREC_XENQUEUE || t == JREC_DEAD || t == JREC_QDEAD ||
	    t == JREC_KDEAD || t == JREC_KEEP || t == JREC_GKEEP ||
	    t == JREC_XDEAD || t == JREC_KEPT;
}

static int
has_attrs(int t)
{
	return t == JREC_XENQUEUE || t == JREC_KEEP || t == JREC_GKEEP ||
	    t == JREC_XDEAD;
}

static int
has_key(int t)
{
	return t == JREC_KENQUEUE || t == JREC_KDEAD || has_attrs(t);
}

static int
has_attempts(int t)
{
	return t == JREC_DEAD || t == JREC_QDEAD || t == JREC_KDEAD ||
	    t == JREC_GDEAD || t == JREC_KEEP || t == JREC_XDEAD ||
	    t == JREC_KEPT;
}

static int
has_first_id(int t)
{
	return t == JREC_ENQUEUE || t == JREC_QENQUEUE || t == JREC_KENQUEUE ||
	    t == JREC_XENQUEUE;
}

static int
has_entries(int t)
{
	return t != JREC_GROUP && t != JREC_GROUP_DROP;
}

static const struct ps_failure sample_fails[JREC_FAILS_MAX] = {
	{ 1800000000000ull, 1, "worker-1", 8, (const uint8_t *)"boom", 4 },
	{ 1800000000500ull, 2, "", 0, NULL, 0 },
	{ 1800000009000ull, 3, "w", 1, (const uint8_t *)"Traceback (most "
	    "recent call last):\n  File \"x.py\"\nValueError: no", 63 },
};

static const struct jhold sample_holds[] = {
	{ "", 2, 0, 0 },
	{ "g1", 1, 1, PS_DEAD_NACK },
	{ "a-much-longer:group.name_64", 0, 0, 0 },
};

/*
 * Entry i of a record of type t, with only the fields its type carries:
 * a key of a few bytes, none, or the longest the type holds; a payload
 * of a few bytes, none, and a few again.
 */
static void
sample(int t, int i, struct jrec_entry *e, char *payload, char *uid)
{
	memset(e, 0, sizeof *e);
	e->prio = PS_PRIORITY_DEFAULT;
	if (t != JREC_GROUPS)
		e->id = has_first_id(t) ? 1000 + (uint64_t)i :
		    77 + 1000 * (uint64_t)i;
	if (has_payload(t)) {
		snprintf(payload, 64, "payload %d of %d\n\001", i, t);
		e->data = (const uint8_t *)payload;
		e->len = i == 1 ? 0 : (uint32_t)strlen(payload);
	}
	if (has_key(t) && i != 1) {
		e->key = (const uint8_t *)(i == 0 ? "key-7" : long_key);
		/* A key byte holds 254 at most, an attribute 255. */
		e->klen = i == 0 ? 5 : has_attrs(t) ? 255 : 254;
	}
	if (has_attempts(t))
		e->attempts = 3 + (uint32_t)i;
	if (t == JREC_DEAD || t == JREC_QDEAD || t == JREC_KDEAD ||
	    t == JREC_GDEAD || t == JREC_XDEAD)
		e->reason = (uint8_t)(1 + i);
	/* Headers: two, none, and as many and as long as may be. */
	if (has_attrs(t) && i != 1) {
		e->hdr = i == 0 ? two_headers : many_headers.data;
		e->hlen = i == 0 ? (uint16_t)(sizeof two_headers - 1) :
		    (uint16_t)many_headers.len;
	}
	if (has_attrs(t) && i == 0) {
		e->prio = 5;
		e->due = 1900000000123ull;
	}
	if ((has_attrs(t) && i != 1) || t == JREC_UIDS) {
		snprintf(uid, 160, "uid-%d", i);
		if (i == 2)
			memset(uid, 'u', PS_UNIQUE_ID_MAX);
		e->uid = (const uint8_t *)uid;
		e->ulen = i == 2 ? PS_UNIQUE_ID_MAX : (uint8_t)strlen(uid);
	}
	if (t == JREC_UIDS)
		e->expires = i == 1 ? 0 : 1800000000000ull + (uint64_t)i;
	if (t == JREC_GROUPS) {
		e->group = sample_holds[i].group;
		e->glen = (uint8_t)strlen(e->group);
		e->from = 1 + 10 * (uint64_t)i;
	}
	if (t == JREC_GKEEP) {
		e->holds = sample_holds;
		e->nholds = (uint8_t)i;		/* none, one, two */
	}
	if (t == JREC_KEPT)
		e->due = 1800000000000ull + (uint64_t)i;	/* done */
	if (t == JREC_FAIL) {
		e->fails = sample_fails;
		e->nfails = (uint8_t)(i == 2 ? JREC_FAILS_MAX : i);
	}
}

static struct jrec
sample_rec(int t)
{
	struct jrec	 r;

	memset(&r, 0, sizeof r);
	r.type = t;
	/* Records 1 to 5 name no queue: the default one's. */
	r.queue = t <= JREC_RETRY ? PS_QUEUE_DEFAULT : "jobs.2:x";
	r.qlen = (uint8_t)strlen(r.queue);
	r.group = t == JREC_GDONE ? "" : "g1";
	r.glen = (uint8_t)strlen(r.group);
	r.first_id = 1000;
	r.from = 42;
	r.n = NENTRIES;
	return r;
}

/* Record t with its sample entries, encoded. */
static void
encode(int t, struct ps_buf *b, char payload[][64], char uid[][160])
{
	struct jrec		 r = sample_rec(t);
	struct jrec_entry	 e;
	size_t			 at;
	int			 i;

	ck_assert_int_eq(jrec_begin(b, &at), 0);
	ck_assert_int_eq(jrec_start(b, &r), 0);
	for (i = 0; has_entries(t) && i < NENTRIES; i++) {
		sample(t, i, &e, payload[i], uid[i]);
		ck_assert_int_eq(jrec_put(b, t, &e), 0);
	}
	jrec_end(b, at, t);
}

/* A copy of n bytes in a buffer of exactly n (1 if 0). */
static uint8_t *
exact(const void *p, size_t n)
{
	uint8_t	*c = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(c);
	if (n != 0)
		memcpy(c, p, n);
	return c;
}

static void
same_bytes(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	ck_assert_uint_eq(alen, blen);
	ck_assert(alen == 0 || memcmp(a, b, alen) == 0);
}

static void
same_entry(int t, const struct jrec_entry *w, struct jrec_entry *g)
{
	struct jrec_hold	 h;
	const uint8_t		*p;
	uint8_t			 i;

	ck_assert_uint_eq(g->id, w->id);
	ck_assert_uint_eq(g->attempts, w->attempts);
	ck_assert_uint_eq(g->reason, w->reason);
	same_bytes(g->data, g->len, w->data, w->len);
	ck_assert_int_eq(g->key == NULL, w->key == NULL);
	same_bytes(g->key, g->klen, w->key, w->klen);
	same_bytes(g->hdr, g->hlen, w->hdr, w->hlen);
	ck_assert_uint_eq(g->prio, w->prio);
	ck_assert_uint_eq(g->due, w->due);
	ck_assert_int_eq(g->uid == NULL, w->uid == NULL);
	same_bytes(g->uid, g->ulen, w->uid, w->ulen);
	ck_assert_uint_eq(g->expires, w->expires);
	same_bytes((const uint8_t *)g->group, g->glen,
	    (const uint8_t *)w->group, w->glen);
	ck_assert_uint_eq(g->from, w->from);
	ck_assert_uint_eq(g->nholds, w->nholds);
	for (p = g->fail, i = 0; t == JREC_FAIL && i < g->nfails; i++) {
		struct ps_failure	 f;

		p = ps_failure_get(p, &f);
		ck_assert_uint_eq(f.at, w->fails[i].at);
		ck_assert_uint_eq(f.attempt, w->fails[i].attempt);
		same_bytes((const uint8_t *)f.who, f.wlen,
		    (const uint8_t *)w->fails[i].who, w->fails[i].wlen);
		same_bytes(f.err, f.elen, w->fails[i].err, w->fails[i].elen);
	}
	ck_assert_uint_eq(g->nfails, w->nfails);
	for (p = g->hold, i = 0; t == JREC_GKEEP && i < g->nholds; i++) {
		p = jrec_hold(p, &h);
		same_bytes((const uint8_t *)h.group, h.glen,
		    (const uint8_t *)w->holds[i].group,
		    (uint32_t)strlen(w->holds[i].group));
		ck_assert_uint_eq(h.attempts, w->holds[i].attempts);
		ck_assert_uint_eq(h.dead, w->holds[i].dead);
		ck_assert_uint_eq(h.reason, w->holds[i].reason);
	}
}

START_TEST(every_record_type_round_trips)
{
	struct ps_buf		 b = { NULL, 0, 0 };
	struct jrec		 r, w;
	struct jrec_entry	 e, want;
	char			 payload[NENTRIES][64], uid[NENTRIES][160];
	char			 p2[64], u2[160];
	const char		*why;
	uint8_t			*c;
	int			 t = _i, i;

	encode(t, &b, payload, uid);
	c = exact(b.data, b.len);
	why = jrec_decode(&r, c, b.len);
	ck_assert_msg(why == NULL, "type %d: %s", t, why);
	ck_assert_uint_eq(JOURNAL_REC_HEAD + (size_t)r.len, b.len);
	ck_assert_int_eq(r.type, t);
	w = sample_rec(t);
	same_bytes((const uint8_t *)r.queue, r.qlen,
	    (const uint8_t *)w.queue, w.qlen);
	if ((t >= JREC_GROUP && t <= JREC_GDEAD && t != JREC_GROUPS) ||
	    t == JREC_FAIL || t == JREC_KEPT)
		same_bytes((const uint8_t *)r.group, r.glen,
		    (const uint8_t *)w.group, w.glen);
	ck_assert_uint_eq(r.first_id, has_first_id(t) ? w.first_id : 0);
	ck_assert_uint_eq(r.from, t == JREC_GROUP ? w.from : 0);
	ck_assert_uint_eq(r.n, t == JREC_GROUPS ? NENTRIES : 0);
	for (i = 0; has_entries(t) && i < NENTRIES; i++) {
		ck_assert_int_eq(jrec_next(&r, &e), 1);
		sample(t, i, &want, p2, u2);
		same_entry(t, &want, &e);
	}
	ck_assert_int_eq(jrec_next(&r, &e), 0);
	ck_assert_int_eq(jrec_next(&r, &e), 0);
	free(c);
	ps_buf_free(&b);
}
END_TEST

/* The same entries written twice in a row make a record twice as long. */
START_TEST(a_record_grows_entry_by_entry)
{
	struct ps_buf		 b = { NULL, 0, 0 };
	struct jrec		 r = sample_rec(JREC_DONE);
	struct jrec_entry	 e;
	size_t			 at;
	uint64_t		 id;

	ck_assert_int_eq(jrec_begin(&b, &at), 0);
	ck_assert_int_eq(jrec_start(&b, &r), 0);
	memset(&e, 0, sizeof e);
	for (id = 1; id <= 1000; id++) {
		e.id = id;
		ck_assert_int_eq(jrec_put(&b, JREC_DONE, &e), 0);
	}
	jrec_end(&b, at, JREC_DONE);
	ck_assert_uint_eq(b.len, JOURNAL_REC_HEAD + 8000);
	ck_assert_ptr_null(jrec_decode(&r, b.data, b.len));
	for (id = 1; jrec_next(&r, &e) == 1; id++)
		ck_assert_uint_eq(e.id, id);
	ck_assert_uint_eq(id, 1001);
	ps_buf_free(&b);
}
END_TEST

/* What the format cannot hold is refused, and nothing is left written. */
START_TEST(an_entry_the_format_cannot_hold_writes_nothing)
{
	struct ps_buf		 b = { NULL, 0, 0 };
	struct jrec_entry	 e;
	size_t			 at, len;

	memset(&e, 0, sizeof e);
	e.id = 9;
	e.prio = PS_PRIORITY_DEFAULT;
	e.uid = (const uint8_t *)"";
	e.ulen = 0;
	ck_assert_int_eq(jrec_begin(&b, &at), 0);
	len = b.len;
	ck_assert_int_eq(jrec_put(&b, JREC_KEEP, &e), -1);
	ck_assert_uint_eq(b.len, len);
	ck_assert_int_eq(jrec_put(&b, JREC_GROUP, &e), -1);
	ck_assert_uint_eq(b.len, len);
	ps_buf_free(&b);
}
END_TEST

/* Every prefix of every record is refused as cut short. */
START_TEST(a_record_cut_short_is_refused)
{
	struct ps_buf	 b = { NULL, 0, 0 };
	struct jrec	 r;
	char		 payload[NENTRIES][64], uid[NENTRIES][160];
	const char	*why;
	uint8_t		*c;
	size_t		 n;
	int		 t = _i;

	encode(t, &b, payload, uid);
	for (n = 0; n < b.len; n++) {
		c = exact(b.data, n);
		why = jrec_decode(&r, c, n);
		ck_assert_ptr_nonnull(why);
		ck_assert_str_eq(why, n < JOURNAL_REC_HEAD ?
		    "a record header cut short" : "a record cut short");
		free(c);
	}
	ps_buf_free(&b);
}
END_TEST

/* Any one byte changed is caught by a checksum, named as such. */
START_TEST(a_flipped_byte_is_refused)
{
	struct ps_buf	 b = { NULL, 0, 0 };
	struct jrec	 r;
	char		 payload[NENTRIES][64], uid[NENTRIES][160];
	const char	*why;
	uint8_t		*c;
	size_t		 i;
	int		 t = _i;

	encode(t, &b, payload, uid);
	for (i = 0; i < b.len; i++) {
		c = exact(b.data, b.len);
		c[i] ^= 0x20;
		why = jrec_decode(&r, c, b.len);
		ck_assert_ptr_nonnull(why);
		/* The header's checksum covers the body's. */
		ck_assert_str_eq(why, i < JOURNAL_REC_HEAD ?
		    "bad header checksum" : "bad checksum");
		free(c);
	}
	ps_buf_free(&b);
}
END_TEST

/*
 * A body whose checksums hold but whose lengths do not add up (a bug of a
 * writer, or a fuzzer's) is refused at every length, never read past.
 */
START_TEST(every_cut_body_is_refused_or_whole)
{
	struct ps_buf		 b = { NULL, 0, 0 };
	struct jrec		 r;
	struct jrec_entry	 e;
	char			 payload[NENTRIES][64], uid[NENTRIES][160];
	const char		*why;
	uint8_t			*c;
	uint32_t		 n, len;
	int			 t = _i, rc;

	encode(t, &b, payload, uid);
	len = (uint32_t)b.len - JOURNAL_REC_HEAD;
	for (n = 0; n < len; n++) {
		c = exact(b.data + JOURNAL_REC_HEAD, n);
		if ((why = jrec_body(&r, t, c, n)) == NULL) {
			/* Whole entries fewer: only id lists end so. */
			while ((rc = jrec_next(&r, &e)) == 1)
				continue;
			ck_assert_int_eq(rc, 0);
		} else
			ck_assert_str_ne(why, "");
		free(c);
	}
	ps_buf_free(&b);
}
END_TEST

/* A body of type t, checksummed as a writer would: decode's reason. */
static const char *
decode_body(int t, const void *body, size_t n)
{
	static struct jrec	 r;
	static uint8_t		 rec[512];

	ck_assert_uint_le(n + JOURNAL_REC_HEAD, sizeof rec);
	memcpy(rec + JOURNAL_REC_HEAD, body, n);
	put32(rec, (uint32_t)n);
	rec[4] = (uint8_t)t;
	rec[5] = rec[6] = rec[7] = 0;
	put32(rec + 8, crc32c(0, rec + JOURNAL_REC_HEAD, n));
	put32(rec + 12, crc32c(0, rec, 12));
	return jrec_decode(&r, rec, n + JOURNAL_REC_HEAD);
}

#define REFUSED(t, body, why) \
	ck_assert_str_eq(decode_body((t), (body), sizeof (body) - 1), (why))

START_TEST(bad_bodies_are_refused_with_their_reason)
{
	REFUSED(0, "", "unknown record type");
	REFUSED(JREC_MAX + 1, "", "unknown record type");
	REFUSED(JREC_ENQUEUE, "\0\0\0\0\0\0\0", "ENQUEUE record without its "
	    "first id");
	REFUSED(JREC_ENQUEUE, "\0\0\0\0\0\0\0\1\0\0\0\2a",
	    "ENQUEUE record's lengths do not add up");
	REFUSED(JREC_ENQUEUE, "\0\0\0\0\0\0\0\0\0\0\0\1a", "event id 0");
	REFUSED(JREC_QENQUEUE, "\3a/b\0\0\0\0\0\0\0\1", "record's queue name "
	    "is bad");
	REFUSED(JREC_QENQUEUE, "\0\0\0\0\0\0\0\0\1", "record's queue name "
	    "is bad");
	REFUSED(JREC_DELIVER, "\0\0\0\0\0\0\0\1\0\0\0", "id list not a "
	    "multiple of 8");
	REFUSED(JREC_DEAD, "\0\0\0\0\0\0\0\1\0\0\0\1\0\0\0\5\1abcd",
	    "DEAD record's lengths do not add up");
	REFUSED(JREC_DEAD, "\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\1\1a",
	    "event id 0");
	REFUSED(JREC_KENQUEUE, "\1q\0\0\0\0\0\0\0\0", "KENQUEUE record "
	    "without its first id");
	REFUSED(JREC_KENQUEUE, "\1q\0\0\0\0\0\0\0\1\0\0\0\1\3k", "KENQUEUE "
	    "record's lengths do not add up");
	REFUSED(JREC_KDEAD, "\1q\0\0\0\0\0\0\0\1\0\0\0\1\0\0\0\0\1\7k",
	    "KDEAD record's lengths do not add up");
	REFUSED(JREC_XENQUEUE, "\1q\0\0\0\0\0\0\0\1\0\0\0\0\0\2\4\1",
	    "XENQUEUE record's attributes are bad");
	REFUSED(JREC_KEEP, "\1q\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1\0\0",
	    "KEEP record's lengths do not add up");
	REFUSED(JREC_UIDS, "\1q\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0\0",
	    "UIDS record's lengths do not add up");
	REFUSED(JREC_UIDS, "\1q\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1u",
	    "event id 0");
	REFUSED(JREC_GROUP, "\1q\2g1\0\0\0\0\0\0\0", "GROUP record of a bad "
	    "length");
	REFUSED(JREC_GROUP_DROP, "\1q\2g1\0", "GROUP_DROP record of a bad "
	    "length");
	REFUSED(JREC_GDONE, "\1q\2g/", "group record's group name is bad");
	REFUSED(JREC_GDONE, "\0", "group record's queue name is bad");
	REFUSED(JREC_GDEAD, "\1q\0\0\0\0\0\0\0\0\1\0\0\0\1",
	    "GDEAD record's entries do not add up");
	REFUSED(JREC_GROUPS, "\1q", "GROUPS record without its count");
	REFUSED(JREC_GROUPS, "\1q\1\0\0\0\0\0\0\0\0\1\0", "GROUPS record's "
	    "lengths do not add up");
	REFUSED(JREC_GROUPS, "\1q\2\0\0\0\0\0\0\0\0\1", "GROUPS record's "
	    "lengths do not add up");
	REFUSED(JREC_GKEEP, "\1q\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
	    "GKEEP record's entry is bad");
	REFUSED(JREC_GKEEP, "\1q\0\0\0\0\0\0\0\1\0\0\0\0\0\0",
	    "GKEEP record's lengths do not add up");
	REFUSED(JREC_GKEEP, "\1q\0\0\0\0\0\0\0\1\0\0\0\0\0\0\1\0\0\0\0\0\0",
	    "GKEEP record's groups do not add up");
	/* And the smallest good ones, for contrast. */
	ck_assert_ptr_null(decode_body(JREC_GKEEP, "\1q\0\0\0\0\0\0\0\1\0\0"
	    "\0\0\0\0\1\0\0\0\0\0\0\0", 24));
	ck_assert_ptr_null(decode_body(JREC_GROUPS, "\1q\0", 3));
	ck_assert_ptr_null(decode_body(JREC_DELIVER, "", 0));
}
END_TEST

START_TEST(segment_headers_round_trip_and_are_checked)
{
	uint8_t		 h[JOURNAL_SEG_HEAD], *c;
	uint64_t	 seq = 0, first = 0;
	size_t		 n;

	jrec_seg_put(h, 12345, 678);
	ck_assert_mem_eq(h, "pushstgj\0\0\0\1", 12);
	ck_assert_ptr_null(jrec_seg_get(h, sizeof h, &seq, &first));
	ck_assert_uint_eq(seq, 12345);
	ck_assert_uint_eq(first, 678);
	for (n = 0; n < sizeof h; n++) {
		c = exact(h, n);
		ck_assert_str_eq(jrec_seg_get(c, n, &seq, &first),
		    "segment header cut short");
		free(c);
	}
	h[0] = 'P';
	ck_assert_str_eq(jrec_seg_get(h, sizeof h, &seq, &first),
	    "not a pushstage journal segment");
	h[0] = 'p';
	h[20] ^= 1;
	ck_assert_str_eq(jrec_seg_get(h, sizeof h, &seq, &first),
	    "bad segment header checksum");
	h[20] ^= 1;
	put32(h + 8, 2);
	put32(h + 32, crc32c(0, h, 32));
	ck_assert_str_eq(jrec_seg_get(h, sizeof h, &seq, &first),
	    "a journal format this producerd does not know");
}
END_TEST

/*
 * Each record of f (decoded) encoded again as the journal writes it: the
 * same bytes.  Returns the types seen, a bit each.
 */
static unsigned long
reencode_file(const char *path)
{
	struct ps_buf		 b = { NULL, 0, 0 };
	struct jrec		 r;
	struct jrec_entry	 e;
	struct jrec_hold	 h;
	struct jhold		 holds[256];
	char			 names[256][PS_QUEUE_MAX + 1];
	uint8_t			 seg[JOURNAL_SEG_HEAD], *data;
	const uint8_t		*hp;
	const char		*why;
	uint64_t		 seq, first;
	unsigned long		 seen = 0;
	size_t			 size, off, at;
	FILE			*fp;
	long			 n;
	int			 i;

	ck_assert_ptr_nonnull(fp = fopen(path, "rb"));
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	ck_assert_int_ge(n = ftell(fp), JOURNAL_SEG_HEAD);
	rewind(fp);
	size = (size_t)n;
	ck_assert_ptr_nonnull(data = malloc(size));
	ck_assert_uint_eq(fread(data, 1, size, fp), size);
	fclose(fp);
	ck_assert_ptr_null(jrec_seg_get(data, size, &seq, &first));
	jrec_seg_put(seg, seq, first);
	ck_assert_mem_eq(seg, data, JOURNAL_SEG_HEAD);
	for (off = JOURNAL_SEG_HEAD; off < size; off += b.len) {
		why = jrec_decode(&r, data + off, size - off);
		ck_assert_msg(why == NULL, "%s at %zu: %s", path, off, why);
		seen |= 1ul << r.type;
		b.len = 0;
		ck_assert_int_eq(jrec_begin(&b, &at), 0);
		ck_assert_int_eq(jrec_start(&b, &r), 0);
		while (jrec_next(&r, &e) == 1) {
			for (hp = e.hold, i = 0; i < e.nholds; i++) {
				hp = jrec_hold(hp, &h);
				memcpy(names[i], h.group, h.glen);
				names[i][h.glen] = '\0';
				holds[i] = (struct jhold){ names[i], h.attempts,
				    h.dead, h.reason };
			}
			e.holds = holds;
			ck_assert_int_eq(jrec_put(&b, r.type, &e), 0);
		}
		jrec_end(&b, at, r.type);
		ck_assert_uint_eq(b.len, JOURNAL_REC_HEAD + (size_t)r.len);
		ck_assert_msg(memcmp(b.data, data + off, b.len) == 0,
		    "%s at %zu: type %d written otherwise", path, off, r.type);
	}
	free(data);
	ps_buf_free(&b);
	return seen;
}

/*
 * tests/fixtures/journal-eef6bed: written by the daemon before this codec
 * (tests/journal_fixture.py), with every record type of its day (to
 * UIDS: XDEAD came later).
 */
START_TEST(the_journal_of_eef6bed_encodes_again_byte_for_byte)
{
	const char	*dir = getenv("JREC_FIXTURE");
	struct dirent	*de;
	DIR		*dp;
	char		 path[4096];
	unsigned long	 seen = 0;
	size_t		 n;
	int		 files = 0;

	ck_assert_msg(dir != NULL, "JREC_FIXTURE is not set");
	ck_assert_ptr_nonnull(dp = opendir(dir));
	while ((de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n < 4 || strcmp(de->d_name + n - 4, ".seg") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		seen |= reencode_file(path);
		files++;
	}
	closedir(dp);
	ck_assert_int_ge(files, 1);
	ck_assert_uint_eq(seen, ((1ul << (JREC_UIDS + 1)) - 1) & ~1ul);
}
END_TEST

static Suite *
jrec_suite(void)
{
	Suite	*s = suite_create("jrec");
	TCase	*tc = tcase_create("jrec");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */

	tcase_add_loop_test(tc, every_record_type_round_trips, JREC_ENQUEUE,
	    JREC_MAX + 1);
	tcase_add_test(tc, a_record_grows_entry_by_entry);
	tcase_add_test(tc, an_entry_the_format_cannot_hold_writes_nothing);
	tcase_add_loop_test(tc, a_record_cut_short_is_refused, JREC_ENQUEUE,
	    JREC_MAX + 1);
	tcase_add_loop_test(tc, a_flipped_byte_is_refused, JREC_ENQUEUE,
	    JREC_MAX + 1);
	tcase_add_loop_test(tc, every_cut_body_is_refused_or_whole,
	    JREC_ENQUEUE, JREC_MAX + 1);
	tcase_add_test(tc, bad_bodies_are_refused_with_their_reason);
	tcase_add_test(tc, segment_headers_round_trip_and_are_checked);
	tcase_add_test(tc, the_journal_of_eef6bed_encodes_again_byte_for_byte);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(jrec_suite());
	int	 failed;

	make_many_headers();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
