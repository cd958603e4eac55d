/*
 * livemerge QMP commands
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_QMP_COMMANDS_H
#define LIVEMERGE_QMP_COMMANDS_H

#include "qapi/qmp/dispatch.h"

/* Look up the livemerge filter @name given as argument @arg */
BlockDriverState *livemerge_qmp_find_filter(const char *arg, const char *name,
                                            Error **errp);

void qmp_marshal_livemerge_insert_filter(QDict *args, QObject **ret,
                                         Error **errp);
void qmp_marshal_livemerge_remove_filter(QDict *args, QObject **ret,
                                         Error **errp);
void qmp_marshal_livemerge_query_filter(QDict *args, QObject **ret,
                                        Error **errp);

void qmp_marshal_livemerge_commit(QDict *args, QObject **ret, Error **errp);
void qmp_marshal_livemerge_stream(QDict *args, QObject **ret, Error **errp);
void qmp_marshal_livemerge_mirror(QDict *args, QObject **ret, Error **errp);
void qmp_marshal_livemerge_complete(QDict *args, QObject **ret, Error **errp);
void qmp_marshal_livemerge_cancel(QDict *args, QObject **ret, Error **errp);
void qmp_marshal_livemerge_set_guest_impact(QDict *args, QObject **ret,
                                            Error **errp);

/* Add the commands to the daemon's table once it has been set up */
void livemerge_qmp_register_commands(void);

#endif
