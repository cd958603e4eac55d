/*
 * livemerge pacing: how much of the disk a job's copy takes from the guest
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Latency driven: the filter times and counts every guest request, so
 * the policy knows what the guest gets with the copy running and, from
 * short pauses of the copy (probes), what it gets without it.  The
 * guest-impact setting is the share of the guest's performance the copy
 * may take: the guest's slowdown, the larger of its latency's growth and
 * its throughput's fall (a guest that keeps N requests in flight does
 * N / latency of them per second; one that sends at a fixed rate shows
 * only the latency), is kept under 100 / (100 - impact).  Throughput
 * sees what the filter cannot time: a guest request waiting for the
 * daemon before it reaches the filter.  The copy's window (bytes in
 * flight) grows while the guest stays under that and shrinks when it
 * does not; below one small copy at a time the copy pauses between
 * copies.  An idle guest gets the copy at full pace, and
 * so does any guest at impact 100.  docs/job-core.rst has the reasons;
 * bench/results/ the measurements.
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"

#include "filter-driver.h"
#include "pacing.h"

/* Adaptive mode compares cleaning and dirtying over this long */
#define ADAPT_WINDOW_NS (200 * SCALE_MS)
/*
 * ... and leaves background once guest writes dirty again at least this
 * share of what the copy cleans.  Each such write costs a later copy of
 * its whole granule (a read and a write), more than mirroring it would;
 * waiting until they undo all of it, a full-pace copy under 64 KiB
 * random writes stayed in background and copied 2.1-2.4 times the disk
 * (bench/results/2026-11-30-adaptive/).
 */
#define ADAPT_MAX_UNDONE 0.25
/* How often the policy looks whether the guest is doing I/O */
#define GUEST_SAMPLE_NS (20 * SCALE_MS)
/* The guest's latency is judged over at least this long ... */
#define JUDGE_MIN_NS (50 * SCALE_MS)
/* ... and at least this many of its requests, unless it takes longer */
#define JUDGE_MIN_REQUESTS 16
#define JUDGE_MAX_NS (500 * SCALE_MS)
/* How often the copy pauses to measure the guest without it, how long */
#define PROBE_EVERY_NS (2 * NANOSECONDS_PER_SECOND)
#define PROBE_NS (50 * SCALE_MS)
/* The longest pause after a copy while the guest does I/O */
#define MAX_GIVE_WAY_NS (100 * SCALE_MS)
/* The slowest pace: one small copy, then a pause this many times longer */
#define MAX_PAUSE_FACTOR 15

const char *const livemerge_copy_mode_name[LIVEMERGE_COPY_MODE__MAX] = {
    [LIVEMERGE_COPY_MODE_BACKGROUND] = "background",
    [LIVEMERGE_COPY_MODE_WRITE_BLOCKING] = "write-blocking",
    [LIVEMERGE_COPY_MODE_ADAPTIVE] = "adaptive",
};

/* The guest's requests (flushes aside) as the filter counted them */
typedef struct GuestSample {
    int64_t at;
    uint64_t started;
    uint64_t completed;
    uint64_t latency_ns;
} GuestSample;

struct Pacing {
    CopyEngine *engine;
    BlockDriverState *filter;
    LivemergeCopyMode mode;
    int guest_impact;       /* percent of the guest's performance */

    /* Is the guest doing I/O?  Looked at every GUEST_SAMPLE_NS */
    GuestSample activity;
    bool guest_busy;

    /* The window being judged, and the last probe */
    GuestSample judged;
    GuestSample probe;
    bool probing;
    bool probe_due;
    /* The guest without the copy (0: unknown): latency, requests per s */
    int64_t baseline_ns;
    double baseline_rate;

    /* The copy's window in bytes; below min_window, a duty cycle */
    double window;
    int64_t min_window;
    int64_t max_window;

    /* Adaptive mode: bytes cleaned and dirtied since adapt_start */
    int64_t adapt_start;
    int64_t adapt_cleaned;
    int64_t adapt_dirtied;
};

static int64_t now_ns(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

static void take_sample(Pacing *p, GuestSample *s, int64_t now)
{
    LivemergeCounter counters[LIVEMERGE_REQ__MAX];

    livemerge_filter_get_counters(p->filter, counters);
    *s = (GuestSample) { .at = now };
    for (int i = 0; i < LIVEMERGE_REQ__MAX; i++) {
        /* A flush costs what the cache holds, not what the copy does */
        if (i == LIVEMERGE_REQ_FLUSH) {
            continue;
        }
        s->started += counters[i].requests;
        s->completed += counters[i].completed;
        s->latency_ns += counters[i].latency_ns;
    }
}

Pacing *pacing_new(CopyEngine *e, BlockDriverState *filter,
                   LivemergeCopyMode mode, int guest_impact)
{
    Pacing *p = g_new0(Pacing, 1);

    p->engine = e;
    p->filter = filter;
    p->mode = mode;
    p->guest_impact = guest_impact;
    p->min_window = copy_engine_min_window(e);
    p->max_window = copy_engine_max_window(e);
    p->window = p->min_window;
    copy_engine_set_write_blocking(e,
        mode == LIVEMERGE_COPY_MODE_WRITE_BLOCKING);
    return p;
}

void pacing_free(Pacing *p)
{
    g_free(p);
}

static bool full_pace(Pacing *p)
{
    return !p->guest_busy || p->guest_impact >= LIVEMERGE_MAX_GUEST_IMPACT;
}

static void apply_window(Pacing *p)
{
    copy_engine_set_window(p->engine, full_pace(p) ? p->max_window
                                                   : (int64_t)p->window);
}

void pacing_set_guest_impact(Pacing *p, int guest_impact)
{
    assert(guest_impact >= LIVEMERGE_MIN_GUEST_IMPACT &&
           guest_impact <= LIVEMERGE_MAX_GUEST_IMPACT);
    p->guest_impact = guest_impact;
    apply_window(p);
}

void pacing_start(Pacing *p)
{
    int64_t now = now_ns();

    p->adapt_start = now;
    take_sample(p, &p->activity, now);
    p->judged = p->activity;
    p->probe_due = true;
}

/* Has the guest sent requests since the last look, GUEST_SAMPLE_NS ago? */
static void sample_guest_activity(Pacing *p, int64_t now)
{
    GuestSample s;

    if (now - p->activity.at < GUEST_SAMPLE_NS) {
        return;
    }
    take_sample(p, &s, now);
    p->guest_busy = s.started != p->activity.started;
    p->activity = s;
    apply_window(p);
}

/* The guest's mean latency from @from to @to; 0 when too few requests */
static int64_t mean_latency(const GuestSample *from, const GuestSample *to,
                            uint64_t min_requests)
{
    uint64_t n = to->completed - from->completed;

    if (n == 0 || n < min_requests) {
        return 0;
    }
    return (to->latency_ns - from->latency_ns) / n;
}

/* Its requests completed per second from @from to @to */
static double request_rate(const GuestSample *from, const GuestSample *to)
{
    return (double)(to->completed - from->completed) * NANOSECONDS_PER_SECOND /
           MAX(to->at - from->at, 1);
}

/*
 * A probe: the copy stopped for PROBE_NS, so what the guest's requests
 * cost now is what they cost without it (guest writes mirrored to the
 * destination included: the copy's pace cannot change that)
 */
static void end_probe(Pacing *p, int64_t now)
{
    GuestSample s;
    int64_t latency;

    take_sample(p, &s, now);
    p->probing = false;
    latency = mean_latency(&p->probe, &s, 1);
    if (latency > 0) {
        p->baseline_ns = latency;
        p->baseline_rate = request_rate(&p->probe, &s);
    }
    p->judged = s;
}

/*
 * Grow the window while the guest's slowdown stays under its target,
 * quickly while far under it; shrink it in proportion when over.
 */
static void judge_latency(Pacing *p, int64_t now)
{
    GuestSample s;
    int64_t latency;
    double rate, slowdown, allowed, ratio;
    uint64_t min_requests = JUDGE_MIN_REQUESTS;

    if (now - p->judged.at < JUDGE_MIN_NS) {
        return;
    }
    if (now - p->judged.at >= JUDGE_MAX_NS) {
        min_requests = 1;
    }
    take_sample(p, &s, now);
    latency = mean_latency(&p->judged, &s, min_requests);
    if (latency == 0) {
        return;
    }
    rate = request_rate(&p->judged, &s);
    p->judged = s;
    if (p->baseline_ns == 0) {
        return;
    }
    slowdown = MAX((double)latency / p->baseline_ns,
                   p->baseline_rate / MAX(rate, 1));
    allowed = (double)LIVEMERGE_MAX_GUEST_IMPACT /
              (LIVEMERGE_MAX_GUEST_IMPACT - p->guest_impact);
    ratio = slowdown / allowed;
    if (ratio < 0.8) {
        p->window *= 1.5;
    } else if (ratio < 1.0) {
        p->window *= 1.1;
    } else {
        p->window *= MAX(0.5, 0.9 / ratio);
    }
    p->window = MIN(MAX(p->window, (double)p->min_window / MAX_PAUSE_FACTOR),
                    p->max_window);
}

/*
 * Adaptive mode: stay in background while guest writes dirty again less
 * than ADAPT_MAX_UNDONE of what the copy cleans, measured over
 * ADAPT_WINDOW_NS; from the first window in which they do, block guest
 * writes instead (the backlog can then only shrink).
 */
static void adapt_copy_mode(Pacing *p, int64_t done, int64_t now)
{
    if (p->mode != LIVEMERGE_COPY_MODE_ADAPTIVE ||
        copy_engine_write_blocking(p->engine)) {
        return;
    }
    p->adapt_cleaned += done;
    p->adapt_dirtied += copy_engine_take_dirtied(p->engine);
    if (now - p->adapt_start < ADAPT_WINDOW_NS) {
        return;
    }
    if (p->adapt_dirtied > 0 &&
        p->adapt_dirtied >= p->adapt_cleaned * ADAPT_MAX_UNDONE) {
        copy_engine_set_write_blocking(p->engine, true);
        /* Mirrored writes cost the guest whatever the copy's pace */
        p->probe_due = true;
    }
    p->adapt_start = now;
    p->adapt_cleaned = 0;
    p->adapt_dirtied = 0;
}

void pacing_update(Pacing *p, int64_t done)
{
    int64_t now = now_ns();

    adapt_copy_mode(p, done, now);
    if (p->probing) {
        if (now - p->probe.at >= PROBE_NS) {
            end_probe(p, now);
        }
        return;
    }
    sample_guest_activity(p, now);
    if (full_pace(p)) {
        return;
    }
    judge_latency(p, now);
    if (now - p->probe.at >= PROBE_EVERY_NS) {
        p->probe_due = true;
    }
    apply_window(p);
}

int64_t pacing_hold_ns(Pacing *p)
{
    return p->probing ? MAX(0, PROBE_NS - (now_ns() - p->probe.at)) : 0;
}

int64_t coroutine_fn pacing_give_way(Pacing *p)
{
    int64_t start, copy_ns;

    if (full_pace(p)) {
        return 0;
    }
    if (p->probe_due) {
        /* Measure the guest with no copy in flight */
        copy_engine_wait_all(p->engine);
        p->probe_due = false;
        p->probing = true;
        take_sample(p, &p->probe, now_ns());
        return PROBE_NS;
    }
    if (p->window >= p->min_window) {
        return 0;
    }
    start = now_ns();
    copy_engine_wait_all(p->engine);
    /* A stalled copy says nothing about the next: the pause is bounded */
    copy_ns = MIN(now_ns() - start, MAX_GIVE_WAY_NS);
    /* Copying for copy_ns is window / min_window of copy_ns plus the pause */
    return copy_ns * (p->min_window - p->window) / p->window;
}

void pacing_guest_stopped(Pacing *p)
{
    p->guest_busy = false;
    p->probing = false;
    apply_window(p);
}
