/*
 * Scenarios 2, 3, 4, 7 and 8 and the timeline: active commit and mirror
 * under a guest.
 *
 * The disk is base <- overlay (overlay exported, the active layer).  The
 * overlay holds data in the first half of the disk; the guest (fio, nbd
 * engine) writes the second half, or, in the "-whole" loads, the whole
 * disk, the region being copied included: every byte it writes is then
 * one pattern and fio logs every write, so the guest's final view is
 * checked block by block.  Each run: fresh images and daemon,
 * fio warms up, the job starts, READY (or the cap: "never", then
 * block-job-cancel), READY held for a moment under load, pivot
 * (block-job-complete to BLOCK_JOB_COMPLETED), fio stopped.  fio's
 * numbers cover the job from its start to its end.  Afterwards every
 * image passes qemu-img check and the first half of the guest's disk
 * (which the guest never wrote) equals the pristine one (whole-disk
 * guest: every block reads what the guest last wrote there or, where it
 * never wrote, the pristine data).
 *
 * Methods: livemerge in each copy mode, QEMU's active commit (block-commit
 * on the active layer: QEMU's mirror in background mode), QEMU's
 * blockdev-mirror with copy-mode=write-blocking (to a new overlay on the
 * same base: the same bytes to copy; QEMU cannot mirror into a backing
 * node) and in background mode, livemerge-mirror the same way (when the
 * plugin offers it), and the guest with no job as the baseline.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "bench.h"

#include <math.h>
#include <string.h>
#include <gio/gio.h>

#include "daemon.h"
#include "fio.h"
#include "images.h"
#include "report.h"

#define SCENARIO "active"
#define JOB_ID "bench"
#define CANCEL_TIMEOUT_S 120
/* What a whole-disk guest writes: unlike any pattern of the pristine disk */
#define GUEST_PATTERN 0xc7
/* The whole-disk guest's write granularity (every load's bs is a multiple) */
#define GUEST_BLOCK (4 * KiB)

typedef enum {
    AM_LM_BACKGROUND,
    AM_LM_WRITE_BLOCKING,
    AM_LM_ADAPTIVE,
    AM_LM_MIRROR,
    AM_NO_JOB,
    AM_QEMU_COMMIT,
    AM_QEMU_MIRROR,
    AM_QEMU_MIRROR_BG,
    AM__MAX,
} ActiveMethod;

static const struct {
    const char *method;
    const char *mode;
    const char *label;
} am[AM__MAX] = {
    [AM_LM_BACKGROUND] = { "livemerge", "background",
                           "livemerge background" },
    [AM_LM_WRITE_BLOCKING] = { "livemerge", "write-blocking",
                               "livemerge write-blocking" },
    [AM_LM_ADAPTIVE] = { "livemerge", "adaptive", "livemerge adaptive" },
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

/* The guest writes the second half of the disk in the first
 * N_HALF_LOADS loads, the whole disk in the others */
static const BenchLoadSpec loads[] = {
    { "idle", NULL, 0, 0 },
    { "4k-qd16", "randwrite", 4 * KiB, 16 },
    { "64k-qd4", "randwrite", 64 * KiB, 4 },
    { "4k-qd16-whole", "randwrite", 4 * KiB, 16 },
    { "64k-qd4-whole", "randwrite", 64 * KiB, 4 },
};
#define N_LOADS G_N_ELEMENTS(loads)
#define N_HALF_LOADS 3
#define LOAD_4K 1
#define LOAD_4K_WHOLE 3

/* Where a run's timeline lives (first repetition only) */
typedef struct {
    char *dir;              /* fio logs, job.dat */
    double t_start;         /* job start, on fio's clock */
    double t_ready;         /* < 0: never */
    double t_end;
} Timeline;

typedef struct {
    Bench *b;
    const BenchActiveSel *sel;
    /* what scenarios 2-4 and the timeline run, on the half-disk loads */
    gboolean use[AM__MAX];
    gboolean use_load[N_HALF_LOADS];
    gboolean has_lm_mirror;     /* the plugin offers livemerge-mirror */
    char *pristine;
    char *size_label;
    GHashTable *timelines;  /* "load/method-mode" -> Timeline */
} Active;

static void timeline_free(gpointer p)
{
    Timeline *t = p;

    g_free(t->dir);
    g_free(t);
}

static gboolean is_livemerge(ActiveMethod m)
{
    return m <= AM_LM_MIRROR;
}

/* The job copies into target.qcow2 (on the base) and pivots onto it */
static gboolean is_mirror(ActiveMethod m)
{
    return m == AM_LM_MIRROR || m == AM_QEMU_MIRROR || m == AM_QEMU_MIRROR_BG;
}

static gboolean load_whole(guint li)
{
    return li >= N_HALF_LOADS;
}

/*
 * Whether repetition @rep of @m under load @li belongs to a selected
 * scenario (7 and 8 make job_reps repetitions, the others reps)
 */
static gboolean wanted(const Active *a, ActiveMethod m, guint li, int rep)
{
    const BenchActiveSel *sel = a->sel;
    /* --quick: 7 and 8 under one load (the others take the same paths) */
    gboolean new_rep = rep < a->b->sz.job_reps &&
                       (!a->b->quick || li == LOAD_4K_WHOLE);
    gboolean mirror_job = new_rep && sel->mirror_job &&
                          (li == LOAD_4K || li == LOAD_4K_WHOLE) &&
                          (is_mirror(m) || m == AM_NO_JOB);

    if ((m == AM_LM_MIRROR && !a->has_lm_mirror) ||
        (m == AM_NO_JOB && !loads[li].rw)) {
        return FALSE;
    }
    if (!load_whole(li)) {
        return (rep < a->b->sz.reps && a->use[m] && a->use_load[li]) ||
               mirror_job;
    }
    return mirror_job ||
           (new_rep && sel->whole &&
            (m == AM_LM_ADAPTIVE || m == AM_LM_MIRROR || m == AM_NO_JOB ||
             m == AM_QEMU_COMMIT || m == AM_QEMU_MIRROR));
}

static const char *daemon_kind(Bench *b, ActiveMethod m)
{
    return is_livemerge(m) || m == AM_NO_JOB || b->rival_plugin ? "plugin"
                                                                : "stock";
}

static gboolean start_job(ActiveMethod m, LmQmp *qmp, GError **error)
{
    switch (m) {
    case AM_LM_BACKGROUND:
    case AM_LM_WRITE_BLOCKING:
    case AM_LM_ADAPTIVE:
        return lm_qmp_runf(qmp, error, "livemerge-commit",
                           "{\"job-id\": \"" JOB_ID "\", \"device\": "
                           "\"overlay\", \"copy-mode\": \"%s\"}", am[m].mode);
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
                           "\"top\"}");
    case AM_QEMU_MIRROR:
    case AM_QEMU_MIRROR_BG:
        return lm_qmp_runf(qmp, error, "blockdev-mirror",
                           "{\"job-id\": \"" JOB_ID "\", \"device\": "
                           "\"overlay\", \"target\": \"target\", \"sync\": "
                           "\"top\", \"copy-mode\": \"%s\"}", am[m].mode);
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
                              Timeline *tl, double t_start, gboolean force)
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
static const char *drive_job(Active *a, ActiveMethod m, BenchDaemon *d,
                             BenchJobWatch *w, BenchRun *run, Timeline *tl)
{
    Bench *b = a->b;
    LmQmp *qmp = bench_daemon_qmp(d);
    g_autoptr(GError) err = NULL;
    const LmJobInfo *info;
    double t_start, t_ready, t_cmd, t_end;
    gboolean timed_out;

    t_start = bench_now();
    tl->t_start = t_start - w->origin;
    tl->t_ready = -1;
    if (!start_job(m, qmp, &err)) {
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
    return is_mirror(m) ? "target.qcow2" : "base.qcow2";
}

/*
 * Cheap sanity on the images, and on the guest's view: what it never
 * wrote reads as on the pristine disk (half-disk loads: the first half;
 * whole-disk loads: block by block, against fio's log of its writes).
 */
static void check_images(Active *a, ActiveMethod m, guint li, BenchRun *run,
                         const char *run_dir, const char *final)
{
    Bench *b = a->b;
    g_autofree char *disk = g_build_filename(run_dir, final, NULL);
    const char *const all[] = { "base.qcow2", "overlay.qcow2",
                                is_mirror(m) ? "target.qcow2" : NULL, NULL };
    guint64 half = b->sz.active_disk / 2;
    g_autoptr(GError) err = NULL;

    for (const char *const *i = all; *i; i++) {
        g_autofree char *p = g_build_filename(run_dir, *i, NULL);

        if (!bench_image_check(p, &err)) {
            bench_run_fail(run, "qemu-img check: %s", err->message);
            return;
        }
    }
    if (load_whole(li)) {
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
static void record_job_ios(BenchRun *run, const char *raw, const Timeline *tl)
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

static void active_run(Active *a, ActiveMethod m, guint li, int rep)
{
    Bench *b = a->b;
    const BenchLoadSpec *load = &loads[li];
    BenchKey k = { SCENARIO, am[m].method, am[m].mode, load->name, "direct",
                   a->size_label };
    BenchRun *run = bench_run_begin(b, &k, rep, daemon_kind(b, m));
    g_autofree char *run_dir = g_build_filename(b->work_dir, "run", NULL);
    g_autofree char *slug = bench_run_slug(run);
    g_autofree char *raw = g_build_filename(b->raw_dir, SCENARIO, slug, NULL);
    g_autofree char *fail_log = bench_run_failure_log(run);
    g_autoptr(GError) err = NULL;
    const char *const images[] = { "base.qcow2", "overlay.qcow2", NULL };
    Timeline *tl = g_new0(Timeline, 1);
    const char *final = NULL;
    BenchDaemon *d = NULL;
    BenchFio *fio = NULL;
    BenchJobWatch w = { 0 };
    BenchFioStats st;
    guint64 half = b->sz.active_disk / 2;

    bench_remove_tree(run_dir);
    bench_copy_set(a->pristine, run_dir, images);
    bench_mkdir(raw);
    tl->dir = g_strdup(raw);
    if (is_mirror(m)) {
        g_autofree char *target = g_build_filename(run_dir, "target.qcow2",
                                                   NULL);

        bench_image_create(target, b->sz.active_disk, "base.qcow2");
    }
    bench_drop_caches(b);

    d = bench_daemon_start(g_str_equal(daemon_kind(b, m), "plugin"), &err);
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

        if (!bench_daemon_add_qcow2(d, "base", base, NULL, TRUE, TRUE,
                                    &err) ||
            !bench_daemon_add_qcow2(d, "overlay", overlay, "base", FALSE,
                                    TRUE, &err) ||
            (is_mirror(m) &&
             !bench_daemon_add_qcow2(d, "target", target, "base", FALSE,
                                     TRUE, &err)) ||
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
            .offset = load_whole(li) ? 0 : half,
            .size = load_whole(li) ? b->sz.active_disk : half,
            .ramp_s = b->sz.ramp_s,
            .dir = raw,
            .pattern = load_whole(li) ? GUEST_PATTERN : 0,
            .iolog = load_whole(li) ? iolog : NULL,
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
    if (m == AM_NO_JOB) {
        bench_sleep(b->sz.baseline_s);
        final = "overlay.qcow2";
    } else {
        final = drive_job(a, m, d, &w, run, tl);
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
            if (m != AM_NO_JOB) {
                record_job_ios(run, raw, tl);
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
        check_images(a, m, li, run, run_dir, final);
    }

out:
    if (rep == 0 && !bench_run_failed(run)) {
        g_hash_table_replace(a->timelines,
                             g_strdup_printf("%s/%s-%s", load->name,
                                             am[m].method, am[m].mode),
                             g_steal_pointer(&tl));
    }
    if (tl) {
        timeline_free(tl);
    }
    bench_run_end(run);
    bench_remove_tree(run_dir);
}

static BenchKey key_of(Active *a, ActiveMethod m, const char *load)
{
    return (BenchKey) { SCENARIO, am[m].method, am[m].mode, load, "direct",
                        a->size_label };
}

/* The load with the highest guest write bandwidth on its own */
static guint heaviest_load(Active *a)
{
    guint best = N_HALF_LOADS - 1;
    double best_bw = -1;

    for (guint li = 1; li < N_HALF_LOADS; li++) {
        BenchKey k = key_of(a, AM_NO_JOB, loads[li].name);
        BenchSummary s;

        bench_summarize(a->b->report, &k, "guest_bw", &s);
        if (s.n && s.median > best_bw) {
            best_bw = s.median;
            best = li;
        }
    }
    return best;
}

static char *cell(Active *a, ActiveMethod m, const char *load,
                  const char *metric, int decimals, BenchSummary *out)
{
    BenchKey k = key_of(a, m, load);
    BenchSummary s;

    bench_summarize(a->b->report, &k, metric, out ? out : &s);
    return bench_fmt_cell(out ? out : &s, decimals);
}

/* READY ratio: livemerge / rival; "QEMU never" when only the rival failed
 * to get there */
static char *ready_ratio(const BenchSummary *lm, const BenchSummary *rival)
{
    if (lm->n && !lm->n_text && rival->n_text && !rival->n) {
        return g_strdup("rival never");
    }
    return bench_fmt_ratio(lm, rival);
}

static void comparison_tables(Active *a, ActiveMethod rival,
                              const char *title, const char *intro)
{
    Bench *b = a->b;
    const ActiveMethod rows[] = { AM_NO_JOB, AM_LM_BACKGROUND,
                                  AM_LM_WRITE_BLOCKING, AM_LM_ADAPTIVE,
                                  rival };

    bench_md(b, "\n## %s\n\n%s\n", title, intro);
    for (guint li = 0; li < N_HALF_LOADS; li++) {
        BenchSummary rr, rp, ri, rl;
        gboolean loaded = loads[li].rw != NULL;

        if (!a->use_load[li]) {
            continue;
        }
        bench_md(b, "\n### guest: %s\n",
                 loaded ? loads[li].name : "idle (no I/O)");
        g_free(cell(a, rival, loads[li].name, "time_to_ready", 2, &rr));
        g_free(cell(a, rival, loads[li].name, "pivot", 1, &rp));
        g_free(cell(a, rival, loads[li].name, "guest_iops", 0, &ri));
        g_free(cell(a, rival, loads[li].name, "lat_p99", 0, &rl));
        if (loaded) {
            bench_md_header(b, (const char *[]) {
                "method", "time to READY (s)", "pivot (ms)",
                "job len (MiB)", "QMP reply max (ms)", "guest IOPS",
                "IOPS vs no job", "guest work lost (s)", "p50 (µs)",
                "p99 (µs)",
                "READY ratio vs rival", "IOPS ratio vs rival",
                "p99 ratio vs rival", NULL });
        } else {
            bench_md_header(b, (const char *[]) {
                "method", "time to READY (s)", "pivot (ms)",
                "job len (MiB)", "QMP reply max (ms)", "READY ratio vs rival",
                "pivot ratio vs rival", NULL });
        }
        for (guint r = loaded ? 0 : 1; r < G_N_ELEMENTS(rows); r++) {
            ActiveMethod m = rows[r];
            BenchSummary sr, sp, si, sl, base;
            g_autofree char *c_ready = NULL, *c_pivot = NULL, *c_len = NULL;
            g_autofree char *c_qmp = NULL;
            g_autofree char *c_iops = NULL, *c_p50 = NULL, *c_p99 = NULL;
            g_autofree char *c_lost = NULL;
            g_autofree char *vs_base = NULL, *q_ready = NULL;
            g_autofree char *q_iops = NULL, *q_p99 = NULL, *q_pivot = NULL;

            if (!a->use[m]) {
                continue;
            }
            c_ready = m == AM_NO_JOB ? g_strdup("—")
                      : cell(a, m, loads[li].name, "time_to_ready", 2, &sr);
            c_pivot = m == AM_NO_JOB ? g_strdup("—")
                      : cell(a, m, loads[li].name, "pivot", 1, &sp);
            c_len = m == AM_NO_JOB ? g_strdup("—")
                    : cell(a, m, loads[li].name, "job_len", 0, NULL);
            c_qmp = m == AM_NO_JOB ? g_strdup("—")
                    : cell(a, m, loads[li].name, "qmp_reply_max", 0, NULL);
            if (!is_livemerge(m)) {
                q_ready = g_strdup(m == rival ? "1" : "");
                q_pivot = g_strdup(q_ready);
            } else {
                q_ready = ready_ratio(&sr, &rr);
                q_pivot = bench_fmt_ratio(&sp, &rp);
            }
            if (!loaded) {
                bench_md_row(b, (const char *[]) {
                    am[m].label, c_ready, c_pivot, c_len, c_qmp, q_ready,
                    q_pivot, NULL });
                continue;
            }
            c_iops = cell(a, m, loads[li].name, "guest_iops", 0, &si);
            c_lost = m == AM_NO_JOB ? g_strdup("0")
                     : cell(a, m, loads[li].name, "work_lost", 2, NULL);
            c_p50 = cell(a, m, loads[li].name, "lat_p50", 0, NULL);
            c_p99 = cell(a, m, loads[li].name, "lat_p99", 0, &sl);
            g_free(cell(a, AM_NO_JOB, loads[li].name, "guest_iops", 0,
                        &base));
            vs_base = m == AM_NO_JOB ? g_strdup("1")
                      : base.n && si.n
                      ? g_strdup_printf("%.2f", si.median / base.median)
                      : g_strdup("—");
            if (is_livemerge(m)) {
                q_iops = bench_fmt_ratio(&si, &ri);
                q_p99 = bench_fmt_ratio(&sl, &rl);
            } else {
                q_iops = g_strdup(q_ready);
                q_p99 = g_strdup(q_ready);
            }
            bench_md_row(b, (const char *[]) {
                am[m].label, c_ready, c_pivot, c_len, c_qmp, c_iops, vs_base,
                c_lost, c_p50, c_p99, q_ready, q_iops, q_p99, NULL });
        }
    }
}

static void pivot_table(Active *a)
{
    Bench *b = a->b;
    guint heavy = heaviest_load(a);
    const ActiveMethod rows[] = { AM_LM_BACKGROUND, AM_LM_WRITE_BLOCKING,
                                  AM_LM_ADAPTIVE, AM_QEMU_COMMIT,
                                  AM_QEMU_MIRROR };
    BenchSummary base_bw;

    g_free(cell(a, AM_NO_JOB, loads[heavy].name, "guest_bw", 0, &base_bw));
    bench_md(b, "\n## 3. Pivot time under the heaviest load\n\n"
             "`block-job-complete` sent to `BLOCK_JOB_COMPLETED` received, "
             "after READY was held %.1f s under load.  The heaviest load is "
             "the one moving the most bytes when the guest is alone: %s "
             "(%.0f MiB/s).  No pivot where READY never came.  Other loads "
             "for reference.\n", b->sz.hold_s, loads[heavy].name,
             base_bw.n ? base_bw.median : NAN);
    bench_md_header(b, (const char *[]) {
        "method", "pivot (ms), heaviest load", "ratio livemerge/QEMU commit",
        "ratio livemerge/QEMU mirror", "pivot (ms), other loaded",
        "pivot (ms), idle", NULL });
    for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
        ActiveMethod m = rows[r];
        guint other = heavy == 1 ? 2 : 1;
        BenchSummary s, qc, qm;
        g_autofree char *c = NULL, *c_other = NULL, *c_idle = NULL;
        g_autofree char *r_commit = NULL, *r_mirror = NULL;

        if (!a->use[m]) {
            continue;
        }
        c = cell(a, m, loads[heavy].name, "pivot", 1, &s);
        c_other = a->use_load[other] ? cell(a, m, loads[other].name, "pivot",
                                            1, NULL) : g_strdup("—");
        c_idle = a->use_load[0] ? cell(a, m, "idle", "pivot", 1, NULL)
                                : g_strdup("—");
        g_free(cell(a, AM_QEMU_COMMIT, loads[heavy].name, "pivot", 1, &qc));
        g_free(cell(a, AM_QEMU_MIRROR, loads[heavy].name, "pivot", 1, &qm));
        r_commit = is_livemerge(m) && a->use[AM_QEMU_COMMIT]
                   ? bench_fmt_ratio(&s, &qc) : g_strdup("");
        r_mirror = is_livemerge(m) && a->use[AM_QEMU_MIRROR]
                   ? bench_fmt_ratio(&s, &qm) : g_strdup("");
        bench_md_row(b, (const char *[]) { am[m].label, c, r_commit, r_mirror,
                                           c_other, c_idle, NULL });
    }
}

/* Clustered bars: the loads @lis on x, one bar per method of @rows */
static void bar_plot(Active *a, const char *name, const char *title,
                     const char *metric, const char *ylabel,
                     const ActiveMethod *rows, guint n_rows,
                     const guint *lis, guint n_lis)
{
    Bench *b = a->b;
    g_autofree char *dat = bench_plot_data_path(b, name);
    g_autoptr(GString) data = g_string_new("# load");
    g_autoptr(GString) plot = g_string_new(NULL);
    g_autoptr(GString) cols = g_string_new(NULL);
    int col = 2;

    for (guint r = 0; r < n_rows; r++) {
        g_string_append_printf(data, " \"%s\" min max", am[rows[r]].label);
    }
    g_string_append_c(data, '\n');
    for (guint l = 0; l < n_lis; l++) {
        g_string_append_printf(data, "\"%s\"", loads[lis[l]].name);
        for (guint r = 0; r < n_rows; r++) {
            BenchSummary s;

            g_free(cell(a, rows[r], loads[lis[l]].name, metric, 0, &s));
            if (s.n) {
                g_string_append_printf(data, " %.3f %.3f %.3f", s.median,
                                       s.min, s.max);
            } else if (s.n_text && g_str_equal(metric, "time_to_ready")) {
                /* never READY: drawn at the cap */
                g_string_append_printf(data, " %.3f %.3f %.3f",
                                       b->sz.ready_cap_s, b->sz.ready_cap_s,
                                       b->sz.ready_cap_s);
            } else {
                g_string_append(data, " 0 0 0");
            }
        }
        g_string_append_c(data, '\n');
    }
    g_file_set_contents(dat, data->str, -1, NULL);
    for (guint r = 0; r < n_rows; r++) {
        g_string_append_printf(cols, "%s'%s' using %d:%d:%d%s title '%s'",
                               cols->len ? ", " : "", cols->len ? "" : dat,
                               col, col + 1, col + 2,
                               cols->len ? "" : ":xtic(1)",
                               am[rows[r]].label);
        col += 3;
    }
    g_string_append_printf(plot,
        BENCH_GP_BARS
        "set ylabel '%s'\n"
        "plot %s\n", ylabel, cols->str);
    bench_plot(b, name, title, plot->str);
}

/* Scenarios 2 and 4's plots: their methods over the half-disk loads */
static void half_plot(Active *a, const char *name, const char *title,
                      const char *metric, const char *ylabel,
                      gboolean with_no_job, gboolean with_idle)
{
    ActiveMethod rows[AM__MAX];
    guint lis[N_HALF_LOADS];
    guint n_rows = 0, n_lis = 0;

    for (ActiveMethod m = 0; m < AM__MAX; m++) {
        if (a->use[m] && (m != AM_NO_JOB || with_no_job)) {
            rows[n_rows++] = m;
        }
    }
    for (guint li = with_idle ? 0 : 1; li < N_HALF_LOADS; li++) {
        if (a->use_load[li]) {
            lis[n_lis++] = li;
        }
    }
    bar_plot(a, name, title, metric, ylabel, rows, n_rows, lis, n_lis);
}

static void timeline_plot(Active *a)
{
    Bench *b = a->b;
    guint heavy = heaviest_load(a);
    const ActiveMethod cols[] = { AM_LM_ADAPTIVE, AM_QEMU_COMMIT,
                                  AM_QEMU_MIRROR };
    g_autoptr(GString) plot = g_string_new(NULL);
    double x_max = 1;
    int n = 0;

    for (guint i = 0; i < G_N_ELEMENTS(cols); i++) {
        g_autofree char *key = g_strdup_printf("%s/%s-%s", loads[heavy].name,
                                               am[cols[i]].method,
                                               am[cols[i]].mode);

        n += g_hash_table_contains(a->timelines, key);
    }
    if (!n) {
        bench_md(b, "\n(no timeline: no successful first run under %s)\n",
                 loads[heavy].name);
        return;
    }
    bench_md(b, "\n## Timeline: an active commit under %s\n\n"
             "First repetition; t = 0 is the end of fio's warm-up, the job "
             "starts right after (first dashed line), then READY and the "
             "end of the pivot.  Top: guest write IOPS (fio, 250 ms "
             "averages) and the job's copy rate (offset growth between "
             "`query-block-jobs` polls every 250 ms; QEMU's offset also "
             "counts re-copies).  Bottom: the guest's mean write latency "
             "per 250 ms.\n", loads[heavy].name);
    for (guint i = 0; i < G_N_ELEMENTS(cols); i++) {
        g_autofree char *key = g_strdup_printf("%s/%s-%s", loads[heavy].name,
                                               am[cols[i]].method,
                                               am[cols[i]].mode);
        Timeline *tl = g_hash_table_lookup(a->timelines, key);

        if (tl) {
            x_max = MAX(x_max, tl->t_end * 1.05 + 0.1);
        }
    }
    g_string_append_printf(plot,
        "set multiplot layout 2,%d title 'active commit, guest %s'\n"
        "set key inside top right\n"
        "set xlabel 'seconds'\n"
        "set xrange [0:%.2f]\n", n, loads[heavy].name, x_max);
    for (int row = 0; row < 2; row++) {
        for (guint i = 0; i < G_N_ELEMENTS(cols); i++) {
            g_autofree char *key = g_strdup_printf(
                "%s/%s-%s", loads[heavy].name, am[cols[i]].method,
                am[cols[i]].mode);
            Timeline *tl = g_hash_table_lookup(a->timelines, key);
            g_autofree char *iops = NULL, *lat = NULL, *job = NULL;

            if (!tl) {
                continue;
            }
            iops = g_build_filename(tl->dir, "guest_iops.1.log", NULL);
            lat = g_build_filename(tl->dir, "guest_lat.1.log", NULL);
            job = g_build_filename(tl->dir, "job.dat", NULL);
            g_string_append_printf(plot,
                "unset arrow\nunset y2tics\nunset y2label\n"
                "set ytics nomirror\n"
                "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead dt 2\n",
                tl->t_start, tl->t_start);
            if (tl->t_ready >= 0) {
                g_string_append_printf(plot,
                    "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead "
                    "dt 2 lc rgb 'dark-green'\n", tl->t_ready, tl->t_ready);
            }
            g_string_append_printf(plot,
                "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead "
                "dt 2 lc rgb 'red'\n", tl->t_end, tl->t_end);
            if (row == 0) {
                g_string_append_printf(plot,
                    "set title '%s%s'\n"
                    "set ylabel 'guest write IOPS'\n"
                    "set y2label 'job copy MiB/s'\n"
                    "set y2tics\n"
                    "set yrange [0:*]\nset y2range [0:*]\n"
                    "plot '%s' using ($1/1000):2 with lines title 'guest "
                    "IOPS', '%s' using 1:5 axes x1y2 with steps title "
                    "'copy MiB/s'\n", am[cols[i]].label,
                    tl->t_ready < 0 ? " (never READY, cancelled)" : "",
                    iops, job);
            } else {
                g_string_append_printf(plot,
                    "set title ''\n"
                    "set ylabel 'guest mean latency (ms)'\n"
                    "set logscale y\nset yrange [*:*]\n"
                    "plot '%s' using ($1/1000):($2/1e6) with lines "
                    "title 'latency'\n"
                    "unset logscale y\n", lat);
            }
        }
    }
    g_string_append(plot, "unset multiplot\n");
    bench_plot(b, "active-timeline", "Active commit over time",
               plot->str);
}

/* Guest work lost: the job's time minus the time the no-job guest
 * needs for the I/Os the guest completed during the job */
static double work_lost(double job_time, double job_ios, gpointer data)
{
    return job_time - job_ios / *(double *)data;
}

static void derive_work_lost(Active *a)
{
    for (guint li = 1; li < N_LOADS; li++) {
        BenchKey k = { SCENARIO, NULL, NULL, loads[li].name, "direct",
                       a->size_label };
        BenchSummary base;

        g_free(cell(a, AM_NO_JOB, loads[li].name, "guest_iops", 0, &base));
        if (base.n && base.median > 0) {
            bench_report_derive(a->b->report, &k, "job_time", "job_ios",
                                "work_lost", "s", work_lost, &base.median);
        }
    }
}

/* "3/3": repetitions that reached READY, of the runs made */
static char *ready_count(Active *a, ActiveMethod m, const char *load)
{
    BenchSummary s;

    g_free(cell(a, m, load, "time_to_ready", 2, &s));
    return s.runs ? g_strdup_printf("%d/%d", s.n, s.runs) : g_strdup("—");
}

/* One row of a job table (scenarios 7 and 8) */
static void job_row(Active *a, ActiveMethod m, guint li, ActiveMethod rival)
{
    const char *load = loads[li].name;
    BenchSummary sr, si, sl, sw, rr, rl, rw, base;
    g_autofree char *c_n = NULL, *c_ready = NULL, *c_end = NULL;
    g_autofree char *c_pivot = NULL, *c_iops = NULL, *c_share = NULL;
    g_autofree char *c_lost = NULL, *c_p50 = NULL, *c_p99 = NULL;
    g_autofree char *q_ready = NULL, *q_lost = NULL, *q_p99 = NULL;

    if (m == AM_LM_MIRROR && !a->has_lm_mirror) {
        bench_md_row(a->b, (const char *[]) {
            am[m].label, "n/a: plugin lacks livemerge-mirror", "", "", "",
            "", "", "", "", "", "", "", "", NULL });
        return;
    }
    c_n = m == AM_NO_JOB ? g_strdup("—") : ready_count(a, m, load);
    c_ready = m == AM_NO_JOB ? g_strdup("—")
              : cell(a, m, load, "time_to_ready", 2, &sr);
    c_end = m == AM_NO_JOB ? g_strdup("—")
            : cell(a, m, load, "job_time", 2, NULL);
    c_pivot = m == AM_NO_JOB ? g_strdup("—")
              : cell(a, m, load, "pivot", 1, NULL);
    c_iops = cell(a, m, load, "guest_iops", 0, &si);
    g_free(cell(a, AM_NO_JOB, load, "guest_iops", 0, &base));
    c_share = base.n && si.n ? g_strdup_printf("%.2f",
                                               si.median / base.median)
                             : g_strdup("—");
    c_lost = m == AM_NO_JOB ? g_strdup("0")
             : cell(a, m, load, "work_lost", 2, &sw);
    c_p50 = cell(a, m, load, "lat_p50", 0, NULL);
    c_p99 = cell(a, m, load, "lat_p99", 0, &sl);
    if (m == rival || m == AM_NO_JOB) {
        q_ready = g_strdup(m == rival ? "1" : "");
        q_lost = g_strdup(q_ready);
        q_p99 = g_strdup(q_ready);
    } else {
        g_free(cell(a, rival, load, "time_to_ready", 2, &rr));
        g_free(cell(a, rival, load, "work_lost", 2, &rw));
        g_free(cell(a, rival, load, "lat_p99", 0, &rl));
        q_ready = ready_ratio(&sr, &rr);
        q_lost = bench_fmt_ratio(&sw, &rw);
        q_p99 = bench_fmt_ratio(&sl, &rl);
    }
    bench_md_row(a->b, (const char *[]) {
        am[m].label, c_n, c_ready, c_end, c_pivot, c_iops, c_share, c_lost,
        c_p50, c_p99, q_ready, q_lost, q_p99, NULL });
}

/* Whether a job of @rows ran under load @li (--quick skips loads) */
static gboolean load_has_jobs(Active *a, const ActiveMethod *rows,
                              guint n_rows, guint li)
{
    for (guint r = 0; r < n_rows; r++) {
        BenchSummary s;

        g_free(cell(a, rows[r], loads[li].name, "status", 0, &s));
        if (rows[r] != AM_NO_JOB && s.runs) {
            return TRUE;
        }
    }
    return FALSE;
}

/* Scenarios 7 and 8: one table per load of @all_lis that ran, a plot of
 * the guest work lost */
static void job_tables(Active *a, const char *title, const char *intro,
                       const ActiveMethod *rows, guint n_rows,
                       const guint *all_lis, guint n_all_lis,
                       ActiveMethod rival, const char *plot_name)
{
    Bench *b = a->b;
    ActiveMethod drawn[AM__MAX];
    guint lis[N_LOADS];
    guint n_drawn = 0, n_lis = 0;

    for (guint l = 0; l < n_all_lis; l++) {
        if (load_has_jobs(a, rows, n_rows, all_lis[l])) {
            lis[n_lis++] = all_lis[l];
        }
    }
    bench_md(b, "\n## %s\n\n%s\n", title, intro);
    for (guint l = 0; l < n_lis; l++) {
        bench_md(b, "\n### guest: %s%s\n", loads[lis[l]].name,
                 load_whole(lis[l]) ? " over the whole disk"
                                    : " over the half not being copied");
        bench_md_header(b, (const char *[]) {
            "method", "READY (reps)", "time to READY (s)",
            "start to end (s)", "pivot (ms)", "guest IOPS",
            "IOPS vs no job", "guest work lost (s)", "p50 (µs)", "p99 (µs)",
            "READY ratio vs rival", "work lost ratio vs rival",
            "p99 ratio vs rival", NULL });
        for (guint r = 0; r < n_rows; r++) {
            job_row(a, rows[r], lis[l], rival);
        }
    }
    for (guint r = 0; r < n_rows; r++) {
        if (rows[r] != AM_NO_JOB &&
            (rows[r] != AM_LM_MIRROR || a->has_lm_mirror)) {
            drawn[n_drawn++] = rows[r];
        }
    }
    bar_plot(a, plot_name, "Guest work lost during the job", "work_lost",
             "seconds of no-job guest work (median, min-max)", drawn,
             n_drawn, lis, n_lis);
}

static void report_mirror_job(Active *a, const char *common)
{
    const ActiveMethod rows[] = { AM_NO_JOB, AM_LM_MIRROR, AM_QEMU_MIRROR,
                                  AM_QEMU_MIRROR_BG };
    const guint lis[] = { LOAD_4K, LOAD_4K_WHOLE };
    g_autofree char *intro = g_strdup_printf(
        "A mirror of the overlay's data (`sync: top`) into a new qcow2 "
        "on the same base node, then the pivot onto it (READY held %.1f "
        "s under load first): livemerge-mirror with its default copy mode "
        "against QEMU's `blockdev-mirror` in write-blocking and in "
        "background mode, under 4 KiB random writes at QD16 over the half "
        "of the disk not being copied and over the whole disk.  *READY "
        "(reps)*: repetitions that reached READY within %.0f s, of those "
        "run.  %s", a->b->sz.hold_s, a->b->sz.ready_cap_s, common);

    job_tables(a, "7. Mirror: livemerge-mirror vs QEMU blockdev-mirror",
               intro, rows, G_N_ELEMENTS(rows), lis, G_N_ELEMENTS(lis),
               AM_QEMU_MIRROR, "mirror-job-work-lost");
}

static void report_whole(Active *a, const char *common)
{
    const ActiveMethod rows[] = { AM_NO_JOB, AM_LM_ADAPTIVE, AM_LM_MIRROR,
                                  AM_QEMU_COMMIT, AM_QEMU_MIRROR };
    const guint lis[] = { LOAD_4K_WHOLE, N_LOADS - 1 };
    g_autofree char *intro = g_strdup_printf(
        "The guest writes over its whole disk, the region being copied "
        "included, so every write into a region already in sync costs the "
        "job a second write.  livemerge's active commit (default copy "
        "mode) and livemerge-mirror against QEMU's active commit (the job "
        "virsh uses) and its write-blocking mirror (`sync: top` into a new "
        "qcow2 on the same base: the same bytes).  %s", common);

    job_tables(a, "8. Active jobs with a guest writing its whole disk",
               intro, rows, G_N_ELEMENTS(rows), lis, G_N_ELEMENTS(lis),
               AM_QEMU_MIRROR, "whole-work-lost");
}

static void report(Active *a)
{
    Bench *b = a->b;
    g_autofree char *alloc = bench_size_human(b->sz.active_alloc);
    g_autofree char *disk = bench_size_human(b->sz.active_disk);
    g_autofree char *half = bench_size_human(b->sz.active_disk / 2);
    g_autofree char *intro = g_strdup_printf(
        "base <- overlay (exported), both `cache.direct=on`, aio=native; "
        "the overlay holds %s in the first %s of a %s disk; the guest "
        "(fio nbd engine, random writes, fio's default fixed random seed "
        "so every method sees the same sequence) writes only the other "
        "half, which the job then has to catch up with.  fio warms up "
        "%.1f s (not counted), the job starts; guest numbers cover the "
        "job from start to end (READY held %.1f s, then the pivot).  "
        "*never*: no READY within %.0f s, then cancelled (a pivot that "
        "does not come within %.0f s is *never* too, then force-cancelled)."
        "  "
        "*job len*: the job's final `len` (what it had to copy: the "
        "overlay's data, the clusters the guest allocated during the "
        "warm-up, and every re-dirtied region; QEMU counts re-copies).  "
        "*QMP reply max*: the slowest `query-block-jobs` reply of the "
        "250 ms polls, i.e. how long the daemon's main loop (monitor, "
        "NBD server, the guest's requests) was kept busy at a stretch.  "
        "The no-job row "
        "is the same guest for %.0f s without a job.  Ratios: livemerge "
        "median / rival median (READY, pivot, p99: < 1 is better; IOPS: "
        "> 1 is better).", alloc, half, disk, b->sz.ramp_s, b->sz.hold_s,
        b->sz.ready_cap_s, b->sz.pivot_cap_s, b->sz.baseline_s);
    g_autofree char *common = g_strdup_printf(
        "base <- overlay (exported), both `cache.direct=on`, aio=native; "
        "the overlay holds %s in the first %s of a %s disk.  The "
        "whole-disk guest writes one byte pattern and fio logs every write "
        "it issues (`write_iolog`), so afterwards every 4 KiB block of the "
        "guest's final view is checked: what the guest last wrote there, "
        "or the pristine data.  fio warms up %.1f s (not counted), then "
        "the job starts.  *start to end*: job start to the pivot done (or "
        "to the end of the cancel when READY never came).  *guest work "
        "lost*: the integral over the job of (no-job IOPS − guest IOPS) / "
        "no-job IOPS, in seconds, from fio's %d ms IOPS log and the median "
        "IOPS of the no-job runs under the same load.  Ratios: method "
        "median / QEMU write-blocking mirror median (< 1 is better).",
        alloc, half, disk, b->sz.ramp_s, BENCH_FIO_LOG_MSEC);

    derive_work_lost(a);
    if (a->sel->active) {
        comparison_tables(a, AM_QEMU_COMMIT,
                          "2. Active commit: livemerge vs QEMU's active "
                          "commit", intro);
    }
    if (a->sel->pivot) {
        pivot_table(a);
    }
    if (a->sel->mirror) {
        comparison_tables(a, AM_QEMU_MIRROR,
                          "4. Active commit vs QEMU blockdev-mirror "
                          "copy-mode=write-blocking",
                          "QEMU offers write-blocking for mirror, not for "
                          "commit.  The mirror copies the overlay's data "
                          "(`sync: top`) into a new qcow2 on the same base "
                          "node and pivots to it: the same bytes to copy "
                          "and the same guest load as a commit, but the "
                          "chain keeps two layers (QEMU refuses to mirror "
                          "into a backing node).  Same setup as 2.");
    }
    if (a->sel->active || a->sel->mirror) {
        bench_md(b, "\n### plots\n");
        half_plot(a, "active-iops", "Guest write IOPS during the job",
                  "guest_iops", "IOPS (median, min-max)", TRUE, FALSE);
        half_plot(a, "active-latency", "Guest p99 write latency during the "
                  "job", "lat_p99", "p99 latency, µs (median, min-max)",
                  TRUE, FALSE);
        half_plot(a, "active-ready", "Time to READY (never = drawn at the "
                  "cap)", "time_to_ready", "seconds (median, min-max)",
                  FALSE, TRUE);
    }
    if (a->sel->timeline) {
        timeline_plot(a);
    }
    if (a->sel->mirror_job) {
        report_mirror_job(a, common);
    }
    if (a->sel->whole) {
        report_whole(a, common);
    }
}

void bench_scenario_active(Bench *b, const BenchActiveSel *sel)
{
    Active a = { .b = b, .sel = sel };
    g_autofree char *base = NULL, *overlay = NULL;
    g_autofree char *sa = bench_size_str(b->sz.active_alloc);
    g_autofree char *sd = bench_size_str(b->sz.active_disk);
    guint64 half = b->sz.active_disk / 2;

    a.use[AM_LM_ADAPTIVE] = a.use[AM_NO_JOB] =
        sel->active || sel->pivot || sel->mirror || sel->timeline;
    a.use[AM_QEMU_COMMIT] = sel->active || sel->pivot || sel->timeline;
    a.use[AM_LM_BACKGROUND] = a.use[AM_LM_WRITE_BLOCKING] =
        sel->active || sel->pivot || sel->mirror;
    a.use[AM_QEMU_MIRROR] = sel->mirror;
    a.use_load[0] = sel->active || sel->mirror;
    a.use_load[1] = a.use_load[2] = a.use[AM_LM_ADAPTIVE];
    a.has_lm_mirror = (sel->mirror_job || sel->whole) &&
                      bench_plugin_has_command("livemerge-mirror");
    a.size_label = g_strdup_printf("%s/%s", sa, sd);
    a.timelines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        timeline_free);

    a.pristine = g_build_filename(b->work_dir, "active", "pristine", NULL);
    bench_mkdir(a.pristine);
    base = g_build_filename(a.pristine, "base.qcow2", NULL);
    overlay = g_build_filename(a.pristine, "overlay.qcow2", NULL);
    bench_image_create(base, b->sz.active_disk, NULL);
    bench_image_fill(base, PATTERN_BASE, 0, MIN(b->sz.base_data, half));
    bench_image_create(overlay, b->sz.active_disk, "base.qcow2");
    bench_image_spread(overlay, PATTERN_MID, 0, half, b->sz.active_alloc);
    {
        g_autoptr(GError) err = NULL;

        /* The check must pass where nothing happened, or it proves nothing */
        if (!bench_image_verify_spread(overlay, half, b->sz.active_alloc,
                                       PATTERN_MID, MIN(b->sz.base_data, half),
                                       PATTERN_BASE, &err)) {
            bench_die("the content check fails on the pristine disk: %s",
                      err->message);
        }
    }

    for (int rep = 0; rep < MAX(b->sz.reps, b->sz.job_reps); rep++) {
        for (guint li = 0; li < N_LOADS; li++) {
            for (int i = 0; i < AM__MAX; i++) {
                /* livemerge first, then the rivals; reversed next time */
                ActiveMethod m = rep % 2 ? AM__MAX - 1 - i : i;

                if (wanted(&a, m, li, rep)) {
                    active_run(&a, m, li, rep);
                }
            }
        }
    }
    report(&a);
    bench_remove_tree(a.pristine);
    g_hash_table_unref(a.timelines);
    g_free(a.pristine);
    g_free(a.size_label);
}
