# -*- test-case-name: tests.web.test_site -*-
"""
The web port: the web client (C{static/}), served by L{chatroom.web.site},
and the protocol over WebSocket, L{chatroom.web.websocket}.
"""
