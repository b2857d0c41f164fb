"""Device profiles: the shipped ones load; a bad one names the file, the point and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from telemetry.errors import ProfileError
from telemetry.planning import plan_blocks
from telemetry.profiles import load_profile, load_profiles


def test_shipped_profiles() -> None:
    profiles = load_profiles()
    assert set(profiles) >= {"kamstrup-multical-603", "kamstrup-multical-603-int32", "samson-trovis-5576",
                             "danfoss-ecl-310"}
    trovis = profiles["samson-trovis-5576"]
    assert trovis.point("t_outdoor").address == 0  # 1-based map: register 1 is wire address 0
    assert trovis.point("t_outdoor").factor == pytest.approx(0.1)
    ecl = profiles["danfoss-ecl-310"]
    assert ecl.default_unit_id == 254
    assert all(b.count <= 100 for b in plan_blocks(ecl))
    assert ecl.point("t_outdoor").factor == pytest.approx(0.01)
    meter = profiles["kamstrup-multical-603"]
    assert meter.point("energy").factor == 1000.0  # MWh -> kWh
    assert meter.point("energy").rollover == 100_000_000.0


GOOD = {"name": "x-meter", "poll_groups": {"fast": 10}, "points": [
    {"name": "power", "function": 4, "address": 0, "type": "float32", "unit": "kW"}]}


@pytest.mark.parametrize(("change", "point", "field", "message"), [
    ({"function": 6}, "power", "function", "only read function codes 1-4"),
    ({"type": "int24"}, "power", "type", "one of int16"),
    ({"order": "ACBD"}, "power", "order", "one of ABCD"),
    ({"unit": "°F"}, "power", "unit", "cannot express power"),
    ({"scale": "1/0"}, "power", "scale", "not a number or a fraction"),
    ({"address": -1}, "power", "address", "an integer in 0..65535"),
    ({"range": [10, 0]}, "power", "range", "min < max"),
    ({"poll": "slow"}, "power", "poll", "not one of the poll_groups"),
    ({"scale": {"register": "nope", "factors": {0: 1}}}, "power", "scale.register", "no point named 'nope'"),
    ({"colour": "red"}, "power", "colour", "unknown field"),
])
def test_bad_profile_names_file_point_and_field(tmp_path: Path, change: dict[str, object], point: str, field: str,
                                                 message: str) -> None:
    doc = {**GOOD, "points": [{**GOOD["points"][0], **change}]}  # type: ignore[dict-item]
    path = tmp_path / "x-meter.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.path == str(path)
    assert (info.value.point, info.value.field) == (point, field)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}: point 'power': {field}: ")


def test_profile_level_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "max_block_registers": 200}))
    with pytest.raises(ProfileError, match=r"p\.yaml: max_block_registers: 200: an integer in 1\.\.125"):
        load_profile(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match="cannot be read as YAML"):
        load_profile(path)


def test_profiles_dir_overrides_and_file_name_must_match(tmp_path: Path) -> None:
    (tmp_path / "x-meter.yaml").write_text(yaml.safe_dump(GOOD))
    assert "x-meter" in load_profiles([tmp_path])
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(GOOD))
    with pytest.raises(ProfileError, match="differs from the file name 'other'"):
        load_profiles([tmp_path])
