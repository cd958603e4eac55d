/*
 * livemerge test harness - QMP shorthands for tests
 *
 * Tests write their fixed commands as JSON text, printf-style, which is
 * short and reads like the QMP in the docs.  Library code never does:
 * there arguments are JSON values (lm_qmp_execute()), so that a name a
 * person typed cannot change a command.  Also brings the raw-line calls
 * for protocol tests (controller/lm-qmp-raw.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_TEST_QMP_H
#define LM_TEST_QMP_H

#include "lm-qmp.h"
#include "lm-qmp-raw.h"

G_BEGIN_DECLS

/*
 * As lm_qmp_execute(), arguments given as JSON object text (nullable);
 * text that is not a JSON object fails with LM_QMP_ERROR_INVALID.
 */
JsonNode *lm_qmp_execute_json(LmQmp *qmp, const char *command,
                              const char *json_args, GError **error);

/*
 * As lm_qmp_execute_json(), the arguments text built printf-style from
 * @args_fmt, e.g.
 *     lm_qmp_executef(qmp, &err, "block-export-del", "{\"id\": \"%s\"}", id);
 * A NULL @args_fmt means no arguments.
 */
JsonNode *lm_qmp_executef(LmQmp *qmp, GError **error, const char *command,
                          const char *args_fmt, ...) G_GNUC_PRINTF(4, 5);

/* As lm_qmp_executef(), for commands whose return value does not matter. */
gboolean lm_qmp_runf(LmQmp *qmp, GError **error, const char *command,
                     const char *args_fmt, ...) G_GNUC_PRINTF(4, 5);

G_END_DECLS

#endif /* LM_TEST_QMP_H */
