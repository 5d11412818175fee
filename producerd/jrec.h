/*
 * jrec.h: the journal's records as bytes, with no I/O, as proto/ is for
 * frames: a segment's header, a record's header and CRC32C framing, and
 * each record's body, written into a ps_buf and read back from bytes.
 * journal.c writes what this encodes; replay.c and rgroups.c apply what
 * it decodes.  The format is in docs/journal.md.
 */
#ifndef PS_JREC_H
#define PS_JREC_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define JOURNAL_MAGIC		"pushstgj"
#define JOURNAL_VERSION		1
#define JOURNAL_SEG_HEAD	40	/* a segment file's header */
#define JOURNAL_REC_HEAD	16	/* a record's header */

/* Record types. */
enum {
	JREC_ENQUEUE = 1,	/* u64 first id, then { u32 len, bytes }... */
	JREC_DELIVER = 2,	/* u64 id...: each sent once more */
	JREC_DONE = 3,		/* u64 id...: acked, shed or dropped */
	JREC_DEAD = 4,		/* { u64 id, u32 attempts, u32 len, u8
				   reason, bytes }...: to the dead list */
	JREC_RETRY = 5,		/* u64 id...: dead letters back, attempts 0 */
	JREC_QENQUEUE = 6,	/* u8 len, queue, then as ENQUEUE */
	JREC_QDEAD = 7,		/* u8 len, queue, then as DEAD */
	/* A group: u8 len, queue, u8 len, group (0: the shared one), ... */
	JREC_GROUP = 8,		/* ... u64 from: made, gets ids >= from */
	JREC_GROUP_DROP = 9,	/* ...: dropped */
	JREC_GROUPS = 10,	/* u8 len, queue, u8 n, then n x (u8 len,
				   group, u64 from): its groups now */
	JREC_GDELIVER = 11,	/* group as above, then as DELIVER */
	JREC_GDONE = 12,	/* ... as DONE */
	JREC_GRETRY = 13,	/* ... as RETRY */
	JREC_GDEAD = 14,	/* ... then { u64 id, u32 attempts, u8
				   reason }...: its payload stays where it was
				   enqueued */
	/* Events with keys (0 for none, else the key's length + 1). */
	JREC_KENQUEUE = 15,	/* u8 len, queue, u64 first id, then { u32
				   len, u8 k, key, bytes }... */
	JREC_KDEAD = 16,	/* u8 len, queue, then { u64 id, u32
				   attempts, u32 len, u8 reason, u8 k, key,
				   bytes }... */
	/*
	 * Events with a due time, a priority or a unique id: u8 len, queue,
	 * u64 first id, then { u32 len, u16 alen, attributes as in an
	 * ENQUEUE (the due time as NOT_BEFORE), bytes }...
	 */
	JREC_XENQUEUE = 17,
	/*
	 * Compaction's copy of a pending event, its attempts as they are:
	 * u8 len, queue, then { u64 id, u32 attempts, u32 len, u16 alen,
	 * attributes, bytes }...
	 */
	JREC_KEEP = 18,
	/*
	 * The same for an event of a queue with named groups: u8 len, queue,
	 * then { u64 id, u32 len, u16 alen, attributes, bytes, u8 n, then n
	 * times { u8 len, group, u32 attempts, u8 dead, u8 reason } }...: the
	 * groups that hold it, and how.
	 */
	JREC_GKEEP = 19,
	/*
	 * Unique ids carried forward from a segment being deleted: u8 len,
	 * queue, then { u64 event id, u64 expires (wall ms; 0: its event
	 * was live), u8 len, id }...
	 */
	JREC_UIDS = 20,
	/*
	 * A dead letter with its attributes (a key of any length, headers):
	 * u8 len, queue, then { u64 id, u32 attempts, u8 reason, u32 len,
	 * u16 alen, attributes, bytes }...
	 */
	JREC_XDEAD = 21,
	/*
	 * An event's failures now, all of them (the newest record of an
	 * event says what it has; n 0: none): u8 len, queue, u8 len, group
	 * (0: the shared one), then { u64 id, u8 n, n times { u64 at (wall
	 * ms), u32 attempt, u8 len, consumer, u16 len, error } }...
	 */
	JREC_FAIL = 22,
	/*
	 * Done events' records kept (keep-done): u8 len, queue, u8 len,
	 * group (0: the shared one), then { u64 id, u64 at (wall ms, when
	 * it was done), u32 attempts, u32 len, result }...
	 */
	JREC_KEPT = 23,
};
#define JREC_MAX	JREC_KEPT
#define JREC_FAILS_MAX	3		/* failures an entry holds */

/* One group's hold on an event, for writing a GKEEP record. */
struct jhold {
	const char	*group;		/* "": the shared one */
	uint32_t	 attempts;
	uint8_t		 dead;
	uint8_t		 reason;
};

/* The same, read back: the name in place, not NUL-terminated. */
struct jrec_hold {
	const char	*group;
	uint8_t		 glen;		/* 0: the shared group */
	uint32_t	 attempts;
	uint8_t		 dead;
	uint8_t		 reason;
};

/*
 * A record: its type and what its body says before its entries.  To
 * write one, fill the fields its type has; read back, the names point
 * into the bytes.  A record that names no queue is the default queue's.
 */
struct jrec {
	int		 type;
	const char	*queue;
	uint8_t		 qlen;
	const char	*group;		/* records 8, 9, 11 to 14 */
	uint8_t		 glen;		/* 0: the shared group */
	uint64_t	 first_id;	/* the ENQUEUEs: the first event's */
	uint64_t	 from;		/* GROUP */
	uint8_t		 n;		/* GROUPS: entries */

	/* Reading. */
	const uint8_t	*body;
	uint32_t	 len;		/* the body's; the record is
					   JOURNAL_REC_HEAD more */
	uint32_t	 off;		/* the next entry */
	uint64_t	 next_id;	/* its id, in the ENQUEUEs */
	uint8_t		 left;		/* GROUPS: entries not read */
	const char	*why;		/* a bad entry: what is wrong */
};

/*
 * One entry of a record: an event, an id, a group of GROUPS or a unique
 * id of UIDS, with the fields its type has (the others 0 or NULL).
 */
struct jrec_entry {
	uint64_t	 id;
	uint32_t	 attempts;	/* DEAD, KEEP, GDEAD */
	uint8_t		 reason;	/* DEAD, GDEAD */
	const uint8_t	*data;		/* the payload */
	uint32_t	 len;
	const uint8_t	*key;		/* NULL: none */
	uint8_t		 klen;
	const uint8_t	*hdr;		/* headers: HEADER attributes */
	uint16_t	 hlen;
	uint16_t	 prio;		/* PS_PRIORITY_DEFAULT unless given */
	uint64_t	 due;		/* wall ms; 0: ready; KEPT: done */
	const uint8_t	*uid;		/* NULL: none */
	uint8_t		 ulen;
	uint64_t	 expires;	/* UIDS */
	const char	*group;		/* GROUPS, in place */
	uint8_t		 glen;
	uint64_t	 from;		/* GROUPS */
	/* GKEEP: writing, holds[nholds]; read back, jrec_hold from hold. */
	const struct jhold *holds;
	const uint8_t	*hold;
	uint8_t		 nholds;
	/* FAIL: writing, fails[nfails]; read back, ps_failure_get from fail. */
	const struct ps_failure *fails;
	const uint8_t	*fail;
	uint8_t		 nfails;
};

/* Writing, into a ps_buf: begin, start, put each entry, end. */
int		 jrec_begin(struct ps_buf *, size_t *);
int		 jrec_start(struct ps_buf *, const struct jrec *);
int		 jrec_put(struct ps_buf *, int, const struct jrec_entry *);
void		 jrec_end(struct ps_buf *, size_t, int);
void		 jrec_seg_put(uint8_t *, uint64_t, uint64_t);
size_t		 jrec_attrs_size(const struct jrec_entry *);

/* Reading: NULL, or what is wrong. */
const char	*jrec_seg_get(const uint8_t *, size_t, uint64_t *, uint64_t *);
int		 jrec_head_len(const uint8_t *, uint32_t *);
const char	*jrec_decode(struct jrec *, const uint8_t *, size_t);
const char	*jrec_body(struct jrec *, int, const uint8_t *, uint32_t);
int		 jrec_next(struct jrec *, struct jrec_entry *);
const uint8_t	*jrec_hold(const uint8_t *, struct jrec_hold *);

#endif
