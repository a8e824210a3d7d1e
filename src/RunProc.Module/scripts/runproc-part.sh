#!/bin/sh
# RunProc part launcher: the batch script of a job array (one task per part of a split run).
# Each task learns its index only when it starts (SLURM_ARRAY_TASK_ID; LSB_JOBINDEX counts from 1),
# so the argv carries a token where the part number goes; this replaces the token in every
# argument by the index and runs the rest. No argument is evaluated by this shell.
#
# Usage: runproc-part.sh -- PROGRAM [ARG...]
token='@RUNPROC_PART@'
[ "${1-}" = "--" ] && shift
if [ -n "${SLURM_ARRAY_TASK_ID-}" ]; then
    part=$SLURM_ARRAY_TASK_ID
elif [ -n "${LSB_JOBINDEX-}" ]; then
    part=$((LSB_JOBINDEX - 1))
elif [ -n "${RUNPROC_PART-}" ]; then
    part=$RUNPROC_PART
else
    echo "runproc-part: no array task index (SLURM_ARRAY_TASK_ID, LSB_JOBINDEX or RUNPROC_PART) in the environment" >&2
    exit 2
fi
case $part in ''|*[!0-9]*) echo "runproc-part: bad task index '$part'" >&2; exit 2 ;; esac
export RUNPROC_PART=$part

# Rebuild "$@" with the token replaced (each argument stays one argument).
n=$#
while [ "$n" -gt 0 ]; do
    a=$1
    shift
    out=""
    while :; do
        case $a in
            *"$token"*) out=$out${a%%"$token"*}$part; a=${a#*"$token"} ;;
            *) break ;;
        esac
    done
    set -- "$@" "$out$a"
    n=$((n - 1))
done
exec "$@"
