/*
 * livemerge: give clusters of a qcow2 overlay back to its backing file
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "block/qcow2.h"

#include "qcow2-unallocate.h"

bool GRAPH_RDLOCK lm_qcow2_can_unallocate(BlockDriverState *bs,
                                          int64_t granularity)
{
    BDRVQcow2State *s;

    if (!bs->drv || !g_str_equal(bs->drv->format_name, "qcow2") ||
        !bs->backing || !bs->file) {
        return false;
    }
    s = bs->opaque;
    /* An external data file's clusters are its own business */
    return s->data_file == bs->file && granularity % s->cluster_size == 0;
}

/* Called with s->lock held: free the clusters of one range */
static int coroutine_fn GRAPH_RDLOCK unallocate_range_locked(
    BlockDriverState *bs, uint64_t offset, uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_span = (uint64_t)s->cluster_size << s->l2_bits;
    uint64_t end = offset + bytes, n, l1_index;
    int ret = 0;

    for (; offset < end && ret == 0; offset += n) {
        n = MIN(end, QEMU_ALIGN_UP(offset + 1, l1_span)) - offset;
        l1_index = offset / l1_span;
        /*
         * A range no L2 table covers holds nothing, and qcow2 would
         * allocate an empty table for it (flushing the file three times)
         */
        if (l1_index < (uint64_t)s->l1_size &&
            (s->l1_table[l1_index] & L1E_OFFSET_MASK)) {
            /*
             * As qcow2_co_pdiscard() does, with a full discard (the
             * entries go, the backing file shows through) of a type
             * never passed down to the file
             */
            ret = qcow2_cluster_discard(bs, offset, n, QCOW2_DISCARD_NEVER,
                                        true);
        }
    }
    return ret;
}

/*
 * Called with s->lock held.  Freed clusters become the next ones qcow2
 * allocates; until the tables that no longer use them are written out, a
 * crash could show a new cluster's data where the top gave a region back.
 * So the tables are written to the file at once (a process crash leaves
 * them there) and allocation keeps away from the freed clusters (until
 * some other free, or the next open, lets it look below them again).
 * Once for all the ranges: a table is written whole (an L2 table of a
 * 64 KiB-cluster image is 64 KiB), and every request to the node waits
 * for it.
 */
static int coroutine_fn GRAPH_RDLOCK unallocate_locked(BlockDriverState *bs,
                                                       const LmRange *ranges,
                                                       unsigned count)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t free_index = s->free_cluster_index;
    int ret = 0;

    for (unsigned i = 0; i < count && ret == 0; i++) {
        ret = unallocate_range_locked(bs, ranges[i].offset, ranges[i].bytes);
    }
    s->free_cluster_index = MAX(s->free_cluster_index, free_index);
    if (ret == 0) {
        ret = qcow2_cache_write(bs, s->l2_table_cache);
    }
    return ret;
}

int coroutine_fn GRAPH_RDLOCK lm_qcow2_co_unallocate(BlockDriverState *bs,
                                                     const LmRange *ranges,
                                                     unsigned count)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    /* A drain of the node waits for this as for any request */
    bdrv_inc_in_flight(bs);
    qemu_co_mutex_lock(&s->lock);
    ret = unallocate_locked(bs, ranges, count);
    qemu_co_mutex_unlock(&s->lock);
    bdrv_dec_in_flight(bs);
    return ret;
}
