/* net.h: Unix domain socket listen and connect. */
#ifndef PS_NET_H
#define PS_NET_H

#include <sys/types.h>

#include <stddef.h>

int	 net_connect_unix(const char *);
int	 net_listen_unix(const char *, int, mode_t, gid_t, char *, size_t);
int	 net_nonblock(int);

#endif
