/*
 * vm suite - a real VM booting the suite's kernel and initramfs
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "vm-machine.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <gio/gio.h>

#define VM_MEMORY_MB 512
#define VM_EXIT_KILL_TIMEOUT_MS 10000

struct VmMachine {
    char *console_path;
    GSubprocess *proc;
    GOutputStream *console_in;   /* the guest's console input */
    GThread *reader;
    GMutex lock;
    GCond changed;
    GPtrArray *lines;            /* every console line, under @lock */
    guint cursor;                /* lines before it were matched */
    guint progress;              /* the guest's last LM-WROTE */
    gboolean ended;              /* the console closed: QEMU is exiting */
    gboolean reaped;
};

static gpointer console_reader(gpointer data)
{
    VmMachine *vm = data;
    GInputStream *out = g_subprocess_get_stdout_pipe(vm->proc);
    g_autoptr(GDataInputStream) in = g_data_input_stream_new(out);
    g_autoptr(GFileOutputStream) log = NULL;
    g_autoptr(GFile) log_file = g_file_new_for_path(vm->console_path);
    char *line;

    log = g_file_replace(log_file, NULL, FALSE, G_FILE_CREATE_NONE, NULL,
                         NULL);
    while ((line = g_data_input_stream_read_line_utf8(in, NULL, NULL,
                                                      NULL))) {
        g_strchomp(line);
        if (log) {
            g_output_stream_printf(G_OUTPUT_STREAM(log), NULL, NULL, NULL,
                                   "%s\n", line);
            g_output_stream_flush(G_OUTPUT_STREAM(log), NULL, NULL);
        }
        g_mutex_lock(&vm->lock);
        if (g_str_has_prefix(line, "LM-WROTE ")) {
            vm->progress = (guint)g_ascii_strtoull(line + 9, NULL, 10);
        }
        g_ptr_array_add(vm->lines, line);
        g_cond_broadcast(&vm->changed);
        g_mutex_unlock(&vm->lock);
    }
    g_mutex_lock(&vm->lock);
    vm->ended = TRUE;
    g_cond_broadcast(&vm->changed);
    g_mutex_unlock(&vm->lock);
    return NULL;
}

static void vm_child_setup(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void add_disk_args(GPtrArray *argv, const VmDiskAttach *disk, guint i)
{
    switch (disk->kind) {
    case VM_DISK_VHOST_USER_BLK:
        g_ptr_array_add(argv, g_strdup("-chardev"));
        g_ptr_array_add(argv, g_strdup_printf("socket,id=vu%u,path=%s", i,
                                              disk->socket));
        g_ptr_array_add(argv, g_strdup("-device"));
        g_ptr_array_add(argv, g_strdup_printf(
            "vhost-user-blk-pci,chardev=vu%u,addr=0x%x", i, 0x10 + i));
        break;
    case VM_DISK_NBD:
        g_ptr_array_add(argv, g_strdup("-blockdev"));
        g_ptr_array_add(argv, g_strdup_printf(
            "driver=nbd,node-name=nbd%u,server.type=unix,server.path=%s,"
            "export=%s", i, disk->socket, disk->export_name));
        g_ptr_array_add(argv, g_strdup("-device"));
        g_ptr_array_add(argv, g_strdup_printf(
            "virtio-blk-pci,drive=nbd%u,addr=0x%x", i, 0x10 + i));
        break;
    }
}

VmMachine *vm_machine_start(const char *dir, const char *accel,
                            const char *kernel, const char *initramfs,
                            const VmDiskAttach *disks, guint n_disks,
                            const char *qga_socket, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
        G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_autoptr(GString) names = g_string_new(NULL);
    VmMachine *vm;

    for (guint i = 0; i < n_disks; i++) {
        g_string_append_printf(names, "%svd%c", i ? "," : "", 'a' + i);
    }
    g_ptr_array_add(argv, g_strdup("qemu-system-x86_64"));
    g_ptr_array_add(argv, g_strdup("-accel"));
    g_ptr_array_add(argv, g_strdup(accel));
    /* QEMU's default CPU model: -cpu host trips over MSRs a nested KVM
     * does not let it set */
    g_ptr_array_add(argv, g_strdup("-smp"));
    g_ptr_array_add(argv, g_strdup("1"));
    g_ptr_array_add(argv, g_strdup("-m"));
    g_ptr_array_add(argv, g_strdup_printf("%d", VM_MEMORY_MB));
    /* vhost-user needs guest memory the daemon can map */
    g_ptr_array_add(argv, g_strdup("-object"));
    g_ptr_array_add(argv, g_strdup_printf(
        "memory-backend-memfd,id=mem,size=%dM,share=on", VM_MEMORY_MB));
    g_ptr_array_add(argv, g_strdup("-numa"));
    g_ptr_array_add(argv, g_strdup("node,memdev=mem"));
    g_ptr_array_add(argv, g_strdup("-nodefaults"));
    g_ptr_array_add(argv, g_strdup("-display"));
    g_ptr_array_add(argv, g_strdup("none"));
    g_ptr_array_add(argv, g_strdup("-no-reboot"));
    g_ptr_array_add(argv, g_strdup("-serial"));
    g_ptr_array_add(argv, g_strdup("stdio"));
    g_ptr_array_add(argv, g_strdup("-kernel"));
    g_ptr_array_add(argv, g_strdup(kernel));
    g_ptr_array_add(argv, g_strdup("-initrd"));
    g_ptr_array_add(argv, g_strdup(initramfs));
    g_ptr_array_add(argv, g_strdup("-append"));
    /* loglevel=4: errors and warnings reach the console, boot chatter not */
    g_ptr_array_add(argv, g_strdup_printf(
        "console=ttyS0 loglevel=4 panic=-1 lm.disks=%s%s", names->str,
        qga_socket ? " lm.qga=1" : ""));
    for (guint i = 0; i < n_disks; i++) {
        add_disk_args(argv, &disks[i], i);
    }
    if (qga_socket) {
        g_ptr_array_add(argv, g_strdup("-device"));
        g_ptr_array_add(argv, g_strdup("virtio-serial-pci,id=vser0"));
        g_ptr_array_add(argv, g_strdup("-chardev"));
        g_ptr_array_add(argv, g_strdup_printf(
            "socket,id=qga0,path=%s,server=on,wait=off", qga_socket));
        g_ptr_array_add(argv, g_strdup("-device"));
        g_ptr_array_add(argv, g_strdup(
            "virtserialport,bus=vser0.0,chardev=qga0,"
            "name=org.qemu.guest_agent.0"));
    }
    g_ptr_array_add(argv, NULL);

    vm = g_new0(VmMachine, 1);
    vm->console_path = g_build_filename(dir, "console.log", NULL);
    vm->lines = g_ptr_array_new_with_free_func(g_free);
    g_mutex_init(&vm->lock);
    g_cond_init(&vm->changed);
    {
        g_autofree char *cmdline = g_strjoinv(" ", (char **)argv->pdata);

        g_test_message("vm: %s", cmdline);
    }
    g_subprocess_launcher_set_child_setup(launcher, vm_child_setup, NULL,
                                          NULL);
    vm->proc = g_subprocess_launcher_spawnv(
        launcher, (const char *const *)argv->pdata, error);
    if (!vm->proc) {
        vm_machine_free(vm);
        return NULL;
    }
    vm->console_in = g_subprocess_get_stdin_pipe(vm->proc);
    vm->reader = g_thread_new("vm-console", console_reader, vm);
    return vm;
}

static gboolean wait_changed(VmMachine *vm, gint64 deadline)
{
    return g_cond_wait_until(&vm->changed, &vm->lock, deadline);
}

char *vm_machine_wait_line(VmMachine *vm, const char *prefix,
                           int timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;
    char *found = NULL;

    g_mutex_lock(&vm->lock);
    for (;;) {
        for (; vm->cursor < vm->lines->len && !found; vm->cursor++) {
            const char *line = vm->lines->pdata[vm->cursor];

            if (g_str_has_prefix(line, "LM-INIT-FAIL")) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                            "guest: %s (console: %s)", line,
                            vm->console_path);
                vm->cursor++;
                goto out;
            }
            if (g_str_has_prefix(line, prefix)) {
                found = g_strdup(line);
            }
        }
        if (found) {
            break;
        }
        if (vm->ended) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                        "the VM ended before printing '%s' (console: %s)",
                        prefix, vm->console_path);
            break;
        }
        if (!wait_changed(vm, deadline)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "no '%s' on the console within %d ms (console: %s)",
                        prefix, timeout_ms, vm->console_path);
            break;
        }
    }
out:
    g_mutex_unlock(&vm->lock);
    return found;
}

guint vm_machine_progress(VmMachine *vm)
{
    guint progress;

    g_mutex_lock(&vm->lock);
    progress = vm->progress;
    g_mutex_unlock(&vm->lock);
    return progress;
}

gboolean vm_machine_wait_progress(VmMachine *vm, guint more, int timeout_ms,
                                  GError **error)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;
    gboolean ok = TRUE;
    guint target;

    g_mutex_lock(&vm->lock);
    target = vm->progress + more;
    while (vm->progress < target) {
        if (vm->ended || !wait_changed(vm, deadline)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "the guest stopped writing: %u files, waited for "
                        "%u (console: %s)", vm->progress, target,
                        vm->console_path);
            ok = FALSE;
            break;
        }
    }
    g_mutex_unlock(&vm->lock);
    return ok;
}

gboolean vm_machine_send(VmMachine *vm, const char *line, GError **error)
{
    g_autofree char *text = g_strconcat(line, "\n", NULL);

    return g_output_stream_write_all(vm->console_in, text, strlen(text),
                                     NULL, NULL, error) &&
           g_output_stream_flush(vm->console_in, NULL, error);
}

/*
 * QEMU's stdout is the console: it closes when QEMU exits.  Wait up to
 * @timeout_ms for that, kill QEMU if it does not come, then reap it.
 */
static void end_vm(VmMachine *vm, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;
    gboolean ended;

    if (vm->reaped) {
        return;
    }
    g_mutex_lock(&vm->lock);
    while (!vm->ended && wait_changed(vm, deadline)) {
        /* the reader thread signals every line and the end */
    }
    ended = vm->ended;
    g_mutex_unlock(&vm->lock);
    if (!ended) {
        g_test_message("vm still running after %d ms, killing it",
                       timeout_ms);
        g_subprocess_force_exit(vm->proc);
    }
    g_subprocess_wait(vm->proc, NULL, NULL);
    vm->reaped = TRUE;
}

int vm_machine_wait_exit(VmMachine *vm, int timeout_ms)
{
    end_vm(vm, timeout_ms);
    return g_subprocess_get_status(vm->proc);
}

char *vm_machine_console(VmMachine *vm)
{
    GString *all = g_string_new(NULL);

    g_mutex_lock(&vm->lock);
    for (guint i = 0; i < vm->lines->len; i++) {
        g_string_append_printf(all, "%s\n", (char *)vm->lines->pdata[i]);
    }
    g_mutex_unlock(&vm->lock);
    return g_string_free(all, FALSE);
}

const char *vm_machine_console_path(VmMachine *vm)
{
    return vm->console_path;
}

void vm_machine_free(VmMachine *vm)
{
    if (!vm) {
        return;
    }
    if (vm->proc) {
        /* a VM still running at this point is not waited for */
        if (!vm->reaped) {
            g_subprocess_force_exit(vm->proc);
        }
        end_vm(vm, VM_EXIT_KILL_TIMEOUT_MS);
    }
    if (vm->reader) {
        g_thread_join(vm->reader);
    }
    g_clear_object(&vm->proc);
    g_ptr_array_unref(vm->lines);
    g_mutex_clear(&vm->lock);
    g_cond_clear(&vm->changed);
    g_free(vm->console_path);
    g_free(vm);
}
