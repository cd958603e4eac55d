/*
 * livemerge mirror job: copy a disk to a new target and pivot onto it
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_MIRROR_JOB_H
#define LIVEMERGE_MIRROR_JOB_H

#include "copy-job.h"

typedef struct MirrorJobOptions {
    CopyJobOptions common;          /* common.active: the disk's top */
    BlockDriverState *target;
    /*
     * sync top: the source's backing, which the target then backs onto;
     * sync full (or a source without backing): NULL
     */
    BlockDriverState *base;
} MirrorJobOptions;

/*
 * Start mirroring the disk whose active layer is @o->common.active onto
 * @o->target.  The caller has checked the target (unused, same size, not
 * in the source's chain, able to back onto @o->base).  Called from the
 * main loop without any AioContext lock held.
 */
CopyJob *livemerge_mirror_start(const MirrorJobOptions *opts, Error **errp);

#endif
