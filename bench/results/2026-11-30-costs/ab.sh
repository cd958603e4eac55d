#!/bin/sh
# A/B: old vs new plugin, alternating
cache=$1; shape=$2; n=$3
for i in $(seq $n); do
  for v in old new; do
    echo "== $v"
    LIVEMERGE_PLUGIN=/var/tmp/lm-$v/livemerge.so EXPW=/var/tmp/exp3 python3 cost.py 4k 16 $cache $shape 2>&1 | grep -v "per-s\|trace\|no-job"
  done
done
