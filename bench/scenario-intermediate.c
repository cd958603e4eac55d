/*
 * Scenario 1: intermediate commit, page cache and cache.direct=on:
 * livemerge-commit vs QEMU's block-commit vs offline qemu-img commit, and
 * the machine's raw copy rate for the same bytes as the physical bound.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "bench.h"
#include "ab.h"
#include "commit.h"
#include "report.h"

#define SCENARIO "intermediate"

/* Every method, the previous build's livemerge (A/B) next to this one's */
static const BenchInterRow order[] = {
    { BENCH_INTER_LIVEMERGE, FALSE, "livemerge", "livemerge-commit" },
    { BENCH_INTER_LIVEMERGE, TRUE, "livemerge-ab",
      "livemerge-commit, " BENCH_AB_LABEL },
    { BENCH_INTER_QEMU, FALSE, "qemu-block-commit", "QEMU block-commit" },
    { BENCH_INTER_QEMU_IMG, FALSE, "qemu-img-commit",
      "qemu-img commit (offline)" },
    { BENCH_INTER_RAW_COPY, FALSE, "raw-copy", "raw copy, fio read+write" },
};
#define N_METHODS G_N_ELEMENTS(order)

static const char *const caches[] = { "page", "direct" };

/* Whether method @mi runs (the A/B row only with --ab-plugin) */
static gboolean runs(Bench *b, guint mi)
{
    return !order[mi].ab || b->ab_plugin;
}

static void report(Bench *b, BenchChain *c)
{
    g_autofree char *alloc = bench_size_human(c->alloc);
    g_autofree char *disk = bench_size_human(c->disk);
    g_autofree char *dat = bench_plot_data_path(b, "intermediate-throughput");
    g_autoptr(GString) data = g_string_new(
        "# method page_med page_min page_max direct_med direct_min "
        "direct_max\n");
    g_autofree char *plot = NULL;

    bench_md(b, "\n## 1. Intermediate commit: %s allocated in a %s disk\n\n"
             "Chain base <- mid <- top (top exported, no guest I/O); mid "
             "(%s in 1 MiB pieces over the whole disk) is committed into "
             "base, which holds data in its first part, so the commit both "
             "overwrites and allocates.  *time*: command to "
             "`BLOCK_JOB_COMPLETED` (offline: `qemu-img commit -d` + "
             "`qemu-img rebase -u`, the header change a live commit makes); "
             "*durable*: plus `syncfs()` of the images' filesystem, which "
             "is what makes page-cache runs comparable (with "
             "`cache.direct=on` it is ~0).  Raw copy: fio reads and writes "
             "the same number of bytes at once (1 MiB, QD16, libaio; "
             "page cache: `end_fsync`).  Caches are dropped before every "
             "run.  Ratio: livemerge median / that method's median "
             "(durable time; < 1 = livemerge faster); for the raw copy row, "
             "livemerge's throughput as a share of it.  *QMP reply max*: the "
             "slowest reply to `query-block-jobs`, polled every 250 ms "
             "during the job: how long the daemon's main loop was kept "
             "busy at a stretch.\n", alloc, disk,
             alloc);

    for (guint ci = 0; ci < G_N_ELEMENTS(caches); ci++) {
        BenchKey lk = { SCENARIO, "livemerge", NULL, NULL, caches[ci],
                        c->label };
        BenchSummary lm;

        bench_md(b, "\n### cache: %s%s\n", caches[ci],
                 ci ? " (`cache.direct=on`, aio=native; qemu-img -t none)"
                    : " (aio=threads; qemu-img -t writeback)");
        bench_md_header(b, (const char *[]) {
            "method", "time (s)", "durable (s)", "MiB/s (durable)",
            "ratio livemerge/method", "QMP reply max (ms)", NULL });
        bench_summarize(b->report, &lk, "durable", &lm);
        for (guint mi = 0; mi < N_METHODS; mi++) {
            BenchKey k = { SCENARIO, order[mi].method, NULL, NULL,
                           caches[ci], c->label };
            BenchSummary t, d, tp, lmtp, q;
            g_autofree char *ct = NULL, *cd = NULL, *ctp = NULL, *cq = NULL;
            g_autofree char *ratio = NULL;

            if (!runs(b, mi)) {
                continue;
            }
            bench_summarize(b->report, &k, "time", &t);
            bench_summarize(b->report, &k, "durable", &d);
            bench_summarize(b->report, &k, "throughput", &tp);
            ct = bench_fmt_cell(&t, 2);
            cd = bench_fmt_cell(&d, 2);
            ctp = bench_fmt_cell(&tp, 0);
            bench_summarize(b->report, &k, "qmp_reply_max", &q);
            cq = bench_fmt_cell(&q, 0);
            if (order[mi].m == BENCH_INTER_LIVEMERGE && !order[mi].ab) {
                ratio = g_strdup(lm.n ? "1" : "—");
            } else if (order[mi].m == BENCH_INTER_RAW_COPY) {
                bench_summarize(b->report, &lk, "throughput", &lmtp);
                ratio = lmtp.n && tp.n
                        ? g_strdup_printf("%.0f %% of raw",
                                          100 * lmtp.median / tp.median)
                        : g_strdup("—");
            } else {
                ratio = bench_fmt_ratio(&lm, &d);
            }
            bench_md_row(b, (const char *[]) {
                order[mi].label, ct, cd, ctp, ratio, cq, NULL });
        }
        if (b->ab_plugin) {
            BenchKey pk = { SCENARIO, "livemerge-ab", NULL, NULL,
                            caches[ci], c->label };
            BenchSummary prev;
            g_autofree char *what = g_strdup_printf(
                "livemerge-commit's durable time, %s cache", caches[ci]);

            bench_summarize(b->report, &pk, "durable", &prev);
            bench_ab_verdict(b, what, &lm, &prev);
        }
    }

    for (guint mi = 0; mi < N_METHODS; mi++) {
        if (!runs(b, mi)) {
            continue;
        }
        g_string_append_printf(data, "\"%s\"", order[mi].label);
        for (guint ci = 0; ci < G_N_ELEMENTS(caches); ci++) {
            BenchKey k = { SCENARIO, order[mi].method, NULL, NULL,
                           caches[ci], c->label };
            BenchSummary tp;

            bench_summarize(b->report, &k, "throughput", &tp);
            if (tp.n) {
                g_string_append_printf(data, " %.1f %.1f %.1f", tp.median,
                                       tp.min, tp.max);
            } else {
                g_string_append(data, " 0 0 0");
            }
        }
        g_string_append_c(data, '\n');
    }
    g_file_set_contents(dat, data->str, -1, NULL);
    plot = g_strdup_printf(
        BENCH_GP_THROUGHPUT_BARS
        "plot '%s' using 2:3:4:xtic(1) title 'page cache', "
        "'' using 5:6:7 title 'cache.direct=on'\n", dat);
    bench_plot(b, "intermediate-throughput",
               "Intermediate commit throughput", plot);
}

void bench_scenario_intermediate(Bench *b)
{
    BenchChain *c = bench_chain_build(b, "intermediate", b->sz.inter_disk,
                                      b->sz.inter_alloc, TRUE);

    for (guint ci = 0; ci < G_N_ELEMENTS(caches); ci++) {
        for (int rep = 0; rep < b->sz.reps; rep++) {
            for (guint i = 0; i < N_METHODS; i++) {
                /* livemerge first, then the rivals; reversed next time */
                guint mi = rep % 2 ? N_METHODS - 1 - i : i;
                BenchInterOpts o = { .method = order[mi].m,
                                     .direct = ci == 1, .ab = order[mi].ab };
                BenchKey k = { SCENARIO, order[mi].method, NULL, NULL,
                               caches[ci], c->label };
                BenchRun *run;

                if (!runs(b, mi)) {
                    continue;
                }
                run = bench_run_begin(b, &k, rep,
                                      bench_inter_daemon_name(b, &o));
                bench_inter_run(b, c, &o, run);
                bench_run_end(run);
            }
        }
    }
    report(b, c);
    bench_chain_free(c);
}
