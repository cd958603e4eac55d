/*
 * livemerge benchmark harness - fio as the guest, and as the raw copy
 * reference
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "fio.h"
#include "bench.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* fio needs a moment to start and connect before its warm-up counts */
#define FIO_START_SLACK_S 0.25
#define FIO_CONNECT_TIMEOUT_S 5
#define FIO_EXIT_TIMEOUT_S 60

struct BenchFio {
    GSubprocess *proc;
    char *json_path;
    char *log_path;
    double t_spawn;
    double t_connected;     /* fio said it is connected */
    double ramp_s;
    gboolean timed;         /* ends by itself */
};

static void fio_child_setup(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void add(GPtrArray *argv, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void add(GPtrArray *argv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(argv, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

BenchFio *bench_fio_start(const BenchFioLoad *load, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autofree char *logs = g_build_filename(load->dir, "guest", NULL);
    BenchFio *f = g_new0(BenchFio, 1);

    f->json_path = g_build_filename(load->dir, "fio.json", NULL);
    f->log_path = g_build_filename(load->dir, "fio.log", NULL);
    f->ramp_s = load->ramp_s;
    f->timed = load->runtime_s > 0;

    add(argv, "fio");
    add(argv, "--name=guest");
    add(argv, "--ioengine=nbd");
    add(argv, "--uri=nbd+unix:///%s?socket=%s", load->export_name,
        load->nbd_socket);
    add(argv, "--rw=%s", load->spec->rw);
    add(argv, "--bs=%" G_GUINT64_FORMAT, load->spec->bs);
    add(argv, "--iodepth=%d", load->spec->iodepth);
    add(argv, "--offset=%" G_GUINT64_FORMAT, load->offset);
    add(argv, "--size=%" G_GUINT64_FORMAT, load->size);
    add(argv, "--time_based=1");
    add(argv, "--runtime=%.0fms",
        (load->runtime_s > 0 ? load->runtime_s : 3600) * 1000);
    if (load->ramp_s > 0) {
        add(argv, "--ramp_time=%.0fms", load->ramp_s * 1000);
    }
    add(argv, "--lat_percentiles=1");
    add(argv, "--percentile_list=50:99:99.9");
    add(argv, "--write_iops_log=%s", logs);
    add(argv, "--write_lat_log=%s", logs);
    add(argv, "--log_avg_msec=%d", BENCH_FIO_LOG_MSEC);
    /* The latency log keeps each window's longest request: a pivot that
     * holds the guest shows there (the IOPS log still averages) */
    add(argv, "--log_max_value=1");
    if (load->pattern) {
        add(argv, "--buffer_pattern=0x%02x", load->pattern);
        add(argv, "--scramble_buffers=0");
    }
    if (load->iolog) {
        add(argv, "--write_iolog=%s", load->iolog);
    }
    add(argv, "--output-format=json");
    g_ptr_array_add(argv, NULL);

    /* Not --output: then fio keeps quiet about connecting, which
     * bench_fio_wait_ramp() waits for; the JSON follows the messages */
    g_subprocess_launcher_set_stdout_file_path(launcher, f->json_path);
    g_subprocess_launcher_set_stderr_file_path(launcher, f->log_path);
    g_subprocess_launcher_set_child_setup(launcher, fio_child_setup, NULL,
                                          NULL);
    f->t_spawn = bench_now();
    f->proc = g_subprocess_launcher_spawnv(
        launcher, (const char *const *)argv->pdata, error);
    if (!f->proc) {
        bench_fio_free(f);
        return NULL;
    }
    return f;
}

double bench_fio_t0(BenchFio *f)
{
    return f->t_connected + f->ramp_s;
}

void bench_fio_wait_ramp(BenchFio *f)
{
    double deadline = f->t_spawn + FIO_CONNECT_TIMEOUT_S;

    /* The nbd engine says when it is connected; the warm-up starts then */
    while (!f->t_connected && bench_now() < deadline &&
           g_subprocess_get_identifier(f->proc)) {
        g_autofree char *log = NULL;

        if (g_file_get_contents(f->json_path, &log, NULL, NULL) &&
            strstr(log, "connected")) {
            f->t_connected = bench_now();
            break;
        }
        bench_sleep(0.005);
    }
    if (!f->t_connected) {
        f->t_connected = f->t_spawn + FIO_START_SLACK_S;
    }
    bench_sleep(bench_fio_t0(f) - bench_now());
}

void bench_fio_free(BenchFio *f)
{
    if (!f) {
        return;
    }
    if (f->proc) {
        g_subprocess_force_exit(f->proc);
        g_subprocess_wait(f->proc, NULL, NULL);
        g_object_unref(f->proc);
    }
    g_free(f->json_path);
    g_free(f->log_path);
    g_free(f);
}

static double percentile(JsonObject *lat, const char *name)
{
    JsonObject *p = json_object_get_object_member(lat, "percentile");

    return p && json_object_has_member(p, name)
           ? json_object_get_double_member(p, name) / 1000.0 : NAN;
}

/* fio prints its JSON after any message lines: start at the first '{' */
static JsonNode *parse_fio_json(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    const char *start;

    if (!g_file_get_contents(path, &text, NULL, error)) {
        return NULL;
    }
    start = strchr(text, '{');
    if (!start) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: no JSON in fio's output", path);
        return NULL;
    }
    return json_from_string(start, error);
}

static gboolean parse_guest_stats(const char *path, BenchFioStats *st,
                                  GError **error)
{
    g_autoptr(JsonNode) root = parse_fio_json(path, error);
    JsonArray *jobs;
    JsonObject *job, *w, *lat;

    if (!root) {
        return FALSE;
    }
    jobs = json_object_get_array_member(json_node_get_object(root), "jobs");
    if (!jobs || !json_array_get_length(jobs)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: no jobs", path);
        return FALSE;
    }
    job = json_array_get_object_element(jobs, 0);
    if (json_object_get_int_member(job, "error")) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "fio: guest I/O error %" G_GINT64_FORMAT,
                    json_object_get_int_member(job, "error"));
        return FALSE;
    }
    w = json_object_get_object_member(job, "write");
    lat = json_object_has_member(w, "lat_ns")
          ? json_object_get_object_member(w, "lat_ns") : NULL;
    memset(st, 0, sizeof(*st));
    st->iops = json_object_get_double_member(w, "iops");
    st->bw_mib = json_object_get_int_member(w, "bw") / 1024.0;
    st->ios = json_object_get_int_member(w, "total_ios");
    st->runtime_s = json_object_get_int_member(w, "runtime") / 1000.0;
    if (lat && json_object_get_int_member_with_default(lat, "N", 0) > 0 &&
        json_object_has_member(lat, "percentile")) {
        st->lat_mean_us = json_object_get_double_member(lat, "mean") / 1000.0;
        st->lat_p50_us = percentile(lat, "50.000000");
        st->lat_p99_us = percentile(lat, "99.000000");
        st->lat_p999_us = percentile(lat, "99.900000");
    } else {
        /*
         * fio counted the writes but kept no latency sample: it happens
         * (rarely, with short windows) when it stays in its ramp state
         * after the warm-up.  No number rather than a wrong one.
         */
        st->lat_mean_us = st->lat_p50_us = st->lat_p99_us =
            st->lat_p999_us = NAN;
    }
    if (!st->ios) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "fio: the guest completed no write");
        return FALSE;
    }
    return TRUE;
}

gboolean bench_fio_finish(BenchFio *f, BenchFioStats *stats, GError **error)
{
    gboolean ok = FALSE;
    double deadline;

    if (!f->timed) {
        g_subprocess_send_signal(f->proc, SIGINT);
    }
    deadline = bench_now() + FIO_EXIT_TIMEOUT_S;
    while (g_subprocess_get_identifier(f->proc) && bench_now() < deadline) {
        /* the identifier goes when the child is reaped */
        bench_sleep(0.02);
    }
    if (g_subprocess_get_identifier(f->proc)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "fio did not exit within %d s", FIO_EXIT_TIMEOUT_S);
        goto out;
    }
    /* fio exits 1 on SIGINT after writing its report; judge the report */
    ok = parse_guest_stats(f->json_path, stats, error);
    if (!ok) {
        g_autofree char *log = NULL;

        if (g_file_get_contents(f->log_path, &log, NULL, NULL) && *log) {
            g_prefix_error(error, "%s: ", g_strstrip(log));
        }
    }
out:
    bench_fio_free(f);
    return ok;
}

gboolean bench_fio_copy(const char *src, const char *dst, guint64 bytes,
                        gboolean direct, const char *json_path,
                        double *seconds, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(JsonNode) root = NULL;
    JsonArray *jobs;

    add(argv, "fio");
    add(argv, "--output-format=json");
    add(argv, "--output=%s", json_path);
    add(argv, "--ioengine=libaio");
    add(argv, "--bs=1M");
    add(argv, "--iodepth=16");
    add(argv, "--direct=%d", direct ? 1 : 0);
    add(argv, "--size=%" G_GUINT64_FORMAT, bytes);
    add(argv, "--fallocate=none");
    add(argv, "--name=read");
    add(argv, "--filename=%s", src);
    add(argv, "--rw=read");
    add(argv, "--name=write");
    add(argv, "--filename=%s", dst);
    add(argv, "--rw=write");
    if (!direct) {
        add(argv, "--end_fsync=1");
    }
    if (!bench_run_array(argv, NULL, error)) {
        return FALSE;
    }
    /* fio's own clock: its start-up (~0.4 s) is not the machine's copy
     * rate; a job's runtime includes its end_fsync */
    root = parse_fio_json(json_path, error);
    if (!root) {
        return FALSE;
    }
    jobs = json_object_get_array_member(json_node_get_object(root), "jobs");
    *seconds = 0;
    for (guint i = 0; jobs && i < json_array_get_length(jobs); i++) {
        JsonObject *job = json_array_get_object_element(jobs, i);

        if (json_object_get_int_member(job, "error")) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "fio job %s: error %" G_GINT64_FORMAT,
                        json_object_get_string_member(job, "jobname"),
                        json_object_get_int_member(job, "error"));
            return FALSE;
        }
        *seconds = MAX(*seconds,
                       json_object_get_int_member(job, "job_runtime") / 1e3);
    }
    if (*seconds <= 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: no job runtime", json_path);
        return FALSE;
    }
    return TRUE;
}

double bench_fio_log_integral(GArray *log, double window_s, double t0,
                              double t1)
{
    double sum = 0;

    for (guint i = 0; i + 1 < log->len; i += 2) {
        double end = g_array_index(log, double, i);
        double v = g_array_index(log, double, i + 1);
        double lo = MAX(end - window_s, t0), hi = MIN(end, t1);

        if (hi > lo) {
            sum += v * (hi - lo);
        }
    }
    return sum;
}

guint8 *bench_fio_written_blocks(const char *iolog, guint64 disk,
                                 guint64 block, GError **error)
{
    g_autoptr(GFile) file = g_file_new_for_path(iolog);
    g_autoptr(GFileInputStream) in = g_file_read(file, NULL, error);
    g_autoptr(GDataInputStream) data = NULL;
    g_autofree guint8 *written = NULL;
    char *line;

    if (!in) {
        return NULL;
    }
    written = g_malloc0(disk / block);
    data = g_data_input_stream_new(G_INPUT_STREAM(in));
    /*
     * "fio version 3 iolog", then "[<time ms>] <file> <action> [<offset>
     * <len>]" (version 2 has no time): a write ends in "write <o> <l>"
     */
    while ((line = g_data_input_stream_read_line(data, NULL, NULL, error))) {
        g_auto(GStrv) f = g_strsplit(line, " ", -1);
        guint n = g_strv_length(f);
        guint64 off, len;

        g_free(line);
        if (n < 4 || !g_str_equal(f[n - 3], "write")) {
            continue;
        }
        off = g_ascii_strtoull(f[n - 2], NULL, 10);
        len = g_ascii_strtoull(f[n - 1], NULL, 10);
        if (off + len > disk || len == 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "%s: a write of %" G_GUINT64_FORMAT " bytes at %"
                        G_GUINT64_FORMAT " is outside the %" G_GUINT64_FORMAT
                        "-byte disk", iolog, len, off, disk);
            return NULL;
        }
        for (guint64 b = off / block; b < (off + len + block - 1) / block;
             b++) {
            written[b] = 1;
        }
    }
    if (error && *error) {
        return NULL;
    }
    return g_steal_pointer(&written);
}

GArray *bench_fio_read_log(const char *path)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GArray *out = g_array_new(FALSE, FALSE, sizeof(double));

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return out;
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *end;
        double t = g_ascii_strtod(*l, &end), v;

        if (end == *l || *end != ',') {
            continue;
        }
        v = g_ascii_strtod(end + 1, NULL);
        t /= 1000.0;
        g_array_append_val(out, t);
        g_array_append_val(out, v);
    }
    return out;
}
