/*
 * livemerge - raw QMP access for protocol tests (not installed)
 *
 * Programs built on liblivemerge build arguments as JSON values and call
 * lm_qmp_execute(); these let a test put malformed lines on the wire and
 * see the exact reply.  Included through tests/harness/lm-test-qmp.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_QMP_RAW_H
#define LM_QMP_RAW_H

#include "lm-qmp.h"

G_BEGIN_DECLS

/*
 * Send @line as is (a newline is appended), then read the next reply (a
 * message with "return" or "error"; events are queued), whatever its id.
 * lm_qmp_read_reply() returns the whole reply object, e.g.
 * {"error": {"class": ..., "desc": ...}}.
 */
gboolean lm_qmp_send_raw(LmQmp *qmp, const char *line, GError **error);
JsonObject *lm_qmp_read_reply(LmQmp *qmp, int timeout_ms, GError **error);

/*
 * Send @line and interpret the reply as lm_qmp_execute() does, e.g. to
 * check that a malformed command fails with a given class/desc.
 */
JsonNode *lm_qmp_execute_raw(LmQmp *qmp, const char *line, GError **error);

/*
 * Class of the last refused command ("GenericError", "CommandNotFound",
 * ...), or NULL if the last command was not refused.
 */
const char *lm_qmp_last_error_class(LmQmp *qmp);

G_END_DECLS

#endif /* LM_QMP_RAW_H */
