/*
 * livemerge stream job: pull a backing chain into the active layer
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The job poses as QEMU's "stream" job type.  Its view is what the
 * layers below the active layer show down to the base; its destination
 * the active layer itself, written by copy-on-read: the block layer pulls
 * only what the active layer does not hold yet and holds off every other
 * request on it meanwhile, so a guest write (through the filter or any
 * other way) always wins over older backing data.  At the end the active
 * layer backs onto the base and the pulled layers leave the chain.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/error.h"

#include "stream-job.h"

typedef struct StreamJob {
    CopyJob core;
    BlockDriverState *base;
    char *backing_file;
} StreamJob;

static StreamJob *to_stream_job(CopyJob *s)
{
    return container_of(s, StreamJob, core);
}

/* The active layer for copy-on-read, the pulled layers against changes */
static int hold_chain(StreamJob *st, Error **errp)
{
    CopyJob *s = &st->core;

    s->dest = copy_job_hold(s, "stream destination", s->active,
                            BLK_PERM_CONSISTENT_READ |
                            BLK_PERM_WRITE_UNCHANGED, BLK_PERM_ALL, errp);
    if (!s->dest) {
        return -EPERM;
    }
    for (BlockDriverState *it = livemerge_chain_next(s->active);
         it && it != st->base; it = livemerge_chain_next(it)) {
        if (!copy_job_hold(s, "pulled layer", it, 0, BLK_PERM_ALL, errp)) {
            return -EPERM;
        }
    }
    return 0;
}

static int64_t stream_setup(CopyJob *s, CopyEngineConfig *cfg, Error **errp)
{
    StreamJob *st = to_stream_job(s);
    int64_t length = bdrv_getlength(s->active);
    int ret;

    if (length < 0) {
        error_setg_errno(errp, -length, "Could not get the size of '%s'",
                         bdrv_get_node_name(s->active));
        return length;
    }
    ret = hold_chain(st, errp);
    if (ret < 0) {
        return ret;
    }
    ret = copy_job_freeze_chain(s, s->active, st->base, errp);
    if (ret < 0) {
        return ret;
    }
    *cfg = (CopyEngineConfig) {
        .method = COPY_ON_READ,
        .view_top = livemerge_chain_next(s->active),
        .base = st->base,
        .dest = s->dest,
        .granularity = copy_job_cluster_granularity(s->active),
    };
    return length;
}

static int stream_finish(CopyJob *s, Error **errp)
{
    StreamJob *st = to_stream_job(s);

    return livemerge_graph_set_backing(s->active, st->base, st->backing_file,
                                       errp);
}

static void stream_free(CopyJob *s)
{
    StreamJob *st = to_stream_job(s);

    g_free(st->backing_file);
    if (st->base) {
        bdrv_unref(st->base);
    }
}

static const CopyJobKind stream_kind = {
    .setup          = stream_setup,
    .finish         = stream_finish,
    .free           = stream_free,
};

static const BlockJobDriver stream_job_driver =
    COPY_JOB_DRIVER(StreamJob, JOB_TYPE_STREAM);

static void stream_init(CopyJob *s, void *opaque)
{
    const StreamJobOptions *o = opaque;
    StreamJob *st = to_stream_job(s);

    st->base = o->base;
    if (st->base) {
        bdrv_ref(st->base);
    }
    st->backing_file = g_strdup(o->backing_file);
    s->goes_ready = false;
    s->mirrors_writes = false;
}

/* The same checks as QEMU's block-stream, on every layer that is pulled */
static bool chain_is_free(const StreamJobOptions *o, Error **errp)
{
    AioContext *ctx = bdrv_get_aio_context(o->common.active);
    bool free = true;

    aio_context_acquire(ctx);
    for (BlockDriverState *it = o->common.active; free && it != o->base;
         it = livemerge_chain_next(it)) {
        free = !bdrv_op_is_blocked(it, BLOCK_OP_TYPE_STREAM, errp);
    }
    aio_context_release(ctx);
    return free;
}

CopyJob *livemerge_stream_start(const StreamJobOptions *o, Error **errp)
{
    GLOBAL_STATE_CODE();

    if (!chain_is_free(o, errp)) {
        return NULL;
    }
    return copy_job_start(&stream_kind, &stream_job_driver, &o->common,
                          stream_init, (void *)o, errp);
}
