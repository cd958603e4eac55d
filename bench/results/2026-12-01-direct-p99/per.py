import sys
for tag in sys.argv[1:]:
    lat = []
    for line in open('/var/tmp/cov/%s.clat' % tag):
        p = line.split(','); lat.append((int(p[0]) / 1000.0, int(p[1]) / 1e6))
    base = sorted(x for t, x in lat if 10 <= t < 22)
    thr = 1.5 * base[int(len(base) * 0.99)]
    out = []
    for k in range(0, 12 * 2):
        a = 22 + k / 2; l = [x for t, x in lat if a <= t < a + 0.5]
        out.append('%.0f' % (100 * sum(1 for x in l if x > thr) / max(1, len(l))))
    print('%-16s slow%% per 0.5 s: %s' % (tag, ' '.join(out)))
