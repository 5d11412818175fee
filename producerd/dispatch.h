/*
 * dispatch.h: buffered events, consumers' demand, which consumer gets
 * which event, and (at-least-once) what each consumer holds until it acks.
 * Plain C with no I/O and no clock of its own: events leave through the
 * emit callback, and the caller sets now before each call.
 *
 * One dispatcher is one group of consumers.  The groups of a queue are
 * chained (next_group) and read one log (queue.h): an event enqueued
 * through the first, the lead, is every group's, stored once; each group
 * has its own demand, events in flight, acks and dead letters.
 *
 * admit.c takes new events in, by the queue's policy; dispatch.c sends
 * them out and keeps what is owed (dcore.h is what they share).
 */
#ifndef PS_DISPATCH_H
#define PS_DISPATCH_H

#include <sys/queue.h>

#include <stdint.h>

#include "frame.h"
#include "hist.h"
#include "kept.h"
#include "keys.h"
#include "queue.h"
#include "sched.h"
#include "tasks.h"

struct idmap;

/* What happens to an ENQUEUE that does not fit (docs/overflow.md). */
enum overflow {
	OVERFLOW_REJECT,	/* take what fits, refuse the rest */
	OVERFLOW_DROP_OLDEST,	/* take it all, shed the oldest buffered */
	OVERFLOW_DROP_NEWEST,	/* take what fits, shed the rest */
	OVERFLOW_BLOCK,		/* wait until it fits */
};

/* What a dispatcher on its own does (the daemon's flags say the same). */
#define DPOLICY_MAX_ATTEMPTS	5u
#define DPOLICY_DEDUP_WINDOW	120000u	/* ms: NATS JetStream's default */
#define DPOLICY_KEEP_DONE_BYTES	(UINT64_C(64) << 20)	/* kept records */

/*
 * A queue's rules for its groups: its limits, what an ENQUEUE that does
 * not fit meets, how long an event may stay unacked and how often it is
 * tried.  The queue owns one (queues.c) and every group's dispatcher
 * points at it, so a change of settings is one write for them all; a
 * dispatcher alone (the tests) reads dpolicy_default until told.
 */
struct dpolicy {
	uint64_t		 max_queue;	/* buffered events; 0: none */
	uint64_t		 max_queue_bytes; /* their bytes; 0: none */
	enum overflow		 overflow;
	uint32_t		 ack_timeout;	/* ms; 0: none */
	uint32_t		 max_attempts;
	uint32_t		 dedup_window;	/* ms a unique id stays after
						   its event (the lead's) */
	uint64_t		 keep_done;	/* ms a done event's record is
						   kept (with its result); 0:
						   none */
	uint64_t		 keep_done_bytes; /* those records' memory at
						   most, each group's */
	uint32_t		 max_result;	/* an ACK_RESULT's bytes */
	uint32_t		 max_task_stats; /* task names with counts of
						   their own; 0: no counts */
};
extern const struct dpolicy dpolicy_default;

/*
 * Which consumer gets which event (docs/dispatch.md).  demand: the first
 * with room, by the demand rule.  key: the same, but never two events of
 * one key in flight at once, each key's in order; events of other keys go
 * past a key that waits.  partition: each event belongs to one of N
 * partitions by its key (ps_partition), and goes only to a consumer of
 * that partition, by the demand rule among them.
 */
enum dispatch_mode {
	DISPATCH_DEMAND,
	DISPATCH_KEY,
	DISPATCH_PARTITION,
};

/* Late ACKs are recognised for this many timed-out ids per consumer. */
#define DISPATCH_EXPIRED_MAX	1024

/* What the dispatcher knows of one consumer. */
struct dconsumer {
	TAILQ_ENTRY(dconsumer)	 entry;	/* on ready while demand > 0 */
	int			 ready;
	int			 acks;		/* holds events until acked */
	uint32_t		 demand;	/* outstanding credit */
	uint32_t		 max_demand;
	uint32_t		 min_demand;
	uint64_t		 demanded;	/* credit asked in all */
	uint64_t		 delivered;
	struct qevents		 inflight;	/* acks: sent, not acked */
	uint32_t		 ninflight;
	uint64_t		*expired;	/* ring of timed-out ids */
	uint32_t		 nexpired;
	uint32_t		 expired_at;
	uint32_t		 partition;	/* partition mode: its own */
	void			*owner;
	const char		*name;		/* its id, for its failures */
	uint8_t			 nlen;
};
TAILQ_HEAD(dconsumers, dconsumer);

/*
 * One partition of a group in partition mode: its consumers with room, and
 * its events taken off the buffer while none of them had room.
 */
struct dpart {
	struct dconsumers	 ready;	/* as dispatch's ready */
	struct qevents		 waiting;	/* oldest first */
	uint64_t		 room;	/* scratch: ready's room now */
};

/* Hands an event to a consumer; must not free it or call into dispatch. */
typedef void (*dispatch_emit_fn)(void *, struct dconsumer *,
    const struct qevent *);
/*
 * A stage's event is finished here (PS_ACK) or failed for good (PS_NACK):
 * tell its origin upstream.  With hand_back (a cluster) also: given back
 * to be delivered again, on any host, after wait ms (PS_NACK_LATER), or
 * still being worked on (PS_TOUCH).  Must not call into dispatch.
 */
typedef void (*dispatch_done_fn)(void *, const struct qevent *, int,
    uint32_t);

/* A change to an event's fate, for the journal (journal.c). */
enum dispatch_change {
	DISPATCH_PUSHED,	/* buffered, a new id */
	DISPATCH_SENT,		/* delivered once more, held until acked */
	DISPATCH_GONE,		/* acked, shed, dropped, or sent at most once */
	DISPATCH_BURIED,	/* to the dead list (attempts, reason) */
	DISPATCH_REVIVED,	/* a dead letter back to the buffer */
	DISPATCH_FAILED,	/* a failure kept (ev->fail's newest) */
	DISPATCH_KEPT,		/* acked, its record kept (keep-done) */
	DISPATCH_UNKEPT,	/* that record let go */
};
/*
 * Hears of ev's change.  For PUSHED, ev is the handle of a struct
 * dispatch_new made up for the call, which says the rest; for KEPT and
 * UNKEPT, of a struct dispatch_kept.
 */
typedef void (*dispatch_change_fn)(void *, enum dispatch_change,
    const struct qevent *);

struct dispatch_new {
	struct qevent	 ev;		/* first: what the callback gets */
	uint64_t	 due;		/* wall ms; 0: ready now */
	const uint8_t	*uid;		/* its unique id; NULL: none */
	uint8_t		 ulen;
};

struct dispatch_kept {
	struct qevent	 ev;		/* first: its id */
	struct kdone	*k;		/* the record */
};

/*
 * An event's end, for those waiting for it (WAIT): done (its result),
 * dead (its last error), cancelled, or gone (shed, purged, dropped: 0).
 */
struct dispatch_end {
	uint64_t	 id;
	uint8_t		 state;		/* DJOB_DONE, _DEAD, _ENDED, 0 */
	uint8_t		 reason;	/* dead: enum ps_dead_reason */
	uint32_t	 attempts;
	uint64_t	 at;		/* wall ms */
	const void	*data;
	uint32_t	 len;
};
struct dispatch;
typedef void (*dispatch_end_fn)(void *, struct dispatch *,
    const struct dispatch_end *);

/*
 * What a group has done, for the table of counters (counters.c) and the
 * rates (queues.c, history.c): the dispatcher adds to these and never
 * decides anything by them.  Each is named as its counter.
 */
struct dcounters {
	uint64_t		 enqueued_total;
	uint64_t		 delivered_total;	/* redeliveries too */
	uint64_t		 acked_total;
	uint64_t		 nacked_total;
	uint64_t		 redelivered_total;	/* put back */
	uint64_t		 timed_out_total;
	uint64_t		 late_acks_total;
	uint64_t		 dead_total;
	uint64_t		 shed_total;
	uint64_t		 rejected_total;
	uint64_t		 retries_scheduled_total;
	uint64_t		 duplicates_total;
	uint64_t		 cancelled_total;
};

struct dispatch {
	struct queue		 queue;
	struct dconsumers	 ready;	/* largest demand first, then oldest */
	struct qevents		 deadlines;	/* in flight, soonest first */
	struct qevents		 dead;		/* oldest death first */
	struct qevent		**hash;		/* id -> in flight or dead */
	uint64_t		 hmask;
	uint64_t		 hcount;
	struct qevent		**tmp;		/* events being put back */
	size_t			 tmpcap;
	uint64_t		 now;		/* ms, set by the caller */
	const uint64_t		*clock;		/* now, or a clock shared */
	const uint64_t		*wall;		/* ms since 1970: delays, unique
						   ids (tests: clock) */
	const struct dpolicy	*policy;	/* its queue's */
	enum dispatch_mode	 mode;
	struct keys		 keys;		/* key mode: keys in flight */
	struct dpart		*parts;		/* partitions: nparts */
	uint32_t		 nparts;
	uint32_t		 parts_ready;	/* consumers on ready */
	struct qevents		 aside;		/* their waiting, by age
						   (tentry) */
	uint64_t		 parts_waiting;	/* events on waiting */
	uint64_t		 parts_waiting_bytes;
	int			 paused;	/* draining: nothing goes out */
	struct sched		*sched;		/* pause, rate, held back;
						   NULL: none */
	/*
	 * What sched says, kept here for the table of counters (which
	 * reads fields, not pointers): paused now, the rate stopped the
	 * last run, events held back (sched->nlater).
	 */
	int			 held;
	int			 throttled;
	uint64_t		 delayed;
	uint64_t		 next_id;
	const char		*name;		/* its queue's, for the journal */
	const char		*group;		/* its group's; "": shared */
	struct dispatch		*next_group;	/* the queue's next group */
	struct dispatch		*lead;		/* its first, or itself */
	uint64_t		 from;		/* it gets ids from this one on */
	struct idmap		*refail;	/* replay: id -> its struct qfail,
						   until it is read */
	struct idmap		*restored;	/* replay: id -> attempts + 1,
						   or 0: not this group's */
	uint64_t		*ids;		/* the next id: next_id, or a
						   counter queues share */
	uint32_t		 nconsumers;
	uint64_t		 in_flight;
	uint64_t		 ndead;
	struct dcounters	 counts;
	struct hist		 waited;	/* ready to first delivery */
	struct hist		 handled;	/* delivery to ACK */
	struct tasks		 tasks;		/* counts per task name */
	struct kept		 kept;		/* done, kept (keep-done) */
	const void		*result;	/* while an ACK's GONE is told */
	uint32_t		 rlen;
	int			 acking;
	dispatch_end_fn		 end;		/* told of ends while nwaits */
	void			*end_arg;
	uint32_t		 nwaits;	/* WAITs on this group */
	uint64_t		 purged;	/* by the last dispatch_purge */
	uint64_t		 demand_total;	/* all consumers' credit */
	dispatch_emit_fn	 emit;
	dispatch_done_fn	 done;		/* NULL unless a stage */
	int			 hand_back;	/* origin delivers again */
	void			*arg;
	dispatch_change_fn	 change;	/* NULL unless journaled */
	void			*change_arg;
};

/* What dispatch_enqueue did with a batch. */
enum {
	DISPATCH_TAKEN = 0,		/* all of it, by the policy */
	DISPATCH_WAIT = 1,		/* block: the rest waits for room */
	DISPATCH_NOMEM = 2,		/* out of memory: the rest refused */
};

/* What an ACK, NACK or TOUCH found. */
enum {
	DISPATCH_DONE = 0,
	DISPATCH_LATE = 1,		/* timed out here before: ignored */
	DISPATCH_UNKNOWN = -1,		/* not in flight on this consumer */
};

int	 dispatch_init(struct dispatch *, struct qlog *, dispatch_emit_fn,
	     void *);
void	 dispatch_free(struct dispatch *);
int	 dispatch_set_mode(struct dispatch *, enum dispatch_mode, uint32_t);
void	 dispatch_attach(struct dispatch *, struct dconsumer *, uint32_t,
	     uint32_t, int, void *);
int	 dispatch_detach(struct dispatch *, struct dconsumer *);
int	 dispatch_restore(struct dispatch *, uint64_t, uint32_t, uint16_t,
	     const void *, int, const void *, uint16_t, const void *, uint32_t);
int	 dispatch_restore_delayed(struct dispatch *, uint64_t, uint64_t,
	     uint16_t, const void *, int, const void *, uint16_t, const void *,
	     uint32_t);
int	 dispatch_restore_uid(struct dispatch *, const void *, uint8_t,
	     uint64_t, uint32_t, uint64_t);
int	 dispatch_restore_dead(struct dispatch *, uint64_t, uint32_t, uint8_t,
	     const void *, int, const void *, uint16_t, const void *, uint32_t);
int	 dispatch_mark(struct dispatch *, uint64_t, uint64_t);

/* A failure read back from the journal, for dispatch_restore_failures. */
struct dfailure {
	uint64_t	 at;		/* wall ms */
	uint32_t	 attempt;
	const char	*who;
	uint8_t		 wlen;
	const void	*err;
	uint16_t	 elen;
};
int	 dispatch_restore_failures(struct dispatch *, uint64_t,
	     const struct dfailure *, uint8_t);
int	 dispatch_demand(struct dispatch *, struct dconsumer *, uint32_t);
void	 dispatch_run(struct dispatch *);
void	 dispatch_run_all(struct dispatch *);
uint64_t dispatch_purge(struct dispatch *);
uint64_t dispatch_in_flight(const struct dconsumer *);
uint64_t dispatch_latency(const struct dispatch *);

/* Where an event is (JOB_REPLY's state, docs/protocol.md). */
enum djob_state {
	DJOB_UNKNOWN = 0,
	DJOB_QUEUED = 1,	/* buffered, ready */
	DJOB_DELAYED = 2,	/* not before its time */
	DJOB_KEY_WAIT = 3,	/* behind its key's event in flight */
	DJOB_PART_WAIT = 4,	/* for a consumer of its partition */
	DJOB_IN_FLIGHT = 5,
	DJOB_RETRY_WAIT = 6,	/* given back, held until its time */
	DJOB_DEAD = 7,
	DJOB_CANCELLED = 8,	/* in flight, cancelled: gone at its answer */
	DJOB_DONE = 9,		/* acked, its record kept (keep-done) */
	DJOB_ENDED = 10,	/* cancelled (a dispatch_end's alone) */
};

/*
 * An event found: its state, a handle to read (its own, or one made up
 * for the call, pointing where the event is), when (wall ms: due for
 * DELAYED and RETRY_WAIT, delivered for IN_FLIGHT, ready since for
 * QUEUED; 0: not known) and, in flight, its consumer.
 */
struct djob {
	enum djob_state		 state;
	struct qevent		 ev;
	uint64_t		 at;
	const struct dconsumer	*owner;
	const struct kdone	*done;		/* DJOB_DONE: its record */
};
int	 dispatch_find(const struct dispatch *, uint64_t, struct djob *);
/*
 * A page of a group's events in one state (JOBS): ids over after, at most
 * limit, those of a key (klen >= 0) or a header's value (hname) only.
 * DJOB_QUEUED lists those behind their key or waiting for their
 * partition too; DJOB_IN_FLIGHT those cancelled in flight.
 */
struct dlist_ask {
	enum djob_state	 state;
	uint64_t	 after;
	uint32_t	 limit;
	const uint8_t	*key;
	int		 klen;		/* -1: no key filter */
	const uint8_t	*hname;		/* NULL: no header filter */
	uint8_t		 hnlen;
	const uint8_t	*hval;
	uint16_t	 hvlen;
};
uint32_t dispatch_list(const struct dispatch *, const struct dlist_ask *,
	     struct djob *, int *);
int	 dispatch_cancel(struct dispatch *, uint64_t, struct dconsumer **);
int	 dispatch_cancel_delayed(struct dispatch *, uint64_t);

/* The unique ids of d's queue (its lead's), or NULL while it has none. */
static inline struct uniq *
dispatch_uniq_of(const struct dispatch *d)
{
	return d->lead->sched != NULL ? d->lead->sched->uniq : NULL;
}

int	 dispatch_answer(struct dispatch *, struct dconsumer *, uint64_t,
	     int);
int	 dispatch_ack_result(struct dispatch *, struct dconsumer *, uint64_t,
	     const void *, uint32_t);
void	 dispatch_ended(struct dispatch *, enum dispatch_change,
	     const struct qevent *);
#define DISPATCH_BACKOFF	UINT32_MAX	/* a NACK's wait: the queue's */
#define DISPATCH_REJECT		(UINT32_MAX - 1)	/* a NACK_ERROR's: none,
						   dead at once (rejected) */
int	 dispatch_nack_error(struct dispatch *, struct dconsumer *, uint64_t,
	     uint32_t, const void *, size_t);
int	 dispatch_nack_later(struct dispatch *, struct dconsumer *, uint64_t,
	     uint32_t);
int	 dispatch_schedule(struct dispatch *, uint64_t, uint32_t, uint32_t,
	     uint32_t, uint32_t);
int	 dispatch_expire(struct dispatch *);
int	 dispatch_next_deadline(const struct dispatch *, uint64_t *);

/* admit.c */
uint64_t dispatch_push(struct dispatch *, const void *, uint32_t, uint64_t);
uint64_t dispatch_push_tried(struct dispatch *, const void *, uint16_t,
	    const void *, uint32_t, uint64_t, uint32_t);
uint64_t dispatch_push_key(struct dispatch *, const void *, int,
	     const void *, uint16_t, const void *, uint32_t, uint64_t);
int	 dispatch_enqueue(struct dispatch *, struct ps_enqueue_iter *,
	     struct ps_enqueued *);
int	 dispatch_room(const struct dispatch *, uint32_t);
void	 dispatch_refuse(struct dispatch *, struct ps_enqueue_iter *,
	     struct ps_enqueued *);

/*
 * Sees one event a group holds: buffered, waiting, held back, in flight
 * (ev->owner set; not one cancelled, whose end is journaled) or dead
 * (ev->reason set); due (wall ms) for one delayed, else 0.  ev is the
 * group's or made up for the call.
 */
typedef void (*dispatch_walk_fn)(void *, const struct qevent *, uint64_t);
void	 dispatch_walk(const struct dispatch *, dispatch_walk_fn, void *);

struct qevent *dispatch_dead_find(const struct dispatch *, uint64_t);
int	 dispatch_dead_retry(struct dispatch *, struct qevent *);
void	 dispatch_dead_drop(struct dispatch *, struct qevent *);

#endif
