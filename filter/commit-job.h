/*
 * livemerge commit job: intermediate and active commit on the job core
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_COMMIT_JOB_H
#define LIVEMERGE_COMMIT_JOB_H

#include "copy-job.h"

typedef struct CommitJobOptions {
    CopyJobOptions common;          /* common.active: the guest's layer */
    /* What is committed: @top and what lies between it and @base */
    BlockDriverState *top;
    BlockDriverState *base;
    const char *backing_file;       /* intermediate commit only */
} CommitJobOptions;

/*
 * Start a commit of @top (and what lies between it and @base) into @base;
 * an active commit when @top is the active layer.  The caller has checked
 * that @base is below @top in the active layer's chain.  Called from the
 * main loop without any AioContext lock held.
 */
CopyJob *livemerge_commit_start(const CommitJobOptions *opts, Error **errp);

#endif
