/*
 * jsoncheck.h: is this text JSON (RFC 8259), and of what type is its
 * value?  A validator, not a parser: nothing is decoded or allocated.
 */
#ifndef PS_JSONCHECK_H
#define PS_JSONCHECK_H

#include <stddef.h>

enum json_type {
	JSON_OBJECT = 1,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL,
};

/* Arrays and objects nested deeper than this are refused. */
#define JSON_DEPTH_MAX	512

/* Where text is not JSON: the offset of the byte at fault, from 0. */
struct json_fault {
	size_t		 off;
	const char	*why;
};

int		 jsoncheck(const void *, size_t, int *, struct json_fault *);
const char	*jsoncheck_type_name(int);

#endif
