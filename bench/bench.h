/* bench.h: what pushbench's parts share: settings, results, the board. */
#ifndef PS_BENCH_H
#define PS_BENCH_H

#include <sys/types.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"

/* Every payload starts with its sequence number and its send time. */
#define STAMP_LEN	16

/* --window 1,2,4,...: the depths a sweep runs each workload at. */
#define MAX_WINDOWS	16

struct settings {
	const char	*producerd;	/* binary to start */
	const char	*socket;	/* or a daemon already running */
	size_t		 size;		/* payload bytes */
	int		 consumers;
	int		 runs;
	int		 quick;
	int		 json;
	uint64_t	 events;	/* 0: each workload's own count */
	const char	*only;		/* one workload, or NULL */
	const char	*delivery;	/* one mode, or NULL for both */
	int		 compare;	/* raw socket and Redis too */
	const char	*fsync;		/* --data-dir with this; NULL: none */
	uint32_t	 window;	/* batches in flight, every system */
	uint32_t	 windows[MAX_WINDOWS];	/* --window's, in turn */
	int		 nwindows;
	uint32_t	 batch;		/* events a batch, and a pop's COUNT */
	const char	*system;	/* only this one, or NULL */
	int		 cluster;	/* --cluster R: 1 or 3; 0: none */
	int		 http;		/* --http: the dashboard's cost */
	uint16_t	 http_port;	/* producerd --http on it; 0: off */
	int		 dashboards;	/* polling it during the run */
	const char	*cluster_urls;	/* this run's NATS */
	const char	*headers[16];	/* --header NAME=VALUE, pushstage's */
	int		 nheaders;
};

/* One measured run. */
struct result {
	char		 workload[32];
	char		 mode[32];
	uint64_t	 events;
	double		 rate;		/* events/s, first enqueue to last receipt */
	double		 enq_rate;	/* W4: enqueue alone */
	double		 lat[4];	/* W3: p50, p99, p99.9, max, in µs,
					   from when each was due */
	double		 lat_sent[4];	/* the same from when each went */
	double		 cpu;		/* daemon CPU seconds, user + sys,
					   over the measured span */
	double		 cpu_user;
	double		 cpu_sys;
	uint64_t	 faults;	/* the daemon's minor page faults */
	uint64_t	 rss_peak_kb;
	double		 per_event;	/* W4: daemon bytes per queued event;
					   W7: per queue with one event */
	double		 per_queue;	/* W7: daemon bytes per empty queue */
	int		 exact;		/* each event arrived exactly once */
	int		 has_lat;
	uint32_t	 depth;		/* batches in flight its client kept */
	uint32_t	 batch;		/* events a batch */
	int		 acks;		/* consumers acknowledge each event */
};

/*
 * Shared by every process of a run (mmap'd before fork): who received
 * which event, and when.
 */
struct board {
	_Atomic uint64_t	 received;
	_Atomic uint64_t	 dups;
	_Atomic uint64_t	 last_ns;
	uint64_t		 total;
	int			 done_fd;	/* a byte when all arrived */
	int			 wait_fd;	/* the parent polls it */
	int			 latency;	/* record lat_ns */
	_Atomic uint8_t		*seen;		/* total bytes */
	uint64_t		*sent_ns;	/* total: when each went */
	uint32_t		*lat_ns;	/* total: from when it was due */
	uint32_t		*lat_sent_ns;	/* total: from when it went */
	size_t			 mapped;
};

/* One process's receipts not yet added to the board. */
struct tally {
	uint64_t	 n;
};

/* board.c */
/* For the last event, at the most: less than the quick tests' timeout. */
#define WAIT_MS(s)	((s)->quick ? 100000 : 300000)
struct board	*board_new(uint64_t, int);
void		 board_free(struct board *);
void		 board_mark(struct board *, const uint8_t *, size_t,
		     struct tally *);
void		 board_mark_copy(struct board *, const uint8_t *, size_t,
		     uint32_t, uint32_t, struct tally *);
void		 board_commit(struct board *, struct tally *);
int		 board_wait(struct board *, int, pid_t *, int);
int		 board_exact(const struct board *);
void		 board_latency(const struct board *, double [4], double [4]);
void		 board_sent(struct board *, uint64_t, uint64_t);
void		 stamp(uint8_t *, uint64_t, uint64_t);
pid_t		 spawn(void (*)(void *), void *);
void		 reap(pid_t *, int);
void		 rmtree(const char *);
uint64_t	 workload_events(const struct settings *, const char *);

/*
 * A server's CPU and page faults so far (/proc/PID/stat): read when the
 * clock starts and when the last event has come, the difference is what
 * the run cost it, without its start-up and its clients' connecting.
 */
struct usage {
	uint64_t	 ticks_user;	/* clock ticks */
	uint64_t	 ticks_sys;
	uint64_t	 faults;	/* minor */
};

/* A producerd of the run's own (or --socket's). */
struct daemon {
	pid_t		 pid;		/* 0: not ours */
	char		 dir[64];
	char		 sock[128];
	char		 data[128];	/* --fsync: the journal */
	const char	*path;
};

/* work.c: pushstage's workloads */
struct pushstage;
int	 work_run(const struct settings *, const char *, const char *,
	     struct result *);
int	 daemon_start(const struct settings *, const char *, struct daemon *);
void	 daemon_stop(struct daemon *);
void	 daemon_usage(const struct daemon *, struct usage *, uint64_t *,
	     uint64_t *);
void	 usage_read(pid_t, struct usage *);
void	 usage_span(struct result *, const struct usage *,
	     const struct usage *);
void		 work_headers(const char *const *, int);
struct pushstage *client_open(const char *);

/* http.c: the dashboard's cost (--http) */
uint16_t http_free_port(void);
pid_t	 http_dashboards(uint16_t, int);
int	 http_run(const struct settings *);

/* many.c: W7, many queues */
int	 many_run(const struct settings *, const char *, struct result *);

/* baseline.c: the floors, what the kernel allows each workload */
int	 baseline_stream(const struct settings *, const char *, uint64_t,
	     struct result *);
int	 baseline_relay(const struct settings *, double, struct result *);
int	 baseline_rr(const struct settings *, uint64_t, struct result *);

/* redis.c: the same workloads on Redis, when built with hiredis */
int	 redis_available(void);
int	 redis_run(const struct settings *, const char *, int,
	     struct result *);

/* jetstream.c: NATS for --cluster, and W1 and W2 straight on JetStream */
struct nats_nodes {
	pid_t		 pids[3];
	int		 n;
	char		 dir[64];
	char		 urls[256];
};
int	 jetstream_available(void);
int	 nats_start(int, struct nats_nodes *);
void	 nats_stop(struct nats_nodes *);
int	 jetstream_run(const struct settings *, const char *, const char *,
	     struct result *);
int	 jetstream_wait_pull(const char *, const char *, const char *);

/* beanstalk.c: W1 and W2 on beanstalkd */
int	 beanstalk_available(void);
int	 beanstalk_run(const struct settings *, const char *, struct result *);

#endif
