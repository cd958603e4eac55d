/*
 * livemerge QMP commands: livemerge-commit
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Reads and checks the arguments (QEMU's block-commit names where they
 * exist) and starts the commit job.  Every refusal names the argument.
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "qapi/error.h"

#include "commit-job.h"
#include "qmp-args.h"
#include "qmp-commands.h"

typedef struct CommitArgs {
    LivemergeJobArgs job;
    LivemergeCopyArgs copy;
    bool has_top_node;
    char *top_node;
    bool has_base_node;
    char *base_node;
    bool has_backing_file;
    char *backing_file;
    bool has_on_error;
    BlockdevOnError on_error;
} CommitArgs;

static const LivemergeArgSpec commit_args[] = {
    LM_JOB_ARGS(CommitArgs, job),
    LM_ARG_OPTIONAL(LM_ARG_STR, CommitArgs, , top_node, "top-node"),
    LM_ARG_OPTIONAL(LM_ARG_STR, CommitArgs, , base_node, "base-node"),
    LM_ARG_OPTIONAL(LM_ARG_STR, CommitArgs, , backing_file, "backing-file"),
    LM_COPY_ARGS(CommitArgs, copy),
    LM_ARG_OPTIONAL(LM_ARG_ON_ERROR, CommitArgs, , on_error, "on-error"),
};

static bool GRAPH_RDLOCK resolve_top(const CommitArgs *a, CommitJobOptions *o,
                        Error **errp)
{
    BlockDriverState *active = o->common.active;

    o->top = active;
    if (!a->has_top_node) {
        return true;
    }
    o->top = livemerge_qmp_find_node("top-node", a->top_node, errp);
    if (!o->top) {
        return false;
    }
    o->top = bdrv_skip_filters(o->top);
    if (o->top != active && !livemerge_chain_below_contains(active, o->top)) {
        error_setg(errp, "Parameter 'top-node': '%s' is not in the "
                   "backing chain of device '%s'", a->top_node,
                   a->job.device);
        return false;
    }
    return true;
}

static bool GRAPH_RDLOCK resolve_base(const CommitArgs *a, CommitJobOptions *o,
                         Error **errp)
{
    if (!a->has_base_node) {
        o->base = livemerge_chain_bottom(o->top);
        if (o->base == o->top) {
            error_setg(errp, "Parameter '%s': '%s' has no backing image, so "
                       "there is nothing to commit into",
                       a->has_top_node ? "top-node" : "device",
                       a->has_top_node ? a->top_node : a->job.device);
            return false;
        }
        return true;
    }
    o->base = livemerge_qmp_find_base_node(a->base_node, errp);
    if (!o->base) {
        return false;
    }
    o->base = bdrv_skip_filters(o->base);
    if (o->base == o->top) {
        error_setg(errp, "Parameter 'base-node': '%s' is the same node "
                   "as the top", a->base_node);
        return false;
    }
    if (!livemerge_chain_below_contains(o->top, o->base)) {
        error_setg(errp, "Parameter 'base-node': '%s' is not below the "
                   "top '%s' in the backing chain of device '%s'",
                   a->base_node, bdrv_get_node_name(o->top), a->job.device);
        return false;
    }
    return true;
}

static bool GRAPH_RDLOCK check_backing_file(const CommitArgs *a, CommitJobOptions *o,
                               Error **errp)
{
    if (!a->has_backing_file) {
        return true;
    }
    if (o->top == o->common.active) {
        error_setg(errp, "Parameter 'backing-file': only for committing an "
                   "intermediate layer, but '%s' is the active layer",
                   bdrv_get_node_name(o->top));
        return false;
    }
    o->backing_file = a->backing_file;
    return livemerge_qmp_check_backing_file(a->backing_file,
                                            livemerge_overlay_of(o->top),
                                            o->base, errp);
}

static void qmp_livemerge_commit(const CommitArgs *a, Error **errp)
{
    CommitJobOptions o = { .backing_file = NULL };
    bool ok;

    bdrv_graph_rdlock_main_loop();
    ok = livemerge_qmp_job_options(&a->job, &o.common, errp) &&
         livemerge_qmp_copy_options(&a->copy, &o.common, errp);
    livemerge_qmp_on_error(a->has_on_error, a->on_error, &o.common);
    ok = ok && resolve_top(a, &o, errp) && resolve_base(a, &o, errp) &&
         check_backing_file(a, &o, errp);
    bdrv_graph_rdunlock_main_loop();
    if (ok) {
        livemerge_commit_start(&o, errp);
    }
}

void qmp_marshal_livemerge_commit(QDict *args, QObject **ret, Error **errp)
{
    CommitArgs a = {};

    if (livemerge_qmp_read_args(args, commit_args, ARRAY_SIZE(commit_args),
                                &a, errp)) {
        qmp_livemerge_commit(&a, errp);
        livemerge_qmp_free_args(commit_args, ARRAY_SIZE(commit_args), &a);
    }
}
