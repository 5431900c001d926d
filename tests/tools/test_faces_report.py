"""`tools faces report`: faces of someone else and blurred faces are flagged and shown first."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest

from faceforge.formats.face_png import read_face_png, write_face_png
from faceforge.tools.faces_report import ReportConfig, run
from tests.tools.helpers import run_cli

pytestmark = pytest.mark.slow


def test_report_flags_the_wrong_person_and_the_blurred_face_first(faces, tmp_path, capsys):
    folder = tmp_path / "faces"
    folder.mkdir()
    for path in sorted(faces["a"].glob("*.png"))[::2]:
        shutil.copy2(path, folder / path.name)
    intruders = sorted(faces["b"].glob("*.png"))[::20][:3]
    for path in intruders:
        shutil.copy2(path, folder / path.name)
    image, meta = read_face_png(sorted(faces["a"].glob("*.png"))[1])
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    write_face_png(folder / "lp_d18_000004_7.png", blurred, {**meta, "face_index": 7})
    total = len(list(folder.glob("*.png")))

    assert run_cli("tools", "faces", "report", "-i", folder, "-o", tmp_path / "report",
                   "--per-sheet", 20) == 0
    assert "flagged" in capsys.readouterr().out
    report = json.loads((tmp_path / "report" / "report.json").read_text())["faces"]
    assert len(report) == total
    flagged = {entry["name"]: entry["flags"] for entry in report if entry["flags"]}
    for path in intruders:
        assert "identity" in flagged.get(path.name, []), path.name
    assert "blur" in flagged["lp_d18_000004_7.png"]
    assert not [n for n, f in flagged.items() if "identity" in f and n.startswith("lp_d18")]
    # The flagged faces open the first sheet.
    assert {entry["name"] for entry in report[:len(flagged)]} == set(flagged)
    sheets = sorted((tmp_path / "report").glob("sheet_*.jpg"))
    assert len(sheets) == -(-total // 20)
    assert cv2.imread(str(sheets[0])).shape[1] == 10 * 128


def test_report_without_identity_still_checks_blur_and_pose(faces, tmp_path):
    result = run(ReportConfig(input=faces["b"], output=tmp_path / "r", no_identity=True))
    assert result.faces == len(list(faces["b"].glob("*.png")))
    assert all(entry["identity_distance"] is None for entry in result.entries)
