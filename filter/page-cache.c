/*
 * livemerge: keep what a copy wrote out of the host's page cache
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"

#include "page-cache.h"

typedef struct FileExtent {
    int64_t offset;
    int64_t bytes;
} FileExtent;

typedef struct DropRequest {
    const char *filename;
    GArray *extents;
} DropRequest;

bool GRAPH_RDLOCK lm_page_cache_holds(BlockDriverState *bs)
{
    BlockDriverState *file = bs->file ? bs->file->bs : NULL;

    return file && file->drv && g_str_equal(file->drv->format_name, "file") &&
           !(file->open_flags & BDRV_O_NOCACHE);
}

/*
 * In a worker thread: the kernel walks every page of an extent, some
 * milliseconds for tens of MiB, which the guest's requests would wait
 * for in the daemon's loop.  A descriptor of our own, as file-posix's is
 * not reachable: the page cache is the file's, whichever opened it.
 */
static int drop_pages(void *opaque)
{
    DropRequest *req = opaque;
    int fd = open(req->filename, O_RDONLY | O_CLOEXEC);
    guint i;

    if (fd < 0) {
        return -errno;
    }
    for (i = 0; i < req->extents->len; i++) {
        FileExtent *ext = &g_array_index(req->extents, FileExtent, i);

        posix_fadvise(fd, ext->offset, ext->bytes, POSIX_FADV_DONTNEED);
    }
    close(fd);
    return 0;
}

/* Append the file extents [offset, offset + bytes) of @bs maps to */
static void coroutine_fn GRAPH_RDLOCK map_extents(BlockDriverState *bs,
                                                  int64_t offset,
                                                  int64_t bytes,
                                                  GArray *extents)
{
    BlockDriverState *data = bs->file->bs;
    int64_t end = offset + bytes;

    while (offset < end) {
        BlockDriverState *file = NULL;
        int64_t n, map;
        int ret = bdrv_co_block_status(bs, offset, end - offset, &n, &map,
                                       &file);
        FileExtent *last = extents->len ?
            &g_array_index(extents, FileExtent, extents->len - 1) : NULL;

        if (ret < 0 || n == 0) {
            return;
        }
        if ((ret & BDRV_BLOCK_OFFSET_VALID) && file == data) {
            if (last && last->offset + last->bytes == map) {
                last->bytes += n;
            } else {
                FileExtent ext = { .offset = map, .bytes = n };

                g_array_append_val(extents, ext);
            }
        }
        offset += n;
    }
}

void coroutine_fn GRAPH_RDLOCK lm_page_cache_co_drop(BlockDriverState *bs,
                                                     DirtyMap *regions)
{
    g_autoptr(GArray) extents = g_array_new(FALSE, FALSE, sizeof(FileExtent));
    g_autofree char *filename = NULL;
    int64_t cursor = 0, offset, bytes;

    if (!lm_page_cache_holds(bs)) {
        return;
    }
    /* The map wraps around: a run before the cursor means none after */
    while (dirty_map_next(regions, cursor, INT64_MAX, &offset, &bytes) &&
           offset >= cursor) {
        map_extents(bs, offset, bytes, extents);
        cursor = offset + bytes;
    }
    if (extents->len) {
        DropRequest req = {
            .filename = filename = g_strdup(bs->file->bs->filename),
            .extents = extents,
        };

        lm_thread_pool_co(drop_pages, &req);
    }
}
