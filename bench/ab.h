/*
 * livemerge benchmark harness - A/B against a previous build of the
 * plugin (--ab-plugin): scenarios 1, 2 (idle guest) and 6 also run
 * livemerge with that build, alternating with this one, and state
 * whether this build's median stays within 5 % of the previous one's;
 * scenario 8 runs its livemerge commit rows with it and compares
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_AB_H
#define BENCH_AB_H

#include "bench.h"
#include "report.h"

G_BEGIN_DECLS

/* This build's median may be this much of the previous one's, at most */
#define BENCH_AB_TARGET 1.05
/* The results' method of the previous build's runs is the method's
 * with "-ab" after it (livemerge-ab, livemerge-stream-ab) */

/* What the previous build's rows say after the method */
#define BENCH_AB_LABEL "previous default (A/B)"

/*
 * One line under a table: this build's median / the previous build's
 * (@cur, @prev: times, lower is better) and whether it is within 5 %
 */
void bench_ab_verdict(Bench *b, const char *what, const BenchSummary *cur,
                      const BenchSummary *prev);

/* "PATH (git describe of its tree)", for the report's header */
char *bench_ab_describe(const char *plugin);

G_END_DECLS

#endif /* BENCH_AB_H */
