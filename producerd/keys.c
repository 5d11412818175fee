/*
 * keys.c: key order (docs/dispatch.md).  For a group in key mode: which
 * keys have an event in flight, and, behind each, the events of that key
 * taken off the buffer while it was busy, in order.  Plain C, no I/O: the
 * dispatcher (dispatch.c) asks and tells; a key that has nothing in
 * flight and nothing waiting is forgotten.
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "hash.h"
#include "keys.h"

struct kslot {
	struct kslot	*next;		/* hash chain */
	struct qevents	 waiting;	/* behind the one in flight */
	uint32_t	 nwaiting;
	int		 busy;		/* one in flight */
	uint8_t		 klen;
	unsigned char	 key[];
};

void
keys_init(struct keys *k)
{
	memset(k, 0, sizeof *k);
	TAILQ_INIT(&k->order);
}

#define KSLOT_KEY(s)	((s)->key)
#define KSLOT_LEN(s)	((s)->klen)
CHAIN_GENERATE(kchain, struct kslot, next, fnv1a64, KSLOT_KEY, KSLOT_LEN)

static struct kslot **
find(struct keys *k, const struct qevent *ev)
{
	struct kslot	**pp;

	if (k->hash == NULL)
		return NULL;
	pp = kchain_find(k->hash, k->mask, ev->key, ev->klen);
	return *pp != NULL ? pp : NULL;
}

/* ev's key's slot, made if new; NULL out of memory. */
static struct kslot *
get(struct keys *k, const struct qevent *ev)
{
	struct kslot	**pp, *s;

	if ((pp = find(k, ev)) != NULL)
		return *pp;
	if ((k->hash == NULL || k->n >= k->mask + 1) &&
	    kchain_grow(&k->hash, &k->mask) != 0)
		return NULL;
	if ((s = calloc(1, sizeof *s + ev->klen)) == NULL)
		return NULL;
	TAILQ_INIT(&s->waiting);
	s->klen = ev->klen;
	memcpy(s->key, ev->key, ev->klen);
	kchain_insert(k->hash, k->mask, s);
	k->n++;
	return s;
}

/* Forget the slot pp points at when nothing holds it. */
static void
gc(struct keys *k, struct kslot **pp)
{
	struct kslot	*s = *pp;

	if (s->busy || s->nwaiting != 0)
		return;
	*pp = s->next;
	free(s);
	k->n--;
}

/* Has ev's key an event in flight? */
int
keys_busy(struct keys *k, const struct qevent *ev)
{
	struct kslot	**pp;

	return (pp = find(k, ev)) != NULL && (*pp)->busy;
}

/* ev waits behind its key's event in flight; -1 out of memory. */
int
keys_wait(struct keys *k, struct qevent *ev)
{
	struct kslot	*s;

	if ((s = get(k, ev)) == NULL)
		return -1;
	TAILQ_INSERT_TAIL(&s->waiting, ev, entry);
	TAILQ_INSERT_TAIL(&k->order, ev, tentry);
	s->nwaiting++;
	k->nwaiting++;
	k->waiting_bytes += ev->len;
	return 0;
}

/* A waiting event of s leaves it. */
static void
unwait(struct keys *k, struct kslot *s, struct qevent *ev)
{
	TAILQ_REMOVE(&s->waiting, ev, entry);
	TAILQ_REMOVE(&k->order, ev, tentry);
	s->nwaiting--;
	k->nwaiting--;
	k->waiting_bytes -= ev->len;
}

/* ev goes out: its key is in flight; -1 out of memory. */
int
keys_take(struct keys *k, const struct qevent *ev)
{
	struct kslot	*s;

	if ((s = get(k, ev)) == NULL)
		return -1;
	s->busy = 1;
	return 0;
}

/*
 * ev, its key's event in flight, is done with (acked, dead, or sent at
 * most once): the key's next waiting event, to go out next, or NULL.
 */
struct qevent *
keys_done(struct keys *k, const struct qevent *ev)
{
	struct kslot	**pp, *s;
	struct qevent	 *next;

	if ((pp = find(k, ev)) == NULL)
		return NULL;
	s = *pp;
	s->busy = 0;
	if ((next = TAILQ_FIRST(&s->waiting)) != NULL)
		unwait(k, s, next);
	gc(k, pp);
	return next;
}

/*
 * The oldest waiting event, taken away (drop-oldest makes room), or NULL;
 * its key stays in flight.
 */
struct qevent *
keys_shed(struct keys *k)
{
	struct kslot	**pp;
	struct qevent	 *ev;

	if ((ev = TAILQ_FIRST(&k->order)) == NULL ||
	    (pp = find(k, ev)) == NULL)
		return NULL;
	unwait(k, *pp, ev);
	return ev;
}

/* ev, waiting behind its key, leaves it (cancelled). */
void
keys_remove(struct keys *k, struct qevent *ev)
{
	struct kslot	**pp;

	if ((pp = find(k, ev)) == NULL)
		return;
	unwait(k, *pp, ev);
	gc(k, pp);
}

/*
 * ev's key has none in flight but events waiting: ev, given back ahead of
 * them, went another way (cancelled, shed).  The first of them, taken
 * (it goes first in the buffer in ev's place); else NULL.
 */
struct qevent *
keys_idle_next(struct keys *k, const struct qevent *ev)
{
	struct kslot	**pp;
	struct qevent	 *next;

	if ((pp = find(k, ev)) == NULL || (*pp)->busy ||
	    (next = TAILQ_FIRST(&(*pp)->waiting)) == NULL)
		return NULL;
	unwait(k, *pp, next);
	gc(k, pp);
	return next;
}

/* ev, its key's event in flight, came back to the buffer: it goes first. */
void
keys_back(struct keys *k, const struct qevent *ev)
{
	struct kslot	**pp;

	if ((pp = find(k, ev)) == NULL)
		return;
	(*pp)->busy = 0;
	gc(k, pp);
}

/* Every waiting event handed to fn, in no order; keys in flight stay. */
void
keys_drain(struct keys *k, void (*fn)(void *, struct qevent *), void *arg)
{
	struct kslot	**pp;
	struct qevent	 *ev;
	uint64_t	  i;

	for (i = 0; k->hash != NULL && i <= k->mask; i++) {
		for (pp = &k->hash[i]; *pp != NULL; ) {
			while ((ev = TAILQ_FIRST(&(*pp)->waiting)) != NULL) {
				unwait(k, *pp, ev);
				fn(arg, ev);
			}
			if ((*pp)->busy)
				pp = &(*pp)->next;
			else
				gc(k, pp);
		}
	}
}

/* Every waiting event, handed to fn, in no order; the keys forgotten. */
void
keys_free(struct keys *k, void (*fn)(void *, struct qevent *), void *arg)
{
	struct kslot	*s, *next;
	struct qevent	*ev;
	uint64_t	 i;

	for (i = 0; k->hash != NULL && i <= k->mask; i++) {
		for (s = k->hash[i]; s != NULL; s = next) {
			next = s->next;
			while ((ev = TAILQ_FIRST(&s->waiting)) != NULL) {
				TAILQ_REMOVE(&s->waiting, ev, entry);
				fn(arg, ev);
			}
			free(s);
		}
	}
	free(k->hash);
	keys_init(k);
}
