/*
 * livemerge benchmark harness - A/B against a previous build of the
 * plugin
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "ab.h"

void bench_ab_verdict(Bench *b, const char *what, const BenchSummary *cur,
                      const BenchSummary *prev)
{
    double ratio;

    if (!cur->n || !prev->n || prev->median <= 0) {
        bench_md(b, "\n- A/B, %s: — (a build has no successful run; "
                 "target: within 5 %%: **not met**)\n", what);
        return;
    }
    ratio = cur->median / prev->median;
    bench_md(b, "\n- A/B, %s: this build / previous default (medians) = "
             "%.3f (target: within 5 %%, i.e. at most %.2f: %s)\n", what,
             ratio, BENCH_AB_TARGET,
             ratio <= BENCH_AB_TARGET ? "met" : "**not met**");
}

char *bench_ab_describe(const char *plugin)
{
    g_autofree char *dir = g_path_get_dirname(plugin);
    const char *git[] = { "git", "-C", dir, "describe", "--always",
                          "--dirty", NULL };
    g_autofree char *rev = bench_command_line_output(git);

    return g_strdup_printf("%s (tree at %s)", plugin, rev);
}
