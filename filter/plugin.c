/*
 * livemerge core: what happens when the core is loaded into the daemon
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * load-guard.c has already confirmed the daemon's build.  Here the core
 * checks that the headers it was compiled against describe the running
 * daemon's QAPI types, and registers its QMP commands.  The block driver
 * registers itself through block_init() (filter-driver.c).
 */

#include "qemu/osdep.h"
#include "qapi/qapi-types-block-core.h"
#include "qapi/qapi-types-block-export.h"
#include "qapi/qapi-types-job.h"
#include "qemu-compat.h"
#include "monitor/monitor-internal.h"

#include "qmp-commands.h"

static void livemerge_core_init(void) __attribute__((constructor));

/*
 * QAPI enums are shaped by configure options (CONFIG_BLKIO,
 * CONFIG_REPLICATION, CONFIG_FUSE, ...).  The daemon exports its lookup
 * tables; if they differ from the plugin's headers, so may struct layouts.
 */
static bool qapi_enum_matches(const QEnumLookup *daemon, int plugin_max,
                              int probe, const char *probe_name)
{
    return daemon->size == plugin_max &&
           g_str_equal(daemon->array[probe], probe_name);
}

static void check_qapi_canaries(void)
{
    struct {
        const char *name;
        bool ok;
    } canaries[] = {
        { "BlockdevDriver", qapi_enum_matches(&BlockdevDriver_lookup,
              BLOCKDEV_DRIVER__MAX, BLOCKDEV_DRIVER_QCOW2, "qcow2") },
        { "BlockExportType", qapi_enum_matches(&BlockExportType_lookup,
              BLOCK_EXPORT_TYPE__MAX, BLOCK_EXPORT_TYPE_NBD, "nbd") },
        { "BlockdevAioOptions", qapi_enum_matches(&BlockdevAioOptions_lookup,
              BLOCKDEV_AIO_OPTIONS__MAX, BLOCKDEV_AIO_OPTIONS_NATIVE,
              "native") },
        { "JobType", qapi_enum_matches(&JobType_lookup, JOB_TYPE__MAX,
              JOB_TYPE_COMMIT, "commit") },
        { "JobStatus", qapi_enum_matches(&JobStatus_lookup, JOB_STATUS__MAX,
              JOB_STATUS_READY, "ready") },
        { "MirrorCopyMode", qapi_enum_matches(&MirrorCopyMode_lookup,
              MIRROR_COPY_MODE__MAX, MIRROR_COPY_MODE_WRITE_BLOCKING,
              "write-blocking") },
    };

    for (size_t i = 0; i < ARRAY_SIZE(canaries); i++) {
        if (!canaries[i].ok) {
            fprintf(stderr, "livemerge: refusing to run: the QAPI enum %s of "
                    "this daemon differs from the plugin's headers (QEMU "
                    "configured differently); rebuild with scripts/bootstrap\n",
                    canaries[i].name);
            exit(EXIT_FAILURE);
        }
    }
}

static gboolean register_commands_when_ready(gpointer opaque)
{
    /* qmp_init_marshal() resets the table: wait until it has run */
    if (!qmp_find_command(&qmp_commands, "query-version")) {
        return G_SOURCE_CONTINUE;
    }
    livemerge_qmp_register_commands();
    return G_SOURCE_REMOVE;
}

static void livemerge_core_init(void)
{
    check_qapi_canaries();
    /*
     * The first main loop iteration runs high-priority idle sources before
     * the monitor dispatches anything, so no client can see the daemon
     * without the commands.
     */
    g_idle_add_full(G_PRIORITY_HIGH, register_commands_when_ready, NULL, NULL);
}
