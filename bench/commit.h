/*
 * livemerge benchmark harness - one intermediate job, by any method: a
 * commit of mid into base, or a stream of mid into top (both leave top on
 * base, having copied mid's data)
 *
 * The chain is base <- mid <- top (top exported, as a guest's disk): base
 * holds data at its start, mid the bytes to commit spread over the whole
 * disk, top a few MiB.  A pristine set is built once and copied for every
 * run, so every method starts from identical images.  Afterwards the top
 * must back onto the base, both images must pass qemu-img check, and the
 * guest's view of the top must equal the pristine one.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_COMMIT_H
#define BENCH_COMMIT_H

#include "bench.h"
#include "report.h"

G_BEGIN_DECLS

typedef enum {
    BENCH_INTER_LIVEMERGE,      /* livemerge-commit */
    BENCH_INTER_QEMU,           /* QEMU's block-commit */
    BENCH_INTER_QEMU_IMG,       /* offline qemu-img commit + rebase -u */
    BENCH_INTER_RAW_COPY,       /* fio: read + write the same bytes */
    BENCH_INTER_IDLE,           /* the daemon with the chain, no job */
    BENCH_INTER_LIVEMERGE_STREAM, /* livemerge-stream, base-node base */
    BENCH_INTER_QEMU_STREAM,    /* QEMU's block-stream, base-node base */
    /* fio: read mid's data from the cold image while writing as many
     * bytes to a new file, fsync: the bound a job on this chain has */
    BENCH_INTER_FLOOR,
} BenchInterMethod;

extern const char *const bench_inter_method_name[];

/* A row of a scenario's table: what runs, named how */
typedef struct {
    BenchInterMethod m;
    gboolean ab;                /* with the previous build's plugin */
    const char *method;         /* the results' (previous build: "-ab") */
    const char *label;          /* the table's */
} BenchInterRow;

typedef struct {
    char *dir;                  /* pristine base/mid/top.qcow2 */
    char *raw_src;              /* a plain file of @alloc bytes (raw copy) */
    guint64 mid_data_offset;    /* mid.qcow2's data: bench_image_data_span() */
    guint64 mid_data_len;
    guint64 disk;
    guint64 alloc;
    char *label;                /* "1G/2G" */
} BenchChain;

/* Build a pristine chain under the work dir, named @name */
BenchChain *bench_chain_build(Bench *b, const char *name, guint64 disk,
                              guint64 alloc, gboolean with_raw_src);
void bench_chain_free(BenchChain *c);

typedef struct {
    BenchInterMethod method;
    gboolean direct;            /* cache.direct=on / qemu-img -t none */
    guint64 buf_size;           /* livemerge buf-size (0: default) */
    int max_in_flight;          /* livemerge max-in-flight (0: default) */
    gboolean measure_rss;       /* record the daemon's VmHWM */
    gboolean stock_daemon;      /* BENCH_INTER_IDLE without the plugin */
    gboolean ab;                /* livemerge with the previous build's
                                 * plugin (--ab-plugin) */
} BenchInterOpts;

/* The daemon @o runs in (BENCH_DAEMON_*; none for offline methods: -1) */
int bench_inter_daemon(Bench *b, const BenchInterOpts *o);
/* ... by its name in the results ("none" for offline methods) */
const char *bench_inter_daemon_name(Bench *b, const BenchInterOpts *o);

/*
 * One run into @run: time_s (command to BLOCK_JOB_COMPLETED, or the
 * offline tool), durable_s (+ syncfs of the images' filesystem),
 * throughput (allocated bytes / durable_s), peak_rss (if asked).
 */
void bench_inter_run(Bench *b, BenchChain *c, const BenchInterOpts *o,
                     BenchRun *run);

G_END_DECLS

#endif /* BENCH_COMMIT_H */
