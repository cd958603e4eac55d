/*
 * livemerge write tracker: writes to a source chain that bypass the filter
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "block/dirty-bitmap.h"
#include "qemu/atomic.h"

#include "write-tracker.h"

typedef struct TrackedNode {
    BlockDriverState *bs;
    BdrvDirtyBitmap *bitmap;
    /* bs->write_gen at the last collection */
    unsigned int seen_gen;
    /* Writes of the caller's own completed since then */
    unsigned int own_writes;
} TrackedNode;

struct WriteTracker {
    GArray *nodes;          /* of TrackedNode */
};

static void tracked_node_clear(gpointer data)
{
    TrackedNode *n = data;

    bdrv_dirty_bitmap_set_busy(n->bitmap, false);
    bdrv_release_dirty_bitmap(n->bitmap);
    bdrv_unref(n->bs);
}

WriteTracker * GRAPH_RDLOCK write_tracker_new(BlockDriverState *top, BlockDriverState *base,
                                int64_t granularity, Error **errp)
{
    WriteTracker *t = g_new0(WriteTracker, 1);

    t->nodes = g_array_new(false, true, sizeof(TrackedNode));
    g_array_set_clear_func(t->nodes, tracked_node_clear);

    for (BlockDriverState *bs = top; bs && bs != base;
         bs = bdrv_backing_chain_next(bs)) {
        TrackedNode n = { .bs = bs };

        n.bitmap = bdrv_create_dirty_bitmap(bs, granularity, NULL, errp);
        if (!n.bitmap) {
            write_tracker_free(t);
            return NULL;
        }
        /* Nobody but us may touch it */
        bdrv_dirty_bitmap_set_busy(n.bitmap, true);
        bdrv_ref(bs);
        n.seen_gen = qatomic_read(&bs->write_gen);
        g_array_append_val(t->nodes, n);
    }
    return t;
}

void write_tracker_free(WriteTracker *t)
{
    if (t) {
        g_array_unref(t->nodes);
        g_free(t);
    }
}

void write_tracker_note_own_write(WriteTracker *t, BlockDriverState *bs,
                                  int ret)
{
    /* A failed write may or may not have counted: leave it unexplained */
    if (ret < 0) {
        return;
    }
    for (guint i = 0; i < t->nodes->len; i++) {
        TrackedNode *n = &g_array_index(t->nodes, TrackedNode, i);

        if (n->bs == bs) {
            n->own_writes++;
            return;
        }
    }
}

/* Hand every dirty area of @n's bitmap to @mark (if any), then clear it */
static void drain_bitmap(TrackedNode *n, WriteTrackerMarkFn *mark,
                         void *opaque)
{
    int64_t end = bdrv_dirty_bitmap_size(n->bitmap);
    int64_t offset = 0, start, bytes;

    while (bdrv_dirty_bitmap_next_dirty_area(n->bitmap, offset, end,
                                             INT64_MAX, &start, &bytes)) {
        if (mark) {
            mark(opaque, start, bytes);
        }
        bdrv_reset_dirty_bitmap(n->bitmap, start, bytes);
        offset = start + bytes;
    }
}

void write_tracker_collect(WriteTracker *t, WriteTrackerMarkFn *mark,
                           void *opaque)
{
    for (guint i = 0; i < t->nodes->len; i++) {
        TrackedNode *n = &g_array_index(t->nodes, TrackedNode, i);
        unsigned int gen = qatomic_read(&n->bs->write_gen);
        bool only_ours = gen - n->seen_gen == n->own_writes;

        if (gen == n->seen_gen) {
            continue;
        }
        /* Our own writes are taken care of where they are made */
        drain_bitmap(n, only_ours ? NULL : mark, opaque);
        n->seen_gen = gen;
        n->own_writes = 0;
    }
}
