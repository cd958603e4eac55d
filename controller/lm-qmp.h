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

/*
 * A command the daemon refused carries its QMP error class as the code
 * (LM_QMP_ERROR_COMMAND for "GenericError" and classes QEMU may add);
 * lm_qmp_error_is_refusal() tells any of them from a broken connection.
 */
typedef enum {
    LM_QMP_ERROR_COMMAND,   /* QMP error class GenericError (or unknown) */
    LM_QMP_ERROR_IO,        /* socket error */
    LM_QMP_ERROR_CLOSED,    /* the daemon closed the connection */
    LM_QMP_ERROR_TIMEOUT,   /* no answer / event within the timeout */
    LM_QMP_ERROR_PROTOCOL,  /* the daemon sent something that is not QMP */
    LM_QMP_ERROR_INVALID,   /* the caller's arguments are not a JSON object */
    LM_QMP_ERROR_COMMAND_NOT_FOUND, /* QMP error class CommandNotFound */
    LM_QMP_ERROR_DEVICE_NOT_FOUND,  /* QMP error class DeviceNotFound */
    LM_QMP_ERROR_DEVICE_NOT_ACTIVE, /* QMP error class DeviceNotActive */
    LM_QMP_ERROR_KVM_MISSING_CAP,   /* QMP error class KVMMissingCap */
} LmQmpError;

/* TRUE if @err is the daemon's answer to a command (any QMP class). */
gboolean lm_qmp_error_is_refusal(const GError *err);

/* The QMP class name of a refusal's code ("GenericError", ...), or NULL. */
const char *lm_qmp_error_class_name(int code);

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
/*
 * Connect to a QEMU guest agent socket (no greeting, no capabilities;
 * guest-sync first, so replies meant for an earlier client are skipped).
 */
LmQmp *lm_qmp_connect_agent(const char *socket_path, int timeout_ms,
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
 * with the code of its class (see LmQmpError), the message being the QMP
 * "desc" verbatim.
 */
JsonNode *lm_qmp_execute(LmQmp *qmp, const char *command, JsonObject *args,
                         GError **error);

/* As lm_qmp_execute(), for commands whose return value does not matter. */
gboolean lm_qmp_run(LmQmp *qmp, const char *command, JsonObject *args,
                    GError **error);

/*
 * Whether the daemon knows @command (from query-commands, asked once per
 * connection).  FALSE with @error unset if it does not.
 */
gboolean lm_qmp_has_command(LmQmp *qmp, const char *command, GError **error);

/*
 * Remove and return the first queued or arriving event called @name (NULL:
 * any event), leaving other events queued.  Returns the whole event object
 * ({"event": ..., "data": ..., "timestamp": ...}).  @timeout_ms 0 only
 * looks at what has already arrived; < 0 means the default timeout.
 */
JsonObject *lm_qmp_wait_event(LmQmp *qmp, const char *name, int timeout_ms,
                              GError **error);

/*
 * As lm_qmp_wait_event(), for the first event @match accepts; @what names
 * it in a timeout error.
 */
typedef gboolean (*LmQmpEventMatch)(JsonObject *event, gpointer data);
JsonObject *lm_qmp_wait_event_matching(LmQmp *qmp, LmQmpEventMatch match,
                                       gpointer data, const char *what,
                                       int timeout_ms, GError **error);

/* Drain the event queue: a GPtrArray of JsonObject, in arrival order. */
GPtrArray *lm_qmp_take_events(LmQmp *qmp);

G_END_DECLS

#endif /* LM_QMP_H */
