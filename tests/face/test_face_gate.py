"""A face must look like a face: no face on title lettering, real faces still found.

The title clips (``tests/helpers/titles.py``: large words over skies and gradients, panning
and zooming) go through ``affwild predict``'s streaming pass (detect -> landmarks -> crop, the
stages' own per-frame code) and through the stages' functions and tables. Without the texture
check (``landmarks.min_texture: 0``) the mesh confirms faces on three of them, so the tests can
fail (with the appearance check, ``landmarks.min_appearance``, off as well: it holds them too).
Real faces: the test photos pasted in a frame, and two development photos (HELEN, when
``../shared/data`` is there).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.config import Params
from pipeline.face.fit_map import annotated_photos, dev_folder
from pipeline.face.plausible import texture_share
from pipeline.face.tracker import face_frames
from tests.helpers.faces import canvas, paste
from tests.helpers.titles import render, titles

# the three clips where the mesh confirms a face on the letters without the texture check
# ("aa" over a radial gradient zooming, "affwild" panning over a pale sky, "GO 8" in script
# over clouds), and three more
HARD = [9, 20, 28]
EASY = [1, 14, 25]


def params(**landmarks) -> Params:
    p = Params()
    return p.model_copy(update={"landmarks": p.landmarks.model_copy(update=landmarks)})


def faces_reported(frames, p) -> list[int]:
    return [ff.frame for ff in face_frames(frames, p, 25.0) if ff.face]


@pytest.fixture(scope="module")
def title_clips():
    all_titles = titles()
    return {all_titles[i].name: render(all_titles[i]) for i in HARD + EASY}


def test_titles_give_no_face(title_clips):
    for name, frames in title_clips.items():
        assert faces_reported(frames, Params()) == [], name


def test_blurred_letters_at_a_low_detector_confidence():
    # "aa" growing and blurring away (Gaussian sigma up to ~4 px): at detect.min_confidence 0.3
    # the mesh sees a face in its most blurred frame; a smooth blur must not count as detail
    frames = render(titles()[19])
    p = params()
    p = p.model_copy(update={"detect": p.detect.model_copy(update={"min_confidence": 0.3})})
    assert faces_reported(frames, p) == []


def test_without_the_texture_check_the_mesh_takes_letters_for_faces(title_clips):
    # (the appearance check, landmarks.min_appearance, off too: it holds them as well)
    names, off = list(title_clips), params(min_texture=0, min_appearance=0)
    fooled = [n for n in names[: len(HARD)] if faces_reported(title_clips[n], off)]
    assert len(fooled) >= 2, fooled


def test_stage_tables_have_no_face_on_a_title(tmp_path, title_clips):
    from pipeline.face.crop import CROP
    from pipeline.face.detect import DETECT
    from pipeline.face.jobs import VideoJob
    from pipeline.face.landmarks import LANDMARKS
    from tests.helpers.faces import write_video

    frames = title_clips[titles()[HARD[0]].name]
    video = write_video(tmp_path / "title.mp4", frames, fps=25.0)
    job = {k: VideoJob(video_id="title", source=str(video), n_frames=len(frames), fps=25.0,
                       subject="", out=str(tmp_path / k / "title.parquet"),
                       inputs={"boxes": str(tmp_path / "boxes" / "title.parquet"),
                               "landmarks": str(tmp_path / "landmarks" / "title.parquet")})
           for k in ("boxes", "landmarks", "crops")}  # fmt: skip
    p = Params()
    assert DETECT.run(job["boxes"], p.detect).faces > 0  # the detector boxes the letters
    assert LANDMARKS.run(job["landmarks"], p.landmarks).faces == 0
    assert CROP.run(job["crops"], p.crop).faces == 0


def test_real_faces_have_texture_and_are_found(faces):
    for name, face in faces.items():
        frames = [paste(canvas(), face, 80 + 2 * i, 40, 160) for i in range(8)]
        assert faces_reported(frames, Params()) == list(range(8)), name


def test_texture_share_separates_a_face_from_flat_fill(faces):
    frame = paste(canvas(), faces["astronaut"], 80, 40, 160)
    pts = next(ff.points for ff in face_frames([frame], Params(), 25.0) if ff.face)
    assert texture_share(frame, pts) > 0.6
    flat = np.full_like(frame, 200)
    cv2.circle(flat, (160, 120), 40, (20, 20, 20), -1)
    assert texture_share(flat, pts) < 0.3


@pytest.mark.skipif(dev_folder() is None, reason="development photos (../shared/data) absent")
def test_development_photos_still_found():
    for _, img, _ in annotated_photos(dev_folder())[:2]:
        rgb = cv2.cvtColor(cv2.imread(str(img)), cv2.COLOR_BGR2RGB)
        assert faces_reported([rgb] * 3, Params()) == [0, 1, 2], img


def test_detector_decides_frames_in_order_once():
    # a clip where the tracker holds every frame until the end (boxes only late, on letters):
    # its decisions must still come in frame order, each frame once (the landmarks follower
    # tracks from one frame to the next and confirms faces per episode)
    from pipeline.face.detect import SubjectDetector

    frames = render(titles()[19])
    p = Params()
    cfg = p.detect.model_copy(update={"min_confidence": 0.3})
    with SubjectDetector(cfg) as det:
        out = []
        for i, f in enumerate(frames):
            out += det.push(i, f)
        out += det.finish()
    assert [d.frame for d in out] == list(range(len(frames)))
    assert any(d.box is not None for d in out)
