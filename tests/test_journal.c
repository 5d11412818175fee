/*
 * test_journal.c: the journal driven directly with the dispatcher, in a
 * temporary directory: what a restart brings back (order, ids, attempts,
 * dead letters), segment deletion, torn tails, corruption with and
 * without --repair, the lock, and the checksum and id map beneath.
 */
#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "dispatch.h"
#include "frame.h"
#include "idmap.h"
#include "journal.h"
#include "log.h"
#include "uniq.h"

#define MAXE	4096

struct got {
	int		 n;
	uint64_t	 id[MAXE];
	uint32_t	 attempt[MAXE];
	char		 data[MAXE][128];
};

/* A daemon's worth: dispatcher, journal, one consumer. */
struct node {
	struct dispatch		 d;
	struct dpolicy		 p;		/* d's */
	struct journal		 j;
	struct dconsumer	 c;
	int			 attached;
	struct got		 got;
};

static char	 dir[256];
static int	 carrying;	/* nodes carry unique ids, as the daemon */

/* Every queue the journal names is the node's one dispatcher. */
static int
find(void *arg, const char *name, size_t len, size_t ng,
    const char * const *groups, const uint64_t *from, struct dispatch **out)
{
	struct node	*n = arg;

	(void)name;
	(void)len;
	(void)groups;
	(void)from;
	ck_assert_uint_eq(ng, 1);
	out[0] = &n->d;
	return 0;
}

/* The node's dispatcher records its changes, as server.c's queues do. */
static void
hook(void *arg, enum dispatch_change what, const struct qevent *ev)
{
	struct node	*n = arg;

	journal_change(&n->j, n->d.name, "", 1, 0, what, ev);
}

static void
emit(void *arg, struct dconsumer *dc, const struct qevent *ev)
{
	struct got	*g = arg;

	(void)dc;
	ck_assert_int_lt(g->n, MAXE);
	ck_assert_uint_lt(ev->len, sizeof g->data[0]);
	g->id[g->n] = ev->id;
	g->attempt[g->n] = ev->attempts;
	memcpy(g->data[g->n], ev->data, ev->len);
	g->data[g->n][ev->len] = '\0';
	g->n++;
}

static void
setup(void)
{
	strcpy(dir, "/tmp/test_journal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char	 cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The node's unique ids, carried as server_carry does the daemon's. */
static int
carry_node(void *arg, struct journal *j, uint64_t seq)
{
	struct node	*n = arg;

	return journal_carry_uniq(j, n->d.name, n->d.sched != NULL ?
	    n->d.sched->uniq : NULL, seq, clock_wall_ms());
}

/* Open a node on dir; the journal's result. */
static int
node_open(struct node *n, uint32_t max_attempts, uint64_t segsize,
    int repair)
{
	memset(n, 0, sizeof *n);
	if (dispatch_init(&n->d, NULL, emit, &n->got) != 0)
		return -1;
	n->p = dpolicy_default;
	n->p.max_attempts = max_attempts;
	n->d.policy = &n->p;
	n->j.segment_size = segsize;
	n->j.repair = repair;
	n->j.fsync = JOURNAL_BATCH;
	n->j.next_id = &n->d.next_id;
	if (carrying) {
		n->j.carry = carry_node;
		n->j.carry_arg = n;
		n->d.now = clock_wall_ms();
	}
	if (journal_open(&n->j, dir, find, n) != 0)
		return -1;
	n->d.change = hook;
	n->d.change_arg = n;
	return 0;
}

static struct node *
node_new(uint32_t max_attempts, uint64_t segsize)
{
	struct node	*n;

	ck_assert_ptr_nonnull(n = calloc(1, sizeof *n));
	ck_assert_int_eq(node_open(n, max_attempts, segsize, 0), 0);
	return n;
}

/* Opening a node on dir must fail; nothing is left open. */
static void
node_refused(uint32_t max_attempts, uint64_t segsize, int repair)
{
	struct node	*n;

	ck_assert_ptr_nonnull(n = calloc(1, sizeof *n));
	ck_assert_int_eq(node_open(n, max_attempts, segsize, repair), -1);
	journal_close(&n->j);
	dispatch_free(&n->d);
	free(n);
}

/*
 * Stop as a kill -9 would: what is in flight stays in flight in the
 * journal (the records are written, nothing more).
 */
static void
node_crash(struct node *n)
{
	ck_assert_int_eq(journal_commit(&n->j), 0);
	n->d.change = NULL;
	if (n->attached)
		dispatch_detach(&n->d, &n->c);
	journal_close(&n->j);
	dispatch_free(&n->d);
	free(n);
}

/* Event "e<i>", padded with dots to pad bytes. */
static void
push_pad(struct node *n, int i, int pad)
{
	char	 buf[128];
	int	 len = snprintf(buf, sizeof buf, "e%d", i);

	for (; len < pad && len < (int)sizeof buf - 1; len++)
		buf[len] = '.';
	ck_assert_uint_ne(dispatch_push(&n->d, buf, (uint32_t)len, 0), 0);
}

static void
push(struct node *n, int i)
{
	char	 buf[128];
	int	 len = snprintf(buf, sizeof buf, "e%d", i);

	ck_assert_uint_ne(dispatch_push(&n->d, buf, (uint32_t)len, 0), 0);
}

/* A consumer with acks asks for k; they are sent. */
static void
take(struct node *n, uint32_t k)
{
	if (!n->attached) {
		dispatch_attach(&n->d, &n->c, 1000, 0, 1, n);
		n->attached = 1;
	}
	ck_assert_int_eq(dispatch_demand(&n->d, &n->c, k), 0);
	dispatch_run(&n->d);
}

static void
answer(struct node *n, uint64_t id, int what)
{
	ck_assert_int_eq(dispatch_answer(&n->d, &n->c, id, what),
	    DISPATCH_DONE);
}

static int
nsegments(void)
{
	DIR		*dp;
	struct dirent	*de;
	int		 k = 0;

	ck_assert_ptr_nonnull(dp = opendir(dir));
	while ((de = readdir(dp)) != NULL)
		k += strstr(de->d_name, ".seg") != NULL;
	closedir(dp);
	return k;
}

/* What the segment files in dir add up to. */
static uint64_t
seg_bytes(void)
{
	DIR		*dp;
	struct dirent	*de;
	struct stat	 st;
	uint64_t	 sum = 0;

	ck_assert_ptr_nonnull(dp = opendir(dir));
	while ((de = readdir(dp)) != NULL) {
		if (strstr(de->d_name, ".seg") == NULL)
			continue;
		ck_assert_int_eq(fstatat(dirfd(dp), de->d_name, &st, 0), 0);
		sum += (uint64_t)st.st_size;
	}
	closedir(dp);
	return sum;
}

static void
seg_path(uint64_t seq, char *p, size_t len)
{
	snprintf(p, len, "%s/%08llu.seg", dir, (unsigned long long)seq);
}

static off_t
file_size(const char *p)
{
	struct stat	 st;

	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

START_TEST(crc32c_known_values)
{
	/* The check value of CRC-32C, and RFC 3720's 32 zero bytes. */
	static const unsigned char zeros[32];

	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c(0, zeros, 32), 0x8a9136aau);
	ck_assert_uint_eq(crc32c(crc32c(0, "1234", 4), "56789", 5),
	    0xe3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
}
END_TEST

START_TEST(idmap_matches_a_plain_array)
{
	struct idmap	 m;
	static uint64_t	 shadow[20000];
	uint64_t	 v, id;
	int		 i;

	idmap_init(&m);
	srandom(7);
	for (i = 0; i < 200000; i++) {
		id = 1 + (uint64_t)(random() % 20000);
		if (random() % 3 == 0) {
			ck_assert_int_eq(idmap_del(&m, id), shadow[id - 1] != 0);
			shadow[id - 1] = 0;
		} else {
			ck_assert_int_eq(idmap_put(&m, id, (uint64_t)i + 1), 0);
			shadow[id - 1] = (uint64_t)i + 1;
		}
	}
	for (id = 1; id <= 20000; id++) {
		if (shadow[id - 1] == 0)
			ck_assert_int_eq(idmap_get(&m, id, &v), 0);
		else {
			ck_assert_int_eq(idmap_get(&m, id, &v), 1);
			ck_assert_uint_eq(v, shadow[id - 1]);
		}
	}
	idmap_free(&m);
}
END_TEST

START_TEST(restart_keeps_pending_in_order_and_drops_acked)
{
	struct node	*n = node_new(5, JOURNAL_SEGMENT_SIZE);
	int		 i;

	for (i = 1; i <= 10; i++)
		push(n, i);
	take(n, 4);				/* 1-4 in flight */
	answer(n, 1, PS_ACK);
	answer(n, 3, PS_ACK);
	node_crash(n);

	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.queue.count, 8);
	ck_assert_uint_eq(n->j.replayed, 8);
	take(n, 100);
	ck_assert_int_eq(n->got.n, 8);
	for (i = 0; i < 8; i++) {
		static const uint64_t want[] = { 2, 4, 5, 6, 7, 8, 9, 10 };
		char	 data[16];

		ck_assert_uint_eq(n->got.id[i], want[i]);
		snprintf(data, sizeof data, "e%llu",
		    (unsigned long long)want[i]);
		ck_assert_str_eq(n->got.data[i], data);
		/* 2 and 4 were out once before the crash: this is their 2nd. */
		ck_assert_uint_eq(n->got.attempt[i], want[i] <= 4 ? 2 : 1);
	}
	/* New ids follow the old. */
	push(n, 11);
	ck_assert_uint_eq(n->d.next_id, 12);
	node_crash(n);
}
END_TEST

/* Two queues' worth on one journal: "default" and "jobs", one id space. */
struct pair {
	struct dispatch		 def, jobs;
	struct dpolicy		 jobs_p;
	struct journal		 j;
	struct dconsumer	 c;
	struct got		 got;
};

static int
find_pair(void *arg, const char *name, size_t len, size_t ng,
    const char * const *groups, const uint64_t *from, struct dispatch **out)
{
	struct pair	*p = arg;

	(void)groups;
	(void)from;
	ck_assert_uint_eq(ng, 1);
	out[0] = len == 4 && memcmp(name, "jobs", 4) == 0 ? &p->jobs : &p->def;
	return 0;
}

static void
hook_def(void *arg, enum dispatch_change what, const struct qevent *ev)
{
	struct pair	*p = arg;

	journal_change(&p->j, p->def.name, "", 1, 0, what, ev);
}

static void
hook_jobs(void *arg, enum dispatch_change what, const struct qevent *ev)
{
	struct pair	*p = arg;

	journal_change(&p->j, p->jobs.name, "", 1, 0, what, ev);
}

static struct pair *
pair_open(void)
{
	struct pair	*p;

	ck_assert_ptr_nonnull(p = calloc(1, sizeof *p));
	ck_assert_int_eq(dispatch_init(&p->def, NULL, emit, &p->got), 0);
	ck_assert_int_eq(dispatch_init(&p->jobs, NULL, emit, &p->got), 0);
	p->jobs.name = "jobs";
	p->jobs.ids = &p->def.next_id;
	p->jobs_p = dpolicy_default;
	p->jobs_p.max_attempts = 1;
	p->jobs.policy = &p->jobs_p;
	p->j.segment_size = JOURNAL_SEGMENT_SIZE;
	p->j.fsync = JOURNAL_BATCH;
	p->j.next_id = &p->def.next_id;
	ck_assert_int_eq(journal_open(&p->j, dir, find_pair, p), 0);
	p->def.change = hook_def;
	p->jobs.change = hook_jobs;
	p->def.change_arg = p->jobs.change_arg = p;
	return p;
}

static void
pair_crash(struct pair *p)
{
	ck_assert_int_eq(journal_commit(&p->j), 0);
	p->def.change = p->jobs.change = NULL;
	journal_close(&p->j);
	dispatch_free(&p->def);
	dispatch_free(&p->jobs);
	free(p);
}

/*
 * A named queue's events and dead letters are journaled with its name
 * (records 6 and 7) and come back to it; the default queue's records are
 * version 1's; ids are one space for both.
 */
START_TEST(events_come_back_to_their_queue)
{
	struct pair	*p = pair_open();
	uint64_t	 id;

	ck_assert_uint_eq(dispatch_push(&p->def, "d1", 2, 0), 1);
	ck_assert_uint_eq(dispatch_push(&p->jobs, "j2", 2, 0), 2);
	ck_assert_uint_eq(dispatch_push(&p->jobs, "j3", 2, 0), 3);
	ck_assert_uint_eq(dispatch_push(&p->def, "d4", 2, 0), 4);
	/* j2 fails on its only attempt: dead, in jobs. */
	dispatch_attach(&p->jobs, &p->c, 10, 0, 1, p);
	ck_assert_int_eq(dispatch_demand(&p->jobs, &p->c, 1), 0);
	dispatch_run(&p->jobs);
	ck_assert_int_eq(p->got.n, 1);
	id = p->got.id[0];
	ck_assert_uint_eq(id, 2);
	ck_assert_int_eq(dispatch_answer(&p->jobs, &p->c, id, PS_NACK),
	    DISPATCH_DONE);
	ck_assert_uint_eq(p->jobs.ndead, 1);
	dispatch_detach(&p->jobs, &p->c);
	pair_crash(p);

	p = pair_open();
	ck_assert_uint_eq(p->def.queue.count, 2);
	ck_assert_uint_eq(p->jobs.queue.count, 1);
	ck_assert_uint_eq(p->jobs.ndead, 1);
	ck_assert_ptr_nonnull(dispatch_dead_find(&p->jobs, 2));
	ck_assert_ptr_null(dispatch_dead_find(&p->def, 2));
	ck_assert_uint_eq(p->def.next_id, 5);
	ck_assert_uint_eq(dispatch_push(&p->jobs, "j5", 2, 0), 5);
	pair_crash(p);
}
END_TEST

START_TEST(ids_go_on_after_everything_was_acked)
{
	struct node	*n = node_new(5, 4096);
	int		 i;

	for (i = 1; i <= 5; i++)
		push(n, i);
	take(n, 5);
	for (i = 1; i <= 5; i++)
		answer(n, (uint64_t)i, PS_ACK);
	node_crash(n);
	n = node_new(5, 4096);
	ck_assert_uint_eq(n->d.queue.count, 0);
	ck_assert_uint_eq(n->d.next_id, 6);
	/* Only the segment just started is left. */
	ck_assert_int_eq(nsegments(), 1);
	node_crash(n);
}
END_TEST

START_TEST(dead_letters_come_back_and_last_attempts_are_buried)
{
	struct node	*n = node_new(2, JOURNAL_SEGMENT_SIZE);
	struct qevent	*ev;
	int		 i;

	for (i = 1; i <= 4; i++)
		push(n, i);
	take(n, 4);
	answer(n, 1, PS_NACK);		/* back, attempt 1 of 2 */
	answer(n, 2, PS_NACK);
	take(n, 2);			/* 1 and 2 again: attempt 2 */
	answer(n, 1, PS_NACK);		/* dead */
	/* 2 is in flight on its last attempt; 3, 4 on their first. */
	node_crash(n);

	n = node_new(2, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.ndead, 2);
	ev = TAILQ_FIRST(&n->d.dead);
	ck_assert_uint_eq(ev->id, 1);
	ck_assert_uint_eq(ev->reason, PS_DEAD_NACK);
	ck_assert_uint_eq(ev->attempts, 2);
	ck_assert_int_eq(memcmp(ev->data, "e1", 2), 0);
	ev = TAILQ_NEXT(ev, entry);
	ck_assert_uint_eq(ev->id, 2);
	ck_assert_uint_eq(ev->reason, PS_DEAD_DISCONNECT);
	ck_assert_uint_eq(n->d.queue.count, 2);

	/* Retry 1, drop 2: after another restart 1 is pending, 2 gone. */
	ck_assert_int_eq(dispatch_dead_retry(&n->d,
	    dispatch_dead_find(&n->d, 1)), 0);
	dispatch_dead_drop(&n->d, dispatch_dead_find(&n->d, 2));
	node_crash(n);

	n = node_new(2, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.ndead, 0);
	take(n, 10);
	ck_assert_int_eq(n->got.n, 3);
	ck_assert_uint_eq(n->got.id[0], 1);
	ck_assert_uint_eq(n->got.attempt[0], 1);	/* reset by retry */
	ck_assert_uint_eq(n->got.id[1], 3);
	ck_assert_uint_eq(n->got.attempt[1], 2);
	ck_assert_uint_eq(n->got.id[2], 4);
	node_crash(n);
}
END_TEST

/* A NACK_ERROR that gives up: dead, reason 4, after a crash and replay. */
START_TEST(rejected_dead_letters_come_back_rejected)
{
	struct node	*n = node_new(5, JOURNAL_SEGMENT_SIZE);
	struct qevent	*ev;

	push(n, 1);
	push(n, 2);
	take(n, 2);
	ck_assert_int_eq(dispatch_nack_error(&n->d, &n->c, 1, DISPATCH_REJECT,
	    "UnknownTask", 11), DISPATCH_DONE);
	answer(n, 2, PS_NACK);
	node_crash(n);

	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.ndead, 1);
	ev = TAILQ_FIRST(&n->d.dead);
	ck_assert_uint_eq(ev->id, 1);
	ck_assert_uint_eq(ev->reason, PS_DEAD_REJECTED);
	ck_assert_uint_eq(ev->attempts, 1);
	ck_assert_ptr_nonnull(ev->fail);
	ck_assert_uint_eq(ev->fail->n, 1);
	ck_assert_mem_eq(ev->fail->f[0].bytes + ev->fail->f[0].wlen,
	    "UnknownTask", 11);
	ck_assert_uint_eq(n->d.queue.count, 1);		/* 2, to try again */
	node_crash(n);
	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	ck_assert_ptr_nonnull(ev = dispatch_dead_find(&n->d, 1));
	ck_assert_uint_eq(ev->reason, PS_DEAD_REJECTED);
	node_crash(n);
}
END_TEST

START_TEST(segments_go_once_their_events_are_done)
{
	struct node	*n = node_new(1, 4096);
	int		 i, k;

	for (i = 1; i <= 400; i++) {
		push_pad(n, i, 80);
		if (i % 20 == 0)	/* twenty events a loop iteration */
			ck_assert_int_eq(journal_commit(&n->j), 0);
	}
	k = nsegments();
	ck_assert_int_ge(k, 5);
	ck_assert_uint_eq(n->j.nsegs, (size_t)k);
	/* The first goes dead (its copy moves), the rest are acked. */
	take(n, 400);
	answer(n, 1, PS_NACK);
	for (i = 2; i <= 400; i++)
		answer(n, (uint64_t)i, PS_ACK);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	/* What is left: the segment holding the DEAD record, and newer. */
	ck_assert_int_le(nsegments(), 2);
	ck_assert_uint_eq(n->j.bytes, seg_bytes());
	node_crash(n);

	n = node_new(1, 4096);
	ck_assert_uint_eq(n->d.ndead, 1);
	ck_assert_uint_eq(TAILQ_FIRST(&n->d.dead)->id, 1);
	ck_assert_uint_eq(n->d.queue.count, 0);
	/* Dropping the dead letter frees its segment too. */
	dispatch_dead_drop(&n->d, dispatch_dead_find(&n->d, 1));
	ck_assert_int_eq(journal_commit(&n->j), 0);
	ck_assert_int_eq(nsegments(), 1);
	node_crash(n);
}
END_TEST

START_TEST(an_old_pending_event_keeps_newer_segments)
{
	struct node	*n = node_new(5, 4096);
	int		 i;

	for (i = 1; i <= 300; i++) {
		push_pad(n, i, 50);
		if (i % 10 == 0)
			ck_assert_int_eq(journal_commit(&n->j), 0);
	}
	take(n, 300);
	for (i = 2; i <= 300; i++)
		answer(n, (uint64_t)i, PS_ACK);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	/* 1 is still in flight: its segment and every newer one stay. */
	ck_assert_int_ge(nsegments(), 4);
	node_crash(n);
	n = node_new(5, 4096);
	ck_assert_uint_eq(n->d.queue.count, 1);
	take(n, 1);
	ck_assert_uint_eq(n->got.id[0], 1);
	answer(n, 1, PS_ACK);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	ck_assert_int_eq(nsegments(), 1);
	node_crash(n);
}
END_TEST

/* Ten events in three records in segment 1: e1-e3, e4-e6, e7-e10. */
static void
three_records(void)
{
	struct node	*n = node_new(5, JOURNAL_SEGMENT_SIZE);
	int		 i;

	for (i = 1; i <= 10; i++) {
		push(n, i);
		if (i == 3 || i == 6)
			ck_assert_int_eq(journal_commit(&n->j), 0);
	}
	node_crash(n);
}

START_TEST(a_torn_last_record_is_cut)
{
	struct node	*n;
	char		 p[300];
	off_t		 size;
	int		 fd;

	three_records();
	seg_path(1, p, sizeof p);
	size = file_size(p);
	/* The last record loses its last bytes, as a crash mid-write. */
	ck_assert_int_eq(truncate(p, size - 3), 0);
	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.queue.count, 6);
	take(n, 100);
	ck_assert_uint_eq(n->got.id[5], 6);
	ck_assert_uint_lt(file_size(p), size - 3);
	node_crash(n);

	/* Zeros where a write never landed: cut too. */
	seg_path(2, p, sizeof p);
	ck_assert_int_ge(fd = open(p, O_WRONLY | O_APPEND), 0);
	ck_assert_int_eq(write(fd, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\0\0\0\0\0", 24), 24);
	close(fd);
	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.queue.count, 6);
	node_crash(n);
}
END_TEST

/* Flip one byte of segment 1 at off. */
static void
flip(off_t off)
{
	char	 p[300];
	char	 c;
	int	 fd;

	seg_path(1, p, sizeof p);
	ck_assert_int_ge(fd = open(p, O_RDWR), 0);
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

START_TEST(a_bad_record_in_the_middle_stops_the_start)
{
	struct node	*n;
	char		 p[300];
	off_t		 size;

	three_records();
	seg_path(1, p, sizeof p);
	size = file_size(p);
	/* Segment header 40, record 1 is 16 + 8 + 3 * 6: record 2's body. */
	flip(40 + 42 + 20);
	ck_assert_ptr_nonnull(n = calloc(1, sizeof *n));
	ck_assert_int_eq(node_open(n, 5, JOURNAL_SEGMENT_SIZE, 0), -1);
	journal_close(&n->j);
	dispatch_free(&n->d);
	/* Nothing was changed, and it says so again. */
	ck_assert_int_eq(file_size(p), size);
	ck_assert_int_eq(node_open(n, 5, JOURNAL_SEGMENT_SIZE, 0), -1);
	journal_close(&n->j);
	dispatch_free(&n->d);
	free(n);

	/* --repair keeps records 1 and 3: e1-e3 and e7-e10. */
	ck_assert_ptr_nonnull(n = calloc(1, sizeof *n));
	ck_assert_int_eq(node_open(n, 5, JOURNAL_SEGMENT_SIZE, 1), 0);
	ck_assert_uint_eq(n->d.queue.count, 7);
	take(n, 100);
	ck_assert_uint_eq(n->got.id[2], 3);
	ck_assert_uint_eq(n->got.id[3], 7);
	ck_assert_str_eq(n->got.data[6], "e10");
	node_crash(n);
	/* The segment was rewritten: a plain start works now. */
	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.queue.count, 7);
	node_crash(n);
}
END_TEST

START_TEST(a_bad_record_header_is_skipped_by_repair)
{
	struct node	*n;

	three_records();
	flip(40 + 42 + 2);		/* record 2's length */
	ck_assert_ptr_nonnull(n = calloc(1, sizeof *n));
	ck_assert_int_eq(node_open(n, 5, JOURNAL_SEGMENT_SIZE, 0), -1);
	journal_close(&n->j);
	dispatch_free(&n->d);
	ck_assert_int_eq(node_open(n, 5, JOURNAL_SEGMENT_SIZE, 1), 0);
	ck_assert_uint_eq(n->d.queue.count, 7);
	node_crash(n);
}
END_TEST

START_TEST(one_daemon_per_directory)
{
	struct node	*a = node_new(5, JOURNAL_SEGMENT_SIZE);

	node_refused(5, JOURNAL_SEGMENT_SIZE, 0);
	node_crash(a);
	/* Once the first has let go, the directory is free. */
	a = node_new(5, JOURNAL_SEGMENT_SIZE);
	node_crash(a);
}
END_TEST

/* The lock is the directory's own: deleting DIR/lock frees nothing. */
START_TEST(deleting_the_lock_file_frees_nothing)
{
	struct node	*a = node_new(5, JOURNAL_SEGMENT_SIZE);
	char		 p[300];

	snprintf(p, sizeof p, "%s/lock", dir);
	ck_assert_int_eq(unlink(p), 0);
	node_refused(5, JOURNAL_SEGMENT_SIZE, 0);
	node_crash(a);
}
END_TEST

/* Only the oldest segments go: one missing in the middle is an error. */
START_TEST(a_missing_middle_segment_stops_the_start)
{
	struct node	*n = node_new(5, 4096);
	char		 p[300];
	int		 i;

	for (i = 1; i <= 300; i++) {
		push_pad(n, i, 50);
		if (i % 10 == 0)
			ck_assert_int_eq(journal_commit(&n->j), 0);
	}
	node_crash(n);
	ck_assert_int_ge(nsegments(), 4);
	seg_path(2, p, sizeof p);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_ptr_nonnull(n = calloc(1, sizeof *n));
	ck_assert_int_eq(node_open(n, 5, 4096, 0), -1);
	journal_close(&n->j);
	dispatch_free(&n->d);
	/* --repair goes on without it: its events are lost, the rest kept. */
	ck_assert_int_eq(node_open(n, 5, 4096, 1), 0);
	ck_assert_uint_gt(n->d.queue.count, 0);
	ck_assert_uint_lt(n->d.queue.count, 300);
	ck_assert_uint_eq(n->d.next_id, 301);
	node_crash(n);
}
END_TEST

/*
 * A flipped byte in the last record of the newest segment is corruption,
 * not a torn write: the start stops.  Zeros from a sector boundary inside
 * the last record are a write a power loss cut: cut off.
 */
START_TEST(a_corrupt_last_record_is_not_cut_as_torn)
{
	struct node	*n;
	char		 p[300], zeros[4096];
	off_t		 size;
	int		 i, fd;

	three_records();
	seg_path(1, p, sizeof p);
	size = file_size(p);
	flip(size - 2);			/* in e10, the last record's body */
	ck_assert_ptr_nonnull(n = calloc(1, sizeof *n));
	ck_assert_int_eq(node_open(n, 5, JOURNAL_SEGMENT_SIZE, 0), -1);
	journal_close(&n->j);
	dispatch_free(&n->d);
	ck_assert_int_eq(file_size(p), size);
	ck_assert_int_eq(node_open(n, 5, JOURNAL_SEGMENT_SIZE, 1), 0);
	ck_assert_uint_eq(n->d.queue.count, 6);	/* e7-e10 dropped */
	node_crash(n);
	teardown();
	setup();

	/* One record of 10 x 100 bytes from offset 40: it spans 512-1024. */
	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	for (i = 1; i <= 10; i++)
		push_pad(n, i, 100);
	node_crash(n);
	seg_path(1, p, sizeof p);
	memset(zeros, 0, sizeof zeros);
	ck_assert_int_ge(fd = open(p, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, zeros, (size_t)(file_size(p) - 1030),
	    1030), file_size(p) - 1030);
	close(fd);
	/* Zeros from 1030, not a sector boundary: corrupt, not torn. */
	node_refused(5, JOURNAL_SEGMENT_SIZE, 0);
	/* Zeros from 1024: the tail of a write that never landed. */
	ck_assert_int_ge(fd = open(p, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, zeros, 6, 1024), 6);
	close(fd);
	n = node_new(5, JOURNAL_SEGMENT_SIZE);
	ck_assert_uint_eq(n->d.queue.count, 0);
	ck_assert_uint_eq(n->d.next_id, 1);	/* the cut ids were never given */
	node_crash(n);
}
END_TEST

START_TEST(batch_syncs_once_per_commit_never_not_at_all)
{
	struct node	*n = node_new(5, JOURNAL_SEGMENT_SIZE);
	uint64_t	 before = n->j.fsyncs_total;
	int		 i;

	for (i = 1; i <= 100; i++)
		push(n, i);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	ck_assert_uint_eq(n->j.fsyncs_total, before + 1);
	n->j.fsync = JOURNAL_NEVER;
	push(n, 101);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	ck_assert_uint_eq(n->j.fsyncs_total, before + 1);
	ck_assert_int_eq(n->j.unsynced, 1);
	node_crash(n);
}
END_TEST

/* One event with unique id uid, ENQUEUEd (version 3): the reply. */
static struct ps_enqueued
push_uid(struct node *n, const char *uid, const char *data)
{
	struct ps_buf		 b = { 0 }, dups = { 0 };
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 r;
	struct ps_frame		 f;
	struct ps_queue		 q;
	struct ps_attrs		 a;
	size_t			 start;
	uint32_t		 count;

	memset(&a, 0, sizeof a);
	a.priority = PS_PRIORITY_DEFAULT;
	a.uid = (const uint8_t *)uid;
	a.ulen = (uint8_t)strlen(uid);
	memset(&r, 0, sizeof r);
	r.dups = &dups;
	ck_assert_int_eq(ps_put_enqueue_begin(&b, 3, "default", 7, &start), 0);
	ps_put_enqueue_attrs(&b, start);
	ck_assert_int_eq(ps_put_enqueue_add_attrs(&b, &a, data,
	    (uint32_t)strlen(data)), 0);
	ps_put_enqueue_end(&b, start, 1);
	ck_assert_int_gt(ps_frame_parse(b.data, b.len, 1 << 20, &f), 0);
	ck_assert_int_eq(ps_get_enqueue(&f, 3, &q, &it, &count), 0);
	ck_assert_int_eq(dispatch_enqueue(&n->d, &it, &r), DISPATCH_TAKEN);
	ps_buf_free(&dups);
	ps_buf_free(&b);
	r.dups = NULL;
	return r;
}

/* Compaction's copy, as compact.c makes it: events the oldest holds. */
static void
keep_oldest(void *arg, const struct qevent *ev, uint64_t due)
{
	struct node	*n = arg;

	if (journal_seg_of(&n->j, ev->id) == 0)
		ck_assert_int_eq(journal_keep(&n->j, n->d.name, ev, due, NULL,
		    0), 0);
}

/* Events 1 to 600, committed ten at a time, all taken (in flight). */
static void
six_hundred_taken(struct node *n)
{
	int	 i;

	for (i = 1; i <= 600; i++) {
		push_pad(n, i, 60);
		if (i % 10 == 0)
			ck_assert_int_eq(journal_commit(&n->j), 0);
	}
	take(n, 600);
}

/* Compaction's walks, as compact.c does them, until none is wanted. */
static void
compact_all(struct node *n)
{
	int	 rounds = 0;

	while (journal_compact_wanted(&n->j)) {
		ck_assert_int_lt(rounds++, 20);
		dispatch_walk(&n->d, keep_oldest, n);
		ck_assert_int_eq(journal_commit(&n->j), 0);
	}
}

/*
 * Issue 30: the oldest segments all live (a backlog in flight), every
 * newer one acked.  The oldest is not "mostly dead weight", yet the
 * journal is past 2 x live + 2 segments: compaction is wanted, and once
 * it has copied the oldest forward the journal is within the bound, and
 * a restart finds the backlog as it was.
 */
START_TEST(a_journal_past_its_bound_is_compacted_whatever_the_share)
{
	struct node	*n = node_new(5, 4096);
	uint64_t	 bound;
	int		 i;

	six_hundred_taken(n);
	for (i = 61; i <= 600; i++)		/* 1 to 60 stay in flight */
		answer(n, (uint64_t)i, PS_ACK);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	ck_assert_int_ge(nsegments(), 8);
	ck_assert_uint_eq(n->j.segs[0].live * 2 > n->j.segs[0].written, 1);
	bound = 2 * n->j.live_bytes + 2 * 4096;
	ck_assert_uint_gt(seg_bytes(), bound);
	ck_assert_int_eq(journal_compact_wanted(&n->j), 1);
	compact_all(n);
	ck_assert_uint_le(seg_bytes(), 2 * n->j.live_bytes + 2 * 4096);
	ck_assert_int_le(nsegments(), 3);
	node_crash(n);
	n = node_new(5, 4096);
	ck_assert_uint_eq(n->d.queue.count, 60);
	take(n, 100);
	ck_assert_int_eq(n->got.n, 60);
	for (i = 0; i < 60; i++) {
		ck_assert_uint_eq(n->got.id[i], (uint64_t)i + 1);
		ck_assert_uint_eq(n->got.attempt[i], 2);
	}
	node_crash(n);
}
END_TEST

/*
 * An event cancelled in flight is done with in the journal at once.
 * Compaction, before its consumer answers, must not copy it forward:
 * its copy, written after the cancel's record, would bring it back on
 * replay (the mixed crash loop saw a cancelled event delivered again
 * after a crash).
 */
START_TEST(a_cancel_in_flight_survives_compaction)
{
	struct node		*n = node_new(5, 4096);
	struct dconsumer	*dc;
	int			 i;

	six_hundred_taken(n);
	ck_assert_int_eq(dispatch_cancel(&n->d, 1, &dc), DJOB_IN_FLIGHT);
	for (i = 61; i <= 600; i++)		/* 1 to 60 stay in flight */
		answer(n, (uint64_t)i, PS_ACK);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	ck_assert_int_eq(journal_compact_wanted(&n->j), 1);
	compact_all(n);
	node_crash(n);
	n = node_new(5, 4096);
	ck_assert_uint_eq(n->d.queue.count, 59);
	take(n, 100);
	ck_assert_int_eq(n->got.n, 59);
	for (i = 0; i < 59; i++)
		ck_assert_uint_eq(n->got.id[i], (uint64_t)i + 2);
	node_crash(n);
}
END_TEST

/*
 * Issue 30: a unique id held (acked, its window running; a dead letter)
 * survives a restart after the segment of its event's records went, as
 * it does while that segment stays.
 */
START_TEST(unique_ids_outlive_their_segment)
{
	struct node	*n;
	int		 i;

	carrying = 1;
	n = node_new(1, 4096);
	n->p.dedup_window = 3600 * 1000;
	ck_assert_uint_eq(push_uid(n, "job-1", "one").accepted, 1);
	ck_assert_uint_eq(push_uid(n, "job-2", "two").accepted, 1);
	take(n, 2);
	answer(n, 1, PS_ACK);			/* its window starts */
	for (i = 3; i <= 300; i++) {
		push_pad(n, i, 60);
		if (i % 10 == 0)
			ck_assert_int_eq(journal_commit(&n->j), 0);
		if (i == 150)			/* dead in a later segment */
			answer(n, 2, PS_NACK);
	}
	ck_assert_uint_eq(n->d.ndead, 1);
	take(n, 300);
	for (i = 3; i <= 300; i++)
		answer(n, (uint64_t)i, PS_ACK);
	ck_assert_int_eq(journal_commit(&n->j), 0);
	/* Segment 1, with the XENQUEUE of both, is gone. */
	ck_assert_uint_gt(n->j.segs[0].seq, 1);
	node_crash(n);

	n = node_new(1, 4096);
	n->p.dedup_window = 3600 * 1000;
	ck_assert_uint_eq(n->d.ndead, 1);
	ck_assert_uint_eq(push_uid(n, "job-1", "again").duplicates, 1);
	ck_assert_uint_eq(push_uid(n, "job-2", "again").duplicates, 1);
	ck_assert_uint_eq(push_uid(n, "job-3", "new").accepted, 1);
	/* And across another restart, its records carried once more. */
	node_crash(n);
	n = node_new(1, 4096);
	n->p.dedup_window = 3600 * 1000;
	ck_assert_uint_eq(push_uid(n, "job-1", "again").duplicates, 1);
	ck_assert_uint_eq(push_uid(n, "job-3", "again").duplicates, 1);
	node_crash(n);
	carrying = 0;
}
END_TEST

static Suite *
journal_suite(void)
{
	Suite	*s = suite_create("journal");
	TCase	*tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, crc32c_known_values);
	tcase_add_test(tc, idmap_matches_a_plain_array);
	tcase_add_test(tc, restart_keeps_pending_in_order_and_drops_acked);
	tcase_add_test(tc, ids_go_on_after_everything_was_acked);
	tcase_add_test(tc, events_come_back_to_their_queue);
	tcase_add_test(tc, dead_letters_come_back_and_last_attempts_are_buried);
	tcase_add_test(tc, rejected_dead_letters_come_back_rejected);
	tcase_add_test(tc, segments_go_once_their_events_are_done);
	tcase_add_test(tc, an_old_pending_event_keeps_newer_segments);
	tcase_add_test(tc, a_torn_last_record_is_cut);
	tcase_add_test(tc, a_bad_record_in_the_middle_stops_the_start);
	tcase_add_test(tc, a_bad_record_header_is_skipped_by_repair);
	tcase_add_test(tc, one_daemon_per_directory);
	tcase_add_test(tc, deleting_the_lock_file_frees_nothing);
	tcase_add_test(tc, a_missing_middle_segment_stops_the_start);
	tcase_add_test(tc, a_corrupt_last_record_is_not_cut_as_torn);
	tcase_add_test(tc, batch_syncs_once_per_commit_never_not_at_all);
	tcase_add_test(tc, a_journal_past_its_bound_is_compacted_whatever_the_share);
	tcase_add_test(tc, a_cancel_in_flight_survives_compaction);
	tcase_add_test(tc, unique_ids_outlive_their_segment);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(journal_suite());
	int	 failed;

	log_init("test_journal", PS_LOG_ERROR);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
