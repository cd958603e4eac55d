/*
 * livemerge demo: the main job on an embedded default
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A qemu-storage-daemon with the plugin exports a qcow2 disk over NBD; a
 * guest fills it and keeps writing 4 KiB blocks at queue depth 16 while,
 * through the livemerge CLI as a user would type it,
 *  1. `livemerge snapshot` makes a new overlay the active layer,
 *  2. `livemerge blockcommit disk --active --pivot --wait --verbose`
 *     commits the overlay back into the base (livemerge engine, adaptive
 *     copy mode) and pivots the disk onto the base,
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
#include <string.h>

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

/* Run `livemerge ARGS... --connect SOCKET`, showing it and its output. */
static void livemerge(const char *socket, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GString) shown = g_string_new("$ livemerge");
    g_autoptr(GError) err = NULL;
    int status;

    const char *cli = g_getenv("LIVEMERGE_CLI");

    /* The package test runs the installed CLI */
    g_ptr_array_add(argv, (gpointer)(cli && *cli ? cli : LIVEMERGE_CLI));
    for (guint i = 0; args[i]; i++) {
        g_autofree char *q = g_shell_quote(args[i]);

        g_ptr_array_add(argv, (gpointer)args[i]);
        g_string_append_printf(shown, " %s",
                               strpbrk(args[i], " '\"") ? q : args[i]);
    }
    g_ptr_array_add(argv, (gpointer)"--connect");
    g_ptr_array_add(argv, (gpointer)socket);
    g_ptr_array_add(argv, NULL);
    step("%s", shown->str);
    check(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                       G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, NULL, NULL,
                       &status, &err), err, "run livemerge");
    check(g_spawn_check_wait_status(status, &err), err, shown->str);
}

#define LIVEMERGE(socket, ...) \
    livemerge(socket, (const char *const[]){ __VA_ARGS__, NULL })

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- livemerge demo");
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = NULL;
    g_autoptr(LmTestGuest) guest = NULL;
    g_autofree char *sockdir = NULL;
    g_autofree char *cli_sock = NULL;
    g_autofree char *chardev = NULL;
    g_autofree char *snapshot_arg = NULL;
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

    /* The CLI gets a QMP monitor of its own: a monitor serves one client
     * and the demo keeps the first one. */
    sockdir = g_dir_make_tmp("livemerge-demo-XXXXXX", &err);
    check(sockdir != NULL, err, "temporary directory");
    cli_sock = g_build_filename(sockdir, "cli.sock", NULL);
    chardev = g_strdup_printf("socket,id=cli,path=%s,server=on,wait=off",
                              cli_sock);
    qsd = lm_test_qsd_start((const char *const[]){
        "--chardev", chardev, "--monitor", "chardev=cli", NULL }, &err);
    check(qsd != NULL, err, "start qemu-storage-daemon with the plugin");
    qmp = lm_test_qsd_qmp(qsd);
    step("qemu-storage-daemon with livemerge runs in %s", lm_test_qsd_dir(qsd));
    step("the livemerge CLI talks to it at %s (LIVEMERGE_QMP)", cli_sock);

    base = lm_test_qsd_path(qsd, "base.qcow2");
    overlay = lm_test_qsd_path(qsd, "overlay.qcow2");
    snapshot_arg = g_strdup_printf("disk=%s", overlay);
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

    step("the guest keeps writing (4 KiB, queue depth 16) from now on");
    check(lm_test_guest_start_load(guest, &(LmTestLoad) {
              .pattern = LM_TEST_LOAD_RANDOM, .queue_depth = 16,
              .seed = g_random_int() }, &err), err, "start guest load");
    step("live snapshot: overlay.qcow2 becomes the active layer");
    LIVEMERGE(cli_sock, "snapshot", snapshot_arg);
    LIVEMERGE(cli_sock, "chain", "disk");
    g_usleep(opt_seconds * G_USEC_PER_SEC);

    step("active commit of overlay into base while the guest writes, then "
         "pivot");
    LIVEMERGE(cli_sock, "blockcommit", "disk", "--active", "--pivot",
              "--wait", "--verbose");
    LIVEMERGE(cli_sock, "chain", "disk");
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
    g_rmdir(sockdir);
    step("OK: %" G_GUINT64_FORMAT " blocks verified, chain merged live",
         lm_test_guest_n_blocks(guest));
    return EXIT_SUCCESS;
}
