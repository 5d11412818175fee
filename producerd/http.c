/*
 * http.c: --http ADDRESS:PORT, one evhttp listener on the daemon's own
 * loop for the dashboard (web/, built in), its JSON API under /api/v1/
 * (api.c) and Prometheus' /metrics (metrics.c).  Here are the rules every
 * request meets before any of those sees it: at most --http-max-
 * connections at once; the whole request within --http-request-timeout;
 * a cross-site Origin and, on loopback, a Host that is not loopback's (DNS
 * rebinding) refused.  A change needs the bearer token of
 * --http-token-file: http_may_change checks it, called by api.c once the
 * path and method are known.  Errors are JSON.  Off by default, and on an
 * address not of loopback only with a token.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "json.h"
#include "log.h"
#include "producerd.h"

#define HEADERS_MAX	8192	/* bytes of request headers taken */
#define FD_SHARE	4	/* HTTP takes at most 1/4 of the descriptors */
#define TOKEN_MIN	16
#define TOKEN_MAX	256

/*
 * One HTTP connection, from its adoption (http_adopt) to evhttp's close
 * callback.  evhttp's own timeout starts again at every read, so a peer
 * sending a byte a second would hold its slot for ever; the deadline here
 * does not move while a request is read: it runs from the accept, or
 * from the last reply, until the whole request (headers and body) is in,
 * as nginx's client_header_timeout does.
 */
struct hconn {
	struct server			*srv;
	struct evhttp_connection	*evcon;
	struct event			*deadline;
	TAILQ_ENTRY(hconn)		 entry;
};

/* The page's own files only: no inline script, no other site, no frame. */
#define CSP	"default-src 'none'; script-src 'self'; style-src 'self'; " \
		"img-src 'self' data:; connect-src 'self'; " \
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

static void
headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);

	evhttp_add_header(out, "Content-Type", type);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
}

/*
 * A reply larger than one bufferevent write (16 KiB: about 80 consumers)
 * goes out in two; with Nagle on, the second waits for the client's
 * delayed ACK: a keep-alive scrape (Prometheus') of 100 consumers took
 * 44 ms, and takes 0.14 ms without Nagle.  The setsockopt is once per
 * reply, not on the event path.
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
		log_debug("http: TCP_NODELAY: %s", strerror(errno));
}

static const char *
reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	default:
		return "Service Unavailable";
	}
}

/* Send b, JSON, with status code. */
void
http_json(struct evhttp_request *req, int code, struct evbuffer *b)
{
	headers(req, "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	nodelay(req);
	evhttp_send_reply(req, code, reason(code), b);
}

/* {"error": "..."} with status code; nothing was changed. */
void
http_fail(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evbuffer	*b;
	char		 msg[512];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	evbuffer_add_printf(b, "{\"error\":");
	json_str(b, msg, strlen(msg));
	evbuffer_add_printf(b, "}\n");
	http_json(req, code, b);
	evbuffer_free(b);
}

/* 405 with the methods path takes. */
void
http_method(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	http_fail(req, 405, "this path takes %s only", allow);
}

/* "http 127.0.0.1:5000", for log lines. */
const char *
http_peer(struct evhttp_request *req)
{
	static char			 buf[96];
	struct evhttp_connection	*evcon;
	const char			*addr = "?";
	ev_uint16_t			 port = 0;

	if ((evcon = evhttp_request_get_connection(req)) != NULL)
		evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	snprintf(buf, sizeof buf, "http %s:%u", addr, port);
	return buf;
}

/*
 * May req change something?  Replies and returns 0 if not: 403 with no
 * token file (read-only), 401 without the token.  The compare takes the
 * same time wherever the tokens differ.
 */
int
http_may_change(struct server *srv, struct evhttp_request *req)
{
	const char	*h;
	unsigned char	 diff = 0;
	size_t		 i, len;

	if (srv->http_token == NULL) {
		http_fail(req, 403, "read-only: producerd was started without "
		    "--http-token-file");
		return 0;
	}
	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		len = strlen(h);
		diff = len != srv->http_token_len;
		for (i = 0; i < srv->http_token_len; i++)
			diff |= (unsigned char)(srv->http_token[i] ^
			    (i < len ? h[i] : 0));
		if (diff == 0)
			return 1;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", "Bearer realm=\"pushstage\"");
	http_fail(req, 401, "a change needs Authorization: Bearer TOKEN, "
	    "the token of --http-token-file");
	return 0;
}

/* HOST is loopback's: localhost, 127.x.y.z or [::1], with any port. */
static int
loopback_host(const char *host)
{
	char		 name[64];
	const char	*colon;
	size_t		 len;
	struct in_addr	 a4;

	if (strncmp(host, "[::1]", 5) == 0)
		return host[5] == '\0' || host[5] == ':';
	len = (colon = strchr(host, ':')) != NULL ? (size_t)(colon - host) :
	    strlen(host);
	if (len == 0 || len >= sizeof name)
		return 0;
	memcpy(name, host, len);
	name[len] = '\0';
	if (strcasecmp(name, "localhost") == 0)
		return 1;
	return inet_pton(AF_INET, name, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127;
}

/*
 * A browser names the page that sent a request in Origin: it must be
 * this server's own (http://HOST as the request's Host).  Without Origin
 * the request came from no page (curl).  On loopback the Host must be
 * loopback's, else a page of another site whose name now points at
 * 127.0.0.1 could read the API.
 */
static int
same_site(struct server *srv, struct evhttp_request *req)
{
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	const char		*origin, *host;

	host = evhttp_find_header(in, "Host");
	if (srv->http_loopback && (host == NULL || !loopback_host(host))) {
		http_fail(req, 403, "Host %s is not this loopback address's",
		    host != NULL ? host : "(none)");
		return 0;
	}
	if ((origin = evhttp_find_header(in, "Origin")) == NULL)
		return 1;
	if (host != NULL && strncmp(origin, "http://", 7) == 0 &&
	    strcasecmp(origin + 7, host) == 0)
		return 1;
	http_fail(req, 403, "a request from another site (Origin %s) is "
	    "refused", origin);
	return 0;
}

/* GET or HEAD of a file of the dashboard, built in from web/. */
static void
asset(struct evhttp_request *req, const char *path)
{
	struct evbuffer	*b;
	size_t		 i;

	for (i = 0; i < nweb_assets; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			break;
	if (i == nweb_assets) {
		http_fail(req, 404, "no %s here: the dashboard is at /, its "
		    "API at /api/v1/, metrics at /metrics", path);
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		http_fail(req, 503, "out of memory");
		return;
	}
	evbuffer_add_reference(b, web_assets[i].data, web_assets[i].len, NULL,
	    NULL);
	headers(req, web_assets[i].type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-cache");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Security-Policy", CSP);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "X-Frame-Options", "DENY");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* The deadline passed before a whole request came: the peer goes. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct hconn	*hc = arg;

	(void)fd;
	(void)what;
	log_debug("http: a request not read within %u ms: closing",
	    hc->srv->http_request_ms);
	evhttp_connection_free(hc->evcon);	/* on_close frees hc */
}

static void
arm(struct hconn *hc)
{
	struct timeval	 tv;

	tv.tv_sec = hc->srv->http_request_ms / 1000;
	tv.tv_usec = (hc->srv->http_request_ms % 1000) * 1000;
	if (evtimer_add(hc->deadline, &tv) == -1)
		log_warnx("http: cannot set a request's deadline");
}

/*
 * The connection of req.  A list is searched: at most --http-max-
 * connections of them (64 by default), a pointer compare each, next to
 * the JSON a request builds.
 */
static struct hconn *
hconn_of(struct server *srv, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct hconn			*hc;

	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return NULL;
	TAILQ_FOREACH(hc, &srv->http_list, entry)
		if (hc->evcon == evcon)
			return hc;
	return NULL;
}

/* The reply is sent: the next request has its deadline from now. */
static void
on_replied(struct evhttp_request *req, void *arg)
{
	struct server	*srv = arg;
	struct hconn	*hc;

	if ((hc = hconn_of(srv, req)) != NULL)
		arm(hc);
}

/*
 * A whole request is in: no deadline while it is answered (a cluster's
 * answer may wait for JetStream; evhttp's timeout bounds the writing).
 */
static void
request_in(struct server *srv, struct evhttp_request *req)
{
	struct hconn	*hc;

	if ((hc = hconn_of(srv, req)) == NULL)
		return;
	evtimer_del(hc->deadline);
	evhttp_request_set_on_complete_cb(req, on_replied, srv);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server		*srv = arg;
	struct evbuffer		*b;
	const char		*path;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	int			 get = cmd == EVHTTP_REQ_GET ||
				    cmd == EVHTTP_REQ_HEAD;

	request_in(srv, req);
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL || *path == '\0')
		path = "/";
	if (!same_site(srv, req))
		return;
	if (strncmp(path, "/api/v1/", 8) == 0) {
		api_request(srv, req, path + 8, cmd);
		return;
	}
	if (!get) {
		http_method(req, "GET, HEAD");
		return;
	}
	if (strcmp(path, "/metrics") != 0) {
		asset(req, path);
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		http_fail(req, 503, "out of memory");
		return;
	}
	metrics_render(srv, b);
	nodelay(req);
	headers(req, "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
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
	if (srv->evhttp != NULL && srv->http_conns + 1 == srv->http_max &&
	    !evtimer_pending(srv->http.retry, NULL))
		evconnlistener_enable(srv->http.l);
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct hconn	*hc = arg;
	struct server	*srv = hc->srv;

	(void)evcon;
	TAILQ_REMOVE(&srv->http_list, hc, entry);
	event_free(hc->deadline);
	free(hc);
	http_closed(srv);
}

static void
http_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct server		*srv = arg;
	struct bufferevent	*bev;
	struct hconn		*hc;
	void			*evcon;
	size_t			 i;

	(void)fd;
	(void)what;
	for (i = 0; i < srv->nhttp_new; i++) {
		bev = srv->http_new[i];
		bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
		bufferevent_decref(bev);
		if (evcon == NULL) {
			http_closed(srv);
			continue;
		}
		if ((hc = calloc(1, sizeof *hc)) == NULL ||
		    (hc->deadline = evtimer_new(srv->base, on_deadline,
		    hc)) == NULL) {
			/* Without its deadline, it is not kept. */
			log_warnx("http: out of memory for a connection");
			free(hc);
			evhttp_connection_free(evcon);
			http_closed(srv);
			continue;
		}
		hc->srv = srv;
		hc->evcon = evcon;
		TAILQ_INSERT_TAIL(&srv->http_list, hc, entry);
		evhttp_connection_set_closecb(evcon, on_close, hc);
		arm(hc);
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
 * HTTP listener of the process is found here.
 */
static struct acceptor	*http_acceptor;

static void
http_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	listener_failed(http_acceptor);
}

/* Is sa a loopback address (127/8, ::1, or ::ffff:127/104)? */
static int
http_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*s4 = (const void *)sa;
	const struct sockaddr_in6	*s6 = (const void *)sa;
	const uint8_t			*a;

	if (sa->sa_family == AF_INET)
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return 0;
	a = s6->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && a[12] == 127;
}

/* A listening TCP socket on host:port; -1 and err if none. */
static int
bind_tcp(struct server *srv, const char *opt, const char *arg,
    const char *host, unsigned short port, char *err, size_t len)
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
		snprintf(err, len, "%s: %s: %s", opt, host,
		    gai_strerror(error));
		return -1;
	}
	srv->http_loopback = http_loopback(res->ai_addr);
	if (!srv->http_loopback && srv->http_token == NULL) {
		snprintf(err, len, "%s %s: not a loopback address: serve the "
		    "dashboard there only with --http-token-file (docs/"
		    "http.md)", opt, arg);
		freeaddrinfo(res);
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof on) == -1 || bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 128) == -1) {
		snprintf(err, len, "%s: cannot listen on %s: %s", opt, arg,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * The token: the file's first line, of mode 0600 or stricter (a token
 * others can read is no secret), 16 to 256 bytes that may go in a
 * header; in memory of its own.
 */
static int
read_token(const char *path, char **token, size_t *tokenlen, char *err,
    size_t len)
{
	struct stat	 st;
	char		 buf[TOKEN_MAX + 2];
	ssize_t		 n;
	size_t		 i, tlen;
	int		 fd;

	/*
	 * O_NONBLOCK: opening a FIFO would wait for a writer, stopping the
	 * daemon at start or at SIGHUP; such a file is refused below.
	 */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY)) == -1) {
		snprintf(err, len, "--http-token-file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, len, "--http-token-file %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		if (!S_ISREG(st.st_mode))
			snprintf(err, len, "--http-token-file %s: not a "
			    "regular file (a %s)", path, S_ISFIFO(st.st_mode) ?
			    "FIFO" : S_ISDIR(st.st_mode) ? "directory" :
			    S_ISSOCK(st.st_mode) ? "socket" : "device");
		else
			snprintf(err, len, "--http-token-file %s: group or "
			    "others may read it (mode %03o): chmod 600 %s",
			    path, (unsigned int)(st.st_mode & 0777), path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n == -1) {
		snprintf(err, len, "--http-token-file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	tlen = strcspn(buf, "\r\n");
	for (i = 0; i < tlen; i++)
		if (!isgraph((unsigned char)buf[i]))
			break;
	if (i != tlen || tlen < TOKEN_MIN || tlen > TOKEN_MAX) {
		snprintf(err, len, "--http-token-file %s: the token (its "
		    "first line) must be %d to %d bytes of printable ASCII "
		    "without spaces (head -c 24 /dev/urandom | base64)", path,
		    TOKEN_MIN, TOKEN_MAX);
		return -1;
	}
	*token = strndup(buf, tlen);
	explicit_bzero(buf, sizeof buf);
	if (*token == NULL) {
		snprintf(err, len, "--http-token-file: out of memory");
		return -1;
	}
	*tokenlen = tlen;
	return 0;
}

static void
forget_token(struct server *srv)
{
	if (srv->http_token != NULL) {
		explicit_bzero(srv->http_token, srv->http_token_len);
		free(srv->http_token);
	}
	srv->http_token = NULL;
	srv->http_token_len = 0;
}

/*
 * SIGHUP: the token file is read again, so that a token can be changed
 * without a restart; if it cannot be, the token in use stays.
 */
void
http_reload(struct server *srv)
{
	char	*token, err[512];
	size_t	 len;

	if (srv->evhttp == NULL || srv->http_token_file == NULL)
		return;
	if (read_token(srv->http_token_file, &token, &len, err,
	    sizeof err) != 0) {
		log_warnx("%s; the token in use stays", err);
		return;
	}
	forget_token(srv);
	srv->http_token = token;
	srv->http_token_len = len;
	log_info("--http-token-file %s read again", srv->http_token_file);
}

/*
 * Each HTTP connection takes a descriptor: at --http-max-connections
 * over the limit (ulimit -n 64, 150 peers), the HTTP side took every one
 * and pushctl stats was refused.  HTTP gets a quarter at most; the rest
 * is the socket's, the journal's and the daemon's own.  The limit was
 * raised to its hard limit already (main.c).
 */
static void
clamp(struct server *srv, const char *opt)
{
	struct rlimit	 rl;
	rlim_t		 share;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit");
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	share = rl.rlim_cur / FD_SHARE;
	if (share < 1)
		share = 1;
	if ((rlim_t)srv->http_max <= share)
		return;
	log_warnx("%s-max-connections %u is more than a quarter of the "
	    "descriptor limit (%llu): at most %llu HTTP connections, so the "
	    "socket keeps the rest (raise ulimit -n for more)", opt,
	    srv->http_max, (unsigned long long)rl.rlim_cur,
	    (unsigned long long)share);
	srv->http_max = (uint32_t)share;
}

int
http_start(struct server *srv, const struct config *cfg, char *err,
    size_t len)
{
	const char	*opt = cfg->http_opt, *arg = cfg->http;
	struct timeval	 tv;
	char		 host[256];
	unsigned short	 port;
	int		 fd;

	if (split(arg, host, sizeof host, &port) != 0) {
		snprintf(err, len, "%s: \"%s\" is not ADDRESS:PORT "
		    "(127.0.0.1:9464, [::1]:9464)", opt, arg);
		return -1;
	}
	if (cfg->http_token_file != NULL && read_token(cfg->http_token_file,
	    &srv->http_token, &srv->http_token_len, err, len) != 0)
		return -1;
	srv->http_token_file = cfg->http_token_file;
	if ((fd = bind_tcp(srv, opt, arg, host, port, err, len)) == -1)
		return -1;
	TAILQ_INIT(&srv->http_list);
	srv->http_request_ms = cfg->http_request_ms;
	clamp(srv, opt);
	if ((srv->evhttp = evhttp_new(srv->base)) == NULL ||
	    (srv->http_adopt = event_new(srv->base, -1, 0, http_adopt,
	    srv)) == NULL || history_start(srv) != 0) {
		close(fd);
		snprintf(err, len, "%s: cannot set up HTTP", opt);
		return -1;
	}
	/* Every method reaches on_request, which answers 405 itself. */
	evhttp_set_allowed_methods(srv->evhttp, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(srv->evhttp, HEADERS_MAX);
	evhttp_set_max_body_size(srv->evhttp, HTTP_BODY_MAX);
	/* Idle or slow on one read or write; on_deadline bounds the rest. */
	tv.tv_sec = srv->http_request_ms / 1000;
	tv.tv_usec = (srv->http_request_ms % 1000) * 1000;
	evhttp_set_timeout_tv(srv->evhttp, &tv);
	evhttp_set_gencb(srv->evhttp, on_request, srv);
	evhttp_set_bevcb(srv->evhttp, http_newconn, srv);
	if (listener_open(srv, &srv->http, "http", fd, NULL, NULL,
	    http_may_accept) != 0 ||
	    evhttp_bind_listener(srv->evhttp, srv->http.l) == NULL) {
		snprintf(err, len, "%s: cannot set up HTTP", opt);
		return -1;
	}
	http_acceptor = &srv->http;
	evconnlistener_set_error_cb(srv->http.l, http_error);
	log_info("serving the dashboard at http://%s/ (API /api/v1/, "
	    "/metrics; %s; at most %u connections)", arg,
	    srv->http_token != NULL ? "changes with the token" : "read-only",
	    srv->http_max);
	return 0;
}

void
http_stop(struct server *srv)
{
	struct evhttp	*evhttp;
	size_t		 i;

	/*
	 * Requests waiting are answered before their connections go;
	 * evhttp_free frees the listener it was given.
	 */
	if ((evhttp = srv->evhttp) != NULL) {
		api_stop(srv);
		srv->evhttp = NULL;	/* its listener goes first */
		evhttp_free(evhttp);
	}
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
	history_stop(srv);
	forget_token(srv);
}
