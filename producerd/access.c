/*
 * access.c: who may connect.  The socket's mode and group are the first
 * gate; --allow-uid and --allow-gid, checked against the peer's
 * credentials (SO_PEERCRED, and SO_PEERGROUPS for its other groups), the
 * second.
 */
#include <sys/socket.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "producerd.h"

/* A number, or a name that lookup turns into one; -1 and a message. */
static int
one_id(const char *option, const char *word, int group, unsigned long *out)
{
	struct passwd	*pw;
	struct group	*gr;
	char		*end;

	if (*word >= '0' && *word <= '9') {
		errno = 0;
		*out = strtoul(word, &end, 10);
		if (errno == 0 && *end == '\0' && *out <= 0xfffffffeul)
			return 0;
	} else if (group && (gr = getgrnam(word)) != NULL) {
		*out = gr->gr_gid;
		return 0;
	} else if (!group && (pw = getpwnam(word)) != NULL) {
		*out = pw->pw_uid;
		return 0;
	}
	log_errorx("%s: \"%s\" is not a %s name or number", option, word,
	    group ? "group" : "user");
	return -1;
}

/* "a,b,c": each word onto *ids. */
static int
add_ids(const char *option, const char *arg, int group, unsigned long **ids,
    size_t *n)
{
	char		*copy, *word, *save;
	unsigned long	*grown, id;
	int		 r = 0;

	if ((copy = strdup(arg)) == NULL)
		fatal("strdup");
	if (*arg == '\0') {
		log_errorx("%s: give a list of %s names or numbers", option,
		    group ? "group" : "user");
		r = -1;
	}
	for (word = strtok_r(copy, ",", &save); r == 0 && word != NULL;
	    word = strtok_r(NULL, ",", &save)) {
		if ((r = one_id(option, word, group, &id)) != 0)
			break;
		if ((grown = reallocarray(*ids, *n + 1, sizeof **ids)) == NULL)
			fatal("reallocarray");
		*ids = grown;
		(*ids)[(*n)++] = id;
	}
	free(copy);
	return r;
}

int
access_add_uids(struct allow *a, const char *arg)
{
	return add_ids("--allow-uid", arg, 0, &a->uids, &a->nuids);
}

int
access_add_gids(struct allow *a, const char *arg)
{
	return add_ids("--allow-gid", arg, 1, &a->gids, &a->ngids);
}

/* --socket-group: one group name or number. */
int
access_group(const char *option, const char *arg, gid_t *gid)
{
	unsigned long	 id;

	if (one_id(option, arg, 1, &id) != 0)
		return -1;
	*gid = (gid_t)id;
	return 0;
}

static int
has(const unsigned long *ids, size_t n, unsigned long id)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (ids[i] == id)
			return 1;
	}
	return 0;
}

/* With no lists, anyone who can open the socket may connect. */
int
access_allowed(const struct allow *a, int fd, uid_t uid, gid_t gid)
{
	gid_t		 groups[256];
	socklen_t	 len = sizeof groups;
	size_t		 i;

	if (a->nuids == 0 && a->ngids == 0)
		return 1;
	if (uid != (uid_t)-1 && has(a->uids, a->nuids, uid))
		return 1;
	if (a->ngids == 0 || gid == (gid_t)-1)
		return 0;
	if (has(a->gids, a->ngids, gid))
		return 1;
#ifdef SO_PEERGROUPS
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (i = 0; i < len / sizeof groups[0]; i++) {
			if (has(a->gids, a->ngids, groups[i]))
				return 1;
		}
	}
#else
	(void)fd;
	(void)groups;
	(void)len;
	(void)i;
#endif
	return 0;
}

void
access_free(struct allow *a)
{
	free(a->uids);
	free(a->gids);
	memset(a, 0, sizeof *a);
}
