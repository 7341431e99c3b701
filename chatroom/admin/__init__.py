# -*- test-case-name: tests.test_admin -*-
"""
C{chatroom-admin}: look at and fix a chatroom installation from the shell,
through the storage the servers use (L{chatroom.store.admin}).
"""
