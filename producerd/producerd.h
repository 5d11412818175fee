/* producerd.h: the daemon's server and connection state. */
#ifndef PS_PRODUCERD_H
#define PS_PRODUCERD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <event2/listener.h>

#include "backend.h"
#include "backoff.h"
#include "dispatch.h"
#include "frame.h"
#include "journal.h"
#include "log.h"
#include "periodic.h"

struct conn;
struct zone;
struct evbuffer;
struct mapreq;
TAILQ_HEAD(conns, conn);
TAILQ_HEAD(mapreqs, mapreq);

/* A queue's settings (settings.c); the command line gives the defaults. */
struct qsettings {
	uint64_t		 max_queue;	/* buffered events; 0: none */
	uint64_t		 max_queue_bytes; /* their bytes; 0: none */
	enum overflow		 overflow;
	int			 acks;		/* at-least-once delivery */
	uint32_t		 ack_timeout;	/* ms; 0: none */
	uint32_t		 max_attempts;
	enum dispatch_mode	 mode;		/* demand, key, partition */
	uint32_t		 partitions;	/* partition: how many */
	uint32_t		 rate_n;	/* rate_n events per rate_ms; */
	uint32_t		 rate_ms;	/* 0: no limit */
	uint32_t		 backoff_base;	/* ms; 0: at once */
	uint32_t		 backoff_max;
	uint64_t		 paused_until;	/* wall ms; SCHED_FOREVER;
						   0: not paused */
	uint64_t		 dedup_window;	/* ms a unique id stays */
	uint64_t		 keep_done;	/* ms a done event's record
						   stays; 0: none kept */
	uint64_t		 keep_done_bytes; /* those records' memory */
	uint64_t		 max_result;	/* an ACK_RESULT's bytes */
	uint64_t		 max_task_stats; /* task names counted apart */
};
/* Which settings a queue was given of its own (and DIR/queues keeps). */
#define QS_MAX_QUEUE		0x01
#define QS_MAX_QUEUE_BYTES	0x02
#define QS_OVERFLOW		0x04
#define QS_DELIVERY		0x08
#define QS_ACK_TIMEOUT		0x10
#define QS_MAX_ATTEMPTS		0x20
#define QS_DISPATCH		0x40
#define QS_RATE			0x80
#define QS_BACKOFF		0x100
#define QS_PAUSED		0x200
#define QS_DEDUP		0x400
#define QS_KEEP_DONE		0x800
#define QS_KEEP_DONE_BYTES	0x1000
#define QS_MAX_RESULT		0x2000
#define QS_MAX_TASK_STATS	0x4000

/*
 * A group of a queue's consumers (groups.c): it gets every event enqueued
 * in the queue from when it was made, shared among its consumers by the
 * demand rule, with its own acks, redeliveries and dead letters.  The
 * shared group, named "", is the one consumers naming no group join.
 */
struct qgroup {
	TAILQ_ENTRY(qgroup)	 entry;		/* q->groups: the first leads */
	struct nqueue		*q;
	struct dispatch		 d;
	uint32_t		 nconsumers;
	uint64_t		 enqueue_rate;	/* events/s, the last second */
	uint64_t		 deliver_rate;
	uint64_t		 ack_rate;
	uint64_t		 enqueued_then;	/* totals at the last tick */
	uint64_t		 delivered_then;
	uint64_t		 acked_then;
	uint64_t		 cluster_dead;	/* --cluster: letters in JetStream */
	struct qlog		*log;		/* its own (backend group_logs) */
	TAILQ_HEAD(, wait)	 waits;		/* WAITs for its events */
	uint8_t			 len;
	char			 name[];	/* len bytes and a NUL */
};
TAILQ_HEAD(qgroups, qgroup);

/* "QUEUE" or "QUEUE/GROUP": how logs, stats and peers name a group. */
struct gpath {
	char			 s[PS_PATH_MAX + 1];
};

/* A queue's last ten minutes, for the dashboard (history.c). */
#define HISTORY_MS		10000u
#define HISTORY_SAMPLES		60u
struct qhistory {
	uint32_t		 queued[HISTORY_SAMPLES];
	uint32_t		 enqueue_rate[HISTORY_SAMPLES];	/* events/s */
	uint32_t		 deliver_rate[HISTORY_SAMPLES];
	uint32_t		 ack_rate[HISTORY_SAMPLES];
	uint64_t		 enqueued_then;	/* totals at the last sample */
	uint64_t		 delivered_then;
	uint64_t		 acked_then;
	uint32_t		 n;		/* samples kept */
	uint32_t		 next;		/* where the next one goes */
};

/* A named queue (queues.c): one log of events, read by its groups. */
struct nqueue {
	TAILQ_ENTRY(nqueue)	 entry;		/* srv->queues, oldest first */
	TAILQ_ENTRY(nqueue)	 tentry;	/* srv->touched */
	TAILQ_ENTRY(nqueue)	 aentry;	/* srv->active */
	TAILQ_ENTRY(nqueue)	 uentry;	/* srv->unblocking */
	TAILQ_ENTRY(nqueue)	 wentry;	/* srv->waiting */
	struct nqueue		*hnext;		/* by name */
	struct server		*srv;
	struct qlog		 log;		/* its events, stored once */
	struct qgroups		 groups;	/* oldest first */
	uint32_t		 ngroups;
	struct qsettings	 s;
	unsigned int		 set;		/* QS_*: its own settings */
	struct dpolicy		 policy;	/* s as its groups follow it */
	uint8_t			 declared;	/* --queue: never deleted */
	uint8_t			 made;		/* its first group is made */
	uint8_t			 touched;
	uint8_t			 active;	/* in flight, or timed */
	uint8_t			 unblocking;	/* its first blocked may go */
	struct conns		 blocked;	/* clients waiting for room */
	uint32_t		 nblocked;
	uint32_t		 nconsumers;	/* in all its groups */
	struct qhistory		*history;	/* while --http, or NULL */
	uint8_t			 len;
	char			 name[];	/* len bytes and a NUL */
};
TAILQ_HEAD(nqueues, nqueue);

/* A stage's link to the daemon before it (upstream.c). */
struct upstream {
	const char		*path;		/* --upstream, or NULL */
	uint32_t		 max_demand;	/* --upstream-max-demand */
	const char		*queue;		/* --upstream-queue */
	const char		*local;		/* --local-queue */
	struct qgroup		*into;		/* that queue's group here */
	struct conn		*conn;		/* NULL while not linked */
	struct event		*retry;
	struct backoff		 backoff;
	uint32_t		 failures;
	uint16_t		 epoch;		/* of the current link */
	uint16_t		 version;	/* asked of it: 4 (keys come
						   with EVENTs), or 3 once it
						   said it speaks no 4 */
	int			 connected;	/* WELCOME seen */
	int			 acks;		/* upstream wants ACKs */
	uint32_t		 credit;	/* asked, not yet received */
	uint64_t		 received_total;
	uint64_t		 acked_total;
	uint64_t		 nacked_total;
	uint64_t		*ack_ids;	/* to send this iteration */
	size_t			 n_ack;
	size_t			 cap_ack;
	uint64_t		*nack_ids;
	size_t			 n_nack;
	size_t			 cap_nack;
};

/* A stage's --map process (map.c). */
struct map {
	const char		*cmd;		/* --map or --map0, or NULL */
	int			 nul;		/* --map0 */
	pid_t			 pid;		/* 0: not running */
	int			 to;		/* its stdin */
	int			 from;		/* its stdout */
	struct event		*rev;
	struct event		*wev;
	struct event		*restart;
	struct event		*sigchld;
	struct evbuffer		*out;
	struct evbuffer		*in;
	struct mapreqs		 pending;	/* sent, not answered */
	size_t			 npending;
	struct backoff		 backoff;
	uint64_t		 mapped_total;
	uint64_t		 dropped_total;
	uint64_t		 restarts_total;
};

/* Who may connect: uids and gids from --allow-uid and --allow-gid. */
struct allow {
	unsigned long		*uids;
	size_t			 nuids;
	unsigned long		*gids;
	size_t			 ngids;
};

/* A listening socket that backs off when accept fails (listener.c). */
struct acceptor {
	struct server		*srv;
	struct evconnlistener	*l;
	struct event		*retry;
	const char		*what;		/* for log lines */
	int			(*may_accept)(struct server *);
	struct log_throttle	 log;
};

struct server {
	struct event_base	*base;
	struct acceptor		 listener;
	int			 spare_fd;	/* shed peers at EMFILE */
	uint64_t		 shed_connections_total;
	struct evhttp		*evhttp;	/* --http, or NULL */
	struct acceptor		 http;		/* its listener */
	int			 http_loopback;	/* --http on 127/8 or ::1 */
	char			*http_token;	/* --http-token-file's, or NULL */
	size_t			 http_token_len;
	const char		*http_token_file;	/* read again on SIGHUP */
	uint32_t		 http_conns;	/* its connections now */
	uint32_t		 http_max;	/* --http-max-connections */
	uint32_t		 http_request_ms;	/* --http-request-timeout */
	TAILQ_HEAD(, hconn)	 http_list;	/* its connections (http.c) */
	struct bufferevent	**http_new;	/* counted, not yet adopted */
	size_t			 nhttp_new;
	size_t			 caphttp_new;
	struct event		*http_adopt;
	struct event		*history_timer;	/* --http: sparklines */
	struct event		*expiry;	/* the next ack deadline */
	struct event		*drain_timer;
	struct event		*unblock;	/* a blocked client may go */
	struct event		*loop_end;	/* settle, commit, flush */
	struct event		*rate_timer;	/* the queues' rates */
	int			 settling;
	int			 woken;		/* loop_end is active */
	size_t			 read_chunk;	/* a read's most (io.c) */
	struct conns		 dirty;		/* written to, not flushed */
	struct conns		 conns;

	/* The queues (queues.c). */
	struct nqueues		 queues;	/* oldest first */
	struct nqueue		**qhash;
	uint64_t		 qhmask;
	uint32_t		 nqueues;
	uint32_t		 max_queues;	/* --max-queues */
	uint32_t		 max_groups;	/* --max-groups, per queue */
	uint64_t		 max_memory;	/* --max-memory; 0: none */
	int			 auto_create;	/* not --no-auto-create */
	struct nqueues		 touched;	/* used this iteration */
	struct nqueues		 active;	/* with events in flight */
	struct nqueues		 unblocking;	/* a blocked client may go */
	struct nqueues		 waiting;	/* with clients blocked */
	struct qsettings	 qdefault;	/* a new queue's settings */
	struct qstore		 store;		/* their buffers' memory */
	uint64_t		 next_id;	/* ids are the daemon's */
	uint64_t		 now;		/* ms, the queues' clock */
	uint64_t		 wall;		/* ms since 1970, read with it */
	int			 journaling;	/* queues' changes recorded */
	int			 queues_unsaved;	/* DIR/queues is behind */
	uint64_t		 queues_created_total;
	uint64_t		 queues_deleted_total;
	struct ps_buf		 scratch;	/* one reply being encoded */
	/* The schedules (schedules.c, periodic.c). */
	struct periodic		 sched;
	uint32_t		 max_schedules;	/* --max-schedules */
	struct zone		*zones;		/* loaded, kept till exit */
	struct event		*sched_timer;	/* at the next tick */
	uint64_t		 sched_aim;	/* its time, wall ms */
	int			 sched_fd;	/* DIR/schedules, or -1 */
	uint64_t		 sched_size;	/* its bytes */
	uint64_t		 sched_written;	/* times written whole */
	int			 sched_dirty;	/* written, not synced */
	int			 sched_broken;	/* a record was lost */
	struct log_throttle	 sched_log;	/* ticks not taken */
	struct ps_buf		 sched_out;	/* its records, this turn */
	struct ps_buf		 sched_frame;	/* a tick's ENQUEUE */
	struct ps_buf		 sched_hdr;	/* its headers; a record */
	struct ps_buf		 sched_dups;
	const char		*socket_path;
	struct allow		 allow;
	struct upstream		 up;
	struct map		 map;
	const struct backend	*backend;	/* where the events live */
	/* --cluster (cluster.c): NATS JetStream behind the queues. */
	struct cluster		*cluster;
	const char		*cluster_urls;
	uint32_t		 cluster_replicas;
	uint64_t		 cluster_connected;
	uint64_t		 cluster_links_total;
	uint64_t		 cluster_published_total;
	uint64_t		 cluster_pulled_total;
	const char		*data_dir;	/* --data-dir, or NULL */
	struct journal		 journal;	/* open while data_dir */
	struct event		*fsync_timer;	/* --fsync interval:MS */
	struct event		*room_timer;	/* while the journal is full */
	struct event		*compact_timer;	/* compaction goes on */
	struct event		*log_timer;	/* repeated lines said */

	/* Settings. */
	uint32_t		 max_frame;
	uint32_t		 handshake_ms;
	uint32_t		 drain_ms;
	uint32_t		 max_connections;

	/* State. */
	int			 draining;
	uint32_t		 nconns;
	uint32_t		 nconsumers;
	uint32_t		 nclients;
	uint64_t		 next_serial;
	uint64_t		 connections_total;
	uint64_t		 protocol_errors_total;
	uint64_t		 refused_total;
	struct log_throttle	 refused_log;
	uint32_t		 nblocked;
	uint64_t		 overflow_shed;		/* since the last line */
	uint64_t		 overflow_refused;
	struct log_throttle	 overflow_log;
	time_t			 started;
};

/* Defaults (config.c, and producerd --help). */
#define CONFIG_MAX_QUEUES	10000u
#define CONFIG_MAX_GROUPS	100u
#define CONFIG_MAX_SCHEDULES	100000u
#define CONFIG_DRAIN_MS		30000u
#define CONFIG_HANDSHAKE_MS	5000u
#define CONFIG_MAX_CONNS	1024u
#define CONFIG_HTTP_CONNS	64u
#define CONFIG_HTTP_REQUEST_MS	10000u
#define CONFIG_MAX_ATTEMPTS	DPOLICY_MAX_ATTEMPTS
#define CONFIG_UNAVAILABLE	(-78)	/* config_parse: exit 78 (EX_CONFIG) */
#define CONFIG_DEDUP_WINDOW	DPOLICY_DEDUP_WINDOW
#define CONFIG_KEEP_DONE_BYTES	DPOLICY_KEEP_DONE_BYTES
#define CONFIG_MAX_RESULT	PS_RESULT_DEFAULT
#define CONFIG_MAX_TASK_STATS	TASKS_DEFAULT
#define CONFIG_SOCKET_MODE	0660u
#define CONFIG_MAX_QUEUE	1000000u
#define CONFIG_UPSTREAM_DEMAND	1000u

/* The command line, checked (config.c); main wires the modules with it. */
struct config {
	const char		*socket;	/* NULL: the default path */
	const char		*log_file;
	const char		*http;		/* ADDRESS:PORT, or NULL */
	const char		*http_opt;	/* --http, or --metrics */
	const char		*http_token_file;
	uint32_t		 http_max_connections;
	uint32_t		 http_request_ms;	/* --http-request-timeout */
	uint32_t		 max_frame;
	uint32_t		 drain_ms;
	uint32_t		 handshake_ms;
	uint32_t		 max_connections;
	unsigned int		 socket_mode;
	gid_t			 socket_group;	/* -1: leave it */
	struct allow		 allow;
	struct qsettings	 queue;		/* every queue's defaults */
	unsigned int		 queue_set;	/* QS_*: given as flags */
	uint64_t		 max_memory;
	int			 max_memory_set;
	uint32_t		 max_queues;
	uint32_t		 max_schedules;
	uint32_t		 max_groups;
	int			 auto_create;
	const char		**queue_names;	/* --queue */
	size_t			 nqueue_names;
	const char		*upstream;
	const char		*upstream_queue;
	const char		*local_queue;
	uint32_t		 upstream_max_demand;
	const struct backend	*backend;	/* local, or --cluster's */
	const char		*cluster;	/* --cluster URLS */
	uint32_t		 cluster_replicas;
	const char		*map;
	int			 map_nul;
	const char		*data_dir;
	enum journal_fsync	 fsync;
	uint32_t		 fsync_interval_ms;
	uint64_t		 segment_size;
	int			 repair;
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
	ROLE_UPSTREAM = 100,	/* this daemon is the consumer: a stage */
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 bentry;	/* on blocked while blocked */
	TAILQ_ENTRY(conn)	 dentry;	/* on dirty while dirty */
	struct server		*srv;
	int			 fd;		/* -1: none (the fuzzer) */
	struct event		*rev;
	struct event		*wev;		/* added while output waits */
	struct ps_decoder	 in;		/* bytes read, not yet taken */
	struct evbuffer		*out;		/* bytes to write */
	struct ps_buf		 stage;		/* frames made this iteration,
						   behind out (io.c) */
	int			 dirty;
	struct event		*hello_timer;	/* until HELLO */
	struct event		*close_timer;	/* while CLOSING */
	enum conn_state		 state;
	enum conn_role		 role;
	int			 version;	/* from HELLO */
	unsigned int		 hold;		/* HOLD_*: why it is not read */
	int			 inputting;	/* in conn_input */
	int			 blocked;	/* on its queue's blocked list */
	int			 pending;	/* ENQUEUEs answered later */
	uint8_t			 dead_type;	/* its dead-letter request's */
	int			 turn;		/* unblocked: may go first */
	int			 enq_started;	/* a batch taken in parts */
	struct ps_enqueue_mark	 enq_mark;	/* where it stands */
	struct ps_enqueued	 enq_reply;	/* its answer so far */
	struct ps_buf		 enq_dups;	/* its duplicates' indexes */
	struct nqueue		*enq_q;		/* its queue */
	struct nqueue		*q;		/* a consumer's queue */
	struct qgroup		*g;		/* and group */
	uint64_t		 serial;	/* for log lines */
	pid_t			 pid;
	uid_t			 uid;
	gid_t			 gid;
	time_t			 since;
	char			 name[PS_NAME_MAX + 1];
	struct dconsumer	 dc;		/* ROLE_CONSUMER only */
	struct wait		*wait;		/* its WAIT, not answered */
};

/*
 * Why a connection is not read: one bit a reason, set and cleared only by
 * conn_hold and conn_release, which alone start and stop reading.  While
 * any is set nothing more is read, so what its decoder holds stays within
 * one read past the frame that waits.
 */
#define HOLD_OUTPUT	0x01	/* its output is past CONN_OUT_HIGH */
#define HOLD_BLOCKED	0x02	/* its ENQUEUE waits for room (block) */
#define HOLD_STREAM	0x04	/* its ENQUEUE is held by the backend */
#define HOLD_DEAD	0x08	/* its dead-letter request is asked */
#define HOLD_BATCHES	0x10	/* CONN_PENDING_MAX ENQUEUEs to be answered */
#define HOLD_ANSWERS	0x20	/* a frame waits for its ENQUEUEs' answers */
#define HOLD_INPUT	0x40	/* its decoder is full */
#define HOLD_WAIT	0x80	/* its WAIT waits for the event's end */

/* Reading stops while a connection has this much output queued. */
#define CONN_OUT_HIGH	(4u * 1024 * 1024)
/* A client's ENQUEUEs answered later (at JetStream) at once, in turn. */
#define CONN_PENDING_MAX	16

/* conn.c */
void	 conn_accept(struct server *, int);
struct conn *conn_new(struct server *, int, pid_t, uid_t, gid_t);
void	 conn_close(struct conn *);
void	 conn_input(struct conn *);
void	 conn_eof(struct conn *);
void	 conn_flushed(struct conn *);
void	 conn_nomem(struct conn *);
void	 conn_drop(struct conn *);
void	 conn_emit(void *, struct dconsumer *, const struct qevent *);
void	 conn_cancelled(struct dconsumer *, uint64_t);
void	 conn_waited(struct conn *, const struct ps_wait_reply *);

/* waits.c */
struct wait;
int	 waits_add(struct server *, struct conn *, struct qgroup *, uint64_t,
	     uint32_t);
void	 waits_end(void *, struct dispatch *, const struct dispatch_end *);
void	 waits_group_gone(struct qgroup *);
void	 waits_forget(struct conn *);
void	 conn_unblock(struct conn *);
void	 conn_hold(struct conn *, unsigned int);
void	 conn_release(struct conn *, unsigned int);
void	 conn_error(struct conn *, int, const char *);

/* An operator's change to queues (admin.c): who asks, and why it failed. */
struct admin {
	struct server		*srv;
	struct conn		*by;		/* the asking peer, or NULL */
	const char		*who;		/* for log lines */
	int			 code;		/* PS_E_*, once failed */
	char			 why[256];
};

/* admin.c */
struct nqueue *admin_queue(struct admin *, const char *, size_t);
int	 admin_check(struct admin *, const char *, const struct qsettings *,
	     unsigned int);
int	 admin_settings(struct admin *, struct nqueue *,
	     const struct qsettings *, unsigned int);
int	 admin_pause(struct admin *, struct nqueue *, int);
uint64_t admin_purge(struct admin *, struct nqueue *);
int	 admin_dead(struct admin *, struct qgroup *, int,
	     const struct ps_ids *, uint32_t *);
int	 admin_group_drop(struct admin *, struct qgroup *, int);
int	 admin_queue_delete(struct admin *, struct nqueue *, int);

/* io.c */
void	 io_configure(struct server *);
int	 io_start(struct conn *);
void	 io_stop(struct conn *);
void	 io_reading(struct conn *, int);
void	 io_dirty(struct conn *);
void	 io_flush(struct conn *);
struct evbuffer *io_out(struct conn *);
size_t	 io_pending(const struct conn *);
void	 io_flush_all(struct server *);
int	 io_feed(struct conn *, const void *, size_t);

/* config.c */
void	 config_init(struct config *);
int	 config_parse(struct config *, int, char **);
void	 config_free(struct config *);

/* server.c */
void	 server_configure(struct server *, struct config *);
int	 server_init(struct server *, struct event_base *);
void	 server_free(struct server *);
void	 server_tick(struct server *);
void	 server_timed(struct server *);
void	 server_wake(struct server *);
void	 server_drain(struct server *);
void	 server_report(struct server *);
int	 server_journal_open(struct server *);

/* schedules.c */
int	 schedules_open(struct server *);
int	 schedules_load(struct server *, const uint8_t *, size_t,
	     const char *);
void	 schedules_close(struct server *);
void	 schedules_settle(struct server *);
void	 schedules_commit(struct server *);
void	 schedules_sync(struct server *);
int	 schedules_request(struct server *, const struct ps_schedule *,
	     uint32_t, struct ps_buf *, int *, char *, size_t);
void	 server_journal_group(struct server *, struct qgroup *, int);
void	 server_journal_drop(struct server *, struct qgroup *);
int	 server_queues(struct server *, const char * const *, size_t);
void	 server_commit(struct server *);

/* compact.c */
int	 server_compact(struct server *);
int	 server_compact_wanted(struct server *);

/* settings.c */
#define SETTINGS_BUFFER		1	/* producerd --help's sections */
#define SETTINGS_DELIVERY	2
#define SETTINGS_MAX		32	/* a QS_* bit each */
int	 settings_set(struct qsettings *, const char *, const char *, char *,
	     size_t);
int	 settings_check(const struct qsettings *, char *, size_t);
size_t	 settings_format(const struct qsettings *, unsigned int, char *,
	     size_t);
const char *settings_flag(size_t);
void	 settings_usage(FILE *, int);

/* groups.c */
const char	*groups_path(const struct qgroup *, struct gpath *);
struct qgroup *groups_find(struct nqueue *, const char *, size_t);
struct qgroup *groups_add(struct nqueue *, const char *, size_t);
void	 groups_drop(struct qgroup *);
void	 groups_free(struct nqueue *);
struct qgroup *groups_lead(struct nqueue *);
struct qgroup *groups_resolve(struct server *, const char *, size_t, int,
	     int *, char *, size_t);

/* queues.c */
void	 queues_init(struct server *);
void	 queues_free(struct server *);
int	 queues_name_ok(const char *, const char *, size_t, char *, size_t);
struct nqueue *queues_find(struct server *, const char *, size_t);
void	 queues_blocked(struct nqueue *, int);
struct nqueue *queues_get(struct server *, const char *, size_t, int *,
	     char *, size_t);
struct nqueue *queues_create(struct server *, const char *, size_t);
void	 queues_delete(struct nqueue *);
void	 queues_touch(struct nqueue *);
void	 queues_settle(struct server *);
int	 queues_apply(struct nqueue *, const struct qsettings *, unsigned int);
int	 queues_save(struct server *);
int	 queues_load(struct server *);
#define QSUM_BUFFERED	0
#define QSUM_IN_FLIGHT	1
#define QSUM_WAITING	2	/* behind their key */
uint64_t queue_sum(const struct nqueue *, int);
uint64_t queues_in_flight(const struct server *);
void	 queues_pause(struct server *);

/* systemd.c */
int	 systemd_listen_fd(char *, size_t, char *, size_t);
void	 systemd_notify(const char *);

/* metrics.c */
void	 metrics_render(struct server *, struct evbuffer *);

/* http.c */
#define HTTP_BODY_MAX	65536	/* a request's body at most */
struct evhttp_request;
int	 http_start(struct server *, const struct config *, char *, size_t);
void	 http_stop(struct server *);
void	 http_reload(struct server *);
void	 http_json(struct evhttp_request *, int, struct evbuffer *);
void	 http_fail(struct evhttp_request *, int, const char *, ...)
	     __attribute__((format(printf, 3, 4)));
void	 http_method(struct evhttp_request *, const char *);
const char *http_peer(struct evhttp_request *);
int	 http_may_change(struct server *, struct evhttp_request *);

/* The dashboard's files, built in from web/ (web/embed.py). */
struct web_asset {
	const char		*path;		/* "/", "/app.js" */
	const char		*type;		/* Content-Type */
	const unsigned char	*data;
	size_t			 len;
};
extern const struct web_asset	 web_assets[];
extern const size_t		 nweb_assets;

/* api.c */
void	 api_request(struct server *, struct evhttp_request *, const char *,
	     int);	/* the method: enum evhttp_cmd_type */
void	 api_stop(struct server *);

/* history.c */
int	 history_start(struct server *);
void	 history_stop(struct server *);
uint32_t history_at(const struct qhistory *, const uint32_t *, uint32_t);

/* listener.c */
int	 listener_open(struct server *, struct acceptor *, const char *, int,
	     evconnlistener_cb, void *, int (*)(struct server *));
void	 listener_close(struct acceptor *);
void	 listener_failed(struct acceptor *);
int	 listener_start(struct server *, int);
void	 listener_stop(struct server *);

/* stats.c */
int	 stats_encode(struct server *, struct qgroup *, struct ps_buf *, int);
int	 stats_queues(struct server *, struct ps_buf *, uint32_t);
int	 stats_tasks(struct server *, const struct qgroup *, struct ps_buf *,
	     uint32_t);

/* upstream.c */
int	 upstream_init(struct server *);
void	 upstream_free(struct server *);
void	 upstream_closed(struct server *);
int	 upstream_frame(struct conn *, const struct ps_frame *);
void	 upstream_take(struct server *, uint64_t, const void *, int,
	     const void *, uint16_t, const void *, uint32_t);
void	 upstream_done(void *, const struct qevent *, int, uint32_t);
void	 upstream_answer(struct server *, uint64_t, int);
void	 upstream_settle(struct server *);
void	 upstream_dispatch(struct server *);

/* map.c */
int	 map_init(struct server *);
void	 map_free(struct server *);
void	 map_event(struct server *, uint64_t, const void *, uint32_t);
size_t	 map_pending(const struct server *);

/* access.c */
int	 access_add_uids(struct allow *, const char *);
int	 access_add_gids(struct allow *, const char *);
int	 access_group(const char *, const char *, gid_t *);
int	 access_allowed(const struct allow *, int, uid_t, gid_t);
void	 access_free(struct allow *);

#endif
