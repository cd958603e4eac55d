/*
 * livemerge graph changes and chain walks
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every change livemerge makes to the block graph, and every walk of a
 * backing chain, is here: putting the filter in and taking it out, the
 * pivot of a disk's users onto another node (undoable, for groups of
 * disks), the end of a commit and of a stream.  Chain walks skip filter
 * nodes, as QEMU's own jobs do.
 */

#ifndef LIVEMERGE_FILTER_GRAPH_H
#define LIVEMERGE_FILTER_GRAPH_H

#include "block/block_int.h"

/* The livemerge filter directly above @bs, or NULL */
BlockDriverState *livemerge_filter_above(BlockDriverState *bs);

/*
 * Insert a new livemerge filter named @filter_node_name (NULL: an implicit
 * node) directly above @bs: every parent of @bs then goes through it.
 * The filter lives in @bs's AioContext.  Returns a new reference, which
 * the caller owns: a job keeps it for its life; a filter put in place for
 * good drops it and leaves the filter to its parents.
 *
 * Called from the main loop without any AioContext lock held.
 */
BlockDriverState *livemerge_filter_insert(BlockDriverState *bs,
                                          const char *filter_node_name,
                                          Error **errp);

/*
 * Remove @filter from the graph: its parents use its child again.
 * Refused while a job owns the filter (livemerge_filter_set_owner()).
 * Called from the main loop without any AioContext lock held.
 */
int livemerge_filter_remove(BlockDriverState *filter, Error **errp);

/*
 * Move @bs (and what it drags along) into @ctx, where a job's other nodes
 * are: nodes of different contexts cannot replace each other.  Called
 * from the main loop without any AioContext lock held.
 */
int livemerge_graph_move_to_context(BlockDriverState *bs, AioContext *ctx,
                                    Error **errp);

/* The next image below @bs (filters skipped), NULL at the bottom */
BlockDriverState *livemerge_chain_next(BlockDriverState *bs);
/* @bs is in the backing chain of @top, @top excluded */
bool livemerge_chain_below_contains(BlockDriverState *top,
                                    BlockDriverState *bs);
/* The last image of @bs's backing chain (@bs itself if it has none) */
BlockDriverState *livemerge_chain_bottom(BlockDriverState *bs);
/* The image whose backing file @bs is, or NULL */
BlockDriverState *livemerge_overlay_of(BlockDriverState *bs);

/* The users of a node moved onto another one, to be moved back */
typedef struct LivemergePivot {
    BlockDriverState *from;
    BlockDriverState *to;
    GSList *moved;          /* BdrvChild links now on @to */
} LivemergePivot;

/*
 * Move every user of @from (exports, the filter, other nodes; not the
 * links of jobs) onto @to, recording each in @pivot.  On failure the ones
 * already moved are moved back.  Call with both nodes drained.
 */
int livemerge_graph_pivot(BlockDriverState *from, BlockDriverState *to,
                          LivemergePivot *pivot, Error **errp);
/* Move the users of a successful pivot back (a group pivot failed) */
void livemerge_graph_pivot_undo(LivemergePivot *pivot);
/* Forget the record of a pivot that stays */
void livemerge_graph_pivot_clear(LivemergePivot *pivot);

/*
 * The end of a commit: the overlay of @top backs onto @base, its header
 * gets @backing_file (NULL: what QEMU writes), and the layers from @top
 * down to @base leave the chain.
 */
int livemerge_graph_drop_layers(BlockDriverState *top, BlockDriverState *base,
                                const char *backing_file, Error **errp);

/*
 * The end of a stream: @bs backs onto @base (NULL: nothing) in the graph
 * and in its image header, which gets @backing_file (NULL: @base's
 * filename).
 */
int livemerge_graph_set_backing(BlockDriverState *bs, BlockDriverState *base,
                                const char *backing_file, Error **errp);

#endif
