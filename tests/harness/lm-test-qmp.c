/*
 * livemerge test harness - QMP shorthands for tests
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-qmp.h"

JsonNode *lm_qmp_execute_json(LmQmp *qmp, const char *command,
                              const char *json_args, GError **error)
{
    g_autoptr(JsonNode) args = NULL;
    g_autoptr(GError) local_err = NULL;

    if (!json_args) {
        return lm_qmp_execute(qmp, command, NULL, error);
    }
    args = json_from_string(json_args, &local_err);
    if (!args || !JSON_NODE_HOLDS_OBJECT(args)) {
        g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_INVALID,
                    "%s: arguments are not a JSON object: %s (%s)", command,
                    json_args,
                    local_err ? local_err->message : "not an object");
        return NULL;
    }
    return lm_qmp_execute(qmp, command, json_node_get_object(args), error);
}

static JsonNode *qmp_executev(LmQmp *qmp, GError **error,
                              const char *command, const char *args_fmt,
                              va_list ap) G_GNUC_PRINTF(4, 0);

static JsonNode *qmp_executev(LmQmp *qmp, GError **error,
                              const char *command, const char *args_fmt,
                              va_list ap)
{
    g_autofree char *json_args = NULL;

    if (!args_fmt) {
        return lm_qmp_execute(qmp, command, NULL, error);
    }
    json_args = g_strdup_vprintf(args_fmt, ap);
    return lm_qmp_execute_json(qmp, command, json_args, error);
}

JsonNode *lm_qmp_executef(LmQmp *qmp, GError **error, const char *command,
                          const char *args_fmt, ...)
{
    JsonNode *ret;
    va_list ap;

    va_start(ap, args_fmt);
    ret = qmp_executev(qmp, error, command, args_fmt, ap);
    va_end(ap);
    return ret;
}

gboolean lm_qmp_runf(LmQmp *qmp, GError **error, const char *command,
                     const char *args_fmt, ...)
{
    JsonNode *ret;
    va_list ap;

    va_start(ap, args_fmt);
    ret = qmp_executev(qmp, error, command, args_fmt, ap);
    va_end(ap);
    if (!ret) {
        return FALSE;
    }
    json_node_unref(ret);
    return TRUE;
}
