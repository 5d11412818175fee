/* test_jsreply.c: reading JetStream's API replies (producerd/jsreply.c). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "jsreply.h"

START_TEST(errors_are_found_and_unescaped)
{
	const char	*ok = "{\"type\":\"io.nats.jetstream.api.v1.stream_msg_"
			    "delete_response\",\"success\":true}";
	const char	*bad = "{\"error\":{\"code\":400,\"err_code\":10058,"
			    "\"description\":\"subjects overlap with \\u003e "
			    "and \\\"x\\\"\"}}";
	char		 buf[64], tiny[8];

	ck_assert_ptr_null(js_error(ok, strlen(ok), buf, sizeof buf));
	ck_assert_str_eq(js_error(bad, strlen(bad), buf, sizeof buf),
	    "subjects overlap with > and \"x\"");
	/* Cut to the buffer, still a string. */
	ck_assert_str_eq(js_error(bad, strlen(bad), tiny, sizeof tiny),
	    "subject");
	/* An error past the reply's length is not its own. */
	ck_assert_ptr_null(js_error(bad, 1, buf, sizeof buf));
	/* No description: the reply as it is. */
	ck_assert_str_eq(js_error("{\"error\":1}", 11, buf, sizeof buf),
	    "{\"error\":1}");
	/*
	 * An escape cut short by the reply's end is taken as it is, and
	 * nothing past the end is read (found by fuzz_json).
	 */
	ck_assert_str_eq(js_error("{\"error\":{\"description\":\"a\\u00",
	    30, buf, sizeof buf), "au00");
	ck_assert_str_eq(js_error("{\"error\":{\"description\":\"\\u 041",
	    31, buf, sizeof buf), "u 041");
}
END_TEST

START_TEST(fields_by_key)
{
	const char	*r = "{\"stream\":\"PS_a\", \"seq\":42, \"duplicate\": "
			    "true,\"message\":{\"subject\":\"pushstage.a.dead\","
			    "\"data\":\"\"},\"first_seq\":7}";
	const char	*s;
	size_t		 len;
	uint64_t	 v = 0;

	ck_assert_int_eq(js_u64(r, "\"seq\":", &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(js_u64(r, "\"first_seq\":", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(js_u64(r, "\"last_seq\":", &v), -1);
	ck_assert_int_eq(js_u64(r, "\"stream\":", &v), -1);	/* a string */
	ck_assert(js_true(r, "\"duplicate\":"));
	ck_assert(!js_true(r, "\"did_create\":"));
	ck_assert_int_eq(js_string(r, "\"subject\":", &s, &len), 0);
	ck_assert_uint_eq(len, 16);
	ck_assert(strncmp(s, "pushstage.a.dead", len) == 0);
	ck_assert_int_eq(js_string(r, "\"data\":", &s, &len), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(js_string(r, "\"seq\":", &s, &len), -1);
	ck_assert_int_eq(js_string("{\"a\":\"open", "\"a\":", &s, &len), -1);
}
END_TEST

START_TEST(base64)
{
	static const struct {
		const char	*in;
		const char	*out;
	} t[] = {
		{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
		{ "Zm9vYg", "foob" }, { "Zm9vYmE=", "fooba" },
		{ "Zm9vYmFy", "foobar" }, { "ZGVhZDA=", "dead0" },
	};
	uint8_t		 buf[16], two[2];
	size_t		 i, n;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		n = b64_len(t[i].in, strlen(t[i].in));
		ck_assert_uint_eq(n, strlen(t[i].out));
		memset(buf, 0, sizeof buf);
		ck_assert_int_eq(b64_decode(t[i].in, strlen(t[i].in), buf,
		    sizeof buf), 0);
		ck_assert(memcmp(buf, t[i].out, n) == 0);
	}
	/* Bytes past 0x7f, and '+' '/'. */
	ck_assert_int_eq(b64_decode("/+8A", 4, buf, sizeof buf), 0);
	ck_assert(buf[0] == 0xff && buf[1] == 0xef && buf[2] == 0x00);
	/* Only what fits is kept; the rest is still checked. */
	memset(two, 0, sizeof two);
	ck_assert_int_eq(b64_decode("Zm9vYmFy", 8, two, sizeof two), 0);
	ck_assert(two[0] == 'f' && two[1] == 'o');
	ck_assert_int_eq(b64_decode("Zm9v!mFy", 8, two, sizeof two), -1);
	ck_assert_int_eq(b64_decode("Zm9vY", 5, buf, sizeof buf), -1);
	ck_assert_int_eq(b64_decode("Zm 9v", 5, buf, sizeof buf), -1);
}
END_TEST

START_TEST(headers)
{
	const char	*h = "NATS/1.0\r\nPushstage-Attempts: 3\r\n"
			    "pushstage-reason:nack\r\nNats-Msg-Id: \r\n\r\n";
	char		 v[8];

	ck_assert_int_eq(nats_header(h, strlen(h), "Pushstage-Attempts", v,
	    sizeof v), 0);
	ck_assert_str_eq(v, "3");
	ck_assert_int_eq(nats_header(h, strlen(h), "Pushstage-Reason", v,
	    sizeof v), 0);
	ck_assert_str_eq(v, "nack");
	ck_assert_int_eq(nats_header(h, strlen(h), "Nats-Msg-Id", v,
	    sizeof v), 0);
	ck_assert_str_eq(v, "");
	ck_assert_int_eq(nats_header(h, strlen(h), "Pushstage", v,
	    sizeof v), -1);
	ck_assert_int_eq(nats_header(h, strlen(h), "Missing", v, sizeof v),
	    -1);
	/* Cut short, or a line without its CR LF: not read past. */
	ck_assert_int_eq(nats_header(h, 12, "Pushstage-Attempts", v,
	    sizeof v), -1);
	ck_assert_int_eq(nats_header("NATS/1.0\nA: 1\n", 14, "A", v,
	    sizeof v), -1);
	/* A long value is cut to the buffer. */
	ck_assert_int_eq(nats_header("A: 123456789\r\n", 14, "A", v,
	    sizeof v), 0);
	ck_assert_str_eq(v, "1234567");
}
END_TEST

static Suite *
jsreply_suite(void)
{
	Suite	*s = suite_create("jsreply");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, errors_are_found_and_unescaped);
	tcase_add_test(tc, fields_by_key);
	tcase_add_test(tc, base64);
	tcase_add_test(tc, headers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(jsreply_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
