/*
 * livemerge - intermediate commits (top-node below the active layer)
 *
 * 3- and 4-layer chains whose layers a guest wrote (through the daemon's
 * export of each layer, or offline through qemu-nbd) with data, zeroes,
 * discards, unaligned and partial-cluster writes, over layers of
 * different cluster sizes.  After the job ends by itself:
 *  - the guest reads back exactly what it wrote, online and offline;
 *  - the overlay of top backs onto base, in the graph and in its image
 *    header (the given backing-file string, else the base's filename);
 *  - the committed layers are gone from the chain (their nodes stay, as
 *    they were added with blockdev-add) and their files are untouched;
 *  - base is read-only again, nothing below base changed;
 *  - base stays sparse: what was unallocated above it is untouched in it,
 *    zero ranges do not become data, and it gains data clusters only
 *    where the committed layers held data;
 *  - qemu-img check is clean on every image.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "commit-fixture.h"

#define KiB COMMIT_KiB
#define MiB COMMIT_MiB

/* A small guest block, so that writes can be unaligned to 4k. */
#define GUEST_BLOCK 512

/* ------------------------------------------------------------------ */
/* Allocation model: one state per 512-byte unit */

#define UNIT 512

enum {
    U_UNALLOC = 0,      /* not allocated in the layer */
    U_ZERO = 1,         /* allocated, reads as zeroes, no data */
    U_DATA = 2,         /* data */
};

static const char unit_char[] = { '.', 'z', 'D' };

/* @layer's own allocation (its backing file left out), per unit. */
static guint8 *layer_units(CommitChain *chain, guint layer)
{
    g_autoptr(GArray) map = commit_layer_map(chain, layer);
    guint64 n = commit_chain_size(chain) / UNIT;
    guint8 *units = g_malloc0(n);

    for (guint i = 0; i < map->len; i++) {
        LmTestMapEntry *e = &g_array_index(map, LmTestMapEntry, i);
        guint8 state = e->data ? U_DATA : e->present ? U_ZERO : U_UNALLOC;

        g_assert_cmpint(e->depth, ==, 0);
        g_assert_cmpuint(e->start % UNIT, ==, 0);
        g_assert_cmpuint(e->length % UNIT, ==, 0);
        g_assert_cmpuint(e->start + e->length, <=, n * UNIT);
        memset(units + e->start / UNIT, state, e->length / UNIT);
    }
    return units;
}

typedef struct {
    guint64 n_units;
    guint64 cluster_units;   /* of the base */
    guint base;
    guint top;
    guint8 *base_before;
    guint8 *above;           /* the topmost committed layer's state */
} SparseModel;

static void sparse_model_free(SparseModel *m)
{
    g_free(m->base_before);
    g_free(m->above);
    g_free(m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SparseModel, sparse_model_free)

/* Before the commit of layers base+1 .. top into base. */
static SparseModel *sparse_model_new(CommitChain *chain, guint base,
                                     guint top)
{
    SparseModel *m = g_new0(SparseModel, 1);

    m->n_units = commit_chain_size(chain) / UNIT;
    m->cluster_units = commit_chain_cluster_size(chain, base) / UNIT;
    m->base = base;
    m->top = top;
    m->base_before = layer_units(chain, base);
    m->above = g_malloc0(m->n_units);
    for (guint layer = top; layer > base; layer--) {
        g_autofree guint8 *units = layer_units(chain, layer);

        for (guint64 u = 0; u < m->n_units; u++) {
            if (m->above[u] == U_UNALLOC) {
                m->above[u] = units[u];
            }
        }
    }
    return m;
}

static char *describe_cluster(const guint8 *units, guint64 first,
                              guint64 n)
{
    GString *s = g_string_new(NULL);

    for (guint64 u = first; u < first + n; u++) {
        g_string_append_c(s, unit_char[units[u]]);
    }
    return g_string_free(s, FALSE);
}

/* A base cluster that breaks a rule: fail, showing the three states. */
static void sparse_fail(SparseModel *m, const guint8 *after, guint64 cluster,
                        const char *rule)
{
    guint64 first = cluster * m->cluster_units;
    guint64 n = MIN(m->cluster_units, 64);
    g_autofree char *before = describe_cluster(m->base_before, first, n);
    g_autofree char *above = describe_cluster(m->above, first, n);
    g_autofree char *now = describe_cluster(after, first, n);
    g_autofree char *msg = g_strdup_printf(
        "base cluster %" G_GUINT64_FORMAT " (offset %" G_GUINT64_FORMAT
        "): %s; first units ('.' unallocated, z zero, D data): above %s, "
        "base before %s, base after %s", cluster, first * UNIT, rule, above,
        before, now);

    g_assertion_message(G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, msg);
}

/*
 * After the commit (images quiescent).  @base_has_backing: base's own
 * unallocated clusters show the layer below it, so zeroes committed into
 * base must be allocated zero clusters there.
 */
static void sparse_model_check(SparseModel *m, CommitChain *chain,
                               gboolean base_has_backing)
{
    g_autofree guint8 *after = layer_units(chain, m->base);
    guint64 n_clusters = (m->n_units + m->cluster_units - 1) / m->cluster_units;
    guint64 data_before = 0, data_after = 0, data_above = 0;
    guint64 untouched = 0, zeroed = 0;

    for (guint64 c = 0; c < n_clusters; c++) {
        guint64 first = c * m->cluster_units;
        guint64 end = MIN(first + m->cluster_units, m->n_units);
        guint64 n_above[3] = { 0 };
        gboolean had_data = FALSE, has_data = FALSE, may_allocate;

        for (guint64 u = first; u < end; u++) {
            n_above[m->above[u]]++;
            had_data = had_data || m->base_before[u] == U_DATA;
            has_data = has_data || after[u] == U_DATA;
        }
        /* Clusters the commit may allocate: data above, or zeroes above
         * part of it (written as zeroes into the rest of the cluster) */
        may_allocate = n_above[U_DATA] > 0 ||
                       (n_above[U_ZERO] > 0 && n_above[U_ZERO] < end - first);
        data_before += had_data;
        data_after += has_data;
        data_above += may_allocate;
        if (has_data && !had_data && !may_allocate) {
            sparse_fail(m, after, c, "new data where the committed layers "
                        "held none");
        }

        if (n_above[U_UNALLOC] == end - first) {
            /* Nothing above: the commit must not have touched it. */
            untouched++;
            if (memcmp(m->base_before + first, after + first,
                       end - first) != 0) {
                sparse_fail(m, after, c, "nothing above it, yet it changed");
            }
            continue;
        }
        if (n_above[U_ZERO] == end - first) {
            /* Zeroes above, the whole cluster: zeroes, not data. */
            zeroed++;
            for (guint64 u = first; u < end; u++) {
                if (after[u] == U_DATA) {
                    sparse_fail(m, after, c, "zeroes above it became data");
                }
                if (base_has_backing && after[u] == U_UNALLOC) {
                    sparse_fail(m, after, c, "zeroes above it left it "
                                "unallocated over a backing file");
                }
            }
            continue;
        }
        for (guint64 u = first; u < end; u++) {
            if (m->above[u] == U_DATA && after[u] != U_DATA) {
                sparse_fail(m, after, c, "data above it is not data in it");
            }
        }
    }
    g_test_message("base layer%u, %" G_GUINT64_FORMAT " clusters: data "
                   "before %" G_GUINT64_FORMAT ", after %" G_GUINT64_FORMAT
                   ", with data above %" G_GUINT64_FORMAT "; untouched %"
                   G_GUINT64_FORMAT ", zeroed %" G_GUINT64_FORMAT,
                   m->base, n_clusters, data_before, data_after, data_above,
                   untouched, zeroed);
    /* Growth is bounded by what the committed layers held. */
    g_assert_cmpuint(data_after, <=, data_before + data_above);
    /* The layouts below always commit something and leave holes. */
    g_assert_cmpuint(untouched, >, 0);
}

/* ------------------------------------------------------------------ */
/* Checks shared by the tests */

typedef struct {
    guint base;
    guint top;
    const char *backing_file;    /* given to the job, nullable */
} IntermediateCommit;

/* Checksums of every image that the commit must leave alone. */
static char **checksum_untouched(CommitChain *chain,
                                 const IntermediateCommit *ic)
{
    guint n = commit_chain_n_layers(chain);
    char **sums = g_new0(char *, n + 1);

    for (guint i = 0; i < n; i++) {
        /* base is written, the overlay of top gets a new header */
        if (i != ic->base && i != ic->top + 1 && i + 1 != n) {
            sums[i] = commit_layer_checksum(chain, i);
        } else {
            sums[i] = g_strdup("");
        }
    }
    return sums;
}

static void check_untouched(CommitChain *chain, char **sums)
{
    for (guint i = 0; sums[i]; i++) {
        if (*sums[i]) {
            g_autofree char *now = commit_layer_checksum(chain, i);

            g_test_message("layer%u image unchanged", i);
            g_assert_cmpstr(now, ==, sums[i]);
        }
    }
}

/* The chain the export serves after the commit, top first. */
static char *expected_chain(CommitChain *chain, const IntermediateCommit *ic)
{
    GString *s = g_string_new(NULL);
    guint n = commit_chain_n_layers(chain);

    for (guint i = n; i-- > 0;) {
        if (i > ic->base && i <= ic->top) {
            continue;
        }
        g_string_append_printf(s, "%s%s(%s)", s->len ? " > " : "",
                               commit_chain_node(chain, i),
                               i + 1 == n ? "rw" : "ro");
    }
    return g_string_free(s, FALSE);
}

/* The image header of top's overlay, and the chain qemu-img follows. */
static void check_headers(CommitChain *chain, const IntermediateCommit *ic)
{
    guint n = commit_chain_n_layers(chain);
    const char *overlay = commit_chain_path(chain, ic->top + 1);
    g_autoptr(JsonObject) info = lm_test_image_info(overlay);
    g_autoptr(JsonArray) images =
        lm_test_image_info_chain(commit_chain_path(chain, n - 1));
    const char *want = ic->backing_file ? ic->backing_file
                                        : commit_chain_path(chain, ic->base);
    guint k = 0;

    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename"),
                    ==, want);
    g_assert_cmpstr(json_object_get_string_member(
                        info, "backing-filename-format"), ==, "qcow2");
    g_assert_cmpstr(json_object_get_string_member(info,
                                                  "full-backing-filename"),
                    ==, commit_chain_path(chain, ic->base));

    for (guint i = n; i-- > 0;) {
        JsonObject *image;

        if (i > ic->base && i <= ic->top) {
            continue;
        }
        g_assert_cmpuint(k, <, json_array_get_length(images));
        image = json_array_get_object_element(images, k++);
        g_assert_cmpstr(json_object_get_string_member(image, "filename"), ==,
                        commit_chain_path(chain, i));
    }
    g_assert_cmpuint(k, ==, json_array_get_length(images));
}

/*
 * Run the intermediate commit @ic on a built chain with @guest connected,
 * then check everything up to and including the daemon's end.
 */
static void run_intermediate(CommitChain *chain, LmTestGuest *guest,
                             const IntermediateCommit *ic,
                             const char *extra_args)
{
    LmQmp *qmp = commit_chain_qmp(chain);
    guint n = commit_chain_n_layers(chain);
    g_autoptr(SparseModel) model = NULL;
    g_autoptr(CommitJobLog) log = NULL;
    g_auto(GStrv) sums = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    g_autofree char *want = NULL;
    g_autofree char *backing = NULL;
    g_autoptr(GString) args = g_string_new(NULL);
    gint64 base_size_before, base_size_after;

    commit_verify(guest);
    before = commit_describe_export(qmp);
    g_test_message("chain before: %s", before);
    g_assert_true(commit_node_read_only(qmp, commit_chain_node(chain,
                                                               ic->base)));
    model = sparse_model_new(chain, ic->base, ic->top);
    sums = checksum_untouched(chain, ic);
    base_size_before = commit_layer_actual_size(chain, ic->base);

    g_string_append_printf(args, "{\"job-id\": \"ic\", \"device\": \"%s\","
                           " \"top-node\": \"%s\"",
                           commit_chain_node(chain, n - 1),
                           commit_chain_node(chain, ic->top));
    if (ic->base != 0 || ic->backing_file) {
        g_string_append_printf(args, ", \"base-node\": \"%s\"",
                               commit_chain_node(chain, ic->base));
    }
    if (ic->backing_file) {
        g_string_append_printf(args, ", \"backing-file\": \"%s\"",
                               ic->backing_file);
    }
    g_string_append_printf(args, "%s}", extra_args ? extra_args : "");
    commit_start(qmp, "%s", args->str);

    log = commit_job_run(qmp, "ic", "null");
    g_test_message("job: %s, len %" G_GINT64_FORMAT, log->statuses->str,
                   commit_job_assert_completed(log));
    g_assert_null(log->ready);

    /* The graph: top's overlay on base, base read-only, nothing left. */
    after = commit_describe_export(qmp);
    want = expected_chain(chain, ic);
    g_test_message("chain after: %s", after);
    commit_assert_export_chain(qmp, want);
    backing = commit_backing_node(qmp, commit_chain_node(chain, ic->top + 1));
    g_assert_cmpstr(backing, ==, commit_chain_node(chain, ic->base));
    g_assert_true(commit_node_read_only(qmp, commit_chain_node(chain,
                                                               ic->base)));
    commit_assert_no_jobs(qmp);
    commit_chain_assert_nodes(chain, NULL);
    check_headers(chain, ic);

    /* Data: online, then offline once the daemon is gone; images clean. */
    commit_chain_finish(chain, guest, n - 1);
    check_untouched(chain, sums);
    check_headers(chain, ic);
    sparse_model_check(model, chain, ic->base > 0);
    base_size_after = commit_layer_actual_size(chain, ic->base);
    g_test_message("base actual-size %" G_GINT64_FORMAT " -> %"
                   G_GINT64_FORMAT, base_size_before, base_size_after);
}

static LmTestQsd *start_qsd(void)
{
    g_autoptr(GError) err = NULL;
    LmTestQsd *qsd = lm_test_qsd_start(NULL, &err);

    g_assert_no_error(err);
    return qsd;
}

/* ------------------------------------------------------------------ */
/* Layouts */

/*
 * base 64k, middle 512k, active 64k; every kind of content in the middle,
 * over base data and over holes.
 */
static void fill_mixed_512k(CommitChain *chain, guint layer,
                            LmTestGuest *guest, gpointer data)
{
    (void)chain;
    (void)data;
    switch (layer) {
    case 0:
        commit_write(guest, 0, 2 * MiB);
        commit_write(guest, 8 * MiB, 2 * MiB);
        commit_write(guest, 16 * MiB, 1 * MiB);
        commit_write(guest, 20 * MiB, 4 * MiB);
        commit_zero(guest, 12 * MiB, 512 * KiB);
        commit_write(guest, 26 * MiB, 1 * MiB);
        commit_discard(guest, 26 * MiB + 512 * KiB, 512 * KiB);
        break;
    case 1:
        commit_write(guest, 1 * MiB, 2 * MiB);
        /* partial clusters: over base data, over a hole */
        commit_write(guest, 61 * KiB, 4 * KiB);
        commit_write(guest, 4 * MiB + 61 * KiB, 4 * KiB);
        /* unaligned to 4k, odd sectors */
        commit_write(guest, 6 * MiB + 700 * KiB + 512, 1536);
        /* zeroes and discards, whole clusters, over data and a hole */
        commit_zero(guest, 8 * MiB, 512 * KiB);
        commit_discard(guest, 16 * MiB, 512 * KiB);
        commit_zero(guest, 13 * MiB, 512 * KiB);
        /* a partial zero inside a cluster over base data */
        commit_zero(guest, 20 * MiB + 100 * KiB, 8 * KiB);
        commit_write(guest, 24 * MiB, 1 * MiB);
        break;
    case 2:
        commit_write(guest, 0, 64 * KiB);
        commit_write(guest, 1 * MiB + 4 * KiB, 4 * KiB);
        commit_write(guest, 8 * MiB + 256 * KiB, 4 * KiB);
        commit_write(guest, 30 * MiB, 1 * MiB);
        break;
    default:
        g_assert_not_reached();
    }
}

/* base 64k, middle 4k, active 64k. */
static void fill_mixed_4k(CommitChain *chain, guint layer,
                          LmTestGuest *guest, gpointer data)
{
    (void)chain;
    (void)data;
    switch (layer) {
    case 0:
        commit_write(guest, 0, 4 * MiB);
        commit_write(guest, 10 * MiB, 1 * MiB);
        commit_zero(guest, 14 * MiB, 1 * MiB);
        break;
    case 1:
        commit_write(guest, 61 * KiB, 4 * KiB);
        commit_write(guest, 2 * MiB + 61 * KiB, 4 * KiB);
        commit_write(guest, 5 * MiB, 1 * MiB);
        /* a whole base cluster of zeroes, and part of one */
        commit_zero(guest, 1 * MiB, 64 * KiB);
        commit_zero(guest, 3 * MiB + 4 * KiB, 8 * KiB);
        commit_discard(guest, 10 * MiB, 128 * KiB);
        /* inside a 4k cluster, over a hole */
        commit_write(guest, 7 * MiB + 512, 1 * KiB);
        commit_write(guest, 20 * MiB, 4 * KiB);
        commit_zero(guest, 24 * MiB, 256 * KiB);
        break;
    case 2:
        commit_write(guest, 5 * MiB + 512 * KiB, 64 * KiB);
        commit_write(guest, 12 * MiB, 1 * MiB);
        break;
    default:
        g_assert_not_reached();
    }
}

/* 4 layers: the cluster sizes come from the chain, the pattern from us. */
static void fill_four(CommitChain *chain, guint layer, LmTestGuest *guest,
                      gpointer data)
{
    (void)chain;
    (void)data;
    switch (layer) {
    case 0:
        commit_write(guest, 0, 8 * MiB);
        commit_write(guest, 16 * MiB, 2 * MiB);
        break;
    case 1:
        commit_write(guest, 2 * MiB, 1 * MiB);
        commit_write(guest, 9 * MiB + 61 * KiB, 4 * KiB);
        commit_zero(guest, 16 * MiB, 1 * MiB);
        commit_write(guest, 22 * MiB + 3 * KiB, 2 * KiB);
        break;
    case 2:
        commit_write(guest, 2 * MiB + 512 * KiB, 1 * MiB);
        commit_write(guest, 61 * KiB, 4 * KiB);
        commit_write(guest, 11 * MiB + 512, 512);
        commit_zero(guest, 4 * MiB, 1 * MiB);
        commit_discard(guest, 17 * MiB, 512 * KiB);
        commit_zero(guest, 26 * MiB, 512 * KiB);
        commit_write(guest, 28 * MiB, 2 * MiB);
        break;
    case 3:
        commit_write(guest, 2 * MiB + 768 * KiB, 64 * KiB);
        commit_write(guest, 29 * MiB, 4 * KiB);
        break;
    default:
        g_assert_not_reached();
    }
}

/* ------------------------------------------------------------------ */
/* Tests */

/* 3 layers built through the export; default base (the bottom). */
static void test_three_layers_default_base(void)
{
    static const char *const cs[] = { "64k", "512k", "64k" };
    g_autoptr(LmTestQsd) qsd = start_qsd();
    g_autoptr(CommitChain) chain = commit_chain_new(qsd, 3, cs);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(GUEST_BLOCK);
    IntermediateCommit ic = { .base = 0, .top = 1 };

    commit_chain_build(chain, guest, fill_mixed_512k, NULL);
    run_intermediate(chain, guest, &ic, NULL);
}

/* 3 layers built offline; explicit base and a relative backing-file. */
static void test_three_layers_backing_file(void)
{
    static const char *const cs[] = { "64k", "4k", "64k" };
    g_autoptr(LmTestQsd) qsd = start_qsd();
    g_autoptr(CommitChain) chain = commit_chain_new(qsd, 3, cs);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(GUEST_BLOCK);
    IntermediateCommit ic = {
        .base = 0, .top = 1, .backing_file = "layer0.qcow2",
    };

    commit_chain_build_offline(chain, guest, fill_mixed_4k, NULL);
    commit_chain_open(chain);
    commit_chain_connect(chain, guest);
    run_intermediate(chain, guest, &ic, NULL);
}

/* 4 layers: top in the middle, base not the bottom (layer2 into layer1). */
static void test_four_layers_middle(void)
{
    static const char *const cs[] = { "64k", "4k", "512k", "64k" };
    g_autoptr(LmTestQsd) qsd = start_qsd();
    g_autoptr(CommitChain) chain = commit_chain_new(qsd, 4, cs);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(GUEST_BLOCK);
    IntermediateCommit ic = { .base = 1, .top = 2 };

    commit_chain_build(chain, guest, fill_four, NULL);
    run_intermediate(chain, guest, &ic, NULL);
}

/* 4 layers built offline: two layers at once into the default base. */
static void test_four_layers_two_into_bottom(void)
{
    static const char *const cs[] = { "64k", "512k", "4k", "64k" };
    g_autoptr(LmTestQsd) qsd = start_qsd();
    g_autoptr(CommitChain) chain = commit_chain_new(qsd, 4, cs);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(GUEST_BLOCK);
    IntermediateCommit ic = { .base = 0, .top = 2 };

    commit_chain_build_offline(chain, guest, fill_four, NULL);
    commit_chain_open(chain);
    commit_chain_connect(chain, guest);
    run_intermediate(chain, guest, &ic, NULL);
}

static void fill_big_middle(CommitChain *chain, guint layer,
                            LmTestGuest *guest, gpointer data)
{
    (void)chain;
    (void)data;
    switch (layer) {
    case 0:
        commit_write(guest, 0, 4 * MiB);
        break;
    case 1:
        for (guint64 off = 2 * MiB; off < 26 * MiB; off += 1 * MiB) {
            commit_write(guest, off, 1 * MiB);
        }
        commit_zero(guest, 28 * MiB, 1 * MiB);
        break;
    case 2:
        commit_write(guest, 3 * MiB, 1 * MiB);
        break;
    default:
        g_assert_not_reached();
    }
}

/* The guest keeps writing to the active layer during the commit. */
static void test_guest_load(void)
{
    g_autoptr(LmTestQsd) qsd = start_qsd();
    g_autoptr(CommitChain) chain = commit_chain_new(qsd, 3, NULL);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(GUEST_BLOCK);
    LmQmp *qmp;
    g_autoptr(CommitJobLog) log = commit_job_log_new("ic");
    g_autoptr(GError) err = NULL;
    LmTestLoadStats stats;
    guint polls = 0;

    commit_chain_build(chain, guest, fill_big_middle, NULL);
    qmp = commit_chain_qmp(chain);

    lm_test_guest_start_load(guest, &(LmTestLoad){
                                 .pattern = LM_TEST_LOAD_RANDOM,
                                 .request_size = 4 * KiB,
                                 .queue_depth = 8,
                                 .seed = 1234,
                             }, &err);
    g_assert_no_error(err);
    /* Limited, so that the load surely runs while the job copies. */
    commit_start(qmp, "{\"job-id\": \"ic\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\", \"speed\": %" G_GUINT64_FORMAT
                 "}", 16 * MiB);
    while (!log->completed) {
        g_autoptr(JsonObject) job = commit_query_block_job(qmp, "ic");

        if (job) {
            polls++;
            g_assert_cmpstr(json_object_get_string_member(job, "type"), ==,
                            "commit");
        }
        commit_job_log_poll(log, qmp);
        g_usleep(50 * 1000);
    }
    /* A while more after the graph changed. */
    g_usleep(300 * 1000);
    lm_test_guest_stop_load(guest, &stats, &err);
    g_assert_no_error(err);
    g_test_message("load: %" G_GUINT64_FORMAT " writes, %" G_GUINT64_FORMAT
                   " errors; %u polls", stats.writes, stats.errors, polls);
    g_assert_cmpuint(stats.errors, ==, 0);
    g_assert_cmpuint(stats.writes, >, 0);

    commit_job_log_wait(log, qmp, "null", -1);
    commit_job_assert_completed(log);
    commit_assert_export_chain(qmp, "layer2(rw) > layer0(ro)");
    commit_assert_no_jobs(qmp);
    commit_chain_assert_nodes(chain, NULL);
    commit_chain_finish(chain, guest, 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/commit/intermediate/three-layers/default-base",
                    test_three_layers_default_base);
    g_test_add_func("/commit/intermediate/three-layers/backing-file",
                    test_three_layers_backing_file);
    g_test_add_func("/commit/intermediate/four-layers/middle",
                    test_four_layers_middle);
    g_test_add_func("/commit/intermediate/four-layers/two-into-bottom",
                    test_four_layers_two_into_bottom);
    g_test_add_func("/commit/intermediate/guest-load", test_guest_load);
    return g_test_run();
}
