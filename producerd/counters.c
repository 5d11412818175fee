/*
 * counters.c: the table of every counter (counters.h).  Rows are in the
 * order STATS_REPLY has always sent them; new ones go at the end of their
 * part.  A counter that is not a plain field (uptime, a group's dead) has
 * size 0 and is computed in counter_value.
 */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "producerd.h"

#define F(field)	SCOPE_SERVER, offsetof(struct server, field), \
			sizeof(((struct server *)0)->field), SUM_GROUPS, NULL
#define Q(field)	SCOPE_QUEUE, offsetof(struct nqueue, field), \
			sizeof(((struct nqueue *)0)->field), SUM_GROUPS, NULL
#define G(field)	SCOPE_GROUP, offsetof(struct qgroup, field), \
			sizeof(((struct qgroup *)0)->field), SUM_GROUPS, NULL
#define E(field)	SCOPE_GROUP, offsetof(struct qgroup, field), \
			sizeof(((struct qgroup *)0)->field), SUM_QUEUES, NULL
#define COMPUTED	SCOPE_SERVER, 0, 0, SUM_GROUPS, NULL
#define GCOMPUTED(fn, sum)	SCOPE_GROUP, 0, 0, sum, fn

/* Dead letters, here or (a cluster's) in JetStream. */
static uint64_t
group_dead(const struct qgroup *g)
{
	return g->d.ndead + g->cluster_dead;
}

static uint64_t
group_latency(const struct qgroup *g)
{
	return dispatch_latency(&g->d);
}

const struct counter counters[] = {
	{ "queued", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Events buffered, waiting for demand.", G(d.queue.count) },
	{ "queued_bytes", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Payload bytes buffered.", G(d.queue.bytes) },
	{ "enqueued_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events accepted from clients.", E(d.counts.enqueued_total) },
	{ "delivered_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events sent to consumers, redeliveries included.",
	  G(d.counts.delivered_total) },
	{ "consumers_connected", "consumers", COUNTER_GAUGE, PART_ALWAYS,
	  "Consumers connected.", F(nconsumers) },
	{ "clients_connected", "clients", COUNTER_GAUGE, PART_ALWAYS,
	  "Clients connected.", F(nclients) },
	{ "connections_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Connections accepted.", F(connections_total) },
	{ "protocol_errors_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "ERROR frames sent.", F(protocol_errors_total) },
	{ "uptime_seconds", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Seconds since start.", COMPUTED },
	{ "max_frame", NULL, COUNTER_SETTING, PART_ALWAYS,
	  "The largest frame body taken (--max-frame).", F(max_frame) },
	{ "in_flight", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Events sent to consumers and not yet acked.",
	  G(d.in_flight) },
	{ "acked_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "ACKs taken.", G(d.counts.acked_total) },
	{ "nacked_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "NACKs taken.", G(d.counts.nacked_total) },
	{ "redelivered_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events put back to be sent again.",
	  G(d.counts.redelivered_total) },
	{ "timed_out_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events taken back after --ack-timeout.",
	  G(d.counts.timed_out_total) },
	{ "late_acks_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Answers to events already taken back: ignored.",
	  G(d.counts.late_acks_total) },
	{ "dead", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Events on the dead-letter list (in a cluster, JetStream's).",
	  GCOMPUTED(group_dead, SUM_GROUPS) },
	{ "dead_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events moved to the dead-letter list.", G(d.counts.dead_total) },
	{ "refused_total", "refused_connections_total", COUNTER_TOTAL,
	  PART_ALWAYS, "Connections refused at connect (drain, access, "
	  "limit).", F(refused_total) },
	{ "max_queue", NULL, COUNTER_SETTING, PART_ALWAYS,
	  "Events buffered at most (--max-queue; 0: no limit).",
	  Q(s.max_queue) },
	{ "max_queue_bytes", NULL, COUNTER_SETTING, PART_ALWAYS,
	  "Payload bytes buffered at most (--max-queue-bytes; 0: no "
	  "limit).", Q(s.max_queue_bytes) },
	{ "shed_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events dropped by --overflow drop-oldest or drop-newest.",
	  G(d.counts.shed_total) },
	{ "rejected_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events refused: --overflow reject, a drain, or the journal.",
	  E(d.counts.rejected_total) },
	{ "blocked_clients", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Clients waiting for room (--overflow block).", F(nblocked) },
	{ "upstream_connected", NULL, COUNTER_GAUGE, PART_UPSTREAM,
	  "1 while the link upstream is up.", F(up.connected) },
	{ "upstream_demand", NULL, COUNTER_GAUGE, PART_UPSTREAM,
	  "Events asked of upstream and not yet received.", F(up.credit) },
	{ "upstream_received_total", NULL, COUNTER_TOTAL, PART_UPSTREAM,
	  "Events received from upstream.", F(up.received_total) },
	{ "upstream_acked_total", NULL, COUNTER_TOTAL, PART_UPSTREAM,
	  "Events acked upstream.", F(up.acked_total) },
	{ "upstream_nacked_total", NULL, COUNTER_TOTAL, PART_UPSTREAM,
	  "Events nacked back upstream.", F(up.nacked_total) },
	{ "map_pending", NULL, COUNTER_GAUGE, PART_MAP,
	  "Events sent to --map and not yet answered.", F(map.npending) },
	{ "map_mapped_total", NULL, COUNTER_TOTAL, PART_MAP,
	  "Events --map answered.", F(map.mapped_total) },
	{ "map_dropped_total", NULL, COUNTER_TOTAL, PART_MAP,
	  "Events --map dropped (an empty answer).", F(map.dropped_total) },
	{ "map_restarts_total", NULL, COUNTER_TOTAL, PART_MAP,
	  "Times the --map process was started again.",
	  F(map.restarts_total) },
	{ "journal_bytes", NULL, COUNTER_GAUGE, PART_JOURNAL,
	  "Bytes in the journal's segments.", F(journal.bytes) },
	{ "segments", "journal_segments", COUNTER_GAUGE, PART_JOURNAL,
	  "Segment files in the journal.", F(journal.nsegs) },
	{ "fsyncs_total", "journal_fsyncs_total", COUNTER_TOTAL,
	  PART_JOURNAL, "fsyncs of the journal.", F(journal.fsyncs_total) },
	{ "last_fsync_us", "journal_last_fsync_us", COUNTER_GAUGE,
	  PART_JOURNAL, "How long the last fsync took, in microseconds.",
	  F(journal.last_fsync_us) },
	{ "journal_replayed", NULL, COUNTER_GAUGE, PART_JOURNAL,
	  "Events read back from the journal at start.",
	  F(journal.replayed) },
	{ "journal_full", NULL, COUNTER_GAUGE, PART_JOURNAL,
	  "1 while the journal's disk is full and ENQUEUEs are refused.",
	  F(journal.full) },
	{ "journal_full_total", NULL, COUNTER_TOTAL, PART_JOURNAL,
	  "Times the journal's disk filled.", F(journal.full_total) },
	{ "journal_reserve", NULL, COUNTER_SETTING, PART_JOURNAL,
	  "Bytes held back in DIR/reserve for when the disk fills.",
	  F(journal.reserve) },
	{ "journal_compacted_total", NULL, COUNTER_TOTAL, PART_JOURNAL,
	  "Events copied forward so that an old segment could go.",
	  F(journal.compacted_total) },
	{ "draining", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "1 while the daemon drains to stop.", F(draining) },
	{ "shed_connections_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Peers accepted and closed at once: out of descriptors.",
	  F(shed_connections_total) },
	{ "cluster_connected", NULL, COUNTER_GAUGE, PART_CLUSTER,
	  "1 while linked to NATS (--cluster).", F(cluster_connected) },
	{ "cluster_links_total", NULL, COUNTER_TOTAL, PART_CLUSTER,
	  "Times the link to NATS was made (1 + reconnects).",
	  F(cluster_links_total) },
	{ "cluster_published_total", NULL, COUNTER_TOTAL, PART_CLUSTER,
	  "Events stored in JetStream from ENQUEUEs here.",
	  F(cluster_published_total) },
	{ "cluster_pulled_total", NULL, COUNTER_TOTAL, PART_CLUSTER,
	  "Events pulled from JetStream for consumers here.",
	  F(cluster_pulled_total) },
	{ "metrics_connections", NULL, COUNTER_GAUGE, PART_METRICS,
	  "HTTP connections to --http now.", F(http_conns) },
	{ "queues", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Queues in the daemon.", F(nqueues) },
	{ "max_queues", NULL, COUNTER_SETTING, PART_ALWAYS,
	  "Queues at most (--max-queues).", F(max_queues) },
	{ "queues_created_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Queues made.", F(queues_created_total) },
	{ "queues_deleted_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Queues deleted.", F(queues_deleted_total) },
	{ "memory_bytes", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Payload bytes every queue together holds, as the chunks that "
	  "hold them count (and delayed events): what --max-memory bounds.",
	  F(store.bytes) },
	{ "max_memory", NULL, COUNTER_SETTING, PART_ALWAYS,
	  "Payload bytes every queue together holds at most (--max-memory; "
	  "0: no limit).", F(store.max) },
	{ "consumers", "queue_consumers", COUNTER_GAUGE, PART_QUEUE,
	  "Consumers subscribed to the queue (the group).", G(nconsumers) },
	{ "groups", "queue_groups", COUNTER_GAUGE, PART_QUEUE,
	  "Groups of consumers of the queue.", Q(ngroups) },
	{ "enqueue_rate", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Events enqueued in the last second.", G(enqueue_rate) },
	{ "deliver_rate", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Events delivered in the last second.", G(deliver_rate) },
	{ "blocked", "queue_blocked_clients", COUNTER_GAUGE, PART_QUEUE,
	  "Clients waiting for room in the queue.", Q(nblocked) },
	{ "ack_timeout_ms", NULL, COUNTER_SETTING, PART_QUEUE,
	  "The queue's ack timeout in ms (0: none).",
	  Q(policy.ack_timeout) },
	{ "max_attempts", NULL, COUNTER_SETTING, PART_QUEUE,
	  "Deliveries before an event dies.", Q(policy.max_attempts) },
	{ "at_least_once", NULL, COUNTER_SETTING, PART_QUEUE,
	  "1: consumers ack (at-least-once), 0: at-most-once.", Q(s.acks) },
	{ "dispatch", "dispatch_mode", COUNTER_SETTING, PART_QUEUE,
	  "The queue's dispatch: 0 demand, 1 key, 2 partition.",
	  Q(s.mode) },
	{ "key_waiting", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Events waiting behind an event of their key in flight.",
	  G(d.keys.nwaiting) },
	{ "keys_in_flight", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Keys with an event in flight, or waited on.", G(d.keys.n) },
	{ "partitions", NULL, COUNTER_SETTING, PART_QUEUE,
	  "The queue's partitions (dispatch partition:N), or 0.",
	  Q(s.partitions) },
	{ "partition_waiting", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Events waiting for a consumer of their partition to ask.",
	  G(d.parts_waiting) },
	{ "paused", "queue_paused", COUNTER_GAUGE, PART_QUEUE,
	  "1 while the queue is paused (pushctl queue pause).", G(d.held) },
	{ "throttled", "queue_throttled", COUNTER_GAUGE, PART_QUEUE,
	  "1 while the queue's rate holds events back.", G(d.throttled) },
	{ "delayed", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Events held back until their time: delayed when enqueued, or "
	  "retries backing off.", G(d.delayed) },
	{ "retries_scheduled_total", NULL, COUNTER_TOTAL, PART_QUEUE,
	  "Retries held back by a backoff or a NACK's delay.",
	  G(d.counts.retries_scheduled_total) },
	{ "duplicates_total", NULL, COUNTER_TOTAL, PART_QUEUE,
	  "Events not taken: their unique id was held.",
	  E(d.counts.duplicates_total) },
	{ "ack_rate", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Events acked in the last second.", G(ack_rate) },
	{ "latency_ms", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Age in ms of the oldest event ready to go (0: none), since it "
	  "was enqueued or fell due (a delay's or a retry's backoff ended); "
	  "the daemon's: the largest.", GCOMPUTED(group_latency, SUM_MAX) },
	{ "cancelled_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Events cancelled (pushctl job cancel): waiting, or in flight.",
	  G(d.counts.cancelled_total) },
	{ "keep_done_ms", NULL, COUNTER_SETTING, PART_QUEUE,
	  "How long a done event's record is kept (0: none).",
	  Q(policy.keep_done) },
	{ "keep_done_bytes", NULL, COUNTER_SETTING, PART_QUEUE,
	  "Those records' memory at most, each group's.",
	  Q(policy.keep_done_bytes) },
	{ "max_result", NULL, COUNTER_SETTING, PART_QUEUE,
	  "An ACK's result at most, in bytes.", Q(policy.max_result) },
	{ "done_kept", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Done events whose records are kept (keep-done).", G(d.kept.n) },
	{ "done_kept_bytes", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Their records' memory: results and 40 bytes each, to 8.",
	  G(d.kept.bytes) },
	{ "waits", NULL, COUNTER_GAUGE, PART_QUEUE,
	  "Clients waiting for one of its events to end (WAIT).",
	  G(d.nwaits) },
	{ "max_task_stats", NULL, COUNTER_SETTING, PART_QUEUE,
	  "Task names counted each in a row of its own (max-task-stats).",
	  Q(policy.max_task_stats) },
	{ "schedules", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Schedules defined (SCHEDULE).", F(sched.count) },
	{ "schedules_bytes", NULL, COUNTER_GAUGE, PART_ALWAYS,
	  "Their memory: definitions, events and progress.",
	  F(sched.bytes) },
	{ "schedule_fired_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Ticks whose event was enqueued.", F(sched.fired) },
	{ "schedule_skipped_total", NULL, COUNTER_TOTAL, PART_ALWAYS,
	  "Ticks not enqueued: missed, paused, unique, or not taken.",
	  F(sched.skipped) },
	{ "max_schedules", NULL, COUNTER_SETTING, PART_ALWAYS,
	  "Schedules at most (--max-schedules).", F(max_schedules) },
};
const size_t ncounters = sizeof counters / sizeof counters[0];

const struct consumer_counter consumer_counters[] = {
	{ "demand", "demand", COUNTER_GAUGE,
	  "Events a consumer may still be sent.", CF_DEMAND },
	{ "in_flight", "in_flight", COUNTER_GAUGE,
	  "Events sent to a consumer and not acked.", CF_IN_FLIGHT },
	{ "delivered", "delivered_total", COUNTER_TOTAL,
	  "Events sent to a consumer on this connection.", CF_DELIVERED },
	{ "max_demand", NULL, COUNTER_SETTING, NULL, CF_MAX_DEMAND },
	{ "min_demand", NULL, COUNTER_SETTING, NULL, CF_MIN_DEMAND },
	{ "pid", NULL, COUNTER_SETTING, NULL, CF_PID },
	{ "uid", NULL, COUNTER_SETTING, NULL, CF_UID },
	{ "connected_since", NULL, COUNTER_SETTING, NULL, CF_SINCE },
	{ "partition", NULL, COUNTER_SETTING, NULL, CF_PARTITION },
};
const size_t nconsumer_counters =
    sizeof consumer_counters / sizeof consumer_counters[0];

const struct hist_counter hist_counters[] = {
	{ "wait", "Time from when an event was enqueued (or fell due) to its "
	  "first delivery.", offsetof(struct qgroup, d.waited) },
	{ "handling", "Time from a delivery to its ACK.",
	  offsetof(struct qgroup, d.handled) },
};
const size_t nhist_counters = sizeof hist_counters / sizeof hist_counters[0];

#define T(field)	offsetof(struct task_row, field), 0
const struct task_counter task_counters[] = {
	{ "done", "task_done_total", COUNTER_TOTAL,
	  "Events of the task acked.", T(done) },
	{ "failed", "task_failed_total", COUNTER_TOTAL,
	  "Events of the task nacked or timed out.", T(failed) },
	{ "retried", "task_retried_total", COUNTER_TOTAL,
	  "Events of the task delivered again.", T(retried) },
	{ "dead", "task_dead_total", COUNTER_TOTAL,
	  "Events of the task moved to the dead-letter list.", T(dead) },
	{ "handling_p50_ms", NULL, COUNTER_GAUGE,
	  "Median time from a delivery to its ACK, ms.", 0, 50 },
	{ "handling_p90_ms", NULL, COUNTER_GAUGE,
	  "90th percentile of that time, ms.", 0, 90 },
	{ "handling_p99_ms", NULL, COUNTER_GAUGE,
	  "99th percentile of that time, ms.", 0, 99 },
};
const size_t ntask_counters = sizeof task_counters / sizeof task_counters[0];
const char task_hist_help[] = "Time from a delivery of an event of the "
    "task to its ACK.";

uint64_t
task_value(const struct task_row *r, const struct task_counter *k)
{
	uint64_t	 v;

	if (k->pct != 0)
		return tasks_quantile(r, k->pct);
	memcpy(&v, (const char *)r + k->off, sizeof v);
	return v;
}

/* Does a group's view (and so a queue's) show k? */
int
counter_of_group(const struct counter *k)
{
	return k->scope != SCOPE_SERVER;
}

int
counter_shown(const struct server *srv, const struct qgroup *g,
    const struct counter *k)
{
	if (g != NULL)
		return counter_of_group(k);
	switch (k->part) {
	case PART_QUEUE:
		return 0;
	case PART_UPSTREAM:
		return srv->up.path != NULL;
	case PART_MAP:
		return srv->map.cmd != NULL;
	case PART_JOURNAL:
		return srv->data_dir != NULL;
	case PART_METRICS:
		return srv->evhttp != NULL;
	case PART_CLUSTER:
		return srv->cluster_urls != NULL;
	default:
		return 1;
	}
}

static uint64_t
field(const char *p, size_t size)
{
	uint64_t	 v64;
	uint32_t	 v32;

	if (size == sizeof v64) {
		memcpy(&v64, p, sizeof v64);
		return v64;
	}
	memcpy(&v32, p, sizeof v32);
	return v32;
}

static uint64_t
group_value(const struct qgroup *g, const struct counter *k)
{
	if (k->size == 0)
		return k->fn(g);
	return field((const char *)g + k->off, k->size);
}

/*
 * k's value: of group g (and its queue), or of the daemon (g NULL): a
 * queue's counter summed over the queues, a group's as k->sum says, a
 * queue's setting the default every queue starts with.
 */
uint64_t
counter_value(const struct server *srv, const struct qgroup *g,
    const struct counter *k)
{
	const struct nqueue	*q;
	const struct qgroup	*each;
	uint64_t		 sum = 0, v;

	switch (k->scope) {
	case SCOPE_SERVER:
		if (k->size == 0)
			return (uint64_t)(time(NULL) - srv->started);
		return field((const char *)srv + k->off, k->size);
	case SCOPE_QUEUE:
		if (g != NULL)
			return field((const char *)g->q + k->off, k->size);
		/* A policy's setting (queue views only) has no default. */
		if (k->kind == COUNTER_SETTING &&
		    k->off >= offsetof(struct nqueue, s) &&
		    k->off < offsetof(struct nqueue, s) + sizeof srv->qdefault)
			return field((const char *)&srv->qdefault + k->off -
			    offsetof(struct nqueue, s), k->size);
		TAILQ_FOREACH(q, &srv->queues, entry)
			sum += field((const char *)q + k->off, k->size);
		return sum;
	default:
		if (g != NULL)
			return group_value(g, k);
		TAILQ_FOREACH(q, &srv->queues, entry) {
			if (k->sum == SUM_QUEUES) {
				if ((each = TAILQ_FIRST(&q->groups)) != NULL)
					sum += group_value(each, k);
				continue;
			}
			TAILQ_FOREACH(each, &q->groups, entry) {
				v = group_value(each, k);
				if (k->sum != SUM_MAX)
					sum += v;
				else if (v > sum)
					sum = v;
			}
		}
		return sum;
	}
}

uint64_t
consumer_value(const struct conn *c, const struct consumer_counter *k)
{
	switch (k->field) {
	case CF_DEMAND:
		return c->dc.demand;
	case CF_IN_FLIGHT:
		return dispatch_in_flight(&c->dc);
	case CF_DELIVERED:
		return c->dc.delivered;
	case CF_MAX_DEMAND:
		return c->dc.max_demand;
	case CF_MIN_DEMAND:
		return c->dc.min_demand;
	case CF_PID:
		return c->pid < 0 ? 0 : (uint64_t)c->pid;
	case CF_UID:
		return c->uid == (uid_t)-1 ? UINT32_MAX : (uint64_t)c->uid;
	case CF_PARTITION:
		return c->dc.partition;
	default:
		return c->since < 0 ? 0 : (uint64_t)c->since;
	}
}
