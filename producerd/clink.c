/*
 * clink.c: a cluster's link to NATS (--cluster).  libnats reads and writes
 * on this daemon's event loop (its libevent adapter); what it hands over
 * from its own threads (messages on the daemon's inbox, the link going and
 * coming back) is queued under a lock and taken on the loop (wake_cb),
 * where take() routes each message to the file whose job it is.  Every
 * JetStream call is a message with a reply to that inbox: the loop never
 * waits for NATS.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nats/nats.h>
#include <nats/adapters/libevent.h>

#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "producerd.h"

static void	 wake_cb(evutil_socket_t, short, void *);
static void	 tick_cb(evutil_socket_t, short, void *);

/* Queue names as NATS tokens: letters, digits and '-' kept, the rest _HH. */
void
cl_encode(const char *name, char *out, size_t len)
{
	size_t	 n = 0;

	for (; *name != '\0' && n + 4 < len; name++) {
		if ((*name >= 'a' && *name <= 'z') || (*name >= 'A' &&
		    *name <= 'Z') || (*name >= '0' && *name <= '9') ||
		    *name == '-')
			out[n++] = *name;
		else
			n += (size_t)snprintf(out + n, len - n, "_%02X",
			    (unsigned char)*name);
	}
	out[n] = '\0';
}

static void
lock(struct cluster *cl)
{
	while (atomic_flag_test_and_set_explicit(&cl->mu, memory_order_acquire))
		continue;
}

static void
unlock(struct cluster *cl)
{
	atomic_flag_clear_explicit(&cl->mu, memory_order_release);
}

/* From a libnats thread: onto the loop. */
static void
hand_over(struct cluster *cl, natsMsg *msg, int link)
{
	struct cmsg	*m = NULL;

	if (msg != NULL && (m = malloc(sizeof *m)) == NULL) {
		natsMsg_Destroy(msg);	/* lost: the loop's timers redo it */
		return;
	}
	lock(cl);
	if (m != NULL) {
		m->msg = msg;
		m->next = NULL;
		*cl->intail = m;
		cl->intail = &m->next;
	}
	if (link >= 0) {
		cl->link = link;
		cl->link_changed = 1;
	}
	unlock(cl);
	event_active(cl->wake, EV_TIMEOUT, 0);
}

/*
 * From libnats' thread, once every URL failed: the wait before the next
 * round, RECONNECT_MS doubling to RECONNECT_MAX_MS, give or take 20 %.
 */
static int64_t
reconnect_delay(natsConnection *nc, int attempts, void *arg)
{
	struct cluster	*cl = arg;

	(void)nc;
	return backoff_delay(RECONNECT_MS, RECONNECT_MAX_MS,
	    attempts > 0 ? (uint32_t)attempts : 0, &cl->seed);
}

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	(void)nc;
	(void)sub;
	hand_over(arg, msg, -1);
}

static void
on_connected(natsConnection *nc, void *arg)
{
	(void)nc;
	hand_over(arg, NULL, 1);
}

static void
on_disconnected(natsConnection *nc, void *arg)
{
	(void)nc;
	hand_over(arg, NULL, 0);
}

/* A JetStream API request, its reply to our inbox under tag. */
int
cl_api(struct cluster *cl, const char *subj, const char *tag, const char *body)
{
	char	 reply[512];

	snprintf(reply, sizeof reply, "%s.%s", cl->inbox, tag);
	return natsConnection_PublishRequest(cl->nc, subj, reply, body,
	    (int)strlen(body)) == NATS_OK ? 0 : -1;
}

/*
 * One message on our inbox: an event pulled (its subject pushstage.ENC,
 * its group's consumer in its ack subject), or a reply: <inbox>.p.SEQ.I a
 * PubAck, .q.ENC.DURABLE.N a pull's heartbeat or end, .s.ENC and .x.ENC
 * the making of a queue's streams, .c.ENC.DURABLE and .i.ENC.DURABLE a
 * consumer's making and state, .t.N and .d.N dead letters' (cdead.c).
 */
static void
take(struct cluster *cl, natsMsg *msg)
{
	const char	*subj = natsMsg_GetSubject(msg), *tag, *reply, *t;
	struct cqueue	*cq;
	struct cgroup	*cg;
	unsigned long long seq;
	unsigned int	 i;
	size_t		 n = strlen(cl->inbox), elen, dlen;

	/* An event pulled comes with the subject it was published to. */
	if (strncmp(subj, "pushstage.", 10) == 0) {
		if ((reply = natsMsg_GetReply(msg)) == NULL ||
		    (t = cl_ack_token(reply, 1, &dlen)) == NULL)
			return;
		for (cq = cl->queues; cq != NULL; cq = cq->next) {
			if (strcmp(cq->enc, subj + 10) == 0 &&
			    (cg = cg_durable(cq, t, dlen)) != NULL)
				pulled(cl, cq, cg, 0, msg);
		}
		return;
	}
	if (strncmp(subj, cl->inbox, n) != 0 || subj[n] != '.' ||
	    subj[n + 1] == '\0' || subj[n + 2] != '.')
		return;
	tag = subj + n + 3;
	if (subj[n + 1] == 'p') {
		if (sscanf(tag, "%llu.%u", &seq, &i) == 2)
			pub_ack(cl, seq, i, msg);
		return;
	}
	if (subj[n + 1] == 't' || subj[n + 1] == 'd') {
		dead_reply(cl, subj[n + 1], tag, msg);
		return;
	}
	elen = strcspn(tag, ".");
	for (cq = cl->queues; cq != NULL; cq = cq->next) {
		if (strlen(cq->enc) == elen && strncmp(cq->enc, tag, elen) == 0)
			break;
	}
	if (cq == NULL)
		return;
	if (subj[n + 1] == 's' || subj[n + 1] == 'x') {
		cq_reply(cl, cq, subj[n + 1], msg);
		return;
	}
	if (subj[n + 1] == 'n') {
		dead_counted(cl, cq, msg);
		return;
	}
	/* The rest name a consumer: .ENC.DURABLE[.N] */
	if (tag[elen] != '.')
		return;
	t = tag + elen + 1;
	dlen = strcspn(t, ".");
	if ((cg = cg_durable(cq, t, dlen)) == NULL)
		return;
	if (subj[n + 1] == 'q')
		pulled(cl, cq, cg, strtoull(t + dlen + (t[dlen] == '.'), NULL,
		    10), msg);
	else if (subj[n + 1] == 'c' || subj[n + 1] == 'i')
		cg_reply(cl, cq, cg, subj[n + 1], msg);
}

/* On the loop: what libnats handed over. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cluster	*cl = arg;
	struct cmsg	*m, *next;
	int		 changed, link;

	(void)fd;
	(void)what;
	lock(cl);
	m = cl->in;
	cl->in = NULL;
	cl->intail = &cl->in;
	changed = cl->link_changed;
	link = cl->link;
	cl->link_changed = 0;
	unlock(cl);
	server_tick(cl->srv);
	if (changed && link != cl->connected) {
		cl->connected = link;
		cl->srv->cluster_connected = (uint64_t)link;
		if (link) {
			log_info("cluster: linked to NATS at %s", cl->urls);
			cl->srv->cluster_links_total++;
			prov_relink(cl);
		} else
			log_warnx("cluster: NATS at %s is unreachable; "
			    "serving what is here, ENQUEUEs refused until it "
			    "is back", cl->urls);
	}
	for (; m != NULL; m = next) {
		next = m->next;
		take(cl, m->msg);
		natsMsg_Destroy(m->msg);
		free(m);
	}
	server_wake(cl->srv);
}

/* Every TICK_MS: PubAcks, pulls and requests that did not come back. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cluster	*cl = arg;
	uint64_t	 now = clock_ms();

	(void)fd;
	(void)what;
	pub_tick(cl, now);
	pull_tick(cl, now);
	prov_tick(cl, now);
	dead_tick(cl, now);
	server_wake(cl->srv);
}

/*
 * Link to NATS (--cluster): the connection is made and remade in the
 * background; until it is, ENQUEUEs are refused.  -1 and said why.
 */
int
link_open(struct server *srv, const char *urls, uint32_t replicas)
{
	struct cluster	*cl;
	const char	*servers[16];
	char		*copy, *p, *tok;
	int		 n = 0;
	natsStatus	 s;
	natsInbox	*inbox = NULL;
	struct timeval	 tv = { 0, TICK_MS * 1000 };

	if ((cl = calloc(1, sizeof *cl)) == NULL ||
	    (copy = strdup(urls)) == NULL) {
		free(cl);
		log_errorx("out of memory");
		return -1;
	}
	cl->srv = srv;
	cl->urls = urls;
	cl->replicas = replicas;
	cl->intail = &cl->in;
	cl->seed = (uint32_t)clock_ms() | 1;
	atomic_flag_clear(&cl->mu);
	for (p = copy; (tok = strsep(&p, ",")) != NULL && n < 16;)
		if (*tok != '\0')
			servers[n++] = tok;
	srv->cluster = cl;
	if ((cl->wake = event_new(srv->base, -1, 0, wake_cb, cl)) == NULL ||
	    (cl->tick = event_new(srv->base, -1, EV_PERSIST, tick_cb,
	    cl)) == NULL || event_add(cl->tick, &tv) != 0) {
		free(copy);
		log_errorx("cluster: cannot set up its events");
		return -1;
	}
	if ((s = natsOptions_Create(&cl->opts)) != NATS_OK ||
	    (s = natsOptions_SetServers(cl->opts, servers, n)) != NATS_OK ||
	    (s = natsOptions_SetMaxReconnect(cl->opts, -1)) != NATS_OK ||
	    (s = natsOptions_SetCustomReconnectDelay(cl->opts,
	    reconnect_delay, cl)) != NATS_OK ||
	    (s = natsOptions_SetRetryOnFailedConnect(cl->opts, true,
	    on_connected, cl)) != NATS_OK ||
	    (s = natsOptions_SetReconnectedCB(cl->opts, on_connected,
	    cl)) != NATS_OK ||
	    (s = natsOptions_SetDisconnectedCB(cl->opts, on_disconnected,
	    cl)) != NATS_OK ||
	    (s = natsOptions_SetEventLoop(cl->opts, srv->base,
	    natsLibevent_Attach, natsLibevent_Read, natsLibevent_Write,
	    natsLibevent_Detach)) != NATS_OK) {
		free(copy);
		log_errorx("cluster: --cluster %s: %s", urls,
		    natsStatus_GetText(s));
		return -1;
	}
	free(copy);
	s = natsConnection_Connect(&cl->nc, cl->opts);
	if (s == NATS_OK)
		hand_over(cl, NULL, 1);
	else if (s != NATS_NOT_YET_CONNECTED) {
		log_errorx("cluster: --cluster %s: %s", urls,
		    natsStatus_GetText(s));
		return -1;
	} else
		log_warnx("cluster: NATS at %s is unreachable; trying again "
		    "in the background", urls);
	if ((s = natsInbox_Create(&inbox)) != NATS_OK) {
		log_errorx("cluster: %s", natsStatus_GetText(s));
		return -1;
	}
	snprintf(cl->inbox, sizeof cl->inbox, "%s", (const char *)inbox);
	natsInbox_Destroy(inbox);
	{
		char	 subj[80];

		snprintf(subj, sizeof subj, "%s.>", cl->inbox);
		if ((s = natsConnection_Subscribe(&cl->sub, cl->nc, subj,
		    on_msg, cl)) != NATS_OK) {
			log_errorx("cluster: subscribe %s: %s", subj,
			    natsStatus_GetText(s));
			return -1;
		}
	}
	return 0;
}

/* The link goes, and with it libnats' threads and what they handed over. */
void
link_close(struct cluster *cl)
{
	struct cmsg	*m;

	if (cl->sub != NULL)
		natsSubscription_Destroy(cl->sub);
	if (cl->nc != NULL) {
		natsConnection_Close(cl->nc);
		natsConnection_Destroy(cl->nc);
	}
	natsOptions_Destroy(cl->opts);
	/*
	 * libnats' threads may still be in a callback, or about to call one
	 * (a link's loss is told from a thread of its own): wait for them all
	 * to end before what they touch goes.
	 */
	if (nats_CloseAndWait(5000) != NATS_OK)
		log_warnx("cluster: libnats' threads did not end in 5 s");
	while ((m = cl->in) != NULL) {
		cl->in = m->next;
		natsMsg_Destroy(m->msg);
		free(m);
	}
	if (cl->wake != NULL)
		event_free(cl->wake);
	if (cl->tick != NULL)
		event_free(cl->tick);
}

/* Before the event base is made: libevent's locks, for libnats' threads. */
void
link_prepare(void)
{
	natsLibevent_Init();
}
