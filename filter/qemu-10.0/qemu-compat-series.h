/*
 * livemerge: QEMU 10.0 (see qemu-compat.h): the engine's own rules, so
 * only the headers that moved since 7.2
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_QEMU_COMPAT_SERIES_H
#define LIVEMERGE_QEMU_COMPAT_SERIES_H

#include "block/graph-lock.h"
#include "qapi/qmp-registry.h"
#include "qobject/qdict.h"

/*
 * block-job-change (copy-mode) and query-block-jobs' actively-synced for
 * a mirror-type job, as for QEMU's own mirror (qemu-compat.c)
 */
void lm_mirror_job_change(BlockJob *job, BlockJobChangeOptions *opts,
                          Error **errp);
void lm_mirror_job_query(BlockJob *job, BlockJobInfo *info);
#define LM_MIRROR_JOB_CALLBACKS \
    .change = lm_mirror_job_change, .query = lm_mirror_job_query,

/* The length callback: a coroutine under the graph read lock */
#define LM_DRIVER_LENGTH_CALLBACK(fn) .bdrv_co_getlength = (fn)

#endif
