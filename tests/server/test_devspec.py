"""Device specs with OpenVMS qualifiers: parsing from the right, errors that name the qualifier."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmtd.devspec import DevSpecError, Qualifiers, parse_device_spec, parse_qualifiers


def test_the_seed_example() -> None:
    spec = parse_device_spec("vol1.tap/nomount/norewind/nounload/density=1600")
    assert spec.name == "vol1.tap"
    q = spec.qualifiers
    assert (q.mount, q.rewind, q.unload, q.density) == (False, False, False, 0x02)
    assert (q.write, q.stream, q.assist, q.cd) == (True, True, False, False)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("/dev/nst0", "/dev/nst0"),
        ("/srv/tapes", "/srv/tapes"),
        ("mua0:/nowrite", "mua0:"),
        ("/srv/t/v.tap/NoMount/REWIND", "/srv/t/v.tap"),
        ("a/b/c.tap", "a/b/c.tap"),
    ],
)
def test_names(text: str, name: str) -> None:
    assert parse_device_spec(text).name == name


def test_all_ten_qualifiers() -> None:
    q = parse_device_spec(
        'mua0:/assist/blocksize=512/comment="vol 7/b"/density=6250/nomount/norewind'
        "/nostream/nounload/nowrite"
    ).qualifiers
    assert q == Qualifiers(
        assist=True,
        mount=False,
        rewind=False,
        stream=False,
        unload=False,
        write=False,
        blocksize=512,
        density=3,
        cd=False,
        comment="vol 7/b",
    )
    assert parse_device_spec("disc.iso/cd").qualifiers.cd


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("vol.tap/frobnicate", "/frobnicate"),
        ("mua0:/nomont", "/nomont"),
        ("v.tap/nomount/bogus=1", "/bogus=1"),
        ("v.tap/blocksize=0", "/blocksize=0"),
        ("v.tap/blocksize=abc", "/blocksize=abc"),
        ("v.tap/density=99999", "/density=99999"),
        ("v.tap/mount/nomount", "/mount"),
        ("v.tap/cd/write", "/cd"),
        ("v.tap/rewind=1", "/rewind"),
        ("v.tap/blocksize", "/blocksize"),
        ('v.tap/comment="open', "quote"),
    ],
)
def test_bad_specs_name_the_qualifier(text: str, named: str) -> None:
    with pytest.raises(DevSpecError) as caught:
        parse_device_spec(text)
    assert caught.value.errno == 22
    assert named in str(caught.value.strerror)


def test_client_qualifiers_apply_over_config_defaults() -> None:
    base = parse_qualifiers("/nomount/norewind")
    spec = parse_device_spec("mua0:/rewind", base)
    assert (spec.qualifiers.mount, spec.qualifiers.rewind) == (False, True)
    with pytest.raises(DevSpecError):
        parse_qualifiers("nomount")


NAMES = st.from_regex(r"[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}\.(tap|aws)", fullmatch=True)
BOOLS = st.sampled_from(["assist", "mount", "rewind", "stream", "unload", "write"])


@given(
    NAMES,
    st.dictionaries(BOOLS, st.booleans()),
    st.one_of(st.none(), st.integers(1, 1 << 20)),
    st.one_of(st.none(), st.sampled_from([800, 1600, 6250])),
)
def test_any_combination_round_trips(
    name: str, flags: dict[str, bool], block: int | None, bpi: int | None
) -> None:
    parts = [("" if on else "no") + key for key, on in flags.items()]
    if block is not None:
        parts.append(f"blocksize={block}")
    if bpi is not None:
        parts.append(f"density={bpi}")
    text = name + "".join("/" + (p.upper() if hash((p, name)) % 2 else p) for p in parts)
    spec = parse_device_spec(text)
    assert spec.name == name
    for key, on in flags.items():
        assert getattr(spec.qualifiers, key) is on
    assert spec.qualifiers.blocksize == block
    assert spec.qualifiers.density == ({800: 1, 1600: 2, 6250: 3}[bpi] if bpi else None)


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_einval(text: str) -> None:
    try:
        spec = parse_device_spec(text)
    except DevSpecError as exc:
        assert exc.errno == 22
    else:
        assert spec.name
