/*
 * vm suite - a real VM (qemu-system-x86_64) booting Debian's kernel with
 * the suite's initramfs (tests/vm/guest-init as /init)
 *
 * Disks come from the daemon under test, over vhost-user-blk (shared
 * guest memory, the guest sees a virtio-blk disk) or over NBD (the VM's
 * QEMU is the NBD client, the guest sees a virtio-blk disk).  The serial
 * console is the VM's stdin/stdout: a reader thread logs every line to
 * DIR/console.log and keeps them for vm_machine_wait_line(); the guest's
 * protocol is described in guest-init.
 *
 * prepare-assets decides between KVM and TCG.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VM_MACHINE_H
#define VM_MACHINE_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    VM_DISK_VHOST_USER_BLK,   /* socket: the export's vhost-user socket */
    VM_DISK_NBD,              /* socket: the NBD server's unix socket */
} VmDiskKind;

typedef struct {
    VmDiskKind kind;
    const char *socket;
    const char *export_name;  /* NBD only */
} VmDiskAttach;

typedef struct VmMachine VmMachine;

/*
 * Boot @kernel with @initramfs under @accel ("kvm", "tcg") and the disks (the guest sees them as
 * vda, vdb, ... in this order), a guest agent channel on @qga_socket
 * (nullable: none), files in @dir.
 */
VmMachine *vm_machine_start(const char *dir, const char *accel,
                            const char *kernel, const char *initramfs,
                            const VmDiskAttach *disks, guint n_disks,
                            const char *qga_socket, GError **error);

/*
 * Wait up to @timeout_ms for a console line starting with @prefix after
 * the last line matched so far; returns it (newly allocated).  Fails on a
 * timeout, when the VM ends first, or when the guest reports
 * LM-INIT-FAIL.
 */
char *vm_machine_wait_line(VmMachine *vm, const char *prefix,
                           int timeout_ms, GError **error);

/* Files the guest has written so far (its last LM-WROTE). */
guint vm_machine_progress(VmMachine *vm);

/*
 * Wait until the guest reports at least @more rounds of files beyond what
 * it had written when called: proof that it keeps writing.
 */
gboolean vm_machine_wait_progress(VmMachine *vm, guint more, int timeout_ms,
                                  GError **error);

/* Send one line to the guest's console. */
gboolean vm_machine_send(VmMachine *vm, const char *line, GError **error);

/*
 * Wait up to @timeout_ms for the VM to exit (it is killed after that);
 * returns its wait status.
 */
int vm_machine_wait_exit(VmMachine *vm, int timeout_ms);

/* Everything the console printed so far. */
char *vm_machine_console(VmMachine *vm);
const char *vm_machine_console_path(VmMachine *vm);

/* Kills a VM still running. */
void vm_machine_free(VmMachine *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmMachine, vm_machine_free)

G_END_DECLS

#endif /* VM_MACHINE_H */
