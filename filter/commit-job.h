/*
 * livemerge commit job: intermediate and active commit on the copy engine
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_COMMIT_JOB_H
#define LIVEMERGE_COMMIT_JOB_H

#include "block/block_int.h"
#include "qapi/qapi-types-block-core.h"
#include "qemu/units.h"

typedef enum LivemergeCopyMode {
    LIVEMERGE_COPY_MODE_BACKGROUND,
    LIVEMERGE_COPY_MODE_WRITE_BLOCKING,
    LIVEMERGE_COPY_MODE_ADAPTIVE,
    LIVEMERGE_COPY_MODE__MAX,
} LivemergeCopyMode;

extern const char *const livemerge_copy_mode_name[LIVEMERGE_COPY_MODE__MAX];

/*
 * 8 copies of 1 MiB: on this project's benchmark disk 4-8 parallel copies
 * beat 16 with cache.direct=on by 10-25 % and tie with the page cache
 */
#define LIVEMERGE_DEFAULT_BUF_SIZE      (8 * MiB)
#define LIVEMERGE_DEFAULT_MAX_CHUNK     (1 * MiB)
/*
 * While the guest does I/O: 1 MiB copies let a 4 KiB QD16 guest keep
 * ~0.5 of its IOPS on the benchmark disk, 64 KiB ones ~0.65
 */
#define LIVEMERGE_BUSY_CHUNK            (64 * KiB)
#define LIVEMERGE_DEFAULT_MAX_IN_FLIGHT 16

typedef struct CommitJobOptions {
    const char *job_id;
    /* The layer the guest writes to, and what is committed */
    BlockDriverState *active;
    BlockDriverState *top;
    BlockDriverState *base;
    const char *backing_file;       /* intermediate commit only */
    const char *filter_node_name;   /* NULL: an implicit node */
    int64_t speed;
    LivemergeCopyMode copy_mode;
    int64_t granularity;            /* 0: the base's cluster size */
    int64_t buf_size;
    int max_in_flight;
    BlockdevOnError on_error;
    int job_flags;                  /* JOB_MANUAL_FINALIZE/DISMISS */
} CommitJobOptions;

/*
 * Start a commit of @top (and what lies between it and @base) into @base;
 * an active commit when @top is @active.  The caller has checked that
 * @base is below @top in @active's chain.  Called from the main loop
 * without any AioContext lock held.
 */
BlockJob *livemerge_commit_start(const CommitJobOptions *opts, Error **errp);

#endif
