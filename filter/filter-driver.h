/*
 * livemerge filter driver: the node every guest request passes through
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_FILTER_DRIVER_H
#define LIVEMERGE_FILTER_DRIVER_H

#include "qemu-compat.h"

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
 * What a job wants to see of guest requests.  The filter calls @co_write
 * instead of writing to its child itself, so the job can serialise the
 * write against its copies and mirror it to the destination.  @co_read
 * and @co_flush, when set, take the guest's reads and flushes as well: a
 * job that moves data out of the child (a commit that empties its top)
 * keeps reads off a region while it moves it, and owes the guest's flush
 * a flush of where the data went.  Block status is the job's business
 * only through its own copy loop.
 */
typedef struct LivemergeRequestHandler {
    int coroutine_fn GRAPH_RDLOCK_PTR (*co_write)(void *opaque, LivemergeRequestKind kind,
                                 int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, size_t qiov_offset,
                                 BdrvRequestFlags flags);
    int coroutine_fn GRAPH_RDLOCK_PTR (*co_read)(void *opaque, int64_t offset,
                                                 int64_t bytes,
                                                 QEMUIOVector *qiov,
                                                 size_t qiov_offset,
                                                 BdrvRequestFlags flags);
    int coroutine_fn GRAPH_RDLOCK_PTR (*co_flush)(void *opaque);
    void *opaque;
} LivemergeRequestHandler;

extern BlockDriver bdrv_livemerge;

bool livemerge_is_filter(BlockDriverState *bs);

/* A snapshot of the filter's request counters */
void livemerge_filter_get_counters(BlockDriverState *bs,
                                   LivemergeCounter out[LIVEMERGE_REQ__MAX]);

/*
 * Route guest requests through @handler (NULL: straight to the child).
 * Call with the node drained so no request sees half a change.
 */
void livemerge_filter_set_request_handler(BlockDriverState *bs,
                                        const LivemergeRequestHandler *handler);

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
int GRAPH_RDLOCK livemerge_filter_set_share_write(BlockDriverState *bs, bool share,
                                     Error **errp);

/* Write straight to the filtered child; what a request handler calls */
int coroutine_fn GRAPH_RDLOCK livemerge_filter_co_write_child(BlockDriverState *bs,
                                                 LivemergeRequestKind kind,
                                                 int64_t offset, int64_t bytes,
                                                 QEMUIOVector *qiov,
                                                 size_t qiov_offset,
                                                 BdrvRequestFlags flags);

/* Read straight from the filtered child; what a request handler calls */
int coroutine_fn GRAPH_RDLOCK livemerge_filter_co_read_child(BlockDriverState *bs,
                                                int64_t offset, int64_t bytes,
                                                QEMUIOVector *qiov,
                                                size_t qiov_offset,
                                                BdrvRequestFlags flags);

#endif
