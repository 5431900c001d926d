"""faceforge: swap faces in video. Extract, train, convert; from a CLI or a web GUI."""

__version__ = "0.1.0"
