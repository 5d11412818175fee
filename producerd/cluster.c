/*
 * cluster.c: producerd in front of NATS JetStream (--cluster; docs/
 * cluster.md).  Each queue is a stream, PS_<queue>, of one subject,
 * pushstage.<queue>, with one durable pull consumer, ps, that every host
 * shares, so JetStream balances the work between hosts.  An ENQUEUE is
 * published, each event a message, and answered once JetStream has stored
 * them all (its PubAcks).  The daemon pulls from JetStream only what its
 * consumers here have asked for and it does not hold yet; each event
 * pulled goes through the queue here as a stage's does (its origin is its
 * JetStream ack subject), and is acked there (+ACK) when acked here, or
 * terminated (+TERM) when it dies here.
 *
 * libnats reads and writes on this daemon's event loop (its libevent
 * adapter); what it hands over from its own threads (messages on the
 * daemon's inbox, the link going and coming back) is queued under a lock
 * and taken on the loop (wake_cb).  Every JetStream call is a message with
 * a reply to that inbox: the loop never waits for NATS.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nats/nats.h>
#include <nats/adapters/libevent.h>

#include "backoff.h"
#include "clock.h"
#include "cluster.h"
#include "jsreply.h"
#include "log.h"
#include "producerd.h"

static void	 wake_cb(evutil_socket_t, short, void *);

/* The open pull i of cg ends; what it did not bring will not come. */
static void
pull_end(struct cgroup *cg, size_t i)
{
	cg->outstanding -= cg->pulls[i].left;
	memmove(&cg->pulls[i], &cg->pulls[i + 1], (cg->npulls - i - 1) *
	    sizeof cg->pulls[0]);
	cg->npulls--;
}

/* Every pull of cg is forgotten: the link went, say. */
static void
pulls_reset(struct cgroup *cg)
{
	cg->npulls = 0;
	cg->outstanding = 0;
}

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

struct cqueue *
cl_find(struct cluster *cl, const char *name)
{
	struct cqueue	*cq;

	for (cq = cl->queues; cq != NULL; cq = cq->next) {
		if (strcmp(cq->name, name) == 0)
			return cq;
	}
	return NULL;
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

/* The next step in making cg's durable consumer, cq's streams made. */
static void
cg_step(struct cluster *cl, struct cqueue *cq, struct cgroup *cg)
{
	struct nqueue	*q;
	uint64_t	 wait, now = clock_ms();
	char		 subj[768], body[1280], tag[512], start[64];

	/* One request at a time: the next when it is answered, or lost. */
	if (!cl->connected || cq->state != CQ_READY || cg->state == CG_READY ||
	    cg->state == CG_FAILED || (cg->asked != 0 && now < cg->asked +
	    (cg->state == CG_LEADER ? LEADER_POLL_MS : API_RETRY_MS)))
		return;
	if (cg->state == CG_NEW || cg->state == CG_CONSUMER) {
		/*
		 * AckWait and MaxDeliver follow the queue's settings here,
		 * with room: a host's ack timeout gives an event back (-NAK)
		 * before JetStream would, and a host's last attempt ends in
		 * the dead letters, not in a delivery JetStream never makes.
		 * A named group has the events enqueued after it is made.
		 */
		q = queues_find(cl->srv, cq->name, strlen(cq->name));
		wait = q != NULL && q->s.acks && q->s.ack_timeout != 0 ?
		    2 * q->s.ack_timeout + 1000 : ACK_WAIT_MS;
		snprintf(start, sizeof start, "%s", cg->name[0] != '\0' ?
		    "\"deliver_policy\":\"new\"," : "");
		snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DURABLE.CREATE."
		    "PS_%s.%s", cq->enc, cg->durable);
		snprintf(body, sizeof body, "{\"stream_name\":\"PS_%s\","
		    "\"config\":{\"durable_name\":\"%s\",%s\"ack_policy\":"
		    "\"explicit\",\"ack_wait\":%llu,\"max_deliver\":%u,"
		    "\"filter_subject\":\"pushstage.%s\","
		    "\"max_ack_pending\":100000}}", cq->enc, cg->durable,
		    start, (unsigned long long)wait * 1000000, (q != NULL ?
		    q->s.max_attempts : CONFIG_MAX_ATTEMPTS) + 1, cq->enc);
		snprintf(tag, sizeof tag, "c.%s.%s", cq->enc, cg->durable);
		if (cl_api(cl, subj, tag, body) == 0) {
			cg->state = CG_CONSUMER;
			cg->asked = now;
		}
	} else if (cg->state == CG_LEADER) {
		snprintf(subj, sizeof subj, "$JS.API.CONSUMER.INFO.PS_%s.%s",
		    cq->enc, cg->durable);
		snprintf(tag, sizeof tag, "i.%s.%s", cq->enc, cg->durable);
		if (cl_api(cl, subj, tag, "") == 0)
			cg->asked = now;
	}
}

/*
 * The next step in making cq's streams: its events' (interest retention:
 * an event stays until every group has acked it), then its dead letters'
 * (kept until dropped); then its groups' consumers.
 */
static void
cq_step(struct cluster *cl, struct cqueue *cq)
{
	struct cgroup	*cg;
	uint64_t	 now = clock_ms();
	char		 subj[512], body[1024], tag[256];

	if (cq->state == CQ_READY) {
		for (cg = cq->groups; cg != NULL; cg = cg->next)
			cg_step(cl, cq, cg);
		return;
	}
	if (!cl->connected || cq->state == CQ_FAILED ||
	    (cq->asked != 0 && now < cq->asked + API_RETRY_MS))
		return;
	if (cq->state == CQ_NEW || cq->state == CQ_STREAM) {
		snprintf(subj, sizeof subj, "$JS.API.STREAM.CREATE.PS_%s",
		    cq->enc);
		snprintf(body, sizeof body, "{\"name\":\"PS_%s\",\"subjects\":"
		    "[\"pushstage.%s\"],\"retention\":\"interest\","
		    "\"storage\":\"file\",\"num_replicas\":%u,"
		    "\"duplicate_window\":120000000000}", cq->enc, cq->enc,
		    cl->replicas);
		snprintf(tag, sizeof tag, "s.%s", cq->enc);
		if (cl_api(cl, subj, tag, body) == 0) {
			cq->state = CQ_STREAM;
			cq->asked = now;
		}
	} else if (cq->state == CQ_DEAD) {
		snprintf(subj, sizeof subj, "$JS.API.STREAM.CREATE."
		    DEAD_STREAM "%s", cq->enc);
		snprintf(body, sizeof body, "{\"name\":\"" DEAD_STREAM "%s\","
		    "\"subjects\":[\"pushstage.%s.dead\",\"pushstage.%s.dead.*\"],"
		    "\"retention\":\"limits\",\"storage\":\"file\","
		    "\"num_replicas\":%u}", cq->enc, cq->enc, cq->enc,
		    cl->replicas);
		snprintf(tag, sizeof tag, "x.%s", cq->enc);
		if (cl_api(cl, subj, tag, body) == 0)
			cq->asked = now;
	}
}

static struct cgroup *
cg_find(struct cqueue *cq, const char *name)
{
	struct cgroup	*cg;

	for (cg = cq->groups; cg != NULL; cg = cg->next) {
		if (strcmp(cg->name, name) == 0)
			return cg;
	}
	return NULL;
}

/* Group name of cq, its consumer on the way if new; NULL out of memory. */
static struct cgroup *
cg_get(struct cluster *cl, struct cqueue *cq, const char *name)
{
	struct cgroup	*cg, **p;

	if ((cg = cg_find(cq, name)) != NULL)
		return cg;
	if ((cg = calloc(1, sizeof *cg)) == NULL)
		return NULL;
	snprintf(cg->name, sizeof cg->name, "%s", name);
	if (name[0] == '\0')
		snprintf(cg->durable, sizeof cg->durable, "ps");
	else {
		memcpy(cg->durable, "g_", 2);
		cl_encode(name, cg->durable + 2, sizeof cg->durable - 2);
	}
	for (p = &cq->groups; *p != NULL; p = &(*p)->next)
		continue;
	*p = cg;
	cg_step(cl, cq, cg);
	return cg;
}

/*
 * The cluster state of queue name, its streams on the way if new, with
 * its shared group (whose consumer holds every event for the queue before
 * the first is enqueued).  NULL out of memory.
 */
static struct cqueue *
cq_get(struct cluster *cl, const char *name)
{
	struct cqueue	*cq;

	if ((cq = cl_find(cl, name)) != NULL)
		return cq;
	if ((cq = calloc(1, sizeof *cq)) == NULL)
		return NULL;
	snprintf(cq->name, sizeof cq->name, "%s", name);
	cl_encode(name, cq->enc, sizeof cq->enc);
	if (cg_get(cl, cq, "") == NULL) {
		free(cq);
		return NULL;
	}
	cq->next = cl->queues;
	cl->queues = cq;
	cq_step(cl, cq);
	return cq;
}

/* Whether ENQUEUEs of cq may be published: someone holds them there. */
static int
cq_ready(const struct cqueue *cq)
{
	return cq->state == CQ_READY && cq->groups->state == CG_READY;
}

/* Why ENQUEUEs of cq are refused for now, or NULL if they are not. */
static const char *
cq_failed(const struct cqueue *cq)
{
	if (cq->state == CQ_FAILED)
		return cq->why;
	if (cq->groups->state == CG_FAILED)
		return cq->groups->why;
	return NULL;
}

/* The ENQUEUEs that waited for cq go on (or fail, if it did). */
static void
cq_release(struct cqueue *cq)
{
	struct conn	**w = cq->waiting;
	size_t		  i, n = cq->nwaiting;

	cq->waiting = NULL;
	cq->nwaiting = 0;
	for (i = 0; i < n; i++) {
		if (w[i] != NULL)
			conn_cluster_resume(w[i]);
	}
	free(w);
}

/*
 * A stream made the same way by another host is ours too (made at the same
 * moment, JetStream may say its subjects overlap: what comes next then says
 * whether it is ours).  One made another way (other replicas, say) is
 * "already in use": not served, and why is written into buf.
 */
static int
stream_refused(struct cluster *cl, const char *stream, const char *why,
    char *buf, size_t size)
{
	if (strstr(why, "subjects overlap") != NULL)
		return 0;
	if (strstr(why, "already in use") != NULL) {
		/* Cut short if it must: said in full in the log. */
		if (snprintf(buf, size, "stream %s exists made otherwise (its "
		    "replicas, subjects or retention are not what "
		    "--cluster-replicas %u asks: %s)", stream, cl->replicas,
		    why) < 0)
			buf[0] = '\0';
	} else
		snprintf(buf, size, "%s", why);
	return -1;
}

/* A reply about cq's events' stream (kind 's') or dead letters' ('x'). */
static void
cq_reply(struct cluster *cl, struct cqueue *cq, int kind, natsMsg *msg)
{
	struct cgroup	*cg;
	char		 err[256], stream[3 * PS_QUEUE_MAX + 8];
	const char	*why, *data = natsMsg_GetData(msg);
	int		 len = natsMsg_GetDataLength(msg);

	/* An answer to a request asked again: the first one counted. */
	if ((kind == 's' && cq->state != CQ_STREAM) || (kind == 'x' &&
	    cq->state != CQ_DEAD))
		return;
	cq->asked = 0;
	why = data == NULL ? "no reply" : js_error(data, (size_t)len, err,
	    sizeof err);
	log_debug("cluster: queue %s: JetStream: %.*s", cq->name, len,
	    data != NULL ? data : "");
	snprintf(stream, sizeof stream, "%s%s", kind == 's' ? "PS_" :
	    DEAD_STREAM, cq->enc);
	if (why != NULL && stream_refused(cl, stream, why, cq->why,
	    sizeof cq->why) != 0) {
		cq->state = CQ_FAILED;
		cq->asked = clock_ms();
		log_warnx("cluster: queue %s: JetStream says: %s", cq->name,
		    why);
		cq_release(cq);
		return;
	}
	if (kind == 's') {
		cq->state = CQ_DEAD;
		cq_step(cl, cq);
		return;
	}
	cq->state = CQ_READY;
	log_info("cluster: queue %s is stream PS_%s", cq->name, cq->enc);
	for (cg = cq->groups; cg != NULL; cg = cg->next)
		cg_step(cl, cq, cg);
}

/*
 * A reply about cg's consumer: its making ('c') or its state ('i').  It is
 * ready when it has a leader: until then a pull reaches no one, and is
 * lost without a word.  The shared group ready, the ENQUEUEs that waited
 * for cq go.
 */
static void
cg_reply(struct cluster *cl, struct cqueue *cq, struct cgroup *cg, int kind,
    natsMsg *msg)
{
	char		 err[256];
	const char	*why, *data = natsMsg_GetData(msg);
	int		 len = natsMsg_GetDataLength(msg);

	if ((kind == 'c' && cg->state != CG_CONSUMER) || (kind == 'i' &&
	    cg->state != CG_LEADER))
		return;
	cg->asked = 0;
	why = data == NULL ? "no reply" : js_error(data, (size_t)len, err,
	    sizeof err);
	log_debug("cluster: queue %s: consumer %s: JetStream: %.*s",
	    cq->name, cg->durable, len, data != NULL ? data : "");
	if (why != NULL && kind == 'i') {
		cg->state = CG_CONSUMER;	/* gone: made again */
		cg_step(cl, cq, cg);
		return;
	}
	if (why != NULL && cg->updating) {
		/* It is served as it was: the group goes on. */
		log_warnx("cluster: queue %s: JetStream kept consumer %s's "
		    "settings: %s", cq->name, cg->durable, why);
		cg->updating = 0;
		cg->state = CG_READY;
		return;
	}
	/* A consumer of another host's making is ours. */
	if (why != NULL && strstr(why, "already in use") == NULL &&
	    strstr(why, "already exists") == NULL) {
		cg->state = CG_FAILED;
		cg->asked = clock_ms();
		snprintf(cg->why, sizeof cg->why, "%s", why);
		log_warnx("cluster: queue %s: consumer %s: JetStream says: %s",
		    cq->name, cg->durable, why);
		if (cg == cq->groups)
			cq_release(cq);
		return;
	}
	if (why != NULL || (strstr(data, "\"cluster\"") != NULL &&
	    strstr(data, "\"leader\"") == NULL)) {
		/* Another host's (is it up?), or no leader yet: ask again. */
		cg->state = CG_LEADER;
		cg->asked = why != NULL ? 0 : clock_ms();
		cg_step(cl, cq, cg);
		return;
	}
	cg->state = CG_READY;
	cg->updating = 0;
	if (cg == cq->groups) {
		cq->given_up = 0;
		cq_release(cq);
	}
	if (cg->name[0] != '\0')
		log_info("cluster: queue %s: group %s is consumer %s",
		    cq->name, cg->name, cg->durable);
}

static struct cbatch *
batch_find(struct cluster *cl, uint64_t seq)
{
	struct cbatch	*b;

	for (b = cl->batches; b != NULL; b = b->next) {
		if (b->seq == seq)
			return b;
	}
	return NULL;
}

static void
batch_free(struct cluster *cl, struct cbatch *b)
{
	struct cbatch	**p;

	for (p = &cl->batches; *p != NULL; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			break;
		}
	}
	free(b->seen);
	free(b->why);
	ps_buf_free(&b->dupidx);
	free(b);
}

/*
 * c's batches are answered in the order they came (a client pipelines
 * its ENQUEUEs and reads the answers in turn): each as soon as it and
 * every one before it are done.
 */
static void
batch_answer(struct cluster *cl, struct conn *c)
{
	struct cbatch		*b, *first;
	struct ps_enqueued	 r;

	for (;;) {
		first = NULL;
		for (b = cl->batches; b != NULL; b = b->next) {
			if (b->c == c && (first == NULL || b->seq < first->seq))
				first = b;
		}
		if (first == NULL || !first->done)
			return;
		first->c = NULL;
		if (first->code != 0) {
			/* c goes: what it sent after has no one to answer. */
			for (b = cl->batches; b != NULL; b = b->next) {
				if (b->c == c)
					b->c = NULL;
			}
			conn_cluster_refuse(c, first->code, first->why);
			batch_free(cl, first);
			return;
		} else {
			memset(&r, 0, sizeof r);
			r.accepted = first->acked;
			r.refused = first->n - first->acked - first->dups;
			r.duplicates = first->dups;
			r.dups = &first->dupidx;
			cl->srv->cluster_published_total += first->acked;
			conn_cluster_answer(c, &r);
		}
		batch_free(cl, first);
	}
}

/* Event i of b was not stored, for reason why: said once, when b is done. */
static void
batch_failed(struct cbatch *b, uint32_t i, const char *why)
{
	b->seen[i] = 1;
	if (b->failed++ == 0)
		snprintf(b->failure, sizeof b->failure, "%s", why);
}

/*
 * The batch is done (all stored, or its time ran out): one line for what
 * was not stored, however many events (a NATS node that restarts answers
 * thousands at once).
 */
static void
batch_done(struct cluster *cl, struct cbatch *b)
{
	uint32_t	 late = b->n - b->acked - b->dups - b->failed;

	if (b->failed != 0)
		log_warnx("cluster: %u of a batch of %u events not stored: %s%s",
		    b->failed, b->n, b->failure, b->failed > 1 ?
		    " (the first's reason)" : "");
	if (late != 0)
		log_warnx("cluster: %u of a batch of %u events not acked by "
		    "JetStream in %u s: refused", late, b->n,
		    BATCH_WAIT_MS / 1000);
	b->done = 1;
	if (b->c == NULL)
		batch_free(cl, b);	/* its client went */
	else
		batch_answer(cl, b->c);
}

/* A PubAck, for event i of batch seq. */
static void
pub_ack(struct cluster *cl, uint64_t seq, uint32_t i, natsMsg *msg)
{
	struct cbatch	*b;
	char		 err[256];
	const char	*data = natsMsg_GetData(msg), *status = NULL;
	uint8_t		 v[4];


	if ((b = batch_find(cl, seq)) == NULL || i >= b->n || b->seen[i])
		return;
	b->seen[i] = 1;
	if (data == NULL)
		data = "";
	/* Stored is a PubAck with its sequence; a status (503: no stream
	 * took it) or an error is not. */
	if (natsMsgHeader_Get(msg, "Status", &status) == NATS_OK &&
	    status != NULL) {
		snprintf(err, sizeof err, "NATS status %s", status);
		batch_failed(b, i, err);
	} else if (js_error(data, (size_t)natsMsg_GetDataLength(msg), err,
	    sizeof err) != NULL)
		batch_failed(b, i, err);
	else if (strstr(data, "\"seq\"") == NULL)
		batch_failed(b, i, "no sequence in its PubAck");
	else if (js_true(data, "\"duplicate\":")) {
		v[0] = (uint8_t)(i >> 24);
		v[1] = (uint8_t)(i >> 16);
		v[2] = (uint8_t)(i >> 8);
		v[3] = (uint8_t)i;
		if (ps_buf_add(&b->dupidx, v, 4) == 0)
			b->dups++;
		else
			batch_failed(b, i, "out of memory");
	} else
		b->acked++;
	if (b->acked + b->dups + b->failed == b->n)
		batch_done(cl, b);
}

/* An origin for the event whose JetStream ack subject is reply. */
static uint64_t
ack_keep(struct cluster *cl, const char *reply)
{
	char	**a, *s;
	size_t	 i;

	if ((s = strdup(reply)) == NULL)
		return 0;
	if (cl->nfree != 0)
		i = cl->free_acks[--cl->nfree];
	else {
		if (cl->nacks == cl->capacks) {
			size_t	 cap = cl->capacks ? cl->capacks * 2 : 256, *f;

			/* The free list can hold every slot: no growing later. */
			if ((a = reallocarray(cl->acks, cap, sizeof *a)) ==
			    NULL) {
				free(s);
				return 0;
			}
			cl->acks = a;
			if ((f = reallocarray(cl->free_acks, cap,
			    sizeof *f)) == NULL) {
				free(s);
				return 0;
			}
			cl->free_acks = f;
			cl->capacks = cap;
		}
		i = cl->nacks++;
	}
	cl->acks[i] = s;
	return (uint64_t)i + 1;
}

/*
 * The token at index want of a JetStream ack subject, counted after
 * "$JS.ACK.": v1 is STREAM.CONSUMER.DELIVERED.SSEQ.DSEQ.TS.PENDING, v2 puts
 * a domain and an account before them.
 */
const char *
cl_ack_token(const char *reply, int want, size_t *len)
{
	const char	*p = reply + 8, *t[16];
	int		 n = 0;

	if (strncmp(reply, "$JS.ACK.", 8) != 0)
		return NULL;
	for (t[n++] = p; (p = strchr(p, '.')) != NULL && n < 16; )
		t[n++] = ++p;
	if (n >= 9)
		want += 2;		/* v2 */
	if (want >= n)
		return NULL;
	*len = want + 1 < n ? (size_t)(t[want + 1] - t[want] - 1) :
	    strlen(t[want]);
	return t[want];
}

/* How many times JetStream has delivered the event of ack subject reply. */
static uint32_t
delivered(const char *reply)
{
	const char	*t;
	size_t		 len;
	unsigned long	 v;

	if ((t = cl_ack_token(reply, 2, &len)) == NULL || len == 0 || len > 9)
		return 1;
	v = strtoul(t, NULL, 10);
	return v == 0 ? 1 : (uint32_t)v;
}

/* The ack subject of origin is let go. */
void
cl_ack_drop(struct cluster *cl, uint64_t origin)
{
	size_t	 i = (size_t)(origin - 1);

	free(cl->acks[i]);
	cl->acks[i] = NULL;
	cl->free_acks[cl->nfree++] = i;
}

/*
 * A message for cg's pulls: an event (pull 0: its subject is the one it was
 * published to), or a status on pull number pull's reply subject: 100 a
 * heartbeat (it waits), 409 "Consumer Deleted" (a host dropped the group:
 * made again, for the events from now on), any other its end (404, 408,
 * 409).  An event retried from one group's dead letters names that
 * group's consumer (Pushstage-For): another group acks it at once.
 */
static void
pulled(struct cluster *cl, struct cqueue *cq, struct cgroup *cg,
    uint64_t pull, natsMsg *msg)
{
	struct server	*srv = cl->srv;
	struct nqueue	*q;
	struct qgroup	*g;
	const char	*status = NULL, *desc = NULL, *to = NULL;
	const char	*reply = natsMsg_GetReply(msg);
	uint64_t	 origin = 0;
	size_t		 i;

	if (natsMsgHeader_Get(msg, "Status", &status) == NATS_OK &&
	    status != NULL) {
		for (i = 0; i < cg->npulls && cg->pulls[i].id != pull; i++)
			continue;
		if (i == cg->npulls)
			return;		/* one given up on before */
		if (strcmp(status, "100") == 0) {
			cg->pulls[i].heard = clock_ms();
			return;
		}
		(void)natsMsgHeader_Get(msg, "Description", &desc);
		log_debug("cluster: queue %s: pull %llu ended: %s %s",
		    cq->name, (unsigned long long)pull, status,
		    desc != NULL ? desc : "");
		if (strcmp(status, "409") == 0 && desc != NULL &&
		    strstr(desc, "Deleted") != NULL) {
			log_info("cluster: queue %s: consumer %s was deleted; "
			    "made again for the group here", cq->name,
			    cg->durable);
			pulls_reset(cg);
			cg->state = CG_NEW;
			cg->asked = 0;
			cg_step(cl, cq, cg);
			return;
		}
		pull_end(cg, i);
		return;
	}
	if (reply == NULL)
		return;
	/* The oldest open pull's. */
	if (cg->npulls != 0) {
		cg->pulls[0].heard = clock_ms();
		cg->outstanding--;
		if (--cg->pulls[0].left == 0)
			pull_end(cg, 0);
	}
	if (natsMsgHeader_Get(msg, "Pushstage-For", &to) == NATS_OK &&
	    to != NULL && strcmp(to, cg->durable) != 0) {
		(void)natsConnection_PublishString(cl->nc, reply, "+ACK");
		return;
	}
	if ((q = queues_find(srv, cq->name, strlen(cq->name))) == NULL ||
	    (g = groups_find(q, cg->name, strlen(cg->name))) == NULL ||
	    (origin = ack_keep(cl, reply)) == 0 ||
	    dispatch_push_tried(&g->d, natsMsg_GetData(msg),
	    (uint32_t)natsMsg_GetDataLength(msg), origin,
	    delivered(reply) - 1) == 0) {
		/* Nowhere to put it: back to JetStream, for any host. */
		if (origin != 0)
			cl_ack_drop(cl, origin);
		(void)natsConnection_PublishString(cl->nc, reply, "-NAK");
		return;
	}
	srv->cluster_pulled_total++;
	dispatch_run(&g->d);
	queues_touch(q);
}

/* The group of cq whose consumer is the n bytes at durable, or NULL. */
static struct cgroup *
cg_durable(struct cqueue *cq, const char *durable, size_t n)
{
	struct cgroup	*cg;

	for (cg = cq->groups; cg != NULL; cg = cg->next) {
		if (strlen(cg->durable) == n &&
		    strncmp(cg->durable, durable, n) == 0)
			return cg;
	}
	return NULL;
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
	struct cqueue	*cq;
	struct cgroup	*cg;
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
			/* Pulls of before are gone; streams may be new. */
			for (cq = cl->queues; cq != NULL; cq = cq->next) {
				cq->asked = 0;
				if (cq->state != CQ_READY)
					cq->state = CQ_NEW;
				for (cg = cq->groups; cg != NULL;
				    cg = cg->next) {
					pulls_reset(cg);
					cg->asked = 0;
					if (cg->state != CG_READY)
						cg->state = CG_NEW;
				}
				cq_step(cl, cq);
			}
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
	struct cbatch	*b;
	struct cqueue	*cq;
	struct cgroup	*cg;
	uint64_t	 now = clock_ms();
	size_t		 i;

	(void)fd;
	(void)what;
	/* Answering one may answer (and free) others: from the top. */
	do {
		for (b = cl->batches; b != NULL; b = b->next) {
			if (!b->done && b->deadline <= now)
				break;
		}
		if (b != NULL)
			batch_done(cl, b);
	} while (b != NULL);
	for (cq = cl->queues; cq != NULL; cq = cq->next) {
		for (cg = cq->groups; cg != NULL; cg = cg->next) {
			/* No heartbeat: the pull never reached the
			 * consumer's leader, or it went (a new one is
			 * elected). */
			for (i = 0; i < cg->npulls; i++) {
				if (cg->pulls[i].heard + PULL_LOST_MS > now)
					continue;
				log_debug("cluster: queue %s: pull %llu is "
				    "lost", cq->name,
				    (unsigned long long)cg->pulls[i].id);
				pull_end(cg, i--);
			}
			if (cg->state == CG_FAILED && cg->asked +
			    API_RETRY_MS <= now)
				cg->state = CG_NEW;	/* try again */
		}
		if (cq->state == CQ_FAILED && cq->asked + API_RETRY_MS <= now)
			cq->state = CQ_NEW;	/* try again */
		if (cq->nwaiting != 0 && cq->since + BATCH_WAIT_MS <= now) {
			cq->given_up = 1;	/* those waiting are refused */
			cq_release(cq);
		}
		cq_step(cl, cq);
		dead_count(cl, cq, now);
	}
	dead_tick(cl, now);
	server_wake(cl->srv);
}

/* Before the event base is made: libevent's locks, for libnats' threads. */
void
cluster_prepare(void)
{
	natsLibevent_Init();
}

/*
 * Link to NATS (--cluster): the connection is made and remade in the
 * background; until it is, ENQUEUEs are refused.  -1 and said why.
 */
int
cluster_open(struct server *srv, const char *urls, uint32_t replicas)
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

void
cluster_close(struct server *srv)
{
	struct cluster	*cl = srv->cluster;
	struct cqueue	*cq;
	struct cgroup	*cg;
	struct cmsg	*m;
	size_t		 i;

	if (cl == NULL)
		return;
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
	while (cl->batches != NULL)
		batch_free(cl, cl->batches);
	dead_free(cl);
	while ((cq = cl->queues) != NULL) {
		cl->queues = cq->next;
		while ((cg = cq->groups) != NULL) {
			cq->groups = cg->next;
			free(cg);
		}
		free(cq->waiting);
		free(cq);
	}
	while ((m = cl->in) != NULL) {
		cl->in = m->next;
		natsMsg_Destroy(m->msg);
		free(m);
	}
	for (i = 0; i < cl->nacks; i++)
		free(cl->acks[i]);
	free(cl->acks);
	free(cl->free_acks);
	if (cl->wake != NULL)
		event_free(cl->wake);
	if (cl->tick != NULL)
		event_free(cl->tick);
	free(cl);
	srv->cluster = NULL;
}

/*
 * dispatch's done callback for an event pulled here: finished (PS_ACK,
 * +ACK), dead (PS_NACK: stored as pushstage.ENC.dead, then +TERM; cdead.c),
 * given back to be delivered again on any host after wait ms
 * (PS_NACK_LATER, -NAK with that delay) or still worked on (PS_TOUCH,
 * +WPI: AckWait anew).
 */
void
cluster_done(void *arg, const struct qevent *ev, int how, uint32_t wait)
{
	struct server	*srv = arg;
	struct cluster	*cl = srv->cluster;
	size_t		 i = (size_t)(ev->origin - 1);
	char		 nak[64];
	const char	*say;

	if (cl == NULL || i >= cl->nacks || cl->acks[i] == NULL)
		return;
	switch (how) {
	case PS_ACK:
		say = "+ACK";
		break;
	case PS_NACK:
		dead_publish(cl, ev->origin, ev);	/* then +TERM */
		return;
	case PS_NACK_LATER:
		snprintf(nak, sizeof nak, "-NAK {\"delay\":%llu}",
		    (unsigned long long)wait * 1000000);
		say = wait != 0 ? nak : "-NAK";
		break;
	default:
		(void)natsConnection_PublishString(cl->nc, cl->acks[i], "+WPI");
		return;
	}
	(void)natsConnection_PublishString(cl->nc, cl->acks[i], say);
	cl_ack_drop(cl, ev->origin);
}

static int	 enqueue(struct conn *, struct nqueue *,
		     struct ps_enqueue_iter *, int *, char *, size_t);

/*
 * An ENQUEUE of c into queue q: each event published to the queue's
 * subject, with a unique id as Nats-Msg-Id; answered by the PubAcks,
 * after the answers to c's ENQUEUEs before it.  0; 1 when it waits for the
 * queue's stream to be made (the frame stays and is taken again then); or
 * -1 with the ERROR's code and text in *code and why.  An ERROR while
 * earlier ENQUEUEs wait for their answers waits for its turn too.
 */
int
cluster_enqueue(struct conn *c, struct nqueue *q, struct ps_enqueue_iter *it,
    int *code, char *why, size_t whylen)
{
	struct cluster	*cl = c->srv->cluster;
	struct cbatch	*b;
	int		 rc;

	if ((rc = enqueue(c, q, it, code, why, whylen)) >= 0 ||
	    c->cluster_batches == 0)
		return rc;
	if ((b = calloc(1, sizeof *b)) == NULL ||
	    (b->why = strdup(why)) == NULL) {
		free(b);
		return -1;		/* out of memory: at once, then */
	}
	b->seq = ++cl->next_batch;
	b->c = c;
	b->code = *code;
	b->done = 1;
	b->next = cl->batches;
	cl->batches = b;
	conn_cluster_sent(c);
	return 0;
}

static int
enqueue(struct conn *c, struct nqueue *q, struct ps_enqueue_iter *it,
    int *code, char *why, size_t whylen)
{
	struct cluster	*cl = c->srv->cluster;
	struct cqueue	*cq;
	struct cbatch	*b;
	natsMsg		*m;
	const uint8_t	*data;
	char		 subj[256], reply[128], id[2 * PS_UNIQUE_ID_MAX + 1];
	uint32_t	 len, i = 0;
	uint8_t		 k;
	unsigned int	 unserved;
	const char	*failed;

	/* Every event of the batch was checked: refused whole, or none. */
	if ((unserved = it->used & (1u << PS_ATTR_DELAY |
	    1u << PS_ATTR_NOT_BEFORE | 1u << PS_ATTR_PRIORITY)) != 0) {
		*code = PS_E_BAD_VALUE;
		snprintf(why, whylen, "cluster: queue %s takes no %s across "
		    "hosts; the batch is refused whole (docs/cluster.md)",
		    q->name, unserved & 1u << PS_ATTR_PRIORITY ? "PRIORITY" :
		    unserved & 1u << PS_ATTR_DELAY ? "DELAY" : "NOT_BEFORE");
		return -1;
	}
	*code = PS_E_STORAGE;
	if (!cl->connected) {
		snprintf(why, whylen, "cluster: NATS at %s is unreachable; "
		    "events are refused until it is back", cl->urls);
		return -1;
	}
	if ((cq = cq_get(cl, q->name)) == NULL) {
		*code = PS_E_NOMEM;
		snprintf(why, whylen, "cluster: out of memory");
		return -1;
	}
	if ((failed = cq_failed(cq)) != NULL) {
		snprintf(why, whylen, "cluster: queue %s has no stream: "
		    "JetStream says: %s; send again later", q->name, failed);
		return -1;
	}
	if (!cq_ready(cq) && cq->given_up) {
		snprintf(why, whylen, "cluster: queue %s's stream was not made "
		    "in %u s; send again later", q->name, BATCH_WAIT_MS / 1000);
		return -1;
	}
	if (!cq_ready(cq)) {
		struct conn	**w;

		if ((w = reallocarray(cq->waiting, cq->nwaiting + 1,
		    sizeof *w)) == NULL) {
			*code = PS_E_NOMEM;
			snprintf(why, whylen, "cluster: out of memory");
			return -1;
		}
		cq->waiting = w;
		if (cq->nwaiting == 0)
			cq->since = clock_ms();
		w[cq->nwaiting++] = c;
		conn_hold(c, HOLD_STREAM);
		return 1;
	}
	if ((b = calloc(1, sizeof *b)) == NULL ||
	    (b->seen = calloc(it->left, 1)) == NULL) {
		free(b);
		*code = PS_E_NOMEM;
		snprintf(why, whylen, "cluster: out of memory");
		return -1;
	}
	b->seq = ++cl->next_batch;
	b->c = c;
	b->n = it->left;
	b->deadline = clock_ms() + BATCH_WAIT_MS;
	b->next = cl->batches;
	cl->batches = b;
	snprintf(subj, sizeof subj, "pushstage.%s", cq->enc);
	while (ps_enqueue_next(it, &data, &len)) {
		snprintf(reply, sizeof reply, "%s.p.%llu.%u", cl->inbox,
		    (unsigned long long)b->seq, i);
		if (natsMsg_Create(&m, subj, reply, (const char *)data,
		    (int)len) != NATS_OK) {
			batch_failed(b, i++, "out of memory");
			continue;
		}
		if (it->a.uid != NULL) {
			for (k = 0; k < it->a.ulen; k++)
				snprintf(id + 2 * k, 3, "%02x", it->a.uid[k]);
			(void)natsMsgHeader_Set(m, "Nats-Msg-Id", id);
		}
		if (natsConnection_PublishMsg(cl->nc, m) != NATS_OK)
			batch_failed(b, i, "not published: NATS refused it");
		natsMsg_Destroy(m);
		i++;
	}
	conn_cluster_sent(c);
	if (b->acked + b->dups + b->failed == b->n)
		batch_done(cl, b);
	return 0;
}

/* c goes: its batch, if one waits, has no one to answer. */
void
cluster_conn_gone(struct conn *c)
{
	struct cbatch	*b;
	struct cqueue	*cq;
	size_t		 i;

	if (c->srv->cluster == NULL)
		return;
	cluster_dead_forget(c->srv, c);
	for (b = c->srv->cluster->batches; b != NULL; b = b->next) {
		if (b->c == c)
			b->c = NULL;
	}
	for (cq = c->srv->cluster->queues; cq != NULL; cq = cq->next) {
		for (i = 0; i < cq->nwaiting; i++) {
			if (cq->waiting[i] == c)
				cq->waiting[i] = NULL;
		}
	}
}

/* A pull of n events for cg, with its heartbeat; -1 if not sent. */
static int
pull_open(struct cluster *cl, struct cqueue *cq, struct cgroup *cg,
    uint64_t n)
{
	struct cpull	*p;
	char		 subj[512], reply[512], body[128];

	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.MSG.NEXT.PS_%s.%s",
	    cq->enc, cg->durable);
	snprintf(reply, sizeof reply, "%s.q.%s.%s.%llu", cl->inbox, cq->enc,
	    cg->durable, (unsigned long long)++cl->next_pull);
	snprintf(body, sizeof body, "{\"batch\":%llu,\"expires\":%llu,"
	    "\"idle_heartbeat\":%llu}", (unsigned long long)n,
	    (unsigned long long)PULL_EXPIRES_MS * 1000000,
	    (unsigned long long)PULL_HB_MS * 1000000);
	if (cg->npulls == PULLS_MAX || natsConnection_PublishRequest(cl->nc,
	    subj, reply, body, (int)strlen(body)) != NATS_OK)
		return -1;
	p = &cg->pulls[cg->npulls++];
	p->id = cl->next_pull;
	p->left = (uint32_t)n;
	p->heard = clock_ms();
	cg->outstanding += (uint32_t)n;
	log_debug("cluster: queue %s: %s: pull %llu for %llu", cq->name,
	    cg->durable, (unsigned long long)p->id, (unsigned long long)n);
	return 0;
}

/*
 * What group g here asks of JetStream: its consumers' unmet demand, in
 * one pull of it all when none is open; while pulls of one event are open,
 * a little more that way (consumers of one at a time keep several in
 * flight, as each would straight on JetStream); else it waits for them.
 */
static void
cg_settle(struct cluster *cl, struct cqueue *cq, struct cgroup *cg,
    struct qgroup *g)
{
	uint64_t	 want, held, n;

	held = g->d.queue.count + cg->outstanding;
	if ((want = g->d.demand_total) <= held)
		return;
	want -= held;
	if (cg->npulls != 0 && (cg->pulls[0].left > 1 ||
	    want > PULL_ONES_MAX || cg->npulls + want > PULLS_MAX))
		return;
	if (want > PULL_BATCH)
		want = PULL_BATCH;
	for (n = cg->npulls != 0 ? want : 1; n != 0; n--) {
		if (pull_open(cl, cq, cg, cg->npulls != 0 ? 1 : want) != 0)
			break;
	}
}

/*
 * At the end of a loop iteration: pull for each group what its consumers
 * here have asked for and it does not hold or wait for already.
 */
void
cluster_settle(struct server *srv)
{
	struct cluster	*cl = srv->cluster;
	struct cqueue	*cq;
	struct cgroup	*cg;
	struct nqueue	*q;
	struct qgroup	*g;

	if (cl == NULL || !cl->connected)
		return;
	for (cq = cl->queues; cq != NULL; cq = cq->next) {
		if (cq->state != CQ_READY || (q = queues_find(srv, cq->name,
		    strlen(cq->name))) == NULL)
			continue;
		for (cg = cq->groups; cg != NULL; cg = cg->next) {
			if (cg->state == CG_READY && (g = groups_find(q,
			    cg->name, strlen(cg->name))) != NULL)
				cg_settle(cl, cq, cg, g);
		}
	}
}

/*
 * A group made here (name "" the shared one): its queue's streams and its
 * consumer are made, or found.
 */
void
cluster_group(struct server *srv, const char *queue, const char *name)
{
	struct cqueue	*cq;

	if (srv->cluster != NULL && (cq = cq_get(srv->cluster, queue)) != NULL)
		(void)cg_get(srv->cluster, cq, name);
}

/*
 * Named group name is dropped here (DROP_GROUP): its consumer goes from
 * JetStream, and with it the group's hold on events, for every host.  A
 * host whose consumers still use the group makes it again, for the events
 * from then on.
 */
void
cluster_group_drop(struct server *srv, const char *queue, const char *name)
{
	struct cluster	*cl = srv->cluster;
	struct cqueue	*cq;
	struct cgroup	*cg, **p;
	char		 subj[512], tag[512];

	if (cl == NULL || (cq = cl_find(cl, queue)) == NULL ||
	    (cg = cg_find(cq, name)) == NULL || name[0] == '\0')
		return;
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DELETE.PS_%s.%s",
	    cq->enc, cg->durable);
	snprintf(tag, sizeof tag, "z.%s.%s", cq->enc, cg->durable);
	if (!cl->connected || cl_api(cl, subj, tag, "") != 0)
		log_warnx("cluster: queue %s: consumer %s of group %s could "
		    "not be deleted in JetStream: it keeps the events for it",
		    cq->name, cg->durable, name);
	else
		log_info("cluster: queue %s: consumer %s of group %s deleted",
		    cq->name, cg->durable, name);
	for (p = &cq->groups; *p != cg; p = &(*p)->next)
		continue;
	*p = cg->next;
	free(cg);
}

/*
 * Queue name's ack timeout or max attempts changed here: its groups'
 * JetStream consumers' AckWait and MaxDeliver follow (the last host to
 * change them sets them for all).
 */
void
cluster_settings(struct server *srv, const char *name)
{
	struct cluster	*cl = srv->cluster;
	struct cqueue	*cq;
	struct cgroup	*cg;

	if (cl == NULL || (cq = cl_find(cl, name)) == NULL)
		return;
	for (cg = cq->groups; cg != NULL; cg = cg->next) {
		if (cg->state != CG_READY)
			continue;
		cg->state = CG_CONSUMER;
		cg->updating = 1;
		cg->asked = 0;
		cg_step(cl, cq, cg);
	}
}
