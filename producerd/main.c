/* main.c: producerd's options, start-up, signals and shutdown. */
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

#define LISTEN_BACKLOG	128

static void
usage(FILE *f)
{
	fprintf(f,
"usage: producerd [--socket PATH] [--max-frame BYTES] [--log-level LEVEL]\n"
"\n"
"The pushstage daemon: buffers events that clients enqueue and pushes them\n"
"to consumers as soon as they ask for them (docs/protocol.md).\n"
"\n"
"  -s, --socket PATH      Unix socket to listen on (default: $PUSHSTAGE_SOCKET,\n"
"                         else $XDG_RUNTIME_DIR/pushstage.sock,\n"
"                         else /tmp/pushstage-$UID.sock)\n"
"  -m, --max-frame BYTES  largest frame body accepted (default %u,\n"
"                         from %u to %u); bounds one event and one\n"
"                         ENQUEUE batch\n"
"  -l, --log-level LEVEL  error, warning, info or debug (default info)\n"
"  -h, --help             this help\n"
"  -V, --version          the version\n"
"\n"
"Stops on SIGTERM or SIGINT with exit status 0 and removes its socket.\n"
"Exit status 1: bad options, or the socket could not be set up (for\n"
"example another producerd already listens on it).\n",
	    PS_MAX_FRAME_DEFAULT, PS_MAX_FRAME_MIN, PS_MAX_FRAME_LIMIT);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;

	(void)what;
	log_info("%s: shutting down", strsignal((int)sig));
	event_base_loopbreak(srv->base);
}

/* Remove the socket file if it is still the one this daemon made. */
static void
unlink_socket(const char *path, const struct stat *made)
{
	struct stat	 st;

	if (lstat(path, &st) == 0 && st.st_dev == made->st_dev &&
	    st.st_ino == made->st_ino && unlink(path) == -1)
		log_warn("unlink %s", path);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",	required_argument,	NULL, 's' },
		{ "max-frame",	required_argument,	NULL, 'm' },
		{ "log-level",	required_argument,	NULL, 'l' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct server	 srv;
	struct event	*sigterm, *sigint;
	struct conn	*c;
	struct stat	 made;
	char		 pathbuf[4096], err[512];
	const char	*path = NULL;
	int		 ch, fd;

	log_init("producerd", PS_LOG_INFO);
	memset(&srv, 0, sizeof srv);
	srv.max_frame = PS_MAX_FRAME_DEFAULT;
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
			if (opt_log_level("producerd", optarg) != 0)
				return 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("producerd %s (protocol %d)\n", PUSHSTAGE_VERSION,
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
	if (path == NULL)
		path = sockpath_default(pathbuf, sizeof pathbuf);

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((fd = net_listen_unix(path, LISTEN_BACKLOG, err, sizeof err)) == -1)
		fatalx("%s", err);
	if (fstat(fd, &made) == -1 || lstat(path, &made) == -1)
		fatal("stat %s", path);
	srv.socket_path = path;
	srv.started = time(NULL);
	TAILQ_INIT(&srv.conns);
	dispatch_init(&srv.dispatch, conn_emit, &srv);
	if (listener_start(&srv, fd) != 0) {
		unlink_socket(path, &made);
		fatalx("cannot listen on %s", path);
	}
	sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm,
	    NULL) != 0 || evsignal_add(sigint, NULL) != 0) {
		unlink_socket(path, &made);
		fatalx("cannot set up signal handling");
	}
	log_info("listening on %s (max frame %u bytes)", path, srv.max_frame);

	if (event_base_dispatch(srv.base) == -1)
		log_warnx("event loop failed");

	listener_stop(&srv);
	unlink_socket(path, &made);
	while ((c = TAILQ_FIRST(&srv.conns)) != NULL)
		conn_close(c);
	if (srv.dispatch.queue.count != 0)
		log_warnx("%zu buffered events discarded at exit",
		    srv.dispatch.queue.count);
	dispatch_free(&srv.dispatch);
	ps_buf_free(&srv.scratch);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(srv.base);
	return 0;
}
