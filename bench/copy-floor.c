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

#define FLOOR_CHUNK MiB

static gboolean fail(GError **error, const char *what, const char *path,
                     guint64 offset)
{
    int err = errno;

    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                "%s %s at %" G_GUINT64_FORMAT ": %s", what, path, offset,
                g_strerror(err));
    return FALSE;
}

/* pread() or pwrite() all of @len, as the short counts require */
static gboolean io_all(gboolean is_read, int fd, const char *path, char *buf,
                       gsize len, guint64 offset, GError **error)
{
    while (len > 0) {
        ssize_t n = is_read ? pread(fd, buf, len, offset)
                            : pwrite(fd, buf, len, offset);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;    /* the file ended early */
            }
            return fail(error, is_read ? "reading" : "writing", path,
                        offset);
        }
        buf += n;
        len -= n;
        offset += n;
    }
    return TRUE;
}

/* The whole range, chunk by chunk, through one buffer */
static gboolean pass(gboolean is_read, int fd, const char *path,
                     guint64 offset, guint64 bytes, char *buf,
                     GError **error)
{
    for (guint64 done = 0; done < bytes; done += FLOOR_CHUNK) {
        if (!io_all(is_read, fd, path, buf, MIN(FLOOR_CHUNK, bytes - done),
                    offset + done, error)) {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean bench_floor_copy(const char *src, guint64 src_offset, guint64 bytes,
                          const char *dst, BenchFloorTimes *times,
                          GError **error)
{
    g_autofree char *buf = g_malloc(FLOOR_CHUNK);
    int src_fd = -1, dst_fd = -1;
    gboolean ok = FALSE;
    double t;

    src_fd = open(src, O_RDONLY | O_CLOEXEC);
    if (src_fd < 0) {
        fail(error, "opening", src, 0);
        goto out;
    }
    dst_fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (dst_fd < 0) {
        fail(error, "opening", dst, 0);
        goto out;
    }
    /* What the read leaves in the buffer is what gets written: data */
    t = bench_now();
    if (!pass(TRUE, src_fd, src, src_offset, bytes, buf, error)) {
        goto out;
    }
    times->read_s = bench_now() - t;
    if (!pass(FALSE, dst_fd, dst, 0, bytes, buf, error)) {
        goto out;
    }
    t = bench_now();
    if (fdatasync(dst_fd) < 0) {
        fail(error, "fdatasync", dst, 0);
        goto out;
    }
    times->flush_s = bench_now() - t;
    ok = TRUE;

out:
    if (src_fd >= 0) {
        close(src_fd);
    }
    if (dst_fd >= 0) {
        close(dst_fd);
    }
    return ok;
}
