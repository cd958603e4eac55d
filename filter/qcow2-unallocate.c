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

int coroutine_fn GRAPH_RDLOCK lm_qcow2_co_unallocate(BlockDriverState *bs,
                                                     int64_t offset,
                                                     int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    /* A drain of the node waits for this as for any request */
    bdrv_inc_in_flight(bs);
    qemu_co_mutex_lock(&s->lock);
    /*
     * As qcow2_co_pdiscard() does, with a full discard (the entries go,
     * the backing file shows through) of a type never passed down
     */
    ret = qcow2_cluster_discard(bs, offset, bytes, QCOW2_DISCARD_NEVER, true);
    qemu_co_mutex_unlock(&s->lock);
    bdrv_dec_in_flight(bs);
    return ret;
}
