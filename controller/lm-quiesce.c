/*
 * livemerge - freezing the guest's filesystems through its QEMU guest agent
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-quiesce.h"

/* An agent answers at once or not at all (no agent running in the guest). */
#define LM_AGENT_TIMEOUT_MS 10000

LmQmp *lm_quiesce_freeze(const char *socket_path, GError **error)
{
    g_autoptr(LmQmp) agent = NULL;

    /* Connecting waits for a socket to appear; an agent's is there. */
    if (!g_file_test(socket_path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_IO,
                    "no guest agent socket %s", socket_path);
        return NULL;
    }
    agent = lm_qmp_connect_agent(socket_path, LM_AGENT_TIMEOUT_MS, error);
    if (!agent) {
        return NULL;
    }
    lm_qmp_set_timeout(agent, LM_AGENT_TIMEOUT_MS);
    if (!lm_qmp_run(agent, "guest-fsfreeze-freeze", NULL, error)) {
        g_prefix_error(error, "freezing the guest's filesystems: ");
        /* A freeze may have frozen some filesystems before it failed. */
        lm_qmp_run(agent, "guest-fsfreeze-thaw", NULL, NULL);
        return NULL;
    }
    return g_steal_pointer(&agent);
}

gboolean lm_quiesce_thaw(LmQmp *agent, GError **error)
{
    gboolean ok = lm_qmp_run(agent, "guest-fsfreeze-thaw", NULL, error);

    if (!ok) {
        g_prefix_error(error, "thawing the guest's filesystems: ");
    }
    lm_qmp_free(agent);
    return ok;
}
