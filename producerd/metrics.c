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

#include "counters.h"
#include "log.h"
#include "producerd.h"

#define HEADERS_MAX	8192	/* bytes of request headers taken */
#define BODY_MAX	4096	/* a GET has none; refuse more */
#define TIMEOUT_S	10	/* a slow client is dropped */

static const char *
kind_name(enum counter_kind kind)
{
	return kind == COUNTER_TOTAL ? "counter" : "gauge";
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

/* One per-consumer family: HELP and TYPE once, a line per consumer. */
static void
per_consumer(struct evbuffer *b, struct server *srv,
    const struct consumer_counter *k)
{
	struct conn	*c;

	evbuffer_add_printf(b, "# HELP pushstage_consumer_%s %s\n# TYPE "
	    "pushstage_consumer_%s %s\n", k->metric, k->help, k->metric,
	    kind_name(k->kind));
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE)
			continue;
		evbuffer_add_printf(b, "pushstage_consumer_%s{consumer=\"",
		    k->metric);
		label(b, c->name);
		evbuffer_add_printf(b, "\",conn=\"%llu\"} %llu\n",
		    (unsigned long long)c->serial,
		    (unsigned long long)consumer_value(c, k));
	}
}

/* The counter table, less the settings, then the consumers'. */
static void
render(struct server *srv, struct evbuffer *b)
{
	const struct counter	*k;
	const char		*name;
	size_t			 i;

	for (i = 0; i < ncounters; i++) {
		k = &counters[i];
		if (k->kind == COUNTER_SETTING || !counter_shown(srv, k))
			continue;
		name = k->metric != NULL ? k->metric : k->name;
		evbuffer_add_printf(b, "# HELP pushstage_%s %s\n# TYPE "
		    "pushstage_%s %s\npushstage_%s %llu\n", name, k->help,
		    name, kind_name(k->kind), name,
		    (unsigned long long)counter_value(srv, k));
	}
	for (i = 0; i < nconsumer_counters; i++) {
		if (consumer_counters[i].metric != NULL)
			per_consumer(b, srv, &consumer_counters[i]);
	}
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
