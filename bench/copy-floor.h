/*
 * livemerge benchmark harness - the machine floor of a copy: the disk's
 * own time to read the bytes a job moves from a cold file and to write
 * them back durably, without QEMU
 *
 * The floor is the sum of two times measured apart: mid's data read in
 * order by one thread (the kernel's readahead at its best: 16 threads
 * reading 1 MiB each were slower), then as many bytes written to a new
 * file through the page cache (not counted: a copy does that while it
 * reads) and fdatasync()'d.  It adds them because on this machine reading
 * and writing back at once gained nothing: fio's concurrent read and
 * write jobs took longer than the sum, and a stream flushing every 64 MiB
 * as it pulled was no faster than one flushing at the end.  A copy made
 * of the same I/O (16 threads, pread and pwrite of 1 MiB, fdatasync) was
 * tried too and came out no faster than livemerge-stream: not a floor.
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
    double read_s;      /* every byte read, cold */
    double flush_s;     /* fdatasync() of every byte written */
} BenchFloorTimes;

/*
 * Read [@src_offset, @src_offset + @bytes) of @src, write as many bytes
 * to @dst (created or truncated) and fdatasync() it.  FALSE with @error
 * naming the file and the call that failed.
 */
gboolean bench_floor_copy(const char *src, guint64 src_offset, guint64 bytes,
                          const char *dst, BenchFloorTimes *times,
                          GError **error);

G_END_DECLS

#endif /* BENCH_COPY_FLOOR_H */
