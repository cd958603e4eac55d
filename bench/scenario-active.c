/*
 * Scenarios 2, 3, 4 and 7 and the timeline: active commit and mirror
 * under a guest (see active.h for what a run is).  Scenario 8, the
 * whole-disk guest's frontier, is scenario-whole.c.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "active.h"

#include <math.h>
#include <string.h>

#include "ab.h"
#include "daemon.h"
#include "report.h"

#define SCENARIO "active"

typedef struct {
    ActiveCtx c;
    Bench *b;
    const BenchActiveSel *sel;
    /* what scenarios 2-4 and the timeline run, on the half-disk loads */
    gboolean use[AM__MAX];
    gboolean use_load[ACTIVE_N_HALF_LOADS];
    gboolean has_lm_mirror;     /* the plugin offers livemerge-mirror */
} Active;

/* The job copies into target.qcow2 (on the base) and pivots onto it */
static gboolean is_mirror(ActiveMethod m)
{
    return m == AM_LM_MIRROR || m == AM_QEMU_MIRROR || m == AM_QEMU_MIRROR_BG;
}

/*
 * Whether repetition @rep of @m under load @li belongs to a selected
 * scenario (7 makes job_reps repetitions, the others reps)
 */
static gboolean wanted(const Active *a, ActiveMethod m, guint li, int rep)
{
    const BenchActiveSel *sel = a->sel;
    /* --quick: 7 under one load (the other takes the same paths) */
    gboolean mirror_job = rep < a->b->sz.job_reps && sel->mirror_job &&
                          (li == ACTIVE_LOAD_4K_WHOLE ||
                           (li == ACTIVE_LOAD_4K && !a->b->quick)) &&
                          (is_mirror(m) || m == AM_NO_JOB);

    if ((m == AM_LM_MIRROR && !a->has_lm_mirror) ||
        (m == AM_NO_JOB && !active_loads[li].rw)) {
        return FALSE;
    }
    if (m == AM_LM_AB) {
        /* A/B: the idle guest's active commit (scenario 2) */
        return a->b->ab_plugin && sel->active && li == ACTIVE_LOAD_IDLE &&
               rep < a->b->sz.reps;
    }
    if (!active_load_whole(li)) {
        return (rep < a->b->sz.reps && a->use[m] && a->use_load[li]) ||
               mirror_job;
    }
    return mirror_job;
}

/* @metric of @m under load @li (direct cache) as a cell, its summary in
 * @out (nullable) */
static char *cell(Active *a, ActiveMethod m, guint li, const char *metric,
                  int decimals, BenchSummary *out)
{
    ActiveSpec s = { m, li, TRUE, 0 };

    return active_cell(&a->c, &s, metric, decimals, out);
}

/* The load with the highest guest write bandwidth on its own */
static guint heaviest_load(Active *a)
{
    guint best = ACTIVE_N_HALF_LOADS - 1;
    double best_bw = -1;

    for (guint li = 1; li < ACTIVE_N_HALF_LOADS; li++) {
        BenchSummary s;

        g_free(cell(a, AM_NO_JOB, li, "guest_bw", 0, &s));
        if (s.n && s.median > best_bw) {
            best_bw = s.median;
            best = li;
        }
    }
    return best;
}

static void comparison_tables(Active *a, ActiveMethod rival,
                              const char *title, const char *intro)
{
    Bench *b = a->b;
    const ActiveMethod rows[] = { AM_NO_JOB, AM_LM_BACKGROUND,
                                  AM_LM_WRITE_BLOCKING, AM_LM_ADAPTIVE,
                                  AM_LM_AB, rival };
    /* A/B: scenario 2's idle guest, under its own table */
    gboolean ab = rival == AM_QEMU_COMMIT && a->b->ab_plugin;

    bench_md(b, "\n## %s\n\n%s\n", title, intro);
    for (guint li = 0; li < ACTIVE_N_HALF_LOADS; li++) {
        BenchSummary rr, rp, ri, rl;
        gboolean loaded = active_loads[li].rw != NULL;

        if (!a->use_load[li]) {
            continue;
        }
        bench_md(b, "\n### guest: %s, %s\n",
                 loaded ? active_loads[li].name : "idle (no I/O)",
                 active_cache_setup(TRUE));
        g_free(cell(a, rival, li, "time_to_ready", 2, &rr));
        g_free(cell(a, rival, li, "pivot", 1, &rp));
        g_free(cell(a, rival, li, "guest_iops", 0, &ri));
        g_free(cell(a, rival, li, "lat_p99", 0, &rl));
        if (loaded) {
            bench_md_header(b, (const char *[]) {
                "method", "time to READY (s)", "pivot (ms)",
                "job len (MiB)", "QMP reply max (ms)", "guest IOPS",
                "IOPS vs no job", "guest work lost (s)", "p50 (µs)",
                "p99 (µs)",
                "READY ratio vs rival", "IOPS ratio vs rival",
                "p99 ratio vs rival", NULL });
        } else {
            bench_md_header(b, (const char *[]) {
                "method", "time to READY (s)", "pivot (ms)",
                "job len (MiB)", "QMP reply max (ms)", "READY ratio vs rival",
                "pivot ratio vs rival", NULL });
        }
        for (guint r = loaded ? 0 : 1; r < G_N_ELEMENTS(rows); r++) {
            ActiveMethod m = rows[r];
            BenchSummary sr, sp, si, sl, base;
            g_autofree char *c_ready = NULL, *c_pivot = NULL, *c_len = NULL;
            g_autofree char *c_qmp = NULL;
            g_autofree char *c_iops = NULL, *c_p50 = NULL, *c_p99 = NULL;
            g_autofree char *c_lost = NULL;
            g_autofree char *vs_base = NULL, *q_ready = NULL;
            g_autofree char *q_iops = NULL, *q_p99 = NULL, *q_pivot = NULL;

            if (m == AM_LM_AB ? !ab || loaded : !a->use[m]) {
                continue;
            }
            c_ready = m == AM_NO_JOB ? g_strdup("—")
                      : cell(a, m, li, "time_to_ready", 2, &sr);
            c_pivot = m == AM_NO_JOB ? g_strdup("—")
                      : cell(a, m, li, "pivot", 1, &sp);
            c_len = m == AM_NO_JOB ? g_strdup("—")
                    : cell(a, m, li, "job_len", 0, NULL);
            c_qmp = m == AM_NO_JOB ? g_strdup("—")
                    : cell(a, m, li, "qmp_reply_max", 0, NULL);
            if (!active_is_livemerge(m)) {
                q_ready = g_strdup(m == rival ? "1" : "");
                q_pivot = g_strdup(q_ready);
            } else {
                q_ready = active_ready_ratio(&sr, &rr);
                q_pivot = bench_fmt_ratio(&sp, &rp);
            }
            if (!loaded) {
                bench_md_row(b, (const char *[]) {
                    active_methods[m].label, c_ready, c_pivot, c_len, c_qmp,
                    q_ready, q_pivot, NULL });
                continue;
            }
            c_iops = cell(a, m, li, "guest_iops", 0, &si);
            c_lost = m == AM_NO_JOB ? g_strdup("0")
                     : cell(a, m, li, "work_lost", 2, NULL);
            c_p50 = cell(a, m, li, "lat_p50", 0, NULL);
            c_p99 = cell(a, m, li, "lat_p99", 0, &sl);
            g_free(cell(a, AM_NO_JOB, li, "guest_iops", 0,
                        &base));
            vs_base = m == AM_NO_JOB ? g_strdup("1")
                      : base.n && si.n
                      ? g_strdup_printf("%.2f", si.median / base.median)
                      : g_strdup("—");
            if (active_is_livemerge(m)) {
                q_iops = bench_fmt_ratio(&si, &ri);
                q_p99 = bench_fmt_ratio(&sl, &rl);
            } else {
                q_iops = g_strdup(q_ready);
                q_p99 = g_strdup(q_ready);
            }
            bench_md_row(b, (const char *[]) {
                active_methods[m].label, c_ready, c_pivot, c_len, c_qmp,
                c_iops, vs_base, c_lost, c_p50, c_p99, q_ready, q_iops,
                q_p99, NULL });
        }
        if (ab && !loaded) {
            BenchSummary cur, prev;

            g_free(cell(a, AM_LM_ADAPTIVE, li, "time_to_ready", 2, &cur));
            g_free(cell(a, AM_LM_AB, li, "time_to_ready", 2, &prev));
            bench_ab_verdict(b, "livemerge adaptive's time to READY, idle "
                             "guest", &cur, &prev);
        }
    }
}

static void pivot_table(Active *a)
{
    Bench *b = a->b;
    guint heavy = heaviest_load(a);
    const ActiveMethod rows[] = { AM_LM_BACKGROUND, AM_LM_WRITE_BLOCKING,
                                  AM_LM_ADAPTIVE, AM_QEMU_COMMIT,
                                  AM_QEMU_MIRROR };
    BenchSummary base_bw;

    g_free(cell(a, AM_NO_JOB, heavy, "guest_bw", 0, &base_bw));
    bench_md(b, "\n## 3. Pivot time under the heaviest load\n\n"
             "`block-job-complete` sent to `BLOCK_JOB_COMPLETED` received, "
             "after READY was held %.1f s under load.  The heaviest load is "
             "the one moving the most bytes when the guest is alone: %s "
             "(%.0f MiB/s), over the half of the disk not being copied; "
             "every image %s (scenario 2's runs).  No pivot where READY "
             "never came.  Other loads for reference.\n", b->sz.hold_s,
             active_loads[heavy].name, base_bw.n ? base_bw.median : NAN,
             active_cache_setup(TRUE));
    bench_md_header(b, (const char *[]) {
        "method", "pivot (ms), heaviest load", "ratio livemerge/QEMU commit",
        "ratio livemerge/QEMU mirror", "pivot (ms), other loaded",
        "pivot (ms), idle", NULL });
    for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
        ActiveMethod m = rows[r];
        guint other = heavy == 1 ? 2 : 1;
        BenchSummary s, qc, qm;
        g_autofree char *c = NULL, *c_other = NULL, *c_idle = NULL;
        g_autofree char *r_commit = NULL, *r_mirror = NULL;

        if (!a->use[m]) {
            continue;
        }
        c = cell(a, m, heavy, "pivot", 1, &s);
        c_other = a->use_load[other] ? cell(a, m, other, "pivot",
                                            1, NULL) : g_strdup("—");
        c_idle = a->use_load[0]
                 ? cell(a, m, ACTIVE_LOAD_IDLE, "pivot", 1, NULL)
                 : g_strdup("—");
        g_free(cell(a, AM_QEMU_COMMIT, heavy, "pivot", 1, &qc));
        g_free(cell(a, AM_QEMU_MIRROR, heavy, "pivot", 1, &qm));
        r_commit = active_is_livemerge(m) && a->use[AM_QEMU_COMMIT]
                   ? bench_fmt_ratio(&s, &qc) : g_strdup("");
        r_mirror = active_is_livemerge(m) && a->use[AM_QEMU_MIRROR]
                   ? bench_fmt_ratio(&s, &qm) : g_strdup("");
        bench_md_row(b, (const char *[]) {
            active_methods[m].label, c, r_commit, r_mirror, c_other, c_idle,
            NULL });
    }
}

/* Clustered bars: the loads @lis on x, one bar per method of @rows */
static void bar_plot(Active *a, const char *name, const char *title,
                     const char *metric, const char *ylabel,
                     const ActiveMethod *rows, guint n_rows,
                     const guint *lis, guint n_lis)
{
    Bench *b = a->b;
    g_autofree char *dat = bench_plot_data_path(b, name);
    g_autoptr(GString) data = g_string_new("# load");
    g_autoptr(GString) plot = g_string_new(NULL);
    g_autoptr(GString) cols = g_string_new(NULL);
    int col = 2;

    for (guint r = 0; r < n_rows; r++) {
        g_string_append_printf(data, " \"%s\" min max",
                               active_methods[rows[r]].label);
    }
    g_string_append_c(data, '\n');
    for (guint l = 0; l < n_lis; l++) {
        g_string_append_printf(data, "\"%s\"", active_loads[lis[l]].name);
        for (guint r = 0; r < n_rows; r++) {
            BenchSummary s;

            g_free(cell(a, rows[r], lis[l], metric, 0, &s));
            if (s.n) {
                g_string_append_printf(data, " %.3f %.3f %.3f", s.median,
                                       s.min, s.max);
            } else if (s.n_text && g_str_equal(metric, "time_to_ready")) {
                /* never READY: drawn at the cap */
                g_string_append_printf(data, " %.3f %.3f %.3f",
                                       b->sz.ready_cap_s, b->sz.ready_cap_s,
                                       b->sz.ready_cap_s);
            } else {
                g_string_append(data, " 0 0 0");
            }
        }
        g_string_append_c(data, '\n');
    }
    g_file_set_contents(dat, data->str, -1, NULL);
    for (guint r = 0; r < n_rows; r++) {
        g_string_append_printf(cols, "%s'%s' using %d:%d:%d%s title '%s'",
                               cols->len ? ", " : "", cols->len ? "" : dat,
                               col, col + 1, col + 2,
                               cols->len ? "" : ":xtic(1)",
                               active_methods[rows[r]].label);
        col += 3;
    }
    g_string_append_printf(plot,
        BENCH_GP_BARS
        "set ylabel '%s'\n"
        "plot %s\n", ylabel, cols->str);
    bench_plot(b, name, title, plot->str);
}

/* Scenarios 2 and 4's plots: their methods over the half-disk loads */
static void half_plot(Active *a, const char *name, const char *title,
                      const char *metric, const char *ylabel,
                      gboolean with_no_job, gboolean with_idle)
{
    ActiveMethod rows[AM__MAX];
    guint lis[ACTIVE_N_HALF_LOADS];
    guint n_rows = 0, n_lis = 0;

    for (ActiveMethod m = 0; m < AM__MAX; m++) {
        if (a->use[m] && (m != AM_NO_JOB || with_no_job)) {
            rows[n_rows++] = m;
        }
    }
    for (guint li = with_idle ? 0 : 1; li < ACTIVE_N_HALF_LOADS; li++) {
        if (a->use_load[li]) {
            lis[n_lis++] = li;
        }
    }
    bar_plot(a, name, title, metric, ylabel, rows, n_rows, lis, n_lis);
}

/* The first repetition's timeline of @m under load @li, or NULL */
static ActiveTimeline *timeline_of(Active *a, ActiveMethod m, guint li)
{
    ActiveSpec s = { m, li, TRUE, 0 };

    return active_timeline(&a->c, &s);
}

static void timeline_plot(Active *a)
{
    Bench *b = a->b;
    guint heavy = heaviest_load(a);
    const ActiveMethod cols[] = { AM_LM_ADAPTIVE, AM_QEMU_COMMIT,
                                  AM_QEMU_MIRROR };
    g_autoptr(GString) plot = g_string_new(NULL);
    double x_max = 1;
    int n = 0;

    for (guint i = 0; i < G_N_ELEMENTS(cols); i++) {
        n += timeline_of(a, cols[i], heavy) != NULL;
    }
    if (!n) {
        bench_md(b, "\n(no timeline: no successful first run under %s)\n",
                 active_loads[heavy].name);
        return;
    }
    bench_md(b, "\n## Timeline: an active commit under %s\n\n"
             "Guest over the half of the disk not being copied, every "
             "image %s.  First repetition; t = 0 is the end of fio's "
             "warm-up, the job starts right after (first dashed line), "
             "then READY and the end of the pivot.  Top: guest write IOPS (fio, 250 ms "
             "averages) and the job's copy rate (offset growth between "
             "`query-block-jobs` polls every 250 ms; QEMU's offset also "
             "counts re-copies).  Bottom: the guest's mean write latency "
             "per 250 ms.\n", active_loads[heavy].name,
             active_cache_setup(TRUE));
    for (guint i = 0; i < G_N_ELEMENTS(cols); i++) {
        ActiveTimeline *tl = timeline_of(a, cols[i], heavy);

        if (tl) {
            x_max = MAX(x_max, tl->t_end * 1.05 + 0.1);
        }
    }
    g_string_append_printf(plot,
        "set multiplot layout 2,%d title 'active commit, guest %s'\n"
        "set key inside top right\n"
        "set xlabel 'seconds'\n"
        "set xrange [0:%.2f]\n", n, active_loads[heavy].name, x_max);
    for (int row = 0; row < 2; row++) {
        for (guint i = 0; i < G_N_ELEMENTS(cols); i++) {
            ActiveTimeline *tl = timeline_of(a, cols[i], heavy);
            g_autofree char *iops = NULL, *lat = NULL, *job = NULL;

            if (!tl) {
                continue;
            }
            iops = g_build_filename(tl->dir, "guest_iops.1.log", NULL);
            lat = g_build_filename(tl->dir, "guest_lat.1.log", NULL);
            job = g_build_filename(tl->dir, "job.dat", NULL);
            g_string_append_printf(plot,
                "unset arrow\nunset y2tics\nunset y2label\n"
                "set ytics nomirror\n"
                "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead dt 2\n",
                tl->t_start, tl->t_start);
            if (tl->t_ready >= 0) {
                g_string_append_printf(plot,
                    "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead "
                    "dt 2 lc rgb 'dark-green'\n", tl->t_ready, tl->t_ready);
            }
            g_string_append_printf(plot,
                "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead "
                "dt 2 lc rgb 'red'\n", tl->t_end, tl->t_end);
            if (row == 0) {
                g_string_append_printf(plot,
                    "set title '%s%s'\n"
                    "set ylabel 'guest write IOPS'\n"
                    "set y2label 'job copy MiB/s'\n"
                    "set y2tics\n"
                    "set yrange [0:*]\nset y2range [0:*]\n"
                    "plot '%s' using ($1/1000):2 with lines title 'guest "
                    "IOPS', '%s' using 1:5 axes x1y2 with steps title "
                    "'copy MiB/s'\n", active_methods[cols[i]].label,
                    tl->t_ready < 0 ? " (never READY, cancelled)" : "",
                    iops, job);
            } else {
                g_string_append_printf(plot,
                    "set title ''\n"
                    "set ylabel 'guest max latency per window (ms)'\n"
                    "set logscale y\nset yrange [*:*]\n"
                    "plot '%s' using ($1/1000):($2/1e6) with lines "
                    "title 'latency'\n"
                    "unset logscale y\n", lat);
            }
        }
    }
    g_string_append(plot, "unset multiplot\n");
    bench_plot(b, "active-timeline", "Active commit over time",
               plot->str);
}

/* Whether a job of @rows ran under load @li (--quick skips loads) */
static gboolean load_has_jobs(Active *a, const ActiveMethod *rows,
                              guint n_rows, guint li)
{
    for (guint r = 0; r < n_rows; r++) {
        BenchSummary s;

        g_free(cell(a, rows[r], li, "status", 0, &s));
        if (rows[r] != AM_NO_JOB && s.runs) {
            return TRUE;
        }
    }
    return FALSE;
}

/* Scenario 7: one table per load that ran, a plot of the guest work
 * lost */
static void report_mirror_job(Active *a, const char *common)
{
    Bench *b = a->b;
    const ActiveMethod rows[] = { AM_NO_JOB, AM_LM_MIRROR, AM_QEMU_MIRROR,
                                  AM_QEMU_MIRROR_BG };
    const guint all_lis[] = { ACTIVE_LOAD_4K, ACTIVE_LOAD_4K_WHOLE };
    const ActiveMethod drawn[] = { AM_LM_MIRROR, AM_QEMU_MIRROR,
                                   AM_QEMU_MIRROR_BG };
    guint lis[G_N_ELEMENTS(all_lis)];
    guint n_lis = 0;

    for (guint l = 0; l < G_N_ELEMENTS(all_lis); l++) {
        if (load_has_jobs(a, rows, G_N_ELEMENTS(rows), all_lis[l])) {
            lis[n_lis++] = all_lis[l];
        }
    }
    bench_md(b, "\n## 7. Mirror: livemerge-mirror vs QEMU blockdev-mirror\n"
             "\nA mirror of the overlay's data (`sync: top`) into a new "
             "qcow2 on the same base node, then the pivot onto it (READY "
             "held %.1f s under load first): livemerge-mirror with its "
             "default copy mode against QEMU's `blockdev-mirror` in "
             "write-blocking and in background mode, under 4 KiB random "
             "writes at QD16 over the half of the disk not being copied and "
             "over the whole disk.  *READY (reps)*: repetitions that "
             "reached READY within %.0f s, of those run.  %s\n",
             b->sz.hold_s, b->sz.ready_cap_s, common);
    for (guint l = 0; l < n_lis; l++) {
        ActiveSpec rival = { AM_QEMU_MIRROR, lis[l], TRUE, 0 };

        bench_md(b, "\n### guest: %s%s, %s\n", active_loads[lis[l]].name,
                 active_load_whole(lis[l])
                 ? " over the whole disk" : " over the half not being copied",
                 active_cache_setup(TRUE));
        active_job_header(b);
        for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
            ActiveSpec s = { rows[r], lis[l], TRUE, 0 };

            if (rows[r] == AM_LM_MIRROR && !a->has_lm_mirror) {
                active_job_row_na(b, active_methods[rows[r]].label,
                                  "n/a: plugin lacks livemerge-mirror");
            } else {
                active_job_row(&a->c, active_methods[rows[r]].label, &s,
                               &rival);
            }
        }
    }
    bar_plot(a, "mirror-job-work-lost", "Guest work lost during the job",
             "work_lost", "seconds of no-job guest work (median, min-max)",
             drawn + !a->has_lm_mirror,
             G_N_ELEMENTS(drawn) - !a->has_lm_mirror, lis, n_lis);
}

static void report(Active *a)
{
    Bench *b = a->b;
    g_autofree char *alloc = bench_size_human(b->sz.active_alloc);
    g_autofree char *disk = bench_size_human(b->sz.active_disk);
    g_autofree char *half = bench_size_human(b->sz.active_disk / 2);
    g_autofree char *intro = g_strdup_printf(
        "base <- overlay (exported), both %s; "
        "the overlay holds %s in the first %s of a %s disk; the guest "
        "(fio nbd engine, random writes, fio's default fixed random seed "
        "so every method sees the same sequence) writes only the other "
        "half, which the job then has to catch up with.  fio warms up "
        "%.1f s (not counted), the job starts; guest numbers cover the "
        "job from start to end (READY held %.1f s, then the pivot).  "
        "*never*: no READY within %.0f s, then cancelled (a pivot that "
        "does not come within %.0f s is *never* too, then force-cancelled)."
        "  "
        "*job len*: the job's final `len` (what it had to copy: the "
        "overlay's data, the clusters the guest allocated during the "
        "warm-up, and every re-dirtied region; QEMU counts re-copies).  "
        "*QMP reply max*: the slowest `query-block-jobs` reply of the "
        "250 ms polls, i.e. how long the daemon's main loop (monitor, "
        "NBD server, the guest's requests) was kept busy at a stretch.  "
        "The no-job row "
        "is the same guest for %.0f s without a job.  Ratios: livemerge "
        "median / rival median (READY, pivot, p99: < 1 is better; IOPS: "
        "> 1 is better).", active_cache_setup(TRUE), alloc, half, disk,
        b->sz.ramp_s, b->sz.hold_s, b->sz.ready_cap_s, b->sz.pivot_cap_s,
        b->sz.baseline_s);
    g_autofree char *common = active_whole_common(&a->c);

    for (guint li = 1; li < ACTIVE_N_LOADS; li++) {
        active_derive_work_lost(&a->c, li, TRUE);
    }
    if (a->sel->active) {
        comparison_tables(a, AM_QEMU_COMMIT,
                          "2. Active commit: livemerge vs QEMU's active "
                          "commit", intro);
    }
    if (a->sel->pivot) {
        pivot_table(a);
    }
    if (a->sel->mirror) {
        comparison_tables(a, AM_QEMU_MIRROR,
                          "4. Active commit vs QEMU blockdev-mirror "
                          "copy-mode=write-blocking",
                          "QEMU offers write-blocking for mirror, not for "
                          "commit.  The mirror copies the overlay's data "
                          "(`sync: top`) into a new qcow2 on the same base "
                          "node and pivots to it: the same bytes to copy "
                          "and the same guest load as a commit, but the "
                          "chain keeps two layers (QEMU refuses to mirror "
                          "into a backing node).  Same setup as 2.");
    }
    if (a->sel->active || a->sel->mirror) {
        bench_md(b, "\n### plots\n");
        /* An idle guest alone (--active-idle-only) has no IOPS to draw */
        if (!b->active_idle_only) {
            half_plot(a, "active-iops", "Guest write IOPS during the job",
                      "guest_iops", "IOPS (median, min-max)", TRUE, FALSE);
            half_plot(a, "active-latency", "Guest p99 write latency during "
                      "the job", "lat_p99", "p99 latency, µs (median, "
                      "min-max)", TRUE, FALSE);
        }
        half_plot(a, "active-ready", "Time to READY (never = drawn at the "
                  "cap)", "time_to_ready", "seconds (median, min-max)",
                  FALSE, TRUE);
    }
    if (a->sel->timeline) {
        timeline_plot(a);
    }
    if (a->sel->mirror_job) {
        report_mirror_job(a, common);
    }
}

void bench_scenario_active(Bench *b, const BenchActiveSel *sel)
{
    Active a = { .b = b, .sel = sel };

    a.use[AM_LM_ADAPTIVE] = a.use[AM_NO_JOB] =
        sel->active || sel->pivot || sel->mirror || sel->timeline;
    a.use[AM_QEMU_COMMIT] = sel->active || sel->pivot || sel->timeline;
    a.use[AM_LM_BACKGROUND] = a.use[AM_LM_WRITE_BLOCKING] =
        sel->active || sel->pivot || sel->mirror;
    a.use[AM_QEMU_MIRROR] = sel->mirror;
    a.use_load[0] = sel->active || sel->mirror;
    a.use_load[1] = a.use_load[2] = a.use[AM_LM_ADAPTIVE] &&
                                    !b->active_idle_only;
    a.has_lm_mirror = sel->mirror_job &&
                      bench_plugin_has_command(BENCH_DAEMON_PLUGIN,
                                               "livemerge-mirror");
    active_ctx_init(&a.c, b, SCENARIO, TRUE);

    for (int rep = 0; rep < MAX(b->sz.reps, b->sz.job_reps); rep++) {
        for (guint li = 0; li < ACTIVE_N_LOADS; li++) {
            for (int i = 0; i < AM__MAX; i++) {
                /* livemerge first, then the rivals; reversed next time */
                ActiveMethod m = rep % 2 ? AM__MAX - 1 - i : i;
                ActiveSpec s = { m, li, TRUE, 0 };

                if (wanted(&a, m, li, rep)) {
                    active_run(&a.c, &s, rep);
                }
            }
        }
    }
    report(&a);
    active_ctx_clear(&a.c);
}
