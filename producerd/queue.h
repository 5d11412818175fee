/*
 * queue.h: the daemon's FIFO of buffered events, and the handle by which
 * the dispatcher holds an event once it leaves the FIFO.
 */
#ifndef PS_QUEUE_H
#define PS_QUEUE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

struct dconsumer;
struct chunk;

/*
 * An event's last failures (docs/jobs.md): when, at which attempt, the
 * consumer that failed it and what it said (a NACK's error, or the
 * daemon's words for a timeout), oldest first; a newer one pushes the
 * oldest out.  Counted in the store's bytes (--max-memory).
 */
#define QFAIL_KEEP	3
#define QFAIL_ERROR_MAX	4096		/* PS_ERROR_TEXT_MAX */
struct qfailure {
	uint64_t	 at;		/* wall ms */
	uint32_t	 attempt;
	uint16_t	 elen;
	uint8_t		 wlen;
	char		*bytes;		/* who, then the error */
};
struct qfail {
	struct qfailure	 f[QFAIL_KEEP];
	uint8_t		 n;
	uint64_t	 total;		/* failures in all, kept or not */
};
/*
 * An event out of the arena: in flight, given back, or dead.  Its payload
 * stays where it was stored (a chunk, which it keeps alive) or, dead, in
 * an allocation of its own.  Handles come from a pool: no malloc per
 * event once it is warm.
 */
struct qevent {
	TAILQ_ENTRY(qevent)	 entry;		/* owner's in flight, given
						   back, dead, or the pool */
	TAILQ_ENTRY(qevent)	 tentry;	/* by deadline, in flight */
	struct qevent		*hnext;		/* id hash: in flight or dead */
	struct dconsumer	*owner;		/* in flight on it, else NULL */
	uint64_t		 id;
	uint64_t		 deadline;	/* ms; 0: none */
	uint64_t		 born;		/* ms it became ready (its log's
						   clock, coarse); 0: unknown */
	uint64_t		 sent;		/* ms of its last delivery */
	uint32_t		 attempts;	/* deliveries so far */
	uint32_t		 len;
	uint8_t			 reason;	/* dead: enum ps_dead_reason */
	uint8_t			 klen;
	uint16_t		 prio;		/* 0 first; QUEUE_PRIO_DEFAULT */
	uint16_t		 hlen;		/* headers' bytes, at hdr */
	uint8_t			 cancelled;	/* in flight: cancelled, gone
						   when its consumer answers */
	uint64_t		 origin;	/* a stage's upstream event, or 0 */
	struct chunk		*chunk;		/* holds data; NULL: its own */
	const unsigned char	*data;
	const unsigned char	*key;		/* NULL: none; else by data */
	const unsigned char	*hdr;		/* headers: HEADER attributes
						   (protocol.md), by data */
	struct qfail		*fail;		/* its failures, or NULL */
};
TAILQ_HEAD(qevents, qevent);

#define QUEUE_PRIO_DEFAULT	32768	/* PS_PRIORITY_DEFAULT */

/*
 * A reader's events of a priority other than the default: a heap of
 * handles, smallest priority first, then those delivered before, then by
 * id.  Each such event's payload is stored once (a chunk of its own
 * that the readers' handles share), not in the log.
 */
struct qheap {
	struct qevent	**v;
	size_t		  n;
	size_t		  cap;
};
TAILQ_HEAD(chunks, chunk);

/*
 * What the buffers of many queues share: the handle pool and a few spare
 * chunks of the largest size, so that an empty queue holds no memory but
 * its struct, and a busy one takes chunks without malloc.
 */
struct qstore {
	struct qevents	 pool;		/* spare handles */
	void		**slabs;	/* the pool's allocations */
	size_t		 nslabs;
	struct chunks	 spare;		/* emptied chunks of QUEUE_CHUNK */
	size_t		 nspare;
	/*
	 * The daemon-wide memory cap (--max-memory): payload bytes held, as
	 * the chunks that hold them and delayed events (delays.c) count,
	 * and their limit (0: none); freed says bytes fell since the daemon
	 * last looked (clients waiting for room may go on).
	 */
	uint64_t	 bytes;
	uint64_t	 max;
	int		 freed;
};

#define QUEUE_CHUNK	(256u * 1024)	/* a busy queue's chunk size */
#define QUEUE_CHUNK_MIN	512u		/* a new queue's first chunk */

/*
 * A log: chunks of records laid end to end, a varint length and the
 * payload for an event never delivered (queue.c), that one or more
 * readers (struct queue, one per group of consumers) read each at its own
 * place.  Every event appended is every reader's to read; its record goes
 * once no reader is at or before it and no handle points into it.
 */
TAILQ_HEAD(qreaders, queue);
struct qlog {
	struct chunks	 chunks;	/* oldest first; the last takes pushes */
	struct qstore	*store;
	struct qreaders	 readers;
	uint32_t	 nreaders;
	uint32_t	 grow;		/* the next chunk's size */
	/*
	 * The clock (ms) that stamps events as they come, or NULL: none.  A
	 * time record goes into the log before the first event of each
	 * new ms; mark is the last one's.
	 */
	const uint64_t	*clock;
	uint64_t	 mark;
};

/*
 * A reader's buffer: events given back wait in front, first out; then
 * the log from where this reader is.  Events of a priority other than
 * the default wait in prio: those under it go before front and the log,
 * those over it after.  A queue made alone has a log (and
 * a store) of its own.
 */
struct queue {
	struct qevents	 front;
	struct qlog	*log;
	TAILQ_ENTRY(queue) rentry;	/* on its log's readers */
	struct chunk	*at;		/* where it reads; NULL: at the end */
	size_t		 off;
	uint64_t	 fresh;		/* the next compact record's id, or
					   0: its chunk's first compact id */
	uint64_t	 t;		/* the last time record read */
	size_t		 count;		/* both parts */
	uint64_t	 bytes;		/* their payload bytes */
	struct qheap	*prio;		/* NULL until one comes */
	struct qown	*own;		/* alone: its log and store */
};

/* The log and store of a queue alone (tests, fuzzers). */
struct qown {
	struct qlog	 log;
	struct qstore	 store;
};

void		 qlog_init(struct qlog *, struct qstore *, const uint64_t *);
void		 qlog_free(struct qlog *);
void		 qstore_init(struct qstore *);
void		 qstore_free(struct qstore *);
int		 queue_init(struct queue *, struct qlog *);
void		 queue_free(struct queue *);
int		 queue_push(struct queue *, uint64_t, uint32_t, uint64_t,
		     const void *, int, const void *, uint16_t, const void *,
		     uint32_t);
int		 queue_push_prio(struct queue *, uint64_t, uint32_t, uint16_t,
		     const void *, int, const void *, uint16_t, const void *,
		     uint32_t);
void		 queue_push_front(struct queue *, struct qevent **, size_t);
struct qevent	*queue_pop(struct queue *);
struct qevent	*queue_shed(struct queue *);
void		 queue_walk(const struct queue *,
		     void (*)(void *, const struct qevent *), void *);
struct qevent	*queue_copy(struct queue *, uint64_t, uint32_t, const void *,
		     int, const void *, uint16_t, const void *, uint32_t);
int		 queue_own(struct queue *, struct qevent *);
int		 queue_oldest(const struct queue *, uint64_t *);
int		 queue_find(const struct queue *, uint64_t, struct qevent *);
void		 queue_list(const struct queue *, uint64_t, const uint64_t *,
		     void (*)(void *, const struct qevent *), void *);
int		 queue_fail(struct queue *, struct qevent *, uint64_t,
		     uint32_t, const char *, size_t, const void *, size_t);
void		 queue_fail_free(struct queue *, struct qfail *);
void		 queue_release(struct queue *, struct qevent *);

#endif
