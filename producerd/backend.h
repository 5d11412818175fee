/*
 * backend.h: where a queue's events live.
 *
 * The daemon's doors (a client's frames in conn.c, the HTTP API in api.c,
 * the operator's verbs in admin.c, groups made and dropped in groups.c)
 * ask the backend the server was started with and do not know which it
 * is: this host (local.c: the dispatcher's buffer, journaled with
 * --data-dir) or NATS JetStream (cluster.c and the c*.c beside it,
 * --cluster).  A backend answers at once or later, through the callbacks
 * the door handed it, as dispatch.c's emit and done do; a door that goes
 * first says so (forget), and nothing is answered to it after.
 *
 * Events pulled from a backend reach consumers through the queue's
 * dispatcher like any others; their ACK, NACK and TOUCH go back to it
 * through the dispatcher's done callback, which the backend sets on each
 * group it is told of (group).
 *
 * A feature that must work on one host and in a cluster is an operation
 * here, with an implementation in local.c and one in the cluster's files;
 * what a cluster does not serve yet is refused by cl_unserved alone.
 */
#ifndef PS_BACKEND_H
#define PS_BACKEND_H

#include <stdint.h>

struct config;
struct nqueue;
struct ps_buf;
struct ps_enqueue_iter;
struct ps_enqueued;
struct ps_ids;
struct ps_cancel_ask;
struct ps_job_ask;
struct ps_jobs_ask;
struct qgroup;
struct qsettings;
struct server;

/* How an ENQUEUE's sender hears of it when the answer comes later. */
struct enq_door {
	void	(*sent)(void *);	/* one more batch waits for its answer */
	void	(*answer)(void *, struct ps_enqueued *);
	void	(*refuse)(void *, int, const char *);	/* an ERROR, in turn */
	void	(*resume)(void *);	/* take the frame held (ENQ_HELD) again */
	const char *(*who)(void *);	/* its name, for a log line */
};

/* One ENQUEUE, as far as a door has read it, handed to a backend. */
struct enq {
	struct nqueue		*q;
	struct ps_enqueue_iter	*it;		/* its events still to take */
	struct ps_enqueued	*r;		/* the answer so far */
	const struct enq_door	*door;
	void			*arg;		/* the sender, for door */
	uint32_t		 pending;	/* its batches not answered yet */
	int			 turn;		/* it waited in line: it goes */
	int			 started;	/* in, out: taken in parts */
	int			 code;		/* ENQ_FAILED: the ERROR */
	char			 why[256];
};

#define ENQ_ANSWERED	0	/* r holds the answer: send it */
#define ENQ_WAIT	1	/* no room (or others wait first): the frame
				   waits in the queue's line, from where it
				   stands if started */
#define ENQ_LATER	2	/* the answer comes through door */
#define ENQ_HELD	3	/* the frame is taken again at door->resume */
#define ENQ_FAILED	4	/* refused whole: code and why */

/*
 * A DEAD_LIST, DEAD_RETRY or DEAD_DROP, for a client or the HTTP API.  tell
 * is called once with its answer, at once or later: code 0 and a
 * DEAD_LIST_REPLY frame (a list; then the count is 1 if more letters
 * follow it) or how many were done, or an ERROR code and why; unless its
 * arg is forgotten first.
 */
typedef void dead_tell(void *, int, const char *, const struct ps_buf *,
    uint32_t);
struct dead_ask {
	uint8_t		 type;		/* PS_DEAD_LIST, _RETRY or _DROP */
	const char	*queue;
	const char	*group;		/* "": the shared one */
	const char	*who;		/* for log lines */
	uint32_t	 preview;	/* a list's, bytes of each payload */
	int		 version;	/* ... in this protocol version's
					   DEAD_LIST_REPLY */
	uint32_t	 limit;		/* ... at most so many entries */
	uint64_t	 after;		/* ... those past this id (0: all) */
	const struct ps_ids *ids;	/* NULL or none: every dead letter */
	dead_tell	*tell;
	void		*arg;
};

struct backend {
	const char	*name;
	int		 group_logs;	/* each group buffers what it pulls */

	/* Before the event base is made. */
	void	(*prepare)(void);
	/* The command line's choices it cannot serve: -1 and why. */
	int	(*check)(const struct config *, char *, size_t);
	int	(*open)(struct server *);
	void	(*close)(struct server *);
	/* Once at the end of each loop iteration. */
	void	(*settle)(struct server *);

	/* Settings (set: those given) it cannot serve: -1 and why. */
	int	(*unserved)(const struct qsettings *, unsigned int, char *,
		    size_t);
	/* A queue's settings changed (set: which). */
	void	(*settings)(struct server *, struct nqueue *, unsigned int);
	/* A group is made here: its dispatcher's done, its home. */
	void	(*group)(struct server *, struct qgroup *);
	/* May a group be dropped?  -1 and why if not. */
	int	(*drop_ok)(struct server *, const struct qgroup *, char *,
		    size_t);
	/* A group is dropped (an operator's DROP_GROUP). */
	void	(*group_drop)(struct server *, const struct qgroup *);

	/* An ENQUEUE: ENQ_*. */
	int	(*enqueue)(struct server *, struct enq *);
	/* A dead-letter request: 0 asked (tell comes), or -1 and why. */
	int	(*dead)(struct server *, const struct dead_ask *, char *,
		    size_t);
	/*
	 * A JOB: group g's event by id, or by unique id, as a JOB_REPLY
	 * into out (protocol version 5); -1, *code (PS_E_*) and why if it
	 * cannot say.
	 */
	int	(*job)(struct server *, struct qgroup *,
		    const struct ps_job_ask *, struct ps_buf *, int *, char *,
		    size_t);
	/*
	 * A JOB_CANCEL: queue q's events, each cancelled in every group
	 * that holds it (docs/jobs.md), as a JOB_CANCEL_REPLY into out; -1,
	 * *code (PS_E_*) and why if one of them cannot be, nothing changed.
	 */
	int	(*job_cancel)(struct server *, struct nqueue *,
		    const struct ps_cancel_ask *, struct ps_buf *, int *,
		    char *, size_t);
	/*
	 * A JOBS: a page of group g's events in one state, as a JOBS_REPLY
	 * into out; -1, *code and why if it cannot say.
	 */
	int	(*jobs)(struct server *, struct qgroup *,
		    const struct ps_jobs_ask *, struct ps_buf *, int *, char *,
		    size_t);
	/* Can it answer WAITs (results, ends)?  -1 and why if not. */
	int	(*waits)(char *, size_t);
	/* Its sender went: nothing more is told to arg. */
	void	(*forget)(struct server *, void *);
	/* Shutting down: each request still owed to tell is told so. */
	void	(*cancel)(struct server *, dead_tell *);
};

/* local.c */
extern const struct backend local_backend;

/* cluster.c, or nocluster.c in a build without libnats (NULL then). */
const struct backend *cluster_backend(void);

#endif
