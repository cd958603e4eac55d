/*
 * livemerge benchmark harness - fio as the guest, and as the raw copy
 * reference
 *
 * The guest is fio's nbd engine on the daemon's export.  A load runs
 * time-based with a warm-up (--ramp_time) that fio leaves out of its
 * statistics; the bench starts the job when the warm-up ends and stops
 * fio with SIGINT when the job is over, so fio's own numbers (IOPS,
 * latency percentiles) cover exactly the job.  fio then still prints its
 * JSON report and writes its logs (log_avg_msec=250), whose time 0 is the
 * end of the warm-up.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_FIO_H
#define BENCH_FIO_H

#include <glib.h>

G_BEGIN_DECLS

/* fio averages its IOPS/latency logs over windows of this many ms */
#define BENCH_FIO_LOG_MSEC 250

typedef struct {
    const char *name;       /* "4k-qd16", "64k-qd4" */
    const char *rw;         /* fio rw= */
    guint64 bs;
    int iodepth;
} BenchLoadSpec;

typedef struct {
    const BenchLoadSpec *spec;
    const char *nbd_socket;
    const char *export_name;
    guint64 offset;         /* the region the guest writes */
    guint64 size;
    double ramp_s;
    double runtime_s;       /* 0: until bench_fio_stop() */
    const char *dir;        /* fio.json, fio.log and the logs go here */
    /* Non-zero: every byte the guest writes is this (no scrambling), so
     * what it wrote can be told from what it did not */
    guint8 pattern;
    /* Non-NULL: fio logs every I/O it issues there (write_iolog), for
     * bench_fio_written_blocks() */
    const char *iolog;
} BenchFioLoad;

typedef struct {
    double iops;
    double bw_mib;          /* MiB/s */
    double lat_mean_us;     /* submission to completion; NAN: no samples */
    double lat_p50_us;
    double lat_p99_us;
    double lat_p999_us;
    double runtime_s;       /* what fio measured (after the warm-up) */
    guint64 ios;
} BenchFioStats;

typedef struct BenchFio BenchFio;

BenchFio *bench_fio_start(const BenchFioLoad *load, GError **error);
/* Wait for the warm-up to end (from fio's "connected to NBD server") */
void bench_fio_wait_ramp(BenchFio *f);
/* Monotonic time at which the warm-up ends: fio's log time 0 (after
 * bench_fio_wait_ramp()) */
double bench_fio_t0(BenchFio *f);
/* Stop (SIGINT unless it ends by itself), wait, parse.  Frees @f. */
gboolean bench_fio_finish(BenchFio *f, BenchFioStats *stats, GError **error);
/* Kill and free (error paths) */
void bench_fio_free(BenchFio *f);

/*
 * The machine's raw copy rate: fio reads @bytes of @src while it writes
 * @bytes to @dst (new file), 1 MiB requests at queue depth 16, O_DIRECT
 * or buffered with an fsync at the end.  *@seconds: the longer job's
 * runtime as fio measured it (start-up excluded, end_fsync included).
 */
gboolean bench_fio_copy(const char *src, const char *dst, guint64 bytes,
                        gboolean direct, const char *json_path,
                        double *seconds, GError **error);

/* A fio log (time ms, value, ...) as pairs of doubles: t [s], value */
GArray *bench_fio_read_log(const char *path);

/*
 * The integral of a fio IOPS log (log_avg_msec windows, each entry the
 * average over the window that ends at its time) over [@t0, @t1] seconds:
 * the I/Os completed then.  @window_s: the log's averaging window.
 */
double bench_fio_log_integral(GArray *log, double window_s, double t0,
                              double t1);

/*
 * Which @block-sized blocks of [0, @disk) a write_iolog says were
 * written: one byte per block, 1 = written.  NULL with @error if the log
 * cannot be read or names a write outside the disk.
 */
guint8 *bench_fio_written_blocks(const char *iolog, guint64 disk,
                                 guint64 block, GError **error);

G_END_DECLS

#endif /* BENCH_FIO_H */
