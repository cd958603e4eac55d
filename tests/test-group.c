/*
 * livemerge - groups of disks: livemerge-complete and livemerge-cancel
 *
 * One daemon serves three disks, "disk0".."disk2", each with its own
 * guest writing 4 KiB blocks at QD4; the three guests share one
 * generation clock.  disk0 is src0 over base0 (an active commit into
 * base0, in the pivot cases); the others are src1, src2 mirrored (sync
 * full) into tgt1, tgt2 (and in the cancel case disk0 is mirrored into
 * tgt0 too).  16M each.
 *
 *  - complete: the three READY jobs pivot as one; every export then
 *    serves its new node and every block verifies, online and offline;
 *  - not-ready: one job is not READY: the group is refused naming it,
 *    nothing pivots, all keep running; once it is READY the group pivots;
 *  - fail-after-1: the switch fails after the first disk (x-fail-after):
 *    refused naming a job, all switched back, all still READY, every
 *    block verifies; then a normal group pivot works;
 *  - cancel: three mirrors (or an active commit and two mirrors) under
 *    writing guests; the group cancel leaves three targets (the commit's
 *    base) that are one instant of the three disks (no target holds a
 *    write newer than one another target lacks, tests/consistent-cut.h)
 *    while the exports stay on the sources.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "commit-fixture.h"
#include "consistent-cut.h"

#define MiB COMMIT_MiB
#define N_DISKS 3
#define DISK_SIZE "16M"
#define READY_TIMEOUT_MS 60000

typedef enum { KIND_COMMIT, KIND_MIRROR } Kind;

typedef struct {
    LmTestQsd *qsd;
    LmQmp *qmp;
    LmTestGuestClock *clock;
    LmTestGuest *guest[N_DISKS];
    Kind kind[N_DISKS];
    CommitJobLog *log[N_DISKS];
    gboolean loaded;
} Group;

static char *image(Group *g, const char *stem, guint i)
{
    g_autofree char *name = g_strdup_printf("%s%u.qcow2", stem, i);

    return lm_test_qsd_path(g->qsd, name);
}

/* Data over the first 4M, a block every 37 blocks, zeroes at 5-6M */
static void write_initial(LmTestGuest *guest)
{
    commit_write(guest, 0, 4 * MiB);
    for (guint64 b = 3; b < 16 * MiB / 4096; b += 37) {
        commit_write(guest, b * 4096, 4096);
    }
    commit_zero(guest, 5 * MiB, MiB);
}

/* Disk @i: src over base (commit) or alone with a target (mirror) */
static void add_disk(Group *g, guint i, Kind kind)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *src = image(g, "src", i);
    g_autofree char *base = image(g, "base", i);
    g_autofree char *tgt = image(g, "tgt", i);
    g_autofree char *node = g_strdup_printf("src%u", i);
    g_autofree char *base_node = g_strdup_printf("base%u", i);
    g_autofree char *tgt_node = g_strdup_printf("tgt%u", i);
    g_autofree char *export = g_strdup_printf("disk%u", i);

    g->kind[i] = kind;
    if (kind == KIND_COMMIT) {
        lm_test_image_create(base, &(LmTestImageOpts) { .size = DISK_SIZE });
        lm_test_image_create(src, &(LmTestImageOpts) { .backing = base });
        commit_add_image_node(g->qmp, base_node, base, "qcow2", NULL);
        commit_add_image_node(g->qmp, node, src, "qcow2", base_node);
    } else {
        lm_test_image_create(src, &(LmTestImageOpts) { .size = DISK_SIZE });
        lm_test_image_create(tgt, &(LmTestImageOpts) { .size = DISK_SIZE });
        commit_add_image_node(g->qmp, node, src, "qcow2", NULL);
        commit_add_image_node(g->qmp, tgt_node, tgt, "qcow2", NULL);
    }
    lm_test_qsd_export(g->qsd, node, export, &err);
    g_assert_no_error(err);
    g->guest[i] = lm_test_guest_new(0);
    lm_test_guest_use_clock(g->guest[i], g->clock);
    lm_test_guest_connect(g->guest[i], lm_test_qsd_nbd_socket(g->qsd),
                          export, &err);
    g_assert_no_error(err);
    write_initial(g->guest[i]);
}

/* FALSE (the test skipped) if the daemon lacks a group command */
static gboolean group_setup(Group *g, Kind disk0_kind)
{
    g_autoptr(GError) err = NULL;

    g->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    g->qmp = lm_test_qsd_qmp(g->qsd);
    g->clock = lm_test_guest_clock_new();
    for (guint i = 0; i < N_DISKS; i++) {
        add_disk(g, i, i == 0 ? disk0_kind : KIND_MIRROR);
    }
    return commit_require_command(g->qmp, "livemerge-complete") &&
           commit_require_command(g->qmp, "livemerge-cancel") &&
           commit_require_command(g->qmp, "livemerge-mirror");
}

static void start_loads(Group *g)
{
    for (guint i = 0; i < N_DISKS; i++) {
        g_autoptr(GError) err = NULL;

        lm_test_guest_start_load(g->guest[i], &(LmTestLoad) {
            .pattern = LM_TEST_LOAD_RANDOM, .queue_depth = 4,
            .seed = g_test_rand_int() }, &err);
        g_assert_no_error(err);
    }
    g->loaded = TRUE;
}

static void stop_loads(Group *g)
{
    for (guint i = 0; i < N_DISKS && g->loaded; i++) {
        g_autoptr(GError) err = NULL;
        LmTestLoadStats stats;

        lm_test_guest_stop_load(g->guest[i], &stats, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(stats.errors, ==, 0);
        g_test_message("disk%u: %" G_GUINT64_FORMAT " guest writes", i,
                       stats.writes);
    }
    g->loaded = FALSE;
}

static void verify_all(Group *g)
{
    for (guint i = 0; i < N_DISKS; i++) {
        commit_verify(g->guest[i]);
    }
}

/* Job "j@i" on disk @i; @extra: more arguments */
static void start_job(Group *g, guint i, const char *extra)
{
    g_autofree char *id = g_strdup_printf("j%u", i);

    g->log[i] = commit_job_log_new(id);
    if (g->kind[i] == KIND_COMMIT) {
        commit_start(g->qmp, "{\"job-id\": \"j%u\", \"device\": \"src%u\"%s}",
                     i, i, extra);
    } else {
        commit_qmp_ok(g->qmp, "livemerge-mirror",
                      "{\"job-id\": \"j%u\", \"device\": \"src%u\","
                      " \"target\": \"tgt%u\", \"sync\": \"full\"%s}",
                      i, i, i, extra);
    }
}

static const char *job_type(Group *g, guint i)
{
    return g->kind[i] == KIND_COMMIT ? "commit" : "mirror";
}

/* The node export disk@i serves */
static char *served(Group *g, guint i)
{
    g_autofree char *export = g_strdup_printf("disk%u", i);

    return commit_export_node(g->qmp, export);
}

/* The node disk@i serves after a pivot */
static char *pivoted_node(Group *g, guint i)
{
    return g_strdup_printf(g->kind[i] == KIND_COMMIT ? "base%u" : "tgt%u", i);
}

/* Every export serves its source; every job still has @status */
static void assert_nothing_pivoted(Group *g, const char *const *status)
{
    for (guint i = 0; i < N_DISKS; i++) {
        g_autofree char *node = served(g, i);
        g_autofree char *chain = commit_describe_chain(g->qmp, node);
        g_autofree char *want = g_strdup_printf("[livemerge](rw) > src%u(rw)",
                                                i);
        g_autoptr(JsonObject) job = commit_query_block_job(g->qmp,
                                                           g->log[i]->job_id);

        /* The job's filter over the source, as before the command */
        g_test_message("disk%u: %s", i, chain);
        g_assert_nonnull(strstr(chain, want));
        g_assert_nonnull(job);
        g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                        status[i]);
    }
}

/* livemerge-complete of all three, then every disk on its new node */
static void complete_all(Group *g)
{
    commit_qmp_ok(g->qmp, "livemerge-complete",
                  "{\"job-ids\": [\"j0\", \"j1\", \"j2\"]}");
    commit_job_logs_wait(g->log, N_DISKS, g->qmp, "null", -1);
    for (guint i = 0; i < N_DISKS; i++) {
        g_autofree char *node = served(g, i);
        g_autofree char *want = pivoted_node(g, i);

        commit_job_assert_completed_type(g->log[i], job_type(g, i));
        g_assert_cmpstr(node, ==, want);
    }
    commit_assert_no_jobs(g->qmp);
    commit_assert_no_filter_nodes(g->qmp);
}

/*
 * The end: verify online, stop the daemon, check every image, verify
 * each disk offline from @pivoted ? its new image : its source.
 */
static void group_stop(Group *g, gboolean pivoted)
{
    stop_loads(g);
    for (guint i = 0; i < N_DISKS && g->guest[i]; i++) {
        commit_verify(g->guest[i]);
        lm_test_guest_disconnect(g->guest[i]);
    }
    lm_test_qsd_stop(g->qsd);
    for (guint i = 0; i < N_DISKS && g->guest[i]; i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *src = image(g, "src", i);
        g_autofree char *other = image(g, g->kind[i] == KIND_COMMIT ? "base"
                                                                    : "tgt",
                                       i);

        lm_test_image_check(src);
        lm_test_image_check(other);
        lm_test_guest_open_image(g->guest[i], pivoted ? other : src, "qcow2",
                                 &err);
        g_assert_no_error(err);
        commit_verify(g->guest[i]);
        lm_test_guest_disconnect(g->guest[i]);
    }
}

static void group_free(Group *g)
{
    for (guint i = 0; i < N_DISKS; i++) {
        lm_test_guest_free(g->guest[i]);
        commit_job_log_free(g->log[i]);
    }
    lm_test_guest_clock_unref(g->clock);
    lm_test_qsd_free(g->qsd);
}

static void group_finish(Group *g, gboolean pivoted)
{
    group_stop(g, pivoted);
    group_free(g);
}

static void wait_all_ready(Group *g)
{
    commit_job_logs_wait(g->log, N_DISKS, g->qmp, "ready", READY_TIMEOUT_MS);
}

/* ------------------------------------------------------------------ */

static void test_complete(void)
{
    Group g = {};

    if (!group_setup(&g, KIND_COMMIT)) {
        group_finish(&g, FALSE);
        return;
    }
    start_loads(&g);
    for (guint i = 0; i < N_DISKS; i++) {
        start_job(&g, i, "");
    }
    wait_all_ready(&g);
    complete_all(&g);
    /* The guests go on writing, now on the new nodes */
    g_usleep(200 * 1000);
    group_finish(&g, TRUE);
}

static void test_not_ready(void)
{
    static const char *const status[] = { "ready", "ready", "running" };
    Group g = {};

    if (!group_setup(&g, KIND_COMMIT)) {
        group_finish(&g, FALSE);
        return;
    }
    start_loads(&g);
    /* 1 byte/s, one copy at a time: j2 stays far from READY (started
     * first, so that its events are all in before the others') */
    start_job(&g, 2, ", \"speed\": 1, \"max-in-flight\": 1");
    commit_job_log_wait(g.log[2], g.qmp, "running", -1);
    start_job(&g, 0, "");
    start_job(&g, 1, "");
    commit_job_logs_wait(g.log, 2, g.qmp, "ready", READY_TIMEOUT_MS);

    commit_assert_refusal(g.qmp, "livemerge-complete",
                          "{\"job-ids\": [\"j0\", \"j1\", \"j2\"]}", NULL,
                          "job-ids", "j2");
    assert_nothing_pivoted(&g, status);
    stop_loads(&g);
    verify_all(&g);

    /* Once j2 is READY too, the group pivots */
    start_loads(&g);
    commit_qmp_ok(g.qmp, "block-job-set-speed",
                  "{\"device\": \"j2\", \"speed\": 0}");
    wait_all_ready(&g);
    complete_all(&g);
    group_finish(&g, TRUE);
}

static void test_fail_after_first(void)
{
    static const char *const status[] = { "ready", "ready", "ready" };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;
    Group g = {};

    if (!group_setup(&g, KIND_COMMIT)) {
        group_finish(&g, FALSE);
        return;
    }
    start_loads(&g);
    for (guint i = 0; i < N_DISKS; i++) {
        start_job(&g, i, "");
    }
    wait_all_ready(&g);

    ret = lm_qmp_execute_json(g.qmp, "livemerge-complete",
                              "{\"job-ids\": [\"j0\", \"j1\", \"j2\"],"
                              " \"x-fail-after\": 1}", &err);
    g_assert_null(ret);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_test_message("x-fail-after 1: %s", err->message);
    /* The error names the job whose switch failed */
    g_assert_true(strstr(err->message, "'j0'") ||
                  strstr(err->message, "'j1'") ||
                  strstr(err->message, "'j2'"));
    /* All switched back, all still READY, the guests' data all there */
    assert_nothing_pivoted(&g, status);
    stop_loads(&g);
    verify_all(&g);

    start_loads(&g);
    complete_all(&g);
    group_finish(&g, TRUE);
}

static void test_cancel(gconstpointer data)
{
    Kind disk0 = GPOINTER_TO_INT(data);
    ConsistentCutDisk copies[N_DISKS];
    char *tgt[N_DISKS];
    g_autofree char *src1 = NULL;
    Group g = {};

    if (!group_setup(&g, disk0)) {
        group_finish(&g, FALSE);
        return;
    }
    start_loads(&g);
    for (guint i = 0; i < N_DISKS; i++) {
        start_job(&g, i, "");
    }
    wait_all_ready(&g);
    /* Some writes in the READY state before the instant is taken */
    g_usleep(300 * 1000);
    commit_qmp_ok(g.qmp, "livemerge-cancel",
                  "{\"job-ids\": [\"j0\", \"j1\", \"j2\"]}");
    commit_job_logs_wait(g.log, N_DISKS, g.qmp, "null", -1);
    for (guint i = 0; i < N_DISKS; i++) {
        g_autofree char *node = served(&g, i);
        g_autofree char *want = g_strdup_printf("src%u", i);

        /* A soft cancel after READY: completed, the source kept */
        commit_job_assert_completed_type(g.log[i], job_type(&g, i));
        g_assert_cmpstr(node, ==, want);
    }
    commit_assert_no_jobs(g.qmp);
    commit_assert_no_filter_nodes(g.qmp);
    /* The guests go on writing on the sources */
    g_usleep(200 * 1000);
    group_stop(&g, FALSE);

    /* The three targets (an active commit's: its base, which holds the
     * whole disk once READY): one instant of the three disks */
    for (guint i = 0; i < N_DISKS; i++) {
        tgt[i] = image(&g, g.kind[i] == KIND_COMMIT ? "base" : "tgt", i);
        copies[i] = (ConsistentCutDisk) { g.guest[i], tgt[i], "qcow2" };
    }
    consistent_cut_assert(copies, N_DISKS);
    /*
     * The check has teeth: a source, which the guest wrote on after the
     * cancel, taken with the other targets is no instant of the disks
     */
    src1 = image(&g, "src", 1);
    copies[1].image = src1;
    g_assert_false(consistent_cut_check(copies, N_DISKS));
    for (guint i = 0; i < N_DISKS; i++) {
        g_free(tgt[i]);
    }
    group_free(&g);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/group/complete/all", test_complete);
    g_test_add_func("/group/complete/not-ready", test_not_ready);
    g_test_add_func("/group/complete/fail-after-1", test_fail_after_first);
    g_test_add_data_func("/group/cancel/mirrors", GINT_TO_POINTER(KIND_MIRROR),
                         test_cancel);
    g_test_add_data_func("/group/cancel/commit-and-mirrors",
                         GINT_TO_POINTER(KIND_COMMIT), test_cancel);
    return g_test_run();
}
