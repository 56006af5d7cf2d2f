"""Municipality profiles and the municipality registry.

A *profile* is one TOML file per municipality (shipped in ``kitcli/profiles/`` or added by the
user in ``<config dir>/profiles/``). The *registry* is the official list of municipalities
(name and AGS, optionally kind and Kreis) that the user imports once; from it the kit builds a
minimal profile for any municipality that has none. Everything the AGS implies (Regierungsbezirk,
Kreis, supervisory authority under Art. 110 GO) is derived, never invented.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from . import _validate
from ._errors import AmbiguousMunicipality, InvalidValue, UnknownMunicipality, UserError
from ._paths import config_dir, data_dir

REGIERUNGSBEZIRKE = {
    "1": "Oberbayern",
    "2": "Niederbayern",
    "3": "Oberpfalz",
    "4": "Oberfranken",
    "5": "Mittelfranken",
    "6": "Unterfranken",
    "7": "Schwaben",
}
KINDS = ("Gemeinde", "Markt", "Stadt", "Große Kreisstadt", "Kreisfreie Stadt")
# Suffixes of names as printed in official lists, and the kind each one means.
_NAME_SUFFIXES = (
    (re.compile(r",\s*Landeshauptstadt$"), "Kreisfreie Stadt", "Landeshauptstadt"),
    (re.compile(r"\s*\(Krfr\.\s*St\)$"), "Kreisfreie Stadt", "Stadt"),
    (re.compile(r",\s*GKSt$"), "Große Kreisstadt", "Stadt"),
    (re.compile(r",\s*St$"), "Stadt", "Stadt"),
    (re.compile(r",\s*M$"), "Markt", "Markt"),
)
_KIND_ALIASES = {
    "gemeinde": "Gemeinde",
    "markt": "Markt",
    "stadt": "Stadt",
    "große kreisstadt": "Große Kreisstadt",
    "grosse kreisstadt": "Große Kreisstadt",
    "kreisfreie stadt": "Kreisfreie Stadt",
    "landeshauptstadt": "Kreisfreie Stadt",
}
_OFFICIAL_PREFIX = {
    "Gemeinde": "Gemeinde",
    "Markt": "Markt",
    "Stadt": "Stadt",
    "Große Kreisstadt": "Stadt",
    "Kreisfreie Stadt": "Stadt",
}


@dataclass(frozen=True)
class Address:
    street: str = ""
    postcode: str = ""
    city: str = ""


@dataclass(frozen=True)
class Person:
    title: str = ""
    name: str = ""


@dataclass(frozen=True)
class Contact:
    name: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""


@dataclass(frozen=True)
class Theme:
    primary: str = ""
    on_primary: str = ""


@dataclass(frozen=True)
class Profile:
    """One municipality's data. Empty strings mean "unknown": generated projects show a placeholder."""

    id: str
    name: str
    official_name: str = ""
    kind: str = "Gemeinde"
    ags: str = ""
    regierungsbezirk: str = ""
    kreis: str = ""
    address: Address = field(default_factory=Address)
    email: str = ""
    phone: str = ""
    website: str = ""
    organisation_uri: str = ""
    representative: Person = field(default_factory=Person)
    supervisory_authority: str = ""
    content_responsible: str = ""
    vat_id: str = ""
    data_protection_officer: Contact = field(default_factory=Contact)
    accessibility_contact: Contact = field(default_factory=Contact)
    theme: Theme = field(default_factory=Theme)
    default_license: str = ""
    origin: str = "profile"
    """Where the profile came from: ``profile`` (a TOML file) or ``registry`` (built minimal)."""

    def to_answers(self) -> dict[str, str]:
        """The template answers this profile provides (empty values are passed on as empty)."""
        answers = {
            "municipality_id": self.id,
            "municipality_name": self.name,
            "municipality_official_name": self.official_name or self.name,
            "municipality_kind": self.kind,
            "municipality_ags": self.ags,
            "municipality_regierungsbezirk": self.regierungsbezirk,
            "municipality_kreis": self.kreis,
            "municipality_street": self.address.street,
            "municipality_postcode": self.address.postcode,
            "municipality_city": self.address.city or self.name,
            "municipality_email": self.email,
            "municipality_phone": self.phone,
            "municipality_website": self.website,
            "municipality_organisation_uri": self.organisation_uri or self.website,
            "representative_title": self.representative.title,
            "representative_name": self.representative.name,
            "supervisory_authority": self.supervisory_authority,
            "content_responsible": self.content_responsible,
            "vat_id": self.vat_id,
            "dpo_name": self.data_protection_officer.name,
            "dpo_email": self.data_protection_officer.email,
            "dpo_phone": self.data_protection_officer.phone,
            "dpo_address": self.data_protection_officer.address,
            "accessibility_contact_email": self.accessibility_contact.email or self.email,
            "accessibility_contact_phone": self.accessibility_contact.phone or self.phone,
        }
        if self.theme.primary:
            answers["theme_primary_color"] = self.theme.primary
        if self.theme.on_primary:
            answers["theme_on_primary_color"] = self.theme.on_primary
        if self.default_license:
            answers["license"] = self.default_license
        return answers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- deriving facts from the AGS -------------------------------------------------------------


def regierungsbezirk(ags: str) -> str:
    return REGIERUNGSBEZIRKE.get(ags[2:3], "") if _validate.BAVARIAN_AGS_RE.fullmatch(ags) else ""


def is_kreisfrei(ags: str) -> bool:
    """Kreisfreie Städte have Kreis digits 61 to 65 and Gemeinde part 000."""
    return bool(_validate.BAVARIAN_AGS_RE.fullmatch(ags)) and 61 <= int(ags[3:5]) <= 65 and ags[5:] == "000"


def supervisory_authority(*, ags: str, kind: str, kreis: str) -> str:
    """Rechtsaufsicht under Art. 110 GO: the Regierung for kreisfreie Städte and Große
    Kreisstädte, the Landratsamt for every other kreisangehörige Gemeinde (when the Kreis is known)."""
    bezirk = regierungsbezirk(ags)
    if kind in ("Kreisfreie Stadt", "Große Kreisstadt") and bezirk:
        return f"Regierung der {bezirk}" if bezirk == "Oberpfalz" else f"Regierung von {bezirk}"
    if kreis:
        return f"Landratsamt {kreis}"
    return ""


def split_official_name(raw: str) -> tuple[str, str | None, str]:
    """``"Altötting, St"`` → (``"Altötting"``, ``"Stadt"``, ``"Stadt Altötting"``)."""
    raw = raw.strip()
    for pattern, kind, prefix in _NAME_SUFFIXES:
        if pattern.search(raw):
            name = pattern.sub("", raw).strip()
            return name, kind, f"{prefix} {name}"
    return raw, None, raw


def normalise_kind(value: str) -> str | None:
    return _KIND_ALIASES.get(value.strip().lower())


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching names (``München`` ~ ``muenchen``)."""
    text = text.casefold().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def slugify(text: str) -> str:
    return fold(text).replace(" ", "-")


# --- profiles --------------------------------------------------------------------------------


_NESTED: dict[str, type[Any]] = {"Address": Address, "Person": Person, "Contact": Contact, "Theme": Theme}


def _build(cls: type[Any], data: Mapping[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        nested = _NESTED.get(str(f.type))
        if nested is not None:
            if not isinstance(value, dict):
                raise UserError(f"{where}: [{f.name}] must be a table")
            values[f.name] = _build(nested, value, f"{where} [{f.name}]")
        elif not isinstance(value, str):
            raise UserError(f"{where}: {f.name} must be a string, not {type(value).__name__}")
        else:
            values[f.name] = value
    return cls(**values)


def parse_profile(text: str, *, where: str, default_id: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{where} is no valid TOML: {error}") from error
    data.setdefault("id", default_id)
    if "name" not in data:
        raise UserError(f"{where}: the key `name` is required")
    profile: Profile = _build(Profile, data, where)
    return complete(profile)


def complete(profile: Profile) -> Profile:
    """Fill what the AGS and kind imply, and validate the profile's values."""
    if profile.ags:
        _validate.ags(f"profile {profile.id}: ags", profile.ags)
    kind = normalise_kind(profile.kind)
    if kind is None:
        raise InvalidValue(
            field=f"profile {profile.id}: kind",
            value=profile.kind,
            reason=f"is no municipality kind: one of {', '.join(KINDS)}",
        )
    bezirk = profile.regierungsbezirk or regierungsbezirk(profile.ags)
    authority = profile.supervisory_authority or supervisory_authority(ags=profile.ags, kind=kind, kreis=profile.kreis)
    return replace(profile, kind=kind, regierungsbezirk=bezirk, supervisory_authority=authority)


def _profile_dirs() -> list[tuple[str, Path]]:
    dirs = [("user", config_dir() / "profiles")]
    extra = os.environ.get("KIT_PROFILES")
    if extra:
        dirs.insert(0, ("KIT_PROFILES", Path(extra)))
    return dirs


def load_profiles() -> dict[str, Profile]:
    """All profiles: the kit's own, overridden by the user's (same id)."""
    profiles: dict[str, Profile] = {}
    shipped = resources.files("kitcli") / "profiles"
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            pid = entry.name.removesuffix(".toml")
            profiles[pid] = parse_profile(
                entry.read_text(encoding="utf-8"), where=f"profile {entry.name}", default_id=pid
            )
    for _, directory in reversed(_profile_dirs()):
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                pid = path.stem
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise UserError(
                        f"profile {path} is unreadable ({error}); fix it as UTF-8 TOML or remove it"
                    ) from error
                profiles[pid] = parse_profile(text, where=str(path), default_id=pid)
    return profiles


# --- registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One municipality of the registry."""

    ags: str
    name: str
    official_name: str
    kind: str
    kreis_ags: str
    kreis: str = ""
    regierungsbezirk: str = ""


@dataclass(frozen=True)
class ImportReport:
    path: str
    municipalities: int
    kreise: int
    registry: str


def registry_file() -> Path:
    return data_dir() / "registry.json"


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            sample = handle.read(4096)
            handle.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.DictReader(handle, dialect=dialect)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [
                (reader.line_num, {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}) for row in reader
            ]
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; pass the municipality list exported as CSV") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path} is unreadable as a UTF-8 CSV file ({error})") from error
    return header, rows


def _read_kreise(path: Path) -> dict[str, str]:
    header, rows = _read_csv(path)
    code_col = "kreis_ags" if "kreis_ags" in header else ("ags" if "ags" in header else None)
    if code_col is None or "name" not in header:
        raise UserError(f"{path}: a Kreise CSV needs the columns kreis_ags,name (found: {', '.join(header) or 'none'})")
    kreise: dict[str, str] = {}
    for line, row in rows:
        code, name = row.get(code_col, ""), row.get("name", "")
        if not re.fullmatch(r"[0-9]{5}", code) or not name:
            raise UserError(
                f"{path}, line {line}: malformed row: expected a 5-digit kreis_ags and a name, got {code!r}, {name!r}"
            )
        kreise[code] = name
    return kreise


def import_registry(path: Path, *, kreise_path: Path | None = None) -> ImportReport:
    """Read the official municipality list (CSV with columns ``ags,name`` and optionally ``kind``)
    and, optionally, the list of Kreise, validate every row, then replace the registry atomically."""
    header, rows = _read_csv(path)
    if "ags" not in header:
        raise UserError(
            f"{path}: no `ags` column (found: {', '.join(header) or 'none'}); the CSV needs the columns ags,name"
        )
    if "name" not in header:
        raise UserError(f"{path}: no `name` column (found: {', '.join(header)}); the CSV needs the columns ags,name")
    kreise = _read_kreise(kreise_path) if kreise_path else {}
    entries: dict[str, Entry] = {}
    for line, row in rows:
        ags, raw_name = row.get("ags", ""), row.get("name", "")
        if not _validate.AGS_RE.fullmatch(ags):
            raise UserError(f"{path}, line {line}: malformed AGS {ags!r}; expected 8 digits (keep the leading zero)")
        if not _validate.BAVARIAN_AGS_RE.fullmatch(ags):
            raise UserError(f"{path}, line {line}: AGS {ags} is not Bavarian (Bavarian keys start with 091 to 097); "
                            "import the list of Bavarian municipalities only")
        if not raw_name:
            raise UserError(f"{path}, line {line}: empty name for AGS {ags}")
        _validate.clean_text(row, source=f"{path}, line {line}")
        if ags in entries:
            raise UserError(f"{path}, line {line}: AGS {ags} occurs twice")
        name, suffix_kind, official = split_official_name(raw_name)
        kind = (
            normalise_kind(row.get("kind", ""))
            or suffix_kind
            or ("Kreisfreie Stadt" if is_kreisfrei(ags) else "Gemeinde")
        )
        if "landeshauptstadt" in row.get("kind", "").lower() or raw_name.endswith("Landeshauptstadt"):
            official = f"Landeshauptstadt {name}"
        elif official == raw_name:
            official = f"{_OFFICIAL_PREFIX[kind]} {name}"
        kreis_ags = row.get("kreis_ags") or ags[:5]
        kreis = "" if is_kreisfrei(ags) else kreise.get(kreis_ags, "")
        entries[ags] = Entry(
            ags=ags,
            name=name,
            official_name=official,
            kind=kind,
            kreis_ags=kreis_ags,
            kreis=kreis,
            regierungsbezirk=regierungsbezirk(ags),
        )
    if not entries:
        raise UserError(f"{path}: no municipalities found; the CSV needs a header line and rows")
    target = registry_file()
    if target.exists() and not target.is_file():
        raise UserError(f"municipality registry {target} is no file; remove it and import again")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".json.tmp")
    payload = {"source": str(path), "kreise": kreise, "municipalities": [asdict(e) for e in entries.values()]}
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(target)
    return ImportReport(path=str(path), municipalities=len(entries), kreise=len(kreise), registry=str(target))


def load_registry() -> list[Entry]:
    path = registry_file()
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise UserError(
            f"municipality registry {path} is corrupt ({error}); run `kit municipality import FILE.csv` again"
        ) from error
    items = payload.get("municipalities", []) if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise UserError(
            f"municipality registry {path} is corrupt (no list of municipalities); "
            "run `kit municipality import FILE.csv` again"
        )
    try:
        return [Entry(**item) for item in items]
    except TypeError as error:
        raise UserError(
            f"municipality registry {path} is corrupt ({error}); run `kit municipality import FILE.csv` again"
        ) from error


def entry_profile(entry: Entry) -> Profile:
    """A minimal profile built from the registry: name, AGS and what they imply."""
    return complete(
        Profile(
            id=slugify(entry.name) if entry.name else entry.ags,
            name=entry.name,
            official_name=entry.official_name,
            kind=entry.kind,
            ags=entry.ags,
            kreis=entry.kreis,
            regierungsbezirk=entry.regierungsbezirk,
            address=Address(city=entry.name),
            origin="registry",
        )
    )


# --- finding a municipality ------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    ags: str
    name: str
    official_name: str
    kind: str
    regierungsbezirk: str
    profile_id: str | None


def search(text: str, *, limit: int = 50) -> list[Match]:
    """Municipalities whose name, official name, AGS or profile id contains *text*."""
    needle = fold(text)
    if not needle:
        raise UserError("search text is empty; give part of a name or an AGS")
    profiles = load_profiles()
    by_ags = {p.ags: p for p in profiles.values() if p.ags}
    results: dict[str, Match] = {}
    for entry in load_registry():
        if needle in fold(entry.name) or needle in fold(entry.official_name) or entry.ags.startswith(text.strip()):
            profile = by_ags.get(entry.ags)
            results[entry.ags] = Match(
                entry.ags,
                entry.name,
                entry.official_name,
                entry.kind,
                entry.regierungsbezirk,
                profile.id if profile else None,
            )
    for profile in profiles.values():
        key = profile.ags or f"profile:{profile.id}"
        if key in results:
            continue
        if (
            needle in fold(profile.name)
            or needle in fold(profile.official_name)
            or needle in fold(profile.id)
            or (profile.ags and profile.ags.startswith(text.strip()))
        ):
            results[key] = Match(
                profile.ags, profile.name, profile.official_name, profile.kind, profile.regierungsbezirk, profile.id
            )
    exact = [m for m in results.values() if fold(m.name) == needle]
    rest = sorted((m for m in results.values() if m not in exact), key=lambda m: (fold(m.name), m.ags))
    return (sorted(exact, key=lambda m: m.ags) + rest)[:limit]


def resolve(query: str) -> Profile:
    """Find the municipality *query* names: a profile id, an AGS or a name."""
    query = query.strip()
    if not query:
        raise UnknownMunicipality(query=query, hint="give a profile id, an AGS or a name")
    profiles = load_profiles()
    if query in profiles:
        return profiles[query]
    registry = load_registry()
    if query[0].isdigit():
        return _resolve_ags(query, profiles, registry)
    return _resolve_name(query, profiles, registry)


_NO_REGISTRY = "no registry is imported; run `kit municipality import FILE.csv` once"


def _resolve_ags(ags: str, profiles: Mapping[str, Profile], registry: list[Entry]) -> Profile:
    _validate.ags("--municipality", ags)
    found = next((p for p in profiles.values() if p.ags == ags), None)
    if found is not None:
        return found
    entry = next((e for e in registry if e.ags == ags), None)
    if entry is not None:
        return entry_profile(entry)
    hint = "it is not in the imported registry" if registry else f"no profile has it and {_NO_REGISTRY}"
    raise UnknownMunicipality(query=ags, hint=hint)


def _resolve_name(query: str, profiles: Mapping[str, Profile], registry: list[Entry]) -> Profile:
    needle = fold(query)
    candidates: dict[str, tuple[str, Profile | Entry]] = {}
    for profile in profiles.values():
        if needle in (fold(profile.name), fold(profile.official_name), fold(profile.id)):
            candidates[profile.ags or profile.id] = (profile.official_name or profile.name, profile)
    for entry in registry:
        if needle in (fold(entry.name), fold(entry.official_name)) and entry.ags not in candidates:
            label = f"{entry.official_name}, {('Landkreis ' + entry.kreis) if entry.kreis else entry.regierungsbezirk}"
            candidates[entry.ags] = (label, entry)
    if len(candidates) > 1:
        raise AmbiguousMunicipality(
            query=query, candidates=sorted((ags, name) for ags, (name, _) in candidates.items())
        )
    if candidates:
        ((_, found),) = candidates.values()
        return found if isinstance(found, Profile) else entry_profile(found)
    hint = (
        "try `kit municipality search TEXT`" if registry else f"no profile matches and {_NO_REGISTRY}, or pass an AGS"
    )
    raise UnknownMunicipality(query=query, hint=hint)


def enrich(profile: Profile) -> Profile:
    """Add registry facts (kind, Kreis) to a profile that lacks them."""
    if not profile.ags or profile.kreis:
        return profile
    for entry in load_registry():
        if entry.ags == profile.ags:
            kreis = entry.kreis
            authority = profile.supervisory_authority or supervisory_authority(
                ags=profile.ags, kind=profile.kind, kreis=kreis
            )
            return replace(profile, kreis=kreis, supervisory_authority=authority)
    return profile


def entries_matching(names: Iterable[str]) -> list[Entry]:
    wanted = {fold(n) for n in names}
    return [e for e in load_registry() if fold(e.name) in wanted]
