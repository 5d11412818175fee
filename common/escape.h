/* escape.h: bytes as one printable line, C-style escapes for the rest. */
#ifndef PS_ESCAPE_H
#define PS_ESCAPE_H

#include <stddef.h>

size_t	 escape_c(char *, size_t, const void *, size_t);

#endif
