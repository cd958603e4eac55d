/*
 * livemerge - disks and their backing chains, as the daemon sees them
 *
 * query-named-block-nodes says what each node is (driver, file, sizes,
 * backing string) but not how nodes connect; x-debug-query-block-graph
 * gives the edges ("file", "backing", a filter's child, a job's nodes).
 * Joining the two is the only way in QEMU 7.2 to follow a chain by node
 * rather than by file name, which breaks with json: names and with files
 * opened twice.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-chain.h"
#include "lm-error.h"

#include <string.h>

G_DEFINE_QUARK(lm-error-quark, lm_error)

/* Drivers that sit above a chain without being a layer of it. */
static const char *const filter_drivers[] = {
    "livemerge", "commit_top", "mirror_top", "copy-on-read", "throttle",
    "preallocate", "compress", "copy-before-write", "snapshot-access",
    NULL,
};

typedef struct {
    JsonObject *nodes_by_name;  /* node-name -> BlockDeviceInfo (borrowed) */
    GHashTable *graph_names;    /* graph id -> name */
    GHashTable *graph_ids;      /* block node name -> graph id */
    GHashTable *graph_types;    /* graph id -> type */
    JsonArray *edges;
} BlockGraph;

static void layer_free(LmLayer *layer)
{
    g_free(layer->node_name);
    g_free(layer->filename);
    g_free(layer->format);
    g_free(layer->file_node_name);
    g_free(layer->backing);
    g_free(layer->backing_format);
    g_free(layer);
}

void lm_chain_free(LmChain *chain)
{
    if (!chain) {
        return;
    }
    g_free(chain->disk);
    g_free(chain->export_node);
    g_ptr_array_unref(chain->filters);
    g_ptr_array_unref(chain->layers);
    g_ptr_array_unref(chain->jobs);
    g_free(chain);
}

static JsonArray *execute_array(LmQmp *qmp, const char *command,
                                JsonObject *args, JsonNode **owner,
                                GError **error)
{
    *owner = lm_qmp_execute(qmp, command, args, error);
    if (!*owner) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_ARRAY(*owner)) {
        g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                    "%s did not return a list", command);
        return NULL;
    }
    return json_node_get_array(*owner);
}

GPtrArray *lm_disk_names(LmQmp *qmp, GError **error)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *exports = execute_array(qmp, "query-block-exports", NULL, &ret,
                                       error);
    GPtrArray *names;

    if (!exports) {
        return NULL;
    }
    names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < json_array_get_length(exports); i++) {
        JsonObject *exp = json_array_get_object_element(exports, i);

        g_ptr_array_add(names, g_strdup(json_object_get_string_member(exp,
                                                                      "id")));
    }
    return names;
}

static void block_graph_clear(BlockGraph *g)
{
    g_clear_pointer(&g->nodes_by_name, json_object_unref);
    g_clear_pointer(&g->graph_names, g_hash_table_unref);
    g_clear_pointer(&g->graph_ids, g_hash_table_unref);
    g_clear_pointer(&g->graph_types, g_hash_table_unref);
    g_clear_pointer(&g->edges, json_array_unref);
}

static gboolean block_graph_read(LmQmp *qmp, BlockGraph *g, GError **error)
{
    g_autoptr(JsonObject) flat = json_object_new();
    g_autoptr(JsonNode) nodes_ret = NULL;
    g_autoptr(JsonNode) graph_ret = NULL;
    JsonArray *nodes;
    JsonArray *gnodes;
    JsonObject *graph;

    json_object_set_boolean_member(flat, "flat", TRUE);
    nodes = execute_array(qmp, "query-named-block-nodes", flat, &nodes_ret,
                          error);
    if (!nodes) {
        return FALSE;
    }
    graph_ret = lm_qmp_execute(qmp, "x-debug-query-block-graph", NULL, error);
    if (!graph_ret) {
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_OBJECT(graph_ret)) {
        g_set_error_literal(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                            "x-debug-query-block-graph did not return an "
                            "object");
        return FALSE;
    }
    g->nodes_by_name = json_object_new();
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *name = json_object_get_string_member_with_default(
            n, "node-name", NULL);

        if (name) {
            json_object_set_object_member(g->nodes_by_name, name,
                                          json_object_ref(n));
        }
    }
    graph = json_node_get_object(graph_ret);
    g->edges = json_array_ref(json_object_get_array_member(graph, "edges"));
    gnodes = json_object_get_array_member(graph, "nodes");
    g->graph_names = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                           NULL, g_free);
    g->graph_types = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                           NULL, g_free);
    g->graph_ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         NULL);
    for (guint i = 0; i < json_array_get_length(gnodes); i++) {
        JsonObject *n = json_array_get_object_element(gnodes, i);
        gint64 id = json_object_get_int_member(n, "id");
        const char *name = json_object_get_string_member(n, "name");
        const char *type = json_object_get_string_member(n, "type");

        g_hash_table_insert(g->graph_names, GINT_TO_POINTER(id),
                            g_strdup(name));
        g_hash_table_insert(g->graph_types, GINT_TO_POINTER(id),
                            g_strdup(type));
        if (g_str_equal(type, "block-driver")) {
            g_hash_table_insert(g->graph_ids, g_strdup(name),
                                GINT_TO_POINTER(id));
        }
    }
    return TRUE;
}

/* The name of @node's child over edge @edge_name (NULL: any), or NULL. */
static const char *graph_child(BlockGraph *g, const char *node,
                               const char *edge_name)
{
    gpointer id;

    if (!g_hash_table_lookup_extended(g->graph_ids, node, NULL, &id)) {
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(g->edges); i++) {
        JsonObject *e = json_array_get_object_element(g->edges, i);

        if (json_object_get_int_member(e, "parent") == GPOINTER_TO_INT(id) &&
            (!edge_name || g_str_equal(json_object_get_string_member(e, "name"),
                                       edge_name))) {
            return g_hash_table_lookup(
                g->graph_names,
                GINT_TO_POINTER(json_object_get_int_member(e, "child")));
        }
    }
    return NULL;
}

/* Add to @jobs the id of every block job with an edge to @node. */
static void graph_jobs_using(BlockGraph *g, const char *node, GPtrArray *jobs)
{
    gpointer id;

    if (!g_hash_table_lookup_extended(g->graph_ids, node, NULL, &id)) {
        return;
    }
    for (guint i = 0; i < json_array_get_length(g->edges); i++) {
        JsonObject *e = json_array_get_object_element(g->edges, i);
        gpointer parent = GINT_TO_POINTER(json_object_get_int_member(e,
                                                                     "parent"));
        const char *job;

        if (json_object_get_int_member(e, "child") != GPOINTER_TO_INT(id) ||
            g_strcmp0(g_hash_table_lookup(g->graph_types, parent),
                      "block-job") != 0) {
            continue;
        }
        job = g_hash_table_lookup(g->graph_names, parent);
        if (!g_ptr_array_find_with_equal_func(jobs, job, g_str_equal, NULL)) {
            g_ptr_array_add(jobs, g_strdup(job));
        }
    }
}

static const char *node_driver(BlockGraph *g, const char *node)
{
    JsonObject *info = json_object_get_object_member(g->nodes_by_name, node);

    return info ? json_object_get_string_member(info, "drv") : NULL;
}

static LmLayer *layer_new(BlockGraph *g, const char *node, guint index)
{
    JsonObject *info = json_object_get_object_member(g->nodes_by_name, node);
    JsonObject *image = json_object_get_object_member(info, "image");
    LmLayer *layer = g_new0(LmLayer, 1);
    JsonObject *file_info;

    layer->index = index;
    layer->node_name = g_strdup(node);
    layer->format = g_strdup(json_object_get_string_member(info, "drv"));
    layer->file_node_name = g_strdup(graph_child(g, node, "file"));
    /* A format node's own name turns into "json:{...}" once its backing
     * differs from its header's; the protocol node keeps the plain path. */
    file_info = layer->file_node_name
        ? json_object_get_object_member(g->nodes_by_name,
                                        layer->file_node_name) : NULL;
    layer->filename = g_strdup(json_object_get_string_member(
        file_info ? file_info : info, "file"));
    layer->read_only = json_object_get_boolean_member_with_default(info, "ro",
                                                                   FALSE);
    layer->virtual_size = json_object_get_int_member_with_default(
        image, "virtual-size", 0);
    layer->allocation = json_object_get_int_member_with_default(
        image, "actual-size", 0);
    layer->backing = g_strdup(json_object_get_string_member_with_default(
        image, "backing-filename", NULL));
    layer->backing_format = g_strdup(json_object_get_string_member_with_default(
        image, "backing-filename-format", NULL));
    return layer;
}

static const char *export_node_of(JsonArray *exports, const char *disk)
{
    for (guint i = 0; i < json_array_get_length(exports); i++) {
        JsonObject *exp = json_array_get_object_element(exports, i);

        if (g_str_equal(json_object_get_string_member(exp, "id"), disk)) {
            return json_object_get_string_member(exp, "node-name");
        }
    }
    return NULL;
}

static void set_disk_not_found(JsonArray *exports, const char *disk,
                               GError **error)
{
    g_autoptr(GString) names = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(exports); i++) {
        JsonObject *exp = json_array_get_object_element(exports, i);

        g_string_append_printf(names, "%s'%s'", i ? ", " : "",
                               json_object_get_string_member(exp, "id"));
    }
    g_set_error(error, LM_ERROR, LM_ERROR_DISK_NOT_FOUND,
                "disk '%s' not found in the daemon (its disks, i.e. block "
                "exports: %s); `livemerge disks` lists them", disk,
                names->len ? names->str : "none");
}

LmChain *lm_chain_read(LmQmp *qmp, const char *disk, GError **error)
{
    g_autoptr(JsonNode) exports_ret = NULL;
    g_autoptr(LmChain) chain = NULL;
    BlockGraph g = { 0 };
    JsonArray *exports;
    const char *node;

    exports = execute_array(qmp, "query-block-exports", NULL, &exports_ret,
                            error);
    if (!exports) {
        return NULL;
    }
    node = export_node_of(exports, disk);
    if (!node) {
        set_disk_not_found(exports, disk, error);
        return NULL;
    }
    if (!block_graph_read(qmp, &g, error)) {
        block_graph_clear(&g);
        return NULL;
    }
    chain = g_new0(LmChain, 1);
    chain->disk = g_strdup(disk);
    chain->export_node = g_strdup(node);
    chain->filters = g_ptr_array_new_with_free_func(g_free);
    chain->layers = g_ptr_array_new_with_free_func((GDestroyNotify)layer_free);
    chain->jobs = g_ptr_array_new_with_free_func(g_free);

    /* Filters first: each has one child, "file" or "backing". */
    while (node && g_strv_contains(filter_drivers,
                                   node_driver(&g, node) ?: "")) {
        g_ptr_array_add(chain->filters, g_strdup(node));
        graph_jobs_using(&g, node, chain->jobs);
        node = graph_child(&g, node, "file") ?: graph_child(&g, node,
                                                            "backing");
    }
    for (guint index = 0; node && node_driver(&g, node); index++) {
        g_ptr_array_add(chain->layers, layer_new(&g, node, index));
        graph_jobs_using(&g, node, chain->jobs);
        node = graph_child(&g, node, "backing");
    }
    block_graph_clear(&g);
    if (!chain->layers->len) {
        g_set_error(error, LM_ERROR, LM_ERROR_DISK_NOT_FOUND,
                    "disk '%s': the daemon shows no image below export node "
                    "'%s'", disk, chain->export_node);
        return NULL;
    }
    return g_steal_pointer(&chain);
}

LmLayer *lm_chain_active(LmChain *chain)
{
    return chain->layers->pdata[0];
}

LmLayer *lm_chain_layer(LmChain *chain, guint index)
{
    return index < chain->layers->len ? chain->layers->pdata[index] : NULL;
}

/* "DISK[N]" with DISK this chain's disk: N in @index. */
static gboolean parse_index_spec(LmChain *chain, const char *spec,
                                 guint *index)
{
    gsize disk_len = strlen(chain->disk);
    const char *num = spec + disk_len + 1;
    guint64 value;
    char *end;

    if (!g_str_has_prefix(spec, chain->disk) || spec[disk_len] != '[' ||
        !g_ascii_isdigit(*num)) {
        return FALSE;
    }
    value = g_ascii_strtoull(num, &end, 10);
    if (g_strcmp0(end, "]") != 0 || value > G_MAXUINT) {
        return FALSE;
    }
    *index = value;
    return TRUE;
}

/* Does @spec, relative, name @layer as seen from the image above it? */
static gboolean relative_name_matches(LmChain *chain, LmLayer *layer,
                                      const char *spec)
{
    LmLayer *above;
    g_autofree char *dir = NULL;
    g_autofree char *resolved = NULL;

    if (layer->index == 0) {
        return FALSE;
    }
    above = lm_chain_layer(chain, layer->index - 1);
    if (g_strcmp0(above->backing, spec) == 0) {
        return TRUE;
    }
    if (!g_path_is_absolute(above->filename)) {
        return FALSE;
    }
    dir = g_path_get_dirname(above->filename);
    resolved = g_canonicalize_filename(spec, dir);
    return g_strcmp0(resolved, layer->filename) == 0;
}

LmLayer *lm_chain_find(LmChain *chain, const char *spec, guint from)
{
    guint index;

    if (parse_index_spec(chain, spec, &index)) {
        return index >= from ? lm_chain_layer(chain, index) : NULL;
    }
    for (guint i = from; i < chain->layers->len; i++) {
        LmLayer *layer = chain->layers->pdata[i];

        if (g_str_equal(layer->node_name, spec)) {
            return layer;
        }
        if (g_path_is_absolute(spec)) {
            g_autofree char *canon = g_canonicalize_filename(spec, NULL);

            if (g_str_equal(layer->filename, spec) ||
                g_str_equal(layer->filename, canon)) {
                return layer;
            }
        } else if (relative_name_matches(chain, layer, spec)) {
            return layer;
        }
    }
    return NULL;
}

LmLayer *lm_chain_find_file(LmChain *chain, const char *path)
{
    g_autofree char *canon = g_canonicalize_filename(path, NULL);

    for (guint i = 0; i < chain->layers->len; i++) {
        LmLayer *layer = chain->layers->pdata[i];

        if (g_str_equal(layer->filename, canon)) {
            return layer;
        }
    }
    return NULL;
}

char *lm_chain_relative_backing(LmChain *chain, LmLayer *above, LmLayer *base,
                                GError **error)
{
    g_autofree char *path = NULL;

    /* Compose the backing strings from @above down to @base. */
    for (guint i = above->index; i < base->index; i++) {
        LmLayer *layer = lm_chain_layer(chain, i);
        g_autofree char *dir = NULL;

        if (!layer->backing || g_path_is_absolute(layer->backing)) {
            g_set_error(error, LM_ERROR, LM_ERROR_INVALID,
                        "cannot keep a relative backing path for disk '%s': "
                        "image '%s' has %s backing path%s%s; leave out "
                        "--keep-relative", chain->disk, layer->filename,
                        layer->backing ? "the absolute" : "no",
                        layer->backing ? " " : "",
                        layer->backing ? layer->backing : "");
            return NULL;
        }
        if (!path) {
            path = g_strdup(layer->backing);
            continue;
        }
        dir = g_path_get_dirname(path);
        g_free(path);
        path = g_str_equal(dir, ".") ? g_strdup(layer->backing)
                                     : g_build_filename(dir, layer->backing,
                                                        NULL);
    }
    return g_steal_pointer(&path);
}

static JsonNode *string_or_null(const char *s)
{
    JsonNode *node = json_node_new(JSON_NODE_NULL);

    if (s) {
        json_node_init_string(node, s);
    }
    return node;
}

static JsonArray *strings_to_json(GPtrArray *strings)
{
    JsonArray *array = json_array_new();

    for (guint i = 0; i < strings->len; i++) {
        json_array_add_string_element(array, strings->pdata[i]);
    }
    return array;
}

JsonNode *lm_chain_to_json(LmChain *chain)
{
    JsonObject *obj = json_object_new();
    JsonArray *layers = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(obj, "disk", chain->disk);
    json_object_set_string_member(obj, "node", chain->export_node);
    json_object_set_array_member(obj, "filters",
                                 strings_to_json(chain->filters));
    json_object_set_array_member(obj, "jobs", strings_to_json(chain->jobs));
    for (guint i = 0; i < chain->layers->len; i++) {
        LmLayer *layer = chain->layers->pdata[i];
        JsonObject *l = json_object_new();

        json_object_set_int_member(l, "index", layer->index);
        json_object_set_string_member(l, "node", layer->node_name);
        json_object_set_string_member(l, "file", layer->filename);
        json_object_set_string_member(l, "format", layer->format);
        json_object_set_int_member(l, "virtual-size", layer->virtual_size);
        json_object_set_int_member(l, "allocation", layer->allocation);
        json_object_set_member(l, "backing", string_or_null(layer->backing));
        json_object_set_boolean_member(l, "read-only", layer->read_only);
        json_array_add_object_element(layers, l);
    }
    json_object_set_array_member(obj, "layers", layers);
    json_node_take_object(node, obj);
    return node;
}
