/*
 * livemerge mirror job: copy a disk to a new target and pivot onto it
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The job poses as QEMU's "mirror" job type.  Its view is what the guest
 * reads from the active layer (down to the base for sync "top"), its
 * destination the target.  Where the view is unallocated all the way down
 * (sync "full") the target is made to read zeroes, so a reused target's
 * old data never shows through.  READY, then block-job-complete moves
 * every user of the disk onto the target (which backs onto the base for
 * sync "top", as QEMU's mirror does); a cancel once READY keeps the
 * source and leaves the target a point-in-time copy.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/error.h"
#include "qemu/error-report.h"

#include "mirror-job.h"

typedef struct MirrorJob {
    CopyJob core;
    BlockDriverState *target;
    BlockDriverState *base;
    LivemergePivot pivot;
    /* The job linked the target to the base (it had no backing) */
    bool linked_backing;
    /* ... and wrote the base into the target's header (it named none) */
    bool wrote_header;
    bool pivoted;
} MirrorJob;

static MirrorJob *to_mirror_job(CopyJob *s)
{
    return container_of(s, MirrorJob, core);
}

/* The source's layers against changes, the source and target for I/O */
static int hold_nodes(MirrorJob *m, Error **errp)
{
    CopyJob *s = &m->core;

    s->source = copy_job_hold(s, "source", s->active,
                              BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, errp);
    if (!s->source) {
        return -EPERM;
    }
    for (BlockDriverState *it = livemerge_chain_next(s->active);
         it && it != m->base; it = livemerge_chain_next(it)) {
        if (!copy_job_hold(s, "mirrored layer", it, 0, BLK_PERM_ALL, errp)) {
            return -EPERM;
        }
    }
    /* The disk's users need to write the target once they are on it */
    s->dest = copy_job_hold(s, "target", m->target, BLK_PERM_WRITE,
                            BLK_PERM_ALL & ~BLK_PERM_RESIZE, errp);
    return s->dest ? 0 : -EPERM;
}

/*
 * sync "top" onto a target without a backing node: it backs onto the
 * source's backing from the start, in the graph and, where its header
 * names none, in the header (else it would lose that data when
 * reopened).  From the start, not at the pivot: a guest write mirrored
 * into part of a cluster the target does not hold would otherwise fill
 * the rest of that cluster with zeroes instead of the backing's data.
 */
static int link_backing(MirrorJob *m, Error **errp)
{
    m->wrote_header = !m->target->backing_file[0];
    if (m->wrote_header) {
        if (livemerge_graph_set_backing(m->target, m->base, NULL, errp) < 0) {
            return -EPERM;
        }
    } else if (bdrv_set_backing_hd(m->target, m->base, errp) < 0) {
        return -EPERM;
    }
    m->linked_backing = true;
    return 0;
}

static void unlink_backing(MirrorJob *m)
{
    Error *local_err = NULL;

    if (!m->linked_backing) {
        return;
    }
    if (m->wrote_header) {
        livemerge_graph_set_backing(m->target, NULL, NULL, &local_err);
    } else {
        bdrv_set_backing_hd(m->target, NULL, &local_err);
    }
    if (local_err) {
        error_report_err(local_err);
    }
    m->linked_backing = false;
}

static int64_t mirror_setup(CopyJob *s, CopyEngineConfig *cfg, Error **errp)
{
    MirrorJob *m = to_mirror_job(s);
    int64_t length = bdrv_getlength(s->active);
    int ret;

    if (length < 0) {
        error_setg_errno(errp, -length, "Could not get the size of '%s'",
                         bdrv_get_node_name(s->active));
        return length;
    }
    ret = hold_nodes(m, errp);
    if (ret < 0) {
        return ret;
    }
    if (m->base) {
        ret = copy_job_freeze_chain(s, s->active, m->base, errp);
        if (ret < 0) {
            return ret;
        }
        if (!m->target->backing && link_backing(m, errp) < 0) {
            return -EPERM;
        }
    }
    /* The last copy quiesces the target's users as well as the disk's */
    s->drain_nodes[1] = m->target;
    *cfg = (CopyEngineConfig) {
        .method = COPY_READ_WRITE,
        .source = s->source,
        .view_top = s->active,
        .base = m->base,
        .dest = s->dest,
        .zero_unallocated = !m->base,
        .granularity = copy_job_cluster_granularity(m->target),
    };
    return length;
}

static int mirror_finish(CopyJob *s, Error **errp)
{
    MirrorJob *m = to_mirror_job(s);
    int ret = livemerge_graph_pivot(s->active, m->target, &m->pivot, errp);

    m->pivoted = ret == 0;
    return ret;
}

static void mirror_unfinish(CopyJob *s)
{
    MirrorJob *m = to_mirror_job(s);

    livemerge_graph_pivot_undo(&m->pivot);
    m->pivoted = false;
}

static void mirror_cleanup(CopyJob *s)
{
    MirrorJob *m = to_mirror_job(s);

    livemerge_graph_pivot_clear(&m->pivot);
    /* A target left behind (cancelled) is as it was given */
    if (!m->pivoted) {
        unlink_backing(m);
    }
}

static void mirror_free(CopyJob *s)
{
    MirrorJob *m = to_mirror_job(s);

    bdrv_unref(m->target);
    if (m->base) {
        bdrv_unref(m->base);
    }
}

static const CopyJobKind mirror_kind = {
    .setup          = mirror_setup,
    .finish         = mirror_finish,
    .unfinish       = mirror_unfinish,
    .cleanup        = mirror_cleanup,
    .free           = mirror_free,
};

static const BlockJobDriver mirror_job_driver =
    COPY_JOB_DRIVER(MirrorJob, JOB_TYPE_MIRROR);

static void mirror_init(CopyJob *s, void *opaque)
{
    const MirrorJobOptions *o = opaque;
    MirrorJob *m = to_mirror_job(s);

    m->target = o->target;
    bdrv_ref(m->target);
    m->base = o->base;
    if (m->base) {
        bdrv_ref(m->base);
    }
    s->goes_ready = true;
    s->mirrors_writes = true;
}

/* The same checks as QEMU's blockdev-mirror */
static bool nodes_are_free(const MirrorJobOptions *o, Error **errp)
{
    AioContext *ctx = bdrv_get_aio_context(o->common.active);
    bool free;

    aio_context_acquire(ctx);
    free = !bdrv_op_is_blocked(o->common.active, BLOCK_OP_TYPE_MIRROR_SOURCE,
                               errp) &&
           !bdrv_op_is_blocked(o->target, BLOCK_OP_TYPE_MIRROR_TARGET, errp);
    aio_context_release(ctx);
    return free;
}

CopyJob *livemerge_mirror_start(const MirrorJobOptions *o, Error **errp)
{
    GLOBAL_STATE_CODE();

    if (!nodes_are_free(o, errp)) {
        return NULL;
    }
    /* The disk's users move onto the target: it must be where they are */
    if (livemerge_graph_move_to_context(o->target,
                                        bdrv_get_aio_context(o->common.active),
                                        errp) < 0) {
        error_prepend(errp, "Parameter 'target': cannot move '%s' into the "
                      "disk's I/O thread: ", bdrv_get_node_name(o->target));
        return NULL;
    }
    return copy_job_start(&mirror_kind, &mirror_job_driver, &o->common,
                          mirror_init, (void *)o, errp);
}
