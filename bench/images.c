/*
 * livemerge benchmark harness - images: layouts built offline, pristine
 * sets copied for every run, and the sanity checks after it
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "images.h"
#include "bench.h"

#include <string.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "lm-test-image.h"

/* qemu-io commands per invocation (each one a -c argument) */
#define QEMU_IO_BATCH 2048
#define FILL_PIECE (64 * MiB)
#define SPREAD_PIECE MiB

void bench_image_create(const char *path, guint64 size, const char *backing)
{
    g_autofree char *sz = bench_size_str(size);

    lm_test_image_create(path, &(LmTestImageOpts) {
        .size = sz,
        .backing = backing,
        .cluster_size = 64 * KiB,
    });
}

/* Run qemu-io on @path with the commands in @cmds, in batches */
static void qemu_io_batches(const char *path, GPtrArray *cmds)
{
    for (guint i = 0; i < cmds->len; i += QEMU_IO_BATCH) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) err = NULL;
        g_autofree char *out = NULL;

        g_ptr_array_add(argv, (char *)"qemu-io");
        g_ptr_array_add(argv, (char *)"-f");
        g_ptr_array_add(argv, (char *)"qcow2");
        for (guint j = i; j < MIN(cmds->len, i + QEMU_IO_BATCH); j++) {
            g_ptr_array_add(argv, (char *)"-c");
            g_ptr_array_add(argv, g_ptr_array_index(cmds, j));
        }
        g_ptr_array_add(argv, (char *)path);
        if (!bench_run_array(argv, &out, &err)) {
            bench_die("building %s: %s", path, err->message);
        }
        /* qemu-io reports a failed command and goes on */
        if (out && strstr(out, "failed")) {
            bench_die("building %s: qemu-io: %s", path, out);
        }
    }
}

void bench_image_fill(const char *path, guint8 pattern, guint64 offset,
                      guint64 len)
{
    g_autoptr(GPtrArray) cmds = g_ptr_array_new_with_free_func(g_free);

    for (guint64 o = offset; o < offset + len; o += FILL_PIECE) {
        g_ptr_array_add(cmds, g_strdup_printf(
            "write -q -P 0x%02x %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
            pattern, o, MIN(FILL_PIECE, offset + len - o)));
    }
    qemu_io_batches(path, cmds);
}

/* Where piece @i of a spread goes, in pieces from the region's start */
static guint64 spread_piece(guint64 i, guint64 stride)
{
    return i * stride + (stride >= 2 ? (i & 1) : 0);
}

static guint64 spread_stride(guint64 region, guint64 alloc)
{
    guint64 stride = region / SPREAD_PIECE / (alloc / SPREAD_PIECE);

    g_assert(stride >= 1);
    return stride;
}

void bench_image_spread(const char *path, guint8 pattern, guint64 offset,
                        guint64 region, guint64 alloc)
{
    g_autoptr(GPtrArray) cmds = g_ptr_array_new_with_free_func(g_free);
    guint64 pieces = alloc / SPREAD_PIECE;
    guint64 stride = spread_stride(region, alloc);

    for (guint64 i = 0; i < pieces; i++) {
        guint64 p = spread_piece(i, stride);

        g_ptr_array_add(cmds, g_strdup_printf(
            "write -q -P 0x%02x %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
            pattern, offset + p * SPREAD_PIECE, SPREAD_PIECE));
    }
    qemu_io_batches(path, cmds);
}

void bench_copy_set(const char *src_dir, const char *dst_dir,
                    const char *const *names)
{
    bench_mkdir(dst_dir);
    for (const char *const *n = names; *n; n++) {
        g_autofree char *src = g_build_filename(src_dir, *n, NULL);
        g_autofree char *dst = g_build_filename(dst_dir, *n, NULL);

        bench_copy_file(src, dst);
    }
}

gboolean bench_image_check(const char *path, GError **error)
{
    const char *argv[] = { "qemu-img", "check", path, NULL };

    return bench_run(argv, NULL, error);
}

/*
 * What each 1 MiB piece of [0, @disk) reads on the pristine disk: the
 * spread of @alloc over [0, @region) over @base_pattern in [0,
 * @base_data), zeroes elsewhere
 */
static guint8 *pristine_pieces(guint64 disk, guint64 region, guint64 alloc,
                               guint8 pattern, guint64 base_data,
                               guint8 base_pattern)
{
    guint64 n = disk / SPREAD_PIECE;
    guint64 stride = spread_stride(region, alloc);
    guint8 *expect = g_malloc0(n);

    for (guint64 i = 0; i < n; i++) {
        expect[i] = i * SPREAD_PIECE < base_data ? base_pattern : 0;
    }
    for (guint64 i = 0; i < alloc / SPREAD_PIECE; i++) {
        expect[spread_piece(i, stride)] = pattern;
    }
    return expect;
}

gboolean bench_image_verify_spread(const char *path, guint64 region,
                                   guint64 alloc, guint8 pattern,
                                   guint64 base_data, guint8 base_pattern,
                                   GError **error)
{
    guint64 n = region / SPREAD_PIECE;
    g_autofree guint8 *expect = pristine_pieces(region, region, alloc,
                                                pattern, base_data,
                                                base_pattern);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *out = NULL;

    g_ptr_array_add(argv, g_strdup("qemu-io"));
    g_ptr_array_add(argv, g_strdup("-r"));
    g_ptr_array_add(argv, g_strdup("-f"));
    g_ptr_array_add(argv, g_strdup("qcow2"));
    for (guint64 i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && expect[j] == expect[i]; j++) {
            /* merge pieces of the same pattern */
        }
        g_ptr_array_add(argv, g_strdup("-c"));
        g_ptr_array_add(argv, g_strdup_printf(
            "read -q -P 0x%02x %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
            expect[i], i * SPREAD_PIECE, (j - i) * SPREAD_PIECE));
    }
    g_ptr_array_add(argv, g_strdup(path));
    if (!bench_run_array(argv, &out, error)) {
        return FALSE;
    }
    if (out && (strstr(out, "failed") || strstr(out, "error"))) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "qemu-io pattern check of %s: %s", path,
                    g_strstrip(out));
        return FALSE;
    }
    return TRUE;
}

gboolean bench_image_compare(const char *a, const char *b, GError **error)
{
    const char *argv[] = { "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2",
                           a, b, NULL };

    return bench_run(argv, NULL, error);
}

/* The first byte of @buf[0, @len) that is not @c, or -1 */
static gssize first_other(const guint8 *buf, gsize len, guint8 c)
{
    for (gsize i = 0; i < len; i++) {
        if (buf[i] != c) {
            return i;
        }
    }
    return -1;
}

gboolean bench_image_verify_guest(const char *path, guint64 disk,
                                  guint64 region, guint64 alloc,
                                  guint8 pattern, guint64 base_data,
                                  guint8 base_pattern, const guint8 *written,
                                  guint64 block, guint8 guest_pattern,
                                  const char *scratch, GError **error)
{
    const char *convert[] = { "qemu-img", "convert", "-f", "qcow2", "-O",
                              "raw", path, scratch, NULL };
    g_autofree guint8 *expect = pristine_pieces(disk, region, alloc, pattern,
                                                base_data, base_pattern);
    g_autofree guint8 *buf = g_malloc(SPREAD_PIECE);
    g_autoptr(GFile) file = g_file_new_for_path(scratch);
    g_autoptr(GFileInputStream) in = NULL;
    guint64 bad = 0, first_bad = 0;
    guint8 first_want = 0, first_have = 0;

    g_assert(SPREAD_PIECE % block == 0);
    if (!bench_run(convert, NULL, error) ||
        !(in = g_file_read(file, NULL, error))) {
        g_unlink(scratch);
        return FALSE;
    }
    for (guint64 piece = 0; piece < disk / SPREAD_PIECE; piece++) {
        gsize got;

        if (!g_input_stream_read_all(G_INPUT_STREAM(in), buf, SPREAD_PIECE,
                                     &got, NULL, error) ||
            got != SPREAD_PIECE) {
            if (error && !*error) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                            "%s: short read of the guest's view", scratch);
            }
            g_unlink(scratch);
            return FALSE;
        }
        for (guint64 o = 0; o < SPREAD_PIECE; o += block) {
            guint64 at = piece * SPREAD_PIECE + o;
            guint8 want = written[at / block] ? guest_pattern : expect[piece];
            gssize off = first_other(buf + o, block, want);

            if (off >= 0) {
                if (!bad++) {
                    first_bad = at + off;
                    first_want = want;
                    first_have = buf[o + off];
                }
            }
        }
    }
    g_unlink(scratch);
    if (bad) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "%s: %" G_GUINT64_FORMAT " block(s) of %" G_GUINT64_FORMAT
                    " bytes differ from what the guest wrote or the pristine "
                    "disk; first at offset %" G_GUINT64_FORMAT ": 0x%02x "
                    "instead of 0x%02x (the guest writes 0x%02x)", path, bad,
                    block, first_bad, first_have, first_want, guest_pattern);
        return FALSE;
    }
    return TRUE;
}

char *bench_image_backing(const char *path)
{
    g_autoptr(JsonObject) info = lm_test_image_info(path);

    return g_strdup(json_object_get_string_member_with_default(
        info, "backing-filename", ""));
}

void bench_image_data_span(const char *path, guint64 *offset, guint64 *len)
{
    g_autoptr(GArray) map = lm_test_image_map(path);
    guint64 first = G_MAXUINT64, end = 0;

    for (guint i = 0; i < map->len; i++) {
        const LmTestMapEntry *e = &g_array_index(map, LmTestMapEntry, i);

        if (e->depth == 0 && e->data && e->offset >= 0) {
            first = MIN(first, (guint64)e->offset);
            end = MAX(end, (guint64)e->offset + e->length);
        }
    }
    *offset = end ? first : 0;
    *len = end ? end - first : 0;
}
