/*
 * Every configuration in qsd-config/, started the way the systemd unit
 * starts it (launcher --config, RUNTIME_DIRECTORY, umask 0177): its
 * sockets are 0600, its own QMP monitor answers, NBD exports serve a real
 * client (libnbd) bytes that are in the image afterwards, TLS refuses
 * clients without the CA, without a certificate or without TLS, and
 * SIGTERM ends the daemon cleanly (exit 0, images pass qemu-img check),
 * also in the middle of a commit (the chain stays valid).
 * The vhost-user-blk configurations are driven by a real VM in the vm
 * suite; here they are started and their exports listed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib/gstdio.h>
#include <gio/gio.h>
#include <libnbd.h>

#include "lm-qmp.h"
#include "lm-test-config.h"
#include "lm-test-image.h"
#include "lm-test-qsd.h"

#ifndef LM_MAKE_TEST_CERTS
#error "LM_MAKE_TEST_CERTS must name qsd-config/make-test-certs"
#endif

#define DISK_SIZE "64M"
/* Where the NBD round trip writes: first, a middle and the last block. */
static const guint64 probe_offsets[] = { 0, 32 << 20, (64 << 20) - 4096 };

typedef struct {
    char *dir;      /* the test's own files: images, run dir, certificates */
    char *run_dir;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    (void)data;
    f->dir = g_dir_make_tmp("lmcfg-XXXXXX", &err);
    g_assert_no_error(err);
    f->run_dir = g_build_filename(f->dir, "run", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    if (g_getenv("LIVEMERGE_KEEP_TMP")) {
        g_test_message("keeping %s", f->dir);
    } else {
        lm_test_remove_tree(f->dir);
    }
    g_free(f->dir);
    g_free(f->run_dir);
}

static char *fixture_disk(Fixture *f, const char *name)
{
    g_autofree char *base = g_strconcat(name, ".qcow2", NULL);
    char *path = g_build_filename(f->dir, base, NULL);

    lm_test_image_create(path, &(LmTestImageOpts){ .size = DISK_SIZE });
    return path;
}

/* The configuration's own monitor lists exactly @ids, each of @type. */
static void assert_exports(Fixture *f, const char *type,
                           const char *const *ids)
{
    g_autofree char *qmp_path = g_build_filename(f->run_dir, "qmp.sock",
                                                 NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(LmQmp) qmp = lm_qmp_connect(qmp_path, -1, &err);
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *exports;

    g_assert_no_error(err);
    ret = lm_qmp_executef(qmp, &err, "query-block-exports", NULL);
    g_assert_no_error(err);
    exports = json_node_get_array(ret);
    g_assert_cmpuint(json_array_get_length(exports), ==,
                     g_strv_length((char **)ids));
    for (guint i = 0; i < json_array_get_length(exports); i++) {
        JsonObject *e = json_array_get_object_element(exports, i);

        g_assert_true(g_strv_contains(ids, json_object_get_string_member(
                                                e, "id")));
        g_assert_cmpstr(json_object_get_string_member(e, "type"), ==, type);
    }
}

static guint8 probe_byte(guint i)
{
    return 0x5a + i;
}

/*
 * Connect to @uri (with client certificates from @tls_dir, nullable),
 * write a block of probe_byte(i) at each probe offset, flush, read it
 * back.  Returns FALSE with libnbd's message if the connection fails.
 */
static gboolean nbd_round_trip(const char *uri, const char *tls_dir,
                               char **message)
{
    struct nbd_handle *nbd = nbd_create();
    guint8 buf[4096], back[4096];
    gboolean ok = FALSE;

    g_assert_nonnull(nbd);
    if (tls_dir && nbd_set_tls_certificates(nbd, tls_dir) < 0) {
        goto out;
    }
    if (nbd_connect_uri(nbd, uri) < 0) {
        goto out;
    }
    g_assert_cmpint(nbd_get_size(nbd), ==, 64 << 20);
    for (guint i = 0; i < G_N_ELEMENTS(probe_offsets); i++) {
        memset(buf, probe_byte(i), sizeof(buf));
        g_assert_cmpint(nbd_pwrite(nbd, buf, sizeof(buf), probe_offsets[i],
                                   0), ==, 0);
    }
    g_assert_cmpint(nbd_flush(nbd, 0), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(probe_offsets); i++) {
        memset(buf, probe_byte(i), sizeof(buf));
        g_assert_cmpint(nbd_pread(nbd, back, sizeof(back), probe_offsets[i],
                                  0), ==, 0);
        g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
    }
    nbd_shutdown(nbd, 0);
    ok = TRUE;
out:
    if (!ok) {
        *message = g_strdup(nbd_get_error());
    }
    nbd_close(nbd);
    return ok;
}

static void assert_client_accepted(const char *uri, const char *tls_dir)
{
    g_autofree char *message = NULL;

    if (!nbd_round_trip(uri, tls_dir, &message)) {
        g_error("%s (certificates %s) refused: %s", uri,
                tls_dir ? tls_dir : "none", message);
    }
}

static void assert_client_refused(const char *what, const char *uri,
                                  const char *tls_dir)
{
    g_autofree char *message = NULL;

    g_assert_false(nbd_round_trip(uri, tls_dir, &message));
    g_test_message("%s: refused as it must be: %s", what, message);
}

/* The probe blocks are in @disk after the daemon ended. */
static void assert_probes_in_image(const char *disk)
{
    for (guint i = 0; i < G_N_ELEMENTS(probe_offsets); i++) {
        g_autofree char *cmd = g_strdup_printf(
            "read -P %u %" G_GUINT64_FORMAT " 4k", probe_byte(i),
            probe_offsets[i]);
        g_autofree char *out = lm_test_qemu_io(disk, "qcow2", cmd, NULL);
    }
}

static void test_nbd_unix(Fixture *f, gconstpointer data)
{
    g_autofree char *disk = fixture_disk(f, "disk0");
    g_autofree char *disk_env = g_strconcat("LIVEMERGE_DISK=", disk, NULL);
    const char *env[] = { disk_env, NULL };
    const char *ids[] = { "disk0", NULL };
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = NULL;
    g_autofree char *uri = NULL;

    (void)data;
    qsd = lm_test_config_start("nbd-unix", f->run_dir, env, &err);
    g_assert_no_error(err);
    lm_test_config_assert_sockets(f->run_dir, 2);
    assert_exports(f, "nbd", ids);
    uri = g_strdup_printf("nbd+unix:///disk0?socket=%s/nbd.sock", f->run_dir);
    assert_client_accepted(uri, NULL);
    lm_test_config_stop(qsd);
    lm_test_image_check(disk);
    assert_probes_in_image(disk);
}

/*
 * The unit's stop while a commit runs: SIGTERM makes the daemon cancel the
 * job and close the images by itself (exit 0); the chain stays valid and
 * holds everything that was written, through the overlay.
 */
static void test_sigterm_during_commit(Fixture *f, gconstpointer data)
{
    g_autofree char *base = fixture_disk(f, "base");
    g_autofree char *overlay = g_build_filename(f->dir, "overlay.qcow2",
                                                NULL);
    g_autofree char *disk_env = g_strconcat("LIVEMERGE_DISK=", overlay,
                                            NULL);
    const char *env[] = { disk_env, NULL };
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = NULL;
    g_autoptr(JsonNode) jobs = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *out = NULL;

    (void)data;
    out = lm_test_qemu_io(base, "qcow2", "write -P 0x11 0 16M", NULL);
    lm_test_image_create(overlay, &(LmTestImageOpts){ .backing = base });
    g_free(out);
    out = lm_test_qemu_io(overlay, "qcow2", "write -P 0x22 0 16M", NULL);

    qsd = lm_test_config_start("nbd-unix", f->run_dir, env, &err);
    g_assert_no_error(err);
    /* 1 MiB/s: 16 MiB to copy keeps the job running when SIGTERM comes */
    lm_qmp_runf(lm_test_qsd_qmp(qsd), &err, "livemerge-commit",
                "{\"job-id\": \"commit0\", \"device\": \"disk0\", "
                "\"speed\": 1048576}");
    g_assert_no_error(err);
    uri = g_strdup_printf("nbd+unix:///disk0?socket=%s/nbd.sock", f->run_dir);
    assert_client_accepted(uri, NULL);
    jobs = lm_qmp_executef(lm_test_qsd_qmp(qsd), &err, "query-block-jobs",
                           NULL);
    g_assert_no_error(err);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(jobs)), ==, 1);

    lm_test_config_stop(qsd);
    lm_test_image_check(base);
    lm_test_image_check(overlay);
    assert_probes_in_image(overlay);
    g_free(out);
    out = lm_test_qemu_io(overlay, "qcow2", "read -P 0x22 4k 16380k", NULL);
}

/* A TCP port nobody listens on right now. */
static guint free_tcp_port(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4,
                                           G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, &err);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(
        G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_no_error(err);
    g_socket_bind(sock, any, FALSE, &err);
    g_assert_no_error(err);
    bound = g_socket_get_local_address(sock, &err);
    g_assert_no_error(err);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void make_test_certs(const char *dir, const char *cn)
{
    const char *argv[] = { LM_MAKE_TEST_CERTS, dir, cn, NULL };
    g_autoptr(GError) err = NULL;
    g_autofree char *err_out = NULL;
    int status;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                 NULL, &err_out, &status, &err);
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, &err)) {
        g_error("%s failed: %s", LM_MAKE_TEST_CERTS, err_out);
    }
}

static void test_nbd_tls(Fixture *f, gconstpointer data)
{
    g_autofree char *disk = fixture_disk(f, "disk0");
    g_autofree char *certs = g_build_filename(f->dir, "certs", NULL);
    g_autofree char *foreign = g_build_filename(f->dir, "foreign", NULL);
    g_autofree char *server_dir = g_build_filename(certs, "server", NULL);
    g_autofree char *client_dir = g_build_filename(certs, "client", NULL);
    g_autofree char *foreign_client = g_build_filename(foreign, "client",
                                                       NULL);
    g_autofree char *ca_only = g_build_filename(f->dir, "ca-only", NULL);
    g_autofree char *ca_cert = g_build_filename(client_dir, "ca-cert.pem",
                                                NULL);
    g_autofree char *ca_copy = g_build_filename(ca_only, "ca-cert.pem", NULL);
    guint port = free_tcp_port();
    g_autofree char *disk_env = g_strconcat("LIVEMERGE_DISK=", disk, NULL);
    g_autofree char *tls_env = g_strconcat("LIVEMERGE_TLS_DIR=", server_dir,
                                           NULL);
    g_autofree char *port_env = g_strdup_printf("LIVEMERGE_NBD_PORT=%u",
                                                port);
    const char *env[] = { disk_env, tls_env, port_env,
                          "LIVEMERGE_NBD_HOST=127.0.0.1", NULL };
    const char *ids[] = { "disk0", NULL };
    g_autofree char *tls_uri = g_strdup_printf("nbds://localhost:%u/disk0",
                                               port);
    g_autofree char *plain_uri = g_strdup_printf("nbd://localhost:%u/disk0",
                                                 port);
    g_autofree char *ca_text = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = NULL;
    gsize ca_len;

    (void)data;
    make_test_certs(certs, "livemerge test");
    make_test_certs(foreign, "someone else");
    /* A client that trusts the CA but has no certificate of its own. */
    g_assert_cmpint(g_mkdir(ca_only, 0700), ==, 0);
    g_file_get_contents(ca_cert, &ca_text, &ca_len, &err);
    g_assert_no_error(err);
    g_file_set_contents(ca_copy, ca_text, ca_len, &err);
    g_assert_no_error(err);

    qsd = lm_test_config_start("nbd-tls", f->run_dir, env, &err);
    g_assert_no_error(err);
    lm_test_config_assert_sockets(f->run_dir, 1);
    assert_exports(f, "nbd", ids);

    assert_client_refused("client without TLS", plain_uri, NULL);
    assert_client_refused("client trusting another CA", tls_uri,
                          foreign_client);
    assert_client_refused("client without a certificate", tls_uri, ca_only);
    assert_client_accepted(tls_uri, client_dir);

    lm_test_config_stop(qsd);
    lm_test_image_check(disk);
    assert_probes_in_image(disk);
}

typedef struct {
    const char *config;
    guint disks;
} VhostCase;

static void test_vhost_user_blk(Fixture *f, gconstpointer data)
{
    const VhostCase *c = data;
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    g_autoptr(LmTestQsd) qsd = NULL;

    for (guint i = 0; i < c->disks; i++) {
        char *id = g_strdup_printf("disk%u", i);

        g_ptr_array_add(disks, fixture_disk(f, id));
        g_ptr_array_add(ids, id);
        /* one disk: LIVEMERGE_DISK; several: LIVEMERGE_DISK0, ... */
        g_ptr_array_add(env, c->disks == 1
            ? g_strconcat("LIVEMERGE_DISK=", disks->pdata[i], NULL)
            : g_strdup_printf("LIVEMERGE_DISK%u=%s", i,
                              (char *)disks->pdata[i]));
    }
    g_ptr_array_add(env, NULL);
    g_ptr_array_add(ids, NULL);

    qsd = lm_test_config_start(c->config, f->run_dir,
                               (const char *const *)env->pdata, &err);
    g_assert_no_error(err);
    /* the QMP monitor and one vhost-user-blk socket per disk */
    lm_test_config_assert_sockets(f->run_dir, 1 + c->disks);
    assert_exports(f, "vhost-user-blk", (const char *const *)ids->pdata);
    lm_test_config_stop(qsd);
    for (guint i = 0; i < c->disks; i++) {
        lm_test_image_check(disks->pdata[i]);
    }
}

static const VhostCase vhost_cases[] = {
    { "vhost-user-blk", 1 },
    { "vhost-user-blk-iothread", 1 },
    { "vm-disks", 2 },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/qsd-config/nbd-unix", Fixture, NULL, fixture_setup,
               test_nbd_unix, fixture_teardown);
    g_test_add("/qsd-config/nbd-tls", Fixture, NULL, fixture_setup,
               test_nbd_tls, fixture_teardown);
    g_test_add("/qsd-config/sigterm-during-commit", Fixture, NULL,
               fixture_setup, test_sigterm_during_commit, fixture_teardown);
    for (guint i = 0; i < G_N_ELEMENTS(vhost_cases); i++) {
        g_autofree char *path = g_strdup_printf("/qsd-config/%s",
                                                vhost_cases[i].config);

        g_test_add(path, Fixture, &vhost_cases[i], fixture_setup,
                   test_vhost_user_blk, fixture_teardown);
    }
    return g_test_run();
}
