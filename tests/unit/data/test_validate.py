import numpy as np
import pytest

from housing.data.validate import DataValidationError, validate_frame, validation_problems


def test_valid_frame_passes(tiny_frame):
    assert validation_problems(tiny_frame) == []
    assert validate_frame(tiny_frame).dtypes.eq("float64").all()


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("MedInc", [np.nan, np.nan, 1.0], "column 'MedInc': 2 rows missing"),
        ("HouseAge", [0.0, 20.0, 99.0], "column 'HouseAge': 2 rows outside [1, 60]"),
        ("Latitude", [np.inf, 34.0, 33.0], "column 'Latitude': 1 rows infinite"),
        ("Population", ["a", "b", "c"], "column 'Population': dtype"),
    ],
)
def test_problems_name_column_and_count(tiny_frame, column, values, expected):
    tiny_frame[column] = values
    problems = validation_problems(tiny_frame)
    assert any(p.startswith(expected) for p in problems), problems
    with pytest.raises(DataValidationError, match=column):
        validate_frame(tiny_frame)


def test_missing_and_unknown_columns(tiny_frame):
    frame = tiny_frame.drop(columns=["AveRooms"]).assign(Extra=1.0)
    problems = validation_problems(frame)
    assert "missing columns: AveRooms" in problems
    assert "unknown columns: Extra" in problems


def test_empty_frame_is_rejected(tiny_frame):
    with pytest.raises(DataValidationError, match="no rows"):
        validate_frame(tiny_frame.iloc[:0])
