/*
 * systemd.c: the two parts of systemd's protocols producerd speaks, done
 * by hand so that nothing links libsystemd.  Socket activation
 * (sd_listen_fds(3)): the listening socket arrives as descriptor 3, with
 * LISTEN_PID naming us and LISTEN_FDS counting 1.  Readiness
 * (sd_notify(3)): "READY=1" and "STOPPING=1" datagrams to $NOTIFY_SOCKET.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "producerd.h"

#define LISTEN_FDS_START	3

/*
 * The socket systemd passed, with its path in path; -1 when none was
 * passed to this process; -2 when one was, but it is not what producerd
 * can serve (err says why).
 */
int
systemd_listen_fd(char *path, size_t len, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	socklen_t		 sl = sizeof sun, ol;
	const char		*pid_s, *fds_s;
	char			*end;
	long			 pid, fds;
	int			 type, listening, fd = LISTEN_FDS_START;

	pid_s = getenv("LISTEN_PID");
	fds_s = getenv("LISTEN_FDS");
	if (pid_s == NULL || fds_s == NULL)
		return -1;
	errno = 0;
	pid = strtol(pid_s, &end, 10);
	if (errno != 0 || *end != '\0' || pid != (long)getpid())
		return -1;	/* meant for another process */
	/* Not for the children (--map): they are not the ones activated. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fds = strtol(fds_s, &end, 10);
	if (*end != '\0' || fds != 1) {
		snprintf(err, errlen, "systemd passed LISTEN_FDS=%s; producerd "
		    "serves exactly one socket (one ListenStream= in the "
		    ".socket unit)", fds_s);
		return -2;
	}
	ol = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) == -1) {
		snprintf(err, errlen, "the socket systemd passed (fd %d): %s",
		    fd, strerror(errno));
		return -2;
	}
	ol = sizeof listening;
	if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET,
	    SO_ACCEPTCONN, &listening, &ol) == -1 || !listening ||
	    getsockname(fd, (struct sockaddr *)&sun, &sl) == -1 ||
	    sun.sun_family != AF_UNIX) {
		snprintf(err, errlen, "the socket systemd passed (fd %d) is "
		    "not a listening Unix stream socket (ListenStream=PATH)",
		    fd);
		return -2;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 || net_nonblock(fd) == -1) {
		snprintf(err, errlen, "the socket systemd passed (fd %d): %s",
		    fd, strerror(errno));
		return -2;
	}
	if (sl > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0')
		snprintf(path, len, "%.*s", (int)(sl -
		    offsetof(struct sockaddr_un, sun_path)), sun.sun_path);
	else
		snprintf(path, len, "(abstract socket from systemd)");
	return fd;
}

/* Tell systemd how we are (Type=notify); nothing when it is not asking. */
void
systemd_notify(const char *state)
{
	struct sockaddr_un	 sun;
	const char		*where = getenv("NOTIFY_SOCKET");
	size_t			 n;
	int			 fd;

	if (where == NULL || (where[0] != '/' && where[0] != '@'))
		return;
	if ((n = strlen(where)) >= sizeof sun.sun_path) {
		log_warnx("NOTIFY_SOCKET too long: %s", where);
		return;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, where, n);
	if (where[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("NOTIFY_SOCKET: socket");
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + n)) == -1)
		log_warn("telling systemd %s at %s", state, where);
	close(fd);
}
