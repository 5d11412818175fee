/* main.c: producerd's options, start-up, signals and shutdown. */
#include <sys/resource.h>
#include <sys/stat.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "net.h"
#include "opt.h"
#include "producerd.h"
#include "sockpath.h"

#define LISTEN_BACKLOG		1024
#define DAY_MS			86400000u
#define DEFAULT_DRAIN_MS	30000u
#define DEFAULT_HANDSHAKE_MS	5000u
#define DEFAULT_MAX_CONNS	1024u
#define DEFAULT_MAX_ATTEMPTS	5u
#define DEFAULT_SOCKET_MODE	0660u
#define DEFAULT_MAX_QUEUE	1000000u
#define DEFAULT_UPSTREAM_DEMAND	1000u
/* Descriptors kept for the listener, logs and the like. */
#define SPARE_FDS		16u

static void
usage(FILE *f)
{
	fprintf(f,
"usage: producerd [--socket PATH] [--max-frame BYTES] [--log-level LEVEL]\n"
"                 [--log-format text|json] [--log-file PATH]\n"
"                 [--metrics ADDRESS:PORT]\n"
"                 [--delivery at-least-once|at-most-once]\n"
"                 [--ack-timeout SECONDS] [--max-attempts N]\n"
"                 [--drain-timeout SECONDS] [--handshake-timeout SECONDS]\n"
"                 [--max-connections N] [--socket-mode MODE]\n"
"                 [--socket-group GROUP] [--allow-uid USERS]\n"
"                 [--allow-gid GROUPS] [--max-queue N]\n"
"                 [--max-queue-bytes BYTES] [--overflow POLICY]\n"
"                 [--upstream PATH [--upstream-max-demand N]\n"
"                  [--map CMD | --map0 CMD]]\n"
"                 [--data-dir DIR [--fsync MODE] [--segment-size BYTES]\n"
"                  [--repair]]\n"
"\n"
"The pushstage daemon: buffers events that clients enqueue and pushes them\n"
"to consumers as soon as they ask for them (docs/protocol.md).\n"
"\n"
"  -s, --socket PATH      Unix socket to listen on (default:\n"
"                         $PUSHSTAGE_SOCKET, else\n"
"                         $XDG_RUNTIME_DIR/pushstage.sock,\n"
"                         else /tmp/pushstage-$UID.sock)\n"
"  -m, --max-frame BYTES  largest frame body accepted (default %u,\n"
"                         from %u to %u); bounds one event and one\n"
"                         ENQUEUE batch\n"
"  -l, --log-level LEVEL  error, warning, info or debug (default info)\n"
"  --log-format FORMAT    text (default: time=... level=... msg=\"...\") or\n"
"                         json (one object per line)\n"
"  --log-file PATH        log to PATH (appended) instead of stderr; SIGHUP\n"
"                         opens it again, for log rotation\n"
"  --metrics ADDRESS:PORT serve Prometheus metrics over HTTP at\n"
"                         /metrics (off by default; 127.0.0.1:9464, say)\n"
"\n"
"With a listening socket passed by systemd (LISTEN_FDS, socket\n"
"activation), producerd serves that socket and --socket only names it.\n"
"\n"
"The buffer (docs/overflow.md):\n"
"  --max-queue N          events buffered at most (default %u; 0: no limit);\n"
"                         events in flight do not count\n"
"  --max-queue-bytes BYTES  their payload bytes at most (default 0: no limit)\n"
"  --overflow POLICY      when an ENQUEUE does not fit: reject (default; the\n"
"                         rest is refused, to be sent again), drop-oldest,\n"
"                         drop-newest, or block (stop reading the client\n"
"                         until there is room)\n"
"\n"
"A stage of a pipeline (docs/pipeline.md):\n"
"  --upstream PATH        also be a consumer of the producerd at PATH, asking\n"
"                         it only for what this daemon's consumers ask and it\n"
"                         does not hold; ack there once acked here\n"
"  --upstream-max-demand N  the most asked of upstream at once (default %u)\n"
"  --map CMD              pass each event from upstream through a long-lived\n"
"                         sh -c CMD, one line in, one line out; an empty\n"
"                         answer drops the event.  --map0: NUL-separated\n"
"\n"
"Durability (docs/journal.md):\n"
"  --data-dir DIR         journal every accepted event, ack and dead letter\n"
"                         to segment files in DIR (made if missing) and\n"
"                         read them back at start; without it, the buffer\n"
"                         lives in memory only\n"
"  --fsync MODE           batch (default): one fsync per loop iteration\n"
"                         before anything is answered; always: one per\n"
"                         frame; interval:MS: every MS ms, answering before\n"
"                         (a power loss may lose the last MS ms); never\n"
"  --segment-size BYTES   start a new segment file past this size (default\n"
"                         %llu, at least %llu)\n"
"  --repair               start even if the journal has bad records: keep\n"
"                         every intact one, drop and report the rest\n"
"\n"
"Delivery:\n"
"  --delivery MODE        at-least-once (default): consumers ack each event\n"
"                         and what they do not ack is delivered again;\n"
"                         at-most-once: an event is done once sent\n"
"  --ack-timeout SECONDS  take back an event not acked (or touched) in\n"
"                         this long and deliver it again (default none)\n"
"  --max-attempts N       deliveries before an event goes to the dead\n"
"                         letters (default %u, 1 to 65535)\n"
"  --drain-timeout SECONDS  on SIGTERM, wait this long for in-flight\n"
"                         events to be acked (default %u)\n"
"\n"
"Connections and access:\n"
"  --handshake-timeout SECONDS  drop a connection without HELLO after\n"
"                         this long (default %u)\n"
"  --max-connections N    refuse connections past N (default %u)\n"
"  --socket-mode MODE     the socket file's mode, octal (default 0%o)\n"
"  --socket-group GROUP   the socket file's group, a name or number\n"
"  --allow-uid USERS      only these users may connect: names or numbers,\n"
"                         comma-separated; may be repeated\n"
"  --allow-gid GROUPS     only members of these groups may connect; with\n"
"                         --allow-uid, either list admits\n"
"\n"
"  -h, --help             this help\n"
"  -V, --version          the version\n"
"\n"
"SIGTERM or SIGINT: drain (refuse new connections and events, send nothing\n"
"new, wait for acks up to --drain-timeout), then exit 0 and remove the\n"
"socket.  A second SIGTERM or SIGINT exits at once.  SIGHUP: reopen\n"
"--log-file.\n"
"Exit status 1: bad options, the socket could not be set up (for\n"
"example another producerd already listens on it), the journal could not\n"
"be read back or written.\n",
	    PS_MAX_FRAME_DEFAULT, PS_MAX_FRAME_MIN, PS_MAX_FRAME_LIMIT,
	    DEFAULT_MAX_QUEUE, DEFAULT_UPSTREAM_DEMAND,
	    (unsigned long long)JOURNAL_SEGMENT_SIZE,
	    (unsigned long long)JOURNAL_SEGMENT_MIN,
	    DEFAULT_MAX_ATTEMPTS, DEFAULT_DRAIN_MS / 1000,
	    DEFAULT_HANDSHAKE_MS / 1000, DEFAULT_MAX_CONNS,
	    DEFAULT_SOCKET_MODE);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;

	(void)what;
	if (srv->draining) {
		log_info("%s again: stopping now", strsignal((int)sig));
		event_base_loopbreak(srv->base);
		return;
	}
	log_info("%s: shutting down", strsignal((int)sig));
	systemd_notify("STOPPING=1");
	server_drain(srv);
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_reopen();
}

/*
 * Remove the socket file if it is still the one this daemon made (never
 * one systemd made: made is NULL then).
 */
static void
unlink_socket(const char *path, const struct stat *made)
{
	struct stat	 st;

	if (made != NULL && lstat(path, &st) == 0 && st.st_dev == made->st_dev &&
	    st.st_ino == made->st_ino && unlink(path) == -1)
		log_warn("unlink %s", path);
}

static int
parse_overflow(const char *arg, enum overflow *o)
{
	static const struct {
		const char	*name;
		enum overflow	 policy;
	} policies[] = {
		{ "reject", OVERFLOW_REJECT },
		{ "drop-oldest", OVERFLOW_DROP_OLDEST },
		{ "drop-newest", OVERFLOW_DROP_NEWEST },
		{ "block", OVERFLOW_BLOCK },
	};
	size_t	 i;

	for (i = 0; i < sizeof policies / sizeof policies[0]; i++) {
		if (strcmp(arg, policies[i].name) == 0) {
			*o = policies[i].policy;
			return 0;
		}
	}
	log_errorx("--overflow: \"%s\" is not reject, drop-oldest, "
	    "drop-newest or block", arg);
	return -1;
}

/* --fsync always|batch|never|interval:MS */
static int
parse_fsync(const char *arg, struct journal *j)
{
	if (strcmp(arg, "batch") == 0)
		j->fsync = JOURNAL_BATCH;
	else if (strcmp(arg, "always") == 0)
		j->fsync = JOURNAL_ALWAYS;
	else if (strcmp(arg, "never") == 0)
		j->fsync = JOURNAL_NEVER;
	else if (strncmp(arg, "interval:", 9) == 0) {
		j->fsync = JOURNAL_INTERVAL;
		return opt_u32("--fsync interval:MS", arg + 9, 1, 3600000,
		    &j->interval_ms);
	} else {
		log_errorx("--fsync: \"%s\" is not always, batch, never or "
		    "interval:MS", arg);
		return -1;
	}
	return 0;
}

/* Take every descriptor the hard limit allows; say if it is too few. */
static void
raise_fd_limit(uint32_t max_connections)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit");
	}
	if (rl.rlim_cur < (rlim_t)max_connections + SPARE_FDS)
		log_warnx("--max-connections %u is over what the descriptor "
		    "limit (%llu) allows; raise it with ulimit -n",
		    max_connections, (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	enum {
		OPT_DELIVERY = 256, OPT_ACK_TIMEOUT, OPT_MAX_ATTEMPTS,
		OPT_DRAIN_TIMEOUT, OPT_HANDSHAKE_TIMEOUT, OPT_MAX_CONNS,
		OPT_SOCKET_MODE, OPT_SOCKET_GROUP, OPT_ALLOW_UID,
		OPT_ALLOW_GID, OPT_MAX_QUEUE, OPT_MAX_QUEUE_BYTES, OPT_OVERFLOW,
		OPT_UPSTREAM, OPT_UPSTREAM_MAX_DEMAND, OPT_MAP, OPT_MAP0,
		OPT_DATA_DIR, OPT_FSYNC, OPT_SEGMENT_SIZE, OPT_REPAIR,
		OPT_LOG_FORMAT, OPT_LOG_FILE, OPT_METRICS,
	};
	static const struct option longopts[] = {
		{ "socket",	required_argument,	NULL, 's' },
		{ "max-frame",	required_argument,	NULL, 'm' },
		{ "log-level",	required_argument,	NULL, 'l' },
		{ "log-format",	required_argument,	NULL, OPT_LOG_FORMAT },
		{ "log-file",	required_argument,	NULL, OPT_LOG_FILE },
		{ "metrics",	required_argument,	NULL, OPT_METRICS },
		{ "delivery",	required_argument,	NULL, OPT_DELIVERY },
		{ "ack-timeout", required_argument,	NULL, OPT_ACK_TIMEOUT },
		{ "max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS },
		{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
		{ "handshake-timeout", required_argument, NULL,
		    OPT_HANDSHAKE_TIMEOUT },
		{ "max-connections", required_argument,	NULL, OPT_MAX_CONNS },
		{ "socket-mode", required_argument,	NULL, OPT_SOCKET_MODE },
		{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
		{ "allow-uid",	required_argument,	NULL, OPT_ALLOW_UID },
		{ "allow-gid",	required_argument,	NULL, OPT_ALLOW_GID },
		{ "max-queue",	required_argument,	NULL, OPT_MAX_QUEUE },
		{ "max-queue-bytes", required_argument, NULL,
		    OPT_MAX_QUEUE_BYTES },
		{ "overflow",	required_argument,	NULL, OPT_OVERFLOW },
		{ "upstream",	required_argument,	NULL, OPT_UPSTREAM },
		{ "upstream-max-demand", required_argument, NULL,
		    OPT_UPSTREAM_MAX_DEMAND },
		{ "map",	required_argument,	NULL, OPT_MAP },
		{ "map0",	required_argument,	NULL, OPT_MAP0 },
		{ "data-dir",	required_argument,	NULL, OPT_DATA_DIR },
		{ "fsync",	required_argument,	NULL, OPT_FSYNC },
		{ "segment-size", required_argument, NULL, OPT_SEGMENT_SIZE },
		{ "repair",	no_argument,		NULL, OPT_REPAIR },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct server		 srv;
	struct event_base	*base;
	struct event		*sigterm, *sigint, *sighup;
	struct stat		 made, *own = NULL;
	char			 pathbuf[4096], actpath[4096], err[512];
	const char		*path = NULL, *log_file = NULL;
	const char		*metrics = NULL;
	uint32_t		 ack_timeout = 0;
	uint32_t		 attempts = DEFAULT_MAX_ATTEMPTS;
	uint64_t		 max_queue = DEFAULT_MAX_QUEUE;
	uint64_t		 max_queue_bytes = 0;
	enum overflow		 overflow = OVERFLOW_REJECT;
	unsigned int		 mode = DEFAULT_SOCKET_MODE;
	gid_t			 group = (gid_t)-1;
	int			 ch, fd, journal_opts = 0;

	log_init("producerd", PS_LOG_INFO);
	log_set_format(PS_LOG_TEXT);
	memset(&srv, 0, sizeof srv);
	srv.max_frame = PS_MAX_FRAME_DEFAULT;
	srv.acks = 1;
	srv.drain_ms = DEFAULT_DRAIN_MS;
	srv.handshake_ms = DEFAULT_HANDSHAKE_MS;
	srv.max_connections = DEFAULT_MAX_CONNS;
	srv.up.max_demand = DEFAULT_UPSTREAM_DEMAND;
	srv.journal.segment_size = JOURNAL_SEGMENT_SIZE;
	while ((ch = getopt_long(argc, argv, "s:m:l:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'm':
			if (opt_u32("--max-frame", optarg, PS_MAX_FRAME_MIN,
			    PS_MAX_FRAME_LIMIT, &srv.max_frame) != 0)
				return 1;
			break;
		case 'l':
			if (opt_log_level(optarg) != 0)
				return 1;
			break;
		case OPT_LOG_FORMAT:
			if (opt_log_format(optarg) != 0)
				return 1;
			break;
		case OPT_LOG_FILE:
			log_file = optarg;
			break;
		case OPT_METRICS:
			metrics = optarg;
			break;
		case OPT_DELIVERY:
			if (strcmp(optarg, "at-least-once") == 0)
				srv.acks = 1;
			else if (strcmp(optarg, "at-most-once") == 0)
				srv.acks = 0;
			else {
				log_errorx("--delivery: \"%s\" is not "
				    "at-least-once or at-most-once", optarg);
				return 1;
			}
			break;
		case OPT_ACK_TIMEOUT:
			if (opt_seconds("--ack-timeout", optarg, DAY_MS, 1,
			    &ack_timeout) != 0)
				return 1;
			break;
		case OPT_MAX_ATTEMPTS:
			if (opt_u32("--max-attempts", optarg, 1, 65535,
			    &attempts) != 0)
				return 1;
			break;
		case OPT_DRAIN_TIMEOUT:
			if (opt_seconds("--drain-timeout", optarg, DAY_MS, 0,
			    &srv.drain_ms) != 0)
				return 1;
			break;
		case OPT_HANDSHAKE_TIMEOUT:
			if (opt_seconds("--handshake-timeout", optarg, DAY_MS,
			    0, &srv.handshake_ms) != 0)
				return 1;
			if (srv.handshake_ms == 0) {
				log_errorx("--handshake-timeout: must be more "
				    "than 0");
				return 1;
			}
			break;
		case OPT_MAX_CONNS:
			if (opt_u32("--max-connections", optarg, 1, 1000000,
			    &srv.max_connections) != 0)
				return 1;
			break;
		case OPT_SOCKET_MODE:
			if (opt_mode("--socket-mode", optarg, &mode) != 0)
				return 1;
			break;
		case OPT_SOCKET_GROUP:
			if (access_group("--socket-group", optarg, &group) != 0)
				return 1;
			break;
		case OPT_ALLOW_UID:
			if (access_add_uids(&srv.allow, optarg) != 0)
				return 1;
			break;
		case OPT_ALLOW_GID:
			if (access_add_gids(&srv.allow, optarg) != 0)
				return 1;
			break;
		case OPT_MAX_QUEUE:
			if (opt_u64("--max-queue", optarg, 0,
			    UINT64_C(1) << 40, &max_queue) != 0)
				return 1;
			break;
		case OPT_MAX_QUEUE_BYTES:
			if (opt_u64("--max-queue-bytes", optarg, 0,
			    UINT64_C(1) << 50, &max_queue_bytes) != 0)
				return 1;
			break;
		case OPT_OVERFLOW:
			if (parse_overflow(optarg, &overflow) != 0)
				return 1;
			break;
		case OPT_UPSTREAM:
			srv.up.path = optarg;
			break;
		case OPT_UPSTREAM_MAX_DEMAND:
			if (opt_u32("--upstream-max-demand", optarg, 1,
			    PS_DEMAND_LIMIT, &srv.up.max_demand) != 0)
				return 1;
			break;
		case OPT_MAP:
		case OPT_MAP0:
			if (strlen(optarg) == 0 ||
			    strlen(optarg) > PS_STAT_TEXT_MAX) {
				log_errorx("--map: give a command of 1 to %d "
				    "bytes", PS_STAT_TEXT_MAX);
				return 1;
			}
			srv.map.cmd = optarg;
			srv.map.nul = ch == OPT_MAP0;
			break;
		case OPT_DATA_DIR:
			if (*optarg == '\0') {
				log_errorx("--data-dir: give a directory");
				return 1;
			}
			srv.data_dir = optarg;
			break;
		case OPT_FSYNC:
			if (parse_fsync(optarg, &srv.journal) != 0)
				return 1;
			journal_opts = 1;
			break;
		case OPT_SEGMENT_SIZE:
			if (opt_u64("--segment-size", optarg,
			    JOURNAL_SEGMENT_MIN, UINT64_C(1) << 40,
			    &srv.journal.segment_size) != 0)
				return 1;
			journal_opts = 1;
			break;
		case OPT_REPAIR:
			srv.journal.repair = 1;
			journal_opts = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("producerd %s (protocol %d to %d)\n",
			    PUSHSTAGE_VERSION, PS_PROTO_MIN_VERSION,
			    PS_PROTO_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		log_errorx("unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return 1;
	}
	if (srv.map.cmd != NULL && srv.up.path == NULL) {
		log_errorx("--map transforms events from --upstream; give "
		    "--upstream PATH too");
		return 1;
	}
	if (srv.up.path != NULL && strlen(srv.up.path) > PS_STAT_TEXT_MAX) {
		log_errorx("--upstream: path too long: %s", srv.up.path);
		return 1;
	}
	if (journal_opts && srv.data_dir == NULL) {
		log_errorx("--fsync, --segment-size and --repair are for the "
		    "journal; give --data-dir DIR too");
		return 1;
	}
	if (srv.data_dir != NULL && srv.up.path != NULL) {
		log_errorx("--data-dir with --upstream: a stage's events are "
		    "kept by the daemon upstream until acked; journal that "
		    "one");
		return 1;
	}
	if (!srv.acks && ack_timeout != 0) {
		log_errorx("--ack-timeout needs --delivery at-least-once");
		return 1;
	}
	if (path == NULL)
		path = sockpath_default(pathbuf, sizeof pathbuf);
	if (log_file != NULL && log_open(log_file) == -1)
		fatal("--log-file: cannot open %s", log_file);

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	raise_fd_limit(srv.max_connections);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	dispatch_init(&srv.dispatch, conn_emit, &srv);
	srv.dispatch.ack_timeout = ack_timeout;
	srv.dispatch.max_attempts = attempts;
	srv.dispatch.max_queue = max_queue;
	srv.dispatch.max_queue_bytes = max_queue_bytes;
	srv.dispatch.overflow = overflow;
	if (srv.up.path != NULL)
		srv.dispatch.done = upstream_done;
	if (server_init(&srv, base) != 0)
		fatalx("cannot set up timers");
	if (srv.data_dir != NULL && server_journal_open(&srv) != 0) {
		server_free(&srv);
		return 1;
	}
	/* systemd's socket, if it passed one; else a socket of our own. */
	if ((fd = systemd_listen_fd(actpath, sizeof actpath, err,
	    sizeof err)) == -2)
		fatalx("%s", err);
	if (fd >= 0) {
		path = actpath;
		if (mode != DEFAULT_SOCKET_MODE || group != (gid_t)-1)
			log_warnx("--socket-mode and --socket-group do not "
			    "apply to a socket from systemd: set SocketMode= "
			    "and SocketGroup= in the .socket unit");
	} else {
		if ((fd = net_listen_unix(path, LISTEN_BACKLOG, (mode_t)mode,
		    group, err, sizeof err)) == -1)
			fatalx("%s", err);
		if (fstat(fd, &made) == -1 || lstat(path, &made) == -1)
			fatal("stat %s", path);
		own = &made;
	}
	srv.socket_path = path;
	if (listener_start(&srv, fd) != 0) {
		unlink_socket(path, own);
		fatalx("cannot listen on %s", path);
	}
	if (metrics != NULL && metrics_start(&srv, metrics, err,
	    sizeof err) != 0) {
		unlink_socket(path, own);
		fatalx("%s", err);
	}
	sigterm = evsignal_new(base, SIGTERM, on_signal, &srv);
	sigint = evsignal_new(base, SIGINT, on_signal, &srv);
	sighup = evsignal_new(base, SIGHUP, on_sighup, NULL);
	if (sigterm == NULL || sigint == NULL || sighup == NULL ||
	    evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint,
	    NULL) != 0 || evsignal_add(sighup, NULL) != 0) {
		unlink_socket(path, own);
		fatalx("cannot set up signal handling");
	}
	log_info("listening on %s%s (max frame %u bytes, %s)", path,
	    own == NULL ? " (from systemd)" : "", srv.max_frame,
	    srv.acks ? "at-least-once" : "at-most-once");
	systemd_notify("READY=1");

	if (event_base_dispatch(base) == -1)
		log_warnx("event loop failed");

	listener_stop(&srv);
	metrics_stop(&srv);
	unlink_socket(path, own);
	server_report(&srv);
	server_free(&srv);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_base_free(base);
	return 0;
}
