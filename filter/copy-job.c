/*
 * livemerge job core: the copy loop, READY and the ending, for every kind
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/job.h"

#include "copy-job.h"
#include "filter-driver.h"

/* How long an idle job in sync sleeps before it looks again */
#define IDLE_SLICE_NS   (100 * SCALE_MS)
/* The longest the job keeps the main loop (or iothread) to itself */
#define MAX_BUSY_NS     (5 * SCALE_MS)
/* Pause before retrying a region whose error was ignored */
#define RETRY_DELAY_NS  (100 * SCALE_MS)
/* Before a drained last copy: flushes until one takes less than this */
#define QUICK_FLUSH_NS  (10 * SCALE_MS)
#define MAX_EARLY_FLUSHES 4

static CopyJob *to_copy_job(Job *job)
{
    return container_of(job, CopyJob, common.job);
}

BdrvChild * GRAPH_WRLOCK copy_job_hold(CopyJob *s, const char *name,
                                       BlockDriverState *bs, uint64_t perm,
                                       uint64_t shared, Error **errp)
{
    if (block_job_add_bdrv(&s->common, name, bs, perm, shared, errp) < 0) {
        return NULL;
    }
    /* block_job_add_bdrv() puts the new link first */
    return s->common.nodes->data;
}

int copy_job_freeze_chain(CopyJob *s, BlockDriverState *top,
                          BlockDriverState *base, Error **errp)
{
    int ret;

    bdrv_graph_rdlock_main_loop();
    ret = bdrv_freeze_backing_chain(top, base, errp);
    bdrv_graph_rdunlock_main_loop();
    if (ret < 0) {
        return -EPERM;
    }
    s->frozen_top = top;
    s->frozen_base = base;
    s->chain_frozen = true;
    return 0;
}

int64_t copy_job_cluster_granularity(BlockDriverState *dest)
{
    BlockDriverInfo bdi;
    int64_t granularity;

    granularity = bdrv_get_info(dest, &bdi) >= 0 && bdi.cluster_size ?
                  bdi.cluster_size : 64 * KiB;
    return MAX(granularity, 4 * KiB);
}

/* ------------------------------------------------------------------ */
/* The copy loop */

/* Returns the bytes brought in sync since the last call */
static int64_t update_progress(CopyJob *s)
{
    int64_t done = copy_engine_take_done(s->engine);

    job_progress_update(&s->common.job, done);
    job_progress_set_remaining(&s->common.job,
                               copy_engine_dirty_bytes(s->engine) +
                               copy_engine_bytes_in_flight(s->engine));
    return done;
}

/* What a failed read (of the source view) or write is about */
static const char *error_node_name(CopyJob *s, bool is_read)
{
    BdrvChild *c = is_read && s->source ? s->source : s->dest;

    return c ? bdrv_get_node_name(c->bs) : "?";
}

/*
 * Apply the error policy to the engine's latest error.  Returns 0 to go
 * on (the failed region is dirty again and will be retried), or the error
 * to end the job with.
 */
static int coroutine_fn handle_engine_error(CopyJob *s, Error **errp)
{
    BlockErrorAction action;
    bool is_read;
    int ret = copy_engine_take_error(s->engine, &is_read);

    if (!ret) {
        return 0;
    }
    action = block_job_error_action(&s->common,
                                    is_read ? s->on_source_error
                                            : s->on_target_error,
                                    is_read, -ret);
    switch (action) {
    case BLOCK_ERROR_ACTION_REPORT:
        error_setg_errno(errp, -ret, "Could not %s '%s'",
                         is_read ? "read from" : "write to",
                         error_node_name(s, is_read));
        return ret;
    case BLOCK_ERROR_ACTION_IGNORE:
        job_sleep_ns(&s->common.job, RETRY_DELAY_NS);
        return 0;
    case BLOCK_ERROR_ACTION_STOP:
        /* block_job_error_action() paused the job: retried on resume */
        job_pause_point(&s->common.job);
        return 0;
    default:
        g_assert_not_reached();
    }
}

/*
 * Copies of cached data, zero writes and block status of cached metadata
 * can all complete without yielding: let the guest's requests and QMP in
 * at least every MAX_BUSY_NS.
 */
static void coroutine_fn yield_if_due(CopyJob *s)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    if (now - s->last_yield >= MAX_BUSY_NS) {
        job_sleep_ns(&s->common.job, 0);
        s->last_yield = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    }
}

static int coroutine_fn mark_allocated(CopyJob *s, Error **errp)
{
    int64_t length = copy_engine_length(s->engine);
    int64_t offset = 0;

    while (offset < length) {
        offset = copy_engine_mark_allocated(s->engine, offset);
        if (offset < 0) {
            error_setg_errno(errp, -offset, "Could not read the allocation "
                             "of '%s'", error_node_name(s, true));
            return offset;
        }
        job_progress_set_remaining(&s->common.job,
                                   copy_engine_dirty_bytes(s->engine));
        if (job_is_cancelled(&s->common.job)) {
            return -ECANCELED;
        }
        job_pause_point(&s->common.job);
        yield_if_due(s);
    }
    return 0;
}

/* One step while the destination is not in sync: a copy, or a wait */
static void coroutine_fn copy_step(CopyJob *s)
{
    /*
     * A sleep ends early when the job is kicked (block-job-set-speed,
     * livemerge-set-guest-impact, a pause): what the rate limit or the
     * pacing still asks for is waited out before the next copy, as
     * QEMU's block_job_ratelimit_sleep() does
     */
    int64_t hold = MAX(pacing_hold_ns(s->pacing),
                       ratelimit_calculate_delay(&s->common.limit, 0));
    int64_t started;

    if (copy_engine_move_due(s->engine)) {
        /* An error is the engine's to report, as a copy's is */
        copy_engine_move(s->engine);
    }
    started = hold ? 0 : copy_engine_start_next(s->engine);

    if (hold) {
        job_sleep_ns(&s->common.job, hold);
    } else if (started) {
        /* Charged when issued, so a burst cannot outrun the limit */
        int64_t delay = ratelimit_calculate_delay(&s->common.limit, started);

        delay = MAX(delay, pacing_give_way(s->pacing));
        if (delay > 0) {
            job_sleep_ns(&s->common.job, delay);
        }
    } else if (copy_engine_ops_in_flight(s->engine)) {
        /* Only copies or guest writes in flight: let them end */
        copy_engine_wait_one(s->engine);
    } else {
        job_sleep_ns(&s->common.job, 0);
    }
    job_pause_point(&s->common.job);
    yield_if_due(s);
}

/*
 * Whatever the job wrote to the destination is made durable before READY
 * and before the graph changes at the end: the source, where the guest's
 * flushes made it durable, may then go.  Nothing written since the last
 * flush (an active commit whose rounds gave the whole top back): nothing
 * to flush, and the pivot holds the guest for no flush at all.
 * @guest_data_too: flush what the guest wrote there as well (see
 * flush_moved()).
 *
 * The graph read lock only around the flush itself: held while the job
 * waits for its copies, it could keep a graph change waiting forever
 */
static int coroutine_fn co_flush_dest(CopyJob *s, bool guest_data_too)
{
    int ret;

    bdrv_graph_co_rdlock();
    ret = guest_data_too ? bdrv_co_flush(s->dest->bs) :
                           copy_engine_flush_dest(s->engine);
    bdrv_graph_co_rdunlock();
    return ret;
}

static int coroutine_fn flush_dest(CopyJob *s, Error **errp)
{
    int ret = co_flush_dest(s, false);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not flush '%s'",
                         bdrv_get_node_name(s->dest->bs));
    }
    return ret;
}

/*
 * In sync: READY once the destination is flushed; from then on every
 * guest write reaches both sides.  Returns true when the run is over (a
 * kind without READY), or a negative errno in *ret.
 */
static bool coroutine_fn in_sync_step(CopyJob *s, int *ret, Error **errp)
{
    Job *job = &s->common.job;

    if (!s->goes_ready || !job_is_ready(job)) {
        *ret = flush_dest(s, errp);
        if (*ret < 0 || !s->goes_ready) {
            return true;
        }
        copy_engine_set_write_blocking(s->engine, true);
        s->reached_ready = true;
        job_transition_to_ready(job);
    }
    /* In sync, maybe for long: the copy buffers are not needed */
    copy_engine_release_buffers(s->engine);
    job_sleep_ns(job, IDLE_SLICE_NS);
    return false;
}

/* The job is asked to end: cancelled, completed, or cancelled once READY */
static bool end_requested(CopyJob *s)
{
    Job *job = &s->common.job;

    /*
     * A pivot (accepted only once READY) does not wait for the loop to be
     * in sync: the last copy is made with the guest drained, as a guest
     * that keeps discarding could keep the loop from ever getting there
     */
    return job_is_cancelled(job) || s->should_complete ||
           (job_cancel_requested(job) && job_is_ready(job));
}

/*
 * A run that ends in a last copy (a pivot, or a cancel once READY) makes
 * it with the guest drained, and its flush writes out whatever the
 * guest's writes left in the host's page cache since the last one: after
 * a second of whole-disk guest writes, 270-480 ms of a held guest at the
 * pivot.  Flushed first with the guest running, until a flush finds
 * little to write, the destination leaves the drained flush only what
 * came during that last one: the guest was held 2-13 ms.  A guest that
 * writes faster than the disk takes it in would keep every flush long:
 * a bounded number of them.  A pivot flushes only what the job wrote
 * (often nothing: see co_flush_dest()); a cancel of a job that emptied
 * its top flushes the guest's writes there too, drained (flush_moved()).
 */
static void coroutine_fn flush_before_drain(CopyJob *s)
{
    bool guest_data_too = !s->should_complete &&
                          copy_engine_empties_top(s->engine);

    if (!s->reached_ready || job_is_cancelled(&s->common.job)) {
        return;
    }
    for (int i = 0; i < MAX_EARLY_FLUSHES; i++) {
        int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

        if (co_flush_dest(s, guest_data_too) < 0) {
            /* The last copy flushes again, and reports it */
            return;
        }
        if (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start < QUICK_FLUSH_NS) {
            return;
        }
    }
}

int coroutine_fn copy_job_run(Job *job, Error **errp)
{
    CopyJob *s = to_copy_job(job);
    int ret = 0;

    if (s->kind->prepare_dest) {
        ret = s->kind->prepare_dest(s, errp);
        if (ret < 0) {
            return ret;
        }
    }
    ret = mark_allocated(s, errp);
    if (ret < 0) {
        return ret;
    }
    pacing_start(s->pacing);

    for (;;) {
        ret = handle_engine_error(s, errp);
        if (ret < 0 || end_requested(s)) {
            break;
        }
        pacing_update(s->pacing, update_progress(s));
        if (!copy_engine_in_sync(s->engine)) {
            copy_step(s);
        } else if (in_sync_step(s, &ret, errp)) {
            break;
        }
    }

    copy_engine_wait_all(s->engine);
    if (ret == 0) {
        flush_before_drain(s);
    }
    update_progress(s);
    if (job_is_cancelled(job) && ret == 0) {
        ret = -ECANCELED;
    }
    return ret;
}

void coroutine_fn copy_job_pause(Job *job)
{
    copy_engine_wait_all(to_copy_job(job)->engine);
}

/*
 * Errors of requests that completed while the job was paused are not
 * acted on: their regions are dirty again and are retried now.  A fault
 * that persists stops the job again, once.
 */
void coroutine_fn copy_job_resume(Job *job)
{
    bool is_read;

    copy_engine_take_error(to_copy_job(job)->engine, &is_read);
}

void copy_job_complete(Job *job, Error **errp)
{
    CopyJob *s = to_copy_job(job);

    if (!s->goes_ready || !job_is_ready(job)) {
        error_setg(errp, "The %s job '%s' cannot be completed: %s",
                   job_type_str(job), job->id, s->goes_ready ?
                   "it is not ready" : "it completes by itself");
        return;
    }
    s->should_complete = true;
    job_enter(job);
}

bool copy_job_cancel(Job *job, bool force)
{
    /* Before READY any cancel aborts; after it a soft cancel completes */
    return force || !job_is_ready(job);
}

bool copy_job_drained_poll(BlockJob *bjob)
{
    CopyJob *s = container_of(bjob, CopyJob, common);

    /* A drain the job itself made must not wait for it */
    WITH_JOB_LOCK_GUARD() {
        if (!bjob->job.paused && !job_is_cancelled_locked(&bjob->job) &&
            !s->in_drain) {
            return true;
        }
    }
    return s->engine && copy_engine_ops_in_flight(s->engine) > 0;
}

/* ------------------------------------------------------------------ */
/* The ending */

static void drain_begin(CopyJob *s)
{
    assert(!s->in_drain);
    s->in_drain = true;
    for (size_t i = 0; i < ARRAY_SIZE(s->drain_nodes); i++) {
        if (s->drain_nodes[i]) {
            bdrv_drained_begin(s->drain_nodes[i]);
        }
    }
}

static void drain_end(CopyJob *s)
{
    for (size_t i = ARRAY_SIZE(s->drain_nodes); i-- > 0;) {
        if (s->drain_nodes[i]) {
            bdrv_drained_end(s->drain_nodes[i]);
        }
    }
    s->in_drain = false;
}

/* Copy whatever is still dirty, then flush: the destination is in sync */
static int coroutine_fn sync_and_flush(CopyJob *s, Error **errp)
{
    int ret;

    while (copy_engine_start_next(s->engine)) {
        /* keep the engine busy */
    }
    copy_engine_wait_all(s->engine);
    ret = copy_engine_take_error(s->engine, &(bool){false});
    if (!ret) {
        ret = co_flush_dest(s, false);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not bring '%s' in sync",
                         bdrv_get_node_name(s->dest->bs));
    }
    return ret;
}

typedef struct FinalSync {
    CopyJob *job;
    int ret;
    bool done;
} FinalSync;

static void coroutine_fn final_sync_co(void *opaque)
{
    FinalSync *f = opaque;
    CopyJob *s = f->job;
    Error *local_err = NULL;

    /* Everyone is stopped: nothing to give way to */
    pacing_guest_stopped(s->pacing);
    copy_engine_catch_up(s->engine);
    f->ret = sync_and_flush(s, &local_err);
    if (local_err) {
        error_prepend(&local_err, "livemerge: %s job '%s': ",
                      job_type_str(&s->common.job), s->common.job.id);
        error_report_err(local_err);
    }
    update_progress(s);
    f->done = true;
    aio_wait_kick();
}

static void final_sync_start(CopyJob *s, FinalSync *f)
{
    *f = (FinalSync) { .job = s };
    aio_co_enter(bdrv_get_aio_context(s->dest->bs),
                 qemu_coroutine_create(final_sync_co, f));
}

/* Called with the job's AioContext held once (as job_exit() does) */
static int final_sync_wait(CopyJob *s, FinalSync *f)
{
    AIO_WAIT_WHILE(s->common.job.aio_context, !f->done);
    return f->ret;
}

/*
 * The last copy before the graph changes, with every user of what the
 * job reads and writes drained: take in what writers that bypass the
 * filter changed, copy the little that is dirty and flush.  Done at
 * finalization rather than at the end of the run, so that a job waiting
 * for job-finalize does not hold the guest.
 */
static int final_sync(CopyJob *s)
{
    FinalSync f;

    final_sync_start(s, &f);
    return final_sync_wait(s, &f);
}

static void remove_request_handler(CopyJob *s)
{
    if (s->handler_installed) {
        livemerge_filter_set_request_handler(s->filter, NULL);
        s->handler_installed = false;
    }
}

/* Before the graph changes: guest writes go straight on, chain unfrozen */
static void release_chain(CopyJob *s)
{
    remove_request_handler(s);
    if (s->chain_frozen) {
        bdrv_graph_rdlock_main_loop();
        bdrv_unfreeze_backing_chain(s->frozen_top, s->frozen_base);
        bdrv_graph_rdunlock_main_loop();
        s->chain_frozen = false;
    }
}

/*
 * The job's own links go.  A pivot (a kind with READY) moves the disk's
 * users and leaves the job's links where they are, so they go after it:
 * a destination that lost its last user would go back to the main loop's
 * context, and a pivot onto a node of another context fails.  A change of
 * backing links (the other kinds) goes after them: QEMU refuses to move a
 * job's link along with the chain.
 */
static void drop_links(CopyJob *s)
{
    s->source = NULL;
    s->dest = NULL;
    block_job_remove_all_bdrv(&s->common);
}

/* What the end of a successful run is: a graph change, or a last copy */
static bool wants_finish(CopyJob *s)
{
    return !s->goes_ready || s->should_complete;
}

/*
 * A commit that ends without its pivot leaves in the base what the top
 * gave back, which the guest's flushes of the top no longer reach: flush
 * it before the filter (which flushed both) goes
 */
static void flush_moved(CopyJob *s)
{
    int ret;

    bdrv_graph_rdlock_main_loop();
    ret = bdrv_flush(s->dest->bs);
    bdrv_graph_rdunlock_main_loop();
    if (ret < 0) {
        error_report("livemerge: %s job '%s': could not flush '%s': %s",
                     job_type_str(&s->common.job), s->common.job.id,
                     bdrv_get_node_name(s->dest->bs), strerror(-ret));
    }
}

/*
 * Put the graph in its final shape (the kind's finish), or leave it as it
 * was; either way the filter goes.  A soft cancel after READY leaves the
 * destination a point-in-time copy of the source.
 */
static int copy_job_exit(Job *job)
{
    CopyJob *s = to_copy_job(job);
    BlockDriverState *filter = s->filter;
    bool finish = job->ret == 0 && wants_finish(s);
    bool sync = job->ret == 0 && (finish || s->reached_ready);
    Error *local_err = NULL;
    int ret = 0;

    if (s->prepared) {
        return 0;
    }
    s->prepared = true;

    drain_begin(s);
    if (sync && !s->finished_by_group && s->engine) {
        ret = final_sync(s);
        finish = finish && ret == 0;
    }
    if (!finish && s->engine && copy_engine_empties_top(s->engine)) {
        flush_moved(s);
    }
    release_chain(s);
    if (!s->goes_ready) {
        drop_links(s);
    }
    if (finish && !s->finished_by_group) {
        ret = s->kind->finish(s, &local_err);
        if (ret < 0) {
            error_prepend(&local_err, "livemerge: %s job '%s': ",
                          job_type_str(job), job->id);
            error_report_err(local_err);
        }
    }
    if (s->goes_ready) {
        drop_links(s);
    }

    livemerge_filter_set_owner(filter, NULL);
    livemerge_filter_remove(filter, &error_abort);
    if (s->kind->cleanup) {
        s->kind->cleanup(s);
    }
    drain_end(s);
    /* The job's own reference, from livemerge_filter_insert() */
    bdrv_unref(filter);
    s->filter = NULL;
    return ret;
}

int copy_job_prepare(Job *job)
{
    return copy_job_exit(job);
}

void copy_job_abort(Job *job)
{
    copy_job_exit(job);
}

void copy_job_clean(Job *job)
{
    CopyJob *s = to_copy_job(job);

    pacing_free(g_steal_pointer(&s->pacing));
    copy_engine_free(g_steal_pointer(&s->engine));
    if (s->kind->free) {
        s->kind->free(s);
    }
    bdrv_unref(s->active);
}

/* ------------------------------------------------------------------ */
/* Starting */

/*
 * QEMU's blocker says only "in use by block job: commit"; a refusal
 * caused by a livemerge job names the job.  Called before the job holds
 * anything but its main node.
 */
static void name_job_in_blocker(BlockJob *bjob, BlockDriverState *main_bs)
{
    bdrv_op_unblock_all(main_bs, bjob->blocker);
    g_clear_pointer(&bjob->blocker, error_free);
    error_setg(&bjob->blocker, "block device is in use by livemerge %s job "
               "'%s'", job_type_str(&bjob->job), bjob->job.id);
    lm_block_job_block_ops(main_bs, bjob->blocker);
}

/*
 * qcow2 appends every cluster it allocates at the end of its file, and
 * ext4 does a direct write that extends a file synchronously: with
 * aio=native io_submit() returns only when the write is done, and the
 * event loop, which serves the guest too, waits (a third of a full-pace
 * copy into a sparse base; the guest kept 0.07 of its IOPS,
 * bench/results/2026-11-30-costs/).  A file made long enough first
 * (sparse: no blocks) takes the new clusters inside it.  Best effort:
 * only a qcow2 node over a regular file, through the node's own file
 * link (which holds RESIZE while the node is writable), by what the view's
 * top layer holds (at most the view's length: a sparse tail is still an
 * apparent size); a failure leaves the file as it was.
 */
static void grow_dest_file(BlockDriverState *bs, BlockDriverState *view_top,
                           int64_t length)
{
    BdrvChild *file;
    bool growable;
    int64_t len, bytes;

    bdrv_graph_rdlock_main_loop();
    file = bs->file;
    growable = file && bs->drv && file->bs->drv &&
               g_str_equal(bs->drv->format_name, "qcow2") &&
               g_str_equal(file->bs->drv->format_name, "file") &&
               (file->perm & BLK_PERM_RESIZE);
    bdrv_graph_rdunlock_main_loop();
    if (!growable) {
        return;
    }
    bytes = MIN(bdrv_get_allocated_file_size(view_top), length);
    len = bdrv_getlength(file->bs);
    if (len >= 0 && bytes > 0) {
        bdrv_truncate(file, len + bytes, false, PREALLOC_MODE_OFF, 0, NULL);
    }
}

static int start_engine(CopyJob *s, const CopyJobOptions *o, Error **errp)
{
    CopyEngineConfig cfg = { .filter = NULL };
    int64_t length, granularity;

    length = s->kind->setup(s, &cfg, errp);
    if (length < 0) {
        return length;
    }
    if (cfg.method == COPY_READ_WRITE) {
        grow_dest_file(cfg.dest->bs, cfg.view_top, length);
    }
    granularity = o->granularity ?: cfg.granularity;
    cfg.granularity = granularity;
    cfg.max_chunk = MAX(QEMU_ALIGN_DOWN(LIVEMERGE_DEFAULT_MAX_CHUNK,
                                        granularity), granularity);
    cfg.busy_chunk = MAX(QEMU_ALIGN_DOWN(LIVEMERGE_BUSY_CHUNK, granularity),
                         granularity);
    cfg.buf_size = MAX(o->buf_size, cfg.max_chunk);
    cfg.max_in_flight = o->max_in_flight;
    if (s->mirrors_writes) {
        cfg.filter = s->filter;
    }
    bdrv_graph_rdlock_main_loop();
    s->engine = copy_engine_new(&cfg, length, errp);
    bdrv_graph_rdunlock_main_loop();
    if (!s->engine) {
        return -EINVAL;
    }
    s->pacing = pacing_new(s->engine, s->filter, o->copy_mode,
                           o->guest_impact);
    return 0;
}

static void install_request_handler(CopyJob *s)
{
    LivemergeRequestHandler handler = {
        .co_write = copy_engine_guest_write,
        .co_read = copy_engine_guest_read,
        .co_flush = copy_engine_guest_flush,
        .opaque = s->engine,
    };

    bdrv_drained_begin(s->filter);
    livemerge_filter_set_request_handler(s->filter, &handler);
    s->handler_installed = true;
    bdrv_drained_end(s->filter);
}

/* Everything the job needs once it exists; on failure the caller fails it */
static int copy_job_setup(CopyJob *s, const CopyJobOptions *o, Error **errp)
{
    int ret = start_engine(s, o, errp);

    if (ret < 0) {
        return ret;
    }
    if (s->mirrors_writes) {
        install_request_handler(s);
    }
    return 0;
}

static CopyJob *create_job(const BlockJobDriver *drv, const CopyJobKind *kind,
                           const CopyJobOptions *o, BlockDriverState *filter,
                           Error **errp)
{
    CopyJob *s = block_job_create(o->job_id, drv, NULL, filter, 0,
                                  BLK_PERM_ALL, o->speed, o->job_flags, NULL,
                                  NULL, errp);

    if (!s) {
        return NULL;
    }
    name_job_in_blocker(&s->common, filter);
    /* Only the job may take its filter out of the graph */
    livemerge_filter_set_owner(filter, o->job_id);
    s->kind = kind;
    s->filter = filter;
    s->active = o->active;
    bdrv_ref(s->active);
    s->copy_mode = o->copy_mode;
    s->on_source_error = o->on_source_error;
    s->on_target_error = o->on_target_error;
    /* By default, the last copy quiesces everyone who uses the chain */
    bdrv_graph_rdlock_main_loop();
    s->drain_nodes[0] = livemerge_chain_bottom(o->active);
    bdrv_graph_rdunlock_main_loop();
    return s;
}

CopyJob *copy_job_start(const CopyJobKind *kind, const BlockJobDriver *drv,
                        const CopyJobOptions *o,
                        void (*init)(CopyJob *s, void *opaque), void *opaque,
                        Error **errp)
{
    BlockDriverState *filter;
    AioContext *ctx;
    CopyJob *s;
    int ret;

    GLOBAL_STATE_CODE();

    filter = livemerge_filter_insert(o->active, o->filter_node_name, errp);
    if (!filter) {
        return NULL;
    }
    ctx = bdrv_get_aio_context(o->active);
    lm_aio_context_acquire(ctx);
    /* A destination below must stay writable for us through the chain */
    bdrv_graph_rdlock_main_loop();
    ret = livemerge_filter_set_share_write(filter, true, errp);
    bdrv_graph_rdunlock_main_loop();
    if (ret < 0) {
        goto fail_filter;
    }
    s = create_job(drv, kind, o, filter, errp);
    if (!s) {
        goto fail_filter;
    }
    init(s, opaque);
    if (copy_job_setup(s, o, errp) < 0) {
        /* Undo as a failed job would; job_early_fail() only frees it */
        s->common.job.ret = -EPERM;
        copy_job_abort(&s->common.job);
        copy_job_clean(&s->common.job);
        job_early_fail(&s->common.job);
        lm_aio_context_release(ctx);
        return NULL;
    }
    job_start(&s->common.job);
    lm_aio_context_release(ctx);
    return s;

fail_filter:
    lm_aio_context_release(ctx);
    livemerge_filter_remove(filter, &error_abort);
    lm_aio_context_acquire(ctx);
    bdrv_unref(filter);
    lm_aio_context_release(ctx);
    return NULL;
}

bool copy_job_write_blocking(CopyJob *s)
{
    return copy_engine_write_blocking(s->engine);
}

static void set_write_blocking_bh(void *opaque)
{
    CopyJob *s = opaque;

    copy_engine_set_write_blocking(s->engine, true);
}

void copy_job_set_write_blocking(CopyJob *s)
{
    GLOBAL_STATE_CODE();
    /* In the job's context, where the engine and the guest's writes run */
    aio_wait_bh_oneshot(s->common.job.aio_context, set_write_blocking_bh, s);
}

bool copy_job_actively_synced(CopyJob *s)
{
    return job_is_ready(&s->common.job) && copy_job_write_blocking(s);
}

CopyJob *copy_job_find(const char *arg, const char *job_id, Error **errp)
{
    Job *job;

    WITH_JOB_LOCK_GUARD() {
        job = job_get_locked(job_id);
        if (!job) {
            error_setg(errp, "Parameter '%s': no job named '%s'", arg,
                       job_id);
            return NULL;
        }
        if (job->driver->run != copy_job_run) {
            error_setg(errp, "Parameter '%s': '%s' is not a livemerge job",
                       arg, job_id);
            return NULL;
        }
    }
    return to_copy_job(job);
}

bool copy_job_set_guest_impact(CopyJob *s, int guest_impact, Error **errp)
{
    AioContext *ctx = s->common.job.aio_context;
    bool ended;

    WITH_JOB_LOCK_GUARD() {
        ended = job_is_completed_locked(&s->common.job);
    }
    /* A job that has copied all it will (or never started) has no pacing */
    if (ended || !s->pacing) {
        error_setg(errp, "Parameter 'job-id': the job '%s' has ended",
                   s->common.job.id);
        return false;
    }
    /* The pacing policy is the job's: change it in the job's context */
    lm_aio_context_acquire(ctx);
    pacing_set_guest_impact(s->pacing, guest_impact);
    lm_aio_context_release(ctx);
    job_enter(&s->common.job);
    return true;
}

/* ------------------------------------------------------------------ */
/* Groups of jobs */

static bool group_check(CopyJob **jobs, size_t n, Error **errp)
{
    for (size_t i = 0; i < n; i++) {
        Job *job = &jobs[i]->common.job;

        for (size_t j = 0; j < i; j++) {
            if (jobs[j] == jobs[i]) {
                error_setg(errp, "Parameter 'job-ids': '%s' is given twice",
                           job->id);
                return false;
            }
        }
        if (!jobs[i]->goes_ready) {
            error_setg(errp, "Parameter 'job-ids': the %s job '%s' has no "
                       "READY phase", job_type_str(job), job->id);
            return false;
        }
        WITH_JOB_LOCK_GUARD() {
            if (job->status != JOB_STATUS_READY || jobs[i]->should_complete ||
                job->cancelled) {
                error_setg(errp, "Parameter 'job-ids': the job '%s' is not "
                           "ready (status '%s')", job->id,
                           JobStatus_str(job->status));
                return false;
            }
        }
    }
    return true;
}

static AioContext *job_context(CopyJob *s)
{
    return s->common.job.aio_context;
}

static void group_drain_begin(CopyJob **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lm_aio_context_acquire(job_context(jobs[i]));
        drain_begin(jobs[i]);
        lm_aio_context_release(job_context(jobs[i]));
    }
}

static void group_drain_end(CopyJob **jobs, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        lm_aio_context_acquire(job_context(jobs[i]));
        drain_end(jobs[i]);
        lm_aio_context_release(job_context(jobs[i]));
    }
}

/*
 * With every job's chain drained together, bring every destination in
 * sync: the copies of all jobs run at once
 */
static int group_sync(CopyJob **jobs, size_t n, Error **errp)
{
    g_autofree FinalSync *f = g_new0(FinalSync, n);
    int ret = 0;

    for (size_t i = 0; i < n; i++) {
        final_sync_start(jobs[i], &f[i]);
    }
    for (size_t i = 0; i < n; i++) {
        AioContext *ctx = jobs[i]->common.job.aio_context;

        lm_aio_context_acquire(ctx);
        if (final_sync_wait(jobs[i], &f[i]) < 0 && ret == 0) {
            ret = f[i].ret;
            error_setg_errno(errp, -ret, "The job '%s' could not bring '%s' "
                             "in sync", jobs[i]->common.job.id,
                             bdrv_get_node_name(jobs[i]->dest->bs));
        }
        lm_aio_context_release(ctx);
    }
    return ret;
}

/* Pivot every job; all or none */
static int group_pivot(CopyJob **jobs, size_t n, int64_t fail_after,
                       Error **errp)
{
    for (size_t i = 0; i < n; i++) {
        int ret = -EIO;

        if ((int64_t)i == fail_after) {
            error_setg(errp, "failure injected by x-fail-after");
        } else {
            lm_aio_context_acquire(job_context(jobs[i]));
            ret = jobs[i]->kind->finish(jobs[i], errp);
            lm_aio_context_release(job_context(jobs[i]));
        }
        if (ret < 0) {
            error_prepend(errp, "The job '%s' could not pivot, so no job did: ",
                          jobs[i]->common.job.id);
            while (i-- > 0) {
                lm_aio_context_acquire(job_context(jobs[i]));
                jobs[i]->kind->unfinish(jobs[i]);
                lm_aio_context_release(job_context(jobs[i]));
            }
            return ret;
        }
    }
    return 0;
}

/* Each job leaves READY now: by the standard verbs, so events are as usual */
static void group_end_jobs(CopyJob **jobs, size_t n, bool pivot)
{
    for (size_t i = 0; i < n; i++) {
        Job *job = &jobs[i]->common.job;

        /* Writes from now on are the new disk's (or the source's) alone */
        lm_aio_context_acquire(job_context(jobs[i]));
        remove_request_handler(jobs[i]);
        lm_aio_context_release(job_context(jobs[i]));
        jobs[i]->finished_by_group = true;
        WITH_JOB_LOCK_GUARD() {
            Error *local_err = NULL;

            /* Allowed in READY and in STANDBY (a drained READY job) */
            if (pivot) {
                job_complete_locked(job, &local_err);
            } else {
                job_user_cancel_locked(job, false, &local_err);
            }
            if (local_err) {
                error_report_err(local_err);
            }
        }
    }
}

int copy_job_group_end(CopyJob **jobs, size_t n, bool pivot,
                       int64_t fail_after, Error **errp)
{
    int ret;

    GLOBAL_STATE_CODE();

    if (!group_check(jobs, n, errp)) {
        return -EINVAL;
    }
    group_drain_begin(jobs, n);
    ret = group_sync(jobs, n, errp);
    if (ret == 0 && pivot) {
        ret = group_pivot(jobs, n, fail_after, errp);
    }
    if (ret == 0) {
        group_end_jobs(jobs, n, pivot);
    }
    group_drain_end(jobs, n);
    return ret;
}
