/*
 * frame.h: the pushstage wire protocol (docs/protocol.md): frame types,
 * field layouts, limits and error codes, and the pure encode/decode API.
 * Nothing here does I/O or keeps global state.
 */
#ifndef PS_FRAME_H
#define PS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PS_PROTO_VERSION	3	/* the version the bundled peers speak */
#define PS_PROTO_MAX_VERSION	5	/* the newest a daemon answers: 4 is 3
					   with keys on EVENTs, 5 has headers */
#define PS_PROTO_MIN_VERSION	1	/* the oldest a daemon still answers */

/* Header: u32 body length, u8 type, u8 flags, u16 reserved; big-endian. */
#define PS_HDR_LEN		8

/*
 * Header flags.  Only an ENQUEUE (version 3) and an EVENT (version 4) may
 * have one: the ENQUEUE's events, or the EVENT's event, carry an
 * attribute block, u16 length then tag-length-value attributes.
 */
#define PS_F_ATTRS		0x01
#define PS_ATTR_KEY		1	/* the event's key: 0 to 255 bytes */
#define PS_ATTR_DELAY		2	/* u64 ms: not ready before then */
#define PS_ATTR_NOT_BEFORE	3	/* u64 ms since 1970: the same */
#define PS_ATTR_PRIORITY	4	/* u16: smaller goes first */
#define PS_ATTR_UNIQUE_ID	5	/* 1 to 128 bytes: no duplicates */
/*
 * Version 5: a tag from PS_ATTR_LONG on has a u16 length.  HEADER is one
 * of an event's headers: u8 name length, name, value; every HEADER of an
 * event comes after its other attributes.
 */
#define PS_ATTR_LONG		128
#define PS_ATTR_HEADER		128
#define PS_HEADERS_MAX		16	/* headers of one event */
#define PS_HEADER_NAME_MAX	64	/* a name: a-z 0-9 - _ . */
#define PS_HEADER_VALUE_MAX	1024	/* a value's bytes */
#define PS_HEADERS_BYTES_MAX	4096	/* an event's names and values */
#define PS_HEADER_OVER		4	/* tag, u16 length, name length */
#define PS_HEADERS_WIRE_MAX	(PS_HEADERS_BYTES_MAX + \
				 PS_HEADERS_MAX * PS_HEADER_OVER)
#define PS_WHY_MAX		128	/* a bad attribute's words */
#define PS_KEY_MAX		255
#define PS_UNIQUE_ID_MAX	128
#define PS_PRIORITY_DEFAULT	32768	/* an event that names none */
#define PS_DELAY_MAX	(10ull * 366 * 24 * 3600 * 1000) /* 10 years, ms */

/* Limits on the body length of one frame. */
#define PS_MAX_FRAME_DEFAULT	(1024u * 1024u)
#define PS_MAX_FRAME_MIN	4096u
#define PS_MAX_FRAME_LIMIT	(256u * 1024u * 1024u)

#define PS_NAME_MAX		255	/* consumer id / client name bytes */
#define PS_QUEUE_MAX		64	/* a queue name's bytes */
#define PS_PATH_MAX		(2 * PS_QUEUE_MAX + 1)	/* "QUEUE/GROUP" */
#define PS_PARTITIONS_MAX	1024	/* a queue's partitions */
#define PS_QUEUE_DEFAULT	"default"	/* versions 1 and 2 use it */
#define PS_DEMAND_LIMIT		1048576u	/* largest max_demand */

/* Bytes an ENQUEUE adds around its events, and one EVENT frame's prefix. */
#define PS_ENQUEUE_OVERHEAD	(PS_HDR_LEN + 4)
#define PS_ENQUEUE_PER_EVENT	4
#define PS_EVENT_PREFIX_V1	(PS_HDR_LEN + 8)	/* id */
#define PS_EVENT_PREFIX		(PS_HDR_LEN + 12)	/* id, attempt */
/*
 * Version 4, with a key: attrs_len, then KEY's tag, length and bytes;
 * version 5, then its headers.
 */
#define PS_EVENT_PREFIX_MAX	(PS_EVENT_PREFIX + 2 + 2 + PS_KEY_MAX + \
				 PS_HEADERS_WIRE_MAX)

/*
 * The daemon's frames may pass max_frame by this much: an EVENT carries
 * 12 bytes before the payload where an ENQUEUE spends 4 + 4 on the
 * largest event, max_frame - 8 bytes.
 */
#define PS_FRAME_OVER		4
#define PS_PREVIEW_MAX		1024	/* DEAD_LIST payload preview bytes */
#define PS_ERROR_TEXT_MAX	4096	/* a NACK_ERROR's error */
#define PS_RESULT_DEFAULT	65536	/* a queue's max-result by default */
#define PS_RESULT_MAX		(16u << 20)	/* and its largest */
#define PS_DEAD_ERROR_MAX	1024	/* of it in a DEAD_LIST_REPLY */
#define PS_NACK_BACKOFF		0xffffffffu	/* NACK_ERROR: the queue's
						   retry-backoff */
#define PS_NACK_DEAD		0xfffffffeu	/* NACK_ERROR: to the dead
						   letters at once */
#define PS_DEAD_ENTRY		20	/* DEAD_LIST_REPLY entry, fixed part */

/* WELCOME's delivery field. */
enum ps_delivery {
	PS_AT_LEAST_ONCE = 1,
	PS_AT_MOST_ONCE = 2,
};

/* Why an event went to the dead-letter list. */
enum ps_dead_reason {
	PS_DEAD_NACK = 1,
	PS_DEAD_TIMEOUT = 2,
	PS_DEAD_DISCONNECT = 3,
	PS_DEAD_REJECTED = 4,	/* a NACK_ERROR's PS_NACK_DEAD */
};

enum ps_type {
	PS_HELLO = 1,		/* peer -> daemon */
	PS_WELCOME = 2,		/* daemon -> peer */
	PS_ENQUEUE = 3,		/* client -> daemon */
	PS_ENQUEUED = 4,	/* daemon -> client */
	PS_DEMAND = 5,		/* consumer -> daemon */
	PS_EVENT = 6,		/* daemon -> consumer */
	PS_STATS = 7,		/* peer -> daemon */
	PS_STATS_REPLY = 8,	/* daemon -> peer */
	PS_ERROR = 9,		/* daemon -> peer, then close */
	/* Version 2. */
	PS_ACK = 10,		/* consumer -> daemon */
	PS_NACK = 11,		/* consumer -> daemon */
	PS_TOUCH = 12,		/* consumer -> daemon */
	PS_DEAD_LIST = 13,	/* client -> daemon */
	PS_DEAD_LIST_REPLY = 14,	/* daemon -> client */
	PS_DEAD_RETRY = 15,	/* client -> daemon */
	PS_DEAD_DROP = 16,	/* client -> daemon */
	PS_DEAD_DONE = 17,	/* daemon -> client */
	/* Version 3. */
	PS_QUEUES = 18,		/* client -> daemon */
	PS_QUEUES_REPLY = 19,	/* daemon -> client */
	PS_QUEUE_ADMIN = 20,	/* client -> daemon */
	PS_QUEUE_DONE = 21,	/* daemon -> client */
	PS_NACK_LATER = 22,	/* consumer -> daemon */
	/* Version 5. */
	PS_NACK_ERROR = 23,	/* consumer -> daemon */
	PS_JOB = 24,		/* client -> daemon */
	PS_JOB_REPLY = 25,	/* daemon -> client */
	PS_CANCEL = 26,		/* daemon -> consumer */
	PS_JOB_CANCEL = 27,	/* client -> daemon */
	PS_JOB_CANCEL_REPLY = 28,	/* daemon -> client */
	PS_ACK_RESULT = 29,	/* consumer -> daemon */
	PS_WAIT = 30,		/* client -> daemon */
	PS_WAIT_REPLY = 31,	/* daemon -> client */
	PS_JOBS = 32,		/* client -> daemon */
	PS_JOBS_REPLY = 33,	/* daemon -> client */
	PS_TASK_STATS = 34,	/* client -> daemon */
	PS_TASK_STATS_REPLY = 35,	/* daemon -> client */
	PS_SCHEDULE = 36,	/* client -> daemon */
	PS_SCHEDULE_REPLY = 37,	/* daemon -> client */
};
#define PS_TYPE_MAX	PS_SCHEDULE_REPLY
#define PS_TYPE_MAX_V4	PS_NACK_LATER
#define PS_TYPE_MAX_V2	PS_DEAD_DONE
#define PS_TYPE_MAX_V1	PS_ERROR

enum ps_role {
	PS_ROLE_CONSUMER = 1,
	PS_ROLE_CLIENT = 2,
};

/*
 * Error codes: returned (negated) by the decoders and carried by ERROR
 * frames.  Values are part of the protocol; never renumber them.
 */
enum ps_err {
	PS_E_TOO_LARGE = 1,	/* body length over the frame limit */
	PS_E_BAD_HEADER = 2,	/* flags or reserved bits set */
	PS_E_UNKNOWN_TYPE = 3,	/* type not defined */
	PS_E_BAD_LENGTH = 4,	/* body length wrong for the type */
	PS_E_BAD_VALUE = 5,	/* a field out of its range */
	PS_E_BAD_STATE = 6,	/* frame not allowed in this role or state */
	PS_E_VERSION = 7,	/* protocol version not spoken */
	PS_E_DEMAND = 8,	/* demand over the consumer's max_demand */
	PS_E_NOMEM = 9,		/* the receiver could not allocate */
	/* Version 2. */
	PS_E_DRAINING = 10,	/* the daemon is shutting down */
	PS_E_NOT_IN_FLIGHT = 11, /* ACK/NACK/TOUCH of an id this peer lacks */
	PS_E_FORBIDDEN = 12,	/* the peer's uid/gid is not allowed */
	PS_E_TOO_MANY = 13,	/* the daemon's connection limit is reached */
	PS_E_TIMEOUT = 14,	/* no HELLO in time */
	PS_E_STORAGE = 15,	/* the journal has no room: try later */
	/* Version 3. */
	PS_E_NO_QUEUE = 16,	/* no such queue, and it may not be made */
	PS_E_QUEUE_LIMIT = 17,	/* --max-queues queues exist already */
	PS_E_QUEUE_BUSY = 18,	/* consumers are subscribed to it */
	PS_E_NO_EVENT = 19,	/* no such event to cancel (version 5) */
	PS_E_NO_SCHEDULE = 20,	/* no schedule of that name (version 5) */
	PS_E_EXISTS = 21,	/* a schedule of that name, defined otherwise */
};
#define PS_E_MAX	PS_E_EXISTS

/* QUEUE_ADMIN's op. */
enum ps_queue_op {
	PS_QUEUE_SET = 1,	/* settings KEY=VALUE */
	PS_QUEUE_PURGE = 2,	/* drop what is buffered */
	PS_QUEUE_DELETE = 3,	/* forget the queue */
	PS_QUEUE_CREATE = 4,	/* make it now, with settings */
	PS_QUEUE_DROP_GROUP = 5, /* forget one group of it */
};
#define PS_QUEUE_FORCE	0x01	/* QUEUE_ADMIN flag: delete despite consumers */

/* SCHEDULE's op (docs/protocol.md, SCHEDULE). */
enum ps_schedule_op {
	PS_SCHED_ADD = 1,	/* define one, or the same again */
	PS_SCHED_REMOVE = 2,
	PS_SCHED_PAUSE = 3,
	PS_SCHED_RESUME = 4,
	PS_SCHED_RUN_NOW = 5,	/* enqueue its event now, once */
	PS_SCHED_LIST = 6,	/* all (no name) or the one named */
};
#define PS_SCHED_REPLACE	0x01	/* ADD: replace one defined otherwise */
#define PS_SCHED_NAME_MAX	64	/* a schedule's name: as a queue's */
#define PS_SCHED_FIELD_MAX	1024	/* one "KEY=VALUE" of an entry */

const char	*ps_strerror(int);
const char	*ps_type_name(int);

/* A frame as it sits in a buffer; body points into that buffer. */
struct ps_frame {
	uint8_t		 type;
	uint32_t	 len;
	const uint8_t	*body;
	uint8_t		 flags;		/* PS_F_* */
};

struct ps_hello {
	uint16_t	 version;
	uint8_t		 role;
	uint32_t	 max_demand;	/* consumer: >= 1; client: 0 */
	uint32_t	 min_demand;	/* consumer: < max_demand; client: 0 */
	uint8_t		 name_len;	/* consumer: >= 1 (its id) */
	const char	*name;
	/* Version 3 on; decoded, queue is NULL when the body has none. */
	uint8_t		 queue_len;	/* consumer: 0..64; client: 0 */
	const char	*queue;
	uint8_t		 has_partition;	/* consumer: of a partition */
	uint16_t	 partition;	/* then which, < PS_PARTITIONS_MAX */
};

/* A queue named by a frame, in place; version 1 and 2: PS_QUEUE_DEFAULT. */
struct ps_queue {
	uint8_t		 len;
	const char	*name;
};

/* A QUEUE_ADMIN: op, flags, queue, then "KEY=VALUE" texts for SET. */
struct ps_queue_admin {
	uint8_t		 op;		/* enum ps_queue_op */
	uint8_t		 flags;		/* PS_QUEUE_FORCE */
	struct ps_queue	 queue;
	uint16_t	 nsettings;
	const uint8_t	*p;		/* the settings, checked */
};

struct ps_welcome {
	uint16_t	 version;
	uint32_t	 max_frame;
	/* Version 2 on. */
	uint32_t	 ack_timeout_ms;	/* 0: none */
	uint16_t	 max_attempts;
	uint8_t		 delivery;		/* enum ps_delivery */
};

struct ps_enqueued {
	uint64_t	 first_id;
	uint32_t	 accepted;
	/* Version 2 on: what the queue limit did (docs/overflow.md). */
	uint32_t	 refused;	/* not taken; send again later */
	uint32_t	 shed_new;	/* of this ENQUEUE, dropped */
	uint32_t	 shed_old;	/* buffered events dropped for room */
	/*
	 * Version 3: events not taken because their unique id was seen
	 * (PS_ATTR_UNIQUE_ID), and their indexes in the ENQUEUE, as
	 * big-endian u32s: decoded, in the frame (ps_enqueued_dup); to
	 * encode, in dups (NULL: none).
	 */
	uint32_t	 duplicates;
	const uint8_t	*dup_p;
	struct ps_buf	*dups;
};

struct ps_event {
	uint64_t	 id;
	uint32_t	 attempt;	/* 1 on first delivery; version 1: 1 */
	uint32_t	 len;
	const uint8_t	*data;
	const uint8_t	*key;		/* version 4: its key, else NULL */
	uint8_t		 klen;
	const uint8_t	*hdr;		/* version 5: its HEADERs, or NULL */
	uint16_t	 hlen;
};

/* The ids of an ACK, NACK, TOUCH, DEAD_RETRY or DEAD_DROP, in place. */
struct ps_ids {
	uint32_t	 count;
	const uint8_t	*p;
	uint32_t	 delay_ms;	/* NACK_LATER: again after this */
};

/* One DEAD_LIST_REPLY entry. */
struct ps_dead {
	uint64_t	 id;
	uint32_t	 attempts;
	uint8_t		 reason;	/* enum ps_dead_reason */
	uint32_t	 len;		/* the whole payload's length */
	uint16_t	 preview_len;
	const uint8_t	*preview;
	/* Version 5: its last failure's error, at most 1024 bytes of it. */
	uint16_t	 error_len;
	const uint8_t	*error;
};

struct ps_dead_reply {
	uint32_t	 total;		/* events on the dead list */
	uint32_t	 count;		/* entries in this frame */
	const uint8_t	*p;		/* the entries, checked */
	int		 version;
};

/* A JOB (version 5): an event by id, or by unique id (id 0). */
struct ps_job_ask {
	struct ps_queue	 queue;		/* a queue or QUEUE/GROUP */
	uint64_t	 id;
	uint16_t	 preview;	/* payload bytes to show, to 1024 */
	const uint8_t	*uid;
	uint8_t		 ulen;
};

/* A JOB_CANCEL (version 5): events of a queue by id, or one by unique id. */
struct ps_cancel_ask {
	struct ps_queue	 queue;
	const uint8_t	*uid;		/* ulen 0: by ids */
	uint8_t		 ulen;
	struct ps_ids	 ids;		/* count 0: by uid */
};

/* What a JOB_CANCEL did with one event (JOB_CANCEL_REPLY). */
enum ps_cancel_outcome {
	PS_CANCEL_REMOVED = 1,	/* it waited: it is gone */
	PS_CANCEL_TOLD = 2,	/* in flight: marked, its consumer told */
	PS_CANCEL_ALREADY = 3,	/* in flight and cancelled before */
};
struct ps_cancel_reply {
	uint32_t	 count;
	const uint8_t	*p;		/* count x { u64 id, u8 outcome } */
};

/*
 * A JOB_REPLY: where the event is and what it carries.  Writing, key
 * (klen -1: none), hdr and fails say its attributes and failures; read
 * back, attrs is its attribute block (KEY, then HEADERs, as an EVENT's:
 * key, hdr found in it) and fail its nfail failures (ps_failure_get).
 */
struct ps_job {
	uint64_t		 id;		/* 0: no such event */
	uint8_t			 state;		/* enum djob_state's */
	uint8_t			 reason;	/* dead: enum ps_dead_reason */
	uint32_t		 attempts;
	uint64_t		 at;		/* ms since 1970, as state says */
	uint16_t		 priority;
	uint32_t		 len;
	uint16_t		 preview_len;
	const uint8_t		*preview;
	const char		*consumer;	/* in flight: its id */
	uint8_t			 clen;
	const uint8_t		*key;
	int			 klen;		/* -1: none */
	const uint8_t		*hdr;
	uint16_t		 hlen;
	uint8_t			 nfail;
	const struct ps_failure	*fails;
	const uint8_t		*fail;
	const uint8_t		*result;	/* done (state 9): its result */
	uint32_t		 rlen;
};

/* The states of a JOB_REPLY (and WAIT_REPLY) that proto/ reads. */
#define PS_JOB_DONE		9	/* done, its record kept */
#define PS_JOB_CANCELLED	10	/* cancelled (WAIT_REPLY only) */

/* JOBS (version 5): a page of a queue's events in one state. */
#define PS_JOBS_LIMIT_MAX	1000
#define PS_CURSOR_LEN		16
enum ps_jobs_filter {
	PS_FILTER_NONE = 0,
	PS_FILTER_KEY = 1,		/* the key, 0 to 255 bytes */
	PS_FILTER_HEADER = 2,		/* u8 len, name, then the value */
};
struct ps_jobs_ask {
	struct ps_queue	 queue;		/* a queue or QUEUE/GROUP */
	uint8_t		 state;		/* 1, 2, 5, 6, 7 or 9 */
	uint16_t	 limit;		/* 1 to PS_JOBS_LIMIT_MAX */
	uint16_t	 preview;
	uint64_t	 after;		/* the cursor: ids over it */
	uint64_t	 tag;		/* and whose it is; 0 0: the start */
	uint8_t		 filter;	/* enum ps_jobs_filter */
	const uint8_t	*key;		/* PS_FILTER_KEY */
	uint8_t		 klen;
	const uint8_t	*hname;		/* PS_FILTER_HEADER */
	uint8_t		 hnlen;
	const uint8_t	*hval;
	uint16_t	 hvlen;
};
/* One entry of a JOBS_REPLY, in place. */
struct ps_jobs_entry {
	uint64_t	 id;
	uint8_t		 state;
	uint8_t		 reason;
	uint32_t	 attempts;
	uint64_t	 at;
	uint32_t	 len;
	uint16_t	 preview_len;
	const uint8_t	*preview;
	const uint8_t	*key;		/* klen -1: none */
	int		 klen;
	const uint8_t	*hdr;
	uint16_t	 hlen;
};
struct ps_jobs_reply {
	uint64_t	 after;		/* the next page's cursor; 0 0: */
	uint64_t	 tag;		/* no more */
	uint32_t	 count;
	const uint8_t	*p;		/* the entries, checked */
	const uint8_t	*end;
};
#define PS_JOBS_ENTRY_HEAD	30	/* an entry but its preview, attrs */

/* An ACK_RESULT (version 5), in place. */
struct ps_ack_result {
	uint64_t	 id;
	uint32_t	 len;
	const uint8_t	*result;
};

/* A WAIT (version 5): an event by id, or by unique id (id 0). */
struct ps_wait_ask {
	struct ps_queue	 queue;		/* a queue or QUEUE/GROUP */
	uint64_t	 id;
	uint32_t	 timeout_ms;	/* 0: answer at once */
	const uint8_t	*uid;
	uint8_t		 ulen;
};

/* A WAIT_REPLY: how the event ended, or where it is at the timeout. */
struct ps_wait_reply {
	uint64_t	 id;		/* 0: no such event */
	uint8_t		 state;		/* a JOB_REPLY's */
	uint8_t		 timed_out;	/* 1: not ended by the timeout */
	uint8_t		 reason;	/* dead: enum ps_dead_reason */
	uint64_t	 at;		/* ms since 1970: when it ended */
	uint32_t	 attempts;
	uint32_t	 len;
	const uint8_t	*data;		/* done: its result; dead: its error */
};

/* A NACK_ERROR (version 5), in place. */
struct ps_nack_error {
	uint64_t	 id;
	uint32_t	 delay_ms;	/* PS_NACK_BACKOFF: the queue's */
	uint16_t	 error_len;
	const uint8_t	*error;
};

struct ps_error {
	uint16_t	 code;
	uint32_t	 msg_len;
	const char	*msg;
};

/*
 * An event's attributes.  when says which of delay and not_before is
 * set; priority is PS_PRIORITY_DEFAULT unless given.
 */
enum ps_when {
	PS_WHEN_NOW,
	PS_WHEN_DELAY,		/* delay ms after it is taken */
	PS_WHEN_AT,		/* at not_before, ms since 1970 */
};

struct ps_attrs {
	const uint8_t	*key;		/* NULL: none */
	uint8_t		 klen;
	uint8_t		 ulen;
	uint16_t	 priority;
	enum ps_when	 when;
	uint64_t	 delay;
	uint64_t	 not_before;
	const uint8_t	*uid;		/* unique id; NULL: none */
	unsigned	 seen;		/* 1 << PS_ATTR_* of each tag given */
	/* Version 5: the HEADER attributes, as on the wire; NULL: none. */
	const uint8_t	*hdr;
	uint16_t	 hlen;
};

/*
 * One of an event's failures (docs/protocol.md, NACK_ERROR): when (ms
 * since 1970), the attempt, the consumer's id and its error.  As a
 * JOB_REPLY and the journal's FAIL records lay it out: u64 at, u32
 * attempt, u8 length and the id, u16 length and the error.
 */
struct ps_failure {
	uint64_t	 at;
	uint32_t	 attempt;
	const char	*who;
	uint8_t		 wlen;
	const uint8_t	*err;
	uint16_t	 elen;
};
#define PS_FAILURE_HEAD	15		/* its bytes but the two texts */

/* One header, in place (ps_header_next). */
struct ps_header {
	const char	*name;
	uint8_t		 nlen;
	const uint8_t	*value;
	uint16_t	 vlen;
};

/*
 * Walks the events of a validated ENQUEUE body; after ps_enqueue_next,
 * key and klen are the event's key (NULL: it has none), and a its
 * attributes.  index is the event's place in the ENQUEUE, from 0.
 * max_delay and max_at are the batch's largest DELAY and NOT_BEFORE (0:
 * none), for the daemon to check against its clock before it takes any.
 */
struct ps_enqueue_iter {
	const uint8_t	*p;
	uint32_t	 left;
	uint32_t	 count;
	uint64_t	 bytes;		/* the payloads left, in bytes */
	int		 attrs;		/* events carry attributes */
	const uint8_t	*key;
	uint8_t		 klen;
	struct ps_attrs	 a;
	uint64_t	 max_delay;
	uint64_t	 max_at;
	unsigned	 used;		/* 1 << PS_ATTR_* of every tag in it */
	const char	*why;		/* a bad attribute: which, and why */
	int		 headers;	/* some event has headers */
};

/*
 * Where an iterator stands, kept while its ENQUEUE waits in the decoder,
 * which may move the frame: ps_enqueue_resume on the same frame, wherever
 * it is then, gives the iterator back as it was.  need is the next
 * event's length (0 at the end).
 */
struct ps_enqueue_mark {
	struct ps_enqueue_iter	 it;
	uint32_t		 off;		/* it.p's, in the body */
	uint32_t		 need;
};

/* One name/value pair of a STATS_REPLY. */
struct ps_stat {
	char		 name[PS_NAME_MAX + 1];
	uint64_t	 value;
};

struct ps_stats_consumer {
	char		 id[PS_NAME_MAX + 1];
	uint8_t		 nfields;
	struct ps_stat	*fields;
};

/* One named text value of a STATS_REPLY (version 2), such as a path. */
#define PS_STAT_TEXT_MAX	1024
struct ps_stat_text {
	char		 name[PS_NAME_MAX + 1];
	char		 value[PS_STAT_TEXT_MAX + 1];
};

struct ps_stats {
	uint16_t			 ncounters;
	struct ps_stat			*counters;
	uint32_t			 nconsumers;
	struct ps_stats_consumer	*consumers;
	uint16_t			 ntexts;
	struct ps_stat_text		*texts;
};

/* A growable byte buffer that the encoders append to. */
struct ps_buf {
	uint8_t		*data;
	size_t		 len;
	size_t		 cap;
};

/* One QUEUES_REPLY entry: a queue and its named values. */
struct ps_queue_entry {
	char		 name[PS_PATH_MAX + 1];	/* queue, or queue/group */
	uint8_t		 nfields;
	struct ps_stat	*fields;
};

struct ps_queues {
	uint32_t		 total;		/* queues in the daemon */
	uint32_t		 count;		/* entries here */
	struct ps_queue_entry	*queues;
};

/* One TASK_STATS_REPLY entry: a task name (bytes) and its named values. */
#define PS_TASK_NAME_MAX	255
struct ps_task_entry {
	char		 name[PS_TASK_NAME_MAX + 1];	/* NUL after nlen */
	uint8_t		 nlen;
	uint8_t		 nfields;
	struct ps_stat	*fields;
};

struct ps_task_stats {
	uint32_t		 total;		/* the group's rows */
	uint32_t		 count;		/* entries here */
	struct ps_task_entry	*tasks;
};

/*
 * A SCHEDULE, in place: op, flags, the schedule's name (name_len 0: a
 * LIST of all), start (LIST's first entry); an ADD's queue, its
 * "KEY=VALUE" settings (ps_kv_next) and its event: attributes (as an
 * ENQUEUE's, version 5) and payload.
 */
struct ps_schedule {
	uint8_t		 op;		/* enum ps_schedule_op */
	uint8_t		 flags;		/* PS_SCHED_REPLACE */
	uint8_t		 name_len;
	const char	*name;
	uint32_t	 start;
	struct ps_queue	 queue;		/* ADD */
	uint16_t	 nsettings;
	const uint8_t	*settings;
	uint16_t	 alen;
	const uint8_t	*attrs;
	uint32_t	 len;
	const uint8_t	*data;
};

/*
 * One entry of a SCHEDULE_REPLY (and of producerd's DIR/schedules): a
 * schedule's name, its queue, its fields ("KEY=VALUE", ps_kv_next) and
 * its event, all in place.
 */
struct ps_schedule_entry {
	uint8_t		 name_len;
	const char	*name;
	struct ps_queue	 queue;
	uint16_t	 nfields;
	const uint8_t	*fields;
	uint16_t	 alen;
	const uint8_t	*attrs;
	uint32_t	 len;
	const uint8_t	*data;
};

/* A SCHEDULE_REPLY's entries, read one by one (ps_schedule_reply_next). */
struct ps_schedule_reply {
	uint32_t	 total;
	uint32_t	 count;
	const uint8_t	*p;
	uint32_t	 left;		/* bytes */
	uint32_t	 next;		/* entries read */
};

/* buf.c */
int	 ps_buf_reserve(struct ps_buf *, size_t);
int	 ps_buf_add(struct ps_buf *, const void *, size_t);
void	 ps_buf_free(struct ps_buf *);

/* schedule.c: SCHEDULE and SCHEDULE_REPLY, both ways. */
int	 ps_put_schedule(struct ps_buf *, uint8_t, uint8_t, const char *,
	     uint32_t);
int	 ps_put_schedule_add(struct ps_buf *, uint8_t, const char *,
	     const char *, const char * const *, uint16_t, const void *,
	     uint16_t, const void *, uint32_t);
int	 ps_get_schedule(const struct ps_frame *, struct ps_schedule *);
int	 ps_get_schedule_why(const struct ps_frame *, struct ps_schedule *,
	     const char **);
int	 ps_kv_next(const uint8_t **, uint16_t *, const char **, size_t *);
int	 ps_kv_u64(const char *, size_t, uint64_t *);
int	 ps_put_schedule_reply_begin(struct ps_buf *, size_t *);
int	 ps_put_schedule_entry(struct ps_buf *, const char *, size_t,
	     const char *, size_t, const char * const *, uint16_t,
	     const void *, uint16_t, const void *, uint32_t);
void	 ps_put_schedule_reply_end(struct ps_buf *, size_t, uint32_t,
	     uint32_t);
int	 ps_get_schedule_reply(const struct ps_frame *,
	     struct ps_schedule_reply *);
int	 ps_schedule_reply_next(struct ps_schedule_reply *,
	     struct ps_schedule_entry *);
int	 ps_get_schedule_entry(const uint8_t *, size_t,
	     struct ps_schedule_entry *, size_t *);
const char *ps_kv_find(const struct ps_schedule_entry *, const char *,
	     size_t *);

/* encode.c: each returns 0, or -PS_E_NOMEM / -PS_E_BAD_VALUE. */
int	 ps_put_hello(struct ps_buf *, const struct ps_hello *);
int	 ps_put_welcome(struct ps_buf *, const struct ps_welcome *);
int	 ps_put_enqueue_begin(struct ps_buf *, int, const char *, size_t,
	     size_t *);
int	 ps_put_enqueue_add(struct ps_buf *, const void *, uint32_t);
size_t	 ps_attrs_size(const struct ps_attrs *);
int	 ps_put_enqueue_add_attrs(struct ps_buf *, const struct ps_attrs *,
	     const void *, uint32_t);
int	 ps_put_enqueue_add_key(struct ps_buf *, const void *, int,
	     const void *, uint32_t);
void	 ps_put_enqueue_attrs(struct ps_buf *, size_t);
void	 ps_put_enqueue_end(struct ps_buf *, size_t, uint32_t);
int	 ps_put_enqueued(struct ps_buf *, int, const struct ps_enqueued *);
int	 ps_put_demand(struct ps_buf *, uint32_t);
int	 ps_put_event(struct ps_buf *, int, const struct ps_event *);
size_t	 ps_event_prefix(uint8_t [PS_EVENT_PREFIX_MAX], int, uint64_t,
	    uint32_t, uint32_t, const uint8_t *, uint8_t, const uint8_t *,
	    uint16_t);
int	 ps_put_ids(struct ps_buf *, uint8_t, const uint64_t *, uint32_t);
int	 ps_put_nack_later(struct ps_buf *, uint32_t, const uint64_t *,
	     uint32_t);
int	 ps_put_dead_ids(struct ps_buf *, uint8_t, int, const char *,
	     const uint64_t *, uint32_t);
int	 ps_put_dead_list(struct ps_buf *, int, const char *, uint32_t);
int	 ps_put_dead_begin(struct ps_buf *, size_t *);
int	 ps_put_dead(struct ps_buf *, int, const struct ps_dead *);
int	 ps_put_nack_error(struct ps_buf *, const struct ps_nack_error *);
int	 ps_put_job(struct ps_buf *, const char *, size_t, uint64_t, uint16_t,
	     const void *, uint8_t);
int	 ps_put_job_reply(struct ps_buf *, const struct ps_job *);
int	 ps_put_job_cancel(struct ps_buf *, const char *, size_t,
	     const uint64_t *, uint32_t, const void *, uint8_t);
int	 ps_put_cancel_reply(struct ps_buf *, const uint64_t *,
	     const uint8_t *, uint32_t);
int	 ps_put_ack_result(struct ps_buf *, uint64_t, const void *,
	     uint32_t);
int	 ps_put_wait(struct ps_buf *, const char *, size_t, uint64_t,
	     uint32_t, const void *, uint8_t);
int	 ps_put_wait_reply(struct ps_buf *, const struct ps_wait_reply *);
int	 ps_put_jobs(struct ps_buf *, const struct ps_jobs_ask *);
int	 ps_put_jobs_begin(struct ps_buf *, size_t *);
int	 ps_put_jobs_entry(struct ps_buf *, const struct ps_jobs_entry *);
void	 ps_put_jobs_end(struct ps_buf *, size_t, uint64_t, uint64_t,
	     uint32_t);
size_t	 ps_jobs_entry_size(const struct ps_jobs_entry *);
void	 ps_put_dead_end(struct ps_buf *, size_t, uint32_t, uint32_t);
int	 ps_put_dead_done(struct ps_buf *, uint32_t);
int	 ps_put_stats(struct ps_buf *, int, const char *);
int	 ps_put_queues(struct ps_buf *, uint32_t);
int	 ps_put_queues_begin(struct ps_buf *, size_t *);
int	 ps_put_queue_entry(struct ps_buf *, const char *, size_t, uint8_t);
void	 ps_put_queues_end(struct ps_buf *, size_t, uint32_t, uint32_t);
int	 ps_put_task_stats(struct ps_buf *, const char *, size_t, uint32_t);
int	 ps_put_task_stats_begin(struct ps_buf *, size_t *);
int	 ps_put_task_entry(struct ps_buf *, const void *, size_t, uint8_t);
void	 ps_put_task_stats_end(struct ps_buf *, size_t, uint32_t, uint32_t);
int	 ps_put_queue_admin(struct ps_buf *, uint8_t, uint8_t, const char *,
	     const char * const *, uint16_t);
int	 ps_put_queue_done(struct ps_buf *, uint64_t);
int	 ps_put_error(struct ps_buf *, uint16_t, const char *);
int	 ps_put_stats_begin(struct ps_buf *, size_t *);
int	 ps_put_stat(struct ps_buf *, const char *, uint64_t);
int	 ps_put_stats_consumers(struct ps_buf *, size_t *);
int	 ps_put_stats_consumer(struct ps_buf *, const char *, size_t, uint8_t);
void	 ps_put_stats_end(struct ps_buf *, size_t, uint16_t, size_t,
	     uint32_t);
size_t	 ps_enqueue_size(size_t, size_t);
int	 ps_put_stats_texts(struct ps_buf *, size_t *);
int	 ps_put_stat_text(struct ps_buf *, const char *, const char *);
void	 ps_put_stats_texts_end(struct ps_buf *, size_t, size_t, uint16_t);

/*
 * decode.c.  ps_frame_parse looks at n bytes: it returns the frame's total
 * size and fills f when a whole frame is there, 0 when more bytes are
 * needed, or -PS_E_* as soon as the header is known to be bad (before the
 * body arrives, so nothing is allocated for it).
 */
long	 ps_frame_size(const uint8_t *, size_t, uint32_t);
long	 ps_frame_parse(const uint8_t *, size_t, uint32_t, struct ps_frame *);
int	 ps_get_hello(const struct ps_frame *, struct ps_hello *);
uint32_t ps_partition(const void *, int, uint32_t);
int	 ps_get_welcome(const struct ps_frame *, struct ps_welcome *);
int	 ps_queue_name_ok(const char *, size_t);
int	 ps_group_path_ok(const char *, size_t);
int	 ps_get_enqueue(const struct ps_frame *, int, struct ps_queue *,
	     struct ps_enqueue_iter *, uint32_t *);
int	 ps_get_enqueue_why(const struct ps_frame *, int, struct ps_queue *,
	     struct ps_enqueue_iter *, uint32_t *, char *);
int	 ps_enqueue_next(struct ps_enqueue_iter *, const uint8_t **,
	     uint32_t *);
void	 ps_enqueue_mark(struct ps_enqueue_mark *,
	     const struct ps_enqueue_iter *, const struct ps_frame *);
void	 ps_enqueue_resume(struct ps_enqueue_iter *,
	     const struct ps_enqueue_mark *, const struct ps_frame *);
int	 ps_get_enqueued(const struct ps_frame *, struct ps_enqueued *);
uint32_t ps_enqueued_dup(const struct ps_enqueued *, uint32_t);
int	 ps_get_attrs(const uint8_t *, uint16_t, int, struct ps_attrs *,
	     const char **, char *);

/* failure.c: an event's failures, as bytes (version 5). */
uint8_t		*ps_failure_put(uint8_t *, const struct ps_failure *);
const uint8_t	*ps_failure_get(const uint8_t *, struct ps_failure *);
int		 ps_failures_check(const uint8_t *, size_t, uint8_t, size_t *);

/* header.c: an event's headers (version 5). */
int	 ps_header_name_ok(const char *, size_t);
int	 ps_put_header(struct ps_buf *, const char *, size_t, const void *,
	     size_t);
int	 ps_headers_check(const uint8_t *, uint16_t, const char **, char *);
int	 ps_header_next(const uint8_t *, uint16_t, uint16_t *,
	     struct ps_header *);
int	 ps_header_find(const uint8_t *, uint16_t, const char *, size_t,
	     struct ps_header *);
int	 ps_get_demand(const struct ps_frame *, uint32_t *);
int	 ps_get_event(const struct ps_frame *, int, struct ps_event *);
int	 ps_get_ids(const struct ps_frame *, struct ps_ids *);
int	 ps_get_dead_ids(const struct ps_frame *, int, struct ps_queue *,
	     struct ps_ids *);
uint64_t ps_ids_at(const struct ps_ids *, uint32_t);
int	 ps_get_dead_list(const struct ps_frame *, int, struct ps_queue *,
	     uint32_t *);
int	 ps_get_dead_reply(const struct ps_frame *, int, struct ps_dead_reply *);
int	 ps_get_nack_error(const struct ps_frame *, struct ps_nack_error *);
int	 ps_get_job(const struct ps_frame *, struct ps_job_ask *);
int	 ps_get_job_reply(const struct ps_frame *, struct ps_job *);
const char *ps_job_state_name(int);
int	 ps_get_job_cancel(const struct ps_frame *, struct ps_cancel_ask *);
int	 ps_get_cancel_reply(const struct ps_frame *, struct ps_cancel_reply *);
void	 ps_cancel_reply_at(const struct ps_cancel_reply *, uint32_t,
	     uint64_t *, uint8_t *);
const char *ps_cancel_outcome_name(int);
int	 ps_get_ack_result(const struct ps_frame *, struct ps_ack_result *);
int	 ps_get_wait(const struct ps_frame *, struct ps_wait_ask *);
int	 ps_get_wait_reply(const struct ps_frame *, struct ps_wait_reply *);
int	 ps_get_jobs(const struct ps_frame *, struct ps_jobs_ask *);
int	 ps_get_jobs_reply(const struct ps_frame *, struct ps_jobs_reply *);
int	 ps_jobs_next(struct ps_jobs_reply *, struct ps_jobs_entry *);
int	 ps_dead_next(struct ps_dead_reply *, struct ps_dead *);
int	 ps_get_dead_done(const struct ps_frame *, uint32_t *);
int	 ps_get_stats(const struct ps_frame *, int, struct ps_queue *);
int	 ps_get_queues(const struct ps_frame *, uint32_t *);
int	 ps_get_queues_reply(const struct ps_frame *, struct ps_queues *);
void	 ps_queues_free(struct ps_queues *);
int	 ps_get_task_stats(const struct ps_frame *, struct ps_queue *,
	     uint32_t *);
int	 ps_get_task_stats_reply(const struct ps_frame *,
	     struct ps_task_stats *);
void	 ps_task_stats_free(struct ps_task_stats *);
int	 ps_get_queue_admin(const struct ps_frame *, struct ps_queue_admin *);
int	 ps_queue_admin_next(struct ps_queue_admin *, const char **,
	     size_t *);
int	 ps_get_queue_done(const struct ps_frame *, uint64_t *);
int	 ps_get_stats_reply(const struct ps_frame *, struct ps_stats *);
void	 ps_stats_free(struct ps_stats *);
int	 ps_get_error(const struct ps_frame *, struct ps_error *);

/*
 * An incremental decoder over a stream: feed bytes however they were split,
 * take whole frames out.  A frame stays valid until the next feed/space.
 */
struct ps_decoder {
	struct ps_buf	 in;
	size_t		 off;		/* first byte not yet consumed */
	uint32_t	 max_frame;
	size_t		 limit;		/* unconsumed bytes at most; 0: none */
};

void	 ps_decoder_init(struct ps_decoder *, uint32_t);
void	 ps_decoder_free(struct ps_decoder *);
int	 ps_decoder_feed(struct ps_decoder *, const void *, size_t);
void	 ps_decoder_limit(struct ps_decoder *, size_t);
uint8_t	*ps_decoder_space(struct ps_decoder *, size_t, size_t *);
int	 ps_decoder_full(const struct ps_decoder *);
void	 ps_decoder_commit(struct ps_decoder *, size_t);
int	 ps_decoder_peek(const struct ps_decoder *, struct ps_frame *);
void	 ps_decoder_skip(struct ps_decoder *, const struct ps_frame *);
int	 ps_decoder_next(struct ps_decoder *, struct ps_frame *);
size_t	 ps_decoder_pending(const struct ps_decoder *);

#endif
