/*
 * test_lib.c: libpushstage's public API against a real producerd (the
 * PRODUCERD environment variable), on a private socket per test.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pushstage.h"

static char	 dir[] = "/tmp/pushstage-lib.XXXXXX";
static char	 sock[128];
static pid_t	 daemon_pid = -1;

/*
 * Does producerd take connections on sock yet?  Its socket file exists from
 * bind(), before listen(): a connect in between is refused, so the file is
 * not the sign; an accepted connect is.
 */
static int
listening(void)
{
	struct sockaddr_un	 sun;
	int			 fd, ok;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ok = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
	close(fd);
	return ok;
}

/*
 * Start producerd with the options given, and wait until it takes
 * connections: up to 20 s, as a machine at load 12 can take seconds to
 * run a new process, and no longer once it has exited.
 */
static void
start(const char *opt, ...)
{
	const char	*argv[16];
	const char	*prog = getenv("PRODUCERD");
	va_list		 ap;
	int		 n = 0, i, status;

	ck_assert_msg(prog != NULL, "set PRODUCERD");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/sock", dir);
	argv[n++] = prog;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--log-level";
	argv[n++] = "error";
	va_start(ap, opt);
	for (; opt != NULL && n < 15; opt = va_arg(ap, const char *))
		argv[n++] = opt;
	va_end(ap);
	argv[n] = NULL;
	if ((daemon_pid = fork()) == 0) {
		/* A failed test exits at once: take the daemon with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(prog, (char **)argv);
		_exit(127);
	}
	ck_assert_int_gt(daemon_pid, 0);
	for (i = 0; i < 2000 && !listening(); i++) {
		if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
			daemon_pid = -1;
			ck_abort_msg("producerd exited (status %d) before "
			    "listening on %s", status, sock);
		}
		usleep(10000);
	}
	ck_assert_msg(i < 2000, "producerd did not listen on %s in 20 s",
	    sock);
}

static void
stop(void)
{
	int	 status;

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, &status, 0);
		daemon_pid = -1;
	}
	unlink(sock);
	rmdir(dir);
}

static struct pushstage *
client(void)
{
	struct pushstage	*p = pushstage_new();

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(pushstage_connect(p, sock, "test") == PUSHSTAGE_OK,
	    "%s", pushstage_error(p));
	return p;
}

static struct pushstage *
consumer(const char *id, uint32_t max, uint32_t min)
{
	struct pushstage	*p = pushstage_new();

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(pushstage_connect_consumer(p, sock, id, max, min) ==
	    PUSHSTAGE_OK, "%s", pushstage_error(p));
	return p;
}

static uint64_t
counter(struct pushstage *p, const char *name)
{
	const struct pushstage_stats	*st;
	uint64_t			 v;

	ck_assert_int_eq(pushstage_stats(p, &st), PUSHSTAGE_OK);
	ck_assert_msg(pushstage_stat(st->counters, st->ncounters, name,
	    &v) == 0, "no counter %s", name);
	return v;
}

/*
 * Counter name once it is want, or its value after 10 s: another
 * connection's frames (an ACK it flushed) may reach the daemon after this
 * connection's STATS, so the state is waited for, not assumed.
 */
static uint64_t
counter_reaches(struct pushstage *p, const char *name, uint64_t want)
{
	uint64_t	 v;
	int		 i;

	for (i = 0; i < 1000 && (v = counter(p, name)) != want; i++)
		usleep(10000);
	return v;
}

START_TEST(no_daemon)
{
	struct pushstage	*p = pushstage_new();

	ck_assert_int_eq(pushstage_connect(p, "/nonexistent/pushstage.sock",
	    NULL), PUSHSTAGE_ECONNECT);
	ck_assert_ptr_nonnull(strstr(pushstage_error(p),
	    "/nonexistent/pushstage.sock"));
	/* Not connected: every call says so instead of crashing. */
	ck_assert_int_eq(pushstage_add(p, "x", 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_flush(p), PUSHSTAGE_EINVAL);
	pushstage_free(p);
	pushstage_free(NULL);
}
END_TEST

START_TEST(roundtrip_in_order_with_acks)
{
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	char				 want[16];
	uint32_t			 ask, asked = 4;
	int				 i;

	start(NULL);
	c = client();
	for (i = 1; i <= 20; i++) {
		snprintf(want, sizeof want, "e%d", i);
		ck_assert_int_eq(pushstage_add(c, want, strlen(want)), 0);
	}
	ck_assert_uint_eq(pushstage_batch_count(c), 20);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.accepted, 20);
	ck_assert_uint_eq(r.refused, 0);
	ck_assert_uint_eq(r.first_id, 1);
	ck_assert_uint_eq(pushstage_batch_count(c), 0);

	w = consumer("w1", 4, 2);
	ck_assert_int_eq(pushstage_acks(w), 1);
	ck_assert_int_eq(pushstage_demand(w, 4), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	for (i = 1; i <= 20; i++) {
		ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
		snprintf(want, sizeof want, "e%d", i);
		ck_assert_uint_eq(ev.id, (uint64_t)i);
		ck_assert_uint_eq(ev.attempt, 1);
		ck_assert_uint_eq(ev.len, strlen(want));
		ck_assert_mem_eq(ev.data, want, ev.len);
		ck_assert_int_eq(pushstage_ack(w, &ev.id, 1), PUSHSTAGE_OK);
		/* GenStage's window: ask again only on falling to min. */
		ask = pushstage_done(w);
		ck_assert_uint_eq(ask, i % 2 == 0 ? 2 : 0);
		if (ask != 0)
			ck_assert_int_eq(pushstage_demand(w, ask), 0);
		asked += ask;
		ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	}
	ck_assert_uint_eq(asked, 24);
	ck_assert_uint_eq(counter_reaches(c, "acked_total", 20), 20);
	ck_assert_uint_eq(counter(c, "queued"), 0);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/* The ack timeout as WELCOME gave it; TOUCH of a held and an unheld id. */
START_TEST(touch_and_ack_timeout)
{
	struct pushstage_enqueued r;
	struct pushstage_event	 ev;
	struct pushstage	*c, *w;
	uint64_t		 bogus = 999;

	start("--ack-timeout", "60", NULL);
	c = client();
	ck_assert_int_eq(pushstage_add(c, "x", 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	w = consumer("toucher", 1, 0);
	ck_assert_uint_eq(pushstage_ack_timeout_ms(w), 60000);
	ck_assert_int_eq(pushstage_demand(w, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	/* Touching what it holds is taken; the event stays in flight. */
	ck_assert_int_eq(pushstage_touch(w, &ev.id, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_uint_eq(counter(c, "in_flight"), 1);
	ck_assert_int_eq(pushstage_ack(w, &ev.id, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_uint_eq(counter_reaches(c, "in_flight", 0), 0);
	ck_assert_uint_eq(counter(c, "acked_total"), 1);
	/* Touching what it does not hold: the daemon says so, and closes. */
	ck_assert_int_eq(pushstage_touch(w, &bogus, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_EPROTO);
	ck_assert_ptr_nonnull(strstr(pushstage_error(w), "not in flight"));
	/* A client has nothing to touch. */
	ck_assert_int_eq(pushstage_touch(c, &bogus, 1), PUSHSTAGE_EINVAL);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/* Every status has its own words; an unknown one says so. */
START_TEST(strerror_names_every_status)
{
	int	 a, b;

	for (a = PUSHSTAGE_EAGAIN; a <= PUSHSTAGE_OK; a++) {
		ck_assert_str_ne(pushstage_strerror(a), "unknown error");
		for (b = PUSHSTAGE_EAGAIN; b < a; b++)
			ck_assert_str_ne(pushstage_strerror(a),
			    pushstage_strerror(b));
	}
	ck_assert_str_eq(pushstage_strerror(PUSHSTAGE_EAGAIN - 1),
	    "unknown error");
	ck_assert_str_eq(pushstage_strerror(1), "unknown error");
	ck_assert_str_eq(pushstage_strerror(PUSHSTAGE_ETOOBIG),
	    "the event does not fit in a frame");
}
END_TEST

/*
 * A scripted fake daemon for the demand top-up: it speaks the protocol
 * byte by byte on a socket of its own, sends deliveries when told (a
 * byte on a pipe from the test), and checks every DEMAND it gets.
 */
static void
put_frame(int fd, uint8_t type, const void *body, uint32_t len)
{
	uint8_t	 h[8] = { len >> 24, len >> 16, len >> 8, len, type, 0, 0, 0 };

	if (write(fd, h, 8) != 8 || (len && write(fd, body, len) !=
	    (ssize_t)len))
		_exit(10);
}

static int
read_full(int fd, void *p, size_t n)
{
	size_t	 got = 0;
	ssize_t	 r;

	while (got < n) {
		if ((r = read(fd, (char *)p + got, n - got)) <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The next frame must be DEMAND n, else exit 20 + the frame's type. */
static void
want_demand(int fd, uint32_t n)
{
	uint8_t	 h[8], b[4];

	if (read_full(fd, h, 8) != 0)
		_exit(19);
	if (h[4] != 5 || read_full(fd, b, 4) != 0)
		_exit(20 + h[4]);
	if (((uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) != n)
		_exit(40);
}

/* n EVENT frames in one write, ids from *id on. */
static void
deliver(int fd, uint64_t *id, uint32_t n)
{
	uint8_t		 buf[64 * 1024], *p = buf;
	uint32_t	 i;
	int		 k;

	for (i = 0; i < n; i++, (*id)++) {
		static const uint8_t h[8] = { 0, 0, 0, 13, 6, 0, 0, 0 };

		memcpy(p, h, 8);
		for (k = 0; k < 8; k++)
			p[8 + k] = (uint8_t)(*id >> (56 - 8 * k));
		memcpy(p + 16, "\0\0\0\1x", 5);
		p += 21;
	}
	if (write(fd, buf, (size_t)(p - buf)) != p - buf)
		_exit(11);
}

/*
 * script[i]: events in delivery i, sent after the test's i-th byte on
 * go; asks[i]: the DEMAND expected before delivery i (0: none).
 */
static pid_t
fake_daemon(int go, const uint32_t *script, const uint32_t *asks, int n)
{
	struct sockaddr_un	 sun;
	uint8_t			 hdr[8], body[300], tick;
	uint8_t			 w[16] = { 0, 3, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0,
				    0, 5, 2, 0 };	/* at-most-once */
	uint64_t		 id = 1;
	pid_t			 pid;
	int			 l, c, i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/sock", dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(sock), sizeof sun.sun_path);
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_ge(l = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	if ((pid = fork()) != 0) {
		close(l);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((c = accept(l, NULL, NULL)) == -1 || read_full(c, hdr, 8) != 0 ||
	    hdr[4] != 1 || read_full(c, body, hdr[3]) != 0)
		_exit(12);
	w[0] = body[0];		/* the version asked for */
	w[1] = body[1];
	put_frame(c, 2, w, sizeof w);
	for (i = 0; i < n; i++) {
		if (asks[i] != 0)
			want_demand(c, asks[i]);
		if (read(go, &tick, 1) != 1)
			_exit(13);
		deliver(c, &id, script[i]);
	}
	if (asks[n] != 0)
		want_demand(c, asks[n]);
	_exit(0);
}

/*
 * Take events as they come, finishing each, and send what pushstage_done
 * says to ask; after each delivery of the script, tell the fake daemon to
 * send the next.  Records (events finished, demand asked) for each ask.
 */
static int
consume(struct pushstage *w, int go, const uint32_t *script, int n,
    uint32_t at[][2])
{
	struct pushstage_event	 ev;
	uint32_t		 finished = 0, left, ask;
	int			 i, k = 0;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(write(go, "", 1), 1);
		for (left = script[i]; left != 0; left--) {
			ck_assert_int_eq(pushstage_next_event(w, &ev),
			    PUSHSTAGE_OK);
			finished++;
			if ((ask = pushstage_done(w)) != 0) {
				at[k][0] = finished;
				at[k++][1] = ask;
				ck_assert_int_eq(pushstage_demand(w, ask), 0);
				ck_assert_int_eq(pushstage_flush(w), 0);
			}
		}
	}
	return k;
}

static void
topup(uint32_t max, uint32_t min, const uint32_t *script,
    const uint32_t *asks, int n, uint32_t want[][2], int nwant)
{
	struct pushstage	*w;
	uint32_t		 at[16][2];
	pid_t			 pid;
	int			 go[2], status, k, i;

	ck_assert_int_eq(pipe(go), 0);
	pid = fake_daemon(go[0], script, asks, n);
	w = consumer("topup", max, min);
	ck_assert_int_eq(pushstage_demand(w, max), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	k = consume(w, go[1], script, n, at);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the fake daemon exited %d", WEXITSTATUS(status));
	ck_assert_int_eq(k, nwant);
	for (i = 0; i < k; i++) {
		ck_assert_uint_eq(at[i][0], want[i][0]);
		ck_assert_uint_eq(at[i][1], want[i][1]);
	}
	pushstage_free(w);
	close(go[0]);
	close(go[1]);
	unlink(sock);
	rmdir(dir);
	strcpy(dir, "/tmp/pushstage-lib.XXXXXX");
}

/*
 * GenStage's code, not its docs: each delivery is cut into chunks of at
 * most max - min, and demand is counted per chunk.  max 100 / min 20 asks
 * 80 after 80 and 100 after 180 (a top-up "every 80" would ask 80 after
 * 160); max 1000 / min 750 with three deliveries of 100 asks 300 after
 * 300 (not 250 after 250).
 */
START_TEST(demand_tops_up_as_genstage_does)
{
	static const uint32_t	 s1[] = { 100, 80 }, a1[] = { 100, 80, 100 };
	static uint32_t		 w1[][2] = { { 80, 80 }, { 180, 100 } };
	static const uint32_t	 s2[] = { 100, 100, 100 },
				 a2[] = { 1000, 0, 0, 300 };
	static uint32_t		 w2[][2] = { { 300, 300 } };
	static const uint32_t	 s3[] = { 1, 1, 1 }, a3[] = { 1, 1, 1, 1 };
	static uint32_t		 w3[][2] = { { 1, 1 }, { 2, 1 }, { 3, 1 } };

	topup(100, 20, s1, a1, 2, w1, 2);
	topup(1000, 750, s2, a2, 3, w2, 1);
	topup(1, 0, s3, a3, 3, w3, 3);	/* the seed's consumer */
}
END_TEST

/* What the answer callback saw. */
struct answers {
	int		 n;
	uint64_t	 seq[8];
	uint64_t	 first[8];
	uint32_t	 accepted[8];
	uint32_t	 refused[8];
	char		 again[8][8];	/* the refused events, copied */
	int		 bad;		/* pushstage_refused misbehaved */
	struct pushstage *p;
};

static void
on_answer(void *arg, uint64_t seq, const struct pushstage_enqueued *r)
{
	struct answers	*a = arg;
	const void	*data;
	size_t		 len, i;

	ck_assert_int_lt(a->n, 8);
	a->seq[a->n] = seq;
	a->first[a->n] = r->first_id;
	a->accepted[a->n] = r->accepted;
	a->refused[a->n] = r->refused;
	for (i = 0; i < r->refused && i < 7; i++) {
		if (pushstage_refused(a->p, i, &data, &len) != PUSHSTAGE_OK ||
		    len != 1)
			a->bad = 1;
		else
			a->again[a->n][i] = *(const char *)data;
	}
	if (pushstage_refused(a->p, r->refused, &data, &len) !=
	    PUSHSTAGE_EINVAL || pushstage_post(a->p, NULL) != PUSHSTAGE_EINVAL)
		a->bad = 1;
	a->n++;
}

/* Several batches in flight; answers in order; refusals readable. */
START_TEST(pipelined_batches)
{
	struct pushstage_enqueued r;
	struct answers		 a;
	struct pushstage	*c, *w;
	struct pollfd		 pfd;
	const void		*data;
	size_t			 len;
	uint64_t		 seq;
	const char		*ev = "abcdefg";
	int			 i;

	memset(&a, 0, sizeof a);
	start("--max-queue", "5", NULL);
	c = client();
	a.p = c;
	ck_assert_int_eq(pushstage_pipeline(c, 0, on_answer, &a),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_pipeline(c, PUSHSTAGE_WINDOW_MAX + 1,
	    on_answer, &a), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_pipeline(c, 3, on_answer, &a), 0);
	ck_assert_int_eq(pushstage_post(c, &seq), PUSHSTAGE_EINVAL);
	/* Three batches, none waited for: a b | c d | e f g. */
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(pushstage_add(c, ev + i, 1), 0);
		if (i == 1 || i == 3 || i == 6) {
			ck_assert_int_eq(pushstage_post(c, &seq), 0);
			ck_assert_uint_eq(seq, i == 1 ? 1 : i == 3 ? 2 : 3);
		}
	}
	ck_assert_uint_eq(pushstage_posted(c), 3);
	ck_assert_int_eq(a.n, 0);
	ck_assert_int_eq(pushstage_refused(c, 0, &data, &len),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_wait(c), 0);
	ck_assert_uint_eq(pushstage_posted(c), 0);
	ck_assert_int_eq(a.n, 3);
	ck_assert_int_eq(a.bad, 0);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(a.seq[i], (uint64_t)i + 1);
	ck_assert_uint_eq(a.first[0], 1);
	ck_assert_uint_eq(a.accepted[0], 2);
	ck_assert_uint_eq(a.first[1], 3);
	ck_assert_uint_eq(a.accepted[2], 1);
	ck_assert_uint_eq(a.refused[2], 2);
	ck_assert_str_eq(a.again[2], "fg");

	/* A fourth with the window full of three waits for the oldest. */
	w = consumer("taker", 10, 0);
	ck_assert_int_eq(pushstage_demand(w, 10), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	a.n = 0;
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pushstage_add(c, "x", 1), 0);
		ck_assert_int_eq(pushstage_post(c, NULL), 0);
		ck_assert_uint_le(pushstage_posted(c), 3);
	}
	ck_assert_int_ge(a.n, 1);
	/* Answers already come are taken without blocking, after poll. */
	pfd.fd = pushstage_fd(c);
	pfd.events = POLLIN;
	ck_assert_int_ge(pushstage_answers(c), 0);	/* read while posting */
	while (pushstage_posted(c) != 0) {
		ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
		ck_assert_int_eq(pushstage_read(c), 0);
		ck_assert_int_ge(pushstage_answers(c), 0);
	}
	ck_assert_int_eq(a.n, 4);
	ck_assert_int_eq(pushstage_answers(c), 0);
	/* pushstage_send after posts: they are answered first. */
	ck_assert_int_eq(pushstage_add(c, "y", 1), 0);
	ck_assert_int_eq(pushstage_post(c, NULL), 0);
	ck_assert_int_eq(pushstage_add(c, "z", 1), 0);
	ck_assert_msg(pushstage_send(c, &r) == 0, "%s", pushstage_error(c));
	ck_assert_int_eq(a.n, 5);
	ck_assert_uint_eq(r.accepted, 1);
	/* Clearing the batch being filled leaves what is posted alone. */
	ck_assert_int_eq(pushstage_add(c, "p", 1), 0);
	ck_assert_int_eq(pushstage_post(c, NULL), 0);
	ck_assert_int_eq(pushstage_add(c, "gone", 4), 0);
	pushstage_clear(c);
	ck_assert_uint_eq(pushstage_batch_count(c), 0);
	ck_assert_int_eq(pushstage_wait(c), 0);
	ck_assert_int_eq(a.n, 6);
	ck_assert_uint_eq(a.accepted[5], 1);
	/* Stats while a batch is being filled: the batch stays, unsent. */
	ck_assert_int_eq(pushstage_add(c, "q", 1), 0);
	ck_assert_uint_eq(counter(c, "enqueued_total"), 12);
	ck_assert_uint_eq(pushstage_batch_count(c), 1);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(counter(c, "enqueued_total"), 13);
	/* A consumer has no batches. */
	ck_assert_int_eq(pushstage_post(w, NULL), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_pipeline(w, 2, NULL, NULL),
	    PUSHSTAGE_EINVAL);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(consumer_entry_names_the_process)
{
	const struct pushstage_stats	*st;
	struct pushstage		*c, *w;
	uint64_t			 v;
	time_t				 now = time(NULL);

	start(NULL);
	w = consumer("me", 3, 0);
	ck_assert_int_eq(pushstage_demand(w, 3), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	c = client();
	/* The DEMAND and the STATS go on two sockets: wait for the first. */
	do {
		ck_assert_int_eq(pushstage_stats(c, &st), PUSHSTAGE_OK);
		ck_assert_uint_eq(st->nconsumers, 1);
		pushstage_stat(st->consumers[0].fields,
		    st->consumers[0].nfields, "demand", &v);
	} while (v != 3);
	ck_assert_str_eq(st->consumers[0].id, "me");
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "pid", &v), 0);
	ck_assert_uint_eq(v, (uint64_t)getpid());
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "uid", &v), 0);
	ck_assert_uint_eq(v, (uint64_t)getuid());
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "connected_since", &v), 0);
	ck_assert(v + 5 >= (uint64_t)now && v <= (uint64_t)now + 5);
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "no such field", &v), -1);
	pushstage_free(c);
	pushstage_free(w);
	stop();
}
END_TEST

START_TEST(batch_limits)
{
	struct pushstage_enqueued	 r;
	struct pushstage		*c;
	static char			 big[8192];
	size_t				 n = 0;
	int				 e;

	start("--max-frame", "4096", NULL);
	c = client();
	/* The frame less the count, the queue's name, and the length. */
	ck_assert_uint_eq(pushstage_max_event(c), 4096 - 4 - 8 - 4);
	/* Too big for the daemon: refused before anything is sent. */
	ck_assert_int_eq(pushstage_add(c, big, 4096), PUSHSTAGE_ETOOBIG);
	ck_assert_ptr_nonnull(strstr(pushstage_error(c), "--max-frame"));
	ck_assert_uint_eq(pushstage_batch_count(c), 0);
	/* Fits alone; the batch fills, then asks to be sent. */
	while ((e = pushstage_add(c, big, 1000)) == PUSHSTAGE_OK)
		n++;
	ck_assert_int_eq(e, PUSHSTAGE_ETOOBIG);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	ck_assert_uint_eq(r.accepted, 4);
	ck_assert_int_eq(pushstage_add(c, big, 1000), PUSHSTAGE_OK);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(full_queue_keeps_the_refused)
{
	struct pushstage_enqueued	 r;
	struct pushstage		*c;
	int				 i;

	start("--max-queue", "3", NULL);
	c = client();
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(pushstage_add(c, "abc", 3), 0);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.accepted, 3);
	ck_assert_uint_eq(r.refused, 2);
	/* The two refused stay, alone, to be sent again. */
	ck_assert_uint_eq(pushstage_batch_count(c), 2);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.refused, 2);
	pushstage_clear(c);
	ck_assert_uint_eq(pushstage_batch_count(c), 0);
	ck_assert_uint_eq(counter(c, "queued"), 3);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(roles_are_checked)
{
	struct pushstage_enqueued	 r;
	struct pushstage		*c, *w;
	uint64_t			 id = 1;

	start(NULL);
	c = client();
	w = consumer("w", 2, 0);
	ck_assert_int_eq(pushstage_demand(c, 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_ack(c, &id, 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_add(w, "x", 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_send(w, &r), PUSHSTAGE_EINVAL);
	/* Demand past max_demand is the caller's mistake, said locally. */
	ck_assert_int_eq(pushstage_demand(w, 3), PUSHSTAGE_EINVAL);
	ck_assert_ptr_nonnull(strstr(pushstage_error(w), "max_demand"));
	ck_assert_int_eq(pushstage_connect(c, sock, NULL), PUSHSTAGE_EINVAL);
	pushstage_free(c);
	pushstage_free(w);

	w = pushstage_new();
	ck_assert_int_eq(pushstage_connect_consumer(w, sock, "", 1, 0),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_connect_consumer(w, sock, "w", 2, 2),
	    PUSHSTAGE_EINVAL);
	pushstage_free(w);
	stop();
}
END_TEST

/*
 * A consumer of a queue with partitions names one and gets only its keys'
 * events; pushstage_partition_of says which those are.
 */
START_TEST(partitions)
{
	const struct pushstage_stats	*st;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	char				 key[16];
	uint64_t			 v;
	int				 i, mine = 0;

	start("--dispatch", "partition:2", NULL);
	w = pushstage_new();
	ck_assert_int_eq(pushstage_partition(w, 2 * 1024), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_connect_consumer(w, sock, "none", 4, 0),
	    PUSHSTAGE_EPROTO);
	ck_assert_ptr_nonnull(strstr(pushstage_error(w), "has 2 partitions"));
	pushstage_free(w);
	w = pushstage_new();
	ck_assert_int_eq(pushstage_partition(w, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_connect_consumer(w, sock, "p1", 100, 0),
	    PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_partition(w, 0), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_demand(w, 100), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	c = client();
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof key, "key%d", i);
		mine += pushstage_partition_of(key, strlen(key), 2) == 1;
		ck_assert_int_eq(pushstage_add_key(c, key, strlen(key), key,
		    strlen(key)), 0);
	}
	ck_assert_int_gt(mine, 0);
	ck_assert_int_lt(mine, 40);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.accepted, 40);
	for (i = 0; i < mine; i++) {
		ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
		ck_assert_uint_eq(pushstage_partition_of(ev.data, ev.len, 2),
		    1);
	}
	ck_assert_int_eq(pushstage_stats(c, &st), PUSHSTAGE_OK);
	ck_assert_uint_eq(st->nconsumers, 1);
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "partition", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pushstage_queue_stats(c, "default", &st),
	    PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_stat(st->counters, st->ncounters,
	    "partition_waiting", &v), 0);
	ck_assert_uint_eq(v, 40 - (uint64_t)mine);
	ck_assert_uint_eq(pushstage_partition_of(NULL, 0, 2), 0);
	ck_assert_uint_eq(pushstage_partition_of("user-42", 7, 8), 3);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

static int	 dup_seen;

/* A pipelined answer: its duplicates, as the callback sees them. */
static void
dup_answer(void *arg, uint64_t seq, const struct pushstage_enqueued *r)
{
	struct pushstage	*p = arg;

	(void)seq;
	if (r->duplicates == 1 && pushstage_duplicate(p, 0) == 1 &&
	    pushstage_duplicate(p, 1) == UINT32_MAX)
		dup_seen++;
}

START_TEST(attributes)
{
	struct pushstage_attrs		 a = PUSHSTAGE_ATTRS_INIT;
	const struct pushstage_stats	*st;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	char				 big[PUSHSTAGE_UNIQUE_ID_MAX + 1];
	uint64_t			 v;

	start(NULL);
	c = client();
	/* Bad ones are refused here, and nothing is added. */
	a.delay_ms = 1;
	a.not_before_ms = 1;
	ck_assert_int_eq(pushstage_add_with(c, &a, "x", 1), PUSHSTAGE_EINVAL);
	a.not_before_ms = 0;
	a.priority = 65536;
	ck_assert_int_eq(pushstage_add_with(c, &a, "x", 1), PUSHSTAGE_EINVAL);
	a.priority = -1;
	memset(big, 'u', sizeof big);
	a.unique_id = big;
	a.unique_id_len = sizeof big;
	ck_assert_int_eq(pushstage_add_with(c, &a, "x", 1), PUSHSTAGE_EINVAL);
	ck_assert_uint_eq(pushstage_batch_count(c), 0);
	/* later (delayed 1 h), low, a duplicate, urgent, then plain. */
	a.unique_id = NULL;
	a.delay_ms = 3600000;
	ck_assert_int_eq(pushstage_add_with(c, &a, "later", 5), PUSHSTAGE_OK);
	a.delay_ms = 0;
	a.priority = 40000;
	a.unique_id = "u1";
	a.unique_id_len = 2;
	ck_assert_int_eq(pushstage_add_with(c, &a, "low", 3), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_add_with(c, &a, "dup", 3), PUSHSTAGE_OK);
	a.unique_id = NULL;
	a.priority = 0;
	ck_assert_int_eq(pushstage_add_with(c, &a, "urgent", 6), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_add(c, "plain", 5), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.accepted, 4);
	ck_assert_uint_eq(r.duplicates, 1);
	ck_assert_uint_eq(pushstage_duplicate(c, 0), 2);
	ck_assert_int_eq(pushstage_queue_stats(c, "default", &st),
	    PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_stat(st->counters, st->ncounters,
	    "delayed", &v), 0);
	ck_assert_uint_eq(v, 1);
	w = consumer("w", 10, 0);
	ck_assert_int_eq(pushstage_demand(w, 10), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	ck_assert_mem_eq(ev.data, "urgent", 6);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	ck_assert_mem_eq(ev.data, "plain", 5);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	ck_assert_mem_eq(ev.data, "low", 3);
	/* Pipelined: the callback sees the duplicates of its answer. */
	ck_assert_int_eq(pushstage_pipeline(c, 4, dup_answer, c), PUSHSTAGE_OK);
	a.priority = -1;
	a.unique_id = "u2";
	ck_assert_int_eq(pushstage_add_with(c, &a, "a", 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_add_with(c, &a, "b", 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_post(c, NULL), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_wait(c), PUSHSTAGE_OK);
	ck_assert_int_eq(dup_seen, 1);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/* Headers: given for the next event, checked here, read by name or place. */
START_TEST(headers)
{
	struct pushstage_attrs		 a = PUSHSTAGE_ATTRS_INIT;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	const char			*name;
	const void			*value;
	char				 big[PUSHSTAGE_HEADER_VALUE_MAX + 1];
	char				 n[8];
	size_t				 nlen, vlen;
	int				 i;

	start(NULL);
	c = client();
	/* Bad ones are refused, naming the header; the others stay. */
	ck_assert_int_eq(pushstage_header(c, "Task", "x", 1), PUSHSTAGE_EINVAL);
	ck_assert_ptr_nonnull(strstr(pushstage_error(c), "header \"Task\""));
	ck_assert_int_eq(pushstage_header(c, "", "x", 1), PUSHSTAGE_EINVAL);
	memset(big, 'v', sizeof big);
	ck_assert_int_eq(pushstage_header(c, "v", big, sizeof big),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_header(c, "task", "resize", 6),
	    PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_header(c, "task", "again", 5),
	    PUSHSTAGE_EINVAL);
	ck_assert_ptr_nonnull(strstr(pushstage_error(c), "given twice"));
	ck_assert_int_eq(pushstage_header(c, "content-type",
	    "application/json", 16), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_header(c, "empty", NULL, 0), PUSHSTAGE_OK);
	a.key = "k";
	a.klen = 1;
	ck_assert_int_eq(pushstage_add_with(c, &a, "one", 3), PUSHSTAGE_OK);
	/* The next event has none; the third 16, the most there may be. */
	ck_assert_int_eq(pushstage_add(c, "two", 3), PUSHSTAGE_OK);
	for (i = 0; i < PUSHSTAGE_HEADERS_MAX; i++) {
		snprintf(n, sizeof n, "h%d", i);
		ck_assert_int_eq(pushstage_header(c, n, big, 250),
		    PUSHSTAGE_OK);
	}
	ck_assert_int_eq(pushstage_header(c, "more", "x", 1),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_add(c, "three", 5), PUSHSTAGE_OK);
	/* Given and dropped: the fourth has none. */
	ck_assert_int_eq(pushstage_header(c, "gone", "x", 1), PUSHSTAGE_OK);
	pushstage_headers_clear(c);
	ck_assert_int_eq(pushstage_add(c, "four", 4), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.accepted, 4);

	w = consumer("w", 10, 0);
	ck_assert_int_eq(pushstage_demand(w, 10), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	ck_assert_mem_eq(ev.data, "one", 3);
	ck_assert_int_eq(pushstage_event_header(w, &ev, "task", &value, &vlen), 1);
	ck_assert_uint_eq(vlen, 6);
	ck_assert_mem_eq(value, "resize", 6);
	ck_assert_int_eq(pushstage_event_header(w, &ev, "nope", &value, &vlen), 0);
	ck_assert_int_eq(pushstage_event_header_at(w, &ev, 1, &name, &nlen, &value,
	    &vlen), 1);
	ck_assert_uint_eq(nlen, 12);
	ck_assert_mem_eq(name, "content-type", 12);
	ck_assert_mem_eq(value, "application/json", 16);
	ck_assert_int_eq(pushstage_event_header_at(w, &ev, 2, &name, &nlen, &value,
	    &vlen), 1);
	ck_assert_uint_eq(vlen, 0);
	ck_assert_int_eq(pushstage_event_header_at(w, &ev, 3, &name, &nlen, &value,
	    &vlen), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	ck_assert_mem_eq(ev.data, "two", 3);
	ck_assert_int_eq(pushstage_event_header_at(w, &ev, 0, &name, &nlen, &value,
	    &vlen), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	ck_assert_mem_eq(ev.data, "three", 5);
	ck_assert_int_eq(pushstage_event_header_at(w, &ev, 15, &name, &nlen,
	    &value, &vlen), 1);
	ck_assert_mem_eq(name, "h15", 3);
	ck_assert_uint_eq(vlen, 250);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	ck_assert_mem_eq(ev.data, "four", 4);
	ck_assert_int_eq(pushstage_event_header(w, &ev, "gone", &value, &vlen), 0);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/*
 * A daemon of protocol version 4 (a fake: ERROR 7 to a version 5 HELLO):
 * the library asks again in version 3, and refuses headers there.
 */
START_TEST(an_older_daemon_is_asked_in_version_3)
{
	struct sockaddr_un	 sun;
	struct pushstage	*c;
	uint8_t			 hdr[8], body[300];
	static const uint8_t	 err[] = "\0\7protocol version 5 is not "
	    "supported; this daemon speaks versions 1 to 4";
	uint8_t			 w[16] = { 0, 3, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0,
				    0, 5, 1, 0 };
	pid_t			 pid;
	int			 l, fd, status;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/sock", dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_ge(l = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(l, 2), 0);
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The first HELLO asks for 5: refused; the second for 3. */
		if ((fd = accept(l, NULL, NULL)) == -1 ||
		    read_full(fd, hdr, 8) != 0 ||
		    read_full(fd, body, hdr[3]) != 0 || body[1] != 5)
			_exit(12);
		put_frame(fd, 9, err, sizeof err - 1);
		close(fd);
		if ((fd = accept(l, NULL, NULL)) == -1 ||
		    read_full(fd, hdr, 8) != 0 ||
		    read_full(fd, body, hdr[3]) != 0 || body[1] != 3)
			_exit(13);
		put_frame(fd, 2, w, sizeof w);
		(void)read_full(fd, hdr, 1);	/* until the client goes */
		_exit(0);
	}
	close(l);
	ck_assert_ptr_nonnull(c = pushstage_new());
	ck_assert_msg(pushstage_connect(c, sock, "old") == PUSHSTAGE_OK, "%s",
	    pushstage_error(c));
	ck_assert_int_eq(pushstage_header(c, "task", "x", 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_add(c, "x", 1), PUSHSTAGE_EINVAL);
	ck_assert_ptr_nonnull(strstr(pushstage_error(c), "headers need 5"));
	pushstage_free(c);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	unlink(sock);
	rmdir(dir);
}
END_TEST

/*
 * An error longer than the daemon's frames take (--max-frame 4096: 4082
 * bytes of error) goes as its end, the part a traceback says most in.
 */
START_TEST(a_long_error_goes_as_its_end)
{
	static char			 err[PUSHSTAGE_ERROR_MAX];
	const struct pushstage_dead	*d;
	const struct pushstage_job	*j;
	const void			*derr;
	size_t				 elen;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	uint32_t			 total;
	size_t				 n;

	start("--max-frame", "4096", "--max-attempts", "1", NULL);
	c = client();
	ck_assert_int_eq(pushstage_add(c, "x", 1), 0);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	w = consumer("w", 1, 0);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	memset(err, 'a', sizeof err);
	memcpy(err, "LOST", 4);			/* of the 14 bytes cut */
	memcpy(err + 14, "KEPT", 4);
	memcpy(err + sizeof err - 4, "END.", 4);
	ck_assert_int_eq(pushstage_nack_error(w, ev.id, 0, err, sizeof err),
	    0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	do
		ck_assert_int_eq(pushstage_dead_list(c, 4, &d, &n, &total), 0);
	while (total == 0);
	/* Its first 1024 bytes shown: the 4082 kept start 14 bytes in. */
	ck_assert_int_eq(pushstage_dead_error(c, 0, &derr, &elen), 1);
	ck_assert_uint_eq(elen, 1024);
	ck_assert_mem_eq(derr, "KEPT", 4);
	/* The job has as much as its frames hold, to its end. */
	ck_assert_msg(pushstage_job(c, ev.id, NULL, 0, 0, &j) == 0, "%s",
	    pushstage_error(c));
	ck_assert_int_eq(j->state, PUSHSTAGE_JOB_DEAD);
	ck_assert_uint_eq(j->nfailures, 1);
	ck_assert_uint_gt(j->failures[0].error_len, 4000);
	ck_assert_mem_eq((const char *)j->failures[0].error +
	    j->failures[0].error_len - 4, "END.", 4);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/*
 * pushstage_job_cancel: one in flight (its consumer told, through
 * pushstage_cancelled) and one queued; an unknown id refuses the whole.
 */
START_TEST(cancel_from_the_library)
{
	const struct pushstage_job	*j;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage_cancel		 out[2];
	struct pushstage		*c, *w;
	uint64_t			 ids[2], bad[2] = { 3, 99 };

	start(NULL);
	c = client();
	ck_assert_int_eq(pushstage_add(c, "a", 1), 0);
	ck_assert_int_eq(pushstage_add(c, "b", 1), 0);
	ck_assert_int_eq(pushstage_add(c, "c", 1), 0);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	w = consumer("w", 1, 0);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_int_eq(pushstage_cancelled(w, ev.id), 0);
	/* Refused whole: 99 is nowhere; 3 stays queued. */
	ck_assert_int_eq(pushstage_job_cancel(c, bad, 2, NULL, 0, out),
	    PUSHSTAGE_EPROTO);
	ck_assert_ptr_nonnull(strstr(pushstage_error(c), "no event 99"));
	pushstage_free(c);
	c = client();
	ck_assert_int_eq(pushstage_job(c, 3, NULL, 0, 0, &j), 0);
	ck_assert_int_eq(j->state, PUSHSTAGE_JOB_QUEUED);
	ck_assert_int_eq(pushstage_job_cancel(c, ids, 0, NULL, 0, out),
	    PUSHSTAGE_EINVAL);
	ids[0] = ev.id;
	ids[1] = 3;
	ck_assert_msg(pushstage_job_cancel(c, ids, 2, NULL, 0, out) == 0,
	    "%s", pushstage_error(c));
	ck_assert_uint_eq(out[0].id, ev.id);
	ck_assert_int_eq(out[0].outcome, PUSHSTAGE_CANCEL_TOLD);
	ck_assert_uint_eq(out[1].id, 3);
	ck_assert_int_eq(out[1].outcome, PUSHSTAGE_CANCEL_REMOVED);
	ck_assert_str_eq(pushstage_cancel_outcome_name(out[1].outcome),
	    "cancelled");
	ck_assert_int_eq(pushstage_job(c, ev.id, NULL, 0, 0, &j), 0);
	ck_assert_int_eq(j->state, PUSHSTAGE_JOB_CANCELLED);
	/* The consumer reads the CANCEL, still acks; nothing comes again. */
	while (!pushstage_cancelled(w, ev.id)) {
		ck_assert_int_eq(pushstage_read(w), 0);
		ck_assert_int_eq(pushstage_poll_event(w, &ev), 0);
	}
	ck_assert_int_eq(pushstage_ack(w, &ids[0], 1), 0);
	ck_assert_int_eq(pushstage_demand(w, pushstage_done(w)), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_uint_eq(ev.id, 2);
	ck_assert_uint_eq(ev.attempt, 1);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(nack_dead_letter_and_retry)
{
	static char			 big[PUSHSTAGE_ERROR_MAX + 1];
	const struct pushstage_dead	*d;
	const void			*err;
	size_t				 elen;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	uint32_t			 total, found;
	size_t				 n;

	start("--max-attempts", "2", NULL);
	c = client();
	ck_assert_int_eq(pushstage_add(c, "payload", 7), 0);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	w = consumer("w", 1, 0);
	ck_assert_uint_eq(pushstage_max_attempts(w), 2);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_uint_eq(ev.attempt, 1);
	/* The first failure says why; too long an error is refused. */
	ck_assert_int_eq(pushstage_nack_error(w, ev.id, 0, big, sizeof big),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_nack_error(w, ev.id, 0,
	    "ValueError: no", 14), 0);
	ck_assert_int_eq(pushstage_demand(w, pushstage_done(w)), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_uint_eq(ev.attempt, 2);
	ck_assert_int_eq(pushstage_nack(w, &ev.id, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	pushstage_free(w);

	do
		ck_assert_int_eq(pushstage_dead_list(c, 4, &d, &n, &total), 0);
	while (total == 0);
	ck_assert_uint_eq(total, 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(d[0].id, r.first_id);
	ck_assert_int_eq(d[0].reason, PUSHSTAGE_DEAD_NACK);
	ck_assert_uint_eq(d[0].attempts, 2);
	ck_assert_uint_eq(d[0].len, 7);
	ck_assert_uint_eq(d[0].preview_len, 4);
	ck_assert_mem_eq(d[0].preview, "payl", 4);
	/* Its last error: the plain NACK after it had none. */
	ck_assert_int_eq(pushstage_dead_error(c, 0, &err, &elen), 1);
	ck_assert_uint_eq(elen, 14);
	ck_assert_mem_eq(err, "ValueError: no", 14);
	ck_assert_int_eq(pushstage_dead_error(c, 1, &err, &elen), 0);
	ck_assert_int_eq(pushstage_dead_retry(c, &r.first_id, 1, &found), 0);
	ck_assert_uint_eq(found, 1);
	ck_assert_int_eq(pushstage_dead_drop(c, NULL, 0, &found), 0);
	ck_assert_uint_eq(found, 0);
	ck_assert_uint_eq(counter(c, "queued"), 1);
	pushstage_free(c);
	stop();
}
END_TEST

/*
 * PUSHSTAGE_NACK_DEAD gives up at once: on a queue of 5 attempts the
 * event is dead after its first, reason rejected, its error kept.
 */
START_TEST(nack_dead_gives_up_at_once)
{
	const struct pushstage_dead	*d;
	const struct pushstage_job	*j;
	const void			*err;
	size_t				 elen, n;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	uint32_t			 total;

	start("--max-attempts", "5", NULL);
	c = client();
	ck_assert_int_eq(pushstage_add(c, "never", 5), 0);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	w = consumer("w", 1, 0);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_uint_eq(ev.attempt, 1);
	ck_assert_int_eq(pushstage_nack_error(w, ev.id, PUSHSTAGE_NACK_DEAD,
	    "UnknownTask", 11), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	do
		ck_assert_int_eq(pushstage_dead_list(c, 0, &d, &n, &total), 0);
	while (total == 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(d[0].id, ev.id);
	ck_assert_int_eq(d[0].reason, PUSHSTAGE_DEAD_REJECTED);
	ck_assert_uint_eq(d[0].attempts, 1);
	ck_assert_int_eq(pushstage_dead_error(c, 0, &err, &elen), 1);
	ck_assert_uint_eq(elen, 11);
	ck_assert_mem_eq(err, "UnknownTask", 11);
	ck_assert_msg(pushstage_job(c, ev.id, NULL, 0, 0, &j) == 0, "%s",
	    pushstage_error(c));
	ck_assert_int_eq(j->state, PUSHSTAGE_JOB_DEAD);
	ck_assert_int_eq(j->reason, PUSHSTAGE_DEAD_REJECTED);
	ck_assert_uint_eq(j->nfailures, 1);
	ck_assert_uint_eq(counter(c, "nacked_total"), 1);
	ck_assert_uint_eq(counter(c, "redelivered_total"), 0);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/*
 * pushstage_task_stats: a row per task header's value with its fields by
 * name, paged by start; no queue, or none named, refused.
 */
START_TEST(task_stats_from_the_library)
{
	const struct pushstage_task	*ts;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	uint64_t			 v;
	uint32_t			 total;
	size_t				 n;
	int				 i;

	start(NULL);
	c = client();
	ck_assert_int_eq(pushstage_header(c, "task", "resize", 6), 0);
	ck_assert_int_eq(pushstage_add(c, "a", 1), 0);
	ck_assert_int_eq(pushstage_header(c, "task", "mail.send", 9), 0);
	ck_assert_int_eq(pushstage_add(c, "b", 1), 0);
	ck_assert_int_eq(pushstage_add(c, "c", 1), 0);	/* no task */
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	w = consumer("w", 3, 0);
	ck_assert_int_eq(pushstage_demand(w, 3), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
		ck_assert_int_eq(pushstage_ack(w, &ev.id, 1), 0);
	}
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_uint_eq(counter_reaches(c, "acked_total", 3), 3);
	ck_assert_msg(pushstage_task_stats(c, "default", 0, &ts, &n,
	    &total) == 0, "%s", pushstage_error(c));
	ck_assert_uint_eq(total, 2);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(ts[0].name, "resize");
	ck_assert_uint_eq(ts[0].len, 6);
	ck_assert_int_eq(pushstage_stat(ts[0].fields, ts[0].nfields, "done",
	    &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pushstage_stat(ts[1].fields, ts[1].nfields,
	    "handling_p99_ms", &v), 0);
	ck_assert_str_eq(ts[1].name, "mail.send");
	ck_assert_int_eq(pushstage_task_stats(c, "default", 1, &ts, &n,
	    &total), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ts[0].name, "mail.send");
	ck_assert_int_eq(pushstage_task_stats(c, NULL, 0, &ts, &n, &total),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_task_stats(c, "nope", 0, &ts, &n, &total),
	    PUSHSTAGE_EPROTO);
	ck_assert_ptr_nonnull(strstr(pushstage_error(c), "no queue nope"));
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/*
 * Schedules from the library: an ADD with settings, a key, a priority and
 * the headers given, read back by name and in the list (paged from start
 * until total); the same ADD again is no change, another EXISTS until
 * REPLACE; pause, resume, run_now's id (its event consumed with the
 * daemon's headers after the schedule's), remove; an unknown name is
 * PUSHSTAGE_ERR_NO_SCHEDULE (each refusal ends its connection, as every
 * ERROR does); what a schedule's event cannot carry, and bad names, are
 * refused before anything is sent, the connection still good.
 */
START_TEST(schedules_from_the_library)
{
	const char *const		 set[] = { "cron=0 0 1 1 *",
					     "tz=Europe/Berlin" };
	const char *const		 other[] = { "every=1h" };
	const struct pushstage_schedule	*s, *list;
	struct pushstage_attrs		 a = PUSHSTAGE_ATTRS_INIT;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	const void			*v;
	const char			*name;
	char				 sname[32];
	size_t				 n, vlen, nlen, seen = 0;
	uint32_t			 total, from = 0;
	uint64_t			 id;
	int				 i;

	/* A small frame limit: the list takes pages. */
	start("--max-frame", "4096", NULL);
	c = client();
	a.key = "k";
	a.klen = 1;
	a.priority = 9;
	ck_assert_int_eq(pushstage_header(c, "x-a", "1", 1), 0);
	ck_assert_msg(pushstage_schedule_add(c, "ny", "q", 0, set, 2, &a,
	    "data", 4, &s) == 0, "%s", pushstage_error(c));
	ck_assert_str_eq(s->name, "ny");
	ck_assert_str_eq(s->queue, "q");
	ck_assert_str_eq(pushstage_schedule_field(s, "cron"), "0 0 1 1 *");
	ck_assert_str_eq(pushstage_schedule_field(s, "tz"), "Europe/Berlin");
	ck_assert_str_eq(pushstage_schedule_field(s, "paused"), "no");
	ck_assert_str_eq(pushstage_schedule_field(s, "fired"), "0");
	ck_assert_ptr_null(pushstage_schedule_field(s, "every"));
	ck_assert_ptr_nonnull(strchr(pushstage_schedule_field(s, "next"),
	    ','));
	ck_assert_uint_eq(s->key_len, 1);
	ck_assert_int_eq(memcmp(s->key, "k", 1), 0);
	ck_assert_uint_eq(s->priority, 9);
	ck_assert_uint_eq(s->nheaders, 1);
	ck_assert_int_eq(memcmp(s->headers[0].name, "x-a", 3), 0);
	ck_assert_uint_eq(s->len, 4);
	ck_assert_int_eq(memcmp(s->data, "data", 4), 0);

	/* The same again: no change (the headers were taken: give them). */
	ck_assert_int_eq(pushstage_header(c, "x-a", "1", 1), 0);
	ck_assert_msg(pushstage_schedule_add(c, "ny", "q", 0, set, 2, &a,
	    "data", 4, NULL) == 0, "%s", pushstage_error(c));
	ck_assert_int_eq(pushstage_schedule_add(c, "ny", "q", 0, other, 1,
	    NULL, NULL, 0, NULL), PUSHSTAGE_EPROTO);
	ck_assert_int_eq(pushstage_error_code(c), PUSHSTAGE_ERR_EXISTS);
	/* An ERROR ends the connection: a new one goes on. */
	pushstage_free(c);
	c = client();
	ck_assert_msg(pushstage_schedule_add(c, "ny", "q",
	    PUSHSTAGE_SCHEDULE_REPLACE, other, 1, NULL, NULL, 0, &s) == 0,
	    "%s", pushstage_error(c));
	ck_assert_int_eq(pushstage_error_code(c), 0);
	ck_assert_str_eq(pushstage_schedule_field(s, "every"), "1h");
	ck_assert_ptr_null(s->key);
	ck_assert_uint_eq(s->nheaders, 0);

	/* pause, resume, get. */
	ck_assert_int_eq(pushstage_schedule_pause(c, "ny", &s), 0);
	ck_assert_str_eq(pushstage_schedule_field(s, "paused"), "yes");
	ck_assert_int_eq(pushstage_schedule_get(c, "ny", &s), 0);
	ck_assert_str_eq(pushstage_schedule_field(s, "paused"), "yes");
	ck_assert_int_eq(pushstage_schedule_resume(c, "ny", &s), 0);
	ck_assert_str_eq(pushstage_schedule_field(s, "paused"), "no");

	/* run_now: an event, with the daemon's headers. */
	ck_assert_int_eq(pushstage_header(c, "x-b", "2", 1), 0);
	ck_assert_int_eq(pushstage_schedule_add(c, "now", "q", 0, other, 1,
	    NULL, "go", 2, NULL), 0);
	ck_assert_msg(pushstage_schedule_run_now(c, "now", &id, &s) == 0,
	    "%s", pushstage_error(c));
	ck_assert_uint_gt(id, 0);
	ck_assert_str_eq(s->name, "now");
	ck_assert_ptr_nonnull(w = pushstage_new());
	ck_assert_int_eq(pushstage_queue(w, "q"), 0);
	ck_assert_int_eq(pushstage_connect_consumer(w, sock, "w", 1, 0), 0);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_uint_eq(ev.id, id);
	ck_assert_uint_eq(ev.len, 2);
	ck_assert_int_eq(pushstage_event_header_at(w, &ev, 0, &name, &nlen,
	    &v, &vlen), 1);
	ck_assert_int_eq(memcmp(name, "x-b", 3), 0);
	ck_assert_int_eq(pushstage_event_header(w, &ev, "pushstage-schedule",
	    &v, &vlen), 1);
	ck_assert_uint_eq(vlen, 3);
	ck_assert_int_eq(memcmp(v, "now", 3), 0);
	ck_assert_int_eq(pushstage_event_header(w, &ev, "pushstage-tick", &v,
	    &vlen), 1);
	pushstage_free(w);

	/* Many: the list pages until total, in the order added. */
	for (i = 0; i < 200; i++) {
		snprintf(sname, sizeof sname, "many-%03d", i);
		ck_assert_int_eq(pushstage_schedule_add(c, sname, "q", 0, other,
		    1, NULL, "0123456789012345678901234567890123456789", 40,
		    NULL), 0);
	}
	do {
		ck_assert_msg(pushstage_schedules(c, from, &list, &n,
		    &total) == 0, "%s", pushstage_error(c));
		ck_assert_uint_eq(total, 202);
		for (i = 0; i < (int)n; i++, seen++) {
			if (seen < 2)
				ck_assert_str_eq(list[i].name, seen == 0 ?
				    "ny" : "now");
			else {
				snprintf(sname, sizeof sname, "many-%03zu",
				    seen - 2);
				ck_assert_str_eq(list[i].name, sname);
			}
		}
		from += (uint32_t)n;
	} while (n != 0 && from < total);
	ck_assert_uint_eq(seen, 202);

	/* remove, and a name it does not have. */
	ck_assert_int_eq(pushstage_schedule_remove(c, "ny", &s), 0);
	ck_assert_str_eq(s->name, "ny");
	ck_assert_int_eq(pushstage_schedule_get(c, "ny", &s),
	    PUSHSTAGE_EPROTO);
	ck_assert_int_eq(pushstage_error_code(c), PUSHSTAGE_ERR_NO_SCHEDULE);
	pushstage_free(c);
	c = client();
	ck_assert_int_eq(pushstage_schedule_run_now(c, "ny", &id, NULL),
	    PUSHSTAGE_EPROTO);
	ck_assert_int_eq(pushstage_error_code(c), PUSHSTAGE_ERR_NO_SCHEDULE);
	pushstage_free(c);
	c = client();

	/* Refused here: nothing sent, the connection still good. */
	a = (struct pushstage_attrs)PUSHSTAGE_ATTRS_INIT;
	a.delay_ms = 1000;
	ck_assert_int_eq(pushstage_schedule_add(c, "d", "q", 0, other, 1, &a,
	    NULL, 0, NULL), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_error_code(c), 0);
	a = (struct pushstage_attrs)PUSHSTAGE_ATTRS_INIT;
	a.unique_id = "u";
	a.unique_id_len = 1;
	ck_assert_int_eq(pushstage_schedule_add(c, "d", "q", 0, other, 1, &a,
	    NULL, 0, NULL), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_schedule_add(c, "d", "q/g", 0, other, 1,
	    NULL, NULL, 0, NULL), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_schedule_add(c, "a b", "q", 0, other, 1,
	    NULL, NULL, 0, NULL), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_schedule_pause(c, NULL, NULL),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_schedule_get(c, "now", &s), 0);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(daemon_going_away_is_eio)
{
	struct pushstage_event	 ev;
	struct pushstage	*w;

	start(NULL);
	w = consumer("w", 1, 0);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	stop();
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_EIO);
	ck_assert_msg(strstr(pushstage_error(w), sock) != NULL, "%s",
	    pushstage_error(w));
	pushstage_free(w);
}
END_TEST

static Suite *
lib_suite(void)
{
	Suite	*s = suite_create("libpushstage");
	TCase	*tc = tcase_create("api");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_add_test(tc, no_daemon);
	tcase_add_test(tc, roundtrip_in_order_with_acks);
	tcase_add_test(tc, touch_and_ack_timeout);
	tcase_add_test(tc, strerror_names_every_status);
	tcase_add_test(tc, demand_tops_up_as_genstage_does);
	tcase_add_test(tc, pipelined_batches);
	tcase_add_test(tc, consumer_entry_names_the_process);
	tcase_add_test(tc, batch_limits);
	tcase_add_test(tc, full_queue_keeps_the_refused);
	tcase_add_test(tc, roles_are_checked);
	tcase_add_test(tc, partitions);
	tcase_add_test(tc, attributes);
	tcase_add_test(tc, headers);
	tcase_add_test(tc, an_older_daemon_is_asked_in_version_3);
	tcase_add_test(tc, nack_dead_letter_and_retry);
	tcase_add_test(tc, a_long_error_goes_as_its_end);
	tcase_add_test(tc, nack_dead_gives_up_at_once);
	tcase_add_test(tc, task_stats_from_the_library);
	tcase_add_test(tc, cancel_from_the_library);
	tcase_add_test(tc, schedules_from_the_library);
	tcase_add_test(tc, daemon_going_away_is_eio);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(lib_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
