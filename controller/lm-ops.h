/*
 * livemerge - libvirt's block operations for a qemu-storage-daemon
 *
 * Each operation reads the disk's chain from the daemon, checks what
 * libvirt checks (qemuDomainBlockCommit and friends), then starts one job.
 * A refusal is an LM_ERROR naming the disk and the image and saying what
 * to do; the daemon's own refusal (LM_QMP_ERROR) is the last word.
 *
 * The livemerge engine runs the plugin's livemerge-commit / -stream /
 * -mirror; the native engine QEMU's block-commit / block-stream /
 * blockdev-mirror, through the same checks, so both can be compared and a
 * daemon without the plugin can be served.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_OPS_H
#define LM_OPS_H

#include "lm-chain.h"
#include "lm-job.h"

G_BEGIN_DECLS

typedef enum {
    LM_ENGINE_LIVEMERGE,
    LM_ENGINE_NATIVE,
} LmEngine;

/*
 * The disk's chain for a new job: LM_ERROR_DISK_BUSY if a block job or a
 * livemerge filter already uses it.
 */
LmChain *lm_chain_read_for_job(LmQmp *qmp, const char *disk, GError **error);

/* "livemerge" / "native" -> @engine; FALSE for anything else. */
gboolean lm_engine_parse(const char *name, LmEngine *engine);

/*
 * The livemerge engine's guest impact: the share of the guest's performance,
 * in percent, a job's copy may take while the guest does I/O (100: copy at
 * full pace).  0 in the arguments below leaves the daemon's default (50).
 */
#define LM_GUEST_IMPACT_MIN 1
#define LM_GUEST_IMPACT_MAX 100

/* Bandwidth as virsh takes it: MiB/s, or bytes/s with @bytes. */
typedef struct {
    guint64 value;
    gboolean bytes;
} LmBandwidth;

/* A job an operation started, and what it needs to finish it. */
typedef struct {
    char *job_id;
    char *disk;
    gboolean needs_pivot;     /* active commit / copy: READY, then pivot */
    GPtrArray *leaving;       /* LmLayer *: layers that leave the chain */
    char *target_node;        /* copy: the new image's node */
    char *target_file_node;
} LmStarted;

void lm_started_free(LmStarted *started);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmStarted, lm_started_free)

typedef struct {
    const char *disk;
    const char *top;          /* nullable: the active layer */
    const char *base;         /* nullable: the bottom (or below top, shallow) */
    gboolean shallow;
    gboolean active;
    gboolean keep_relative;
    LmBandwidth bandwidth;
    const char *copy_mode;    /* livemerge engine only, nullable */
    guint guest_impact;       /* livemerge engine only, 0: the default */
    LmEngine engine;
} LmCommitArgs;

LmStarted *lm_commit_start(LmQmp *qmp, const LmCommitArgs *args,
                           GError **error);

typedef struct {
    const char *disk;
    const char *base;         /* nullable: pull everything */
    gboolean keep_relative;
    LmBandwidth bandwidth;
    guint guest_impact;       /* livemerge engine only, 0: the default */
    LmEngine engine;
} LmPullArgs;

LmStarted *lm_pull_start(LmQmp *qmp, const LmPullArgs *args, GError **error);

typedef struct {
    const char *disk;
    const char *dest;         /* the copy's file */
    const char *format;       /* nullable: the active layer's */
    gboolean shallow;         /* copy the active layer, share its backing */
    gboolean reuse_external;  /* @dest exists: do not create it */
    gboolean synchronous_writes;
    guint64 granularity;      /* 0: the default */
    guint64 buf_size;         /* 0: the default */
    LmBandwidth bandwidth;
    guint guest_impact;       /* livemerge engine only, 0: the default */
    LmEngine engine;
} LmCopyArgs;

LmStarted *lm_copy_start(LmQmp *qmp, const LmCopyArgs *args, GError **error);

/* The id of @disk's block job; LM_ERROR_NO_JOB if it has none. */
char *lm_disk_job(LmQmp *qmp, const char *disk, GError **error);

/*
 * End @disk's job: with @pivot, switch to the new image (block-job-complete;
 * the job must be READY); without, cancel (a READY copy or active commit
 * then ends keeping the current image).  Returns the job id.
 */
char *lm_disk_job_abort(LmQmp *qmp, const char *disk, gboolean pivot,
                        GError **error);
gboolean lm_disk_job_set_bandwidth(LmQmp *qmp, const char *disk,
                                   const LmBandwidth *bandwidth,
                                   GError **error);
/*
 * Change the guest impact of @disk's running job (the plugin's
 * livemerge-set-guest-impact); a job of QEMU's own is refused.
 */
gboolean lm_disk_job_set_guest_impact(LmQmp *qmp, const char *disk,
                                      guint guest_impact, GError **error);

/*
 * Pivot the READY jobs of @disks (NULL-terminated) together, with the
 * plugin's livemerge-complete.  Returns their job ids (GPtrArray of char *),
 * to wait on.
 */
GPtrArray *lm_group_pivot(LmQmp *qmp, const char *const *disks,
                          GError **error);

/*
 * After a copy ended without a pivot: remove the copy's nodes from the
 * daemon, so its file is closed (the file stays).
 */
gboolean lm_copy_release_target(LmQmp *qmp, LmStarted *started,
                                GError **error);

/*
 * After a job ended: blockdev-del the nodes that left @disk's chain, as
 * libvirt does (a node left open keeps its backing link, which blocks the
 * next snapshot or job on that image).  Nodes still (or again) in the
 * chain, and nodes something else still uses, stay.
 */
gboolean lm_close_left_layers(LmQmp *qmp, LmStarted *started,
                              GError **error);
/* The same for a job ended by another command: what left since @before */
gboolean lm_close_left_since(LmQmp *qmp, const char *disk, LmChain *before,
                             GError **error);

/*
 * After a commit ended: close the layers that left @disk's chain and
 * remove their files, never one still open in the daemon or outside the
 * layers that left.  Fills @removed (nullable) with the file names.
 */
gboolean lm_delete_left_layers(LmQmp *qmp, LmStarted *started,
                               GPtrArray *removed, GError **error);

G_END_DECLS

#endif /* LM_OPS_H */
