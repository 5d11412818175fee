/*
 * crc32c.c: CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as in
 * iSCSI and ext4, eight bytes a step ("slicing by 8").  crc32c(0, p, n)
 * checksums p; passing a previous result continues it.
 */
#include "crc32c.h"

static uint32_t	 table[8][256];
static int	 ready;

static void
init(void)
{
	uint32_t	 c;
	int		 i, j;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = table[0][i];
		for (j = 1; j < 8; j++) {
			c = table[0][c & 0xff] ^ (c >> 8);
			table[j][i] = c;
		}
	}
	ready = 1;
}

uint32_t
crc32c(uint32_t crc, const void *buf, size_t n)
{
	const unsigned char	*p = buf;
	uint32_t		 c = ~crc;

	if (!ready)
		init();
	while (n >= 8) {
		c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		c = table[7][c & 0xff] ^ table[6][(c >> 8) & 0xff] ^
		    table[5][(c >> 16) & 0xff] ^ table[4][c >> 24] ^
		    table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^
		    table[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n-- != 0)
		c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}
