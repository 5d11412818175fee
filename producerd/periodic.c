/*
 * periodic.c: the schedules' table and the rule of their ticks: which
 * are due at an instant, and which of those fire (docs/scheduling.md,
 * "Missed ticks").  A schedule has one live slot in the heap, at its
 * next tick; a slot made stale by a change (gen) or a removal (gone) is
 * dropped when it comes up, and a removed schedule is freed once no slot
 * names it.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "chain.h"
#include "frame.h"
#include "hash.h"
#include "heap.h"
#include "periodic.h"

#define SLOT_BEFORE(a, b)	((a).at < (b).at)
HEAP_GENERATE(sheap, struct periodic_slot, SLOT_BEFORE)

#define SCHED_KEY(s)	((s)->data)
#define SCHED_LEN(s)	((size_t)(s)->nlen)
CHAIN_GENERATE(schain, struct schedule, hnext, fnv1a64, SCHED_KEY, SCHED_LEN)

#define DAY_MS		86400000ull
#define HEADERS_LEFT	2		/* headers the daemon adds to a tick */
/* Names and values of a schedule's headers: the rest are a tick's own,
 * pushstage-schedule (a name) and pushstage-tick (20 digits at most). */
#define HEADERS_ROOM	(PS_HEADERS_BYTES_MAX - (18 + PS_SCHED_NAME_MAX) - \
			 (14 + 20))

static const char *keys[] = { "cron", "every", "tz", "catch-up", "unique",
    "paused" };
#define NKEYS	(sizeof keys / sizeof keys[0])

void
periodic_init(struct periodic *p)
{
	memset(p, 0, sizeof *p);
	TAILQ_INIT(&p->list);
}

static size_t
sched_size(const struct schedule *s)
{
	return sizeof *s + (size_t)s->nlen + s->qlen + s->rlen + s->tzlen +
	    4 + s->elen;
}

static void
sched_free(struct periodic *p, struct schedule *s)
{
	p->bytes -= sched_size(s);
	free(s);
}

void
periodic_free(struct periodic *p)
{
	struct schedule	*s;
	size_t		 i;

	while ((s = TAILQ_FIRST(&p->list)) != NULL)
		periodic_remove(p, s);
	for (i = 0; i < p->nheap; i++) {
		if (--p->heap[i].s->refs == 0)
			sched_free(p, p->heap[i].s);
	}
	free(p->heap);
	free(p->hash);
	memset(p, 0, sizeof *p);
}

static int
yes_no(const char *v, size_t n)
{
	if (n == 3 && memcmp(v, "yes", 3) == 0)
		return 1;
	if (n == 2 && memcmp(v, "no", 2) == 0)
		return 0;
	return -1;
}

/*
 * One "KEY=VALUE" of an ADD into d: 0, or -1 and why (naming the key;
 * the caller says "bad SCHEDULE: ").  A time zone's name is only taken
 * here: the caller loads it.
 */
int
periodic_setting(struct sched_def *d, const char *s, size_t n, char *why,
    size_t len)
{
	const char	*eq, *v;
	size_t		 k, vn, i;
	int64_t		 secs;
	int		 b;
	char		 err[160];

	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			snprintf(why, len, "a setting is printable ASCII: "
			    "byte %zu of \"%.*s\" is not", i,
			    (int)(i > 32 ? 32 : i), s);
			return -1;
		}
	}
	if ((eq = memchr(s, '=', n)) == NULL) {
		snprintf(why, len, "a setting is KEY=VALUE, not \"%.*s\"",
		    (int)(n > 64 ? 64 : n), s);
		return -1;
	}
	k = (size_t)(eq - s);
	v = eq + 1;
	vn = n - k - 1;
	for (i = 0; i < NKEYS; i++) {
		if (strlen(keys[i]) == k && memcmp(keys[i], s, k) == 0)
			break;
	}
	if (i == NKEYS) {
		snprintf(why, len, "unknown setting \"%.*s\" (cron, every, "
		    "tz, catch-up, unique, paused)", (int)(k > 64 ? 64 : k), s);
		return -1;
	}
	if (d->seen & (1u << i)) {
		snprintf(why, len, "%s given twice", keys[i]);
		return -1;
	}
	d->seen |= 1u << i;
	switch (i) {
	case 0:
	case 1:
		if (d->kind != 0) {
			snprintf(why, len, "cron and every: a schedule has "
			    "one rule");
			return -1;
		}
		if (i == 0 && cron_parse(&d->cron, v, vn, err,
		    sizeof err) != 0) {
			snprintf(why, len, "cron: %s", err);
			return -1;
		}
		if (i == 1) {
			/* Its words name the setting: every "0s": ... */
			if (cron_every(v, vn, &secs, err, sizeof err) != 0) {
				snprintf(why, len, "%s", err);
				return -1;
			}
			d->every = (uint64_t)secs * 1000;
		}
		d->kind = i == 0 ? RULE_CRON : RULE_EVERY;
		d->rule = v;
		d->rlen = vn;
		return 0;
	case 2:
		if (vn == 0 || vn > 255) {
			snprintf(why, len, "tz: a zone's name is 1 to 255 "
			    "bytes");
			return -1;
		}
		d->tzname = v;
		d->tzlen = vn;
		return 0;
	case 3:
		if (vn == 4 && memcmp(v, "none", 4) == 0)
			d->catchup = CATCHUP_NONE;
		else if (vn == 4 && memcmp(v, "last", 4) == 0)
			d->catchup = CATCHUP_LAST;
		else if (vn == 3 && memcmp(v, "all", 3) == 0)
			d->catchup = CATCHUP_ALL;
		else {
			snprintf(why, len, "catch-up: \"%.*s\" is not none, "
			    "last or all", (int)(vn > 32 ? 32 : vn), v);
			return -1;
		}
		return 0;
	}
	if ((b = yes_no(v, vn)) < 0) {
		snprintf(why, len, "%s: \"%.*s\" is not yes or no", keys[i],
		    (int)(vn > 32 ? 32 : vn), v);
		return -1;
	}
	if (i == 4)
		d->unique = b;
	else
		d->paused = b;
	return 0;
}

/* Is the text's KEY one of a definition's settings? */
int
periodic_known(const char *s, size_t n)
{
	const char	*eq;
	size_t		 i, k;

	if ((eq = memchr(s, '=', n)) == NULL)
		return 0;
	k = (size_t)(eq - s);
	for (i = 0; i < NKEYS; i++) {
		if (strlen(keys[i]) == k && memcmp(keys[i], s, k) == 0)
			return 1;
	}
	return 0;
}

/*
 * A whole definition: one rule, a zone only with cron, and an event whose
 * attributes leave the daemon's to it (no DELAY, NOT_BEFORE or UNIQUE_ID;
 * room for the two headers a tick adds).  0, or -1 and why.
 */
int
periodic_check(const struct sched_def *d, char *why, size_t len)
{
	struct ps_attrs		 a;
	struct ps_header	 h;
	const char		*w = NULL;
	char			 buf[PS_WHY_MAX];
	uint32_t		 plen;
	uint16_t		 alen, off = 0;
	size_t			 bytes = 0, n = 0;

	if (d->kind == 0) {
		snprintf(why, len, "a schedule needs a rule: cron or every");
		return -1;
	}
	if (d->tzname != NULL && d->kind != RULE_CRON) {
		snprintf(why, len, "tz: a zone is for a cron rule, not every");
		return -1;
	}
	if (d->elen < 6 || (plen = get32(d->event)) > d->elen - 6 ||
	    (alen = get16(d->event + 4)) != d->elen - 6 - plen) {
		snprintf(why, len, "its event's lengths do not add up");
		return -1;
	}
	if (ps_get_attrs(d->event + 6, alen, 5, &a, &w, buf) != 0) {
		snprintf(why, len, "event: %s", w != NULL ? w :
		    "bad attributes");
		return -1;
	}
	if (a.seen & ((1u << PS_ATTR_DELAY) | (1u << PS_ATTR_NOT_BEFORE) |
	    (1u << PS_ATTR_UNIQUE_ID))) {
		snprintf(why, len, "event: DELAY, NOT_BEFORE and UNIQUE_ID "
		    "are the daemon's (a tick's time and unique id)");
		return -1;
	}
	while (ps_header_next(a.hdr, a.hlen, &off, &h)) {
		n++;
		bytes += h.nlen + (size_t)h.vlen;
		if (h.nlen >= 9 && memcmp(h.name, "pushstage", 9) == 0) {
			snprintf(why, len, "event: header \"%.*s\": names "
			    "that begin with pushstage are the daemon's",
			    (int)h.nlen, h.name);
			return -1;
		}
	}
	if (n > PS_HEADERS_MAX - HEADERS_LEFT || bytes > HEADERS_ROOM) {
		snprintf(why, len, "event: %zu headers of %zu bytes; a "
		    "schedule's event has at most %d, of %d bytes (a tick "
		    "adds two)", n, bytes, PS_HEADERS_MAX - HEADERS_LEFT,
		    (int)HEADERS_ROOM);
		return -1;
	}
	return 0;
}

struct schedule *
periodic_find(const struct periodic *p, const char *name, size_t len)
{
	if (p->hash == NULL)
		return NULL;
	return *schain_find(p->hash, p->hmask, name, len);
}

/* Is s defined as d says (its queue, rule, zone, policy, event)? */
int
periodic_same(const struct schedule *s, const struct sched_def *d)
{
	size_t	 tzlen = d->tzname != NULL ? d->tzlen : 0;

	return s->qlen == d->qlen && memcmp(SCHED_QUEUE(s), d->queue,
	    d->qlen) == 0 && s->kind == d->kind && s->rlen == d->rlen &&
	    memcmp(SCHED_RULE(s), d->rule, d->rlen) == 0 &&
	    s->tzlen == tzlen && memcmp(SCHED_TZ(s), d->tzname != NULL ?
	    d->tzname : "", tzlen) == 0 &&
	    s->catchup == (d->catchup >= 0 ? d->catchup : CATCHUP_LAST) &&
	    s->unique == (d->unique > 0) && s->elen == d->elen &&
	    memcmp(SCHED_EVENT(s), d->event, d->elen) == 0;
}

/* The first tick of s after t (ms); UINT64_MAX if none. */
uint64_t
periodic_tick_after(const struct schedule *s, uint64_t t)
{
	int64_t	 n;

	if (s->kind == RULE_EVERY)
		return (t / s->every + 1) * s->every;
	if (!cron_next(&s->cron, s->tz, (int64_t)(t / 1000), &n) || n < 0)
		return UINT64_MAX;
	return (uint64_t)n * 1000;
}

/*
 * Drop the stale slots (of schedules removed or slotted again) once they
 * outnumber the live ones, freeing what they kept: a schedule removed or
 * replaced goes at once, not at its old slot's time (a year away, for
 * @yearly).  The slots left are heaped again.
 */
static void
compact(struct periodic *p)
{
	struct periodic_slot	 x;
	struct schedule		*s;
	size_t			 i, n = p->nheap;

	if (p->stale < 1024 || p->stale < p->nheap / 2)
		return;
	p->nheap = 0;
	for (i = 0; i < n; i++) {
		x = p->heap[i];
		s = x.s;
		if (!s->gone && x.gen == s->gen) {
			sheap_push(p->heap, &p->nheap, x);
			continue;
		}
		if (--s->refs == 0 && s->gone)
			sched_free(p, s);
	}
	p->stale = 0;
}

/* s's slot at its next tick (room reserved); an older one is stale. */
static void
slot(struct periodic *p, struct schedule *s)
{
	struct periodic_slot	 x;

	if (s->refs != 0)
		p->stale++;
	x.gen = ++s->gen;
	if (s->next == UINT64_MAX)
		return;
	x.at = s->next;
	x.s = s;
	s->refs++;
	sheap_push(p->heap, &p->nheap, x);
	compact(p);
}

/*
 * A schedule as d defines it, made at now; or, with old, in old's place
 * with old's progress (what it fired stays fired) and from now on.  NULL
 * if out of memory (nothing changed).
 */
struct schedule *
periodic_add(struct periodic *p, const struct sched_def *d,
    struct schedule *old, uint64_t now)
{
	struct schedule	*s;
	size_t		 tzlen = d->tzname != NULL ? d->tzlen : 0;
	size_t		 size = sizeof *s + d->nlen + d->qlen + d->rlen +
			    tzlen + 4 + d->elen;
	char		*at;

	if (d->nlen == 0 || d->nlen > PS_SCHED_NAME_MAX || d->qlen == 0 ||
	    d->qlen > UINT8_MAX || d->rlen > UINT16_MAX || tzlen > UINT8_MAX)
		return NULL;
	if ((old == NULL && (p->hash == NULL || p->count >= p->hmask + 1) &&
	    schain_grow(&p->hash, &p->hmask) != 0) ||
	    sheap_reserve(&p->heap, p->nheap, &p->cap, 64) != 0 ||
	    (s = calloc(1, size)) == NULL)
		return NULL;
	s->nlen = (uint8_t)d->nlen;
	s->qlen = (uint8_t)d->qlen;
	s->rlen = (uint16_t)d->rlen;
	s->tzlen = (uint8_t)tzlen;
	s->elen = d->elen;
	at = s->data;
	memcpy(at, d->name, d->nlen);
	at += d->nlen + 1;
	memcpy(at, d->queue, d->qlen);
	at += d->qlen + 1;
	memcpy(at, d->rule, d->rlen);
	at += d->rlen + 1;
	if (tzlen != 0)
		memcpy(at, d->tzname, tzlen);
	at += tzlen + 1;
	memcpy(at, d->event, d->elen);
	s->kind = d->kind;
	s->cron = d->cron;
	s->tz = d->tz;
	s->every = d->every;
	s->catchup = d->catchup >= 0 ? (uint8_t)d->catchup : CATCHUP_LAST;
	s->unique = d->unique > 0;
	s->paused = d->paused > 0;
	s->created = now;
	s->after = now;
	if (old != NULL) {
		s->created = old->created;
		s->last = old->last;
		s->last_id = old->last_id;
		s->fired = old->fired;
		s->skipped = old->skipped;
		if (old->after > now)
			s->after = old->after;
		if (d->paused < 0)
			s->paused = old->paused;
		TAILQ_INSERT_AFTER(&p->list, old, s, entry);
		periodic_remove(p, old);
	} else
		TAILQ_INSERT_TAIL(&p->list, s, entry);
	schain_insert(p->hash, p->hmask, s);
	p->count++;
	p->bytes += sched_size(s);
	s->next = periodic_tick_after(s, s->after);
	slot(p, s);
	return s;
}

/* s's slot again, at the tick after its progress: 0, or -1 (memory). */
int
periodic_reslot(struct periodic *p, struct schedule *s)
{
	if (sheap_reserve(&p->heap, p->nheap, &p->cap, 64) != 0)
		return -1;
	s->next = periodic_tick_after(s, s->after);
	slot(p, s);
	return 0;
}

/* Forget s; its slot, if it has one, goes when it comes up. */
void
periodic_remove(struct periodic *p, struct schedule *s)
{
	TAILQ_REMOVE(&p->list, s, entry);
	schain_remove(p->hash, p->hmask, s);
	p->count--;
	s->gone = 1;
	if (s->refs == 0)
		sched_free(p, s);
	else {
		p->stale += s->refs;
		compact(p);
	}
}

/* Paused, it fires nothing: its ticks are counted skipped. */
int
periodic_pause(struct periodic *p, struct schedule *s, int on)
{
	(void)p;
	if (s->paused == on)
		return 0;
	s->paused = (uint8_t)on;
	return 1;
}

/*
 * The latest tick of s at or before now, found without walking: the
 * first window back from now (an hour, doubling, to 10 years) that holds
 * a tick, then halving to the second.  UINT64_MAX if none.
 */
static uint64_t
latest_tick(const struct schedule *s, uint64_t now)
{
	uint64_t	 k, lo, hi, mid;

	for (k = 3600000; k <= 3660 * DAY_MS && k < now; k *= 2) {
		if (periodic_tick_after(s, now - k) <= now)
			break;
	}
	if (k > 3660 * DAY_MS || k >= now)
		return UINT64_MAX;
	/* A tick after lo is at or before now; none after hi is. */
	lo = now - k;
	hi = k == 3600000 ? now : now - k / 2;
	while (hi - lo > 1000) {
		mid = lo + (hi - lo) / 2;
		if (periodic_tick_after(s, mid) <= now)
			lo = mid;
		else
			hi = mid;
	}
	return periodic_tick_after(s, lo);
}

/*
 * The ticks of s in (from, now]: how many (*n), the latest (*latest) and
 * the last PERIODIC_CATCHUP_MAX of them in ring (oldest first, *nring).
 * A cron rule is walked tick by tick, PERIODIC_WALK_MAX at most; past
 * that, its latest tick is found apart and is the ring's one tick, and
 * *older says that ticks before it were not counted.
 */
static void
walk(const struct schedule *s, uint64_t from, uint64_t now, uint64_t *ring,
    size_t *nring, uint64_t *n, uint64_t *latest, int *older)
{
	uint64_t	 t, first, i, P = s->every, L;
	size_t		 r = 0;

	*n = *nring = 0;
	*older = 0;
	if (s->kind == RULE_EVERY) {
		first = (from / P + 1) * P;
		if (first > now)
			return;
		*latest = now / P * P;
		*n = (*latest - first) / P + 1;
		*nring = *n < PERIODIC_CATCHUP_MAX ? (size_t)*n :
		    PERIODIC_CATCHUP_MAX;
		for (i = 0; i < *nring; i++)
			ring[i] = *latest - (*nring - 1 - i) * P;
		return;
	}
	for (t = from; *n < PERIODIC_WALK_MAX; ) {
		if ((t = periodic_tick_after(s, t)) > now)
			break;
		ring[r] = t;
		r = (r + 1) % PERIODIC_CATCHUP_MAX;
		(*n)++;
		*latest = t;
	}
	if (*n == PERIODIC_WALK_MAX && periodic_tick_after(s, t) <= now &&
	    (L = latest_tick(s, now)) != UINT64_MAX && L > t) {
		/* Too many to walk: the latest alone, the rest uncounted. */
		ring[0] = *latest = L;
		*nring = 1;
		(*n)++;
		*older = 1;
		return;
	}
	*nring = *n < PERIODIC_CATCHUP_MAX ? (size_t)*n : PERIODIC_CATCHUP_MAX;
	/* Oldest first: rotate the ring when it wrapped. */
	if (*n > PERIODIC_CATCHUP_MAX && r != 0) {
		uint64_t	 tmp[PERIODIC_CATCHUP_MAX];

		memcpy(tmp, ring + r, (PERIODIC_CATCHUP_MAX - r) * sizeof *ring);
		memcpy(tmp + PERIODIC_CATCHUP_MAX - r, ring, r * sizeof *ring);
		memcpy(ring, tmp, sizeof tmp);
	}
}

/*
 * s's ticks due at now: a paused schedule skips them all; at start (the
 * daemon was down) catch-up none skips them, last fires the latest and
 * all every one (the last PERIODIC_CATCHUP_MAX); running, the latest
 * fires and older ones (the loop was late) only with all.
 */
static void
handle(struct periodic *p, struct schedule *s, uint64_t now, int starting,
    const struct periodic_hooks *h)
{
	uint64_t	 ring[PERIODIC_CATCHUP_MAX], n, latest = 0, fired = 0;
	size_t		 nring, i, from = 0;
	int		 older;

	walk(s, s->after, now, ring, &nring, &n, &latest, &older);
	if (n == 0)
		return;
	if (s->paused || (starting && s->catchup == CATCHUP_NONE))
		nring = 0;
	else if (s->catchup != CATCHUP_ALL)
		from = nring - 1;
	for (i = from; i < nring; i++)
		fired += h->fire(h->arg, s, ring[i]) == 1;
	s->fired += fired;
	s->skipped += n - fired + (uint64_t)older;
	p->fired += fired;
	p->skipped += n - fired + (uint64_t)older;
	s->last = s->after = latest;
	h->handled(h->arg, s);
}

/*
 * The ticks due at now (ms since 1970), fired or skipped as handle says,
 * of max slots at most (0: all): how many slots it took.  starting: the
 * first run after the daemon started.
 */
size_t
periodic_run(struct periodic *p, uint64_t now, int starting,
    const struct periodic_hooks *h, size_t max)
{
	struct periodic_slot	 x;
	struct schedule		*s;
	size_t			 n = 0;

	while (p->nheap > 0 && p->heap[0].at <= now && (max == 0 || n < max)) {
		n++;
		x = sheap_pop(p->heap, &p->nheap);
		s = x.s;
		s->refs--;
		if (s->gone || x.gen != s->gen) {
			if (p->stale > 0)
				p->stale--;
			if (s->gone && s->refs == 0)
				sched_free(p, s);
			continue;
		}
		handle(p, s, now, starting, h);
		s->next = periodic_tick_after(s, s->after);
		slot(p, s);
	}
	return n;
}

/* s's next n ticks from now on, into out: how many it has. */
size_t
periodic_upcoming(const struct schedule *s, uint64_t *out, size_t n)
{
	uint64_t	 t = s->after;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if ((t = periodic_tick_after(s, t)) == UINT64_MAX)
			break;
		out[i] = t;
	}
	return i;
}

/* When the next slot comes up: 1 and *at, or 0 if none. */
int
periodic_wake(const struct periodic *p, uint64_t *at)
{
	if (p->nheap == 0)
		return 0;
	*at = p->heap[0].at;
	return 1;
}
