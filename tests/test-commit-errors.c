/*
 * Commit errors: on-error policies with blkdebug fault injection
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The base (or the top) is a qcow2 image over a blkdebug node that fails
 * the first data write (or read) with a chosen errno.  Whatever the policy
 * does with the error, the guest must read back exactly what it wrote,
 * and a failed job must leave the chain as it was.  A flush of the base
 * that fails at the pivot is injected by putting a blkdebug node under the
 * base once the job is READY.
 */

#include <glib.h>
#include <json-glib/json-glib.h>

#include "commit-fixture.h"
#include "lm-qmp.h"
#include "lm-test-guest.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

#define EVENT_TIMEOUT_MS 30000

typedef enum { FAULT_NONE, FAIL_BASE_WRITE, FAIL_TOP_READ } FaultSite;

typedef struct {
    LmTestQsd *qsd;
    LmQmp *qmp;
    LmTestGuest *guest;
    char *path[3];          /* base, mid, top */
} Chain;

static const char *const layer_name[] = { "base", "mid", "top" };

/*
 * The file node of a layer (named "<layer>-file"), through blkdebug where
 * the fault goes
 */
static char *file_node(const char *layer, const char *path, const char *event,
                       int errno_value)
{
    g_autofree char *file = g_strdup_printf(
        "{\"driver\": \"file\", \"node-name\": \"%s-file\", "
        "\"filename\": \"%s\"}", layer, path);

    if (!event) {
        return g_steal_pointer(&file);
    }
    return g_strdup_printf(
        "{\"driver\": \"blkdebug\", \"inject-error\": [{\"event\": \"%s\", "
        "\"errno\": %d, \"once\": true}], \"image\": %s}",
        event, errno_value, file);
}

/*
 * base <- mid <- top, each holding part of the guest's data (written
 * offline); @site's layer gets the fault; the top is exported as "disk"
 * unless @export is false.
 */
static void chain_setup(Chain *c, FaultSite site, int errno_value,
                        gboolean export)
{
    g_autoptr(GError) err = NULL;

    c->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    c->qmp = lm_test_qsd_qmp(c->qsd);
    c->guest = lm_test_guest_new(0);
    for (guint i = 0; i < 3; i++) {
        g_autofree char *name = g_strdup_printf("%s.qcow2", layer_name[i]);

        c->path[i] = lm_test_qsd_path(c->qsd, name);
        lm_test_image_create(c->path[i], &(LmTestImageOpts) {
            .size = "16M", .backing = i ? c->path[i - 1] : NULL });
        /* base: 0-8M, mid: 4-10M, top: 6-7M and a zeroed 9M */
        lm_test_guest_open_image(c->guest, c->path[i], "qcow2", &err);
        g_assert_no_error(err);
        switch (i) {
        case 0:
            lm_test_guest_write_range(c->guest, 0, 8 * COMMIT_MiB / 4096, &err);
            break;
        case 1:
            lm_test_guest_write_range(c->guest, 4 * COMMIT_MiB / 4096,
                                      6 * COMMIT_MiB / 4096, &err);
            break;
        case 2:
            lm_test_guest_write_range(c->guest, 6 * COMMIT_MiB / 4096,
                                      COMMIT_MiB / 4096, &err);
            g_assert_no_error(err);
            lm_test_guest_zero_range(c->guest, 9 * COMMIT_MiB / 4096, COMMIT_MiB / 4096,
                                     &err);
            break;
        }
        g_assert_no_error(err);
        lm_test_guest_disconnect(c->guest);
    }

    for (guint i = 0; i < 3; i++) {
        g_autofree char *file = file_node(
            layer_name[i], c->path[i],
            site == FAIL_BASE_WRITE && i == 0 ? "write_aio" :
            site == FAIL_TOP_READ && i == 2 ? "read_aio" : NULL,
            errno_value);
        g_autofree char *backing = i ? g_strdup_printf("\"%s\"",
                                                       layer_name[i - 1])
                                     : g_strdup("null");

        commit_qmp_ok(c->qmp, "blockdev-add",
               "{\"driver\": \"qcow2\", \"node-name\": \"%s\", "
               "\"read-only\": %s, \"backing\": %s, \"file\": %s}",
               layer_name[i], i < 2 ? "true" : "false", backing, file);
    }
    if (export) {
        lm_test_qsd_export(c->qsd, "top", "disk", &err);
        g_assert_no_error(err);
        lm_test_guest_connect(c->guest, lm_test_qsd_nbd_socket(c->qsd),
                              "disk", &err);
        g_assert_no_error(err);
    }
}

/*
 * Verify what the guest reads over the export (if any), stop the daemon,
 * check the images, and verify offline from @layer, the image the
 * guest's disk now starts at.
 */
static void chain_finish(Chain *c, guint layer, gboolean exported)
{
    g_autoptr(GError) err = NULL;

    if (exported) {
        lm_test_guest_verify_all(c->guest, &err);
        g_assert_no_error(err);
        lm_test_guest_disconnect(c->guest);
    }
    lm_test_qsd_stop(c->qsd);
    for (guint i = 0; i < 3; i++) {
        lm_test_image_check(c->path[i]);
    }
    lm_test_guest_open_image(c->guest, c->path[layer], "qcow2", &err);
    g_assert_no_error(err);
    lm_test_guest_verify_all(c->guest, &err);
    g_assert_no_error(err);
    lm_test_guest_disconnect(c->guest);
    lm_test_guest_free(c->guest);
    lm_test_qsd_free(c->qsd);
    for (guint i = 0; i < 3; i++) {
        g_free(c->path[i]);
    }
}

/* The base's options, with @file as its file */
static void reopen_base(Chain *c, gboolean read_only, const char *file)
{
    commit_qmp_ok(c->qmp, "blockdev-reopen",
        "{\"options\": [{\"driver\": \"qcow2\", \"node-name\": \"base\", "
        "\"read-only\": %s, \"backing\": null, \"file\": \"%s\"}]}",
        read_only ? "true" : "false", file);
}

static JsonObject *wait_event(Chain *c, const char *name)
{
    g_autoptr(GError) err = NULL;
    JsonObject *ev = lm_qmp_wait_event(c->qmp, name, EVENT_TIMEOUT_MS, &err);

    g_assert_no_error(err);
    return ev;
}

static const char *event_str(JsonObject *ev, const char *member)
{
    return json_object_get_string_member(
        json_object_get_object_member(ev, "data"), member);
}

static char *query(Chain *c, const char *command, const char *member)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_executef(c->qmp, &err, command, NULL);
    JsonArray *list;

    g_assert_no_error(err);
    list = json_node_get_array(ret);
    if (!json_array_get_length(list)) {
        return NULL;
    }
    return g_strdup(json_object_get_string_member(
        json_array_get_object_element(list, 0), member));
}

/* The chain is as it was: top over mid over base, no filter, base r/o */
static void assert_chain_unchanged(Chain *c)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_executef(c->qmp, &err,
        "query-named-block-nodes", "{\"flat\": true}");
    JsonArray *nodes;

    g_assert_no_error(err);
    nodes = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *name = json_object_get_string_member(n, "node-name");

        g_assert_cmpstr(json_object_get_string_member(n, "drv"), !=,
                        "livemerge");
        if (g_str_equal(name, "base")) {
            g_assert_true(json_object_get_boolean_member(n, "ro"));
        }
        if (g_str_equal(name, "top") || g_str_equal(name, "mid")) {
            g_assert_cmpstr(json_object_get_string_member(
                                json_object_get_object_member(n, "image"),
                                "backing-filename"), ==,
                            c->path[g_str_equal(name, "top") ? 1 : 0]);
        }
    }
    g_assert_null(query(c, "query-block-jobs", "device"));
}

static void start_commit(Chain *c, const char *extra)
{
    commit_qmp_ok(c->qmp, "livemerge-commit",
           "{\"job-id\": \"job0\", \"device\": \"top\"%s}", extra);
}

static void pivot(Chain *c)
{
    g_autoptr(JsonObject) ready = wait_event(c, "BLOCK_JOB_READY");
    g_autoptr(JsonObject) done = NULL;

    commit_qmp_ok(c->qmp, "block-job-complete", "{\"device\": \"job0\"}");
    done = wait_event(c, "BLOCK_JOB_COMPLETED");
    g_assert_false(json_object_has_member(
        json_object_get_object_member(done, "data"), "error"));
}

/* report: the job fails, the chain is as it was */
static void test_report(gconstpointer data)
{
    FaultSite site = GPOINTER_TO_INT(data);
    g_autoptr(JsonObject) error = NULL;
    g_autoptr(JsonObject) done = NULL;
    Chain c = {};

    chain_setup(&c, site, 5, TRUE);
    start_commit(&c, ", \"on-error\": \"report\"");
    error = wait_event(&c, "BLOCK_JOB_ERROR");
    g_assert_cmpstr(event_str(error, "action"), ==, "report");
    g_assert_cmpstr(event_str(error, "operation"), ==,
                    site == FAIL_BASE_WRITE ? "write" : "read");
    done = wait_event(&c, "BLOCK_JOB_COMPLETED");
    g_assert_nonnull(event_str(done, "error"));
    assert_chain_unchanged(&c);
    chain_finish(&c, 2, TRUE);
}

/* stop: the job pauses; resumed, it retries the region and completes */
static void test_stop(void)
{
    g_autoptr(JsonObject) error = NULL;
    g_autofree char *status = NULL;
    Chain c = {};

    chain_setup(&c, FAIL_BASE_WRITE, 5, TRUE);
    start_commit(&c, ", \"on-error\": \"stop\"");
    error = wait_event(&c, "BLOCK_JOB_ERROR");
    g_assert_cmpstr(event_str(error, "action"), ==, "stop");
    for (int i = 0; i < 100; i++) {
        g_free(status);
        status = query(&c, "query-block-jobs", "status");
        if (g_str_equal(status, "paused")) {
            break;
        }
        g_usleep(20 * 1000);
    }
    g_assert_cmpstr(status, ==, "paused");
    commit_qmp_ok(c.qmp, "block-job-resume", "{\"device\": \"job0\"}");
    pivot(&c);
    chain_finish(&c, 0, TRUE);
}

/* ignore: reported, and the region is retried, never skipped */
static void test_ignore(void)
{
    g_autoptr(JsonObject) error = NULL;
    Chain c = {};

    chain_setup(&c, FAIL_BASE_WRITE, 5, TRUE);
    start_commit(&c, ", \"on-error\": \"ignore\"");
    error = wait_event(&c, "BLOCK_JOB_ERROR");
    g_assert_cmpstr(event_str(error, "action"), ==, "ignore");
    pivot(&c);
    chain_finish(&c, 0, TRUE);
}

/* enospc: ENOSPC stops, anything else reports */
static void test_enospc(void)
{
    g_autoptr(JsonObject) error = NULL;
    g_autoptr(JsonObject) done = NULL;
    Chain c = {};

    chain_setup(&c, FAIL_BASE_WRITE, 28, TRUE);
    start_commit(&c, ", \"on-error\": \"enospc\"");
    error = wait_event(&c, "BLOCK_JOB_ERROR");
    g_assert_cmpstr(event_str(error, "action"), ==, "stop");
    commit_qmp_ok(c.qmp, "block-job-resume", "{\"device\": \"job0\"}");
    pivot(&c);
    chain_finish(&c, 0, TRUE);

    chain_setup(&c, FAIL_BASE_WRITE, 5, TRUE);
    start_commit(&c, ", \"on-error\": \"enospc\"");
    g_clear_pointer(&error, json_object_unref);
    error = wait_event(&c, "BLOCK_JOB_ERROR");
    g_assert_cmpstr(event_str(error, "action"), ==, "report");
    done = wait_event(&c, "BLOCK_JOB_COMPLETED");
    g_assert_nonnull(event_str(done, "error"));
    assert_chain_unchanged(&c);
    chain_finish(&c, 2, TRUE);
}

/* An intermediate commit that fails leaves top over mid over base */
static void test_intermediate_report(void)
{
    g_autoptr(JsonObject) done = NULL;
    Chain c = {};

    chain_setup(&c, FAIL_BASE_WRITE, 5, TRUE);
    commit_qmp_ok(c.qmp, "livemerge-commit",
           "{\"job-id\": \"job0\", \"device\": \"top\", \"top-node\": "
           "\"mid\"}");
    done = wait_event(&c, "BLOCK_JOB_COMPLETED");
    g_assert_nonnull(event_str(done, "error"));
    assert_chain_unchanged(&c);
    chain_finish(&c, 2, TRUE);
}

/* A chain no export uses: the job owns the filter alone */
static void test_no_export(void)
{
    Chain c = {};

    chain_setup(&c, FAULT_NONE, 0, FALSE);
    start_commit(&c, "");
    pivot(&c);
    g_assert_null(query(&c, "query-block-jobs", "device"));
    chain_finish(&c, 0, FALSE);
}

/*
 * An active commit to READY; then the base's flushes fail (@once: the
 * first only), the guest writes 1 MiB the ending's flushes must carry,
 * and the job is ended with @command (block-job-complete: a pivot;
 * block-job-cancel: the top stays, the base a point-in-time copy).
 * Returns BLOCK_JOB_COMPLETED.
 */
static JsonObject *end_with_flush_fault(Chain *c, gboolean once,
                                        const char *command)
{
    g_autoptr(JsonObject) ready = NULL;
    g_autoptr(GError) err = NULL;

    chain_setup(c, FAULT_NONE, 0, TRUE);
    start_commit(c, ", \"on-error\": \"report\"");
    ready = wait_event(c, "BLOCK_JOB_READY");
    commit_fail_flushes(c->qmp, "base", once);
    lm_test_guest_write_range(c->guest, 2 * COMMIT_MiB / 4096,
                              COMMIT_MiB / 4096, &err);
    g_assert_no_error(err);
    commit_qmp_ok(c->qmp, command, "{\"device\": \"job0\"}");
    return wait_event(c, "BLOCK_JOB_COMPLETED");
}

/*
 * The ending first flushes the base with the guest running; one of those
 * flushes failing is left to the flush of the drained last copy, which
 * succeeds here, so the job ends as asked: an earlier flush used the
 * fault up.  After a pivot the guest's flush of the base succeeds too.
 */
static void test_flush_once(gconstpointer data)
{
    const char *command = data;
    gboolean pivots = g_str_equal(command, "block-job-complete");
    g_autoptr(GError) err = NULL;
    Chain c = {};
    g_autoptr(JsonObject) done = end_with_flush_fault(&c, TRUE, command);

    g_assert_false(json_object_has_member(
        json_object_get_object_member(done, "data"), "error"));
    g_assert_null(query(&c, "query-block-jobs", "device"));
    if (pivots) {
        lm_test_guest_flush(c.guest, &err);
        g_assert_no_error(err);
    } else {
        assert_chain_unchanged(&c);
    }
    chain_finish(&c, pivots ? 0 : 2, TRUE);
}

/*
 * Every flush of the base fails: the job must not end as asked, it fails
 * with the flush's error (the base stays writable: making it read-only
 * again needs a flush too), and the guest keeps its disk on the top with
 * every byte it wrote.  Once the fault is gone the chain takes the same
 * commit again, to the end.
 */
static void test_flush_fails(gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *log = NULL;
    Chain c = {};
    g_autoptr(JsonObject) done = end_with_flush_fault(&c, FALSE, data);

    g_assert_nonnull(event_str(done, "error"));
    log = lm_test_qsd_read_log(c.qsd);
    g_assert_nonnull(strstr(log, "Could not bring 'base' in sync"));

    /* Reading the base's data ends the fault */
    lm_test_guest_verify_all(c.guest, &err);
    g_assert_no_error(err);
    reopen_base(&c, TRUE, "base-file");
    commit_qmp_ok(c.qmp, "blockdev-del", "{\"node-name\": \"base-fault\"}");
    assert_chain_unchanged(&c);

    start_commit(&c, "");
    pivot(&c);
    chain_finish(&c, 0, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/commit/errors/report/base-write",
                         GINT_TO_POINTER(FAIL_BASE_WRITE), test_report);
    g_test_add_data_func("/commit/errors/report/top-read",
                         GINT_TO_POINTER(FAIL_TOP_READ), test_report);
    g_test_add_func("/commit/errors/stop", test_stop);
    g_test_add_func("/commit/errors/ignore", test_ignore);
    g_test_add_func("/commit/errors/enospc", test_enospc);
    g_test_add_func("/commit/errors/intermediate-report",
                    test_intermediate_report);
    g_test_add_func("/commit/errors/no-export", test_no_export);
    g_test_add_data_func("/commit/errors/pivot-flush/once",
                         "block-job-complete", test_flush_once);
    g_test_add_data_func("/commit/errors/pivot-flush/fails",
                         "block-job-complete", test_flush_fails);
    g_test_add_data_func("/commit/errors/cancel-flush/once",
                         "block-job-cancel", test_flush_once);
    g_test_add_data_func("/commit/errors/cancel-flush/fails",
                         "block-job-cancel", test_flush_fails);
    return g_test_run();
}
