/*
 * cluster.h: what the cluster's files (cluster.c, clink.c, cprov.c,
 * cpub.c, cpull.c, cdead.c) share of producerd's backend on NATS JetStream
 * (--cluster; docs/cluster.md).  Nothing outside them includes it: the
 * daemon knows the cluster only as a struct backend.
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdatomic.h>

#include <nats/nats.h>

#include "producerd.h"

#define PULL_BATCH	4096		/* at most a pull asks */
#define PULL_EXPIRES_MS	5000		/* a pull's life at JetStream */
#define PULL_HB_MS	1000		/* its heartbeat while it waits */
#define PULL_LOST_MS	2500		/* no sign of it this long: lost */
#define API_RETRY_MS	2000		/* a stream or consumer asked again */
#define LEADER_POLL_MS	250		/* a consumer's leader looked for */
#define TICK_MS		250
#define DEAD_COUNT_MS	1000		/* a queue's dead letters counted */
#define RECONNECT_MS	250		/* NATS tried again after, doubling */
#define RECONNECT_MAX_MS 8000		/* ... up to this */
#define PULLS_MAX	64		/* open pulls of one event, a queue */
#define PULL_ONES_MAX	4		/* unmet demand still met by those */
#define BATCH_WAIT_MS	10000		/* PubAcks, at the most */
#define ACK_WAIT_MS	300000		/* JetStream's AckWait: 5 min */
#define API_WAIT_MS	5000		/* an API reply, at the most */

struct cterm;
struct cdead;

/* An ENQUEUE's sender, waiting for its queue's stream (ENQ_HELD). */
struct cwaiter {
	const struct enq_door	*door;		/* NULL: it went */
	void			*arg;
};

/* What is asked of a cluster, for cl_unserved: one of these. */
struct cask {
	const struct config	*cfg;		/* the command line */
	const struct qsettings	*s;		/* a queue's settings, */
	unsigned int		 set;		/* ... those given */
	const char		*queue;		/* a batch for queue, */
	unsigned int		 attrs;		/* ... its PS_ATTR_* used */
	const struct qgroup	*drop;		/* a group dropped */
	const char		*op;		/* a request: its frame */
};

/* What libnats threads hand to the loop. */
struct cmsg {
	struct cmsg	*next;
	natsMsg		*msg;
};

/*
 * A pull open at JetStream.  JetStream answers pulls of one event first
 * come, first served, so that each event pulled is the oldest one's; a
 * pull of more (its events shared out among the open ones) is open alone.
 */
struct cpull {
	uint64_t	 id;		/* its reply subject's number */
	uint32_t	 left;		/* events to come */
	uint64_t	 heard;		/* its last sign of life, clock ms */
};

/* A queue's streams (its events', its dead letters'), as far as made. */
enum { CQ_NEW, CQ_STREAM, CQ_DEAD, CQ_READY, CQ_FAILED };

/* A group's durable consumer, as far as it is made. */
enum { CG_NEW, CG_CONSUMER, CG_LEADER, CG_READY, CG_FAILED };

/*
 * A group of a queue: one durable pull consumer that every host shares,
 * ps for the shared group, g_<group> for a named one.
 */
struct cgroup {
	struct cgroup	*next;
	char		 name[PS_QUEUE_MAX + 1];	/* "": the shared one */
	char		 durable[3 * PS_QUEUE_MAX + 3];
	int		 state;
	uint64_t	 asked;		/* the last API request, clock ms */
	int		 updating;	/* its settings changed here */
	struct cpull	 pulls[PULLS_MAX];	/* open, oldest first */
	size_t		 npulls;
	uint32_t	 outstanding;	/* their events to come */
	char		 why[256];	/* CG_FAILED: JetStream's words */
};

struct cqueue {
	struct cqueue	*next;
	char		 name[PS_QUEUE_MAX + 1];
	char		 enc[3 * PS_QUEUE_MAX + 1];	/* for NATS names */
	int		 state;
	uint64_t	 asked;		/* the last API request, clock ms */
	struct cgroup	*groups;	/* the shared one first */
	char		 why[256];	/* CQ_FAILED: JetStream's words */
	struct cwaiter	*waiting;	/* ENQUEUEs held until it is ready */
	size_t		 nwaiting;
	uint64_t	 since;		/* the first of them came, clock ms */
	int		 given_up;	/* not ready in time: refuse them */
	uint64_t	 dead_asked;	/* its dead letters counted, clock ms */
};

/* An ENQUEUE waiting for its PubAcks. */
struct cbatch {
	struct cbatch	*next;
	uint64_t	 seq;
	const struct enq_door *door;
	void		*arg;		/* its sender; NULL: it went */
	uint32_t	 n;
	uint32_t	 acked;
	uint32_t	 dups;
	uint32_t	 failed;
	char		 failure[256];	/* the first one's reason */
	uint64_t	 deadline;
	uint8_t		*seen;		/* n: answered */
	struct ps_buf	 dupidx;
	int		 done;		/* its answer waits for those before */
	int		 code;		/* an ERROR instead, in its turn */
	char		*why;
};

struct cluster {
	struct server	*srv;
	natsOptions	*opts;
	natsConnection	*nc;
	natsSubscription *sub;
	char		 inbox[64];
	struct event	*wake;
	struct event	*tick;
	atomic_flag	 mu;		/* a spin lock: held for a few stores */
	struct cmsg	*in, **intail;	/* under mu */
	int		 link;		/* under mu: connected */
	int		 link_changed;	/* under mu */
	int		 connected;	/* the loop's view */
	struct cqueue	*queues;
	struct cbatch	*batches;
	uint64_t	 next_batch;
	uint64_t	 next_pull;
	char		**acks;		/* origin - 1 -> ack subject */
	size_t		 nacks;
	size_t		 capacks;
	size_t		*free_acks;
	size_t		 nfree;
	uint32_t	 replicas;
	const char	*urls;
	uint32_t	 seed;		/* libnats' reconnect thread's */
	struct cterm	*terms;		/* dead letters being stored */
	uint64_t	 next_term;
	struct cdead	*deads;		/* DEAD_LIST, _RETRY, _DROP at it */
	uint64_t	 next_dead;
};


/* cluster.c */
int	 cl_unserved(const struct cask *, char *, size_t);

/* clink.c */
void	 link_prepare(void);
int	 link_open(struct server *, const char *, uint32_t);
void	 link_close(struct cluster *);
int	 cl_api(struct cluster *, const char *, const char *, const char *);
void	 cl_encode(const char *, char *, size_t);

/* cprov.c */
struct cqueue *cl_find(struct cluster *, const char *);
struct cqueue *cq_get(struct cluster *, const char *);
int	 cq_ready(const struct cqueue *);
const char *cq_failed(const struct cqueue *);
void	 cq_step(struct cluster *, struct cqueue *);
void	 cq_reply(struct cluster *, struct cqueue *, int, natsMsg *);
struct cgroup *cg_get(struct cluster *, struct cqueue *, const char *);
struct cgroup *cg_find(struct cqueue *, const char *);
struct cgroup *cg_durable(struct cqueue *, const char *, size_t);
void	 cg_step(struct cluster *, struct cqueue *, struct cgroup *);
void	 cg_reply(struct cluster *, struct cqueue *, struct cgroup *, int,
	     natsMsg *);
void	 cg_drop(struct server *, const struct qgroup *);
void	 cg_settings(struct server *, const char *);
void	 prov_tick(struct cluster *, uint64_t);
void	 prov_relink(struct cluster *);
void	 prov_forget(struct cluster *, void *);
void	 prov_free(struct cluster *);

/* cpub.c */
int	 pub_enqueue(struct server *, struct enq *);
void	 pub_ack(struct cluster *, uint64_t, uint32_t, natsMsg *);
void	 pub_tick(struct cluster *, uint64_t);
void	 pub_forget(struct cluster *, void *);
void	 pub_free(struct cluster *);

/* cpull.c */
void	 cluster_done(void *, const struct qevent *, int, uint32_t);
void	 pulled(struct cluster *, struct cqueue *, struct cgroup *, uint64_t,
	     natsMsg *);
void	 pulls_reset(struct cgroup *);
void	 pull_settle(struct server *);
void	 pull_tick(struct cluster *, uint64_t);
void	 pull_free(struct cluster *);
void	 cl_ack_drop(struct cluster *, uint64_t);
const char *cl_ack_token(const char *, int, size_t *);

/* cdead.c */
#define DEAD_STREAM	"PSD_"		/* + ENC: a queue's dead letters */
void	 dead_publish(struct cluster *, uint64_t, const struct qevent *);
void	 dead_reply(struct cluster *, int, const char *, natsMsg *);
void	 dead_tick(struct cluster *, uint64_t);
void	 dead_count(struct cluster *, struct cqueue *, uint64_t);
void	 dead_counted(struct cluster *, struct cqueue *, natsMsg *);
void	 dead_free(struct cluster *);
int	 cluster_dead(struct server *, const struct dead_ask *, char *,
	     size_t);
void	 cluster_dead_forget(struct server *, void *);
void	 cluster_dead_cancel(struct server *, dead_tell *);

#endif
