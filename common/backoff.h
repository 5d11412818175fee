/* backoff.h: waits that double after each failure, up to a ceiling. */
#ifndef PS_BACKOFF_H
#define PS_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t	 first;		/* ms: the first wait, and after reset */
	uint32_t	 max;		/* ms: never longer */
	uint32_t	 ms;		/* the next wait */
};

void	 backoff_init(struct backoff *, uint32_t, uint32_t);
uint32_t backoff_next(struct backoff *);
void	 backoff_reset(struct backoff *);

#endif
