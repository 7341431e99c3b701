"""
chatroom: an instant-messaging server (and terminal client) on Twisted,
persisting users, groups and every message in Redis.
"""

__version__ = "0.1.0"
