/*
 * livemerge filter driver: the node every guest request passes through
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_FILTER_DRIVER_H
#define LIVEMERGE_FILTER_DRIVER_H

#include "block/block_int.h"

typedef enum LivemergeRequestKind {
    LIVEMERGE_REQ_READ,
    LIVEMERGE_REQ_WRITE,
    LIVEMERGE_REQ_WRITE_ZEROES,
    LIVEMERGE_REQ_DISCARD,
    LIVEMERGE_REQ_FLUSH,
    LIVEMERGE_REQ__MAX,
} LivemergeRequestKind;

extern const char *const livemerge_request_kind_name[LIVEMERGE_REQ__MAX];

typedef struct LivemergeCounter {
    uint64_t requests;      /* started */
    uint64_t bytes;
    uint64_t completed;
    uint64_t latency_ns;    /* summed over the completed ones */
} LivemergeCounter;

/*
 * What a job wants to see of guest writes.  The filter calls @co_write
 * instead of writing to its child itself, so the job can serialise the
 * write against its copies and mirror it to the destination.  Reads,
 * flushes and block status are the job's business only through its own
 * copy loop.
 */
typedef struct LivemergeWriteHandler {
    int coroutine_fn (*co_write)(void *opaque, LivemergeRequestKind kind,
                                 int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, size_t qiov_offset,
                                 BdrvRequestFlags flags);
    void *opaque;
} LivemergeWriteHandler;

extern BlockDriver bdrv_livemerge;

bool livemerge_is_filter(BlockDriverState *bs);

/* A snapshot of the filter's request counters */
void livemerge_filter_get_counters(BlockDriverState *bs,
                                   LivemergeCounter out[LIVEMERGE_REQ__MAX]);

/*
 * Route guest writes through @handler (NULL: straight to the child).
 * Call with the node drained so no write sees half a change.
 */
void livemerge_filter_set_write_handler(BlockDriverState *bs,
                                        const LivemergeWriteHandler *handler);

/*
 * The job that owns the filter (@owner, its id; NULL: nobody): only the
 * owner may take the filter out of the graph.
 */
void livemerge_filter_set_owner(BlockDriverState *bs, const char *owner);
const char *livemerge_filter_owner(BlockDriverState *bs);

/*
 * Let the child's chain be written by others while a job writes a node
 * below (the base of a commit).
 */
int livemerge_filter_set_share_write(BlockDriverState *bs, bool share,
                                     Error **errp);

/* Write straight to the filtered child; what a write handler calls */
int coroutine_fn livemerge_filter_co_write_child(BlockDriverState *bs,
                                                 LivemergeRequestKind kind,
                                                 int64_t offset, int64_t bytes,
                                                 QEMUIOVector *qiov,
                                                 size_t qiov_offset,
                                                 BdrvRequestFlags flags);

#endif
