/*
 * livemerge QMP commands: livemerge-set-guest-impact
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What a running livemerge job lets the user change besides QEMU's own
 * job commands (speed, pause, ...): the share of the disk's time its copy
 * may take while the guest does I/O.  QEMU 7.2 has no block-job-change.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"

#include "copy-job.h"
#include "qmp-args.h"
#include "qmp-commands.h"

typedef struct GuestImpactArgs {
    char *job_id;
    int64_t guest_impact;
} GuestImpactArgs;

static const LivemergeArgSpec guest_impact_args[] = {
    LM_ARG_REQUIRED(LM_ARG_STR, GuestImpactArgs, , job_id, "job-id"),
    LM_ARG_REQUIRED(LM_ARG_INT, GuestImpactArgs, , guest_impact,
                    "guest-impact"),
};

void qmp_marshal_livemerge_set_guest_impact(QDict *args, QObject **ret,
                                            Error **errp)
{
    GuestImpactArgs a = {};
    int n = ARRAY_SIZE(guest_impact_args);
    CopyJob *s;

    if (!livemerge_qmp_read_args(args, guest_impact_args, n, &a, errp)) {
        return;
    }
    s = copy_job_find("job-id", a.job_id, errp);
    if (s && livemerge_qmp_check_guest_impact(a.guest_impact, errp)) {
        copy_job_set_guest_impact(s, a.guest_impact, errp);
    }
    livemerge_qmp_free_args(guest_impact_args, n, &a);
}
