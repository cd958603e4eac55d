/*
 * livemerge CLI - job progress on stderr
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-progress.h"

#include <stdio.h>
#include <unistd.h>

#define LM_PROGRESS_BAR_WIDTH 30

struct LmProgress {
    char *label;
    FILE *out;
    gboolean tty;
    gboolean drawn;         /* a redrawn line is on the terminal */
    int last_percent;       /* plain lines: the last one printed */
};

LmProgress *lm_progress_new(const char *label, int fd)
{
    LmProgress *p = g_new0(LmProgress, 1);

    p->label = g_strdup(label);
    p->out = fd == STDOUT_FILENO ? stdout : stderr;
    p->tty = isatty(fd);
    p->last_percent = -1;
    return p;
}

static char *format_rate(double rate)
{
    g_autofree char *size = g_format_size_full((guint64)rate,
                                               G_FORMAT_SIZE_IEC_UNITS);

    return rate > 0 ? g_strdup_printf("%s/s", size) : g_strdup("-");
}

static char *format_eta(gint64 eta)
{
    if (eta < 0) {
        return g_strdup("--:--");
    }
    if (eta >= 3600) {
        return g_strdup_printf("%" G_GINT64_FORMAT ":%02d:%02d", eta / 3600,
                               (int)(eta / 60 % 60), (int)(eta % 60));
    }
    return g_strdup_printf("%02d:%02d", (int)(eta / 60), (int)(eta % 60));
}

void lm_progress_update(LmProgress *p, const LmJobInfo *info)
{
    int percent = (int)info->percent;
    g_autofree char *rate = format_rate(info->rate);
    g_autofree char *eta = format_eta(info->eta_seconds);

    if (p->tty) {
        char bar[LM_PROGRESS_BAR_WIDTH + 1];
        int filled = percent * LM_PROGRESS_BAR_WIDTH / 100;

        for (int i = 0; i < LM_PROGRESS_BAR_WIDTH; i++) {
            bar[i] = i < filled ? '#' : '-';
        }
        bar[LM_PROGRESS_BAR_WIDTH] = '\0';
        fprintf(p->out, "\r\033[K%s: [%s] %3d %%  %s  ETA %s%s", p->label,
                bar, percent, rate, eta,
                info->state == LM_JOB_READY ? "  (ready)" : "");
        p->drawn = TRUE;
    } else if (percent != p->last_percent) {
        fprintf(p->out, "%s: %d %% (%s, ETA %s)\n", p->label, percent, rate,
                eta);
        p->last_percent = percent;
    }
    fflush(p->out);
}

void lm_progress_finish(LmProgress *p)
{
    if (p->drawn) {
        fputc('\n', p->out);
        fflush(p->out);
        p->drawn = FALSE;
    }
}

void lm_progress_free(LmProgress *p)
{
    if (!p) {
        return;
    }
    lm_progress_finish(p);
    g_free(p->label);
    g_free(p);
}
