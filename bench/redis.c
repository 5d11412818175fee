/*
 * redis.c: W1 and W2 on Redis, the closest thing users would pick instead:
 * a private redis-server on a Unix socket, no persistence; one client
 * LPUSHes batches of 256; consumers take with BLMPOP ... COUNT 256 (W1) or
 * BRPOP (W2).  The same board checks each event arrived exactly once.
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
#define BATCH		256
#define KEY		"pushbench"

struct redis_args {
	const char	*sock;
	struct board	*b;
	int		 one;		/* BRPOP, else BLMPOP COUNT 256 */
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

static void
redis_consumer(void *arg)
{
	struct redis_args	*a = arg;
	redisContext		*rc = connect_to(a->sock);
	redisReply		*r, *list;
	struct tally		 t = { 0 };
	size_t			 i;

	signal(SIGTERM, SIG_DFL);
	for (;;) {
		if (a->one)
			r = redisCommand(rc, "BRPOP " KEY " 1");
		else
			r = redisCommand(rc, "BLMPOP 1 1 " KEY " RIGHT COUNT %d",
			    BATCH);
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

int
redis_run(const struct settings *s, const char *workload, struct result *r)
{
	struct redis_args	 a;
	pid_t			 server, pids[MAX_CONSUMERS] = { 0 };
	char			 dir[64], sock[128];
	const char		*argv[BATCH + 2];
	size_t			 lens[BATCH + 2];
	uint8_t			*payloads;
	redisContext		*rc;
	redisReply		*rep;
	struct board		*b;
	uint64_t		 total, seq, t0, t;
	int			 i, n = s->consumers, k, error = -1;

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	a.one = strcmp(workload, "W2") == 0;
	snprintf(r->mode, sizeof r->mode, "redis %s%s", a.one ? "BRPOP" :
	    "BLMPOP", s->fsync == NULL ? "" : " aof");
	total = workload_events(s, workload);
	if (n > MAX_CONSUMERS)
		n = MAX_CONSUMERS;
	r->events = total;

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
	for (i = 0; i < 500 && access(sock, F_OK) != 0; i++)
		usleep(10000);
	b = board_new(total, 0);
	a.sock = sock;
	a.b = b;
	for (i = 0; i < n; i++)
		pids[i] = spawn(redis_consumer, &a);
	rc = connect_to(sock);
	if ((payloads = calloc(BATCH, s->size)) == NULL)
		fatal("calloc");
	usleep(200000);		/* the consumers block in their first pop */
	argv[0] = "LPUSH";
	lens[0] = 5;
	argv[1] = KEY;
	lens[1] = strlen(KEY);
	t0 = clock_ns();
	for (seq = 0; seq < total; seq += (uint64_t)k) {
		t = clock_ns();
		for (k = 0; k < BATCH && seq + (uint64_t)k < total; k++) {
			stamp(payloads + (size_t)k * s->size,
			    seq + (uint64_t)k, t);
			argv[2 + k] = (const char *)payloads + (size_t)k *
			    s->size;
			lens[2 + k] = s->size;
		}
		rep = redisCommandArgv(rc, 2 + k, argv, lens);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
			fatalx("LPUSH: %s", rep ? rep->str : rc->errstr);
		freeReplyObject(rep);
	}
	if (board_wait(b, 300000) == 0) {
		r->rate = (double)total * 1e9 /
		    (double)(atomic_load(&b->last_ns) - t0);
		r->exact = board_exact(b);
		error = 0;
	}
	redisFree(rc);
	free(payloads);
	reap(pids, n);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	rmtree(dir);
	board_free(b);
	return error;
}
