/*
 * Scenario 6: stream (pull a backing layer into the active layer), page
 * cache: livemerge-stream vs QEMU's block-stream, and livemerge's own
 * intermediate commit of the same layer on the same chain.
 *
 * The chain is the intermediate scenario's (base <- mid <- top, top
 * exported, no guest I/O): mid holds the bytes to copy in 1 MiB pieces,
 * every other one shifted by 1 MiB, i.e. 2 MiB of every 4 MiB.  A stream
 * with base-node=base copies them up into top, a commit down into base;
 * either way top ends on base with the same guest view (checked).
 *
 * The machine floor is the disk's own time for the same bytes, without
 * QEMU (copy-floor.h): mid's data read from the run's cold mid.qcow2,
 * then written back durably.  It says how fast any job on this chain
 * could be here, so a target above it is the machine's limit, not the
 * job's.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "bench.h"

#include "ab.h"
#include "commit.h"
#include "daemon.h"
#include "report.h"

#define SCENARIO "stream"
#define CACHE "page"
/* What the issue asks of livemerge-stream (bench/README.rst) */
#define TARGET_VS_QEMU 2.0
#define TARGET_VS_OWN_COMMIT 0.8

/* Every method, the previous build's livemerge-stream (A/B) next to this
 * one's */
static const BenchInterRow order[] = {
    { BENCH_INTER_LIVEMERGE_STREAM, FALSE, "livemerge-stream",
      "livemerge-stream" },
    { BENCH_INTER_LIVEMERGE_STREAM, TRUE, "livemerge-stream-ab",
      "livemerge-stream, " BENCH_AB_LABEL },
    { BENCH_INTER_QEMU_STREAM, FALSE, "qemu-block-stream",
      "QEMU block-stream" },
    { BENCH_INTER_LIVEMERGE, FALSE, "livemerge",
      "livemerge-commit (intermediate)" },
    { BENCH_INTER_FLOOR, FALSE, "machine-floor", "machine floor (no QEMU)" },
};
#define N_METHODS G_N_ELEMENTS(order)
#define LM_STREAM 0
#define LM_STREAM_AB 1
#define QEMU_STREAM 2
#define LM_COMMIT 3
#define FLOOR 4

/* Which plugins offer livemerge-stream: this build's, the previous one's */
typedef struct {
    gboolean cur;
    gboolean ab;
} HasStream;

/* Why method @mi does not run, or NULL: it does */
static const char *skipped(Bench *b, const HasStream *has, guint mi)
{
    if (order[mi].ab && !b->ab_plugin) {
        return "";
    }
    if (order[mi].m == BENCH_INTER_LIVEMERGE_STREAM &&
        !(order[mi].ab ? has->ab : has->cur)) {
        return order[mi].ab ? "n/a: previous plugin lacks livemerge-stream"
                            : "n/a: plugin lacks livemerge-stream";
    }
    return NULL;
}

static void summarize(Bench *b, BenchChain *c, guint mi,
                      const char *metric, BenchSummary *s)
{
    BenchKey k = { SCENARIO, order[mi].method, NULL, NULL, CACHE,
                   c->label };

    bench_summarize(b->report, &k, metric, s);
}

/* "2.31x (target >= 2x: met)", or why there is no ratio */
static char *verdict(const BenchSummary *lm, const BenchSummary *other,
                     double target, gboolean has_stream)
{
    if (!has_stream) {
        return g_strdup("n/a: plugin lacks livemerge-stream");
    }
    if (!lm->n || !other->n || other->median <= 0) {
        return g_strdup("— (a method has no successful run)");
    }
    return g_strdup_printf("%.2fx (target >= %.1fx: %s)",
                           lm->median / other->median, target,
                           lm->median / other->median >= target
                           ? "met" : "**not met**");
}

/* "1.04": @s's durable median over the floor's, or "—" */
static char *floor_fraction(const BenchSummary *s, const BenchSummary *floor)
{
    if (!s->n || !floor->n || floor->median <= 0) {
        return g_strdup("—");
    }
    return g_strdup_printf("%.2f", s->median / floor->median);
}

/*
 * What the target vs QEMU asks of this machine: @qemu's rate times the
 * target, against the floor's rate
 */
static char *target_vs_floor(const BenchSummary *qemu,
                             const BenchSummary *floor)
{
    double need, share;

    if (!qemu->n || !floor->n || floor->median <= 0) {
        return g_strdup("— (QEMU or the floor has no successful run)");
    }
    need = TARGET_VS_QEMU * qemu->median;
    share = need / floor->median;
    return g_strdup_printf("%.1fx QEMU's rate needs %.0f MiB/s, %.2fx the "
                           "machine floor's %.0f MiB/s: %s", TARGET_VS_QEMU,
                           need, share, floor->median,
                           share > 1 ? "**beyond this machine's disk**"
                           : "within what this machine can do");
}

static void report(Bench *b, BenchChain *c, const HasStream *has)
{
    g_autofree char *alloc = bench_size_human(c->alloc);
    g_autofree char *disk = bench_size_human(c->disk);
    g_autofree char *dat = bench_plot_data_path(b, "stream-throughput");
    g_autoptr(GString) data = g_string_new("# method med min max\n");
    g_autofree char *plot = NULL;
    g_autofree char *v_qemu = NULL, *v_own = NULL, *v_floor = NULL;
    BenchSummary lm, qemu, own, floor_d, floor_tp;

    bench_md(b, "\n## 6. Stream: %s allocated in a %s disk pulled into the "
             "active layer\n\n"
             "Chain base <- mid <- top (top exported, no guest I/O), page "
             "cache (aio=threads); mid holds %s as 2 MiB of every 4 MiB "
             "(1 MiB pieces, every other one shifted by 1 MiB).  The "
             "stream (`base-node: base`) pulls mid into top; livemerge's "
             "intermediate commit of mid into base on the same chain copies "
             "the same bytes the other way.  Afterwards top backs onto base, "
             "every image passes `qemu-img check` and the guest's view "
             "equals the pristine one.  *machine floor*: no QEMU, the disk's "
             "own time for these bytes: mid's data (the host bytes from its "
             "first data cluster to the end of its last, %s and a few L2 "
             "tables) read from the run's own cold copy of mid.qcow2 in "
             "order by one thread (*time*), then as many bytes written to a "
             "new file through the page cache (not counted: a copy does "
             "that while it reads) and fdatasync()'d: *durable* = read + "
             "fdatasync.  Reading and writing back at once gained nothing "
             "on this machine (bench/copy-floor.h), so no copy of these "
             "bytes can be durable much sooner.  The page cache is dropped "
             "before every run.  "
             "%d repetitions, methods alternating.  *durable*: command to "
             "`BLOCK_JOB_COMPLETED` plus `syncfs()`; MiB/s = allocated bytes "
             "/ durable time; *durable / floor*: the method's median durable "
             "time over the floor's.\n",
             alloc, disk, alloc, alloc, b->sz.stream_reps);
    bench_md_header(b, (const char *[]) {
        "method", "time (s)", "durable (s)", "MiB/s (durable)",
        "livemerge-stream / method", "durable / floor",
        "QMP reply max (ms)", NULL });
    summarize(b, c, LM_STREAM, "throughput", &lm);
    summarize(b, c, FLOOR, "durable", &floor_d);
    for (guint mi = 0; mi < N_METHODS; mi++) {
        const char *skip = skipped(b, has, mi);
        BenchSummary t, d, tp, q;
        g_autofree char *ct = NULL, *cd = NULL, *ctp = NULL, *cq = NULL;
        g_autofree char *ratio = NULL, *cf = NULL;

        if (skip && !*skip) {
            continue;
        }
        summarize(b, c, mi, "time", &t);
        summarize(b, c, mi, "durable", &d);
        summarize(b, c, mi, "throughput", &tp);
        summarize(b, c, mi, "qmp_reply_max", &q);
        if (skip) {
            ct = g_strdup(skip);
            cd = g_strdup("n/a");
            ctp = g_strdup("n/a");
            cq = g_strdup("n/a");
        } else {
            ct = bench_fmt_cell(&t, 2);
            cd = bench_fmt_cell(&d, 2);
            ctp = bench_fmt_cell(&tp, 0);
            cq = mi == FLOOR ? g_strdup("n/a") : bench_fmt_cell(&q, 0);
        }
        /* Throughput ratio: > 1 = livemerge-stream faster */
        ratio = mi == LM_STREAM ? g_strdup(lm.n ? "1" : "—")
                                : bench_fmt_ratio(&lm, &tp);
        cf = skip ? g_strdup("n/a") : floor_fraction(&d, &floor_d);
        bench_md_row(b, (const char *[]) {
            order[mi].label, ct, cd, ctp, ratio, cf, cq, NULL });
        g_string_append_printf(data, "\"%s\" %.1f %.1f %.1f\n",
                               order[mi].label, tp.n ? tp.median : 0,
                               tp.n ? tp.min : 0, tp.n ? tp.max : 0);
    }
    summarize(b, c, QEMU_STREAM, "throughput", &qemu);
    summarize(b, c, LM_COMMIT, "throughput", &own);
    summarize(b, c, FLOOR, "throughput", &floor_tp);
    v_qemu = verdict(&lm, &qemu, TARGET_VS_QEMU, has->cur);
    v_own = verdict(&lm, &own, TARGET_VS_OWN_COMMIT, has->cur);
    v_floor = target_vs_floor(&qemu, &floor_tp);
    bench_md(b, "\n- livemerge-stream / QEMU block-stream (MiB/s medians): "
             "%s\n- livemerge-stream / livemerge's intermediate commit: "
             "%s\n- the machine floor: %s\n", v_qemu, v_own, v_floor);
    if (b->ab_plugin && has->cur && has->ab) {
        BenchSummary cur, prev;

        summarize(b, c, LM_STREAM, "durable", &cur);
        summarize(b, c, LM_STREAM_AB, "durable", &prev);
        bench_ab_verdict(b, "livemerge-stream's durable time", &cur, &prev);
    }

    g_file_set_contents(dat, data->str, -1, NULL);
    plot = g_strdup_printf(
        BENCH_GP_THROUGHPUT_BARS
        "plot '%s' using 2:3:4:xtic(1) title 'page cache'\n", dat);
    bench_plot(b, "stream-throughput", "Stream throughput", plot);
}

void bench_scenario_stream(Bench *b)
{
    HasStream has = {
        .cur = bench_plugin_has_command(BENCH_DAEMON_PLUGIN,
                                        "livemerge-stream"),
        .ab = b->ab_plugin &&
              bench_plugin_has_command(BENCH_DAEMON_PLUGIN_AB,
                                       "livemerge-stream"),
    };
    BenchChain *c = bench_chain_build(b, SCENARIO, b->sz.inter_disk,
                                      b->sz.inter_alloc, FALSE);

    for (int rep = 0; rep < b->sz.stream_reps; rep++) {
        for (guint i = 0; i < N_METHODS; i++) {
            /* livemerge first, then the rivals; reversed next time */
            guint mi = rep % 2 ? N_METHODS - 1 - i : i;
            BenchInterOpts o = { .method = order[mi].m, .ab = order[mi].ab };
            BenchKey k = { SCENARIO, order[mi].method, NULL, NULL, CACHE,
                           c->label };
            BenchRun *run;

            if (skipped(b, &has, mi)) {
                continue;
            }
            run = bench_run_begin(b, &k, rep,
                                  bench_inter_daemon_name(b, &o));
            bench_inter_run(b, c, &o, run);
            bench_run_end(run);
        }
    }
    report(b, c, &has);
    bench_chain_free(c);
}
