/*
 * cpub.c: a cluster's ENQUEUEs (--cluster).  Each event of a batch is
 * published to its queue's subject, with its unique id as Nats-Msg-Id so
 * that JetStream drops a duplicate; the batch is answered once JetStream
 * has stored them all (their PubAcks) or BATCH_WAIT_MS has passed, and a
 * sender's batches are answered in the order they came.
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

static int	 enqueue(struct cluster *, struct enq *);

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
 * arg's batches are answered in the order they came (a client pipelines
 * its ENQUEUEs and reads the answers in turn): each as soon as it and
 * every one before it are done.
 */
static void
batch_answer(struct cluster *cl, const struct enq_door *door, void *arg)
{
	struct cbatch		*b, *first;
	struct ps_enqueued	 r;

	for (;;) {
		first = NULL;
		for (b = cl->batches; b != NULL; b = b->next) {
			if (b->arg == arg && (first == NULL || b->seq < first->seq))
				first = b;
		}
		if (first == NULL || !first->done)
			return;
		first->arg = NULL;
		if (first->code != 0) {
			/* It goes: what it sent after has no one to answer. */
			for (b = cl->batches; b != NULL; b = b->next) {
				if (b->arg == arg)
					b->arg = NULL;
			}
			door->refuse(arg, first->code, first->why);
			batch_free(cl, first);
			return;
		} else {
			memset(&r, 0, sizeof r);
			r.accepted = first->acked;
			r.refused = first->n - first->acked - first->dups;
			r.duplicates = first->dups;
			r.dups = &first->dupidx;
			cl->srv->cluster_published_total += first->acked;
			door->answer(arg, &r);
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
	if (b->arg == NULL)
		batch_free(cl, b);	/* its sender went */
	else
		batch_answer(cl, b->door, b->arg);
}

/* A PubAck, for event i of batch seq. */
void
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

/*
 * An ENQUEUE (backend.h): each event published to the queue's subject,
 * with a unique id as Nats-Msg-Id; answered by the PubAcks, after the
 * answers to its sender's ENQUEUEs before it (ENQ_LATER); ENQ_HELD while
 * the queue's stream is made; or ENQ_FAILED.  An ERROR while earlier
 * ENQUEUEs wait for their answers waits for its turn too.
 */
int
pub_enqueue(struct server *srv, struct enq *e)
{
	struct cluster	*cl = srv->cluster;
	struct cbatch	*b;
	int		 rc;

	if ((rc = enqueue(cl, e)) != ENQ_FAILED || e->pending == 0)
		return rc;
	if ((b = calloc(1, sizeof *b)) == NULL ||
	    (b->why = strdup(e->why)) == NULL) {
		free(b);
		return ENQ_FAILED;	/* out of memory: at once, then */
	}
	b->seq = ++cl->next_batch;
	b->door = e->door;
	b->arg = e->arg;
	b->code = e->code;
	b->done = 1;
	b->next = cl->batches;
	cl->batches = b;
	e->door->sent(e->arg);
	return ENQ_LATER;
}

static int
enqueue(struct cluster *cl, struct enq *e)
{
	struct ps_enqueue_iter *it = e->it;
	struct cask	 ask = { .queue = e->q->name, .attrs = it->used };
	char		*why = e->why;
	size_t		 whylen = sizeof e->why;
	struct cqueue	*cq;
	struct cbatch	*b;
	natsMsg		*m;
	const uint8_t	*data;
	char		 subj[256], reply[128], id[2 * PS_UNIQUE_ID_MAX + 1];
	char		 hdrs[4 * ((PS_HEADERS_WIRE_MAX + 2) / 3) + 1];
	uint32_t	 len, i = 0;
	uint8_t		 k;
	const char	*failed;

	/* Every event of the batch was checked: refused whole, or none. */
	if (cl_unserved(&ask, why, whylen) != 0) {
		e->code = PS_E_BAD_VALUE;
		return ENQ_FAILED;
	}
	e->code = PS_E_STORAGE;
	if (!cl->connected) {
		snprintf(why, whylen, "cluster: NATS at %s is unreachable; "
		    "events are refused until it is back", cl->urls);
		return ENQ_FAILED;
	}
	if ((cq = cq_get(cl, e->q->name)) == NULL) {
		e->code = PS_E_NOMEM;
		snprintf(why, whylen, "cluster: out of memory");
		return ENQ_FAILED;
	}
	if ((failed = cq_failed(cq)) != NULL) {
		snprintf(why, whylen, "cluster: queue %s has no stream: "
		    "JetStream says: %s; send again later", e->q->name, failed);
		return ENQ_FAILED;
	}
	if (!cq_ready(cq) && cq->given_up) {
		snprintf(why, whylen, "cluster: queue %s's stream was not made "
		    "in %u s; send again later", e->q->name, BATCH_WAIT_MS / 1000);
		return ENQ_FAILED;
	}
	if (!cq_ready(cq)) {
		struct cwaiter	*w;

		if ((w = reallocarray(cq->waiting, cq->nwaiting + 1,
		    sizeof *w)) == NULL) {
			e->code = PS_E_NOMEM;
			snprintf(why, whylen, "cluster: out of memory");
			return ENQ_FAILED;
		}
		cq->waiting = w;
		if (cq->nwaiting == 0)
			cq->since = clock_ms();
		w[cq->nwaiting].door = e->door;
		w[cq->nwaiting++].arg = e->arg;
		return ENQ_HELD;
	}
	if ((b = calloc(1, sizeof *b)) == NULL ||
	    (b->seen = calloc(it->left, 1)) == NULL) {
		free(b);
		e->code = PS_E_NOMEM;
		snprintf(why, whylen, "cluster: out of memory");
		return ENQ_FAILED;
	}
	b->seq = ++cl->next_batch;
	b->door = e->door;
	b->arg = e->arg;
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
		/* Its headers, as they came, in base64: a NATS header. */
		if (it->a.hlen != 0) {
			b64_encode(it->a.hdr, it->a.hlen, hdrs);
			if (natsMsgHeader_Set(m, "Pushstage-Headers", hdrs) !=
			    NATS_OK) {
				natsMsg_Destroy(m);
				batch_failed(b, i++, "out of memory");
				continue;
			}
		}
		if (natsConnection_PublishMsg(cl->nc, m) != NATS_OK)
			batch_failed(b, i, "not published: NATS refused it");
		natsMsg_Destroy(m);
		i++;
	}
	e->door->sent(e->arg);
	if (b->acked + b->dups + b->failed == b->n)
		batch_done(cl, b);
	return ENQ_LATER;
}

/* Every TICK_MS: batches whose PubAcks did not all come in time. */
void
pub_tick(struct cluster *cl, uint64_t now)
{
	struct cbatch	*b;

	/* Answering one may answer (and free) others: from the top. */
	do {
		for (b = cl->batches; b != NULL; b = b->next) {
			if (!b->done && b->deadline <= now)
				break;
		}
		if (b != NULL)
			batch_done(cl, b);
	} while (b != NULL);
}

/* arg goes: its batches, if any wait, have no one to answer. */
void
pub_forget(struct cluster *cl, void *arg)
{
	struct cbatch	*b;

	for (b = cl->batches; b != NULL; b = b->next) {
		if (b->arg == arg)
			b->arg = NULL;
	}
}

void
pub_free(struct cluster *cl)
{
	while (cl->batches != NULL)
		batch_free(cl, cl->batches);
}
