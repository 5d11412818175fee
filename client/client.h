/*
 * client.h: libpushstage's private half: connect and handshake, enqueue
 * batches, send demand, receive events, ask for stats, with blocking I/O
 * on one socket.  Its calls return pushstage.h's codes (PUSHSTAGE_OK or a
 * PUSHSTAGE_E*), one error space for the library and its tools.
 */
#ifndef PS_CLIENT_H
#define PS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "pushstage.h"

struct psc {
	int			 fd;
	const char		*path;
	uint32_t		 max_frame;	/* the daemon's, from WELCOME */
	struct ps_welcome	 welcome;
	struct ps_decoder	 in;
	struct ps_buf		 out;
	size_t			 batch_start;	/* ENQUEUE being filled */
	uint32_t		 batch_count;
	uint32_t		 posted;	/* ENQUEUEs awaiting replies */
	char			 err[512];	/* the last error, for humans */
};

/*
 * A consumer's demand window, as GenStage keeps it (docs/protocol.md,
 * "Topping up"): pending counts events asked for and not yet finished.
 */
struct psc_window {
	uint32_t	 max;
	uint32_t	 min;
	uint32_t	 pending;
};

void	 psc_window_init(struct psc_window *, uint32_t, uint32_t);
uint32_t psc_window_done(struct psc_window *);

/* psc_close must follow psc_connect, whether it succeeded or not. */
int	 psc_connect(struct psc *, const char *, const struct ps_hello *);
void	 psc_close(struct psc *);
int	 psc_flush(struct psc *);
int	 psc_read(struct psc *);
int	 psc_next(struct psc *, struct ps_frame *);
int	 psc_wait(struct psc *, struct ps_frame *);

int	 psc_event_fits(const struct psc *, size_t);
int	 psc_batch_fits(const struct psc *, size_t);
int	 psc_batch_add(struct psc *, const void *, uint32_t);
uint32_t psc_batch_count(const struct psc *);
int	 psc_batch_send(struct psc *, struct ps_enqueued *);
void	 psc_batch_refused(struct psc *, uint32_t);
void	 psc_batch_post(struct psc *);
int	 psc_batch_reply(struct psc *, struct ps_enqueued *);

int	 psc_demand(struct psc *, uint32_t);
int	 psc_ids(struct psc *, uint8_t, const uint64_t *, uint32_t);
int	 psc_dead_list(struct psc *, uint32_t, struct ps_dead_reply *);
int	 psc_dead_act(struct psc *, uint8_t, const uint64_t *, uint32_t,
	     uint32_t *);
int	 psc_stats(struct psc *, struct ps_stats *);

#endif
