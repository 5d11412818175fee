/*
 * test_task.c: the task envelope's bytes (common/task.c) and the JSON
 * validator (common/jsoncheck.c), against docs/tasks.md's test vectors
 * (TASK_VECTORS: tests/fixtures/tasks/vectors.json) and cases of their
 * own.  The vectors are read with a small JSON reader of this file's.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsoncheck.h"
#include "task.h"

/* A JSON value as read: strings decoded; numbers and literals as text. */
struct jv {
	int		 type;		/* enum json_type */
	char		*s;		/* a string's bytes, a number's text */
	size_t		 len;
	char	       **keys;		/* an object's */
	struct jv	*kids;		/* an array's or object's values */
	size_t		 n;
};

static const char	*rp;		/* the reader's place */

static void
ws(void)
{
	while (*rp == ' ' || *rp == '\n' || *rp == '\t' || *rp == '\r')
		rp++;
}

static unsigned int
hex4(const char *p)
{
	unsigned int	 v;

	ck_assert_int_eq(sscanf(p, "%4x", &v), 1);
	return v;
}

static void
put_utf8(char *out, size_t *n, unsigned int cp)
{
	if (cp < 0x80)
		out[(*n)++] = (char)cp;
	else if (cp < 0x800) {
		out[(*n)++] = (char)(0xc0 | cp >> 6);
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xe0 | cp >> 12);
		out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*n)++] = (char)(0xf0 | cp >> 18);
		out[(*n)++] = (char)(0x80 | (cp >> 12 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* A string at rp (its quote), decoded, NUL-terminated, its length in *n. */
static char *
read_string(size_t *n)
{
	char		*out = malloc(strlen(rp) + 1);
	unsigned int	 cp;

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(*rp, '"');
	rp++;
	*n = 0;
	while (*rp != '"') {
		if (*rp != '\\') {
			out[(*n)++] = *rp++;
			continue;
		}
		rp++;
		switch (*rp) {
		case 'n': out[(*n)++] = '\n'; break;
		case 't': out[(*n)++] = '\t'; break;
		case 'r': out[(*n)++] = '\r'; break;
		case 'b': out[(*n)++] = '\b'; break;
		case 'f': out[(*n)++] = '\f'; break;
		case 'u':
			cp = hex4(rp + 1);
			rp += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				ck_assert(rp[1] == '\\' && rp[2] == 'u');
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (hex4(rp + 3) - 0xdc00);
				rp += 6;
			}
			put_utf8(out, n, cp);
			break;
		default:
			out[(*n)++] = *rp;
		}
		rp++;
	}
	rp++;
	out[*n] = '\0';
	return out;
}

static void
read_value(struct jv *v)
{
	const char	*start;

	memset(v, 0, sizeof *v);
	ws();
	if (*rp == '{' || *rp == '[') {
		v->type = *rp == '{' ? JSON_OBJECT : JSON_ARRAY;
		rp++;
		ws();
		while (*rp != '}' && *rp != ']') {
			v->kids = realloc(v->kids, (v->n + 1) * sizeof *v->kids);
			v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
			ck_assert(v->kids != NULL && v->keys != NULL);
			v->keys[v->n] = NULL;
			if (v->type == JSON_OBJECT) {
				v->keys[v->n] = read_string(&v->len);
				ws();
				ck_assert_int_eq(*rp++, ':');
			}
			read_value(&v->kids[v->n++]);
			ws();
			if (*rp == ',')
				rp++;
			ws();
		}
		rp++;
		return;
	}
	if (*rp == '"') {
		v->type = JSON_STRING;
		v->s = read_string(&v->len);
		return;
	}
	start = rp;
	while (*rp != '\0' && strchr(",]} \n", *rp) == NULL)
		rp++;
	v->type = JSON_NUMBER;
	v->len = (size_t)(rp - start);
	v->s = strndup(start, v->len);
}

static const struct jv *
member(const struct jv *v, const char *name)
{
	size_t	 i;

	ck_assert_int_eq(v->type, JSON_OBJECT);
	for (i = 0; i < v->n; i++) {
		if (strcmp(v->keys[i], name) == 0)
			return &v->kids[i];
	}
	ck_abort_msg("no member \"%s\"", name);
	return NULL;
}

static const char *
str(const struct jv *v, const char *name, size_t *len)
{
	const struct jv	*m = member(v, name);

	ck_assert_int_eq(m->type, JSON_STRING);
	if (len != NULL)
		*len = m->len;
	return m->s;
}

/* Hex text as bytes (the test's to free); *n their count. */
static char *
unhex(const char *h, size_t *n)
{
	size_t	 i, len = strlen(h);
	char	*out = malloc(len / 2 + 1);

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(len % 2, 0);
	for (i = 0; i < len / 2; i++)
		out[i] = (char)hex4((char[]){ '0', '0', h[2 * i],
		    h[2 * i + 1], '\0' });
	*n = len / 2;
	return out;
}

static void
jv_free(struct jv *v)
{
	size_t	 i;

	for (i = 0; i < v->n; i++) {
		jv_free(&v->kids[i]);
		free(v->keys[i]);
	}
	free(v->kids);
	free(v->keys);
	free(v->s);
}

/* The vectors file, checked as JSON by jsoncheck first. */
static struct jv	 vectors;
static char		*vectors_text;

static void
vectors_read(void)
{
	const char		*path = getenv("TASK_VECTORS");
	struct json_fault	 f;
	FILE			*fp;
	long			 size;
	int			 type;

	ck_assert_msg(path != NULL, "TASK_VECTORS is not set");
	ck_assert_ptr_nonnull(fp = fopen(path, "rb"));
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	ck_assert_int_ge(size = ftell(fp), 1);
	rewind(fp);
	ck_assert_ptr_nonnull(vectors_text = malloc((size_t)size + 1));
	ck_assert_uint_eq(fread(vectors_text, 1, (size_t)size, fp),
	    (size_t)size);
	vectors_text[size] = '\0';
	fclose(fp);
	ck_assert_msg(jsoncheck(vectors_text, (size_t)size, &type, &f) == 0,
	    "vectors.json at byte %zu: %s", f.off, f.why);
	ck_assert_int_eq(type, JSON_OBJECT);
	rp = vectors_text;
	read_value(&vectors);
}

static void
vectors_free(void)
{
	jv_free(&vectors);
	free(vectors_text);
}

static int
type_of(const char *s, size_t len)
{
	struct json_fault	 f;
	int			 type;

	if (jsoncheck(s, len, &type, &f) != 0)
		return -1;
	return type;
}

START_TEST(vectors_calls)
{
	const struct jv	*calls, *c;
	const char	*name, *args, *kwargs;
	char		*want, buf[1024];
	size_t		 i, nlen, alen, klen, wlen, off;

	calls = member(&vectors, "calls");
	ck_assert_uint_ge(calls->n, 5);
	for (i = 0; i < calls->n; i++) {
		c = &calls->kids[i];
		name = str(c, "task", &nlen);
		args = str(c, "args_json", &alen);
		kwargs = str(c, "kwargs_json", &klen);
		ck_assert_ptr_null(task_name_check(name, nlen, &off));
		ck_assert_int_eq(type_of(args, alen), JSON_ARRAY);
		ck_assert_int_eq(type_of(kwargs, klen), JSON_OBJECT);
		want = unhex(str(c, "payload_hex", NULL), &wlen);
		ck_assert_uint_eq(task_payload(buf, sizeof buf, args, alen,
		    kwargs, klen), wlen);
		ck_assert_mem_eq(buf, want, wlen);
		ck_assert_int_eq(type_of(buf, wlen), JSON_OBJECT);
		/* Too small a buffer: its length, nothing written. */
		buf[0] = 'x';
		ck_assert_uint_eq(task_payload(buf, wlen - 1, args, alen,
		    kwargs, klen), wlen);
		ck_assert_int_eq(buf[0], 'x');
		free(want);
	}
}
END_TEST

START_TEST(vectors_errors)
{
	const struct jv	*errs, *e, *err;
	const char	*type, *msg, *tb, *text;
	char		*want, buf[TASK_ERROR_MAX];
	size_t		 i, mlen, tlen, wlen, textlen, n;

	errs = member(&vectors, "errors");
	ck_assert_uint_ge(errs->n, 5);
	for (i = 0; i < errs->n; i++) {
		e = &errs->kids[i];
		err = member(e, "error");
		type = str(err, "type", NULL);
		msg = str(err, "message", &mlen);
		tb = str(err, "traceback", &tlen);
		want = unhex(str(e, "error_hex", NULL), &wlen);
		text = str(e, "text", &textlen);
		ck_assert_uint_eq(textlen, wlen);
		ck_assert_mem_eq(text, want, wlen);
		n = task_error(buf, sizeof buf, type, msg, mlen, tb, tlen);
		ck_assert_msg(n == wlen && memcmp(buf, want, n) == 0,
		    "error %zu: got %.*s", i, (int)n, buf);
		free(want);
	}
}
END_TEST

/* The payloads a reader must take are JSON objects; of those it must
 * refuse, the validator refuses those that are not JSON or not UTF-8. */
START_TEST(vectors_payloads_and_results)
{
	const struct jv	*list, *e;
	const char	*why;
	char		*p;
	size_t		 i, len;

	list = member(&vectors, "decode");
	for (i = 0; i < list->n; i++) {
		p = (char *)str(&list->kids[i], "payload", &len);
		ck_assert_int_eq(type_of(p, len), JSON_OBJECT);
		p = (char *)str(&list->kids[i], "args_json", &len);
		ck_assert_int_eq(type_of(p, len), JSON_ARRAY);
		p = (char *)str(&list->kids[i], "kwargs_json", &len);
		ck_assert_int_eq(type_of(p, len), JSON_OBJECT);
	}
	list = member(&vectors, "bad_payloads");
	ck_assert_uint_ge(list->n, 7);
	for (i = 0; i < list->n; i++) {
		e = &list->kids[i];
		why = str(e, "why", NULL);
		p = unhex(str(e, "payload_hex", NULL), &len);
		if (strcmp(why, "not JSON") == 0 ||
		    strcmp(why, "not UTF-8") == 0)
			ck_assert_msg(type_of(p, len) == -1, "%zu taken", i);
		else
			ck_assert_msg(type_of(p, len) != -1, "%zu refused", i);
		free(p);
	}
	list = member(&vectors, "results");
	for (i = 0; i < list->n; i++) {
		e = &list->kids[i];
		p = unhex(str(e, "result_hex", NULL), &len);
		ck_assert_int_ne(type_of(p, len), -1);
		ck_assert_uint_eq(len, strlen(str(e, "value_json", NULL)));
		ck_assert_mem_eq(p, str(e, "value_json", NULL), len);
		free(p);
	}
}
END_TEST

static void
good(const char *text, int type)
{
	struct json_fault	 f;
	int			 t = 0;

	ck_assert_msg(jsoncheck(text, strlen(text), &t, &f) == 0,
	    "refused %s: byte %zu: %s", text, f.off, f.why);
	ck_assert_msg(t == type, "%s: type %d", text, t);
}

static void
bad_at(const void *text, size_t len, size_t off, const char *words)
{
	struct json_fault	 f = { 99999, NULL };
	int			 t = -7;

	ck_assert_msg(jsoncheck(text, len, &t, &f) == -1, "took %.*s",
	    (int)len, (const char *)text);
	ck_assert_msg(f.off == off && strstr(f.why, words) != NULL,
	    "%.*s: byte %zu: %s", (int)len, (const char *)text, f.off, f.why);
	ck_assert_int_eq(t, -7);
}

static void
bad(const char *text, size_t off, const char *words)
{
	bad_at(text, strlen(text), off, words);
}

START_TEST(json_valid)
{
	good("{}", JSON_OBJECT);
	good(" [ ] ", JSON_ARRAY);
	good("\t\r\n{ \"a\" : [ 1 , -2.5e+3 , 0 , 0.0, 1E-9, -0 ] }\n",
	    JSON_OBJECT);
	good("\"\"", JSON_STRING);
	good("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"",
	    JSON_STRING);
	good("\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"", JSON_STRING);
	good("0", JSON_NUMBER);
	good("123456789012345678901234567890", JSON_NUMBER);
	good("true", JSON_TRUE);
	good("false", JSON_FALSE);
	good("null", JSON_NULL);
	good("[[[[{\"a\":{\"b\":[null,true,false,{}]}}]]],[]]", JSON_ARRAY);
	good("{\"a\":1,\"a\":2}", JSON_OBJECT);	/* names need not differ */
}
END_TEST

START_TEST(json_invalid)
{
	bad("", 0, "empty");
	bad("   ", 3, "only spaces");
	bad("[1,]", 3, "a value expected");
	bad("[1 2]", 3, "',' or ']' expected");
	bad("{\"a\":1,}", 7, "a string expected (an object's key)");
	bad("{\"a\" 1}", 5, "':' expected");
	bad("{1:2}", 1, "a string expected");
	bad("{\"a\":1", 6, "without its closing '}'");
	bad("[1", 2, "without its closing ']'");
	bad("[", 1, "ends where a value is due");
	bad("{\"a\":", 5, "ends where a value is due");
	bad("[1] x", 4, "more after the value");
	bad("{}{}", 2, "more after the value");
	bad("01", 1, "leading zero");
	bad("-", 1, "a digit expected");
	bad("1.", 2, "after the decimal point");
	bad(".5", 0, "a value expected");
	bad("1e", 2, "exponent");
	bad("1e+", 3, "exponent");
	bad("+1", 0, "a value expected");
	bad("NaN", 0, "a value expected");
	bad("tru", 0, "a value expected");
	bad("nul", 0, "a value expected");
	bad("True", 0, "a value expected");
	bad("'a'", 0, "a value expected");
	bad("\"abc", 4, "closing quote");
	bad("\"a\\", 3, "closing quote");
	bad("\"a\nb\"", 2, "control character");
	bad("\"a\tb\"", 2, "control character");
	bad("\"\\x\"", 2, "an escape that is not");
	bad("\"\\u12g4\"", 5, "4 hex digits");
	bad("\"\\u12\"", 5, "4 hex digits");
	bad("\"\\ud800\"", 1, "high surrogate");
	bad("\"\\ud800\\u0041\"", 1, "high surrogate");
	bad("\"\\udc00\"", 1, "low surrogate");
	bad("\"a\xff\"", 2, "not UTF-8");
	bad("\"\xc0\xaf\"", 1, "not UTF-8");		/* overlong */
	bad("\"\xed\xa0\x80\"", 1, "not UTF-8");	/* a surrogate */
	bad("\"\xe2\x82\"", 1, "not UTF-8");		/* cut short */
	bad("\xef\xbb\xbf{}", 0, "a value expected");	/* a BOM */
	bad("[1,\xff]", 3, "a value expected");
	bad_at("[\0]", 3, 1, "a value expected");
	bad_at("\"a\0\"", 4, 2, "control character");
}
END_TEST

START_TEST(json_depth)
{
	char	*s = malloc(2 * 1000000 + 1);
	size_t	 i;

	ck_assert_ptr_nonnull(s);
	/* JSON_DEPTH_MAX arrays deep: taken; one more: refused. */
	memset(s, '[', JSON_DEPTH_MAX);
	memset(s + JSON_DEPTH_MAX, ']', JSON_DEPTH_MAX);
	s[2 * JSON_DEPTH_MAX] = '\0';
	good(s, JSON_ARRAY);
	memset(s, '[', JSON_DEPTH_MAX + 1);
	memset(s + JSON_DEPTH_MAX + 1, ']', JSON_DEPTH_MAX + 1);
	s[2 * JSON_DEPTH_MAX + 2] = '\0';
	bad(s, JSON_DEPTH_MAX, "nested more than 512 deep");
	/* A million opened: refused at the same place, no deeper. */
	memset(s, '[', 1000000);
	s[1000000] = '\0';
	bad(s, JSON_DEPTH_MAX, "nested more than 512 deep");
	/* Objects and arrays by turns, 512 deep, then closed. */
	for (i = 0; i < JSON_DEPTH_MAX / 2; i++)
		memcpy(s + 6 * i, "{\"k\":[", 6);
	for (i = 0; i < JSON_DEPTH_MAX / 2; i++)
		memcpy(s + 3 * JSON_DEPTH_MAX + 2 * i, "]}", 2);
	s[4 * JSON_DEPTH_MAX] = '\0';
	good(s, JSON_OBJECT);
	/* Closed the wrong way. */
	memcpy(s + 4 * JSON_DEPTH_MAX - 2, "}]", 2);
	bad(s, 4 * JSON_DEPTH_MAX - 2, "',' or ']' expected");
	free(s);
}
END_TEST

static void
error_is(const char *type, const void *m, size_t ml, const void *t,
    size_t tl, const char *want)
{
	char	 buf[TASK_ERROR_MAX];
	size_t	 n = task_error(buf, sizeof buf, type, m, ml, t, tl);

	ck_assert_msg(n == strlen(want) && memcmp(buf, want, n) == 0,
	    "got %.*s\nnot %s", (int)n, buf, want);
	ck_assert_int_eq(type_of(buf, n), JSON_OBJECT);
}

START_TEST(error_escaping)
{
	/* Quotes, backslashes and each control character. */
	error_is("ExitStatus", "a \"b\" \\c/", 9, "\b\f\n\r\t\x01\x1f\x7f",
	    8, "{\"type\":\"ExitStatus\",\"message\":\"a \\\"b\\\" \\\\c/\","
	    "\"traceback\":\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"}");
	error_is("E", "nul\0in", 6, "", 0, "{\"type\":\"E\",\"message\":"
	    "\"nul\\u0000in\",\"traceback\":\"\"}");
	/* UTF-8 as it is; each byte of what is not UTF-8, U+FFFD. */
	error_is("E", "h\xc3\xa9 \xf0\x9f\x98\x80", 8, "a\xff" "b\xc0\xaf"
	    "\xed\xa0\x80\xe2\x82", 10, "{\"type\":\"E\",\"message\":\"h\xc3\xa9 "
	    "\xf0\x9f\x98\x80\",\"traceback\":\"a\xef\xbf\xbd" "b"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\"}");
	error_is("Signal", "killed by signal 9", 18, NULL, 0,
	    "{\"type\":\"Signal\",\"message\":\"killed by signal 9\","
	    "\"traceback\":\"\"}");
}
END_TEST

/* Is n bytes of buf an error object with the given parts' ends? */
START_TEST(error_cut_to_fit)
{
	char	 buf[TASK_ERROR_MAX + 64], *tb, *msg;
	size_t	 n, i, tl = 20000, ml = 9000;

	ck_assert_ptr_nonnull(tb = malloc(tl));
	ck_assert_ptr_nonnull(msg = malloc(ml));
	/* A traceback of 20000 bytes: its end kept, whole characters. */
	for (i = 0; i < tl; i++)
		tb[i] = "ab\n\xc3\xa9\"" [i % 6];
	memcpy(tb + tl - 4, "END\n", 4);
	n = task_error(buf, TASK_ERROR_MAX, "ExitStatus", "exit status 1",
	    13, tb, tl);
	ck_assert_uint_le(n, TASK_ERROR_MAX);
	ck_assert_uint_ge(n, TASK_ERROR_MAX - 5);
	ck_assert_int_eq(type_of(buf, n), JSON_OBJECT);
	ck_assert_mem_eq(buf, "{\"type\":\"ExitStatus\",\"message\":\"exit "
	    "status 1\",\"traceback\":\"", 60);
	ck_assert_mem_eq(buf + n - 7, "END\\n\"}", 7);
	/* Never half an escape or half a character at the cut. */
	ck_assert(buf[60] != '\\' || buf[61] == 'n' || buf[61] == '"');
	ck_assert((buf[60] & 0xc0) != 0x80);
	/* With a long message too: the traceback goes, then the message's
	 * end. */
	memset(msg, 'm', ml);
	memcpy(msg, "START", 5);
	n = task_error(buf, TASK_ERROR_MAX, "E", msg, ml, tb, tl);
	ck_assert_uint_eq(n, TASK_ERROR_MAX);
	ck_assert_int_eq(type_of(buf, n), JSON_OBJECT);
	ck_assert_mem_eq(buf, "{\"type\":\"E\",\"message\":\"STARTmmm", 31);
	ck_assert_mem_eq(buf + n - 17, "\",\"traceback\":\"\"}", 17);
	/* A message of 2-byte escapes cut to an odd room: whole escapes. */
	memset(msg, '\n', ml);
	n = task_error(buf, 100, "E", msg, ml, NULL, 0);
	ck_assert_uint_le(n, 100);
	ck_assert_uint_ge(n, 99);
	ck_assert_int_eq(type_of(buf, n), JSON_OBJECT);
	/* Small buffers: the smallest object, and below it nothing. */
	n = task_error(buf, TASK_ERROR_MIN, "ExitStatus", "x", 1, "y", 1);
	ck_assert_uint_eq(n, TASK_ERROR_MIN);
	ck_assert_mem_eq(buf, "{\"type\":\"\",\"message\":\"\","
	    "\"traceback\":\"\"}", n);
	ck_assert_uint_eq(task_error(buf, TASK_ERROR_MIN - 1, "E", "x", 1,
	    "y", 1), 0);
	n = task_error(buf, TASK_ERROR_MIN + 3, "ExitStatus", "x", 1, "y",
	    1);
	ck_assert_mem_eq(buf, "{\"type\":\"Exi\",\"message\":\"\",", 27);
	/* Every room from the smallest to the whole: valid, within it. */
	for (i = TASK_ERROR_MIN; i < 200; i++) {
		n = task_error(buf, i, "Sig\xc3\xa9", "\xf0\x9f\x98\x80\n\x01",
		    6, "\"\\\xe2\x82\xac\xff", 6);
		ck_assert_uint_le(n, i);
		ck_assert_int_eq(type_of(buf, n), JSON_OBJECT);
	}
	free(tb);
	free(msg);
}
END_TEST

START_TEST(json_strings)
{
	char	 buf[64];
	size_t	 n;

	n = task_json_string(buf, sizeof buf, "a\"\\\n\xff", 5);
	ck_assert_uint_eq(n, 12);
	ck_assert_mem_eq(buf, "\"a\\\"\\\\\\n\xef\xbf\xbd\"", n);
	ck_assert_uint_eq(task_json_string(buf, 3, "abc", 3), 5);
}
END_TEST

static void
name_bad(const char *name, size_t len, size_t off, const char *words)
{
	const char	*why;
	size_t		 at = 999;

	ck_assert_ptr_nonnull(why = task_name_check(name, len, &at));
	ck_assert_msg(at == off && strstr(why, words) != NULL, "%zu %s", at,
	    why);
}

START_TEST(task_names)
{
	char	 s[300];
	size_t	 off, i;

	ck_assert_ptr_null(task_name_check("resize", 6, &off));
	ck_assert_ptr_null(task_name_check("mail.send", 9, &off));
	ck_assert_ptr_null(task_name_check("Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x98"
	    "\x80 a=b/c", 18, &off));
	memset(s, 'x', sizeof s);
	ck_assert_ptr_null(task_name_check(s, 255, &off));
	/* 85 characters of 3 bytes: 255 bytes. */
	for (i = 0; i < 85; i++)
		memcpy(s + 3 * i, "\xe2\x82\xac", 3);
	ck_assert_ptr_null(task_name_check(s, 255, &off));
	name_bad("", 0, 0, "empty");
	memset(s, 'x', sizeof s);
	name_bad(s, 256, 255, "at most 255 bytes");
	name_bad("a\nb", 3, 1, "control");
	name_bad("ab\x7f", 3, 2, "control");
	name_bad("\x01", 1, 0, "control");
	name_bad("a\xc2\x85", 3, 1, "control");		/* NEL, a C1 */
	name_bad("a\xc2\x9f", 3, 1, "control");
	ck_assert_ptr_null(task_name_check("\xc2\xa0", 2, &off));
	name_bad("ab\xff", 3, 2, "not UTF-8");
	name_bad("ab\xe2\x82", 4, 2, "not UTF-8");
	name_bad("a\0b", 3, 1, "control");
}
END_TEST

START_TEST(json_content_types)
{
	ck_assert_int_eq(task_json_type("application/json", 16), 1);
	ck_assert_int_eq(task_json_type("Application/JSON", 16), 1);
	ck_assert_int_eq(task_json_type("application/json; charset=utf-8",
	    31), 1);
	ck_assert_int_eq(task_json_type(" application/json ;x", 20), 1);
	ck_assert_int_eq(task_json_type("application/jso", 15), 0);
	ck_assert_int_eq(task_json_type("application/json5", 17), 0);
	ck_assert_int_eq(task_json_type("application/jsonx;a", 19), 0);
	ck_assert_int_eq(task_json_type("text/plain", 10), 0);
	ck_assert_int_eq(task_json_type("", 0), 0);
	ck_assert_int_eq(task_json_type(";application/json", 17), 0);
}
END_TEST

static Suite *
task_suite(void)
{
	Suite	*s = suite_create("task");
	TCase	*tc = tcase_create("core");
	TCase	*tv = tcase_create("vectors");

	tcase_add_test(tc, json_valid);
	tcase_add_test(tc, json_invalid);
	tcase_add_test(tc, json_depth);
	tcase_add_test(tc, json_strings);
	tcase_add_test(tc, error_escaping);
	tcase_add_test(tc, error_cut_to_fit);
	tcase_add_test(tc, task_names);
	tcase_add_test(tc, json_content_types);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(tv, vectors_read, vectors_free);
	tcase_add_test(tv, vectors_calls);
	tcase_add_test(tv, vectors_errors);
	tcase_add_test(tv, vectors_payloads_and_results);
	suite_add_tcase(s, tv);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(task_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
