/*
 * json.h: the little JSON the HTTP API speaks (json.c): strings written
 * safe for any page they land in, payload previews as text or hex, and
 * the one body a POST takes, {"ids": [...]}.
 */
#ifndef PS_JSON_H
#define PS_JSON_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Written: "s", escaped (< > & too, and a bad UTF-8 byte as U+FFFD). */
void	 json_str(struct evbuffer *, const void *, size_t);
/* "key":, after a comma unless first. */
void	 json_key(struct evbuffer *, int, const char *);
/* "preview":"...","preview_encoding":"text" or "hex". */
void	 json_preview(struct evbuffer *, const void *, size_t, int);
void	 json_bytes_as(struct evbuffer *, int, const char *, const void *,
	     size_t, int);

/*
 * A POST body: empty, {}, or {"ids": [N, ...]} with at most max ids,
 * written big-endian into out (8 bytes each, as on the wire); 0 and *n,
 * or -1 and why.
 */
int	 json_ids(const char *, size_t, uint8_t *, size_t, uint32_t *, char *,
	     size_t);

#endif
