# -*- test-case-name: tests.test_admin -*-
"""
C{python -m chatroom.admin}: the same as C{chatroom-admin}.
"""

from chatroom.admin.main import main

main()
