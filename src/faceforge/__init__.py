"""faceforge: swap faces in video. Extract, train, convert, from the command line."""

__version__ = "0.1.0"
