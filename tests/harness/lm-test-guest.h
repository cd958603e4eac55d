/*
 * livemerge test harness - a guest that writes verifiable data over NBD
 *
 * The disk is seen as blocks of block_size bytes.  Every write stamps each
 * 64-byte unit of its blocks with {magic, block offset, generation,
 * checksum} and filler derived from those, so reading a block back tells
 * which write it holds, or that it is zeros, torn (units of different
 * writes) or garbage.  Generations come from one counter per guest, so
 * every write is unique.
 *
 * The guest is a model of the disk that outlives connections: it can be
 * connected to a daemon's NBD export, disconnected, and connected again
 * (to a restarted daemon, or to the image offline through a private
 * qemu-nbd), and verify_all() checks the disk holds what the model
 * expects.  Initially the model expects zeros everywhere.
 *
 * What the model expects of a block:
 *  - after an acknowledged write or zero: exactly that;
 *  - after a write that failed or never completed (the daemon died): the
 *    previous content or that write's (two such in a row: anything);
 *  - after a discard: the previous content or zeros (NBD leaves the
 *    content of trimmed blocks unspecified);
 *  - after lm_test_guest_crashed(): for blocks written since the last
 *    flush, the flushed content or the latest.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LM_TEST_GUEST_H
#define LM_TEST_GUEST_H

#include <glib.h>

G_BEGIN_DECLS

#define LM_TEST_GUEST_ERROR (lm_test_guest_error_quark())
GQuark lm_test_guest_error_quark(void);

typedef enum {
    LM_TEST_GUEST_ERROR_NBD,       /* libnbd or the server failed */
    LM_TEST_GUEST_ERROR_TIMEOUT,   /* the server did not answer in time */
    LM_TEST_GUEST_ERROR_MISMATCH,  /* the disk does not hold what it should */
    LM_TEST_GUEST_ERROR_USAGE,     /* not connected, bad range, ... */
} LmTestGuestError;

#define LM_TEST_GUEST_DEFAULT_BLOCK_SIZE 4096

typedef struct LmTestGuest LmTestGuest;

/* What a block holds, as read back. */
typedef enum {
    LM_TEST_BLOCK_ZERO,
    LM_TEST_BLOCK_STAMPED,   /* one write's stamp in every unit */
    LM_TEST_BLOCK_TORN,      /* stamps of several writes, or partly zero */
    LM_TEST_BLOCK_GARBAGE,   /* something a guest never wrote */
} LmTestBlockKind;

typedef struct {
    LmTestBlockKind kind;
    guint64 offset;          /* STAMPED, TORN: block offset in the stamp */
    guint64 gen;             /* STAMPED, TORN: generation in the stamp */
} LmTestBlockContent;

typedef enum {
    LM_TEST_LOAD_RANDOM,
    LM_TEST_LOAD_SEQUENTIAL,
} LmTestLoadPattern;

/* A background write load; zeros give the defaults. */
typedef struct {
    LmTestLoadPattern pattern;
    guint request_size;      /* bytes, whole blocks; 0: one block */
    guint queue_depth;       /* 0: 1 */
    guint64 region_start;    /* bytes, block aligned */
    guint64 region_length;   /* bytes, block aligned; 0: to the end */
    guint32 seed;            /* for LM_TEST_LOAD_RANDOM */
} LmTestLoad;

typedef struct {
    guint64 writes;          /* acknowledged writes */
    guint64 bytes;           /* bytes in them */
    guint64 errors;          /* writes that failed or never completed */
} LmTestLoadStats;

/* A model of an all-zero disk; @block_size 0 means the default. */
LmTestGuest *lm_test_guest_new(guint block_size);
void lm_test_guest_free(LmTestGuest *guest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmTestGuest, lm_test_guest_free)

/*
 * Connect to NBD export @export_name on unix socket @socket_path.  The
 * first connection sizes the model; later ones may find the disk grown
 * (the new blocks are expected to be zeros), not shrunk.
 */
gboolean lm_test_guest_connect(LmTestGuest *guest, const char *socket_path,
                               const char *export_name, GError **error);
/*
 * Connect to image @path (format @fmt) offline through a private qemu-nbd
 * ($QEMU_NBD, else from PATH) that lives as long as the connection.  No
 * background load on such a connection.
 */
gboolean lm_test_guest_open_image(LmTestGuest *guest, const char *path,
                                  const char *fmt, GError **error);
/* Close the connection (stopping a load first); the model stays. */
void lm_test_guest_disconnect(LmTestGuest *guest);

guint lm_test_guest_block_size(LmTestGuest *guest);
guint64 lm_test_guest_n_blocks(LmTestGuest *guest);

/* Stamp @n_blocks blocks from @first with a new generation, in one write. */
gboolean lm_test_guest_write_range(LmTestGuest *guest, guint64 first,
                                   guint64 n_blocks, GError **error);
gboolean lm_test_guest_write_block(LmTestGuest *guest, guint64 index,
                                   GError **error);
gboolean lm_test_guest_zero_range(LmTestGuest *guest, guint64 first,
                                  guint64 n_blocks, GError **error);
gboolean lm_test_guest_discard_range(LmTestGuest *guest, guint64 first,
                                     guint64 n_blocks, GError **error);
gboolean lm_test_guest_flush(LmTestGuest *guest, GError **error);

/*
 * The daemon died (or was killed): writes acknowledged since the last
 * flush (the guest's, or the one ending a load) may be lost, so from now
 * on such blocks may hold their flushed content or the latest.
 */
void lm_test_guest_crashed(LmTestGuest *guest);

/* Read block @index back and decode it, whatever the model expects. */
gboolean lm_test_guest_read_block(LmTestGuest *guest, guint64 index,
                                  LmTestBlockContent *content,
                                  GError **error);
/* LM_TEST_GUEST_ERROR_MISMATCH describes what was found instead. */
gboolean lm_test_guest_verify_block(LmTestGuest *guest, guint64 index,
                                    GError **error);
/*
 * Read the whole disk back.  A mismatch error counts the bad blocks and
 * describes the first few, starting "block N (offset X): expected ...".
 */
gboolean lm_test_guest_verify_all(LmTestGuest *guest, GError **error);

/*
 * Run @load in a thread with its own connection to the same export, keeping
 * queue_depth writes in flight and never two on the same block.  Blocks
 * the load touches must be left alone by the test until it stops.
 */
gboolean lm_test_guest_start_load(LmTestGuest *guest, const LmTestLoad *load,
                                  GError **error);
/*
 * Stop the load, wait for its writes, flush.  Fills @stats (nullable);
 * fails with the first write error if any write failed.
 */
gboolean lm_test_guest_stop_load(LmTestGuest *guest, LmTestLoadStats *stats,
                                 GError **error);

/*
 * A clock several guests share, for checks across disks: generations
 * are drawn from it in one order for all of them, so a generation says
 * when a write was issued relative to every other guest's writes.
 */
typedef struct LmTestGuestClock LmTestGuestClock;

LmTestGuestClock *lm_test_guest_clock_new(void);
void lm_test_guest_clock_unref(LmTestGuestClock *clock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LmTestGuestClock, lm_test_guest_clock_unref)
/* The last generation handed out. */
guint64 lm_test_guest_clock_now(LmTestGuestClock *clock);

/* One acknowledged write (or write of zeroes) of a guest on a clock. */
typedef struct {
    guint64 first;           /* block */
    guint64 n_blocks;
    guint64 gen;             /* when it was issued */
    /*
     * The clock when the write was acknowledged: every write with a
     * generation above it was issued after this one completed.
     */
    guint64 acked_at;
    gboolean zero;           /* zeroes: the blocks read as zeroes */
} LmTestWriteRecord;

/*
 * From now on @guest draws its generations from @clock (a reference is
 * taken; NULL: back to its own counter) and records each acknowledged
 * write or zero, its own and its load's.
 */
void lm_test_guest_use_clock(LmTestGuest *guest, LmTestGuestClock *clock);
/* The writes recorded so far, in acknowledgement order (a copy). */
GArray *lm_test_guest_write_log(LmTestGuest *guest);

G_END_DECLS

#endif /* LM_TEST_GUEST_H */
