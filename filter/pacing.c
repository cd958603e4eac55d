/*
 * livemerge pacing: how much of the disk a job's copy takes from the guest
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Guest first: while the guest does I/O the engine keeps one small copy
 * in flight, and after each the job pauses long enough for copying to
 * have the disk at most guest-impact percent of the time (by default
 * half: a pause as long as the copy took).  At 100 percent the guest gets
 * no precedence and the copy runs at full pace.  docs/job-core.rst has
 * the reasons; bench/results/ the measurements.
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"

#include "filter-driver.h"
#include "pacing.h"

/* Adaptive mode compares cleaning and dirtying over this long */
#define ADAPT_WINDOW_NS (200 * SCALE_MS)
/* How often the policy looks whether the guest is doing I/O */
#define GUEST_SAMPLE_NS (20 * SCALE_MS)
/* The longest pause after a copy while the guest does I/O */
#define MAX_GIVE_WAY_NS (100 * SCALE_MS)

const char *const livemerge_copy_mode_name[LIVEMERGE_COPY_MODE__MAX] = {
    [LIVEMERGE_COPY_MODE_BACKGROUND] = "background",
    [LIVEMERGE_COPY_MODE_WRITE_BLOCKING] = "write-blocking",
    [LIVEMERGE_COPY_MODE_ADAPTIVE] = "adaptive",
};

struct Pacing {
    CopyEngine *engine;
    BlockDriverState *filter;
    LivemergeCopyMode mode;
    int guest_impact;       /* percent of the disk's time */

    /* Guest activity, sampled from the filter's counters */
    int64_t sampled_at;
    uint64_t guest_requests;
    bool guest_busy;

    /* Adaptive mode: bytes cleaned and dirtied in the current window */
    int64_t window_start;
    int64_t window_cleaned;
    int64_t window_dirtied;
};

static int64_t now_ns(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

Pacing *pacing_new(CopyEngine *e, BlockDriverState *filter,
                   LivemergeCopyMode mode, int guest_impact)
{
    Pacing *p = g_new0(Pacing, 1);

    p->engine = e;
    p->filter = filter;
    p->mode = mode;
    p->guest_impact = guest_impact;
    copy_engine_set_write_blocking(e,
        mode == LIVEMERGE_COPY_MODE_WRITE_BLOCKING);
    return p;
}

void pacing_free(Pacing *p)
{
    g_free(p);
}

void pacing_set_guest_impact(Pacing *p, int guest_impact)
{
    assert(guest_impact >= LIVEMERGE_MIN_GUEST_IMPACT &&
           guest_impact <= LIVEMERGE_MAX_GUEST_IMPACT);
    p->guest_impact = guest_impact;
    /* Resampled at once: a copy at full pace may start with the next */
    p->sampled_at = 0;
}

int pacing_guest_impact(Pacing *p)
{
    return p->guest_impact;
}

/* The guest gets precedence: gentle copies, and pauses after each */
static bool gives_way(Pacing *p)
{
    return p->guest_busy && p->guest_impact < LIVEMERGE_MAX_GUEST_IMPACT;
}

void pacing_start(Pacing *p)
{
    p->window_start = now_ns();
}

/* Has the guest sent requests since the last look, GUEST_SAMPLE_NS ago? */
static void sample_guest_activity(Pacing *p, int64_t now)
{
    LivemergeCounter counters[LIVEMERGE_REQ__MAX];
    uint64_t requests = 0;

    if (now - p->sampled_at < GUEST_SAMPLE_NS) {
        return;
    }
    livemerge_filter_get_counters(p->filter, counters);
    for (int i = 0; i < LIVEMERGE_REQ__MAX; i++) {
        requests += counters[i].requests;
    }
    p->guest_busy = requests != p->guest_requests;
    copy_engine_set_guest_busy(p->engine, gives_way(p));
    p->guest_requests = requests;
    p->sampled_at = now;
}

/*
 * Adaptive mode: stay in background while the copy cleans regions faster
 * than guest writes dirty them, measured over ADAPT_WINDOW_NS; from the
 * first window in which it does not, block guest writes instead (the
 * backlog can then only shrink).
 */
static void adapt_copy_mode(Pacing *p, int64_t done, int64_t now)
{
    if (p->mode != LIVEMERGE_COPY_MODE_ADAPTIVE ||
        copy_engine_write_blocking(p->engine)) {
        return;
    }
    p->window_cleaned += done;
    p->window_dirtied += copy_engine_take_dirtied(p->engine);
    if (now - p->window_start < ADAPT_WINDOW_NS) {
        return;
    }
    if (p->window_dirtied > 0 && p->window_dirtied >= p->window_cleaned) {
        copy_engine_set_write_blocking(p->engine, true);
    }
    p->window_start = now;
    p->window_cleaned = 0;
    p->window_dirtied = 0;
}

void pacing_update(Pacing *p, int64_t done)
{
    int64_t now = now_ns();

    adapt_copy_mode(p, done, now);
    sample_guest_activity(p, now);
}

int64_t coroutine_fn pacing_give_way(Pacing *p)
{
    int64_t start, copy_ns;
    int share = p->guest_impact;

    if (!gives_way(p)) {
        return 0;
    }
    start = now_ns();
    copy_engine_wait_all(p->engine);
    /* A stalled copy says nothing about the next: the pause is bounded */
    copy_ns = MIN(now_ns() - start, MAX_GIVE_WAY_NS);
    /* Copying for copy_ns is share percent of copy_ns plus the pause */
    return copy_ns * (LIVEMERGE_MAX_GUEST_IMPACT - share) / share;
}

void pacing_guest_stopped(Pacing *p)
{
    p->guest_busy = false;
    copy_engine_set_guest_busy(p->engine, false);
}
