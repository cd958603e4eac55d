/*
 * livemerge-bench: livemerge against its rivals, end to end
 *
 *   livemerge-bench [--quick] [--output DIR] [--workdir DIR]
 *                   [--guest-impact LIST] [--cache LIST] [--ab-plugin SO]
 *                   [SCENARIO...]
 *
 * Scenarios (default: all): intermediate (1), active (2), pivot (3),
 * mirror (4), scaling (5: scaling-allocated, scaling-virtual, rss),
 * timeline (the over-time plot of an active commit), stream (6),
 * mirror-job (7) and whole (8: the guest writes its whole disk).  Results go to
 * bench/results/<YYYY-MM-DD>[-quick]/ unless --output says otherwise:
 * results.md, results.csv, PNG plots, machine.txt, and raw/ (fio logs,
 * plot data; not meant to be committed).
 *
 * Exit status: 0 when every run succeeded, 1 when a run failed (its rows
 * say why: a failed job, image check or content compare), 2 on bad usage.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "ab.h"
#include "bench.h"
#include "daemon.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <glib/gstdio.h>

#ifndef BENCH_SOURCE_ROOT
#error "BENCH_SOURCE_ROOT must name the source tree"
#endif

static gboolean opt_quick;
static char *opt_output;
static char *opt_workdir;
static int opt_reps;
static gboolean opt_rival_plugin;
static gboolean opt_keep_work;
static gboolean opt_list;
static gboolean opt_smoke;
static gboolean opt_no_lm_mirror;
static gboolean opt_active_idle_only;
static gboolean opt_remove_output;
static char *opt_qsd;
static char *opt_guest_impact;
static char *opt_cache;
static char *opt_whole_loads;
static char *opt_ab_plugin;
static double opt_warm_up = NAN;       /* NAN: not given */

static const GOptionEntry options[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &opt_quick,
      "small sizes and short loads: every scenario in about two minutes "
      "(a smoke test)", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &opt_output,
      "results directory (default: bench/results/<date>[-quick]); a name "
      "ending in XXXXXX is made unique", "DIR" },
    { "remove-output", 0, 0, G_OPTION_ARG_NONE, &opt_remove_output,
      "remove the results directory at the end when every run succeeded "
      "and every file was written (keep it otherwise, for a look)", NULL },
    { "workdir", 'w', 0, G_OPTION_ARG_FILENAME, &opt_workdir,
      "where the images go: a temp dir is made in DIR (default: the temp "
      "location with the most free space)", "DIR" },
    { "reps", 'r', 0, G_OPTION_ARG_INT, &opt_reps,
      "repetitions of every comparison (default 3)", "N" },
    { "qsd", 0, 0, G_OPTION_ARG_FILENAME, &opt_qsd,
      "the qemu-storage-daemon to measure, livemerge and QEMU's own jobs "
      "alike (default: $QSD, else /usr/bin/qemu-storage-daemon; one "
      "unpacked by scripts/unpack-qsd brings its own modules and qemu-img)",
      "PATH" },
    { "guest-impact", 0, 0, G_OPTION_ARG_STRING, &opt_guest_impact,
      "scenario 8 (whole): also run livemerge's active commit with each "
      "of these guest-impact settings, comma-separated percents 1-100 "
      "(e.g. 10,25,50,100); the default row (no guest-impact given) "
      "always runs", "LIST" },
    { "active-idle-only", 0, 0, G_OPTION_ARG_NONE, &opt_active_idle_only,
      "scenario 2 (active): the idle guest only (e.g. an A/B run of what "
      "pacing leaves alone)", NULL },
    { "no-lm-mirror", 0, 0, G_OPTION_ARG_NONE, &opt_no_lm_mirror,
      "scenario 8 (whole): leave livemerge-mirror out (a frontier run of "
      "the commit's settings)", NULL },
    { "cache", 0, 0, G_OPTION_ARG_STRING, &opt_cache,
      "scenario 8 (whole): the cache modes, comma-separated: page "
      "(aio=threads), direct (cache.direct=on, aio=native); default: "
      "page,direct", "LIST" },
    { "whole-loads", 0, 0, G_OPTION_ARG_STRING, &opt_whole_loads,
      "scenario 8 (whole): the loads, comma-separated: 4k (4 KiB random "
      "writes at QD16), 64k (64 KiB at QD4); default: 4k,64k", "LIST" },
    { "warm-up", 0, 0, G_OPTION_ARG_DOUBLE, &opt_warm_up,
      "scenario 8 (whole): how long the guest writes before the job (or "
      "the no-job window) starts, in seconds (default 10, 0.3 with "
      "--quick; past the "
      "kernel's 30 s dirty expiry the host writes the guest's pages back "
      "as it would for a guest that has run for a while)", "S" },
    { "ab-plugin", 0, 0, G_OPTION_ARG_FILENAME, &opt_ab_plugin,
      "A/B: scenarios 1, 2 (idle guest) and 6 also run livemerge with "
      "this other build of the plugin (its livemerge.so), alternating "
      "with this one, and say whether this build stays within 5 %; "
      "scenario 8 runs every livemerge commit row with it too and "
      "compares (bench/README.rst: building the previous default)", "SO" },
    { "rival-with-plugin", 0, 0, G_OPTION_ARG_NONE, &opt_rival_plugin,
      "run QEMU's own jobs in a daemon with the plugin loaded (default: "
      "the stock daemon)", NULL },
    { "keep-work", 0, 0, G_OPTION_ARG_NONE, &opt_keep_work,
      "keep the work dir (images) at the end", NULL },
    { "list", 'l', 0, G_OPTION_ARG_NONE, &opt_list,
      "list the scenarios and exit", NULL },
    { "smoke", 0, 0, G_OPTION_ARG_NONE, &opt_smoke,
      "exit 0 once the run completed and wrote its files, even with FAILED "
      "runs (they stay in results.md): the CI smoke test, whose data "
      "checks the test suites own", NULL },
    { NULL },
};

static const struct {
    const char *name;
    const char *alias;
    const char *what;
} scenarios[] = {
    { "intermediate", "1", "intermediate commit: livemerge vs block-commit "
      "vs qemu-img commit, page cache and direct, raw copy reference" },
    { "active", "2", "active commit: idle and loaded guest, time to READY "
      "and guest IOPS/latency, every copy mode vs QEMU's active commit" },
    { "pivot", "3", "pivot time (block-job-complete to "
      "BLOCK_JOB_COMPLETED) under the heaviest load" },
    { "mirror", "4", "active commit vs blockdev-mirror "
      "copy-mode=write-blocking under the same loads" },
    { "scaling", "5", "scaling-allocated + scaling-virtual + rss" },
    { "scaling-allocated", NULL, "time against allocated size" },
    { "scaling-virtual", NULL, "time against virtual size (sparse, to "
      "1 TiB)" },
    { "rss", NULL, "daemon peak RSS per job against buf-size" },
    { "timeline", NULL, "guest IOPS/latency and job throughput over time "
      "during an active commit, livemerge and QEMU side by side" },
    { "stream", "6", "stream (pull a backing layer into the active one): "
      "livemerge-stream vs block-stream vs livemerge's own intermediate "
      "commit, page cache" },
    { "mirror-job", "7", "livemerge-mirror vs blockdev-mirror "
      "write-blocking and background under 4k QD16, guest writing half "
      "or all of its disk" },
    { "whole", "8", "active commit and mirrors with a guest writing its "
      "whole disk, including the region being copied, page cache and "
      "direct: guest work lost, p99, start to pivot, the frontier of "
      "--guest-impact settings, issue 13's targets" },
};

static void set_sizes(Bench *b)
{
    BenchSizes *s = &b->sz;

    if (b->quick) {
        *s = (BenchSizes) {
            .reps = 3,
            .inter_disk = 128 * MiB, .inter_alloc = 64 * MiB,
            .base_data = 32 * MiB,
            .active_disk = 128 * MiB, .active_alloc = 32 * MiB,
            .ramp_s = 0.3, .hold_s = 0.2, .baseline_s = 0.8,
            .whole_ramp_s = 0.3, .whole_baseline_s = 0.8,
            .ready_cap_s = 8, .pivot_cap_s = 4,
            .stream_reps = 1, .job_reps = 1,
            .scale_alloc = { 16 * MiB, 32 * MiB, 64 * MiB },
            .scale_alloc_disk = 256 * MiB,
            .scale_alloc_big = 0, .scale_alloc_big_reps = 1,
            .scale_virt = { 128 * MiB, 1 * GiB, 16 * GiB, 1 * TiB },
            .scale_virt_alloc = 32 * MiB,
            .scale_reps = 1,
            .rss_buf = { 1 * MiB, 16 * MiB, 256 * MiB },
            .rss_alloc = 64 * MiB, .rss_disk = 128 * MiB,
            .rss_reps = 1,
        };
    } else {
        *s = (BenchSizes) {
            .reps = 3,
            .inter_disk = 2 * GiB, .inter_alloc = 1 * GiB,
            .base_data = 512 * MiB,
            .active_disk = 2 * GiB, .active_alloc = 512 * MiB,
            /* 3 s: the guest's first writes allocate the overlay's
             * clusters (COW), after that it is in steady state, so the
             * no-job window and the job's window compare like for like */
            .ramp_s = 3.0, .hold_s = 1.0, .baseline_s = 5.0,
            /* in steady state before the job starts, and a baseline as
             * long as a typical job (bench/README.rst) */
            .whole_ramp_s = 10.0, .whole_baseline_s = 10.0,
            .ready_cap_s = 60, .pivot_cap_s = 30,
            /* the target is a median of at least 5 */
            .stream_reps = 5, .job_reps = 3,
            .scale_alloc = { 256 * MiB, 512 * MiB, 1 * GiB, 2 * GiB,
                             4 * GiB },
            .scale_alloc_disk = 8 * GiB,
            .scale_alloc_big = 4 * GiB, .scale_alloc_big_reps = 3,
            .scale_virt = { 2 * GiB, 16 * GiB, 128 * GiB, 1 * TiB },
            .scale_virt_alloc = 1 * GiB,
            .scale_reps = 3,
            .rss_buf = { 1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB },
            .rss_alloc = 1 * GiB, .rss_disk = 2 * GiB,
            .rss_reps = 3,
        };
    }
    if (!isnan(opt_warm_up)) {
        s->whole_ramp_s = opt_warm_up;
    }
    if (opt_reps > 0) {
        s->reps = s->scale_reps = s->rss_reps = opt_reps;
        s->stream_reps = s->job_reps = opt_reps;
        s->scale_alloc_big_reps = MIN(s->scale_alloc_big_reps, opt_reps);
    }
}

/* The temp location with the most free space */
static char *pick_work_parent(void)
{
    const char *candidates[] = { g_get_tmp_dir(), "/var/tmp", "/tmp",
                                 BENCH_SOURCE_ROOT };
    const char *best = g_get_tmp_dir();
    guint64 best_free = 0;

    for (guint i = 0; i < G_N_ELEMENTS(candidates); i++) {
        struct statvfs st;

        if (statvfs(candidates[i], &st) == 0 &&
            access(candidates[i], W_OK) == 0 &&
            (guint64)st.f_bavail * st.f_frsize > best_free) {
            best_free = (guint64)st.f_bavail * st.f_frsize;
            best = candidates[i];
        }
    }
    return g_strdup(best);
}

static guint64 free_bytes(const char *path)
{
    struct statvfs st;

    return statvfs(path, &st) == 0 ? (guint64)st.f_bavail * st.f_frsize : 0;
}

/* Now, formatted with @fmt */
static char *now_str(const char *fmt)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();

    return g_date_time_format(now, fmt);
}

static char *read_first_match(const char *file, const char *prefix)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(file, &text, NULL, NULL)) {
        return g_strdup("unknown");
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, prefix)) {
            const char *v = strchr(*l, ':');

            return g_strdup(v ? g_strstrip(g_strdup(v + 1)) : *l);
        }
    }
    return g_strdup("unknown");
}

static char *run_text(const char *const *argv)
{
    g_autofree char *out = NULL;

    if (!bench_run(argv, &out, NULL) || !out) {
        return g_strdup("unknown\n");
    }
    return g_steal_pointer(&out);
}

/* machine.txt, and the one-line summary for every CSV row */
static void describe_machine(Bench *b)
{
    const char *qsd = g_getenv("QSD") ? g_getenv("QSD")
                                      : "/usr/bin/qemu-storage-daemon";
    const char *qsd_v[] = { qsd, "--version", NULL };
    const char *img_v[] = { "qemu-img", "--version", NULL };
    const char *fio_v[] = { "fio", "--version", NULL };
    const char *gp_v[] = { "gnuplot", "--version", NULL };
    const char *uname[] = { "uname", "-srvm", NULL };
    const char *df[] = { "df", "-h", b->work_dir, NULL };
    const char *git[] = { "git", "-C", BENCH_SOURCE_ROOT, "describe",
                          "--always", "--dirty", NULL };
    g_autofree char *cpu = read_first_match("/proc/cpuinfo", "model name");
    g_autofree char *mem = read_first_match("/proc/meminfo", "MemTotal");
    g_autofree char *qsd_version = bench_command_line_output(qsd_v);
    g_autofree char *img_version = bench_command_line_output(img_v);
    g_autofree char *fio_version = bench_command_line_output(fio_v);
    g_autofree char *gp_version = bench_command_line_output(gp_v);
    g_autofree char *kernel = bench_command_line_output(uname);
    g_autofree char *dfout = run_text(df);
    g_autofree char *ab = b->ab_plugin ? bench_ab_describe(b->ab_plugin)
                                       : NULL;
    g_autofree char *path = g_build_filename(b->out_dir, "machine.txt", NULL);
    g_autofree char *date = now_str("%Y-%m-%d %H:%M:%S %z");
    g_autofree char *text = NULL;
    guint64 mem_kib = g_ascii_strtoull(mem, NULL, 10);
    const char *v;

    /* "QEMU emulator version 7.2.22 (Debian ...)" -> "7.2.22 (Debian ...)" */
    v = strstr(qsd_version, "version ");
    b->qemu_version = g_strdup(v ? v + strlen("version ") : qsd_version);
    /* What was built and loaded: the tree may move on during a long run */
    b->revision = bench_command_line_output(git);
    b->machine = g_strdup_printf("%s, %d CPUs, %.1f GiB RAM, %s", cpu,
                                 (int)sysconf(_SC_NPROCESSORS_ONLN),
                                 mem_kib / 1024.0 / 1024.0, kernel);
    text = g_strdup_printf(
        "date: %s\n"
        "host: %s\n"
        "nproc: %ld\n"
        "memory: %s\n"
        "kernel: %s\n"
        "cpu: %s\n"
        "qemu-storage-daemon: %s (%s)\n"
        "qemu-img: %s\n"
        "fio: %s\n"
        "gnuplot: %s\n"
        "livemerge: %s\n"
        "A/B previous plugin: %s\n"
        "mode: %s\n"
        "rivals run in: %s daemon\n"
        "page cache dropped before runs: %s\n"
        "workdir: %s\n"
        "disk (df -h workdir):\n%s",
        date, g_get_host_name(), sysconf(_SC_NPROCESSORS_ONLN), mem, kernel,
        cpu, qsd_version, qsd, img_version, fio_version, gp_version,
        b->revision, ab ? ab : "none",
        b->quick ? "quick" : "full",
        b->rival_plugin ? "the plugin-loaded" : "the stock (no plugin)",
        b->can_drop_caches ? "yes" : "no", b->work_dir, dfout);
    if (!g_file_set_contents(path, text, -1, NULL)) {
        bench_die("cannot write %s", path);
    }
}

static char *md_header(Bench *b, double minutes, GPtrArray *failures)
{
    g_autoptr(GString) h = g_string_new(NULL);
    g_autofree char *date = now_str("%Y-%m-%d");

    g_string_append_printf(h,
        "# livemerge benchmark, %s%s\n\n"
        "- machine: %s\n"
        "- QEMU: qemu-storage-daemon %s; livemerge %s\n"
        "- QEMU's own jobs (block-commit, block-stream, blockdev-mirror) "
        "ran in %s; "
        "livemerge and the no-job guest baselines in the daemon with the "
        "plugin\n"
        "- %d repetitions per point (unless a table says otherwise), "
        "methods alternating: livemerge first, then the rivals, reversed "
        "on the next repetition; every run starts from a fresh copy of the "
        "same pristine images and a fresh daemon%s\n"
        "- cells: median [min–max]; ratio = livemerge median / rival "
        "median; a run whose job, `qemu-img check` or `qemu-img compare` "
        "failed is a **FAILED** cell, never a number\n"
        "- the guest is fio's nbd engine on the daemon's NBD export; "
        "latencies are fio's (submission to completion) percentiles\n"
        "- run took %.1f min; machine details in machine.txt, every value "
        "in results.csv\n",
        date, b->quick ? " (--quick: small sizes, a smoke test; the "
        "numbers are not meaningful)" : "", b->machine, b->qemu_version,
        b->revision,
        b->rival_plugin ? "the same daemon with the plugin loaded"
                        : "the stock daemon, without the plugin",
        b->sz.reps, b->can_drop_caches ? "; the page cache is dropped "
        "before each run" : "", minutes);
    if (b->ab_plugin) {
        g_autofree char *ab = bench_ab_describe(b->ab_plugin);

        g_string_append_printf(h,
            "- A/B: scenarios 1, 2 (idle guest), 6 and 8 (its livemerge "
            "commits) also ran livemerge with a previous build of the plugin, %s, alternating with this "
            "one (rows *%s*)\n", ab, BENCH_AB_LABEL);
    }
    {
        BenchKey all = { 0 };
        BenchSummary load;

        bench_summarize(b->report, &all, "loadavg", &load);
        if (load.n) {
            g_string_append_printf(h,
                "- machine load (1-min load average at the end of each "
                "run): median %.1f, max %.1f on %d CPUs%s\n", load.median,
                load.max, (int)sysconf(_SC_NPROCESSORS_ONLN),
                load.max > sysconf(_SC_NPROCESSORS_ONLN)
                ? " — other work shared the machine during some runs, "
                  "expect noise (the loadavg metric of every run is in "
                  "results.csv)" : "");
        }
    }
    if (failures->len) {
        g_string_append_printf(h, "\n**%u run(s) FAILED:**\n\n",
                               failures->len);
        for (guint i = 0; i < failures->len; i++) {
            g_string_append_printf(h, "- %s\n",
                                   (char *)g_ptr_array_index(failures, i));
        }
    }
    return g_string_free(g_steal_pointer(&h), FALSE);
}

static gboolean selected(GHashTable *sel, const char *name)
{
    return g_hash_table_size(sel) == 0 || g_hash_table_contains(sel, name);
}

/* The run must have left these; a smoke test checks nothing more */
static gboolean check_outputs(Bench *b, GHashTable *sel)
{
    const char *always[] = { "results.md", "results.csv", "machine.txt" };
    gboolean ok = TRUE;
    struct {
        const char *scenario, *png;
    } pngs[] = {
        { "intermediate", "intermediate-throughput.png" },
        { "active", b->active_idle_only ? "active-ready.png"
                                        : "active-iops.png" },
        { "mirror", "active-iops.png" },
        { "scaling-allocated", "scaling-allocated.png" },
        { "scaling-virtual", "scaling-virtual.png" },
        { "rss", "rss-bufsize.png" },
        { "timeline", "active-timeline.png" },
        { "stream", "stream-throughput.png" },
        { "mirror-job", "mirror-job-work-lost.png" },
        /* every run measures 4k-qd16-whole unless --whole-loads says */
        { "whole", b->whole_page && b->whole_4k
                   ? "whole-frontier-4k-qd16-whole-page.png" : NULL },
        { "whole", b->whole_direct && b->whole_4k
                   ? "whole-frontier-4k-qd16-whole-direct.png" : NULL },
    };

    for (guint i = 0; i < G_N_ELEMENTS(always); i++) {
        g_autofree char *p = g_build_filename(b->out_dir, always[i], NULL);
        GStatBuf st;

        if (g_stat(p, &st) < 0 || st.st_size == 0) {
            fprintf(stderr, "livemerge-bench: %s is missing\n", p);
            ok = FALSE;
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(pngs); i++) {
        g_autofree char *p = g_build_filename(b->out_dir, pngs[i].png, NULL);
        GStatBuf st;

        if (pngs[i].png && selected(sel, pngs[i].scenario) &&
            (g_stat(p, &st) < 0 || st.st_size == 0)) {
            fprintf(stderr, "livemerge-bench: %s is missing\n", p);
            ok = FALSE;
        }
    }
    return ok;
}

static int cmp_int(gconstpointer a, gconstpointer b)
{
    return *(const int *)a - *(const int *)b;
}

/* --guest-impact: percents, ascending, each once; FALSE with a message */
static gboolean parse_guest_impacts(const char *list, GArray *out)
{
    g_auto(GStrv) items = g_strsplit(list, ",", -1);

    for (char **i = items; *i; i++) {
        guint64 v;
        int pct;

        if (!g_ascii_string_to_unsigned(g_strstrip(*i), 10, 1, 100, &v,
                                        NULL)) {
            fprintf(stderr, "livemerge-bench: --guest-impact: '%s' is not "
                    "a percent from 1 to 100\n", *i);
            return FALSE;
        }
        pct = v;
        g_array_append_val(out, pct);
    }
    g_array_sort(out, cmp_int);
    for (guint i = 1; i < out->len; i++) {
        if (g_array_index(out, int, i) == g_array_index(out, int, i - 1)) {
            g_array_remove_index(out, i--);
        }
    }
    return TRUE;
}

/*
 * An option whose value lists one or both of two words (--cache,
 * --whole-loads): sets *first and *second to whether each is listed;
 * FALSE with a message on any other word
 */
static gboolean parse_either_or_both(const char *option, const char *list,
                                     const char *first_word, gboolean *first,
                                     const char *second_word,
                                     gboolean *second)
{
    g_auto(GStrv) items = g_strsplit(list, ",", -1);

    *first = *second = FALSE;
    for (char **i = items; *i; i++) {
        if (g_str_equal(g_strstrip(*i), first_word)) {
            *first = TRUE;
        } else if (g_str_equal(*i, second_word)) {
            *second = TRUE;
        } else {
            fprintf(stderr, "livemerge-bench: --%s: '%s' is neither '%s' "
                    "nor '%s'\n", option, *i, first_word, second_word);
            return FALSE;
        }
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("[SCENARIO...] - livemerge benchmarks");
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) sel = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) failures = NULL;
    g_autofree char *work_parent = NULL;
    g_autofree char *tmpl = NULL;
    g_autofree char *header = NULL;
    Bench bench = { 0 }, *b = &bench;
    BenchActiveSel asel;
    gboolean outputs_ok;

    g_option_context_add_main_entries(ctx, options, NULL);
    g_option_context_set_summary(ctx,
        "Scenarios (default: all): intermediate|1, active|2, pivot|3, "
        "mirror|4, scaling|5 (= scaling-allocated scaling-virtual rss), "
        "timeline, stream|6, mirror-job|7, whole|8.  See --list.");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "livemerge-bench: %s\n", err->message);
        return 2;
    }
    if (!isnan(opt_warm_up) && !(opt_warm_up >= 0 && opt_warm_up <= 600)) {
        fprintf(stderr, "livemerge-bench: --warm-up: '%g' is not a number "
                "of seconds from 0 to 600\n", opt_warm_up);
        return 2;
    }
    if (opt_list) {
        for (guint i = 0; i < G_N_ELEMENTS(scenarios); i++) {
            printf("%-18s %s\n", scenarios[i].name, scenarios[i].what);
        }
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        gboolean known = FALSE;

        for (guint j = 0; j < G_N_ELEMENTS(scenarios); j++) {
            if (g_str_equal(argv[i], scenarios[j].name) ||
                (scenarios[j].alias &&
                 g_str_equal(argv[i], scenarios[j].alias))) {
                known = TRUE;
                if (g_str_equal(scenarios[j].name, "scaling")) {
                    g_hash_table_add(sel, (char *)"scaling-allocated");
                    g_hash_table_add(sel, (char *)"scaling-virtual");
                    g_hash_table_add(sel, (char *)"rss");
                } else {
                    g_hash_table_add(sel, (char *)scenarios[j].name);
                }
            }
        }
        if (!known) {
            fprintf(stderr, "livemerge-bench: unknown scenario '%s' (see "
                    "--list)\n", argv[i]);
            return 2;
        }
    }

    b->guest_impacts = g_array_new(FALSE, FALSE, sizeof(int));
    b->whole_page = b->whole_direct = TRUE;
    b->whole_4k = b->whole_64k = TRUE;
    b->whole_lm_mirror = !opt_no_lm_mirror;
    b->active_idle_only = opt_active_idle_only;
    if ((opt_guest_impact &&
         !parse_guest_impacts(opt_guest_impact, b->guest_impacts)) ||
        (opt_cache &&
         !parse_either_or_both("cache", opt_cache, "page", &b->whole_page,
                               "direct", &b->whole_direct)) ||
        (opt_whole_loads &&
         !parse_either_or_both("whole-loads", opt_whole_loads,
                               "4k", &b->whole_4k, "64k", &b->whole_64k))) {
        return 2;
    }
    if (opt_ab_plugin) {
        if (!g_file_test(opt_ab_plugin, G_FILE_TEST_IS_REGULAR)) {
            fprintf(stderr, "livemerge-bench: --ab-plugin: '%s' is not a "
                    "file (the previous build's livemerge.so)\n",
                    opt_ab_plugin);
            return 2;
        }
        b->ab_plugin = g_canonicalize_filename(opt_ab_plugin, NULL);
        bench_daemon_set_ab_plugin(b->ab_plugin);
    }
    if (opt_qsd) {
        bench_daemon_select(opt_qsd);
    }
    /* The loader skips a library it cannot preload: check it is a plugin */
    if (b->ab_plugin &&
        !bench_plugin_has_command(BENCH_DAEMON_PLUGIN_AB, "livemerge-commit")) {
        fprintf(stderr, "livemerge-bench: --ab-plugin: '%s' gives the daemon "
                "no livemerge-commit: not a livemerge plugin built for this "
                "daemon\n", b->ab_plugin);
        return 2;
    }
    b->quick = opt_quick;
    b->rival_plugin = opt_rival_plugin;
    b->can_drop_caches = access("/proc/sys/vm/drop_caches", W_OK) == 0;
    b->report = bench_report_new();
    b->start_us = g_get_monotonic_time();
    set_sizes(b);

    if (opt_output && g_str_has_suffix(opt_output, "XXXXXX")) {
        /* Concurrent runs (two test suites at once) must not share it */
        g_autofree char *tmpl = g_canonicalize_filename(opt_output, NULL);
        g_autofree char *parent = g_path_get_dirname(tmpl);

        bench_mkdir(parent);
        if (!g_mkdtemp(tmpl)) {
            bench_die("cannot make %s: %s", tmpl, g_strerror(errno));
        }
        b->out_dir = g_steal_pointer(&tmpl);
    } else if (opt_output) {
        b->out_dir = g_canonicalize_filename(opt_output, NULL);
    } else {
        g_autofree char *date = now_str("%Y-%m-%d");
        g_autofree char *name = g_strconcat(date, b->quick ? "-quick" : "",
                                            NULL);

        b->out_dir = g_build_filename(BENCH_SOURCE_ROOT, "bench", "results",
                                      name, NULL);
    }
    b->raw_dir = g_build_filename(b->out_dir, "raw", NULL);
    bench_remove_tree(b->raw_dir);
    bench_mkdir(b->raw_dir);

    work_parent = opt_workdir ? g_strdup(opt_workdir) : pick_work_parent();
    bench_mkdir(work_parent);
    tmpl = g_build_filename(work_parent, "livemerge-bench-XXXXXX", NULL);
    b->work_dir = g_mkdtemp(tmpl) ? g_strdup(tmpl) : NULL;
    if (!b->work_dir) {
        bench_die("cannot make a work dir in %s", work_parent);
    }
    if (!b->quick && free_bytes(b->work_dir) < 16 * GiB) {
        bench_log("warning: only %.1f GiB free in %s; the full run needs "
                  "about 16 GiB at its peak",
                  free_bytes(b->work_dir) / (double)GiB, b->work_dir);
    }
    describe_machine(b);
    bench_log("%s run, results in %s, images in %s",
              b->quick ? "quick" : "full", b->out_dir, b->work_dir);

    if (selected(sel, "intermediate")) {
        bench_scenario_intermediate(b);
    }
    asel = (BenchActiveSel) {
        .active = selected(sel, "active"),
        .pivot = selected(sel, "pivot"),
        .mirror = selected(sel, "mirror"),
        .timeline = selected(sel, "timeline"),
        .mirror_job = selected(sel, "mirror-job"),
    };
    if (asel.active || asel.pivot || asel.mirror || asel.timeline ||
        asel.mirror_job) {
        bench_scenario_active(b, &asel);
    }
    if (selected(sel, "whole")) {
        bench_scenario_whole(b);
    }
    if (selected(sel, "stream")) {
        bench_scenario_stream(b);
    }
    if (selected(sel, "scaling-allocated") ||
        selected(sel, "scaling-virtual") || selected(sel, "rss")) {
        bench_scenario_scaling(b, selected(sel, "scaling-allocated"),
                               selected(sel, "scaling-virtual"),
                               selected(sel, "rss"));
    }

    failures = bench_report_failures(b->report);
    header = md_header(b, (g_get_monotonic_time() - b->start_us) / 6e7,
                       failures);
    bench_report_write(b, header);
    if (!opt_keep_work) {
        bench_remove_tree(b->work_dir);
    }
    outputs_ok = check_outputs(b, sel);
    bench_log("done in %.1f min: %s/results.md%s",
              (g_get_monotonic_time() - b->start_us) / 6e7, b->out_dir,
              failures->len ? " (with FAILED runs)" : "");
    bench_report_free(b->report);
    if (!outputs_ok) {
        return 1;
    }
    if (opt_remove_output && !failures->len) {
        bench_remove_tree(b->out_dir);
    }
    return failures->len && !opt_smoke ? 1 : 0;
}
