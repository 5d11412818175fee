/*
 * json.h: the little JSON the HTTP API speaks (json.c): strings written
 * safe for any page they land in, payload previews as text or hex, and
 * the bodies a POST takes: {"ids": [...]}, and an object of members read
 * one by one (a schedule's).
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

/*
 * A JSON object read in place, a member at a time: its strings are
 * decoded over the body's own bytes (never longer than their escapes),
 * each ended by a NUL, so a caller keeps pointers into the body.  Each
 * call is 0 (or 1) on success, -1 and why (what was wrong, and where)
 * if not.
 */
struct json_in {
	char		*start;
	char		*p;
	char		*end;
	char		 why[160];
};

void	 json_in_init(struct json_in *, char *, size_t);
int	 json_in_object(struct json_in *);
int	 json_in_member(struct json_in *, int *, char **, size_t *);
int	 json_in_null(struct json_in *);
int	 json_in_string(struct json_in *, char **, size_t *);
int	 json_in_bool(struct json_in *, int *);
int	 json_in_uint(struct json_in *, uint64_t, uint64_t *);
int	 json_in_end(struct json_in *);

#endif
