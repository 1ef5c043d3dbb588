"""The README's settings table says how every option works; these tests hold config.py to it, row by row:
the option exists in the parser (and the parser has no option the table lacks), its variable sets it
exactly as the option does, the default shown is the parser's, every value shown is taken, and a wrong
value is refused with an error naming the option. And every relative link in the README and docs/
leads to a file, and a heading, that exist.

Fast: only config.py's real parsing runs (parse_config, as run.py and tests/test_run.py use it); no
server starts, no model loads, TensorFlow is never imported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from config import build_parser, default_key_path, parse_config

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
HEADER = "| option | variable | default | values | meaning |"
QUOTED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Row:
    option: str  # "--source"; "" for a variable that has no option
    variable: str  # "FACE_SOURCE"
    switch: bool  # the variable is shown as NAME=1: the option takes no value
    default: str  # the cell as written
    literal_default: Optional[str]  # the default, when the cell is one quoted value without a <placeholder>
    values: tuple[str, ...]  # every quoted word of the values cell

    @property
    def id(self) -> str:
        return self.option or self.variable


def read_table() -> list[Row]:
    lines = README.read_text().splitlines()
    assert HEADER in lines, f"the README's settings table must start with the header {HEADER!r}"
    start = lines.index(HEADER)
    assert lines[start + 1].startswith("|---")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        assert len(cells) == 5, f"a settings row has five cells (no '|' inside one): {line}"
        option, variable, default, values, _ = cells
        assert option == "" or re.fullmatch(r"`--[a-z-]+`", option), f"an option cell is one `--option`: {line}"
        found = re.fullmatch(r"`([A-Z_]+)(=1)?`", variable)
        assert found, f"a variable cell is one `NAME` (or `NAME=1` for a switch): {line}"
        literal = QUOTED.fullmatch(default)
        literal = literal if literal and "<" not in literal.group(1) else None
        rows.append(Row(option.strip("`"), found.group(1), bool(found.group(2)), default,
                        literal.group(1) if literal else None, tuple(QUOTED.findall(values))))
    return rows


ROWS = read_table()
OPTIONS = [row for row in ROWS if row.option]
VALUED = [row for row in OPTIONS if not row.switch]
SWITCHES = [row for row in OPTIONS if row.switch]
DEFAULT = parse_config([], env={})

# Defaults the table describes rather than quotes, each with what the description means.
KEYS = Path.home() / ".config" / "faceapp" / "keys"
DESCRIBED: dict[str, tuple[str, Callable]] = {
    "--data-dir": ("`known_faces_db/` beside run.py", lambda c: c.store.data_dir == ROOT / "known_faces_db"),
    "--key-file": ("`~/.config/faceapp/keys/<data dir>-<id>.key`",
                   lambda c: c.store.key_path.parent == KEYS and c.store.key_path.name.startswith("known_faces_db-")
                   and c.store.key_path.suffix == ".key"),
    "--anchor-file": ("`<key file>.anchor`", lambda c: c.store.anchor_path == Path(f"{c.store.key_path}.anchor")),
    "--api-key": ("none", lambda c: c.server.api_key is None),
    "--allowed-hosts": ("none", lambda c: c.server.allowed_hosts == ()),
    "--trusted-proxy": ("none", lambda c: c.server.trusted_proxy is None),
    "--threshold": ("per model", lambda c: c.recognition.threshold is None),
    "--stream-width": ("the camera's", lambda c: c.stream.width is None),
    "--album": ("none", lambda c: c.albums == ()),
    "--camera": ("none", lambda c: c.camera.cameras == ()),
    "--mqtt": ("none", lambda c: c.events.mqtt is None),
    "--webhook": ("none", lambda c: c.events.webhooks == ()),
    "--webhook-secret": ("none", lambda c: c.events.webhook_secret is None),
    "DEEPFACE_HOME": ("your home folder", lambda c: c.recognition.deepface_home == Path.home()),
}

# A value each option must refuse: at the edge of a range the table gives, or outside the choices.
WRONG = {
    "--stall-timeout": "soon", "--port": "eighty", "--store": "mysql://db.example/faces",
    "--max-upload-mb": "big", "--model-rate": "-1", "--model-slots": "1025", "--allowed-hosts": "http://faces.lan",
    "--trusted-proxy": "proxy.lan", "--threshold": "high", "--max-viewers": "many", "--blur": "some",
    "--detector": "yolo", "--min-face": "15", "--overlay": "emoji", "--stream-width": "wide", "--filters": "some", "--hide-with": "emoji",
    "--attributes": "maybe", "--liveness": "on", "--liveness-moves": "down", "--liveness-steps": "5",
    "--session-hours": "0", "--sweep": "yes", "--camera": "Door=0", "--recognition-cores": "-1",
    "--mqtt": "http://broker.lan", "--webhook": "ftp://hooks.example/faces",
}
# Options whose value the parser takes as any text: a folder, a file, a name or a key is only known to be
# wrong when the server uses it (--model: when the model is built; --log-level: when logging is set up).
ANY_TEXT = {"--source", "--host", "--data-dir", "--key-file", "--anchor-file", "--api-key", "--model", "--album",
            "--log-level", "--webhook-secret"}
def by_id(rows: list[Row]):
    return pytest.mark.parametrize("row", rows, ids=[row.id for row in rows])


def test_the_table_lists_every_option_of_the_parser_once():
    parser = build_parser({})
    options = [name for action in parser._actions for name in action.option_strings if name.startswith("--")]
    options.remove("--help")
    table = [row.option for row in OPTIONS]
    assert len(table) == len(set(table)), "an option has two rows"
    assert sorted(table) == sorted(options)
    assert all(len([n for n in a.option_strings if n.startswith("--")]) <= 1 for a in parser._actions)


def test_every_option_is_classified_by_these_tests():
    assert set(WRONG) | ANY_TEXT == {row.option for row in VALUED} and not set(WRONG) & ANY_TEXT
    assert all(row.values for row in VALUED), "an option that takes a value shows at least one"
    assert not any(row.values for row in SWITCHES), "a switch takes no value"
    described = {row.id for row in ROWS if row.literal_default is None and not row.switch}
    assert described == set(DESCRIBED)


@by_id(ROWS)
def test_the_default_shown_is_the_parsers(row):
    if row.switch:
        assert row.default == "off"
        assert parse_config([row.option], env={}) != DEFAULT, f"{row.option} changes nothing"
    elif row.literal_default is not None:
        assert parse_config([row.option, row.literal_default], env={}) == DEFAULT
    else:
        text, holds = DESCRIBED[row.id]
        assert row.default == text
        assert holds(DEFAULT)


def test_the_key_file_default_follows_xdg_config_home():
    settings = parse_config([], env={"XDG_CONFIG_HOME": "/etc/xdg-test"})
    assert settings.store.key_path == default_key_path(ROOT / "known_faces_db", {"XDG_CONFIG_HOME": "/etc/xdg-test"})
    assert settings.store.key_path.parent == Path("/etc/xdg-test/faceapp/keys")


@by_id(VALUED)
def test_every_value_shown_is_taken_and_changes_the_setting(row):
    for value in row.values:
        settings = parse_config([row.option, value], env={})
        if value != row.literal_default:
            assert settings != DEFAULT, f"{row.option} {value} changes nothing"


@by_id([row for row in ROWS if not row.switch])
def test_the_variable_sets_what_the_option_sets(row):
    for value in row.values:
        from_variable = parse_config([], env={row.variable: value})
        if row.option:
            assert from_variable == parse_config([row.option, value], env={})
        else:  # DEEPFACE_HOME
            assert from_variable.recognition.deepface_home == Path(value) != DEFAULT.recognition.deepface_home


@by_id(SWITCHES)
def test_a_switch_variable_is_on_with_any_value_but_empty_or_0(row):
    on = parse_config([row.option], env={})
    assert parse_config([], env={row.variable: "1"}) == on
    assert parse_config([], env={row.variable: "no"}) == on  # as the README warns
    assert parse_config([], env={row.variable: "0"}) == parse_config([], env={row.variable: ""}) == DEFAULT


def test_attributes_variable_takes_1_true_and_yes_for_on():
    on = parse_config(["--attributes", "on"], env={})
    assert all(parse_config([], env={"FACE_ATTRIBUTES": word}) == on for word in ("1", "true", "yes", "ON"))
    assert parse_config([], env={"FACE_ATTRIBUTES": "0"}) == DEFAULT


def test_albums_repeat_on_the_command_line_and_are_separated_by_colons_in_the_variable():
    repeated = parse_config(["--album", "/srv/photos", "--album", "/srv/scans"], env={})
    assert repeated.albums == (Path("/srv/photos"), Path("/srv/scans"))
    assert parse_config([], env={"FACE_ALBUM": "/srv/photos:/srv/scans"}) == repeated


def test_detector_roles_not_named_keep_their_default():
    settings = parse_config(["--detector", "live=hog"], env={})
    assert (settings.detectors.live, settings.detectors.blur, settings.detectors.photos) == ("hog", "blazeface", "haar")


def test_more_than_one_liveness_step_needs_two_moves():
    assert parse_config(["--liveness-moves", "up", "--liveness-steps", "1"], env={}).accounts.moves == ("up",)
    with pytest.raises(SystemExit, match="at least two --liveness-moves"):
        parse_config(["--liveness-moves", "up"], env={})


def test_a_non_loopback_host_is_refused_without_a_key_or_insecure(monkeypatch):
    import run

    for name in ("FACE_API_KEY", "FACE_INSECURE"):
        monkeypatch.delenv(name, raising=False)
    assert run.main(["--host", "0.0.0.0"]) == 2


@by_id([row for row in VALUED if row.option in WRONG])
def test_a_wrong_value_is_refused_naming_the_option(row, capsys):
    with pytest.raises(SystemExit) as refused:
        parse_config([row.option, WRONG[row.option]], env={})
    assert refused.value.code == 2
    assert f"argument {row.option}:" in capsys.readouterr().err


@pytest.mark.parametrize("option", sorted(WRONG))
def test_a_wrong_value_in_the_variable_is_refused_naming_the_option(option, capsys):
    row = next(row for row in OPTIONS if row.option == option)
    with pytest.raises(SystemExit) as refused:
        parse_config([], env={row.variable: WRONG[option]})
    assert refused.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


# Links: every relative link of the README and docs/ leads to a file, and to a heading when it names one.
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # a '#' in a code block is no heading
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_the_docs_exist_and_the_readme_links_each():
    linked = {target.split("#")[0] for target in LINK.findall(README.read_text())}
    assert len(DOCS) > 5
    assert {f"docs/{path.name}" for path in DOCS[1:]} <= linked


@pytest.mark.parametrize("page", DOCS, ids=[str(path.relative_to(ROOT)) for path in DOCS])
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor:
            assert anchor in anchors(linked), f"{page.name} links to {target}: no such heading"
