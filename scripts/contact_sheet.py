"""A contact sheet of a faces folder (every Nth face), to check extraction by eye.

    .venv/bin/python scripts/contact_sheet.py FACES_DIR sheet.png --every 8 --tile 96
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("faces", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--every", type=int, default=8)
    parser.add_argument("--tile", type=int, default=96)
    parser.add_argument("--columns", type=int, default=12)
    args = parser.parse_args()
    files = sorted(args.faces.glob("*.png"))[:: args.every]
    tiles = []
    for path in files:
        image = cv2.resize(cv2.imread(str(path)), (args.tile, args.tile),
                           interpolation=cv2.INTER_AREA)
        # A cross-hair at the centre makes off-centre or tilted faces easy to spot.
        mid = args.tile // 2
        cv2.line(image, (mid, 0), (mid, args.tile), (0, 255, 255), 1)
        tiles.append(image)
    while len(tiles) % args.columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + args.columns]) for i in range(0, len(tiles), args.columns)]
    cv2.imwrite(str(args.output), np.vstack(rows))
    print(f"{len(files)} faces → {args.output}")


if __name__ == "__main__":
    main()
