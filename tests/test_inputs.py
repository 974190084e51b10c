"""Folder input for ``analyze``: which files a folder contributes, in which order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netsentry.errors import UsageError
from netsentry.inputs import expand_inputs, is_capture_file
from tests.factories import ether, gzipped, ipv4, pcap_bytes, tcp, write_pcap, write_pcapng

T0 = 1706702400.0


def _frames() -> list[tuple[float, bytes]]:
    return [(T0, ether(ipv4(tcp(payload=b"hi"))))]


def test_captures_are_recognised_by_content_not_extension(tmp_path: Path) -> None:
    write_pcap(tmp_path / "trace.bin", _frames())
    write_pcapng(tmp_path / "ng.dat", _frames())
    (tmp_path / "zipped").write_bytes(gzipped(pcap_bytes(_frames())))
    (tmp_path / "fake.pcap").write_text("not a capture\n")
    (tmp_path / "text.gz").write_bytes(gzipped(b"plain text inside gzip"))
    (tmp_path / "empty.pcap").write_bytes(b"")
    assert is_capture_file(str(tmp_path / "trace.bin"))
    assert is_capture_file(str(tmp_path / "ng.dat"))
    assert is_capture_file(str(tmp_path / "zipped"))
    assert not is_capture_file(str(tmp_path / "fake.pcap"))
    assert not is_capture_file(str(tmp_path / "text.gz"))
    assert not is_capture_file(str(tmp_path / "empty.pcap"))
    inputs = expand_inputs([str(tmp_path)])
    assert [Path(p).name for p in inputs.paths] == ["ng.dat", "trace.bin", "zipped"]
    assert inputs.warnings == [
        f"{tmp_path}: skipped 3 file(s) that are not captures or cannot be read"
    ]


def test_folders_are_walked_recursively_in_name_order(tmp_path: Path) -> None:
    root = tmp_path / "caps"
    for rel in ("b.pcap", "a/z.pcap", "a/b/c.pcap", "c.pcap", ".hidden.pcap", ".dir/x.pcap"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_pcap(root / rel, _frames())
    inputs = expand_inputs([str(root)])
    assert [os.path.relpath(p, root) for p in inputs.paths] == [
        "a/b/c.pcap", "a/z.pcap", "b.pcap", "c.pcap"
    ]
    assert inputs.warnings == [f"{root}: skipped 2 hidden entries"]


def test_symlink_loops_are_walked_once(tmp_path: Path) -> None:
    root = tmp_path / "caps"
    (root / "sub").mkdir(parents=True)
    write_pcap(root / "sub" / "one.pcap", _frames())
    (root / "sub" / "up").symlink_to("..")  # a loop back to the root
    (root / "link.pcap").symlink_to(root / "sub" / "one.pcap")  # file links are followed
    (root / "dangling").symlink_to(tmp_path / "missing")
    inputs = expand_inputs([str(root)])
    assert [os.path.relpath(p, root) for p in inputs.paths] == ["link.pcap", "sub/one.pcap"]
    assert inputs.warnings == [
        f"{root}: skipped 1 file(s) that are not captures or cannot be read"
    ]


def test_files_and_stdin_are_kept_as_given_around_folders(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    write_pcap(folder / "x.pcap", _frames())
    inputs = expand_inputs(["first.txt", str(folder), "-"])
    assert inputs.paths == ["first.txt", str(folder / "x.pcap"), "-"]
    assert inputs.warnings == []


@pytest.mark.parametrize("content", [None, "readme"])
def test_a_folder_without_captures_is_a_usage_error(tmp_path: Path, content: str | None) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    if content is not None:
        (folder / "README").write_text(content)
    with pytest.raises(UsageError, match=r"empty: folder holds no capture file"):
        expand_inputs([str(folder)])
