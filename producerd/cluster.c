/*
 * cluster.c: producerd in front of NATS JetStream (--cluster; docs/
 * cluster.md), the backend (backend.h) whose events live in JetStream.
 * Each queue is a stream, PS_<queue>, of one subject, pushstage.<queue>,
 * with one durable pull consumer per group, ps for the shared one, that
 * every host shares, so JetStream balances the work between hosts.
 *
 * The work is split by job: clink.c the link to NATS and the routing of
 * what comes back on the daemon's inbox; cprov.c the streams and
 * consumers; cpub.c the ENQUEUEs, published and answered by their
 * PubAcks; cpull.c the pulls for the consumers here and the acks back;
 * cdead.c the dead letters.  This file is the backend's face, and the one
 * place that says what a cluster does not serve yet (cl_unserved).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "cluster.h"
#include "log.h"
#include "producerd.h"

/*
 * What a cluster does not serve yet (docs/cluster.md), asked of the
 * command line, of a queue's settings (set: those asked for, not
 * defaults), of the attributes an ENQUEUE uses, and of a group dropped:
 * -1 and why naming the first, or 0.  The one place that says so.
 */
int
cl_unserved(const struct cask *a, char *why, size_t len)
{
	const struct qsettings	*s = a->s;
	unsigned int		 set = a->set, attrs;
	const char		*what = NULL;

	if (a->cfg != NULL && (a->cfg->data_dir != NULL ||
	    a->cfg->upstream != NULL)) {
		snprintf(why, len, "--cluster with %s: in a cluster JetStream "
		    "keeps the events", a->cfg->data_dir != NULL ?
		    "--data-dir" : "--upstream");
		return -1;
	}
	if (a->cfg != NULL) {
		s = &a->cfg->queue;
		set = a->cfg->queue_set;
	}
	attrs = a->attrs & (1u << PS_ATTR_DELAY | 1u << PS_ATTR_NOT_BEFORE |
	    1u << PS_ATTR_PRIORITY);
	if (attrs != 0) {
		snprintf(why, len, "cluster: queue %s takes no %s across "
		    "hosts; the batch is refused whole (docs/cluster.md)",
		    a->queue, attrs & 1u << PS_ATTR_PRIORITY ? "PRIORITY" :
		    attrs & 1u << PS_ATTR_DELAY ? "DELAY" : "NOT_BEFORE");
		return -1;
	}
	if (a->op != NULL) {
		snprintf(why, len, "%s: a cluster does not find an event by "
		    "its id yet, nor keep done events' records: its events "
		    "live in JetStream, for every host (docs/cluster.md)",
		    a->op);
		return -1;
	}
	if (a->drop != NULL && a->drop->len == 0) {
		snprintf(why, len, "the shared group is not dropped in a "
		    "cluster: its JetStream consumer holds the queue's events "
		    "for every host");
		return -1;
	}
	if (s == NULL)
		return 0;
	if (s->mode != DISPATCH_DEMAND)
		what = "dispatch key or partition: key order";
	else if (s->rate_ms != 0)
		what = "rate: a rate limit held on one host";
	else if (s->paused_until != 0)
		what = "paused: a pause held on one host";
	else if (s->keep_done != 0)
		what = "keep-done: done events' records kept on one host";
	else if (set & (QS_MAX_QUEUE | QS_MAX_QUEUE_BYTES | QS_OVERFLOW))
		what = "max-queue, max-queue-bytes or overflow: a limit on "
		    "what JetStream keeps";
	if (what == NULL)
		return 0;
	snprintf(why, len, "%s%s across hosts is not served in a cluster yet "
	    "(docs/cluster.md)", a->cfg != NULL ? "--cluster with --" : "",
	    what);
	return -1;
}

static int
cluster_check(const struct config *cfg, char *why, size_t len)
{
	struct cask	 a = { .cfg = cfg };

	return cl_unserved(&a, why, len);
}

static int
cluster_unserved(const struct qsettings *s, unsigned int set, char *why,
    size_t len)
{
	struct cask	 a = { .s = s, .set = set };

	return cl_unserved(&a, why, len);
}

static int
cluster_drop_ok(struct server *srv, const struct qgroup *g, char *why,
    size_t len)
{
	struct cask	 a = { .drop = g };

	(void)srv;
	return cl_unserved(&a, why, len);
}

/* A request by event id, refused with the reason (ERROR 6, HTTP 501). */
static int
unserved_op(const char *op, int *code, char *why, size_t len)
{
	struct cask	 a = { .op = op };

	*code = PS_E_BAD_STATE;
	return cl_unserved(&a, why, len);
}

static int
cluster_job(struct server *srv, struct qgroup *g, const struct ps_job_ask *ja,
    struct ps_buf *out, int *code, char *why, size_t len)
{
	(void)srv;
	(void)g;
	(void)ja;
	(void)out;
	return unserved_op("JOB", code, why, len);
}

static int
cluster_job_cancel(struct server *srv, struct nqueue *q,
    const struct ps_cancel_ask *ca, struct ps_buf *out, int *code, char *why,
    size_t len)
{
	(void)srv;
	(void)q;
	(void)ca;
	(void)out;
	return unserved_op("JOB_CANCEL", code, why, len);
}

static int
cluster_jobs(struct server *srv, struct qgroup *g, const struct ps_jobs_ask *ja,
    struct ps_buf *out, int *code, char *why, size_t len)
{
	(void)srv;
	(void)g;
	(void)ja;
	(void)out;
	return unserved_op("JOBS", code, why, len);
}

static int
cluster_waits(char *why, size_t len)
{
	int	 code;

	return unserved_op("WAIT", &code, why, len);
}

static int
cluster_open(struct server *srv)
{
	return link_open(srv, srv->cluster_urls, srv->cluster_replicas);
}

static void
cluster_close(struct server *srv)
{
	struct cluster	*cl = srv->cluster;

	if (cl == NULL)
		return;
	link_close(cl);
	pub_free(cl);
	dead_free(cl);
	prov_free(cl);
	pull_free(cl);
	free(cl);
	srv->cluster = NULL;
}

/*
 * A group made here: its events come from its JetStream consumer (made,
 * or found, with the queue's streams) and go back to it when done.
 */
static void
cluster_group(struct server *srv, struct qgroup *g)
{
	struct cqueue	*cq;

	g->d.done = cluster_done;
	g->d.hand_back = 1;
	if (srv->cluster != NULL && (cq = cq_get(srv->cluster,
	    g->q->name)) != NULL)
		(void)cg_get(srv->cluster, cq, g->name);
}

/*
 * A queue's delivery, ack timeout or max attempts changed here: its
 * groups' consumers follow (cprov.c).
 */
static void
cluster_settings(struct server *srv, struct nqueue *q, unsigned int set)
{
	if (set & (QS_DELIVERY | QS_ACK_TIMEOUT | QS_MAX_ATTEMPTS))
		cg_settings(srv, q->name);
}

/* arg goes: nothing it asked is answered to it. */
static void
cluster_forget(struct server *srv, void *arg)
{
	if (srv->cluster == NULL)
		return;
	cluster_dead_forget(srv, arg);
	pub_forget(srv->cluster, arg);
	prov_forget(srv->cluster, arg);
}

static void
cluster_cancel(struct server *srv, dead_tell *tell)
{
	if (srv->cluster != NULL)
		cluster_dead_cancel(srv, tell);
}

static const struct backend jetstream = {
	.name = "jetstream",
	.group_logs = 1,
	.prepare = link_prepare,
	.check = cluster_check,
	.open = cluster_open,
	.close = cluster_close,
	.settle = pull_settle,
	.unserved = cluster_unserved,
	.settings = cluster_settings,
	.group = cluster_group,
	.drop_ok = cluster_drop_ok,
	.group_drop = cg_drop,
	.enqueue = pub_enqueue,
	.dead = cluster_dead,
	.job = cluster_job,
	.job_cancel = cluster_job_cancel,
	.waits = cluster_waits,
	.jobs = cluster_jobs,
	.forget = cluster_forget,
	.cancel = cluster_cancel,
};

const struct backend *
cluster_backend(void)
{
	return &jetstream;
}
