/*
 * livemerge copy engine: bring a destination up to date with a source view
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Why no copy can leave stale data behind: a copy clears the dirty bits
 * of its region and takes the region's lock before it reads the source,
 * and keeps the lock until the destination write is done.  A guest write
 * takes the same lock before it writes, so it runs entirely before or
 * entirely after any copy of the region.  If it runs after, it either
 * writes the destination too (write-blocking) or marks the region dirty
 * again, so a later copy brings the new data over.
 */

#include "qemu/osdep.h"
#include "qemu-compat.h"
#include "qemu/coroutine.h"
#include "qemu/memalign.h"
#include "qemu/units.h"
#include "block/reqlist.h"

#include "copy-engine.h"
#include "dirty-map.h"
#include "page-cache.h"
#include "qcow2-unallocate.h"
#include "write-tracker.h"

/*
 * Copied regions wait for a round that makes them durable in the
 * destination and gives them back there (a flush of the destination
 * each): about this much at a time, an eighth of a smaller disk.  A
 * destination on the page cache flushes what the guest wrote to it
 * since the last round too, so a larger batch makes each round's flush
 * longer; any other (cache.direct=on) pays mostly the disk's cache flush
 * and a journal commit, whatever the batch, so fewer rounds stall the
 * guest less (bench/results/2026-12-02-batch-ab/).  Near the end the batch
 * shrinks to what is left to copy, down to the small one: nothing
 * overlaps the last round, which READY waits for.
 */
#define MOVE_BATCH_SMALL (64 * MiB)
#define MOVE_BATCH_DIRECT (256 * MiB)
/* The most one give-back of a round spans (see copy_engine_move()) */
#define MOVE_MAX_SPAN (16 * MiB)
/* The top's write-back before its first give-back: see flush_for_move() */
#define QUICK_TOP_FLUSH_NS (10 * SCALE_MS)
#define MAX_TOP_FLUSHES 4

/* At most an eighth of the disk, at least a granule */
static int64_t move_batch(const CopyEngineConfig *cfg, int64_t length,
                          int64_t batch)
{
    return MAX(MIN(batch, length / 8), cfg->granularity);
}

struct CopyEngine {
    CopyEngineConfig cfg;
    int64_t length;

    CoMutex lock;           /* protects everything below */
    DirtyMap dirty;
    /* Writes to the source chain that do not pass the filter */
    WriteTracker *outside_writes;
    BlockReqList locked;    /* ranges held by copies and guest writes */
    CoQueue op_done;        /* woken whenever a copy finishes */
    int ops_in_flight;
    int64_t bytes_in_flight;
    /* Guest writes that will mark their region dirty when they finish */
    int dirtying_writes;
    bool write_blocking;
    /*
     * Emptying the view's top into the destination, its backing file
     * (see copy_engine_move()): empties_top once asked and possible,
     * moving until it has to stop (another writer on the top)
     */
    bool empties_top;
    bool moving;
    DirtyMap moved;         /* the top holds nothing: the destination alone */
    DirtyMap copied;        /* in sync since the last round, still in the top */
    DirtyMap to_move;       /* the round's share of it */
    int64_t move_batch;     /* what makes a round due ... */
    int64_t move_batch_min; /* ... down to this near the end */
    bool top_written_back;  /* see flush_for_move() */
    /* What copies wrote to the destination since the last round, for a
     * round to drop from the host's page cache once it is durable */
    bool drops_written;
    DirtyMap written;
    DirtyMap to_drop;       /* the round's share of it */
    BlockReqList reading;   /* guest reads in flight, while moving */
    BlockReqList unallocating; /* what the round gives back right now */
    GArray *giving_back;    /* of LmRange: its regions */
    /* Set by the pacing policy: how big and how many copies at once */
    int64_t chunk;
    int max_ops;

    int64_t cursor;         /* where the next copy starts looking */
    /* One copy under each destination table first: see table_span() */
    int64_t seed_span;      /* 0: no seeding */
    int64_t seed_next;      /* the first span not seeded yet */

    size_t buf_align;
    GSList *free_buffers;   /* copy buffers no copy uses, for reuse */

    /* Collected for the job, which takes them */
    int64_t bytes_done;
    int64_t bytes_dirtied;  /* by guest writes, at the map's granularity */
    int error;              /* first unreported error (negative errno) */
    bool error_is_read;

    /*
     * Whether the job wrote to the destination since its last flush began
     * (set once such a write completes; see copy_engine_flush_dest()).
     * Not under the lock: a flag the flushes and writes exchange.
     */
    bool dest_unflushed;
};

typedef struct CopyOp {
    CopyEngine *engine;
    BlockReq req;
    void *buf;
} CopyOp;

/*
 * A copy-on-read's bounce buffer is the block layer's: allocated and
 * freed for every request.  glibc maps an allocation above its mmap
 * threshold afresh each time, faulted in and zeroed page by page and
 * unmapped again (a TLB shootdown on every thread): a good part of a
 * stream's CPU time, on the pull's path.  The threshold rises by itself
 * to the size of a mapped block when it is freed (mallopt(3),
 * M_MMAP_THRESHOLD), but for an aligned buffer it lands just below what
 * the next one of the same size asks for, so it never gets past them.
 * Freeing one mapped block larger than any bounce buffer raises it for
 * good: from then on they come from the heap and are reused
 * (bench/results/2026-11-30-stream-floor/).  Elsewhere than glibc this is
 * a harmless allocation.
 */
static void raise_mmap_threshold(CopyEngine *e)
{
    qemu_vfree(qemu_try_memalign(e->buf_align, 2 * e->cfg.max_chunk));
}

/*
 * The first write into a region of a qcow2 image that no L2 table covers
 * allocates one, and qcow2 (l2_allocate()) makes the refcounts, the new
 * table and then its L1 entry durable first: three flushes of the image
 * file, under the driver's lock.  A flush waits for every dirty page of
 * the file, so the later in a copy into a sparse destination, the longer
 * it takes, and the guest's mirrored writes wait behind it: 0.15, 0.38
 * and 0.77 s for the tables of a 2 GiB commit into a base holding 512 MiB
 * (page cache).  Copying one chunk under every table first moves those
 * flushes to the start, when little is dirty.  A table covers
 * cluster_size / entry size clusters (8 bytes, 16 with extended L2
 * entries: the smaller span seeds both).  Other formats get the same
 * order, which costs nothing; one without clusters gets none.
 */
static int64_t GRAPH_RDLOCK table_span(BlockDriverState *bs)
{
    BlockDriverInfo bdi = { 0 };

    if (bdrv_get_info(bs, &bdi) < 0 || bdi.cluster_size <= 0) {
        return 0;
    }
    return (int64_t)bdi.cluster_size * (bdi.cluster_size / 16);
}

/*
 * An active commit into the top's own backing file can empty the top as
 * it goes: the guest's requests pass the filter straight into the top,
 * and qcow2 can give the top's clusters back to the base.
 */
static bool GRAPH_RDLOCK can_empty_top(const CopyEngineConfig *cfg)
{
    BlockDriverState *top = cfg->view_top;

    return cfg->empty_top && cfg->method == COPY_READ_WRITE &&
           cfg->filter && cfg->filter->file &&
           cfg->filter->file->bs == top && top->backing &&
           top->backing->bs == cfg->base && cfg->dest->bs == cfg->base &&
           lm_qcow2_can_unallocate(top, cfg->granularity);
}

CopyEngine * GRAPH_RDLOCK copy_engine_new(const CopyEngineConfig *cfg,
                                          int64_t length, Error **errp)
{
    CopyEngine *e = g_new0(CopyEngine, 1);

    e->cfg = *cfg;
    e->length = length;
    /* What the destination held before the job is made durable too */
    e->dest_unflushed = true;
    /*
     * A stream's destination is the top of the view: its own writes are
     * the guest's, which a copy-on-read never overwrites, so only the
     * layers below it are watched.
     */
    e->outside_writes = write_tracker_new(cfg->view_top, cfg->base,
                                          cfg->granularity, errp);
    if (!e->outside_writes) {
        g_free(e);
        return NULL;
    }
    qemu_co_mutex_init(&e->lock);
    qemu_co_queue_init(&e->op_done);
    QLIST_INIT(&e->locked);
    dirty_map_init(&e->dirty, length, cfg->granularity);
    QLIST_INIT(&e->reading);
    QLIST_INIT(&e->unallocating);
    e->empties_top = e->moving = can_empty_top(cfg);
    if (e->empties_top) {
        e->drops_written = lm_page_cache_holds(cfg->dest->bs);
        e->move_batch_min = move_batch(cfg, length, MOVE_BATCH_SMALL);
        e->move_batch = e->drops_written ? e->move_batch_min :
                        move_batch(cfg, length, MOVE_BATCH_DIRECT);
        dirty_map_init(&e->moved, length, cfg->granularity);
        dirty_map_init(&e->copied, length, cfg->granularity);
        dirty_map_init(&e->to_move, length, cfg->granularity);
        dirty_map_init(&e->written, length, cfg->granularity);
        dirty_map_init(&e->to_drop, length, cfg->granularity);
        e->giving_back = g_array_new(false, false, sizeof(LmRange));
    }
    copy_engine_set_window(e, copy_engine_max_window(e));
    e->seed_span = table_span(cfg->dest->bs);
    /* Buffers serve reads of the source and writes of the destination */
    e->buf_align = bdrv_opt_mem_align(cfg->dest->bs);
    if (cfg->source) {
        e->buf_align = MAX(e->buf_align, bdrv_opt_mem_align(cfg->source->bs));
    }
    if (cfg->method == COPY_ON_READ) {
        raise_mmap_threshold(e);
    }
    return e;
}

void copy_engine_free(CopyEngine *e)
{
    if (!e) {
        return;
    }
    assert(e->ops_in_flight == 0);
    copy_engine_release_buffers(e);
    write_tracker_free(e->outside_writes);
    dirty_map_destroy(&e->dirty);
    dirty_map_destroy(&e->moved);
    dirty_map_destroy(&e->copied);
    dirty_map_destroy(&e->to_move);
    dirty_map_destroy(&e->written);
    dirty_map_destroy(&e->to_drop);
    if (e->giving_back) {
        g_array_free(e->giving_back, true);
    }
    g_free(e);
}

int64_t copy_engine_length(CopyEngine *e)
{
    return e->length;
}

int64_t copy_engine_granularity(CopyEngine *e)
{
    return e->cfg.granularity;
}

/* The granularity-aligned range a request touches */
static void aligned_range(CopyEngine *e, int64_t offset, int64_t bytes,
                          int64_t *start, int64_t *len)
{
    int64_t end = MIN(QEMU_ALIGN_UP(offset + bytes, e->cfg.granularity),
                      e->length);

    *start = QEMU_ALIGN_DOWN(offset, e->cfg.granularity);
    *len = end - *start;
}

/*
 * The granules a request covers whole (a last, shorter one at the end of
 * the disk included); *len is 0 when it covers none
 */
static void covered_range(CopyEngine *e, int64_t offset, int64_t bytes,
                          int64_t *start, int64_t *len)
{
    int64_t end = offset + bytes;

    if (end != e->length) {
        end = QEMU_ALIGN_DOWN(end, e->cfg.granularity);
    }
    *start = QEMU_ALIGN_UP(offset, e->cfg.granularity);
    *len = MAX(end - *start, 0);
}

/*
 * Called with e->lock held.  A region to copy (again) is no longer in
 * sync: no round may give it back before it is copied again, and if the
 * top gave it back, a write around the filter has allocated it there
 * again.  Returns the bytes that were clean before.
 */
static int64_t set_dirty_locked(CopyEngine *e, int64_t offset, int64_t bytes)
{
    if (e->empties_top) {
        int64_t start, len;

        aligned_range(e, offset, bytes, &start, &len);
        dirty_map_clear(&e->copied, start, len);
        dirty_map_clear(&e->to_move, start, len);
        /* Only a write around the filter dirties a region given back */
        dirty_map_clear(&e->moved, start, len);
    }
    return dirty_map_set(&e->dirty, offset, bytes);
}

static void mark_outside_write(void *opaque, int64_t offset, int64_t bytes)
{
    CopyEngine *e = opaque;

    set_dirty_locked(e, offset, MIN(bytes, e->length - offset));
}

/*
 * Called with e->lock held.  A write that bypassed the filter took no
 * range lock, so it may have landed after a copy of its region read the
 * source: the region is copied again, after the write completed.
 */
static void catch_up_locked(CopyEngine *e)
{
    write_tracker_collect(e->outside_writes, mark_outside_write, e);
}

void coroutine_fn copy_engine_catch_up(CopyEngine *e)
{
    qemu_co_mutex_lock(&e->lock);
    catch_up_locked(e);
    qemu_co_mutex_unlock(&e->lock);
}

/*
 * Copy buffers are reused: a fresh max_chunk buffer per copy would be
 * mapped, faulted in page by page, pinned for direct I/O and unmapped
 * again (a TLB shootdown on every thread) for each chunk.  There are
 * never more buffers than the most copies in flight at once, so they
 * never take more than buf_size bytes.
 * Called with e->lock held.
 */
static void *take_buffer(CopyEngine *e)
{
    void *buf;

    if (e->free_buffers) {
        buf = e->free_buffers->data;
        e->free_buffers = g_slist_delete_link(e->free_buffers,
                                              e->free_buffers);
        return buf;
    }
    return qemu_try_memalign(e->buf_align, e->cfg.max_chunk);
}

static void return_buffer(CopyEngine *e, void *buf)
{
    if (buf) {
        e->free_buffers = g_slist_prepend(e->free_buffers, buf);
    }
}

void copy_engine_release_buffers(CopyEngine *e)
{
    g_slist_free_full(g_steal_pointer(&e->free_buffers), qemu_vfree);
}

static void record_error(CopyEngine *e, int ret, bool is_read)
{
    if (!e->error) {
        e->error = ret;
        e->error_is_read = is_read;
    }
}

/*
 * Called with e->lock held.  [start, start + len), aligned, is in sync
 * and may be given back by the next round, except what is dirty: a write
 * that bypassed the filter during a copy is collected as dirty before the
 * copy ends, and must be copied first.
 */
static void mark_copied_locked(CopyEngine *e, int64_t start, int64_t len)
{
    int64_t end = start + len, run, run_len;

    if (!len) {
        return;
    }
    dirty_map_set(&e->copied, start, len);
    while (start < end &&
           dirty_map_next(&e->dirty, start, end - start, &run, &run_len) &&
           run >= start && run < end) {
        run_len = MIN(run_len, end - run);
        dirty_map_clear(&e->copied, run, run_len);
        start = run + run_len;
    }
}

/*
 * Called with e->lock held.  What the top does not hold is as good as
 * copied: the next round gives it back (for nothing) and from then on the
 * guest's writes there go to the destination alone.  A guest write may
 * have allocated part of it since the look, and marked it dirty: that
 * part stays out, as does a granule only partly unallocated.  A write
 * still in flight marks its region dirty when it completes, which takes
 * it out again, before any round can see it (a round waits for it).
 */
static void mark_unallocated_locked(CopyEngine *e, int64_t offset,
                                    int64_t bytes)
{
    int64_t start, len;

    covered_range(e, offset, bytes, &start, &len);
    mark_copied_locked(e, start, len);
}

int64_t coroutine_fn copy_engine_mark_allocated(CopyEngine *e,
                                                int64_t offset)
{
    BlockDriverState *top = e->cfg.view_top;
    int64_t bytes = MIN(e->length - offset, INT64_MAX / 2);
    int64_t n;
    int ret;

    if (offset >= e->length) {
        return e->length;
    }
    bdrv_graph_co_rdlock();
    if (e->cfg.method == COPY_ON_READ) {
        /* What the destination holds itself is never pulled */
        ret = bdrv_co_is_allocated(e->cfg.dest->bs, offset, bytes, &n);
        if (ret != 0) {
            bdrv_graph_co_rdunlock();
            return ret < 0 ? ret : offset + n;
        }
        bytes = n;
    }
    ret = bdrv_co_is_allocated_above(top, e->cfg.base, false, offset, bytes,
                                     &n);
    bdrv_graph_co_rdunlock();
    if (ret < 0) {
        return ret;
    }
    if (!ret && e->cfg.zero_unallocated) {
        /* Reads as zeroes: only where the destination does not already */
        ret = bdrv_block_status(e->cfg.dest->bs, offset, n, &n, NULL, NULL);
        if (ret < 0) {
            return ret;
        }
        ret = !(ret & BDRV_BLOCK_ZERO);
    }
    qemu_co_mutex_lock(&e->lock);
    if (ret) {
        set_dirty_locked(e, offset, n);
    } else if (e->moving) {
        mark_unallocated_locked(e, offset, n);
    }
    qemu_co_mutex_unlock(&e->lock);
    return offset + n;
}

/*
 * A write of the job's to the destination completed (or failed, maybe
 * half done): what it wrote is durable only after a flush that begins
 * later.  The guest's writes to what the top gave back are not the job's:
 * the guest's own flushes make them durable, there and after a pivot.
 */
static void dest_written(CopyEngine *e)
{
    qatomic_set(&e->dest_unflushed, true);
}

/* A flush of the destination, which covers every write completed before */
static int coroutine_fn GRAPH_RDLOCK flush_dest(CopyEngine *e)
{
    bool unflushed = qatomic_xchg(&e->dest_unflushed, false);
    int ret = bdrv_co_flush(e->cfg.dest->bs);

    if (ret < 0 && unflushed) {
        qatomic_set(&e->dest_unflushed, true);
    }
    return ret;
}

int coroutine_fn GRAPH_RDLOCK copy_engine_flush_dest(CopyEngine *e)
{
    return qatomic_read(&e->dest_unflushed) ? flush_dest(e) : 0;
}

/*
 * Where the view is unallocated all the way down it reads as zeroes:
 * write zeroes where the destination does not already read so.
 */
static int64_t coroutine_fn GRAPH_RDLOCK zero_dest(CopyEngine *e, int64_t offset,
                                      int64_t bytes)
{
    int64_t n;
    int ret;

    ret = bdrv_block_status(e->cfg.dest->bs, offset, bytes, &n, NULL, NULL);
    if (ret < 0) {
        return ret;
    }
    if (ret & BDRV_BLOCK_ZERO) {
        return n;
    }
    ret = bdrv_co_pwrite_zeroes(e->cfg.dest, offset, n, BDRV_REQ_MAY_UNMAP);
    dest_written(e);
    return ret < 0 ? ret : n;
}

/*
 * Copy one extent of [offset, offset + bytes): skip what is unallocated
 * above the base, write zeroes for zero ranges, copy data otherwise.
 * Returns the bytes handled, or a negative errno with *is_read set.
 */
static int64_t coroutine_fn GRAPH_RDLOCK copy_extent(CopyEngine *e, int64_t offset,
                                        int64_t bytes, void *buf,
                                        bool *is_read)
{
    BlockDriverState *top = e->cfg.view_top;
    QEMUIOVector qiov;
    int64_t n;
    int ret;

    *is_read = true;
    /*
     * One walk down the chain says unallocated, zero or data (want_zero:
     * preallocated qcow2 clusters that read as zeroes stay sparse)
     */
    ret = bdrv_co_block_status_above(top, e->cfg.base, offset, bytes, &n,
                                     NULL, NULL);
    if (ret < 0) {
        return ret;
    }
    if (!(ret & BDRV_BLOCK_ALLOCATED)) {
        *is_read = false;
        if (e->cfg.zero_unallocated) {
            return zero_dest(e, offset, n);
        }
        /* The destination already shows what the guest sees here */
        return n;
    }
    if (e->cfg.method == COPY_ON_READ) {
        /*
         * The block layer copies only what the destination lacks (a
         * guest write always wins), zeroes as zero writes, and holds
         * off every other request on the destination meanwhile
         */
        ret = bdrv_co_preadv(e->cfg.dest, offset, n, NULL,
                             BDRV_REQ_COPY_ON_READ | BDRV_REQ_PREFETCH);
        dest_written(e);
        return ret < 0 ? ret : n;
    }

    if (ret & BDRV_BLOCK_ZERO) {
        *is_read = false;
        ret = bdrv_co_pwrite_zeroes(e->cfg.dest, offset, n,
                                    BDRV_REQ_MAY_UNMAP);
        dest_written(e);
        return ret < 0 ? ret : n;
    }

    qemu_iovec_init_buf(&qiov, buf, n);
    ret = bdrv_co_preadv(e->cfg.source, offset, n, &qiov, 0);
    if (ret < 0) {
        return ret;
    }
    *is_read = false;
    ret = bdrv_co_pwritev(e->cfg.dest, offset, n, &qiov, 0);
    dest_written(e);
    return ret < 0 ? ret : n;
}

/*
 * Bring [offset, offset + bytes) in sync at once, in chunks, with the
 * range lock held by the caller.  Returns 0 or a negative errno.
 */
static int coroutine_fn GRAPH_RDLOCK copy_range_now(CopyEngine *e, int64_t offset,
                                       int64_t bytes)
{
    int64_t end = offset + bytes;
    int64_t ret = 0;
    bool is_read;
    void *buf = NULL;

    if (e->cfg.method == COPY_READ_WRITE) {
        qemu_co_mutex_lock(&e->lock);
        buf = take_buffer(e);
        qemu_co_mutex_unlock(&e->lock);
        if (!buf) {
            return -ENOMEM;
        }
    }
    while (ret >= 0 && offset < end) {
        ret = copy_extent(e, offset, MIN(end - offset, e->cfg.max_chunk),
                          buf, &is_read);
        offset += MAX(ret, 0);
    }
    qemu_co_mutex_lock(&e->lock);
    return_buffer(e, buf);
    qemu_co_mutex_unlock(&e->lock);
    return ret < 0 ? ret : 0;
}

static void coroutine_fn copy_op_co(void *opaque)
{
    CopyOp *op = opaque;
    CopyEngine *e = op->engine;
    int64_t offset = op->req.offset;
    int64_t end = offset + op->req.bytes;
    bool is_read = false;
    int64_t ret = op->buf || e->cfg.method == COPY_ON_READ ? 0 : -ENOMEM;

    bdrv_graph_co_rdlock();
    while (ret >= 0 && offset < end) {
        ret = copy_extent(e, offset, end - offset, op->buf, &is_read);
        offset += MAX(ret, 0);
    }
    bdrv_graph_co_rdunlock();

    qemu_co_mutex_lock(&e->lock);
    return_buffer(e, op->buf);
    if (ret < 0) {
        /* Copy the whole region again later */
        set_dirty_locked(e, op->req.offset, op->req.bytes);
        record_error(e, ret, is_read);
    } else {
        e->bytes_done += op->req.bytes;
        if (e->moving) {
            mark_copied_locked(e, op->req.offset, op->req.bytes);
            if (e->drops_written) {
                dirty_map_set(&e->written, op->req.offset, op->req.bytes);
            }
        }
    }
    e->ops_in_flight--;
    e->bytes_in_flight -= op->req.bytes;
    reqlist_remove_req(&op->req);
    qemu_co_queue_restart_all(&e->op_done);
    qemu_co_mutex_unlock(&e->lock);
    g_free(op);
}

/*
 * Every copy holds a max_chunk buffer, whatever its length, so buf_size
 * bounds the memory copies use: buf_size / max_chunk copies at most.  A
 * copy-on-read holds no buffer of ours (the block layer bounces it): only
 * max_in_flight bounds those, and more of them in flight keep the pull
 * near the speed of a commit (bench/results/2026-11-30-stream-16/).
 */
static bool have_room(CopyEngine *e)
{
    /* max_ops() already bounds max_ops by buf_size */
    return e->ops_in_flight < e->max_ops;
}

/*
 * The next dirty run to copy: while seeding, the first one of the next
 * table span that has one; then from the cursor on
 */
static bool next_run_locked(CopyEngine *e, int64_t *offset, int64_t *bytes)
{
    /* The map wraps around: a run before seed_next means none after */
    if (e->seed_span && e->seed_next < e->length &&
        dirty_map_next(&e->dirty, e->seed_next, e->chunk, offset, bytes) &&
        *offset >= e->seed_next) {
        int64_t span_end = QEMU_ALIGN_DOWN(*offset, e->seed_span) +
                           e->seed_span;

        e->seed_next = span_end;
        *bytes = MIN(*bytes, span_end - *offset);
        return true;
    }
    e->seed_next = e->length;
    return dirty_map_next(&e->dirty, e->cursor, e->chunk, offset, bytes);
}

int64_t coroutine_fn copy_engine_start_next(CopyEngine *e)
{
    CopyOp *op;
    int64_t offset, bytes;

    qemu_co_mutex_lock(&e->lock);
    while (!have_room(e) && e->ops_in_flight > 0) {
        qemu_co_queue_wait(&e->op_done, &e->lock);
    }
    catch_up_locked(e);
    for (;;) {
        if (!next_run_locked(e, &offset, &bytes)) {
            qemu_co_mutex_unlock(&e->lock);
            return 0;
        }
        /* A copy or guest write holds part of it: wait, then look again */
        if (!reqlist_wait_one(&e->locked, offset, bytes, &e->lock)) {
            break;
        }
    }
    if (e->seed_next >= e->length) {
        e->cursor = offset + bytes;
    }

    op = g_new0(CopyOp, 1);
    op->engine = e;
    /* A copy-on-read needs no buffer of ours */
    op->buf = e->cfg.method == COPY_READ_WRITE ? take_buffer(e) : NULL;
    dirty_map_clear(&e->dirty, offset, bytes);
    reqlist_init_req(&e->locked, &op->req, offset, bytes);
    e->ops_in_flight++;
    e->bytes_in_flight += bytes;
    qemu_co_mutex_unlock(&e->lock);

    qemu_coroutine_enter(qemu_coroutine_create(copy_op_co, op));
    return bytes;
}

void coroutine_fn copy_engine_wait_one(CopyEngine *e)
{
    qemu_co_mutex_lock(&e->lock);
    if (e->ops_in_flight > 0) {
        qemu_co_queue_wait(&e->op_done, &e->lock);
    }
    qemu_co_mutex_unlock(&e->lock);
}

void coroutine_fn copy_engine_wait_all(CopyEngine *e)
{
    qemu_co_mutex_lock(&e->lock);
    while (e->ops_in_flight > 0) {
        qemu_co_queue_wait(&e->op_done, &e->lock);
    }
    qemu_co_mutex_unlock(&e->lock);
}

bool coroutine_fn copy_engine_in_sync(CopyEngine *e)
{
    bool in_sync;

    qemu_co_mutex_lock(&e->lock);
    catch_up_locked(e);
    in_sync = e->ops_in_flight == 0 && e->dirtying_writes == 0 &&
              dirty_map_count(&e->dirty) == 0;
    if (e->moving) {
        /* READY means the top is empty: every write goes to the base */
        in_sync = in_sync && dirty_map_count(&e->copied) == 0;
    }
    qemu_co_mutex_unlock(&e->lock);
    return in_sync;
}

int64_t copy_engine_dirty_bytes(CopyEngine *e)
{
    return dirty_map_count(&e->dirty);
}

int copy_engine_ops_in_flight(CopyEngine *e)
{
    return e->ops_in_flight;
}

int64_t copy_engine_bytes_in_flight(CopyEngine *e)
{
    return e->bytes_in_flight;
}

void copy_engine_set_write_blocking(CopyEngine *e, bool write_blocking)
{
    e->write_blocking = write_blocking;
}

bool copy_engine_write_blocking(CopyEngine *e)
{
    return e->write_blocking;
}

/* Copies that need a buffer of ours are bounded by buf_size as well */
static int max_ops(CopyEngine *e)
{
    if (e->cfg.method == COPY_ON_READ) {
        return e->cfg.max_in_flight;
    }
    return MAX(1, MIN(e->cfg.max_in_flight,
                      e->cfg.buf_size / e->cfg.max_chunk));
}

int64_t copy_engine_max_window(CopyEngine *e)
{
    return max_ops(e) * e->cfg.max_chunk;
}

int64_t copy_engine_min_window(CopyEngine *e)
{
    return e->cfg.busy_chunk;
}

void copy_engine_set_window(CopyEngine *e, int64_t bytes)
{
    int64_t chunk = QEMU_ALIGN_DOWN(MIN(bytes, e->cfg.max_chunk),
                                    e->cfg.granularity);

    e->chunk = MAX(chunk, e->cfg.busy_chunk);
    e->max_ops = MAX(1, MIN(bytes / e->chunk, max_ops(e)));
}

/* A guest write to the destination, with @flags (which the caller chose) */
static int coroutine_fn GRAPH_RDLOCK write_dest(CopyEngine *e, LivemergeRequestKind kind,
                                   int64_t offset, int64_t bytes,
                                   QEMUIOVector *qiov, size_t qiov_offset,
                                   BdrvRequestFlags flags)
{
    switch (kind) {
    case LIVEMERGE_REQ_WRITE:
        return bdrv_co_pwritev_part(e->cfg.dest, offset, bytes, qiov,
                                    qiov_offset, flags);
    case LIVEMERGE_REQ_WRITE_ZEROES:
        return bdrv_co_pwrite_zeroes(e->cfg.dest, offset, bytes, flags);
    case LIVEMERGE_REQ_DISCARD:
        return bdrv_co_pdiscard(e->cfg.dest, offset, bytes);
    default:
        g_assert_not_reached();
    }
}

/*
 * The guest's write to the filter's child, which may be a node of the
 * source chain: its bitmap sees the write too, so it is reported as ours.
 */
/*
 * The block layer drops a discard to a node that does not take discards
 * (no BDRV_O_UNMAP, no discard callback) before it counts as a write;
 * every other successful one counts.  A discard not reported as ours
 * would make the write tracker copy everything written meanwhile again.
 */
static bool GRAPH_RDLOCK discard_is_counted(BlockDriverState *bs)
{
    return (bs->open_flags & BDRV_O_UNMAP) && bs->drv &&
           (bs->drv->bdrv_co_pdiscard || bs->drv->bdrv_aio_pdiscard);
}

static int coroutine_fn GRAPH_RDLOCK
write_source(CopyEngine *e, LivemergeRequestKind kind, int64_t offset,
             int64_t bytes, QEMUIOVector *qiov, size_t qiov_offset,
             BdrvRequestFlags flags)
{
    BlockDriverState *filter = e->cfg.filter;
    int ret;

    ret = livemerge_filter_co_write_child(filter, kind, offset, bytes, qiov,
                                          qiov_offset, flags);
    if (filter->file && (kind != LIVEMERGE_REQ_DISCARD ||
                         discard_is_counted(filter->file->bs))) {
        write_tracker_note_own_write(e->outside_writes, filter->file->bs,
                                     ret);
    }
    return ret;
}

/* A guest write in write-blocking mode, to both sides at once */
typedef struct WriteBoth {
    int pending;            /* sides not done yet */
    Coroutine *waiter;      /* set once the guest's request yields */
} WriteBoth;

/* One side of it */
typedef struct SideWrite {
    CopyEngine *engine;
    bool to_dest;
    LivemergeRequestKind kind;
    int64_t offset;
    int64_t bytes;
    QEMUIOVector *qiov;
    size_t qiov_offset;
    BdrvRequestFlags flags;
    int ret;
    WriteBoth *both;
} SideWrite;

static void coroutine_fn side_write_co(void *opaque)
{
    SideWrite *w = opaque;

    /* The guest's request holds it too: no writer can be waiting for us */
    bdrv_graph_co_rdlock();
    if (w->to_dest) {
        /* Durability is the source's business until the pivot flushes */
        w->ret = write_dest(w->engine, w->kind, w->offset, w->bytes, w->qiov,
                            w->qiov_offset, w->flags & BDRV_REQ_MAY_UNMAP);
        dest_written(w->engine);
    } else {
        w->ret = write_source(w->engine, w->kind, w->offset, w->bytes,
                              w->qiov, w->qiov_offset, w->flags);
    }
    bdrv_graph_co_rdunlock();
    if (--w->both->pending == 0 && w->both->waiter) {
        aio_co_wake(w->both->waiter);
    }
}

/*
 * Write the guest's data to both sides at once: the guest waits for the
 * slower write, not for the sum of the two.  Both are issued under one
 * I/O plug, so an AIO engine that batches (Linux AIO, io_uring) submits
 * them with one system call and the device sees one notification.
 * Returns the source's result; *dest_ret gets the destination's.
 */
static int coroutine_fn write_both(CopyEngine *e, LivemergeRequestKind kind,
                                   int64_t offset, int64_t bytes,
                                   QEMUIOVector *qiov, size_t qiov_offset,
                                   BdrvRequestFlags flags, int *dest_ret)
{
    WriteBoth both = { .pending = 2 };
    SideWrite side[2];

    for (int i = 0; i < 2; i++) {
        side[i] = (SideWrite) {
            .engine = e, .to_dest = i == 1, .kind = kind, .offset = offset,
            .bytes = bytes, .qiov = qiov, .qiov_offset = qiov_offset,
            .flags = flags, .both = &both,
        };
    }
    lm_io_batch_begin(e->cfg.filter, e->cfg.dest->bs);
    for (int i = 0; i < 2; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(side_write_co, &side[i]));
    }
    lm_io_batch_end(e->cfg.filter, e->cfg.dest->bs);
    if (both.pending > 0) {
        both.waiter = qemu_coroutine_self();
        qemu_coroutine_yield();
    }
    *dest_ret = side[1].ret;
    return side[0].ret;
}

/*
 * Another parent that may write the top bypasses the range locks: its
 * writes to a region being given back could be lost.  The job's own
 * links do not write the top.
 */
static bool GRAPH_RDLOCK top_has_other_writer(CopyEngine *e)
{
    BdrvChild *c;

    QLIST_FOREACH(c, &e->cfg.view_top->parents, next_parent) {
        if (c != e->cfg.filter->file &&
            (c->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED))) {
            return true;
        }
    }
    return false;
}

/*
 * Called with e->lock held.  The top keeps what it still holds; the
 * regions it gave back read through to the base, and the guest's writes
 * to them go to the top again, as any other.
 */
static void stop_moving_locked(CopyEngine *e)
{
    e->moving = false;
    hbitmap_reset_all(e->copied.bitmap);
    hbitmap_reset_all(e->to_move.bitmap);
    hbitmap_reset_all(e->moved.bitmap);
    hbitmap_reset_all(e->written.bitmap);
}

/*
 * Hold the granules [offset, offset + bytes) touches in @held, once no
 * request in @blocking overlaps them; released by release_range()
 */
static void coroutine_fn hold_range(CopyEngine *e, BlockReqList *blocking,
                                    BlockReqList *held, BlockReq *req,
                                    int64_t offset, int64_t bytes)
{
    int64_t start, len;

    aligned_range(e, offset, bytes, &start, &len);
    qemu_co_mutex_lock(&e->lock);
    while (reqlist_wait_one(blocking, start, len, &e->lock)) {
        /* wait for the request that holds part of the range */
    }
    reqlist_init_req(held, req, start, len);
    qemu_co_mutex_unlock(&e->lock);
}

static void coroutine_fn release_range(CopyEngine *e, BlockReq *req)
{
    qemu_co_mutex_lock(&e->lock);
    reqlist_remove_req(req);
    qemu_co_mutex_unlock(&e->lock);
}

/*
 * A guest write to a part of the disk the top holds, with the range lock
 * held by the caller
 */
static int coroutine_fn GRAPH_RDLOCK write_held(CopyEngine *e,
                                   LivemergeRequestKind kind,
                                   int64_t offset, int64_t bytes,
                                   QEMUIOVector *qiov, size_t qiov_offset,
                                   BdrvRequestFlags flags)
{
    int64_t start, len, covered_start = 0, covered_len = 0, cleaned = 0;
    bool to_dest, mark_dirty;
    int ret, ret2 = 0;

    aligned_range(e, offset, bytes, &start, &len);
    if (kind != LIVEMERGE_REQ_DISCARD) {
        covered_range(e, offset, bytes, &covered_start, &covered_len);
    }

    qemu_co_mutex_lock(&e->lock);
    /*
     * A region that is dirty anyway is copied later: no need twice, unless
     * the write replaces whole granules of it, which it then cleans: the
     * copy need not read them, and a guest writing large blocks brings
     * the job in sync by itself (QEMU's active mirror does the same).
     */
    to_dest = e->write_blocking &&
              (covered_len > 0 || !dirty_map_all_dirty(&e->dirty, start, len));
    if (to_dest && covered_len > 0) {
        /*
         * Clean before the writes, as a copy does: a write around the
         * filter that lands meanwhile dirties the granules again.  A
         * failed write below dirties the whole range again.
         */
        cleaned = dirty_map_clear(&e->dirty, covered_start, covered_len);
    }
    if (!to_dest) {
        e->dirtying_writes++;
    }
    qemu_co_mutex_unlock(&e->lock);

    if (to_dest && kind == LIVEMERGE_REQ_DISCARD) {
        /*
         * What a discard leaves the guest reading is up to the source's
         * driver: the region is copied as it then reads, before the
         * discard completes (dirtying it instead could keep a job under
         * a speed limit from ever converging while the guest discards)
         */
        ret = write_source(e, kind, offset, bytes, NULL, 0, flags);
        ret2 = ret < 0 ? 0 : copy_range_now(e, start, len);
        mark_dirty = ret < 0 || ret2 < 0;
    } else if (to_dest) {
        /* The range lock keeps copies out while both sides are written */
        ret = write_both(e, kind, offset, bytes, qiov, qiov_offset, flags,
                         &ret2);
        /* If the source write failed, the base may now differ from it */
        mark_dirty = ret < 0 || ret2 < 0;
    } else {
        ret = write_source(e, kind, offset, bytes, qiov, qiov_offset, flags);
        mark_dirty = true;
    }

    qemu_co_mutex_lock(&e->lock);
    if (mark_dirty) {
        e->bytes_dirtied += set_dirty_locked(e, offset, bytes);
    } else {
        /* What the write cleaned is progress, as a copy's would be */
        e->bytes_done += cleaned;
        if (e->moving) {
            /*
             * In sync, and to be given back like a copy, but not by a
             * round whose flush came before this write: the guest may
             * count on it being durable (FUA) on the source alone
             */
            dirty_map_clear(&e->to_move, start, len);
            mark_copied_locked(e, start, len);
        }
    }
    if (to_dest && ret >= 0 && ret2 < 0) {
        /* The guest's write is safe on the source; the region is recopied */
        record_error(e, ret2, false);
    }
    if (!to_dest) {
        e->dirtying_writes--;
    }
    qemu_co_mutex_unlock(&e->lock);
    return ret;
}

/*
 * How much of [offset, offset + bytes) from @offset on is on one side of
 * the top's emptying: given back (*moved) or not
 */
static int64_t coroutine_fn GRAPH_RDLOCK same_side(CopyEngine *e,
                                                   int64_t offset,
                                                   int64_t bytes, bool *moved)
{
    int64_t n;

    /* Once stopped, the emptying never resumes: no lock to see it off */
    if (!e->moving) {
        *moved = false;
        return bytes;
    }
    qemu_co_mutex_lock(&e->lock);
    if (e->moving && top_has_other_writer(e)) {
        stop_moving_locked(e);
    }
    *moved = e->moving;
    n = *moved ? dirty_map_run(&e->moved, offset, bytes, moved) : bytes;
    qemu_co_mutex_unlock(&e->lock);
    return n;
}

int coroutine_fn GRAPH_RDLOCK copy_engine_guest_write(void *opaque,
                                         LivemergeRequestKind kind,
                                         int64_t offset, int64_t bytes,
                                         QEMUIOVector *qiov,
                                         size_t qiov_offset,
                                         BdrvRequestFlags flags)
{
    CopyEngine *e = opaque;
    BlockReq req;
    int64_t n;
    bool moved;
    int ret = 0;

    /* Copies, other guest writes and a round's give-back wait for it */
    hold_range(e, &e->locked, &e->locked, &req, offset, bytes);

    /*
     * Where the top gave a region back, the write goes to the base alone
     * (the top reads through to it); a write across the border is split
     * there, so the top never holds a region again
     */
    while (ret >= 0 && bytes > 0) {
        n = same_side(e, offset, bytes, &moved);
        if (moved) {
            /* As the guest asked for it: the base alone holds it */
            ret = write_dest(e, kind, offset, n, qiov, qiov_offset, flags);
        } else {
            ret = write_held(e, kind, offset, n, qiov, qiov_offset, flags);
        }
        offset += n;
        qiov_offset += n;
        bytes -= n;
    }
    release_range(e, &req);
    return ret;
}

int coroutine_fn GRAPH_RDLOCK copy_engine_guest_read(void *opaque,
                                        int64_t offset, int64_t bytes,
                                        QEMUIOVector *qiov,
                                        size_t qiov_offset,
                                        BdrvRequestFlags flags)
{
    CopyEngine *e = opaque;
    BlockReq req;
    int ret;

    if (!e->moving) {
        return livemerge_filter_co_read_child(e->cfg.filter, offset, bytes,
                                              qiov, qiov_offset, flags);
    }
    /*
     * A read of the top may have looked up a cluster a round gives back:
     * rounds and reads keep out of each other's way (reads do not wait
     * for copies or writes, nor for each other)
     */
    hold_range(e, &e->unallocating, &e->reading, &req, offset, bytes);
    ret = livemerge_filter_co_read_child(e->cfg.filter, offset, bytes, qiov,
                                         qiov_offset, flags);
    release_range(e, &req);
    return ret;
}

int coroutine_fn GRAPH_RDLOCK copy_engine_guest_flush(void *opaque)
{
    CopyEngine *e = opaque;
    int ret = bdrv_co_flush(e->cfg.filter->file->bs);

    /*
     * What the top gave back lives in the destination alone, and the
     * top's own flush does not reach its backing file
     */
    if (ret == 0 && e->empties_top) {
        ret = flush_dest(e);
    }
    return ret;
}

/*
 * Emptying the top.  Once a region is in sync it need not stay in the
 * top: given back to the base, it costs the guest nothing for the rest of
 * the job, where a region kept in sync costs every write to it a second
 * one (write-blocking) or a copy again (background).  So copied regions
 * are given back in rounds: make what the destination holds durable, then
 * free the top's clusters of every region still in sync; from then on the
 * guest's writes there go to the destination alone and the top reads
 * through to it.  The order is what keeps a crash harmless: the top's
 * metadata can reach the disk whenever qcow2 writes it, and by then the
 * base holds the data.  A region dirtied after its copy (a guest write to
 * the top, a write around the filter) leaves the round; one a round gives
 * back is range-locked against writes and copies, and against reads,
 * which may have looked up a cluster of it in the top.
 */
bool copy_engine_move_due(CopyEngine *e)
{
    int64_t copied, left;

    if (!e->moving) {
        return false;
    }
    copied = dirty_map_count(&e->copied);
    left = dirty_map_count(&e->dirty);
    return copied >= MIN(e->move_batch, MAX(e->move_batch_min, left)) ||
           (copied > 0 && e->ops_in_flight == 0 && left == 0);
}

bool copy_engine_empties_top(CopyEngine *e)
{
    return e->empties_top;
}

/*
 * Before a round: the destination durable.  Data first, with the qcow2
 * metadata unlocked: a flush of a qcow2 node writes its metadata caches
 * holding the driver's lock, and when a cache must wait for another to be
 * durable (freed clusters wait for the tables that no longer use them;
 * new tables for the refcounts of their clusters) that is a flush of the
 * whole image file, every write to the node waiting meanwhile.  A flush
 * of the image file first leaves it little to wait for.
 *
 * The same goes for the top, once: the first give-back makes its tables
 * wait for the refcounts of what the guest allocated before the job, a
 * flush of the top's file under its lock, which after seconds of guest
 * writes with nothing flushed held the guest for 1.5 s.  That flush of
 * the file takes seconds itself (all the guest's random writes since it
 * started), and what the guest wrote meanwhile was left for the one under
 * the lock: up to 0.72 s.  So a file on the page cache is flushed until
 * a flush is quick (at most four times).  From then on the top allocates
 * nothing (writes where it gave regions back go to the base) and its
 * caches wait for nothing: its file is not written back again, which for
 * a guest rewriting its disk would write every page back at every round.
 */
static int coroutine_fn GRAPH_RDLOCK flush_for_move(CopyEngine *e)
{
    BlockDriverState *dest = e->cfg.dest->bs;
    int flushes, ret = 0;

    /* Nothing written since the last flush: the round's copies are durable */
    if (dest->file && qatomic_read(&e->dest_unflushed)) {
        ret = bdrv_co_flush(dest->file->bs);
    }
    if (ret == 0) {
        ret = copy_engine_flush_dest(e);
    }
    /* Without the page cache a flush writes no data back: once */
    flushes = e->top_written_back ? 0 :
              lm_page_cache_holds(e->cfg.view_top) ? MAX_TOP_FLUSHES : 1;
    for (int i = 0; ret == 0 && i < flushes && !e->top_written_back; i++) {
        int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        /* The top's own data needs no flush: a failure here is not fatal */
        bool failed = bdrv_co_flush(e->cfg.view_top->file->bs) < 0;
        bool quick = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start <
                     QUICK_TOP_FLUSH_NS;

        e->top_written_back = failed || quick || i + 1 == flushes;
    }
    return ret;
}

/*
 * Called with e->lock held.  The regions of [offset, offset + bytes) the
 * round gives back, into e->giving_back; returns where the last one ends
 * (@offset when there is none).
 */
static int64_t gather_giving_back_locked(CopyEngine *e, int64_t offset,
                                         int64_t bytes)
{
    int64_t end = offset + bytes, last = offset, n;
    bool waiting;

    g_array_set_size(e->giving_back, 0);
    for (; offset < end; offset += n) {
        n = dirty_map_run(&e->to_move, offset, end - offset, &waiting);
        if (waiting) {
            LmRange range = { .offset = offset, .bytes = n };

            g_array_append_val(e->giving_back, range);
            last = offset + n;
        }
    }
    return last;
}

/* Give back e->giving_back's regions, range-locked by the caller */
static int coroutine_fn unallocate_gathered(CopyEngine *e)
{
    int ret;

    bdrv_graph_co_rdlock();
    /* A writer that came since the round began: stop (-EBUSY) */
    ret = top_has_other_writer(e) ? -EBUSY :
          lm_qcow2_co_unallocate(e->cfg.view_top,
                                 &g_array_index(e->giving_back, LmRange, 0),
                                 e->giving_back->len);
    bdrv_graph_co_rdunlock();
    return ret;
}

int coroutine_fn copy_engine_move(CopyEngine *e)
{
    BlockReq req, unalloc;
    int64_t cursor = 0, offset, bytes;
    bool other_writer;
    int ret;

    qemu_co_mutex_lock(&e->lock);
    dirty_map_take_all(&e->to_move, &e->copied);
    if (e->drops_written) {
        /* Written before the flush: clean after it */
        dirty_map_take_all(&e->to_drop, &e->written);
    }
    qemu_co_mutex_unlock(&e->lock);

    bdrv_graph_co_rdlock();
    ret = flush_for_move(e);
    other_writer = top_has_other_writer(e);
    bdrv_graph_co_rdunlock();

    qemu_co_mutex_lock(&e->lock);
    if (ret < 0 || other_writer) {
        if (ret < 0) {
            /* Nothing is given back; the job reports the error */
            dirty_map_take_all(&e->copied, &e->to_move);
            record_error(e, ret, false);
        } else {
            stop_moving_locked(e);
        }
        qemu_co_mutex_unlock(&e->lock);
        return ret;
    }
    /* What writes around the filter changed is not in the base yet */
    catch_up_locked(e);
    /*
     * A span at a time: every region waiting from the first one on to the
     * last within MOVE_MAX_SPAN, under one range lock, in one give-back.
     * Guest writes between the copies leave the waiting regions scattered
     * (a few granules each), and qcow2 writes the changed table whole at
     * every give-back, holding its lock: one per region wrote a 64 KiB
     * table about every 150 KiB given back, and held the guest's writes
     * to the top meanwhile.
     */
    while (dirty_map_next(&e->to_move, cursor, MOVE_MAX_SPAN, &offset,
                          &bytes) && offset >= cursor) {
        bytes = gather_giving_back_locked(e, offset,
                                          MIN(MOVE_MAX_SPAN,
                                              e->length - offset)) - offset;
        if (reqlist_wait_one(&e->locked, offset, bytes, &e->lock)) {
            /* A write may have taken part of it out: look again */
            continue;
        }
        reqlist_init_req(&e->locked, &req, offset, bytes);
        reqlist_init_req(&e->unallocating, &unalloc, offset, bytes);
        while (reqlist_wait_one(&e->reading, offset, bytes, &e->lock)) {
            /* reads that started before the round hold on to the top */
        }
        /* What a write around the filter dirtied meanwhile stays */
        gather_giving_back_locked(e, offset, bytes);
        qemu_co_mutex_unlock(&e->lock);

        ret = e->giving_back->len ? unallocate_gathered(e) : 0;

        qemu_co_mutex_lock(&e->lock);
        dirty_map_clear(&e->to_move, offset, bytes);
        for (guint i = 0; ret == 0 && i < e->giving_back->len; i++) {
            LmRange *range = &g_array_index(e->giving_back, LmRange, i);

            dirty_map_set(&e->moved, range->offset, range->bytes);
        }
        reqlist_remove_req(&unalloc);
        reqlist_remove_req(&req);
        if (ret < 0) {
            /*
             * The top may have given back part of it: it then reads the
             * same from the base.  The job goes on as a plain commit.
             */
            stop_moving_locked(e);
            break;
        }
        cursor = offset + bytes;
    }
    qemu_co_mutex_unlock(&e->lock);
    if (e->drops_written) {
        /*
         * After the give-backs, which the guest's writes wait for.  Only
         * rounds touch to_drop (what it marks stays durable whether or
         * not the emptying stops meanwhile).
         */
        bdrv_graph_co_rdlock();
        lm_page_cache_co_drop(e->cfg.dest->bs, &e->to_drop);
        bdrv_graph_co_rdunlock();
        hbitmap_reset_all(e->to_drop.bitmap);
    }
    return 0;
}

int64_t copy_engine_take_done(CopyEngine *e)
{
    int64_t done = e->bytes_done;

    e->bytes_done = 0;
    return done;
}

int64_t copy_engine_take_dirtied(CopyEngine *e)
{
    int64_t dirtied = e->bytes_dirtied;

    e->bytes_dirtied = 0;
    return dirtied;
}

int copy_engine_take_error(CopyEngine *e, bool *is_read)
{
    int ret = e->error;

    *is_read = e->error_is_read;
    e->error = 0;
    return ret;
}
