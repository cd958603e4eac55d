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
           '--write_lat_log=%s/g' % R, '--output-format=json', '--output=%s/fio.json' % R], stdout=subprocess.DEVNULL)
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
    while True:
        q = cmd('query-block-jobs')
        if q and q[0]['ready']: break
        time.sleep(0.05)
    time.sleep(1.0)
    t_cmd = time.time()
    f.write(json.dumps({"execute": "block-job-complete", "arguments": {"device": "j"}}) + '\n'); f.flush()
    while True:
        m = json.loads(f.readline())
        if m.get('event') == 'BLOCK_JOB_COMPLETED': break
    t_end = time.time()
    time.sleep(1.5)
    fio.terminate(); fio.wait(); qsd.terminate(); qsd.wait()
    done = []
    for line in open(R + '/g_clat.1.log'):
        p = line.split(','); done.append((int(p[0]) / 1000.0, int(p[1]) / 1e6))
    a0, a1 = t_cmd - t_fio - 0.2, t_end - t_fio + 0.5
    w = sorted(t for t, l in done if a0 <= t <= a1)
    gap = max((y - x) for x, y in zip(w, w[1:])) if len(w) > 1 else -1
    mx = max((l for t, l in done if a0 <= t <= a1 + 1), default=-1)
    print('%-8s pivot %.1f ms | longest gap in completions %.1f ms | max latency %.1f ms' % (shape, (t_end - t_cmd) * 1000, gap * 1000, mx), flush=True)
for sh_ in shapes: run(sh_)
