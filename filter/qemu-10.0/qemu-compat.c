/*
 * livemerge: what differs in logic on QEMU 10.0 (see qemu-compat.h)
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/defer-call.h"
#include "qapi/error.h"
#include "qemu-compat.h"

#include "copy-job.h"

/* The AioContext lock is gone since 9.0 */
void lm_aio_context_acquire(AioContext *ctx)
{
}

void lm_aio_context_release(AioContext *ctx)
{
}

/* Deferred per thread, whatever the nodes */
void lm_io_batch_begin(BlockDriverState *a, BlockDriverState *b)
{
    defer_call_begin();
}

void lm_io_batch_end(BlockDriverState *a, BlockDriverState *b)
{
    defer_call_end();
}

int coroutine_fn lm_thread_pool_co(ThreadPoolFunc *func, void *arg)
{
    return thread_pool_submit_co(func, arg);
}

void lm_block_job_block_ops(BlockDriverState *bs, Error *reason)
{
    bdrv_op_block_all(bs, reason);
}

int lm_drop_intermediate(BlockDriverState *top, BlockDriverState *base,
                         const char *backing_file)
{
    return bdrv_drop_intermediate(top, base, backing_file, false);
}

/*
 * As QEMU's mirror: only background -> write-blocking can be changed (the
 * adaptive mode counts as background until it turned), and the change
 * takes effect for every guest write that comes after it
 */
void lm_mirror_job_change(BlockJob *job, BlockJobChangeOptions *opts,
                          Error **errp)
{
    CopyJob *s = container_of(job, CopyJob, common);
    MirrorCopyMode want;

    GLOBAL_STATE_CODE();
    /* QEMU does not check that the type given is the job's */
    if (opts->type != JOB_TYPE_MIRROR) {
        error_setg(errp, "Parameter 'type': job '%s' is a mirror job, not %s",
                   job->job.id, JobType_str(opts->type));
        return;
    }
    want = opts->u.mirror.copy_mode;
    if (want == MIRROR_COPY_MODE_WRITE_BLOCKING) {
        copy_job_set_write_blocking(s);
    } else if (copy_job_write_blocking(s)) {
        error_setg(errp, "Change to copy mode '%s' is not implemented",
                   MirrorCopyMode_str(want));
    }
}

void lm_mirror_job_query(BlockJob *job, BlockJobInfo *info)
{
    CopyJob *s = container_of(job, CopyJob, common);

    info->u.mirror = (BlockJobInfoMirror) {
        .actively_synced = copy_job_actively_synced(s),
    };
}
