/* crc32c.h: CRC-32C (Castagnoli), the checksum of the journal's records. */
#ifndef PS_CRC32C_H
#define PS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t	 crc32c(uint32_t, const void *, size_t);

#endif
