/*
 * livemerge QMP commands: inserting, removing and querying a filter node
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Runtime commands have no QAPI schema, so each one reads its arguments
 * with a QObject input visitor the way QAPI's generated marshallers do:
 * missing, mistyped and unexpected members get QEMU's usual errors.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/error.h"
#include "qapi/qmp/qdict.h"
#include "qapi/compat-policy.h"
#include "qapi/visitor.h"
#include "qemu/id.h"

#include "filter-driver.h"
#include "filter-graph.h"
#include "qmp-commands.h"

BlockDriverState *livemerge_qmp_find_node(const char *arg, const char *name,
                                          Error **errp)
{
    BlockDriverState *bs = bdrv_find_node(name);

    if (!bs) {
        error_setg(errp, "Parameter '%s': no node named '%s'", arg, name);
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

BlockDriverState *livemerge_qmp_find_filter(const char *arg, const char *name,
                                            Error **errp)
{
    BlockDriverState *bs = livemerge_qmp_find_node(arg, name, errp);

    if (bs && !livemerge_is_filter(bs)) {
        error_setg(errp, "Parameter '%s': node '%s' is not a livemerge filter",
                   arg, name);
        return NULL;
    }
    return bs;
}

/* Arguments of the commands that take only a filter-node-name */
static char *parse_filter_node_name(QDict *args, Error **errp)
{
    char *filter_node_name = NULL;
    Visitor *v = qobject_input_visitor_new_qmp(QOBJECT(args));
    bool ok = false;

    if (visit_start_struct(v, NULL, NULL, 0, errp)) {
        ok = visit_type_str(v, "filter-node-name", &filter_node_name, errp) &&
             visit_check_struct(v, errp);
        visit_end_struct(v, NULL);
    }
    visit_free(v);
    if (!ok) {
        g_free(filter_node_name);
        return NULL;
    }
    return filter_node_name;
}

static void qmp_livemerge_insert_filter(const char *node,
                                        const char *filter_node_name,
                                        Error **errp)
{
    BlockDriverState *bs, *above, *filter;
    AioContext *ctx;

    bs = livemerge_qmp_find_node("node", node, errp);
    if (!bs) {
        return;
    }
    if (livemerge_is_filter(bs)) {
        error_setg(errp, "Parameter 'node': '%s' is itself a livemerge filter",
                   node);
        return;
    }
    above = livemerge_filter_above(bs);
    if (above) {
        error_setg(errp, "Parameter 'node': '%s' already has the livemerge "
                   "filter '%s' above it", node, bdrv_get_node_name(above));
        return;
    }
    if (QLIST_EMPTY(&bs->parents)) {
        error_setg(errp, "Parameter 'node': '%s' has no parent (no export or "
                   "node uses it), so there is nothing to filter", node);
        return;
    }
    if (!livemerge_qmp_check_new_node_name("filter-node-name",
                                           filter_node_name, errp)) {
        return;
    }
    filter = livemerge_filter_insert(bs, filter_node_name, errp);
    if (!filter) {
        error_prepend(errp, "Cannot insert a filter above '%s': ", node);
        return;
    }
    /* From now on the filter belongs to the parents it has taken over */
    ctx = bdrv_get_aio_context(filter);
    aio_context_acquire(ctx);
    bdrv_unref(filter);
    aio_context_release(ctx);
}

void qmp_marshal_livemerge_insert_filter(QDict *args, QObject **ret,
                                         Error **errp)
{
    g_autofree char *node = NULL;
    g_autofree char *filter_node_name = NULL;
    Visitor *v = qobject_input_visitor_new_qmp(QOBJECT(args));
    bool ok = false;

    if (visit_start_struct(v, NULL, NULL, 0, errp)) {
        ok = visit_type_str(v, "node", &node, errp) &&
             visit_type_str(v, "filter-node-name", &filter_node_name, errp) &&
             visit_check_struct(v, errp);
        visit_end_struct(v, NULL);
    }
    visit_free(v);
    if (ok) {
        qmp_livemerge_insert_filter(node, filter_node_name, errp);
    }
}

static void qmp_livemerge_remove_filter(const char *filter_node_name,
                                        Error **errp)
{
    BlockDriverState *filter;

    filter = livemerge_qmp_find_filter("filter-node-name", filter_node_name,
                                       errp);
    if (!filter) {
        return;
    }
    if (livemerge_filter_remove(filter, errp) < 0) {
        error_prepend(errp, "Cannot remove filter '%s': ", filter_node_name);
    }
}

void qmp_marshal_livemerge_remove_filter(QDict *args, QObject **ret,
                                         Error **errp)
{
    g_autofree char *filter_node_name = parse_filter_node_name(args, errp);

    if (filter_node_name) {
        qmp_livemerge_remove_filter(filter_node_name, errp);
    }
}

static QDict *qmp_livemerge_query_filter(const char *filter_node_name,
                                         Error **errp)
{
    LivemergeCounter counters[LIVEMERGE_REQ__MAX];
    BlockDriverState *filter;
    QDict *info;

    filter = livemerge_qmp_find_filter("filter-node-name", filter_node_name,
                                       errp);
    if (!filter) {
        return NULL;
    }
    livemerge_filter_get_counters(filter, counters);

    info = qdict_new();
    qdict_put_str(info, "node-name", bdrv_get_node_name(filter));
    if (filter->file) {
        qdict_put_str(info, "child", bdrv_get_node_name(filter->file->bs));
    }
    for (int i = 0; i < LIVEMERGE_REQ__MAX; i++) {
        QDict *c = qdict_new();

        qdict_put_int(c, "requests", counters[i].requests);
        qdict_put_int(c, "bytes", counters[i].bytes);
        qdict_put(info, livemerge_request_kind_name[i], c);
    }
    return info;
}

void qmp_marshal_livemerge_query_filter(QDict *args, QObject **ret,
                                        Error **errp)
{
    g_autofree char *filter_node_name = parse_filter_node_name(args, errp);
    QDict *info;

    if (!filter_node_name) {
        return;
    }
    info = qmp_livemerge_query_filter(filter_node_name, errp);
    if (info) {
        *ret = QOBJECT(info);
    }
}
