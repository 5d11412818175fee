/* opt.h: option value parsing with errors that name the option and value. */
#ifndef PS_OPT_H
#define PS_OPT_H

#include <stdint.h>

int	 opt_u32(const char *, const char *, uint32_t, uint32_t, uint32_t *);
int	 opt_u64(const char *, const char *, uint64_t, uint64_t, uint64_t *);
int	 opt_range(const char *, const char *, uint32_t *, uint32_t *);
int	 opt_log_level(const char *);
int	 opt_log_format(const char *);
int	 opt_seconds(const char *, const char *, uint32_t, int, uint32_t *);
int	 opt_parse_u64(const char *, uint64_t, uint64_t, uint64_t *);
int	 opt_parse_seconds(const char *, uint32_t, int, uint32_t *);
int	 opt_parse_duration(const char *, uint64_t, uint64_t *);
int	 opt_mode(const char *, const char *, unsigned int *);

#endif
