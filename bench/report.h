/*
 * livemerge benchmark harness - results: records, statistics, CSV,
 * Markdown and gnuplot
 *
 * A run (one method, one repetition) collects its metrics and is
 * committed at its end: a run whose job, image check or content compare
 * failed leaves one "status" row saying why and no numbers at all.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include "bench.h"

G_BEGIN_DECLS

/* What a result is about; NULL members match anything in a summary */
typedef struct {
    const char *scenario;
    const char *method;   /* livemerge, qemu-block-commit, qemu-img-commit, ... */
    const char *mode;     /* copy mode, buf-size, ... ("-" if none) */
    const char *load;     /* guest load ("idle" if none) */
    const char *cache;    /* page | direct */
    const char *size;     /* allocated/virtual, e.g. "1G/2G" */
} BenchKey;

typedef struct BenchRun BenchRun;

BenchReport *bench_report_new(void);
void bench_report_free(BenchReport *r);

/* @daemon: "plugin", "stock" or "none" (offline tools) */
BenchRun *bench_run_begin(Bench *b, const BenchKey *key, int rep,
                          const char *daemon);
void bench_run_value(BenchRun *run, const char *metric, double value,
                     const char *unit);
/* A non-numeric outcome, e.g. time_to_ready = "never" */
void bench_run_text(BenchRun *run, const char *metric, const char *text);
/* The run failed: its numbers are dropped (the first reason is kept) */
void bench_run_fail(BenchRun *run, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
gboolean bench_run_failed(BenchRun *run);
/* "scenario-method-mode-load-cache-size-repN", for file names */
char *bench_run_slug(BenchRun *run);
/* raw/failures/<slug>.log: where a failed run's daemon log goes (the
 * directory is made when a log is saved) */
char *bench_run_failure_log(BenchRun *run);
/* Commit the run's rows to the report and free it */
void bench_run_end(BenchRun *run);

/*
 * A metric computed after the runs, from two metrics of the same run
 * (same key and repetition): for every run matching @key that has both
 * @a and @b, adds @metric = @fn(a, b, @data) in @unit.
 */
void bench_report_derive(BenchReport *r, const BenchKey *key,
                         const char *a, const char *b, const char *metric,
                         const char *unit,
                         double (*fn)(double a, double b, gpointer data),
                         gpointer data);

typedef struct {
    int runs;             /* committed runs with this key */
    int failed;           /* of which failed */
    int n;                /* numeric values of the metric */
    int n_text;           /* text values of the metric ("never") */
    char text[32];        /* the last text value */
    double median, min, max;
    char unit[16];
} BenchSummary;

/* Median, min and max of @metric over the runs matching @key */
void bench_summarize(BenchReport *r, const BenchKey *key, const char *metric,
                     BenchSummary *s);
/* The same, every text value of @metric ("never") counted as @text_as:
 * n, median, min and max include them, n_text still counts them */
void bench_summarize_text_as(BenchReport *r, const BenchKey *key,
                             const char *metric, double text_as,
                             BenchSummary *s);
/* "12.3 [11.9–12.8]", "never", "FAILED 3/3", "—" */
char *bench_fmt_cell(const BenchSummary *s, int decimals);
/* @a median / @b median, "—" when either is missing */
char *bench_fmt_ratio(const BenchSummary *a, const BenchSummary *b);
/* The failures recorded so far, as "key: reason" lines */
GPtrArray *bench_report_failures(BenchReport *r);

/* Append to the Markdown body */
void bench_md(Bench *b, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* A table: header cells, then rows (NULL-terminated arrays) */
void bench_md_header(Bench *b, const char *const *cells);
void bench_md_row(Bench *b, const char *const *cells);

/*
 * Path of raw/plots/@name.dat for a plot's data (the caller writes it),
 * and rendering: @script is the plot body (no terminal/output lines);
 * writes raw/plots/@name.gp, runs gnuplot into OUT/@name.png and links it
 * from the Markdown.  FALSE (logged) if gnuplot failed.
 */
char *bench_plot_data_path(Bench *b, const char *name);

/* gnuplot: clustered bars with min-max error bars, y from 0 */
#define BENCH_GP_BARS \
    "set style data histogram\n" \
    "set style histogram errorbars gap 2 lw 1\n" \
    "set style fill solid 0.6 border -1\n" \
    "set yrange [0:*]\n"
/* ... whose bars are a copy's rate */
#define BENCH_GP_THROUGHPUT_BARS BENCH_GP_BARS \
    "set ylabel 'MiB/s (allocated bytes / durable time), median, " \
    "min-max'\n"

gboolean bench_plot(Bench *b, const char *name, const char *title,
                    const char *script);

/* results.csv and results.md (with @header prepended) */
void bench_report_write(Bench *b, const char *header);

G_END_DECLS

#endif /* BENCH_REPORT_H */
