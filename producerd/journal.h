/*
 * journal.h: the durable queue.  Every change to an event's fate is a
 * record appended to a segment file in --data-dir; on start the records
 * are read back (replay.c) to rebuild the buffer and the dead letters.
 * The records' bytes are jrec.c's; the format is in docs/journal.md.
 */
#ifndef PS_JOURNAL_H
#define PS_JOURNAL_H

#include <stdint.h>

#include "dispatch.h"
#include "frame.h"
#include "idmap.h"
#include "jrec.h"

#define JOURNAL_REC_SOFT	(1u << 20) /* records grow to about this */
#define JOURNAL_SEGMENT_SIZE	(64ull << 20)	/* --segment-size */
#define JOURNAL_SEGMENT_MIN	4096ull
#define JOURNAL_WRITE_AT	(1u << 20) /* written early past this */
#define JOURNAL_RESERVE_MIN	(4ull << 20)

/* A live event's bytes, about, for the bound on disk use: a record's. */
#define JOURNAL_LIVE_OVERHEAD	16

struct journal;

/*
 * replay's way to the daemon's queues: make the queue (name, length) have
 * exactly the n groups named ("" the shared one), each getting the ids
 * from from[i] on, and put their dispatchers in out[]; -1 only out of
 * memory.  The first leads (dispatch.h).
 */
typedef int (*journal_queue_fn)(void *, const char *, size_t, size_t,
    const char * const *, const uint64_t *, struct dispatch **);

/* The groups to write at a new segment's start (JREC_GROUPS). */
typedef int (*journal_groups_fn)(void *, struct journal *);

/*
 * Before segments up to seq are deleted: write the unique ids whose
 * records are there (journal_carry_uniq for each queue); -1 out of memory.
 */
typedef int (*journal_carry_fn)(void *, struct journal *, uint64_t);

struct kept;
struct uniq;

enum journal_fsync {
	JOURNAL_BATCH,		/* one fsync per loop iteration */
	JOURNAL_ALWAYS,		/* one fsync per frame that changed anything */
	JOURNAL_INTERVAL,	/* fsync on a timer */
	JOURNAL_NEVER,		/* the OS decides */
};

/* One segment file, oldest first; the last takes the appends. */
struct jsegment {
	uint64_t	 seq;		/* its file name, in decimal */
	uint64_t	 first_id;	/* ids enqueued here start at this */
	uint64_t	 bytes;		/* the file's size */
	uint64_t	 live;		/* events whose copy is here */
	uint64_t	 written;	/* copies written here in all */
	uint64_t	 uids;		/* bytes of UIDS entries here */
};

struct journal {
	uint64_t		*next_id;	/* the daemon's ids */
	char			*dir;
	int			 dirfd;		/* flocked: ours alone */
	int			 fd;		/* the last segment, appending */
	enum journal_fsync	 fsync;
	uint32_t		 interval_ms;
	uint64_t		 segment_size;
	int			 repair;

	struct jsegment		*segs;
	size_t			 nsegs;
	size_t			 capsegs;
	/* Events whose copy is not in their ENQUEUE's segment: id -> seq. */
	struct idmap		 moved;
	/*
	 * Named groups' charges that compaction moved: id -> seq, and in
	 * the top 16 bits how many groups are charged there.
	 */
	struct idmap		 gmoved;

	struct ps_buf		 buf;		/* records not yet written */
	size_t			 rec;		/* the open record's offset */
	int			 rec_type;	/* 0: none open */
	char			 rec_queue[PS_QUEUE_MAX + 1]; /* its queue */
	char			 rec_group[PS_QUEUE_MAX + 1]; /* its group */
	journal_groups_fn	 groups;	/* NULL: no groups to write */
	void			*groups_arg;
	journal_carry_fn	 carry;		/* NULL: no unique ids kept */
	void			*carry_arg;
	uint64_t		 rec_next_id;	/* ENQUEUE: the id that fits */
	int			 failed;	/* out of memory: a record lost */
	int			 unsynced;	/* written, not fsynced */
	int			 must_sync;	/* an ENQUEUE since the last */
	int			 enqueued;	/* ENQUEUE records unwritten */
	uint64_t		 reserve;	/* bytes held back in DIR/reserve */
	int			 full;		/* no room: take no events */
	uint64_t		 full_total;	/* times it filled */

	uint64_t		 bytes;		/* every segment's */
	uint64_t		 live_bytes;	/* live events' copies, about:
						   one per charge */
	uint64_t		 uids_bytes;	/* every segment's uids */
	uint64_t		 compact_skip;	/* a segment compaction cannot
						   empty (groups' events) */
	uint64_t		 compacted_total; /* events copied forward */
	uint64_t		 fsyncs_total;
	uint64_t		 last_fsync_us;
	uint64_t		 replayed;	/* events read back at start */
	uint64_t		*reburied;	/* replay buried these */
	struct dispatch		**reburied_in;	/* in these queues */
	size_t			 nreburied;
	size_t			 capreburied;
};

int	 journal_open(struct journal *, const char *, journal_queue_fn,
	     void *);
void	 journal_close(struct journal *);
uint64_t journal_live_size(uint32_t, uint32_t);
void	 journal_change(struct journal *, const char *, const char *,
	     uint32_t, uint32_t, enum dispatch_change, const struct qevent *);
int	 journal_group(struct journal *, int, const char *, const char *,
	     uint64_t);
int	 journal_groups(struct journal *, const char *, uint8_t,
	     const char * const *, const uint64_t *);
int	 journal_commit(struct journal *);
int	 journal_keep(struct journal *, const char *, const struct qevent *,
	     uint64_t, const uint8_t *, uint8_t);
int	 journal_gkeep(struct journal *, const char *, const struct qevent *,
	     uint64_t, const uint8_t *, uint8_t, const struct jhold *,
	     uint8_t, int, uint32_t);
size_t	 journal_gseg_of(const struct journal *, uint64_t);
int	 journal_gmoved_add(struct journal *, uint64_t, uint64_t);
int	 journal_compact_wanted(const struct journal *);
int	 journal_uids(struct journal *, const char *, uint64_t, uint64_t,
	     const uint8_t *, uint8_t);
int	 journal_carry_kept(struct journal *, const char *, const char *,
	     struct kept *, uint64_t);
int	 journal_carry_uniq(struct journal *, const char *, struct uniq *,
	     uint64_t, uint64_t);
int	 journal_sync(struct journal *);
int	 journal_dirty(const struct journal *);
int	 journal_room(struct journal *);

/* Shared with replay.c. */
int	 journal_seg_add(struct journal *, uint64_t, uint64_t, uint64_t);
size_t	 journal_seg_of(const struct journal *, uint64_t);
size_t	 journal_seg_first(const struct journal *, uint64_t);
int	 journal_seg_path(const struct journal *, uint64_t, char *, size_t);

/* compact.c: the daemon's journal_carry_fn. */
int	 server_carry(void *, struct journal *, uint64_t);

/* replay.c */
int	 replay_run(struct journal *, journal_queue_fn, void *);

#endif
