# -*- test-case-name: tests.test_securitylog -*-
"""
The security log: one function per kind of event an operator (or fail2ban)
watches for, each a warning in a stable, documented format
(C{docs/operations.rst}, "Logs") with the client's address first.

Every event carries the fields C{event_kind} (one of L{KINDS}) and
C{address} (the client's IP address as text, C{"-"} when it has none: a
unix socket), plus the fields its format names.  The formatted text is::

    chatroom: <what happened> from <address>[ for user '<name>'][: <details>]

User names can hold only letters, digits, C{_}, C{.} and C{-} (see
L{chatroom.messages.name}), and come after the address, so no client can
make a line name another address.  Passwords are never logged.
"""

from twisted.logger import Logger

log = Logger()

#: The kinds of event, as their C{event_kind} field.
KINDS = (
    "login_failed", "login_throttled", "register_throttled", "rate_limited",
    "connection_refused", "login_timeout", "slow_consumer", "user_banned", "user_unbanned",
)

#: A connection's refusals by its request or send rate are logged at most
#: once per this many seconds; the line after a quiet spell counts those
#: that were not logged.
RATE_LOG_INTERVAL = 60.0


def _text(address):
    return "-" if address is None else address


def loginFailed(address, user):
    """
    A login failed: a wrong password or an unknown user (the two are not
    told apart here either).
    """
    log.warn("chatroom: login failed from {address} for user {user!r}",
             event_kind="login_failed", address=_text(address), user=user)


def loginThrottled(address, user, retryAfter):
    """
    A login was refused unchecked: too many failed attempts (see
    L{chatroom.logins.LoginThrottle}).
    """
    log.warn("chatroom: login throttled from {address} for user {user!r}: retry after {retry_after} s",
             event_kind="login_throttled", address=_text(address), user=user, retry_after=retryAfter)


def registerThrottled(address, user, retryAfter):
    """
    A registration was refused unchecked: too many registrations or failed
    attempts from this address.
    """
    log.warn("chatroom: registration throttled from {address} for user {user!r}: retry after {retry_after} s",
             event_kind="register_throttled", address=_text(address), user=user, retry_after=retryAfter)


def rateLimited(session, address, limit, retryAfter, now):
    """
    A request of C{session} (from C{address}) was refused at C{now} for its
    rate; C{limit} is C{"requests"} (the connection's request rate) or
    C{"sends"} (the user's message rate).  Logged at most once per
    L{RATE_LOG_INTERVAL} per connection: C{refused} counts the refusals
    since the last line, this one included.  The state is kept in
    C{session.rateLogged}.
    """
    last = getattr(session, "rateLogged", None)
    if last is not None and now - last[0] < RATE_LOG_INTERVAL:
        last[1] += 1
        return
    refused = 1 if last is None else last[1] + 1
    session.rateLogged = [now, 0]
    log.warn("chatroom: rate limited from {address} for user {user!r}: {limit}, "
             "{refused} refused since the last line, retry after {retry_after} s",
             event_kind="rate_limited", address=_text(address), user=session.user,
             limit=limit, refused=refused, retry_after=retryAfter)


def connectionRefused(address, option, limit):
    """
    A new connection was refused: the limit set by the option C{option}
    (C{"max-connections"}, C{"max-prelogin"}, C{"max-per-address"} or
    C{"max-prelogin-per-address"}) of C{limit} connections was reached.
    """
    log.warn("chatroom: connection refused from {address}: --{option} {limit} reached",
             event_kind="connection_refused", address=_text(address), option=option, limit=limit)


def loginTimeout(address, seconds):
    """
    A connection is closed for not logging in within C{seconds}.
    """
    log.warn("chatroom: login timeout from {address}: not logged in within {seconds} s",
             event_kind="login_timeout", address=_text(address), seconds=seconds)


def slowConsumer(address, user, limit):
    """
    A connection is closed for leaving more than C{limit} bytes unread.
    """
    log.warn("chatroom: slow consumer closed from {address} for user {user!r}: over {limit} bytes unread",
             event_kind="slow_consumer", address=_text(address), user=user, limit=limit)


def userBanned(address, user, by):
    """
    A server admin C{by} (from C{address}; C{None} for C{chatroom-admin},
    which has none) banned C{user} from the server.
    """
    log.warn("chatroom: user banned from {address} for user {user!r}: by {by!r}",
             event_kind="user_banned", address=_text(address), user=user, by=by)


def userUnbanned(address, user, by):
    """
    A server admin C{by} (from C{address}, as L{userBanned}) lifted the
    server ban of C{user}.
    """
    log.warn("chatroom: user unbanned from {address} for user {user!r}: by {by!r}",
             event_kind="user_unbanned", address=_text(address), user=user, by=by)
