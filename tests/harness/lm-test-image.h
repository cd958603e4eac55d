/*
 * livemerge test harness - offline image tools
 *
 * Thin wrappers around qemu-img and qemu-io ($QEMU_IMG / $QEMU_IO, else
 * from PATH).  They assert success, printing the tool's output otherwise,
 * because a test cannot do anything useful after a failed setup step.
 *
 * info and map pass -U (force-share), so they can look at images a running
 * daemon holds open; check does not, as it wants a quiescent image.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_TEST_IMAGE_H
#define LM_TEST_IMAGE_H

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
    const char *fmt;          /* NULL: "qcow2" */
    const char *size;         /* e.g. "64M"; NULL: the backing file's size */
    const char *backing;      /* backing file, nullable */
    const char *backing_fmt;  /* NULL with a backing file: "qcow2" */
    guint cluster_size;       /* 0: the format's default */
    const char *options;      /* more -o options, e.g. "lazy_refcounts=on" */
} LmTestImageOpts;

/* One extent of "qemu-img map --output=json". */
typedef struct {
    guint64 start;            /* guest offset */
    guint64 length;
    int depth;                /* 0: the image itself, 1: its backing, ... */
    gboolean present;
    gboolean zero;
    gboolean data;
    gint64 offset;            /* host offset in the file, -1 if none */
} LmTestMapEntry;

/*
 * Run qemu-img with the given arguments (NULL-terminated); asserts exit 0
 * and returns its stdout.
 */
char *lm_test_qemu_img(const char *arg, ...) G_GNUC_NULL_TERMINATED;

/*
 * Run qemu-io on @path in format @fmt with each of the commands (NULL-
 * terminated), e.g. lm_test_qemu_io(p, "qcow2", "write -P 0xab 0 64k", NULL).
 * Asserts that every command succeeded; returns stdout.
 */
char *lm_test_qemu_io(const char *path, const char *fmt, const char *cmd,
                      ...) G_GNUC_NULL_TERMINATED;

void lm_test_image_create(const char *path, const LmTestImageOpts *opts);

/* Asserts "qemu-img check" finds no corruption and no leak. */
void lm_test_image_check(const char *path);
/*
 * Asserts "qemu-img check" finds no corruption; leaked clusters (which a
 * writer killed before its refcounts reached the file leaves) are allowed.
 */
void lm_test_image_check_after_crash(const char *path);

/*
 * The host's page cache of the file @path: drop what of it is clean
 * (after writing it back), and count how much of the file it holds.
 */
void lm_test_image_drop_cache(const char *path);
guint64 lm_test_image_cached_bytes(const char *path);

/* "qemu-img info --output=json" of @path. */
JsonObject *lm_test_image_info(const char *path);
/* The same with --backing-chain: one object per image, top first. */
JsonArray *lm_test_image_info_chain(const char *path);

/* "qemu-img map --output=json", as a GArray of LmTestMapEntry. */
GArray *lm_test_image_map(const char *path);

G_END_DECLS

#endif /* LM_TEST_IMAGE_H */
