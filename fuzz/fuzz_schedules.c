/*
 * fuzz_schedules.c: libFuzzer over the reading back of producerd's
 * DIR/schedules (schedules_load): the input is the file's bytes, its
 * records applied to a daemon's schedules as at a start (definitions,
 * removals, progress), then the ticks due now fired and the schedules
 * listed, with the real parser, zones and tick rule behind them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "producerd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_base	*base;
	struct server		 srv;
	struct config		 cfg;
	struct ps_schedule	 list;
	char			 why[256];
	int			 code;

	log_init("fuzz", PS_LOG_ERROR);
	if ((base = event_base_new()) == NULL)
		abort();
	config_init(&cfg);
	cfg.max_queues = 3;
	server_configure(&srv, &cfg);
	if (server_init(&srv, base) != 0 || server_queues(&srv, NULL, 0) != 0)
		abort();
	(void)schedules_load(&srv, data, size, "fuzz");
	if (schedules_open(&srv) != 0)
		abort();
	memset(&list, 0, sizeof list);
	list.op = PS_SCHED_LIST;
	if (schedules_request(&srv, &list, PS_MAX_FRAME_MIN, &srv.scratch,
	    &code, why, sizeof why) != 0 && code != PS_E_NOMEM)
		abort();
	server_free(&srv);
	config_free(&cfg);
	event_base_free(base);
	return 0;
}
