/*
 * idmap.c: id -> value with linear probing, kept under half full.  A
 * removal shifts later entries of the same run back, so there are no
 * tombstones and a lookup stops at the first empty slot.
 */
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

/* Ids are mostly sequential; multiply to spread runs of them. */
static uint64_t
slot_of(const struct idmap *m, uint64_t id)
{
	return (id * 0x9e3779b97f4a7c15ull) >> 20 & m->mask;
}

void
idmap_init(struct idmap *m)
{
	memset(m, 0, sizeof *m);
}

void
idmap_free(struct idmap *m)
{
	free(m->slots);
	idmap_init(m);
}

static int
grow(struct idmap *m)
{
	struct idmap	 n;
	uint64_t	 cap = m->slots == NULL ? 64 : (m->mask + 1) * 2, i;

	n.slots = calloc(cap, sizeof *n.slots);
	if (n.slots == NULL)
		return -1;
	n.mask = cap - 1;
	n.count = 0;
	for (i = 0; m->slots != NULL && i <= m->mask; i++) {
		if (m->slots[i].id != 0)
			(void)idmap_put(&n, m->slots[i].id, m->slots[i].value);
	}
	free(m->slots);
	*m = n;
	return 0;
}

/* Set id's value, adding it if new; -1 out of memory. */
int
idmap_put(struct idmap *m, uint64_t id, uint64_t value)
{
	uint64_t	 i;

	if ((m->slots == NULL || m->count >= (m->mask + 1) / 2) &&
	    grow(m) != 0)
		return -1;
	for (i = slot_of(m, id); m->slots[i].id != 0; i = (i + 1) & m->mask) {
		if (m->slots[i].id == id) {
			m->slots[i].value = value;
			return 0;
		}
	}
	m->slots[i].id = id;
	m->slots[i].value = value;
	m->count++;
	return 0;
}

/* 1 and its value if id is there, else 0. */
int
idmap_get(const struct idmap *m, uint64_t id, uint64_t *value)
{
	uint64_t	 i;

	if (m->slots == NULL)
		return 0;
	for (i = slot_of(m, id); m->slots[i].id != 0; i = (i + 1) & m->mask) {
		if (m->slots[i].id == id) {
			*value = m->slots[i].value;
			return 1;
		}
	}
	return 0;
}

/* Remove id; 1 if it was there. */
int
idmap_del(struct idmap *m, uint64_t id)
{
	uint64_t	 i, j, k;

	if (m->slots == NULL)
		return 0;
	for (i = slot_of(m, id); m->slots[i].id != id; i = (i + 1) & m->mask) {
		if (m->slots[i].id == 0)
			return 0;
	}
	/* Pull back every later entry of the run that may sit at i. */
	for (j = i;;) {
		m->slots[i].id = 0;
		for (;;) {
			j = (j + 1) & m->mask;
			if (m->slots[j].id == 0) {
				m->count--;
				return 1;
			}
			k = slot_of(m, m->slots[j].id);
			/* Stays if its home lies cyclically in (i, j]. */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		m->slots[i] = m->slots[j];
		i = j;
	}
}
