/*
 * livemerge - new images and nodes, made and removed through the daemon
 *
 * Internal to liblivemerge (not installed).  Images are created with
 * blockdev-create and opened with blockdev-add, never with qemu-img, so
 * this works against a daemon whose files this process cannot see.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_IMAGE_H
#define LM_IMAGE_H

#include "lm-chain.h"

G_BEGIN_DECLS

/* A QEMU id (job id, node name) unique in the daemon: lm-@prefix-XXXXXXXX. */
char *lm_qemu_id_new(const char *prefix);

typedef struct {
    const char *path;
    const char *format;
    guint64 size;
    const LmLayer *backing;   /* written into the header, nullable */
    const char *backing_node; /* opened as its backing, nullable: none */
    gboolean reuse;           /* @path exists: only open it */
    const char *node;         /* node names to give it */
    const char *file_node;
} LmNewImage;

/*
 * Create @img (unless reuse) and open it.  On failure nothing of it stays
 * open in the daemon (the file may stay).
 */
gboolean lm_image_add(LmQmp *qmp, const LmNewImage *img, GError **error);

gboolean lm_node_del(LmQmp *qmp, const char *node, GError **error);

/*
 * blockdev-del @node if it is one somebody named and the daemon still has
 * it (QEMU-named nodes go by themselves once out of the graph).
 */
gboolean lm_node_del_if_named(LmQmp *qmp, const char *node, GError **error);

/* Is @path the file of any node in the daemon? */
gboolean lm_file_open_in_daemon(LmQmp *qmp, const char *path,
                                gboolean *open, GError **error);

G_END_DECLS

#endif /* LM_IMAGE_H */
