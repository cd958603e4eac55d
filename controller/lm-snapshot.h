/*
 * livemerge - disk-only external snapshots
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_SNAPSHOT_H
#define LM_SNAPSHOT_H

#include "lm-qmp.h"

G_BEGIN_DECLS

typedef struct {
    const char *disk;
    const char *file;         /* the new overlay */
} LmSnapshotTarget;

/*
 * Disk-only external snapshot of every target at once: each overlay is
 * created through the daemon (qcow2, backing = the disk's active layer),
 * added, and made the active layer in one transaction (all or none).
 * With @guest_agent (a QEMU guest agent socket, nullable), the guest's
 * filesystems are frozen around it and thawed on every path.
 */
gboolean lm_snapshot(LmQmp *qmp, const LmSnapshotTarget *targets,
                     guint n_targets, const char *guest_agent,
                     GError **error);

G_END_DECLS

#endif /* LM_SNAPSHOT_H */
