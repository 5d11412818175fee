/*
 * schedules.c: the daemon's side of schedules (docs/scheduling.md).
 * periodic.c decides which ticks fire; this file fires them (an ENQUEUE
 * through the backend, as a client's would be, with the unique id
 * "schedule:NAME@TICK"), loads their zones from the system's tz database,
 * answers SCHEDULE for every door (the wire and HTTP), and keeps them in
 * DIR/schedules: a log of records (a definition, a removal, a schedule's
 * progress) written at the end of each loop iteration after the journal,
 * so that a tick's progress is never on disk before its event, and
 * rewritten whole when it has grown past twice what it holds.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bytes.h"
#include "clock.h"
#include "crc32c.h"
#include "fdio.h"
#include "producerd.h"
#include "tzfile.h"

#define SCHED_FILE	"schedules"
#define SCHED_MAGIC	"pushschd"
#define SCHED_VERSION	1
#define SCHED_HEAD	16		/* magic, u32 version, u32 0 */
#define SREC_HEAD	9		/* u32 len, u32 crc, u8 type */
#define SREC_MAX	(4u << 20)	/* a record's body at most */
#define SCHED_SLACK	(1u << 20)	/* the log may pass 2 x live by */
#define TZDIR_DEFAULT	"/usr/share/zoneinfo"
#define UID_PREFIX	"schedule:"
#define ENQ_LATER_ID	UINT64_MAX	/* taken; its id comes later */
#define SCHED_BATCH	4096		/* schedules a timer's turn handles */
/*
 * What a schedule's event may not use of a frame: a tick's ENQUEUE adds
 * the queue, a unique id and two headers (under 300 bytes), an entry of
 * SCHEDULE_REPLY the name, queue and fields (under 700).
 */
#define SCHED_FRAME_ROOM 1024

enum { SREC_DEF = 1, SREC_GONE = 2, SREC_TICK = 3 };

/* A zone loaded once, shared by every schedule in it, kept till exit. */
struct zone {
	struct zone	*next;
	struct tzfile	*tz;
	char		 name[];
};

static void	sched_cb(evutil_socket_t, short, void *);

/*
 * A tick not taken, said at most once a second with how many were not
 * said since: 100,000 schedules into a full queue are one line, not
 * 100,000.
 */
static void __attribute__((format(printf, 2, 3)))
tick_warn(struct server *srv, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[512];

	if (!log_throttle(&srv->sched_log, time(NULL)))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (srv->sched_log.held != 0)
		log_warnx("%s (and %llu more ticks not taken)", line,
		    (unsigned long long)srv->sched_log.held);
	else
		log_warnx("%s", line);
	srv->sched_log.held = 0;
}

/* A tick's ENQUEUE answered later (a cluster): only its refusal logged. */
static void
door_sent(void *arg)
{
	(void)arg;
}

static void
door_answer(void *arg, struct ps_enqueued *r)
{
	if (r->accepted == 0 && r->duplicates == 0)
		tick_warn(arg, "schedule: a tick's event was not taken "
		    "(queue full)");
}

static void
door_refuse(void *arg, int code, const char *why)
{
	tick_warn(arg, "schedule: a tick's event was refused: %s (%s)", why,
	    ps_strerror(code));
}

static void
door_resume(void *arg)
{
	(void)arg;
}

static const char *
door_who(void *arg)
{
	(void)arg;
	return "a schedule";
}

static const struct enq_door sched_door = {
	door_sent, door_answer, door_refuse, door_resume, door_who
};

/* The zone of that name, loaded once; NULL and why if it cannot be. */
static const struct tzfile *
zone_get(struct server *srv, const char *name, size_t len, char *why,
    size_t wlen)
{
	struct zone	*z;
	const char	*dir;
	char		 n[256], err[200] = "";

	if (len == 0 || len >= sizeof n) {
		snprintf(why, wlen, "tz: a zone's name is 1 to 255 bytes");
		return NULL;
	}
	memcpy(n, name, len);
	n[len] = '\0';
	for (z = srv->zones; z != NULL; z = z->next) {
		if (strcmp(z->name, n) == 0)
			return z->tz;
	}
	if ((z = malloc(sizeof *z + len + 1)) == NULL) {
		snprintf(why, wlen, "tz: out of memory");
		return NULL;
	}
	memcpy(z->name, n, len + 1);
	if ((dir = getenv("TZDIR")) == NULL || *dir == '\0')
		dir = TZDIR_DEFAULT;
	if (strcmp(n, "UTC") == 0)
		z->tz = tzfile_utc();
	else if (tzfile_name_check(n, err, sizeof err) != 0) {
		snprintf(why, wlen, "tz: %.200s", err);
		free(z);
		return NULL;
	} else
		z->tz = tzfile_load(dir, n, err, sizeof err);
	if (z->tz == NULL) {
		snprintf(why, wlen, "tz: unknown time zone \"%.64s\" (%.150s)", n,
		    err);
		free(z);
		return NULL;
	}
	z->next = srv->zones;
	srv->zones = z;
	return z->tz;
}

/* Is the event of id still waiting, delayed or in flight in q? */
static int
live(struct nqueue *q, uint64_t id)
{
	struct qgroup	*g;
	struct djob	 dj;
	int		 st;

	TAILQ_FOREACH(g, &q->groups, entry) {
		st = dispatch_find(&g->d, id, &dj);
		if (st != DJOB_UNKNOWN && st != DJOB_DEAD && st != DJOB_DONE &&
		    st != DJOB_ENDED && st != DJOB_CANCELLED)
			return 1;
	}
	return 0;
}

/*
 * s's event for tick (ms) into its queue as an ENQUEUE of one: with its
 * unique id (none for a RUN_NOW) and the headers pushstage-schedule and
 * pushstage-tick after its own.  Its id, or 0 if the queue did not take
 * it (logged); ENQ_LATER_ID for a cluster's, answered later.
 */
static uint64_t
enqueue(struct server *srv, struct schedule *s, uint64_t tick, int now)
{
	struct ps_buf		*b = &srv->sched_frame, *h = &srv->sched_hdr;
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_attrs		 a;
	struct ps_queue		 pq;
	struct ps_frame		 f;
	struct nqueue		*q;
	struct enq		 e;
	const uint8_t		*ev = SCHED_EVENT(s);
	const char		*w = NULL;
	char			 uid[PS_UNIQUE_ID_MAX + 1], t[24], why[256];
	char			 wbuf[PS_WHY_MAX];
	size_t			 start;
	uint32_t		 len = get32(ev);
	uint16_t		 alen = get16(ev + 4);
	int			 code, n;

	if ((q = queues_get(srv, SCHED_QUEUE(s), s->qlen, &code, why,
	    sizeof why)) == NULL) {
		tick_warn(srv, "schedule %s: %s", SCHED_NAME(s), why);
		return 0;
	}
	if (ps_get_attrs(ev + 6, alen, 5, &a, &w, wbuf) != 0)
		return 0;	/* checked when it was added */
	n = snprintf(t, sizeof t, "%" PRIu64, tick);
	h->len = 0;
	if ((a.hlen != 0 && ps_buf_add(h, a.hdr, a.hlen) != 0) ||
	    ps_put_header(h, "pushstage-schedule", 18, SCHED_NAME(s),
	    s->nlen) != 0 || ps_put_header(h, "pushstage-tick", 14, t,
	    (size_t)n) != 0)
		goto nomem;
	a.hdr = h->data;
	a.hlen = (uint16_t)h->len;
	if (!now) {
		n = snprintf(uid, sizeof uid, UID_PREFIX "%s@%s",
		    SCHED_NAME(s), t);
		a.uid = (const uint8_t *)uid;
		a.ulen = (uint8_t)n;
	}
	b->len = 0;
	if (ps_put_enqueue_begin(b, 5, SCHED_QUEUE(s), s->qlen, &start) != 0 ||
	    ps_put_enqueue_add_attrs(b, &a, ev + 6 + alen, len) != 0)
		goto nomem;
	ps_put_enqueue_attrs(b, start);
	ps_put_enqueue_end(b, start, 1);
	f.type = PS_ENQUEUE;
	f.flags = PS_F_ATTRS;
	f.len = (uint32_t)(b->len - start - PS_HDR_LEN);
	f.body = b->data + start + PS_HDR_LEN;
	if (ps_get_enqueue_why(&f, 5, &pq, &it, &it.left, why) != 0) {
		tick_warn(srv, "schedule %s: its event is refused: %s",
		    SCHED_NAME(s), it.why != NULL ? it.why : why);
		return 0;
	}
	memset(&r, 0, sizeof r);
	srv->sched_dups.len = 0;
	r.dups = &srv->sched_dups;
	memset(&e, 0, sizeof e);
	e.q = q;
	e.it = &it;
	e.r = &r;
	e.door = &sched_door;
	e.arg = srv;
	queues_touch(q);
	switch (srv->backend->enqueue(srv, &e)) {
	case ENQ_ANSWERED:
		if (r.accepted == 1)
			return r.first_id;
		if (r.duplicates == 0)
			tick_warn(srv, "schedule %s: tick %s not taken: queue "
			    "%s is full", SCHED_NAME(s), t, q->name);
		return 0;
	case ENQ_LATER:
		return ENQ_LATER_ID;
	case ENQ_FAILED:
		tick_warn(srv, "schedule %s: tick %s not taken: %s",
		    SCHED_NAME(s), t, e.why);
		return 0;
	case ENQ_HELD:
		tick_warn(srv, "schedule %s: tick %s not taken: queue %s's "
		    "stream is not there yet", SCHED_NAME(s), t, q->name);
		return 0;
	default:
		tick_warn(srv, "schedule %s: tick %s not taken: queue %s is "
		    "full (overflow block)", SCHED_NAME(s), t, q->name);
		return 0;
	}
nomem:
	tick_warn(srv, "schedule %s: out of memory for tick %s",
	    SCHED_NAME(s), t);
	return 0;
}

/* periodic's fire: 1 if the tick's event was taken. */
static int
fire(void *arg, struct schedule *s, uint64_t tick)
{
	struct server	*srv = arg;
	struct nqueue	*q;
	uint64_t	 id;

	if (s->unique && s->last_id != 0 && (q = queues_find(srv,
	    SCHED_QUEUE(s), s->qlen)) != NULL && live(q, s->last_id))
		return 0;
	if ((id = enqueue(srv, s, tick, 0)) == 0)
		return 0;
	s->last_id = id != ENQ_LATER_ID ? id : 0;
	return 1;
}

/* A record onto what the end of this iteration writes. */
static int
srec(struct server *srv, uint8_t type, const void *body, size_t len)
{
	struct ps_buf	*b = &srv->sched_out;
	uint8_t		 h[SREC_HEAD];
	uint32_t	 crc;

	if (srv->data_dir == NULL)
		return 0;
	h[8] = type;
	crc = crc32c(crc32c(0, h + 8, 1), body, len);
	put32(h, (uint32_t)len + 1);
	put32(h + 4, crc);
	if (ps_buf_add(b, h, sizeof h) != 0 || ps_buf_add(b, body, len) != 0)
		return -1;
	server_wake(srv);
	return 0;
}

/*
 * s's fields, "KEY=VALUE", into text (n of them): its definition and
 * progress; for a reply its next ticks too, and enqueued (RUN_NOW); for
 * DIR/schedules the instant its ticks are due after.
 */
#define FIELDS_MAX	16
static uint16_t
fields(const struct schedule *s, char rule[PS_SCHED_FIELD_MAX + 1],
    char text[FIELDS_MAX][300], const char *f[FIELDS_MAX], int file,
    const uint64_t *enqueued)
{
	static const char *catchups[] = { "none", "last", "all" };
	uint64_t	 up[PERIODIC_NEXT];
	size_t		 i, nup, k;
	uint16_t	 n = 0;

#define FIELD(...) do {							\
	snprintf(text[n], sizeof text[n], __VA_ARGS__);			\
	f[n] = text[n];							\
	n++;								\
} while (0)
	/* The rule, a setting as it came (up to its 1024 bytes). */
	snprintf(rule, PS_SCHED_FIELD_MAX + 1, "%s=%s", s->kind == RULE_CRON ?
	    "cron" : "every", SCHED_RULE(s));
	f[n++] = rule;
	if (s->tzlen != 0)
		FIELD("tz=%s", SCHED_TZ(s));
	FIELD("catch-up=%s", catchups[s->catchup]);
	FIELD("unique=%s", s->unique ? "yes" : "no");
	FIELD("paused=%s", s->paused ? "yes" : "no");
	FIELD("created=%" PRIu64, s->created);
	FIELD("last=%" PRIu64, s->last);
	FIELD("last-id=%" PRIu64, s->last_id);
	FIELD("fired=%" PRIu64, s->fired);
	FIELD("skipped=%" PRIu64, s->skipped);
	if (file)
		FIELD("after=%" PRIu64, s->after);
	else {
		nup = periodic_upcoming(s, up, PERIODIC_NEXT);
		k = (size_t)snprintf(text[n], sizeof text[n], "next=");
		for (i = 0; i < nup && k < sizeof text[n]; i++)
			k += (size_t)snprintf(text[n] + k, sizeof text[n] - k,
			    "%s%" PRIu64, i == 0 ? "" : ",", up[i]);
		f[n] = text[n];
		n++;
	}
	if (enqueued != NULL)
		FIELD("enqueued=%" PRIu64, *enqueued);
#undef FIELD
	return n;
}

/* s as an entry onto b (a reply, or a DEF record's body). */
static int
put_entry(struct ps_buf *b, const struct schedule *s, int file,
    const uint64_t *enqueued)
{
	char		 rule[PS_SCHED_FIELD_MAX + 1];
	char		 text[FIELDS_MAX][300];
	const char	*f[FIELDS_MAX];
	uint16_t	 n;

	n = fields(s, rule, text, f, file, enqueued);
	return ps_put_schedule_entry(b, SCHED_NAME(s), s->nlen,
	    SCHED_QUEUE(s), s->qlen, f, n, SCHED_EVENT(s) + 6,
	    get16(SCHED_EVENT(s) + 4), SCHED_EVENT(s) + 6 +
	    get16(SCHED_EVENT(s) + 4), get32(SCHED_EVENT(s)));
}

static void
rec_def(struct server *srv, const struct schedule *s)
{
	struct ps_buf	*b = &srv->sched_hdr;

	b->len = 0;
	if (srv->data_dir == NULL)
		return;
	if (put_entry(b, s, 1, NULL) != 0 ||
	    srec(srv, SREC_DEF, b->data, b->len) != 0)
		srv->sched_broken = 1;
}

static void
rec_gone(struct server *srv, const struct schedule *s)
{
	uint8_t	 body[1 + PS_SCHED_NAME_MAX];

	body[0] = s->nlen;
	memcpy(body + 1, SCHED_NAME(s), s->nlen);
	if (srec(srv, SREC_GONE, body, 1 + (size_t)s->nlen) != 0)
		srv->sched_broken = 1;
}

/* periodic's handled: s's progress, as a TICK record. */
static void
handled(void *arg, struct schedule *s)
{
	struct server	*srv = arg;
	uint8_t		 body[1 + PS_SCHED_NAME_MAX + 5 * 8 + 1], *p;

	body[0] = s->nlen;
	memcpy(body + 1, SCHED_NAME(s), s->nlen);
	p = body + 1 + s->nlen;
	put64(p, s->after);
	put64(p + 8, s->last);
	put64(p + 16, s->last_id);
	put64(p + 24, s->fired);
	put64(p + 32, s->skipped);
	p[40] = s->paused;
	if (srec(srv, SREC_TICK, body, (size_t)(p + 41 - body)) != 0)
		srv->sched_broken = 1;
}

static const struct periodic_hooks hooks = { fire, handled, NULL };

static void
run(struct server *srv, int starting, size_t max)
{
	struct periodic_hooks	 h = hooks;

	h.arg = srv;
	(void)periodic_run(&srv->sched, clock_wall_ms(), starting, &h, max);
}

/*
 * The timer: the ticks due now, SCHED_BATCH at most an iteration so that
 * 100,000 schedules of one minute do not hold up the connections; the
 * timer comes back at once for the rest (schedules_settle).
 */
static void
sched_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	if (!srv->draining)
		run(srv, 0, SCHED_BATCH);
	server_wake(srv);
}

/* Once an iteration: aim the timer at the next tick. */
void
schedules_settle(struct server *srv)
{
	struct timeval	 tv;
	uint64_t	 at, wall;

	if (srv->sched_timer == NULL)
		return;
	if (srv->draining || !periodic_wake(&srv->sched, &at)) {
		evtimer_del(srv->sched_timer);
		return;
	}
	if (at == srv->sched_aim && evtimer_pending(srv->sched_timer, NULL))
		return;
	wall = clock_wall_ms();
	srv->sched_aim = at;
	ms_timeval(at > wall ? at - wall : 0, &tv);
	evtimer_add(srv->sched_timer, &tv);
}

/*
 * A schedule's progress as read back: no time past a day from now (the
 * file was damaged, or the clock went back), else it would fire nothing
 * for as long, or wrap.  0, or -1.
 */
static int
sane(uint64_t after, uint64_t last, uint64_t now)
{
	return after > now + 86400000 || last > now + 86400000 ? -1 : 0;
}

/*
 * Apply one record of DIR/schedules: NULL, or what is wrong with it (the
 * record is left out); *nomem when memory ran out (the start fails
 * rather than lose the schedules after it).
 */
static const char *
apply(struct server *srv, uint8_t type, const uint8_t *p, size_t len,
    int *nomem)
{
	struct ps_schedule_entry e;
	struct sched_def	 d;
	struct schedule		*s, *old;
	const uint8_t		*kp;
	const char		*kv;
	char			 why[256];
	size_t			 used, kl, k;
	uint16_t		 kn;
	uint64_t		 v[6] = { 0 }, now = clock_wall_ms();
	static const char	*prog[] = { "created", "last", "last-id",
				    "fired", "skipped", "after" };
	int			 i;

	switch (type) {
	case SREC_DEF:
		if (ps_get_schedule_entry(p, len, &e, &used) != 0 ||
		    used != len)
			return "a definition does not parse";
		memset(&d, 0, sizeof d);
		d.catchup = d.unique = d.paused = -1;
		d.name = e.name;
		d.nlen = e.name_len;
		d.queue = e.queue.name;
		d.qlen = e.queue.len;
		d.event = e.attrs - 6;
		d.elen = 6 + (uint32_t)e.alen + e.len;
		kp = e.fields;
		kn = e.nfields;
		while (ps_kv_next(&kp, &kn, &kv, &kl)) {
			for (i = 0; i < 6; i++) {
				k = strlen(prog[i]);
				if (kl > k && kv[k] == '=' &&
				    memcmp(kv, prog[i], k) == 0)
					break;
			}
			if (i < 6) {
				if (ps_kv_u64(kv + k + 1, kl - k - 1, &v[i]) != 0)
					return "a definition's progress is "
					    "not a number";
			} else if (!periodic_known(kv, kl))
				continue;	/* a later version's */
			else if (periodic_setting(&d, kv, kl, why,
			    sizeof why) != 0)
				return "a definition's setting is refused";
		}
		if (periodic_check(&d, why, sizeof why) != 0)
			return "a definition is refused";
		if (sane(v[5], v[1], now) != 0)
			return "a definition's progress is in the future";
		if (d.tzname != NULL && (d.tz = zone_get(srv, d.tzname,
		    d.tzlen, why, sizeof why)) == NULL) {
			log_warnx("%s/%s: schedule %.*s: %s; its rule is read "
			    "in UTC until a start finds the zone",
			    srv->data_dir, SCHED_FILE, (int)d.nlen, d.name,
			    why);
			if ((d.tz = zone_get(srv, "UTC", 3, why,
			    sizeof why)) == NULL) {
				*nomem = 1;
				return "out of memory";
			}
		}
		old = periodic_find(&srv->sched, d.name, d.nlen);
		if ((s = periodic_add(&srv->sched, &d, old, 0)) == NULL) {
			*nomem = 1;
			return "out of memory";
		}
		s->created = v[0];
		s->last = v[1];
		s->last_id = v[2];
		s->fired = v[3];
		s->skipped = v[4];
		s->after = v[5];
		s->paused = d.paused > 0;
		return NULL;
	case SREC_GONE:
		if (len < 1 || len != 1u + p[0])
			return "a removal does not parse";
		if ((s = periodic_find(&srv->sched, (const char *)p + 1,
		    p[0])) != NULL)
			periodic_remove(&srv->sched, s);
		return NULL;
	case SREC_TICK:
		if (len < 1 || len != 1u + p[0] + 41)
			return "a tick does not parse";
		if ((s = periodic_find(&srv->sched, (const char *)p + 1,
		    p[0])) == NULL)
			return NULL;
		p += 1 + p[0];
		if (sane(get64(p), get64(p + 8), now) != 0)
			return "a tick's progress is in the future";
		s->after = get64(p);
		s->last = get64(p + 8);
		s->last_id = get64(p + 16);
		s->fired = get64(p + 24);
		s->skipped = get64(p + 32);
		s->paused = p[40] != 0;
		return NULL;
	}
	return "a record of an unknown type";
}

/*
 * The bytes of a DIR/schedules (named path in what is logged) applied:
 * its records up to the first cut short or damaged (a crash's torn
 * tail); a whole record that cannot be applied is logged and left out,
 * the others kept.  0; -1 if they are not a schedules file at all or
 * memory ran out.
 */
int
schedules_load(struct server *srv, const uint8_t *buf, size_t len,
    const char *path)
{
	const uint8_t	*p;
	const char	*bad;
	size_t		 off;
	uint32_t	 rl;
	int		 nomem = 0;

	if (len < SCHED_HEAD || memcmp(buf, SCHED_MAGIC, 8) != 0 ||
	    get32(buf + 8) != SCHED_VERSION) {
		log_warnx("%s: not a schedules file of version %d", path,
		    SCHED_VERSION);
		return -1;
	}
	for (off = SCHED_HEAD; off < len; off += 8 + rl) {
		p = buf + off;
		if (len - off < SREC_HEAD || (rl = get32(p)) == 0 ||
		    rl > SREC_MAX || len - off - 8 < rl ||
		    crc32c(0, p + 8, rl) != get32(p + 4)) {
			log_warnx("%s: a record cut short or damaged at byte "
			    "%zu: what follows it is dropped (the file is "
			    "written again)", path, off);
			break;
		}
		if ((bad = apply(srv, p[8], p + SREC_HEAD, rl - 1,
		    &nomem)) != NULL) {
			log_warnx("%s: %s at byte %zu: that record is left "
			    "out", path, bad, off);
			if (nomem)
				return -1;
		}
	}
	return 0;
}

/* Read DIR/schedules back, if there is one. */
static int
load(struct server *srv, const char *path)
{
	struct stat	 st;
	uint8_t		*buf = NULL;
	size_t		 off;
	int		 fd, r;
	ssize_t		 n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) != 0 || (buf = malloc((size_t)st.st_size + 1)) ==
	    NULL) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	for (off = 0; off < (size_t)st.st_size; off += (size_t)n) {
		if ((n = read(fd, buf + off, (size_t)st.st_size - off)) <= 0) {
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n == 0)
				break;
			log_warn("%s: read", path);
			close(fd);
			free(buf);
			return -1;
		}
	}
	close(fd);
	r = schedules_load(srv, buf, off, path);
	free(buf);
	return r;
}

/* The whole log written again: a DEF of each schedule, then renamed. */
static int
rewrite(struct server *srv)
{
	struct schedule	*s;
	struct ps_buf	 b = { 0 };
	char		 path[4096], tmp[4096];
	uint8_t		 h[SCHED_HEAD] = SCHED_MAGIC;
	int		 fd = -1;

	if (snprintf(path, sizeof path, "%s/%s", srv->data_dir,
	    SCHED_FILE) >= (int)sizeof path || snprintf(tmp, sizeof tmp,
	    "%s.tmp", path) >= (int)sizeof tmp) {
		log_warnx("%s: path too long", srv->data_dir);
		return -1;
	}
	put32(h + 8, SCHED_VERSION);
	put32(h + 12, 0);
	if (ps_buf_add(&b, h, sizeof h) != 0)
		goto fail;
	srv->sched_out.len = 0;
	TAILQ_FOREACH(s, &srv->sched.list, entry) {
		rec_def(srv, s);
		if (ps_buf_add(&b, srv->sched_out.data, srv->sched_out.len) !=
		    0)
			goto fail;
		srv->sched_out.len = 0;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write_all(fd, b.data, b.len) != 0 ||
	    fsync(fd) != 0)
		goto fail;
	if (rename(tmp, path) != 0)
		goto fail;
	/* The rename on disk too, before the old file's records go. */
	if (fsync(srv->journal.dirfd) != 0) {
		log_warn("%s: fsync", srv->data_dir);
		close(fd);
		ps_buf_free(&b);
		return -1;
	}
	if (srv->sched_fd >= 0 && close(srv->sched_fd) != 0)
		log_warn("%s: close", path);
	srv->sched_fd = fd;
	srv->sched_size = b.len;
	srv->sched_written++;
	ps_buf_free(&b);
	return 0;
fail:
	log_warn("%s", tmp);
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	ps_buf_free(&b);
	return -1;
}

/*
 * At start, after the journal is read back (the queues hold what the
 * ticks already fired): the schedules of DIR/schedules, then the ticks
 * missed while the daemon was down, by each one's catch-up.
 */
int
schedules_open(struct server *srv)
{
	struct schedule	*s;
	char		 path[4096];

	srv->sched_fd = -1;
	if ((srv->sched_timer = evtimer_new(srv->base, sched_cb, srv)) ==
	    NULL)
		return -1;
	if (srv->data_dir != NULL) {
		if (snprintf(path, sizeof path, "%s/%s", srv->data_dir,
		    SCHED_FILE) >= (int)sizeof path) {
			log_warnx("%s: path too long", srv->data_dir);
			return -1;
		}
		if (load(srv, path) != 0)
			return -1;
		/* Each at the tick after its progress. */
		TAILQ_FOREACH(s, &srv->sched.list, entry) {
			if (periodic_reslot(&srv->sched, s) != 0)
				return -1;
		}
		/* Clean and whole from here on, with no tail to doubt. */
		if (rewrite(srv) != 0)
			return -1;
		if (srv->sched.count != 0)
			log_info("%zu schedule%s from %s", srv->sched.count,
			    srv->sched.count == 1 ? "" : "s", path);
	}
	run(srv, 1, 0);
	server_wake(srv);
	return 0;
}

void
schedules_close(struct server *srv)
{
	struct zone	*z;

	if (srv->sched_timer != NULL)
		event_free(srv->sched_timer);
	srv->sched_timer = NULL;
	periodic_free(&srv->sched);
	while ((z = srv->zones) != NULL) {
		srv->zones = z->next;
		tzfile_free(z->tz);
		free(z);
	}
	if (srv->sched_fd >= 0)
		close(srv->sched_fd);
	srv->sched_fd = -1;
	ps_buf_free(&srv->sched_out);
	ps_buf_free(&srv->sched_frame);
	ps_buf_free(&srv->sched_hdr);
	ps_buf_free(&srv->sched_dups);
}

/*
 * The end of an iteration, after the journal's records: this iteration's
 * records of DIR/schedules, synced as --fsync says; the whole rewritten
 * once it holds more than twice what is live.  A log that cannot be
 * written stops the daemon, as the journal does: a tick must not be
 * fired twice for want of its record.
 */
void
schedules_commit(struct server *srv)
{
	struct ps_buf	*b = &srv->sched_out;

	if (srv->sched_fd < 0 || (b->len == 0 && !srv->sched_broken))
		return;
	if (srv->sched_broken)
		fatalx("%s/%s: out of memory for a schedule's record; stopping "
		    "before a tick is fired twice", srv->data_dir, SCHED_FILE);
	if (write_all(srv->sched_fd, b->data, b->len) != 0)
		fatal("%s/%s: the schedules cannot be written; stopping",
		    srv->data_dir, SCHED_FILE);
	srv->sched_size += b->len;
	b->len = 0;
	/* Synced as the journal is: at once but on a timer or never. */
	if (srv->journal.fsync == JOURNAL_ALWAYS ||
	    srv->journal.fsync == JOURNAL_BATCH) {
		if (fdatasync(srv->sched_fd) != 0)
			fatal("%s/%s: fsync", srv->data_dir, SCHED_FILE);
	} else
		srv->sched_dirty = 1;
	if (srv->sched_size > 2 * srv->sched.bytes + SCHED_SLACK &&
	    rewrite(srv) != 0)
		fatalx("%s/%s: the schedules cannot be written again; "
		    "stopping", srv->data_dir, SCHED_FILE);
}

/* --fsync interval: the log's writes since the last sync. */
void
schedules_sync(struct server *srv)
{
	if (srv->sched_fd < 0 || !srv->sched_dirty)
		return;
	if (fdatasync(srv->sched_fd) != 0)
		fatal("%s/%s: fsync", srv->data_dir, SCHED_FILE);
	srv->sched_dirty = 0;
}

/* A SCHEDULE_REPLY of s alone. */
static int
reply_one(struct ps_buf *out, const struct schedule *s,
    const uint64_t *enqueued)
{
	size_t	 start;
	int	 error;

	if ((error = ps_put_schedule_reply_begin(out, &start)) != 0)
		return error;
	if ((error = put_entry(out, s, 0, enqueued)) != 0) {
		out->len = start;
		return error;
	}
	ps_put_schedule_reply_end(out, start, 1, 1);
	return 0;
}

/* A LIST of every schedule from the start-th, as many as fit in max. */
static int
reply_list(struct server *srv, uint32_t from, uint32_t max,
    struct ps_buf *out)
{
	struct schedule	*s;
	size_t		 start, before;
	uint32_t	 i = 0, n = 0;
	int		 error;

	if ((error = ps_put_schedule_reply_begin(out, &start)) != 0)
		return error;
	TAILQ_FOREACH(s, &srv->sched.list, entry) {
		if (i++ < from)
			continue;
		before = out->len;
		if ((error = put_entry(out, s, 0, NULL)) != 0) {
			out->len = start;
			return error;
		}
		if (n > 0 && out->len - start - PS_HDR_LEN > max) {
			out->len = before;
			break;
		}
		n++;
	}
	ps_put_schedule_reply_end(out, start, (uint32_t)srv->sched.count, n);
	return 0;
}

#define FAIL(c, ...) do {						\
	*code = (c);							\
	snprintf(why, len, __VA_ARGS__);				\
	return -1;							\
} while (0)

/* An ADD: checked whole before anything is stored. */
static int
add(struct server *srv, const struct ps_schedule *r, struct ps_buf *out,
    int *code, char *why, size_t len)
{
	struct sched_def	 d;
	struct schedule		*s, *old;
	const uint8_t		*kp;
	const char		*kv;
	char			 err[256];
	size_t			 kl;
	uint16_t		 kn;

	memset(&d, 0, sizeof d);
	d.catchup = d.unique = d.paused = -1;
	d.name = r->name;
	d.nlen = r->name_len;
	d.queue = r->queue.name;
	d.qlen = r->queue.len;
	if (!queues_name_ok("queue", d.queue, d.qlen, err, sizeof err))
		FAIL(PS_E_BAD_VALUE, "bad SCHEDULE: %s%s", err,
		    memchr(d.queue, '/', d.qlen) != NULL ? " (a schedule's "
		    "events go to a queue, every group of it)" : "");
	d.event = r->attrs - 6;
	d.elen = 6 + (uint32_t)r->alen + r->len;
	kp = r->settings;
	kn = r->nsettings;
	while (ps_kv_next(&kp, &kn, &kv, &kl)) {
		if (periodic_setting(&d, kv, kl, err, sizeof err) != 0)
			FAIL(PS_E_BAD_VALUE, "bad SCHEDULE: %s", err);
	}
	if (periodic_check(&d, err, sizeof err) != 0)
		FAIL(PS_E_BAD_VALUE, "bad SCHEDULE: %s", err);
	if (d.tzname != NULL && (d.tz = zone_get(srv, d.tzname, d.tzlen, err,
	    sizeof err)) == NULL)
		FAIL(PS_E_BAD_VALUE, "bad SCHEDULE: %s", err);
	/* Its ticks, and the entries that show it, must fit a frame. */
	if (d.elen > srv->max_frame - SCHED_FRAME_ROOM)
		FAIL(PS_E_BAD_VALUE, "bad SCHEDULE: its event is %u bytes of "
		    "attributes and payload; with a tick's unique id and "
		    "headers, or as a SCHEDULE_REPLY's entry, it must fit "
		    "--max-frame %u: at most %u", d.elen - 6, srv->max_frame,
		    srv->max_frame - SCHED_FRAME_ROOM - 6);
	if ((old = periodic_find(&srv->sched, d.name, d.nlen)) != NULL &&
	    periodic_same(old, &d)) {
		if (d.paused >= 0 && periodic_pause(&srv->sched, old,
		    d.paused))
			handled(srv, old);
		return reply_one(out, old, NULL) == 0 ? 0 : -1;
	}
	if (old != NULL && !(r->flags & PS_SCHED_REPLACE))
		FAIL(PS_E_EXISTS, "schedule %.*s is defined otherwise (its "
		    "queue, rule or event differ); REPLACE (pushctl schedule "
		    "add --replace) replaces it, keeping what it fired",
		    (int)d.nlen, d.name);
	if (old == NULL && srv->sched.count >= srv->max_schedules)
		FAIL(PS_E_QUEUE_LIMIT, "schedule %.*s: %zu schedules exist "
		    "already (producerd --max-schedules)", (int)d.nlen, d.name,
		    srv->sched.count);
	/* Its queue made now, as a consumer's HELLO makes one: last. */
	if (queues_get(srv, d.queue, d.qlen, code, err, sizeof err) == NULL)
		FAIL(*code, "schedule %.*s: %s", (int)d.nlen, d.name, err);
	if ((s = periodic_add(&srv->sched, &d, old, clock_wall_ms())) == NULL)
		FAIL(PS_E_NOMEM, "out of memory for schedule %.*s",
		    (int)d.nlen, d.name);
	rec_def(srv, s);
	log_info("schedule %s %s: %s %s%s%s into %s", SCHED_NAME(s),
	    old != NULL ? "replaced" : "added", s->kind == RULE_CRON ?
	    "cron" : "every", SCHED_RULE(s), s->tzlen != 0 ? " in " : "",
	    SCHED_TZ(s), SCHED_QUEUE(s));
	return reply_one(out, s, NULL) == 0 ? 0 : -1;
}

/*
 * A SCHEDULE, from any door: its SCHEDULE_REPLY into out (at most max
 * bytes of body for a LIST), or -1, *code (PS_E_*) and why.
 */
int
schedules_request(struct server *srv, const struct ps_schedule *r,
    uint32_t max, struct ps_buf *out, int *code, char *why, size_t len)
{
	struct schedule	*s = NULL;
	uint64_t	 id;
	char		 err[256];
	int		 error;

	if (r->name_len != 0 && !queues_name_ok("schedule", r->name,
	    r->name_len, err, sizeof err))
		FAIL(PS_E_BAD_VALUE, "bad SCHEDULE: %s", err);
	if (r->op == PS_SCHED_ADD)
		return add(srv, r, out, code, why, len);
	if (r->op == PS_SCHED_LIST && r->name_len == 0)
		error = reply_list(srv, r->start, max, out);
	else {
		if ((s = periodic_find(&srv->sched, r->name,
		    r->name_len)) == NULL)
			FAIL(PS_E_NO_SCHEDULE, "no schedule %.*s",
			    (int)r->name_len, r->name);
		switch (r->op) {
		case PS_SCHED_REMOVE:
			error = reply_one(out, s, NULL);
			rec_gone(srv, s);
			log_info("schedule %s removed", SCHED_NAME(s));
			periodic_remove(&srv->sched, s);
			break;
		case PS_SCHED_PAUSE:
		case PS_SCHED_RESUME:
			if (periodic_pause(&srv->sched, s,
			    r->op == PS_SCHED_PAUSE))
				handled(srv, s);
			error = reply_one(out, s, NULL);
			break;
		case PS_SCHED_RUN_NOW:
			if ((id = enqueue(srv, s, clock_wall_ms(), 1)) ==
			    ENQ_LATER_ID)
				id = 0;
			error = reply_one(out, s, &id);
			break;
		default:
			error = reply_one(out, s, NULL);
			break;
		}
	}
	if (error != 0)
		FAIL(-error, "out of memory for a SCHEDULE_REPLY");
	return 0;
}
