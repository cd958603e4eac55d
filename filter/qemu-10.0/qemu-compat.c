/*
 * livemerge: what differs in logic on QEMU 10.0 (see qemu-compat.h)
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/defer-call.h"
#include "qemu-compat.h"

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

void lm_block_job_block_ops(BlockDriverState *bs, Error *reason)
{
    bdrv_op_block_all(bs, reason);
}

int lm_drop_intermediate(BlockDriverState *top, BlockDriverState *base,
                         const char *backing_file)
{
    return bdrv_drop_intermediate(top, base, backing_file, false);
}
