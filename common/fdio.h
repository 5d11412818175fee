/* fdio.h: whole writes to a blocking descriptor. */
#ifndef PS_FDIO_H
#define PS_FDIO_H

#include <stddef.h>

int	 write_all(int, const void *, size_t);

#endif
