/*
 * livemerge - tests of the test harness itself
 *
 * Runs against the stock qemu-storage-daemon, without the plugin, so the
 * harness can be trusted before it is used to judge the plugin: the QMP
 * client, the daemon lifecycle, the image tools, and a guest whose
 * verifier must both pass on good data and catch bad data.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>

#include "lm-qmp.h"
#include "lm-test-guest.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

#define MiB (1024 * 1024)

static LmTestQsd *start_stock(void)
{
    g_autoptr(GError) err = NULL;
    LmTestQsd *qsd = lm_test_qsd_start_full(LM_TEST_QSD_NO_PLUGIN, NULL,
                                            &err);

    g_assert_no_error(err);
    return qsd;
}

static void add_qcow2(LmQmp *qmp, const char *node_name, const char *path)
{
    g_autoptr(GError) err = NULL;

    lm_qmp_runf(qmp, &err, "blockdev-add",
                "{\"driver\": \"qcow2\", \"node-name\": \"%s\","
                " \"discard\": \"unmap\","
                " \"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                node_name, path);
    g_assert_no_error(err);
}

static void export_node(LmTestQsd *qsd, const char *node_name,
                        const char *export_name)
{
    g_autoptr(GError) err = NULL;

    lm_test_qsd_export(qsd, node_name, export_name, &err);
    g_assert_no_error(err);
}

static void del_export(LmQmp *qmp, const char *id)
{
    g_autoptr(GError) err = NULL;

    lm_qmp_runf(qmp, &err, "block-export-del", "{\"id\": \"%s\"}", id);
    g_assert_no_error(err);
}

static const char *event_data_string(JsonObject *ev, const char *member)
{
    return json_object_get_string_member(
        json_object_get_object_member(ev, "data"), member);
}

/* A "blockdev-create" job: the cheapest way to get JOB_STATUS_CHANGE. */
static void start_create_job(LmTestQsd *qsd, const char *job_id,
                             const char *file)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *path = lm_test_qsd_path(qsd, file);

    lm_qmp_runf(lm_test_qsd_qmp(qsd), &err, "blockdev-create",
                "{\"job-id\": \"%s\", \"options\": {\"driver\": \"file\","
                " \"filename\": \"%s\", \"size\": 1048576}}", job_id, path);
    g_assert_no_error(err);
}

/*
 * Follow the job's status changes until it is gone; blockdev-create jobs
 * wait for a manual job-dismiss once concluded.
 */
static char *wait_job_gone(LmQmp *qmp, const char *job_id)
{
    g_autoptr(GString) statuses = g_string_new(NULL);

    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonObject) ev =
            lm_qmp_wait_event(qmp, "JOB_STATUS_CHANGE", 10000, &err);
        const char *status;

        g_assert_no_error(err);
        g_assert_cmpstr(event_data_string(ev, "id"), ==, job_id);
        status = event_data_string(ev, "status");
        g_string_append_printf(statuses, "%s%s", statuses->len ? " " : "",
                               status);
        if (g_str_equal(status, "concluded")) {
            lm_qmp_runf(qmp, &err, "job-dismiss", "{\"id\": \"%s\"}",
                        job_id);
            g_assert_no_error(err);
        }
        if (g_str_equal(status, "null")) {
            return g_string_free(g_steal_pointer(&statuses), FALSE);
        }
    }
}

static void test_qmp(void)
{
    g_autoptr(LmTestQsd) qsd = start_stock();
    LmQmp *qmp = lm_test_qsd_qmp(qsd);
    g_autofree char *img = lm_test_qsd_path(qsd, "disk.qcow2");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(JsonObject) ev = NULL;
    g_autoptr(GPtrArray) events = NULL;
    g_autofree char *statuses = NULL;
    JsonObject *greeting_qemu;
    JsonObject *version;

    /* Returns, and the greeting agrees with query-version. */
    ret = lm_qmp_execute(qmp, "query-version", NULL, &err);
    g_assert_no_error(err);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(ret));
    version = json_object_get_object_member(json_node_get_object(ret),
                                            "qemu");
    greeting_qemu = json_object_get_object_member(
        json_object_get_object_member(lm_qmp_get_greeting(qmp), "version"),
        "qemu");
    g_assert_cmpint(json_object_get_int_member(version, "major"), >=, 7);
    g_assert_cmpint(json_object_get_int_member(version, "major"), ==,
                    json_object_get_int_member(greeting_qemu, "major"));
    g_clear_pointer(&ret, json_node_unref);

    /* QMP errors: desc verbatim, class on the side. */
    ret = lm_qmp_execute(qmp, "no-such-command", NULL, &err);
    g_assert_null(ret);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_true(lm_qmp_error_is_refusal(err));
    g_assert_cmpstr(err->message, ==,
                    "The command no-such-command has not been found");
    g_assert_cmpstr(lm_qmp_last_error_class(qmp), ==, "CommandNotFound");
    g_clear_error(&err);

    /* Raw lines, for malformed commands. */
    ret = lm_qmp_execute_raw(
        qmp, "{\"execute\": \"query-version\", \"arguments\": {\"bogus\": 1}}",
        &err);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_assert_cmpstr(err->message, ==, "Parameter 'bogus' is unexpected");
    g_assert_cmpstr(lm_qmp_last_error_class(qmp), ==, "GenericError");
    g_clear_error(&err);
    ret = lm_qmp_execute_raw(
        qmp, "{\"execute\": \"blockdev-del\", \"arguments\": "
             "{\"node-name\": 42}}", &err);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_assert_cmpstr(err->message, ==,
                    "Invalid parameter type for 'node-name', "
                    "expected: string");
    g_clear_error(&err);
    ret = lm_qmp_execute_raw(qmp, "[\"not an object\"]", &err);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_test_message("non-object input: %s", err->message);
    g_clear_error(&err);
    /* Still in sync: the next command gets its own reply. */
    ret = lm_qmp_execute(qmp, "query-block-exports", NULL, &err);
    g_assert_no_error(err);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(ret));
    g_clear_pointer(&ret, json_node_unref);

    /* Arguments that are not a JSON object never reach the daemon. */
    ret = lm_qmp_executef(qmp, &err, "query-version", "[%d]", 1);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_INVALID);
    g_clear_error(&err);

    /* Nothing happens: waiting times out, with 0 and with a bound. */
    ev = lm_qmp_wait_event(qmp, NULL, 0, &err);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_TIMEOUT);
    g_clear_error(&err);
    ev = lm_qmp_wait_event(qmp, "BLOCK_EXPORT_DELETED", 100, &err);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_TIMEOUT);
    g_clear_error(&err);

    /* Events in order. */
    lm_test_image_create(img, &(LmTestImageOpts){ .size = "16M" });
    add_qcow2(qmp, "disk", img);
    export_node(qsd, "disk", "e1");
    export_node(qsd, "disk", "e2");
    del_export(qmp, "e1");
    del_export(qmp, "e2");
    ev = lm_qmp_wait_event(qmp, "BLOCK_EXPORT_DELETED", 10000, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(event_data_string(ev, "id"), ==, "e1");
    g_clear_pointer(&ev, json_object_unref);
    ev = lm_qmp_wait_event(qmp, "BLOCK_EXPORT_DELETED", 10000, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(event_data_string(ev, "id"), ==, "e2");
    g_clear_pointer(&ev, json_object_unref);

    /* A job's events, all of them, in order. */
    start_create_job(qsd, "job1", "created1.raw");
    statuses = wait_job_gone(qmp, "job1");
    g_assert_cmpstr(statuses, ==,
                    "created running waiting pending concluded null");
    g_clear_pointer(&statuses, g_free);

    /* Waiting for one event keeps the others queued, in order: the job's
     * "created" comes before blockdev-create returns, so before the
     * export's deletion. */
    export_node(qsd, "disk", "e3");
    start_create_job(qsd, "job2", "created2.raw");
    del_export(qmp, "e3");
    ev = lm_qmp_wait_event(qmp, "BLOCK_EXPORT_DELETED", 10000, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(event_data_string(ev, "id"), ==, "e3");
    statuses = wait_job_gone(qmp, "job2");
    g_assert_cmpstr(statuses, ==,
                    "created running waiting pending concluded null");

    events = lm_qmp_take_events(qmp);
    g_assert_cmpuint(events->len, ==, 0);
}

static void test_qsd_lifecycle(void)
{
    const char *const bad_args[] = { "--blockdev", "driver=no-such-driver",
                                     NULL };
    g_autoptr(LmTestQsd) qsd = start_stock();
    g_autoptr(LmTestQsd) bad = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *log = NULL;
    GPid first_pid;

    g_assert_true(g_file_test(lm_test_qsd_dir(qsd), G_FILE_TEST_IS_DIR));
    g_assert_true(g_file_test(lm_test_qsd_log_path(qsd),
                              G_FILE_TEST_EXISTS));
    first_pid = lm_test_qsd_pid(qsd);
    g_assert_cmpint(first_pid, >, 0);

    /* A crash the test asked for is not a failure... */
    lm_test_qsd_kill(qsd, SIGKILL);
    g_assert_null(lm_test_qsd_qmp(qsd));

    /* ...and the same directory takes a new daemon. */
    lm_test_qsd_restart(qsd, LM_TEST_QSD_NO_PLUGIN, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(lm_test_qsd_pid(qsd), !=, first_pid);
    g_assert_nonnull(lm_test_qsd_qmp(qsd));

    /* SIGTERM is a clean shutdown for the daemon. */
    lm_test_qsd_kill(qsd, SIGTERM);
    lm_test_qsd_restart(qsd, LM_TEST_QSD_NO_PLUGIN, NULL, &err);
    g_assert_no_error(err);
    lm_test_qsd_stop(qsd);
    log = lm_test_qsd_read_log(qsd);
    g_assert_nonnull(strstr(log, "==== lmtest: run 3:"));

    /* A daemon that cannot start is reported promptly, with its log. */
    bad = lm_test_qsd_start_full(LM_TEST_QSD_NO_PLUGIN, bad_args, &err);
    g_assert_null(bad);
    g_assert_nonnull(err);
    g_test_message("bad start: %s", err->message);
    g_assert_nonnull(strstr(err->message, "no-such-driver"));
}

/* Start a stock daemon exporting a fresh image (or @img if it exists). */
static void serve_image(LmTestQsd *qsd, const char *img)
{
    if (!g_file_test(img, G_FILE_TEST_EXISTS)) {
        lm_test_image_create(img, &(LmTestImageOpts){ .size = "64M" });
    }
    add_qcow2(lm_test_qsd_qmp(qsd), "disk", img);
    export_node(qsd, "disk", "disk");
}

static void connect_guest(LmTestGuest *guest, LmTestQsd *qsd)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_connect(guest, lm_test_qsd_nbd_socket(qsd), "disk", &err);
    g_assert_no_error(err);
}

static void verify_all(LmTestGuest *guest)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_verify_all(guest, &err);
    g_assert_no_error(err);
}

static void run_load(LmTestGuest *guest, const LmTestLoad *load,
                     gulong duration_us)
{
    g_autoptr(GError) err = NULL;
    LmTestLoadStats stats;

    lm_test_guest_start_load(guest, load, &err);
    g_assert_no_error(err);
    g_usleep(duration_us);
    lm_test_guest_stop_load(guest, &stats, &err);
    g_assert_no_error(err);
    g_test_message("load: %" G_GUINT64_FORMAT " writes, %" G_GUINT64_FORMAT
                   " bytes, %" G_GUINT64_FORMAT " errors",
                   stats.writes, stats.bytes, stats.errors);
    g_assert_cmpuint(stats.errors, ==, 0);
    g_assert_cmpuint(stats.writes, >, 0);
}

static void test_guest_roundtrip(void)
{
    g_autoptr(LmTestQsd) qsd = start_stock();
    g_autofree char *img = lm_test_qsd_path(qsd, "disk.qcow2");
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) map = NULL;
    g_autoptr(JsonObject) info = NULL;
    guint64 n_blocks;

    serve_image(qsd, img);
    connect_guest(guest, qsd);
    n_blocks = lm_test_guest_n_blocks(guest);
    g_assert_cmpuint(n_blocks, ==, 64 * MiB / 4096);

    /* A fresh disk reads as zeros. */
    verify_all(guest);

    /* Each kind of synchronous operation. */
    g_assert_true(lm_test_guest_write_range(guest, 0, 16, &err));
    for (int i = 0; i < 3; i++) {
        g_assert_true(lm_test_guest_write_block(guest, 100, &err));
    }
    g_assert_true(lm_test_guest_write_range(guest, 200, 8, &err));
    g_assert_true(lm_test_guest_zero_range(guest, 200, 4, &err));
    g_assert_true(lm_test_guest_write_range(guest, 300, 32, &err));
    g_assert_true(lm_test_guest_discard_range(guest, 300, 16, &err));
    g_assert_true(lm_test_guest_flush(guest, &err));
    g_assert_no_error(err);
    verify_all(guest);

    /* The background load, random and sequential, away from the above. */
    run_load(guest, &(LmTestLoad){
                 .pattern = LM_TEST_LOAD_RANDOM,
                 .queue_depth = 16,
                 .region_start = 1024 * 4096,
                 .seed = 42,
             }, G_USEC_PER_SEC);
    run_load(guest, &(LmTestLoad){
                 .pattern = LM_TEST_LOAD_SEQUENTIAL,
                 .request_size = 64 * 1024,
                 .queue_depth = 4,
                 .region_start = 8 * MiB,
                 .region_length = 8 * MiB,
             }, G_USEC_PER_SEC / 4);
    verify_all(guest);
    lm_test_guest_disconnect(guest);

    lm_test_qsd_stop(qsd);
    lm_test_image_check(img);

    /* What was written survives a new daemon... */
    lm_test_qsd_restart(qsd, LM_TEST_QSD_NO_PLUGIN, NULL, &err);
    g_assert_no_error(err);
    serve_image(qsd, img);
    connect_guest(guest, qsd);
    verify_all(guest);
    lm_test_guest_disconnect(guest);
    lm_test_qsd_stop(qsd);

    /* ...and reads the same offline, where the guest can write too. */
    lm_test_guest_open_image(guest, img, "qcow2", &err);
    g_assert_no_error(err);
    verify_all(guest);
    g_assert_true(lm_test_guest_write_block(guest, 7, &err));
    g_assert_no_error(err);
    lm_test_guest_disconnect(guest);
    lm_test_guest_open_image(guest, img, "qcow2", &err);
    g_assert_no_error(err);
    verify_all(guest);
    lm_test_guest_disconnect(guest);
    lm_test_image_check(img);

    /* The image tools see the same disk. */
    info = lm_test_image_info(img);
    g_assert_cmpstr(json_object_get_string_member(info, "format"), ==,
                    "qcow2");
    g_assert_cmpint(json_object_get_int_member(info, "virtual-size"), ==,
                    64 * MiB);
    map = lm_test_image_map(img);
    g_assert_cmpuint(map->len, >, 0);
    g_assert_cmpuint(g_array_index(map, LmTestMapEntry, 0).start, ==, 0);
    g_assert_true(g_array_index(map, LmTestMapEntry, 0).data);
    g_assert_cmpint(g_array_index(map, LmTestMapEntry, 0).depth, ==, 0);
}

/*
 * Kill the daemon under load: the load reports the lost writes, and the
 * model, told of the crash, accepts what a restarted daemon shows -
 * flushed writes exactly, later ones old or new.
 */
static void test_crash_model(void)
{
    g_autoptr(LmTestQsd) qsd = start_stock();
    g_autofree char *img = lm_test_qsd_path(qsd, "disk.qcow2");
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autoptr(GError) err = NULL;
    LmTestLoadStats stats;

    serve_image(qsd, img);
    connect_guest(guest, qsd);
    g_assert_true(lm_test_guest_write_range(guest, 0, 64, &err));
    g_assert_true(lm_test_guest_flush(guest, &err));
    g_assert_true(lm_test_guest_write_range(guest, 64, 64, &err));
    g_assert_no_error(err);
    lm_test_guest_start_load(guest, &(LmTestLoad){
                                 .queue_depth = 16,
                                 .region_start = 1 * MiB,
                                 .seed = 7,
                             }, &err);
    g_assert_no_error(err);
    g_usleep(G_USEC_PER_SEC / 4);

    lm_test_qsd_kill(qsd, SIGKILL);
    g_assert_false(lm_test_guest_stop_load(guest, &stats, &err));
    g_test_message("load after kill: %" G_GUINT64_FORMAT " writes, %"
                   G_GUINT64_FORMAT " errors; %s", stats.writes,
                   stats.errors, err->message);
    g_assert_cmpuint(stats.writes, >, 0);
    g_clear_error(&err);
    lm_test_guest_disconnect(guest);
    lm_test_guest_crashed(guest);

    lm_test_qsd_restart(qsd, LM_TEST_QSD_NO_PLUGIN, NULL, &err);
    g_assert_no_error(err);
    serve_image(qsd, img);
    connect_guest(guest, qsd);
    verify_all(guest);
}

/* The verifier must catch what it exists to catch. */
static void test_verify_detects_corruption(void)
{
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(4096);
    g_autofree char *dir = g_dir_make_tmp("lmtest-XXXXXX", NULL);
    g_autofree char *base = g_build_filename(dir, "base.qcow2", NULL);
    g_autofree char *img = g_build_filename(dir, "top.qcow2", NULL);
    g_autofree char *out = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonArray) chain = NULL;
    LmTestBlockContent content;

    /* Stamp a base image offline, then look at it through an overlay. */
    lm_test_image_create(base, &(LmTestImageOpts){ .size = "4M" });
    lm_test_guest_open_image(guest, base, "qcow2", &err);
    g_assert_no_error(err);
    g_assert_true(lm_test_guest_write_range(guest, 0, 32, &err));
    g_assert_no_error(err);
    lm_test_guest_disconnect(guest);
    lm_test_image_create(img, &(LmTestImageOpts){
                             .backing = base,
                             .cluster_size = 4096,
                         });
    chain = lm_test_image_info_chain(img);
    g_assert_cmpuint(json_array_get_length(chain), ==, 2);

    lm_test_guest_open_image(guest, img, "qcow2", &err);
    g_assert_no_error(err);
    verify_all(guest);
    lm_test_guest_disconnect(guest);

    /* Garbage in block 5, zeros in block 9, a torn sector in block 12. */
    out = lm_test_qemu_io(img, "qcow2", "write -P 0xcd 20480 4k",
                          "write -z 36864 4k", "write -P 0 49152 512",
                          NULL);
    lm_test_guest_open_image(guest, img, "qcow2", &err);
    g_assert_no_error(err);

    lm_test_guest_verify_all(guest, &err);
    g_assert_error(err, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_MISMATCH);
    g_test_message("verify_all: %s", err->message);
    g_assert_true(g_str_has_prefix(err->message,
                                   "block 5 (offset 20480): expected gen 1, "
                                   "found data no guest wrote"));
    g_assert_nonnull(strstr(err->message, "block 9 (offset 36864): "
                                          "expected gen 1, found zeros"));
    g_assert_nonnull(strstr(err->message, "block 12 (offset 49152): "
                                          "expected gen 1, found a torn"));
    g_assert_nonnull(strstr(err->message, "(3 of 1024 blocks differ)"));
    g_clear_error(&err);

    g_assert_true(lm_test_guest_read_block(guest, 5, &content, &err));
    g_assert_cmpint(content.kind, ==, LM_TEST_BLOCK_GARBAGE);
    g_assert_true(lm_test_guest_read_block(guest, 12, &content, &err));
    g_assert_cmpint(content.kind, ==, LM_TEST_BLOCK_TORN);
    g_assert_true(lm_test_guest_read_block(guest, 4, &content, &err));
    g_assert_cmpint(content.kind, ==, LM_TEST_BLOCK_STAMPED);
    g_assert_cmpuint(content.offset, ==, 4 * 4096);
    g_assert_cmpuint(content.gen, ==, 1);
    g_assert_true(lm_test_guest_verify_block(guest, 4, &err));
    g_assert_false(lm_test_guest_verify_block(guest, 9, &err));
    g_assert_error(err, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_MISMATCH);
    g_clear_error(&err);

    /* A stale block: block 20 rewritten in the overlay, then the overlay
     * lost (recreated empty), so the base's older write shows through. */
    g_assert_true(lm_test_guest_write_block(guest, 20, &err));
    g_assert_no_error(err);
    lm_test_guest_disconnect(guest);
    lm_test_image_create(img, &(LmTestImageOpts){ .backing = base });
    lm_test_guest_open_image(guest, img, "qcow2", &err);
    g_assert_no_error(err);
    g_assert_false(lm_test_guest_verify_block(guest, 20, &err));
    g_test_message("stale: %s", err->message);
    g_assert_nonnull(strstr(err->message, "expected gen 2, found gen 1"));
    g_clear_error(&err);
    lm_test_guest_disconnect(guest);

    g_unlink(img);
    g_unlink(base);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/harness/qmp", test_qmp);
    g_test_add_func("/harness/qsd-lifecycle", test_qsd_lifecycle);
    g_test_add_func("/harness/guest-roundtrip", test_guest_roundtrip);
    g_test_add_func("/harness/crash-model", test_crash_model);
    g_test_add_func("/harness/verify-detects-corruption",
                    test_verify_detects_corruption);
    return g_test_run();
}
