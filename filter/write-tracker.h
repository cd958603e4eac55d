/*
 * livemerge write tracker: writes to a source chain that bypass the filter
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The filter sees the guest's writes, but another parent may write to a
 * node of the source chain directly (an export added to the active layer
 * while a job runs, a writer on an intermediate image).  Permissions
 * cannot keep such writers out: writes unshared on a node are unshared on
 * its backing chain, which would block the job's own writes to a base.
 * So every node of the chain gets an anonymous dirty bitmap, which the
 * block layer sets when a write to the node completes, whoever sent it.
 *
 * The copy engine's own writes to those nodes (a guest write through the
 * filter) set the bitmaps too.  Each node's write generation counts every
 * completed write; the engine reports the writes it made, so that when
 * the two agree the bitmap holds only the engine's own writes and is
 * cleared.  When they do not, everything the bitmap holds is handed back
 * as dirty: conservative (the engine's own writes of that interval are
 * copied again), never blind to a write of someone else.
 */

#ifndef LIVEMERGE_WRITE_TRACKER_H
#define LIVEMERGE_WRITE_TRACKER_H

#include "block/block_int.h"

typedef struct WriteTracker WriteTracker;

/*
 * Track writes to @top and every image below it, down to but excluding
 * @base (NULL: the whole chain), at @granularity.
 */
WriteTracker *write_tracker_new(BlockDriverState *top, BlockDriverState *base,
                                int64_t granularity, Error **errp);
void write_tracker_free(WriteTracker *t);

/*
 * A write of the caller's own to @bs has just completed with @ret.  Call
 * it in the same coroutine run as the write's completion (no yield in
 * between), so that no collection sees one without the other.  Report
 * a discard only if the block layer counted it (it drops a discard to a
 * node that does not take discards before counting it).
 */
void write_tracker_note_own_write(WriteTracker *t, BlockDriverState *bs,
                                  int ret);

typedef void WriteTrackerMarkFn(void *opaque, int64_t offset, int64_t bytes);

/*
 * Call @mark for every region that a write not reported as the caller's
 * own may have changed since the last collection, and start over.
 */
void write_tracker_collect(WriteTracker *t, WriteTrackerMarkFn *mark,
                           void *opaque);

#endif
