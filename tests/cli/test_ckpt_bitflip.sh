#!/bin/bash
# A flipped bit anywhere in a checkpoint, its HDF5 metadata included, gives "corrupt
# checkpoint" and exit 1 (issue 14, finding 6): libhdf5 1.10 crashes on some damaged
# metadata (H5Lvisit, "double free or corruption"), so bienc verifies a whole-file checksum
# before HDF5 parses a byte. Sweep: one bit flipped at each of ~220 offsets covering the
# metadata between the tensors' chunks (found with h5py) and a stride over the rest, for
# encode (model load) and train --resume. Every case must exit 1 naming the corruption.
set -u
. "$(dirname "$0")/lib.sh"
need_h5py
scratch bitflip
head -n 3 "$T/deb/collection.tsv" > "$T/c.tsv"
tiny_model 1 b
"$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/ok.h5" --quiet || fail "the intact checkpoint should load"
sed "s#steps: 1#steps: 2#" "$T/run.yaml" > "$T/r2.yaml"

$PY - "$M" "$T/offsets" <<'PY' || fail "listing offsets"
import sys, os, h5py
path = sys.argv[1]
size = os.path.getsize(path)
chunks = []
with h5py.File(path, "r") as f:
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.chunks:
            for i in range(obj.id.get_num_chunks()):
                c = obj.id.get_chunk_info(i)
                chunks.append((c.byte_offset, c.byte_offset + c.size))
    f.visititems(visit)
chunks.sort()
meta, pos = [], 0
for a, b in chunks + [(size, size)]:
    if a > pos: meta.append((pos, a))
    pos = max(pos, b)
total = sum(b - a for a, b in meta)
step = max(1, total // 150)
offs = [o for a, b in meta for o in range(a, b, step)]       # the metadata, ~150 offsets
offs += list(range(0, 64, 3)) + list(range(512, 600, 7))        # checksum block and superblock
offs += list(range(7, size, max(1, size // 30)))             # and a stride over everything
open(sys.argv[2], "w").write("\n".join(map(str, sorted(set(offs)))))
print(f"{len(set(offs))} offsets, {total} metadata bytes in {len(meta)} regions of a {size}-byte file")
PY
crashed=0; k=0
while read -r off; do
  k=$((k + 1))
  cp "$M" "$T/flip.h5"
  # one bit, varying with the offset
  printf "$(printf '\\%03o' $(( $(od -An -tu1 -j "$off" -N1 "$M") ^ (1 << (off % 8)) )))" |
    dd of="$T/flip.h5" bs=1 seek="$off" conv=notrunc status=none
  tried=$((tried + 1))
  "$BIN" encode --model "$T/flip.h5" --input "$T/c.tsv" --output "$T/o.h5" --quiet 2>"$T/err"
  rc=$?
  [ $rc -gt 128 ] && crashed=$((crashed + 1))
  if [ $rc -eq 1 ] && grep -q "corrupt checkpoint" "$T/err"; then passed=$((passed + 1))
  else echo "FAIL: bit $((off % 8)) of byte $off: encode exit $rc: $(head -c 200 "$T/err")"; fi
  if [ $((k % 10)) -eq 0 ]; then # resume from a sample of them
    tried=$((tried + 1))
    rm -rf "$T/ckpt2"; mkdir -p "$T/ckpt2/b"; cp "$T/flip.h5" "$T/ckpt2/b/step-1.h5"
    "$BIN" train "$T/r2.yaml" --set checkpoint.dir="$T/ckpt2" --resume "$T/ckpt2/b/step-1.h5" --no-progress \
      --eval-passages 200 >/dev/null 2>"$T/err"
    rc=$?
    [ $rc -gt 128 ] && crashed=$((crashed + 1))
    if [ $rc -eq 1 ] && grep -q "corrupt checkpoint" "$T/err"; then passed=$((passed + 1))
    else echo "FAIL: bit $((off % 8)) of byte $off: train --resume exit $rc: $(tail -c 200 "$T/err")"; fi
  fi
done < "$T/offsets"
echo "($crashed of them crashed)"
finish
