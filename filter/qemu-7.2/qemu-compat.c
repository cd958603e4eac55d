/*
 * livemerge: what differs in logic on QEMU 7.2 (see qemu-compat.h)
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"

void lm_aio_context_acquire(AioContext *ctx)
{
    aio_context_acquire(ctx);
}

void lm_aio_context_release(AioContext *ctx)
{
    aio_context_release(ctx);
}

void lm_io_batch_begin(BlockDriverState *a, BlockDriverState *b)
{
    bdrv_io_plug(a);
    bdrv_io_plug(b);
}

void lm_io_batch_end(BlockDriverState *a, BlockDriverState *b)
{
    bdrv_io_unplug(b);
    bdrv_io_unplug(a);
}

int coroutine_fn lm_thread_pool_co(ThreadPoolFunc *func, void *arg)
{
    return thread_pool_submit_co(
        aio_get_thread_pool(qemu_get_current_aio_context()), func, arg);
}

void lm_block_job_block_ops(BlockDriverState *bs, Error *reason)
{
    bdrv_op_block_all(bs, reason);
    bdrv_op_unblock(bs, BLOCK_OP_TYPE_DATAPLANE, reason);
}

int lm_drop_intermediate(BlockDriverState *top, BlockDriverState *base,
                         const char *backing_file)
{
    return bdrv_drop_intermediate(top, base, backing_file);
}
