/*
 * vm suite - a client of the QEMU guest agent
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "vm-qga.h"

#include <string.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

/* Each reply: the agent may take its time while it freezes filesystems. */
#define QGA_REPLY_TIMEOUT_S 60
#define QGA_CONNECT_RETRY_US (100 * 1000)

struct VmQga {
    GSocketConnection *conn;
    GDataInputStream *in;
};

void vm_qga_free(VmQga *qga)
{
    if (!qga) {
        return;
    }
    g_clear_object(&qga->in);
    g_clear_object(&qga->conn);
    g_free(qga);
}

static gboolean qga_send(VmQga *qga, const char *text, GError **error)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(qga->conn));

    return g_output_stream_write_all(out, text, strlen(text), NULL, NULL,
                                     error);
}

/* The next JSON object from the agent, skipping 0xff sync bytes. */
static JsonObject *qga_read_object(VmQga *qga, GError **error)
{
    for (;;) {
        g_autofree char *line = g_data_input_stream_read_line(qga->in, NULL,
                                                              NULL, error);
        g_autoptr(JsonParser) parser = json_parser_new();
        char *start;

        if (!line) {
            if (error && !*error) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                            "guest agent closed the connection");
            }
            return NULL;
        }
        start = strrchr(line, '\xff');
        start = start ? start + 1 : line;
        if (!*g_strstrip(start)) {
            continue;
        }
        if (!json_parser_load_from_data(parser, start, -1, error)) {
            return NULL;
        }
        if (JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
            return json_object_ref(json_node_get_object(
                json_parser_get_root(parser)));
        }
    }
}

static gboolean qga_sync(VmQga *qga, GError **error)
{
    gint64 id = g_random_int_range(1, G_MAXINT32);
    g_autofree char *cmd = g_strdup_printf(
        "\xff{\"execute\": \"guest-sync-delimited\", "
        "\"arguments\": {\"id\": %" G_GINT64_FORMAT "}}\n", id);

    if (!qga_send(qga, cmd, error)) {
        return FALSE;
    }
    for (;;) {
        g_autoptr(JsonObject) reply = qga_read_object(qga, error);

        if (!reply) {
            return FALSE;
        }
        JsonNode *ret = json_object_get_member(reply, "return");

        if (ret && JSON_NODE_HOLDS_VALUE(ret) &&
            json_node_get_value_type(ret) == G_TYPE_INT64 &&
            json_node_get_int(ret) == id) {
            return TRUE;
        }
    }
}

VmQga *vm_qga_connect(const char *socket_path, int timeout_ms,
                      GError **error)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;
    g_autoptr(VmQga) qga = g_new0(VmQga, 1);

    g_socket_client_set_timeout(client, QGA_REPLY_TIMEOUT_S);
    for (;;) {
        g_autoptr(GError) local_err = NULL;

        qga->conn = g_socket_client_connect(client,
                                            G_SOCKET_CONNECTABLE(addr),
                                            NULL, &local_err);
        if (qga->conn) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            g_propagate_error(error, g_steal_pointer(&local_err));
            return NULL;
        }
        g_usleep(QGA_CONNECT_RETRY_US);
    }
    qga->in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(qga->conn)));
    if (!qga_sync(qga, error)) {
        return NULL;
    }
    return g_steal_pointer(&qga);
}

JsonNode *vm_qga_execute(VmQga *qga, const char *command, GError **error)
{
    g_autofree char *cmd = g_strdup_printf("{\"execute\": \"%s\"}\n",
                                           command);
    g_autoptr(JsonObject) reply = NULL;

    if (!qga_send(qga, cmd, error)) {
        return NULL;
    }
    reply = qga_read_object(qga, error);
    if (!reply) {
        return NULL;
    }
    if (json_object_has_member(reply, "error")) {
        JsonObject *err = json_object_get_object_member(reply, "error");

        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", command,
                    json_object_get_string_member_with_default(
                        err, "desc", "(no description)"));
        return NULL;
    }
    return json_node_copy(json_object_get_member(reply, "return"));
}

char *vm_qga_fsfreeze_status(VmQga *qga, GError **error)
{
    g_autoptr(JsonNode) ret = vm_qga_execute(qga, "guest-fsfreeze-status",
                                             error);

    return ret ? g_strdup(json_node_get_string(ret)) : NULL;
}
