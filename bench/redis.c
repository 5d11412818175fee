/*
 * redis.c: W1, W2 and W4 on Redis, the closest thing users would pick
 * instead: a private redis-server on a Unix socket, no persistence.  One
 * client LPUSHes batches of --batch, pipelined to --window batches in
 * flight, as pushstage's client posts its batches; consumers take with
 * BLMPOP ... COUNT --batch (W1, W4) or BRPOP (W2).  W4 fills the list
 * with no consumer first and measures the server's memory per event.
 * The same board checks each event arrived exactly once.
 *
 * A pop forgets the event as it goes, so W2 is also run as Redis's
 * reliable queue, the peer of pushstage's at-least-once: BLMOVE into a
 * processing list, then LREM from it once the event is marked (the ack),
 * the LREM and the next BLMOVE in one write, as beanstalkd's consumer
 * sends its delete and its next reserve.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bench.h"
#include "log.h"

#define MAX_CONSUMERS	64
#define KEY		"pushbench"
#define PROCESSING	"pushbench:processing"
#define MOVE		"BLMOVE " KEY " " PROCESSING " RIGHT LEFT 1"

struct redis_args {
	const char	*sock;
	struct board	*b;
	int		 one;		/* BRPOP, else BLMPOP COUNT batch */
	int		 reliable;	/* BLMOVE, then LREM */
	uint32_t	 batch;
};

int
redis_available(void)
{
	return system("command -v redis-server >/dev/null 2>&1") == 0;
}

static redisContext *
connect_to(const char *sock)
{
	redisContext	*rc;

	if ((rc = redisConnectUnix(sock)) == NULL || rc->err != 0)
		fatalx("redis at %s: %s", sock, rc ? rc->errstr : "no memory");
	return rc;
}

/*
 * The private redis-server's connection, once it answers PING.  Its socket
 * file exists from bind(), before it listens, so a connect as soon as the
 * file is there can be refused (pushbench_quick failed so on a loaded
 * machine).  Up to 30 s, as a new process can be slow to run at load 12;
 * NULL, said why, if it exits first (*reaped set) or never answers.
 */
static redisContext *
wait_redis(const char *sock, pid_t server, int *reaped)
{
	redisContext	*rc;
	redisReply	*r;
	uint64_t	 end = clock_ns() + 30 * UINT64_C(1000000000);
	int		 up;

	do {
		if (waitpid(server, NULL, WNOHANG) == server) {
			*reaped = 1;
			log_errorx("redis-server exited before it answered at "
			    "%s", sock);
			return NULL;
		}
		if ((rc = redisConnectUnix(sock)) != NULL && rc->err == 0) {
			r = redisCommand(rc, "PING");
			up = r != NULL && r->type == REDIS_REPLY_STATUS &&
			    strcmp(r->str, "PONG") == 0;
			if (r != NULL)
				freeReplyObject(r);
			if (up)
				return rc;
		}
		if (rc != NULL)
			redisFree(rc);
		usleep(10000);
	} while (clock_ns() < end);
	log_errorx("redis-server did not answer PING at %s in 30 s", sock);
	return NULL;
}

/*
 * Until n clients wait in a pop (INFO's blocked_clients), so that the clock
 * starts with every consumer ready however slowly they started; up to 30 s,
 * then the run goes on (only the rate would suffer, not the count).
 */
static void
wait_blocked(redisContext *rc, int n)
{
	redisReply	*r;
	const char	*p;
	uint64_t	 end = clock_ns() + 30 * UINT64_C(1000000000);
	long		 have;

	do {
		if ((r = redisCommand(rc, "INFO clients")) == NULL)
			fatalx("redis: %s", rc->errstr);
		have = 0;
		if (r->str != NULL &&
		    (p = strstr(r->str, "blocked_clients:")) != NULL)
			have = strtol(p + strlen("blocked_clients:"), NULL, 10);
		freeReplyObject(r);
		if (have >= n)
			return;
		usleep(5000);
	} while (clock_ns() < end);
	log_errorx("only %ld of %d consumers wait in a pop after 30 s", have,
	    n);
}

static void
append(redisContext *rc, const char *cmd)
{
	if (redisAppendCommand(rc, cmd) != REDIS_OK)
		fatalx("redis: %s", rc->errstr);
}

/*
 * The reliable queue's consumer: each event moved to the processing list,
 * marked, then removed from there.  An LREM that removes nothing would be
 * an ack of an event the server no longer held.
 */
static void
reliable_consumer(struct redis_args *a, redisContext *rc)
{
	redisReply	*r, *rem;
	struct tally	 t = { 0 };

	append(rc, MOVE);
	for (;;) {
		if (redisGetReply(rc, (void **)&r) != REDIS_OK || r == NULL)
			_exit(0);
		if (r->type == REDIS_REPLY_ERROR)
			fatalx("redis BLMOVE: %s", r->str);
		if (r->type != REDIS_REPLY_STRING) {
			append(rc, MOVE);	/* nil: its second passed */
			freeReplyObject(r);
			continue;
		}
		board_mark(a->b, (const uint8_t *)r->str, r->len, &t);
		board_commit(a->b, &t);
		if (redisAppendCommand(rc, "LREM " PROCESSING " 1 %b", r->str,
		    r->len) != REDIS_OK)
			fatalx("redis: %s", rc->errstr);
		append(rc, MOVE);
		freeReplyObject(r);
		if (redisGetReply(rc, (void **)&rem) != REDIS_OK || rem == NULL)
			_exit(0);
		if (rem->type != REDIS_REPLY_INTEGER || rem->integer != 1)
			fatalx("redis LREM: %s", rem->type ==
			    REDIS_REPLY_ERROR ? rem->str :
			    "the event was not in " PROCESSING);
		freeReplyObject(rem);
	}
}

static void
redis_consumer(void *arg)
{
	struct redis_args	*a = arg;
	redisContext		*rc = connect_to(a->sock);
	redisReply		*r, *list;
	struct tally		 t = { 0 };
	size_t			 i;

	signal(SIGTERM, SIG_DFL);
	if (a->reliable)
		reliable_consumer(a, rc);
	for (;;) {
		if (a->one)
			r = redisCommand(rc, "BRPOP " KEY " 1");
		else
			r = redisCommand(rc, "BLMPOP 1 1 " KEY " RIGHT COUNT %u",
			    a->batch);
		if (r == NULL)
			_exit(0);
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
			list = r->element[1];
			if (a->one)
				board_mark(a->b, (const uint8_t *)list->str,
				    list->len, &t);
			else
				for (i = 0; i < list->elements; i++)
					board_mark(a->b, (const uint8_t *)
					    list->element[i]->str,
					    list->element[i]->len, &t);
			board_commit(a->b, &t);
		} else if (r->type == REDIS_REPLY_ERROR)
			fatalx("redis: %s", r->str);
		freeReplyObject(r);
	}
}

/* The server's resident memory, KiB. */
static uint64_t
rss_kb(pid_t pid)
{
	char			 path[64], buf[256];
	unsigned long long	 v = 0;
	FILE			*f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(buf, sizeof buf, f) != NULL)
		if (sscanf(buf, "VmRSS: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void
get_reply(redisContext *rc)
{
	redisReply	*rep;

	if (redisGetReply(rc, (void **)&rep) != REDIS_OK || rep == NULL ||
	    rep->type == REDIS_REPLY_ERROR)
		fatalx("LPUSH: %s", rep ? rep->str : rc->errstr);
	freeReplyObject(rep);
}

/* LPUSH events 0..total-1 in batches, window batches in flight. */
static void
push_all(const struct settings *s, redisContext *rc, uint64_t total)
{
	const char	**argv;
	size_t		 *lens;
	uint8_t		 *payloads;
	uint64_t	  seq, t, inflight = 0;
	uint32_t	  k;
	int		  done;

	if ((argv = calloc(s->batch + 2, sizeof *argv)) == NULL ||
	    (lens = calloc(s->batch + 2, sizeof *lens)) == NULL ||
	    (payloads = calloc(s->batch, s->size)) == NULL)
		fatal("calloc");
	argv[0] = "LPUSH";
	lens[0] = 5;
	argv[1] = KEY;
	lens[1] = strlen(KEY);
	for (seq = 0; seq < total; seq += k) {
		t = clock_ns();
		for (k = 0; k < s->batch && seq + k < total; k++) {
			stamp(payloads + (size_t)k * s->size, seq + k, t);
			argv[2 + k] = (const char *)payloads + (size_t)k *
			    s->size;
			lens[2 + k] = s->size;
		}
		/* Sent at once, answered later: pipelined. */
		if (redisAppendCommandArgv(rc, 2 + (int)k, argv, lens) !=
		    REDIS_OK)
			fatalx("LPUSH: %s", rc->errstr);
		do {
			if (redisBufferWrite(rc, &done) != REDIS_OK)
				fatalx("LPUSH: %s", rc->errstr);
		} while (!done);
		if (++inflight > s->window) {
			get_reply(rc);
			inflight--;
		}
	}
	while (inflight-- != 0)
		get_reply(rc);
	free(argv);
	free(lens);
	free(payloads);
}

/*
 * Until every event taken is acked, the processing list empty: the last
 * consumer marks the board before its LREM goes.  Up to 5 s; -1, said,
 * if events stay there.
 */
static int
wait_acked(redisContext *rc)
{
	redisReply	*r;
	uint64_t	 end = clock_ns() + 5 * UINT64_C(1000000000);
	long long	 left;

	do {
		if ((r = redisCommand(rc, "LLEN " PROCESSING)) == NULL)
			fatalx("redis: %s", rc->errstr);
		left = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
		freeReplyObject(r);
		if (left == 0)
			return 0;
		usleep(1000);
	} while (clock_ns() < end);
	log_errorx("redis: %lld events left in " PROCESSING ", never acked",
	    left);
	return -1;
}

/* Workload on Redis: its pops, or (reliable) BLMOVE and LREM. */
int
redis_run(const struct settings *s, const char *workload, int reliable,
    struct result *r)
{
	struct redis_args	 a;
	pid_t			 server, pids[MAX_CONSUMERS] = { 0 };
	char			 dir[64], sock[128];
	redisContext		*rc;
	struct board		*b;
	struct usage		 u0, u1;
	uint64_t		 total, t0, t1, rss0;
	int			 i, n = s->consumers, error = -1, reaped = 0;
	int			 w4 = strcmp(workload, "W4") == 0;

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	a.one = strcmp(workload, "W2") == 0;
	a.reliable = reliable;
	a.batch = s->batch;
	snprintf(r->mode, sizeof r->mode, "redis %s%s", reliable ?
	    "BLMOVE+LREM" : a.one ? "BRPOP" : "BLMPOP", s->fsync == NULL ? "" :
	    " aof");
	total = workload_events(s, workload);
	if (n > MAX_CONSUMERS)
		n = MAX_CONSUMERS;
	r->events = total;
	r->depth = s->window;
	r->batch = s->batch;
	r->acks = reliable;	/* LREM; a pop takes it: nothing comes back */

	snprintf(dir, sizeof dir, "/tmp/pushbench-redis.XXXXXX");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(sock, sizeof sock, "%s/redis.sock", dir);
	if ((server = fork()) == -1)
		fatal("fork");
	if (server == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		/* --fsync: the append-only file, fsynced as alike as it goes. */
		execlp("redis-server", "redis-server", "--port", "0",
		    "--unixsocket", sock, "--unixsocketperm", "700", "--save",
		    "", "--appendonly", s->fsync == NULL ? "no" : "yes",
		    "--appendfsync", s->fsync == NULL ? "no" :
		    strcmp(s->fsync, "never") == 0 ? "no" :
		    strncmp(s->fsync, "interval:", 9) == 0 ? "everysec" :
		    "always", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	if ((rc = wait_redis(sock, server, &reaped)) == NULL) {
		if (!reaped) {
			kill(server, SIGKILL);
			waitpid(server, NULL, 0);
		}
		rmtree(dir);
		return -1;
	}
	b = board_new(total, 0);
	a.sock = sock;
	a.b = b;
	if (w4) {
		/* The backlog: pushed with nobody to take, then drained. */
		usleep(100000);
		rss0 = rss_kb(server);
		usage_read(server, &u0);
		t0 = clock_ns();
		push_all(s, rc, total);
		t1 = clock_ns();
		r->enq_rate = (double)total * 1e9 / (double)(t1 - t0);
		r->per_event = ((double)rss_kb(server) - (double)rss0) *
		    1024.0 / (double)total - (double)s->size;
		t0 = clock_ns();
		for (i = 0; i < n; i++)
			pids[i] = spawn(redis_consumer, &a);
	} else {
		for (i = 0; i < n; i++)
			pids[i] = spawn(redis_consumer, &a);
		wait_blocked(rc, n);
		usage_read(server, &u0);
		t0 = clock_ns();
		push_all(s, rc, total);
	}
	if (board_wait(b, WAIT_MS(s), pids, n) == 0) {
		r->rate = (double)total * 1e9 /
		    (double)(atomic_load(&b->last_ns) - t0);
		r->exact = board_exact(b);
		error = reliable && wait_acked(rc) != 0 ? -1 : 0;
		/* The acks' cost with the rest. */
		usage_read(server, &u1);
		usage_span(r, &u0, &u1);
	}
	redisFree(rc);
	reap(pids, n);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	rmtree(dir);
	board_free(b);
	return error;
}
