/*
 * livemerge tests - is a set of images one instant of a set of disks?
 *
 * Each disk's guest writes on a shared LmTestGuestClock, which logs every
 * acknowledged write with the clock at that moment.  A copy of the disks
 * taken at one instant T (all drained together) holds, on every disk,
 * every write acknowledged before T and none issued after it.  The test
 * cannot see T, but it can see the newest write G any copy holds: G was
 * issued before T, so every write (on any disk) acknowledged before G was
 * issued must be in its copy, or overwritten there by a later write to
 * the same block.  A copy that misses such a write holds a write newer
 * than one another copy lacks: the copies are not one instant.
 * (A block of zeroes carries no generation: it counts as any write of
 * zeroes made there.)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CONSISTENT_CUT_H
#define CONSISTENT_CUT_H

#include <glib.h>

#include "lm-test-guest.h"

G_BEGIN_DECLS

typedef struct {
    LmTestGuest *guest;      /* the disk's guest, on the shared clock */
    const char *image;       /* the copy of the disk, read offline */
    const char *fmt;         /* "qcow2" or "raw" */
} ConsistentCutDisk;

/*
 * Asserts the @n copies are one instant of the @n disks: every block of
 * every copy holds zeros or a write its guest made to that block, and no
 * write acknowledged before the newest write held anywhere was issued is
 * missing.  The images must not be open read-write elsewhere.
 */
void consistent_cut_assert(const ConsistentCutDisk *disks, guint n);
/*
 * The same, TRUE or FALSE (what is missing goes to the test log); blocks
 * that hold what their guest never wrote there still fail the test.
 */
gboolean consistent_cut_check(const ConsistentCutDisk *disks, guint n);

G_END_DECLS

#endif /* CONSISTENT_CUT_H */
