/* buf.c: the growable byte buffer the encoders and the decoder use. */
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Make room for n more bytes; 0 or -PS_E_NOMEM. */
int
ps_buf_reserve(struct ps_buf *b, size_t n)
{
	size_t	 cap;
	uint8_t	*p;

	if (n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return -PS_E_NOMEM;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return -PS_E_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
ps_buf_add(struct ps_buf *b, const void *p, size_t n)
{
	if (ps_buf_reserve(b, n) != 0)
		return -PS_E_NOMEM;
	if (n != 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
ps_buf_free(struct ps_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
