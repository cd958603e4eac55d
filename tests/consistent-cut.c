/*
 * livemerge tests - is a set of images one instant of a set of disks?
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "consistent-cut.h"

/* Where a write went: generations are unique across the clock's guests. */
typedef struct {
    guint disk;
    guint64 first;
    guint64 n_blocks;
} WriteSite;

/*
 * Does block @b, holding @held (0: zeroes), have write @r or a later one?
 * A block of zeroes carries no generation: it counts as later than @r if
 * a write of zeroes later than @r went there (@last_zero: the latest).
 */
static gboolean holds_or_later(const LmTestWriteRecord *r, guint64 held,
                               guint64 last_zero)
{
    if (held) {
        return r->zero ? held > r->gen : held >= r->gen;
    }
    return r->zero || last_zero > r->gen;
}

/* The generation each block of @image holds (0: zeros). */
static guint64 *read_copy(const ConsistentCutDisk *d, guint64 *n_blocks)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestGuest) reader =
        lm_test_guest_new(lm_test_guest_block_size(d->guest));
    guint64 *held;

    lm_test_guest_open_image(reader, d->image, d->fmt, &err);
    g_assert_no_error(err);
    *n_blocks = lm_test_guest_n_blocks(reader);
    g_assert_cmpuint(*n_blocks, ==, lm_test_guest_n_blocks(d->guest));
    held = g_new0(guint64, *n_blocks);
    for (guint64 b = 0; b < *n_blocks; b++) {
        LmTestBlockContent c;

        lm_test_guest_read_block(reader, b, &c, &err);
        g_assert_no_error(err);
        if (c.kind == LM_TEST_BLOCK_ZERO) {
            continue;
        }
        if (c.kind != LM_TEST_BLOCK_STAMPED ||
            c.offset != b * lm_test_guest_block_size(d->guest)) {
            g_test_message("%s: block %" G_GUINT64_FORMAT " is %s", d->image,
                           b, c.kind == LM_TEST_BLOCK_TORN ? "torn" :
                           c.kind == LM_TEST_BLOCK_GARBAGE ? "garbage" :
                           "another block's data");
        }
        g_assert_cmpint(c.kind, ==, LM_TEST_BLOCK_STAMPED);
        g_assert_cmpuint(c.offset, ==,
                         b * lm_test_guest_block_size(d->guest));
        held[b] = c.gen;
    }
    lm_test_guest_disconnect(reader);
    return held;
}

gboolean consistent_cut_check(const ConsistentCutDisk *disks, guint n)
{
    g_autoptr(GHashTable) sites = g_hash_table_new_full(
        g_int64_hash, g_int64_equal, g_free, g_free);
    g_autoptr(GPtrArray) logs = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_array_unref);
    g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) last_zero = g_ptr_array_new_with_free_func(g_free);
    guint64 newest = 0, checked = 0;
    guint newest_disk = 0;
    gboolean consistent = TRUE;

    for (guint d = 0; d < n; d++) {
        GArray *log = lm_test_guest_write_log(disks[d].guest);

        guint64 *zeroes = g_new0(guint64, lm_test_guest_n_blocks(
                                              disks[d].guest));

        g_ptr_array_add(logs, log);
        g_ptr_array_add(last_zero, zeroes);
        for (guint i = 0; i < log->len; i++) {
            LmTestWriteRecord *r = &g_array_index(log, LmTestWriteRecord, i);
            gint64 *key;
            WriteSite *site;

            g_assert_cmpuint(r->gen, !=, 0);
            if (r->zero) {
                for (guint64 b = r->first; b < r->first + r->n_blocks; b++) {
                    zeroes[b] = MAX(zeroes[b], r->gen);
                }
                continue;
            }
            key = g_new(gint64, 1);
            *key = r->gen;
            site = g_new(WriteSite, 1);
            *site = (WriteSite) { d, r->first, r->n_blocks };
            g_assert_false(g_hash_table_contains(sites, key));
            g_hash_table_insert(sites, key, site);
        }
    }

    /* Every block holds zeros or a write its guest made there */
    for (guint d = 0; d < n; d++) {
        guint64 n_blocks;
        guint64 *h = read_copy(&disks[d], &n_blocks);

        g_ptr_array_add(held, h);
        for (guint64 b = 0; b < n_blocks; b++) {
            gint64 key = h[b];
            WriteSite *site;

            if (!h[b]) {
                continue;
            }
            site = g_hash_table_lookup(sites, &key);
            if (!site || site->disk != d || b < site->first ||
                b >= site->first + site->n_blocks) {
                g_test_message("copy %u block %" G_GUINT64_FORMAT " holds "
                               "gen %" G_GUINT64_FORMAT ", which its guest "
                               "never wrote there", d, b, h[b]);
                g_assert_not_reached();
            }
            if (h[b] > newest) {
                newest = h[b];
                newest_disk = d;
            }
        }
    }

    /* Nothing acknowledged before the newest held write was issued is
     * missing anywhere */
    for (guint d = 0; d < n; d++) {
        GArray *log = logs->pdata[d];
        guint64 *h = held->pdata[d];
        guint64 *zeroes = last_zero->pdata[d];

        for (guint i = 0; i < log->len; i++) {
            LmTestWriteRecord *r = &g_array_index(log, LmTestWriteRecord, i);

            if (r->acked_at >= newest) {
                continue;
            }
            checked++;
            for (guint64 b = r->first; b < r->first + r->n_blocks; b++) {
                if (!holds_or_later(r, h[b], zeroes[b])) {
                    consistent = FALSE;
                    g_test_message(
                        "copy %u block %" G_GUINT64_FORMAT " holds %s%"
                        G_GUINT64_FORMAT " but %s gen %" G_GUINT64_FORMAT
                        " was acknowledged (clock %" G_GUINT64_FORMAT
                        ") before gen %" G_GUINT64_FORMAT ", held by copy %u,"
                        " was issued", d, b, h[b] ? "gen " : "zeroes, ",
                        h[b], r->zero ? "zeroes" : "data", r->gen,
                        r->acked_at, newest, newest_disk);
                }
            }
        }
    }
    g_test_message("copies %s one instant: newest write held gen %"
                   G_GUINT64_FORMAT " (copy %u), %" G_GUINT64_FORMAT
                   " writes acknowledged before it was issued",
                   consistent ? "are" : "are NOT", newest, newest_disk,
                   checked);
    return consistent;
}

void consistent_cut_assert(const ConsistentCutDisk *disks, guint n)
{
    g_assert_true(consistent_cut_check(disks, n));
}
