/*
 * livemerge - the one block job watcher
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-job.h"
#include "lm-error.h"

#include <math.h>

/* How long one wait for an event lasts before progress is polled again. */
#define LM_JOB_DEFAULT_POLL_MS 200

/* Weight of the newest sample in the smoothed rate. */
#define LM_JOB_RATE_WEIGHT 0.3

struct LmJob {
    LmQmp *qmp;
    char *id;
    char *type;
    char *status;
    char *error;
    LmJobInfo info;
    gint64 sample_time_us;      /* when offset was last sampled */
    guint64 sample_offset;
    int poll_ms;
    LmJobEventFunc event_func;
    gpointer event_data;
};

LmJob *lm_job_new(LmQmp *qmp, const char *job_id)
{
    LmJob *job = g_new0(LmJob, 1);

    job->qmp = qmp;
    job->id = g_strdup(job_id);
    job->info.eta_seconds = -1;
    job->info.state_since_us = g_get_monotonic_time();
    job->poll_ms = LM_JOB_DEFAULT_POLL_MS;
    return job;
}

void lm_job_set_poll_interval(LmJob *job, int interval_ms)
{
    job->poll_ms = interval_ms > 0 ? interval_ms : LM_JOB_DEFAULT_POLL_MS;
}

void lm_job_set_event_func(LmJob *job, LmJobEventFunc func, gpointer data)
{
    job->event_func = func;
    job->event_data = data;
}

static void set_state(LmJob *job, LmJobState state)
{
    if (job->info.state != state) {
        job->info.state = state;
        job->info.state_since_us = g_get_monotonic_time();
    }
}

void lm_job_free(LmJob *job)
{
    if (!job) {
        return;
    }
    g_free(job->id);
    g_free(job->type);
    g_free(job->status);
    g_free(job->error);
    g_free(job);
}

const char *lm_job_state_name(LmJobState state)
{
    static const char *const names[] = {
        [LM_JOB_RUNNING] = "running", [LM_JOB_READY] = "ready",
        [LM_JOB_COMPLETED] = "completed", [LM_JOB_FAILED] = "failed",
        [LM_JOB_CANCELLED] = "cancelled", [LM_JOB_GONE] = "gone",
    };

    return names[state];
}

gboolean lm_job_state_is_end(LmJobState state)
{
    return state >= LM_JOB_COMPLETED;
}

static void set_string(char **field, const char *value)
{
    if (g_strcmp0(*field, value) != 0) {
        g_free(*field);
        *field = g_strdup(value);
    }
}

/* New offset/len: progress only forwards, rate smoothed, ETA from it. */
static void update_progress(LmJob *job, guint64 offset, guint64 len)
{
    gint64 now = g_get_monotonic_time();
    double percent = len ? 100.0 * (double)MIN(offset, len) / (double)len
                         : 0.0;

    if (job->sample_time_us && now > job->sample_time_us &&
        offset >= job->sample_offset) {
        double sample = (double)(offset - job->sample_offset) * 1e6 /
                        (double)(now - job->sample_time_us);

        job->info.rate = job->info.rate == 0.0
            ? sample
            : LM_JOB_RATE_WEIGHT * sample +
              (1 - LM_JOB_RATE_WEIGHT) * job->info.rate;
    }
    job->sample_time_us = now;
    job->sample_offset = offset;
    job->info.offset = offset;
    job->info.len = len;
    job->info.percent = MAX(job->info.percent, percent);
    job->info.eta_seconds = job->info.rate >= 1.0 && len >= offset
        ? (gint64)ceil((double)(len - offset) / job->info.rate) : -1;
}

static const char *event_job_id(JsonObject *event)
{
    JsonObject *data = json_object_get_object_member(event, "data");

    if (!data) {
        return NULL;
    }
    return json_object_get_string_member_with_default(
        data, json_object_has_member(data, "device") ? "device" : "id", NULL);
}

static gboolean event_is_for_job(JsonObject *event, gpointer job_id)
{
    const char *name = json_object_get_string_member_with_default(
        event, "event", "");

    return (g_str_has_prefix(name, "BLOCK_JOB_") ||
            g_str_equal(name, "JOB_STATUS_CHANGE")) &&
           g_strcmp0(event_job_id(event), job_id) == 0;
}

static void take_event(LmJob *job, JsonObject *event)
{
    const char *name = json_object_get_string_member(event, "event");
    JsonObject *data = json_object_get_object_member(event, "data");

    if (job->event_func) {
        job->event_func(job, event, job->event_data);
    }
    if (lm_job_state_is_end(job->info.state)) {
        return;
    }
    if (g_str_equal(name, "JOB_STATUS_CHANGE")) {
        set_string(&job->status, json_object_get_string_member(data,
                                                               "status"));
        return;
    }
    if (json_object_has_member(data, "type")) {
        set_string(&job->type, json_object_get_string_member(data, "type"));
    }
    if (json_object_has_member(data, "len")) {
        update_progress(job, json_object_get_int_member(data, "offset"),
                        json_object_get_int_member(data, "len"));
    }
    if (g_str_equal(name, "BLOCK_JOB_READY")) {
        set_state(job, LM_JOB_READY);
    } else if (g_str_equal(name, "BLOCK_JOB_COMPLETED")) {
        const char *err = json_object_get_string_member_with_default(
            data, "error", NULL);

        set_string(&job->error, err);
        set_state(job, err ? LM_JOB_FAILED : LM_JOB_COMPLETED);
        if (!err) {
            job->info.percent = 100.0;
        }
    } else if (g_str_equal(name, "BLOCK_JOB_CANCELLED")) {
        set_state(job, LM_JOB_CANCELLED);
    } else if (g_str_equal(name, "BLOCK_JOB_ERROR")) {
        g_autofree char *what = g_strdup_printf(
            "I/O error on %s (action: %s)",
            json_object_get_string_member_with_default(data, "operation", "?"),
            json_object_get_string_member_with_default(data, "action", "?"));

        set_string(&job->error, what);
    }
}

/* Take every queued event of this job; wait up to @timeout_ms for one. */
static gboolean take_events(LmJob *job, int timeout_ms, GError **error)
{
    for (;;) {
        g_autoptr(GError) local_err = NULL;
        g_autoptr(JsonObject) ev = lm_qmp_wait_event_matching(
            job->qmp, event_is_for_job, job->id, job->id, timeout_ms,
            &local_err);

        if (!ev) {
            if (g_error_matches(local_err, LM_QMP_ERROR,
                                LM_QMP_ERROR_TIMEOUT)) {
                return TRUE;
            }
            g_propagate_error(error, g_steal_pointer(&local_err));
            return FALSE;
        }
        take_event(job, ev);
        timeout_ms = 0;
    }
}

static JsonObject *find_job(JsonArray *jobs, const char *id)
{
    for (guint i = 0; i < json_array_get_length(jobs); i++) {
        JsonObject *j = json_array_get_object_element(jobs, i);

        if (g_strcmp0(json_object_get_string_member_with_default(
                          j, "device", NULL), id) == 0) {
            return j;
        }
    }
    return NULL;
}

static gboolean query_job(LmJob *job, GError **error)
{
    gint64 start = g_get_monotonic_time();
    g_autoptr(JsonNode) ret = lm_qmp_execute(job->qmp, "query-block-jobs",
                                             NULL, error);
    JsonObject *j;

    /* A slow reply means the daemon's main loop was busy: worth knowing. */
    job->info.query_us = g_get_monotonic_time() - start;
    if (!ret) {
        return FALSE;
    }
    j = JSON_NODE_HOLDS_ARRAY(ret) ? find_job(json_node_get_array(ret),
                                              job->id) : NULL;
    if (!j) {
        /* Its end event may have come in with the reply. */
        if (!take_events(job, 0, error)) {
            return FALSE;
        }
        if (!lm_job_state_is_end(job->info.state)) {
            set_state(job, LM_JOB_GONE);
        }
        return TRUE;
    }
    set_string(&job->type, json_object_get_string_member(j, "type"));
    set_string(&job->status, json_object_get_string_member(j, "status"));
    job->info.speed = json_object_get_int_member(j, "speed");
    job->info.paused = json_object_get_boolean_member(j, "paused");
    update_progress(job, json_object_get_int_member(j, "offset"),
                    json_object_get_int_member(j, "len"));
    if (json_object_get_boolean_member_with_default(j, "ready", FALSE) &&
        job->info.state == LM_JOB_RUNNING) {
        set_state(job, LM_JOB_READY);
    }
    if (json_object_has_member(j, "error")) {
        set_string(&job->error, json_object_get_string_member(j, "error"));
    }
    return TRUE;
}

gboolean lm_job_take_events(LmJob *job, int timeout_ms, GError **error)
{
    return take_events(job, timeout_ms, error);
}

gboolean lm_job_refresh(LmJob *job, GError **error)
{
    if (!take_events(job, 0, error)) {
        return FALSE;
    }
    return lm_job_state_is_end(job->info.state) || query_job(job, error);
}

const LmJobInfo *lm_job_info(LmJob *job)
{
    job->info.id = job->id;
    job->info.type = job->type;
    job->info.status = job->status;
    job->info.error = job->error;
    return &job->info;
}

static gboolean reached(LmJob *job, LmJobState until)
{
    return lm_job_state_is_end(job->info.state) ||
           (until == LM_JOB_READY && job->info.state == LM_JOB_READY);
}

static gboolean end_error(LmJob *job, GError **error)
{
    switch (job->info.state) {
    case LM_JOB_FAILED:
        g_set_error(error, LM_ERROR, LM_ERROR_JOB_FAILED,
                    "block job '%s' failed: %s", job->id,
                    job->error ? job->error : "unknown error");
        return FALSE;
    case LM_JOB_CANCELLED:
        g_set_error(error, LM_ERROR, LM_ERROR_JOB_CANCELLED,
                    "block job '%s' was cancelled", job->id);
        return FALSE;
    default:
        return TRUE;
    }
}

gboolean lm_job_wait(LmJob *job, LmJobState until, gint64 deadline_us,
                     LmJobTick tick, gpointer tick_data, GError **error)
{
    if (!lm_job_refresh(job, error)) {
        return FALSE;
    }
    for (;;) {
        gint64 now = g_get_monotonic_time();
        int wait_ms = job->poll_ms;

        if (tick && !tick(job, tick_data)) {
            g_set_error(error, LM_ERROR, LM_ERROR_INTERRUPTED,
                        "stopped waiting for block job '%s'", job->id);
            return FALSE;
        }
        if (reached(job, until)) {
            return end_error(job, error);
        }
        if (deadline_us && now >= deadline_us) {
            g_set_error(error, LM_ERROR, LM_ERROR_TIMEOUT,
                        "block job '%s' did not %s in time", job->id,
                        until == LM_JOB_READY ? "become ready" : "finish");
            return FALSE;
        }
        if (deadline_us) {
            wait_ms = MIN(wait_ms, (int)((deadline_us - now + 999) / 1000));
        }
        if (!take_events(job, wait_ms, error) ||
            !lm_job_refresh(job, error)) {
            return FALSE;
        }
    }
}

JsonNode *lm_job_info_to_json(const LmJobInfo *info)
{
    JsonObject *obj = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(obj, "id", info->id);
    json_object_set_string_member(obj, "type", info->type);
    json_object_set_string_member(obj, "status", info->status);
    json_object_set_string_member(obj, "state",
                                  lm_job_state_name(info->state));
    json_object_set_int_member(obj, "offset", info->offset);
    json_object_set_int_member(obj, "len", info->len);
    json_object_set_int_member(obj, "speed", info->speed);
    json_object_set_boolean_member(obj, "paused", info->paused);
    json_object_set_double_member(obj, "percent", info->percent);
    json_object_set_double_member(obj, "rate", info->rate);
    json_object_set_int_member(obj, "eta-seconds", info->eta_seconds);
    json_object_set_string_member(obj, "error", info->error);
    json_node_take_object(node, obj);
    return node;
}
