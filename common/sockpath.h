/*
 * sockpath.h: where the daemon's socket is when --socket is not given,
 * and the checks that keep another user from standing in for it there.
 */
#ifndef PS_SOCKPATH_H
#define PS_SOCKPATH_H

#include <stddef.h>

#define SOCKPATH_ENV	"PUSHSTAGE_SOCKET"

const char	*sockpath_default(char *, size_t);
int		 sockpath_private(const char *);
int		 sockpath_dir_check(const char *, int, char *, size_t);
int		 sockpath_peer_check(int, const char *, char *, size_t);
int		 sockpath_dir_open(const char *, char *, size_t);

#endif
