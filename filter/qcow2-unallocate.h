/*
 * livemerge: give clusters of a qcow2 overlay back to its backing file
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * An active commit can empty its top layer as it goes: once a region is
 * in the base (and durable there), the top's clusters of it are freed so
 * that the top reads through to the base, and from then on the guest's
 * writes to the region need to go to the base alone.  The block layer
 * has no request for that: a discard makes qcow2 v3 clusters read as
 * zeroes, not as the backing file.  qcow2 itself does it (a "full"
 * discard, what bdrv_make_empty() uses on the whole image), and the
 * daemon exports the function, so it is called here, as qcow2's own
 * discard calls it.
 */

#ifndef LIVEMERGE_QCOW2_UNALLOCATE_H
#define LIVEMERGE_QCOW2_UNALLOCATE_H

#include "qemu-compat.h"

/*
 * Whether regions of @bs aligned to @granularity can be given back to its
 * backing file: a qcow2 image with a backing file and its data in its own
 * file, whose clusters divide @granularity.
 */
bool GRAPH_RDLOCK lm_qcow2_can_unallocate(BlockDriverState *bs,
                                          int64_t granularity);

/* A range of the image's guest offsets */
typedef struct LmRange {
    int64_t offset;
    int64_t bytes;
} LmRange;

/*
 * Free the clusters of @count ranges of @bs, which then reads its backing
 * file there.  The freed clusters are not discarded in the image file (a
 * read still in flight would find zeroes there), nor allocated again
 * soon, and the changed tables are written to the image file once, before
 * it returns (not flushed).  The caller keeps every other request of the
 * ranges out meanwhile and has made what the backing file holds there
 * durable first: the tables may reach the disk at any time.
 */
int coroutine_fn GRAPH_RDLOCK lm_qcow2_co_unallocate(BlockDriverState *bs,
                                                     const LmRange *ranges,
                                                     unsigned count);

#endif
