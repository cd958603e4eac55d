/*
 * livemerge pacing: how much of the disk a job's copy takes from the guest
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The job core asks the pacing policy after every step of its copy loop;
 * the policy looks at the guest through the filter's counters and decides
 * how the engine copies (gently while the guest does I/O), how long the
 * job leaves the disk to the guest after a copy, and, in adaptive mode,
 * when guest writes start going to both sides.  It is the one piece of
 * the core that a different policy replaces.
 */

#ifndef LIVEMERGE_PACING_H
#define LIVEMERGE_PACING_H

#include "qemu-compat.h"

#include "copy-engine.h"

typedef enum LivemergeCopyMode {
    LIVEMERGE_COPY_MODE_BACKGROUND,
    LIVEMERGE_COPY_MODE_WRITE_BLOCKING,
    LIVEMERGE_COPY_MODE_ADAPTIVE,
    LIVEMERGE_COPY_MODE__MAX,
} LivemergeCopyMode;

extern const char *const livemerge_copy_mode_name[LIVEMERGE_COPY_MODE__MAX];

/*
 * The share of the guest's performance the copy may take while the guest
 * does I/O, in percent: at 50 the guest's requests may take up to twice
 * as long as without the copy; 100 copies at full pace (the guest gets
 * no precedence).
 */
#define LIVEMERGE_DEFAULT_GUEST_IMPACT  50
#define LIVEMERGE_MIN_GUEST_IMPACT      1
#define LIVEMERGE_MAX_GUEST_IMPACT      100

typedef struct Pacing Pacing;

/*
 * Pace @e's copies around the guest that @filter sees, in @mode, taking
 * at most @guest_impact percent of the guest's performance while it does
 * I/O
 */
Pacing *pacing_new(CopyEngine *e, BlockDriverState *filter,
                   LivemergeCopyMode mode, int guest_impact);
void pacing_free(Pacing *p);

/* Change the share while the job runs */
void pacing_set_guest_impact(Pacing *p, int guest_impact);

/* The copy phase starts now (after the initial scan) */
void pacing_start(Pacing *p);

/* After each step of the loop, with the bytes it brought in sync */
void pacing_update(Pacing *p, int64_t done);

/* While the policy measures the guest alone: how long no copy may start */
int64_t pacing_hold_ns(Pacing *p);

/*
 * A copy was just started: wait for it if the guest is busy, and return
 * how long the job should then leave the disk to the guest (ns)
 */
int64_t coroutine_fn pacing_give_way(Pacing *p);

/* The guest is stopped (drained): copy at full pace */
void pacing_guest_stopped(Pacing *p);

#endif
