/*
 * sockpath.c: the default socket path: $PUSHSTAGE_SOCKET, else
 * $XDG_RUNTIME_DIR/pushstage.sock, else ${TMPDIR:-/tmp}/pushstage-UID/
 * pushstage.sock.  The last two are per-user directories, so that nobody
 * else can make a socket of that name first (as tmux keeps
 * /tmp/tmux-UID/): such a directory must be the user's and closed to
 * everyone else, checked on every use, and the daemon answering there
 * must be the user or root.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sockpath.h"

/* The per-user default paths, for this process's environment. */
static void
private_paths(char *run, size_t rlen, char *tmp, size_t tlen)
{
	const char	*s;

	run[0] = '\0';
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s != '\0')
		snprintf(run, rlen, "%s/pushstage.sock", s);
	if ((s = getenv("TMPDIR")) == NULL || *s == '\0')
		s = "/tmp";
	snprintf(tmp, tlen, "%s/pushstage-%u/pushstage.sock", s,
	    (unsigned)getuid());
}

const char *
sockpath_default(char *buf, size_t len)
{
	char		 run[4096], tmp[4096];
	const char	*s;

	private_paths(run, sizeof run, tmp, sizeof tmp);
	if ((s = getenv(SOCKPATH_ENV)) != NULL && *s != '\0')
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "%s", run[0] != '\0' ? run : tmp);
	return buf;
}

/* Is path one of the per-user defaults, whose directory is checked? */
int
sockpath_private(const char *path)
{
	char	 run[4096], tmp[4096];

	private_paths(run, sizeof run, tmp, sizeof tmp);
	return strcmp(path, tmp) == 0 || (run[0] != '\0' &&
	    strcmp(path, run) == 0);
}

/* The directory part of path, into dir. */
static void
dir_of(const char *path, char *dir, size_t len)
{
	const char	*slash = strrchr(path, '/');
	size_t		 n = slash == NULL ? 1 : (size_t)(slash - path);

	if (slash == NULL)
		snprintf(dir, len, ".");
	else if (n == 0)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)n, path);
}

/*
 * A directory shared with others (sticky or writable by all: /tmp as
 * XDG_RUNTIME_DIR, say), or not the user's, is never to be changed for
 * us: the advice is then a socket elsewhere.
 */
#define SHARED(st)	(((st)->st_mode & (S_ISVTX | S_IWOTH)) != 0)

#define ELSEWHERE	"set " SOCKPATH_ENV " or give --socket: a path in a " \
	"directory of your own"

/*
 * The per-user directory of path must be a directory (not a link), this
 * user's, and closed to group and others; with create, it is made (mode
 * 0700) if missing; without, a missing one is not an error here.  0, or
 * -1 with err saying what is wrong and how to mend it.
 */
int
sockpath_dir_check(const char *path, int create, char *err, size_t len)
{
	struct stat	 st;
	char		 dir[4096];

	dir_of(path, dir, sizeof dir);
	if (lstat(dir, &st) == -1) {
		if (errno == ENOENT && !create)
			return 0;	/* no daemon there: connect says so */
		if (errno != ENOENT) {
			snprintf(err, len, "%s: %s", dir, strerror(errno));
			return -1;
		}
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			snprintf(err, len, "cannot make %s: %s", dir,
			    strerror(errno));
			return -1;
		}
		if (lstat(dir, &st) == -1) {
			snprintf(err, len, "%s: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, len, "%s is not a directory; another user may "
		    "have made it to stand in for producerd: %s" ELSEWHERE, dir,
		    st.st_uid == getuid() ? "remove it, or " : "");
		return -1;
	}
	if (st.st_uid != getuid()) {
		snprintf(err, len, "%s belongs to uid %lu, not to you (uid "
		    "%lu)%s; " ELSEWHERE, dir, (unsigned long)st.st_uid,
		    (unsigned long)getuid(), SHARED(&st) ?
		    " and is shared with others" :
		    ": another user may have made it to stand in for "
		    "producerd");
		return -1;
	}
	if (SHARED(&st)) {
		snprintf(err, len, "%s has mode %04o: others may enter it and "
		    "make files in it, a directory shared that cannot hold the "
		    "socket safely; " ELSEWHERE, dir,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, len, "%s has mode %04o: others may enter it; "
		    "chmod 700 %s, or " ELSEWHERE, dir,
		    (unsigned)(st.st_mode & 07777), dir);
		return -1;
	}
	return 0;
}

/* Who listens at path: "uid 1000 (alice)". */
static void
who(uid_t uid, char *buf, size_t len)
{
	struct passwd	*pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, len, "uid %lu (%s)", (unsigned long)uid,
		    pw->pw_name);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)uid);
}

/*
 * On a per-user path the daemon must run as this user or as root: 0, or
 * -1 with err naming who is listening instead.
 */
int
sockpath_peer_check(int fd, const char *path, char *err, size_t len)
{
	struct ucred	 uc;
	socklen_t	 n = sizeof uc;
	char		 name[300];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &n) == -1) {
		snprintf(err, len, "%s: cannot tell who listens: %s", path,
		    strerror(errno));
		return -1;
	}
	if (uc.uid == getuid() || uc.uid == 0)
		return 0;
	who(uc.uid, name, sizeof name);
	snprintf(err, len, "%s is answered by pid %ld of %s, not by you (uid "
	    "%lu) or root: not producerd, or not yours; refusing to talk to "
	    "it", path, (long)uc.pid, name, (unsigned long)getuid());
	return -1;
}

/*
 * Can others than the owner make files in path's directory?  1 and a
 * warning in err if so (the daemon says it at start), else 0.
 */
int
sockpath_dir_open(const char *path, char *err, size_t len)
{
	struct stat	 st;
	char		 dir[4096];

	dir_of(path, dir, sizeof dir);
	if (stat(dir, &st) == -1 || (st.st_mode & 022) == 0)
		return 0;
	snprintf(err, len, "the socket's directory %s can be written by "
	    "others (mode %04o): another user could make a file of that name "
	    "before producerd starts; put the socket in a directory of its "
	    "own", dir, (unsigned)(st.st_mode & 07777));
	return 1;
}
