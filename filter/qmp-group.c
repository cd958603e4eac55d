/*
 * livemerge QMP commands: livemerge-complete and livemerge-cancel
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Several READY jobs of one daemon (a VM's disks) end as one step: all
 * pivot or none does (livemerge-complete), or their destinations become
 * one point-in-time copy consistent across the disks (livemerge-cancel).
 * QEMU has neither.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-common.h"

#include "copy-job.h"
#include "qmp-args.h"
#include "qmp-commands.h"

typedef struct GroupArgs {
    strList *job_ids;
    bool has_x_fail_after;
    int64_t x_fail_after;
} GroupArgs;

static const LivemergeArgSpec complete_args[] = {
    LM_ARG_REQUIRED(LM_ARG_STR_LIST, GroupArgs, , job_ids, "job-ids"),
    LM_ARG_OPTIONAL(LM_ARG_INT, GroupArgs, , x_fail_after, "x-fail-after"),
};

static const LivemergeArgSpec cancel_args[] = {
    LM_ARG_REQUIRED(LM_ARG_STR_LIST, GroupArgs, , job_ids, "job-ids"),
};

/* The jobs @a names, all of them livemerge jobs */
static GPtrArray *find_jobs(const GroupArgs *a, Error **errp)
{
    g_autoptr(GPtrArray) jobs = g_ptr_array_new();

    for (strList *l = a->job_ids; l; l = l->next) {
        CopyJob *s = copy_job_find("job-ids", l->value, errp);

        if (!s) {
            return NULL;
        }
        g_ptr_array_add(jobs, s);
    }
    if (jobs->len == 0) {
        error_setg(errp, "Parameter 'job-ids': must name at least one job");
        return NULL;
    }
    return g_steal_pointer(&jobs);
}

static void group_end(QDict *args, const LivemergeArgSpec *spec, int n,
                      bool pivot, Error **errp)
{
    g_autoptr(GPtrArray) jobs = NULL;
    GroupArgs a = {};

    if (!livemerge_qmp_read_args(args, spec, n, &a, errp)) {
        return;
    }
    jobs = find_jobs(&a, errp);
    if (jobs) {
        copy_job_group_end((CopyJob **)jobs->pdata, jobs->len, pivot,
                           a.has_x_fail_after ? a.x_fail_after : -1, errp);
    }
    livemerge_qmp_free_args(spec, n, &a);
}

void qmp_marshal_livemerge_complete(QDict *args, QObject **ret, Error **errp)
{
    group_end(args, complete_args, ARRAY_SIZE(complete_args), true, errp);
}

void qmp_marshal_livemerge_cancel(QDict *args, QObject **ret, Error **errp)
{
    group_end(args, cancel_args, ARRAY_SIZE(cancel_args), false, errp);
}
