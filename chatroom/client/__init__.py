"""
chatroom-client: the interactive terminal client.

The modules, from the wire up:

  - L{protocol}: requests and replies over the server's framing (shares
    L{chatroom.protocol} and L{chatroom.messages} with the server);
  - L{outbox}: outgoing messages with a C{cid}, kept until the server has
    them, so nothing typed is lost or doubled across reconnects;
  - L{inbox}: drops repeated messages, gathers missed ones, acknowledges
    what was shown;
  - L{reconnect}: connect, and reconnect with backoff;
  - L{connection}: one logical session over a reconnecting connection;
  - L{conversation}: a user or a C{#group};
  - L{display}: how messages, presence and tables are written;
  - L{console}, L{commands}, L{menu}, L{completion}: what a typed line
    means;
  - L{ui}: the terminal (prompt_toolkit, or plain lines when stdin is not a
    terminal);
  - L{options}: command-line options and the endpoint (TCP or TLS);
  - L{__main__}: wiring it all to the reactor.
"""
