/*
 * livemerge job core: the copy loop, READY and the ending, for every kind
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Commit, stream and mirror are one job with three kinds.  The core puts
 * the filter above the disk's active layer, creates a standard QEMU block
 * job (posing as the kind's job type, so every standard job command and
 * event applies), runs the copy engine under the pacing policy, applies
 * the error policies, goes READY when the kind has a READY phase, and at
 * the end makes the last copy with every user of the chain drained and
 * has the kind put the graph in its final shape.
 *
 * A kind says, through its CopyJobKind, which nodes it reads and writes
 * (its source view and destination) and what the graph looks like at the
 * end.  Kinds embed CopyJob first in their own state.
 */

#ifndef LIVEMERGE_COPY_JOB_H
#define LIVEMERGE_COPY_JOB_H

#include "block/block_int.h"
#include "block/blockjob_int.h"
#include "qapi/qapi-types-block-core.h"
#include "qemu/units.h"

#include "copy-engine.h"
#include "filter-graph.h"
#include "pacing.h"

/* What every copy may use of memory, by default: 8 copies of 1 MiB */
#define LIVEMERGE_DEFAULT_BUF_SIZE      (8 * MiB)
#define LIVEMERGE_DEFAULT_MAX_CHUNK     (1 * MiB)
/* The largest copy while the guest does I/O (its requests queue behind) */
#define LIVEMERGE_BUSY_CHUNK            (64 * KiB)
#define LIVEMERGE_DEFAULT_MAX_IN_FLIGHT 16
#define LIVEMERGE_MAX_IN_FLIGHT         256
#define LIVEMERGE_MIN_GRANULARITY       512
#define LIVEMERGE_MAX_GRANULARITY       (64 * MiB)
#define LIVEMERGE_MAX_BUF_SIZE          (1 * GiB)

typedef struct CopyJob CopyJob;

/* What the user asked of every kind of job */
typedef struct CopyJobOptions {
    const char *job_id;
    /* The disk's active layer: the filter goes directly above it */
    BlockDriverState *active;
    const char *filter_node_name;   /* NULL: an implicit node */
    int64_t speed;
    LivemergeCopyMode copy_mode;
    int guest_impact;               /* percent, see pacing.h */
    int64_t granularity;            /* 0: the kind's default */
    int64_t buf_size;
    int max_in_flight;
    BlockdevOnError on_source_error;
    BlockdevOnError on_target_error;
    int job_flags;                  /* JOB_MANUAL_FINALIZE/DISMISS */
} CopyJobOptions;

typedef struct CopyJobKind {
    /*
     * Hold the nodes the job reads and writes (copy_job_hold()), freeze
     * what must not change, and fill in the engine's view, destination
     * and default granularity.  Returns the number of bytes to bring in
     * sync, or a negative errno.
     */
    int64_t (*setup)(CopyJob *s, CopyEngineConfig *cfg, Error **errp);
    /* Before the copy starts, in the job's coroutine (may be NULL) */
    int coroutine_fn (*prepare_dest)(CopyJob *s, Error **errp);
    /*
     * The graph's final shape once the destination is in sync, with
     * every user of the chain drained and the job's own links gone
     */
    int (*finish)(CopyJob *s, Error **errp);
    /* Undo a successful finish (a group pivot failed elsewhere) */
    void (*unfinish)(CopyJob *s);
    /* Whatever the outcome, once the filter is gone (may be NULL) */
    void (*cleanup)(CopyJob *s);
    /* Free the kind's own state (may be NULL) */
    void (*free)(CopyJob *s);
} CopyJobKind;

struct CopyJob {
    BlockJob common;
    const CopyJobKind *kind;

    BlockDriverState *filter;
    BlockDriverState *active;
    /* Draining these quiesces every user of what the job reads or writes */
    BlockDriverState *drain_nodes[2];
    /* The job's links for the engine (set by the kind's setup) */
    BdrvChild *source;
    BdrvChild *dest;
    /* The backing chain the kind froze, from top to base (exclusive) */
    BlockDriverState *frozen_top;
    BlockDriverState *frozen_base;
    bool chain_frozen;

    /* Active commit and mirror: READY, then pivot or keep the source */
    bool goes_ready;
    /* Guest writes go through the engine (mirrored once in sync) */
    bool mirrors_writes;
    BlockdevOnError on_source_error;
    BlockdevOnError on_target_error;
    LivemergeCopyMode copy_mode;

    CopyEngine *engine;
    Pacing *pacing;
    bool handler_installed;
    /* When the job last let its AioContext run other work */
    int64_t last_yield;

    bool reached_ready;
    bool should_complete;
    /* The graph change was made by a group (livemerge-complete) */
    bool finished_by_group;
    bool in_drain;
    bool prepared;
};

/*
 * The BlockJobDriver of a kind whose state type is @state (embedding
 * CopyJob first) and whose QEMU job type is @type
 */
#define COPY_JOB_DRIVER(state, type) {                                  \
    .job_driver = {                                                     \
        .instance_size  = sizeof(state),                                \
        .job_type       = (type),                                       \
        .free           = block_job_free,                               \
        .user_resume    = block_job_user_resume,                        \
        .run            = copy_job_run,                                 \
        .pause          = copy_job_pause,                               \
        .resume         = copy_job_resume,                              \
        .complete       = copy_job_complete,                            \
        .cancel         = copy_job_cancel,                              \
        .prepare        = copy_job_prepare,                             \
        .abort          = copy_job_abort,                               \
        .clean          = copy_job_clean,                               \
    },                                                                  \
    .drained_poll       = copy_job_drained_poll,                        \
}

/*
 * Start a job of @kind on the disk whose active layer is @o->active.
 * Called from the main loop without any AioContext lock held.  @init
 * fills the kind's own state before setup.
 */
CopyJob *copy_job_start(const CopyJobKind *kind, const BlockJobDriver *drv,
                        const CopyJobOptions *o,
                        void (*init)(CopyJob *s, void *opaque), void *opaque,
                        Error **errp);

/*
 * Hold @bs for the job: QEMU's permission errors then name the job.
 * Returns the link, which the job may do I/O through.
 */
BdrvChild *copy_job_hold(CopyJob *s, const char *name, BlockDriverState *bs,
                         uint64_t perm, uint64_t shared, Error **errp);

/* Freeze the backing chain from @top down to @base for the job's life */
int copy_job_freeze_chain(CopyJob *s, BlockDriverState *top,
                          BlockDriverState *base, Error **errp);

/* The default granularity for a destination: its cluster size */
int64_t copy_job_cluster_granularity(BlockDriverState *dest);

/* The livemerge job @job_id, or NULL (with an error naming @arg) */
CopyJob *copy_job_find(const char *arg, const char *job_id, Error **errp);

/* The share of the disk's time the job's copy may take, while it runs */
bool copy_job_set_guest_impact(CopyJob *s, int guest_impact, Error **errp);

/*
 * Groups (livemerge-complete, livemerge-cancel): every job is READY; all
 * their disks are drained together, the destinations brought in sync,
 * and then each either pivots (@pivot; all or none) or leaves READY as a
 * point-in-time copy consistent across the disks.  @fail_after (testing;
 * < 0: never) makes the switch after that many pivots fail.
 */
int copy_job_group_end(CopyJob **jobs, size_t n, bool pivot,
                       int64_t fail_after, Error **errp);

/* The BlockJobDriver callbacks (through COPY_JOB_DRIVER) */
int coroutine_fn copy_job_run(Job *job, Error **errp);
void coroutine_fn copy_job_pause(Job *job);
void coroutine_fn copy_job_resume(Job *job);
void copy_job_complete(Job *job, Error **errp);
bool copy_job_cancel(Job *job, bool force);
int copy_job_prepare(Job *job);
void copy_job_abort(Job *job);
void copy_job_clean(Job *job);
bool copy_job_drained_poll(BlockJob *bjob);

#endif
