/*
 * livemerge - livemerge-commit refuses bad arguments, and leaves nothing
 *
 * Every refusal must name the argument at fault (QEMU's own wording for a
 * missing, mistyped or unknown member; "Parameter 'NAME': ..." with the
 * value otherwise) and leave the daemon as it was: no job, no livemerge
 * filter or other stray node, the chain and its read-only flags as before,
 * the daemon alive and the guest's data intact.  A chain that saw every
 * refusal must still commit.
 *
 * The daemon serves a 3-layer chain layer2 > layer1 > layer0 (exported as
 * "disk") and a second chain other1 > other0 that no export uses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "commit-fixture.h"

#define KiB COMMIT_KiB
#define MiB COMMIT_MiB

static const char *const other_nodes[] = {
    "other0-file", "other0", "other1-file", "other1", NULL,
};

typedef struct {
    LmTestQsd *qsd;
    CommitChain *chain;
    LmTestGuest *guest;
    char *chain_before;
    char *other_before;
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
    case 2:
        commit_write(guest, 2 * MiB, 64 * KiB);
        break;
    default:
        g_assert_not_reached();
    }
}

static void add_other_chain(Setup *s)
{
    LmQmp *qmp = commit_chain_qmp(s->chain);
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("other%u.qcow2", i);
        g_autofree char *path = lm_test_qsd_path(s->qsd, name);
        g_autofree char *below = i ? lm_test_qsd_path(s->qsd, "other0.qcow2")
                                   : NULL;

        lm_test_image_create(path, &(LmTestImageOpts){
                                 .size = "16M", .backing = below,
                             });
        lm_qmp_runf(qmp, &err, "blockdev-add",
                    "{\"driver\": \"file\", \"node-name\": \"other%u-file\","
                    " \"filename\": \"%s\", \"auto-read-only\": true}",
                    i, path);
        g_assert_no_error(err);
        lm_qmp_runf(qmp, &err, "blockdev-add",
                    "{\"driver\": \"qcow2\", \"node-name\": \"other%u\","
                    " \"file\": \"other%u-file\", \"read-only\": %s,"
                    " \"backing\": %s}", i, i, i ? "false" : "true",
                    i ? "\"other0\"" : "null");
        g_assert_no_error(err);
    }
    lm_test_qsd_export(s->qsd, "other1", "other", &err);
    g_assert_no_error(err);
}

static Setup *setup_new_full(CommitLayerFill fill_fn, const char *size)
{
    g_autoptr(GError) err = NULL;
    Setup *s = g_new0(Setup, 1);

    s->qsd = lm_test_qsd_start(NULL, &err);
    g_assert_no_error(err);
    s->chain = commit_chain_new_full(s->qsd, 3, NULL, size);
    s->guest = lm_test_guest_new(0);
    commit_chain_build(s->chain, s->guest, fill_fn, NULL);
    add_other_chain(s);
    s->chain_before = commit_describe_export(commit_chain_qmp(s->chain));
    s->other_before = commit_describe_chain(commit_chain_qmp(s->chain),
                                            "other1");
    g_assert_cmpstr(s->chain_before, ==,
                    "layer2(rw) > layer1(ro) > layer0(ro)");
    g_assert_cmpstr(s->other_before, ==, "other1(rw) > other0(ro)");
    return s;
}

static Setup *setup_new(void)
{
    return setup_new_full(fill, "16M");
}

/* Nothing changed, nothing left behind, the daemon and the data fine. */
static void assert_untouched(Setup *s)
{
    LmQmp *qmp = commit_chain_qmp(s->chain);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) version = NULL;
    g_autofree char *other = NULL;
    g_autoptr(GPtrArray) events = NULL;

    version = lm_qmp_execute(qmp, "query-version", NULL, &err);
    g_assert_no_error(err);
    commit_assert_no_jobs(qmp);
    commit_chain_assert_nodes(s->chain, other_nodes);
    commit_assert_export_chain(qmp, s->chain_before);
    other = commit_describe_chain(qmp, "other1");
    g_assert_cmpstr(other, ==, s->other_before);
    commit_verify(s->guest);
    /* A refused command starts no job: no job event either. */
    events = lm_qmp_take_events(qmp);
    for (guint i = 0; i < events->len; i++) {
        const char *name = json_object_get_string_member(events->pdata[i],
                                                         "event");

        g_test_message("event: %s", name);
        g_assert_false(g_str_has_prefix(name, "JOB_") ||
                       g_str_has_prefix(name, "BLOCK_JOB_"));
    }
}

/* "qemu-img check" of the other chain's images (the daemon stopped). */
static void check_other_images(LmTestQsd *qsd)
{
    for (guint i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("other%u.qcow2", i);
        g_autofree char *path = lm_test_qsd_path(qsd, name);

        lm_test_image_check(path);
    }
}

/*
 * The end of every test: the daemon stops cleanly, the disk (now
 * @view_layer) reads back right offline, the images are fine.
 */
static void setup_finish_view(Setup *s, guint view_layer)
{
    commit_chain_finish(s->chain, s->guest, view_layer);
    check_other_images(s->qsd);
    g_free(s->chain_before);
    g_free(s->other_before);
    lm_test_guest_free(s->guest);
    commit_chain_free(s->chain);
    lm_test_qsd_free(s->qsd);
    g_free(s);
}

static void setup_finish(Setup *s)
{
    setup_finish_view(s, 2);
}

/* ------------------------------------------------------------------ */
/* One bad command */

typedef struct {
    const char *path;
    const char *args;      /* JSON object text */
    const char *exact;     /* the whole desc (QEMU's own errors), or NULL */
    const char *arg;       /* the argument the desc must name */
    const char *value;     /* and the value, if not NULL */
} BadArgs;

static const BadArgs bad_args[] = {
    /* the chain */
    { "device/unknown", "{\"job-id\": \"j\", \"device\": \"nope\"}",
      NULL, "device", "nope" },
    { "top-node/unknown",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": \"nope\"}",
      NULL, "top-node", "nope" },
    { "top-node/other-chain",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": \"other0\"}",
      NULL, "top-node", "other0" },
    { "top-node/file-child",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"top-node\": \"layer1-file\"}",
      NULL, "top-node", "layer1-file" },
    { "top-node/bottom",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": \"layer0\"}",
      NULL, "top-node", "layer0" },
    { "base-node/unknown",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"base-node\": \"nope\"}",
      NULL, "base-node", "nope" },
    { "base-node/other-chain",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"base-node\": \"other0\"}",
      NULL, "base-node", "other0" },
    { "base-node/above-top",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": \"layer1\","
      " \"base-node\": \"layer2\"}",
      NULL, "base-node", "layer2" },
    { "base-node/equals-top",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": \"layer1\","
      " \"base-node\": \"layer1\"}",
      NULL, "base-node", "layer1" },
    { "base-node/equals-active",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"base-node\": \"layer2\"}",
      NULL, "base-node", "layer2" },
    { "base-node/file-child",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"base-node\": \"layer0-file\"}",
      NULL, "base-node", "layer0-file" },
    { "backing-file/active-commit",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"backing-file\": \"layer0.qcow2\"}",
      NULL, "backing-file", NULL },
    { "backing-file/active-commit-explicit-top",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": \"layer2\","
      " \"base-node\": \"layer0\", \"backing-file\": \"layer0.qcow2\"}",
      NULL, "backing-file", NULL },
    /* numbers and enums */
    { "speed/negative",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"speed\": -1}",
      NULL, "speed", "-1" },
    { "copy-mode/unknown",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"copy-mode\": \"fast\"}",
      NULL, "copy-mode", "fast" },
    { "copy-mode/wrong-case",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"copy-mode\": \"Background\"}",
      NULL, "copy-mode", "Background" },
    { "granularity/not-power-of-2",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"granularity\": 65537}",
      NULL, "granularity", "65537" },
    { "granularity/not-power-of-2-small",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"granularity\": 3000}",
      NULL, "granularity", "3000" },
    { "granularity/zero",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"granularity\": 0}",
      NULL, "granularity", "0" },
    { "granularity/too-small",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"granularity\": 256}",
      NULL, "granularity", "256" },
    { "granularity/too-big",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"granularity\": 134217728}",
      NULL, "granularity", "134217728" },
    { "granularity/negative",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"granularity\": -1}",
      NULL, "granularity", NULL },
    { "buf-size/negative",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"buf-size\": -1}",
      NULL, "buf-size", "-1" },
    { "buf-size/too-big",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"buf-size\": 2147483648}",
      NULL, "buf-size", "2147483648" },
    { "max-in-flight/zero",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"max-in-flight\": 0}",
      NULL, "max-in-flight", "0" },
    { "max-in-flight/too-big",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"max-in-flight\": 257}",
      NULL, "max-in-flight", "257" },
    { "on-error/unknown",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"on-error\": \"sometimes\"}",
      "Parameter 'on-error' does not accept value 'sometimes'", NULL, NULL },
    /* QEMU's usual errors: missing, mistyped, unknown members */
    { "missing/job-id", "{\"device\": \"layer2\"}",
      "Parameter 'job-id' is missing", NULL, NULL },
    { "missing/device", "{\"job-id\": \"j\"}",
      "Parameter 'device' is missing", NULL, NULL },
    { "missing/everything", "{}",
      "Parameter 'job-id' is missing", NULL, NULL },
    { "type/job-id", "{\"job-id\": 1, \"device\": \"layer2\"}",
      "Invalid parameter type for 'job-id', expected: string", NULL, NULL },
    { "type/device", "{\"job-id\": \"j\", \"device\": null}",
      "Invalid parameter type for 'device', expected: string", NULL, NULL },
    { "type/top-node",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": 5}",
      "Invalid parameter type for 'top-node', expected: string", NULL, NULL },
    { "type/base-node",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"base-node\": [\"layer0\"]}",
      "Invalid parameter type for 'base-node', expected: string", NULL,
      NULL },
    { "type/speed",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"speed\": \"fast\"}",
      "Invalid parameter type for 'speed', expected: integer", NULL, NULL },
    { "type/speed-float",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"speed\": 1.5}",
      "Invalid parameter type for 'speed', expected: integer", NULL, NULL },
    { "type/granularity",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"granularity\": \"64k\"}",
      NULL, "granularity", NULL },
    { "type/buf-size",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"buf-size\": true}",
      "Invalid parameter type for 'buf-size', expected: integer", NULL,
      NULL },
    { "type/on-error",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"on-error\": 1}",
      "Invalid parameter type for 'on-error', expected: string", NULL, NULL },
    { "type/copy-mode",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"copy-mode\": {}}",
      "Invalid parameter type for 'copy-mode', expected: string", NULL,
      NULL },
    { "type/auto-finalize",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"auto-finalize\": \"yes\"}",
      "Invalid parameter type for 'auto-finalize', expected: boolean", NULL,
      NULL },
    { "type/auto-dismiss",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"auto-dismiss\": 0}",
      "Invalid parameter type for 'auto-dismiss', expected: boolean", NULL,
      NULL },
    { "unexpected/bogus",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"bogus\": 1}",
      "Parameter 'bogus' is unexpected", NULL, NULL },
    /* block-commit's own names that this command does not take */
    { "unexpected/base",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"base\": \"x\"}",
      "Parameter 'base' is unexpected", NULL, NULL },
    { "unexpected/top",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top\": \"x\"}",
      "Parameter 'top' is unexpected", NULL, NULL },
    /* backing-file strings that would not reopen as the same chain */
#define IC "{\"job-id\": \"j\", \"device\": \"layer2\"," \
    " \"top-node\": \"layer1\", \"base-node\": \"layer0\","
    { "backing-file/empty", IC " \"backing-file\": \"\"}",
      NULL, "backing-file", NULL },
    { "backing-file/newline", IC " \"backing-file\": \"layer0\\n.qcow2\"}",
      NULL, "backing-file", "layer0\\n.qcow2" },
    { "backing-file/json", IC " \"backing-file\": \"json:{}\"}",
      NULL, "backing-file", "json:{}" },
    { "backing-file/1023", IC " \"backing-file\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
      NULL, "backing-file", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
    { "backing-file/2000", IC " \"backing-file\": \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}",
      NULL, "backing-file", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" },
    { "backing-file/not-the-base", IC " \"backing-file\": \"layer1.qcow2\"}",
      NULL, "backing-file", "layer1.qcow2" },
    { "backing-file/missing", IC
      " \"backing-file\": \"/nonexistent/layer0.qcow2\"}",
      NULL, "backing-file", "/nonexistent/layer0.qcow2" },
    { "backing-file/protocol", IC
      " \"backing-file\": \"nbd://localhost/layer0\"}",
      NULL, "backing-file", "nbd://localhost/layer0" },
#undef IC
    /* the filter node's name, checked before anything is created */
    { "filter-node-name/invalid",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"filter-node-name\": \"1bad\"}",
      NULL, "filter-node-name", "1bad" },
    { "filter-node-name/too-long",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"filter-node-name\": \"f23456789012345678901234567890123\"}",
      NULL, "filter-node-name", "f23456789012345678901234567890123" },
    { "filter-node-name/duplicate",
      "{\"job-id\": \"j\", \"device\": \"layer2\","
      " \"filter-node-name\": \"layer0\"}",
      NULL, "filter-node-name", "layer0" },
    /* a bad argument after good ones, with a valid chain */
    { "unexpected/after-valid",
      "{\"job-id\": \"j\", \"device\": \"layer2\", \"top-node\": \"layer1\","
      " \"base-node\": \"layer0\", \"speed\": 0, \"Speed\": 0}",
      "Parameter 'Speed' is unexpected", NULL, NULL },
};

/*
 * Refusals whose wording does not name the argument at fault although
 * the spec says every refusal does: kept apart so that they show up on
 * their own.
 */
static const BadArgs bad_args_naming[] = {
    { "job-id/empty", "{\"job-id\": \"\", \"device\": \"layer2\"}",
      NULL, "job-id", "" },
    { "job-id/invalid", "{\"job-id\": \"1abc\", \"device\": \"layer2\"}",
      NULL, "job-id", "1abc" },
    /* a backing node is not "the node an export serves or its active
     * layer" */
    { "device/backing-node", "{\"job-id\": \"j\", \"device\": \"layer1\"}",
      NULL, "device", "layer1" },
    /* the bottom of a chain has nothing to commit into: device's fault,
     * top-node was not given */
    { "device/no-backing", "{\"job-id\": \"j\", \"device\": \"layer0\"}",
      NULL, "device", "layer0" },
    { "device/file-node", "{\"job-id\": \"j\", \"device\": \"layer2-file\"}",
      NULL, "device", "layer2-file" },
};

/* Run @c's command; assert how it fails. */
static void expect_refusal(LmQmp *qmp, const BadArgs *c)
{
    commit_assert_refusal(qmp, "livemerge-commit", c->args, c->exact, c->arg,
                          c->value);
}

static void test_bad_args(gconstpointer data)
{
    const BadArgs *c = data;
    Setup *s = setup_new();

    expect_refusal(commit_chain_qmp(s->chain), c);
    assert_untouched(s);
    setup_finish(s);
}

/*
 * Every refusal in turn on one daemon: none leaves anything behind that
 * would stop the next command, and the chain still commits afterwards
 * (intermediate, then active with pivot).
 */
static void test_all_then_commit(void)
{
    Setup *s = setup_new();
    LmQmp *qmp = commit_chain_qmp(s->chain);
    g_autoptr(CommitJobLog) ic = NULL;
    g_autoptr(CommitJobLog) ac = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(bad_args); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ret =
            lm_qmp_execute_json(qmp, "livemerge-commit", bad_args[i].args,
                                &err);

        g_assert_null(ret);
        g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad_args_naming); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ret =
            lm_qmp_execute_json(qmp, "livemerge-commit",
                                bad_args_naming[i].args, &err);

        g_assert_null(ret);
        g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
    }
    assert_untouched(s);

    commit_start(qmp, "{\"job-id\": \"ic\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\"}");
    ic = commit_job_run(qmp, "ic", "null");
    commit_job_assert_completed(ic);
    commit_assert_export_chain(qmp, "layer2(rw) > layer0(ro)");

    commit_start(qmp, "{\"job-id\": \"ac\", \"device\": \"layer2\"}");
    ac = commit_job_run(qmp, "ac", "ready");
    {
        g_autoptr(GError) err = NULL;

        lm_qmp_runf(qmp, &err, "block-job-complete", "{\"device\": \"ac\"}");
        g_assert_no_error(err);
    }
    commit_job_log_wait(ac, qmp, "null", -1);
    commit_job_assert_completed(ac);
    commit_assert_export_chain(qmp, "layer0(rw)");
    commit_assert_no_jobs(qmp);
    commit_chain_assert_nodes(s->chain, other_nodes);

    setup_finish_view(s, 0);
}

/* ------------------------------------------------------------------ */
/* Refusals that depend on a job being there */

static void fill_big(CommitChain *chain, guint layer, LmTestGuest *guest,
                     gpointer data)
{
    (void)chain;
    (void)data;
    if (layer == 1) {
        /* Many copies: a job limited to one at a time and 1 byte/s
         * stays for days. */
        commit_write(guest, 0, 16 * MiB);
    } else {
        commit_write(guest, 24 * MiB, 1 * MiB);
    }
}

static void expect_error(LmQmp *qmp, const char *args, const char *arg,
                         const char *value)
{
    BadArgs c = { "", args, NULL, arg, value };

    expect_refusal(qmp, &c);
}

/*
 * A job named "busy" that stays: a speed-limited intermediate commit,
 * paused (@paused) or left running, or a finished one waiting for
 * job-finalize (@pending).
 */
typedef enum { BUSY_RUNNING, BUSY_PAUSED, BUSY_PENDING } BusyKind;

static void test_busy(gconstpointer data)
{
    BusyKind kind = GPOINTER_TO_INT(data);
    Setup *s = setup_new_full(fill_big, NULL);
    LmQmp *qmp = commit_chain_qmp(s->chain);
    g_autoptr(GError) err = NULL;
    g_autoptr(CommitJobLog) log = commit_job_log_new("busy");
    g_autoptr(JsonObject) job = NULL;
    g_autofree char *during = NULL;
    g_autofree char *other = NULL;

    if (kind == BUSY_PENDING) {
        commit_start(qmp, "{\"job-id\": \"busy\", \"device\": \"layer2\","
                     " \"top-node\": \"layer1\", \"auto-finalize\": false}");
        commit_job_log_wait(log, qmp, "pending", -1);
    } else {
        /* 1 byte/s, one copy at a time: after its first copy the job
         * sleeps for days. */
        commit_start(qmp, "{\"job-id\": \"busy\", \"device\": \"layer2\","
                     " \"top-node\": \"layer1\", \"speed\": 1,"
                     " \"max-in-flight\": 1}");
        commit_job_log_wait(log, qmp, "running", -1);
        if (kind == BUSY_PAUSED) {
            lm_qmp_runf(qmp, &err, "block-job-pause", "{\"device\": \"busy\"}");
            g_assert_no_error(err);
            commit_job_log_wait(log, qmp, "paused", -1);
        }
    }
    job = commit_query_block_job(qmp, "busy");
    g_assert_nonnull(job);
    g_test_message("busy job: %s", json_object_get_string_member(job,
                                                                 "status"));

    /* Same job-id, elsewhere: the id is at fault. */
    expect_error(qmp, "{\"job-id\": \"busy\", \"device\": \"other1\"}",
                 "job-id", "busy");
    /* Another commit on the chain: active, intermediate, with filter name */
    expect_error(qmp, "{\"job-id\": \"second\", \"device\": \"layer2\"}",
                 "device", "layer2");
    expect_error(qmp, "{\"job-id\": \"second\", \"device\": \"layer2\","
                 " \"top-node\": \"layer1\", \"base-node\": \"layer0\"}",
                 "device", "layer2");
    expect_error(qmp, "{\"job-id\": \"second\", \"device\": \"layer2\","
                 " \"filter-node-name\": \"f2\"}", "device", "layer2");

    /* The job is as it was; the other chain untouched. */
    g_clear_pointer(&job, json_object_unref);
    job = commit_query_block_job(qmp, "busy");
    g_assert_nonnull(job);
    g_assert_cmpstr(json_object_get_string_member(job, "status"), ==,
                    kind == BUSY_PENDING ? "pending" :
                    kind == BUSY_PAUSED ? "paused" : "running");
    g_assert_null(commit_query_block_job(qmp, "second"));
    other = commit_describe_chain(qmp, "other1");
    g_assert_cmpstr(other, ==, "other1(rw) > other0(ro)");
    during = commit_describe_export(qmp);
    g_test_message("during: %s", during);
    /* The job's filter on top, base writable for the job. */
    g_assert_true(strstr(during, "[livemerge](rw) > layer2(rw) > "
                         "layer1(ro) > layer0(rw)"));

    /* A second job works on the other chain meanwhile. */
    {
        g_autoptr(CommitJobLog) olog = NULL;

        commit_start(qmp, "{\"job-id\": \"other\", \"device\": \"other1\"}");
        olog = commit_job_run(qmp, "other", "ready");
        lm_qmp_runf(qmp, &err, "block-job-cancel", "{\"device\": \"other\"}");
        g_assert_no_error(err);
        commit_job_log_wait(olog, qmp, "null", -1);
        /* cancel after READY completes the job, keeping the chain */
        commit_job_assert_completed(olog);
        g_clear_pointer(&other, g_free);
        other = commit_describe_chain(qmp, "other1");
        g_assert_cmpstr(other, ==, "other1(rw) > other0(ro)");
    }

    /* End the busy job without committing: force-cancel works for all. */
    lm_qmp_runf(qmp, &err, "block-job-cancel",
                "{\"device\": \"busy\", \"force\": true}");
    g_assert_no_error(err);
    commit_job_log_wait(log, qmp, "null", -1);
    g_test_message("busy: %s", log->statuses->str);
    g_assert_nonnull(log->cancelled);
    g_assert_null(log->completed);

    assert_untouched(s);
    setup_finish(s);
}

/*
 * A chain that no export uses (its node has no parent at all): the commit
 * either runs (and is cancelled after READY) or is refused naming the
 * device; either way the daemon lives on and nothing is left behind.
 */
static void test_device_not_exported(void)
{
    Setup *s = setup_new();
    LmQmp *qmp = commit_chain_qmp(s->chain);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) ev = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *other = NULL;

    lm_qmp_runf(qmp, &err, "block-export-del", "{\"id\": \"other\"}");
    g_assert_no_error(err);
    ev = lm_qmp_wait_event(qmp, "BLOCK_EXPORT_DELETED", COMMIT_JOB_TIMEOUT_MS,
                           &err);
    g_assert_no_error(err);

    ret = lm_qmp_execute_json(qmp, "livemerge-commit",
                              "{\"job-id\": \"lonely\","
                              " \"device\": \"other1\"}", &err);
    if (ret) {
        g_autoptr(CommitJobLog) log = commit_job_run(qmp, "lonely", "ready");

        g_test_message("accepted: %s", log->statuses->str);
        lm_qmp_runf(qmp, &err, "block-job-cancel",
                    "{\"device\": \"lonely\"}");
        g_assert_no_error(err);
        commit_job_log_wait(log, qmp, "null", -1);
        commit_job_assert_completed(log);
    } else {
        g_test_message("refused: %s", err->message);
        if (!g_error_matches(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND)) {
            g_autofree char *log = NULL;

            /* The daemon is gone: show why. */
            lm_test_qsd_wait(s->qsd, 5000);
            log = lm_test_qsd_read_log(s->qsd);
            g_test_message("daemon log:\n%s", log);
        }
        g_assert_error(err, LM_QMP_ERROR, LM_QMP_ERROR_COMMAND);
        g_assert_nonnull(strstr(err->message, "'device'"));
        g_assert_nonnull(strstr(err->message, "'other1'"));
        g_clear_error(&err);
    }
    other = commit_describe_chain(qmp, "other1");
    g_assert_cmpstr(other, ==, "other1(rw) > other0(ro)");
    assert_untouched(s);
    setup_finish(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* Suites run in the order they are first named; the cases last here
     * are those known to fail, so that they do not hide the others. */
    for (guint i = 0; i < G_N_ELEMENTS(bad_args); i++) {
        g_autofree char *path = g_strdup_printf("/commit/validation/args/%s",
                                                bad_args[i].path);

        g_test_add_data_func(path, &bad_args[i], test_bad_args);
    }
    g_test_add_data_func("/commit/validation/busy/running",
                         GINT_TO_POINTER(BUSY_RUNNING), test_busy);
    g_test_add_data_func("/commit/validation/busy/paused",
                         GINT_TO_POINTER(BUSY_PAUSED), test_busy);
    g_test_add_data_func("/commit/validation/busy/pending",
                         GINT_TO_POINTER(BUSY_PENDING), test_busy);
    g_test_add_func("/commit/validation/sequence/all-then-commit",
                    test_all_then_commit);
    for (guint i = 0; i < G_N_ELEMENTS(bad_args_naming); i++) {
        g_autofree char *path = g_strdup_printf(
            "/commit/validation/naming/%s", bad_args_naming[i].path);

        g_test_add_data_func(path, &bad_args_naming[i], test_bad_args);
    }
    g_test_add_func("/commit/validation/no-export/device",
                    test_device_not_exported);
    return g_test_run();
}
