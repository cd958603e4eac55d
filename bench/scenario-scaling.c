/*
 * Scenario 5: scaling.  Intermediate commits (the copy loop alone, no
 * guest) with cache.direct=on:
 *  - time against allocated size, in a disk of fixed virtual size,
 *  - time against virtual size, 1 GiB allocated (sparse, to 1 TiB),
 *  - daemon peak RSS (VmHWM of a fresh daemon after one job) against
 *    livemerge's buf-size, at the default max-in-flight and at 256, with
 *    QEMU's block-commit and the idle daemon as references.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "bench.h"

#include <math.h>

#include "commit.h"
#include "report.h"

/* livemerge vs block-commit on @c, alternating, @reps times */
static void compare_on_chain(Bench *b, const char *scenario, BenchChain *c,
                             int reps)
{
    const BenchInterMethod order[] = { BENCH_INTER_LIVEMERGE,
                                       BENCH_INTER_QEMU };

    for (int rep = 0; rep < reps; rep++) {
        for (guint i = 0; i < G_N_ELEMENTS(order); i++) {
            BenchInterMethod m = order[rep % 2 ? 1 - i : i];
            BenchInterOpts o = { .method = m, .direct = TRUE };
            BenchKey k = { scenario, bench_inter_method_name[m], NULL, NULL,
                           "direct", c->label };
            BenchRun *run = bench_run_begin(b, &k, rep,
                                            bench_inter_daemon_name(b, &o));

            bench_inter_run(b, c, &o, run);
            bench_run_end(run);
        }
    }
}

/*
 * Table and plot of a series: @labels / @xs (x values, in the plot's unit)
 * for @n points.
 */
static void series_report(Bench *b, const char *scenario, const char *name,
                          const char *title, const char *xlabel,
                          const char *column, char **labels, double *xs,
                          int *reps, guint n, gboolean logx)
{
    g_autofree char *dat = bench_plot_data_path(b, name);
    g_autoptr(GString) data = g_string_new(
        "# x lm_med lm_min lm_max qemu_med qemu_min qemu_max\n");
    g_autofree char *plot = NULL;

    bench_md_header(b, (const char *[]) {
        column, "reps", "livemerge (s)", "QEMU block-commit (s)",
        "ratio livemerge/QEMU", "livemerge MiB/s", "QEMU MiB/s", NULL });
    for (guint i = 0; i < n; i++) {
        BenchKey lk = { scenario, "livemerge", NULL, NULL, "direct",
                        labels[i] };
        BenchKey qk = { scenario, "qemu-block-commit", NULL, NULL, "direct",
                        labels[i] };
        BenchSummary l, q, lt, qt;
        g_autofree char *cl = NULL, *cq = NULL, *ratio = NULL;
        g_autofree char *clt = NULL, *cqt = NULL;
        g_autofree char *r = g_strdup_printf("%d", reps[i]);

        bench_summarize(b->report, &lk, "durable", &l);
        bench_summarize(b->report, &qk, "durable", &q);
        bench_summarize(b->report, &lk, "throughput", &lt);
        bench_summarize(b->report, &qk, "throughput", &qt);
        cl = bench_fmt_cell(&l, 2);
        cq = bench_fmt_cell(&q, 2);
        clt = bench_fmt_cell(&lt, 0);
        cqt = bench_fmt_cell(&qt, 0);
        ratio = bench_fmt_ratio(&l, &q);
        bench_md_row(b, (const char *[]) { labels[i], r, cl, cq, ratio, clt,
                                           cqt, NULL });
        g_string_append_printf(data, "%g %g %g %g %g %g %g\n", xs[i],
                               l.n ? l.median : NAN, l.n ? l.min : NAN,
                               l.n ? l.max : NAN, q.n ? q.median : NAN,
                               q.n ? q.min : NAN, q.n ? q.max : NAN);
    }
    g_file_set_contents(dat, data->str, -1, NULL);
    plot = g_strdup_printf(
        "%s"
        "set xlabel '%s'\n"
        "set ylabel 'seconds to durable (median, min-max)'\n"
        "set yrange [0:*]\n"
        "plot '%s' using 1:2:3:4 with yerrorlines title 'livemerge-commit', "
        "'' using 1:5:6:7 with yerrorlines title 'QEMU block-commit'\n",
        logx ? "set logscale x 2\n" : "", xlabel, dat);
    bench_plot(b, name, title, plot);
}

static void scaling_allocated(Bench *b)
{
    const BenchSizes *s = &b->sz;
    g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) xs = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(GArray) reps = g_array_new(FALSE, FALSE, sizeof(int));
    g_autofree char *disk = bench_size_human(s->scale_alloc_disk);
    gboolean reduced = FALSE;

    for (guint i = 0; i < G_N_ELEMENTS(s->scale_alloc) && s->scale_alloc[i];
         i++) {
        int n = s->scale_alloc_big && s->scale_alloc[i] >= s->scale_alloc_big
                ? s->scale_alloc_big_reps : s->scale_reps;
        BenchChain *c = bench_chain_build(b, "scaling", s->scale_alloc_disk,
                                          s->scale_alloc[i], FALSE);
        double x = (double)s->scale_alloc[i] / MiB;

        reduced |= n < s->scale_reps;
        compare_on_chain(b, "scaling-allocated", c, n);
        g_ptr_array_add(labels, g_strdup(c->label));
        g_array_append_val(xs, x);
        g_array_append_val(reps, n);
        bench_chain_free(c);
    }
    bench_md(b, "\n### 5a. Time against allocated size (%s disk)\n\n"
             "Intermediate commit as in 1, `cache.direct=on`, the layer's "
             "data spread over the whole disk.%s\n", disk,
             reduced ? "  The largest point has fewer repetitions to keep "
             "the run short." : "");
    series_report(b, "scaling-allocated", "scaling-allocated",
                  "Commit time against allocated size", "allocated MiB",
                  "allocated/virtual", (char **)labels->pdata,
                  (double *)xs->data, (int *)reps->data, labels->len, TRUE);
}

static void scaling_virtual(Bench *b)
{
    const BenchSizes *s = &b->sz;
    g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) xs = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(GArray) reps = g_array_new(FALSE, FALSE, sizeof(int));
    g_autofree char *alloc = bench_size_human(s->scale_virt_alloc);

    for (guint i = 0; i < G_N_ELEMENTS(s->scale_virt) && s->scale_virt[i];
         i++) {
        BenchChain *c = bench_chain_build(b, "scaling", s->scale_virt[i],
                                          s->scale_virt_alloc, FALSE);
        double x = (double)s->scale_virt[i] / GiB;

        compare_on_chain(b, "scaling-virtual", c, s->scale_reps);
        g_ptr_array_add(labels, g_strdup(c->label));
        g_array_append_val(xs, x);
        g_array_append_val(reps, s->scale_reps);
        bench_chain_free(c);
    }
    bench_md(b, "\n### 5b. Time against virtual size (%s allocated)\n\n"
             "The same bytes spread over ever larger sparse disks: what "
             "grows is metadata (L1/L2 tables, the dirty bitmap, block "
             "status calls over unallocated ranges).\n", alloc);
    series_report(b, "scaling-virtual", "scaling-virtual",
                  "Commit time against virtual size", "virtual size, GiB",
                  "allocated/virtual", (char **)labels->pdata,
                  (double *)xs->data, (int *)reps->data, labels->len, TRUE);
}

static void rss_report(Bench *b, BenchChain *c, const int *mifs, guint n_mif)
{
    const BenchSizes *s = &b->sz;
    g_autofree char *dat = bench_plot_data_path(b, "rss-bufsize");
    g_autoptr(GString) data = g_string_new("# buf_MiB");
    g_autoptr(GString) plot = g_string_new(NULL);
    const char *qemu_daemon = b->rival_plugin ? "plugin" : "stock";
    BenchKey idle_k = { "rss", "no-job", "plugin", NULL, "direct",
                        c->label };
    BenchKey idle_stock_k = { "rss", "no-job", "stock", NULL, "direct",
                              c->label };
    BenchKey qemu_k = { "rss", "qemu-block-commit", qemu_daemon, NULL,
                        "direct", c->label };
    BenchSummary idle, idle_stock, qemu;
    g_autofree char *c_idle = NULL, *c_idle_stock = NULL, *c_qemu = NULL;
    g_autofree char *qemu_delta = NULL;
    g_autofree char *alloc = bench_size_human(c->alloc);

    bench_summarize(b->report, &idle_k, "peak_rss", &idle);
    bench_summarize(b->report, &idle_stock_k, "peak_rss", &idle_stock);
    bench_summarize(b->report, &qemu_k, "peak_rss", &qemu);
    c_idle = bench_fmt_cell(&idle, 1);
    c_idle_stock = bench_fmt_cell(&idle_stock, 1);
    c_qemu = bench_fmt_cell(&qemu, 1);
    {
        const BenchSummary *ref = b->rival_plugin ? &idle : &idle_stock;

        qemu_delta = qemu.n && ref->n
                     ? g_strdup_printf("%.1f", qemu.median - ref->median)
                     : g_strdup("—");
    }
    bench_md(b, "\n### 5c. Daemon peak RSS against buf-size\n\n"
             "VmHWM of a fresh daemon (chain added and exported) after one "
             "intermediate commit of %s, `cache.direct=on`; %d run(s) per "
             "point.  livemerge keeps at most min(buf-size, max-in-flight "
             "x 1 MiB chunk) in flight, so beyond 16 MiB buf-size only "
             "matters with a larger max-in-flight.  References, no job: "
             "the daemon with the plugin %s MiB, the stock daemon %s MiB; "
             "QEMU block-commit (%s daemon) %s MiB, %s MiB over its idle "
             "daemon.\n", alloc, s->rss_reps, c_idle, c_idle_stock,
             qemu_daemon, c_qemu, qemu_delta);
    bench_md_header(b, (const char *[]) {
        "buf-size", "max-in-flight", "peak RSS (MiB)", "over idle daemon "
        "(MiB)", "commit time (s)", NULL });
    for (guint mi = 0; mi < n_mif; mi++) {
        g_string_append_printf(data, " mif%d min max", mifs[mi]);
    }
    g_string_append(data, " idle qemu\n");
    for (guint i = 0; i < G_N_ELEMENTS(s->rss_buf) && s->rss_buf[i]; i++) {
        g_autofree char *buf = bench_size_str(s->rss_buf[i]);

        g_string_append_printf(data, "%g", (double)s->rss_buf[i] / MiB);
        for (guint mi = 0; mi < n_mif; mi++) {
            g_autofree char *mode = g_strdup_printf("buf=%s,mif=%d", buf,
                                                    mifs[mi]);
            BenchKey k = { "rss", "livemerge", mode, NULL, "direct",
                           c->label };
            BenchSummary r, t;
            g_autofree char *cr = NULL, *ct = NULL, *delta = NULL;
            g_autofree char *mif = g_strdup_printf("%d", mifs[mi]);

            bench_summarize(b->report, &k, "peak_rss", &r);
            bench_summarize(b->report, &k, "durable", &t);
            cr = bench_fmt_cell(&r, 1);
            ct = bench_fmt_cell(&t, 2);
            delta = r.n && idle.n ? g_strdup_printf("%.1f",
                                                    r.median - idle.median)
                                  : g_strdup("—");
            bench_md_row(b, (const char *[]) { buf, mif, cr, delta, ct,
                                               NULL });
            g_string_append_printf(data, " %g %g %g", r.n ? r.median : NAN,
                                   r.n ? r.min : NAN, r.n ? r.max : NAN);
        }
        g_string_append_printf(data, " %g %g\n", idle.n ? idle.median : NAN,
                               qemu.n ? qemu.median : NAN);
    }
    g_file_set_contents(dat, data->str, -1, NULL);
    g_string_append_printf(plot,
        "set logscale x 2\n"
        "set xlabel 'livemerge buf-size (MiB)'\n"
        "set ylabel 'daemon peak RSS, MiB (VmHWM)'\n"
        "set yrange [0:*]\n"
        "plot ");
    for (guint mi = 0; mi < n_mif; mi++) {
        g_string_append_printf(plot,
            "'%s' using 1:%u:%u:%u with yerrorlines title 'livemerge, "
            "max-in-flight %d', ", dat, 2 + 3 * mi, 3 + 3 * mi, 4 + 3 * mi,
            mifs[mi]);
    }
    g_string_append_printf(plot,
        "'%s' using 1:%u with lines dt 2 title 'daemon, no job', "
        "'%s' using 1:%u with lines dt 3 title 'QEMU block-commit'\n",
        dat, 2 + 3 * n_mif, dat, 3 + 3 * n_mif);
    bench_plot(b, "rss-bufsize", "Daemon peak RSS against buf-size",
               plot->str);
}

static void rss(Bench *b)
{
    const BenchSizes *s = &b->sz;
    static const int mifs[] = { 16, 256 };
    BenchChain *c = bench_chain_build(b, "rss", s->rss_disk, s->rss_alloc,
                                      FALSE);

    for (int rep = 0; rep < s->rss_reps; rep++) {
        /* The references, then every buf-size */
        const struct {
            BenchInterMethod m;
            gboolean stock;
        } refs[] = {
            { BENCH_INTER_IDLE, FALSE },
            { BENCH_INTER_IDLE, TRUE },
            { BENCH_INTER_QEMU, !b->rival_plugin },
        };

        for (guint i = 0; i < G_N_ELEMENTS(refs); i++) {
            BenchInterOpts o = { .method = refs[i].m, .direct = TRUE,
                                 .measure_rss = TRUE,
                                 .stock_daemon = refs[i].stock };
            const char *daemon = refs[i].stock ? "stock" : "plugin";
            BenchKey k = { "rss", bench_inter_method_name[refs[i].m],
                           daemon, NULL, "direct", c->label };
            BenchRun *run = bench_run_begin(b, &k, rep, daemon);

            bench_inter_run(b, c, &o, run);
            bench_run_end(run);
        }
        for (guint mi = 0; mi < G_N_ELEMENTS(mifs); mi++) {
            for (guint i = 0; i < G_N_ELEMENTS(s->rss_buf) && s->rss_buf[i];
                 i++) {
                g_autofree char *buf = bench_size_str(s->rss_buf[i]);
                g_autofree char *mode = g_strdup_printf("buf=%s,mif=%d", buf,
                                                        mifs[mi]);
                BenchInterOpts o = { .method = BENCH_INTER_LIVEMERGE,
                                     .direct = TRUE, .measure_rss = TRUE,
                                     .buf_size = s->rss_buf[i],
                                     .max_in_flight = mifs[mi] };
                BenchKey k = { "rss", "livemerge", mode, NULL, "direct",
                               c->label };
                BenchRun *run = bench_run_begin(b, &k, rep, "plugin");

                bench_inter_run(b, c, &o, run);
                bench_run_end(run);
            }
        }
    }
    rss_report(b, c, mifs, G_N_ELEMENTS(mifs));
    bench_chain_free(c);
}

void bench_scenario_scaling(Bench *b, gboolean allocated, gboolean virt,
                            gboolean rss_sel)
{
    bench_md(b, "\n## 5. Scaling\n");
    if (allocated) {
        scaling_allocated(b);
    }
    if (virt) {
        scaling_virtual(b);
    }
    if (rss_sel) {
        rss(b);
    }
}
