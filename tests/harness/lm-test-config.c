/*
 * livemerge test harness - a daemon started from a qsd-config/ file
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-config.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#ifndef LIVEMERGE_QSD_CONFIG_DIR
#error "LIVEMERGE_QSD_CONFIG_DIR must name qsd-config/"
#endif

/* The pidfile is written when the daemon has finished starting. */
#define CONFIG_PIDFILE_TIMEOUT_MS 30000
/* The unit's TimeoutStopSec is longer; a test daemon has less to drain. */
#define CONFIG_STOP_TIMEOUT_MS 60000

char *lm_test_config_file(const char *name)
{
    g_autofree char *base = g_strconcat(name, ".conf", NULL);

    return g_build_filename(LIVEMERGE_QSD_CONFIG_DIR, base, NULL);
}

static gboolean wait_for_pidfile(LmTestQsd *qsd, const char *pidfile,
                                 GError **error)
{
    gint64 deadline = g_get_monotonic_time() +
                      CONFIG_PIDFILE_TIMEOUT_MS * 1000LL;
    g_autofree char *want = g_strdup_printf("%d", (int)lm_test_qsd_pid(qsd));

    for (;;) {
        g_autofree char *text = NULL;

        if (g_file_get_contents(pidfile, &text, NULL, NULL) &&
            g_strcmp0(g_strstrip(text), want) == 0) {
            return TRUE;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "%s does not name the daemon (pid %s) after %d ms",
                        pidfile, want, CONFIG_PIDFILE_TIMEOUT_MS);
            return FALSE;
        }
        g_usleep(10 * 1000);
    }
}

LmTestQsd *lm_test_config_start(const char *name, const char *run_dir,
                                const char *const *env, GError **error)
{
    g_autofree char *file = lm_test_config_file(name);
    g_autofree char *pidfile = g_build_filename(run_dir, "qsd.pid", NULL);
    const char *args[] = { "--config", file, NULL };
    g_autoptr(GPtrArray) daemon_env = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(LmTestQsd) qsd = NULL;
    mode_t old_umask;

    if (g_mkdir_with_parents(run_dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "mkdir %s: %s", run_dir, g_strerror(errno));
        return NULL;
    }
    g_ptr_array_add(daemon_env, g_strconcat("RUNTIME_DIRECTORY=", run_dir,
                                            NULL));
    for (const char *const *e = env; e && *e; e++) {
        g_ptr_array_add(daemon_env, g_strdup(*e));
    }
    g_ptr_array_add(daemon_env, NULL);
    /* The daemon inherits this process's umask. */
    old_umask = umask(LM_TEST_CONFIG_UMASK);
    qsd = lm_test_qsd_start_env((const char *const *)daemon_env->pdata,
                                args, error);
    umask(old_umask);
    if (!qsd || !wait_for_pidfile(qsd, pidfile, error)) {
        return NULL;
    }
    return g_steal_pointer(&qsd);
}

void lm_test_config_assert_sockets(const char *run_dir, guint min_sockets)
{
    g_autoptr(GDir) dir = g_dir_open(run_dir, 0, NULL);
    const char *name;
    guint sockets = 0;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(run_dir, name, NULL);
        GStatBuf st;

        g_assert_cmpint(g_lstat(path, &st), ==, 0);
        if (!S_ISSOCK(st.st_mode)) {
            continue;
        }
        g_test_message("socket %s: mode %04o", path, st.st_mode & 07777);
        g_assert_cmpuint(st.st_mode & 07777, ==, LM_TEST_CONFIG_SOCKET_MODE);
        sockets++;
    }
    g_assert_cmpuint(sockets, >=, min_sockets);
}

void lm_test_config_stop(LmTestQsd *qsd)
{
    int status;

    g_assert_cmpint(kill(lm_test_qsd_pid(qsd), SIGTERM), ==, 0);
    status = lm_test_qsd_wait(qsd, CONFIG_STOP_TIMEOUT_MS);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}
