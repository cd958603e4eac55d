/*
 * livemerge tests - qcow2 backing chains and commit jobs in a daemon
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "commit-fixture.h"

#include <stdarg.h>
#include <string.h>

#define COMMIT_CHAIN_MAX_LAYERS 16
#define DEFAULT_CLUSTER_SIZE (64 * COMMIT_KiB)

struct CommitChain {
    LmTestQsd *qsd;
    guint n_layers;
    char *size;
    char *paths[COMMIT_CHAIN_MAX_LAYERS];
    char *nodes[COMMIT_CHAIN_MAX_LAYERS];
    char *file_nodes[COMMIT_CHAIN_MAX_LAYERS];
    guint64 cluster_sizes[COMMIT_CHAIN_MAX_LAYERS];
    gboolean open[COMMIT_CHAIN_MAX_LAYERS];
    gboolean exported;
};

static guint64 parse_size(const char *s)
{
    char *end = NULL;
    guint64 v;

    if (!s) {
        return DEFAULT_CLUSTER_SIZE;
    }
    v = g_ascii_strtoull(s, &end, 10);
    switch (g_ascii_tolower(*end)) {
    case 'k':
        v *= COMMIT_KiB;
        end++;
        break;
    case 'm':
        v *= COMMIT_MiB;
        end++;
        break;
    case 'g':
        v *= 1024 * COMMIT_MiB;
        end++;
        break;
    default:
        break;
    }
    g_assert_cmpstr(end, ==, "");
    return v;
}

CommitChain *commit_chain_new_full(LmTestQsd *qsd, guint n_layers,
                                   const char *const *cluster_sizes,
                                   const char *size)
{
    CommitChain *chain = g_new0(CommitChain, 1);

    g_assert_cmpuint(n_layers, >=, 1);
    g_assert_cmpuint(n_layers, <=, COMMIT_CHAIN_MAX_LAYERS);
    chain->qsd = qsd;
    chain->n_layers = n_layers;
    chain->size = g_strdup(size ? size : COMMIT_CHAIN_DEFAULT_SIZE);
    for (guint i = 0; i < n_layers; i++) {
        g_autofree char *name = g_strdup_printf("layer%u.qcow2", i);

        chain->paths[i] = lm_test_qsd_path(qsd, name);
        chain->nodes[i] = g_strdup_printf("layer%u", i);
        chain->file_nodes[i] = g_strdup_printf("layer%u-file", i);
        chain->cluster_sizes[i] =
            parse_size(cluster_sizes ? cluster_sizes[i] : NULL);
        lm_test_image_create(chain->paths[i], &(LmTestImageOpts){
                                 .size = chain->size,
                                 .backing = i ? chain->paths[i - 1] : NULL,
                                 .cluster_size = chain->cluster_sizes[i],
                             });
    }
    return chain;
}

CommitChain *commit_chain_new(LmTestQsd *qsd, guint n_layers,
                              const char *const *cluster_sizes)
{
    return commit_chain_new_full(qsd, n_layers, cluster_sizes, NULL);
}

void commit_chain_free(CommitChain *chain)
{
    if (!chain) {
        return;
    }
    for (guint i = 0; i < chain->n_layers; i++) {
        g_free(chain->paths[i]);
        g_free(chain->nodes[i]);
        g_free(chain->file_nodes[i]);
    }
    g_free(chain->size);
    g_free(chain);
}

guint commit_chain_n_layers(CommitChain *chain)
{
    return chain->n_layers;
}

LmTestQsd *commit_chain_qsd(CommitChain *chain)
{
    return chain->qsd;
}

LmQmp *commit_chain_qmp(CommitChain *chain)
{
    LmQmp *qmp = lm_test_qsd_qmp(chain->qsd);

    g_assert_nonnull(qmp);
    return qmp;
}

const char *commit_chain_path(CommitChain *chain, guint layer)
{
    g_assert_cmpuint(layer, <, chain->n_layers);
    return chain->paths[layer];
}

const char *commit_chain_node(CommitChain *chain, guint layer)
{
    g_assert_cmpuint(layer, <, chain->n_layers);
    return chain->nodes[layer];
}

const char *commit_chain_file_node(CommitChain *chain, guint layer)
{
    g_assert_cmpuint(layer, <, chain->n_layers);
    return chain->file_nodes[layer];
}

guint64 commit_chain_cluster_size(CommitChain *chain, guint layer)
{
    g_assert_cmpuint(layer, <, chain->n_layers);
    return chain->cluster_sizes[layer];
}

guint64 commit_chain_size(CommitChain *chain)
{
    return parse_size(chain->size);
}

/* ------------------------------------------------------------------ */
/* Nodes and export */

void commit_chain_add_layer(CommitChain *chain, guint layer,
                            gboolean read_only)
{
    LmQmp *qmp = commit_chain_qmp(chain);
    g_autoptr(GError) err = NULL;
    g_autofree char *backing = NULL;

    g_assert_cmpuint(layer, <, chain->n_layers);
    g_assert_false(chain->open[layer]);
    if (layer > 0) {
        g_assert_true(chain->open[layer - 1]);
        backing = g_strdup_printf("\"%s\"", chain->nodes[layer - 1]);
    } else {
        backing = g_strdup("null");
    }
    /* auto-read-only: the file node follows its parent's permissions,
     * so a commit can reopen a read-only qcow2 node read-write. */
    lm_qmp_runf(qmp, &err, "blockdev-add",
                "{\"driver\": \"file\", \"node-name\": \"%s\","
                " \"filename\": \"%s\", \"auto-read-only\": true,"
                " \"discard\": \"unmap\"}",
                chain->file_nodes[layer], chain->paths[layer]);
    g_assert_no_error(err);
    lm_qmp_runf(qmp, &err, "blockdev-add",
                "{\"driver\": \"qcow2\", \"node-name\": \"%s\","
                " \"file\": \"%s\", \"backing\": %s, \"read-only\": %s,"
                " \"discard\": \"unmap\"}",
                chain->nodes[layer], chain->file_nodes[layer], backing,
                read_only ? "true" : "false");
    g_assert_no_error(err);
    chain->open[layer] = TRUE;
}

void commit_chain_del_layer(CommitChain *chain, guint layer)
{
    LmQmp *qmp = commit_chain_qmp(chain);
    g_autoptr(GError) err = NULL;

    g_assert_true(chain->open[layer]);
    lm_qmp_runf(qmp, &err, "blockdev-del", "{\"node-name\": \"%s\"}",
                chain->nodes[layer]);
    g_assert_no_error(err);
    lm_qmp_runf(qmp, &err, "blockdev-del", "{\"node-name\": \"%s\"}",
                chain->file_nodes[layer]);
    g_assert_no_error(err);
    chain->open[layer] = FALSE;
}

gboolean commit_chain_layer_is_open(CommitChain *chain, guint layer)
{
    g_assert_cmpuint(layer, <, chain->n_layers);
    return chain->open[layer];
}

void commit_chain_export_node(CommitChain *chain, const char *node)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(chain->exported);
    lm_test_qsd_export(chain->qsd, node, COMMIT_CHAIN_EXPORT, &err);
    g_assert_no_error(err);
    chain->exported = TRUE;
}

void commit_chain_unexport(CommitChain *chain)
{
    LmQmp *qmp = commit_chain_qmp(chain);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) ev = NULL;

    g_assert_true(chain->exported);
    lm_qmp_runf(qmp, &err, "block-export-del", "{\"id\": \"%s\"}",
                COMMIT_CHAIN_EXPORT);
    g_assert_no_error(err);
    ev = lm_qmp_wait_event(qmp, "BLOCK_EXPORT_DELETED", COMMIT_JOB_TIMEOUT_MS,
                           &err);
    g_assert_no_error(err);
    g_assert_cmpstr(commit_event_str(ev, "id"), ==, COMMIT_CHAIN_EXPORT);
    chain->exported = FALSE;
}

void commit_chain_open(CommitChain *chain)
{
    for (guint i = 0; i < chain->n_layers; i++) {
        commit_chain_add_layer(chain, i, i + 1 < chain->n_layers);
    }
    commit_chain_export_node(chain, chain->nodes[chain->n_layers - 1]);
}

void commit_chain_connect(CommitChain *chain, LmTestGuest *guest)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_connect(guest, lm_test_qsd_nbd_socket(chain->qsd),
                          COMMIT_CHAIN_EXPORT, &err);
    g_assert_no_error(err);
}

static void flush_guest(LmTestGuest *guest)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_flush(guest, &err);
    g_assert_no_error(err);
}

void commit_chain_build(CommitChain *chain, LmTestGuest *guest,
                        CommitLayerFill fill, gpointer data)
{
    for (guint i = 0; i < chain->n_layers; i++) {
        gboolean active = i + 1 == chain->n_layers;

        commit_chain_add_layer(chain, i, FALSE);
        commit_chain_export_node(chain, chain->nodes[i]);
        commit_chain_connect(chain, guest);
        if (fill) {
            fill(chain, i, guest, data);
        }
        flush_guest(guest);
        if (!active) {
            /* Closing flushes the layer: its image is final now. */
            lm_test_guest_disconnect(guest);
            commit_chain_unexport(chain);
            commit_chain_del_layer(chain, i);
            commit_chain_add_layer(chain, i, TRUE);
        }
    }
}

void commit_chain_build_offline(CommitChain *chain, LmTestGuest *guest,
                                CommitLayerFill fill, gpointer data)
{
    for (guint i = 0; i < chain->n_layers; i++) {
        g_autoptr(GError) err = NULL;

        g_assert_false(chain->open[i]);
        lm_test_guest_open_image(guest, chain->paths[i], "qcow2", &err);
        g_assert_no_error(err);
        if (fill) {
            fill(chain, i, guest, data);
        }
        flush_guest(guest);
        lm_test_guest_disconnect(guest);
    }
}

/* ------------------------------------------------------------------ */
/* The graph */

static JsonArray *query_array(LmQmp *qmp, const char *command,
                              const char *args, JsonNode **keep)
{
    g_autoptr(GError) err = NULL;

    *keep = lm_qmp_execute_json(qmp, command, args, &err);
    g_assert_no_error(err);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(*keep));
    return json_node_get_array(*keep);
}

JsonObject *commit_query_node(LmQmp *qmp, const char *node)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *nodes = query_array(qmp, "query-named-block-nodes",
                                   "{\"flat\": true}", &ret);

    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        if (g_strcmp0(json_object_get_string_member(n, "node-name"),
                      node) == 0) {
            return json_object_ref(n);
        }
    }
    return NULL;
}

gboolean commit_node_read_only(LmQmp *qmp, const char *node)
{
    g_autoptr(JsonObject) n = commit_query_node(qmp, node);

    if (!n) {
        g_test_message("no node named '%s'", node);
    }
    g_assert_nonnull(n);
    return json_object_get_boolean_member(n, "ro");
}

/* The child of @node linked as @role in the block graph, or NULL. */
static char *graph_child(LmQmp *qmp, const char *node, const char *role)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_execute(qmp, "x-debug-query-block-graph",
                                             NULL, &err);
    JsonArray *nodes, *edges;
    gint64 parent_id = -1, child_id = -1;

    g_assert_no_error(err);
    nodes = json_object_get_array_member(json_node_get_object(ret), "nodes");
    edges = json_object_get_array_member(json_node_get_object(ret), "edges");
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        if (g_str_equal(json_object_get_string_member(n, "type"),
                        "block-driver") &&
            g_strcmp0(json_object_get_string_member(n, "name"), node) == 0) {
            parent_id = json_object_get_int_member(n, "id");
        }
    }
    g_assert_cmpint(parent_id, >=, 0);
    for (guint i = 0; i < json_array_get_length(edges); i++) {
        JsonObject *e = json_array_get_object_element(edges, i);

        if (json_object_get_int_member(e, "parent") == parent_id &&
            g_str_equal(json_object_get_string_member(e, "name"), role)) {
            child_id = json_object_get_int_member(e, "child");
        }
    }
    if (child_id < 0) {
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        if (json_object_get_int_member(n, "id") == child_id) {
            return g_strdup(json_object_get_string_member(n, "name"));
        }
    }
    g_assert_not_reached();
}

char *commit_backing_node(LmQmp *qmp, const char *node)
{
    return graph_child(qmp, node, "backing");
}

char *commit_describe_chain(LmQmp *qmp, const char *node)
{
    GString *s = g_string_new(NULL);
    g_autofree char *cur = g_strdup(node);

    for (guint depth = 0; cur; depth++) {
        g_autoptr(JsonObject) n = commit_query_node(qmp, cur);
        const char *drv;
        char *next;

        g_assert_nonnull(n);
        g_assert_cmpuint(depth, <, 64);
        drv = json_object_get_string_member(n, "drv");
        g_string_append_printf(s, "%s%s", s->len ? " > " : "", cur);
        if (!g_str_equal(drv, "qcow2")) {
            g_string_append_printf(s, "[%s]", drv);
        }
        g_string_append(s, json_object_get_boolean_member(n, "ro") ?
                        "(ro)" : "(rw)");
        next = g_str_equal(drv, "livemerge") ? graph_child(qmp, cur, "file")
                                             : graph_child(qmp, cur,
                                                           "backing");
        g_free(cur);
        cur = next;
    }
    return g_string_free(s, FALSE);
}

char *commit_describe_export(LmQmp *qmp)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *exports = query_array(qmp, "query-block-exports", NULL, &ret);

    for (guint i = 0; i < json_array_get_length(exports); i++) {
        JsonObject *e = json_array_get_object_element(exports, i);

        if (g_str_equal(json_object_get_string_member(e, "id"),
                        COMMIT_CHAIN_EXPORT)) {
            return commit_describe_chain(
                qmp, json_object_get_string_member(e, "node-name"));
        }
    }
    g_assert_not_reached();
}

void commit_assert_export_chain(LmQmp *qmp, const char *want)
{
    g_autofree char *chain = commit_describe_export(qmp);

    if (g_strcmp0(chain, want) != 0) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) graph =
            lm_qmp_execute(qmp, "x-debug-query-block-graph", NULL, &err);
        g_autofree char *text = graph ? json_to_string(graph, FALSE) : NULL;

        g_test_message("chain %s, expected %s; block graph: %s", chain, want,
                       text ? text : err->message);
    }
    g_assert_cmpstr(chain, ==, want);
}

void commit_assert_no_jobs(LmQmp *qmp)
{
    g_autoptr(JsonNode) blk_ret = NULL;
    g_autoptr(JsonNode) job_ret = NULL;
    JsonArray *block_jobs = query_array(qmp, "query-block-jobs", NULL,
                                        &blk_ret);
    JsonArray *jobs = query_array(qmp, "query-jobs", NULL, &job_ret);

    if (json_array_get_length(block_jobs) || json_array_get_length(jobs)) {
        g_autofree char *text = json_to_string(job_ret, FALSE);

        g_test_message("jobs left: %s", text);
    }
    g_assert_cmpuint(json_array_get_length(block_jobs), ==, 0);
    g_assert_cmpuint(json_array_get_length(jobs), ==, 0);
}

void commit_chain_assert_nodes(CommitChain *chain,
                               const char *const *extra_nodes)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *nodes = query_array(commit_chain_qmp(chain),
                                   "query-named-block-nodes",
                                   "{\"flat\": true}", &ret);
    g_autoptr(GPtrArray) want = g_ptr_array_new();
    g_autoptr(GString) have = g_string_new(NULL);
    gboolean ok = TRUE;

    for (guint i = 0; i < chain->n_layers; i++) {
        if (chain->open[i]) {
            g_ptr_array_add(want, chain->nodes[i]);
            g_ptr_array_add(want, chain->file_nodes[i]);
        }
    }
    for (const char *const *e = extra_nodes; e && *e; e++) {
        g_ptr_array_add(want, (gpointer)*e);
    }
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *name = json_object_get_string_member(n, "node-name");
        const char *drv = json_object_get_string_member(n, "drv");
        gboolean wanted = FALSE;

        g_string_append_printf(have, " %s[%s]", name, drv);
        for (guint j = 0; j < want->len; j++) {
            wanted = wanted || g_str_equal(want->pdata[j], name);
        }
        if (!wanted || g_str_equal(drv, "livemerge")) {
            ok = FALSE;
        }
    }
    if (!ok || json_array_get_length(nodes) != want->len) {
        g_test_message("nodes in the daemon:%s", have->str);
    }
    g_assert_true(ok);
    g_assert_cmpuint(json_array_get_length(nodes), ==, want->len);
}

/* ------------------------------------------------------------------ */
/* Jobs */

const char *commit_event_str(JsonObject *event, const char *member)
{
    JsonObject *data = json_object_get_object_member(event, "data");

    if (!data || !json_object_has_member(data, member)) {
        return NULL;
    }
    return json_object_get_string_member(data, member);
}

gint64 commit_event_int(JsonObject *event, const char *member)
{
    JsonObject *data = json_object_get_object_member(event, "data");

    g_assert_nonnull(data);
    g_assert_true(json_object_has_member(data, member));
    return json_object_get_int_member(data, member);
}

CommitJobLog *commit_job_log_new(const char *job_id)
{
    CommitJobLog *log = g_new0(CommitJobLog, 1);

    log->job_id = g_strdup(job_id);
    log->statuses = g_string_new(NULL);
    log->events = g_ptr_array_new_with_free_func(
        (GDestroyNotify)json_object_unref);
    log->other = g_ptr_array_new_with_free_func(
        (GDestroyNotify)json_object_unref);
    return log;
}

void commit_job_log_free(CommitJobLog *log)
{
    if (!log) {
        return;
    }
    g_clear_pointer(&log->watcher, lm_job_free);
    g_free(log->job_id);
    g_free(log->last_status);
    g_string_free(log->statuses, TRUE);
    g_ptr_array_unref(log->events);
    g_ptr_array_unref(log->other);
    g_free(log);
}

/* File @ev (taken) in the log. */
static void log_event(CommitJobLog *log, JsonObject *ev)
{
    const char *name = json_object_get_string_member(ev, "event");
    const char *id = commit_event_str(ev, "id");

    if (!id) {
        id = commit_event_str(ev, "device");
    }
    if (!g_str_has_prefix(name, "JOB_") &&
        !g_str_has_prefix(name, "BLOCK_JOB_")) {
        id = NULL;
    }
    if (g_strcmp0(id, log->job_id) != 0) {
        g_ptr_array_add(log->other, ev);
        return;
    }
    g_ptr_array_add(log->events, ev);
    if (g_str_equal(name, "JOB_STATUS_CHANGE")) {
        const char *status = commit_event_str(ev, "status");

        g_string_append_printf(log->statuses, "%s%s",
                               log->statuses->len ? " " : "", status);
        g_free(log->last_status);
        log->last_status = g_strdup(status);
    } else if (g_str_equal(name, "BLOCK_JOB_READY")) {
        log->ready = ev;
    } else if (g_str_equal(name, "BLOCK_JOB_COMPLETED")) {
        log->completed = ev;
    } else if (g_str_equal(name, "BLOCK_JOB_CANCELLED")) {
        log->cancelled = ev;
    } else if (g_str_equal(name, "BLOCK_JOB_ERROR")) {
        log->n_errors++;
    }
}

static void log_job_event(LmJob *job, JsonObject *ev, gpointer data)
{
    (void)job;
    log_event(data, json_object_ref(ev));
}

/* The log's watcher of its job on @qmp: the one the CLI and bench use */
static LmJob *log_watcher(CommitJobLog *log, LmQmp *qmp)
{
    if (!log->watcher) {
        log->watcher = lm_job_new(qmp, log->job_id);
        lm_job_set_event_func(log->watcher, log_job_event, log);
    }
    return log->watcher;
}

/* Take in the job's events, waiting up to @timeout_ms for the first */
static void log_take(CommitJobLog *log, LmQmp *qmp, int timeout_ms)
{
    g_autoptr(GError) err = NULL;

    if (!lm_job_take_events(log_watcher(log, qmp), timeout_ms, &err)) {
        g_test_message("job '%s': statuses so far: %s", log->job_id,
                       log->statuses->str);
        g_assert_no_error(err);
    }
}

void commit_job_log_poll(CommitJobLog *log, LmQmp *qmp)
{
    log_take(log, qmp, 0);
}

static gint64 deadline_of(int timeout_ms)
{
    return g_get_monotonic_time() +
        (timeout_ms < 0 ? COMMIT_JOB_TIMEOUT_MS : timeout_ms) * 1000LL;
}

/* Fails the test if @log's job is gone or @deadline passed */
static void assert_may_still_reach(CommitJobLog *log, const char *what,
                                   gint64 deadline)
{
    if (g_strcmp0(log->last_status, "null") == 0) {
        g_test_message("job '%s' is gone without reaching '%s': %s",
                       log->job_id, what, log->statuses->str);
        g_assert_not_reached();
    }
    if (g_get_monotonic_time() >= deadline) {
        g_test_message("job '%s' waiting for '%s', statuses so far: %s",
                       log->job_id, what, log->statuses->str);
        g_assert_not_reached();
    }
}

static int ms_left(gint64 deadline)
{
    return MAX((deadline - g_get_monotonic_time()) / 1000, 1);
}

void commit_job_log_wait(CommitJobLog *log, LmQmp *qmp, const char *status,
                         int timeout_ms)
{
    gint64 deadline = deadline_of(timeout_ms);

    while (g_strcmp0(log->last_status, status) != 0) {
        assert_may_still_reach(log, status, deadline);
        log_take(log, qmp, ms_left(deadline));
    }
}

void commit_job_logs_wait(CommitJobLog *const *logs, guint n, LmQmp *qmp,
                          const char *status, int timeout_ms)
{
    gint64 deadline = deadline_of(timeout_ms);

    for (;;) {
        CommitJobLog *waiting = NULL;

        for (guint i = 0; i < n; i++) {
            log_take(logs[i], qmp, 0);
            if (!waiting && g_strcmp0(logs[i]->last_status, status) != 0) {
                waiting = logs[i];
            }
        }
        if (!waiting) {
            return;
        }
        assert_may_still_reach(waiting, status, deadline);
        /* Short waits: the others' events are taken on the next round */
        log_take(waiting, qmp, MIN(ms_left(deadline), 50));
    }
}

static gboolean log_has_event(CommitJobLog *log, const char *event)
{
    for (guint i = 0; i < log->events->len; i++) {
        if (g_str_equal(json_object_get_string_member(log->events->pdata[i],
                                                      "event"), event)) {
            return TRUE;
        }
    }
    return FALSE;
}

void commit_job_log_wait_event(CommitJobLog *log, LmQmp *qmp,
                               const char *event, int timeout_ms)
{
    gint64 deadline = deadline_of(timeout_ms);

    while (!log_has_event(log, event)) {
        if (g_get_monotonic_time() >= deadline) {
            g_test_message("job '%s' waiting for %s, statuses so far: %s",
                           log->job_id, event, log->statuses->str);
            g_assert_not_reached();
        }
        log_take(log, qmp, ms_left(deadline));
    }
}

static void commit_qmp_okv(LmQmp *qmp, const char *command,
                           const char *args_fmt, va_list ap)
    G_GNUC_PRINTF(3, 0);

static void commit_qmp_okv(LmQmp *qmp, const char *command,
                           const char *args_fmt, va_list ap)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *args = g_strdup_vprintf(args_fmt, ap);
    g_autoptr(JsonNode) ret = lm_qmp_execute_json(qmp, command, args, &err);

    if (err) {
        g_test_message("%s %s: %s", command, args, err->message);
    }
    g_assert_no_error(err);
}

void commit_qmp_ok(LmQmp *qmp, const char *command, const char *args_fmt, ...)
{
    va_list ap;

    va_start(ap, args_fmt);
    commit_qmp_okv(qmp, command, args_fmt, ap);
    va_end(ap);
}

void commit_start(LmQmp *qmp, const char *args_fmt, ...)
{
    va_list ap;

    va_start(ap, args_fmt);
    commit_qmp_okv(qmp, "livemerge-commit", args_fmt, ap);
    va_end(ap);
}

CommitJobLog *commit_job_run(LmQmp *qmp, const char *job_id,
                             const char *status)
{
    CommitJobLog *log = commit_job_log_new(job_id);

    commit_job_log_wait(log, qmp, status, -1);
    return log;
}

gint64 commit_job_assert_completed(CommitJobLog *log)
{
    return commit_job_assert_completed_type(log, "commit");
}

gint64 commit_job_assert_completed_type(CommitJobLog *log, const char *type)
{
    JsonObject *data;
    gint64 len;

    if (!log->completed) {
        g_test_message("job '%s': no BLOCK_JOB_COMPLETED; statuses: %s",
                       log->job_id, log->statuses->str);
    }
    g_assert_nonnull(log->completed);
    data = json_object_get_object_member(log->completed, "data");
    if (json_object_has_member(data, "error")) {
        g_test_message("job '%s' failed: %s", log->job_id,
                       json_object_get_string_member(data, "error"));
    }
    g_assert_false(json_object_has_member(data, "error"));
    g_assert_cmpstr(json_object_get_string_member(data, "type"), ==, type);
    len = json_object_get_int_member(data, "len");
    g_assert_cmpint(json_object_get_int_member(data, "offset"), ==, len);
    g_assert_null(log->cancelled);
    g_assert_cmpuint(log->n_errors, ==, 0);
    return len;
}

JsonObject *commit_query_block_job(LmQmp *qmp, const char *job_id)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *jobs = query_array(qmp, "query-block-jobs", NULL, &ret);

    for (guint i = 0; i < json_array_get_length(jobs); i++) {
        JsonObject *j = json_array_get_object_element(jobs, i);

        if (g_str_equal(json_object_get_string_member(j, "device"),
                        job_id)) {
            return json_object_ref(j);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Other job kinds and group commands */

gboolean commit_require_command(LmQmp *qmp, const char *command)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *why = NULL;

    if (lm_qmp_has_command(qmp, command, &err)) {
        return TRUE;
    }
    g_assert_no_error(err);
    why = g_strdup_printf("the daemon has no QMP command '%s' yet", command);
    g_test_skip(why);
    return FALSE;
}

gboolean commit_names_value(const char *msg, const char *value)
{
    g_autofree char *quoted = g_strdup_printf("'%s'", value);
    gsize len = strlen(value);

    if (strstr(msg, quoted)) {
        return TRUE;
    }
    if (!len || !(g_ascii_isdigit(value[0]) || value[0] == '-')) {
        return FALSE;
    }
    for (const char *p = strstr(msg, value); p; p = strstr(p + 1, value)) {
        if ((p == msg || !g_ascii_isdigit(p[-1])) &&
            !g_ascii_isdigit(p[len])) {
            return TRUE;
        }
    }
    return FALSE;
}

void commit_assert_refusal(LmQmp *qmp, const char *command, const char *args,
                           const char *exact, const char *arg,
                           const char *value)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_execute_json(qmp, command, args, &err);
    g_autofree char *quoted_arg = NULL;

    if (ret) {
        g_test_message("%s %s was accepted", command, args);
        /* (with non-fatal assertions the test goes on) */
        g_assert_null(ret);
        return;
    }
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_test_message("%s %s -> [%s] %s", command, args,
                   lm_qmp_last_error_class(qmp), err->message);
    g_assert_cmpstr(lm_qmp_last_error_class(qmp), ==, "GenericError");
    if (exact) {
        g_assert_cmpstr(err->message, ==, exact);
        return;
    }
    quoted_arg = g_strdup_printf("'%s'", arg);
    g_assert_nonnull(strstr(err->message, quoted_arg));
    if (value) {
        g_assert_true(commit_names_value(err->message, value));
    }
}

void commit_add_flush_fault(LmQmp *qmp, const char *fault_node,
                            const char *image_node, gboolean once)
{
    commit_qmp_ok(qmp, "blockdev-add",
        "{\"driver\": \"blkdebug\", \"node-name\": \"%s\", "
        "\"image\": \"%s\", \"inject-error\": ["
        "{\"event\": \"flush_to_disk\", \"state\": 1, \"iotype\": \"flush\", "
        "\"errno\": 5, \"once\": %s}, "
        "{\"event\": \"read_aio\", \"state\": 1, \"iotype\": \"read\", "
        "\"sector\": %" G_GUINT64_FORMAT ", \"errno\": 5}], "
        "\"set-state\": [{\"event\": \"read_aio\", \"state\": 1, "
        "\"new_state\": 2}]}",
        fault_node, image_node, once ? "true" : "false",
        G_GUINT64_CONSTANT(1) << 40);
}

void commit_fail_flushes(LmQmp *qmp, const char *node, gboolean once)
{
    g_autofree char *fault = g_strdup_printf("%s-fault", node);
    g_autofree char *file = g_strdup_printf("%s-file", node);

    commit_add_flush_fault(qmp, fault, file, once);
    commit_qmp_ok(qmp, "blockdev-reopen",
                  "{\"options\": [{\"driver\": \"qcow2\", "
                  "\"node-name\": \"%s\", \"read-only\": false, "
                  "\"backing\": null, \"file\": \"%s\"}]}", node, fault);
}

void commit_add_image_node(LmQmp *qmp, const char *node, const char *path,
                           const char *fmt, const char *backing_node)
{
    g_autofree char *backing = NULL;

    commit_qmp_ok(qmp, "blockdev-add",
                  "{\"driver\": \"file\", \"node-name\": \"%s-file\","
                  " \"filename\": \"%s\", \"discard\": \"unmap\"}",
                  node, path);
    if (g_str_equal(fmt, "raw")) {
        g_assert_null(backing_node);
        commit_qmp_ok(qmp, "blockdev-add",
                      "{\"driver\": \"raw\", \"node-name\": \"%s\","
                      " \"file\": \"%s-file\", \"discard\": \"unmap\"}",
                      node, node);
        return;
    }
    backing = backing_node ? g_strdup_printf("\"%s\"", backing_node)
                           : g_strdup("null");
    commit_qmp_ok(qmp, "blockdev-add",
                  "{\"driver\": \"%s\", \"node-name\": \"%s\","
                  " \"file\": \"%s-file\", \"backing\": %s,"
                  " \"discard\": \"unmap\"}", fmt, node, node, backing);
}

void commit_assert_no_filter_nodes(LmQmp *qmp)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *nodes = query_array(qmp, "query-named-block-nodes",
                                   "{\"flat\": true}", &ret);

    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        if (g_str_equal(json_object_get_string_member(n, "drv"),
                        "livemerge")) {
            g_test_message("filter node left: %s",
                           json_object_get_string_member(n, "node-name"));
        }
        g_assert_cmpstr(json_object_get_string_member(n, "drv"), !=,
                        "livemerge");
    }
}

char *commit_export_node(LmQmp *qmp, const char *export_id)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *exports = query_array(qmp, "query-block-exports", NULL, &ret);

    for (guint i = 0; i < json_array_get_length(exports); i++) {
        JsonObject *e = json_array_get_object_element(exports, i);

        if (g_str_equal(json_object_get_string_member(e, "id"), export_id)) {
            return g_strdup(json_object_get_string_member(e, "node-name"));
        }
    }
    g_test_message("no export '%s'", export_id);
    g_assert_not_reached();
}

/* ------------------------------------------------------------------ */
/* Images */

GArray *commit_layer_map(CommitChain *chain, guint layer)
{
    g_autofree char *spec = g_strdup_printf(
        "json:{\"driver\": \"qcow2\", \"backing\": null,"
        " \"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
        commit_chain_path(chain, layer));

    return lm_test_image_map(spec);
}

gint64 commit_layer_actual_size(CommitChain *chain, guint layer)
{
    g_autoptr(JsonObject) info =
        lm_test_image_info(commit_chain_path(chain, layer));

    return json_object_get_int_member(info, "actual-size");
}

char *commit_layer_checksum(CommitChain *chain, guint layer)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *contents = NULL;
    gsize len;

    g_file_get_contents(commit_chain_path(chain, layer), &contents, &len,
                        &err);
    g_assert_no_error(err);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)contents,
                                       len);
}

void commit_chain_finish(CommitChain *chain, LmTestGuest *guest,
                         guint view_layer)
{
    g_autoptr(GError) err = NULL;

    commit_verify(guest);
    lm_test_guest_disconnect(guest);
    lm_test_qsd_stop(chain->qsd);

    lm_test_guest_open_image(guest, commit_chain_path(chain, view_layer),
                             "qcow2", &err);
    g_assert_no_error(err);
    commit_verify(guest);
    lm_test_guest_disconnect(guest);
    for (guint i = 0; i < chain->n_layers; i++) {
        lm_test_image_check(chain->paths[i]);
    }
}

/* ------------------------------------------------------------------ */
/* Guest */

void commit_verify(LmTestGuest *guest)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_verify_all(guest, &err);
    g_assert_no_error(err);
}

static void to_blocks(LmTestGuest *guest, guint64 offset, guint64 bytes,
                      guint64 *first, guint64 *n)
{
    guint bs = lm_test_guest_block_size(guest);

    g_assert_cmpuint(offset % bs, ==, 0);
    g_assert_cmpuint(bytes % bs, ==, 0);
    *first = offset / bs;
    *n = bytes / bs;
}

void commit_write(LmTestGuest *guest, guint64 offset, guint64 bytes)
{
    g_autoptr(GError) err = NULL;
    guint64 first, n;

    to_blocks(guest, offset, bytes, &first, &n);
    lm_test_guest_write_range(guest, first, n, &err);
    g_assert_no_error(err);
}

void commit_zero(LmTestGuest *guest, guint64 offset, guint64 bytes)
{
    g_autoptr(GError) err = NULL;
    guint64 first, n;

    to_blocks(guest, offset, bytes, &first, &n);
    lm_test_guest_zero_range(guest, first, n, &err);
    g_assert_no_error(err);
}

void commit_discard(LmTestGuest *guest, guint64 offset, guint64 bytes)
{
    g_autoptr(GError) err = NULL;
    guint64 first, n;

    to_blocks(guest, offset, bytes, &first, &n);
    lm_test_guest_discard_range(guest, first, n, &err);
    g_assert_no_error(err);
}
