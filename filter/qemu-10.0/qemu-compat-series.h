/*
 * livemerge: QEMU 10.0 (see qemu-compat.h): the engine's own rules, so
 * only the headers that moved since 7.2
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIVEMERGE_QEMU_COMPAT_SERIES_H
#define LIVEMERGE_QEMU_COMPAT_SERIES_H

#include "block/graph-lock.h"
#include "qapi/qmp-registry.h"
#include "qobject/qdict.h"

/* The length callback: a coroutine under the graph read lock */
#define LM_DRIVER_LENGTH_CALLBACK(fn) .bdrv_co_getlength = (fn)

#endif
