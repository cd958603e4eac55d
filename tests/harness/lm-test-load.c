/*
 * livemerge test harness - the guest's background write load
 *
 * One thread with its own libnbd handle keeps queue_depth writes in flight
 * with nbd_aio_pwrite().  Each write claims its blocks in the guest model
 * first, so two in-flight writes never share a block and the model knows,
 * for every block, which write is the last acknowledged one.
 *
 * The bookkeeping of a write is done in its completion closure's .free,
 * which libnbd calls exactly once whatever happens - completed, failed,
 * never issued, or dropped by nbd_close() on a dead connection - so no
 * write can be left claimed or uncounted.  All of it runs in the load
 * thread, inside libnbd calls made there, so the stats need no lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-guest-priv.h"
#include "lm-test-stamp.h"

/* How long the thread sleeps in nbd_poll() when it cannot submit. */
#define LOAD_POLL_MS 100
/* Random picks to try before waiting for completions. */
#define LOAD_RANDOM_TRIES 4

struct LmTestLoadRun {
    LmTestGuest *guest;
    struct nbd_handle *nbd;
    GThread *thread;
    gint stop;                  /* atomic */
    GRand *rand;
    LmTestLoadPattern pattern;
    guint queue_depth;
    guint64 first_block;        /* the region, in blocks */
    guint64 n_region_blocks;
    guint64 req_blocks;         /* blocks per write */
    guint64 cursor;             /* sequential: next block in the region */
    LmTestLoadStats stats;
    GError *error;              /* the first failure */
};

typedef struct {
    LmTestLoadRun *run;
    guint64 first;              /* block */
    guint64 gen;
    guint8 *buf;
    gboolean completed;
    int err;
} LoadWrite;

static void load_fail(LmTestLoadRun *run, GError *error)
{
    if (!run->error) {
        run->error = error;
    } else {
        g_error_free(error);
    }
}

static int load_write_done(void *opaque, int *error)
{
    LoadWrite *w = opaque;

    w->completed = TRUE;
    w->err = *error;
    return 1;   /* retire the command */
}

static void load_write_free(void *opaque)
{
    LoadWrite *w = opaque;
    LmTestLoadRun *run = w->run;
    gboolean ok = w->completed && w->err == 0;

    lm_test_guest_settle(run->guest, w->first, run->req_blocks,
                         LM_TEST_OP_WRITE, w->gen, ok);
    if (ok) {
        run->stats.writes++;
        run->stats.bytes += run->req_blocks * run->guest->block_size;
    } else {
        run->stats.errors++;
        load_fail(run, g_error_new(
            LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_NBD,
            "load: write of blocks %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT
            " %s%s", w->first, run->req_blocks,
            w->completed ? "failed: " : "never completed",
            w->completed ? g_strerror(w->err) : ""));
    }
    g_free(w->buf);
    g_free(w);
}

static guint64 load_rand64(LmTestLoadRun *run)
{
    return ((guint64)g_rand_int(run->rand) << 32) | g_rand_int(run->rand);
}

/*
 * Pick and claim the blocks of the next write; FALSE if the candidates
 * are busy, in which case completions have to come first.
 */
static gboolean load_pick(LmTestLoadRun *run, guint64 *first, guint64 *gen)
{
    guint64 slots = run->n_region_blocks - run->req_blocks + 1;

    if (run->pattern == LM_TEST_LOAD_SEQUENTIAL) {
        if (run->cursor >= slots) {
            run->cursor = 0;
        }
        *first = run->first_block + run->cursor;
        if (!lm_test_guest_claim(run->guest, *first, run->req_blocks, gen)) {
            return FALSE;
        }
        run->cursor += run->req_blocks;
        return TRUE;
    }
    for (int i = 0; i < LOAD_RANDOM_TRIES; i++) {
        *first = run->first_block + load_rand64(run) % slots;
        if (lm_test_guest_claim(run->guest, *first, run->req_blocks, gen)) {
            return TRUE;
        }
    }
    return FALSE;
}

/* Issue one write; FALSE if none could be issued now. */
static gboolean load_submit(LmTestLoadRun *run)
{
    guint bs = run->guest->block_size;
    LoadWrite *w;
    guint64 first, gen;

    if (!load_pick(run, &first, &gen)) {
        return FALSE;
    }
    w = g_new0(LoadWrite, 1);
    w->run = run;
    w->first = first;
    w->gen = gen;
    w->buf = g_malloc(run->req_blocks * bs);
    for (guint64 i = 0; i < run->req_blocks; i++) {
        lm_test_stamp_fill(w->buf + i * bs, bs, (first + i) * bs, gen);
    }
    if (nbd_aio_pwrite(run->nbd, w->buf, run->req_blocks * bs, first * bs,
                       (nbd_completion_callback) {
                           .callback = load_write_done,
                           .user_data = w,
                           .free = load_write_free,
                       }, 0) < 0) {
        /* .free has run already; a handle that cannot take commands will
         * not get better. */
        GError *err = NULL;

        lm_test_guest_nbd_error(&err, "load: nbd_aio_pwrite");
        load_fail(run, err);
        g_atomic_int_set(&run->stop, 1);
        return FALSE;
    }
    return TRUE;
}

/* Wait for the writes in flight, then flush, all within the timeout. */
static void load_drain(LmTestLoadRun *run)
{
    gint64 deadline = g_get_monotonic_time() +
                      LM_TEST_GUEST_TIMEOUT_MS * 1000LL;
    g_autofree guint64 *snapshot = NULL;
    int64_t flush = -1;

    while (g_get_monotonic_time() < deadline) {
        if (nbd_aio_in_flight(run->nbd) == 0) {
            if (flush > 0) {
                if (nbd_aio_command_completed(run->nbd, flush) < 0) {
                    GError *err = NULL;

                    lm_test_guest_nbd_error(&err, "load: flush");
                    load_fail(run, err);
                } else {
                    lm_test_guest_make_durable(run->guest,
                                               g_steal_pointer(&snapshot));
                }
                return;
            }
            if (run->error) {
                return;   /* no point flushing a failed load */
            }
            snapshot = lm_test_guest_snapshot(run->guest);
            flush = nbd_aio_flush(run->nbd, NBD_NULL_COMPLETION, 0);
            if (flush < 0) {
                GError *err = NULL;

                lm_test_guest_nbd_error(&err, "load: flush");
                load_fail(run, err);
                return;
            }
            continue;
        }
        if (nbd_poll(run->nbd, LOAD_POLL_MS) < 0) {
            GError *err = NULL;

            lm_test_guest_nbd_error(&err, "load: nbd_poll");
            load_fail(run, err);
            return;
        }
    }
    load_fail(run, g_error_new(LM_TEST_GUEST_ERROR,
                               LM_TEST_GUEST_ERROR_TIMEOUT,
                               "load: writes in flight for %d ms",
                               LM_TEST_GUEST_TIMEOUT_MS));
}

static gpointer load_thread(gpointer data)
{
    LmTestLoadRun *run = data;

    while (!g_atomic_int_get(&run->stop)) {
        while ((guint)nbd_aio_in_flight(run->nbd) < run->queue_depth &&
               !g_atomic_int_get(&run->stop) && load_submit(run)) {
            /* fill the queue */
        }
        if (nbd_poll(run->nbd, LOAD_POLL_MS) < 0) {
            GError *err = NULL;

            lm_test_guest_nbd_error(&err, "load: nbd_poll");
            load_fail(run, err);
            break;
        }
    }
    load_drain(run);
    /* Whatever is still in flight is dropped here, through .free. */
    g_clear_pointer(&run->nbd, lm_test_guest_nbd_close);
    return NULL;
}

gboolean lm_test_guest_start_load(LmTestGuest *guest, const LmTestLoad *load,
                                  GError **error)
{
    guint bs = guest->block_size;
    guint64 region_length = load->region_length
        ? load->region_length
        : guest->n_blocks * bs - load->region_start;
    guint request_size = load->request_size ? load->request_size : bs;
    LmTestLoadRun *run;

    if (guest->load || !guest->socket_path) {
        g_set_error_literal(error, LM_TEST_GUEST_ERROR,
                            LM_TEST_GUEST_ERROR_USAGE,
                            guest->load ? "a load is already running"
                                        : "a load needs an NBD socket "
                                          "connection");
        return FALSE;
    }
    if (load->region_start >= guest->n_blocks * bs ||
        load->region_start % bs || region_length % bs || request_size % bs ||
        request_size > region_length ||
        load->region_start + region_length > guest->n_blocks * bs) {
        g_set_error(error, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_USAGE,
                    "bad load region %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT
                    " / request size %u for block size %u and %"
                    G_GUINT64_FORMAT " blocks", load->region_start,
                    region_length, request_size, bs, guest->n_blocks);
        return FALSE;
    }

    run = g_new0(LmTestLoadRun, 1);
    run->guest = guest;
    run->pattern = load->pattern;
    run->queue_depth = MAX(load->queue_depth, 1);
    run->first_block = load->region_start / bs;
    run->n_region_blocks = region_length / bs;
    run->req_blocks = request_size / bs;
    run->rand = g_rand_new_with_seed(load->seed);
    run->nbd = lm_test_guest_nbd_connect(guest->socket_path,
                                         guest->export_name, error);
    if (!run->nbd) {
        g_rand_free(run->rand);
        g_free(run);
        return FALSE;
    }
    run->thread = g_thread_new("lmtest-load", load_thread, run);
    guest->load = run;
    return TRUE;
}

gboolean lm_test_guest_stop_load(LmTestGuest *guest, LmTestLoadStats *stats,
                                 GError **error)
{
    LmTestLoadRun *run = guest->load;
    gboolean ok;

    if (!run) {
        g_set_error_literal(error, LM_TEST_GUEST_ERROR,
                            LM_TEST_GUEST_ERROR_USAGE, "no load running");
        return FALSE;
    }
    g_atomic_int_set(&run->stop, 1);
    g_thread_join(run->thread);
    guest->load = NULL;

    if (stats) {
        *stats = run->stats;
    }
    ok = run->error == NULL;
    if (!ok && run->stats.errors) {
        g_propagate_prefixed_error(error, g_steal_pointer(&run->error),
                                   "%" G_GUINT64_FORMAT " of %"
                                   G_GUINT64_FORMAT " writes failed; first: ",
                                   run->stats.errors,
                                   run->stats.errors + run->stats.writes);
    } else if (!ok) {
        g_propagate_error(error, g_steal_pointer(&run->error));
    }
    g_rand_free(run->rand);
    g_free(run);
    return ok;
}
