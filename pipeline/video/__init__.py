"""Frame-by-frame access to video files and frame folders."""

from pipeline.video.reader import VideoError, VideoInfo, frame_files, iter_frames, probe

__all__ = ["VideoError", "VideoInfo", "frame_files", "iter_frames", "probe"]
