/* stats.c: the daemon's counters as a STATS_REPLY frame. */
#include <string.h>
#include <time.h>

#include "producerd.h"

/* The largest one consumer's entry can be: id, and its 1..16-byte names. */
#define CONSUMER_FIELDS		8
#define CONSUMER_ENTRY_MAX	(2 + PS_NAME_MAX + CONSUMER_FIELDS * (1 + 16 + 8))
/* The texts after the consumers: "upstream" and "map", at their longest. */
#define TEXTS_MAX		(2 + 2 * (3 + 8 + PS_STAT_TEXT_MAX))

int
stats_encode(struct server *srv, struct ps_buf *b, int version)
{
	struct dispatch	*d = &srv->dispatch;
	struct conn	*c;
	size_t		 start, at;
	uint16_t	 ncounters = 0, ntexts = 0;
	size_t		 texts;
	uint32_t	 nconsumers = 0;

#define COUNTER(name, value) do {					\
	if (ps_put_stat(b, name, value) != 0)				\
		return -1;						\
	ncounters++;							\
} while (0)
#define FIELD(name, value) do {						\
	if (ps_put_stat(b, name, value) != 0)				\
		return -1;						\
} while (0)

	if (ps_put_stats_begin(b, &start) != 0)
		return -1;
	COUNTER("queued", d->queue.count);
	COUNTER("queued_bytes", d->queue.bytes);
	COUNTER("enqueued_total", d->enqueued_total);
	COUNTER("delivered_total", d->delivered_total);
	COUNTER("consumers_connected", srv->nconsumers);
	COUNTER("clients_connected", srv->nclients);
	COUNTER("connections_total", srv->connections_total);
	COUNTER("protocol_errors_total", srv->protocol_errors_total);
	COUNTER("uptime_seconds", (uint64_t)(time(NULL) - srv->started));
	COUNTER("max_frame", srv->max_frame);
	COUNTER("in_flight", d->in_flight);
	COUNTER("acked_total", d->acked_total);
	COUNTER("nacked_total", d->nacked_total);
	COUNTER("redelivered_total", d->redelivered_total);
	COUNTER("timed_out_total", d->timed_out_total);
	COUNTER("late_acks_total", d->late_acks_total);
	COUNTER("dead", d->ndead);
	COUNTER("dead_total", d->dead_total);
	COUNTER("refused_total", srv->refused_total);
	COUNTER("max_queue", d->max_queue);
	COUNTER("max_queue_bytes", d->max_queue_bytes);
	COUNTER("shed_total", d->shed_total);
	COUNTER("rejected_total", d->rejected_total);
	COUNTER("blocked_clients", srv->nblocked);
	if (srv->up.path != NULL) {
		COUNTER("upstream_connected", (uint64_t)srv->up.connected);
		COUNTER("upstream_demand", srv->up.credit);
		COUNTER("upstream_received_total", srv->up.received_total);
		COUNTER("upstream_acked_total", srv->up.acked_total);
		COUNTER("upstream_nacked_total", srv->up.nacked_total);
	}
	if (srv->map.cmd != NULL) {
		COUNTER("map_pending", srv->map.npending);
		COUNTER("map_mapped_total", srv->map.mapped_total);
		COUNTER("map_dropped_total", srv->map.dropped_total);
		COUNTER("map_restarts_total", srv->map.restarts_total);
	}
	if (srv->data_dir != NULL) {
		COUNTER("journal_bytes", srv->journal.bytes);
		COUNTER("segments", srv->journal.nsegs);
		COUNTER("fsyncs_total", srv->journal.fsyncs_total);
		COUNTER("last_fsync_us", srv->journal.last_fsync_us);
		COUNTER("journal_replayed", srv->journal.replayed);
	}
	COUNTER("draining", (uint64_t)srv->draining);

	/* As many consumers as fit in one frame; "consumers" has them all. */
	if (ps_put_stats_consumers(b, &at) != 0)
		return -1;
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE)
			continue;
		if (b->len - start - PS_HDR_LEN + CONSUMER_ENTRY_MAX +
		    TEXTS_MAX > srv->max_frame)
			break;
		if (ps_put_stats_consumer(b, c->name, strlen(c->name),
		    CONSUMER_FIELDS) != 0)
			return -1;
		FIELD("demand", c->dc.demand);
		FIELD("in_flight", dispatch_in_flight(&c->dc));
		FIELD("delivered", c->dc.delivered);
		FIELD("max_demand", c->dc.max_demand);
		FIELD("min_demand", c->dc.min_demand);
		FIELD("pid", c->pid < 0 ? 0 : (uint64_t)c->pid);
		FIELD("uid", c->uid == (uid_t)-1 ? UINT32_MAX :
		    (uint64_t)c->uid);
		FIELD("connected_since", c->since < 0 ? 0 : (uint64_t)c->since);
		nconsumers++;
	}
	ps_put_stats_end(b, start, ncounters, at, nconsumers);
	if (version < 2)
		return 0;
	if (ps_put_stats_texts(b, &texts) != 0)
		return -1;
	if (srv->up.path != NULL) {
		if (ps_put_stat_text(b, "upstream", srv->up.path) != 0)
			return -1;
		ntexts++;
	}
	if (srv->map.cmd != NULL) {
		if (ps_put_stat_text(b, "map", srv->map.cmd) != 0)
			return -1;
		ntexts++;
	}
	ps_put_stats_texts_end(b, start, texts, ntexts);
	return 0;
#undef COUNTER
#undef FIELD
}
