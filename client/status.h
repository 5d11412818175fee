/*
 * status.h: the one error space of the client layer and libpushstage.
 * client/ returns these; pushstage.h names the same codes PUSHSTAGE_*
 * for its users (lib/pushstage.c asserts that they agree), so that the
 * public header stays whole on its own and client/ needs nothing of lib/.
 */
#ifndef PS_STATUS_H
#define PS_STATUS_H

enum psc_status {
	PSC_OK = 0,
	PSC_ECONNECT = -1,	/* no producerd answers at the path */
	PSC_EPROTO = -2,	/* it refused us, or sent nonsense */
	PSC_EIO = -3,		/* the connection broke or closed */
	PSC_ENOMEM = -4,
	PSC_ETOOBIG = -5,	/* an event over the daemon's frame limit */
	PSC_EINVAL = -6,	/* a bad argument, or the wrong role */
	PSC_EAGAIN = -7,	/* it takes nothing now: try later */
};

#endif
