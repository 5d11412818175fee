/*
 * cpull.c: what a cluster's consumers here get (--cluster).  The daemon
 * pulls from each group's JetStream consumer only what its consumers here
 * have asked for and it does not hold yet, at the end of each loop
 * iteration (pull_settle); each event pulled goes through the group's
 * dispatcher as a stage's does, its origin the index of its JetStream ack
 * subject, and is acked there (+ACK) when acked here, given back (-NAK),
 * kept (+WPI), or, when it dies here, stored as a dead letter then
 * terminated (+TERM, cdead.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "jsreply.h"
#include "producerd.h"

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
void
pulls_reset(struct cgroup *cg)
{
	cg->npulls = 0;
	cg->outstanding = 0;
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
 * An event's headers, carried as the base64 of their HEADER attributes in
 * its NATS header Pushstage-Headers (cpub.c), into hdr: their length, or
 * 0 with none, or with bytes that are not headers (they are let go, and
 * logged: an event is never refused for them).
 */
static uint16_t
headers_of(natsMsg *msg, uint8_t *hdr)
{
	const char	*v = NULL, *why;
	char		 buf[PS_WHY_MAX];
	size_t		 n;

	if (natsMsgHeader_Get(msg, "Pushstage-Headers", &v) != NATS_OK ||
	    v == NULL)
		return 0;
	n = b64_len(v, strlen(v));
	if (n == 0 || n > PS_HEADERS_WIRE_MAX ||
	    b64_decode(v, strlen(v), hdr, PS_HEADERS_WIRE_MAX) != 0 ||
	    ps_headers_check(hdr, (uint16_t)n, &why, buf) != 0) {
		log_warnx("cluster: an event's Pushstage-Headers are not "
		    "headers: delivered without them");
		return 0;
	}
	return (uint16_t)n;
}

/*
 * A message for cg's pulls: an event (pull 0: its subject is the one it was
 * published to), or a status on pull number pull's reply subject: 100 a
 * heartbeat (it waits), 409 "Consumer Deleted" (a host dropped the group:
 * made again, for the events from now on), any other its end (404, 408,
 * 409).  An event retried from one group's dead letters names that
 * group's consumer (Pushstage-For): another group acks it at once.
 */
void
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
	uint16_t	 hlen;
	uint8_t		 hdr[PS_HEADERS_WIRE_MAX];

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
	hlen = headers_of(msg, hdr);
	if ((q = queues_find(srv, cq->name, strlen(cq->name))) == NULL ||
	    (g = groups_find(q, cg->name, strlen(cg->name))) == NULL ||
	    (origin = ack_keep(cl, reply)) == 0 ||
	    dispatch_push_tried(&g->d, hdr, hlen, natsMsg_GetData(msg),
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
pull_settle(struct server *srv)
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

/* Every TICK_MS: pulls that went silent are given up on. */
void
pull_tick(struct cluster *cl, uint64_t now)
{
	struct cqueue	*cq;
	struct cgroup	*cg;
	size_t		 i;

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
		}
	}
}

void
pull_free(struct cluster *cl)
{
	size_t	 i;

	for (i = 0; i < cl->nacks; i++)
		free(cl->acks[i]);
	free(cl->acks);
	free(cl->free_acks);
}
