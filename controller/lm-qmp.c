/*
 * livemerge - synchronous QMP client
 *
 * QMP is line oriented: the daemon terminates every JSON message with a
 * newline, so we split the byte stream at newlines ourselves and leave the
 * JSON to json-glib.  The socket is non-blocking and every read or write
 * waits with g_socket_condition_timed_wait() against a deadline, which is
 * what keeps a stuck daemon from hanging a caller.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-qmp.h"
#include "lm-qmp-raw.h"

#include <string.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

G_DEFINE_QUARK(lm-qmp-error-quark, lm_qmp_error)

/* A reply larger than this means the stream is garbage, not a big reply. */
#define LM_QMP_MAX_LINE (64 * 1024 * 1024)

/* How long to sleep between connection attempts while the daemon starts. */
#define LM_QMP_CONNECT_RETRY_US (10 * 1000)

struct LmQmp {
    GSocketConnection *conn;
    GSocket *socket;
    GByteArray *inbuf;          /* received bytes not yet split into lines */
    GQueue events;              /* JsonObject *, arrival order */
    JsonObject *greeting;
    char *last_error_class;
    GHashTable *commands;       /* query-commands, asked on first need */
    gint64 next_id;
    int timeout_ms;
    gboolean closed;
};

/* QMP error classes (qapi/error.json), in LmQmpError code order. */
static const struct {
    const char *name;
    LmQmpError code;
} qmp_error_classes[] = {
    { "GenericError", LM_QMP_ERROR_COMMAND },
    { "CommandNotFound", LM_QMP_ERROR_COMMAND_NOT_FOUND },
    { "DeviceNotFound", LM_QMP_ERROR_DEVICE_NOT_FOUND },
    { "DeviceNotActive", LM_QMP_ERROR_DEVICE_NOT_ACTIVE },
    { "KVMMissingCap", LM_QMP_ERROR_KVM_MISSING_CAP },
};

static LmQmpError error_code_of_class(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(qmp_error_classes); i++) {
        if (g_str_equal(qmp_error_classes[i].name, name)) {
            return qmp_error_classes[i].code;
        }
    }
    return LM_QMP_ERROR_COMMAND;
}

const char *lm_qmp_error_class_name(int code)
{
    for (gsize i = 0; i < G_N_ELEMENTS(qmp_error_classes); i++) {
        if (qmp_error_classes[i].code == (LmQmpError)code) {
            return qmp_error_classes[i].name;
        }
    }
    return NULL;
}

gboolean lm_qmp_error_is_refusal(const GError *err)
{
    return err && err->domain == LM_QMP_ERROR &&
           lm_qmp_error_class_name(err->code) != NULL;
}

static gint64 deadline_after(int timeout_ms)
{
    return g_get_monotonic_time() + (gint64)MAX(timeout_ms, 0) * 1000;
}

static int effective_timeout(LmQmp *qmp, int timeout_ms)
{
    return timeout_ms < 0 ? qmp->timeout_ms : timeout_ms;
}

/*
 * Translate a GIO error into our domain, so callers only need to know
 * LM_QMP_ERROR.  A peer that went away is CLOSED, not IO: tests that kill
 * the daemon want to tell the two apart.
 */
static void propagate_io_error(LmQmp *qmp, GError **error, GError *io_err,
                               const char *what)
{
    int code = LM_QMP_ERROR_IO;

    if (g_error_matches(io_err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
        code = LM_QMP_ERROR_TIMEOUT;
    } else if (g_error_matches(io_err, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
               g_error_matches(io_err, G_IO_ERROR,
                               G_IO_ERROR_CONNECTION_CLOSED)) {
        code = LM_QMP_ERROR_CLOSED;
        qmp->closed = TRUE;
    }
    g_set_error(error, LM_QMP_ERROR, code, "QMP %s: %s", what,
                io_err->message);
    g_error_free(io_err);
}

static gboolean check_open(LmQmp *qmp, GError **error)
{
    if (qmp->closed) {
        g_set_error_literal(error, LM_QMP_ERROR, LM_QMP_ERROR_CLOSED,
                            "QMP connection closed by the daemon");
        return FALSE;
    }
    return TRUE;
}

/* Wait for @condition until @deadline; FALSE with a GIO error on timeout. */
static gboolean wait_socket(LmQmp *qmp, GIOCondition condition,
                            gint64 deadline, GError **error)
{
    gint64 remaining = MAX(deadline - g_get_monotonic_time(), 0);

    /* Round up: the wait has millisecond granularity underneath. */
    remaining = (remaining + 999) / 1000 * 1000;
    return g_socket_condition_timed_wait(qmp->socket, condition, remaining,
                                         NULL, error);
}

static gboolean qmp_write_line(LmQmp *qmp, const char *line, gint64 deadline,
                               GError **error)
{
    g_autofree char *buf = g_strconcat(line, "\n", NULL);
    gsize len = strlen(buf);
    gsize done = 0;

    if (!check_open(qmp, error)) {
        return FALSE;
    }
    while (done < len) {
        GError *local_err = NULL;
        gssize n = g_socket_send(qmp->socket, buf + done, len - done, NULL,
                                 &local_err);

        if (n >= 0) {
            done += n;
            continue;
        }
        if (g_error_matches(local_err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            g_clear_error(&local_err);
            if (wait_socket(qmp, G_IO_OUT, deadline, &local_err)) {
                continue;
            }
        }
        propagate_io_error(qmp, error, local_err, "send");
        return FALSE;
    }
    return TRUE;
}

/* Return the next complete line (without terminator), reading as needed. */
static char *qmp_read_line(LmQmp *qmp, gint64 deadline, GError **error)
{
    for (;;) {
        guint8 chunk[4096];
        GError *local_err = NULL;
        guint8 *nl = memchr(qmp->inbuf->data, '\n', qmp->inbuf->len);
        gssize n;

        if (nl) {
            gsize len = nl - qmp->inbuf->data;
            char *line = g_strndup((const char *)qmp->inbuf->data, len);

            g_byte_array_remove_range(qmp->inbuf, 0, len + 1);
            return line;
        }
        if (qmp->inbuf->len > LM_QMP_MAX_LINE) {
            g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                        "QMP message longer than %d bytes", LM_QMP_MAX_LINE);
            return NULL;
        }
        if (!check_open(qmp, error)) {
            return NULL;
        }
        if (!wait_socket(qmp, G_IO_IN, deadline, &local_err)) {
            propagate_io_error(qmp, error, local_err, "receive");
            return NULL;
        }
        n = g_socket_receive(qmp->socket, (char *)chunk, sizeof(chunk), NULL,
                             &local_err);
        if (n == 0) {
            qmp->closed = TRUE;
            check_open(qmp, error);
            return NULL;
        }
        if (n < 0) {
            if (g_error_matches(local_err, G_IO_ERROR,
                                G_IO_ERROR_WOULD_BLOCK)) {
                g_clear_error(&local_err);
                continue;
            }
            propagate_io_error(qmp, error, local_err, "receive");
            return NULL;
        }
        g_byte_array_append(qmp->inbuf, chunk, n);
    }
}

/* Read and parse the next non-empty message; it must be a JSON object. */
static JsonObject *qmp_read_message(LmQmp *qmp, gint64 deadline,
                                    GError **error)
{
    for (;;) {
        g_autofree char *line = qmp_read_line(qmp, deadline, error);
        g_autoptr(JsonNode) node = NULL;
        g_autoptr(GError) local_err = NULL;

        if (!line) {
            return NULL;
        }
        g_strstrip(line);
        if (!*line) {
            continue;
        }
        node = json_from_string(line, &local_err);
        if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
            g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                        "QMP sent a non-object message: %s (%s)", line,
                        local_err ? local_err->message : "not an object");
            return NULL;
        }
        return json_object_ref(json_node_get_object(node));
    }
}

/*
 * Read until the next reply ("return" or "error"), queueing events that
 * arrive first.  Anything else is skipped: QMP may grow new message kinds.
 */
static JsonObject *qmp_next_reply(LmQmp *qmp, gint64 deadline,
                                  GError **error)
{
    for (;;) {
        JsonObject *msg = qmp_read_message(qmp, deadline, error);

        if (!msg) {
            return NULL;
        }
        if (json_object_has_member(msg, "event")) {
            g_queue_push_tail(&qmp->events, msg);
            continue;
        }
        if (json_object_has_member(msg, "return") ||
            json_object_has_member(msg, "error")) {
            return msg;
        }
        g_debug("QMP: ignoring unexpected message");
        json_object_unref(msg);
    }
}

/* Turn a reply into its "return" member or an LM_QMP_ERROR_COMMAND error. */
static JsonNode *qmp_reply_result(LmQmp *qmp, JsonObject *reply,
                                  GError **error)
{
    JsonNode *err_node = json_object_get_member(reply, "error");
    JsonObject *err_obj;

    if (!err_node) {
        return json_node_copy(json_object_get_member(reply, "return"));
    }
    if (!JSON_NODE_HOLDS_OBJECT(err_node)) {
        g_set_error_literal(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                            "QMP error reply without an error object");
        return NULL;
    }
    err_obj = json_node_get_object(err_node);
    g_free(qmp->last_error_class);
    qmp->last_error_class = g_strdup(
        json_object_get_string_member_with_default(err_obj, "class", ""));
    g_set_error_literal(error, LM_QMP_ERROR,
                        error_code_of_class(qmp->last_error_class),
                        json_object_get_string_member_with_default(
                            err_obj, "desc", ""));
    return NULL;
}

static gboolean reply_has_id(JsonObject *reply, gint64 id)
{
    JsonNode *id_node = json_object_get_member(reply, "id");

    return id_node && JSON_NODE_HOLDS_VALUE(id_node) &&
           json_node_get_value_type(id_node) == G_TYPE_INT64 &&
           json_node_get_int(id_node) == id;
}

/* Connect, retrying while the daemon starts; @deadline in *deadline. */
static LmQmp *qmp_open(const char *socket_path, int timeout_ms,
                       gint64 *deadline_out, GError **error)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
    g_autoptr(LmQmp) qmp = g_new0(LmQmp, 1);
    gint64 deadline;

    qmp->timeout_ms = LM_QMP_DEFAULT_TIMEOUT_MS;
    qmp->inbuf = g_byte_array_new();
    g_queue_init(&qmp->events);
    timeout_ms = effective_timeout(qmp, timeout_ms);
    deadline = deadline_after(timeout_ms);

    /* The daemon creates the socket some time after it starts. */
    for (;;) {
        g_autoptr(GError) local_err = NULL;

        qmp->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr),
                                            NULL, &local_err);
        if (qmp->conn) {
            break;
        }
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_TIMEOUT,
                        "could not connect to QMP socket %s within %d ms: %s",
                        socket_path, timeout_ms, local_err->message);
            return NULL;
        }
        g_usleep(LM_QMP_CONNECT_RETRY_US);
    }
    qmp->socket = g_socket_connection_get_socket(qmp->conn);
    g_socket_set_blocking(qmp->socket, FALSE);

    *deadline_out = deadline;
    return g_steal_pointer(&qmp);
}

LmQmp *lm_qmp_connect(const char *socket_path, int timeout_ms,
                      GError **error)
{
    g_autoptr(JsonObject) greeting = NULL;
    g_autoptr(JsonNode) caps = NULL;
    gint64 deadline;
    g_autoptr(LmQmp) qmp = qmp_open(socket_path, timeout_ms, &deadline,
                                    error);

    if (!qmp) {
        return NULL;
    }
    greeting = qmp_read_message(qmp, deadline, error);
    if (!greeting) {
        g_prefix_error(error, "reading QMP greeting: ");
        return NULL;
    }
    if (!json_object_has_member(greeting, "QMP") ||
        !JSON_NODE_HOLDS_OBJECT(json_object_get_member(greeting, "QMP"))) {
        g_set_error_literal(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                            "QMP greeting lacks the \"QMP\" object");
        return NULL;
    }
    qmp->greeting = json_object_ref(
        json_object_get_object_member(greeting, "QMP"));

    caps = lm_qmp_execute(qmp, "qmp_capabilities", NULL, error);
    if (!caps) {
        g_prefix_error(error, "qmp_capabilities: ");
        return NULL;
    }
    return g_steal_pointer(&qmp);
}

LmQmp *lm_qmp_connect_agent(const char *socket_path, int timeout_ms,
                            GError **error)
{
    gint64 deadline;
    g_autoptr(LmQmp) qmp = qmp_open(socket_path, timeout_ms, &deadline,
                                    error);
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonNode) ret = NULL;
    gint64 token = g_random_int_range(1, G_MAXINT32);

    if (!qmp) {
        return NULL;
    }
    /* No greeting; guest-sync flushes what an earlier client left. */
    json_object_set_int_member(args, "id", token);
    ret = lm_qmp_execute(qmp, "guest-sync", args, error);
    if (!ret) {
        g_prefix_error(error, "guest agent at %s: ", socket_path);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_VALUE(ret) || json_node_get_int(ret) != token) {
        g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                    "guest agent at %s: guest-sync answered with another "
                    "token", socket_path);
        return NULL;
    }
    return g_steal_pointer(&qmp);
}

void lm_qmp_free(LmQmp *qmp)
{
    if (!qmp) {
        return;
    }
    g_clear_object(&qmp->conn);
    g_byte_array_unref(qmp->inbuf);
    g_queue_clear_full(&qmp->events, (GDestroyNotify)json_object_unref);
    g_clear_pointer(&qmp->greeting, json_object_unref);
    g_free(qmp->last_error_class);
    g_clear_pointer(&qmp->commands, g_hash_table_unref);
    g_free(qmp);
}

JsonObject *lm_qmp_get_greeting(LmQmp *qmp)
{
    return qmp->greeting;
}

void lm_qmp_set_timeout(LmQmp *qmp, int timeout_ms)
{
    qmp->timeout_ms = timeout_ms < 0 ? LM_QMP_DEFAULT_TIMEOUT_MS : timeout_ms;
}

const char *lm_qmp_last_error_class(LmQmp *qmp)
{
    return qmp->last_error_class;
}

JsonNode *lm_qmp_execute(LmQmp *qmp, const char *command, JsonObject *args,
                         GError **error)
{
    g_autoptr(JsonObject) msg = json_object_new();
    g_autoptr(JsonNode) msg_node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;
    gint64 deadline = deadline_after(qmp->timeout_ms);
    gint64 id = ++qmp->next_id;

    g_clear_pointer(&qmp->last_error_class, g_free);

    json_object_set_string_member(msg, "execute", command);
    if (args) {
        json_object_set_object_member(msg, "arguments",
                                      json_object_ref(args));
    }
    json_object_set_int_member(msg, "id", id);
    json_node_set_object(msg_node, msg);
    text = json_to_string(msg_node, FALSE);
    /* QMP is UTF-8: a non-UTF-8 name must not reach the daemon mangled. */
    if (!g_utf8_validate(text, -1, NULL)) {
        g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_INVALID,
                    "%s: an argument is not valid UTF-8", command);
        return NULL;
    }

    if (!qmp_write_line(qmp, text, deadline, error)) {
        g_prefix_error(error, "%s: ", command);
        return NULL;
    }
    for (;;) {
        g_autoptr(JsonObject) reply = qmp_next_reply(qmp, deadline, error);

        if (!reply) {
            g_prefix_error(error, "%s: ", command);
            return NULL;
        }
        /* A late reply to an earlier command that timed out, or to a raw
         * line: not ours. */
        if (!reply_has_id(reply, id)) {
            g_debug("QMP: dropping reply not for command %s", command);
            continue;
        }
        return qmp_reply_result(qmp, reply, error);
    }
}

gboolean lm_qmp_run(LmQmp *qmp, const char *command, JsonObject *args,
                    GError **error)
{
    g_autoptr(JsonNode) ret = lm_qmp_execute(qmp, command, args, error);

    return ret != NULL;
}

gboolean lm_qmp_has_command(LmQmp *qmp, const char *command, GError **error)
{
    if (!qmp->commands) {
        g_autoptr(JsonNode) ret = lm_qmp_execute(qmp, "query-commands",
                                                 NULL, error);
        JsonArray *list;

        if (!ret) {
            return FALSE;
        }
        if (!JSON_NODE_HOLDS_ARRAY(ret)) {
            g_set_error_literal(error, LM_QMP_ERROR, LM_QMP_ERROR_PROTOCOL,
                                "query-commands did not return a list");
            return FALSE;
        }
        qmp->commands = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, NULL);
        list = json_node_get_array(ret);
        for (guint i = 0; i < json_array_get_length(list); i++) {
            JsonObject *cmd = json_array_get_object_element(list, i);
            const char *name = cmd ? json_object_get_string_member_with_default(
                                         cmd, "name", NULL) : NULL;

            if (name) {
                g_hash_table_add(qmp->commands, g_strdup(name));
            }
        }
    }
    return g_hash_table_contains(qmp->commands, command);
}

gboolean lm_qmp_send_raw(LmQmp *qmp, const char *line, GError **error)
{
    return qmp_write_line(qmp, line, deadline_after(qmp->timeout_ms), error);
}

JsonObject *lm_qmp_read_reply(LmQmp *qmp, int timeout_ms, GError **error)
{
    return qmp_next_reply(qmp,
                          deadline_after(effective_timeout(qmp, timeout_ms)),
                          error);
}

JsonNode *lm_qmp_execute_raw(LmQmp *qmp, const char *line, GError **error)
{
    g_autoptr(JsonObject) reply = NULL;

    g_clear_pointer(&qmp->last_error_class, g_free);
    if (!lm_qmp_send_raw(qmp, line, error)) {
        return NULL;
    }
    reply = lm_qmp_read_reply(qmp, -1, error);
    if (!reply) {
        return NULL;
    }
    return qmp_reply_result(qmp, reply, error);
}

/* Remove the first queued event @match accepts from the queue. */
static JsonObject *steal_queued_event(LmQmp *qmp, LmQmpEventMatch match,
                                      gpointer data)
{
    for (GList *l = qmp->events.head; l; l = l->next) {
        JsonObject *ev = l->data;

        if (match(ev, data)) {
            g_queue_delete_link(&qmp->events, l);
            return ev;
        }
    }
    return NULL;
}

static gboolean event_has_name(JsonObject *event, gpointer name)
{
    return !name || g_strcmp0(json_object_get_string_member_with_default(
                                  event, "event", NULL), name) == 0;
}

/*
 * Read whatever the daemon has sent until @deadline, queueing events.
 * Stops early with TRUE once @name shows up in the queue.  A reply here
 * belongs to nobody (its command timed out earlier), so it is dropped.
 */
static gboolean pump_events(LmQmp *qmp, gint64 deadline, GError **error)
{
    for (;;) {
        g_autoptr(JsonObject) msg = qmp_read_message(qmp, deadline, error);

        if (!msg) {
            return FALSE;
        }
        if (json_object_has_member(msg, "event")) {
            g_queue_push_tail(&qmp->events, g_steal_pointer(&msg));
            return TRUE;
        }
        g_debug("QMP: dropping unsolicited reply");
    }
}

JsonObject *lm_qmp_wait_event_matching(LmQmp *qmp, LmQmpEventMatch match,
                                       gpointer data, const char *what,
                                       int timeout_ms, GError **error)
{
    gint64 deadline = deadline_after(effective_timeout(qmp, timeout_ms));

    for (;;) {
        g_autoptr(GError) local_err = NULL;
        JsonObject *ev = steal_queued_event(qmp, match, data);

        if (ev) {
            return ev;
        }
        if (!pump_events(qmp, deadline, &local_err)) {
            if (g_error_matches(local_err, LM_QMP_ERROR,
                                LM_QMP_ERROR_TIMEOUT)) {
                g_set_error(error, LM_QMP_ERROR, LM_QMP_ERROR_TIMEOUT,
                            "timed out waiting for QMP event %s", what);
            } else {
                g_propagate_prefixed_error(error, g_steal_pointer(&local_err),
                                           "waiting for QMP event %s: ",
                                           what);
            }
            return NULL;
        }
    }
}

JsonObject *lm_qmp_wait_event(LmQmp *qmp, const char *name, int timeout_ms,
                              GError **error)
{
    return lm_qmp_wait_event_matching(qmp, event_has_name, (gpointer)name,
                                      name ? name : "(any)", timeout_ms,
                                      error);
}

GPtrArray *lm_qmp_take_events(LmQmp *qmp)
{
    GPtrArray *events =
        g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    JsonObject *ev;

    /* Include what has already arrived; a zero deadline never blocks. */
    while (pump_events(qmp, 0, NULL)) {
        /* keep reading */
    }
    while ((ev = g_queue_pop_head(&qmp->events))) {
        g_ptr_array_add(events, ev);
    }
    return events;
}
