/*
 * livemerge test harness - a qemu-storage-daemon under test
 *
 * The exit of the daemon is watched with g_subprocess_wait_async() on a
 * private main context that we iterate only while waiting, so the harness
 * works in tests that never run a main loop, and "has it died?" can be
 * asked at any time without blocking.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-qsd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#ifndef LIVEMERGE_LAUNCHER
#error "LIVEMERGE_LAUNCHER must name scripts/livemerge-qsd"
#endif
#ifndef LIVEMERGE_QSD
#define LIVEMERGE_QSD "/usr/bin/qemu-storage-daemon"
#endif

/* Generous: the plugin may have a lot to do at start or at quit. */
#define QSD_START_TIMEOUT_MS 30000
#define QSD_STOP_TIMEOUT_MS 30000
#define QSD_KILL_TIMEOUT_MS 10000
/* How much of the log a failure prints. */
#define QSD_LOG_TAIL_BYTES (64 * 1024)

struct LmTestQsd {
    char *dir;
    char *qmp_path;
    char *log_path;
    char *nbd_path;
    GMainContext *ctx;      /* where the exit of @proc is reported */
    GSubprocess *proc;      /* the current (or last) daemon */
    LmQmp *qmp;
    guint runs;
    gboolean exited;        /* @proc has exited and was reaped */
    gboolean judged;        /* its end was checked, or handed to the test */
    gboolean nbd_started;
    gboolean keep_dir;      /* something failed: leave the evidence */
    char **env;             /* NAME=VALUE more for the daemon (restarts too) */
};

static void qsd_child_setup(gpointer data)
{
    (void)data;
    /* An aborting test must not leave daemons behind.  The launcher
     * execs the daemon, which keeps this setting. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void qsd_exited_cb(GObject *source, GAsyncResult *res, gpointer data)
{
    LmTestQsd *qsd = data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
    qsd->exited = TRUE;
}

static gboolean qsd_timeout_cb(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Wait up to @timeout_ms (0: just look) for the daemon to exit. */
static gboolean qsd_wait_exit(LmTestQsd *qsd, int timeout_ms)
{
    gboolean timed_out = FALSE;
    GSource *timer;

    while (g_main_context_iteration(qsd->ctx, FALSE)) {
        /* dispatch what is pending */
    }
    if (qsd->exited || timeout_ms == 0) {
        return qsd->exited;
    }
    timer = g_timeout_source_new(timeout_ms);
    g_source_set_callback(timer, qsd_timeout_cb, &timed_out, NULL);
    g_source_attach(timer, qsd->ctx);
    while (!qsd->exited && !timed_out) {
        g_main_context_iteration(qsd->ctx, TRUE);
    }
    g_source_destroy(timer);
    g_source_unref(timer);
    return qsd->exited;
}

static char *describe_status(GSubprocess *proc)
{
    if (g_subprocess_get_if_signaled(proc)) {
        int sig = g_subprocess_get_term_sig(proc);

        return g_strdup_printf("was killed by signal %d (%s)", sig,
                               g_strsignal(sig));
    }
    return g_strdup_printf("exited with status %d",
                           g_subprocess_get_exit_status(proc));
}

static char *read_log_tail(LmTestQsd *qsd)
{
    g_autofree char *log = lm_test_qsd_read_log(qsd);
    gsize len = strlen(log);

    if (len > QSD_LOG_TAIL_BYTES) {
        return g_strdup_printf("[... %zu bytes cut ...]\n%s",
                               len - QSD_LOG_TAIL_BYTES,
                               log + len - QSD_LOG_TAIL_BYTES);
    }
    return g_steal_pointer(&log);
}

/* Fail the test, printing the log and keeping the directory for a look. */
static void G_GNUC_PRINTF(2, 3) qsd_fail(LmTestQsd *qsd, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    g_autofree char *log = read_log_tail(qsd);
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    qsd->keep_dir = TRUE;
    g_printerr("\n%s\n---- %s ----\n%s---- end of log (directory kept: %s)\n",
               msg, qsd->log_path, log, qsd->dir);
    g_assertion_message(G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, msg);
}

static void qsd_force_exit(LmTestQsd *qsd)
{
    g_subprocess_force_exit(qsd->proc);
    /* SIGKILL cannot be ignored; only a stuck kernel could stop this. */
    qsd_wait_exit(qsd, QSD_KILL_TIMEOUT_MS);
}

/* Open the log for appending, with a header that separates the runs. */
static int open_log(LmTestQsd *qsd, GPtrArray *argv, GError **error)
{
    g_autofree char *cmdline =
        g_strjoinv(" ", (char **)argv->pdata);
    g_autofree char *header =
        g_strdup_printf("==== lmtest: run %u: %s\n", qsd->runs, cmdline);
    int fd = open(qsd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644);

    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "open %s: %s", qsd->log_path, g_strerror(errno));
        return -1;
    }
    if (write(fd, header, strlen(header)) < 0) {
        g_test_message("writing to %s: %s", qsd->log_path, g_strerror(errno));
    }
    return fd;
}

static gboolean qsd_spawn(LmTestQsd *qsd, LmTestQsdFlags flags,
                          const char *const *extra_args, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GError) local_err = NULL;
    const char *qsd_bin = g_getenv("QSD");
    gint64 deadline;
    int log_fd;

    g_ptr_array_add(argv, g_strdup((flags & LM_TEST_QSD_NO_PLUGIN)
                                   ? (qsd_bin ? qsd_bin : LIVEMERGE_QSD)
                                   : LIVEMERGE_LAUNCHER));
    /*
     * wait=on: the daemon waits for our connection before it goes on.
     * With wait=off the stock daemon, about once in a thousand starts,
     * greets twice, drops input bytes or hangs in accept4() when a client
     * connects the moment the socket appears.
     */
    g_ptr_array_add(argv, g_strdup("--chardev"));
    g_ptr_array_add(argv, g_strdup_printf(
        "socket,id=qmp0,path=%s,server=on,wait=on", qsd->qmp_path));
    g_ptr_array_add(argv, g_strdup("--monitor"));
    g_ptr_array_add(argv, g_strdup("chardev=qmp0"));
    for (const char *const *a = extra_args; a && *a; a++) {
        g_ptr_array_add(argv, g_strdup(*a));
    }
    g_ptr_array_add(argv, NULL);

    qsd->runs++;
    log_fd = open_log(qsd, argv, error);
    if (log_fd < 0) {
        return FALSE;
    }
    /* A socket left by an earlier run must not look like a live one. */
    g_unlink(qsd->qmp_path);

    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
    for (char **e = qsd->env; e && *e; e++) {
        g_auto(GStrv) kv = g_strsplit(*e, "=", 2);

        g_assert_nonnull(kv[1]);
        g_subprocess_launcher_setenv(launcher, kv[0], kv[1], TRUE);
    }
    g_subprocess_launcher_take_stdout_fd(launcher, log_fd);
    g_subprocess_launcher_set_child_setup(launcher, qsd_child_setup, NULL,
                                          NULL);
    g_clear_object(&qsd->proc);
    qsd->proc = g_subprocess_launcher_spawnv(
        launcher, (const char *const *)argv->pdata, error);
    if (!qsd->proc) {
        return FALSE;
    }
    qsd->exited = FALSE;
    qsd->judged = FALSE;
    qsd->nbd_started = FALSE;

    g_main_context_push_thread_default(qsd->ctx);
    g_subprocess_wait_async(qsd->proc, NULL, qsd_exited_cb, qsd);
    g_main_context_pop_thread_default(qsd->ctx);

    /* Wait for the monitor socket, noticing a daemon that dies first
     * (bad arguments, plugin refusing to load) instead of timing out. */
    deadline = g_get_monotonic_time() + QSD_START_TIMEOUT_MS * 1000LL;
    while (!g_file_test(qsd->qmp_path, G_FILE_TEST_EXISTS)) {
        if (qsd_wait_exit(qsd, 10)) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            break;
        }
    }
    if (!qsd->exited) {
        qsd->qmp = lm_qmp_connect(
            qsd->qmp_path,
            MAX((deadline - g_get_monotonic_time()) / 1000, 1000),
            &local_err);
        if (qsd->qmp) {
            return TRUE;
        }
    }

    if (!qsd_wait_exit(qsd, 1000)) {
        qsd_force_exit(qsd);
    }
    {
        g_autofree char *status = describe_status(qsd->proc);
        g_autofree char *log = read_log_tail(qsd);

        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "daemon did not come up (%s); it %s; log:\n%s",
                    local_err ? local_err->message : "no QMP socket",
                    status, log);
    }
    qsd->judged = TRUE;
    return FALSE;
}

static LmTestQsd *qsd_start(LmTestQsdFlags flags, const char *const *env,
                            const char *const *extra_args, GError **error)
{
    g_autoptr(LmTestQsd) qsd = g_new0(LmTestQsd, 1);

    qsd->env = g_strdupv((char **)env);
    qsd->dir = g_dir_make_tmp("lmtest-XXXXXX", error);
    if (!qsd->dir) {
        return NULL;
    }
    qsd->qmp_path = g_build_filename(qsd->dir, "qmp.sock", NULL);
    qsd->log_path = g_build_filename(qsd->dir, "qsd.log", NULL);
    qsd->nbd_path = g_build_filename(qsd->dir, "nbd.sock", NULL);
    qsd->ctx = g_main_context_new();

    if (!qsd_spawn(qsd, flags, extra_args, error)) {
        return NULL;
    }
    return g_steal_pointer(&qsd);
}

LmTestQsd *lm_test_qsd_start_full(LmTestQsdFlags flags,
                                  const char *const *extra_args,
                                  GError **error)
{
    return qsd_start(flags, NULL, extra_args, error);
}

LmTestQsd *lm_test_qsd_start_env(const char *const *env,
                                 const char *const *extra_args,
                                 GError **error)
{
    return qsd_start(LM_TEST_QSD_DEFAULT, env, extra_args, error);
}

LmTestQsd *lm_test_qsd_start(const char *const *extra_args, GError **error)
{
    return lm_test_qsd_start_full(LM_TEST_QSD_DEFAULT, extra_args, error);
}

gboolean lm_test_qsd_restart(LmTestQsd *qsd, LmTestQsdFlags flags,
                             const char *const *extra_args, GError **error)
{
    /* Restarting over a daemon whose end nobody looked at would hide it. */
    g_assert_true(!qsd->proc || qsd->judged);
    g_clear_pointer(&qsd->qmp, lm_qmp_free);
    return qsd_spawn(qsd, flags, extra_args, error);
}

void lm_test_qsd_stop(LmTestQsd *qsd)
{
    g_autofree char *status = NULL;

    g_assert_nonnull(qsd->proc);
    if (!qsd_wait_exit(qsd, 0) && qsd->qmp) {
        g_autoptr(GError) err = NULL;

        lm_qmp_set_timeout(qsd->qmp, QSD_STOP_TIMEOUT_MS);
        /* No reply is fine if the exit raced it; the status tells. */
        if (!lm_qmp_runf(qsd->qmp, &err, "quit", NULL)) {
            g_test_message("quit: %s", err->message);
        }
    }
    g_clear_pointer(&qsd->qmp, lm_qmp_free);
    qsd->judged = TRUE;
    if (!qsd_wait_exit(qsd, QSD_STOP_TIMEOUT_MS)) {
        qsd_force_exit(qsd);
        qsd_fail(qsd, "daemon did not exit within %d ms of quit",
                 QSD_STOP_TIMEOUT_MS);
        return;
    }
    if (!g_subprocess_get_if_exited(qsd->proc) ||
        g_subprocess_get_exit_status(qsd->proc) != 0) {
        status = describe_status(qsd->proc);
        qsd_fail(qsd, "daemon %s", status);
    }
}

int lm_test_qsd_wait(LmTestQsd *qsd, int timeout_ms)
{
    g_assert_nonnull(qsd->proc);
    if (!qsd_wait_exit(qsd, timeout_ms)) {
        g_test_message("daemon still running after %d ms, killing it",
                       timeout_ms);
        qsd_force_exit(qsd);
    }
    g_clear_pointer(&qsd->qmp, lm_qmp_free);
    qsd->judged = TRUE;
    return g_subprocess_get_status(qsd->proc);
}

void lm_test_qsd_kill(LmTestQsd *qsd, int signum)
{
    g_autofree char *status = NULL;

    g_assert_nonnull(qsd->proc);
    g_subprocess_send_signal(qsd->proc, signum);
    g_clear_pointer(&qsd->qmp, lm_qmp_free);
    qsd->judged = TRUE;
    if (!qsd_wait_exit(qsd, QSD_KILL_TIMEOUT_MS)) {
        qsd_force_exit(qsd);
        qsd_fail(qsd, "daemon survived signal %d for %d ms", signum,
                 QSD_KILL_TIMEOUT_MS);
        return;
    }
    /* The daemon handles SIGTERM/SIGINT/SIGHUP by shutting down cleanly. */
    if ((g_subprocess_get_if_signaled(qsd->proc) &&
         g_subprocess_get_term_sig(qsd->proc) == signum) ||
        (g_subprocess_get_if_exited(qsd->proc) &&
         g_subprocess_get_exit_status(qsd->proc) == 0)) {
        return;
    }
    status = describe_status(qsd->proc);
    qsd_fail(qsd, "daemon %s after signal %d", status, signum);
}

void lm_test_remove_tree(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
            !g_file_test(child, G_FILE_TEST_IS_SYMLINK)) {
            lm_test_remove_tree(child);
        } else {
            g_unlink(child);
        }
    }
    g_rmdir(path);
}

void lm_test_qsd_free(LmTestQsd *qsd)
{
    if (!qsd) {
        return;
    }
    if (qsd->proc && !qsd->judged) {
        if (qsd_wait_exit(qsd, 0)) {
            g_autofree char *status = describe_status(qsd->proc);

            qsd->judged = TRUE;
            qsd_fail(qsd, "daemon %s unexpectedly", status);
        } else {
            lm_test_qsd_stop(qsd);
        }
    }
    g_clear_pointer(&qsd->qmp, lm_qmp_free);
    g_clear_object(&qsd->proc);
    if (qsd->dir) {
        if (qsd->keep_dir || g_getenv("LIVEMERGE_KEEP_TMP")) {
            g_test_message("keeping %s", qsd->dir);
        } else {
            lm_test_remove_tree(qsd->dir);
        }
    }
    g_clear_pointer(&qsd->ctx, g_main_context_unref);
    g_free(qsd->dir);
    g_free(qsd->qmp_path);
    g_free(qsd->log_path);
    g_free(qsd->nbd_path);
    g_strfreev(qsd->env);
    g_free(qsd);
}

const char *lm_test_qsd_dir(LmTestQsd *qsd)
{
    return qsd->dir;
}

LmQmp *lm_test_qsd_qmp(LmTestQsd *qsd)
{
    return qsd->qmp;
}

GPid lm_test_qsd_pid(LmTestQsd *qsd)
{
    const char *id = qsd->proc ? g_subprocess_get_identifier(qsd->proc)
                               : NULL;

    return id ? (GPid)g_ascii_strtoll(id, NULL, 10) : 0;
}

const char *lm_test_qsd_log_path(LmTestQsd *qsd)
{
    return qsd->log_path;
}

char *lm_test_qsd_read_log(LmTestQsd *qsd)
{
    char *log = NULL;

    if (!g_file_get_contents(qsd->log_path, &log, NULL, NULL)) {
        return g_strdup("");
    }
    return log;
}

char *lm_test_qsd_path(LmTestQsd *qsd, const char *name)
{
    return g_build_filename(qsd->dir, name, NULL);
}

const char *lm_test_qsd_nbd_socket(LmTestQsd *qsd)
{
    return qsd->nbd_path;
}

static gboolean qsd_start_nbd_server(LmTestQsd *qsd, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    JsonObject *addr = json_object_new();
    JsonObject *data = json_object_new();
    g_autoptr(JsonNode) ret = NULL;

    /* nbd-server-start takes the legacy SocketAddress with "data". */
    json_object_set_string_member(data, "path", qsd->nbd_path);
    json_object_set_string_member(addr, "type", "unix");
    json_object_set_object_member(addr, "data", data);
    json_object_set_object_member(args, "addr", addr);
    ret = lm_qmp_execute(qsd->qmp, "nbd-server-start", args, error);
    qsd->nbd_started = ret != NULL;
    return qsd->nbd_started;
}

gboolean lm_test_qsd_export(LmTestQsd *qsd, const char *node_name,
                            const char *export_name, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonNode) ret = NULL;

    g_assert_nonnull(qsd->qmp);
    if (!qsd->nbd_started && !qsd_start_nbd_server(qsd, error)) {
        return FALSE;
    }
    json_object_set_string_member(args, "type", "nbd");
    json_object_set_string_member(args, "id", export_name);
    json_object_set_string_member(args, "node-name", node_name);
    json_object_set_string_member(args, "name", export_name);
    json_object_set_boolean_member(args, "writable", TRUE);
    ret = lm_qmp_execute(qsd->qmp, "block-export-add", args, error);
    return ret != NULL;
}
