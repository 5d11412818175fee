/*
 * queues.c: the daemon's named queues.  Each has its own log of events and
 * settings, and one or more groups of consumers (groups.c), each with its
 * own dispatcher (demand, in-flight set, dead letters); ids are the
 * daemon's, shared by all, so the journal names an event by its id alone.  A queue is found by name through a hash, made on first use
 * (unless --no-auto-create) up to --max-queues, and kept on three short
 * lists so that the end of a loop iteration never walks every queue:
 * touched (used in this iteration), active (events in flight: their
 * deadlines and the drain), and through them the blocked clients.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chain.h"
#include "clock.h"
#include "fdio.h"
#include "hash.h"
#include "log.h"
#include "producerd.h"

#define QUEUES_FILE	"queues"
#define RATE_MS		1000
#define NAME_SHOWN	80	/* a refused name's bytes quoted back */

#define NQUEUE_KEY(q)	((q)->name)
#define NQUEUE_LEN(q)	((q)->len)
CHAIN_GENERATE(qchain, struct nqueue, hnext, fnv1a64, NQUEUE_KEY, NQUEUE_LEN)

static void
rate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct nqueue	*q;
	struct qgroup	*g;
	struct timeval	 tv;
	int		 moving = 0;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			g->enqueue_rate = g->d.counts.enqueued_total -
			    g->enqueued_then;
			g->deliver_rate = g->d.counts.delivered_total -
			    g->delivered_then;
			g->ack_rate = g->d.counts.acked_total - g->acked_then;
			g->enqueued_then = g->d.counts.enqueued_total;
			g->delivered_then = g->d.counts.delivered_total;
			g->acked_then = g->d.counts.acked_total;
			if (g->enqueue_rate != 0 || g->deliver_rate != 0 ||
			    g->ack_rate != 0)
				moving = 1;
		}
	}
	/* Once more after the last movement, to show the rates at 0. */
	if (moving)
		evtimer_add(srv->rate_timer, ms_timeval(RATE_MS, &tv));
}

void
queues_init(struct server *srv)
{
	TAILQ_INIT(&srv->queues);
	TAILQ_INIT(&srv->touched);
	TAILQ_INIT(&srv->active);
	TAILQ_INIT(&srv->waiting);
	qstore_init(&srv->store);
	srv->store.max = srv->max_memory;
	srv->next_id = 1;
}

static void
nqueue_free(struct nqueue *q)
{
	struct server	*srv = q->srv;
	struct nqueue	**pp;

	pp = qchain_find(srv->qhash, srv->qhmask, q->name, q->len);
	*pp = q->hnext;
	TAILQ_REMOVE(&srv->queues, q, entry);
	if (q->touched)
		TAILQ_REMOVE(&srv->touched, q, tentry);
	if (q->active)
		TAILQ_REMOVE(&srv->active, q, aentry);
	if (q->unblocking)
		TAILQ_REMOVE(&srv->unblocking, q, uentry);
	groups_free(q);
	qlog_free(&q->log);
	free(q->history);
	srv->nqueues--;
	free(q);
}

/* Consumers are gone first (server_free closes every connection). */
void
queues_free(struct server *srv)
{
	struct nqueue	*q;

	while ((q = TAILQ_FIRST(&srv->queues)) != NULL)
		nqueue_free(q);
	free(srv->qhash);
	srv->qhash = NULL;
	qstore_free(&srv->store);
	if (srv->rate_timer != NULL)
		event_free(srv->rate_timer);
	srv->rate_timer = NULL;
}

struct nqueue *
queues_find(struct server *srv, const char *name, size_t len)
{
	if (srv->qhash == NULL)
		return NULL;
	return *qchain_find(srv->qhash, srv->qhmask, name, len);
}

/* A new queue with the default settings; NULL out of memory. */
struct nqueue *
queues_create(struct server *srv, const char *name, size_t len)
{
	struct nqueue	*q;

	if ((srv->qhash == NULL || srv->nqueues >= srv->qhmask + 1) &&
	    qchain_grow(&srv->qhash, &srv->qhmask) != 0)
		return NULL;
	if ((q = calloc(1, sizeof *q + len + 1)) == NULL)
		return NULL;
	q->srv = srv;
	memcpy(q->name, name, len);
	q->name[len] = '\0';
	q->len = (uint8_t)len;
	TAILQ_INIT(&q->blocked);
	TAILQ_INIT(&q->groups);
	qlog_init(&q->log, &srv->store, &srv->now);
	q->s = srv->qdefault;
	if (groups_add(q, "", 0) == NULL) {	/* its shared group */
		qlog_free(&q->log);
		free(q);
		return NULL;
	}
	q->made = 1;
	qchain_insert(srv->qhash, srv->qhmask, q);
	TAILQ_INSERT_TAIL(&srv->queues, q, entry);
	srv->nqueues++;
	srv->queues_created_total++;
	log_debug("queue %s made", q->name);
	return q;
}

/*
 * Is name (len bytes) a queue or group name (what: "queue", "group")?  If
 * not, 0 and err saying so: the one message for every door.
 */
int
queues_name_ok(const char *what, const char *name, size_t len, char *err,
    size_t errlen)
{
	if (ps_queue_name_ok(name, len))
		return 1;
	snprintf(err, errlen, "%s name \"%.*s\" is not 1 to %d bytes of "
	    "A-Z a-z 0-9 . _ : -", what, (int)(len > NAME_SHOWN ? NAME_SHOWN :
	    len), name, PS_QUEUE_MAX);
	return 0;
}

/*
 * The queue a peer names, made if it may be: NULL with *code (PS_E_*) and
 * err saying why otherwise.
 */
struct nqueue *
queues_get(struct server *srv, const char *name, size_t len, int *code,
    char *err, size_t errlen)
{
	struct nqueue	*q;

	if (!queues_name_ok("queue", name, len, err, errlen)) {
		*code = PS_E_BAD_VALUE;
		return NULL;
	}
	if ((q = queues_find(srv, name, len)) != NULL)
		return q;
	if (!srv->auto_create) {
		*code = PS_E_NO_QUEUE;
		snprintf(err, errlen, "no queue %.*s (producerd "
		    "--no-auto-create: queues are made with --queue or pushctl "
		    "queue create)", (int)len, name);
		return NULL;
	}
	if (srv->nqueues >= srv->max_queues) {
		*code = PS_E_QUEUE_LIMIT;
		snprintf(err, errlen, "no queue %.*s, and %u queues exist "
		    "already (producerd --max-queues)", (int)len, name,
		    srv->max_queues);
		return NULL;
	}
	if ((q = queues_create(srv, name, len)) == NULL) {
		*code = PS_E_NOMEM;
		snprintf(err, errlen, "out of memory making queue %.*s",
		    (int)len, name);
	}
	return q;
}

/* Forget q: its buffer and dead letters go; no consumer is left on it. */
void
queues_delete(struct nqueue *q)
{
	struct server	*srv = q->srv;
	struct qgroup	*g;

	log_info("queue %s deleted with %u group%s", q->name, q->ngroups,
	    q->ngroups == 1 ? "" : "s");
	while ((g = TAILQ_FIRST(&q->groups)) != NULL)
		groups_drop(g);
	srv->queues_deleted_total++;
	if (q->declared || q->set != 0)
		srv->queues_unsaved = 1;
	nqueue_free(q);
}

/* q changed in this loop iteration: the end of it settles q. */
void
queues_touch(struct nqueue *q)
{
	if (q->touched)
		return;
	q->touched = 1;
	TAILQ_INSERT_TAIL(&q->srv->touched, q, tentry);
	server_wake(q->srv);
}

/*
 * q has n more (or, n < 0, fewer) clients waiting for room; the queues
 * with any are on srv->waiting, for memory let go anywhere to wake.
 */
void
queues_blocked(struct nqueue *q, int n)
{
	struct server	*srv = q->srv;

	if (q->nblocked == 0 && n > 0)
		TAILQ_INSERT_TAIL(&srv->waiting, q, wentry);
	q->nblocked = (uint32_t)((int64_t)q->nblocked + n);
	srv->nblocked = (uint32_t)((int64_t)srv->nblocked + n);
	if (q->nblocked == 0)
		TAILQ_REMOVE(&srv->waiting, q, wentry);
}

/*
 * May q's first waiting client go on?  One waiting behind others may, now
 * first; one whose batch is under way once its next event fits.
 */
static int
room_for_head(struct nqueue *q)
{
	struct conn	*c = TAILQ_FIRST(&q->blocked);
	struct qgroup	*g = TAILQ_FIRST(&q->groups);

	return c != NULL && (q->srv->draining || !c->enq_started ||
	    g == NULL || dispatch_room(&g->d, c->enq_mark.need));
}

/* Has a group of q something to do at a time of its own? */
static int
queue_timed(const struct nqueue *q)
{
	const struct qgroup	*g;
	uint64_t		 when;

	TAILQ_FOREACH(g, &q->groups, entry) {
		if (dispatch_next_deadline(&g->d, &when))
			return 1;
	}
	return 0;
}

/*
 * Once per loop iteration, for the queues used in it: which are active,
 * with events in flight or something to do at a time of their own (for
 * the timer), which may let a blocked client go, and the rates' timer.
 */
void
queues_settle(struct server *srv)
{
	struct nqueue	*q;
	struct timeval	 tv;
	int		 busy;

	/*
	 * Memory let go anywhere (--max-memory) may let a client waiting in
	 * any queue go on: those are looked at too, only then.
	 */
	if (srv->store.freed) {
		TAILQ_FOREACH(q, &srv->waiting, wentry)
			queues_touch(q);
	}
	srv->store.freed = 0;
	if (TAILQ_EMPTY(&srv->touched))
		return;
	while ((q = TAILQ_FIRST(&srv->touched)) != NULL) {
		TAILQ_REMOVE(&srv->touched, q, tentry);
		q->touched = 0;
		busy = queue_sum(q, QSUM_IN_FLIGHT) != 0 || queue_timed(q);
		if (busy && !q->active) {
			TAILQ_INSERT_TAIL(&srv->active, q, aentry);
			q->active = 1;
		} else if (!busy && q->active) {
			TAILQ_REMOVE(&srv->active, q, aentry);
			q->active = 0;
		}
		if (!q->unblocking && room_for_head(q)) {
			TAILQ_INSERT_TAIL(&srv->unblocking, q, uentry);
			q->unblocking = 1;
		}
	}
	if (srv->rate_timer == NULL)
		srv->rate_timer = evtimer_new(srv->base, rate_cb, srv);
	if (srv->rate_timer != NULL &&
	    !evtimer_pending(srv->rate_timer, NULL))
		evtimer_add(srv->rate_timer, ms_timeval(RATE_MS, &tv));
}

/*
 * The rules q's groups follow, from its settings: at-most-once has no
 * ack timeout, whatever the setting says.
 */
static void
policy_of(const struct qsettings *s, struct dpolicy *p)
{
	p->max_queue = s->max_queue;
	p->max_queue_bytes = s->max_queue_bytes;
	p->overflow = s->overflow;
	p->ack_timeout = s->acks ? s->ack_timeout : 0;
	p->max_attempts = s->max_attempts;
	p->dedup_window = (uint32_t)s->dedup_window;
	p->keep_done = s->keep_done;
	p->keep_done_bytes = s->keep_done_bytes;
	p->max_result = (uint32_t)s->max_result;
	p->max_task_stats = (uint32_t)s->max_task_stats;
}

/*
 * Settings s for q and its groups (set: those of its own); -1 when a group
 * had no memory for its partitions or its clock (it keeps dispatching as
 * it did).  The policy is q's, which every group reads; the clock and the
 * dispatch mode are each group's own state.  A pause's end is wall-clock
 * time, kept across restarts; the groups count in the daemon's monotonic
 * clock.
 */
int
queues_apply(struct nqueue *q, const struct qsettings *s, unsigned int set)
{
	struct qgroup	*g;
	uint64_t	 until = 0, wall;
	int		 rc = 0;

	q->s = *s;
	q->set |= set;
	policy_of(s, &q->policy);
	if (s->paused_until == SCHED_FOREVER)
		until = SCHED_FOREVER;
	else if (s->paused_until > (wall = clock_wall_ms()))
		until = q->srv->now + (s->paused_until - wall);
	TAILQ_FOREACH(g, &q->groups, entry) {
		if (dispatch_schedule(&g->d, until, s->rate_n, s->rate_ms,
		    s->backoff_base, s->backoff_max) != 0)
			rc = -1;
		if (dispatch_set_mode(&g->d, s->mode, s->partitions) != 0)
			rc = -1;
	}
	return rc;
}


/*
 * Events of q's groups, over them all: buffered, in flight, or waiting
 * behind their key (QSUM_*).
 */
uint64_t
queue_sum(const struct nqueue *q, int what)
{
	const struct qgroup	*g;
	uint64_t		 n = 0;

	TAILQ_FOREACH(g, &q->groups, entry) {
		if (what == QSUM_BUFFERED)
			n += g->d.queue.count;
		else if (what == QSUM_IN_FLIGHT)
			n += g->d.in_flight;
		else
			n += g->d.keys.nwaiting;
	}
	return n;
}

/* Events in flight in every queue. */
uint64_t
queues_in_flight(const struct server *srv)
{
	const struct nqueue	*q;
	uint64_t		 n = 0;

	TAILQ_FOREACH(q, &srv->active, aentry)
		n += queue_sum(q, QSUM_IN_FLIGHT);
	return n;
}

/* The drain, and the end: nothing more goes out of any queue. */
void
queues_pause(struct server *srv)
{
	struct nqueue	*q;
	struct qgroup	*g;

	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry)
			g->d.paused = 1;
	}
}

/*
 * DIR/queues: each queue made with --queue, pushctl queue create or set,
 * with its own settings, one a line ("NAME key=value ..."), written to a
 * temporary file, synced and renamed over the old, so that a crash leaves
 * the old or the new.  Once per loop iteration that changed any (the end
 * of the iteration, before the replies go), however many changed.
 */
int
queues_save(struct server *srv)
{
	struct nqueue	*q;
	char		 path[4096], tmp[4096], line[512];
	size_t		 n;
	int		 fd;

	srv->queues_unsaved = 0;
	if (srv->data_dir == NULL)
		return 0;
	if (snprintf(path, sizeof path, "%s/%s", srv->data_dir,
	    QUEUES_FILE) >= (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
		log_warnx("%s: path too long", srv->data_dir);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		log_warn("%s", tmp);
		return -1;
	}
	TAILQ_FOREACH(q, &srv->queues, entry) {
		if (!q->declared && q->set == 0)
			continue;
		n = (size_t)snprintf(line, sizeof line, "%s", q->name);
		if (q->set != 0) {
			line[n++] = ' ';
			n += settings_format(&q->s, q->set, line + n,
			    sizeof line - n - 1);
		}
		line[n++] = '\n';
		if (write_all(fd, line, n) != 0)
			goto fail;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	if (fsync(srv->journal.dirfd) != 0)
		log_warn("%s: fsync", srv->data_dir);
	return 0;
fail:
	log_warn("%s", tmp);
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	return -1;
}

/*
 * At start, before the journal is read back: the queues DIR/queues names,
 * with their settings.  A line that does not parse stops the start,
 * naming the file, the line and what is wrong.
 */
int
queues_load(struct server *srv)
{
	struct qsettings s;
	struct nqueue	*q;
	FILE		*f;
	char		 path[4096], line[1024], err[256], *p, *word, *eq;
	unsigned int	 set;
	int		 lineno = 0, bit;

	if (srv->data_dir == NULL)
		return 0;
	snprintf(path, sizeof path, "%s/%s", srv->data_dir, QUEUES_FILE);
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_errorx("%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		p = line;
		if ((word = strsep(&p, " ")) == NULL || *word == '\0')
			continue;
		if (!queues_name_ok("queue", word, strlen(word), err,
		    sizeof err)) {
			log_errorx("%s:%d: %s", path, lineno, err);
			goto fail;
		}
		if ((q = queues_find(srv, word, strlen(word))) == NULL &&
		    (q = queues_create(srv, word, strlen(word))) == NULL) {
			log_errorx("%s:%d: out of memory", path, lineno);
			goto fail;
		}
		s = q->s;
		set = 0;
		while ((word = strsep(&p, " ")) != NULL) {
			if (*word == '\0')
				continue;
			if ((eq = strchr(word, '=')) == NULL) {
				log_errorx("%s:%d: \"%s\" is not KEY=VALUE",
				    path, lineno, word);
				goto fail;
			}
			*eq = '\0';
			if ((bit = settings_set(&s, word, eq + 1, err,
			    sizeof err)) < 0) {
				log_errorx("%s:%d: %s", path, lineno, err);
				goto fail;
			}
			set |= (unsigned int)bit;
		}
		if (settings_check(&s, err, sizeof err) != 0) {
			log_errorx("%s:%d: %s", path, lineno, err);
			goto fail;
		}
		q->declared = 1;
		server_tick(srv);
		if (queues_apply(q, &s, set) != 0) {
			log_errorx("%s:%d: queue %s: out of memory", path,
			    lineno, q->name);
			goto fail;
		}
	}
	if (ferror(f)) {
		log_errorx("%s: read error", path);
		goto fail;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}
