/*
 * livemerge filter: putting the node into the graph and taking it out
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * bdrv_insert_node() would pull an iothread export's subtree into the main
 * loop, so the filter is opened bare, moved into the AioContext of the
 * node it goes above, and only then linked in, under drain.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/error.h"

#include "filter-driver.h"
#include "filter-graph.h"

BlockDriverState *livemerge_filter_above(BlockDriverState *bs)
{
    BdrvChild *parent;

    QLIST_FOREACH(parent, &bs->parents, next_parent) {
        if (parent->klass == &child_of_bds &&
            livemerge_is_filter(parent->opaque)) {
            return parent->opaque;
        }
    }
    return NULL;
}

BlockDriverState *livemerge_filter_insert(BlockDriverState *bs,
                                          const char *filter_node_name,
                                          Error **errp)
{
    AioContext *ctx = bdrv_get_aio_context(bs);
    BlockDriverState *filter;
    BdrvChild *child;
    int flags = bs->open_flags & (BDRV_O_RDWR | BDRV_O_UNMAP);
    int ret;

    GLOBAL_STATE_CODE();

    /* BDRV_O_UNMAP: without it, discards stop at the filter */
    filter = bdrv_new_open_driver(&bdrv_livemerge, filter_node_name, flags,
                                  errp);
    if (!filter) {
        return NULL;
    }
    if (!filter_node_name) {
        filter->implicit = true;
    }

    if (ctx != qemu_get_aio_context()) {
        ret = bdrv_try_change_aio_context(filter, ctx, NULL, errp);
        if (ret < 0) {
            bdrv_unref(filter);
            return NULL;
        }
    }

    aio_context_acquire(ctx);
    bdrv_drained_begin(bs);

    /* bdrv_attach_child() takes this reference over, even on failure */
    bdrv_ref(bs);
    child = bdrv_attach_child(filter, bs, "file", &child_of_bds,
                              BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY, errp);
    if (!child) {
        ret = -EINVAL;
        goto out;
    }
    filter->total_sectors = bs->total_sectors;

    ret = bdrv_replace_node(bs, filter, errp);

out:
    bdrv_drained_end(bs);
    if (ret < 0) {
        bdrv_unref(filter);
        filter = NULL;
    }
    aio_context_release(ctx);
    return filter;
}

int livemerge_filter_remove(BlockDriverState *filter, Error **errp)
{
    AioContext *ctx = bdrv_get_aio_context(filter);
    int ret;

    GLOBAL_STATE_CODE();
    assert(livemerge_is_filter(filter));

    if (livemerge_filter_owner(filter)) {
        error_setg(errp, "it belongs to the job '%s' and leaves the graph "
                   "when that job ends (cancel or complete the job)",
                   livemerge_filter_owner(filter));
        return -EBUSY;
    }
    aio_context_acquire(ctx);
    /* Keep the filter while its parents move away from it */
    bdrv_ref(filter);
    bdrv_drained_begin(filter);
    ret = bdrv_drop_filter(filter, errp);
    bdrv_drained_end(filter);
    bdrv_unref(filter);
    aio_context_release(ctx);
    return ret;
}
