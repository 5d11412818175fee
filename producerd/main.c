/* main.c: producerd's start-up, signals and shutdown (options: config.c). */
#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "net.h"
#include "producerd.h"
#include "sockpath.h"

#define LISTEN_BACKLOG		1024
/* Descriptors kept for the listener, logs and the like. */
#define SPARE_FDS		16u

/* libevent's own messages, in the daemon's log and its format. */
static void
libevent_log(int severity, const char *msg)
{
	static struct log_throttle	 warned;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		/* A warning can come once per event: a line a second. */
		if (!log_throttle(&warned, time(NULL)))
			break;
		log_warnx("libevent: %s%s", msg, warned.held ? " (and more "
		    "not logged)" : "");
		warned.held = 0;
		break;
	}
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
	log_reopen();
	http_reload(arg);
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
	struct config		 cfg;
	struct server		 srv;
	struct event_base	*base;
	struct event		*sigterm, *sigint, *sighup;
	struct stat		 made, *own = NULL;
	char			 pathbuf[4096], actpath[4096], err[512];
	const char		*path;
	int			 fd, r;

	log_init("producerd", PS_LOG_INFO);
	log_set_format(PS_LOG_TEXT);
	config_init(&cfg);
	if ((r = config_parse(&cfg, argc, argv)) != 0) {
		config_free(&cfg);
		return r > 0 ? 0 : r == CONFIG_UNAVAILABLE ? 78 : 1;
	}
	if ((path = cfg.socket) == NULL)
		path = sockpath_default(pathbuf, sizeof pathbuf);
	if (cfg.log_file != NULL && log_open(cfg.log_file) == -1)
		fatal("--log-file: cannot open %s", cfg.log_file);

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	raise_fd_limit(cfg.max_connections);
	event_set_log_callback(libevent_log);
	cfg.backend->prepare();
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	server_configure(&srv, &cfg);
	if (server_init(&srv, base) != 0)
		fatalx("cannot set up timers");
	r = server_queues(&srv, cfg.queue_names, cfg.nqueue_names);
	config_free(&cfg);		/* what the server keeps, it took */
	if (r != 0 || (srv.data_dir != NULL && server_journal_open(&srv) !=
	    0) || schedules_open(&srv) != 0) {
		/* Said why; free all, so a leak check has nothing to say. */
		server_free(&srv);
		event_base_free(base);
		return 1;
	}
	/* systemd's socket, if it passed one; else a socket of our own. */
	if ((fd = systemd_listen_fd(actpath, sizeof actpath, err,
	    sizeof err)) == -2)
		fatalx("%s", err);
	if (fd >= 0) {
		path = actpath;
		if (cfg.socket_mode != CONFIG_SOCKET_MODE ||
		    cfg.socket_group != (gid_t)-1)
			log_warnx("--socket-mode and --socket-group do not "
			    "apply to a socket from systemd: set SocketMode= "
			    "and SocketGroup= in the .socket unit");
	} else {
		if (sockpath_private(path)) {
			if (sockpath_dir_check(path, 1, err, sizeof err) != 0)
				fatalx("%s", err);
		} else if (sockpath_dir_open(path, err, sizeof err))
			log_warnx("%s", err);
		if ((fd = net_listen_unix(path, LISTEN_BACKLOG,
		    (mode_t)cfg.socket_mode, cfg.socket_group, err, sizeof err)) == -1)
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
	if (cfg.http != NULL && http_start(&srv, &cfg, err, sizeof err) !=
	    0) {
		unlink_socket(path, own);
		fatalx("%s", err);
	}
	sigterm = evsignal_new(base, SIGTERM, on_signal, &srv);
	sigint = evsignal_new(base, SIGINT, on_signal, &srv);
	sighup = evsignal_new(base, SIGHUP, on_sighup, &srv);
	if (sigterm == NULL || sigint == NULL || sighup == NULL ||
	    evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint,
	    NULL) != 0 || evsignal_add(sighup, NULL) != 0) {
		unlink_socket(path, own);
		fatalx("cannot set up signal handling");
	}
	log_info("listening on %s%s (max frame %u bytes, %s)", path,
	    own == NULL ? " (from systemd)" : "", srv.max_frame,
	    srv.qdefault.acks ? "at-least-once" : "at-most-once");
	log_info("each queue's buffer: at most %llu events%s and %llu payload "
	    "bytes%s; %u queue%s now, at most %u%s",
	    (unsigned long long)cfg.queue.max_queue, cfg.queue.max_queue ? "" :
	    " (no limit)", (unsigned long long)cfg.queue.max_queue_bytes,
	    cfg.queue.max_queue_bytes == 0 ? " (no limit)" :
	    (cfg.queue_set & QS_MAX_QUEUE_BYTES) ? "" : " (a quarter of "
	    "physical memory; --max-queue-bytes)", srv.nqueues,
	    srv.nqueues == 1 ? "" : "s", srv.max_queues, srv.auto_create ? ", made on first use" :
	    " (--no-auto-create)");
	log_info("every queue together: at most %llu payload bytes%s",
	    (unsigned long long)srv.store.max, srv.store.max == 0 ?
	    " (no limit)" : cfg.max_memory_set ? " (--max-memory)" : " (half "
	    "the smaller of physical memory and the cgroup's limit; "
	    "--max-memory)");
	systemd_notify("READY=1");

	if (event_base_dispatch(base) == -1)
		log_warnx("event loop failed");

	listener_stop(&srv);
	http_stop(&srv);
	unlink_socket(path, own);
	server_report(&srv);
	server_free(&srv);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_base_free(base);
	return 0;
}
