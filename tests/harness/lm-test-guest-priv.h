/*
 * livemerge test harness - guest internals shared with the load thread
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_TEST_GUEST_PRIV_H
#define LM_TEST_GUEST_PRIV_H

#include <libnbd.h>
#include "lm-test-guest.h"

/* Bound for any single NBD exchange: a wedged server fails, not hangs. */
#define LM_TEST_GUEST_TIMEOUT_MS 60000

typedef enum {
    BLOCK_BUSY = 1 << 0,        /* an operation on it is in flight */
    BLOCK_ALT = 1 << 1,         /* alt_gen is acceptable as well */
    BLOCK_MAYBE_ZERO = 1 << 2,  /* discarded: zeros are acceptable too */
    BLOCK_UNKNOWN = 1 << 3,     /* anything is acceptable */
} LmTestBlockFlags;

/* What the model expects of one block; gen 0 stands for zeros. */
typedef struct {
    guint64 gen;
    guint64 alt_gen;
    guint64 durable_gen;        /* gen as of the last completed flush */
    guint flags;
} LmTestBlockState;

typedef enum {
    LM_TEST_OP_WRITE,
    LM_TEST_OP_ZERO,
    LM_TEST_OP_DISCARD,
} LmTestOp;

typedef struct LmTestLoadRun LmTestLoadRun;

/* Generations drawn by several guests (lm-test-clock.c). */
struct LmTestGuestClock {
    GMutex lock;
    guint64 last;               /* the last generation handed out */
    gint refs;                  /* atomic */
};

struct LmTestGuest {
    guint block_size;
    guint64 n_blocks;
    /* The load thread updates blocks and last_gen as its writes complete. */
    GMutex lock;
    LmTestBlockState *blocks;
    guint64 last_gen;
    /* With a shared clock: generations come from it, and every
     * acknowledged write is recorded in write_log (LmTestWriteRecord). */
    LmTestGuestClock *clock;
    GArray *write_log;

    struct nbd_handle *nbd;
    char *socket_path;          /* NULL when connected offline */
    char *export_name;
    LmTestLoadRun *load;
};

/*
 * Mark blocks [first, first + n) busy for an operation and, if @gen is
 * non-NULL, allocate a new generation.  FALSE if one is already busy.
 */
gboolean lm_test_guest_claim(LmTestGuest *guest, guint64 first, guint64 n,
                             guint64 *gen);
/* The operation on claimed blocks ended; update what they must hold. */
void lm_test_guest_settle(LmTestGuest *guest, guint64 first, guint64 n,
                          LmTestOp op, guint64 gen, gboolean ok);

/*
 * A flush covers the writes completed when it is sent: take a snapshot
 * of the generations then, and make it durable when the flush succeeds.
 */
guint64 *lm_test_guest_snapshot(LmTestGuest *guest);
void lm_test_guest_make_durable(LmTestGuest *guest, guint64 *snapshot);

/* The next generation: from the shared clock if any (guest->lock held). */
guint64 lm_test_guest_next_gen(LmTestGuest *guest);
/* Record an acknowledged write when a clock is in use (guest->lock held). */
void lm_test_guest_log_write(LmTestGuest *guest, guint64 first, guint64 n,
                             guint64 gen, gboolean zero);

/* Connect a new handle to a unix socket export, with a timeout. */
struct nbd_handle *lm_test_guest_nbd_connect(const char *socket_path,
                                             const char *export_name,
                                             GError **error);
/*
 * Send NBD_CMD_DISC and close, waiting a bounded time for the server to
 * hang up (nbd_shutdown() would wait for ever on a stopped server).
 */
void lm_test_guest_nbd_close(struct nbd_handle *nbd);
/* Set @error from libnbd's last error, prefixed with @what. */
void lm_test_guest_nbd_error(GError **error, const char *what);

#endif /* LM_TEST_GUEST_PRIV_H */
