/* json.c: pushctl's JSON output: strings, escaped as JSON requires. */
#include <stdio.h>
#include <string.h>

#include "pushctl.h"

/* n bytes as a JSON string: quotes, backslashes and controls escaped. */
void
json_bytes(const void *v, size_t n)
{
	const unsigned char	*s = v;
	size_t			 i;

	putchar('"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			printf("\\%c", s[i]);
		else if (s[i] == '\n')
			printf("\\n");
		else if (s[i] < 0x20 || s[i] == 0x7f)
			printf("\\u%04x", s[i]);
		else
			putchar(s[i]);
	}
	putchar('"');
}

void
json_string(const char *s)
{
	json_bytes(s, strlen(s));
}
