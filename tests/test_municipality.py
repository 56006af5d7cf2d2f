"""Profiles, the registry import, search and show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kitcli.cli import main


def kit_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else None)


@pytest.mark.parametrize(
    ("query", "ags", "authority"),
    [
        pytest.param("muenchen", "09162000", "Regierung von Oberbayern", id="profile-id"),
        pytest.param("09564000", "09564000", "Regierung von Mittelfranken", id="ags"),
        pytest.param("Augsburg", "09761000", "Regierung von Schwaben", id="name"),
        pytest.param("MÜNCHEN", "09162000", "Regierung von Oberbayern", id="name-any-case"),
    ],
)
def test_show_shipped_profiles(capsys: pytest.CaptureFixture[str], query: str, ags: str, authority: str) -> None:
    code, profile = kit_json(capsys, "municipality", "show", query)
    assert code == 0
    assert isinstance(profile, dict)
    assert profile["ags"] == ags
    assert profile["supervisory_authority"] == authority
    assert profile["kind"] == "Kreisfreie Stadt"
    assert profile["origin"] == "profile"


def test_profiles_leave_unknown_data_empty() -> None:
    from kitcli._municipality import load_profiles

    profiles = load_profiles()
    assert set(profiles) >= {"muenchen", "nuernberg", "augsburg"}
    for profile in profiles.values():
        assert profile.data_protection_officer.email == ""  # not known for sure: never invented
    assert profiles["muenchen"].default_license == "MIT"


def test_import_and_counts(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = kit_json(
        capsys,
        "municipality",
        "import",
        str(shared_data / "bavaria-municipalities.csv"),
        "--kreise",
        str(shared_data / "bavaria-kreise.csv"),
    )
    assert code == 0
    assert isinstance(report, dict)
    assert report["municipalities"] == 2056
    assert report["kreise"] == 96
    from kitcli._municipality import load_registry

    registry = load_registry()
    by_bezirk: dict[str, int] = {}
    for entry in registry:
        by_bezirk[entry.regierungsbezirk] = by_bezirk.get(entry.regierungsbezirk, 0) + 1
    assert by_bezirk == {
        "Oberbayern": 500,
        "Niederbayern": 258,
        "Oberpfalz": 226,
        "Oberfranken": 214,
        "Mittelfranken": 210,
        "Unterfranken": 308,
        "Schwaben": 340,
    }
    kreisfrei = [e for e in registry if e.kind == "Kreisfreie Stadt"]
    assert len(kreisfrei) == 25


@pytest.fixture
def imported(shared_data: Path) -> None:
    assert (
        main(
            [
                "municipality",
                "import",
                str(shared_data / "bavaria-municipalities.csv"),
                "--kreise",
                str(shared_data / "bavaria-kreise.csv"),
            ]
        )
        == 0
    )


@pytest.mark.usefixtures("imported")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Große Kreisstadt: Regierung; kreisangehörige Gemeinde: Landratsamt of its Kreis
        pytest.param(
            "09177117",
            {"kind": "Große Kreisstadt", "supervisory_authority": "Regierung von Oberbayern"},
            id="grosse-kreisstadt-erding",
        ),
        pytest.param(
            "09171111", {"kind": "Stadt", "supervisory_authority": "Landratsamt Altötting"}, id="stadt-in-landkreis"
        ),
        pytest.param(
            "09362000",
            {"kind": "Kreisfreie Stadt", "supervisory_authority": "Regierung der Oberpfalz"},
            id="oberpfalz-article",
        ),
        pytest.param("09273125", {"name": "Hausen", "regierungsbezirk": "Niederbayern"}, id="hausen-by-ags"),
    ],
)
def test_show_from_registry_derives_facts(
    capsys: pytest.CaptureFixture[str], query: str, expected: dict[str, str]
) -> None:
    code, profile = kit_json(capsys, "municipality", "show", query)
    assert code == 0
    assert isinstance(profile, dict)
    assert profile["origin"] == "registry"
    for key, value in expected.items():
        assert profile[key] == value


@pytest.mark.usefixtures("imported")
def test_search_by_name_and_ags(capsys: pytest.CaptureFixture[str]) -> None:
    code, matches = kit_json(capsys, "municipality", "search", "hausen")
    assert code == 0
    assert isinstance(matches, list)
    exact = [m for m in matches if m["name"] == "Hausen"]
    assert len(exact) == 4
    assert matches[:4] == exact  # exact name matches first
    code, matches = kit_json(capsys, "municipality", "search", "09761")
    assert code == 0
    assert isinstance(matches, list)
    assert matches[0]["ags"] == "09761000"
    assert matches[0]["profile_id"] == "augsburg"


@pytest.mark.usefixtures("imported")
def test_search_without_match_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["municipality", "search", "Atlantis"]) == 1
    assert "no municipality matches" in capsys.readouterr().out


@pytest.mark.usefixtures("imported")
def test_ambiguous_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["municipality", "show", "Hausen"]) == 2
    assert "09676128" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param("name,kind\nAugsburg,Stadt\n", "no `ags` column", id="no-ags-column"),
        pytest.param("ags,name\n09761000,Augsburg\n0976100,Kurz\n", "line 3", id="short-ags-line-number"),
        pytest.param("ags,name\n09761000,Augsburg\n0976100X,Buchstabe\n", "'0976100X'", id="letters-in-ags"),
        pytest.param("ags,name\n09761000,\n", "line 2", id="empty-name"),
        pytest.param("ags,name\n09761000,Augsburg\n09761000,Augsburg\n", "occurs twice", id="duplicate-ags"),
        pytest.param("ags\n", "no `name` column", id="no-name-column"),
        pytest.param("ags,name\n", "no municipalities", id="header-only"),
    ],
)
def test_import_rejects_malformed_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, named: str
) -> None:
    from kitcli._municipality import registry_file

    good = tmp_path / "good.csv"
    good.write_text("ags,name\n09761000,Augsburg (Krfr. St)\n", encoding="utf-8")
    assert main(["municipality", "import", str(good)]) == 0
    before = registry_file().read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    assert main(["municipality", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert str(bad) in err
    assert registry_file().read_bytes() == before  # the previous registry survives


def test_import_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["municipality", "import", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_import_semicolon_csv_with_minimal_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "export.csv"
    csv_file.write_text("ags;name\n09188139;Starnberg, GKSt\n09188113;Berg\n", encoding="utf-8")
    assert main(["municipality", "import", str(csv_file)]) == 0
    capsys.readouterr()
    code, profile = kit_json(capsys, "municipality", "show", "Starnberg")
    assert code == 0
    assert isinstance(profile, dict)
    assert profile["kind"] == "Große Kreisstadt"
    assert profile["official_name"] == "Stadt Starnberg"
    assert profile["supervisory_authority"] == "Regierung von Oberbayern"


def test_user_profile_overrides_and_bad_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kitcli._paths import config_dir

    profiles = config_dir() / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "augsburg.toml").write_text(
        'name = "Augsburg"\nags = "09761000"\nkind = "Kreisfreie Stadt"\nemail = "info@augsburg.example"\n',
        encoding="utf-8",
    )
    code, profile = kit_json(capsys, "municipality", "show", "augsburg")
    assert code == 0
    assert isinstance(profile, dict)
    assert profile["email"] == "info@augsburg.example"
    (profiles / "kaputt.toml").write_text('name = "Kaputt"\nags = "08111000"\n', encoding="utf-8")
    assert main(["municipality", "show", "augsburg"]) == 2
    assert "08111000" in capsys.readouterr().err
