"""
Everything kept in Redis, behind store classes: handlers call these and never
build Redis commands themselves.
"""
