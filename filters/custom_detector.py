"""Use your own detector with avanon's tracking, masking and media handling.

Any object with ``detect(frames, indices) -> list[avanon.Detections]`` (boxes in the frame's own
pixel coordinates) is a detector. Here: a toy one that reports a fixed region, e.g. a dashboard
display that shows the car's GPS position.

    python filters/custom_detector.py in.mp4 out.mp4
"""

from __future__ import annotations

import sys

import avanon


class FixedRegion:
    def __init__(self, box):
        self.box = box

    def detect(self, frames, indices):
        return [avanon.Detections.from_boxes([self.box], class_ids=1, frame_index=i, pts=f.pts)
                for f, i in zip(frames, indices)]


if __name__ == "__main__":
    src, dst = sys.argv[1:3]
    summary = avanon.anonymize(src, dst, avanon.Config(), detector=FixedRegion([0, 0, 320, 60]))
    print(summary.line())
