/*
 * livemerge: QEMU 7.2 made to look like 10.0 (see qemu-compat.h)
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * 7.2 has no graph lock: the caller's AioContext lock (lm_aio_context_*)
 * and drain protect graph changes, so the lock calls are empty and the
 * annotations say nothing.  The coroutine forms of the block status
 * calls are what the generated wrappers call in coroutine context.
 */

#ifndef LIVEMERGE_QEMU_COMPAT_SERIES_H
#define LIVEMERGE_QEMU_COMPAT_SERIES_H

#include "qapi/qmp/dispatch.h"
#include "qapi/qmp/qdict.h"

#define GRAPH_RDLOCK
#define GRAPH_WRLOCK
#define GRAPH_UNLOCKED
#define GRAPH_RDLOCK_PTR

static inline void bdrv_graph_wrlock(void) { }
static inline void bdrv_graph_wrunlock(void) { }
static inline void bdrv_graph_rdlock_main_loop(void) { }
static inline void bdrv_graph_rdunlock_main_loop(void) { }
static inline void coroutine_fn bdrv_graph_co_rdlock(void) { }
static inline void coroutine_fn bdrv_graph_co_rdunlock(void) { }
#define GRAPH_RDLOCK_GUARD()
#define GRAPH_RDLOCK_GUARD_MAINLOOP()

/* block-job-change and actively-synced came with 8.2 */
#define LM_MIRROR_JOB_CALLBACKS

/* 10.0's driver callback for the length is a coroutine */
#define LM_DRIVER_LENGTH_CALLBACK(fn) \
    .bdrv_getlength = (fn), .has_variable_length = true

static inline int64_t coroutine_fn bdrv_co_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs);
}

static inline int coroutine_fn
bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     int64_t *pnum)
{
    return bdrv_is_allocated(bs, offset, bytes, pnum);
}

static inline int coroutine_fn
bdrv_co_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                           bool include_base, int64_t offset, int64_t bytes,
                           int64_t *pnum)
{
    return bdrv_is_allocated_above(top, base, include_base, offset, bytes,
                                   pnum);
}

static inline int coroutine_fn
bdrv_co_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    return bdrv_block_status(bs, offset, bytes, pnum, map, file);
}

static inline int coroutine_fn
bdrv_co_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                           int64_t offset, int64_t bytes, int64_t *pnum,
                           int64_t *map, BlockDriverState **file)
{
    return bdrv_block_status_above(bs, base, offset, bytes, pnum, map, file);
}

#endif
