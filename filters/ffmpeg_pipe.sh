#!/usr/bin/env bash
# avanon between two ffmpeg processes: anything ffmpeg reads -> Matroska pipe -> avanon -> MPEG-TS
# pipe -> anything ffmpeg writes. Audio and subtitles travel through avanon untouched.
#   filters/ffmpeg_pipe.sh input.mov output.mp4
set -euo pipefail
in=$1; out=$2
ffmpeg -v error -i "$in" -map 0 -c copy -f matroska - \
  | avanon - - --format matroska --quiet \
  | ffmpeg -v error -y -i - -map 0 -c copy "$out"
