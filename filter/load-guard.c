/*
 * livemerge load guard: the object that is LD_PRELOADed into the daemon
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * This object links nothing of QEMU.  Preloaded into any program that is
 * not a QEMU daemon (qemu-img, /bin/true, ...) it does nothing at all.  In
 * a daemon it confirms that the program is exactly the build the plugin
 * was compiled against (version, package string, GNU build-id), then
 * loads livemerge-core.so, whose references to the daemon's internals
 * are only resolvable there.  Keeping the two apart is what makes the
 * preload harmless elsewhere: the core's relocations would otherwise fail
 * ("symbol lookup error") in every process inheriting LD_PRELOAD.
 */

#include "qemu/osdep.h"
#include "qapi/qapi-types-control.h"
#include "qemu-version.h"

#include <dlfcn.h>
#include <link.h>

#ifndef LIVEMERGE_EXPECTED_BUILD_ID
#error "LIVEMERGE_EXPECTED_BUILD_ID must name the daemon's GNU build-id"
#endif

#define CORE_NAME "livemerge-core.so"

/* QEMU's own elf.h, first on the include path, predates this note type */
#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif

typedef VersionInfo *QmpQueryVersionFunc(Error **errp);

static void load_guard(void) __attribute__((constructor));

/* The host is a QEMU daemon if it carries a QMP command table */
static bool host_is_qemu_daemon(void)
{
    return dlsym(RTLD_DEFAULT, "qmp_init_marshal") != NULL;
}

static int note_build_id(struct dl_phdr_info *info, size_t size, void *opaque)
{
    GString *out = opaque;

    /* The first object reported is the main program */
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const uint8_t *p, *end;

        if (ph->p_type != PT_NOTE) {
            continue;
        }
        p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof(*nh);
            const uint8_t *desc = name + ROUND_UP(nh->n_namesz, 4);

            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0) {
                for (unsigned j = 0; j < nh->n_descsz; j++) {
                    g_string_append_printf(out, "%02x", desc[j]);
                }
                return 1;
            }
            p = desc + ROUND_UP(nh->n_descsz, 4);
        }
    }
    return 1;
}

static char *host_build_id(void)
{
    GString *id = g_string_new(NULL);

    dl_iterate_phdr(note_build_id, id);
    if (!id->len) {
        g_string_assign(id, "none");
    }
    return g_string_free(id, false);
}

static char *host_version(void)
{
    QmpQueryVersionFunc *query = dlsym(RTLD_DEFAULT, "qmp_query_version");
    VersionInfo *info;
    char *s;

    if (!query) {
        return g_strdup("unknown version");
    }
    info = query(NULL);
    s = g_strdup_printf("%" PRId64 ".%" PRId64 ".%" PRId64 " (%s)",
                        info->qemu->major, info->qemu->minor,
                        info->qemu->micro, info->package);
    /* Freed by hand: qapi_free_VersionInfo would bind us to the daemon */
    g_free(info->package);
    g_free(info->qemu);
    g_free(info);
    return s;
}

/* An LD_PRELOAD entry naming this object: by its path, or bare name */
static bool names_self(const char *entry, const char *self)
{
    g_autofree char *self_base = g_path_get_basename(self);

    return g_str_equal(entry, self) ||
           (!strchr(entry, '/') && g_str_equal(entry, self_base));
}

/* The running program must not pass the preload on to what it starts */
static void drop_self_from_ld_preload(const char *self)
{
    const char *preload = getenv("LD_PRELOAD");
    g_auto(GStrv) entries = NULL;
    g_autoptr(GString) kept = g_string_new(NULL);

    if (!preload) {
        return;
    }
    entries = g_strsplit_set(preload, " :", -1);
    for (char **e = entries; *e; e++) {
        if (!**e || names_self(*e, self)) {
            continue;
        }
        g_string_append_printf(kept, "%s%s", kept->len ? " " : "", *e);
    }
    if (kept->len) {
        setenv("LD_PRELOAD", kept->str, 1);
    } else {
        unsetenv("LD_PRELOAD");
    }
}

static void refuse(const char *why)
{
    fprintf(stderr, "livemerge: %s\n", why);
    exit(EXIT_FAILURE);
}

static void load_guard(void)
{
    const char *expected_version =
        QEMU_FULL_VERSION " build-id " LIVEMERGE_EXPECTED_BUILD_ID;
    g_autofree char *build_id = NULL;
    g_autofree char *version = NULL;
    g_autofree char *running = NULL;
    g_autofree char *self_dir = NULL;
    g_autofree char *core = NULL;
    Dl_info self;

    if (!host_is_qemu_daemon()) {
        return;
    }
    if (!dladdr((void *)load_guard, &self) || !self.dli_fname) {
        refuse("cannot locate the plugin's own file");
    }
    drop_self_from_ld_preload(self.dli_fname);

    build_id = host_build_id();
    version = host_version();
    running = g_strdup_printf("%s build-id %s", version, build_id);
    if (!g_str_equal(build_id, LIVEMERGE_EXPECTED_BUILD_ID) ||
        !g_str_equal(version, QEMU_FULL_VERSION)) {
        g_autofree char *msg = g_strdup_printf(
            "refusing to run: plugin built for qemu-storage-daemon %s, "
            "but this daemon is %s; rebuild with scripts/bootstrap",
            expected_version, running);
        refuse(msg);
    }

    self_dir = g_path_get_dirname(self.dli_fname);
    core = g_build_filename(self_dir, CORE_NAME, NULL);
    if (!dlopen(core, RTLD_NOW | RTLD_GLOBAL)) {
        g_autofree char *msg = g_strdup_printf(
            "refusing to run: cannot load %s into %s: %s",
            core, running, dlerror());
        refuse(msg);
    }
}
