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

static void
expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	int		 n;

	(void)fd;
	(void)what;
	server_tick(srv);
	if ((n = dispatch_expire(&srv->dispatch)) != 0) {
		log_info("%d event%s not acked within %u ms: taken back", n,
		    n == 1 ? "" : "s", srv->dispatch.ack_timeout);
		dispatch_run(&srv->dispatch);
	}
	server_wake(srv);
}

/*
 * May the first waiting client go on?  One waiting behind others may,
 * now first; one whose batch is under way once its next event fits.
 */
static int
room_for_head(struct server *srv)
{
	struct conn	*c = TAILQ_FIRST(&srv->blocked);

	return c != NULL && (srv->draining || !c->enq_started ||
	    dispatch_room(&srv->dispatch, c->enq_need));
}

/* Blocked clients go in the order they blocked, while there is room. */
static void
unblock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	if (room_for_head(srv))
		conn_unblock(TAILQ_FIRST(&srv->blocked));
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
	srv->acks = cfg->acks;
	srv->drain_ms = cfg->drain_ms;
	srv->handshake_ms = cfg->handshake_ms;
	srv->max_connections = cfg->max_connections;
	srv->http_max = cfg->metrics_max_connections;
	srv->allow = cfg->allow;
	memset(&cfg->allow, 0, sizeof cfg->allow);
	srv->up.path = cfg->upstream;
	srv->up.max_demand = cfg->upstream_max_demand;
	srv->map.cmd = cfg->map;
	srv->map.nul = cfg->map_nul;
	srv->data_dir = cfg->data_dir;
	srv->journal.fsync = cfg->fsync;
	srv->journal.interval_ms = cfg->fsync_interval_ms;
	srv->journal.segment_size = cfg->segment_size;
	srv->journal.repair = cfg->repair;
	/* Room for the records of what one loop iteration may accept. */
	srv->journal.reserve = 2 * (uint64_t)cfg->max_frame + JOURNAL_WRITE_AT;
	if (srv->journal.reserve < JOURNAL_RESERVE_MIN)
		srv->journal.reserve = JOURNAL_RESERVE_MIN;
	dispatch_init(&srv->dispatch, conn_emit, srv);
	srv->dispatch.ack_timeout = cfg->ack_timeout;
	srv->dispatch.max_attempts = cfg->max_attempts;
	srv->dispatch.max_queue = cfg->max_queue;
	srv->dispatch.max_queue_bytes = cfg->max_queue_bytes;
	srv->dispatch.overflow = cfg->overflow;
	if (srv->up.path != NULL)
		srv->dispatch.done = upstream_done;
}

int
server_init(struct server *srv, struct event_base *base)
{
	srv->base = base;
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->blocked);
	TAILQ_INIT(&srv->dirty);
	srv->started = time(NULL);
	srv->expiry = evtimer_new(base, expiry_cb, srv);
	srv->drain_timer = evtimer_new(base, drain_timeout_cb, srv);
	srv->unblock = event_new(base, -1, 0, unblock_cb, srv);
	srv->loop_end = event_new(base, -1, 0, loop_end_cb, srv);
	/* Kept for shedding a peer when descriptors run out (listener.c). */
	if ((srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("a spare descriptor");
	if (srv->expiry == NULL || srv->drain_timer == NULL ||
	    srv->unblock == NULL || srv->loop_end == NULL ||
	    upstream_init(srv) != 0 || map_init(srv) != 0)
		return -1;
	server_tick(srv);
	return 0;
}

/*
 * At exit, what a connection still has to say (an ERROR, say) goes out if
 * its socket takes it at once.
 */
static void
last_words(struct conn *c)
{
	if (c->fd != -1 && evbuffer_get_length(c->out) != 0 &&
	    evbuffer_write(c->out, c->fd) == -1)
		log_debug("last words: write: %s", strerror(errno));
}

void
server_free(struct server *srv)
{
	struct conn	*c;

	srv->dispatch.paused = 1;
	/* What is in flight now stays pending in the journal. */
	srv->dispatch.change = NULL;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL) {
		last_words(c);
		conn_close(c);
	}
	dispatch_free(&srv->dispatch);
	ps_buf_free(&srv->scratch);
	if (srv->expiry != NULL)
		event_free(srv->expiry);
	if (srv->drain_timer != NULL)
		event_free(srv->drain_timer);
	if (srv->unblock != NULL)
		event_free(srv->unblock);
	if (srv->loop_end != NULL)
		event_free(srv->loop_end);
	if (srv->fsync_timer != NULL)
		event_free(srv->fsync_timer);
	if (srv->room_timer != NULL)
		event_free(srv->room_timer);
	if (srv->spare_fd != -1)
		close(srv->spare_fd);
	srv->spare_fd = -1;
	if (srv->data_dir != NULL)
		journal_close(&srv->journal);
	upstream_free(srv);
	map_free(srv);
	access_free(&srv->allow);
}

/* Set the dispatcher's clock; before anything that may send or expire. */
void
server_tick(struct server *srv)
{
	srv->dispatch.now = clock_ms();
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
	struct timeval	 tv;
	uint64_t	 when;

	if (dispatch_next_deadline(&srv->dispatch, &when)) {
		ms_timeval(when > srv->dispatch.now ? when - srv->dispatch.now :
		    0, &tv);
		evtimer_add(srv->expiry, &tv);
	} else
		evtimer_del(srv->expiry);
	if (room_for_head(srv))
		event_active(srv->unblock, EV_TIMEOUT, 0);
	upstream_settle(srv);
	if (srv->draining && srv->dispatch.in_flight == 0)
		event_base_loopbreak(srv->base);
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

	(void)fd;
	(void)what;
	srv->settling = 1;
	settle(srv);
	srv->settling = 0;
	server_commit(srv);
	io_flush_all(srv);
}

/* Something changed: the end of this loop iteration settles it. */
void
server_wake(struct server *srv)
{
	if (!srv->settling)
		event_active(srv->loop_end, EV_TIMEOUT, 0);
}

/* The first SIGTERM: take no new work, wait for what is out to be acked. */
void
server_drain(struct server *srv)
{
	struct timeval	 tv;

	srv->draining = 1;
	srv->dispatch.paused = 1;
	/* Blocked clients' ENQUEUEs are answered now: with ERROR 10. */
	while (!TAILQ_EMPTY(&srv->blocked))
		conn_unblock(TAILQ_FIRST(&srv->blocked));
	log_info("draining: no new connections, events or ENQUEUEs; waiting "
	    "up to %u ms for %llu in-flight event%s to be acked",
	    srv->drain_ms, (unsigned long long)srv->dispatch.in_flight,
	    srv->dispatch.in_flight == 1 ? "" : "s");
	evtimer_add(srv->drain_timer, ms_timeval(srv->drain_ms, &tv));
	server_wake(srv);
}

/* What is left at exit: in the journal, or lost with the process. */
void
server_report(struct server *srv)
{
	struct dispatch	*d = &srv->dispatch;

	if (d->in_flight == 0 && d->queue.count == 0 && d->ndead == 0) {
		log_info("stopped with nothing in flight, buffered or dead");
		return;
	}
	if (srv->data_dir != NULL) {
		log_info("stopped with %llu event%s in flight (not acked), %zu "
		    "buffered and %llu dead, kept in %s for the next start",
		    (unsigned long long)d->in_flight,
		    d->in_flight == 1 ? "" : "s", d->queue.count,
		    (unsigned long long)d->ndead, srv->data_dir);
		return;
	}
	log_warnx("stopped with %llu event%s in flight (not acked), %zu "
	    "buffered and %llu dead; they are discarded (see --data-dir)",
	    (unsigned long long)d->in_flight, d->in_flight == 1 ? "" : "s",
	    d->queue.count, (unsigned long long)d->ndead);
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
}

/* The journal's hook in dispatch: record, and make sure a flush comes. */
static void
journal_hook(void *arg, enum dispatch_change what, const struct qevent *ev)
{
	struct server	*srv = arg;

	if (!journal_dirty(&srv->journal))
		server_wake(srv);
	journal_change(&srv->journal, what, ev);
}

/* Replay --data-dir's journal into the dispatcher and keep journaling. */
int
server_journal_open(struct server *srv)
{
	struct timeval	 tv;

	if ((srv->room_timer = evtimer_new(srv->base, room_cb, srv)) == NULL ||
	    journal_open(&srv->journal, srv->data_dir, &srv->dispatch) != 0)
		return -1;
	if (srv->journal.full)
		evtimer_add(srv->room_timer, ms_timeval(ROOM_CHECK_MS, &tv));
	srv->dispatch.change = journal_hook;
	srv->dispatch.change_arg = srv;
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
