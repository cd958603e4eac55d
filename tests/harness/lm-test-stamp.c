/*
 * livemerge test harness - the guest's block stamp format
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-stamp.h"

#include <string.h>

#define STAMP_MAGIC 0x4c4d2d4755455354ULL   /* "LM-GUEST" as a big-endian u64 */
#define UNIT_WORDS (LM_TEST_STAMP_UNIT / 8)
#define HEADER_WORDS 4

typedef enum {
    UNIT_ZERO,
    UNIT_STAMP,
    UNIT_GARBAGE,
} UnitKind;

/* splitmix64's finalizer: cheap, and every input bit affects the output. */
static guint64 mix64(guint64 x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static guint64 stamp_checksum(guint64 offset, guint64 gen)
{
    return mix64(STAMP_MAGIC ^ mix64(offset ^ mix64(gen)));
}

static void unit_words(guint64 *w, guint64 offset, guint64 gen, guint unit)
{
    w[0] = STAMP_MAGIC;
    w[1] = offset;
    w[2] = gen;
    w[3] = stamp_checksum(offset, gen);
    for (guint i = HEADER_WORDS; i < UNIT_WORDS; i++) {
        w[i] = mix64(w[3] + (guint64)unit * UNIT_WORDS + i);
    }
}

void lm_test_stamp_fill(guint8 *buf, guint block_size, guint64 offset,
                        guint64 gen)
{
    for (guint unit = 0; unit < block_size / LM_TEST_STAMP_UNIT; unit++) {
        guint64 w[UNIT_WORDS];

        unit_words(w, offset, gen, unit);
        for (guint i = 0; i < UNIT_WORDS; i++) {
            w[i] = GUINT64_TO_LE(w[i]);
        }
        memcpy(buf + unit * LM_TEST_STAMP_UNIT, w, sizeof(w));
    }
}

static UnitKind decode_unit(const guint8 *p, guint unit, guint64 *offset,
                            guint64 *gen)
{
    guint64 w[UNIT_WORDS];
    guint64 want[UNIT_WORDS];
    gboolean zero = TRUE;

    memcpy(w, p, sizeof(w));
    for (guint i = 0; i < UNIT_WORDS; i++) {
        w[i] = GUINT64_FROM_LE(w[i]);
        zero = zero && w[i] == 0;
    }
    if (zero) {
        return UNIT_ZERO;
    }
    if (w[0] != STAMP_MAGIC) {
        return UNIT_GARBAGE;
    }
    unit_words(want, w[1], w[2], unit);
    if (memcmp(w, want, sizeof(w)) != 0) {
        return UNIT_GARBAGE;
    }
    *offset = w[1];
    *gen = w[2];
    return UNIT_STAMP;
}

void lm_test_stamp_decode(const guint8 *buf, guint block_size,
                          LmTestBlockContent *content)
{
    guint units = block_size / LM_TEST_STAMP_UNIT;
    guint zeros = 0, garbage = 0, stamps = 0;
    gboolean mixed = FALSE;

    memset(content, 0, sizeof(*content));
    for (guint unit = 0; unit < units; unit++) {
        guint64 offset = 0, gen = 0;

        switch (decode_unit(buf + unit * LM_TEST_STAMP_UNIT, unit, &offset,
                            &gen)) {
        case UNIT_ZERO:
            zeros++;
            break;
        case UNIT_GARBAGE:
            garbage++;
            break;
        case UNIT_STAMP:
            if (stamps++ == 0) {
                content->offset = offset;
                content->gen = gen;
            } else if (offset != content->offset || gen != content->gen) {
                mixed = TRUE;
            }
            break;
        }
    }
    if (zeros == units) {
        content->kind = LM_TEST_BLOCK_ZERO;
    } else if (garbage) {
        content->kind = LM_TEST_BLOCK_GARBAGE;
    } else if (stamps == units && !mixed) {
        content->kind = LM_TEST_BLOCK_STAMPED;
    } else {
        content->kind = LM_TEST_BLOCK_TORN;
    }
}
