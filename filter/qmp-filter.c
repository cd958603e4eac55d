/*
 * livemerge QMP commands: inserting, removing and querying a filter node
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Arguments are read by the one reader of qmp-args.c.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/error.h"
#include "qapi/qmp/qdict.h"

#include "filter-driver.h"
#include "filter-graph.h"
#include "qmp-args.h"
#include "qmp-commands.h"

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

typedef struct FilterArgs {
    char *node;
    char *filter_node_name;
} FilterArgs;

static const LivemergeArgSpec insert_filter_args[] = {
    LM_ARG_REQUIRED(LM_ARG_STR, FilterArgs, , node, "node"),
    LM_ARG_REQUIRED(LM_ARG_STR, FilterArgs, , filter_node_name,
                    "filter-node-name"),
};

/* The commands that take only a filter-node-name */
static const LivemergeArgSpec filter_name_args[] = {
    LM_ARG_REQUIRED(LM_ARG_STR, FilterArgs, , filter_node_name,
                    "filter-node-name"),
};

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
    FilterArgs a = {};
    int n = ARRAY_SIZE(insert_filter_args);

    if (livemerge_qmp_read_args(args, insert_filter_args, n, &a, errp)) {
        qmp_livemerge_insert_filter(a.node, a.filter_node_name, errp);
        livemerge_qmp_free_args(insert_filter_args, n, &a);
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
    FilterArgs a = {};
    int n = ARRAY_SIZE(filter_name_args);

    if (livemerge_qmp_read_args(args, filter_name_args, n, &a, errp)) {
        qmp_livemerge_remove_filter(a.filter_node_name, errp);
        livemerge_qmp_free_args(filter_name_args, n, &a);
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
        qdict_put_int(c, "completed", counters[i].completed);
        qdict_put_int(c, "latency-ns", counters[i].latency_ns);
        qdict_put(info, livemerge_request_kind_name[i], c);
    }
    return info;
}

void qmp_marshal_livemerge_query_filter(QDict *args, QObject **ret,
                                        Error **errp)
{
    FilterArgs a = {};
    int n = ARRAY_SIZE(filter_name_args);
    QDict *info;

    if (!livemerge_qmp_read_args(args, filter_name_args, n, &a, errp)) {
        return;
    }
    info = qmp_livemerge_query_filter(a.filter_node_name, errp);
    if (info) {
        *ret = QOBJECT(info);
    }
    livemerge_qmp_free_args(filter_name_args, n, &a);
}
