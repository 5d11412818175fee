/*
 * listener.c: the listening sockets, the daemon's and --metrics': accept,
 * and ride out descriptor exhaustion.  When accept fails for want of
 * descriptors, the listener would be readable again at once and the loop
 * would spin (one user holding idle connections drove the daemon to 87 %
 * of a core and 2.8 M log lines in 15 s).  So: give up the spare
 * descriptor kept for this, accept one waiting peer and close it (it learns
 * at once instead of hanging), take the spare back, and stop accepting
 * for a moment.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "clock.h"
#include "log.h"
#include "producerd.h"

/* After accept fails for want of descriptors, wait this long to retry. */
#define ACCEPT_RETRY_MSEC	100

static void
listener_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct acceptor	*a = arg;

	(void)l;
	(void)sa;
	(void)salen;
	conn_accept(a->srv, fd);
}

/*
 * Shed one waiting peer with the spare descriptor (server_init takes
 * it); take the spare back.
 */
static void
shed_one(struct server *srv, int lfd)
{
	int	 fd;

	if (srv->spare_fd == -1)
		return;
	close(srv->spare_fd);
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1) {
		close(fd);
		srv->shed_connections_total++;
	}
	if ((srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("the spare descriptor could not be taken back");
}

/* Any listener's accept error: shed, pause, and say so once a second. */
void
listener_failed(struct acceptor *a)
{
	struct evconnlistener *l = a->l;
	struct server	*srv = a->srv;
	struct timeval	 tv;
	int		 error = errno;

	if (error == EMFILE || error == ENFILE || error == ENOBUFS ||
	    error == ENOMEM)
		shed_one(srv, evconnlistener_get_fd(l));
	if (log_throttle(&a->log, time(NULL))) {
		log_warnx("%s: accept: %s; refusing connections for %d ms%s",
		    a->what, strerror(error), ACCEPT_RETRY_MSEC,
		    a->log.held ? " (and more not logged)" : "");
		a->log.held = 0;
	}
	evconnlistener_disable(l);
	evtimer_add(a->retry, ms_timeval(ACCEPT_RETRY_MSEC, &tv));
}

static void
listener_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	listener_failed(arg);
}

static void
listener_retry(evutil_socket_t fd, short what, void *arg)
{
	struct acceptor	*a = arg;

	(void)fd;
	(void)what;
	if (a->may_accept == NULL || a->may_accept(a->srv))
		evconnlistener_enable(a->l);
}

/*
 * Serve the listening socket fd through a, calling cb (if not NULL yet)
 * for each peer; may_accept (or NULL) says whether a retry may start
 * accepting again.  The owner calls listener_failed on accept errors.
 * 0, or -1 with fd closed.
 */
int
listener_open(struct server *srv, struct acceptor *a, const char *what,
    int fd, evconnlistener_cb cb, void *arg,
    int (*may_accept)(struct server *))
{
	a->srv = srv;
	a->what = what;
	a->may_accept = may_accept;
	a->retry = evtimer_new(srv->base, listener_retry, a);
	a->l = evconnlistener_new(srv->base, cb, arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (a->retry == NULL || a->l == NULL) {
		if (a->l == NULL)
			close(fd);
		return -1;
	}
	return 0;
}

void
listener_close(struct acceptor *a)
{
	if (a->l != NULL)
		evconnlistener_free(a->l);
	if (a->retry != NULL)
		event_free(a->retry);
	a->l = NULL;
	a->retry = NULL;
}

/* The daemon's own socket. */
int
listener_start(struct server *srv, int fd)
{
	if (listener_open(srv, &srv->listener, srv->socket_path, fd,
	    listener_accept, &srv->listener, NULL) != 0)
		return -1;
	evconnlistener_set_error_cb(srv->listener.l, listener_error);
	return 0;
}

void
listener_stop(struct server *srv)
{
	listener_close(&srv->listener);
}
