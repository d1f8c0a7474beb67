"""Files into and out of containers and volumes through the Engine API (``put_archive`` and a streamed
``get_archive``), never a bind mount: a remote engine that cannot see this machine's files works too.
:class:`FileTransfer` is a part of :class:`stacktest.adapters.engine.Engine`."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacktest._lazy import lazy_module
from stacktest.adapters.engine_model import LABEL_TOKEN, ONEOFF_LABEL, PROJECT_LABEL, short
from stacktest.errors import CoverageError, EngineUnavailable

if TYPE_CHECKING:
    import docker
    import docker.errors
else:
    docker = lazy_module("docker")

__all__ = ["FileTransfer"]

ENTRIES_PER_FILE = (
    10  # entries of any kind (the ledger, markers, folders) a data folder may hold per file cap
)

log = logging.getLogger("stacktest")


class FileTransfer:
    """The file operations of :class:`~stacktest.adapters.engine.Engine`, over its client."""

    client: docker.DockerClient

    def volume_at(self, container_id: str, destination: str) -> str | None:
        """The name of the volume a container mounts at ``destination`` (None: none there)."""
        log.debug("engine: inspect %s (mounts)", container_id[:12])
        try:
            mounts = self.client.api.inspect_container(container_id).get("Mounts") or []
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"cannot inspect container {container_id[:12]}: {short(exc)}") from exc
        return next(
            (
                str(m["Name"])
                for m in mounts
                if m.get("Destination") == destination and m.get("Type") == "volume"
            ),
            None,
        )

    def fill_volume(self, volume: str, archive: bytes, *, like: str) -> None:
        """Unpack a tar ``archive`` into ``volume``, through a helper container made from the image of
        container ``like`` and labelled with its project (so a teardown or reap removes it, should this
        process die meanwhile). The helper is created, never started, and removed."""
        api = self.client.api
        try:
            attrs = api.inspect_container(like)
            labels = (attrs.get("Config") or {}).get("Labels") or {}
            helper = api.create_container(
                attrs["Image"],
                command=["true"],
                labels={
                    PROJECT_LABEL: labels.get(PROJECT_LABEL, ""),
                    LABEL_TOKEN: labels.get(LABEL_TOKEN, ""),  # the reaper's, should this process die
                    ONEOFF_LABEL: "True",
                },
                host_config=api.create_host_config(binds={volume: {"bind": "/fill", "mode": "rw"}}),
            )
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"could not fill volume {volume}: {short(exc)}") from exc
        try:
            api.put_archive(helper["Id"], "/fill", archive)
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"could not fill volume {volume}: {short(exc)}") from exc
        finally:
            with contextlib.suppress(docker.errors.DockerException):
                api.remove_container(helper["Id"], force=True)

    def put_file(self, container_id: str, folder: str, name: str, content: bytes) -> None:
        """Write the file ``folder/name`` into a container (running or not), through the Engine API."""
        entry = tarfile.TarInfo(name)
        entry.size, entry.mode, entry.mtime = len(content), 0o644, int(time.time())
        self._put_entry(container_id, folder, entry, content, f"write {folder}/{name}")

    def make_writable(self, container_id: str, folder: str) -> None:
        """Create ``folder`` in a created (not yet started) container, world-writable with the sticky
        bit like /tmp, so that any user the service runs as can write there. Its parent must be a
        volume: the archive is unpacked into it, which the engine allows on a read-only root filesystem
        too. Done through the Engine API, so it works on a remote engine as well."""
        parent, _, name = folder.rstrip("/").rpartition("/")
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode = tarfile.DIRTYPE, 0o1777
        self._put_entry(container_id, parent or "/", entry, None, f"create {folder}")

    def _put_entry(
        self, container_id: str, folder: str, entry: tarfile.TarInfo, content: bytes | None, what: str
    ) -> None:
        """Unpack a one-entry archive into ``folder`` of a container."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(entry, io.BytesIO(content) if content is not None else None)
        try:
            self.client.api.put_archive(container_id, folder, buf.getvalue())
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(
                f"could not {what} in container {container_id[:12]}: {short(exc)}"
            ) from exc

    def copy_out(
        self,
        container_id: str,
        path: str,
        dest: Path,
        *,
        accept: Callable[[str], bool],
        max_files: int,
        max_bytes: int,
    ) -> int | None:
        """Copy the files directly inside folder ``path`` of a (possibly stopped) container whose names
        ``accept`` takes into ``dest``; return how many, or None when the container is gone.

        The archive is streamed, never held in memory, and sub-folders, links and other entries are
        skipped. A file count or size over the limits raises :class:`CoverageError` before the file
        is read (a sparse 100 GB file costs the container nothing, but would fill the host)."""
        api = self.client.api
        try:
            # the SDK's get_archive hides the response, which must be closed if we stop early (the engine
            # would go on archiving a 100 GB file, and hold the container meanwhile)
            response = api._get(
                api._url("/containers/{0}/archive", container_id), params={"path": path}, stream=True
            )
            api._raise_for_status(response)
        except docker.errors.NotFound:
            return None
        dest.mkdir(parents=True, exist_ok=True)
        count = size = 0
        try:
            chunks = response.iter_content(chunk_size=1 << 20)
            with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks)), mode="r|") as tar:
                for entries, member in enumerate(tar, 1):
                    if entries > max_files * ENTRIES_PER_FILE:  # what it skips costs the stream too
                        raise CoverageError(
                            f"{path} of container {container_id[:12]} holds more than "
                            f"{max_files * ENTRIES_PER_FILE} entries; stopped copying",
                            hint="look at what writes there (`stacktest logs`): only coverage data belongs",
                        )
                    parts = Path(member.name).parts
                    if len(parts) != 2 or not member.isreg() or not accept(parts[1]):
                        continue
                    count += 1
                    size += member.size
                    if count > max_files or size > max_bytes:
                        raise CoverageError(
                            f"{path} of container {container_id[:12]} holds more than {max_files} files "
                            f"or {max_bytes / 2**20:.0f} MiB of coverage data; stopped copying",
                            hint="look at what writes there (`stacktest logs`); raise the limits only if "
                            "the data is real",
                        )
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    with (dest / parts[1]).open("wb") as fh:
                        shutil.copyfileobj(source, fh)
        finally:
            response.close()
        return count


class _ChunkReader(io.RawIOBase):
    """A file over the chunks of an HTTP body, so tarfile can stream it."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
