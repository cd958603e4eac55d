/*
 * livemerge benchmark harness - the daemon and its block jobs
 *
 * A qemu-storage-daemon from the lmtest harness (with the plugin, or the
 * stock one for QEMU's own jobs), images added with a given cache mode,
 * the disk exported over NBD, and a job watched to its end: events as
 * they arrive, query-block-jobs every 250 ms for the progress plot.
 *
 * Unlike a test, a bench does not abort on a daemon that failed: stopping
 * judges the exit and returns an error, and the daemon's log is saved.
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BENCH_DAEMON_H
#define BENCH_DAEMON_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include "lm-test-qmp.h"
#include "lm-job.h"

#include "bench.h"

G_BEGIN_DECLS

#define BENCH_EXPORT "disk"
#define BENCH_POLL_S 0.25

typedef struct BenchDaemon BenchDaemon;

/* Which daemon a run uses */
typedef enum {
    BENCH_DAEMON_STOCK,         /* without the plugin */
    BENCH_DAEMON_PLUGIN,        /* with this tree's plugin */
    BENCH_DAEMON_PLUGIN_AB,     /* with the previous build's (--ab-plugin) */
} BenchDaemonKind;

/*
 * Measure the daemon at @path (every daemon of the run, with and without
 * the plugin).  One unpacked beside the system's (scripts/unpack-qsd:
 * <root>/usr/bin/qemu-storage-daemon) also gets its own modules
 * (QEMU_MODULE_DIR) and its own qemu-img/qemu-io (first on PATH), so
 * QEMU's jobs and tools are measured on the same version.
 */
void bench_daemon_select(const char *path);

/*
 * The plugin BENCH_DAEMON_PLUGIN_AB daemons load: another build's
 * livemerge.so (LIVEMERGE_PLUGIN for the launcher), for A/B runs
 */
void bench_daemon_set_ab_plugin(const char *path);

BenchDaemon *bench_daemon_start(BenchDaemonKind kind, GError **error);
LmQmp *bench_daemon_qmp(BenchDaemon *d);
const char *bench_daemon_nbd_socket(BenchDaemon *d);
/* "stock", "plugin" or "plugin-ab": the results' daemon column */
const char *bench_daemon_kind_name(BenchDaemonKind kind);

/*
 * blockdev-add a qcow2 image as node @node (its file node @node-file):
 * @direct selects cache.direct=on with aio=native, else the page cache
 * with aio=threads.  @backing: a node name, or NULL for none (no backing
 * at all: the image is the bottom).
 */
gboolean bench_daemon_add_qcow2(BenchDaemon *d, const char *node,
                                const char *path, const char *backing,
                                gboolean read_only, gboolean direct,
                                GError **error);
gboolean bench_daemon_export(BenchDaemon *d, const char *node,
                             GError **error);

/*
 * Whether the plugin of @kind (a daemon with a plugin) offers QMP
 * @command (query-commands of a fresh daemon): the job kinds it lacks are
 * reported as n/a rather than failing every run.  Dies if the daemon
 * cannot start.
 */
gboolean bench_plugin_has_command(BenchDaemonKind kind, const char *command);

/* VmHWM (peak RSS) of the daemon, in KiB; 0 if unreadable */
guint64 bench_daemon_peak_rss_kib(BenchDaemon *d);

/*
 * quit, wait, and judge the exit: a daemon that crashed or exited non-zero
 * is an error carrying the tail of its log.  The log is saved as
 * @save_log_as (nullable) if the daemon failed or @keep_log (the run
 * failed otherwise).  Frees @d either way.
 */
gboolean bench_daemon_stop(BenchDaemon *d, const char *save_log_as,
                           gboolean keep_log, GError **error);

/* Progress of a job, sampled every BENCH_POLL_S */
typedef struct {
    double t;               /* seconds since the watch's origin */
    gint64 offset;
    gint64 len;
    gboolean ready;
} BenchJobSample;

/* The job, followed by liblivemerge's job watcher (lm-job.h) */
typedef struct {
    BenchDaemon *d;
    LmJob *job;
    double origin;          /* monotonic time that sample times count from */
    GArray *samples;        /* BenchJobSample */
    double max_reply;       /* slowest query-block-jobs reply, seconds */
} BenchJobWatch;

void bench_job_watch_init(BenchJobWatch *w, BenchDaemon *d,
                          const char *job_id, double origin);
void bench_job_watch_clear(BenchJobWatch *w);

/*
 * Wait until the job is READY (@until_ready; an end counts too) or has
 * ended, sampling the progress meanwhile.  Returns the job's state (its
 * state, error, and state_since_us for when it got there), or NULL: on
 * timeout with *@timed_out set and no error, else an error.
 */
const LmJobInfo *bench_job_wait(BenchJobWatch *w, gboolean until_ready,
                                double timeout_s, gboolean *timed_out,
                                GError **error);

/* Keep sampling progress for @seconds (READY, before the pivot) */
void bench_job_idle(BenchJobWatch *w, double seconds);

/* When the job reached its current state, in bench_now() seconds */
double bench_job_state_time(const LmJobInfo *info);


G_END_DECLS

#endif /* BENCH_DAEMON_H */
