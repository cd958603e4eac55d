/*
 * livemerge benchmark harness - the daemon and its block jobs
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "daemon.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <gio/gio.h>

#include "lm-test-qsd.h"

#define STOP_TIMEOUT_MS 30000
#define LOG_TAIL_BYTES 4000

struct BenchDaemon {
    LmTestQsd *qsd;
    gboolean plugin;
};

void bench_daemon_select(const char *path)
{
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autofree char *bin_dir = g_path_get_dirname(abs);
    g_autofree char *usr_dir = g_path_get_dirname(bin_dir);
    g_autofree char *root = g_path_get_dirname(usr_dir);
    g_autofree char *modules = g_build_filename(root, "usr", "lib",
                                                "x86_64-linux-gnu", "qemu",
                                                NULL);

    if (!g_file_test(abs, G_FILE_TEST_IS_EXECUTABLE)) {
        bench_die("--qsd: '%s' is not an executable", path);
    }
    /* The harness, the launcher and machine.txt all read QSD */
    g_setenv("QSD", abs, TRUE);
    if (!g_str_equal(root, "/") && g_file_test(modules, G_FILE_TEST_IS_DIR)) {
        g_autofree char *search = g_strconcat(bin_dir, ":",
                                              g_getenv("PATH"), NULL);

        g_setenv("QEMU_MODULE_DIR", modules, FALSE);
        g_setenv("PATH", search, TRUE);
    }
}

BenchDaemon *bench_daemon_start(gboolean plugin, GError **error)
{
    BenchDaemon *d = g_new0(BenchDaemon, 1);

    d->plugin = plugin;
    d->qsd = lm_test_qsd_start_full(plugin ? LM_TEST_QSD_DEFAULT
                                           : LM_TEST_QSD_NO_PLUGIN,
                                    NULL, error);
    if (!d->qsd) {
        g_free(d);
        return NULL;
    }
    return d;
}

LmQmp *bench_daemon_qmp(BenchDaemon *d)
{
    return lm_test_qsd_qmp(d->qsd);
}

const char *bench_daemon_nbd_socket(BenchDaemon *d)
{
    return lm_test_qsd_nbd_socket(d->qsd);
}

const char *bench_daemon_kind(BenchDaemon *d)
{
    return d->plugin ? "plugin" : "stock";
}

gboolean bench_daemon_add_qcow2(BenchDaemon *d, const char *node,
                                const char *path, const char *backing,
                                gboolean read_only, gboolean direct,
                                GError **error)
{
    g_autofree char *backing_json = backing
        ? g_strdup_printf("\"%s\"", backing) : g_strdup("null");

    return lm_qmp_runf(bench_daemon_qmp(d), error, "blockdev-add",
        "{\"driver\": \"qcow2\", \"node-name\": \"%s\", \"read-only\": %s, "
        "\"backing\": %s, \"file\": {\"driver\": \"file\", "
        "\"node-name\": \"%s-file\", \"filename\": \"%s\", "
        "\"aio\": \"%s\", \"cache\": {\"direct\": %s}}}",
        node, read_only ? "true" : "false", backing_json, node, path,
        direct ? "native" : "threads", direct ? "true" : "false");
}

gboolean bench_daemon_export(BenchDaemon *d, const char *node,
                             GError **error)
{
    return lm_test_qsd_export(d->qsd, node, BENCH_EXPORT, error);
}

guint64 bench_daemon_peak_rss_kib(BenchDaemon *d)
{
    g_autofree char *path = g_strdup_printf(
        "/proc/%d/status", (int)lm_test_qsd_pid(d->qsd));
    g_autofree char *text = NULL;
    const char *hwm;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !(hwm = strstr(text, "VmHWM:"))) {
        return 0;
    }
    return g_ascii_strtoull(hwm + strlen("VmHWM:"), NULL, 10);
}

static char *log_tail(const char *log)
{
    gsize len = strlen(log);

    return g_strdup(len > LOG_TAIL_BYTES ? log + len - LOG_TAIL_BYTES : log);
}

gboolean bench_daemon_stop(BenchDaemon *d, const char *save_log_as,
                           gboolean keep_log, GError **error)
{
    LmQmp *qmp = bench_daemon_qmp(d);
    g_autofree char *log = NULL;
    gboolean ok;
    int status;

    if (qmp) {
        lm_qmp_set_timeout(qmp, STOP_TIMEOUT_MS);
        /* No reply is fine if the exit raced it; the status tells */
        lm_qmp_runf(qmp, NULL, "quit", NULL);
    }
    status = lm_test_qsd_wait(d->qsd, STOP_TIMEOUT_MS);
    ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    log = lm_test_qsd_read_log(d->qsd);
    if (save_log_as && (keep_log || !ok)) {
        g_autofree char *dir = g_path_get_dirname(save_log_as);

        g_mkdir_with_parents(dir, 0755);
        g_file_set_contents(save_log_as, log, -1, NULL);
    } else {
        save_log_as = NULL;
    }
    if (!ok) {
        g_autofree char *tail = log_tail(log);

        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "the %s daemon %s %d%s%s; log:\n%s",
                    bench_daemon_kind(d),
                    WIFEXITED(status) ? "exited with status"
                                      : "was killed by signal",
                    WIFEXITED(status) ? WEXITSTATUS(status)
                                      : WTERMSIG(status),
                    save_log_as ? " (log saved as " : "",
                    save_log_as ? save_log_as : "", tail);
    }
    lm_test_qsd_free(d->qsd);
    g_free(d);
    return ok;
}

void bench_job_watch_init(BenchJobWatch *w, BenchDaemon *d,
                          const char *job_id, double origin)
{
    *w = (BenchJobWatch) {
        .d = d,
        .job_id = job_id,
        .origin = origin,
        .samples = g_array_new(FALSE, FALSE, sizeof(BenchJobSample)),
        .next_poll = bench_now(),
    };
}

void bench_job_watch_clear(BenchJobWatch *w)
{
    g_clear_pointer(&w->samples, g_array_unref);
}

static void poll_progress(BenchJobWatch *w)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *jobs;
    double t = bench_now();

    ret = lm_qmp_executef(bench_daemon_qmp(w->d), NULL, "query-block-jobs",
                          NULL);
    /* How long the monitor took: the daemon's main loop was busy then */
    w->max_reply = MAX(w->max_reply, bench_now() - t);
    w->next_poll += BENCH_POLL_S;
    if (w->next_poll < t) {
        w->next_poll = t + BENCH_POLL_S;
    }
    if (!ret || !JSON_NODE_HOLDS_ARRAY(ret)) {
        return;
    }
    jobs = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(jobs); i++) {
        JsonObject *j = json_array_get_object_element(jobs, i);
        BenchJobSample s;

        if (g_strcmp0(json_object_get_string_member(j, "device"),
                      w->job_id)) {
            continue;
        }
        s = (BenchJobSample) {
            .t = t - w->origin,
            .offset = json_object_get_int_member(j, "offset"),
            .len = json_object_get_int_member(j, "len"),
            .ready = json_object_get_boolean_member_with_default(
                j, "ready", FALSE),
        };
        g_array_append_val(w->samples, s);
    }
}

static gboolean event_is_for(JsonObject *ev, const char *job_id)
{
    JsonObject *data = json_object_get_object_member(ev, "data");

    return data && json_object_has_member(data, "device") &&
           !g_strcmp0(json_object_get_string_member(data, "device"), job_id);
}

JsonObject *bench_job_wait(BenchJobWatch *w, const char *const *events,
                           double timeout_s, double *when,
                           gboolean *timed_out, GError **error)
{
    LmQmp *qmp = bench_daemon_qmp(w->d);
    double deadline = bench_now() + timeout_s;

    *timed_out = FALSE;
    for (;;) {
        g_autoptr(GError) err = NULL;
        double now = bench_now();
        double until = MIN(deadline, w->next_poll);
        JsonObject *ev;

        if (now >= w->next_poll) {
            poll_progress(w);
            continue;
        }
        if (now >= deadline) {
            *timed_out = TRUE;
            return NULL;
        }
        ev = lm_qmp_wait_event(qmp, NULL, MAX((int)((until - now) * 1000), 1),
                               &err);
        if (!ev) {
            if (g_error_matches(err, LM_QMP_ERROR, LM_QMP_ERROR_TIMEOUT)) {
                continue;
            }
            g_propagate_prefixed_error(error, g_steal_pointer(&err),
                                       "waiting for job '%s': ", w->job_id);
            return NULL;
        }
        if (event_is_for(ev, w->job_id)) {
            const char *name = json_object_get_string_member(ev, "event");

            for (const char *const *e = events; *e; e++) {
                if (!g_strcmp0(name, *e)) {
                    *when = bench_now();
                    return ev;
                }
            }
        }
        json_object_unref(ev);
    }
}

void bench_job_idle(BenchJobWatch *w, double seconds)
{
    double end = bench_now() + seconds;

    while (bench_now() < end) {
        double now = bench_now();

        if (now >= w->next_poll) {
            poll_progress(w);
        } else {
            bench_sleep(MIN(w->next_poll, end) - now);
        }
    }
}

const char *bench_job_event_error(JsonObject *ev)
{
    JsonObject *data = json_object_get_object_member(ev, "data");

    return data && json_object_has_member(data, "error")
           ? json_object_get_string_member(data, "error") : NULL;
}
