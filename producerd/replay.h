/*
 * replay.h: what the two halves of reading the journal back share:
 * replay.c reads the files and applies the records of events, rgroups.c
 * the records of queues' groups and the restoring of queues that have
 * other groups than the shared one; jrec.c decodes the records for both.
 */
#ifndef PS_REPLAY_H
#define PS_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "idmap.h"
#include "journal.h"

enum { R_PENDING, R_DEAD, R_GONE };

/* The unit a power loss leaves unwritten: the smallest disk sector. */
#define TORN_SECTOR	512

/* One event as the records so far leave it (in its shared group). */
struct rentry {
	uint64_t	 id;
	const char	*queue;		/* its queue's name, in place */
	uint8_t		 qlen;
	const uint8_t	*data;		/* into its file's bytes */
	uint32_t	 len;
	const uint8_t	*key;		/* the same; NULL: none */
	int		 klen;		/* -1: none */
	const uint8_t	*hdr;		/* the same: its headers */
	uint16_t	 hlen;
	const uint8_t	*uid;		/* the same; NULL: none */
	uint8_t		 ulen;
	uint16_t	 prio;
	uint64_t	 due;		/* wall ms; 0: ready */
	uint32_t	 attempts;
	uint64_t	 died;		/* dead: order of its death */
	size_t		 file;		/* holds its latest copy */
	size_t		 efile;		/* holds its ENQUEUE record */
	size_t		 ufile;		/* holds the record with its uid */
	uint8_t		 state;
	uint8_t		 reason;
};

struct rrange {
	size_t		 off;
	size_t		 len;
};

struct rfile {
	uint64_t	 seq;
	char		 path[4096];
	uint8_t		*data;
	size_t		 size;
	uint64_t	 first_id;
	uint64_t	 last_id;	/* the last enqueued here, or 0 */
	uint64_t	 copies;	/* events' copies written here */
	uint64_t	 uids;		/* bytes of its UIDS entries */
	int		 dropped;	/* --repair: the whole file goes */
	int		 damaged;	/* --repair: rewrite with keep */
	struct rrange	*keep;		/* intact records, merged */
	size_t		 nkeep;
	size_t		 seg;		/* its index in the journal */
};

/* A unique id a UIDS record carried (docs/journal.md). */
struct ruid {
	const char	*queue;		/* in place */
	uint8_t		 qlen;
	uint64_t	 id;		/* its event's */
	uint64_t	 expires;	/* wall ms; 0: its event was live */
	const uint8_t	*uid;		/* in place */
	uint8_t		 ulen;
	size_t		 file;
};

/*
 * A FAIL entry (an event's failures as they were then), or a RETRY that
 * ended them (n 0), in file order (seq): the newest of an event's says.
 */
struct rfail {
	const char	*queue;		/* in place */
	uint8_t		 qlen;
	const char	*group;		/* in place; glen 0: the shared one */
	uint8_t		 glen;
	uint64_t	 id;
	uint64_t	 seq;
	const uint8_t	*fail;		/* jrec_failure's, in place */
	uint8_t		 n;
};

/* A KEPT entry read (keep-done), in place. */
struct rkept {
	const char	*queue;
	uint8_t		 qlen;
	const char	*group;		/* glen 0: the shared one */
	uint8_t		 glen;
	uint64_t	 id;
	uint64_t	 at;		/* done, wall ms */
	uint64_t	 seg;		/* its segment's seq */
	uint32_t	 attempts;
	uint32_t	 len;
	const uint8_t	*result;
};

struct replay {
	struct journal	*j;
	struct rfile	*files;
	size_t		 nfiles;
	struct rentry	*e;
	size_t		 n;
	size_t		 cap;
	struct idmap	 index;		/* id -> e[] */
	uint64_t	 max_id;
	uint64_t	 deaths;
	uint64_t	 dropped_bytes;
	uint64_t	 dropped_places;
	struct rqueue	*queues;	/* those whose groups were recorded */
	struct ruid	*uids;		/* UIDS entries, in file order */
	size_t		 nuids;
	size_t		 capuids;
	struct rfail	*fails;		/* sorted once read (replay_fails) */
	size_t		 nfails;
	size_t		 capfails;
	struct rkept	*kept;
	size_t		 nkept;
	size_t		 capkept;
};

/* A named group's state for one event, when not "pending, attempts 0". */
struct rgstate {
	uint64_t	 id;
	uint64_t	 died;		/* dead: order of its death */
	uint32_t	 attempts;
	uint8_t		 state;
	uint8_t		 reason;
};

/* A group as the records so far leave it. */
struct rgroup {
	char		 name[PS_QUEUE_MAX + 1];	/* "": the shared one */
	uint64_t	 from;		/* it gets the ids from this one */
	struct idmap	 index;		/* id -> st[], named groups only */
	struct rgstate	*st;
	size_t		 n;
	size_t		 cap;
	uint64_t	 deaths;
};

/* A queue whose groups the records say (others: the shared one, from 0). */
struct rqueue {
	struct rqueue	*next;
	char		 name[PS_QUEUE_MAX + 1];
	struct rgroup	*g;
	size_t		 ng;
};

struct rentry	*replay_find(struct replay *, uint64_t);
struct rentry	*replay_add(struct replay *, uint64_t);
void		 replay_pending(struct rentry *, const char *, uint8_t, uint32_t,
		     const struct jrec_entry *);
int		 replay_rebury(struct journal *, struct dispatch *, uint64_t);
int		 replay_event(struct dispatch *, const struct rentry *, uint32_t,
		     uint64_t);
int		 replay_uid(struct replay *, struct dispatch *,
		     const struct rentry *, uint32_t, uint64_t);
void		 replay_charged(struct journal *, const struct rentry *);
int		 replay_fails(struct replay *, struct dispatch *, const char *,
		     uint8_t, const char *, uint8_t, uint64_t);

/* rgroups.c */
int		 rgroups_apply(struct replay *, struct jrec *);
int		 rgroups_gkeep(struct replay *, size_t, struct jrec *);
struct rqueue	*rgroups_queue(const struct replay *, const char *, size_t);
struct dispatch	*rgroups_group(struct rqueue *, const char *, size_t,
		     journal_queue_fn, void *);
struct dispatch	*rgroups_lead(struct replay *, struct rqueue *, journal_queue_fn,
		     void *);
int		 rgroups_restore(struct replay *, journal_queue_fn, void *,
		     uint64_t *);
void		 rgroups_free(struct replay *);

#endif
