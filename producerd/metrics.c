/*
 * metrics.c: --metrics ADDRESS:PORT, the daemon's counters over HTTP in
 * Prometheus' text format (version 0.0.4), with libevent's evhttp on the
 * daemon's own loop.  GET or HEAD /metrics; anything else is 404 or 405.
 * Read-only: a scrape changes nothing and costs one pass over consumers.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "log.h"
#include "producerd.h"

#define HEADERS_MAX	8192	/* bytes of request headers taken */
#define BODY_MAX	4096	/* a GET has none; refuse more */
#define TIMEOUT_S	10	/* a slow client is dropped */

static void
metric(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t value)
{
	evbuffer_add_printf(b, "# HELP pushstage_%s %s\n# TYPE pushstage_%s "
	    "%s\npushstage_%s %llu\n", name, help, name, type, name,
	    (unsigned long long)value);
}

/* A label value, escaped as the format wants: \\, \" and \n. */
static void
label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

enum per_consumer { DEMAND, IN_FLIGHT, DELIVERED };

/* One per-consumer family: HELP and TYPE once, a line per consumer. */
static void
per_consumer(struct evbuffer *b, struct server *srv, const char *name,
    const char *type, const char *help, enum per_consumer which)
{
	struct conn	*c;
	uint64_t	 v;

	evbuffer_add_printf(b, "# HELP pushstage_consumer_%s %s\n# TYPE "
	    "pushstage_consumer_%s %s\n", name, help, name, type);
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE)
			continue;
		switch (which) {
		case DEMAND:
			v = c->dc.demand;
			break;
		case IN_FLIGHT:
			v = dispatch_in_flight(&c->dc);
			break;
		case DELIVERED:
		default:
			v = c->dc.delivered;
			break;
		}
		evbuffer_add_printf(b, "pushstage_consumer_%s{consumer=\"",
		    name);
		label(b, c->name);
		evbuffer_add_printf(b, "\",conn=\"%llu\"} %llu\n",
		    (unsigned long long)c->serial, (unsigned long long)v);
	}
}

static void
render(struct server *srv, struct evbuffer *b)
{
	struct dispatch	*d = &srv->dispatch;

	metric(b, "queued", "gauge", "Events buffered, waiting for demand.",
	    d->queue.count);
	metric(b, "queued_bytes", "gauge", "Payload bytes buffered.",
	    d->queue.bytes);
	metric(b, "in_flight", "gauge", "Events sent to consumers and not "
	    "yet acked.", d->in_flight);
	metric(b, "dead", "gauge", "Events on the dead-letter list.",
	    d->ndead);
	metric(b, "consumers", "gauge", "Consumers connected.",
	    srv->nconsumers);
	metric(b, "clients", "gauge", "Clients connected.", srv->nclients);
	metric(b, "blocked_clients", "gauge", "Clients waiting for room "
	    "(--overflow block).", srv->nblocked);
	metric(b, "draining", "gauge", "1 while the daemon drains to stop.",
	    (uint64_t)srv->draining);
	metric(b, "enqueued_total", "counter", "Events accepted from "
	    "clients.", d->enqueued_total);
	metric(b, "delivered_total", "counter", "Events sent to consumers, "
	    "redeliveries included.", d->delivered_total);
	metric(b, "acked_total", "counter", "ACKs taken.", d->acked_total);
	metric(b, "nacked_total", "counter", "NACKs taken.",
	    d->nacked_total);
	metric(b, "redelivered_total", "counter", "Events put back to be "
	    "sent again.", d->redelivered_total);
	metric(b, "timed_out_total", "counter", "Events taken back after "
	    "--ack-timeout.", d->timed_out_total);
	metric(b, "shed_total", "counter", "Events dropped by --overflow "
	    "drop-oldest or drop-newest.", d->shed_total);
	metric(b, "rejected_total", "counter", "Events refused by "
	    "--overflow reject.", d->rejected_total);
	metric(b, "dead_total", "counter", "Events moved to the dead-letter "
	    "list.", d->dead_total);
	metric(b, "connections_total", "counter", "Connections accepted.",
	    srv->connections_total);
	metric(b, "refused_connections_total", "counter", "Connections "
	    "refused at connect (drain, access, limit).", srv->refused_total);
	metric(b, "protocol_errors_total", "counter", "ERROR frames sent.",
	    srv->protocol_errors_total);
	metric(b, "uptime_seconds", "gauge", "Seconds since start.",
	    (uint64_t)(time(NULL) - srv->started));
	if (srv->data_dir != NULL) {
		metric(b, "journal_bytes", "gauge", "Bytes in the journal's "
		    "segments.", srv->journal.bytes);
		metric(b, "journal_fsyncs_total", "counter", "fsyncs of the "
		    "journal.", srv->journal.fsyncs_total);
	}
	per_consumer(b, srv, "demand", "gauge", "Events a consumer may "
	    "still be sent.", DEMAND);
	per_consumer(b, srv, "in_flight", "gauge", "Events sent to a "
	    "consumer and not acked.", IN_FLIGHT);
	per_consumer(b, srv, "delivered_total", "counter", "Events sent to "
	    "a consumer on this connection.", DELIVERED);
}

/*
 * A reply larger than one bufferevent write (16 KiB: about 80 consumers)
 * goes out in two; with Nagle on, the second waits for the client's
 * delayed ACK: a keep-alive scrape (Prometheus') of 100 consumers took
 * 44 ms, and takes 0.14 ms without Nagle.  The setsockopt is once per
 * scrape, not on the event path.
 */
static void
nodelay(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct bufferevent		*bev;
	evutil_socket_t			 fd;
	int				 on = 1;

	if ((evcon = evhttp_request_get_connection(req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL ||
	    (fd = bufferevent_getfd(bev)) == -1)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
		log_debug("metrics: TCP_NODELAY: %s", strerror(errno));
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server		*srv = arg;
	struct evbuffer		*b;
	const char		*path;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	render(srv, b);
	nodelay(req);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* "HOST:PORT", or "[V6]:PORT": 0 and the parts, or -1. */
static int
split(const char *arg, char *host, size_t len, unsigned short *port)
{
	const char	*colon = strrchr(arg, ':'), *h = arg;
	char		*end;
	size_t		 hlen;
	long		 p;

	if (colon == NULL || colon == arg)
		return -1;
	hlen = (size_t)(colon - arg);
	if (arg[0] == '[') {
		if (colon[-1] != ']')
			return -1;
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= len)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || p < 1 ||
	    p > 65535)
		return -1;
	*port = (unsigned short)p;
	return 0;
}

int
metrics_start(struct server *srv, const char *arg, char *err, size_t len)
{
	char		 host[256];
	unsigned short	 port;

	if (split(arg, host, sizeof host, &port) != 0) {
		snprintf(err, len, "--metrics: \"%s\" is not ADDRESS:PORT "
		    "(127.0.0.1:9464, [::1]:9464)", arg);
		return -1;
	}
	if ((srv->metrics = evhttp_new(srv->base)) == NULL) {
		snprintf(err, len, "--metrics: cannot set up HTTP");
		return -1;
	}
	evhttp_set_allowed_methods(srv->metrics, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(srv->metrics, HEADERS_MAX);
	evhttp_set_max_body_size(srv->metrics, BODY_MAX);
	evhttp_set_timeout(srv->metrics, TIMEOUT_S);
	evhttp_set_gencb(srv->metrics, on_request, srv);
	if (evhttp_bind_socket(srv->metrics, host, port) != 0) {
		snprintf(err, len, "--metrics: cannot listen on %s: the "
		    "address is taken or not this host's", arg);
		evhttp_free(srv->metrics);
		srv->metrics = NULL;
		return -1;
	}
	log_info("serving metrics at http://%s/metrics", arg);
	return 0;
}

void
metrics_stop(struct server *srv)
{
	if (srv->metrics != NULL)
		evhttp_free(srv->metrics);
	srv->metrics = NULL;
}
