/*
 * livemerge test harness - a generation clock shared by several guests
 *
 * A multi-disk check ("the three targets are one instant of the three
 * disks") needs to order writes across guests: each guest's generations
 * only order its own.  Guests on one clock draw their generations from
 * it, and note for each acknowledged write the clock's value at that
 * moment, so "write A completed before write B was issued" reads
 * A.acked_at < B.gen.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-guest-priv.h"

LmTestGuestClock *lm_test_guest_clock_new(void)
{
    LmTestGuestClock *clock = g_new0(LmTestGuestClock, 1);

    g_mutex_init(&clock->lock);
    clock->refs = 1;
    return clock;
}

static LmTestGuestClock *clock_ref(LmTestGuestClock *clock)
{
    g_atomic_int_inc(&clock->refs);
    return clock;
}

void lm_test_guest_clock_unref(LmTestGuestClock *clock)
{
    if (clock && g_atomic_int_dec_and_test(&clock->refs)) {
        g_mutex_clear(&clock->lock);
        g_free(clock);
    }
}

guint64 lm_test_guest_clock_now(LmTestGuestClock *clock)
{
    guint64 now;

    g_mutex_lock(&clock->lock);
    now = clock->last;
    g_mutex_unlock(&clock->lock);
    return now;
}

guint64 lm_test_guest_next_gen(LmTestGuest *guest)
{
    guint64 gen;

    if (!guest->clock) {
        return ++guest->last_gen;
    }
    g_mutex_lock(&guest->clock->lock);
    gen = ++guest->clock->last;
    g_mutex_unlock(&guest->clock->lock);
    guest->last_gen = gen;
    return gen;
}

void lm_test_guest_log_write(LmTestGuest *guest, guint64 first, guint64 n,
                             guint64 gen, gboolean zero)
{
    LmTestWriteRecord r = { first, n, gen, 0, zero };

    if (!guest->clock) {
        return;
    }
    r.acked_at = lm_test_guest_clock_now(guest->clock);
    g_array_append_val(guest->write_log, r);
}

void lm_test_guest_use_clock(LmTestGuest *guest, LmTestGuestClock *clock)
{
    g_mutex_lock(&guest->lock);
    g_clear_pointer(&guest->clock, lm_test_guest_clock_unref);
    g_clear_pointer(&guest->write_log, g_array_unref);
    if (clock) {
        guest->clock = clock_ref(clock);
        guest->write_log = g_array_new(FALSE, FALSE,
                                       sizeof(LmTestWriteRecord));
        /* Generations stay unique within the guest's model */
        g_mutex_lock(&clock->lock);
        clock->last = MAX(clock->last, guest->last_gen);
        g_mutex_unlock(&clock->lock);
    }
    g_mutex_unlock(&guest->lock);
}

GArray *lm_test_guest_write_log(LmTestGuest *guest)
{
    GArray *copy = g_array_new(FALSE, FALSE, sizeof(LmTestWriteRecord));

    g_mutex_lock(&guest->lock);
    if (guest->write_log) {
        g_array_append_vals(copy, guest->write_log->data,
                            guest->write_log->len);
    }
    g_mutex_unlock(&guest->lock);
    return copy;
}
