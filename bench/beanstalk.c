/*
 * beanstalk.c: W1 and W2 on beanstalkd, the durable work queue users know:
 * a private beanstalkd on a Unix socket (with --fsync, its binlog in a
 * temporary directory: -f0 for always and batch, -f MS for interval:MS,
 * -F for never).  One client pipelines puts, --batch at a time, with
 * --window such batches in flight, as pushstage's client keeps its
 * batches, and reads their INSERTED replies; each consumer reserves,
 * marks the board and
 * deletes, one job at a time (beanstalkd has no batch reserve), sending
 * its delete and its next reserve in one write.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "fdio.h"
#include "log.h"
#include "net.h"

#define MAX_CONSUMERS	64

struct bs_args {
	const char	*sock;
	struct board	*b;
};

/* A connection's read side: lines and bodies out of one buffer. */
struct bs_conn {
	int		 fd;
	char		 buf[1 << 16];
	size_t		 len;
};

int
beanstalk_available(void)
{
	return system("command -v beanstalkd >/dev/null 2>&1") == 0;
}

static void
bs_write(int fd, const void *p, size_t n)
{
	if (write_all(fd, p, n) != 0)
		fatal("beanstalkd: write");
}

/* Read until buf holds at least n bytes; 0 at EOF. */
static int
bs_fill(struct bs_conn *c, size_t n)
{
	ssize_t	 r;

	while (c->len < n) {
		if (n > sizeof c->buf)
			fatalx("beanstalkd: reply too long");
		if ((r = read(c->fd, c->buf + c->len, sizeof c->buf -
		    c->len)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("beanstalkd: read");
		}
		if (r == 0)
			return 0;
		c->len += (size_t)r;
	}
	return 1;
}

/* The next line (without \r\n) into line; 0 at EOF. */
static int
bs_line(struct bs_conn *c, char *line, size_t size)
{
	char	*nl;
	size_t	 n;

	for (;;) {
		if ((nl = memchr(c->buf, '\n', c->len)) != NULL)
			break;
		if (!bs_fill(c, c->len + 1))
			return 0;
	}
	n = (size_t)(nl - c->buf) + 1;
	if (n - 2 >= size)
		fatalx("beanstalkd: line too long");
	memcpy(line, c->buf, n - 2);
	line[n - 2] = '\0';
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	return 1;
}

static void
bs_consumer(void *arg)
{
	struct bs_args	*a = arg;
	struct bs_conn	 c = { .len = 0 };
	struct tally	 t = { 0 };
	char		 line[128], cmd[64];
	unsigned long long id;
	size_t		 bytes;
	int		 n;

	signal(SIGTERM, SIG_DFL);
	if ((c.fd = net_connect_unix(a->sock)) == -1)
		fatal("beanstalkd at %s", a->sock);
	bs_write(c.fd, "reserve\r\n", 9);
	for (;;) {
		if (!bs_line(&c, line, sizeof line))
			_exit(0);
		if (sscanf(line, "RESERVED %llu %zu", &id, &bytes) != 2)
			continue;	/* DELETED */
		if (!bs_fill(&c, bytes + 2))
			_exit(0);
		board_mark(a->b, (const uint8_t *)c.buf, bytes, &t);
		board_commit(a->b, &t);
		memmove(c.buf, c.buf + bytes + 2, c.len - bytes - 2);
		c.len -= bytes + 2;
		n = snprintf(cmd, sizeof cmd, "delete %llu\r\nreserve\r\n", id);
		bs_write(c.fd, cmd, (size_t)n);
	}
}

/*
 * Until n connections wait in a reserve (stats' current-waiting), so that
 * the clock starts with every consumer ready however slowly they started;
 * up to 30 s, then the run goes on (only the rate would suffer).
 */
static void
bs_wait_reserving(struct bs_conn *c, int n)
{
	char		 line[128] = "";
	const char	*p;
	size_t		 bytes;
	uint64_t	 end = clock_ns() + 30 * UINT64_C(1000000000);
	long		 have;

	do {
		bs_write(c->fd, "stats\r\n", 7);
		if (!bs_line(c, line, sizeof line) ||
		    sscanf(line, "OK %zu", &bytes) != 1 ||
		    !bs_fill(c, bytes + 2))
			fatalx("beanstalkd stats: %s", line);
		c->buf[bytes] = '\0';		/* over the \r\n's \r */
		have = (p = strstr(c->buf, "current-waiting: ")) != NULL ?
		    strtol(p + strlen("current-waiting: "), NULL, 10) : 0;
		memmove(c->buf, c->buf + bytes + 2, c->len - bytes - 2);
		c->len -= bytes + 2;
		if (have >= n)
			return;
		usleep(5000);
	} while (clock_ns() < end);
	log_errorx("only %ld of %d consumers wait in a reserve after 30 s",
	    have, n);
}

int
beanstalk_run(const struct settings *s, const char *workload,
    struct result *r)
{
	struct bs_args	 a;
	struct bs_conn	 c = { .len = 0 };
	pid_t		 server, pids[MAX_CONSUMERS] = { 0 };
	char		 dir[64], sock[128], listen[140], wal[128], f[32];
	char		 line[128], head[64];
	uint8_t		*out, *payload;
	struct board	*b;
	struct usage	 u0, u1;
	uint64_t	 total, seq, t0, t, inflight = 0, end;
	size_t		 at, need;
	int		 i, n = s->consumers, k, error = -1, hl;

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	snprintf(r->mode, sizeof r->mode, "beanstalkd %s", s->fsync == NULL ?
	    "memory" : strcmp(s->fsync, "never") == 0 ? "-F" :
	    strncmp(s->fsync, "interval:", 9) == 0 ? "-f MS" : "-f0");
	total = workload_events(s, workload);
	if (n > MAX_CONSUMERS)
		n = MAX_CONSUMERS;
	r->events = total;
	r->depth = s->window;
	r->batch = s->batch;
	r->acks = 1;		/* a delete per job */

	snprintf(dir, sizeof dir, "/tmp/pushbench-bs.XXXXXX");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(sock, sizeof sock, "%s/bs.sock", dir);
	snprintf(listen, sizeof listen, "unix:%s", sock);
	snprintf(wal, sizeof wal, "%s/wal", dir);
	if (s->fsync != NULL && mkdir(wal, 0700) != 0)
		fatal("mkdir %s", wal);
	snprintf(f, sizeof f, "-f%s", s->fsync != NULL &&
	    strncmp(s->fsync, "interval:", 9) == 0 ? s->fsync + 9 : "0");
	if ((server = fork()) == -1)
		fatal("fork");
	if (server == 0) {
		/* Quiet: consumers killed in a reserve make it complain. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		if (s->fsync == NULL)
			execlp("beanstalkd", "beanstalkd", "-l", listen, "-z",
			    "1048576", (char *)NULL);
		else
			execlp("beanstalkd", "beanstalkd", "-l", listen, "-z",
			    "1048576", "-b", wal, strcmp(s->fsync, "never") == 0 ?
			    "-F" : f, (char *)NULL);
		_exit(127);
	}
	/* Until it takes a connection (up to 30 s: a loaded machine is slow
	 * to run a new process), or has exited. */
	end = clock_ns() + 30 * UINT64_C(1000000000);
	while ((c.fd = net_connect_unix(sock)) == -1) {
		if (waitpid(server, NULL, WNOHANG) == server)
			fatalx("beanstalkd exited before it listened on %s",
			    sock);
		if (clock_ns() > end)
			fatalx("beanstalkd did not listen on %s in 30 s", sock);
		usleep(10000);
	}
	b = board_new(total, 0);
	a.sock = sock;
	a.b = b;
	for (i = 0; i < n; i++)
		pids[i] = spawn(bs_consumer, &a);
	hl = snprintf(head, sizeof head, "put 0 0 60 %zu\r\n", s->size);
	need = (size_t)s->batch * ((size_t)hl + s->size + 2);
	if ((out = malloc(need)) == NULL)
		fatal("malloc");
	bs_wait_reserving(&c, n);
	usage_read(server, &u0);
	t0 = clock_ns();
	for (seq = 0; seq < total; seq += (uint64_t)k) {
		t = clock_ns();
		at = 0;
		for (k = 0; k < (int)s->batch && seq + (uint64_t)k < total;
		    k++) {
			memcpy(out + at, head, (size_t)hl);
			at += (size_t)hl;
			payload = out + at;
			memset(payload, 0, s->size);
			stamp(payload, seq + (uint64_t)k, t);
			at += s->size;
			memcpy(out + at, "\r\n", 2);
			at += 2;
		}
		bs_write(c.fd, out, at);
		/* window batches in flight: read the oldest batch's replies. */
		inflight += (uint64_t)k;
		while (inflight > (uint64_t)(s->window - 1) * s->batch ||
		    (seq + (uint64_t)k >= total && inflight != 0)) {
			if (!bs_line(&c, line, sizeof line) ||
			    strncmp(line, "INSERTED ", 9) != 0)
				fatalx("beanstalkd put: %s", line);
			inflight--;
		}
	}
	if (board_wait(b, WAIT_MS(s), pids, n) == 0) {
		r->rate = (double)total * 1e9 /
		    (double)(atomic_load(&b->last_ns) - t0);
		usage_read(server, &u1);
		usage_span(r, &u0, &u1);
		r->exact = board_exact(b);
		error = 0;
	}
	close(c.fd);
	free(out);
	reap(pids, n);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	rmtree(dir);
	board_free(b);
	return error;
}
