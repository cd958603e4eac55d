#!/bin/sh
export LIVEMERGE_PLUGIN=/var/tmp/exp-trace/b/filter/livemerge.so LM_TRACE_ROUND=1 BASEW='write -P 0x11 0 512M' EXPW=/var/tmp/exp-sparse
for i in 1 2 3; do
  echo "== 4k page A $i"; WIN=20 python3 -u rounds.py 4k 16 page ad-dflt
  echo "== 4k page LOOP $i"; LM_DEST_LOOP=1 WIN=20 python3 -u rounds.py 4k 16 page ad-dflt
done
