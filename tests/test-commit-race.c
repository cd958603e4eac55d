/*
 * The copy/guest-write race: the guest hammers the very region being copied
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The interleaving to prevent: a copy reads old data, the guest writes new
 * data to both sides (write-blocking), the copy then writes the old data
 * over it in the base.  Here the overlay holds a few MiB of data, the guest
 * writes 4 KiB blocks at queue depth 16 into exactly that region while a
 * write-blocking commit copies it in 1 MiB requests, then the disk pivots
 * onto the base and every block is read back: a stale block is a block
 * whose generation is older than the guest's last acknowledged write.
 *
 * The load stops as soon as the job is READY: a later mirrored write to a
 * stale block would heal it.  With the engine's range locks taken out, this
 * test found stale blocks in the first round of each of three runs (blocks
 * holding generation 1 where the guest had acknowledged generation 19 and
 * more); with them it finds none.
 *
 * LIVEMERGE_RACE_ROUNDS sets the number of rounds (default 8).
 */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>

#include "lm-qmp.h"
#include "lm-test-guest.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

#define REGION (8 * 1024 * 1024)
#define EVENT_TIMEOUT_MS 60000
#define BACKGROUND_READY_MS 8000

static void race_round(const char *mode, guint round)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autoptr(JsonObject) ev = NULL;
    g_autofree char *base = NULL;
    g_autofree char *overlay = NULL;
    LmTestLoadStats stats;
    gboolean background, load_stopped = FALSE;
    LmQmp *qmp;

    g_assert_no_error(err);
    qmp = lm_test_qsd_qmp(qsd);
    base = lm_test_qsd_path(qsd, "base.qcow2");
    overlay = lm_test_qsd_path(qsd, "overlay.qcow2");
    lm_test_image_create(base, &(LmTestImageOpts) { .size = "32M" });
    lm_test_image_create(overlay, &(LmTestImageOpts) { .backing = base });
    lm_qmp_runf(qmp, &err, "blockdev-add",
                "{\"driver\": \"qcow2\", \"node-name\": \"overlay\", "
                "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                overlay);
    g_assert_no_error(err);
    lm_test_qsd_export(qsd, "overlay", "disk", &err);
    g_assert_no_error(err);
    lm_test_guest_connect(guest, lm_test_qsd_nbd_socket(qsd), "disk", &err);
    g_assert_no_error(err);

    /* The region the commit copies: all of it allocated in the overlay */
    lm_test_guest_write_range(guest, 0, REGION / lm_test_guest_block_size(guest),
                              &err);
    g_assert_no_error(err);

    lm_test_guest_start_load(guest, &(LmTestLoad) {
        .pattern = LM_TEST_LOAD_RANDOM, .queue_depth = 16,
        .region_start = 0, .region_length = REGION,
        .seed = g_test_rand_int() }, &err);
    g_assert_no_error(err);

    lm_qmp_runf(qmp, &err, "livemerge-commit",
                "{\"job-id\": \"race%u\", \"device\": \"overlay\", "
                "\"copy-mode\": \"%s\", \"granularity\": 65536}", round, mode);
    g_assert_no_error(err);
    /*
     * Background copying need not converge while the guest writes: give it
     * BACKGROUND_READY_MS, then quiet the guest.  The other modes must
     * converge under the load.
     */
    background = g_str_equal(mode, "background");
    ev = lm_qmp_wait_event(qmp, "BLOCK_JOB_READY",
                           background ? BACKGROUND_READY_MS : EVENT_TIMEOUT_MS,
                           &err);
    if (!ev && background) {
        g_clear_error(&err);
        lm_test_guest_stop_load(guest, &stats, &err);
        g_assert_no_error(err);
        load_stopped = TRUE;
        ev = lm_qmp_wait_event(qmp, "BLOCK_JOB_READY", EVENT_TIMEOUT_MS,
                               &err);
    }
    g_assert_no_error(err);
    g_clear_pointer(&ev, json_object_unref);

    /*
     * Stop at once: a stale block in the base would be healed by the
     * guest's next mirrored write to it, and go unseen
     */
    if (!load_stopped) {
        lm_test_guest_stop_load(guest, &stats, &err);
        g_assert_no_error(err);
    }
    g_assert_cmpuint(stats.errors, ==, 0);
    g_test_message("round %u: %" G_GUINT64_FORMAT " guest writes into the "
                   "%d MiB being copied", round, stats.writes, REGION >> 20);

    lm_qmp_runf(qmp, &err, "block-job-complete", "{\"device\": \"race%u\"}",
                round);
    g_assert_no_error(err);
    ev = lm_qmp_wait_event(qmp, "BLOCK_JOB_COMPLETED", EVENT_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    g_assert_false(json_object_has_member(
        json_object_get_object_member(ev, "data"), "error"));

    /* Through the export (now the base) and offline */
    lm_test_guest_verify_all(guest, &err);
    g_assert_no_error(err);
    lm_test_guest_disconnect(guest);
    lm_test_qsd_stop(qsd);
    lm_test_image_check(base);
    lm_test_image_check(overlay);
    lm_test_guest_open_image(guest, base, "qcow2", &err);
    g_assert_no_error(err);
    lm_test_guest_verify_all(guest, &err);
    g_assert_no_error(err);
    lm_test_guest_disconnect(guest);
}

static void test_race(gconstpointer mode)
{
    const char *env = g_getenv("LIVEMERGE_RACE_ROUNDS");
    guint rounds = env ? atoi(env) : 8;

    for (guint i = 0; i < rounds; i++) {
        race_round(mode, i);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/commit/race/write-blocking", "write-blocking",
                         test_race);
    g_test_add_data_func("/commit/race/adaptive", "adaptive", test_race);
    g_test_add_data_func("/commit/race/background", "background", test_race);
    return g_test_run();
}
