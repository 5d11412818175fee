/*
 * delays.h: a queue's events that are not ready before their time (the
 * DELAY and NOT_BEFORE attributes; docs/scheduling.md): a heap by due
 * time, each event in one allocation with its payload.  Plain C, no I/O:
 * times are the caller's wall clock, in ms.
 */
#ifndef PS_DELAYS_H
#define PS_DELAYS_H

#include <stddef.h>
#include <stdint.h>

/* A delayed event: 32 bytes, then its payload, its key, its headers. */
struct delayed {
	uint64_t	 due;
	uint64_t	 id;
	uint32_t	 len;
	uint16_t	 prio;
	uint8_t		 klen;
	uint8_t		 keyed;		/* has a key (of klen bytes) */
	uint16_t	 hlen;		/* headers' bytes */
	unsigned char	 data[];
};

struct delays {
	struct delayed	**v;		/* a heap: soonest, then lowest id */
	size_t		 n;
	size_t		 cap;
	uint64_t	 bytes;		/* their payloads */
	uint64_t	*also;		/* a count they add to too, or NULL */
};

void		 delays_init(struct delays *);
void		 delays_free(struct delays *);
int		 delays_add(struct delays *, uint64_t, uint64_t, uint16_t,
		     const void *, int, const void *, uint16_t, const void *,
		     uint32_t);
struct delayed	*delays_due(struct delays *, uint64_t);
int		 delays_next(const struct delays *, uint64_t *);
struct delayed	*delays_any(struct delays *);
struct delayed	*delays_remove(struct delays *, uint64_t);

static inline const void *
delayed_key(const struct delayed *ev)
{
	return ev->keyed ? ev->data + ev->len : NULL;
}

static inline const unsigned char *
delayed_hdr(const struct delayed *ev)
{
	return ev->data + ev->len + ev->klen;
}

#endif
