/*
 * upstream.c: a stage's link to the daemon before it (--upstream).  The
 * stage is a consumer there: it asks for no more than its own consumers
 * have asked of it, minus what it already holds, so a slow end keeps the
 * backlog upstream where it is visible (GenStage's :producer_consumer).
 * It acks an event upstream only when the event made from it is finished
 * here; gone for good here, the event is nacked back to its origin.
 *
 * The link is a struct conn of role ROLE_UPSTREAM: the same reading and
 * writing as any connection, with this side speaking as the consumer.
 * When it drops, the stage keeps serving what it holds and reconnects,
 * waiting 100 ms, then twice as long each time, up to 5 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "net.h"
#include "producerd.h"

#define BACKOFF_FIRST_MS	100
#define BACKOFF_MAX_MS		5000

/* Origins pack the link's epoch above the upstream id (ids < 2^48). */
#define EPOCH_SHIFT		48
#define ID_MASK			((UINT64_C(1) << EPOCH_SHIFT) - 1)

static void
retry_later(struct upstream *up)
{
	struct timeval	 tv;

	evtimer_add(up->retry, ms_timeval(backoff_next(&up->backoff), &tv));
}

static void
upstream_connect(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct upstream	*up = &srv->up;
	struct ps_hello	 h;
	char		 name[64];
	int		 sfd;

	(void)fd;
	(void)what;
	if ((sfd = net_connect_unix(up->path)) == -1) {
		if (up->failures++ == 0)
			log_warn("upstream %s: cannot connect (retrying)",
			    up->path);
		retry_later(up);
		return;
	}
	if (net_nonblock(sfd) == -1 || (up->conn = conn_new(srv, sfd,
	    -1, (uid_t)-1, (gid_t)-1)) == NULL) {
		log_warn("upstream %s", up->path);
		close(sfd);
		retry_later(up);
		return;
	}
	up->conn->role = ROLE_UPSTREAM;
	up->conn->version = up->version;
	snprintf(up->conn->name, sizeof up->conn->name, "%s", up->path);
	if (++up->epoch == 0)
		up->epoch = 1;
	up->credit = 0;
	up->n_ack = up->n_nack = 0;
	snprintf(name, sizeof name, "stage-%ld", (long)getpid());
	memset(&h, 0, sizeof h);
	h.version = up->version;
	h.role = PS_ROLE_CONSUMER;
	h.max_demand = up->max_demand;
	h.name = name;
	h.name_len = (uint8_t)strlen(name);
	h.queue = up->queue;
	h.queue_len = (uint8_t)strlen(up->queue);
	srv->scratch.len = 0;
	if (ps_put_hello(&srv->scratch, &h) == 0) {
		evbuffer_add(io_out(up->conn), srv->scratch.data,
		    srv->scratch.len);
		io_dirty(up->conn);
	}
	srv->scratch.len = 0;
}

int
upstream_init(struct server *srv)
{
	struct upstream	*up = &srv->up;

	if (up->path == NULL)
		return 0;
	up->version = PS_PROTO_MAX_VERSION;
	backoff_init(&up->backoff, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
	if ((up->retry = evtimer_new(srv->base, upstream_connect, srv)) ==
	    NULL)
		return -1;
	event_active(up->retry, EV_TIMEOUT, 0);
	return 0;
}

void
upstream_free(struct server *srv)
{
	struct upstream	*up = &srv->up;

	if (up->retry != NULL)
		event_free(up->retry);
	up->retry = NULL;
	free(up->ack_ids);
	free(up->nack_ids);
	up->ack_ids = up->nack_ids = NULL;
}

/* The link closed (conn_leave): forget its credit, and reconnect. */
void
upstream_closed(struct server *srv)
{
	struct upstream	*up = &srv->up;

	if (up->connected)
		log_warnx("upstream %s: connection lost; %llu events held "
		    "here go on being served", up->path,
		    (unsigned long long)up->into->d.queue.count);
	up->conn = NULL;
	up->connected = 0;
	up->credit = 0;
	up->n_ack = up->n_nack = 0;
	if (up->retry != NULL && !srv->draining)
		retry_later(up);
}

/* One event from upstream: into the buffer, or through --map first. */
static void
upstream_event(struct conn *c, const struct ps_frame *f)
{
	struct server	*srv = c->srv;
	struct upstream	*up = &srv->up;
	struct ps_event	 e;
	uint64_t	 origin;
	const char	*why;
	char		 whybuf[PS_WHY_MAX];

	if (ps_get_event(f, c->version, &e) != 0 || e.id > ID_MASK ||
	    up->credit == 0) {
		log_warnx("upstream %s: a bad EVENT; reconnecting", up->path);
		conn_drop(c);
		return;
	}
	up->credit--;
	up->received_total++;
	origin = (uint64_t)up->epoch << EPOCH_SHIFT | e.id;
	/* Headers as an ENQUEUE's are checked, or the event goes without. */
	if (e.hlen != 0 && (e.hlen > PS_HEADERS_WIRE_MAX ||
	    ps_headers_check(e.hdr, e.hlen, &why, whybuf) != 0)) {
		log_warnx("upstream %s: event %llu's headers are not "
		    "headers (%s): taken without them", up->path,
		    (unsigned long long)e.id, e.hlen > PS_HEADERS_WIRE_MAX ?
		    "too long" : why);
		e.hdr = NULL;
		e.hlen = 0;
	}
	if (srv->map.cmd != NULL)
		map_event(srv, origin, e.data, e.len);
	else
		upstream_take(srv, origin, e.key, e.key != NULL ? e.klen : -1,
		    e.hdr, e.hlen, e.data, e.len);
}

/*
 * An event (mapped, or as it came, with its key: klen -1 for none, and
 * its headers) joins
 * this stage's buffer.  The caller dispatches once for all it read, as a
 * single daemon does with one ENQUEUE: an upstream batch spreads by the
 * demand rule, not one event at a time.
 */
void
upstream_take(struct server *srv, uint64_t origin, const void *key, int klen,
    const void *hdr, uint16_t hlen, const void *data, uint32_t len)
{
	if (dispatch_push_key(&srv->up.into->d, key, klen, hdr, hlen, data,
	    len, origin) == 0) {
		log_warnx("out of memory: event from upstream given back");
		upstream_answer(srv, origin, PS_NACK);
	}
}

/* Dispatch what the last read (or --map's answers) brought. */
void
upstream_dispatch(struct server *srv)
{
	dispatch_run(&srv->up.into->d);
	queues_touch(srv->up.into->q);
}

/* conn_frame, for the link: what the upstream daemon says to us. */
int
upstream_frame(struct conn *c, const struct ps_frame *f)
{
	struct upstream	*up = &c->srv->up;
	struct ps_welcome w;
	struct ps_error	 e;

	switch (f->type) {
	case PS_WELCOME:
		if (c->state != CONN_HELLO || ps_get_welcome(f, &w) != 0 ||
		    w.version != up->version) {
			log_warnx("upstream %s: a bad WELCOME", up->path);
			conn_drop(c);
			return 0;
		}
		c->state = CONN_ACTIVE;
		event_free(c->hello_timer);
		c->hello_timer = NULL;
		/* Its EVENTs may pass its max_frame; ours does not bound them. */
		c->in.max_frame = w.max_frame + PS_FRAME_OVER;
		up->connected = 1;
		up->acks = w.delivery == PS_AT_LEAST_ONCE;
		up->failures = 0;
		backoff_reset(&up->backoff);
		log_info("upstream %s: connected (%s)", up->path, up->acks ?
		    "at-least-once" : "at-most-once");
		return 0;
	case PS_EVENT:
		if (c->state == CONN_ACTIVE) {
			upstream_event(c, f);
			return 0;
		}
		break;
	case PS_ERROR:
		if (ps_get_error(f, &e) != 0) {
			conn_drop(c);
			return 0;
		}
		/*
		 * An older upstream: ask again a version down, 4 (events
		 * without their headers), then 3 (nor their keys).
		 */
		if (e.code == PS_E_VERSION && up->version > PS_PROTO_VERSION) {
			up->version--;
			log_info("upstream %s speaks no protocol version %u: "
			    "asking in %u, whose events come without their "
			    "%s", up->path, up->version + 1, up->version,
			    up->version == 4 ? "headers" : "keys or headers");
		} else
			log_warnx("upstream %s: %.*s (error %u)", up->path,
			    (int)e.msg_len, e.msg, e.code);
		conn_drop(c);
		return 0;
	}
	log_warnx("upstream %s: an unexpected %s; reconnecting", up->path,
	    ps_type_name(f->type));
	conn_drop(c);
	return 0;
}

static void
remember(uint64_t **ids, size_t *n, size_t *cap, uint64_t id)
{
	uint64_t	*grown;
	size_t		 want;

	if (*n == *cap) {
		want = *cap ? *cap * 2 : 256;
		if ((grown = reallocarray(*ids, want, sizeof **ids)) == NULL) {
			log_warnx("out of memory: an upstream answer dropped");
			return;
		}
		*ids = grown;
		*cap = want;
	}
	(*ids)[(*n)++] = id;
}

/*
 * The event made from origin is finished here (PS_ACK) or failed for good
 * (PS_NACK).  Answers for an earlier link are dropped: that daemon gives
 * those events again to whoever asks.
 */
void
upstream_answer(struct server *srv, uint64_t origin, int how)
{
	struct upstream	*up = &srv->up;

	if (up->conn == NULL || !up->acks ||
	    origin >> EPOCH_SHIFT != up->epoch)
		return;
	if (how == PS_ACK) {
		remember(&up->ack_ids, &up->n_ack, &up->cap_ack,
		    origin & ID_MASK);
		up->acked_total++;
	} else {
		remember(&up->nack_ids, &up->n_nack, &up->cap_nack,
		    origin & ID_MASK);
		up->nacked_total++;
	}
}

/* dispatch's done callback, for a stage's events. */
void
upstream_done(void *arg, const struct qevent *ev, int how, uint32_t wait)
{
	(void)wait;
	upstream_answer(arg, ev->origin, how);
}

/*
 * From server_settle: send the answers gathered this loop iteration, and
 * ask for what this stage's consumers want and it does not hold.
 */
void
upstream_settle(struct server *srv)
{
	struct upstream	*up = &srv->up;
	struct conn	*c = up->conn;
	struct ps_buf	*b = &srv->scratch;
	uint64_t	 held, want;

	if (c == NULL || c->state != CONN_ACTIVE)
		return;
	b->len = 0;
	if (up->n_ack != 0)
		(void)ps_put_ids(b, PS_ACK, up->ack_ids, (uint32_t)up->n_ack);
	if (up->n_nack != 0)
		(void)ps_put_ids(b, PS_NACK, up->nack_ids,
		    (uint32_t)up->n_nack);
	up->n_ack = up->n_nack = 0;

	held = up->into->d.queue.count + up->credit + map_pending(srv);
	want = up->into->d.demand_total > held ?
	    up->into->d.demand_total - held : 0;
	if (want > up->max_demand - up->credit)
		want = up->max_demand - up->credit;
	if (want != 0 && !srv->draining &&
	    ps_put_demand(b, (uint32_t)want) == 0)
		up->credit += (uint32_t)want;
	if (b->len != 0) {
		evbuffer_add(io_out(c), b->data, b->len);
		io_dirty(c);
	}
	b->len = 0;
}
