/*
 * io.c: a connection's bytes.  One read per wake-up takes up to READ_CHUNK
 * into the connection's decoder; what the daemon says goes into its output
 * evbuffer, and every connection written to in a loop iteration is flushed
 * once, at the end of it (server.c), with one writev: no write waits for a
 * writability event unless the socket is full.  The frames conn.c makes
 * (EVENTs, replies) go end to end into the connection's stage, a plain
 * buffer, which goes straight to the socket when nothing waits before it:
 * the evbuffer holds only what the socket did not take.  Two evbuffer_adds
 * an event cost 8 % of the daemon's instructions in W1, and an evbuffer's
 * chain made and freed for each write a tenth of W2's.  (Measured with pushbench
 * W2: bufferevents cost two epoll_ctl, an ioctl and an extra epoll_wait
 * per message; see docs/performance.md.)
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "producerd.h"

/*
 * One read from a socket takes up to this much, so that a producer that
 * runs ahead gets its share of each loop iteration and no more: the
 * consumers' DEMAND and ACK are read, and their events written, between
 * two reads of it.  Taking 256 KiB a read let a producer 16 or 32
 * batches deep fill the queue faster than the consumers drained it, and
 * the backlog in cold memory cost the daemon 40 % more CPU an event;
 * at 32 KiB W1 is flat from 1 to 32 batches in flight (docs/
 * performance.md).  Redis reads 16 KiB a client an iteration, likewise.
 * With --fsync batch each iteration ends in an fsync, which bounds the
 * rate instead: there a read takes READ_CHUNK_SYNC, as many events an
 * fsync as before (durable W1 lost 17 % at 32 KiB).
 */
#define READ_CHUNK	(32u * 1024)
#define READ_CHUNK_SYNC	(256u * 1024)

/* A stage that grew past this (a burst of large events) is let go. */
#define STAGE_KEEP	(256u * 1024)

static void
io_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	uint8_t		*p;
	size_t		 room;
	ssize_t		 n;

	(void)what;
	if ((p = ps_decoder_space(&c->in, c->srv->read_chunk, &room)) ==
	    NULL) {
		conn_nomem(c);
		return;
	}
	if (room == 0) {		/* read on once frames are taken */
		conn_hold(c, HOLD_INPUT);
		conn_input(c);
		return;
	}
	if (room > c->srv->read_chunk)
		room = c->srv->read_chunk;
	if ((n = read(fd, p, room)) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("read: %s", strerror(errno));
		conn_close(c);
		return;
	}
	if (n == 0) {
		conn_eof(c);
		return;
	}
	ps_decoder_commit(&c->in, (size_t)n);
	conn_input(c);
}

static void
io_writecb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	io_flush(arg);
}

/* Flush every connection written to: server.c's end of each iteration. */
void
io_flush_all(struct server *srv)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&srv->dirty)) != NULL) {
		TAILQ_REMOVE(&srv->dirty, c, dentry);
		c->dirty = 0;
		io_flush(c);
	}
}

/* A read's most, as the journal's --fsync says (READ_CHUNK's comment). */
void
io_configure(struct server *srv)
{
	srv->read_chunk = srv->data_dir != NULL &&
	    srv->journal.fsync == JOURNAL_BATCH ? READ_CHUNK_SYNC : READ_CHUNK;
}

/* Set up c's events (none when it has no socket: the fuzzer's). */
int
io_start(struct conn *c)
{
	struct server	*srv = c->srv;

	/* One whole frame, and one read past it, at most. */
	ps_decoder_init(&c->in, srv->max_frame);
	ps_decoder_limit(&c->in, PS_HDR_LEN + (size_t)srv->max_frame +
	    srv->read_chunk);
	if ((c->out = evbuffer_new()) == NULL)
		return -1;
	if (c->fd == -1)
		return 0;
	c->rev = event_new(srv->base, c->fd, EV_READ | EV_PERSIST, io_readcb,
	    c);
	c->wev = event_new(srv->base, c->fd, EV_WRITE | EV_PERSIST,
	    io_writecb, c);
	if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) != 0)
		return -1;
	return 0;
}

void
io_stop(struct conn *c)
{
	if (c->dirty) {
		TAILQ_REMOVE(&c->srv->dirty, c, dentry);
		c->dirty = 0;
	}
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	c->rev = c->wev = NULL;
	if (c->out != NULL)
		evbuffer_free(c->out);
	c->out = NULL;
	ps_buf_free(&c->stage);
	ps_decoder_free(&c->in);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/* Read from c, or stop, as conn.c's state says. */
void
io_reading(struct conn *c, int on)
{
	if (c->rev == NULL)
		return;
	if (on)
		event_add(c->rev, NULL);
	else
		event_del(c->rev);
}

/* The stage from off on goes into the evbuffer, behind what waits there. */
static void
stage_out(struct conn *c, size_t off)
{
	if (off < c->stage.len && evbuffer_add(c->out, c->stage.data + off,
	    c->stage.len - off) != 0)
		log_warnx("out of memory: %zu bytes to a peer lost",
		    c->stage.len - off);
	c->stage.len = 0;
	if (c->stage.cap > STAGE_KEEP)
		ps_buf_free(&c->stage);
}

/*
 * c's evbuffer, for a writer that is not conn.c's (the upstream link, the
 * last words at exit): what is staged goes first, so that frames leave in
 * the order they were made.
 */
struct evbuffer *
io_out(struct conn *c)
{
	if (c->stage.len != 0)
		stage_out(c, 0);
	return c->out;
}

/*
 * Nothing waits in the evbuffer: the stage straight to the socket, with
 * no copy; what the socket does not take goes into the evbuffer.  -1: c
 * was closed.
 */
static int
stage_write(struct conn *c)
{
	ssize_t	 n;

	do
		n = write(c->fd, c->stage.data, c->stage.len);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
		log_debug("write: %s", strerror(errno));
		conn_close(c);
		return -1;
	}
	stage_out(c, n == -1 ? 0 : (size_t)n);
	return 0;
}

/* Bytes c has to write. */
size_t
io_pending(const struct conn *c)
{
	return evbuffer_get_length(c->out) + c->stage.len;
}

/* c has output: flush it at the end of this loop iteration. */
void
io_dirty(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	TAILQ_INSERT_TAIL(&c->srv->dirty, c, dentry);
	server_wake(c->srv);
}

/*
 * Write what c has, as far as the socket takes it; wait for writability
 * only for the rest.  May close c (conn_flushed).
 */
void
io_flush(struct conn *c)
{
	int	 n, waits;

	server_commit(c->srv);	/* records first, then what speaks of them */
	if (c->stage.len != 0 && c->fd != -1 &&
	    evbuffer_get_length(c->out) == 0) {
		if (stage_write(c) != 0)
			return;
	} else
		(void)io_out(c);
	while (evbuffer_get_length(c->out) != 0) {
		if (c->fd == -1) {
			evbuffer_drain(c->out, evbuffer_get_length(c->out));
			break;
		}
		if ((n = evbuffer_write(c->out, c->fd)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_debug("write: %s", strerror(errno));
			conn_close(c);
			return;
		}
		if (n == 0)
			break;
	}
	/* Writability is waited for only while output waits. */
	if (c->wev != NULL) {
		waits = evbuffer_get_length(c->out) != 0;
		if (waits != (event_pending(c->wev, EV_WRITE, NULL) != 0)) {
			if (waits)
				event_add(c->wev, NULL);
			else
				event_del(c->wev);
		}
	}
	conn_flushed(c);
}

/* Bytes as if they had been read from c's socket (the fuzzer's way in). */
int
io_feed(struct conn *c, const void *p, size_t n)
{
	if (ps_decoder_feed(&c->in, p, n) != 0)
		return -1;
	conn_input(c);
	return 0;
}
