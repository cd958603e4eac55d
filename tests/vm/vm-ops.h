/*
 * vm suite - the host side's operations on a running VM's disks
 *
 * What an administrator does with the livemerge CLI: a live external
 * snapshot of one or several disks (one transaction, optionally with the
 * guest's filesystems frozen through its agent), intermediate and active
 * commit with pivot, pull, and copy to a new image with pivot.  This
 * interface keeps the VM tests independent of how the operations are
 * driven: vm-ops-cli.c runs the livemerge CLI (what the suite uses);
 * vm-ops-qmp.c drives the daemon over QMP directly, step by step (the
 * plugin's commands without the controller: LIVEMERGE_VM_DRIVER=qmp).
 *
 * An operation the daemon cannot do (its QMP command is missing) fails
 * with VM_OPS_ERROR_UNSUPPORTED naming the command.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VM_OPS_H
#define VM_OPS_H

#include <glib.h>
#include "lm-qmp.h"

G_BEGIN_DECLS

#define VM_OPS_ERROR (vm_ops_error_quark())
GQuark vm_ops_error_quark(void);

typedef enum {
    VM_OPS_ERROR_UNSUPPORTED,   /* the daemon lacks the command */
    VM_OPS_ERROR_FAILED,        /* the operation failed */
} VmOpsError;

typedef struct {
    char *node;   /* block node name in the daemon */
    char *path;   /* its image file */
} VmLayer;

/* One disk of the VM and its backing chain as the host knows it. */
typedef struct {
    char *name;          /* "disk0": the export's node, prefix of new ones */
    guint64 size;        /* virtual size in bytes */
    GPtrArray *chain;    /* VmLayer*, base first; the last is active */
    GPtrArray *images;   /* every image file the disk ever used */
    guint overlays;      /* images made so far, for unique names */
} VmDisk;

/* @base_path: the disk's image, opened as node @name by the config. */
VmDisk *vm_disk_new(const char *name, const char *base_path, guint64 size);
void vm_disk_free(VmDisk *disk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmDisk, vm_disk_free)
VmLayer *vm_disk_active(VmDisk *disk);

typedef struct VmOps VmOps;

/*
 * The livemerge CLI @cli talking to the daemon's monitor at @qmp_socket
 * (one the CLI has to itself); @qga_socket (nullable): the guest agent,
 * for quiesced snapshots.
 */
VmOps *vm_ops_new_cli(const char *cli, const char *qmp_socket,
                      const char *qga_socket);
/* QMP commands on @qmp (not owned). */
VmOps *vm_ops_new_qmp(LmQmp *qmp, const char *qga_socket);
void vm_ops_free(VmOps *ops);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmOps, vm_ops_free)

/*
 * New overlays in @overlay_dir for every disk, all taken in one
 * transaction.  With @quiesce, the guest's filesystems are frozen before
 * and thawed after, whether the snapshot succeeded or not.
 */
gboolean vm_ops_snapshot(VmOps *ops, VmDisk *const *disks, guint n_disks,
                         const char *overlay_dir, gboolean quiesce,
                         GError **error);

/*
 * Filesystems the last quiesced snapshot froze and thawed (the agent's
 * counts); -1 where the driver cannot know (the CLI does not say).
 */
void vm_ops_last_quiesce(VmOps *ops, gint64 *frozen, gint64 *thawed);

/*
 * Commit chain[@top] into chain[@base].  If @top is the active layer it is
 * an active commit that pivots onto the base once READY.
 */
gboolean vm_ops_commit(VmOps *ops, VmDisk *disk, guint top, guint base,
                       GError **error);

/*
 * Active commits of several disks at once; when all are READY, one pivot
 * for all (livemerge-complete), or one after the other if the daemon
 * lacks it.
 */
gboolean vm_ops_commit_active_all(VmOps *ops, VmDisk *const *disks,
                                  guint n_disks, GError **error);

/* Pull the whole backing chain into the active layer. */
gboolean vm_ops_pull(VmOps *ops, VmDisk *disk, GError **error);

/* Copy the disk to a new image in @dir and pivot onto it. */
gboolean vm_ops_copy(VmOps *ops, VmDisk *disk, const char *dir,
                     GError **error);

G_END_DECLS

#endif /* VM_OPS_H */
