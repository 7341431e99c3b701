# -*- test-case-name: tests.test_datadir -*-
"""
The data directory (C{--data-dir}) is private to the user the server runs
as: it holds every message and password hash (the embedded Redis's files)
and the manhole's host key.

It is made 0700 whatever the umask; a directory that other users could
write to, or that belongs to another user, is refused (they could replace
its files); and what is in it is tightened to owner-only modes, so a
directory written by an earlier release (0755, files 0644) becomes private
at its next start.
"""

import os
import stat
import tempfile

#: Permission bits of other users that make a directory unsafe to use.
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH

#: Permission bits of other users, taken away from everything inside.
_OTHERS = 0o077


class UnsafeDataDirectory(Exception):
    """
    The data directory is not private to this user; the message says which
    directory and why, for the operator.
    """


def checkDataDirectory(path):
    """
    Refuse C{path} if it exists and is not a directory, belongs to another
    user, or can be written by group or other users.  A missing directory
    is fine (L{makeDataDirectory} makes it private).

    @raise UnsafeDataDirectory: with the reason.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDataDirectory("data directory %s is not a directory" % (path,))
    if st.st_uid != os.geteuid():
        raise UnsafeDataDirectory(
            "data directory %s belongs to user id %d, not to this server's user (%d); "
            "run the server as its owner or give it a directory of its own"
            % (path, st.st_uid, os.geteuid()))
    if st.st_mode & _OTHERS_WRITE:
        raise UnsafeDataDirectory(
            "data directory %s can be written by other users (mode %04o): they could replace "
            "its files; chmod 700 it" % (path, stat.S_IMODE(st.st_mode)))


def makeDataDirectory(path):
    """
    Make C{path} (and any missing parent) mode 0700 if it is missing, refuse
    it if it is not safe (L{checkDataDirectory}), and take every permission
    of other users away from it and from what it holds.

    @return: the paths whose modes were tightened (to be logged).
    @raise UnsafeDataDirectory: if it is not safe.
    """
    path = os.path.abspath(path)
    _makeDirectories(path)
    checkDataDirectory(path)
    return tighten(path)


def _makeDirectories(path):
    # os.makedirs would make missing parents with the umask's mode (0777
    # under umask 0).
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        _makeDirectories(parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    os.chmod(path, 0o700)


def tighten(path):
    """
    Take the permissions of group and other users away from C{path} and
    everything under it that belongs to this user (symbolic links are left
    alone: their target is not ours to change).

    @return: the paths that changed.
    """
    changed = []
    uid = os.geteuid()

    def one(p):
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != uid:
            return
        mode = stat.S_IMODE(st.st_mode)
        if mode & _OTHERS:
            os.chmod(p, mode & ~_OTHERS)
            changed.append(p)

    one(path)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                one(os.path.join(root, name))
            except FileNotFoundError:
                # Gone meanwhile (a socket or temporary file of Redis).
                pass
    return changed


def writePrivate(path, text):
    """
    Write C{text} to C{path} as a file only its owner can read (0600,
    whatever the umask or the mode it had).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def privateTemporaryDirectory(prefix):
    """
    A new directory under the system's temporary directory with an
    unpredictable name, mode 0700 (C{tempfile.mkdtemp}): for what must live
    at a short path, never at a name another user could take first.
    """
    return tempfile.mkdtemp(prefix=prefix)
