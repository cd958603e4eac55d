/*
 * livemerge - acceptance tests of the livemerge filter node
 *
 * The filter under a live NBD export (main loop and iothread), while a
 * guest writes; every request kind reaching the child with its flags and
 * being counted; discard really unmapping; the plugin's commands being
 * there from the first QMP command on; and argument checking.
 *
 * Two bugs of the stock daemon (7.2.22) shape the iothread cases; both
 * happen without the plugin:
 *  - an NBD client disconnecting from an iothread export aborts the
 *    daemon ("nbd_blockdev_client_closed: Assertion `qemu_in_main_thread()
 *    && nbd_server' failed"), so the guest stays connected until the
 *    daemon has quit;
 *  - draining an iothread export while a client has requests in flight
 *    now and then crashes it ("nbd_co_receive_request: Assertion
 *    `client->recv_coroutine == qemu_coroutine_self()' failed", or
 *    "Co-routine was already scheduled in 'aio_co_schedule'"; an empty
 *    "transaction", which drains all, does it in about one of a few
 *    thousand drains under a queue-depth-16 load).  Every insert and
 *    remove drains, so under load the iothread cases insert and remove
 *    once each.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <libnbd.h>

#include "lm-qmp.h"
#include "lm-test-guest.h"
/* The model's claim/settle, for requests the guest API does not make
 * (flags, a load whose connection outlives its stops) */
#include "lm-test-guest-priv.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"
#include "lm-test-stamp.h"

#define KiB 1024
#define MiB (1024 * 1024)
#define BLK 4096                 /* the guest's block size */
#define CLUSTER (64 * KiB)       /* qcow2's default cluster size */
#define DISK_SIZE "64M"

/* How long to wait for something that must happen, not a timing claim */
#define SETTLE_TIMEOUT_US (20 * G_USEC_PER_SEC)
#define NBD_TIMEOUT_MS 60000

/* ------------------------------------------------------------------ */
/* QMP helpers */

/* The daemon of the running test, for its log when QMP fails */
static LmTestQsd *current_qsd;

/* Fail on @err; if the daemon went away, with the end of its log. */
static void check_qmp(const char *what, GError *err)
{
    if (!err) {
        return;
    }
    if (current_qsd && !lm_qmp_error_is_refusal(err)) {
        g_autofree char *log = lm_test_qsd_read_log(current_qsd);
        gsize len = strlen(log);

        g_printerr("\n%s: %s; daemon log:\n%s\n", what, err->message,
                   log + (len > 4096 ? len - 4096 : 0));
    }
    g_error("%s: %s", what, err->message);
}

static void add_qcow2(LmQmp *qmp, const char *node, const char *path)
{
    g_autoptr(GError) err = NULL;

    lm_qmp_runf(qmp, &err, "blockdev-add",
                "{\"driver\": \"qcow2\", \"node-name\": \"%s\","
                " \"discard\": \"unmap\","
                " \"file\": {\"driver\": \"file\", \"node-name\": \"%s-file\","
                " \"filename\": \"%s\", \"discard\": \"unmap\"}}",
                node, node, path);
    g_assert_no_error(err);
}

static void insert_filter(LmQmp *qmp, const char *node, const char *filter)
{
    g_autoptr(GError) err = NULL;

    lm_qmp_runf(qmp, &err, "livemerge-insert-filter",
                "{\"node\": \"%s\", \"filter-node-name\": \"%s\"}",
                node, filter);
    check_qmp("livemerge-insert-filter", err);
}

static void remove_filter(LmQmp *qmp, const char *filter)
{
    g_autoptr(GError) err = NULL;

    lm_qmp_runf(qmp, &err, "livemerge-remove-filter",
                "{\"filter-node-name\": \"%s\"}", filter);
    check_qmp("livemerge-remove-filter", err);
}

/* The driver of named node @node, or NULL if there is no such node. */
static char *node_driver(LmQmp *qmp, const char *node)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret =
        lm_qmp_execute(qmp, "query-named-block-nodes", NULL, &err);
    JsonArray *nodes;

    check_qmp("query-named-block-nodes", err);
    nodes = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        if (g_str_equal(json_object_get_string_member(n, "node-name"),
                        node)) {
            return g_strdup(json_object_get_string_member(n, "drv"));
        }
    }
    return NULL;
}

static int compare_str_ptrs(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* All node names, sorted, as one string: to see that nothing changed. */
static char *node_names(LmQmp *qmp)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret =
        lm_qmp_execute(qmp, "query-named-block-nodes", NULL, &err);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    GString *s = g_string_new(NULL);
    JsonArray *nodes;

    g_assert_no_error(err);
    nodes = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        g_ptr_array_add(names, (gpointer)json_object_get_string_member(
                                   n, "node-name"));
    }
    g_ptr_array_sort(names, compare_str_ptrs);
    for (guint i = 0; i < names->len; i++) {
        g_string_append_printf(s, "%s%s", i ? " " : "",
                               (const char *)names->pdata[i]);
    }
    return g_string_free(s, FALSE);
}

/* The node export @id serves. */
static char *export_node(LmQmp *qmp, const char *id)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret =
        lm_qmp_execute(qmp, "query-block-exports", NULL, &err);
    JsonArray *exports;

    g_assert_no_error(err);
    exports = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(exports); i++) {
        JsonObject *e = json_array_get_object_element(exports, i);

        if (g_str_equal(json_object_get_string_member(e, "id"), id)) {
            return g_strdup(json_object_get_string_member(e, "node-name"));
        }
    }
    g_assert_not_reached();
}

/* ------------------------------------------------------------------ */
/* Filter counters */

enum { K_READ, K_WRITE, K_WZ, K_DISCARD, K_FLUSH, K_MAX };
static const char *const kind_name[K_MAX] = {
    "read", "write", "write-zeroes", "discard", "flush",
};

typedef struct {
    guint64 requests[K_MAX];
    guint64 bytes[K_MAX];
} Counters;

static void query_counters(LmQmp *qmp, const char *filter,
                           const char *child, Counters *out)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_executef(
        qmp, &err, "livemerge-query-filter",
        "{\"filter-node-name\": \"%s\"}", filter);
    JsonObject *info;

    check_qmp("livemerge-query-filter", err);
    info = json_node_get_object(ret);
    g_assert_cmpstr(json_object_get_string_member(info, "node-name"), ==,
                    filter);
    if (child) {
        g_assert_cmpstr(json_object_get_string_member(info, "child"), ==,
                        child);
    }
    for (int k = 0; k < K_MAX; k++) {
        JsonObject *c;

        g_assert_true(json_object_has_member(info, kind_name[k]));
        c = json_object_get_object_member(info, kind_name[k]);
        out->requests[k] = json_object_get_int_member(c, "requests");
        out->bytes[k] = json_object_get_int_member(c, "bytes");
        /* Some may be in flight still; those done took some time */
        g_assert_cmpint(json_object_get_int_member(c, "completed"), <=,
                        out->requests[k]);
        if (json_object_get_int_member(c, "completed") > 0) {
            g_assert_cmpint(json_object_get_int_member(c, "latency-ns"), >,
                            0);
        }
    }
}

/*
 * Since @last, the filter saw exactly @n[k] requests of @b[k] bytes of
 * each kind k; @last becomes the current state.
 */
static void expect_delta(LmQmp *qmp, Counters *last, const char *what,
                         const guint64 n[K_MAX], const guint64 b[K_MAX])
{
    Counters now;
    gboolean ok = TRUE;
    g_autoptr(GString) msg = g_string_new(NULL);

    query_counters(qmp, "lmf", "disk", &now);
    for (int k = 0; k < K_MAX; k++) {
        guint64 dn = now.requests[k] - last->requests[k];
        guint64 db = now.bytes[k] - last->bytes[k];

        g_string_append_printf(msg, " %s %" G_GUINT64_FORMAT "/%"
                               G_GUINT64_FORMAT, kind_name[k], dn, db);
        if (dn != n[k] || db != b[k]) {
            g_string_append_printf(msg, " (expected %" G_GUINT64_FORMAT "/%"
                                   G_GUINT64_FORMAT ")", n[k], b[k]);
            ok = FALSE;
        }
    }
    g_test_message("%s:%s", what, msg->str);
    if (!ok) {
        g_autofree char *text = g_strdup_printf(
            "%s: filter counters (requests/bytes) since the last step:%s",
            what, msg->str);

        g_assertion_message(G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC,
                            text);
    }
    *last = now;
}

/* Exactly one request of kind @k and @bytes bytes since @last. */
static void expect_one(LmQmp *qmp, Counters *last, const char *what, int k,
                       guint64 bytes)
{
    guint64 n[K_MAX] = { 0 }, b[K_MAX] = { 0 };

    n[k] = 1;
    b[k] = bytes;
    expect_delta(qmp, last, what, n, b);
}

/* ------------------------------------------------------------------ */
/* A raw NBD connection, for what the guest model does not do: flags,
 * reads without structured replies.  Every wait is bounded. */

static struct nbd_handle *raw_connect(LmTestQsd *qsd, gboolean structured)
{
    struct nbd_handle *nbd = nbd_create();
    gint64 deadline = g_get_monotonic_time() + NBD_TIMEOUT_MS * 1000LL;

    g_assert_nonnull(nbd);
    g_assert_cmpint(nbd_set_export_name(nbd, "disk"), ==, 0);
    g_assert_cmpint(nbd_set_request_structured_replies(nbd, structured), ==,
                    0);
    if (nbd_aio_connect_unix(nbd, lm_test_qsd_nbd_socket(qsd)) < 0) {
        g_error("NBD connect: %s", nbd_get_error());
    }
    while (!nbd_aio_is_ready(nbd)) {
        if (nbd_aio_is_dead(nbd) || nbd_aio_is_closed(nbd) ||
            g_get_monotonic_time() > deadline || nbd_poll(nbd, 1000) < 0) {
            g_error("NBD connect: %s", nbd_get_error());
        }
    }
    return nbd;
}

/* Wait for @cookie; returns the command's errno (0: success). */
static int raw_wait(struct nbd_handle *nbd, int64_t cookie, const char *what)
{
    gint64 deadline = g_get_monotonic_time() + NBD_TIMEOUT_MS * 1000LL;

    if (cookie < 0) {
        g_error("%s: %s", what, nbd_get_error());
    }
    for (;;) {
        int r = nbd_aio_command_completed(nbd, cookie);

        if (r == 1) {
            return 0;
        }
        if (r < 0) {
            int e = nbd_get_errno();

            g_test_message("%s: %s", what, nbd_get_error());
            if (nbd_aio_is_dead(nbd) || nbd_aio_is_closed(nbd)) {
                g_error("%s: connection lost: %s", what, nbd_get_error());
            }
            return e ? e : EIO;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("%s: no answer within %d ms", what, NBD_TIMEOUT_MS);
        }
        if (nbd_poll(nbd, 1000) < 0) {
            g_error("%s: %s", what, nbd_get_error());
        }
    }
}

static int raw_pread(struct nbd_handle *nbd, void *buf, size_t len,
                     guint64 off)
{
    return raw_wait(nbd, nbd_aio_pread(nbd, buf, len, off,
                                       NBD_NULL_COMPLETION, 0), "pread");
}

static int raw_pwrite(struct nbd_handle *nbd, const void *buf, size_t len,
                      guint64 off, guint32 flags)
{
    return raw_wait(nbd, nbd_aio_pwrite(nbd, buf, len, off,
                                        NBD_NULL_COMPLETION, flags),
                    "pwrite");
}

static int raw_zero(struct nbd_handle *nbd, guint64 len, guint64 off,
                    guint32 flags)
{
    return raw_wait(nbd, nbd_aio_zero(nbd, len, off, NBD_NULL_COMPLETION,
                                      flags), "write zeroes");
}

static int raw_trim(struct nbd_handle *nbd, guint64 len, guint64 off,
                    guint32 flags)
{
    return raw_wait(nbd, nbd_aio_trim(nbd, len, off, NBD_NULL_COMPLETION,
                                      flags), "trim");
}

static int raw_flush(struct nbd_handle *nbd)
{
    return raw_wait(nbd, nbd_aio_flush(nbd, NBD_NULL_COMPLETION, 0),
                    "flush");
}

static void assert_zeros(struct nbd_handle *nbd, guint64 off, gsize len)
{
    g_autofree guint8 *buf = g_malloc(len);
    g_autofree guint8 *zeros = g_malloc0(len);

    g_assert_cmpint(raw_pread(nbd, buf, len, off), ==, 0);
    g_assert_true(memcmp(buf, zeros, len) == 0);
}

/*
 * Flagged operations the guest model knows of: claim the blocks in the
 * model, send the request on @nbd, settle the model with the outcome.
 * Return the command's errno.
 */
static int modeled_write(LmTestGuest *guest, struct nbd_handle *nbd,
                         guint64 first, guint64 n, guint32 flags,
                         guint64 *gen_out)
{
    g_autofree guint8 *buf = g_malloc(n * BLK);
    guint64 gen;
    int ret;

    g_assert_true(lm_test_guest_claim(guest, first, n, &gen));
    for (guint64 i = 0; i < n; i++) {
        lm_test_stamp_fill(buf + i * BLK, BLK, (first + i) * BLK, gen);
    }
    ret = raw_pwrite(nbd, buf, n * BLK, first * BLK, flags);
    lm_test_guest_settle(guest, first, n, LM_TEST_OP_WRITE, gen, ret == 0);
    if (gen_out) {
        *gen_out = gen;
    }
    return ret;
}

static int modeled_zero(LmTestGuest *guest, struct nbd_handle *nbd,
                        guint64 first, guint64 n, guint32 flags)
{
    int ret;

    g_assert_true(lm_test_guest_claim(guest, first, n, NULL));
    ret = raw_zero(nbd, n * BLK, first * BLK, flags);
    lm_test_guest_settle(guest, first, n, LM_TEST_OP_ZERO, 0, ret == 0);
    return ret;
}

static int modeled_trim(LmTestGuest *guest, struct nbd_handle *nbd,
                        guint64 first, guint64 n, guint32 flags)
{
    int ret;

    g_assert_true(lm_test_guest_claim(guest, first, n, NULL));
    ret = raw_trim(nbd, n * BLK, first * BLK, flags);
    lm_test_guest_settle(guest, first, n, LM_TEST_OP_DISCARD, 0, ret == 0);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Guest shorthands */

static void guest_connect(LmTestGuest *guest, LmTestQsd *qsd)
{
    g_autoptr(GError) err = NULL;

    lm_test_guest_connect(guest, lm_test_qsd_nbd_socket(qsd), "disk", &err);
    g_assert_no_error(err);
}

static void verify_all(LmTestGuest *guest, const char *when)
{
    g_autoptr(GError) err = NULL;

    if (!lm_test_guest_verify_all(guest, &err)) {
        g_printerr("\nguest data wrong %s: %s\n", when, err->message);
    }
    g_assert_no_error(err);
}

#define CHECK(call) \
    do { \
        g_autoptr(GError) err_ = NULL; \
        gboolean ok_ = (call); \
        g_assert_no_error(err_); \
        g_assert_true(ok_); \
    } while (0)

/* ------------------------------------------------------------------ */
/*
 * A write load on a connection that stays open while it pauses: an
 * iothread export cannot see a client leave (stock daemon bug, see
 * test_live_insert), and the harness load closes its connection when it
 * stops.  Same model bookkeeping as the harness load: claim, then settle
 * from the completion's .free, which libnbd calls exactly once.
 */
typedef struct {
    LmTestGuest *guest;
    struct nbd_handle *nbd;
    GThread *thread;
    gint stop;
    guint queue_depth;
    GRand *rand;
    LmTestLoadStats stats;      /* the thread's until it is joined */
    char *first_error;
} PinnedLoad;

typedef struct {
    PinnedLoad *load;
    guint64 block;
    guint64 gen;
    guint8 *buf;
    gboolean completed;
    int err;
} PinnedWrite;

static int pinned_write_done(void *opaque, int *error)
{
    PinnedWrite *w = opaque;

    w->completed = TRUE;
    w->err = *error;
    return 1;
}

static void pinned_write_free(void *opaque)
{
    PinnedWrite *w = opaque;
    PinnedLoad *load = w->load;
    gboolean ok = w->completed && w->err == 0;

    lm_test_guest_settle(load->guest, w->block, 1, LM_TEST_OP_WRITE, w->gen,
                         ok);
    if (ok) {
        load->stats.writes++;
        load->stats.bytes += BLK;
    } else {
        load->stats.errors++;
        if (!load->first_error) {
            load->first_error = g_strdup_printf(
                "write of block %" G_GUINT64_FORMAT " %s", w->block,
                w->completed ? g_strerror(w->err) : "never completed");
        }
    }
    g_free(w->buf);
    g_free(w);
}

static gboolean pinned_submit(PinnedLoad *load)
{
    guint64 n = lm_test_guest_n_blocks(load->guest);
    PinnedWrite *w;
    guint64 block, gen;
    int tries;

    for (tries = 0; tries < 4; tries++) {
        block = g_rand_int_range(load->rand, 0, (gint32)n);
        if (lm_test_guest_claim(load->guest, block, 1, &gen)) {
            break;
        }
    }
    if (tries == 4) {
        return FALSE;
    }
    w = g_new0(PinnedWrite, 1);
    w->load = load;
    w->block = block;
    w->gen = gen;
    w->buf = g_malloc(BLK);
    lm_test_stamp_fill(w->buf, BLK, block * BLK, gen);
    if (nbd_aio_pwrite(load->nbd, w->buf, BLK, block * BLK,
                       (nbd_completion_callback) {
                           .callback = pinned_write_done,
                           .user_data = w,
                           .free = pinned_write_free,
                       }, 0) < 0) {
        g_atomic_int_set(&load->stop, 1);
        return FALSE;
    }
    return TRUE;
}

static gpointer pinned_thread(gpointer data)
{
    PinnedLoad *load = data;
    gint64 deadline;

    while (!g_atomic_int_get(&load->stop)) {
        while ((guint)nbd_aio_in_flight(load->nbd) < load->queue_depth &&
               !g_atomic_int_get(&load->stop) && pinned_submit(load)) {
        }
        if (nbd_poll(load->nbd, 100) < 0) {
            break;
        }
    }
    deadline = g_get_monotonic_time() + NBD_TIMEOUT_MS * 1000LL;
    while (nbd_aio_in_flight(load->nbd) > 0 &&
           g_get_monotonic_time() < deadline &&
           nbd_poll(load->nbd, 100) >= 0) {
    }
    return NULL;
}

static PinnedLoad *pinned_new(LmTestGuest *guest, LmTestQsd *qsd)
{
    PinnedLoad *load = g_new0(PinnedLoad, 1);

    load->guest = guest;
    load->nbd = raw_connect(qsd, TRUE);
    load->queue_depth = 16;
    return load;
}

static void pinned_start(PinnedLoad *load, guint32 seed)
{
    g_assert_null(load->thread);
    g_clear_pointer(&load->rand, g_rand_free);
    load->rand = g_rand_new_with_seed(seed);
    memset(&load->stats, 0, sizeof(load->stats));
    g_atomic_int_set(&load->stop, 0);
    load->thread = g_thread_new("pinned-load", pinned_thread, load);
}

/* Stop issuing, wait for what is in flight, flush; the connection stays. */
static void pinned_stop(PinnedLoad *load, LmTestLoadStats *stats)
{
    g_atomic_int_set(&load->stop, 1);
    g_thread_join(load->thread);
    load->thread = NULL;
    *stats = load->stats;
    if (load->first_error || nbd_aio_in_flight(load->nbd) > 0) {
        g_error("load: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                " writes failed, %d still in flight; first: %s",
                load->stats.errors, load->stats.errors + load->stats.writes,
                nbd_aio_in_flight(load->nbd),
                load->first_error ? load->first_error : "-");
    }
    g_assert_cmpint(raw_flush(load->nbd), ==, 0);
}

/* After the daemon is gone: drop the connection without a goodbye. */
static void pinned_free(PinnedLoad *load)
{
    g_assert_null(load->thread);
    nbd_close(load->nbd);
    g_clear_pointer(&load->rand, g_rand_free);
    g_free(load->first_error);
    g_free(load);
}

/* ------------------------------------------------------------------ */
/* Where the daemon's threads spend CPU */

/* Time thread @tid of @pid has run on a CPU, in ns (schedstat). */
static guint64 thread_runtime_ns(int pid, int tid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/schedstat",
                                            pid, tid);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;

    g_file_get_contents(path, &text, NULL, &err);
    g_assert_no_error(err);
    return g_ascii_strtoull(text, NULL, 10);
}

/* The same summed over all threads of @pid. */
static guint64 process_runtime_ns(int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task", pid);
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) dir = g_dir_open(path, 0, &err);
    const char *name;
    guint64 sum = 0;

    g_assert_no_error(err);
    while ((name = g_dir_read_name(dir))) {
        sum += thread_runtime_ns(pid, (int)g_ascii_strtoll(name, NULL, 10));
    }
    return sum;
}

/* ------------------------------------------------------------------ */
/* 1. Insert and remove under a live export while the guest writes */

typedef enum {
    EXPORT_MAIN_LOOP,
    EXPORT_IOTHREAD,            /* iothread io0, may be moved */
    EXPORT_IOTHREAD_FIXED,      /* fixed-iothread: refuses to be moved */
} ExportMode;

typedef struct {
    ExportMode mode;
    gboolean iothread;
    LmTestGuest *guest;
    PinnedLoad *pinned;         /* iothread case */
    guint64 total_writes;
} LiveCtx;

static void live_load_start(LiveCtx *c, guint32 seed)
{
    if (c->iothread) {
        pinned_start(c->pinned, seed);
    } else {
        g_autoptr(GError) err = NULL;

        lm_test_guest_start_load(c->guest, &(LmTestLoad){
                                     .pattern = LM_TEST_LOAD_RANDOM,
                                     .queue_depth = 16,
                                     .seed = seed,
                                 }, &err);
        g_assert_no_error(err);
    }
}

/* Stop the load: every write succeeded, and there were writes. */
static void live_load_stop(LiveCtx *c, const char *when)
{
    LmTestLoadStats stats = { 0 };

    if (c->iothread) {
        pinned_stop(c->pinned, &stats);
    } else {
        g_autoptr(GError) err = NULL;

        lm_test_guest_stop_load(c->guest, &stats, &err);
        g_assert_no_error(err);
    }
    g_test_message("load %s: %" G_GUINT64_FORMAT " writes, %"
                   G_GUINT64_FORMAT " errors", when, stats.writes,
                   stats.errors);
    g_assert_cmpuint(stats.errors, ==, 0);
    g_assert_cmpuint(stats.writes, >, 0);
    c->total_writes += stats.writes;
}

/* Wait until the filter has seen at least @min guest writes. */
static void wait_filter_writes(LmQmp *qmp, guint64 min)
{
    gint64 deadline = g_get_monotonic_time() + SETTLE_TIMEOUT_US;
    Counters c;

    for (;;) {
        query_counters(qmp, "lmf", "disk", &c);
        if (c.requests[K_WRITE] >= min) {
            g_assert_cmpuint(c.bytes[K_WRITE], >=, min * BLK);
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("the filter saw %" G_GUINT64_FORMAT " writes, not %"
                    G_GUINT64_FORMAT ": the load does not go through it",
                    c.requests[K_WRITE], min);
        }
        g_usleep(10 * 1000);
    }
}

static void assert_filter_in(LmQmp *qmp)
{
    g_autofree char *drv = node_driver(qmp, "lmf");
    g_autofree char *served = export_node(qmp, "disk");

    g_assert_cmpstr(drv, ==, "livemerge");
    g_assert_cmpstr(served, ==, "lmf");
}

static void assert_filter_out(LmQmp *qmp)
{
    g_autofree char *drv = node_driver(qmp, "lmf");
    g_autofree char *served = export_node(qmp, "disk");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_executef(
        qmp, &err, "livemerge-query-filter",
        "{\"filter-node-name\": \"lmf\"}");

    g_assert_null(drv);
    g_assert_cmpstr(served, ==, "disk");
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_assert_nonnull(strstr(err->message, "no node named 'lmf'"));
}

static void test_live_insert(gconstpointer data)
{
    const char *const io_args[] = { "--object", "iothread,id=io0", NULL };
    LiveCtx c = {
        .mode = GPOINTER_TO_INT(data),
        .iothread = GPOINTER_TO_INT(data) != EXPORT_MAIN_LOOP,
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(c.iothread ? io_args : NULL,
                                                 &err);
    g_autofree char *img = NULL;
    LmQmp *qmp;

    g_assert_no_error(err);
    current_qsd = qsd;
    qmp = lm_test_qsd_qmp(qsd);
    img = lm_test_qsd_path(qsd, "disk.qcow2");
    lm_test_image_create(img, &(LmTestImageOpts){ .size = DISK_SIZE });
    add_qcow2(qmp, "disk", img);
    if (c.iothread) {
        /*
         * With fixed-iothread the export refuses to leave io0 (inserting
         * must not need that); without it, it could be pulled into the
         * main loop, which the CPU time check below would see.
         */
        lm_qmp_runf(qmp, &err, "nbd-server-start",
                    "{\"addr\": {\"type\": \"unix\", \"data\":"
                    " {\"path\": \"%s\"}}}", lm_test_qsd_nbd_socket(qsd));
        g_assert_no_error(err);
        lm_qmp_runf(qmp, &err, "block-export-add",
                    "{\"type\": \"nbd\", \"id\": \"disk\","
                    " \"node-name\": \"disk\", \"name\": \"disk\","
                    " \"writable\": true, \"iothread\": \"io0\","
                    " \"fixed-iothread\": %s}",
                    c.mode == EXPORT_IOTHREAD_FIXED ? "true" : "false");
        g_assert_no_error(err);
    } else {
        lm_test_qsd_export(qsd, "disk", "disk", &err);
        g_assert_no_error(err);
    }
    c.guest = lm_test_guest_new(BLK);
    guest_connect(c.guest, qsd);
    if (c.iothread) {
        c.pinned = pinned_new(c.guest, qsd);
    }

    /* Before: data of our own, a zeroed and a trimmed range. */
    CHECK(lm_test_guest_write_range(c.guest, 0, 512, &err_));
    CHECK(lm_test_guest_zero_range(c.guest, 64, 32, &err_));
    CHECK(lm_test_guest_discard_range(c.guest, 128, 64, &err_));
    CHECK(lm_test_guest_flush(c.guest, &err_));
    verify_all(c.guest, "before the filter");
    assert_filter_out(qmp);

    /* Insert under the load; the load's writes now go through it. */
    live_load_start(&c, 1);
    g_usleep(100 * 1000);
    insert_filter(qmp, "disk", "lmf");
    assert_filter_in(qmp);
    wait_filter_writes(qmp, 200);
    live_load_stop(&c, "across the insert");
    verify_all(c.guest, "with the filter in (load stopped)");

    /* During: the load again, then remove under it. */
    live_load_start(&c, 2);
    wait_filter_writes(qmp, 400);
    remove_filter(qmp, "lmf");
    assert_filter_out(qmp);
    g_usleep(100 * 1000);
    live_load_stop(&c, "across the remove");
    verify_all(c.guest, "after removing the filter");

    if (!c.iothread) {
        /* Insert/remove cycles under the load; the name is freed each
         * time.  (Not with an iothread export: see the top of the file.) */
        live_load_start(&c, 3);
        for (int i = 0; i < 8; i++) {
            insert_filter(qmp, "disk", "lmf");
            assert_filter_in(qmp);
            g_usleep(20 * 1000);
            remove_filter(qmp, "lmf");
            assert_filter_out(qmp);
            g_usleep(20 * 1000);
        }
        live_load_stop(&c, "across insert/remove cycles");
        verify_all(c.guest, "after insert/remove cycles");
    }

    /* The filter left in while the daemon quits; inserted between loads */
    insert_filter(qmp, "disk", "lmf");
    assert_filter_in(qmp);
    {
        int pid = lm_test_qsd_pid(qsd);
        guint64 all_before = process_runtime_ns(pid);
        guint64 main_before = thread_runtime_ns(pid, pid);
        guint64 all, main_thread;

        live_load_start(&c, 4);
        wait_filter_writes(qmp, 2000);
        live_load_stop(&c, "with the filter in at the end");
        all = process_runtime_ns(pid) - all_before;
        main_thread = thread_runtime_ns(pid, pid) - main_before;
        g_test_message("CPU time during the load: all threads %.1f ms, "
                       "main thread %.1f ms", all / 1e6, main_thread / 1e6);
        if (c.iothread) {
            /*
             * The requests are served in io0: the main thread only
             * answered QMP.  (A filter opened in the main loop and linked
             * in would pull a movable export's disk into the main loop.)
             */
            g_assert_cmpuint(main_thread * 4, <, all);
        }
    }
    verify_all(c.guest, "at the end, filter in");
    g_test_message("%" G_GUINT64_FORMAT " load writes in all",
                   c.total_writes);

    if (c.iothread) {
        /* Stock bug: a client leaving an iothread export aborts the
         * daemon (nbd_blockdev_client_closed asserts the main thread);
         * so the daemon goes first. */
        lm_test_qsd_stop(qsd);
        pinned_free(c.pinned);
        lm_test_guest_disconnect(c.guest);
    } else {
        lm_test_guest_disconnect(c.guest);
        lm_test_qsd_stop(qsd);
    }
    current_qsd = NULL;
    lm_test_image_check(img);

    /* What the guest wrote is in the image itself. */
    lm_test_guest_open_image(c.guest, img, "qcow2", &err);
    g_assert_no_error(err);
    verify_all(c.guest, "offline, after the daemon quit");
    lm_test_guest_free(c.guest);
}

/* ------------------------------------------------------------------ */
/* A daemon serving a fresh 64M qcow2 "disk" (discard=unmap at both
 * levels) as NBD export "disk" in the main loop. */

static LmTestQsd *serve_disk(char **img_out)
{
    g_autoptr(GError) err = NULL;
    LmTestQsd *qsd = lm_test_qsd_start(NULL, &err);
    char *img;

    g_assert_no_error(err);
    img = lm_test_qsd_path(qsd, "disk.qcow2");
    lm_test_image_create(img, &(LmTestImageOpts){ .size = DISK_SIZE });
    add_qcow2(lm_test_qsd_qmp(qsd), "disk", img);
    lm_test_qsd_export(qsd, "disk", "disk", &err);
    g_assert_no_error(err);
    *img_out = img;
    return qsd;
}

/* ------------------------------------------------------------------ */
/* 2. Every request kind reaches the child, with its flags, and is counted */

static void test_request_kinds(void)
{
    g_autofree char *img = NULL;
    g_autoptr(LmTestQsd) qsd = serve_disk(&img);
    LmQmp *qmp = lm_test_qsd_qmp(qsd);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(BLK);
    g_autofree guint8 *buf = g_malloc(256 * KiB);
    struct nbd_handle *plain, *structured;
    LmTestBlockContent content;
    Counters c;

    insert_filter(qmp, "disk", "lmf");
    guest_connect(guest, qsd);
    /* Without structured replies the server reads whatever the range
     * holds, so every read is one request to the filter. */
    plain = raw_connect(qsd, FALSE);
    structured = raw_connect(qsd, TRUE);
    g_assert_cmpint(nbd_can_fua(plain), ==, 1);
    g_assert_cmpint(nbd_can_zero(plain), ==, 1);
    g_assert_cmpint(nbd_can_trim(plain), ==, 1);
    g_assert_cmpint(nbd_can_flush(plain), ==, 1);

    /* A new filter has seen nothing. */
    query_counters(qmp, "lmf", "disk", &c);
    for (int k = 0; k < K_MAX; k++) {
        g_assert_cmpuint(c.requests[k], ==, 0);
        g_assert_cmpuint(c.bytes[k], ==, 0);
    }

    /* write: 256k stamped at 0 */
    CHECK(lm_test_guest_write_range(guest, 0, 64, &err_));
    expect_one(qmp, &c, "write 256k", K_WRITE, 256 * KiB);

    /* read: all of it, plain; the stamps come back */
    g_assert_cmpint(raw_pread(plain, buf, 256 * KiB, 0), ==, 0);
    expect_one(qmp, &c, "plain read 256k", K_READ, 256 * KiB);
    for (int i = 0; i < 64; i++) {
        lm_test_stamp_decode(buf + i * BLK, BLK, &content);
        g_assert_cmpint(content.kind, ==, LM_TEST_BLOCK_STAMPED);
        g_assert_cmpuint(content.offset, ==, (guint64)i * BLK);
    }
    /* read of allocated data with structured replies: one read too */
    g_assert_cmpint(raw_pread(structured, buf, 64 * KiB, 64 * KiB), ==, 0);
    expect_one(qmp, &c, "structured read of data 64k", K_READ, 64 * KiB);

    /* write zeroes, no flags (the server adds MAY_UNMAP) */
    CHECK(lm_test_guest_zero_range(guest, 16, 16, &err_));
    expect_one(qmp, &c, "write zeroes 64k", K_WZ, CLUSTER);

    /* write zeroes, NO_HOLE; reads back zeros */
    g_assert_cmpint(modeled_zero(guest, plain, 32, 16,
                                 LIBNBD_CMD_FLAG_NO_HOLE), ==, 0);
    expect_one(qmp, &c, "write zeroes no-hole 64k", K_WZ, CLUSTER);
    assert_zeros(plain, 2 * CLUSTER, CLUSTER);
    expect_one(qmp, &c, "plain read 64k", K_READ, CLUSTER);

    /* write zeroes, FAST_ZERO, of a whole cluster of data: succeeds */
    g_assert_cmpint(nbd_can_fast_zero(plain), ==, 1);
    g_assert_cmpint(modeled_zero(guest, plain, 48, 16,
                                 LIBNBD_CMD_FLAG_FAST_ZERO), ==, 0);
    expect_one(qmp, &c, "fast zero 64k", K_WZ, CLUSTER);
    assert_zeros(plain, 3 * CLUSTER, CLUSTER);
    expect_one(qmp, &c, "plain read 64k", K_READ, CLUSTER);

    /*
     * FAST_ZERO of 4k inside a cluster of data: qcow2 could only do it by
     * writing zeros, and NO_FALLBACK forbids that, so it fails with
     * ENOTSUP - as without the filter - if the flag reaches qcow2.
     */
    CHECK(lm_test_guest_write_range(guest, 64, 16, &err_));
    expect_one(qmp, &c, "write 64k", K_WRITE, CLUSTER);
    g_assert_cmpint(raw_zero(plain, BLK, 65 * BLK,
                             LIBNBD_CMD_FLAG_FAST_ZERO), ==, ENOTSUP);
    expect_one(qmp, &c, "refused fast zero 4k", K_WZ, BLK);
    CHECK(lm_test_guest_verify_block(guest, 65, &err_));
    expect_one(qmp, &c, "read 4k", K_READ, BLK);

    /* FUA write: passes as a flag (no flush of the filter) and lands */
    {
        guint64 gen;

        g_assert_cmpint(modeled_write(guest, plain, 1 * MiB / BLK, 16,
                                      LIBNBD_CMD_FLAG_FUA, &gen), ==, 0);
        expect_one(qmp, &c, "FUA write 64k", K_WRITE, CLUSTER);
        g_assert_cmpint(raw_pread(plain, buf, CLUSTER, 1 * MiB), ==, 0);
        expect_one(qmp, &c, "plain read 64k", K_READ, CLUSTER);
        for (int i = 0; i < 16; i++) {
            lm_test_stamp_decode(buf + i * BLK, BLK, &content);
            g_assert_cmpint(content.kind, ==, LM_TEST_BLOCK_STAMPED);
            g_assert_cmpuint(content.offset, ==, 1 * MiB + i * BLK);
            g_assert_cmpuint(content.gen, ==, gen);
        }
    }

    /* FUA write zeroes */
    g_assert_cmpint(modeled_zero(guest, plain, 1 * MiB / BLK, 16,
                                 LIBNBD_CMD_FLAG_FUA), ==, 0);
    expect_one(qmp, &c, "FUA write zeroes 64k", K_WZ, CLUSTER);
    assert_zeros(plain, 1 * MiB, CLUSTER);
    expect_one(qmp, &c, "plain read 64k", K_READ, CLUSTER);

    /* discard (trim), cluster aligned: afterwards the range reads zeros */
    CHECK(lm_test_guest_write_range(guest, 2 * MiB / BLK, 64, &err_));
    expect_one(qmp, &c, "write 256k", K_WRITE, 256 * KiB);
    CHECK(lm_test_guest_discard_range(guest, 2 * MiB / BLK, 32, &err_));
    expect_one(qmp, &c, "trim 128k", K_DISCARD, 128 * KiB);
    assert_zeros(plain, 2 * MiB, 128 * KiB);
    expect_one(qmp, &c, "plain read 128k", K_READ, 128 * KiB);

    /* trim with FUA: the server follows it with a flush */
    g_assert_cmpint(modeled_trim(guest, plain, 2 * MiB / BLK + 32, 32,
                                 LIBNBD_CMD_FLAG_FUA), ==, 0);
    {
        guint64 n[K_MAX] = { [K_DISCARD] = 1, [K_FLUSH] = 1 };
        guint64 b[K_MAX] = { [K_DISCARD] = 128 * KiB };

        expect_delta(qmp, &c, "FUA trim 128k", n, b);
    }

    /* flush, from both connections */
    CHECK(lm_test_guest_flush(guest, &err_));
    expect_one(qmp, &c, "flush", K_FLUSH, 0);
    g_assert_cmpint(raw_flush(plain), ==, 0);
    expect_one(qmp, &c, "flush", K_FLUSH, 0);

    verify_all(guest, "through the filter");
    remove_filter(qmp, "lmf");
    verify_all(guest, "after removing the filter");

    lm_test_guest_disconnect(guest);
    nbd_close(plain);
    nbd_close(structured);
    lm_test_qsd_stop(qsd);
    lm_test_image_check(img);
    CHECK(lm_test_guest_open_image(guest, img, "qcow2", &err_));
    verify_all(guest, "offline");
}

/* ------------------------------------------------------------------ */
/* 3. Discard unmaps, write zeroes keeps its flags: as without the filter */

/* Can the filesystem of @dir punch holes (so discard=unmap frees space)? */
static gboolean punches_holes(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "punch-probe", NULL);
    g_autofree char *data = g_malloc0(64 * KiB);
    gboolean ok;
    int fd;

    memset(data, 0xff, 64 * KiB);
    g_assert_true(g_file_set_contents(path, data, 64 * KiB, NULL));
    fd = open(path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                   64 * KiB) == 0;
    close(fd);
    g_unlink(path);
    return ok;
}

static gint64 allocated_bytes(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return (gint64)st.st_blocks * 512;
}

static const LmTestMapEntry *map_at(GArray *map, guint64 offset)
{
    for (guint i = 0; i < map->len; i++) {
        const LmTestMapEntry *e = &g_array_index(map, LmTestMapEntry, i);

        if (offset >= e->start && offset < e->start + e->length) {
            return e;
        }
    }
    g_assert_not_reached();
}

static char *describe_map(GArray *map)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < map->len; i++) {
        const LmTestMapEntry *e = &g_array_index(map, LmTestMapEntry, i);

        g_string_append_printf(s, "[%" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT
                               " %s%s%s%s]", e->start, e->length,
                               e->present ? "present" : "absent",
                               e->data ? " data" : "", e->zero ? " zero" : "",
                               e->offset >= 0 ? " allocated" : "");
    }
    return g_string_free(s, FALSE);
}

/*
 * Data in [0, 4M); trim [1M, 2M), zero [2M, 2.5M) (may unmap), zero with
 * NO_HOLE [2.5M, 3M), fast zero [3M, 3.5M); with or without the filter.
 * Returns the final map (daemon stopped).
 */
static GArray *discard_scenario(gboolean with_filter)
{
    g_autofree char *img = NULL;
    g_autoptr(LmTestQsd) qsd = serve_disk(&img);
    LmQmp *qmp = lm_test_qsd_qmp(qsd);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(BLK);
    g_autoptr(GArray) map = NULL;
    g_autofree char *map_text = NULL;
    const char *how = with_filter ? "filter" : "no filter";
    struct nbd_handle *nbd;
    gint64 before_trim, after_trim;
    LmTestBlockContent content;
    GArray *final;

    guest_connect(guest, qsd);
    nbd = raw_connect(qsd, TRUE);
    CHECK(lm_test_guest_write_range(guest, 0, 4 * MiB / BLK, &err_));
    CHECK(lm_test_guest_flush(guest, &err_));
    map = lm_test_image_map(img);
    g_assert_true(map_at(map, 1 * MiB)->data);
    g_assert_true(map_at(map, 3 * MiB)->data);
    g_clear_pointer(&map, g_array_unref);
    if (with_filter) {
        insert_filter(qmp, "disk", "lmf");
    }

    before_trim = allocated_bytes(img);
    CHECK(lm_test_guest_discard_range(guest, 1 * MiB / BLK, 1 * MiB / BLK,
                                      &err_));
    after_trim = allocated_bytes(img);
    g_test_message("%s: image file allocation %" G_GINT64_FORMAT " -> %"
                   G_GINT64_FORMAT " bytes across the trim", how,
                   before_trim, after_trim);
    /*
     * discard=unmap on the file node: the trim punched a hole of 1M there
     * (qcow2 may allocate a little metadata meanwhile)
     */
    if (punches_holes(lm_test_qsd_dir(qsd))) {
        g_assert_cmpint(after_trim, <=, before_trim - 768 * KiB);
    } else {
        g_test_message("the filesystem of %s cannot punch holes",
                       lm_test_qsd_dir(qsd));
    }

    /* Until a flush, qcow2 keeps the L2 update in memory: the trimmed
     * clusters still have a host offset on disk. */
    map = lm_test_image_map(img);
    map_text = describe_map(map);
    g_test_message("%s: after trim, before flush: %s", how, map_text);
    g_assert_true(map_at(map, 1 * MiB)->offset >= 0);
    g_clear_pointer(&map, g_array_unref);
    g_clear_pointer(&map_text, g_free);

    /* The flush (through the filter, if in) writes it back */
    CHECK(lm_test_guest_flush(guest, &err_));
    map = lm_test_image_map(img);
    map_text = describe_map(map);
    g_test_message("%s: after flush: %s", how, map_text);
    g_assert_false(map_at(map, 1 * MiB)->data);
    g_assert_cmpint(map_at(map, 1 * MiB)->offset, ==, -1);
    g_assert_true(map_at(map, 1 * MiB)->start <= 1 * MiB);
    g_assert_true(map_at(map, 1 * MiB)->start + map_at(map, 1 * MiB)->length
                  >= 2 * MiB);
    g_assert_true(map_at(map, 1 * MiB - 1)->data);
    g_assert_true(map_at(map, 2 * MiB)->data);
    g_clear_pointer(&map, g_array_unref);
    g_clear_pointer(&map_text, g_free);

    /* Trimmed blocks read as zeros (NBD would allow old data too) */
    for (guint64 b = 1 * MiB / BLK; b < 2 * MiB / BLK; b += 37) {
        CHECK(lm_test_guest_read_block(guest, b, &content, &err_));
        g_assert_cmpint(content.kind, ==, LM_TEST_BLOCK_ZERO);
    }

    /* Write zeroes: MAY_UNMAP frees the clusters, NO_HOLE keeps them */
    CHECK(lm_test_guest_zero_range(guest, 2 * MiB / BLK, 128, &err_));
    g_assert_cmpint(modeled_zero(guest, nbd, (2 * MiB + 512 * KiB) / BLK, 128,
                                 LIBNBD_CMD_FLAG_NO_HOLE), ==, 0);
    g_assert_cmpint(modeled_zero(guest, nbd, 3 * MiB / BLK, 128,
                                 LIBNBD_CMD_FLAG_FAST_ZERO), ==, 0);
    CHECK(lm_test_guest_flush(guest, &err_));
    map = lm_test_image_map(img);
    map_text = describe_map(map);
    g_test_message("%s: after zeroing: %s", how, map_text);
    g_assert_true(map_at(map, 2 * MiB)->zero);
    g_assert_false(map_at(map, 2 * MiB)->data);
    g_assert_cmpint(map_at(map, 2 * MiB)->offset, ==, -1);
    g_assert_true(map_at(map, 2 * MiB + 512 * KiB)->zero);
    g_assert_false(map_at(map, 2 * MiB + 512 * KiB)->data);
    g_assert_cmpint(map_at(map, 2 * MiB + 512 * KiB)->offset, >=, 0);
    g_assert_true(map_at(map, 3 * MiB)->zero);
    g_assert_cmpint(map_at(map, 3 * MiB)->offset, ==, -1);
    g_assert_true(map_at(map, 3 * MiB + 512 * KiB)->data);
    g_clear_pointer(&map, g_array_unref);

    if (with_filter) {
        Counters c;

        query_counters(qmp, "lmf", "disk", &c);
        g_assert_cmpuint(c.requests[K_DISCARD], ==, 1);
        g_assert_cmpuint(c.bytes[K_DISCARD], ==, 1 * MiB);
        g_assert_cmpuint(c.requests[K_WZ], ==, 3);
        g_assert_cmpuint(c.bytes[K_WZ], ==, 3 * 512 * KiB);
        g_assert_cmpuint(c.requests[K_FLUSH], ==, 2);
        g_assert_cmpuint(c.requests[K_WRITE], ==, 0);
    }

    verify_all(guest, how);
    lm_test_guest_disconnect(guest);
    nbd_close(nbd);
    lm_test_qsd_stop(qsd);
    lm_test_image_check(img);

    /* The daemon is gone: the image itself says the same */
    final = lm_test_image_map(img);
    {
        g_autofree char *final_text = describe_map(final);

        g_assert_cmpstr(final_text, ==, map_text);
    }
    CHECK(lm_test_guest_open_image(guest, img, "qcow2", &err_));
    verify_all(guest, "offline");
    return final;
}

static void test_discard(void)
{
    g_autoptr(GArray) with = discard_scenario(TRUE);
    g_autoptr(GArray) without = discard_scenario(FALSE);
    g_autofree char *with_text = describe_map(with);
    g_autofree char *without_text = describe_map(without);

    g_assert_cmpstr(with_text, ==, without_text);
}

/* ------------------------------------------------------------------ */
/* 4. The commands answer from the very first QMP command on */

static void qsd_child_setup(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/*
 * Not through the harness: its monitor socket is server=on,wait=off, and
 * a client connecting right at start-up races the stock daemon handing
 * the listener to the monitor's iothread (duplicate greetings, lost input
 * bytes, a main loop stuck in accept(); about one start in a thousand,
 * with or without the plugin).  With wait=on the daemon waits for us in
 * its option parsing, before its main loop: the earliest a command can
 * arrive, which is what this test is after.
 */
static void startup_once(const char *dir, guint i)
{
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    g_autofree char *log = g_build_filename(dir, "qsd.log", NULL);
    g_autofree char *chardev =
        g_strdup_printf("socket,id=qmp0,path=%s,server=on,wait=on", sock);
    const char *const argv[] = {
        LIVEMERGE_LAUNCHER, "--chardev", chardev, "--monitor", "chardev=qmp0",
        NULL,
    };
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *want = g_strdup_printf(
        "Parameter 'filter-node-name': no node named 'bogus%u'", i);
    gint64 deadline;

    g_unlink(sock);
    g_subprocess_launcher_set_stdout_file_path(launcher, log);
    g_subprocess_launcher_set_child_setup(launcher, qsd_child_setup, NULL,
                                          NULL);
    proc = g_subprocess_launcher_spawnv(launcher, argv, &err);
    g_assert_no_error(err);

    /* connect negotiates capabilities; nothing else is sent before */
    qmp = lm_qmp_connect(sock, 30000, &err);
    g_assert_no_error(err);
    ret = lm_qmp_executef(qmp, &err, "livemerge-query-filter",
                          "{\"filter-node-name\": \"bogus%u\"}", i);
    g_assert_null(ret);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    if (!g_str_equal(lm_qmp_last_error_class(qmp), "GenericError") ||
        !g_str_equal(err->message, want)) {
        g_error("run %u: %s: %s", i, lm_qmp_last_error_class(qmp),
                err->message);
    }
    g_clear_error(&err);

    ret = lm_qmp_execute(qmp, "quit", NULL, &err);
    g_assert_no_error(err);
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (g_subprocess_get_identifier(proc) &&
           g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    if (g_subprocess_get_identifier(proc)) {
        g_subprocess_force_exit(proc);
        g_error("run %u: the daemon did not exit after quit", i);
    }
    g_subprocess_wait_check(proc, NULL, &err);
    if (err) {
        g_autofree char *text = NULL;

        g_file_get_contents(log, &text, NULL, NULL);
        g_error("run %u: %s; log:\n%s", i, err->message, text);
    }
}

static void test_startup_race(void)
{
    const char *env = g_getenv("LM_TEST_STARTUP_RUNS");
    guint runs = env ? (guint)g_ascii_strtoull(env, NULL, 10) : 100;
    g_autofree char *dir = g_dir_make_tmp("lmtest-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    g_autofree char *log = g_build_filename(dir, "qsd.log", NULL);
    gint64 start = g_get_monotonic_time();

    g_assert_nonnull(dir);
    g_assert_cmpuint(runs, >, 0);
    for (guint i = 0; i < runs; i++) {
        startup_once(dir, i);
    }
    g_test_message("%u daemons in %.1f s", runs,
                   (g_get_monotonic_time() - start) / 1e6);
    g_unlink(sock);
    g_unlink(log);
    g_rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* 5. Bad arguments: refused, naming the argument; nothing changes */

/*
 * Send @line; expect a GenericError whose text contains each of the
 * NULL-terminated @needles; the graph must be as it was (@nodes).
 */
static void expect_refusal(LmQmp *qmp, const char *nodes, const char *line,
                           ...) G_GNUC_NULL_TERMINATED;

static void expect_refusal(LmQmp *qmp, const char *nodes, const char *line,
                           ...)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_execute_raw(qmp, line, &err);
    g_autofree char *after = NULL;
    va_list ap;

    g_test_message("%s -> %s", line, err ? err->message : "success");
    g_assert_null(ret);
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_assert_cmpstr(lm_qmp_last_error_class(qmp), ==, "GenericError");
    va_start(ap, line);
    for (const char *n = va_arg(ap, const char *); n;
         n = va_arg(ap, const char *)) {
        if (!strstr(err->message, n)) {
            g_error("%s: error '%s' does not contain \"%s\"", line,
                    err->message, n);
        }
    }
    va_end(ap);
    after = node_names(qmp);
    g_assert_cmpstr(after, ==, nodes);
}

#define INSERT(args) \
    "{\"execute\": \"livemerge-insert-filter\", \"arguments\": " args "}"
#define REMOVE(args) \
    "{\"execute\": \"livemerge-remove-filter\", \"arguments\": " args "}"
#define QUERY(args) \
    "{\"execute\": \"livemerge-query-filter\", \"arguments\": " args "}"

static void test_bad_arguments(void)
{
    g_autofree char *img = NULL;
    g_autoptr(LmTestQsd) qsd = serve_disk(&img);
    LmQmp *qmp = lm_test_qsd_qmp(qsd);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(BLK);
    g_autofree char *lonely = lm_test_qsd_path(qsd, "lonely.qcow2");
    g_autofree char *nodes = NULL;
    g_autofree char *filtered = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) version = NULL;
    Counters c;

    guest_connect(guest, qsd);
    CHECK(lm_test_guest_write_range(guest, 0, 256, &err_));
    /* A node nothing uses */
    lm_test_image_create(lonely, &(LmTestImageOpts){ .size = "1M" });
    add_qcow2(qmp, "lonely", lonely);
    nodes = node_names(qmp);
    g_assert_cmpstr(nodes, ==, "disk disk-file lonely lonely-file");

    /* insert: members */
    expect_refusal(qmp, nodes, INSERT("{\"filter-node-name\": \"f\"}"),
                   "'node'", "missing", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\"}"),
                   "'filter-node-name'", "missing", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": 1, "
                                      "\"filter-node-name\": \"f\"}"),
                   "'node'", "string", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\", "
                                      "\"filter-node-name\": true}"),
                   "'filter-node-name'", "string", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\", "
                                      "\"filter-node-name\": \"f\", "
                                      "\"bogus\": 1}"),
                   "'bogus'", "unexpected", NULL);
    expect_refusal(qmp, nodes, "{\"execute\": \"livemerge-insert-filter\"}",
                   "'node'", "missing", NULL);
    /* insert: values */
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"nope\", "
                                      "\"filter-node-name\": \"f\"}"),
                   "'node'", "'nope'", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"lonely\", "
                                      "\"filter-node-name\": \"f\"}"),
                   "'node'", "'lonely'", "no parent", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\", "
                                      "\"filter-node-name\": \"1abc\"}"),
                   "'filter-node-name'", "'1abc'", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\", "
                                      "\"filter-node-name\": \"a b\"}"),
                   "'filter-node-name'", "'a b'", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\", "
                                      "\"filter-node-name\": \"\"}"),
                   "'filter-node-name'", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\", "
                                      "\"filter-node-name\": \"lonely\"}"),
                   "'filter-node-name'", "'lonely'", "exists", NULL);
    expect_refusal(qmp, nodes, INSERT("{\"node\": \"disk\", "
                                      "\"filter-node-name\": \"disk\"}"),
                   "'filter-node-name'", "'disk'", "exists", NULL);
    /* remove / query of nodes that are not filters */
    expect_refusal(qmp, nodes, REMOVE("{\"filter-node-name\": \"disk\"}"),
                   "'filter-node-name'", "'disk'", "not a livemerge filter",
                   NULL);
    expect_refusal(qmp, nodes, REMOVE("{\"filter-node-name\": \"nope\"}"),
                   "'filter-node-name'", "'nope'", NULL);
    expect_refusal(qmp, nodes, QUERY("{\"filter-node-name\": \"nope\"}"),
                   "'filter-node-name'", "'nope'", NULL);
    expect_refusal(qmp, nodes, QUERY("{\"filter-node-name\": \"disk-file\"}"),
                   "'filter-node-name'", "'disk-file'",
                   "not a livemerge filter", NULL);
    expect_refusal(qmp, nodes, REMOVE("{}"), "'filter-node-name'", "missing",
                   NULL);
    expect_refusal(qmp, nodes, QUERY("{}"), "'filter-node-name'", "missing",
                   NULL);
    expect_refusal(qmp, nodes, REMOVE("{\"filter-node-name\": 7}"),
                   "'filter-node-name'", "string", NULL);
    expect_refusal(qmp, nodes, QUERY("{\"filter-node-name\": [\"lmf\"]}"),
                   "'filter-node-name'", "string", NULL);
    expect_refusal(qmp, nodes, REMOVE("{\"filter-node-name\": \"disk\", "
                                      "\"x\": 1}"), "'x'", "unexpected",
                   NULL);
    expect_refusal(qmp, nodes, QUERY("{\"filter-node-name\": \"disk\", "
                                     "\"x\": 1}"), "'x'", "unexpected",
                   NULL);

    /* With a filter in: a second one, and a filter above the filter */
    insert_filter(qmp, "disk", "lmf");
    filtered = node_names(qmp);
    g_assert_cmpstr(filtered, ==, "disk disk-file lmf lonely lonely-file");
    expect_refusal(qmp, filtered, INSERT("{\"node\": \"disk\", "
                                         "\"filter-node-name\": \"lmf2\"}"),
                   "'node'", "'disk'", "'lmf'", NULL);
    expect_refusal(qmp, filtered, INSERT("{\"node\": \"lmf\", "
                                         "\"filter-node-name\": \"lmf2\"}"),
                   "'node'", "'lmf'", "itself", NULL);
    expect_refusal(qmp, filtered, INSERT("{\"node\": \"disk-file\", "
                                         "\"filter-node-name\": \"lmf\"}"),
                   "'filter-node-name'", "'lmf'", "exists", NULL);

    /* The refusals changed nothing: the filter still filters */
    CHECK(lm_test_guest_write_range(guest, 256, 16, &err_));
    query_counters(qmp, "lmf", "disk", &c);
    g_assert_cmpuint(c.requests[K_WRITE], ==, 1);
    remove_filter(qmp, "lmf");
    expect_refusal(qmp, nodes, REMOVE("{\"filter-node-name\": \"lmf\"}"),
                   "'filter-node-name'", "'lmf'", NULL);

    /* Still running and serving */
    version = lm_qmp_execute(qmp, "query-version", NULL, &err);
    g_assert_no_error(err);
    verify_all(guest, "after the refusals");
    lm_test_guest_disconnect(guest);
    lm_test_qsd_stop(qsd);
    lm_test_image_check(img);
    lm_test_image_check(lonely);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/filter/live-insert/main-loop",
                         GINT_TO_POINTER(EXPORT_MAIN_LOOP), test_live_insert);
    g_test_add_data_func("/filter/live-insert/iothread",
                         GINT_TO_POINTER(EXPORT_IOTHREAD), test_live_insert);
    g_test_add_data_func("/filter/live-insert/iothread-fixed",
                         GINT_TO_POINTER(EXPORT_IOTHREAD_FIXED),
                         test_live_insert);
    g_test_add_func("/filter/request-kinds", test_request_kinds);
    g_test_add_func("/filter/discard", test_discard);
    g_test_add_func("/filter/startup-race", test_startup_race);
    g_test_add_func("/filter/bad-arguments", test_bad_arguments);
    return g_test_run();
}
