/* json.c: pushctl's JSON output: strings, escaped as JSON requires. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pushctl.h"

/* The length of the UTF-8 character at p (n bytes left), or 0: none. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t		 len, i;
	uint32_t	 cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, and past U+10FFFF. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * n bytes as a JSON string: quotes, backslashes and controls escaped, a
 * byte that is not UTF-8 (an error cut mid-character, say) as U+FFFD.
 */
void
json_bytes(const void *v, size_t n)
{
	const unsigned char	*s = v;
	size_t			 i, k;

	putchar('"');
	for (i = 0; i < n; i += k) {
		k = 1;
		if (s[i] == '"' || s[i] == '\\')
			printf("\\%c", s[i]);
		else if (s[i] == '\n')
			printf("\\n");
		else if (s[i] < 0x20 || s[i] == 0x7f)
			printf("\\u%04x", s[i]);
		else if ((k = utf8_len(s + i, n - i)) == 0) {
			printf("\\ufffd");
			k = 1;
		} else
			fwrite(s + i, 1, k, stdout);
	}
	putchar('"');
}

void
json_string(const char *s)
{
	json_bytes(s, strlen(s));
}
