/*
 * livemerge graph changes and chain walks
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

int livemerge_graph_move_to_context(BlockDriverState *bs, AioContext *ctx,
                                    Error **errp)
{
    AioContext *old_ctx = bdrv_get_aio_context(bs);
    int ret;

    GLOBAL_STATE_CODE();

    if (old_ctx == ctx) {
        return 0;
    }
    /* bdrv_try_change_aio_context() wants the node's old context held */
    aio_context_acquire(old_ctx);
    ret = bdrv_try_change_aio_context(bs, ctx, NULL, errp);
    aio_context_release(old_ctx);
    return ret;
}

BlockDriverState *livemerge_chain_next(BlockDriverState *bs)
{
    return bdrv_backing_chain_next(bs);
}

bool livemerge_chain_below_contains(BlockDriverState *top,
                                    BlockDriverState *bs)
{
    for (BlockDriverState *it = livemerge_chain_next(top); it;
         it = livemerge_chain_next(it)) {
        if (it == bs) {
            return true;
        }
    }
    return false;
}

BlockDriverState *livemerge_chain_bottom(BlockDriverState *bs)
{
    BlockDriverState *next;

    while ((next = livemerge_chain_next(bs))) {
        bs = next;
    }
    return bs;
}

BlockDriverState *livemerge_overlay_of(BlockDriverState *bs)
{
    BdrvChild *parent;

    QLIST_FOREACH(parent, &bs->parents, next_parent) {
        if (parent->role & BDRV_CHILD_COW) {
            return parent->opaque;
        }
    }
    return NULL;
}

/*
 * A user of @from that must not follow it: a job's own link, or a node of
 * @to's chain (moving it would make a loop)
 */
static bool stays_on_node(BdrvChild *c, BlockDriverState *to)
{
    BlockDriverState *parent;

    if (c->klass->stay_at_node) {
        return true;
    }
    if (c->klass != &child_of_bds) {
        return false;
    }
    parent = c->opaque;
    return parent == to || livemerge_chain_below_contains(to, parent);
}

int livemerge_graph_pivot(BlockDriverState *from, BlockDriverState *to,
                          LivemergePivot *pivot, Error **errp)
{
    g_autoptr(GSList) users = NULL;
    BdrvChild *c;

    GLOBAL_STATE_CODE();

    *pivot = (LivemergePivot) { .from = from, .to = to };
    QLIST_FOREACH(c, &from->parents, next_parent) {
        if (!stays_on_node(c, to)) {
            users = g_slist_prepend(users, c);
        }
    }
    for (GSList *l = users; l; l = l->next) {
        if (bdrv_replace_child_bs(l->data, to, errp) < 0) {
            livemerge_graph_pivot_undo(pivot);
            return -EPERM;
        }
        pivot->moved = g_slist_prepend(pivot->moved, l->data);
    }
    return 0;
}

void livemerge_graph_pivot_undo(LivemergePivot *pivot)
{
    for (GSList *l = pivot->moved; l; l = l->next) {
        /* Back where it was, with the permissions it had there */
        bdrv_replace_child_bs(l->data, pivot->from, &error_abort);
    }
    livemerge_graph_pivot_clear(pivot);
}

void livemerge_graph_pivot_clear(LivemergePivot *pivot)
{
    g_slist_free(g_steal_pointer(&pivot->moved));
}

int livemerge_graph_drop_layers(BlockDriverState *top, BlockDriverState *base,
                                const char *backing_file, Error **errp)
{
    int ret = bdrv_drop_intermediate(top, base, backing_file);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not drop the layers from '%s' "
                         "down to '%s'", bdrv_get_node_name(top),
                         bdrv_get_node_name(base));
    }
    return ret;
}

int livemerge_graph_set_backing(BlockDriverState *bs, BlockDriverState *base,
                                const char *backing_file, Error **errp)
{
    const char *fmt = base && base->drv ? base->drv->format_name : NULL;
    int ret;

    GLOBAL_STATE_CODE();

    if (bdrv_set_backing_hd(bs, base, errp) < 0) {
        return -EPERM;
    }
    if (base && !backing_file) {
        backing_file = base->filename;
    }
    ret = bdrv_change_backing_file(bs, backing_file, fmt, false);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write the backing file of "
                         "'%s'", bdrv_get_node_name(bs));
    }
    return ret;
}
