/*
 * livemerge test harness - a daemon started from a qsd-config/ file
 *
 * Starts the daemon the way the systemd unit does: the launcher with
 * --config qsd-config/NAME.conf, RUNTIME_DIRECTORY pointing at a private
 * run directory (mode 0700) and the unit's umask (0177, so every socket
 * the daemon makes is 0600), plus the variables the configuration needs.
 * The harness's own QMP monitor (lm_test_qsd_qmp) comes first on the
 * command line; the configuration's monitor is at RUN/qmp.sock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_TEST_CONFIG_H
#define LM_TEST_CONFIG_H

#include <glib.h>
#include "lm-test-qsd.h"

G_BEGIN_DECLS

/* The umask the unit gives the daemon, and the socket mode it yields. */
#define LM_TEST_CONFIG_UMASK 0177
#define LM_TEST_CONFIG_SOCKET_MODE 0600

/* qsd-config/@name.conf of the source tree. */
char *lm_test_config_file(const char *name);

/*
 * Start the daemon from configuration @name with RUNTIME_DIRECTORY=@run_dir
 * (created 0700 if missing) and @env ("NAME=VALUE" strings, NULL-
 * terminated, nullable) in its environment.  Waits until the pidfile
 * RUN/qsd.pid names the daemon, i.e. it serves.
 */
LmTestQsd *lm_test_config_start(const char *name, const char *run_dir,
                                const char *const *env, GError **error);

/*
 * Asserts that every socket in @run_dir has mode
 * LM_TEST_CONFIG_SOCKET_MODE and that at least @min_sockets exist.
 */
void lm_test_config_assert_sockets(const char *run_dir, guint min_sockets);

/*
 * Stop the daemon the way systemd stops the unit, with SIGTERM, and
 * assert that it ended cleanly by itself (exit status 0).
 */
void lm_test_config_stop(LmTestQsd *qsd);

G_END_DECLS

#endif /* LM_TEST_CONFIG_H */
