/*
 * livemerge QMP commands: livemerge-commit
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Reads and checks the arguments (QEMU's block-commit names where they
 * exist) and starts the commit job.  Every refusal names the argument.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/compat-policy.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-block-core.h"
#include "qapi/visitor.h"
#include "qemu/cutils.h"
#include "qemu/id.h"
#include "qapi/qmp/qdict.h"
#include "qemu/job.h"

#include <sys/stat.h>

#include "commit-job.h"
#include "filter-driver.h"
#include "filter-graph.h"
#include "qmp-commands.h"

#define MIN_GRANULARITY     512
#define MAX_GRANULARITY     (64 * MiB)
/* The longest backing file name a qcow2 header holds (QEMU's qcow2.c) */
#define QCOW2_MAX_BACKING_FILE 1023

typedef struct CommitArgs {
    char *job_id;
    char *device;
    bool has_top_node;
    char *top_node;
    bool has_base_node;
    char *base_node;
    bool has_backing_file;
    char *backing_file;
    bool has_filter_node_name;
    char *filter_node_name;
    bool has_speed;
    int64_t speed;
    bool has_copy_mode;
    char *copy_mode;
    bool has_granularity;
    int64_t granularity;
    bool has_buf_size;
    int64_t buf_size;
    bool has_max_in_flight;
    int64_t max_in_flight;
    bool has_on_error;
    BlockdevOnError on_error;
    bool has_auto_finalize;
    bool auto_finalize;
    bool has_auto_dismiss;
    bool auto_dismiss;
} CommitArgs;

static void commit_args_free(CommitArgs *a)
{
    g_free(a->job_id);
    g_free(a->device);
    g_free(a->top_node);
    g_free(a->base_node);
    g_free(a->backing_file);
    g_free(a->filter_node_name);
    g_free(a->copy_mode);
}

static bool visit_optional_str(Visitor *v, const char *name, bool *has,
                               char **value, Error **errp)
{
    return !visit_optional(v, name, has) ||
           visit_type_str(v, name, value, errp);
}

static bool visit_optional_int(Visitor *v, const char *name, bool *has,
                               int64_t *value, Error **errp)
{
    return !visit_optional(v, name, has) ||
           visit_type_int(v, name, value, errp);
}

static bool visit_optional_bool(Visitor *v, const char *name, bool *has,
                                bool *value, Error **errp)
{
    return !visit_optional(v, name, has) ||
           visit_type_bool(v, name, value, errp);
}

static bool visit_commit_args(Visitor *v, CommitArgs *a, Error **errp)
{
    return visit_type_str(v, "job-id", &a->job_id, errp) &&
        visit_type_str(v, "device", &a->device, errp) &&
        visit_optional_str(v, "top-node", &a->has_top_node, &a->top_node,
                           errp) &&
        visit_optional_str(v, "base-node", &a->has_base_node, &a->base_node,
                           errp) &&
        visit_optional_str(v, "backing-file", &a->has_backing_file,
                           &a->backing_file, errp) &&
        visit_optional_str(v, "filter-node-name", &a->has_filter_node_name,
                           &a->filter_node_name, errp) &&
        visit_optional_int(v, "speed", &a->has_speed, &a->speed, errp) &&
        visit_optional_str(v, "copy-mode", &a->has_copy_mode, &a->copy_mode,
                           errp) &&
        visit_optional_int(v, "granularity", &a->has_granularity,
                           &a->granularity, errp) &&
        visit_optional_int(v, "buf-size", &a->has_buf_size, &a->buf_size,
                           errp) &&
        visit_optional_int(v, "max-in-flight", &a->has_max_in_flight,
                           &a->max_in_flight, errp) &&
        (!visit_optional(v, "on-error", &a->has_on_error) ||
         visit_type_BlockdevOnError(v, "on-error", &a->on_error, errp)) &&
        visit_optional_bool(v, "auto-finalize", &a->has_auto_finalize,
                            &a->auto_finalize, errp) &&
        visit_optional_bool(v, "auto-dismiss", &a->has_auto_dismiss,
                            &a->auto_dismiss, errp);
}

static bool parse_copy_mode(const CommitArgs *a, LivemergeCopyMode *mode,
                            Error **errp)
{
    if (!a->has_copy_mode) {
        *mode = LIVEMERGE_COPY_MODE_ADAPTIVE;
        return true;
    }
    for (int i = 0; i < LIVEMERGE_COPY_MODE__MAX; i++) {
        if (g_str_equal(a->copy_mode, livemerge_copy_mode_name[i])) {
            *mode = i;
            return true;
        }
    }
    error_setg(errp, "Parameter 'copy-mode' does not accept value '%s' "
               "(background, write-blocking or adaptive)", a->copy_mode);
    return false;
}

static bool check_numbers(const CommitArgs *a, Error **errp)
{
    if (a->has_speed && a->speed < 0) {
        error_setg(errp, "Parameter 'speed': must be 0 (unlimited) or more "
                   "bytes/s, got %" PRId64, a->speed);
        return false;
    }
    if (a->has_granularity &&
        (a->granularity < MIN_GRANULARITY || a->granularity > MAX_GRANULARITY ||
         !is_power_of_2(a->granularity))) {
        error_setg(errp, "Parameter 'granularity': must be a power of 2 "
                   "from 512 to 64M, got %" PRId64, a->granularity);
        return false;
    }
    if (a->has_buf_size && (a->buf_size < 0 || a->buf_size > 1 * GiB)) {
        error_setg(errp, "Parameter 'buf-size': must be 0 (default) up to "
                   "1G, got %" PRId64, a->buf_size);
        return false;
    }
    if (a->has_max_in_flight &&
        (a->max_in_flight < 1 || a->max_in_flight > 256)) {
        error_setg(errp, "Parameter 'max-in-flight': must be from 1 to 256, "
                   "got %" PRId64, a->max_in_flight);
        return false;
    }
    return true;
}

/* @bs in the backing chain of @top (filters skipped), @top excluded */
static bool chain_below_contains(BlockDriverState *top, BlockDriverState *bs)
{
    for (BlockDriverState *it = bdrv_backing_chain_next(top); it;
         it = bdrv_backing_chain_next(it)) {
        if (it == bs) {
            return true;
        }
    }
    return false;
}

static BlockDriverState *chain_bottom(BlockDriverState *bs)
{
    BlockDriverState *next;

    while ((next = bdrv_backing_chain_next(bs))) {
        bs = next;
    }
    return bs;
}

/* The node a guest's disk starts at has no overlay of its own */
static BlockDriverState *overlay_of(BlockDriverState *bs)
{
    BdrvChild *parent;

    QLIST_FOREACH(parent, &bs->parents, next_parent) {
        if (parent->role & BDRV_CHILD_COW) {
            return parent->opaque;
        }
    }
    return NULL;
}

static bool check_no_filter_above(const char *device, BlockDriverState *bs,
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

/*
 * A filter as the base would be dropped from the chain along with the
 * committed layers (the image above top would back onto what is below
 * the filter): refused rather than done silently.
 */
static BlockDriverState *find_base_node(const char *name, Error **errp)
{
    BlockDriverState *bs = livemerge_qmp_find_node("base-node", name, errp);

    if (bs && bs->drv && bs->drv->is_filter) {
        error_setg(errp, "Parameter 'base-node': '%s' is a %s filter node, "
                   "not an image; a commit into it would drop it from the "
                   "chain: give the image below it as base-node", name,
                   bs->drv->format_name);
        return NULL;
    }
    return bs;
}

/* Resolve device, top and base into @o, checking how they relate */
static bool resolve_chain(const CommitArgs *a, CommitJobOptions *o,
                          Error **errp)
{
    BlockDriverState *device;

    device = livemerge_qmp_find_node("device", a->device, errp);
    if (!device) {
        return false;
    }
    o->active = bdrv_skip_filters(device);
    if (!o->active) {
        error_setg(errp, "Parameter 'device': '%s' has no image below it",
                   a->device);
        return false;
    }
    if (overlay_of(o->active)) {
        error_setg(errp, "Parameter 'device': '%s' is a backing image of "
                   "'%s', not the active layer of a disk", a->device,
                   bdrv_get_node_name(overlay_of(o->active)));
        return false;
    }
    if (!check_no_filter_above(a->device, o->active, errp)) {
        return false;
    }

    o->top = o->active;
    if (a->has_top_node) {
        o->top = livemerge_qmp_find_node("top-node", a->top_node, errp);
        if (!o->top) {
            return false;
        }
        o->top = bdrv_skip_filters(o->top);
        if (o->top != o->active && !chain_below_contains(o->active, o->top)) {
            error_setg(errp, "Parameter 'top-node': '%s' is not in the "
                       "backing chain of device '%s'", a->top_node,
                       a->device);
            return false;
        }
    }
    if (a->has_base_node) {
        o->base = find_base_node(a->base_node, errp);
        if (!o->base) {
            return false;
        }
        o->base = bdrv_skip_filters(o->base);
        if (o->base == o->top) {
            error_setg(errp, "Parameter 'base-node': '%s' is the same node "
                       "as the top", a->base_node);
            return false;
        }
        if (!chain_below_contains(o->top, o->base)) {
            error_setg(errp, "Parameter 'base-node': '%s' is not below the "
                       "top '%s' in the backing chain of device '%s'",
                       a->base_node, bdrv_get_node_name(o->top), a->device);
            return false;
        }
    } else {
        o->base = chain_bottom(o->top);
        if (o->base == o->top) {
            error_setg(errp, "Parameter '%s': '%s' has no backing image, so "
                       "there is nothing to commit into",
                       a->has_top_node ? "top-node" : "device",
                       a->has_top_node ? a->top_node : a->device);
            return false;
        }
    }
    if (a->has_backing_file && o->top == o->active) {
        error_setg(errp, "Parameter 'backing-file': only for committing an "
                   "intermediate layer, but '%s' is the active layer",
                   bdrv_get_node_name(o->top));
        return false;
    }
    return true;
}

/* The node that holds @bs's data in a local file, or NULL */
static const char *local_file_of(BlockDriverState *bs)
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

/*
 * A backing-file string must make the image above @top reopen as the same
 * chain: it is written into the overlay's header as is, and a string that
 * does not lead to @base loses data or leaves an image that cannot be
 * opened.  It is resolved as QEMU resolves it, relative to the overlay's
 * directory.
 */
static bool check_backing_file(const char *str, BlockDriverState *top,
                               BlockDriverState *base, Error **errp)
{
    BlockDriverState *overlay = overlay_of(top);
    size_t max_len = sizeof(overlay->backing_file) - 1;
    const char *base_file = local_file_of(base);
    g_autofree char *shown = g_strescape(str, NULL);
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;

    if (!*str) {
        error_setg(errp, "Parameter 'backing-file': must not be empty (the "
                   "image above '%s' would lose its backing file)",
                   bdrv_get_node_name(top));
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

static void qmp_livemerge_commit(const CommitArgs *a, Error **errp)
{
    CommitJobOptions o = {
        .job_id = a->job_id,
        .backing_file = a->has_backing_file ? a->backing_file : NULL,
        .filter_node_name = a->has_filter_node_name ?
                            a->filter_node_name : NULL,
        .speed = a->has_speed ? a->speed : 0,
        .granularity = a->has_granularity ? a->granularity : 0,
        .buf_size = a->has_buf_size && a->buf_size ?
                    a->buf_size : LIVEMERGE_DEFAULT_BUF_SIZE,
        .max_in_flight = a->has_max_in_flight ?
                         a->max_in_flight : LIVEMERGE_DEFAULT_MAX_IN_FLIGHT,
        .on_error = a->has_on_error ? a->on_error : BLOCKDEV_ON_ERROR_REPORT,
    };

    if (!parse_copy_mode(a, &o.copy_mode, errp) || !check_numbers(a, errp)) {
        return;
    }
    if (a->has_auto_finalize && !a->auto_finalize) {
        o.job_flags |= JOB_MANUAL_FINALIZE;
    }
    if (a->has_auto_dismiss && !a->auto_dismiss) {
        o.job_flags |= JOB_MANUAL_DISMISS;
    }
    if (!id_wellformed(a->job_id)) {
        error_setg(errp, "Parameter 'job-id': '%s' is not a valid job ID "
                   "(letters, digits, '-', '.', '_', starting with a letter)",
                   a->job_id);
        return;
    }
    WITH_JOB_LOCK_GUARD() {
        if (job_get_locked(a->job_id)) {
            error_setg(errp, "Parameter 'job-id': a job named '%s' already "
                       "exists", a->job_id);
            return;
        }
    }
    if (a->has_filter_node_name &&
        !livemerge_qmp_check_new_node_name("filter-node-name",
                                           a->filter_node_name, errp)) {
        return;
    }
    if (!resolve_chain(a, &o, errp)) {
        return;
    }
    if (a->has_backing_file &&
        !check_backing_file(a->backing_file, o.top, o.base, errp)) {
        return;
    }
    livemerge_commit_start(&o, errp);
}

void qmp_marshal_livemerge_commit(QDict *args, QObject **ret, Error **errp)
{
    CommitArgs a = {};
    Visitor *v = qobject_input_visitor_new_qmp(QOBJECT(args));
    bool ok = false;

    if (visit_start_struct(v, NULL, NULL, 0, errp)) {
        ok = visit_commit_args(v, &a, errp) && visit_check_struct(v, errp);
        visit_end_struct(v, NULL);
    }
    visit_free(v);
    if (ok) {
        qmp_livemerge_commit(&a, errp);
    }
    commit_args_free(&a);
}
