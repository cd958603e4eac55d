#!/bin/sh
export LIVEMERGE_PLUGIN=/var/tmp/exp-tail/b/filter/livemerge.so BASEW='write -P 0x11 0 512M' EXPW=/var/tmp/exp-sparse
for i in 1 2 3; do
  echo "== 64k page A $i"; WIN=20 python3 -u rounds.py 64k 4 page ad-dflt
  echo "== 64k page TAIL $i"; LM_TAIL=1 WIN=20 python3 -u rounds.py 64k 4 page ad-dflt
done
