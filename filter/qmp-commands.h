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

/* Look up node @name given as argument @arg, with an error naming both */
BlockDriverState *livemerge_qmp_find_node(const char *arg, const char *name,
                                          Error **errp);
/*
 * Check @name, given as argument @arg, for a node that is about to be
 * created: well-formed, not too long, not taken.
 */
bool livemerge_qmp_check_new_node_name(const char *arg, const char *name,
                                       Error **errp);
BlockDriverState *livemerge_qmp_find_filter(const char *arg, const char *name,
                                            Error **errp);

void qmp_marshal_livemerge_insert_filter(QDict *args, QObject **ret,
                                         Error **errp);
void qmp_marshal_livemerge_remove_filter(QDict *args, QObject **ret,
                                         Error **errp);
void qmp_marshal_livemerge_query_filter(QDict *args, QObject **ret,
                                        Error **errp);

void qmp_marshal_livemerge_commit(QDict *args, QObject **ret, Error **errp);

/* Add the commands to the daemon's table once it has been set up */
void livemerge_qmp_register_commands(void);

#endif
