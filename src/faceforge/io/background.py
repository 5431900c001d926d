"""Decoding on a background thread, so a pipeline's own work overlaps with reading frames."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from faceforge.io.source import Frame, FrameSource


def background_frames(
    source: FrameSource,
    halt: threading.Event,
    skip: set[int] | None = None,
    every_n: int = 1,
    buffer: int = 32,
) -> Iterator[Frame]:
    """Frames of `source` decoded ahead on a daemon thread (at most `buffer` waiting).

    Setting `halt` stops the decoder; an error while decoding is raised here, in the consumer,
    after the frames decoded before it.
    """
    frames: queue.Queue = queue.Queue(maxsize=buffer)
    end = object()

    def produce() -> None:
        try:
            for frame in source.iter_frames(skip=skip, every_n=every_n):
                while not halt.is_set():
                    try:
                        frames.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if halt.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            frames.put(exc)
        frames.put(end)

    threading.Thread(target=produce, name="faceforge-decode", daemon=True).start()
    while True:
        item = frames.get()
        if item is end:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
