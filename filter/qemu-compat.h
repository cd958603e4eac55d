/*
 * livemerge: the seam between the QEMU series the plugin supports
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine is written to QEMU 10.0's rules: graph changes under the
 * graph write lock, graph walks and I/O under the read lock (clang's
 * -Wthread-safety checks both against 10.0's annotated headers), a drain
 * quiesces the node and its parents only, I/O batched per thread, and no
 * AioContext lock.  qemu-<series>/qemu-compat-series.h (the build picks
 * the directory from the QEMU version of the headers) makes each series
 * look like that; qemu-<series>/qemu-compat.c holds the few functions
 * whose logic differs.  Include this after "qemu/osdep.h" instead of
 * QEMU's block headers.
 */

#ifndef LIVEMERGE_QEMU_COMPAT_H
#define LIVEMERGE_QEMU_COMPAT_H

/* From 8.0 on block_int.h no longer pulls in the I/O API */
#include "block/block.h"
#include "block/block_int.h"
#include "block/blockjob_int.h"
#include "block/thread-pool.h"

/*
 * Per series: QEMU's headers that moved, and on a series older than the
 * graph lock, its API as what it was before (the AioContext lock the
 * caller holds), so the engine's calls mean the same everywhere
 */
#include "qemu-compat-series.h"

/*
 * The AioContext lock (7.2) the caller must hold around graph changes,
 * job creation and the last bdrv_unref(); nothing on 10.0, where it is
 * gone (the graph lock and drain do its work).
 */
void lm_aio_context_acquire(AioContext *ctx);
void lm_aio_context_release(AioContext *ctx);

/*
 * Batch the I/O this thread submits until lm_io_batch_end(), so that an
 * AIO engine that batches (Linux AIO, io_uring) submits it with one
 * system call: 10.0 defers per thread (defer_call), 7.2 plugs per node
 * (both of @a and @b).
 */
void lm_io_batch_begin(BlockDriverState *a, BlockDriverState *b);
void lm_io_batch_end(BlockDriverState *a, BlockDriverState *b);

/*
 * bdrv_drop_intermediate() keeping the backing string as given (10.0 can
 * also mask the protocol prefix of it; livemerge does not).  Takes the
 * graph write lock itself on 10.0.
 */
int GRAPH_UNLOCKED lm_drop_intermediate(BlockDriverState *top,
                                        BlockDriverState *base,
                                        const char *backing_file);

/*
 * Run @func(@arg) in the thread pool of the current AioContext and wait
 * for it (7.2 names the pool, 10.0 takes the current one)
 */
int coroutine_fn lm_thread_pool_co(ThreadPoolFunc *func, void *arg);

/*
 * Block on @bs the operations block_job_create() blocks on a job's main
 * node, with @reason (7.2 leaves DATAPLANE, which 10.0 no longer has).
 */
void lm_block_job_block_ops(BlockDriverState *bs, Error *reason);

#endif
