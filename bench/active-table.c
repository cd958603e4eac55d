/*
 * livemerge benchmark harness - active jobs under a guest: the results
 * read back (cells, guest work lost, the job table of scenarios 7 and 8)
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "active.h"

char *active_cell(const ActiveCtx *c, const ActiveSpec *s,
                  const char *metric, int decimals, BenchSummary *out)
{
    ActiveKey k;
    BenchSummary local;

    active_key(c, s, &k);
    bench_summarize(c->b->report, &k.key, metric, out ? out : &local);
    return bench_fmt_cell(out ? out : &local, decimals);
}

char *active_ready_ratio(const BenchSummary *lm, const BenchSummary *rival)
{
    if (lm->n && !lm->n_text && rival->n_text && !rival->n) {
        return g_strdup("rival never");
    }
    return bench_fmt_ratio(lm, rival);
}

char *active_ready_count(const ActiveCtx *c, const ActiveSpec *s)
{
    BenchSummary sum;

    g_free(active_cell(c, s, "time_to_ready", 2, &sum));
    return sum.runs ? g_strdup_printf("%d/%d", sum.n, sum.runs)
                    : g_strdup("—");
}

static double work_lost(double job_time, double job_ios, gpointer data)
{
    return job_time - job_ios / *(double *)data;
}

void active_derive_work_lost(ActiveCtx *c, guint li, gboolean direct)
{
    ActiveSpec no_job = { AM_NO_JOB, li, direct, 0 };
    BenchKey k = { c->scenario, NULL, NULL, active_loads[li].name,
                   active_cache_name(direct), c->size_label };
    BenchSummary base;

    g_free(active_cell(c, &no_job, "guest_iops", 0, &base));
    if (base.n && base.median > 0) {
        bench_report_derive(c->b->report, &k, "job_time", "job_ios",
                            "work_lost", "s", work_lost, &base.median);
    }
}

void active_job_header(Bench *b)
{
    bench_md_header(b, (const char *[]) {
        "method", "READY (reps)", "time to READY (s)", "start to end (s)",
        "pivot (ms)", "guest held at pivot (ms)", "guest IOPS",
        "IOPS vs no job", "guest work lost (s)",
        "p50 (µs)", "p99 (µs)", "READY ratio vs rival",
        "work lost ratio vs rival", "p99 ratio vs rival", NULL });
}

void active_job_row(ActiveCtx *c, const char *label, const ActiveSpec *s,
                    const ActiveSpec *rival)
{
    gboolean no_job = s->m == AM_NO_JOB;
    gboolean is_rival = s->m == rival->m &&
                        s->guest_impact == rival->guest_impact;
    ActiveSpec base_spec = { AM_NO_JOB, s->li, s->direct, 0 };
    BenchSummary sr, si, sl, sw, rr, rl, rw, base;
    g_autofree char *c_n = NULL, *c_ready = NULL, *c_end = NULL;
    g_autofree char *c_pivot = NULL, *c_held = NULL, *c_iops = NULL;
    g_autofree char *c_share = NULL;
    g_autofree char *c_lost = NULL, *c_p50 = NULL, *c_p99 = NULL;
    g_autofree char *q_ready = NULL, *q_lost = NULL, *q_p99 = NULL;

    c_n = no_job ? g_strdup("—") : active_ready_count(c, s);
    c_ready = no_job ? g_strdup("—")
              : active_cell(c, s, "time_to_ready", 2, &sr);
    c_end = no_job ? g_strdup("—") : active_cell(c, s, "job_time", 2, NULL);
    c_pivot = no_job ? g_strdup("—") : active_cell(c, s, "pivot", 1, NULL);
    c_held = no_job ? g_strdup("—")
             : active_cell(c, s, "pivot_hold", 1, NULL);
    c_iops = active_cell(c, s, "guest_iops", 0, &si);
    g_free(active_cell(c, &base_spec, "guest_iops", 0, &base));
    c_share = base.n && si.n ? g_strdup_printf("%.2f",
                                               si.median / base.median)
                             : g_strdup("—");
    c_lost = no_job ? g_strdup("0") : active_cell(c, s, "work_lost", 2, &sw);
    c_p50 = active_cell(c, s, "lat_p50", 0, NULL);
    c_p99 = active_cell(c, s, "lat_p99", 0, &sl);
    if (is_rival || no_job) {
        q_ready = g_strdup(is_rival ? "1" : "");
        q_lost = g_strdup(q_ready);
        q_p99 = g_strdup(q_ready);
    } else {
        g_free(active_cell(c, rival, "time_to_ready", 2, &rr));
        g_free(active_cell(c, rival, "work_lost", 2, &rw));
        g_free(active_cell(c, rival, "lat_p99", 0, &rl));
        q_ready = active_ready_ratio(&sr, &rr);
        q_lost = bench_fmt_ratio(&sw, &rw);
        q_p99 = bench_fmt_ratio(&sl, &rl);
    }
    bench_md_row(c->b, (const char *[]) {
        label, c_n, c_ready, c_end, c_pivot, c_held, c_iops, c_share, c_lost,
        c_p50, c_p99, q_ready, q_lost, q_p99, NULL });
}

void active_job_row_na(Bench *b, const char *label, const char *why)
{
    bench_md_row(b, (const char *[]) {
        label, why, "", "", "", "", "", "", "", "", "", "", "", "", NULL });
}

char *active_whole_common(const ActiveCtx *c)
{
    Bench *b = c->b;
    g_autofree char *alloc = bench_size_human(b->sz.active_alloc);
    g_autofree char *disk = bench_size_human(b->sz.active_disk);
    g_autofree char *half = bench_size_human(b->sz.active_disk / 2);

    return g_strdup_printf(
        "base <- overlay (exported; each table's heading names the cache "
        "mode of every image); the overlay holds %s in the first %s of a "
        "%s disk.  The "
        "whole-disk guest writes one byte pattern and fio logs every write "
        "it issues (`write_iolog`), so afterwards every 4 KiB block of the "
        "guest's final view is checked: what the guest last wrote there, "
        "or the pristine data.  fio warms up %.1f s (not counted; %.1f s "
        "when it writes the whole disk: its first writes allocate the "
        "overlay's clusters, copy-on-write from the base, and its IOPS "
        "climb for about 10 s), then the job starts; the no-job runs "
        "measure the next %.1f s (%.1f s over the whole disk).  *start to end*: job start to the pivot done (or "
        "to the end of the cancel when READY never came).  *pivot*: "
        "block-job-complete to the job's end; *guest held at pivot*: the "
        "guest's longest request in fio's latency log (each %d ms window "
        "keeps its longest) from the window in which block-job-complete "
        "was sent to half a second after the job's end, so at most how "
        "long the pivot held it (a request slowed by the copy just "
        "before counts too).  *guest work "
        "lost*: the integral over the job of (no-job IOPS − guest IOPS) / "
        "no-job IOPS, in seconds, from fio's %d ms IOPS log and the median "
        "IOPS of the no-job runs under the same load and cache.  Ratios: "
        "method median / QEMU write-blocking mirror median (< 1 is "
        "better).", alloc, half, disk, b->sz.ramp_s, b->sz.whole_ramp_s,
        b->sz.baseline_s, b->sz.whole_baseline_s, BENCH_FIO_LOG_MSEC,
        BENCH_FIO_LOG_MSEC);
}
