/*
 * livemerge commit job: intermediate and active commit on the job core
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The job poses as QEMU's "commit" job type.  Its source view is what the
 * guest reads from @top down to @base, its destination the base.  An
 * intermediate commit ends by itself: the image above @top backs onto the
 * base.  An active commit goes READY, then pivots every user of the
 * active layer onto the base, or (cancelled) keeps the active layer.
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "qapi/error.h"
#include "qemu/error-report.h"

#include "commit-job.h"

typedef struct CommitJob {
    CopyJob core;
    BlockDriverState *top;
    BlockDriverState *base;
    char *backing_file;
    bool is_active;
    /* The base was opened read-only: made so again unless it is the disk */
    bool base_read_only;
    LivemergePivot pivot;
    bool pivoted;
} CommitJob;

static CommitJob *to_commit_job(CopyJob *s)
{
    return container_of(s, CommitJob, core);
}

/*
 * What the job needs of the base: writing, and resizing only if the base
 * must grow to @length (nothing that refuses resizes could use the base
 * otherwise).  Asked before the graph is locked: the length is read in a
 * coroutine that takes the read lock.
 */
static int base_permissions(CommitJob *c, int64_t length, uint64_t *perm,
                            Error **errp)
{
    int64_t base_len = bdrv_getlength(c->base);

    if (base_len < 0) {
        error_setg_errno(errp, -base_len, "Could not get the size of '%s'",
                         bdrv_get_node_name(c->base));
        return base_len;
    }
    *perm = BLK_PERM_WRITE | (base_len < length ? BLK_PERM_RESIZE : 0);
    return 0;
}

/* Hold every layer from the top down to the base, the base for writing */
static int GRAPH_WRLOCK hold_chain(CommitJob *c, uint64_t base_perm,
                                   Error **errp)
{
    CopyJob *s = &c->core;

    s->source = copy_job_hold(s, "source", c->top, BLK_PERM_CONSISTENT_READ,
                              BLK_PERM_ALL, errp);
    if (!s->source) {
        return -EPERM;
    }
    for (BlockDriverState *it = livemerge_chain_next(c->top); it != c->base;
         it = livemerge_chain_next(it)) {
        if (!copy_job_hold(s, "committed layer", it, 0, BLK_PERM_ALL, errp)) {
            return -EPERM;
        }
    }
    s->dest = copy_job_hold(s, "base", c->base, base_perm,
                            BLK_PERM_ALL & ~BLK_PERM_RESIZE, errp);
    return s->dest ? 0 : -EPERM;
}

static int64_t commit_setup(CopyJob *s, CopyEngineConfig *cfg, Error **errp)
{
    CommitJob *c = to_commit_job(s);
    uint64_t base_perm = 0;
    int64_t length;
    int ret;

    if (bdrv_is_read_only(c->base)) {
        if (bdrv_reopen_set_read_only(c->base, false, errp) < 0) {
            error_prepend(errp, "Cannot make the base '%s' writable for the "
                          "commit: ", bdrv_get_node_name(c->base));
            return -EPERM;
        }
        c->base_read_only = true;
    }
    length = bdrv_getlength(c->top);
    if (length < 0) {
        error_setg_errno(errp, -length, "Could not get the size of '%s'",
                         bdrv_get_node_name(c->top));
        return length;
    }
    ret = base_permissions(c, length, &base_perm, errp);
    if (ret < 0) {
        return ret;
    }
    bdrv_graph_wrlock();
    ret = hold_chain(c, base_perm, errp);
    bdrv_graph_wrunlock();
    if (ret < 0) {
        return ret;
    }
    ret = copy_job_freeze_chain(s, c->top, c->base, errp);
    if (ret < 0) {
        return ret;
    }
    *cfg = (CopyEngineConfig) {
        .method = COPY_READ_WRITE,
        .source = s->source,
        .view_top = c->top,
        .base = c->base,
        .dest = s->dest,
        .granularity = copy_job_cluster_granularity(c->base),
        /* An active commit: what reaches the base leaves the top */
        .empty_top = true,
    };
    return length;
}

/* The job took the RESIZE permission only if the base must grow */
static int coroutine_fn commit_prepare_dest(CopyJob *s, Error **errp)
{
    int ret;

    if (!(s->dest->perm & BLK_PERM_RESIZE)) {
        return 0;
    }
    bdrv_graph_co_rdlock();
    ret = bdrv_co_truncate(s->dest, copy_engine_length(s->engine), false,
                           PREALLOC_MODE_OFF, 0, errp);
    bdrv_graph_co_rdunlock();
    return ret;
}

static int commit_finish(CopyJob *s, Error **errp)
{
    CommitJob *c = to_commit_job(s);
    int ret;

    if (!c->is_active) {
        return livemerge_graph_drop_layers(c->top, c->base, c->backing_file,
                                           errp);
    }
    /* The filter's own link to the active layer moves too */
    ret = livemerge_graph_pivot(s->active, c->base, &c->pivot, errp);
    c->pivoted = ret == 0;
    return ret;
}

static void commit_unfinish(CopyJob *s)
{
    CommitJob *c = to_commit_job(s);

    livemerge_graph_pivot_undo(&c->pivot);
    c->pivoted = false;
}

static void commit_cleanup(CopyJob *s)
{
    CommitJob *c = to_commit_job(s);
    Error *local_err = NULL;

    livemerge_graph_pivot_clear(&c->pivot);
    /* After a pivot the base is the disk, read-write */
    if (c->base_read_only && !c->pivoted &&
        bdrv_reopen_set_read_only(c->base, true, &local_err) < 0) {
        error_prepend(&local_err, "livemerge: commit job '%s' could not "
                      "make '%s' read-only again: ", s->common.job.id,
                      bdrv_get_node_name(c->base));
        error_report_err(local_err);
    }
    c->base_read_only = false;
}

static void commit_free(CopyJob *s)
{
    CommitJob *c = to_commit_job(s);

    g_free(c->backing_file);
    bdrv_unref(c->top);
    bdrv_unref(c->base);
}

static const CopyJobKind commit_kind = {
    .setup          = commit_setup,
    .prepare_dest   = commit_prepare_dest,
    .finish         = commit_finish,
    .unfinish       = commit_unfinish,
    .cleanup        = commit_cleanup,
    .free           = commit_free,
};

static const BlockJobDriver commit_job_driver =
    COPY_JOB_DRIVER(CommitJob, JOB_TYPE_COMMIT);

static void commit_init(CopyJob *s, void *opaque)
{
    const CommitJobOptions *o = opaque;
    CommitJob *c = to_commit_job(s);

    c->top = o->top;
    c->base = o->base;
    bdrv_ref(c->top);
    bdrv_ref(c->base);
    c->backing_file = g_strdup(o->backing_file);
    c->is_active = o->top == o->common.active;
    s->goes_ready = c->is_active;
    s->mirrors_writes = c->is_active;
}

/*
 * Refuse when another job or operation already owns the chain (the same
 * checks as QEMU's block-commit: a backing node always blocks
 * COMMIT_SOURCE for its overlay's sake, so only the active layer is asked)
 */
static bool chain_is_free(const CommitJobOptions *o, Error **errp)
{
    AioContext *ctx = bdrv_get_aio_context(o->common.active);
    bool free;

    lm_aio_context_acquire(ctx);
    bdrv_graph_rdlock_main_loop();
    free = !bdrv_op_is_blocked(o->common.active, BLOCK_OP_TYPE_COMMIT_SOURCE,
                               errp) &&
           !bdrv_op_is_blocked(o->base, BLOCK_OP_TYPE_COMMIT_TARGET, errp);
    bdrv_graph_rdunlock_main_loop();
    lm_aio_context_release(ctx);
    return free;
}

CopyJob *livemerge_commit_start(const CommitJobOptions *o, Error **errp)
{
    GLOBAL_STATE_CODE();

    if (!chain_is_free(o, errp)) {
        return NULL;
    }
    return copy_job_start(&commit_kind, &commit_job_driver, &o->common,
                          commit_init, (void *)o, errp);
}
