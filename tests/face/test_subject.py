"""Following the subject among several faces (pure logic, synthetic detections)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.face.subject import PATCH, Face, SubjectTracker

RNG = np.random.default_rng(0)


def desc(seed: int, noise: float = 0.0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=PATCH * PATCH)
    v += noise * RNG.normal(size=v.size)
    v -= v.mean()
    return (v / np.linalg.norm(v)).astype(np.float32)


def face(cx, cy, size, who=1, noise=0.1) -> Face:
    box = np.array([cx - size / 2, cy - size / 2, size, size], np.float32)
    return Face(box, np.zeros((6, 2), np.float32), 0.9, desc(who, noise))


def run(tracker: SubjectTracker, frames: list[list[Face]]) -> list[int | None]:
    out = []
    for i, faces in enumerate(frames):
        out += tracker.push(i, faces)
    out += tracker.finish()
    assert [f for f, _ in out] == list(range(len(frames)))  # one decision per frame, in order
    return [i for _, i in out]


def test_larger_face_appearing_later_does_not_take_over():
    frames = []
    for i in range(60):
        faces = [face(100 + i, 120, 50, who=1)]
        if i >= 20:  # a bigger face (a trailer on a screen) appears, listed first
            faces.insert(0, face(300, 100, 120, who=2))
        frames.append(faces)
    got = run(SubjectTracker(), frames)
    assert got[:20] == [0] * 20
    assert got[20:] == [1] * 40


def test_initial_choice_is_the_persistent_face_not_the_largest():
    frames = []
    for i in range(30):
        faces = [face(100, 120, 50, who=1)]
        if i % 6 == 0:
            faces.append(face(300, 100, 120, who=2))
        frames.append(faces)
    got = run(SubjectTracker(init_frames=15), frames)
    assert got == [0] * 30


@pytest.mark.parametrize(("subject", "x"), [("left", 80), ("right", 260)])
def test_left_right_subjects(subject, x):
    frames = [[face(260, 120, 60, who=2), face(80, 120, 60, who=1)] for _ in range(25)]
    got = run(SubjectTracker(subject=subject), frames)
    want = 1 if x == 80 else 0
    assert got == [want] * 25


def test_subject_absent_other_face_not_taken():
    frames = []
    for i in range(50):
        faces = []
        if i < 20 or i >= 35:
            faces.append(face(100, 120, 50, who=1))
        if i >= 15:
            faces.append(face(300, 120, 50, who=2))  # someone else, elsewhere
        frames.append(faces)
    got = run(SubjectTracker(), frames)
    assert got[:20] == [0] * 20
    assert got[20:35] == [None] * 15
    assert got[35:] == [0] * 15


def test_subject_refound_elsewhere_by_appearance():
    frames = []
    for i in range(50):
        if i < 20:
            frames.append([face(100, 120, 50, who=1)])
        elif i < 30:
            frames.append([])
        else:  # back, far from where it left, beside a stranger
            frames.append([face(250, 150, 50, who=3), face(400, 120, 55, who=1)])
    got = run(SubjectTracker(), frames)
    assert got[20:30] == [None] * 10
    assert got[30:] == [1] * 20


def test_no_face_at_all():
    assert run(SubjectTracker(), [[] for _ in range(40)]) == [None] * 40


def test_short_video_decided_at_the_end():
    assert run(SubjectTracker(init_frames=15), [[face(100, 100, 40)] for _ in range(5)]) == [0] * 5


def test_rejects_bad_subject():
    with pytest.raises(ValueError, match="subject"):
        SubjectTracker(subject="middle")


def test_look_alike_required_after_a_gap_even_nearby():
    frames = []
    for i in range(45):
        faces = []
        if i < 15 or i >= 30:
            faces.append(face(100, 120, 50, who=1))
        if i >= 10:  # someone else close by (1.4 face sizes away)
            faces.append(face(170, 120, 45, who=2))
        frames.append(faces)
    got = run(SubjectTracker(), frames)
    assert got[:10] == [0] * 10 and got[10:15] == [0] * 5
    assert got[15:30] == [None] * 15
    assert got[30:] == [0] * 15


def test_wrong_turn_is_undone():
    # At frame 20 a stranger takes the subject's exact place while the subject jumps away:
    # position alone follows the stranger; the anchor brings the tracker back.
    frames = []
    for i in range(50):
        if i < 20:
            frames.append([face(100, 120, 50, who=1)])
        else:
            frames.append([face(100, 120, 50, who=2), face(300, 120, 50, who=1)])
    got = run(SubjectTracker(), frames)
    assert got[:20] == [0] * 20
    assert got[20 + SubjectTracker.SWITCH_FRAMES :] == [1] * (30 - SubjectTracker.SWITCH_FRAMES)
