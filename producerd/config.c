/*
 * config.c: producerd's command line into a struct config, every value
 * checked and every default set here, so that main only wires modules.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "opt.h"
#include "producerd.h"

#define DAY_MS			86400000u

static void
usage(FILE *f)
{
	fprintf(f,
"usage: producerd [--socket PATH] [--max-frame BYTES] [--log-level LEVEL]\n"
"                 [--log-format text|json] [--log-file PATH]\n"
"                 [--http ADDRESS:PORT [--http-token-file PATH]\n"
"                  [--http-max-connections N]\n"
"                  [--http-request-timeout SECONDS]]\n"
"                 [--delivery at-least-once|at-most-once]\n"
"                 [--ack-timeout SECONDS] [--max-attempts N]\n"
"                 [--dispatch demand|key|partition:N]\n"
"                 [--rate N/PERIOD] [--retry-backoff BASE:MAX]\n"
"                 [--dedup-window DURATION]\n"
"                 [--cluster URLS [--cluster-replicas N]]\n"
"                 [--drain-timeout SECONDS] [--handshake-timeout SECONDS]\n"
"                 [--max-connections N] [--socket-mode MODE]\n"
"                 [--socket-group GROUP] [--allow-uid USERS]\n"
"                 [--allow-gid GROUPS] [--max-queue N]\n"
"                 [--max-queue-bytes BYTES] [--overflow POLICY]\n"
"                 [--queue NAME]... [--no-auto-create] [--max-queues N]\n"
"                 [--max-groups N] [--max-memory BYTES] [--max-schedules N]\n"
"                 [--upstream PATH [--upstream-max-demand N]\n"
"                  [--upstream-queue NAME] [--local-queue NAME]\n"
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
"                         else ${TMPDIR:-/tmp}/pushstage-$UID/\n"
"                             pushstage.sock, a directory of\n"
"                             this user's alone)\n"
"  -m, --max-frame BYTES  largest frame body accepted (default %u,\n"
"                         from %u to %u); bounds one event and one\n"
"                         ENQUEUE batch\n"
"  -l, --log-level LEVEL  error, warning, info or debug (default info)\n"
"  --log-format FORMAT    text (default: time=... level=... msg=\"...\") or\n"
"                         json (one object per line)\n"
"  --log-file PATH        log to PATH (appended) instead of stderr; SIGHUP\n"
"                         opens it again, for log rotation\n"
"  --http ADDRESS:PORT    serve the dashboard at /, its JSON API at\n"
"                         /api/v1/ and Prometheus metrics at /metrics\n"
"                         (docs/http.md; off by default; 127.0.0.1:9464,\n"
"                         say); an address not of loopback only with a\n"
"                         token.  --metrics: the same\n"
"  --http-token-file PATH a file of mode 0600 holding the token (16 to\n"
"                         256 bytes) that a POST must bring as\n"
"                         Authorization: Bearer TOKEN; without one the\n"
"                         dashboard and API are read-only\n"
"  --http-max-connections N  HTTP connections at once (default %u, at\n"
"                         most a quarter of the descriptor limit); more\n"
"                         wait to be accepted.  --metrics-max-connections:\n"
"                         the same\n"
"  --http-request-timeout SECONDS  a connection's whole request (headers\n"
"                         and body), from its accept or its last reply,\n"
"                         within this or it is closed (default 10)\n"
"\n"
"With a listening socket passed by systemd (LISTEN_FDS, socket\n"
"activation), producerd serves that socket and --socket only names it.\n"
"\n"
"Queues (docs/protocol.md): a queue is named by 1 to 64 bytes of\n"
"A-Z a-z 0-9 . _ : -; peers of protocol 1 and 2 use the queue default.\n"
"  -q, --queue NAME       make this queue at start (repeatable)\n"
"  --no-auto-create       only the queues named with --queue (and made\n"
"                         with pushctl queue create) exist; others are\n"
"                         refused (default: a queue is made on first use)\n"
"  --max-queues N         queues at most (default %u)\n"
"  --max-groups N         groups of consumers a queue may have at most\n"
"                         (default %u, at most 255); a consumer naming\n"
"                         QUEUE/GROUP joins a group, and every group gets\n"
"                         every event of its queue\n"
"  --max-schedules N      schedules at most (default %u; 0 to 10000000);\n"
"                         with --data-dir they are kept in DIR/schedules\n"
"\n"
"Each queue's buffer, delivery and dead letters follow the options below;\n"
"they are every queue's defaults, and pushctl queue set NAME KEY=VALUE\n"
"changes one queue's at run time (kept in --data-dir's DIR/queues).\n"
"\n"
"The buffer (docs/overflow.md):\n",
	    PS_MAX_FRAME_DEFAULT, PS_MAX_FRAME_MIN, PS_MAX_FRAME_LIMIT,
	    CONFIG_HTTP_CONNS, CONFIG_MAX_QUEUES, CONFIG_MAX_GROUPS,
	    CONFIG_MAX_SCHEDULES);
	settings_usage(f, SETTINGS_BUFFER);
	fprintf(f,
"  --max-memory BYTES     payload bytes held by every queue together at\n"
"                         most (default: half the smaller of physical\n"
"                         memory and the cgroup's memory limit; 0: none)\n"
"\n"
"A stage of a pipeline (docs/pipeline.md):\n"
"  --upstream PATH        also be a consumer of the producerd at PATH, asking\n"
"                         it only for what this daemon's consumers ask and it\n"
"                         does not hold; ack there once acked here\n"
"  --upstream-max-demand N  the most asked of upstream at once (default %u)\n"
"  --upstream-queue NAME  the queue to consume upstream (default default)\n"
"  --local-queue NAME     the queue here that takes its events (default\n"
"                         default)\n"
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
"Delivery:\n",
	    CONFIG_UPSTREAM_DEMAND, (unsigned long long)JOURNAL_SEGMENT_SIZE,
	    (unsigned long long)JOURNAL_SEGMENT_MIN);
	settings_usage(f, SETTINGS_DELIVERY);
	fprintf(f,
"  --cluster nats://HOST:PORT[,...]  put the queues in NATS JetStream\n"
"                         (a stream each), shared by every producerd\n"
"                         linked to it (docs/cluster.md)\n"
"  --cluster-replicas N   each stream's copies, 1 to 5 (default 1)\n"
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
"--log-file, read --http-token-file again.\n"
"Exit status 1: bad options, the socket could not be set up (for\n"
"example another producerd already listens on it), the journal could not\n"
"be read back or written.\n",
	    CONFIG_DRAIN_MS / 1000, CONFIG_HANDSHAKE_MS / 1000,
	    CONFIG_MAX_CONNS, CONFIG_SOCKET_MODE);
}

/* A queue setting given as a flag: through settings.c, as at run time. */
static int
queue_flag(struct config *cfg, const char *name, const char *arg)
{
	char	 err[256];
	int	 set;

	if ((set = settings_set(&cfg->queue, name, arg, err,
	    sizeof err)) < 0) {
		log_errorx("--%s", err);
		return -1;
	}
	cfg->queue_set |= (unsigned int)set;
	return 0;
}

/* --fsync always|batch|never|interval:MS */
static int
parse_fsync(const char *arg, struct config *cfg)
{
	if (strcmp(arg, "batch") == 0)
		cfg->fsync = JOURNAL_BATCH;
	else if (strcmp(arg, "always") == 0)
		cfg->fsync = JOURNAL_ALWAYS;
	else if (strcmp(arg, "never") == 0)
		cfg->fsync = JOURNAL_NEVER;
	else if (strncmp(arg, "interval:", 9) == 0) {
		cfg->fsync = JOURNAL_INTERVAL;
		return opt_u32("--fsync interval:MS", arg + 9, 1, 3600000,
		    &cfg->fsync_interval_ms);
	} else {
		log_errorx("--fsync: \"%s\" is not always, batch, never or "
		    "interval:MS", arg);
		return -1;
	}
	return 0;
}

/*
 * The default byte limit of the buffer: a quarter of physical memory, so
 * that a flood with no consumer cannot take the machine (one client
 * pushed 3 GiB in 15 s when there was none).  0 if it cannot be known.
 */
static uint64_t
default_max_queue_bytes(void)
{
	long	 pages = sysconf(_SC_PHYS_PAGES);
	long	 size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return 0;
	return (uint64_t)pages * (uint64_t)size / 4;
}

/* A cgroup memory limit file's number; UINT64_MAX for "max" or none. */
static uint64_t
cgroup_limit(const char *path)
{
	FILE			*f;
	unsigned long long	 v;
	uint64_t		 limit = UINT64_MAX;

	if ((f = fopen(path, "r")) == NULL)
		return UINT64_MAX;
	if (fscanf(f, "%llu", &v) == 1)
		limit = (uint64_t)v;
	fclose(f);
	return limit;
}

/*
 * The memory this daemon may use: the smaller of physical memory and its
 * cgroup's limit (v2's memory.max, v1's memory.limit_in_bytes, of its own
 * cgroup as /proc/self/cgroup names it or of the namespace's root); 0 if
 * none can be known.
 */
static uint64_t
config_memory(void)
{
	long		 pages = sysconf(_SC_PHYS_PAGES);
	long		 size = sysconf(_SC_PAGESIZE);
	uint64_t	 mem = UINT64_MAX, v;
	FILE		*f;
	char		 line[512], path[640], *p;

	if (pages > 0 && size > 0)
		mem = (uint64_t)pages * (uint64_t)size;
	if ((f = fopen("/proc/self/cgroup", "r")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (strncmp(line, "0::", 3) == 0) {
				snprintf(path, sizeof path,
				    "/sys/fs/cgroup%s/memory.max", line + 3);
			} else if ((p = strstr(line, ":memory:")) != NULL) {
				snprintf(path, sizeof path, "/sys/fs/cgroup/"
				    "memory%s/memory.limit_in_bytes", p + 8);
			} else
				continue;
			if ((v = cgroup_limit(path)) < mem)
				mem = v;
		}
		fclose(f);
	}
	if ((v = cgroup_limit("/sys/fs/cgroup/memory.max")) < mem)
		mem = v;
	if ((v = cgroup_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes")) <
	    mem)
		mem = v;
	return mem == UINT64_MAX ? 0 : mem;
}

void
config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->max_frame = PS_MAX_FRAME_DEFAULT;
	cfg->queue.acks = 1;
	cfg->queue.max_attempts = CONFIG_MAX_ATTEMPTS;
	cfg->queue.dedup_window = CONFIG_DEDUP_WINDOW;
	cfg->queue.keep_done_bytes = CONFIG_KEEP_DONE_BYTES;
	cfg->queue.max_result = CONFIG_MAX_RESULT;
	cfg->queue.max_task_stats = CONFIG_MAX_TASK_STATS;
	cfg->drain_ms = CONFIG_DRAIN_MS;
	cfg->handshake_ms = CONFIG_HANDSHAKE_MS;
	cfg->max_connections = CONFIG_MAX_CONNS;
	cfg->http_max_connections = CONFIG_HTTP_CONNS;
	cfg->http_request_ms = CONFIG_HTTP_REQUEST_MS;
	cfg->socket_mode = CONFIG_SOCKET_MODE;
	cfg->socket_group = (gid_t)-1;
	cfg->queue.max_queue = CONFIG_MAX_QUEUE;
	cfg->queue.max_queue_bytes = default_max_queue_bytes();
	cfg->queue.overflow = OVERFLOW_REJECT;
	cfg->max_queues = CONFIG_MAX_QUEUES;
	cfg->max_memory = config_memory() / 2;
	cfg->max_groups = CONFIG_MAX_GROUPS;
	cfg->max_schedules = CONFIG_MAX_SCHEDULES;
	cfg->auto_create = 1;
	cfg->upstream_max_demand = CONFIG_UPSTREAM_DEMAND;
	cfg->backend = &local_backend;
	cfg->cluster_replicas = 1;
	cfg->fsync = JOURNAL_BATCH;
	cfg->segment_size = JOURNAL_SEGMENT_SIZE;
}

void
config_free(struct config *cfg)
{
	access_free(&cfg->allow);
	free(cfg->queue_names);
	cfg->queue_names = NULL;
}

enum {
	OPT_DRAIN_TIMEOUT = 256, OPT_HANDSHAKE_TIMEOUT, OPT_MAX_CONNS,
	OPT_SOCKET_MODE, OPT_SOCKET_GROUP, OPT_ALLOW_UID, OPT_ALLOW_GID,
	OPT_UPSTREAM, OPT_UPSTREAM_MAX_DEMAND, OPT_MAP, OPT_MAP0,
	OPT_CLUSTER, OPT_CLUSTER_REPLICAS,
	OPT_DATA_DIR, OPT_FSYNC, OPT_SEGMENT_SIZE, OPT_REPAIR,
	OPT_LOG_FORMAT, OPT_LOG_FILE, OPT_METRICS, OPT_METRICS_CONNS,
	OPT_MAX_QUEUES, OPT_MAX_MEMORY, OPT_NO_AUTO_CREATE, OPT_UPSTREAM_QUEUE,
	OPT_LOCAL_QUEUE, OPT_MAX_GROUPS, OPT_HTTP, OPT_HTTP_CONNS,
	OPT_HTTP_TOKEN, OPT_HTTP_TIMEOUT, OPT_MAX_SCHEDULES,
	OPT_SETTING	/* + the setting's index: settings_flag() */
};

/* The flags that are not queue settings; those are settings.c's. */
static const struct option daemon_opts[] = {
	{ "socket",	required_argument,	NULL, 's' },
	{ "max-frame",	required_argument,	NULL, 'm' },
	{ "log-level",	required_argument,	NULL, 'l' },
	{ "log-format",	required_argument,	NULL, OPT_LOG_FORMAT },
	{ "log-file",	required_argument,	NULL, OPT_LOG_FILE },
	{ "metrics",	required_argument,	NULL, OPT_METRICS },
	{ "metrics-max-connections", required_argument, NULL,
	    OPT_METRICS_CONNS },
	{ "http",	required_argument,	NULL, OPT_HTTP },
	{ "http-max-connections", required_argument, NULL, OPT_HTTP_CONNS },
	{ "http-token-file", required_argument,	NULL, OPT_HTTP_TOKEN },
	{ "http-request-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT },
	{ "drain-timeout", required_argument,	NULL, OPT_DRAIN_TIMEOUT },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
	{ "max-connections", required_argument,	NULL, OPT_MAX_CONNS },
	{ "socket-mode", required_argument,	NULL, OPT_SOCKET_MODE },
	{ "socket-group", required_argument,	NULL, OPT_SOCKET_GROUP },
	{ "allow-uid",	required_argument,	NULL, OPT_ALLOW_UID },
	{ "allow-gid",	required_argument,	NULL, OPT_ALLOW_GID },
	{ "queue",	required_argument,	NULL, 'q' },
	{ "max-queues",	required_argument,	NULL, OPT_MAX_QUEUES },
	{ "max-schedules", required_argument,	NULL, OPT_MAX_SCHEDULES },
	{ "max-memory",	required_argument,	NULL, OPT_MAX_MEMORY },
	{ "max-groups",	required_argument,	NULL, OPT_MAX_GROUPS },
	{ "no-auto-create", no_argument,	NULL, OPT_NO_AUTO_CREATE },
	{ "upstream-queue", required_argument,	NULL, OPT_UPSTREAM_QUEUE },
	{ "local-queue", required_argument,	NULL, OPT_LOCAL_QUEUE },
	{ "upstream",	required_argument,	NULL, OPT_UPSTREAM },
	{ "cluster",	required_argument,	NULL, OPT_CLUSTER },
	{ "cluster-replicas", required_argument, NULL, OPT_CLUSTER_REPLICAS },
	{ "upstream-max-demand", required_argument, NULL,
	    OPT_UPSTREAM_MAX_DEMAND },
	{ "map",	required_argument,	NULL, OPT_MAP },
	{ "map0",	required_argument,	NULL, OPT_MAP0 },
	{ "data-dir",	required_argument,	NULL, OPT_DATA_DIR },
	{ "fsync",	required_argument,	NULL, OPT_FSYNC },
	{ "segment-size", required_argument,	NULL, OPT_SEGMENT_SIZE },
	{ "repair",	no_argument,		NULL, OPT_REPAIR },
	{ "help",	no_argument,		NULL, 'h' },
	{ "version",	no_argument,		NULL, 'V' },
};
#define NDAEMON_OPTS	(sizeof daemon_opts / sizeof daemon_opts[0])

/*
 * Every long option: the daemon's, then a flag for each queue setting in
 * settings.c's table, so that a setting added there is a flag here too.
 */
static const struct option *
config_longopts(void)
{
	static struct option	 all[NDAEMON_OPTS + SETTINGS_MAX + 1];
	const char		*name;
	size_t			 i;

	memcpy(all, daemon_opts, sizeof daemon_opts);
	for (i = 0; (name = settings_flag(i)) != NULL; i++) {
		if (i == SETTINGS_MAX)
			fatalx("%s: more than %d settings", __func__,
			    SETTINGS_MAX);
		all[NDAEMON_OPTS + i] = (struct option){ name,
		    required_argument, NULL, OPT_SETTING + (int)i };
	}
	return all;
}

/*
 * Parse argv into cfg: 0 to run, 1 to exit 0 (--help, --version), -1 to
 * exit 1 after saying what is wrong.
 */
int
config_parse(struct config *cfg, int argc, char **argv)
{
	const struct option	 *longopts = config_longopts();
	const char		**names;
	char			  err[256];
	int			  ch, journal_opts = 0;

	while ((ch = getopt_long(argc, argv, "s:m:l:q:hV", longopts,
	    NULL)) != -1) {
		if (ch >= OPT_SETTING) {
			if (queue_flag(cfg, settings_flag((size_t)(ch -
			    OPT_SETTING)), optarg) != 0)
				return -1;
			continue;
		}
		switch (ch) {
		case 's':
			cfg->socket = optarg;
			break;
		case 'm':
			if (opt_u32("--max-frame", optarg, PS_MAX_FRAME_MIN,
			    PS_MAX_FRAME_LIMIT, &cfg->max_frame) != 0)
				return -1;
			break;
		case 'l':
			if (opt_log_level(optarg) != 0)
				return -1;
			break;
		case OPT_LOG_FORMAT:
			if (opt_log_format(optarg) != 0)
				return -1;
			break;
		case OPT_LOG_FILE:
			cfg->log_file = optarg;
			break;
		case OPT_METRICS:
		case OPT_HTTP:
			cfg->http = optarg;
			cfg->http_opt = ch == OPT_HTTP ? "--http" : "--metrics";
			break;
		case OPT_METRICS_CONNS:
		case OPT_HTTP_CONNS:
			if (opt_u32(ch == OPT_HTTP_CONNS ?
			    "--http-max-connections" :
			    "--metrics-max-connections", optarg, 1, 100000,
			    &cfg->http_max_connections) != 0)
				return -1;
			break;
		case OPT_HTTP_TOKEN:
			cfg->http_token_file = optarg;
			break;
		case OPT_HTTP_TIMEOUT:
			if (opt_seconds("--http-request-timeout", optarg,
			    DAY_MS, 0, &cfg->http_request_ms) != 0)
				return -1;
			if (cfg->http_request_ms == 0) {
				log_errorx("--http-request-timeout: must be "
				    "more than 0");
				return -1;
			}
			break;
		case OPT_DRAIN_TIMEOUT:
			if (opt_seconds("--drain-timeout", optarg, DAY_MS, 0,
			    &cfg->drain_ms) != 0)
				return -1;
			break;
		case OPT_HANDSHAKE_TIMEOUT:
			if (opt_seconds("--handshake-timeout", optarg, DAY_MS,
			    0, &cfg->handshake_ms) != 0)
				return -1;
			if (cfg->handshake_ms == 0) {
				log_errorx("--handshake-timeout: must be more "
				    "than 0");
				return -1;
			}
			break;
		case OPT_MAX_CONNS:
			if (opt_u32("--max-connections", optarg, 1, 1000000,
			    &cfg->max_connections) != 0)
				return -1;
			break;
		case OPT_SOCKET_MODE:
			if (opt_mode("--socket-mode", optarg, &cfg->socket_mode) != 0)
				return -1;
			break;
		case OPT_SOCKET_GROUP:
			if (access_group("--socket-group", optarg, &cfg->socket_group) != 0)
				return -1;
			break;
		case OPT_ALLOW_UID:
			if (access_add_uids(&cfg->allow, optarg) != 0)
				return -1;
			break;
		case OPT_ALLOW_GID:
			if (access_add_gids(&cfg->allow, optarg) != 0)
				return -1;
			break;
		case OPT_MAX_MEMORY:
			if (opt_u64("--max-memory", optarg, 0,
			    (uint64_t)1 << 50, &cfg->max_memory) != 0)
				return -1;
			cfg->max_memory_set = 1;
			break;
		case OPT_MAX_QUEUES:
			if (opt_u32("--max-queues", optarg, 1, 10000000,
			    &cfg->max_queues) != 0)
				return -1;
			break;
		case OPT_MAX_SCHEDULES:
			if (opt_u32("--max-schedules", optarg, 0, 10000000,
			    &cfg->max_schedules) != 0)
				return -1;
			break;
		case OPT_MAX_GROUPS:
			if (opt_u32("--max-groups", optarg, 1, 255,
			    &cfg->max_groups) != 0)
				return -1;
			break;
		case OPT_NO_AUTO_CREATE:
			cfg->auto_create = 0;
			break;
		case 'q':
			if (!queues_name_ok("queue", optarg, strlen(optarg),
			    err, sizeof err)) {
				log_errorx("--queue: %s", err);
				return -1;
			}
			names = reallocarray(cfg->queue_names,
			    cfg->nqueue_names + 1, sizeof *names);
			if (names == NULL) {
				log_errorx("out of memory");
				return -1;
			}
			names[cfg->nqueue_names++] = optarg;
			cfg->queue_names = names;
			break;
		case OPT_UPSTREAM_QUEUE:
		case OPT_LOCAL_QUEUE:
			if (!queues_name_ok("queue", optarg, strlen(optarg),
			    err, sizeof err)) {
				log_errorx("--%s: %s", ch == OPT_UPSTREAM_QUEUE ?
				    "upstream-queue" : "local-queue", err);
				return -1;
			}
			if (ch == OPT_UPSTREAM_QUEUE)
				cfg->upstream_queue = optarg;
			else
				cfg->local_queue = optarg;
			break;
		case OPT_UPSTREAM:
			cfg->upstream = optarg;
			break;
		case OPT_CLUSTER:
			if (strncmp(optarg, "nats://", 7) != 0 ||
			    strlen(optarg) > PS_STAT_TEXT_MAX) {
				log_errorx("--cluster: \"%s\" is not "
				    "nats://HOST:PORT[,nats://HOST:PORT...]",
				    optarg);
				return -1;
			}
			cfg->cluster = optarg;
			break;
		case OPT_CLUSTER_REPLICAS:
			if (opt_u32("--cluster-replicas", optarg, 1, 5,
			    &cfg->cluster_replicas) != 0)
				return -1;
			break;
		case OPT_UPSTREAM_MAX_DEMAND:
			if (opt_u32("--upstream-max-demand", optarg, 1,
			    PS_DEMAND_LIMIT, &cfg->upstream_max_demand) != 0)
				return -1;
			break;
		case OPT_MAP:
		case OPT_MAP0:
			if (strlen(optarg) == 0 ||
			    strlen(optarg) > PS_STAT_TEXT_MAX) {
				log_errorx("--map: give a command of 1 to %d "
				    "bytes", PS_STAT_TEXT_MAX);
				return -1;
			}
			cfg->map = optarg;
			cfg->map_nul = ch == OPT_MAP0;
			break;
		case OPT_DATA_DIR:
			if (*optarg == '\0') {
				log_errorx("--data-dir: give a directory");
				return -1;
			}
			cfg->data_dir = optarg;
			break;
		case OPT_FSYNC:
			if (parse_fsync(optarg, cfg) != 0)
				return -1;
			journal_opts = 1;
			break;
		case OPT_SEGMENT_SIZE:
			if (opt_u64("--segment-size", optarg,
			    JOURNAL_SEGMENT_MIN, UINT64_C(1) << 40,
			    &cfg->segment_size) != 0)
				return -1;
			journal_opts = 1;
			break;
		case OPT_REPAIR:
			cfg->repair = 1;
			journal_opts = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("producerd %s (protocol %d to %d)\n",
			    PUSHSTAGE_VERSION, PS_PROTO_MIN_VERSION,
			    PS_PROTO_MAX_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		log_errorx("unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (cfg->map != NULL && cfg->upstream == NULL) {
		log_errorx("--map transforms events from --upstream; give "
		    "--upstream PATH too");
		return -1;
	}
	if (cfg->upstream != NULL && strlen(cfg->upstream) > PS_STAT_TEXT_MAX) {
		log_errorx("--upstream: path too long: %s", cfg->upstream);
		return -1;
	}
	if (cfg->http_token_file != NULL && cfg->http == NULL) {
		log_errorx("--http-token-file is for the dashboard's API; give "
		    "--http ADDRESS:PORT too");
		return -1;
	}
	if (journal_opts && cfg->data_dir == NULL) {
		log_errorx("--fsync, --segment-size and --repair are for the "
		    "journal; give --data-dir DIR too");
		return -1;
	}
	if (cfg->cluster != NULL && (cfg->backend = cluster_backend()) ==
	    NULL) {
		log_errorx("--cluster: this producerd was built without "
		    "libnats (apt-get install libnats-dev, then build again)");
		return CONFIG_UNAVAILABLE;
	}
	if (cfg->backend->check(cfg, err, sizeof err) != 0) {
		log_errorx("%s", err);
		return -1;
	}
	if (cfg->data_dir != NULL && cfg->upstream != NULL) {
		log_errorx("--data-dir with --upstream: a stage's events are "
		    "kept by the daemon upstream until acked; journal that "
		    "one");
		return -1;
	}
	if (settings_check(&cfg->queue, err, sizeof err) != 0) {
		log_errorx("--%s", err);
		return -1;
	}
	if ((cfg->upstream_queue != NULL || cfg->local_queue != NULL) &&
	    cfg->upstream == NULL) {
		log_errorx("--upstream-queue and --local-queue are for a stage; "
		    "give --upstream PATH too");
		return -1;
	}
	if (!cfg->auto_create && cfg->nqueue_names == 0) {
		log_errorx("--no-auto-create: name the queues that exist with "
		    "--queue NAME (repeatable)");
		return -1;
	}
	if (cfg->nqueue_names > cfg->max_queues) {
		log_errorx("--queue: %zu queues named, over --max-queues %u",
		    cfg->nqueue_names, cfg->max_queues);
		return -1;
	}
	return 0;
}
