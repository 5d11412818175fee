/*
 * fuzz_conn.c: libFuzzer over a producerd connection's state machine, with
 * no sockets: three connections without a socket (fd -1), fed bytes as if
 * read, with the real dispatcher, timers and stats behind them; what they
 * would write is dropped.
 *
 * The input is a list of steps: u8 op, u8 len, then len bytes.
 *   op % 4 == 0..2: the bytes arrive on connection op % 4 (if still open)
 *   op % 4 == 3:    the clock moves on by len * 100 ms (ack timeouts,
 *                   retries held back, pauses, rates)
 * A step with the high bit of op set then closes that connection, as a
 * peer's EOF would.  The last byte chooses the overflow policy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "producerd.h"

#define NCONN	3

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
run(struct event_base *base)
{
	int	 i;

	for (i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* c, if the daemon has not closed it. */
static struct conn *
alive(struct server *srv, struct conn *c)
{
	struct conn	*x;

	TAILQ_FOREACH(x, &srv->conns, entry) {
		if (x == c)
			return c;
	}
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_base	*base;
	struct server		 srv;
	struct config		 cfg;
	struct conn		*conn[NCONN];
	size_t			 off = 0;
	uint8_t			 op, len;
	int			 i, k;

	log_init("fuzz", PS_LOG_ERROR);
	if ((base = event_base_new()) == NULL)
		abort();
	config_init(&cfg);
	cfg.max_frame = PS_MAX_FRAME_MIN;
	cfg.handshake_ms = 5000;
	cfg.drain_ms = 1000;
	cfg.max_connections = 16;
	cfg.queue.ack_timeout = 1000;
	cfg.queue.max_attempts = 3;
	/* Small buffers and few queues, so that every limit is reached. */
	cfg.queue.max_queue = 4;
	cfg.queue.max_queue_bytes = 64;
	cfg.queue.overflow = size != 0 ? data[size - 1] & 3 : OVERFLOW_REJECT;
	cfg.max_queues = 3;
	server_configure(&srv, &cfg);
	if (server_init(&srv, base) != 0 || server_queues(&srv, NULL, 0) != 0 ||
	    schedules_open(&srv) != 0)
		abort();
	for (i = 0; i < NCONN; i++) {
		if ((conn[i] = conn_new(&srv, -1, -1, 0, 0)) == NULL)
			abort();
	}

	while (off + 2 <= size) {
		op = data[off];
		len = data[off + 1];
		off += 2;
		if (len > size - off)
			len = (uint8_t)(size - off);
		k = op & 3;
		if (k == 3) {
			srv.now += (uint64_t)len * 100;
			server_timed(&srv);
			server_wake(&srv);
		} else if ((conn[k] = alive(&srv, conn[k])) != NULL) {
			if (io_feed(conn[k], data + off, len) != 0)
				abort();
			if ((op & 0x80) && alive(&srv, conn[k]) != NULL)
				conn_eof(conn[k]);
		}
		off += len;
		run(base);
	}
	run(base);
	server_free(&srv);
	config_free(&cfg);
	event_base_free(base);
	return 0;
}
