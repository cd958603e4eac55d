/*
 * livemerge filter: putting the node into the graph and taking it out
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
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

#endif
