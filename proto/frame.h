/*
 * frame.h: the pushstage wire protocol (docs/protocol.md): frame types,
 * field layouts, limits and error codes, and the pure encode/decode API.
 * Nothing here does I/O or keeps global state.
 */
#ifndef PS_FRAME_H
#define PS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PS_PROTO_VERSION	1

/* Header: u32 body length, u8 type, u8 flags, u16 reserved; big-endian. */
#define PS_HDR_LEN		8

/* Limits on the body length of one frame. */
#define PS_MAX_FRAME_DEFAULT	(1024u * 1024u)
#define PS_MAX_FRAME_MIN	4096u
#define PS_MAX_FRAME_LIMIT	(256u * 1024u * 1024u)

#define PS_NAME_MAX		255	/* consumer id / client name bytes */
#define PS_DEMAND_LIMIT		1048576u	/* largest max_demand */

/* Bytes an ENQUEUE adds around its events, and one EVENT frame's prefix. */
#define PS_ENQUEUE_OVERHEAD	(PS_HDR_LEN + 4)
#define PS_ENQUEUE_PER_EVENT	4
#define PS_EVENT_PREFIX		(PS_HDR_LEN + 8)

enum ps_type {
	PS_HELLO = 1,		/* peer -> daemon */
	PS_WELCOME = 2,		/* daemon -> peer */
	PS_ENQUEUE = 3,		/* client -> daemon */
	PS_ENQUEUED = 4,	/* daemon -> client */
	PS_DEMAND = 5,		/* consumer -> daemon */
	PS_EVENT = 6,		/* daemon -> consumer */
	PS_STATS = 7,		/* peer -> daemon */
	PS_STATS_REPLY = 8,	/* daemon -> peer */
	PS_ERROR = 9,		/* daemon -> peer, then close */
};
#define PS_TYPE_MAX	PS_ERROR

enum ps_role {
	PS_ROLE_CONSUMER = 1,
	PS_ROLE_CLIENT = 2,
};

/*
 * Error codes: returned (negated) by the decoders and carried by ERROR
 * frames.  Values are part of the protocol; never renumber them.
 */
enum ps_err {
	PS_E_TOO_LARGE = 1,	/* body length over the frame limit */
	PS_E_BAD_HEADER = 2,	/* flags or reserved bits set */
	PS_E_UNKNOWN_TYPE = 3,	/* type not defined */
	PS_E_BAD_LENGTH = 4,	/* body length wrong for the type */
	PS_E_BAD_VALUE = 5,	/* a field out of its range */
	PS_E_BAD_STATE = 6,	/* frame not allowed in this role or state */
	PS_E_VERSION = 7,	/* protocol version not spoken */
	PS_E_DEMAND = 8,	/* demand over the consumer's max_demand */
	PS_E_NOMEM = 9,		/* the receiver could not allocate */
};
#define PS_E_MAX	PS_E_NOMEM

const char	*ps_strerror(int);
const char	*ps_type_name(int);

/* A frame as it sits in a buffer; body points into that buffer. */
struct ps_frame {
	uint8_t		 type;
	uint32_t	 len;
	const uint8_t	*body;
};

struct ps_hello {
	uint16_t	 version;
	uint8_t		 role;
	uint32_t	 max_demand;	/* consumer: >= 1; client: 0 */
	uint32_t	 min_demand;	/* consumer: < max_demand; client: 0 */
	uint8_t		 name_len;	/* consumer: >= 1 (its id) */
	const char	*name;
};

struct ps_welcome {
	uint16_t	 version;
	uint32_t	 max_frame;
};

struct ps_enqueued {
	uint64_t	 first_id;
	uint32_t	 accepted;
};

struct ps_event {
	uint64_t	 id;
	uint32_t	 len;
	const uint8_t	*data;
};

struct ps_error {
	uint16_t	 code;
	uint32_t	 msg_len;
	const char	*msg;
};

/* Walks the events of a validated ENQUEUE body. */
struct ps_enqueue_iter {
	const uint8_t	*p;
	uint32_t	 left;
};

/* One name/value pair of a STATS_REPLY. */
struct ps_stat {
	char		 name[PS_NAME_MAX + 1];
	uint64_t	 value;
};

struct ps_stats_consumer {
	char		 id[PS_NAME_MAX + 1];
	uint8_t		 nfields;
	struct ps_stat	*fields;
};

struct ps_stats {
	uint16_t			 ncounters;
	struct ps_stat			*counters;
	uint32_t			 nconsumers;
	struct ps_stats_consumer	*consumers;
};

/* A growable byte buffer that the encoders append to. */
struct ps_buf {
	uint8_t		*data;
	size_t		 len;
	size_t		 cap;
};

/* buf.c */
int	 ps_buf_reserve(struct ps_buf *, size_t);
int	 ps_buf_add(struct ps_buf *, const void *, size_t);
void	 ps_buf_free(struct ps_buf *);

/* encode.c: each returns 0, or -PS_E_NOMEM / -PS_E_BAD_VALUE. */
int	 ps_put_hello(struct ps_buf *, const struct ps_hello *);
int	 ps_put_welcome(struct ps_buf *, const struct ps_welcome *);
int	 ps_put_enqueue_begin(struct ps_buf *, size_t *);
int	 ps_put_enqueue_add(struct ps_buf *, const void *, uint32_t);
void	 ps_put_enqueue_end(struct ps_buf *, size_t, uint32_t);
int	 ps_put_enqueued(struct ps_buf *, const struct ps_enqueued *);
int	 ps_put_demand(struct ps_buf *, uint32_t);
int	 ps_put_event(struct ps_buf *, uint64_t, const void *, uint32_t);
void	 ps_event_prefix(uint8_t [PS_EVENT_PREFIX], uint64_t, uint32_t);
int	 ps_put_stats(struct ps_buf *);
int	 ps_put_error(struct ps_buf *, uint16_t, const char *);
int	 ps_put_stats_begin(struct ps_buf *, size_t *);
int	 ps_put_stat(struct ps_buf *, const char *, uint64_t);
int	 ps_put_stats_consumers(struct ps_buf *, size_t *);
int	 ps_put_stats_consumer(struct ps_buf *, const char *, size_t, uint8_t);
void	 ps_put_stats_end(struct ps_buf *, size_t, uint16_t, size_t,
	     uint32_t);
size_t	 ps_enqueue_size(size_t, size_t);

/*
 * decode.c.  ps_frame_parse looks at n bytes: it returns the frame's total
 * size and fills f when a whole frame is there, 0 when more bytes are
 * needed, or -PS_E_* as soon as the header is known to be bad (before the
 * body arrives, so nothing is allocated for it).
 */
long	 ps_frame_size(const uint8_t *, size_t, uint32_t);
long	 ps_frame_parse(const uint8_t *, size_t, uint32_t, struct ps_frame *);
int	 ps_get_hello(const struct ps_frame *, struct ps_hello *);
int	 ps_get_welcome(const struct ps_frame *, struct ps_welcome *);
int	 ps_get_enqueue(const struct ps_frame *, struct ps_enqueue_iter *,
	     uint32_t *);
int	 ps_enqueue_next(struct ps_enqueue_iter *, const uint8_t **,
	     uint32_t *);
int	 ps_get_enqueued(const struct ps_frame *, struct ps_enqueued *);
int	 ps_get_demand(const struct ps_frame *, uint32_t *);
int	 ps_get_event(const struct ps_frame *, struct ps_event *);
int	 ps_get_stats(const struct ps_frame *);
int	 ps_get_stats_reply(const struct ps_frame *, struct ps_stats *);
void	 ps_stats_free(struct ps_stats *);
int	 ps_get_error(const struct ps_frame *, struct ps_error *);

/*
 * An incremental decoder over a stream: feed bytes however they were split,
 * take whole frames out.  A frame stays valid until the next feed/space.
 */
struct ps_decoder {
	struct ps_buf	 in;
	size_t		 off;		/* first byte not yet consumed */
	uint32_t	 max_frame;
};

void	 ps_decoder_init(struct ps_decoder *, uint32_t);
void	 ps_decoder_free(struct ps_decoder *);
int	 ps_decoder_feed(struct ps_decoder *, const void *, size_t);
uint8_t	*ps_decoder_space(struct ps_decoder *, size_t, size_t *);
void	 ps_decoder_commit(struct ps_decoder *, size_t);
int	 ps_decoder_next(struct ps_decoder *, struct ps_frame *);
size_t	 ps_decoder_pending(const struct ps_decoder *);

#endif
