#!/usr/bin/env bash
# avanon between two ffmpeg processes: anything ffmpeg reads -> Matroska pipe -> avanon -> Matroska
# pipe -> anything ffmpeg writes. Audio and subtitles travel through avanon untouched.
#   filters/ffmpeg_pipe.sh input.mov output.mp4 [avanon options...]
# AVANON names the avanon command (default: avanon), e.g. AVANON="python -m avanon".
set -euo pipefail
in=$1; out=$2; shift 2
ffmpeg -v error -i "$in" -map 0 -c copy -f matroska - \
  | ${AVANON:-avanon} - - --format matroska --quiet "$@" \
  | ffmpeg -v error -y -i - -map 0 -c copy "$out"
