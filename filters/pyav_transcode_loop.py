"""Drop avanon into your own PyAV transcode loop (frame filter).

Decodes the first video stream of IN, anonymizes every frame with avanon's default stages, and
encodes it into OUT with your own encoder settings. avanon returns frames in order with their pts
untouched, delayed by its lookahead; `flush()` releases the rest at the end.

    python filters/pyav_transcode_loop.py in.mp4 out.mp4
"""

from __future__ import annotations

import sys

import av

import avanon


def main(src: str, dst: str) -> None:
    with av.open(src) as inp, av.open(dst, "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate, options={"crf": "20"})
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        vout.pix_fmt = "yuv420p"
        vout.time_base = vout.codec_context.time_base = vin.time_base
        # Built before the first frame: the models load (or fail) before anything is written.
        anon = avanon.Anonymizer.from_config(
            avanon.Config(), frame_size=(vout.width, vout.height),
            fps=float(vin.average_rate or 25))
        for frame in inp.decode(vin):
            for masked in anon.push(frame):  # detectors read each frame's own rotation
                out.mux(vout.encode(masked))
        for masked in anon.flush():
            out.mux(vout.encode(masked))
        out.mux(vout.encode(None))


if __name__ == "__main__":
    main(*sys.argv[1:3])
