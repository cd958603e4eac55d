/*
 * livemerge benchmark harness - one intermediate commit, by any method
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE             /* syncfs */
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "copy-floor.h"
#include "daemon.h"
#include "fio.h"
#include "images.h"

#define JOB_ID "bench"
/* An intermediate commit of a few GiB takes seconds; this is a hang */
#define COMMIT_TIMEOUT_S 1200

const char *const bench_inter_method_name[] = {
    [BENCH_INTER_LIVEMERGE] = "livemerge",
    [BENCH_INTER_QEMU] = "qemu-block-commit",
    [BENCH_INTER_QEMU_IMG] = "qemu-img-commit",
    [BENCH_INTER_RAW_COPY] = "raw-copy",
    [BENCH_INTER_IDLE] = "no-job",
    [BENCH_INTER_LIVEMERGE_STREAM] = "livemerge-stream",
    [BENCH_INTER_QEMU_STREAM] = "qemu-block-stream",
    [BENCH_INTER_FLOOR] = "machine-floor",
};

static const char *const chain_files[] = { "base.qcow2", "mid.qcow2",
                                           "top.qcow2", NULL };

BenchChain *bench_chain_build(Bench *b, const char *name, guint64 disk,
                              guint64 alloc, gboolean with_raw_src)
{
    BenchChain *c = g_new0(BenchChain, 1);
    g_autofree char *base = NULL, *mid = NULL, *top = NULL;
    g_autofree char *a = bench_size_str(alloc), *v = bench_size_str(disk);
    guint64 top_alloc = MIN(16 * MiB, MAX(disk / 8, MiB));
    double t = bench_now();

    c->dir = g_build_filename(b->work_dir, name, "pristine", NULL);
    c->disk = disk;
    c->alloc = alloc;
    c->label = g_strdup_printf("%s/%s", a, v);
    bench_mkdir(c->dir);
    base = g_build_filename(c->dir, "base.qcow2", NULL);
    mid = g_build_filename(c->dir, "mid.qcow2", NULL);
    top = g_build_filename(c->dir, "top.qcow2", NULL);

    bench_image_create(base, disk, NULL);
    bench_image_fill(base, PATTERN_BASE, 0, MIN(b->sz.base_data, disk / 2));
    bench_image_create(mid, disk, "base.qcow2");
    bench_image_spread(mid, PATTERN_MID, 0, disk, alloc);
    bench_image_data_span(mid, &c->mid_data_offset, &c->mid_data_len);
    bench_image_create(top, disk, "mid.qcow2");
    bench_image_spread(top, PATTERN_TOP, 0, disk, top_alloc);

    if (with_raw_src) {
        g_autofree char *size = g_strdup_printf("--size=%" G_GUINT64_FORMAT,
                                                alloc);
        g_autofree char *fn = NULL;
        const char *argv[] = { "fio", "--name=prep", NULL, "--rw=write",
                               "--bs=1M", "--ioengine=psync", size,
                               "--output-format=terse", NULL };

        c->raw_src = g_build_filename(b->work_dir, name, "raw-src", NULL);
        fn = g_strdup_printf("--filename=%s", c->raw_src);
        argv[2] = fn;
        g_free(bench_run_or_die(argv));
    }
    bench_log("built chain %s (%s allocated in a %s disk) in %.1f s", name,
              a, v, bench_now() - t);
    return c;
}

void bench_chain_free(BenchChain *c)
{
    if (!c) {
        return;
    }
    bench_remove_tree(c->dir);
    if (c->raw_src) {
        g_unlink(c->raw_src);
    }
    g_free(c->dir);
    g_free(c->raw_src);
    g_free(c->label);
    g_free(c);
}

int bench_inter_daemon(Bench *b, const BenchInterOpts *o)
{
    switch (o->method) {
    case BENCH_INTER_LIVEMERGE:
    case BENCH_INTER_LIVEMERGE_STREAM:
        return o->ab ? BENCH_DAEMON_PLUGIN_AB : BENCH_DAEMON_PLUGIN;
    case BENCH_INTER_IDLE:
        return o->stock_daemon ? BENCH_DAEMON_STOCK : BENCH_DAEMON_PLUGIN;
    case BENCH_INTER_QEMU:
    case BENCH_INTER_QEMU_STREAM:
        return b->rival_plugin ? BENCH_DAEMON_PLUGIN : BENCH_DAEMON_STOCK;
    default:
        return -1;
    }
}

const char *bench_inter_daemon_name(Bench *b, const BenchInterOpts *o)
{
    int kind = bench_inter_daemon(b, o);

    return kind < 0 ? "none" : bench_daemon_kind_name(kind);
}

/* syncfs() of the filesystem holding @path: makes page-cache runs durable */
static double syncfs_seconds(const char *path)
{
    double t = bench_now();
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
    return bench_now() - t;
}

static void record_times(BenchRun *run, BenchChain *c, double t_job,
                         double t_sync)
{
    bench_run_value(run, "time", t_job, "s");
    bench_run_value(run, "durable", t_job + t_sync, "s");
    bench_run_value(run, "throughput",
                    (double)c->alloc / MiB / (t_job + t_sync), "MiB/s");
}

static void raw_copy_run(Bench *b, BenchChain *c, const BenchInterOpts *o,
                         BenchRun *run, const char *run_dir)
{
    g_autofree char *dst = g_build_filename(run_dir, "raw-dst", NULL);
    g_autofree char *slug = bench_run_slug(run);
    g_autofree char *json_dir = g_build_filename(b->raw_dir, "raw-copy",
                                                 NULL);
    g_autofree char *json_name = g_strconcat(slug, ".json", NULL);
    g_autofree char *json = g_build_filename(json_dir, json_name, NULL);
    g_autoptr(GError) err = NULL;
    double secs;

    bench_mkdir(json_dir);
    bench_drop_caches(b);
    if (!bench_fio_copy(c->raw_src, dst, c->alloc, o->direct, json, &secs,
                        &err)) {
        bench_run_fail(run, "fio copy: %s", err->message);
        return;
    }
    record_times(run, c, secs, 0);
}

/*
 * The floor: mid's data read from the run's own cold copy of mid.qcow2
 * (laid out on disk as the jobs find it) into a new file, without QEMU
 */
static void floor_run(Bench *b, BenchChain *c, BenchRun *run,
                      const char *run_dir)
{
    g_autofree char *mid = g_build_filename(run_dir, "mid.qcow2", NULL);
    g_autofree char *dst = g_build_filename(run_dir, "floor-dst", NULL);
    g_autoptr(GError) err = NULL;
    BenchFloorTimes t;

    bench_drop_caches(b);
    if (!bench_floor_copy(mid, c->mid_data_offset, c->mid_data_len, dst, &t,
                          &err)) {
        bench_run_fail(run, "floor copy: %s", err->message);
        return;
    }
    record_times(run, c, t.read_s, t.flush_s);
}

static void offline_run(Bench *b, BenchChain *c, const BenchInterOpts *o,
                        BenchRun *run, const char *run_dir)
{
    g_autofree char *mid = g_build_filename(run_dir, "mid.qcow2", NULL);
    g_autofree char *top = g_build_filename(run_dir, "top.qcow2", NULL);
    const char *commit[] = { "qemu-img", "commit", "-q", "-f", "qcow2",
                             "-t", o->direct ? "none" : "writeback", "-d",
                             mid, NULL };
    /* What a live commit does to the top's header */
    const char *rebase[] = { "qemu-img", "rebase", "-u", "-f", "qcow2",
                             "-b", "base.qcow2", "-F", "qcow2", top, NULL };
    g_autoptr(GError) err = NULL;
    double t;

    bench_drop_caches(b);
    t = bench_now();
    if (!bench_run(commit, NULL, &err) || !bench_run(rebase, NULL, &err)) {
        bench_run_fail(run, "%s", err->message);
        return;
    }
    t = bench_now() - t;
    record_times(run, c, t, syncfs_seconds(mid));
}

static void live_run(Bench *b, BenchChain *c, const BenchInterOpts *o,
                     BenchRun *run, const char *run_dir)
{
    g_autofree char *base = g_build_filename(run_dir, "base.qcow2", NULL);
    g_autofree char *mid = g_build_filename(run_dir, "mid.qcow2", NULL);
    g_autofree char *top = g_build_filename(run_dir, "top.qcow2", NULL);
    g_autofree char *fail_log = bench_run_failure_log(run);
    g_autoptr(GError) err = NULL;
    BenchDaemon *d;
    LmQmp *qmp;
    BenchJobWatch w;
    double t0, t1 = 0;
    gboolean timed_out, ok;

    bench_drop_caches(b);
    d = bench_daemon_start(bench_inter_daemon(b, o), &err);
    if (!d) {
        bench_run_fail(run, "%s", err->message);
        return;
    }
    qmp = bench_daemon_qmp(d);
    if (!bench_daemon_add_qcow2(d, "base", base, NULL, TRUE, o->direct,
                                &err) ||
        !bench_daemon_add_qcow2(d, "mid", mid, "base", TRUE, o->direct,
                                &err) ||
        !bench_daemon_add_qcow2(d, "top", top, "mid", FALSE, o->direct,
                                &err) ||
        !bench_daemon_export(d, "top", &err)) {
        bench_run_fail(run, "setup: %s", err->message);
        goto stop;
    }

    bench_job_watch_init(&w, d, JOB_ID, bench_now());
    t0 = bench_now();
    switch (o->method) {
    case BENCH_INTER_LIVEMERGE: {
        g_autoptr(GString) extra = g_string_new(NULL);

        if (o->buf_size) {
            g_string_append_printf(extra, ", \"buf-size\": %" G_GUINT64_FORMAT,
                                   o->buf_size);
        }
        if (o->max_in_flight) {
            g_string_append_printf(extra, ", \"max-in-flight\": %d",
                                   o->max_in_flight);
        }
        ok = lm_qmp_runf(qmp, &err, "livemerge-commit",
                         "{\"job-id\": \"" JOB_ID "\", \"device\": \"top\", "
                         "\"top-node\": \"mid\", \"base-node\": \"base\"%s}",
                         extra->str);
        break;
    }
    case BENCH_INTER_QEMU:
        ok = lm_qmp_runf(qmp, &err, "block-commit",
                         "{\"job-id\": \"" JOB_ID "\", \"device\": \"top\", "
                         "\"top-node\": \"mid\", \"base-node\": \"base\"}");
        break;
    case BENCH_INTER_LIVEMERGE_STREAM:
    case BENCH_INTER_QEMU_STREAM:
        /* Pull mid into top, keep base: the same bytes a commit copies */
        ok = lm_qmp_runf(qmp, &err,
                         o->method == BENCH_INTER_QEMU_STREAM
                         ? "block-stream" : "livemerge-stream",
                         "{\"job-id\": \"" JOB_ID "\", \"device\": \"top\", "
                         "\"base-node\": \"base\"}");
        break;
    default:
        ok = TRUE;
        break;
    }
    if (!ok) {
        bench_run_fail(run, "starting the job: %s", err->message);
        bench_job_watch_clear(&w);
        goto stop;
    }
    if (o->method != BENCH_INTER_IDLE) {
        const LmJobInfo *end = bench_job_wait(&w, FALSE, COMMIT_TIMEOUT_S,
                                              &timed_out, &err);

        if (!end) {
            bench_run_fail(run, "%s", timed_out ? "no BLOCK_JOB_COMPLETED "
                           "within the timeout (hang?)" : err->message);
        } else if (end->state != LM_JOB_COMPLETED) {
            bench_run_fail(run, "job ended %s: %s",
                           lm_job_state_name(end->state),
                           end->error ? end->error : "no error given");
        } else {
            t1 = bench_job_state_time(end);
            record_times(run, c, t1 - t0, syncfs_seconds(base));
            bench_run_value(run, "qmp_reply_max", w.max_reply * 1000, "ms");
        }
    }
    bench_job_watch_clear(&w);
    if (o->measure_rss) {
        guint64 kib = bench_daemon_peak_rss_kib(d);

        if (kib) {
            bench_run_value(run, "peak_rss", kib / 1024.0, "MiB");
        }
    }

stop:
    {
        g_autoptr(GError) stop_err = NULL;

        if (!bench_daemon_stop(d, fail_log, bench_run_failed(run),
                               &stop_err)) {
            bench_run_fail(run, "%s", stop_err->message);
        }
    }
}

void bench_inter_run(Bench *b, BenchChain *c, const BenchInterOpts *o,
                     BenchRun *run)
{
    g_autofree char *run_dir = g_build_filename(b->work_dir, "run", NULL);
    g_autofree char *base = g_build_filename(run_dir, "base.qcow2", NULL);
    g_autofree char *top = g_build_filename(run_dir, "top.qcow2", NULL);
    g_autofree char *ref = g_build_filename(c->dir, "top.qcow2", NULL);
    g_autoptr(GError) err = NULL;

    bench_remove_tree(run_dir);
    bench_mkdir(run_dir);
    if (o->method == BENCH_INTER_RAW_COPY) {
        raw_copy_run(b, c, o, run, run_dir);
        bench_remove_tree(run_dir);
        return;
    }
    bench_copy_set(c->dir, run_dir, chain_files);
    if (o->method == BENCH_INTER_FLOOR) {
        floor_run(b, c, run, run_dir);
        bench_remove_tree(run_dir);
        return;
    }

    if (o->method == BENCH_INTER_QEMU_IMG) {
        offline_run(b, c, o, run, run_dir);
    } else {
        live_run(b, c, o, run, run_dir);
    }

    /* Cheap sanity: clean images, the top on the base, same guest view */
    if (!bench_run_failed(run) && o->method != BENCH_INTER_IDLE) {
        g_autofree char *backing = bench_image_backing(top);

        if (!g_str_has_suffix(backing, "base.qcow2")) {
            bench_run_fail(run, "top.qcow2 backs onto '%s', not the base",
                           backing);
        } else if (!bench_image_check(base, &err) ||
                   !bench_image_check(top, &err)) {
            bench_run_fail(run, "qemu-img check: %s", err->message);
        } else if (!bench_image_compare(top, ref, &err)) {
            bench_run_fail(run, "guest-visible content differs from the "
                           "pristine chain: %s", err->message);
        }
    }
    bench_remove_tree(run_dir);
}
