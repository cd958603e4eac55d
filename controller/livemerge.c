/*
 * livemerge - the command line: what virsh is to libvirt, for a
 * qemu-storage-daemon
 *
 * Each command is an option table and a short handler: parse, call one
 * library operation, wait through the one job watcher, print.  The checks
 * live in the library (lm-ops.c), so every program gets them.
 *
 * Exit codes (docs/livemerge.1.rst): 0 done, 1 refused or failed, 2 bad
 * command line, 3 no connection to the daemon, 4 --timeout expired (job
 * aborted), 5 interrupted (job aborted).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "livemerge.h"
#include "lm-progress.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_CONNECT = 3,
    EXIT_TIMEOUT = 4,
    EXIT_INTERRUPTED = 5,
};

/* Waiting for a busy daemon (another client on the socket) is fine. */
#define CONNECT_TIMEOUT_MS 10000

/* Options every command takes. */
static char *opt_connect;
static gboolean opt_json;

static const GOptionEntry common_entries[] = {
    { "connect", 'c', 0, G_OPTION_ARG_FILENAME, &opt_connect,
      "QMP socket of the daemon (default: $LIVEMERGE_QMP)", "SOCKET" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
      "print the result as JSON on stdout", NULL },
    { NULL },
};

/* Options of the commands that run a job. */
static gboolean opt_wait, opt_verbose, opt_async, opt_bytes;
static int opt_timeout;
static char *opt_bandwidth, *opt_engine, *opt_guest_impact;

#define JOB_ENTRIES                                                        \
    { "wait", 0, 0, G_OPTION_ARG_NONE, &opt_wait,                          \
      "wait for the job to end (or to be ready)", NULL },                  \
    { "verbose", 0, 0, G_OPTION_ARG_NONE, &opt_verbose,                    \
      "show progress while waiting", NULL },                               \
    { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,                     \
      "abort the job if not done in SECONDS (implies --wait)", "SECONDS" }, \
    { "bandwidth", 0, 0, G_OPTION_ARG_STRING, &opt_bandwidth,              \
      "limit the copy to N MiB/s (bytes/s with --bytes)", "N" },           \
    { "bytes", 0, 0, G_OPTION_ARG_NONE, &opt_bytes,                        \
      "--bandwidth is in bytes/s", NULL },                                 \
    { "engine", 0, 0, G_OPTION_ARG_STRING, &opt_engine,                    \
      "livemerge (the plugin, default) or native (QEMU's own job)",        \
      "ENGINE" },                                                          \
    { "guest-impact", 0, 0, G_OPTION_ARG_STRING, &opt_guest_impact,        \
      "share of the guest's performance the copy may take, 1 to 100 "      \
      "(default 50; livemerge engine)", "PERCENT" }

#define ASYNC_ENTRY                                                        \
    { "async", 0, 0, G_OPTION_ARG_NONE, &opt_async,                        \
      "on --timeout or Ctrl-C, request the abort without waiting for it",  \
      NULL }

static char *opt_base, *opt_top, *opt_copy_mode;
static gboolean opt_shallow, opt_active, opt_pivot, opt_keep_overlay,
    opt_delete, opt_keep_relative;

static const GOptionEntry commit_entries[] = {
    { "base", 0, 0, G_OPTION_ARG_STRING, &opt_base,
      "image to commit into: path, node name or DISK[N] (default: bottom)",
      "BASE" },
    { "top", 0, 0, G_OPTION_ARG_STRING, &opt_top,
      "top image to commit (default: the active layer)", "TOP" },
    { "shallow", 0, 0, G_OPTION_ARG_NONE, &opt_shallow,
      "commit into the image right below top", NULL },
    { "active", 0, 0, G_OPTION_ARG_NONE, &opt_active,
      "commit the active layer (two phases: ready, then pivot)", NULL },
    { "pivot", 0, 0, G_OPTION_ARG_NONE, &opt_pivot,
      "after an active commit, switch the disk to base", NULL },
    { "keep-overlay", 0, 0, G_OPTION_ARG_NONE, &opt_keep_overlay,
      "after an active commit, keep the active layer", NULL },
    { "delete", 0, 0, G_OPTION_ARG_NONE, &opt_delete,
      "remove the committed images once the job is done", NULL },
    { "keep-relative", 0, 0, G_OPTION_ARG_NONE, &opt_keep_relative,
      "write a relative backing path", NULL },
    { "copy-mode", 0, 0, G_OPTION_ARG_STRING, &opt_copy_mode,
      "background, write-blocking or adaptive (livemerge engine)", "MODE" },
    JOB_ENTRIES, ASYNC_ENTRY,
    { NULL },
};

static const GOptionEntry pull_entries[] = {
    { "base", 0, 0, G_OPTION_ARG_STRING, &opt_base,
      "keep this image as the backing file (default: pull everything)",
      "BASE" },
    { "keep-relative", 0, 0, G_OPTION_ARG_NONE, &opt_keep_relative,
      "write a relative backing path", NULL },
    JOB_ENTRIES, ASYNC_ENTRY,
    { NULL },
};

static char *opt_format;
static gboolean opt_reuse_external, opt_finish, opt_sync_writes;
static char *opt_granularity, *opt_buf_size;

static const GOptionEntry copy_entries[] = {
    { "format", 0, 0, G_OPTION_ARG_STRING, &opt_format,
      "format of the copy (default: the active layer's)", "FORMAT" },
    { "shallow", 0, 0, G_OPTION_ARG_NONE, &opt_shallow,
      "copy only the active layer; the copy shares its backing", NULL },
    { "reuse-external", 0, 0, G_OPTION_ARG_NONE, &opt_reuse_external,
      "DEST exists already: copy into it", NULL },
    { "pivot", 0, 0, G_OPTION_ARG_NONE, &opt_pivot,
      "once ready, switch the disk to the copy", NULL },
    { "finish", 0, 0, G_OPTION_ARG_NONE, &opt_finish,
      "once ready, end the job keeping the disk as it is", NULL },
    { "synchronous-writes", 0, 0, G_OPTION_ARG_NONE, &opt_sync_writes,
      "guest writes reach the copy before they complete", NULL },
    { "granularity", 0, 0, G_OPTION_ARG_STRING, &opt_granularity,
      "copy granularity in bytes (power of 2)", "BYTES" },
    { "buf-size", 0, 0, G_OPTION_ARG_STRING, &opt_buf_size,
      "copy buffer size in bytes", "BYTES" },
    JOB_ENTRIES,
    { NULL },
};

static gboolean opt_info, opt_abort;

static const GOptionEntry blockjob_entries[] = {
    { "info", 0, 0, G_OPTION_ARG_NONE, &opt_info,
      "show the disk's job (the default)", NULL },
    { "abort", 0, 0, G_OPTION_ARG_NONE, &opt_abort,
      "end the job (with --pivot: switch to the new image)", NULL },
    { "pivot", 0, 0, G_OPTION_ARG_NONE, &opt_pivot,
      "pivot a ready job; with several disks, all at once", NULL },
    ASYNC_ENTRY,
    { "bandwidth", 0, 0, G_OPTION_ARG_STRING, &opt_bandwidth,
      "set the job's limit to N MiB/s (bytes/s with --bytes)", "N" },
    { "bytes", 0, 0, G_OPTION_ARG_NONE, &opt_bytes,
      "--bandwidth is in bytes/s", NULL },
    { "guest-impact", 0, 0, G_OPTION_ARG_STRING, &opt_guest_impact,
      "set the share of the guest's performance the job's copy may take, "
      "1 to 100 (livemerge jobs)", "PERCENT" },
    { NULL },
};

static gboolean opt_quiesce;
static char *opt_guest_agent;

static const GOptionEntry snapshot_entries[] = {
    { "quiesce", 0, 0, G_OPTION_ARG_NONE, &opt_quiesce,
      "freeze the guest's filesystems around the snapshot", NULL },
    { "guest-agent", 0, 0, G_OPTION_ARG_FILENAME, &opt_guest_agent,
      "QEMU guest agent socket, for --quiesce", "SOCKET" },
    { NULL },
};

static const GOptionEntry no_entries[] = { { NULL } };

typedef struct {
    const char *name;
    const char *args;             /* positional arguments, for --help */
    const char *summary;
    const GOptionEntry *entries;
    int (*run)(int argc, char **argv);
} Command;

static const Command *current_command;

/* -------------------------------------------------------------------- */

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_printerr("livemerge %s: %s\n", current_command ? current_command->name
                                                     : "", msg);
    g_printerr("Try 'livemerge %s%s--help'.\n",
               current_command ? current_command->name : "",
               current_command ? " " : "");
    return EXIT_USAGE;
}

static int exit_code_of(const GError *err)
{
    if (err->domain == LM_ERROR && err->code == LM_ERROR_TIMEOUT) {
        return EXIT_TIMEOUT;
    }
    if (err->domain == LM_ERROR && err->code == LM_ERROR_INTERRUPTED) {
        return EXIT_INTERRUPTED;
    }
    return EXIT_FAILED;
}

static int fail(GError *err)
{
    g_printerr("livemerge %s: error: %s\n", current_command->name,
               err->message);
    return exit_code_of(err);
}

static void print_json(JsonNode *node)
{
    g_autofree char *text = json_to_string(node, TRUE);

    printf("%s\n", text);
}

/* A UTF-8 check for every name given: QMP carries UTF-8 only. */
static gboolean check_utf8(const char *what, const char *value, int *code)
{
    g_autofree char *escaped = NULL;

    if (!value || g_utf8_validate(value, -1, NULL)) {
        return TRUE;
    }
    escaped = g_strescape(value, NULL);
    *code = usage_error("%s '%s' is not valid UTF-8; QMP (and so the "
                        "daemon) takes UTF-8 names only", what, escaped);
    return FALSE;
}

/* A decimal number in [@min, @max]; 0 if the option was not given. */
static gboolean parse_number(const char *what, const char *text, guint64 min,
                             guint64 max, guint64 *value, int *code)
{
    g_autoptr(GError) err = NULL;

    if (!text) {
        *value = 0;
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(text, 10, min, max, value, &err)) {
        *code = usage_error("invalid %s '%s': %s", what, text, err->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean parse_size(const char *what, const char *text,
                           guint64 *value, int *code)
{
    return parse_number(what, text, 0, G_MAXUINT64, value, code);
}

/* --guest-impact PERCENT; 0 when not given (the daemon's default). */
static gboolean parse_guest_impact(guint *guest_impact, int *code)
{
    guint64 value;

    if (!parse_number("--guest-impact", opt_guest_impact,
                      LM_GUEST_IMPACT_MIN, LM_GUEST_IMPACT_MAX, &value,
                      code)) {
        return FALSE;
    }
    *guest_impact = value;
    return TRUE;
}

static gboolean parse_bandwidth(LmBandwidth *bw, int *code)
{
    bw->bytes = opt_bytes;
    if (opt_bytes && !opt_bandwidth) {
        *code = usage_error("--bytes needs --bandwidth");
        return FALSE;
    }
    return parse_size("--bandwidth", opt_bandwidth, &bw->value, code);
}

static gboolean parse_engine(LmEngine *engine, int *code)
{
    if (!opt_engine) {
        *engine = LM_ENGINE_LIVEMERGE;
        return TRUE;
    }
    if (!lm_engine_parse(opt_engine, engine)) {
        *code = usage_error("invalid --engine '%s': livemerge or native",
                            opt_engine);
        return FALSE;
    }
    return TRUE;
}

/* --timeout / --verbose / --pivot ... imply --wait, as with virsh. */
static gboolean parse_wait(gboolean implied, int *code)
{
    if (opt_timeout < 0) {
        *code = usage_error("invalid --timeout %d: seconds, more than 0",
                            opt_timeout);
        return FALSE;
    }
    if (opt_verbose && !opt_wait && !implied && !opt_timeout) {
        *code = usage_error("--verbose needs --wait");
        return FALSE;
    }
    opt_wait = opt_wait || implied || opt_timeout > 0;
    if (opt_async && !opt_wait) {
        *code = usage_error("--async needs --wait (or --timeout)");
        return FALSE;
    }
    return TRUE;
}

static LmQmp *connect_daemon(int *code)
{
    const char *path = opt_connect ? opt_connect : g_getenv("LIVEMERGE_QMP");
    g_autoptr(GError) err = NULL;
    LmQmp *qmp;

    if (!path || !*path) {
        *code = usage_error("no daemon: give --connect SOCKET or set "
                            "LIVEMERGE_QMP");
        return NULL;
    }
    /* lm_qmp_connect() waits for a socket still to appear (a daemon
     * starting); a user naming a socket that is not there wants to know. */
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_printerr("livemerge %s: cannot connect to the daemon: no socket "
                   "%s\n", current_command->name, path);
        *code = EXIT_CONNECT;
        return NULL;
    }
    qmp = lm_qmp_connect(path, CONNECT_TIMEOUT_MS, &err);
    if (!qmp) {
        g_printerr("livemerge %s: cannot connect to the daemon at %s: %s\n",
                   current_command->name, path, err->message);
        *code = EXIT_CONNECT;
    }
    return qmp;
}

/* ------------------------------------------------------------------ */
/* Waiting for a job (virsh's virshBlockJobWait)                       */

static volatile sig_atomic_t interrupted;

static void on_sigint(int signum)
{
    interrupted = 1;
    /* A second Ctrl-C ends the program the usual way. */
    signal(signum, SIG_DFL);
}

typedef struct {
    LmProgress *progress;    /* nullable */
} WaitState;

static gboolean wait_tick(LmJob *job, gpointer data)
{
    WaitState *ws = data;

    if (ws->progress) {
        lm_progress_update(ws->progress, lm_job_info(job));
    }
    return !interrupted;
}

static gboolean wait_for(LmJob *job, LmJobState until, gint64 deadline,
                         WaitState *ws, GError **error)
{
    gboolean ok = lm_job_wait(job, until, deadline, wait_tick, ws, error);

    if (ws->progress) {
        lm_progress_finish(ws->progress);
    }
    return ok;
}

/*
 * The wait was cut short (--timeout, Ctrl-C): abort the job, and unless
 * --async wait until it is gone, so nothing keeps running unseen.
 */
static void abort_after(LmQmp *qmp, LmJob *job, const GError *why)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GError) err = NULL;
    const char *id = lm_job_info(job)->id;

    json_object_set_string_member(args, "device", id);
    if (!lm_qmp_run(qmp, "block-job-cancel", args, &err)) {
        g_printerr("livemerge %s: aborting job '%s': %s\n",
                   current_command->name, id, err->message);
        return;
    }
    if (opt_async) {
        g_printerr("livemerge %s: %s; abort of job '%s' requested\n",
                   current_command->name, why->message, id);
        return;
    }
    if (!lm_job_wait(job, LM_JOB_COMPLETED, 0, NULL, NULL, &err) &&
        !g_error_matches(err, LM_ERROR, LM_ERROR_JOB_CANCELLED)) {
        g_printerr("livemerge %s: waiting for the abort of job '%s': %s\n",
                   current_command->name, id, err->message);
        return;
    }
    g_printerr("livemerge %s: %s; job '%s' aborted\n", current_command->name,
               why->message, id);
}

typedef enum {
    END_NONE,        /* active job: leave it ready */
    END_PIVOT,       /* block-job-complete */
    END_KEEP,        /* block-job-cancel after ready */
} JobEnding;

/* Wait for @started as the options say; fills @result for --json. */
static int wait_job(LmQmp *qmp, LmStarted *started, const char *label,
                    JobEnding ending, JsonObject *result)
{
    g_autoptr(LmJob) job = lm_job_new(qmp, started->job_id);
    g_autoptr(LmProgress) progress = NULL;
    g_autoptr(GError) err = NULL;
    WaitState ws = { 0 };
    gint64 deadline = opt_timeout > 0
        ? g_get_monotonic_time() + (gint64)opt_timeout * G_USEC_PER_SEC : 0;
    struct sigaction sa = { .sa_handler = on_sigint };
    struct sigaction old_sa;
    int code = EXIT_OK;

    if (opt_verbose) {
        progress = lm_progress_new(label, STDERR_FILENO);
        ws.progress = progress;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);

    if (!wait_for(job, started->needs_pivot ? LM_JOB_READY : LM_JOB_COMPLETED,
                  deadline, &ws, &err)) {
        goto out;
    }
    if (started->needs_pivot && lm_job_info(job)->state == LM_JOB_READY) {
        if (ending == END_NONE) {
            if (!opt_json) {
                printf("Now in synchronized phase\n");
            }
            goto out;
        }
        if (!lm_disk_job_abort(qmp, started->disk, ending == END_PIVOT, &err) ||
            !wait_for(job, LM_JOB_COMPLETED, deadline, &ws, &err)) {
            goto out;
        }
        json_object_set_boolean_member(result, "pivoted",
                                       ending == END_PIVOT);
        if (!opt_json) {
            printf(ending == END_PIVOT ? "Successfully pivoted\n"
                                       : "%s complete, overlay kept\n",
                   label);
        }
    } else if (!opt_json) {
        printf("%s complete\n", label);
    }

out:
    sigaction(SIGINT, &old_sa, NULL);
    if (err) {
        if (g_error_matches(err, LM_ERROR, LM_ERROR_TIMEOUT) ||
            g_error_matches(err, LM_ERROR, LM_ERROR_INTERRUPTED)) {
            abort_after(qmp, job, err);
            code = exit_code_of(err);
        } else {
            code = fail(err);
        }
    }
    json_object_set_string_member(result, "state",
                                  lm_job_state_name(lm_job_info(job)->state));
    return code;
}

/* Start line or JSON result of a job command. */
static int finish_job_command(LmQmp *qmp, LmStarted *started,
                              const char *label, JobEnding ending,
                              gboolean delete_after)
{
    g_autoptr(JsonObject) result = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    int code = EXIT_OK;

    json_object_set_string_member(result, "disk", started->disk);
    json_object_set_string_member(result, "job-id", started->job_id);
    if (!opt_wait) {
        json_object_set_string_member(result, "state", "started");
        if (!opt_json) {
            printf("%s started: job '%s' on disk '%s'\n", label,
                   started->job_id, started->disk);
        }
    } else {
        code = wait_job(qmp, started, label, ending, result);
    }
    if (code == EXIT_OK && opt_wait && !delete_after) {
        g_autoptr(GError) err = NULL;

        /* The job succeeded: a node that cannot be closed is only noted */
        if (!lm_close_left_layers(qmp, started, &err)) {
            g_printerr("livemerge: warning: %s\n", err->message);
        }
    }
    if (code == EXIT_OK && delete_after) {
        g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) err = NULL;
        JsonArray *files = json_array_new();

        json_object_set_array_member(result, "deleted", files);
        if (!lm_delete_left_layers(qmp, started, removed, &err)) {
            code = fail(err);
        }
        for (guint i = 0; i < removed->len; i++) {
            json_array_add_string_element(files, removed->pdata[i]);
            if (!opt_json) {
                printf("Deleted %s\n", (char *)removed->pdata[i]);
            }
        }
    }
    if (opt_json) {
        json_node_set_object(node, result);
        print_json(node);
    }
    return code;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

static int cmd_disks(int argc, char **argv)
{
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(GPtrArray) names = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) out = json_node_new(JSON_NODE_ARRAY);
    JsonArray *list = json_array_new();
    int code = EXIT_OK;

    (void)argv;
    json_node_take_array(out, list);
    if (argc != 1) {
        return usage_error("takes no arguments");
    }
    qmp = connect_daemon(&code);
    if (!qmp) {
        return code;
    }
    names = lm_disk_names(qmp, &err);
    if (!names) {
        return fail(err);
    }
    for (guint i = 0; i < names->len; i++) {
        g_autoptr(LmChain) chain = lm_chain_read(qmp, names->pdata[i], &err);
        JsonObject *d = json_object_new();

        if (!chain) {
            json_object_unref(d);
            return fail(err);
        }
        json_object_set_string_member(d, "disk", chain->disk);
        json_object_set_string_member(d, "node", chain->export_node);
        json_object_set_string_member(d, "active",
                                      lm_chain_active(chain)->filename);
        json_object_set_int_member(d, "layers", chain->layers->len);
        json_array_add_object_element(list, d);
        if (!opt_json) {
            printf("%s\t%s\n", chain->disk, lm_chain_active(chain)->filename);
        }
    }
    if (opt_json) {
        print_json(out);
    }
    return EXIT_OK;
}

/* One row per layer, columns as wide as their widest cell. */
static void print_chain_table(LmChain *chain)
{
    g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);
    const guint n_cols = 6;
    int width[6] = { 0 };

    g_ptr_array_add(cells, g_strdup("Index"));
    g_ptr_array_add(cells, g_strdup("Node"));
    g_ptr_array_add(cells, g_strdup("Format"));
    g_ptr_array_add(cells, g_strdup("Size"));
    g_ptr_array_add(cells, g_strdup("Allocated"));
    g_ptr_array_add(cells, g_strdup("File"));
    for (guint i = 0; i < chain->layers->len; i++) {
        LmLayer *l = chain->layers->pdata[i];

        g_ptr_array_add(cells, g_strdup_printf("%s[%u]", chain->disk,
                                               l->index));
        g_ptr_array_add(cells, g_strdup(l->node_name));
        g_ptr_array_add(cells, g_strdup(l->format));
        g_ptr_array_add(cells, g_format_size_full(l->virtual_size,
                                                  G_FORMAT_SIZE_IEC_UNITS));
        g_ptr_array_add(cells, g_format_size_full(l->allocation,
                                                  G_FORMAT_SIZE_IEC_UNITS));
        g_ptr_array_add(cells, g_strdup(l->filename));
    }
    for (guint i = 0; i < cells->len; i++) {
        width[i % n_cols] = MAX(width[i % n_cols],
                                (int)g_utf8_strlen(cells->pdata[i], -1));
    }
    for (guint i = 0; i < cells->len; i += n_cols) {
        char **row = (char **)&cells->pdata[i];

        /* sizes right-aligned, the file last and unpadded */
        printf("%-*s  %-*s  %-*s  %*s  %*s  %s\n", width[0], row[0],
               width[1], row[1], width[2], row[2], width[3], row[3],
               width[4], row[4], row[5]);
    }
}

static int cmd_chain(int argc, char **argv)
{
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(LmChain) chain = NULL;
    g_autoptr(GError) err = NULL;
    int code = EXIT_OK;

    if (argc != 2) {
        return usage_error("needs exactly one DISK");
    }
    if (!check_utf8("DISK", argv[1], &code) ||
        !(qmp = connect_daemon(&code))) {
        return code;
    }
    chain = lm_chain_read(qmp, argv[1], &err);
    if (!chain) {
        return fail(err);
    }
    if (opt_json) {
        g_autoptr(JsonNode) node = lm_chain_to_json(chain);

        print_json(node);
        return EXIT_OK;
    }
    print_chain_table(chain);
    for (guint i = 0; i < chain->jobs->len; i++) {
        printf("block job: %s\n", (char *)chain->jobs->pdata[i]);
    }
    return EXIT_OK;
}

static int cmd_blockcommit(int argc, char **argv)
{
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(LmStarted) started = NULL;
    g_autoptr(GError) err = NULL;
    LmCommitArgs args = { 0 };
    int code = EXIT_OK;

    if (argc != 2) {
        return usage_error("needs exactly one DISK");
    }
    if (opt_pivot && opt_keep_overlay) {
        return usage_error("--pivot and --keep-overlay exclude each other");
    }
    if ((opt_pivot || opt_keep_overlay) && !opt_active) {
        return usage_error("--pivot and --keep-overlay end an --active "
                           "commit");
    }
    if (opt_delete && opt_active && !opt_pivot) {
        return usage_error("--delete with --active needs --pivot (only a "
                           "pivot takes the images out of the chain)");
    }
    args.disk = argv[1];
    args.top = opt_top;
    args.base = opt_base;
    args.shallow = opt_shallow;
    args.active = opt_active;
    args.keep_relative = opt_keep_relative;
    args.copy_mode = opt_copy_mode;
    if (!check_utf8("DISK", args.disk, &code) ||
        !check_utf8("--top", opt_top, &code) ||
        !check_utf8("--base", opt_base, &code) ||
        !parse_bandwidth(&args.bandwidth, &code) ||
        !parse_guest_impact(&args.guest_impact, &code) ||
        !parse_engine(&args.engine, &code) ||
        !parse_wait(opt_pivot || opt_keep_overlay || opt_delete, &code)) {
        return code;
    }
    qmp = connect_daemon(&code);
    if (!qmp) {
        return code;
    }
    started = lm_commit_start(qmp, &args, &err);
    if (!started) {
        return fail(err);
    }
    return finish_job_command(qmp, started, "Block Commit",
                              opt_pivot ? END_PIVOT
                              : opt_keep_overlay ? END_KEEP : END_NONE,
                              opt_delete);
}

static int cmd_blockpull(int argc, char **argv)
{
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(LmStarted) started = NULL;
    g_autoptr(GError) err = NULL;
    LmPullArgs args = { 0 };
    int code = EXIT_OK;

    if (argc != 2) {
        return usage_error("needs exactly one DISK");
    }
    args.disk = argv[1];
    args.base = opt_base;
    args.keep_relative = opt_keep_relative;
    if (!check_utf8("DISK", args.disk, &code) ||
        !check_utf8("--base", opt_base, &code) ||
        !parse_bandwidth(&args.bandwidth, &code) ||
        !parse_guest_impact(&args.guest_impact, &code) ||
        !parse_engine(&args.engine, &code) ||
        !parse_wait(FALSE, &code)) {
        return code;
    }
    qmp = connect_daemon(&code);
    if (!qmp) {
        return code;
    }
    started = lm_pull_start(qmp, &args, &err);
    if (!started) {
        return fail(err);
    }
    return finish_job_command(qmp, started, "Block Pull", END_NONE, FALSE);
}

static int cmd_blockcopy(int argc, char **argv)
{
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(LmStarted) started = NULL;
    g_autoptr(GError) err = NULL;
    LmCopyArgs args = { 0 };
    int code = EXIT_OK;

    if (argc != 3) {
        return usage_error("needs DISK and DEST");
    }
    if (opt_pivot && opt_finish) {
        return usage_error("--pivot and --finish exclude each other");
    }
    args.disk = argv[1];
    args.dest = argv[2];
    args.format = opt_format;
    args.shallow = opt_shallow;
    args.reuse_external = opt_reuse_external;
    args.synchronous_writes = opt_sync_writes;
    if (!check_utf8("DISK", args.disk, &code) ||
        !check_utf8("DEST", args.dest, &code) ||
        !parse_size("--granularity", opt_granularity, &args.granularity,
                    &code) ||
        !parse_size("--buf-size", opt_buf_size, &args.buf_size, &code) ||
        !parse_bandwidth(&args.bandwidth, &code) ||
        !parse_guest_impact(&args.guest_impact, &code) ||
        !parse_engine(&args.engine, &code) ||
        !parse_wait(opt_pivot || opt_finish, &code)) {
        return code;
    }
    qmp = connect_daemon(&code);
    if (!qmp) {
        return code;
    }
    started = lm_copy_start(qmp, &args, &err);
    if (!started) {
        return fail(err);
    }
    code = finish_job_command(qmp, started, "Block Copy",
                              opt_pivot ? END_PIVOT
                              : opt_finish ? END_KEEP : END_NONE, FALSE);
    if (code == EXIT_OK && opt_finish &&
        !lm_copy_release_target(qmp, started, &err)) {
        return fail(err);
    }
    return code;
}

static int blockjob_info(LmQmp *qmp, const char *disk)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *job_id = lm_disk_job(qmp, disk, &err);
    g_autoptr(LmJob) job = NULL;
    const LmJobInfo *info;

    if (!job_id) {
        if (!g_error_matches(err, LM_ERROR, LM_ERROR_NO_JOB)) {
            return fail(err);
        }
        if (opt_json) {
            printf("null\n");
        } else {
            printf("No current block job for %s\n", disk);
        }
        return EXIT_OK;
    }
    job = lm_job_new(qmp, job_id);
    if (!lm_job_refresh(job, &err)) {
        return fail(err);
    }
    info = lm_job_info(job);
    if (opt_json) {
        g_autoptr(JsonNode) node = lm_job_info_to_json(info);

        print_json(node);
    } else {
        printf("%s job '%s' on %s: %s, %.0f %% [%" G_GUINT64_FORMAT " of "
               "%" G_GUINT64_FORMAT " bytes], bandwidth limit %" G_GINT64_FORMAT
               " bytes/s\n", info->type ? info->type : "block", job_id, disk,
               info->status ? info->status : lm_job_state_name(info->state),
               info->percent, info->offset, info->len, info->speed);
    }
    return EXIT_OK;
}

/* After a pivot: close the nodes that left @disk's chain since @before */
static void close_left_since(LmQmp *qmp, const char *disk, LmChain *before)
{
    g_autoptr(GError) err = NULL;

    /* The pivot happened: a node that cannot be closed is only noted */
    if (before && !lm_close_left_since(qmp, disk, before, &err)) {
        g_printerr("livemerge: warning: %s\n", err->message);
    }
}

static int blockjob_abort(LmQmp *qmp, const char *disk)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmChain) before = lm_chain_read(qmp, disk, NULL);
    g_autofree char *job_id = lm_disk_job_abort(qmp, disk, opt_pivot, &err);
    g_autoptr(LmJob) job = NULL;

    if (!job_id) {
        return fail(err);
    }
    if (!opt_async) {
        job = lm_job_new(qmp, job_id);
        if (!lm_job_wait(job, LM_JOB_COMPLETED, 0, NULL, NULL, &err) &&
            !g_error_matches(err, LM_ERROR, LM_ERROR_JOB_CANCELLED)) {
            return fail(err);
        }
        if (opt_pivot) {
            close_left_since(qmp, disk, before);
        }
    }
    if (opt_json) {
        g_autoptr(JsonObject) r = json_object_new();
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

        json_object_set_string_member(r, "disk", disk);
        json_object_set_string_member(r, "job-id", job_id);
        json_object_set_boolean_member(r, "pivoted", opt_pivot);
        json_object_set_string_member(r, "state", job ? lm_job_state_name(
            lm_job_info(job)->state) : "requested");
        json_node_set_object(node, r);
        print_json(node);
    } else {
        printf("%s job '%s' on %s\n",
               opt_pivot ? (opt_async ? "Pivot requested for" : "Pivoted")
                         : (opt_async ? "Abort requested for" : "Aborted"),
               job_id, disk);
    }
    return EXIT_OK;
}

static int blockjob_group_pivot(LmQmp *qmp, const char *const *disks)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) before = g_ptr_array_new_with_free_func(
        (GDestroyNotify)lm_chain_free);
    g_autoptr(GPtrArray) job_ids = NULL;

    for (guint i = 0; disks[i]; i++) {
        g_ptr_array_add(before, lm_chain_read(qmp, disks[i], NULL));
    }
    job_ids = lm_group_pivot(qmp, disks, &err);
    if (!job_ids) {
        return fail(err);
    }
    for (guint i = 0; i < job_ids->len && !opt_async; i++) {
        g_autoptr(LmJob) job = lm_job_new(qmp, job_ids->pdata[i]);

        if (!lm_job_wait(job, LM_JOB_COMPLETED, 0, NULL, NULL, &err)) {
            return fail(err);
        }
        close_left_since(qmp, disks[i], before->pdata[i]);
    }
    if (opt_json) {
        printf("{\"pivoted\": %u}\n", job_ids->len);
    } else {
        printf("Pivoted %u disks together\n", job_ids->len);
    }
    return EXIT_OK;
}

static int cmd_blockjob(int argc, char **argv)
{
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(GError) err = NULL;
    LmBandwidth bw = { 0 };
    guint guest_impact;
    int code = EXIT_OK;
    int modes = !!opt_info + !!opt_abort + !!opt_bandwidth +
                !!opt_guest_impact;

    if (argc < 2) {
        return usage_error("needs a DISK");
    }
    for (int i = 1; i < argc; i++) {
        if (!check_utf8("DISK", argv[i], &code)) {
            return code;
        }
    }
    if (modes > 1) {
        return usage_error("--info, --abort, --bandwidth and --guest-impact "
                           "exclude each other");
    }
    if (argc > 2 && !(opt_pivot && !opt_abort && modes == 0)) {
        return usage_error("several disks only with --pivot (a group pivot)");
    }
    if (opt_async && !opt_abort && !opt_pivot) {
        return usage_error("--async goes with --abort or --pivot");
    }
    if (opt_pivot && modes == 0) {
        opt_abort = argc == 2;
    }
    if (!parse_bandwidth(&bw, &code) ||
        !parse_guest_impact(&guest_impact, &code)) {
        return code;
    }
    qmp = connect_daemon(&code);
    if (!qmp) {
        return code;
    }
    if (argc > 2) {
        return blockjob_group_pivot(qmp, (const char *const *)argv + 1);
    }
    if (opt_abort) {
        return blockjob_abort(qmp, argv[1]);
    }
    if (opt_bandwidth &&
        !lm_disk_job_set_bandwidth(qmp, argv[1], &bw, &err)) {
        return fail(err);
    }
    if (opt_guest_impact &&
        !lm_disk_job_set_guest_impact(qmp, argv[1], guest_impact, &err)) {
        return fail(err);
    }
    return blockjob_info(qmp, argv[1]);
}

static int cmd_snapshot(int argc, char **argv)
{
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree LmSnapshotTarget *targets = NULL;
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    int code = EXIT_OK;

    if (argc < 2) {
        return usage_error("needs DISK=FILE (one per disk)");
    }
    if (opt_quiesce != (opt_guest_agent != NULL)) {
        return usage_error("--quiesce and --guest-agent SOCKET go together "
                           "(the agent is how the guest gets frozen)");
    }
    targets = g_new0(LmSnapshotTarget, argc - 1);
    for (int i = 1; i < argc; i++) {
        const char *eq = strrchr(argv[i], '=');

        if (!check_utf8("DISK=FILE", argv[i], &code)) {
            return code;
        }
        if (!eq || eq == argv[i] || !eq[1]) {
            return usage_error("'%s' is not DISK=FILE", argv[i]);
        }
        g_ptr_array_add(disks, g_strndup(argv[i], eq - argv[i]));
        targets[i - 1].disk = disks->pdata[i - 1];
        targets[i - 1].file = eq + 1;
    }
    if (!check_utf8("--guest-agent", opt_guest_agent, &code)) {
        return code;
    }
    qmp = connect_daemon(&code);
    if (!qmp) {
        return code;
    }
    if (!lm_snapshot(qmp, targets, argc - 1, opt_guest_agent, &err)) {
        return fail(err);
    }
    if (opt_json) {
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);
        JsonArray *list = json_array_new();

        for (int i = 0; i < argc - 1; i++) {
            JsonObject *s = json_object_new();

            json_object_set_string_member(s, "disk", targets[i].disk);
            json_object_set_string_member(s, "overlay", targets[i].file);
            json_array_add_object_element(list, s);
        }
        json_node_take_array(node, list);
        print_json(node);
    } else {
        for (int i = 0; i < argc - 1; i++) {
            printf("Snapshot of %s: %s\n", targets[i].disk, targets[i].file);
        }
    }
    return EXIT_OK;
}

static const Command commands[] = {
    { "disks", "", "list the disks (block exports)", no_entries, cmd_disks },
    { "chain", "DISK", "show a disk's backing chain", no_entries, cmd_chain },
    { "blockcommit", "DISK", "commit images of a disk's chain into a lower "
      "one", commit_entries, cmd_blockcommit },
    { "blockpull", "DISK", "pull backing images into the active layer",
      pull_entries, cmd_blockpull },
    { "blockcopy", "DISK DEST", "copy a disk to a new image, live",
      copy_entries, cmd_blockcopy },
    { "blockjob", "DISK [DISK...]", "show, abort, pivot or limit a disk's "
      "block job", blockjob_entries, cmd_blockjob },
    { "snapshot", "DISK=FILE [DISK=FILE...]", "disk-only external snapshot "
      "(all disks at once)", snapshot_entries, cmd_snapshot },
};

static char *commands_summary(void)
{
    GString *s = g_string_new("Commands:\n");

    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_string_append_printf(s, "  %-12s %s\n", commands[i].name,
                               commands[i].summary);
    }
    g_string_append(s, "\n'livemerge COMMAND --help' shows a command's "
                       "options.\n\nExit status: 0 done, 1 refused or "
                       "failed, 2 bad command line, 3 cannot connect, 4 "
                       "--timeout expired (job aborted), 5 interrupted (job "
                       "aborted).");
    return g_string_free(s, FALSE);
}

static int run_command(const Command *cmd, int argc, char **argv)
{
    g_autofree char *prgname = g_strdup_printf("livemerge %s", cmd->name);
    g_autoptr(GOptionContext) ctx = g_option_context_new(cmd->args);
    g_autoptr(GError) err = NULL;

    current_command = cmd;
    g_set_prgname(prgname);
    g_option_context_set_summary(ctx, cmd->summary);
    g_option_context_add_main_entries(ctx, cmd->entries, NULL);
    g_option_context_add_main_entries(ctx, common_entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        return usage_error("%s", err->message);
    }
    /* GOption leaves "--" in place; it only ends the options. */
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "--")) {
            memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(char *));
            argc--;
            break;
        }
    }
    return cmd->run(argc, argv);
}

/* Names are UTF-8 and go out as they came in, whatever the locale. */
static void print_raw(const char *text)
{
    fputs(text, stderr);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS...]");
    g_autofree char *summary = commands_summary();
    g_autoptr(GError) err = NULL;

    setlocale(LC_ALL, "");
    g_set_printerr_handler(print_raw);
    g_set_prgname("livemerge");
    g_option_context_set_summary(ctx, "Live block operations (commit, pull, "
                                 "copy, snapshot) on the disks of a "
                                 "qemu-storage-daemon, the way virsh does "
                                 "them for a VM.");
    g_option_context_set_description(ctx, summary);
    g_option_context_add_main_entries(ctx, common_entries, NULL);
    /* Options after the command belong to the command. */
    g_option_context_set_strict_posix(ctx, TRUE);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        return usage_error("%s", err->message);
    }
    if (argc < 2) {
        return usage_error("no command; one of: disks, chain, blockcommit, "
                           "blockpull, blockcopy, blockjob, snapshot");
    }
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (g_str_equal(argv[1], commands[i].name)) {
            return run_command(&commands[i], argc - 1, argv + 1);
        }
    }
    return usage_error("unknown command '%s'", argv[1]);
}
