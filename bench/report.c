/*
 * livemerge benchmark harness - results: records, statistics, CSV,
 * Markdown and gnuplot
 *
 * Copyright (c) 2026 livemerge authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *scenario, *method, *mode, *load, *cache, *size;
    int rep;
    char *daemon;
    char *metric;
    double value;       /* NAN for text */
    char *text;         /* NULL for numbers */
    char *unit;
    gboolean failed;    /* a failed run's status row */
} Record;

struct BenchReport {
    GPtrArray *records;     /* Record */
    GString *md;
};

struct BenchRun {
    Bench *b;
    BenchKey key;           /* strings owned */
    int rep;
    char *daemon;
    GPtrArray *pending;     /* Record, committed at the end */
    char *failure;
    double t_begin;
};

static void record_free(gpointer p)
{
    Record *r = p;

    g_free(r->scenario);
    g_free(r->method);
    g_free(r->mode);
    g_free(r->load);
    g_free(r->cache);
    g_free(r->size);
    g_free(r->daemon);
    g_free(r->metric);
    g_free(r->text);
    g_free(r->unit);
    g_free(r);
}

BenchReport *bench_report_new(void)
{
    BenchReport *r = g_new0(BenchReport, 1);

    r->records = g_ptr_array_new_with_free_func(record_free);
    r->md = g_string_new(NULL);
    return r;
}

void bench_report_free(BenchReport *r)
{
    if (r) {
        g_ptr_array_unref(r->records);
        g_string_free(r->md, TRUE);
        g_free(r);
    }
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

BenchRun *bench_run_begin(Bench *b, const BenchKey *key, int rep,
                          const char *daemon)
{
    BenchRun *run = g_new0(BenchRun, 1);

    run->b = b;
    run->key.scenario = g_strdup(or_dash(key->scenario));
    run->key.method = g_strdup(or_dash(key->method));
    run->key.mode = g_strdup(or_dash(key->mode));
    run->key.load = g_strdup(or_dash(key->load));
    run->key.cache = g_strdup(or_dash(key->cache));
    run->key.size = g_strdup(or_dash(key->size));
    run->rep = rep;
    run->daemon = g_strdup(daemon);
    run->pending = g_ptr_array_new_with_free_func(record_free);
    run->t_begin = bench_now();
    bench_log("%s: %s %s, load %s, cache %s, %s, rep %d", run->key.scenario,
              run->key.method, run->key.mode, run->key.load, run->key.cache,
              run->key.size, rep + 1);
    return run;
}

static Record *new_record(BenchRun *run, const char *metric, const char *unit)
{
    Record *r = g_new0(Record, 1);

    r->scenario = g_strdup(run->key.scenario);
    r->method = g_strdup(run->key.method);
    r->mode = g_strdup(run->key.mode);
    r->load = g_strdup(run->key.load);
    r->cache = g_strdup(run->key.cache);
    r->size = g_strdup(run->key.size);
    r->rep = run->rep;
    r->daemon = g_strdup(run->daemon);
    r->metric = g_strdup(metric);
    r->unit = g_strdup(unit ? unit : "");
    r->value = NAN;
    return r;
}

void bench_run_value(BenchRun *run, const char *metric, double value,
                     const char *unit)
{
    Record *r = new_record(run, metric, unit);

    r->value = value;
    g_ptr_array_add(run->pending, r);
}

void bench_run_text(BenchRun *run, const char *metric, const char *text)
{
    Record *r = new_record(run, metric, NULL);

    r->text = g_strdup(text);
    g_ptr_array_add(run->pending, r);
}

void bench_run_fail(BenchRun *run, const char *fmt, ...)
{
    va_list ap;

    if (run->failure) {
        return;
    }
    va_start(ap, fmt);
    run->failure = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    bench_log("  FAILED: %s", run->failure);
}

gboolean bench_run_failed(BenchRun *run)
{
    return run->failure != NULL;
}

char *bench_run_slug(BenchRun *run)
{
    g_autofree char *s = g_strdup_printf(
        "%s-%s-%s-%s-%s-%s-rep%d", run->key.scenario, run->key.method,
        run->key.mode, run->key.load, run->key.cache, run->key.size,
        run->rep + 1);

    return g_strdelimit(g_steal_pointer(&s), "/ ", '_');
}

char *bench_run_failure_log(BenchRun *run)
{
    g_autofree char *dir = g_build_filename(run->b->raw_dir, "failures",
                                            NULL);
    g_autofree char *slug = bench_run_slug(run);
    g_autofree char *name = g_strconcat(slug, ".log", NULL);

    return g_build_filename(dir, name, NULL);
}

/* The 1-minute load average: other work on the machine shows here */
static double loadavg(void)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents("/proc/loadavg", &text, NULL, NULL)) {
        return NAN;
    }
    return g_ascii_strtod(text, NULL);
}

void bench_run_end(BenchRun *run)
{
    BenchReport *rep = run->b->report;
    Record *status = new_record(run, "status", NULL);
    double load = loadavg();
    g_autoptr(GString) line = g_string_new(NULL);

    if (run->failure) {
        /* One line for CSV and tables (the log has it all) */
        g_strdelimit(run->failure, "\n", ' ');
        if (strlen(run->failure) > 400) {
            strcpy(run->failure + 396, " ...");
        }
        status->text = g_strdup_printf("failed: %s", run->failure);
        status->failed = TRUE;
        run->b->run_failures++;
    } else {
        status->text = g_strdup("ok");
        for (guint i = 0; i < run->pending->len; i++) {
            Record *r = g_ptr_array_index(run->pending, i);

            if (line->len < 200) {
                if (r->text) {
                    g_string_append_printf(line, " %s=%s", r->metric, r->text);
                } else {
                    g_string_append_printf(line, " %s=%.4g%s", r->metric,
                                           r->value, r->unit);
                }
            }
            g_ptr_array_add(rep->records, g_ptr_array_steal_index(
                                run->pending, i--));
        }
        if (!isnan(load)) {
            Record *r = new_record(run, "loadavg", NULL);

            r->value = load;
            g_ptr_array_add(rep->records, r);
        }
    }
    g_ptr_array_add(rep->records, status);
    bench_log("  %s (%.1f s)%s", run->failure ? "failed" : "ok",
              bench_now() - run->t_begin, line->str);

    g_ptr_array_unref(run->pending);
    g_free((char *)run->key.scenario);
    g_free((char *)run->key.method);
    g_free((char *)run->key.mode);
    g_free((char *)run->key.load);
    g_free((char *)run->key.cache);
    g_free((char *)run->key.size);
    g_free(run->daemon);
    g_free(run->failure);
    g_free(run);
}

static gboolean field_matches(const char *want, const char *have)
{
    return !want || g_str_equal(want, have);
}

static gboolean key_matches(const BenchKey *k, const Record *r)
{
    return field_matches(k->scenario, r->scenario) &&
           field_matches(k->method, r->method) &&
           field_matches(k->mode, r->mode) &&
           field_matches(k->load, r->load) &&
           field_matches(k->cache, r->cache) &&
           field_matches(k->size, r->size);
}

/* Same run: same key fields and repetition */
static gboolean same_run(const Record *x, const Record *y)
{
    return x->rep == y->rep && g_str_equal(x->scenario, y->scenario) &&
           g_str_equal(x->method, y->method) &&
           g_str_equal(x->mode, y->mode) && g_str_equal(x->load, y->load) &&
           g_str_equal(x->cache, y->cache) && g_str_equal(x->size, y->size);
}

void bench_report_derive(BenchReport *r, const BenchKey *key,
                         const char *a, const char *b, const char *metric,
                         const char *unit,
                         double (*fn)(double a, double b, gpointer data),
                         gpointer data)
{
    guint n = r->records->len;

    for (guint i = 0; i < n; i++) {
        Record *ra = g_ptr_array_index(r->records, i);

        if (ra->text || !g_str_equal(ra->metric, a) ||
            !key_matches(key, ra)) {
            continue;
        }
        for (guint j = 0; j < n; j++) {
            Record *rb = g_ptr_array_index(r->records, j);

            if (!rb->text && g_str_equal(rb->metric, b) &&
                same_run(ra, rb)) {
                Record *d = g_new0(Record, 1);

                *d = (Record) {
                    .scenario = g_strdup(ra->scenario),
                    .method = g_strdup(ra->method),
                    .mode = g_strdup(ra->mode),
                    .load = g_strdup(ra->load),
                    .cache = g_strdup(ra->cache),
                    .size = g_strdup(ra->size),
                    .rep = ra->rep,
                    .daemon = g_strdup(ra->daemon),
                    .metric = g_strdup(metric),
                    .value = fn(ra->value, rb->value, data),
                    .unit = g_strdup(unit),
                };
                g_ptr_array_add(r->records, d);
                break;
            }
        }
    }
}

static int cmp_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* @text_as: what a text value counts as (NAN: it is not a value) */
static void summarize(BenchReport *r, const BenchKey *key, const char *metric,
                      double text_as, BenchSummary *s)
{
    g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(double));

    memset(s, 0, sizeof(*s));
    s->median = s->min = s->max = NAN;
    for (guint i = 0; i < r->records->len; i++) {
        Record *rec = g_ptr_array_index(r->records, i);

        if (!key_matches(key, rec)) {
            continue;
        }
        if (g_str_equal(rec->metric, "status")) {
            s->runs++;
            s->failed += rec->failed;
            continue;
        }
        if (!g_str_equal(rec->metric, metric)) {
            continue;
        }
        if (rec->text) {
            s->n_text++;
            g_strlcpy(s->text, rec->text, sizeof(s->text));
            if (!isnan(text_as)) {
                g_array_append_val(v, text_as);
            }
        } else {
            g_array_append_val(v, rec->value);
            g_strlcpy(s->unit, rec->unit, sizeof(s->unit));
        }
    }
    s->n = v->len;
    if (!v->len) {
        return;
    }
    g_array_sort(v, cmp_double);
    s->min = g_array_index(v, double, 0);
    s->max = g_array_index(v, double, v->len - 1);
    s->median = v->len % 2 ? g_array_index(v, double, v->len / 2)
                           : (g_array_index(v, double, v->len / 2 - 1) +
                              g_array_index(v, double, v->len / 2)) / 2;
}

void bench_summarize(BenchReport *r, const BenchKey *key, const char *metric,
                     BenchSummary *s)
{
    summarize(r, key, metric, NAN, s);
}

void bench_summarize_text_as(BenchReport *r, const BenchKey *key,
                             const char *metric, double text_as,
                             BenchSummary *s)
{
    summarize(r, key, metric, text_as, s);
}

char *bench_fmt_cell(const BenchSummary *s, int decimals)
{
    g_autoptr(GString) c = g_string_new(NULL);

    if (s->n) {
        if (s->n == 1 || s->min == s->max) {
            g_string_append_printf(c, "%.*f", decimals, s->median);
        } else {
            g_string_append_printf(c, "%.*f [%.*f–%.*f]", decimals,
                                   s->median, decimals, s->min, decimals,
                                   s->max);
        }
        if (s->n_text) {
            g_string_append_printf(c, " (%s %d/%d)", s->text, s->n_text,
                                   s->n + s->n_text);
        }
    } else if (s->n_text) {
        g_string_append(c, s->text);
        if (s->n_text > 1) {
            g_string_append_printf(c, " (%d/%d)", s->n_text, s->n_text);
        }
    }
    if (s->failed) {
        g_string_append_printf(c, "%s**FAILED %d/%d**", c->len ? " " : "",
                               s->failed, s->runs);
    }
    if (!c->len) {
        g_string_append(c, "—");
    }
    return g_string_free(g_steal_pointer(&c), FALSE);
}

char *bench_fmt_ratio(const BenchSummary *a, const BenchSummary *b)
{
    if (!a->n || !b->n || b->median == 0 || a->n_text || b->n_text) {
        return g_strdup("—");
    }
    /* Two decimals, or two significant digits when that shows nothing */
    return g_strdup_printf(a->median / b->median < 0.1 ? "%.2g" : "%.2f",
                           a->median / b->median);
}

GPtrArray *bench_report_failures(BenchReport *r)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < r->records->len; i++) {
        Record *rec = g_ptr_array_index(r->records, i);

        if (rec->failed) {
            g_ptr_array_add(out, g_strdup_printf(
                "%s / %s %s / load %s / cache %s / %s / rep %d: %s",
                rec->scenario, rec->method, rec->mode, rec->load, rec->cache,
                rec->size, rec->rep + 1, rec->text));
        }
    }
    return out;
}

void bench_md(Bench *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(b->report->md, fmt, ap);
    va_end(ap);
}

void bench_md_row(Bench *b, const char *const *cells)
{
    GString *md = b->report->md;

    g_string_append(md, "|");
    for (const char *const *c = cells; *c; c++) {
        g_string_append_printf(md, " %s |", *c);
    }
    g_string_append(md, "\n");
}

void bench_md_header(Bench *b, const char *const *cells)
{
    GString *md = b->report->md;

    g_string_append(md, "\n");
    bench_md_row(b, cells);
    g_string_append(md, "|");
    for (const char *const *c = cells; *c; c++) {
        g_string_append(md, c == cells ? " --- |" : " ---: |");
    }
    g_string_append(md, "\n");
}

char *bench_plot_data_path(Bench *b, const char *name)
{
    g_autofree char *dir = g_build_filename(b->raw_dir, "plots", NULL);
    g_autofree char *file = g_strconcat(name, ".dat", NULL);

    bench_mkdir(dir);
    return g_build_filename(dir, file, NULL);
}

gboolean bench_plot(Bench *b, const char *name, const char *title,
                    const char *script)
{
    g_autofree char *dir = g_build_filename(b->raw_dir, "plots", NULL);
    g_autofree char *gp_name = g_strconcat(name, ".gp", NULL);
    g_autofree char *gp = g_build_filename(dir, gp_name, NULL);
    g_autofree char *png_name = g_strconcat(name, ".png", NULL);
    g_autofree char *png = g_build_filename(b->out_dir, png_name, NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    const char *argv[] = { "gnuplot", gp, NULL };

    bench_mkdir(dir);
    text = g_strdup_printf(
        "set terminal pngcairo size 1200,700 font 'sans,10' noenhanced\n"
        "set output '%s'\n"
        "set title '%s'\n"
        "set grid\n"
        "set key outside right top\n"
        "%s\n"
        "unset output\n", png, title, script);
    if (!g_file_set_contents(gp, text, -1, &err)) {
        bench_log("plot %s: %s", name, err->message);
        return FALSE;
    }
    if (!bench_run(argv, NULL, &err)) {
        bench_log("plot %s: gnuplot failed: %s", name, err->message);
        bench_md(b, "\n(plot %s: gnuplot failed, see raw/plots/%s)\n", name,
                 gp_name);
        return FALSE;
    }
    bench_md(b, "\n![%s](%s)\n", title, png_name);
    return TRUE;
}

static void csv_field(GString *out, const char *s, gboolean last)
{
    if (strpbrk(s, ",\"\n")) {
        g_string_append_c(out, '"');
        for (const char *p = s; *p; p++) {
            if (*p == '"') {
                g_string_append_c(out, '"');
            }
            g_string_append_c(out, *p == '\n' ? ' ' : *p);
        }
        g_string_append_c(out, '"');
    } else {
        g_string_append(out, s);
    }
    g_string_append_c(out, last ? '\n' : ',');
}

void bench_report_write(Bench *b, const char *header)
{
    BenchReport *r = b->report;
    g_autoptr(GString) csv = g_string_new(
        "scenario,method,mode,load,cache,size,rep,metric,value,unit,"
        "daemon,qemu,machine\n");
    g_autofree char *csv_path = g_build_filename(b->out_dir, "results.csv",
                                                 NULL);
    g_autofree char *md_path = g_build_filename(b->out_dir, "results.md",
                                                NULL);
    g_autofree char *md = g_strconcat(header, r->md->str, NULL);
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < r->records->len; i++) {
        Record *rec = g_ptr_array_index(r->records, i);
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        g_autofree char *rep = g_strdup_printf("%d", rec->rep + 1);

        csv_field(csv, rec->scenario, FALSE);
        csv_field(csv, rec->method, FALSE);
        csv_field(csv, rec->mode, FALSE);
        csv_field(csv, rec->load, FALSE);
        csv_field(csv, rec->cache, FALSE);
        csv_field(csv, rec->size, FALSE);
        csv_field(csv, rep, FALSE);
        csv_field(csv, rec->metric, FALSE);
        if (rec->text) {
            csv_field(csv, rec->text, FALSE);
        } else {
            g_ascii_formatd(num, sizeof(num), "%.6g", rec->value);
            csv_field(csv, num, FALSE);
        }
        csv_field(csv, rec->unit, FALSE);
        csv_field(csv, rec->daemon, FALSE);
        csv_field(csv, b->qemu_version, FALSE);
        csv_field(csv, b->machine, TRUE);
    }
    if (!g_file_set_contents(csv_path, csv->str, csv->len, &err) ||
        !g_file_set_contents(md_path, md, -1, &err)) {
        bench_die("writing results: %s", err->message);
    }
}
