/*
 * uniq.c: unique ids, in a chained hash by id bytes (FNV-1a), with an id
 * map from event id to entry for the events still live, and a list of
 * the windows running, which end in the order they started while the
 * window setting stays the same (a changed window is honoured at lookup;
 * the list only frees memory).
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "hash.h"
#include "uniq.h"

void
uniq_init(struct uniq *u)
{
	memset(u, 0, sizeof *u);
	idmap_init(&u->byid);
	u->wtail = &u->whead;
}

void
uniq_free(struct uniq *u)
{
	struct uentry	*e, *next;
	uint64_t	 i;

	for (i = 0; u->hash != NULL && i <= u->mask; i++) {
		for (e = u->hash[i]; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(u->hash);
	idmap_free(&u->byid);
	uniq_init(u);
}

#define UENTRY_KEY(e)	((e)->uid)
#define UENTRY_LEN(e)	((e)->len)
CHAIN_GENERATE(uchain, struct uentry, hnext, fnv1a32, UENTRY_KEY, UENTRY_LEN)

static struct uentry **
slot(struct uniq *u, const void *uid, uint8_t len)
{
	return uchain_find(u->hash, u->mask, uid, len);
}

/* Take entry *e out (its window over) and free it. */
static void
unlink_entry(struct uniq *u, struct uentry **e)
{
	struct uentry	*x = *e;

	*e = x->hnext;
	u->count--;
	free(x);
}

/* e's window runs: on the list, unless it is on it still. */
static void
list_add(struct uniq *u, struct uentry *e)
{
	if (e->listed)
		return;
	e->listed = 1;
	e->wnext = NULL;
	*u->wtail = e;
	u->wtail = &e->wnext;
}

/*
 * Windows over by now end (their entries go), oldest first, as far as
 * the list is in order.  An entry live again (its id enqueued after its
 * window ended, before this sweep) just leaves the list.
 */
void
uniq_sweep(struct uniq *u, uint64_t now)
{
	struct uentry	*e;

	while ((e = u->whead) != NULL && e->expires <= now) {
		if ((u->whead = e->wnext) == NULL)
			u->wtail = &u->whead;
		e->listed = 0;
		if (e->expires != 0)
			unlink_entry(u, slot(u, e->uid, e->len));
	}
}

/* 1: uid is held now (its event live, or its window running). */
int
uniq_seen(struct uniq *u, const void *uid, uint8_t len, uint64_t now)
{
	struct uentry	*e;

	if (u->count == 0)
		return 0;
	if ((e = *slot(u, uid, len)) == NULL)
		return 0;
	return e->expires == 0 || e->expires > now;
}

/* The event uid is held for, if any (done or not): its id, or 0. */
uint64_t
uniq_id(struct uniq *u, const void *uid, uint8_t len)
{
	struct uentry	*e;

	if (u->count == 0 || (e = *slot(u, uid, len)) == NULL)
		return 0;
	return e->id;
}

/*
 * uid is held for event id, live in refs groups; with refs 0, its window
 * runs until expires (replay: an event done before the restart).  An
 * entry whose window is over is replaced.  -1 out of memory.
 */
int
uniq_add(struct uniq *u, const void *uid, uint8_t len, uint64_t id,
    uint32_t refs, uint64_t expires)
{
	struct uentry	**s, *e;

	if ((u->hash == NULL || u->count > u->mask) &&
	    uchain_grow(&u->hash, &u->mask) != 0)
		return -1;
	if (*(s = slot(u, uid, len)) != NULL) {
		/* An ended window, not swept yet: it takes the new id. */
		e = *s;
		if (e->expires == 0 || refs == 0)
			return 0;
	} else {
		if ((e = malloc(sizeof *e + len)) == NULL)
			return -1;
		memset(e, 0, sizeof *e);
		e->len = len;
		memcpy(e->uid, uid, len);
		e->expires = UINT64_MAX;	/* on no window list */
		*s = e;
		u->count++;
	}
	e->id = id;
	e->refs = refs;
	e->seq = 0;
	if (refs == 0) {
		e->expires = expires;
		list_add(u, e);
		return 0;
	}
	if (idmap_put(&u->byid, id, (uint64_t)(uintptr_t)e) != 0) {
		if (e->expires == UINT64_MAX)
			unlink_entry(u, s);
		return -1;
	}
	e->expires = 0;
	return 0;
}

/*
 * One group is done with event id (acked, shed, dropped): when it was the
 * last, the id's window (ms, the queue's now) starts, or with none the id
 * is free at once.
 */
void
uniq_gone(struct uniq *u, uint64_t id, uint64_t now, uint64_t window)
{
	struct uentry	*e;
	uint64_t	 v;

	if (!idmap_get(&u->byid, id, &v))
		return;
	e = (struct uentry *)(uintptr_t)v;
	if (--e->refs != 0)
		return;
	idmap_del(&u->byid, id);
	if (window == 0) {
		unlink_entry(u, slot(u, e->uid, e->len));
		return;
	}
	e->expires = now + window;
	list_add(u, e);
}

/* Event id was never taken after all: its id is free again. */
void
uniq_forget(struct uniq *u, uint64_t id)
{
	struct uentry	*e;
	uint64_t	 v;

	if (!idmap_get(&u->byid, id, &v))
		return;
	e = (struct uentry *)(uintptr_t)v;
	idmap_del(&u->byid, id);
	if (!e->listed)
		unlink_entry(u, slot(u, e->uid, e->len));
	else
		e->expires = 1;		/* long over: the sweep frees it */
}

/* The unique id of live event id: 1 and it, or 0 when it has none. */
int
uniq_of(const struct uniq *u, uint64_t id, const uint8_t **uid, uint8_t *len)
{
	const struct uentry	*e;
	uint64_t		 v;

	if (!idmap_get(&u->byid, id, &v))
		return 0;
	e = (const struct uentry *)(uintptr_t)v;
	*uid = e->uid;
	*len = e->len;
	return 1;
}

/*
 * Live event id's unique id was copied into journal segment seq
 * (compaction's KEEP): its record is there now.
 */
void
uniq_moved(struct uniq *u, uint64_t id, uint64_t seq)
{
	uint64_t	 v;

	if (idmap_get(&u->byid, id, &v))
		((struct uentry *)(uintptr_t)v)->seq = seq;
}

/*
 * uid, held for event id, has its record in journal segment seq (replay
 * read it there); an entry held for another event keeps its own.
 */
void
uniq_place(struct uniq *u, const void *uid, uint8_t len, uint64_t id,
    uint64_t seq)
{
	struct uentry	*e;

	if (u->count != 0 && (e = *slot(u, uid, len)) != NULL && e->id == id)
		e->seq = seq;
}

/* Every entry held, live or in its window (the journal's carry). */
void
uniq_walk(struct uniq *u, uniq_walk_fn fn, void *arg)
{
	struct uentry	*e;
	uint64_t	 i;

	for (i = 0; u->hash != NULL && i <= u->mask; i++) {
		for (e = u->hash[i]; e != NULL; e = e->hnext)
			fn(arg, e);
	}
}
