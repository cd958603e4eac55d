/*
 * livemerge QMP arguments: one reader for every livemerge-* command
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Runtime commands have no QAPI schema, so each command describes its
 * arguments in a table (name, type, optional, where the value goes in its
 * own struct) and this reader fills the struct with a QObject input
 * visitor, the way QAPI's generated marshallers do: missing, mistyped and
 * unexpected members get QEMU's usual errors.  The checks every job
 * command shares (job id, device, filter name, speed, copy options, error
 * policies) are here too, so each refusal reads the same everywhere and
 * names the argument and its value.
 */

#ifndef LIVEMERGE_QMP_ARGS_H
#define LIVEMERGE_QMP_ARGS_H

#include "qapi/qapi-types-block-core.h"
#include "qemu-compat.h"

#include "copy-job.h"

typedef enum LivemergeArgType {
    LM_ARG_STR,             /* char * */
    LM_ARG_INT,             /* int64_t */
    LM_ARG_BOOL,            /* bool */
    LM_ARG_ON_ERROR,        /* BlockdevOnError */
    LM_ARG_STR_LIST,        /* strList * */
} LivemergeArgType;

typedef struct LivemergeArgSpec {
    const char *name;
    LivemergeArgType type;
    bool optional;
    size_t offset;          /* of the value in the command's struct */
    size_t has_offset;      /* of its bool "given" (optional ones) */
} LivemergeArgSpec;

/* @in: empty, or the member of @st that holds @field ("job.") */
#define LM_ARG_REQUIRED(type_, st, in, field, name_) \
    { .name = (name_), .type = (type_), .offset = offsetof(st, in field) }
#define LM_ARG_OPTIONAL(type_, st, in, field, name_) \
    { .name = (name_), .type = (type_), .optional = true, \
      .offset = offsetof(st, in field), \
      .has_offset = offsetof(st, in has_##field) }

/*
 * Read @args as described by the @n entries of @spec into @out.  On
 * failure the values read so far are freed.
 */
bool livemerge_qmp_read_args(QDict *args, const LivemergeArgSpec *spec,
                             int n, void *out, Error **errp);
void livemerge_qmp_free_args(const LivemergeArgSpec *spec, int n, void *out);

/* Look up node @name given as argument @arg, with an error naming both */
BlockDriverState *livemerge_qmp_find_node(const char *arg, const char *name,
                                          Error **errp);

/*
 * The base-node @name: an image, not a filter (a job ending on a filter
 * as its base would drop it from the chain)
 */
BlockDriverState *livemerge_qmp_find_base_node(const char *name,
                                               Error **errp);

/*
 * Check @name, given as argument @arg, for a node that is about to be
 * created: well-formed, not too long, not taken.
 */
bool livemerge_qmp_check_new_node_name(const char *arg, const char *name,
                                       Error **errp);

/* What every job command takes */
typedef struct LivemergeJobArgs {
    char *job_id;
    char *device;
    bool has_filter_node_name;
    char *filter_node_name;
    bool has_speed;
    int64_t speed;
    bool has_auto_finalize;
    bool auto_finalize;
    bool has_auto_dismiss;
    bool auto_dismiss;
    bool has_guest_impact;
    int64_t guest_impact;
} LivemergeJobArgs;

/* The entries of LivemergeJobArgs in @st's member @m */
#define LM_JOB_ARGS(st, m) \
    LM_ARG_REQUIRED(LM_ARG_STR, st, m., job_id, "job-id"), \
    LM_ARG_REQUIRED(LM_ARG_STR, st, m., device, "device"), \
    LM_ARG_OPTIONAL(LM_ARG_STR, st, m., filter_node_name, \
                    "filter-node-name"), \
    LM_ARG_OPTIONAL(LM_ARG_INT, st, m., speed, "speed"), \
    LM_ARG_OPTIONAL(LM_ARG_BOOL, st, m., auto_finalize, "auto-finalize"), \
    LM_ARG_OPTIONAL(LM_ARG_BOOL, st, m., auto_dismiss, "auto-dismiss"), \
    LM_ARG_OPTIONAL(LM_ARG_INT, st, m., guest_impact, "guest-impact")

/* How the copy is made: commit and mirror */
typedef struct LivemergeCopyArgs {
    bool has_copy_mode;
    char *copy_mode;
    bool has_granularity;
    int64_t granularity;
    bool has_buf_size;
    int64_t buf_size;
    bool has_max_in_flight;
    int64_t max_in_flight;
} LivemergeCopyArgs;

/* The entries of LivemergeCopyArgs in @st's member @m */
#define LM_COPY_ARGS(st, m) \
    LM_ARG_OPTIONAL(LM_ARG_STR, st, m., copy_mode, "copy-mode"), \
    LM_ARG_OPTIONAL(LM_ARG_INT, st, m., granularity, "granularity"), \
    LM_ARG_OPTIONAL(LM_ARG_INT, st, m., buf_size, "buf-size"), \
    LM_ARG_OPTIONAL(LM_ARG_INT, st, m., max_in_flight, "max-in-flight")

/*
 * Check what every job command takes and fill @o with it: the job id is
 * valid and free, the device is the active layer of a disk with no
 * livemerge filter above it, the filter name can be created, the speed is
 * not negative.  Defaults for everything else.
 */
bool GRAPH_RDLOCK livemerge_qmp_job_options(const LivemergeJobArgs *a,
                                            CopyJobOptions *o,
                               Error **errp);
/*
 * A backing-file string must make @overlay reopen backed by @base: it is
 * written into the overlay's header as is, and a string that does not
 * lead to @base loses data or leaves an image that cannot be opened.
 */
bool GRAPH_RDLOCK livemerge_qmp_check_backing_file(const char *str,
                                      BlockDriverState *overlay,
                                      BlockDriverState *base, Error **errp);

/* on-error (commit, stream): one policy for reads and writes alike */
void livemerge_qmp_on_error(bool has_on_error, BlockdevOnError on_error,
                            CopyJobOptions *o);

/* A guest-impact percentage, given as argument "guest-impact" */
bool livemerge_qmp_check_guest_impact(int64_t guest_impact, Error **errp);

/* Check the copy options and put them into @o */
bool livemerge_qmp_copy_options(const LivemergeCopyArgs *a,
                                CopyJobOptions *o, Error **errp);

#endif
