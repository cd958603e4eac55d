/*
 * livemerge - disk-only external snapshots
 *
 * libvirt's order: check every disk, create and open every overlay, then
 * (guest frozen if asked) switch all disks in one transaction, so the
 * guest is frozen as briefly as possible and a failure leaves nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-snapshot.h"
#include "lm-error.h"
#include "lm-image.h"
#include "lm-ops.h"
#include "lm-quiesce.h"

#include <glib/gstdio.h>

/* One disk's new overlay, from the check through the transaction. */
typedef struct {
    const char *disk;
    char *path;
    char *node;
    char *file_node;
    char *active_node;
    gboolean added;           /* the daemon created and opened it */
} Overlay;

static void overlay_free(Overlay *o)
{
    g_free(o->path);
    g_free(o->node);
    g_free(o->file_node);
    g_free(o->active_node);
    g_free(o);
}

/* Check every target before anything changes: disk, job, file, twice. */
static GPtrArray *plan_overlays(LmQmp *qmp, const LmSnapshotTarget *targets,
                                guint n_targets, GError **error)
{
    g_autoptr(GPtrArray) overlays =
        g_ptr_array_new_with_free_func((GDestroyNotify)overlay_free);

    for (guint i = 0; i < n_targets; i++) {
        const LmSnapshotTarget *t = &targets[i];
        g_autoptr(LmChain) chain = lm_chain_read_for_job(qmp, t->disk, error);
        Overlay *o;

        if (!chain) {
            return NULL;
        }
        for (guint j = 0; j < i; j++) {
            if (g_str_equal(targets[j].disk, t->disk)) {
                g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                            "disk '%s' given twice; one overlay per disk",
                            t->disk);
                return NULL;
            }
        }
        o = g_new0(Overlay, 1);
        g_ptr_array_add(overlays, o);
        o->disk = t->disk;
        o->path = g_canonicalize_filename(t->file, NULL);
        for (guint j = 0; j < i; j++) {
            Overlay *other = overlays->pdata[j];

            if (g_str_equal(other->path, o->path)) {
                g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                            "disks '%s' and '%s' given the same overlay '%s'",
                            other->disk, t->disk, t->file);
                return NULL;
            }
        }
        /* blockdev-create would truncate an existing file */
        if (g_file_test(o->path, G_FILE_TEST_EXISTS) ||
            lm_chain_find_file(chain, o->path)) {
            g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                        "disk '%s': overlay '%s' exists; remove it or choose "
                        "a new file", t->disk, t->file);
            return NULL;
        }
        o->node = lm_qemu_id_new("snap");
        o->file_node = lm_qemu_id_new("snap-file");
        o->active_node = g_strdup(lm_chain_active(chain)->node_name);
    }
    return g_steal_pointer(&overlays);
}

/* Undo what the daemon made of the overlays (all or none). */
static void drop_overlays(LmQmp *qmp, GPtrArray *overlays)
{
    for (guint i = 0; i < overlays->len; i++) {
        Overlay *o = overlays->pdata[i];

        if (o->added) {
            lm_node_del(qmp, o->node, NULL);
            lm_node_del(qmp, o->file_node, NULL);
            /* plan_overlays() saw no file there: this one is ours */
            g_unlink(o->path);
        }
    }
}

static gboolean add_overlays(LmQmp *qmp, GPtrArray *overlays, GError **error)
{
    for (guint i = 0; i < overlays->len; i++) {
        Overlay *o = overlays->pdata[i];
        g_autoptr(LmChain) chain = lm_chain_read(qmp, o->disk, error);
        LmLayer *active;

        if (!chain) {
            return FALSE;
        }
        active = lm_chain_active(chain);
        if (!lm_image_add(qmp, &(LmNewImage){
                              .path = o->path, .format = "qcow2",
                              .size = active->virtual_size, .backing = active,
                              .node = o->node, .file_node = o->file_node },
                          error)) {
            g_prefix_error(error, "disk '%s': ", o->disk);
            /* a failed create may have left the file */
            g_unlink(o->path);
            return FALSE;
        }
        o->added = TRUE;
    }
    return TRUE;
}

/* Make every overlay its disk's active layer, in one transaction. */
static gboolean switch_to_overlays(LmQmp *qmp, GPtrArray *overlays,
                                   GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    JsonArray *actions = json_array_new();

    json_object_set_array_member(args, "actions", actions);
    for (guint i = 0; i < overlays->len; i++) {
        Overlay *o = overlays->pdata[i];
        JsonObject *action = json_object_new();
        JsonObject *data = json_object_new();

        json_object_set_string_member(action, "type", "blockdev-snapshot");
        json_object_set_string_member(data, "node", o->active_node);
        json_object_set_string_member(data, "overlay", o->node);
        json_object_set_object_member(action, "data", data);
        json_array_add_object_element(actions, action);
    }
    if (!lm_qmp_run(qmp, "transaction", args, error)) {
        g_prefix_error(error, "snapshot transaction: ");
        return FALSE;
    }
    return TRUE;
}

gboolean lm_snapshot(LmQmp *qmp, const LmSnapshotTarget *targets,
                     guint n_targets, const char *guest_agent,
                     GError **error)
{
    g_autoptr(GPtrArray) overlays = plan_overlays(qmp, targets, n_targets,
                                                  error);
    g_autoptr(GError) thaw_err = NULL;
    LmQmp *agent = NULL;
    gboolean ok;

    if (!overlays) {
        return FALSE;
    }
    if (!add_overlays(qmp, overlays, error)) {
        drop_overlays(qmp, overlays);
        return FALSE;
    }
    /* Frozen only for the switch itself, as libvirt does. */
    if (guest_agent) {
        agent = lm_quiesce_freeze(guest_agent, error);
        if (!agent) {
            drop_overlays(qmp, overlays);
            return FALSE;
        }
    }
    ok = switch_to_overlays(qmp, overlays, error);
    if (agent && !lm_quiesce_thaw(agent, &thaw_err)) {
        if (ok) {
            /* The snapshot is taken; the guest may still be frozen. */
            g_propagate_error(error, g_steal_pointer(&thaw_err));
            return FALSE;
        }
        g_warning("%s", thaw_err->message);
    }
    if (!ok) {
        drop_overlays(qmp, overlays);
    }
    return ok;
}
