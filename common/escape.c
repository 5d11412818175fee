/* escape.c: C-style escaping, so that one event prints as one line. */
#include <stdio.h>

#include "escape.h"

/*
 * Write data escaped into out (size > 0), always NUL-terminated; returns
 * the length the whole escaped text needs, as snprintf does.
 */
size_t
escape_c(char *out, size_t size, const void *data, size_t len)
{
	const unsigned char	*p = data;
	char			 tmp[5];
	const char		*s;
	size_t			 i, n = 0, k;

	for (i = 0; i < len; i++) {
		switch (p[i]) {
		case '\n': s = "\\n"; break;
		case '\r': s = "\\r"; break;
		case '\t': s = "\\t"; break;
		case '\\': s = "\\\\"; break;
		default:
			if (p[i] >= 0x20 && p[i] < 0x7f) {
				tmp[0] = (char)p[i];
				tmp[1] = '\0';
			} else
				snprintf(tmp, sizeof tmp, "\\x%02x", p[i]);
			s = tmp;
			break;
		}
		for (k = 0; s[k] != '\0'; k++, n++) {
			if (n + 1 < size)
				out[n] = s[k];
		}
	}
	out[n < size ? n : size - 1] = '\0';
	return n;
}
