/*
 * liblivemerge - what libvirt is to QEMU, for a qemu-storage-daemon
 *
 * The one header a program includes: the QMP connection (lm-qmp.h), disks
 * and chains (lm-chain.h), the job watcher (lm-job.h) the operations
 * with libvirt's checks (lm-ops.h) and snapshots (lm-snapshot.h).  Errors: LM_ERROR (lm-error.h) for what
 * the library refuses or sees fail, LM_QMP_ERROR for the daemon's answers
 * and the connection.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_H
#define LIVEMERGE_H

#include "lm-error.h"
#include "lm-qmp.h"
#include "lm-chain.h"
#include "lm-job.h"
#include "lm-ops.h"
#include "lm-snapshot.h"

#endif /* LIVEMERGE_H */
