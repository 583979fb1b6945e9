"""The TOML configuration: a good file, each kind of error naming key and line, rmtd's exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from devices.durability import SyncLevel
from rmtd.cli import main as rmtd_main
from rmtd.config import (
    ConfigError,
    DriveConfig,
    ServerConfig,
    default_config_path,
    drive_key,
    load_config,
    parse_config,
    read_config,
)
from rmtd.devspec import Qualifiers
from rmtd.toml_lines import find_line

RMTD = [sys.executable, "-c", "from rmtd.cli import main; main()"]

GOOD = """\
# a site's tape server
root = "tapes"
max_record = 65536
lseek_order = "offset-first"
sync = "filemark"
assist_timeout = 2.5
state_dir = "state"

[drives.mua0]
image = "vol001.tap"           # loaded at first
qualifiers = "/nomount/norewind"

[drives."MUB0:"]

[drives.nst0]
device = "/dev/nst0"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "tapes").mkdir()
    return tmp_path


def write(site: Path, text: str) -> str:
    path = site / "rmtd.toml"
    path.write_text(text)
    return str(path)


def error_of(site: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(site, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_good_file_parses_into_frozen_dataclasses(site: Path) -> None:
    config = load_config(write(site, GOOD))
    assert config.root == str(site / "tapes")  # relative to the file's directory
    assert config.max_record == 65536
    assert config.lseek_order == "offset-first"
    assert config.sync is SyncLevel.FILEMARK
    assert config.assist_timeout == 2.5
    assert config.state_dir == str(site / "state")
    assert config.state_path == str(site / "state")
    assert config.source == str(site / "rmtd.toml")
    mua0 = DriveConfig(
        "mua0",
        image="vol001.tap",
        qualifiers=Qualifiers(mount=False, rewind=False),
        qualifier_text="/nomount/norewind",
    )
    assert config.drives == (mua0, DriveConfig("mub0"), DriveConfig("nst0", device="/dev/nst0"))
    with pytest.raises(AttributeError):
        config.root = "/elsewhere"  # type: ignore[misc]


def test_defaults_and_the_default_state_dir(site: Path) -> None:
    config = load_config(write(site, 'root = "tapes"\n'))
    assert config == ServerConfig(root=str(site / "tapes"), source=str(site / "rmtd.toml"))
    assert config.max_record == 64 << 20 and config.lseek_order == "auto"
    assert config.sync is SyncLevel.CLOSE
    assert config.assist_timeout == 600
    assert config.state_path == str(site / "tapes" / ".rmtd")
    assert ServerConfig().state_path is None


def test_drive_names_match_in_any_case_with_or_without_a_colon(site: Path) -> None:
    config = load_config(write(site, GOOD))
    for name in ("mua0", "MUA0", "mua0:", "Mua0:"):
        drive = config.drive(name)
        assert drive is not None and drive.name == "mua0", name
    assert config.drive("mub0") == DriveConfig("mub0")
    for name in ("mua1", "mua0::", "mua0/x", "vol001.tap", "", ":"):
        assert config.drive(name) is None, name
    assert drive_key("$1$MUA0:") == "$1$mua0"
    assert drive_key("0abc") is None  # never mistaken for an mt count


@pytest.mark.parametrize(
    ("text", "line", "key", "why"),
    [
        ('root = "tapes"\nrooot = "x"\n', 2, "rooot", "unknown key"),
        ('root = "tapes"\n\n[drives.mua0]\nimage = "a.tap"\nqualifers = "/x"\n', 5,
         "drives.mua0.qualifers", "unknown key"),
        ("max_record = 100\nroot = 3\n", 2, "root", "expected a string"),
        ('max_record = "big"\n', 1, "max_record", "expected an integer"),
        ("max_record = true\n", 1, "max_record", "expected an integer"),
        ("max_record = 0\n", 1, "max_record", "out of range"),
        ("max_record = 4294967296\n", 1, "max_record", "out of range"),
        ('lseek_order = "backwards"\n', 1, "lseek_order", "not one of"),
        ('root = "tapes"\nsync = "always"\n', 2, "sync",
         '\'always\' is not one of "close", "filemark", "record"'),
        ('assist_timeout = "soon"\n', 1, "assist_timeout", "expected a number"),
        ("assist_timeout = -1\n", 1, "assist_timeout", ">= 0"),
        ("assist_timeout = nan\n", 1, "assist_timeout", ">= 0"),
        ('root = "missing"\n', 1, "root", "not an existing directory"),
        ('root = ""\n', 1, "root", "must not be empty"),
        ("state_dir = []\n", 1, "state_dir", "expected a string, got a list"),
        ('root = "tapes"\ndrives = 3\n', 2, "drives", "expected a table of drives"),
        ('root = "tapes"\n[drives]\nmua0 = "vol.tap"\n', 3, "drives.mua0", "expected a table"),
        ('root = "tapes"\n[drives."mua 0"]\n', 2, 'drives.mua 0', "not a drive name"),
        ('root = "tapes"\n[drives.mua0]\n[drives.MUA0]\n', 3, "drives.MUA0", "named twice"),
        ('root = "tapes"\n[drives.mua0]\nimage = 7\n', 3, "drives.mua0.image",
         "expected a string, got an integer (7)"),
        ('root = "tapes"\n[drives.mua0]\nimage = "/srv/x.tap"\n', 3, "drives.mua0.image",
         "inside root"),
        ('root = "tapes"\n[drives.mua0]\nimage = "../x.tap"\n', 3, "drives.mua0.image",
         "inside root"),
        ('root = "tapes"\n[drives.mua0]\nimage = "a.tap"\ndevice = "/dev/nst0"\n', 4,
         "drives.mua0.device", "either an image or a device"),
        ('root = "tapes"\n[drives.mua0]\n\nqualifiers = "/nomount/frob"\n', 4,
         "drives.mua0.qualifiers", "unknown qualifier /frob"),
        ('root = "tapes"\n[drives.mua0]\nqualifiers = "nomount"\n', 3,
         "drives.mua0.qualifiers", "must start with '/'"),
        ('root = "tapes"\n[drives.mua0]\nqualifiers = "/mount/nomount"\n', 3,
         "drives.mua0.qualifiers", "conflicting"),
        ('max_record = 512\n[drives.mua0]\nqualifiers = "/blocksize=1024"\n', 3,
         "drives.mua0.qualifiers", "exceeds max_record 512"),
        ('root = "tapes"\n[drives]\nmua0 = { image = 5 }\n', 3, "drives.mua0.image",
         "expected a string"),
        ('root = "tapes"\ndrives.mua0.imag = "x"\n', 2, "drives.mua0.imag", "unknown key"),
    ],
)  # fmt: skip
def test_each_error_names_the_key_and_the_line(
    site: Path, text: str, line: int, key: str, why: str
) -> None:
    message = error_of(site, text)
    assert message.startswith(f"{site / 'rmtd.toml'}, line {line}: {key}: "), message
    assert why in message


def test_toml_syntax_errors_name_the_line(site: Path) -> None:
    message = error_of(site, 'root = "tapes"\nmax_record = = 3\n')
    assert "not valid TOML" in message and "line 2" in message


def test_an_unreadable_file_is_a_config_error(site: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read the configuration"):
        load_config(str(site / "missing.toml"))
    (site / "latin1.toml").write_bytes(b'root = "\xe9"\n')
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(str(site / "latin1.toml"))


def test_find_line_follows_tables_dotted_and_quoted_keys() -> None:
    text = (
        'root = "x"\n'  # 1
        'note = """\n'  # 2
        "[drives.fake]\n"  # 3: inside a multi-line string, not a table
        'image = "no"\n'  # 4
        '"""\n'  # 5
        '[ drives . "mua0:" ]\n'  # 6
        "image = 'a.tap'\n"  # 7
        "[[list]]\n"  # 8
        "drives.mub0.image = 1\n"  # 9: a dotted key inside [[list]]
        "[drives.muc0]\n"  # 10
    )
    assert find_line(text, ("root",)) == 1
    assert find_line(text, ("note",)) == 2
    assert find_line(text, ("drives", "fake", "image")) is None
    assert find_line(text, ("drives", "mua0:")) == 6
    assert find_line(text, ("drives", "mua0:", "image")) == 7
    assert find_line(text, ("drives", "mua0:", "qualifiers")) == 6  # the enclosing table
    assert find_line(text, ("list", "drives", "mub0", "image")) == 9
    assert find_line(text, ("drives", "muc0", "image")) == 10
    assert find_line(text, ("absent",)) is None


def test_the_default_file_is_rmtd_config_then_etc(site: Path) -> None:
    path = write(site, 'root = "tapes"\n')
    assert default_config_path({"RMTD_CONFIG": path}) == path
    etc = default_config_path({})
    assert etc is None or etc == "/etc/rmtd.toml"
    assert read_config(None, {"RMTD_CONFIG": path}).root == str(site / "tapes")
    assert read_config(path, {"RMTD_CONFIG": "/nonexistent.toml"}).root == str(site / "tapes")
    with pytest.raises(ConfigError, match=r"nonexistent\.toml"):
        read_config(None, {"RMTD_CONFIG": "/nonexistent.toml"})


def test_drives_need_a_root(site: Path) -> None:
    config = parse_config("[drives.mua0]\n", "x.toml")
    with pytest.raises(ConfigError, match="root: named drives need a root"):
        config.check_drives()
    load_config(write(site, 'root = "tapes"\n[drives.mua0]\n')).check_drives()


def test_rmtd_refuses_a_bad_config_with_one_line_and_exit_2(site: Path) -> None:
    path = write(site, 'root = "tapes"\n[drives.mua0]\nqualifiers = "/bogus"\n')
    done = subprocess.run(
        [*RMTD, "--config", path], input=b"", capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.decode() == (
        f"rmtd: {path}, line 3: drives.mua0.qualifiers: unknown qualifier /bogus\n"
    )
    assert done.stdout == b""


def test_rmtd_reads_rmtd_config_and_refuses_drives_without_root(site: Path) -> None:
    path = write(site, "[drives.mua0]\n")
    result = CliRunner().invoke(rmtd_main, [], env={"RMTD_CONFIG": path})
    assert result.exit_code == 2
    assert (
        result.stderr == f"rmtd: {path}: root: named drives need a root (set root or give --root)\n"
    )


def rmt_open(args: list[str], name: str) -> bytes:
    """Send one O and C to rmtd; return its replies."""
    request = f"O{name}\n0\nC\n".encode()
    done = subprocess.run(
        [*RMTD, *args], input=request, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_command_line_options_win_over_the_config(site: Path) -> None:
    other = site / "other"
    other.mkdir()
    (other / "only-here.txt").write_text("x")
    path = write(site, 'root = "tapes"\n')
    assert rmt_open(["--config", path], "only-here.txt").startswith(b"E2\n")
    assert rmt_open(["--config", path, "--root", str(other)], "only-here.txt") == b"A0\nA0\n"


def test_the_state_dir_is_refused_to_clients(site: Path) -> None:
    (site / "tapes" / ".rmtd" / "drives").mkdir(parents=True)
    (site / "tapes" / ".rmtd" / "drives" / "mua0.json").write_text("{}")
    (site / "tapes" / "link").symlink_to(site / "tapes" / ".rmtd" / "drives")
    for name in (".rmtd/drives/mua0.json", ".rmtd", "link/mua0.json"):
        reply = rmt_open(["--root", str(site / "tapes")], name)
        assert reply.startswith(b"E13\n") and b"reserved" in reply, name
    state = site / "elsewhere"
    path = write(site, f'root = "tapes"\nstate_dir = "{state}"\n')
    assert rmt_open(["--config", path], ".rmtd/drives/mua0.json") == b"A0\nA0\n"


def test_defaults_apply_before_a_drives_own_qualifiers(site: Path) -> None:
    text = (
        'root = "tapes"\ndefaults = "/nomount/norewind/nounload"\n'
        '[drives.nst0]\nimage = "a.tap"\n'
        '[drives.mua0]\nimage = "b.tap"\nqualifiers = "/unload/assist"\n'
    )
    config = load_config(write(site, text))
    held = Qualifiers(mount=False, rewind=False, unload=False)
    assert config.defaults == held
    nst0, mua0 = config.drive("nst0"), config.drive("mua0")
    assert nst0 is not None and nst0.qualifiers == held
    assert mua0 is not None and mua0.qualifiers == Qualifiers(
        mount=False, rewind=False, unload=True, assist=True
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('defaults = "/frob"\n', "unknown qualifier /frob"),
        ('defaults = "nomount"\n', "must start with '/'"),
        ("defaults = 3\n", "expected a string"),
        ('max_record = 512\ndefaults = "/blocksize=1024"\n', "exceeds max_record 512"),
    ],
)
def test_bad_defaults_are_refused_naming_the_key(site: Path, text: str, why: str) -> None:
    message = error_of(site, text)
    assert ": defaults: " in message and why in message, message
