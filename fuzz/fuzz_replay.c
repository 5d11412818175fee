/*
 * fuzz_replay.c: libFuzzer over the journal's replay: the input becomes
 * segment files in a private directory, which journal_open reads back
 * into a real dispatcher, with and without --repair.  First the record
 * codec alone (jrec.c) walks each file's bytes as they are: every record
 * it accepts is read to its end and, but for those with attributes
 * (which it writes in one order of many), encodes again to the same
 * bytes.
 *
 * The input: u8 flags, then files, each a u16 big-endian length and that
 * many bytes, named 00000001.seg, 00000002.seg, ... in order.
 *   flags & 1: --repair
 *   flags & 2: fix each segment's and record's checksums first, so that
 *              mutations reach the record bodies and their replay
 *   flags & 4: leave out the second file (a gap)
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "crc32c.h"
#include "journal.h"
#include "jrec.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 dir[64];
/*
 * Three attempts, so that replay's rule for the last one is reached; done
 * events' records kept for a century in 4 KiB, so that KEPT records are
 * put back, and made room for.
 */
static const struct dpolicy policy = {
	.overflow = OVERFLOW_REJECT,
	.max_attempts = 3,
	.dedup_window = DPOLICY_DEDUP_WINDOW,
	.keep_done = UINT64_C(100) * 366 * 86400000,
	.keep_done_bytes = 4096,
};

static void
emit(void *arg, struct dconsumer *dc, const struct qevent *ev)
{
	(void)arg;
	(void)dc;
	(void)ev;
}

/* Empty the directory between runs. */
static void
clean(void)
{
	struct dirent	*de;
	DIR		*dp;
	char		 p[512];

	if ((dp = opendir(dir)) == NULL)
		abort();
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(dp);
}

/* The checksums as the journal writes them, wherever lengths allow. */
static void
fix(uint8_t *p, size_t n)
{
	size_t		 off;
	uint32_t	 len;

	if (n < JOURNAL_SEG_HEAD)
		return;
	put32(p + 32, crc32c(0, p, 32));
	for (off = JOURNAL_SEG_HEAD; n - off >= JOURNAL_REC_HEAD;
	    off += JOURNAL_REC_HEAD + len) {
		len = get32(p + off);
		if (len > n - off - JOURNAL_REC_HEAD)
			break;
		put32(p + off + 8, crc32c(0, p + off + JOURNAL_REC_HEAD, len));
		put32(p + off + 12, crc32c(0, p + off, 12));
	}
}

/* Does the record r (decoded from rec) encode to the same bytes? */
static void
reencode(struct jrec *r, const uint8_t *rec)
{
	struct ps_buf		 b = { NULL, 0, 0 };
	struct jrec		 w = *r;
	struct jrec_entry	 e;
	size_t			 at;

	/* Attributes may be in another order; failures are read in place. */
	if (r->type == JREC_XENQUEUE || r->type == JREC_KEEP ||
	    r->type == JREC_GKEEP || r->type == JREC_XDEAD ||
	    r->type == JREC_FAIL)
		return;
	if (jrec_begin(&b, &at) != 0 || jrec_start(&b, &w) != 0)
		abort();
	while (jrec_next(&w, &e) == 1) {
		if (jrec_put(&b, w.type, &e) != 0)
			abort();
	}
	jrec_end(&b, at, w.type);
	if (b.len != JOURNAL_REC_HEAD + (size_t)r->len ||
	    memcmp(b.data, rec, b.len) != 0)
		abort();
	ps_buf_free(&b);
}

/*
 * The codec over one file's n bytes, in a buffer of exactly n: its
 * header, then each record (a bad one skipped a byte at a time, as
 * --repair looks for the next), each entry and each group's hold.
 */
static void
decode_file(const uint8_t *p, size_t n)
{
	struct jrec		 r;
	struct jrec_entry	 e;
	struct jrec_hold	 h;
	struct ps_failure	 fl;
	const uint8_t		*hp;
	uint64_t		 seq, first;
	uint32_t		 len;
	size_t			 off;
	int			 i;

	off = jrec_seg_get(p, n, &seq, &first) == NULL ? JOURNAL_SEG_HEAD : 0;
	while (off < n) {
		if (n - off >= JOURNAL_REC_HEAD)
			(void)jrec_head_len(p + off, &len);
		if (jrec_decode(&r, p + off, n - off) != NULL) {
			off++;
			continue;
		}
		reencode(&r, p + off);
		while (jrec_next(&r, &e) == 1) {
			for (hp = e.hold, i = 0; i < e.nholds; i++)
				hp = jrec_hold(hp, &h);
			for (hp = e.fail, i = 0; i < e.nfails; i++)
				hp = ps_failure_get(hp, &fl);
		}
		if (r.off != r.len)
			abort();	/* jrec_body passed it whole */
		off += JOURNAL_REC_HEAD + (size_t)r.len;
	}
}

static void
put_file(int seq, const uint8_t *data, size_t n, int fixed)
{
	uint8_t	*copy;
	char	 p[512];
	int	 fd;

	if ((copy = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(copy, data, n);
	if (fixed)
		fix(copy, n);
	decode_file(copy, n);
	snprintf(p, sizeof p, "%s/%08d.seg", dir, seq);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, copy, n) != (ssize_t)n)
		abort();
	close(fd);
	free(copy);
}

/* Groups past a queue's first: dispatchers reading the first one's log. */
#define EXTRA_MAX	64
static struct dispatch	*extra[EXTRA_MAX];
static size_t		 nextra;

/*
 * Every queue a journal names is the one dispatcher, for its first group;
 * each other group is a dispatcher of its own on the same log.
 */
static int
find(void *arg, const char *name, size_t len, size_t ng,
    const char * const *groups, const uint64_t *from, struct dispatch **out)
{
	struct dispatch	*d = arg, *x;
	size_t		 i;

	(void)name;
	(void)len;
	(void)groups;
	(void)from;
	out[0] = d;
	for (i = 1; i < ng; i++) {
		if (nextra == EXTRA_MAX || (x = calloc(1, sizeof *x)) == NULL)
			return -1;
		if (dispatch_init(x, d->queue.log, emit, NULL) != 0) {
			free(x);
			return -1;
		}
		x->ids = d->ids;
		x->policy = d->policy;
		extra[nextra++] = x;
		out[i] = x;
	}
	return 0;
}

static void
extra_free(void)
{
	while (nextra != 0) {
		dispatch_free(extra[--nextra]);
		free(extra[nextra]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dispatch	 d;
	struct journal	 j;
	size_t		 off = 1, n;
	uint8_t		 flags;
	int		 seq = 0;

	log_init("fuzz", -1);		/* not even errors: they are expected */
	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/pushstage-fuzz-replay.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
	}
	clean();
	if (size == 0)
		return 0;
	flags = data[0];
	while (size - off >= 2 && seq < 8) {
		n = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (n > size - off)
			n = size - off;
		if (++seq != 2 || !(flags & 4))
			put_file(seq, data + off, n, flags & 2);
		off += n;
	}

	memset(&j, 0, sizeof j);
	if (dispatch_init(&d, NULL, emit, NULL) != 0)
		return 0;
	d.policy = &policy;
	j.segment_size = JOURNAL_SEGMENT_MIN;
	j.repair = flags & 1;
	j.fsync = JOURNAL_NEVER;
	j.next_id = &d.next_id;
	if (journal_open(&j, dir, find, &d) == 0) {
		/* What came back can be served and journaled again. */
		d.change = NULL;
		(void)journal_commit(&j);
	}
	journal_close(&j);
	extra_free();
	dispatch_free(&d);
	return 0;
}
