#!/bin/bash
# The page-cache p99 with a job that copies nothing (speed 1 B/s) against
# no job: 4k QD16 over the whole 2 GiB disk, 10 s warm-up, 20 s measured.
set -euo pipefail
top=$(cd -- "$(dirname -- "$0")/../../.." && pwd)   # the source tree
W=${WORK:-/var/tmp/floor-hand}/w                      # images; results beside
LM=$top/build/controller/livemerge
run() {  # $1 = nojob | job, $2 = rep
    rm -rf $W; mkdir -p $W; cd $W
    qemu-img create -q -f qcow2 base.qcow2 2G
    qemu-io -c 'write -P 0x11 0 512M' base.qcow2 >/dev/null
    qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
    qemu-io -c 'write -P 0x22 0 512M' overlay.qcow2 >/dev/null
    sync; echo 3 > /proc/sys/vm/drop_caches
    $top/scripts/livemerge-qsd \
        --chardev socket,id=qmp,path=$W/qmp.sock,server=on,wait=off \
        --monitor chardev=qmp \
        --blockdev '{"driver":"qcow2","node-name":"base","file":{"driver":"file","filename":"'$W'/base.qcow2","aio":"threads"}}' \
        --blockdev '{"driver":"qcow2","node-name":"overlay","backing":"base","file":{"driver":"file","filename":"'$W'/overlay.qcow2","aio":"threads"}}' \
        --nbd-server addr.type=unix,addr.path=$W/nbd.sock \
        --export nbd,id=disk0,node-name=overlay,name=disk0,writable=on &
    qsd=$!
    for i in $(seq 50); do [ -S $W/nbd.sock ] && [ -S $W/qmp.sock ] && break; sleep 0.1; done
    fio --name=g --ioengine=nbd --uri="nbd+unix:///disk0?socket=$W/nbd.sock" \
        --rw=randwrite --bs=4k --iodepth=16 --size=2G --time_based \
        --runtime=30 --ramp_time=10 --output-format=json \
        --output=$W/../fio-$1-$2.json &
    fio=$!
    if [ $1 = job ]; then
        sleep 10
        $LM -c $W/qmp.sock blockcommit disk0 --active --bandwidth 1 --bytes >/dev/null
    fi
    wait $fio
    if [ $1 = job ]; then
        $LM -c $W/qmp.sock blockjob disk0 --info > $W/../job-$2.txt 2>&1 || true
        $LM -c $W/qmp.sock blockjob disk0 --abort >/dev/null 2>&1 || true
    fi
    kill $qsd; wait $qsd || true
    qemu-img check -q overlay.qcow2 && qemu-img check -q base.qcow2
    python3 -c "
import json,sys
j=json.load(open('$W/../fio-$1-$2.json'))['jobs'][0]['write']
p=j['clat_ns']['percentile']
print('$1 $2 iops %.0f p50 %.0f p99 %.0f p99.9 %.0f us' % (j['iops'], p['50.000000']/1e3, p['99.000000']/1e3, p['99.900000']/1e3))"
}
for rep in 1 2 3; do run nojob $rep; run job $rep; done
