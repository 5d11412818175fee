/* fdio.c: a write the kernel cuts short goes on until all of it is out. */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "fdio.h"

/* 0, or -1 with errno set (EINTR is retried). */
int
write_all(int fd, const void *p, size_t n)
{
	const uint8_t	*at = p;
	ssize_t		 w;

	while (n != 0) {
		if ((w = write(fd, at, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		at += w;
		n -= (size_t)w;
	}
	return 0;
}
