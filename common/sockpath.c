/*
 * sockpath.c: the default socket path: $PUSHSTAGE_SOCKET, else
 * $XDG_RUNTIME_DIR/pushstage.sock, else /tmp/pushstage-$UID.sock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sockpath.h"

const char *
sockpath_default(char *buf, size_t len)
{
	const char	*s;

	if ((s = getenv(SOCKPATH_ENV)) != NULL && *s != '\0')
		snprintf(buf, len, "%s", s);
	else if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s != '\0')
		snprintf(buf, len, "%s/pushstage.sock", s);
	else
		snprintf(buf, len, "/tmp/pushstage-%u.sock",
		    (unsigned)getuid());
	return buf;
}
