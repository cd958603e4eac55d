/*
 * livemerge dirty map: which regions the destination does not yet hold
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A region bitmap at the job's granularity.  A clear bit means "the
 * destination holds what the guest reads here"; a set bit means it must
 * be copied (again).  It is the one place that knows what is done, so it
 * is also where persisting progress will live.  The engine keeps other
 * sets of regions in the same structure (what a commit that empties its
 * top has copied, and has moved): "dirty" then means "in the set".
 */

#ifndef LIVEMERGE_DIRTY_MAP_H
#define LIVEMERGE_DIRTY_MAP_H

#include "qemu/hbitmap.h"

typedef struct DirtyMap {
    HBitmap *bitmap;
    int64_t length;
    int64_t granularity;
} DirtyMap;

void dirty_map_init(DirtyMap *map, int64_t length, int64_t granularity);
void dirty_map_destroy(DirtyMap *map);

/*
 * Mark every region that [offset, offset + bytes) touches.  Returns the
 * bytes that were clean before.
 */
int64_t dirty_map_set(DirtyMap *map, int64_t offset, int64_t bytes);
/*
 * Clear the regions [offset, offset + bytes) covers; must be aligned.
 * Returns the bytes that were dirty before.
 */
int64_t dirty_map_clear(DirtyMap *map, int64_t offset, int64_t bytes);

bool dirty_map_is_dirty(DirtyMap *map, int64_t offset, int64_t bytes);
bool dirty_map_all_dirty(DirtyMap *map, int64_t offset, int64_t bytes);
int64_t dirty_map_count(DirtyMap *map);

/*
 * The first dirty area at or after @start (wrapping to 0 when none
 * follows), at most @max_bytes long.  False when the map is clean.
 */
bool dirty_map_next(DirtyMap *map, int64_t start, int64_t max_bytes,
                    int64_t *offset, int64_t *bytes);

/*
 * The length of the run of regions from @offset on (at most @bytes) that
 * are all dirty or all clean, and which (*dirty)
 */
int64_t dirty_map_run(DirtyMap *map, int64_t offset, int64_t bytes,
                      bool *dirty);

/* Add every region of @from to @to (same length and granularity); @from empties */
void dirty_map_take_all(DirtyMap *to, DirtyMap *from);

#endif
