"""Real clips: no faces on textures or lettering, short blips dropped, real faces kept.

The "no person" clip is an animated title over a sky gradient that gets blurred at the end
(real lettering rendered by OpenCV); at a detector confidence of 0.3 MediaPipe's detector
does put boxes on it — the same false positive the issue saw at the end of a real title clip.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.config import Params
from pipeline.face.detect import SubjectDetector
from pipeline.face.temporal import Persistence
from pipeline.face.tracker import face_frames
from tests.helpers.faces import canvas, paste


def sky(w: int = 320, h: int = 240) -> np.ndarray:
    y = np.linspace(0, 1, h)[:, None, None]
    top, bot = np.array([200, 110, 60]), np.array([245, 220, 200])  # RGB
    return np.broadcast_to((1 - y) * top + y * bot, (h, w, 3)).astype(np.uint8).copy()


def title_clip(n: int = 40) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = sky()
        for k, txt in enumerate(["AFFWILD", "O o O", "( ^ _ ^ )", "8 = 8"]):
            cv2.putText(f, txt, (20 + 3 * i - 40 * k, 60 + 50 * k), cv2.FONT_HERSHEY_DUPLEX,
                        1.0 + 1.5 * i / n, (250, 250, 250), 3, cv2.LINE_AA)  # fmt: skip
        blur = 1 + 2 * max(0, i - n + 8)
        frames.append(cv2.GaussianBlur(f, (0, 0), blur) if blur > 1 else f)
    return frames


def params(**detect):
    p = Params()
    return p.model_copy(update={"detect": p.detect.model_copy(update=detect)})


def boxes(frames, cfg) -> list[int]:
    with SubjectDetector(cfg) as d:
        out = []
        for i, f in enumerate(frames):
            out += d.push(i, f)
        out += d.finish()
    return [x.frame for x in out if x.box is not None]


def faces_reported(frames, p) -> list[int]:
    return [ff.frame for ff in face_frames(frames, p, 25.0) if ff.face]


@pytest.mark.parametrize("min_run", [1, 5])
def test_no_face_reported_on_a_title_over_sky(min_run):
    frames = title_clip()
    p = params(min_confidence=0.3, min_run=min_run)
    found = boxes(frames, p.detect)
    assert found, "the clip should trigger the detector (else this test cannot fail)"
    assert faces_reported(frames, p) == []  # the mesh never confirms: no crop, no prediction


def test_short_blips_dropped_by_persistence():
    frames = title_clip()
    assert len(boxes(frames, params(min_confidence=0.3, min_run=1).detect)) > len(
        boxes(frames, params(min_confidence=0.3, min_run=5).detect)
    )


def talking(face: np.ndarray, n: int) -> list[np.ndarray]:
    """The face with its lower third stretched and released (jaw moving), head bobbing."""
    out = []
    h = face.shape[0]
    for i in range(n):
        f = face.copy()
        open_ = int(6 * (1 + np.sin(i / 2)))
        low = f[2 * h // 3 :]
        f[2 * h // 3 :] = cv2.resize(low, (low.shape[1], low.shape[0] + open_))[: low.shape[0]]
        c = canvas()
        paste(c, f, 80 + int(5 * np.sin(i / 5)), 40, 160)
        out.append(c)
    return out


def test_talking_person_found_in_every_frame(faces):
    frames = talking(faces["astronaut"], 30)
    assert faces_reported(frames, Params()) == list(range(30))


def test_face_leaving_and_entering(faces):
    xs = [80 + 12 * min(i, 50 - i) for i in range(50)]  # slides out to the right and back
    frames = [paste(canvas(), faces["astronaut"], x, 40, 150) for x in xs]
    got = set(faces_reported(frames, Params()))
    inside = {i for i, x in enumerate(xs) if x + 150 <= 320}
    gone = {i for i, x in enumerate(xs) if x >= 320}
    assert gone and not (got & gone)
    assert inside <= got  # found again on re-entry


def test_short_clip_keeps_its_face(faces):
    frame = paste(canvas(), faces["astronaut"], 80, 40, 160)
    assert faces_reported([frame], Params()) == [0]
    assert faces_reported([frame] * 3, Params()) == [0, 1, 2]


def test_persistence_unit():
    def run(pattern, min_run=3, bridge=1):
        p = Persistence(min_run, bridge)
        out = []
        for i, c in enumerate(pattern):
            out += p.push(i, c == "F")
        out += p.finish()
        assert [i for i, _ in out] == list(range(len(pattern)))
        return "".join("F" if k else "." for _, k in out)

    assert run("..FF....FFF...") == "........FFF..."
    assert run("F.F.F....") == "F.F.F...."  # gaps of 1 bridged: one episode of 3
    assert run("F..F..F..") == "........."  # gaps of 2 split it
    assert run("FF") == "FF"  # the whole clip is one short run: kept
    assert run("FFFFF", min_run=1) == "FFFFF"


def test_stage_tables_reject_boxes_the_mesh_never_confirms(tmp_path):
    """The same through the detect -> landmarks -> crop stages' own functions and tables."""
    from pipeline.face import tables
    from pipeline.face.crop import CROP
    from pipeline.face.jobs import VideoJob
    from pipeline.face.landmarks import LANDMARKS
    from tests.helpers.faces import write_video

    frames = title_clip()
    video = write_video(tmp_path / "title.mp4", frames, fps=25.0)
    p = params(min_confidence=0.3)
    job = {k: VideoJob(video_id="title", source=str(video), n_frames=len(frames), fps=25.0,
                       subject="", out=str(tmp_path / k / "title.parquet"),
                       inputs={"boxes": str(tmp_path / "boxes" / "title.parquet"),
                               "landmarks": str(tmp_path / "landmarks" / "title.parquet")})
           for k in ("boxes", "landmarks", "crops")}  # fmt: skip
    from pipeline.face.detect import DETECT

    assert DETECT.run(job["boxes"], p.detect).faces > 0  # boxes on the lettering...
    lm = LANDMARKS.run(job["landmarks"], p.landmarks)
    assert lm.faces == 0 and lm.statuses["rejected"] > 0  # ...never a face to the mesh
    assert CROP.run(job["crops"], p.crop).faces == 0  # ...so no crops
    c = tables.read_table(job["crops"].out, tables.CROPS)
    assert not c["valid"].any()
