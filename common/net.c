/* net.c: Unix domain sockets: connect, and listen with a stale-file check. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

static int
unix_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* A blocking, close-on-exec connection to path, or -1 with errno set. */
int
net_connect_unix(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, saved;

	if (unix_addr(&sun, path) != 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * A non-blocking listening socket at path, with file mode mode and, unless
 * gid is -1, that group.  A socket file nobody answers on is stale and
 * replaced; a live one, or a file that is not a socket, is left alone and
 * reported in err.
 */
int
net_listen_unix(const char *path, int backlog, mode_t mode, gid_t gid,
    char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	int			 fd, error;

	if (unix_addr(&sun, path) != 0) {
		snprintf(err, errlen, "socket path too long (%zu bytes, at "
		    "most %zu): %s", strlen(path), sizeof sun.sun_path - 1,
		    path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket",
			    path);
			return -1;
		}
		if ((fd = net_connect_unix(path)) != -1) {
			close(fd);
			snprintf(err, errlen, "%s: a daemon is already "
			    "listening there", path);
			return -1;
		}
		if (errno != ECONNREFUSED) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (unlink(path) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove stale socket %s: "
			    "%s", path, strerror(errno));
			return -1;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Never wider than mode, even for the moment before chmod. */
	old = umask(~mode & 0777);
	error = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (error == -1) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) == -1) {
		snprintf(err, errlen, "chown %s to group %lu: %s", path,
		    (unsigned long)gid, strerror(errno));
		goto fail;
	}
	if (chmod(path, mode) == -1) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog) == -1) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(path);
	return -1;
}

int
net_nonblock(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
