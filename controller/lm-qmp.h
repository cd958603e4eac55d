/*
 * livemerge - synchronous QMP client
 *
 * A small blocking client for the QEMU Machine Protocol on a unix socket.
 * Commands are executed one at a time; asynchronous events that arrive
 * while waiting for a reply are queued in arrival order and handed out by
 * lm_qmp_wait_event() / lm_qmp_take_events().  Every wait is bounded, so a
 * wedged daemon turns into an LM_QMP_ERROR_TIMEOUT rather than a hang.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_QMP_H
#define LM_QMP_H

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define LM_QMP_ERROR (lm_qmp_error_quark())
GQuark lm_qmp_error_quark(void);

typedef enum {
    LM_QMP_ERROR_COMMAND,   /* the daemon answered with a QMP error */
    LM_QMP_ERROR_IO,        /* socket error */
    LM_QMP_ERROR_CLOSED,    /* the daemon closed the connection */
    LM_QMP_ERROR_TIMEOUT,   /* no answer / event within the timeout */
    LM_QMP_ERROR_PROTOCOL,  /* the daemon sent something that is not QMP */
    LM_QMP_ERROR_INVALID,   /* the caller's arguments are not a JSON object */
} LmQmpError;

/* Default bound for connecting and for each command, in milliseconds. */
#define LM_QMP_DEFAULT_TIMEOUT_MS 60000

typedef struct LmQmp LmQmp;

/*
 * Connect to the QMP socket at @socket_path, retrying while the socket
 * does not exist yet or refuses connections (the daemon may still be
 * starting), for at most @timeout_ms (< 0: LM_QMP_DEFAULT_TIMEOUT_MS).
 * Reads the greeting and negotiates capabilities.
 */
LmQmp *lm_qmp_connect(const char *socket_path, int timeout_ms,
                      GError **error);
void lm_qmp_free(LmQmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmQmp, lm_qmp_free)

/*
 * The "QMP" member of the greeting ({"version": ..., "capabilities": ...}),
 * owned by @qmp.
 */
JsonObject *lm_qmp_get_greeting(LmQmp *qmp);

/* Bound for each command reply, in milliseconds (< 0: the default). */
void lm_qmp_set_timeout(LmQmp *qmp, int timeout_ms);

/*
 * Execute @command with @args (nullable, not consumed).  Returns the
 * "return" member, as a new node the caller owns.  On a QMP error, fails
 * with LM_QMP_ERROR_COMMAND, the message being the QMP "desc" verbatim and
 * the class available from lm_qmp_last_error_class().
 */
JsonNode *lm_qmp_execute(LmQmp *qmp, const char *command, JsonObject *args,
                         GError **error);

/* As lm_qmp_execute(), arguments given as JSON object text (nullable). */
JsonNode *lm_qmp_execute_json(LmQmp *qmp, const char *command,
                              const char *json_args, GError **error);

/*
 * As lm_qmp_execute_json(), the arguments text built printf-style from
 * @args_fmt, e.g.
 *     lm_qmp_executef(qmp, &err, "block-export-del", "{\"id\": \"%s\"}", id);
 * A NULL @args_fmt means no arguments.
 */
JsonNode *lm_qmp_executef(LmQmp *qmp, GError **error, const char *command,
                          const char *args_fmt, ...) G_GNUC_PRINTF(4, 5);

/* As lm_qmp_executef(), for commands whose return value does not matter. */
gboolean lm_qmp_runf(LmQmp *qmp, GError **error, const char *command,
                     const char *args_fmt, ...) G_GNUC_PRINTF(4, 5);

/*
 * Class of the last LM_QMP_ERROR_COMMAND failure ("GenericError",
 * "CommandNotFound", ...), or NULL if the last command did not fail that way.
 */
const char *lm_qmp_last_error_class(LmQmp *qmp);

/*
 * Raw access for protocol tests: send @line as is (a newline is appended),
 * then read the next reply (a message with "return" or "error"; events are
 * queued), whatever its id.  lm_qmp_read_reply() returns the whole reply
 * object, e.g. {"error": {"class": ..., "desc": ...}}.
 */
gboolean lm_qmp_send_raw(LmQmp *qmp, const char *line, GError **error);
JsonObject *lm_qmp_read_reply(LmQmp *qmp, int timeout_ms, GError **error);

/*
 * Send @line and interpret the reply as lm_qmp_execute() does, e.g. to
 * check that a malformed command fails with a given class/desc.
 */
JsonNode *lm_qmp_execute_raw(LmQmp *qmp, const char *line, GError **error);

/*
 * Remove and return the first queued or arriving event called @name (NULL:
 * any event), leaving other events queued.  Returns the whole event object
 * ({"event": ..., "data": ..., "timestamp": ...}).  @timeout_ms 0 only
 * looks at what has already arrived; < 0 means the default timeout.
 */
JsonObject *lm_qmp_wait_event(LmQmp *qmp, const char *name, int timeout_ms,
                              GError **error);

/* Drain the event queue: a GPtrArray of JsonObject, in arrival order. */
GPtrArray *lm_qmp_take_events(LmQmp *qmp);

G_END_DECLS

#endif /* LM_QMP_H */
