#!/bin/bash
# Three memory recipes side by side on one GPU (issue 11's run on an H200, benchmarks/RESULTS.md
# "One GPU: the recipe learns real qa1"), then the harness at 16k and 128k on two of them.
#   bash benchmarks/gpu_three_recipes.sh            # needs `babilong setup` done (or BABILONG_CACHE)
#   SMOKE=1 bash benchmarks/gpu_three_recipes.sh    # the same steps at toy sizes, on a CPU
# On a machine without the registries, put the wheels it lacks (nltk, platformdirs) in .gpu/whl.
cd "$(dirname "$0")/.." || exit 7
if compgen -G ".gpu/whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .gpu/whl/*.whl || exit 9
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2
OUT=${OUT:-/tmp/out}; WORK=${WORK:-/tmp}; mkdir -p "$OUT"
cd benchmarks
if [ -n "$SMOKE" ]; then SIZE="--smoke"; LENGTHS=1k; SAMPLES=4; TRAIN=240; DEVICE=cpu
else SIZE=""; LENGTHS=16k,128k; SAMPLES=200; TRAIN=430; DEVICE=cuda; fi
timeout 120 python3 gpu_rmt.py --smoke > "$WORK/smoke.txt" 2>&1 || { tail -40 "$WORK/smoke.txt"; exit 8; }
run() {  # train and score one recipe (NAME, then gpu_rmt.py flags)
  name=$1; shift
  timeout $TRAIN python3 gpu_rmt.py $SIZE --set no-progress --set workers=4 "$@" --output "$WORK/$name" > "$WORK/$name.txt" 2>&1
  echo "== $name trained rc=$? $(date +%T)" >> "$WORK/$name.txt"
}
harness() {  # the same checkpoint through `babilong eval --model rmt`
  timeout 200 python3 -m babilong eval --model rmt --model-args "checkpoint=$WORK/$1,device=$DEVICE,batch_size=100" \
    --tasks qa1 --lengths $LENGTHS --samples $SAMPLES --output "$WORK/$1-eval" --no-progress >> "$WORK/$1.txt" 2>&1
  echo "== $1 harness rc=$? $(date +%T)" >> "$WORK/$1.txt"
}
LLAMA=tiny-llama:hidden_size=256,num_hidden_layers=4,num_attention_heads=4,num_key_value_heads=4,intermediate_size=1024
run A --export "$OUT/A" &
run B --set backbone=$LLAMA &
run C --set arch=armt --set memory=10 &
wait
harness A & harness C & wait
cat "$WORK/A.txt" "$WORK/B.txt" "$WORK/C.txt" > "$OUT/all.txt"
grep -h -E '^ +[0-9]+[kM]? |qa1|== |Traceback|Error' "$WORK/A.txt" "$WORK/B.txt" "$WORK/C.txt"
