/*
 * livemerge - livemerge-stream, livemerge-mirror and the group commands
 * refuse bad arguments, and leave nothing
 *
 * Every refusal must name the argument at fault and its value (QEMU's own
 * wording for a missing, mistyped or unknown member) and leave the daemon
 * as it was: no job and no job event, no livemerge filter or stray node,
 * the chains as before, the guest's data intact.  A daemon that saw every
 * refusal must still stream and mirror.
 *
 * The daemon serves layer2 > layer1 > layer0 (16M, exported as "disk"),
 * other1 > other0 (exported as "other"), and mirror targets: "tgt"
 * (qcow2, 16M, no backing), "small" (qcow2, 8M), "rawtgt" (raw, 16M),
 * "topnb" (qcow2, 16M, no backing) and "topwrong" (qcow2, 16M, backed by
 * other0).  (A top target with no backing at all is taken: the job backs
 * it onto the source's backing, see test-mirror.c.)
 *
 * The stream cases are under /stream-validation, the mirror cases under
 * /mirror-validation, the group commands' under /group-validation: meson
 * runs each share in its suite.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "commit-fixture.h"

#define KiB COMMIT_KiB
#define MiB COMMIT_MiB

static const char *const extra_nodes[] = {
    "other0-file", "other0", "other1-file", "other1",
    "tgt-file", "tgt", "small-file", "small", "rawtgt-file", "rawtgt",
    "topnb-file", "topnb", "topwrong-file", "topwrong", NULL,
};

typedef struct {
    LmTestQsd *qsd;
    CommitChain *chain;
    LmTestGuest *guest;
    LmQmp *qmp;
} Setup;

static void fill(CommitChain *chain, guint layer, LmTestGuest *guest,
                 gpointer data)
{
    (void)chain;
    (void)data;
    switch (layer) {
    case 0:
        commit_write(guest, 0, 4 * MiB);
        break;
    case 1:
        commit_write(guest, 1 * MiB, 2 * MiB);
        commit_zero(guest, 8 * MiB, 1 * MiB);
        break;
    default:
        commit_write(guest, 2 * MiB, 64 * KiB);
        break;
    }
}

/* A new image @name.EXT of @size in the daemon's dir, added as @name. */
static void add_image(Setup *s, const char *name, const char *fmt,
                      const char *size, const char *backing_node,
                      const char *backing_path)
{
    g_autofree char *file = g_strdup_printf("%s.%s", name, fmt);
    g_autofree char *path = lm_test_qsd_path(s->qsd, file);

    lm_test_image_create(path, &(LmTestImageOpts){
                             .fmt = fmt, .size = size,
                             .backing = backing_path });
    commit_add_image_node(s->qmp, name, path, fmt, backing_node);
}

static Setup *setup_new(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *other0 = NULL;
    Setup *s = g_new0(Setup, 1);

    s->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    s->chain = commit_chain_new_full(s->qsd, 3, NULL, "16M");
    s->guest = lm_test_guest_new(0);
    commit_chain_build(s->chain, s->guest, fill, NULL);
    s->qmp = commit_chain_qmp(s->chain);

    other0 = lm_test_qsd_path(s->qsd, "other0.qcow2");
    add_image(s, "other0", "qcow2", "16M", NULL, NULL);
    add_image(s, "other1", "qcow2", "16M", "other0", other0);
    lm_test_qsd_export(s->qsd, "other1", "other", &err);
    g_assert_no_error(err);
    add_image(s, "tgt", "qcow2", "16M", NULL, NULL);
    add_image(s, "small", "qcow2", "8M", NULL, NULL);
    add_image(s, "rawtgt", "raw", "16M", NULL, NULL);
    add_image(s, "topnb", "qcow2", "16M", NULL, NULL);
    add_image(s, "topwrong", "qcow2", "16M", "other0", other0);
    return s;
}

/* Nothing changed, nothing left behind, no job event, the data fine. */
static void assert_untouched(Setup *s)
{
    g_autoptr(GPtrArray) events = NULL;
    g_autofree char *other = NULL;

    commit_assert_no_jobs(s->qmp);
    commit_chain_assert_nodes(s->chain, extra_nodes);
    commit_assert_export_chain(s->qmp, "layer2(rw) > layer1(ro) > layer0(ro)");
    other = commit_describe_chain(s->qmp, "other1");
    g_assert_cmpstr(other, ==, "other1(rw) > other0(rw)");
    commit_verify(s->guest);
    events = lm_qmp_take_events(s->qmp);
    for (guint i = 0; i < events->len; i++) {
        const char *name = json_object_get_string_member(events->pdata[i],
                                                         "event");

        g_test_message("event: %s", name);
        g_assert_false(g_str_has_prefix(name, "JOB_") ||
                       g_str_has_prefix(name, "BLOCK_JOB_"));
    }
}

static void setup_finish(Setup *s, guint view_layer)
{
    commit_chain_finish(s->chain, s->guest, view_layer);
    for (guint i = 0; extra_nodes[i]; i += 2) {
        const char *name = extra_nodes[i + 1];
        g_autofree char *file = g_strdup_printf(
            "%s.%s", name, g_str_equal(name, "rawtgt") ? "raw" : "qcow2");
        g_autofree char *path = lm_test_qsd_path(s->qsd, file);

        if (!g_str_equal(name, "rawtgt")) {
            lm_test_image_check(path);
        }
    }
    lm_test_guest_free(s->guest);
    commit_chain_free(s->chain);
    lm_test_qsd_free(s->qsd);
    g_free(s);
}

/* ------------------------------------------------------------------ */
/* One bad command */

typedef struct {
    const char *path;
    const char *command;
    const char *args;      /* JSON object text */
    const char *arg;       /* the argument the desc must name */
    const char *value;     /* and the value, if not NULL */
    const char *alt_arg;   /* or this one instead (nullable) */
} BadArgs;

#define STREAM "livemerge-stream"
#define MIRROR "livemerge-mirror"
#define S2 "{\"job-id\": \"j\", \"device\": \"layer2\""
#define M2 "{\"job-id\": \"j\", \"device\": \"layer2\", \"target\": \"tgt\"," \
    " \"sync\": \"full\""

static const BadArgs bad_args[] = {
    /* livemerge-stream */
    { "/stream/validation/device/unknown", STREAM,
      "{\"job-id\": \"j\", \"device\": \"nope\"}", "device", "nope", NULL },
    { "/stream/validation/device/backing-node", STREAM,
      "{\"job-id\": \"j\", \"device\": \"layer1\"}", "device", "layer1",
      NULL },
    { "/stream/validation/device/file-node", STREAM,
      "{\"job-id\": \"j\", \"device\": \"layer2-file\"}", "device",
      "layer2-file", NULL },
    { "/stream/validation/base-node/unknown", STREAM,
      S2 ", \"base-node\": \"nope\"}", "base-node", "nope", NULL },
    { "/stream/validation/base-node/other-chain", STREAM,
      S2 ", \"base-node\": \"other0\"}", "base-node", "other0", NULL },
    { "/stream/validation/base-node/equals-device", STREAM,
      S2 ", \"base-node\": \"layer2\"}", "base-node", "layer2", NULL },
    { "/stream/validation/base-node/file-child", STREAM,
      S2 ", \"base-node\": \"layer0-file\"}", "base-node", "layer0-file",
      NULL },
    { "/stream/validation/backing-file/without-base", STREAM,
      S2 ", \"backing-file\": \"layer0.qcow2\"}", "backing-file", NULL,
      NULL },
    { "/stream/validation/backing-file/empty", STREAM,
      S2 ", \"base-node\": \"layer0\", \"backing-file\": \"\"}",
      "backing-file", NULL, NULL },
    { "/stream/validation/backing-file/json", STREAM,
      S2 ", \"base-node\": \"layer0\", \"backing-file\": \"json:{}\"}",
      "backing-file", "json:{}", NULL },
    { "/stream/validation/backing-file/newline", STREAM,
      S2 ", \"base-node\": \"layer0\","
      " \"backing-file\": \"layer0\\n.qcow2\"}",
      "backing-file", "layer0\\n.qcow2", NULL },
    { "/stream/validation/speed/negative", STREAM,
      S2 ", \"speed\": -1}", "speed", "-1", NULL },
    { "/stream/validation/on-error/unknown", STREAM,
      S2 ", \"on-error\": \"sometimes\"}", "on-error", "sometimes", NULL },
    { "/stream/validation/filter-node-name/invalid", STREAM,
      S2 ", \"filter-node-name\": \"1bad\"}", "filter-node-name", "1bad",
      NULL },
    { "/stream/validation/filter-node-name/duplicate", STREAM,
      S2 ", \"filter-node-name\": \"layer0\"}", "filter-node-name", "layer0",
      NULL },
    { "/stream/validation/job-id/invalid", STREAM,
      "{\"job-id\": \"1abc\", \"device\": \"layer2\"}", "job-id", "1abc",
      NULL },
    { "/stream/validation/missing/job-id", STREAM,
      "{\"device\": \"layer2\"}", "job-id", NULL, NULL },
    { "/stream/validation/missing/device", STREAM,
      "{\"job-id\": \"j\"}", "device", NULL, NULL },
    { "/stream/validation/type/speed", STREAM,
      S2 ", \"speed\": \"fast\"}", "speed", NULL, NULL },
    { "/stream/validation/unexpected/target", STREAM,
      S2 ", \"target\": \"tgt\"}", "target", NULL, NULL },
    { "/stream/validation/unexpected/top-node", STREAM,
      S2 ", \"top-node\": \"layer1\"}", "top-node", NULL, NULL },

    /* livemerge-mirror: the nodes */
    { "/mirror/validation/device/unknown", MIRROR,
      "{\"job-id\": \"j\", \"device\": \"nope\", \"target\": \"tgt\","
      " \"sync\": \"full\"}", "device", "nope", NULL },
    { "/mirror/validation/device/backing-node", MIRROR,
      "{\"job-id\": \"j\", \"device\": \"layer1\", \"target\": \"tgt\","
      " \"sync\": \"full\"}", "device", "layer1", NULL },
    { "/mirror/validation/device/file-node", MIRROR,
      "{\"job-id\": \"j\", \"device\": \"layer2-file\", \"target\": \"tgt\","
      " \"sync\": \"full\"}", "device", "layer2-file", NULL },
    { "/mirror/validation/target/unknown", MIRROR,
      S2 ", \"target\": \"nope\", \"sync\": \"full\"}", "target", "nope",
      NULL },
    { "/mirror/validation/target/is-source", MIRROR,
      S2 ", \"target\": \"layer2\", \"sync\": \"full\"}", "target", "layer2",
      NULL },
    { "/mirror/validation/target/in-chain", MIRROR,
      S2 ", \"target\": \"layer1\", \"sync\": \"full\"}", "target", "layer1",
      NULL },
    { "/mirror/validation/target/chain-bottom", MIRROR,
      S2 ", \"target\": \"layer0\", \"sync\": \"full\"}", "target", "layer0",
      NULL },
    { "/mirror/validation/target/backing-of-other", MIRROR,
      S2 ", \"target\": \"other0\", \"sync\": \"full\"}", "target", "other0",
      NULL },
    { "/mirror/validation/target/exported", MIRROR,
      S2 ", \"target\": \"other1\", \"sync\": \"full\"}", "target", "other1",
      NULL },
    { "/mirror/validation/target/file-node-of-source", MIRROR,
      S2 ", \"target\": \"layer2-file\", \"sync\": \"full\"}", "target",
      "layer2-file", NULL },
    { "/mirror/validation/target/size-differs", MIRROR,
      S2 ", \"target\": \"small\", \"sync\": \"full\"}", "target", "small",
      NULL },
    { "/mirror/validation/sync/top-into-raw", MIRROR,
      S2 ", \"target\": \"rawtgt\", \"sync\": \"top\"}", "target", "rawtgt",
      "sync" },
    { "/mirror/validation/sync/top-wrong-backing", MIRROR,
      S2 ", \"target\": \"topwrong\", \"sync\": \"top\"}", "target",
      "topwrong", "sync" },
    /* livemerge-mirror: the other arguments */
    { "/mirror/validation/sync/missing", MIRROR,
      S2 ", \"target\": \"tgt\"}", "sync", NULL, NULL },
    { "/mirror/validation/sync/none", MIRROR,
      S2 ", \"target\": \"tgt\", \"sync\": \"none\"}", "sync", "none", NULL },
    { "/mirror/validation/sync/unknown", MIRROR,
      S2 ", \"target\": \"tgt\", \"sync\": \"bogus\"}", "sync", "bogus",
      NULL },
    { "/mirror/validation/target/missing", MIRROR,
      S2 ", \"sync\": \"full\"}", "target", NULL, NULL },
    { "/mirror/validation/copy-mode/unknown", MIRROR,
      M2 ", \"copy-mode\": \"fast\"}", "copy-mode", "fast", NULL },
    { "/mirror/validation/granularity/not-power-of-2", MIRROR,
      M2 ", \"granularity\": 65537}", "granularity", "65537", NULL },
    { "/mirror/validation/granularity/zero", MIRROR,
      M2 ", \"granularity\": 0}", "granularity", "0", NULL },
    { "/mirror/validation/buf-size/negative", MIRROR,
      M2 ", \"buf-size\": -1}", "buf-size", "-1", NULL },
    { "/mirror/validation/max-in-flight/zero", MIRROR,
      M2 ", \"max-in-flight\": 0}", "max-in-flight", "0", NULL },
    { "/mirror/validation/speed/negative", MIRROR,
      M2 ", \"speed\": -1}", "speed", "-1", NULL },
    { "/mirror/validation/on-source-error/unknown", MIRROR,
      M2 ", \"on-source-error\": \"sometimes\"}", "on-source-error",
      "sometimes", NULL },
    { "/mirror/validation/on-target-error/unknown", MIRROR,
      M2 ", \"on-target-error\": \"sometimes\"}", "on-target-error",
      "sometimes", NULL },
    { "/mirror/validation/filter-node-name/invalid", MIRROR,
      M2 ", \"filter-node-name\": \"1bad\"}", "filter-node-name", "1bad",
      NULL },
    { "/mirror/validation/filter-node-name/duplicate", MIRROR,
      M2 ", \"filter-node-name\": \"tgt\"}", "filter-node-name", "tgt",
      NULL },
    { "/mirror/validation/missing/job-id", MIRROR,
      "{\"device\": \"layer2\", \"target\": \"tgt\", \"sync\": \"full\"}",
      "job-id", NULL, NULL },
    { "/mirror/validation/unexpected/base-node", MIRROR,
      M2 ", \"base-node\": \"layer0\"}", "base-node", NULL, NULL },

    /* the group commands, with no job at all */
    { "/group/validation/complete/empty", "livemerge-complete",
      "{\"job-ids\": []}", "job-ids", NULL, NULL },
    { "/group/validation/complete/unknown-job", "livemerge-complete",
      "{\"job-ids\": [\"nope\"]}", "job-ids", "nope", NULL },
    { "/group/validation/complete/missing", "livemerge-complete",
      "{}", "job-ids", NULL, NULL },
    { "/group/validation/complete/type", "livemerge-complete",
      "{\"job-ids\": \"nope\"}", "job-ids", NULL, NULL },
    { "/group/validation/cancel/empty", "livemerge-cancel",
      "{\"job-ids\": []}", "job-ids", NULL, NULL },
    { "/group/validation/cancel/unknown-job", "livemerge-cancel",
      "{\"job-ids\": [\"nope\"]}", "job-ids", "nope", NULL },
};

#undef S2
#undef M2

/* Assert @c's command is refused naming its argument (or alt_arg). */
static void expect_refusal(LmQmp *qmp, const BadArgs *c)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *quoted = g_strdup_printf("'%s'", c->arg);
    g_autofree char *alt = c->alt_arg ? g_strdup_printf("'%s'", c->alt_arg)
                                      : NULL;

    if (!c->alt_arg) {
        commit_assert_refusal(qmp, c->command, c->args, NULL, c->arg,
                              c->value);
        return;
    }
    ret = lm_qmp_execute_json(qmp, c->command, c->args, &err);
    g_assert_null(ret);
    if (ret) {
        return;
    }
    g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    g_test_message("%s %s -> %s", c->command, c->args, err->message);
    g_assert_true(strstr(err->message, quoted) ||
                  strstr(err->message, alt));
    if (c->value) {
        g_assert_true(commit_names_value(err->message, c->value));
    }
}

static void test_bad_args(gconstpointer data)
{
    const BadArgs *c = data;
    Setup *s = setup_new();

    if (commit_require_command(s->qmp, c->command)) {
        expect_refusal(s->qmp, c);
        assert_untouched(s);
    }
    setup_finish(s, 2);
}

/*
 * Every refusal of @command in turn on one daemon, then the command runs:
 * none left anything behind that would stop it.
 */
static void refuse_all(Setup *s, const char *command)
{
    for (guint i = 0; i < G_N_ELEMENTS(bad_args); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ret = NULL;

        if (!g_str_equal(bad_args[i].command, command)) {
            continue;
        }
        ret = lm_qmp_execute_json(s->qmp, command, bad_args[i].args, &err);
        g_assert_null(ret);
        g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    }
    assert_untouched(s);
}

static void test_all_then_stream(void)
{
    Setup *s = setup_new();
    g_autoptr(CommitJobLog) log = NULL;

    if (commit_require_command(s->qmp, STREAM)) {
        refuse_all(s, STREAM);
        commit_qmp_ok(s->qmp, STREAM, "{\"job-id\": \"s\","
                      " \"device\": \"layer2\", \"base-node\": \"layer0\"}");
        log = commit_job_run(s->qmp, "s", "null");
        commit_job_assert_completed_type(log, "stream");
        commit_assert_export_chain(s->qmp, "layer2(rw) > layer0(ro)");
    }
    setup_finish(s, 2);
}

static void test_all_then_mirror(void)
{
    Setup *s = setup_new();
    g_autoptr(CommitJobLog) log = NULL;

    if (commit_require_command(s->qmp, MIRROR)) {
        refuse_all(s, MIRROR);
        commit_qmp_ok(s->qmp, MIRROR, "{\"job-id\": \"m\","
                      " \"device\": \"layer2\", \"target\": \"tgt\","
                      " \"sync\": \"full\"}");
        log = commit_job_run(s->qmp, "m", "ready");
        commit_qmp_ok(s->qmp, "block-job-cancel", "{\"device\": \"m\"}");
        commit_job_log_wait(log, s->qmp, "null", -1);
        commit_job_assert_completed_type(log, "mirror");
        assert_untouched(s);
    }
    setup_finish(s, 2);
}

/*
 * A target another job writes to is in use; a second job on the same
 * device or with the same id is refused too.  The busy job is a mirror
 * at 1 byte/s, one copy at a time.
 */
static void test_target_busy(void)
{
    Setup *s = setup_new();
    g_autoptr(CommitJobLog) log = commit_job_log_new("busy");
    g_autoptr(JsonObject) job = NULL;

    if (!commit_require_command(s->qmp, MIRROR)) {
        setup_finish(s, 2);
        return;
    }
    commit_qmp_ok(s->qmp, MIRROR, "{\"job-id\": \"busy\", \"device\":"
                  " \"layer2\", \"target\": \"tgt\", \"sync\": \"full\","
                  " \"speed\": 1, \"max-in-flight\": 1}");
    commit_job_log_wait(log, s->qmp, "running", -1);

    /* tgt is the busy job's target */
    commit_assert_refusal(s->qmp, MIRROR, "{\"job-id\": \"j\", \"device\":"
                          " \"other1\", \"target\": \"tgt\","
                          " \"sync\": \"full\"}", NULL, "target", "tgt");
    /* the device has a job */
    commit_assert_refusal(s->qmp, MIRROR, "{\"job-id\": \"j\", \"device\":"
                          " \"layer2\", \"target\": \"topnb\","
                          " \"sync\": \"full\"}", NULL, "device", "layer2");
    commit_assert_refusal(s->qmp, STREAM, "{\"job-id\": \"j\", \"device\":"
                          " \"layer2\"}", NULL, "device", "layer2");
    /* the id is taken */
    commit_assert_refusal(s->qmp, MIRROR, "{\"job-id\": \"busy\", \"device\":"
                          " \"other1\", \"target\": \"topnb\","
                          " \"sync\": \"full\"}", NULL, "job-id", "busy");
    /* a group with a job that is not READY is refused naming it */
    commit_assert_refusal(s->qmp, "livemerge-complete",
                          "{\"job-ids\": [\"busy\"]}", NULL, "job-ids",
                          "busy");
    commit_assert_refusal(s->qmp, "livemerge-cancel",
                          "{\"job-ids\": [\"busy\"]}", NULL, "job-ids",
                          "busy");
    job = commit_query_block_job(s->qmp, "busy");
    g_assert_nonnull(job);
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    "running");
    g_assert_null(commit_query_block_job(s->qmp, "j"));

    commit_qmp_ok(s->qmp, "block-job-cancel",
                  "{\"device\": \"busy\", \"force\": true}");
    commit_job_log_wait(log, s->qmp, "null", -1);
    g_assert_nonnull(log->cancelled);
    assert_untouched(s);
    setup_finish(s, 2);
}

/*
 * "/KIND/validation/a/b" as "/KIND-validation/a-b": GTest's -p runs the
 * tests of a suite, not of the suites below it, and meson picks each
 * kind's share with -p /KIND-validation.
 */
static char *flat_path(const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path + 1, "/", -1);
    g_autofree char *rest = g_strjoinv("-", parts + 2);

    g_assert_cmpstr(parts[1], ==, "validation");
    return g_strdup_printf("/%s-validation/%s", parts[0], rest);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* One refusal that is wrong must not hide the verdicts on the others */
    g_test_set_nonfatal_assertions();
    for (guint i = 0; i < G_N_ELEMENTS(bad_args); i++) {
        g_autofree char *path = flat_path(bad_args[i].path);

        g_test_add_data_func(path, &bad_args[i], test_bad_args);
    }
    g_test_add_func("/stream-validation/sequence-all-then-stream",
                    test_all_then_stream);
    g_test_add_func("/mirror-validation/sequence-all-then-mirror",
                    test_all_then_mirror);
    g_test_add_func("/mirror-validation/busy-target-and-device",
                    test_target_busy);
    return g_test_run();
}
