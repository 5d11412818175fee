/*
 * periodic.h: the daemon's schedules (SCHEDULE, docs/scheduling.md), as
 * plain data: each a rule (a cron rule in a zone, or an interval), a
 * queue and an event, kept in the order they were added, by name, and in
 * a heap by their next tick.  Which ticks are due at an instant, and
 * which of them fire under the catch-up policy, is decided here; firing
 * one (an ENQUEUE), loading a zone and keeping the schedules on disk are
 * the daemon's (schedules.c).  No I/O, no clock: the caller gives the
 * time.
 */
#ifndef PS_PERIODIC_H
#define PS_PERIODIC_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "cron.h"

#define PERIODIC_CATCHUP_MAX	1000	/* ticks catch-up=all fires at once */
#define PERIODIC_WALK_MAX	10000	/* cron ticks walked one by one */
#define PERIODIC_NEXT		5	/* next fire times an entry shows */

enum { RULE_CRON = 1, RULE_EVERY = 2 };
enum { CATCHUP_NONE = 0, CATCHUP_LAST = 1, CATCHUP_ALL = 2 };

/*
 * One schedule: its rule, its progress, and in data[] its name, queue,
 * rule text and zone name (each NUL-terminated) and its event (u32 len,
 * u16 attrs_len, attributes, payload: as in a SCHEDULE).
 */
struct schedule {
	TAILQ_ENTRY(schedule)	 entry;		/* in the order added */
	struct schedule		*hnext;		/* by name */
	struct cron		 cron;
	const struct tzfile	*tz;		/* RULE_CRON; NULL: UTC */
	uint64_t		 every;		/* RULE_EVERY: ms */
	uint64_t		 created;	/* wall ms */
	uint64_t		 after;		/* ticks after this are due */
	uint64_t		 last;		/* the latest tick handled; 0 */
	uint64_t		 last_id;	/* its event's id; 0 */
	uint64_t		 fired;
	uint64_t		 skipped;
	uint64_t		 next;		/* its next tick; UINT64_MAX */
	uint32_t		 gen;		/* its heap entry's */
	uint32_t		 refs;		/* heap entries naming it */
	uint32_t		 elen;
	uint16_t		 rlen;
	uint8_t			 kind;		/* RULE_* */
	uint8_t			 catchup;	/* CATCHUP_* */
	uint8_t			 unique;
	uint8_t			 paused;
	uint8_t			 gone;		/* removed; freed at refs 0 */
	uint8_t			 nlen;
	uint8_t			 qlen;
	uint8_t			 tzlen;
	char			 data[];
};

#define SCHED_NAME(s)	((s)->data)
#define SCHED_QUEUE(s)	((s)->data + (s)->nlen + 1)
#define SCHED_RULE(s)	(SCHED_QUEUE(s) + (s)->qlen + 1)
#define SCHED_TZ(s)	(SCHED_RULE(s) + (s)->rlen + 1)
#define SCHED_EVENT(s)	((const uint8_t *)SCHED_TZ(s) + (s)->tzlen + 1)

/* A definition, as an ADD gives it (or DIR/schedules has it). */
struct sched_def {
	const char		*name;
	size_t			 nlen;
	const char		*queue;
	size_t			 qlen;
	uint8_t			 kind;		/* 0: none given yet */
	struct cron		 cron;
	uint64_t		 every;		/* ms */
	const char		*rule;		/* as given */
	size_t			 rlen;
	const char		*tzname;	/* NULL: none given */
	size_t			 tzlen;
	const struct tzfile	*tz;		/* loaded by the caller */
	int			 catchup;	/* -1: not given */
	int			 unique;	/* -1: not given */
	int			 paused;	/* -1: not given */
	unsigned		 seen;		/* settings given: 1 << i */
	const uint8_t		*event;		/* u32 len, u16 alen, ... */
	uint32_t		 elen;
};

struct periodic_slot {
	uint64_t		 at;
	struct schedule		*s;
	uint32_t		 gen;
};

/*
 * What the daemon does for a tick: fire enqueues s's event for tick (ms)
 * and says 1 if the queue took it (setting s->last_id), 0 if not;
 * handled says s's progress changed (to keep it).
 */
struct periodic_hooks {
	int			(*fire)(void *, struct schedule *, uint64_t);
	void			(*handled)(void *, struct schedule *);
	void			*arg;
};

struct periodic {
	TAILQ_HEAD(, schedule)	 list;
	struct schedule		**hash;
	uint64_t		 hmask;
	size_t			 count;
	struct periodic_slot	*heap;
	size_t			 nheap;
	size_t			 cap;
	size_t			 stale;		/* slots of no schedule now */
	uint64_t		 fired;		/* every schedule's, for STATS */
	uint64_t		 skipped;
	size_t			 bytes;		/* their memory, as allocated */
};

void	 periodic_init(struct periodic *);
void	 periodic_free(struct periodic *);
int	 periodic_setting(struct sched_def *, const char *, size_t, char *,
	     size_t);
int	 periodic_known(const char *, size_t);
int	 periodic_check(const struct sched_def *, char *, size_t);
struct schedule *periodic_find(const struct periodic *, const char *,
	     size_t);
int	 periodic_same(const struct schedule *, const struct sched_def *);
struct schedule *periodic_add(struct periodic *, const struct sched_def *,
	     struct schedule *, uint64_t);
void	 periodic_remove(struct periodic *, struct schedule *);
int	 periodic_reslot(struct periodic *, struct schedule *);
int	 periodic_pause(struct periodic *, struct schedule *, int);
size_t	 periodic_run(struct periodic *, uint64_t, int,
	     const struct periodic_hooks *, size_t);
uint64_t periodic_tick_after(const struct schedule *, uint64_t);
size_t	 periodic_upcoming(const struct schedule *, uint64_t *, size_t);
int	 periodic_wake(const struct periodic *, uint64_t *);

#endif
