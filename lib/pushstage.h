/*
 * pushstage.h: libpushstage, the C client of producerd.
 *
 * One handle is one connection, as a client (enqueue, stats, dead
 * letters) or as a consumer (demand, events, acks).  Every call blocks
 * until it is done; pushstage_fd gives the socket for poll(2).  A call
 * returns PUSHSTAGE_OK (0) or a negative PUSHSTAGE_E* code, and
 * pushstage_error says what went wrong in words.  A handle is not safe to
 * share between threads; two handles are independent.
 *
 * Stable API: names here keep their meaning within a major version (the
 * library's soname).  Structures the library allocates alone (stats, a
 * job) may grow at the end only; those it hands out as arrays (dead
 * letters, headers, failures) and those the caller allocates
 * (pushstage_enqueued, pushstage_event, pushstage_attrs) do not change.
 * See docs/libpushstage.md.
 */
#ifndef PUSHSTAGE_H
#define PUSHSTAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PUSHSTAGE_API_VERSION	1
#define PUSHSTAGE_PROTOCOL	5	/* the wire protocol spoken (3 to a
					   daemon without 5) */
#define PUSHSTAGE_QUEUE_MAX	64	/* bytes of a queue name */
#define PUSHSTAGE_PARTITIONS_MAX 1024	/* partitions of a queue */
#define PUSHSTAGE_KEY_MAX	255	/* bytes of an event's key */
#define PUSHSTAGE_ID_MAX	255	/* bytes of a consumer id */
#define PUSHSTAGE_DEMAND_MAX	1048576	/* the largest max_demand */
#define PUSHSTAGE_PREVIEW_MAX	1024	/* dead-letter preview bytes */
#define PUSHSTAGE_WINDOW_MAX	1024	/* batches in flight at most */
#define PUSHSTAGE_HEADERS_MAX	16	/* headers of one event */
#define PUSHSTAGE_HEADER_NAME_MAX 64	/* a header's name: a-z 0-9 - _ . */
#define PUSHSTAGE_HEADER_VALUE_MAX 1024	/* a header's value, bytes */
#define PUSHSTAGE_HEADERS_BYTES_MAX 4096 /* an event's names and values */

enum pushstage_status {
	PUSHSTAGE_OK = 0,
	PUSHSTAGE_ECONNECT = -1,	/* no producerd answers at the path */
	PUSHSTAGE_EPROTO = -2,	/* it refused us, or sent nonsense */
	PUSHSTAGE_EIO = -3,	/* the connection broke or closed */
	PUSHSTAGE_ENOMEM = -4,
	PUSHSTAGE_ETOOBIG = -5,	/* an event over the daemon's frame limit */
	PUSHSTAGE_EINVAL = -6,	/* a bad argument, or the wrong role */
	PUSHSTAGE_EAGAIN = -7,	/* it takes nothing now (draining, or its
				   journal's disk is full): try later */
};

struct pushstage;

/* The library's version, such as "0.2.0". */
const char	*pushstage_version(void);

/*
 * The socket path the tools use when none is given: $PUSHSTAGE_SOCKET,
 * else $XDG_RUNTIME_DIR/pushstage.sock, else
 * ${TMPDIR:-/tmp}/pushstage-UID/pushstage.sock.  Written to buf (len
 * bytes); returns buf.  Connecting to either of the last two, the
 * library checks that the directory is the user's alone and that the
 * daemon answering runs as the user or root, and refuses otherwise.
 */
const char	*pushstage_default_socket(char *buf, size_t len);

/*
 * Connecting.  pushstage_new returns a handle, NULL only when out of
 * memory.  A NULL path means pushstage_default_socket.  As a client, name
 * tells the daemon's logs who is talking (NULL: "libpushstage").  As a
 * consumer, id names it (1 to 255 bytes) and max_demand / min_demand are
 * GenStage's: it holds at most max_demand events and asks for more once it
 * holds min_demand or fewer (0 <= min_demand < max_demand <= 1048576).
 * A failed connect leaves the handle to be freed; pushstage_error says why.
 */
struct pushstage *pushstage_new(void);
int		 pushstage_connect(struct pushstage *, const char *path,
		     const char *name);
int		 pushstage_connect_consumer(struct pushstage *,
		     const char *path, const char *id, uint32_t max_demand,
		     uint32_t min_demand);
void		 pushstage_free(struct pushstage *);
const char	*pushstage_error(const struct pushstage *);
const char	*pushstage_strerror(int status);
int		 pushstage_fd(const struct pushstage *);

/*
 * The code of the ERROR frame producerd answered the last request with
 * (docs/protocol.md, "Error codes"), when that call returned
 * PUSHSTAGE_EPROTO or PUSHSTAGE_EAGAIN because of it; else 0.  So a
 * program can tell "no such schedule" from other refusals without
 * reading pushstage_error's words.  The codes a program is likely to
 * act on:
 */
#define PUSHSTAGE_ERR_BAD_VALUE		5	/* a field the daemon refused */
#define PUSHSTAGE_ERR_DRAINING		10
#define PUSHSTAGE_ERR_STORAGE		15	/* its journal's disk is full */
#define PUSHSTAGE_ERR_NO_QUEUE		16
#define PUSHSTAGE_ERR_LIMIT		17	/* --max-queues, --max-schedules */
#define PUSHSTAGE_ERR_NO_EVENT		19
#define PUSHSTAGE_ERR_NO_SCHEDULE	20
#define PUSHSTAGE_ERR_EXISTS		21	/* a schedule defined otherwise */
int		 pushstage_error_code(const struct pushstage *);

/*
 * Queues (docs/protocol.md).  A daemon holds many named queues: 1 to 64
 * bytes of A-Z a-z 0-9 . _ : -.  pushstage_queue names the queue of a
 * handle (default "default"): for a consumer, the queue it subscribes to,
 * before pushstage_connect_consumer; for a client, where the next batches
 * and the dead-letter calls go, at any time between batches (a batch
 * being filled must be sent first).  A queue the daemon does not have
 * springs into being on first use, unless the daemon says otherwise.
 *
 * Groups: "QUEUE/GROUP" names a group of a queue's consumers.  A consumer
 * subscribed so joins that group (made on first use); every group gets
 * every event enqueued in the queue from when it was made, and its
 * consumers share them.  "QUEUE" alone is the queue's shared group.  A
 * client's batches go to QUEUE (all its groups); its dead-letter calls
 * and pushstage_queue_stats act on the group named.
 *
 * Partitions: a queue with dispatch=partition:N sends each event only to
 * consumers of its key's partition, pushstage_partition_of(key, len, N)
 * (keyless events: partition 0).  Each of its consumers names one,
 * 0 to N-1, with pushstage_partition before pushstage_connect_consumer
 * (-1, the default: none, for every other queue).
 */
int		 pushstage_queue(struct pushstage *, const char *name);
const char	*pushstage_queue_name(const struct pushstage *);
int		 pushstage_partition(struct pushstage *, int partition);
uint32_t	 pushstage_partition_of(const void *key, size_t len,
		     uint32_t n);

/* What the daemon said when we connected. */
uint32_t	 pushstage_max_event(const struct pushstage *);
int		 pushstage_acks(const struct pushstage *);	/* 1: ack */
uint32_t	 pushstage_ack_timeout_ms(const struct pushstage *);
uint32_t	 pushstage_max_attempts(const struct pushstage *);

/*
 * Enqueueing.  Events are added to a batch and sent as one frame.
 * pushstage_add fails with PUSHSTAGE_ETOOBIG when the event would not
 * fit in the batch: send it, then add again (when the batch is empty the
 * event is simply too big for the daemon).  pushstage_send sends the
 * batch and waits for the answer.  When the daemon's queue is full it may
 * refuse the batch's last events (pushstage_enqueued.refused): they stay
 * in the batch, alone, to be sent again; pushstage_clear gives them up.
 * pushstage_add_key adds an event with a key (0 to 255 bytes): a queue
 * that keeps key order (producerd --dispatch key) hands out each key's
 * events one at a time, in order (docs/dispatch.md); other queues keep
 * the key with the event and pay it no heed.
 */
struct pushstage_enqueued {
	uint64_t	 first_id;	/* ids first_id .. first_id+accepted-1 */
	uint32_t	 accepted;	/* taken, in order */
	uint32_t	 refused;	/* the queue was full: send again */
	uint32_t	 shed_new;	/* taken and dropped (--overflow) */
	uint32_t	 shed_old;	/* older events dropped to make room */
	uint32_t	 duplicates;	/* not taken: their unique id was held */
};

/*
 * An event's attributes (protocol version 3; docs/scheduling.md), for
 * pushstage_add_with.  Start from PUSHSTAGE_ATTRS_INIT: no key, ready at
 * once, the default priority, no unique id.
 *   key, klen       a key (klen 0 to 255; a non-NULL key of 0 bytes is
 *                   the empty key), as pushstage_add_key
 *   delay_ms        not delivered before this many ms from when the
 *                   daemon takes it (at most 10 years)
 *   not_before_ms   or not before this time, ms since 1970 (not both)
 *   priority        0 to 65535, smaller first; -1 the default (32768)
 *   unique_id       1 to 128 bytes: while an event with this id is
 *                   queued, delayed, in flight or dead in the queue, and
 *                   for the queue's dedup-window after, another is a
 *                   duplicate: not taken, and counted in duplicates
 * Ids of accepted events are consecutive in batch order, duplicates
 * skipped; pushstage_duplicate(p, i) is the batch index (from 0) of the
 * i-th duplicate of the answer just returned or being handed to fn.
 */
struct pushstage_attrs {
	const void	*key;
	size_t		 klen;
	uint64_t	 delay_ms;
	uint64_t	 not_before_ms;
	int32_t		 priority;
	const void	*unique_id;
	size_t		 unique_id_len;
};
#define PUSHSTAGE_ATTRS_INIT	{ NULL, 0, 0, 0, -1, NULL, 0 }
#define PUSHSTAGE_UNIQUE_ID_MAX	128

int		 pushstage_add(struct pushstage *, const void *, size_t);
int		 pushstage_add_key(struct pushstage *, const void *key,
		     size_t klen, const void *data, size_t len);
int		 pushstage_add_with(struct pushstage *,
		     const struct pushstage_attrs *, const void *data,
		     size_t len);
uint32_t	 pushstage_duplicate(const struct pushstage *, size_t i);

/*
 * Headers (protocol version 5; docs/protocol.md): name/value pairs an
 * event carries to its consumer, opaque to the daemon but for the names
 * it reserves (task, content-type, traceparent, tracestate).
 * pushstage_header adds one for the next event added (pushstage_add,
 * _add_key or _add_with), which takes every header given since the last
 * event: a name of 1 to 64 bytes of a-z 0-9 - _ ., a value of 0 to 1024
 * bytes, each name once, at most 16 and 4096 bytes of names and values
 * in all (PUSHSTAGE_EINVAL otherwise, naming the header).  An add that
 * fails leaves them for the next; pushstage_headers_clear drops them.
 * A consumer reads those of an event it was given, valid as long as its
 * data is: pushstage_event_header finds one by name (1, or 0 if it has
 * none), pushstage_event_header_at gives the i-th, from 0 (1, or 0 past
 * the last).  A daemon that does not speak version 5 refuses headers.
 */
int		 pushstage_header(struct pushstage *, const char *name,
		     const void *value, size_t vlen);
void		 pushstage_headers_clear(struct pushstage *);
struct pushstage_event;
int		 pushstage_event_header(const struct pushstage *,
		     const struct pushstage_event *, const char *name,
		     const void **value, size_t *vlen);
int		 pushstage_event_header_at(const struct pushstage *,
		     const struct pushstage_event *, size_t i,
		     const char **name, size_t *nlen, const void **value,
		     size_t *vlen);
size_t		 pushstage_batch_count(const struct pushstage *);
int		 pushstage_send(struct pushstage *,
		     struct pushstage_enqueued *);
void		 pushstage_clear(struct pushstage *);

/*
 * Pipelining.  pushstage_pipeline lets up to window batches (1 to 1024)
 * wait for their answers at once, so the daemon always has the next batch
 * to read.  pushstage_post sends the batch as one frame and returns
 * without its answer, with the batch's number in *seq (1, 2, ...); when
 * that makes more than window batches wait, it then waits for the oldest
 * answer.
 * Each answer is given to fn, in posting order, from inside the call
 * that took it: pushstage_post, pushstage_answers (the answers already
 * read; nothing blocks: call it after pushstage_post, whose wait may read
 * more than one, and after poll and pushstage_read) or pushstage_wait
 * (blocks until every batch posted is answered).  In
 * fn, pushstage_refused gives the refused events of that batch (its last
 * r->refused), to copy and send again; fn may not call anything else on
 * the handle.  pushstage_send, stats and dead letters first wait for what
 * is posted.  Without pushstage_pipeline the window is 1 and answers are
 * dropped: pushstage_send is the simple way.
 */
typedef void	(*pushstage_answer_fn)(void *arg, uint64_t seq,
		     const struct pushstage_enqueued *r);

int		 pushstage_pipeline(struct pushstage *, unsigned int window,
		     pushstage_answer_fn fn, void *arg);
int		 pushstage_post(struct pushstage *, uint64_t *seq);
int		 pushstage_answers(struct pushstage *);
int		 pushstage_wait(struct pushstage *);
size_t		 pushstage_posted(const struct pushstage *);
int		 pushstage_refused(const struct pushstage *, size_t i,
		     const void **data, size_t *len);
int		 pushstage_refused_key(const struct pushstage *, size_t i,
		     const void **key, size_t *klen, int *has,
		     const void **data, size_t *len);

/*
 * Consuming.  After connecting, ask for max_demand events with
 * pushstage_demand.  pushstage_next_event waits for the next event; its
 * data stays valid until the next call that reads (pushstage_next_event,
 * pushstage_read).  With acks (pushstage_acks), ack each event done, or
 * nack it to have it delivered again (after the queue's retry-backoff,
 * if it has one), or nack_later to have it delivered again after delay_ms
 * (0: at once, whatever the backoff; protocol version 3), or touch it to
 * keep it past the ack timeout.  pushstage_done counts one event finished
 * and returns the demand to ask for now, or 0, by GenStage's rule: the
 * events of one read are cut into chunks of at most max_demand -
 * min_demand, and a finished chunk asks again once the credit it leaves
 * falls to min_demand.  pushstage_demand, _ack, _nack, _nack_later and
 * _touch only queue their frames;
 * pushstage_flush sends all queued in one write.
 *
 * To wait for the socket along with other things: poll pushstage_fd for
 * input, call pushstage_read once, then pushstage_poll_event until it
 * returns 0.  Events already read are not seen by poll; take them all.
 */
struct pushstage_event {
	uint64_t	 id;
	uint32_t	 attempt;	/* 1 on the first delivery */
	size_t		 len;
	const void	*data;
};

int		 pushstage_demand(struct pushstage *, uint32_t);
int		 pushstage_ack(struct pushstage *, const uint64_t *, size_t);
int		 pushstage_nack(struct pushstage *, const uint64_t *, size_t);
int		 pushstage_nack_later(struct pushstage *, const uint64_t *,
		     size_t, uint32_t delay_ms);
#define PUSHSTAGE_NACK_BACKOFF	0xffffffffu	/* the queue's backoff: the
						   wire's PS_NACK_BACKOFF */
#define PUSHSTAGE_NACK_DEAD	0xfffffffeu	/* give up: dead at once,
						   reason rejected (the
						   wire's PS_NACK_DEAD) */
#define PUSHSTAGE_ERROR_MAX	4096	/* a NACK's error, bytes */
int		 pushstage_nack_error(struct pushstage *, uint64_t id,
		     uint32_t delay_ms, const void *err, size_t elen);
int		 pushstage_touch(struct pushstage *, const uint64_t *, size_t);
int		 pushstage_flush(struct pushstage *);
uint32_t	 pushstage_done(struct pushstage *);
int		 pushstage_next_event(struct pushstage *,
		     struct pushstage_event *);
int		 pushstage_read(struct pushstage *);
int		 pushstage_poll_event(struct pushstage *,
		     struct pushstage_event *);

/*
 * Stats: the daemon's counters (docs/protocol.md, STATS_REPLY) and one
 * entry per consumer.  The reply belongs to the handle and stays valid
 * until the next pushstage_stats or pushstage_free.  pushstage_stat finds
 * a value by name: 0 and *value, or -1 when there is no such name.
 */
struct pushstage_stat {
	const char	*name;
	uint64_t	 value;
};

struct pushstage_consumer {
	const char			*id;
	size_t				 nfields;
	const struct pushstage_stat	*fields;
};

struct pushstage_text {
	const char	*name;
	const char	*value;
};

struct pushstage_stats {
	size_t				 ncounters;
	const struct pushstage_stat	*counters;
	size_t				 nconsumers;
	const struct pushstage_consumer	*consumers;
	size_t				 ntexts;
	const struct pushstage_text	*texts;
};

int		 pushstage_stats(struct pushstage *,
		     const struct pushstage_stats **);
int		 pushstage_queue_stats(struct pushstage *, const char *queue,
		     const struct pushstage_stats **);
int		 pushstage_stat(const struct pushstage_stat *, size_t,
		     const char *, uint64_t *);

/*
 * Dead letters: events that failed max_attempts times.  The list belongs
 * to the handle, like stats; total counts them all, n those that fit in
 * one reply, each with the first preview bytes of its payload (at most
 * 1024).  retry and drop act on the ids given, or on all when n is 0;
 * *found says how many they found.
 */
enum pushstage_dead_reason {
	PUSHSTAGE_DEAD_NACK = 1,
	PUSHSTAGE_DEAD_TIMEOUT = 2,
	PUSHSTAGE_DEAD_DISCONNECT = 3,
	PUSHSTAGE_DEAD_REJECTED = 4,	/* PUSHSTAGE_NACK_DEAD */
};

struct pushstage_dead {
	uint64_t	 id;
	uint32_t	 attempts;
	int		 reason;	/* enum pushstage_dead_reason */
	size_t		 len;		/* the whole payload's */
	size_t		 preview_len;
	const void	*preview;
};

/*
 * Jobs (protocol version 5): where one event of the handle's queue (or
 * QUEUE/GROUP) is, and what it carries.  pushstage_job finds it by id,
 * or with id 0 by its unique id (uid, ulen: 1 to 128 bytes), showing the
 * first preview bytes of its payload (at most 1024).  The answer, owned
 * by the handle until the next pushstage_job, has state
 * PUSHSTAGE_JOB_UNKNOWN (0) when the queue has no such event now (never
 * enqueued, or done with).  at_ms, ms since 1970, is when it is due
 * (delayed, waiting to retry), was delivered (in flight) or became ready
 * (queued); 0 when not known.  A daemon in a cluster, or older than
 * version 5, refuses (PUSHSTAGE_EPROTO, PUSHSTAGE_EINVAL).
 */
enum pushstage_job_state {
	PUSHSTAGE_JOB_UNKNOWN = 0,
	PUSHSTAGE_JOB_QUEUED = 1,
	PUSHSTAGE_JOB_DELAYED = 2,
	PUSHSTAGE_JOB_KEY_WAIT = 3,	/* behind its key's event in flight */
	PUSHSTAGE_JOB_PARTITION_WAIT = 4, /* for a consumer of its partition */
	PUSHSTAGE_JOB_IN_FLIGHT = 5,
	PUSHSTAGE_JOB_RETRY_WAIT = 6,	/* failed; held until at_ms */
	PUSHSTAGE_JOB_DEAD = 7,
	PUSHSTAGE_JOB_CANCELLED = 8,	/* in flight, cancelled: its consumer
					   was told; gone at its answer */
	PUSHSTAGE_JOB_DONE = 9,		/* acked; its record kept (keep-done) */
	PUSHSTAGE_JOB_ENDED = 10,	/* a wait's: cancelled */
};

struct pushstage_header {
	const char	*name;
	size_t		 name_len;
	const void	*value;
	size_t		 value_len;
};

struct pushstage_failure {
	uint64_t	 at_ms;		/* ms since 1970 */
	uint32_t	 attempt;
	const char	*consumer;	/* its id */
	size_t		 consumer_len;
	const void	*error;		/* may be empty */
	size_t		 error_len;
};

struct pushstage_job {
	uint64_t	 id;
	int		 state;		/* enum pushstage_job_state */
	const char	*state_name;	/* "queued", "in flight", ... */
	int		 reason;	/* dead: enum pushstage_dead_reason */
	uint32_t	 attempts;	/* deliveries so far */
	uint64_t	 at_ms;
	uint32_t	 priority;
	size_t		 len;		/* the whole payload's */
	const void	*preview;
	size_t		 preview_len;
	const char	*consumer;	/* in flight: its consumer's id */
	size_t		 consumer_len;
	const void	*key;		/* NULL: none */
	size_t		 key_len;
	const struct pushstage_header *headers;
	size_t		 nheaders;
	const struct pushstage_failure *failures;	/* oldest first */
	size_t		 nfailures;
	/* Done (keep-done): its result; len above is the whole result's. */
	const void	*result;
	size_t		 result_len;
};

int		 pushstage_job(struct pushstage *, uint64_t id,
		     const void *uid, size_t ulen, uint32_t preview,
		     const struct pushstage_job **);
const char	*pushstage_job_state_name(int);

/*
 * Cancelling jobs (protocol version 5): pushstage_job_cancel cancels n
 * events of the handle's queue by id, or (n 0) the one of unique id uid,
 * in every group of the queue.  One waiting (queued, delayed, behind its
 * key, for its partition, or to retry) is gone; one in flight is marked
 * and its consumer told (pushstage_cancelled), and nothing is sent
 * again whatever it answers.  out, if not NULL, gets n entries (1 by
 * unique id): each id and what was done.  An id the queue has nowhere,
 * or a dead letter (drop it with pushstage_dead_drop), refuses the whole
 * call and nothing changes (PUSHSTAGE_EPROTO; pushstage_error says
 * which).
 */
enum pushstage_cancel_outcome {
	PUSHSTAGE_CANCEL_REMOVED = 1,	/* it waited: gone */
	PUSHSTAGE_CANCEL_TOLD = 2,	/* in flight: its consumer told */
	PUSHSTAGE_CANCEL_ALREADY = 3,	/* in flight, cancelled before */
};
struct pushstage_cancel {
	uint64_t	 id;
	int		 outcome;	/* enum pushstage_cancel_outcome */
};
int		 pushstage_job_cancel(struct pushstage *, const uint64_t *ids,
		     size_t n, const void *uid, size_t ulen,
		     struct pushstage_cancel *out);
const char	*pushstage_cancel_outcome_name(int);
/*
 * A consumer's: did the daemon say event id, in flight here, is
 * cancelled?  It still ACKs (or NACKs) it; nothing is sent again.  The
 * last 256 ids cancelled are known.
 */
int		 pushstage_cancelled(const struct pushstage *, uint64_t id);

/*
 * Waiting for a job (protocol version 5): pushstage_job_wait waits until
 * event id (or, id 0, the one of unique id uid) of the handle's queue (or
 * QUEUE/GROUP) ends, at most timeout_ms (0: answer at once; UINT32_MAX:
 * no limit), answered by the daemon as it ends.  out: its state at the
 * end, PUSHSTAGE_JOB_DONE (data: its result), PUSHSTAGE_JOB_DEAD (data:
 * its last error), PUSHSTAGE_JOB_ENDED (cancelled), PUSHSTAGE_JOB_CANCELLED
 * (cancelled in flight), PUSHSTAGE_JOB_UNKNOWN (never enqueued, done with
 * no record kept, dropped); or timed_out 1 and where it is.  data is the
 * handle's until its next call.  A daemon in a cluster refuses.
 */
struct pushstage_wait {
	uint64_t	 id;		/* 0: unknown */
	int		 state;
	const char	*state_name;
	int		 timed_out;
	int		 reason;	/* dead: enum pushstage_dead_reason */
	uint64_t	 at_ms;		/* when it ended (ms since 1970) */
	uint32_t	 attempts;
	const void	*data;
	size_t		 len;
};
int		 pushstage_job_wait(struct pushstage *, uint64_t id,
		     const void *uid, size_t ulen, uint32_t timeout_ms,
		     struct pushstage_wait *);
/*
 * Listing jobs (protocol version 5): pushstage_jobs lists a page of the
 * handle's queue's (or QUEUE/GROUP's) events in one state (queued: with
 * those behind their key or waiting for their partition; delayed; in
 * flight; waiting to retry; dead; done, with their results as previews),
 * lowest ids first, at most limit (1 to 1000), those of a key or a
 * header's value only if asked.  cursor: NULL for the first page, else
 * the 16 bytes the last page gave in next (the page after it; *more 1:
 * there may be more).  The entries are the handle's until its next call.
 */
#define PUSHSTAGE_CURSOR_LEN	16
struct pushstage_jobs_ask {
	int		 state;		/* PUSHSTAGE_JOB_QUEUED, ... */
	const unsigned char *cursor;	/* NULL: the first page */
	uint32_t	 limit;
	uint32_t	 preview;
	const void	*key;		/* with has_key: that key's */
	size_t		 key_len;
	int		 has_key;
	const char	*header;	/* NULL, or a header's name ... */
	const void	*value;		/* ... and the value it must have */
	size_t		 value_len;
};
struct pushstage_listed {
	uint64_t	 id;
	int		 state;
	const char	*state_name;
	int		 reason;
	uint32_t	 attempts;
	uint64_t	 at_ms;
	size_t		 len;
	const void	*preview;
	size_t		 preview_len;
	const void	*key;		/* NULL: none */
	size_t		 key_len;
};
int		 pushstage_jobs(struct pushstage *,
		     const struct pushstage_jobs_ask *,
		     const struct pushstage_listed **, size_t *,
		     unsigned char next[PUSHSTAGE_CURSOR_LEN], int *more);

/*
 * A consumer's ACK with the event's result (protocol version 5; before
 * it, a plain ACK): kept with the event's record by a queue with
 * keep-done, and given to those waiting for it.  At most the queue's
 * max-result bytes (64 KiB unless set), else the daemon refuses.
 */
int		 pushstage_ack_result(struct pushstage *, uint64_t id,
		     const void *result, size_t len);

int		 pushstage_dead_list(struct pushstage *, uint32_t preview,
		     const struct pushstage_dead **, size_t *n,
		     uint32_t *total);
/*
 * The i-th dead letter's last error (protocol version 5), up to 1024
 * bytes, of the list pushstage_dead_list last returned: 1, or 0 if it
 * has none.  (Not a field of struct pushstage_dead: its array keeps the
 * size programs built before were built with.)
 */
int		 pushstage_dead_error(const struct pushstage *, size_t i,
		     const void **error, size_t *len);
int		 pushstage_dead_retry(struct pushstage *, const uint64_t *,
		     size_t n, uint32_t *found);
int		 pushstage_dead_drop(struct pushstage *, const uint64_t *,
		     size_t n, uint32_t *found);

/*
 * Managing queues (a client's calls).  pushstage_queues lists the queues
 * from the start-th on (0 first, in the order they were made), as many as
 * one reply holds, with their counters by name (queued, in_flight, dead,
 * consumers, enqueued_total, delivered_total, enqueue_rate, deliver_rate,
 * ...); *total counts them all: call again from start + *n for the rest.
 * The list belongs to the handle until the next call.  Settings are
 * "KEY=VALUE" strings with producerd's option names: max-queue,
 * max-queue-bytes, overflow, delivery, ack-timeout, max-attempts.
 * create makes a queue now (with settings, or none); set changes a
 * queue's settings (making it if it may); purge drops what it buffers
 * (*purged: how many); delete forgets it, its events and dead letters,
 * refused while consumers are subscribed unless force.
 */
struct pushstage_queue {
	const char			*name;
	size_t				 nfields;
	const struct pushstage_stat	*fields;
};

int		 pushstage_queues(struct pushstage *, uint32_t start,
		     const struct pushstage_queue **, size_t *n,
		     uint32_t *total);
int		 pushstage_queue_create(struct pushstage *, const char *queue,
		     const char * const *settings, size_t n);
int		 pushstage_queue_set(struct pushstage *, const char *queue,
		     const char * const *settings, size_t n);
int		 pushstage_queue_purge(struct pushstage *, const char *queue,
		     uint64_t *purged);
int		 pushstage_queue_delete(struct pushstage *, const char *queue,
		     int force);
int		 pushstage_group_drop(struct pushstage *, const char *queue,
		     const char *group, int force);

/*
 * Counts per task name (docs/tasks.md): a queue's (or "QUEUE/GROUP"'s)
 * rows, one per value of the events' task header, the rest in the row
 * named "other", from the start-th on (0 first) as many as one reply
 * holds; *total counts them all: call again from start + *n for the
 * rest.  A name is bytes (len of them, NUL after); fields by name: done,
 * failed, retried, dead, handling_p50_ms, handling_p90_ms,
 * handling_p99_ms (later daemons may add more).  The list belongs to the
 * handle until the next call.  Protocol version 5.
 */
struct pushstage_task {
	const char			*name;
	size_t				 len;
	size_t				 nfields;
	const struct pushstage_stat	*fields;
};

int		 pushstage_task_stats(struct pushstage *, const char *queue,
		     uint32_t start, const struct pushstage_task **,
		     size_t *n, uint32_t *total);

/*
 * Schedules (protocol version 5; docs/scheduling.md): the daemon enqueues
 * an event at each tick of a cron rule or an interval.  A schedule has a
 * name (1 to 64 bytes of A-Z a-z 0-9 . _ : -), a queue and settings,
 * "KEY=VALUE" strings: cron=RULE (with tz=ZONE) or every=DURATION, and
 * catch-up=none|last|all, unique=yes|no, paused=yes|no.
 *
 * pushstage_schedule_add defines one, with its event: payload data, len,
 * and a's key and priority (NULL: none; a delay, a time or a unique id
 * are the daemon's to give and refused), and as headers those given by
 * pushstage_header since the last event added, which it takes (the
 * daemon adds pushstage-schedule and pushstage-tick).  The same
 * definition again changes nothing; another is refused
 * (PUSHSTAGE_ERR_EXISTS) unless flags has PUSHSTAGE_SCHEDULE_REPLACE.
 * remove, pause, resume and run_now (which enqueues the event once now,
 * *id its id, 0 if the queue did not take it) act on the one named;
 * pushstage_schedule_get reads one, pushstage_schedules every one from
 * the start-th (0 first, in the order they were added), as many as one
 * reply holds: *total counts them all, call again from start + *n for
 * the rest.  An unknown name is PUSHSTAGE_EPROTO with
 * pushstage_error_code PUSHSTAGE_ERR_NO_SCHEDULE; as after every ERROR,
 * the daemon has closed the connection: free the handle, connect anew.
 *
 * Each call's out (NULL: not wanted) is the schedule as it is after the
 * call (removed: as it was), the handle's until its next schedule call.
 * Its fields are text by key (pushstage_schedule_field finds one): the
 * rule (cron or every, with tz), catch-up, unique, paused, created and
 * last (ms since 1970; 0: none), last-id, fired, skipped, next (up to 5
 * fire times in ms, apart by ","; empty: never again) and run_now's
 * enqueued; later daemons may add more.
 */
#define PUSHSTAGE_SCHEDULE_REPLACE	0x01
#define PUSHSTAGE_SCHEDULE_NAME_MAX	64
#define PUSHSTAGE_SCHEDULE_SETTING_MAX	1024	/* bytes of a KEY=VALUE */

struct pushstage_schedule {
	const char			*name;
	const char			*queue;
	size_t				 nfields;
	const struct pushstage_text	*fields;	/* name: the KEY */
	/* Its event. */
	const void			*key;		/* NULL: none */
	size_t				 key_len;
	uint32_t			 priority;	/* 32768 unless given */
	const struct pushstage_header	*headers;	/* as given */
	size_t				 nheaders;
	const void			*data;
	size_t				 len;
};

int		 pushstage_schedule_add(struct pushstage *, const char *name,
		     const char *queue, int flags,
		     const char * const *settings, size_t n,
		     const struct pushstage_attrs *a, const void *data,
		     size_t len, const struct pushstage_schedule **out);
int		 pushstage_schedule_remove(struct pushstage *,
		     const char *name, const struct pushstage_schedule **out);
int		 pushstage_schedule_pause(struct pushstage *, const char *name,
		     const struct pushstage_schedule **out);
int		 pushstage_schedule_resume(struct pushstage *,
		     const char *name, const struct pushstage_schedule **out);
int		 pushstage_schedule_run_now(struct pushstage *,
		     const char *name, uint64_t *id,
		     const struct pushstage_schedule **out);
int		 pushstage_schedule_get(struct pushstage *, const char *name,
		     const struct pushstage_schedule **out);
int		 pushstage_schedules(struct pushstage *, uint32_t start,
		     const struct pushstage_schedule **, size_t *n,
		     uint32_t *total);
const char	*pushstage_schedule_field(const struct pushstage_schedule *,
		     const char *key);

#ifdef __cplusplus
}
#endif

#endif
