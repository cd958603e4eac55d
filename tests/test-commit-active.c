/*
 * Active commit: every copy mode under every guest load, with every ending
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A base with data and an overlay (the active layer, exported over NBD)
 * with more; the guest keeps writing while livemerge-commit copies the
 * overlay into the base.  Whatever the ending, the guest must read back
 * exactly what it wrote, and the images must be clean.
 */

#include <signal.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "commit-fixture.h"
#include "lm-qmp.h"
#include "lm-test-guest.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

/* How long to wait for READY under load before giving the job quiet */
#define READY_UNDER_LOAD_MS 8000
#define EVENT_TIMEOUT_MS    60000

typedef enum { LOAD_IDLE, LOAD_RANDOM_4K, LOAD_SEQUENTIAL_1M } Load;
typedef enum { END_PIVOT, END_CANCEL_BEFORE_READY, END_CANCEL_AFTER_READY } Ending;

static const char *const load_names[] = { "idle", "random-4k-qd16",
                                          "sequential-1m" };
static const char *const ending_names[] = { "pivot", "cancel-before-ready",
                                            "cancel-after-ready" };
static const char *const mode_names[] = { "background", "write-blocking",
                                          "adaptive" };

typedef struct {
    const char *mode;
    Load load;
    Ending ending;
} Case;

typedef struct {
    LmTestQsd *qsd;
    LmQmp *qmp;
    LmTestGuest *guest;
    char *base;
    char *overlay;
} Disk;

/*
 * base.qcow2 (node "base", read-only) <- overlay.qcow2 (node "overlay",
 * exported as "disk"); the guest wrote the first half of the disk before
 * the snapshot (offline), scattered blocks and zeroes after it.
 */
static void disk_setup(Disk *d)
{
    g_autoptr(GError) err = NULL;
    guint64 n;

    d->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    d->qmp = lm_test_qsd_qmp(d->qsd);
    d->base = lm_test_qsd_path(d->qsd, "base.qcow2");
    d->overlay = lm_test_qsd_path(d->qsd, "overlay.qcow2");
    lm_test_image_create(d->base, &(LmTestImageOpts) { .size = "64M" });
    lm_test_image_create(d->overlay, &(LmTestImageOpts) {
                             .backing = d->base });

    /* The base's share of the data, written offline */
    d->guest = lm_test_guest_new(0);
    g_assert_true(lm_test_guest_open_image(d->guest, d->base, "qcow2", &err));
    g_assert_no_error(err);
    n = lm_test_guest_n_blocks(d->guest);
    g_assert_cmpuint(n, ==, 64 * 1024 * 1024 / lm_test_guest_block_size(d->guest));
    for (guint64 b = 0; b < n / 2; b += 256) {
        lm_test_guest_write_range(d->guest, b, 256, &err);
        g_assert_no_error(err);
    }
    lm_test_guest_disconnect(d->guest);

    lm_qmp_runf(d->qmp, &err, "blockdev-add",
                "{\"driver\": \"qcow2\", \"node-name\": \"base\", "
                "\"read-only\": true, \"file\": {\"driver\": \"file\", "
                "\"node-name\": \"base-file\", \"filename\": \"%s\"}}",
                d->base);
    g_assert_no_error(err);
    lm_qmp_runf(d->qmp, &err, "blockdev-add",
                "{\"driver\": \"qcow2\", \"node-name\": \"overlay\", "
                "\"backing\": \"base\", \"discard\": \"unmap\", \"file\": "
                "{\"driver\": \"file\", \"filename\": \"%s\"}}", d->overlay);
    g_assert_no_error(err);
    lm_test_qsd_export(d->qsd, "overlay", "disk", &err);
    g_assert_no_error(err);

    /* The overlay's share, through the daemon */
    g_assert_true(lm_test_guest_connect(d->guest, lm_test_qsd_nbd_socket(d->qsd),
                                        "disk", &err));
    g_assert_no_error(err);
    for (guint64 b = 7; b < n; b += 61) {
        lm_test_guest_write_block(d->guest, b, &err);
        g_assert_no_error(err);
    }
    lm_test_guest_zero_range(d->guest, n / 4, 64, &err);
    g_assert_no_error(err);
}

static void disk_teardown(Disk *d)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(lm_test_guest_verify_all(d->guest, &err));
    g_assert_no_error(err);
    lm_test_guest_disconnect(d->guest);
    lm_test_qsd_stop(d->qsd);
    lm_test_image_check(d->base);
    lm_test_image_check(d->overlay);
    lm_test_guest_free(d->guest);
    lm_test_qsd_free(d->qsd);
    g_free(d->base);
    g_free(d->overlay);
}

static void start_load(Disk *d, Load load)
{
    g_autoptr(GError) err = NULL;
    LmTestLoad l = { .queue_depth = 16, .seed = g_test_rand_int() };

    switch (load) {
    case LOAD_IDLE:
        return;
    case LOAD_RANDOM_4K:
        l.pattern = LM_TEST_LOAD_RANDOM;
        break;
    case LOAD_SEQUENTIAL_1M:
        l.pattern = LM_TEST_LOAD_SEQUENTIAL;
        l.request_size = 1024 * 1024;
        l.queue_depth = 4;
        break;
    }
    g_assert_true(lm_test_guest_start_load(d->guest, &l, &err));
    g_assert_no_error(err);
}

static void stop_load(Disk *d, Load load)
{
    g_autoptr(GError) err = NULL;
    LmTestLoadStats stats;

    if (load == LOAD_IDLE) {
        return;
    }
    g_assert_true(lm_test_guest_stop_load(d->guest, &stats, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(stats.errors, ==, 0);
    g_assert_cmpuint(stats.writes, >, 0);
}

static JsonObject *query_job(Disk *d)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_executef(d->qmp, &err,
                                              "query-block-jobs", NULL);
    JsonArray *jobs;

    g_assert_no_error(err);
    jobs = json_node_get_array(ret);
    if (!json_array_get_length(jobs)) {
        return NULL;
    }
    return json_object_ref(json_array_get_object_element(jobs, 0));
}

/* The node the export serves, and whether the named node is read-only */
static char *export_node(Disk *d)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_executef(d->qmp, &err,
                                              "query-block-exports", NULL);

    g_assert_no_error(err);
    return g_strdup(json_object_get_string_member(
        json_array_get_object_element(json_node_get_array(ret), 0),
        "node-name"));
}

static void assert_nodes(Disk *d, gboolean base_ro)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_executef(d->qmp, &err,
        "query-named-block-nodes", "{\"flat\": true}");
    JsonArray *nodes;
    gboolean seen_base = FALSE;
    /* base, overlay and their file nodes: nothing more, nothing less */
    const guint expected_nodes = 4;

    g_assert_no_error(err);
    nodes = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *name = json_object_get_string_member(n, "node-name");

        /* No filter, implicit or named, survives the job */
        g_assert_cmpstr(json_object_get_string_member(n, "drv"), !=,
                        "livemerge");
        if (g_str_equal(name, "base")) {
            seen_base = TRUE;
            g_assert_cmpint(json_object_get_boolean_member(n, "ro"), ==,
                            base_ro);
        }
    }
    g_assert_true(seen_base);
    g_assert_cmpuint(json_array_get_length(nodes), ==, expected_nodes);
}

static JsonObject *wait_event(Disk *d, const char *name)
{
    g_autoptr(GError) err = NULL;
    JsonObject *ev = lm_qmp_wait_event(d->qmp, name, EVENT_TIMEOUT_MS, &err);

    g_assert_no_error(err);
    return ev;
}

/* READY, giving a background-mode job quiet if the load outruns it */
static void wait_ready(Disk *d, const Case *c, gboolean *load_running)
{
    g_autoptr(GError) err = NULL;
    /* write-blocking and adaptive must converge: no deadline but the
     * harness's; background gets READY_UNDER_LOAD_MS under load */
    gboolean background = g_str_equal(c->mode, "background");
    JsonObject *ev = lm_qmp_wait_event(d->qmp, "BLOCK_JOB_READY",
                                       background ? READY_UNDER_LOAD_MS
                                                  : EVENT_TIMEOUT_MS, &err);

    if (!ev && background && *load_running) {
        /* Background copying need not converge under load; it must once
         * the guest is quiet */
        g_test_message("background mode not READY under load: stopping it");
        g_clear_error(&err);
        stop_load(d, c->load);
        *load_running = FALSE;
        ev = wait_event(d, "BLOCK_JOB_READY");
    }
    g_assert_no_error(err);
    g_assert_nonnull(ev);
    json_object_unref(ev);
}

static void assert_no_job_error(JsonObject *ev)
{
    JsonObject *data = json_object_get_object_member(ev, "data");

    g_assert_false(json_object_has_member(data, "error"));
    g_assert_cmpint(json_object_get_int_member(data, "offset"), ==,
                    json_object_get_int_member(data, "len"));
    /* The overlay holds a block in every fourth cluster at least */
    g_assert_cmpint(json_object_get_int_member(data, "len"), >=,
                    8 * 1024 * 1024);
}

/* block-job-complete on a READY job, which then completes without error */
static void pivot(Disk *d)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) ev = NULL;

    lm_qmp_runf(d->qmp, &err, "block-job-complete", "{\"device\": \"job0\"}");
    g_assert_no_error(err);
    ev = wait_event(d, "BLOCK_JOB_COMPLETED");
    assert_no_job_error(ev);
}

static void test_active_commit(gconstpointer opaque)
{
    const Case *c = opaque;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) ev = NULL;
    g_autofree char *node = NULL;
    gboolean load_running = c->load != LOAD_IDLE;
    Disk d = {};

    disk_setup(&d);
    start_load(&d, c->load);

    /* A slow job for a cancel before READY, else the engine's defaults */
    lm_qmp_runf(d.qmp, &err, "livemerge-commit",
                "{\"job-id\": \"job0\", \"device\": \"overlay\", "
                "\"copy-mode\": \"%s\", \"speed\": %d}", c->mode,
                c->ending == END_CANCEL_BEFORE_READY ? 1024 * 1024 : 0);
    g_assert_no_error(err);

    switch (c->ending) {
    case END_PIVOT:
        wait_ready(&d, c, &load_running);
        pivot(&d);
        /* The export uses the base now, read-write */
        node = export_node(&d);
        g_assert_cmpstr(node, ==, "base");
        assert_nodes(&d, FALSE);
        break;
    case END_CANCEL_BEFORE_READY:
        lm_qmp_runf(d.qmp, &err, "block-job-cancel", "{\"device\": \"job0\"}");
        g_assert_no_error(err);
        ev = wait_event(&d, "BLOCK_JOB_CANCELLED");
        node = export_node(&d);
        g_assert_cmpstr(node, ==, "overlay");
        assert_nodes(&d, TRUE);
        break;
    case END_CANCEL_AFTER_READY:
        wait_ready(&d, c, &load_running);
        lm_qmp_runf(d.qmp, &err, "block-job-cancel", "{\"device\": \"job0\"}");
        g_assert_no_error(err);
        /* Like QEMU: the job completes, the overlay stays active */
        ev = wait_event(&d, "BLOCK_JOB_COMPLETED");
        g_assert_false(json_object_has_member(
            json_object_get_object_member(ev, "data"), "error"));
        node = export_node(&d);
        g_assert_cmpstr(node, ==, "overlay");
        assert_nodes(&d, TRUE);
        break;
    }
    g_assert_null(query_job(&d));

    /* The guest goes on writing through whatever it now uses */
    if (load_running) {
        g_usleep(200 * 1000);
        stop_load(&d, c->load);
    }
    disk_teardown(&d);
}

/*
 * A write-blocking job whose copy hardly moves (speed: one granule every
 * 16 s) while the guest rewrites its whole disk in 1 MiB writes: every
 * write covers its granules whole, cleans them, and the job must get in
 * sync through the guest's writes alone.  Were the writes to dirty
 * regions left to the copy, READY would be minutes away.
 */
static void test_guest_writes_clean(void)
{
    g_autoptr(GError) err = NULL;
    const guint64 per_write = 1024 * 1024 / 4096;
    Disk d = {};
    guint64 n;

    disk_setup(&d);
    n = lm_test_guest_n_blocks(d.guest);
    g_assert_cmpuint(lm_test_guest_block_size(d.guest), ==, 4096);

    lm_qmp_runf(d.qmp, &err, "livemerge-commit",
                "{\"job-id\": \"job0\", \"device\": \"overlay\", "
                "\"copy-mode\": \"write-blocking\", \"speed\": 4096}");
    g_assert_no_error(err);
    for (guint64 b = 0; b < n; b += per_write) {
        g_assert_true(lm_test_guest_write_range(d.guest, b, per_write,
                                                &err));
        g_assert_no_error(err);
    }
    json_object_unref(wait_event(&d, "BLOCK_JOB_READY"));
    pivot(&d);
    disk_teardown(&d);
}

/* What the overlay itself holds (data or zero clusters), in bytes */
static guint64 overlay_holds(Disk *d)
{
    g_autoptr(GArray) map = lm_test_image_map(d->overlay);
    guint64 bytes = 0;

    for (guint i = 0; i < map->len; i++) {
        LmTestMapEntry *e = &g_array_index(map, LmTestMapEntry, i);

        if (e->depth == 0 && e->present) {
            bytes += e->length;
        }
    }
    return bytes;
}

/* The guest's flush makes the daemon write the overlay's metadata out */
static guint64 overlay_holds_flushed(Disk *d)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(lm_test_guest_flush(d->guest, &err));
    g_assert_no_error(err);
    return overlay_holds(d);
}

static gint64 job_progress(Disk *d, gint64 *len)
{
    g_autoptr(JsonObject) job = query_job(d);

    g_assert_nonnull(job);
    *len = json_object_get_int_member(job, "len");
    return json_object_get_int_member(job, "offset");
}

/* Until the job has done @percent of its work */
static void wait_progress(Disk *d, int percent)
{
    gint64 len, offset;

    for (int i = 0; i < EVENT_TIMEOUT_MS / 50; i++) {
        offset = job_progress(d, &len);
        if (len > 0 && offset * 100 >= len * percent) {
            return;
        }
        g_usleep(50 * 1000);
    }
    g_assert_not_reached();
}

/* A commit at 8 MiB/s: several rounds before READY on the 64 MiB disk */
static void start_slow_commit(Disk *d)
{
    g_autoptr(GError) err = NULL;

    lm_qmp_runf(d->qmp, &err, "livemerge-commit",
                "{\"job-id\": \"job0\", \"device\": \"overlay\", "
                "\"speed\": %d}", 8 * 1024 * 1024);
    g_assert_no_error(err);
}

/*
 * An active commit empties the overlay as it goes: at READY, with the
 * guest still writing, the overlay holds nothing (every write goes to
 * the base alone), and the pivot finds everything in the base.
 */
static void test_empties_top(void)
{
    g_autoptr(GError) err = NULL;
    gboolean load_running = TRUE;
    const Case c = { "adaptive", LOAD_RANDOM_4K, END_PIVOT };
    Disk d = {};

    disk_setup(&d);
    g_assert_cmpuint(overlay_holds_flushed(&d), >=, 8 * 1024 * 1024);
    start_load(&d, c.load);
    lm_qmp_runf(d.qmp, &err, "livemerge-commit",
                "{\"job-id\": \"job0\", \"device\": \"overlay\"}");
    g_assert_no_error(err);
    wait_ready(&d, &c, &load_running);
    g_usleep(200 * 1000);
    g_assert_cmpuint(overlay_holds_flushed(&d), ==, 0);

    pivot(&d);
    stop_load(&d, c.load);
    disk_teardown(&d);
}

/*
 * A commit that gave the whole overlay back has nothing to flush at the
 * pivot: its rounds made every copy durable before giving it back, and
 * what the guest wrote to the base since is the guest's to flush.  So
 * with every flush of the base failing from READY on, the pivot still
 * succeeds, and the guest's own flush after it reports the failure (a
 * job whose copies or mirrored writes were not flushed must not pivot:
 * /commit/errors/pivot-flush/fails).
 */
static void test_empties_top_pivot_no_flush(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *node = NULL;
    gboolean load_running = FALSE;
    const Case c = { "adaptive", LOAD_IDLE, END_PIVOT };
    Disk d = {};

    disk_setup(&d);
    lm_qmp_runf(d.qmp, &err, "livemerge-commit",
                "{\"job-id\": \"job0\", \"device\": \"overlay\"}");
    g_assert_no_error(err);
    wait_ready(&d, &c, &load_running);
    g_assert_cmpuint(overlay_holds_flushed(&d), ==, 0);

    commit_fail_flushes(d.qmp, "base", FALSE);
    g_assert_true(lm_test_guest_write_range(d.guest, 0, 256, &err));
    g_assert_no_error(err);
    pivot(&d);
    node = export_node(&d);
    g_assert_cmpstr(node, ==, "base");

    g_assert_false(lm_test_guest_flush(d.guest, &err));
    g_assert_nonnull(err);
    g_test_message("the guest's flush after the pivot: %s", err->message);
    g_clear_error(&err);
    /* Reading the base's data ends the fault (commit_add_flush_fault()) */
    disk_teardown(&d);
}

/*
 * Cancelled half way, the commit leaves an overlay that gave part of
 * itself back to the base: the guest reads everything it wrote through
 * it, before and after, and goes on writing to it.  With the guest quiet,
 * only give-backs change what the overlay holds.
 */
static void test_empties_top_cancel(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) ev = NULL;
    Disk d = {};
    guint64 quiet;

    disk_setup(&d);
    start_load(&d, LOAD_RANDOM_4K);
    start_slow_commit(&d);
    wait_progress(&d, 30);
    stop_load(&d, LOAD_RANDOM_4K);
    quiet = overlay_holds_flushed(&d);
    wait_progress(&d, 70);
    g_assert_cmpuint(overlay_holds_flushed(&d), <, quiet);

    start_load(&d, LOAD_RANDOM_4K);
    lm_qmp_runf(d.qmp, &err, "block-job-cancel", "{\"device\": \"job0\"}");
    g_assert_no_error(err);
    ev = wait_event(&d, "BLOCK_JOB_CANCELLED");
    g_assert_null(query_job(&d));
    g_usleep(300 * 1000);
    stop_load(&d, LOAD_RANDOM_4K);
    disk_teardown(&d);
}

/*
 * What the commit copies into a base on the host's page cache does not
 * stay there: each round drops what it made durable.  The overlay holds
 * 32 MiB more than the scattered blocks; the base starts with nothing
 * cached, and the guest is quiet, so only the copy fills its pages.
 */
static void test_empties_top_page_cache(void)
{
    g_autoptr(GError) err = NULL;
    gboolean load_running = FALSE;
    const Case c = { "adaptive", LOAD_IDLE, END_PIVOT };
    guint64 n, held, cached;
    Disk d = {};

    disk_setup(&d);
    n = lm_test_guest_n_blocks(d.guest);
    lm_test_guest_write_range(d.guest, n / 2, n / 2, &err);
    g_assert_no_error(err);
    g_assert_true(lm_test_guest_flush(d.guest, &err));
    g_assert_no_error(err);
    held = overlay_holds_flushed(&d);
    g_assert_cmpuint(held, >=, 32 * 1024 * 1024);
    lm_test_image_drop_cache(d.base);

    lm_qmp_runf(d.qmp, &err, "livemerge-commit",
                "{\"job-id\": \"job0\", \"device\": \"overlay\"}");
    g_assert_no_error(err);
    wait_ready(&d, &c, &load_running);
    cached = lm_test_image_cached_bytes(d.base);
    g_test_message("copied %" G_GUINT64_FORMAT " bytes, the base's file "
                   "has %" G_GUINT64_FORMAT " cached", held, cached);
    g_assert_cmpuint(cached, <, held / 4);

    pivot(&d);
    disk_teardown(&d);
}

/*
 * The daemon killed while the commit empties the overlay: what the guest
 * flushed is what the chain reads, offline, and neither image is corrupt
 * (leaked clusters, as any crash of a qcow2 writer may leave, are
 * allowed).  Every region given back was durable in the base first.
 */
static void test_empties_top_crash(void)
{
    g_autoptr(GError) err = NULL;
    LmTestLoadStats stats;
    Disk d = {};

    disk_setup(&d);
    start_load(&d, LOAD_RANDOM_4K);
    start_slow_commit(&d);
    wait_progress(&d, 40);
    /* Its last writes flushed; the job goes on giving regions back */
    g_assert_true(lm_test_guest_stop_load(d.guest, &stats, &err));
    g_assert_no_error(err);
    wait_progress(&d, 60);
    lm_test_qsd_kill(d.qsd, SIGKILL);
    lm_test_guest_crashed(d.guest);
    lm_test_guest_disconnect(d.guest);

    lm_test_image_check_after_crash(d.base);
    lm_test_image_check_after_crash(d.overlay);
    g_assert_true(lm_test_guest_open_image(d.guest, d.overlay, "qcow2",
                                           &err));
    g_assert_no_error(err);
    g_assert_true(lm_test_guest_verify_all(d.guest, &err));
    g_assert_no_error(err);
    lm_test_guest_disconnect(d.guest);
    lm_test_guest_free(d.guest);
    lm_test_qsd_free(d.qsd);
    g_free(d.base);
    g_free(d.overlay);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/commit/active/write-blocking/guest-writes-clean",
                    test_guest_writes_clean);
    g_test_add_func("/commit/active/empties-top/pivot", test_empties_top);
    g_test_add_func("/commit/active/empties-top/pivot-no-flush",
                    test_empties_top_pivot_no_flush);
    g_test_add_func("/commit/active/empties-top/cancel",
                    test_empties_top_cancel);
    g_test_add_func("/commit/active/empties-top/crash",
                    test_empties_top_crash);
    g_test_add_func("/commit/active/empties-top/page-cache",
                    test_empties_top_page_cache);

    for (guint m = 0; m < G_N_ELEMENTS(mode_names); m++) {
        for (Load l = LOAD_IDLE; l <= LOAD_SEQUENTIAL_1M; l++) {
            for (Ending e = END_PIVOT; e <= END_CANCEL_AFTER_READY; e++) {
                Case *c = g_new0(Case, 1);
                g_autofree char *path = g_strdup_printf(
                    "/commit/active/%s/%s/%s", mode_names[m], load_names[l],
                    ending_names[e]);

                *c = (Case) { mode_names[m], l, e };
                g_test_add_data_func_full(path, c, test_active_commit, g_free);
            }
        }
    }
    return g_test_run();
}
