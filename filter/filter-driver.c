/*
 * livemerge filter driver: the node every guest request passes through
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * On its own the filter forwards every request to its one child ("file")
 * unchanged and counts them.  A job installs a request handler to see
 * guest writes: that is where it serialises them against its copies and,
 * in write-blocking mode, mirrors them to the destination (and, for a
 * commit that empties its top, reads and flushes too).
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "qemu/atomic.h"
#include "qemu/module.h"
#include "qapi/error.h"

#include "filter-driver.h"

typedef struct BDRVLivemergeState {
    LivemergeCounter counters[LIVEMERGE_REQ__MAX];
    LivemergeRequestHandler request_handler;
    /* A job writes to a node below: the chain must let it */
    bool share_write;
    /* The id of the job the filter belongs to, NULL if none */
    char *owner;
} BDRVLivemergeState;

const char *const livemerge_request_kind_name[LIVEMERGE_REQ__MAX] = {
    [LIVEMERGE_REQ_READ] = "read",
    [LIVEMERGE_REQ_WRITE] = "write",
    [LIVEMERGE_REQ_WRITE_ZEROES] = "write-zeroes",
    [LIVEMERGE_REQ_DISCARD] = "discard",
    [LIVEMERGE_REQ_FLUSH] = "flush",
};

/* Returns when the request started, for count_done() */
static int64_t count_request(BlockDriverState *bs, LivemergeRequestKind kind,
                             int64_t bytes)
{
    BDRVLivemergeState *s = bs->opaque;

    qatomic_inc(&s->counters[kind].requests);
    qatomic_add(&s->counters[kind].bytes, bytes);
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

/* The guest's latency as the filter sees it: what pacing is judged by */
static int count_done(BlockDriverState *bs, LivemergeRequestKind kind,
                      int64_t started, int ret)
{
    BDRVLivemergeState *s = bs->opaque;

    qatomic_inc(&s->counters[kind].completed);
    qatomic_add(&s->counters[kind].latency_ns,
                qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - started);
    return ret;
}

/*
 * Opened by bdrv_new_open_driver() before it has a child: the child is
 * attached when the node is put into the graph (filter-graph.c).
 */
static int livemerge_open(BlockDriverState *bs, QDict *options, int flags,
                          Error **errp)
{
    /*
     * The flags are what the generic block layer of the child emulates if
     * the child lacks them, so the filter can accept them all.
     */
    bs->supported_write_flags = BDRV_REQ_WRITE_UNCHANGED | BDRV_REQ_FUA;
    bs->supported_zero_flags = BDRV_REQ_WRITE_UNCHANGED | BDRV_REQ_FUA |
                               BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    return 0;
}

static void livemerge_close(BlockDriverState *bs)
{
    BDRVLivemergeState *s = bs->opaque;

    g_free(s->owner);
}

static void livemerge_child_perm(BlockDriverState *bs, BdrvChild *c,
                                 BdrvChildRole role,
                                 BlockReopenQueue *reopen_queue,
                                 uint64_t perm, uint64_t shared,
                                 uint64_t *nperm, uint64_t *nshared)
{
    BDRVLivemergeState *s = bs->opaque;

    bdrv_default_perms(bs, c, role, reopen_queue, perm, shared,
                       nperm, nshared);
    if (s->share_write) {
        /*
         * Writes blocked on a node are blocked on its backing chain too;
         * share them, or the job could not write its base.
         */
        *nshared |= BLK_PERM_WRITE;
    }
}

static int64_t coroutine_fn GRAPH_RDLOCK
livemerge_co_getlength(BlockDriverState *bs)
{
    /* No child yet (being opened) or any more (being dropped) */
    if (!bs->file) {
        return 0;
    }
    return bdrv_co_getlength(bs->file->bs);
}

static int coroutine_fn GRAPH_RDLOCK livemerge_co_preadv_part(BlockDriverState *bs,
                                                 int64_t offset,
                                                 int64_t bytes,
                                                 QEMUIOVector *qiov,
                                                 size_t qiov_offset,
                                                 BdrvRequestFlags flags)
{
    BDRVLivemergeState *s = bs->opaque;
    int64_t started;
    int ret;

    if (!bs->file) {
        return -ENOMEDIUM;
    }
    started = count_request(bs, LIVEMERGE_REQ_READ, bytes);
    if (s->request_handler.co_read) {
        ret = s->request_handler.co_read(s->request_handler.opaque, offset,
                                         bytes, qiov, qiov_offset, flags);
    } else {
        ret = livemerge_filter_co_read_child(bs, offset, bytes, qiov,
                                             qiov_offset, flags);
    }
    return count_done(bs, LIVEMERGE_REQ_READ, started, ret);
}

int coroutine_fn GRAPH_RDLOCK livemerge_filter_co_read_child(BlockDriverState *bs,
                                                int64_t offset, int64_t bytes,
                                                QEMUIOVector *qiov,
                                                size_t qiov_offset,
                                                BdrvRequestFlags flags)
{
    if (!bs->file) {
        return -ENOMEDIUM;
    }
    return bdrv_co_preadv_part(bs->file, offset, bytes, qiov, qiov_offset,
                               flags);
}

int coroutine_fn GRAPH_RDLOCK livemerge_filter_co_write_child(BlockDriverState *bs,
                                                 LivemergeRequestKind kind,
                                                 int64_t offset, int64_t bytes,
                                                 QEMUIOVector *qiov,
                                                 size_t qiov_offset,
                                                 BdrvRequestFlags flags)
{
    if (!bs->file) {
        return -ENOMEDIUM;
    }
    switch (kind) {
    case LIVEMERGE_REQ_WRITE:
        return bdrv_co_pwritev_part(bs->file, offset, bytes, qiov,
                                    qiov_offset, flags);
    case LIVEMERGE_REQ_WRITE_ZEROES:
        return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
    case LIVEMERGE_REQ_DISCARD:
        return bdrv_co_pdiscard(bs->file, offset, bytes);
    default:
        g_assert_not_reached();
    }
}

static int coroutine_fn GRAPH_RDLOCK livemerge_co_write(BlockDriverState *bs,
                                           LivemergeRequestKind kind,
                                           int64_t offset, int64_t bytes,
                                           QEMUIOVector *qiov,
                                           size_t qiov_offset,
                                           BdrvRequestFlags flags)
{
    BDRVLivemergeState *s = bs->opaque;
    int64_t started;
    int ret;

    if (!bs->file) {
        return -ENOMEDIUM;
    }
    started = count_request(bs, kind, bytes);
    if (s->request_handler.co_write) {
        ret = s->request_handler.co_write(s->request_handler.opaque, kind,
                                        offset, bytes, qiov, qiov_offset,
                                        flags);
    } else {
        ret = livemerge_filter_co_write_child(bs, kind, offset, bytes, qiov,
                                              qiov_offset, flags);
    }
    return count_done(bs, kind, started, ret);
}

static int coroutine_fn GRAPH_RDLOCK livemerge_co_pwritev_part(BlockDriverState *bs,
                                                  int64_t offset,
                                                  int64_t bytes,
                                                  QEMUIOVector *qiov,
                                                  size_t qiov_offset,
                                                  BdrvRequestFlags flags)
{
    return livemerge_co_write(bs, LIVEMERGE_REQ_WRITE, offset, bytes, qiov,
                              qiov_offset, flags);
}

static int coroutine_fn GRAPH_RDLOCK livemerge_co_pwrite_zeroes(BlockDriverState *bs,
                                                   int64_t offset,
                                                   int64_t bytes,
                                                   BdrvRequestFlags flags)
{
    return livemerge_co_write(bs, LIVEMERGE_REQ_WRITE_ZEROES, offset, bytes,
                              NULL, 0, flags);
}

static int coroutine_fn GRAPH_RDLOCK livemerge_co_pdiscard(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes)
{
    return livemerge_co_write(bs, LIVEMERGE_REQ_DISCARD, offset, bytes,
                              NULL, 0, 0);
}

static int coroutine_fn GRAPH_RDLOCK livemerge_co_flush(BlockDriverState *bs)
{
    BDRVLivemergeState *s = bs->opaque;
    int64_t started;
    int ret;

    if (!bs->file) {
        return -ENOMEDIUM;
    }
    started = count_request(bs, LIVEMERGE_REQ_FLUSH, 0);
    if (s->request_handler.co_flush) {
        ret = s->request_handler.co_flush(s->request_handler.opaque);
    } else {
        ret = bdrv_co_flush(bs->file->bs);
    }
    return count_done(bs, LIVEMERGE_REQ_FLUSH, started, ret);
}

static int coroutine_fn GRAPH_RDLOCK livemerge_co_truncate(BlockDriverState *bs,
                                              int64_t offset, bool exact,
                                              PreallocMode prealloc,
                                              BdrvRequestFlags flags,
                                              Error **errp)
{
    if (!bs->file) {
        error_setg(errp, "livemerge filter '%s' has no child",
                   bdrv_get_node_name(bs));
        return -ENOMEDIUM;
    }
    return bdrv_co_truncate(bs->file, offset, exact, prealloc, flags, errp);
}

BlockDriver bdrv_livemerge = {
    .format_name                = "livemerge",
    .instance_size              = sizeof(BDRVLivemergeState),

    .bdrv_open                  = livemerge_open,
    .bdrv_close                 = livemerge_close,
    .bdrv_child_perm            = livemerge_child_perm,

    LM_DRIVER_LENGTH_CALLBACK(livemerge_co_getlength),

    .bdrv_co_preadv_part        = livemerge_co_preadv_part,
    .bdrv_co_pwritev_part       = livemerge_co_pwritev_part,
    .bdrv_co_pwrite_zeroes      = livemerge_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = livemerge_co_pdiscard,
    .bdrv_co_flush              = livemerge_co_flush,
    .bdrv_co_truncate           = livemerge_co_truncate,

    .is_filter                  = true,
};

bool livemerge_is_filter(BlockDriverState *bs)
{
    return bs && bs->drv == &bdrv_livemerge;
}

void livemerge_filter_get_counters(BlockDriverState *bs,
                                   LivemergeCounter out[LIVEMERGE_REQ__MAX])
{
    BDRVLivemergeState *s = bs->opaque;

    assert(livemerge_is_filter(bs));
    for (int i = 0; i < LIVEMERGE_REQ__MAX; i++) {
        out[i].requests = qatomic_read(&s->counters[i].requests);
        out[i].bytes = qatomic_read(&s->counters[i].bytes);
        out[i].completed = qatomic_read(&s->counters[i].completed);
        out[i].latency_ns = qatomic_read(&s->counters[i].latency_ns);
    }
}

void livemerge_filter_set_request_handler(BlockDriverState *bs,
                                        const LivemergeRequestHandler *handler)
{
    BDRVLivemergeState *s = bs->opaque;

    assert(livemerge_is_filter(bs));
    s->request_handler = handler ? *handler : (LivemergeRequestHandler) {};
}

void livemerge_filter_set_owner(BlockDriverState *bs, const char *owner)
{
    BDRVLivemergeState *s = bs->opaque;

    assert(livemerge_is_filter(bs));
    g_free(s->owner);
    s->owner = g_strdup(owner);
}

const char *livemerge_filter_owner(BlockDriverState *bs)
{
    BDRVLivemergeState *s = bs->opaque;

    assert(livemerge_is_filter(bs));
    return s->owner;
}

int GRAPH_RDLOCK livemerge_filter_set_share_write(BlockDriverState *bs, bool share,
                                     Error **errp)
{
    BDRVLivemergeState *s = bs->opaque;

    assert(livemerge_is_filter(bs));
    s->share_write = share;
    return bs->file ? bdrv_child_refresh_perms(bs, bs->file, errp) : 0;
}

static void livemerge_block_init(void)
{
    bdrv_register(&bdrv_livemerge);
}

block_init(livemerge_block_init);
