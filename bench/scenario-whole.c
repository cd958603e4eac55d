/*
 * Scenario 8: active jobs with a guest writing its whole disk, the region
 * being copied included, and the frontier between time to READY and the
 * guest's work lost.
 *
 * Under every whole-disk load and every cache mode asked for (--cache),
 * each with its own no-job baseline: livemerge's active commit with its
 * default pacing and with each guest-impact setting asked for
 * (--guest-impact), livemerge-mirror with its defaults, QEMU's active
 * commit (the job virsh uses) and QEMU's write-blocking blockdev-mirror
 * (the fastest QEMU job, the rival of every ratio).  One table per load
 * and cache with the targets of issue 13 under it, and one frontier plot:
 * x = time to READY, y = guest work lost, a point per method (median).
 * With --ab-plugin, every livemerge commit row also runs with the other
 * build, right after this one's, and a line under the table compares
 * them.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "active.h"

#include <math.h>

#include "ab.h"
#include "daemon.h"
#include "report.h"

#define SCENARIO "whole"
/* Issue 13's targets: the default setting's guest work lost at most half
 * of QEMU's write-blocking mirror's and its p99 at most 1.5x the no-job
 * p99; the fastest setting's READY within 1.2x the mirror's, its p99
 * below the mirror's */
#define TARGET_LOST_VS_RIVAL 0.5
#define TARGET_P99_VS_NO_JOB 1.5
#define TARGET_READY_VS_RIVAL 1.2
#define FASTEST_IMPACT 100

typedef struct {
    ActiveCtx c;
    Bench *b;
    gboolean has_lm_mirror;
    GArray *rows;           /* ActiveSpec (m, guest_impact) in run order */
} Whole;

/* The whole-disk loads this run measures (--quick: the first alone) */
static guint n_loads(Bench *b)
{
    return b->quick ? 1 : ACTIVE_N_LOADS - ACTIVE_N_HALF_LOADS;
}

static guint load_index(guint l)
{
    return ACTIVE_LOAD_4K_WHOLE + l;
}

/* Whether this run measures the l-th whole-disk load (--whole-loads) */
static gboolean load_wanted(Bench *b, guint l)
{
    return active_loads[load_index(l)].bs == 4 * KiB ? b->whole_4k
                                                     : b->whole_64k;
}

/* The cache modes this run measures: page first, as scenario 1 */
static gboolean cache_wanted(Bench *b, gboolean direct)
{
    return direct ? b->whole_direct : b->whole_page;
}

static char *row_label(const ActiveSpec *s)
{
    const char *ab = s->m == AM_LM_AB ? ", " BENCH_AB_LABEL : "";

    if (s->m != AM_LM_ADAPTIVE && s->m != AM_LM_AB) {
        return g_strdup(active_methods[s->m].label);
    }
    return s->guest_impact
           ? g_strdup_printf("livemerge commit, guest-impact %d%s",
                             s->guest_impact, ab)
           : g_strdup_printf("livemerge commit, default%s", ab);
}

/* A livemerge commit row, and the other build's right after it (A/B) */
static void append_commit_rows(Whole *w, GArray *rows, int guest_impact)
{
    ActiveSpec s = { .m = AM_LM_ADAPTIVE, .guest_impact = guest_impact };

    g_array_append_val(rows, s);
    if (w->b->ab_plugin) {
        s.m = AM_LM_AB;
        g_array_append_val(rows, s);
    }
}

/* livemerge first (the default, then the settings), then the rivals */
static GArray *make_rows(Whole *w)
{
    GArray *rows = g_array_new(FALSE, TRUE, sizeof(ActiveSpec));
    ActiveSpec s = { 0 };

    append_commit_rows(w, rows, 0);
    for (guint i = 0; i < w->b->guest_impacts->len; i++) {
        append_commit_rows(w, rows,
                           g_array_index(w->b->guest_impacts, int, i));
    }
    if (w->has_lm_mirror) {
        s.m = AM_LM_MIRROR;
        g_array_append_val(rows, s);
    }
    s.m = AM_NO_JOB;
    g_array_append_val(rows, s);
    s.m = AM_QEMU_COMMIT;
    g_array_append_val(rows, s);
    s.m = AM_QEMU_MIRROR;
    g_array_append_val(rows, s);
    return rows;
}

/* Row @r of the table under load @li and cache @direct */
static ActiveSpec row_spec(Whole *w, guint r, guint li, gboolean direct)
{
    ActiveSpec s = g_array_index(w->rows, ActiveSpec, r);

    s.li = li;
    s.direct = direct;
    return s;
}

/* "- target (...): what: value: met" */
static void target_line(Bench *b, const char *setting, const char *what,
                        const char *value, gboolean met)
{
    bench_md(b, "- target (%s): %s: %s: %s\n", setting, what, value,
             met ? "met" : "**not met**");
}

/* "2.10 / 5.60 = 0.38", or why there is no ratio */
static char *ratio_text(const BenchSummary *a, const BenchSummary *b,
                        int decimals, double *ratio)
{
    *ratio = NAN;
    if (!a->n || !b->n) {
        return g_strdup("— (no successful run of one side)");
    }
    if (b->median <= 0) {
        return g_strdup_printf("%.*f / %.*f", decimals, a->median, decimals,
                               b->median);
    }
    *ratio = a->median / b->median;
    return g_strdup_printf("%.*f / %.*f = %.2f", decimals, a->median,
                           decimals, b->median, *ratio);
}

/* Issue 13's targets of one table */
static void targets(Whole *w, guint li, gboolean direct)
{
    Bench *b = w->b;
    ActiveCtx *c = &w->c;
    ActiveSpec def = { AM_LM_ADAPTIVE, li, direct, 0 };
    ActiveSpec fast = { AM_LM_ADAPTIVE, li, direct, FASTEST_IMPACT };
    ActiveSpec no_job = { AM_NO_JOB, li, direct, 0 };
    ActiveSpec rival = { AM_QEMU_MIRROR, li, direct, 0 };
    BenchSummary lost, r_lost, p99, nj_p99, ready, r_ready, f_p99, r_p99;
    g_autofree char *t_lost = NULL, *t_p99 = NULL, *t_ready = NULL;
    g_autofree char *t_fp99 = NULL, *what = NULL;
    gboolean has_fast = FALSE;
    double q;

    g_free(active_cell(c, &def, "work_lost", 2, &lost));
    g_free(active_cell(c, &rival, "work_lost", 2, &r_lost));
    g_free(active_cell(c, &def, "lat_p99", 0, &p99));
    g_free(active_cell(c, &no_job, "lat_p99", 0, &nj_p99));
    g_free(active_cell(c, &def, "time_to_ready", 2, &ready));
    g_free(active_cell(c, &rival, "time_to_ready", 2, &r_ready));
    g_free(active_cell(c, &rival, "lat_p99", 0, &r_p99));

    bench_md(b, "\n");
    t_lost = ratio_text(&lost, &r_lost, 2, &q);
    target_line(b, "default", "guest work lost (s) at most 0.5 × QEMU "
                "write-blocking mirror's", t_lost,
                !isnan(q) && q <= TARGET_LOST_VS_RIVAL);
    t_p99 = ratio_text(&p99, &nj_p99, 0, &q);
    target_line(b, "default", "p99 (µs) at most 1.5 × the no-job p99",
                t_p99, !isnan(q) && q <= TARGET_P99_VS_NO_JOB);
    what = g_strdup_printf("%d of %d", ready.n, ready.runs);
    target_line(b, "default", "READY in every repetition", what,
                ready.runs > 0 && ready.n == ready.runs);

    for (guint i = 0; i < b->guest_impacts->len; i++) {
        has_fast |= g_array_index(b->guest_impacts, int, i) ==
                    FASTEST_IMPACT;
    }
    if (!has_fast) {
        bench_md(b, "- target (fastest setting, guest-impact %d): n/a, "
                 "not in --guest-impact\n", FASTEST_IMPACT);
        return;
    }
    g_free(active_cell(c, &fast, "time_to_ready", 2, &ready));
    g_free(active_cell(c, &fast, "lat_p99", 0, &f_p99));
    if (ready.n_text) {
        t_ready = g_strdup_printf("never READY in %d of %d repetitions",
                                  ready.n_text, ready.n + ready.n_text);
        q = NAN;
    } else if (!r_ready.n && r_ready.n_text) {
        t_ready = g_strdup("QEMU's mirror never READY");
        q = ready.n ? 0 : NAN;
    } else {
        t_ready = ratio_text(&ready, &r_ready, 2, &q);
    }
    target_line(b, "fastest setting, guest-impact 100", "time to READY "
                "(s) at most 1.2 × QEMU write-blocking mirror's", t_ready,
                !isnan(q) && q <= TARGET_READY_VS_RIVAL);
    t_fp99 = ratio_text(&f_p99, &r_p99, 0, &q);
    target_line(b, "fastest setting, guest-impact 100", "p99 (µs) below "
                "QEMU write-blocking mirror's", t_fp99, !isnan(q) && q < 1);
}

/* "guest work lost 3.10 / 3.60 = 0.86", or why there is no ratio */
static char *ab_ratio(ActiveCtx *c, const ActiveSpec *cur,
                      const ActiveSpec *prev, const char *metric,
                      const char *what, int decimals)
{
    BenchSummary a, b;
    double q;
    g_autofree char *ratio = NULL;

    g_free(active_cell(c, cur, metric, decimals, &a));
    g_free(active_cell(c, prev, metric, decimals, &b));
    ratio = ratio_text(&a, &b, decimals, &q);
    return g_strdup_printf("%s %s", what, ratio);
}

/*
 * With --ab-plugin: under the table, one line per livemerge commit
 * setting, this build's medians / the other build's (lower is better)
 */
static void ab_lines(Whole *w, guint li, gboolean direct)
{
    if (!w->b->ab_plugin) {
        return;
    }
    for (guint r = 0; r < w->rows->len; r++) {
        ActiveSpec cur = row_spec(w, r, li, direct);
        ActiveSpec prev = cur;
        g_autofree char *label = NULL, *lost = NULL, *ready = NULL;
        g_autofree char *p99 = NULL, *reps = NULL, *prev_reps = NULL;

        if (cur.m != AM_LM_ADAPTIVE) {
            continue;
        }
        prev.m = AM_LM_AB;
        label = row_label(&cur);
        lost = ab_ratio(&w->c, &cur, &prev, "work_lost",
                        "guest work lost (s)", 2);
        ready = ab_ratio(&w->c, &cur, &prev, "time_to_ready",
                         "time to READY (s)", 2);
        p99 = ab_ratio(&w->c, &cur, &prev, "lat_p99", "p99 (µs)", 0);
        /* The medians leave out repetitions that never reached READY */
        reps = active_ready_count(&w->c, &cur);
        prev_reps = active_ready_count(&w->c, &prev);
        bench_md(w->b, "- A/B, %s: READY (reps) %s against %s; this build "
                 "/ previous (medians): %s; %s; %s\n", label, reps,
                 prev_reps, lost, ready, p99);
    }
}

/*
 * One point of the frontier: "x y label" (median time to READY, never
 * counted as the cap; median work lost) into @data, and without its
 * label into @nevers if some repetition never reached READY.  FALSE if
 * @s has no numbers.
 */
static gboolean frontier_point(Whole *w, const ActiveSpec *s,
                               const char *label, GString *data,
                               GString *nevers)
{
    ActiveKey k;
    BenchSummary ready, lost;

    active_key(&w->c, s, &k);
    bench_summarize_text_as(w->b->report, &k.key, "time_to_ready",
                            w->b->sz.ready_cap_s, &ready);
    bench_summarize(w->b->report, &k.key, "work_lost", &lost);
    if (!ready.n || !lost.n) {
        return FALSE;
    }
    g_string_append_printf(data, "%.3f %.3f \"%s\"\n", ready.median,
                           lost.median, label);
    if (ready.n_text) {
        g_string_append_printf(nevers, "%.3f %.3f \"\"\n", ready.median,
                               lost.median);
    }
    return TRUE;
}

/* The frontier of one load and cache: whole-frontier-LOAD-CACHE.png */
static void frontier_plot(Whole *w, guint li, gboolean direct)
{
    Bench *b = w->b;
    static const struct {
        ActiveMethod m;
        const char *label;
        const char *style;
    } points[] = {
        { AM_LM_ADAPTIVE, "default", "pt 9 ps 2.2 lc rgb '#1f77b4'" },
        { AM_LM_MIRROR, "livemerge-mirror", "pt 13 ps 2 lc rgb '#2ca02c'" },
        { AM_QEMU_COMMIT, "QEMU commit", "pt 5 ps 1.8 lc rgb '#d62728'" },
        { AM_QEMU_MIRROR, "QEMU WB mirror", "pt 11 ps 2 lc rgb '#ff7f0e'" },
    };
    g_autofree char *name = g_strdup_printf("whole-frontier-%s-%s",
                                            active_loads[li].name,
                                            active_cache_name(direct));
    g_autofree char *title = g_strdup_printf(
        "Time to READY vs guest work lost, guest %s, %s",
        active_loads[li].name, direct ? "cache.direct=on, aio=native"
                                      : "page cache, aio=threads");
    g_autofree char *dat = bench_plot_data_path(b, name);
    g_autoptr(GString) data = g_string_new(NULL);
    g_autoptr(GString) nevers = g_string_new(NULL);
    g_autoptr(GString) plot = g_string_new(NULL);
    g_autoptr(GString) clauses = g_string_new(NULL);
    int block = 0;

    /* Block 0: the guest-impact settings, ascending, as one line */
    for (guint i = 0; i < b->guest_impacts->len; i++) {
        ActiveSpec s = { AM_LM_ADAPTIVE, li, direct,
                         g_array_index(b->guest_impacts, int, i) };
        g_autofree char *label = g_strdup_printf("%d %%", s.guest_impact);

        frontier_point(w, &s, label, data, nevers);
    }
    if (data->len) {
        g_string_append_printf(clauses,
            "'%s' index %d using 1:2 with linespoints pt 7 ps 1.4 lw 2 "
            "lc rgb '#1f77b4' title 'livemerge commit, guest-impact "
            "(percent)'", dat, block++);
        g_string_append(data, "\n\n");
    }
    /* One block per single point */
    for (guint i = 0; i < G_N_ELEMENTS(points); i++) {
        ActiveSpec s = { points[i].m, li, direct, 0 };
        g_autofree char *label = row_label(&s);

        if (!frontier_point(w, &s, points[i].label, data, nevers)) {
            continue;
        }
        g_string_append(data, "\n\n");
        g_string_append_printf(clauses,
            "%s'%s' index %d using 1:2 with points %s title '%s'",
            clauses->len ? ", " : "", dat, block++, points[i].style, label);
    }
    if (!block) {
        bench_md(b, "\n(no frontier plot for %s, %s cache: no successful "
                 "job run)\n", active_loads[li].name,
                 active_cache_name(direct));
        return;
    }
    if (nevers->len) {
        g_string_append(data, nevers->str);
        g_string_append_printf(clauses,
            ", '%s' index %d using 1:2 with points pt 6 ps 4 lw 1.5 "
            "lc rgb 'black' title 'not READY in every rep (never = %.0f s "
            "cap)'", dat, block++, b->sz.ready_cap_s);
    }
    g_file_set_contents(dat, data->str, -1, NULL);
    if (nevers->len) {
        /* Where the never-READY repetitions were counted */
        g_string_append_printf(plot,
            "set arrow from %.1f, graph 0 to %.1f, graph 1 nohead dt 2 "
            "lc rgb 'gray40'\n", b->sz.ready_cap_s, b->sz.ready_cap_s);
    }
    g_string_append_printf(plot,
        "set xlabel 'time to READY (s), median of the repetitions'\n"
        "set ylabel 'guest work lost (s), median'\n"
        "set xrange [0:*]\n"
        /* below 0 only when a job left the guest more than no job did */
        "set yrange [*<0:*]\n"
        "set offsets graph 0, graph 0.08, graph 0.1, 0\n"
        "plot %s, '%s' using 1:2:3 with labels offset char 0,1.2 "
        "notitle\n", clauses->str, dat);
    bench_plot(b, name, title, plot->str);
}

static void report(Whole *w)
{
    Bench *b = w->b;
    g_autofree char *common = active_whole_common(&w->c);
    g_autoptr(GString) settings = g_string_new(NULL);

    for (guint i = 0; i < b->guest_impacts->len; i++) {
        g_string_append_printf(settings, "%s%d",
                               settings->len ? ", " : "",
                               g_array_index(b->guest_impacts, int, i));
    }
    bench_md(b, "\n## 8. Active jobs with a guest writing its whole disk: "
             "the READY-time vs guest-impact frontier\n\n"
             "The guest writes over its whole disk, the region being copied "
             "included, so every write into a region already in sync costs "
             "the job a second write.  livemerge's active commit (copy "
             "mode adaptive, the default) with its default pacing (*default*:"
             " no `guest-impact` given) and with `guest-impact` %s%s "
             "(--guest-impact), and livemerge-mirror with its defaults, "
             "against QEMU's active commit (the job virsh uses) and its "
             "write-blocking mirror (`sync: top` into a new qcow2 on the "
             "same base: the same bytes), the rival of every ratio.  Every "
             "load and cache mode has its own no-job baseline.  *READY "
             "(reps)*: repetitions that reached READY within %.0f s, of "
             "those run.  %s  Under every table: issue 13's targets.  The "
             "frontier plots show the medians (x: time to READY, a "
             "repetition that never got there counted as the cap and the "
             "point ringed; y: guest work lost).\n",
             settings->len ? settings->str : "(none asked for)",
             settings->len ? " percent" : "", b->sz.ready_cap_s, common);
    for (guint l = 0; l < n_loads(b); l++) {
        guint li = load_index(l);

        for (int direct = 0; direct <= 1; direct++) {
            ActiveSpec rival = { AM_QEMU_MIRROR, li, direct, 0 };

            if (!load_wanted(b, l) || !cache_wanted(b, direct)) {
                continue;
            }
            active_derive_work_lost(&w->c, li, direct);
            bench_md(b, "\n### guest: %s over the whole disk (%s at QD%d), "
                     "%s\n", active_loads[li].name,
                     active_loads[li].bs == 4 * KiB ? "4 KiB random writes"
                                                    : "64 KiB random writes",
                     active_loads[li].iodepth, active_cache_setup(direct));
            active_job_header(b);
            for (guint r = 0; r < w->rows->len; r++) {
                ActiveSpec s = row_spec(w, r, li, direct);
                g_autofree char *label = row_label(&s);

                active_job_row(&w->c, label, &s, &rival);
            }
            if (!w->has_lm_mirror) {
                active_job_row_na(b, active_methods[AM_LM_MIRROR].label,
                                  b->whole_lm_mirror
                                  ? "n/a: plugin lacks livemerge-mirror"
                                  : "not run (--no-lm-mirror)");
            }
            targets(w, li, direct);
            ab_lines(w, li, direct);
            frontier_plot(w, li, direct);
        }
    }
}

void bench_scenario_whole(Bench *b)
{
    Whole w = { .b = b };

    w.has_lm_mirror = b->whole_lm_mirror &&
                      bench_plugin_has_command(BENCH_DAEMON_PLUGIN,
                                               "livemerge-mirror");
    w.rows = make_rows(&w);
    active_ctx_init(&w.c, b, SCENARIO, FALSE);
    for (int rep = 0; rep < b->sz.job_reps; rep++) {
        for (guint l = 0; l < n_loads(b); l++) {
            for (int direct = 0; direct <= 1; direct++) {
                if (!load_wanted(b, l) || !cache_wanted(b, direct)) {
                    continue;
                }
                for (guint i = 0; i < w.rows->len; i++) {
                    /* livemerge first, then the rivals; reversed next
                     * time */
                    guint r = rep % 2 ? w.rows->len - 1 - i : i;
                    ActiveSpec s = row_spec(&w, r, load_index(l), direct);

                    active_run(&w.c, &s, rep);
                }
            }
        }
    }
    report(&w);
    active_ctx_clear(&w.c);
    g_array_unref(w.rows);
}
