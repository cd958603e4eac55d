/*
 * livemerge demo: the main job on an embedded default
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A qemu-storage-daemon with the plugin exports a qcow2 disk over NBD; a
 * guest fills it and keeps writing 4 KiB blocks at queue depth 16 while
 *  1. a live external snapshot makes a new overlay the active layer,
 *  2. livemerge-commit commits the overlay back into the base (active
 *     commit, adaptive copy mode) and pivots the disk onto the base,
 * then every block the guest wrote is read back through the export and
 * again offline from the base image, and qemu-img check runs on it.
 *
 *   livemerge-demo [--size MiB] [--seconds N] [--keep]
 */

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "lm-qmp.h"
#include "lm-test-guest.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

static int opt_size_mib = 256;
static int opt_seconds = 3;
static gboolean opt_keep;

static const GOptionEntry options[] = {
    { "size", 0, 0, G_OPTION_ARG_INT, &opt_size_mib,
      "disk size in MiB (default 256)", "MIB" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &opt_seconds,
      "how long the guest writes before each step (default 3)", "N" },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &opt_keep,
      "keep the daemon's directory", NULL },
    { NULL },
};

static void step(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void step(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("demo: %s\n", msg);
    fflush(stdout);
}

static void check(gboolean ok, GError *error, const char *what)
{
    if (!ok || error) {
        fprintf(stderr, "demo: FAILED: %s: %s\n", what,
                error ? error->message : "unknown error");
        exit(EXIT_FAILURE);
    }
}

static void run_guest_for(LmTestGuest *guest, int seconds)
{
    LmTestLoadStats stats;
    GError *err = NULL;

    check(lm_test_guest_start_load(guest, &(LmTestLoad) {
              .pattern = LM_TEST_LOAD_RANDOM, .queue_depth = 16,
              .seed = g_random_int() }, &err), err, "start guest load");
    g_usleep(seconds * G_USEC_PER_SEC);
    check(lm_test_guest_stop_load(guest, &stats, &err), err,
          "stop guest load");
    check(stats.errors == 0, NULL, "guest writes failed");
    step("  guest wrote %" G_GUINT64_FORMAT " blocks (%.0f IOPS)",
         stats.writes, (double)stats.writes / seconds);
}

/* Poll the job's progress until @event arrives */
static JsonObject *wait_job_event(LmQmp *qmp, const char *event)
{
    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) jobs = NULL;
        JsonObject *ev = lm_qmp_wait_event(qmp, event, 500, &err);
        JsonArray *list;

        if (ev) {
            return ev;
        }
        if (!g_error_matches(err, LM_QMP_ERROR, LM_QMP_ERROR_TIMEOUT)) {
            check(FALSE, err, event);
        }
        g_clear_error(&err);
        jobs = lm_qmp_executef(qmp, &err, "query-block-jobs", NULL);
        check(jobs != NULL, err, "query-block-jobs");
        list = json_node_get_array(jobs);
        if (json_array_get_length(list)) {
            JsonObject *j = json_array_get_object_element(list, 0);

            step("  %s: %" G_GINT64_FORMAT " / %" G_GINT64_FORMAT " MiB",
                 json_object_get_string_member(j, "status"),
                 json_object_get_int_member(j, "offset") >> 20,
                 json_object_get_int_member(j, "len") >> 20);
        }
    }
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- livemerge demo");
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = NULL;
    g_autoptr(LmTestGuest) guest = NULL;
    g_autoptr(JsonObject) ev = NULL;
    g_autofree char *base = NULL;
    g_autofree char *overlay = NULL;
    g_autofree char *size = NULL;
    LmQmp *qmp;
    gboolean ok;

    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "livemerge-demo: %s\n", err->message);
        return 2;
    }
    if (opt_keep) {
        g_setenv("LIVEMERGE_KEEP_TMP", "1", TRUE);
    }

    qsd = lm_test_qsd_start(NULL, &err);
    check(qsd != NULL, err, "start qemu-storage-daemon with the plugin");
    qmp = lm_test_qsd_qmp(qsd);
    step("qemu-storage-daemon with livemerge runs in %s", lm_test_qsd_dir(qsd));

    base = lm_test_qsd_path(qsd, "base.qcow2");
    overlay = lm_test_qsd_path(qsd, "overlay.qcow2");
    size = g_strdup_printf("%dM", opt_size_mib);
    lm_test_image_create(base, &(LmTestImageOpts) { .size = size });
    ok = lm_qmp_runf(qmp, &err, "blockdev-add",
                     "{\"driver\": \"qcow2\", \"node-name\": \"base\", \"discard\": "
                     "\"unmap\", \"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                     base);
    check(ok, err, "blockdev-add base");
    check(lm_test_qsd_export(qsd, "base", "disk", &err), err, "NBD export");

    guest = lm_test_guest_new(0);
    check(lm_test_guest_connect(guest, lm_test_qsd_nbd_socket(qsd), "disk",
                                &err), err, "guest connects over NBD");
    step("guest fills the first half of the %s disk", size);
    for (guint64 b = 0; b < lm_test_guest_n_blocks(guest) / 2; b += 256) {
        check(lm_test_guest_write_range(guest, b, 256, &err), err,
              "guest fills the disk");
    }
    run_guest_for(guest, 1);

    step("live snapshot: overlay.qcow2 becomes the active layer");
    lm_test_qemu_img("create", "-q", "-f", "qcow2", "-F", "qcow2", "-u",
                     "-b", base, overlay, size, NULL);
    ok = lm_qmp_runf(qmp, &err, "blockdev-add",
                     "{\"driver\": \"qcow2\", \"node-name\": \"overlay\", \"backing\": "
                     "null, \"discard\": \"unmap\", \"file\": {\"driver\": \"file\", "
                     "\"filename\": \"%s\"}}", overlay);
    check(ok, err, "blockdev-add overlay");
    check(lm_test_guest_start_load(guest, &(LmTestLoad) {
              .pattern = LM_TEST_LOAD_RANDOM, .queue_depth = 16,
              .seed = g_random_int() }, &err), err, "start guest load");
    ok = lm_qmp_runf(qmp, &err, "blockdev-snapshot",
                     "{\"node\": \"base\", \"overlay\": \"overlay\"}");
    check(ok, err, "blockdev-snapshot");
    g_usleep(opt_seconds * G_USEC_PER_SEC);

    step("active commit of overlay into base while the guest writes");
    ok = lm_qmp_runf(qmp, &err, "livemerge-commit",
                     "{\"job-id\": \"demo\", \"device\": \"overlay\", "
                     "\"copy-mode\": \"adaptive\"}");
    check(ok, err, "livemerge-commit");
    ev = wait_job_event(qmp, "BLOCK_JOB_READY");
    step("READY: the base holds everything the guest can read");
    g_clear_pointer(&ev, json_object_unref);
    g_usleep(opt_seconds * G_USEC_PER_SEC / 2);

    step("pivot: block-job-complete");
    ok = lm_qmp_runf(qmp, &err, "block-job-complete", "{\"device\": \"demo\"}");
    check(ok, err, "block-job-complete");
    ev = wait_job_event(qmp, "BLOCK_JOB_COMPLETED");
    check(!json_object_has_member(ev, "data") ||
          !json_object_has_member(json_object_get_object_member(ev, "data"),
                                  "error"), NULL, "the job reported an error");
    step("completed: the export now serves base.qcow2");
    {
        LmTestLoadStats stats;

        check(lm_test_guest_stop_load(guest, &stats, &err), err,
              "stop guest load");
        check(stats.errors == 0, NULL, "guest writes failed");
        step("  guest wrote %" G_GUINT64_FORMAT " blocks during snapshot, "
             "commit and pivot, none failed", stats.writes);
    }

    step("verify: every block the guest wrote, read back over NBD");
    check(lm_test_guest_verify_all(guest, &err), err, "verify over NBD");
    lm_test_guest_disconnect(guest);
    lm_test_qsd_stop(qsd);

    step("verify: base.qcow2 offline, qemu-img check");
    lm_test_image_check(base);
    check(lm_test_guest_open_image(guest, base, "qcow2", &err), err,
          "open base.qcow2");
    check(lm_test_guest_verify_all(guest, &err), err, "verify base.qcow2");
    lm_test_guest_disconnect(guest);
    step("OK: %" G_GUINT64_FORMAT " blocks verified, chain merged live",
         lm_test_guest_n_blocks(guest));
    return EXIT_SUCCESS;
}
