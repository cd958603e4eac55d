/*
 * livemerge - the commit engine tried as a hostile user would
 *
 * Each case is a way a user (or a management layer) can reach around a
 * running commit job: take its filter out, attach a second writer to the
 * active layer, resume it after a fault, export its base for a backup,
 * point it at a filter node or at a base it cannot write, or start a QEMU
 * job on its nodes.  Whatever they do, the daemon lives on, the guest
 * reads back exactly what it (or anyone) wrote, and the images pass
 * "qemu-img check"; a refusal names the argument or the job at fault.
 *
 * Chain: layer1 (active, exported as "disk") > layer0, 32M, 64k clusters;
 * layer0 holds 0-8M, layer1 8M-24M (16 MiB: what the job copies).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libnbd.h>

#include "commit-fixture.h"

#define KiB COMMIT_KiB
#define MiB COMMIT_MiB

/* Slow enough for the test to act while the job copies (16 MiB: 4 s) */
#define SLOW_SPEED "4194304"

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
    if (layer == 0) {
        commit_write(guest, 0, 8 * MiB);
    } else {
        for (guint64 off = 8 * MiB; off < 24 * MiB; off += 2 * MiB) {
            commit_write(guest, off, 2 * MiB);
        }
    }
}

static Fixture *fixture_new(void)
{
    g_autoptr(GError) err = NULL;
    Fixture *f = g_new0(Fixture, 1);

    f->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    f->chain = commit_chain_new(f->qsd, 2, NULL);
    f->guest = lm_test_guest_new(0);
    commit_chain_build(f->chain, f->guest, fill, NULL);
    f->qmp = commit_chain_qmp(f->chain);
    commit_assert_export_chain(f->qmp, "layer1(rw) > layer0(ro)");
    return f;
}

/* Verify the guest, stop the daemon, check @view_layer and every image */
static void fixture_finish(Fixture *f, guint view_layer)
{
    commit_assert_no_jobs(f->qmp);
    commit_chain_assert_nodes(f->chain, NULL);
    commit_chain_finish(f->chain, f->guest, view_layer);
    commit_chain_free(f->chain);
    lm_test_guest_free(f->guest);
    lm_test_qsd_free(f->qsd);
    g_free(f);
}

/* Run @command; assert it fails with a message holding each of @needles */
static void expect_refusal(LmQmp *qmp, const char *command, const char *args,
                           const char *const *needles)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_execute_json(qmp, command, args, &err);

    g_assert_null(ret);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_test_message("%s %s -> %s", command, args, err->message);
    for (guint i = 0; needles[i]; i++) {
        g_assert_nonnull(strstr(err->message, needles[i]));
    }
}

/* Wait until the job has copied at least @bytes (fails after 30 s) */
static void wait_offset(LmQmp *qmp, const char *job_id, gint64 bytes)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonObject) job = commit_query_block_job(qmp, job_id);

        g_assert_nonnull(job);
        if (json_object_get_int_member(job, "offset") >= bytes) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20 * 1000);
    }
}

static void add_export(LmQmp *qmp, const char *id, const char *node,
                       gboolean writable)
{
    commit_qmp_ok(qmp, "block-export-add",
                  "{\"type\": \"nbd\", \"id\": \"%s\", \"node-name\": \"%s\","
                  " \"name\": \"%s\", \"writable\": %s}", id, node, id,
                  writable ? "true" : "false");
}

static void del_export(LmQmp *qmp, const char *id)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) ev = NULL;

    commit_qmp_ok(qmp, "block-export-del", "{\"id\": \"%s\"}", id);
    ev = lm_qmp_wait_event(qmp, "BLOCK_EXPORT_DELETED", COMMIT_JOB_TIMEOUT_MS,
                           &err);
    g_assert_no_error(err);
    g_assert_cmpstr(commit_event_str(ev, "id"), ==, id);
}

/* Read the first MiB of the read-only export @name with a real client */
static void read_export(LmTestQsd *qsd, const char *name)
{
    g_autofree char *uri = g_strdup_printf("nbd+unix:///%s?socket=%s", name,
                                           lm_test_qsd_nbd_socket(qsd));
    g_autofree char *buf = g_malloc(1 * MiB);
    struct nbd_handle *nbd = nbd_create();

    g_assert_nonnull(nbd);
    if (nbd_connect_uri(nbd, uri) < 0 || nbd_pread(nbd, buf, MiB, 0, 0) < 0) {
        g_error("%s: %s", uri, nbd_get_error());
    }
    g_assert_cmpint(nbd_is_read_only(nbd), ==, 1);
    nbd_shutdown(nbd, 0);
    nbd_close(nbd);
}

/* Finish an active commit at full speed: READY, then pivot */
static void pivot(LmQmp *qmp, CommitJobLog *log)
{
    commit_qmp_ok(qmp, "block-job-set-speed",
                  "{\"device\": \"%s\", \"speed\": 0}", log->job_id);
    commit_job_log_wait(log, qmp, "ready", -1);
    commit_qmp_ok(qmp, "block-job-complete", "{\"device\": \"%s\"}",
                  log->job_id);
    commit_job_log_wait(log, qmp, "null", -1);
    commit_job_assert_completed(log);
}

/* ------------------------------------------------------------------ */

/*
 * A job's filter cannot be removed by livemerge-remove-filter (nor by
 * blockdev-del): the refusal names the filter and the job; the job then
 * ends normally and the guest's writes are all there.
 */
static void test_remove_job_filter(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("j");

    commit_start(f->qmp, "{\"job-id\": \"j\", \"device\": \"layer1\","
                 " \"filter-node-name\": \"lmf\", \"speed\": " SLOW_SPEED "}");
    commit_job_log_wait(log, f->qmp, "running", -1);
    expect_refusal(f->qmp, "livemerge-remove-filter",
                   "{\"filter-node-name\": \"lmf\"}",
                   (const char *[]){ "'lmf'", "'j'", NULL });
    expect_refusal(f->qmp, "blockdev-del", "{\"node-name\": \"lmf\"}",
                   (const char *[]){ "lmf", NULL });
    commit_assert_export_chain(f->qmp,
                               "lmf[livemerge](rw) > layer1(rw) > layer0(rw)");
    /* The filter still sees and mirrors the guest's writes */
    commit_write(f->guest, 8 * MiB, 1 * MiB);
    commit_write(f->guest, 30 * MiB, 1 * MiB);
    pivot(f->qmp, log);
    commit_assert_export_chain(f->qmp, "layer0(rw)");
    fixture_finish(f, 0);
}

/*
 * A second writable export of the active layer, added while the job runs,
 * writes around the filter into a region the job has already copied: the
 * write must survive the pivot.  The guest's model follows it there (same
 * model, other export), so the final check covers it.
 */
static void test_outside_writer(gconstpointer data)
{
    const char *copy_mode = data;
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("j");
    g_autoptr(GError) err = NULL;

    commit_start(f->qmp, "{\"job-id\": \"j\", \"device\": \"layer1\","
                 " \"copy-mode\": \"%s\", \"speed\": " SLOW_SPEED "}",
                 copy_mode);
    /* Copies go in offset order: 8M-12M is in the base by now */
    wait_offset(f->qmp, "j", 6 * MiB);
    add_export(f->qmp, "disk2", "layer1", TRUE);

    lm_test_guest_disconnect(f->guest);
    lm_test_guest_connect(f->guest, lm_test_qsd_nbd_socket(f->qsd), "disk2",
                          &err);
    g_assert_no_error(err);
    commit_write(f->guest, 8 * MiB, 1 * MiB);
    commit_write(f->guest, 28 * MiB, 64 * KiB);
    lm_test_guest_flush(f->guest, &err);
    g_assert_no_error(err);
    lm_test_guest_disconnect(f->guest);
    lm_test_guest_connect(f->guest, lm_test_qsd_nbd_socket(f->qsd), "disk",
                          &err);
    g_assert_no_error(err);

    pivot(f->qmp, log);
    commit_assert_export_chain(f->qmp, "layer0(rw)");
    commit_verify(f->guest);
    /* The second export moved onto the base with the disk */
    del_export(f->qmp, "disk2");
    fixture_finish(f, 0);
}

/*
 * While a commit runs (and once READY), the base can be exported
 * read-only, e.g. for a backup: the job takes RESIZE only when the base
 * must grow, which it need not here.
 */
static void test_export_base(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("j");

    commit_start(f->qmp, "{\"job-id\": \"j\", \"device\": \"layer1\","
                 " \"speed\": " SLOW_SPEED "}");
    commit_job_log_wait(log, f->qmp, "running", -1);
    add_export(f->qmp, "base", "layer0", FALSE);
    read_export(f->qsd, "base");
    del_export(f->qmp, "base");

    commit_qmp_ok(f->qmp, "block-job-set-speed",
                  "{\"device\": \"j\", \"speed\": 0}");
    commit_job_log_wait(log, f->qmp, "ready", -1);
    add_export(f->qmp, "base", "layer0", FALSE);
    read_export(f->qsd, "base");
    del_export(f->qmp, "base");
    commit_qmp_ok(f->qmp, "block-job-complete", "{\"device\": \"j\"}");
    commit_job_log_wait(log, f->qmp, "null", -1);
    commit_job_assert_completed(log);
    fixture_finish(f, 0);
}

/*
 * QEMU's own job commands on a node a livemerge job holds: QEMU's refusal
 * carries the reason the job set, which names the job.
 */
static void test_blocker_names_job(void)
{
    Fixture *f = fixture_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("j");

    commit_start(f->qmp, "{\"job-id\": \"j\", \"device\": \"layer1\","
                 " \"speed\": " SLOW_SPEED "}");
    commit_job_log_wait(log, f->qmp, "running", -1);
    expect_refusal(f->qmp, "block-stream",
                   "{\"job-id\": \"q\", \"device\": \"layer1\"}",
                   (const char *[]){ "livemerge commit job 'j'", NULL });
    expect_refusal(f->qmp, "livemerge-commit",
                   "{\"job-id\": \"k\", \"device\": \"layer1\"}",
                   (const char *[]){ "'device'", "'layer1'", "'j'", NULL });
    pivot(f->qmp, log);
    fixture_finish(f, 0);
}

/* ------------------------------------------------------------------ */
/* A chain built by hand: base <- thr (throttle) <- mid <- top */

typedef struct {
    LmTestQsd *qsd;
    LmQmp *qmp;
    char *path[3];
} HandChain;

static const char *const hand_layer[] = { "base", "mid", "top" };

/*
 * base (its file node strictly read-only when @base_ro_file), a throttle
 * filter "thr" above it when @throttle, mid, top (exported as "disk").
 */
static void hand_chain_setup(HandChain *c, gboolean throttle,
                             gboolean base_ro_file)
{
    g_autoptr(GError) err = NULL;

    c->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    c->qmp = lm_test_qsd_qmp(c->qsd);
    for (guint i = 0; i < 3; i++) {
        g_autofree char *name = g_strdup_printf("%s.qcow2", hand_layer[i]);

        c->path[i] = lm_test_qsd_path(c->qsd, name);
        lm_test_image_create(c->path[i], &(LmTestImageOpts) {
            .size = "16M", .backing = i ? c->path[i - 1] : NULL });
    }
    commit_qmp_ok(c->qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"base\","
                  " \"read-only\": true, \"file\": {\"driver\": \"file\","
                  " \"filename\": \"%s\", \"read-only\": true,"
                  " \"auto-read-only\": %s}}", c->path[0],
                  base_ro_file ? "false" : "true");
    if (throttle) {
        commit_qmp_ok(c->qmp, "object-add",
                      "{\"qom-type\": \"throttle-group\", \"id\": \"tg\"}");
        commit_qmp_ok(c->qmp, "blockdev-add",
                      "{\"driver\": \"throttle\", \"node-name\": \"thr\","
                      " \"throttle-group\": \"tg\", \"file\": \"base\"}");
    }
    commit_qmp_ok(c->qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"mid\","
                  " \"read-only\": true, \"backing\": \"%s\","
                  " \"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                  throttle ? "thr" : "base", c->path[1]);
    commit_qmp_ok(c->qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"top\","
                  " \"backing\": \"mid\", \"file\": {\"driver\": \"file\","
                  " \"filename\": \"%s\"}}", c->path[2]);
    lm_test_qsd_export(c->qsd, "top", "disk", &err);
    g_assert_no_error(err);
}

static void hand_chain_finish(HandChain *c, const char *want_chain)
{
    g_autofree char *chain = commit_describe_chain(c->qmp, "top");

    g_assert_cmpstr(chain, ==, want_chain);
    commit_assert_no_jobs(c->qmp);
    lm_test_qsd_stop(c->qsd);
    for (guint i = 0; i < 3; i++) {
        lm_test_image_check(c->path[i]);
        g_free(c->path[i]);
    }
    lm_test_qsd_free(c->qsd);
}

/* A throttle filter as base-node would be dropped from the chain */
static void test_filter_as_base(void)
{
    HandChain c;

    hand_chain_setup(&c, TRUE, FALSE);
    expect_refusal(c.qmp, "livemerge-commit",
                   "{\"job-id\": \"j\", \"device\": \"top\","
                   " \"top-node\": \"mid\", \"base-node\": \"thr\"}",
                   (const char *[]){ "'base-node'", "'thr'", NULL });
    hand_chain_finish(&c, "top(rw) > mid(ro) > thr[throttle](rw)");
}

/* A base that cannot be made writable: the refusal names it */
static void test_read_only_base(void)
{
    HandChain c;

    hand_chain_setup(&c, FALSE, TRUE);
    expect_refusal(c.qmp, "livemerge-commit",
                   "{\"job-id\": \"j\", \"device\": \"top\"}",
                   (const char *[]){ "'base'", NULL });
    hand_chain_finish(&c, "top(rw) > mid(ro) > base(ro)");
}

/* ------------------------------------------------------------------ */
/* on-error stop/enospc: the base on a tmpfs that fills up */

typedef struct {
    const char *on_error;
    gboolean clear_before_resume;
} FullDiskCase;

static void mount_tmpfs(const char *dir, const char *size, gboolean remount)
{
    g_autofree char *opts = g_strdup_printf("size=%s", size);

    if (mount("tmpfs", dir, "tmpfs", remount ? MS_REMOUNT : 0, opts) < 0) {
        g_error("mount tmpfs on %s (%s): %s", dir, opts, g_strerror(errno));
    }
}

/*
 * Resume the job and wait until it has run again and reached @status
 * (both may arrive between two looks, so the log since the resume is
 * what is checked, not only its last status)
 */
static void resume_until(CommitJobLog *log, LmQmp *qmp, const char *status)
{
    gsize mark = log->statuses->len;
    gint64 deadline = g_get_monotonic_time() +
                      COMMIT_JOB_TIMEOUT_MS * 1000LL;

    commit_qmp_ok(qmp, "block-job-resume", "{\"device\": \"j\"}");
    for (;;) {
        commit_job_log_poll(log, qmp);
        if (strstr(log->statuses->str + mark, "running") &&
            g_strcmp0(log->last_status, status) == 0) {
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            g_test_message("statuses: %s", log->statuses->str);
            g_assert_not_reached();
        }
        g_usleep(10 * 1000);
    }
}

/* No BLOCK_JOB_ERROR beyond @n arrives in the next half second */
static void assert_errors_stay(CommitJobLog *log, LmQmp *qmp, guint n)
{
    g_usleep(G_USEC_PER_SEC / 2);
    commit_job_log_poll(log, qmp);
    g_assert_cmpuint(log->n_errors, ==, n);
}

/*
 * Errors of copies that failed while the job was already paused are not
 * acted on: a resume after the fault is cleared reaches READY with no new
 * error event; a resume while it persists stops the job again, with
 * exactly one new event.
 */
static void test_resume_after_fault(gconstpointer data)
{
    const FullDiskCase *fc = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = NULL;
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autoptr(CommitJobLog) log = commit_job_log_new("j");
    g_autofree char *small = NULL;
    g_autofree char *base = NULL;
    g_autofree char *top = NULL;
    LmQmp *qmp;

    if (geteuid() != 0) {
        g_test_skip("mounting a tmpfs needs root");
        return;
    }
    qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    qmp = lm_test_qsd_qmp(qsd);
    small = lm_test_qsd_path(qsd, "small");
    g_assert_cmpint(mkdir(small, 0700), ==, 0);
    mount_tmpfs(small, "8m", FALSE);
    base = g_build_filename(small, "base.qcow2", NULL);
    top = lm_test_qsd_path(qsd, "top.qcow2");
    lm_test_image_create(base, &(LmTestImageOpts){ .size = "32M" });
    lm_test_image_create(top, &(LmTestImageOpts){ .size = "32M",
                                                  .backing = base });
    /* 16 MiB to commit into a base that can hold 8 */
    lm_test_guest_open_image(guest, top, "qcow2", &err);
    g_assert_no_error(err);
    commit_write(guest, 0, 16 * MiB);
    lm_test_guest_disconnect(guest);

    commit_qmp_ok(qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"base\","
                  " \"read-only\": true, \"file\": {\"driver\": \"file\","
                  " \"filename\": \"%s\"}}", base);
    commit_qmp_ok(qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"top\","
                  " \"backing\": \"base\", \"file\": {\"driver\": \"file\","
                  " \"filename\": \"%s\"}}", top);
    lm_test_qsd_export(qsd, "top", "disk", &err);
    g_assert_no_error(err);
    lm_test_guest_connect(guest, lm_test_qsd_nbd_socket(qsd), "disk", &err);
    g_assert_no_error(err);

    commit_start(qmp, "{\"job-id\": \"j\", \"device\": \"top\","
                 " \"on-error\": \"%s\"}", fc->on_error);
    commit_job_log_wait_event(log, qmp, "BLOCK_JOB_ERROR", -1);
    commit_job_log_wait(log, qmp, "paused", -1);
    assert_errors_stay(log, qmp, 1);

    if (!fc->clear_before_resume) {
        resume_until(log, qmp, "paused");
        assert_errors_stay(log, qmp, 2);
    }
    mount_tmpfs(small, "64m", TRUE);
    resume_until(log, qmp, "ready");
    g_assert_cmpuint(log->n_errors, ==, fc->clear_before_resume ? 1 : 2);
    commit_write(guest, 20 * MiB, 1 * MiB);
    commit_qmp_ok(qmp, "block-job-complete", "{\"device\": \"j\"}");
    commit_job_log_wait(log, qmp, "null", -1);
    /* Completed, the errors on the way notwithstanding */
    log->n_errors = 0;
    commit_job_assert_completed(log);

    commit_verify(guest);
    lm_test_guest_disconnect(guest);
    lm_test_qsd_stop(qsd);
    lm_test_guest_open_image(guest, base, "qcow2", &err);
    g_assert_no_error(err);
    commit_verify(guest);
    lm_test_guest_disconnect(guest);
    lm_test_image_check(base);
    lm_test_image_check(top);
    g_assert_cmpint(umount(small), ==, 0);
}

static const FullDiskCase full_disk_cases[] = {
    { "stop", TRUE },
    { "stop", FALSE },
    { "enospc", TRUE },
    { "enospc", FALSE },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/commit/hostile/remove-job-filter",
                    test_remove_job_filter);
    g_test_add_data_func("/commit/hostile/outside-writer/adaptive",
                         "adaptive", test_outside_writer);
    g_test_add_data_func("/commit/hostile/outside-writer/background",
                         "background", test_outside_writer);
    g_test_add_data_func("/commit/hostile/outside-writer/write-blocking",
                         "write-blocking", test_outside_writer);
    g_test_add_func("/commit/hostile/export-base", test_export_base);
    g_test_add_func("/commit/hostile/blocker-names-job",
                    test_blocker_names_job);
    g_test_add_func("/commit/hostile/filter-as-base", test_filter_as_base);
    g_test_add_func("/commit/hostile/read-only-base", test_read_only_base);
    for (guint i = 0; i < G_N_ELEMENTS(full_disk_cases); i++) {
        const FullDiskCase *fc = &full_disk_cases[i];
        g_autofree char *path = g_strdup_printf(
            "/commit/hostile/resume-after-fault/%s/%s", fc->on_error,
            fc->clear_before_resume ? "cleared" : "persisting");

        g_test_add_data_func(path, fc, test_resume_after_fault);
    }
    return g_test_run();
}
