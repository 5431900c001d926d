"""Measured limits that several parts of faceforge share, each with where it comes from."""

#: dlib's published limit for its 128-d face descriptor: two faces closer than this are very
#: likely the same person (99.38% on LFW at this threshold).
SAME_PERSON_DISTANCE = 0.6

#: Landmarks whose aligned points lie further than this from the mean face (mean distance, in
#: face widths) are not a face: a landmarker fed a hand or a background patch.
LANDMARK_RESIDUAL_LIMIT = 0.12
