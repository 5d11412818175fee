/*
 * pushstage.c: libpushstage, the public face of the client (client/):
 * a handle per connection, its replies kept in the handle, and the
 * protocol's structures turned into the stable ones of pushstage.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "client.h"
#include "pushstage.h"
#include "sockpath.h"

#define PATH_BYTES	4096

_Static_assert(PUSHSTAGE_PROTOCOL == PS_PROTO_MAX_VERSION, "protocol version");
_Static_assert(PUSHSTAGE_HEADERS_MAX == PS_HEADERS_MAX &&
    PUSHSTAGE_HEADER_NAME_MAX == PS_HEADER_NAME_MAX &&
    PUSHSTAGE_HEADER_VALUE_MAX == PS_HEADER_VALUE_MAX &&
    PUSHSTAGE_HEADERS_BYTES_MAX == PS_HEADERS_BYTES_MAX, "header limits");
_Static_assert(PUSHSTAGE_ID_MAX == PS_NAME_MAX, "id length");
_Static_assert(PUSHSTAGE_KEY_MAX == PS_KEY_MAX, "key length");
_Static_assert(PUSHSTAGE_QUEUE_MAX == PS_QUEUE_MAX, "queue name length");
_Static_assert(PUSHSTAGE_DEMAND_MAX == PS_DEMAND_LIMIT, "demand limit");
_Static_assert(PUSHSTAGE_PREVIEW_MAX == PS_PREVIEW_MAX, "preview limit");
_Static_assert(PUSHSTAGE_SCHEDULE_REPLACE == PS_SCHED_REPLACE &&
    PUSHSTAGE_SCHEDULE_NAME_MAX == PS_SCHED_NAME_MAX &&
    PUSHSTAGE_SCHEDULE_SETTING_MAX == PS_SCHED_FIELD_MAX, "schedules");
_Static_assert(PUSHSTAGE_ERR_BAD_VALUE == PS_E_BAD_VALUE &&
    PUSHSTAGE_ERR_DRAINING == PS_E_DRAINING &&
    PUSHSTAGE_ERR_STORAGE == PS_E_STORAGE &&
    PUSHSTAGE_ERR_NO_QUEUE == PS_E_NO_QUEUE &&
    PUSHSTAGE_ERR_LIMIT == PS_E_QUEUE_LIMIT &&
    PUSHSTAGE_ERR_NO_EVENT == PS_E_NO_EVENT &&
    PUSHSTAGE_ERR_NO_SCHEDULE == PS_E_NO_SCHEDULE &&
    PUSHSTAGE_ERR_EXISTS == PS_E_EXISTS, "the wire's error codes");
_Static_assert((int)PUSHSTAGE_DEAD_NACK == (int)PS_DEAD_NACK &&
    (int)PUSHSTAGE_DEAD_TIMEOUT == (int)PS_DEAD_TIMEOUT &&
    (int)PUSHSTAGE_DEAD_DISCONNECT == (int)PS_DEAD_DISCONNECT &&
    (int)PUSHSTAGE_DEAD_REJECTED == (int)PS_DEAD_REJECTED,
    "dead reasons");
_Static_assert((int)PUSHSTAGE_OK == (int)PSC_OK &&
    (int)PUSHSTAGE_ECONNECT == (int)PSC_ECONNECT &&
    (int)PUSHSTAGE_EPROTO == (int)PSC_EPROTO &&
    (int)PUSHSTAGE_EIO == (int)PSC_EIO &&
    (int)PUSHSTAGE_ENOMEM == (int)PSC_ENOMEM &&
    (int)PUSHSTAGE_ETOOBIG == (int)PSC_ETOOBIG &&
    (int)PUSHSTAGE_EINVAL == (int)PSC_EINVAL &&
    (int)PUSHSTAGE_EAGAIN == (int)PSC_EAGAIN,
    "client/'s codes are returned as the library's");

/*
 * A JOB_REPLY's failures read: the daemon keeps 3 now; a later one may
 * keep more, and more than 8 are left out.
 */
#define JOB_FAILURES_MAX	8

/* The last ids a CANCEL named that pushstage_cancelled knows. */
#define CANCELLED_KEEP	256

struct pushstage {
	struct psc			 c;
	int				 open;		/* c needs psc_close */
	int				 consumer;
	struct psc_window		 win;
	char				 path[PATH_BYTES];

	/* The last stats reply, in public form. */
	struct ps_stats			 st;
	int				 have_st;
	struct pushstage_stats		 pub;
	struct pushstage_stat		*counters;
	struct pushstage_consumer	*consumers;
	struct pushstage_stat		*fields;
	struct pushstage_text		*texts;

	/* Pipelining: batches in flight at most, and who hears answers. */
	unsigned int			 window;
	pushstage_answer_fn		 answer_fn;
	void				*answer_arg;
	const struct psc_answer		*answering;	/* while in fn */

	/* The last dead-letter list, copied out of the read buffer. */
	struct pushstage_dead		*dead;
	struct {
		const void	*p;
		size_t		 len;
	}				*dead_err;	/* their errors */
	size_t				 ndead;
	uint8_t				*previews;

	/* The queue: a consumer's, or where a client's batches go. */
	char				 queue[PS_PATH_MAX + 1];
	int				 partition;	/* -1: none */

	/* The last queue list, in public form. */
	struct ps_queues		 qs;
	struct pushstage_queue		*queues;
	struct pushstage_stat		*qfields;

	/* The last counts per task, in public form. */
	struct ps_task_stats		 ts;
	struct pushstage_task		*tasks;
	struct pushstage_stat		*tfields;

	/* The last job found, in public form (pushstage_job). */
	struct pushstage_job		 job;
	struct pushstage_header		 jhdr[PS_HEADERS_MAX];
	struct pushstage_failure	 jfail[JOB_FAILURES_MAX];

	/* Events in flight here the daemon said were cancelled, a ring. */
	uint64_t			 cancelled[CANCELLED_KEEP];
	size_t				 ncancelled;

	/* The last page of jobs listed (pushstage_jobs). */
	struct pushstage_listed		*listed;
	size_t				 caplisted;

	/*
	 * The last schedules answered, copied out of the read buffer: their
	 * names, queues, fields (KEY and VALUE, each with a NUL),
	 * attributes and payloads in sbytes.
	 */
	struct pushstage_schedule	*sched;
	size_t				 nsched;
	struct pushstage_text		*sfields;
	struct pushstage_header		*shdrs;
	char				*sbytes;

	/* Headers for the next event added, as HEADER attributes. */
	struct ps_buf			 hdrs;
	size_t				 nhdrs;
	size_t				 hbytes;	/* names and values */
	/*
	 * The headers of the events taken since the last read, those that
	 * have some, in the read buffer as it is: valid as the events are.
	 */
	struct evhdr {
		uint64_t	 id;
		const void	*data;
		const uint8_t	*hdr;
		uint16_t	 hlen;
	}				*evh;
	size_t				 nevh;
	size_t				 capevh;
};

static int
invalid(struct pushstage *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
fail_proto(struct pushstage *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
invalid(struct pushstage *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(p->c.err, sizeof p->c.err, fmt, ap);
	va_end(ap);
	p->c.err_code = 0;	/* not the daemon's */
	return PUSHSTAGE_EINVAL;
}

/* The daemon answered with nonsense. */
static int
fail_proto(struct pushstage *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(p->c.err, sizeof p->c.err, fmt, ap);
	va_end(ap);
	return PUSHSTAGE_EPROTO;
}

const char *
pushstage_version(void)
{
	return PUSHSTAGE_VERSION;
}

const char *
pushstage_default_socket(char *buf, size_t len)
{
	return sockpath_default(buf, len);
}

const char *
pushstage_strerror(int r)
{
	switch (r) {
	case PUSHSTAGE_OK:
		return "no error";
	case PUSHSTAGE_ECONNECT:
		return "no producerd answers at the socket";
	case PUSHSTAGE_EPROTO:
		return "producerd refused the request or sent nonsense";
	case PUSHSTAGE_EIO:
		return "the connection to producerd broke";
	case PUSHSTAGE_ENOMEM:
		return "out of memory";
	case PUSHSTAGE_ETOOBIG:
		return "the event does not fit in a frame";
	case PUSHSTAGE_EINVAL:
		return "invalid argument";
	case PUSHSTAGE_EAGAIN:
		return "producerd takes no events now; try again later";
	default:
		return "unknown error";
	}
}

struct pushstage *
pushstage_new(void)
{
	struct pushstage	*p;

	if ((p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	p->c.fd = -1;
	p->window = 1;
	snprintf(p->queue, sizeof p->queue, "%s", PS_QUEUE_DEFAULT);
	p->partition = -1;
	return p;
}

static void
forget_queues(struct pushstage *p)
{
	ps_queues_free(&p->qs);
	free(p->queues);
	free(p->qfields);
	p->queues = NULL;
	p->qfields = NULL;
}

static void
forget_tasks(struct pushstage *p)
{
	ps_task_stats_free(&p->ts);
	free(p->tasks);
	free(p->tfields);
	p->tasks = NULL;
	p->tfields = NULL;
}

static void
forget_schedules(struct pushstage *p)
{
	free(p->sched);
	free(p->sfields);
	free(p->shdrs);
	free(p->sbytes);
	p->sched = NULL;
	p->sfields = NULL;
	p->shdrs = NULL;
	p->sbytes = NULL;
	p->nsched = 0;
}

static void
forget_stats(struct pushstage *p)
{
	if (p->have_st)
		ps_stats_free(&p->st);
	p->have_st = 0;
	free(p->counters);
	free(p->consumers);
	free(p->fields);
	free(p->texts);
	p->counters = NULL;
	p->consumers = NULL;
	p->fields = NULL;
	p->texts = NULL;
}

void
pushstage_free(struct pushstage *p)
{
	if (p == NULL)
		return;
	if (p->open)
		psc_close(&p->c);
	forget_stats(p);
	forget_queues(p);
	forget_tasks(p);
	forget_schedules(p);
	psc_window_free(&p->win);
	ps_buf_free(&p->hdrs);
	free(p->evh);
	free(p->listed);
	free(p->dead);
	free(p->dead_err);
	free(p->previews);
	free(p);
}

const char *
pushstage_error(const struct pushstage *p)
{
	return p->c.err;
}

int
pushstage_error_code(const struct pushstage *p)
{
	return p->c.err_code;
}

int
pushstage_fd(const struct pushstage *p)
{
	return p->c.fd;
}

/*
 * Connect and say HELLO in version 5, or, to a daemon that does not speak
 * it, in version 3.
 */
static int
connect_as(struct pushstage *p, const char *path, const struct ps_hello *h)
{
	struct ps_hello	 old;
	int		 r;

	if (p->open)
		return invalid(p, "this handle is already connected");
	if (path == NULL)
		pushstage_default_socket(p->path, sizeof p->path);
	else if (strlen(path) >= sizeof p->path)
		return invalid(p, "socket path too long: %s", path);
	else
		memcpy(p->path, path, strlen(path) + 1);
	r = psc_connect(&p->c, p->path, h);
	if (r == PSC_EPROTO && p->c.err_code == PS_E_VERSION &&
	    h->version > PS_PROTO_VERSION) {
		/* An older daemon: version 3, with no headers. */
		psc_close(&p->c);
		old = *h;
		old.version = PS_PROTO_VERSION;
		h = &old;
		r = psc_connect(&p->c, p->path, h);
	}
	if (r != 0 || (r = psc_set_queue(&p->c, p->queue)) != 0) {
		psc_close(&p->c);	/* keeps c.err */
		return r;
	}
	p->open = 1;
	return PUSHSTAGE_OK;
}

int
pushstage_queue(struct pushstage *p, const char *name)
{
	int	 r;

	if (name == NULL)
		name = PS_QUEUE_DEFAULT;
	if (p->open && p->consumer)
		return invalid(p, "a consumer's queue is named before it "
		    "connects");
	if (!ps_group_path_ok(name, strlen(name)))
		return invalid(p, "queue name \"%s\" is not QUEUE or "
		    "QUEUE/GROUP, each 1 to %d bytes of A-Z a-z 0-9 . _ : -",
		    name, PS_QUEUE_MAX);
	if (p->open && (r = psc_set_queue(&p->c, name)) != 0)
		return r;
	snprintf(p->queue, sizeof p->queue, "%s", name);
	return PUSHSTAGE_OK;
}

const char *
pushstage_queue_name(const struct pushstage *p)
{
	return p->queue;
}

int
pushstage_partition(struct pushstage *p, int partition)
{
	if (p->open && p->consumer)
		return invalid(p, "a consumer's partition is named before it "
		    "connects");
	if (partition < -1 || partition >= PS_PARTITIONS_MAX)
		return invalid(p, "partition %d is not from 0 to %d (or -1: "
		    "none)", partition, PS_PARTITIONS_MAX - 1);
	p->partition = partition;
	return PUSHSTAGE_OK;
}

uint32_t
pushstage_partition_of(const void *key, size_t len, uint32_t n)
{
	if (key == NULL || len > PUSHSTAGE_KEY_MAX)
		return 0;
	return ps_partition(key, (int)len, n);
}

int
pushstage_connect(struct pushstage *p, const char *path, const char *name)
{
	struct ps_hello	 h;

	if (name == NULL)
		name = "libpushstage";
	if (strlen(name) > PS_NAME_MAX)
		return invalid(p, "client name longer than %d bytes",
		    PS_NAME_MAX);
	memset(&h, 0, sizeof h);
	h.version = PS_PROTO_MAX_VERSION;
	h.role = PS_ROLE_CLIENT;
	h.name = name;
	h.name_len = (uint8_t)strlen(name);
	p->consumer = 0;
	return connect_as(p, path, &h);
}

int
pushstage_connect_consumer(struct pushstage *p, const char *path,
    const char *id, uint32_t max, uint32_t min)
{
	struct ps_hello	 h;

	if (id == NULL || *id == '\0' || strlen(id) > PS_NAME_MAX)
		return invalid(p, "a consumer id is 1 to %d bytes",
		    PS_NAME_MAX);
	if (max < 1 || max > PS_DEMAND_LIMIT || min >= max)
		return invalid(p, "demand: need 0 <= min (%u) < max (%u) <= "
		    "%u", min, max, PS_DEMAND_LIMIT);
	memset(&h, 0, sizeof h);
	h.version = PS_PROTO_MAX_VERSION;
	h.role = PS_ROLE_CONSUMER;
	h.max_demand = max;
	h.min_demand = min;
	h.name = id;
	h.name_len = (uint8_t)strlen(id);
	h.queue = p->queue;
	h.queue_len = (uint8_t)strlen(p->queue);
	h.has_partition = p->partition >= 0;
	h.partition = (uint16_t)(p->partition >= 0 ? p->partition : 0);
	p->consumer = 1;
	psc_window_init(&p->win, max, min);
	return connect_as(p, path, &h);
}

/* Calls past connect need a live connection in the right role. */
static int
ready(struct pushstage *p, int consumer)
{
	if (!p->open || p->c.fd == -1)
		return invalid(p, "not connected");
	if (consumer != -1 && consumer != p->consumer)
		return invalid(p, "this call is for a %s connection",
		    consumer ? "consumer" : "client");
	return PUSHSTAGE_OK;
}

uint32_t
pushstage_max_event(const struct pushstage *p)
{
	size_t	 over = ps_enqueue_size(1, 0) + (p->c.version >= 3 ?
		    1 + strcspn(p->queue, "/") : 0);

	return p->c.max_frame > over ? (uint32_t)(p->c.max_frame - over) : 0;
}

int
pushstage_acks(const struct pushstage *p)
{
	return p->c.welcome.version >= 2 &&
	    p->c.welcome.delivery == PS_AT_LEAST_ONCE;
}

uint32_t
pushstage_ack_timeout_ms(const struct pushstage *p)
{
	return p->c.welcome.ack_timeout_ms;
}

uint32_t
pushstage_max_attempts(const struct pushstage *p)
{
	return p->c.welcome.max_attempts;
}

/*
 * A header for the next event added: it takes every header given since
 * the last one.
 */
int
pushstage_header(struct pushstage *p, const char *name, const void *value,
    size_t vlen)
{
	struct ps_header	 h;
	size_t			 nlen = name != NULL ? strlen(name) : 0;

	if (name == NULL || !ps_header_name_ok(name, nlen))
		return invalid(p, "header \"%.64s\": a name is 1 to %d bytes "
		    "of a-z 0-9 - _ .", name != NULL ? name : "",
		    PS_HEADER_NAME_MAX);
	if (value == NULL && vlen != 0)
		return invalid(p, "header \"%s\": no value, but a length",
		    name);
	if (vlen > PS_HEADER_VALUE_MAX)
		return invalid(p, "header \"%s\": its value is %zu bytes, "
		    "over %d", name, vlen, PS_HEADER_VALUE_MAX);
	if (ps_header_find(p->hdrs.data, (uint16_t)p->hdrs.len, name, nlen,
	    &h))
		return invalid(p, "header \"%s\" given twice", name);
	if (p->nhdrs == PS_HEADERS_MAX)
		return invalid(p, "header \"%s\": more than %d headers", name,
		    PS_HEADERS_MAX);
	if (p->hbytes + nlen + vlen > PS_HEADERS_BYTES_MAX)
		return invalid(p, "header \"%s\": headers over %d bytes (names "
		    "and values)", name, PS_HEADERS_BYTES_MAX);
	if (ps_put_header(&p->hdrs, name, nlen, value, vlen) != 0)
		return invalid(p, "out of memory");
	p->nhdrs++;
	p->hbytes += nlen + vlen;
	return PUSHSTAGE_OK;
}

/* The headers given for the next event go. */
void
pushstage_headers_clear(struct pushstage *p)
{
	p->hdrs.len = 0;
	p->nhdrs = 0;
	p->hbytes = 0;
}

/* ETOOBIG: over the daemon's limit (batch empty), or the batch is full. */
/*
 * An event into the batch being filled (a NULL: no attributes), with the
 * headers given for it, which it takes.
 */
static int
add(struct pushstage *p, const struct ps_attrs *a, const void *data,
    size_t len)
{
	struct ps_attrs	 with;
	size_t		 alen;
	int		 r;

	if ((r = ready(p, 0)) != 0)
		return r;
	if (p->nhdrs != 0) {
		if (a != NULL)
			with = *a;
		else {
			memset(&with, 0, sizeof with);
			with.priority = PS_PRIORITY_DEFAULT;
		}
		with.hdr = p->hdrs.data;
		with.hlen = (uint16_t)p->hdrs.len;
		a = &with;
	}
	alen = a != NULL ? 2 + ps_attrs_size(a) : 0;
	if (len + alen > pushstage_max_event(p)) {
		snprintf(p->c.err, sizeof p->c.err, "an event of %zu bytes%s is "
		    "over the %u that producerd at %s takes (its --max-frame)",
		    len, a != NULL ? " and its attributes" : "",
		    pushstage_max_event(p), p->c.path);
		return PUSHSTAGE_ETOOBIG;
	}
	if (!psc_batch_fits_attrs(&p->c, a != NULL ? (long)alen - 2 : -1,
	    len)) {
		snprintf(p->c.err, sizeof p->c.err, "the batch is full: send "
		    "it, then add the event again");
		return PUSHSTAGE_ETOOBIG;
	}
	if ((r = psc_batch_add_attrs(&p->c, a, data, (uint32_t)len)) == 0)
		pushstage_headers_clear(p);
	return r;
}

int
pushstage_add(struct pushstage *p, const void *data, size_t len)
{
	return add(p, NULL, data, len);
}

int
pushstage_add_key(struct pushstage *p, const void *key, size_t klen,
    const void *data, size_t len)
{
	struct pushstage_attrs	 a = PUSHSTAGE_ATTRS_INIT;

	if (key == NULL && klen != 0)
		return invalid(p, "no key, but a key length");
	a.key = key != NULL ? key : "";
	a.klen = klen;
	return pushstage_add_with(p, &a, data, len);
}

int
pushstage_add_with(struct pushstage *p, const struct pushstage_attrs *pa,
    const void *data, size_t len)
{
	struct ps_attrs	 a;

	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	if (pa->key != NULL) {
		if (pa->klen > PUSHSTAGE_KEY_MAX)
			return invalid(p, "a key of %zu bytes: at most %d",
			    pa->klen, PUSHSTAGE_KEY_MAX);
		a.key = pa->key;
		a.klen = (uint8_t)pa->klen;
	}
	if (pa->delay_ms != 0 && pa->not_before_ms != 0)
		return invalid(p, "a delay and a not-before time: give one");
	if (pa->delay_ms > PS_DELAY_MAX)
		return invalid(p, "a delay of %llu ms: at most 10 years",
		    (unsigned long long)pa->delay_ms);
	if (pa->delay_ms != 0) {
		a.when = PS_WHEN_DELAY;
		a.delay = pa->delay_ms;
	} else if (pa->not_before_ms != 0) {
		a.when = PS_WHEN_AT;
		a.not_before = pa->not_before_ms;
	}
	if (pa->priority < -1 || pa->priority > 65535)
		return invalid(p, "priority %ld: 0 to 65535, or -1 for the "
		    "default", (long)pa->priority);
	if (pa->priority >= 0)
		a.priority = (uint16_t)pa->priority;
	if (pa->unique_id != NULL) {
		if (pa->unique_id_len == 0 ||
		    pa->unique_id_len > PUSHSTAGE_UNIQUE_ID_MAX)
			return invalid(p, "a unique id of %zu bytes: 1 to %d",
			    pa->unique_id_len, PUSHSTAGE_UNIQUE_ID_MAX);
		a.uid = pa->unique_id;
		a.ulen = (uint8_t)pa->unique_id_len;
	}
	return add(p, &a, data, len);
}

/* The i-th duplicate of the answer at hand: its index in its batch. */
uint32_t
pushstage_duplicate(const struct pushstage *p, size_t i)
{
	return i < p->c.ndups ? p->c.dups[i] : UINT32_MAX;
}

size_t
pushstage_batch_count(const struct pushstage *p)
{
	return psc_batch_count(&p->c);
}

static void
public_enqueued(const struct ps_enqueued *e, struct pushstage_enqueued *out)
{
	out->first_id = e->first_id;
	out->accepted = e->accepted;
	out->refused = e->refused;
	out->shed_new = e->shed_new;
	out->shed_old = e->shed_old;
	out->duplicates = e->duplicates;
}

/* Hand the oldest posted batch's answer to fn: 1, 0 none yet, or < 0. */
static int
answer(struct pushstage *p, int block)
{
	struct pushstage_enqueued	 pub;
	struct psc_answer		 a;
	int				 r;

	if ((r = psc_answer(&p->c, block, &a)) != 1)
		return r;
	if (p->answer_fn != NULL) {
		public_enqueued(&a.r, &pub);
		p->answering = &a;
		p->answer_fn(p->answer_arg, a.seq, &pub);
		p->answering = NULL;
	}
	return 1;
}

int
pushstage_pipeline(struct pushstage *p, unsigned int window,
    pushstage_answer_fn fn, void *arg)
{
	int	 r;

	if ((r = ready(p, 0)) != 0)
		return r;
	if (window < 1 || window > PUSHSTAGE_WINDOW_MAX)
		return invalid(p, "window %u is not from 1 to %d", window,
		    PUSHSTAGE_WINDOW_MAX);
	p->window = window;
	p->answer_fn = fn;
	p->answer_arg = arg;
	return PUSHSTAGE_OK;
}

int
pushstage_post(struct pushstage *p, uint64_t *seq)
{
	int	 r;

	if ((r = ready(p, 0)) != 0)
		return r;
	if (p->answering != NULL)
		return invalid(p, "pushstage_post from an answer callback");
	if ((r = psc_post(&p->c, seq)) != 0 || (r = psc_flush(&p->c)) != 0)
		return r;
	while (p->c.nposts > p->window) {
		if ((r = answer(p, 1)) < 0)
			return r;
	}
	return PUSHSTAGE_OK;
}

/* The answers already read, to fn; how many, or < 0. */
int
pushstage_answers(struct pushstage *p)
{
	int	 r, n = 0;

	if ((r = ready(p, 0)) != 0)
		return r;
	while ((r = answer(p, 0)) == 1)
		n++;
	return r < 0 ? r : n;
}

/* Every batch posted answered, to fn. */
int
pushstage_wait(struct pushstage *p)
{
	int	 r;

	if ((r = ready(p, 0)) != 0)
		return r;
	if (p->answering != NULL)
		return invalid(p, "pushstage_wait from an answer callback");
	while (p->c.nposts != 0) {
		if ((r = answer(p, 1)) < 0)
			return r;
	}
	return PUSHSTAGE_OK;
}

size_t
pushstage_posted(const struct pushstage *p)
{
	return p->c.nposts;
}

/* In an answer callback: the i-th event the daemon refused of that batch. */
int
pushstage_refused(const struct pushstage *p, size_t i, const void **data,
    size_t *len)
{
	const void	*key;
	size_t		 klen;
	int		 has;

	return pushstage_refused_key(p, i, &key, &klen, &has, data, len);
}

/* The same, with its key: *has 0 when it has none. */
int
pushstage_refused_key(const struct pushstage *p, size_t i, const void **key,
    size_t *klen, int *has, const void **data, size_t *len)
{
	const struct psc_answer	*a = p->answering;
	struct ps_enqueue_iter	 it;
	struct ps_frame		 f;
	struct ps_queue		 q;
	const uint8_t		*d;
	uint32_t		 n, l, skip;

	if (a == NULL || i >= a->r.refused)
		return PUSHSTAGE_EINVAL;
	ps_frame_parse(a->frame, PS_HDR_LEN + (size_t)get32(a->frame),
	    PS_MAX_FRAME_LIMIT, &f);
	ps_get_enqueue(&f, p->c.version, &q, &it, &n);
	for (skip = n - a->r.refused + (uint32_t)i; skip != 0; skip--)
		ps_enqueue_next(&it, &d, &l);
	ps_enqueue_next(&it, &d, &l);
	*data = d;
	*len = l;
	*key = it.key;
	*klen = it.klen;
	*has = it.key != NULL;
	return PUSHSTAGE_OK;
}

int
pushstage_send(struct pushstage *p, struct pushstage_enqueued *out)
{
	struct ps_enqueued	 e;
	int			 r;

	if ((r = ready(p, 0)) != 0)
		return r;
	if ((r = pushstage_wait(p)) != 0 ||
	    (r = psc_batch_send(&p->c, &e)) != 0)
		return r;
	public_enqueued(&e, out);
	if (e.refused != 0)
		psc_batch_refused(&p->c, e.refused);
	return PUSHSTAGE_OK;
}

void
pushstage_clear(struct pushstage *p)
{
	psc_batch_clear(&p->c);
}

int
pushstage_demand(struct pushstage *p, uint32_t n)
{
	int	 r;

	if ((r = ready(p, 1)) != 0)
		return r;
	if (n == 0 || n > p->win.max)
		return invalid(p, "demand %u: give 1 to max_demand (%u)", n,
		    p->win.max);
	return psc_demand(&p->c, n);
}

/* One frame of ids (a u32 count, u64 each) must fit the frame limit. */
static int
ids_fit(struct pushstage *p, uint8_t type, size_t n)
{
	uint32_t	 most = (p->c.max_frame - 4) / 8;

	if (n > most)
		return invalid(p, "%zu ids in one %s: at most %u", n,
		    ps_type_name(type), most);
	return PUSHSTAGE_OK;
}

/* An ACK, NACK, TOUCH or (with its delay) NACK_LATER of n ids. */
static int
ids(struct pushstage *p, uint8_t type, const uint64_t *v, size_t n,
    uint32_t delay_ms)
{
	int	 r;

	if ((r = ready(p, 1)) != 0)
		return r;
	if (n == 0)
		return PUSHSTAGE_OK;
	if (!pushstage_acks(p))
		return invalid(p, "producerd at %s delivers at most once: "
		    "nothing to %s", p->c.path, ps_type_name(type));
	if (type == PS_NACK_LATER && p->c.version < 3)
		return invalid(p, "producerd at %s speaks protocol version "
		    "%d: a NACK with a delay needs 3", p->c.path, p->c.version);
	if ((r = ids_fit(p, type, n + (type == PS_NACK_LATER))) != 0)
		return r;
	return psc_ids(&p->c, type, v, (uint32_t)n, delay_ms);
}

int
pushstage_ack(struct pushstage *p, const uint64_t *v, size_t n)
{
	return ids(p, PS_ACK, v, n, 0);
}

int
pushstage_nack(struct pushstage *p, const uint64_t *v, size_t n)
{
	return ids(p, PS_NACK, v, n, 0);
}

int
pushstage_nack_later(struct pushstage *p, const uint64_t *v, size_t n,
    uint32_t delay_ms)
{
	return ids(p, PS_NACK_LATER, v, n, delay_ms);
}

/*
 * A NACK with the error the handling met (elen bytes, at most 4096), and
 * the event again after delay_ms, or the queue's retry-backoff with
 * PUSHSTAGE_NACK_BACKOFF, or never with PUSHSTAGE_NACK_DEAD (dead at
 * once, reason rejected).  To a daemon without protocol version 5 the
 * error cannot go: a NACK or NACK_LATER goes alone (a NACK for either
 * of those two: an old daemon cannot give up early).
 */
int
pushstage_nack_error(struct pushstage *p, uint64_t id, uint32_t delay_ms,
    const void *err, size_t elen)
{
	struct ps_nack_error	 n = { id, delay_ms, (uint16_t)elen, err };
	size_t			 room;
	int			 r;

	if ((r = ready(p, 1)) != 0)
		return r;
	if (elen > PS_ERROR_TEXT_MAX)
		return invalid(p, "an error of %zu bytes: at most %d (send "
		    "its end)", elen, PS_ERROR_TEXT_MAX);
	if (err == NULL && elen != 0)
		return invalid(p, "no error, but an error length");
	/* A daemon of a small --max-frame takes its end, as much as fits. */
	room = p->c.max_frame > 14 ? p->c.max_frame - 14 : 0;
	if (elen > room) {
		n.error = (const uint8_t *)err + (elen - room);
		n.error_len = (uint16_t)room;
	}
	if (p->c.version < 5)
		return delay_ms == PUSHSTAGE_NACK_BACKOFF ||
		    delay_ms == PUSHSTAGE_NACK_DEAD ? ids(p, PS_NACK,
		    &id, 1, 0) : ids(p, PS_NACK_LATER, &id, 1, delay_ms);
	if (!pushstage_acks(p))
		return invalid(p, "producerd at %s delivers at most once: "
		    "nothing to NACK", p->c.path);
	return psc_nack_error(&p->c, &n);
}

int
pushstage_ack_result(struct pushstage *p, uint64_t id, const void *result,
    size_t len)
{
	int	 r;

	if ((r = ready(p, 1)) != 0)
		return r;
	if (result == NULL && len != 0)
		return invalid(p, "no result, but a result length");
	if (p->c.version < 5)
		return ids(p, PS_ACK, &id, 1, 0);	/* no results before 5 */
	if (!pushstage_acks(p))
		return invalid(p, "producerd at %s delivers at most once: "
		    "nothing to ACK", p->c.path);
	if (len > p->c.max_frame - 12)
		return invalid(p, "a result of %zu bytes: producerd at %s "
		    "takes frames of at most %u", len, p->c.path,
		    p->c.max_frame);
	return psc_ack_result(&p->c, id, result, (uint32_t)len);
}

int
pushstage_touch(struct pushstage *p, const uint64_t *v, size_t n)
{
	return ids(p, PS_TOUCH, v, n, 0);
}

int
pushstage_flush(struct pushstage *p)
{
	int	 r;

	if ((r = ready(p, -1)) != 0)
		return r;
	return psc_flush(&p->c);
}

uint32_t
pushstage_done(struct pushstage *p)
{
	if (!p->consumer)
		return 0;
	return psc_window_done(&p->win);
}

/* Event ev's headers, if it has some: NULL, or its entry. */
static const struct evhdr *
headers_of(const struct pushstage *p, const struct pushstage_event *ev)
{
	size_t	 i;

	for (i = p->nevh; i-- > 0;) {
		if (p->evh[i].data == ev->data && p->evh[i].id == ev->id)
			return &p->evh[i];
	}
	return NULL;
}

/* Event ev's header name: 1 and its value, or 0 if it has none. */
int
pushstage_event_header(const struct pushstage *p,
    const struct pushstage_event *ev, const char *name, const void **value,
    size_t *vlen)
{
	const struct evhdr	*e = headers_of(p, ev);
	struct ps_header	 h;

	if (e == NULL || name == NULL || !ps_header_find(e->hdr, e->hlen, name,
	    strlen(name), &h))
		return 0;
	*value = h.value;
	*vlen = h.vlen;
	return 1;
}

/* Its i-th header, from 0: 1 and its name and value, or 0 past the last. */
int
pushstage_event_header_at(const struct pushstage *p,
    const struct pushstage_event *ev, size_t i, const char **name,
    size_t *nlen, const void **value, size_t *vlen)
{
	const struct evhdr	*e = headers_of(p, ev);
	struct ps_header	 h;
	uint16_t		 off = 0;
	size_t			 n = 0;

	while (e != NULL && ps_header_next(e->hdr, e->hlen, &off, &h)) {
		if (n++ == i) {
			*name = h.name;
			*nlen = h.nlen;
			*value = h.value;
			*vlen = h.vlen;
			return 1;
		}
	}
	return 0;
}

int
pushstage_read(struct pushstage *p)
{
	int	 r;

	if ((r = ready(p, -1)) != 0)
		return r;
	p->nevh = 0;		/* the events taken so far go */
	return psc_read(&p->c);
}

/* Event e's headers, for pushstage_event_header; -1 out of memory. */
static int
keep_headers(struct pushstage *p, const struct ps_event *e)
{
	struct evhdr	*v;
	size_t		 cap;

	if (p->nevh == p->capevh) {
		cap = p->capevh != 0 ? p->capevh * 2 : 64;
		if ((v = reallocarray(p->evh, cap, sizeof *v)) == NULL)
			return -1;
		p->evh = v;
		p->capevh = cap;
	}
	p->evh[p->nevh++] = (struct evhdr){ e->id, e->data, e->hdr, e->hlen };
	return 0;
}

/* A CANCEL's ids, remembered for pushstage_cancelled. */
static int
take_cancel(struct pushstage *p, const struct ps_frame *f)
{
	struct ps_ids	 ids;
	uint32_t	 i;

	if (ps_get_ids(f, &ids) != 0) {
		snprintf(p->c.err, sizeof p->c.err, "bad CANCEL frame from "
		    "producerd at %s", p->c.path);
		return PUSHSTAGE_EPROTO;
	}
	for (i = 0; i < ids.count; i++)
		p->cancelled[p->ncancelled++ % CANCELLED_KEEP] =
		    ps_ids_at(&ids, i);
	return 0;
}

int
pushstage_cancelled(const struct pushstage *p, uint64_t id)
{
	size_t	 i, n = p->ncancelled < CANCELLED_KEEP ? p->ncancelled :
		    CANCELLED_KEEP;

	for (i = 0; i < n; i++) {
		if (p->cancelled[i] == id && id != 0)
			return 1;
	}
	return 0;
}

static int
take_event(struct pushstage *p, const struct ps_frame *f,
    struct pushstage_event *ev)
{
	struct ps_event	 e;

	if (f->type == PS_CANCEL)
		return take_cancel(p, f);
	if (ps_get_event(f, p->c.welcome.version, &e) != 0) {
		snprintf(p->c.err, sizeof p->c.err, "unexpected %s frame "
		    "from producerd at %s", ps_type_name(f->type), p->c.path);
		return PUSHSTAGE_EPROTO;
	}
	ev->id = e.id;
	ev->attempt = e.attempt;
	ev->len = e.len;
	ev->data = e.data;
	if (e.hlen != 0 && keep_headers(p, &e) != 0) {
		snprintf(p->c.err, sizeof p->c.err, "out of memory");
		return PUSHSTAGE_ENOMEM;
	}
	/* The delivery ends where the bytes read so far end. */
	if (psc_window_received(&p->win, !psc_more(&p->c)) != 0) {
		snprintf(p->c.err, sizeof p->c.err, "out of memory");
		return PUSHSTAGE_ENOMEM;
	}
	return 1;
}

int
pushstage_poll_event(struct pushstage *p, struct pushstage_event *ev)
{
	struct ps_frame	 f;
	int		 r;

	if ((r = ready(p, 1)) != 0)
		return r;
	do {
		if ((r = psc_next(&p->c, &f)) != 1)
			return r;
	} while ((r = take_event(p, &f, ev)) == 0);
	return r;
}

int
pushstage_next_event(struct pushstage *p, struct pushstage_event *ev)
{
	struct ps_frame	 f;
	int		 r;

	if ((r = ready(p, 1)) != 0)
		return r;
	p->nevh = 0;		/* the events taken so far go */
	do {
		if ((r = psc_wait(&p->c, &f)) != 0)
			return r;
	} while ((r = take_event(p, &f, ev)) == 0);
	return r == 1 ? PUSHSTAGE_OK : r;
}

/*
 * The n fields of a reply's entry as the library shows them, into dst
 * (names point into src).
 */
static void
take_fields(struct pushstage_stat *dst, const struct ps_stat *src, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		dst[i].name = src[i].name;
		dst[i].value = src[i].value;
	}
}

/* Point the public structures at the decoded reply. */
static int
publish_stats(struct pushstage *p)
{
	struct ps_stats			*st = &p->st;
	struct pushstage_consumer	*pc;
	size_t				 i, nfields = 0, at = 0;

	for (i = 0; i < st->nconsumers; i++)
		nfields += st->consumers[i].nfields;
	if ((st->ncounters && (p->counters = calloc(st->ncounters,
	    sizeof *p->counters)) == NULL) ||
	    (st->nconsumers && (p->consumers = calloc(st->nconsumers,
	    sizeof *p->consumers)) == NULL) ||
	    (nfields && (p->fields = calloc(nfields,
	    sizeof *p->fields)) == NULL) ||
	    (st->ntexts && (p->texts = calloc(st->ntexts,
	    sizeof *p->texts)) == NULL))
		return PUSHSTAGE_ENOMEM;
	for (i = 0; i < st->ncounters; i++) {
		p->counters[i].name = st->counters[i].name;
		p->counters[i].value = st->counters[i].value;
	}
	for (i = 0; i < st->nconsumers; i++) {
		pc = &p->consumers[i];
		pc->id = st->consumers[i].id;
		pc->nfields = st->consumers[i].nfields;
		pc->fields = p->fields + at;
		take_fields(p->fields + at, st->consumers[i].fields, pc->nfields);
		at += pc->nfields;
	}
	for (i = 0; i < st->ntexts; i++) {
		p->texts[i].name = st->texts[i].name;
		p->texts[i].value = st->texts[i].value;
	}
	p->pub.ncounters = st->ncounters;
	p->pub.counters = p->counters;
	p->pub.nconsumers = st->nconsumers;
	p->pub.consumers = p->consumers;
	p->pub.ntexts = st->ntexts;
	p->pub.texts = p->texts;
	return PUSHSTAGE_OK;
}

static int
stats(struct pushstage *p, const char *queue,
    const struct pushstage_stats **out)
{
	int	 r;

	if ((r = ready(p, -1)) != 0 ||
	    (!p->consumer && (r = pushstage_wait(p)) != 0))
		return r;
	forget_stats(p);
	if ((r = psc_stats(&p->c, queue, &p->st)) != 0)
		return r;
	p->have_st = 1;
	if ((r = publish_stats(p)) != 0) {
		forget_stats(p);
		snprintf(p->c.err, sizeof p->c.err, "out of memory");
		return r;
	}
	*out = &p->pub;
	return PUSHSTAGE_OK;
}

int
pushstage_stats(struct pushstage *p, const struct pushstage_stats **out)
{
	return stats(p, NULL, out);
}

int
pushstage_queue_stats(struct pushstage *p, const char *queue,
    const struct pushstage_stats **out)
{
	if (queue == NULL)
		return invalid(p, "name the queue");
	return stats(p, queue, out);
}

int
pushstage_queues(struct pushstage *p, uint32_t start,
    const struct pushstage_queue **out, size_t *n, uint32_t *total)
{
	size_t	 i, nfields = 0, at = 0;
	int	 r;

	if ((r = ready(p, 0)) != 0 || (r = pushstage_wait(p)) != 0)
		return r;
	forget_queues(p);
	if ((r = psc_queues(&p->c, start, &p->qs)) != 0)
		return r;
	for (i = 0; i < p->qs.count; i++)
		nfields += p->qs.queues[i].nfields;
	if ((p->qs.count && (p->queues = calloc(p->qs.count,
	    sizeof *p->queues)) == NULL) ||
	    (nfields && (p->qfields = calloc(nfields,
	    sizeof *p->qfields)) == NULL)) {
		forget_queues(p);
		snprintf(p->c.err, sizeof p->c.err, "out of memory");
		return PUSHSTAGE_ENOMEM;
	}
	for (i = 0; i < p->qs.count; i++) {
		p->queues[i].name = p->qs.queues[i].name;
		p->queues[i].nfields = p->qs.queues[i].nfields;
		p->queues[i].fields = p->qfields + at;
		take_fields(p->qfields + at, p->qs.queues[i].fields,
		    p->queues[i].nfields);
		at += p->queues[i].nfields;
	}
	*out = p->queues;
	*n = p->qs.count;
	*total = p->qs.total;
	return PUSHSTAGE_OK;
}

int
pushstage_task_stats(struct pushstage *p, const char *queue, uint32_t start,
    const struct pushstage_task **out, size_t *n, uint32_t *total)
{
	size_t	 i, nfields = 0, at = 0;
	int	 r;

	if (queue == NULL)
		return invalid(p, "name the queue");
	if ((r = ready(p, 0)) != 0 || (r = pushstage_wait(p)) != 0)
		return r;
	forget_tasks(p);
	if ((r = psc_task_stats(&p->c, queue, start, &p->ts)) != 0)
		return r;
	for (i = 0; i < p->ts.count; i++)
		nfields += p->ts.tasks[i].nfields;
	if ((p->ts.count && (p->tasks = calloc(p->ts.count,
	    sizeof *p->tasks)) == NULL) ||
	    (nfields && (p->tfields = calloc(nfields,
	    sizeof *p->tfields)) == NULL)) {
		forget_tasks(p);
		snprintf(p->c.err, sizeof p->c.err, "out of memory");
		return PUSHSTAGE_ENOMEM;
	}
	for (i = 0; i < p->ts.count; i++) {
		p->tasks[i].name = p->ts.tasks[i].name;
		p->tasks[i].len = p->ts.tasks[i].nlen;
		p->tasks[i].nfields = p->ts.tasks[i].nfields;
		p->tasks[i].fields = p->tfields + at;
		take_fields(p->tfields + at, p->ts.tasks[i].fields,
		    p->tasks[i].nfields);
		at += p->tasks[i].nfields;
	}
	*out = p->tasks;
	*n = p->ts.count;
	*total = p->ts.total;
	return PUSHSTAGE_OK;
}

static int
queue_admin(struct pushstage *p, uint8_t op, uint8_t flags, const char *queue,
    const char * const *settings, size_t n, uint64_t *count)
{
	uint64_t	 ignored;
	int		 r;

	if ((r = ready(p, 0)) != 0 || (r = pushstage_wait(p)) != 0)
		return r;
	if (queue == NULL)
		return invalid(p, "name the queue");
	if (n > UINT16_MAX)
		return invalid(p, "%zu settings: at most %u at once", n,
		    UINT16_MAX);
	return psc_queue_admin(&p->c, op, flags, queue, settings, (uint16_t)n,
	    count != NULL ? count : &ignored);
}

int
pushstage_queue_create(struct pushstage *p, const char *queue,
    const char * const *settings, size_t n)
{
	return queue_admin(p, PS_QUEUE_CREATE, 0, queue, settings, n, NULL);
}

int
pushstage_queue_set(struct pushstage *p, const char *queue,
    const char * const *settings, size_t n)
{
	if (n == 0)
		return invalid(p, "no settings given");
	return queue_admin(p, PS_QUEUE_SET, 0, queue, settings, n, NULL);
}

int
pushstage_queue_purge(struct pushstage *p, const char *queue,
    uint64_t *purged)
{
	return queue_admin(p, PS_QUEUE_PURGE, 0, queue, NULL, 0, purged);
}

int
pushstage_queue_delete(struct pushstage *p, const char *queue, int force)
{
	return queue_admin(p, PS_QUEUE_DELETE, force ? PS_QUEUE_FORCE : 0,
	    queue, NULL, 0, NULL);
}

int
pushstage_group_drop(struct pushstage *p, const char *queue,
    const char *group, int force)
{
	char	 path[PS_PATH_MAX + 2];

	if (queue == NULL || group == NULL)
		return invalid(p, "name the queue and the group (\"\": the "
		    "shared one)");
	if ((size_t)snprintf(path, sizeof path, "%s/%s", queue, group) >=
	    sizeof path)
		return invalid(p, "queue or group name too long");
	return queue_admin(p, PS_QUEUE_DROP_GROUP, force ? PS_QUEUE_FORCE :
	    0, path, NULL, 0, NULL);
}

int
pushstage_stat(const struct pushstage_stat *v, size_t n, const char *name,
    uint64_t *value)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) == 0) {
			*value = v[i].value;
			return 0;
		}
	}
	return -1;
}

/* A client's request with a payload preview, once its batches are in. */
static int
ready_preview(struct pushstage *p, uint32_t preview)
{
	int	 error;

	if ((error = ready(p, 0)) != 0 || (error = pushstage_wait(p)) != 0)
		return error;
	if (preview > PS_PREVIEW_MAX)
		return invalid(p, "preview %u: at most %d bytes", preview,
		    PS_PREVIEW_MAX);
	return PUSHSTAGE_OK;
}

int
pushstage_dead_list(struct pushstage *p, uint32_t preview,
    const struct pushstage_dead **out, size_t *n, uint32_t *total)
{
	struct ps_dead_reply	 r, walk;
	struct ps_dead		 d;
	size_t			 i = 0, bytes = 0;
	uint8_t			*at;
	int			 error;

	if ((error = ready_preview(p, preview)) != 0)
		return error;
	if ((error = psc_dead_list(&p->c, preview, &r)) != 0)
		return error;
	free(p->dead);
	free(p->previews);
	p->dead = NULL;
	p->previews = NULL;
	walk = r;
	while (ps_dead_next(&walk, &d))
		bytes += d.preview_len + (size_t)d.error_len;
	free(p->dead_err);
	p->dead_err = NULL;
	p->ndead = 0;
	if ((r.count != 0 && ((p->dead = calloc(r.count,
	    sizeof *p->dead)) == NULL || (p->dead_err = calloc(r.count,
	    sizeof *p->dead_err)) == NULL)) ||
	    (bytes != 0 && (p->previews = malloc(bytes)) == NULL)) {
		snprintf(p->c.err, sizeof p->c.err, "out of memory");
		return PUSHSTAGE_ENOMEM;
	}
	at = p->previews;
	while (ps_dead_next(&r, &d)) {
		p->dead[i].id = d.id;
		p->dead[i].attempts = d.attempts;
		p->dead[i].reason = d.reason;
		p->dead[i].len = d.len;
		p->dead[i].preview_len = d.preview_len;
		p->dead[i].preview = at;
		if (d.preview_len != 0)
			memcpy(at, d.preview, d.preview_len);
		at += d.preview_len;
		p->dead_err[i].len = d.error_len;
		p->dead_err[i].p = d.error_len != 0 ? at : NULL;
		if (d.error_len != 0)
			memcpy(at, d.error, d.error_len);
		at += d.error_len;
		i++;
	}
	*out = p->dead;
	*n = p->ndead = i;
	*total = r.total;
	return PUSHSTAGE_OK;
}

int
pushstage_dead_error(const struct pushstage *p, size_t i, const void **error,
    size_t *len)
{
	if (i >= p->ndead || p->dead_err[i].len == 0)
		return 0;
	*error = p->dead_err[i].p;
	*len = p->dead_err[i].len;
	return 1;
}

static int
dead_act(struct pushstage *p, uint8_t type, const uint64_t *v, size_t n,
    uint32_t *found)
{
	int	 r;

	if ((r = ready(p, 0)) != 0 || (r = ids_fit(p, type, n)) != 0 ||
	    (r = pushstage_wait(p)) != 0)
		return r;
	return psc_dead_act(&p->c, type, v, (uint32_t)n, found);
}

int
pushstage_dead_retry(struct pushstage *p, const uint64_t *v, size_t n,
    uint32_t *found)
{
	return dead_act(p, PS_DEAD_RETRY, v, n, found);
}

int
pushstage_dead_drop(struct pushstage *p, const uint64_t *v, size_t n,
    uint32_t *found)
{
	return dead_act(p, PS_DEAD_DROP, v, n, found);
}

int
pushstage_job_cancel(struct pushstage *p, const uint64_t *ids, size_t n,
    const void *uid, size_t ulen, struct pushstage_cancel *out)
{
	struct ps_cancel_reply	 r;
	uint32_t		 i;
	uint8_t			 how;
	int			 error;

	if ((error = ready(p, -1)) != 0)
		return error;
	if ((n == 0) == (ulen == 0) || ulen > PS_UNIQUE_ID_MAX ||
	    (ulen != 0 && uid == NULL) || (n != 0 && ids == NULL) ||
	    n > UINT32_MAX / 16)
		return invalid(p, "ids to cancel, or a unique id of 1 to %d "
		    "bytes, one of the two", PS_UNIQUE_ID_MAX);
	if (n > p->c.max_frame / 9)
		return invalid(p, "%zu ids to cancel: producerd at %s takes at "
		    "most %u in one (the reply must fit a frame)", n, p->c.path,
		    p->c.max_frame / 9);
	if ((error = psc_job_cancel(&p->c, ids, (uint32_t)n, uid,
	    (uint8_t)ulen, &r)) != 0)
		return error;
	for (i = 0; out != NULL && i < r.count; i++) {
		ps_cancel_reply_at(&r, i, &out[i].id, &how);
		out[i].outcome = how;
	}
	return PUSHSTAGE_OK;
}

int
pushstage_job_wait(struct pushstage *p, uint64_t id, const void *uid,
    size_t ulen, uint32_t timeout_ms, struct pushstage_wait *out)
{
	struct ps_wait_reply	 r;
	int			 error;

	if ((error = ready(p, -1)) != 0)
		return error;
	if ((id == 0) != (ulen != 0) || ulen > PS_UNIQUE_ID_MAX ||
	    (ulen != 0 && uid == NULL))
		return invalid(p, "an event by its id, or (id 0) by a unique "
		    "id of 1 to %d bytes", PS_UNIQUE_ID_MAX);
	if ((error = psc_wait_job(&p->c, id, uid, (uint8_t)ulen, timeout_ms,
	    &r)) != 0)
		return error;
	memset(out, 0, sizeof *out);
	out->id = r.id;
	out->state = r.state;
	out->state_name = pushstage_job_state_name(r.state);
	out->timed_out = r.timed_out;
	out->reason = r.reason;
	out->at_ms = r.at;
	out->attempts = r.attempts;
	out->data = r.data;
	out->len = r.len;
	return PUSHSTAGE_OK;
}

int
pushstage_jobs(struct pushstage *p, const struct pushstage_jobs_ask *ja,
    const struct pushstage_listed **out, size_t *n,
    unsigned char next[PUSHSTAGE_CURSOR_LEN], int *more)
{
	struct ps_jobs_ask	 a;
	struct ps_jobs_reply	 r;
	struct ps_jobs_entry	 e;
	struct pushstage_listed	*v;
	size_t			 i;
	int			 error;

	if ((error = ready(p, -1)) != 0)
		return error;
	if (ja->limit == 0 || ja->limit > PS_JOBS_LIMIT_MAX ||
	    ja->preview > PS_PREVIEW_MAX || (ja->has_key && (ja->key_len >
	    PS_KEY_MAX || (ja->key == NULL && ja->key_len != 0))) ||
	    (ja->header != NULL && (strlen(ja->header) == 0 ||
	    strlen(ja->header) > PS_HEADER_NAME_MAX ||
	    ja->value_len > PS_HEADER_VALUE_MAX)) ||
	    (ja->has_key && ja->header != NULL))
		return invalid(p, "a page of 1 to %d events, a preview of at "
		    "most %d, and a key or a header (not both)",
		    PS_JOBS_LIMIT_MAX, PS_PREVIEW_MAX);
	memset(&a, 0, sizeof a);
	a.state = (uint8_t)ja->state;
	a.limit = (uint16_t)ja->limit;
	a.preview = (uint16_t)ja->preview;
	if (ja->cursor != NULL) {
		for (i = 0; i < 8; i++) {
			a.after = a.after << 8 | ja->cursor[i];
			a.tag = a.tag << 8 | ja->cursor[8 + i];
		}
	}
	if (ja->has_key) {
		a.filter = PS_FILTER_KEY;
		a.key = ja->key;
		a.klen = (uint8_t)ja->key_len;
	} else if (ja->header != NULL) {
		a.filter = PS_FILTER_HEADER;
		a.hname = (const uint8_t *)ja->header;
		a.hnlen = (uint8_t)strlen(ja->header);
		a.hval = ja->value;
		a.hvlen = (uint16_t)ja->value_len;
	}
	if ((error = psc_jobs(&p->c, &a, &r)) != 0)
		return error;
	if (r.count > p->caplisted) {
		if ((v = reallocarray(p->listed, r.count, sizeof *v)) == NULL) {
			snprintf(p->c.err, sizeof p->c.err, "out of memory");
			return PUSHSTAGE_ENOMEM;
		}
		p->listed = v;
		p->caplisted = r.count;
	}
	for (i = 0; i < r.count && ps_jobs_next(&r, &e) == 1; i++) {
		v = &p->listed[i];
		memset(v, 0, sizeof *v);
		v->id = e.id;
		v->state = e.state;
		v->state_name = ps_job_state_name(e.state);
		v->reason = e.reason;
		v->attempts = e.attempts;
		v->at_ms = e.at;
		v->len = e.len;
		v->preview = e.preview;
		v->preview_len = e.preview_len;
		if (e.klen >= 0) {
			v->key = e.key;
			v->key_len = (size_t)e.klen;
		}
	}
	*out = p->listed;
	*n = i;
	*more = r.after != 0 || r.tag != 0;
	for (i = 0; i < 8; i++) {
		next[i] = (unsigned char)(r.after >> (56 - 8 * i));
		next[8 + i] = (unsigned char)(r.tag >> (56 - 8 * i));
	}
	return PUSHSTAGE_OK;
}

const char *
pushstage_cancel_outcome_name(int outcome)
{
	return ps_cancel_outcome_name(outcome);
}

const char *
pushstage_job_state_name(int state)
{
	return ps_job_state_name(state);
}

int
pushstage_job(struct pushstage *p, uint64_t id, const void *uid, size_t ulen,
    uint32_t preview, const struct pushstage_job **out)
{
	struct pushstage_job	*j = &p->job;
	struct ps_job		 r;
	struct ps_header	 h;
	struct ps_failure	 f;
	const uint8_t		*fp;
	uint16_t		 off = 0;
	size_t			 i;
	int			 error;

	if ((error = ready_preview(p, preview)) != 0)
		return error;
	if ((id == 0) != (ulen != 0) || ulen > PS_UNIQUE_ID_MAX ||
	    (ulen != 0 && uid == NULL))
		return invalid(p, "an event by its id, or (id 0) by a unique "
		    "id of 1 to %d bytes", PS_UNIQUE_ID_MAX);
	if ((error = psc_job(&p->c, id, uid, (uint8_t)ulen, (uint16_t)preview,
	    &r)) != 0)
		return error;
	memset(j, 0, sizeof *j);
	j->id = r.id;
	j->state = r.state;
	j->state_name = pushstage_job_state_name(r.state);
	j->reason = r.reason;
	j->attempts = r.attempts;
	j->at_ms = r.at;
	j->priority = r.priority;
	j->len = r.len;
	j->preview = r.preview;
	j->preview_len = r.preview_len;
	j->consumer = r.clen != 0 ? r.consumer : NULL;
	j->consumer_len = r.clen;
	if (r.klen >= 0) {
		j->key = r.key;
		j->key_len = (size_t)r.klen;
	}
	for (i = 0; i < PS_HEADERS_MAX && ps_header_next(r.hdr, r.hlen, &off,
	    &h); i++)
		p->jhdr[i] = (struct pushstage_header){ h.name, h.nlen,
		    h.value, h.vlen };
	j->headers = p->jhdr;
	j->nheaders = i;
	for (i = 0, fp = r.fail; i < r.nfail && i < JOB_FAILURES_MAX; i++) {
		fp = ps_failure_get(fp, &f);
		p->jfail[i] = (struct pushstage_failure){ f.at, f.attempt,
		    f.who, f.wlen, f.err, f.elen };
	}
	j->failures = p->jfail;
	j->nfailures = i;
	if (r.state == PUSHSTAGE_JOB_DONE) {
		j->result = r.result;
		j->result_len = r.rlen;
	}
	*out = j;
	return PUSHSTAGE_OK;
}

/*
 * A SCHEDULE_REPLY's entries, copied into the handle: the frame they
 * point into is gone at the next read, and a caller pages through a list
 * with more calls.  Counted first, then copied, so that one allocation
 * holds the bytes and no pointer into it moves.
 */
static int
keep_schedules(struct pushstage *p, const struct ps_schedule_reply *reply)
{
	struct ps_schedule_reply	 r;
	struct ps_schedule_entry	 e;
	struct ps_attrs			 a;
	struct ps_header		 h;
	struct pushstage_schedule	*s;
	struct pushstage_text		*t;
	const uint8_t			*fp;
	const char			*kv, *why;
	char				 whybuf[PS_WHY_MAX], *b, *eq;
	size_t				 bytes = 0, nfields = 0, nhdrs = 0, l;
	size_t				 i, fi = 0, hi = 0;
	uint16_t			 nf, off;
	int				 error;

	forget_schedules(p);
	r = *reply;
	while ((error = ps_schedule_reply_next(&r, &e)) == 1) {
		if (ps_get_attrs(e.attrs, e.alen, 5, &a, &why, whybuf) != 0)
			return fail_proto(p, "bad SCHEDULE_REPLY from producerd "
			    "at %s: schedule %.*s: %s", p->c.path,
			    (int)e.name_len, e.name, why);
		bytes += (size_t)e.name_len + 1 + e.queue.len + 1 + e.alen +
		    e.len;
		for (fp = e.fields, nf = e.nfields; ps_kv_next(&fp, &nf, &kv,
		    &l); )
			bytes += l + 1;
		nfields += e.nfields;
		for (off = 0; ps_header_next(a.hdr, a.hlen, &off, &h); )
			nhdrs++;
	}
	if (error < 0)
		return fail_proto(p, "bad SCHEDULE_REPLY from producerd at %s: "
		    "%s", p->c.path, ps_strerror(error));
	if ((reply->count != 0 && (p->sched = calloc(reply->count,
	    sizeof *p->sched)) == NULL) ||
	    (nfields != 0 && (p->sfields = calloc(nfields,
	    sizeof *p->sfields)) == NULL) ||
	    (nhdrs != 0 && (p->shdrs = calloc(nhdrs,
	    sizeof *p->shdrs)) == NULL) ||
	    (p->sbytes = malloc(bytes != 0 ? bytes : 1)) == NULL) {
		forget_schedules(p);
		snprintf(p->c.err, sizeof p->c.err, "out of memory");
		return PUSHSTAGE_ENOMEM;
	}
	r = *reply;
	b = p->sbytes;
	for (i = 0; ps_schedule_reply_next(&r, &e) == 1; i++) {
		s = &p->sched[i];
		memcpy(b, e.name, e.name_len);
		b[e.name_len] = '\0';
		s->name = b;
		b += e.name_len + 1;
		memcpy(b, e.queue.name, e.queue.len);
		b[e.queue.len] = '\0';
		s->queue = b;
		b += e.queue.len + 1;
		s->fields = p->sfields + fi;
		for (fp = e.fields, nf = e.nfields; ps_kv_next(&fp, &nf, &kv,
		    &l); ) {
			/* KEY=VALUE becomes KEY NUL VALUE NUL. */
			memcpy(b, kv, l);
			b[l] = '\0';
			t = &p->sfields[fi++];
			t->name = b;
			t->value = b + l;
			if ((eq = memchr(b, '=', l)) != NULL) {
				*eq = '\0';
				t->value = eq + 1;
			}
			b += l + 1;
			s->nfields++;
		}
		if (e.alen != 0)
			memcpy(b, e.attrs, e.alen);
		(void)ps_get_attrs((const uint8_t *)b, e.alen, 5, &a, &why,
		    whybuf);
		b += e.alen;
		if (a.key != NULL) {
			s->key = a.key;
			s->key_len = a.klen;
		}
		s->priority = a.priority;
		s->headers = p->shdrs + hi;
		for (off = 0; ps_header_next(a.hdr, a.hlen, &off, &h); ) {
			p->shdrs[hi++] = (struct pushstage_header){ h.name,
			    h.nlen, h.value, h.vlen };
			s->nheaders++;
		}
		if (e.len != 0)
			memcpy(b, e.data, e.len);
		s->data = b;
		s->len = e.len;
		b += e.len;
	}
	p->nsched = reply->count;
	return PUSHSTAGE_OK;
}

/* A schedule call's checks: connected as a client, the name a name. */
static int
schedule_ready(struct pushstage *p, const char *name)
{
	int	 r;

	if ((r = ready(p, 0)) != 0 || (r = pushstage_wait(p)) != 0)
		return r;
	if (name == NULL || !ps_queue_name_ok(name, strlen(name)))
		return invalid(p, "schedule name \"%.64s\" is not 1 to %d bytes "
		    "of A-Z a-z 0-9 . _ : -", name != NULL ? name : "",
		    PS_SCHED_NAME_MAX);
	return PUSHSTAGE_OK;
}

/* The one schedule an op but LIST of all answers with. */
static int
schedule_one(struct pushstage *p, const struct ps_schedule_reply *r,
    const struct pushstage_schedule **out)
{
	int	 error;

	if ((error = keep_schedules(p, r)) != 0)
		return error;
	if (p->nsched != 1)
		return fail_proto(p, "producerd at %s answered SCHEDULE with "
		    "%zu schedules, not 1", p->c.path, p->nsched);
	if (out != NULL)
		*out = p->sched;
	return PUSHSTAGE_OK;
}

static int
schedule_op(struct pushstage *p, uint8_t op, const char *name,
    const struct pushstage_schedule **out)
{
	struct ps_schedule_reply	 r;
	int				 error;

	if ((error = schedule_ready(p, name)) != 0 ||
	    (error = psc_schedule(&p->c, op, name, 0, &r)) != 0)
		return error;
	return schedule_one(p, &r, out);
}

int
pushstage_schedule_add(struct pushstage *p, const char *name,
    const char *queue, int flags, const char * const *settings, size_t n,
    const struct pushstage_attrs *pa, const void *data, size_t len,
    const struct pushstage_schedule **out)
{
	struct ps_schedule_reply	 r;
	struct ps_attrs			 a;
	size_t				 i;
	int				 error;

	if ((error = schedule_ready(p, name)) != 0)
		return error;
	if (queue == NULL || !ps_queue_name_ok(queue, strlen(queue)))
		return invalid(p, "schedule %s: queue name \"%.64s\" is not 1 "
		    "to %d bytes of A-Z a-z 0-9 . _ : - (a queue, not a "
		    "group)", name, queue != NULL ? queue : "", PS_QUEUE_MAX);
	if ((flags & ~PUSHSTAGE_SCHEDULE_REPLACE) != 0)
		return invalid(p, "schedule %s: flags 0x%x: only "
		    "PUSHSTAGE_SCHEDULE_REPLACE", name, (unsigned)flags);
	if (n > UINT16_MAX || (n != 0 && settings == NULL))
		return invalid(p, "schedule %s: %zu settings", name, n);
	for (i = 0; i < n; i++) {
		if (settings[i] == NULL || strlen(settings[i]) >
		    PS_SCHED_FIELD_MAX)
			return invalid(p, "schedule %s: setting %zu (%.24s...) "
			    "is over %d bytes", name, i + 1, settings[i] != NULL ?
			    settings[i] : "NULL", PS_SCHED_FIELD_MAX);
	}
	if (len > UINT32_MAX || (data == NULL && len != 0))
		return invalid(p, "schedule %s: a payload of %zu bytes, at %s",
		    name, len, data == NULL ? "NULL" : "its address");
	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	if (pa != NULL) {
		if (pa->delay_ms != 0 || pa->not_before_ms != 0 ||
		    pa->unique_id != NULL)
			return invalid(p, "schedule %s: its event takes a key "
			    "and a priority; the daemon gives the time and "
			    "unique id of each tick's", name);
		if (pa->key != NULL) {
			if (pa->klen > PUSHSTAGE_KEY_MAX)
				return invalid(p, "schedule %s: a key of %zu "
				    "bytes: at most %d", name, pa->klen,
				    PUSHSTAGE_KEY_MAX);
			a.key = pa->key;
			a.klen = (uint8_t)pa->klen;
		}
		if (pa->priority < -1 || pa->priority > 65535)
			return invalid(p, "schedule %s: priority %ld: 0 to "
			    "65535, or -1 for the default", name,
			    (long)pa->priority);
		if (pa->priority >= 0)
			a.priority = (uint16_t)pa->priority;
	}
	a.hdr = p->hdrs.data;
	a.hlen = (uint16_t)p->hdrs.len;
	if ((error = psc_schedule_add(&p->c, (uint8_t)flags, name, queue,
	    settings, (uint16_t)n, &a, data, (uint32_t)len, &r)) != 0)
		return error;
	/* Taken, as an event added takes them. */
	pushstage_headers_clear(p);
	return schedule_one(p, &r, out);
}

int
pushstage_schedule_remove(struct pushstage *p, const char *name,
    const struct pushstage_schedule **out)
{
	return schedule_op(p, PS_SCHED_REMOVE, name, out);
}

int
pushstage_schedule_pause(struct pushstage *p, const char *name,
    const struct pushstage_schedule **out)
{
	return schedule_op(p, PS_SCHED_PAUSE, name, out);
}

int
pushstage_schedule_resume(struct pushstage *p, const char *name,
    const struct pushstage_schedule **out)
{
	return schedule_op(p, PS_SCHED_RESUME, name, out);
}

int
pushstage_schedule_get(struct pushstage *p, const char *name,
    const struct pushstage_schedule **out)
{
	return schedule_op(p, PS_SCHED_LIST, name, out);
}

int
pushstage_schedule_run_now(struct pushstage *p, const char *name,
    uint64_t *id, const struct pushstage_schedule **out)
{
	const struct pushstage_schedule	*s = NULL;
	const char			*v;
	char				*end;
	unsigned long long		 n;
	int				 error;

	if ((error = schedule_op(p, PS_SCHED_RUN_NOW, name, &s)) != 0)
		return error;
	if ((v = pushstage_schedule_field(s, "enqueued")) == NULL ||
	    *v < '0' || *v > '9' || (n = strtoull(v, &end, 10),
	    *end != '\0'))
		return fail_proto(p, "producerd at %s answered RUN_NOW of %s "
		    "without the id it enqueued", p->c.path, name);
	if (id != NULL)
		*id = n;
	if (out != NULL)
		*out = s;
	return PUSHSTAGE_OK;
}

int
pushstage_schedules(struct pushstage *p, uint32_t start,
    const struct pushstage_schedule **out, size_t *n, uint32_t *total)
{
	struct ps_schedule_reply	 r;
	int				 error;

	if ((error = ready(p, 0)) != 0 || (error = pushstage_wait(p)) != 0 ||
	    (error = psc_schedule(&p->c, PS_SCHED_LIST, NULL, start,
	    &r)) != 0 || (error = keep_schedules(p, &r)) != 0)
		return error;
	/* Past the end the daemon sends none; short of it, at least one. */
	if (p->nsched == 0 && start < r.total)
		return fail_proto(p, "producerd at %s listed no schedule from "
		    "%u of %u", p->c.path, start, r.total);
	*out = p->sched;
	*n = p->nsched;
	*total = r.total;
	return PUSHSTAGE_OK;
}

const char *
pushstage_schedule_field(const struct pushstage_schedule *s, const char *key)
{
	size_t	 i;

	for (i = 0; i < s->nfields; i++) {
		if (strcmp(s->fields[i].name, key) == 0)
			return s->fields[i].value;
	}
	return NULL;
}
