#!/usr/bin/env python3
# exploration: what each part of an active commit costs a whole-disk guest.
# same run: warm-up, no-job window, then the job in a given shape, window, cancel.
import json, os, socket, subprocess, sys, time, shutil
W = os.environ.get('EXPW', '/var/tmp/exp2')
bs, qd, cache = sys.argv[1], sys.argv[2], sys.argv[3]
shapes = sys.argv[4].split(',')   # e.g. wb-idle,bg-idle,bg-full,wb-full
WARM, WIN = 10, int(os.environ.get("WIN", "8"))
def sh(*a): subprocess.run(a, check=True, stdout=subprocess.DEVNULL)
P = W + '/pristine'
if not os.path.exists(P + '/top.qcow2'):
    os.makedirs(P, exist_ok=True)
    sh('qemu-img', 'create', '-q', '-f', 'qcow2', P + '/base.qcow2', '2G')
    bw = []
    for c in os.environ.get('BASEW', 'write -P 0x11 0 1G;write -P 0x11 1G 1G').split(';'): bw += ['-c', c]
    sh('qemu-io', '-f', 'qcow2', *bw, P + '/base.qcow2')
    sh('qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b', 'base.qcow2', '-F', 'qcow2', P + '/top.qcow2', '2G')
    sh('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x22 0 512M', P + '/top.qcow2')
direct = cache == 'direct'
def node(R, name, fn, backing=None):
    d = {"driver": "qcow2", "node-name": name, "cache": {"direct": direct},
         "file": {"driver": "file", "filename": R + '/' + fn, "aio": "native" if direct else "threads", "cache": {"direct": direct}}}
    if backing is not None: d["backing"] = backing
    return d
def run(shape):
    R = W + '/run'
    shutil.rmtree(R, ignore_errors=True); os.makedirs(R)
    for f in ('base.qcow2', 'top.qcow2'):
        sh('cp', '--sparse=always', P + '/' + f, R + '/' + f)
    if os.environ.get('PREEXTEND'):
        sh('truncate', '-s', '+' + os.environ['PREEXTEND'], R + '/base.qcow2')
    subprocess.run(['sync'])
    args = ['/work/main/scripts/livemerge-qsd', '--blockdev', json.dumps(node(R, 'base', 'base.qcow2')),
            '--blockdev', json.dumps(node(R, 'top', 'top.qcow2', 'base')),
            '--nbd-server', 'addr.type=unix,addr.path=%s/nbd.sock' % R,
            '--export', 'nbd,id=e0,node-name=top,writable=on,name=disk',
            '--chardev', 'socket,id=qmp,path=%s/qmp.sock,server=on,wait=off' % R, '--monitor', 'chardev=qmp']
    qsd = subprocess.Popen(args, stderr=open(R + '/qsd.log', 'w'))
    while not os.path.exists(R + '/qmp.sock'): time.sleep(0.05)
    s = socket.socket(socket.AF_UNIX); s.connect(R + '/qmp.sock'); f = s.makefile('rw')
    f.readline()
    def cmd(c, **a):
        f.write(json.dumps({"execute": c, "arguments": a}) + '\n'); f.flush()
        while True:
            m = json.loads(f.readline())
            if 'event' in m: continue
            if 'error' in m: raise Exception(m)
            return m['return']
    cmd('qmp_capabilities')
    fio = subprocess.Popen(['fio', '--name=g', '--ioengine=nbd', '--uri=nbd+unix:///disk?socket=%s/nbd.sock' % R,
           '--rw=randwrite', '--bs=' + bs, '--iodepth=' + qd, '--size=2G', '--time_based', '--runtime=90',
           '--write_lat_log=%s/g' % R, '--log_unix_epoch=1', '--output-format=json', '--output=%s/fio.json' % R], stdout=subprocess.DEVNULL)
    t_fio = time.time()
    time.sleep(WARM + WIN)
    a = {'job-id': 'j', 'device': 'top'}
    if shape == 'qemu-wb':
        sh('qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b', 'base.qcow2', '-F', 'qcow2', R + '/target.qcow2', '2G')
        cmd('blockdev-add', **node(R, 'target', 'target.qcow2', 'base'))
        t_job = time.time()
        cmd('blockdev-mirror', **{'job-id': 'j', 'device': 'top', 'target': 'target', 'sync': 'top', 'copy-mode': 'write-blocking'})
    else:
        t_job = None
    parts = shape.split('-')
    mode, pace = parts[0], parts[1]
    if mode == 'qemu': parts = ['wb', '100']
    for p in parts[2:]:
        if p.startswith('mif'): a['max-in-flight'] = int(p[3:])
        if p.startswith('buf'): a['buf-size'] = int(p[3:]) << 20
    if shape != 'qemu-wb': a['copy-mode'] = {'wb': 'write-blocking', 'bg': 'background', 'ad': 'adaptive'}[mode]
    if shape == 'qemu-wb': pass
    elif pace == 'idle': a['speed'] = 1
    elif pace != 'dflt': a['guest-impact'] = int(pace) if pace.isdigit() else 100
    if t_job is None:
        t_job = time.time()
        cmd('livemerge-commit', **a)
    trace = []
    while time.time() < t_job + WIN:
        q = cmd('query-block-jobs')
        trace.append((time.time() - t_fio, q[0]['offset'] >> 20, q[0]['len'] >> 20, q[0]['ready']) if q else None)
        time.sleep(0.25)
    t_end = time.time()
    prog = cmd('query-block-jobs')
    cmd('block-job-cancel', device='j', force=True)
    t_cancel = time.time() - t_fio
    time.sleep(WIN + 1)
    fio.terminate(); fio.wait(); qsd.terminate(); qsd.wait()
    lat = []
    for line in open(R + '/g_clat.1.log'):
        p = line.split(','); lat.append((int(p[0]) / 1000.0 - t_fio, int(p[1]) / 1000.0))
    def win(a, b):
        l = sorted(x for t, x in lat if a <= t < b)
        return len(l) / (b - a), l[int(len(l) * 0.99)] / 1000 if l else 0, sum(l) / len(l) / 1000 if l else 0
    js = t_job - t_fio
    nb = win(WARM, WARM + WIN); na = win(t_cancel + 1, t_cancel + 1 + WIN)
    print('   no-job before %.0f IOPS p99 %.2f, after %.0f IOPS p99 %.2f' % (nb[0], nb[1], na[0], na[1]))
    nj = tuple((x + y) / 2 for x, y in zip(nb, na))
    jb = win(js + 0.5, js + WIN)
    done = prog[0]['offset'] if prog else -1
    print('%-8s %s qd%s %-6s nojob %6.0f IOPS p99 %5.2f ms mean %5.2f | job %6.0f IOPS (%.2f) p99 %5.2f ms (%.2fx) mean %5.2f (%.2fx) | copied %d MiB in %ds' % (
        shape, bs, qd, cache, nj[0], nj[1], nj[2], jb[0], jb[0] / nj[0], jb[1], jb[1] / nj[1], jb[2], jb[2] / nj[2], done >> 20, WIN), flush=True)
    per = []
    for k in range(int(js) - 2, int(js + WIN)):
        per.append('%d:%.0fk' % (k - int(js), win(k, k + 1)[0] / 1000))
    rt = [t for t, o, l, r in [x for x in trace if x] if r]
    if rt:
        cp = win(js, rt[0]); mi = win(rt[0] + 0.5, js + WIN)
        print('   copy phase %.1f s: %.2f of IOPS, p99 %.2fx, lost %.2f s | mirror only: %.2f of IOPS, p99 %.2fx mean %.2fx' % (
            rt[0] - js, cp[0] / nj[0], cp[1] / nj[1], (1 - cp[0] / nj[0]) * (rt[0] - js), mi[0] / nj[0], mi[1] / nj[1], mi[2] / nj[2]))
    print('   per-s', ' '.join(per))
    print('   trace', ' '.join('%.1f:%d/%d%s' % (t - js, o, l, 'R' if r else '') for t, o, l, r in [x for x in trace if x]))
    rounds(R, lat, t_fio, js, rt[0] if rt else js + WIN, nb[1])
def rounds(R, lat, t_fio, a, b, p99):
    # round intervals [start, end] relative to fio's start, from the plugin's trace
    ivs, cur = [], None
    for line in open(R + '/qsd.log'):
        p = line.split()
        if len(p) < 3 or p[0] != 'ROUND': continue
        t = int(p[1]) / 1e9 - t_fio
        if p[2] == 'start': cur = {'start': t}
        elif cur is not None: cur[p[2]] = t
        if p[2] == 'end' and cur: ivs.append(cur); cur = None
    ivs = [r for r in ivs if a <= r['start'] < b]
    thr = 1.5 * p99 * 1000   # us
    reqs = [(t - x / 1e6, t, x) for t, x in lat if a <= t < b]
    slow = [r for r in reqs if r[2] > thr]
    def hit(r, key0, key1):
        return any(r[0] <= iv.get(key1, iv['end']) and r[1] >= iv[key0] for iv in ivs)
    in_round = [r for r in slow if hit(r, 'start', 'end')]
    in_flush = [r for r in slow if hit(r, 'start', 'flushed')]
    in_give = [r for r in slow if hit(r, 'flushed', 'given')]
    all_in = [r for r in reqs if hit(r, 'start', 'end')]
    tround = sum(iv['end'] - iv['start'] for iv in ivs)
    durs = sorted((iv.get('flushed', 0) - iv['start']) * 1000 for iv in ivs)
    gives = sorted((iv.get('given', 0) - iv.get('flushed', 0)) * 1000 for iv in ivs)
    drops = sorted((iv['end'] - iv.get('given', 0)) * 1000 for iv in ivs)
    med = lambda l: l[len(l) // 2] if l else 0
    print('   rounds %d in copy phase, %.2f s of %.2f s (%.0f %%); flush med %.1f max %.1f ms, give-back med %.1f max %.1f ms, drop med %.1f max %.1f ms' % (
        len(ivs), tround, b - a, 100 * tround / max(b - a, 1e-9), med(durs), max(durs or [0]), med(gives), max(gives or [0]), med(drops), max(drops or [0])))
    print('   requests %d, slow (> %.2f ms) %d = %.2f %%; slow overlapping a round %d (%.0f %%; all requests overlapping one: %.0f %%), its flush %d, give-back %d' % (
        len(reqs), thr / 1000, len(slow), 100 * len(slow) / max(len(reqs), 1), len(in_round), 100 * len(in_round) / max(len(slow), 1),
        100 * len(all_in) / max(len(reqs), 1), len(in_flush), len(in_give)), flush=True)
    if ivs:
        first = [r for r in slow if r[0] <= ivs[0]['end'] and r[1] >= ivs[0]['start']]
        outside = [r for r in slow if r not in in_round]
        per = []
        for iv in ivs:
            n = sum(1 for r in slow if r[0] <= iv['end'] and r[1] >= iv['start'])
            per.append('%.0f/%d' % ((iv.get('flushed', 0) - iv['start']) * 1000, n))
        print('   first round %.2f s (flush %.2f s), slow in it %d (%.2f %% of requests); slow outside rounds %d (%.2f %%)' % (
            ivs[0]['end'] - ivs[0]['start'], ivs[0].get('flushed', 0) - ivs[0]['start'], len(first), 100 * len(first) / max(len(reqs), 1),
            len(outside), 100 * len(outside) / max(len(reqs), 1)))
        print('   per round flush-ms/slow', ' '.join(per), flush=True)
        locked = [r for r in slow if hit(r, 'destfile', 'dest')]
        dfl = sorted((iv.get('dest', 0) - iv.get('destfile', 0)) * 1000 for iv in ivs)
        pre = sorted((iv.get('destfile', 0) - iv['start']) * 1000 for iv in ivs)
        print('   dest pre-flush med %.1f max %.1f ms; dest flush (qcow2 lock) med %.1f max %.1f ms, slow overlapping it %d' % (
            med(pre), max(pre), med(dfl), max(dfl), len(locked)), flush=True)
for sh_ in shapes: run(sh_)
