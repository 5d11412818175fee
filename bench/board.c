/*
 * board.c: the shared record of a run.  Each receiving process marks the
 * events it gets by their sequence number; the parent checks that each
 * arrived exactly once and reads the latencies.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <dirent.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

/*
 * A payload for event seq sent at time t.  Senders take the time once per
 * batch: a clock read per event would be most of what a batch costs.
 */
void
stamp(uint8_t *p, uint64_t seq, uint64_t t)
{
	memcpy(p, &seq, 8);
	memcpy(p + 8, &t, 8);
}

struct board *
board_new(uint64_t total, int latency)
{
	struct board	*b;
	size_t		 head, size;
	uint8_t		*p;
	int		 fds[2];

	/*
	 * The struct, then with latencies the send times (8-byte aligned)
	 * and two latencies an event, then the counts.
	 */
	head = (sizeof *b + 7) & ~(size_t)7;
	size = head + (latency ? total * (sizeof(uint64_t) +
	    2 * sizeof(uint32_t)) : 0) + total;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		fatal("mmap %zu bytes", size);
	if (pipe(fds) == -1)
		fatal("pipe");
	b = (struct board *)(void *)p;
	memset(b, 0, sizeof *b);
	b->total = total;
	b->latency = latency;
	if (latency) {
		b->sent_ns = (uint64_t *)(void *)(p + head);
		b->lat_ns = (uint32_t *)(void *)(b->sent_ns + total);
		b->lat_sent_ns = b->lat_ns + total;
		b->seen = (_Atomic uint8_t *)(void *)(b->lat_sent_ns + total);
	} else
		b->seen = (_Atomic uint8_t *)(p + head);
	b->wait_fd = fds[0];
	b->done_fd = fds[1];
	b->mapped = size;
	return b;
}

void
board_free(struct board *b)
{
	close(b->wait_fd);
	close(b->done_fd);
	munmap(b, b->mapped);
}

/* ns from a to b, saturated to 32 bits. */
static uint32_t
span(uint64_t a, uint64_t b)
{
	return b < a ? 0 : b - a > UINT32_MAX ? UINT32_MAX : (uint32_t)(b - a);
}

/* The sender: event seq really went at t (it may have been due earlier). */
void
board_sent(struct board *b, uint64_t seq, uint64_t t)
{
	if (b->latency && seq < b->total)
		b->sent_ns[seq] = t;
}

/*
 * One event arrived: mark it seen (and its latency).  The counts go to the
 * shared counters once per read, in board_commit, not once per event:
 * processes hammering one shared cache line would measure the benchmark.
 */
void
board_mark(struct board *b, const uint8_t *p, size_t len, struct tally *t)
{
	board_mark_copy(b, p, len, 0, 1, t);
}

/*
 * The same, for a fan-out: the copy-th of copies each event arrives as
 * (its group): the board has a place for each copy of each event.
 */
void
board_mark_copy(struct board *b, const uint8_t *p, size_t len,
    uint32_t copy, uint32_t copies, struct tally *t)
{
	uint64_t	 seq, sent, now;

	if (len < STAMP_LEN)
		return;
	memcpy(&seq, p, 8);
	seq = seq * copies + copy;
	if (seq >= b->total)
		return;
	if (atomic_fetch_add_explicit(&b->seen[seq], 1,
	    memory_order_relaxed) != 0)
		atomic_fetch_add(&b->dups, 1);
	if (b->latency) {
		memcpy(&sent, p + 8, 8);
		now = clock_ns();
		b->lat_ns[seq] = span(sent, now);
		b->lat_sent_ns[seq] = span(b->sent_ns[seq] != 0 ?
		    b->sent_ns[seq] : sent, now);
	}
	t->n++;
}

/* What one read brought: add it up, and say so when it is the last. */
void
board_commit(struct board *b, struct tally *t)
{
	uint64_t	 now = clock_ns(), last, n;
	char		 c = 1;

	if (t->n == 0)
		return;
	last = atomic_load(&b->last_ns);
	while (last < now && !atomic_compare_exchange_weak(&b->last_ns,
	    &last, now))
		continue;
	n = atomic_fetch_add(&b->received, t->n) + t->n;
	t->n = 0;
	if (n == b->total && write(b->done_fd, &c, 1) == -1)
		fatal("write");
}

/*
 * Wait for the last event, up to ms; 0 when it came.  One of the n
 * children in pids that exits other than 0, or is killed, before then
 * ends the wait at once, said: -1.  Those that exit are collected (their
 * pid 0), for reap.
 */
int
board_wait(struct board *b, int ms, pid_t *pids, int n)
{
	struct pollfd	 pfd = { b->wait_fd, POLLIN, 0 };
	uint64_t	 end = clock_ms() + (uint64_t)ms, now;
	int		 r, i, status;

	for (;;) {
		now = clock_ms();
		if (now >= end) {
			log_errorx("the last event did not come in %d s",
			    ms / 1000);
			return -1;
		}
		r = poll(&pfd, 1, end - now > 100 ? 100 : (int)(end - now));
		if (r == 1)
			return 0;
		if (r == -1 && errno != EINTR)
			fatal("poll");
		for (i = 0; i < n; i++) {
			if (pids[i] <= 0 || waitpid(pids[i], &status,
			    WNOHANG) != pids[i])
				continue;
			pids[i] = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				continue;
			if (WIFEXITED(status))
				log_errorx("a child of pushbench exited %d "
				    "before the last event",
				    WEXITSTATUS(status));
			else
				log_errorx("a child of pushbench was killed "
				    "by signal %d before the last event",
				    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
			return -1;
		}
	}
}

int
board_exact(const struct board *b)
{
	uint64_t	 i;

	if (atomic_load(&b->dups) != 0)
		return 0;
	for (i = 0; i < b->total; i++) {
		if (atomic_load(&b->seen[i]) != 1)
			return 0;
	}
	return 1;
}

static int
by_value(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* p50, p99, p99.9 and max of n latencies in ns, in microseconds. */
static void
quantiles(const uint32_t *lat, uint64_t n, double out[4])
{
	static const double	 q[3] = { 0.50, 0.99, 0.999 };
	uint32_t		*v;
	size_t			 i;

	memset(out, 0, 4 * sizeof out[0]);
	if (n == 0 || lat == NULL)
		return;
	if ((v = malloc(n * sizeof *v)) == NULL)
		fatal("malloc");
	memcpy(v, lat, n * sizeof *v);
	qsort(v, n, sizeof *v, by_value);
	for (i = 0; i < 3; i++)
		out[i] = v[(size_t)(q[i] * (double)(n - 1))] / 1000.0;
	out[3] = v[n - 1] / 1000.0;
	free(v);
}

/*
 * The latencies: from the time each event was due (its stamp) and from
 * the time it really went (board_sent; the stamp when not said).
 */
void
board_latency(const struct board *b, double due[4], double sent[4])
{
	quantiles(b->lat_ns, b->total, due);
	quantiles(b->lat_sent_ns, b->total, sent);
}

/* Run fn(arg) in a child process, which exits when it returns. */
pid_t
spawn(void (*fn)(void *), void *arg)
{
	pid_t	 pid;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	return pid;
}

/* Stop and collect n children. */
void
reap(pid_t *pids, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	}
	for (i = 0; i < n; i++) {
		if (pids[i] > 0)
			while (waitpid(pids[i], NULL, 0) == -1 && errno == EINTR)
				continue;
		pids[i] = 0;
	}
}

/* A temporary directory and what is in it, one level of subdirectories. */
void
rmtree(const char *dir)
{
	char		 p[512];
	struct dirent	*de;
	DIR		*dp;

	if ((dp = opendir(dir)) != NULL) {
		while ((de = readdir(dp)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >=
			    (int)sizeof p)
				continue;	/* not one of ours */
			if (unlink(p) != 0)
				rmtree(p);
		}
		closedir(dp);
	}
	rmdir(dir);
}

/* Events in a run of workload: its own count, --quick's, or --events. */
uint64_t
workload_events(const struct settings *s, const char *workload)
{
	if (s->events != 0)
		return s->events;
	if (strcmp(workload, "W2") == 0 || strcmp(workload, "W3") == 0)
		return s->quick ? 2000 : strcmp(workload, "W2") == 0 ?
		    200000 : 50000;		/* W3: 5 s at 100 µs */
	return s->quick ? 20000 : 1000000;
}
