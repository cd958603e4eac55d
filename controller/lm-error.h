/*
 * livemerge - the library's own errors
 *
 * Daemon refusals keep their LM_QMP_ERROR codes; what liblivemerge itself
 * refuses (libvirt's checks before anything reaches the daemon) or sees
 * go wrong with a job is LM_ERROR.  The message names the disk and the
 * image and says what to do.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_ERROR_H
#define LM_ERROR_H

#include <glib.h>

G_BEGIN_DECLS

#define LM_ERROR (lm_error_quark())
GQuark lm_error_quark(void);

typedef enum {
    LM_ERROR_DISK_NOT_FOUND,    /* no export of that name */
    LM_ERROR_DISK_BUSY,         /* the disk is already in a block job */
    LM_ERROR_IMAGE_NOT_FOUND,   /* top / base not in the chain */
    LM_ERROR_INVALID,           /* arguments that cannot work together */
    LM_ERROR_UNSUPPORTED,       /* the daemon lacks a command (plugin) */
    LM_ERROR_NO_JOB,            /* the disk has no block job */
    LM_ERROR_JOB_FAILED,        /* the job ended with an error */
    LM_ERROR_JOB_CANCELLED,     /* the job was cancelled by someone */
    LM_ERROR_TIMEOUT,           /* the caller's deadline passed */
    LM_ERROR_INTERRUPTED,       /* the caller asked to stop waiting */
    LM_ERROR_FILE,              /* removing an image file failed */
} LmError;

G_END_DECLS

#endif /* LM_ERROR_H */
