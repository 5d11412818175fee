/*
 * jetstream.c: pushbench --cluster R: NATS JetStream under pushstage, and
 * beside it.  Each run starts its own NATS (one nats-server for R1, three
 * routed for R3) on free loopback ports, its stores in a temporary
 * directory, and stops it after.  pushstage's runs start producerd with
 * --cluster on it; the peer is a plain libnats client doing the same work
 * straight against JetStream: one publisher keeping --window x --batch
 * asynchronous publishes in flight, each answered by its PubAck, and
 * consumer processes that fetch --batch (W1) or 1 (W2) at a time from one
 * durable pull consumer and ack every message.  Only child processes use
 * libnats (its threads do not survive a fork): this one forks them all.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bench.h"
#include "log.h"

#define MAX_CONSUMERS	64
#define STREAM		"BENCH"
#define SUBJECT		"bench"
#define READY_MS	30000	/* for a cluster to elect its leaders */
/*
 * A fetch that expires as JetStream hands it a message leaves that
 * message pending until its AckWait (30 s by default) runs out: on a
 * loaded machine, a W2 run of 2,000 events once took more than 100 s.
 * Fetches wait longer, and what one misses comes back within 10 s.
 */
#define FETCH_MS	5000
#define ACK_WAIT_MS	10000

struct js_args {
	const struct settings *s;
	const char	*urls;
	struct board	*b;
	int		 batch;
	int		 consumers;
	uint64_t	 total;
	_Atomic uint64_t *t0;		/* shared: the first publish, ns */
};

int
jetstream_available(void)
{
	return system("command -v nats-server >/dev/null 2>&1") == 0;
}

/* A loopback port free now (a race with others, fine for a benchmark). */
static int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd, port;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		fatal("socket");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		fatal("bind");
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/*
 * One JetStream API request to 127.0.0.1:port, its reply in buf; NATS's
 * text protocol by hand, so that this process never starts libnats.  0,
 * or -1 if no reply came in 2 s, or the server is not the one named
 * (NULL: any).
 */
static int
js_request(int port, const char *name, const char *subject, char *buf,
    size_t size)
{
	char			 want[64];
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 2, 0 };
	char			 req[512], *msg;
	size_t			 have = 0;
	ssize_t			 got;
	int			 fd, len, rc = -1;

	len = snprintf(req, sizeof req, "CONNECT {\"verbose\":false}\r\n"
	    "SUB _PB.r 1\r\nPUB %s _PB.r 0\r\n\r\n", subject);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    write(fd, req, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	/* INFO ..., then MSG _PB.r 1 N and the reply. */
	while (have < size - 1 && (got = read(fd, buf + have,
	    size - 1 - have)) > 0) {
		have += (size_t)got;
		buf[have] = '\0';
		if ((msg = strstr(buf, "MSG _PB.r")) != NULL &&
		    strstr(msg, "}") != NULL) {
			/* Before it: INFO {... "server_name":"NAME" ...} */
			*msg = '\0';
			snprintf(want, sizeof want, "\"server_name\":\"%s\"",
			    name != NULL ? name : "");
			if (name != NULL && strstr(buf, want) == NULL)
				break;
			*msg = 'M';
			memmove(buf, msg, strlen(msg) + 1);
			rc = 0;
			break;
		}
	}
	close(fd);
	return rc;
}

/*
 * Whether the nats-server named name answers on port with JetStream (a
 * cluster: its meta leader is elected).  Its name tells it from a process
 * that took the port after free_port let it go.
 */
static int
js_ready(int port, const char *name)
{
	char	 buf[8192];

	return js_request(port, name, "$JS.API.INFO", buf, sizeof buf) ==
	    0 && strstr(buf, "\"error\"") == NULL;
}

/*
 * Until consumer of stream, on the NATS at urls, has a pull waiting (the
 * first host's producerd made them and pulls for its consumers): 0, or -1
 * after READY_MS.
 */
int
jetstream_wait_pull(const char *urls, const char *stream, const char *consumer)
{
	char		 subj[256], buf[8192], *p;
	uint64_t	 end = clock_ms() + READY_MS;
	int		 port;

	if ((p = strrchr(urls, ':')) == NULL)
		return -1;
	port = atoi(p + 1);
	if ((p = strchr(urls, ',')) != NULL &&
	    (p = memrchr(urls, ':', (size_t)(p - urls))) != NULL)
		port = atoi(p + 1);	/* the first of several */
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.INFO.%s.%s", stream,
	    consumer);
	while (clock_ms() < end) {
		if (js_request(port, NULL, subj, buf, sizeof buf) == 0 &&
		    (p = strstr(buf, "\"num_waiting\":")) != NULL &&
		    atoi(p + 14) > 0)
			return 0;
		usleep(20000);
	}
	log_errorx("%s's consumer %s pulled nothing in %d s", stream,
	    consumer, READY_MS / 1000);
	return -1;
}

static natsConnection *
connect_to(const char *urls)
{
	natsConnection	*nc = NULL;
	natsOptions	*o = NULL;
	natsStatus	 st;
	const char	*servers[3];
	char		 copy[256], *p = copy, *tok;
	int		 n = 0;

	snprintf(copy, sizeof copy, "%s", urls);
	while (n < 3 && (tok = strsep(&p, ",")) != NULL)
		servers[n++] = tok;
	if ((st = natsOptions_Create(&o)) != NATS_OK ||
	    (st = natsOptions_SetServers(o, servers, n)) != NATS_OK ||
	    (st = natsOptions_SetMaxPendingMsgs(o, 1 << 20)) != NATS_OK ||
	    (st = natsConnection_Connect(&nc, o)) != NATS_OK)
		fatalx("NATS at %s: %s", urls, natsStatus_GetText(st));
	natsOptions_Destroy(o);
	return nc;
}

/*
 * NATS for one run: replicas nodes (1 or 3), their URLs in nn->urls; 0
 * once JetStream answers (a cluster has its leaders), else -1.
 */
int
nats_start(int replicas, struct nats_nodes *nn)
{
	char		 routes[256] = "", port[16], rport[48], dir[160];
	char		 names[3][32];
	int		 cports[3], rports[3], i, n = replicas == 3 ? 3 : 1;
	uint64_t	 end;

	memset(nn, 0, sizeof *nn);
	nn->n = n;
	snprintf(nn->dir, sizeof nn->dir, "/tmp/pushbench-nats.XXXXXX");
	if (mkdtemp(nn->dir) == NULL)
		fatal("mkdtemp");
	for (i = 0; i < n; i++) {
		cports[i] = free_port();
		rports[i] = free_port();
		snprintf(routes + strlen(routes), sizeof routes - strlen(routes),
		    "%snats://127.0.0.1:%d", i ? "," : "", rports[i]);
		snprintf(nn->urls + strlen(nn->urls), sizeof nn->urls -
		    strlen(nn->urls), "%snats://127.0.0.1:%d", i ? "," : "",
		    cports[i]);
	}
	for (i = 0; i < n; i++) {
		snprintf(port, sizeof port, "%d", cports[i]);
		snprintf(rport, sizeof rport, "nats://127.0.0.1:%d", rports[i]);
		snprintf(dir, sizeof dir, "%s/n%d", nn->dir, i);
		snprintf(names[i], sizeof names[i], "pushbench%ld-n%d",
		    (long)getpid(), i);
		if ((nn->pids[i] = fork()) == -1)
			fatal("fork");
		if (nn->pids[i] == 0) {
			if (freopen("/dev/null", "w", stdout) == NULL ||
			    freopen("/dev/null", "w", stderr) == NULL)
				_exit(127);
			if (n == 1)
				execlp("nats-server", "nats-server", "-js",
				    "-n", names[i], "-a", "127.0.0.1", "-p",
				    port, "-sd", dir, (char *)NULL);
			else
				execlp("nats-server", "nats-server", "-js", "-n",
				    names[i], "--cluster_name", "bench", "-a",
				    "127.0.0.1", "-p", port, "-cluster", rport,
				    "-routes", routes, "-sd", dir, (char *)NULL);
			_exit(127);
		}
	}
	/* Until JetStream answers on each (R3: its meta leader elected). */
	end = clock_ms() + READY_MS;
	while (clock_ms() < end) {
		for (i = 0; i < n && js_ready(cports[i], names[i]); i++)
			continue;
		if (i == n)
			return 0;
		usleep(100000);
	}
	log_errorx("nats-server (%d node%s) did not serve JetStream in %d s",
	    n, n == 1 ? "" : "s", READY_MS / 1000);
	nats_stop(nn);
	return -1;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	(void)remove(path);
	return 0;
}

void
nats_stop(struct nats_nodes *nn)
{
	int	 i;

	for (i = 0; i < nn->n; i++) {
		if (nn->pids[i] > 0) {
			kill(nn->pids[i], SIGINT);
			waitpid(nn->pids[i], NULL, 0);
		}
	}
	if (nn->dir[0] != '\0')
		(void)nftw(nn->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	memset(nn, 0, sizeof *nn);
}

static void
js_consumer(void *arg)
{
	struct js_args		*a = arg;
	natsConnection		*nc = connect_to(a->urls);
	natsSubscription	*sub = NULL;
	natsMsgList		 list;
	jsCtx			*js;
	struct tally		 t = { 0 };
	natsStatus		 st;
	int			 i, n, pending;

	signal(SIGTERM, SIG_DFL);
	if ((st = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK)
		fatalx("JetStream: %s", natsStatus_GetText(st));
	/* The publisher makes the stream and the consumer. */
	while ((st = js_PullSubscribe(&sub, js, SUBJECT, "bench", NULL, NULL,
	    NULL)) != NATS_OK)
		usleep(20000);
	for (;;) {
		/*
		 * libnats until nats.c #749 (2024; Debian has 3.4.1) writes
		 * past its list when a Fetch finds k messages already pending
		 * (late answers to the last pull) and k is more than half of
		 * what it asks for: it then waits for batch - k more while it
		 * holds k.  Asking for twice what is pending keeps k at most
		 * half, whatever part of it are status messages.
		 */
		n = a->batch;
		if (natsSubscription_GetPending(sub, &pending, NULL) ==
		    NATS_OK && pending > n / 2)
			n = 2 * pending;
		st = natsSubscription_Fetch(&list, sub, n, FETCH_MS, NULL);
		if (st == NATS_TIMEOUT)
			continue;
		if (st != NATS_OK)
			fatalx("fetch: %s", natsStatus_GetText(st));
		for (i = 0; i < list.Count; i++) {
			board_mark(a->b, (const uint8_t *)natsMsg_GetData(
			    list.Msgs[i]), (size_t)natsMsg_GetDataLength(
			    list.Msgs[i]), &t);
			(void)natsMsg_Ack(list.Msgs[i], NULL);
		}
		board_commit(a->b, &t);
		natsMsgList_Destroy(&list);
	}
}

/* Publish events 0..total-1, window x batch of them awaiting PubAcks. */
static int
publish_all(const struct settings *s, jsCtx *js, uint64_t total)
{
	uint8_t		*payload;
	uint64_t	 seq, t = 0;
	natsStatus	 st;

	if ((payload = malloc(s->size)) == NULL)
		fatal("malloc");
	for (seq = 0; seq < total; seq++) {
		if (seq % s->batch == 0)
			t = clock_ns();
		stamp(payload, seq, t);
		if ((st = js_PublishAsync(js, SUBJECT, payload, (int)s->size,
		    NULL)) != NATS_OK) {
			log_errorx("publish: %s", natsStatus_GetText(st));
			free(payload);
			return -1;
		}
	}
	free(payload);
	if ((st = js_PublishAsyncComplete(js, NULL)) != NATS_OK) {
		log_errorx("PubAcks: %s", natsStatus_GetText(st));
		return -1;
	}
	return 0;
}

/*
 * The publisher's process: the stream and its consumer made, it waits for
 * every consumer's first fetch, notes the time and publishes.
 */
static void
js_publisher(void *arg)
{
	struct js_args		*a = arg;
	const struct settings	*s = a->s;
	natsConnection		*nc = connect_to(a->urls);
	jsCtx			*js;
	jsOptions		 jo;
	jsStreamConfig		 sc;
	jsConsumerConfig	 cc;
	jsStreamInfo		*si = NULL;
	jsConsumerInfo		*ci = NULL;
	const char		*subjects[] = { SUBJECT };
	natsStatus		 st;
	uint64_t		 end;

	signal(SIGTERM, SIG_DFL);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)s->window * s->batch;
	/* Making the stream and its consumer (R3: replicated, perhaps while
	 * a leader is elected) can take more than libnats' 5 s when the
	 * machine is loaded: as long as the servers had to start. */
	jo.Wait = READY_MS;
	if ((st = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		fatalx("JetStream: %s", natsStatus_GetText(st));
	jsStreamConfig_Init(&sc);
	sc.Name = STREAM;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = js_WorkQueuePolicy;
	sc.Storage = js_FileStorage;
	sc.Replicas = s->cluster;
	jsConsumerConfig_Init(&cc);
	cc.Durable = "bench";
	cc.AckPolicy = js_AckExplicit;
	cc.MaxAckPending = 100000;
	cc.AckWait = (int64_t)ACK_WAIT_MS * 1000000;
	if ((st = js_AddStream(&si, js, &sc, NULL, NULL)) != NATS_OK ||
	    (st = js_AddConsumer(&ci, js, STREAM, &cc, NULL, NULL)) !=
	    NATS_OK)
		fatalx("stream: %s", natsStatus_GetText(st));
	end = clock_ms() + READY_MS;
	while (clock_ms() < end) {
		jsConsumerInfo_Destroy(ci);
		ci = NULL;
		if (js_GetConsumerInfo(&ci, js, STREAM, "bench", NULL,
		    NULL) == NATS_OK && ci->NumWaiting >= a->consumers)
			break;
		usleep(20000);
	}
	atomic_store(a->t0, clock_ns());
	if (publish_all(s, js, a->total) != 0)
		_exit(1);		/* said; board_wait sees it */
	jsStreamInfo_Destroy(si);
	jsConsumerInfo_Destroy(ci);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	_exit(0);
}

/* W1 or W2 straight on JetStream, on the NATS at urls. */
int
jetstream_run(const struct settings *s, const char *workload,
    const char *urls, struct result *r)
{
	struct js_args		 a;
	pid_t			 pids[MAX_CONSUMERS + 1] = { 0 };
	struct board		*b;
	void			*shared;
	int			 i, n = s->consumers, error = -1;

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	snprintf(r->mode, sizeof r->mode, "jetstream R%d", s->cluster);
	if (n > MAX_CONSUMERS)
		n = MAX_CONSUMERS;
	r->events = workload_events(s, workload);
	r->depth = s->window;
	r->batch = s->batch;
	r->acks = 1;
	if ((shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		fatal("mmap");
	b = board_new(r->events, 0);
	a.s = s;
	a.urls = urls;
	a.b = b;
	a.batch = strcmp(workload, "W2") == 0 ? 1 : (int)s->batch;
	a.consumers = n;
	a.total = r->events;
	a.t0 = shared;
	for (i = 0; i < n; i++)
		pids[i] = spawn(js_consumer, &a);
	pids[n] = spawn(js_publisher, &a);
	if (board_wait(b, WAIT_MS(s), pids, n + 1) == 0) {
		r->rate = (double)r->events * 1e9 /
		    (double)(atomic_load(&b->last_ns) - atomic_load(a.t0));
		r->exact = board_exact(b);
		error = 0;
	}
	reap(pids, n + 1);
	board_free(b);
	munmap(shared, 4096);
	return error;
}
