/*
 * baseline.c: what the kernel allows, measured the same way as pushstage.
 *
 * stream: one process writes the same EVENT frames pushstage sends, in
 * 256 KiB writes, over a Unix socket; the other reads in 256 KiB reads and
 * decodes them: the most frames a second one socket carries.
 *
 * relay: sender -> relay -> receiver over two Unix sockets, one frame every
 * 100 µs, the relay reading and writing once per wake-up as a daemon
 * would: the latency floor of any broker process.
 */
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "frame.h"
#include "log.h"

#define CHUNK	(256u * 1024)

struct stream_args {
	int		 fd;
	uint64_t	 n;
	size_t		 size;
};

static void
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t	 w;

	while (n != 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("write");
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Frames for events first.., as many as fit in one chunk; their count. */
static size_t
fill(uint8_t *buf, size_t cap, uint64_t first, uint64_t left, size_t size,
    size_t *len)
{
	size_t		 frame = PS_EVENT_PREFIX + size, n = 0;
	uint64_t	 t = clock_ns();

	*len = 0;
	while (n < left && *len + frame <= cap) {
		ps_event_prefix(buf + *len, PS_PROTO_VERSION, first + n + 1, 1,
		    (uint32_t)size);
		stamp(buf + *len + PS_EVENT_PREFIX, first + n, t);
		*len += frame;
		n++;
	}
	return n;
}

static void
stream_writer(void *arg)
{
	struct stream_args	*a = arg;
	uint8_t			*buf;
	uint64_t		 sent = 0;
	size_t			 len, cap = CHUNK;

	if (PS_EVENT_PREFIX + a->size > cap)
		cap = PS_EVENT_PREFIX + a->size;
	if ((buf = malloc(cap)) == NULL)
		fatal("malloc");
	while (sent < a->n) {
		sent += fill(buf, cap, sent, a->n - sent, a->size, &len);
		write_all(a->fd, buf, len);
	}
	free(buf);
}

/* Read frames from fd, chunk bytes at a time, until all n have come. */
static void
receive(int fd, size_t chunk, struct board *b)
{
	struct ps_decoder	 dec;
	struct ps_frame		 f;
	struct ps_event		 e;
	struct tally		 t = { 0 };
	uint8_t			*p;
	size_t			 room;
	ssize_t			 got;

	ps_decoder_init(&dec, PS_MAX_FRAME_LIMIT);
	while (atomic_load(&b->received) < b->total) {
		if ((p = ps_decoder_space(&dec, chunk, &room)) == NULL)
			fatal("decoder");
		if ((got = read(fd, p, room)) <= 0) {
			if (got == -1 && errno == EINTR)
				continue;
			break;
		}
		ps_decoder_commit(&dec, (size_t)got);
		while (ps_decoder_next(&dec, &f) == 1 &&
		    ps_get_event(&f, PS_PROTO_VERSION, &e) == 0)
			board_mark(b, e.data, e.len, &t);
		board_commit(b, &t);
	}
	ps_decoder_free(&dec);
}

int
baseline_stream(const struct settings *s, uint64_t n, struct result *r)
{
	struct stream_args	 a;
	struct board		*b;
	uint64_t		 t0;
	pid_t			 pid;
	int			 sv[2];

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "raw stream");
	snprintf(r->mode, sizeof r->mode, "unix socket");
	r->events = n;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		fatal("socketpair");
	b = board_new(n, 0);
	a.fd = sv[1];
	a.n = n;
	a.size = s->size;
	t0 = clock_ns();
	pid = spawn(stream_writer, &a);
	close(sv[1]);
	receive(sv[0], CHUNK, b);
	r->rate = (double)n * 1e9 / (double)(atomic_load(&b->last_ns) - t0);
	r->exact = board_exact(b);
	close(sv[0]);
	reap(&pid, 1);
	board_free(b);
	return r->exact ? 0 : -1;
}

struct relay_args {
	int		 in;
	int		 out;
	uint64_t	 n;
	size_t		 size;
};

/* Read whatever came, write it on: once per wake-up. */
static void
relay_main(void *arg)
{
	struct relay_args	*a = arg;
	uint8_t			 buf[65536];
	ssize_t			 n;

	while ((n = read(a->in, buf, sizeof buf)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("relay read");
		}
		write_all(a->out, buf, (size_t)n);
	}
}

static void
sender_main(void *arg)
{
	struct relay_args	*a = arg;
	struct timespec		 ts;
	uint8_t			*buf;
	uint64_t		 seq, next = clock_ns();
	size_t			 len;

	if ((buf = malloc(PS_EVENT_PREFIX + a->size)) == NULL)
		fatal("malloc");
	for (seq = 0; seq < a->n; seq++) {
		ts.tv_sec = (time_t)(next / 1000000000u);
		ts.tv_nsec = (long)(next % 1000000000u);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
		    NULL) == EINTR)
			continue;
		fill(buf, PS_EVENT_PREFIX + a->size, seq, 1, a->size, &len);
		write_all(a->out, buf, len);
		next += 100000;
	}
	free(buf);
}

int
baseline_relay(const struct settings *s, double seconds, struct result *r)
{
	struct relay_args	 ra, sa;
	struct board		*b;
	uint64_t		 n = (uint64_t)(seconds * 10000), t0;
	pid_t			 pids[2];
	int			 s1[2], s2[2];

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "raw relay");
	snprintf(r->mode, sizeof r->mode, "unix socket");
	r->events = n;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s1) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, s2) == -1)
		fatal("socketpair");
	b = board_new(n, 1);
	ra.in = s1[0];
	ra.out = s2[1];
	sa.out = s1[1];
	sa.n = n;
	sa.size = s->size;
	t0 = clock_ns();
	pids[0] = spawn(relay_main, &ra);
	pids[1] = spawn(sender_main, &sa);
	close(s1[0]);
	close(s1[1]);
	close(s2[1]);
	receive(s2[0], 65536, b);
	r->rate = (double)n * 1e9 / (double)(atomic_load(&b->last_ns) - t0);
	r->exact = board_exact(b);
	board_latency(b, r->lat, r->lat_sent);
	r->has_lat = 1;
	close(s2[0]);
	reap(pids, 2);
	board_free(b);
	return r->exact ? 0 : -1;
}
