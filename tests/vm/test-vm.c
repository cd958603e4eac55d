/*
 * The vm suite: a real VM (Debian's kernel, ext4, virtio-blk) on the
 * daemon's exports through every live operation.
 *
 * The daemon runs from a qsd-config/ file as the unit runs it.  The guest
 * writes files the whole time, each fsynced with its checksum in a
 * manifest (tests/vm/guest-init), while the host takes live snapshots and
 * merges the chain, with the livemerge CLI or the plugin's QMP commands
 * (tests/vm/vm-ops.h; see Variant.driver); after every step the guest must
 * have written more.  At the end the guest drops its page cache, checks
 * every file against the manifest and unmounts; the console must show no
 * I/O or ext4 error; e2fsck -fn passes on the final image and qemu-img
 * check on every image the disk used.
 *
 * Variants (each its own meson test, -p /vm/NAME):
 *   vhost-user-blk, vhost-user-blk-iothread (fixed-iothread=on), nbd (the
 *   VM's QEMU is the NBD client): snapshot, snapshot, intermediate commit,
 *   active commit + pivot, snapshot, pull, copy + pivot.
 *   two-disks-quiesce: both disks of one daemon snapshotted in one
 *   transaction with the guest's filesystems frozen by qemu-ga; a quiesced
 *   snapshot that fails thaws the guest too; active commit of both.
 *   demo (scripts/demo --vm): snapshot, active commit with pivot.
 *
 * Operations the daemon lacks (livemerge-stream, livemerge-mirror until
 * they land) are skipped with a message naming the command.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "lm-test-config.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"
#include "vm-machine.h"
#include "vm-ops.h"
#include "vm-qga.h"

#ifndef LIVEMERGE_CLI
#error "LIVEMERGE_CLI must name the livemerge CLI"
#endif
#ifndef LM_VM_PREPARE_ASSETS
#error "LM_VM_PREPARE_ASSETS must name tests/vm/prepare-assets"
#endif

#define DISK_SIZE_MB 256
/* What mkfs.ext4 -d puts on each disk before the VM starts. */
#define SEED_FILES 8
#define SEED_FILE_KIB 256
/* Guards against a hung VM; under TCG the guest is up in ~7 s. */
#define BOOT_TIMEOUT_MS (180 * 1000)
#define PROGRESS_TIMEOUT_MS (120 * 1000)
#define VERIFY_TIMEOUT_MS (180 * 1000)
#define EXIT_TIMEOUT_MS (60 * 1000)
/* Rounds of files the guest must write after each step (10 per report). */
#define PROGRESS_PER_STEP 20

static const char *const console_errors[] = {
    "I/O error", "EXT4-fs error", "Buffer I/O", "LM-WRITE-FAIL",
};

typedef enum {
    RUN_CHAIN,   /* every operation on one disk */
    RUN_GROUP,   /* several disks together, quiesced */
    RUN_DEMO,    /* the demo's main job: snapshot, active commit + pivot */
} RunKind;

typedef struct {
    const char *name;
    const char *config;
    VmDiskKind kind;
    guint n_disks;
    gboolean qga;
    RunKind run;
    const char *driver;   /* vm-ops driver: "cli" or "qmp" */
} Variant;

/*
 * Every variant drives the daemon with the livemerge CLI, as a user
 * would; LIVEMERGE_VM_DRIVER=qmp runs the same steps over QMP directly.
 */

static const Variant variants[] = {
    { "vhost-user-blk", "vhost-user-blk", VM_DISK_VHOST_USER_BLK, 1, FALSE,
      RUN_CHAIN, "cli" },
    { "vhost-user-blk-iothread", "vhost-user-blk-iothread",
      VM_DISK_VHOST_USER_BLK, 1, FALSE, RUN_CHAIN, "cli" },
    { "nbd", "nbd-unix", VM_DISK_NBD, 1, FALSE, RUN_CHAIN, "cli" },
    /* livemerge snapshot --quiesce, blockjob --pivot disk0 disk1 */
    { "two-disks-quiesce", "vm-disks", VM_DISK_VHOST_USER_BLK, 2, TRUE,
      RUN_GROUP, "cli" },
    /* scripts/demo --vm: livemerge snapshot, blockcommit --active --pivot */
    { "demo", "vhost-user-blk", VM_DISK_VHOST_USER_BLK, 1, FALSE, RUN_DEMO,
      "cli" },
};

typedef struct {
    const Variant *variant;
    char *dir;
    char *run_dir;
    char *qga_socket;
    LmTestQsd *qsd;
    VmMachine *vm;
    VmOps *ops;
    VmDisk *disks[2];
} Fixture;

static char *kernel_path, *initramfs_path, *accel;

/* Run @argv, asserting exit 0; returns its output (stdout + stderr). */
static char *run_ok(const char *const *argv)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *cmd = g_strjoinv(" ", (char **)argv);
    char *out = NULL;
    int status;

    g_spawn_sync(NULL, (char **)argv, NULL,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                 NULL, &out, NULL, &status, &err);
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, &err)) {
        g_error("%s: %s\n%s", cmd, err->message, out);
    }
    return out;
}

/* Kernel and initramfs, prepared (or found in the cache) once. */
static void ensure_assets(void)
{
    const char *argv[] = { LM_VM_PREPARE_ASSETS, NULL };
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;

    if (kernel_path) {
        return;
    }
    out = run_ok(argv);
    lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "KERNEL=")) {
            kernel_path = g_strdup(*l + 7);
        } else if (g_str_has_prefix(*l, "INITRAMFS=")) {
            initramfs_path = g_strdup(*l + 10);
        } else if (g_str_has_prefix(*l, "ACCEL=")) {
            accel = g_strdup(*l + 6);
        }
    }
    g_assert_nonnull(kernel_path);
    g_assert_nonnull(initramfs_path);
    g_assert_nonnull(accel);
    g_test_message("kernel %s, initramfs %s, accel %s", kernel_path,
                   initramfs_path, accel);
}

/* An ext4 filesystem holding seed files, as a qcow2 image at @path. */
static void make_ext4_disk(Fixture *f, const char *path)
{
    g_autofree char *root = g_build_filename(f->dir, "seed-root", NULL);
    g_autofree char *seed = g_build_filename(root, "seed", NULL);
    g_autofree char *raw = g_build_filename(f->dir, "seed.raw", NULL);
    g_autofree char *size = g_strdup_printf("%dM", DISK_SIZE_MB);
    const char *mkfs[] = { "/sbin/mkfs.ext4", "-q", "-F", "-d", root, raw,
                           size, NULL };
    const char *convert[] = { "qemu-img", "convert", "-O", "qcow2", raw,
                              path, NULL };
    g_autofree char *out1 = NULL, *out2 = NULL;

    g_assert_cmpint(g_mkdir_with_parents(seed, 0700), ==, 0);
    for (guint i = 0; i < SEED_FILES; i++) {
        g_autofree char *name = g_strdup_printf("s%u", i);
        g_autofree char *file = g_build_filename(seed, name, NULL);
        g_autofree guint8 *data = g_malloc(SEED_FILE_KIB * 1024);
        g_autoptr(GError) err = NULL;

        for (guint j = 0; j < SEED_FILE_KIB * 1024 / 4; j++) {
            ((guint32 *)data)[j] = g_random_int();
        }
        g_file_set_contents(file, (char *)data, SEED_FILE_KIB * 1024, &err);
        g_assert_no_error(err);
    }
    out1 = run_ok(mkfs);
    out2 = run_ok(convert);
    g_unlink(raw);
    lm_test_remove_tree(root);
}

/*
 * The host's driver: the livemerge CLI on the configuration's own monitor,
 * or QMP on the harness's monitor.
 */
static VmOps *new_ops(Fixture *f)
{
    const char *driver = g_getenv("LIVEMERGE_VM_DRIVER");
    g_autofree char *qmp_socket = NULL;

    if (!driver || !*driver) {
        driver = f->variant->driver;
    }
    g_test_message("host driver: %s", driver);
    if (g_str_equal(driver, "qmp")) {
        return vm_ops_new_qmp(lm_test_qsd_qmp(f->qsd), f->qga_socket);
    }
    g_assert_cmpstr(driver, ==, "cli");
    qmp_socket = g_build_filename(f->run_dir, "qmp.sock", NULL);
    return vm_ops_new_cli(LIVEMERGE_CLI, qmp_socket, f->qga_socket);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    const Variant *v = data;
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func(g_free);
    VmDiskAttach attach[G_N_ELEMENTS(f->disks)];

    ensure_assets();
    f->variant = v;
    f->dir = g_dir_make_tmp("lmvm-XXXXXX", &err);
    g_assert_no_error(err);
    f->run_dir = g_build_filename(f->dir, "run", NULL);
    g_assert_cmpuint(v->n_disks, <=, G_N_ELEMENTS(f->disks));

    for (guint i = 0; i < v->n_disks; i++) {
        g_autofree char *name = g_strdup_printf("disk%u", i);
        g_autofree char *base = g_strconcat(name, ".qcow2", NULL);
        g_autofree char *path = g_build_filename(f->dir, base, NULL);

        make_ext4_disk(f, path);
        f->disks[i] = vm_disk_new(name, path,
                                  (guint64)DISK_SIZE_MB << 20);
        /* one disk: LIVEMERGE_DISK; several: LIVEMERGE_DISK0, ... */
        g_ptr_array_add(env, v->n_disks == 1
            ? g_strconcat("LIVEMERGE_DISK=", path, NULL)
            : g_strdup_printf("LIVEMERGE_DISK%u=%s", i, path));
        if (v->kind == VM_DISK_NBD) {
            g_ptr_array_add(sockets, g_build_filename(f->run_dir, "nbd.sock",
                                                      NULL));
        } else {
            g_autofree char *sock = v->n_disks == 1
                ? g_strdup("vhost-user-blk.sock")
                : g_strdup_printf("vhost-user-blk%u.sock", i);

            g_ptr_array_add(sockets, g_build_filename(f->run_dir, sock,
                                                      NULL));
        }
        attach[i] = (VmDiskAttach){ .kind = v->kind,
                                    .socket = sockets->pdata[i],
                                    .export_name = "disk0" };
    }
    g_ptr_array_add(env, NULL);
    f->qsd = lm_test_config_start(v->config, f->run_dir,
                                  (const char *const *)env->pdata, &err);
    g_assert_no_error(err);
    if (v->qga) {
        f->qga_socket = g_build_filename(f->dir, "qga.sock", NULL);
    }
    f->ops = new_ops(f);
    f->vm = vm_machine_start(f->dir, accel, kernel_path, initramfs_path,
                             attach,
                             v->n_disks, f->qga_socket, &err);
    g_assert_no_error(err);
    g_free(vm_machine_wait_line(f->vm, "LM-READY", BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    gboolean keep = g_test_failed() || g_getenv("LIVEMERGE_KEEP_TMP");

    (void)data;
    g_clear_pointer(&f->vm, vm_machine_free);
    g_clear_pointer(&f->ops, vm_ops_free);
    g_clear_pointer(&f->qsd, lm_test_qsd_free);
    for (guint i = 0; i < G_N_ELEMENTS(f->disks); i++) {
        g_clear_pointer(&f->disks[i], vm_disk_free);
    }
    if (keep) {
        g_test_message("keeping %s", f->dir);
    } else {
        lm_test_remove_tree(f->dir);
    }
    g_free(f->dir);
    g_free(f->run_dir);
    g_free(f->qga_socket);
}

/* The guest goes on writing after @what. */
static void guest_keeps_writing(Fixture *f, const char *what)
{
    g_autoptr(GError) err = NULL;

    vm_machine_wait_progress(f->vm, PROGRESS_PER_STEP, PROGRESS_TIMEOUT_MS,
                             &err);
    g_assert_no_error(err);
    g_test_message("%s: done, the guest has written %u rounds of files",
                   what, vm_machine_progress(f->vm));
}

/*
 * Judge an operation: TRUE if it ran; FALSE if the daemon lacks its
 * command (the step is skipped, saying which); any other error fails.
 */
static gboolean step_done(Fixture *f, const char *what, GError *err)
{
    if (g_error_matches(err, VM_OPS_ERROR, VM_OPS_ERROR_UNSUPPORTED)) {
        g_test_message("SKIPPED %s: %s", what, err->message);
        return FALSE;
    }
    if (err) {
        /* the daemon's last words say more than a closed socket */
        g_autofree char *log = lm_test_qsd_read_log(f->qsd);

        g_test_message("%s failed; daemon log (%s):\n%s", what,
                       lm_test_qsd_log_path(f->qsd), log);
    }
    g_assert_no_error(err);
    guest_keeps_writing(f, what);
    return TRUE;
}

static void snapshot(Fixture *f, guint n_disks, gboolean quiesce)
{
    g_autoptr(GError) err = NULL;

    vm_ops_snapshot(f->ops, f->disks, n_disks, f->dir, quiesce, &err);
    step_done(f, quiesce ? "quiesced snapshot" : "snapshot", err);
}

static void run_chain(Fixture *f)
{
    VmDisk *disk = f->disks[0];
    g_autoptr(GError) err = NULL;

    snapshot(f, 1, FALSE);
    snapshot(f, 1, FALSE);
    g_assert_cmpuint(disk->chain->len, ==, 3);

    vm_ops_commit(f->ops, disk, 1, 0, &err);
    step_done(f, "intermediate commit", err);
    g_assert_cmpuint(disk->chain->len, ==, 2);

    vm_ops_commit(f->ops, disk, 1, 0, &err);
    step_done(f, "active commit with pivot", err);
    g_assert_cmpuint(disk->chain->len, ==, 1);

    snapshot(f, 1, FALSE);
    vm_ops_pull(f->ops, disk, &err);
    if (step_done(f, "pull", err)) {
        g_assert_cmpuint(disk->chain->len, ==, 1);
    }
    g_clear_error(&err);

    vm_ops_copy(f->ops, disk, f->dir, &err);
    if (step_done(f, "copy with pivot", err)) {
        g_assert_cmpuint(disk->chain->len, ==, 1);
    }
}

static guint count_lines(const char *text, const char *line)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint n = 0;

    for (char **l = lines; *l; l++) {
        n += g_str_equal(*l, line);
    }
    return n;
}

/* Bound for the hook's lines to reach the console after the snapshot. */
#define HOOK_LINES_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define HOOK_LINES_POLL_US (50 * 1000)

/*
 * After a quiesced snapshot: the guest is thawed (the agent says so, and
 * its freeze hook has run for thaw as often as for freeze, at least once),
 * the agent froze and thawed every disk's filesystem where the driver
 * knows its counts, and every disk's chain has @chain_len layers.
 */
static void assert_quiesce_ended(Fixture *f, guint chain_len)
{
    guint n = f->variant->n_disks;
    gint64 deadline = g_get_monotonic_time() + HOOK_LINES_TIMEOUT_US;
    g_autoptr(GError) err = NULL;
    g_autoptr(VmQga) qga = NULL;
    g_autofree char *status = NULL;
    guint freezes, thaws;
    gint64 frozen, thawed;

    vm_ops_last_quiesce(f->ops, &frozen, &thawed);
    if (frozen >= 0) {
        g_assert_cmpint(frozen, ==, n);
        g_assert_cmpint(thawed, ==, n);
    }
    for (guint i = 0; i < n; i++) {
        g_assert_cmpuint(f->disks[i]->chain->len, ==, chain_len);
    }
    qga = vm_qga_connect(f->qga_socket, 30000, &err);
    g_assert_no_error(err);
    status = vm_qga_fsfreeze_status(qga, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(status, ==, "thawed");
    /* the serial line may still carry the hook's last line */
    for (;;) {
        g_autofree char *console = vm_machine_console(f->vm);

        freezes = count_lines(console, "LM-FSFREEZE-HOOK freeze");
        thaws = count_lines(console, "LM-FSFREEZE-HOOK thaw");
        if ((freezes >= 1 && thaws == freezes) ||
            g_get_monotonic_time() > deadline) {
            break;
        }
        g_usleep(HOOK_LINES_POLL_US);
    }
    g_test_message("freeze hook: %u freezes, %u thaws", freezes, thaws);
    g_assert_cmpuint(freezes, >=, 1);
    g_assert_cmpuint(thaws, ==, freezes);
}

static void run_group(Fixture *f)
{
    guint n = f->variant->n_disks;
    g_autofree char *missing = g_build_filename(f->dir, "no-such-dir", NULL);
    g_autoptr(GError) err = NULL;

    /* Both disks in one transaction, the guest's filesystems frozen. */
    snapshot(f, n, TRUE);
    assert_quiesce_ended(f, 2);

    /* A quiesced snapshot that fails (no overlay dir) thaws the guest. */
    g_assert_false(vm_ops_snapshot(f->ops, f->disks, n, missing, TRUE,
                                   &err));
    g_test_message("failing snapshot: %s", err->message);
    assert_quiesce_ended(f, 2);
    guest_keeps_writing(f, "failed quiesced snapshot");
    g_clear_error(&err);

    vm_ops_commit_active_all(f->ops, f->disks, n, &err);
    step_done(f, "active commit of both disks with pivot", err);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpuint(f->disks[i]->chain->len, ==, 1);
    }
}

static void run_demo(Fixture *f)
{
    g_autoptr(GError) err = NULL;

    snapshot(f, 1, FALSE);
    vm_ops_commit(f->ops, f->disks[0], 1, 0, &err);
    step_done(f, "active commit with pivot", err);
    g_assert_cmpuint(f->disks[0]->chain->len, ==, 1);
}

/* The guest checks its files, unmounts and powers off. */
static void finish_guest(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *verdict = NULL;
    g_autofree char *console = NULL;
    int status;

    vm_machine_send(f->vm, "stop", &err);
    g_assert_no_error(err);
    verdict = vm_machine_wait_line(f->vm, "LM-VERIFY-", VERIFY_TIMEOUT_MS,
                                   &err);
    g_assert_no_error(err);
    g_test_message("guest: %s", verdict);
    g_assert_true(g_str_has_prefix(verdict, "LM-VERIFY-OK "));
    for (guint i = 0; i < f->variant->n_disks; i++) {
        g_autofree char *line = vm_machine_wait_line(f->vm, "LM-UMOUNT-",
                                                     VERIFY_TIMEOUT_MS,
                                                     &err);

        g_assert_no_error(err);
        g_assert_true(g_str_has_prefix(line, "LM-UMOUNT-OK "));
    }
    status = vm_machine_wait_exit(f->vm, EXIT_TIMEOUT_MS);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);

    console = vm_machine_console(f->vm);
    for (guint i = 0; i < G_N_ELEMENTS(console_errors); i++) {
        if (strstr(console, console_errors[i])) {
            g_error("'%s' on the guest's console (%s):\n%s",
                    console_errors[i], vm_machine_console_path(f->vm),
                    console);
        }
    }
}

/* e2fsck -fn on the disk as the guest sees it now; qemu-img check all. */
static void check_images(Fixture *f, VmDisk *disk)
{
    g_autofree char *raw = g_build_filename(f->dir, "final.raw", NULL);
    const char *convert[] = { "qemu-img", "convert", "-O", "raw",
                              vm_disk_active(disk)->path, raw, NULL };
    const char *fsck[] = { "/sbin/e2fsck", "-fn", raw, NULL };
    g_autofree char *out1 = run_ok(convert);
    g_autofree char *out2 = run_ok(fsck);

    g_test_message("%s: e2fsck -fn clean on %s", disk->name,
                   vm_disk_active(disk)->path);
    g_unlink(raw);
    for (guint i = 0; i < disk->images->len; i++) {
        lm_test_image_check(disk->images->pdata[i]);
    }
}

static void test_vm(Fixture *f, gconstpointer data)
{
    (void)data;
    switch (f->variant->run) {
    case RUN_CHAIN:
        run_chain(f);
        break;
    case RUN_GROUP:
        run_group(f);
        break;
    case RUN_DEMO:
        run_demo(f);
        break;
    }
    finish_guest(f);
    lm_test_config_stop(f->qsd);
    for (guint i = 0; i < f->variant->n_disks; i++) {
        check_images(f, f->disks[i]);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(variants); i++) {
        g_autofree char *path = g_strdup_printf("/vm/%s", variants[i].name);

        g_test_add(path, Fixture, &variants[i], fixture_setup, test_vm,
                   fixture_teardown);
    }
    return g_test_run();
}
