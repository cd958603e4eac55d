/*
 * livemerge tests - qcow2 backing chains and commit jobs in a daemon
 *
 * A CommitChain is n qcow2 images in the daemon's directory,
 * DIR/layer0.qcow2 (the base) ... DIR/layerN-1.qcow2 (the active layer),
 * each created with the one below as its backing file.  In the daemon every
 * layer is two explicit nodes, "layerI-file" (file) and "layerI" (qcow2,
 * "backing": "layerI-1"), the layers below the active one read-only, and
 * the active layer is exported writable over NBD as "disk".
 *
 * The layers' content is written by a guest (LmTestGuest), so that the
 * guest's model of the disk is the truth every check compares with:
 *  - online: each layer is opened read-write, exported, written through
 *    the export, then reopened read-only under the next overlay
 *    (commit_chain_build());
 *  - offline, before the daemon opens the chain: each layer through a
 *    private qemu-nbd (commit_chain_build_offline(), then
 *    commit_chain_open()).
 *
 * The job helpers collect a job's events in order; the graph helpers
 * describe the chain the export serves as a string ("layer2(rw) >
 * layer1(ro) > layer0(ro)"), so "the chain is unchanged" is a string
 * comparison.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef COMMIT_FIXTURE_H
#define COMMIT_FIXTURE_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "lm-job.h"
#include "lm-qmp.h"
#include "lm-test-guest.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

G_BEGIN_DECLS

#define COMMIT_KiB G_GUINT64_CONSTANT(1024)
#define COMMIT_MiB G_GUINT64_CONSTANT(1048576)

/* The NBD export (and export id) of the disk. */
#define COMMIT_CHAIN_EXPORT "disk"
/* Default virtual size of a chain. */
#define COMMIT_CHAIN_DEFAULT_SIZE "32M"
/* Bound for waiting on a job's events. */
#define COMMIT_JOB_TIMEOUT_MS 30000

typedef struct CommitChain CommitChain;

/*
 * Create the image files of an @n_layers chain in @qsd's directory (each
 * backed by the one below, absolute backing paths).  @cluster_sizes has
 * one entry per layer ("64k", "512k", "4k", "2M", or a byte count; NULL
 * entries or a NULL array: 64k).  Nothing is opened in the daemon yet.
 */
CommitChain *commit_chain_new(LmTestQsd *qsd, guint n_layers,
                              const char *const *cluster_sizes);
/* The same with a virtual size other than COMMIT_CHAIN_DEFAULT_SIZE. */
CommitChain *commit_chain_new_full(LmTestQsd *qsd, guint n_layers,
                                   const char *const *cluster_sizes,
                                   const char *size);
void commit_chain_free(CommitChain *chain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CommitChain, commit_chain_free)

guint commit_chain_n_layers(CommitChain *chain);
LmTestQsd *commit_chain_qsd(CommitChain *chain);
/* The daemon's monitor. */
LmQmp *commit_chain_qmp(CommitChain *chain);
/* Image file of @layer. */
const char *commit_chain_path(CommitChain *chain, guint layer);
/* "layerI" and "layerI-file". */
const char *commit_chain_node(CommitChain *chain, guint layer);
const char *commit_chain_file_node(CommitChain *chain, guint layer);
guint64 commit_chain_cluster_size(CommitChain *chain, guint layer);
guint64 commit_chain_size(CommitChain *chain);

/* What fills a layer: guest writes, zeroes and discards. */
typedef void (*CommitLayerFill)(CommitChain *chain, guint layer,
                                LmTestGuest *guest, gpointer data);

/*
 * Build the chain in the daemon, layer by layer from the base: open the
 * layer read-write (over the read-only layers below), export it, connect
 * @guest, run @fill, flush; then, below the active layer, disconnect and
 * reopen the layer read-only.  Ends with the active layer exported as
 * "disk" and @guest connected to it.  @fill may be NULL.
 */
void commit_chain_build(CommitChain *chain, LmTestGuest *guest,
                        CommitLayerFill fill, gpointer data);
/*
 * Fill the layers offline, from the base, each through a private
 * qemu-nbd on its image; the daemon must not have them open.  @guest is
 * left disconnected: commit_chain_open(), then commit_chain_connect().
 */
void commit_chain_build_offline(CommitChain *chain, LmTestGuest *guest,
                                CommitLayerFill fill, gpointer data);

/* Add every layer (the active one read-write) and export the active one. */
void commit_chain_open(CommitChain *chain);
/* Connect @guest to the "disk" export. */
void commit_chain_connect(CommitChain *chain, LmTestGuest *guest);

/* Add @layer's nodes; the layer below must be open (backing reference). */
void commit_chain_add_layer(CommitChain *chain, guint layer,
                            gboolean read_only);
/* blockdev-del @layer's nodes (nothing may use them any more). */
void commit_chain_del_layer(CommitChain *chain, guint layer);
gboolean commit_chain_layer_is_open(CommitChain *chain, guint layer);
/* Export @node as "disk"; delete the export, waiting until it is gone. */
void commit_chain_export_node(CommitChain *chain, const char *node);
void commit_chain_unexport(CommitChain *chain);

/*
 * The node the "disk" export serves and, downwards through livemerge
 * filters ("file") and backing links, the chain below it, with read-only
 * flags: e.g. "layer2(rw) > layer1(ro) > layer0(ro)"; a filter shows as
 * "NAME[livemerge](rw)".
 */
char *commit_describe_export(LmQmp *qmp);
/*
 * Asserts commit_describe_export() is @want; on a mismatch the test log
 * gets the whole block graph with permissions, to show why.
 */
void commit_assert_export_chain(LmQmp *qmp, const char *want);
/* The same from @node down. */
char *commit_describe_chain(LmQmp *qmp, const char *node);
/* The node-name of @node's backing child, NULL if none. */
char *commit_backing_node(LmQmp *qmp, const char *node);
/* query-named-block-nodes "ro" of @node; asserts the node exists. */
gboolean commit_node_read_only(LmQmp *qmp, const char *node);
/* query-named-block-nodes' entry of @node (a new reference), or NULL. */
JsonObject *commit_query_node(LmQmp *qmp, const char *node);

/* Asserts query-block-jobs and query-jobs are both empty. */
void commit_assert_no_jobs(LmQmp *qmp);
/*
 * Asserts the daemon has exactly the nodes of the chain's open layers
 * plus @extra_nodes (NULL-terminated, nullable): no livemerge filter and
 * no implicit or leftover node.
 */
void commit_chain_assert_nodes(CommitChain *chain,
                               const char *const *extra_nodes);

/* ------------------------------------------------------------------ */
/* Jobs */

/* Events of one job, in arrival order. */
typedef struct {
    char *job_id;
    GString *statuses;       /* JOB_STATUS_CHANGE: "created running ..." */
    GPtrArray *events;       /* every event of the job (JsonObject) */
    GPtrArray *other;        /* other events that arrived meanwhile */
    JsonObject *ready;       /* BLOCK_JOB_READY, borrowed from events */
    JsonObject *completed;   /* BLOCK_JOB_COMPLETED */
    JsonObject *cancelled;   /* BLOCK_JOB_CANCELLED */
    guint n_errors;          /* BLOCK_JOB_ERROR */
    char *last_status;
    LmJob *watcher;          /* the job's events come through it */
} CommitJobLog;

CommitJobLog *commit_job_log_new(const char *job_id);
void commit_job_log_free(CommitJobLog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CommitJobLog, commit_job_log_free)

/*
 * Collect events until the job's JOB_STATUS_CHANGE reports @status
 * ("ready", "paused", "pending", "concluded", "null", ...); fails the test
 * after @timeout_ms (< 0: COMMIT_JOB_TIMEOUT_MS) or if the job reaches
 * "null" first.  Returns immediately if @status was already seen last.
 */
void commit_job_log_wait(CommitJobLog *log, LmQmp *qmp, const char *status,
                         int timeout_ms);
/*
 * Collect events until the job's @event (e.g. "BLOCK_JOB_READY") is in
 * the log, e.g. after its status change was seen; fails the test after
 * @timeout_ms (< 0: COMMIT_JOB_TIMEOUT_MS).
 */
void commit_job_log_wait_event(CommitJobLog *log, LmQmp *qmp,
                               const char *event, int timeout_ms);
/*
 * Several jobs at once: collect events, each into its job's log, until
 * every one of the @n logs has seen @status last; fails the test after
 * @timeout_ms (< 0: COMMIT_JOB_TIMEOUT_MS).
 */
void commit_job_logs_wait(CommitJobLog *const *logs, guint n, LmQmp *qmp,
                          const char *status, int timeout_ms);
/* Collect whatever events have arrived, without waiting. */
void commit_job_log_poll(CommitJobLog *log, LmQmp *qmp);

/* Run @command with the printf-built JSON arguments; asserts success. */
void commit_qmp_ok(LmQmp *qmp, const char *command, const char *args_fmt,
                   ...) G_GNUC_PRINTF(3, 4);
/* Start livemerge-commit with the printf-built arguments; asserts success. */
void commit_start(LmQmp *qmp, const char *args_fmt, ...) G_GNUC_PRINTF(2, 3);
/*
 * Run a started job to @status (usually "null"), collecting its events;
 * the caller frees the log.
 */
CommitJobLog *commit_job_run(LmQmp *qmp, const char *job_id,
                             const char *status);
/* Asserts the log holds a BLOCK_JOB_COMPLETED with no error and
 * offset == len; returns len. */
gint64 commit_job_assert_completed(CommitJobLog *log);

/* The job's query-block-jobs entry (a new reference), NULL if none. */
JsonObject *commit_query_block_job(LmQmp *qmp, const char *job_id);

/* data.@member of an event, or NULL. */
const char *commit_event_str(JsonObject *event, const char *member);
gint64 commit_event_int(JsonObject *event, const char *member);

/* ------------------------------------------------------------------ */
/* Other job kinds (stream, mirror) and group commands */

/*
 * TRUE if the daemon has QMP @command; else the test is skipped with a
 * message naming it (commands that are not there yet).
 */
gboolean commit_require_command(LmQmp *qmp, const char *command);
/* As commit_job_assert_completed(), for a job of @type ("stream", ...). */
gint64 commit_job_assert_completed_type(CommitJobLog *log, const char *type);
/*
 * Run @command with @args (JSON object text) and assert it is refused
 * with a GenericError whose desc is @exact, or (@exact NULL) names
 * '@arg' and, unless NULL, @value (quoted, or a number on its own).
 */
void commit_assert_refusal(LmQmp *qmp, const char *command, const char *args,
                           const char *exact, const char *arg,
                           const char *value);
/* @msg shows @value: quoted, or as a number standing on its own. */
gboolean commit_names_value(const char *msg, const char *value);
/*
 * blockdev-add "@node-file" (file on @path) and @node (format @fmt,
 * "qcow2" or "raw"; qcow2 backed by @backing_node, NULL: none).
 */
void commit_add_image_node(LmQmp *qmp, const char *node, const char *path,
                           const char *fmt, const char *backing_node);
/*
 * blockdev-add @fault_node, a blkdebug node over @image_node that fails
 * flushes with EIO: the first one only (@once), or every one until the
 * next data read through it (blkdebug's state 1 to 2; the read's own
 * rule, which matches no request, replaces the flush's among the active
 * ones).  The caller puts it under a format node with blockdev-reopen, so
 * the fault starts where the test wants it.
 */
void commit_add_flush_fault(LmQmp *qmp, const char *fault_node,
                            const char *image_node, gboolean once);
/*
 * From now on the flushes of @node (an unbacked qcow2 node over the file
 * node "@node-file") fail: commit_add_flush_fault()'s "@node-fault" is
 * put between them with blockdev-reopen, @node read-write.
 */
void commit_fail_flushes(LmQmp *qmp, const char *node, gboolean once);
/* Asserts no livemerge filter node is left in the daemon. */
void commit_assert_no_filter_nodes(LmQmp *qmp);
/* The node the export @export_id serves. */
char *commit_export_node(LmQmp *qmp, const char *export_id);

/* ------------------------------------------------------------------ */
/* Images */

/*
 * "qemu-img map" of @layer's image alone (its backing file left out), so
 * that unallocated clusters show as not present.
 */
GArray *commit_layer_map(CommitChain *chain, guint layer);
/* "qemu-img info" "actual-size" of @layer's image. */
gint64 commit_layer_actual_size(CommitChain *chain, guint layer);
/* SHA-256 of @layer's image file. */
char *commit_layer_checksum(CommitChain *chain, guint layer);

/*
 * The end of a test that moved data: verify the guest's view online,
 * disconnect, stop the daemon, verify the view again offline through
 * @view_layer's image (what the disk is now: the active layer, or the
 * base after a pivot), and run "qemu-img check" on every image.
 */
void commit_chain_finish(CommitChain *chain, LmTestGuest *guest,
                         guint view_layer);

/* Asserting wrappers. */
void commit_verify(LmTestGuest *guest);
void commit_write(LmTestGuest *guest, guint64 offset, guint64 bytes);
void commit_zero(LmTestGuest *guest, guint64 offset, guint64 bytes);
void commit_discard(LmTestGuest *guest, guint64 offset, guint64 bytes);

G_END_DECLS

#endif /* COMMIT_FIXTURE_H */
