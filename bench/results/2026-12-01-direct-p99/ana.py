import sys, re
for tag in sys.argv[1:]:
    txt = open('/var/tmp/cov/%s.txt' % tag).read()
    m = re.search(r'trace (.*)', txt)
    ready = None
    for tok in m.group(1).split():
        if tok.endswith('R'):
            ready = float(tok.split(':')[0]); break
    lat = []
    for line in open('/var/tmp/cov/%s.clat' % tag):
        p = line.split(','); lat.append((int(p[0]) / 1000.0, int(p[1]) / 1e6))
    js = 22.0
    base = sorted(x for t, x in lat if 10 <= t < 22)
    bp99 = base[int(len(base) * 0.99)]; brate = len(base) / 12.0
    end = js + (ready if ready else 12)
    cp = sorted(x for t, x in lat if js <= t < end)
    rate = len(cp) / (end - js)
    slow = sum(1 for x in cp if x > 1.5 * bp99) / len(cp)
    lost = (1 - rate / brate) * (end - js)
    print('%-16s READY %5s  before %5.0f IOPS p99 %.3f | copy phase %5.0f IOPS (%.2f) p99 %.3f (%.2fx) >1.5x: %.1f%% lost %.2f s' % (
        tag, ready, brate, bp99, rate, rate / brate, cp[int(len(cp) * 0.99)], cp[int(len(cp) * 0.99)] / bp99, 100 * slow, lost))
