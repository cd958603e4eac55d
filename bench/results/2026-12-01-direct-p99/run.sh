#!/bin/bash
# usage: run.sh tag bs qd cache shape [env...]
tag=$1; bs=$2; qd=$3; cache=$4; shape=$5; shift 5
cd /work/main/bench/results/2026-11-30-costs
env "$@" EXPW=/var/tmp/exp3 WIN=12 LIVEMERGE_PLUGIN=/var/tmp/wt-cov/build/filter/livemerge.so timeout 300 python3 -u cost.py $bs $qd $cache $shape > /var/tmp/cov/$tag.txt 2>&1
cp /var/tmp/exp3/run/g_clat.1.log /var/tmp/cov/$tag.clat
grep -v "^   trace" /var/tmp/cov/$tag.txt
