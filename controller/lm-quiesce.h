/*
 * livemerge - freezing the guest's filesystems through its QEMU guest agent
 *
 * A snapshot with --quiesce: guest-fsfreeze-freeze before, thaw after,
 * and thaw on every error path, so a guest is never left frozen by us.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_QUIESCE_H
#define LM_QUIESCE_H

#include "lm-qmp.h"

G_BEGIN_DECLS

/* Connect to the agent at @socket_path and freeze; the agent connection. */
LmQmp *lm_quiesce_freeze(const char *socket_path, GError **error);

/* Thaw and close; frees @agent even when thawing fails. */
gboolean lm_quiesce_thaw(LmQmp *agent, GError **error);

G_END_DECLS

#endif /* LM_QUIESCE_H */
