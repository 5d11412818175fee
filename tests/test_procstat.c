/*
 * test_procstat.c: bench/procstat.c reads the fields proc(5) numbers, so
 * pushbench's daemon CPU is user plus system time (fields 14 and 15), and
 * not, as it once was, field 13 plus field 14.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "procstat.h"

/* Lines and the fields they must give. */
static const struct {
	const char	*what;
	const char	*line;
	uint64_t	 minflt, majflt, utime, stime;
} lines[] = {
	/* Field n holds n - 3: a field read in the wrong place shows. */
	{ "each field its own number", "4242 (producerd) S 1 2 3 4 5 6 7 8 "
	  "9 10 11 12 13 14 15 16 17 18 19 20\n", 7, 9, 11, 12 },
	{ "a command with spaces and parentheses", "7 (a) b (c)) R 1 2 3 4 "
	  "5 6 100 8 200 10 300 400 13 14\n", 100, 200, 300, 400 },
	/* Read off a shell on Debian 12 (cat /proc/self/stat). */
	{ "a real line", "26005 (cat) R 26002 26002 1269 0 -1 4194304 100 0 "
	  "0 0 7 3 0 0 20 0 1 0 83373 3133440 412 18446744073709551615 "
	  "94474469990400 94474470010281\n", 100, 0, 7, 3 },
};

START_TEST(fields_by_number)
{
	struct procstat	 ps;

	ck_assert_msg(procstat_parse(lines[_i].line, &ps) == 0, "%s",
	    lines[_i].what);
	ck_assert_uint_eq(ps.minflt, lines[_i].minflt);
	ck_assert_uint_eq(ps.majflt, lines[_i].majflt);
	ck_assert_uint_eq(ps.utime, lines[_i].utime);
	ck_assert_uint_eq(ps.stime, lines[_i].stime);
}
END_TEST

START_TEST(short_or_bad_lines)
{
	struct procstat	 ps;

	ck_assert_int_eq(procstat_parse("", &ps), -1);
	ck_assert_int_eq(procstat_parse("1 (x S 1 2", &ps), -1);
	ck_assert_int_eq(procstat_parse("1 (x) S 1 2 3 4 5 6 7 8 9 10 11",
	    &ps), -1);
	ck_assert_int_eq(procstat_parse("1 (x) S 1 2 3 4 5 6 7 8 9 10 y 12",
	    &ps), -1);
	ck_assert_int_eq(procstat_parse("1 (x)", &ps), -1);
}
END_TEST

static Suite *
procstat_suite(void)
{
	Suite	*s = suite_create("procstat");
	TCase	*tc = tcase_create("parse");

	tcase_add_loop_test(tc, fields_by_number, 0,
	    (int)(sizeof lines / sizeof lines[0]));
	tcase_add_test(tc, short_or_bad_lines);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(procstat_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
