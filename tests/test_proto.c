/* test_proto.c: proto/ alone: round trips, stream splits, and bad input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "hash.h"

#define MAX	PS_MAX_FRAME_DEFAULT

/* Parse exactly one whole frame out of b. */
static struct ps_frame
one(const struct ps_buf *b)
{
	struct ps_frame	 f;

	ck_assert_int_eq(ps_frame_parse(b->data, b->len, MAX, &f),
	    (long)b->len);
	return f;
}

/* The queue a decoder found: not looked at by the version 2 tests. */
static struct ps_queue	 pq;

/* An ENQUEUE of one event whose attribute block is raw bytes. */
static int
raw_attrs(const uint8_t *a, uint16_t n, struct ps_enqueue_iter *it)
{
	struct ps_buf	 b = { 0 };
	struct ps_frame	 f;
	size_t		 start;
	uint32_t	 count;
	uint8_t		 h[6] = { 0, 0, 0, 1, (uint8_t)(n >> 8), (uint8_t)n };
	int		 rc;

	ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "q", 1, &start), 0);
	ps_put_enqueue_attrs(&b, start);
	ck_assert_int_eq(ps_buf_reserve(&b, 7 + n), 0);
	memcpy(b.data + b.len, h, 6);
	memcpy(b.data + b.len + 6, a, n);
	b.data[b.len + 6 + n] = 'x';
	b.len += 7 + n;
	ps_put_enqueue_end(&b, start, 1);
	f = one(&b);
	rc = ps_get_enqueue(&f, 3, &pq, it, &count);
	ps_buf_free(&b);
	return rc;
}

START_TEST(enqueue_schedule_attributes)
{
	struct ps_buf		 b = { 0 }, dups = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 e, got;
	struct ps_attrs		 a;
	struct ps_frame		 f;
	const uint8_t		*data;
	uint8_t			 uid[129];
	size_t			 start;
	uint32_t		 n, len;
	static const uint8_t	 bad_prio[] = { 4, 3, 0, 0, 1 };
	static const uint8_t	 both[] = { 2, 8, 0, 0, 0, 0, 0, 0, 0, 1,
				     3, 8, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t	 twice[] = { 4, 2, 0, 1, 4, 2, 0, 2 };
	static const uint8_t	 key_twice[] = { 1, 1, 'a', 4, 2, 0, 1,
				     1, 0 };
	static const uint8_t	 unknown[] = { 9, 0 };
	static const uint8_t	 far[] = { 2, 8, 0, 0, 0x01, 0, 0, 0, 0, 0 };
	static const uint8_t	 empty_uid[] = { 5, 0 };

	/* Every attribute, one event each way, in a round trip. */
	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "q", 1, &start), 0);
	ps_put_enqueue_attrs(&b, start);
	a.key = (const uint8_t *)"k";
	a.klen = 1;
	a.when = PS_WHEN_DELAY;
	a.delay = 30000;
	a.priority = 7;
	a.uid = (const uint8_t *)"job-42";
	a.ulen = 6;
	ck_assert_uint_eq(ps_attrs_size(&a), 3 + 10 + 4 + 8);
	ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, &a, "one", 3), 0);
	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	a.when = PS_WHEN_AT;
	a.not_before = 1798128000000ull;
	ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, &a, "two", 3), 0);
	ps_put_enqueue_end(&b, start, 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_enqueue(&f, 3, &pq, &it, &n), 0);
	ck_assert_uint_eq(it.max_delay, 30000);
	ck_assert_uint_eq(it.max_at, 1798128000000ull);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 1);
	ck_assert(it.a.when == PS_WHEN_DELAY && it.a.delay == 30000);
	ck_assert_uint_eq(it.a.priority, 7);
	ck_assert_uint_eq(it.a.ulen, 6);
	ck_assert_mem_eq(it.a.uid, "job-42", 6);
	ck_assert_uint_eq(it.klen, 1);
	ck_assert_mem_eq(data, "one", 3);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 1);
	ck_assert(it.a.when == PS_WHEN_AT);
	ck_assert_uint_eq(it.a.priority, PS_PRIORITY_DEFAULT);
	ck_assert_ptr_null(it.a.uid);
	ck_assert_ptr_null(it.key);
	ck_assert_mem_eq(data, "two", 3);

	/* Bad ones, each named. */
	ck_assert_int_eq(raw_attrs(bad_prio, sizeof bad_prio, &it),
	    -PS_E_BAD_LENGTH);
	ck_assert_str_eq(it.why, "PRIORITY must be 2 bytes (0 to 65535)");
	ck_assert_int_eq(raw_attrs(both, sizeof both, &it), -PS_E_BAD_VALUE);
	ck_assert_str_eq(it.why, "DELAY and NOT_BEFORE together");
	ck_assert_int_eq(raw_attrs(twice, sizeof twice, &it), -PS_E_BAD_VALUE);
	ck_assert_str_eq(it.why, "PRIORITY given twice");
	ck_assert_int_eq(raw_attrs(key_twice, sizeof key_twice, &it),
	    -PS_E_BAD_VALUE);
	ck_assert_str_eq(it.why, "KEY given twice");
	ck_assert_int_eq(raw_attrs(unknown, sizeof unknown, &it),
	    -PS_E_BAD_VALUE);
	ck_assert_int_eq(raw_attrs(far, sizeof far, &it), -PS_E_BAD_VALUE);
	ck_assert_str_eq(it.why, "DELAY past 10 years");
	ck_assert_int_eq(raw_attrs(empty_uid, sizeof empty_uid, &it),
	    -PS_E_BAD_VALUE);
	ck_assert_str_eq(it.why, "UNIQUE_ID must be 1 to 128 bytes");
	memset(uid, 'u', sizeof uid);
	a.uid = uid;
	a.ulen = 129;
	ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, &a, "x", 1),
	    -PS_E_BAD_VALUE);

	/* ENQUEUED with duplicates: their indexes follow. */
	b.len = 0;
	memset(&e, 0, sizeof e);
	e.first_id = 5;
	e.accepted = 2;
	e.duplicates = 2;
	ck_assert_int_eq(ps_buf_reserve(&dups, 8), 0);
	memcpy(dups.data, "\0\0\0\1\0\0\0\3", 8);
	dups.len = 8;
	e.dups = &dups;
	ck_assert_int_eq(ps_put_enqueued(&b, 3, &e), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 36);
	f = one(&b);
	ck_assert_int_eq(ps_get_enqueued(&f, &got), 0);
	ck_assert_uint_eq(got.duplicates, 2);
	ck_assert_uint_eq(ps_enqueued_dup(&got, 0), 1);
	ck_assert_uint_eq(ps_enqueued_dup(&got, 1), 3);
	/* Version 2 has no room for them; a count that disagrees is bad. */
	b.len = 0;
	ck_assert_int_eq(ps_put_enqueued(&b, 2, &e), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 24);
	b.len = 0;
	e.duplicates = 1;
	ck_assert_int_eq(ps_put_enqueued(&b, 3, &e), 0);
	b.data[PS_HDR_LEN + 27] = 2;
	f = one(&b);
	ck_assert_int_eq(ps_get_enqueued(&f, &got), -PS_E_BAD_LENGTH);
	ps_buf_free(&dups);
	ps_buf_free(&b);
}
END_TEST

START_TEST(hello_round_trip)
{
	struct ps_buf	 b = { 0 };
	struct ps_hello	 in = { 2, PS_ROLE_CONSUMER, 100, 50, 3, "w-1", 0,
			     NULL, 0, 0 }, out;
	struct ps_frame	 f;

	ck_assert_int_eq(ps_put_hello(&b, &in), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 13 + 3);
	f = one(&b);
	ck_assert_uint_eq(f.type, PS_HELLO);
	ck_assert_int_eq(ps_get_hello(&f, &out), 0);
	ck_assert_uint_eq(out.version, 2);
	ck_assert_uint_eq(out.role, PS_ROLE_CONSUMER);
	ck_assert_uint_eq(out.max_demand, 100);
	ck_assert_uint_eq(out.min_demand, 50);
	ck_assert_uint_eq(out.name_len, 3);
	ck_assert_mem_eq(out.name, "w-1", 3);
	ps_buf_free(&b);
}
END_TEST

START_TEST(hello_client_no_name)
{
	struct ps_buf	 b = { 0 };
	struct ps_hello	 in = { 1, PS_ROLE_CLIENT, 0, 0, 0, NULL, 0, NULL, 0,
			     0 }, out;
	struct ps_frame	 f;

	ck_assert_int_eq(ps_put_hello(&b, &in), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_hello(&f, &out), 0);
	ck_assert_uint_eq(out.role, PS_ROLE_CLIENT);
	ck_assert_uint_eq(out.name_len, 0);
	ps_buf_free(&b);
}
END_TEST

/* The exact bytes of the first frame in docs/protocol.md's exchange. */
START_TEST(hello_bytes_match_the_doc)
{
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x0f, 0x01, 0x00, 0x00, 0x00,
		0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x77, 0x31,
	};
	struct ps_buf	 b = { 0 };
	struct ps_hello	 h = { 2, PS_ROLE_CONSUMER, 2, 0, 2, "w1", 0, NULL, 0, 0
			     };

	ck_assert_int_eq(ps_put_hello(&b, &h), 0);
	ck_assert_uint_eq(b.len, sizeof want);
	ck_assert_mem_eq(b.data, want, sizeof want);
	ps_buf_free(&b);
}
END_TEST

/* docs/protocol.md's STATS_REPLY example decodes as the page says. */
START_TEST(stats_reply_bytes_match_the_doc)
{
	static const uint8_t doc[] = {
		0x00, 0x00, 0x00, 0x28, 0x08, 0x00, 0x00, 0x00,
		0x00, 0x01,
		0x06, 'q', 'u', 'e', 'u', 'e', 'd',
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		0x00, 0x00, 0x00, 0x01,
		0x02, 'w', '1',
		0x01,
		0x06, 'd', 'e', 'm', 'a', 'n', 'd',
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	};
	struct ps_frame	 f;
	struct ps_stats	 st;

	ck_assert_int_eq(ps_frame_parse(doc, sizeof doc, MAX, &f),
	    (long)sizeof doc);
	ck_assert_int_eq(ps_get_stats_reply(&f, &st), 0);
	ck_assert_uint_eq(st.ncounters, 1);
	ck_assert_str_eq(st.counters[0].name, "queued");
	ck_assert_uint_eq(st.counters[0].value, 5);
	ck_assert_uint_eq(st.nconsumers, 1);
	ck_assert_str_eq(st.consumers[0].id, "w1");
	ck_assert_uint_eq(st.consumers[0].nfields, 1);
	ck_assert_str_eq(st.consumers[0].fields[0].name, "demand");
	ck_assert_uint_eq(st.consumers[0].fields[0].value, 1);
	ps_stats_free(&st);
}
END_TEST

START_TEST(welcome_round_trip)
{
	struct ps_buf		 b = { 0 };
	struct ps_welcome	 in = { 2, 4096, 1500, 7, PS_AT_LEAST_ONCE };
	struct ps_welcome	 out;
	struct ps_frame		 f;

	ck_assert_int_eq(ps_put_welcome(&b, &in), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 16);
	f = one(&b);
	ck_assert_int_eq(ps_get_welcome(&f, &out), 0);
	ck_assert_uint_eq(out.version, 2);
	ck_assert_uint_eq(out.max_frame, 4096);
	ck_assert_uint_eq(out.ack_timeout_ms, 1500);
	ck_assert_uint_eq(out.max_attempts, 7);
	ck_assert_uint_eq(out.delivery, PS_AT_LEAST_ONCE);
	ps_buf_free(&b);
}
END_TEST

/* Version 1 peers get version 1's 8-byte WELCOME and 8-byte EVENT prefix. */
START_TEST(version_1_layouts)
{
	struct ps_buf		 b = { 0 };
	struct ps_welcome	 in = { 1, 4096, 1500, 7, PS_AT_LEAST_ONCE };
	struct ps_welcome	 out;
	struct ps_event		 ev = { 9, 3, 2, (const uint8_t *)"hi", NULL, 0, NULL,
				     0 }, got;
	struct ps_enqueued	 q = { 1, 4, 5, 6, 7, 0, NULL, NULL }, qo;
	struct ps_frame		 f;

	ck_assert_int_eq(ps_put_welcome(&b, &in), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 8);
	f = one(&b);
	ck_assert_int_eq(ps_get_welcome(&f, &out), 0);
	ck_assert_uint_eq(out.version, 1);
	ck_assert_uint_eq(out.delivery, PS_AT_MOST_ONCE);
	b.len = 0;
	ck_assert_int_eq(ps_put_event(&b, 1, &ev), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 8 + 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_event(&f, 1, &got), 0);
	ck_assert_uint_eq(got.id, 9);
	ck_assert_uint_eq(got.attempt, 1);
	ck_assert_mem_eq(got.data, "hi", 2);
	b.len = 0;
	ck_assert_int_eq(ps_put_enqueued(&b, 1, &q), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 12);
	f = one(&b);
	ck_assert_int_eq(ps_get_enqueued(&f, &qo), 0);
	ck_assert_uint_eq(qo.accepted, 4);
	ck_assert_uint_eq(qo.refused, 0);
	ps_buf_free(&b);
}
END_TEST

START_TEST(ids_round_trip)
{
	static const uint64_t	 ids[] = { 1, 1ull << 40, UINT64_MAX };
	static const uint8_t	 types[] = { PS_ACK, PS_NACK, PS_TOUCH,
				     PS_DEAD_RETRY, PS_DEAD_DROP };
	struct ps_buf		 b = { 0 };
	struct ps_ids		 got;
	struct ps_frame		 f;
	size_t			 t;

	for (t = 0; t < sizeof types; t++) {
		b.len = 0;
		ck_assert_int_eq(ps_put_ids(&b, types[t], ids, 3), 0);
		ck_assert_uint_eq(b.len, PS_HDR_LEN + 4 + 3 * 8);
		f = one(&b);
		ck_assert_uint_eq(f.type, types[t]);
		ck_assert_int_eq(ps_get_ids(&f, &got), 0);
		ck_assert_uint_eq(got.count, 3);
		ck_assert_uint_eq(ps_ids_at(&got, 0), 1);
		ck_assert_uint_eq(ps_ids_at(&got, 1), 1ull << 40);
		ck_assert_uint_eq(ps_ids_at(&got, 2), UINT64_MAX);
		/* No ids: "all" for the dead-letter verbs, an error else. */
		b.len = 0;
		ck_assert_int_eq(ps_put_ids(&b, types[t], NULL, 0), 0);
		f = one(&b);
		ck_assert_int_eq(ps_get_ids(&f, &got),
		    types[t] == PS_DEAD_RETRY || types[t] == PS_DEAD_DROP ?
		    0 : -PS_E_BAD_VALUE);
	}
	ps_buf_free(&b);
}
END_TEST

START_TEST(ids_bad_lengths)
{
	/* count 2 with one id; count 1 with a stray byte; count 0 with one. */
	static const uint8_t	 short2[] = { 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t	 stray[] = { 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
				     9 };
	static const uint8_t	 zero1[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct ps_frame		 f = { PS_ACK, 0, NULL, 0 };
	struct ps_ids		 got;

	f.body = short2;
	f.len = sizeof short2;
	ck_assert_int_eq(ps_get_ids(&f, &got), -PS_E_BAD_LENGTH);
	f.body = stray;
	f.len = sizeof stray;
	ck_assert_int_eq(ps_get_ids(&f, &got), -PS_E_BAD_LENGTH);
	f.body = zero1;
	f.len = sizeof zero1;
	ck_assert_int_eq(ps_get_ids(&f, &got), -PS_E_BAD_LENGTH);
	f.len = 3;
	ck_assert_int_eq(ps_get_ids(&f, &got), -PS_E_BAD_LENGTH);
}
END_TEST

START_TEST(dead_list_round_trip)
{
	struct ps_buf		 b = { 0 };
	struct ps_dead		 in[2] = {
		{ 7, 5, PS_DEAD_NACK, 300, 3, (const uint8_t *)"abc", 4,
		  (const uint8_t *)"boom" },
		{ 9, 1, PS_DEAD_TIMEOUT, 0, 0, NULL, 0, NULL },
	}, out;
	struct ps_dead_reply	 r;
	struct ps_frame		 f;
	uint32_t		 preview;
	size_t			 start;

	ck_assert_int_eq(ps_put_dead_list(&b, 2, PS_QUEUE_DEFAULT, 64), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_list(&f, 2, &pq, &preview), 0);
	ck_assert_uint_eq(preview, 64);
	b.len = 0;
	ck_assert_int_eq(ps_put_dead_list(&b, 2, PS_QUEUE_DEFAULT, PS_PREVIEW_MAX + 1), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_list(&f, 2, &pq, &preview), -PS_E_BAD_VALUE);

	b.len = 0;
	ck_assert_int_eq(ps_put_dead_begin(&b, &start), 0);
	ck_assert_int_eq(ps_put_dead(&b, 3, &in[0]), 0);
	ck_assert_int_eq(ps_put_dead(&b, 3, &in[1]), 0);
	ps_put_dead_end(&b, start, 10, 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_reply(&f, 3, &r), 0);
	ck_assert_uint_eq(r.total, 10);
	ck_assert_uint_eq(r.count, 2);
	ck_assert_int_eq(ps_dead_next(&r, &out), 1);
	ck_assert_uint_eq(out.id, 7);
	ck_assert_uint_eq(out.attempts, 5);
	ck_assert_uint_eq(out.reason, PS_DEAD_NACK);
	ck_assert_uint_eq(out.len, 300);
	ck_assert_uint_eq(out.preview_len, 3);
	ck_assert_mem_eq(out.preview, "abc", 3);
	ck_assert_uint_eq(out.error_len, 0);	/* not before version 5 */
	ck_assert_int_eq(ps_dead_next(&r, &out), 1);
	ck_assert_uint_eq(out.id, 9);
	ck_assert_uint_eq(out.preview_len, 0);
	ck_assert_int_eq(ps_dead_next(&r, &out), 0);

	/* A preview running past the end is refused before it is read. */
	/* The last entry's preview_len. */
	b.data[b.len - PS_DEAD_ENTRY + 18] = 0x10;
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_reply(&f, 3, &r), -PS_E_BAD_LENGTH);

	/* Version 5: each entry ends with its last error. */
	b.len = 0;
	ck_assert_int_eq(ps_put_dead_begin(&b, &start), 0);
	ck_assert_int_eq(ps_put_dead(&b, 5, &in[0]), 0);
	ck_assert_int_eq(ps_put_dead(&b, 5, &in[1]), 0);
	ps_put_dead_end(&b, start, 2, 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_reply(&f, 5, &r), 0);
	ck_assert_int_eq(ps_dead_next(&r, &out), 1);
	ck_assert_uint_eq(out.error_len, 4);
	ck_assert_mem_eq(out.error, "boom", 4);
	ck_assert_int_eq(ps_dead_next(&r, &out), 1);
	ck_assert_uint_eq(out.error_len, 0);
	ck_assert_int_eq(ps_dead_next(&r, &out), 0);
	/* Read as version 3 the lengths do not add up; an error cut short. */
	ck_assert_int_eq(ps_get_dead_reply(&f, 3, &r), -PS_E_BAD_LENGTH);
	b.data[b.len - 1] = 0x10;	/* the last entry's error_len: 16 */
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_reply(&f, 5, &r), -PS_E_BAD_LENGTH);

	b.len = 0;
	ck_assert_int_eq(ps_put_dead_done(&b, 4), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_done(&f, &preview), 0);
	ck_assert_uint_eq(preview, 4);
	ps_buf_free(&b);
}
END_TEST

/* NACK_ERROR (version 5): an id, when, and the error, each checked. */
START_TEST(nack_error_round_trip)
{
	struct ps_buf		 b = { 0 };
	struct ps_nack_error	 in = { 42, PS_NACK_BACKOFF, 9,
				    (const uint8_t *)"Traceback" }, out;
	struct ps_frame		 f;
	static uint8_t		 big[PS_ERROR_TEXT_MAX + 1];

	ck_assert_int_eq(ps_put_nack_error(&b, &in), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 14 + 9);
	f = one(&b);
	ck_assert_int_eq(ps_get_nack_error(&f, &out), 0);
	ck_assert_uint_eq(out.id, 42);
	ck_assert_uint_eq(out.delay_ms, PS_NACK_BACKOFF);
	ck_assert_uint_eq(out.error_len, 9);
	ck_assert_mem_eq(out.error, "Traceback", 9);
	/* Lengths that do not add up, and an error over 4096 bytes. */
	f.len--;
	ck_assert_int_eq(ps_get_nack_error(&f, &out), -PS_E_BAD_LENGTH);
	in.error = big;
	in.error_len = PS_ERROR_TEXT_MAX + 1;
	b.len = 0;
	ck_assert_int_eq(ps_put_nack_error(&b, &in), -PS_E_BAD_VALUE);
	in.error_len = PS_ERROR_TEXT_MAX;
	ck_assert_int_eq(ps_put_nack_error(&b, &in), 0);
	/* One byte more, as a peer might send: error_len 4097. */
	ck_assert_int_eq(ps_buf_add(&b, "x", 1), 0);
	b.data[PS_HDR_LEN + 12] = 0x10;
	b.data[PS_HDR_LEN + 13] = 0x01;
	f.type = PS_NACK_ERROR;
	f.body = b.data + PS_HDR_LEN;
	f.len = 14 + PS_ERROR_TEXT_MAX + 1;
	ck_assert_int_eq(ps_get_nack_error(&f, &out), -PS_E_BAD_VALUE);
	ps_buf_free(&b);
}
END_TEST

START_TEST(enqueue_round_trip)
{
	static const uint8_t bin[] = { 0, 0xff, '\n', 7 };
	struct ps_buf		 b = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_frame		 f;
	const uint8_t		*data;
	uint32_t		 n, len;
	size_t			 start;

	ck_assert_int_eq(ps_put_enqueue_begin(&b, 2, NULL, 0, &start), 0);
	ck_assert_int_eq(ps_put_enqueue_add(&b, "hello", 5), 0);
	ck_assert_int_eq(ps_put_enqueue_add(&b, "", 0), 0);
	ck_assert_int_eq(ps_put_enqueue_add(&b, bin, sizeof bin), 0);
	ps_put_enqueue_end(&b, start, 3);
	ck_assert_uint_eq(b.len - PS_HDR_LEN, ps_enqueue_size(3, 9));

	f = one(&b);
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &pq, &it, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 1);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(data, "hello", 5);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 1);
	ck_assert_uint_eq(len, sizeof bin);
	ck_assert_mem_eq(data, bin, sizeof bin);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 0);
	ps_buf_free(&b);
}
END_TEST

START_TEST(small_frames_round_trip)
{
	struct ps_buf		 b = { 0 };
	struct ps_enqueued	 q = { 1ull << 40, 7, 3, 2, 9, 0, NULL, NULL }, qo;
	struct ps_event		 e;
	struct ps_event		 evin = { 99, 4, 7, (const uint8_t *)"payload", NULL,
				     0, NULL, 0 };
	struct ps_error		 err;
	struct ps_frame		 f;
	uint32_t		 n;
	long			 used;
	size_t			 off = 0;

	ck_assert_int_eq(ps_put_enqueued(&b, 2, &q), 0);
	ck_assert_int_eq(ps_put_demand(&b, 42), 0);
	ck_assert_int_eq(ps_put_event(&b, 2, &evin), 0);
	ck_assert_int_eq(ps_put_stats(&b, 2, NULL), 0);
	ck_assert_int_eq(ps_put_error(&b, PS_E_BAD_STATE, "nope"), 0);

#define NEXT() do {							\
	used = ps_frame_parse(b.data + off, b.len - off, MAX, &f);	\
	ck_assert_int_gt(used, 0);					\
	off += (size_t)used;						\
} while (0)
	NEXT();
	ck_assert_int_eq(ps_get_enqueued(&f, &qo), 0);
	ck_assert_uint_eq(qo.first_id, 1ull << 40);
	ck_assert_uint_eq(qo.accepted, 7);
	ck_assert_uint_eq(qo.refused, 3);
	ck_assert_uint_eq(qo.shed_new, 2);
	ck_assert_uint_eq(qo.shed_old, 9);
	NEXT();
	ck_assert_int_eq(ps_get_demand(&f, &n), 0);
	ck_assert_uint_eq(n, 42);
	NEXT();
	ck_assert_int_eq(ps_get_event(&f, 2, &e), 0);
	ck_assert_uint_eq(e.id, 99);
	ck_assert_uint_eq(e.attempt, 4);
	ck_assert_uint_eq(e.len, 7);
	ck_assert_mem_eq(e.data, "payload", 7);
	NEXT();
	ck_assert_int_eq(ps_get_stats(&f, 2, &pq), 0);
	NEXT();
	ck_assert_int_eq(ps_get_error(&f, &err), 0);
	ck_assert_uint_eq(err.code, PS_E_BAD_STATE);
	ck_assert_uint_eq(err.msg_len, 4);
	ck_assert_mem_eq(err.msg, "nope", 4);
	ck_assert_uint_eq(off, b.len);
#undef NEXT
	ps_buf_free(&b);
}
END_TEST

START_TEST(event_prefix_matches_put_event)
{
	struct ps_buf	 b = { 0 };
	struct ps_event	 e = { 0x0102030405060708ull, 3, 2,
			     (const uint8_t *)"xy", NULL, 0, NULL, 0 };
	uint8_t		 p[PS_EVENT_PREFIX_MAX];

	ck_assert_int_eq(ps_put_event(&b, 2, &e), 0);
	ck_assert_uint_eq(ps_event_prefix(p, 2, e.id, 3, 2, NULL, 0, NULL, 0),
	    PS_EVENT_PREFIX);
	ck_assert_mem_eq(p, b.data, PS_EVENT_PREFIX);
	ps_buf_free(&b);
}
END_TEST

/*
 * Version 5: protocol.md's examples, byte for byte: an ENQUEUE of "hi"
 * with two headers, and an EVENT with a key and a header; each read back.
 */
START_TEST(version_5_headers_as_the_page_shows_them)
{
	static const uint8_t	 enq[] = {
		0x00, 0x00, 0x00, 0x22, 0x03, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x01, 0x01, 0x71,
		0x00, 0x00, 0x00, 0x02, 0x00, 0x14,
		0x80, 0x00, 0x0b, 0x04, 0x74, 0x61, 0x73, 0x6b, 0x72, 0x65,
		0x73, 0x69, 0x7a, 0x65,
		0x80, 0x00, 0x03, 0x01, 0x6e, 0x31,
		0x68, 0x69,
	};
	static const uint8_t	 ev[] = {
		0x00, 0x00, 0x00, 0x21, 0x06, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
		0x00, 0x00, 0x00, 0x01, 0x00, 0x11, 0x01, 0x01,
		0x6b, 0x80, 0x00, 0x0b, 0x04, 0x74, 0x61, 0x73,
		0x6b, 0x72, 0x65, 0x73, 0x69, 0x7a, 0x65, 0x68,
		0x69,
	};
	struct ps_buf		 b = { 0 }, h = { 0 };
	struct ps_attrs		 a;
	struct ps_enqueue_iter	 it;
	struct ps_queue		 q;
	struct ps_frame		 f;
	struct ps_event		 e;
	struct ps_header	 one;
	const uint8_t		*data;
	uint32_t		 n, len;
	uint16_t		 off = 0;
	size_t			 start;

	ck_assert_int_eq(ps_put_header(&h, "task", 4, "resize", 6), 0);
	ck_assert_int_eq(ps_put_header(&h, "n", 1, "1", 1), 0);
	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	a.hdr = h.data;
	a.hlen = (uint16_t)h.len;
	ck_assert_int_eq(ps_put_enqueue_begin(&b, 5, "q", 1, &start), 0);
	ps_put_enqueue_attrs(&b, start);
	ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, &a, "hi", 2), 0);
	ps_put_enqueue_end(&b, start, 1);
	ck_assert_uint_eq(b.len, sizeof enq);
	ck_assert_mem_eq(b.data, enq, sizeof enq);
	ck_assert_int_gt(ps_frame_parse(enq, sizeof enq, 1 << 20, &f), 0);
	ck_assert_int_eq(ps_get_enqueue(&f, 5, &q, &it, &n), 0);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 1);
	ck_assert_uint_eq(it.a.hlen, 20);
	ck_assert_int_eq(ps_header_next(it.a.hdr, it.a.hlen, &off, &one), 1);
	ck_assert_mem_eq(one.name, "task", 4);
	ck_assert_mem_eq(one.value, "resize", 6);
	ck_assert_int_eq(ps_header_find(it.a.hdr, it.a.hlen, "n", 1, &one), 1);
	ck_assert_uint_eq(one.vlen, 1);
	/* Version 4 knows no tag 128. */
	ck_assert_int_eq(ps_get_enqueue(&f, 4, &q, &it, &n), -PS_E_BAD_VALUE);

	b.len = 0;
	memset(&e, 0, sizeof e);
	e.id = 7;
	e.attempt = 1;
	e.data = (const uint8_t *)"hi";
	e.len = 2;
	e.key = (const uint8_t *)"k";
	e.klen = 1;
	e.hdr = h.data;
	e.hlen = 14;		/* task: resize alone */
	ck_assert_int_eq(ps_put_event(&b, 5, &e), 0);
	ck_assert_uint_eq(b.len, sizeof ev);
	ck_assert_mem_eq(b.data, ev, sizeof ev);
	ck_assert_int_gt(ps_frame_parse(ev, sizeof ev, 1 << 20, &f), 0);
	memset(&e, 0, sizeof e);
	ck_assert_int_eq(ps_get_event(&f, 5, &e), 0);
	ck_assert_uint_eq(e.klen, 1);
	ck_assert_uint_eq(e.hlen, 14);
	ck_assert_uint_eq(e.len, 2);
	ck_assert_mem_eq(e.data, "hi", 2);
	/* To version 4 the same event goes with its key alone. */
	b.len = 0;
	e.hdr = h.data;
	ck_assert_int_eq(ps_put_event(&b, 4, &e), 0);
	ck_assert_uint_eq(b.len, sizeof ev - 14);
	ps_buf_free(&b);
	ps_buf_free(&h);
}
END_TEST

/* Version 4: an event's key rides in an attribute block (flags 1). */
START_TEST(version_4_event_carries_its_key)
{
	static const uint8_t	 want[] = {
		0, 0, 0, 0x15, PS_EVENT, PS_F_ATTRS, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 7,		/* id */
		0, 0, 0, 2,			/* attempt */
		0, 5, PS_ATTR_KEY, 3, 'k', 'e', 'y',
		'x', 'y',
	};
	struct ps_buf	 b = { 0 };
	struct ps_event	 e = { 7, 2, 2, (const uint8_t *)"xy",
			     (const uint8_t *)"key", 3, NULL, 0 }, got;
	struct ps_frame	 f;

	ck_assert_int_eq(ps_put_event(&b, 4, &e), 0);
	ck_assert_uint_eq(b.len, sizeof want);
	ck_assert_mem_eq(b.data, want, sizeof want);
	f = one(&b);
	ck_assert_int_eq(ps_get_event(&f, 4, &got), 0);
	ck_assert_uint_eq(got.id, 7);
	ck_assert_uint_eq(got.klen, 3);
	ck_assert_mem_eq(got.key, "key", 3);
	ck_assert_uint_eq(got.len, 2);
	ck_assert_mem_eq(got.data, "xy", 2);
	/* Before version 4 flags on an EVENT are a bad header. */
	ck_assert_int_eq(ps_get_event(&f, 3, &got), -PS_E_BAD_HEADER);
	/* An attribute that runs past its block is cut short. */
	b.data[PS_HDR_LEN + 12 + 1] = 9;
	ck_assert_int_eq(ps_get_event(&f, 4, &got), -PS_E_BAD_LENGTH);
	b.data[PS_HDR_LEN + 12 + 1] = 5;
	b.data[PS_HDR_LEN + 12 + 3] = 4;
	ck_assert_int_eq(ps_get_event(&f, 4, &got), -PS_E_BAD_LENGTH);
	/* No key, or version 3: no block, as before. */
	b.len = 0;
	e.key = NULL;
	ck_assert_int_eq(ps_put_event(&b, 4, &e), 0);
	ck_assert_uint_eq(b.len, PS_EVENT_PREFIX + 2);
	ck_assert_uint_eq(b.data[5], 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_event(&f, 4, &got), 0);
	ck_assert_ptr_null(got.key);
	b.len = 0;
	e.key = (const uint8_t *)"key";
	ck_assert_int_eq(ps_put_event(&b, 3, &e), 0);
	ck_assert_uint_eq(b.len, PS_EVENT_PREFIX + 2);
	ps_buf_free(&b);
}
END_TEST

START_TEST(stats_reply_round_trip)
{
	struct ps_buf	 b = { 0 };
	struct ps_stats	 st;
	struct ps_frame	 f;
	size_t		 start, at;

	ck_assert_int_eq(ps_put_stats_begin(&b, &start), 0);
	ck_assert_int_eq(ps_put_stat(&b, "queued", 12), 0);
	ck_assert_int_eq(ps_put_stat(&b, "enqueued_total", 1ull << 50), 0);
	ck_assert_int_eq(ps_put_stats_consumers(&b, &at), 0);
	ck_assert_int_eq(ps_put_stats_consumer(&b, "c1", 2, 2), 0);
	ck_assert_int_eq(ps_put_stat(&b, "demand", 3), 0);
	ck_assert_int_eq(ps_put_stat(&b, "delivered", 4), 0);
	ck_assert_int_eq(ps_put_stats_consumer(&b, "c2", 2, 0), 0);
	ps_put_stats_end(&b, start, 2, at, 2);

	f = one(&b);
	ck_assert_int_eq(ps_get_stats_reply(&f, &st), 0);
	ck_assert_uint_eq(st.ncounters, 2);
	ck_assert_str_eq(st.counters[0].name, "queued");
	ck_assert_uint_eq(st.counters[0].value, 12);
	ck_assert_uint_eq(st.counters[1].value, 1ull << 50);
	ck_assert_uint_eq(st.nconsumers, 2);
	ck_assert_str_eq(st.consumers[0].id, "c1");
	ck_assert_uint_eq(st.consumers[0].nfields, 2);
	ck_assert_str_eq(st.consumers[0].fields[1].name, "delivered");
	ck_assert_uint_eq(st.consumers[0].fields[1].value, 4);
	ck_assert_str_eq(st.consumers[1].id, "c2");
	ck_assert_uint_eq(st.consumers[1].nfields, 0);
	ck_assert_uint_eq(st.ntexts, 0);
	ps_stats_free(&st);

	/* Version 2: named texts after the consumers. */
	ck_assert_int_eq(ps_put_stats_texts(&b, &at), 0);
	ck_assert_int_eq(ps_put_stat_text(&b, "upstream", "/run/a.sock"), 0);
	ck_assert_int_eq(ps_put_stat_text(&b, "map", ""), 0);
	ps_put_stats_texts_end(&b, start, at, 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_stats_reply(&f, &st), 0);
	ck_assert_uint_eq(st.nconsumers, 2);
	ck_assert_uint_eq(st.ntexts, 2);
	ck_assert_str_eq(st.texts[0].name, "upstream");
	ck_assert_str_eq(st.texts[0].value, "/run/a.sock");
	ck_assert_str_eq(st.texts[1].name, "map");
	ck_assert_str_eq(st.texts[1].value, "");
	ps_stats_free(&st);
	/* A text running past the end is refused. */
	b.data[b.len - 6] = 0x7f;
	f = one(&b);
	ck_assert_int_eq(ps_get_stats_reply(&f, &st), -PS_E_BAD_LENGTH);
	ps_buf_free(&b);
}
END_TEST

/* A stream holding one of every frame, with its frames' sizes. */
static void
stream(struct ps_buf *b)
{
	struct ps_hello		 h = { 1, PS_ROLE_CONSUMER, 8, 2, 2, "c9", 0,
				     NULL, 0, 0 };
	struct ps_welcome	 w = { 2, MAX, 0, 5, PS_AT_LEAST_ONCE };
	struct ps_enqueued	 q = { 5, 2, 0, 0, 0, 0, NULL, NULL };
	struct ps_event		 e1 = { 5, 1, 5, (const uint8_t *)"first", NULL, 0,
				     NULL, 0 };
	struct ps_event		 e2 = { 6, 2, 0, NULL, NULL, 0, NULL, 0 };
	static const uint64_t	 acked[] = { 5, 6 };
	size_t			 start;

	ck_assert_int_eq(ps_put_hello(b, &h), 0);
	ck_assert_int_eq(ps_put_welcome(b, &w), 0);
	ck_assert_int_eq(ps_put_enqueue_begin(b, 2, NULL, 0, &start), 0);
	ck_assert_int_eq(ps_put_enqueue_add(b, "first", 5), 0);
	ck_assert_int_eq(ps_put_enqueue_add(b, "second", 6), 0);
	ps_put_enqueue_end(b, start, 2);
	ck_assert_int_eq(ps_put_enqueued(b, 2, &q), 0);
	ck_assert_int_eq(ps_put_demand(b, 8), 0);
	ck_assert_int_eq(ps_put_event(b, 2, &e1), 0);
	ck_assert_int_eq(ps_put_event(b, 2, &e2), 0);
	ck_assert_int_eq(ps_put_ids(b, PS_ACK, acked, 2), 0);
	ck_assert_int_eq(ps_put_stats(b, 2, NULL), 0);
	ck_assert_int_eq(ps_put_error(b, 3, "bye"), 0);
}

/* Decode all of s fed in the pieces cut at cuts[]; record each frame. */
static int
decode_split(const struct ps_buf *s, const size_t *cuts, size_t ncuts,
    struct ps_buf *got)
{
	struct ps_decoder	 d;
	struct ps_frame		 f;
	size_t			 from = 0, to, i;
	int			 r, frames = 0;

	ps_decoder_init(&d, MAX);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : s->len;
		ck_assert_int_eq(ps_decoder_feed(&d, s->data + from,
		    to - from), 0);
		from = to;
		while ((r = ps_decoder_next(&d, &f)) == 1) {
			/* Re-encode what came out: type, length, body. */
			ck_assert_int_eq(ps_buf_add(got, &f.type, 1), 0);
			ck_assert_int_eq(ps_buf_add(got, &f.len, 4), 0);
			ck_assert_int_eq(ps_buf_add(got, f.body, f.len), 0);
			frames++;
		}
		ck_assert_int_eq(r, 0);
	}
	ck_assert_uint_eq(ps_decoder_pending(&d), 0);
	ps_decoder_free(&d);
	return frames;
}

START_TEST(every_two_way_split_gives_the_same_frames)
{
	struct ps_buf	 s = { 0 }, whole = { 0 }, got = { 0 };
	size_t		 k;
	int		 n;

	stream(&s);
	n = decode_split(&s, NULL, 0, &whole);
	ck_assert_int_eq(n, 10);
	for (k = 0; k <= s.len; k++) {
		got.len = 0;
		ck_assert_int_eq(decode_split(&s, &k, 1, &got), 10);
		ck_assert_uint_eq(got.len, whole.len);
		ck_assert_mem_eq(got.data, whole.data, whole.len);
	}
	ps_buf_free(&s);
	ps_buf_free(&whole);
	ps_buf_free(&got);
}
END_TEST

static int
cmp_size(const void *a, const void *b)
{
	size_t	 x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(random_splits_give_the_same_frames)
{
	struct ps_buf	 s = { 0 }, whole = { 0 }, got = { 0 };
	size_t		 cuts[40], n, i;
	int		 round;

	stream(&s);
	decode_split(&s, NULL, 0, &whole);
	srandom(20261124);
	for (round = 0; round < 2000; round++) {
		n = (size_t)(random() % 40);
		for (i = 0; i < n; i++)
			cuts[i] = (size_t)random() % (s.len + 1);
		qsort(cuts, n, sizeof cuts[0], cmp_size);
		got.len = 0;
		ck_assert_int_eq(decode_split(&s, cuts, n, &got), 10);
		ck_assert_mem_eq(got.data, whole.data, whole.len);
	}
	ps_buf_free(&s);
	ps_buf_free(&whole);
	ps_buf_free(&got);
}
END_TEST

/* A header alone, to test what is known before any body arrives. */
static void
header(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags)
{
	p[0] = len >> 24;
	p[1] = len >> 16;
	p[2] = len >> 8;
	p[3] = len;
	p[4] = type;
	p[5] = flags;
	p[6] = p[7] = 0;
}

START_TEST(oversized_frame_is_refused_from_its_header)
{
	struct ps_decoder	 d;
	struct ps_frame		 f;
	uint8_t			 h[PS_HDR_LEN];

	header(h, 4096 + 1, PS_ENQUEUE, 0);
	ck_assert_int_eq(ps_frame_parse(h, sizeof h, 4096, &f),
	    -PS_E_TOO_LARGE);
	/* A 4 GiB length, through the stream decoder: no body awaited. */
	header(h, 0xffffffffu, PS_ENQUEUE, 0);
	ps_decoder_init(&d, MAX);
	ck_assert_int_eq(ps_decoder_feed(&d, h, sizeof h), 0);
	ck_assert_int_eq(ps_decoder_next(&d, &f), -PS_E_TOO_LARGE);
	ps_decoder_free(&d);
	/* Exactly at the limit is fine, and waits for its body. */
	header(h, 4096, PS_ENQUEUE, 0);
	ck_assert_int_eq(ps_frame_parse(h, sizeof h, 4096, &f), 0);
	ck_assert_int_eq(ps_frame_size(h, sizeof h, 4096), PS_HDR_LEN + 4096);
}
END_TEST

START_TEST(unknown_types_and_bad_headers)
{
	struct ps_frame	 f;
	uint8_t		 h[PS_HDR_LEN];

	header(h, 0, 0, 0);
	ck_assert_int_eq(ps_frame_parse(h, sizeof h, MAX, &f),
	    -PS_E_UNKNOWN_TYPE);
	header(h, 0, PS_TYPE_MAX + 1, 0);
	ck_assert_int_eq(ps_frame_parse(h, sizeof h, MAX, &f),
	    -PS_E_UNKNOWN_TYPE);
	header(h, 0, 0xff, 0);
	ck_assert_int_eq(ps_frame_parse(h, sizeof h, MAX, &f),
	    -PS_E_UNKNOWN_TYPE);
	header(h, 0, PS_STATS, 1);
	ck_assert_int_eq(ps_frame_parse(h, sizeof h, MAX, &f),
	    -PS_E_BAD_HEADER);
	header(h, 0, PS_STATS, 0);
	h[7] = 1;
	ck_assert_int_eq(ps_frame_parse(h, sizeof h, MAX, &f),
	    -PS_E_BAD_HEADER);
	/* Fewer bytes than a header: just "need more". */
	ck_assert_int_eq(ps_frame_parse(h, 7, MAX, &f), 0);
}
END_TEST

/* A frame of type t whose body is body[0..n). */
static struct ps_frame
raw(uint8_t t, const void *body, uint32_t n)
{
	struct ps_frame	 f = { t, n, body, 0 };

	return f;
}

START_TEST(truncated_and_inconsistent_bodies)
{
	static const uint8_t	 hello_short[12] = { 0 };
	/* name_len says 5, only 2 name bytes follow. */
	static const uint8_t	 hello_bad[15] = { 0, 1, 1, 0, 0, 0, 0, 1,
				     0, 0, 0, 0, 5, 'a', 'b' };
	/* count 2, one event of 1 byte. */
	static const uint8_t	 enq_short[9] = { 0, 0, 0, 2, 0, 0, 0, 1,
				     'x' };
	/* count 1, event length past the end. */
	static const uint8_t	 enq_over[9] = { 0, 0, 0, 1, 0, 0, 0, 9,
				     'x' };
	/* count 1 and a stray byte after the event. */
	static const uint8_t	 enq_tail[10] = { 0, 0, 0, 1, 0, 0, 0, 1,
				     'x', 'y' };
	/* count 4 billion in a tiny body. */
	static const uint8_t	 enq_huge[8] = { 0xff, 0xff, 0xff, 0xff, 0,
				     0, 0, 0 };
	static const uint8_t	 enq_zero[4] = { 0, 0, 0, 0 };
	static const uint8_t	 three[3] = { 0 };
	static const uint8_t	 zero4[4] = { 0 };
	/* ncounters 1000 in a 2-byte body. */
	static const uint8_t	 st_lie[2] = { 0x03, 0xe8 };
	struct ps_enqueue_iter	 it;
	struct ps_hello		 h;
	struct ps_frame		 f;
	struct ps_stats		 st;
	struct ps_event		 e;
	struct ps_error		 er;
	uint32_t		 n;

	f = raw(PS_HELLO, hello_short, sizeof hello_short);
	ck_assert_int_eq(ps_get_hello(&f, &h), -PS_E_BAD_LENGTH);
	f = raw(PS_HELLO, hello_bad, sizeof hello_bad);
	ck_assert_int_eq(ps_get_hello(&f, &h), -PS_E_BAD_LENGTH);
	f = raw(PS_ENQUEUE, enq_short, sizeof enq_short);
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &pq, &it, &n), -PS_E_BAD_LENGTH);
	f = raw(PS_ENQUEUE, enq_over, sizeof enq_over);
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &pq, &it, &n), -PS_E_BAD_LENGTH);
	f = raw(PS_ENQUEUE, enq_tail, sizeof enq_tail);
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &pq, &it, &n), -PS_E_BAD_LENGTH);
	f = raw(PS_ENQUEUE, enq_huge, sizeof enq_huge);
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &pq, &it, &n), -PS_E_BAD_LENGTH);
	f = raw(PS_ENQUEUE, enq_zero, sizeof enq_zero);
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &pq, &it, &n), -PS_E_BAD_VALUE);
	f = raw(PS_DEMAND, three, sizeof three);
	ck_assert_int_eq(ps_get_demand(&f, &n), -PS_E_BAD_LENGTH);
	f = raw(PS_DEMAND, zero4, sizeof zero4);
	ck_assert_int_eq(ps_get_demand(&f, &n), -PS_E_BAD_VALUE);
	f = raw(PS_EVENT, three, sizeof three);
	ck_assert_int_eq(ps_get_event(&f, 2, &e), -PS_E_BAD_LENGTH);
	f = raw(PS_ERROR, three, 1);
	ck_assert_int_eq(ps_get_error(&f, &er), -PS_E_BAD_LENGTH);
	f = raw(PS_STATS, three, 1);
	ck_assert_int_eq(ps_get_stats(&f, 2, &pq), -PS_E_BAD_LENGTH);
	f = raw(PS_STATS_REPLY, st_lie, sizeof st_lie);
	ck_assert_int_eq(ps_get_stats_reply(&f, &st), -PS_E_BAD_LENGTH);
	/* A decoder asked for the wrong type refuses, never misreads. */
	f = raw(PS_EVENT, zero4, sizeof zero4);
	ck_assert_int_eq(ps_get_demand(&f, &n), -PS_E_BAD_LENGTH);
}
END_TEST

START_TEST(every_error_code_has_a_message)
{
	int	 i, j;

	for (i = 1; i <= PS_E_MAX; i++) {
		ck_assert_ptr_nonnull(ps_strerror(i));
		ck_assert_str_eq(ps_strerror(i), ps_strerror(-i));
		for (j = 1; j < i; j++)
			ck_assert_str_ne(ps_strerror(i), ps_strerror(j));
	}
	ck_assert_str_eq(ps_strerror(PS_E_MAX + 1), "unknown error");
	for (i = 1; i <= PS_TYPE_MAX; i++)
		ck_assert_str_ne(ps_type_name(i), "UNKNOWN");
	ck_assert_str_eq(ps_type_name(0), "UNKNOWN");
}
END_TEST

/*
 * A version 3 consumer of a partition ends its HELLO with the partition
 * (u16); 1024 or more is BAD_VALUE.  The partition function's values are
 * those docs/dispatch.md gives.
 */
START_TEST(hello_names_a_partition)
{
	struct ps_buf		 b = { 0 };
	struct ps_hello		 in = { 3, PS_ROLE_CONSUMER, 4, 1, 2, "w1", 4,
				     "jobs", 1, 7 }, out;
	struct ps_frame		 f;

	ck_assert_int_eq(ps_put_hello(&b, &in), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 13 + 2 + 1 + 4 + 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_hello(&f, &out), 0);
	ck_assert_uint_eq(out.has_partition, 1);
	ck_assert_uint_eq(out.partition, 7);
	ck_assert_uint_eq(out.queue_len, 4);
	b.data[b.len - 2] = 0x04;		/* 1031 */
	ck_assert_int_eq(ps_get_hello(&f, &out), -PS_E_BAD_VALUE);
	/* One byte of it is no HELLO. */
	f.len--;
	ck_assert_int_eq(ps_get_hello(&f, &out), -PS_E_BAD_LENGTH);
	in.partition = PS_PARTITIONS_MAX;
	b.len = 0;
	ck_assert_int_eq(ps_put_hello(&b, &in), -PS_E_BAD_VALUE);
	/* Version 2 has no room for it: not sent. */
	in.version = 2;
	in.partition = 7;
	ck_assert_int_eq(ps_put_hello(&b, &in), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_hello(&f, &out), 0);
	ck_assert_uint_eq(out.has_partition, 0);
	free(b.data);

	ck_assert_uint_eq(ps_partition("", 0, 8), 5);
	ck_assert_uint_eq(ps_partition("a", 1, 8), 4);
	ck_assert_uint_eq(ps_partition("user-42", 7, 8), 3);
	ck_assert_uint_eq(ps_partition("order:1001", 10, 3), 2);
	ck_assert_uint_eq(ps_partition(NULL, -1, 8), 0);
}
END_TEST

/*
 * FNV-1a, the one hash (hash.h): the published test vectors, a byte of
 * 0x80 or more taken unsigned, and the partition hash of the wire is its
 * 32 bits modulo N, as docs/dispatch.md says (values from before the two
 * were one).
 */
START_TEST(fnv1a_known_values)
{
	static const uint8_t	 high[] = { 0xff, 0x80, 0x00, 0x7f };

	ck_assert_uint_eq(fnv1a32("", 0), 0x811c9dc5u);
	ck_assert_uint_eq(fnv1a32("a", 1), 0xe40c292cu);
	ck_assert_uint_eq(fnv1a32("foobar", 6), 0xbf9cf968u);
	ck_assert_uint_eq(fnv1a32(high, sizeof high), 0xb9e89793u);
	ck_assert_uint_eq(fnv1a64("", 0), 0xcbf29ce484222325ull);
	ck_assert_uint_eq(fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
	ck_assert_uint_eq(fnv1a64("foobar", 6), 0x85944171f73967e8ull);
	ck_assert_uint_eq(fnv1a64(high, sizeof high), 0xbe1edb6705cc2dd3ull);

	ck_assert_uint_eq(ps_partition(high, sizeof high, 1024), 915);
	ck_assert_uint_eq(ps_partition(high, sizeof high, 1000003), 18758);
	ck_assert_uint_eq(ps_partition("a", 1, 1000003), 990745);
	ck_assert_uint_eq(ps_partition("foobar", 6, 7), 0);
	ck_assert_uint_eq(ps_partition("foobar", 6, 1000003), 726078);
	ck_assert_uint_eq(ps_partition("user-42", 7, 1000003), 875382);
	ck_assert_uint_eq(ps_partition("user-42", 7, 1), 0);
}
END_TEST

/* NACK_LATER: the delay, then a NACK's count and ids. */
START_TEST(nack_later_round_trip)
{
	static const uint64_t	 v[] = { 5, 1ull << 40 };
	struct ps_buf		 b = { 0 };
	struct ps_frame		 f;
	struct ps_ids		 ids;

	ck_assert_int_eq(ps_put_nack_later(&b, 250, v, 2), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 8 + 16);
	f = one(&b);
	ck_assert_int_eq(f.type, PS_NACK_LATER);
	ck_assert_int_eq(ps_get_ids(&f, &ids), 0);
	ck_assert_uint_eq(ids.delay_ms, 250);
	ck_assert_uint_eq(ids.count, 2);
	ck_assert_uint_eq(ps_ids_at(&ids, 1), 1ull << 40);
	f.len -= 8;			/* a count that does not add up */
	ck_assert_int_eq(ps_get_ids(&f, &ids), -PS_E_BAD_LENGTH);
	f.len = 3;
	ck_assert_int_eq(ps_get_ids(&f, &ids), -PS_E_BAD_LENGTH);
	b.len = 0;
	ck_assert_int_eq(ps_put_nack_later(&b, 0, v, 0), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_ids(&f, &ids), -PS_E_BAD_VALUE);
	ck_assert_str_eq(ps_type_name(PS_NACK_LATER), "NACK_LATER");
	free(b.data);
}
END_TEST

/* Version 3: the queue in HELLO, ENQUEUE, STATS and the dead-letter frames. */
/* JOB_CANCEL, its reply and CANCEL: round trips, then each bad shape. */
START_TEST(job_cancel_frames)
{
	static const uint8_t	 doc[] = {	/* protocol.md's layout */
		0x00, 0x00, 0x00, 0x12, 27, 0, 0, 0,
		0x04, 'j', 'o', 'b', 's', 0x00,
		0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x2a,
	};
	struct ps_buf		 b = { 0 };
	struct ps_frame		 f;
	struct ps_cancel_ask	 a;
	struct ps_cancel_reply	 r;
	struct ps_ids		 ids;
	uint64_t		 v[3] = { 7, 8, UINT64_MAX }, id;
	uint8_t			 how[3] = { 1, 2, 3 }, o;
	uint32_t		 i;

	ck_assert_int_eq(ps_put_job_cancel(&b, "jobs", 4, v, 1, NULL, 0), 0);
	ck_assert_uint_eq(b.len, sizeof doc);
	b.len = 0;
	ck_assert_int_eq(ps_put_job_cancel(&b, "jobs", 4, (uint64_t[]){ 42 },
	    1, NULL, 0), 0);
	ck_assert_mem_eq(b.data, doc, sizeof doc);
	f = one(&b);
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), 0);
	ck_assert_uint_eq(a.ids.count, 1);
	ck_assert_uint_eq(ps_ids_at(&a.ids, 0), 42);
	ck_assert_uint_eq(a.ulen, 0);
	ck_assert_mem_eq(a.queue.name, "jobs", 4);
	/* By unique id. */
	b.len = 0;
	ck_assert_int_eq(ps_put_job_cancel(&b, "q", 1, NULL, 0, "u-1", 3), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), 0);
	ck_assert_uint_eq(a.ids.count, 0);
	ck_assert_uint_eq(a.ulen, 3);
	ck_assert_mem_eq(a.uid, "u-1", 3);
	/* Both, neither, a long uid, no queue: not written. */
	ck_assert_int_eq(ps_put_job_cancel(&b, "q", 1, v, 1, "u", 1),
	    -PS_E_BAD_VALUE);
	ck_assert_int_eq(ps_put_job_cancel(&b, "q", 1, NULL, 0, NULL, 0),
	    -PS_E_BAD_VALUE);
	ck_assert_int_eq(ps_put_job_cancel(&b, "q", 1, NULL, 0, doc, 129),
	    -PS_E_BAD_VALUE);
	ck_assert_int_eq(ps_put_job_cancel(&b, "", 0, v, 1, NULL, 0),
	    -PS_E_BAD_VALUE);
	/* Read: both or neither is a bad value; a count off, a length. */
	b.len = 0;
	ck_assert_int_eq(ps_put_job_cancel(&b, "q", 1, v, 2, NULL, 0), 0);
	f = one(&b);
	b.data[PS_HDR_LEN + 2] = 1;		/* uid_len 1, one byte less */
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), -PS_E_BAD_LENGTH);
	b.data[PS_HDR_LEN + 2] = 0;
	b.data[PS_HDR_LEN + 6] = 3;		/* count 3 of 2 */
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), -PS_E_BAD_LENGTH);
	b.data[PS_HDR_LEN + 6] = 0;		/* count 0, ids follow */
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), -PS_E_BAD_LENGTH);
	b.len = 0;
	ck_assert_int_eq(ps_put_job_cancel(&b, "q", 1, NULL, 0, "u", 1), 0);
	f = one(&b);
	b.data[PS_HDR_LEN + 2] = 0;		/* neither, 1 stray byte */
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), -PS_E_BAD_LENGTH);
	memset(b.data + PS_HDR_LEN + 3, 0, 4);
	f.len = 7;				/* neither: count 0, no uid */
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), -PS_E_BAD_VALUE);
	f.type = PS_JOB;
	ck_assert_int_eq(ps_get_job_cancel(&f, &a), -PS_E_BAD_LENGTH);

	/* The reply. */
	b.len = 0;
	ck_assert_int_eq(ps_put_cancel_reply(&b, v, how, 3), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 4 + 27);
	f = one(&b);
	ck_assert_int_eq(ps_get_cancel_reply(&f, &r), 0);
	ck_assert_uint_eq(r.count, 3);
	for (i = 0; i < 3; i++) {
		ps_cancel_reply_at(&r, i, &id, &o);
		ck_assert_uint_eq(id, v[i]);
		ck_assert_uint_eq(o, how[i]);
	}
	ck_assert_str_eq(ps_cancel_outcome_name(2),
	    "cancelled in flight, its consumer told");
	ck_assert_str_eq(ps_cancel_outcome_name(9), "unknown");
	b.data[b.len - 1] = 4;			/* an outcome unknown */
	ck_assert_int_eq(ps_get_cancel_reply(&f, &r), -PS_E_BAD_VALUE);
	f.len--;
	ck_assert_int_eq(ps_get_cancel_reply(&f, &r), -PS_E_BAD_LENGTH);

	/* CANCEL, to a consumer: an ACK's shape. */
	b.len = 0;
	ck_assert_int_eq(ps_put_ids(&b, PS_CANCEL, v, 2), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_ids(&f, &ids), 0);
	ck_assert_uint_eq(ids.count, 2);
	ck_assert_uint_eq(ps_ids_at(&ids, 1), 8);
	ck_assert_str_eq(ps_type_name(PS_CANCEL), "CANCEL");
	ck_assert_str_eq(ps_type_name(PS_JOB_CANCEL_REPLY), "JOB_CANCEL_REPLY");
	ck_assert_str_eq(ps_job_state_name(8),
	    "cancelled (in flight, its consumer told)");
	free(b.data);
}
END_TEST

/* ACK_RESULT, WAIT, WAIT_REPLY, a done JOB_REPLY: round trips, bad shapes. */
START_TEST(result_and_wait_frames)
{
	struct ps_buf		 b = { 0 };
	struct ps_frame		 f;
	struct ps_ack_result	 ar;
	struct ps_wait_ask	 wa;
	struct ps_wait_reply	 wr, got;
	struct ps_job		 j, jr;

	ck_assert_int_eq(ps_put_ack_result(&b, 7, "ok!", 3), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 15);
	f = one(&b);
	ck_assert_int_eq(ps_get_ack_result(&f, &ar), 0);
	ck_assert_uint_eq(ar.id, 7);
	ck_assert_uint_eq(ar.len, 3);
	ck_assert_mem_eq(ar.result, "ok!", 3);
	f.len--;
	ck_assert_int_eq(ps_get_ack_result(&f, &ar), -PS_E_BAD_LENGTH);

	b.len = 0;
	ck_assert_int_eq(ps_put_wait(&b, "q/g", 3, 9, 1500, NULL, 0), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_wait(&f, &wa), 0);
	ck_assert_mem_eq(wa.queue.name, "q/g", 3);
	ck_assert_uint_eq(wa.id, 9);
	ck_assert_uint_eq(wa.timeout_ms, 1500);
	ck_assert_uint_eq(wa.ulen, 0);
	ck_assert_int_eq(ps_put_wait(&b, "q", 1, 9, 0, "u", 1),
	    -PS_E_BAD_VALUE);
	ck_assert_int_eq(ps_put_wait(&b, "q", 1, 0, 0, NULL, 0),
	    -PS_E_BAD_VALUE);
	b.len = 0;
	ck_assert_int_eq(ps_put_wait(&b, "q", 1, 0, UINT32_MAX, "u-1", 3), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_wait(&f, &wa), 0);
	ck_assert_uint_eq(wa.timeout_ms, UINT32_MAX);
	ck_assert_mem_eq(wa.uid, "u-1", 3);
	b.data[PS_HDR_LEN + 2 + 12] = 0;	/* uid_len 0 with id 0 */
	ck_assert_int_eq(ps_get_wait(&f, &wa), -PS_E_BAD_LENGTH);
	f.len -= 3;
	ck_assert_int_eq(ps_get_wait(&f, &wa), -PS_E_BAD_VALUE);

	memset(&wr, 0, sizeof wr);
	wr.id = 11;
	wr.state = PS_JOB_DONE;
	wr.at = 1800000000000ull;
	wr.attempts = 2;
	wr.data = (const uint8_t *)"result";
	wr.len = 6;
	b.len = 0;
	ck_assert_int_eq(ps_put_wait_reply(&b, &wr), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 28 + 6);
	f = one(&b);
	ck_assert_int_eq(ps_get_wait_reply(&f, &got), 0);
	ck_assert_uint_eq(got.id, 11);
	ck_assert_uint_eq(got.state, PS_JOB_DONE);
	ck_assert_uint_eq(got.timed_out, 0);
	ck_assert_uint_eq(got.at, wr.at);
	ck_assert_uint_eq(got.attempts, 2);
	ck_assert_mem_eq(got.data, "result", 6);
	b.data[PS_HDR_LEN + 11] = 1;		/* reserved */
	ck_assert_int_eq(ps_get_wait_reply(&f, &got), -PS_E_BAD_VALUE);
	f.len--;
	ck_assert_int_eq(ps_get_wait_reply(&f, &got), -PS_E_BAD_LENGTH);

	/* A done JOB_REPLY ends with its result; any other, its failures. */
	memset(&j, 0, sizeof j);
	j.id = 11;
	j.state = PS_JOB_DONE;
	j.klen = -1;
	j.len = 6;
	j.result = (const uint8_t *)"result";
	j.rlen = 6;
	b.len = 0;
	ck_assert_int_eq(ps_put_job_reply(&b, &j), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_job_reply(&f, &jr), 0);
	ck_assert_uint_eq(jr.rlen, 6);
	ck_assert_mem_eq(jr.result, "result", 6);
	b.data[PS_HDR_LEN + 8] = 1;		/* queued: bytes left over */
	ck_assert_int_eq(ps_get_job_reply(&f, &jr), -PS_E_BAD_LENGTH);
	ck_assert_str_eq(ps_type_name(PS_WAIT_REPLY), "WAIT_REPLY");
	ck_assert_str_eq(ps_job_state_name(PS_JOB_DONE), "done");
	free(b.data);
}
END_TEST

START_TEST(version_3_names_queues)
{
	static const uint64_t	 some[] = { 7, 9 };
	struct ps_buf		 b = { 0 };
	struct ps_hello		 in = { 3, PS_ROLE_CONSUMER, 4, 1, 2, "w1", 4,
				     "jobs", 0, 0 }, out;
	struct ps_frame		 f;
	struct ps_enqueue_iter	 it;
	struct ps_ids		 ids;
	struct ps_queue		 q;
	const uint8_t		*data;
	uint32_t		 n, len, preview;
	size_t			 start;

	ck_assert_int_eq(ps_put_hello(&b, &in), 0);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 13 + 2 + 1 + 4);
	f = one(&b);
	ck_assert_int_eq(ps_get_hello(&f, &out), 0);
	ck_assert_uint_eq(out.queue_len, 4);
	ck_assert_mem_eq(out.queue, "jobs", 4);
	/* A version 3 HELLO without its queue byte is left for the daemon. */
	f.len--;
	b.data[PS_HDR_LEN + 15] = 0;
	ck_assert_int_eq(ps_get_hello(&f, &out), -PS_E_BAD_LENGTH);

	b.len = 0;
	ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "mail.out", 8, &start), 0);
	ck_assert_int_eq(ps_put_enqueue_add(&b, "hi", 2), 0);
	ps_put_enqueue_end(&b, start, 1);
	ck_assert_uint_eq(b.len, PS_HDR_LEN + 4 + 1 + 8 + 4 + 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_enqueue(&f, 3, &q, &it, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(q.len, 8);
	ck_assert_mem_eq(q.name, "mail.out", 8);
	ck_assert_int_eq(ps_enqueue_next(&it, &data, &len), 1);
	ck_assert_uint_eq(len, 2);
	/* Read as version 2 the same bytes do not add up. */
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &q, &it, &n), -PS_E_BAD_LENGTH);
	ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "", 0, &start),
	    -PS_E_BAD_VALUE);

	b.len = 0;
	ck_assert_int_eq(ps_put_stats(&b, 3, NULL), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_stats(&f, 3, &q), 0);
	ck_assert_uint_eq(q.len, 0);
	b.len = 0;
	ck_assert_int_eq(ps_put_stats(&b, 2, "q"), -PS_E_BAD_VALUE);
	ck_assert_int_eq(ps_put_stats(&b, 3, "q"), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_stats(&f, 3, &q), 0);
	ck_assert_uint_eq(q.len, 1);
	ck_assert_int_eq(ps_get_stats(&f, 2, &q), -PS_E_BAD_LENGTH);
	b.len = 0;
	ck_assert_int_eq(ps_put_dead_list(&b, 3, "dq", 40), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_list(&f, 3, &q, &preview), 0);
	ck_assert_uint_eq(preview, 40);
	ck_assert_mem_eq(q.name, "dq", 2);
	b.len = 0;
	ck_assert_int_eq(ps_put_dead_ids(&b, PS_DEAD_RETRY, 3, "dq", some, 2), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_dead_ids(&f, 3, &q, &ids), 0);
	ck_assert_uint_eq(ids.count, 2);
	ck_assert_uint_eq(ps_ids_at(&ids, 1), 9);
	ck_assert_int_eq(ps_get_dead_ids(&f, 2, &q, &ids), -PS_E_BAD_LENGTH);
	ps_buf_free(&b);
}
END_TEST

/*
 * TASK_STATS and its reply (protocol.md): the request's exact length and
 * queue, entries of task names (bytes, up to 255) with named fields;
 * lengths that do not add up are refused.
 */
START_TEST(task_stats_frames_round_trip)
{
	static const uint8_t	 ask[] = { 0, 0, 0, 10, PS_TASK_STATS, 0, 0,
				    0, 5, 'j', 'o', 'b', 's', '/', 0, 0, 0,
				    2 };
	struct ps_buf		 b = { 0 };
	struct ps_frame		 f;
	struct ps_queue		 q;
	struct ps_task_stats	 ts;
	char			 big[PS_TASK_NAME_MAX + 1];
	size_t			 start;
	uint32_t		 from;

	ck_assert_int_eq(ps_put_task_stats(&b, "jobs/", 5, 2), 0);
	ck_assert_uint_eq(b.len, sizeof ask);
	ck_assert_mem_eq(b.data, ask, sizeof ask);
	f = one(&b);
	ck_assert_int_eq(ps_get_task_stats(&f, &q, &from), 0);
	ck_assert_uint_eq(q.len, 5);
	ck_assert_mem_eq(q.name, "jobs/", 5);
	ck_assert_uint_eq(from, 2);
	f.len--;
	ck_assert_int_eq(ps_get_task_stats(&f, &q, &from), -PS_E_BAD_LENGTH);
	b.len = 0;
	ck_assert_int_eq(ps_put_task_stats(&b, "", 0, 0), -PS_E_BAD_VALUE);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(ps_type_name(PS_TASK_STATS_REPLY),
	    "TASK_STATS_REPLY");

	memset(big, 'n', sizeof big);
	ck_assert_int_eq(ps_put_task_stats_begin(&b, &start), 0);
	ck_assert_int_eq(ps_put_task_entry(&b, "resize", 6, 2), 0);
	ck_assert_int_eq(ps_put_stat(&b, "done", 5), 0);
	ck_assert_int_eq(ps_put_stat(&b, "handling_p99_ms", 70), 0);
	ck_assert_int_eq(ps_put_task_entry(&b, "a\"<\\", 4, 0), 0);
	ck_assert_int_eq(ps_put_task_entry(&b, big, PS_TASK_NAME_MAX, 0), 0);
	ck_assert_int_eq(ps_put_task_entry(&b, big, PS_TASK_NAME_MAX + 1, 0),
	    -PS_E_BAD_VALUE);
	ps_put_task_stats_end(&b, start, 4, 3);
	f = one(&b);
	ck_assert_int_eq(ps_get_task_stats_reply(&f, &ts), 0);
	ck_assert_uint_eq(ts.total, 4);
	ck_assert_uint_eq(ts.count, 3);
	ck_assert_str_eq(ts.tasks[0].name, "resize");
	ck_assert_uint_eq(ts.tasks[0].nfields, 2);
	ck_assert_str_eq(ts.tasks[0].fields[1].name, "handling_p99_ms");
	ck_assert_uint_eq(ts.tasks[0].fields[1].value, 70);
	ck_assert_uint_eq(ts.tasks[1].nlen, 4);
	ck_assert_str_eq(ts.tasks[1].name, "a\"<\\");
	ck_assert_uint_eq(ts.tasks[2].nlen, PS_TASK_NAME_MAX);
	ps_task_stats_free(&ts);
	/* Cut short, a count past total, an empty name: refused. */
	f.len--;
	ck_assert_int_eq(ps_get_task_stats_reply(&f, &ts), -PS_E_BAD_LENGTH);
	f.len++;
	b.data[start + PS_HDR_LEN + 7] = 5;
	ck_assert_int_eq(ps_get_task_stats_reply(&f, &ts), -PS_E_BAD_LENGTH);
	b.data[start + PS_HDR_LEN + 7] = 3;
	b.data[start + PS_HDR_LEN + 8] = 0;
	ck_assert_int_eq(ps_get_task_stats_reply(&f, &ts), -PS_E_BAD_LENGTH);
	ck_assert_ptr_null(ts.tasks);
	ps_buf_free(&b);
}
END_TEST

START_TEST(schedule_frames_round_trip)
{
	static const uint8_t	 list[] = { 0, 0, 0, 14, PS_SCHEDULE, 0, 0,
				    0, 6, 0, 7, 'n', 'i', 'g', 'h', 't', 'l',
				    'y', 0, 0, 0, 0 };
	static const uint8_t	 attrs[] = { PS_ATTR_PRIORITY, 2, 0, 9 };
	const char		*set[] = { "cron=0 6 * * *", "tz=UTC" };
	const char		*fields[] = { "every=30s", "fired=3" };
	struct ps_buf		 b = { 0 };
	struct ps_frame		 f;
	struct ps_schedule	 s;
	struct ps_schedule_reply r;
	struct ps_schedule_entry e;
	const uint8_t		*kp;
	const char		*kv;
	size_t			 start, kl;
	uint16_t		 kn;

	/* The example of docs/protocol.md, byte for byte. */
	ck_assert_int_eq(ps_put_schedule(&b, PS_SCHED_LIST, 0, "nightly", 0),
	    0);
	ck_assert_uint_eq(b.len, sizeof list);
	ck_assert_mem_eq(b.data, list, sizeof list);
	f = one(&b);
	ck_assert_int_eq(ps_get_schedule(&f, &s), 0);
	ck_assert_uint_eq(s.op, PS_SCHED_LIST);
	ck_assert_uint_eq(s.name_len, 7);
	/* A flag off ADD, a start off a LIST of all, no name: refused. */
	b.data[PS_HDR_LEN + 1] = PS_SCHED_REPLACE;
	ck_assert_int_eq(ps_get_schedule(&f, &s), -PS_E_BAD_VALUE);
	b.data[PS_HDR_LEN + 1] = 0;
	b.data[b.len - 1] = 1;
	ck_assert_int_eq(ps_get_schedule(&f, &s), -PS_E_BAD_VALUE);
	f.len--;
	ck_assert_int_eq(ps_get_schedule(&f, &s), -PS_E_BAD_LENGTH);
	b.len = 0;
	ck_assert_int_eq(ps_put_schedule(&b, PS_SCHED_REMOVE, 0, "", 0), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_schedule(&f, &s), -PS_E_BAD_VALUE);
	ck_assert_int_eq(ps_put_schedule(&b, PS_SCHED_ADD, 0, "x", 0),
	    -PS_E_BAD_VALUE);

	/* An ADD, every field back. */
	b.len = 0;
	ck_assert_int_eq(ps_put_schedule_add(&b, PS_SCHED_REPLACE, "nightly",
	    "reports", set, 2, attrs, sizeof attrs, "hi", 2), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_schedule(&f, &s), 0);
	ck_assert_uint_eq(s.op, PS_SCHED_ADD);
	ck_assert_uint_eq(s.flags, PS_SCHED_REPLACE);
	ck_assert_uint_eq(s.queue.len, 7);
	ck_assert_mem_eq(s.queue.name, "reports", 7);
	ck_assert_uint_eq(s.nsettings, 2);
	kp = s.settings;
	kn = s.nsettings;
	ck_assert_int_eq(ps_kv_next(&kp, &kn, &kv, &kl), 1);
	ck_assert_uint_eq(kl, 14);
	ck_assert_mem_eq(kv, "cron=0 6 * * *", 14);
	ck_assert_int_eq(ps_kv_next(&kp, &kn, &kv, &kl), 1);
	ck_assert_int_eq(ps_kv_next(&kp, &kn, &kv, &kl), 0);
	ck_assert_uint_eq(s.alen, sizeof attrs);
	ck_assert_mem_eq(s.attrs, attrs, sizeof attrs);
	ck_assert_uint_eq(s.len, 2);
	ck_assert_mem_eq(s.data, "hi", 2);
	/* A payload longer than the body, a byte left over: refused. */
	b.data[b.len - 9] = 3;
	ck_assert_int_eq(ps_get_schedule(&f, &s), -PS_E_BAD_LENGTH);
	b.data[b.len - 9] = 1;
	ck_assert_int_eq(ps_get_schedule(&f, &s), -PS_E_BAD_LENGTH);

	/* A reply of two entries. */
	b.len = 0;
	ck_assert_int_eq(ps_put_schedule_reply_begin(&b, &start), 0);
	ck_assert_int_eq(ps_put_schedule_entry(&b, "a", 1, "q", 1, fields, 2,
	    attrs, sizeof attrs, "xyz", 3), 0);
	ck_assert_int_eq(ps_put_schedule_entry(&b, "b", 1, "q", 1, NULL, 0,
	    NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(ps_put_schedule_entry(&b, "", 0, "q", 1, NULL, 0,
	    NULL, 0, NULL, 0), -PS_E_BAD_VALUE);
	ps_put_schedule_reply_end(&b, start, 5, 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_schedule_reply(&f, &r), 0);
	ck_assert_uint_eq(r.total, 5);
	ck_assert_int_eq(ps_schedule_reply_next(&r, &e), 1);
	ck_assert_mem_eq(e.name, "a", 1);
	ck_assert_ptr_nonnull(kv = ps_kv_find(&e, "fired", &kl));
	ck_assert_uint_eq(kl, 1);
	ck_assert_int_eq(kv[0], '3');
	ck_assert_ptr_null(ps_kv_find(&e, "fire", &kl));
	ck_assert_uint_eq(e.len, 3);
	ck_assert_mem_eq(e.data, "xyz", 3);
	ck_assert_int_eq(ps_schedule_reply_next(&r, &e), 1);
	ck_assert_uint_eq(e.nfields, 0);
	ck_assert_int_eq(ps_schedule_reply_next(&r, &e), 0);
	/* A count past total, or cut short: refused. */
	f.len--;
	ck_assert_int_eq(ps_get_schedule_reply(&f, &r), 0);
	ck_assert_int_eq(ps_schedule_reply_next(&r, &e), 1);
	ck_assert_int_eq(ps_schedule_reply_next(&r, &e), -PS_E_BAD_LENGTH);
	b.data[start + PS_HDR_LEN + 3] = 1;
	ck_assert_int_eq(ps_get_schedule_reply(&f, &r), -PS_E_BAD_LENGTH);
	ck_assert_str_eq(ps_type_name(PS_SCHEDULE_REPLY), "SCHEDULE_REPLY");
	ck_assert_str_eq(ps_strerror(PS_E_NO_SCHEDULE), "no such schedule");
	/* A field's number: digits alone, within a u64. */
	{
		uint64_t	 v;

		ck_assert_int_eq(ps_kv_u64("42", 2, &v), 0);
		ck_assert_uint_eq(v, 42);
		ck_assert_int_eq(ps_kv_u64("18446744073709551615", 20, &v),
		    0);
		ck_assert_uint_eq(v, UINT64_MAX);
		ck_assert_int_eq(ps_kv_u64("18446744073709551616", 20, &v),
		    -1);
		ck_assert_uint_eq(v, 0);
		ck_assert_int_eq(ps_kv_u64("4x", 2, &v), -1);
		ck_assert_int_eq(ps_kv_u64("", 0, &v), -1);
		ck_assert_int_eq(ps_kv_u64("-1", 2, &v), -1);
	}
	ps_buf_free(&b);
}
END_TEST

START_TEST(queue_frames_round_trip)
{
	static const char * const kv[] = { "max-queue=5", "overflow=block" };
	struct ps_buf		 b = { 0 };
	struct ps_frame		 f;
	struct ps_queue_admin	 a;
	struct ps_queues	 qs;
	const char		*s;
	size_t			 start, len;
	uint32_t		 from;
	uint64_t		 n;

	ck_assert_int_eq(ps_put_queues(&b, 3), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_queues(&f, &from), 0);
	ck_assert_uint_eq(from, 3);

	b.len = 0;
	ck_assert_int_eq(ps_put_queues_begin(&b, &start), 0);
	ck_assert_int_eq(ps_put_queue_entry(&b, "a", 1, 2), 0);
	ck_assert_int_eq(ps_put_stat(&b, "queued", 5), 0);
	ck_assert_int_eq(ps_put_stat(&b, "dead", 1), 0);
	ck_assert_int_eq(ps_put_queue_entry(&b, "b.c", 3, 0), 0);
	ps_put_queues_end(&b, start, 9, 2);
	f = one(&b);
	ck_assert_int_eq(ps_get_queues_reply(&f, &qs), 0);
	ck_assert_uint_eq(qs.total, 9);
	ck_assert_uint_eq(qs.count, 2);
	ck_assert_str_eq(qs.queues[0].name, "a");
	ck_assert_uint_eq(qs.queues[0].fields[1].value, 1);
	ck_assert_str_eq(qs.queues[1].name, "b.c");
	ps_queues_free(&qs);
	f.len--;
	ck_assert_int_eq(ps_get_queues_reply(&f, &qs), -PS_E_BAD_LENGTH);

	b.len = 0;
	ck_assert_int_eq(ps_put_queue_admin(&b, PS_QUEUE_SET, 0, "jobs", kv, 2),
	    0);
	f = one(&b);
	ck_assert_int_eq(ps_get_queue_admin(&f, &a), 0);
	ck_assert_uint_eq(a.op, PS_QUEUE_SET);
	ck_assert_mem_eq(a.queue.name, "jobs", 4);
	ck_assert_int_eq(ps_queue_admin_next(&a, &s, &len), 1);
	ck_assert_uint_eq(len, 11);
	ck_assert_mem_eq(s, "max-queue=5", 11);
	ck_assert_int_eq(ps_queue_admin_next(&a, &s, &len), 1);
	ck_assert_int_eq(ps_queue_admin_next(&a, &s, &len), 0);
	/* A setting's length past the end; settings on a purge; an op 9. */
	f.len -= 1;
	ck_assert_int_eq(ps_get_queue_admin(&f, &a), -PS_E_BAD_LENGTH);
	b.len = 0;
	ck_assert_int_eq(ps_put_queue_admin(&b, PS_QUEUE_PURGE, 0, "jobs", kv,
	    1), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_queue_admin(&f, &a), -PS_E_BAD_VALUE);
	b.data[PS_HDR_LEN] = 9;
	ck_assert_int_eq(ps_get_queue_admin(&f, &a), -PS_E_BAD_VALUE);

	b.len = 0;
	ck_assert_int_eq(ps_put_queue_done(&b, 12), 0);
	f = one(&b);
	ck_assert_int_eq(ps_get_queue_done(&f, &n), 0);
	ck_assert_uint_eq(n, 12);
	ps_buf_free(&b);
}
END_TEST

START_TEST(queue_names)
{
	ck_assert(ps_queue_name_ok("default", 7));
	ck_assert(ps_queue_name_ok("a.b_c:d-9", 9));
	ck_assert(!ps_queue_name_ok("", 0));
	ck_assert(!ps_queue_name_ok("a b", 3));
	ck_assert(!ps_queue_name_ok("a/b", 3));
	ck_assert(!ps_queue_name_ok("\xc3\xa9", 2));
	ck_assert(ps_queue_name_ok("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxx", 64));
	ck_assert(!ps_queue_name_ok("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxx", 65));
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc = tcase_create("frames");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */

	tcase_add_test(tc, hello_round_trip);
	tcase_add_test(tc, enqueue_schedule_attributes);
	tcase_add_test(tc, hello_client_no_name);
	tcase_add_test(tc, hello_bytes_match_the_doc);
	tcase_add_test(tc, stats_reply_bytes_match_the_doc);
	tcase_add_test(tc, welcome_round_trip);
	tcase_add_test(tc, version_1_layouts);
	tcase_add_test(tc, ids_round_trip);
	tcase_add_test(tc, ids_bad_lengths);
	tcase_add_test(tc, dead_list_round_trip);
	tcase_add_test(tc, enqueue_round_trip);
	tcase_add_test(tc, small_frames_round_trip);
	tcase_add_test(tc, event_prefix_matches_put_event);
	tcase_add_test(tc, version_4_event_carries_its_key);
	tcase_add_test(tc, version_5_headers_as_the_page_shows_them);
	tcase_add_test(tc, nack_error_round_trip);
	tcase_add_test(tc, stats_reply_round_trip);
	tcase_add_test(tc, every_two_way_split_gives_the_same_frames);
	tcase_add_test(tc, random_splits_give_the_same_frames);
	tcase_add_test(tc, oversized_frame_is_refused_from_its_header);
	tcase_add_test(tc, unknown_types_and_bad_headers);
	tcase_add_test(tc, truncated_and_inconsistent_bodies);
	tcase_add_test(tc, every_error_code_has_a_message);
	tcase_add_test(tc, version_3_names_queues);
	tcase_add_test(tc, hello_names_a_partition);
	tcase_add_test(tc, fnv1a_known_values);
	tcase_add_test(tc, nack_later_round_trip);
	tcase_add_test(tc, job_cancel_frames);
	tcase_add_test(tc, result_and_wait_frames);
	tcase_add_test(tc, queue_frames_round_trip);
	tcase_add_test(tc, task_stats_frames_round_trip);
	tcase_add_test(tc, schedule_frames_round_trip);
	tcase_add_test(tc, queue_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(proto_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
