/*
 * livemerge test harness - the guest's block stamp format
 *
 * Each 64-byte unit of a stamped block holds eight little-endian u64:
 *   magic, block offset, generation, checksum(magic, offset, generation),
 *   then four filler words derived from the checksum and the unit index.
 * A unit therefore identifies the write it came from on its own, which is
 * what lets a read tell a torn block (units of different writes) from a
 * stale one (an older write) or garbage.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_TEST_STAMP_H
#define LM_TEST_STAMP_H

#include "lm-test-guest.h"

#define LM_TEST_STAMP_UNIT 64

/* Fill @buf (@block_size bytes) with the stamp of (@offset, @gen). */
void lm_test_stamp_fill(guint8 *buf, guint block_size, guint64 offset,
                        guint64 gen);
/* Say what the @block_size bytes at @buf hold. */
void lm_test_stamp_decode(const guint8 *buf, guint block_size,
                          LmTestBlockContent *content);

#endif /* LM_TEST_STAMP_H */
