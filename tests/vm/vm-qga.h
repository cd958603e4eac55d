/*
 * vm suite - a client of the QEMU guest agent (qemu-ga in the guest) on
 * the host end of its virtio-serial channel
 *
 * The agent has no greeting and may hold stale output from an earlier
 * client, so every connection starts with guest-sync-delimited: the reply
 * comes after a 0xff byte, and everything before it is dropped.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VM_QGA_H
#define VM_QGA_H

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct VmQga VmQga;

/* Connect to @socket_path and synchronise, waiting up to @timeout_ms. */
VmQga *vm_qga_connect(const char *socket_path, int timeout_ms,
                      GError **error);
void vm_qga_free(VmQga *qga);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmQga, vm_qga_free)

/* Execute @command (no arguments); returns its "return" member. */
JsonNode *vm_qga_execute(VmQga *qga, const char *command, GError **error);

/* guest-fsfreeze-status: "frozen" or "thawed" (newly allocated). */
char *vm_qga_fsfreeze_status(VmQga *qga, GError **error);

G_END_DECLS

#endif /* VM_QGA_H */
