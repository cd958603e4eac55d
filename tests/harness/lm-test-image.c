/*
 * livemerge test harness - offline image tools
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "lm-test-image.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *tool_path(const char *env, const char *fallback)
{
    const char *path = g_getenv(env);

    return path && *path ? path : fallback;
}

/*
 * Run @argv (NULL-terminated GPtrArray); assert it exits with 0 or with
 * @also_ok (-1: none); return stdout.
 */
static char *run_tool_allowing(GPtrArray *argv, int also_ok)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *cmdline = g_strjoinv(" ", (char **)argv->pdata);
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    g_autofree char *msg = NULL;
    int status;

    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH,
                      NULL, NULL, &out, &errout, &status, &err)) {
        msg = g_strdup_printf("%s: %s", cmdline, err->message);
    } else if (!WIFEXITED(status) ||
               (WEXITSTATUS(status) != 0 &&
                (int)WEXITSTATUS(status) != also_ok)) {
        msg = g_strdup_printf("%s: failed with wait status 0x%x", cmdline,
                              status);
        g_printerr("\n$ %s\n%s%s", cmdline, out, errout);
    } else {
        return g_steal_pointer(&out);
    }
    g_assertion_message(G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, msg);
    return NULL;
}

/* Run @argv (NULL-terminated GPtrArray); assert exit 0; return stdout. */
static char *run_tool(GPtrArray *argv)
{
    return run_tool_allowing(argv, -1);
}

static GPtrArray *new_argv(const char *tool)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(argv, g_strdup(tool));
    return argv;
}

static void argv_add(GPtrArray *argv, const char *arg)
{
    g_ptr_array_add(argv, g_strdup(arg));
}

static char *run_argv(GPtrArray *argv)
{
    g_ptr_array_add(argv, NULL);
    return run_tool(argv);
}

static JsonNode *parse_json(const char *text, const char *what)
{
    g_autoptr(GError) err = NULL;
    JsonNode *node = json_from_string(text, &err);

    if (!node) {
        g_printerr("\n%s printed:\n%s\n", what, text);
        g_assertion_message_error(G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC,
                                  "json_from_string", err, 0, 0);
    }
    return node;
}

char *lm_test_qemu_img(const char *arg, ...)
{
    g_autoptr(GPtrArray) argv =
        new_argv(tool_path("QEMU_IMG", "qemu-img"));
    va_list ap;

    va_start(ap, arg);
    for (const char *a = arg; a; a = va_arg(ap, const char *)) {
        argv_add(argv, a);
    }
    va_end(ap);
    return run_argv(argv);
}

char *lm_test_qemu_io(const char *path, const char *fmt, const char *cmd,
                      ...)
{
    g_autoptr(GPtrArray) argv = new_argv(tool_path("QEMU_IO", "qemu-io"));
    va_list ap;

    argv_add(argv, "-f");
    argv_add(argv, fmt);
    va_start(ap, cmd);
    for (const char *c = cmd; c; c = va_arg(ap, const char *)) {
        argv_add(argv, "-c");
        argv_add(argv, c);
    }
    va_end(ap);
    argv_add(argv, path);
    /* qemu-io exits 1 when any command failed. */
    return run_argv(argv);
}

void lm_test_image_create(const char *path, const LmTestImageOpts *opts)
{
    g_autoptr(GPtrArray) argv =
        new_argv(tool_path("QEMU_IMG", "qemu-img"));
    g_autoptr(GString) o = g_string_new(NULL);

    g_assert_true(opts->size || opts->backing);
    argv_add(argv, "create");
    argv_add(argv, "-q");
    argv_add(argv, "-f");
    argv_add(argv, opts->fmt ? opts->fmt : "qcow2");
    if (opts->backing) {
        argv_add(argv, "-b");
        argv_add(argv, opts->backing);
        argv_add(argv, "-F");
        argv_add(argv, opts->backing_fmt ? opts->backing_fmt : "qcow2");
    }
    if (opts->cluster_size) {
        g_string_append_printf(o, "cluster_size=%u", opts->cluster_size);
    }
    if (opts->options) {
        g_string_append_printf(o, "%s%s", o->len ? "," : "", opts->options);
    }
    if (o->len) {
        argv_add(argv, "-o");
        argv_add(argv, o->str);
    }
    argv_add(argv, path);
    if (opts->size) {
        argv_add(argv, opts->size);
    }
    g_free(run_argv(argv));
}

void lm_test_image_check(const char *path)
{
    /* Exit 0 means no corruption and no leak; otherwise the failure
     * prints the report. */
    g_free(lm_test_qemu_img("check", path, NULL));
}

void lm_test_image_check_after_crash(const char *path)
{
    g_autoptr(GPtrArray) argv = new_argv(tool_path("QEMU_IMG", "qemu-img"));

    argv_add(argv, "check");
    argv_add(argv, path);
    g_ptr_array_add(argv, NULL);
    /* 3: leaked clusters only, which any crash of a qcow2 writer may leave */
    g_free(run_tool_allowing(argv, 3));
}

JsonObject *lm_test_image_info(const char *path)
{
    g_autofree char *out =
        lm_test_qemu_img("info", "-U", "--output=json", path, NULL);
    g_autoptr(JsonNode) node = parse_json(out, "qemu-img info");

    g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
    return json_object_ref(json_node_get_object(node));
}

JsonArray *lm_test_image_info_chain(const char *path)
{
    g_autofree char *out = lm_test_qemu_img("info", "-U", "--output=json",
                                            "--backing-chain", path, NULL);
    g_autoptr(JsonNode) node = parse_json(out, "qemu-img info");

    g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
    return json_array_ref(json_node_get_array(node));
}

GArray *lm_test_image_map(const char *path)
{
    g_autofree char *out =
        lm_test_qemu_img("map", "-U", "--output=json", path, NULL);
    g_autoptr(JsonNode) node = parse_json(out, "qemu-img map");
    GArray *map = g_array_new(FALSE, TRUE, sizeof(LmTestMapEntry));
    JsonArray *extents;

    g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
    extents = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(extents); i++) {
        JsonObject *e = json_array_get_object_element(extents, i);
        LmTestMapEntry entry = {
            .start = json_object_get_int_member(e, "start"),
            .length = json_object_get_int_member(e, "length"),
            .depth = json_object_get_int_member(e, "depth"),
            .present = json_object_get_boolean_member_with_default(
                e, "present", TRUE),
            .zero = json_object_get_boolean_member(e, "zero"),
            .data = json_object_get_boolean_member(e, "data"),
            .offset = json_object_get_int_member_with_default(e, "offset",
                                                              -1),
        };

        g_array_append_val(map, entry);
    }
    return map;
}

void lm_test_image_drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fdatasync(fd), ==, 0);
    g_assert_cmpint(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), ==, 0);
    close(fd);
}

guint64 lm_test_image_cached_bytes(const char *path)
{
    long page = sysconf(_SC_PAGESIZE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    g_autofree unsigned char *resident = NULL;
    guint64 pages, cached = 0;
    struct stat st;
    void *map;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    pages = (st.st_size + page - 1) / page;
    map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    g_assert_true(map != MAP_FAILED);
    resident = g_malloc(pages);
    g_assert_cmpint(mincore(map, st.st_size, resident), ==, 0);
    for (guint64 i = 0; i < pages; i++) {
        cached += resident[i] & 1;
    }
    munmap(map, st.st_size);
    close(fd);
    return cached * page;
}
