"""Generate the typed Python client of the HTTP API (``nox -s client``).

Writes the OpenAPI document of memory mode's host (the whole API plus the testing routes) to
``openapi.json`` beside the output, then runs openapi-python-client on it with the settings in
``openapi-python-client.yaml``. The result is a package (``pip install
clients/townsquare-client``, import name ``townsquare_client``): generated, never edited, not
committed; run this again after the API changes.

Run: ``python clients/generate.py [OUTPUT]`` (default ``clients/townsquare-client``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def generate(output: Path) -> Path:
    """Generate the client package into ``output`` (replaced); returns the document's path."""
    document = output.parent / "openapi.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    # The generator's hooks run ruff from PATH: this interpreter's environment has it.
    env = {**os.environ, "PORTS_MODE": "memory", "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run([sys.executable, "-m", "townsquare", "openapi", "--output", str(document)], env=env, check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(output),
            "--config",
            str(HERE / "openapi-python-client.yaml"),
            "--overwrite",
            "--fail-on-warning",
        ],
        env=env,
        check=True,
    )
    return document


if __name__ == "__main__":
    generate(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE / "townsquare-client")
