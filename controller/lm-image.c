/*
 * livemerge - new images and nodes, made and removed through the daemon
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-image.h"
#include "lm-error.h"

char *lm_qemu_id_new(const char *prefix)
{
    return g_strdup_printf("lm-%s-%08x", prefix, g_random_int());
}

static gboolean is_concluded_event(JsonObject *event, gpointer job_id)
{
    JsonObject *data = json_object_get_object_member(event, "data");

    return g_strcmp0(json_object_get_string_member_with_default(
                         event, "event", NULL), "JOB_STATUS_CHANGE") == 0 &&
           data &&
           g_strcmp0(json_object_get_string_member_with_default(
                         data, "id", NULL), job_id) == 0 &&
           g_strcmp0(json_object_get_string_member_with_default(
                         data, "status", NULL), "concluded") == 0;
}

/* The error of concluded job @job_id in query-jobs, or NULL. */
static char *concluded_job_error(LmQmp *qmp, const char *job_id,
                                 GError **error)
{
    g_autoptr(JsonNode) ret = lm_qmp_execute(qmp, "query-jobs", NULL, error);
    JsonArray *jobs;

    if (!ret) {
        return NULL;
    }
    jobs = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(jobs); i++) {
        JsonObject *j = json_array_get_object_element(jobs, i);

        if (g_str_equal(json_object_get_string_member(j, "id"), job_id)) {
            return g_strdup(json_object_get_string_member_with_default(
                j, "error", NULL));
        }
    }
    return NULL;
}

/* Run blockdev-create with @options, wait for it, dismiss it. */
static gboolean blockdev_create(LmQmp *qmp, JsonObject *options,
                                const char *file, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonObject) dismiss = json_object_new();
    g_autoptr(JsonObject) ev = NULL;
    g_autofree char *job_id = lm_qemu_id_new("create");
    g_autofree char *job_error = NULL;
    GError *local_err = NULL;

    json_object_set_string_member(args, "job-id", job_id);
    json_object_set_object_member(args, "options", json_object_ref(options));
    if (!lm_qmp_run(qmp, "blockdev-create", args, error)) {
        g_prefix_error(error, "creating '%s': ", file);
        return FALSE;
    }
    ev = lm_qmp_wait_event_matching(qmp, is_concluded_event, job_id, job_id,
                                    -1, error);
    if (!ev) {
        return FALSE;
    }
    job_error = concluded_job_error(qmp, job_id, &local_err);
    json_object_set_string_member(dismiss, "id", job_id);
    lm_qmp_run(qmp, "job-dismiss", dismiss, NULL);
    if (local_err) {
        g_propagate_error(error, local_err);
        return FALSE;
    }
    if (job_error) {
        g_set_error(error, LM_ERROR, LM_ERROR_JOB_FAILED,
                    "creating '%s' failed: %s", file, job_error);
        return FALSE;
    }
    return TRUE;
}

gboolean lm_node_del(LmQmp *qmp, const char *node, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "node-name", node);
    return lm_qmp_run(qmp, "blockdev-del", args, error);
}

gboolean lm_image_add(LmQmp *qmp, const LmNewImage *img, GError **error)
{
    const char *path = img->path;
    const char *format = img->format;
    const char *file_node = img->file_node;
    g_autoptr(JsonObject) file_opts = json_object_new();
    g_autoptr(JsonObject) file_add = json_object_new();
    g_autoptr(JsonObject) fmt_opts = json_object_new();
    g_autoptr(JsonObject) fmt_add = json_object_new();

    if (!img->reuse) {
        json_object_set_string_member(file_opts, "driver", "file");
        json_object_set_string_member(file_opts, "filename", path);
        json_object_set_int_member(file_opts, "size", 0);
        if (!blockdev_create(qmp, file_opts, path, error)) {
            return FALSE;
        }
    }
    json_object_set_string_member(file_add, "driver", "file");
    json_object_set_string_member(file_add, "node-name", file_node);
    json_object_set_string_member(file_add, "filename", path);
    if (!lm_qmp_run(qmp, "blockdev-add", file_add, error)) {
        g_prefix_error(error, "opening '%s': ", path);
        return FALSE;
    }
    if (!img->reuse) {
        json_object_set_string_member(fmt_opts, "driver", format);
        json_object_set_string_member(fmt_opts, "file", file_node);
        json_object_set_int_member(fmt_opts, "size", img->size);
        if (img->backing && g_str_equal(format, "qcow2")) {
            json_object_set_string_member(fmt_opts, "backing-file",
                                          img->backing->filename);
            json_object_set_string_member(fmt_opts, "backing-fmt",
                                          img->backing->format);
        }
        if (!blockdev_create(qmp, fmt_opts, path, error)) {
            lm_node_del(qmp, file_node, NULL);
            return FALSE;
        }
    }
    json_object_set_string_member(fmt_add, "driver", format);
    json_object_set_string_member(fmt_add, "node-name", img->node);
    json_object_set_string_member(fmt_add, "file", file_node);
    if (g_str_equal(format, "qcow2")) {
        if (img->backing_node) {
            json_object_set_string_member(fmt_add, "backing",
                                          img->backing_node);
        } else {
            json_object_set_null_member(fmt_add, "backing");
        }
    }
    if (!lm_qmp_run(qmp, "blockdev-add", fmt_add, error)) {
        g_prefix_error(error, "opening '%s' as %s: ", path, format);
        lm_node_del(qmp, file_node, NULL);
        return FALSE;
    }
    return TRUE;
}

gboolean lm_file_open_in_daemon(LmQmp *qmp, const char *path,
                                gboolean *open, GError **error)
{
    g_autoptr(JsonObject) flat = json_object_new();
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *nodes;

    json_object_set_boolean_member(flat, "flat", TRUE);
    ret = lm_qmp_execute(qmp, "query-named-block-nodes", flat, error);
    if (!ret) {
        return FALSE;
    }
    nodes = json_node_get_array(ret);
    *open = FALSE;
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        if (g_strcmp0(json_object_get_string_member(n, "file"), path) == 0) {
            *open = TRUE;
        }
    }
    return TRUE;
}

gboolean lm_node_del_if_named(LmQmp *qmp, const char *node, GError **error)
{
    g_autoptr(GError) local_err = NULL;

    if (!node || node[0] == '#') {
        return TRUE;
    }
    if (lm_node_del(qmp, node, &local_err) ||
        g_str_has_prefix(local_err->message, "Failed to find node")) {
        return TRUE;
    }
    g_propagate_error(error, g_steal_pointer(&local_err));
    return FALSE;
}
