"""The sealed archive of `sotay backup` (sotay/system/backup.py): it opens with its passphrase only,
holds nothing in clear, and a changed, cut, reordered or extended archive does not open; a restore
refuses a data directory that is not empty, and a passphrase that is missing or short."""

from __future__ import annotations

import io
import struct
import tarfile

import pytest

from sotay.kit.settings import Settings
from sotay.system.backup import (
    BackupError,
    SealedReader,
    SealedWriter,
    _CHUNK,
    _HEADER,
    _extract,
    passphrase_from,
    restore,
)

PASSPHRASE = "a passphrase long enough"
SECRET = b"kek: do-not-leak-0123456789"


def sealed(plain: bytes, passphrase: str = PASSPHRASE) -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, passphrase)
    for start in range(0, len(plain), 300_000):  # written in pieces, as tarfile does
        writer.write(plain[start:start + 300_000])
    writer.finish()
    return out.getvalue()


def opened(archive: bytes, passphrase: str = PASSPHRASE) -> bytes:
    return io.BufferedReader(SealedReader(io.BytesIO(archive), passphrase)).read()


def chunks(archive: bytes) -> list[bytes]:
    """The archive's chunks, each with its length prefix."""
    out, at = [], _HEADER.size
    while at < len(archive):
        size = struct.unpack(">I", archive[at:at + 4])[0]
        out.append(archive[at:at + 4 + size])
        at += 4 + size
    return out


PLAIN = SECRET + bytes(range(256)) * 10_000  # 2.5 MiB: three chunks


def test_an_archive_opens_with_its_passphrase_and_holds_nothing_in_clear():
    archive = sealed(PLAIN)
    assert opened(archive) == PLAIN
    assert SECRET not in archive and b"do-not-leak" not in archive
    assert len(chunks(archive)) == len(PLAIN) // _CHUNK + 1
    assert sealed(PLAIN) != archive  # a fresh salt and nonces each time
    assert opened(sealed(b"")) == b""


def test_a_wrong_passphrase_opens_nothing():
    with pytest.raises(BackupError, match="wrong passphrase"):
        opened(sealed(PLAIN), "another passphrase, long")


@pytest.mark.parametrize("change", ["flip a byte", "cut the last chunk", "cut mid-chunk", "swap two chunks",
                                    "drop a chunk", "add bytes", "change the header"])
def test_a_changed_archive_does_not_open(change):
    archive = sealed(PLAIN)
    head, parts = archive[:_HEADER.size], chunks(archive)
    changed = {
        "flip a byte": archive[:5000] + bytes([archive[5000] ^ 1]) + archive[5001:],
        "cut the last chunk": head + b"".join(parts[:-1]),
        "cut mid-chunk": archive[:-10],
        "swap two chunks": head + parts[1] + parts[0] + b"".join(parts[2:]),
        "drop a chunk": head + parts[0] + b"".join(parts[2:]),
        "add bytes": archive + b"\x00\x00\x00\x01x",
        "change the header": archive[:20] + bytes([archive[20] ^ 1]) + archive[21:],
    }[change]
    with pytest.raises(BackupError):
        opened(changed)


def test_not_an_archive_is_refused():
    with pytest.raises(BackupError, match="not a sotay backup"):
        opened(b"PGDMP" + bytes(100))


def test_the_passphrase_comes_from_stdin_or_the_environment_and_is_long_enough():
    assert passphrase_from({"SOTAY_BACKUP_PASSPHRASE": PASSPHRASE}, None) == PASSPHRASE
    assert passphrase_from({"SOTAY_BACKUP_PASSPHRASE": "ignored when stdin gives one"}, PASSPHRASE + "\n") \
        == PASSPHRASE
    with pytest.raises(BackupError, match="no passphrase"):
        passphrase_from({}, None)
    with pytest.raises(BackupError, match="at least 12"):
        passphrase_from({}, "short\n")


async def test_a_restore_refuses_a_data_directory_that_is_not_empty(tmp_path):
    archive = tmp_path / "a.backup"
    archive.write_bytes(sealed(b"whatever"))
    data_dir = tmp_path / "data"
    (data_dir / "keys").mkdir(parents=True)
    with pytest.raises(BackupError, match="not empty"):
        await restore(Settings(data_dir=data_dir, nats_url=None, database_url=None), archive, PASSPHRASE)
    assert sorted(p.name for p in data_dir.iterdir()) == ["keys"]  # nothing touched


@pytest.mark.parametrize("name, kind", [("../outside", tarfile.REGTYPE), ("/tmp/absolute", tarfile.REGTYPE),
                                        ("keys/../../outside", tarfile.REGTYPE), ("bin/sotay", tarfile.REGTYPE),
                                        ("keys/link", tarfile.SYMTYPE), ("keys/a/b", tarfile.REGTYPE),
                                        ("run.sh", tarfile.REGTYPE)])
def test_an_archive_with_an_entry_a_backup_never_writes_is_refused(tmp_path, name, kind):
    """Even one sealed with the right passphrase (a stolen one, or an old archive doctored): no entry
    lands outside the staging directory, no link is followed, nothing but manifest, nats/, postgres/
    and keys/ is written."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        entry = tarfile.TarInfo(name)
        entry.type = kind
        if kind == tarfile.SYMTYPE:
            entry.linkname = "/etc/passwd"
            tar.addfile(entry)
        else:
            entry.size = 4
            tar.addfile(entry, io.BytesIO(b"evil"))
    archive = tmp_path / "doctored.backup"
    archive.write_bytes(sealed(plain.getvalue()))
    staging = tmp_path / "deep" / "staging"
    staging.mkdir(parents=True)
    with pytest.raises(BackupError, match="unexpected entry"):
        _extract(archive, PASSPHRASE, staging)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p != archive] == []
