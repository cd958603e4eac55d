/*
 * livemerge - libvirt's block operations for a qemu-storage-daemon
 *
 * Arguments are JsonObjects built member by member: a disk, node or file
 * name a person typed travels as a JSON string and cannot change the
 * command around it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-ops.h"
#include "lm-error.h"
#include "lm-image.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>

/* virsh's limit: MiB/s must still fit in bytes/s as a signed 64-bit. */
#define LM_BANDWIDTH_MAX_MIB ((guint64)G_MAXINT64 >> 20)

/* blockdev-mirror's granularity bounds (QEMU mirror.c). */
#define LM_GRANULARITY_MIN 512
#define LM_GRANULARITY_MAX (64 * 1024 * 1024)

gboolean lm_engine_parse(const char *name, LmEngine *engine)
{
    if (g_strcmp0(name, "livemerge") == 0) {
        *engine = LM_ENGINE_LIVEMERGE;
    } else if (g_strcmp0(name, "native") == 0) {
        *engine = LM_ENGINE_NATIVE;
    } else {
        return FALSE;
    }
    return TRUE;
}

static LmLayer *layer_copy(const LmLayer *l)
{
    LmLayer *c = g_new0(LmLayer, 1);

    *c = *l;
    c->node_name = g_strdup(l->node_name);
    c->filename = g_strdup(l->filename);
    c->format = g_strdup(l->format);
    c->file_node_name = g_strdup(l->file_node_name);
    c->backing = g_strdup(l->backing);
    c->backing_format = g_strdup(l->backing_format);
    return c;
}

static void layer_copy_free(LmLayer *l)
{
    g_free(l->node_name);
    g_free(l->filename);
    g_free(l->format);
    g_free(l->file_node_name);
    g_free(l->backing);
    g_free(l->backing_format);
    g_free(l);
}

static LmStarted *started_new(const char *job_id, const char *disk)
{
    LmStarted *s = g_new0(LmStarted, 1);

    s->job_id = g_strdup(job_id);
    s->disk = g_strdup(disk);
    s->leaving = g_ptr_array_new_with_free_func(
        (GDestroyNotify)layer_copy_free);
    return s;
}

void lm_started_free(LmStarted *started)
{
    if (!started) {
        return;
    }
    g_free(started->job_id);
    g_free(started->disk);
    g_ptr_array_unref(started->leaving);
    g_free(started->target_node);
    g_free(started->target_file_node);
    g_free(started);
}

static gboolean bandwidth_to_speed(const char *disk, const LmBandwidth *bw,
                                   gint64 *speed, GError **error)
{
    if (bw->bytes) {
        if (bw->value > G_MAXINT64) {
            g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                        "disk '%s': bandwidth %" G_GUINT64_FORMAT " bytes/s "
                        "out of range (at most %" G_GINT64_FORMAT ")", disk,
                        bw->value, G_MAXINT64);
            return FALSE;
        }
        *speed = bw->value;
        return TRUE;
    }
    if (bw->value > LM_BANDWIDTH_MAX_MIB) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': bandwidth %" G_GUINT64_FORMAT " MiB/s out of "
                    "range (at most %" G_GUINT64_FORMAT " MiB/s; use --bytes "
                    "for bytes/s)", disk, bw->value, LM_BANDWIDTH_MAX_MIB);
        return FALSE;
    }
    *speed = (gint64)(bw->value << 20);
    return TRUE;
}

/* The disk's chain, refused if a block job already uses it. */
LmChain *lm_chain_read_for_job(LmQmp *qmp, const char *disk, GError **error)
{
    g_autoptr(LmChain) chain = lm_chain_read(qmp, disk, error);

    if (!chain) {
        return NULL;
    }
    if (chain->jobs->len) {
        g_set_error(error, LM_ERROR, LM_ERROR_DISK_BUSY,
                    "disk '%s' already in active block job '%s'; wait for it "
                    "(`livemerge blockjob %s --info`) or end it "
                    "(`livemerge blockjob %s --abort`)", disk,
                    (char *)chain->jobs->pdata[0], disk, disk);
        return NULL;
    }
    for (guint i = 0; i < chain->filters->len; i++) {
        g_autoptr(JsonObject) args = json_object_new();
        g_autoptr(JsonNode) ret = NULL;

        /* A livemerge filter without a job is someone's insert-filter. */
        json_object_set_string_member(args, "filter-node-name",
                                      chain->filters->pdata[i]);
        ret = lm_qmp_execute(qmp, "livemerge-query-filter", args, NULL);
        if (ret) {
            g_set_error(error, LM_ERROR, LM_ERROR_DISK_BUSY,
                        "disk '%s' has livemerge filter node '%s' above its "
                        "active layer; remove it with livemerge-remove-filter "
                        "first", disk, (char *)chain->filters->pdata[i]);
            return NULL;
        }
    }
    return g_steal_pointer(&chain);
}

static gboolean require_command(LmQmp *qmp, const char *command,
                                const char *what, GError **error)
{
    GError *local_err = NULL;

    if (lm_qmp_has_command(qmp, command, &local_err)) {
        return TRUE;
    }
    if (local_err) {
        g_propagate_error(error, local_err);
    } else if (g_str_equal(command, "livemerge-commit")) {
        g_set_error(error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                    "the daemon has no livemerge plugin (no %s command): "
                    "start it with scripts/livemerge-qsd (which preloads "
                    "livemerge.so), or use --engine native for %s",
                    command, what);
    } else {
        g_set_error(error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                    "the livemerge plugin in this daemon has no %s; use "
                    "--engine native for %s", command, what);
    }
    return FALSE;
}

static LmLayer *find_or_fail(LmChain *chain, const char *role,
                             const char *spec, LmLayer *below,
                             GError **error)
{
    LmLayer *layer = lm_chain_find(chain, spec, below ? below->index + 1 : 0);

    if (layer) {
        return layer;
    }
    if (below) {
        g_set_error(error, LM_ERROR, LM_ERROR_IMAGE_NOT_FOUND,
                    "could not find %s image '%s' beneath '%s' in the chain "
                    "of disk '%s'; `livemerge chain %s` shows it", role, spec,
                    below->filename, chain->disk, chain->disk);
    } else {
        g_set_error(error, LM_ERROR, LM_ERROR_IMAGE_NOT_FOUND,
                    "could not find %s image '%s' in the chain of disk '%s'; "
                    "`livemerge chain %s` shows it", role, spec, chain->disk,
                    chain->disk);
    }
    return NULL;
}

static void set_speed_member(JsonObject *args, gint64 speed)
{
    if (speed) {
        json_object_set_int_member(args, "speed", speed);
    }
}

/* 0 leaves the plugin's default, which the measurements chose */
static void set_guest_impact_member(JsonObject *args, guint guest_impact)
{
    if (guest_impact) {
        json_object_set_int_member(args, "guest-impact", guest_impact);
    }
}

/*
 * An option only the plugin's jobs take (@given) with --engine native:
 * refused before the daemon sees anything, rather than silently dropped.
 */
static gboolean check_livemerge_only(const char *disk, LmEngine engine,
                                     gboolean given, const char *option,
                                     const char *qemu_command,
                                     const char *setting, GError **error)
{
    if (given && engine == LM_ENGINE_NATIVE) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': %s is for --engine livemerge; QEMU's %s has "
                    "no %s", disk, option, qemu_command, setting);
        return FALSE;
    }
    return TRUE;
}

static gboolean check_guest_impact_engine(const char *disk, LmEngine engine,
                                          guint guest_impact,
                                          const char *qemu_command,
                                          GError **error)
{
    return check_livemerge_only(disk, engine, guest_impact != 0,
                                "--guest-impact", qemu_command,
                                "guest impact", error);
}

/* Pick top and base with libvirt's checks (qemuDomainBlockCommit). */
static gboolean commit_layers(LmChain *chain, const LmCommitArgs *a,
                              LmLayer **top_out, LmLayer **base_out,
                              GError **error)
{
    LmLayer *top = a->top ? find_or_fail(chain, "top", a->top, NULL, error)
                          : lm_chain_active(chain);
    LmLayer *base;
    LmLayer *below_top;

    if (!top) {
        return FALSE;
    }
    below_top = lm_chain_layer(chain, top->index + 1);
    if (!below_top) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "top '%s' in the chain of disk '%s' has no backing file: "
                    "nothing to commit it into", top->filename, chain->disk);
        return FALSE;
    }
    if (top->index == 0 && !a->active) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "commit of the active layer '%s' of disk '%s' requires "
                    "--active (then --pivot or --keep-overlay to end it)",
                    top->filename, chain->disk);
        return FALSE;
    }
    if (top->index != 0 && a->active) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "--active given but top '%s' is not the active layer of "
                    "disk '%s' (that is '%s'); leave out --active or --top",
                    top->filename, chain->disk,
                    lm_chain_active(chain)->filename);
        return FALSE;
    }
    if (a->base) {
        base = find_or_fail(chain, "base", a->base, top, error);
        if (!base) {
            return FALSE;
        }
        if (a->shallow && base != below_top) {
            g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                        "base '%s' is not immediately below top '%s' in the "
                        "chain of disk '%s', as --shallow wants; leave out "
                        "--base or --shallow", base->filename, top->filename,
                        chain->disk);
            return FALSE;
        }
    } else if (a->shallow) {
        base = below_top;
    } else {
        base = chain->layers->pdata[chain->layers->len - 1];
    }
    *top_out = top;
    *base_out = base;
    return TRUE;
}

static void note_leaving(LmStarted *s, LmChain *chain, guint from, guint to)
{
    for (guint i = from; i < to; i++) {
        g_ptr_array_add(s->leaving, layer_copy(lm_chain_layer(chain, i)));
    }
}

LmStarted *lm_commit_start(LmQmp *qmp, const LmCommitArgs *a, GError **error)
{
    g_autoptr(LmChain) chain = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *job_id = lm_qemu_id_new("commit");
    g_autofree char *backing = NULL;
    LmStarted *started;
    LmLayer *top;
    LmLayer *base;
    gint64 speed;

    if (!bandwidth_to_speed(a->disk, &a->bandwidth, &speed, error) ||
        !check_livemerge_only(a->disk, a->engine, a->copy_mode != NULL,
                              "--copy-mode", "block-commit", "copy mode",
                              error) ||
        !check_guest_impact_engine(a->disk, a->engine, a->guest_impact,
                                   "block-commit", error)) {
        return NULL;
    }
    chain = lm_chain_read_for_job(qmp, a->disk, error);
    if (!chain || !commit_layers(chain, a, &top, &base, error)) {
        return NULL;
    }
    if (a->keep_relative && top->index > 0) {
        backing = lm_chain_relative_backing(
            chain, lm_chain_layer(chain, top->index - 1), base, error);
        if (!backing) {
            return NULL;
        }
    }
    if (a->engine == LM_ENGINE_LIVEMERGE &&
        !require_command(qmp, "livemerge-commit", "block commit", error)) {
        return NULL;
    }
    json_object_set_string_member(args, "job-id", job_id);
    json_object_set_string_member(args, "device",
                                  lm_chain_active(chain)->node_name);
    json_object_set_string_member(args, "top-node", top->node_name);
    json_object_set_string_member(args, "base-node", base->node_name);
    if (backing) {
        json_object_set_string_member(args, "backing-file", backing);
    }
    set_speed_member(args, speed);
    set_guest_impact_member(args, a->guest_impact);
    if (a->copy_mode) {
        json_object_set_string_member(args, "copy-mode", a->copy_mode);
    }
    if (!lm_qmp_run(qmp, a->engine == LM_ENGINE_NATIVE ? "block-commit"
                                                       : "livemerge-commit",
                    args, error)) {
        g_prefix_error(error, "disk '%s': ", a->disk);
        return NULL;
    }
    started = started_new(job_id, a->disk);
    started->needs_pivot = top->index == 0;
    note_leaving(started, chain, top->index, base->index);
    return started;
}

LmStarted *lm_pull_start(LmQmp *qmp, const LmPullArgs *a, GError **error)
{
    g_autoptr(LmChain) chain = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *job_id = lm_qemu_id_new("pull");
    g_autofree char *backing = NULL;
    LmStarted *started;
    LmLayer *active;
    LmLayer *base = NULL;
    gint64 speed;

    if (!bandwidth_to_speed(a->disk, &a->bandwidth, &speed, error) ||
        !check_guest_impact_engine(a->disk, a->engine, a->guest_impact,
                                   "block-stream", error)) {
        return NULL;
    }
    if (a->keep_relative && !a->base) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': --keep-relative needs --base (without a base "
                    "the disk keeps no backing file)", a->disk);
        return NULL;
    }
    chain = lm_chain_read_for_job(qmp, a->disk, error);
    if (!chain) {
        return NULL;
    }
    active = lm_chain_active(chain);
    if (chain->layers->len < 2) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "active layer '%s' of disk '%s' has no backing file: "
                    "nothing to pull", active->filename, a->disk);
        return NULL;
    }
    if (a->base) {
        base = find_or_fail(chain, "base", a->base, active, error);
        if (!base) {
            return NULL;
        }
        if (a->keep_relative) {
            backing = lm_chain_relative_backing(chain, active, base, error);
            if (!backing) {
                return NULL;
            }
        }
    }
    if (a->engine == LM_ENGINE_LIVEMERGE &&
        !require_command(qmp, "livemerge-stream", "block pull", error)) {
        return NULL;
    }
    json_object_set_string_member(args, "job-id", job_id);
    json_object_set_string_member(args, "device", active->node_name);
    if (base) {
        json_object_set_string_member(args, "base-node", base->node_name);
    }
    if (backing) {
        json_object_set_string_member(args, "backing-file", backing);
    }
    set_speed_member(args, speed);
    set_guest_impact_member(args, a->guest_impact);
    if (!lm_qmp_run(qmp, a->engine == LM_ENGINE_NATIVE ? "block-stream"
                                                       : "livemerge-stream",
                    args, error)) {
        g_prefix_error(error, "disk '%s': ", a->disk);
        return NULL;
    }
    started = started_new(job_id, a->disk);
    /*
     * The pulled layers leave the chain; closed after the job as for a
     * commit (libvirt does the same), since an open one still backs onto
     * the base and keeps a later job on the base from starting
     */
    note_leaving(started, chain, 1, base ? base->index : chain->layers->len);
    return started;
}

static gboolean check_copy_args(const LmCopyArgs *a, GError **error)
{
    if (a->granularity &&
        (a->granularity < LM_GRANULARITY_MIN ||
         a->granularity > LM_GRANULARITY_MAX ||
         (a->granularity & (a->granularity - 1)))) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': granularity %" G_GUINT64_FORMAT " must be a "
                    "power of 2 from 512 to 64M", a->disk, a->granularity);
        return FALSE;
    }
    if (a->buf_size > G_MAXINT64) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': buf-size %" G_GUINT64_FORMAT " out of range",
                    a->disk, a->buf_size);
        return FALSE;
    }
    if (!a->reuse_external && g_file_test(a->dest, G_FILE_TEST_EXISTS)) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': copy destination '%s' exists; remove it, or "
                    "pass --reuse-external to copy into it", a->disk,
                    a->dest);
        return FALSE;
    }
    return TRUE;
}

LmStarted *lm_copy_start(LmQmp *qmp, const LmCopyArgs *a, GError **error)
{
    g_autoptr(LmChain) chain = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(LmStarted) started = NULL;
    g_autofree char *job_id = lm_qemu_id_new("copy");
    g_autofree char *path = NULL;
    LmLayer *active;
    LmLayer *backing;
    const char *format;
    gint64 speed;

    if (!bandwidth_to_speed(a->disk, &a->bandwidth, &speed, error) ||
        !check_guest_impact_engine(a->disk, a->engine, a->guest_impact,
                                   "blockdev-mirror", error) ||
        !check_copy_args(a, error)) {
        return NULL;
    }
    chain = lm_chain_read_for_job(qmp, a->disk, error);
    if (!chain) {
        return NULL;
    }
    path = g_canonicalize_filename(a->dest, NULL);
    if (lm_chain_find_file(chain, path)) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': copy destination '%s' is an image of its own "
                    "chain; choose a new file", a->disk, a->dest);
        return NULL;
    }
    if (a->engine == LM_ENGINE_LIVEMERGE &&
        !require_command(qmp, "livemerge-mirror", "block copy", error)) {
        return NULL;
    }
    active = lm_chain_active(chain);
    backing = a->shallow ? lm_chain_layer(chain, 1) : NULL;
    format = a->format ? a->format : active->format;
    if (backing && !g_str_equal(format, "qcow2")) {
        g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                    "disk '%s': --shallow needs a destination format with a "
                    "backing file (qcow2), not %s", a->disk, format);
        return NULL;
    }
    started = started_new(job_id, a->disk);
    started->needs_pivot = TRUE;
    started->target_node = lm_qemu_id_new("copy-node");
    started->target_file_node = lm_qemu_id_new("copy-file");
    if (!lm_image_add(qmp, &(LmNewImage){
                          .path = path, .format = format,
                          .size = active->virtual_size, .backing = backing,
                          .backing_node = backing ? backing->node_name : NULL,
                          .reuse = a->reuse_external,
                          .node = started->target_node,
                          .file_node = started->target_file_node }, error)) {
        g_prefix_error(error, "disk '%s': ", a->disk);
        return NULL;
    }
    json_object_set_string_member(args, "job-id", job_id);
    json_object_set_string_member(args, "device", active->node_name);
    json_object_set_string_member(args, "target", started->target_node);
    json_object_set_string_member(args, "sync", backing ? "top" : "full");
    set_speed_member(args, speed);
    set_guest_impact_member(args, a->guest_impact);
    if (a->granularity) {
        json_object_set_int_member(args, "granularity", a->granularity);
    }
    if (a->buf_size) {
        json_object_set_int_member(args, "buf-size", a->buf_size);
    }
    if (a->synchronous_writes) {
        json_object_set_string_member(args, "copy-mode", "write-blocking");
    }
    if (!lm_qmp_run(qmp, a->engine == LM_ENGINE_NATIVE ? "blockdev-mirror"
                                                       : "livemerge-mirror",
                    args, error)) {
        g_prefix_error(error, "disk '%s': ", a->disk);
        lm_copy_release_target(qmp, started, NULL);
        return NULL;
    }
    return g_steal_pointer(&started);
}

gboolean lm_copy_release_target(LmQmp *qmp, LmStarted *started,
                                GError **error)
{
    return lm_node_del(qmp, started->target_node, error) &&
           lm_node_del(qmp, started->target_file_node, error);
}

char *lm_disk_job(LmQmp *qmp, const char *disk, GError **error)
{
    g_autoptr(LmChain) chain = lm_chain_read(qmp, disk, error);

    if (!chain) {
        return NULL;
    }
    if (!chain->jobs->len) {
        g_set_error(error, LM_ERROR, LM_ERROR_NO_JOB,
                    "disk '%s' has no active block job", disk);
        return NULL;
    }
    return g_strdup(chain->jobs->pdata[0]);
}

char *lm_disk_job_abort(LmQmp *qmp, const char *disk, gboolean pivot,
                        GError **error)
{
    g_autofree char *job_id = lm_disk_job(qmp, disk, error);
    g_autoptr(JsonObject) args = json_object_new();

    if (!job_id) {
        return NULL;
    }
    json_object_set_string_member(args, "device", job_id);
    if (pivot) {
        g_autoptr(LmJob) job = lm_job_new(qmp, job_id);

        if (!lm_job_refresh(job, error)) {
            return NULL;
        }
        if (lm_job_info(job)->state != LM_JOB_READY) {
            g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                        "block job '%s' of disk '%s' is not ready to pivot "
                        "(status %s); wait for it (`livemerge blockjob %s "
                        "--info`)", job_id, disk,
                        lm_job_info(job)->status ?: "unknown", disk);
            return NULL;
        }
    }
    if (!lm_qmp_run(qmp, pivot ? "block-job-complete" : "block-job-cancel",
                    args, error)) {
        g_prefix_error(error, "disk '%s': ", disk);
        return NULL;
    }
    return g_steal_pointer(&job_id);
}

gboolean lm_disk_job_set_bandwidth(LmQmp *qmp, const char *disk,
                                   const LmBandwidth *bandwidth,
                                   GError **error)
{
    g_autofree char *job_id = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    gint64 speed;

    if (!bandwidth_to_speed(disk, bandwidth, &speed, error)) {
        return FALSE;
    }
    job_id = lm_disk_job(qmp, disk, error);
    if (!job_id) {
        return FALSE;
    }
    json_object_set_string_member(args, "device", job_id);
    json_object_set_int_member(args, "speed", speed);
    if (!lm_qmp_run(qmp, "block-job-set-speed", args, error)) {
        g_prefix_error(error, "disk '%s': ", disk);
        return FALSE;
    }
    return TRUE;
}

gboolean lm_disk_job_set_guest_impact(LmQmp *qmp, const char *disk,
                                      guint guest_impact, GError **error)
{
    g_autofree char *job_id = lm_disk_job(qmp, disk, error);
    g_autoptr(JsonObject) args = json_object_new();
    GError *local_err = NULL;

    if (!job_id) {
        return FALSE;
    }
    /* Without the plugin every job is QEMU's own: say so, not "no command" */
    if (!lm_qmp_has_command(qmp, "livemerge-set-guest-impact", &local_err)) {
        if (local_err) {
            g_propagate_error(error, local_err);
        } else {
            g_set_error(error, LM_ERROR, LM_ERROR_UNSUPPORTED,
                        "disk '%s': job '%s' is QEMU's own (the daemon has "
                        "no livemerge plugin with livemerge-set-guest-impact); "
                        "only jobs of --engine livemerge have a guest impact",
                        disk, job_id);
        }
        return FALSE;
    }
    json_object_set_string_member(args, "job-id", job_id);
    json_object_set_int_member(args, "guest-impact", guest_impact);
    /* A native job is refused by the plugin ("... is not a livemerge job") */
    if (!lm_qmp_run(qmp, "livemerge-set-guest-impact", args, error)) {
        g_prefix_error(error, "disk '%s': setting guest impact %u on job "
                       "'%s': ", disk, guest_impact, job_id);
        return FALSE;
    }
    return TRUE;
}

GPtrArray *lm_group_pivot(LmQmp *qmp, const char *const *disks,
                          GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GPtrArray) job_ids = g_ptr_array_new_with_free_func(g_free);
    JsonArray *ids = json_array_new();

    json_object_set_array_member(args, "job-ids", ids);
    if (!require_command(qmp, "livemerge-complete", "a group pivot "
                         "(or pivot each disk alone)", error)) {
        return NULL;
    }
    for (guint i = 0; disks[i]; i++) {
        char *job_id = lm_disk_job(qmp, disks[i], error);

        if (!job_id) {
            return NULL;
        }
        g_ptr_array_add(job_ids, job_id);
        json_array_add_string_element(ids, job_id);
    }
    if (!lm_qmp_run(qmp, "livemerge-complete", args, error)) {
        return NULL;
    }
    return g_steal_pointer(&job_ids);
}

/* The layers of @started that are no longer in @disk's chain */
static GPtrArray *left_layers(LmQmp *qmp, LmStarted *started, GError **error)
{
    g_autoptr(LmChain) chain = lm_chain_read(qmp, started->disk, error);
    GPtrArray *left;

    if (!chain) {
        return NULL;
    }
    left = g_ptr_array_new();
    for (guint i = 0; i < started->leaving->len; i++) {
        LmLayer *layer = started->leaving->pdata[i];

        /* Still (or again) in the chain: not ours to close */
        if (!lm_chain_find(chain, layer->node_name, 0) &&
            !lm_chain_find_file(chain, layer->filename)) {
            g_ptr_array_add(left, layer);
        }
    }
    return left;
}

static gboolean close_layer(LmQmp *qmp, LmStarted *started, LmLayer *layer,
                            GError **error)
{
    if (!lm_node_del_if_named(qmp, layer->node_name, error) ||
        !lm_node_del_if_named(qmp, layer->file_node_name, error)) {
        g_prefix_error(error, "disk '%s': removing node of '%s': ",
                       started->disk, layer->filename);
        return FALSE;
    }
    return TRUE;
}

gboolean lm_close_left_layers(LmQmp *qmp, LmStarted *started,
                              GError **error)
{
    g_autoptr(GPtrArray) left = left_layers(qmp, started, error);

    if (!left) {
        return FALSE;
    }
    for (guint i = 0; i < left->len; i++) {
        if (!close_layer(qmp, started, left->pdata[i], error)) {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean lm_close_left_since(LmQmp *qmp, const char *disk, LmChain *before,
                             GError **error)
{
    g_autoptr(LmStarted) s = started_new("", disk);

    note_leaving(s, before, 0, before->layers->len);
    return lm_close_left_layers(qmp, s, error);
}

gboolean lm_delete_left_layers(LmQmp *qmp, LmStarted *started,
                               GPtrArray *removed, GError **error)
{
    g_autoptr(GPtrArray) left = left_layers(qmp, started, error);

    if (!left) {
        return FALSE;
    }
    for (guint i = 0; i < left->len; i++) {
        LmLayer *layer = left->pdata[i];
        gboolean open;

        if (!close_layer(qmp, started, layer, error)) {
            return FALSE;
        }
        if (!lm_file_open_in_daemon(qmp, layer->filename, &open, error)) {
            return FALSE;
        }
        if (open) {
            g_set_error(error, LM_ERROR, LM_ERROR_FILE,
                        "disk '%s': not deleting '%s': the daemon still has "
                        "it open", started->disk, layer->filename);
            return FALSE;
        }
        if (g_unlink(layer->filename) < 0 && errno != ENOENT) {
            int err = errno;

            g_set_error(error, LM_ERROR, LM_ERROR_FILE,
                        "disk '%s': deleting '%s': %s", started->disk,
                        layer->filename, g_strerror(err));
            return FALSE;
        }
        if (removed) {
            g_ptr_array_add(removed, g_strdup(layer->filename));
        }
    }
    return TRUE;
}
