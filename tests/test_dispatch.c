/*
 * test_dispatch.c: the dispatcher driven directly, no sockets: stored
 * demand, buffering, the DemandDispatcher spreading rule, and the
 * invariant that a consumer never gets more than it asked for.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "frame.h"

#define MAXC	16
#define MAXE	4096

/* Everything emitted, in order: which consumer got which payload. */
struct record {
	int		 n;
	int		 who[MAXE];
	uint64_t	 id[MAXE];
	uint32_t	 attempt[MAXE];
	char		 data[MAXE][16];
};

struct world {
	struct dispatch		 d;
	struct dpolicy		 p;		/* d's, as its queue's is */
	struct dconsumer	 c[MAXC];
	int			 name[MAXC];
	int			 live[MAXC];
	struct record		 r;
};

static void
record_emit(void *arg, struct dconsumer *dc, const struct qevent *ev)
{
	struct record	*r = arg;

	ck_assert_int_lt(r->n, MAXE);
	r->who[r->n] = *(int *)dc->owner;
	r->id[r->n] = ev->id;
	r->attempt[r->n] = ev->attempts;
	ck_assert_uint_lt(ev->len, sizeof r->data[0]);
	memcpy(r->data[r->n], ev->data, ev->len);
	r->data[r->n][ev->len] = '\0';
	r->n++;
}

static struct world *
world_new(void)
{
	struct world	*w;
	int		 i;

	ck_assert_ptr_nonnull(w = calloc(1, sizeof *w));
	ck_assert_int_eq(dispatch_init(&w->d, NULL, record_emit, &w->r), 0);
	w->p = dpolicy_default;
	w->d.policy = &w->p;
	for (i = 0; i < MAXC; i++)
		w->name[i] = i;
	return w;
}

/* As the daemon does at exit: every consumer leaves, then the rest goes. */
static void
world_free(struct world *w)
{
	int	 i;

	for (i = 0; i < MAXC; i++) {
		if (w->live[i])
			dispatch_detach(&w->d, &w->c[i]);
	}
	dispatch_free(&w->d);
	free(w);
}

static void
attach(struct world *w, int i, uint32_t max)
{
	dispatch_attach(&w->d, &w->c[i], max, 0, 0, &w->name[i]);
	w->live[i] = 1;
}

static int
detach(struct world *w, int i)
{
	w->live[i] = 0;
	return dispatch_detach(&w->d, &w->c[i]);
}

static int
answer(struct world *w, int i, uint64_t id, int what)
{
	return dispatch_answer(&w->d, &w->c[i], id, what);
}

/* A consumer that acks: at-least-once. */
static void
attach_acks(struct world *w, int i, uint32_t max)
{
	dispatch_attach(&w->d, &w->c[i], max, 0, 1, &w->name[i]);
	w->live[i] = 1;
}

static void
demand(struct world *w, int i, uint32_t n)
{
	ck_assert_int_eq(dispatch_demand(&w->d, &w->c[i], n), 0);
	dispatch_run(&w->d);
}

/* An ENQUEUE of the given payloads, as the daemon sees it. */
static void
batch(struct ps_buf *b, struct ps_enqueue_iter *it, uint32_t *n,
    const char **ev, int count)
{
	struct ps_frame	 f;
	struct ps_queue	 q;
	size_t		 start;
	int		 i;

	b->len = 0;
	ck_assert_int_eq(ps_put_enqueue_begin(b, 2, NULL, 0, &start), 0);
	for (i = 0; i < count; i++)
		ck_assert_int_eq(ps_put_enqueue_add(b, ev[i],
		    (uint32_t)strlen(ev[i])), 0);
	ps_put_enqueue_end(b, start, (uint32_t)count);
	ck_assert_int_gt(ps_frame_parse(b->data, b->len, 1 << 20, &f), 0);
	ck_assert_int_eq(ps_get_enqueue(&f, 2, &q, it, n), 0);
}

/*
 * Between two parts of a batch, as conn.c does it: the iterator marked,
 * the frame moved in memory (the decoder compacts), the iterator lost,
 * then given back from the mark alone.
 */
static void
park(struct ps_buf *b, struct ps_enqueue_iter *it)
{
	struct ps_enqueue_mark	 m;
	struct ps_frame		 f;
	struct ps_buf		 moved = { 0 };

	ck_assert_int_gt(ps_frame_parse(b->data, b->len, 1 << 20, &f), 0);
	ps_enqueue_mark(&m, it, &f);
	ck_assert_int_eq(ps_buf_add(&moved, b->data, b->len), 0);
	memset(b->data, 0xa5, b->len);
	ps_buf_free(b);
	*b = moved;
	memset(it, 0xa5, sizeof *it);
	ck_assert_int_gt(ps_frame_parse(b->data, b->len, 1 << 20, &f), 0);
	ps_enqueue_resume(it, &m, &f);
}

/* One ENQUEUE of the given payloads, all taken, as conn.c does it. */
static void
enqueue(struct world *w, const char **ev, int n)
{
	struct ps_buf		 b = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r = { 0 };
	uint32_t		 count;

	batch(&b, &it, &count, ev, n);
	ck_assert_int_eq(dispatch_enqueue(&w->d, &it, &r), DISPATCH_TAKEN);
	ck_assert_uint_eq(r.accepted, (uint32_t)n);
	ps_buf_free(&b);
}

#define ENQ(w, ...) do {						\
	const char *evs_[] = { __VA_ARGS__ };				\
	enqueue(w, evs_, (int)(sizeof evs_ / sizeof evs_[0]));		\
} while (0)

static void
expect(struct world *w, int at, int who, const char *data)
{
	ck_assert_int_gt(w->r.n, at);
	ck_assert_int_eq(w->r.who[at], who);
	ck_assert_str_eq(w->r.data[at], data);
}

START_TEST(stored_demand_takes_the_next_enqueue_at_once)
{
	struct world	*w = world_new();

	attach(w, 0, 5);
	demand(w, 0, 2);
	ck_assert_int_eq(w->r.n, 0);
	ck_assert_uint_eq(w->c[0].demand, 2);
	ENQ(w, "x");
	ck_assert_int_eq(w->r.n, 1);
	expect(w, 0, 0, "x");
	ck_assert_uint_eq(w->c[0].demand, 1);
	ck_assert_uint_eq(w->d.queue.count, 0);
	world_free(w);
}
END_TEST

START_TEST(events_wait_for_demand_and_go_out_in_order)
{
	struct world	*w = world_new();

	ENQ(w, "a", "b", "c", "d", "e");
	ck_assert_uint_eq(w->d.queue.count, 5);
	attach(w, 0, 10);
	demand(w, 0, 3);
	ck_assert_int_eq(w->r.n, 3);
	expect(w, 0, 0, "a");
	expect(w, 1, 0, "b");
	expect(w, 2, 0, "c");
	ck_assert_uint_eq(w->d.queue.count, 2);
	ck_assert_uint_eq(w->c[0].demand, 0);
	ck_assert_uint_eq(w->r.id[0] + 1, w->r.id[1]);
	world_free(w);
}
END_TEST

START_TEST(batch_larger_than_all_demand_leaves_the_rest_in_order)
{
	struct world	*w = world_new();

	attach(w, 0, 10);
	attach(w, 1, 10);
	demand(w, 0, 2);
	demand(w, 1, 1);
	ENQ(w, "1", "2", "3", "4", "5", "6");
	ck_assert_int_eq(w->r.n, 3);
	expect(w, 0, 0, "1");
	expect(w, 1, 0, "2");
	expect(w, 2, 1, "3");
	ck_assert_uint_eq(w->d.queue.count, 3);
	/* New demand later takes the rest from where it stopped. */
	demand(w, 1, 5);
	ck_assert_int_eq(w->r.n, 6);
	expect(w, 3, 1, "4");
	expect(w, 4, 1, "5");
	expect(w, 5, 1, "6");
	ck_assert_uint_eq(w->c[1].demand, 2);
	world_free(w);
}
END_TEST

/* The issue's own example, which is GenStage's DemandDispatcher. */
START_TEST(demand_dispatcher_example)
{
	struct world	*w = world_new();

	attach(w, 0, 3);	/* A */
	attach(w, 1, 3);	/* B */
	demand(w, 0, 3);
	demand(w, 1, 3);
	ENQ(w, "a", "b");
	ck_assert_int_eq(w->r.n, 2);
	expect(w, 0, 0, "a");
	expect(w, 1, 0, "b");
	ENQ(w, "c", "d");
	ck_assert_int_eq(w->r.n, 4);
	expect(w, 2, 1, "c");
	expect(w, 3, 1, "d");
	ENQ(w, "e", "f", "g");
	ck_assert_int_eq(w->r.n, 6);
	expect(w, 4, 0, "e");
	expect(w, 5, 1, "f");
	ck_assert_uint_eq(w->d.queue.count, 1);
	ck_assert_uint_eq(w->c[0].demand, 0);
	ck_assert_uint_eq(w->c[1].demand, 0);
	world_free(w);
}
END_TEST

START_TEST(largest_demand_goes_first)
{
	struct world	*w = world_new();

	attach(w, 0, 10);
	attach(w, 1, 10);
	attach(w, 2, 10);
	demand(w, 0, 1);
	demand(w, 1, 5);
	demand(w, 2, 3);
	ENQ(w, "1", "2", "3", "4", "5", "6", "7");
	/* B (5) takes 5, then C (3) has the most: 2 left for it. */
	ck_assert_int_eq(w->r.n, 7);
	expect(w, 0, 1, "1");
	expect(w, 4, 1, "5");
	expect(w, 5, 2, "6");
	expect(w, 6, 2, "7");
	ck_assert_uint_eq(w->c[0].demand, 1);
	ck_assert_uint_eq(w->c[2].demand, 1);
	/* Equal at 1 now: A got there first (at its DEMAND), C later. */
	ENQ(w, "8");
	expect(w, 7, 0, "8");
	world_free(w);
}
END_TEST

START_TEST(max_demand_one_consumers_take_turns)
{
	struct world	*w = world_new();
	int		 i;

	for (i = 0; i < 3; i++) {
		attach(w, i, 1);
		demand(w, i, 1);
	}
	ENQ(w, "m1", "m2", "m3", "m4", "m5");
	ck_assert_int_eq(w->r.n, 3);
	expect(w, 0, 0, "m1");
	expect(w, 1, 1, "m2");
	expect(w, 2, 2, "m3");
	/* Whoever finishes first and asks again gets the next one. */
	demand(w, 2, 1);
	expect(w, 3, 2, "m4");
	demand(w, 0, 1);
	expect(w, 4, 0, "m5");
	ck_assert_uint_eq(w->d.queue.count, 0);
	world_free(w);
}
END_TEST

START_TEST(demand_over_max_is_refused_and_changes_nothing)
{
	struct world	*w = world_new();

	attach(w, 0, 4);
	ck_assert_int_eq(dispatch_demand(&w->d, &w->c[0], 3), 0);
	ck_assert_int_eq(dispatch_demand(&w->d, &w->c[0], 2), -1);
	ck_assert_uint_eq(w->c[0].demand, 3);
	ck_assert_int_eq(dispatch_demand(&w->d, &w->c[0], 1), 0);
	ck_assert_int_eq(dispatch_demand(&w->d, &w->c[0], 0xffffffffu), -1);
	ck_assert_uint_eq(w->c[0].demand, 4);
	world_free(w);
}
END_TEST

START_TEST(a_departed_consumer_strands_nothing)
{
	struct world	*w = world_new();

	attach(w, 0, 5);
	attach(w, 1, 5);
	demand(w, 0, 5);
	detach(w, 0);
	ck_assert_uint_eq(w->d.nconsumers, 1);
	ENQ(w, "p", "q");
	ck_assert_int_eq(w->r.n, 0);
	ck_assert_uint_eq(w->d.queue.count, 2);
	demand(w, 1, 1);
	ck_assert_int_eq(w->r.n, 1);
	expect(w, 0, 1, "p");
	demand(w, 1, 1);
	expect(w, 1, 1, "q");
	world_free(w);
}
END_TEST

START_TEST(in_flight_follows_the_demand_window)
{
	struct world	*w = world_new();
	int		 i;

	attach(w, 0, 100);
	demand(w, 0, 100);
	ck_assert_uint_eq(dispatch_in_flight(&w->c[0]), 0);
	for (i = 0; i < 100; i++)
		ENQ(w, "e");
	ck_assert_uint_eq(dispatch_in_flight(&w->c[0]), 100);
	/* Half done: it asks for 50 more; it still holds 50. */
	demand(w, 0, 50);
	ck_assert_uint_eq(dispatch_in_flight(&w->c[0]), 50);
	world_free(w);
}
END_TEST

/*
 * Random operations against a model: every event goes out exactly once,
 * in FIFO order, only to a consumer with credit, and events wait only
 * when no consumer has any.
 */
START_TEST(random_operations_keep_every_invariant)
{
	struct world	*w = world_new();
	uint64_t	 asked[MAXC] = { 0 }, got[MAXC] = { 0 };
	int		 live[MAXC] = { 0 };
	int		 round, i, k, n, seen = 0, pushed = 0;

	srandom(7);
	for (round = 0; round < 3000 && pushed < MAXE - 8; round++) {
		i = (int)(random() % MAXC);
		switch (random() % 4) {
		case 0:
			if (!live[i]) {
				attach(w, i, 8);
				live[i] = 1;
				asked[i] = got[i] = 0;
			}
			break;
		case 1:
			if (live[i] && w->c[i].demand < 8) {
				n = 1 + (int)(random() % (8 - w->c[i].demand));
				demand(w, i, (uint32_t)n);
				asked[i] += (uint64_t)n;
			}
			break;
		case 2:
			n = 1 + (int)(random() % 5);
			for (k = 0; k < n; k++) {
				dispatch_push(&w->d, "z", 1, 0);
				pushed++;
			}
			dispatch_run(&w->d);
			break;
		case 3:
			if (live[i]) {
				detach(w, i);
				live[i] = 0;
			}
			break;
		}
		for (; seen < w->r.n; seen++) {
			k = w->r.who[seen];
			ck_assert(live[k]);
			got[k]++;
			ck_assert_uint_le(got[k], asked[k]);
			if (seen > 0)
				ck_assert_uint_eq(w->r.id[seen],
				    w->r.id[seen - 1] + 1);
		}
		if (w->d.queue.count != 0) {
			for (k = 0; k < MAXC; k++)
				ck_assert(!live[k] || w->c[k].demand == 0);
		}
	}
	ck_assert_int_eq(w->r.n + (int)w->d.queue.count, pushed);
	world_free(w);
}
END_TEST

START_TEST(acked_events_leave_flight_and_unknown_ids_are_refused)
{
	struct world	*w = world_new();

	attach_acks(w, 0, 3);
	attach_acks(w, 1, 3);
	demand(w, 0, 3);
	ENQ(w, "a", "b");
	ck_assert_uint_eq(w->d.in_flight, 2);
	ck_assert_uint_eq(dispatch_in_flight(&w->c[0]), 2);
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	ck_assert_uint_eq(dispatch_in_flight(&w->c[0]), 1);
	/* Twice, by the wrong consumer, or never sent: all unknown. */
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_UNKNOWN);
	ck_assert_int_eq(answer(w, 1, 2, PS_ACK), DISPATCH_UNKNOWN);
	ck_assert_int_eq(answer(w, 0, 99, PS_NACK),
	    DISPATCH_UNKNOWN);
	ck_assert_int_eq(answer(w, 0, 0, PS_TOUCH), DISPATCH_UNKNOWN);
	ck_assert_int_eq(answer(w, 0, 2, PS_ACK), DISPATCH_DONE);
	ck_assert_uint_eq(w->d.in_flight, 0);
	ck_assert_uint_eq(w->d.counts.acked_total, 2);
	world_free(w);
}
END_TEST

/* A departed consumer's events go first, in id order, to the next one. */
START_TEST(a_departed_consumers_events_come_back_first_in_order)
{
	struct world	*w = world_new();
	int		 i;

	attach_acks(w, 0, 100);
	demand(w, 0, 100);
	for (i = 0; i < 100; i++)
		ENQ(w, "x");
	ENQ(w, "new1", "new2");
	ck_assert_uint_eq(w->d.in_flight, 100);
	ck_assert_uint_eq(w->d.queue.count, 2);
	/* Ack a few from the middle; the rest come back. */
	ck_assert_int_eq(answer(w, 0, 50, PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(answer(w, 0, 7, PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(detach(w, 0), 98);
	ck_assert_uint_eq(w->d.in_flight, 0);
	ck_assert_uint_eq(w->d.queue.count, 100);
	ck_assert_uint_eq(w->d.counts.redelivered_total, 98);
	attach_acks(w, 1, 200);
	demand(w, 1, 200);
	ck_assert_int_eq(w->r.n, 200);
	for (i = 100; i < 198; i++) {
		ck_assert_int_eq(w->r.who[i], 1);
		ck_assert_uint_eq(w->r.attempt[i], 2);
		if (i > 100)
			ck_assert_uint_gt(w->r.id[i], w->r.id[i - 1]);
		ck_assert_uint_ne(w->r.id[i], 50);
		ck_assert_uint_ne(w->r.id[i], 7);
	}
	expect(w, 198, 1, "new1");
	expect(w, 199, 1, "new2");
	ck_assert_uint_eq(w->r.attempt[198], 1);
	world_free(w);
}
END_TEST

START_TEST(nack_redelivers_then_buries_then_retry_and_drop)
{
	struct world	*w = world_new();
	struct qevent	*ev;
	int		 i;

	w->p.max_attempts = 3;
	attach_acks(w, 0, 1);
	ENQ(w, "poison", "fine");
	for (i = 0; i < 3; i++) {
		demand(w, 0, 1);
		expect(w, i, 0, "poison");
		ck_assert_uint_eq(w->r.attempt[i], (uint32_t)i + 1);
		ck_assert_int_eq(answer(w, 0, 1, PS_NACK),
		    DISPATCH_DONE);
	}
	ck_assert_uint_eq(w->d.ndead, 1);
	ck_assert_uint_eq(w->d.counts.nacked_total, 3);
	demand(w, 0, 1);
	expect(w, 3, 0, "fine");
	ck_assert_int_eq(answer(w, 0, 2, PS_ACK), DISPATCH_DONE);

	ck_assert_ptr_null(dispatch_dead_find(&w->d, 2));
	ck_assert_ptr_nonnull(ev = dispatch_dead_find(&w->d, 1));
	ck_assert_uint_eq(ev->reason, PS_DEAD_NACK);
	ck_assert_uint_eq(ev->attempts, 3);
	ck_assert_int_eq(dispatch_dead_retry(&w->d, ev), 0);
	ck_assert_uint_eq(w->d.ndead, 0);
	ck_assert_ptr_null(dispatch_dead_find(&w->d, 1));
	demand(w, 0, 1);
	expect(w, 4, 0, "poison");
	ck_assert_uint_eq(w->r.attempt[4], 1);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(answer(w, 0, 1, PS_NACK),
		    DISPATCH_DONE);
		if (i < 2)
			demand(w, 0, 1);
	}
	ck_assert_ptr_nonnull(ev = dispatch_dead_find(&w->d, 1));
	dispatch_dead_drop(&w->d, ev);
	ck_assert_uint_eq(w->d.ndead, 0);
	ck_assert_uint_eq(w->d.counts.dead_total, 2);
	ck_assert_uint_eq(w->d.queue.count, 0);
	world_free(w);
}
END_TEST

/* What a cluster (hand_back) hears of its events' ends (d->arg is the
 * record of what was emitted, so this one is on its own). */
static struct told {
	int		 n;
	int		 how[8];
	uint32_t	 wait[8];
	uint32_t	 attempts[8];
	uint8_t		 reason[8];
	uint64_t	 origin[8];
} told;

static void
told_done(void *arg, const struct qevent *ev, int how, uint32_t wait)
{
	struct told	*t = &told;

	(void)arg;
	ck_assert_int_lt(t->n, 8);
	t->how[t->n] = how;
	t->wait[t->n] = wait;
	t->attempts[t->n] = ev->attempts;
	t->reason[t->n] = ev->reason;
	t->origin[t->n] = ev->origin;
	t->n++;
}

/*
 * A cluster's event is given back to it, not kept: a NACK before the last
 * attempt is PS_NACK_LATER with its delay, the last one's PS_NACK (its
 * dead letter is the cluster's to keep, not listed here), an ACK PS_ACK.
 */
START_TEST(hand_back_gives_events_back_and_keeps_no_dead_letter)
{
	struct world	*w = world_new();
	struct told	*t = &told;

	memset(t, 0, sizeof *t);
	w->p.max_attempts = 3;
	w->d.done = told_done;
	w->d.hand_back = 1;
	attach_acks(w, 0, 4);
	/* Tried once before, on another host: this is its second attempt-> */
	ck_assert_uint_ne(dispatch_push_tried(&w->d, NULL, 0, "job", 3, 7, 1), 0);
	demand(w, 0, 1);
	expect(w, 0, 0, "job");
	ck_assert_uint_eq(w->r.attempt[0], 2);
	ck_assert_int_eq(dispatch_nack_later(&w->d, &w->c[0], w->r.id[0],
	    700), DISPATCH_DONE);
	ck_assert_int_eq(t->n, 1);
	ck_assert_int_eq(t->how[0], PS_NACK_LATER);
	ck_assert_uint_eq(t->wait[0], 700);
	ck_assert_uint_eq(t->origin[0], 7);
	ck_assert_uint_eq(w->d.queue.count, 0);	/* not held here */
	ck_assert_uint_eq(w->d.delayed, 0);

	/* Its third and last attempt fails: dead, and not listed here. */
	ck_assert_uint_ne(dispatch_push_tried(&w->d, NULL, 0, "job", 3, 8, 2), 0);
	demand(w, 0, 1);
	expect(w, 1, 0, "job");
	ck_assert_uint_eq(w->r.attempt[1], 3);
	ck_assert_int_eq(answer(w, 0, w->r.id[1], PS_NACK), DISPATCH_DONE);
	ck_assert_int_eq(t->n, 2);
	ck_assert_int_eq(t->how[1], PS_NACK);
	ck_assert_uint_eq(t->attempts[1], 3);
	ck_assert_uint_eq(t->reason[1], PS_DEAD_NACK);
	ck_assert_uint_eq(t->origin[1], 8);
	ck_assert_uint_eq(w->d.ndead, 0);
	ck_assert_uint_eq(w->d.counts.dead_total, 1);
	ck_assert_uint_eq(w->d.queue.count, 0);

	/* An ack, and a consumer gone with one in flight: back at once. */
	ck_assert_uint_ne(dispatch_push_tried(&w->d, NULL, 0, "ok", 2, 9, 0), 0);
	ck_assert_uint_ne(dispatch_push_tried(&w->d, NULL, 0, "left", 4, 10, 0), 0);
	demand(w, 0, 2);
	ck_assert_int_eq(answer(w, 0, w->r.id[2], PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(t->how[2], PS_ACK);
	ck_assert_uint_eq(t->origin[2], 9);
	detach(w, 0);
	ck_assert_int_eq(t->n, 4);
	ck_assert_int_eq(t->how[3], PS_NACK_LATER);
	ck_assert_uint_eq(t->wait[3], 0);
	ck_assert_uint_eq(t->origin[3], 10);
	ck_assert_uint_eq(w->d.queue.count, 0);
	world_free(w);
}
END_TEST

START_TEST(ack_timeout_takes_back_touch_keeps_late_ack_is_counted)
{
	struct world	*w = world_new();
	uint64_t	 when;

	w->p.ack_timeout = 1000;
	w->d.now = 5000;
	attach_acks(w, 0, 2);
	attach_acks(w, 1, 2);
	demand(w, 0, 2);
	ENQ(w, "slow", "kept");
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
	ck_assert_uint_eq(when, 6000);
	w->d.now = 5900;
	ck_assert_int_eq(answer(w, 0, 2, PS_TOUCH), DISPATCH_DONE);
	w->d.now = 6000;
	ck_assert_int_eq(dispatch_expire(&w->d), 1);
	ck_assert_uint_eq(w->d.counts.timed_out_total, 1);
	ck_assert_uint_eq(dispatch_in_flight(&w->c[0]), 1);
	ck_assert_uint_eq(w->d.queue.count, 1);
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
	ck_assert_uint_eq(when, 6900);
	demand(w, 1, 1);
	expect(w, 2, 1, "slow");
	ck_assert_uint_eq(w->r.attempt[2], 2);
	/* The first consumer finishes after all: its ack is late. */
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_LATE);
	ck_assert_uint_eq(w->d.counts.late_acks_total, 1);
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_UNKNOWN);
	ck_assert_int_eq(answer(w, 1, 1, PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(answer(w, 0, 2, PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 0);
	world_free(w);
}
END_TEST

/*
 * Failures: each NACK's error kept with its event, the last three, with
 * when, which attempt and who; a timeout's in the daemon's words; into
 * its dead letter; their memory counted, and given back when it goes.
 */
START_TEST(failures_are_kept_with_the_event)
{
	struct world	*w = world_new();
	struct qstore	*st = w->d.queue.log->store;
	struct qevent	*ev;
	struct qfailure	*f;
	uint64_t	 base;

	w->p.max_attempts = 5;
	w->p.ack_timeout = 1000;
	w->d.now = 100;
	attach_acks(w, 0, 1);
	w->c[0].name = "w0";
	w->c[0].nlen = 2;
	ENQ(w, "job");
	base = st->bytes;
	demand(w, 0, 1);				/* attempt 1 */
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], 1, 0, "e1", 2),
	    DISPATCH_DONE);
	ck_assert_uint_gt(st->bytes, base);
	w->d.now = 200;
	demand(w, 0, 1);				/* 2 */
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], 1,
	    DISPATCH_BACKOFF, "e2", 2), DISPATCH_DONE);
	demand(w, 0, 1);				/* 3: no words */
	ck_assert_int_eq(answer(w, 0, 1, PS_NACK), DISPATCH_DONE);
	w->d.now = 300;
	demand(w, 0, 1);				/* 4: times out */
	w->d.now = 1300;
	ck_assert_int_eq(dispatch_expire(&w->d), 1);
	demand(w, 0, 1);				/* 5, the last */
	ck_assert_int_eq(w->r.n, 5);
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], 1, 0, "e5", 2),
	    DISPATCH_DONE);
	ck_assert_ptr_nonnull(ev = dispatch_dead_find(&w->d, 1));
	ck_assert_ptr_nonnull(ev->fail);
	ck_assert_uint_eq(ev->fail->n, 3);
	ck_assert_uint_eq(ev->fail->total, 5);
	f = &ev->fail->f[0];
	ck_assert_uint_eq(f->attempt, 3);
	ck_assert_uint_eq(f->at, 200);
	ck_assert_uint_eq(f->elen, 0);
	ck_assert_uint_eq(f->wlen, 2);
	ck_assert_mem_eq(f->bytes, "w0", 2);
	f = &ev->fail->f[1];
	ck_assert_uint_eq(f->attempt, 4);
	ck_assert_uint_eq(f->at, 1300);
	ck_assert_uint_eq(f->elen, 39);
	ck_assert_mem_eq(f->bytes + f->wlen,
	    "no ACK within the ack timeout (1000 ms)", 39);
	f = &ev->fail->f[2];
	ck_assert_uint_eq(f->attempt, 5);
	ck_assert_mem_eq(f->bytes + f->wlen, "e5", 2);
	/* Dropped, it gives its memory back, failures and all (its
	 * chunk went when it died: a dead letter's payload is its own). */
	dispatch_dead_drop(&w->d, ev);
	ck_assert_uint_eq(st->bytes, 0);
	world_free(w);
}
END_TEST

/* Demand without acks never puts more than max_demand in its hands. */
START_TEST(unacked_events_cap_what_a_consumer_is_sent)
{
	struct world	*w = world_new();
	int		 i;

	attach_acks(w, 0, 4);
	for (i = 0; i < 20; i++)
		ENQ(w, "e");
	demand(w, 0, 4);
	demand(w, 0, 4);	/* credit again, but four are unacked */
	ck_assert_int_eq(w->r.n, 4);
	ck_assert_uint_eq(w->c[0].demand, 4);
	ck_assert_uint_eq(w->d.queue.count, 16);
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 5);
	world_free(w);
}
END_TEST

START_TEST(paused_sends_nothing)
{
	struct world	*w = world_new();

	attach(w, 0, 5);
	w->d.paused = 1;
	demand(w, 0, 5);
	ENQ(w, "a");
	ck_assert_int_eq(w->r.n, 0);
	w->d.paused = 0;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 1);
	world_free(w);
}
END_TEST

/* One ENQUEUE through the overflow rule; its reply in r, and the result. */
#define OFFER(w, r, ...) do {						\
	const char *evs_[] = { __VA_ARGS__ };				\
	uint32_t n_;							\
	memset((r), 0, sizeof *(r));					\
	batch(&pb, &it, &n_, evs_, (int)(sizeof evs_ / sizeof evs_[0]));	\
	rc = dispatch_enqueue(&(w)->d, &it, (r));			\
} while (0)

#define REPLY(r, first, acc, ref, snew, sold) do {			\
	ck_assert_uint_eq((r)->first_id, (first));			\
	ck_assert_uint_eq((r)->accepted, (acc));			\
	ck_assert_uint_eq((r)->refused, (ref));				\
	ck_assert_uint_eq((r)->shed_new, (snew));			\
	ck_assert_uint_eq((r)->shed_old, (sold));			\
} while (0)

START_TEST(overflow_follows_each_policy)
{
	struct world		*w = world_new();
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_buf		 pb = { 0 };
	int			 rc;

	w->p.max_queue = 4;
	ENQ(w, "1", "2", "3");		/* ids 1-3; room for one */

	w->p.overflow = OVERFLOW_REJECT;
	OFFER(w, &r, "a", "b", "c");
	ck_assert_int_eq(rc, DISPATCH_TAKEN);
	REPLY(&r, 4, 1, 2, 0, 0);
	ck_assert_uint_eq(w->d.counts.rejected_total, 2);

	w->p.overflow = OVERFLOW_DROP_NEWEST;
	OFFER(w, &r, "a", "b");		/* full: both shed */
	REPLY(&r, 0, 0, 0, 2, 0);
	ck_assert_uint_eq(w->d.counts.shed_total, 2);

	/* drop-oldest keeps the newest: the last four of six, none old. */
	w->p.overflow = OVERFLOW_DROP_OLDEST;
	OFFER(w, &r, "a", "b", "c", "d", "e", "f");
	REPLY(&r, 5, 4, 0, 2, 4);
	ck_assert_uint_eq(w->d.queue.count, 4);
	attach(w, 0, 10);
	demand(w, 0, 10);
	expect(w, 0, 0, "c");
	expect(w, 3, 0, "f");
	detach(w, 0);

	/* A byte limit counts payload bytes. */
	w->p.max_queue = 0;
	w->p.max_queue_bytes = 10;
	w->p.overflow = OVERFLOW_REJECT;
	ENQ(w, "12345678");
	OFFER(w, &r, "ab", "c");
	REPLY(&r, 10, 1, 1, 0, 0);
	w->p.overflow = OVERFLOW_DROP_OLDEST;
	OFFER(w, &r, "0123456789", "abcd", "efgh");
	REPLY(&r, 11, 2, 0, 1, 1);
	ps_buf_free(&pb);
	world_free(w);
}
END_TEST

/*
 * Events that waiting consumers take at once do not count against the
 * limit, under every policy: --max-queue 2 and a consumer waiting for 3
 * take a batch of 3 whole, and the buffer is left empty.
 */
START_TEST(overflow_serves_demand_first)
{
	static const enum overflow policies[] = { OVERFLOW_REJECT,
	    OVERFLOW_DROP_OLDEST, OVERFLOW_DROP_NEWEST, OVERFLOW_BLOCK };
	struct world		*w;
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_buf		 pb = { 0 };
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof policies / sizeof policies[0]; i++) {
		w = world_new();
		w->p.max_queue = 2;
		w->p.overflow = policies[i];
		attach(w, 0, 3);
		demand(w, 0, 3);
		OFFER(w, &r, "a", "b", "c");
		ck_assert_int_eq(rc, DISPATCH_TAKEN);
		REPLY(&r, 1, 3, 0, 0, 0);
		ck_assert_int_eq(w->r.n, 3);
		ck_assert_uint_eq(w->c[0].demand, 0);
		ck_assert_uint_eq(w->d.queue.count, 0);

		/* Served first, then the limit applies to the rest. */
		detach(w, 0);
		attach(w, 1, 1);
		demand(w, 1, 1);
		OFFER(w, &r, "d", "e", "f", "g");
		REPLY(&r, 4, 3, policies[i] == OVERFLOW_REJECT ? 1 : 0,
		    policies[i] == OVERFLOW_DROP_NEWEST ||
		    policies[i] == OVERFLOW_DROP_OLDEST ? 1 : 0, 0);
		ck_assert_int_eq(rc, policies[i] == OVERFLOW_BLOCK ?
		    DISPATCH_WAIT : DISPATCH_TAKEN);
		expect(w, 3, 1, "d");
		ck_assert_uint_eq(w->d.queue.count, 2);
		world_free(w);
	}
	ps_buf_free(&pb);
}
END_TEST

/*
 * block takes what fits and holds the rest until there is room, so the
 * limit holds: --max-queue 10 and one ENQUEUE of 40 into an empty buffer.
 */
/* Would the next event of it go in now? */
static int
room(struct world *w, const struct ps_enqueue_iter *it)
{
	struct ps_enqueue_iter	 at = *it;
	const uint8_t		*data;
	uint32_t		 len;

	ck_assert_int_eq(ps_enqueue_next(&at, &data, &len), 1);
	return dispatch_room(&w->d, len);
}

START_TEST(overflow_block_holds_the_rest)
{
	struct world		*w = world_new();
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_buf		 pb = { 0 };
	const char		*evs[40];
	char			 names[40][4];
	uint32_t		 n;
	int			 i, rc, rounds = 0;

	for (i = 0; i < 40; i++) {
		snprintf(names[i], sizeof names[i], "%d", i + 1);
		evs[i] = names[i];
	}
	w->p.max_queue = 10;
	w->p.overflow = OVERFLOW_BLOCK;
	batch(&pb, &it, &n, evs, 40);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(dispatch_enqueue(&w->d, &it, &r), DISPATCH_WAIT);
	ck_assert_uint_eq(r.accepted, 10);
	ck_assert_uint_eq(it.left, 30);
	ck_assert_uint_eq(w->d.queue.count, 10);
	park(&pb, &it);
	ck_assert_int_eq(room(w, &it), 0);

	/* A consumer takes 7: 7 more go in, never more than 10 buffered. */
	attach(w, 0, 100);
	demand(w, 0, 7);
	ck_assert_int_eq(room(w, &it), 1);
	ck_assert_int_eq(dispatch_enqueue(&w->d, &it, &r), DISPATCH_WAIT);
	ck_assert_uint_eq(r.accepted, 17);
	ck_assert_uint_eq(w->d.queue.count, 10);
	park(&pb, &it);
	while (dispatch_enqueue(&w->d, &it, &r) == DISPATCH_WAIT) {
		ck_assert_uint_le(w->d.queue.count, 10);
		park(&pb, &it);
		demand(w, 0, 3);
		rounds++;
	}
	ck_assert_int_gt(rounds, 0);
	/* One answer for the whole batch, its ids sequential. */
	REPLY(&r, 1, 40, 0, 0, 0);
	ck_assert_uint_le(w->d.queue.count, 10);

	/*
	 * An event pushed between two parts (of this queue or any other:
	 * the ids are the daemon's) takes an id past the batch's, which
	 * goes on with its own, in sequence.
	 */
	batch(&pb, &it, &n, evs, 40);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(dispatch_enqueue(&w->d, &it, &r), DISPATCH_WAIT);
	park(&pb, &it);
	ck_assert_uint_eq(dispatch_push(&w->d, "x", 1, 0), r.first_id + 40);
	while (dispatch_enqueue(&w->d, &it, &r) == DISPATCH_WAIT) {
		park(&pb, &it);
		demand(w, 0, 5);
	}
	REPLY(&r, 41, 40, 0, 0, 0);
	ck_assert_uint_eq(w->d.next_id, 82);

	/* One event larger than the limit goes into an empty buffer alone. */
	detach(w, 0);
	world_free(w);
	w = world_new();
	w->p.max_queue_bytes = 2;
	w->p.overflow = OVERFLOW_BLOCK;
	OFFER(w, &r, "abc", "d");
	ck_assert_int_eq(rc, DISPATCH_WAIT);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(w->d.queue.bytes, 3);
	ps_buf_free(&pb);
	world_free(w);
}
END_TEST

/*
 * The arena: records across many chunks come out in order, with their
 * payloads; chunks go once every record has left and no handle holds one;
 * given-back events come first.
 */
/*
 * Compact records (a length and the payload: never delivered, ids in a
 * row) and full ones (an id out of turn, attempts, an origin) mix in one
 * chunk and come out as they went in.
 */
/* queue_walk's view: the ids, in order. */
struct walked {
	uint64_t	 id[16];
	size_t		 n;
};

static void
walk_id(void *arg, const struct qevent *ev)
{
	struct walked	*wk = arg;

	ck_assert_uint_lt(wk->n, 16);
	wk->id[wk->n++] = ev->id;
}

/*
 * Records of each kind, with no clock and then with one that moves on
 * most pushes (a time record before each such event): the same ids,
 * attempts, origins, keys and payloads come out, each event with the time
 * it was pushed at.
 */
START_TEST(queue_compact_and_full_records)
{
	static const struct {
		uint64_t	 id;
		uint32_t	 attempts;
		uint64_t	 origin;
		uint64_t	 t;		/* the clock at its push */
		int		 klen;
		uint16_t	 hlen;		/* of hdr's */
	} in[] = {
		{ 1, 0, 0, 100, -1, 0 }, { 2, 0, 0, 100, 3, 0 },
		{ 3, 0, 0, 101, -1, 14 }, { 10, 2, 0, 5000, 2, 14 },
		{ 4, 0, 0, 5000, -1, 0 }, { 7, 0, 0, 1ull << 40, 0, 14 },
		{ 5, 0, 0, (1ull << 40) + 1, -1, 0 },
		{ 6, 0, 99, (1ull << 40) + 1, -1, 0 },
		{ 6, 0, 0, 1ull << 60, 1, 0 }, { 7, 1, 0, (1ull << 60) + 5, -1, 0 },
		{ 8, 0, 0, (1ull << 60) + 5, 255, 14 },
		{ 9, 3, 0, (1ull << 60) + 6, 255, 0 },	/* FULL: lost its
							   key once */
	};
	static const char hdr[] = "\x80\x00\x0b\x04taskresize";
	char		 key[255];
	struct queue	 q;
	struct qevent	*ev;
	struct walked	 wk;
	char		 buf[400];
	uint64_t	 now = 0;
	size_t		 i;
	int		 clocked;

	memset(key, 'k', sizeof key);
	for (clocked = 0; clocked < 2; clocked++) {
		ck_assert_int_eq(queue_init(&q, NULL), 0);
		q.log->clock = clocked ? &now : NULL;
		for (i = 0; i < sizeof in / sizeof in[0]; i++) {
			now = in[i].t;
			memset(buf, 'a' + (int)i, sizeof buf);
			ck_assert_int_eq(queue_push(&q, in[i].id,
			    in[i].attempts, in[i].origin, key, in[i].klen,
			    hdr, in[i].hlen, buf, (uint32_t)(i * 30)), 0);
		}
		wk.n = 0;
		queue_walk(&q, walk_id, &wk);
		ck_assert_uint_eq(wk.n, sizeof in / sizeof in[0]);
		for (i = 0; i < sizeof in / sizeof in[0]; i++) {
			ck_assert_uint_eq(wk.id[i], in[i].id);
			ck_assert_ptr_nonnull(ev = queue_pop(&q));
			ck_assert_uint_eq(ev->id, in[i].id);
			ck_assert_uint_eq(ev->attempts, in[i].attempts);
			ck_assert_uint_eq(ev->origin, in[i].origin);
			ck_assert_uint_eq(ev->born, clocked ? in[i].t : 0);
			ck_assert_int_eq(ev->key != NULL ? ev->klen : -1,
			    in[i].klen);
			ck_assert(ev->key == NULL ||
			    memcmp(ev->key, key, ev->klen) == 0);
			ck_assert_uint_eq(ev->hlen, in[i].hlen);
			ck_assert(ev->hlen == 0 || memcmp(ev->hdr, hdr,
			    ev->hlen) == 0);
			ck_assert_uint_eq(ev->len, i * 30);
			ck_assert(ev->len == 0 || (ev->data[0] == 'a' +
			    (int)i && ev->data[ev->len - 1] == 'a' + (int)i));
			queue_release(&q, ev);
		}
		ck_assert_ptr_null(queue_pop(&q));
		/* Empty, the queue holds no chunk; ids go on from there. */
		ck_assert(TAILQ_EMPTY(&q.own->log.chunks));
		ck_assert_int_eq(queue_push(&q, 8, 0, 0, NULL, -1, NULL, 0, "x",
		    1), 0);
		ck_assert_int_eq(queue_push(&q, 9, 0, 0, NULL, -1, NULL, 0, "y",
		    1), 0);
		ck_assert_uint_eq((ev = queue_pop(&q))->id, 8);
		queue_release(&q, ev);
		ck_assert_uint_eq((ev = queue_pop(&q))->id, 9);
		queue_release(&q, ev);
		queue_free(&q);
	}
}
END_TEST

/*
 * Latency is the age of the oldest event ready to go, wherever it waits
 * (the log, given back, of another priority; not delayed); the histograms
 * take each first delivery's wait and each ACK's handling time.
 */
START_TEST(latency_and_histograms_follow_the_clock)
{
	struct world	*w = world_new();

	w->d.now = 1000;
	ck_assert_uint_eq(dispatch_latency(&w->d), 0);
	ENQ(w, "a", "b");
	ck_assert_uint_eq(dispatch_latency(&w->d), 0);
	w->d.now = 1300;
	ck_assert_uint_eq(dispatch_latency(&w->d), 300);
	ENQ(w, "c");
	w->d.now = 1500;
	ck_assert_uint_eq(dispatch_latency(&w->d), 500);
	/* A delayed event is not ready: no change. */
	ck_assert_int_eq(dispatch_restore_delayed(&w->d, 200, 61500,
	    QUEUE_PRIO_DEFAULT, NULL, -1, NULL, 0, "z", 1), 0);
	ck_assert_uint_eq(w->d.delayed, 1);
	ck_assert_uint_eq(dispatch_latency(&w->d), 500);

	attach_acks(w, 0, 2);
	demand(w, 0, 1);			/* a, after 500 ms */
	expect(w, 0, 0, "a");
	ck_assert_uint_eq(dispatch_latency(&w->d), 500);	/* b's */
	w->d.now = 1600;
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	demand(w, 0, 1);			/* b, after 600 ms */
	expect(w, 1, 0, "b");
	ck_assert_uint_eq(dispatch_latency(&w->d), 300);	/* c's */
	/* b given back keeps its age: the oldest again. */
	w->d.now = 1700;
	ck_assert_int_eq(detach(w, 0), 1);
	ck_assert_uint_eq(dispatch_latency(&w->d), 700);
	/* Of another priority: its own age counts too. */
	ck_assert_int_eq(dispatch_restore(&w->d, 100, 0, 5, NULL, -1, NULL, 0,
	    "p", 1), 0);
	w->d.now = 1800;
	ck_assert_uint_eq(dispatch_latency(&w->d), 800);
	attach_acks(w, 1, 10);
	demand(w, 1, 10);			/* p, b again, c */
	ck_assert_int_eq(w->r.n, 5);
	ck_assert_uint_eq(w->d.queue.count, 0);
	ck_assert_uint_eq(dispatch_latency(&w->d), 0);

	/* First deliveries: a 500, b 600, p 100, c 500 ms; b's second not. */
	ck_assert_uint_eq(w->d.waited.count, 4);
	ck_assert_uint_eq(w->d.waited.sum, 500 + 600 + 100 + 500);
	ck_assert_uint_eq(w->d.waited.n[5], 1);		/* 50 < 100 <= 100 */
	ck_assert_uint_eq(w->d.waited.n[7], 2);		/* 250 < 500 <= 500 */
	ck_assert_uint_eq(w->d.waited.n[8], 1);		/* 600 <= 1000 */
	/* One ACK, 100 ms after its delivery. */
	ck_assert_uint_eq(w->d.handled.count, 1);
	ck_assert_uint_eq(w->d.handled.sum, 100);
	world_free(w);
}
END_TEST

START_TEST(queue_keeps_order_across_chunks)
{
	struct queue	 q;
	struct qevent	*ev, *held, *back[2];
	char		 buf[2000];
	uint64_t	 id, next = 0;
	size_t		 len;

	ck_assert_int_eq(queue_init(&q, NULL), 0);
	memset(buf, 'x', sizeof buf);
	for (id = 0; id < 1000; id++) {
		len = id % 2000;
		ck_assert_int_eq(queue_push(&q, id, 0, id % 3 == 0 ? id + 7 :
		    0, NULL, -1, NULL, 0, buf, (uint32_t)len), 0);
	}
	ck_assert_uint_eq(q.count, 1000);
	ck_assert_ptr_ne(TAILQ_FIRST(&q.own->log.chunks),
	    TAILQ_LAST(&q.own->log.chunks, chunks));
	ck_assert_ptr_nonnull(held = queue_pop(&q));	/* pins chunk one */
	next++;
	for (; next < 600; next++) {
		ck_assert_ptr_nonnull(ev = queue_pop(&q));
		ck_assert_uint_eq(ev->id, next);
		ck_assert_uint_eq(ev->origin, next % 3 == 0 ? next + 7 : 0);
		ck_assert_uint_eq(ev->len, next % 2000);
		ck_assert(ev->len == 0 || ev->data[ev->len - 1] == 'x');
		queue_release(&q, ev);
	}
	ck_assert_uint_eq(held->id, 0);
	queue_release(&q, held);
	/* Given back: ahead of everything, in the order given. */
	ck_assert_ptr_nonnull(back[0] = queue_pop(&q));
	ck_assert_ptr_nonnull(back[1] = queue_pop(&q));
	queue_push_front(&q, back, 2);
	ck_assert_uint_eq(queue_pop(&q)->id, 600);
	ck_assert_uint_eq(queue_pop(&q)->id, 601);
	queue_release(&q, back[0]);
	queue_release(&q, back[1]);
	for (next = 602; (ev = queue_pop(&q)) != NULL; next++) {
		ck_assert_uint_eq(ev->id, next);
		queue_release(&q, ev);
	}
	ck_assert_uint_eq(next, 1000);
	ck_assert_uint_eq(q.count, 0);
	ck_assert_uint_eq(q.bytes, 0);
	/* Everything left: no chunk stays; the largest went to spares. */
	ck_assert(TAILQ_EMPTY(&q.own->log.chunks));
	ck_assert_uint_gt(q.own->store.nspare, 0);
	queue_free(&q);
}
END_TEST

/*
 * Logs sharing a store: a new log's chunks start small and double as it
 * fills them; emptied, a log holds nothing, and the largest chunks wait
 * in the store for whichever log needs one next.
 */
START_TEST(queue_store_shared)
{
	struct qstore	 st;
	struct qlog	 la, lb;
	struct queue	 a, b;
	struct qevent	*ev;
	char		 buf[1000];
	uint64_t	 id;

	qstore_init(&st);
	qlog_init(&la, &st, NULL);
	qlog_init(&lb, &st, NULL);
	queue_init(&a, &la);
	queue_init(&b, &lb);
	memset(buf, 'z', sizeof buf);
	ck_assert_int_eq(queue_push(&a, 1, 0, 0, NULL, -1, NULL, 0, "one", 3),
	    0);
	ck_assert_uint_eq(la.grow, QUEUE_CHUNK_MIN);
	for (id = 1; id <= 2000; id++)
		ck_assert_int_eq(queue_push(&b, id, 0, 0, NULL, -1, NULL, 0,
		    buf, sizeof buf), 0);
	ck_assert_uint_eq(lb.grow, QUEUE_CHUNK);
	for (id = 1; (ev = queue_pop(&b)) != NULL; id++) {
		ck_assert_uint_eq(ev->id, id);
		queue_release(&b, ev);
	}
	ck_assert_uint_eq(id, 2001);
	ck_assert(TAILQ_EMPTY(&lb.chunks));
	ck_assert_uint_gt(st.nspare, 0);
	ck_assert_uint_le(st.nspare, 4);
	/* a was never more than its first small chunk. */
	ck_assert_ptr_eq(TAILQ_FIRST(&la.chunks), TAILQ_LAST(&la.chunks, chunks));
	ck_assert_uint_eq((ev = queue_pop(&a))->id, 1);
	queue_release(&a, ev);
	ck_assert(TAILQ_EMPTY(&la.chunks));
	ck_assert(!TAILQ_EMPTY(&st.pool));
	queue_free(&a);
	queue_free(&b);
	qlog_free(&la);
	qlog_free(&lb);
	qstore_free(&st);
}
END_TEST

/*
 * Readers of one log (groups): each reads every event pushed after it
 * came, at its own pace; a record stays until the last reader has passed
 * it and no handle points into it; a reader that leaves lets go of it.
 */
START_TEST(queue_log_readers)
{
	struct qstore	 st;
	struct qlog	 log;
	struct queue	 a, b, c;
	struct qevent	*ev, *held;
	char		 buf[3000];
	uint64_t	 id, next;

	qstore_init(&st);
	qlog_init(&log, &st, NULL);
	queue_init(&a, &log);
	queue_init(&b, &log);
	memset(buf, 'r', sizeof buf);
	for (id = 1; id <= 500; id++)
		ck_assert_int_eq(queue_push(&a, id, 0, id % 7 == 0 ? 9 : 0, NULL,
		    -1, NULL, 0, buf, (uint32_t)(id * 5)), 0);
	ck_assert_uint_eq(a.count, 500);
	ck_assert_uint_eq(b.count, 500);
	ck_assert_uint_eq(a.bytes, b.bytes);
	/* c comes now: it sees only what is pushed from here. */
	queue_init(&c, &log);
	ck_assert_uint_eq(c.count, 0);
	ck_assert_ptr_null(queue_pop(&c));
	/* a reads everything; b nothing yet: every chunk stays for b. */
	for (next = 1; (ev = queue_pop(&a)) != NULL; next++) {
		ck_assert_uint_eq(ev->id, next);
		ck_assert_uint_eq(ev->len, next * 5);
		ck_assert_uint_eq(ev->origin, next % 7 == 0 ? 9 : 0);
		queue_release(&a, ev);
	}
	ck_assert_uint_eq(next, 501);
	ck_assert(!TAILQ_EMPTY(&log.chunks));
	for (id = 501; id <= 510; id++)
		ck_assert_int_eq(queue_push(&b, id, 0, 0, NULL, -1, NULL, 0, "x",
		    1), 0);
	ck_assert_uint_eq(a.count, 10);
	ck_assert_uint_eq(b.count, 510);
	ck_assert_uint_eq(c.count, 10);
	ck_assert_uint_eq((ev = queue_pop(&c))->id, 501);
	queue_release(&c, ev);
	/* b holds one event, reads on, and every chunk but that one goes. */
	ck_assert_ptr_nonnull(held = queue_pop(&b));
	ck_assert_uint_eq(held->id, 1);
	for (next = 2; (ev = queue_pop(&b)) != NULL; next++) {
		ck_assert_uint_eq(ev->id, next);
		queue_release(&b, ev);
	}
	ck_assert_uint_eq(next, 511);
	ck_assert_uint_eq(held->data[held->len - 1], 'r');
	queue_release(&b, held);
	/* c leaves with 9 unread: the rest goes once a has read it. */
	queue_free(&c);
	while ((ev = queue_pop(&a)) != NULL)
		queue_release(&a, ev);
	ck_assert(TAILQ_EMPTY(&log.chunks));
	ck_assert_uint_eq(a.count + b.count, 0);
	queue_free(&a);
	queue_free(&b);
	qlog_free(&log);
	qstore_free(&st);
}
END_TEST

/*
 * Groups: two dispatchers reading one log (the daemon's fan-out).  Each
 * group gets every event once, in order, by its own demand; one group's
 * NACK and dead letter are its own; a group that is full refuses for all
 * under reject, and drop-oldest sheds in the full group only.
 */
START_TEST(groups_share_one_log)
{
	struct world		*a = world_new(), *b = world_new();
	struct ps_buf		 buf = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	const char		*evs[] = { "p", "q", "r" };
	uint32_t		 n;
	int			 i;

	/* b reads a's log, from its end: it is a's next group. */
	queue_free(&b->d.queue);
	queue_init(&b->d.queue, a->d.queue.log);
	b->d.ids = a->d.ids;
	a->d.next_group = &b->d;
	a->p.max_attempts = b->p.max_attempts = 2;
	attach_acks(a, 0, 10);
	attach_acks(b, 0, 1);
	ck_assert_int_eq(dispatch_demand(&a->d, &a->c[0], 10), 0);
	ck_assert_int_eq(dispatch_demand(&b->d, &b->c[0], 1), 0);
	ENQ(a, "x", "y", "z");
	ck_assert_int_eq(a->r.n, 3);		/* a's consumer took all */
	ck_assert_int_eq(b->r.n, 1);		/* b's, its one */
	ck_assert_uint_eq(b->d.queue.count, 2);
	ck_assert_uint_eq(a->d.counts.enqueued_total, 3);
	ck_assert_uint_eq(b->d.counts.enqueued_total, 3);
	/* b's NACK brings x back for b only; a's ACKs are a's only. */
	ck_assert_int_eq(dispatch_answer(&b->d, &b->c[0], 1, PS_NACK),
	    DISPATCH_DONE);
	for (i = 1; i <= 3; i++)
		ck_assert_int_eq(answer(a, 0, (uint64_t)i, PS_ACK),
		    DISPATCH_DONE);
	ck_assert_uint_eq(a->d.in_flight, 0);
	ck_assert_int_eq(dispatch_demand(&b->d, &b->c[0], 1), 0);
	dispatch_run(&b->d);
	ck_assert_int_eq(b->r.n, 2);
	ck_assert_str_eq(b->r.data[1], "x");
	ck_assert_uint_eq(b->r.attempt[1], 2);
	ck_assert_int_eq(dispatch_answer(&b->d, &b->c[0], 1, PS_NACK),
	    DISPATCH_DONE);
	ck_assert_uint_eq(b->d.ndead, 1);	/* x died in b */
	ck_assert_uint_eq(a->d.ndead, 0);
	/* y and z wait in b; a's buffer is empty. */
	ck_assert_uint_eq(b->d.queue.count, 2);
	ck_assert_uint_eq(a->d.queue.count, 0);
	/* b is full at 2: under reject a new batch is refused for both. */
	a->p.max_queue = b->p.max_queue = 2;
	batch(&buf, &it, &n, evs, 3);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(dispatch_enqueue(&a->d, &it, &r), DISPATCH_TAKEN);
	ck_assert_uint_eq(r.accepted, 0);
	ck_assert_uint_eq(r.refused, 3);
	ck_assert_uint_eq(a->d.counts.rejected_total, 3);
	ck_assert_uint_eq(b->d.counts.rejected_total, 3);
	ck_assert_int_eq(dispatch_room(&a->d, 1), 0);
	/* drop-oldest: b sheds its oldest; a, with room, sheds nothing. */
	a->p.overflow = b->p.overflow = OVERFLOW_DROP_OLDEST;
	batch(&buf, &it, &n, evs, 1);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(dispatch_enqueue(&a->d, &it, &r), DISPATCH_TAKEN);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(r.shed_old, 1);
	ck_assert_uint_eq(b->d.counts.shed_total, 1);
	ck_assert_uint_eq(a->d.counts.shed_total, 0);
	ck_assert_uint_eq(a->d.queue.count, 0);	/* a's consumer took p */
	ck_assert_str_eq(a->r.data[a->r.n - 1], "p");
	ck_assert_uint_eq(b->d.queue.count, 2);	/* z and p */
	ps_buf_free(&buf);
	/* b goes first: it reads a's log. */
	a->d.next_group = NULL;
	world_free(b);
	world_free(a);
}
END_TEST

/* Push one keyed event (key NULL: none) and dispatch. */
static void
push_key(struct world *w, const char *key, const char *data)
{
	ck_assert_uint_ne(dispatch_push_key(&w->d, key, key != NULL ?
	    (int)strlen(key) : -1, NULL, 0, data, (uint32_t)strlen(data), 0),
	    0);
	dispatch_run(&w->d);
}

/* What consumer i holds now: in flight on it, by payload. */
static int
holds(struct world *w, int i, const char *data)
{
	struct qevent	*ev;

	TAILQ_FOREACH(ev, &w->c[i].inflight, entry) {
		if (ev->len == strlen(data) &&
		    memcmp(ev->data, data, ev->len) == 0)
			return 1;
	}
	return 0;
}

/*
 * Key mode: never two events of one key in flight; each key's in order,
 * a redelivery first; other keys and keyless events go past a key that
 * waits; a dead letter lets the next of its key go.
 */
/*
 * Giving up at once (docs/tasks.md): a NACK_ERROR with DISPATCH_REJECT
 * buries its event after one attempt of five, reason rejected, its
 * failure kept, counted as any NACK; in key order the next of its key
 * goes.  A NACK_LATER of that many ms is only a wait; an event cancelled
 * in flight is ended, not buried; a cluster's event is handed back dead.
 */
START_TEST(nack_error_rejects_at_once)
{
	struct world	*w = world_new();
	struct told	*t = &told;
	struct dconsumer *told_dc;
	struct qevent	*ev;

	w->d.mode = DISPATCH_KEY;
	w->p.max_attempts = 5;
	attach_acks(w, 0, 4);
	w->c[0].name = "w0";
	w->c[0].nlen = 2;
	push_key(w, "A", "a1");
	push_key(w, "A", "a2");
	demand(w, 0, 4);
	ck_assert_int_eq(w->r.n, 1);			/* a2 waits on A */
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], 1,
	    DISPATCH_REJECT, "UnknownTask", 11), DISPATCH_DONE);
	ck_assert_ptr_nonnull(ev = dispatch_dead_find(&w->d, 1));
	ck_assert_uint_eq(ev->reason, PS_DEAD_REJECTED);
	ck_assert_uint_eq(ev->attempts, 1);
	ck_assert_ptr_nonnull(ev->fail);
	ck_assert_uint_eq(ev->fail->n, 1);
	ck_assert_mem_eq(ev->fail->f[0].bytes + ev->fail->f[0].wlen,
	    "UnknownTask", 11);
	ck_assert_uint_eq(w->d.ndead, 1);
	ck_assert_uint_eq(w->d.counts.dead_total, 1);
	ck_assert_uint_eq(w->d.counts.nacked_total, 1);
	ck_assert_uint_eq(w->d.counts.redelivered_total, 0);
	ck_assert_uint_eq(w->d.in_flight, 0);
	/* A's next goes, as after any death. */
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 2);
	ck_assert_str_eq(w->r.data[1], "a2");
	ck_assert_uint_eq(w->d.keys.nwaiting, 0);

	/* NACK_LATER's 0xfffffffe ms is a wait like any other. */
	ck_assert_int_eq(dispatch_nack_later(&w->d, &w->c[0], 2,
	    DISPATCH_REJECT), DISPATCH_DONE);
	ck_assert_uint_eq(w->d.ndead, 1);
	ck_assert_uint_eq(w->d.delayed, 1);

	/* Cancelled in flight: ended by the NACK_ERROR, never dead. */
	push_key(w, "B", "b1");
	ck_assert_int_eq(w->r.n, 3);
	ck_assert_int_eq(dispatch_cancel(&w->d, 3, &told_dc),
	    DJOB_IN_FLIGHT);
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], 3,
	    DISPATCH_REJECT, "x", 1), DISPATCH_DONE);
	ck_assert_uint_eq(w->d.ndead, 1);
	ck_assert_ptr_null(dispatch_dead_find(&w->d, 3));
	ck_assert_uint_eq(w->d.in_flight, 0);
	world_free(w);

	/* A cluster's: handed back as dead (PS_NACK), reason rejected. */
	w = world_new();
	memset(t, 0, sizeof *t);
	w->p.max_attempts = 5;
	w->d.done = told_done;
	w->d.hand_back = 1;
	attach_acks(w, 0, 1);
	ck_assert_uint_ne(dispatch_push_tried(&w->d, NULL, 0, "job", 3, 7, 0),
	    0);
	demand(w, 0, 1);
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], w->r.id[0],
	    DISPATCH_REJECT, "no", 2), DISPATCH_DONE);
	ck_assert_int_eq(t->n, 1);
	ck_assert_int_eq(t->how[0], PS_NACK);
	ck_assert_uint_eq(t->reason[0], PS_DEAD_REJECTED);
	ck_assert_uint_eq(t->attempts[0], 1);
	ck_assert_uint_eq(w->d.counts.dead_total, 1);
	world_free(w);
}
END_TEST

/* One HEADER attribute (protocol.md): tag 128, u16 length, name, value. */
static size_t
task_hdr(uint8_t *out, const char *name, const char *value, size_t vlen)
{
	size_t	 nlen = strlen(name), len = 1 + nlen + vlen;

	out[0] = 128;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)len;
	out[3] = (uint8_t)nlen;
	memcpy(out + 4, name, nlen);
	memcpy(out + 4 + nlen, value, vlen);
	return 3 + len;
}

static struct task_row *
task_named(struct tasks *t, const char *value, uint32_t max)
{
	uint8_t	 h[600];
	size_t	 n;

	n = task_hdr(h, "trace", "00-ab", 5);
	n += task_hdr(h + n, "task", value, strlen(value));
	return tasks_row(t, h, (uint16_t)n, max);
}

/*
 * The table of counts per task name alone: a row per name up to max, the
 * 33rd name and later (and "other" itself, a name too long or with a
 * control character) in other; no row without a task header, an empty
 * one, or max 0; a name's row found again by name; the percentiles.
 */
START_TEST(task_table_is_bounded)
{
	struct tasks		 t;
	struct task_row		*r, *first;
	const struct task_row	*at;
	char			 name[300];
	uint8_t			 h[16];
	int			 i;

	memset(&t, 0, sizeof t);
	for (i = 0; i < TASKS_DEFAULT; i++) {
		snprintf(name, sizeof name, "task.%d", i);
		ck_assert_ptr_nonnull(r = task_named(&t, name, TASKS_DEFAULT));
		ck_assert_uint_eq(r->nlen, strlen(name));
		r->done++;
	}
	ck_assert_uint_eq(tasks_count(&t), TASKS_DEFAULT);
	ck_assert_ptr_null(t.other);
	/* The 33rd name: other, made now, listed last. */
	ck_assert_ptr_nonnull(r = task_named(&t, "task.32", TASKS_DEFAULT));
	ck_assert_ptr_eq(r, t.other);
	ck_assert_str_eq(r->name, "other");
	r->done++;
	ck_assert_uint_eq(tasks_count(&t), TASKS_DEFAULT + 1);
	ck_assert_ptr_eq(tasks_at(&t, TASKS_DEFAULT), t.other);
	ck_assert_ptr_null(tasks_at(&t, TASKS_DEFAULT + 1));
	/* Names with rows keep them, in the order they came. */
	ck_assert_ptr_nonnull(first = task_named(&t, "task.0", TASKS_DEFAULT));
	ck_assert_ptr_eq(first, tasks_at(&t, 0));
	ck_assert_uint_eq(first->done, 1);
	ck_assert_ptr_eq(task_named(&t, "task.31", TASKS_DEFAULT),
	    tasks_at(&t, 31));
	ck_assert_ptr_eq(task_named(&t, "task.0", TASKS_DEFAULT), first);
	/* other's own name, too long a name, a control byte: other. */
	ck_assert_ptr_eq(task_named(&t, "other", 64), t.other);
	memset(name, 'x', 256);
	name[256] = '\0';
	ck_assert_ptr_eq(task_named(&t, name, 64), t.other);
	ck_assert_ptr_eq(task_named(&t, "a\tb", 64), t.other);
	/* Room again (a larger max): a new name has a row. */
	ck_assert_ptr_nonnull(r = task_named(&t, "late", 64));
	ck_assert_ptr_ne(r, t.other);
	ck_assert_ptr_eq(tasks_at(&t, TASKS_DEFAULT), r);
	ck_assert_ptr_eq(tasks_at(&t, TASKS_DEFAULT + 1), t.other);
	/* No task: no header, an empty value, max 0, headers cut short. */
	ck_assert_ptr_null(tasks_row(&t, h, (uint16_t)task_hdr(h, "trace",
	    "x", 1), 64));
	ck_assert_ptr_null(task_named(&t, "", 64));
	ck_assert_ptr_null(task_named(&t, "task.0", 0));
	ck_assert_ptr_null(tasks_row(&t, h, 3, 64));
	/* Percentiles: three equal times are exact; the slowest is p100. */
	at = first;
	tasks_handled(first, 30);
	tasks_handled(first, 30);
	tasks_handled(first, 30);
	ck_assert_uint_eq(tasks_quantile(at, 50), 30);
	ck_assert_uint_eq(tasks_quantile(at, 99), 30);
	for (i = 0; i < 96; i++)
		tasks_handled(first, 2);
	tasks_handled(first, 7000);
	ck_assert_uint_le(tasks_quantile(at, 50), 5);
	ck_assert_uint_ge(tasks_quantile(at, 50), 2);
	ck_assert_uint_ge(tasks_quantile(at, 90), 2);
	ck_assert_uint_le(tasks_quantile(at, 90), 5);
	/* The 99th is a 30: estimated within its bucket, (25, 50]. */
	ck_assert_uint_gt(tasks_quantile(at, 99), 25);
	ck_assert_uint_le(tasks_quantile(at, 99), 50);
	ck_assert_uint_eq(tasks_quantile(at, 100), 7000);
	ck_assert_uint_eq(tasks_quantile(tasks_at(&t, 1), 50), 0);
	tasks_free(&t);
	ck_assert_uint_eq(tasks_count(&t), 0);
}
END_TEST

/*
 * The dispatcher counts per task as it goes: done with the handling
 * time, failed (a NACK, a timeout), retried (delivered again) and dead;
 * events without a task header in no row; a group counts its own.
 */
START_TEST(task_counts_follow_the_events)
{
	struct world		*w = world_new();
	const struct task_row	*r;
	uint8_t			 h[64];
	size_t			 n;

	w->p.max_attempts = 2;
	w->p.ack_timeout = 1000;
	attach_acks(w, 0, 10);
	n = task_hdr(h, "task", "resize", 6);
	ck_assert_uint_ne(dispatch_push_key(&w->d, NULL, -1, h, (uint16_t)n,
	    "a", 1, 0), 0);
	ck_assert_uint_ne(dispatch_push_key(&w->d, NULL, -1, h, (uint16_t)n,
	    "b", 1, 0), 0);
	ck_assert_uint_ne(dispatch_push_key(&w->d, NULL, -1, h, (uint16_t)n,
	    "c", 1, 0), 0);
	ck_assert_uint_ne(dispatch_push(&w->d, "plain", 5, 0), 0);
	w->d.now = 100;
	demand(w, 0, 10);
	ck_assert_int_eq(w->r.n, 4);
	ck_assert_uint_eq(tasks_count(&w->d.tasks), 0);	/* none answered */
	w->d.now = 140;
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(answer(w, 0, 4, PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(answer(w, 0, 2, PS_NACK), DISPATCH_DONE);
	ck_assert_uint_eq(tasks_count(&w->d.tasks), 1);
	ck_assert_ptr_nonnull(r = tasks_at(&w->d.tasks, 0));
	ck_assert_str_eq(r->name, "resize");
	ck_assert_uint_eq(r->done, 1);
	ck_assert_uint_eq(r->failed, 1);
	ck_assert_uint_eq(tasks_quantile(r, 50), 40);
	dispatch_run(&w->d);				/* b again */
	ck_assert_uint_eq(r->retried, 1);
	w->d.now = 1200;				/* c times out */
	ck_assert_int_eq(dispatch_expire(&w->d), 2);	/* and b */
	ck_assert_uint_eq(r->failed, 3);
	ck_assert_uint_eq(r->dead, 1);			/* b: its second */
	dispatch_run(&w->d);
	ck_assert_uint_eq(r->retried, 2);
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], 3,
	    DISPATCH_REJECT, "no", 2), DISPATCH_DONE);
	ck_assert_uint_eq(r->dead, 2);
	ck_assert_uint_eq(r->failed, 4);
	ck_assert_uint_eq(r->done, 1);
	ck_assert_uint_eq(tasks_count(&w->d.tasks), 1);
	world_free(w);
}
END_TEST

START_TEST(key_order)
{
	struct world	*w = world_new();
	int		 i;

	w->d.mode = DISPATCH_KEY;
	w->p.max_attempts = 2;
	attach_acks(w, 0, 10);
	attach_acks(w, 1, 10);
	push_key(w, "A", "a1");
	push_key(w, "A", "a2");
	push_key(w, "B", "b1");
	push_key(w, "A", "a3");
	push_key(w, NULL, "n1");
	push_key(w, "", "e1");		/* the empty key is a key */
	push_key(w, "", "e2");
	ck_assert_uint_eq(w->d.queue.count, 7);
	demand(w, 0, 10);
	demand(w, 1, 10);
	/* a1, b1, n1, e1 go; a2, a3 and e2 wait behind their keys. */
	ck_assert_int_eq(w->r.n, 4);
	ck_assert(holds(w, 0, "a1") && holds(w, 0, "b1") && holds(w, 0, "n1") &&
	    holds(w, 0, "e1"));
	ck_assert_uint_eq(w->d.keys.nwaiting, 3);
	ck_assert_uint_eq(w->d.queue.count, 0);
	/* b1 done: nothing of B waits.  a1 done: a2 goes, to anyone. */
	ck_assert_int_eq(answer(w, 0, 3, PS_ACK), DISPATCH_DONE);
	ck_assert_int_eq(w->r.n, 4);
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 5);
	ck_assert_str_eq(w->r.data[4], "a2");
	/* a2 fails: back first, alone (a3 still waits), attempt 2. */
	ck_assert_int_eq(answer(w, w->r.who[4], 2, PS_NACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 6);
	ck_assert_str_eq(w->r.data[5], "a2");
	ck_assert_uint_eq(w->r.attempt[5], 2);
	ck_assert_uint_eq(w->d.keys.nwaiting, 2);
	/* It fails again and dies: a3 goes. */
	ck_assert_int_eq(answer(w, w->r.who[5], 2, PS_NACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_uint_eq(w->d.ndead, 1);
	ck_assert_int_eq(w->r.n, 7);
	ck_assert_str_eq(w->r.data[6], "a3");
	/* Its consumer goes: a3 comes back and goes to the other. */
	i = w->r.who[6];
	ck_assert_int_eq(detach(w, i), i == 0 ? 3 : 1);
	dispatch_run(&w->d);
	ck_assert_str_eq(w->r.data[w->r.n - 1], i == 0 ? "e1" : "a3");
	/* e2 still waits behind e1; a purge takes it too. */
	ck_assert_uint_eq(w->d.keys.nwaiting, 1);
	ck_assert_uint_eq(dispatch_purge(&w->d), 1);
	ck_assert_uint_eq(w->d.keys.nwaiting, 0);
	world_free(w);
}
END_TEST

/* A key of partition p among n: "kP-I" for the first I that lands there. */
static const char *
key_in(uint32_t p, uint32_t n, char *buf, size_t len)
{
	int	 i;

	for (i = 0;; i++) {
		snprintf(buf, len, "k%u-%d", p, i);
		if (ps_partition(buf, (int)strlen(buf), n) == p)
			return buf;
	}
}

static void
attach_part(struct world *w, int i, uint32_t max, uint32_t part)
{
	attach_acks(w, i, max);
	w->c[i].partition = part;
}

/*
 * Partition mode: an event goes only to a consumer of its key's partition
 * (keyless: partition 0), by the demand rule among them; a partition with
 * no room holds its events aside while the others flow; those go first
 * when it asks, are counted against the buffer, purged with it, and go
 * back to the front of the buffer in id order when the mode changes.
 */
START_TEST(partition_mode)
{
	struct world	*w = world_new();
	static const uint64_t order[] = { 1, 3, 5, 7, 9, 2, 4, 8 };
	char		 k[3][16], big[3][16];
	int		 i;

	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_PARTITION, 3), 0);
	for (i = 0; i < 3; i++)
		key_in((uint32_t)i, 3, k[i], sizeof k[i]);
	attach_part(w, 0, 10, 0);
	attach_part(w, 1, 1, 1);
	attach_part(w, 2, 10, 1);
	demand(w, 0, 10);
	demand(w, 1, 1);
	demand(w, 2, 10);
	push_key(w, k[0], k[0]);	/* ids 1 to 5 */
	push_key(w, k[1], k[1]);
	push_key(w, k[2], k[2]);
	push_key(w, k[1], k[1]);
	push_key(w, NULL, "none");
	/* Partition 1's largest demand first: consumer 2 takes both. */
	ck_assert_int_eq(w->r.n, 4);
	ck_assert(holds(w, 0, k[0]) && holds(w, 0, "none"));
	ck_assert_uint_eq(w->c[2].ninflight, 2);
	ck_assert_uint_eq(w->c[1].ninflight, 0);
	/* Nobody reads partition 2: its event waits aside, counted. */
	ck_assert_uint_eq(w->d.parts_waiting, 1);
	ck_assert_uint_eq(w->d.queue.count, 0);
	w->p.max_queue = 1;
	ck_assert_int_eq(dispatch_room(&w->d, 1), 1);
	push_key(w, k[2], "k2-again");
	ck_assert_uint_eq(w->d.parts_waiting, 2);
	w->p.max_queue = 0;
	/* Its consumer comes: the oldest first. */
	attach_part(w, 3, 1, 2);
	demand(w, 3, 1);
	ck_assert_int_eq(w->r.n, 5);
	ck_assert_int_eq(w->r.who[4], 3);
	ck_assert_uint_eq(w->r.id[4], 3);
	ck_assert_uint_eq(w->d.parts_waiting, 1);
	/* A NACK comes back to its own partition, first. */
	ck_assert_int_eq(answer(w, 2, 2, PS_NACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 6);
	ck_assert_uint_eq(w->r.id[5], 2);
	ck_assert(w->r.who[5] == 1 || w->r.who[5] == 2);
	/* Purge takes what waits for a partition. */
	ck_assert_uint_eq(dispatch_purge(&w->d), 1);
	ck_assert_uint_eq(w->d.parts_waiting, 0);
	/* Everyone leaves; what waited goes back in id order on a change. */
	for (i = 0; i < 4; i++)
		(void)detach(w, i);
	for (i = 0; i < 3; i++) {
		key_in((uint32_t)i, 3, big[i], sizeof big[i]);
		push_key(w, big[i], big[i]);
	}
	/* Ids 1 to 5 and 7 to 9: partition 1's (2, 4, 8) go, 5 wait. */
	attach_part(w, 0, 10, 1);
	demand(w, 0, 10);
	ck_assert_uint_eq(w->c[0].ninflight, 3);
	ck_assert_uint_eq(w->d.parts_waiting, 5);
	(void)detach(w, 0);
	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_DEMAND, 0), 0);
	ck_assert_uint_eq(w->d.nparts, 0);
	ck_assert_uint_eq(w->d.parts_waiting, 0);
	ck_assert_uint_eq(w->d.queue.count, 8);
	w->r.n = 0;
	attach_acks(w, 4, 10);
	demand(w, 4, 10);
	/* Those that waited first, then those given back by consumer 0. */
	ck_assert_int_eq(w->r.n, 8);
	for (i = 0; i < 8; i++)
		ck_assert_uint_eq(w->r.id[i], order[i]);
	world_free(w);
}
END_TEST

/*
 * Partition mode under random attaches, demand, pushes, acks, NACKs and
 * departures: every event goes to a consumer of its partition, within its
 * demand; nothing is lost; a partition with events aside has no room.
 */
START_TEST(partition_mode_random)
{
	struct world	*w = world_new();
	struct qevent	*ev;
	char		 key[8];
	uint64_t	 acked = 0, aside;
	uint32_t	 p;
	int		 round, i, k, n, seen = 0, pushed = 0;

	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_PARTITION, 4), 0);
	srandom(11);
	for (round = 0; round < 4000 && pushed < MAXE - 8; round++) {
		i = (int)(random() % MAXC);
		switch (random() % 5) {
		case 0:
			if (!w->live[i])
				attach_part(w, i, 8, (uint32_t)(random() % 4));
			break;
		case 1:
			if (w->live[i] && w->c[i].demand < 8)
				demand(w, i, 1 + (uint32_t)(random() %
				    (8 - w->c[i].demand)));
			break;
		case 2:
			n = (int)(random() % 20);
			snprintf(key, sizeof key, "%d", n);
			push_key(w, n == 0 ? NULL : key, n == 0 ? "0" : key);
			pushed++;
			break;
		case 3:
			if (w->live[i] &&
			    (ev = TAILQ_FIRST(&w->c[i].inflight)) != NULL) {
				k = random() % 3 == 0 ? PS_NACK : PS_ACK;
				acked += k == PS_ACK;
				ck_assert_int_eq(answer(w, i, ev->id, k),
				    DISPATCH_DONE);
				dispatch_run(&w->d);
			}
			break;
		case 4:
			if (w->live[i])
				(void)detach(w, i);
			dispatch_run(&w->d);
			break;
		}
		for (; seen < w->r.n; seen++) {
			k = w->r.who[seen];
			p = strcmp(w->r.data[seen], "0") == 0 ? 0 :
			    ps_partition(w->r.data[seen],
			    (int)strlen(w->r.data[seen]), 4);
			ck_assert_uint_eq(w->c[k].partition, p);
		}
		for (p = 0; p < 4; p++) {
			if (TAILQ_EMPTY(&w->d.parts[p].waiting))
				continue;
			for (k = 0; k < MAXC; k++)
				ck_assert(!w->live[k] ||
				    w->c[k].partition != p ||
				    w->c[k].demand == 0 ||
				    w->c[k].ninflight == w->c[k].max_demand);
		}
	}
	aside = w->d.parts_waiting;
	ck_assert_uint_eq(acked + w->d.in_flight + w->d.queue.count + aside +
	    w->d.ndead, (uint64_t)pushed);
	world_free(w);
}
END_TEST

/* docs/dispatch.md's partition table, step by step. */
START_TEST(partition_doc_example)
{
	struct world	*w = world_new();
	static const char *ev[][2] = { { "a", "a1" }, { "b", "b1" },
	    { "c", "c1" }, { "x", "x1" }, { NULL, "n1" }, { "b", "b2" } };
	size_t		 i;

	ck_assert_uint_eq(ps_partition("a", 1, 2), 0);
	ck_assert_uint_eq(ps_partition("c", 1, 2), 0);
	ck_assert_uint_eq(ps_partition("b", 1, 2), 1);
	ck_assert_uint_eq(ps_partition("x", 1, 2), 1);
	ck_assert_uint_eq(ps_partition("", 0, 2), 1);
	ck_assert_uint_eq(ps_partition("", 0, 8), 5);
	ck_assert_uint_eq(ps_partition("a", 1, 3), 1);
	ck_assert_uint_eq(ps_partition("user-42", 7, 4), 3);
	ck_assert_uint_eq(ps_partition("order:1001", 10, 3), 2);
	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_PARTITION, 2), 0);
	attach_part(w, 0, 2, 0);	/* P0 */
	attach_part(w, 1, 1, 1);	/* P1a */
	attach_part(w, 2, 1, 1);	/* P1b */
	demand(w, 0, 2);
	demand(w, 1, 1);
	demand(w, 2, 1);
	for (i = 0; i < 6; i++)
		ck_assert_uint_ne(dispatch_push_key(&w->d, ev[i][0],
		    ev[i][0] != NULL ? 1 : -1, NULL, 0, ev[i][1], 2, 0), 0);
	dispatch_run(&w->d);
	ck_assert(holds(w, 0, "a1") && holds(w, 0, "c1"));
	ck_assert(holds(w, 1, "b1") && holds(w, 2, "x1"));
	/* Waiting: nobody has credit, so still in the buffer. */
	ck_assert_uint_eq(w->d.queue.count + w->d.parts_waiting, 2);
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	demand(w, 0, 1);
	ck_assert(holds(w, 0, "n1"));
	ck_assert_uint_eq(w->d.queue.count + w->d.parts_waiting, 1);
	ck_assert_int_eq(answer(w, 2, 4, PS_ACK), DISPATCH_DONE);
	demand(w, 2, 1);
	ck_assert(holds(w, 2, "b2"));
	ck_assert_uint_eq(w->d.parts_waiting, 0);
	world_free(w);
}
END_TEST

/* An ENQUEUE (version 3) of keyed events, offered as conn.c does. */
static int
offer_keyed(struct world *w, struct ps_buf *b, struct ps_enqueued *r,
    const char *const *kv, int n)
{
	struct ps_enqueue_iter	 it;
	struct ps_frame		 f;
	struct ps_queue		 q;
	size_t			 start;
	uint32_t		 count;
	int			 i;

	b->len = 0;
	memset(r, 0, sizeof *r);
	ck_assert_int_eq(ps_put_enqueue_begin(b, 3, "q", 1, &start), 0);
	ps_put_enqueue_attrs(b, start);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(ps_put_enqueue_add_key(b, kv[2 * i],
		    (int)strlen(kv[2 * i]), kv[2 * i + 1],
		    (uint32_t)strlen(kv[2 * i + 1])), 0);
	ps_put_enqueue_end(b, start, (uint32_t)n);
	ck_assert_int_gt(ps_frame_parse(b->data, b->len, 1 << 20, &f), 0);
	ck_assert_int_eq(ps_get_enqueue(&f, 3, &q, &it, &count), 0);
	return dispatch_enqueue(&w->d, &it, r);
}

/*
 * drop-oldest keeps a queue within its limits when its events wait off
 * the buffer, behind a busy key or for a partition: with the buffer
 * empty, the oldest of those go.
 */
START_TEST(drop_oldest_reaches_events_set_aside)
{
	static const char *const a1[] = { "A", "a1" };
	static const char *const five[] = { "A", "a2", "A", "a3", "A", "a4",
	    "A", "a5", "A", "a6" };
	static const char *const a7[] = { "A", "a7" };
	struct world		*w = world_new();
	struct ps_buf		 b = { 0 };
	struct ps_enqueued	 r;
	char			 k0[16], k1[16];
	const char		*p0[6], *p1[2];
	int			 i;

	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_KEY, 0), 0);
	w->p.overflow = OVERFLOW_DROP_OLDEST;
	w->p.max_queue = 2;
	attach_acks(w, 0, 10);
	demand(w, 0, 10);
	ck_assert_int_eq(offer_keyed(w, &b, &r, a1, 1), DISPATCH_TAKEN);
	ck_assert_int_eq(w->r.n, 1);
	/* Taken at once as far as the consumer's room: they wait behind a1. */
	ck_assert_int_eq(offer_keyed(w, &b, &r, five, 5), DISPATCH_TAKEN);
	ck_assert_uint_eq(r.accepted, 5);
	ck_assert_uint_eq(w->d.keys.nwaiting, 5);
	/* Now they count: a7 sheds the oldest four waiting. */
	ck_assert_int_eq(offer_keyed(w, &b, &r, a7, 1), DISPATCH_TAKEN);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(r.shed_old, 4);
	ck_assert_uint_eq(w->d.keys.nwaiting + w->d.queue.count, 2);
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_str_eq(w->r.data[w->r.n - 1], "a6");
	ck_assert_int_eq(answer(w, 0, 6, PS_ACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_str_eq(w->r.data[w->r.n - 1], "a7");
	(void)detach(w, 0);

	/* Partitions: nobody reads partition 0; it holds no more than 2. */
	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_PARTITION, 2), 0);
	key_in(0, 2, k0, sizeof k0);
	key_in(1, 2, k1, sizeof k1);
	attach_part(w, 1, 10, 1);
	demand(w, 1, 10);
	for (i = 0; i < 3; i++) {
		p0[2 * i] = k0;
		p0[2 * i + 1] = "old";
	}
	ck_assert_int_eq(offer_keyed(w, &b, &r, p0, 3), DISPATCH_TAKEN);
	ck_assert_uint_eq(r.shed_new, 1);
	ck_assert_uint_eq(w->d.parts_waiting, 2);
	p0[1] = "new";
	p1[0] = k1;
	p1[1] = "one";
	ck_assert_int_eq(offer_keyed(w, &b, &r, p0, 1), DISPATCH_TAKEN);
	ck_assert_uint_eq(r.shed_old, 1);
	ck_assert_uint_eq(w->d.parts_waiting, 2);
	/* Partition 1's events are served at once, beside them. */
	ck_assert_int_eq(offer_keyed(w, &b, &r, p1, 1), DISPATCH_TAKEN);
	ck_assert_str_eq(w->r.data[w->r.n - 1], "one");
	free(b.data);
	world_free(w);
}
END_TEST

/*
 * The clock's part: a pause holds everything until it ends or is lifted;
 * a rate lets no more than N events go per period, and says when the next
 * may; in-flight events complete while paused.
 */
/* One event with attributes a, ENQUEUEd alone (version 3); its reply. */
static struct ps_enqueued
enqueue_attrs(struct world *w, const struct ps_attrs *a, const char *data,
    int count)
{
	struct ps_buf		 b = { 0 }, dups = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_frame		 f;
	struct ps_queue		 q;
	size_t			 start;
	uint32_t		 n;
	int			 i;

	memset(&r, 0, sizeof r);
	r.dups = &dups;
	ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "q", 1, &start), 0);
	ps_put_enqueue_attrs(&b, start);
	for (i = 0; i < count; i++)
		ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, a, data,
		    (uint32_t)strlen(data)), 0);
	ps_put_enqueue_end(&b, start, (uint32_t)count);
	ck_assert_int_gt(ps_frame_parse(b.data, b.len, 1 << 20, &f), 0);
	ck_assert_int_eq(ps_get_enqueue(&f, 3, &q, &it, &n), 0);
	ck_assert_int_eq(dispatch_enqueue(&w->d, &it, &r), DISPATCH_TAKEN);
	ck_assert_uint_eq(dups.len, 4 * (size_t)r.duplicates);
	ps_buf_free(&dups);
	ps_buf_free(&b);
	r.dups = NULL;
	return r;
}

static struct ps_attrs
attrs(void)
{
	struct ps_attrs	 a;

	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	return a;
}

/* What the due-order test saw: each event's id when it went out. */
struct dues {
	uint64_t	*due;		/* by id */
	uint64_t	 now;
	uint64_t	 last_due;
	uint64_t	 last_id;
	int		 n;
};

static void
due_emit(void *arg, struct dconsumer *dc, const struct qevent *ev)
{
	struct dues	*s = arg;
	uint64_t	 due = s->due[ev->id];

	(void)dc;
	/* Never before its time, and in due order (ties by id). */
	ck_assert_uint_le(due, s->now);
	ck_assert(due > s->last_due || (due == s->last_due &&
	    ev->id > s->last_id));
	s->last_due = due;
	s->last_id = ev->id;
	s->n++;
}

START_TEST(delays_in_due_order)
{
	struct dispatch		 d;
	struct dconsumer	 c;
	struct dues		 s = { 0 };
	struct ps_buf		 b = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_frame		 f;
	struct ps_queue		 q;
	struct ps_attrs		 a = attrs();
	uint64_t		 when;
	size_t			 start;
	uint32_t		 n, i, seed = 7;
	int			 k, owner = 0;

	ck_assert_ptr_nonnull(s.due = calloc(10001, sizeof *s.due));
	ck_assert_int_eq(dispatch_init(&d, NULL, due_emit, &s), 0);
	dispatch_attach(&d, &c, 100000, 0, 0, &owner);
	ck_assert_int_eq(dispatch_demand(&d, &c, 100000), 0);
	d.now = s.now = 1000;
	/* 10,000 events in 10 ENQUEUEs, each with a random delay < 10 s. */
	for (k = 0; k < 10; k++) {
		b.len = 0;
		ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "q", 1, &start),
		    0);
		ps_put_enqueue_attrs(&b, start);
		for (i = 0; i < 1000; i++) {
			seed = seed * 1103515245 + 12345;
			a.when = PS_WHEN_DELAY;
			a.delay = 1 + (seed >> 8) % 9999;
			if (i % 100 == 0)
				a.when = PS_WHEN_NOW;	/* some at once */
			s.due[1 + 1000 * (uint64_t)k + i] = a.when ==
			    PS_WHEN_NOW ? 0 : d.now + a.delay;
			ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, &a, "x",
			    1), 0);
		}
		ps_put_enqueue_end(&b, start, 1000);
		ck_assert_int_gt(ps_frame_parse(b.data, b.len, 1 << 20, &f), 0);
		ck_assert_int_eq(ps_get_enqueue(&f, 3, &q, &it, &n), 0);
		memset(&r, 0, sizeof r);
		s.last_due = 0;		/* those at once: their own order */
		ck_assert_int_eq(dispatch_enqueue(&d, &it, &r),
		    DISPATCH_TAKEN);
		ck_assert_uint_eq(r.accepted, 1000);
	}
	ck_assert_int_eq(s.n, 100);
	ck_assert_uint_eq(d.delayed, 9900);
	/* The clock jumps to each next deadline, or by a random step. */
	s.last_due = 0;
	s.last_id = 0;
	while (dispatch_next_deadline(&d, &when)) {
		ck_assert_uint_gt(when, s.now);
		seed = seed * 1103515245 + 12345;
		d.now = s.now = seed % 3 == 0 ? when : when + (seed >> 8) % 50;
		dispatch_run(&d);
	}
	ck_assert_int_eq(s.n, 10000);
	ck_assert_uint_eq(d.delayed, 0);
	ck_assert_uint_eq(d.queue.count, 0);
	dispatch_detach(&d, &c);
	dispatch_free(&d);
	ps_buf_free(&b);
	free(s.due);
}
END_TEST

START_TEST(priorities_first)
{
	struct world	*w = world_new();
	struct ps_attrs	 a = attrs();
	uint64_t	 id;

	ENQ(w, "d1");
	a.priority = 60000;
	enqueue_attrs(w, &a, "low", 1);
	a.priority = 10;
	enqueue_attrs(w, &a, "p10a", 1);
	ENQ(w, "d2");
	a.priority = 5;
	enqueue_attrs(w, &a, "p5", 1);
	a.priority = 10;
	enqueue_attrs(w, &a, "p10b", 1);
	ck_assert_uint_eq(w->d.queue.count, 6);
	attach_acks(w, 0, 10);
	/* One at a time: 5, 10 (FIFO), the default (FIFO), then 60000. */
	demand(w, 0, 1);
	expect(w, 0, 0, "p5");
	demand(w, 0, 1);
	expect(w, 1, 0, "p10a");
	/* p10a back: before p10b, a redelivery first in its priority. */
	id = w->r.id[1];
	ck_assert_int_eq(answer(w, 0, id, PS_NACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	demand(w, 0, 1);
	expect(w, 2, 0, "p10a");
	ck_assert_uint_eq(w->r.attempt[2], 2);
	demand(w, 0, 4);
	expect(w, 3, 0, "p10b");
	expect(w, 4, 0, "d1");
	expect(w, 5, 0, "d2");
	expect(w, 6, 0, "low");
	ck_assert_uint_eq(w->d.queue.count, 0);
	/* Under drop-oldest the default's oldest goes before a priority's. */
	w->p.max_queue = 2;
	w->p.overflow = OVERFLOW_DROP_OLDEST;
	a.priority = 1;
	enqueue_attrs(w, &a, "urgent", 1);
	ENQ(w, "old", "new");
	demand(w, 0, 2);
	expect(w, 7, 0, "urgent");
	expect(w, 8, 0, "new");
	world_free(w);
}
END_TEST

START_TEST(unique_ids)
{
	struct world		*w = world_new();
	struct ps_attrs		 a = attrs();
	struct ps_enqueued	 r;

	w->d.now = 1000;
	w->p.dedup_window = 5000;
	a.uid = (const uint8_t *)"job-1";
	a.ulen = 5;
	r = enqueue_attrs(w, &a, "one", 1);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(r.duplicates, 0);
	/* Queued: a second is a duplicate; two in one batch, one goes. */
	r = enqueue_attrs(w, &a, "two", 1);
	ck_assert_uint_eq(r.accepted, 0);
	ck_assert_uint_eq(r.duplicates, 1);
	a.uid = (const uint8_t *)"job-2";
	r = enqueue_attrs(w, &a, "three", 2);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(r.duplicates, 1);
	ck_assert_uint_eq(w->d.counts.duplicates_total, 2);
	/* In flight, then acked: held for the window, then free. */
	attach_acks(w, 0, 10);
	demand(w, 0, 10);
	ck_assert_int_eq(w->r.n, 2);
	a.uid = (const uint8_t *)"job-1";
	ck_assert_uint_eq(enqueue_attrs(w, &a, "x", 1).duplicates, 1);
	ck_assert_int_eq(answer(w, 0, w->r.id[0], PS_ACK), DISPATCH_DONE);
	w->d.now = 5999;
	ck_assert_uint_eq(enqueue_attrs(w, &a, "x", 1).duplicates, 1);
	w->d.now = 6000;
	r = enqueue_attrs(w, &a, "again", 1);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(r.duplicates, 0);
	ck_assert_int_eq(w->r.n, 3);
	expect(w, 2, 0, "again");
	/* A NACK keeps it held; a dead letter too; with no window, an
	 * id is free once its event is acked. */
	ck_assert_int_eq(answer(w, 0, w->r.id[2], PS_NACK), DISPATCH_DONE);
	ck_assert_uint_eq(enqueue_attrs(w, &a, "x", 1).duplicates, 1);
	w->p.dedup_window = 0;
	ck_assert_int_eq(w->r.n, 4);
	ck_assert_int_eq(answer(w, 0, w->r.id[3], PS_ACK), DISPATCH_DONE);
	ck_assert_uint_eq(enqueue_attrs(w, &a, "x", 1).accepted, 1);
	world_free(w);
}
END_TEST

START_TEST(delays_reach_every_group)
{
	struct dispatch		 lead, g2, g3;
	struct world		*w = world_new();
	struct dconsumer	 c1, c2, c3;
	struct ps_attrs		 a = attrs();
	struct ps_buf		 b = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_frame		 f;
	struct ps_queue		 q;
	size_t			 start;
	uint32_t		 n;
	uint64_t		 next = 1;
	int			 o1 = 1, o2 = 2, o3 = 3;

	ck_assert_int_eq(dispatch_init(&lead, NULL, record_emit, &w->r), 0);
	ck_assert_int_eq(dispatch_init(&g2, lead.queue.log, record_emit,
	    &w->r), 0);
	lead.ids = g2.ids = g3.ids = &next;
	lead.next_group = &g2;
	g2.lead = &lead;
	dispatch_attach(&lead, &c1, 10, 0, 0, &o1);
	dispatch_attach(&g2, &c2, 10, 0, 0, &o2);
	ck_assert_int_eq(dispatch_demand(&lead, &c1, 10), 0);
	ck_assert_int_eq(dispatch_demand(&g2, &c2, 10), 0);
	a.when = PS_WHEN_DELAY;
	a.delay = 100;
	ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "q", 1, &start), 0);
	ps_put_enqueue_attrs(&b, start);
	ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, &a, "later", 5), 0);
	ps_put_enqueue_end(&b, start, 1);
	ck_assert_int_gt(ps_frame_parse(b.data, b.len, 1 << 20, &f), 0);
	ck_assert_int_eq(ps_get_enqueue(&f, 3, &q, &it, &n), 0);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(dispatch_enqueue(&lead, &it, &r), DISPATCH_TAKEN);
	ck_assert_uint_eq(lead.delayed, 1);
	ck_assert_uint_eq(g2.delayed, 1);
	/* A group made now (from the next id on) does not get it. */
	ck_assert_int_eq(dispatch_init(&g3, lead.queue.log, record_emit,
	    &w->r), 0);
	g3.ids = &next;
	g3.from = next;
	g3.lead = &lead;
	g2.next_group = &g3;
	dispatch_attach(&g3, &c3, 10, 0, 0, &o3);
	ck_assert_int_eq(dispatch_demand(&g3, &c3, 10), 0);
	lead.now = g2.now = g3.now = 100;
	dispatch_run_all(&lead);
	ck_assert_int_eq(w->r.n, 2);
	ck_assert_int_eq(w->r.who[0], 1);
	ck_assert_int_eq(w->r.who[1], 2);
	ck_assert_uint_eq(lead.delayed + g2.delayed + g3.delayed, 0);
	ck_assert_uint_eq(g3.queue.count, 0);
	dispatch_detach(&g3, &c3);
	dispatch_detach(&g2, &c2);
	dispatch_detach(&lead, &c1);
	dispatch_free(&g3);
	dispatch_free(&g2);
	dispatch_free(&lead);
	ps_buf_free(&b);
	world_free(w);
}
END_TEST

START_TEST(pause_and_rate)
{
	struct world	*w = world_new();
	uint64_t	 when;
	int		 i;

	attach_acks(w, 0, 100);
	demand(w, 0, 100);
	ENQ(w, "a");
	ck_assert_int_eq(w->r.n, 1);
	w->d.now = 1000;
	ck_assert_int_eq(dispatch_schedule(&w->d, SCHED_FOREVER, 0, 0, 0, 0),
	    0);
	ck_assert_int_eq(w->d.held, 1);
	ENQ(w, "b", "c");
	ck_assert_int_eq(w->r.n, 1);
	/* In flight completes while paused; nothing new goes. */
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 1);
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 0);
	/* Paused for 500 ms: its end is a deadline, then all goes. */
	ck_assert_int_eq(dispatch_schedule(&w->d, 1500, 0, 0, 0, 0), 0);
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
	ck_assert_uint_eq(when, 1500);
	w->d.now = 1499;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 1);
	w->d.now = 1500;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 3);
	ck_assert_int_eq(w->d.held, 0);

	/* 5 a second, from a full bucket. */
	ck_assert_int_eq(dispatch_schedule(&w->d, 0, 5, 1000, 0, 0), 0);
	for (i = 0; i < 20; i++)
		ENQ(w, "r");
	ck_assert_int_eq(w->r.n, 8);
	ck_assert_int_eq(w->d.throttled, 1);
	ck_assert_uint_eq(w->d.queue.count, 15);
	/* One event every 200 ms. */
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
	ck_assert_uint_eq(when, 1700);
	w->d.now = 1699;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 8);
	w->d.now = 1700;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 9);
	/* Idle long: the bucket holds 5, no more. */
	w->d.now = 60000;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 14);
	/* No limit: the rest at once. */
	ck_assert_int_eq(dispatch_schedule(&w->d, 0, 0, 0, 0, 0), 0);
	ck_assert_ptr_null(w->d.sched);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 23);
	ck_assert_int_eq(w->d.throttled, 0);
	/* A NACK_LATER on a queue with no clock of its own: one for it. */
	ck_assert_int_eq(dispatch_nack_later(&w->d, &w->c[0], w->r.id[22],
	    100), DISPATCH_DONE);
	ck_assert_ptr_nonnull(w->d.sched);
	ck_assert_uint_eq(w->d.delayed, 1);
	w->d.now += 100;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 24);
	ck_assert_ptr_null(w->d.sched);
	world_free(w);
}
END_TEST

/*
 * Retries back off: a NACK or an ack timeout holds the event back for
 * base × 2^(attempt-1), at most max, give or take 20 %; a NACK that says
 * when overrides it; held back, a keyed event keeps its key busy; a
 * purge takes what is held back.
 */
START_TEST(retries_back_off)
{
	struct world	*w = world_new();
	uint64_t	 when;
	int		 i;

	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_KEY, 0), 0);
	w->p.max_attempts = 10;
	w->d.now = 10000;
	ck_assert_int_eq(dispatch_schedule(&w->d, 0, 0, 0, 100, 1000), 0);
	attach_acks(w, 0, 10);
	demand(w, 0, 10);
	push_key(w, "k", "k1");
	push_key(w, "k", "k2");
	ck_assert_int_eq(w->r.n, 1);
	/* Attempt 1 failed: about 100 ms; k2 waits behind k1 meanwhile. */
	ck_assert_int_eq(answer(w, 0, 1, PS_NACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 1);
	ck_assert_uint_eq(w->d.delayed, 1);
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
	ck_assert(when >= 10080 && when <= 10120);
	w->d.now = when;
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 2);
	ck_assert_str_eq(w->r.data[1], "k1");
	ck_assert_uint_eq(w->r.attempt[1], 2);
	/* Then about 200, 400, 800, 1000, 1000 ms. */
	for (i = 2; i <= 6; i++) {
		uint64_t	 base = i < 5 ? 100u << (i - 1) : 1000;

		ck_assert_int_eq(answer(w, 0, 1, PS_NACK), DISPATCH_DONE);
		ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
		ck_assert(when - w->d.now >= base * 4 / 5 &&
		    when - w->d.now <= base * 6 / 5);
		w->d.now = when;
		dispatch_run(&w->d);
		ck_assert_uint_eq(w->r.attempt[w->r.n - 1], (uint32_t)i + 1);
	}
	/* A NACK that says 0 goes at once; one that says 5 s, then. */
	ck_assert_int_eq(dispatch_nack_later(&w->d, &w->c[0], 1, 0),
	    DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_str_eq(w->r.data[w->r.n - 1], "k1");
	ck_assert_int_eq(dispatch_nack_later(&w->d, &w->c[0], 1, 5000),
	    DISPATCH_DONE);
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
	ck_assert_uint_eq(when, w->d.now + 5000);
	ck_assert_uint_eq(w->d.counts.retries_scheduled_total, 7);
	/* A purge takes it, and k2 behind it. */
	ck_assert_uint_eq(dispatch_purge(&w->d), 2);
	ck_assert_uint_eq(w->d.delayed, 0);
	ck_assert_uint_eq(w->d.keys.nwaiting, 0);
	world_free(w);
}
END_TEST

static void
count_walk(void *arg, const struct qevent *ev, uint64_t due)
{
	(void)ev;
	(void)due;
	(*(int *)arg)++;
}

/*
 * Cancel in each state: in flight (marked, its consumer named, its NACK
 * then ends it), behind its key, waiting to retry (its key freed), and
 * buffered (skipped when read, and by the walk compaction makes); a
 * second cancel of one in flight says so; what is gone is unknown.
 */
START_TEST(cancel_in_each_state)
{
	struct world		*w = world_new();
	struct dconsumer	*dc;
	struct djob		 j;
	int			 n = 0;

	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_KEY, 0), 0);
	w->d.now = 10000;
	ck_assert_int_eq(dispatch_schedule(&w->d, 0, 0, 0, 1000, 10000), 0);
	attach_acks(w, 0, 10);
	demand(w, 0, 2);
	push_key(w, "k", "k1");		/* 1: in flight */
	push_key(w, "k", "k2");		/* 2: behind k1 */
	push_key(w, "j", "j1");		/* 3: in flight, then to retry */
	push_key(w, NULL, "p1");	/* 4: buffered (no demand left) */
	ck_assert_int_eq(answer(w, 0, 3, PS_NACK), DISPATCH_DONE);
	ck_assert_int_eq(dispatch_find(&w->d, 1, &j), DJOB_IN_FLIGHT);
	ck_assert_int_eq(dispatch_find(&w->d, 2, &j), DJOB_KEY_WAIT);
	ck_assert_int_eq(dispatch_find(&w->d, 3, &j), DJOB_RETRY_WAIT);
	ck_assert_int_eq(dispatch_find(&w->d, 4, &j), DJOB_QUEUED);

	ck_assert_int_eq(dispatch_cancel(&w->d, 1, &dc), DJOB_IN_FLIGHT);
	ck_assert_ptr_eq(dc, &w->c[0]);
	ck_assert_int_eq(dispatch_find(&w->d, 1, &j), DJOB_CANCELLED);
	ck_assert_int_eq(dispatch_cancel(&w->d, 1, &dc), DJOB_CANCELLED);
	ck_assert_ptr_null(dc);
	ck_assert_int_eq(dispatch_cancel(&w->d, 2, &dc), DJOB_KEY_WAIT);
	ck_assert_uint_eq(w->d.keys.nwaiting, 0);
	ck_assert_int_eq(dispatch_cancel(&w->d, 3, &dc), DJOB_RETRY_WAIT);
	ck_assert_uint_eq(w->d.delayed, 0);
	ck_assert_int_eq(dispatch_cancel(&w->d, 4, &dc), DJOB_QUEUED);
	ck_assert_uint_eq(w->d.queue.count, 0);
	ck_assert_int_eq(dispatch_find(&w->d, 4, &j), DJOB_UNKNOWN);
	ck_assert_int_eq(dispatch_cancel(&w->d, 4, &dc), DJOB_UNKNOWN);
	ck_assert_int_eq(dispatch_cancel(&w->d, 99, &dc), DJOB_UNKNOWN);
	ck_assert_uint_eq(w->d.counts.cancelled_total, 4);
	/* 1 is in flight until answered, but done with for compaction. */
	dispatch_walk(&w->d, count_walk, &n);
	ck_assert_int_eq(n, 0);

	/* Its NACK ends it: not sent again, its key free for k3. */
	ck_assert_int_eq(answer(w, 0, 1, PS_NACK), DISPATCH_DONE);
	ck_assert_uint_eq(w->d.in_flight, 0);
	ck_assert_uint_eq(w->d.delayed, 0);
	demand(w, 0, 5);
	ck_assert_int_eq(w->r.n, 2);	/* k1 and j1 once each */
	push_key(w, "k", "k3");
	push_key(w, NULL, "p2");
	ck_assert_int_eq(w->r.n, 4);
	ck_assert_str_eq(w->r.data[2], "k3");
	ck_assert_str_eq(w->r.data[3], "p2");
	ck_assert_uint_eq(w->d.counts.redelivered_total, 0);
	ck_assert_uint_eq(w->d.counts.cancelled_total, 4);
	n = 0;
	dispatch_walk(&w->d, count_walk, &n);
	ck_assert_int_eq(n, 2);
	world_free(w);
}
END_TEST

/*
 * Key order when an event given back ahead of its key's waiting events
 * is cancelled: the first of them goes next, not a later event of the
 * key (the crash loop found one passing them).
 */
START_TEST(cancel_keeps_key_order)
{
	struct world		*w = world_new();
	struct dconsumer	*dc;

	ck_assert_int_eq(dispatch_set_mode(&w->d, DISPATCH_KEY, 0), 0);
	attach_acks(w, 0, 5);
	demand(w, 0, 5);
	push_key(w, "k", "a");		/* 1: in flight */
	push_key(w, "k", "b");		/* 2: waits behind 1 */
	ck_assert_int_eq(w->r.n, 1);
	detach(w, 0);			/* 1 back, ahead of 2 */
	ck_assert_int_eq(dispatch_cancel(&w->d, 1, &dc), DJOB_QUEUED);
	push_key(w, "k", "c");		/* 3 */
	attach_acks(w, 1, 5);
	demand(w, 1, 5);
	ck_assert_int_eq(w->r.n, 2);
	ck_assert_str_eq(w->r.data[1], "b");
	ck_assert_int_eq(answer(w, 1, 2, PS_ACK), DISPATCH_DONE);
	dispatch_run(&w->d);
	ck_assert_int_eq(w->r.n, 3);
	ck_assert_str_eq(w->r.data[2], "c");
	world_free(w);
}
END_TEST

/*
 * A cancelled event in flight that times out, or whose consumer goes,
 * is not sent again either; its ACK is taken as any.
 */
START_TEST(cancelled_in_flight_ends_every_way)
{
	struct world		*w = world_new();
	struct dconsumer	*dc;

	w->p.ack_timeout = 100;
	w->d.now = 1000;
	attach_acks(w, 0, 3);
	attach_acks(w, 1, 3);
	demand(w, 0, 3);
	push_key(w, NULL, "a");
	push_key(w, NULL, "b");
	push_key(w, NULL, "c");
	ck_assert_int_eq(w->r.n, 3);
	ck_assert_int_eq(dispatch_cancel(&w->d, 1, &dc), DJOB_IN_FLIGHT);
	ck_assert_int_eq(dispatch_cancel(&w->d, 2, &dc), DJOB_IN_FLIGHT);
	ck_assert_int_eq(dispatch_cancel(&w->d, 3, &dc), DJOB_IN_FLIGHT);
	ck_assert_int_eq(answer(w, 0, 1, PS_ACK), DISPATCH_DONE);
	w->d.now = 1200;
	ck_assert_int_eq(dispatch_expire(&w->d), 3 - 1);
	ck_assert_uint_eq(w->d.in_flight, 0);
	demand(w, 1, 3);
	ck_assert_int_eq(w->r.n, 3);
	ck_assert_uint_eq(w->d.ndead, 0);
	ck_assert_uint_eq(w->d.counts.acked_total, 1);
	/* And one whose consumer goes. */
	push_key(w, NULL, "d");
	ck_assert_int_eq(w->r.n, 4);
	ck_assert_int_eq(dispatch_cancel(&w->d, 4, &dc), DJOB_IN_FLIGHT);
	ck_assert_ptr_eq(dc, &w->c[1]);
	detach(w, 1);
	demand(w, 0, 3);
	ck_assert_int_eq(w->r.n, 4);
	ck_assert_uint_eq(w->d.queue.count, 0);
	world_free(w);
}
END_TEST

struct ends {
	int		 n;
	uint64_t	 id[8];
	uint8_t		 state[8];
	char		 data[8][32];
};

static void
record_end(void *arg, struct dispatch *d, const struct dispatch_end *e)
{
	struct ends	*x = arg;

	(void)d;
	ck_assert_int_lt(x->n, 8);
	x->id[x->n] = e->id;
	x->state[x->n] = e->state;
	ck_assert_uint_lt(e->len, sizeof x->data[0]);
	if (e->len != 0)
		memcpy(x->data[x->n], e->data, e->len);
	x->data[x->n][e->len] = '\0';
	x->n++;
}

/*
 * keep-done: an ACK's result is kept with the event's record (found as
 * done), within keep-done-bytes, until keep-done passes; those waiting
 * hear of each end: done with its result, dead with its last error,
 * cancelled; nothing is told while none waits.
 */
START_TEST(results_kept_and_ends_told)
{
	struct world		*w = world_new();
	struct dconsumer	*dc;
	struct ends		 x;
	struct djob		 j;
	uint64_t		 when;

	memset(&x, 0, sizeof x);
	w->p.keep_done = 1000;
	w->p.keep_done_bytes = 2 * KEPT_HEAD + 40;
	w->p.max_attempts = 1;
	w->d.now = 5000;
	w->d.end = record_end;
	w->d.end_arg = &x;
	attach_acks(w, 0, 10);
	demand(w, 0, 10);
	push_key(w, NULL, "a");
	push_key(w, NULL, "b");
	push_key(w, NULL, "c");
	push_key(w, NULL, "d");
	ck_assert_int_eq(dispatch_ack_result(&w->d, &w->c[0], 1, "r1", 2),
	    DISPATCH_DONE);
	ck_assert_int_eq(x.n, 0);		/* none waits */
	w->d.nwaits = 1;
	ck_assert_int_eq(dispatch_ack_result(&w->d, &w->c[0], 2, "r2", 2),
	    DISPATCH_DONE);
	ck_assert_int_eq(dispatch_nack_error(&w->d, &w->c[0], 3, 0, "boom", 4),
	    DISPATCH_DONE);
	ck_assert_int_eq(dispatch_cancel(&w->d, 4, &dc), DJOB_IN_FLIGHT);
	ck_assert_int_eq(x.n, 3);
	ck_assert_uint_eq(x.id[0], 2);
	ck_assert_int_eq(x.state[0], DJOB_DONE);
	ck_assert_str_eq(x.data[0], "r2");
	ck_assert_int_eq(x.state[1], DJOB_DEAD);
	ck_assert_str_eq(x.data[1], "boom");
	ck_assert_int_eq(x.state[2], DJOB_CANCELLED);	/* in flight */
	/* Both kept, results and all; found as done. */
	ck_assert_uint_eq(w->d.kept.n, 2);
	ck_assert_uint_eq(w->d.kept.bytes, 2 * (KEPT_HEAD + 8));	/* to 8 */
	ck_assert_int_eq(dispatch_find(&w->d, 1, &j), DJOB_DONE);
	ck_assert_uint_eq(j.done->len, 2);
	ck_assert_mem_eq(j.done->result, "r1", 2);
	ck_assert_uint_eq(j.at, 5000);
	ck_assert_uint_eq(j.ev.attempts, 1);
	/* A third of 17 bytes (64 in all): the oldest goes to make room. */
	w->d.now = 5500;
	push_key(w, NULL, "e");
	ck_assert_int_eq(dispatch_ack_result(&w->d, &w->c[0], 5,
	    "seventeen bytes!!", 17), DISPATCH_DONE);
	ck_assert_int_eq(dispatch_find(&w->d, 1, &j), DJOB_UNKNOWN);
	ck_assert_int_eq(dispatch_find(&w->d, 2, &j), DJOB_DONE);
	ck_assert_uint_le(w->d.kept.bytes, w->p.keep_done_bytes);
	/* keep-done passes: 2 at 6000, 5 at 6500. */
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 1);
	ck_assert_uint_eq(when, 6000);
	w->d.now = 6000;
	dispatch_expire(&w->d);
	ck_assert_int_eq(dispatch_find(&w->d, 2, &j), DJOB_UNKNOWN);
	ck_assert_int_eq(dispatch_find(&w->d, 5, &j), DJOB_DONE);
	/* keep-done set to 0: every record goes at once. */
	w->p.keep_done = 0;
	dispatch_expire(&w->d);
	ck_assert_uint_eq(w->d.kept.n, 0);
	ck_assert_uint_eq(w->d.kept.bytes, 0);
	ck_assert_int_eq(dispatch_next_deadline(&w->d, &when), 0);
	w->d.nwaits = 0;
	world_free(w);
}
END_TEST

static void
count_gone(void *arg, struct kdone *e)
{
	(void)e;
	(*(int *)arg)++;
}

/*
 * Kept records laid end to end: over many chunks and one larger than a
 * chunk, found by id, walked oldest first, gone from the front (too old,
 * or to make room), each told.
 */
START_TEST(kept_records_over_chunks)
{
	static char		 big[KEPT_CHUNK + 100];
	struct kept		 k;
	const struct kdone	*e;
	struct kdone		*out;
	uint64_t		 i, n, at;
	int			 gone = 0;

	kept_init(&k);
	k.gone = count_gone;
	k.arg = &gone;
	for (i = 1; i <= 10000; i++)
		ck_assert_int_eq(kept_add(&k, i, 1000 + i, 1, &i, sizeof i, 0,
		    &out), 0);
	ck_assert_int_eq(kept_add(&k, 5, 9, 1, "x", 1, 0, &out), 1);
	ck_assert_uint_eq(k.n, 10000);
	ck_assert_uint_eq(k.bytes, 10000 * (KEPT_HEAD + 8));
	memset(big, 'b', sizeof big);
	ck_assert_int_eq(kept_add(&k, 10001, 20000, 2, big, sizeof big, 0,
	    &out), 0);
	ck_assert_ptr_nonnull(e = kept_find(&k, 7777));
	ck_assert_uint_eq(e->at, 1000 + 7777);
	ck_assert_mem_eq(e->result, &(uint64_t){ 7777 }, 8);
	ck_assert_ptr_nonnull(e = kept_find(&k, 10001));
	ck_assert_uint_eq(e->len, sizeof big);
	for (n = 0, e = kept_each(&k, NULL); e != NULL; e = kept_each(&k, e))
		ck_assert_uint_eq(e->id, ++n);
	ck_assert_uint_eq(n, 10001);
	/* Too old: the first 6000, across chunks. */
	ck_assert_uint_eq(kept_expire(&k, 1000 + 6000), 6000);
	ck_assert_int_eq(gone, 6000);
	ck_assert_ptr_null(kept_find(&k, 6000));
	ck_assert_int_eq(kept_next(&k, &at), 1);
	ck_assert_uint_eq(at, 1000 + 6001);
	/*
	 * Room for a record of 144 bytes (100 of result) within 96 bytes
	 * less than now: five of 48 go, 6001 to 6005.
	 */
	ck_assert_int_eq(kept_add(&k, 10002, 30000, 1, big, 100,
	    k.bytes - 2 * (KEPT_HEAD + 8), &out), 0);
	ck_assert_ptr_null(kept_find(&k, 6005));
	ck_assert_ptr_nonnull(kept_find(&k, 6006));
	ck_assert_int_eq(gone, 6005);
	n = k.n;
	ck_assert_uint_eq(kept_expire(&k, UINT64_MAX), n);
	ck_assert_uint_eq(k.n, 0);
	ck_assert_uint_eq(k.bytes, 0);
	ck_assert_ptr_null(kept_each(&k, NULL));
	/* Room made by every record of the one chunk going: it starts again. */
	for (i = 1; i <= 3; i++)
		ck_assert_int_eq(kept_add(&k, 20000 + i, 40000, 1, "ab", 2, 0,
		    &out), 0);
	ck_assert_int_eq(kept_add(&k, 20004, 40001, 1, "abcdefgh", 8,
	    KEPT_HEAD + 8, &out), 0);
	ck_assert_uint_eq(k.n, 1);
	ck_assert_ptr_nonnull(e = kept_find(&k, 20004));
	ck_assert_mem_eq(e->result, "abcdefgh", 8);
	ck_assert_ptr_eq(kept_each(&k, NULL), e);
	ck_assert_ptr_null(kept_each(&k, e));
	kept_free(&k);
}
END_TEST

/*
 * A page of buffered events (JOBS): the lowest ids over the cursor, over
 * many chunks; by key; a dead letter retried (its old id at the log's
 * end) comes in its place by id; a cancelled one is not listed.
 */
START_TEST(pages_of_buffered_events)
{
	struct world		*w = world_new();
	struct dlist_ask	 a;
	struct dconsumer	*dc;
	struct djob		 v[10];
	char			 p[16];
	int			 i, more;
	uint32_t		 n;

	w->p.max_attempts = 1;
	attach_acks(w, 0, 1);
	demand(w, 0, 1);
	for (i = 1; i <= 20000; i++) {
		snprintf(p, sizeof p, "e%d", i);
		push_key(w, i % 2 ? "odd" : "even", p);
	}
	/* 1 dies, and is retried: back in the buffer, last in line. */
	ck_assert_int_eq(answer(w, 0, 1, PS_NACK), DISPATCH_DONE);
	ck_assert_int_eq(dispatch_dead_retry(&w->d, dispatch_dead_find(&w->d,
	    1)), 0);
	ck_assert_int_eq(dispatch_cancel(&w->d, 5, &dc), DJOB_QUEUED);
	memset(&a, 0, sizeof a);
	a.state = DJOB_QUEUED;
	a.limit = 10;
	a.klen = -1;
	n = dispatch_list(&w->d, &a, v, &more);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(more, 1);
	/* 1 retried, in its place by id; 5 is cancelled. */
	ck_assert_uint_eq(v[0].ev.id, 1);
	ck_assert_uint_eq(v[1].ev.id, 2);
	ck_assert_uint_eq(v[3].ev.id, 4);
	ck_assert_uint_eq(v[4].ev.id, 6);
	ck_assert_int_eq(v[4].state, DJOB_QUEUED);
	ck_assert_mem_eq(v[4].ev.data, "e6", 2);
	a.after = 15000;
	n = dispatch_list(&w->d, &a, v, &more);
	ck_assert_uint_eq(v[0].ev.id, 15001);
	ck_assert_uint_eq(v[9].ev.id, 15010);
	a.after = 19995;
	n = dispatch_list(&w->d, &a, v, &more);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(more, 0);
	/* One key's. */
	a.after = 0;
	a.key = (const uint8_t *)"even";
	a.klen = 4;
	n = dispatch_list(&w->d, &a, v, &more);
	ck_assert_uint_eq(v[0].ev.id, 2);
	ck_assert_uint_eq(v[1].ev.id, 4);
	ck_assert_uint_eq(v[2].ev.id, 6);
	/* None in flight now; none dead (1 was retried). */
	a.klen = -1;
	a.state = DJOB_IN_FLIGHT;
	ck_assert_uint_eq(dispatch_list(&w->d, &a, v, &more), 0);
	a.state = DJOB_DEAD;
	ck_assert_uint_eq(dispatch_list(&w->d, &a, v, &more), 0);
	world_free(w);
}
END_TEST

/*
 * The overflow rule's "served at once" holds with a backoff (nothing
 * waits on the clock), not with a rate or a pause: then the limits count.
 */
START_TEST(served_at_once_and_the_clock)
{
	struct world		*w = world_new();
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_buf		 pb = { 0 };
	int			 rc;

	w->p.max_queue = 2;
	attach(w, 0, 100);
	demand(w, 0, 100);
	ck_assert_int_eq(dispatch_schedule(&w->d, 0, 0, 0, 100, 1000), 0);
	OFFER(w, &r, "a", "b", "c", "d", "e");
	ck_assert_int_eq(rc, DISPATCH_TAKEN);
	REPLY(&r, 1, 5, 0, 0, 0);
	ck_assert_int_eq(w->r.n, 5);
	/* A rate of 1 a second: one goes, two fit, two are refused. */
	ck_assert_int_eq(dispatch_schedule(&w->d, 0, 1, 1000, 0, 0), 0);
	OFFER(w, &r, "f", "g", "h", "i", "j");
	REPLY(&r, 6, 2, 3, 0, 0);
	ck_assert_int_eq(w->r.n, 6);
	ck_assert_uint_eq(w->d.queue.count, 1);
	free(pb.data);
	world_free(w);
}
END_TEST

static Suite *
dispatch_suite(void)
{
	Suite	*s = suite_create("dispatch");
	TCase	*tc = tcase_create("dispatch");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */

	tcase_add_test(tc, stored_demand_takes_the_next_enqueue_at_once);
	tcase_add_test(tc, events_wait_for_demand_and_go_out_in_order);
	tcase_add_test(tc,
	    batch_larger_than_all_demand_leaves_the_rest_in_order);
	tcase_add_test(tc, demand_dispatcher_example);
	tcase_add_test(tc, largest_demand_goes_first);
	tcase_add_test(tc, max_demand_one_consumers_take_turns);
	tcase_add_test(tc, demand_over_max_is_refused_and_changes_nothing);
	tcase_add_test(tc, a_departed_consumer_strands_nothing);
	tcase_add_test(tc, in_flight_follows_the_demand_window);
	tcase_add_test(tc, random_operations_keep_every_invariant);
	suite_add_tcase(s, tc);
	tc = tcase_create("acks");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */
	tcase_add_test(tc,
	    acked_events_leave_flight_and_unknown_ids_are_refused);
	tcase_add_test(tc,
	    a_departed_consumers_events_come_back_first_in_order);
	tcase_add_test(tc, nack_redelivers_then_buries_then_retry_and_drop);
	tcase_add_test(tc, hand_back_gives_events_back_and_keeps_no_dead_letter);
	tcase_add_test(tc,
	    ack_timeout_takes_back_touch_keeps_late_ack_is_counted);
	tcase_add_test(tc, unacked_events_cap_what_a_consumer_is_sent);
	tcase_add_test(tc, paused_sends_nothing);
	tcase_add_test(tc, pause_and_rate);
	tcase_add_test(tc, retries_back_off);
	tcase_add_test(tc, cancel_in_each_state);
	tcase_add_test(tc, cancelled_in_flight_ends_every_way);
	tcase_add_test(tc, cancel_keeps_key_order);
	tcase_add_test(tc, results_kept_and_ends_told);
	tcase_add_test(tc, pages_of_buffered_events);
	tcase_add_test(tc, kept_records_over_chunks);
	tcase_add_test(tc, served_at_once_and_the_clock);
	suite_add_tcase(s, tc);
	tc = tcase_create("overflow");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */
	tcase_add_test(tc, overflow_follows_each_policy);
	tcase_add_test(tc, overflow_serves_demand_first);
	tcase_add_test(tc, overflow_block_holds_the_rest);
	tcase_add_test(tc, drop_oldest_reaches_events_set_aside);
	tcase_add_test(tc, delays_in_due_order);
	tcase_add_test(tc, priorities_first);
	tcase_add_test(tc, unique_ids);
	tcase_add_test(tc, delays_reach_every_group);
	suite_add_tcase(s, tc);
	tc = tcase_create("queue");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */
	tcase_add_test(tc, queue_keeps_order_across_chunks);
	tcase_add_test(tc, queue_store_shared);
	tcase_add_test(tc, queue_log_readers);
	tcase_add_test(tc, groups_share_one_log);
	tcase_add_test(tc, key_order);
	tcase_add_test(tc, partition_mode);
	tcase_add_test(tc, partition_mode_random);
	tcase_add_test(tc, partition_doc_example);
	tcase_add_test(tc, queue_compact_and_full_records);
	tcase_add_test(tc, latency_and_histograms_follow_the_clock);
	tcase_add_test(tc, failures_are_kept_with_the_event);
	tcase_add_test(tc, nack_error_rejects_at_once);
	tcase_add_test(tc, task_table_is_bounded);
	tcase_add_test(tc, task_counts_follow_the_events);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(dispatch_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
