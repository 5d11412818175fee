/*
 * api.c: the JSON API under /api/v1/ (docs/http.md), what the dashboard
 * reads and an operator's scripts call.  Its numbers are the counter
 * table's (counters.c), named as in STATS_REPLY; its changes are
 * admin.c's, the same as pushctl's; its schedules schedules_request's,
 * the same as a SCHEDULE frame's.  http.c has checked the site; a change
 * is checked for the token here, once its path and method are known.
 */
#include <sys/queue.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "counters.h"
#include "json.h"
#include "log.h"
#include "producerd.h"

#define DEAD_LIMIT	100	/* dead letters listed, by default */
#define DEAD_LIMIT_MAX	1000
#define PREVIEW		256	/* payload bytes previewed, by default */
#define PREVIEW_MAX	4096
#define IDS_MAX		(HTTP_BODY_MAX / 2)	/* ids in a body at most */

/* One request: its query, and which counters it asks for. */
struct api {
	struct server		*srv;
	struct evhttp_request	*req;
	struct evkeyvalq	 query;
	struct evbuffer		*b;
	unsigned char		 want[256];	/* by counters[] index */
};

static int
status_of(int code)
{
	switch (code) {
	case PS_E_NO_QUEUE:
	case PS_E_NO_EVENT:
	case PS_E_NO_SCHEDULE:
		return 404;
	case PS_E_QUEUE_BUSY:
	case PS_E_EXISTS:
		return 409;
	case PS_E_NOMEM:
	case PS_E_STORAGE:
	case PS_E_DRAINING:
		return 503;
	default:
		return 400;
	}
}

/* ?NAME=N within [0, max]; 0, or -1 after replying 400. */
static int
query_u32(struct api *a, const char *name, uint32_t def, uint32_t max,
    uint32_t *v)
{
	const char	*s = evhttp_find_header(&a->query, name);
	char		*end;
	unsigned long	 n;

	*v = def;
	if (s == NULL)
		return 0;
	n = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || n > max) {
		http_fail(a->req, 400, "%s=%s is not a number from 0 to %u",
		    name, s, max);
		return -1;
	}
	*v = (uint32_t)n;
	return 0;
}

/*
 * ?after=ID, a dead-letter list's cursor (the last page's "next"); and
 * ?offset=, which was once ignored, so that a client counting on it is
 * told instead.  0, or -1 after replying 400.
 */
static int
query_after(struct api *a, uint64_t *after)
{
	const char		*s = evhttp_find_header(&a->query, "after");
	char			*end;
	unsigned long long	 n;

	*after = 0;
	if (evhttp_find_header(&a->query, "offset") != NULL) {
		http_fail(a->req, 400, "offset is not taken: ask for the next "
		    "page with after=ID, the \"next\" of the page before");
		return -1;
	}
	if (s == NULL)
		return 0;
	n = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || n == ULLONG_MAX) {
		http_fail(a->req, 400, "after=%.32s is not a dead letter's id",
		    s);
		return -1;
	}
	*after = n;
	return 0;
}

/* A list's "next": the id to ask after=, or null at its end. */
static void
next_json(struct evbuffer *b, int more, uint64_t last)
{
	if (more)
		evbuffer_add_printf(b, "],\"next\":%llu}\n",
		    (unsigned long long)last);
	else
		evbuffer_add_printf(b, "],\"next\":null}\n");
}

/*
 * ?fields=a,b: the counters asked for (default all), by their names in
 * the table; 0, or -1 after replying 400.
 */
static int
fields(struct api *a)
{
	const char	*s = evhttp_find_header(&a->query, "fields"), *end;
	size_t		 i, len;

	memset(a->want, s == NULL, sizeof a->want);
	for (; s != NULL && *s != '\0'; s = *end == ',' ? end + 1 : end) {
		end = s + strcspn(s, ",");
		len = (size_t)(end - s);
		for (i = 0; i < ncounters; i++)
			if (strlen(counters[i].name) == len &&
			    memcmp(counters[i].name, s, len) == 0)
				break;
		if (i == ncounters) {
			http_fail(a->req, 400, "fields: no counter %.*s "
			    "(docs/http.md lists them)", (int)(len > 64 ? 64 :
			    len), s);
			return -1;
		}
		a->want[i] = 1;
	}
	return 0;
}

/*
 * The counters STATS_REPLY shows for g (the daemon's when NULL), as
 * "name":value, each after a comma unless first.  A queue's count of
 * groups is "ngroups" here: in GET queues its object's "groups" is the
 * list of their names, and a key given twice loses one of the two.
 */
static void
counters_json(struct api *a, const struct qgroup *g, int first)
{
	const struct counter	*k;
	const char		*name;
	size_t			 i;

	for (i = 0; i < ncounters && i < sizeof a->want; i++) {
		k = &counters[i];
		if (!a->want[i] || !counter_shown(a->srv, g, k))
			continue;
		name = g != NULL && strcmp(k->name, "groups") == 0 ?
		    "ngroups" : k->name;
		evbuffer_add_printf(a->b, "%s\"%s\":%llu", first ? "" : ",",
		    name, (unsigned long long)counter_value(a->srv, g, k));
		first = 0;
	}
}

/* {"conn":N,"id":"...","queue":"...","group":"...", and the table's}. */
static void
consumer_json(struct api *a, const struct conn *c)
{
	const struct consumer_counter	*k;
	size_t				 i;

	evbuffer_add_printf(a->b, "{\"conn\":%llu,\"id\":",
	    (unsigned long long)c->serial);
	json_str(a->b, c->name, strlen(c->name));
	evbuffer_add_printf(a->b, ",\"queue\":\"%s\",\"group\":\"%s\"",
	    c->q->name, c->g->name);
	for (i = 0; i < nconsumer_counters; i++) {
		k = &consumer_counters[i];
		evbuffer_add_printf(a->b, ",\"%s\":%llu", k->name,
		    (unsigned long long)consumer_value(c, k));
	}
	evbuffer_add(a->b, "}", 1);
}

/* q's consumers (every queue's when NULL), as a JSON array. */
static void
consumers_json(struct api *a, const struct nqueue *q)
{
	struct conn	*c;
	int		 first = 1;

	evbuffer_add(a->b, "[", 1);
	TAILQ_FOREACH(c, &a->srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE ||
		    (q != NULL && c->q != q))
			continue;
		if (!first)
			evbuffer_add(a->b, ",", 1);
		first = 0;
		consumer_json(a, c);
	}
	evbuffer_add(a->b, "]", 1);
}

/*
 * GET queues: the daemon (version, uptime, what it has on, its counters)
 * and every queue with its shared group's counters: the overview.
 */
static void
get_queues(struct api *a)
{
	struct server	*srv = a->srv;
	struct nqueue	*q;
	struct qgroup	*g;
	int		 first;

	if (fields(a) != 0)
		return;
	evbuffer_add_printf(a->b, "{\"version\":\"%s\",\"writable\":%s,"
	    "\"journal\":%s,\"cluster\":%s,\"upstream\":", PUSHSTAGE_VERSION,
	    srv->http_token != NULL ? "true" : "false",
	    srv->data_dir != NULL ? "true" : "false",
	    srv->cluster_urls != NULL ? "true" : "false");
	if (srv->up.path != NULL)
		json_str(a->b, srv->up.path, strlen(srv->up.path));
	else
		evbuffer_add(a->b, "null", 4);
	evbuffer_add_printf(a->b, ",\"started\":%lld,\"daemon\":{",
	    (long long)srv->started);
	counters_json(a, NULL, 1);
	evbuffer_add_printf(a->b, "},\"queues\":[");
	TAILQ_FOREACH(q, &srv->queues, entry) {
		evbuffer_add_printf(a->b, "%s{\"name\":\"%s\",\"groups\":[",
		    q == TAILQ_FIRST(&srv->queues) ? "" : ",", q->name);
		first = 1;
		TAILQ_FOREACH(g, &q->groups, entry) {
			evbuffer_add_printf(a->b, "%s\"%s\"", first ? "" : ",",
			    g->name);
			first = 0;
		}
		evbuffer_add(a->b, "]", 1);
		if ((g = TAILQ_FIRST(&q->groups)) != NULL)
			counters_json(a, g, 0);
		evbuffer_add(a->b, "}", 1);
	}
	evbuffer_add_printf(a->b, "]}\n");
	http_json(a->req, 200, a->b);
}

/* GET queues/NAME: its settings, its groups' counters, its consumers. */
static void
get_queue(struct api *a, struct nqueue *q)
{
	struct qgroup	*g;
	char		 set[512], *p, *eq, *sp;

	if (fields(a) != 0)
		return;
	evbuffer_add_printf(a->b, "{\"name\":\"%s\",\"declared\":%s,"
	    "\"settings\":{", q->name, q->declared ? "true" : "false");
	settings_format(&q->s, ~0u, set, sizeof set);
	for (p = set; *p != '\0'; p = sp) {
		sp = p + strcspn(p, " ");
		if ((eq = memchr(p, '=', (size_t)(sp - p))) != NULL) {
			json_str(a->b, p, (size_t)(eq - p));
			evbuffer_add(a->b, ":", 1);
			json_str(a->b, eq + 1, (size_t)(sp - eq - 1));
		}
		if (*sp == ' ') {
			sp++;
			evbuffer_add(a->b, ",", 1);
		}
	}
	evbuffer_add_printf(a->b, "},\"groups\":[");
	TAILQ_FOREACH(g, &q->groups, entry) {
		evbuffer_add_printf(a->b, "%s{\"name\":\"%s\"",
		    g == TAILQ_FIRST(&q->groups) ? "" : ",", g->name);
		counters_json(a, g, 0);
		evbuffer_add(a->b, "}", 1);
	}
	evbuffer_add_printf(a->b, "],\"consumers\":");
	consumers_json(a, q);
	evbuffer_add_printf(a->b, "}\n");
	http_json(a->req, 200, a->b);
}

static void
get_consumers(struct api *a)
{
	evbuffer_add_printf(a->b, "{\"consumers\":");
	consumers_json(a, NULL);
	evbuffer_add_printf(a->b, "}\n");
	http_json(a->req, 200, a->b);
}

static void
series(struct api *a, const char *name, const struct qhistory *h,
    const uint32_t *s)
{
	uint32_t	 k;

	evbuffer_add_printf(a->b, ",\"%s\":[", name);
	for (k = 0; h != NULL && k < h->n; k++)
		evbuffer_add_printf(a->b, "%s%u", k == 0 ? "" : ",",
		    history_at(h, s, k));
	evbuffer_add(a->b, "]", 1);
}

static const char *
kind_name(enum counter_kind kind)
{
	switch (kind) {
	case COUNTER_GAUGE:
		return "gauge";
	case COUNTER_TOTAL:
		return "total";
	default:
		return "setting";
	}
}

/*
 * GET counters: the counters this daemon reports, by the names ?fields=
 * takes, so that a page or a script asks for those that exist: each one's
 * kind, help, and whether the daemon's object and a queue's (or group's)
 * have it.
 */
static void
get_counters(struct api *a)
{
	const struct counter	*k;
	size_t			 i;
	int			 daemon, queue, first = 1;

	evbuffer_add_printf(a->b, "{\"counters\":[");
	for (i = 0; i < ncounters; i++) {
		k = &counters[i];
		daemon = counter_shown(a->srv, NULL, k);
		queue = counter_of_group(k);
		if (!daemon && !queue)
			continue;
		evbuffer_add_printf(a->b, "%s{\"name\":\"%s\",\"kind\":\"%s\","
		    "\"help\":", first ? "" : ",", k->name, kind_name(k->kind));
		json_str(a->b, k->help, strlen(k->help));
		evbuffer_add_printf(a->b, ",\"daemon\":%s,\"queue\":%s}",
		    daemon ? "true" : "false", queue ? "true" : "false");
		first = 0;
	}
	evbuffer_add_printf(a->b, "]}\n");
	http_json(a->req, 200, a->b);
}

/* GET history: each queue's samples, oldest first (?queue=NAME: one). */
static void
get_history(struct api *a)
{
	const char		*only = evhttp_find_header(&a->query, "queue");
	const struct nqueue	*q;
	const struct qhistory	*h;
	int			 first = 1;

	evbuffer_add_printf(a->b, "{\"interval_ms\":%u,\"samples\":%u,"
	    "\"queues\":[", HISTORY_MS, HISTORY_SAMPLES);
	TAILQ_FOREACH(q, &a->srv->queues, entry) {
		if (only != NULL && strcmp(only, q->name) != 0)
			continue;
		h = q->history;
		evbuffer_add_printf(a->b, "%s{\"name\":\"%s\"", first ? "" :
		    ",", q->name);
		first = 0;
		series(a, "queued", h, h != NULL ? h->queued : NULL);
		series(a, "enqueue_rate", h, h != NULL ? h->enqueue_rate :
		    NULL);
		series(a, "deliver_rate", h, h != NULL ? h->deliver_rate :
		    NULL);
		series(a, "ack_rate", h, h != NULL ? h->ack_rate : NULL);
		evbuffer_add(a->b, "}", 1);
	}
	evbuffer_add_printf(a->b, "]}\n");
	http_json(a->req, 200, a->b);
}

static const char *
dead_reason(uint8_t reason)
{
	switch (reason) {
	case PS_DEAD_NACK:
		return "nack";
	case PS_DEAD_TIMEOUT:
		return "timeout";
	case PS_DEAD_DISCONNECT:
		return "disconnect";
	case PS_DEAD_REJECTED:
		return "rejected";
	default:
		return "other";
	}
}

/* One entry of a dead-letter list, n before it; plen bytes previewed. */
static void
dead_entry(struct evbuffer *b, uint32_t n, const struct ps_dead *e)
{
	evbuffer_add_printf(b, "%s{\"id\":%llu,\"attempts\":%u,"
	    "\"reason\":\"%s\",\"bytes\":%u,", n == 0 ? "" : ",",
	    (unsigned long long)e->id, e->attempts, dead_reason(e->reason),
	    e->len);
	json_preview(b, e->preview, e->preview_len, e->preview_len < e->len);
	evbuffer_add_printf(b, ",\"truncated\":%s,\"error\":",
	    e->preview_len < e->len ? "true" : "false");
	if (e->error_len != 0)
		json_str(b, e->error, e->error_len);
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add(b, "}", 1);
}

/* POST queues/NAME/pause, resume or purge. */
static void
post_queue(struct api *a, struct nqueue *q, const char *op)
{
	struct admin	 adm = { .srv = a->srv, .who = http_peer(a->req) };
	uint64_t	 n;

	if (strcmp(op, "purge") == 0) {
		n = admin_purge(&adm, q);
		evbuffer_add_printf(a->b, "{\"queue\":\"%s\",\"purged\":%llu}\n",
		    q->name, (unsigned long long)n);
	} else {
		if (admin_pause(&adm, q, strcmp(op, "pause") == 0) != 0) {
			http_fail(a->req, status_of(adm.code), "%s", adm.why);
			return;
		}
		evbuffer_add_printf(a->b, "{\"queue\":\"%s\",\"paused\":%s}\n",
		    q->name, q->s.paused_until != 0 ? "true" : "false");
	}
	http_json(a->req, 200, a->b);
}

/*
 * The body's {"ids":[...]} (or nothing: every dead letter) as ids, in
 * memory of their own to free; NULL after replying 4xx or 503.
 */
static uint8_t *
body_ids(struct api *a, struct ps_ids *ids)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(a->req);
	size_t		 len = evbuffer_get_length(in);
	size_t		 max = len / 2 + 1;	/* "1," each at least */
	uint8_t		*wire;
	char		 why[128];

	memset(ids, 0, sizeof *ids);
	if (max > IDS_MAX)
		max = IDS_MAX;
	if ((wire = malloc(max * 8)) == NULL) {
		http_fail(a->req, 503, "out of memory");
		return NULL;
	}
	if (json_ids((const char *)evbuffer_pullup(in, -1), len, wire,
	    max, &ids->count, why, sizeof why) != 0) {
		free(wire);
		http_fail(a->req, 400, "%s", why);
		return NULL;
	}
	ids->p = wire;
	return wire;
}

/* A dead-letter request waiting for the backend's answer. */
struct asker {
	struct evhttp_request	*req;
	uint8_t			 type;
	char			 queue[PS_QUEUE_MAX + 1];
	char			 group[PS_QUEUE_MAX + 1];
};

/* The backend's answer (called once): the reply. */
static void
dead_done(void *arg, int code, const char *why,
    const struct ps_buf *list, uint32_t done)
{
	struct asker		*k = arg;
	struct evbuffer		*b = NULL;
	struct ps_frame		 f;
	struct ps_dead_reply	 r;
	struct ps_dead		 e;
	uint64_t		 last = 0;
	uint32_t		 n = 0;

	if (code == 0 && list != NULL) {
		f.type = PS_DEAD_LIST_REPLY;
		f.flags = 0;
		f.len = (uint32_t)(list->len - PS_HDR_LEN);
		f.body = list->data + PS_HDR_LEN;
		if (ps_get_dead_reply(&f, PS_PROTO_MAX_VERSION, &r) != 0) {
			code = PS_E_STORAGE;
			why = "a dead-letter list it could not read";
		}
	}
	if (code == 0 && (b = evbuffer_new()) == NULL) {
		code = PS_E_NOMEM;
		why = "out of memory";
	}
	if (code != 0) {
		http_fail(k->req, status_of(code), "%s", why);
		free(k);
		return;
	}
	evbuffer_add_printf(b, "{\"queue\":\"%s\",\"group\":\"%s\",",
	    k->queue, k->group);
	if (list != NULL) {
		evbuffer_add_printf(b, "\"dead\":%u,\"entries\":[", r.total);
		while (ps_dead_next(&r, &e)) {
			dead_entry(b, n++, &e);
			last = e.id;
		}
		/* done: 1 if more follow the last. */
		next_json(b, done != 0 && n > 0, last);
	} else
		evbuffer_add_printf(b, "\"%s\":%u}\n", k->type ==
		    PS_DEAD_DROP ? "dropped" : "retried", done);
	http_json(k->req, 200, b);
	evbuffer_free(b);
	free(k);
}

/*
 * GET queues/NAME/dead[?group=G&limit=N&preview=BYTES&after=ID]: in the
 * order they died, a page at a time: "next" names the last one listed
 * while more follow, for after=.  A cursor, not an offset, so that a
 * letter retried or dropped meanwhile shifts no page.  POST
 * queues/NAME/dead/retry or dead/drop[?group=G], body {"ids":[]}.  The
 * backend answers (backend.h), at once or once JetStream has; in a
 * cluster the queue need not be used here.
 */
static void
dead_path(struct api *a, const char *name, size_t len,
    const char *tail)
{
	const char	*group = evhttp_find_header(&a->query, "group");
	struct dead_ask	 ask = { .who = http_peer(a->req),
			    .version = PS_PROTO_MAX_VERSION };
	struct ps_ids	 ids = { 0 };
	struct asker	*k;
	uint8_t		*wire = NULL;
	char		 why[512];

	if (group == NULL)
		group = "";
	if (!queues_name_ok("queue", name, len, why, sizeof why) ||
	    (*group != '\0' && !queues_name_ok("group", group, strlen(group),
	    why, sizeof why))) {
		http_fail(a->req, 400, "%s", why);
		return;
	}
	if (strcmp(tail, "dead") == 0) {
		ask.type = PS_DEAD_LIST;
		if (query_u32(a, "limit", DEAD_LIMIT, DEAD_LIMIT_MAX,
		    &ask.limit) != 0 || query_u32(a, "preview", PREVIEW,
		    PREVIEW_MAX, &ask.preview) != 0 ||
		    query_after(a, &ask.after) != 0)
			return;
	} else {
		ask.type = strcmp(tail, "dead/drop") == 0 ? PS_DEAD_DROP :
		    PS_DEAD_RETRY;
		if ((wire = body_ids(a, &ids)) == NULL)
			return;
		ask.ids = &ids;
	}
	if ((k = calloc(1, sizeof *k)) == NULL) {
		free(wire);
		http_fail(a->req, 503, "out of memory");
		return;
	}
	k->req = a->req;
	k->type = ask.type;
	memcpy(k->queue, name, len);
	snprintf(k->group, sizeof k->group, "%s", group);
	ask.queue = k->queue;
	ask.group = k->group;
	ask.tell = dead_done;
	ask.arg = k;
	if (a->srv->backend->dead(a->srv, &ask, why, sizeof why) != 0) {
		free(k);
		http_fail(a->req, 503, "%s", why);
	}
	free(wire);
}

/*
 * Queue NAME's group of ?group=G (none: the shared one); NULL after
 * replying 400 or 404.
 */
static struct qgroup *
query_group(struct api *a, const char *name, size_t len)
{
	const char	*group = evhttp_find_header(&a->query, "group");
	struct qgroup	*g;
	struct gpath	 gp;
	char		 why[256];
	int		 n, code;

	n = snprintf(gp.s, sizeof gp.s, "%.*s%s%s", (int)len, name,
	    group != NULL && *group != '\0' ? "/" : "", group != NULL ?
	    group : "");
	if (n < 0 || (size_t)n >= sizeof gp.s) {
		http_fail(a->req, 400, "queue and group names too long");
		return NULL;
	}
	if ((g = groups_resolve(a->srv, gp.s, (size_t)n, 0, &code, why,
	    sizeof why)) == NULL)
		http_fail(a->req, status_of(code), "%s", why);
	return g;
}

/*
 * GET queues/NAME/jobs/ID[?group=G&preview=N], or (idtext NULL)
 * jobs/by-unique-id?unique_id=U: where the event is and what it carries,
 * the JOB_REPLY's fields (the times as ms since 1970, the preview as the
 * dead letters' is).
 */
static void
job_path(struct api *a, const char *name, size_t len, const char *idtext)
{
	struct ps_job_ask	 ask;
	struct ps_buf		 out = { 0 };
	struct ps_frame		 f;
	struct ps_job		 j;
	struct ps_failure	 fl;
	struct ps_header	 h;
	struct qgroup		*g;
	struct gpath		 gp;
	const uint8_t		*fp;
	char			 why[512], *end;
	unsigned long long	 id;
	uint32_t		 preview;
	uint16_t		 off = 0;
	uint8_t			 i;
	int			 code;

	const char		*uid = evhttp_find_header(&a->query,
				    "unique_id");

	id = 0;
	if (idtext == NULL && (uid == NULL || *uid == '\0' ||
	    strlen(uid) > PS_UNIQUE_ID_MAX)) {
		http_fail(a->req, 400, "jobs/by-unique-id needs unique_id= of "
		    "1 to %d bytes", PS_UNIQUE_ID_MAX);
		return;
	}
	errno = 0;
	if (idtext != NULL && ((id = strtoull(idtext, &end, 10)) == 0 ||
	    *idtext < '1' || *idtext > '9' || *end != '\0' || errno != 0)) {
		http_fail(a->req, 400, "jobs/%.64s: not an event id (a whole "
		    "number from 1)", idtext);
		return;
	}
	if (query_u32(a, "preview", PREVIEW, PREVIEW_MAX, &preview) != 0)
		return;
	if (preview > PS_PREVIEW_MAX)
		preview = PS_PREVIEW_MAX;
	if ((g = query_group(a, name, len)) == NULL)
		return;
	memset(&ask, 0, sizeof ask);
	ask.id = id;
	ask.preview = (uint16_t)preview;
	if (idtext == NULL) {
		ask.uid = (const uint8_t *)uid;
		ask.ulen = (uint8_t)strlen(uid);
	}
	if (a->srv->backend->job(a->srv, g, &ask, &out, &code, why,
	    sizeof why) != 0) {
		/* A cluster does not serve it yet: 501. */
		http_fail(a->req, code == PS_E_BAD_STATE ? 501 :
		    status_of(code), "%s", why);
		ps_buf_free(&out);
		return;
	}
	f.type = PS_JOB_REPLY;
	f.flags = 0;
	f.len = (uint32_t)(out.len - PS_HDR_LEN);
	f.body = out.data + PS_HDR_LEN;
	if (ps_get_job_reply(&f, &j) != 0 || j.id == 0) {
		if (idtext == NULL)
			http_fail(a->req, 404, "%s has no event of unique id "
			    "%.128s now (never enqueued, or done with)",
			    groups_path(g, &gp), uid);
		else
			http_fail(a->req, 404, "%s has no event %llu now (never "
			    "enqueued, or done with)", groups_path(g, &gp), id);
		ps_buf_free(&out);
		return;
	}
	evbuffer_add_printf(a->b, "{\"queue\":\"%s\",\"group\":\"%s\","
	    "\"id\":%llu,\"state\":\"%s\",\"attempts\":%u,\"at_ms\":%llu,"
	    "\"reason\":", g->q->name, g->name, (unsigned long long)j.id,
	    ps_job_state_name(j.state), j.attempts, (unsigned long long)j.at);
	if (j.state == DJOB_DEAD)
		evbuffer_add_printf(a->b, "\"%s\"", dead_reason(j.reason));
	else
		evbuffer_add(a->b, "null", 4);
	evbuffer_add_printf(a->b, ",\"priority\":%u,\"consumer\":",
	    j.priority);
	if (j.clen != 0)
		json_str(a->b, j.consumer, j.clen);
	else
		evbuffer_add(a->b, "null", 4);
	evbuffer_add(a->b, ",\"key\":", 7);
	if (j.klen >= 0)
		json_str(a->b, j.key, (size_t)j.klen);
	else
		evbuffer_add(a->b, "null", 4);
	evbuffer_add(a->b, ",\"headers\":{", 12);
	for (i = 0; ps_header_next(j.hdr, j.hlen, &off, &h); i++) {
		if (i != 0)
			evbuffer_add(a->b, ",", 1);
		json_str(a->b, h.name, h.nlen);
		evbuffer_add(a->b, ":", 1);
		json_str(a->b, h.value, h.vlen);
	}
	evbuffer_add_printf(a->b, "},\"bytes\":%u,", j.len);
	json_preview(a->b, j.preview, j.preview_len, j.preview_len < j.len);
	evbuffer_add_printf(a->b, ",\"truncated\":%s,\"failures\":[",
	    j.preview_len < j.len && j.state != DJOB_DONE ? "true" : "false");
	for (i = 0, fp = j.fail; i < j.nfail; i++) {
		fp = ps_failure_get(fp, &fl);
		evbuffer_add_printf(a->b, "%s{\"at_ms\":%llu,\"attempt\":%u,"
		    "\"consumer\":", i == 0 ? "" : ",",
		    (unsigned long long)fl.at, fl.attempt);
		json_str(a->b, fl.who, fl.wlen);
		evbuffer_add(a->b, ",\"error\":", 9);
		json_str(a->b, fl.err, fl.elen);
		evbuffer_add(a->b, "}", 1);
	}
	evbuffer_add(a->b, "]", 1);
	if (j.state == DJOB_DONE)
		json_bytes_as(a->b, 0, "result", j.result, j.rlen,
		    j.rlen < j.len);
	else
		evbuffer_add(a->b, ",\"result\":null", 14);
	evbuffer_add(a->b, "}\n", 2);
	ps_buf_free(&out);
	http_json(a->req, 200, a->b);
}

/*
 * POST queues/NAME/jobs/ID/cancel: the event cancelled in every group of
 * the queue, as JOB_CANCEL does; what was done.
 */
static void
job_cancel_path(struct api *a, const char *name, size_t len, uint64_t id)
{
	struct ps_cancel_ask	 ask;
	struct ps_cancel_reply	 r;
	struct ps_buf		 out = { 0 };
	struct ps_frame		 f;
	struct nqueue		*q;
	uint8_t			 wire[8], how;
	char			 why[512];
	int			 code, i;

	if ((q = queues_find(a->srv, name, len)) == NULL) {
		http_fail(a->req, 404, "no queue %.*s", (int)len, name);
		return;
	}
	for (i = 0; i < 8; i++)
		wire[i] = (uint8_t)(id >> (56 - 8 * i));
	memset(&ask, 0, sizeof ask);
	ask.ids.count = 1;
	ask.ids.p = wire;
	if (a->srv->backend->job_cancel(a->srv, q, &ask, &out, &code, why,
	    sizeof why) != 0) {
		http_fail(a->req, code == PS_E_BAD_STATE ? 501 :
		    status_of(code), "%s", why);
		ps_buf_free(&out);
		return;
	}
	f.type = PS_JOB_CANCEL_REPLY;
	f.flags = 0;
	f.len = (uint32_t)(out.len - PS_HDR_LEN);
	f.body = out.data + PS_HDR_LEN;
	if (ps_get_cancel_reply(&f, &r) != 0 || r.count != 1) {
		http_fail(a->req, 503, "no answer to the cancel");
		ps_buf_free(&out);
		return;
	}
	ps_cancel_reply_at(&r, 0, &id, &how);
	evbuffer_add_printf(a->b, "{\"queue\":\"%s\",\"id\":%llu,"
	    "\"outcome\":%u,\"cancelled\":\"%s\"}\n", q->name,
	    (unsigned long long)id, how, ps_cancel_outcome_name(how));
	ps_buf_free(&out);
	queues_touch(q);
	http_json(a->req, 200, a->b);
}

/* producerd stops: a request still waiting for its answer gets a 503. */
void
api_stop(struct server *srv)
{
	srv->backend->cancel(srv, dead_done);
}

/*
 * GET queues/NAME/tasks[?group=G]: the group's counts per task name
 * (tasks.h), every row, the columns of the task counter table by name.
 */
static void
tasks_path(struct api *a, const char *name, size_t len)
{
	const struct task_row	*r;
	struct qgroup		*g;
	uint32_t		 j;
	size_t			 i;

	if ((g = query_group(a, name, len)) == NULL)
		return;
	evbuffer_add_printf(a->b, "{\"queue\":\"%s\",\"group\":\"%s\","
	    "\"max_task_stats\":%u,\"tasks\":[", g->q->name, g->name,
	    g->d.policy->max_task_stats);
	for (j = 0; (r = tasks_at(&g->d.tasks, j)) != NULL; j++) {
		evbuffer_add(a->b, j == 0 ? "{" : ",{", j == 0 ? 1 : 2);
		json_key(a->b, 1, "task");
		json_str(a->b, r->name, r->nlen);
		for (i = 0; i < ntask_counters; i++) {
			json_key(a->b, 0, task_counters[i].name);
			evbuffer_add_printf(a->b, "%llu", (unsigned long long)
			    task_value(r, &task_counters[i]));
		}
		evbuffer_add(a->b, "}", 1);
	}
	evbuffer_add_printf(a->b, "]}\n");
	http_json(a->req, 200, a->b);
}

/* What a path under queues/NAME/ may be, and how it is asked. */
static const struct {
	const char	*tail;
	int		 post;
} routes[] = {
	{ "", 0 }, { "dead", 0 }, { "pause", 1 }, { "resume", 1 },
	{ "purge", 1 }, { "dead/retry", 1 }, { "dead/drop", 1 },
};

/*
 * GET queues/NAME/jobs?state=S[&group=G&after=CURSOR&limit=N&preview=N
 * &key=K|&header=NAME=VALUE]: a page of its events in one state, as JOBS
 * gives it.
 */
static void
jobs_path(struct api *a, const char *name, size_t len)
{
	static const struct {
		const char	*name;
		uint8_t		 state;
	} states[] = {
		{ "queued", 1 }, { "delayed", 2 }, { "in-flight", 5 },
		{ "retrying", 6 }, { "dead", 7 }, { "done", 9 },
	};
	const char		*st = evhttp_find_header(&a->query, "state");
	const char		*after = evhttp_find_header(&a->query, "after");
	const char		*key = evhttp_find_header(&a->query, "key");
	const char		*hdr = evhttp_find_header(&a->query, "header");
	const char		*eq;
	struct ps_jobs_ask	 ask;
	struct ps_jobs_reply	 r;
	struct ps_jobs_entry	 e;
	struct ps_buf		 out = { 0 };
	struct ps_frame		 f;
	struct qgroup		*g;
	char			 why[512];
	uint32_t		 limit, preview;
	unsigned int		 byte;
	size_t			 i;
	int			 code, first = 1;

	memset(&ask, 0, sizeof ask);
	for (i = 0; st != NULL && i < sizeof states / sizeof states[0]; i++)
		if (strcmp(st, states[i].name) == 0)
			ask.state = states[i].state;
	if (st == NULL)
		ask.state = 1;
	if (ask.state == 0) {
		http_fail(a->req, 400, "state=%.32s: not queued, delayed, "
		    "in-flight, retrying, dead or done", st);
		return;
	}
	if (query_u32(a, "limit", 50, PS_JOBS_LIMIT_MAX, &limit) != 0 ||
	    query_u32(a, "preview", PREVIEW, PS_PREVIEW_MAX, &preview) != 0)
		return;
	if (limit == 0) {
		http_fail(a->req, 400, "limit=0: a page has 1 to %d events",
		    PS_JOBS_LIMIT_MAX);
		return;
	}
	ask.limit = (uint16_t)limit;
	ask.preview = (uint16_t)preview;
	if (after != NULL) {
		if (strlen(after) != 2 * PS_CURSOR_LEN ||
		    strspn(after, "0123456789abcdef") != 2 * PS_CURSOR_LEN) {
			http_fail(a->req, 400, "after=%.40s: not a cursor (the "
			    "32 hex digits a page gave as next)", after);
			return;
		}
		for (i = 0; i < PS_CURSOR_LEN; i++) {
			(void)sscanf(after + 2 * i, "%2x", &byte);
			if (i < 8)
				ask.after = ask.after << 8 | byte;
			else
				ask.tag = ask.tag << 8 | byte;
		}
	}
	if (key != NULL && hdr != NULL) {
		http_fail(a->req, 400, "key= or header=, not both");
		return;
	}
	if (key != NULL) {
		if (strlen(key) > PS_KEY_MAX) {
			http_fail(a->req, 400, "key=: at most %d bytes",
			    PS_KEY_MAX);
			return;
		}
		ask.filter = PS_FILTER_KEY;
		ask.key = (const uint8_t *)key;
		ask.klen = (uint8_t)strlen(key);
	} else if (hdr != NULL) {
		if ((eq = strchr(hdr, '=')) == NULL || eq == hdr ||
		    eq - hdr > PS_HEADER_NAME_MAX ||
		    strlen(eq + 1) > PS_HEADER_VALUE_MAX) {
			http_fail(a->req, 400, "header=%.64s: not NAME=VALUE "
			    "(a name of 1 to 64 bytes, a value of at most 1024)",
			    hdr);
			return;
		}
		ask.filter = PS_FILTER_HEADER;
		ask.hname = (const uint8_t *)hdr;
		ask.hnlen = (uint8_t)(eq - hdr);
		ask.hval = (const uint8_t *)eq + 1;
		ask.hvlen = (uint16_t)strlen(eq + 1);
	}
	if ((g = query_group(a, name, len)) == NULL)
		return;
	if (a->srv->backend->jobs(a->srv, g, &ask, &out, &code, why,
	    sizeof why) != 0) {
		http_fail(a->req, code == PS_E_BAD_STATE ? 501 :
		    status_of(code), "%s", why);
		ps_buf_free(&out);
		return;
	}
	f.type = PS_JOBS_REPLY;
	f.flags = 0;
	f.len = (uint32_t)(out.len - PS_HDR_LEN);
	f.body = out.data + PS_HDR_LEN;
	if (ps_get_jobs_reply(&f, &r) != 0) {
		http_fail(a->req, 503, "no page to show");
		ps_buf_free(&out);
		return;
	}
	evbuffer_add_printf(a->b, "{\"queue\":\"%s\",\"group\":\"%s\","
	    "\"state\":\"%s\",\"events\":[", g->q->name, g->name,
	    ps_job_state_name(ask.state));
	while (ps_jobs_next(&r, &e) == 1) {
		evbuffer_add_printf(a->b, "%s{\"id\":%llu,\"state\":\"%s\","
		    "\"attempts\":%u,\"at_ms\":%llu,\"key\":", first ? "" :
		    ",", (unsigned long long)e.id, ps_job_state_name(e.state),
		    e.attempts, (unsigned long long)e.at);
		first = 0;
		if (e.klen >= 0)
			json_str(a->b, e.key, (size_t)e.klen);
		else
			evbuffer_add(a->b, "null", 4);
		evbuffer_add_printf(a->b, ",\"bytes\":%u,", e.len);
		json_preview(a->b, e.preview, e.preview_len,
		    e.preview_len < e.len);
		evbuffer_add(a->b, "}", 1);
	}
	evbuffer_add(a->b, "],\"next\":", 9);
	if (r.after != 0 || r.tag != 0)
		evbuffer_add_printf(a->b, "\"%016llx%016llx\"",
		    (unsigned long long)r.after, (unsigned long long)r.tag);
	else
		evbuffer_add(a->b, "null", 4);
	evbuffer_add(a->b, "}\n", 2);
	ps_buf_free(&out);
	http_json(a->req, 200, a->b);
}

/* queues/NAME/jobs/ID: GET it; queues/NAME/jobs/ID/cancel: POST. */
static void
job_route(struct api *a, const char *path, size_t len, const char *rest,
    int cmd)
{
	const char		*slash = strchr(rest, '/');
	char			 why[256], idtext[32], *end;
	unsigned long long	 id;
	size_t			 n = slash != NULL ? (size_t)(slash - rest) :
				    strlen(rest);
	int			 get = cmd == EVHTTP_REQ_GET ||
				    cmd == EVHTTP_REQ_HEAD;

	if (slash != NULL && strcmp(slash, "/cancel") != 0) {
		http_fail(a->req, 404, "no API path queues/%.*s/jobs/%.64s",
		    (int)(len > 64 ? 64 : len), path, rest);
		return;
	}
	if (slash != NULL ? cmd != EVHTTP_REQ_POST : !get) {
		http_method(a->req, slash != NULL ? "POST" : "GET, HEAD");
		return;
	}
	if (!queues_name_ok("queue", path, len, why, sizeof why)) {
		http_fail(a->req, 400, "%s", why);
		return;
	}
	if (slash == NULL) {
		job_path(a, path, len, strcmp(rest, "by-unique-id") == 0 ?
		    NULL : rest);
		return;
	}
	snprintf(idtext, sizeof idtext, "%.*s", (int)(n < 31 ? n : 31), rest);
	errno = 0;
	id = strtoull(idtext, &end, 10);
	if (n > 20 || *idtext < '1' || *idtext > '9' || *end != '\0' ||
	    errno != 0) {
		http_fail(a->req, 400, "jobs/%.64s: not an event id (a whole "
		    "number from 1)", idtext);
		return;
	}
	if (!http_may_change(a->srv, a->req))
		return;
	job_cancel_path(a, path, len, id);
}

/* queues/NAME[/TAIL]. */
static void
queue_path(struct api *a, const char *path, int cmd)
{
	struct admin	 adm = { .srv = a->srv };
	struct nqueue	*q;
	const char	*tail;
	size_t		 i, len;
	int		 get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	len = strcspn(path, "/");
	tail = path[len] == '/' ? path + len + 1 : path + len;
	if (strncmp(tail, "jobs/", 5) == 0) {
		job_route(a, path, len, tail + 5, cmd);
		return;
	}
	if (strcmp(tail, "jobs") == 0 || strcmp(tail, "tasks") == 0) {
		if (!get)
			http_method(a->req, "GET, HEAD");
		else if (tail[0] == 'j')
			jobs_path(a, path, len);
		else
			tasks_path(a, path, len);
		return;
	}
	for (i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(routes[i].tail, tail) == 0)
			break;
	if (i == sizeof routes / sizeof routes[0]) {
		http_fail(a->req, 404, "no API path queues/%.*s/%.64s",
		    (int)(len > 64 ? 64 : len), path, tail);
		return;
	}
	if (routes[i].post ? cmd != EVHTTP_REQ_POST : !get) {
		http_method(a->req, routes[i].post ? "POST" : "GET, HEAD");
		return;
	}
	if (routes[i].post && !http_may_change(a->srv, a->req))
		return;
	if (strncmp(tail, "dead", 4) == 0) {
		dead_path(a, path, len, tail);
		return;
	}
	if ((q = admin_queue(&adm, path, len)) == NULL) {
		http_fail(a->req, status_of(adm.code), "%s", adm.why);
		return;
	}
	if (strcmp(tail, "") == 0)
		get_queue(a, q);
	else
		post_queue(a, q, tail);
}

/*
 * Schedules (docs/scheduling.md): every route builds a SCHEDULE and asks
 * schedules_request, the daemon's one door for the wire and HTTP alike,
 * so both say the same; its SCHEDULE_REPLY is read back into JSON here.
 */

/* A SCHEDULE refused: as status_of, the --max-schedules limit a 409. */
static int
sched_status(int code)
{
	return code == PS_E_QUEUE_LIMIT ? 409 : status_of(code);
}

/* ms since 1970 as "2026-12-07T21:00:00.000Z", null for 0 (none). */
static void
iso_json(struct evbuffer *b, uint64_t ms)
{
	struct tm	 tm;
	time_t		 t = (time_t)(ms / 1000);
	char		 s[32];

	if (ms == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add_printf(b, "\"%s.%03uZ\"", s, (unsigned int)(ms % 1000));
}

/* The number at s (len bytes, not NUL-ended), as the daemon wrote it. */
static uint64_t
kv_u64(const char *s, size_t len)
{
	uint64_t	 v;

	(void)ps_kv_u64(s, len, &v);
	return v;
}

/* ,"name":"value" of the entry's field key, or null if it has none. */
static void
kv_json(struct evbuffer *b, const struct ps_schedule_entry *e,
    const char *key, const char *name)
{
	const char	*v;
	size_t		 len;

	json_key(b, 0, name);
	if ((v = ps_kv_find(e, key, &len)) != NULL)
		json_str(b, v, len);
	else
		evbuffer_add(b, "null", 4);
}

/* ,"name":true or false: the field key is "yes". */
static void
kv_bool(struct evbuffer *b, const struct ps_schedule_entry *e,
    const char *key, const char *name)
{
	const char	*v;
	size_t		 len;

	v = ps_kv_find(e, key, &len);
	json_key(b, 0, name);
	evbuffer_add_printf(b, "%s", v != NULL && len == 3 &&
	    memcmp(v, "yes", 3) == 0 ? "true" : "false");
}

/* ,"name_ms":N,"name":"ISO" (null for 0) of a time field. */
static void
kv_time(struct evbuffer *b, const struct ps_schedule_entry *e,
    const char *key, const char *name)
{
	const char	*v;
	size_t		 len;
	uint64_t	 ms = 0;

	if ((v = ps_kv_find(e, key, &len)) != NULL)
		ms = kv_u64(v, len);
	evbuffer_add_printf(b, ",\"%s_ms\":%llu,\"%s\":", name,
	    (unsigned long long)ms, name);
	iso_json(b, ms);
}

/*
 * One entry of a SCHEDULE_REPLY as a JSON object: its fields by name
 * (docs/http.md), each time both in ms and in ISO 8601, its event's
 * priority, key, headers and payload (text, or hex as a preview is).
 */
static void
schedule_json(struct evbuffer *b, const struct ps_schedule_entry *e)
{
	struct ps_attrs	 at;
	struct ps_header h;
	const char	*v, *w = NULL, *c;
	char		 wbuf[PS_WHY_MAX];
	size_t		 len, i, n;
	uint64_t	 ms;
	uint16_t	 off = 0;

	evbuffer_add(b, "{\"name\":", 8);
	json_str(b, e->name, e->name_len);
	evbuffer_add(b, ",\"queue\":", 9);
	json_str(b, e->queue.name, e->queue.len);
	kv_json(b, e, "cron", "cron");
	kv_json(b, e, "every", "every");
	kv_json(b, e, "tz", "tz");
	kv_json(b, e, "catch-up", "catch_up");
	kv_bool(b, e, "unique", "unique");
	kv_bool(b, e, "paused", "paused");
	kv_time(b, e, "created", "created");
	kv_time(b, e, "last", "last");
	v = ps_kv_find(e, "last-id", &len);
	if (v != NULL && (ms = kv_u64(v, len)) != 0)
		evbuffer_add_printf(b, ",\"last_id\":%llu",
		    (unsigned long long)ms);
	else
		evbuffer_add_printf(b, ",\"last_id\":null");
	v = ps_kv_find(e, "fired", &len);
	evbuffer_add_printf(b, ",\"fired\":%llu", (unsigned long long)
	    (v != NULL ? kv_u64(v, len) : 0));
	v = ps_kv_find(e, "skipped", &len);
	evbuffer_add_printf(b, ",\"skipped\":%llu", (unsigned long long)
	    (v != NULL ? kv_u64(v, len) : 0));
	/* next: up to 5 times apart by ",", once in ms, once in ISO. */
	if ((v = ps_kv_find(e, "next", &len)) == NULL)
		len = 0;
	evbuffer_add(b, ",\"next_ms\":[", 12);
	for (i = 0; i < len; i += n + 1) {
		c = memchr(v + i, ',', len - i);
		n = c != NULL ? (size_t)(c - (v + i)) : len - i;
		evbuffer_add_printf(b, "%s%llu", i == 0 ? "" : ",",
		    (unsigned long long)kv_u64(v + i, n));
	}
	evbuffer_add(b, "],\"next\":[", 10);
	for (i = 0; i < len; i += n + 1) {
		c = memchr(v + i, ',', len - i);
		n = c != NULL ? (size_t)(c - (v + i)) : len - i;
		if (i != 0)
			evbuffer_add(b, ",", 1);
		iso_json(b, kv_u64(v + i, n));
	}
	evbuffer_add(b, "]", 1);
	if ((v = ps_kv_find(e, "enqueued", &len)) != NULL) {
		if ((ms = kv_u64(v, len)) != 0)
			evbuffer_add_printf(b, ",\"enqueued\":%llu",
			    (unsigned long long)ms);
		else
			evbuffer_add_printf(b, ",\"enqueued\":null");
	}
	/* Checked when it was added: a failure here shows no attribute. */
	memset(&at, 0, sizeof at);
	at.priority = PS_PRIORITY_DEFAULT;
	if (ps_get_attrs(e->attrs, e->alen, 5, &at, &w, wbuf) != 0) {
		memset(&at, 0, sizeof at);
		at.priority = PS_PRIORITY_DEFAULT;
	}
	evbuffer_add_printf(b, ",\"priority\":%u,\"key\":", at.priority);
	if (at.key != NULL)
		json_str(b, at.key, at.klen);
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add(b, ",\"headers\":{", 12);
	for (i = 0; ps_header_next(at.hdr, at.hlen, &off, &h); i++) {
		if (i != 0)
			evbuffer_add(b, ",", 1);
		json_str(b, h.name, h.nlen);
		evbuffer_add(b, ":", 1);
		json_str(b, h.value, h.vlen);
	}
	evbuffer_add_printf(b, "},\"bytes\":%u", e->len);
	json_bytes_as(b, 0, "payload", e->data, e->len, 0);
	evbuffer_add(b, "}", 1);
}

/*
 * r asked of the daemon: its SCHEDULE_REPLY read into *rp (pointing into
 * out); 0, or -1 with *code and why, nothing replied.
 */
static int
sched_call(struct api *a, const struct ps_schedule *r, struct ps_buf *out,
    struct ps_schedule_reply *rp, int *code, char *why, size_t len)
{
	struct ps_frame	 f;

	out->len = 0;
	if (schedules_request(a->srv, r, a->srv->max_frame, out, code, why,
	    len) != 0)
		return -1;
	f.type = PS_SCHEDULE_REPLY;
	f.flags = 0;
	f.len = (uint32_t)(out->len - PS_HDR_LEN);
	f.body = out->data + PS_HDR_LEN;
	if (ps_get_schedule_reply(&f, rp) != 0) {
		*code = PS_E_NOMEM;
		snprintf(why, len, "a SCHEDULE_REPLY it could not read");
		return -1;
	}
	return 0;
}

/*
 * A SCHEDULE of op for the schedule NAME (len bytes of the path), but
 * ADD, as the frame would carry it: a name too long for one is refused
 * in the daemon's words.  0, or -1 with *code and why.
 */
static int
sched_named(struct api *a, uint8_t op, const char *name, size_t len,
    struct ps_buf *out, struct ps_schedule_reply *rp, int *code, char *why,
    size_t wlen)
{
	struct ps_schedule	 r;
	char			 err[256];

	if (len > PS_SCHED_NAME_MAX) {
		(void)queues_name_ok("schedule", name, len, err, sizeof err);
		*code = PS_E_BAD_VALUE;
		snprintf(why, wlen, "bad SCHEDULE: %s", err);
		return -1;
	}
	memset(&r, 0, sizeof r);
	r.op = op;
	r.name = name;
	r.name_len = (uint8_t)len;
	return sched_call(a, &r, out, rp, code, why, wlen);
}

/* The reply's one entry, as the reply, with status. */
static void
sched_reply_one(struct api *a, struct ps_schedule_reply *rp, int status)
{
	struct ps_schedule_entry e;

	if (ps_schedule_reply_next(rp, &e) != 1) {
		http_fail(a->req, 503, "a SCHEDULE_REPLY without its entry");
		return;
	}
	schedule_json(a->b, &e);
	evbuffer_add(a->b, "\n", 1);
	http_json(a->req, status, a->b);
}

/*
 * GET schedules: every one, in the order they were added: LIST asked
 * from each page's end till the total, a page being what fits a frame.
 */
static void
get_schedules(struct api *a)
{
	struct ps_schedule		 r;
	struct ps_schedule_reply	 rp;
	struct ps_schedule_entry	 e;
	struct ps_buf			 out = { 0 };
	char				 why[512];
	uint32_t			 n = 0, total = 0;
	int				 code, more;

	evbuffer_add_printf(a->b, "{\"schedules\":[");
	memset(&r, 0, sizeof r);
	r.op = PS_SCHED_LIST;
	do {
		r.start = n;
		if (sched_call(a, &r, &out, &rp, &code, why,
		    sizeof why) != 0) {
			http_fail(a->req, sched_status(code), "%s", why);
			ps_buf_free(&out);
			return;
		}
		total = rp.total;
		while ((more = ps_schedule_reply_next(&rp, &e)) == 1) {
			if (n++ != 0)
				evbuffer_add(a->b, ",", 1);
			schedule_json(a->b, &e);
		}
	} while (more == 0 && rp.count != 0 && n < total);
	ps_buf_free(&out);
	if (more < 0) {
		http_fail(a->req, 503, "a SCHEDULE_REPLY it could not read");
		return;
	}
	evbuffer_add_printf(a->b, "],\"total\":%u}\n", n);
	http_json(a->req, 200, a->b);
}

/* A POST schedules body's members (docs/http.md); NULL: not given. */
struct sched_body {
	char		*name;
	char		*queue;
	char		*text[4];	/* cron, every, tz, catch-up */
	int		 flag[3];	/* unique, paused, replace; -1 unset */
	char		*payload;
	size_t		 plen;
	int		 hex;
	char		*key;
	size_t		 klen;
	uint64_t	 priority;
	int		 has_priority;
	struct ps_buf	 hdr;		/* the HEADERs, as on the wire */
};

/* The members of a POST schedules body, in the order of their bits. */
enum {
	M_NAME, M_QUEUE, M_CRON, M_EVERY, M_TZ, M_CATCH_UP, M_UNIQUE, M_PAUSED,
	M_REPLACE, M_PAYLOAD, M_ENCODING, M_HEADERS, M_PRIORITY, M_KEY
};
static const char *members[] = {
	"name", "queue", "cron", "every", "tz", "catch_up", "unique", "paused",
	"replace", "payload", "payload_encoding", "headers", "priority", "key"
};
static const char *sched_texts[] = { "cron", "every", "tz", "catch_up" };
static const char *sched_settings[] = { "cron", "every", "tz", "catch-up" };
static const char *sched_flags[] = { "unique", "paused", "replace" };

/*
 * A member's string, or null (left NULL); a NUL in it is refused, for a
 * name or a rule is C text from here on.  0, or -1 after replying 400.
 */
static int
body_text(struct api *a, struct json_in *j, const char *name, char **s)
{
	size_t	 len;

	if (json_in_null(j))
		return 0;
	if (json_in_string(j, s, &len) != 0) {
		http_fail(a->req, 400, "%s: %s", name, j->why);
		return -1;
	}
	if (strlen(*s) != len) {
		http_fail(a->req, 400, "%s: a NUL byte (\\u0000) in it", name);
		return -1;
	}
	return 0;
}

/* "headers": {"NAME": "VALUE", ...}; 0, or -1 after replying 400. */
static int
body_headers(struct api *a, struct json_in *j, struct ps_buf *hdr)
{
	char	*name, *value;
	size_t	 nlen, vlen;
	int	 n = 0, more, error;

	if (json_in_null(j))
		return 0;
	if (json_in_object(j) != 0) {
		http_fail(a->req, 400, "headers: %s", j->why);
		return -1;
	}
	while ((more = json_in_member(j, &n, &name, &nlen)) == 1) {
		if (json_in_string(j, &value, &vlen) != 0) {
			http_fail(a->req, 400, "headers: %.64s: %s", name,
			    j->why);
			return -1;
		}
		if ((error = ps_put_header(hdr, name, nlen, value,
		    vlen)) != 0) {
			if (error == -PS_E_NOMEM)
				http_fail(a->req, 503, "out of memory");
			else
				http_fail(a->req, 400, "headers: \"%.64s\": a "
				    "name is 1 to %d bytes of a-z 0-9 - _ ., a "
				    "value at most %d bytes", name,
				    PS_HEADER_NAME_MAX, PS_HEADER_VALUE_MAX);
			return -1;
		}
	}
	if (more < 0) {
		http_fail(a->req, 400, "headers: %s", j->why);
		return -1;
	}
	if (hdr->len > UINT16_MAX) {
		http_fail(a->req, 400, "headers: more than %d bytes",
		    UINT16_MAX);
		return -1;
	}
	return 0;
}

/* Hex digits into bytes, in place; -1 if they are not. */
static int
unhex(char *s, size_t *len)
{
	unsigned int	 byte;
	size_t		 i;

	if (*len % 2 != 0 || strspn(s, "0123456789abcdefABCDEF") != *len)
		return -1;
	for (i = 0; i < *len / 2; i++) {
		(void)sscanf(s + 2 * i, "%2x", &byte);
		s[i] = (char)byte;
	}
	*len /= 2;
	return 0;
}

/*
 * The body of POST schedules, read in place into *sb; 0, or -1 after
 * replying 400.  A member unknown or given twice is refused, not passed
 * over: a typo must not define a schedule other than meant.
 */
static int
body_schedule(struct api *a, struct sched_body *sb)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(a->req);
	struct json_in	 j;
	const char	*enc = NULL;
	char		*key, *s;
	size_t		 klen, i;
	unsigned int	 seen = 0, bit;
	int		 n = 0, more, v;

	json_in_init(&j, (char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in));
	if (json_in_object(&j) != 0) {
		http_fail(a->req, 400, "the body is not a JSON object: %s",
		    j.why);
		return -1;
	}
	while ((more = json_in_member(&j, &n, &key, &klen)) == 1) {
		for (i = 0; i < sizeof members / sizeof members[0]; i++)
			if (strlen(members[i]) == klen &&
			    memcmp(key, members[i], klen) == 0)
				break;
		if (i == sizeof members / sizeof members[0]) {
			http_fail(a->req, 400, "no member \"%.64s\" in a "
			    "schedule (docs/http.md)", key);
			return -1;
		}
		bit = 1u << i;
		if (seen & bit) {
			http_fail(a->req, 400, "%s given twice", key);
			return -1;
		}
		seen |= bit;
		switch (i) {
		case M_NAME:
		case M_QUEUE:
			if (body_text(a, &j, key, i == M_NAME ? &sb->name :
			    &sb->queue) != 0)
				return -1;
			break;
		case M_CRON:
		case M_EVERY:
		case M_TZ:
		case M_CATCH_UP:
			if (body_text(a, &j, key, &sb->text[i - M_CRON]) != 0)
				return -1;
			break;
		case M_UNIQUE:
		case M_PAUSED:
		case M_REPLACE:
			if (json_in_null(&j))
				break;
			if (json_in_bool(&j, &v) != 0) {
				http_fail(a->req, 400, "%s: %s", key, j.why);
				return -1;
			}
			sb->flag[i - M_UNIQUE] = v;
			break;
		case M_PAYLOAD:
		case M_KEY:
			if (json_in_null(&j))
				break;
			if (json_in_string(&j, i == M_PAYLOAD ? &sb->payload :
			    &sb->key, i == M_PAYLOAD ? &sb->plen :
			    &sb->klen) != 0) {
				http_fail(a->req, 400, "%s: %s", key, j.why);
				return -1;
			}
			break;
		case M_ENCODING:
			if (body_text(a, &j, key, &s) != 0)
				return -1;
			enc = s;
			break;
		case M_HEADERS:
			if (body_headers(a, &j, &sb->hdr) != 0)
				return -1;
			break;
		case M_PRIORITY:
			if (json_in_null(&j))
				break;
			if (json_in_uint(&j, UINT16_MAX, &sb->priority) != 0) {
				http_fail(a->req, 400, "priority: %s", j.why);
				return -1;
			}
			sb->has_priority = 1;
			break;
		}
	}
	if (more < 0 || json_in_end(&j) != 0) {
		http_fail(a->req, 400, "the body is not a JSON object: %s",
		    j.why);
		return -1;
	}
	if (enc != NULL && strcmp(enc, "text") != 0 && strcmp(enc,
	    "hex") != 0) {
		http_fail(a->req, 400, "payload_encoding: \"%.32s\" is not "
		    "text or hex", enc);
		return -1;
	}
	if (enc != NULL && strcmp(enc, "hex") == 0 && sb->payload != NULL &&
	    unhex(sb->payload, &sb->plen) != 0) {
		http_fail(a->req, 400, "payload: not hex digits, two a byte "
		    "(payload_encoding hex)");
		return -1;
	}
	if (sb->name == NULL || sb->queue == NULL) {
		http_fail(a->req, 400, "a schedule needs a name and a queue");
		return -1;
	}
	if (sb->key != NULL && sb->klen > PS_KEY_MAX) {
		http_fail(a->req, 400, "key: at most %d bytes", PS_KEY_MAX);
		return -1;
	}
	return 0;
}

/*
 * POST schedules: the body as an ADD frame, decoded as the daemon
 * decodes a peer's, then asked.  201 for a schedule new, 200 for one
 * defined the same again or replaced.
 */
static void
post_schedules(struct api *a)
{
	struct sched_body		 sb;
	struct ps_attrs			 at;
	struct ps_schedule		 r;
	struct ps_schedule_reply	 rp;
	struct ps_buf			 ab = { 0 }, fb = { 0 }, out = { 0 };
	struct ps_frame			 f;
	const char			*set[7];
	char				 text[7][PS_SCHED_FIELD_MAX + 1];
	char				 why[512], err[256];
	size_t				 i, len;
	uint16_t			 n = 0;
	int				 code, error, existed;

	memset(&sb, 0, sizeof sb);
	sb.flag[0] = sb.flag[1] = sb.flag[2] = -1;
	if (body_schedule(a, &sb) != 0)
		goto done;
	for (i = 0; i < 2; i++) {
		len = strlen(i == 0 ? sb.name : sb.queue);
		if (len == 0 || len > (i == 0 ? PS_SCHED_NAME_MAX :
		    PS_QUEUE_MAX)) {
			(void)queues_name_ok(i == 0 ? "schedule" : "queue",
			    i == 0 ? sb.name : sb.queue, len, err, sizeof err);
			http_fail(a->req, 400, "bad SCHEDULE: %s", err);
			goto done;
		}
	}
	for (i = 0; i < 4; i++) {
		if (sb.text[i] == NULL)
			continue;
		if (snprintf(text[n], sizeof text[n], "%s=%s",
		    sched_settings[i], sb.text[i]) >= (int)sizeof text[n]) {
			http_fail(a->req, 400, "%s: at most %zu bytes",
			    sched_texts[i], PS_SCHED_FIELD_MAX - 1 -
			    strlen(sched_settings[i]));
			goto done;
		}
		set[n] = text[n];
		n++;
	}
	for (i = 0; i < 2; i++) {
		if (sb.flag[i] < 0)
			continue;
		snprintf(text[n], sizeof text[n], "%s=%s", sched_flags[i],
		    sb.flag[i] ? "yes" : "no");
		set[n] = text[n];
		n++;
	}
	memset(&at, 0, sizeof at);
	at.priority = sb.has_priority ? (uint16_t)sb.priority :
	    PS_PRIORITY_DEFAULT;
	at.key = (const uint8_t *)sb.key;
	at.klen = (uint8_t)sb.klen;
	at.hdr = sb.hdr.len != 0 ? sb.hdr.data : NULL;
	at.hlen = (uint16_t)sb.hdr.len;
	if ((error = ps_put_enqueue_add_attrs(&ab, &at, NULL, 0)) != 0 ||
	    (error = ps_put_schedule_add(&fb, sb.flag[2] > 0 ?
	    PS_SCHED_REPLACE : 0, sb.name, sb.queue, set, n, ab.data + 6,
	    (uint16_t)(ab.len - 6), sb.payload, (uint32_t)sb.plen)) != 0) {
		http_fail(a->req, error == -PS_E_NOMEM ? 503 : 400,
		    "bad SCHEDULE: %s", ps_strerror(-error));
		goto done;
	}
	f.type = PS_SCHEDULE;
	f.flags = 0;
	f.len = (uint32_t)(fb.len - PS_HDR_LEN);
	f.body = fb.data + PS_HDR_LEN;
	if ((error = ps_get_schedule(&f, &r)) != 0) {
		http_fail(a->req, 400, "bad SCHEDULE: %s", ps_strerror(-error));
		goto done;
	}
	/* Whether it is new, for the status: a LIST of it first. */
	existed = sched_named(a, PS_SCHED_LIST, r.name, r.name_len, &out, &rp,
	    &code, why, sizeof why) == 0;
	if (sched_call(a, &r, &out, &rp, &code, why, sizeof why) != 0) {
		http_fail(a->req, sched_status(code), "%s", why);
		goto done;
	}
	log_info("%s: schedule %s: %s", http_peer(a->req), sb.name,
	    existed ? "defined again" : "added");
	sched_reply_one(a, &rp, existed ? 200 : 201);
done:
	ps_buf_free(&sb.hdr);
	ps_buf_free(&ab);
	ps_buf_free(&fb);
	ps_buf_free(&out);
}

/*
 * schedules, schedules/NAME and schedules/NAME/pause, resume or run-now:
 * GET reads; a change (POST, DELETE) needs the token.
 */
static void
schedules_path(struct api *a, const char *path, int cmd)
{
	static const struct {
		const char	*tail;
		uint8_t		 op;
	} ops[] = {
		{ "pause", PS_SCHED_PAUSE }, { "resume", PS_SCHED_RESUME },
		{ "run-now", PS_SCHED_RUN_NOW },
	};
	struct ps_schedule_reply	 rp;
	struct ps_buf			 out = { 0 };
	const char			*tail;
	char				 why[512];
	size_t				 i, len;
	uint8_t				 op;
	int				 code, get = cmd == EVHTTP_REQ_GET ||
					    cmd == EVHTTP_REQ_HEAD;

	if (*path == '\0') {
		if (get)
			get_schedules(a);
		else if (cmd != EVHTTP_REQ_POST)
			http_method(a->req, "GET, HEAD, POST");
		else if (http_may_change(a->srv, a->req))
			post_schedules(a);
		return;
	}
	len = strcspn(path, "/");
	tail = path[len] == '/' ? path + len + 1 : NULL;
	if (tail == NULL) {
		if (!get && cmd != EVHTTP_REQ_DELETE) {
			http_method(a->req, "GET, HEAD, DELETE");
			return;
		}
		op = get ? PS_SCHED_LIST : PS_SCHED_REMOVE;
	} else {
		for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
			if (strcmp(ops[i].tail, tail) == 0)
				break;
		if (i == sizeof ops / sizeof ops[0]) {
			http_fail(a->req, 404, "no API path schedules/%.*s/"
			    "%.64s", (int)(len > 64 ? 64 : len), path, tail);
			return;
		}
		if (cmd != EVHTTP_REQ_POST) {
			http_method(a->req, "POST");
			return;
		}
		op = ops[i].op;
	}
	if (op != PS_SCHED_LIST && !http_may_change(a->srv, a->req))
		return;
	if (sched_named(a, op, path, len, &out, &rp, &code, why,
	    sizeof why) != 0) {
		http_fail(a->req, sched_status(code), "%s", why);
		ps_buf_free(&out);
		return;
	}
	/* Who changed it, as admin.c says for a queue's changes. */
	if (op != PS_SCHED_LIST)
		log_info("%s: schedule %.*s: %s", http_peer(a->req), (int)len,
		    path, tail != NULL ? tail : "removed");
	sched_reply_one(a, &rp, 200);
	ps_buf_free(&out);
}

void
api_request(struct server *srv, struct evhttp_request *req,
    const char *path, int cmd)
{
	struct api	 a = { .srv = srv, .req = req };
	const char	*query;
	int		 get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	TAILQ_INIT(&a.query);
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query != NULL && evhttp_parse_query_str(query, &a.query) != 0) {
		http_fail(req, 400, "the query string is not KEY=VALUE&...");
		return;
	}
	if ((a.b = evbuffer_new()) == NULL) {
		evhttp_clear_headers(&a.query);
		http_fail(req, 503, "out of memory");
		return;
	}
	if (strncmp(path, "queues/", 7) == 0 && path[7] != '\0')
		queue_path(&a, path + 7, cmd);
	else if (strcmp(path, "schedules") == 0)
		schedules_path(&a, "", cmd);
	else if (strncmp(path, "schedules/", 10) == 0 && path[10] != '\0')
		schedules_path(&a, path + 10, cmd);
	else if (strcmp(path, "queues") != 0 && strcmp(path,
	    "consumers") != 0 && strcmp(path, "history") != 0 &&
	    strcmp(path, "counters") != 0)
		http_fail(req, 404, "no API path %.64s (docs/http.md)", path);
	else if (!get)
		http_method(req, "GET, HEAD");
	else if (strcmp(path, "queues") == 0)
		get_queues(&a);
	else if (strcmp(path, "consumers") == 0)
		get_consumers(&a);
	else if (strcmp(path, "counters") == 0)
		get_counters(&a);
	else
		get_history(&a);
	evbuffer_free(a.b);
	evhttp_clear_headers(&a.query);
}
