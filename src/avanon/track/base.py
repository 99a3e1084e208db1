"""Tracker protocol.

A tracker receives one frame's detections at a time, in frame order, and releases *final*
detections for earlier frames once it has seen enough of the future (``lookahead`` frames). The
pipeline holds the decoded frames until their final detections come out, so memory stays bounded
by ``lookahead`` frames.
"""

from __future__ import annotations

from typing import Collection, Protocol, runtime_checkable

from ..detections import Detections

__all__ = ["Tracker", "PassThroughTracker"]


@runtime_checkable
class Tracker(Protocol):
    #: The most frames :meth:`update` may hold back before releasing them.
    lookahead: int

    def update(self, dets: Detections, *, observed: bool | Collection[int] = True,
               cut: bool = False) -> list[Detections]:
        """Feed the next frame.

        Args:
            dets: detections of the next frame (``frame_index`` one more than the previous call).
            observed: False when the detector did not run on this frame (``--detect-every``):
                no detection there is not evidence that the object left. Or the collection of
                class ids the detector examined (classes may be detected at different rates).
            cut: True when a shot cut starts at this frame (tracks must not cross it).

        Returns:
            Final detections for zero or more frames, oldest first, with no gaps in frame
            order across calls.
        """
        ...

    def flush(self) -> list[Detections]:
        """Release everything still held (end of stream)."""
        ...


class PassThroughTracker:
    """No tracking: every frame's detections are final as they are. Holds nothing back."""

    lookahead = 0

    def update(self, dets: Detections, *, observed: bool | Collection[int] = True,
               cut: bool = False) -> list[Detections]:
        return [dets]

    def flush(self) -> list[Detections]:
        return []
