/*
 * cprov.c: a cluster's streams and consumers (--cluster; cluster.c says
 * what they are).  Each queue used here gets its events' stream and its
 * dead letters' stream, then a durable pull consumer per group, made one
 * JetStream API request at a time, asked again when lost or refused, and
 * taken as ours when another host made them the same way.  ENQUEUEs of a
 * queue whose stream is not ready yet wait here (cq_release lets them go).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "producerd.h"
#include "jsreply.h"


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

/* The next step in making cg's durable consumer, cq's streams made. */
void
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
void
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

struct cgroup *
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
struct cgroup *
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
struct cqueue *
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
int
cq_ready(const struct cqueue *cq)
{
	return cq->state == CQ_READY && cq->groups->state == CG_READY;
}

/* Why ENQUEUEs of cq are refused for now, or NULL if they are not. */
const char *
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
	struct cwaiter	 *w = cq->waiting;
	size_t		  i, n = cq->nwaiting;

	cq->waiting = NULL;
	cq->nwaiting = 0;
	for (i = 0; i < n; i++) {
		if (w[i].door != NULL)
			w[i].door->resume(w[i].arg);
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
void
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
void
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

/* The group of cq whose consumer is the n bytes at durable, or NULL. */
struct cgroup *
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
 * Named group g is dropped here (DROP_GROUP): its consumer goes from
 * JetStream, and with it the group's hold on events, for every host.  A
 * host whose consumers still use the group makes it again, for the events
 * from then on.
 */
void
cg_drop(struct server *srv, const struct qgroup *g)
{
	struct cluster	*cl = srv->cluster;
	struct cqueue	*cq;
	struct cgroup	*cg, **p;
	const char	*queue = g->q->name, *name = g->name;
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
cg_settings(struct server *srv, const char *name)
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

/*
 * Every TICK_MS: a queue's or consumer's making that failed is tried
 * again; ENQUEUEs that waited for a stream too long are refused.
 */
void
prov_tick(struct cluster *cl, uint64_t now)
{
	struct cqueue	*cq;
	struct cgroup	*cg;

	for (cq = cl->queues; cq != NULL; cq = cq->next) {
		for (cg = cq->groups; cg != NULL; cg = cg->next) {
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
}

/*
 * Linked to NATS again: pulls of before are gone, and streams may be new
 * (a NATS without them): what is not ready is made from the start.
 */
void
prov_relink(struct cluster *cl)
{
	struct cqueue	*cq;
	struct cgroup	*cg;

	for (cq = cl->queues; cq != NULL; cq = cq->next) {
		cq->asked = 0;
		if (cq->state != CQ_READY)
			cq->state = CQ_NEW;
		for (cg = cq->groups; cg != NULL; cg = cg->next) {
			pulls_reset(cg);
			cg->asked = 0;
			if (cg->state != CG_READY)
				cg->state = CG_NEW;
		}
		cq_step(cl, cq);
	}
}

/* A sender that went waits no more. */
void
prov_forget(struct cluster *cl, void *arg)
{
	struct cqueue	*cq;
	size_t		 i;

	for (cq = cl->queues; cq != NULL; cq = cq->next) {
		for (i = 0; i < cq->nwaiting; i++) {
			if (cq->waiting[i].arg == arg)
				cq->waiting[i].door = NULL;
		}
	}
}

void
prov_free(struct cluster *cl)
{
	struct cqueue	*cq;
	struct cgroup	*cg;

	while ((cq = cl->queues) != NULL) {
		cl->queues = cq->next;
		while ((cg = cq->groups) != NULL) {
			cq->groups = cg->next;
			free(cg);
		}
		free(cq->waiting);
		free(cq);
	}
}
