"""The real ``clearml`` SDK (2.1.12) stores artifacts and models through skiff's ``/files/`` endpoint.

The SDK runs in a subprocess with a private HOME and only the ``CLEARML_*`` lines ``skiff serve``
printed. It uploads a dict artifact, a file artifact and an ``OutputModel``'s weights, closes the
task, and downloads an artifact back. The test then reads the task and model through the API and
checks that every registered URI names a file under the files root whose bytes ``/files/`` serves.
A second run points ``CLEARML_FILES_HOST`` at a ``file://`` folder instead (no files server).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest

from skiff.ops.install import open_database, upgrade_database
from skiff.settings import Settings
from tests.clients.test_sdk_login import printed_settings, sdk_env
from tests.support import DIALECT, Api, LiveServer, live_server, new_database_url

pytestmark = pytest.mark.slow

SDK_TIMEOUT = 240
MARKER = "SKIFF-SDK-RESULT "
KEY, SECRET = "ARTIFACTSKEY0001", "artifacts-secret-0001-abcdefghijklmnop"
NOTES = b"hello artifacts\n"
WEIGHTS = bytes(range(256)) * 40

# output_uri=True sends models to the default destination (the files host); without it
# OutputModel only registers the local path of the weights file.
SDK_SCRIPT = f"""
import json, sys
from pathlib import Path
from clearml import OutputModel, Task

work = Path(sys.argv[1])
task = Task.init(
    project_name="skiff artifacts", task_name="artifact run", output_uri=True,
    auto_connect_frameworks=False, auto_resource_monitoring=False, auto_connect_arg_parser=False,
    reuse_last_task_id=False,
)
notes = work / "notes.txt"
notes.write_bytes({NOTES!r})
weights = work / "weights.bin"
weights.write_bytes({WEIGHTS!r})
task.upload_artifact("data", {{"a": 1}}, wait_on_upload=True)
task.upload_artifact("notes", artifact_object=notes, wait_on_upload=True)
model = OutputModel(task=task, framework="custom")
model.update_weights(weights_filename=str(weights))
task_id, model_id = task.id, model.id
task.close()

again = Task.get_task(task_id=task_id)
print({MARKER!r} + json.dumps({{
    "task": task_id,
    "model": model_id,
    "model_url": model.url,
    "artifacts": {{k: v.url for k, v in again.artifacts.items()}},
    "data": again.artifacts["data"].get(),
    "notes": Path(again.artifacts["notes"].get_local_copy()).read_text(),
}}))
"""


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    db_url = new_database_url(tmp_path)
    if DIALECT == "postgresql":  # skiff serve never changes a PostgreSQL schema by itself
        settings = Settings(data_dir=data_dir, db_url=db_url)
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    home = tmp_path / "server-home"
    home.mkdir()
    env = {"HOME": str(home), "SKIFF_DATA_DIR": str(data_dir), "SKIFF_ACCESS_KEY": KEY, "SKIFF_SECRET_KEY": SECRET}
    with live_server(data_dir, db_url, env=env) as running:
        yield running


def run_sdk(tmp: Path, settings: dict[str, str], server: LiveServer) -> dict:
    home = tmp / "sdk-home"
    home.mkdir(exist_ok=True)
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT, str(work)],
        env=sdk_env(home, settings),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=SDK_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    report = f"{result.stdout}\n{result.stderr}\n--- server ---\n{server.output}"
    assert result.returncode == 0, report
    line = next((l for l in result.stdout.splitlines() if l.startswith(MARKER)), None)
    assert line, report
    assert "Failed uploading" not in result.stderr + result.stdout, report
    found = json.loads(line[len(MARKER) :])
    found["log"] = report
    return found


def registered_uris(server: LiveServer, found: dict) -> tuple[dict[str, str], str]:
    """The artifact URIs (by key) and the model URI, read back through the API."""
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        api = Api(http, key=KEY, secret=SECRET)
        task = api("tasks.get_by_id", {"task": found["task"]})["task"]
        artifacts = task["execution"]["artifacts"]
        assert isinstance(artifacts, list), artifacts
        by_key = {a["key"]: a for a in artifacts}
        assert set(by_key) == {"data", "notes"}, artifacts
        assert all(a["mode"] == "output" for a in artifacts), artifacts
        assert by_key["notes"]["content_size"] == len(NOTES)
        models = api("models.get_all", {"task": [found["task"]]})["models"]
        assert [m["id"] for m in models] == [found["model"]], models
        assert models[0]["framework"] == "custom", models[0]
        output = [m for m in task.get("models", {}).get("output", [])]
        assert [m["model"] for m in output] == [found["model"]], task.get("models")
    return {k: a["uri"] for k, a in by_key.items()}, models[0]["uri"]


def test_sdk_artifacts_and_models_go_through_the_files_endpoint(tmp_path: Path, server: LiveServer) -> None:
    settings = printed_settings(server)
    files_host = settings["CLEARML_FILES_HOST"]
    assert files_host == f"{server.url}/files"
    found = run_sdk(tmp_path, settings, server)
    assert found["data"] == {"a": 1}, found["log"]
    assert found["notes"] == NOTES.decode(), found["log"]

    artifacts, model_uri = registered_uris(server, found)
    assert artifacts == found["artifacts"]
    assert model_uri == found["model_url"]
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        api = Api(http, key=KEY, secret=SECRET)
        token = api.token()
        company = api("users.get_current_user", {})["user"]["company"]["id"]
        files_root = tmp_path / "data" / "files" / company  # each company has its own area
        expected = {"data": None, "notes": NOTES, "model": WEIGHTS}
        for key, uri in [*artifacts.items(), ("model", model_uri)]:
            assert uri.startswith(files_host + "/"), (key, uri)
            relative = unquote(uri[len(files_host) + 1 :])
            assert relative.startswith(f"skiff artifacts/artifact run.{found['task']}/"), relative
            stored = files_root / relative
            assert stored.is_file(), (key, stored)
            response = http.get(uri[len(server.url) :], headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, (key, response.text)
            assert response.content == stored.read_bytes()
            if expected[key] is not None:
                assert response.content == expected[key], key
            assert http.get(uri[len(server.url) :]).status_code == 401
        assert json.loads((files_root / unquote(artifacts["data"][len(files_host) + 1 :])).read_text()) == {"a": 1}
        assert "/artifacts/data/" in artifacts["data"] and "/models/" in model_uri


def test_sdk_with_a_file_url_files_host_needs_no_files_server(tmp_path: Path, server: LiveServer) -> None:
    store = tmp_path / "shared-store"
    store.mkdir()
    settings = {**printed_settings(server), "CLEARML_FILES_HOST": store.as_uri()}
    found = run_sdk(tmp_path, settings, server)
    assert found["data"] == {"a": 1}, found["log"]
    assert found["notes"] == NOTES.decode(), found["log"]

    artifacts, model_uri = registered_uris(server, found)
    for key, uri in [*artifacts.items(), ("model", model_uri)]:
        parsed = urlparse(uri)
        assert parsed.scheme == "file", (key, uri)
        path = Path(unquote(parsed.path))
        assert path.is_file() and path.is_relative_to(store), (key, uri)
    assert (Path(unquote(urlparse(artifacts["notes"]).path))).read_bytes() == NOTES
    assert Path(unquote(urlparse(model_uri).path)).read_bytes() == WEIGHTS
    assert not (tmp_path / "data" / "files").exists() or not any((tmp_path / "data" / "files").iterdir())
