/*
 * livemerge commit job: intermediate and active commit on the copy engine
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The job poses as QEMU's "commit" job type, so every standard job command
 * and event applies.  Its copy loop is the copy engine; this file decides
 * when the base is in sync (READY), what errors mean (on-error), when the
 * adaptive mode turns write-blocking, and how the graph looks afterwards.
 */

#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/blockjob_int.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/job.h"

#include "commit-job.h"
#include "copy-engine.h"
#include "filter-driver.h"
#include "filter-graph.h"

/* How long an idle job in sync sleeps before it looks again */
#define IDLE_SLICE_NS   (100 * SCALE_MS)
/* Adaptive mode compares cleaning and dirtying over this long */
#define ADAPT_WINDOW_NS (200 * SCALE_MS)
/* The longest the job keeps the main loop (or iothread) to itself */
#define MAX_BUSY_NS (5 * SCALE_MS)
/* How often the job looks whether the guest is doing I/O */
#define GUEST_SAMPLE_NS (20 * SCALE_MS)
/* The longest pause after a copy while the guest does I/O */
#define MAX_GIVE_WAY_NS (100 * SCALE_MS)
/* Pause before retrying a region whose error was ignored */
#define RETRY_DELAY_NS  (100 * SCALE_MS)

const char *const livemerge_copy_mode_name[LIVEMERGE_COPY_MODE__MAX] = {
    [LIVEMERGE_COPY_MODE_BACKGROUND] = "background",
    [LIVEMERGE_COPY_MODE_WRITE_BLOCKING] = "write-blocking",
    [LIVEMERGE_COPY_MODE_ADAPTIVE] = "adaptive",
};

typedef struct CommitJob {
    BlockJob common;

    BlockDriverState *filter;
    BlockDriverState *active;
    BlockDriverState *top;
    BlockDriverState *base;
    /* The job's links to the top of the source and to the base */
    BdrvChild *source;
    BdrvChild *dest;
    char *backing_file;
    bool is_active;
    bool base_read_only;
    bool chain_frozen;
    bool handler_installed;

    LivemergeCopyMode copy_mode;
    BlockdevOnError on_error;
    CopyEngine engine;
    bool engine_ready;

    /* When the job last let its AioContext run other work */
    int64_t last_yield;

    /* Guest activity, sampled from the filter's counters */
    int64_t activity_sampled_at;
    uint64_t guest_requests;
    bool guest_busy;

    /* Adaptive mode: bytes cleaned and dirtied in the current window */
    int64_t window_start;
    int64_t window_cleaned;
    int64_t window_dirtied;

    bool should_complete;
    /* The chain's users are drained for the final sync and graph change */
    bool in_drain;
    bool prepared;
} CommitJob;

static CommitJob *to_commit_job(Job *job)
{
    return container_of(job, CommitJob, common.job);
}

/* Returns the bytes brought in sync since the last call */
static int64_t update_progress(CommitJob *s)
{
    CopyEngine *e = &s->engine;
    int64_t done = copy_engine_take_done(e);

    job_progress_update(&s->common.job, done);
    job_progress_set_remaining(&s->common.job,
                               copy_engine_dirty_bytes(e) +
                               e->bytes_in_flight);
    return done;
}

/*
 * Apply on-error to the engine's latest error.  Returns 0 to go on (the
 * failed region is dirty again and will be retried), or the error to end
 * the job with.
 */
static int coroutine_fn handle_engine_error(CommitJob *s, Error **errp)
{
    BlockErrorAction action;
    bool is_read;
    int ret = copy_engine_take_error(&s->engine, &is_read);

    if (!ret) {
        return 0;
    }
    action = block_job_error_action(&s->common, s->on_error, is_read, -ret);
    switch (action) {
    case BLOCK_ERROR_ACTION_REPORT:
        error_setg_errno(errp, -ret, "Could not %s '%s'",
                         is_read ? "read from" : "write to",
                         bdrv_get_node_name(is_read ? s->top : s->base));
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
 * Adaptive mode: stay in background while the copy cleans regions faster
 * than guest writes dirty them, measured over ADAPT_WINDOW_NS; from the
 * first window in which it does not, block guest writes instead (the
 * backlog can then only shrink).
 */
static void adapt_copy_mode(CommitJob *s, int64_t done)
{
    CopyEngine *e = &s->engine;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    if (s->copy_mode != LIVEMERGE_COPY_MODE_ADAPTIVE || e->write_blocking) {
        return;
    }
    s->window_cleaned += done;
    s->window_dirtied += copy_engine_take_dirtied(e);
    if (now - s->window_start < ADAPT_WINDOW_NS) {
        return;
    }
    if (s->window_dirtied > 0 && s->window_dirtied >= s->window_cleaned) {
        copy_engine_set_write_blocking(e, true);
    }
    s->window_start = now;
    s->window_cleaned = 0;
    s->window_dirtied = 0;
}

/*
 * Copies of cached data, zero writes and block status of cached metadata
 * can all complete without yielding: let the guest's requests and QMP in
 * at least every MAX_BUSY_NS.
 */
static void coroutine_fn yield_if_due(CommitJob *s)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    if (now - s->last_yield >= MAX_BUSY_NS) {
        job_sleep_ns(&s->common.job, 0);
        s->last_yield = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    }
}

/* Has the guest sent requests since the last look, GUEST_SAMPLE_NS ago? */
static void sample_guest_activity(CommitJob *s)
{
    LivemergeCounter counters[LIVEMERGE_REQ__MAX];
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    uint64_t requests = 0;

    if (now - s->activity_sampled_at < GUEST_SAMPLE_NS) {
        return;
    }
    livemerge_filter_get_counters(s->filter, counters);
    for (int i = 0; i < LIVEMERGE_REQ__MAX; i++) {
        requests += counters[i].requests;
    }
    s->guest_busy = requests != s->guest_requests;
    copy_engine_set_guest_busy(&s->engine, s->guest_busy);
    s->guest_requests = requests;
    s->activity_sampled_at = now;
}

/*
 * While the guest does I/O the engine copies one small chunk at a time;
 * the job also leaves the disk to the guest for as long as that copy
 * took, so copying takes at most half the time.  Returns the pause
 * (bounded: a copy that stalled says nothing about the next).
 */
static int64_t coroutine_fn give_way_to_guest(CommitJob *s)
{
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    copy_engine_wait_all(&s->engine);
    return MIN(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start,
               MAX_GIVE_WAY_NS);
}

static int coroutine_fn mark_allocated(CommitJob *s, Error **errp)
{
    int64_t offset = 0;

    while (offset < s->engine.length) {
        offset = copy_engine_mark_allocated(&s->engine, offset);
        if (offset < 0) {
            error_setg_errno(errp, -offset, "Could not read the allocation "
                             "of '%s'", bdrv_get_node_name(s->top));
            return offset;
        }
        job_progress_set_remaining(&s->common.job,
                                   copy_engine_dirty_bytes(&s->engine));
        if (job_is_cancelled(&s->common.job)) {
            return -ECANCELED;
        }
        job_pause_point(&s->common.job);
        yield_if_due(s);
    }
    s->window_start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    return 0;
}

/* The job took the RESIZE permission only if the base must grow */
static int coroutine_fn resize_base(CommitJob *s, Error **errp)
{
    if (!(s->dest->perm & BLK_PERM_RESIZE)) {
        return 0;
    }
    return bdrv_co_truncate(s->dest, s->engine.length, false,
                            PREALLOC_MODE_OFF, 0, errp);
}

/* Copy whatever is still dirty, then flush: the base is in sync */
static int coroutine_fn sync_and_flush(CommitJob *s, Error **errp)
{
    CopyEngine *e = &s->engine;
    int ret;

    while (copy_engine_start_next(e)) {
        /* keep the engine busy */
    }
    copy_engine_wait_all(e);
    ret = copy_engine_take_error(e, &(bool){false});
    if (!ret) {
        ret = bdrv_co_flush(s->base);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not bring '%s' in sync",
                         bdrv_get_node_name(s->base));
    }
    return ret;
}

typedef struct FinalSync {
    CommitJob *job;
    int ret;
    bool done;
} FinalSync;

static void coroutine_fn final_sync_co(void *opaque)
{
    FinalSync *f = opaque;
    CommitJob *s = f->job;
    Error *local_err = NULL;

    /* Everyone is stopped: nothing to give way to */
    s->guest_busy = false;
    copy_engine_set_guest_busy(&s->engine, false);
    copy_engine_catch_up(&s->engine);
    f->ret = sync_and_flush(s, &local_err);
    if (local_err) {
        error_prepend(&local_err, "livemerge: commit job '%s': ",
                      s->common.job.id);
        error_report_err(local_err);
    }
    update_progress(s);
    f->done = true;
    aio_wait_kick();
}

/*
 * The last copy before the graph changes, with every user of the chain
 * drained by the caller (draining the base quiesces all its parents: the
 * guest's exports and any other writer of the nodes above it): take in
 * what writers that bypass the filter changed, copy the little that is
 * dirty and flush.  Done here rather than at the end of the run, so that
 * a job waiting for job-finalize does not hold the guest.
 */
static int final_sync(CommitJob *s)
{
    FinalSync f = { .job = s };
    AioContext *ctx = bdrv_get_aio_context(s->base);

    bdrv_coroutine_enter(s->base, qemu_coroutine_create(final_sync_co, &f));
    AIO_WAIT_WHILE(ctx, !f.done);
    return f.ret;
}

static int coroutine_fn commit_job_run(Job *job, Error **errp)
{
    CommitJob *s = to_commit_job(job);
    CopyEngine *e = &s->engine;
    int ret;

    ret = resize_base(s, errp);
    if (ret < 0) {
        return ret;
    }
    ret = mark_allocated(s, errp);
    if (ret < 0) {
        return ret;
    }

    for (;;) {
        int64_t delay;

        ret = handle_engine_error(s, errp);
        if (ret < 0) {
            break;
        }
        if (job_is_cancelled(job) ||
            (job_cancel_requested(job) && job_is_ready(job))) {
            /* Forced, or a soft cancel after READY: keep the chain */
            break;
        }
        adapt_copy_mode(s, update_progress(s));
        sample_guest_activity(s);

        if (s->should_complete) {
            /*
             * Bounded pivot (accepted only once READY): the last copy is
             * made with the guest drained, not waiting for the loop to be
             * in sync first, as a guest that keeps discarding could keep
             * it from ever getting there.
             */
            break;
        }

        if (!copy_engine_in_sync(e)) {
            int64_t started = copy_engine_start_next(e);

            if (started) {
                /* Charged when issued, so a burst cannot outrun the limit */
                delay = block_job_ratelimit_get_delay(&s->common, started);
                if (s->guest_busy) {
                    delay = MAX(delay, give_way_to_guest(s));
                }
                if (delay > 0) {
                    job_sleep_ns(job, delay);
                }
            } else if (copy_engine_ops_in_flight(e)) {
                /* Only copies or guest writes in flight: let them end */
                copy_engine_wait_one(e);
            } else {
                job_sleep_ns(job, 0);
            }
            job_pause_point(job);
            yield_if_due(s);
            continue;
        }

        if (!s->is_active) {
            ret = bdrv_co_flush(s->base);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not flush '%s'",
                                 bdrv_get_node_name(s->base));
            }
            break;
        }

        if (!job_is_ready(job)) {
            ret = bdrv_co_flush(s->base);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not flush '%s'",
                                 bdrv_get_node_name(s->base));
                break;
            }
            /* From now on every guest write reaches both sides */
            copy_engine_set_write_blocking(e, true);
            job_transition_to_ready(job);
        }

        /* In sync, maybe for long: the copy buffers are not needed */
        copy_engine_release_buffers(e);
        job_sleep_ns(job, IDLE_SLICE_NS);
    }

    copy_engine_wait_all(e);
    update_progress(s);
    if (job_is_cancelled(job) && ret == 0) {
        ret = -ECANCELED;
    }
    return ret;
}

static void coroutine_fn commit_job_pause(Job *job)
{
    copy_engine_wait_all(&to_commit_job(job)->engine);
}

/*
 * Errors of requests that completed while the job was paused are not
 * acted on: their regions are dirty again and are retried now.  A fault
 * that persists stops the job again, once.
 */
static void coroutine_fn commit_job_resume(Job *job)
{
    bool is_read;

    copy_engine_take_error(&to_commit_job(job)->engine, &is_read);
}

static void commit_job_complete(Job *job, Error **errp)
{
    CommitJob *s = to_commit_job(job);

    if (!s->is_active || !job_is_ready(job)) {
        error_setg(errp, "The commit job '%s' cannot be completed: %s",
                   job->id, s->is_active ? "it is not ready" :
                   "it completes by itself");
        return;
    }
    s->should_complete = true;
    job_enter(job);
}

static bool commit_job_cancel(Job *job, bool force)
{
    /* Before READY any cancel aborts; after it a soft cancel completes */
    return force || !job_is_ready(job);
}

static bool commit_job_drained_poll(BlockJob *bjob)
{
    CommitJob *s = container_of(bjob, CommitJob, common);

    /* Our own drain for the pivot must not wait for ourselves */
    WITH_JOB_LOCK_GUARD() {
        if (!bjob->job.paused && !job_is_cancelled_locked(&bjob->job) &&
            !s->in_drain) {
            return true;
        }
    }
    return s->engine_ready && copy_engine_ops_in_flight(&s->engine) > 0;
}

/*
 * Put the graph in its final shape: after a pivot the disk's parents use
 * the base; after an intermediate commit the overlay of @top backs onto
 * the base; otherwise the chain is as it was.  Either way the filter goes.
 */
static int commit_job_exit(Job *job)
{
    CommitJob *s = to_commit_job(job);
    BlockDriverState *filter = s->filter;
    bool finish = job->ret == 0 && (!s->is_active || s->should_complete);
    Error *local_err = NULL;
    int ret = 0;

    if (s->prepared) {
        return 0;
    }
    s->prepared = true;

    s->in_drain = true;
    bdrv_drained_begin(s->base);
    if (finish) {
        ret = final_sync(s);
        finish = ret == 0;
    }
    if (s->handler_installed) {
        livemerge_filter_set_write_handler(filter, NULL);
        s->handler_installed = false;
    }
    if (s->chain_frozen) {
        bdrv_unfreeze_backing_chain(s->top, s->base);
        s->chain_frozen = false;
    }
    /* Our own links to the nodes must not follow them to the base */
    s->source = NULL;
    s->dest = NULL;
    block_job_remove_all_bdrv(&s->common);

    if (finish && !s->is_active) {
        ret = bdrv_drop_intermediate(s->top, s->base, s->backing_file);
        if (ret < 0) {
            error_report("livemerge: commit job '%s' could not drop the "
                         "committed layers", job->id);
        }
    } else if (finish) {
        /* The filter's own link to the active layer moves too */
        bdrv_replace_node(s->active, s->base, &local_err);
        if (local_err) {
            error_report_err(local_err);
            ret = -EPERM;
        } else {
            /* The base is the disk now */
            s->base_read_only = false;
        }
    }

    livemerge_filter_set_owner(filter, NULL);
    livemerge_filter_remove(filter, &error_abort);
    if (s->base_read_only) {
        if (bdrv_reopen_set_read_only(s->base, true, &local_err) < 0) {
            error_prepend(&local_err, "livemerge: commit job '%s' could not "
                          "make '%s' read-only again: ", job->id,
                          bdrv_get_node_name(s->base));
            error_report_err(local_err);
            local_err = NULL;
        }
        s->base_read_only = false;
    }

    s->in_drain = false;
    bdrv_drained_end(s->base);
    /* The job's own reference, from livemerge_filter_insert() */
    bdrv_unref(filter);
    s->filter = NULL;
    return ret;
}

static int commit_job_prepare(Job *job)
{
    return commit_job_exit(job);
}

static void commit_job_abort(Job *job)
{
    commit_job_exit(job);
}

static void commit_job_clean(Job *job)
{
    CommitJob *s = to_commit_job(job);

    if (s->engine_ready) {
        copy_engine_destroy(&s->engine);
        s->engine_ready = false;
    }
    g_free(s->backing_file);
    bdrv_unref(s->top);
    bdrv_unref(s->base);
    bdrv_unref(s->active);
}

static const BlockJobDriver commit_job_driver = {
    .job_driver = {
        .instance_size  = sizeof(CommitJob),
        .job_type       = JOB_TYPE_COMMIT,
        .free           = block_job_free,
        .user_resume    = block_job_user_resume,
        .run            = commit_job_run,
        .pause          = commit_job_pause,
        .resume         = commit_job_resume,
        .complete       = commit_job_complete,
        .cancel         = commit_job_cancel,
        .prepare        = commit_job_prepare,
        .abort          = commit_job_abort,
        .clean          = commit_job_clean,
    },
    .drained_poll       = commit_job_drained_poll,
};

/*
 * Refuse when another job or operation already owns the chain (the same
 * checks as QEMU's block-commit: a backing node always blocks
 * COMMIT_SOURCE for its overlay's sake, so only the active layer is asked)
 */
static bool chain_is_free(const CommitJobOptions *o, Error **errp)
{
    return !bdrv_op_is_blocked(o->active, BLOCK_OP_TYPE_COMMIT_SOURCE, errp) &&
           !bdrv_op_is_blocked(o->base, BLOCK_OP_TYPE_COMMIT_TARGET, errp);
}

/*
 * Hold @bs for the job: QEMU's permission errors then name the job.
 * Returns the link, which the job may do I/O through.
 */
static BdrvChild *hold_node(CommitJob *s, const char *name,
                            BlockDriverState *bs, uint64_t perm,
                            uint64_t shared, Error **errp)
{
    if (block_job_add_bdrv(&s->common, name, bs, perm, shared, errp) < 0) {
        return NULL;
    }
    /* block_job_add_bdrv() puts the new link first */
    return s->common.nodes->data;
}

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
    bdrv_op_block_all(main_bs, bjob->blocker);
    bdrv_op_unblock(main_bs, BLOCK_OP_TYPE_DATAPLANE, bjob->blocker);
}

/* Hold every layer from the top down to the base, the base for writing */
static int hold_chain(CommitJob *s, const CommitJobOptions *o, int64_t length,
                      Error **errp)
{
    int64_t base_len = bdrv_getlength(o->base);
    uint64_t base_perm = BLK_PERM_WRITE;
    BlockDriverState *iter;

    if (base_len < 0) {
        error_setg_errno(errp, -base_len, "Could not get the size of '%s'",
                         bdrv_get_node_name(o->base));
        return base_len;
    }
    /* Nothing that refuses resizes could use the base otherwise */
    if (base_len < length) {
        base_perm |= BLK_PERM_RESIZE;
    }
    s->source = hold_node(s, "source", o->top, BLK_PERM_CONSISTENT_READ,
                          BLK_PERM_ALL, errp);
    if (!s->source) {
        return -EPERM;
    }
    for (iter = bdrv_backing_chain_next(o->top); iter != o->base;
         iter = bdrv_backing_chain_next(iter)) {
        if (!hold_node(s, "committed layer", iter, 0, BLK_PERM_ALL, errp)) {
            return -EPERM;
        }
    }
    s->dest = hold_node(s, "base", o->base, base_perm,
                        BLK_PERM_ALL & ~BLK_PERM_RESIZE, errp);
    return s->dest ? 0 : -EPERM;
}

static int64_t choose_granularity(const CommitJobOptions *o)
{
    BlockDriverInfo bdi;
    int64_t granularity;

    if (o->granularity) {
        return o->granularity;
    }
    granularity = bdrv_get_info(o->base, &bdi) >= 0 && bdi.cluster_size ?
                  bdi.cluster_size : 64 * KiB;
    return MAX(granularity, 4 * KiB);
}

static int start_engine(CommitJob *s, const CommitJobOptions *o,
                        int64_t length, Error **errp)
{
    int64_t granularity = choose_granularity(o);
    CopyEngineConfig cfg = {
        .source = s->source,
        .base = o->base,
        .dest = s->dest,
        .filter = s->filter,
        .granularity = granularity,
        .max_chunk = MAX(QEMU_ALIGN_DOWN(LIVEMERGE_DEFAULT_MAX_CHUNK,
                                         granularity), granularity),
        .busy_chunk = MAX(QEMU_ALIGN_DOWN(LIVEMERGE_BUSY_CHUNK, granularity),
                          granularity),
        .buf_size = o->buf_size,
        .max_in_flight = o->max_in_flight,
    };

    cfg.buf_size = MAX(cfg.buf_size, cfg.max_chunk);
    if (copy_engine_init(&s->engine, &cfg, length, errp) < 0) {
        return -EINVAL;
    }
    s->engine_ready = true;
    copy_engine_set_write_blocking(&s->engine,
        o->copy_mode == LIVEMERGE_COPY_MODE_WRITE_BLOCKING);
    return 0;
}

/* Everything the job needs once it exists; on failure the caller fails it */
static int commit_job_setup(CommitJob *s, const CommitJobOptions *o,
                            Error **errp)
{
    int64_t length;
    int ret;

    if (bdrv_is_read_only(o->base)) {
        if (bdrv_reopen_set_read_only(o->base, false, errp) < 0) {
            error_prepend(errp, "Cannot make the base '%s' writable for the "
                          "commit: ", bdrv_get_node_name(o->base));
            return -EPERM;
        }
        s->base_read_only = true;
    }

    length = bdrv_getlength(o->top);
    if (length < 0) {
        error_setg_errno(errp, -length, "Could not get the size of '%s'",
                         bdrv_get_node_name(o->top));
        return length;
    }
    ret = hold_chain(s, o, length, errp);
    if (ret < 0) {
        return ret;
    }
    if (bdrv_freeze_backing_chain(o->top, o->base, errp) < 0) {
        return -EPERM;
    }
    s->chain_frozen = true;

    ret = start_engine(s, o, length, errp);
    if (ret < 0) {
        return ret;
    }
    if (s->is_active) {
        LivemergeWriteHandler handler = {
            .co_write = copy_engine_guest_write,
            .opaque = &s->engine,
        };

        bdrv_drained_begin(s->filter);
        livemerge_filter_set_write_handler(s->filter, &handler);
        s->handler_installed = true;
        bdrv_drained_end(s->filter);
    }
    return 0;
}

BlockJob *livemerge_commit_start(const CommitJobOptions *o, Error **errp)
{
    BlockDriverState *filter;
    AioContext *ctx;
    CommitJob *s;
    int ret;

    GLOBAL_STATE_CODE();

    ctx = bdrv_get_aio_context(o->active);
    aio_context_acquire(ctx);
    if (!chain_is_free(o, errp)) {
        aio_context_release(ctx);
        return NULL;
    }
    aio_context_release(ctx);

    filter = livemerge_filter_insert(o->active, o->filter_node_name, errp);
    if (!filter) {
        return NULL;
    }

    aio_context_acquire(ctx);
    /* The base below must stay writable for us through the whole chain */
    ret = livemerge_filter_set_share_write(filter, true, errp);
    if (ret < 0) {
        goto fail_filter;
    }

    s = block_job_create(o->job_id, &commit_job_driver, NULL, filter, 0,
                         BLK_PERM_ALL, o->speed, o->job_flags, NULL, NULL,
                         errp);
    if (!s) {
        goto fail_filter;
    }
    name_job_in_blocker(&s->common, filter);
    /* Only the job may take its filter out of the graph */
    livemerge_filter_set_owner(filter, o->job_id);
    s->filter = filter;
    s->active = o->active;
    s->top = o->top;
    s->base = o->base;
    bdrv_ref(s->active);
    bdrv_ref(s->top);
    bdrv_ref(s->base);
    s->is_active = o->top == o->active;
    s->backing_file = g_strdup(o->backing_file);
    s->copy_mode = o->copy_mode;
    s->on_error = o->on_error;

    if (commit_job_setup(s, o, errp) < 0) {
        /* Undo as a failed job would; job_early_fail() only frees it */
        s->common.job.ret = -EPERM;
        commit_job_abort(&s->common.job);
        commit_job_clean(&s->common.job);
        job_early_fail(&s->common.job);
        aio_context_release(ctx);
        return NULL;
    }
    job_start(&s->common.job);
    aio_context_release(ctx);
    return &s->common;

fail_filter:
    aio_context_release(ctx);
    livemerge_filter_remove(filter, &error_abort);
    aio_context_acquire(ctx);
    bdrv_unref(filter);
    aio_context_release(ctx);
    return NULL;
}
