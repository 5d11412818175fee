/*
 * cdead.c: the dead letters of a cluster's queues (--cluster; docs/
 * cluster.md).  They are kept in JetStream, in the queue's dead-letter
 * stream PSD_ENC under pushstage.ENC.dead (the shared group's) or
 * pushstage.ENC.dead.GROUP (a named group's), not on the host where they
 * died, so that every host lists, retries and drops the same ones.  An event that dies
 * here is stored there first and terminated (+TERM) only once JetStream
 * has it.  A DEAD_LIST, DEAD_RETRY or DEAD_DROP is a few API requests,
 * made one at a time while its asker (a client, or the HTTP API) waits
 * for the answer; a dead letter is named by its sequence number in the
 * stream.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "jsreply.h"
#include "log.h"
#include "producerd.h"

#define JS_NO_MESSAGE	10037		/* JetStream's err_code: none there */
#define JS_NO_SEQUENCE	10043		/* ... that sequence is not there */
#define JS_NO_STREAM	10059		/* ... nor the stream */

/* A dead letter on its way into the stream: +TERM once it is stored. */
struct cterm {
	struct cterm	*next;
	uint64_t	 n;		/* its PubAck's reply subject's */
	uint64_t	 origin;	/* its event's ack subject */
	uint64_t	 deadline;
};

/* What a request is waiting for. */
enum { D_COUNT, D_FIND, D_PUT, D_DELETE };

/* A DEAD_LIST, DEAD_RETRY or DEAD_DROP at JetStream. */
struct cdead {
	struct cdead	*next;
	uint64_t	 n;		/* its replies' subject's */
	dead_tell	*tell;
	void		*arg;		/* its asker's; NULL: it went */
	uint8_t		 type;
	char		 name[PS_PATH_MAX + 1];	/* for log lines */
	char		 who[PS_NAME_MAX + 8];
	char		 enc[3 * PS_QUEUE_MAX + 1];
	char		 durable[3 * PS_QUEUE_MAX + 3];	/* its group's */
	char		 subj[9 * PS_QUEUE_MAX + 32];	/* its dead letters' */
	uint32_t	 preview, limit;
	int		 version;	/* of the reply's entries */
	uint64_t	 after;		/* a list's first is past this */
	uint64_t	*ids;		/* none: every dead letter */
	uint32_t	 nids, at;
	int		 step;
	uint64_t	 from;		/* the next one is here or past */
	uint64_t	 seq;		/* the one at hand */
	uint8_t		*data;		/* its payload, to retry */
	size_t		 len;
	char		*hdrs;		/* ... its Pushstage-Headers, or NULL */
	uint64_t	 total;
	uint32_t	 count, done;
	struct ps_buf	 out;		/* DEAD_LIST_REPLY so far */
	size_t		 start;
	uint64_t	 deadline;
};

static void	 dead_step(struct cluster *, struct cdead *);

/*
 * Event ev, from the stream of ack subject origin, died here: a copy to
 * the stream's dead-letter subject, with its attempts and why; +TERM when
 * JetStream has stored it.  If it does not (its answer an error, or none
 * within BATCH_WAIT_MS), the event is let be: JetStream delivers it again
 * after its AckWait, and it dies again.
 */
/*
 * ev's headers (Pushstage-Headers) and its last error (Pushstage-Error:
 * up to PS_DEAD_ERROR_MAX bytes of it), base64 in NATS headers of m.
 */
static int
dead_attrs(natsMsg *m, const struct qevent *ev)
{
	static char		 b[4 * ((PS_HEADERS_WIRE_MAX + 2) / 3) + 1];
	const struct qfailure	*f;
	size_t			 elen;
	uint8_t			 i;

	if (ev->hlen != 0) {
		b64_encode(ev->hdr, ev->hlen, b);
		if (natsMsgHeader_Set(m, "Pushstage-Headers", b) != NATS_OK)
			return -1;
	}
	for (i = ev->fail != NULL ? ev->fail->n : 0; i-- > 0;) {
		f = &ev->fail->f[i];
		if (f->elen == 0)
			continue;
		elen = f->elen < PS_DEAD_ERROR_MAX ? f->elen :
		    PS_DEAD_ERROR_MAX;
		b64_encode((const uint8_t *)f->bytes + f->wlen, elen, b);
		return natsMsgHeader_Set(m, "Pushstage-Error", b) == NATS_OK ?
		    0 : -1;
	}
	return 0;
}

void
dead_publish(struct cluster *cl, uint64_t origin, const struct qevent *ev)
{
	static const char *const why[] = { "", "nack", "timeout", "disconnect",
	    "rejected" };
	struct cterm	*t;
	const char	*s, *g;
	size_t		 len, glen;
	natsMsg		*m = NULL;
	char		 subj[1024], reply[128], n[16];

	/* The stream PS_ENC and the consumer, ps or g_GROUP, of the ack. */
	if ((s = cl_ack_token(cl->acks[origin - 1], 0, &len)) == NULL ||
	    len < 4 || strncmp(s, "PS_", 3) != 0 ||
	    (g = cl_ack_token(cl->acks[origin - 1], 1, &glen)) == NULL ||
	    (t = calloc(1, sizeof *t)) == NULL) {
		cl_ack_drop(cl, origin);
		return;
	}
	t->n = ++cl->next_term;
	t->origin = origin;
	t->deadline = clock_ms() + BATCH_WAIT_MS;
	if (glen > 2 && strncmp(g, "g_", 2) == 0)
		snprintf(subj, sizeof subj, "pushstage.%.*s.dead.%.*s",
		    (int)len - 3, s + 3, (int)glen - 2, g + 2);
	else
		snprintf(subj, sizeof subj, "pushstage.%.*s.dead",
		    (int)len - 3, s + 3);
	snprintf(reply, sizeof reply, "%s.t.%llu", cl->inbox,
	    (unsigned long long)t->n);
	snprintf(n, sizeof n, "%u", ev->attempts);
	if (natsMsg_Create(&m, subj, reply, (const char *)ev->data,
	    (int)ev->len) != NATS_OK ||
	    natsMsgHeader_Set(m, "Pushstage-Attempts", n) != NATS_OK ||
	    natsMsgHeader_Set(m, "Pushstage-Reason", ev->reason < 5 ?
	    why[ev->reason] : "") != NATS_OK || dead_attrs(m, ev) != 0 ||
	    natsConnection_PublishMsg(cl->nc, m) != NATS_OK) {
		log_warnx("cluster: a dead letter of %.*s was not sent; "
		    "JetStream delivers it again after its AckWait",
		    (int)len, s);
		natsMsg_Destroy(m);
		cl_ack_drop(cl, origin);
		free(t);
		return;
	}
	natsMsg_Destroy(m);
	t->next = cl->terms;
	cl->terms = t;
}

/* Dead letter t is stored (or not): +TERM (or nothing) and it is done. */
static void
term_done(struct cluster *cl, struct cterm *t, const char *why)
{
	struct cterm	**p;

	for (p = &cl->terms; *p != t; p = &(*p)->next)
		continue;
	*p = t->next;
	if (why == NULL)
		(void)natsConnection_PublishString(cl->nc,
		    cl->acks[t->origin - 1], "+TERM");
	else
		log_warnx("cluster: a dead letter was not stored (%s); "
		    "JetStream delivers its event again after its AckWait",
		    why);
	cl_ack_drop(cl, t->origin);
	free(t);
}

/* The request of d's step. */
static void
dead_ask(struct cluster *cl, struct cdead *d)
{
	natsMsg		*m;
	char		 subj[512], body[1024], tag[64], reply[128];
	const char	*api;

	snprintf(tag, sizeof tag, "d.%llu", (unsigned long long)d->n);
	body[0] = '\0';
	d->deadline = clock_ms() + API_WAIT_MS;
	switch (d->step) {
	case D_COUNT:
		api = "STREAM.INFO";
		snprintf(body, sizeof body, "{\"subjects_filter\":\"%s\"}",
		    d->subj);
		break;
	case D_FIND:
		api = "STREAM.MSG.GET";
		if (d->nids != 0)
			snprintf(body, sizeof body, "{\"seq\":%llu}",
			    (unsigned long long)d->ids[d->at]);
		else
			snprintf(body, sizeof body, "{\"seq\":%llu,"
			    "\"next_by_subj\":\"%s\"}",
			    (unsigned long long)d->from, d->subj);
		break;
	case D_PUT:
		/*
		 * Back as a new event, its attempts from 1, for its group
		 * alone: the others' consumers ack it at once (cluster.c).
		 */
		snprintf(subj, sizeof subj, "pushstage.%s", d->enc);
		snprintf(reply, sizeof reply, "%s.%s", cl->inbox, tag);
		if (natsMsg_Create(&m, subj, reply, (const char *)d->data,
		    (int)d->len) == NATS_OK) {
			/* With its headers; its failures stay behind. */
			if (natsMsgHeader_Set(m, "Pushstage-For",
			    d->durable) == NATS_OK && (d->hdrs == NULL ||
			    natsMsgHeader_Set(m, "Pushstage-Headers",
			    d->hdrs) == NATS_OK))
				(void)natsConnection_PublishMsg(cl->nc, m);
			natsMsg_Destroy(m);
		}
		return;			/* not sent: its time runs out */
	default:			/* D_DELETE */
		api = "STREAM.MSG.DELETE";
		snprintf(body, sizeof body, "{\"seq\":%llu}",
		    (unsigned long long)d->seq);
		break;
	}
	snprintf(subj, sizeof subj, "$JS.API.%s." DEAD_STREAM "%s", api,
	    d->enc);
	(void)cl_api(cl, subj, tag, body);
}

static void
dead_free1(struct cluster *cl, struct cdead *d)
{
	struct cdead	**p;

	for (p = &cl->deads; *p != d; p = &(*p)->next)
		continue;
	*p = d->next;
	free(d->ids);
	free(d->data);
	free(d->hdrs);
	ps_buf_free(&d->out);
	free(d);
}

/* d is answered: its list or count, or ERROR code and why. */
static void
dead_end(struct cluster *cl, struct cdead *d, int code, const char *why)
{
	dead_tell	*tell = d->tell;
	void		*arg = d->arg;

	if (code == 0 && d->type == PS_DEAD_LIST) {
		if (d->total < d->count)
			d->total = d->count;
		ps_put_dead_end(&d->out, d->start, d->total > UINT32_MAX ?
		    UINT32_MAX : (uint32_t)d->total, d->count);
	} else if (code == 0 && d->done != 0)
		log_info("%s: %s %u dead event%s of queue %s in JetStream",
		    d->who, d->type == PS_DEAD_DROP ? "dropped" : "retried",
		    d->done, d->done == 1 ? "" : "s", d->name);
	if (arg != NULL)
		tell(arg, code, why, d->type == PS_DEAD_LIST && code == 0 ?
		    &d->out : NULL, d->done);
	dead_free1(cl, d);
}

/* A dead letter found: listed, or on to being retried or dropped. */
static void
dead_found(struct cluster *cl, struct cdead *d, const char *data)
{
	static const char *const why[] = { "nack", "timeout", "disconnect",
	    "rejected" };
	struct server	*srv = cl->srv;
	struct ps_dead	 e;
	uint8_t		 preview[PS_PREVIEW_MAX], err[PS_DEAD_ERROR_MAX];
	static char	 h[16384], v[4 * ((PS_HEADERS_WIRE_MAX + 2) / 3) + 1];
	const char	*s = "", *hs;
	size_t		 len = 0, hlen, i;

	(void)js_string(data, "\"data\":", &s, &len);
	memset(&e, 0, sizeof e);
	e.id = d->seq;
	e.attempts = 0;
	if (js_string(data, "\"hdrs\":", &hs, &hlen) == 0 &&
	    b64_len(hs, hlen) < sizeof h && b64_decode(hs, hlen,
	    (uint8_t *)h, sizeof h) == 0) {
		h[b64_len(hs, hlen)] = '\0';
		if (nats_header(h, strlen(h), "Pushstage-Attempts", v,
		    sizeof v) == 0)
			e.attempts = (uint32_t)strtoul(v, NULL, 10);
		if (nats_header(h, strlen(h), "Pushstage-Reason", v,
		    sizeof v) == 0)
			for (i = 0; i < 4; i++)
				if (strcmp(v, why[i]) == 0)
					e.reason = (uint8_t)(i + 1);
		if (nats_header(h, strlen(h), "Pushstage-Error", v,
		    sizeof v) == 0 && b64_len(v, strlen(v)) <= sizeof err &&
		    b64_decode(v, strlen(v), err, sizeof err) == 0) {
			e.error = err;
			e.error_len = (uint16_t)b64_len(v, strlen(v));
		}
		free(d->hdrs);
		d->hdrs = NULL;
		if (nats_header(h, strlen(h), "Pushstage-Headers", v,
		    sizeof v) == 0 && (d->hdrs = strdup(v)) == NULL) {
			dead_end(cl, d, PS_E_NOMEM, "no memory for a dead "
			    "letter's headers");
			return;
		}
	}
	e.len = (uint32_t)b64_len(s, len);
	if (d->type == PS_DEAD_LIST) {
		e.preview_len = (uint16_t)(e.len < d->preview ? e.len :
		    d->preview);
		e.preview = preview;
		if (b64_decode(s, len, preview, e.preview_len) != 0) {
			dead_end(cl, d, PS_E_STORAGE, "cluster: a dead letter "
			    "in JetStream is not base64");
			return;
		}
		/* Up to its limit and the frame limit, as on one host. */
		if (d->count == d->limit || d->out.len - d->start -
		    PS_HDR_LEN + PS_DEAD_ENTRY + e.preview_len +
		    (d->version >= 5 ? 2u + e.error_len : 0) > srv->max_frame) {
			d->done = 1;	/* more follow: the API's "next" */
			dead_end(cl, d, 0, NULL);
			return;
		}
		if (ps_put_dead(&d->out, d->version, &e) != 0) {
			dead_end(cl, d, PS_E_NOMEM, "no memory for the "
			    "dead-letter list");
			return;
		}
		d->count++;
		d->from = d->seq + 1;
		dead_step(cl, d);
		return;
	}
	if (d->type == PS_DEAD_DROP) {
		d->step = D_DELETE;
		dead_ask(cl, d);
		return;
	}
	free(d->data);
	d->len = e.len;
	if ((d->data = malloc(e.len + 1)) == NULL ||
	    b64_decode(s, len, d->data, e.len) != 0) {
		dead_end(cl, d, PS_E_NOMEM, "no memory to retry a dead "
		    "letter");
		return;
	}
	d->step = D_PUT;
	dead_ask(cl, d);
}

/* The next dead letter of d, if it has one more; else it is answered. */
static void
dead_step(struct cluster *cl, struct cdead *d)
{
	if (d->nids != 0 && d->at == d->nids) {
		dead_end(cl, d, 0, NULL);
		return;
	}
	d->step = D_FIND;
	dead_ask(cl, d);
}

/* The last dead letter is done with: on to the next. */
static void
dead_next(struct cluster *cl, struct cdead *d)
{
	if (d->nids != 0)
		d->at++;
	else
		d->from = d->seq + 1;
	dead_step(cl, d);
}

/*
 * A reply on our inbox: kind 't' a dead letter's PubAck, 'd' one for a
 * client's request.
 */
void
dead_reply(struct cluster *cl, int kind, const char *tag, natsMsg *msg)
{
	struct cterm	*t;
	struct cdead	*d;
	char		 err[256], say[512], key[9 * PS_QUEUE_MAX + 40];
	const char	*why, *data = natsMsg_GetData(msg), *subj, *status;
	size_t		 dlen = (size_t)natsMsg_GetDataLength(msg), slen;
	uint64_t	 n = strtoull(tag, NULL, 10), code = 0;

	if (data == NULL)
		data = "";
	why = js_error(data, dlen, err, sizeof err);
	if (why == NULL && natsMsgHeader_Get(msg, "Status", &status) ==
	    NATS_OK && status != NULL) {
		snprintf(err, sizeof err, "NATS status %s", status);
		why = err;
	}
	if (kind == 't') {
		for (t = cl->terms; t != NULL && t->n != n; t = t->next)
			continue;
		if (t != NULL)
			term_done(cl, t, why != NULL ? why :
			    strstr(data, "\"seq\"") == NULL ?
			    "no sequence in its PubAck" : NULL);
		return;
	}
	for (d = cl->deads; d != NULL && d->n != n; d = d->next)
		continue;
	if (d == NULL)
		return;			/* its time ran out */
	if (why != NULL)
		(void)js_u64(data, "\"err_code\":", &code);
	switch (d->step) {
	case D_COUNT:
		if (why != NULL && code != JS_NO_STREAM)
			break;
		if (why != NULL) {
			dead_end(cl, d, 0, NULL);	/* none yet */
			return;
		}
		/* Its state says "subjects":{"pushstage.ENC.dead":N}. */
		snprintf(key, sizeof key, "\"%s\":", d->subj);
		d->total = 0;
		(void)js_u64(data, key, &d->total);
		/* Ids are the stream's sequence numbers: a page is a range. */
		d->from = d->after + 1;
		dead_step(cl, d);
		return;
	case D_FIND:
		if (why != NULL && (code == JS_NO_MESSAGE ||
		    code == JS_NO_STREAM)) {
			if (d->nids != 0 && code == JS_NO_MESSAGE)
				dead_next(cl, d);	/* not there: skipped */
			else
				dead_end(cl, d, 0, NULL);	/* no more */
			return;
		}
		if (why != NULL)
			break;
		if (js_u64(data, "\"seq\":", &d->seq) != 0 ||
		    js_string(data, "\"subject\":", &subj, &slen) != 0) {
			why = "a stored message it did not describe";
			break;
		}
		/* An id that is not a dead letter of the group: skipped. */
		if (slen != strlen(d->subj) || strncmp(subj, d->subj, slen) !=
		    0) {
			dead_next(cl, d);
			return;
		}
		dead_found(cl, d, data);
		return;
	case D_PUT:
		if (why == NULL && strstr(data, "\"seq\"") == NULL)
			why = "no sequence in its PubAck";
		if (why != NULL)
			break;
		d->step = D_DELETE;
		dead_ask(cl, d);
		return;
	default:			/* D_DELETE */
		/* Gone already: another host took it first. */
		if (why != NULL && code != JS_NO_SEQUENCE)
			break;
		if (why == NULL)
			d->done++;
		dead_next(cl, d);
		return;
	}
	snprintf(say, sizeof say, "cluster: queue %s's dead letters: "
	    "JetStream says: %s", d->name, why);
	dead_end(cl, d, PS_E_STORAGE, say);
}

/*
 * A DEAD_LIST (preview bytes of each payload, at most limit entries),
 * DEAD_RETRY or DEAD_DROP (the ids, or none: all) of a queue's group at
 * JetStream; its asker waits to be told.  -1 when it cannot be asked,
 * and why.
 */
int
cluster_dead(struct server *srv, const struct dead_ask *a, char *why,
    size_t whylen)
{
	char		 genc[3 * PS_QUEUE_MAX + 1];
	struct cluster	*cl = srv->cluster;
	const struct ps_ids *ids = a->ids;
	const char	*name = a->queue, *group = a->group;
	struct cdead	*d;
	uint32_t	 i;

	if (!cl->connected) {
		snprintf(why, whylen, "cluster: NATS at %s is unreachable; "
		    "dead letters are kept there, ask again when it is back",
		    cl->urls);
		return -1;
	}
	if ((d = calloc(1, sizeof *d)) == NULL || (ids != NULL &&
	    ids->count != 0 && (d->ids = calloc(ids->count,
	    sizeof *d->ids)) == NULL)) {
		free(d);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	d->n = ++cl->next_dead;
	d->tell = a->tell;
	d->arg = a->arg;
	d->type = a->type;
	d->preview = a->preview > PS_PREVIEW_MAX ? PS_PREVIEW_MAX : a->preview;
	d->version = a->version;
	d->limit = a->limit;
	d->after = a->after;
	snprintf(d->who, sizeof d->who, "%s", a->who);
	snprintf(d->name, sizeof d->name, "%s%s%s", name, group[0] != '\0' ?
	    "/" : "", group);
	cl_encode(name, d->enc, sizeof d->enc);
	cl_encode(group, genc, sizeof genc);
	if (group[0] == '\0') {
		snprintf(d->durable, sizeof d->durable, "ps");
		snprintf(d->subj, sizeof d->subj, "pushstage.%s.dead", d->enc);
	} else {
		snprintf(d->durable, sizeof d->durable, "g_%s", genc);
		snprintf(d->subj, sizeof d->subj, "pushstage.%s.dead.%s",
		    d->enc, genc);
	}
	if (d->ids != NULL) {
		for (i = 0; i < ids->count; i++)
			d->ids[i] = ps_ids_at(ids, i);
		d->nids = ids->count;
	}
	d->next = cl->deads;
	cl->deads = d;
	if (d->type == PS_DEAD_LIST) {
		if (ps_put_dead_begin(&d->out, &d->start) != 0) {
			dead_free1(cl, d);
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		d->step = D_COUNT;
	} else {
		/*
		 * Dropping all is one letter at a time too: nats-server 2.9's
		 * STREAM.PURGE with a filter can leave letters and say it
		 * purged none after others were deleted.
		 */
		d->step = D_FIND;
		d->from = 1;
	}
	dead_ask(cl, d);
	return 0;
}

/* Every TICK_MS: answers that did not come in time. */
void
dead_tick(struct cluster *cl, uint64_t now)
{
	struct cterm	*t, *tnext;
	struct cdead	*d, *dnext;
	char		 why[128];

	for (t = cl->terms; t != NULL; t = tnext) {
		tnext = t->next;
		if (t->deadline <= now)
			term_done(cl, t, "no PubAck in time");
	}
	for (d = cl->deads; d != NULL; d = dnext) {
		dnext = d->next;
		if (d->deadline > now)
			continue;
		snprintf(why, sizeof why, "cluster: JetStream did not answer "
		    "in %u s (%u dead letters done)", API_WAIT_MS / 1000,
		    d->done);
		dead_end(cl, d, PS_E_STORAGE, why);
	}
}

/*
 * Every DEAD_COUNT_MS, cq's dead letters are counted for its groups here
 * (STATS' dead, /metrics, the dashboard): one STREAM.INFO of its
 * dead-letter stream, which gives each subject's count.
 */
void
dead_count(struct cluster *cl, struct cqueue *cq, uint64_t now)
{
	char	 subj[512], tag[3 * PS_QUEUE_MAX + 8];

	if (!cl->connected || cq->state != CQ_READY ||
	    now < cq->dead_asked + DEAD_COUNT_MS)
		return;
	cq->dead_asked = now;
	snprintf(subj, sizeof subj, "$JS.API.STREAM.INFO." DEAD_STREAM "%s",
	    cq->enc);
	snprintf(tag, sizeof tag, "n.%s", cq->enc);
	(void)cl_api(cl, subj, tag, "{\"subjects_filter\":\">\"}");
}

/* Its answer: "subjects":{"pushstage.ENC.dead":N,"...dead.GROUP":M}. */
void
dead_counted(struct cluster *cl, struct cqueue *cq, natsMsg *msg)
{
	struct nqueue	*q;
	struct qgroup	*g;
	const char	*data = natsMsg_GetData(msg);
	char		 err[256], genc[3 * PS_QUEUE_MAX + 1];
	char		 key[9 * PS_QUEUE_MAX + 40];
	uint64_t	 code = 0, n;
	int		 none = 0;

	if (data == NULL ||
	    (q = queues_find(cl->srv, cq->name, strlen(cq->name))) == NULL)
		return;
	if (js_error(data, (size_t)natsMsg_GetDataLength(msg), err,
	    sizeof err) != NULL) {
		(void)js_u64(data, "\"err_code\":", &code);
		if (code != JS_NO_STREAM)
			return;			/* asked again soon */
		none = 1;			/* no letter yet */
	}
	TAILQ_FOREACH(g, &q->groups, entry) {
		cl_encode(g->name, genc, sizeof genc);
		snprintf(key, sizeof key, "\"pushstage.%s.dead%s%s\":",
		    cq->enc, g->name[0] != '\0' ? "." : "", genc);
		n = 0;
		if (!none)
			(void)js_u64(data, key, &n);
		g->cluster_dead = n;
	}
}

/* arg's asker goes: what it asked is done without it. */
void
cluster_dead_forget(struct server *srv, void *arg)
{
	struct cdead	*d;

	for (d = srv->cluster->deads; d != NULL; d = d->next) {
		if (d->arg == arg)
			d->arg = NULL;
	}
}

/* Every request tell answers is answered now: producerd is stopping. */
void
cluster_dead_cancel(struct server *srv, dead_tell *tell)
{
	struct cluster	*cl = srv->cluster;
	struct cdead	*d, *dnext;

	for (d = cl->deads; d != NULL; d = dnext) {
		dnext = d->next;
		if (d->tell == tell)
			dead_end(cl, d, PS_E_DRAINING, "producerd is stopping");
	}
}

/* At the end: what waits is forgotten (JetStream keeps the events). */
void
dead_free(struct cluster *cl)
{
	struct cterm	*t;

	while ((t = cl->terms) != NULL) {
		cl->terms = t->next;
		free(t);
	}
	while (cl->deads != NULL)
		dead_free1(cl, cl->deads);
}
