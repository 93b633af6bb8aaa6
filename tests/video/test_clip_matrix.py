"""Real clips of every kind through the reader (and the face pass where a face matters).

Fixtures are written with OpenCV, and with the FFmpeg binary that ``imageio-ffmpeg`` ships
where OpenCV cannot write the property: a phone-style rotation flag, a variable frame rate, an
audio stream longer than the video, AV1 (which OpenCV's build cannot decode: those files are
read through that FFmpeg binary). The long-video case (>= 30 min, memory
flat) is a benchmark (``benchmarks/bench_face.py --long-minutes 30``), not a test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config import Params
from pipeline.face.tracker import face_frames
from pipeline.video.reader import VideoError, iter_frames, iter_timed_frames, probe
from tests.helpers.repo import REPO, tool_env


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run([_ffmpeg(), "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[20:300, 90:370])


def write(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    colour = frames[0].ndim == 3
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h), colour)
    assert vw.isOpened()
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR) if colour else f)
    vw.release()
    return path


def portrait(face: np.ndarray, w: int = 240, h: int = 320) -> np.ndarray:
    f = np.full((h, w, 3), 120, np.uint8)
    f[60:220, 40:200] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_AREA)
    return f


def n_faces(frames, fps: float = 25.0) -> int:
    return sum(ff.face for ff in face_frames(frames, Params(), fps))


def test_rotation_flag_gives_upright_frames(tmp_path, astronaut):
    """A phone's portrait clip: stored sideways (landscape) with a 90-degree display matrix."""
    upright = portrait(astronaut)  # 240 x 320 (w x h)
    stored = cv2.rotate(upright, cv2.ROTATE_90_CLOCKWISE)  # what the phone's sensor wrote
    src = write(tmp_path / "stored.mp4", [stored] * 6)
    mov = tmp_path / "phone.mov"
    ffmpeg("-display_rotation", "90", "-i", str(src), "-c", "copy", str(mov))
    info = probe(mov)
    assert (info.width, info.height) == (240, 320)
    frames = list(iter_frames(mov))
    assert len(frames) == 6 and frames[0].shape == (320, 240, 3)
    diff = np.abs(frames[0].astype(int) - upright.astype(int)).mean()
    assert diff < 8, f"frame not upright (mean abs diff {diff:.1f})"
    assert n_faces(frames) == 6


def test_variable_frame_rate_time_stamps_from_the_container(tmp_path, astronaut):
    src = write(tmp_path / "cfr.mp4", [portrait(astronaut)] * 10)
    vfr = tmp_path / "vfr.mp4"
    # frames 0-4 every 40 ms, then every 200 ms (a phone slowing down in low light)
    ffmpeg("-i", str(src), "-vf", "setpts='if(lt(N,5),N*0.04,0.2+(N-5)*0.2)/TB'",
           "-fps_mode", "passthrough", "-c:v", "mpeg4", str(vfr))  # fmt: skip
    times = [t for t, _ in iter_timed_frames(vfr)]
    np.testing.assert_allclose(times, [0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.4, 0.6, 0.8, 1.0],
                               atol=1e-3)  # fmt: skip
    info = probe(vfr)
    assert info.variable_rate and info.n_frames == 10
    assert info.fps == pytest.approx(9 / 1.0, rel=1e-3)  # the mean rate


@pytest.mark.parametrize("rotation", [0, 90])
def test_av1_is_read_through_ffmpeg(tmp_path, astronaut, rotation):
    """AV1 (YouTube, recent phones): OpenCV's bundled FFmpeg finds no frame in it; the reader
    hands it to FFmpeg's own binary, with the same frames, time stamps and rotation rule."""
    upright = portrait(astronaut)  # 240 x 320 (w x h)
    stored = upright if rotation == 0 else cv2.rotate(upright, cv2.ROTATE_90_CLOCKWISE)
    src = write(tmp_path / "src.mp4", [stored] * 7)
    av1 = tmp_path / "clip.mkv"
    ffmpeg("-display_rotation", str(rotation), "-i", str(src), "-c:v", "libsvtav1", str(av1))
    cap = cv2.VideoCapture(str(av1))
    assert not cap.grab()  # OpenCV alone: no frame (if this changes, the fallback is moot)
    cap.release()
    info = probe(av1)
    assert (info.width, info.height, info.n_frames) == (240, 320, 7)
    timed = list(iter_timed_frames(av1))
    np.testing.assert_allclose([t for t, _ in timed], np.arange(7) * 0.04, atol=1e-3)
    frame = timed[0][1]
    assert frame.shape == (320, 240, 3)
    diff = np.abs(frame.astype(int) - upright.astype(int)).mean()
    assert diff < 8, f"frame not upright or not this clip's (mean abs diff {diff:.1f})"
    assert n_faces([f for _, f in timed]) == 7
    # OpenCV's FFmpeg failing on it logs "[av1 @ 0x...] Failed to get pixel format" and more
    # to fd 2 unless silenced (pipeline.quiet): a fresh process reading it prints nothing.
    code = f"from pipeline.video.reader import probe; probe({str(av1)!r})"
    env = {k: v for k, v in tool_env().items() if k != "OPENCV_FFMPEG_LOGLEVEL"}  # as a user's
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0 and res.stderr == "", res.stderr[-500:]


def test_audio_longer_than_video(tmp_path, astronaut):
    src = write(tmp_path / "v.mp4", [portrait(astronaut)] * 8)
    av = tmp_path / "av.mp4"
    ffmpeg("-i", str(src), "-f", "lavfi", "-i", "sine=duration=3", "-c:v", "copy",
           "-c:a", "aac", str(av))  # fmt: skip
    info = probe(av)
    assert info.n_frames == 8 and info.fps == pytest.approx(25.0)
    assert len(list(iter_frames(av))) == 8
    assert [round(t, 3) for t, _ in iter_timed_frames(av)][-1] == pytest.approx(0.28)


def test_4k(tmp_path, astronaut):
    # a close-up (face ~600 px): the short-range detector sees the frame at 128 px
    f = np.full((2160, 3840, 3), 120, np.uint8)
    f[180:1980, 1020:2820] = cv2.resize(astronaut, (1800, 1800), interpolation=cv2.INTER_CUBIC)
    path = write(tmp_path / "uhd.mp4", [f] * 3)
    info = probe(path)
    assert (info.width, info.height, info.n_frames) == (3840, 2160, 3)
    assert n_faces(iter_frames(path)) == 3


def test_greyscale_video(tmp_path, astronaut):
    grey = cv2.cvtColor(portrait(astronaut), cv2.COLOR_RGB2GRAY)
    path = write(tmp_path / "grey.mp4", [grey] * 6)
    frames = list(iter_frames(path))
    assert frames[0].shape == (320, 240, 3) and frames[0].dtype == np.uint8
    assert n_faces(frames) == 6


def test_one_frame_video(tmp_path, astronaut):
    path = write(tmp_path / "one.mp4", [portrait(astronaut)])
    assert probe(path).n_frames == 1
    assert n_faces(iter_frames(path)) == 1


def test_image_folder(tmp_path, astronaut):
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(5):
        cv2.imwrite(str(d / f"{i:05d}.png"), cv2.cvtColor(portrait(astronaut), cv2.COLOR_RGB2BGR))
    (d / "notes.txt").write_text("not a frame")
    info = probe(d, default_fps=30.0)
    assert (info.n_frames, info.fps) == (5, 30.0)
    assert [round(t, 4) for t, _ in iter_timed_frames(d, 30.0)] == [0, 0.0333, 0.0667, 0.1, 0.1333]
    assert n_faces(iter_frames(d)) == 5
    (d / "00002.png").write_bytes(b"broken")
    with pytest.raises(VideoError, match=r"00002\.png: frame 2 cannot be decoded"):
        list(iter_frames(d))


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 50])
def test_not_a_video_is_one_line_naming_the_file(tmp_path, content):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(content)
    with pytest.raises(VideoError) as err:
        probe(bad)
    msg = str(err.value)
    assert "clip.mp4" in msg and "\n" not in msg
