/*
 * livemerge stream job: pull a backing chain into the active layer
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_STREAM_JOB_H
#define LIVEMERGE_STREAM_JOB_H

#include "copy-job.h"

typedef struct StreamJobOptions {
    CopyJobOptions common;          /* common.active: what is pulled into */
    BlockDriverState *base;         /* NULL: pull everything */
    const char *backing_file;       /* NULL: the base's filename */
} StreamJobOptions;

/*
 * Start pulling what the active layer reads from the layers between it
 * and @base into it.  The caller has checked that @base is below the
 * active layer.  Called from the main loop without any AioContext lock.
 */
CopyJob *livemerge_stream_start(const StreamJobOptions *opts, Error **errp);

#endif
