/*
 * livemerge - acceptance tests of loading the plugin
 *
 * The preloaded guard is inert outside the daemon, does not pass the
 * preload on to what the daemon starts, refuses a daemon of another build
 * with one line, links nothing it could fail to find; the core's
 * references all resolve in the daemon; the commands are registered.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "lm-qmp.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

#if !defined(LM_GUARD_SO) || !defined(LM_CORE_SO) || \
    !defined(LM_WRONG_GUARD_SO) || !defined(LM_ENV_PROBE_SO) || \
    !defined(LM_LAUNCHER) || !defined(LM_QSD)
#error "tests/meson.build passes the paths of the plugin objects"
#endif

/* The build-id the wrong-build-id guard expects (filter/meson.build) */
#define WRONG_BUILD_ID "0123456789abcdef0123456789abcdef01234567"

static const char *qsd_path(void)
{
    const char *qsd = g_getenv("QSD");

    return qsd && *qsd ? qsd : LM_QSD;
}

typedef struct {
    int status;                 /* wait status */
    char *out;
    char *err;
} RunResult;

static void run_result_clear(RunResult *r)
{
    g_free(r->out);
    g_free(r->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(RunResult, run_result_clear)

/*
 * Run @argv with the test's environment, LD_PRELOAD set to @preload
 * (NULL: unset) and @extra_env ("NAME=value" pairs, NULL-terminated,
 * nullable) added.
 */
static void run(const char *const *argv, const char *preload,
                const char *const *extra_env, RunResult *r)
{
    g_auto(GStrv) envp = g_get_environ();
    g_autoptr(GError) err = NULL;

    envp = preload ? g_environ_setenv(envp, "LD_PRELOAD", preload, TRUE)
                   : g_environ_unsetenv(envp, "LD_PRELOAD");
    for (const char *const *e = extra_env; e && *e; e++) {
        g_auto(GStrv) kv = g_strsplit(*e, "=", 2);

        envp = g_environ_setenv(envp, kv[0], kv[1], TRUE);
    }
    g_spawn_sync(NULL, (char **)argv, envp, G_SPAWN_SEARCH_PATH, NULL, NULL,
                 &r->out, &r->err, &r->status, &err);
    g_assert_no_error(err);
}

static void assert_exit(const RunResult *r, int code, const char *what)
{
    if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != code) {
        g_printerr("\n%s: wait status 0x%x\nstdout:\n%s\nstderr:\n%s\n", what,
                   r->status, r->out, r->err);
        g_error("%s did not exit with status %d", what, code);
    }
}

/* Output of a tool the test relies on (exit 0 asserted). */
static char *tool_output(const char *const *argv)
{
    g_auto(RunResult) r = { 0 };

    run(argv, NULL, NULL, &r);
    assert_exit(&r, 0, argv[0]);
    return g_steal_pointer(&r.out);
}

static gboolean has_line(const char *text, const char *line)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    return g_strv_contains((const char *const *)lines, line);
}

/* ------------------------------------------------------------------ */
/* Inert outside the daemon */

static void test_inert(void)
{
    g_autofree char *dir = g_dir_make_tmp("lmtest-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "inert.qcow2", NULL);
    const char *const info[] = { "qemu-img", "info", img, NULL };
    const char *const check[] = { "qemu-img", "check", img, NULL };
    const char *const truth[] = { "/bin/true", NULL };

    g_assert_nonnull(dir);
    lm_test_image_create(img, &(LmTestImageOpts){ .size = "4M" });
    g_free(lm_test_qemu_io(img, "qcow2", "write -P 0xab 0 64k", NULL));

    for (const char *const *const *cmd = (const char *const *const[]){
             info, check, truth, NULL }; *cmd; cmd++) {
        g_auto(RunResult) plain = { 0 };
        g_auto(RunResult) preloaded = { 0 };

        run(*cmd, NULL, NULL, &plain);
        run(*cmd, LM_GUARD_SO, NULL, &preloaded);
        g_test_message("%s with the guard preloaded: status 0x%x, stderr "
                       "'%s'", (*cmd)[0], preloaded.status, preloaded.err);
        assert_exit(&plain, 0, (*cmd)[0]);
        assert_exit(&preloaded, 0, (*cmd)[0]);
        g_assert_cmpstr(preloaded.err, ==, "");
        g_assert_cmpstr(preloaded.out, ==, plain.out);
    }

    g_unlink(img);
    g_rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* The daemon does not pass the preload on */

static void qsd_child_setup(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void test_no_leak(void)
{
    g_autofree char *dir = g_dir_make_tmp("lmtest-XXXXXX", NULL);
    g_autofree char *out = g_build_filename(dir, "child-env", NULL);
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    g_autofree char *chardev =
        g_strdup_printf("socket,id=m,path=%s,server=on,wait=on", sock);
    const char *const argv[] = {
        LM_LAUNCHER, "--chardev", chardev, "--monitor", "chardev=m", NULL,
    };
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(LmQmp) qmp = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *proc_path = NULL;
    g_autofree char *exe = NULL;
    g_autofree char *maps = NULL;
    g_autofree char *environ_at_exec = NULL;
    g_autofree char *child_env = NULL;
    g_autofree char *want = g_strdup_printf("LD_PRELOAD=%s", LM_ENV_PROBE_SO);
    gsize len;
    int pid;

    g_assert_nonnull(dir);
    /* (wait=on: the stock daemon races a client that connects while it
     * hands a wait=off listener to the monitor's iothread) */
    /* The launcher puts the guard in front of what LD_PRELOAD holds */
    g_subprocess_launcher_setenv(launcher, "LD_PRELOAD", LM_ENV_PROBE_SO,
                                 TRUE);
    g_subprocess_launcher_setenv(launcher, "LM_ENV_PROBE_OUT", out, TRUE);
    g_subprocess_launcher_set_child_setup(launcher, qsd_child_setup, NULL,
                                          NULL);
    proc = g_subprocess_launcher_spawnv(launcher, argv, &err);
    g_assert_no_error(err);
    pid = (int)g_ascii_strtoll(g_subprocess_get_identifier(proc), NULL, 10);
    qmp = lm_qmp_connect(sock, 30000, &err);
    g_assert_no_error(err);

    /* It is the daemon (the launcher exec'd it), guard, core and probe in */
    proc_path = g_strdup_printf("/proc/%d/exe", pid);
    exe = g_file_read_link(proc_path, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(exe, ==, qsd_path());
    g_free(proc_path);
    proc_path = g_strdup_printf("/proc/%d/maps", pid);
    g_file_get_contents(proc_path, &maps, NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(strstr(maps, "/livemerge.so\n"));
    g_assert_nonnull(strstr(maps, "/livemerge-core.so\n"));
    g_assert_nonnull(strstr(maps, LM_ENV_PROBE_SO "\n"));

    /* For the record only: the kernel's copy of the exec environment */
    g_free(proc_path);
    proc_path = g_strdup_printf("/proc/%d/environ", pid);
    g_file_get_contents(proc_path, &environ_at_exec, &len, &err);
    g_assert_no_error(err);
    for (gsize i = 0; i < len; i += strlen(environ_at_exec + i) + 1) {
        if (g_str_has_prefix(environ_at_exec + i, "LD_PRELOAD=")) {
            g_test_message("/proc/%d/environ (as exec'd): %s", pid,
                           environ_at_exec + i);
        }
    }

    ret = lm_qmp_execute(qmp, "query-version", NULL, &err);
    g_assert_no_error(err);
    g_clear_pointer(&ret, json_node_unref);
    ret = lm_qmp_execute(qmp, "quit", NULL, &err);
    g_assert_no_error(err);
    g_subprocess_wait_check(proc, NULL, &err);
    g_assert_no_error(err);

    /* What the child the daemon started at exit inherited */
    g_file_get_contents(out, &child_env, NULL, &err);
    g_assert_no_error(err);
    /* (the probe ran in the daemon, which had its environment) */
    g_assert_nonnull(strstr(child_env, "\nLM_ENV_PROBE_OUT="));
    {
        g_auto(GStrv) lines = g_strsplit(child_env, "\n", -1);

        for (char **l = lines; *l; l++) {
            if (g_str_has_prefix(*l, "LD_PRELOAD=")) {
                g_test_message("the daemon's child got %s", *l);
                g_assert_null(strstr(*l, "livemerge"));
            }
        }
    }
    /* Exactly the guard went; what else was preloaded stays */
    g_assert_true(has_line(child_env, want));

    g_unlink(out);
    g_unlink(sock);
    g_rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* Another daemon build: refused with one line naming both */

static char *daemon_build_id(void)
{
    const char *const argv[] = { "readelf", "-n", qsd_path(), NULL };
    g_autofree char *notes = tool_output(argv);
    g_auto(GStrv) lines = g_strsplit(notes, "\n", -1);

    for (char **l = lines; *l; l++) {
        const char *p = strstr(*l, "Build ID: ");

        if (p) {
            return g_strstrip(g_strdup(p + strlen("Build ID: ")));
        }
    }
    g_error("%s has no build-id:\n%s", qsd_path(), notes);
}

static void test_mismatch(void)
{
    g_autofree char *dir = g_dir_make_tmp("lmtest-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    g_autofree char *chardev =
        g_strdup_printf("socket,id=m,path=%s,server=on,wait=off", sock);
    g_autofree char *real_id = daemon_build_id();
    g_autofree char *plugin_env =
        g_strdup_printf("LIVEMERGE_PLUGIN=%s", LM_WRONG_GUARD_SO);
    /* timeout: a daemon that does not refuse would otherwise run on */
    const char *const argv[] = {
        "timeout", "-s", "KILL", "30", LM_LAUNCHER,
        "--chardev", chardev, "--monitor", "chardev=m",
        "--blockdev", "driver=null-co,node-name=n0", NULL,
    };
    const char *const env[] = { plugin_env, NULL };
    g_auto(RunResult) r = { 0 };
    g_autofree char *expected = g_strdup_printf("build-id %s", WRONG_BUILD_ID);
    g_autofree char *running = g_strdup_printf("build-id %s", real_id);
    const char *at_expected, *at_running;

    g_assert_nonnull(dir);
    g_assert_cmpuint(strlen(real_id), ==, 40);
    g_assert_cmpstr(real_id, !=, WRONG_BUILD_ID);
    run(argv, NULL, env, &r);
    g_test_message("stderr: %s", r.err);
    assert_exit(&r, 1, "the daemon with the wrong-build-id plugin");
    g_assert_cmpstr(r.out, ==, "");
    /* One line */
    g_assert_true(g_str_has_suffix(r.err, "\n"));
    g_assert_true(strchr(r.err, '\n') == r.err + strlen(r.err) - 1);
    g_assert_true(g_str_has_prefix(r.err, "livemerge: refusing to run"));
    /* Naming both builds, the plugin's first */
    at_expected = strstr(r.err, expected);
    at_running = strstr(r.err, running);
    g_assert_nonnull(at_expected);
    g_assert_nonnull(at_running);
    g_assert_true(at_expected < at_running);
    /* Before the daemon did anything */
    g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));

    g_rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* Dynamic symbols */

/* Symbol name without its version (name@VER, name@@VER) */
static char *unversioned(const char *sym)
{
    const char *at = strchr(sym, '@');

    return at ? g_strndup(sym, at - sym) : g_strdup(sym);
}

/* Add the symbols @lib defines to @set. */
static void add_defined(GHashTable *set, const char *lib)
{
    const char *const argv[] = { "nm", "-D", "--defined-only", lib, NULL };
    g_autofree char *text = tool_output(argv);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(*l), " \t", -1);

        /* "ADDRESS TYPE NAME" */
        if (g_strv_length(f) == 3) {
            g_hash_table_add(set, unversioned(f[2]));
        }
    }
}

/* The undefined, non-weak dynamic symbols of @obj. */
static GPtrArray *undefined_strong(const char *obj)
{
    const char *const argv[] = { "nm", "-D", "-u", obj, NULL };
    g_autofree char *text = tool_output(argv);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GPtrArray *syms = g_ptr_array_new_with_free_func(g_free);

    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(*l), " \t", -1);

        /* "TYPE NAME": U undefined, w/v weak */
        if (g_strv_length(f) != 2) {
            continue;
        }
        g_assert_true(g_str_equal(f[0], "U") || g_str_equal(f[0], "w") ||
                      g_str_equal(f[0], "v"));
        if (g_str_equal(f[0], "U")) {
            g_ptr_array_add(syms, unversioned(f[1]));
        }
    }
    return syms;
}

/* The libraries ldd says @obj loads, by soname => path. */
static GHashTable *ldd_libs(const char *obj)
{
    const char *const argv[] = { "ldd", obj, NULL };
    g_autofree char *text = tool_output(argv);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GHashTable *libs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             g_free);

    g_assert_null(strstr(text, "not found"));
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(*l), " \t", -1);
        guint n = g_strv_length(f);

        /* "soname => /path (0x...)" or "/path/ld-linux.so (0x...)" */
        if (n == 4 && g_str_equal(f[1], "=>") && f[2][0] == '/') {
            g_hash_table_insert(libs, g_strdup(f[0]), g_strdup(f[2]));
        } else if (n == 2 && f[0][0] == '/') {
            g_hash_table_insert(libs, g_path_get_basename(f[0]),
                                g_strdup(f[0]));
        }
    }
    return libs;
}

static void assert_all_defined(const char *obj, GPtrArray *undefined,
                               GHashTable *defined, const char *where)
{
    g_autoptr(GString) missing = g_string_new(NULL);

    for (guint i = 0; i < undefined->len; i++) {
        const char *sym = undefined->pdata[i];

        if (!g_hash_table_contains(defined, sym)) {
            g_string_append_printf(missing, " %s", sym);
        }
    }
    if (missing->len) {
        g_error("%s needs symbols %s does not define:%s", obj, where,
                missing->str);
    }
}

static void test_symbols(void)
{
    g_autoptr(GHashTable) daemon_libs = ldd_libs(qsd_path());
    g_autoptr(GHashTable) guard_libs = ldd_libs(LM_GUARD_SO);
    g_autoptr(GHashTable) in_daemon =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) in_libc_glib =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) core_needs = undefined_strong(LM_CORE_SO);
    g_autoptr(GPtrArray) guard_needs = undefined_strong(LM_GUARD_SO);
    g_autoptr(GString) guard_from = g_string_new(NULL);
    GHashTableIter it;
    gpointer soname, path;

    /* The core: the daemon and what it loads provide everything */
    add_defined(in_daemon, qsd_path());
    g_hash_table_iter_init(&it, daemon_libs);
    while (g_hash_table_iter_next(&it, &soname, &path)) {
        add_defined(in_daemon, path);
    }
    g_test_message("%u undefined symbols in the core, %u defined by the "
                   "daemon and its %u libraries", core_needs->len,
                   g_hash_table_size(in_daemon),
                   g_hash_table_size(daemon_libs));
    /* Not vacuous: the core uses the block layer and QMP of the daemon */
    g_assert_true(g_ptr_array_find_with_equal_func(core_needs, "bdrv_register",
                                                   g_str_equal, NULL));
    g_assert_true(g_ptr_array_find_with_equal_func(
        core_needs, "qmp_register_command", g_str_equal, NULL));
    assert_all_defined(LM_CORE_SO, core_needs, in_daemon,
                       "the daemon or its libraries");

    /* The guard: libc and GLib alone */
    g_hash_table_iter_init(&it, guard_libs);
    while (g_hash_table_iter_next(&it, &soname, &path)) {
        if (g_str_has_prefix(soname, "libc.so.") ||
            g_str_has_prefix(soname, "libglib-2.0.so.")) {
            add_defined(in_libc_glib, path);
            g_string_append_printf(guard_from, " %s", (char *)path);
        }
    }
    g_test_message("%u undefined symbols in the guard; libc/GLib:%s",
                   guard_needs->len, guard_from->str);
    g_assert_cmpuint(guard_needs->len, >, 0);
    g_assert_true(g_ptr_array_find_with_equal_func(guard_needs, "dlopen",
                                                   g_str_equal, NULL));
    assert_all_defined(LM_GUARD_SO, guard_needs, in_libc_glib, "libc/GLib");
}

/* ------------------------------------------------------------------ */
/* The commands are there */

static const char *const lm_commands[] = {
    "livemerge-insert-filter", "livemerge-remove-filter",
    "livemerge-query-filter", "livemerge-commit", "livemerge-stream",
    "livemerge-mirror", "livemerge-complete", "livemerge-cancel",
    "livemerge-set-guest-impact",
};

static GHashTable *query_commands(LmQmp *qmp)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = lm_qmp_execute(qmp, "query-commands", NULL,
                                             &err);
    GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              NULL);
    JsonArray *cmds;

    g_assert_no_error(err);
    cmds = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(cmds); i++) {
        g_hash_table_add(names, g_strdup(json_object_get_string_member(
            json_array_get_object_element(cmds, i), "name")));
    }
    return names;
}

static void test_registered(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = lm_test_qsd_start(NULL, &err);
    g_autoptr(LmTestQsd) stock = NULL;
    g_autoptr(GHashTable) with = NULL;
    g_autoptr(GHashTable) without = NULL;

    g_assert_no_error(err);
    with = query_commands(lm_test_qsd_qmp(qsd));
    stock = lm_test_qsd_start_full(LM_TEST_QSD_NO_PLUGIN, NULL, &err);
    g_assert_no_error(err);
    without = query_commands(lm_test_qsd_qmp(stock));

    g_assert_true(g_hash_table_contains(with, "query-version"));
    for (guint i = 0; i < G_N_ELEMENTS(lm_commands); i++) {
        g_assert_true(g_hash_table_contains(with, lm_commands[i]));
        g_assert_false(g_hash_table_contains(without, lm_commands[i]));
    }
    /* The plugin adds its commands, takes none away */
    g_assert_cmpuint(g_hash_table_size(with), ==,
                     g_hash_table_size(without) + G_N_ELEMENTS(lm_commands));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/plugin-load/inert", test_inert);
    g_test_add_func("/plugin-load/no-leak", test_no_leak);
    g_test_add_func("/plugin-load/mismatch", test_mismatch);
    g_test_add_func("/plugin-load/symbols", test_symbols);
    g_test_add_func("/plugin-load/registered", test_registered);
    return g_test_run();
}
