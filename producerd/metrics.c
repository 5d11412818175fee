/*
 * metrics.c: --metrics ADDRESS:PORT, the daemon's counters over HTTP in
 * Prometheus' text format (version 0.0.4), with libevent's evhttp on the
 * daemon's own loop.  GET or HEAD /metrics; anything else is 404 or 405.
 * Read-only: a scrape changes nothing and costs one pass over consumers.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

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

/* A group's labels: queue, and group unless it is the shared one. */
static void
labels(struct evbuffer *b, const struct qgroup *g)
{
	evbuffer_add_printf(b, "queue=\"%s\"", g->q->name);
	if (g->len != 0)
		evbuffer_add_printf(b, ",group=\"%s\"", g->name);
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
		evbuffer_add_printf(b, "pushstage_consumer_%s{", k->metric);
		labels(b, c->g);
		evbuffer_add(b, ",consumer=\"", 11);
		label(b, c->name);
		evbuffer_add_printf(b, "\",conn=\"%llu\"} %llu\n",
		    (unsigned long long)c->serial,
		    (unsigned long long)consumer_value(c, k));
	}
}

/*
 * The counter table, less the settings: the daemon's once, a queue's a
 * line per queue (label queue), a group's a line per group (labels queue
 * and, but for a shared group, group; the names need no escaping); then
 * the consumers'.
 */
static void
render(struct server *srv, struct evbuffer *b)
{
	const struct counter	*k;
	const struct nqueue	*q;
	const struct qgroup	*g;
	const char		*name;
	size_t			 i;

	for (i = 0; i < ncounters; i++) {
		k = &counters[i];
		if (k->kind == COUNTER_SETTING || (k->scope == SCOPE_SERVER &&
		    !counter_shown(srv, NULL, k)))
			continue;
		name = k->metric != NULL ? k->metric : k->name;
		evbuffer_add_printf(b, "# HELP pushstage_%s %s\n# TYPE "
		    "pushstage_%s %s\n", name, k->help, name,
		    kind_name(k->kind));
		if (k->scope == SCOPE_SERVER) {
			evbuffer_add_printf(b, "pushstage_%s %llu\n", name,
			    (unsigned long long)counter_value(srv, NULL, k));
			continue;
		}
		TAILQ_FOREACH(q, &srv->queues, entry) {
			TAILQ_FOREACH(g, &q->groups, entry) {
				/* A queue's own counter: once a queue. */
				if (k->scope == SCOPE_QUEUE)
					evbuffer_add_printf(b, "pushstage_%s{"
					    "queue=\"%s\"", name, q->name);
				else {
					evbuffer_add_printf(b, "pushstage_%s{",
					    name);
					labels(b, g);
				}
				evbuffer_add_printf(b, "} %llu\n",
				    (unsigned long long)counter_value(srv, g,
				    k));
				if (k->scope == SCOPE_QUEUE)
					break;
			}
		}
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

/*
 * Connections are counted here, since evhttp keeps no count: each one's
 * bufferevent is made by http_newconn, held by one extra reference until
 * the end of the loop iteration, when its evhttp connection (the
 * bufferevent's callback argument) gets a close callback.  One that evhttp
 * already freed has no callbacks left and is counted out at once.  At the
 * limit the listener stops accepting: peers wait in the backlog.
 */
static void
http_closed(struct server *srv)
{
	srv->http_conns--;
	if (srv->http_conns + 1 == srv->http_max &&
	    !evtimer_pending(srv->http.retry, NULL))
		evconnlistener_enable(srv->http.l);
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	http_closed(arg);
}

static void
http_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct server		*srv = arg;
	struct bufferevent	*bev;
	void			*evcon;
	size_t			 i;

	(void)fd;
	(void)what;
	for (i = 0; i < srv->nhttp_new; i++) {
		bev = srv->http_new[i];
		bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
		if (evcon != NULL)
			evhttp_connection_set_closecb(evcon, on_close, srv);
		else
			http_closed(srv);
		bufferevent_decref(bev);
	}
	srv->nhttp_new = 0;
}

static struct bufferevent *
http_newconn(struct event_base *base, void *arg)
{
	struct server		*srv = arg;
	struct bufferevent	*bev, **grown;
	size_t			 cap;

	if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL)
		return NULL;
	if (srv->nhttp_new == srv->caphttp_new) {
		cap = srv->caphttp_new ? srv->caphttp_new * 2 : 16;
		if ((grown = reallocarray(srv->http_new, cap,
		    sizeof *grown)) == NULL)
			return bev;	/* not counted: no memory to */
		srv->http_new = grown;
		srv->caphttp_new = cap;
	}
	bufferevent_incref(bev);
	srv->http_new[srv->nhttp_new++] = bev;
	event_active(srv->http_adopt, EV_TIMEOUT, 0);
	if (++srv->http_conns >= srv->http_max)
		evconnlistener_disable(srv->http.l);
	return bev;
}

static int
http_may_accept(struct server *srv)
{
	return srv->http_conns < srv->http_max;
}

/*
 * evhttp's listener calls back with the evhttp as argument, so the one
 * metrics listener of the process is found here.
 */
static struct acceptor	*http_acceptor;

static void
http_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	listener_failed(http_acceptor);
}

/* A listening TCP socket on host:port; -1 and err if none. */
static int
bind_tcp(const char *host, unsigned short port, char *err, size_t len)
{
	struct addrinfo	 hints, *res;
	char		 serv[8];
	int		 fd, on = 1, error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof serv, "%u", port);
	if ((error = getaddrinfo(host, serv, &hints, &res)) != 0) {
		snprintf(err, len, "--metrics: %s: %s", host,
		    gai_strerror(error));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof on) == -1 || bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 128) == -1) {
		snprintf(err, len, "--metrics: cannot listen on %s:%u: %s",
		    host, port, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
metrics_start(struct server *srv, const char *arg, char *err, size_t len)
{
	char		 host[256];
	unsigned short	 port;
	int		 fd;

	if (split(arg, host, sizeof host, &port) != 0) {
		snprintf(err, len, "--metrics: \"%s\" is not ADDRESS:PORT "
		    "(127.0.0.1:9464, [::1]:9464)", arg);
		return -1;
	}
	if ((fd = bind_tcp(host, port, err, len)) == -1)
		return -1;
	if ((srv->metrics = evhttp_new(srv->base)) == NULL ||
	    (srv->http_adopt = event_new(srv->base, -1, 0, http_adopt,
	    srv)) == NULL) {
		close(fd);
		snprintf(err, len, "--metrics: cannot set up HTTP");
		return -1;
	}
	evhttp_set_allowed_methods(srv->metrics, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(srv->metrics, HEADERS_MAX);
	evhttp_set_max_body_size(srv->metrics, BODY_MAX);
	evhttp_set_timeout(srv->metrics, TIMEOUT_S);
	evhttp_set_gencb(srv->metrics, on_request, srv);
	evhttp_set_bevcb(srv->metrics, http_newconn, srv);
	if (listener_open(srv, &srv->http, "metrics", fd, NULL, NULL,
	    http_may_accept) != 0 ||
	    evhttp_bind_listener(srv->metrics, srv->http.l) == NULL) {
		snprintf(err, len, "--metrics: cannot set up HTTP");
		return -1;
	}
	http_acceptor = &srv->http;
	evconnlistener_set_error_cb(srv->http.l, http_error);
	log_info("serving metrics at http://%s/metrics (at most %u "
	    "connections)", arg, srv->http_max);
	return 0;
}

void
metrics_stop(struct server *srv)
{
	size_t	 i;

	/* evhttp_free frees the listener it was given. */
	if (srv->metrics != NULL)
		evhttp_free(srv->metrics);
	srv->metrics = NULL;
	srv->http.l = NULL;
	listener_close(&srv->http);
	for (i = 0; i < srv->nhttp_new; i++)
		bufferevent_decref(srv->http_new[i]);
	free(srv->http_new);
	srv->http_new = NULL;
	srv->nhttp_new = 0;
	if (srv->http_adopt != NULL)
		event_free(srv->http_adopt);
	srv->http_adopt = NULL;
}
