/*
 * livemerge: keep what a copy wrote out of the host's page cache
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A copy into an image the daemon opened on the host's page cache fills
 * a new page for every block it writes: gigabytes of cache that the guest
 * does not read back (it caches what it reads itself), that push out what
 * others do read, and that the host must find memory for as the copy
 * goes.  Where freed memory is handed back to a hypervisor (free page
 * reporting), each new page is a fault there too: 1.5 GiB written into
 * new pages cost 2.2 s of CPU here, into pages freed a moment before
 * 0.4 s.  Once a copied region is durable its pages are clean, and
 * dropping them returns them to the allocator while they are still
 * warm: the copies that follow reuse them.
 */

#ifndef LIVEMERGE_PAGE_CACHE_H
#define LIVEMERGE_PAGE_CACHE_H

#include "qemu-compat.h"
#include "dirty-map.h"

/* Whether @bs keeps its data in its own image file, on the page cache */
bool GRAPH_RDLOCK lm_page_cache_holds(BlockDriverState *bs);

/*
 * Drop the host's cached pages of what the regions of @bs that @regions
 * marks map to in its image file.  Only clean pages go (dirty ones are
 * written back as usual, and the kernel starts that now); a hint, so
 * failures are ignored.  The kernel's part is done in the thread pool, in
 * one trip for all the regions.
 */
void coroutine_fn GRAPH_RDLOCK lm_page_cache_co_drop(BlockDriverState *bs,
                                                     DirtyMap *regions);

#endif
