/*
 * roundtrip.c: libpushstage from both ends.  Enqueues N events in
 * batches (one ENQUEUE frame each, as many events as a frame holds), then
 * takes them back as a consumer with demand 10 (topped up at
 * 5), acks each, and prints the daemon's queue depth at the end.
 *
 *	cc roundtrip.c $(pkg-config --cflags --libs libpushstage)
 *	./a.out [SOCKET [N]]
 *
 * Exits 0 when every event came back, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pushstage.h>

static int
fail(struct pushstage *p, const char *what)
{
	fprintf(stderr, "roundtrip: %s: %s\n", what, pushstage_error(p));
	pushstage_free(p);
	return 1;
}

/*
 * Send the batch; every event must be taken (a full queue refuses some).
 * On failure, say why and free p.
 */
static int
send_batch(struct pushstage *p, uint64_t *first, long *taken)
{
	struct pushstage_enqueued	 r;

	if (pushstage_send(p, &r) != 0)
		return fail(p, "send");
	if (r.refused != 0) {
		fprintf(stderr, "roundtrip: producerd's queue is full: it "
		    "refused %u events\n", r.refused);
		pushstage_free(p);
		return 1;
	}
	if (*taken == 0)
		*first = r.first_id;
	*taken += r.accepted;
	return 0;
}

int
main(int argc, char **argv)
{
	const struct pushstage_stats	*st;
	struct pushstage_event		 ev;
	struct pushstage		*client, *consumer;
	const char			*path = argc > 1 ? argv[1] : NULL;
	char				 text[32];
	uint64_t			 first = 0, queued;
	uint32_t			 ask;
	long				 i, n = argc > 2 ? atol(argv[2]) : 10;
	long				 taken = 0;
	int				 len, r;

	if (path != NULL && (strcmp(path, "-h") == 0 ||
	    strcmp(path, "--help") == 0)) {
		printf("usage: roundtrip [SOCKET [N (1-100000)]]\n");
		return 0;
	}
	if (n < 1 || n > 100000) {
		fprintf(stderr, "usage: roundtrip [SOCKET [N (1-100000)]]\n");
		return 1;
	}

	/*
	 * A client: events go into a batch; when the next does not fit
	 * (PUSHSTAGE_ETOOBIG with events in the batch), send, then add it.
	 */
	if ((client = pushstage_new()) == NULL)
		return 1;
	if (pushstage_connect(client, path, "roundtrip") != 0)
		return fail(client, "connect");
	for (i = 1; i <= n; i++) {
		len = snprintf(text, sizeof text, "event %ld", i);
		r = pushstage_add(client, text, (size_t)len);
		if (r == PUSHSTAGE_ETOOBIG && pushstage_batch_count(client)) {
			if (send_batch(client, &first, &taken) != 0)
				return 1;
			r = pushstage_add(client, text, (size_t)len);
		}
		if (r != 0)
			return fail(client, "add");
	}
	if (send_batch(client, &first, &taken) != 0)
		return 1;
	printf("enqueued %ld events, ids %llu-%llu\n", taken,
	    (unsigned long long)first,
	    (unsigned long long)(first + (uint64_t)taken - 1));

	/* A consumer: ask for 10, take each event, ack it, ask again. */
	if ((consumer = pushstage_new()) == NULL)
		return 1;
	if (pushstage_connect_consumer(consumer, path, "roundtrip", 10, 5) != 0)
		return fail(consumer, "connect as a consumer");
	if (pushstage_demand(consumer, 10) != 0 ||
	    pushstage_flush(consumer) != 0)
		return fail(consumer, "demand");
	for (i = 0; i < n; i++) {
		if (pushstage_next_event(consumer, &ev) != 0)
			return fail(consumer, "next event");
		printf("got %llu: %.*s\n", (unsigned long long)ev.id,
		    (int)ev.len, (const char *)ev.data);
		if (pushstage_acks(consumer) &&
		    pushstage_ack(consumer, &ev.id, 1) != 0)
			return fail(consumer, "ack");
		if ((ask = pushstage_done(consumer)) != 0 &&
		    pushstage_demand(consumer, ask) != 0)
			return fail(consumer, "demand");
		if (pushstage_flush(consumer) != 0)
			return fail(consumer, "flush");
	}
	pushstage_free(consumer);

	if (pushstage_stats(client, &st) != 0)
		return fail(client, "stats");
	if (pushstage_stat(st->counters, st->ncounters, "queued",
	    &queued) == 0)
		printf("queued now: %llu\n", (unsigned long long)queued);
	pushstage_free(client);
	return 0;
}
