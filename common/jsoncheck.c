/*
 * jsoncheck.c: a strict RFC 8259 validator, for the JSON a user hands
 * pushctl (a task's --args and --kwargs) and a task's result.  It walks
 * the text once, keeping the open arrays and objects as a bit each, so
 * that no input, however deep, takes more than a fixed stack.  Beyond the
 * grammar it refuses what RFC 8259 leaves to chance: bytes that are not
 * UTF-8, and a \u escape of half a surrogate pair.
 */
#include <stdint.h>
#include <string.h>

#include "jsoncheck.h"
#include "utf8.h"

struct jc {
	const unsigned char	*p;
	size_t			 len;
	size_t			 i;
	const char		*why;
};

static int
fault(struct jc *j, const char *why)
{
	j->why = why;
	return -1;
}

static void
skip_ws(struct jc *j)
{
	while (j->i < j->len && (j->p[j->i] == ' ' || j->p[j->i] == '\t' ||
	    j->p[j->i] == '\n' || j->p[j->i] == '\r'))
		j->i++;
}

static int
hex4(struct jc *j, unsigned int *v)
{
	unsigned int	 c;
	size_t		 k;

	*v = 0;
	for (k = 0; k < 4; k++, j->i++) {
		if (j->i == j->len)
			return fault(j, "a \\u escape needs 4 hex digits");
		c = j->p[j->i];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return fault(j, "a \\u escape needs 4 hex digits");
		*v = *v << 4 | c;
	}
	return 0;
}

/* A string, from its opening quote (at j->i) past its closing one. */
static int
string(struct jc *j)
{
	unsigned int	 u, lo;
	size_t		 n, at;

	j->i++;
	for (;;) {
		if (j->i == j->len)
			return fault(j, "a string without its closing quote");
		if (j->p[j->i] == '"') {
			j->i++;
			return 0;
		}
		if (j->p[j->i] < 0x20)
			return fault(j, "a control character in a string "
			    "(escape it)");
		if (j->p[j->i] != '\\') {
			if ((n = utf8_len(j->p + j->i, j->len - j->i)) == 0)
				return fault(j, "not UTF-8");
			j->i += n;
			continue;
		}
		at = j->i++;
		if (j->i == j->len)
			return fault(j, "a string without its closing quote");
		if (strchr("\"\\/bfnrt", j->p[j->i]) != NULL &&
		    j->p[j->i] != '\0') {
			j->i++;
			continue;
		}
		if (j->p[j->i] != 'u')
			return fault(j, "an escape that is not \\\" \\\\ \\/ \\b "
			    "\\f \\n \\r \\t or \\uXXXX");
		j->i++;
		if (hex4(j, &u) != 0)
			return -1;
		if (u >= 0xdc00 && u <= 0xdfff) {
			j->i = at;
			return fault(j, "\\u escape of a low surrogate without "
			    "its high one");
		}
		if (u < 0xd800 || u > 0xdbff)
			continue;
		if (j->i + 1 >= j->len || j->p[j->i] != '\\' ||
		    j->p[j->i + 1] != 'u') {
			j->i = at;
			return fault(j, "\\u escape of a high surrogate without "
			    "its low one");
		}
		j->i += 2;
		if (hex4(j, &lo) != 0)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff) {
			j->i = at;
			return fault(j, "\\u escape of a high surrogate without "
			    "its low one");
		}
	}
}

static int
digits(struct jc *j, const char *why)
{
	if (j->i == j->len || j->p[j->i] < '0' || j->p[j->i] > '9')
		return fault(j, why);
	while (j->i < j->len && j->p[j->i] >= '0' && j->p[j->i] <= '9')
		j->i++;
	return 0;
}

static int
number(struct jc *j)
{
	if (j->p[j->i] == '-')
		j->i++;
	if (j->i < j->len && j->p[j->i] == '0') {
		j->i++;
		if (j->i < j->len && j->p[j->i] >= '0' && j->p[j->i] <= '9')
			return fault(j, "a number with a leading zero");
	} else if (digits(j, "a digit expected") != 0)
		return -1;
	if (j->i < j->len && j->p[j->i] == '.') {
		j->i++;
		if (digits(j, "a digit expected after the decimal point") != 0)
			return -1;
	}
	if (j->i < j->len && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
		j->i++;
		if (j->i < j->len && (j->p[j->i] == '+' || j->p[j->i] == '-'))
			j->i++;
		if (digits(j, "a digit expected in the exponent") != 0)
			return -1;
	}
	return 0;
}

static int
literal(struct jc *j, const char *word)
{
	size_t	 n = strlen(word);

	if (j->len - j->i < n || memcmp(j->p + j->i, word, n) != 0)
		return fault(j, "a value expected (an object, array, string, "
		    "number, true, false or null)");
	j->i += n;
	return 0;
}

/* A value that is not an array or an object: its type, or -1. */
static int
scalar(struct jc *j)
{
	switch (j->p[j->i]) {
	case '"':
		return string(j) == 0 ? JSON_STRING : -1;
	case 't':
		return literal(j, "true") == 0 ? JSON_TRUE : -1;
	case 'f':
		return literal(j, "false") == 0 ? JSON_FALSE : -1;
	case 'n':
		return literal(j, "null") == 0 ? JSON_NULL : -1;
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return number(j) == 0 ? JSON_NUMBER : -1;
	}
	return fault(j, "a value expected (an object, array, string, number, "
	    "true, false or null)");
}

/* An object's key and its colon, from the key's first byte. */
static int
key(struct jc *j)
{
	if (j->i == j->len || j->p[j->i] != '"')
		return fault(j, "a string expected (an object's key)");
	if (string(j) != 0)
		return -1;
	skip_ws(j);
	if (j->i == j->len || j->p[j->i] != ':')
		return fault(j, "':' expected after an object's key");
	j->i++;
	return 0;
}

/*
 * 0 if the len bytes at text are one JSON value, with spaces around it
 * or none, and *type the value's (JSON_OBJECT, ...); else -1 and, in f,
 * the offset of the byte at fault and why.
 */
int
jsoncheck(const void *text, size_t len, int *type, struct json_fault *f)
{
	struct jc	 j = { text, len, 0, NULL };
	uint8_t		 object[JSON_DEPTH_MAX / 8];	/* a bit a level */
	size_t		 depth = 0;
	int		 t, top = 0, obj;
	unsigned char	 c;

	for (;;) {
		/* A value is due. */
		skip_ws(&j);
		if (j.i == j.len) {
			if (top != 0)
				fault(&j, "the text ends where a value is due");
			else
				fault(&j, len == 0 ? "no value: the text is "
				    "empty" : "no value: the text is only spaces");
			goto bad;
		}
		c = j.p[j.i];
		if (c == '[' || c == '{') {
			if (top == 0)
				top = c == '[' ? JSON_ARRAY : JSON_OBJECT;
			if (depth == JSON_DEPTH_MAX) {
				fault(&j, "arrays and objects nested more than "
				    "512 deep");
				goto bad;
			}
			if (c == '{')
				object[depth / 8] |= (uint8_t)(1u << depth % 8);
			else
				object[depth / 8] &= (uint8_t)~(1u << depth % 8);
			depth++;
			j.i++;
			skip_ws(&j);
			if (j.i < j.len && j.p[j.i] == (c == '[' ? ']' : '}')) {
				j.i++;
				depth--;
			} else {
				if (c == '{' && key(&j) != 0)
					goto bad;
				continue;
			}
		} else {
			if ((t = scalar(&j)) == -1)
				goto bad;
			if (top == 0)
				top = t;
		}
		/* After a value: a comma, the end of its container, or the end. */
		while (depth != 0) {
			obj = object[(depth - 1) / 8] >> (depth - 1) % 8 & 1;
			skip_ws(&j);
			if (j.i == j.len) {
				fault(&j, obj ? "an object without its closing "
				    "'}'" : "an array without its closing ']'");
				goto bad;
			}
			if (j.p[j.i] == (obj ? '}' : ']')) {
				j.i++;
				depth--;
				continue;
			}
			if (j.p[j.i] != ',') {
				fault(&j, obj ? "',' or '}' expected" :
				    "',' or ']' expected");
				goto bad;
			}
			j.i++;
			if (obj) {
				skip_ws(&j);
				if (key(&j) != 0)
					goto bad;
			}
			break;
		}
		if (depth == 0)
			break;
	}
	skip_ws(&j);
	if (j.i != j.len) {
		fault(&j, "more after the value");
		goto bad;
	}
	*type = top;
	return 0;
bad:
	f->off = j.i;
	f->why = j.why;
	return -1;
}

/* "an object", "an array", ...: for messages. */
const char *
jsoncheck_type_name(int type)
{
	switch (type) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_NUMBER:
		return "a number";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	}
	return "nothing";
}
