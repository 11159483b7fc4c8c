"""Every error answer reaches the caller as the exception class of its code."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

import pytest
import source_support

import filebridge.errors as errors
from filebridge.errors import FilebridgeError, RemoteError
from filebridge.host import Call, Host
from filebridge.worker.connection import open_connection


def test_each_answer_code_is_raised_as_its_own_class(tmp_path: Path) -> None:
    host = Host(tmp_path / "root")

    def refuse(call: Call) -> None:
        raise RemoteError("refused", "not below a served folder")

    def fail(call: Call) -> None:
        raise ValueError("boom")

    host.register("refuse", refuse)
    host.register("fail", fail)
    host.start()
    worker = open_connection(tmp_path / "root" / "sessions" / "s")
    try:
        with pytest.raises(errors.Refused, match="not below a served folder"):
            worker.call("refuse", timeout=10)
        with pytest.raises(errors.HandlerFailed, match="ValueError: boom") as failed:
            worker.call("fail", timeout=10)
        assert "Traceback" in str(failed.value.details)
        with pytest.raises(errors.NoHandler):
            worker.call("nothing_answers_this", timeout=10)
    finally:
        worker.close()
        host.stop()


def test_the_hierarchy_is_whole_and_exported() -> None:
    for code, cls in errors._BY_CODE.items():
        made = errors.error_from_answer(code, "m")
        assert type(made) is cls and isinstance(made, RemoteError)
    assert type(errors.error_from_answer("a_feature_code", "m")) is RemoteError
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), FilebridgeError), name
    public = {n for n, v in vars(errors).items()
              if isinstance(v, type) and issubclass(v, Exception) and not n.startswith("_")
              and v.__module__ == errors.__name__}
    assert public == set(errors.__all__)


def test_every_exception_filebridge_defines_is_in_filebridge_errors() -> None:
    """The whole hierarchy lives in one module; other modules re-export what they raise.
    ``Overtime`` is an interrupt (a BaseException, so user code's ``except Exception`` cannot
    swallow it), not an error; names with a leading underscore never leave their module.
    Read from the source, so that modules of extras that are not installed are checked too."""
    outside = exceptions_outside_errors()
    assert outside == [], f"exceptions defined outside filebridge.errors: {outside}"
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), FilebridgeError), name


def exceptions_outside_errors(extra: Optional[tuple[str, str]] = None) -> list[str]:
    """Public module-level classes deriving from ``Exception`` outside ``filebridge.errors``;
    ``extra`` adds ``(module, source)`` to the package. Where the source does not tell (a base
    from a module of an extra that is not installed, or one the Python in use lacks), the
    class is imported; a module that cannot be imported is left out, as its extra is."""
    outside: list[str] = []
    found = dict(source_support.modules())
    if extra is not None:
        found[extra[0]] = Path(extra[1])
    reader = source_support.ClassReader(found)
    for module, path in found.items():
        if module.endswith("__main__") or module == errors.__name__:
            continue
        for node in source_support.summary(path).top_level:
            if (not isinstance(node, source_support.ClassSummary)
                    or node.name.startswith("_")):
                continue
            verdict = reader.is_exception(module, node.name)
            if verdict is None:
                verdict = imported_is_exception(module, node.name)
            if verdict:
                outside.append(f"{module}.{node.name}")
    return outside


def imported_is_exception(module: str, name: str) -> bool:
    try:
        value = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return False
    return isinstance(value, type) and issubclass(value, Exception)


def test_the_check_sees_an_exception_defined_outside_errors(tmp_path: Path) -> None:
    """Whichever way the base is written, and through a base class defined in between."""
    source = tmp_path / "stray.py"
    source.write_text(
        "import socket\n"
        "from filebridge import errors as fe\n"
        "from filebridge.errors import Refused as R\n"
        "class Plain:\n    pass\n"
        "class Direct(Exception):\n    pass\n"
        "class ViaSocket(socket.timeout):\n    pass\n"
        "class ViaAlias(fe.NoHandler):\n    pass\n"
        "class _Middle(R):\n    pass\n"
        "class ThroughMiddle(_Middle):\n    pass\n"
        "class Interrupt(BaseException):\n    pass\n"
        "class _Private(ValueError):\n    pass\n"
        "if True:\n    class Guarded(KeyError):\n        pass\n")
    stray = [name for name in exceptions_outside_errors(("filebridge.stray", str(source)))
             if name.startswith("filebridge.stray.")]
    assert stray == [f"filebridge.stray.{name}" for name in
                     ("Direct", "ViaSocket", "ViaAlias", "ThroughMiddle", "Guarded")]


def test_raising_remote_error_with_a_code_makes_the_class_of_that_code() -> None:
    """A handler raises ``RemoteError("refused", ...)``; the one that catches it in the same
    process (the page, the editor interface) sees a ``Refused``, as a worker does."""
    for code, cls in errors._BY_CODE.items():
        made = RemoteError(code, "why", {"k": 1})
        assert type(made) is cls and (made.code, made.remote_message) == (code, "why")
        assert made.details == {"k": 1}
    assert type(RemoteError("a_feature_code", "m")) is RemoteError
    with pytest.raises(errors.Refused, match=r"not served \[refused\]"):
        raise RemoteError("refused", "not served")


def test_the_errors_table_names_every_class_of_the_hierarchy() -> None:
    text = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text("utf-8")
    table = text[text.index("## Errors"):]
    missing = [name for name in errors.__all__ if f"`{name}`" not in table]
    assert missing == [], f"docs/architecture.md's Errors section does not name {missing}"
