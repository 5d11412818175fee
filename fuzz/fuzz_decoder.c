/*
 * fuzz_decoder.c: libFuzzer over proto/: the input, fed to the incremental
 * decoder in pieces whose sizes its first bytes choose, and every frame
 * that comes out through the decoder for its type, as both versions.
 */
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
decode(const struct ps_frame *f)
{
	struct ps_hello		 h;
	struct ps_welcome	 w;
	struct ps_enqueue_iter	 it;
	struct ps_enqueued	 q;
	struct ps_event		 e;
	struct ps_ids		 ids;
	struct ps_dead_reply	 dr;
	struct ps_dead		 d;
	struct ps_stats		 st;
	struct ps_error		 err;
	struct ps_queue		 pq;
	struct ps_queues	 qs;
	struct ps_task_stats	 ts;
	struct ps_queue_admin	 qa;
	struct ps_nack_error	 ne;
	struct ps_job_ask	 ja;
	struct ps_cancel_ask	 ca;
	struct ps_cancel_reply	 cr;
	struct ps_ack_result	 ar;
	struct ps_wait_ask	 wa;
	struct ps_wait_reply	 wr;
	struct ps_jobs_ask	 ja2;
	struct ps_jobs_reply	 jl;
	struct ps_jobs_entry	 je;
	uint8_t			 how;
	struct ps_job		 jr;
	struct ps_failure	 fl;
	const uint8_t		*fp;
	struct ps_header	 hd;
	const uint8_t		*data;
	const char		*kv, *why;
	char			 whybuf[PS_WHY_MAX];
	uint16_t		 hoff;
	size_t			 kvlen;
	uint64_t		 u64;
	uint32_t		 n, len, i;
	int			 v;
	volatile uint64_t	 sink = 0;

	switch (f->type) {
	case PS_HELLO:
		if (ps_get_hello(f, &h) != 0)
			break;
		if (h.name_len != 0)
			sink += (uint8_t)h.name[h.name_len - 1];
		if (h.queue != NULL && h.queue_len != 0)
			sink += (uint8_t)h.queue[h.queue_len - 1];
		break;
	case PS_WELCOME:
		(void)ps_get_welcome(f, &w);
		break;
	case PS_ENQUEUE:
		for (v = 2; v <= 5; v++) {
			if (ps_get_enqueue(f, v, &pq, &it, &n) != 0)
				continue;
			sink += (uint8_t)pq.name[pq.len - 1];
			while (ps_enqueue_next(&it, &data, &len)) {
				sink += len ? data[len - 1] : 0;
				/* Headers, checked: each one read whole. */
				hoff = 0;
				while (ps_header_next(it.a.hdr, it.a.hlen,
				    &hoff, &hd))
					sink += hd.nlen + hd.vlen;
			}
		}
		break;
	case PS_ENQUEUED:
		(void)ps_get_enqueued(f, &q);
		break;
	case PS_DEMAND:
		(void)ps_get_demand(f, &n);
		break;
	case PS_EVENT:
		if (ps_get_event(f, 1, &e) == 0 && e.len != 0)
			sink += e.data[e.len - 1];
		if (ps_get_event(f, 2, &e) == 0 && e.len != 0)
			sink += e.data[e.len - 1];
		if (ps_get_event(f, 4, &e) == 0) {
			if (e.len != 0)
				sink += e.data[e.len - 1];
			if (e.key != NULL && e.klen != 0)
				sink += e.key[e.klen - 1];
		}
		if (ps_get_event(f, 5, &e) == 0) {
			/* A consumer's read of headers it does not trust. */
			hoff = 0;
			while (ps_header_next(e.hdr, e.hlen, &hoff, &hd))
				sink += hd.vlen ? hd.value[hd.vlen - 1] : 0;
			if (ps_headers_check(e.hdr, e.hlen, &why, whybuf) == 0)
				sink++;
		}
		break;
	case PS_NACK_ERROR:
		if (ps_get_nack_error(f, &ne) == 0 && ne.error_len != 0)
			sink += ne.error[ne.error_len - 1];
		break;
	case PS_JOB:
		if (ps_get_job(f, &ja) == 0 && ja.ulen != 0)
			sink += ja.uid[ja.ulen - 1];
		break;
	case PS_JOB_REPLY:
		if (ps_get_job_reply(f, &jr) != 0)
			break;
		sink += jr.preview_len ? jr.preview[jr.preview_len - 1] : 0;
		sink += jr.rlen ? jr.result[jr.rlen - 1] : 0;
		sink += jr.klen > 0 ? jr.key[jr.klen - 1] : 0;
		hoff = 0;
		while (ps_header_next(jr.hdr, jr.hlen, &hoff, &hd))
			sink += hd.nlen;
		for (i = 0, fp = jr.fail; i < jr.nfail; i++) {
			fp = ps_failure_get(fp, &fl);
			sink += fl.elen ? fl.err[fl.elen - 1] : 0;
		}
		break;
	case PS_JOBS:
		if (ps_get_jobs(f, &ja2) == 0)
			sink += ja2.klen + ja2.hvlen + ja2.state;
		break;
	case PS_JOBS_REPLY:
		if (ps_get_jobs_reply(f, &jl) != 0)
			break;
		while (ps_jobs_next(&jl, &je) == 1)
			sink += je.preview_len + je.hlen + (uint8_t)je.klen;
		break;
	case PS_ACK_RESULT:
		if (ps_get_ack_result(f, &ar) == 0 && ar.len != 0)
			sink += ar.result[ar.len - 1];
		break;
	case PS_WAIT:
		if (ps_get_wait(f, &wa) == 0 && wa.ulen != 0)
			sink += wa.uid[wa.ulen - 1];
		break;
	case PS_WAIT_REPLY:
		if (ps_get_wait_reply(f, &wr) == 0 && wr.len != 0)
			sink += wr.data[wr.len - 1];
		break;
	case PS_CANCEL:
		if (ps_get_ids(f, &ids) == 0)
			sink += ps_ids_at(&ids, ids.count - 1);
		break;
	case PS_JOB_CANCEL:
		if (ps_get_job_cancel(f, &ca) != 0)
			break;
		sink += ca.ulen != 0 ? ca.uid[ca.ulen - 1] :
		    ps_ids_at(&ca.ids, ca.ids.count - 1);
		break;
	case PS_JOB_CANCEL_REPLY:
		if (ps_get_cancel_reply(f, &cr) != 0)
			break;
		for (i = 0; i < cr.count; i++) {
			ps_cancel_reply_at(&cr, i, &u64, &how);
			sink += u64 + how;
			sink += (uint8_t)*ps_cancel_outcome_name(how);
		}
		break;
	case PS_STATS:
		(void)ps_get_stats(f, 2, &pq);
		if (ps_get_stats(f, 3, &pq) == 0 && pq.len != 0)
			sink += (uint8_t)pq.name[pq.len - 1];
		break;
	case PS_QUEUES:
		(void)ps_get_queues(f, &n);
		break;
	case PS_QUEUES_REPLY:
		if (ps_get_queues_reply(f, &qs) == 0)
			ps_queues_free(&qs);
		break;
	case PS_TASK_STATS:
		if (ps_get_task_stats(f, &pq, &n) == 0)
			sink += (uint8_t)pq.name[pq.len - 1] + n;
		break;
	case PS_TASK_STATS_REPLY:
		if (ps_get_task_stats_reply(f, &ts) != 0)
			break;
		for (i = 0; i < ts.count; i++)
			sink += (uint8_t)ts.tasks[i].name[ts.tasks[i].nlen - 1] +
			    ts.tasks[i].nfields;
		ps_task_stats_free(&ts);
		break;
	case PS_QUEUE_ADMIN:
		if (ps_get_queue_admin(f, &qa) == 0) {
			while (ps_queue_admin_next(&qa, &kv, &kvlen))
				sink += kvlen ? (uint8_t)kv[kvlen - 1] : 0;
		}
		break;
	case PS_QUEUE_DONE:
		(void)ps_get_queue_done(f, &u64);
		break;
	case PS_STATS_REPLY:
		if (ps_get_stats_reply(f, &st) == 0)
			ps_stats_free(&st);
		break;
	case PS_ERROR:
		if (ps_get_error(f, &err) == 0 && err.msg_len != 0)
			sink += (uint8_t)err.msg[err.msg_len - 1];
		break;
	case PS_ACK:
	case PS_NACK:
	case PS_NACK_LATER:
	case PS_TOUCH:
	case PS_DEAD_RETRY:
	case PS_DEAD_DROP:
		if (ps_get_ids(f, &ids) == 0) {
			for (i = 0; i < ids.count; i++)
				sink += ps_ids_at(&ids, i);
		}
		if (ps_get_dead_ids(f, 3, &pq, &ids) == 0) {
			for (i = 0; i < ids.count; i++)
				sink += ps_ids_at(&ids, i);
		}
		break;
	case PS_DEAD_LIST:
		(void)ps_get_dead_list(f, 2, &pq, &n);
		(void)ps_get_dead_list(f, 3, &pq, &n);
		break;
	case PS_DEAD_LIST_REPLY:
		for (v = 3; v <= 5; v += 2) {
			if (ps_get_dead_reply(f, v, &dr) != 0)
				continue;
			while (ps_dead_next(&dr, &d)) {
				sink += d.preview_len ?
				    d.preview[d.preview_len - 1] : 0;
				sink += d.error_len ?
				    d.error[d.error_len - 1] : 0;
			}
		}
		break;
	case PS_DEAD_DONE:
		(void)ps_get_dead_done(f, &n);
		break;
	}
	(void)sink;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_decoder	 dec;
	struct ps_frame		 f;
	size_t			 piece, off;
	int			 r = 0;

	if (size < 1)
		return 0;
	/* The first byte picks the piece size, 1..256 bytes. */
	piece = (size_t)data[0] + 1;
	data++;
	size--;
	ps_decoder_init(&dec, PS_MAX_FRAME_MIN);
	for (off = 0; off < size && r >= 0; off += piece) {
		if (ps_decoder_feed(&dec, data + off, size - off < piece ?
		    size - off : piece) != 0)
			break;
		while ((r = ps_decoder_next(&dec, &f)) == 1)
			decode(&f);
	}
	ps_decoder_free(&dec);
	return 0;
}
