/*
 * livemerge - a probe preloaded next to the plugin by test-plugin-load
 *
 * As the daemon exits it starts a child, /usr/bin/env, with its stdout in
 * $LM_ENV_PROBE_OUT: the environment a process the daemon starts really
 * inherits.  (/proc/PID/environ cannot tell: it shows the environment the
 * daemon was exec'd with, whatever setenv()/unsetenv() did since.)
 *
 * It acts only in a process called qemu-storage-daemon, so the launcher
 * script and the child itself (which inherit the probe in LD_PRELOAD) do
 * nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static void lm_env_probe_at_exit(void) __attribute__((destructor));

static void lm_env_probe_at_exit(void)
{
    const char *out = getenv("LM_ENV_PROBE_OUT");
    char *argv[] = { (char *)"env", NULL };
    posix_spawn_file_actions_t actions;
    pid_t pid;

    if (!out || strcmp(program_invocation_short_name,
                       "qemu-storage-daemon") != 0) {
        return;
    }
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid, "/usr/bin/env", &actions, NULL, argv,
                    environ) == 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    posix_spawn_file_actions_destroy(&actions);
}
