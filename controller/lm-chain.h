/*
 * livemerge - disks and their backing chains, as the daemon sees them
 *
 * A disk is a block export: its name is the export id, and the export
 * serves a node.  Below that node (and any filters on top of it: the
 * livemerge filter, QEMU's commit/mirror filters) is the chain: the
 * active layer at index 0, each backing image below it at the next index,
 * as virsh numbers them in "vda[2]".  Everything is read from the daemon
 * (query-block-exports, query-named-block-nodes, x-debug-query-block-graph),
 * so the model is right even for images this process cannot see.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_CHAIN_H
#define LM_CHAIN_H

#include "lm-qmp.h"

G_BEGIN_DECLS

typedef struct {
    guint index;            /* 0: the active layer */
    char *node_name;        /* "#block123" for nodes QEMU named itself */
    char *filename;         /* the image file */
    char *format;           /* the node's driver: qcow2, raw, ... */
    char *file_node_name;   /* the protocol node below it, nullable */
    guint64 virtual_size;
    guint64 allocation;     /* bytes the file takes on the host */
    char *backing;          /* backing string in the header, nullable */
    char *backing_format;   /* nullable */
    gboolean read_only;
} LmLayer;

typedef struct {
    char *disk;             /* export id */
    char *export_node;      /* the node the export serves */
    GPtrArray *filters;     /* char *: filter nodes above the active layer */
    GPtrArray *layers;      /* LmLayer *, active layer first */
    GPtrArray *jobs;        /* char *: ids of block jobs using the chain */
} LmChain;

void lm_chain_free(LmChain *chain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmChain, lm_chain_free)

/* The disk names (export ids) in the daemon's order: GPtrArray of char *. */
GPtrArray *lm_disk_names(LmQmp *qmp, GError **error);

/* Read the chain of @disk; LM_ERROR_DISK_NOT_FOUND names the disks there are. */
LmChain *lm_chain_read(LmQmp *qmp, const char *disk, GError **error);

LmLayer *lm_chain_active(LmChain *chain);
LmLayer *lm_chain_layer(LmChain *chain, guint index);  /* NULL past the end */

/*
 * The layer @spec names, searching from index @from down: a node name, an
 * index "DISK[N]", an absolute file name, or a file name relative to the
 * image above (as written in its backing string, or relative to that
 * image's directory).  NULL if none matches.
 */
LmLayer *lm_chain_find(LmChain *chain, const char *spec, guint from);

/* The layer whose file is @path (made absolute against the cwd), or NULL. */
LmLayer *lm_chain_find_file(LmChain *chain, const char *path);

/* As a JSON object (disk, node, filters, jobs, layers[...]). */
JsonNode *lm_chain_to_json(LmChain *chain);

/*
 * The backing string to write into the image above @top's when @base
 * replaces the layers @top..@base (exclusive), relative as the chain's own
 * strings are, or NULL with an error naming the layer whose backing string
 * is absolute.  @above is the image that will back onto @base.
 */
char *lm_chain_relative_backing(LmChain *chain, LmLayer *above, LmLayer *base,
                                GError **error);

G_END_DECLS

#endif /* LM_CHAIN_H */
