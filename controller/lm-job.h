/*
 * livemerge - the one block job watcher
 *
 * Follows one block job by id through its events (BLOCK_JOB_READY,
 * BLOCK_JOB_COMPLETED, BLOCK_JOB_CANCELLED, BLOCK_JOB_ERROR,
 * JOB_STATUS_CHANGE) and query-block-jobs: state, progress that never goes
 * backwards, rate and ETA.  The CLI, the tests and the benchmarks all wait
 * on jobs through it.
 *
 * Events reach only the connection that was open when they were sent, so
 * the outcome of a job is known for sure on the connection that started
 * it; a job that vanishes from query-block-jobs without its end event is
 * LM_JOB_GONE.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_JOB_H
#define LM_JOB_H

#include "lm-qmp.h"

G_BEGIN_DECLS

typedef enum {
    LM_JOB_RUNNING,     /* created, running, paused, ... */
    LM_JOB_READY,       /* mirror-like job waiting for complete / cancel */
    LM_JOB_COMPLETED,   /* ended well */
    LM_JOB_FAILED,      /* ended with an error (LmJobInfo.error) */
    LM_JOB_CANCELLED,   /* ended by a cancel before READY */
    LM_JOB_GONE,        /* ended, outcome not seen on this connection */
} LmJobState;

typedef struct {
    const char *id;
    const char *type;       /* "commit", "stream", "mirror", ... or NULL */
    const char *status;     /* QEMU's job status, or NULL */
    LmJobState state;
    guint64 offset;         /* bytes done ... */
    guint64 len;            /* ... of this many (may grow) */
    gint64 speed;           /* bytes/s limit, 0: none */
    gboolean paused;
    double percent;         /* 0..100, never decreases */
    double rate;            /* bytes/s, smoothed; 0 until measured */
    gint64 eta_seconds;     /* -1: unknown */
    const char *error;      /* why it failed, or NULL */
    gint64 state_since_us;  /* monotonic time @state was reached */
    gint64 query_us;        /* how long the last query-block-jobs took */
} LmJobInfo;

typedef struct LmJob LmJob;

/* Watch job @job_id on @qmp (no I/O yet). */
LmJob *lm_job_new(LmQmp *qmp, const char *job_id);
void lm_job_free(LmJob *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmJob, lm_job_free)

/* How often lm_job_wait() polls progress (default 200 ms). */
void lm_job_set_poll_interval(LmJob *job, int interval_ms);

/*
 * Called with every event of the job as the watcher takes it in, e.g. to
 * keep a log of them; the event is borrowed.
 */
typedef void (*LmJobEventFunc)(LmJob *job, JsonObject *event, gpointer data);
void lm_job_set_event_func(LmJob *job, LmJobEventFunc func, gpointer data);

/*
 * Take in the job's events that arrived, waiting up to @timeout_ms for
 * the first (0: only what is there); no query.  A timeout is no error.
 */
gboolean lm_job_take_events(LmJob *job, int timeout_ms, GError **error);

/* Take in the events that arrived, then query-block-jobs. */
gboolean lm_job_refresh(LmJob *job, GError **error);
const LmJobInfo *lm_job_info(LmJob *job);
const char *lm_job_state_name(LmJobState state);
gboolean lm_job_state_is_end(LmJobState state);

/* Called after every refresh while waiting; FALSE stops the wait. */
typedef gboolean (*LmJobTick)(LmJob *job, gpointer data);

/*
 * Wait until the job is READY (@until LM_JOB_READY; an end counts too) or
 * has ended (@until LM_JOB_COMPLETED).  @deadline_us (monotonic, 0: none)
 * bounds the wait.  Fails with LM_ERROR_JOB_FAILED / _JOB_CANCELLED when
 * the job ends so, LM_ERROR_TIMEOUT after the deadline, and
 * LM_ERROR_INTERRUPTED when @tick returned FALSE; the job is left as it is
 * (the caller decides whether to abort it).
 */
gboolean lm_job_wait(LmJob *job, LmJobState until, gint64 deadline_us,
                     LmJobTick tick, gpointer tick_data, GError **error);

/* As a JSON object (id, type, status, state, offset, len, ...). */
JsonNode *lm_job_info_to_json(const LmJobInfo *info);

G_END_DECLS

#endif /* LM_JOB_H */
