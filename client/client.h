/*
 * client.h: libpushstage's private half: connect and handshake, enqueue
 * batches, send demand, receive events, ask for stats, with blocking I/O
 * on one socket.  Its calls return status.h's codes (PSC_OK or a PSC_E*),
 * which pushstage.h gives the library's users as PUSHSTAGE_*: one error
 * space for the library and its tools.
 */
#ifndef PS_CLIENT_H
#define PS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "status.h"

/* An ENQUEUE posted and not yet answered: its frame, kept in out. */
struct psc_post {
	size_t			 off;
	uint32_t		 count;
	uint64_t		 seq;
};

/* The answer to a posted ENQUEUE. */
struct psc_answer {
	uint64_t		 seq;		/* from psc_post */
	uint32_t		 count;		/* events it held */
	struct ps_enqueued	 r;
	const uint8_t		*frame;		/* the ENQUEUE, for refusals */
};

struct psc {
	int			 fd;
	const char		*path;
	uint32_t		 max_frame;	/* the daemon's, from WELCOME */
	struct ps_welcome	 welcome;
	struct ps_decoder	 in;
	struct ps_buf		 out;
	struct ps_buf		 req;		/* a request, sent past a batch */
	size_t			 flushed;	/* out's bytes written */
	size_t			 batch_start;	/* ENQUEUE being filled */
	uint32_t		 batch_count;
	int			 batch_attrs;	/* its events have attributes */
	struct psc_post		*posts;		/* a ring, oldest first */
	size_t			 headpost;
	size_t			 nposts;
	size_t			 capposts;
	uint64_t		 seq;		/* the last posted */
	int			 version;	/* spoken, from WELCOME */
	char			 queue[PS_PATH_MAX + 1]; /* QUEUE[/GROUP]: batches
						   go to QUEUE */
	char			 err[512];	/* the last error, for humans */
	uint16_t		 err_code;	/* the last ERROR's code, or 0 */
	uint32_t		*dups;		/* the last ENQUEUED's duplicates */
	uint32_t		 ndups;
	uint32_t		 dupcap;
};

/*
 * A consumer's demand window, by GenStage's code (its consumer's
 * split_batches; docs/protocol.md, "Topping up"): the events of one
 * delivery are cut into chunks of at most max - min, and when a chunk is
 * finished its size comes off pending; once pending is at min or below,
 * max - pending is asked and pending is max again.  A delivery is what
 * arrived together: a chunk also ends where the events read so far end.
 */
struct psc_window {
	uint32_t	 max;
	uint32_t	 min;
	uint32_t	 pending;	/* asked and not yet accounted */
	uint32_t	 open;		/* events in the chunk being filled */
	uint32_t	*chunks;	/* closed, not all done: a ring */
	size_t		 head;
	size_t		 nchunks;
	size_t		 cap;
	uint32_t	 done;		/* events done of the oldest chunk */
	uint32_t	 held;		/* received, not done */
};

void	 psc_window_init(struct psc_window *, uint32_t, uint32_t);
void	 psc_window_free(struct psc_window *);
int	 psc_window_received(struct psc_window *, int);
uint32_t psc_window_done(struct psc_window *);

/* psc_close must follow psc_connect, whether it succeeded or not. */
int	 psc_connect(struct psc *, const char *, const struct ps_hello *);
void	 psc_close(struct psc *);
int	 psc_flush(struct psc *);
int	 psc_read(struct psc *);
int	 psc_next(struct psc *, struct ps_frame *);
int	 psc_more(const struct psc *);
int	 psc_wait(struct psc *, struct ps_frame *);

int	 psc_set_queue(struct psc *, const char *);
int	 psc_batch_fits(const struct psc *, size_t);
int	 psc_batch_add(struct psc *, const void *, uint32_t);
int	 psc_batch_fits_key(const struct psc *, int, size_t);
int	 psc_batch_fits_attrs(const struct psc *, long, size_t);
int	 psc_batch_add_attrs(struct psc *, const struct ps_attrs *,
	     const void *, uint32_t);
int	 psc_batch_add_key(struct psc *, const void *, int, const void *,
	     uint32_t);
uint32_t psc_batch_count(const struct psc *);
void	 psc_batch_clear(struct psc *);
int	 psc_batch_send(struct psc *, struct ps_enqueued *);
void	 psc_batch_refused(struct psc *, uint32_t);
int	 psc_post(struct psc *, uint64_t *);
int	 psc_answer(struct psc *, int, struct psc_answer *);

int	 psc_demand(struct psc *, uint32_t);
int	 psc_nack_error(struct psc *, const struct ps_nack_error *);
int	 psc_ack_result(struct psc *, uint64_t, const void *, uint32_t);
int	 psc_jobs(struct psc *, struct ps_jobs_ask *, struct ps_jobs_reply *);
int	 psc_wait_job(struct psc *, uint64_t, const void *, uint8_t, uint32_t,
	     struct ps_wait_reply *);
int	 psc_job_cancel(struct psc *, const uint64_t *, uint32_t,
	     const void *, uint8_t, struct ps_cancel_reply *);
int	 psc_job(struct psc *, uint64_t, const void *, uint8_t, uint16_t,
	     struct ps_job *);
int	 psc_ids(struct psc *, uint8_t, const uint64_t *, uint32_t,
	     uint32_t);
int	 psc_dead_list(struct psc *, uint32_t, struct ps_dead_reply *);
int	 psc_dead_act(struct psc *, uint8_t, const uint64_t *, uint32_t,
	     uint32_t *);
int	 psc_stats(struct psc *, const char *, struct ps_stats *);
int	 psc_queues(struct psc *, uint32_t, struct ps_queues *);
int	 psc_task_stats(struct psc *, const char *, uint32_t,
	     struct ps_task_stats *);
int	 psc_queue_admin(struct psc *, uint8_t, uint8_t, const char *,
	     const char * const *, uint16_t, uint64_t *);
int	 psc_schedule(struct psc *, uint8_t, const char *, uint32_t,
	     struct ps_schedule_reply *);
int	 psc_schedule_add(struct psc *, uint8_t, const char *, const char *,
	     const char * const *, uint16_t, const struct ps_attrs *,
	     const void *, uint32_t, struct ps_schedule_reply *);

#endif
