/*
 * vm suite - the host side's operations, with the livemerge CLI
 *
 * Each operation is one or two livemerge commands, as an administrator
 * types them; afterwards the disk's chain is read back with
 * "livemerge --json chain", so the test's view is the CLI's.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "vm-ops-priv.h"

#include <string.h>
#include <json-glib/json-glib.h>

/* The CLI's own bound for each job (it aborts the job after it). */
#define CLI_JOB_TIMEOUT_S "300"

typedef struct {
    VmOps parent;
    char *cli;
    char *qmp_socket;
} VmOpsCli;

/*
 * Run "livemerge --connect SOCKET --json ARGS..." (@args NULL-terminated);
 * returns its stdout.  A failure carries the CLI's message; the plugin
 * lacking a command becomes VM_OPS_ERROR_UNSUPPORTED.
 */
static char *run_cli_argv(VmOpsCli *ops, const char *const *args,
                          GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *out = NULL, *err_out = NULL, *cmdline = NULL;
    g_autoptr(GError) spawn_err = NULL;
    int status;

    g_ptr_array_add(argv, ops->cli);
    g_ptr_array_add(argv, (char *)"--connect");
    g_ptr_array_add(argv, ops->qmp_socket);
    g_ptr_array_add(argv, (char *)"--json");
    for (const char *const *a = args; *a; a++) {
        g_ptr_array_add(argv, (char *)*a);
    }
    g_ptr_array_add(argv, NULL);
    cmdline = g_strjoinv(" ", (char **)argv->pdata);
    g_test_message("$ %s", cmdline);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT,
                      NULL, NULL, &out, &err_out, &status, &spawn_err)) {
        g_propagate_error(error, g_steal_pointer(&spawn_err));
        return NULL;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        gboolean unsupported = strstr(err_out, "has no livemerge-") ||
                               strstr(err_out, "has no livemerge plugin");

        g_set_error(error, VM_OPS_ERROR,
                    unsupported ? VM_OPS_ERROR_UNSUPPORTED
                                : VM_OPS_ERROR_FAILED,
                    "%s: %s", cmdline, g_strstrip(err_out));
        return NULL;
    }
    return g_steal_pointer(&out);
}

/* As run_cli_argv(), the arguments listed (NULL-terminated). */
static char *run_cli(VmOpsCli *ops, GError **error, ...)
    G_GNUC_NULL_TERMINATED;

static char *run_cli(VmOpsCli *ops, GError **error, ...)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    const char *arg;
    va_list ap;

    va_start(ap, error);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(args, (char *)arg);
    }
    va_end(ap);
    g_ptr_array_add(args, NULL);
    return run_cli_argv(ops, (const char *const *)args->pdata, error);
}

/* Run the command, then read back the chain of each of @disks. */
static gboolean run_and_refresh(VmOpsCli *ops, const char *const *args,
                                VmDisk *const *disks, guint n_disks,
                                GError **error);

/* @disk's chain as the CLI reports it (base first); new images noted. */
static gboolean refresh_chain(VmOpsCli *ops, VmDisk *disk, GError **error)
{
    g_autofree char *out = run_cli(ops, error, "chain", disk->name, NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *layers;

    if (!out || !json_parser_load_from_data(parser, out, -1, error)) {
        return FALSE;
    }
    layers = json_object_get_array_member(
        json_node_get_object(json_parser_get_root(parser)), "layers");
    g_ptr_array_set_size(disk->chain, 0);
    /* the CLI lists the active layer first */
    for (guint i = json_array_get_length(layers); i-- > 0;) {
        JsonObject *layer = json_array_get_object_element(layers, i);
        const char *file = json_object_get_string_member(layer, "file");

        g_ptr_array_add(disk->chain, vm_layer_new(
            json_object_get_string_member(layer, "node"), file));
        if (!g_ptr_array_find_with_equal_func(disk->images, file,
                                              g_str_equal, NULL)) {
            g_ptr_array_add(disk->images, g_strdup(file));
        }
    }
    return TRUE;
}

static gboolean run_and_refresh(VmOpsCli *ops, const char *const *args,
                                VmDisk *const *disks, guint n_disks,
                                GError **error)
{
    g_autofree char *out = run_cli_argv(ops, args, error);

    if (!out) {
        return FALSE;
    }
    for (guint i = 0; i < n_disks; i++) {
        if (!refresh_chain(ops, disks[i], error)) {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean cli_snapshot(VmOps *base_ops, VmDisk *const *disks,
                             guint n_disks, const char *overlay_dir,
                             gboolean quiesce, GError **error)
{
    VmOpsCli *ops = (VmOpsCli *)base_ops;
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(args, g_strdup("snapshot"));
    if (quiesce) {
        g_ptr_array_add(args, g_strdup("--quiesce"));
        g_ptr_array_add(args, g_strdup("--guest-agent"));
        g_ptr_array_add(args, g_strdup(base_ops->qga_socket));
    }
    for (guint i = 0; i < n_disks; i++) {
        g_autofree char *path = vm_disk_next_image(disks[i], overlay_dir,
                                                   "s", NULL);

        g_ptr_array_add(args, g_strdup_printf("%s=%s", disks[i]->name,
                                              path));
    }
    g_ptr_array_add(args, NULL);
    return run_and_refresh(ops, (const char *const *)args->pdata, disks,
                           n_disks, error);
}

static const char *layer_path(VmDisk *disk, guint index)
{
    return ((VmLayer *)disk->chain->pdata[index])->path;
}

static gboolean cli_commit(VmOps *base_ops, VmDisk *disk, guint top,
                           guint base, GError **error)
{
    VmOpsCli *ops = (VmOpsCli *)base_ops;
    const char *intermediate[] = {
        "blockcommit", disk->name, "--top", layer_path(disk, top),
        "--base", layer_path(disk, base), "--wait",
        "--timeout", CLI_JOB_TIMEOUT_S, NULL,
    };
    const char *active[] = {
        "blockcommit", disk->name, "--active", "--pivot",
        "--base", layer_path(disk, base), "--wait",
        "--timeout", CLI_JOB_TIMEOUT_S, NULL,
    };

    return run_and_refresh(ops, top == disk->chain->len - 1 ? active
                                                           : intermediate,
                           &disk, 1, error);
}

static gboolean cli_commit_active_all(VmOps *base_ops, VmDisk *const *disks,
                                      guint n_disks, GError **error)
{
    VmOpsCli *ops = (VmOpsCli *)base_ops;
    g_autoptr(GPtrArray) pivot = g_ptr_array_new();

    /* each --wait returns once its job is READY */
    for (guint i = 0; i < n_disks; i++) {
        g_autofree char *out = run_cli(ops, error, "blockcommit",
                                       disks[i]->name, "--active", "--wait",
                                       "--timeout", CLI_JOB_TIMEOUT_S, NULL);

        if (!out) {
            return FALSE;
        }
    }
    /* one pivot for every disk */
    g_ptr_array_add(pivot, (char *)"blockjob");
    g_ptr_array_add(pivot, (char *)"--pivot");
    for (guint i = 0; i < n_disks; i++) {
        g_ptr_array_add(pivot, disks[i]->name);
    }
    g_ptr_array_add(pivot, NULL);
    return run_and_refresh(ops, (const char *const *)pivot->pdata, disks,
                           n_disks, error);
}

static gboolean cli_pull(VmOps *base_ops, VmDisk *disk, GError **error)
{
    const char *args[] = {
        "blockpull", disk->name, "--wait", "--timeout", CLI_JOB_TIMEOUT_S,
        NULL,
    };

    return run_and_refresh((VmOpsCli *)base_ops, args, &disk, 1, error);
}

static gboolean cli_copy(VmOps *base_ops, VmDisk *disk, const char *dir,
                         GError **error)
{
    g_autofree char *path = vm_disk_next_image(disk, dir, "copy", NULL);
    const char *args[] = {
        "blockcopy", disk->name, path, "--pivot", "--wait",
        "--timeout", CLI_JOB_TIMEOUT_S, NULL,
    };

    return run_and_refresh((VmOpsCli *)base_ops, args, &disk, 1, error);
}

static void cli_finalize(VmOps *base_ops)
{
    VmOpsCli *ops = (VmOpsCli *)base_ops;

    g_free(ops->cli);
    g_free(ops->qmp_socket);
}

static const VmOpsClass cli_class = {
    .snapshot = cli_snapshot,
    .commit = cli_commit,
    .commit_active_all = cli_commit_active_all,
    .pull = cli_pull,
    .copy = cli_copy,
    .finalize = cli_finalize,
};

VmOps *vm_ops_new_cli(const char *cli, const char *qmp_socket,
                      const char *qga_socket)
{
    VmOpsCli *ops = g_new0(VmOpsCli, 1);

    vm_ops_init(&ops->parent, &cli_class, qga_socket);
    ops->cli = g_strdup(cli);
    ops->qmp_socket = g_strdup(qmp_socket);
    return &ops->parent;
}
