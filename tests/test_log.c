/* test_log.c: common/log.c's lines, and a flood of one line said once. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* What path holds, as a C string (the test's to free). */
static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*s = calloc(1, 1 << 20);
	size_t	 n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(s);
	n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static int
count(const char *s, const char *what)
{
	int	 n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

START_TEST(a_flood_of_one_line_is_said_once)
{
	char	 path[] = "/tmp/pushstage-test-log.XXXXXX";
	char	*got;
	int	 fd, i;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	close(fd);
	log_init("test", PS_LOG_INFO);
	log_set_format(PS_LOG_TEXT);
	ck_assert_int_eq(log_open(path), 0);
	for (i = 0; i < 6000; i++)
		log_warnx("an event was not stored: NATS status %d", 503);
	log_info("back");
	log_warnx("an event was not stored: NATS status %d", 503);
	log_debug("not at this level");
	log_info("back");
	got = slurp(path);
	/* The first, then the count of the rest before the next line. */
	ck_assert_int_eq(count(got, "NATS status 503"), 2);
	ck_assert_int_eq(count(got, "level=warning prog=test pid="), 3);
	ck_assert_ptr_nonnull(strstr(got, "msg=\"the line before came 5999 "
	    "more times\""));
	/* Another line between two alike: both are said. */
	ck_assert_int_eq(count(got, "msg=\"back\""), 2);
	ck_assert_ptr_null(strstr(got, "not at this level"));
	free(got);
	/* A flood, then nothing: log_flush says it (a timer, or the exit). */
	for (i = 0; i < 10; i++)
		log_warnx("then quiet");
	ck_assert_int_eq(log_held(), 1);
	log_flush();
	ck_assert_int_eq(log_held(), 0);
	got = slurp(path);
	ck_assert_ptr_nonnull(strstr(got, "msg=\"then quiet\""));
	ck_assert_ptr_nonnull(strstr(got, "msg=\"the line before came 9 more "
	    "times\""));
	free(got);
	unlink(path);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, a_flood_of_one_line_is_said_once);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(log_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
