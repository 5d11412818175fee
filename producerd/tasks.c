/*
 * tasks.c: counts per task name (tasks.h).  A name is found in a chained
 * table (chain.h) when an event with headers is answered; a run of one
 * task hits the last row found first.  Rows are never let go while their
 * group lives, so a reader pages through them by index.
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "frame.h"
#include "hash.h"
#include "tasks.h"

#define ROW_KEY(r)	((r)->name)
#define ROW_LEN(r)	((r)->nlen)
CHAIN_GENERATE(tchain, struct task_row, next, fnv1a64, ROW_KEY, ROW_LEN)

void
tasks_free(struct tasks *t)
{
	uint32_t	 i;

	for (i = 0; i < t->n; i++)
		free(t->rows[i]);
	free(t->rows);
	free(t->hash);
	free(t->other);
	memset(t, 0, sizeof *t);
}

static struct task_row *
row_new(const void *name, size_t len)
{
	struct task_row	*r;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	memcpy(r->name, name, len);
	r->nlen = (uint8_t)len;
	return r;
}

static struct task_row *
other(struct tasks *t)
{
	if (t->other == NULL)
		t->other = row_new(TASKS_OTHER, sizeof TASKS_OTHER - 1);
	return t->other;
}

/* A name of a row of its own: 1 to 255 bytes, no control character. */
static int
name_ok(const uint8_t *p, size_t n)
{
	size_t	 i;

	if (n > TASK_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	}
	return n != sizeof TASKS_OTHER - 1 ||
	    memcmp(p, TASKS_OTHER, n) != 0;
}

/* A new row for name, if there is room for one; else NULL. */
static struct task_row *
row_add(struct tasks *t, const uint8_t *name, size_t len)
{
	struct task_row	**rows, *r;
	uint32_t	  cap;

	if (t->n == t->cap) {
		cap = t->cap == 0 ? 8 : t->cap * 2;
		if ((rows = realloc(t->rows, cap * sizeof *rows)) == NULL)
			return NULL;
		t->rows = rows;
		t->cap = cap;
	}
	if ((t->hash == NULL || t->n > t->mask) &&
	    tchain_grow(&t->hash, &t->mask) != 0)
		return NULL;
	if ((r = row_new(name, len)) == NULL)
		return NULL;
	tchain_insert(t->hash, t->mask, r);
	t->rows[t->n++] = r;
	return r;
}

/*
 * The row of the event whose headers are the hlen bytes at hdr: its
 * task's, made if fewer than max names have rows, else other's; NULL
 * for an event without a task (no `task` header, or an empty one), with
 * max 0 (no counts), or out of memory for other.  A name that cannot
 * have a row of its own (over 255 bytes, a control character) is other.
 */
struct task_row *
tasks_row(struct tasks *t, const uint8_t *hdr, uint16_t hlen, uint32_t max)
{
	struct ps_header	 h;
	struct task_row		*r, **pp;

	if (max == 0 || !ps_header_find(hdr, hlen, TASK_HEADER,
	    sizeof TASK_HEADER - 1, &h) || h.vlen == 0)
		return NULL;
	if ((r = t->last) != NULL && r->nlen == h.vlen &&
	    memcmp(r->name, h.value, h.vlen) == 0)
		return r;
	if (h.vlen <= TASK_NAME_MAX && t->hash != NULL && *(pp =
	    tchain_find(t->hash, t->mask, h.value, h.vlen)) != NULL)
		r = *pp;
	else if (t->n >= max || !name_ok(h.value, h.vlen) ||
	    (r = row_add(t, h.value, h.vlen)) == NULL)
		return other(t);
	t->last = r;
	return r;
}

/* Rows to read: the named, then other if it has been used. */
uint32_t
tasks_count(const struct tasks *t)
{
	return t->n + (t->other != NULL);
}

const struct task_row *
tasks_at(const struct tasks *t, uint32_t i)
{
	return i < t->n ? t->rows[i] : i == t->n ? t->other : NULL;
}

/*
 * The pct-th percentile (1 to 100) of r's handling times, in ms: within
 * the bucket that holds it, as far in as its rank is among the bucket's
 * (Prometheus's histogram_quantile), and never below the least or above
 * the largest time seen.  0 with none.
 */
uint64_t
tasks_quantile(const struct task_row *r, unsigned int pct)
{
	const struct hist	*h = &r->handled;
	uint64_t		 rank, below = 0, lo, hi, v;
	size_t			 b;

	if (h->count == 0)
		return 0;
	rank = (h->count * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	for (b = 0; b < HIST_BUCKETS && below + h->n[b] < rank; b++)
		below += h->n[b];
	lo = b == 0 ? 0 : hist_bounds[b - 1];
	hi = b < HIST_BUCKETS ? hist_bounds[b] : r->hmax;
	if (hi < lo)
		hi = lo;
	/* In double: a bucket past the last may be wide (hmax). */
	v = h->n[b] == 0 ? hi : lo + (uint64_t)((double)(hi - lo) *
	    (double)(rank - below) / (double)h->n[b]);
	if (v < r->hmin)
		v = r->hmin;
	if (v > r->hmax)
		v = r->hmax;
	return v;
}
