/*
 * watch.c: pushctl watch: the daemon's state, redrawn every interval like
 * top(1).  On a terminal it clears the screen with the VT100 sequences
 * every terminal emulator knows and reads single keys (q quits);
 * elsewhere it prints one block per interval.  Rates are the change of a
 * counter over the time between two samples.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"
#include "pushstage.h"

#define INTERVAL_MS	1000u
#define CLEAR		"\033[H\033[2J"
#define HEADER_LINES	8	/* lines above the consumer rows */

/* A consumer as last seen, to turn its delivered count into a rate. */
struct seen {
	char		 id[PUSHSTAGE_ID_MAX + 1];
	uint64_t	 since;
	uint64_t	 delivered;
};

/*
 * The daemon's own counters: a queue's reply (-q) has none of them, so
 * they come from a whole-daemon STATS before it.
 */
struct whole {
	uint64_t	 uptime, consumers, clients, draining;
	int		 cluster;		/* --cluster: the link's */
	uint64_t	 linked, links, published, pulled;
};

struct sample {
	uint64_t	 at_ms;
	uint64_t	 enqueued, delivered, acked;
	struct seen	*consumers;
	size_t		 nconsumers;
};

static volatile sig_atomic_t	 stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
counter(const struct pushstage_stats *st, const char *name)
{
	uint64_t	 v;

	if (pushstage_stat(st->counters, st->ncounters, name, &v) != 0)
		return 0;
	return v;
}

/* The change per second of a counter, 0 when it went back (a restart). */
static double
rate(uint64_t now, uint64_t then, uint64_t ms)
{
	if (ms == 0 || now < then)
		return 0;
	return (double)(now - then) * 1000.0 / (double)ms;
}

static const char *
bytes_text(uint64_t n, char *buf, size_t len)
{
	static const char	*units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double			 v = (double)n;
	int			 u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static const char *
uptime_text(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%llud %02llu:%02llu:%02llu",
		    (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600),
		    (unsigned long long)(s % 3600 / 60),
		    (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%02llu:%02llu:%02llu",
		    (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60),
		    (unsigned long long)(s % 60));
	return buf;
}

static void
whole_of(const struct pushstage_stats *st, struct whole *w)
{
	w->uptime = counter(st, "uptime_seconds");
	w->consumers = counter(st, "consumers_connected");
	w->clients = counter(st, "clients_connected");
	w->draining = counter(st, "draining");
	w->cluster = pushstage_stat(st->counters, st->ncounters,
	    "cluster_connected", &w->linked) == 0;
	w->links = counter(st, "cluster_links_total");
	w->published = counter(st, "cluster_published_total");
	w->pulled = counter(st, "cluster_pulled_total");
}

/* The consumer's delivered count at the last sample, if it was there. */
static const struct seen *
find_seen(const struct sample *s, const char *id, uint64_t since)
{
	size_t	 i;

	for (i = 0; i < s->nconsumers; i++) {
		if (s->consumers[i].since == since &&
		    strcmp(s->consumers[i].id, id) == 0)
			return &s->consumers[i];
	}
	return NULL;
}

/* Print one screen to f; fill cur from st for the next one's rates. */
static void
render(FILE *f, const char *path, const struct pushstage_stats *st,
    const struct whole *wh, const struct sample *prev, struct sample *cur,
    int rows)
{
	const struct pushstage_consumer	*c;
	const struct seen		*was;
	const char			*queue;
	char				 b1[32], b2[32], b3[32];
	uint64_t			 ms = prev->at_ms ? cur->at_ms -
					     prev->at_ms : 0;
	time_t				 now = time(NULL);
	size_t				 i, shown;
	uint64_t			 connected;
	int				 w = 8, wq = queue_width(st), room;

	cur->enqueued = counter(st, "enqueued_total");
	cur->delivered = counter(st, "delivered_total");
	cur->acked = counter(st, "acked_total");
	fprintf(f, "producerd at %s%s%s   up %s   %s   (q to quit)\n", path,
	    ctl_queue != NULL ? "   queue " : "", ctl_queue != NULL ?
	    ctl_queue : "", uptime_text(wh->uptime, b1, sizeof b1),
	    time_text((uint64_t)now, b2, sizeof b2));
	fprintf(f, "\n");
	fprintf(f, "queued %llu (%s)   in flight %llu   dead %llu%s\n",
	    (unsigned long long)counter(st, "queued"),
	    bytes_text(counter(st, "queued_bytes"), b3, sizeof b3),
	    (unsigned long long)counter(st, "in_flight"),
	    (unsigned long long)counter(st, "dead"),
	    wh->draining ? "   DRAINING" : "");
	if (prev->at_ms != 0)
		fprintf(f, "enqueue %.0f/s   deliver %.0f/s   ack %.0f/s\n",
		    rate(cur->enqueued, prev->enqueued, ms),
		    rate(cur->delivered, prev->delivered, ms),
		    rate(cur->acked, prev->acked, ms));
	else
		fprintf(f, "enqueue -/s   deliver -/s   ack -/s\n");
	fprintf(f, "shed %llu   rejected %llu   redelivered %llu   "
	    "dead total %llu\n",
	    (unsigned long long)counter(st, "shed_total"),
	    (unsigned long long)counter(st, "rejected_total"),
	    (unsigned long long)counter(st, "redelivered_total"),
	    (unsigned long long)counter(st, "dead_total"));
	/* A queue's consumers (-q) are its "consumers", else all of them. */
	connected = ctl_queue != NULL ? counter(st, "consumers") :
	    wh->consumers;
	fprintf(f, "consumers %llu   clients %llu",
	    (unsigned long long)connected, (unsigned long long)wh->clients);
	/* --cluster: the link to NATS. */
	if (wh->cluster)
		fprintf(f, "   NATS %s (links %llu, published %llu, pulled "
		    "%llu)", wh->linked ? "linked" : "UNREACHABLE",
		    (unsigned long long)wh->links,
		    (unsigned long long)wh->published,
		    (unsigned long long)wh->pulled);
	fprintf(f, "\n\n");

	for (i = 0; i < st->nconsumers; i++) {
		if ((int)strlen(st->consumers[i].id) > w)
			w = (int)strlen(st->consumers[i].id);
	}
	fprintf(f, "%-*s%s%-*s %8s %10s %12s %10s\n", w, "CONSUMER",
	    wq ? " " : "", wq, wq ? "QUEUE" : "", "DEMAND", "IN_FLIGHT",
	    "DELIVERED", "RATE/s");
	/* On a terminal, the rows that fit, and a last one for "(N more)". */
	shown = st->nconsumers;
	room = rows - HEADER_LINES - 1;
	if (rows > 0 && (room < 0 || shown > (size_t)room))
		shown = room > 1 ? (size_t)(room - 1) : 0;
	for (i = 0; i < st->nconsumers; i++) {
		c = &st->consumers[i];
		snprintf(cur->consumers[i].id, sizeof cur->consumers[i].id,
		    "%s", c->id);
		cur->consumers[i].since = consumer_field(c, "connected_since");
		cur->consumers[i].delivered = consumer_field(c, "delivered");
		if (i >= shown)
			continue;
		was = find_seen(prev, c->id, cur->consumers[i].since);
		queue = consumer_queue(st, i);
		fprintf(f, "%-*s%s%-*s %8llu %10llu %12llu ", w, c->id,
		    wq ? " " : "", wq, wq == 0 ? "" : queue != NULL ? queue :
		    "-",
		    (unsigned long long)consumer_field(c, "demand"),
		    (unsigned long long)consumer_field(c, "in_flight"),
		    (unsigned long long)cur->consumers[i].delivered);
		if (was != NULL && ms != 0)
			fprintf(f, "%10.0f\n", rate(cur->consumers[i].delivered,
			    was->delivered, ms));
		else
			fprintf(f, "%10s\n", "-");
	}
	cur->nconsumers = st->nconsumers;
	if (shown < st->nconsumers)
		fprintf(f, "(%zu more)\n", st->nconsumers - shown);
	else if (st->nconsumers < connected)
		fprintf(f, "(%llu more not in the reply)\n",
		    (unsigned long long)(connected - st->nconsumers));
}

/* Wait up to ms for a key; 1 when it is time to quit. */
static int
wait_key(int keys, uint64_t ms)
{
	struct pollfd	 pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char		 buf[64];
	ssize_t		 n, i;

	if (poll(&pfd, keys ? 1 : 0, (int)ms) == -1) {
		if (errno != EINTR)
			fatal("poll");
		return stop;
	}
	if (keys && (pfd.revents & (POLLIN | POLLHUP))) {
		/* The terminal went away: nobody is watching. */
		n = read(STDIN_FILENO, buf, sizeof buf);
		if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN))
			return 1;
		for (i = 0; i < n; i++) {
			if (buf[i] == 'q' || buf[i] == 'Q')
				return 1;
		}
	}
	return stop;
}

static void
watch_usage(FILE *f)
{
	fprintf(f, "usage: pushctl watch [-q QUEUE] [--interval SECONDS] "
	    "[--count N]\n"
	    "A live view of producerd (or of one queue, -q), redrawn every "
	    "interval\n(default 1 s); q or Ctrl-C quits.  --count N stops "
	    "after N screens.\n");
}

int
cmd_watch(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interval",	required_argument,	NULL, 'i' },
		{ "count",	required_argument,	NULL, 'n' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct pushstage_stats	*st;
	struct pushstage		*p;
	struct whole			 wh;
	struct sample			 a, b, *prev = &a, *cur = &b, *t;
	struct sigaction		 sa;
	struct termios			 saved, raw;
	struct winsize			 ws;
	char				*screen = NULL;
	size_t				 screen_len = 0;
	FILE				*f;
	uint64_t			 next, now, shown = 0, count = 0;
	uint32_t			 interval = INTERVAL_MS, n;
	int				 ch, r = 0, status = 0, keys, tty, rows;
	const char			*term = getenv("TERM");

	while ((ch = getopt_long(argc, argv, "i:n:q:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'q':
			if (queue_option(optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'i':
			if (opt_seconds("--interval", optarg, 3600000, 0,
			    &interval) != 0)
				return EXIT_USAGE;
			if (interval < 100) {
				log_errorx("--interval: at least 0.1 seconds");
				return EXIT_USAGE;
			}
			break;
		case 'n':
			if (opt_u32("--count", optarg, 1, UINT32_MAX,
			    &n) != 0)
				return EXIT_USAGE;
			count = n;
			break;
		case 'h':
			watch_usage(stdout);
			return 0;
		default:
			watch_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_errorx("watch: unexpected argument \"%s\"", argv[optind]);
		return EXIT_USAGE;
	}
	if ((status = client_connect(path, &p)) != 0)
		return status;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll returns */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1)
		fatal("sigaction");
	tty = isatty(STDOUT_FILENO) && term != NULL &&
	    strcmp(term, "dumb") != 0;
	keys = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (keys) {
		/* Keys one at a time, unechoed; Ctrl-C still signals. */
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == -1)
			keys = 0;
	}
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	next = clock_ms();
	while (!stop) {
		if (ctl_queue != NULL &&
		    (r = pushstage_stats(p, &st)) == 0)
			whole_of(st, &wh);
		if (r != 0 || (r = ctl_stats(p, &st)) != 0) {
			status = client_fail(p, r);
			break;
		}
		if (ctl_queue == NULL)
			whole_of(st, &wh);
		cur->at_ms = clock_ms();
		free(cur->consumers);
		if ((cur->consumers = calloc(st->nconsumers + 1,
		    sizeof *cur->consumers)) == NULL)
			fatal("calloc");
		rows = 0;
		if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			rows = ws.ws_row;
		if ((f = open_memstream(&screen, &screen_len)) == NULL)
			fatal("open_memstream");
		if (tty)
			fputs(CLEAR, f);
		else if (shown != 0)
			fputc('\n', f);
		render(f, path, st, &wh, prev, cur, rows);
		if (fclose(f) != 0)
			fatal("open_memstream");
		/* The whole screen in one write: no flicker. */
		if (fwrite(screen, 1, screen_len, stdout) != screen_len ||
		    fflush(stdout) == EOF) {
			log_warn("writing to stdout");
			status = EXIT_USAGE;
			break;
		}
		free(screen);
		screen = NULL;
		t = prev;
		prev = cur;
		cur = t;
		if (++shown == count)
			break;
		next += interval;
		while (!stop && (now = clock_ms()) < next) {
			if (wait_key(keys, next - now)) {
				stop = 1;
				break;
			}
		}
		if ((now = clock_ms()) > next + interval)
			next = now;	/* the daemon was slow: no catching up */
	}
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	free(screen);
	free(a.consumers);
	free(b.consumers);
	pushstage_free(p);
	return status;
}
