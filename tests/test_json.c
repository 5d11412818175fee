/* test_json.c: the HTTP API's JSON (producerd/json.c). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"

/* What b holds, as a C string (the test's to free). */
static char *
text(struct evbuffer *b)
{
	size_t	 len = evbuffer_get_length(b);
	char	*s = malloc(len + 1);

	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	return s;
}

static void
str_is(const void *in, size_t len, const char *want)
{
	struct evbuffer	*b = evbuffer_new();
	char		*got;

	json_str(b, in, len);
	got = text(b);
	ck_assert_str_eq(got, want);
	free(got);
	evbuffer_free(b);
}

START_TEST(strings_are_safe_in_any_page)
{
	str_is("plain", 5, "\"plain\"");
	str_is("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	str_is("<script>&</script>", 18,
	    "\"\\u003cscript\\u003e\\u0026\\u003c/script\\u003e\"");
	str_is("\n\t\x01\x7f", 4, "\"\\n\\u0009\\u0001\\u007f\"");
	str_is("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15,
	    "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Not UTF-8: a stray byte, an overlong form, a surrogate, a cut. */
	str_is("a\xff" "b", 3, "\"a\\ufffdb\"");
	str_is("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");
	str_is("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
	str_is("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");
	str_is("nul\0in", 6, "\"nul\\u0000in\"");
}
END_TEST

static void
preview_is(const void *in, size_t len, int cut, const char *want)
{
	struct evbuffer	*b = evbuffer_new();
	char		*got;

	json_preview(b, in, len, cut);
	got = text(b);
	ck_assert_str_eq(got, want);
	free(got);
	evbuffer_free(b);
}

START_TEST(previews_are_text_or_hex)
{
	preview_is("job 1\n", 6, 0,
	    "\"preview\":\"job 1\\n\",\"preview_encoding\":\"text\"");
	preview_is("\x00\x01\xff", 3, 0,
	    "\"preview\":\"0001ff\",\"preview_encoding\":\"hex\"");
	/* A character cut by the preview's end is left out, not hex. */
	preview_is("caf\xc3", 4, 1,
	    "\"preview\":\"caf\",\"preview_encoding\":\"text\"");
	preview_is("caf\xc3", 4, 0,
	    "\"preview\":\"636166c3\",\"preview_encoding\":\"hex\"");
}
END_TEST

static uint64_t
at(const uint8_t *p, uint32_t i)
{
	uint64_t	 v = 0;
	int		 k;

	for (k = 0; k < 8; k++)
		v = v << 8 | p[8 * i + (uint32_t)k];
	return v;
}

static int
ids(const char *body, uint8_t *out, size_t max, uint32_t *n)
{
	char	 why[128];

	return json_ids(body, strlen(body), out, max, n, why, sizeof why);
}

START_TEST(bodies_of_ids)
{
	uint8_t		 out[8 * 4];
	uint32_t	 n = 99;

	ck_assert_int_eq(ids("", out, 4, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ids(" { } ", out, 4, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ids("{\"ids\":[]}", out, 4, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ids("{ \"ids\" : [ 1 , 18446744073709551615,7 ] }\n",
	    out, 4, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(at(out, 0), 1);
	ck_assert_uint_eq(at(out, 1), UINT64_MAX);
	ck_assert_uint_eq(at(out, 2), 7);
	/* Refused: anything else. */
	ck_assert_int_eq(ids("{\"ids\":[18446744073709551616]}", out, 4, &n),
	    -1);
	ck_assert_int_eq(ids("{\"ids\":[1,2,3,4,5]}", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\":[-1]}", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\":[1,]}", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\":[1 2]}", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\":[\"1\"]}", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\":[1]", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\":[1]} {}", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"idz\":[1]}", out, 4, &n), -1);
	ck_assert_int_eq(ids("[1]", out, 4, &n), -1);
	ck_assert_int_eq(ids("{", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\"", out, 4, &n), -1);
	ck_assert_int_eq(ids("{\"ids\":", out, 4, &n), -1);
}
END_TEST

/* A body copied into memory of its own, read in place as the API does. */
static char *
body(const char *s, struct json_in *j)
{
	char	*b = strdup(s);

	ck_assert_ptr_nonnull(b);
	json_in_init(j, b, strlen(b));
	return b;
}

START_TEST(objects_read_in_place)
{
	struct json_in	 j;
	char		*b, *k, *v;
	size_t		 kl, vl;
	uint64_t	 u;
	int		 n = 0, f, hn = 0;

	b = body(" {\"a\" : \"x\\\"\\\\\\/\\n\\u00e9\\ud83d\\ude00\", \"b\":true,"
	    "\"c\":null,\"d\":65535,\"h\":{\"x\":\"y\"}} \n", &j);
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_str_eq(k, "a");
	ck_assert_int_eq(json_in_string(&j, &v, &vl), 0);
	ck_assert_uint_eq(vl, 11);
	ck_assert_str_eq(v, "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_null(&j), 0);
	ck_assert_int_eq(json_in_bool(&j, &f), 0);
	ck_assert_int_eq(f, 1);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_null(&j), 1);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_uint(&j, 65535, &u), 0);
	ck_assert_uint_eq(u, 65535);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &hn, &k, &kl), 1);
	ck_assert_int_eq(json_in_string(&j, &v, &vl), 0);
	ck_assert_str_eq(v, "y");
	ck_assert_int_eq(json_in_member(&j, &hn, &k, &kl), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 0);
	ck_assert_int_eq(json_in_end(&j), 0);
	ck_assert_int_eq(n, 5);
	free(b);

	/* Refused, each saying why. */
	b = body("{\"d\":65536}", &j);
	n = 0;
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_uint(&j, 65535, &u), -1);
	ck_assert_ptr_nonnull(strstr(j.why, "0 to 65535"));
	free(b);
	b = body("{\"d\":1.5}", &j);
	n = 0;
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_uint(&j, 65535, &u), -1);
	free(b);
	b = body("{\"s\":\"\\ud800x\"}", &j);
	n = 0;
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_string(&j, &v, &vl), -1);
	ck_assert_ptr_nonnull(strstr(j.why, "surrogate"));
	free(b);
	b = body("{\"s\":\"\xff\"}", &j);
	n = 0;
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_string(&j, &v, &vl), -1);
	ck_assert_ptr_nonnull(strstr(j.why, "UTF-8"));
	free(b);
	b = body("{\"a\":1,}", &j);
	n = 0;
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 1);
	ck_assert_int_eq(json_in_uint(&j, 9, &u), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), -1);
	ck_assert_str_eq(j.why, "not a member's name in quotes at byte 7");
	free(b);
	b = body("{} x", &j);
	n = 0;
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), 0);
	ck_assert_int_eq(json_in_end(&j), -1);
	free(b);
	b = body("[1]", &j);
	ck_assert_int_eq(json_in_object(&j), -1);
	free(b);
	b = body("{\"a\"", &j);
	n = 0;
	ck_assert_int_eq(json_in_object(&j), 0);
	ck_assert_int_eq(json_in_member(&j, &n, &k, &kl), -1);
	free(b);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, strings_are_safe_in_any_page);
	tcase_add_test(tc, previews_are_text_or_hex);
	tcase_add_test(tc, bodies_of_ids);
	tcase_add_test(tc, objects_read_in_place);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(json_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
