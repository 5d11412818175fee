/* sockpath.h: where the daemon's socket is when --socket is not given. */
#ifndef PS_SOCKPATH_H
#define PS_SOCKPATH_H

#include <stddef.h>

#define SOCKPATH_ENV	"PUSHSTAGE_SOCKET"

const char	*sockpath_default(char *, size_t);

#endif
