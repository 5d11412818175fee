/*
 * server.c: what the daemon does as a whole rather than per connection:
 * its clock, the ack-deadline timer, letting blocked clients go, the
 * graceful drain, and the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "producerd.h"

/* While the journal's disk is full, look for room this often. */
#define ROOM_CHECK_MS	1000

static void	loop_end_cb(evutil_socket_t, short, void *);
static void	log_flush_cb(evutil_socket_t, short, void *);

/*
 * What falls due at srv->now: ack deadlines pass, events held back come
 * due, pauses end, rates allow more.
 */
void
server_timed(struct server *srv)
{
	struct nqueue	*q;
	struct qgroup	*g;
	struct gpath	 gp;
	int		 n;

	TAILQ_FOREACH(q, &srv->active, aentry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			if ((n = dispatch_expire(&g->d)) != 0)
				log_info("queue %s: %d event%s not acked "
				    "within %u ms: taken back",
				    groups_path(g, &gp), n, n == 1 ? "" : "s",
				    g->d.policy->ack_timeout);
			/* Held back events come due, a pause ends, ... */
			dispatch_run(&g->d);
		}
		queues_touch(q);
	}
}

static void
expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	server_tick(srv);
	server_timed(srv);
	server_wake(srv);
}

/*
 * Blocked clients of each queue go in the order they blocked, while
 * there is room (queues.c puts the queues with room on unblocking).
 */
static void
unblock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct nqueue	*q;

	(void)fd;
	(void)what;
	while ((q = TAILQ_FIRST(&srv->unblocking)) != NULL) {
		TAILQ_REMOVE(&srv->unblocking, q, uentry);
		q->unblocking = 0;
		if (!TAILQ_EMPTY(&q->blocked))
			conn_unblock(TAILQ_FIRST(&q->blocked));
		queues_touch(q);
	}
	server_wake(srv);
}

static void
drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	log_warnx("drain: %u ms passed with events still in flight",
	    srv->drain_ms);
	event_base_loopbreak(srv->base);
}

/* Settings from cfg; the allow lists move to srv. */
void
server_configure(struct server *srv, struct config *cfg)
{
	memset(srv, 0, sizeof *srv);
	srv->spare_fd = -1;
	srv->max_frame = cfg->max_frame;
	srv->qdefault = cfg->queue;
	srv->max_queues = cfg->max_queues;
	srv->max_schedules = cfg->max_schedules;
	srv->max_groups = cfg->max_groups;
	srv->max_memory = cfg->max_memory;
	srv->auto_create = cfg->auto_create;
	srv->up.queue = cfg->upstream_queue != NULL ? cfg->upstream_queue :
	    PS_QUEUE_DEFAULT;
	srv->up.local = cfg->local_queue != NULL ? cfg->local_queue :
	    PS_QUEUE_DEFAULT;
	srv->drain_ms = cfg->drain_ms;
	srv->handshake_ms = cfg->handshake_ms;
	srv->max_connections = cfg->max_connections;
	srv->http_max = cfg->http_max_connections;
	srv->allow = cfg->allow;
	memset(&cfg->allow, 0, sizeof cfg->allow);
	srv->up.path = cfg->upstream;
	srv->backend = cfg->backend;
	srv->cluster_urls = cfg->cluster;
	srv->cluster_replicas = cfg->cluster_replicas;
	srv->up.max_demand = cfg->upstream_max_demand;
	srv->map.cmd = cfg->map;
	srv->map.nul = cfg->map_nul;
	srv->data_dir = cfg->data_dir;
	srv->journal.fsync = cfg->fsync;
	srv->journal.interval_ms = cfg->fsync_interval_ms;
	srv->journal.segment_size = cfg->segment_size;
	srv->journal.repair = cfg->repair;
	io_configure(srv);
	/* Room for the records of what one loop iteration may accept. */
	srv->journal.reserve = 2 * (uint64_t)cfg->max_frame + JOURNAL_WRITE_AT;
	if (srv->journal.reserve < JOURNAL_RESERVE_MIN)
		srv->journal.reserve = JOURNAL_RESERVE_MIN;
	queues_init(srv);
}

/*
 * The queues that exist from the start: --queue's, DIR/queues', and the
 * stage's own; -1 after saying why.
 */
int
server_queues(struct server *srv, const char * const *names, size_t n)
{
	struct nqueue	*q;
	size_t		 i;

	if (queues_load(srv) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((q = queues_find(srv, names[i], strlen(names[i]))) ==
		    NULL && (q = queues_create(srv, names[i],
		    strlen(names[i]))) == NULL) {
			log_errorx("out of memory");
			return -1;
		}
		q->declared = 1;
	}
	if (srv->up.path != NULL && queues_find(srv, srv->up.local,
	    strlen(srv->up.local)) == NULL) {
		if (!srv->auto_create) {
			log_errorx("--local-queue %s: not among the queues "
			    "named with --queue (--no-auto-create)",
			    srv->up.local);
			return -1;
		}
		if (queues_create(srv, srv->up.local,
		    strlen(srv->up.local)) == NULL) {
			log_errorx("out of memory");
			return -1;
		}
	}
	if (srv->up.path != NULL) {
		q = queues_find(srv, srv->up.local, strlen(srv->up.local));
		q->declared = 1;		/* never deleted */
		if ((srv->up.into = groups_lead(q)) == NULL) {
			log_errorx("out of memory");
			return -1;
		}
	}
	return 0;
}

int
server_init(struct server *srv, struct event_base *base)
{
	srv->base = base;
	periodic_init(&srv->sched);
	srv->sched_fd = -1;
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->unblocking);
	TAILQ_INIT(&srv->dirty);
	srv->started = time(NULL);
	srv->expiry = evtimer_new(base, expiry_cb, srv);
	srv->drain_timer = evtimer_new(base, drain_timeout_cb, srv);
	srv->unblock = event_new(base, -1, 0, unblock_cb, srv);
	srv->loop_end = event_new(base, -1, 0, loop_end_cb, srv);
	srv->log_timer = evtimer_new(base, log_flush_cb, srv);
	/* Kept for shedding a peer when descriptors run out (listener.c). */
	if ((srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("a spare descriptor");
	if (srv->expiry == NULL || srv->drain_timer == NULL ||
	    srv->unblock == NULL || srv->loop_end == NULL ||
	    srv->log_timer == NULL ||
	    upstream_init(srv) != 0 || map_init(srv) != 0)
		return -1;
	server_tick(srv);
	return srv->backend->open(srv);
}

/*
 * At exit, what a connection still has to say (an ERROR, say) goes out if
 * its socket takes it at once.
 */
static void
last_words(struct conn *c)
{
	if (c->fd != -1 && io_pending(c) != 0 &&
	    evbuffer_write(io_out(c), c->fd) == -1)
		log_debug("last words: write: %s", strerror(errno));
}

void
server_free(struct server *srv)
{
	struct conn	*c;
	struct nqueue	*q;
	struct qgroup	*g;

	queues_pause(srv);
	/* What is in flight now stays pending in the journal. */
	srv->journaling = 0;
	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry)
			g->d.change = NULL;
	}
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL) {
		last_words(c);
		conn_close(c);
	}
	schedules_close(srv);
	queues_free(srv);
	ps_buf_free(&srv->scratch);
	if (srv->expiry != NULL)
		event_free(srv->expiry);
	if (srv->drain_timer != NULL)
		event_free(srv->drain_timer);
	if (srv->unblock != NULL)
		event_free(srv->unblock);
	if (srv->loop_end != NULL)
		event_free(srv->loop_end);
	if (srv->log_timer != NULL)
		event_free(srv->log_timer);
	if (srv->fsync_timer != NULL)
		event_free(srv->fsync_timer);
	if (srv->room_timer != NULL)
		event_free(srv->room_timer);
	if (srv->compact_timer != NULL)
		event_free(srv->compact_timer);
	if (srv->spare_fd != -1)
		close(srv->spare_fd);
	srv->spare_fd = -1;
	if (srv->data_dir != NULL)
		journal_close(&srv->journal);
	upstream_free(srv);
	srv->backend->close(srv);
	map_free(srv);
	access_free(&srv->allow);
}

/* Set the queues' clock; before anything that may send or expire. */
void
server_tick(struct server *srv)
{
	srv->now = clock_ms();
	srv->wall = clock_wall_ms();
}

/*
 * After anything that changed what is buffered or in flight: aim the
 * timer at the next ack deadline, let a blocked client go if there is room
 * for it (from the event loop, not from here, so nothing nests), answer
 * upstream, and end a drain once nothing is left in flight.
 */
static void
settle(struct server *srv)
{
	struct nqueue	*q;
	struct qgroup	*g;
	struct timeval	 tv;
	uint64_t	 when, next = UINT64_MAX;

	queues_settle(srv);
	TAILQ_FOREACH(q, &srv->active, aentry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			if (dispatch_next_deadline(&g->d, &when) &&
			    when < next)
				next = when;
		}
	}
	if (next != UINT64_MAX) {
		ms_timeval(next > srv->now ? next - srv->now : 0, &tv);
		evtimer_add(srv->expiry, &tv);
	} else
		evtimer_del(srv->expiry);
	if (!TAILQ_EMPTY(&srv->unblocking))
		event_active(srv->unblock, EV_TIMEOUT, 0);
	upstream_settle(srv);
	schedules_settle(srv);
	srv->backend->settle(srv);
	if (srv->draining && queues_in_flight(srv) == 0)
		event_base_loopbreak(srv->base);
}

#define REPEAT_SAY_MS	2000

static void
log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_flush();
}

/*
 * The end of a loop iteration's work, once however many callbacks ran
 * (redis' beforeSleep): settle, write the journal's records, then flush
 * every connection written to.  Records go first, so that nothing the
 * daemon says leaves before what it speaks of is in the journal.
 */
static void
loop_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv;

	(void)fd;
	(void)what;
	srv->woken = 0;
	srv->settling = 1;
	settle(srv);
	srv->settling = 0;
	if (srv->queues_unsaved && queues_save(srv) != 0)
		log_warnx("%s/queues: the queues' settings are not saved",
		    srv->data_dir);
	(void)server_compact(srv);
	server_commit(srv);
	schedules_commit(srv);
	/* More to copy: another step after the next poll, I/O first. */
	if (server_compact_wanted(srv) &&
	    !evtimer_pending(srv->compact_timer, NULL))
		evtimer_add(srv->compact_timer, ms_timeval(0, &tv));
	io_flush_all(srv);
	/* A flood of one line, then quiet: its count said within 2 s. */
	if (log_held() && !evtimer_pending(srv->log_timer, NULL))
		evtimer_add(srv->log_timer, ms_timeval(REPEAT_SAY_MS, &tv));
}

/* Compaction's next step: the end of an iteration does it. */
static void
compact_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_wake(arg);
}

/* Something changed: the end of this loop iteration settles it. */
void
server_wake(struct server *srv)
{
	if (!srv->settling && !srv->woken) {
		srv->woken = 1;
		event_active(srv->loop_end, EV_TIMEOUT, 0);
	}
}

/* The first SIGTERM: take no new work, wait for what is out to be acked. */
void
server_drain(struct server *srv)
{
	struct timeval	 tv;

	struct nqueue	*q;
	uint64_t	 n = queues_in_flight(srv);

	srv->draining = 1;
	queues_pause(srv);
	/* Blocked clients' ENQUEUEs are answered now: with ERROR 10. */
	TAILQ_FOREACH(q, &srv->queues, entry) {
		while (!TAILQ_EMPTY(&q->blocked))
			conn_unblock(TAILQ_FIRST(&q->blocked));
	}
	log_info("draining: no new connections, events or ENQUEUEs; waiting "
	    "up to %u ms for %llu in-flight event%s to be acked",
	    srv->drain_ms, (unsigned long long)n, n == 1 ? "" : "s");
	evtimer_add(srv->drain_timer, ms_timeval(srv->drain_ms, &tv));
	server_wake(srv);
}

/* What is left at exit: in the journal, or lost with the process. */
void
server_report(struct server *srv)
{
	struct nqueue		*q;
	struct qgroup		*g;
	unsigned long long	 fly = 0, buffered = 0, dead = 0;

	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			fly += g->d.in_flight;
			buffered += g->d.queue.count + g->d.delayed;
			dead += g->d.ndead;
		}
	}
	if (fly == 0 && buffered == 0 && dead == 0) {
		log_info("stopped with nothing in flight, buffered, delayed "
		    "or dead");
		return;
	}
	if (srv->data_dir != NULL) {
		log_info("stopped with %llu event%s in flight (not acked), %llu "
		    "buffered or delayed and %llu dead in %u queue%s, kept in %s "
		    "for the next start", fly, fly == 1 ? "" : "s", buffered, dead,
		    srv->nqueues, srv->nqueues == 1 ? "" : "s", srv->data_dir);
		return;
	}
	log_warnx("stopped with %llu event%s in flight (not acked), %llu "
	    "buffered or delayed and %llu dead in %u queue%s; they are "
	    "discarded (see --data-dir)", fly, fly == 1 ? "" : "s", buffered, dead,
	    srv->nqueues, srv->nqueues == 1 ? "" : "s");
}

/*
 * Write (and, as --fsync says, sync) the journal's records: called before
 * any byte goes out, so no reply or event leaves before the records that
 * it speaks of.  A journal that cannot be written stops the daemon: it
 * must not acknowledge what it cannot keep.  While the disk is full the
 * records of deliveries and acks wait for room_cb, once a second.
 */
void
server_commit(struct server *srv)
{
	struct journal	*j = &srv->journal;
	struct timeval	 tv;

	if (srv->data_dir == NULL || !journal_dirty(j) ||
	    (j->full && !j->enqueued && !j->failed))
		return;
	if (journal_commit(j) != 0)
		fatalx("%s: the journal cannot be written; stopping before "
		    "anything not on disk is acknowledged", srv->data_dir);
	if (j->full && !evtimer_pending(srv->room_timer, NULL))
		evtimer_add(srv->room_timer, ms_timeval(ROOM_CHECK_MS, &tv));
}

/* While the journal is full: is there room again? */
static void
room_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv;
	int		 r;

	(void)fd;
	(void)what;
	if ((r = journal_room(&srv->journal)) < 0)
		fatalx("%s: the journal cannot be written; stopping",
		    srv->data_dir);
	if (r == 0)
		evtimer_add(srv->room_timer, ms_timeval(ROOM_CHECK_MS, &tv));
	server_wake(srv);
}

static void
fsync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	server_commit(srv);
	if (journal_sync(&srv->journal) != 0)
		fatalx("%s: the journal cannot be synced; stopping",
		    srv->data_dir);
	schedules_commit(srv);
	schedules_sync(srv);
}

/* The journal's hook in a group: record, and make sure a flush comes. */
static void
journal_hook(void *arg, enum dispatch_change what, const struct qevent *ev)
{
	struct qgroup	*g = arg;
	struct server	*srv = g->q->srv;

	if (!journal_dirty(&srv->journal))
		server_wake(srv);
	journal_change(&srv->journal, g->q->name, g->name, g->q->ngroups,
	    g->q->ngroups - (groups_find(g->q, "", 0) != NULL), what, ev);
}

/*
 * A group made: journal its changes from now on, and that it was made
 * (record; not a queue's first, shared group, which gets every id).
 */
void
server_journal_group(struct server *srv, struct qgroup *g, int record)
{
	g->d.from = record ? srv->next_id : 0;
	if (!srv->journaling)
		return;
	g->d.change = journal_hook;
	g->d.change_arg = g;
	if (!record)
		return;
	if (!journal_dirty(&srv->journal))
		server_wake(srv);
	(void)journal_group(&srv->journal, 0, g->q->name, g->name,
	    g->d.from);
}

/* A group dropped: the journal says so. */
void
server_journal_drop(struct server *srv, struct qgroup *g)
{
	if (!srv->journaling)
		return;
	if (!journal_dirty(&srv->journal))
		server_wake(srv);
	(void)journal_group(&srv->journal, 1, g->q->name, g->name, 0);
}

/*
 * At a new segment's start, the groups of each queue that has other than
 * its shared group from the first id alone (journal.c).
 */
static int
journal_checkpoint(void *arg, struct journal *j)
{
	struct server	*srv = arg;
	struct nqueue	*q;
	struct qgroup	*g;
	const char	*names[256];
	uint64_t	 from[256];
	uint8_t		 n;

	TAILQ_FOREACH(q, &srv->queues, entry) {
		g = TAILQ_FIRST(&q->groups);
		if (q->ngroups == 1 && g->len == 0 && g->d.from <= 1)
			continue;
		n = 0;
		TAILQ_FOREACH(g, &q->groups, entry) {
			if (n == 255)
				break;
			names[n] = g->name;
			from[n++] = g->d.from;
		}
		if (journal_groups(j, q->name, n, names, from) != 0)
			return -1;
	}
	return 0;
}

/*
 * replay's way to the queues: q made if missing, with exactly the groups
 * named (a group it has and the journal does not was made empty since:
 * --queue's or DIR/queues' shared group), each getting ids from from[i].
 */
static int
replay_queue(void *arg, const char *name, size_t len, size_t n,
    const char * const *names, const uint64_t *from, struct dispatch **out)
{
	struct server	*srv = arg;
	struct nqueue	*q;
	struct qgroup	*g, *next;
	size_t		 i;
	int		 named;

	if ((q = queues_find(srv, name, len)) == NULL &&
	    (q = queues_create(srv, name, len)) == NULL)
		return -1;
	for (g = TAILQ_FIRST(&q->groups); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		for (named = 0, i = 0; i < n && !named; i++)
			named = strcmp(g->name, names[i]) == 0;
		if (!named)
			groups_drop(g);
	}
	for (i = 0; i < n; i++) {
		if ((g = groups_find(q, names[i], strlen(names[i]))) == NULL &&
		    (g = groups_add(q, names[i], strlen(names[i]))) == NULL)
			return -1;
		g->d.from = from[i];
		out[i] = &g->d;
	}
	return 0;
}

/* Replay --data-dir's journal into the queues and keep journaling. */
int
server_journal_open(struct server *srv)
{
	struct nqueue	*q;
	struct qgroup	*g;
	struct timeval	 tv;

	srv->journal.next_id = &srv->next_id;
	srv->journal.groups = journal_checkpoint;
	srv->journal.groups_arg = srv;
	srv->journal.carry = server_carry;
	srv->journal.carry_arg = srv;
	if ((srv->room_timer = evtimer_new(srv->base, room_cb, srv)) == NULL ||
	    (srv->compact_timer = evtimer_new(srv->base, compact_cb,
	    srv)) == NULL || journal_open(&srv->journal, srv->data_dir, replay_queue,
	    srv) != 0)
		return -1;
	if (srv->journal.full)
		evtimer_add(srv->room_timer, ms_timeval(ROOM_CHECK_MS, &tv));
	srv->journaling = 1;
	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			g->d.change = journal_hook;
			g->d.change_arg = g;
		}
	}
	if (srv->journal.fsync == JOURNAL_INTERVAL) {
		ms_timeval(srv->journal.interval_ms, &tv);
		srv->fsync_timer = event_new(srv->base, -1, EV_PERSIST,
		    fsync_cb, srv);
		if (srv->fsync_timer == NULL ||
		    event_add(srv->fsync_timer, &tv) != 0)
			return -1;
	}
	return 0;
}
