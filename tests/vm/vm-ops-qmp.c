/*
 * vm suite - the host side's operations, driven over QMP
 *
 * The steps are the ones the livemerge CLI takes: images are made by the
 * daemon (blockdev-create jobs) and opened with blockdev-add, snapshots
 * are blockdev-snapshot actions of one transaction, merges are the
 * plugin's livemerge-* jobs followed through their BLOCK_JOB_* events.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "vm-ops-priv.h"

#include "lm-test-qmp.h"
#include "vm-qga.h"

/* Bounds against a wedged daemon; no job of the suite comes near them. */
#define VM_OPS_JOB_TIMEOUT_MS (300 * 1000)
#define VM_OPS_QGA_TIMEOUT_MS (30 * 1000)
#define VM_OPS_POLL_US (20 * 1000)

typedef struct {
    VmOps parent;
    LmQmp *qmp;
    GHashTable *commands;   /* the daemon's QMP commands */
    guint jobs;             /* for unique job ids */
    GHashTable *job_events; /* see record_job_event() */
} VmOpsQmp;

/* @s as a JSON string literal, quotes included. */
static char *jstr(const char *s)
{
    g_autoptr(JsonNode) node = json_node_init_string(json_node_alloc(), s);

    return json_to_string(node, FALSE);
}

static gboolean require_command(VmOpsQmp *ops, const char *name, GError **error)
{
    if (!ops->commands) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ret = lm_qmp_executef(ops->qmp, &err,
                                                  "query-commands", NULL);
        JsonArray *list;

        if (!ret) {
            g_propagate_error(error, g_steal_pointer(&err));
            return FALSE;
        }
        list = json_node_get_array(ret);
        ops->commands = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, NULL);
        for (guint i = 0; i < json_array_get_length(list); i++) {
            g_hash_table_add(ops->commands, g_strdup(
                json_object_get_string_member(
                    json_array_get_object_element(list, i), "name")));
        }
    }
    if (!g_hash_table_contains(ops->commands, name)) {
        g_set_error(error, VM_OPS_ERROR, VM_OPS_ERROR_UNSUPPORTED,
                    "the daemon has no QMP command %s", name);
        return FALSE;
    }
    return TRUE;
}

static char *new_job_id(VmOpsQmp *ops, const char *kind, VmDisk *disk)
{
    return g_strdup_printf("%s-%s-%u", kind, disk->name, ++ops->jobs);
}

/* Run a blockdev-create job to its end; its error becomes ours. */
static gboolean run_create_job(VmOpsQmp *ops, const char *job_id,
                               const char *options_json, GError **error)
{
    g_autofree char *id = jstr(job_id);
    gint64 deadline = g_get_monotonic_time() +
                      VM_OPS_JOB_TIMEOUT_MS * 1000LL;
    g_autofree char *job_error = NULL;

    if (!lm_qmp_runf(ops->qmp, error, "blockdev-create",
                     "{\"job-id\": %s, \"options\": %s}", id,
                     options_json)) {
        return FALSE;
    }
    for (;;) {
        g_autoptr(JsonNode) ret = lm_qmp_executef(ops->qmp, error,
                                                  "query-jobs", NULL);
        JsonArray *jobs;
        gboolean concluded = FALSE;

        if (!ret) {
            return FALSE;
        }
        jobs = json_node_get_array(ret);
        for (guint i = 0; i < json_array_get_length(jobs); i++) {
            JsonObject *job = json_array_get_object_element(jobs, i);

            if (g_str_equal(json_object_get_string_member(job, "id"),
                            job_id) &&
                g_str_equal(json_object_get_string_member(job, "status"),
                            "concluded")) {
                concluded = TRUE;
                job_error = g_strdup(json_object_get_string_member_with_default(
                    job, "error", NULL));
            }
        }
        if (concluded) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, VM_OPS_ERROR, VM_OPS_ERROR_FAILED,
                        "job %s did not conclude", job_id);
            return FALSE;
        }
        g_usleep(VM_OPS_POLL_US);
    }
    if (!lm_qmp_runf(ops->qmp, error, "job-dismiss", "{\"id\": %s}", id)) {
        return FALSE;
    }
    if (job_error) {
        g_set_error(error, VM_OPS_ERROR, VM_OPS_ERROR_FAILED, "%s: %s",
                    job_id, job_error);
        return FALSE;
    }
    return TRUE;
}

/*
 * A new qcow2 image at @path of @size bytes backing onto @backing
 * (nullable), opened as node @node (its file: @node-file), with no
 * backing node yet: blockdev-snapshot or the job attaches what it needs.
 */
static gboolean create_image(VmOpsQmp *ops, const char *node, const char *path,
                             guint64 size, const char *backing,
                             GError **error)
{
    g_autofree char *file_node = g_strconcat(node, "-file", NULL);
    g_autofree char *jpath = jstr(path);
    g_autofree char *jnode = jstr(node);
    g_autofree char *jfile = jstr(file_node);
    g_autofree char *jbacking = backing ? jstr(backing) : NULL;
    g_autofree char *create_file = g_strdup_printf(
        "{\"driver\": \"file\", \"filename\": %s, \"size\": 0}", jpath);
    g_autofree char *create_qcow2 = g_strdup_printf(
        "{\"driver\": \"qcow2\", \"file\": %s, \"size\": %" G_GUINT64_FORMAT
        "%s%s%s}", jfile, size,
        backing ? ", \"backing-file\": " : "", backing ? jbacking : "",
        backing ? ", \"backing-fmt\": \"qcow2\"" : "");
    g_autofree char *job_file = g_strconcat("create-", file_node, NULL);
    g_autofree char *job_qcow2 = g_strconcat("create-", node, NULL);

    return run_create_job(ops, job_file, create_file, error) &&
           lm_qmp_runf(ops->qmp, error, "blockdev-add",
                       "{\"driver\": \"file\", \"node-name\": %s, "
                       "\"filename\": %s, \"discard\": \"unmap\"}",
                       jfile, jpath) &&
           run_create_job(ops, job_qcow2, create_qcow2, error) &&
           lm_qmp_runf(ops->qmp, error, "blockdev-add",
                       "{\"driver\": \"qcow2\", \"node-name\": %s, "
                       "\"file\": %s, \"backing\": null, "
                       "\"discard\": \"unmap\"}", jnode, jfile);
}

/* blockdev-del @node and its file node @node-file. */
static gboolean drop_image(VmOpsQmp *ops, const char *node, GError **error)
{
    g_autofree char *file_node = g_strconcat(node, "-file", NULL);
    g_autofree char *jnode = jstr(node);
    g_autofree char *jfile = jstr(file_node);

    return lm_qmp_runf(ops->qmp, error, "blockdev-del",
                       "{\"node-name\": %s}", jnode) &&
           lm_qmp_runf(ops->qmp, error, "blockdev-del",
                       "{\"node-name\": %s}", jfile);
}

/*
 * chain[@from .. @from + @count - 1] left the chain: close their nodes
 * (top first: each holds the one below as its backing), as libvirt does,
 * or they keep blocking operations on the nodes below them.
 */
static gboolean drop_layers(VmOpsQmp *ops, VmDisk *disk, guint from,
                            guint count, GError **error)
{
    for (guint i = from + count; i-- > from;) {
        if (!drop_image(ops, ((VmLayer *)disk->chain->pdata[i])->node,
                        error)) {
            return FALSE;
        }
    }
    g_ptr_array_remove_range(disk->chain, from, count);
    return TRUE;
}

static gint64 qga_count(VmQga *qga, const char *command, GError **error)
{
    g_autoptr(JsonNode) ret = vm_qga_execute(qga, command, error);

    return ret ? json_node_get_int(ret) : -1;
}

static gboolean snapshot_disks(VmOpsQmp *ops, VmDisk *const *disks,
                               guint n_disks, const char *overlay_dir,
                               GPtrArray *nodes, GPtrArray *paths,
                               GError **error)
{
    g_autoptr(GString) actions = g_string_new("[");

    for (guint i = 0; i < n_disks; i++) {
        VmDisk *disk = disks[i];
        VmLayer *active = vm_disk_active(disk);
        char *node;
        char *path = vm_disk_next_image(disk, overlay_dir, "s", &node);
        g_autofree char *jactive = jstr(active->node);
        g_autofree char *jnode = jstr(node);

        g_ptr_array_add(nodes, node);
        g_ptr_array_add(paths, path);
        if (!create_image(ops, node, path, disk->size, active->path,
                          error)) {
            return FALSE;
        }
        g_string_append_printf(actions,
            "%s{\"type\": \"blockdev-snapshot\", \"data\": "
            "{\"node\": %s, \"overlay\": %s}}", i ? ", " : "",
            jactive, jnode);
    }
    g_string_append(actions, "]");
    return lm_qmp_runf(ops->qmp, error, "transaction", "{\"actions\": %s}",
                       actions->str);
}

static gboolean qmp_snapshot(VmOps *base_ops, VmDisk *const *disks, guint n_disks,
                         const char *overlay_dir, gboolean quiesce,
                         GError **error)
{
    VmOpsQmp *ops = (VmOpsQmp *)base_ops;
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(VmQga) qga = NULL;
    g_autoptr(GError) thaw_err = NULL;
    gboolean ok;

    if (quiesce) {
        qga = vm_qga_connect(ops->parent.qga_socket, VM_OPS_QGA_TIMEOUT_MS, error);
        if (!qga) {
            return FALSE;
        }
        ops->parent.frozen = qga_count(qga, "guest-fsfreeze-freeze", error);
        if (ops->parent.frozen < 0) {
            return FALSE;
        }
    }
    ok = snapshot_disks(ops, disks, n_disks, overlay_dir, nodes, paths,
                        error);
    if (qga) {
        /* Thaw whatever happened: a frozen guest is stuck. */
        ops->parent.thawed = qga_count(qga, "guest-fsfreeze-thaw", &thaw_err);
        if (ops->parent.thawed < 0 && ok) {
            g_propagate_error(error, g_steal_pointer(&thaw_err));
            ok = FALSE;
        }
    }
    if (!ok) {
        for (guint i = 0; i < nodes->len; i++) {
            g_autoptr(GError) cleanup_err = NULL;

            /* best effort: the node may not have been added at all */
            drop_image(ops, nodes->pdata[i], &cleanup_err);
        }
        return FALSE;
    }
    for (guint i = 0; i < n_disks; i++) {
        g_ptr_array_add(disks[i]->chain,
                        vm_layer_new(nodes->pdata[i], paths->pdata[i]));
        g_ptr_array_add(disks[i]->images, g_strdup(paths->pdata[i]));
    }
    return TRUE;
}

/*
 * Note a BLOCK_JOB_* event in @ops->job_events: "JOB EVENT" -> the
 * event's error message, or "" without one.  Events of every job are
 * kept, so waiting for one job does not lose another's.
 */
static void record_job_event(VmOpsQmp *ops, JsonObject *ev)
{
    const char *name = json_object_get_string_member(ev, "event");
    JsonObject *data = json_object_get_object_member(ev, "data");
    const char *device;

    if (!g_str_has_prefix(name, "BLOCK_JOB_") || !data) {
        return;
    }
    device = json_object_get_string_member_with_default(data, "device",
                                                        NULL);
    if (device) {
        g_hash_table_insert(ops->job_events,
                            g_strdup_printf("%s %s", device, name),
                            g_strdup(json_object_get_string_member_with_default(
                                data, "error", "")));
    }
}

/* What is known of job @job_id's @event: NULL if not seen yet. */
static const char *job_event(VmOpsQmp *ops, const char *job_id,
                             const char *event)
{
    g_autofree char *key = g_strdup_printf("%s %s", job_id, event);

    return g_hash_table_lookup(ops->job_events, key);
}

/*
 * Wait for @event of job @job_id.  Any event of the job carrying an
 * error fails, and so does its end (COMPLETED, CANCELLED) before @event.
 */
static gboolean wait_job_event(VmOpsQmp *ops, const char *job_id,
                               const char *event, GError **error)
{
    static const char *const events[] = {
        "BLOCK_JOB_ERROR", "BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED",
        "BLOCK_JOB_CANCELLED",
    };

    for (;;) {
        g_autoptr(JsonObject) ev = NULL;

        for (guint i = 0; i < G_N_ELEMENTS(events); i++) {
            const char *error_text = job_event(ops, job_id, events[i]);

            if (error_text && *error_text) {
                g_set_error(error, VM_OPS_ERROR, VM_OPS_ERROR_FAILED,
                            "%s: %s: %s", job_id, events[i], error_text);
                return FALSE;
            }
        }
        if (job_event(ops, job_id, event)) {
            return TRUE;
        }
        for (guint i = 2; i < G_N_ELEMENTS(events); i++) {
            if (job_event(ops, job_id, events[i])) {
                g_set_error(error, VM_OPS_ERROR, VM_OPS_ERROR_FAILED,
                            "%s ended (%s) before %s", job_id, events[i],
                            event);
                return FALSE;
            }
        }
        ev = lm_qmp_wait_event(ops->qmp, NULL, VM_OPS_JOB_TIMEOUT_MS, error);
        if (!ev) {
            g_prefix_error(error, "waiting for %s of %s: ", event, job_id);
            return FALSE;
        }
        record_job_event(ops, ev);
    }
}

/* READY, then block-job-complete (the pivot), then COMPLETED. */
static gboolean pivot_when_ready(VmOpsQmp *ops, const char *job_id,
                                 GError **error)
{
    g_autofree char *jid = jstr(job_id);

    return wait_job_event(ops, job_id, "BLOCK_JOB_READY", error) &&
           lm_qmp_runf(ops->qmp, error, "block-job-complete",
                       "{\"device\": %s}", jid) &&
           wait_job_event(ops, job_id, "BLOCK_JOB_COMPLETED", error);
}

static char *start_commit(VmOpsQmp *ops, VmDisk *disk, guint top, guint base,
                          GError **error)
{
    g_autofree char *job_id = new_job_id(ops, "commit", disk);
    g_autofree char *jid = jstr(job_id);
    g_autofree char *jdev = jstr(vm_disk_active(disk)->node);
    g_autofree char *jtop = jstr(((VmLayer *)disk->chain->pdata[top])->node);
    g_autofree char *jbase = jstr(
        ((VmLayer *)disk->chain->pdata[base])->node);

    if (!require_command(ops, "livemerge-commit", error) ||
        !lm_qmp_runf(ops->qmp, error, "livemerge-commit",
                     "{\"job-id\": %s, \"device\": %s, \"top-node\": %s, "
                     "\"base-node\": %s}", jid, jdev, jtop, jbase)) {
        return NULL;
    }
    return g_steal_pointer(&job_id);
}

static gboolean qmp_commit(VmOps *base_ops, VmDisk *disk, guint top, guint base,
                       GError **error)
{
    VmOpsQmp *ops = (VmOpsQmp *)base_ops;
    gboolean active = top == disk->chain->len - 1;
    g_autofree char *job_id = NULL;

    job_id = start_commit(ops, disk, top, base, error);
    if (!job_id) {
        return FALSE;
    }
    if (active ? !pivot_when_ready(ops, job_id, error)
               : !wait_job_event(ops, job_id, "BLOCK_JOB_COMPLETED", error)) {
        return FALSE;
    }
    /* the committed layers leave the chain */
    return drop_layers(ops, disk, base + 1, top - base, error);
}

/* livemerge-complete {job-ids}: every job pivots, or none does. */
static gboolean complete_group(VmOpsQmp *ops, GPtrArray *jobs, GError **error)
{
    g_autoptr(GString) ids = g_string_new("[");

    for (guint i = 0; i < jobs->len; i++) {
        g_autofree char *jid = jstr(jobs->pdata[i]);

        g_string_append_printf(ids, "%s%s", i ? ", " : "", jid);
    }
    g_string_append(ids, "]");
    return lm_qmp_runf(ops->qmp, error, "livemerge-complete",
                       "{\"job-ids\": %s}", ids->str);
}

static gboolean qmp_commit_active_all(VmOps *base_ops, VmDisk *const *disks,
                                  guint n_disks, GError **error)
{
    VmOpsQmp *ops = (VmOpsQmp *)base_ops;
    g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) no_group = NULL;
    gboolean group = require_command(ops, "livemerge-complete", &no_group);

    for (guint i = 0; i < n_disks; i++) {
        char *job_id = start_commit(ops, disks[i], disks[i]->chain->len - 1,
                                    0, error);

        if (!job_id) {
            return FALSE;
        }
        g_ptr_array_add(jobs, job_id);
    }
    for (guint i = 0; i < n_disks; i++) {
        if (!wait_job_event(ops, jobs->pdata[i], "BLOCK_JOB_READY", error)) {
            return FALSE;
        }
    }
    /* One pivot for all disks where the daemon has it, else one each. */
    if (group) {
        if (!complete_group(ops, jobs, error)) {
            return FALSE;
        }
    } else {
        g_test_message("pivoting one disk after the other: %s",
                       no_group->message);
    }
    for (guint i = 0; i < n_disks; i++) {
        g_autofree char *jid = jstr(jobs->pdata[i]);

        if ((!group && !lm_qmp_runf(ops->qmp, error, "block-job-complete",
                                    "{\"device\": %s}", jid)) ||
            !wait_job_event(ops, jobs->pdata[i], "BLOCK_JOB_COMPLETED",
                            error) ||
            !drop_layers(ops, disks[i], 1, disks[i]->chain->len - 1,
                         error)) {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean qmp_pull(VmOps *base_ops, VmDisk *disk, GError **error)
{
    VmOpsQmp *ops = (VmOpsQmp *)base_ops;
    g_autofree char *job_id = new_job_id(ops, "pull", disk);
    g_autofree char *jid = jstr(job_id);
    g_autofree char *jdev = jstr(vm_disk_active(disk)->node);

    if (!require_command(ops, "livemerge-stream", error) ||
        !lm_qmp_runf(ops->qmp, error, "livemerge-stream",
                     "{\"job-id\": %s, \"device\": %s}", jid, jdev) ||
        !wait_job_event(ops, job_id, "BLOCK_JOB_COMPLETED", error)) {
        return FALSE;
    }
    /* the active layer stands alone */
    return drop_layers(ops, disk, 0, disk->chain->len - 1, error);
}

static gboolean qmp_copy(VmOps *base_ops, VmDisk *disk, const char *dir,
                     GError **error)
{
    VmOpsQmp *ops = (VmOpsQmp *)base_ops;
    g_autofree char *job_id = new_job_id(ops, "copy", disk);
    g_autofree char *jid = jstr(job_id);
    g_autofree char *jdev = jstr(vm_disk_active(disk)->node);
    g_autofree char *node = NULL;
    g_autofree char *path = vm_disk_next_image(disk, dir, "copy", &node);
    g_autofree char *jnode = jstr(node);

    if (!require_command(ops, "livemerge-mirror", error) ||
        !create_image(ops, node, path, disk->size, NULL, error)) {
        return FALSE;
    }
    g_ptr_array_add(disk->images, g_strdup(path));
    if (!lm_qmp_runf(ops->qmp, error, "livemerge-mirror",
                     "{\"job-id\": %s, \"device\": %s, \"target\": %s,"
                     " \"sync\": \"full\"}", jid, jdev, jnode) ||
        !pivot_when_ready(ops, job_id, error)) {
        return FALSE;
    }
    g_ptr_array_add(disk->chain, vm_layer_new(node, path));
    return drop_layers(ops, disk, 0, disk->chain->len - 1, error);
}

static void qmp_finalize(VmOps *base_ops)
{
    VmOpsQmp *ops = (VmOpsQmp *)base_ops;

    g_clear_pointer(&ops->commands, g_hash_table_unref);
    g_hash_table_unref(ops->job_events);
}

static const VmOpsClass qmp_class = {
    .snapshot = qmp_snapshot,
    .commit = qmp_commit,
    .commit_active_all = qmp_commit_active_all,
    .pull = qmp_pull,
    .copy = qmp_copy,
    .finalize = qmp_finalize,
};

VmOps *vm_ops_new_qmp(LmQmp *qmp, const char *qga_socket)
{
    VmOpsQmp *ops = g_new0(VmOpsQmp, 1);

    vm_ops_init(&ops->parent, &qmp_class, qga_socket);
    ops->qmp = qmp;
    ops->job_events = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);
    return &ops->parent;
}
