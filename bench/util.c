/*
 * livemerge benchmark harness - processes, files, clocks, sizes
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

double bench_now(void)
{
    return g_get_monotonic_time() / 1e6;
}

void bench_sleep(double seconds)
{
    if (seconds > 0) {
        g_usleep((gulong)(seconds * G_USEC_PER_SEC));
    }
}

void bench_log(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("bench: %s\n", msg);
    fflush(stdout);
}

void bench_die(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "livemerge-bench: error: %s\n", msg);
    exit(EXIT_FAILURE);
}

static void child_setup(gpointer data)
{
    (void)data;
    /* A bench that dies must not leave its tools running */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

gboolean bench_run(const char *const *argv, char **output, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    int status;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                      child_setup, NULL, &out, &errout, &status, &err)) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

        g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "%s: %s",
                    cmd, err->message);
        return FALSE;
    }
    if (errout && *errout) {
        char *both = g_strconcat(out ? out : "", errout, NULL);

        g_free(out);
        out = both;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

        g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                    "%s: %s %d: %s", cmd,
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status)
                                      : WTERMSIG(status),
                    g_strstrip(out));
        if (output) {
            *output = g_steal_pointer(&out);
        }
        return FALSE;
    }
    if (output) {
        *output = g_steal_pointer(&out);
    }
    return TRUE;
}

gboolean bench_run_array(GPtrArray *argv, char **output, GError **error)
{
    if (!argv->len || g_ptr_array_index(argv, argv->len - 1) != NULL) {
        g_ptr_array_add(argv, NULL);
    }
    return bench_run((const char *const *)argv->pdata, output, error);
}

char *bench_run_or_die(const char *const *argv)
{
    g_autoptr(GError) err = NULL;
    char *out = NULL;

    if (!bench_run(argv, &out, &err)) {
        bench_die("%s", err->message);
    }
    return out;
}

char *bench_command_line_output(const char *const *argv)
{
    g_autofree char *out = NULL;
    char *nl;

    if (!bench_run(argv, &out, NULL) || !out) {
        return g_strdup("unknown");
    }
    nl = strchr(out, '\n');
    if (nl) {
        *nl = '\0';
    }
    return g_strdup(g_strstrip(out));
}

void bench_drop_caches(Bench *b)
{
    int fd;

    sync();
    if (!b->can_drop_caches) {
        return;
    }
    fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "3\n", 2) != 2) {
        bench_log("cannot drop the page cache (%s): runs start warm",
                  g_strerror(errno));
        b->can_drop_caches = FALSE;
    }
    if (fd >= 0) {
        close(fd);
    }
}

void bench_copy_file(const char *src, const char *dst)
{
    const char *argv[] = { "cp", "--sparse=always", src, dst, NULL };

    g_free(bench_run_or_die(argv));
}

void bench_remove_tree(const char *path)
{
    const char *argv[] = { "rm", "-rf", "--", path, NULL };

    g_free(bench_run_or_die(argv));
}

void bench_mkdir(const char *path)
{
    if (g_mkdir_with_parents(path, 0755) < 0) {
        bench_die("mkdir %s: %s", path, g_strerror(errno));
    }
}

char *bench_size_str(guint64 bytes)
{
    static const char units[] = "KMGT";

    for (int i = 4; i >= 1; i--) {
        guint64 u = G_GUINT64_CONSTANT(1) << (10 * i);

        if (bytes >= u && bytes % u == 0) {
            return g_strdup_printf("%" G_GUINT64_FORMAT "%c", bytes / u,
                                   units[i - 1]);
        }
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT, bytes);
}

char *bench_size_human(guint64 bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };

    for (int i = 4; i >= 1; i--) {
        guint64 u = G_GUINT64_CONSTANT(1) << (10 * i);

        if (bytes >= u && bytes % u == 0) {
            return g_strdup_printf("%" G_GUINT64_FORMAT " %s", bytes / u,
                                   units[i - 1]);
        }
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT " B", bytes);
}
