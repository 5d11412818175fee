/*
 * test_procstat.c: bench/procstat.c reads the fields proc(5) numbers, so
 * pushbench's daemon CPU is user plus system time (fields 14 and 15), and
 * not, as it once was, field 13 plus field 14.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "procstat.h"

/* Each field its own number from 4 on: a field read in the wrong place shows. */
static const char line[] = "4242 (producerd) S 1 2 3 4 5 6 7 8 9 10 11 12 "
    "13 14 15 16 17 18 19 20\n";

START_TEST(fields_by_number)
{
	struct procstat	 ps;

	ck_assert_int_eq(procstat_parse(line, &ps), 0);
	/* Field n holds n - 3. */
	ck_assert_uint_eq(ps.minflt, 7);
	ck_assert_uint_eq(ps.majflt, 9);
	ck_assert_uint_eq(ps.utime, 11);
	ck_assert_uint_eq(ps.stime, 12);
}
END_TEST

START_TEST(command_with_spaces_and_parens)
{
	static const char odd[] = "7 (a) b (c)) R 1 2 3 4 5 6 100 8 200 10 "
	    "300 400 13 14\n";
	struct procstat	 ps;

	ck_assert_int_eq(procstat_parse(odd, &ps), 0);
	ck_assert_uint_eq(ps.minflt, 100);
	ck_assert_uint_eq(ps.majflt, 200);
	ck_assert_uint_eq(ps.utime, 300);
	ck_assert_uint_eq(ps.stime, 400);
}
END_TEST

START_TEST(a_real_line)
{
	/* Read off a shell on Debian 12 (cat /proc/self/stat). */
	static const char real[] = "26005 (cat) R 26002 26002 1269 0 -1 "
	    "4194304 100 0 0 0 7 3 0 0 20 0 1 0 83373 3133440 412 "
	    "18446744073709551615 94474469990400 94474470010281\n";
	struct procstat	 ps;

	ck_assert_int_eq(procstat_parse(real, &ps), 0);
	ck_assert_uint_eq(ps.minflt, 100);
	ck_assert_uint_eq(ps.majflt, 0);
	ck_assert_uint_eq(ps.utime, 7);
	ck_assert_uint_eq(ps.stime, 3);
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

	tcase_add_test(tc, fields_by_number);
	tcase_add_test(tc, command_with_spaces_and_parens);
	tcase_add_test(tc, a_real_line);
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
