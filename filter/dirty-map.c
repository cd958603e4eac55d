/*
 * livemerge dirty map: which regions the destination does not yet hold
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/hbitmap.h"

#include "dirty-map.h"

void dirty_map_init(DirtyMap *map, int64_t length, int64_t granularity)
{
    assert(is_power_of_2(granularity));
    map->bitmap = hbitmap_alloc(length, ctz64(granularity));
    map->length = length;
    map->granularity = granularity;
}

void dirty_map_destroy(DirtyMap *map)
{
    if (map->bitmap) {
        hbitmap_free(map->bitmap);
        map->bitmap = NULL;
    }
}

int64_t dirty_map_set(DirtyMap *map, int64_t offset, int64_t bytes)
{
    int64_t before = dirty_map_count(map);

    if (bytes > 0) {
        hbitmap_set(map->bitmap, offset, bytes);
    }
    return dirty_map_count(map) - before;
}

int64_t dirty_map_clear(DirtyMap *map, int64_t offset, int64_t bytes)
{
    int64_t before = dirty_map_count(map);

    assert(QEMU_IS_ALIGNED(offset, map->granularity));
    assert(QEMU_IS_ALIGNED(bytes, map->granularity) ||
           offset + bytes == map->length);
    if (bytes > 0) {
        hbitmap_reset(map->bitmap, offset, bytes);
    }
    return before - dirty_map_count(map);
}

bool dirty_map_is_dirty(DirtyMap *map, int64_t offset, int64_t bytes)
{
    return hbitmap_next_dirty(map->bitmap, offset, bytes) >= 0;
}

bool dirty_map_all_dirty(DirtyMap *map, int64_t offset, int64_t bytes)
{
    return hbitmap_next_zero(map->bitmap, offset, bytes) < 0;
}

int64_t dirty_map_count(DirtyMap *map)
{
    /* hbitmap counts in bytes covered by set bits */
    return MIN(hbitmap_count(map->bitmap), map->length);
}

bool dirty_map_next(DirtyMap *map, int64_t start, int64_t max_bytes,
                    int64_t *offset, int64_t *bytes)
{
    start = QEMU_ALIGN_DOWN(start, map->granularity);
    if (start >= map->length) {
        start = 0;
    }
    if (hbitmap_next_dirty_area(map->bitmap, start, map->length, max_bytes,
                                offset, bytes)) {
        return true;
    }
    return start > 0 &&
           hbitmap_next_dirty_area(map->bitmap, 0, start, max_bytes,
                                   offset, bytes);
}

void dirty_map_take_all(DirtyMap *to, DirtyMap *from)
{
    assert(to->length == from->length &&
           to->granularity == from->granularity);
    hbitmap_merge(to->bitmap, from->bitmap, to->bitmap);
    hbitmap_reset_all(from->bitmap);
}

int64_t dirty_map_run(DirtyMap *map, int64_t offset, int64_t bytes,
                      bool *dirty)
{
    int64_t next;

    *dirty = hbitmap_get(map->bitmap, offset);
    next = *dirty ? hbitmap_next_zero(map->bitmap, offset, bytes)
                  : hbitmap_next_dirty(map->bitmap, offset, bytes);
    return next < 0 ? bytes : next - offset;
}
