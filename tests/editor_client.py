"""A reference editor client: drives `filebridge serve --stdio` as an extension would, and checks
every message it receives against the protocol's JSON Schemas."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import jsonschema

import filebridge
from filebridge.editor.framing import frame, read_message
from filebridge.editor.schema_files import load_schema
from filebridge.wire.codec import dumps, loads

CHECKOUT = Path(filebridge.__file__).resolve().parents[1]
SCHEMAS = {name: load_schema(name) for name in ("message", "requests", "notifications")}


def validator(name: str, pointer: str) -> jsonschema.protocols.Validator:
    """A validator for the part of schema ``name`` at ``pointer`` (its $defs stay reachable)."""
    schema = dict(SCHEMAS[name])
    schema["$ref"] = "#/" + "/".join(p.replace("~", "~0").replace("/", "~1")
                                     for p in pointer.split("\0"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def check(name: str, key: str, part: str, value: Any) -> None:
    section = "methods" if name == "requests" else "notifications"
    validator(name, f"{section}\0{key}\0{part}").validate(value)


class RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['code']}: {error['message']}")
        self.code = error["code"]
        self.message = error["message"]
        self.data = error.get("data")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH")) if p)
    return env


class EditorClient:
    def __init__(self, root: Path, *, framing: str = "lines", extra: tuple[str, ...] = (),
                 validate: bool = True, env: Optional[dict[str, str]] = None) -> None:
        self.framing = framing
        self.validate = validate
        self.stderr_path = root.parent / f"editor-{time.monotonic_ns()}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - the process's lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", "filebridge", "serve", "--stdio", "--root", str(root),
             "--framing", framing, *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env={**clean_env(), **(env or {})})
        self.notifications: list[dict[str, Any]] = []
        self.invalid: list[str] = []
        self._answers: dict[Any, dict[str, Any]] = {}
        self._methods: dict[Any, str] = {}
        self._next_id = 0
        self._changed = threading.Condition()
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            body = read_message(self.process.stdout, self.framing)  # type: ignore[arg-type]
            if body is None:
                break
            message = loads(body)
            problem = self._check(message)
            with self._changed:
                if problem:
                    self.invalid.append(problem)
                if "method" in message:
                    message["received"] = time.perf_counter()
                    self.notifications.append(message)
                else:
                    self._answers[message.get("id")] = message
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _check(self, message: dict[str, Any]) -> str:
        if not self.validate:
            return ""
        try:
            jsonschema.validate(message, SCHEMAS["message"])
            if "method" in message:
                check("notifications", message["method"], "params", message["params"])
            elif "result" in message:
                with self._changed:
                    method = self._methods.get(message["id"])
                if method is not None:
                    check("requests", method, "result", message["result"])
        except (jsonschema.ValidationError, jsonschema.exceptions.RefResolutionError) as exc:
            return f"{message.get('method') or message.get('id')}: {exc.message}"
        except Exception as exc:
            return f"{message}: {exc}"
        return ""

    def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        with self._write_lock:
            self.process.stdin.write(frame(dumps(message), self.framing))
            self.process.stdin.flush()

    def start(self, method: str, params: Optional[dict[str, Any]] = None,
              check_params: bool = True) -> int:
        with self._changed:
            self._next_id += 1
            rid = self._next_id
            self._methods[rid] = method
        if params is not None and self.validate and check_params:
            check("requests", method, "params", params)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return rid

    def answer(self, rid: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while rid not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no answer to request {rid}; stderr:\n{self.stderr()}")
                self._changed.wait(min(left, 0.1))
            return self._answers.pop(rid)

    def request(self, method: str, params: Optional[dict[str, Any]] = None,
                timeout: float = 30, check_params: bool = True) -> Any:
        message = self.answer(self.start(method, params, check_params), timeout)
        if "error" in message:
            raise RpcFailure(message["error"])
        return message["result"]

    def notify(self, method: str, params: Optional[dict[str, Any]] = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def wait_notification(self, method: str,
                          where: Callable[[dict[str, Any]], bool] = lambda p: True,
                          timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for note in self.notifications:
                    if note["method"] == method and where(note["params"]):
                        return dict(note["params"])
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [n["method"] for n in self.notifications]
                    raise AssertionError(f"no {method} notification; got {seen}")
                self._changed.wait(min(left, 0.1))

    def methods_seen(self) -> list[str]:
        with self._changed:
            return [n["method"] for n in self.notifications]

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def shutdown(self, timeout: float = 30) -> int:
        """shutdown, then exit: the server's exit code."""
        assert self.request("shutdown") is None
        self.notify("exit")
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._stderr.close()
