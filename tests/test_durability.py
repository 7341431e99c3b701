"""
The real C{twistd chatroom}, killed with SIGKILL and restarted on the same
data directory: every message the server acknowledged is still delivered.
"""

import os
import signal
import time

import pytest_twisted

from tests.support.chatting import ids, receive, settle
from tests.support.wire import wait
from tests.support.twistd import Twistd, redisServersOf

@pytest_twisted.ensureDeferred
async def test_acknowledged_messages_survive_sigkill(tmp_path):
    dataDir = str(tmp_path / "data")
    os.makedirs(dataDir)
    logPath = str(tmp_path / "twistd.log")
    server = Twistd(dataDir, logPath)
    clients = []
    orphans = []
    try:
        server.start()
        bob = await server.ready("bob")
        assert redisServersOf(dataDir), "the embedded redis-server should be found while it runs"
        await bob.request("group.create", group="持久")
        await bob.close()
        alice = await server.ready("alice")
        clients.append(alice)
        await alice.request("group.join", group="持久")
        acknowledged = []
        # 25 sends: within a default send-rate burst.
        for i in range(12):
            acknowledged.append(await alice.request("send", to="bob", text="持久 %d 💾" % i))
            acknowledged.append(await alice.request("group.send", group="持久", text="群持久 %d 🗄" % i))
        cidOk = await alice.request("send", to="bob", text="带 cid", cid="durable-1")
        acknowledged.append(cidOk)

        server.kill()
        await alice.closed
        # The embedded redis-server dies with its parent (PR_SET_PDEATHSIG).
        deadline = time.monotonic() + 10
        while redisServersOf(dataDir) and time.monotonic() < deadline:
            await wait(0.05)
        orphans = redisServersOf(dataDir)
        assert orphans == [], "redis-server outlived a SIGKILLed twistd"

        server.start()
        bob = await server.ready("bob", register=False)
        clients.append(bob)
        events = await receive(bob, len(acknowledged), timeout=15)
        # Then nothing more may come, no repeat and no stranger (no event
        # says the push is over): a round trip and a moment.
        await settle(bob)
        events = [e for e in bob.events if e.get("type") == "message"]
        assert sorted(ids(events)) == sorted(ids(acknowledged))
        assert all(e["offline"] for e in events)
        assert [e["text"] for e in events if "to" in e][:2] == ["持久 0 💾", "持久 1 💾"]
        # The cid record survived too: a retry is recognised.
        alice = await server.ready("alice", register=False)
        clients.append(alice)
        again = await alice.request("send", to="bob", text="带 cid", cid="durable-1")
        assert again["msg_id"] == cidOk["msg_id"]
    finally:
        for client in clients:
            await client.close()
        server.stop()
        for pid in orphans + redisServersOf(dataDir):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert redisServersOf(dataDir) == []
