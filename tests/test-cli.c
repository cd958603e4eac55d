/*
 * The livemerge CLI and liblivemerge against a real daemon
 *
 * Every case runs the installed-to-be binary (LIVEMERGE_CLI) as a user
 * would, on a daemon started by the harness with a second QMP monitor
 * for the CLI (a QMP socket serves one client at a time, and the harness
 * keeps its own).  Chains are built with `livemerge snapshot` while a
 * guest writes over NBD, so each layer holds data; after each operation
 * the guest's view is verified and qemu-img check runs on what is left.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <pty.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "livemerge.h"
#include "lm-test-guest.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

#define DISK_MIB 16

typedef struct {
    LmTestQsd *qsd;
    LmQmp *qmp;           /* the harness's monitor */
    char *sockdir;        /* holds the CLI's monitor socket */
    char *cli_sock;
    char *dir;            /* images go here */
    LmTestGuest *guest;
} Daemon;

static Daemon *daemon_start(LmTestQsdFlags flags)
{
    Daemon *d = g_new0(Daemon, 1);
    g_autoptr(GError) err = NULL;
    g_autofree char *chardev = NULL;

    d->sockdir = g_dir_make_tmp("lm-cli-XXXXXX", &err);
    g_assert_no_error(err);
    d->cli_sock = g_build_filename(d->sockdir, "cli.sock", NULL);
    chardev = g_strdup_printf("socket,id=cli,path=%s,server=on,wait=off",
                              d->cli_sock);
    d->qsd = lm_test_qsd_start_full(flags, (const char *const[]){
        "--chardev", chardev, "--monitor", "chardev=cli", NULL }, &err);
    g_assert_no_error(err);
    d->qmp = lm_test_qsd_qmp(d->qsd);
    d->dir = g_strdup(lm_test_qsd_dir(d->qsd));
    return d;
}

static void daemon_free(Daemon *d)
{
    if (d->guest) {
        lm_test_guest_free(d->guest);
    }
    lm_test_qsd_free(d->qsd);
    g_unlink(d->cli_sock);
    g_rmdir(d->sockdir);
    g_free(d->cli_sock);
    g_free(d->sockdir);
    g_free(d->dir);
    g_free(d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Daemon, daemon_free)

static char *image_path(Daemon *d, const char *name)
{
    return g_build_filename(d->dir, name, NULL);
}

/* Run the CLI with --connect (unless @d is NULL); returns its exit code. */
static int run_cli_argv(Daemon *d, char **out, char **errout,
                        const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *o = NULL;
    g_autofree char *e = NULL;

    g_ptr_array_add(argv, (gpointer)LIVEMERGE_CLI);
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (gpointer)args[i]);
    }
    if (d) {
        g_ptr_array_add(argv, (gpointer)"--connect");
        g_ptr_array_add(argv, d->cli_sock);
    }
    g_ptr_array_add(argv, NULL);
    /* a GLib critical in the CLI is a bug even if the command works */
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                         G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_subprocess_launcher_setenv(launcher, "G_DEBUG", "fatal-criticals",
                                 TRUE);
    proc = g_subprocess_launcher_spawnv(launcher,
                                        (const char *const *)argv->pdata,
                                        &err);
    g_assert_no_error(err);
    g_subprocess_communicate_utf8(proc, NULL, NULL, &o, &e, &err);
    g_assert_no_error(err);
    g_test_message("livemerge %s ... -> %d\n%s%s", args[0],
                   g_subprocess_get_exit_status(proc), o, e);
    if (out) {
        *out = g_steal_pointer(&o);
    }
    if (errout) {
        *errout = g_steal_pointer(&e);
    }
    return g_subprocess_get_exit_status(proc);
}

#define run_cli(d, out, err, ...) \
    run_cli_argv(d, out, err, (const char *const[]){ __VA_ARGS__, NULL })

/* Like run_cli(), asserting exit 0. */
#define cli_ok(d, ...) \
    g_assert_cmpint(run_cli(d, NULL, NULL, __VA_ARGS__), ==, 0)

/* Asserts exit @code and that stderr holds @needle. */
static void expect_fail(Daemon *d, int code, const char *needle,
                        const char *const *args)
{
    g_autofree char *errout = NULL;

    g_assert_cmpint(run_cli_argv(d, NULL, &errout, args), ==, code);
    if (!strstr(errout, needle)) {
        g_error("stderr lacks \"%s\": %s", needle, errout);
    }
}

#define cli_fails(d, code, needle, ...) \
    expect_fail(d, code, needle, (const char *const[]){ __VA_ARGS__, NULL })

/* A qcow2 disk @name (export id) on file @file, a guest connected. */
static void add_disk(Daemon *d, const char *name, const char *file)
{
    g_autofree char *path = image_path(d, file);
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonObject) proto = json_object_new();
    g_autoptr(GError) err = NULL;

    lm_test_image_create(path, &(LmTestImageOpts){ .size = "16M" });
    json_object_set_string_member(proto, "driver", "file");
    json_object_set_string_member(proto, "filename", path);
    json_object_set_string_member(args, "driver", "qcow2");
    json_object_set_string_member(args, "node-name", "base");
    json_object_set_object_member(args, "file", json_object_ref(proto));
    /* node names are QEMU ids; the disk name (export id) is free text */
    if (!g_str_equal(name, "vda")) {
        g_autofree char *node = g_strdup_printf("n%08x", g_random_int());

        json_object_set_string_member(args, "node-name", node);
        lm_qmp_run(d->qmp, "blockdev-add", args, &err);
        g_assert_no_error(err);
        lm_test_qsd_export(d->qsd, node, name, &err);
    } else {
        lm_qmp_run(d->qmp, "blockdev-add", args, &err);
        g_assert_no_error(err);
        lm_test_qsd_export(d->qsd, "base", name, &err);
    }
    g_assert_no_error(err);
}

static void guest_connect(Daemon *d, const char *disk)
{
    g_autoptr(GError) err = NULL;

    d->guest = lm_test_guest_new(0);
    lm_test_guest_connect(d->guest, lm_test_qsd_nbd_socket(d->qsd), disk,
                          &err);
    g_assert_no_error(err);
}

/* The guest stamps blocks [first, first + n). */
static void guest_write(Daemon *d, guint64 first, guint64 n)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_write_range(d->guest, first, n, &err);
    g_assert_no_error(err);
}

static void guest_verify(Daemon *d)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_verify_all(d->guest, &err);
    g_assert_no_error(err);
}

static void snapshot(Daemon *d, const char *disk, const char *file)
{
    g_autofree char *path = image_path(d, file);
    g_autofree char *spec = g_strdup_printf("%s=%s", disk, path);

    cli_ok(d, "snapshot", spec);
}

/* vda: base <- mid <- top (files base.qcow2, mid.qcow2, top.qcow2), each
 * layer with guest data of its own and overlapping. */
static Daemon *three_layers(LmTestQsdFlags flags)
{
    Daemon *d = daemon_start(flags);

    add_disk(d, "vda", "base.qcow2");
    guest_connect(d, "vda");
    guest_write(d, 0, 512);
    snapshot(d, "vda", "mid.qcow2");
    guest_write(d, 256, 512);
    snapshot(d, "vda", "top.qcow2");
    guest_write(d, 640, 256);
    return d;
}

static LmChain *read_chain(Daemon *d, const char *disk)
{
    g_autoptr(GError) err = NULL;
    LmChain *chain = lm_chain_read(d->qmp, disk, &err);

    g_assert_no_error(err);
    return chain;
}

/* Stop the daemon, then qemu-img check each image that is left. */
static void stop_and_check(Daemon *d, const char *const *files)
{
    lm_test_guest_disconnect(d->guest);
    lm_test_qsd_stop(d->qsd);
    for (guint i = 0; files[i]; i++) {
        g_autofree char *path = image_path(d, files[i]);

        lm_test_image_check(path);
    }
}

static gboolean have_command(Daemon *d, const char *command)
{
    g_autoptr(GError) err = NULL;
    gboolean have = lm_qmp_has_command(d->qmp, command, &err);

    g_assert_no_error(err);
    if (!have) {
        g_autofree char *msg = g_strdup_printf(
            "the daemon's plugin has no %s yet", command);

        g_test_skip(msg);
    }
    return have;
}

/* ------------------------------------------------------------------ */

static void test_usage(void)
{
    g_autofree char *out = NULL;

    g_assert_cmpint(run_cli(NULL, &out, NULL, "--help"), ==, 0);
    g_assert_nonnull(strstr(out, "blockcommit"));
    g_assert_nonnull(strstr(out, "Exit status"));
    cli_fails(NULL, 2, "no command", "--json");
    cli_fails(NULL, 2, "unknown command 'frobnicate'", "frobnicate");
    cli_fails(NULL, 2, "Unknown option --frob", "blockcommit", "vda",
              "--frob");
    cli_fails(NULL, 2, "needs exactly one DISK", "blockcommit");
    cli_fails(NULL, 2, "--pivot and --keep-overlay end an --active",
              "blockcommit", "vda", "--pivot");
    cli_fails(NULL, 2, "exclude each other", "blockcommit", "vda",
              "--active", "--pivot", "--keep-overlay");
    cli_fails(NULL, 2, "invalid --bandwidth 'fast'", "blockcommit", "vda",
              "--bandwidth", "fast");
    cli_fails(NULL, 2, "invalid --bandwidth '-1'", "blockpull", "vda",
              "--bandwidth", "-1");
    cli_fails(NULL, 2, "--bytes needs --bandwidth", "blockpull", "vda",
              "--bytes");
    cli_fails(NULL, 2, "invalid --engine 'qemu'", "blockcommit", "vda",
              "--engine", "qemu");
    cli_fails(NULL, 2, "--verbose needs --wait", "blockpull", "vda",
              "--verbose");
    cli_fails(NULL, 2, "invalid --timeout -3", "blockpull", "vda",
              "--timeout", "-3");
    cli_fails(NULL, 2, "needs DISK and DEST", "blockcopy", "vda");
    cli_fails(NULL, 2, "is not DISK=FILE", "snapshot", "vda");
    cli_fails(NULL, 2, "several disks only with --pivot", "blockjob", "vda",
              "vdb");
    cli_fails(NULL, 2, "invalid --guest-impact '0'", "blockcommit", "vda",
              "--guest-impact", "0");
    cli_fails(NULL, 2, "invalid --guest-impact '101'", "blockpull", "vda",
              "--guest-impact", "101");
    cli_fails(NULL, 2, "invalid --guest-impact 'abc'", "blockcopy", "vda",
              "/tmp/never.qcow2", "--guest-impact", "abc");
    cli_fails(NULL, 2, "invalid --guest-impact '101'", "blockjob", "vda",
              "--guest-impact", "101");
    cli_fails(NULL, 2, "--info, --abort, --bandwidth and --guest-impact "
              "exclude each other", "blockjob", "vda", "--guest-impact",
              "50", "--bandwidth", "1");
    cli_fails(NULL, 2, "not valid UTF-8", "chain", "vd\xff");
    g_unsetenv("LIVEMERGE_QMP");
    cli_fails(NULL, 2, "give --connect SOCKET or set LIVEMERGE_QMP",
              "disks");
    cli_fails(NULL, 3, "no socket /nonexistent/qmp.sock", "disks",
              "--connect", "/nonexistent/qmp.sock");
}

/* Lookups by node, absolute and relative path, DISK[N], on odd names. */
static void test_chain_lookup(void)
{
    static const char *const disk = "vd_x.1";
    g_autoptr(Daemon) d = daemon_start(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autofree char *mid = image_path(d, "mid \"q\" \\ é.qcow2");
    g_autofree char *json = NULL;
    g_autofree char *index = g_strdup_printf("%s[1]", disk);
    g_autofree char *out = NULL;

    add_disk(d, disk, "base 'x'.qcow2");
    guest_connect(d, disk);
    guest_write(d, 0, 64);
    snapshot(d, disk, "mid \"q\" \\ é.qcow2");
    guest_write(d, 32, 64);
    snapshot(d, disk, "top ü.qcow2");

    chain = read_chain(d, disk);
    g_assert_cmpuint(chain->layers->len, ==, 3);
    g_assert_true(lm_chain_find(chain, mid, 0) == lm_chain_layer(chain, 1));
    g_assert_true(lm_chain_find(chain, index, 0) == lm_chain_layer(chain, 1));
    g_assert_true(lm_chain_find(chain, "base 'x'.qcow2", 0) ==
                  lm_chain_layer(chain, 2));
    g_assert_true(lm_chain_find(chain, lm_chain_layer(chain, 2)->node_name,
                                0) == lm_chain_layer(chain, 2));
    g_assert_null(lm_chain_find(chain, mid, 2));
    g_assert_null(lm_chain_find(chain, "nothing.qcow2", 0));
    g_assert_null(lm_chain_find(chain, "vda[9]", 0));

    /* the CLI shows the same, names unharmed, in JSON too */
    g_assert_cmpint(run_cli(d, &out, NULL, "chain", disk, "--json"), ==, 0);
    {
        g_autoptr(JsonNode) node = json_from_string(out, NULL);
        JsonObject *o = json_node_get_object(node);
        JsonArray *layers = json_object_get_array_member(o, "layers");

        g_assert_cmpstr(json_object_get_string_member(o, "disk"), ==, disk);
        g_assert_cmpuint(json_array_get_length(layers), ==, 3);
        g_assert_cmpstr(json_object_get_string_member(
                            json_array_get_object_element(layers, 1), "file"),
                        ==, mid);
    }
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(run_cli(d, &out, NULL, "disks"), ==, 0);
    g_assert_nonnull(strstr(out, disk));
    /* export ids are QEMU ids: a name QEMU would reject is no disk */
    cli_fails(d, 1, "disk 'd \"q\" \\ ü' not found", "chain",
              "d \"q\" \\ ü");

    /* commit by index and by relative name, data intact */
    cli_ok(d, "blockcommit", disk, "--top", index, "--base", "base 'x'.qcow2",
           "--wait");
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base 'x'.qcow2", "top ü.qcow2",
                                             NULL });
}

static void test_validation(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autofree char *top = image_path(d, "top.qcow2");
    g_autofree char *mid = image_path(d, "mid.qcow2");
    g_autofree char *base = image_path(d, "base.qcow2");

    cli_fails(d, 1, "disk 'vdz' not found in the daemon (its disks, i.e. "
              "block exports: 'vda')", "blockcommit", "vdz");
    cli_fails(d, 1, "could not find top image 'nope.qcow2' in the chain of "
              "disk 'vda'", "blockcommit", "vda", "--top", "nope.qcow2");
    cli_fails(d, 1, "could not find base image 'top.qcow2' beneath",
              "blockcommit", "vda", "--top", "mid.qcow2", "--base",
              "top.qcow2");
    cli_fails(d, 1, "is not immediately below top", "blockcommit", "vda",
              "--top", top, "--base", base, "--shallow", "--active");
    cli_fails(d, 1, "requires --active", "blockcommit", "vda");
    cli_fails(d, 1, "--active given but top", "blockcommit", "vda", "--top",
              "vda[1]", "--active");
    cli_fails(d, 1, "has no backing file: nothing to commit", "blockcommit",
              "vda", "--top", base);
    cli_fails(d, 1, "bandwidth 9223372036854775807 MiB/s out of range",
              "blockcommit", "vda", "--top", mid, "--bandwidth",
              "9223372036854775807");
    cli_fails(d, 1, "copy destination", "blockcopy", "vda", mid,
              "--reuse-external");
    cli_fails(d, 1, "overlay", "snapshot", "vda=/dev/null");
    cli_fails(d, 1, "has no active block job", "blockjob", "vda",
              "--abort");

    /* blockpull's and blockcopy's own */
    cli_fails(d, 1, "disk 'vda': --keep-relative needs --base", "blockpull",
              "vda", "--keep-relative");
    cli_fails(d, 1, "could not find base image 'vda[0]' beneath",
              "blockpull", "vda", "--base", "vda[0]", "--engine", "native");
    cli_fails(d, 1, "granularity 1000 must be a power of 2", "blockcopy",
              "vda", "/tmp/never.qcow2", "--granularity", "1000");
    cli_fails(d, 1, "copy destination '", "blockcopy", "vda", mid);
    cli_fails(d, 1, "is an image of its own chain", "blockcopy", "vda", mid,
              "--reuse-external", "--engine", "native");
    cli_fails(d, 1, "--shallow needs a destination format with a backing "
              "file (qcow2), not raw", "blockcopy", "vda", "/tmp/never.raw",
              "--shallow", "--format", "raw", "--engine", "native");
    cli_fails(d, 1, "bandwidth 9223372036854775807 MiB/s out of range",
              "blockpull", "vda", "--bandwidth", "9223372036854775807");

    /* a relative backing path cannot be kept across absolute strings */
    cli_fails(d, 1, "cannot keep a relative backing path for disk 'vda'",
              "blockcommit", "vda", "--top", mid, "--keep-relative");

    /* busy: a job is running (slowed down to never finish by itself) */
    cli_ok(d, "blockcommit", "vda", "--active", "--bandwidth", "1",
           "--bytes");
    cli_fails(d, 1, "disk 'vda' already in active block job", "blockcommit",
              "vda", "--top", mid);
    cli_fails(d, 1, "is not ready to pivot", "blockjob", "vda", "--pivot");
    cli_ok(d, "blockjob", "vda", "--abort");
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "mid.qcow2",
                                             "top.qcow2", NULL });
}

static void test_no_plugin(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_NO_PLUGIN);

    cli_fails(d, 1, "the daemon has no livemerge plugin (no livemerge-commit "
              "command): start it with scripts/livemerge-qsd",
              "blockcommit", "vda", "--top", "vda[1]");
    /* a job of QEMU's own has no guest impact to change */
    cli_ok(d, "blockcommit", "vda", "--top", "vda[1]", "--engine", "native",
           "--bandwidth", "1", "--bytes");
    cli_fails(d, 1, "is QEMU's own (the daemon has no livemerge plugin",
              "blockjob", "vda", "--guest-impact", "50");
    cli_ok(d, "blockjob", "vda", "--abort");
    cli_ok(d, "blockcommit", "vda", "--top", "vda[1]", "--engine", "native",
           "--wait");
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "top.qcow2",
                                             NULL });
}

/* Intermediate commit: keep-relative, delete, both engines. */
/* vda: base.qcow2 <- mid.qcow2 <- top.qcow2 with relative backing strings,
 * as qemu-img writes them, guest data in base and mid. */
static Daemon *relative_layers(void)
{
    Daemon *d = daemon_start(LM_TEST_QSD_DEFAULT);
    g_autofree char *mid = image_path(d, "mid.qcow2");
    g_autofree char *top = image_path(d, "top.qcow2");
    g_autoptr(GError) err = NULL;

    add_disk(d, "vda", "base.qcow2");
    guest_connect(d, "vda");
    guest_write(d, 0, 512);
    lm_test_guest_disconnect(d->guest);
    lm_qmp_runf(d->qmp, &err, "block-export-del", "{\"id\": \"vda\"}");
    g_assert_no_error(err);
    lm_qmp_runf(d->qmp, &err, "blockdev-del", "{\"node-name\": \"base\"}");
    g_assert_no_error(err);
    lm_test_qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2",
                     "-F", "qcow2", mid, NULL);
    lm_test_qemu_io(mid, "qcow2", "write -P 0x11 1M 1M", NULL);
    lm_test_qemu_img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2",
                     "-F", "qcow2", top, NULL);
    lm_qmp_runf(d->qmp, &err, "blockdev-add",
                "{\"driver\": \"qcow2\", \"node-name\": \"top\", "
                "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                top);
    g_assert_no_error(err);
    lm_test_qsd_export(d->qsd, "top", "vda", &err);
    g_assert_no_error(err);
    lm_test_guest_connect(d->guest, lm_test_qsd_nbd_socket(d->qsd), "vda",
                          &err);
    g_assert_no_error(err);
    /* the model: blocks 256..511 hold 0x11 from mid now: rewrite them */
    guest_write(d, 256, 256);
    return d;
}

static void test_commit_intermediate(gconstpointer engine)
{
    g_autoptr(Daemon) d = relative_layers();
    g_autoptr(LmChain) chain = NULL;
    g_autofree char *out = NULL;
    g_autofree char *mid = image_path(d, "mid.qcow2");

    g_assert_cmpint(run_cli(d, &out, NULL, "blockcommit", "vda", "--top",
                            "mid.qcow2", "--keep-relative", "--delete",
                            "--wait", "--json", "--engine", engine), ==, 0);
    {
        g_autoptr(JsonNode) node = json_from_string(out, NULL);
        JsonObject *o = json_node_get_object(node);
        JsonArray *deleted = json_object_get_array_member(o, "deleted");

        g_assert_cmpstr(json_object_get_string_member(o, "state"), ==,
                        "completed");
        g_assert_cmpuint(json_array_get_length(deleted), ==, 1);
        g_assert_cmpstr(json_array_get_string_element(deleted, 0), ==, mid);
    }
    g_assert_false(g_file_test(mid, G_FILE_TEST_EXISTS));
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 2);
    g_assert_cmpstr(lm_chain_layer(chain, 0)->backing, ==, "base.qcow2");
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "top.qcow2",
                                             NULL });
}

/* Active commit under a writing guest: --pivot --delete, or keep. */
static void active_commit(const char *engine, gboolean pivot)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *errout = NULL;

    lm_test_guest_start_load(d->guest, &(LmTestLoad){ .queue_depth = 4,
                                                      .seed = 7 }, &err);
    g_assert_no_error(err);
    if (pivot) {
        g_assert_cmpint(run_cli(d, NULL, &errout, "blockcommit", "vda",
                                "--active", "--pivot", "--delete",
                                "--verbose", "--engine", engine), ==, 0);
        /* not a terminal: plain progress lines */
        g_assert_nonnull(strstr(errout, "Block Commit: 100 %"));
        g_assert_null(strchr(errout, '\r'));
    } else {
        cli_ok(d, "blockcommit", "vda", "--active", "--keep-overlay",
               "--engine", engine);
    }
    lm_test_guest_stop_load(d->guest, NULL, &err);
    g_assert_no_error(err);
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, pivot ? 1 : 3);
    g_assert_cmpuint(chain->jobs->len, ==, 0);
    guest_verify(d);
    if (pivot) {
        g_autofree char *top = image_path(d, "top.qcow2");

        g_assert_false(g_file_test(top, G_FILE_TEST_EXISTS));
        stop_and_check(d, (const char *const[]){ "base.qcow2", NULL });
    } else {
        stop_and_check(d, (const char *const[]){ "base.qcow2", "mid.qcow2",
                                                 "top.qcow2", NULL });
    }
}

static void test_commit_active_pivot(gconstpointer engine)
{
    active_commit(engine, TRUE);
}

static void test_commit_active_keep(gconstpointer engine)
{
    active_commit(engine, FALSE);
}

static void test_pull(gconstpointer engine)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autofree char *base = NULL;

    if (g_str_equal(engine, "livemerge") &&
        !have_command(d, "livemerge-stream")) {
        cli_fails(d, 1, "the livemerge plugin in this daemon has no "
                  "livemerge-stream; use --engine native", "blockpull",
                  "vda");
        return;
    }
    base = image_path(d, "base.qcow2");
    cli_ok(d, "blockpull", "vda", "--base", base, "--wait", "--engine",
           engine);
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 2);
    guest_verify(d);
    g_clear_pointer(&chain, lm_chain_free);
    cli_ok(d, "blockpull", "vda", "--wait", "--engine", engine);
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 1);
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "top.qcow2", NULL });
}

static void test_copy(gconstpointer engine)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autofree char *full = NULL;
    g_autofree char *shallow = NULL;

    if (g_str_equal(engine, "livemerge") &&
        !have_command(d, "livemerge-mirror")) {
        cli_fails(d, 1, "the livemerge plugin in this daemon has no "
                  "livemerge-mirror; use --engine native", "blockcopy",
                  "vda", "/tmp/never.qcow2");
        return;
    }
    full = image_path(d, "full copy.qcow2");
    shallow = image_path(d, "shallow.qcow2");
    /* --finish: the disk stays, the copy is closed and consistent */
    cli_ok(d, "blockcopy", "vda", full, "--finish", "--granularity", "65536",
           "--buf-size", "1048576", "--engine", engine);
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 3);
    g_clear_pointer(&chain, lm_chain_free);
    lm_test_image_check(full);
    g_unlink(full);
    /* shallow copy of the active layer, then pivot onto it */
    cli_ok(d, "blockcopy", "vda", shallow, "--shallow", "--pivot",
           "--synchronous-writes", "--engine", engine);
    chain = read_chain(d, "vda");
    g_assert_cmpstr(lm_chain_active(chain)->filename, ==, shallow);
    g_assert_cmpuint(chain->layers->len, ==, 3);
    guest_verify(d);
    g_clear_pointer(&chain, lm_chain_free);
    /* a full copy, pivot */
    cli_ok(d, "blockcopy", "vda", full, "--pivot", "--engine", engine);
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 1);
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "full copy.qcow2",
                                             "shallow.qcow2", NULL });
}

static void test_blockjob(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;

    cli_ok(d, "blockcommit", "vda", "--top", "vda[1]", "--bandwidth", "1",
           "--bytes");
    g_assert_cmpint(run_cli(d, &out, NULL, "blockjob", "vda", "--json"), ==,
                    0);
    {
        g_autoptr(JsonNode) node = json_from_string(out, NULL);
        JsonObject *o = json_node_get_object(node);

        g_assert_cmpstr(json_object_get_string_member(o, "type"), ==,
                        "commit");
        g_assert_cmpint(json_object_get_int_member(o, "speed"), ==, 1);
    }
    cli_ok(d, "blockjob", "vda", "--bandwidth", "2");
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(run_cli(d, &out, NULL, "blockjob", "vda", "--json"), ==,
                    0);
    {
        g_autoptr(JsonNode) node = json_from_string(out, NULL);

        g_assert_cmpint(json_object_get_int_member(json_node_get_object(node),
                                                   "speed"), ==, 2 << 20);
    }
    cli_ok(d, "blockjob", "vda", "--abort", "--async");
    /* the abort may still be running: the next --abort finds no job or
     * waits for it; --info ends with no job */
    g_clear_pointer(&out, g_free);
    while (run_cli(d, &out, NULL, "blockjob", "vda", "--json") == 0 &&
           !g_str_equal(g_strstrip(out), "null")) {
        g_clear_pointer(&out, g_free);
        g_usleep(50 * 1000);
    }
    cli_fails(d, 1, "has no active block job", "blockjob", "vda",
              "--guest-impact", "50");

    /* a job of QEMU's own has no guest impact: the plugin says so (an
     * active commit: the chain may be shorter now if the commit above
     * ended before its abort) */
    cli_ok(d, "blockcommit", "vda", "--active", "--bandwidth", "1",
           "--bytes", "--engine", "native");
    g_clear_pointer(&errout, g_free);
    g_assert_cmpint(run_cli(d, NULL, &errout, "blockjob", "vda",
                            "--guest-impact", "50"), ==, 1);
    g_assert_nonnull(strstr(errout, "disk 'vda': setting guest impact 50 "
                                    "on job 'lm-commit-"));
    g_assert_nonnull(strstr(errout, "is not a livemerge job"));
    cli_ok(d, "blockjob", "vda", "--abort");
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "mid.qcow2",
                                             "top.qcow2", NULL });
}

/*
 * --guest-impact at the start of each job kind, and changed while a job
 * runs: a pull at the gentlest setting (the guest idle: full pace all the
 * same); while the guest writes, an active commit started gentle, sped
 * up, then aborted (it may be READY by the time of the change, which the
 * plugin takes then too; the abort ends it either way, keeping the
 * overlay), and one at full pace, pivoted; then a copy.
 */
static void test_guest_impact(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *copy = image_path(d, "copy.qcow2");

    cli_ok(d, "blockpull", "vda", "--base", "vda[2]", "--guest-impact", "1",
           "--wait");
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 2);
    g_clear_pointer(&chain, lm_chain_free);
    guest_verify(d);

    lm_test_guest_start_load(d->guest, &(LmTestLoad){ .queue_depth = 4,
                                                      .seed = 11 }, &err);
    g_assert_no_error(err);
    cli_ok(d, "blockcommit", "vda", "--active", "--guest-impact", "1");
    cli_ok(d, "blockjob", "vda", "--guest-impact", "100");
    cli_fails(d, 2, "invalid --guest-impact '0'", "blockjob", "vda",
              "--guest-impact", "0");
    cli_ok(d, "blockjob", "vda", "--abort");
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 2);
    g_assert_cmpuint(chain->jobs->len, ==, 0);
    g_clear_pointer(&chain, lm_chain_free);
    cli_ok(d, "blockcommit", "vda", "--active", "--guest-impact", "100",
           "--pivot", "--wait");
    lm_test_guest_stop_load(d->guest, NULL, &err);
    g_assert_no_error(err);
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 1);
    g_assert_cmpuint(chain->jobs->len, ==, 0);
    g_clear_pointer(&chain, lm_chain_free);
    guest_verify(d);

    cli_ok(d, "blockcopy", "vda", copy, "--guest-impact", "100", "--pivot");
    chain = read_chain(d, "vda");
    g_assert_cmpstr(lm_chain_active(chain)->filename, ==, copy);
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "copy.qcow2", "base.qcow2",
                                             "mid.qcow2", "top.qcow2",
                                             NULL });
}

/* --timeout aborts a job that cannot finish in time; exit 4. */
static void test_timeout(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;

    cli_fails(d, 4, "job 'lm-commit-", "blockcommit", "vda", "--top",
              "vda[1]", "--bandwidth", "1", "--bytes", "--timeout", "1");
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->jobs->len, ==, 0);
    g_assert_cmpuint(chain->layers->len, ==, 3);
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "mid.qcow2",
                                             "top.qcow2", NULL });
}

/* Ctrl-C while waiting aborts the job cleanly; exit 5. */
static void test_sigint(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *errout = NULL;

    proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDERR_PIPE |
                            G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &err,
                            LIVEMERGE_CLI, "blockcommit", "vda", "--active",
                            "--pivot", "--bandwidth", "1", "--bytes",
                            "--connect", d->cli_sock, NULL);
    g_assert_no_error(err);
    /* wait until the job runs, i.e. the CLI is waiting on it */
    for (;;) {
        g_autoptr(LmChain) c = read_chain(d, "vda");

        if (c->jobs->len) {
            break;
        }
        g_usleep(20 * 1000);
    }
    g_subprocess_send_signal(proc, SIGINT);
    g_subprocess_communicate_utf8(proc, NULL, NULL, NULL, &errout, &err);
    g_assert_no_error(err);
    g_test_message("%s", errout);
    g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 5);
    g_assert_nonnull(strstr(errout, "aborted"));
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->jobs->len, ==, 0);
    g_assert_cmpuint(chain->layers->len, ==, 3);
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "mid.qcow2",
                                             "top.qcow2", NULL });
}

/* On a terminal: a redrawn bar with percent, rate and ETA. */
static void test_progress_pty(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(GString) seen = g_string_new(NULL);
    int master;
    int status;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        execl(LIVEMERGE_CLI, LIVEMERGE_CLI, "blockcommit", "vda", "--top",
              "vda[1]", "--wait", "--verbose", "--bandwidth", "4",
              "--connect", d->cli_sock, (char *)NULL);
        _exit(127);
    }
    for (;;) {
        char buf[4096];
        ssize_t n = read(master, buf, sizeof(buf));

        if (n <= 0) {
            break;  /* EIO once the child closed the terminal */
        }
        g_string_append_len(seen, buf, n);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    close(master);
    g_test_message("%s", seen->str);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_nonnull(strstr(seen->str, "\r\033[KBlock Commit: ["));
    g_assert_nonnull(strstr(seen->str, "100 %"));
    g_assert_nonnull(strstr(seen->str, "ETA"));
    g_assert_nonnull(strstr(seen->str, "/s"));
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "top.qcow2",
                                             NULL });
}

/* Several disks in one transaction: all or none. */
static void test_snapshot_group(void)
{
    g_autoptr(Daemon) d = daemon_start(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) a = NULL;
    g_autoptr(LmChain) b = NULL;
    g_autofree char *sa = NULL;
    g_autofree char *sb = NULL;
    g_autofree char *exists = NULL;
    g_autofree char *out = NULL;

    add_disk(d, "vda", "a.qcow2");
    add_disk(d, "vdb", "b.qcow2");
    sa = g_strdup_printf("vda=%s/a-snap.qcow2", d->dir);
    sb = g_strdup_printf("vdb=%s/b-snap.qcow2", d->dir);
    exists = g_strdup_printf("vdb=%s/a.qcow2", d->dir);
    /* the second overlay is refused: the first disk stays as it was */
    cli_fails(d, 1, "disk 'vdb': overlay", "snapshot", sa, exists);
    a = read_chain(d, "vda");
    g_assert_cmpuint(a->layers->len, ==, 1);
    g_clear_pointer(&a, lm_chain_free);
    g_assert_false(g_file_test(strchr(sa, '=') + 1, G_FILE_TEST_EXISTS));
    /* the daemon cannot create the second: the first is undone, file too */
    cli_fails(d, 1, "disk 'vdb': creating '/nonexistent/b.qcow2'",
              "snapshot", sa, "vdb=/nonexistent/b.qcow2");
    a = read_chain(d, "vda");
    g_assert_cmpuint(a->layers->len, ==, 1);
    g_clear_pointer(&a, lm_chain_free);
    g_assert_false(g_file_test(strchr(sa, '=') + 1, G_FILE_TEST_EXISTS));
    g_assert_cmpint(run_cli(d, &out, NULL, "snapshot", sa, sb, "--json"), ==,
                    0);
    {
        g_autoptr(JsonNode) node = json_from_string(out, NULL);

        g_assert_cmpuint(json_array_get_length(json_node_get_array(node)), ==,
                         2);
    }
    a = read_chain(d, "vda");
    b = read_chain(d, "vdb");
    g_assert_cmpuint(a->layers->len, ==, 2);
    g_assert_cmpuint(b->layers->len, ==, 2);
    lm_test_qsd_stop(d->qsd);
    lm_test_image_check(strchr(sa, '=') + 1);
    lm_test_image_check(strchr(sb, '=') + 1);
}

/* snapshot -> active commit -> pivot, 20 times, the guest writing. */
static void test_repeat(void)
{
    g_autoptr(Daemon) d = daemon_start(LM_TEST_QSD_DEFAULT);
    g_autoptr(GError) err = NULL;

    add_disk(d, "vda", "base.qcow2");
    guest_connect(d, "vda");
    guest_write(d, 0, 256);
    lm_test_guest_start_load(d->guest, &(LmTestLoad){ .queue_depth = 4,
                                                      .seed = 3 }, &err);
    g_assert_no_error(err);
    for (int i = 0; i < 20; i++) {
        g_autofree char *name = g_strdup_printf("snap%d.qcow2", i);

        snapshot(d, "vda", name);
        cli_ok(d, "blockcommit", "vda", "--active", "--pivot", "--delete");
    }
    lm_test_guest_stop_load(d->guest, NULL, &err);
    g_assert_no_error(err);
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", NULL });
}

/* --quiesce needs the agent; a missing agent fails before any change. */
static void test_quiesce_args(void)
{
    g_autoptr(Daemon) d = daemon_start(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autofree char *spec = NULL;

    add_disk(d, "vda", "base.qcow2");
    spec = g_strdup_printf("vda=%s/snap.qcow2", d->dir);
    cli_fails(d, 2, "--quiesce and --guest-agent SOCKET go together",
              "snapshot", spec, "--quiesce");
    cli_fails(d, 1, "no guest agent socket /nonexistent/qga.sock",
              "snapshot", spec, "--quiesce", "--guest-agent",
              "/nonexistent/qga.sock");
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 1);
    /* and one layer has nothing to pull, or commit */
    cli_fails(d, 1, "has no backing file: nothing to pull", "blockpull",
              "vda", "--engine", "native");
    cli_fails(d, 1, "has no backing file: nothing to commit", "blockcommit",
              "vda", "--active");
}

/* blockjob --pivot DISK DISK: both disks' jobs pivot together. */
static void test_group_pivot(void)
{
    g_autoptr(Daemon) d = daemon_start(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) a = NULL;
    g_autoptr(LmChain) b = NULL;

    add_disk(d, "vda", "a.qcow2");
    add_disk(d, "vdb", "b.qcow2");
    snapshot(d, "vda", "a-snap.qcow2");
    snapshot(d, "vdb", "b-snap.qcow2");
    cli_ok(d, "blockcommit", "vda", "--active", "--wait");
    cli_ok(d, "blockcommit", "vdb", "--active", "--wait");
    if (!have_command(d, "livemerge-complete")) {
        cli_fails(d, 1, "the livemerge plugin in this daemon has no "
                  "livemerge-complete", "blockjob", "--pivot", "vda", "vdb");
        cli_ok(d, "blockjob", "vda", "--pivot");
        cli_ok(d, "blockjob", "vdb", "--pivot");
    } else {
        cli_ok(d, "blockjob", "--pivot", "vda", "vdb");
    }
    a = read_chain(d, "vda");
    b = read_chain(d, "vdb");
    g_assert_cmpuint(a->layers->len, ==, 1);
    g_assert_cmpuint(b->layers->len, ==, 1);
    lm_test_qsd_stop(d->qsd);
    for (guint i = 0; i < 2; i++) {
        g_autofree char *path = image_path(d, i ? "b.qcow2" : "a.qcow2");

        lm_test_image_check(path);
    }
}

typedef struct {
    double percent;
    guint ticks;
} WatchState;

static gboolean watch_tick(LmJob *job, gpointer data)
{
    WatchState *ws = data;
    const LmJobInfo *info = lm_job_info(job);

    g_assert_cmpfloat(info->percent, >=, ws->percent);
    g_assert_cmpfloat(info->percent, <=, 100.0);
    g_assert_cmpuint(info->offset, <=, info->len);
    ws->percent = info->percent;
    ws->ticks++;
    return TRUE;
}

/* The library's job watcher on a paced commit: progress only forwards,
 * READY then the end, as the library reports it. */
static void test_job_watcher(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmStarted) started = NULL;
    g_autoptr(LmJob) job = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *aborted = NULL;
    WatchState ws = { 0 };
    LmCommitArgs args = {
        .disk = "vda", .active = TRUE,
        .bandwidth = { .value = 4 },
    };

    started = lm_commit_start(d->qmp, &args, &err);
    g_assert_no_error(err);
    g_assert_true(started->needs_pivot);
    g_assert_cmpuint(started->leaving->len, ==, 2);
    job = lm_job_new(d->qmp, started->job_id);
    lm_job_wait(job, LM_JOB_READY, 0, watch_tick, &ws, &err);
    g_assert_no_error(err);
    g_assert_cmpint(lm_job_info(job)->state, ==, LM_JOB_READY);
    g_assert_cmpfloat(lm_job_info(job)->percent, ==, 100.0);
    g_assert_cmpstr(lm_job_info(job)->type, ==, "commit");
    g_assert_cmpuint(ws.ticks, >, 0);
    /* a READY job asked to keep its overlay completes */
    aborted = lm_disk_job_abort(d->qmp, "vda", FALSE, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(aborted, ==, started->job_id);
    lm_job_wait(job, LM_JOB_COMPLETED, 0, watch_tick, &ws, &err);
    g_assert_no_error(err);
    g_assert_cmpint(lm_job_info(job)->state, ==, LM_JOB_COMPLETED);
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "mid.qcow2",
                                             "top.qcow2", NULL });
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* The long options of @text's lines that start with "--" or "-x, --",
 * as `livemerge CMD --help` and the man page's option lists show them. */
static GPtrArray *options_in(const char *text, gboolean man)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GPtrArray *opts = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GRegex) re = g_regex_new(
        man ? "^(?:-[a-z] [A-Z]+, )?(--[a-z][a-z-]*)"
            : "^  +(?:-[a-z], )?(--[a-z][a-z-]*)", 0, 0, NULL);

    for (guint i = 0; lines[i]; i++) {
        g_autoptr(GMatchInfo) m = NULL;

        if (g_regex_match(re, lines[i], 0, &m)) {
            char *opt = g_match_info_fetch(m, 1);

            /* the common options have a section of their own */
            if (g_str_equal(opt, "--help") || g_str_equal(opt, "--connect") ||
                g_str_equal(opt, "--json")) {
                g_free(opt);
                continue;
            }
            g_ptr_array_add(opts, opt);
        }
    }
    g_ptr_array_sort(opts, compare_strings);
    return opts;
}

static char *join_options(GPtrArray *opts)
{
    g_ptr_array_add(opts, NULL);
    return g_strjoinv(" ", (char **)opts->pdata);
}

/* The man page documents each command with the options --help shows. */
static void test_manpage(void)
{
    static const char *const cmds[] = {
        "disks", "chain", "blockcommit", "blockpull", "blockcopy",
        "blockjob", "snapshot",
    };
    g_autofree char *man = NULL;
    g_autofree char *top_help = NULL;
    g_autoptr(GError) err = NULL;

    g_file_get_contents(LIVEMERGE_MAN_SRC, &man, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(run_cli(NULL, &top_help, NULL, "--help"), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(cmds); i++) {
        g_autofree char *help = NULL;
        g_autofree char *header = g_strdup_printf("\n%s\n", cmds[i]);
        g_autofree char *listed = g_strdup_printf("  %s ", cmds[i]);
        const char *start = strstr(man, header);
        const char *end;
        g_autofree char *section = NULL;
        g_autoptr(GPtrArray) from_help = NULL;
        g_autoptr(GPtrArray) from_man = NULL;
        g_autofree char *a = NULL;
        g_autofree char *b = NULL;

        g_assert_nonnull(strstr(top_help, listed));
        g_assert_nonnull(start);
        start += strlen(header);
        /* up to the next section: a title line over a "---" line */
        end = strstr(start + 1, "\n---");
        if (end) {
            end = g_strrstr_len(start, end - start, "\n");
        }
        section = end ? g_strndup(start, end - start) : g_strdup(start);
        g_assert_cmpint(run_cli(NULL, &help, NULL, cmds[i], "--help"), ==,
                        0);
        from_help = options_in(help, FALSE);
        from_man = options_in(section, TRUE);
        a = join_options(from_help);
        b = join_options(from_man);
        g_test_message("%s: --help: %s; man: %s", cmds[i], a, b);
        g_assert_cmpstr(a, ==, b);
    }
    /* the exit codes --help gives are the ones the man page documents */
    g_assert_nonnull(strstr(top_help, "0 done, 1 refused or failed, 2 bad "
                                      "command line, 3 cannot connect, 4 "
                                      "--timeout expired (job aborted), 5 "
                                      "interrupted (job aborted)"));
    for (int code = 0; code <= 5; code++) {
        g_autofree char *item = g_strdup_printf("\n%d\n    ", code);

        g_assert_nonnull(strstr(man, item));
    }
}

/* Completions of @words (the last one being completed), one per line. */
static char *complete(const char *const *words)
{
    g_autoptr(GString) script = g_string_new(NULL);
    g_autofree char *out = NULL;
    g_autoptr(GError) err = NULL;
    guint n = 0;
    int status;

    g_string_append_printf(script, "source '%s'; COMP_WORDS=(",
                           LIVEMERGE_COMPLETION);
    for (; words[n]; n++) {
        g_autofree char *q = g_shell_quote(words[n]);

        g_string_append_printf(script, "%s ", q);
    }
    g_string_append_printf(script, "); COMP_CWORD=%u; _livemerge; "
                           "printf '%%s\\n' \"${COMPREPLY[@]}\"", n - 1);
    g_spawn_sync(NULL, (char *[]){ "bash", "-c", script->str, NULL }, NULL,
                 G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status, &err);
    g_assert_no_error(err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return g_steal_pointer(&out);
}

#define completions(...) complete((const char *const[]){ __VA_ARGS__, NULL })

static void test_completion(void)
{
    g_autoptr(Daemon) d = daemon_start(LM_TEST_QSD_DEFAULT);
    g_autofree char *cmds = NULL;
    g_autofree char *opts = NULL;
    g_autofree char *disks = NULL;
    g_autofree char *snap = NULL;

    add_disk(d, "vda", "a.qcow2");
    add_disk(d, "vdb", "b.qcow2");
    cmds = completions(LIVEMERGE_CLI, "block");
    g_assert_cmpstr(cmds, ==, "blockcommit\nblockpull\nblockcopy\n"
                              "blockjob\n");
    opts = completions(LIVEMERGE_CLI, "blockcommit", "vda", "--ke");
    g_assert_cmpstr(opts, ==, "--keep-overlay\n--keep-relative\n");
    disks = completions(LIVEMERGE_CLI, "--connect", d->cli_sock,
                        "blockcommit", "vd");
    /* the daemon's order */
    g_assert_true(g_str_equal(disks, "vda\nvdb\n") ||
                  g_str_equal(disks, "vdb\nvda\n"));
    snap = completions(LIVEMERGE_CLI, "--connect", d->cli_sock, "snapshot",
                       "vdb");
    g_assert_cmpstr(snap, ==, "vdb=\n");
}

/* blockpull --keep-relative keeps the backing string relative. */
static void test_pull_relative(gconstpointer engine)
{
    g_autoptr(Daemon) d = relative_layers();
    g_autoptr(LmChain) chain = NULL;

    if (g_str_equal(engine, "livemerge") &&
        !have_command(d, "livemerge-stream")) {
        return;
    }
    cli_ok(d, "blockpull", "vda", "--base", "vda[2]", "--keep-relative",
           "--wait", "--engine", engine);
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 2);
    g_assert_cmpstr(lm_chain_active(chain)->backing, ==, "base.qcow2");
    guest_verify(d);
    stop_and_check(d, (const char *const[]){ "base.qcow2", "top.qcow2",
                                             NULL });
}

/* The flags the other cases leave out. */
static void test_more_flags(void)
{
    g_autoptr(Daemon) d = three_layers(LM_TEST_QSD_DEFAULT);
    g_autoptr(LmChain) chain = NULL;
    g_autofree char *reuse = NULL;
    g_autofree char *bad = NULL;

    /* --shallow: top's own backing image is the base */
    cli_ok(d, "blockcommit", "vda", "--top", "vda[1]", "--shallow",
           "--wait");
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->layers->len, ==, 2);
    g_clear_pointer(&chain, lm_chain_free);
    guest_verify(d);

    /* --copy-mode is the livemerge engine's */
    cli_fails(d, 1, "--copy-mode is for --engine livemerge", "blockcommit",
              "vda", "--active", "--copy-mode", "background", "--engine",
              "native");
    /* --guest-impact too, before the daemon sees a job */
    cli_fails(d, 1, "disk 'vda': --guest-impact is for --engine livemerge; "
              "QEMU's block-commit has no guest impact", "blockcommit",
              "vda", "--active", "--guest-impact", "50", "--engine",
              "native");
    cli_fails(d, 1, "--guest-impact is for --engine livemerge; QEMU's "
              "block-stream", "blockpull", "vda", "--guest-impact", "50",
              "--engine", "native");
    cli_fails(d, 1, "--guest-impact is for --engine livemerge; QEMU's "
              "blockdev-mirror", "blockcopy", "vda", "/tmp/never.qcow2",
              "--guest-impact", "50", "--engine", "native");
    chain = read_chain(d, "vda");
    g_assert_cmpuint(chain->jobs->len, ==, 0);
    g_clear_pointer(&chain, lm_chain_free);
    cli_ok(d, "blockcommit", "vda", "--active", "--keep-overlay",
           "--copy-mode", "write-blocking");
    guest_verify(d);

    /*
     * --timeout --async: abort requested, not waited for; exit 4.  The
     * commit before emptied the overlay (it gives the base what the base
     * holds): this one gets something to copy.
     */
    guest_write(d, 0, 256);
    cli_fails(d, 4, "abort of job", "blockcommit", "vda", "--active",
              "--bandwidth", "1", "--bytes", "--timeout", "1", "--async");
    for (;;) {
        g_autoptr(LmChain) c = read_chain(d, "vda");

        if (!c->jobs->len) {
            break;
        }
        g_usleep(20 * 1000);
    }

    /* --reuse-external --format: copy into an image made beforehand */
    reuse = image_path(d, "reuse.qcow2");
    lm_test_image_create(reuse, &(LmTestImageOpts){ .size = "16M" });
    cli_ok(d, "blockcopy", "vda", reuse, "--reuse-external", "--format",
           "qcow2", "--pivot", "--engine", "native");
    chain = read_chain(d, "vda");
    g_assert_cmpstr(lm_chain_active(chain)->filename, ==, reuse);
    g_assert_cmpuint(chain->layers->len, ==, 1);
    guest_verify(d);

    /* a file name that is not UTF-8 never reaches the daemon */
    bad = g_strdup_printf("vda=%s/bad\xff.qcow2", d->dir);
    cli_fails(d, 2, "DISK=FILE", "snapshot", bad);
    stop_and_check(d, (const char *const[]){ "reuse.qcow2", "base.qcow2",
                                             "mid.qcow2", "top.qcow2",
                                             NULL });
}

int main(int argc, char **argv)
{
    static const char *const engines[] = { "livemerge", "native" };

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/usage", test_usage);
    g_test_add_func("/cli/chain-lookup", test_chain_lookup);
    g_test_add_func("/cli/validation", test_validation);
    g_test_add_func("/cli/no-plugin", test_no_plugin);
    for (guint i = 0; i < G_N_ELEMENTS(engines); i++) {
        g_autofree char *p1 = g_strdup_printf("/cli/commit/intermediate/%s",
                                              engines[i]);
        g_autofree char *p2 = g_strdup_printf("/cli/commit/active-pivot/%s",
                                              engines[i]);
        g_autofree char *p3 = g_strdup_printf("/cli/commit/active-keep/%s",
                                              engines[i]);
        g_autofree char *p4 = g_strdup_printf("/cli/pull/%s", engines[i]);
        g_autofree char *p5 = g_strdup_printf("/cli/copy/%s", engines[i]);

        g_test_add_data_func(p1, engines[i], test_commit_intermediate);
        g_test_add_data_func(p2, engines[i], test_commit_active_pivot);
        g_test_add_data_func(p3, engines[i], test_commit_active_keep);
        g_test_add_data_func(p4, engines[i], test_pull);
        g_autofree char *p6 = g_strdup_printf("/cli/pull-relative/%s",
                                              engines[i]);

        g_test_add_data_func(p5, engines[i], test_copy);
        g_test_add_data_func(p6, engines[i], test_pull_relative);
    }
    g_test_add_func("/cli/more-flags", test_more_flags);
    g_test_add_func("/cli/blockjob", test_blockjob);
    g_test_add_func("/cli/guest-impact", test_guest_impact);
    g_test_add_func("/cli/timeout", test_timeout);
    g_test_add_func("/cli/sigint", test_sigint);
    g_test_add_func("/cli/progress-pty", test_progress_pty);
    g_test_add_func("/cli/snapshot-group", test_snapshot_group);
    g_test_add_func("/cli/quiesce-args", test_quiesce_args);
    g_test_add_func("/cli/group-pivot", test_group_pivot);
    g_test_add_func("/cli/job-watcher", test_job_watcher);
    g_test_add_func("/cli/manpage", test_manpage);
    g_test_add_func("/cli/completion", test_completion);
    g_test_add_func("/cli/repeat", test_repeat);
    return g_test_run();
}
