#!/usr/bin/env bash
# gen_audio.sh DIR: writes short tagged test tones, one per supported format,
# plus files with cover art and files HiFi must reject, into DIR. Used by
# end-to-end tests and benchmarks so that no binary fixtures are committed.
#
#   DIR/tone.{mp3,flac,ogg,opus,wav,m4a}   2 s, 440 Hz, stereo, tagged
#   DIR/cover.{mp3,flac,m4a}               tone.* with a 64x64 PNG front cover
#   DIR/cover.png                          that cover
#   DIR/bad/{notes.txt,random.bin,empty.mp3,image.png,video.mp4,truncated.flac}
#
# Tags: title "Tone <FORMAT>", artist "HiFi Test", album "Test Tones",
# album artist "Various Artists", genre "Test", year 2021, track 3/12,
# disc 1/1 (WAV keeps only title, artist, album, genre, year and track).
# Encoder output is bit-exact where ffmpeg allows it; bad/random.bin is not.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
for tool in ffmpeg head; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found" >&2; exit 1; }
done

dir=$1
mkdir -p "$dir/bad"
cd "$dir"

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

tone=(-f lavfi -i "sine=frequency=440:sample_rate=44100:duration=2" -ac 2)
exact=(-fflags +bitexact -flags:a +bitexact)

encode() {  # encode OUT LABEL CODEC-ARGS...
  local out=$1 label=$2
  shift 2
  ff "${tone[@]}" -metadata "title=Tone $label" -metadata "artist=HiFi Test" \
    -metadata "album=Test Tones" -metadata "album_artist=Various Artists" \
    -metadata "genre=Test" -metadata "date=2021" -metadata "track=3/12" -metadata "disc=1/1" \
    "$@" "${exact[@]}" "$out"
}

encode tone.mp3 MP3 -c:a libmp3lame -b:a 128k -id3v2_version 3
encode tone.flac FLAC -c:a flac
encode tone.ogg Vorbis -c:a libvorbis
encode tone.opus Opus -c:a libopus -b:a 96k
encode tone.wav WAV -c:a pcm_s16le
encode tone.m4a AAC -c:a aac -b:a 128k

ff -f lavfi -i "color=c=red:s=64x64" -frames:v 1 "${exact[@]}" cover.png
ff -i tone.mp3 -i cover.png -map 0 -map 1 -c copy -id3v2_version 3 \
  -metadata:s:v "title=Album cover" -metadata:s:v "comment=Cover (front)" cover.mp3
ff -i tone.flac -i cover.png -map 0 -map 1 -c copy -disposition:v attached_pic cover.flac
ff -i tone.m4a -i cover.png -map 0 -map 1 -c copy -disposition:v attached_pic cover.m4a

printf 'These are my notes.\nThey are not music.\n' > bad/notes.txt
head -c 65536 /dev/urandom > bad/random.bin
: > bad/empty.mp3
cp cover.png bad/image.png
ff -f lavfi -i "testsrc=size=160x120:rate=10" -t 1 -c:v mpeg4 bad/video.mp4
# Only the stream header: nothing decodable follows.
head -c 100 tone.flac > bad/truncated.flac

for f in tone.mp3 tone.flac tone.ogg tone.opus tone.wav tone.m4a cover.png cover.mp3 \
  cover.flac cover.m4a bad/video.mp4; do
  [[ -s $f ]] || { echo "$0: $dir/$f was not generated" >&2; exit 1; }
done
