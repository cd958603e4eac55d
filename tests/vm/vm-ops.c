/*
 * vm suite - disks and their chains; the operations, by driver
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "vm-ops-priv.h"

G_DEFINE_QUARK(vm-ops-error-quark, vm_ops_error)

static void vm_layer_free(gpointer data)
{
    VmLayer *layer = data;

    g_free(layer->node);
    g_free(layer->path);
    g_free(layer);
}

VmLayer *vm_layer_new(const char *node, const char *path)
{
    VmLayer *layer = g_new0(VmLayer, 1);

    layer->node = g_strdup(node);
    layer->path = g_strdup(path);
    return layer;
}

VmDisk *vm_disk_new(const char *name, const char *base_path, guint64 size)
{
    VmDisk *disk = g_new0(VmDisk, 1);

    disk->name = g_strdup(name);
    disk->size = size;
    disk->chain = g_ptr_array_new_with_free_func(vm_layer_free);
    disk->images = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(disk->chain, vm_layer_new(name, base_path));
    g_ptr_array_add(disk->images, g_strdup(base_path));
    return disk;
}

void vm_disk_free(VmDisk *disk)
{
    if (!disk) {
        return;
    }
    g_ptr_array_unref(disk->chain);
    g_ptr_array_unref(disk->images);
    g_free(disk->name);
    g_free(disk);
}

VmLayer *vm_disk_active(VmDisk *disk)
{
    return disk->chain->pdata[disk->chain->len - 1];
}

char *vm_disk_next_image(VmDisk *disk, const char *dir, const char *kind,
                         char **node)
{
    g_autofree char *name = g_strdup_printf("%s-%s%u", disk->name, kind,
                                            ++disk->overlays);
    g_autofree char *base = g_strconcat(name, ".qcow2", NULL);

    if (node) {
        *node = g_strdup(name);
    }
    return g_build_filename(dir, base, NULL);
}

void vm_ops_init(VmOps *ops, const VmOpsClass *cls, const char *qga_socket)
{
    ops->cls = cls;
    ops->qga_socket = g_strdup(qga_socket);
    ops->frozen = ops->thawed = -1;
}

void vm_ops_free(VmOps *ops)
{
    if (!ops) {
        return;
    }
    ops->cls->finalize(ops);
    g_free(ops->qga_socket);
    g_free(ops);
}

void vm_ops_last_quiesce(VmOps *ops, gint64 *frozen, gint64 *thawed)
{
    *frozen = ops->frozen;
    *thawed = ops->thawed;
}

gboolean vm_ops_snapshot(VmOps *ops, VmDisk *const *disks, guint n_disks,
                         const char *overlay_dir, gboolean quiesce,
                         GError **error)
{
    ops->frozen = ops->thawed = -1;
    if (quiesce && !ops->qga_socket) {
        g_set_error(error, VM_OPS_ERROR, VM_OPS_ERROR_FAILED,
                    "a quiesced snapshot needs the guest agent");
        return FALSE;
    }
    return ops->cls->snapshot(ops, disks, n_disks, overlay_dir, quiesce,
                              error);
}

gboolean vm_ops_commit(VmOps *ops, VmDisk *disk, guint top, guint base,
                       GError **error)
{
    g_assert_cmpuint(base, <, top);
    g_assert_cmpuint(top, <, disk->chain->len);
    return ops->cls->commit(ops, disk, top, base, error);
}

gboolean vm_ops_commit_active_all(VmOps *ops, VmDisk *const *disks,
                                  guint n_disks, GError **error)
{
    return ops->cls->commit_active_all(ops, disks, n_disks, error);
}

gboolean vm_ops_pull(VmOps *ops, VmDisk *disk, GError **error)
{
    return ops->cls->pull(ops, disk, error);
}

gboolean vm_ops_copy(VmOps *ops, VmDisk *disk, const char *dir,
                     GError **error)
{
    return ops->cls->copy(ops, disk, dir, error);
}
