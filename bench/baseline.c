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
 *
 * rr: 4 client processes each send one frame and wait for it to come back
 * from one epoll process that echoes what it reads, once per wake-up: the
 * round trips a second W2's one-at-a-time consumers can have at most.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fdio.h"
#include "frame.h"
#include "log.h"

#define CHUNK	(256u * 1024)

struct stream_args {
	int		 fd;
	uint64_t	 n;
	size_t		 size;
};

static void
send_all(int fd, const uint8_t *p, size_t n)
{
	if (write_all(fd, p, n) != 0)
		fatal("write");
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
		    (uint32_t)size, NULL, 0, NULL, 0);
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
		send_all(a->fd, buf, len);
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
baseline_stream(const struct settings *s, const char *workload, uint64_t n,
    struct result *r)
{
	struct stream_args	 a;
	struct board		*b;
	uint64_t		 t0;
	pid_t			 pid;
	int			 sv[2];

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	snprintf(r->mode, sizeof r->mode, "floor: stream");
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
	struct board	*b;
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
		send_all(a->out, buf, (size_t)n);
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
		/* Stamped when due, as W3's are; the board has when it went. */
		stamp(buf + PS_EVENT_PREFIX, seq, next);
		board_sent(a->b, seq, clock_ns());
		send_all(a->out, buf, len);
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
	snprintf(r->workload, sizeof r->workload, "W3");
	snprintf(r->mode, sizeof r->mode, "floor: relay");
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
	sa.b = b;
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

#define RR_CLIENTS	4

struct rr_args {
	int		 fd;
	uint64_t	 first;
	uint64_t	 n;
	size_t		 size;
	struct board	*b;
};

/* Echo what each client sends, one read and one write per wake-up. */
static void
rr_server(void *arg)
{
	struct epoll_event	 ev, evs[RR_CLIENTS];
	int			*fds = arg, ep, i, n, left = RR_CLIENTS;
	uint8_t			 buf[65536];
	ssize_t			 got;

	if ((ep = epoll_create1(0)) == -1)
		fatal("epoll_create1");
	for (i = 0; i < RR_CLIENTS; i++) {
		ev.events = EPOLLIN;
		ev.data.fd = fds[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == -1)
			fatal("epoll_ctl");
	}
	while (left > 0) {
		if ((n = epoll_wait(ep, evs, RR_CLIENTS, -1)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if ((got = read(evs[i].data.fd, buf, sizeof buf)) <= 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd,
				    NULL);
				left--;
				continue;
			}
			send_all(evs[i].data.fd, buf, (size_t)got);
		}
	}
}

/* One frame out, the same back, n times. */
static void
rr_client(void *arg)
{
	struct rr_args	*a = arg;
	struct tally	 t = { 0 };
	uint8_t		*buf;
	size_t		 frame = PS_EVENT_PREFIX + a->size, len, got;
	uint64_t	 seq;
	ssize_t		 r;

	if ((buf = malloc(frame)) == NULL)
		fatal("malloc");
	for (seq = a->first; seq < a->first + a->n; seq++) {
		fill(buf, frame, seq, 1, a->size, &len);
		send_all(a->fd, buf, len);
		for (got = 0; got < len; got += (size_t)r) {
			if ((r = read(a->fd, buf + got, len - got)) <= 0) {
				if (r == -1 && errno == EINTR) {
					r = 0;
					continue;
				}
				fatal("rr read");
			}
		}
		board_mark(a->b, buf + PS_EVENT_PREFIX, a->size, &t);
		board_commit(a->b, &t);
	}
	free(buf);
}

int
baseline_rr(const struct settings *s, uint64_t n, struct result *r)
{
	struct rr_args	 a[RR_CLIENTS];
	struct board	*b;
	uint64_t	 t0, per = n / RR_CLIENTS;
	pid_t		 pids[RR_CLIENTS + 1];
	int		 sv[RR_CLIENTS][2], server[RR_CLIENTS], i;

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "W2");
	snprintf(r->mode, sizeof r->mode, "floor: rr x4");
	n = per * RR_CLIENTS;
	r->events = n;
	r->depth = 1;
	r->batch = 1;
	b = board_new(n, 0);
	for (i = 0; i < RR_CLIENTS; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == -1)
			fatal("socketpair");
		server[i] = sv[i][0];
	}
	pids[RR_CLIENTS] = spawn(rr_server, server);
	t0 = clock_ns();
	for (i = 0; i < RR_CLIENTS; i++) {
		a[i].fd = sv[i][1];
		a[i].first = (uint64_t)i * per;
		a[i].n = per;
		a[i].size = s->size;
		a[i].b = b;
		pids[i] = spawn(rr_client, &a[i]);
	}
	for (i = 0; i < RR_CLIENTS; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	if (board_wait(b, WAIT_MS(s), pids, RR_CLIENTS + 1) == 0) {
		r->rate = (double)n * 1e9 / (double)(atomic_load(&b->last_ns) -
		    t0);
		r->exact = board_exact(b);
	}
	reap(pids, RR_CLIENTS + 1);
	board_free(b);
	return r->exact ? 0 : -1;
}
