/*
 * livemerge benchmark harness - images: layouts built offline, pristine
 * sets copied for every run, and the sanity checks after it
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_IMAGES_H
#define BENCH_IMAGES_H

#include <glib.h>

G_BEGIN_DECLS

/* Data patterns: base, layer committed, layer above */
#define PATTERN_BASE 0x11
#define PATTERN_MID  0x5a
#define PATTERN_TOP  0x33

/* qcow2 (64 KiB clusters) of @size; @backing: a file name relative to
 * the image's directory (so copies of a set stay a chain), or NULL */
void bench_image_create(const char *path, guint64 size, const char *backing);

/* Pattern @pattern over [@offset, @offset + @len), written with qemu-io */
void bench_image_fill(const char *path, guint8 pattern, guint64 offset,
                      guint64 len);

/*
 * @alloc bytes of pattern in 1 MiB pieces spread evenly over
 * [@offset, @offset + @region): every other piece is shifted by 1 MiB, so
 * a layer above a base with data both overwrites and allocates.
 */
void bench_image_spread(const char *path, guint8 pattern, guint64 offset,
                        guint64 region, guint64 alloc);

/* cp --sparse=always each of @names (NULL-terminated) from @src to @dst */
void bench_copy_set(const char *src_dir, const char *dst_dir,
                    const char *const *names);

/* qemu-img check: FALSE (with its report) on corruption or leaks */
gboolean bench_image_check(const char *path, GError **error);

/* qemu-img compare of what a guest sees through @a and @b (their chains) */
gboolean bench_image_compare(const char *a, const char *b, GError **error);

/*
 * The guest's view of @path over [0, @region) must read exactly as written
 * by bench_image_spread(@pattern, 0, @region, @alloc) over @base_pattern
 * in [0, @base_data) and zeroes elsewhere: qemu-io read -P of every run of
 * one pattern (a check that also holds where whole-image compare cannot:
 * the rest of the disk was the guest's).
 */
gboolean bench_image_verify_spread(const char *path, guint64 region,
                                   guint64 alloc, guint8 pattern,
                                   guint64 base_data, guint8 base_pattern,
                                   GError **error);

/*
 * The same layout over the whole disk [0, @disk) (spread over the first
 * @region), except that every @block-sized block flagged in @written
 * (bench_fio_written_blocks()) must read @guest_pattern: the exact check
 * for a guest that wrote anywhere, the region being copied included.
 * The guest's view is converted to a raw @scratch file (removed after).
 */
gboolean bench_image_verify_guest(const char *path, guint64 disk,
                                  guint64 region, guint64 alloc,
                                  guint8 pattern, guint64 base_data,
                                  guint8 base_pattern, const guint8 *written,
                                  guint64 block, guint8 guest_pattern,
                                  const char *scratch, GError **error);

/* The image's backing file name as in its header ("" if none) */
char *bench_image_backing(const char *path);

/*
 * Where in its file @path holds its own data: the host bytes from its
 * first data cluster to the end of its last ([0, 0) if none).  qcow2
 * allocates clusters in the order they are first written, so for a layer
 * written once (bench_image_spread()) this is its data plus the few L2
 * tables allocated in between.
 */
void bench_image_data_span(const char *path, guint64 *offset, guint64 *len);

G_END_DECLS

#endif /* BENCH_IMAGES_H */
