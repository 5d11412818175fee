/*
 * conn.c: one connection's life: the HELLO handshake, frames in, replies
 * and events out, and closing.  A connection is freed only from its own
 * libevent callbacks, never while its input is being parsed.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "producerd.h"

/* How long a closing connection may take to accept its last bytes. */
#define CLOSE_FLUSH_SEC		5
/* One read from the socket takes up to this much. */
#define READ_CHUNK		(256u * 1024)

static void	conn_readcb(struct bufferevent *, void *);
static void	conn_writecb(struct bufferevent *, void *);
static void	conn_eventcb(struct bufferevent *, short, void *);
static void	conn_input(struct conn *);

static const char *
role_name(enum conn_role role)
{
	switch (role) {
	case ROLE_CONSUMER:
		return "consumer";
	case ROLE_CLIENT:
		return "client";
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

void
conn_accept(struct server *srv, int fd)
{
	struct conn	*c;
	struct ucred	 uc;
	socklen_t	 len = sizeof uc;
	size_t		 high;

	if ((c = calloc(1, sizeof *c)) == NULL) {
		log_warn("accept: calloc");
		close(fd);
		return;
	}
	c->srv = srv;
	c->pid = -1;
	c->uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		c->pid = uc.pid;
		c->uid = uc.uid;
	} else
		log_warn("getsockopt SO_PEERCRED");
	if ((c->bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("accept: bufferevent_socket_new failed");
		close(fd);
		free(c);
		return;
	}
	/* Room for one whole frame at the largest; no more is read ahead. */
	high = PS_HDR_LEN + (size_t)srv->max_frame;
	if (high < READ_CHUNK)
		high = READ_CHUNK;
	bufferevent_setwatermark(c->bev, EV_READ, 0, high);
	bufferevent_set_max_single_read(c->bev, READ_CHUNK);
	bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		log_warnx("accept: bufferevent_enable failed");
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	c->state = CONN_HELLO;
	c->serial = ++srv->next_serial;
	c->since = time(NULL);
	srv->connections_total++;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	log_debug("%s connected", conn_label(c));
}

/* Take the connection out of the dispatcher and the role counts, once. */
static void
conn_leave(struct conn *c)
{
	struct server	*srv = c->srv;

	if (c->role == ROLE_CONSUMER) {
		dispatch_detach(&srv->dispatch, &c->dc);
		srv->nconsumers--;
		log_info("%s left: %llu delivered", conn_label(c),
		    (unsigned long long)c->dc.delivered);
	} else if (c->role == ROLE_CLIENT)
		srv->nclients--;
	c->role = ROLE_NONE;
}

void
conn_close(struct conn *c)
{
	struct server	*srv = c->srv;

	log_debug("%s closed", conn_label(c));
	conn_leave(c);
	TAILQ_REMOVE(&srv->conns, c, entry);
	bufferevent_free(c->bev);
	free(c);
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
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
}

/* Queue the encoded frames in the server's scratch buffer for the peer. */
static void
conn_send(struct conn *c)
{
	struct ps_buf	*b = &c->srv->scratch;

	if (evbuffer_add(bufferevent_get_output(c->bev), b->data, b->len) != 0)
		log_warnx("%s: out of memory queueing a reply", conn_label(c));
	b->len = 0;
}

/* Answer a protocol error with an ERROR frame, then close. */
static void
conn_fail(struct conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
	srv->protocol_errors_total++;
	srv->scratch.len = 0;
	if (ps_put_error(&srv->scratch, (uint16_t)code, msg) == 0)
		conn_send(c);
	conn_closing(c);
	/* Nothing queued means no write will come to close it: close soon. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		bufferevent_trigger(c->bev, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
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

static void
conn_hello(struct conn *c, const struct ps_frame *f)
{
	struct server	*srv = c->srv;
	struct ps_hello	 h;
	struct ps_welcome w;
	int		 error;

	if ((error = ps_get_hello(f, &h)) != 0) {
		conn_fail(c, -error, "bad HELLO: %s", ps_strerror(error));
		return;
	}
	if (h.version != PS_PROTO_VERSION) {
		conn_fail(c, PS_E_VERSION, "protocol version %u is not "
		    "supported; this daemon speaks version %u", h.version,
		    PS_PROTO_VERSION);
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
		dispatch_attach(&srv->dispatch, &c->dc, h.max_demand,
		    h.min_demand, c);
		srv->nconsumers++;
		break;
	case PS_ROLE_CLIENT:
		if (h.max_demand != 0 || h.min_demand != 0) {
			conn_fail(c, PS_E_BAD_VALUE, "a client has no demand: "
			    "max_demand and min_demand must be 0");
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
	c->state = CONN_ACTIVE;
	if (c->role == ROLE_CONSUMER)
		log_info("%s joined: max_demand %u, min_demand %u",
		    conn_label(c), h.max_demand, h.min_demand);
	else
		log_debug("%s joined", conn_label(c));

	w.version = PS_PROTO_VERSION;
	w.max_frame = srv->max_frame;
	if (ps_put_welcome(&srv->scratch, &w) == 0)
		conn_send(c);
}

static void
conn_enqueue(struct conn *c, const struct ps_frame *f)
{
	struct dispatch		*d = &c->srv->dispatch;
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r = { 0, 0 };
	const uint8_t		*data;
	uint32_t		 n, len;
	uint64_t		 id;
	int			 error;

	if ((error = ps_get_enqueue(f, &it, &n)) != 0) {
		conn_fail(c, -error, "bad ENQUEUE: %s", ps_strerror(error));
		return;
	}
	if (dispatch_reserve(d, n) != 0) {
		conn_fail(c, PS_E_NOMEM, "no memory for %u more events", n);
		return;
	}
	while (ps_enqueue_next(&it, &data, &len)) {
		if ((id = dispatch_push(d, data, len)) == 0) {
			log_warnx("%s: out of memory: %u of %u events taken",
			    conn_label(c), r.accepted, n);
			break;
		}
		if (r.accepted++ == 0)
			r.first_id = id;
	}
	if (ps_put_enqueued(&c->srv->scratch, &r) == 0)
		conn_send(c);
	dispatch_run(d);
}

static void
conn_demand(struct conn *c, const struct ps_frame *f)
{
	struct dispatch	*d = &c->srv->dispatch;
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
}

static void
conn_stats(struct conn *c, const struct ps_frame *f)
{
	int	 error;

	if ((error = ps_get_stats(f)) != 0) {
		conn_fail(c, -error, "bad STATS: %s", ps_strerror(error));
		return;
	}
	if (stats_encode(c->srv, &c->srv->scratch) != 0) {
		c->srv->scratch.len = 0;
		conn_fail(c, PS_E_NOMEM, "no memory for the stats reply");
		return;
	}
	conn_send(c);
}

/* The protocol state machine: every (state, role, type) is decided here. */
static void
conn_frame(struct conn *c, const struct ps_frame *f)
{
	if (c->state == CONN_HELLO) {
		if (f->type == PS_HELLO)
			conn_hello(c, f);
		else
			conn_fail(c, PS_E_BAD_STATE, "%s before HELLO",
			    ps_type_name(f->type));
		return;
	}
	switch (f->type) {
	case PS_ENQUEUE:
		if (c->role == ROLE_CLIENT)
			conn_enqueue(c, f);
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
	case PS_HELLO:
		conn_fail(c, PS_E_BAD_STATE, "second HELLO");
		break;
	default:
		conn_fail(c, PS_E_BAD_STATE, "%s is sent by the daemon, "
		    "never to it", ps_type_name(f->type));
		break;
	}
}

/* Take every whole frame that has arrived; leave a partial one for later. */
static void
conn_input(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	uint32_t	 max = c->srv->max_frame;
	struct ps_frame	 f;
	unsigned char	*p;
	size_t		 avail;
	long		 size;

	while (c->state != CONN_CLOSING && !c->paused) {
		avail = evbuffer_get_length(in);
		if (avail < PS_HDR_LEN)
			break;
		p = evbuffer_pullup(in, PS_HDR_LEN);
		if ((size = ps_frame_size(p, PS_HDR_LEN, max)) < 0) {
			if (size == -PS_E_TOO_LARGE)
				conn_fail(c, PS_E_TOO_LARGE, "frame body of %u "
				    "bytes is over the limit of %u bytes",
				    (unsigned)p[0] << 24 | p[1] << 16 |
				    p[2] << 8 | p[3], max);
			else if (size == -PS_E_UNKNOWN_TYPE)
				conn_fail(c, PS_E_UNKNOWN_TYPE, "unknown frame "
				    "type %u", p[4]);
			else
				conn_fail(c, (int)-size, "%s",
				    ps_strerror((int)size));
			break;
		}
		if ((size_t)size > avail)
			break;
		if ((p = evbuffer_pullup(in, size)) == NULL) {
			conn_fail(c, PS_E_NOMEM, "no memory to read a frame");
			break;
		}
		ps_frame_parse(p, (size_t)size, max, &f);
		conn_frame(c, &f);
		evbuffer_drain(in, (size_t)size);

		/* A peer that does not read its replies stops being read. */
		if (c->state != CONN_CLOSING &&
		    evbuffer_get_length(out) > CONN_OUT_HIGH) {
			c->paused = 1;
			bufferevent_disable(c->bev, EV_READ);
			bufferevent_setwatermark(c->bev, EV_WRITE,
			    CONN_OUT_HIGH / 2, 0);
		}
	}
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_input(arg);
}

static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->state == CONN_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_close(c);
		return;
	}
	if (c->paused) {
		c->paused = 0;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_enable(bev, EV_READ);
		conn_input(c);
	}
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_EOF) {
		/* The peer may have only shut its side: flush, then close. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) != 0) {
			conn_closing(c);
			return;
		}
	} else if (what & BEV_EVENT_ERROR)
		log_debug("%s: socket error", conn_label(c));
	else if (what & BEV_EVENT_TIMEOUT)
		log_warnx("%s: not reading; dropped", conn_label(c));
	conn_close(c);
}

/* dispatch's emit callback: an EVENT frame onto the consumer's output. */
void
conn_emit(void *arg, struct dconsumer *dc, struct qevent *ev)
{
	struct conn	*c = dc->owner;
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	uint8_t		 prefix[PS_EVENT_PREFIX];

	(void)arg;
	ps_event_prefix(prefix, ev->id, ev->len);
	if (evbuffer_add(out, prefix, sizeof prefix) != 0 ||
	    evbuffer_add(out, ev->data, ev->len) != 0)
		log_warnx("%s: out of memory: event %llu lost", conn_label(c),
		    (unsigned long long)ev->id);
	free(ev);
}
