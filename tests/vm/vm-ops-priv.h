/*
 * vm suite - what a driver of vm-ops.h provides
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VM_OPS_PRIV_H
#define VM_OPS_PRIV_H

#include "vm-ops.h"

typedef struct {
    gboolean (*snapshot)(VmOps *ops, VmDisk *const *disks, guint n_disks,
                         const char *overlay_dir, gboolean quiesce,
                         GError **error);
    gboolean (*commit)(VmOps *ops, VmDisk *disk, guint top, guint base,
                       GError **error);
    gboolean (*commit_active_all)(VmOps *ops, VmDisk *const *disks,
                                  guint n_disks, GError **error);
    gboolean (*pull)(VmOps *ops, VmDisk *disk, GError **error);
    gboolean (*copy)(VmOps *ops, VmDisk *disk, const char *dir,
                     GError **error);
    void (*finalize)(VmOps *ops);   /* the driver's own fields */
} VmOpsClass;

/* The first member of each driver's state. */
struct VmOps {
    const VmOpsClass *cls;
    char *qga_socket;       /* nullable */
    gint64 frozen, thawed;  /* of the last quiesced snapshot, -1: unknown */
};

void vm_ops_init(VmOps *ops, const VmOpsClass *cls, const char *qga_socket);

VmLayer *vm_layer_new(const char *node, const char *path);

/* DIR/NAME-sN.qcow2 (or -copyN), N counting the disk's new images. */
char *vm_disk_next_image(VmDisk *disk, const char *dir, const char *kind,
                         char **node);

#endif /* VM_OPS_PRIV_H */
