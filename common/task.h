/*
 * task.h: the task envelope of docs/tasks.md, as bytes: a task's name,
 * its payload, its error object.  No I/O.
 */
#ifndef PS_TASK_H
#define PS_TASK_H

#include <stddef.h>

#define TASK_NAME_MAX	255	/* bytes of a task's name */
#define TASK_ERROR_MAX	4096	/* bytes of an error object: NACK_ERROR's */
/* The smallest error object: {"type":"","message":"","traceback":""} */
#define TASK_ERROR_MIN	(sizeof "{\"type\":\"\",\"message\":\"\"," \
			    "\"traceback\":\"\"}" - 1)

const char	*task_name_check(const char *, size_t, size_t *);
int		 task_json_type(const void *, size_t);
size_t		 task_payload(char *, size_t, const char *, size_t,
		     const char *, size_t);
size_t		 task_error(char *, size_t, const char *, const void *,
		     size_t, const void *, size_t);
size_t		 task_json_string(char *, size_t, const void *, size_t);

#endif
