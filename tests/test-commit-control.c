/*
 * livemerge - commit jobs under the standard job commands and events
 *
 * query-block-jobs (type "commit", offset never going back), speed limit
 * and block-job-set-speed, block-job-pause / -resume, the JOB_STATUS_CHANGE
 * and BLOCK_JOB_* sequences of intermediate and active commits,
 * auto-finalize / auto-dismiss false with job-finalize / job-dismiss,
 * block-job-cancel before READY.  No timing is asserted except where the
 * bound cannot be missed by a slow machine (a speed limit is an upper
 * bound on progress).
 *
 * Chain: layer2 (active, exported as "disk") > layer1 > layer0, 32M,
 * 64k clusters; layer0 holds 0-8M, layer1 8M-24M (16 MiB, what an
 * intermediate commit copies), layer2 24M-26M.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "commit-fixture.h"

#define KiB COMMIT_KiB
#define MiB COMMIT_MiB

#define CHAIN_BEFORE "layer2(rw) > layer1(ro) > layer0(ro)"

typedef struct {
    LmTestQsd *qsd;
    CommitChain *chain;
    LmTestGuest *guest;
    LmQmp *qmp;
} Fixture;

static void fill(CommitChain *chain, guint layer, LmTestGuest *guest,
                 gpointer data)
{
    (void)chain;
    (void)data;
    switch (layer) {
    case 0:
        commit_write(guest, 0, 8 * MiB);
        break;
    case 1:
        for (guint64 off = 8 * MiB; off < 24 * MiB; off += 2 * MiB) {
            commit_write(guest, off, 2 * MiB);
        }
        break;
    case 2:
        commit_write(guest, 24 * MiB, 2 * MiB);
        break;
    default:
        g_assert_not_reached();
    }
}

static void assert_chain(Fixture *f, const char *want)
{
    commit_assert_export_chain(f->qmp, want);
}

static Fixture *fixture_new(void)
{
    g_autoptr(GError) err = NULL;
    Fixture *f = g_new0(Fixture, 1);

    f->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    f->chain = commit_chain_new(f->qsd, 3, NULL);
    f->guest = lm_test_guest_new(0);
    commit_chain_build(f->chain, f->guest, fill, NULL);
    f->qmp = commit_chain_qmp(f->chain);
    assert_chain(f, CHAIN_BEFORE);
    return f;
}

/* Stop the daemon, verify the disk @view_layer now is, check images. */
static void fixture_finish(Fixture *f, guint view_layer)
{
    commit_assert_no_jobs(f->qmp);
    commit_chain_assert_nodes(f->chain, NULL);
    commit_chain_finish(f->chain, f->guest, view_layer);
    lm_test_guest_free(f->guest);
    commit_chain_free(f->chain);
    lm_test_qsd_free(f->qsd);
    g_free(f);
}

/*
 * The job's events as one string: JOB_STATUS_CHANGE by its status, the
 * BLOCK_JOB_* events by their name without the prefix, e.g.
 * "created running waiting pending COMPLETED concluded null".
 */
static char *event_sequence(CommitJobLog *log)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < log->events->len; i++) {
        JsonObject *ev = log->events->pdata[i];
        const char *name = json_object_get_string_member(ev, "event");

        if (s->len) {
            g_string_append_c(s, ' ');
        }
        if (g_str_equal(name, "JOB_STATUS_CHANGE")) {
            g_string_append(s, commit_event_str(ev, "status"));
        } else if (g_str_has_prefix(name, "BLOCK_JOB_")) {
            g_string_append(s, name + strlen("BLOCK_JOB_"));
        } else {
            g_string_append(s, name);
        }
    }
    return g_string_free(s, FALSE);
}

static void assert_sequence(CommitJobLog *log, const char *want)
{
    g_autofree char *seq = event_sequence(log);

    g_test_message("job '%s' events: %s", log->job_id, seq);
    g_assert_cmpstr(seq, ==, want);
}

/* query-block-jobs of @job_id: asserts it is there, and a commit. */
static JsonObject *query_job(Fixture *f, const char *job_id)
{
    JsonObject *job = commit_query_block_job(f->qmp, job_id);

    g_assert_nonnull(job);
    g_assert_cmpstr(json_object_get_string_member(job, "type"), ==,
                    "commit");
    return job;
}

static gint64 job_int(JsonObject *job, const char *member)
{
    return json_object_get_int_member(job, member);
}

/* query-block-jobs of @job_id once it knows its length (len > 0). */
static JsonObject *query_job_sized(Fixture *f, const char *job_id)
{
    for (guint polls = 0;; polls++) {
        JsonObject *job = query_job(f, job_id);

        if (job_int(job, "len") > 0) {
            return job;
        }
        json_object_unref(job);
        g_assert_cmpuint(polls, <, 3000);
        g_usleep(10 * 1000);
    }
}

/* ------------------------------------------------------------------ */

/* Intermediate commit: the standard sequence, and offset == len. */
static void test_events_intermediate(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = NULL;

    commit_start(f->qmp, "{\"job-id\": \"ic\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\"}");
    log = commit_job_run(f->qmp, "ic", "null");
    assert_sequence(log, "created running waiting pending COMPLETED "
                    "concluded null");
    g_assert_cmpint(commit_job_assert_completed(log), ==, 16 * MiB);
    g_assert_cmpint(commit_event_int(log->completed, "speed"), ==, 0);
    g_assert_cmpstr(commit_event_str(log->completed, "type"), ==, "commit");
    assert_chain(f, "layer2(rw) > layer0(ro)");
    fixture_finish(f, 2);
}

/* Active commit: READY, then block-job-complete pivots to the base. */
static void test_events_active(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = NULL;
    g_autoptr(JsonObject) job = NULL;
    g_autoptr(GError) err = NULL;

    commit_start(f->qmp, "{\"job-id\": \"ac\", \"device\": \"layer2\"}");
    log = commit_job_run(f->qmp, "ac", "ready");
    /* BLOCK_JOB_READY follows the status change */
    commit_job_log_wait_event(log, f->qmp, "BLOCK_JOB_READY", -1);
    assert_sequence(log, "created running ready READY");
    g_assert_nonnull(log->ready);
    g_assert_cmpint(commit_event_int(log->ready, "offset"), ==,
                    commit_event_int(log->ready, "len"));
    g_assert_cmpstr(commit_event_str(log->ready, "type"), ==, "commit");

    job = query_job(f, "ac");
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    "ready");
    g_assert_true(json_object_get_boolean_member(job, "ready"));
    g_assert_cmpint(job_int(job, "offset"), ==, job_int(job, "len"));

    /* Still READY: the guest writes, both sides get it. */
    commit_write(f->guest, 4 * MiB, 1 * MiB);
    commit_write(f->guest, 25 * MiB, 64 * KiB);
    commit_verify(f->guest);

    commit_qmp_ok(f->qmp, "block-job-complete", "{\"device\": \"ac\"}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    assert_sequence(log, "created running ready READY waiting pending "
                    "COMPLETED concluded null");
    commit_job_assert_completed(log);

    /* The base is the disk, read-write; the old layers stay as nodes. */
    assert_chain(f, "layer0(rw)");
    commit_write(f->guest, 30 * MiB, 1 * MiB);
    fixture_finish(f, 0);
}

/*
 * auto-finalize and auto-dismiss false: the job waits in "pending" with
 * the chain unchanged, job-finalize changes the graph, job-dismiss ends it.
 */
static void test_manual_intermediate(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = NULL;
    g_autoptr(JsonObject) job = NULL;
    g_autofree char *backing = NULL;

    commit_start(f->qmp, "{\"job-id\": \"ic\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\", \"auto-finalize\": false,"
                 " \"auto-dismiss\": false}");
    log = commit_job_run(f->qmp, "ic", "pending");
    commit_job_log_wait_event(log, f->qmp, "BLOCK_JOB_PENDING", -1);
    assert_sequence(log, "created running waiting pending PENDING");

    job = query_job(f, "ic");
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    "pending");
    g_assert_false(json_object_get_boolean_member(job, "auto-finalize"));
    g_assert_false(json_object_get_boolean_member(job, "auto-dismiss"));
    g_assert_cmpint(job_int(job, "offset"), ==, job_int(job, "len"));
    /* Nothing dropped yet: layer2 still backs onto layer1. */
    backing = commit_backing_node(f->qmp, "layer2");
    g_assert_cmpstr(backing, ==, "layer1");
    commit_verify(f->guest);

    commit_qmp_ok(f->qmp, "job-finalize", "{\"id\": \"ic\"}");
    commit_job_log_wait(log, f->qmp, "concluded", -1);
    assert_sequence(log, "created running waiting pending PENDING "
                    "COMPLETED concluded");
    commit_job_assert_completed(log);
    assert_chain(f, "layer2(rw) > layer0(ro)");
    g_clear_pointer(&job, json_object_unref);
    job = query_job(f, "ic");
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    "concluded");
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ret = lm_qmp_execute_json(
            f->qmp, "livemerge-set-guest-impact",
            "{\"job-id\": \"ic\", \"guest-impact\": 100}", &err);

        /* A concluded job has nothing left to pace */
        g_assert_null(ret);
        g_assert_nonnull(strstr(err->message, "'ic' has ended"));
    }

    commit_qmp_ok(f->qmp, "job-dismiss", "{\"id\": \"ic\"}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    g_assert_null(commit_query_block_job(f->qmp, "ic"));
    fixture_finish(f, 2);
}

/* Active commit with auto-dismiss false only. */
static void test_manual_active(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = NULL;
    g_autoptr(JsonObject) job = NULL;

    commit_start(f->qmp, "{\"job-id\": \"ac\", \"device\": \"layer2\","
                 " \"auto-finalize\": false, \"auto-dismiss\": false,"
                 " \"filter-node-name\": \"lmf\"}");
    log = commit_job_run(f->qmp, "ac", "ready");
    commit_qmp_ok(f->qmp, "block-job-complete", "{\"device\": \"ac\"}");
    commit_job_log_wait(log, f->qmp, "pending", -1);
    commit_job_log_wait_event(log, f->qmp, "BLOCK_JOB_PENDING", -1);
    /* Not pivoted before job-finalize: the job's filter still above. */
    assert_chain(f, "lmf[livemerge](rw) > layer2(rw) > layer1(ro) > "
                 "layer0(rw)");
    commit_qmp_ok(f->qmp, "job-finalize", "{\"id\": \"ac\"}");
    commit_job_log_wait(log, f->qmp, "concluded", -1);
    assert_sequence(log, "created running ready READY waiting pending "
                    "PENDING COMPLETED concluded");
    commit_job_assert_completed(log);
    assert_chain(f, "layer0(rw)");
    job = query_job(f, "ac");
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    "concluded");
    commit_qmp_ok(f->qmp, "job-dismiss", "{\"id\": \"ac\"}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    fixture_finish(f, 0);
}

/*
 * block-job-cancel before READY: the job aborts, BLOCK_JOB_CANCELLED, the
 * chain as it was, the guest's data intact (@intermediate: top layer1).
 */
static void test_cancel(gconstpointer data)
{
    gboolean intermediate = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("c");
    g_autoptr(JsonObject) job = NULL;

    /*
     * 1 byte/s, one copy at a time: after its first copy (1 MiB of 16)
     * the job sleeps for days.
     */
    commit_start(f->qmp, "{\"job-id\": \"c\", \"device\": \"layer2\"%s,"
                 " \"speed\": 1, \"max-in-flight\": 1}",
                 intermediate ? ", \"top-node\": \"layer1\"" : "");
    commit_job_log_wait(log, f->qmp, "running", -1);
    commit_write(f->guest, 9 * MiB, 1 * MiB);
    job = query_job_sized(f, "c");
    g_assert_false(json_object_get_boolean_member(job, "ready"));
    g_assert_cmpint(job_int(job, "offset"), <, job_int(job, "len"));

    commit_qmp_ok(f->qmp, "block-job-cancel", "{\"device\": \"c\"}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    assert_sequence(log, "created running aborting CANCELLED concluded "
                    "null");
    g_assert_null(log->completed);
    g_assert_null(log->ready);
    g_assert_cmpint(commit_event_int(log->cancelled, "offset"), <,
                    commit_event_int(log->cancelled, "len"));

    assert_chain(f, CHAIN_BEFORE);
    commit_write(f->guest, 10 * MiB, 1 * MiB);
    commit_write(f->guest, 30 * MiB, 1 * MiB);
    fixture_finish(f, 2);
}

/* block-job-set-speed: a job that crawls finishes once unlimited. */
static void test_set_speed(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("ic");
    g_autoptr(JsonObject) job = NULL;
    g_autoptr(GError) err = NULL;

    /* 1 byte/s, one copy at a time: it crawls. */
    commit_start(f->qmp, "{\"job-id\": \"ic\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\", \"speed\": 1,"
                 " \"max-in-flight\": 1}");
    commit_job_log_wait(log, f->qmp, "running", -1);
    job = query_job_sized(f, "ic");
    g_assert_cmpint(job_int(job, "speed"), ==, 1);
    g_assert_cmpint(job_int(job, "offset"), <, job_int(job, "len"));

    /* A bad speed is refused and changes nothing. */
    lm_qmp_runf(f->qmp, &err, "block-job-set-speed",
                "{\"device\": \"ic\", \"speed\": -1}");
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_test_message("speed -1: %s", err->message);
    g_clear_error(&err);
    g_clear_pointer(&job, json_object_unref);
    job = query_job(f, "ic");
    g_assert_cmpint(job_int(job, "speed"), ==, 1);

    commit_qmp_ok(f->qmp, "block-job-set-speed", "{\"device\": \"ic\", \"speed\": %d}",
        2 * 1024);
    g_clear_pointer(&job, json_object_unref);
    job = query_job(f, "ic");
    g_assert_cmpint(job_int(job, "speed"), ==, 2 * 1024);

    commit_qmp_ok(f->qmp, "block-job-set-speed", "{\"device\": \"ic\", \"speed\": 0}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    commit_job_assert_completed(log);
    g_assert_cmpint(commit_event_int(log->completed, "speed"), ==, 0);
    assert_chain(f, "layer2(rw) > layer0(ro)");
    fixture_finish(f, 2);
}

/* Pause stops the copying, resume goes on; both seen in the events. */
static void test_pause_resume(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("ic");
    g_autoptr(JsonObject) job = NULL;
    gint64 offset;
    guint polls = 0;

    /* Limited, so that it is still copying when the pause comes. */
    commit_start(f->qmp, "{\"job-id\": \"ic\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\", \"speed\": %" G_GUINT64_FORMAT
                 ", \"max-in-flight\": 2}", 2 * MiB);
    /* Pause once it has copied something. */
    do {
        g_clear_pointer(&job, json_object_unref);
        job = query_job(f, "ic");
        g_assert_cmpuint(++polls, <, 3000);
        g_usleep(polls > 1 ? 10 * 1000 : 0);
    } while (job_int(job, "offset") == 0);
    commit_qmp_ok(f->qmp, "block-job-pause", "{\"device\": \"ic\"}");
    commit_job_log_wait(log, f->qmp, "paused", -1);

    g_clear_pointer(&job, json_object_unref);
    job = query_job(f, "ic");
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    "paused");
    g_assert_true(json_object_get_boolean_member(job, "paused"));
    offset = job_int(job, "offset");
    g_test_message("paused at %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT,
                   offset, job_int(job, "len"));
    g_assert_cmpint(offset, >, 0);
    g_assert_cmpint(offset, <, job_int(job, "len"));

    /* The guest is not paused. */
    commit_write(f->guest, 12 * MiB, 1 * MiB);
    g_usleep(G_USEC_PER_SEC / 2);
    g_clear_pointer(&job, json_object_unref);
    job = query_job(f, "ic");
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    "paused");
    g_assert_cmpint(job_int(job, "offset"), ==, offset);
    commit_verify(f->guest);

    /* A paused job refuses a soft cancel (QEMU's rule). */
    {
        g_autoptr(GError) err = NULL;

        lm_qmp_runf(f->qmp, &err, "block-job-cancel", "{\"device\": \"ic\"}");
        g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
        g_test_message("cancel while paused: %s", err->message);
    }

    commit_qmp_ok(f->qmp, "block-job-resume", "{\"device\": \"ic\"}");
    commit_job_log_wait(log, f->qmp, "running", -1);
    commit_qmp_ok(f->qmp, "block-job-set-speed", "{\"device\": \"ic\", \"speed\": 0}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    assert_sequence(log, "created running paused running waiting pending "
                    "COMPLETED concluded null");
    commit_job_assert_completed(log);
    assert_chain(f, "layer2(rw) > layer0(ro)");
    fixture_finish(f, 2);
}

/*
 * Under a guest load, polled query-block-jobs never shows the offset going
 * back (len may grow with guest writes), through READY and for a while
 * after; then the pivot.
 */
static void test_offset_monotonic(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("ac");
    g_autoptr(GError) err = NULL;
    LmTestLoadStats stats;
    gint64 last_offset = -1, last_len = -1, ready_at = 0, start;
    gboolean unlimited = FALSE;
    guint polls = 0, increases = 0;

    lm_test_guest_start_load(f->guest, &(LmTestLoad){
                                 .pattern = LM_TEST_LOAD_RANDOM,
                                 .queue_depth = 16,
                                 .seed = 99,
                             }, &err);
    g_assert_no_error(err);
    /* Slowly at first, for many polls while it copies; then unlimited. */
    commit_start(f->qmp, "{\"job-id\": \"ac\", \"device\": \"layer2\","
                 " \"speed\": %" G_GUINT64_FORMAT ", \"max-in-flight\": 2}",
                 16 * MiB);
    start = g_get_monotonic_time();
    for (;;) {
        g_autoptr(JsonObject) job = query_job(f, "ac");
        gint64 offset = job_int(job, "offset");
        gint64 len = job_int(job, "len");

        polls++;
        if (offset < last_offset) {
            g_test_message("poll %u: offset %" G_GINT64_FORMAT " after %"
                           G_GINT64_FORMAT " (len %" G_GINT64_FORMAT
                           " after %" G_GINT64_FORMAT ")", polls, offset,
                           last_offset, len, last_len);
        }
        g_assert_cmpint(offset, >=, last_offset);
        increases += offset > last_offset;
        last_offset = offset;
        last_len = len;
        commit_job_log_poll(log, f->qmp);
        if (!unlimited && g_get_monotonic_time() - start >
            G_USEC_PER_SEC * 3 / 2) {
            commit_qmp_ok(f->qmp, "block-job-set-speed",
                "{\"device\": \"ac\", \"speed\": 0}");
            unlimited = TRUE;
        }
        if (log->ready && !ready_at) {
            ready_at = g_get_monotonic_time();
        }
        if (ready_at && g_get_monotonic_time() - ready_at > G_USEC_PER_SEC) {
            break;
        }
        g_assert_cmpint(polls, <, 20000);
        g_usleep(10 * 1000);
    }
    g_test_message("%u polls, %u increases, offset %" G_GINT64_FORMAT
                   ", len %" G_GINT64_FORMAT, polls, increases, last_offset,
                   last_len);
    g_assert_cmpuint(increases, >, 0);

    commit_qmp_ok(f->qmp, "block-job-complete", "{\"device\": \"ac\"}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    commit_job_assert_completed(log);
    lm_test_guest_stop_load(f->guest, &stats, &err);
    g_assert_no_error(err);
    g_test_message("load: %" G_GUINT64_FORMAT " writes", stats.writes);
    g_assert_cmpuint(stats.errors, ==, 0);
    assert_chain(f, "layer0(rw)");
    fixture_finish(f, 0);
}

/*
 * speed 4 MiB/s on 16 MiB: after a second the job cannot have done three
 * quarters (it should take four seconds).  Then unlimited, it finishes.
 */
static void test_speed_limit(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("ic");
    g_autoptr(JsonObject) job = NULL;
    gint64 start, offset, len;

    commit_start(f->qmp, "{\"job-id\": \"ic\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\", \"speed\": %" G_GUINT64_FORMAT
                 "}", 4 * MiB);
    start = g_get_monotonic_time();
    g_usleep(G_USEC_PER_SEC);
    job = commit_query_block_job(f->qmp, "ic");
    commit_job_log_poll(log, f->qmp);
    if (!job) {
        /* Gone already: report how far it got, from its last event. */
        g_assert_nonnull(log->completed);
        offset = commit_event_int(log->completed, "offset");
        len = commit_event_int(log->completed, "len");
        g_test_message("after %.2f s the job is gone: %s",
                       (g_get_monotonic_time() - start) / 1e6,
                       log->statuses->str);
    } else {
        g_assert_cmpstr(json_object_get_string_member(job, "type"), ==,
                        "commit");
        g_assert_cmpint(job_int(job, "speed"), ==, 4 * MiB);
        offset = job_int(job, "offset");
        len = job_int(job, "len");
    }
    g_test_message("after %.2f s: offset %" G_GINT64_FORMAT " of %"
                   G_GINT64_FORMAT " at speed 4 MiB/s",
                   (g_get_monotonic_time() - start) / 1e6, offset, len);
    g_assert_cmpint(len, ==, 16 * MiB);
    g_assert_cmpint(offset, <, len / 4 * 3);

    commit_qmp_ok(f->qmp, "block-job-set-speed", "{\"device\": \"ic\", \"speed\": 0}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    commit_job_assert_completed(log);
    assert_chain(f, "layer2(rw) > layer0(ro)");
    fixture_finish(f, 2);
}

/*
 * guest-impact: refused out of 1-100 (at the start and at run time,
 * naming the argument and the value, or the job); changed while the job
 * runs under a writing guest, down to 1 % and up to 100 % (no precedence
 * for the guest), the commit still reaches READY, pivots, and every block
 * verifies.
 */
static void test_guest_impact(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("ac");
    g_autoptr(GError) err = NULL;
    LmTestLoadStats stats;
    static const char *const refused[] = {
        "{\"job-id\": \"x\", \"device\": \"layer2\", \"guest-impact\": 0}",
        "{\"job-id\": \"x\", \"device\": \"layer2\", \"guest-impact\": 101}",
    };

    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(JsonNode) ret = lm_qmp_execute_json(f->qmp,
                                                      "livemerge-commit",
                                                      refused[i], &err);

        g_assert_null(ret);
        g_test_message("%s -> %s", refused[i], err->message);
        g_assert_nonnull(strstr(err->message, "'guest-impact'"));
        g_clear_error(&err);
    }
    lm_test_guest_start_load(f->guest, &(LmTestLoad){
                                 .pattern = LM_TEST_LOAD_RANDOM,
                                 .queue_depth = 16,
                                 .seed = 7,
                             }, &err);
    g_assert_no_error(err);
    commit_start(f->qmp, "{\"job-id\": \"ac\", \"device\": \"layer2\","
                 " \"guest-impact\": 1}");
    commit_job_log_wait(log, f->qmp, "running", -1);
    {
        g_autoptr(JsonNode) ret = lm_qmp_execute_json(
            f->qmp, "livemerge-set-guest-impact",
            "{\"job-id\": \"ac\", \"guest-impact\": 200}", &err);

        g_assert_null(ret);
        g_assert_nonnull(strstr(err->message, "'guest-impact'"));
        g_assert_nonnull(strstr(err->message, "200"));
        g_clear_error(&err);
        ret = lm_qmp_execute_json(f->qmp, "livemerge-set-guest-impact",
                                  "{\"job-id\": \"nope\","
                                  " \"guest-impact\": 50}", &err);
        g_assert_null(ret);
        g_assert_nonnull(strstr(err->message, "'nope'"));
        g_clear_error(&err);
    }
    g_usleep(G_USEC_PER_SEC / 2);
    commit_qmp_ok(f->qmp, "livemerge-set-guest-impact",
                  "{\"job-id\": \"ac\", \"guest-impact\": 100}");
    commit_job_log_wait(log, f->qmp, "ready", -1);
    lm_test_guest_stop_load(f->guest, &stats, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(stats.writes, >, 0);
    g_assert_cmpuint(stats.errors, ==, 0);
    commit_qmp_ok(f->qmp, "block-job-complete", "{\"device\": \"ac\"}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    commit_job_assert_completed(log);
    assert_chain(f, "layer0(rw)");
    fixture_finish(f, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* Suites run in the order they are first named: the speed limit,
     * known to fail, last. */
    g_test_add_func("/commit/control/events/intermediate",
                    test_events_intermediate);
    g_test_add_func("/commit/control/events/active", test_events_active);
    g_test_add_func("/commit/control/manual/intermediate",
                    test_manual_intermediate);
    g_test_add_func("/commit/control/manual/active", test_manual_active);
    g_test_add_data_func("/commit/control/cancel/intermediate",
                         GINT_TO_POINTER(TRUE), test_cancel);
    g_test_add_data_func("/commit/control/cancel/active",
                         GINT_TO_POINTER(FALSE), test_cancel);
    g_test_add_func("/commit/control/jobs/set-speed", test_set_speed);
    g_test_add_func("/commit/control/jobs/pause-resume", test_pause_resume);
    g_test_add_func("/commit/control/jobs/offset-monotonic",
                    test_offset_monotonic);
    g_test_add_func("/commit/control/speed/limit", test_speed_limit);
    g_test_add_func("/commit/control/speed/guest-impact", test_guest_impact);
    return g_test_run();
}
