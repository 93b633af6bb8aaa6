"""The synthetic demo data set: real face photographs animated into an Aff-Wild-layout set.

- ``faces``     the source photographs, their MediaPipe landmarks, faceless scenes
- ``traces``    smooth, positively skewed valence/arousal traces
- ``rig``       the expression warp (displacement bases driven by valence/arousal)
- ``render``    one video: camera, lighting, noise, occlusions, cut-aways, distractor
- ``generate``  the whole set: planning, parallel rendering, labels, ground truth, README
"""

from pipeline.demo.generate import generate_demo

__all__ = ["generate_demo"]
