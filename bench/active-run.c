/*
 * livemerge benchmark harness - one run of an active job under a guest
 * (scenarios 2, 3, 4, 7 and 8; see active.h)
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "active.h"

#include <math.h>
#include <string.h>
#include <gio/gio.h>

#include "daemon.h"
#include "images.h"

#define JOB_ID "bench"
#define CANCEL_TIMEOUT_S 120
/* What a whole-disk guest writes: unlike any pattern of the pristine disk */
#define GUEST_PATTERN 0xc7
/* The whole-disk guest's write granularity (every load's bs is a multiple) */
#define GUEST_BLOCK (4 * KiB)

const ActiveMethodInfo active_methods[AM__MAX] = {
    [AM_LM_BACKGROUND] = { "livemerge", "background",
                           "livemerge background" },
    [AM_LM_WRITE_BLOCKING] = { "livemerge", "write-blocking",
                               "livemerge write-blocking" },
    [AM_LM_ADAPTIVE] = { "livemerge", "adaptive", "livemerge adaptive" },
    [AM_LM_AB] = { "livemerge-ab", "adaptive",
                   "livemerge adaptive, previous default (A/B)" },
    [AM_LM_MIRROR] = { "livemerge-mirror", "adaptive",
                       "livemerge-mirror (default: adaptive)" },
    [AM_NO_JOB] = { "no-job", "-", "guest alone (no job)" },
    [AM_QEMU_COMMIT] = { "qemu-block-commit", "background",
                         "QEMU active block-commit" },
    [AM_QEMU_MIRROR] = { "qemu-blockdev-mirror", "write-blocking",
                         "QEMU blockdev-mirror write-blocking" },
    [AM_QEMU_MIRROR_BG] = { "qemu-blockdev-mirror", "background",
                            "QEMU blockdev-mirror background" },
};

const BenchLoadSpec active_loads[ACTIVE_N_LOADS] = {
    [ACTIVE_LOAD_IDLE] = { "idle", NULL, 0, 0 },
    [ACTIVE_LOAD_4K] = { "4k-qd16", "randwrite", 4 * KiB, 16 },
    { "64k-qd4", "randwrite", 64 * KiB, 4 },
    [ACTIVE_LOAD_4K_WHOLE] = { "4k-qd16-whole", "randwrite", 4 * KiB, 16 },
    [ACTIVE_LOAD_64K_WHOLE] = { "64k-qd4-whole", "randwrite", 64 * KiB, 4 },
};

gboolean active_is_livemerge(ActiveMethod m)
{
    return m <= AM_LM_MIRROR;
}

/* The job copies into target.qcow2 (on the base) and pivots onto it */
static gboolean is_mirror(ActiveMethod m)
{
    return m == AM_LM_MIRROR || m == AM_QEMU_MIRROR || m == AM_QEMU_MIRROR_BG;
}

gboolean active_load_whole(guint li)
{
    return li >= ACTIVE_N_HALF_LOADS;
}

const char *active_cache_name(gboolean direct)
{
    return direct ? "direct" : "page";
}

const char *active_cache_setup(gboolean direct)
{
    return direct ? "`cache.direct=on`, aio=native"
                  : "page cache, aio=threads";
}

static BenchDaemonKind daemon_kind(Bench *b, ActiveMethod m)
{
    if (m == AM_LM_AB) {
        return BENCH_DAEMON_PLUGIN_AB;
    }
    return active_is_livemerge(m) || m == AM_NO_JOB || b->rival_plugin
           ? BENCH_DAEMON_PLUGIN : BENCH_DAEMON_STOCK;
}

void active_key(const ActiveCtx *c, const ActiveSpec *s, ActiveKey *k)
{
    if (s->guest_impact) {
        g_snprintf(k->mode, sizeof(k->mode), "%s,guest-impact=%d",
                   active_methods[s->m].mode, s->guest_impact);
    } else {
        g_strlcpy(k->mode, active_methods[s->m].mode, sizeof(k->mode));
    }
    k->key = (BenchKey) {
        c->scenario, active_methods[s->m].method, k->mode,
        active_loads[s->li].name, active_cache_name(s->direct),
        c->size_label,
    };
}

static void active_timeline_free(gpointer p)
{
    ActiveTimeline *t = p;

    g_free(t->dir);
    g_free(t);
}

/* Where the timelines of @k's runs are kept */
static char *timeline_key(const ActiveKey *k)
{
    return g_strdup_printf("%s/%s-%s-%s", k->key.load, k->key.method,
                           k->key.mode, k->key.cache);
}

ActiveTimeline *active_timeline(const ActiveCtx *c, const ActiveSpec *s)
{
    g_autofree char *key = NULL;
    ActiveKey k;

    if (!c->timelines) {
        return NULL;
    }
    active_key(c, s, &k);
    key = timeline_key(&k);
    return g_hash_table_lookup(c->timelines, key);
}

void active_ctx_init(ActiveCtx *c, Bench *b, const char *scenario,
                     gboolean keep_timelines)
{
    g_autofree char *base = NULL, *overlay = NULL;
    g_autofree char *sa = bench_size_str(b->sz.active_alloc);
    g_autofree char *sd = bench_size_str(b->sz.active_disk);
    g_autoptr(GError) err = NULL;
    guint64 half = b->sz.active_disk / 2;

    *c = (ActiveCtx) {
        .b = b,
        .scenario = scenario,
        .size_label = g_strdup_printf("%s/%s", sa, sd),
        .pristine = g_build_filename(b->work_dir, scenario, "pristine",
                                     NULL),
    };
    if (keep_timelines) {
        c->timelines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             active_timeline_free);
    }
    bench_mkdir(c->pristine);
    base = g_build_filename(c->pristine, "base.qcow2", NULL);
    overlay = g_build_filename(c->pristine, "overlay.qcow2", NULL);
    bench_image_create(base, b->sz.active_disk, NULL);
    bench_image_fill(base, PATTERN_BASE, 0, MIN(b->sz.base_data, half));
    bench_image_create(overlay, b->sz.active_disk, "base.qcow2");
    bench_image_spread(overlay, PATTERN_MID, 0, half, b->sz.active_alloc);
    /* The check must pass where nothing happened, or it proves nothing */
    if (!bench_image_verify_spread(overlay, half, b->sz.active_alloc,
                                   PATTERN_MID, MIN(b->sz.base_data, half),
                                   PATTERN_BASE, &err)) {
        bench_die("the content check fails on the pristine disk: %s",
                  err->message);
    }
}

void active_ctx_clear(ActiveCtx *c)
{
    bench_remove_tree(c->pristine);
    g_clear_pointer(&c->timelines, g_hash_table_unref);
    g_free(c->pristine);
    g_free(c->size_label);
}

static gboolean start_job(const ActiveSpec *s, LmQmp *qmp, GError **error)
{
    g_autofree char *impact = s->guest_impact
        ? g_strdup_printf(", \"guest-impact\": %d", s->guest_impact)
        : g_strdup("");

    switch (s->m) {
    case AM_LM_BACKGROUND:
    case AM_LM_WRITE_BLOCKING:
    case AM_LM_ADAPTIVE:
    case AM_LM_AB:
        return lm_qmp_runf(qmp, error, "livemerge-commit",
                           "{\"job-id\": \"" JOB_ID "\", \"device\": "
                           "\"overlay\", \"copy-mode\": \"%s\"%s}",
                           active_methods[s->m].mode, impact);
    case AM_QEMU_COMMIT:
        /* No top: QEMU's active commit */
        return lm_qmp_runf(qmp, error, "block-commit",
                           "{\"job-id\": \"" JOB_ID "\", \"device\": "
                           "\"overlay\"}");
    case AM_LM_MIRROR:
        /* No copy-mode: the default is what is measured */
        return lm_qmp_runf(qmp, error, "livemerge-mirror",
                           "{\"job-id\": \"" JOB_ID "\", \"device\": "
                           "\"overlay\", \"target\": \"target\", \"sync\": "
                           "\"top\"%s}", impact);
    case AM_QEMU_MIRROR:
    case AM_QEMU_MIRROR_BG:
        return lm_qmp_runf(qmp, error, "blockdev-mirror",
                           "{\"job-id\": \"" JOB_ID "\", \"device\": "
                           "\"overlay\", \"target\": \"target\", \"sync\": "
                           "\"top\", \"copy-mode\": \"%s\"}",
                           active_methods[s->m].mode);
    default:
        g_assert_not_reached();
    }
}

static void write_job_dat(const char *dir, GArray *samples, double shift)
{
    g_autofree char *path = g_build_filename(dir, "job.dat", NULL);
    g_autoptr(GString) s = g_string_new("# t_s offset len ready copy_MiBps\n");

    for (guint i = 0; i < samples->len; i++) {
        BenchJobSample *x = &g_array_index(samples, BenchJobSample, i);
        double rate = 0;

        if (i > 0) {
            BenchJobSample *p = &g_array_index(samples, BenchJobSample,
                                               i - 1);

            if (x->t > p->t) {
                rate = (x->offset - p->offset) / (x->t - p->t) / MiB;
            }
        }
        g_string_append_printf(s, "%.3f %" G_GINT64_FORMAT " %"
                               G_GINT64_FORMAT " %d %.1f\n", x->t - shift,
                               x->offset, x->len, x->ready, rate);
    }
    g_file_set_contents(path, s->str, -1, NULL);
}

static void record_lat(BenchRun *run, const char *metric, double us)
{
    if (isnan(us)) {
        bench_run_text(run, metric, "n/a");
    } else {
        bench_run_value(run, metric, us, "us");
    }
}

static void record_guest(BenchRun *run, const BenchFioStats *st)
{
    bench_run_value(run, "guest_iops", st->iops, "IOPS");
    bench_run_value(run, "guest_bw", st->bw_mib, "MiB/s");
    record_lat(run, "lat_mean", st->lat_mean_us);
    record_lat(run, "lat_p50", st->lat_p50_us);
    record_lat(run, "lat_p99", st->lat_p99_us);
    record_lat(run, "lat_p99.9", st->lat_p999_us);
    bench_run_value(run, "fio_window", st->runtime_s, "s");
}

/*
 * Give up on a job as a user would: block-job-cancel (@force after
 * READY, where a soft cancel would wait for the same convergence), then
 * wait for its end.  The overlay stays the disk.  Returns it, or NULL
 * with the run failed.
 */
static const char *cancel_job(LmQmp *qmp, BenchJobWatch *w, BenchRun *run,
                              ActiveTimeline *tl, double t_start,
                              gboolean force)
{
    g_autoptr(GError) err = NULL;
    const LmJobInfo *end;
    gboolean timed_out;

    if (!lm_qmp_runf(qmp, &err, "block-job-cancel",
                     "{\"device\": \"" JOB_ID "\", \"force\": %s}",
                     force ? "true" : "false")) {
        bench_run_fail(run, "block-job-cancel: %s", err->message);
        return NULL;
    }
    end = bench_job_wait(w, FALSE, CANCEL_TIMEOUT_S, &timed_out, &err);
    if (!end) {
        bench_run_fail(run, "no end within %d s of block-job-cancel%s%s",
                       CANCEL_TIMEOUT_S, err ? ": " : "",
                       err ? err->message : "");
        return NULL;
    }
    tl->t_end = bench_job_state_time(end) - w->origin;
    bench_run_value(run, "job_time", bench_job_state_time(end) - t_start,
                    "s");
    return "overlay.qcow2";
}

/*
 * The job part of a run: start, READY or the cap, pivot or cancel.
 * Returns the image the guest's disk is at the end (base, target or
 * overlay), or NULL with the run failed.
 */
static const char *drive_job(Bench *b, const ActiveSpec *s, BenchDaemon *d,
                             BenchJobWatch *w, BenchRun *run,
                             ActiveTimeline *tl)
{
    LmQmp *qmp = bench_daemon_qmp(d);
    g_autoptr(GError) err = NULL;
    const LmJobInfo *info;
    double t_start, t_ready, t_cmd, t_end;
    gboolean timed_out;

    t_start = bench_now();
    tl->t_start = t_start - w->origin;
    tl->t_ready = -1;
    tl->t_pivot = -1;
    if (!start_job(s, qmp, &err)) {
        bench_run_fail(run, "starting the job: %s", err->message);
        return NULL;
    }
    info = bench_job_wait(w, TRUE, b->sz.ready_cap_s, &timed_out, &err);
    if (!info && !timed_out) {
        bench_run_fail(run, "%s", err->message);
        return NULL;
    }
    if (info && info->state != LM_JOB_READY) {
        bench_run_fail(run, "the job ended before READY: %s %s",
                       lm_job_state_name(info->state),
                       info->error ? info->error : "");
        return NULL;
    }

    if (timed_out) {
        /* Never READY within the cap: give up as a user would */
        bench_run_text(run, "time_to_ready", "never");
        return cancel_job(qmp, w, run, tl, t_start, FALSE);
    }

    t_ready = bench_job_state_time(info);
    bench_run_value(run, "time_to_ready", t_ready - t_start, "s");
    tl->t_ready = t_ready - w->origin;
    bench_job_idle(w, b->sz.hold_s);

    t_cmd = bench_now();
    tl->t_pivot = t_cmd - w->origin;
    if (!lm_qmp_runf(qmp, &err, "block-job-complete",
                     "{\"device\": \"" JOB_ID "\"}")) {
        bench_run_fail(run, "block-job-complete: %s", err->message);
        return NULL;
    }
    info = bench_job_wait(w, FALSE, b->sz.pivot_cap_s, &timed_out, &err);
    if (!info && timed_out) {
        /*
         * The pivot did not happen within the cap (a background job that
         * cannot catch up at the pivot): force-cancel, which keeps the
         * overlay as the disk.  (A soft cancel after READY would wait for
         * the same convergence in QEMU's mirror.)
         */
        bench_run_text(run, "pivot", "never");
        return cancel_job(qmp, w, run, tl, t_start, TRUE);
    }
    if (!info) {
        bench_run_fail(run, "waiting for the pivot: %s", err->message);
        return NULL;
    }
    if (info->state != LM_JOB_COMPLETED) {
        bench_run_fail(run, "pivot: %s %s", lm_job_state_name(info->state),
                       info->error ? info->error : "");
        return NULL;
    }
    t_end = bench_job_state_time(info);
    tl->t_end = t_end - w->origin;
    bench_run_value(run, "pivot", (t_end - t_cmd) * 1000, "ms");
    bench_run_value(run, "job_time", t_end - t_start, "s");
    return is_mirror(s->m) ? "target.qcow2" : "base.qcow2";
}

/*
 * Cheap sanity on the images, and on the guest's view: what it never
 * wrote reads as on the pristine disk (half-disk loads: the first half;
 * whole-disk loads: block by block, against fio's log of its writes).
 */
static void check_images(Bench *b, const ActiveSpec *s, BenchRun *run,
                         const char *run_dir, const char *final)
{
    g_autofree char *disk = g_build_filename(run_dir, final, NULL);
    const char *const all[] = { "base.qcow2", "overlay.qcow2",
                                is_mirror(s->m) ? "target.qcow2" : NULL,
                                NULL };
    guint64 half = b->sz.active_disk / 2;
    g_autoptr(GError) err = NULL;

    for (const char *const *i = all; *i; i++) {
        g_autofree char *p = g_build_filename(run_dir, *i, NULL);

        if (!bench_image_check(p, &err)) {
            bench_run_fail(run, "qemu-img check: %s", err->message);
            return;
        }
    }
    if (active_load_whole(s->li)) {
        g_autofree char *iolog = g_build_filename(run_dir, "guest.iolog",
                                                  NULL);
        g_autofree char *scratch = g_build_filename(run_dir, "view.raw",
                                                    NULL);
        g_autofree guint8 *written = bench_fio_written_blocks(
            iolog, b->sz.active_disk, GUEST_BLOCK, &err);

        if (!written ||
            !bench_image_verify_guest(disk, b->sz.active_disk, half,
                                      b->sz.active_alloc, PATTERN_MID,
                                      MIN(b->sz.base_data, half),
                                      PATTERN_BASE, written, GUEST_BLOCK,
                                      GUEST_PATTERN, scratch, &err)) {
            bench_run_fail(run, "the guest's view of %s is not what it "
                           "wrote over the pristine disk: %s", final,
                           err->message);
        }
        return;
    }
    if (!bench_image_verify_spread(disk, half, b->sz.active_alloc,
                                   PATTERN_MID, MIN(b->sz.base_data, half),
                                   PATTERN_BASE, &err)) {
        bench_run_fail(run, "the guest's view of %s differs from the "
                       "pristine disk where the guest did not write: %s",
                       final, err->message);
    }
}

/*
 * The I/Os the guest completed while the job ran (fio's IOPS log over
 * [start, end] of the job): with the no-job IOPS, the guest work lost
 */
static void record_job_ios(BenchRun *run, const char *raw,
                           const ActiveTimeline *tl)
{
    g_autofree char *path = g_build_filename(raw, "guest_iops.1.log", NULL);
    g_autoptr(GArray) log = bench_fio_read_log(path);

    if (tl->t_end > tl->t_start && log->len) {
        bench_run_value(run, "job_ios",
                        bench_fio_log_integral(log, BENCH_FIO_LOG_MSEC / 1e3,
                                               tl->t_start, tl->t_end),
                        "I/Os");
    }
}

/*
 * At most how long the pivot held the guest: its longest request in the
 * log windows from the one block-job-complete was sent in to the one
 * after the job's end (fio's latency log keeps each window's longest, in
 * ns, stamped at the window's end)
 */
static void record_pivot_hold(BenchRun *run, const char *raw,
                              const ActiveTimeline *tl)
{
    g_autofree char *path = g_build_filename(raw, "guest_lat.1.log", NULL);
    g_autoptr(GArray) log = NULL;
    double until = tl->t_end + 2 * BENCH_FIO_LOG_MSEC / 1e3, held = -1;

    if (tl->t_pivot < 0 || tl->t_end < tl->t_pivot) {
        return;
    }
    log = bench_fio_read_log(path);
    for (guint i = 0; i + 1 < log->len; i += 2) {
        double at = g_array_index(log, double, i);

        if (at > tl->t_pivot && at <= until) {
            held = MAX(held, g_array_index(log, double, i + 1) / 1e6);
        }
    }
    if (held >= 0) {
        bench_run_value(run, "pivot_hold", held, "ms");
    }
}

void active_run(ActiveCtx *c, const ActiveSpec *s, int rep)
{
    Bench *b = c->b;
    const BenchLoadSpec *load = &active_loads[s->li];
    gboolean whole = active_load_whole(s->li);
    ActiveKey k;
    BenchRun *run;
    g_autofree char *run_dir = g_build_filename(b->work_dir, "run", NULL);
    g_autofree char *slug = NULL;
    g_autofree char *raw = NULL;
    g_autofree char *fail_log = NULL;
    g_autoptr(GError) err = NULL;
    const char *const images[] = { "base.qcow2", "overlay.qcow2", NULL };
    ActiveTimeline *tl = g_new0(ActiveTimeline, 1);
    const char *final = NULL;
    BenchDaemon *d = NULL;
    BenchFio *fio = NULL;
    BenchJobWatch w = { 0 };
    BenchFioStats st;
    guint64 half = b->sz.active_disk / 2;

    active_key(c, s, &k);
    run = bench_run_begin(b, &k.key, rep,
                          bench_daemon_kind_name(daemon_kind(b, s->m)));
    slug = bench_run_slug(run);
    raw = g_build_filename(b->raw_dir, c->scenario, slug, NULL);
    fail_log = bench_run_failure_log(run);
    bench_remove_tree(run_dir);
    bench_copy_set(c->pristine, run_dir, images);
    bench_mkdir(raw);
    tl->dir = g_strdup(raw);
    if (is_mirror(s->m)) {
        g_autofree char *target = g_build_filename(run_dir, "target.qcow2",
                                                   NULL);

        bench_image_create(target, b->sz.active_disk, "base.qcow2");
    }
    bench_drop_caches(b);

    d = bench_daemon_start(daemon_kind(b, s->m), &err);
    if (!d) {
        bench_run_fail(run, "%s", err->message);
        goto out;
    }
    {
        g_autofree char *base = g_build_filename(run_dir, "base.qcow2", NULL);
        g_autofree char *overlay = g_build_filename(run_dir, "overlay.qcow2",
                                                    NULL);
        g_autofree char *target = g_build_filename(run_dir, "target.qcow2",
                                                   NULL);

        if (!bench_daemon_add_qcow2(d, "base", base, NULL, TRUE, s->direct,
                                    &err) ||
            !bench_daemon_add_qcow2(d, "overlay", overlay, "base", FALSE,
                                    s->direct, &err) ||
            (is_mirror(s->m) &&
             !bench_daemon_add_qcow2(d, "target", target, "base", FALSE,
                                     s->direct, &err)) ||
            !bench_daemon_export(d, "overlay", &err)) {
            bench_run_fail(run, "setup: %s", err->message);
            goto stop;
        }
    }

    if (load->rw) {
        g_autofree char *iolog = g_build_filename(run_dir, "guest.iolog",
                                                  NULL);
        BenchFioLoad fl = {
            .spec = load,
            .nbd_socket = bench_daemon_nbd_socket(d),
            .export_name = BENCH_EXPORT,
            .offset = whole ? 0 : half,
            .size = whole ? b->sz.active_disk : half,
            .ramp_s = whole ? b->sz.whole_ramp_s : b->sz.ramp_s,
            .dir = raw,
            .pattern = whole ? GUEST_PATTERN : 0,
            .iolog = whole ? iolog : NULL,
        };

        fio = bench_fio_start(&fl, &err);
        if (!fio) {
            bench_run_fail(run, "fio: %s", err->message);
            goto stop;
        }
        bench_fio_wait_ramp(fio);
    }
    bench_job_watch_init(&w, d, JOB_ID, fio ? bench_fio_t0(fio)
                                            : bench_now());
    if (s->m == AM_NO_JOB) {
        bench_sleep(whole ? b->sz.whole_baseline_s : b->sz.baseline_s);
        final = "overlay.qcow2";
    } else {
        final = drive_job(b, s, d, &w, run, tl);
        write_job_dat(raw, w.samples, 0);
        bench_run_value(run, "qmp_reply_max", w.max_reply * 1000, "ms");
        if (w.samples->len) {
            BenchJobSample *last = &g_array_index(w.samples, BenchJobSample,
                                                  w.samples->len - 1);

            bench_run_value(run, "job_len", (double)last->len / MiB, "MiB");
        }
    }
    bench_job_watch_clear(&w);
    if (fio) {
        gboolean ok = bench_fio_finish(g_steal_pointer(&fio), &st, &err);

        if (!ok) {
            bench_run_fail(run, "guest: %s", err->message);
        } else {
            record_guest(run, &st);
            if (s->m != AM_NO_JOB) {
                record_job_ios(run, raw, tl);
                record_pivot_hold(run, raw, tl);
            }
        }
    }

stop:
    bench_fio_free(fio);
    {
        g_autoptr(GError) stop_err = NULL;

        if (!bench_daemon_stop(d, fail_log, bench_run_failed(run),
                               &stop_err)) {
            bench_run_fail(run, "%s", stop_err->message);
        }
    }

    if (!bench_run_failed(run) && final) {
        check_images(b, s, run, run_dir, final);
    }

out:
    if (c->timelines && rep == 0 && !bench_run_failed(run)) {
        g_hash_table_replace(c->timelines, timeline_key(&k),
                             g_steal_pointer(&tl));
    }
    if (tl) {
        active_timeline_free(tl);
    }
    bench_run_end(run);
    bench_remove_tree(run_dir);
}

