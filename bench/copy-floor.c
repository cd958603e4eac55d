/*
 * livemerge benchmark harness - the machine floor of a copy
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "copy-floor.h"
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <gio/gio.h>

#define FLOOR_THREADS 16
#define FLOOR_CHUNK MiB

typedef struct {
    int src_fd;
    int dst_fd;
    guint64 src_offset;
    guint64 bytes;

    GMutex lock;        /* protects what follows */
    guint64 next;       /* the next chunk not taken yet */
    GError *error;      /* the first failure */
} FloorCopy;

static void fail(FloorCopy *fc, const char *what, guint64 offset, int err)
{
    g_mutex_lock(&fc->lock);
    if (!fc->error) {
        g_set_error(&fc->error, G_IO_ERROR, g_io_error_from_errno(err),
                    "%s at %" G_GUINT64_FORMAT ": %s", what, offset,
                    g_strerror(err));
    }
    fc->next = fc->bytes;   /* the others stop at their next chunk */
    g_mutex_unlock(&fc->lock);
}

/* Another chunk's offset in the copy, FALSE when none is left */
static gboolean take_chunk(FloorCopy *fc, guint64 *offset, gsize *len)
{
    gboolean any;

    g_mutex_lock(&fc->lock);
    any = fc->next < fc->bytes;
    if (any) {
        *offset = fc->next;
        *len = MIN(FLOOR_CHUNK, fc->bytes - fc->next);
        fc->next += *len;
    }
    g_mutex_unlock(&fc->lock);
    return any;
}

/* pread() or pwrite() all of @len, as the short counts require */
static gboolean io_all(gboolean is_read, int fd, char *buf, gsize len,
                       off_t offset, int *err)
{
    while (len > 0) {
        ssize_t n = is_read ? pread(fd, buf, len, offset)
                            : pwrite(fd, buf, len, offset);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            *err = n < 0 ? errno : EIO;   /* EIO: the file ended early */
            return FALSE;
        }
        buf += n;
        len -= n;
        offset += n;
    }
    return TRUE;
}

static gpointer copy_thread(gpointer opaque)
{
    FloorCopy *fc = opaque;
    g_autofree char *buf = g_malloc(FLOOR_CHUNK);
    guint64 offset;
    gsize len;
    int err;

    while (take_chunk(fc, &offset, &len)) {
        if (!io_all(TRUE, fc->src_fd, buf, len, fc->src_offset + offset,
                    &err)) {
            fail(fc, "reading", fc->src_offset + offset, err);
        } else if (!io_all(FALSE, fc->dst_fd, buf, len, offset, &err)) {
            fail(fc, "writing", offset, err);
        }
    }
    return NULL;
}

gboolean bench_floor_copy(const char *src, guint64 src_offset, guint64 bytes,
                          const char *dst, BenchFloorTimes *times,
                          GError **error)
{
    FloorCopy fc = { .src_offset = src_offset, .bytes = bytes };
    GThread *threads[FLOOR_THREADS];
    gboolean ok = FALSE;
    double t0, t1;

    g_mutex_init(&fc.lock);
    fc.src_fd = open(src, O_RDONLY | O_CLOEXEC);
    fc.dst_fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fc.src_fd < 0 || fc.dst_fd < 0) {
        int err = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "opening %s: %s", fc.src_fd < 0 ? src : dst,
                    g_strerror(err));
        goto out;
    }

    t0 = bench_now();
    for (int i = 0; i < FLOOR_THREADS; i++) {
        threads[i] = g_thread_new("floor-copy", copy_thread, &fc);
    }
    for (int i = 0; i < FLOOR_THREADS; i++) {
        g_thread_join(threads[i]);
    }
    t1 = bench_now();
    if (fc.error) {
        g_propagate_prefixed_error(error, g_steal_pointer(&fc.error),
                                   "%s to %s: ", src, dst);
        goto out;
    }
    if (fdatasync(fc.dst_fd) < 0) {
        int err = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "fdatasync %s: %s", dst, g_strerror(err));
        goto out;
    }
    times->copy_s = t1 - t0;
    times->flush_s = bench_now() - t1;
    ok = TRUE;

out:
    if (fc.src_fd >= 0) {
        close(fc.src_fd);
    }
    if (fc.dst_fd >= 0) {
        close(fc.dst_fd);
    }
    g_mutex_clear(&fc.lock);
    return ok;
}
