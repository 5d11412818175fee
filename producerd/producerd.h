/* producerd.h: the daemon's server and connection state. */
#ifndef PS_PRODUCERD_H
#define PS_PRODUCERD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include "dispatch.h"
#include "frame.h"

struct conn;
TAILQ_HEAD(conns, conn);

struct server {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct event		*accept_retry;
	struct dispatch		 dispatch;
	struct conns		 conns;
	struct ps_buf		 scratch;	/* one reply being encoded */
	const char		*socket_path;
	uint32_t		 max_frame;
	uint32_t		 nconsumers;
	uint32_t		 nclients;
	uint64_t		 next_serial;
	uint64_t		 connections_total;
	uint64_t		 protocol_errors_total;
	time_t			 started;
};

enum conn_state {
	CONN_HELLO,		/* waiting for HELLO */
	CONN_ACTIVE,		/* handshake done */
	CONN_CLOSING,		/* flushing what is queued, then closed */
};

enum conn_role {
	ROLE_NONE = 0,
	ROLE_CONSUMER = PS_ROLE_CONSUMER,
	ROLE_CLIENT = PS_ROLE_CLIENT,
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	struct server		*srv;
	struct bufferevent	*bev;
	enum conn_state		 state;
	enum conn_role		 role;
	int			 paused;	/* reading stopped: output full */
	uint64_t		 serial;	/* for log lines */
	pid_t			 pid;
	uid_t			 uid;
	time_t			 since;
	char			 name[PS_NAME_MAX + 1];
	struct dconsumer	 dc;		/* ROLE_CONSUMER only */
};

/* Reading stops while a connection has this much output queued. */
#define CONN_OUT_HIGH	(4u * 1024 * 1024)

/* conn.c */
void	 conn_accept(struct server *, int);
void	 conn_close(struct conn *);
void	 conn_emit(void *, struct dconsumer *, struct qevent *);

/* listener.c */
int	 listener_start(struct server *, int);
void	 listener_stop(struct server *);

/* stats.c */
int	 stats_encode(struct server *, struct ps_buf *);

#endif
