/*
 * conn.c: one connection's life: the HELLO handshake, the protocol state
 * machine over the frames that arrive, replies and events out, and
 * closing.  The bytes themselves move in io.c.  A connection is freed only
 * from its own event callbacks, never while its input is being parsed.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backend.h"
#include "clock.h"
#include "log.h"
#include "producerd.h"

/* How long a closing connection may take to accept its last bytes. */
#define CLOSE_FLUSH_SEC		5

static void	conn_fail(struct conn *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static dead_tell conn_dead_told;
static const struct enq_door conn_door;

static const char *
role_name(enum conn_role role)
{
	switch (role) {
	case ROLE_CONSUMER:
		return "consumer";
	case ROLE_CLIENT:
		return "client";
	case ROLE_UPSTREAM:
		return "upstream";
	default:
		return "peer";
	}
}

/* "#3 consumer 7 (pid 123, uid 1000)", for log lines. */
static const char *
conn_label(struct conn *c)
{
	static char	 buf[PS_NAME_MAX + 96];

	snprintf(buf, sizeof buf, "#%llu %s%s%s (pid %ld, uid %lu)",
	    (unsigned long long)c->serial, role_name(c->role),
	    c->name[0] != '\0' ? " " : "", c->name, (long)c->pid,
	    (unsigned long)c->uid);
	return buf;
}

/*
 * Turn a peer away before it has a connection struct: one ERROR frame,
 * written if the socket takes it at once, then close.  Refusals are logged
 * at most once a second, so a flood cannot flood the log.
 */
static void
refuse(struct server *srv, int fd, int code, const char *why, pid_t pid,
    uid_t uid)
{
	struct ps_buf	 b = { 0 };

	srv->refused_total++;
	if (ps_put_error(&b, (uint16_t)code, why) == 0 &&
	    write(fd, b.data, b.len) == -1)
		log_debug("refused peer: write: %s", strerror(errno));
	ps_buf_free(&b);
	close(fd);
	if (!log_throttle(&srv->refused_log, time(NULL)))
		return;
	log_warnx("refused pid %ld, uid %lu: %s%s", (long)pid,
	    (unsigned long)uid, why, srv->refused_log.held ? " (and more "
	    "refusals not logged)" : "");
	srv->refused_log.held = 0;
}

void
conn_accept(struct server *srv, int fd)
{
	struct ucred		 uc = { -1, (uid_t)-1, (gid_t)-1 };
	socklen_t		 len = sizeof uc;
	char			 why[128];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		log_warn("getsockopt SO_PEERCRED");
	if (srv->draining) {
		refuse(srv, fd, PS_E_DRAINING, "producerd is draining for "
		    "shutdown and takes no new connections", uc.pid, uc.uid);
		return;
	}
	if (!access_allowed(&srv->allow, fd, uc.uid, uc.gid)) {
		snprintf(why, sizeof why, "uid %lu, gid %lu may not connect "
		    "(producerd --allow-uid, --allow-gid)",
		    (unsigned long)uc.uid, (unsigned long)uc.gid);
		refuse(srv, fd, PS_E_FORBIDDEN, why, uc.pid, uc.uid);
		return;
	}
	if (srv->nconns >= srv->max_connections) {
		snprintf(why, sizeof why, "producerd has %u connections, its "
		    "limit (--max-connections)", srv->nconns);
		refuse(srv, fd, PS_E_TOO_MANY, why, uc.pid, uc.uid);
		return;
	}
	if (conn_new(srv, fd, uc.pid, uc.uid, uc.gid) == NULL)
		close(fd);
}

static void
conn_hello_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->role == ROLE_UPSTREAM)
		conn_fail(c, PS_E_TIMEOUT, "no WELCOME within %u ms",
		    c->srv->handshake_ms);
	else
		conn_fail(c, PS_E_TIMEOUT, "no HELLO within %u ms "
		    "(--handshake-timeout)", c->srv->handshake_ms);
}

/* A connection on fd (-1: none), which it owns if it returns non-NULL. */
struct conn *
conn_new(struct server *srv, int fd, pid_t pid, uid_t uid, gid_t gid)
{
	struct conn	*c;
	struct timeval	 tv;

	if ((c = calloc(1, sizeof *c)) == NULL) {
		log_warn("accept: calloc");
		return NULL;
	}
	c->srv = srv;
	c->fd = fd;
	c->pid = pid;
	c->uid = uid;
	c->gid = gid;
	if (io_start(c) != 0 || (c->hello_timer = evtimer_new(srv->base,
	    conn_hello_timeout, c)) == NULL || evtimer_add(c->hello_timer,
	    ms_timeval(srv->handshake_ms, &tv)) != 0) {
		log_warnx("accept: cannot set the connection up");
		if (c->hello_timer != NULL)
			event_free(c->hello_timer);
		c->fd = -1;		/* the caller closes it */
		io_stop(c);
		free(c);
		return NULL;
	}
	c->state = CONN_HELLO;
	c->serial = ++srv->next_serial;
	c->since = time(NULL);
	srv->connections_total++;
	srv->nconns++;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	log_debug("%s connected", conn_label(c));
	return c;
}

/* c waits no more in its queue's line of blocked clients. */
static void
conn_unline(struct conn *c)
{
	TAILQ_REMOVE(&c->enq_q->blocked, c, bentry);
	c->blocked = 0;
	queues_blocked(c->enq_q, -1);
}

/* Take the connection out of the dispatcher and the role counts, once. */
static void
conn_leave(struct conn *c)
{
	struct server	*srv = c->srv;
	struct gpath	 gp;
	int		 back;

	if (c->hello_timer != NULL) {
		event_free(c->hello_timer);
		c->hello_timer = NULL;
	}
	if (c->blocked)
		conn_unline(c);
	if (c->role == ROLE_CONSUMER) {
		server_tick(srv);
		back = dispatch_detach(&c->g->d, &c->dc);
		srv->nconsumers--;
		c->q->nconsumers--;
		c->g->nconsumers--;
		log_info("%s left queue %s: %llu delivered, %d unacked put back",
		    conn_label(c), groups_path(c->g, &gp),
		    (unsigned long long)c->dc.delivered, back);
		dispatch_run(&c->g->d);
		queues_touch(c->q);
	} else if (c->role == ROLE_CLIENT)
		srv->nclients--;
	else if (c->role == ROLE_UPSTREAM)
		upstream_closed(srv);
	c->role = ROLE_NONE;
}

void
conn_close(struct conn *c)
{
	struct server	*srv = c->srv;

	log_debug("%s closed", conn_label(c));
	waits_forget(c);
	conn_leave(c);
	srv->nconns--;
	TAILQ_REMOVE(&srv->conns, c, entry);
	if (c->close_timer != NULL)
		event_free(c->close_timer);
	io_stop(c);
	ps_buf_free(&c->enq_dups);
	srv->backend->forget(srv, c);
	free(c);
}

static void
conn_close_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	log_warnx("%s: not reading; dropped", conn_label(c));
	conn_close(c);
}

/* Stop reading and close once what is queued for the peer has gone out. */
static void
conn_closing(struct conn *c)
{
	struct timeval	 tv = { CLOSE_FLUSH_SEC, 0 };

	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	conn_leave(c);
	io_reading(c, 0);
	if ((c->close_timer = evtimer_new(c->srv->base, conn_close_timeout,
	    c)) != NULL)
		evtimer_add(c->close_timer, &tv);
	/* The flush closes it once its output is gone, or at once if none. */
	io_dirty(c);
}

/*
 * io.c wrote what it could: a closing connection with nothing left goes,
 * and one paused for a full output reads again once it has half drained.
 */
void
conn_flushed(struct conn *c)
{
	size_t	 left = evbuffer_get_length(c->out);

	if (c->state == CONN_CLOSING) {
		if (left == 0)
			conn_close(c);
		return;
	}
	if ((c->hold & HOLD_OUTPUT) && left <= CONN_OUT_HIGH / 2)
		conn_release(c, HOLD_OUTPUT);
}

/* Close c once its output is out, without an ERROR (the upstream link). */
void
conn_drop(struct conn *c)
{
	conn_closing(c);
}

/* The peer closed its side: answer what it sent, then close. */
void
conn_eof(struct conn *c)
{
	if (c->state != CONN_CLOSING && io_pending(c) == 0) {
		conn_close(c);
		return;
	}
	conn_closing(c);
}

void
conn_nomem(struct conn *c)
{
	conn_fail(c, PS_E_NOMEM, "no memory to read a frame");
}

/* Queue the encoded frames in the server's scratch buffer for the peer. */
static void
conn_send(struct conn *c)
{
	struct ps_buf	*b = &c->srv->scratch;

	if (ps_buf_add(&c->stage, b->data, b->len) != 0)
		log_warnx("%s: out of memory queueing a reply", conn_label(c));
	b->len = 0;
	io_dirty(c);
}

/* Answer a protocol error with an ERROR frame, then close. */
static void
conn_fail(struct conn *c, int code, const char *fmt, ...)
{
	struct server	*srv = c->srv;
	char		 msg[512];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", conn_label(c), msg);
	srv->scratch.len = 0;
	/* The link upstream is ours: we drop it, and say nothing there. */
	if (c->role != ROLE_UPSTREAM) {
		srv->protocol_errors_total++;
		if (ps_put_error(&srv->scratch, (uint16_t)code, msg) == 0)
			conn_send(c);
	}
	conn_closing(c);
}

/* An ERROR frame from elsewhere in the daemon (admin.c), then close. */
void
conn_error(struct conn *c, int code, const char *why)
{
	conn_fail(c, code, "%s", why);
}

/* An operator's change asked for by c (admin.c). */
static void
conn_admin(struct conn *c, struct admin *a)
{
	memset(a, 0, sizeof *a);
	a->srv = c->srv;
	a->by = c;
	a->who = conn_label(c);
}

static int
printable(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * May a consumer with HELLO h join queue qname, of settings s (its own,
 * or the defaults a queue made for it would have)?  Asked before anything
 * is made, so that a refused HELLO leaves no queue or group behind.  A
 * consumer of a queue in partition mode names one of its partitions; of
 * any other queue, none; a version 1 consumer cannot ack, so not of a
 * queue in key order.  0 and c failed otherwise.
 */
static int
consumer_fits(struct conn *c, const struct ps_hello *h, const char *qname,
    int qlen, const struct qsettings *s)
{
	if (h->version < 2 && s->mode == DISPATCH_KEY) {
		conn_fail(c, PS_E_BAD_VALUE, "queue %.*s keeps key order, "
		    "which needs acks: protocol version 2 or later", qlen,
		    qname);
		return 0;
	}
	if (s->mode != DISPATCH_PARTITION) {
		if (!h->has_partition)
			return 1;
		conn_fail(c, PS_E_BAD_VALUE, "queue %.*s has no partitions "
		    "(dispatch=%s): its consumers name none", qlen, qname,
		    s->mode == DISPATCH_KEY ? "key" : "demand");
		return 0;
	}
	if (!h->has_partition) {
		conn_fail(c, PS_E_BAD_VALUE, "queue %.*s has %u partitions: a "
		    "consumer names one, 0 to %u (protocol version 3)",
		    qlen, qname, s->partitions, s->partitions - 1);
		return 0;
	}
	if (h->partition >= s->partitions) {
		conn_fail(c, PS_E_BAD_VALUE, "partition %u is not one of queue "
		    "%.*s's %u (0 to %u)", h->partition, qlen, qname,
		    s->partitions, s->partitions - 1);
		return 0;
	}
	return 1;
}

static void
conn_hello(struct conn *c, const struct ps_frame *f)
{
	struct server	*srv = c->srv;
	struct ps_hello	 h;
	struct ps_welcome w;
	struct qgroup	*g = NULL;
	struct nqueue	*q;
	struct gpath	 gp;
	const char	*slash;
	char		 why[256];
	int		 error, code, qlen;

	if ((error = ps_get_hello(f, &h)) != 0) {
		conn_fail(c, -error, "bad HELLO: %s", ps_strerror(error));
		return;
	}
	if (h.version < PS_PROTO_MIN_VERSION ||
	    h.version > PS_PROTO_MAX_VERSION) {
		conn_fail(c, PS_E_VERSION, "protocol version %u is not "
		    "supported; this daemon speaks versions %u to %u",
		    h.version, PS_PROTO_MIN_VERSION, PS_PROTO_MAX_VERSION);
		return;
	}
	if (h.version >= 3 && h.queue == NULL) {
		conn_fail(c, PS_E_BAD_LENGTH, "bad HELLO: a version %u HELLO "
		    "ends with its queue (u8 length, then the name)",
		    h.version);
		return;
	}
	if (!printable(h.name, h.name_len)) {
		conn_fail(c, PS_E_BAD_VALUE, "HELLO name has control bytes");
		return;
	}
	switch (h.role) {
	case PS_ROLE_CONSUMER:
		if (h.name_len == 0) {
			conn_fail(c, PS_E_BAD_VALUE, "a consumer's HELLO must "
			    "carry its id");
			return;
		}
		if (h.max_demand == 0 || h.max_demand > PS_DEMAND_LIMIT) {
			conn_fail(c, PS_E_BAD_VALUE, "max_demand %u is not "
			    "from 1 to %u", h.max_demand, PS_DEMAND_LIMIT);
			return;
		}
		if (h.min_demand >= h.max_demand) {
			conn_fail(c, PS_E_BAD_VALUE, "min_demand %u must be "
			    "below max_demand %u", h.min_demand, h.max_demand);
			return;
		}
		if (h.queue_len == 0) {
			h.queue = PS_QUEUE_DEFAULT;
			h.queue_len = sizeof PS_QUEUE_DEFAULT - 1;
		}
		slash = memchr(h.queue, '/', h.queue_len);
		qlen = slash != NULL ? (int)(slash - h.queue) :
		    (int)h.queue_len;
		q = queues_find(srv, h.queue, (size_t)qlen);
		/* A bad name is groups_resolve's to say. */
		if (ps_queue_name_ok(h.queue, (size_t)qlen) &&
		    !consumer_fits(c, &h, h.queue, qlen, q != NULL ? &q->s :
		    &srv->qdefault))
			return;
		/* "QUEUE", or "QUEUE/GROUP": made if they may be. */
		if ((g = groups_resolve(srv, h.queue, h.queue_len, 1, &code,
		    why, sizeof why)) == NULL) {
			conn_fail(c, code, "%s", why);
			return;
		}
		dispatch_attach(&g->d, &c->dc, h.max_demand, h.min_demand,
		    g->q->s.acks && h.version >= 2, c);
		c->dc.name = c->name;		/* filled in below */
		c->dc.nlen = h.name_len;
		/* None: UINT32_MAX, as STATS_REPLY shows it. */
		c->dc.partition = h.has_partition ? h.partition : UINT32_MAX;
		c->q = g->q;
		c->g = g;
		g->q->nconsumers++;
		g->nconsumers++;
		srv->nconsumers++;
		queues_touch(g->q);
		break;
	case PS_ROLE_CLIENT:
		if (h.max_demand != 0 || h.min_demand != 0) {
			conn_fail(c, PS_E_BAD_VALUE, "a client has no demand: "
			    "max_demand and min_demand must be 0");
			return;
		}
		if (h.queue_len != 0 || h.has_partition) {
			conn_fail(c, PS_E_BAD_VALUE, "a client's HELLO names "
			    "no queue or partition: each of its frames does");
			return;
		}
		srv->nclients++;
		break;
	default:
		conn_fail(c, PS_E_BAD_VALUE, "unknown role %u", h.role);
		return;
	}
	memcpy(c->name, h.name, h.name_len);
	c->name[h.name_len] = '\0';
	c->role = h.role;
	c->version = h.version;
	c->state = CONN_ACTIVE;
	event_free(c->hello_timer);
	c->hello_timer = NULL;
	if (c->role == ROLE_CONSUMER && h.has_partition)
		log_info("%s joined queue %s, partition %u: max_demand %u, "
		    "min_demand %u", conn_label(c), groups_path(g, &gp),
		    h.partition, h.max_demand, h.min_demand);
	else if (c->role == ROLE_CONSUMER)
		log_info("%s joined queue %s: max_demand %u, min_demand %u",
		    conn_label(c), groups_path(g, &gp), h.max_demand,
		    h.min_demand);
	else
		log_debug("%s joined", conn_label(c));

	/* A consumer hears its queue's settings; a client the defaults. */
	w.version = (uint16_t)c->version;
	w.max_frame = srv->max_frame;
	if (g != NULL) {
		w.ack_timeout_ms = g->d.policy->ack_timeout;
		w.max_attempts = (uint16_t)g->d.policy->max_attempts;
		w.delivery = c->dc.acks ? PS_AT_LEAST_ONCE : PS_AT_MOST_ONCE;
	} else {
		w.ack_timeout_ms = srv->qdefault.acks ?
		    srv->qdefault.ack_timeout : 0;
		w.max_attempts = (uint16_t)srv->qdefault.max_attempts;
		w.delivery = srv->qdefault.acks ? PS_AT_LEAST_ONCE :
		    PS_AT_MOST_ONCE;
	}
	if (ps_put_welcome(&srv->scratch, &w) == 0)
		conn_send(c);
}

/* The group of q with the most buffered: the one that fills first. */
static struct qgroup *
fullest(struct nqueue *q)
{
	struct qgroup	*g, *most = TAILQ_FIRST(&q->groups);

	TAILQ_FOREACH(g, &q->groups, entry) {
		if (g->d.queue.count > most->d.queue.count)
			most = g;
	}
	return most;
}

/* At most one line a second about shedding and refusing, with counts. */
static void
overflow_log(struct nqueue *q, struct conn *c, const struct ps_enqueued *r)
{
	struct server	*srv = q->srv;

	srv->overflow_shed += r->shed_new + r->shed_old;
	srv->overflow_refused += r->refused;
	if (srv->overflow_shed + srv->overflow_refused == 0 ||
	    !log_throttle(&srv->overflow_log, time(NULL)))
		return;
	log_warnx("queue %s full (%zu events, %llu bytes in its fullest "
	    "group; every queue %llu of --max-memory %llu bytes): %llu events "
	    "shed, %llu refused since the last report; last by %s", q->name,
	    fullest(q)->d.queue.count,
	    (unsigned long long)fullest(q)->d.queue.bytes,
	    (unsigned long long)srv->store.bytes,
	    (unsigned long long)srv->store.max,
	    (unsigned long long)srv->overflow_shed,
	    (unsigned long long)srv->overflow_refused, conn_label(c));
	srv->overflow_shed = srv->overflow_refused = 0;
}

/*
 * An ENQUEUE: the backend takes it (backend.h), and this answers it.
 * Returns 1, the frame kept, when it must wait in its queue's line (for
 * room, or behind clients already waiting); 2 when it is held until the
 * backend resumes it.
 */
static int
conn_enqueue(struct conn *c, const struct ps_frame *f)
{
	struct server		*srv = c->srv;
	struct ps_enqueued	*r = &c->enq_reply;
	struct ps_enqueue_iter	 it;
	struct ps_queue		 pq;
	struct nqueue		*q;
	struct enq		 e;
	char			 why[256];
	int			 error, code;

	if (!c->enq_started) {
		if ((f->flags & PS_F_ATTRS) && c->version < 3) {
			conn_fail(c, PS_E_BAD_HEADER, "ENQUEUE with attributes "
			    "(flags 1) is protocol version 3's, not %d",
			    c->version);
			return 0;
		}
		if ((error = ps_get_enqueue_why(f, c->version, &pq, &it,
		    &it.left, why)) != 0) {
			conn_fail(c, -error, "bad ENQUEUE: %s", it.why != NULL ?
			    it.why : ps_strerror(error));
			return 0;
		}
		if (it.max_at > srv->wall + PS_DELAY_MAX) {
			conn_fail(c, PS_E_BAD_VALUE, "bad ENQUEUE: NOT_BEFORE "
			    "%llu is more than 10 years from now",
			    (unsigned long long)it.max_at);
			return 0;
		}
		if ((q = queues_get(srv, pq.name, pq.len, &code, why,
		    sizeof why)) == NULL) {
			conn_fail(c, code, "%s%s", why, memchr(pq.name, '/',
			    pq.len) != NULL ? " (an ENQUEUE names a queue; "
			    "every group of it gets the events)" : "");
			return 0;
		}
		c->enq_q = q;
		memset(r, 0, sizeof *r);
		c->enq_dups.len = 0;
		r->dups = &c->enq_dups;
	} else
		ps_enqueue_resume(&it, &c->enq_mark, f);	/* it may move */
	q = c->enq_q;
	queues_touch(q);
	/* Draining: nothing taken yet, the batch is refused whole. */
	if (srv->draining && r->accepted == 0) {
		c->enq_started = 0;
		conn_fail(c, PS_E_DRAINING, "producerd is draining for "
		    "shutdown and takes no new events");
		return 0;
	}
	/* Field by field: its why is written only when it fails. */
	e.q = q;
	e.it = &it;
	e.r = r;
	e.door = &conn_door;
	e.arg = c;
	e.pending = c->pending;
	e.turn = c->turn;
	e.started = c->enq_started;
	e.code = 0;
	switch (srv->backend->enqueue(srv, &e)) {
	case ENQ_WAIT:
		if ((c->enq_started = e.started))
			ps_enqueue_mark(&c->enq_mark, &it, f);
		return 1;
	case ENQ_HELD:
		conn_hold(c, HOLD_STREAM);
		return 2;
	case ENQ_FAILED:
		c->enq_started = 0;
		conn_fail(c, e.code, "%s", e.why);
		return 0;
	case ENQ_LATER:
		c->enq_started = 0;
		return 0;
	}
	c->enq_started = 0;
	c->turn = 0;
	if (r->shed_new + r->shed_old + r->refused != 0)
		overflow_log(q, c, r);
	if (ps_put_enqueued(&srv->scratch, c->version, r) == 0)
		conn_send(c);
	return 0;
}

static void
conn_demand(struct conn *c, const struct ps_frame *f)
{
	struct dispatch	*d = &c->g->d;
	uint32_t	 n;
	int		 error;

	if ((error = ps_get_demand(f, &n)) != 0) {
		conn_fail(c, -error, "bad DEMAND: %s", ps_strerror(error));
		return;
	}
	if (dispatch_demand(d, &c->dc, n) != 0) {
		conn_fail(c, PS_E_DEMAND, "DEMAND %u on top of %u outstanding "
		    "is over max_demand %u", n, c->dc.demand,
		    c->dc.max_demand);
		return;
	}
	dispatch_run(d);
	queues_touch(c->q);
}

/*
 * The group a client's request names, "QUEUE" (its shared group) or
 * "QUEUE/GROUP"; NULL after failing the connection when there is none (a
 * request never makes one).
 */
static struct qgroup *
conn_group(struct conn *c, const struct ps_queue *pq, const char *what)
{
	struct qgroup	*g;
	char		 why[256];
	int		 code;

	if ((g = groups_resolve(c->srv, pq->name, pq->len, 0, &code, why,
	    sizeof why)) == NULL)
		conn_fail(c, code, "%s: %s", what, why);
	return g;
}

/* The queue a client's request names; NULL after failing, if none. */
static struct nqueue *
conn_queue(struct conn *c, const struct ps_queue *pq, const char *what)
{
	struct nqueue	*q;
	char		 err[256];

	if (!queues_name_ok("queue", pq->name, pq->len, err, sizeof err)) {
		conn_fail(c, PS_E_BAD_VALUE, "%s: %s", what, err);
		return NULL;
	}
	if ((q = queues_find(c->srv, pq->name, pq->len)) == NULL)
		conn_fail(c, PS_E_NO_QUEUE, "%s: no queue %.*s", what,
		    (int)pq->len, pq->name);
	return q;
}

static void
conn_stats(struct conn *c, const struct ps_frame *f)
{
	struct ps_queue	 pq;
	struct qgroup	*g = NULL;
	int		 error;

	if ((error = ps_get_stats(f, c->version, &pq)) != 0) {
		conn_fail(c, -error, "bad STATS: %s", ps_strerror(error));
		return;
	}
	if (pq.len != 0 && (g = conn_group(c, &pq, "STATS")) == NULL)
		return;
	if (stats_encode(c->srv, g, &c->srv->scratch, c->version) != 0) {
		c->srv->scratch.len = 0;
		conn_fail(c, PS_E_NOMEM, "no memory for the stats reply");
		return;
	}
	conn_send(c);
}

/*
 * ACK, NACK, NACK_LATER or TOUCH: each id must be in flight on this
 * consumer.
 */
static void
conn_ids(struct conn *c, const struct ps_frame *f)
{
	struct dispatch	*d = &c->g->d;
	struct ps_ids	 ids;
	uint64_t	 id;
	uint32_t	 i;
	int		 error, r;

	if ((error = ps_get_ids(f, &ids)) != 0) {
		conn_fail(c, -error, "bad %s: %s", ps_type_name(f->type),
		    ps_strerror(error));
		return;
	}
	if (!c->dc.acks) {
		conn_fail(c, PS_E_BAD_STATE, "%s on a connection without "
		    "acknowledgements (delivery is at most once)",
		    ps_type_name(f->type));
		return;
	}
	for (i = 0; i < ids.count; i++) {
		id = ps_ids_at(&ids, i);
		if (f->type == PS_NACK_LATER)
			r = dispatch_nack_later(d, &c->dc, id, ids.delay_ms);
		else
			r = dispatch_answer(d, &c->dc, id, f->type);
		if (r == DISPATCH_LATE)
			log_debug("%s: %s %llu after it timed out: ignored",
			    conn_label(c), ps_type_name(f->type),
			    (unsigned long long)id);
		else if (r == DISPATCH_UNKNOWN) {
			conn_fail(c, PS_E_NOT_IN_FLIGHT, "%s of event %llu, "
			    "which is not in flight on this connection",
			    ps_type_name(f->type), (unsigned long long)id);
			break;
		}
	}
	if (f->type != PS_TOUCH)
		dispatch_run(d);
	queues_touch(c->q);
}

/* JOB: where an event of a queue or group is, and what it carries. */
static void
conn_job(struct conn *c, const struct ps_frame *f)
{
	struct server		*srv = c->srv;
	struct ps_job_ask	 a;
	struct qgroup		*g;
	char			 why[256];
	int			 error, code;

	if ((error = ps_get_job(f, &a)) != 0) {
		conn_fail(c, -error, "bad JOB: %s", error == -PS_E_BAD_VALUE ?
		    "a preview over 1024, or neither an id nor a unique id "
		    "(of 1 to 128 bytes) alone" : ps_strerror(error));
		return;
	}
	if ((g = conn_group(c, &a.queue, "JOB")) == NULL)
		return;
	if (srv->backend->job(srv, g, &a, &srv->scratch, &code, why,
	    sizeof why) != 0) {
		conn_fail(c, code, "%s", why);
		return;
	}
	conn_send(c);
}

/*
 * JOB_CANCEL: events of a queue, each cancelled in every group; those in
 * flight are marked and their consumers told (conn_cancelled).
 */
static void
conn_job_cancel(struct conn *c, const struct ps_frame *f)
{
	struct server		*srv = c->srv;
	struct ps_cancel_ask	 a;
	struct nqueue		*q;
	char			 why[256];
	int			 error, code;

	if ((error = ps_get_job_cancel(f, &a)) != 0) {
		conn_fail(c, -error, "bad JOB_CANCEL: %s", error ==
		    -PS_E_BAD_VALUE ? "ids or a unique id (of 1 to 128 "
		    "bytes), one of the two" : ps_strerror(error));
		return;
	}
	if (a.ids.count > srv->max_frame / 9) {
		conn_fail(c, PS_E_BAD_VALUE, "JOB_CANCEL of %u ids: at most %u "
		    "in one (its reply must fit a frame of %u bytes)",
		    a.ids.count, srv->max_frame / 9, srv->max_frame);
		return;
	}
	if (memchr(a.queue.name, '/', a.queue.len) != NULL) {
		conn_fail(c, PS_E_BAD_VALUE, "JOB_CANCEL: %.*s is a group; a "
		    "job is cancelled in every group of its queue: name the "
		    "queue", (int)a.queue.len, a.queue.name);
		return;
	}
	if ((q = conn_queue(c, &a.queue, "JOB_CANCEL")) == NULL)
		return;
	if (srv->backend->job_cancel(srv, q, &a, &srv->scratch, &code, why,
	    sizeof why) != 0) {
		conn_fail(c, code, "JOB_CANCEL: %s", why);
		return;
	}
	conn_send(c);
	queues_touch(q);
}

/*
 * WAIT: the client hears how an event of a queue or group ended, when it
 * ends (waits.c), with its result or last error; until then it is not
 * read.
 */
static void
conn_wait(struct conn *c, const struct ps_frame *f)
{
	struct server		*srv = c->srv;
	struct ps_wait_ask	 a;
	struct qgroup		*g;
	struct uniq		*u;
	char			 why[256];
	uint64_t		 id;
	int			 error;

	if ((error = ps_get_wait(f, &a)) != 0) {
		conn_fail(c, -error, "bad WAIT: %s", error == -PS_E_BAD_VALUE ?
		    "neither an id nor a unique id (of 1 to 128 bytes) alone" :
		    ps_strerror(error));
		return;
	}
	if ((g = conn_group(c, &a.queue, "WAIT")) == NULL)
		return;
	if (srv->backend->waits(why, sizeof why) != 0) {
		conn_fail(c, PS_E_BAD_STATE, "%s", why);
		return;
	}
	id = a.id;
	if (id == 0)
		id = (u = dispatch_uniq_of(&g->d)) != NULL ?
		    uniq_id(u, a.uid, a.ulen) : 0;
	if (waits_add(srv, c, g, id, a.timeout_ms) != 0)
		log_warnx("%s: out of memory for a WAIT: answered at once",
		    conn_label(c));
}

/*
 * The answer to c's WAIT, straight onto its stage: it may come while
 * another connection's reply is being made in the scratch buffer (an
 * event that ends in the dispatch run a JOB_CANCEL starts).
 */
void
conn_waited(struct conn *c, const struct ps_wait_reply *r)
{
	io_dirty(c);
	if (ps_put_wait_reply(&c->stage, r) != 0)
		log_warnx("%s: out of memory answering its WAIT",
		    conn_label(c));
}

/* ACK_RESULT: one event in flight here is done, and this is its result. */
static void
conn_ack_result(struct conn *c, const struct ps_frame *f)
{
	struct dispatch		*d = &c->g->d;
	struct ps_ack_result	 a;
	int			 error, r;

	if ((error = ps_get_ack_result(f, &a)) != 0) {
		conn_fail(c, -error, "bad ACK_RESULT: %s", ps_strerror(error));
		return;
	}
	if (!c->dc.acks) {
		conn_fail(c, PS_E_BAD_STATE, "ACK_RESULT on a connection "
		    "without acknowledgements (delivery is at most once)");
		return;
	}
	if (a.len > d->policy->max_result) {
		conn_fail(c, PS_E_BAD_VALUE, "ACK_RESULT of event %llu: a "
		    "result of %u bytes; queue %s takes at most %u "
		    "(max-result)", (unsigned long long)a.id, a.len,
		    c->q->name, d->policy->max_result);
		return;
	}
	r = dispatch_ack_result(d, &c->dc, a.id, a.result, a.len);
	if (r == DISPATCH_LATE)
		log_debug("%s: ACK_RESULT %llu after it timed out: ignored",
		    conn_label(c), (unsigned long long)a.id);
	else if (r == DISPATCH_UNKNOWN) {
		conn_fail(c, PS_E_NOT_IN_FLIGHT, "ACK_RESULT of event %llu, "
		    "which is not in flight on this connection",
		    (unsigned long long)a.id);
		return;
	}
	dispatch_run(d);
	queues_touch(c->q);
}

/* JOBS: a page of a queue's (or group's) events in one state. */
static void
conn_jobs(struct conn *c, const struct ps_frame *f)
{
	struct server		*srv = c->srv;
	struct ps_jobs_ask	 a;
	struct qgroup		*g;
	char			 why[256];
	int			 error, code;

	if ((error = ps_get_jobs(f, &a)) != 0) {
		conn_fail(c, -error, "bad JOBS: %s", error == -PS_E_BAD_VALUE ?
		    "a state that is not 1, 2, 5, 6, 7 or 9, a limit not 1 to "
		    "1000, a preview over 1024, or a bad filter" :
		    ps_strerror(error));
		return;
	}
	if ((g = conn_group(c, &a.queue, "JOBS")) == NULL)
		return;
	if (srv->backend->jobs(srv, g, &a, &srv->scratch, &code, why,
	    sizeof why) != 0) {
		srv->scratch.len = 0;
		conn_fail(c, code, "%s", why);
		return;
	}
	conn_send(c);
}

/* The wire's "the queue's backoff" is the dispatcher's. */
_Static_assert(PS_NACK_BACKOFF == DISPATCH_BACKOFF, "NACK_ERROR's backoff");
_Static_assert(PS_NACK_DEAD == DISPATCH_REJECT, "NACK_ERROR's give-up");

/* NACK_ERROR: one event in flight here failed, and this is why. */
static void
conn_nack_error(struct conn *c, const struct ps_frame *f)
{
	struct dispatch		*d = &c->g->d;
	struct ps_nack_error	 n;
	int			 error, r;

	if ((error = ps_get_nack_error(f, &n)) != 0) {
		conn_fail(c, -error, "bad NACK_ERROR: %s", error ==
		    -PS_E_BAD_VALUE ? "an error of more than 4096 bytes" :
		    ps_strerror(error));
		return;
	}
	if (!c->dc.acks) {
		conn_fail(c, PS_E_BAD_STATE, "NACK_ERROR on a connection "
		    "without acknowledgements (delivery is at most once)");
		return;
	}
	r = dispatch_nack_error(d, &c->dc, n.id, n.delay_ms, n.error,
	    n.error_len);
	if (r == DISPATCH_LATE)
		log_debug("%s: NACK_ERROR %llu after it timed out: ignored",
		    conn_label(c), (unsigned long long)n.id);
	else if (r == DISPATCH_UNKNOWN) {
		conn_fail(c, PS_E_NOT_IN_FLIGHT, "NACK_ERROR of event %llu, "
		    "which is not in flight on this connection",
		    (unsigned long long)n.id);
		return;
	}
	dispatch_run(d);
	queues_touch(c->q);
}

/*
 * A dead-letter request of QUEUE[/GROUP], to the backend, which answers
 * at once or later (conn_dead_told): c waits for it.
 */
static void
conn_dead(struct conn *c, uint8_t type, const struct ps_queue *pq,
    uint32_t preview, const struct ps_ids *ids)
{
	struct server	*srv = c->srv;
	struct dead_ask	 ask = { .type = type, .preview = preview,
			    .version = c->version,
			    .limit = UINT32_MAX, .ids = ids,
			    .tell = conn_dead_told, .arg = c };
	char		 queue[PS_QUEUE_MAX + 1], group[PS_QUEUE_MAX + 1];
	char		 why[512];
	const char	*slash;
	size_t		 qlen = pq->len, glen = 0;

	if ((slash = memchr(pq->name, '/', pq->len)) != NULL) {
		qlen = (size_t)(slash - pq->name);
		glen = pq->len - qlen - 1;
	}
	if (!queues_name_ok("queue", pq->name, qlen, why, sizeof why) ||
	    (glen != 0 && !queues_name_ok("group", slash + 1, glen, why,
	    sizeof why))) {
		conn_fail(c, PS_E_BAD_VALUE, "%s: %s", ps_type_name(type), why);
		return;
	}
	memcpy(queue, pq->name, qlen);
	queue[qlen] = '\0';
	if (glen != 0)
		memcpy(group, slash + 1, glen);
	group[glen] = '\0';
	ask.queue = queue;
	ask.group = group;
	ask.who = conn_label(c);
	c->dead_type = type;
	/* Held first: an answer that comes at once finds it held. */
	conn_hold(c, HOLD_DEAD);
	if (srv->backend->dead(srv, &ask, why, sizeof why) != 0) {
		conn_fail(c, PS_E_STORAGE, "%s: %s", ps_type_name(type), why);
		conn_release(c, HOLD_DEAD);
	}
}

/* Up to the frame limit, the oldest dead events first. */
static void
conn_dead_list(struct conn *c, const struct ps_frame *f)
{
	struct ps_queue	 pq;
	uint32_t	 preview;
	int		 error;

	if ((error = ps_get_dead_list(f, c->version, &pq, &preview)) != 0) {
		conn_fail(c, -error, "bad DEAD_LIST: %s", ps_strerror(error));
		return;
	}
	conn_dead(c, f->type, &pq, preview, NULL);
}

/* DEAD_RETRY or DEAD_DROP of the ids given, or of every dead event. */
static void
conn_dead_act(struct conn *c, const struct ps_frame *f)
{
	struct ps_queue	 pq;
	struct ps_ids	 ids;
	int		 error;

	if ((error = ps_get_dead_ids(f, c->version, &pq, &ids)) != 0) {
		conn_fail(c, -error, "bad %s: %s", ps_type_name(f->type),
		    ps_strerror(error));
		return;
	}
	conn_dead(c, f->type, &pq, 0, &ids);
}

static void
conn_queues(struct conn *c, const struct ps_frame *f)
{
	uint32_t	 start;
	int		 error;

	if ((error = ps_get_queues(f, &start)) != 0) {
		conn_fail(c, -error, "bad QUEUES: %s", ps_strerror(error));
		return;
	}
	if (stats_queues(c->srv, &c->srv->scratch, start) != 0) {
		c->srv->scratch.len = 0;
		conn_fail(c, PS_E_NOMEM, "no memory for the queue list");
		return;
	}
	conn_send(c);
}

/* TASK_STATS: a queue's (a group's) counts per task name, a page. */
static void
conn_task_stats(struct conn *c, const struct ps_frame *f)
{
	struct ps_queue	 pq;
	struct qgroup	*g;
	uint32_t	 start;
	int		 error;

	if ((error = ps_get_task_stats(f, &pq, &start)) != 0) {
		conn_fail(c, -error, "bad TASK_STATS: %s", ps_strerror(error));
		return;
	}
	if ((g = conn_group(c, &pq, "TASK_STATS")) == NULL)
		return;
	if (stats_tasks(c->srv, g, &c->srv->scratch, start) != 0) {
		c->srv->scratch.len = 0;
		conn_fail(c, PS_E_NOMEM, "no memory for the task counts");
		return;
	}
	conn_send(c);
}

/* SCHEDULE: the daemon's schedules (schedules.c decides). */
static void
conn_schedule(struct conn *c, const struct ps_frame *f)
{
	struct ps_schedule	 r;
	const char		*w = NULL;
	char			 why[512];
	int			 error, code;

	if ((error = ps_get_schedule_why(f, &r, &w)) != 0) {
		conn_fail(c, -error, "bad SCHEDULE: %s", w != NULL ? w :
		    ps_strerror(error));
		return;
	}
	if (schedules_request(c->srv, &r, c->srv->max_frame, &c->srv->scratch,
	    &code, why, sizeof why) != 0) {
		c->srv->scratch.len = 0;
		conn_fail(c, code, "%s", why);
		return;
	}
	conn_send(c);
}

/*
 * QUEUE_ADMIN's SET and CREATE: the settings, read over *s into *set
 * (those given); 0, or -1 failed.  Every setting is checked before any
 * applies, and before a new queue is made: a refusal changes nothing.
 */
static int
queue_settings(struct conn *c, const char *name, struct ps_queue_admin *a,
    struct qsettings *s, unsigned int *set)
{
	const char	*kv;
	char		 key[64], value[256], err[256], *eq;
	size_t		 len;
	int		 bit;

	while (ps_queue_admin_next(a, &kv, &len)) {
		if (len >= sizeof key + sizeof value ||
		    (eq = memchr(kv, '=', len)) == NULL ||
		    (size_t)(eq - kv) >= sizeof key ||
		    len - (size_t)(eq - kv) - 1 >= sizeof value) {
			conn_fail(c, PS_E_BAD_VALUE, "queue %s: \"%.*s\" is not "
			    "KEY=VALUE", name, (int)(len > 80 ? 80 : len),
			    kv);
			return -1;
		}
		memcpy(key, kv, (size_t)(eq - kv));
		key[eq - kv] = '\0';
		memcpy(value, eq + 1, len - (size_t)(eq - kv) - 1);
		value[len - (size_t)(eq - kv) - 1] = '\0';
		if ((bit = settings_set(s, key, value, err, sizeof err)) < 0) {
			conn_fail(c, PS_E_BAD_VALUE, "queue %s: %s", name, err);
			return -1;
		}
		*set |= (unsigned int)bit;
	}
	return 0;
}

static void
conn_queue_admin(struct conn *c, const struct ps_frame *f)
{
	struct server		*srv = c->srv;
	struct admin		 adm;
	struct ps_queue_admin	 a, pre;
	struct qsettings	 s;
	struct nqueue		*q;
	struct qgroup		*g;
	uint64_t		 n = 0;
	char			 why[256];
	unsigned int		 set;
	int			 error, code;

	if ((error = ps_get_queue_admin(f, &a)) != 0) {
		conn_fail(c, -error, "bad QUEUE_ADMIN: %s", ps_strerror(error));
		return;
	}
	conn_admin(c, &adm);
	switch (a.op) {
	case PS_QUEUE_CREATE:
	case PS_QUEUE_SET:
		q = queues_find(srv, a.queue.name, a.queue.len);
		if (q == NULL && ps_queue_name_ok(a.queue.name, a.queue.len) &&
		    srv->nqueues < srv->max_queues &&
		    (a.op == PS_QUEUE_CREATE || srv->auto_create)) {
			/* The new queue's settings, before it is made. */
			snprintf(why, sizeof why, "%.*s", (int)a.queue.len,
			    a.queue.name);
			pre = a;
			s = srv->qdefault;
			set = 0;
			if (queue_settings(c, why, &pre, &s, &set) != 0)
				return;
			if (admin_check(&adm, why, &s, set) != 0) {
				conn_fail(c, adm.code, "%s", adm.why);
				return;
			}
		}
		if (q == NULL && a.op == PS_QUEUE_CREATE &&
		    ps_queue_name_ok(a.queue.name, a.queue.len) &&
		    srv->nqueues < srv->max_queues &&
		    (q = queues_create(srv, a.queue.name, a.queue.len)) ==
		    NULL) {
			conn_fail(c, PS_E_NOMEM, "out of memory making a "
			    "queue");
			return;
		}
		if (q == NULL && (q = queues_get(srv, a.queue.name,
		    a.queue.len, &code, why, sizeof why)) == NULL) {
			conn_fail(c, code, "%s", why);
			return;
		}
		s = q->s;
		set = 0;
		if (queue_settings(c, q->name, &a, &s, &set) != 0)
			return;
		if (admin_settings(&adm, q, &s, set) != 0) {
			conn_fail(c, adm.code, "%s", adm.why);
			return;
		}
		if (a.op == PS_QUEUE_CREATE)
			q->declared = 1;
		break;
	case PS_QUEUE_PURGE:
		if ((q = conn_queue(c, &a.queue, "purge")) == NULL)
			return;
		n = admin_purge(&adm, q);
		break;
	case PS_QUEUE_DROP_GROUP:
		if (memchr(a.queue.name, '/', a.queue.len) == NULL) {
			conn_fail(c, PS_E_BAD_VALUE, "drop-group: name the "
			    "group as QUEUE/GROUP (QUEUE/: the shared one)");
			return;
		}
		if ((g = conn_group(c, &a.queue, "drop-group")) == NULL)
			return;
		n = g->d.queue.count;
		if (admin_group_drop(&adm, g, a.flags & PS_QUEUE_FORCE) != 0) {
			conn_fail(c, adm.code, "%s", adm.why);
			return;
		}
		break;
	default:
		if ((q = conn_queue(c, &a.queue, "delete")) == NULL)
			return;
		n = queue_sum(q, QSUM_BUFFERED);
		if (admin_queue_delete(&adm, q, a.flags & PS_QUEUE_FORCE) !=
		    0) {
			conn_fail(c, adm.code, "%s", adm.why);
			return;
		}
		break;
	}
	if (ps_put_queue_done(&srv->scratch, n) == 0)
		conn_send(c);
}

/*
 * The protocol state machine: every (state, role, type) is decided here.
 * Returns 1 when the frame must wait (a blocked ENQUEUE), else 0.
 */
static int
conn_frame(struct conn *c, const struct ps_frame *f)
{
	if (c->role == ROLE_UPSTREAM)
		return upstream_frame(c, f);
	if (c->state == CONN_HELLO) {
		if (f->type == PS_HELLO)
			conn_hello(c, f);
		else
			conn_fail(c, PS_E_BAD_STATE, "%s before HELLO",
			    ps_type_name(f->type));
		return 0;
	}
	if ((c->version < 2 && f->type > PS_TYPE_MAX_V1) ||
	    (c->version < 3 && f->type > PS_TYPE_MAX_V2) ||
	    (c->version < 5 && f->type > PS_TYPE_MAX_V4)) {
		conn_fail(c, PS_E_BAD_STATE, "%s is not in protocol version %d",
		    ps_type_name(f->type), c->version);
		return 0;
	}
	switch (f->type) {
	case PS_ACK:
	case PS_NACK:
	case PS_NACK_LATER:
	case PS_NACK_ERROR:
	case PS_ACK_RESULT:
	case PS_TOUCH:
		if (c->role == ROLE_CONSUMER && f->type == PS_NACK_ERROR)
			conn_nack_error(c, f);
		else if (c->role == ROLE_CONSUMER && f->type == PS_ACK_RESULT)
			conn_ack_result(c, f);
		else if (c->role == ROLE_CONSUMER)
			conn_ids(c, f);
		else
			conn_fail(c, PS_E_BAD_STATE, "%s from a %s; only "
			    "consumers acknowledge events",
			    ps_type_name(f->type), role_name(c->role));
		break;
	case PS_DEAD_LIST:
	case PS_DEAD_RETRY:
	case PS_DEAD_DROP:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "%s from a %s; only "
			    "clients manage dead letters",
			    ps_type_name(f->type), role_name(c->role));
		else if (f->type == PS_DEAD_LIST)
			conn_dead_list(c, f);
		else
			conn_dead_act(c, f);
		break;
	case PS_ENQUEUE:
		if (c->role == ROLE_CLIENT)
			return conn_enqueue(c, f);
		else
			conn_fail(c, PS_E_BAD_STATE, "ENQUEUE from a %s; "
			    "only clients enqueue", role_name(c->role));
		break;
	case PS_DEMAND:
		if (c->role == ROLE_CONSUMER)
			conn_demand(c, f);
		else
			conn_fail(c, PS_E_BAD_STATE, "DEMAND from a %s; "
			    "only consumers send demand", role_name(c->role));
		break;
	case PS_STATS:
		conn_stats(c, f);
		break;
	case PS_JOB:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "JOB from a %s; only "
			    "clients look events up", role_name(c->role));
		else
			conn_job(c, f);
		break;
	case PS_JOBS:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "JOBS from a %s; only "
			    "clients list events", role_name(c->role));
		else
			conn_jobs(c, f);
		break;
	case PS_TASK_STATS:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "TASK_STATS from a %s; "
			    "only clients ask for task counts",
			    role_name(c->role));
		else
			conn_task_stats(c, f);
		break;
	case PS_SCHEDULE:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "SCHEDULE from a %s; "
			    "only clients define schedules",
			    role_name(c->role));
		else
			conn_schedule(c, f);
		break;
	case PS_WAIT:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "WAIT from a %s; only "
			    "clients wait for events", role_name(c->role));
		else
			conn_wait(c, f);
		break;
	case PS_JOB_CANCEL:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "JOB_CANCEL from a %s; "
			    "only clients cancel events", role_name(c->role));
		else
			conn_job_cancel(c, f);
		break;
	case PS_QUEUES:
	case PS_QUEUE_ADMIN:
		if (c->role != ROLE_CLIENT)
			conn_fail(c, PS_E_BAD_STATE, "%s from a %s; only "
			    "clients manage queues", ps_type_name(f->type),
			    role_name(c->role));
		else if (f->type == PS_QUEUES)
			conn_queues(c, f);
		else
			conn_queue_admin(c, f);
		break;
	case PS_HELLO:
		conn_fail(c, PS_E_BAD_STATE, "second HELLO");
		break;
	default:
		conn_fail(c, PS_E_BAD_STATE, "%s is sent by the daemon, "
		    "never to it", ps_type_name(f->type));
		break;
	}
	return 0;
}

/* c is not read until every reason given is released. */
void
conn_hold(struct conn *c, unsigned int why)
{
	if (c->hold == 0)
		io_reading(c, 0);
	c->hold |= why;
}

/*
 * A reason is gone: with none left c is read again, and what waits in its
 * decoder is taken now (by the conn_input under way, if one is).
 */
void
conn_release(struct conn *c, unsigned int why)
{
	if ((c->hold & why) == 0)
		return;
	c->hold &= ~why;
	if (c->hold != 0 || c->state == CONN_CLOSING)
		return;
	io_reading(c, 1);
	conn_input(c);
}

/*
 * Its ENQUEUE waits: stop reading c, and queue it.  A batch already
 * begun waits first in line, so that its ids stay sequential.
 */
static void
conn_block(struct conn *c)
{
	struct nqueue	*q = c->enq_q;

	c->blocked = 1;
	conn_hold(c, HOLD_BLOCKED);
	if (c->enq_started)
		TAILQ_INSERT_HEAD(&q->blocked, c, bentry);
	else
		TAILQ_INSERT_TAIL(&q->blocked, c, bentry);
	queues_blocked(q, 1);
	log_debug("%s: ENQUEUE waits, %u events to go", conn_label(c),
	    c->enq_started ? c->enq_mark.it.left : 0);
}

/* One more of c's ENQUEUEs waits for its answer: at the most, c waits. */
static void
door_sent(void *arg)
{
	struct conn	*c = arg;

	if (++c->pending == CONN_PENDING_MAX)
		conn_hold(c, HOLD_BATCHES);
}

/* One is answered: room for another, and with none left, other frames. */
static void
door_answered(struct conn *c)
{
	c->pending--;
	conn_release(c, c->pending == 0 ? HOLD_BATCHES | HOLD_ANSWERS :
	    HOLD_BATCHES);
}

/*
 * The backend has c's batch (at JetStream: stored): the answer goes, and c
 * is read again.
 */
static void
door_answer(void *arg, struct ps_enqueued *r)
{
	struct conn	*c = arg;

	if (ps_put_enqueued(&c->srv->scratch, c->version, r) == 0)
		conn_send(c);
	door_answered(c);
}

/* Or, in its turn, an ERROR (and c goes). */
static void
door_refuse(void *arg, int code, const char *why)
{
	struct conn	*c = arg;

	conn_fail(c, code, "%s", why);
	door_answered(c);
}

/* What its ENQUEUE waited for is there (a queue's stream): taken again. */
static void
door_resume(void *arg)
{
	conn_release(arg, HOLD_STREAM);
}

/* Made only when a line is logged: an ENQUEUE's path does no printf. */
static const char *
door_who(void *arg)
{
	return conn_label(arg);
}

static const struct enq_door conn_door = {
	.sent = door_sent,
	.answer = door_answer,
	.refuse = door_refuse,
	.resume = door_resume,
	.who = door_who,
};

/*
 * The backend's answer to c's dead-letter request: its list, or DEAD_DONE
 * with the count, goes, or ERROR code (and c goes); c is read again.
 */
static void
conn_dead_told(void *arg, int code, const char *why,
    const struct ps_buf *list, uint32_t done)
{
	struct conn	*c = arg;
	struct ps_buf	*b = &c->srv->scratch;

	if (code == 0 && (list != NULL ? ps_buf_add(b, list->data,
	    list->len) : ps_put_dead_done(b, done)) != 0) {
		b->len = 0;
		code = PS_E_NOMEM;
		why = "no memory for the answer";
	}
	if (code != 0)
		conn_fail(c, code, "%s: %s", ps_type_name(c->dead_type), why);
	else
		conn_send(c);
	conn_release(c, HOLD_DEAD);
}

/* server.c says it is c's turn: take the waiting ENQUEUE, read on. */
void
conn_unblock(struct conn *c)
{
	if (!c->blocked)
		return;
	conn_unline(c);
	c->turn = 1;
	conn_release(c, HOLD_BLOCKED);
}

/* Take every whole frame that has arrived; leave a partial one for later. */
void
conn_input(struct conn *c)
{
	struct ps_frame	 f;
	int		 r;

	/* An answer given while a frame is taken: the loop under way goes on. */
	if (c->inputting)
		return;
	c->inputting = 1;
	server_tick(c->srv);
	while (c->state != CONN_CLOSING && (c->hold & ~HOLD_INPUT) == 0) {
		if ((r = ps_decoder_peek(&c->in, &f)) == 0)
			break;
		/* Answers in order: others wait for the ENQUEUEs' answers. */
		if (c->pending != 0 && r > 0 && f.type != PS_ENQUEUE) {
			conn_hold(c, HOLD_ANSWERS);
			break;
		}
		if (r < 0) {
			if (r == -PS_E_TOO_LARGE)
				conn_fail(c, PS_E_TOO_LARGE, "frame body of %u "
				    "bytes is over the limit of %u bytes",
				    f.len, c->srv->max_frame);
			else if (r == -PS_E_UNKNOWN_TYPE)
				conn_fail(c, PS_E_UNKNOWN_TYPE, "unknown frame "
				    "type %u", f.type);
			else
				conn_fail(c, -r, "%s", ps_strerror(r));
			break;
		}
		if ((r = conn_frame(c, &f)) != 0) {
			/* The frame stays, to be taken later. */
			if (r == 1)
				conn_block(c);
			break;		/* 2: held until the backend resumes */
		}
		ps_decoder_skip(&c->in, &f);
		/*
		 * --fsync always: each frame's records on disk before more.
		 * Else they go at the end of the loop iteration, or sooner
		 * past JOURNAL_WRITE_AT: what waits stays within the reserve.
		 */
		if (c->srv->data_dir != NULL &&
		    (c->srv->journal.fsync == JOURNAL_ALWAYS ||
		    c->srv->journal.buf.len > JOURNAL_WRITE_AT))
			server_commit(c->srv);

		/* A peer that does not read its replies stops being read. */
		if (c->state != CONN_CLOSING &&
		    io_pending(c) > CONN_OUT_HIGH)
			conn_hold(c, HOLD_OUTPUT);
	}
	c->inputting = 0;
	/* Room in the decoder again: read on. */
	if ((c->hold & HOLD_INPUT) && !ps_decoder_full(&c->in))
		conn_release(c, HOLD_INPUT);
	if (c->role == ROLE_UPSTREAM)
		upstream_dispatch(c->srv);	/* what this read took */
	server_wake(c->srv);
}

/*
 * dispatch's emit callback: an EVENT frame onto the consumer's stage,
 * written with what else it is sent this iteration (io.c).
 */
void
conn_emit(void *arg, struct dconsumer *dc, const struct qevent *ev)
{
	struct conn	*c = dc->owner;
	struct ps_buf	*b = &c->stage;
	size_t		 n;

	(void)arg;
	io_dirty(c);
	if (ps_buf_reserve(b, PS_EVENT_PREFIX_MAX + (size_t)ev->len) != 0) {
		log_warnx("%s: out of memory sending event %llu%s",
		    conn_label(c), (unsigned long long)ev->id, dc->acks ?
		    "; it comes back when the consumer goes" : ": lost");
		return;
	}
	n = ps_event_prefix(b->data + b->len, c->version, ev->id,
	    ev->attempts, ev->len, ev->key, ev->klen, ev->hdr, ev->hlen);
	if (ev->len != 0)
		memcpy(b->data + b->len + n, ev->data, ev->len);
	b->len += n + (size_t)ev->len;
}

/*
 * dispatch_cancel's consumer is told that event id it holds is cancelled:
 * a CANCEL frame onto its stage, written with what else it is sent this
 * iteration.  A consumer of version 4 or older is not told (it knows no
 * such frame); its answer ends the event all the same.
 */
void
conn_cancelled(struct dconsumer *dc, uint64_t id)
{
	struct conn	*c = dc->owner;

	if (c->version < 5)
		return;
	io_dirty(c);
	if (ps_put_ids(&c->stage, PS_CANCEL, &id, 1) != 0)
		log_warnx("%s: out of memory telling it event %llu is "
		    "cancelled", conn_label(c), (unsigned long long)id);
}
