/*
 * livemerge QMP commands: the table of runtime commands
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/qmp/dispatch.h"
#include "monitor/monitor-internal.h"

#include "qmp-commands.h"

static const struct {
    const char *name;
    QmpCommandFunc *fn;
} livemerge_commands[] = {
    { "livemerge-insert-filter", qmp_marshal_livemerge_insert_filter },
    { "livemerge-remove-filter", qmp_marshal_livemerge_remove_filter },
    { "livemerge-query-filter", qmp_marshal_livemerge_query_filter },
    { "livemerge-commit", qmp_marshal_livemerge_commit },
    { "livemerge-stream", qmp_marshal_livemerge_stream },
    { "livemerge-mirror", qmp_marshal_livemerge_mirror },
    { "livemerge-complete", qmp_marshal_livemerge_complete },
    { "livemerge-cancel", qmp_marshal_livemerge_cancel },
    { "livemerge-set-guest-impact", qmp_marshal_livemerge_set_guest_impact },
};

void livemerge_qmp_register_commands(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(livemerge_commands); i++) {
        /* No QCO_COROUTINE: graph changes run in the main loop proper */
        qmp_register_command(&qmp_commands, livemerge_commands[i].name,
                             livemerge_commands[i].fn, 0, 0);
    }
}
