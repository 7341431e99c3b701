"""
Tests for L{chatroom.client.connection} and L{chatroom.client.outbox}: log
in, reconnect with backoff, log in again, resend with the same cid.
"""

from twisted.internet.defer import Deferred

from chatroom import errors
from chatroom.client.connection import CONNECT_WAIT, KEEPALIVE, NotConnected
from chatroom.client.conversation import Conversation
from chatroom.client.outbox import RETRY_DELAY
from tests.support.client import accept, makeConnection, refuse

ALICE = Conversation(peer="alice")


def results(d):
    out = []
    d.addBoth(out.append)
    return out


def loggedIn(user="bob"):
    reactor, connection, listener = makeConnection()
    wire = accept(reactor)
    got = results(connection.login(user, "pw"))
    [login] = wire.sent()
    assert login == {"type": "login", "user": user, "password": "pw", "id": 1}
    wire.ok(login, user=user, name=user, online=1)
    assert got[0]["user"] == user
    return reactor, connection, listener, wire


def test_connects_and_tells_the_listener():
    reactor, connection, listener = makeConnection()
    assert len(reactor.tcpClients) == 1
    accept(reactor)
    assert listener.named("connected") == [(False,)]
    assert connection.protocol is not None and connection.user is None


def test_request_without_connection_waits_then_fails():
    reactor, connection, listener = makeConnection()
    got = results(connection.request("ping"))
    reactor.advance(CONNECT_WAIT - 0.1)
    assert got == []
    reactor.advance(0.1)
    [failure] = got
    assert failure.check(NotConnected)


def test_request_before_connection_is_sent_once_connected():
    reactor, connection, listener = makeConnection()
    got = results(connection.request("ping"))
    wire = accept(reactor)
    [ping] = wire.sent()
    wire.ok(ping)
    assert got[0]["type"] == "ok"
    reactor.advance(CONNECT_WAIT)


def test_request_during_reconnect_waits_for_the_login_again():
    reactor, connection, listener, wire = loggedIn()
    wire.lose()
    got = results(connection.request("group.list"))
    reactor.advance(1)
    wire = accept(reactor)
    [login] = wire.sent()
    assert login["type"] == "login"
    wire.ok(login, user="bob", name="bob", online=1)
    [groups] = wire.sent()
    assert groups["type"] == "group.list"
    wire.ok(groups, groups=[])
    assert got[0]["groups"] == []


def test_stop_fails_waiting_requests():
    reactor, connection, listener = makeConnection()
    got = results(connection.request("ping"))
    connection.stop()
    assert got[0].check(NotConnected)


def test_login_sets_user_and_keeps_credentials():
    reactor, connection, listener, wire = loggedIn("小明")
    assert connection.user == "小明"
    assert connection.credentials == ("小明", "pw")
    assert listener.named("loggedIn")[0][1] is False


def test_failed_login_keeps_no_credentials():
    reactor, connection, listener = makeConnection()
    wire = accept(reactor)
    got = results(connection.login("bob", "bad"))
    wire.error(wire.sent()[0], "auth_failed")
    assert got[0].check(errors.AuthFailed)
    assert connection.credentials is None


def test_reconnect_with_backoff_and_log_in_again():
    reactor, connection, listener, wire = loggedIn()
    wire.lose()
    assert connection.protocol is None and connection.user is None
    assert listener.named("disconnected")[0][1] == "bob"
    # First retry after 1 s (noJitter), then 2 s, 4 s...
    reactor.advance(0.9)
    assert len(reactor.tcpClients) == 1
    reactor.advance(0.1)
    assert len(reactor.tcpClients) == 2
    refuse(reactor)
    reactor.advance(1.9)
    assert len(reactor.tcpClients) == 2
    reactor.advance(0.1)
    assert len(reactor.tcpClients) == 3
    assert [c[0] for c in listener.named("retrying")] == [1, 2]
    wire = accept(reactor)
    [login] = wire.sent()
    assert login["type"] == "login" and login["user"] == "bob"
    # The user hears of the new connection once it is logged in again.
    assert listener.named("connected") == [(False,)]
    wire.ok(login, user="bob", name="bob", online=1)
    assert connection.user == "bob"
    assert listener.named("connected") == [(False,), (True,)]
    assert listener.named("loggedIn")[-1][1] is True
    assert [c[0] for c in listener.calls[-2:]] == ["connected", "loggedIn"]


def test_relogin_refused_drops_credentials():
    reactor, connection, listener, wire = loggedIn()
    wire.lose()
    reactor.advance(1)
    wire = accept(reactor)
    wire.error(wire.sent()[0], "auth_failed")
    assert connection.credentials is None
    assert len(listener.named("loginLost")) == 1
    # The connection itself is kept (not logged in).
    assert connection.protocol is not None


def test_relogin_unavailable_retries_the_connection():
    reactor, connection, listener, wire = loggedIn()
    wire.lose()
    reactor.advance(1)
    wire = accept(reactor)
    wire.error(wire.sent()[0], "unavailable")
    assert wire.transport.disconnecting
    assert connection.credentials == ("bob", "pw")
    wire.protocol.connectionLost(None)
    # Neither that connection nor its end was announced.
    assert listener.named("connected") == [(False,)]
    assert len(listener.named("disconnected")) == 1
    assert connection.protocol is None
    reactor.advance(2)
    wire = accept(reactor)
    wire.ok(wire.sent()[0], user="bob", name="bob", online=1)
    assert listener.named("connected") == [(False,), (True,)]


def test_send_carries_a_cid():
    reactor, connection, listener, wire = loggedIn()
    item = connection.send(ALICE, "你好")
    [send] = wire.sent()
    assert send["type"] == "send" and send["to"] == "alice" and send["text"] == "你好"
    assert isinstance(send["cid"], str) and len(send["cid"]) == 32
    got = results(item.deferred)
    wire.ok(send, msg_id="5-1", ts=5, status="delivered")
    assert got[0]["msg_id"] == "5-1"
    assert connection.outbox.queue == []


def test_group_send():
    reactor, connection, listener, wire = loggedIn()
    connection.send(Conversation(group="大厅"), "hi all")
    [send] = wire.sent()
    assert send["type"] == "group.send" and send["group"] == "大厅"


def test_message_typed_while_disconnected_is_sent_after_relogin():
    reactor, connection, listener, wire = loggedIn()
    wire.lose()
    item = connection.send(ALICE, "typed offline")
    got = results(item.deferred)
    assert got == []
    reactor.advance(1)
    wire = accept(reactor)
    [login] = wire.sent()
    wire.ok(login, user="bob", name="bob", online=1)
    [send] = wire.sent()
    assert send["text"] == "typed offline" and send["cid"] == item.cid
    wire.ok(send, msg_id="1-1", ts=1, status="stored")
    assert got[0]["status"] == "stored"


def test_reply_lost_with_the_connection_is_resent_with_the_same_cid():
    reactor, connection, listener, wire = loggedIn()
    item = connection.send(ALICE, "once only")
    [first] = wire.sent()
    wire.lose()
    reactor.advance(1)
    wire = accept(reactor)
    wire.ok(wire.sent()[0], user="bob", name="bob", online=1)
    [again] = wire.sent()
    assert again["cid"] == first["cid"] and again["text"] == "once only"
    assert item.attempts == 2


def test_order_is_kept_across_a_reconnect():
    reactor, connection, listener, wire = loggedIn()
    wire.lose()
    for text in ("one", "two", "three"):
        connection.send(ALICE, text)
    reactor.advance(1)
    wire = accept(reactor)
    wire.ok(wire.sent()[0], user="bob", name="bob", online=1)
    assert [s["text"] for s in wire.sent()] == ["one", "two", "three"]


def test_unavailable_is_retried_later_with_the_same_cid():
    reactor, connection, listener, wire = loggedIn()
    connection.send(ALICE, "hi")
    [send] = wire.sent()
    wire.error(send, "unavailable")
    assert wire.sent() == []
    reactor.advance(RETRY_DELAY)
    [again] = wire.sent()
    assert again["cid"] == send["cid"]


def test_permanent_error_fails_the_message():
    reactor, connection, listener, wire = loggedIn()
    item = connection.send(Conversation(peer="nobody"), "hi")
    got = results(item.deferred)
    wire.error(wire.sent()[0], "no_such_user")
    assert got[0].check(errors.NoSuchUser)
    assert connection.outbox.queue == []


def test_messages_are_routed_to_the_inbox_and_acknowledged():
    reactor, connection, listener, wire = loggedIn()
    wire.push({"type": "message", "msg_id": "1-1", "from": "alice", "to": "bob", "text": "hi", "ts": 1})
    wire.push({"type": "presence", "user": "alice", "status": "online"})
    assert [c[0].label for c in listener.named("showMessage")] == ["alice"]
    assert listener.named("eventReceived") == [({"type": "presence", "user": "alice", "status": "online"},)]
    reactor.advance(1)
    [ack] = wire.sent()
    assert ack == {"type": "ack", "upto": "1-1", "with": "alice", "id": ack["id"]}


def test_own_sent_message_is_not_shown_again():
    reactor, connection, listener, wire = loggedIn()
    connection.send(ALICE, "hi")
    wire.ok(wire.sent()[0], msg_id="9-1", ts=9, status="delivered")
    wire.push({"type": "message", "msg_id": "9-1", "from": "bob", "to": "alice", "text": "hi", "ts": 9})
    assert listener.named("showMessage") == []


def test_stop_acknowledges_what_was_shown_and_stops_retrying():
    reactor, connection, listener, wire = loggedIn()
    wire.push({"type": "message", "msg_id": "1-1", "from": "alice", "to": "bob", "text": "hi", "ts": 1})
    d = connection.stop()
    [ack] = wire.sent()
    assert ack["type"] == "ack"
    assert wire.transport.disconnecting
    wire.protocol.connectionLost(None)
    reactor.advance(100)
    assert len(reactor.tcpClients) == 1
    assert listener.named("disconnected") == []
    assert isinstance(d, Deferred)


def test_logout_forgets_credentials():
    reactor, connection, listener, wire = loggedIn()
    connection.logout()
    [logout] = wire.sent()
    assert logout["type"] == "logout"
    assert connection.credentials is None
    wire.ok(logout)
    wire.lose()
    # The close was asked for: straight back, quietly, logged out.
    reactor.advance(0)
    assert len(reactor.tcpClients) == 2
    assert listener.named("retrying") == []
    wire = accept(reactor)
    assert wire.sent() == []


def test_unhealthy_connections_grow_the_backoff():
    reactor, connection, listener, wire = loggedIn()
    wire.lose()
    delays = []
    for attempt in range(3):
        before = len(reactor.tcpClients)
        reactor.advance(2 ** attempt)
        assert len(reactor.tcpClients) == before + 1
        wire = accept(reactor)
        # Logged-in connections are the useful ones; these are refused.
        wire.error(wire.sent()[0], "unavailable")
        wire.protocol.connectionLost(None)
        delays.append(listener.named("retrying")[-1])
    assert delays == [(2, 2.0), (3, 4.0), (4, 8.0)]


def test_stop_while_waiting_to_retry():
    reactor, connection, listener = makeConnection()
    refuse(reactor)
    d = connection.stop()
    got = []
    d.addCallback(got.append)
    assert got == [None]
    reactor.advance(100)
    assert len(reactor.tcpClients) == 1


def test_stop_while_connecting_cancels_the_attempt():
    reactor, connection, listener = makeConnection()
    got = []
    connection.stop().addCallback(got.append)
    assert got == [None]
    reactor.advance(100)
    assert len(reactor.tcpClients) == 1
    assert listener.named("retrying") == []


def test_stop_fires_once_the_connection_is_closed():
    reactor, connection, listener, wire = loggedIn()
    got = []
    connection.stop().addCallback(got.append)
    assert got == [] and wire.transport.disconnecting
    wire.protocol.connectionLost(None)
    assert got == [None]


def test_rate_limited_waits_retry_after_milliseconds():
    reactor, connection, listener, wire = loggedIn()
    connection.send(ALICE, "hi")
    [send] = wire.sent()
    wire.push({"type": "error", "id": send["id"], "code": "rate_limited", "message": "slow down", "retry_after": 2500})
    reactor.advance(2.4)
    assert wire.sent() == []
    reactor.advance(0.1)
    [again] = wire.sent()
    assert again["cid"] == send["cid"]


def test_pings_so_the_server_does_not_close_a_quiet_connection():
    """
    A user who only reads still sends a C{ping} every L{KEEPALIVE} seconds
    (the server closes connections silent for its idle timeout, 90 s by
    default); none once stopped.
    """
    reactor, connection, listener, wire = loggedIn()
    assert KEEPALIVE < 90
    reactor.advance(KEEPALIVE - 1)
    assert wire.sent() == []
    reactor.advance(1)
    [ping] = wire.sent()
    assert ping["type"] == "ping"
    wire.ok(ping)
    reactor.advance(KEEPALIVE)
    assert [r["type"] for r in wire.sent()] == ["ping"]
    connection.stop()
    reactor.advance(10 * KEEPALIVE)
    assert [r for r in wire.sent() if r["type"] == "ping"] == []
