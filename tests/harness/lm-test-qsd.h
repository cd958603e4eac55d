/*
 * livemerge test harness - a qemu-storage-daemon under test
 *
 * Starts the daemon (through the livemerge launcher, or the stock binary
 * for comparison runs) in a private temporary directory with a QMP monitor
 * at DIR/qmp.sock and its output in DIR/qsd.log, and checks how it ended:
 * a daemon that crashed or exited non-zero behind the test's back fails the
 * test with its log printed.
 *
 * The daemon gets PR_SET_PDEATHSIG, so a test that aborts does not leave
 * it running.  The temp dir is removed by lm_test_qsd_free() unless the
 * test failed there or LIVEMERGE_KEEP_TMP is set.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_TEST_QSD_H
#define LM_TEST_QSD_H

#include <glib.h>
#include "lm-test-qmp.h"

G_BEGIN_DECLS

typedef enum {
    LM_TEST_QSD_DEFAULT = 0,
    /* Exec the stock daemon ($QSD, else the configured one) directly,
     * without the livemerge plugin. */
    LM_TEST_QSD_NO_PLUGIN = 1 << 0,
} LmTestQsdFlags;

typedef struct LmTestQsd LmTestQsd;

/*
 * Start the daemon with the plugin, @extra_args (NULL-terminated, nullable)
 * after the QMP monitor options, and connect to its monitor.  On failure
 * the error carries the daemon's log.
 */
LmTestQsd *lm_test_qsd_start(const char *const *extra_args, GError **error);
LmTestQsd *lm_test_qsd_start_full(LmTestQsdFlags flags,
                                  const char *const *extra_args,
                                  GError **error);
/* As lm_test_qsd_start(), with @env ("NAME=VALUE", NULL-terminated) added
 * to the daemon's environment (not this process's). */
LmTestQsd *lm_test_qsd_start_env(const char *const *env,
                                 const char *const *extra_args,
                                 GError **error);

/*
 * Start a new daemon in the same directory (same images, same socket
 * paths, log appended) after the previous one was stopped, killed or
 * waited for: the way to test what survives a restart.
 */
gboolean lm_test_qsd_restart(LmTestQsd *qsd, LmTestQsdFlags flags,
                             const char *const *extra_args, GError **error);

/* Send "quit" and wait for the exit; asserts the daemon exited with 0. */
void lm_test_qsd_stop(LmTestQsd *qsd);

/*
 * Wait up to @timeout_ms for the daemon to exit on its own (SIGKILL after
 * that) and return its wait status (see g_subprocess_get_status()); the
 * test takes over judging it.
 */
int lm_test_qsd_wait(LmTestQsd *qsd, int timeout_ms);

/* Send @signum and wait for the daemon to die; dying of it is expected. */
void lm_test_qsd_kill(LmTestQsd *qsd, int signum);

/* Stops a daemon still running, checks the exit, removes the directory. */
void lm_test_qsd_free(LmTestQsd *qsd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmTestQsd, lm_test_qsd_free)

const char *lm_test_qsd_dir(LmTestQsd *qsd);
/* The monitor connection of the running daemon (NULL once it is gone). */
LmQmp *lm_test_qsd_qmp(LmTestQsd *qsd);
GPid lm_test_qsd_pid(LmTestQsd *qsd);
const char *lm_test_qsd_log_path(LmTestQsd *qsd);
/* The whole log so far (all runs). */
char *lm_test_qsd_read_log(LmTestQsd *qsd);
/* DIR/@name, newly allocated. */
char *lm_test_qsd_path(LmTestQsd *qsd, const char *name);

/*
 * Export block node @node_name writable over NBD as @export_name (also the
 * export id).  The NBD server is started on first use, listening on
 * DIR/nbd.sock, the path returned by lm_test_qsd_nbd_socket().
 */
gboolean lm_test_qsd_export(LmTestQsd *qsd, const char *node_name,
                            const char *export_name, GError **error);
const char *lm_test_qsd_nbd_socket(LmTestQsd *qsd);

/* rm -r @path (no symlink is followed). */
void lm_test_remove_tree(const char *path);

G_END_DECLS

#endif /* LM_TEST_QSD_H */
