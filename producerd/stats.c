/* stats.c: the counter table (counters.c) as a STATS_REPLY frame. */
#include <string.h>
#include <time.h>

#include "counters.h"
#include "producerd.h"

/* The largest one consumer's entry can be: id, and its 1..16-byte names. */
#define CONSUMER_ENTRY_MAX	(2 + PS_NAME_MAX + 8 * (1 + 16 + 8))
/* The texts after the consumers: "upstream" and "map", at their longest. */
#define TEXTS_MAX		(2 + 2 * (3 + 8 + PS_STAT_TEXT_MAX))

int
stats_encode(struct server *srv, struct ps_buf *b, int version)
{
	const struct counter		*k;
	const struct consumer_counter	*f;
	struct conn			*c;
	size_t				 start, at, texts, i;
	uint16_t			 n = 0, ntexts = 0;
	uint32_t			 nconsumers = 0;

	if (ps_put_stats_begin(b, &start) != 0)
		return -1;
	for (i = 0; i < ncounters; i++) {
		k = &counters[i];
		if (!counter_shown(srv, k))
			continue;
		if (ps_put_stat(b, k->name, counter_value(srv, k)) != 0)
			return -1;
		n++;
	}

	/* As many consumers as fit in one frame; "consumers" has them all. */
	if (ps_put_stats_consumers(b, &at) != 0)
		return -1;
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE)
			continue;
		if (b->len - start - PS_HDR_LEN + CONSUMER_ENTRY_MAX +
		    TEXTS_MAX > srv->max_frame)
			break;
		if (ps_put_stats_consumer(b, c->name, strlen(c->name),
		    (uint8_t)nconsumer_counters) != 0)
			return -1;
		for (i = 0; i < nconsumer_counters; i++) {
			f = &consumer_counters[i];
			if (ps_put_stat(b, f->name, consumer_value(c, f)) != 0)
				return -1;
		}
		nconsumers++;
	}
	ps_put_stats_end(b, start, n, at, nconsumers);
	if (version < 2)
		return 0;
	if (ps_put_stats_texts(b, &texts) != 0)
		return -1;
	if (srv->up.path != NULL) {
		if (ps_put_stat_text(b, "upstream", srv->up.path) != 0)
			return -1;
		ntexts++;
	}
	if (srv->map.cmd != NULL) {
		if (ps_put_stat_text(b, "map", srv->map.cmd) != 0)
			return -1;
		ntexts++;
	}
	ps_put_stats_texts_end(b, start, texts, ntexts);
	return 0;
}
