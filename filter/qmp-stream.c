/*
 * livemerge QMP commands: livemerge-stream
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Reads and checks the arguments (QEMU's block-stream names) and starts
 * the stream job.  Every refusal names the argument.
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "qapi/error.h"

#include "qmp-args.h"
#include "qmp-commands.h"
#include "stream-job.h"

typedef struct StreamArgs {
    LivemergeJobArgs job;
    bool has_base_node;
    char *base_node;
    bool has_backing_file;
    char *backing_file;
    bool has_on_error;
    BlockdevOnError on_error;
} StreamArgs;

static const LivemergeArgSpec stream_args[] = {
    LM_JOB_ARGS(StreamArgs, job),
    LM_ARG_OPTIONAL(LM_ARG_STR, StreamArgs, , base_node, "base-node"),
    LM_ARG_OPTIONAL(LM_ARG_STR, StreamArgs, , backing_file, "backing-file"),
    LM_ARG_OPTIONAL(LM_ARG_ON_ERROR, StreamArgs, , on_error, "on-error"),
};

static bool GRAPH_RDLOCK resolve_base(const StreamArgs *a, StreamJobOptions *o,
                         Error **errp)
{
    BlockDriverState *active = o->common.active;

    if (!livemerge_chain_next(active)) {
        error_setg(errp, "Parameter 'device': '%s' has no backing image, so "
                   "there is nothing to pull", a->job.device);
        return false;
    }
    if (!a->has_base_node) {
        return true;
    }
    o->base = livemerge_qmp_find_base_node(a->base_node, errp);
    if (!o->base) {
        return false;
    }
    if (!livemerge_chain_below_contains(active, o->base)) {
        error_setg(errp, "Parameter 'base-node': '%s' is not below '%s' in "
                   "the backing chain of device '%s'", a->base_node,
                   bdrv_get_node_name(active), a->job.device);
        return false;
    }
    return true;
}

static bool GRAPH_RDLOCK check_backing_file(const StreamArgs *a, StreamJobOptions *o,
                               Error **errp)
{
    if (!a->has_backing_file) {
        return true;
    }
    if (!o->base) {
        error_setg(errp, "Parameter 'backing-file': '%s' needs a base-node; "
                   "without one '%s' ends with no backing file",
                   a->backing_file, bdrv_get_node_name(o->common.active));
        return false;
    }
    o->backing_file = a->backing_file;
    return livemerge_qmp_check_backing_file(a->backing_file,
                                            o->common.active, o->base, errp);
}

static void qmp_livemerge_stream(const StreamArgs *a, Error **errp)
{
    StreamJobOptions o = { .base = NULL };
    bool ok;

    bdrv_graph_rdlock_main_loop();
    ok = livemerge_qmp_job_options(&a->job, &o.common, errp);
    livemerge_qmp_on_error(a->has_on_error, a->on_error, &o.common);
    ok = ok && resolve_base(a, &o, errp) && check_backing_file(a, &o, errp);
    bdrv_graph_rdunlock_main_loop();
    if (ok) {
        livemerge_stream_start(&o, errp);
    }
}

void qmp_marshal_livemerge_stream(QDict *args, QObject **ret, Error **errp)
{
    StreamArgs a = {};

    if (livemerge_qmp_read_args(args, stream_args, ARRAY_SIZE(stream_args),
                                &a, errp)) {
        qmp_livemerge_stream(&a, errp);
        livemerge_qmp_free_args(stream_args, ARRAY_SIZE(stream_args), &a);
    }
}
