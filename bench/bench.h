/*
 * livemerge benchmark harness - shared state and small helpers
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_H
#define BENCH_H

#include <glib.h>

G_BEGIN_DECLS

#define KiB (G_GUINT64_CONSTANT(1) << 10)
#define MiB (G_GUINT64_CONSTANT(1) << 20)
#define GiB (G_GUINT64_CONSTANT(1) << 30)
#define TiB (G_GUINT64_CONSTANT(1) << 40)

typedef struct BenchReport BenchReport;

/* Sizes and durations of one run (full or --quick) */
typedef struct {
    int reps;

    /* 1. intermediate commit */
    guint64 inter_disk;
    guint64 inter_alloc;
    guint64 base_data;          /* data in every base: [0, base_data) */

    /* 2-4. active commit: the overlay holds active_alloc in the first
     * half of the disk; the guest writes the second half */
    guint64 active_disk;
    guint64 active_alloc;
    double ramp_s;              /* fio warm-up before the job starts */
    double hold_s;              /* READY under load before the pivot */
    double baseline_s;          /* guest alone: measured window */
    /* The same for a guest writing its whole disk (scenario 8), whose
     * first writes allocate the overlay's clusters: copy-on-write from
     * the base makes its IOPS climb for about 10 s */
    double whole_ramp_s;
    double whole_baseline_s;
    double ready_cap_s;         /* no READY within this: "never" */
    double pivot_cap_s;         /* no pivot within this: "never" */
    int job_reps;               /* 7-8 (mirror-job, whole): repetitions */

    /* 6. stream: the intermediate chain (inter_disk, inter_alloc) */
    int stream_reps;

    /* 5. scaling */
    guint64 scale_alloc[8];     /* 0-terminated */
    guint64 scale_alloc_disk;
    int scale_alloc_big_reps;   /* reps for points >= scale_alloc_big */
    guint64 scale_alloc_big;
    guint64 scale_virt[8];      /* 0-terminated */
    guint64 scale_virt_alloc;
    int scale_reps;
    guint64 rss_buf[8];         /* 0-terminated */
    guint64 rss_alloc;
    guint64 rss_disk;
    int rss_reps;
} BenchSizes;

typedef struct Bench {
    gboolean quick;
    BenchSizes sz;
    char *out_dir;              /* results/<date>[-quick] */
    char *raw_dir;              /* out_dir/raw: fio logs, plot data */
    char *work_dir;             /* images; removed at the end */
    gboolean rival_plugin;      /* QEMU's jobs in a daemon with the plugin */
    gboolean can_drop_caches;
    char *qemu_version;         /* "7.2.22 (Debian ...)" */
    char *machine;              /* one line */
    char *revision;             /* git describe of the tree at the start */
    /* --ab-plugin: a previous build's livemerge.so that scenarios 1, 2
     * (idle guest), 6 and 8 (its livemerge commits) also run, or NULL */
    char *ab_plugin;
    /* 8 (whole): the livemerge commits' guest-impact settings besides the
     * default (--guest-impact: percents, ascending, each once), the
     * cache modes (--cache) and the loads (--whole-loads) */
    GArray *guest_impacts;      /* int */
    gboolean whole_page;
    gboolean whole_direct;
    gboolean whole_4k;          /* the loads (--whole-loads) */
    gboolean whole_64k;
    gboolean whole_lm_mirror;   /* livemerge-mirror in scenario 8 too */
    gboolean active_idle_only;  /* scenario 2: the idle guest alone */
    BenchReport *report;
    int run_failures;           /* runs that failed (reported as rows) */
    gint64 start_us;
} Bench;

/* Monotonic seconds */
double bench_now(void);
void bench_sleep(double seconds);

void bench_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* A setup step failed: nothing useful can follow */
void bench_die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;

/*
 * Run @argv (NULL-terminated) and wait.  TRUE on exit status 0; otherwise
 * FALSE with an error naming the command and carrying its output.  The
 * output (stdout and stderr merged) goes to *@output if non-NULL.
 */
gboolean bench_run(const char *const *argv, char **output, GError **error);
/* As bench_run(), a setup step: dies on failure */
char *bench_run_or_die(const char *const *argv);
/* Same with a GPtrArray of char* (NULL-terminated by the call) */
gboolean bench_run_array(GPtrArray *argv, char **output, GError **error);

/* First line of a command's output, for version strings */
char *bench_command_line_output(const char *const *argv);

/* sync, then drop the page cache (if we may): every run starts cold */
void bench_drop_caches(Bench *b);

/* cp --sparse=always @src @dst */
void bench_copy_file(const char *src, const char *dst);
/* rm -rf @path */
void bench_remove_tree(const char *path);
/* mkdir -p @path, dies on failure */
void bench_mkdir(const char *path);

/* "1G", "512M", "4K" or plain bytes: for qemu-img and labels */
char *bench_size_str(guint64 bytes);
/* "1 GiB", "256 MiB", "1 TiB" for tables */
char *bench_size_human(guint64 bytes);

/* Scenarios */
void bench_scenario_intermediate(Bench *b);
/* What the active family should run (scenarios 2, 3 and 4 share runs) */
typedef struct {
    gboolean active;            /* 2: lm modes vs QEMU active commit */
    gboolean pivot;             /* 3: pivot time under the heaviest load */
    gboolean mirror;            /* 4: lm modes vs blockdev-mirror wb */
    gboolean timeline;          /* the over-time plot */
    gboolean mirror_job;        /* 7: livemerge-mirror vs blockdev-mirror */
} BenchActiveSel;
void bench_scenario_active(Bench *b, const BenchActiveSel *sel);
/* 8: guest writing its whole disk, the guest-impact frontier */
void bench_scenario_whole(Bench *b);
void bench_scenario_stream(Bench *b);
void bench_scenario_scaling(Bench *b, gboolean allocated, gboolean virt,
                            gboolean rss);

G_END_DECLS

#endif /* BENCH_H */
