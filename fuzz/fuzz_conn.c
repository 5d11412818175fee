/*
 * fuzz_conn.c: libFuzzer over a producerd connection's state machine, with
 * no sockets: three connections without a socket (fd -1), fed bytes as if
 * read, with the real dispatcher, timers and stats behind them; what they
 * would write is dropped.
 *
 * The input is a list of steps: u8 op, u8 len, then len bytes.
 *   op % 4 == 0..2: the bytes arrive on connection op % 4 (if still open)
 *   op % 4 == 3:    the clock moves on by len * 100 ms (ack timeouts)
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
	struct conn		*conn[NCONN];
	size_t			 off = 0;
	uint8_t			 op, len;
	int			 i, k;

	log_init("fuzz", PS_LOG_ERROR);
	if ((base = event_base_new()) == NULL)
		abort();
	memset(&srv, 0, sizeof srv);
	srv.max_frame = PS_MAX_FRAME_MIN;
	srv.acks = 1;
	srv.handshake_ms = 5000;
	srv.drain_ms = 1000;
	srv.max_connections = 16;
	dispatch_init(&srv.dispatch, conn_emit, &srv);
	srv.dispatch.ack_timeout = 1000;
	srv.dispatch.max_attempts = 3;
	/* A small buffer, so that every overflow policy is reached. */
	srv.dispatch.max_queue = 4;
	srv.dispatch.max_queue_bytes = 64;
	srv.dispatch.overflow = size != 0 ? data[size - 1] & 3 :
	    OVERFLOW_REJECT;
	if (server_init(&srv, base) != 0)
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
			srv.dispatch.now += (uint64_t)len * 100;
			if (dispatch_expire(&srv.dispatch) != 0)
				dispatch_run(&srv.dispatch);
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
	event_base_free(base);
	return 0;
}
