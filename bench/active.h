/*
 * livemerge benchmark harness - active jobs under a guest: what scenarios
 * 2, 3, 4, 7 and 8 share
 *
 * The disk is base <- overlay (overlay exported, the active layer).  The
 * overlay holds data in the first half of the disk; the guest (fio, nbd
 * engine) writes the second half, or, in the "-whole" loads, the whole
 * disk, the region being copied included: every byte it writes is then
 * one pattern and fio logs every write, so the guest's final view is
 * checked block by block.  Each run: fresh images and daemon, fio warms
 * up, the job starts, READY (or the cap: "never", then block-job-cancel),
 * READY held for a moment under load, pivot (block-job-complete to
 * BLOCK_JOB_COMPLETED), fio stopped.  fio's numbers cover the job from
 * its start to its end.  Afterwards every image passes qemu-img check and
 * the guest's view is what it should be (half-disk loads: the first half
 * equals the pristine one; whole-disk loads: every block reads what the
 * guest last wrote there or, where it never wrote, the pristine data).
 *
 * Methods: livemerge in each copy mode (also with another build of the
 * plugin, --ab-plugin, and with a given guest-impact), QEMU's active
 * commit (block-commit on the active layer: QEMU's mirror in background
 * mode), QEMU's blockdev-mirror with copy-mode=write-blocking (to a new
 * overlay on the same base: the same bytes to copy; QEMU cannot mirror
 * into a backing node) and in background mode, livemerge-mirror the same
 * way, and the guest with no job as the baseline.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_ACTIVE_H
#define BENCH_ACTIVE_H

#include "bench.h"
#include "fio.h"
#include "report.h"

G_BEGIN_DECLS

typedef enum {
    AM_LM_BACKGROUND,
    AM_LM_WRITE_BLOCKING,
    AM_LM_ADAPTIVE,
    AM_LM_AB,               /* adaptive, the previous plugin (--ab-plugin) */
    AM_LM_MIRROR,
    AM_NO_JOB,
    AM_QEMU_COMMIT,
    AM_QEMU_MIRROR,
    AM_QEMU_MIRROR_BG,
    AM__MAX,
} ActiveMethod;

typedef struct {
    const char *method;     /* the key's method */
    const char *mode;       /* the key's mode */
    const char *label;      /* for tables and plots */
} ActiveMethodInfo;

extern const ActiveMethodInfo active_methods[AM__MAX];

/* The guest writes the second half of the disk in the first
 * ACTIVE_N_HALF_LOADS loads, the whole disk in the others */
extern const BenchLoadSpec active_loads[];
#define ACTIVE_N_LOADS 5
#define ACTIVE_N_HALF_LOADS 3
#define ACTIVE_LOAD_IDLE 0
#define ACTIVE_LOAD_4K 1
#define ACTIVE_LOAD_4K_WHOLE 3
#define ACTIVE_LOAD_64K_WHOLE 4

gboolean active_is_livemerge(ActiveMethod m);
gboolean active_load_whole(guint li);

/* What one run is */
typedef struct {
    ActiveMethod m;
    guint li;               /* active_loads[] */
    gboolean direct;        /* cache.direct=on, aio=native; else the page
                             * cache, aio=threads */
    int guest_impact;       /* livemerge-commit's guest-impact, percent;
                             * 0: not passed (the plugin's default) */
} ActiveSpec;

/* Where a run's timeline lives (first repetition only) */
typedef struct {
    char *dir;              /* fio logs, job.dat */
    double t_start;         /* job start, on fio's clock */
    double t_ready;         /* < 0: never */
    double t_pivot;         /* block-job-complete sent; < 0: none */
    double t_end;
} ActiveTimeline;

/* A scenario's pristine images and the key its runs go under */
typedef struct {
    Bench *b;
    const char *scenario;   /* the key's scenario */
    char *pristine;
    char *size_label;
    /* ActiveTimeline of the first repetition of each spec (NULL: none
     * kept) */
    GHashTable *timelines;
} ActiveCtx;

/* Build the pristine set (and check the content check on it) */
void active_ctx_init(ActiveCtx *c, Bench *b, const char *scenario,
                     gboolean keep_timelines);
void active_ctx_clear(ActiveCtx *c);

/* The key of @s's runs; its strings live in @k */
typedef struct {
    BenchKey key;
    char mode[48];
} ActiveKey;
void active_key(const ActiveCtx *c, const ActiveSpec *s, ActiveKey *k);

/* "direct" / "page": the key's cache */
const char *active_cache_name(gboolean direct);
/* "`cache.direct=on`, aio=native" / "page cache, aio=threads" */
const char *active_cache_setup(gboolean direct);

/* One run of @s, repetition @rep, into the report */
void active_run(ActiveCtx *c, const ActiveSpec *s, int rep);
/* The first repetition's timeline of @s (if kept and it succeeded) */
ActiveTimeline *active_timeline(const ActiveCtx *c, const ActiveSpec *s);

/*
 * Reading the results back
 */

/* Summary of @metric over @s's runs into @out (nullable), as a cell */
char *active_cell(const ActiveCtx *c, const ActiveSpec *s,
                  const char *metric, int decimals, BenchSummary *out);
/* READY ratio: livemerge / rival; "rival never" when only the rival
 * failed to get there */
char *active_ready_ratio(const BenchSummary *lm, const BenchSummary *rival);
/* "3/3": repetitions that reached READY, of the runs made */
char *active_ready_count(const ActiveCtx *c, const ActiveSpec *s);

/*
 * Guest work lost of every job run under load @li and cache @direct:
 * the job's time minus the time the no-job guest needs for the I/Os the
 * guest completed during the job (the no-job runs' median IOPS)
 */
void active_derive_work_lost(ActiveCtx *c, guint li, gboolean direct);

/* The job table of scenarios 7 and 8: its header, then one row per
 * method; ratios against @rival (same load and cache as @s) */
void active_job_header(Bench *b);
void active_job_row(ActiveCtx *c, const char *label, const ActiveSpec *s,
                    const ActiveSpec *rival);
/* What the job tables of scenarios 7 and 8 share: their setup and
 * columns, for the intro */
char *active_whole_common(const ActiveCtx *c);
/* A row saying why a method did not run (a plugin lacking its command) */
void active_job_row_na(Bench *b, const char *label, const char *why);

G_END_DECLS

#endif /* BENCH_ACTIVE_H */
