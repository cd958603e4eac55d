/*
 * livemerge - livemerge-mirror's on-source-error and on-target-error
 *
 * The disk is layer1 over layer0 (16M, written offline: layer0 0-8M,
 * layer1 6-7M and zeroes at 9-10M), exported as "disk"; the target is a
 * qcow2 image with no backing file, mirrored with sync full.  blkdebug
 * fails the first data write to the target's file, or the first data
 * read from layer1's file, with a chosen errno.  Whatever the policy does
 * with the error, the guest reads back exactly what it wrote; a job that
 * fails leaves the disk on its source with no livemerge node; a job that
 * goes on pivots and the target then holds the whole disk.  A flush of
 * the target that fails at the pivot is injected by putting a blkdebug
 * node under the target once the job is READY.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "commit-fixture.h"

#define MiB COMMIT_MiB
#define EVENT_TIMEOUT_MS 30000
#define EIO_ 5
#define ENOSPC_ 28

typedef enum { FAULT_NONE, FAIL_TARGET_WRITE, FAIL_SOURCE_READ } FaultSite;

typedef struct {
    LmTestQsd *qsd;
    LmQmp *qmp;
    LmTestGuest *guest;
    CommitChain *chain;
    char *target_path;
} Setup;

static void fill(CommitChain *chain, guint layer, LmTestGuest *guest,
                 gpointer data)
{
    (void)chain;
    (void)data;
    if (layer == 0) {
        commit_write(guest, 0, 8 * MiB);
    } else {
        commit_write(guest, 6 * MiB, MiB);
        commit_zero(guest, 9 * MiB, MiB);
    }
}

/*
 * A file node on @path (named @name), through blkdebug failing @event
 * once if set
 */
static char *file_node(const char *name, const char *path, const char *event,
                       int errno_value)
{
    g_autofree char *file = g_strdup_printf(
        "{\"driver\": \"file\", \"node-name\": \"%s\", "
        "\"filename\": \"%s\"}", name, path);

    if (!event) {
        return g_steal_pointer(&file);
    }
    return g_strdup_printf(
        "{\"driver\": \"blkdebug\", \"inject-error\": [{\"event\": \"%s\", "
        "\"errno\": %d, \"once\": true}], \"image\": %s}",
        event, errno_value, file);
}

static gboolean setup(Setup *s, FaultSite site, int errno_value)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *f0 = NULL, *f1 = NULL, *ft = NULL;

    s->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    s->qmp = lm_test_qsd_qmp(s->qsd);
    s->guest = lm_test_guest_new(0);
    s->chain = commit_chain_new_full(s->qsd, 2, NULL, "16M");
    commit_chain_build_offline(s->chain, s->guest, fill, NULL);
    s->target_path = lm_test_qsd_path(s->qsd, "target.qcow2");
    lm_test_image_create(s->target_path, &(LmTestImageOpts) {
                             .size = "16M" });

    f0 = file_node("layer0-file", commit_chain_path(s->chain, 0), NULL, 0);
    f1 = file_node("layer1-file", commit_chain_path(s->chain, 1),
                   site == FAIL_SOURCE_READ ? "read_aio" : NULL, errno_value);
    ft = file_node("target-file", s->target_path,
                   site == FAIL_TARGET_WRITE ? "write_aio" : NULL,
                   errno_value);
    commit_qmp_ok(s->qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"layer0\","
                  " \"read-only\": true, \"file\": %s}", f0);
    commit_qmp_ok(s->qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"layer1\","
                  " \"backing\": \"layer0\", \"file\": %s}", f1);
    commit_qmp_ok(s->qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"target\","
                  " \"backing\": null, \"file\": %s}", ft);
    lm_test_qsd_export(s->qsd, "layer1", COMMIT_CHAIN_EXPORT, &err);
    g_assert_no_error(err);
    lm_test_guest_connect(s->guest, lm_test_qsd_nbd_socket(s->qsd),
                          COMMIT_CHAIN_EXPORT, &err);
    g_assert_no_error(err);
    return commit_require_command(s->qmp, "livemerge-mirror");
}

/*
 * Verify online, stop the daemon, check the images, verify offline from
 * @view (the target after a pivot, else layer1's image).
 */
static void finish(Setup *s, const char *view)
{
    g_autoptr(GError) err = NULL;

    if (view) {
        commit_verify(s->guest);
        lm_test_guest_disconnect(s->guest);
    }
    lm_test_qsd_stop(s->qsd);
    if (view) {
        lm_test_image_check(commit_chain_path(s->chain, 0));
        lm_test_image_check(commit_chain_path(s->chain, 1));
        lm_test_image_check(s->target_path);
        lm_test_guest_open_image(s->guest, view, "qcow2", &err);
        g_assert_no_error(err);
        commit_verify(s->guest);
        lm_test_guest_disconnect(s->guest);
    }
    lm_test_guest_free(s->guest);
    commit_chain_free(s->chain);
    lm_test_qsd_free(s->qsd);
    g_free(s->target_path);
}

static JsonObject *wait_event(Setup *s, const char *name)
{
    g_autoptr(GError) err = NULL;
    JsonObject *ev = lm_qmp_wait_event(s->qmp, name, EVENT_TIMEOUT_MS, &err);

    g_assert_no_error(err);
    return ev;
}

static void start_mirror(Setup *s, FaultSite site, const char *policy)
{
    commit_qmp_ok(s->qmp, "livemerge-mirror",
                  "{\"job-id\": \"m\", \"device\": \"layer1\","
                  " \"target\": \"target\", \"sync\": \"full\", \"%s\": \"%s\"}",
                  site == FAIL_TARGET_WRITE ? "on-target-error"
                                            : "on-source-error", policy);
}

/* The first BLOCK_JOB_ERROR: @action, on the operation that failed */
static void expect_error(Setup *s, FaultSite site, const char *action)
{
    g_autoptr(JsonObject) ev = wait_event(s, "BLOCK_JOB_ERROR");

    g_assert_cmpstr(commit_event_str(ev, "device"), ==, "m");
    g_assert_cmpstr(commit_event_str(ev, "action"), ==, action);
    g_assert_cmpstr(commit_event_str(ev, "operation"), ==,
                    site == FAIL_TARGET_WRITE ? "write" : "read");
}

/* READY, pivot; the export then serves the target */
static void pivot(Setup *s)
{
    g_autoptr(JsonObject) ready = wait_event(s, "BLOCK_JOB_READY");
    g_autoptr(JsonObject) done = NULL;

    commit_qmp_ok(s->qmp, "block-job-complete", "{\"device\": \"m\"}");
    done = wait_event(s, "BLOCK_JOB_COMPLETED");
    g_assert_null(commit_event_str(done, "error"));
    commit_assert_export_chain(s->qmp, "target(rw)");
    commit_assert_no_jobs(s->qmp);
    commit_assert_no_filter_nodes(s->qmp);
}

/* The job's status, waiting for it to become @want (up to 2 s) */
static void wait_status(Setup *s, const char *want)
{
    for (int i = 0; i < 100; i++) {
        g_autoptr(JsonObject) job = commit_query_block_job(s->qmp, "m");

        g_assert_nonnull(job);
        if (g_str_equal(json_object_get_string_member(job, "status"), want)) {
            return;
        }
        g_usleep(20 * 1000);
    }
    g_assert_not_reached();
}

/* report: the job fails, the disk stays on its source */
static void test_report(gconstpointer data)
{
    FaultSite site = GPOINTER_TO_INT(data);
    g_autoptr(JsonObject) done = NULL;
    Setup s = {};

    if (setup(&s, site, EIO_)) {
        start_mirror(&s, site, "report");
        expect_error(&s, site, "report");
        done = wait_event(&s, "BLOCK_JOB_COMPLETED");
        g_assert_nonnull(commit_event_str(done, "error"));
        g_test_message("job failed: %s", commit_event_str(done, "error"));
        commit_assert_export_chain(s.qmp, "layer1(rw) > layer0(ro)");
        commit_assert_no_jobs(s.qmp);
        commit_assert_no_filter_nodes(s.qmp);
    }
    finish(&s, commit_chain_path(s.chain, 1));
}

/*
 * stop: the job pauses; the guest writes meanwhile; resumed, the job
 * retries the region, gets READY and pivots
 */
static void test_stop(gconstpointer data)
{
    FaultSite site = GPOINTER_TO_INT(data);
    Setup s = {};

    if (setup(&s, site, EIO_)) {
        start_mirror(&s, site, "stop");
        expect_error(&s, site, "stop");
        wait_status(&s, "paused");
        commit_write(s.guest, 2 * MiB, MiB);
        commit_write(s.guest, 12 * MiB, MiB);
        commit_qmp_ok(s.qmp, "block-job-resume", "{\"device\": \"m\"}");
        pivot(&s);
        finish(&s, s.target_path);
        return;
    }
    finish(&s, NULL);
}

/* ignore: reported, and the region is retried, never skipped */
static void test_ignore(gconstpointer data)
{
    FaultSite site = GPOINTER_TO_INT(data);
    Setup s = {};

    if (setup(&s, site, EIO_)) {
        start_mirror(&s, site, "ignore");
        expect_error(&s, site, "ignore");
        pivot(&s);
        finish(&s, s.target_path);
        return;
    }
    finish(&s, NULL);
}

/* enospc: ENOSPC stops the job, another errno fails it */
static void test_enospc(gconstpointer data)
{
    FaultSite site = GPOINTER_TO_INT(data);
    g_autoptr(JsonObject) done = NULL;
    Setup s = {};

    if (!setup(&s, site, ENOSPC_)) {
        finish(&s, NULL);
        return;
    }
    start_mirror(&s, site, "enospc");
    expect_error(&s, site, "stop");
    wait_status(&s, "paused");
    commit_qmp_ok(s.qmp, "block-job-resume", "{\"device\": \"m\"}");
    pivot(&s);
    finish(&s, s.target_path);

    memset(&s, 0, sizeof(s));
    setup(&s, site, EIO_);
    start_mirror(&s, site, "enospc");
    expect_error(&s, site, "report");
    done = wait_event(&s, "BLOCK_JOB_COMPLETED");
    g_assert_nonnull(commit_event_str(done, "error"));
    commit_assert_export_chain(s.qmp, "layer1(rw) > layer0(ro)");
    commit_assert_no_jobs(s.qmp);
    commit_assert_no_filter_nodes(s.qmp);
    finish(&s, commit_chain_path(s.chain, 1));
}

/*
 * A mirror to READY; then the target's flushes fail (@once: the first
 * only), the guest writes 1 MiB the pivot's flushes must carry, and the
 * pivot is asked for.  Returns BLOCK_JOB_COMPLETED, or NULL if the
 * daemon has no livemerge-mirror.
 */
static JsonObject *pivot_with_flush_fault(Setup *s, gboolean once)
{
    g_autoptr(JsonObject) ready = NULL;

    if (!setup(s, FAULT_NONE, 0)) {
        return NULL;
    }
    /* on-target-error: report */
    start_mirror(s, FAIL_TARGET_WRITE, "report");
    ready = wait_event(s, "BLOCK_JOB_READY");
    commit_fail_flushes(s->qmp, "target", once);
    commit_write(s->guest, 2 * MiB, MiB);
    commit_qmp_ok(s->qmp, "block-job-complete", "{\"device\": \"m\"}");
    return wait_event(s, "BLOCK_JOB_COMPLETED");
}

/*
 * One of the flushes the pivot makes with the guest running fails: the
 * drained last copy's flush decides, succeeds, and the pivot happens.
 * The fault was used up before it: the guest's flush of the target
 * afterwards succeeds.
 */
static void test_pivot_flush_once(void)
{
    g_autoptr(GError) err = NULL;
    Setup s = {};
    g_autoptr(JsonObject) done = pivot_with_flush_fault(&s, TRUE);

    if (!done) {
        finish(&s, NULL);
        return;
    }
    g_assert_null(commit_event_str(done, "error"));
    commit_assert_export_chain(s.qmp, "target(rw)");
    commit_assert_no_jobs(s.qmp);
    lm_test_guest_flush(s.guest, &err);
    g_assert_no_error(err);
    finish(&s, s.target_path);
}

/*
 * Every flush of the target fails: no pivot, the job fails with the
 * flush's error, and the disk stays on its source with every byte the
 * guest wrote.
 */
static void test_pivot_flush_fails(void)
{
    g_autofree char *log = NULL;
    Setup s = {};
    g_autoptr(JsonObject) done = pivot_with_flush_fault(&s, FALSE);

    if (!done) {
        finish(&s, NULL);
        return;
    }
    g_assert_nonnull(commit_event_str(done, "error"));
    log = lm_test_qsd_read_log(s.qsd);
    g_assert_nonnull(strstr(log, "Could not bring 'target' in sync"));
    commit_assert_export_chain(s.qmp, "layer1(rw) > layer0(ro)");
    commit_assert_no_jobs(s.qmp);
    commit_assert_no_filter_nodes(s.qmp);
    finish(&s, commit_chain_path(s.chain, 1));
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        GTestDataFunc func;
    } policies[] = {
        { "report", test_report }, { "stop", test_stop },
        { "ignore", test_ignore }, { "enospc", test_enospc },
    };

    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(policies); i++) {
        g_autofree char *tw = g_strdup_printf("/mirror/errors/%s/target-write",
                                              policies[i].name);
        g_autofree char *sr = g_strdup_printf("/mirror/errors/%s/source-read",
                                              policies[i].name);

        g_test_add_data_func(tw, GINT_TO_POINTER(FAIL_TARGET_WRITE),
                             policies[i].func);
        g_test_add_data_func(sr, GINT_TO_POINTER(FAIL_SOURCE_READ),
                             policies[i].func);
    }
    g_test_add_func("/mirror/errors/pivot-flush/once", test_pivot_flush_once);
    g_test_add_func("/mirror/errors/pivot-flush/fails",
                    test_pivot_flush_fails);
    return g_test_run();
}
