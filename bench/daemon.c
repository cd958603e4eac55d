/*
 * livemerge benchmark harness - the daemon and its block jobs
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "daemon.h"
#include "lm-error.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <gio/gio.h>

#include "lm-test-qsd.h"

#define STOP_TIMEOUT_MS 30000
#define LOG_TAIL_BYTES 4000

struct BenchDaemon {
    LmTestQsd *qsd;
    BenchDaemonKind kind;
};

static char *ab_plugin;

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

void bench_daemon_set_ab_plugin(const char *path)
{
    g_free(ab_plugin);
    ab_plugin = g_canonicalize_filename(path, NULL);
}

BenchDaemon *bench_daemon_start(BenchDaemonKind kind, GError **error)
{
    BenchDaemon *d = g_new0(BenchDaemon, 1);

    d->kind = kind;
    if (kind == BENCH_DAEMON_PLUGIN_AB) {
        /* The launcher loads the plugin LIVEMERGE_PLUGIN names */
        g_autofree char *env_plugin = g_strconcat("LIVEMERGE_PLUGIN=",
                                                  ab_plugin, NULL);
        const char *env[] = { env_plugin, NULL };

        g_assert(ab_plugin);
        d->qsd = lm_test_qsd_start_env(env, NULL, error);
    } else {
        d->qsd = lm_test_qsd_start_full(kind == BENCH_DAEMON_PLUGIN
                                        ? LM_TEST_QSD_DEFAULT
                                        : LM_TEST_QSD_NO_PLUGIN,
                                        NULL, error);
    }
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

const char *bench_daemon_kind_name(BenchDaemonKind kind)
{
    switch (kind) {
    case BENCH_DAEMON_STOCK: return "stock";
    case BENCH_DAEMON_PLUGIN: return "plugin";
    case BENCH_DAEMON_PLUGIN_AB: return "plugin-ab";
    default: g_assert_not_reached();
    }
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

gboolean bench_plugin_has_command(BenchDaemonKind kind, const char *command)
{
    g_autoptr(GError) err = NULL;
    BenchDaemon *d = bench_daemon_start(kind, &err);
    gboolean has;

    if (!d) {
        bench_die("starting a daemon with the %s: %s",
                  kind == BENCH_DAEMON_PLUGIN_AB ? "previous plugin"
                                                 : "plugin", err->message);
    }
    has = lm_qmp_has_command(bench_daemon_qmp(d), command, &err);
    if (err) {
        bench_die("query-commands: %s", err->message);
    }
    if (!bench_daemon_stop(d, NULL, FALSE, &err)) {
        bench_die("%s", err->message);
    }
    bench_log("the %s %s %s",
              kind == BENCH_DAEMON_PLUGIN_AB ? "previous plugin" : "plugin",
              has ? "offers" : "lacks", command);
    return has;
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
                    bench_daemon_kind_name(d->kind),
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
        .job = lm_job_new(bench_daemon_qmp(d), job_id),
        .origin = origin,
        .samples = g_array_new(FALSE, FALSE, sizeof(BenchJobSample)),
    };
    lm_job_set_poll_interval(w->job, BENCH_POLL_S * 1000);
}

void bench_job_watch_clear(BenchJobWatch *w)
{
    g_clear_pointer(&w->samples, g_array_unref);
    g_clear_pointer(&w->job, lm_job_free);
}

/* After each refresh of the watcher: one progress sample while it runs */
static gboolean take_sample(LmJob *job, gpointer data)
{
    BenchJobWatch *w = data;
    const LmJobInfo *info = lm_job_info(job);
    BenchJobSample s;

    /* How long the monitor took: the daemon's main loop was busy then */
    w->max_reply = MAX(w->max_reply, info->query_us / 1e6);
    if (lm_job_state_is_end(info->state)) {
        return TRUE;
    }
    s = (BenchJobSample) {
        .t = bench_now() - w->origin,
        .offset = info->offset,
        .len = info->len,
        .ready = info->state == LM_JOB_READY,
    };
    g_array_append_val(w->samples, s);
    return TRUE;
}

const LmJobInfo *bench_job_wait(BenchJobWatch *w, gboolean until_ready,
                                double timeout_s, gboolean *timed_out,
                                GError **error)
{
    g_autoptr(GError) err = NULL;
    gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    *timed_out = FALSE;
    if (lm_job_wait(w->job, until_ready ? LM_JOB_READY : LM_JOB_COMPLETED,
                    deadline, take_sample, w, &err) ||
        g_error_matches(err, LM_ERROR, LM_ERROR_JOB_FAILED) ||
        g_error_matches(err, LM_ERROR, LM_ERROR_JOB_CANCELLED)) {
        /* An end the caller did not hope for is still an answer */
        return lm_job_info(w->job);
    }
    if (g_error_matches(err, LM_ERROR, LM_ERROR_TIMEOUT)) {
        *timed_out = TRUE;
        return NULL;
    }
    g_propagate_error(error, g_steal_pointer(&err));
    return NULL;
}

void bench_job_idle(BenchJobWatch *w, double seconds)
{
    double end = bench_now() + seconds;

    while (bench_now() < end) {
        if (lm_job_refresh(w->job, NULL)) {
            take_sample(w->job, w);
        }
        bench_sleep(MIN(BENCH_POLL_S, MAX(end - bench_now(), 0)));
    }
}

double bench_job_state_time(const LmJobInfo *info)
{
    return info->state_since_us / 1e6;
}
