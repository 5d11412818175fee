/* jsreply.h: reading JetStream's API replies (jsreply.c). */
#ifndef JSREPLY_H
#define JSREPLY_H

#include <stddef.h>
#include <stdint.h>

const char	*js_error(const char *, size_t, char *, size_t);
int		 js_true(const char *, const char *);
int		 js_u64(const char *, const char *, uint64_t *);
int		 js_string(const char *, const char *, const char **, size_t *);
void		 b64_encode(const uint8_t *, size_t, char *);
size_t		 b64_len(const char *, size_t);
int		 b64_decode(const char *, size_t, uint8_t *, size_t);
int		 nats_header(const char *, size_t, const char *, char *,
		     size_t);

#endif
