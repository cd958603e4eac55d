/*
 * livemerge - livemerge-stream: pull a chain into its active layer
 *
 * 2- to 4-layer chains whose layers a guest wrote through the daemon
 * (data, zero ranges over data and over nothing), streamed with and
 * without a base node.  The job ends by itself (no READY); then:
 *  - the guest reads back exactly what it wrote, online and offline from
 *    the active layer's image;
 *  - the active layer backs onto base in the graph and in its image
 *    header (the backing-file string if given, else base's filename), or
 *    has no backing file at all without a base;
 *  - the pulled layers are out of the chain (their nodes stay: they were
 *    added with blockdev-add) and no livemerge filter is left;
 *  - sparseness: a cluster that reads as zeroes is no data cluster in the
 *    active layer, and with a base, a cluster nothing above base held
 *    stays unallocated in it;
 *  - qemu-img check is clean on every image.
 * The race cases pull a region while the guest writes 4 KiB blocks at
 * QD16 (or 1 MiB sequentially) into exactly that region, through the
 * export or around the filter (a second export of the active layer): a
 * guest write always wins over the data being pulled.
 *
 * LIVEMERGE_RACE_ROUNDS sets the number of rounds of each race (default 3).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdlib.h>
#include <string.h>

#include "commit-fixture.h"

#define KiB COMMIT_KiB
#define MiB COMMIT_MiB

/* qemu-img map granularity the models work in */
#define UNIT 512
/* The region the race cases pull and the guest writes into */
#define RACE_REGION (16 * MiB)
/* Slow enough that the whole pull overlaps the guest's writes (~2 s) */
#define RACE_SPEED (8 * MiB)

/* ------------------------------------------------------------------ */
/* The chains */

/*
 * Layer 0: 0-8M, 24-26M.  Layer 1: 4-12M, zeroes at 6-7M (over data),
 * 20-21M (over nothing) and 25-25.5M.  Layer 2: 10-11M, 16-18M, zeroes
 * at 5-5.25M.  The active layer (whichever is last): 2-2.5M and one
 * block every 64k in 30-31M.
 */
static void fill(CommitChain *chain, guint layer, LmTestGuest *guest,
                 gpointer data)
{
    (void)data;
    if (layer + 1 == commit_chain_n_layers(chain)) {
        commit_write(guest, 2 * MiB, 512 * KiB);
        for (guint64 off = 30 * MiB; off < 31 * MiB; off += 64 * KiB) {
            commit_write(guest, off, 4 * KiB);
        }
        return;
    }
    switch (layer) {
    case 0:
        commit_write(guest, 0, 8 * MiB);
        commit_write(guest, 24 * MiB, 2 * MiB);
        break;
    case 1:
        for (guint64 off = 4 * MiB; off < 12 * MiB; off += MiB) {
            commit_write(guest, off, MiB);
        }
        commit_zero(guest, 6 * MiB, MiB);
        commit_zero(guest, 20 * MiB, MiB);
        commit_zero(guest, 25 * MiB, 512 * KiB);
        break;
    case 2:
        commit_write(guest, 10 * MiB, MiB);
        commit_write(guest, 16 * MiB, 2 * MiB);
        commit_zero(guest, 5 * MiB, 256 * KiB);
        break;
    default:
        g_assert_not_reached();
    }
}

typedef struct {
    const char *path;
    guint n_layers;
    int base;                   /* layer index, -1: none */
    const char *backing_file;   /* nullable */
    const char *cluster_sizes[4];
} StreamCase;

static const StreamCase cases[] = {
    { "no-base/2-layers", 2, -1, NULL, { NULL } },
    { "no-base/3-layers", 3, -1, NULL, { NULL } },
    { "no-base/4-layers", 4, -1, NULL, { NULL } },
    { "base/3-layers", 3, 0, NULL, { NULL } },
    { "base/4-layers", 4, 0, NULL, { NULL } },
    { "base/4-layers-mid", 4, 1, NULL, { NULL } },
    { "base/backing-file", 4, 1, "layer1.qcow2", { NULL } },
    { "base/cluster-sizes", 3, 0, NULL, { "4k", "2M", "64k" } },
    { "no-base/cluster-sizes", 3, -1, NULL, { "512k", "4k", "64k" } },
};

/* ------------------------------------------------------------------ */
/* Sparseness model */

typedef struct {
    guint64 n_units;
    gboolean *view_data;        /* the guest's view: data (else zeroes) */
    gboolean *above_base;       /* allocated in some layer above base */
} SparseModel;

static void sparse_model_free(SparseModel *m)
{
    g_free(m->view_data);
    g_free(m->above_base);
    g_free(m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SparseModel, sparse_model_free)

/* Set @units[u] for the units of @map's entries that @pick. */
static void mark_units(GArray *map, gboolean *units, guint64 n_units,
                       gboolean want_data)
{
    for (guint i = 0; i < map->len; i++) {
        LmTestMapEntry *e = &g_array_index(map, LmTestMapEntry, i);

        if (want_data ? !e->data : !e->present) {
            continue;
        }
        g_assert_cmpuint(e->start % UNIT, ==, 0);
        g_assert_cmpuint(e->length % UNIT, ==, 0);
        for (guint64 u = e->start / UNIT;
             u < (e->start + e->length) / UNIT && u < n_units; u++) {
            units[u] = TRUE;
        }
    }
}

static SparseModel *sparse_model_new(CommitChain *chain, int base)
{
    guint n = commit_chain_n_layers(chain);
    SparseModel *m = g_new0(SparseModel, 1);
    g_autoptr(GArray) view = lm_test_image_map(commit_chain_path(chain,
                                                                 n - 1));

    m->n_units = commit_chain_size(chain) / UNIT;
    m->view_data = g_new0(gboolean, m->n_units);
    m->above_base = g_new0(gboolean, m->n_units);
    mark_units(view, m->view_data, m->n_units, TRUE);
    for (guint i = base + 1; i < n; i++) {
        g_autoptr(GArray) map = commit_layer_map(chain, i);

        mark_units(map, m->above_base, m->n_units, FALSE);
    }
    return m;
}

/*
 * The active layer after the stream: no data cluster where the guest
 * reads zeroes, nothing allocated where nothing above base was, and (no
 * base) data wherever the guest reads data.
 */
static void sparse_model_check(SparseModel *m, CommitChain *chain, int base)
{
    guint active = commit_chain_n_layers(chain) - 1;
    guint64 per_cluster = commit_chain_cluster_size(chain, active) / UNIT;
    g_autoptr(GArray) map = commit_layer_map(chain, active);
    g_autofree gboolean *data = g_new0(gboolean, m->n_units);
    g_autofree gboolean *present = g_new0(gboolean, m->n_units);
    guint64 zero_clusters = 0, untouched_clusters = 0;

    mark_units(map, data, m->n_units, TRUE);
    mark_units(map, present, m->n_units, FALSE);
    for (guint64 c = 0; c < m->n_units / per_cluster; c++) {
        gboolean any_view_data = FALSE, any_above = FALSE;
        gboolean any_data = FALSE, any_present = FALSE;

        for (guint64 u = c * per_cluster; u < (c + 1) * per_cluster; u++) {
            any_view_data |= m->view_data[u];
            any_above |= m->above_base[u];
            any_data |= data[u];
            any_present |= present[u];
            if (base < 0 && m->view_data[u] && !data[u]) {
                g_test_message("unit at %" G_GUINT64_FORMAT " reads data "
                               "but is no data in the active layer",
                               u * UNIT);
                g_assert_true(data[u]);
            }
        }
        if (!any_view_data) {
            zero_clusters++;
            if (any_data) {
                g_test_message("cluster at %" G_GUINT64_FORMAT " reads as "
                               "zeroes but is data in the active layer",
                               c * per_cluster * UNIT);
            }
            g_assert_false(any_data);
        }
        if (base >= 0 && !any_above) {
            untouched_clusters++;
            if (any_present) {
                g_test_message("cluster at %" G_GUINT64_FORMAT ": nothing "
                               "above base held it, but the active layer "
                               "allocates it", c * per_cluster * UNIT);
            }
            g_assert_false(any_present);
        }
    }
    g_test_message("sparse: %" G_GUINT64_FORMAT " zero clusters no data, %"
                   G_GUINT64_FORMAT " clusters left to base", zero_clusters,
                   untouched_clusters);
}

/* ------------------------------------------------------------------ */
/* Checks after the job */

/* "layerN-1(rw) > layerB(ro) > ... > layer0(ro)", or just the active. */
static char *expected_chain(CommitChain *chain, int base)
{
    guint n = commit_chain_n_layers(chain);
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "%s(rw)", commit_chain_node(chain, n - 1));
    for (int i = base; i >= 0; i--) {
        g_string_append_printf(s, " > %s(ro)", commit_chain_node(chain, i));
    }
    return g_string_free(s, FALSE);
}

/* The active layer's image header: backing onto base, or none. */
static void check_header(CommitChain *chain, int base,
                         const char *backing_file)
{
    guint n = commit_chain_n_layers(chain);
    g_autoptr(JsonObject) info =
        lm_test_image_info(commit_chain_path(chain, n - 1));
    g_autoptr(JsonArray) images =
        lm_test_image_info_chain(commit_chain_path(chain, n - 1));

    if (base < 0) {
        if (json_object_has_member(info, "backing-filename")) {
            g_test_message("active layer still backs onto %s",
                           json_object_get_string_member(info,
                                                         "backing-filename"));
        }
        g_assert_false(json_object_has_member(info, "backing-filename"));
        g_assert_cmpuint(json_array_get_length(images), ==, 1);
        return;
    }
    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename"),
                    ==, backing_file ? backing_file
                                     : commit_chain_path(chain, base));
    g_assert_cmpstr(json_object_get_string_member(info,
                                                  "full-backing-filename"),
                    ==, commit_chain_path(chain, base));
    g_assert_cmpstr(json_object_get_string_member(
                        info, "backing-filename-format"), ==, "qcow2");
    /* qemu-img follows active > base > ... > layer0 */
    g_assert_cmpuint(json_array_get_length(images), ==, base + 2);
}

/* Start livemerge-stream "s" on the active layer of @chain. */
static void start_stream(CommitChain *chain, int base,
                         const char *backing_file, const char *extra)
{
    guint n = commit_chain_n_layers(chain);
    g_autoptr(GString) args = g_string_new(NULL);

    g_string_append_printf(args, "{\"job-id\": \"s\", \"device\": \"%s\"",
                           commit_chain_node(chain, n - 1));
    if (base >= 0) {
        g_string_append_printf(args, ", \"base-node\": \"%s\"",
                               commit_chain_node(chain, base));
    }
    if (backing_file) {
        g_string_append_printf(args, ", \"backing-file\": \"%s\"",
                               backing_file);
    }
    g_string_append_printf(args, "%s}", extra ? extra : "");
    commit_qmp_ok(commit_chain_qmp(chain), "livemerge-stream", "%s",
                  args->str);
}

/* Run the started job "s" to its end; asserts it completed, no READY. */
static void run_to_end(CommitChain *chain)
{
    LmQmp *qmp = commit_chain_qmp(chain);
    g_autoptr(CommitJobLog) log = commit_job_run(qmp, "s", "null");
    gint64 len = commit_job_assert_completed_type(log, "stream");

    g_test_message("stream: %s, len %" G_GINT64_FORMAT, log->statuses->str,
                   len);
    g_assert_null(log->ready);
}

/* The graph after a stream onto @base. */
static void check_graph(CommitChain *chain, int base)
{
    LmQmp *qmp = commit_chain_qmp(chain);
    guint n = commit_chain_n_layers(chain);
    g_autofree char *want = expected_chain(chain, base);
    g_autofree char *backing = commit_backing_node(
        qmp, commit_chain_node(chain, n - 1));

    commit_assert_export_chain(qmp, want);
    g_assert_cmpstr(backing, ==,
                    base >= 0 ? commit_chain_node(chain, base) : NULL);
    commit_assert_no_jobs(qmp);
    commit_chain_assert_nodes(chain, NULL);
}

/* ------------------------------------------------------------------ */

static void test_stream(gconstpointer data)
{
    const StreamCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(CommitChain) chain = NULL;
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autoptr(SparseModel) model = NULL;
    guint n = c->n_layers;

    g_assert_no_error(err);
    chain = commit_chain_new(qsd, n, c->cluster_sizes[0] ? c->cluster_sizes
                                                         : NULL);
    commit_chain_build(chain, guest, fill, NULL);
    if (!commit_require_command(commit_chain_qmp(chain),
                                "livemerge-stream")) {
        return;
    }
    commit_verify(guest);
    model = sparse_model_new(chain, c->base);

    start_stream(chain, c->base, c->backing_file, NULL);
    run_to_end(chain);

    check_graph(chain, c->base);
    check_header(chain, c->base, c->backing_file);
    /* The guest goes on: a write after the stream lands in the active layer */
    commit_write(guest, 2 * MiB, 64 * KiB);
    commit_chain_finish(chain, guest, n - 1);
    check_header(chain, c->base, c->backing_file);
    sparse_model_check(model, chain, c->base);
}

/* ------------------------------------------------------------------ */
/* The race: guest writes into the very region being pulled */

typedef enum { RACE_RANDOM_4K, RACE_SEQUENTIAL_1M, RACE_AROUND_FILTER } Race;

/* layer0: a little; layer1: all of the race region; active: nothing */
static void fill_race(CommitChain *chain, guint layer, LmTestGuest *guest,
                      gpointer data)
{
    (void)chain;
    (void)data;
    if (layer == 0) {
        commit_write(guest, RACE_REGION, 2 * MiB);
    } else if (layer == 1) {
        for (guint64 off = 0; off < RACE_REGION; off += MiB) {
            commit_write(guest, off, MiB);
        }
        commit_zero(guest, 3 * MiB, 256 * KiB);
    }
}

static void race_round(Race race, guint round)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(CommitChain) chain = NULL;
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    LmTestLoad load = {
        .pattern = LM_TEST_LOAD_RANDOM, .queue_depth = 16,
        .region_start = 0, .region_length = RACE_REGION,
        .seed = g_test_rand_int(),
    };
    LmTestLoadStats stats;
    g_autofree char *args = NULL;
    LmQmp *qmp;

    g_assert_no_error(err);
    chain = commit_chain_new(qsd, 3, NULL);
    commit_chain_build(chain, guest, fill_race, NULL);
    qmp = commit_chain_qmp(chain);
    if (!commit_require_command(qmp, "livemerge-stream")) {
        return;
    }
    if (race == RACE_SEQUENTIAL_1M) {
        load.pattern = LM_TEST_LOAD_SEQUENTIAL;
        load.request_size = MiB;
        load.queue_depth = 4;
    }
    if (race == RACE_AROUND_FILTER) {
        /* A second writable export of the active layer: its writes reach
         * the layer without passing the job's filter */
        lm_test_guest_disconnect(guest);
        lm_test_qsd_export(qsd, "layer2", "side", &err);
        g_assert_no_error(err);
        lm_test_guest_connect(guest, lm_test_qsd_nbd_socket(qsd), "side",
                              &err);
        g_assert_no_error(err);
    }
    lm_test_guest_start_load(guest, &load, &err);
    g_assert_no_error(err);

    args = g_strdup_printf(", \"speed\": %" G_GUINT64_FORMAT, RACE_SPEED);
    start_stream(chain, -1, NULL, args);
    run_to_end(chain);
    /* Stop at once: a later write would heal a stale block */
    lm_test_guest_stop_load(guest, &stats, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(stats.errors, ==, 0);
    g_test_message("round %u: %" G_GUINT64_FORMAT " guest writes into the "
                   "%" G_GUINT64_FORMAT " MiB being pulled", round,
                   stats.writes, RACE_REGION / MiB);
    g_assert_cmpuint(stats.writes, >, 0);

    check_graph(chain, -1);
    check_header(chain, -1, NULL);
    if (race == RACE_AROUND_FILTER) {
        commit_verify(guest);
        lm_test_guest_disconnect(guest);
        commit_chain_connect(chain, guest);
    }
    commit_chain_finish(chain, guest, 2);
}

static void test_race(gconstpointer data)
{
    const char *env = g_getenv("LIVEMERGE_RACE_ROUNDS");
    guint rounds = env ? atoi(env) : 3;

    for (guint i = 0; i < rounds; i++) {
        race_round(GPOINTER_TO_INT(data), i);
    }
}

/*
 * The race with zeroes: while the region is pulled (slowly), the guest
 * zeroes 64k ranges in it and writes blocks between them, one request at
 * a time, until the job is gone.  A zeroed range must read as zeroes,
 * never as the older data being pulled.
 */
static void test_race_zeroes(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(CommitChain) chain = NULL;
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autofree char *args = NULL;
    g_autoptr(GRand) rand = g_rand_new_with_seed(g_test_rand_int());
    g_autoptr(CommitJobLog) log = commit_job_log_new("s");
    guint zeroes = 0;
    LmQmp *qmp;

    g_assert_no_error(err);
    chain = commit_chain_new(qsd, 3, NULL);
    commit_chain_build(chain, guest, fill_race, NULL);
    qmp = commit_chain_qmp(chain);
    if (!commit_require_command(qmp, "livemerge-stream")) {
        return;
    }
    args = g_strdup_printf(", \"speed\": %" G_GUINT64_FORMAT, RACE_SPEED);
    start_stream(chain, -1, NULL, args);
    for (;;) {
        g_autoptr(JsonObject) job = commit_query_block_job(qmp, "s");
        guint64 off = g_rand_int_range(rand, 0, RACE_REGION / (64 * KiB)) *
                      64 * KiB;

        if (!job) {
            break;
        }
        commit_zero(guest, off, 64 * KiB);
        commit_write(guest, (off + RACE_REGION / 2) % RACE_REGION, 4 * KiB);
        zeroes++;
    }
    commit_job_log_wait(log, qmp, "null", -1);
    commit_job_assert_completed_type(log, "stream");
    g_test_message("%u zeroed ranges while pulling", zeroes);
    g_assert_cmpuint(zeroes, >, 0);
    check_graph(chain, -1);
    commit_chain_finish(chain, guest, 2);
}

/*
 * Pulling onto a base while the guest writes: the guest keeps writing
 * over the whole disk, including what stays in the base.
 */
static void test_stream_with_base_under_load(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(CommitChain) chain = NULL;
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    LmTestLoadStats stats;
    LmQmp *qmp;

    g_assert_no_error(err);
    chain = commit_chain_new(qsd, 4, NULL);
    commit_chain_build(chain, guest, fill, NULL);
    qmp = commit_chain_qmp(chain);
    if (!commit_require_command(qmp, "livemerge-stream")) {
        return;
    }
    lm_test_guest_start_load(guest, &(LmTestLoad) {
        .pattern = LM_TEST_LOAD_RANDOM, .queue_depth = 16,
        .seed = g_test_rand_int() }, &err);
    g_assert_no_error(err);
    start_stream(chain, 0, NULL, ", \"speed\": 16777216");
    run_to_end(chain);
    lm_test_guest_stop_load(guest, &stats, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(stats.writes, >, 0);
    check_graph(chain, 0);
    check_header(chain, 0, NULL);
    commit_chain_finish(chain, guest, 3);
}

/*
 * auto-finalize and auto-dismiss off: the job waits in "pending" with the
 * chain as it was, changes it at job-finalize, and stays "concluded"
 * until job-dismiss.
 */
static void test_manual_finalize(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(CommitChain) chain = NULL;
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autoptr(CommitJobLog) log = commit_job_log_new("s");
    g_autofree char *during = NULL;
    LmQmp *qmp;

    g_assert_no_error(err);
    chain = commit_chain_new(qsd, 3, NULL);
    commit_chain_build(chain, guest, fill, NULL);
    qmp = commit_chain_qmp(chain);
    if (!commit_require_command(qmp, "livemerge-stream")) {
        return;
    }
    start_stream(chain, 0, NULL, ", \"auto-finalize\": false,"
                 " \"auto-dismiss\": false");
    commit_job_log_wait(log, qmp, "pending", -1);
    /* Not finalized: the job's filter still over the chain as it was */
    during = commit_describe_export(qmp);
    g_test_message("pending: %s", during);
    g_assert_true(g_str_has_suffix(during, "[livemerge](rw) > layer2(rw) > "
                                   "layer1(ro) > layer0(ro)"));
    /* The guest writes while the job waits: it must win as well */
    commit_write(guest, 4 * MiB, MiB);
    commit_qmp_ok(qmp, "job-finalize", "{\"id\": \"s\"}");
    commit_job_log_wait(log, qmp, "concluded", -1);
    commit_assert_export_chain(qmp, "layer2(rw) > layer0(ro)");
    commit_qmp_ok(qmp, "job-dismiss", "{\"id\": \"s\"}");
    commit_job_log_wait(log, qmp, "null", -1);
    g_test_message("stream: %s", log->statuses->str);
    commit_job_assert_completed_type(log, "stream");
    check_graph(chain, 0);
    check_header(chain, 0, NULL);
    commit_chain_finish(chain, guest, 2);
}

/* ------------------------------------------------------------------ */
/* on-error: blkdebug fails the first data read from layer1's file */

static CommitChain *error_chain_new(LmTestQsd *qsd, LmTestGuest *guest,
                                    const char *policy)
{
    g_autoptr(GError) err = NULL;
    CommitChain *chain = commit_chain_new(qsd, 3, NULL);
    LmQmp *qmp = lm_test_qsd_qmp(qsd);

    commit_chain_build_offline(chain, guest, fill, NULL);
    commit_qmp_ok(qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"layer0\","
                  " \"read-only\": true, \"file\": {\"driver\": \"file\","
                  " \"filename\": \"%s\"}}", commit_chain_path(chain, 0));
    commit_qmp_ok(qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"layer1\","
                  " \"read-only\": true, \"backing\": \"layer0\","
                  " \"file\": {\"driver\": \"blkdebug\", \"inject-error\":"
                  " [{\"event\": \"read_aio\", \"errno\": 5, \"once\": true}],"
                  " \"image\": {\"driver\": \"file\", \"filename\": \"%s\"}}}",
                  commit_chain_path(chain, 1));
    commit_qmp_ok(qmp, "blockdev-add",
                  "{\"driver\": \"qcow2\", \"node-name\": \"layer2\","
                  " \"backing\": \"layer1\", \"file\": {\"driver\": \"file\","
                  " \"filename\": \"%s\"}}", commit_chain_path(chain, 2));
    lm_test_qsd_export(qsd, "layer2", COMMIT_CHAIN_EXPORT, &err);
    g_assert_no_error(err);
    commit_chain_connect(chain, guest);
    if (commit_require_command(qmp, "livemerge-stream")) {
        commit_qmp_ok(qmp, "livemerge-stream", "{\"job-id\": \"s\","
                      " \"device\": \"layer2\", \"on-error\": \"%s\"}",
                      policy);
        return chain;
    }
    commit_chain_finish(chain, guest, 2);
    commit_chain_free(chain);
    return NULL;
}

static void test_on_error(gconstpointer data)
{
    const char *policy = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(LmTestGuest) guest = lm_test_guest_new(0);
    g_autoptr(CommitChain) chain = NULL;
    g_autoptr(CommitJobLog) log = commit_job_log_new("s");
    gboolean fails = g_str_equal(policy, "report");
    JsonObject *error = NULL;
    LmQmp *qmp;

    g_assert_no_error(err);
    chain = error_chain_new(qsd, guest, policy);
    if (!chain) {
        return;
    }
    qmp = commit_chain_qmp(chain);
    if (g_str_equal(policy, "stop")) {
        commit_job_log_wait(log, qmp, "paused", -1);
        /* The guest writes while the job waits */
        commit_write(guest, 4 * MiB, MiB);
        commit_qmp_ok(qmp, "block-job-resume", "{\"device\": \"s\"}");
    }
    commit_job_log_wait(log, qmp, "null", -1);
    for (guint i = 0; i < log->events->len; i++) {
        JsonObject *ev = log->events->pdata[i];

        if (g_str_equal(json_object_get_string_member(ev, "event"),
                        "BLOCK_JOB_ERROR") && !error) {
            error = ev;
        }
    }
    g_assert_nonnull(error);
    g_assert_cmpstr(commit_event_str(error, "operation"), ==, "read");
    g_assert_cmpstr(commit_event_str(error, "action"), ==, policy);
    if (fails) {
        /* The chain is as it was */
        g_assert_nonnull(log->completed);
        g_assert_nonnull(commit_event_str(log->completed, "error"));
        commit_assert_export_chain(qmp, "layer2(rw) > layer1(ro) > layer0(ro)");
    } else {
        /* Completed after the error, with everything pulled */
        g_assert_nonnull(log->completed);
        g_assert_null(commit_event_str(log->completed, "error"));
        g_assert_cmpint(commit_event_int(log->completed, "offset"), ==,
                        commit_event_int(log->completed, "len"));
        commit_assert_export_chain(qmp, "layer2(rw)");
        check_header(chain, -1, NULL);
    }
    commit_assert_no_jobs(qmp);
    commit_chain_finish(chain, guest, 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/stream/%s", cases[i].path);

        g_test_add_data_func(path, &cases[i], test_stream);
    }
    g_test_add_func("/stream/base/under-load",
                    test_stream_with_base_under_load);
    g_test_add_data_func("/stream/race/random-4k-qd16",
                         GINT_TO_POINTER(RACE_RANDOM_4K), test_race);
    g_test_add_data_func("/stream/race/sequential-1m",
                         GINT_TO_POINTER(RACE_SEQUENTIAL_1M), test_race);
    g_test_add_func("/stream/race/zeroes", test_race_zeroes);
    g_test_add_data_func("/stream/race/around-filter",
                         GINT_TO_POINTER(RACE_AROUND_FILTER), test_race);
    g_test_add_func("/stream/control/manual-finalize", test_manual_finalize);
    g_test_add_data_func("/stream/on-error/report", "report", test_on_error);
    g_test_add_data_func("/stream/on-error/stop", "stop", test_on_error);
    g_test_add_data_func("/stream/on-error/ignore", "ignore", test_on_error);
    return g_test_run();
}
