/*
 * livemerge benchmark harness - the machine floor of a copy: the same
 * bytes a job moves, read from a cold file and written durably, without
 * QEMU
 *
 * What a copy through the page cache does at best on this machine: 16
 * threads each read 1 MiB with pread() and write it with pwrite() (the
 * I/O QEMU's thread pool issues for 16 copies of 1 MiB in flight, minus
 * QEMU), then one fdatasync().  fio's concurrent read and write jobs
 * (scenario 1's raw copy) are no floor here: they compete for the disk
 * in a way no copy does, and a stream came out faster than them.  Of the
 * layouts tried (1 to 64 threads, 1 to 4 MiB, flushing along the way)
 * this one was the fastest.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_COPY_FLOOR_H
#define BENCH_COPY_FLOOR_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    double copy_s;      /* every byte read and written (page cache) */
    double flush_s;     /* the fdatasync() after it */
} BenchFloorTimes;

/*
 * Copy [@src_offset, @src_offset + @bytes) of @src to [0, @bytes) of @dst
 * (created or truncated) and fdatasync() it.  FALSE with @error naming
 * the file and the call that failed.
 */
gboolean bench_floor_copy(const char *src, guint64 src_offset, guint64 bytes,
                          const char *dst, BenchFloorTimes *times,
                          GError **error);

G_END_DECLS

#endif /* BENCH_COPY_FLOOR_H */
