/*
 * livemerge test harness - a guest that writes verifiable data over NBD
 *
 * Synchronous operations use libnbd's asynchronous calls plus nbd_poll()
 * against a deadline, because the synchronous calls wait forever and a
 * test must fail, not hang, when the daemon wedges.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-guest-priv.h"
#include "lm-test-stamp.h"

#include <string.h>

G_DEFINE_QUARK(lm-test-guest-error-quark, lm_test_guest_error)

/* verify_all reads this much at a time. */
#define VERIFY_CHUNK (1024 * 1024)
/* and describes at most this many mismatches. */
#define VERIFY_MAX_REPORTED 5

void lm_test_guest_nbd_error(GError **error, const char *what)
{
    const char *msg = nbd_get_error();

    g_set_error(error, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_NBD,
                "%s: %s", what, msg ? msg : "failed");
}

static int remaining_ms(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    return left <= 0 ? 0 : (int)MIN((left + 999) / 1000, G_MAXINT);
}

static gboolean nbd_wait_ready(struct nbd_handle *nbd, GError **error)
{
    gint64 deadline = g_get_monotonic_time() +
                      LM_TEST_GUEST_TIMEOUT_MS * 1000LL;

    while (!nbd_aio_is_ready(nbd)) {
        if (nbd_aio_is_dead(nbd) || nbd_aio_is_closed(nbd)) {
            lm_test_guest_nbd_error(error, "NBD connect");
            return FALSE;
        }
        if (remaining_ms(deadline) == 0) {
            g_set_error_literal(error, LM_TEST_GUEST_ERROR,
                                LM_TEST_GUEST_ERROR_TIMEOUT,
                                "NBD connect: timed out");
            return FALSE;
        }
        if (nbd_poll(nbd, remaining_ms(deadline)) < 0) {
            lm_test_guest_nbd_error(error, "NBD connect");
            return FALSE;
        }
    }
    return TRUE;
}

void lm_test_guest_nbd_close(struct nbd_handle *nbd)
{
    gint64 deadline = g_get_monotonic_time() +
                      LM_TEST_GUEST_TIMEOUT_MS * 1000LL;

    if (nbd_aio_is_ready(nbd) && nbd_aio_disconnect(nbd, 0) == 0) {
        while (!nbd_aio_is_closed(nbd) && !nbd_aio_is_dead(nbd) &&
               remaining_ms(deadline) > 0 &&
               nbd_poll(nbd, remaining_ms(deadline)) >= 0) {
            /* let the server see the disconnect and hang up */
        }
    }
    nbd_close(nbd);
}

struct nbd_handle *lm_test_guest_nbd_connect(const char *socket_path,
                                             const char *export_name,
                                             GError **error)
{
    struct nbd_handle *nbd = nbd_create();

    if (!nbd) {
        lm_test_guest_nbd_error(error, "nbd_create");
        return NULL;
    }
    if (nbd_set_export_name(nbd, export_name) < 0 ||
        nbd_aio_connect_unix(nbd, socket_path) < 0) {
        lm_test_guest_nbd_error(error, "NBD connect");
        nbd_close(nbd);
        return NULL;
    }
    if (!nbd_wait_ready(nbd, error)) {
        g_prefix_error(error, "%s export '%s': ", socket_path, export_name);
        nbd_close(nbd);
        return NULL;
    }
    return nbd;
}

/*
 * Wait for command @cookie on the guest's connection.  On a timeout the
 * connection is dropped, which also makes libnbd let go of the buffer.
 */
static gboolean guest_wait(LmTestGuest *guest, int64_t cookie,
                           const char *what, GError **error)
{
    gint64 deadline = g_get_monotonic_time() +
                      LM_TEST_GUEST_TIMEOUT_MS * 1000LL;

    if (cookie < 0) {
        lm_test_guest_nbd_error(error, what);
        return FALSE;
    }
    for (;;) {
        int r = nbd_aio_command_completed(guest->nbd, cookie);

        if (r == 1) {
            return TRUE;
        }
        if (r < 0) {
            lm_test_guest_nbd_error(error, what);
            return FALSE;
        }
        if (remaining_ms(deadline) == 0) {
            g_set_error(error, LM_TEST_GUEST_ERROR,
                        LM_TEST_GUEST_ERROR_TIMEOUT,
                        "%s: no answer within %d ms, disconnected", what,
                        LM_TEST_GUEST_TIMEOUT_MS);
            g_clear_pointer(&guest->nbd, nbd_close);
            return FALSE;
        }
        if (nbd_poll(guest->nbd, remaining_ms(deadline)) < 0) {
            lm_test_guest_nbd_error(error, what);
            return FALSE;
        }
    }
}

LmTestGuest *lm_test_guest_new(guint block_size)
{
    LmTestGuest *guest = g_new0(LmTestGuest, 1);

    if (!block_size) {
        block_size = LM_TEST_GUEST_DEFAULT_BLOCK_SIZE;
    }
    g_assert_true(block_size % 512 == 0);
    guest->block_size = block_size;
    g_mutex_init(&guest->lock);
    return guest;
}

void lm_test_guest_free(LmTestGuest *guest)
{
    if (!guest) {
        return;
    }
    lm_test_guest_disconnect(guest);
    lm_test_guest_use_clock(guest, NULL);
    g_mutex_clear(&guest->lock);
    g_free(guest->blocks);
    g_free(guest);
}

/* Take @nbd as the connection and fit the model to the disk it shows. */
static gboolean guest_attach(LmTestGuest *guest, struct nbd_handle *nbd,
                             GError **error)
{
    int64_t size = nbd_get_size(nbd);
    guint64 n_blocks;

    if (size < 0) {
        lm_test_guest_nbd_error(error, "nbd_get_size");
        nbd_close(nbd);
        return FALSE;
    }
    n_blocks = size / guest->block_size;
    if (n_blocks < guest->n_blocks) {
        g_set_error(error, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_USAGE,
                    "disk shrank from %" G_GUINT64_FORMAT " to %"
                    G_GUINT64_FORMAT " blocks", guest->n_blocks, n_blocks);
        nbd_close(nbd);
        return FALSE;
    }
    guest->blocks = g_renew(LmTestBlockState, guest->blocks, n_blocks);
    memset(guest->blocks + guest->n_blocks, 0,
           (n_blocks - guest->n_blocks) * sizeof(LmTestBlockState));
    guest->n_blocks = n_blocks;
    guest->nbd = nbd;
    return TRUE;
}

gboolean lm_test_guest_connect(LmTestGuest *guest, const char *socket_path,
                               const char *export_name, GError **error)
{
    struct nbd_handle *nbd;

    g_assert_null(guest->nbd);
    nbd = lm_test_guest_nbd_connect(socket_path, export_name, error);
    if (!nbd || !guest_attach(guest, nbd, error)) {
        return FALSE;
    }
    guest->socket_path = g_strdup(socket_path);
    guest->export_name = g_strdup(export_name);
    return TRUE;
}

gboolean lm_test_guest_open_image(LmTestGuest *guest, const char *path,
                                  const char *fmt, GError **error)
{
    const char *qemu_nbd = g_getenv("QEMU_NBD");
    char *argv[] = {
        (char *)(qemu_nbd && *qemu_nbd ? qemu_nbd : "qemu-nbd"),
        (char *)"-f", (char *)fmt,
        (char *)"--discard=unmap",
        (char *)path,
        NULL,
    };
    struct nbd_handle *nbd;

    g_assert_null(guest->nbd);
    nbd = nbd_create();
    if (!nbd) {
        lm_test_guest_nbd_error(error, "nbd_create");
        return FALSE;
    }
    if (nbd_aio_connect_systemd_socket_activation(nbd, argv) < 0 ||
        !nbd_wait_ready(nbd, error)) {
        if (error && !*error) {
            lm_test_guest_nbd_error(error, "qemu-nbd");
        }
        g_prefix_error(error, "%s: ", path);
        nbd_close(nbd);
        return FALSE;
    }
    return guest_attach(guest, nbd, error);
}

void lm_test_guest_disconnect(LmTestGuest *guest)
{
    if (guest->load) {
        g_autoptr(GError) err = NULL;

        if (!lm_test_guest_stop_load(guest, NULL, &err)) {
            g_test_message("load stopped by disconnect: %s", err->message);
        }
    }
    g_clear_pointer(&guest->nbd, lm_test_guest_nbd_close);
    g_clear_pointer(&guest->socket_path, g_free);
    g_clear_pointer(&guest->export_name, g_free);
}

guint lm_test_guest_block_size(LmTestGuest *guest)
{
    return guest->block_size;
}

guint64 lm_test_guest_n_blocks(LmTestGuest *guest)
{
    return guest->n_blocks;
}

gboolean lm_test_guest_claim(LmTestGuest *guest, guint64 first, guint64 n,
                             guint64 *gen)
{
    gboolean free_ = TRUE;

    g_mutex_lock(&guest->lock);
    for (guint64 i = first; i < first + n && free_; i++) {
        free_ = !(guest->blocks[i].flags & BLOCK_BUSY);
    }
    if (free_) {
        for (guint64 i = first; i < first + n; i++) {
            guest->blocks[i].flags |= BLOCK_BUSY;
        }
        if (gen) {
            *gen = lm_test_guest_next_gen(guest);
        }
    }
    g_mutex_unlock(&guest->lock);
    return free_;
}

static void block_settle(LmTestBlockState *s, LmTestOp op, guint64 gen,
                         gboolean ok)
{
    s->flags &= ~BLOCK_BUSY;
    if (op == LM_TEST_OP_DISCARD) {
        s->flags |= BLOCK_MAYBE_ZERO;
    } else if (ok) {
        s->gen = gen;
        s->flags = 0;
    } else if (s->flags & BLOCK_ALT) {
        /* Several unacknowledged outcomes: stop guessing. */
        s->flags |= BLOCK_UNKNOWN;
    } else {
        s->alt_gen = gen;
        s->flags |= BLOCK_ALT;
    }
}

void lm_test_guest_settle(LmTestGuest *guest, guint64 first, guint64 n,
                          LmTestOp op, guint64 gen, gboolean ok)
{
    g_mutex_lock(&guest->lock);
    if (ok && op != LM_TEST_OP_DISCARD) {
        lm_test_guest_log_write(guest, first, n, gen,
                                op == LM_TEST_OP_ZERO);
    }
    for (guint64 i = first; i < first + n; i++) {
        /* The model expects zeroes as generation 0 */
        block_settle(&guest->blocks[i], op,
                     op == LM_TEST_OP_ZERO ? 0 : gen, ok);
    }
    g_mutex_unlock(&guest->lock);
}

static gboolean check_connected(LmTestGuest *guest, GError **error)
{
    if (!guest->nbd) {
        g_set_error_literal(error, LM_TEST_GUEST_ERROR,
                            LM_TEST_GUEST_ERROR_USAGE, "guest not connected");
        return FALSE;
    }
    return TRUE;
}

static gboolean check_range(LmTestGuest *guest, guint64 first, guint64 n,
                            GError **error)
{
    if (!check_connected(guest, error)) {
        return FALSE;
    }
    if (n == 0 || first >= guest->n_blocks || n > guest->n_blocks - first) {
        g_set_error(error, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_USAGE,
                    "blocks %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT
                    " outside the disk (%" G_GUINT64_FORMAT " blocks)",
                    first, n, guest->n_blocks);
        return FALSE;
    }
    return TRUE;
}

/* Run one modifying operation on blocks [first, first + n). */
static gboolean guest_modify(LmTestGuest *guest, LmTestOp op, guint64 first,
                             guint64 n, GError **error)
{
    static const char *const names[] = { "write", "write zeroes", "trim" };
    guint64 offset = first * guest->block_size;
    gsize len = n * guest->block_size;
    g_autofree guint8 *buf = NULL;
    g_autofree char *what = NULL;
    guint64 gen = 0;
    int64_t cookie;
    gboolean ok;

    if (!check_range(guest, first, n, error)) {
        return FALSE;
    }
    /* Zeroes take a generation too: it orders them on a shared clock */
    if (!lm_test_guest_claim(guest, first, n,
                             op != LM_TEST_OP_DISCARD ? &gen : NULL)) {
        g_set_error(error, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_USAGE,
                    "blocks %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT
                    " are busy with the load", first, n);
        return FALSE;
    }
    what = g_strdup_printf("%s of blocks %" G_GUINT64_FORMAT "+%"
                           G_GUINT64_FORMAT, names[op], first, n);
    switch (op) {
    case LM_TEST_OP_WRITE:
        buf = g_malloc(len);
        for (guint64 i = 0; i < n; i++) {
            lm_test_stamp_fill(buf + i * guest->block_size, guest->block_size,
                               offset + i * guest->block_size, gen);
        }
        cookie = nbd_aio_pwrite(guest->nbd, buf, len, offset,
                                NBD_NULL_COMPLETION, 0);
        break;
    case LM_TEST_OP_ZERO:
        cookie = nbd_aio_zero(guest->nbd, len, offset, NBD_NULL_COMPLETION,
                              0);
        break;
    case LM_TEST_OP_DISCARD:
    default:
        cookie = nbd_aio_trim(guest->nbd, len, offset, NBD_NULL_COMPLETION,
                              0);
        break;
    }
    ok = guest_wait(guest, cookie, what, error);
    lm_test_guest_settle(guest, first, n, op, gen, ok);
    return ok;
}

gboolean lm_test_guest_write_range(LmTestGuest *guest, guint64 first,
                                   guint64 n_blocks, GError **error)
{
    return guest_modify(guest, LM_TEST_OP_WRITE, first, n_blocks, error);
}

gboolean lm_test_guest_write_block(LmTestGuest *guest, guint64 index,
                                   GError **error)
{
    return guest_modify(guest, LM_TEST_OP_WRITE, index, 1, error);
}

gboolean lm_test_guest_zero_range(LmTestGuest *guest, guint64 first,
                                  guint64 n_blocks, GError **error)
{
    return guest_modify(guest, LM_TEST_OP_ZERO, first, n_blocks, error);
}

gboolean lm_test_guest_discard_range(LmTestGuest *guest, guint64 first,
                                     guint64 n_blocks, GError **error)
{
    return guest_modify(guest, LM_TEST_OP_DISCARD, first, n_blocks, error);
}

guint64 *lm_test_guest_snapshot(LmTestGuest *guest)
{
    guint64 *gens = g_new(guint64, guest->n_blocks);

    g_mutex_lock(&guest->lock);
    for (guint64 i = 0; i < guest->n_blocks; i++) {
        gens[i] = guest->blocks[i].gen;
    }
    g_mutex_unlock(&guest->lock);
    return gens;
}

void lm_test_guest_make_durable(LmTestGuest *guest, guint64 *snapshot)
{
    g_mutex_lock(&guest->lock);
    for (guint64 i = 0; i < guest->n_blocks; i++) {
        guest->blocks[i].durable_gen = snapshot[i];
    }
    g_mutex_unlock(&guest->lock);
    g_free(snapshot);
}

gboolean lm_test_guest_flush(LmTestGuest *guest, GError **error)
{
    guint64 *snapshot;

    if (!check_connected(guest, error)) {
        return FALSE;
    }
    snapshot = lm_test_guest_snapshot(guest);
    if (!guest_wait(guest, nbd_aio_flush(guest->nbd, NBD_NULL_COMPLETION, 0),
                    "flush", error)) {
        g_free(snapshot);
        return FALSE;
    }
    lm_test_guest_make_durable(guest, snapshot);
    return TRUE;
}

void lm_test_guest_crashed(LmTestGuest *guest)
{
    g_mutex_lock(&guest->lock);
    for (guint64 i = 0; i < guest->n_blocks; i++) {
        LmTestBlockState *s = &guest->blocks[i];

        if (s->gen == s->durable_gen) {
            continue;
        }
        if (s->flags & BLOCK_ALT) {
            s->flags |= BLOCK_UNKNOWN;
        } else {
            s->alt_gen = s->durable_gen;
            s->flags |= BLOCK_ALT;
        }
    }
    g_mutex_unlock(&guest->lock);
}

static gboolean guest_read(LmTestGuest *guest, guint8 *buf, gsize len,
                           guint64 offset, GError **error)
{
    g_autofree char *what = g_strdup_printf(
        "read of %zu bytes at %" G_GUINT64_FORMAT, len, offset);

    return guest_wait(guest,
                      nbd_aio_pread(guest->nbd, buf, len, offset,
                                    NBD_NULL_COMPLETION, 0),
                      what, error);
}

gboolean lm_test_guest_read_block(LmTestGuest *guest, guint64 index,
                                  LmTestBlockContent *content,
                                  GError **error)
{
    g_autofree guint8 *buf = NULL;

    if (!check_range(guest, index, 1, error)) {
        return FALSE;
    }
    buf = g_malloc(guest->block_size);
    if (!guest_read(guest, buf, guest->block_size,
                    index * guest->block_size, error)) {
        return FALSE;
    }
    lm_test_stamp_decode(buf, guest->block_size, content);
    return TRUE;
}

static gboolean content_is(const LmTestBlockContent *c, guint64 offset,
                           guint64 gen)
{
    if (gen == 0) {
        return c->kind == LM_TEST_BLOCK_ZERO;
    }
    return c->kind == LM_TEST_BLOCK_STAMPED && c->offset == offset &&
           c->gen == gen;
}

static gboolean block_matches(const LmTestBlockState *s, guint64 offset,
                              const LmTestBlockContent *c)
{
    return (s->flags & BLOCK_UNKNOWN) ||
           content_is(c, offset, s->gen) ||
           ((s->flags & BLOCK_ALT) && content_is(c, offset, s->alt_gen)) ||
           ((s->flags & BLOCK_MAYBE_ZERO) && c->kind == LM_TEST_BLOCK_ZERO);
}

static void append_gen(GString *s, guint64 gen)
{
    if (gen) {
        g_string_append_printf(s, "gen %" G_GUINT64_FORMAT, gen);
    } else {
        g_string_append(s, "zeros");
    }
}

static char *describe_expected(const LmTestBlockState *s)
{
    GString *str = g_string_new(NULL);

    append_gen(str, s->gen);
    if (s->flags & BLOCK_ALT) {
        g_string_append(str, " or ");
        append_gen(str, s->alt_gen);
    }
    if (s->flags & BLOCK_MAYBE_ZERO) {
        g_string_append(str, " or zeros (discarded)");
    }
    return g_string_free(str, FALSE);
}

static char *describe_content(const LmTestBlockContent *c, guint64 offset)
{
    switch (c->kind) {
    case LM_TEST_BLOCK_ZERO:
        return g_strdup("zeros");
    case LM_TEST_BLOCK_STAMPED:
        if (c->offset != offset) {
            return g_strdup_printf("gen %" G_GUINT64_FORMAT " of the block "
                                   "at offset %" G_GUINT64_FORMAT,
                                   c->gen, c->offset);
        }
        return g_strdup_printf("gen %" G_GUINT64_FORMAT, c->gen);
    case LM_TEST_BLOCK_TORN:
        return g_strdup_printf("a torn block (first stamp: gen %"
                               G_GUINT64_FORMAT ", offset %"
                               G_GUINT64_FORMAT ")", c->gen, c->offset);
    case LM_TEST_BLOCK_GARBAGE:
    default:
        return g_strdup("data no guest wrote");
    }
}

/* Check block @index against the model; append a description if bad. */
static gboolean check_block(LmTestGuest *guest, guint64 index,
                            const guint8 *buf, GString *report)
{
    guint64 offset = index * guest->block_size;
    LmTestBlockContent content;
    LmTestBlockState state;

    lm_test_stamp_decode(buf, guest->block_size, &content);
    g_mutex_lock(&guest->lock);
    state = guest->blocks[index];
    g_mutex_unlock(&guest->lock);
    if (block_matches(&state, offset, &content)) {
        return TRUE;
    }
    if (report) {
        g_autofree char *want = describe_expected(&state);
        g_autofree char *found = describe_content(&content, offset);

        g_string_append_printf(report, "%sblock %" G_GUINT64_FORMAT
                               " (offset %" G_GUINT64_FORMAT
                               "): expected %s, found %s",
                               report->len ? "; " : "", index, offset, want,
                               found);
    }
    return FALSE;
}

gboolean lm_test_guest_verify_block(LmTestGuest *guest, guint64 index,
                                    GError **error)
{
    g_autoptr(GString) report = g_string_new(NULL);
    g_autofree guint8 *buf = NULL;

    if (!check_range(guest, index, 1, error)) {
        return FALSE;
    }
    buf = g_malloc(guest->block_size);
    if (!guest_read(guest, buf, guest->block_size,
                    index * guest->block_size, error)) {
        return FALSE;
    }
    if (!check_block(guest, index, buf, report)) {
        g_set_error_literal(error, LM_TEST_GUEST_ERROR,
                            LM_TEST_GUEST_ERROR_MISMATCH, report->str);
        return FALSE;
    }
    return TRUE;
}

gboolean lm_test_guest_verify_all(LmTestGuest *guest, GError **error)
{
    guint64 per_chunk = MAX(VERIFY_CHUNK / guest->block_size, 1);
    g_autofree guint8 *buf = g_malloc(per_chunk * guest->block_size);
    g_autoptr(GString) report = g_string_new(NULL);
    guint64 bad = 0;

    if (!check_connected(guest, error)) {
        return FALSE;
    }
    if (guest->load) {
        g_set_error_literal(error, LM_TEST_GUEST_ERROR,
                            LM_TEST_GUEST_ERROR_USAGE,
                            "verify_all with a load running");
        return FALSE;
    }
    for (guint64 first = 0; first < guest->n_blocks; first += per_chunk) {
        guint64 n = MIN(per_chunk, guest->n_blocks - first);

        if (!guest_read(guest, buf, n * guest->block_size,
                        first * guest->block_size, error)) {
            return FALSE;
        }
        for (guint64 i = 0; i < n; i++) {
            if (!check_block(guest, first + i, buf + i * guest->block_size,
                             bad < VERIFY_MAX_REPORTED ? report : NULL)) {
                bad++;
            }
        }
    }
    if (bad) {
        g_set_error(error, LM_TEST_GUEST_ERROR, LM_TEST_GUEST_ERROR_MISMATCH,
                    "%s%s (%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                    " blocks differ)", report->str,
                    bad > VERIFY_MAX_REPORTED ? "; ..." : "", bad,
                    guest->n_blocks);
        return FALSE;
    }
    return TRUE;
}
