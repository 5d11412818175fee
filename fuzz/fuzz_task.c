/*
 * fuzz_task.c: libFuzzer over what the task envelope takes from outside:
 * any text through the JSON validator (common/jsoncheck.c), and any
 * bytes as a task's name and as an error's parts (common/task.c).  It
 * checks what it can: an error object always fits the room it was given
 * and is a JSON object, and a payload of text the validator took is one.
 * The first byte chooses where the input splits and the error's room.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsoncheck.h"
#include "task.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 out[TASK_ERROR_MAX];
	struct json_fault	 f;
	char			*payload;
	size_t			 cut, room, n, off;
	int			 type, t2;

	if (size == 0)
		return 0;
	cut = size > 1 ? data[0] % size : 0;
	room = TASK_ERROR_MIN + (size_t)data[0] * 16;
	if (room > sizeof out)
		room = sizeof out;
	data++;
	size--;

	/* Not NUL-terminated: a read past the end is the sanitizer's. */
	if (jsoncheck(data, size, &type, &f) == 0) {
		if (type < JSON_OBJECT || type > JSON_NULL)
			abort();
		/* As pushctl puts --args and --kwargs in a payload. */
		n = task_payload(NULL, 0, (const char *)data, size, "{}", 2);
		if ((payload = malloc(n)) == NULL)
			abort();
		if (task_payload(payload, n, (const char *)data, size, "{}",
		    2) != n || jsoncheck(payload, n, &t2, &f) != 0 ||
		    t2 != JSON_OBJECT)
			abort();
		free(payload);
	} else if (f.off > size || f.why == NULL)
		abort();

	(void)task_name_check((const char *)data, size, &off);
	if (off > size)
		abort();

	n = task_error(out, room, "ExitStatus", data, cut, data + cut,
	    size - cut);
	if (n > room || n < TASK_ERROR_MIN ||
	    jsoncheck(out, n, &type, &f) != 0 || type != JSON_OBJECT)
		abort();
	return 0;
}
