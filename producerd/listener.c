/* listener.c: the listening socket: accept, and ride out fd exhaustion. */
#include <errno.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "producerd.h"

/* After accept fails for want of descriptors, wait this long to retry. */
#define ACCEPT_RETRY_MSEC	100

static void
listener_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	conn_accept(arg, fd);
}

static void
listener_error(struct evconnlistener *l, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 0, ACCEPT_RETRY_MSEC * 1000 };

	log_warn("accept");
	/* Out of descriptors: stop accepting for a moment, not spin. */
	evconnlistener_disable(l);
	evtimer_add(srv->accept_retry, &tv);
}

static void
listener_retry(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(srv->listener);
}

/* Serve the listening socket fd; 0, or -1 with fd closed. */
int
listener_start(struct server *srv, int fd)
{
	srv->accept_retry = evtimer_new(srv->base, listener_retry, srv);
	srv->listener = evconnlistener_new(srv->base, listener_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (srv->accept_retry == NULL || srv->listener == NULL) {
		if (srv->listener == NULL)
			close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(srv->listener, listener_error);
	return 0;
}

void
listener_stop(struct server *srv)
{
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	if (srv->accept_retry != NULL)
		event_free(srv->accept_retry);
	srv->listener = NULL;
	srv->accept_retry = NULL;
}
