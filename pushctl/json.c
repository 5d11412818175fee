/* json.c: pushctl's JSON output: strings, escaped as JSON requires. */
#include <stdio.h>
#include <string.h>

#include "pushctl.h"
#include "utf8.h"


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
