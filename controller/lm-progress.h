/*
 * livemerge CLI - job progress on stderr
 *
 * On a terminal, one line redrawn in place: a bar, percent, rate, ETA.
 * Otherwise (a log, a pipe), a plain line each time the whole percent
 * changes, so logs stay readable.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_PROGRESS_H
#define LM_PROGRESS_H

#include "lm-job.h"

typedef struct LmProgress LmProgress;

/* @label: "Block Commit", ...; @fd: where to draw (stderr). */
LmProgress *lm_progress_new(const char *label, int fd);
void lm_progress_update(LmProgress *progress, const LmJobInfo *info);
/* End the redrawn line (if any) so what follows starts on its own. */
void lm_progress_finish(LmProgress *progress);
void lm_progress_free(LmProgress *progress);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmProgress, lm_progress_free)

#endif /* LM_PROGRESS_H */
