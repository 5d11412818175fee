/*
 * test_lib.c: libpushstage's public API against a real producerd (the
 * PRODUCERD environment variable), on a private socket per test.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pushstage.h"

static char	 dir[] = "/tmp/pushstage-lib.XXXXXX";
static char	 sock[128];
static pid_t	 daemon_pid = -1;

/* Start producerd with the options given, and wait for its socket. */
static void
start(const char *opt, ...)
{
	const char	*argv[16];
	const char	*prog = getenv("PRODUCERD");
	struct stat	 st;
	va_list		 ap;
	int		 n = 0, i;

	ck_assert_msg(prog != NULL, "set PRODUCERD");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/sock", dir);
	argv[n++] = prog;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--log-level";
	argv[n++] = "error";
	va_start(ap, opt);
	for (; opt != NULL && n < 15; opt = va_arg(ap, const char *))
		argv[n++] = opt;
	va_end(ap);
	argv[n] = NULL;
	if ((daemon_pid = fork()) == 0) {
		/* A failed test exits at once: take the daemon with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(prog, (char **)argv);
		_exit(127);
	}
	ck_assert_int_gt(daemon_pid, 0);
	for (i = 0; i < 500 && stat(sock, &st) == -1; i++)
		usleep(10000);
	ck_assert_msg(i < 500, "producerd did not make %s", sock);
}

static void
stop(void)
{
	int	 status;

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, &status, 0);
		daemon_pid = -1;
	}
	unlink(sock);
	rmdir(dir);
}

static struct pushstage *
client(void)
{
	struct pushstage	*p = pushstage_new();

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(pushstage_connect(p, sock, "test") == PUSHSTAGE_OK,
	    "%s", pushstage_error(p));
	return p;
}

static struct pushstage *
consumer(const char *id, uint32_t max, uint32_t min)
{
	struct pushstage	*p = pushstage_new();

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(pushstage_connect_consumer(p, sock, id, max, min) ==
	    PUSHSTAGE_OK, "%s", pushstage_error(p));
	return p;
}

static uint64_t
counter(struct pushstage *p, const char *name)
{
	const struct pushstage_stats	*st;
	uint64_t			 v;

	ck_assert_int_eq(pushstage_stats(p, &st), PUSHSTAGE_OK);
	ck_assert_msg(pushstage_stat(st->counters, st->ncounters, name,
	    &v) == 0, "no counter %s", name);
	return v;
}

START_TEST(no_daemon)
{
	struct pushstage	*p = pushstage_new();

	ck_assert_int_eq(pushstage_connect(p, "/nonexistent/pushstage.sock",
	    NULL), PUSHSTAGE_ECONNECT);
	ck_assert_ptr_nonnull(strstr(pushstage_error(p),
	    "/nonexistent/pushstage.sock"));
	/* Not connected: every call says so instead of crashing. */
	ck_assert_int_eq(pushstage_add(p, "x", 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_flush(p), PUSHSTAGE_EINVAL);
	pushstage_free(p);
	pushstage_free(NULL);
}
END_TEST

START_TEST(roundtrip_in_order_with_acks)
{
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	char				 want[16];
	uint32_t			 ask, asked = 4;
	int				 i;

	start(NULL);
	c = client();
	for (i = 1; i <= 20; i++) {
		snprintf(want, sizeof want, "e%d", i);
		ck_assert_int_eq(pushstage_add(c, want, strlen(want)), 0);
	}
	ck_assert_uint_eq(pushstage_batch_count(c), 20);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.accepted, 20);
	ck_assert_uint_eq(r.refused, 0);
	ck_assert_uint_eq(r.first_id, 1);
	ck_assert_uint_eq(pushstage_batch_count(c), 0);

	w = consumer("w1", 4, 2);
	ck_assert_int_eq(pushstage_acks(w), 1);
	ck_assert_int_eq(pushstage_demand(w, 4), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	for (i = 1; i <= 20; i++) {
		ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
		snprintf(want, sizeof want, "e%d", i);
		ck_assert_uint_eq(ev.id, (uint64_t)i);
		ck_assert_uint_eq(ev.attempt, 1);
		ck_assert_uint_eq(ev.len, strlen(want));
		ck_assert_mem_eq(ev.data, want, ev.len);
		ck_assert_int_eq(pushstage_ack(w, &ev.id, 1), PUSHSTAGE_OK);
		/* GenStage's window: ask again only on falling to min. */
		ask = pushstage_done(w);
		ck_assert_uint_eq(ask, i % 2 == 0 ? 2 : 0);
		if (ask != 0)
			ck_assert_int_eq(pushstage_demand(w, ask), 0);
		asked += ask;
		ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	}
	ck_assert_uint_eq(asked, 24);
	ck_assert_uint_eq(counter(c, "acked_total"), 20);
	ck_assert_uint_eq(counter(c, "queued"), 0);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/* The ack timeout as WELCOME gave it; TOUCH of a held and an unheld id. */
START_TEST(touch_and_ack_timeout)
{
	struct pushstage_enqueued r;
	struct pushstage_event	 ev;
	struct pushstage	*c, *w;
	uint64_t		 bogus = 999;

	start("--ack-timeout", "60", NULL);
	c = client();
	ck_assert_int_eq(pushstage_add(c, "x", 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	w = consumer("toucher", 1, 0);
	ck_assert_uint_eq(pushstage_ack_timeout_ms(w), 60000);
	ck_assert_int_eq(pushstage_demand(w, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_OK);
	/* Touching what it holds is taken; the event stays in flight. */
	ck_assert_int_eq(pushstage_touch(w, &ev.id, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_uint_eq(counter(c, "in_flight"), 1);
	ck_assert_int_eq(pushstage_ack(w, &ev.id, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_uint_eq(counter(c, "in_flight"), 0);
	ck_assert_uint_eq(counter(c, "acked_total"), 1);
	/* Touching what it does not hold: the daemon says so, and closes. */
	ck_assert_int_eq(pushstage_touch(w, &bogus, 1), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_flush(w), PUSHSTAGE_OK);
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_EPROTO);
	ck_assert_ptr_nonnull(strstr(pushstage_error(w), "not in flight"));
	/* A client has nothing to touch. */
	ck_assert_int_eq(pushstage_touch(c, &bogus, 1), PUSHSTAGE_EINVAL);
	pushstage_free(w);
	pushstage_free(c);
	stop();
}
END_TEST

/* Every status has its own words; an unknown one says so. */
START_TEST(strerror_names_every_status)
{
	int	 a, b;

	for (a = PUSHSTAGE_EAGAIN; a <= PUSHSTAGE_OK; a++) {
		ck_assert_str_ne(pushstage_strerror(a), "unknown error");
		for (b = PUSHSTAGE_EAGAIN; b < a; b++)
			ck_assert_str_ne(pushstage_strerror(a),
			    pushstage_strerror(b));
	}
	ck_assert_str_eq(pushstage_strerror(PUSHSTAGE_EAGAIN - 1),
	    "unknown error");
	ck_assert_str_eq(pushstage_strerror(1), "unknown error");
	ck_assert_str_eq(pushstage_strerror(PUSHSTAGE_ETOOBIG),
	    "the event does not fit in a frame");
}
END_TEST

START_TEST(consumer_entry_names_the_process)
{
	const struct pushstage_stats	*st;
	struct pushstage		*c, *w;
	uint64_t			 v;
	time_t				 now = time(NULL);

	start(NULL);
	w = consumer("me", 3, 0);
	ck_assert_int_eq(pushstage_demand(w, 3), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	c = client();
	/* The DEMAND and the STATS go on two sockets: wait for the first. */
	do {
		ck_assert_int_eq(pushstage_stats(c, &st), PUSHSTAGE_OK);
		ck_assert_uint_eq(st->nconsumers, 1);
		pushstage_stat(st->consumers[0].fields,
		    st->consumers[0].nfields, "demand", &v);
	} while (v != 3);
	ck_assert_str_eq(st->consumers[0].id, "me");
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "pid", &v), 0);
	ck_assert_uint_eq(v, (uint64_t)getpid());
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "uid", &v), 0);
	ck_assert_uint_eq(v, (uint64_t)getuid());
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "connected_since", &v), 0);
	ck_assert(v + 5 >= (uint64_t)now && v <= (uint64_t)now + 5);
	ck_assert_int_eq(pushstage_stat(st->consumers[0].fields,
	    st->consumers[0].nfields, "no such field", &v), -1);
	pushstage_free(c);
	pushstage_free(w);
	stop();
}
END_TEST

START_TEST(batch_limits)
{
	struct pushstage_enqueued	 r;
	struct pushstage		*c;
	static char			 big[8192];
	size_t				 n = 0;
	int				 e;

	start("--max-frame", "4096", NULL);
	c = client();
	ck_assert_uint_eq(pushstage_max_event(c), 4096 - 8);
	/* Too big for the daemon: refused before anything is sent. */
	ck_assert_int_eq(pushstage_add(c, big, 4096), PUSHSTAGE_ETOOBIG);
	ck_assert_ptr_nonnull(strstr(pushstage_error(c), "--max-frame"));
	ck_assert_uint_eq(pushstage_batch_count(c), 0);
	/* Fits alone; the batch fills, then asks to be sent. */
	while ((e = pushstage_add(c, big, 1000)) == PUSHSTAGE_OK)
		n++;
	ck_assert_int_eq(e, PUSHSTAGE_ETOOBIG);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	ck_assert_uint_eq(r.accepted, 4);
	ck_assert_int_eq(pushstage_add(c, big, 1000), PUSHSTAGE_OK);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(full_queue_keeps_the_refused)
{
	struct pushstage_enqueued	 r;
	struct pushstage		*c;
	int				 i;

	start("--max-queue", "3", NULL);
	c = client();
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(pushstage_add(c, "abc", 3), 0);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.accepted, 3);
	ck_assert_uint_eq(r.refused, 2);
	/* The two refused stay, alone, to be sent again. */
	ck_assert_uint_eq(pushstage_batch_count(c), 2);
	ck_assert_int_eq(pushstage_send(c, &r), PUSHSTAGE_OK);
	ck_assert_uint_eq(r.refused, 2);
	pushstage_clear(c);
	ck_assert_uint_eq(pushstage_batch_count(c), 0);
	ck_assert_uint_eq(counter(c, "queued"), 3);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(roles_are_checked)
{
	struct pushstage_enqueued	 r;
	struct pushstage		*c, *w;
	uint64_t			 id = 1;

	start(NULL);
	c = client();
	w = consumer("w", 2, 0);
	ck_assert_int_eq(pushstage_demand(c, 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_ack(c, &id, 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_add(w, "x", 1), PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_send(w, &r), PUSHSTAGE_EINVAL);
	/* Demand past max_demand is the caller's mistake, said locally. */
	ck_assert_int_eq(pushstage_demand(w, 3), PUSHSTAGE_EINVAL);
	ck_assert_ptr_nonnull(strstr(pushstage_error(w), "max_demand"));
	ck_assert_int_eq(pushstage_connect(c, sock, NULL), PUSHSTAGE_EINVAL);
	pushstage_free(c);
	pushstage_free(w);

	w = pushstage_new();
	ck_assert_int_eq(pushstage_connect_consumer(w, sock, "", 1, 0),
	    PUSHSTAGE_EINVAL);
	ck_assert_int_eq(pushstage_connect_consumer(w, sock, "w", 2, 2),
	    PUSHSTAGE_EINVAL);
	pushstage_free(w);
	stop();
}
END_TEST

START_TEST(nack_dead_letter_and_retry)
{
	const struct pushstage_dead	*d;
	struct pushstage_enqueued	 r;
	struct pushstage_event		 ev;
	struct pushstage		*c, *w;
	uint32_t			 total, found;
	size_t				 n;

	start("--max-attempts", "2", NULL);
	c = client();
	ck_assert_int_eq(pushstage_add(c, "payload", 7), 0);
	ck_assert_int_eq(pushstage_send(c, &r), 0);
	w = consumer("w", 1, 0);
	ck_assert_uint_eq(pushstage_max_attempts(w), 2);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_uint_eq(ev.attempt, 1);
	ck_assert_int_eq(pushstage_nack(w, &ev.id, 1), 0);
	ck_assert_int_eq(pushstage_demand(w, pushstage_done(w)), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	ck_assert_int_eq(pushstage_next_event(w, &ev), 0);
	ck_assert_uint_eq(ev.attempt, 2);
	ck_assert_int_eq(pushstage_nack(w, &ev.id, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	pushstage_free(w);

	do
		ck_assert_int_eq(pushstage_dead_list(c, 4, &d, &n, &total), 0);
	while (total == 0);
	ck_assert_uint_eq(total, 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(d[0].id, r.first_id);
	ck_assert_int_eq(d[0].reason, PUSHSTAGE_DEAD_NACK);
	ck_assert_uint_eq(d[0].attempts, 2);
	ck_assert_uint_eq(d[0].len, 7);
	ck_assert_uint_eq(d[0].preview_len, 4);
	ck_assert_mem_eq(d[0].preview, "payl", 4);
	ck_assert_int_eq(pushstage_dead_retry(c, &r.first_id, 1, &found), 0);
	ck_assert_uint_eq(found, 1);
	ck_assert_int_eq(pushstage_dead_drop(c, NULL, 0, &found), 0);
	ck_assert_uint_eq(found, 0);
	ck_assert_uint_eq(counter(c, "queued"), 1);
	pushstage_free(c);
	stop();
}
END_TEST

START_TEST(daemon_going_away_is_eio)
{
	struct pushstage_event	 ev;
	struct pushstage	*w;

	start(NULL);
	w = consumer("w", 1, 0);
	ck_assert_int_eq(pushstage_demand(w, 1), 0);
	ck_assert_int_eq(pushstage_flush(w), 0);
	stop();
	ck_assert_int_eq(pushstage_next_event(w, &ev), PUSHSTAGE_EIO);
	ck_assert_msg(strstr(pushstage_error(w), sock) != NULL, "%s",
	    pushstage_error(w));
	pushstage_free(w);
}
END_TEST

static Suite *
lib_suite(void)
{
	Suite	*s = suite_create("libpushstage");
	TCase	*tc = tcase_create("api");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, NULL, stop);
	tcase_add_test(tc, no_daemon);
	tcase_add_test(tc, roundtrip_in_order_with_acks);
	tcase_add_test(tc, touch_and_ack_timeout);
	tcase_add_test(tc, strerror_names_every_status);
	tcase_add_test(tc, consumer_entry_names_the_process);
	tcase_add_test(tc, batch_limits);
	tcase_add_test(tc, full_queue_keeps_the_refused);
	tcase_add_test(tc, roles_are_checked);
	tcase_add_test(tc, nack_dead_letter_and_retry);
	tcase_add_test(tc, daemon_going_away_is_eio);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(lib_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
