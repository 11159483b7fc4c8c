"""The worked example of docs/testing.md (kept word for word in the guide)."""

import pytest

from filebridge.host import Call


@pytest.mark.filebridge_serve("--log-level", "warning")
def test_my_integration_shows_a_table(fb_host, fb_python_worker):
    shown = []

    @fb_host.handler("dataview")
    def remember(call: Call) -> dict:
        shown.append(call.args["title"])
        return {"shown": True}

    fb_python_worker.run("answer = fb.call('dataview', title='sales', rows=3)")
    assert fb_python_worker.run("print(answer)") == "{'shown': True}\n"

    request = fb_python_worker.log.wait_for_request("dataview", timeout=10)
    assert request.args == {"title": "sales", "rows": 3}
    assert fb_python_worker.log.requests(command="dataview") == [request]
    assert shown == ["sales"]
