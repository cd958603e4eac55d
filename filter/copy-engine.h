/*
 * livemerge copy engine: bring a destination up to date with a source view
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine copies the dirty regions of a source view (what the guest
 * reads from a node, down to but excluding a base) to a destination, with
 * several requests in flight, skipping what is unallocated above the base
 * and writing zero ranges as zeroes.  It also takes the guest's writes
 * (from the filter) so that a copy and a guest write of the same region
 * never interleave: both hold a range lock for the regions they touch.
 * Writes that reach the source chain around the filter are caught by a
 * write tracker and their regions copied again.
 *
 * Its state is its own: callers see functions, never fields.  It knows
 * nothing of jobs or QMP: the job drives it and decides what an error
 * means.  All functions run in the AioContext of the nodes.
 */

#ifndef LIVEMERGE_COPY_ENGINE_H
#define LIVEMERGE_COPY_ENGINE_H

#include "qemu-compat.h"

#include "filter-driver.h"

typedef enum CopyMethod {
    /* Read the source view, write the destination (commit, mirror) */
    COPY_READ_WRITE,
    /*
     * Copy-on-read into the destination, which is the top of the view
     * (stream): the block layer pulls what the destination does not hold
     * yet, serialised against every other request on it.
     */
    COPY_ON_READ,
} CopyMethod;

typedef struct CopyEngineConfig {
    CopyMethod method;
    /* The job's link for reads of the view being copied (COPY_READ_WRITE) */
    BdrvChild *source;
    /* The top of the chain whose allocation above @base is copied */
    BlockDriverState *view_top;
    /* Allocation above this node (exclusive) is copied; NULL: everything */
    BlockDriverState *base;
    /* The job's link for writes of the destination */
    BdrvChild *dest;
    /*
     * Where the view is unallocated down to a NULL base it reads as
     * zeroes: make the destination read so too (a reused mirror target)
     */
    bool zero_unallocated;
    /* The filter whose child receives guest writes (NULL: none mirrored) */
    BlockDriverState *filter;
    /*
     * Empty the view's top into the destination as regions reach it (see
     * copy_engine_move()), where that can be done: an active commit into
     * the top's own backing file, a qcow2 top
     */
    bool empty_top;
    int64_t granularity;
    /* Largest single copy request; each copy holds a buffer this big */
    int64_t max_chunk;
    /* Smallest copy the pacing policy can ask for (its unit of pace) */
    int64_t busy_chunk;
    int64_t buf_size;
    int max_in_flight;
} CopyEngineConfig;

typedef struct CopyEngine CopyEngine;

CopyEngine * GRAPH_RDLOCK copy_engine_new(const CopyEngineConfig *cfg,
                                          int64_t length, Error **errp);
void copy_engine_free(CopyEngine *e);

int64_t copy_engine_length(CopyEngine *e);
int64_t copy_engine_granularity(CopyEngine *e);

/*
 * Mark as dirty what is allocated above the base in one extent starting
 * at @offset.  Returns the offset after it (the length when done) or a
 * negative errno.  The job calls it in a loop, with pause points.
 */
int64_t coroutine_fn copy_engine_mark_allocated(CopyEngine *e,
                                                int64_t offset);

/*
 * Start copying the next dirty region, waiting for room if the in-flight
 * limits are reached.  Returns its length (what the job charges against
 * its rate limit), or 0 if nothing is dirty.
 */
int64_t coroutine_fn copy_engine_start_next(CopyEngine *e);

/* Free the copy buffers kept for reuse (while the engine has nothing to do) */
void copy_engine_release_buffers(CopyEngine *e);

/*
 * Mark dirty what writes that did not pass the filter changed in the
 * source chain since the last look.  Copies do it themselves; call it
 * before deciding the destination is in sync for good (with every writer
 * of the source chain drained).
 */
void coroutine_fn copy_engine_catch_up(CopyEngine *e);

/* Wait for one copy to finish (returns at once if none is in flight) */
void coroutine_fn copy_engine_wait_one(CopyEngine *e);
void coroutine_fn copy_engine_wait_all(CopyEngine *e);

/*
 * True when the destination holds everything the guest can read: nothing
 * dirty, no copy in flight, and no guest write about to dirty a region.
 */
bool coroutine_fn copy_engine_in_sync(CopyEngine *e);

int64_t copy_engine_dirty_bytes(CopyEngine *e);
int copy_engine_ops_in_flight(CopyEngine *e);
int64_t copy_engine_bytes_in_flight(CopyEngine *e);

/*
 * In write-blocking mode a guest write to a region that is already copied
 * completes only once it is on both sides; otherwise guest writes mark
 * their regions dirty.
 */
void copy_engine_set_write_blocking(CopyEngine *e, bool write_blocking);
bool copy_engine_write_blocking(CopyEngine *e);

/*
 * The pacing policy's say: keep about @bytes of copies in flight.  The
 * engine grows a single copy from busy_chunk up to max_chunk first, then
 * keeps several max_chunk copies in flight, up to max_in_flight and, for
 * copies that need a buffer, buf_size.  Below busy_chunk it still keeps
 * one busy_chunk copy in flight: slower paces are the policy's pauses.
 */
void copy_engine_set_window(CopyEngine *e, int64_t bytes);
/* The largest window that changes anything: full pace */
int64_t copy_engine_max_window(CopyEngine *e);
/* The smallest window: one busy_chunk copy at a time */
int64_t copy_engine_min_window(CopyEngine *e);

/* The filter's request handler (see LivemergeRequestHandler) */
int coroutine_fn GRAPH_RDLOCK copy_engine_guest_write(void *opaque,
                                         LivemergeRequestKind kind,
                                         int64_t offset, int64_t bytes,
                                         QEMUIOVector *qiov,
                                         size_t qiov_offset,
                                         BdrvRequestFlags flags);
int coroutine_fn GRAPH_RDLOCK copy_engine_guest_read(void *opaque,
                                        int64_t offset, int64_t bytes,
                                        QEMUIOVector *qiov,
                                        size_t qiov_offset,
                                        BdrvRequestFlags flags);
int coroutine_fn GRAPH_RDLOCK copy_engine_guest_flush(void *opaque);

/*
 * Make what the job wrote to the destination (copies, the destination's
 * side of mirrored guest writes) durable: a flush, or nothing when the
 * job wrote nothing there since its last flush.  What the guest writes to
 * what the top gave back is the guest's to flush.  0 or a negative errno.
 */
int coroutine_fn GRAPH_RDLOCK copy_engine_flush_dest(CopyEngine *e);

/*
 * Emptying the top (CopyEngineConfig.empty_top): whether the engine does
 * (or did: the destination then holds data the top no longer has, and
 * needs a flush of its own whenever the guest's data must be durable)
 */
bool copy_engine_empties_top(CopyEngine *e);
/* Whether enough was copied since the last round to give it back */
bool copy_engine_move_due(CopyEngine *e);
/*
 * One round: flush the destination, then give back to it the top's
 * clusters of every region still in sync.  Returns 0 or the flush's
 * negative errno (also reported by copy_engine_take_error()).  A top that
 * cannot give back a region, or that another parent may write, ends the
 * emptying: the job goes on as a plain commit.
 */
int coroutine_fn copy_engine_move(CopyEngine *e);

/* Bytes brought in sync since the last call: for progress */
int64_t copy_engine_take_done(CopyEngine *e);
/* Bytes guest writes took out of sync since the last call */
int64_t copy_engine_take_dirtied(CopyEngine *e);
/*
 * The first error since the last call (0 if none); *is_read tells a
 * failed read of the source from a failed write of the destination.
 */
int copy_engine_take_error(CopyEngine *e, bool *is_read);

#endif
