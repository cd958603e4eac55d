/*
 * livemerge QMP arguments: one reader for every livemerge-* command
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"

#include <sys/stat.h>

#include "qemu-compat.h"
#include "qapi/compat-policy.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-block-core.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/visitor.h"
#include "qemu/cutils.h"
#include "qemu/id.h"
#include "qemu/job.h"

#include "filter-driver.h"
#include "filter-graph.h"
#include "qmp-args.h"

static bool visit_arg(Visitor *v, const LivemergeArgSpec *a, void *out,
                      Error **errp)
{
    void *value = (char *)out + a->offset;

    if (a->optional &&
        !visit_optional(v, a->name, (bool *)((char *)out + a->has_offset))) {
        return true;
    }
    switch (a->type) {
    case LM_ARG_STR:
        return visit_type_str(v, a->name, value, errp);
    case LM_ARG_INT:
        return visit_type_int(v, a->name, value, errp);
    case LM_ARG_BOOL:
        return visit_type_bool(v, a->name, value, errp);
    case LM_ARG_ON_ERROR:
        return visit_type_BlockdevOnError(v, a->name, value, errp);
    case LM_ARG_STR_LIST:
        return visit_type_strList(v, a->name, value, errp);
    }
    g_assert_not_reached();
}

bool livemerge_qmp_read_args(QDict *args, const LivemergeArgSpec *spec,
                             int n, void *out, Error **errp)
{
    Visitor *v = qobject_input_visitor_new_qmp(QOBJECT(args));
    bool ok = false;

    if (visit_start_struct(v, NULL, NULL, 0, errp)) {
        ok = true;
        for (int i = 0; ok && i < n; i++) {
            ok = visit_arg(v, &spec[i], out, errp);
        }
        ok = ok && visit_check_struct(v, errp);
        visit_end_struct(v, NULL);
    }
    visit_free(v);
    if (!ok) {
        livemerge_qmp_free_args(spec, n, out);
    }
    return ok;
}

void livemerge_qmp_free_args(const LivemergeArgSpec *spec, int n, void *out)
{
    for (int i = 0; i < n; i++) {
        void *value = (char *)out + spec[i].offset;

        if (spec[i].type == LM_ARG_STR) {
            g_clear_pointer((char **)value, g_free);
        } else if (spec[i].type == LM_ARG_STR_LIST) {
            g_clear_pointer((strList **)value, qapi_free_strList);
        }
    }
}

BlockDriverState *livemerge_qmp_find_node(const char *arg, const char *name,
                                          Error **errp)
{
    BlockDriverState *bs = bdrv_find_node(name);

    if (!bs) {
        error_setg(errp, "Parameter '%s': no node named '%s'", arg, name);
    }
    return bs;
}

BlockDriverState *livemerge_qmp_find_base_node(const char *name, Error **errp)
{
    BlockDriverState *bs = livemerge_qmp_find_node("base-node", name, errp);

    if (bs && bs->drv && bs->drv->is_filter) {
        error_setg(errp, "Parameter 'base-node': '%s' is a %s filter node, "
                   "not an image; the job would drop it from the chain: "
                   "give the image below it as base-node", name,
                   bs->drv->format_name);
        return NULL;
    }
    return bs;
}

bool livemerge_qmp_check_new_node_name(const char *arg, const char *name,
                                       Error **errp)
{
    size_t max_len = sizeof(((BlockDriverState *)NULL)->node_name) - 1;

    if (!id_wellformed(name)) {
        error_setg(errp, "Parameter '%s': '%s' is not a valid node name "
                   "(letters, digits, '-', '.', '_', starting with a letter)",
                   arg, name);
        return false;
    }
    if (strlen(name) > max_len) {
        error_setg(errp, "Parameter '%s': '%s' is too long for a node name "
                   "(at most %zu characters)", arg, name, max_len);
        return false;
    }
    if (bdrv_find_node(name)) {
        error_setg(errp, "Parameter '%s': a node named '%s' already exists",
                   arg, name);
        return false;
    }
    return true;
}

static bool check_job_id(const char *job_id, Error **errp)
{
    if (!id_wellformed(job_id)) {
        error_setg(errp, "Parameter 'job-id': '%s' is not a valid job ID "
                   "(letters, digits, '-', '.', '_', starting with a letter)",
                   job_id);
        return false;
    }
    WITH_JOB_LOCK_GUARD() {
        if (job_get_locked(job_id)) {
            error_setg(errp, "Parameter 'job-id': a job named '%s' already "
                       "exists", job_id);
            return false;
        }
    }
    return true;
}

static bool GRAPH_RDLOCK check_no_filter_above(const char *device,
                                               BlockDriverState *bs,
                                  Error **errp)
{
    BlockDriverState *filter = livemerge_filter_above(bs);

    if (!filter) {
        return true;
    }
    if (livemerge_filter_owner(filter)) {
        error_setg(errp, "Parameter 'device': '%s' is in use by the "
                   "livemerge job '%s' (its filter '%s' is above it)",
                   device, livemerge_filter_owner(filter),
                   bdrv_get_node_name(filter));
    } else {
        error_setg(errp, "Parameter 'device': '%s' already has the livemerge "
                   "filter '%s' above it (remove it with "
                   "livemerge-remove-filter)", device,
                   bdrv_get_node_name(filter));
    }
    return false;
}

/* The image node that holds @bs as its file (a protocol node), or NULL */
static BlockDriverState * GRAPH_RDLOCK image_above(BlockDriverState *bs)
{
    BdrvChild *parent;

    QLIST_FOREACH(parent, &bs->parents, next_parent) {
        BlockDriverState *p;

        if (parent->klass != &child_of_bds ||
            !(parent->role & BDRV_CHILD_PRIMARY)) {
            continue;
        }
        p = parent->opaque;
        if (!p->drv || !p->drv->is_filter) {
            return p;
        }
    }
    return NULL;
}

/* The active layer of the disk @device names (its node, or that layer) */
static BlockDriverState * GRAPH_RDLOCK find_active_layer(const char *device,
                                                         Error **errp)
{
    BlockDriverState *bs = livemerge_qmp_find_node("device", device, errp);
    BlockDriverState *active, *overlay;

    if (!bs) {
        return NULL;
    }
    active = bdrv_skip_filters(bs);
    if (!active) {
        error_setg(errp, "Parameter 'device': '%s' has no image below it",
                   device);
        return NULL;
    }
    if (image_above(active)) {
        error_setg(errp, "Parameter 'device': '%s' is the file of '%s', not "
                   "the active layer of a disk", device,
                   bdrv_get_node_name(image_above(active)));
        return NULL;
    }
    overlay = livemerge_overlay_of(active);
    if (overlay) {
        error_setg(errp, "Parameter 'device': '%s' is a backing image of "
                   "'%s', not the active layer of a disk", device,
                   bdrv_get_node_name(overlay));
        return NULL;
    }
    if (!check_no_filter_above(device, active, errp)) {
        return NULL;
    }
    return active;
}

bool GRAPH_RDLOCK livemerge_qmp_job_options(const LivemergeJobArgs *a,
                                            CopyJobOptions *o,
                               Error **errp)
{
    *o = (CopyJobOptions) {
        .job_id = a->job_id,
        .filter_node_name = a->has_filter_node_name ?
                            a->filter_node_name : NULL,
        .speed = a->has_speed ? a->speed : 0,
        .copy_mode = LIVEMERGE_COPY_MODE_ADAPTIVE,
        .guest_impact = a->has_guest_impact ? a->guest_impact :
                        LIVEMERGE_DEFAULT_GUEST_IMPACT,
        .buf_size = LIVEMERGE_DEFAULT_BUF_SIZE,
        .max_in_flight = LIVEMERGE_DEFAULT_MAX_IN_FLIGHT,
        .on_source_error = BLOCKDEV_ON_ERROR_REPORT,
        .on_target_error = BLOCKDEV_ON_ERROR_REPORT,
    };
    if (a->has_speed && a->speed < 0) {
        error_setg(errp, "Parameter 'speed': must be 0 (unlimited) or more "
                   "bytes/s, got %" PRId64, a->speed);
        return false;
    }
    if (a->has_guest_impact &&
        !livemerge_qmp_check_guest_impact(a->guest_impact, errp)) {
        return false;
    }
    if (a->has_auto_finalize && !a->auto_finalize) {
        o->job_flags |= JOB_MANUAL_FINALIZE;
    }
    if (a->has_auto_dismiss && !a->auto_dismiss) {
        o->job_flags |= JOB_MANUAL_DISMISS;
    }
    if (!check_job_id(a->job_id, errp)) {
        return false;
    }
    if (a->has_filter_node_name &&
        !livemerge_qmp_check_new_node_name("filter-node-name",
                                           a->filter_node_name, errp)) {
        return false;
    }
    o->active = find_active_layer(a->device, errp);
    return o->active != NULL;
}

/* The longest backing file name a qcow2 header holds (QEMU's qcow2.c) */
#define QCOW2_MAX_BACKING_FILE 1023

/* The node that holds @bs's data in a local file, or NULL */
static const char * GRAPH_RDLOCK local_file_of(BlockDriverState *bs)
{
    while (bs->file) {
        bs = bs->file->bs;
    }
    return bs->drv && g_str_equal(bs->drv->format_name, "file") ?
           bs->filename : NULL;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Resolved as QEMU resolves it, relative to the overlay's directory */
bool GRAPH_RDLOCK livemerge_qmp_check_backing_file(const char *str,
                                      BlockDriverState *overlay,
                                      BlockDriverState *base, Error **errp)
{
    size_t max_len = sizeof(((BlockDriverState *)NULL)->backing_file) - 1;
    const char *base_file = local_file_of(base);
    g_autofree char *shown = g_strescape(str, NULL);
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;

    if (!*str) {
        error_setg(errp, "Parameter 'backing-file': must not be empty ('%s' "
                   "would lose its backing file)",
                   overlay ? bdrv_get_node_name(overlay) : "?");
        return false;
    }
    for (const char *p = str; *p; p++) {
        if (g_ascii_iscntrl(*p)) {
            error_setg(errp, "Parameter 'backing-file': '%s' contains a "
                       "control character", shown);
            return false;
        }
    }
    if (g_str_has_prefix(str, "json:")) {
        error_setg(errp, "Parameter 'backing-file': '%s' uses the json: "
                   "pseudo-protocol; give the path of the base's file",
                   shown);
        return false;
    }
    if (overlay && g_str_equal(overlay->drv->format_name, "qcow2")) {
        max_len = QCOW2_MAX_BACKING_FILE;
    }
    if (strlen(str) > max_len) {
        error_setg(errp, "Parameter 'backing-file': '%s' is %zu bytes long; "
                   "the header of '%s' holds at most %zu", shown, strlen(str),
                   overlay ? bdrv_get_node_name(overlay) : "?", max_len);
        return false;
    }
    if (!overlay || !base_file) {
        error_setg(errp, "Parameter 'backing-file': '%s' cannot be checked: "
                   "the base '%s' is not an image in a local file; leave "
                   "backing-file out", shown, bdrv_get_node_name(base));
        return false;
    }
    if (path_has_protocol(str)) {
        error_setg(errp, "Parameter 'backing-file': '%s' names a protocol, "
                   "not the base's file '%s'", shown, base_file);
        return false;
    }
    if (g_path_is_absolute(str)) {
        path = g_strdup(str);
    } else {
        dir = bdrv_dirname(overlay, NULL);
        path = dir ? g_strconcat(dir, str, NULL) : NULL;
    }
    if (!path || !same_file(path, base_file)) {
        error_setg(errp, "Parameter 'backing-file': '%s' does not lead to the "
                   "base's file '%s' (relative paths start in the directory "
                   "of '%s')", shown, base_file, bdrv_get_node_name(overlay));
        return false;
    }
    return true;
}

void livemerge_qmp_on_error(bool has_on_error, BlockdevOnError on_error,
                            CopyJobOptions *o)
{
    if (has_on_error) {
        o->on_source_error = on_error;
        o->on_target_error = on_error;
    }
}

bool livemerge_qmp_check_guest_impact(int64_t guest_impact, Error **errp)
{
    if (guest_impact < LIVEMERGE_MIN_GUEST_IMPACT ||
        guest_impact > LIVEMERGE_MAX_GUEST_IMPACT) {
        error_setg(errp, "Parameter 'guest-impact': must be a percentage "
                   "from %d to %d, got %" PRId64, LIVEMERGE_MIN_GUEST_IMPACT,
                   LIVEMERGE_MAX_GUEST_IMPACT, guest_impact);
        return false;
    }
    return true;
}

static bool parse_copy_mode(const LivemergeCopyArgs *a,
                            LivemergeCopyMode *mode, Error **errp)
{
    if (!a->has_copy_mode) {
        return true;
    }
    for (int i = 0; i < LIVEMERGE_COPY_MODE__MAX; i++) {
        if (g_str_equal(a->copy_mode, livemerge_copy_mode_name[i])) {
            *mode = i;
            return true;
        }
    }
    error_setg(errp, "Parameter 'copy-mode' does not accept value '%s' "
               "(%s, %s or %s)", a->copy_mode,
               livemerge_copy_mode_name[LIVEMERGE_COPY_MODE_BACKGROUND],
               livemerge_copy_mode_name[LIVEMERGE_COPY_MODE_WRITE_BLOCKING],
               livemerge_copy_mode_name[LIVEMERGE_COPY_MODE_ADAPTIVE]);
    return false;
}

bool livemerge_qmp_copy_options(const LivemergeCopyArgs *a,
                                CopyJobOptions *o, Error **errp)
{
    g_autofree char *min_g = size_to_str(LIVEMERGE_MIN_GRANULARITY);
    g_autofree char *max_g = size_to_str(LIVEMERGE_MAX_GRANULARITY);
    g_autofree char *max_buf = size_to_str(LIVEMERGE_MAX_BUF_SIZE);

    if (!parse_copy_mode(a, &o->copy_mode, errp)) {
        return false;
    }
    if (a->has_granularity &&
        (a->granularity < LIVEMERGE_MIN_GRANULARITY ||
         a->granularity > LIVEMERGE_MAX_GRANULARITY ||
         !is_power_of_2(a->granularity))) {
        error_setg(errp, "Parameter 'granularity': must be a power of 2 "
                   "from %s to %s, got %" PRId64, min_g, max_g,
                   a->granularity);
        return false;
    }
    if (a->has_buf_size &&
        (a->buf_size < 0 || a->buf_size > LIVEMERGE_MAX_BUF_SIZE)) {
        error_setg(errp, "Parameter 'buf-size': must be 0 (default) up to "
                   "%s, got %" PRId64, max_buf, a->buf_size);
        return false;
    }
    if (a->has_max_in_flight &&
        (a->max_in_flight < 1 || a->max_in_flight > LIVEMERGE_MAX_IN_FLIGHT)) {
        error_setg(errp, "Parameter 'max-in-flight': must be from 1 to %d, "
                   "got %" PRId64, LIVEMERGE_MAX_IN_FLIGHT, a->max_in_flight);
        return false;
    }
    o->granularity = a->has_granularity ? a->granularity : 0;
    if (a->has_buf_size && a->buf_size) {
        o->buf_size = a->buf_size;
    }
    if (a->has_max_in_flight) {
        o->max_in_flight = a->max_in_flight;
    }
    return true;
}
