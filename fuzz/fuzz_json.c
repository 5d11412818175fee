/*
 * fuzz_json.c: libFuzzer over producerd's readers and writers of outside
 * text: an HTTP API body ({"ids": [...]}, and an object read member by
 * member as a schedule's is, json.c), the JSON strings and
 * previews it writes of any bytes, and what JetStream answers (jsreply.c:
 * errors, numbers, strings, base64, NATS header blocks).  The first byte
 * chooses the ids' limit and the preview's length; the rest is the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"
#include "jsreply.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * text read as the API reads a schedule's body, every member tried as
 * each kind in turn; a string's bytes and its NUL stay within the text.
 */
static void
walk(char *text, size_t size)
{
	struct json_in	 j;
	char		*k, *v;
	size_t		 kl, vl;
	uint64_t	 u;
	int		 n = 0, hn, f, more;

	json_in_init(&j, text, size);
	if (json_in_object(&j) != 0)
		return;
	while ((more = json_in_member(&j, &n, &k, &kl)) == 1) {
		if (k + kl >= text + size)
			abort();
		if (json_in_null(&j) || json_in_bool(&j, &f) == 0)
			continue;
		if (json_in_uint(&j, UINT16_MAX, &u) == 0) {
			if (u > UINT16_MAX)
				abort();
			continue;
		}
		if (json_in_string(&j, &v, &vl) == 0) {
			if (v + vl >= text + size)
				abort();
			continue;
		}
		if (json_in_object(&j) != 0)
			return;
		hn = 0;
		while ((more = json_in_member(&j, &hn, &k, &kl)) == 1)
			if (json_in_string(&j, &v, &vl) != 0)
				return;
		if (more < 0)
			return;
	}
	if (more == 0)
		(void)json_in_end(&j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evbuffer	*b;
	uint8_t			 ids[64 * 8], bytes[256];
	char			*text, why[128], err[256], v[64];
	const char		*s;
	size_t			 max, len;
	uint64_t		 u;
	uint32_t		 n;

	if (size == 0)
		return 0;
	if (b == NULL && (b = evbuffer_new()) == NULL)
		abort();
	max = data[0] % 65;
	data++;
	size--;
	/* As the API takes a body: not NUL-terminated. */
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	if (json_ids(text, size, ids, max, &n, why, sizeof why) == 0 &&
	    n > max)
		abort();
	walk(text, size);
	memcpy(text, data, size);
	json_str(b, data, size);
	json_preview(b, data, size % 300, 1);
	json_key(b, 0, "k");
	(void)evbuffer_drain(b, evbuffer_get_length(b));

	/* As libnats hands a reply over: NUL-terminated. */
	text[size] = '\0';
	(void)js_error(text, size, err, sizeof err);
	(void)js_error(text, size, err, 1);
	(void)js_true(text, "\"did_create\":");
	(void)js_u64(text, "\"seq\":", &u);
	if (js_string(text, "\"data\":", &s, &len) == 0) {
		if (s + len > text + size)
			abort();
		if (b64_len(s, len) > len)
			abort();
		(void)b64_decode(s, len, bytes, sizeof bytes);
		(void)b64_decode(s, len, bytes, 0);
	}
	(void)nats_header(text, size, "Pushstage-Attempts", v, sizeof v);
	(void)nats_header(text, size, "Status", v, 1);
	free(text);
	return 0;
}
