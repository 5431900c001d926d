"""Video files decoded with PyAV (the FFmpeg libraries): exact frame counts, upright RGB
frames in presentation order, threaded decoding, and random access by frame index.

A truncated or corrupt video yields every frame that decodes, then raises `InputError`
("X is truncated or corrupt after frame N"), unless it was opened with `allow_truncated=True`,
in which case iteration simply stops there and `truncated_at` records N. Raising after the last
good frame lets a caller that commits as it goes keep all the work done so far.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import av
import av.container
import av.video
import cv2
import numpy as np
from av.stream import Disposition
from av.video.reformatter import VideoReformatter

from faceforge.errors import InputError
from faceforge.io.source import Frame, FrameSource, SourceInfo, check_every_n

log = logging.getLogger(__name__)

_REPAIR_HINT = (
    "if the file was cut short (interrupted copy or download), fetch it again; otherwise "
    "re-encode it with ffmpeg (ffmpeg -i broken.mp4 fixed.mp4) and use the new file"
)
_NOT_A_VIDEO_HINT = (
    "check that it plays in a media player; if it is damaged or cut short, fetch it again or "
    "re-encode it with ffmpeg"
)
_CLOCKWISE_TURNS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except OSError as exc:
        # PyAV's errors for missing or forbidden files are OSErrors too; check them before the
        # generic FFmpeg failure so the user hears about permissions, not about the format.
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InputError(
                f"cannot read {path}: permission denied",
                hint="check the file's permissions (ls -l) or run as a user who can read it",
            ) from exc
        if exc.errno == errno.ENOENT:
            raise InputError(f"{path} does not exist", hint="check the path") from exc
        if not isinstance(exc, av.error.FFmpegError):
            message = f"cannot read {path}: {exc.strerror or exc}"
            raise InputError(message, hint=_REPAIR_HINT) from exc
        raise InputError(f"{path} is not a video FFmpeg can read", hint=_NOT_A_VIDEO_HINT) from exc
    except av.error.FFmpegError as exc:
        raise InputError(f"{path} is not a video FFmpeg can read", hint=_NOT_A_VIDEO_HINT) from exc


def _pick_video_stream(container: av.container.InputContainer, path: Path) -> av.video.VideoStream:
    for stream in container.streams.video:
        # Audio files carry cover art as a one-picture "video" stream; that is not footage.
        if not stream.disposition & Disposition.attached_pic:
            return stream
    raise InputError(
        f"{path} has no video stream",
        hint="it holds only audio (or cover art); give a video file instead",
    )


def _clockwise_rotation(frame: av.VideoFrame, path: Path) -> int:
    """Clockwise degrees that make the stored picture upright.

    PyAV reports the display matrix as a counter-clockwise angle; the classic `rotate` tag and
    what users see in players is the clockwise turn, so report that.
    """
    clockwise = (-round(frame.rotation)) % 360
    snapped = (round(clockwise / 90) * 90) % 360
    if snapped != clockwise:
        log.warning("%s asks for a %d degree rotation; using %d", path, clockwise, snapped)
    return snapped


def _count_from_index(stream: av.video.VideoStream) -> int | None:
    """Frame count from the container's full sample index (MP4/MOV), or None without one.

    `stream.frames` alone is not trusted: an MP4 edit list can hide leading samples (the
    demuxer marks them discard), so the header says 98 while 95 frames are shown.
    """
    entries = stream.index_entries
    if stream.frames <= 0 or len(entries) != stream.frames:
        return None
    return sum(1 for entry in entries if not entry.is_discard)


def _count_by_demuxing(path: Path, stream_index: int) -> tuple[int, bool, float | None]:
    """Count the video packets without decoding them.

    Also returns whether demuxing broke off on damaged data, and where the last packet ends
    (seconds from the stream start) so the caller can compare it with the declared duration.
    """
    container = _open_container(path)
    count = 0
    end: int | None = None
    broke = False
    try:
        stream = container.streams[stream_index]
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard:
                count += 1
                if packet.pts is not None:
                    packet_end = packet.pts + (packet.duration or 0)
                    end = packet_end if end is None else max(end, packet_end)
    except av.error.FFmpegError:
        broke = True
    finally:
        container.close()
    if end is None or stream.time_base is None:
        return count, broke, None
    return count, broke, float((end - (stream.start_time or 0)) * stream.time_base)


class VideoSource(FrameSource):
    """A video file read with PyAV. Open it with `faceforge.io.open_source`."""

    def __init__(self, path: Path, *, threads: bool = True, allow_truncated: bool = False) -> None:
        self.path = path
        self.threads = threads
        self.allow_truncated = allow_truncated
        self.truncated_at: int | None = None
        self._demux_broke = False
        self._random_access: av.container.InputContainer | None = None
        self._random_access_rgb = VideoReformatter()
        self._pts_table: list[int] | None = None
        self._pts_table_built = False
        self._closed = False
        self.info = self._probe()

    def _probe(self) -> SourceInfo:
        container = _open_container(self.path)
        try:
            stream = _pick_video_stream(container, self.path)
            self._stream_index = stream.index
            try:
                first = next(container.decode(stream), None)
            except av.error.FFmpegError as exc:
                raise InputError(
                    f"{self.path} is not a video FFmpeg can read", hint=_NOT_A_VIDEO_HINT
                ) from exc
            if first is None:
                raise InputError(f"{self.path} holds no video frames", hint=_NOT_A_VIDEO_HINT)
            rotation = _clockwise_rotation(first, self.path)
            frame_count = _count_from_index(stream)
            rate = stream.average_rate or stream.guessed_rate
            if stream.duration is not None and stream.time_base is not None:
                duration_s: float | None = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration_s = container.duration / av.time_base
            else:
                duration_s = None
            has_audio = len(container.streams.audio) > 0
            codec = stream.codec_context.name
            width, height = first.width, first.height
        finally:
            container.close()
        if frame_count is None:
            frame_count, self._demux_broke, end_s = _count_by_demuxing(
                self.path, self._stream_index
            )
            # Without a full index (MKV, WebM, AVI without idx1, GIF) a file cut short just
            # ends early. Only warn: the declared duration covers every stream, and audio often
            # outlasts the video a little, so raising here would reject good files.
            if end_s is not None and duration_s and duration_s - end_s > max(1.0, 0.1 * duration_s):
                log.warning(
                    "%s: its video ends at %.1f s but the file declares %.1f s; "
                    "it may be truncated",
                    self.path,
                    end_s,
                    duration_s,
                )
        if rotation in (90, 270):
            width, height = height, width
        return SourceInfo(
            path=self.path,
            kind="video",
            frame_count=frame_count,
            fps=float(rate) if rate else None,
            width=width,
            height=height,
            rotation=rotation,
            codec=codec,
            duration_s=duration_s,
            has_audio=has_audio,
            stem=self.path.stem,
        )

    # -- decoding -------------------------------------------------------------------------

    def _open_for_decoding(self) -> tuple[av.container.InputContainer, av.video.VideoStream]:
        if self._closed:
            raise ValueError(f"{self.path} was closed")
        container = _open_container(self.path)
        stream = container.streams[self._stream_index]
        if self.threads:
            stream.codec_context.thread_type = "AUTO"
        return container, stream

    def _to_frame(self, frame: av.VideoFrame, index: int, rgb: VideoReformatter) -> Frame:
        # A reformatter kept across frames reuses its swscale context; frame.to_ndarray(format=)
        # builds a new one per frame, which made conversion ten times slower than decoding.
        image = rgb.reformat(frame, format="rgb24").to_ndarray()
        turn = _CLOCKWISE_TURNS.get(self.info.rotation)
        if turn is not None:
            image = cv2.rotate(image, turn)
        return Frame(
            index=index,
            name=f"{self.info.stem}_{index:06d}",
            image=np.ascontiguousarray(image),
            timestamp_s=frame.time,
        )

    def _damaged(self, frames_read: int, cause: Exception | None) -> None:
        """Stop at damage: raise, or with allow_truncated record where the video ends."""
        if self.allow_truncated:
            self.truncated_at = frames_read
            self.info = replace(self.info, frame_count=frames_read)
            log.warning("%s is truncated or corrupt after frame %d", self.path, frames_read)
            return
        raise InputError(
            f"{self.path} is truncated or corrupt after frame {frames_read - 1} "
            f"({frames_read} of {self.info.frame_count} frames read)",
            hint=_REPAIR_HINT,
        ) from cause

    def iter_frames(self, skip: set[int] | None = None, every_n: int = 1) -> Iterator[Frame]:
        # Checked and opened here, not inside the generator, so mistakes surface at the call.
        check_every_n(every_n)
        container, stream = self._open_for_decoding()
        return self._decode(container, stream, skip or frozenset(), every_n)

    def _decode(
        self,
        container: av.container.InputContainer,
        stream: av.video.VideoStream,
        skipped: set[int] | frozenset[int],
        every_n: int,
    ) -> Iterator[Frame]:
        rgb = VideoReformatter()
        try:
            decoded = container.decode(stream)
            index = 0
            while True:
                # Only the decoder call is guarded: an exception thrown into this generator
                # by the consumer must not be mistaken for damage in the file.
                try:
                    frame = next(decoded)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    self._damaged(index, exc)
                    return
                # Skipped frames must still be decoded (later frames depend on them), but the
                # RGB conversion, the costly part for the caller, is left out.
                if index not in skipped and index % every_n == 0:
                    yield self._to_frame(frame, index, rgb)
                index += 1
            if index < self.info.frame_count or self._demux_broke:
                self._damaged(index, None)
            elif index > self.info.frame_count:
                log.warning(
                    "%s decoded %d frames but announced %d", self.path, index, self.info.frame_count
                )
        finally:
            container.close()

    # -- random access --------------------------------------------------------------------

    def _presentation_pts(self) -> list[int] | None:
        """Presentation timestamps of every frame, by index; None if the file lacks them."""
        if not self._pts_table_built:
            self._pts_table_built = True
            container = _open_container(self.path)
            try:
                stream = container.streams[self._stream_index]
                pts = [
                    packet.pts
                    for packet in container.demux(stream)
                    if packet.size and not packet.is_discard
                ]
            except av.error.FFmpegError:
                pts = []
            finally:
                container.close()
            if len(pts) == self.info.frame_count and None not in pts:
                self._pts_table = sorted(pts)  # type: ignore[arg-type]
        return self._pts_table

    def read_frame(self, index: int) -> Frame:
        if not 0 <= index < self.info.frame_count:
            raise IndexError(f"frame {index} is outside 0..{self.info.frame_count - 1}")
        table = self._presentation_pts()
        if table is not None:
            if self._random_access is None:
                self._random_access, _ = self._open_for_decoding()
            container = self._random_access
            stream = container.streams[self._stream_index]
            target = table[index]
            try:
                container.seek(target, backward=True, any_frame=False, stream=stream)
                for frame in container.decode(stream):
                    if frame.pts is None or frame.pts > target:
                        break
                    if frame.pts == target:
                        return self._to_frame(frame, index, self._random_access_rgb)
            except av.error.FFmpegError:
                log.debug("seek to frame %d of %s failed", index, self.path)
        # Exact by construction, just slow: used when the file has no usable timestamps or
        # the frame cannot be reached from the keyframe before it.
        for frame in self.iter_frames(skip=set(range(index)), every_n=1):
            return frame
        raise InputError(f"{self.path} has no frame {index}", hint=_REPAIR_HINT)

    def close(self) -> None:
        self._closed = True
        if self._random_access is not None:
            self._random_access.close()
            self._random_access = None
