/* utf8.h: is this UTF-8?  One character at a time. */
#ifndef PS_UTF8_H
#define PS_UTF8_H

#include <stddef.h>

size_t	 utf8_len(const unsigned char *, size_t);

#endif
