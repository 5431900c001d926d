"""Media files looked into and recombined without re-encoding the picture: what a file holds
(`describe_media`), and a video given another file's audio (`mux_audio`).

PyAV is imported when called, so importing this module stays light.
"""

from __future__ import annotations

import heapq
import os
from pathlib import Path
from typing import Any

from faceforge.errors import InputError
from faceforge.io import audio
from faceforge.io.files import partial_path, remove_partial
from faceforge.io.frames import open_source
from faceforge.io.video_out import CONTAINER_FORMATS, _packet_time, _video_packets, source_rate


def describe_media(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a video or image folder holds: the picture (as `SourceInfo` has it) and, for a
    file, each audio stream's codec, rate, channels and duration."""
    with open_source(path) as source:
        info = source.info
    out: dict[str, Any] = {
        "path": str(info.path), "kind": info.kind, "frames": info.frame_count,
        "fps": info.fps, "width": info.width, "height": info.height,
        "rotation": info.rotation, "codec": info.codec, "duration_s": info.duration_s,
        "audio": [],
    }
    if info.kind == "video":
        import av

        with av.open(str(info.path), metadata_errors="ignore") as container:
            out["container"] = container.format.name
            out["bit_rate"] = container.bit_rate
            for stream in container.streams.audio:
                duration = (float(stream.duration * stream.time_base)
                            if stream.duration is not None and stream.time_base else None)
                context = stream.codec_context
                out["audio"].append({
                    "codec": audio.audio_codec(stream), "sample_rate": context.sample_rate,
                    "channels": context.channels if hasattr(context, "channels")
                    else context.layout.nb_channels,
                    "duration_s": duration})
    return out


def _audio_start(path: Path) -> float:
    """Where the audio of `path` is measured from: its first video frame, if it has video
    (as the source's own audio is laid against its frames), else 0."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        has_video = bool(container.streams.video)
    return audio.first_frame_time(path) if has_video else 0.0


def mux_audio(video_path: str | os.PathLike[str], audio_path: str | os.PathLike[str],
              output_path: str | os.PathLike[str], container: str = "mp4") -> None:
    """Write `output_path`: the video stream of `video_path` (packets copied) with the first
    audio stream of `audio_path`, cut or padded with silence to the video's length and encoded
    as AAC. Written under a partial name and renamed into place; removed on any failure."""
    import av

    video_path, audio_path, final = Path(video_path), Path(audio_path), Path(output_path)
    with open_source(video_path) as source:
        info = source.info
    rate = source_rate(info, None)
    try:
        with av.open(str(audio_path), metadata_errors="ignore") as probe:
            if not probe.streams.audio:
                raise InputError(f"{audio_path} has no audio", "pass a file with sound")
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot read {audio_path}: {exc}", "pass a media file") from exc
    shift_s = _audio_start(audio_path)
    partial = partial_path(final)
    try:
        with (
            av.open(str(audio_path), metadata_errors="ignore") as sound,
            av.open(str(video_path)) as video,
            av.open(str(partial), mode="w", format=CONTAINER_FORMATS[container],
                    options={"movflags": "+faststart"} if container == "mp4" else {}) as output,
        ):
            video_in = video.streams.video[0]
            video_out = output.add_stream_from_template(video_in)
            audio_out, audio_packets = audio.cut_audio(
                sound, sound.streams.audio[0], output, [[0, info.frame_count]], rate, shift_s)
            for packet, stream in heapq.merge(
                ((packet, video_out) for packet in _video_packets(video, video_in)),
                ((packet, audio_out) for packet in audio_packets),
                key=lambda item: _packet_time(item[0]),
            ):
                packet.stream = stream
                output.mux(packet)
        os.replace(partial, final)
    except BaseException:
        remove_partial(partial)
        raise
