/*
 * livemerge QMP commands: livemerge-mirror
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Reads and checks the arguments (QEMU's blockdev-mirror names) and
 * starts the mirror job.  Every refusal names the argument.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/error.h"

#include "filter-driver.h"
#include "mirror-job.h"
#include "qmp-args.h"
#include "qmp-commands.h"

typedef struct MirrorArgs {
    LivemergeJobArgs job;
    LivemergeCopyArgs copy;
    char *target;
    char *sync;
    bool has_on_source_error;
    BlockdevOnError on_source_error;
    bool has_on_target_error;
    BlockdevOnError on_target_error;
} MirrorArgs;

static const LivemergeArgSpec mirror_args[] = {
    LM_JOB_ARGS(MirrorArgs, job),
    LM_ARG_REQUIRED(LM_ARG_STR, MirrorArgs, , target, "target"),
    LM_ARG_REQUIRED(LM_ARG_STR, MirrorArgs, , sync, "sync"),
    LM_COPY_ARGS(MirrorArgs, copy),
    LM_ARG_OPTIONAL(LM_ARG_ON_ERROR, MirrorArgs, , on_source_error,
                    "on-source-error"),
    LM_ARG_OPTIONAL(LM_ARG_ON_ERROR, MirrorArgs, , on_target_error,
                    "on-target-error"),
};

/* A target nobody else uses, of the source's size, outside its chain */
static bool check_target(const MirrorArgs *a, MirrorJobOptions *o,
                         Error **errp)
{
    BlockDriverState *active = o->common.active;
    BlockDriverState *t = o->target;
    int64_t source_len = bdrv_getlength(active);
    int64_t target_len = bdrv_getlength(t);

    if (livemerge_is_filter(t) || t == active ||
        livemerge_chain_below_contains(active, t)) {
        error_setg(errp, "Parameter 'target': '%s' is the source or in its "
                   "backing chain", a->target);
        return false;
    }
    if (!QLIST_EMPTY(&t->parents)) {
        BdrvChild *user = QLIST_FIRST(&t->parents);
        g_autofree char *desc = user->klass->get_parent_desc ?
                                user->klass->get_parent_desc(user) : NULL;

        error_setg(errp, "Parameter 'target': '%s' is in use (by %s)",
                   a->target, desc ?: "another node");
        return false;
    }
    if (bdrv_is_read_only(t)) {
        error_setg(errp, "Parameter 'target': '%s' is read-only", a->target);
        return false;
    }
    if (source_len >= 0 && target_len >= 0 && source_len != target_len) {
        error_setg(errp, "Parameter 'target': '%s' is %" PRId64 " bytes, the "
                   "source '%s' %" PRId64 " (they must be the same size)",
                   a->target, target_len, bdrv_get_node_name(active),
                   source_len);
        return false;
    }
    return true;
}

/* "top": copy what is above the source's backing, onto which the target
 * will back; "full": everything */
static bool resolve_sync(const MirrorArgs *a, MirrorJobOptions *o,
                         Error **errp)
{
    BlockDriverState *t = o->target;
    BlockDriverState *backing;

    if (g_str_equal(a->sync, "full")) {
        return true;
    }
    if (!g_str_equal(a->sync, "top")) {
        error_setg(errp, "Parameter 'sync' does not accept value '%s' "
                   "(full or top)", a->sync);
        return false;
    }
    o->base = livemerge_chain_next(o->common.active);
    if (!o->base) {
        return true;            /* nothing below: the same as full */
    }
    if (!t->drv->supports_backing) {
        error_setg(errp, "Parameter 'sync': 'top' needs a target that can "
                   "back onto '%s', and '%s' is %s", bdrv_get_node_name(o->base),
                   a->target, t->drv->format_name);
        return false;
    }
    backing = t->backing ? bdrv_skip_filters(t->backing->bs) : NULL;
    if (backing && backing != o->base) {
        error_setg(errp, "Parameter 'target': '%s' backs onto '%s', not onto "
                   "the source's backing '%s' (needed for sync 'top')",
                   a->target, bdrv_get_node_name(backing),
                   bdrv_get_node_name(o->base));
        return false;
    }
    return true;
}

static void qmp_livemerge_mirror(const MirrorArgs *a, Error **errp)
{
    MirrorJobOptions o = { .base = NULL };

    if (!livemerge_qmp_job_options(&a->job, &o.common, errp) ||
        !livemerge_qmp_copy_options(&a->copy, &o.common, errp)) {
        return;
    }
    if (a->has_on_source_error) {
        o.common.on_source_error = a->on_source_error;
    }
    if (a->has_on_target_error) {
        o.common.on_target_error = a->on_target_error;
    }
    o.target = livemerge_qmp_find_node("target", a->target, errp);
    if (!o.target || !check_target(a, &o, errp) ||
        !resolve_sync(a, &o, errp)) {
        return;
    }
    livemerge_mirror_start(&o, errp);
}

void qmp_marshal_livemerge_mirror(QDict *args, QObject **ret, Error **errp)
{
    MirrorArgs a = {};

    if (livemerge_qmp_read_args(args, mirror_args, ARRAY_SIZE(mirror_args),
                                &a, errp)) {
        qmp_livemerge_mirror(&a, errp);
        livemerge_qmp_free_args(mirror_args, ARRAY_SIZE(mirror_args), &a);
    }
}
